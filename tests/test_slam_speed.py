"""The tracker's fast path: compiled kernels against their numpy references, guided
feature matching, and the live back end (loop search in a thread, pose-graph
optimisation in a child process) against the in-line one. Speed itself is measured by
benchmarks/slam.py, not here."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from mapping.slam.backend import Optimiser, graph_view
from mapping.slam.frame import (
    Pinhole,
    RgbdFrame,
    backproject,
    downsample_depth,
    level_points,
    normals_of,
    normals_of_numpy,
)
from mapping.slam.kernels import icp_normal_equations, valid_points
from mapping.slam.odometry import PRESETS, RgbdOdometry, _icp_terms
from mapping.slam.system import Slam, SlamConfig
from smartmine.geometry import make_transform, rotvec_to_matrix
from tests.test_slam_kinect import CAM, frames, given_poses, pose_error

SMALL = Pinhole(160, 120, 130.0, 130.0, 79.5, 59.5)


def corridor_depth(cam: Pinhole, seed: int = 0) -> np.ndarray:
    """Depth of a bumpy tunnel-like surface with holes, NaN, inf and negatives mixed in."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    depth = 2.0 + 1.5 * np.abs((u - cam.cx) / cam.width) + 0.05 * np.sin(u / 7.0) * np.cos(v / 5.0)
    depth[rng.random(depth.shape) < 0.05] = 0.0
    depth[:, 100:103] = 9.0  # a depth edge
    depth[3, 4], depth[5, 6], depth[7, 8] = np.nan, np.inf, -1.0
    return depth.astype(np.float32)


def test_clean_depth_and_level_points_match_numpy() -> None:
    raw = corridor_depth(SMALL)
    frame = RgbdFrame(0, np.zeros((120, 160, 3), np.uint8), raw)
    expected = np.where(np.isfinite(raw) & (raw > 0), raw, 0).astype(np.float32)
    np.testing.assert_array_equal(frame.depth_m, expected)
    for factor in (1, 2, 4):
        clipped = np.where(frame.depth_m < 8.0, frame.depth_m, 0).astype(np.float32)
        reference = backproject(downsample_depth(clipped, factor), SMALL.scaled(factor))
        got = level_points(frame.depth_m, factor, SMALL, 8.0)
        assert got.shape == reference.shape
        np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-6)


def test_normals_match_numpy() -> None:
    depth = RgbdFrame(0, np.zeros((120, 160, 3), np.uint8), corridor_depth(SMALL)).depth_m
    points = backproject(depth, SMALL)
    got, reference = normals_of(points), normals_of_numpy(points)
    np.testing.assert_allclose(got, reference, atol=2e-6)
    assert (np.abs(got).sum(axis=2) > 0).mean() > 0.7  # most pixels have one


def test_icp_normal_equations_match_the_numpy_rows() -> None:
    depth = RgbdFrame(0, np.zeros((120, 160, 3), np.uint8), corridor_depth(SMALL)).depth_m
    ref_pts = backproject(depth, SMALL)
    ref_nrm = normals_of(ref_pts)
    cur_pts = backproject(RgbdFrame(0, np.zeros((120, 160, 3), np.uint8),
                                    corridor_depth(SMALL, seed=1)).depth_m, SMALL)  # fmt: skip
    rotation = rotvec_to_matrix(np.array([0.01, -0.02, 0.005]))
    motion = make_transform(rotation, np.array([0.03, 0, 0.05]))
    huber = 0.02
    jac, res = _icp_terms(ref_pts, ref_nrm, cur_pts, SMALL, motion, 0.3)
    w = np.where(np.abs(res) < huber, 1.0, huber / np.maximum(np.abs(res), 1e-12))
    hessian, g, pairs, squares = icp_normal_equations(
        ref_pts, ref_nrm, valid_points(cur_pts), motion, SMALL.fx, SMALL.fy, SMALL.cx, SMALL.cy,
        0.3, huber,
    )  # fmt: skip
    assert pairs == len(res) > 5000
    np.testing.assert_allclose(hessian, (jac * w[:, None]).T @ jac, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g, (jac * w[:, None]).T @ res, rtol=1e-9, atol=1e-12)
    assert squares == pytest.approx(float(res @ res), rel=1e-9)


