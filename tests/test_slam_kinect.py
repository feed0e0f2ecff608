"""SLAM on the five real Kinect frames of slambook's joinMap set (with given poses):
relative poses against the given ones, a non-ghosted fused cloud, and the full offline
path (`smartmine slam BAG`) over a bag made of those frames, with corrupt frames mixed in."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mapping.slam.frame import Pinhole, RgbdFrame
from mapping.slam.odometry import PRESETS, RgbdOdometry, _icp_terms
from mapping.slam.processor import SlamProcessor
from mapping.slam.sources import FolderSource
from mapping.slam.system import Slam, SlamConfig
from mapping.slam.trajectory import read_trajectory
from smartmine.bagio import BagReader, BagWriter
from smartmine.cli import main
from smartmine.geometry import quat_to_matrix, rotation_angle
from smartmine.msgs import CameraIntrinsics, intrinsics_to_camera_info, numpy_to_image
from smartmine.runner import run_on_bag
from tests.conftest import shared

SET = "rgbd_kinect_slambook_joinmap"
CAM = Pinhole(640, 480, 518.0, 519.0, 325.5, 253.5)


def given_poses() -> list[np.ndarray]:
    rows = np.loadtxt(shared(SET, "pose.txt"))
    poses = []
    for r in rows:
        pose = np.eye(4)
        pose[:3, :3] = quat_to_matrix(r[3:])
        pose[:3, 3] = r[:3]
        poses.append(pose)
    return poses


def frames() -> list[RgbdFrame]:
    return list(FolderSource(shared(SET), CAM))


def pose_error(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    err = np.linalg.inv(a) @ b
    return float(np.linalg.norm(err[:3, 3])), float(np.degrees(rotation_angle(err[:3, :3])))


def test_relative_poses_match_the_given_ones() -> None:
    gt = given_poses()
    odo = RgbdOdometry(CAM, PRESETS["wide"])  # frames 0.2-0.7 m and up to 25 deg apart
    tracked = [odo.prepare(f) for f in frames()]
    print("\npair  given |t| m  given rot deg  err t m  err rot deg  inliers")
    for a in range(4):
        result = odo.estimate(tracked[a], tracked[a + 1])
        rel = np.linalg.inv(gt[a]) @ gt[a + 1]
        t_err, r_err = pose_error(rel, result.T_ref_cur)
        given_rot = np.degrees(rotation_angle(rel[:3, :3]))
        print(
            f"{a + 1}->{a + 2}  {np.linalg.norm(rel[:3, 3]):11.3f}  {given_rot:13.2f}  "
            f"{t_err:7.4f}  {r_err:11.3f}  {result.feature_inliers:7d}"
        )
        assert result.ok
        # the given poses are themselves an estimate (upstream book example): a few cm
        assert t_err < 0.08 and r_err < 1.5


def test_fused_cloud_is_not_ghosted() -> None:
    """Surfaces of every frame meet those of the first: the point-to-plane residual with
    our poses is no worse than with the given ones (ghosting would double it)."""
    fs = frames()
    slam = Slam(CAM, SlamConfig(odometry=PRESETS["wide"], keyframe_translation_m=0.01))
    for f in fs:
        assert slam.step(f).pose is not None
    _, ours = slam.trajectory()
    gt = given_poses()
    odo = RgbdOdometry(CAM)
    tracked = [odo.prepare(f) for f in fs]
    ref_pts, ref_nrm = tracked[0].levels[4]
    for k in (1, 2):
        cur_pts, _ = tracked[k].levels[4]
        res = {}
        for name, poses in (("ours", ours), ("given", gt)):
            rel = np.linalg.inv(poses[0]) @ poses[k]
            _, r = _icp_terms(ref_pts, ref_nrm, cur_pts, CAM.scaled(4), rel, 0.3)
            res[name] = float(np.median(np.abs(r)))
        assert res["ours"] < 1.2 * res["given"] + 0.002, res


def write_kinect_bag(path: Path, corrupt: bool) -> None:
    fs = frames()
    intr = CameraIntrinsics(640, 480, CAM.k, np.zeros(5))
    with BagWriter(path) as w:
        for topic, kind in (
            ("/camera/color/image_raw", "sensor_msgs/msg/Image"),
            ("/camera/depth/image_rect_raw", "sensor_msgs/msg/Image"),
            ("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo"),
        ):
            w.add_topic(topic, kind, qos="sensor")
        seq = list(enumerate(fs))
        if corrupt:  # a blank image, a frame without depth, and a mis-sized depth frame
            seq = [
                seq[0],
                ("blank", fs[1]),
                seq[1],
                ("nodepth", fs[2]),
                seq[2],
                ("size", fs[2]),
                seq[3],
                seq[4],
            ]
        for n, (kind, f) in enumerate(seq):
            t = 1_000_000_000 + n * 100_000_000
            color, depth = f.color, (f.depth_m * 1000).astype(np.uint16)
            if kind == "blank":
                color = np.zeros_like(color)
            if kind == "nodepth":
                depth = np.zeros_like(depth)
            if kind == "size":
                depth = depth[:240]
            where = {"stamp_ns": t, "frame_id": "cam", "factory": w.factory}
            w.write("/camera/color/camera_info", t, intrinsics_to_camera_info(intr, **where))
            w.write("/camera/color/image_raw", t, numpy_to_image(color, "rgb8", **where))
            w.write("/camera/depth/image_rect_raw", t, numpy_to_image(depth, "16UC1", **where))


def test_offline_slam_over_a_bag_with_corrupt_frames(tmp_path: Path) -> None:
    bag = tmp_path / "kinect.mcap"
    write_kinect_bag(bag, corrupt=True)
    out = tmp_path / "run"
    assert main(["slam", str(bag), "--out", str(out), "--voxel", "0.02", "--preset", "wide"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["sections"]["tracking"]["status_counts"].get("skipped", 0) == 2
    assert report["summary"]["tracked_frames"] == 5
    assert "not georeferenced" in report["summary"]["frame"]
    traj = read_trajectory(out / "trajectory_tum.txt")
    gt = given_poses()
    rel_gt = np.linalg.inv(gt[0]) @ gt[4]
    rel = np.linalg.inv(traj.poses[0]) @ traj.poses[4]
    assert pose_error(rel_gt, rel)[0] < 0.15
    import laspy
    import open3d as o3d

    mesh = o3d.io.read_triangle_mesh(str(out / "map_mesh.ply"))
    assert len(mesh.triangles) > 10_000
    assert len(laspy.read(out / "map_cloud.laz").points) > 10_000
    assert (out / "map_mesh.glb").read_bytes()[:4] == b"glTF"
    assert "<img" in (out / "report.html").read_text()
    # a second run without --overwrite is refused with one line, leaving the first intact
    assert main(["slam", str(bag), "--out", str(out)]) == 2


def test_slam_processor_over_a_bag(tmp_path: Path) -> None:
    bag = tmp_path / "kinect.mcap"
    write_kinect_bag(bag, corrupt=False)
    out = tmp_path / "odom.mcap"
    result = run_on_bag(SlamProcessor, bag, out, overrides={"preset": "wide"})
    assert result.outputs == {"/slam/odometry": 5, "/slam/pose": 5, "/tf": 5}
    with BagReader(out) as reader:
        odoms = [m.message for m in reader.messages(["/slam/odometry"])]
    last = odoms[-1].pose.pose.position
    # FLU map frame: the camera moved forward (x) ~1.9 m and to its right (-y) in the set
    gt = given_poses()
    rel = np.linalg.inv(gt[0]) @ gt[4]
    assert np.hypot(last.x, last.y) == pytest.approx(np.linalg.norm(rel[[0, 2], 3]), abs=0.15)
    assert last.x == pytest.approx(rel[2, 3], abs=0.15)


def test_missing_bag_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slam", str(tmp_path / "none.mcap"), "--out", str(tmp_path / "o")]) == 2
    assert "none.mcap" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_tracking_loss_is_reported_and_recovered() -> None:
    """A frame of noise (a sensor glitch) loses tracking; the next real frame relocalises
    against the keyframes, and the trajectory carries on as accurate as before."""
    fs = frames()
    rng = np.random.default_rng(0)
    junk = RgbdFrame(
        fs[1].stamp_ns + 1,
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
        rng.uniform(0.5, 8, (480, 640)).astype(np.float32),
        99,
    )
    slam = Slam(CAM, SlamConfig(odometry=PRESETS["wide"]))
    states = [slam.step(f) for f in [fs[0], fs[1], junk, fs[2], fs[3], fs[4]]]
    assert [s.status for s in states][2:4] == ["lost", "relocalised"]
    assert states[2].pose is None
    _, poses = slam.trajectory()
    assert len(poses) == 5
    gt = given_poses()
    t_err, r_err = pose_error(np.linalg.inv(gt[0]) @ gt[4], np.linalg.inv(poses[0]) @ poses[-1])
    assert t_err < 0.1 and r_err < 2.0


def test_loop_closure_when_the_camera_comes_back() -> None:
    """Out along the five frames and back: place recognition + PnP/ICP verification close
    loops against the first keyframes, and after pose-graph optimisation the camera ends
    where it started."""
    fs = frames()
    seq = fs + fs[::-1][1:]
    slam = Slam(
        CAM, SlamConfig(odometry=PRESETS["wide"], loop_min_path_m=1.0, keyframe_translation_m=0.01)
    )
    for i, f in enumerate(seq):
        f.index, f.stamp_ns = i, i * 100_000_000
        assert slam.step(f).pose is not None
    assert len(slam.loops) >= 2
    assert any(lc.kf_to == 0 for lc in slam.loops)
    _, poses = slam.trajectory()
    t_err, r_err = pose_error(poses[0], poses[-1])
    assert t_err < 0.01 and r_err < 0.5
