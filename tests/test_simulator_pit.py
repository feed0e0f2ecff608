"""The mine simulator on the open pit: GNSS, depth, IMU, the zone raster, mission plans,
determinism and errors — against ground truth read back from the products."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import open3d as o3d
import pytest
import rasterio
from rasterio.transform import rowcol

from simulator.config import apply_overrides, default_config
from simulator.errors import SimulatorError
from simulator.mesh import ZONE_IDS, ZONES, read_ply_zones
from simulator.writer import run_simulation
from smartmine.bagio import BagReader
from smartmine.cli import main
from smartmine.geodesy import LocalEnu
from smartmine.geometry import quat_to_matrix
from smartmine.msgs import (
    camera_info_to_intrinsics,
    image_to_numpy,
    imu_to_sample,
    navsatfix_to_geofix,
)
from tests.conftest import shared

SMALL = {"pit": {"grid_res_m": 1.0}, "camera": {"width": 160, "height": 120}}


def stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def read_tum(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Stamps (ns) and 4x4 poses of a TUM file."""
    stamps, poses = [], []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        v = line.split()
        sec, frac = v[0].split(".")
        m = np.eye(4)
        m[:3, :3] = quat_to_matrix([float(a) for a in v[4:8]])
        m[:3, 3] = [float(a) for a in v[1:4]]
        stamps.append(int(sec) * 1_000_000_000 + int(frac))
        poses.append(m)
    return np.array(stamps), np.array(poses)


def origin_of(doc: dict[str, Any]) -> LocalEnu:
    o = doc["origin"]
    return LocalEnu(o["lat_deg"], o["lon_deg"], o["alt_m"])


@pytest.fixture(scope="module")
def pit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("pit")
    config = apply_overrides(
        default_config("open-pit"),
        {**SMALL, "frames": 6, "depth": {"noise_c_per_m": 0.0, "dropout": 0.0}},
    )
    result = run_simulation(config, out)
    doc = json.loads((out / "scene.json").read_text())
    return {"out": out, "config": config, "result": result, "doc": doc}


def test_pit_geometry_benches_and_georeference(pit: dict[str, Any]) -> None:
    doc = pit["doc"]
    assert doc["crs"]["projected"] == "EPSG:32644"
    assert doc["origin"]["lat_deg"] == pytest.approx(49.948)
    assert 500_000 < doc["origin"]["easting_m"] < 700_000  # zone 44 near 82.6 E
    verts, tris, zones = read_ply_zones(pit["out"] / "scene_mesh.ply")
    inner = (np.abs(verts[:, 0]) < 200) & (np.abs(verts[:, 1]) < 200)
    assert verts[inner, 2].min() == pytest.approx(-60.4, abs=0.05)  # floor -60, pond -0.4
    v = verts[tris]
    normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    flat = np.abs(normal[:, 2]) > 0.995
    z_flat = v[flat, :, 2].mean(axis=1)
    for bench in range(1, 6):  # berms every bench height
        assert np.sum(np.abs(z_flat + 10.0 * bench) < 0.3) > 300, bench
    # the rim: about 300 m across
    deep = verts[verts[:, 2] < -5.0]
    assert 240 < np.ptp(deep[:, 0]) < 320 and 240 < np.ptp(deep[:, 1]) < 320
    present = set(np.unique(zones).tolist())
    assert {z.id for z in ZONES if z.name != "none"} <= present
    mesh = o3d.io.read_triangle_mesh(str(pit["out"] / "scene_mesh.ply"))
    assert len(mesh.triangles) == len(tris)