def test_guided_matching_tracks_a_real_pair_like_all_against_all() -> None:
    """Kinect frames 3→4 (0.24 m apart), guided from a guess 3 cm and 1° off the truth:
    the matches lie where the guess puts them, and the pose is as good as before."""
    fs = frames()
    gt = given_poses()
    truth = np.linalg.inv(gt[3]) @ gt[4]
    guided = RgbdOdometry(CAM, replace(PRESETS["wide"], guided_radius_px=24.0))
    plain = RgbdOdometry(CAM, PRESETS["wide"])
    ref, cur = guided.prepare(fs[3]), guided.prepare(fs[4])
    guess = make_transform(rotvec_to_matrix(np.radians([0.0, 1.0, 0.0])), np.array([0.03, 0, 0]))
    guess = truth @ guess
    i, j = guided.features.guided(ref, cur, guess, CAM)
    assert len(i) > 200 and len(set(j.tolist())) == len(j)  # one ref per current keypoint
    fit = guided.match_features(ref, cur, guess)
    assert fit.inliers >= PRESETS["wide"].pnp_min_inliers
    result = guided.estimate(ref, cur, guess)
    baseline = plain.estimate(ref, cur, guess)
    assert result.ok and baseline.ok
    t_err, r_err = pose_error(truth, result.T_ref_cur)
    t_base, _ = pose_error(truth, baseline.T_ref_cur)
    assert t_err < t_base + 0.01 and r_err < 1.0


def out_and_back(config: SlamConfig) -> tuple[Slam, list[RgbdFrame]]:
    fs = frames()
    seq = fs + fs[::-1][1:]
    for i, f in enumerate(seq):
        f.index, f.stamp_ns = i, i * 100_000_000
    return Slam(CAM, config), seq


LOOPS = SlamConfig(odometry=PRESETS["wide"], loop_min_path_m=1.0, keyframe_translation_m=0.01)


def test_background_back_end_closes_the_loop_and_every_frame_gets_a_pose() -> None:
    """The live back end (camera paced so the loop search keeps up) finds the loops the
    in-line one finds, and after ``finish`` the camera ends where it started."""
    slam, seq = out_and_back(replace(LOOPS, background=True))
    assert slam.backend is not None
    for f in seq:
        assert slam.step(f).pose is not None
        deadline = time.monotonic() + 60
        while not slam.backend.idle() and time.monotonic() < deadline:
            time.sleep(0.005)
    slam.finish()
    stats = slam.stats()
    assert stats["loop_checks_skipped"] == 0 and stats["loop_searches"] == len(slam.keyframes) - 1
    assert stats["background_optimisations"] >= 1  # in the child process, while tracking
    assert len(slam.loops) >= 2 and any(lc.kf_to == 0 for lc in slam.loops)
    _, poses = slam.trajectory()
    t_err, r_err = pose_error(poses[0], poses[-1])
    assert t_err < 0.01 and r_err < 0.5


def test_child_process_optimises_like_in_line() -> None:
    slam, seq = out_and_back(replace(LOOPS, optimise_every_loop=False))
    for f in seq:
        slam.step(f)
    assert slam.loops
    child = Optimiser()
    try:
        poses = child.optimise(graph_view(slam))
    finally:
        child.close()
    slam.optimise()
    np.testing.assert_allclose(poses, [k.pose for k in slam.keyframes], atol=1e-9)


class JoiningSlam(Slam):
    """A loop search that also moves keyframes and sets new state, as a loop joining two
    segments does: on its 4th keyframe it shifts every keyframe 1 m along x."""

    def _detect_loop(self) -> None:
        super()._detect_loop()
        if len(self.keyframes) == 4:
            for kf in self.keyframes:
                kf.pose = make_transform(np.eye(3), np.array([1.0, 0, 0])) @ kf.pose
            self.joined_at = len(self.keyframes)


def test_background_search_applies_what_it_moved_like_in_line() -> None:
    """Whatever the loop search changes (poses, new state) reaches the SLAM, also for
    keyframes made while it ran: the live trajectory equals the in-line one."""
    runs = []
    for background in (False, True):
        slam = JoiningSlam(CAM, replace(LOOPS, background=background))
        _, seq = out_and_back(LOOPS)
        for f in seq:
            slam.step(f)
            while slam.backend is not None and not slam.backend.idle():
                time.sleep(0.005)
        slam.finish()
        assert getattr(slam, "joined_at", None) == 4
        runs.append(slam.trajectory()[1])
    np.testing.assert_allclose(runs[1], runs[0], atol=1e-9)
    assert runs[0][0][0, 3] == pytest.approx(1.0, abs=1e-9)  # the first keyframe moved too
