"""The drift as a SLAM yardstick: real-drift fixtures in depth, keypoints like real frames.

The bare rock tube gave 13-36 SIFT and 10-125 ORB keypoints per 640x480 frame; the real
Kinect frames of ../shared/data/rgbd_kinect_slambook_joinmap give 518-1,034 SIFT and
1,449-2,189 ORB (benchmarks/drift_keypoints.py prints both). With the rock grain, the
welded mesh and the fixtures a drift run measured 380-1,548 SIFT and 1,029-3,286 ORB; the
floors below (200 SIFT, 600 ORB) sit at about half the weakest measured frame, far above
the bare tube's best, so a change that makes the drift bland again fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config import apply_overrides, default_config
from simulator.drift_fixtures import (
    DUCT_RADIUS_M,
    NUT_PROUD_M,
    PLATE_THICKNESS_M,
    build_fixtures,
)
from simulator.render import Renderer
from simulator.scene_drift import DriftLayout, place_wall_markers
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.writer import build_scene

SIFT_FLOOR = 200
ORB_FLOOR = 600


def test_drift_frames_have_real_frame_keypoint_counts() -> None:
    cv2 = pytest.importorskip("cv2")
    config = default_config("drift")
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    traj = build_trajectory(config, scene)[0]
    times = np.array([0.2, 0.5, 0.8]) * traj.duration_s
    cams = traj.matrices(times) @ Rig.from_config(config).base_from_optical
    sift, orb = cv2.SIFT_create(), cv2.ORB_create(nfeatures=5000)
    for i, cam in enumerate(cams):
        grey = cv2.cvtColor(renderer.render(cam, i).rgb, cv2.COLOR_RGB2GRAY)
        assert len(sift.detect(grey, None)) >= SIFT_FLOOR
        assert len(orb.detect(grey, None)) >= ORB_FLOOR


def test_duct_and_bolt_plates_are_in_depth_where_the_scene_puts_them() -> None:
    config = default_config("drift")
    scene = build_scene(config)
    params = scene.parameters
    assert params["bolt_plates"] > 50
    # bolt plates: a ray from 1 m out along a plate's normal hits its nut (6 cm proud
    # of the rock, 4 cm in front of the plate's face), well before the bare rock
    bare_config = apply_overrides(config, {"drift": {"fixtures": False}})
    bare = build_scene(bare_config)
    layout = DriftLayout.of(config.drift)
    markers = place_wall_markers(config.drift, layout)
    fixtures = build_fixtures(config.drift, layout, bare.terrain, markers)
    # straight below the duct's axis, in the drift's air, a ray up stops at its skin
    axis = fixtures.duct_axis_enu_m
    assert np.allclose(axis[[0, -1]], params["duct_axis_start_end_enu_m"])
    origins = axis[1:-1][:: len(axis) // 7] - [0.0, 0.0, 1.5]  # not on its end caps
    up = np.tile([0.0, 0.0, 1.0], (len(origins), 1))
    t_duct = scene.cast(origins, up)["t_hit"].astype(np.float64)
    assert np.allclose(t_duct, 1.5 - DUCT_RADIUS_M, atol=0.02)
    assert np.all(bare.cast(origins, up)["t_hit"] > 1.5 + DUCT_RADIUS_M)
    fronts = fixtures.bolt_plates_enu_m[::7]
    normals = fixtures.bolt_plate_normals[::7]
    origins = fronts + normals
    t = scene.cast(origins, -normals)["t_hit"].astype(np.float64)
    t_bare = bare.cast(origins, -normals)["t_hit"].astype(np.float64)
    assert np.allclose(t, 1.0 - (NUT_PROUD_M - PLATE_THICKNESS_M), atol=0.005)
    assert np.all(t_bare > t + NUT_PROUD_M - 0.03)


def test_fixtures_are_deterministic_and_can_be_turned_off() -> None:
    # without the fixed lamps, whose brackets and housings follow the fixtures' faces
    config = apply_overrides(default_config("drift"), {"drift": {"fixed_lamps": False}})
    a, b = build_scene(config), build_scene(config)
    assert np.array_equal(a.terrain.vertices, b.terrain.vertices)
    bare = build_scene(apply_overrides(config, {"drift": {"fixtures": False}}))
    assert len(bare.terrain.triangles) < len(a.terrain.triangles)
    assert "bolt_plates" not in bare.parameters
    # the fixtures' faces follow the rock's (their albedo is plain, see shading.texture)
    assert a.fixture_faces == (len(bare.terrain.triangles), len(a.terrain.triangles))
    assert bare.fixture_faces is None
    # the fixtures draw no random numbers: the rock, zones and markers are unchanged
    n = len(bare.terrain.vertices)
    assert np.array_equal(a.terrain.vertices[:n], bare.terrain.vertices)
    assert [m.to_dict() for m in a.markers] == [m.to_dict() for m in bare.markers]
