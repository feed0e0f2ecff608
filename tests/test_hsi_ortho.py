"""Orthorectified hyperspectral maps on the simulator's open pit, against its ground truth:
the area the hyperspectral pixels really imaged (rays cast on the scene mesh from the
simulator's own trajectory) and the zone raster ``classes.tif``; snapshot frames and
push-broom lines (each with its line-sensor camera_info)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hyperspectral.errors import HyperspectralError
from hyperspectral.ortho import Dem, OrthoConfig, OrthoFrame, Orthorectifier, line_intrinsics
from hyperspectral.poses import PoseSource
from smartmine.cli import main

SNAPSHOT = {"frames": 6, "camera": {"width": 96, "height": 72}}
PUSHBROOM = {
    "frames": 5,
    "camera": {"width": 96, "height": 72},
    "hsi": {"mode": "pushbroom", "height": 16},
}


def _simulate(out: Path, overrides: dict[str, Any]) -> tuple[Path, Any]:
    from simulator.config import apply_overrides, default_config
    from simulator.simulation import Simulation
    from simulator.writer import run_simulation

    config = apply_overrides(default_config("open-pit"), overrides)
    run_simulation(config, out)
    return out, Simulation.prepare(config)


def _imaged_cells(sim: Any, dem: Dem, line_only: bool) -> np.ndarray:
    """DEM cells hit by the hyperspectral sub-pixel rays (ground truth: the simulator's
    trajectory, rig and scene mesh; no code of the orthorectifier)."""
    from simulator.scene import UTM_EPSG

    grid = np.zeros(dem.shape, bool)
    x0, res, _, y0, _, _ = dem.georef.transform
    hc = sim.config.hsi
    rays = sim.renderer.hsi_rays
    if line_only:
        rays = rays[hc.height // 2 : hc.height // 2 + 1]
    t = sim.clocks.frame_t
    for i in range(len(t)):
        if i % hc.every:
            continue
        if line_only:
            interval = float(t[i + 1] - t[i]) if i + 1 < len(t) else float(t[i] - t[i - 1])
            times = t[i] + np.arange(hc.height) * interval / hc.height
            # lines exposed after the last pose in the bag (/tf) are skipped by the mapper
            times = times[times <= sim.clocks.tf_t[-1] + 1e-9]
        else:
            times = np.array([t[i]])
        for pose in sim.trajectory.matrices(times) @ sim.rig.base_from_hsi:
            dirs = rays.reshape(-1, 3) @ pose[:3, :3].T
            hits = sim.scene.cast(np.tile(pose[:3, 3], (len(dirs), 1)), dirs)
            ok = np.isfinite(hits["t_hit"])
            pts = pose[:3, 3] + dirs[ok] * hits["t_hit"][ok, None]
            e, n, _ = sim.scene.origin.to_projected(pts[:, 0], pts[:, 1], pts[:, 2], UTM_EPSG)
            col = np.floor((e - x0) / res).astype(int)
            row = np.floor((y0 - n) / res).astype(int)
            inside = (row >= 0) & (row < dem.shape[0]) & (col >= 0) & (col < dem.shape[1])
            grid[row[inside], col[inside]] = True
    return grid


def _ortho(run_dir: Path, out: Path) -> dict[str, Any]:
    code = main(
        [
            "hsi",
            "ortho",
            str(run_dir / "open-pit.mcap"),
            "--dem",
            str(run_dir / "dem.tif"),
            "--origin",
            str(run_dir / "scene.json"),
            "--irradiance",
            str(run_dir / "spectra.csv"),
            "--reference",
            str(run_dir / "classes.tif"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary: dict[str, Any] = json.loads((out / "report.json").read_text())["summary"]
    return summary


def _check_map(run_dir: Path, out: Path, sim: Any, line_only: bool) -> dict[str, Any]:
    import rasterio
    from scipy.ndimage import binary_dilation

    from hyperspectral.ortho import read_dem

    summary = _ortho(run_dir, out)
    dem = read_dem(run_dir / "dem.tif")
    with rasterio.open(out / "class_map.tif") as src, rasterio.open(run_dir / "classes.tif") as gt:
        assert src.crs.to_epsg() == 32644 == gt.crs.to_epsg()
        assert src.nodata == 255 and src.transform == rasterio.open(run_dir / "dem.tif").transform
        labels = src.read(1)
        scene = gt.bounds
    seen = labels != 255
    rows, cols = np.nonzero(seen)
    west, south, east, north = summary["extent_seen_wsen"]
    # the seen extent lies within the scene's extent in its CRS, and agrees with the raster
    assert scene.left - 1 <= west < east <= scene.right + 1
    assert scene.bottom - 1 <= south < north <= scene.top + 1
    x0, res, _, y0, _, _ = dem.georef.transform
    assert west == x0 + cols.min() * res and north == y0 - rows.min() * res
    imaged = _imaged_cells(sim, dem, line_only)
    # covers the imaged area: imaged cells (one cell in from the footprint's edge) are seen
    core = imaged & ~binary_dilation(~imaged, iterations=1)
    coverage = (seen & core).sum() / core.sum()
    # and maps nothing that was not imaged (one cell of slack)
    precision = (seen & binary_dilation(imaged, iterations=1)).sum() / seen.sum()
    print(f"coverage of the imaged cells {coverage:.4f}, seen cells imaged {precision:.4f}")
    assert coverage > 0.95, coverage
    assert precision > 0.98, precision
    summary["coverage"], summary["precision"] = coverage, precision
    return summary


@pytest.fixture(scope="module")
def snapshot_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    return _simulate(tmp_path_factory.mktemp("pit"), SNAPSHOT)


def test_snapshot_frames_orthorectify_onto_the_scene(
    snapshot_run: tuple[Path, Any], tmp_path: Path
) -> None:
    run_dir, sim = snapshot_run
    summary = _check_map(run_dir, tmp_path / "ortho", sim, line_only=False)
    zones = summary["reference_zones"]
    for zone in ("jarosite", "schwertmannite"):  # contamination, per zone, map coordinates
        assert zones[zone]["cells"] > 50 and zones[zone]["accuracy"] > 0.95, zones[zone]
    assert zones["vegetation"]["accuracy"] > 0.95
    areas = {c[1]: c[3] for c in _classes(tmp_path / "ortho")}
    assert sum(areas.values()) == pytest.approx(summary["area_seen_m2"], abs=1e-6)
    assert summary["frames_used"] == summary["frames"] == 6


def test_pushbroom_lines_orthorectify_with_their_line_camera_info(tmp_path: Path) -> None:
    run_dir, sim = _simulate(tmp_path / "pb", PUSHBROOM)
    summary = _check_map(run_dir, tmp_path / "ortho", sim, line_only=True)
    # the last frame's lines are exposed after the trajectory's last pose: skipped, said
    assert summary["frames"] == 5 * 16 and summary["frames_without_pose"] > 0
    zones = summary["reference_zones"]
    contamination = [zones[z] for z in ("jarosite", "schwertmannite") if z in zones]
    cells = sum(z["cells"] for z in contamination)
    assert cells > 50
    assert sum(z["correct"] for z in contamination) / cells > 0.95


def _classes(out: Path) -> list[list[Any]]:
    report = json.loads((out / "report.json").read_text())
    table = next(t for t in report["tables"] if t["title"] == "classes")
    rows: list[list[Any]] = table["rows"]
    return rows


def test_occluded_terrain_is_not_mapped_and_best_view_wins() -> None:
    """A 10 m wall in front of low ground: a camera looking over it sees the wall, not
    the ground behind it; a second, overhead camera sees the ground and wins there."""
    from calibration.camera_model import CameraModel
    from hyperspectral.cube import GeoReference

    heights = np.zeros((70, 40))  # 30 rows south of the scene: blocks the cull leaves out
    heights[:40, 18:20] = 10.0  # a wall running north-south, 2 cells thick
    dem = Dem(heights, GeoReference((0.0, 1.0, 0.0, 40.0, 0.0, -1.0), 32644), "synthetic")
    cam = CameraModel.create(40, 40, [[20, 0, 19.5], [0, 20, 19.5], [0, 0, 1]], np.zeros(5))
    ortho = Orthorectifier(dem, None, OrthoConfig())

    def looking_east_from(x: float, z: float, pitch_down_deg: float) -> np.ndarray:
        a = np.radians(pitch_down_deg)
        forward = np.array([np.cos(a), 0.0, -np.sin(a)])
        right = np.array([0.0, -1.0, 0.0])
        down = np.cross(forward, right)
        pose = np.eye(4)
        pose[:3, :3] = np.column_stack([right, down, forward])
        pose[:3, 3] = [x, 20.0, z]
        return pose

    ones = np.ones((40, 40), np.uint16)
    heat = np.zeros((40, 40), np.float32)
    low = looking_east_from(5.0, 12.0, 30.0)  # just above the wall's top, looking past it
    ortho.add(OrthoFrame(0, cam, low, ones, heat, heat))
    grid = ortho.grid(ortho.labels, 0xFFFF)
    row = 20
    assert grid[row, 18] == 1 or grid[row, 17] == 1  # the wall's face is seen
    assert (grid[row, 21:26] == 0xFFFF).all()  # the ground right behind the wall is hidden
    top = np.eye(4)
    top[:3, :3] = np.diag([1.0, -1.0, -1.0])  # looking straight down, x east, y south
    top[:3, 3] = [30.0, 20.0, 40.0]
    ortho.add(OrthoFrame(1, cam, top, 2 * ones, heat, heat))
    grid = ortho.grid(ortho.labels, 0xFFFF)
    assert (grid[row, 24:36] == 2).all()  # overhead view fills the hidden ground
    # seen by both: the view closer to the terrain normal wins (cell 9: the low camera
    # looks down at 69 degrees, the overhead one at 63; cell 14: 52 against 69); cells
    # 15-16 lie in the wall's shadow as seen from the overhead camera
    assert grid[row, 9] == 1 and (grid[row, 13:15] == 2).all() and (grid[row, 15:17] == 1).all()
    views = ortho.grid(ortho.views, 0)
    assert (views[row, 9:15] == 2).all() and (views[row, 15:17] == 1).all()
    assert (views[row, 24:36] == 1).all()
    # the footprint cull (blocks under the overhead camera's footprint) changes nothing
    full = Orthorectifier(dem, None, OrthoConfig(footprint_cull=False))
    full.add(OrthoFrame(0, cam, low, ones, heat, heat))
    full.add(OrthoFrame(1, cam, top, 2 * ones, heat, heat))
    np.testing.assert_array_equal(full.labels, ortho.labels)
    np.testing.assert_array_equal(full.views, ortho.views)


def test_line_intrinsics_project_like_the_frame_row() -> None:
    from calibration.camera_model import CameraModel
    from smartmine.msgs.camera import CameraIntrinsics

    k = [[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]]
    full = CameraIntrinsics(64, 48, k, [-0.1, 0.02, 0.001, 0.0, 0.0])
    line = line_intrinsics(full, 24)
    assert (line.width, line.height) == (64, 1)
    pts = np.array([[1.0, 0.01, 10.0], [-3.0, -0.02, 10.0]])
    uv_full = CameraModel(full).project(pts)
    uv_line = CameraModel(line).project(pts)
    np.testing.assert_allclose(uv_line[:, 0], uv_full[:, 0])
    np.testing.assert_allclose(uv_line[:, 1], uv_full[:, 1] - 24)


def test_tum_poses_and_missing_poses(tmp_path: Path) -> None:
    path = tmp_path / "poses.txt"
    path.write_text("# t x y z qx qy qz qw\n1.0 0 0 0 0 0 0 1\n3.0, 2, 0, 0, 0, 0, 0, 1\n")
    poses = PoseSource.from_tum(path)
    np.testing.assert_allclose(poses.world_from("anything", [2_000_000_000])[0][:3, 3], [1, 0, 0])
    with pytest.raises(HyperspectralError, match="no pose"):
        poses.world_from("anything", [4_000_000_000])
    path.write_text("1.0 0 0 0 0 0 1\n")
    with pytest.raises(HyperspectralError, match="TUM wants"):
        PoseSource.from_tum(path)


def test_cli_bad_dem_is_one_line_exit_2(
    snapshot_run: tuple[Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = snapshot_run
    bad = tmp_path / "dem.tif"
    bad.write_bytes(b"not a tiff")
    code = main(
        [
            "hsi",
            "ortho",
            str(run_dir / "open-pit.mcap"),
            "--dem",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dem.tif" in err[0]
    assert not (tmp_path / "o" / "report.json").exists()


def test_tum_poses_of_the_camera_give_the_same_map_as_the_bag_tf(
    snapshot_run: tuple[Path, Any], tmp_path: Path
) -> None:
    """The hyperspectral camera's ground-truth poses as a TUM file (the simulator's
    trajectory and rig, at the frames' stamps) instead of the bag's /tf + /tf_static."""
    import rasterio

    from simulator.simulation import stamps_ns
    from smartmine.geometry import matrix_to_quat

    run_dir, sim = snapshot_run
    t = sim.clocks.frame_t
    stamps = stamps_ns(sim.config.start_ns, t)
    poses = sim.trajectory.matrices(t) @ sim.rig.base_from_hsi
    rows = [
        f"{s * 1e-9:.9f} " + " ".join(f"{v:.9f}" for v in (*p[:3, 3], *matrix_to_quat(p[:3, :3])))
        for s, p in zip(stamps, poses, strict=True)
    ]
    tum = tmp_path / "hsi_tum.txt"
    tum.write_text("\n".join(rows) + "\n")
    common = ["--dem", str(run_dir / "dem.tif"), "--origin", str(run_dir / "scene.json")]
    common += ["--irradiance", str(run_dir / "spectra.csv")]
    bag = str(run_dir / "open-pit.mcap")
    assert main(["hsi", "ortho", bag, *common, "--out", str(tmp_path / "tf")]) == 0
    assert (
        main(["hsi", "ortho", bag, *common, "--poses", str(tum), "--out", str(tmp_path / "tum")])
        == 0
    )
    with (
        rasterio.open(tmp_path / "tf" / "class_map.tif") as a,
        rasterio.open(tmp_path / "tum" / "class_map.tif") as b,
    ):
        tf_map, tum_map = a.read(1), b.read(1)
    seen = (tf_map != 255) | (tum_map != 255)
    assert seen.sum() > 20000
    assert (tf_map[seen] == tum_map[seen]).mean() > 0.99


def test_interpolate_transforms_slerps_rotation_and_refuses_extrapolation() -> None:
    from smartmine.geometry import (
        GeometryError,
        interpolate_transforms,
        make_transform,
        rot_z,
        rotation_angle,
    )

    series = np.stack(
        [make_transform(rot_z(0.0), [0, 0, 0]), make_transform(rot_z(1.0), [4, 0, 0])]
    )
    out = interpolate_transforms([10, 20], series, [10, 12.5, 20])
    np.testing.assert_allclose(out[0], series[0], atol=1e-12)
    np.testing.assert_allclose(out[2], series[1], atol=1e-12)
    np.testing.assert_allclose(out[1][:3, 3], [1.0, 0, 0])
    np.testing.assert_allclose(out[1][:3, :3], rot_z(0.25), atol=1e-12)
    assert rotation_angle(out[1][:3, :3]) == pytest.approx(0.25)
    with pytest.raises(GeometryError, match="outside"):
        interpolate_transforms([10, 20], series, [21])


def test_map_on_a_coarser_grid_than_the_dem(snapshot_run: tuple[Path, Any], tmp_path: Path) -> None:
    import rasterio

    run_dir, _ = snapshot_run
    out = tmp_path / "coarse"
    args = ["hsi", "ortho", str(run_dir / "open-pit.mcap"), "--dem", str(run_dir / "dem.tif")]
    args += ["--origin", str(run_dir / "scene.json"), "--irradiance", str(run_dir / "spectra.csv")]
    args += ["--reference", str(run_dir / "classes.tif"), "--cell-m", "2", "--out", str(out)]
    assert main(args) == 0
    with rasterio.open(out / "class_map.tif") as src, rasterio.open(run_dir / "dem.tif") as dem:
        assert src.res == (2.0, 2.0) and src.crs == dem.crs
        assert (src.bounds.left, src.bounds.top) == (dem.bounds.left, dem.bounds.top)
        assert src.bounds.right >= dem.bounds.right and src.bounds.bottom <= dem.bounds.bottom
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["pixel_area_m2"] == 4.0
    zones = summary["reference_zones"]
    assert zones["vegetation"]["accuracy"] > 0.95 and zones["vegetation"]["cells"] > 1000
