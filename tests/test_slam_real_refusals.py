"""SLAM on real frames says when it fails (issue 19 item 7), checked on the five real
Kinect frames of slambook's joinMap set against their given poses (pose.txt):

- pairs with no overlap in the truth are refused by the odometry, true pairs pass with
  their error within a bound;
- a relocalisation candidate that is wrong (93° / 1.82 m off, or a 0.2 m slide along
  the scene that the first keyframe alone cannot tell) is rejected, the right one taken;
- ``smartmine slam FOLDER`` reads the slambook folder and a TUM RGB-D folder made of
  the same frames, with bad-input rows.

"No overlap in the truth" is built and measured, not assumed: the current frame keeps
only the depth pixels whose points, moved by the true relative pose, fall outside the
reference camera's image (8 px margin); the rest is blanked (grey, no depth). The
measure is then the share of the kept pixels that the true pose projects inside the
reference image: 0 by construction, asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mapping.slam.frame import RgbdFrame, backproject
from mapping.slam.odometry import PRESETS, RgbdOdometry, TrackedFrame
from mapping.slam.system import Slam, SlamConfig
from mapping.slam.trajectory import read_trajectory
from smartmine.geometry import make_transform, rotvec_to_matrix
from tests.bad_input import BadInput, Maker, check_bad_input, run_main, with_file
from tests.conftest import shared
from tests.test_slam_kinect import CAM, SET, frames, given_poses, pose_error

INTRINSICS = "518.0,519.0,325.5,253.5"


def relative(a: int, b: int) -> np.ndarray:
    gt = given_poses()
    return np.asarray(np.linalg.inv(gt[a]) @ gt[b])


def inside_share(frame: RgbdFrame, t_ref_cur: np.ndarray, margin_px: float = 8.0) -> np.ndarray:
    """Per pixel of ``frame``: its depth point, moved into the reference camera by
    ``t_ref_cur``, lands inside the reference image (within the margin)."""
    p = backproject(frame.depth_m, CAM).reshape(-1, 3).astype(np.float64)
    q = p @ t_ref_cur[:3, :3].T + t_ref_cur[:3, 3]
    z = q[:, 2]
    zs = np.where(z > 1e-6, z, 1.0)
    u = q[:, 0] / zs * CAM.fx + CAM.cx
    v = q[:, 1] / zs * CAM.fy + CAM.cy
    inside = (z > 1e-6) & (u > -margin_px) & (u < CAM.width + margin_px)
    inside &= (v > -margin_px) & (v < CAM.height + margin_px)
    return np.asarray(inside.reshape(frame.depth_m.shape) & (frame.depth_m > 0))


def without_overlap(frame: RgbdFrame, t_ref_cur: np.ndarray) -> RgbdFrame:
    """``frame`` keeping only what the reference camera cannot see (see module doc)."""
    keep = (frame.depth_m > 0) & ~inside_share(frame, t_ref_cur)
    color, depth = frame.color.copy(), frame.depth_m.copy()
    color[~keep] = 128
    depth[~keep] = 0
    return RgbdFrame(frame.stamp_ns, color, depth, 100 + frame.index)


@pytest.fixture(scope="module")
def kinect() -> list[RgbdFrame]:
    return frames()


@pytest.fixture(scope="module", params=["wide", "live"])
def tracked(
    request: pytest.FixtureRequest, kinect: list[RgbdFrame]
) -> tuple[RgbdOdometry, list[TrackedFrame]]:
    odo = RgbdOdometry(CAM, PRESETS[request.param])
    return odo, [odo.prepare(f) for f in kinect]


def test_true_pairs_pass_and_no_ok_pair_is_far_off(
    tracked: tuple[RgbdOdometry, list[TrackedFrame]],
) -> None:
    """All 20 ordered pairs: an ok estimate is within 15 cm / 2° of the given poses
    (before issue 19 the live preset took 2->5 as ok 164 cm off); with the preset for
    frames far apart (wide), neighbours pass."""
    odo, tf = tracked
    wide = odo.config.orb_features == PRESETS["wide"].orb_features
    for a in range(5):
        for b in range(5):
            if a == b:
                continue
            result = odo.estimate(tf[a], tf[b])
            t_err, r_err = pose_error(relative(a, b), result.T_ref_cur)
            if result.ok:
                assert t_err < 0.15 and r_err < 2.0, (a, b, t_err, r_err)
            if wide and abs(a - b) == 1:
                assert result.ok, (a, b, result.reason)
                assert t_err < 0.08 and r_err < 1.5, (a, b, t_err, r_err)
                assert result.support is not None and result.support.depth_agreement > 0.5


def test_pairs_without_overlap_in_the_truth_are_refused(
    tracked: tuple[RgbdOdometry, list[TrackedFrame]], kinect: list[RgbdFrame]
) -> None:
    """Before issue 19, 4 of these 14 pairs were ok, 77-150 cm off (ICP slid the
    leftover walls onto the reference's)."""
    odo, tf = tracked
    built = 0
    for a in range(5):
        for b in range(5):
            if a == b:
                continue
            rel = relative(a, b)
            cur = without_overlap(kinect[b], rel)
            kept = cur.depth_m > 0
            if kept.mean() < 0.05:  # the reference sees nearly all of it: no pair
                continue
            built += 1
            assert not inside_share(cur, rel).any()  # no overlap in the truth, measured
            result = odo.estimate(tf[a], odo.prepare(cur))
            t_err, _ = pose_error(rel, result.T_ref_cur)
            assert not result.ok, (a, b, f"ok {t_err:.2f} m off")
            assert result.reason
    assert built == 14


@pytest.fixture(scope="module")
def three_keyframes(kinect: list[RgbdFrame]) -> Slam:
    slam = Slam(CAM, SlamConfig(odometry=PRESETS["wide"]))
    for f in kinect[:3]:
        assert slam.step(f).status == "keyframe"
    return slam


def test_relocalisation_candidates_are_verified(
    three_keyframes: Slam, kinect: list[RgbdFrame]
) -> None:
    """Frame 4 against keyframe 1 (frame 2): the true pose is confirmed by a second
    keyframe; 93° / 1.82 m off is refused by the keyframe's own depth; a 0.2 m slide
    sideways passes the keyframe's own checks and is refused by the second keyframe."""
    slam = three_keyframes
    cur = slam.odometry.prepare(kinect[3])
    kf = slam.keyframes[1]
    truth = relative(kf.frame_index, 3)
    confirmed, why = slam.check_relocalisation(kf, cur, truth)
    assert confirmed is True, why
    assert "confirmed by keyframe" in why
    wrong = truth @ make_transform(rotvec_to_matrix(np.radians([0.0, 93.0, 0.0])), [1.82, 0, 0])
    confirmed, why = slam.check_relocalisation(kf, cur, wrong)
    assert confirmed is False and f"keyframe {kf.kf_id} does not support" in why
    slide = truth @ make_transform(np.eye(3), [0.2, 0.0, 0.0])
    confirmed, why = slam.check_relocalisation(kf, cur, slide)
    assert confirmed is False and "places the frame" in why, why


def junk_frame(after: RgbdFrame) -> RgbdFrame:
    rng = np.random.default_rng(0)
    return RgbdFrame(
        after.stamp_ns + 1,
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
        rng.uniform(0.5, 8, (480, 640)).astype(np.float32),
        99,
    )


def test_relocalisation_with_one_keyframe_waits_for_the_next_frame(
    kinect: list[RgbdFrame],
) -> None:
    """Lost right after the first keyframe: no second keyframe can confirm, so the
    frame stays lost until the next one agrees; then both are placed, accurately."""
    fs = kinect
    slam = Slam(CAM, SlamConfig(odometry=PRESETS["wide"]))
    states = [slam.step(f) for f in [fs[0], junk_frame(fs[0]), fs[1], fs[2], fs[3], fs[4]]]
    assert states[1].status == "lost"
    assert states[2].status == "relocalised"
    assert "confirmed by the next frame" in states[2].detail
    _, poses = slam.trajectory()
    assert len(poses) == 5
    t_err, r_err = pose_error(relative(0, 4), np.linalg.inv(poses[0]) @ poses[-1])
    assert t_err < 0.1 and r_err < 2.0


# -- smartmine slam FOLDER ---------------------------------------------------------------


def ate(out: Path) -> float:
    report = json.loads((out / "report.json").read_text())
    return float(report["sections"]["evaluation"]["ate_m"]["rmse"])


def test_slam_on_the_slambook_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["slam", str(shared(SET)), "--out", str(out), "--no-map", "--preset", "wide"]
    outcome = run_main([*argv, "--intrinsics", INTRINSICS])
    assert outcome.code == 0, outcome.stderr
    assert "slambook folder" in outcome.stdout and "pose.txt" in outcome.stdout
    assert len(read_trajectory(out / "trajectory_tum.txt")) == 5
    assert ate(out) < 0.05  # against pose.txt, se3-aligned
    tracking = json.loads((out / "report.json").read_text())["sections"]["tracking"]
    assert tracking["odometry_refused"] == 0 and tracking["relocalisations_rejected"] == []


def tum_folder(root: Path, kinect: list[RgbdFrame]) -> Path:
    """A TUM RGB-D folder of the Kinect frames: rgb/ and depth/ PNGs (5000 per metre),
    rgb.txt, depth.txt (depth stamps 7 ms after colour), groundtruth.txt from pose.txt."""
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb_rows, depth_rows, truth_rows = ["# color images"], ["# depth maps"], ["# truth"]
    pose_rows = shared(SET, "pose.txt").read_text().split("\n")
    for i, f in enumerate(kinect):
        t = 1305031102.0 + 0.5 * i
        cv2.imwrite(str(root / "rgb" / f"{t:.6f}.png"), f.color[:, :, ::-1])
        depth = np.round(f.depth_m * 5000).astype(np.uint16)
        cv2.imwrite(str(root / "depth" / f"{t + 0.007:.6f}.png"), depth)
        rgb_rows.append(f"{t:.6f} rgb/{t:.6f}.png")
        depth_rows.append(f"{t + 0.007:.6f} depth/{t + 0.007:.6f}.png")
        truth_rows.append(f"{t:.6f} {pose_rows[i]}")
    for name, rows in (("rgb", rgb_rows), ("depth", depth_rows), ("groundtruth", truth_rows)):
        (root / f"{name}.txt").write_text("\n".join(rows) + "\n")
    return root


def test_slam_on_a_tum_folder(tmp_path: Path, kinect: list[RgbdFrame]) -> None:
    folder = tum_folder(tmp_path / "tum", kinect)
    info = tmp_path / "camera_info.yaml"
    info.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: kinect\n"
        "camera_matrix: {rows: 3, cols: 3, data: [518.0, 0, 325.5, 0, 519.0, 253.5, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\n"
        "distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n"
    )
    out = tmp_path / "run"
    argv = ["slam", str(folder), "--out", str(out), "--no-map", "--preset", "wide"]
    outcome = run_main([*argv, "--camera-info", str(info)])
    assert outcome.code == 0, outcome.stderr
    assert "TUM RGB-D folder" in outcome.stdout and "groundtruth" in outcome.stdout
    traj = read_trajectory(out / "trajectory_tum.txt")
    assert len(traj) == 5 and traj.stamps_s[0] == pytest.approx(1305031102.0)
    assert ate(out) < 0.05
    # the same with --intrinsics, and a wrong depth scale shows in the error (metres off)
    out2 = tmp_path / "run2"
    assert run_main([*argv[:3], str(out2), *argv[4:], "--intrinsics", INTRINSICS]).code == 0
    assert ate(out2) == pytest.approx(ate(out), abs=1e-6)


