"""Facade, corridor and drift planners, checked by geometry."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from calibration.camera_model import survey_camera
from drone_missions.plan import (
    CMD_CAM_TRIGG_DIST,
    CMD_GIMBAL_PITCHYAW,
    CMD_WAYPOINT,
    FRAME_LOCAL_ENU,
    read_plan,
)
from drone_missions.planners import (
    CorridorRequest,
    FacadeRequest,
    drift_points,
    keep_clearance,
    plan_corridor,
    plan_facade,
)
from smartmine.cli import main
from smartmine.geodesy import LocalEnu

ORIGIN = (43.2, 76.9)


def _line(xy: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    enu = LocalEnu(ORIGIN[0], ORIGIN[1], 0.0)
    x = np.array([p[0] for p in xy])
    y = np.array([p[1] for p in xy])
    lat, lon, _ = enu.to_wgs84(x, y, np.zeros(len(xy)))
    return tuple((float(a), float(b)) for a, b in zip(lat, lon, strict=True))


def _xy(items: list, enu: LocalEnu) -> np.ndarray:
    lat = np.array([i.lat_deg for i in items])
    lon = np.array([i.lon_deg for i in items])
    e, n, _ = enu.from_wgs84(lat, lon, np.zeros(len(items)))
    return np.stack([e, n], axis=1)


def test_facade_passes_stand_off_and_face_the_wall() -> None:
    # a straight east-west wall crest 100 m long; fly on its south side (right of the line)
    req = FacadeRequest(
        line=_line([(0.0, 0.0), (100.0, 0.0)]),
        camera=survey_camera("DJI Mavic 3 Enterprise"),
        standoff_m=20.0,
        bottom_m=10.0,
        top_m=40.0,
        gimbal_pitch_deg=0.0,
        side="right",
    )
    plan, info = plan_facade(req)
    vertical = 20.0 * 13.0 / 12.29  # face height seen at 20 m
    step = vertical * 0.3
    assert info["passes"] == math.ceil(30.0 / step) + 1
    wps = [i for i in plan.mission_items() if i.command == CMD_WAYPOINT]
    xy = _xy(wps, LocalEnu(ORIGIN[0], ORIGIN[1], 0.0))
    assert np.allclose(xy[:, 1], -20.0, atol=1e-6)  # 20 m south of the wall line
    yaws = np.array([w.params[3] for w in wps])
    assert np.allclose(np.minimum(yaws, 360.0 - yaws), 0.0, atol=1e-6)  # north: at the wall
    heights = sorted({round(w.altitude_m, 6) for w in wps})
    assert heights[0] == 10.0 and heights[-1] == 40.0 and len(heights) == info["passes"]
    assert any(i.command == CMD_GIMBAL_PITCHYAW for i in plan.mission_items())
    along = 20.0 * 17.3 / 12.29
    triggers = [i.params[0] for i in plan.mission_items() if i.command == CMD_CAM_TRIGG_DIST]
    assert triggers[0] == pytest.approx(along * 0.2)


def test_corridor_transects_like_qgc() -> None:
    # an L-shaped haul road: 200 m east then 150 m north, 60 m wide
    req = CorridorRequest(
        line=_line([(0.0, 0.0), (200.0, 0.0), (200.0, 150.0)]),
        camera=survey_camera("DJI Phantom 4 RTK"),
        width_m=60.0,
        altitude_agl_m=60.0,
        turnaround_m=0.0,
    )
    plan, calc, n = plan_corridor(req)
    assert calc.line_spacing_m == pytest.approx(27.0)
    assert n == math.ceil(60.0 / 27.0) == 3
    corridor = plan.complex_items("CorridorScan")[0]
    wps = [i for i in corridor.items if i.command == CMD_WAYPOINT]
    xy = _xy(wps, LocalEnu(ORIGIN[0], ORIGIN[1], 0.0))
    # QGC offsets: half width - spacing/2 - k * spacing = 16.5, -10.5, -37.5 (left positive)
    first_leg_y = sorted({round(float(p[1]), 3) for p in xy if p[0] < 150.0})
    assert first_leg_y == pytest.approx([-37.5, -10.5, 16.5], abs=1e-3)


def _grid(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
    return np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), axis=-1).reshape(-1, 3)


def _tunnel_cloud() -> np.ndarray:
    """Walls, floor and roof of an L-shaped drift 4 m wide and 3.5 m high (points every 10
    to 20 cm): 60 m east along y = 0, then 40 m north along x = 60; open at the far end."""
    z = np.arange(0.0, 3.5, 0.1)
    parts = [
        _grid(np.arange(-2.0, 62.0, 0.1), np.array([-2.0]), z),  # south wall
        _grid(np.arange(-2.0, 58.0, 0.1), np.array([2.0]), z),  # north wall, west leg
        _grid(np.array([58.0, 62.0]), np.arange(2.0, 42.0, 0.1), z),  # north leg walls
        _grid(np.array([62.0]), np.arange(-2.0, 2.0, 0.1), z),  # the bend's outer wall
        _grid(np.array([-2.0]), np.arange(-2.0, 2.0, 0.1), z),  # the end behind the start
        _grid(np.arange(-2.0, 62.0, 0.2), np.arange(-2.0, 2.0, 0.2), np.array([0.0, 3.5])),
        _grid(np.arange(58.0, 62.0, 0.2), np.arange(2.0, 42.0, 0.2), np.array([0.0, 3.5])),
    ]
    cloud = np.concatenate(parts)
    return cloud + np.random.default_rng(0).normal(0, 0.01, cloud.shape)


def test_drift_from_a_map_keeps_clearance(tmp_path: Path) -> None:
    import open3d as o3d

    cloud = _tunnel_cloud()
    ply = tmp_path / "drift.ply"
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud))
    o3d.io.write_point_cloud(str(ply), pcd)
    out = tmp_path / "drift.plan"
    assert main(["plan", "drift", str(ply), "--clearance-m", "1.2", "--out", str(out)]) == 0
    pts = drift_points(read_plan(out))
    assert all(i.frame == FRAME_LOCAL_ENU for i in read_plan(out).mission_items())
    # it starts near the origin and ends at the far end of the north leg
    assert np.linalg.norm(pts[0, :2]) < 1.5
    assert pts[-1, 0] == pytest.approx(60.0, abs=1.0) and pts[-1, 1] > 38.0
    # every leg keeps 1.2 m from every point of the map, and roughly follows the middle
    from scipy.spatial import cKDTree

    tree = cKDTree(cloud)
    fine = np.concatenate(
        [a + (b - a) * np.linspace(0, 1, 20)[:, None] for a, b in itertools.pairwise(pts)]
    )  # fmt: skip
    assert tree.query(fine)[0].min() >= 1.2 - 1e-6
    info = json.loads((tmp_path / "drift.plan.json").read_text())
    assert info["min_clearance_m"] >= 1.2


def test_drift_centerline_csv_is_pushed_off_the_wall(tmp_path: Path) -> None:
    cloud = _tunnel_cloud()
    # a centre line drawn too close to the south wall (0.5 m from it)
    line = np.column_stack([np.linspace(0, 50, 26), np.full(26, -1.5), np.full(26, 1.75)])
    moved, dmin = keep_clearance(line, cloud, 1.0)
    assert dmin >= 1.0 - 1e-6
    assert np.all(moved[:, 1] > -1.05)


def test_the_simulator_flies_a_drift_plan_in_its_frame(tmp_path: Path) -> None:
    from drone_missions.plan import write_plan
    from drone_missions.planners import drift_plan
    from simulator.trajectory import plan_waypoints_enu, read_plan

    pts = np.array([[0.0, 0.0, 1.5], [10.0, 0.0, 1.5], [10.0, 8.0, 1.7]])
    path = write_plan(drift_plan(pts), tmp_path / "drift.plan")
    plan = read_plan(path)
    assert plan.format == "local-enu" and plan.ignored == {}
    xyz, info = plan_waypoints_enu(plan, scene=None)  # type: ignore[arg-type]
    assert np.allclose(xyz, pts) and info["relocated"] is False
