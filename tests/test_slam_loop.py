"""Loop closure on the simulator's drift: the ``revisit`` route drives past the junction,
back, and past it again in the same direction, and SLAM must find that loop; surveyed
markers then tie the pose graph to the mine grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mapping.slam.trajectory import read_trajectory
from simulator.config import SimConfig, apply_overrides, default_config
from simulator.errors import SimulatorError
from simulator.simulation import build_scene, build_trajectory
from simulator.writer import run_simulation
from smartmine.cli import main

SHORT_DRIFT = {
    "route": "revisit",
    "leg1_m": 24.0,
    "bend_radius_m": 5.0,
    "leg2_m": 25.0,
    "junction_at_m": 13.0,
    "revisit_m": 8.0,
}
"""A short drift whose route passes the junction three times within ~30 m."""
FRAMES = 190
"""At 5 Hz: up to the end of the revisited stretch (the third pass of the junction)."""


def short_config() -> SimConfig:
    return apply_overrides(
        default_config("drift"),
        {"frames": FRAMES, "camera": {"rate_hz": 5.0}, "hsi": {"every": 1000},
         "drift": SHORT_DRIFT},
    )  # fmt: skip


def test_revisit_route_passes_the_junction_three_times_inside_the_drift() -> None:
    config = short_config()
    scene = build_scene(config)
    trajectory, info = build_trajectory(config, scene)
    t = np.linspace(0.0, trajectory.duration_s, 600)
    pos, rot = trajectory.poses(t)
    junction = np.array(scene.parameters["junction_enu_m"])
    near = np.linalg.norm(pos[:, :2] - junction[:2], axis=1) < 1.0
    passes = np.count_nonzero(np.diff(near.astype(int)) == 1) + int(near[0])
    assert passes == 3
    heading = rot[:, :2, 0]  # body x (forward) in ENU
    first, third = np.flatnonzero(near)[[0, -1]]
    assert heading[first] @ heading[third] > 0.99  # same direction: the same view
    # within the drift: at most 0.8 m off the centre-line of the first leg
    w0, w1 = np.array(scene.parameters["waypoints_enu_m"][:2])
    axis = (w1 - w0)[:2] / np.linalg.norm((w1 - w0)[:2])
    on_leg = (pos[:, :2] - w0[:2]) @ axis < 10.0
    rel = pos[on_leg, :2] - w0[:2]
    offset = np.abs(axis[0] * rel[:, 1] - axis[1] * rel[:, 0])
    assert offset.max() == pytest.approx(0.8, abs=0.01)
    assert info["length_m"] > 40.0


def test_revisit_that_does_not_fit_is_refused() -> None:
    overrides = {"drift": {"route": "revisit", "revisit_m": 70.0}}
    with pytest.raises(SimulatorError, match=r"drift\.revisit_m"):  # (by the config check)
        apply_overrides(default_config("drift"), overrides)


@pytest.fixture(scope="module")
def revisit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("revisit")
    run_simulation(short_config(), out, overwrite=True)
    return out


def test_loop_closure_at_the_junction_revisit_is_found(revisit: Path, tmp_path: Path) -> None:
    out = tmp_path / "slam"
    assert main(["slam", str(revisit / "drift.mcap"), "--out", str(out), "--no-map"]) == 0
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["loop_closures"] >= 1
    loops = report["tables"][0]
    assert loops["title"] == "Loop closures" and len(loops["rows"]) == summary["loop_closures"]
    gt = read_trajectory(revisit / "trajectory_tum.txt")
    assert summary["ate_rmse_m"] < 0.002 * gt.path_length_m() + 0.02
    # every loop is true: it joins a keyframe of the third pass to one of the first, a
    # few metres apart in truth but ~20 m apart along the path (loops need 8 m)
    keyframes = read_trajectory(out / "keyframes_tum.txt")
    truth = {round(float(t), 3): p for t, p in zip(gt.stamps_s, gt.positions, strict=True)}
    where = [truth[round(float(t), 3)] for t in keyframes.stamps_s]
    for kf_from, kf_to, *_ in loops["rows"]:
        assert np.linalg.norm(where[kf_from] - where[kf_to]) < 3.0
        assert keyframes.stamps_s[kf_from] - keyframes.stamps_s[kf_to] > 10.0


def test_glitches_on_the_drift_do_not_stop_it(revisit: Path) -> None:
    """Blank images, a lamp blackout, corrupt and missing depth, a garbage frame and
    dropped frames on the revisit run: nothing raises, unusable frames are skipped, tracking loss
    is reported and recovered, and the loop at the revisit still closes."""
    from mapping.slam.evaluation import evaluate
    from mapping.slam.frame import RgbdFrame
    from mapping.slam.sources import BagSource
    from mapping.slam.system import Slam
    from mapping.slam.trajectory import Trajectory

    rng = np.random.default_rng(1)
    source = BagSource(revisit / "drift.mcap")
    slam = Slam(source.camera)
    fed = 0
    gyro = np.eye(3)  # the IMU keeps running over dropped frames
    for frame in source:
        i = frame.index
        gyro = gyro @ frame.gyro_rotation if frame.gyro_rotation is not None else gyro
        if 50 <= i < 54:  # dropped by the driver
            continue
        color, depth = frame.color, frame.depth_m.copy()
        if i in (20, 21) or 120 <= i < 128:  # blank images; a 1.6 s lamp blackout
            color = np.zeros_like(color)
        elif i == 30:  # corrupt depth: NaN, inf and negative values
            depth[:200] = np.nan
            depth[:, 300:340] = np.inf
            depth[400:] = -1.0
        elif i == 40:  # missing depth
            depth[:] = 0.0
        elif i == 60:  # a garbage frame (a sensor glitch): tracking fails on it
            color = rng.integers(0, 255, color.shape, dtype=np.uint8)
            depth = rng.uniform(0.3, 10.0, depth.shape).astype(np.float32)
        state = slam.step(RgbdFrame(frame.stamp_ns, color, depth, i, gyro))
        gyro = np.eye(3)
        fed += 1
        if i == 60:
            assert state.status == "lost" and state.pose is None
    slam.finish()
    counts = slam.stats()["status_counts"]
    assert counts["skipped"] == 2 + 8 + 1
    assert counts.get("lost", 0) >= 1
    assert counts.get("relocalised", 0) + counts.get("new_segment", 0) >= 1
    assert len(slam.loops) >= 1
    stamps, poses = slam.trajectory()
    assert len(poses) == fed - counts["skipped"] - counts["lost"]
    gt = read_trajectory(revisit / "trajectory_tum.txt")
    result = evaluate(Trajectory(stamps.astype(np.float64) * 1e-9, poses, "slam"), gt)
    assert result.ate_m.rmse < 0.002 * gt.path_length_m() + 0.03


@pytest.mark.parametrize("background", [False, True], ids=["in-line", "background"])
def test_long_outage_starts_a_new_segment_joined_at_the_junction_loop(
    revisit: Path, background: bool
) -> None:
    """The camera is covered through the first U-turn (4 s): the robot comes out facing
    back, where no keyframe looks, so relocalisation fails and a new segment starts. A
    garbage frame arrives just when the segment would start on it: it must not become
    the segment's first keyframe. The third pass of the junction closes a loop to the
    first segment, which joins the two; the whole trajectory then scores like a run
    without the outage. The same with the back end off the tracking path (live)."""
    from mapping.slam.evaluation import evaluate
    from mapping.slam.frame import RgbdFrame
    from mapping.slam.sources import BagSource
    from mapping.slam.system import Slam, SlamConfig
    from mapping.slam.trajectory import Trajectory

    rng = np.random.default_rng(2)
    source = BagSource(revisit / "drift.mcap")
    slam = Slam(source.camera, SlamConfig(background=background))
    first_lost = garbage = None
    states = {}
    for frame in source:
        i = frame.index
        color, depth = frame.color, frame.depth_m
        if 92 <= i < 112:  # covered through the U-turn (frames 95-105)
            color = np.zeros_like(color)
        if first_lost is not None and i == first_lost + slam.config.relocalise_frames:
            garbage = i  # the frame a new segment would have started on
            color = rng.integers(0, 255, color.shape, dtype=np.uint8)
            depth = rng.uniform(0.3, 10.0, depth.shape).astype(np.float32)
        state = slam.step(RgbdFrame(frame.stamp_ns, color, depth, i, frame.gyro_rotation))
        states[i] = state
        if first_lost is None and i >= 112 and state.status == "lost":
            first_lost = i
    slam.finish()
    assert first_lost == 112 and garbage is not None
    assert states[garbage].status == "lost" and states[garbage].pose is None
    # reported: one new segment, which starts on a frame its successor tracks against
    started = [i for i, s in states.items() if s.status == "new_segment"]
    stats = slam.stats()
    assert len(started) == 1 and started[0] > garbage and stats["segments"] == 2
    first_kf = next(k for k in slam.keyframes if k.segment == 1)
    assert first_kf.frame_index == started[0] and states[started[0]].pose is not None
    assert states[started[0] + 1].status in ("tracked", "keyframe")
    # joined to the first segment by a true loop closure at the junction's third pass
    assert stats["segments_joined"] == [{"segment": 1, "to_segment": 0, "loop": 0}]
    join = slam.loops[0]
    gt = read_trajectory(revisit / "trajectory_tum.txt")
    truth = {round(float(t), 3): p for t, p in zip(gt.stamps_s, gt.positions, strict=True)}
    kf_from, kf_to = slam.keyframes[join.kf_from], slam.keyframes[join.kf_to]
    assert (kf_from.segment, kf_to.segment) == (1, 0)
    where = [truth[round(k.stamp_ns * 1e-9, 3)] for k in (kf_from, kf_to)]
    assert np.linalg.norm(where[0] - where[1]) < 3.0
    assert join.correction_m > 1.0  # the segment started metres off: the join moved it
    stamps, poses = slam.trajectory()
    result = evaluate(Trajectory(stamps.astype(np.float64) * 1e-9, poses, "slam"), gt)
    # the bound of the runs without an outage: the new segment is held by the loops at
    # its far end and by its own odometry back to the U-turn (measured 0.03 m)
    assert result.ate_m.rmse < 0.002 * gt.path_length_m() + 0.03