def _slambook(d: Path, frames_: int = 2, depth: bool = True) -> None:
    for i in range(1, frames_ + 1):
        (d / "in" / "color").mkdir(parents=True, exist_ok=True)
        (d / "in" / "depth").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / "in" / "color" / f"{i}.png"), np.zeros((48, 64, 3), np.uint8))
        if depth or i == 1:
            cv2.imwrite(str(d / "in" / "depth" / f"{i}.pgm"), np.zeros((48, 64), np.uint16))


def _tum(rgb: str, depth: str | None) -> Maker:
    def make(d: Path) -> None:
        (d / "in").mkdir(parents=True, exist_ok=True)
        (d / "in" / "rgb.txt").write_text(rgb)
        if depth is not None:
            (d / "in" / "depth.txt").write_text(depth)

    return make


FOLDER_CASES = [
    BadInput(
        "slambook missing depth",
        ("slam", "{d}/in", "--out", "{d}/out", "--intrinsics", "50,50,32,24"),
        ("{d}/in/color/2.png", "no depth image"),
        lambda d: _slambook(d, depth=False),
    ),
    BadInput(
        "slambook without intrinsics",
        ("slam", "{d}/in", "--out", "{d}/out"),
        ("{d}/in", "--intrinsics"),
        _slambook,
    ),
    BadInput(
        "bad --intrinsics",
        ("slam", "{d}/in", "--out", "{d}/out", "--intrinsics", "50,fifty,32,24"),
        ("--intrinsics",),
        _slambook,
    ),
    BadInput(
        "negative focal length",
        ("slam", "{d}/in", "--out", "{d}/out", "--intrinsics", "-50,50,32,24"),
        ("--intrinsics",),
        _slambook,
    ),
    BadInput(
        "zero --depth-scale",
        ("slam", "{d}/in", "--out", "{d}/out", "--intrinsics", "50,50,32,24", "--depth-scale", "0"),
        ("--depth-scale",),
        _slambook,
    ),
    BadInput(
        "tum bad rgb.txt row",
        ("slam", "{d}/in", "--out", "{d}/out", "--intrinsics", "50,50,32,24"),
        ("{d}/in/rgb.txt:2",),
        _tum("# x\nnot-a-stamp rgb/1.png\n", "1.0 depth/1.png\n"),
    ),
    BadInput(
        "tum without depth.txt",
        ("slam", "{d}/in", "--out", "{d}/out", "--intrinsics", "50,50,32,24"),
        ("{d}/in/depth.txt",),
        _tum("1.0 rgb/1.png\n", None),
    ),
    BadInput(
        "--intrinsics on a bag",
        ("slam", "{d}/in.mcap", "--out", "{d}/out", "--intrinsics", "50,50,32,24"),
        ("--intrinsics",),
        with_file("in.mcap", b"\x89MCAP0\r\n"),
    ),
]