def test_class_raster_geotiff(pit: dict[str, Any]) -> None:
    with rasterio.open(pit["out"] / "classes.tif") as src:
        assert src.crs.to_epsg() == 32644
        legend = json.loads(src.tags()["zones"])
        raster = src.read(1)
        transform = src.transform
    assert legend[str(ZONE_IDS["jarosite"])] == "jarosite"
    counts = np.bincount(raster.ravel(), minlength=len(ZONES))
    for name in (
        "granite",
        "limestone",
        "oxidised_ore",
        "kaolinite",
        "jarosite",
        "schwertmannite",
        "water",
        "vegetation",
    ):
        assert counts[ZONE_IDS[name]] > 100, name
    # the ground-control targets are where markers.csv says (UTM easting/northing)
    with (pit["out"] / "markers.csv").open() as f:
        rows = list(csv.DictReader(f))
    for marker_id in {int(r["marker_id"]) for r in rows}:
        pts = [
            (float(r["easting_m"]), float(r["northing_m"]))
            for r in rows
            if int(r["marker_id"]) == marker_id
        ]
        e, n = np.mean(pts, axis=0)
        row, col = rowcol(transform, e, n)
        assert raster[row, col] == ZONE_IDS["marker"]
    # the pond seen in the raster is where scene.json puts it
    pond = pit["doc"]["scene_parameters"]["pond"]
    origin = origin_of(pit["doc"])
    e, n, _ = origin.to_projected(pond["centre_enu_m"][0], pond["centre_enu_m"][1], -60.0, 32644)
    row, col = rowcol(transform, float(e), float(n))
    assert raster[row, col] == ZONE_IDS["water"]


def test_gnss_fixes_scatter_as_configured(pit: dict[str, Any]) -> None:
    doc = pit["doc"]
    origin = origin_of(doc)
    stamps, base = read_tum(pit["out"] / "trajectory_base_link_tum.txt")
    by_stamp = dict(zip(stamps.tolist(), base, strict=True))
    antenna = np.array(doc["config"]["gnss"]["antenna_offset_m"])
    with BagReader(pit["result"].bag) as bag:
        fixes = [navsatfix_to_geofix(m.message) for m in bag.messages(["/gnss/fix"])]
    assert len(fixes) > 1000
    err = []
    for fix in fixes:
        truth = by_stamp[fix.stamp_ns]
        true_enu = truth[:3, :3] @ antenna + truth[:3, 3]
        e, n, u = origin.from_wgs84(fix.latitude_deg, fix.longitude_deg, fix.altitude_m)
        err.append(np.array([float(e), float(n), float(u)]) - true_enu)
        assert fix.status == 0 and fix.covariance_type == 2
    errors = np.array(err)
    sigma = np.array(
        [doc["sensors"]["gnss"]["sigma_horizontal_m"]] * 2
        + [doc["sensors"]["gnss"]["sigma_vertical_m"]]
    )
    assert np.allclose(np.diag(fixes[0].position_covariance), sigma**2)
    n = len(errors)
    assert np.all(np.abs(errors.mean(axis=0)) < 4 * sigma / math.sqrt(n))
    assert np.allclose(errors.std(axis=0), sigma, rtol=0.08)


def test_imu_bias_and_noise_on_straight_legs(pit: dict[str, Any]) -> None:
    doc = pit["doc"]
    imu = doc["sensors"]["imu"]
    stamps, base = read_tum(pit["out"] / "trajectory_base_link_tum.txt")
    pos = base[:, :3, 3]
    accel = np.zeros(len(pos))
    accel[1:-1] = np.linalg.norm(pos[2:] - 2 * pos[1:-1] + pos[:-2], axis=1) / 0.05**2
    yaw = np.unwrap(np.arctan2(base[:, 1, 0], base[:, 0, 0]))
    steady = (accel < 1e-6) & (np.abs(np.gradient(yaw)) < 1e-9)
    steady[[0, -1]] = False
    with BagReader(pit["result"].bag) as bag:
        samples = [imu_to_sample(m.message) for m in bag.messages(["/imu/data"])]
    t = np.array([s.stamp_ns for s in samples])
    idx = np.clip(np.searchsorted(stamps, t), 1, len(stamps) - 1)
    keep = steady[idx] & steady[idx - 1]
    assert keep.sum() > 10_000
    f = np.array([s.linear_acceleration_m_s2 for s in samples])[keep]
    w = np.array([s.angular_velocity_rad_s for s in samples])[keep]
    n = len(f)
    expected_f = np.array([0.0, 0.0, 9.80665]) + imu["accel_bias_m_s2"]
    assert np.all(np.abs(f.mean(axis=0) - expected_f) < 5 * imu["accel_sigma_m_s2"] / math.sqrt(n))
    assert np.all(
        np.abs(w.mean(axis=0) - imu["gyro_bias_rad_s"]) < 5 * imu["gyro_sigma_rad_s"] / math.sqrt(n)
    )
    assert np.allclose(f.std(axis=0), imu["accel_sigma_m_s2"], rtol=0.05)
    assert np.allclose(w.std(axis=0), imu["gyro_sigma_rad_s"], rtol=0.05)
    assert samples[0].orientation_covariance[0, 0] == -1.0


