"""SLAM tied to a mine grid (issue 19): the grid's scale against ground metres goes into
the map-to-grid transform, not into the map; products say which grid they are in."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mapping.products import MineGridTie, ProductFrame, read_frame, write_cloud_laz, write_mesh
from mapping.slam.frame import Pinhole
from mapping.slam.georef import (
    AnchorOptions,
    ControlPoints,
    MarkerObservations,
    grid_of_control,
    grid_units_per_metre,
    tie_to_markers,
)
from mapping.slam.system import Slam
from smartmine.geodesy import LocalEnu, MineGrid
from smartmine.geometry import invert_transform, make_transform, rot_y, rot_z

SITE = LocalEnu(49.9462, 82.6335, 120.0)
"""The simulator's default site (UTM 44N, 0.99975 projected metres per ground metre)."""
CAM_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _grid(scale: float) -> MineGrid:
    e0, _, _ = SITE.to_projected(0.0, 0.0, 0.0, 32644)
    return MineGrid.horizontal(32644, scale, 12.5, [1e4 - scale * float(e0), 2e4, 1180.0], "g")


def _control(grid: MineGrid, enu_points: dict[tuple[int, int], np.ndarray]) -> ControlPoints:
    keys = list(enu_points)
    xyz = np.array([enu_points[k] for k in keys])
    e, n, h = SITE.to_projected(xyz[:, 0], xyz[:, 1], xyz[:, 2], 32644)
    gx, gy, gz = grid.to_grid(e, n, h)
    points = {k: np.array([gx[i], gy[i], gz[i]]) for i, k in enumerate(keys)}
    return ControlPoints(points, "mine grid", "test")


def test_grid_units_per_metre_is_the_grid_scale_times_the_projection_scale() -> None:
    """Measured against two points 80 m apart in ground metres (local ENU) carried into
    the grid: a grid at 0.999 against UTM is 0.999 x 0.99975 units per ground metre."""
    for scale in (1.0, 0.999, 1.001):
        grid = _grid(scale)
        a, b = np.array([-40.0, 10.0, -30.0]), np.array([40.0, 10.0, -30.0])
        control = _control(grid, {(0, 0): a, (1, 0): b})
        ground = float(np.linalg.norm(control.points[(1, 0)][:2] - control.points[(0, 0)][:2]))
        measured = grid_units_per_metre(grid, control)
        assert measured == pytest.approx(ground / 80.0, abs=2e-6)
        assert measured == pytest.approx(scale * 0.99975, abs=2e-5)


def test_grid_of_control_reads_scene_json_beside_the_markers(tmp_path: Path) -> None:
    grid = _grid(0.999)
    (tmp_path / "scene.json").write_text(json.dumps({"mine_grid": grid.to_dict()}))
    control = ControlPoints({}, "mine grid", str(tmp_path / "markers.csv"))
    assert grid_of_control(control) == grid
    utm = ControlPoints({}, "EPSG:32644", str(tmp_path / "markers.csv"))
    found = grid_of_control(utm)
    assert found is not None and found.crs == 32644 and found.scale == 1.0
    assert grid_of_control(ControlPoints({}, "mine grid", str(tmp_path / "x" / "m.csv"))) is None


def _chain(
    control_scale: float,
) -> tuple[Slam, MarkerObservations, ControlPoints, list[np.ndarray]]:
    """A 30 m straight keyframe chain (odometry yawing 0.05° too far each 0.5 m step) and
    six markers every 5 m, surveyed in a grid of ``control_scale`` units per metre."""
    rng = np.random.default_rng(3)
    truth = [make_transform(CAM_TO_BODY, [0.5 * i, 0.0, 1.0]) for i in range(61)]
    slam = Slam(Pinhole(640, 480, 500.0, 500.0, 319.5, 239.5))
    pose, keyframes = truth[0].copy(), []
    turn = CAM_TO_BODY.T @ rot_z(np.radians(0.05)) @ CAM_TO_BODY
    for i, true_pose in enumerate(truth):
        if i:
            step = invert_transform(truth[i - 1]) @ true_pose
            step = make_transform(step[:3, :3] @ turn, step[:3, 3])
            pose = pose @ step
            slam.edges.append((i, i - 1, step, np.diag([1e5] * 3 + [4e4] * 3), False))
        keyframes.append(SimpleNamespace(kf_id=i, pose=pose.copy()))
    slam.keyframes = keyframes  # type: ignore[assignment]
    metres: dict[tuple[int, int], np.ndarray] = {}
    for mid in range(6):
        centre = np.array([4.0 + 5.0 * mid, 1.5 * (-1) ** mid, 1.5])
        for corner, (dy, dz) in enumerate(
            [(-0.15, 0.15), (0.15, 0.15), (0.15, -0.15), (-0.15, -0.15)]
        ):
            metres[(mid, corner)] = centre + np.array([0.0, dy, dz])
    observations = MarkerObservations()
    for kf, true_pose in enumerate(truth):
        inv = invert_transform(true_pose)
        for (mid, corner), q in metres.items():
            p = inv[:3, :3] @ q + inv[:3, 3]
            if 1.5 < p[2] < 4.5:
                observations.sightings.append(
                    (kf, mid, corner, p + rng.normal(0, 0.002, 3), float(p[2]))
                )
    offset = np.array([1000.0, 2000.0, 100.0])
    grid = {
        k: np.array([control_scale, control_scale, 1.0]) * q + offset for k, q in metres.items()
    }
    return slam, observations, ControlPoints(grid, "mine grid", "test"), truth


