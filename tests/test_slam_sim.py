"""SLAM on the simulator's drift (the yardstick with ground truth): the offline path with
its ground truth and markers, and the live processor over the same bag."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mapping.slam.processor import SlamProcessor
from mapping.slam.trajectory import read_trajectory
from simulator.config import apply_overrides, default_config
from simulator.writer import run_simulation
from smartmine.bagio import BagReader
from smartmine.cli import main
from smartmine.runner import run_on_bag

FRAMES = 30


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames at 5 Hz of the default drift (6 s, the robot speeding up to ~0.8 m/s)."""
    out = tmp_path_factory.mktemp("drift")
    config = apply_overrides(
        default_config("drift"),
        {"frames": FRAMES, "camera": {"rate_hz": 5.0}, "hsi": {"every": 1000}},
    )
    run_simulation(config, out, overwrite=True)
    return out


def test_offline_slam_against_ground_truth(drift: Path, tmp_path: Path) -> None:
    out = tmp_path / "slam"
    args = ["slam", str(drift / "drift.mcap"), "--out", str(out), "--markers"]
    assert main([*args, str(drift / "markers.csv")]) == 0
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["tracked_frames"] == FRAMES
    gt = read_trajectory(drift / "trajectory_tum.txt")
    assert summary["ate_rmse_m"] < 0.05 * gt.path_length_m() + 0.02
    assert report["sections"]["evaluation"]["pairs"] == FRAMES
    assert "markers" in report["sections"]  # seen or not, the fit is reported
    est = read_trajectory(out / "trajectory_tum.txt")
    assert len(est) == FRAMES
    assert (out / "map_mesh.ply").stat().st_size > 100_000
    # the products say their frame: the mine grid with its tie to UTM 44N when the map
    # was tied to the markers (scene.json beside markers.csv defines the grid), else local
    tied = report["sections"]["markers"]["fit"] is not None
    for name in ("map_mesh.ply", "map_mesh.glb", "map_cloud.ply", "map_cloud.laz"):
        doc = json.loads((out / f"{name}.crs.json").read_text())
        assert doc["kind"] == ("mine_grid" if tied else "local"), name
        if tied:
            assert doc["epsg"] == 32644 and np.array(doc["transform_4x4"]).shape == (4, 4)


def test_slam_processor_odometry_follows_the_robot(drift: Path, tmp_path: Path) -> None:
    out = tmp_path / "odom.mcap"
    result = run_on_bag(SlamProcessor, drift / "drift.mcap", out)
    assert result.outputs["/slam/odometry"] == FRAMES
    with BagReader(out) as reader:
        last = [m.message for m in reader.messages(["/slam/odometry"])][-1]
    gt = read_trajectory(drift / "trajectory_tum.txt")
    travelled = float(np.linalg.norm(gt.positions[-1] - gt.positions[0]))
    p = last.pose.pose.position
    # FLU map frame of the first camera: the robot drives forward along x
    assert p.x == pytest.approx(travelled, rel=0.1, abs=0.05)
    assert abs(p.y) < 0.1 * travelled + 0.05