def test_pit_depth_is_z_in_metres(pit: dict[str, Any]) -> None:
    """32FC1 depth of the drone's long-range sensor equals the ray distance, as z."""
    mesh = o3d.io.read_triangle_mesh(str(pit["out"] / "scene_mesh.ply"))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    stamps, poses = read_tum(pit["out"] / "trajectory_tum.txt")
    checked = 0
    with BagReader(pit["result"].bag) as bag:
        intr = camera_info_to_intrinsics(next(bag.messages(["/camera/color/camera_info"])).message)
        for m in bag.messages(["/camera/depth/image_rect_raw"]):
            assert m.message.encoding == "32FC1"
            depth = image_to_numpy(m.message)
            pose = poses[list(stamps).index(stamp_ns(m.message))]
            v, u = np.nonzero(np.isfinite(depth))
            pix = np.column_stack([u, v]).astype(np.float64).reshape(-1, 1, 2)
            crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)
            rays = np.column_stack(
                [
                    cv2.undistortPoints(pix, intr.k, intr.d, criteria=crit).reshape(-1, 2),
                    np.ones(len(u)),
                ]
            )
            length = np.linalg.norm(rays, axis=1)
            dirs = rays / length[:, None] @ pose[:3, :3].T
            query = np.column_stack([np.tile(pose[:3, 3], (len(u), 1)), dirs]).astype(np.float32)
            dist = scene.cast_rays(o3d.core.Tensor(query))["t_hit"].numpy()
            assert np.max(np.abs(depth[v, u] - dist / length)) < 5e-3
            assert np.all((depth[v, u] > 60.0) & (depth[v, u] < 160.0))  # 80 m over a 60 m pit
            checked += len(u)
    assert checked > 0.9 * 6 * 160 * 120


def test_same_seed_same_bytes_other_seed_other_scene(tmp_path: Path) -> None:
    fast = {
        **SMALL,
        "frames": 2,
        "imu": {"rate_hz": 20.0},
        "gnss": {"rate_hz": 1.0},
        "hsi": {"width": 8, "height": 6, "bands": 12},
        "path": {"altitude_m": 120.0},
    }

    def digest(out: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}

    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        config = apply_overrides(default_config("open-pit"), {**fast, "seed": seed})
        run_simulation(config, tmp_path / name)
        runs[name] = digest(tmp_path / name)
    assert runs["a"] == runs["b"]
    assert runs["a"]["open-pit.mcap"] != runs["c"]["open-pit.mcap"]
    va, _, za = read_ply_zones(tmp_path / "a" / "scene_mesh.ply")
    vc, _, zc = read_ply_zones(tmp_path / "c" / "scene_mesh.ply")
    assert np.abs(va[:, 2] - vc[:, 2]).max() > 5.0  # other rim, ramp, pond
    assert (za != zc).mean() > 0.05  # other geology


