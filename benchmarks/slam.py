"""RGB-D odometry speed and accuracy: ours beside Open3D's on the same frames.

- Speed: frames per second of frame-to-frame odometry at the input resolution (640×480
  for the Kinect set and the simulator), ours (``prepare`` + ``estimate``, preset
  ``live``) and Open3D's ``compute_rgbd_odometry`` (hybrid term; default options, and
  with ``depth_max`` 20 m, since its default 4 m makes it report "no motion" in a
  drift), plus the full SLAM ``step`` (keyframes, loop detection). Ratio printed.
- Accuracy (with ``--bag`` of a simulator run, whose ``trajectory_tum.txt`` is the
  truth): ATE/RPE of the chained frame-to-frame odometry of both, and of our full SLAM.

    python benchmarks/slam.py                       # the five real Kinect frames
    python benchmarks/slam.py --bag /tmp/drift/drift.mcap --frames 300
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mapping.slam.evaluation import evaluate
from mapping.slam.frame import Pinhole, RgbdFrame
from mapping.slam.odometry import PRESETS, RgbdOdometry
from mapping.slam.sources import BagSource, FolderSource
from mapping.slam.system import Slam, SlamConfig
from mapping.slam.trajectory import Trajectory, read_trajectory

REPO = Path(__file__).resolve().parents[1]
KINECT = (
    Path(os.environ.get("SMARTMINE_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "rgbd_kinect_slambook_joinmap"
)


def open3d_odometry(
    frames: list[RgbdFrame], cam: Pinhole, depth_max: float | None
) -> tuple[float, list[np.ndarray], int]:
    import open3d as o3d

    odo = o3d.pipelines.odometry
    intr = o3d.camera.PinholeCameraIntrinsic(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy)
    option = odo.OdometryOption() if depth_max is None else odo.OdometryOption(depth_max=depth_max)
    trunc = 100.0

    def rgbd(f: RgbdFrame) -> Any:
        return o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(f.color),
            o3d.geometry.Image(f.depth_m),
            depth_scale=1.0,
            depth_trunc=trunc,
            convert_rgb_to_intensity=True,
        )

    poses = [np.eye(4)]
    failures = 0
    started = time.perf_counter()
    prev = rgbd(frames[0])
    for f in frames[1:]:
        cur = rgbd(f)
        ok, t_prev_cur, _ = odo.compute_rgbd_odometry(
            cur, prev, intr, np.eye(4), odo.RGBDOdometryJacobianFromHybridTerm(), option
        )
        if not ok:
            failures += 1
            t_prev_cur = np.eye(4)
        poses.append(poses[-1] @ t_prev_cur)
        prev = cur
    seconds = time.perf_counter() - started
    return (len(frames) - 1) / seconds, poses, failures


def our_odometry(
    frames: list[RgbdFrame], cam: Pinhole, preset: str
) -> tuple[float, list[np.ndarray], int]:
    odo = RgbdOdometry(cam, PRESETS[preset])
    poses = [np.eye(4)]
    failures = 0
    velocity = np.eye(4)
    started = time.perf_counter()
    prev = odo.prepare(frames[0])
    for f in frames[1:]:
        cur = odo.prepare(f)
        result = odo.estimate(prev, cur, velocity)
        if not result.ok:
            failures += 1
        velocity = result.T_ref_cur
        poses.append(poses[-1] @ result.T_ref_cur)
        prev = cur
    seconds = time.perf_counter() - started
    return (len(frames) - 1) / seconds, poses, failures


def full_slam(frames: list[RgbdFrame], cam: Pinhole, preset: str) -> tuple[float, Slam]:
    slam = Slam(cam, SlamConfig(odometry=PRESETS[preset]))
    started = time.perf_counter()
    for f in frames:
        slam.step(f)
    slam.finish()
    return len(frames) / (time.perf_counter() - started), slam


def keypoint_counts(frames: list[RgbdFrame]) -> tuple[list[int], list[int]]:
    """SIFT and ORB (OpenCV defaults, ORB up to 5000) keypoints per frame: how much
    texture a front end finds (the issue's yardstick against the real Kinect frames)."""
    import cv2

    sift = cv2.SIFT.create()
    orb = cv2.ORB.create(nfeatures=5000)
    grays = [f.gray for f in frames]
    return [len(sift.detect(g, None)) for g in grays], [len(orb.detect(g, None)) for g in grays]


def print_keypoints(label: str, frames: list[RgbdFrame]) -> None:
    sift, orb = keypoint_counts(frames)
    print(
        f"keypoints per frame, {label}: SIFT {min(sift)}-{max(sift)} (median "
        f"{int(np.median(sift))}), ORB {min(orb)}-{max(orb)} (median {int(np.median(orb))})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bag", type=Path, help="RGB-D bag (default: the Kinect frames)")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--preset", default="live", choices=sorted(PRESETS))
    parser.add_argument("--ground-truth", type=Path, help="TUM truth (default: beside the bag)")
    args = parser.parse_args()
    import cv2

    print(f"threads: OpenCV {cv2.getNumThreads()}, CPUs {os.cpu_count()}")
    if args.bag is not None:
        frames = list(BagSource(args.bag, max_frames=args.frames, stride=args.stride))
        cam = frames and BagSource(args.bag, max_frames=1).camera
        gt_path = args.ground_truth or args.bag.parent / "trajectory_tum.txt"
    else:
        if not KINECT.exists():
            print(f"Kinect set not present ({KINECT}); pass --bag")
            return
        cam = Pinhole(640, 480, 518.0, 519.0, 325.5, 253.5)
        frames = list(FolderSource(KINECT, cam)) * 4  # 20 frames, 4 reversals
        gt_path = None
    assert isinstance(cam, Pinhole)
    print(f"{len(frames)} frames {cam.width}x{cam.height}")
    if KINECT.exists():
        kinect_cam = Pinhole(640, 480, 518.0, 519.0, 325.5, 253.5)
        print_keypoints("real Kinect (slambook joinMap)", list(FolderSource(KINECT, kinect_cam)))
    if args.bag is not None:
        print_keypoints(f"{args.bag.name} (every 10th frame)", frames[::10])
    ours_fps, ours_poses, ours_fail = our_odometry(frames, cam, args.preset)
    o3d_fps, o3d_poses, o3d_fail = open3d_odometry(frames, cam, None)
    o3d20_fps, o3d20_poses, o3d20_fail = open3d_odometry(frames, cam, 20.0)
    slam_fps, slam = full_slam(frames, cam, args.preset)
    print(f"odometry ours ({args.preset})        {ours_fps:7.1f} frames/s  ({ours_fail} failed)")
    print(f"odometry Open3D hybrid (default)  {o3d_fps:7.1f} frames/s  ({o3d_fail} failed)")
    print(f"odometry Open3D hybrid (20 m)     {o3d20_fps:7.1f} frames/s  ({o3d20_fail} failed)")
    print(f"ratio ours / Open3D default       {ours_fps / o3d_fps:7.2f}x")
    print(
        f"full SLAM step (ours)             {slam_fps:7.1f} frames/s, "
        f"{len(slam.keyframes)} keyframes, {len(slam.loops)} loop closures"
    )
    if gt_path is not None and gt_path.exists():
        gt = read_trajectory(gt_path)
        stamps = np.array([f.stamp_ns for f in frames], dtype=np.float64) * 1e-9
        print(f"accuracy against {gt_path} (SE(3)-aligned)")
        runs = {
            "ours odometry": ours_poses,
            "Open3D default": o3d_poses,
            "Open3D 20 m": o3d20_poses,
        }
        s_stamps, s_poses = slam.trajectory()
        for name, poses in runs.items():
            report(name, evaluate(Trajectory(stamps, np.array(poses), name), gt))
        s_traj = Trajectory(s_stamps.astype(np.float64) * 1e-9, s_poses, "slam")
        report("ours full SLAM", evaluate(s_traj, gt))


def report(name: str, res: Any) -> None:
    print(
        f"  {name:16s} ATE rmse {res.ate_m.rmse:8.4f} m  "
        f"RPE(1m) {res.rpe_trans_m.rmse:.4f} m {res.rpe_rot_deg.rmse:.3f} deg  "
        f"over {res.path_length_m:.1f} m ({res.pairs} poses)"
    )


if __name__ == "__main__":
    main()