@pytest.mark.parametrize("case", FOLDER_CASES, ids=lambda c: c.id)
def test_slam_folder_bad_input(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path)


def test_icl_nuim_native_depth_is_turned_into_z(tmp_path: Path, kinect: list[RgbdFrame]) -> None:
    """ICL-NUIM's POV-Ray ``.depth`` holds each pixel's distance from the camera centre;
    the reader gives depth along the optical axis (the Kinect frame's, round trip)."""
    from mapping.slam.sources import IclNuimFolder, folder_layout, open_folder

    f = kinect[0]
    small = cv2.resize(f.depth_m, (64, 48), interpolation=cv2.INTER_NEAREST)
    fx, fy, cx, cy = 51.8, 51.9, 31.5, 23.5
    u = (np.arange(64) - cx) / fx
    v = (np.arange(48) - cy) / fy
    dist = small * np.sqrt(u[None, :] ** 2 + v[:, None] ** 2 + 1)
    np.savetxt(tmp_path / "scene_00_0000.depth", dist.reshape(1, -1), fmt="%.6f")
    cv2.imwrite(str(tmp_path / "scene_00_0000.png"), np.zeros((48, 64, 3), np.uint8))
    assert folder_layout(tmp_path) is IclNuimFolder
    source = open_folder(tmp_path, f"{fx},{fy},{cx},{cy}")
    (frame,) = list(source)
    assert np.abs(frame.depth_m - small).max() < 1e-4