def test_plan_is_followed(tmp_path: Path) -> None:
    plan = shared("qgc_plans", "mavsdk_qgroundcontrol_sample.plan")
    assert (
        main(
            [
                "sim",
                "open-pit",
                "--out",
                str(tmp_path),
                "--frames",
                "3",
                "--width",
                "160",
                "--height",
                "120",
                "--plan",
                str(plan),
                "--config",
                str(_write(tmp_path / "c.json", {"pit": {"grid_res_m": 1.0}})),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "scene.json").read_text())
    items = json.loads(plan.read_text())["mission"]
    home = items["plannedHomePosition"]
    wps = [i for i in items["items"] if i["command"] in (16, 22)]
    frame = LocalEnu(home[0], home[1], home[2])
    expected = []
    for item in wps:  # relocated: offsets from the plan's home, altitudes relative
        e, n, _ = frame.from_wgs84(item["params"][4], item["params"][5], home[2])
        expected.append([float(e), float(n), float(item["params"][6])])
    expected_arr = np.array(expected)
    assert doc["trajectory"]["relocated"] is True
    assert doc["trajectory"]["ignored_items"] == {
        "IMAGE_START_CAPTURE": 1,
        "NAV_RETURN_TO_LAUNCH": 1,
    }
    _, base = read_tum(tmp_path / "trajectory_base_link_tum.txt")
    pos = base[:, :3, 3]
    assert np.allclose(pos[0], expected_arr[0], atol=1e-6)
    assert np.allclose(pos[-1], expected_arr[-1], atol=0.05)
    for k in range(1, len(expected_arr) - 1):  # corners are rounded with <= 15 m fillets
        a, b, c = expected_arr[k - 1], expected_arr[k], expected_arr[k + 1]
        d1, d2 = (b - a) / np.linalg.norm(b - a), (c - b) / np.linalg.norm(c - b)
        half = math.acos(np.clip(d1 @ d2, -1, 1)) / 2
        cut = 15.0 * (1 / math.cos(half) - 1) if half < math.pi / 2 - 1e-6 else 0.0
        assert np.linalg.norm(pos - b, axis=1).min() < cut + 0.3
    assert doc["trajectory"]["speed_m_s"] == items["hoverSpeed"]


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frames", "0"], "frames (--frames) must be 1..100000, got 0"),
        (["--plan", "PLAN"], "unknown plan format"),
        (["--width", "4"], "camera.width (--width) 4 must be 8..8192"),
        (["--config", "CONFIG"], "unknown configuration key 'pit.bench_hieght_m'"),
    ],
)
def test_bad_input_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    plan = _write(tmp_path / "mission.txt", "not a mission")
    config = _write(tmp_path / "c.json", {"pit": {"bench_hieght_m": 12}})
    args = [str(plan) if a == "PLAN" else str(config) if a == "CONFIG" else a for a in args]
    code = main(["sim", "open-pit", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("smartmine: error: ")
    assert message in err
    assert not (tmp_path / "out").exists()


def test_unsupported_plans_and_existing_output(tmp_path: Path) -> None:
    from simulator.trajectory import read_plan

    structure = shared("qgc_plans", "mavsdk_qgroundcontrol_sample_with_structured_scan.plan")
    scan = read_plan(structure)  # expanded by drone_missions.plan like QGC: 2 layers of 5
    assert len(scan.waypoints) == 12 and scan.ignored["DO_SET_CAM_TRIGG_DIST"] == 4
    fence = shared("qgc_plans", "qgc_ce_geofence_rd_2.plan")
    with pytest.raises(SimulatorError, match="0 positional waypoint"):
        read_plan(fence)
    survey = read_plan(shared("qgc_plans", "mavsdk_qgroundcontrol_sample_with_survey.plan"))
    assert len(survey.waypoints) == 8 and survey.ignored["DO_SET_CAM_TRIGG_DIST"] == 4
    wpl = read_plan(shared("qgc_plans", "qgc_MissionPlanner.waypoints"))
    assert len(wpl.waypoints) == 5 and wpl.home == pytest.approx((47.660459, -122.103167, 5.21))
    (tmp_path / "scene.json").write_text("{}")
    config = apply_overrides(default_config("drift"), {"frames": 1})
    with pytest.raises(SimulatorError, match="exists already"):
        run_simulation(config, tmp_path)
    # a plan that dives into the pit is refused before rendering
    low = tmp_path / "low.waypoints"
    low.write_text(
        "QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t49.948\t82.628\t300\t1\n"
        "1\t0\t3\t16\t0\t0\t0\t0\t49.948\t82.628\t20\t1\n"
        "2\t0\t3\t16\t0\t0\t0\t0\t49.9485\t82.628\t-59\t1\n"
    )
    config = apply_overrides(default_config("open-pit"), {**SMALL, "frames": 1, "plan": str(low)})
    with pytest.raises(SimulatorError, match="within 2 m of the ground"):
        run_simulation(config, tmp_path / "low")
