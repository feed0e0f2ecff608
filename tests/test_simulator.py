"""The mine simulator, end to end on the underground drift, checked against ground truth.

Everything the checks compare against is read back from the products as a user would:
the bag (BagReader), camera_info, trajectory_tum.txt, scene_mesh.ply (Open3D),
markers.csv (mine grid) and scene.json; projection and undistortion are OpenCV's own.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import open3d as o3d
import pytest

from simulator.config import apply_overrides, default_config
from simulator.mesh import ZONE_IDS, read_ply_zones
from simulator.render import Renderer
from simulator.sensors import Rig
from simulator.writer import TOPICS, build_scene, run_simulation
from smartmine.bagio import BagReader
from smartmine.geodesy import LocalEnu, MineGrid
from smartmine.geometry import quat_to_matrix
from smartmine.msgs import camera_info_to_intrinsics, image_to_numpy, navsatfix_to_geofix

FRAMES = 16
MIN_MARKER_SIDE_PX = 20.0
"""ArUco corners are only sub-pixel accurate with >= ~3 px per module (6 modules)."""


def stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def read_tum(path: Path) -> dict[int, np.ndarray]:
    poses = {}
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        v = line.split()
        sec, frac = v[0].split(".")
        m = np.eye(4)
        m[:3, :3] = quat_to_matrix([float(a) for a in v[4:8]])
        m[:3, 3] = [float(a) for a in v[1:4]]
        poses[int(sec) * 1_000_000_000 + int(frac)] = m
    return poses


def distance_to_triangles(tri: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Distance (px) from points (N, 2) to 2-D triangles (N, 3, 2); 0 inside."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]

    def cross(u: np.ndarray, w: np.ndarray) -> np.ndarray:
        return u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0]

    s1, s2, s3 = cross(b - a, p - a), cross(c - b, p - b), cross(a - c, p - c)
    inside = ((s1 >= 0) & (s2 >= 0) & (s3 >= 0)) | ((s1 <= 0) & (s2 <= 0) & (s3 <= 0))

    def segment(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
        d = q1 - q0
        t = np.clip(((p - q0) * d).sum(1) / np.maximum((d * d).sum(1), 1e-12), 0, 1)
        return np.linalg.norm(q0 + d * t[:, None] - p, axis=1)

    edge = np.minimum.reduce([segment(a, b), segment(b, c), segment(c, a)])
    return np.where(inside, 0.0, edge)


@pytest.fixture(scope="module")
def drift(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("drift")
    config = apply_overrides(
        default_config("drift"),
        {"frames": FRAMES, "depth": {"noise_c_per_m": 0.0, "dropout": 0.0}},
    )
    result = run_simulation(config, out)
    doc = json.loads((out / "scene.json").read_text())
    with BagReader(result.bag) as bag:
        images = {
            stamp_ns(m.message): image_to_numpy(m.message).copy()
            for m in bag.messages(["/camera/color/image_raw"])
        }
        depths = {
            stamp_ns(m.message): image_to_numpy(m.message).copy()
            for m in bag.messages(["/camera/depth/image_rect_raw"])
        }
        info = next(bag.messages(["/camera/color/camera_info"])).message
    return {
        "out": out,
        "config": config,
        "result": result,
        "doc": doc,
        "images": images,
        "depths": depths,
        "intrinsics": camera_info_to_intrinsics(info),
        "poses": read_tum(out / "trajectory_tum.txt"),
    }


def test_products_and_bag_topics(drift: dict[str, Any]) -> None:
    out: Path = drift["out"]
    for name in (
        "drift.mcap",
        "trajectory_tum.txt",
        "trajectory_base_link_tum.txt",
        "scene_mesh.ply",
        "classes.tif",
        "markers.csv",
        "spectra.csv",
        "scene.json",
    ):
        assert (out / name).is_file(), name
    assert not [p for p in out.iterdir() if ".partial-" in p.name]
    with BagReader(out / "drift.mcap") as bag:
        topics = bag.topics
        assert {t: s.msgtype for t, s in topics.items()} == {t: v[0] for t, v in TOPICS.items()}
        for topic in (
            "/camera/color/image_raw",
            "/camera/depth/image_rect_raw",
            "/hyperspectral/image_raw",
            "/camera/color/camera_info",
        ):
            assert topics[topic].count == FRAMES
        duration = drift["result"].duration_s
        assert topics["/imu/data"].count == pytest.approx(duration * 200, abs=2)
        assert topics["/tf_static"].count == 1
        fixes = [navsatfix_to_geofix(m.message) for m in bag.messages(["/gnss/fix"])]
        assert fixes and all(f.status == -1 and math.isnan(f.latitude_deg) for f in fixes)
        depth = next(bag.messages(["/camera/depth/image_rect_raw"])).message
        assert depth.encoding == "16UC1"
        assert depth.header.frame_id == "camera_color_optical_frame"
        hsi = next(bag.messages(["/hyperspectral/image_raw"])).message
        assert hsi.encoding == "32FC106" and (hsi.height, hsi.width) == (48, 64)
        wl = next(bag.messages(["/hyperspectral/wavelengths"])).message
        assert np.allclose(wl.data, drift["doc"]["sensors"]["hyperspectral"]["wavelengths_nm"])
    assert drift["doc"]["topics"]["/imu/data"]["count"] == topics["/imu/data"].count


def test_drift_is_big_enough_with_bend_and_junction(drift: dict[str, Any]) -> None:
    doc = drift["doc"]
    params = doc["scene_parameters"]
    assert params["centre_line_m"] >= 100.0
    w = np.array(params["waypoints_enu_m"])
    a, b = w[1] - w[0], w[2] - w[1]
    bend = math.degrees(math.acos(a[:2] @ b[:2] / np.linalg.norm(a[:2]) / np.linalg.norm(b[:2])))
    assert bend == pytest.approx(50.0, abs=0.1)
    assert len(doc["markers"]["list"]) >= 8
    verts, tris, zones = read_ply_zones(drift["out"] / "scene_mesh.ply")
    mesh = o3d.io.read_triangle_mesh(str(drift["out"] / "scene_mesh.ply"))
    assert len(mesh.vertices) == len(verts) and len(mesh.triangles) == len(tris)
    assert np.allclose(np.asarray(mesh.vertices), verts)
    assert (zones == ZONE_IDS["marker"]).sum() == 2 * len(doc["markers"]["list"])
    # the section is about 4 m x 4 m: width across the floor, height at the crown
    assert doc["config"]["drift"]["width_m"] == 4.0
    scene = build_scene(drift["config"])
    # 0.3 m east of the junction's centre: beside the lamp hung there (16 cm wide)
    floor = np.array([params["junction_enu_m"]]) + np.array([0.3, 0.0, 0.0])
    up = scene.cast(floor, np.array([[0.0, 0.0, 1.0]]))
    assert 3.9 <= float(up["t_hit"][0]) <= 4.4  # crown of the arch above the floor


def test_depth_equals_ray_distance_to_mesh(drift: dict[str, Any]) -> None:
    """Depth (z in the optical frame, mm) equals the distance along an independently
    undistorted ray to the PLY mesh, converted to z."""
    mesh = o3d.io.read_triangle_mesh(str(drift["out"] / "scene_mesh.ply"))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    intr = drift["intrinsics"]
    rng = np.random.default_rng(1)
    errors = []
    for t, depth in list(drift["depths"].items())[::3]:
        pose = drift["poses"][t]
        valid = np.argwhere(depth > 0)
        pick = valid[rng.choice(len(valid), size=min(800, len(valid)), replace=False)]
        pix = pick[:, ::-1].astype(np.float64).reshape(-1, 1, 2)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14)
        norm = cv2.undistortPoints(pix, intr.k, intr.d, criteria=crit).reshape(-1, 2)
        rays_cam = np.column_stack([norm, np.ones(len(norm))])
        ray_len = np.linalg.norm(rays_cam, axis=1)
        dirs = (rays_cam / ray_len[:, None]) @ pose[:3, :3].T
        rays = np.column_stack([np.tile(pose[:3, 3], (len(dirs), 1)), dirs]).astype(np.float32)
        distance = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        z_expected = distance / ray_len  # ray length -> z-depth
        measured = depth[pick[:, 0], pick[:, 1]] / 1000.0
        errors.append(np.abs(measured - z_expected))
    err = np.concatenate(errors)
    assert err.size > 1000
    assert float(err.max()) < 1.0e-3  # mm quantisation + float32 raycasting


def test_hit_points_reproject_onto_their_pixels(drift: dict[str, Any]) -> None:
    """Points the renderer hit (triangle + barycentric, on the PLY mesh) project back onto
    their pixels with the ground-truth pose and the camera_info intrinsics (cv2)."""
    verts, tris, _ = read_ply_zones(drift["out"] / "scene_mesh.ply")
    config = drift["config"]
    renderer = Renderer(build_scene(config), config)
    intr = drift["intrinsics"]
    stamps = sorted(drift["poses"])
    worst = 0.0
    for i in (2, 9):
        pose = drift["poses"][stamps[i]]
        frame = renderer.render(pose, i)
        # the bag's frame (up to the TUM file's 9-decimal rounding of the pose)
        same = frame.rgb == drift["images"][stamps[i]]
        assert same.mean() > 0.995
        v, u = np.nonzero(frame.primitive_ids >= 0)
        prim = frame.primitive_ids[v, u]
        bary = frame.primitive_uvs[v, u].astype(np.float64)
        corners = verts[tris[prim]]
        points = (
            corners[:, 0] * (1 - bary[:, :1] - bary[:, 1:])
            + corners[:, 1] * bary[:, :1]
            + corners[:, 2] * bary[:, 1:]
        )
        inv = np.linalg.inv(pose)
        cam = points @ inv[:3, :3].T + inv[:3, 3]
        proj, _ = cv2.projectPoints(cam, np.zeros(3), np.zeros(3), intr.k, intr.d)
        err = np.hypot(proj[:, 0, 0] - u, proj[:, 0, 1] - v)
        assert len(err) > 0.9 * frame.primitive_ids.size
        worst = max(worst, float(err.max()))
        # the hit triangle's vertices, projected, surround the pixel (within 0.5 px)
        sample = np.arange(0, len(prim), 23)
        tri_cam = verts[tris[prim[sample]]].reshape(-1, 3) @ inv[:3, :3].T + inv[:3, 3]
        tri_px, _ = cv2.projectPoints(tri_cam, np.zeros(3), np.zeros(3), intr.k, intr.d)
        gap = distance_to_triangles(
            tri_px.reshape(-1, 3, 2), np.column_stack([u[sample], v[sample]]).astype(float)
        )
        assert float(gap.max()) < 0.5
    assert worst < 0.5


def test_aruco_corners_match_ground_truth(drift: dict[str, Any]) -> None:
    """OpenCV finds the wall markers where markers.csv (mine grid) says they are."""
    doc = drift["doc"]
    o = doc["origin"]
    origin = LocalEnu(o["lat_deg"], o["lon_deg"], o["alt_m"])
    grid = MineGrid.from_dict(doc["mine_grid"])
    corners: dict[int, np.ndarray] = {}
    with (drift["out"] / "markers.csv").open() as f:
        for row in csv.DictReader(f):
            e, n, h = grid.from_grid(
                float(row["grid_x_m"]), float(row["grid_y_m"]), float(row["grid_z_m"])
            )
            x, y, z = origin.from_projected(e, n, h, 32644)
            corners.setdefault(int(row["marker_id"]), np.zeros((4, 3)))[int(row["corner"])] = (
                float(x),
                float(y),
                float(z),
            )
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    detector = cv2.aruco.ArucoDetector(dictionary, params)
    intr = drift["intrinsics"]
    errors, false_ids = [], []
    for t, image in drift["images"].items():
        found, ids, _ = detector.detectMarkers(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        if ids is None:
            continue
        inv = np.linalg.inv(drift["poses"][t])
        for quad, marker_id in zip(found, ids.ravel(), strict=True):
            if int(marker_id) not in corners:
                false_ids.append(int(marker_id))
                continue
            cam = corners[int(marker_id)] @ inv[:3, :3].T + inv[:3, 3]
            proj, _ = cv2.projectPoints(cam, np.zeros(3), np.zeros(3), intr.k, intr.d)
            proj = proj.reshape(4, 2)
            side = np.linalg.norm(np.diff(np.vstack([proj, proj[:1]]), axis=0), axis=1).min()
            err = np.linalg.norm(proj - quad.reshape(4, 2), axis=1)
            assert err.max() < 3.0, (marker_id, err)  # right marker, right place
            if side >= MIN_MARKER_SIDE_PX:
                errors.append(float(err.max()))
    assert not false_ids
    assert len(errors) >= 3
    assert max(errors) < 1.0


def test_mine_grid_coordinates_of_markers(drift: dict[str, Any]) -> None:
    doc = drift["doc"]
    grid = MineGrid.from_dict(doc["mine_grid"])
    assert grid.crs == 32644
    assert grid.rotation_deg == pytest.approx(12.5)
    o = doc["origin"]
    # the scene origin maps to the configured grid coordinates
    gx, gy, gz = grid.from_wgs84(o["lat_deg"], o["lon_deg"], o["alt_m"])
    assert [float(gx), float(gy), float(gz)] == pytest.approx([10000.0, 20000.0, 1300.0], abs=1e-4)
    with (drift["out"] / "markers.csv").open() as f:
        rows = list(csv.DictReader(f))
    marker = doc["markers"]["list"][0]
    first = [r for r in rows if int(r["marker_id"]) == marker["id"]]
    centre = np.mean([[float(r[k]) for k in ("east_m", "north_m", "up_m")] for r in first], 0)
    assert centre == pytest.approx(marker["centre_enu_m"], abs=1e-3)


def test_hsi_pixels_are_library_mixtures(drift: dict[str, Any]) -> None:
    """Pure pixels of a zone have that zone's library spectrum (up to illumination)."""
    from hyperspectral.spectra import band_centres

    config = drift["config"]
    renderer = Renderer(build_scene(config), config)
    rig = Rig.from_config(config)
    stamps = sorted(drift["poses"])
    wl = band_centres(config.hsi.bands)
    checked = 0
    for i in (1, 6, 11):
        # the HSI camera sits beside the colour camera (static TF)
        hsi_pose = (
            drift["poses"][stamps[i]] @ np.linalg.inv(rig.base_from_optical) @ (rig.base_from_hsi)
        )
        render = renderer.render_hsi(hsi_pose, i)
        frac = render.fractions.reshape(-1, render.fractions.shape[-1])
        cube = render.cube.reshape(-1, len(wl)).astype(np.float64) / renderer.irradiance
        for zone_id in (ZONE_IDS["granite"], ZONE_IDS["kaolinite"], ZONE_IDS["water"]):
            spectrum = renderer.zone_refl[zone_id]  # measured USGS spectra by default
            pure = np.flatnonzero(frac[:, zone_id] == 1.0)
            bright = pure[cube[pure].mean(axis=1) > 0.05]
            if bright.size < 5:
                continue
            good = renderer.irradiance > 0.2  # leave out the dark atmospheric/lamp ends
            # each pure pixel is the library spectrum times a scalar (illumination,
            # texture) plus noise: averaging the unit spectra leaves the library shape
            unit = cube[bright][:, good]
            unit /= np.linalg.norm(unit, axis=1, keepdims=True)
            mean = unit.mean(axis=0)
            ref = spectrum[good]
            cos = mean @ ref / np.linalg.norm(mean) / np.linalg.norm(ref)
            assert math.degrees(math.acos(min(cos, 1.0))) < 1.0
            checked += 1
        assert np.allclose(frac.sum(axis=1), 1.0)
    assert checked >= 3