def _map_scale(slam: Slam, truth: list[np.ndarray]) -> float:
    """The map's length against the truth's, end to end (1: metric map; the keyframes
    lie on a line, so a sim(3) alignment is not determined)."""
    est = np.array([k.pose[:3, 3] for k in slam.keyframes])
    ref = np.array([t[:3, 3] for t in truth])
    return float(np.linalg.norm(est[-1] - est[0]) / np.linalg.norm(ref[-1] - ref[0]))


def test_a_grid_scale_far_from_one_stays_out_of_the_map() -> None:
    """Markers surveyed in a grid of 1.001 units per metre (10 cm per 100 m): with the
    grid's scale given, the anchored map stays metric (sim3 scale 1) and the map-to-grid
    transform carries the 1.001; taken as a metric grid, the map stretches by it."""
    scale = 1.001
    quick = AnchorOptions(calibrate_odometry=0, leave_one_out=False)
    slam, observations, control, truth = _chain(scale)
    options = dataclasses.replace(quick, grid_scale=scale)
    fit, info = tie_to_markers(slam, observations, control, options)
    assert fit is not None and info["anchored"]
    assert _map_scale(slam, truth) == pytest.approx(1.0, abs=3e-4)
    assert fit.scale == pytest.approx(scale, abs=1e-12)
    slam, observations, control, truth = _chain(scale)
    fit, _ = tie_to_markers(slam, observations, control, quick)
    assert fit is not None and fit.scale == 1.0
    assert _map_scale(slam, truth) == pytest.approx(scale, abs=3e-4)


def test_products_state_their_mine_grid_and_its_transform(tmp_path: Path) -> None:
    """A cloud and a mesh in the mine grid: their crs.json says kind mine_grid, the grid's
    EPSG and the 4x4 that takes grid coordinates to it (checked on a surveyed point), and
    reads back; a local product says kind local."""
    grid = _grid(0.999)
    tie = MineGridTie.of(grid)
    frame = ProductFrame(local_frame="mine grid", mine_grid=tie, origin=(10.0, 20.0, 0.0))
    xyz = np.random.default_rng(0).uniform(0, 5, (50, 3))
    write_cloud_laz(tmp_path / "c.laz", xyz, frame=frame)
    write_mesh(tmp_path / "m.ply", xyz[:3], np.array([[0, 1, 2]]), frame=frame)
    for name in ("c.laz", "m.ply"):
        doc = json.loads((tmp_path / f"{name}.crs.json").read_text())
        assert doc["kind"] == "mine_grid" and doc["epsg"] == 32644
        assert doc["to_crs"] == "EPSG:32644"
        matrix = np.array(doc["transform_4x4"])
        e, n, h = SITE.to_projected(3.0, 4.0, -20.0, 32644)
        g = np.array([*(float(v) for v in grid.to_grid(e, n, h)), 1.0])
        assert np.allclose((matrix @ g)[:3], [float(e), float(n), float(h)], atol=1e-6)
        back = read_frame(tmp_path / name)
        assert back.kind == "mine_grid" and back.mine_grid == tie
    write_mesh(
        tmp_path / "l.ply", xyz[:3], np.array([[0, 1, 2]]), frame=ProductFrame(local_frame="map")
    )
    assert json.loads((tmp_path / "l.ply.crs.json").read_text())["kind"] == "local"