def test_tum_sequence_name_gives_the_camera(tmp_path: Path, kinect: list[RgbdFrame]) -> None:
    from mapping.slam.sources import open_folder

    folder = tum_folder(tmp_path / "rgbd_dataset_freiburg1_xyz", kinect[:2])
    source = open_folder(folder)
    assert (source.camera.fx, source.camera.cy) == (517.3, 255.3)
    assert "freiburg1" in source.camera_note
    assert source.depth_scale == 5000.0
    (first, _) = list(source)
    assert np.abs(first.depth_m - kinect[0].depth_m).max() < 2e-4  # 5000 units per metre


def test_a_refused_step_is_counted_and_exits_3(tmp_path: Path, kinect: list[RgbdFrame]) -> None:
    """Frame 3, then frame 2 cut to what frame 3 does not see (no overlap in the truth;
    before issue 19 the odometry took it, 77 cm off): the step is refused, the frame is
    lost and counted, and the run finishes with warnings (exit 3)."""
    folder = tmp_path / "in"
    (folder / "color").mkdir(parents=True)
    (folder / "depth").mkdir()
    cut = without_overlap(kinect[1], relative(2, 1))
    for i, f in enumerate([kinect[2], cut], 1):
        cv2.imwrite(str(folder / "color" / f"{i}.png"), f.color[:, :, ::-1])
        cv2.imwrite(
            str(folder / "depth" / f"{i}.pgm"), np.round(f.depth_m * 1000).astype(np.uint16)
        )
    out = tmp_path / "run"
    argv = ["slam", str(folder), "--out", str(out), "--no-map", "--intrinsics", INTRINSICS]
    outcome = run_main([*argv, "--preset", "wide"])
    assert outcome.code == 3, outcome.stderr
    assert "WARNING: 1 of 2 frames lost" in outcome.stdout
    tracking = json.loads((out / "report.json").read_text())["sections"]["tracking"]
    assert tracking["status_counts"] == {"keyframe": 1, "lost": 1}
    assert tracking["odometry_refused"] == 1