def test_depth_noise_holes_and_range_as_configured(drift: dict[str, Any]) -> None:
    """With the D435 model on: sigma_z = c·z², holes at random and outside 0.3–10 m."""
    config = apply_overrides(drift["config"], {"depth": {"noise_c_per_m": 0.0015, "dropout": 0.02}})
    renderer = Renderer(build_scene(config), config)
    stamps = sorted(drift["poses"])
    residuals, dropped, total = [], 0, 0
    for i in (3, 8, 13):
        frame = renderer.render(drift["poses"][stamps[i]], i)
        z = frame.depth_true_m.astype(np.float64)
        measured = frame.depth_image.astype(np.float64) / 1000.0
        in_range = np.isfinite(z) & (z > 0.3) & (z < 10.0)
        valid = measured > 0
        assert not np.any(valid & ~in_range)  # nothing beyond the range limits
        sel = valid & (z < 8.0)
        residuals.append((measured[sel] - z[sel]) / (0.0015 * z[sel] ** 2))
        dropped += int(np.sum(in_range & ~valid))
        total += int(np.sum(in_range))
    r = np.concatenate(residuals)
    assert abs(r.mean()) < 0.05
    assert r.std() == pytest.approx(1.0, rel=0.1)
    assert 0.02 <= dropped / total < 0.2  # random dropout + grazing and edge holes