def test_slam_products_frame_follows_the_georeference() -> None:
    """The SLAM pipeline's choice: tied to a grid with a known tie, kind mine_grid; a grid
    without one, or no georeference, local; markers in an EPSG code, that CRS."""
    from mapping.slam.pipeline import _product_frame

    grid = _grid(1.0)
    assert _product_frame("mine grid", grid).kind == "mine_grid"
    assert _product_frame("mine grid", None).kind == "local"
    assert "unknown" in _product_frame("mine grid", None).local_frame
    assert _product_frame(None, grid).kind == "local"
    assert _product_frame("EPSG:32644", None).crs == 32644


def test_gravity_corrects_the_frames_before_the_first_marker() -> None:
    """A 30 m keyframe chain whose odometry pitches 0.1° too far at each of its first 16
    steps (the start, before any marker is in anchor range) and is right after: tied to
    the markers alone the start hangs off the first anchored keyframe ~10 cm low; with
    the accelerometer's gravity (a 0.05 m/s² bias, noise) the first keyframe is within
    the markers' accuracy."""
    from mapping.slam.georef import AccelSamples

    rng = np.random.default_rng(5)
    truth = [make_transform(CAM_TO_BODY, [0.5 * i, 0.0, 1.0]) for i in range(61)]
    quick = AnchorOptions(calibrate_odometry=0, leave_one_out=False, max_range_m=4.5)

    def build() -> tuple[Slam, MarkerObservations, ControlPoints]:
        slam = Slam(Pinhole(640, 480, 500.0, 500.0, 319.5, 239.5))
        pose, keyframes = truth[0].copy(), []
        pitch = make_transform(CAM_TO_BODY.T @ rot_y(np.radians(0.1)) @ CAM_TO_BODY, np.zeros(3))
        for i, true_pose in enumerate(truth):
            if i:
                step = invert_transform(truth[i - 1]) @ true_pose
                step = step @ pitch if i <= 16 else step
                pose = pose @ step
                slam.edges.append((i, i - 1, step, np.diag([1e5] * 3 + [4e4] * 3), False))
            keyframes.append(SimpleNamespace(kf_id=i, pose=pose.copy(), stamp_ns=i * 10**9))
        slam.keyframes = keyframes  # type: ignore[assignment]
        slam.frames = [(i, i * 10**9, i, np.eye(4)) for i in range(len(truth))]
        corners: dict[tuple[int, int], np.ndarray] = {}
        for mid in range(4):  # from 12 m on: none within 4.5 m of the first 8 m
            centre = np.array([12.0 + 5.0 * mid, 1.5 * (-1) ** mid, 1.5])
            for corner, (dy, dz) in enumerate(
                [(-0.15, 0.15), (0.15, 0.15), (0.15, -0.15), (-0.15, -0.15)]
            ):
                corners[(mid, corner)] = centre + np.array([0.0, dy, dz])
        observations = MarkerObservations()
        for kf, true_pose in enumerate(truth):
            inv = invert_transform(true_pose)
            for (mid, corner), q in corners.items():
                p = inv[:3, :3] @ q + inv[:3, 3]
                if 1.5 < p[2] < 4.5:
                    noisy = p + rng.normal(0, 0.005, 3)
                    observations.sightings.append((kf, mid, corner, noisy, float(p[2])))
        return slam, observations, ControlPoints(corners, "mine grid", "test")

    # the robot stands level: specific force = g up, in the camera frame, 100 Hz
    stamps = np.arange(0, 60 * 10**9 + 1, 10**7, dtype=np.int64)
    up_cam = CAM_TO_BODY.T @ np.array([0.0, 0.0, 9.80665])
    force = up_cam + np.array([0.03, -0.05, 0.02]) + rng.normal(0, 0.02, (len(stamps), 3))
    accel = AccelSamples(stamps, force)

    def first_error(fit_matrix: np.ndarray, slam: Slam) -> float:
        p = fit_matrix[:3, :3] @ slam.keyframes[0].pose[:3, 3] + fit_matrix[:3, 3]
        return float(np.linalg.norm(p - truth[0][:3, 3]))

    slam, observations, control = build()
    fit, _ = tie_to_markers(slam, observations, control, quick)
    assert fit is not None
    without = first_error(fit.matrix(), slam)
    slam, observations, control = build()
    fit, info = tie_to_markers(slam, observations, control, quick, accel)
    assert fit is not None and info["tilt_keyframes"] > 50
    with_gravity = first_error(fit.matrix(), slam)
    assert without > 0.06
    assert with_gravity < 0.03
