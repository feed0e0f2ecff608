"""RGB-D odometry and SLAM speed and accuracy: ours beside Open3D's on the same frames.

- Speed, at the input resolution (640×480 for the Kinect set and the simulator), frames
  fed as fast as they go, wall frames/s and CPU ms a frame (``time.process_time``: all
  threads of this process; the 2-core machine is shared, so read wall figures as noisy):
  - our frame-to-frame odometry (``prepare`` + ``estimate``, preset ``live``);
  - Open3D's ``compute_rgbd_odometry`` (hybrid term) with its default options, and with
    ``depth_max`` 20 m (its default 4 m makes it report "no motion" in a drift); the
    ratio ours / Open3D default;
  - our full SLAM ``step`` as the live ``slam`` processor runs it (back end in the
    background: loop search in a thread, pose-graph optimisation in a child process),
    with the latency of each pose, the tracking thread's CPU, and what the back end did;
  - our full SLAM ``step`` in line, as the offline ``smartmine slam`` runs it.
  Failed frames are counted for each.
- Accuracy (with ``--bag`` of a simulator run, whose ``trajectory_tum.txt`` is the
  truth): ATE/RPE of the chained frame-to-frame odometry of both, and of our SLAM.

The five real Kinect frames are a keyframe set (0.23–0.73 m and up to 25° apart), not
a camera stream: they are replayed back and forth (0 1 2 3 4 3 2 1 0 1 ...) so that
every pair is two neighbouring frames, and ours runs with both presets (``live`` does
not track pair 0↔1 with its 1000 features; ``wide`` is meant for such sets).

    python benchmarks/slam.py                       # the five real Kinect frames
    python benchmarks/slam.py --bag /tmp/drift/drift.mcap --frames 300
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from dataclasses import dataclass, field, replace
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
KINECT_CAM = Pinhole(640, 480, 518.0, 519.0, 325.5, 253.5)


@dataclass
class Timing:
    """One method over the frames: rates, CPU and failures."""

    frames: int
    wall_s: float
    cpu_s: float
    failures: int
    poses: list[np.ndarray] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / max(self.wall_s, 1e-9)

    @property
    def cpu_ms(self) -> float:
        return 1000.0 * self.cpu_s / max(self.frames, 1)


class Open3dOdometry:
    """The peer: Open3D's RGB-D odometry (hybrid term), default options or ``depth_max``
    (its default 4 m makes it report "no motion" in a drift)."""

    def __init__(self, cam: Pinhole, depth_max: float | None) -> None:
        import open3d as o3d

        self.o3d = o3d
        odo = o3d.pipelines.odometry
        self.intr = o3d.camera.PinholeCameraIntrinsic(
            cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy
        )
        self.option = (
            odo.OdometryOption() if depth_max is None else odo.OdometryOption(depth_max=depth_max)
        )
        self.jacobian = odo.RGBDOdometryJacobianFromHybridTerm()

    def prepare(self, f: RgbdFrame) -> Any:
        g = self.o3d.geometry
        return g.RGBDImage.create_from_color_and_depth(
            g.Image(f.color),
            g.Image(f.depth_m),
            depth_scale=1.0,
            depth_trunc=100.0,
            convert_rgb_to_intensity=True,
        )

    def estimate(self, prev: Any, cur: Any) -> tuple[bool, np.ndarray]:
        """(ok, T_prev_cur)."""
        ok, t_prev_cur, _ = self.o3d.pipelines.odometry.compute_rgbd_odometry(
            cur, prev, self.intr, np.eye(4), self.jacobian, self.option
        )
        return bool(ok), np.asarray(t_prev_cur)


def open3d_odometry(frames: list[RgbdFrame], cam: Pinhole, depth_max: float | None) -> Timing:
    peer = Open3dOdometry(cam, depth_max)
    poses = [np.eye(4)]
    failures = 0
    started, cpu = time.perf_counter(), time.process_time()
    prev = peer.prepare(frames[0])
    for f in frames[1:]:
        cur = peer.prepare(f)
        ok, t_prev_cur = peer.estimate(prev, cur)
        if not ok:
            failures += 1
            t_prev_cur = np.eye(4)
        poses.append(poses[-1] @ t_prev_cur)
        prev = cur
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Timing(len(frames) - 1, wall, cpu, failures, poses)


def our_odometry(frames: list[RgbdFrame], cam: Pinhole, preset: str) -> Timing:
    odo = RgbdOdometry(cam, PRESETS[preset])
    odo.estimate(odo.prepare(frames[0]), odo.prepare(frames[0]))  # compiled kernels loaded
    poses = [np.eye(4)]
    failures = 0
    velocity = np.eye(4)
    started, cpu = time.perf_counter(), time.process_time()
    prev = odo.prepare(frames[0])
    for f in frames[1:]:
        cur = odo.prepare(f)
        result = odo.estimate(prev, cur, velocity)
        if not result.ok:
            failures += 1
        velocity = result.T_ref_cur
        poses.append(poses[-1] @ result.T_ref_cur)
        prev = cur
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Timing(len(frames) - 1, wall, cpu, failures, poses)


@dataclass
class SlamRun:
    timing: Timing
    slam: Slam
    latency_ms: np.ndarray
    tracking_cpu_ms: float
    finish_s: float
    child_cpu_s: float


def full_slam(
    frames: list[RgbdFrame], cam: Pinhole, preset: str, background: bool, pace_hz: float = 0.0
) -> SlamRun:
    """Every frame through ``Slam.step``; wall and CPU up to the last pose, then
    ``finish`` (the back end's last work and the final optimisation) timed apart.
    ``pace_hz``: frames handed in no faster than a camera at that rate would."""
    slam = Slam(cam, SlamConfig(odometry=PRESETS[preset], background=background))
    latency = []
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    started, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
    for k, f in enumerate(frames):
        if pace_hz > 0:
            time.sleep(max(0.0, started + k / pace_hz - time.perf_counter()))
        t0 = time.perf_counter()
        slam.step(f)
        latency.append(time.perf_counter() - t0)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    thread = time.thread_time() - thread
    t0 = time.perf_counter()
    slam.finish()
    finish_s = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    lost = sum(1 for s in slam.states if s.status == "lost")
    timing = Timing(len(frames), wall, cpu, lost)
    ms = 1000.0 * np.array(latency)
    return SlamRun(timing, slam, ms, 1000.0 * thread / len(frames), finish_s, child)


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


def kinect_back_and_forth(count: int) -> list[RgbdFrame]:
    """The five frames replayed 0 1 2 3 4 3 2 1 0 1 ... (every pair neighbours), with
    stamps 0.1 s apart."""
    five = list(FolderSource(KINECT, KINECT_CAM))
    cycle = [*range(len(five)), *range(len(five) - 2, 0, -1)]
    order = [cycle[k % len(cycle)] for k in range(count)]
    return [replace(five[i], index=k, stamp_ns=k * 100_000_000) for k, i in enumerate(order)]


def line(name: str, t: Timing, extra: str = "") -> None:
    print(
        f"  {name:34s} {t.fps:7.1f} frames/s  {t.cpu_ms:6.1f} CPU ms/frame  "
        f"{t.failures:3d} failed of {t.frames}{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bag", type=Path, help="RGB-D bag (default: the Kinect frames)")
    parser.add_argument("--frames", type=int, help="default: 200 of a bag, 21 Kinect")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--preset", default="live", choices=sorted(PRESETS))
    parser.add_argument(
        "--open3d-frames",
        type=int,
        default=100,
        help="Open3D on the first N frames only (~0.1-1 s a frame here; 0: all)",
    )
    parser.add_argument(
        "--live-rate",
        type=float,
        default=0.0,
        help="also run the live step paced like a camera at this rate (Hz)",
    )
    parser.add_argument("--ground-truth", type=Path, help="TUM truth (default: beside the bag)")
    args = parser.parse_args()
    import cv2

    print(f"threads: OpenCV {cv2.getNumThreads()}, CPUs {os.cpu_count()}")
    presets = [args.preset]
    if args.bag is not None:
        source = BagSource(args.bag, max_frames=args.frames or 200, stride=args.stride)
        frames = list(source)
        cam = source.camera
        gt_path = args.ground_truth or args.bag.parent / "trajectory_tum.txt"
        label = f"{args.bag} (first {len(frames)} frames, stride {args.stride})"
    else:
        if not KINECT.exists():
            print(f"Kinect set not present ({KINECT}); pass --bag")
            return
        frames = kinect_back_and_forth(args.frames or 21)
        cam = KINECT_CAM
        gt_path = None
        presets = sorted({args.preset, "live", "wide"})
        label = f"the 5 Kinect frames back and forth ({len(frames)} frames, 0 1 2 3 4 3 2 1 0 ...)"
    print(f"{label}: {cam.width}x{cam.height}")
    if KINECT.exists():
        print_keypoints("real Kinect (slambook joinMap)", list(FolderSource(KINECT, KINECT_CAM)))
    if args.bag is not None:
        print_keypoints(f"{args.bag.name} (every 10th frame)", frames[::10])

    o3d_frames = frames[: args.open3d_frames] if args.open3d_frames > 0 else frames
    ours = {p: our_odometry(frames, cam, p) for p in presets}
    o3d = open3d_odometry(o3d_frames, cam, None)
    o3d20 = open3d_odometry(o3d_frames, cam, 20.0)
    live = {p: full_slam(frames, cam, p, background=True) for p in presets}
    if args.live_rate > 0:
        live.update(
            {f"{p}, {args.live_rate:g} Hz": full_slam(frames, cam, p, True, args.live_rate)
             for p in presets}
        )  # fmt: skip
    inline = {p: full_slam(frames, cam, p, background=False) for p in presets}

    print("speed (frames fed as fast as they go; CPU = all threads of this process)")
    for p in presets:
        line(f"odometry ours ({p})", ours[p])
    first = f" (first {len(o3d_frames)} frames)" if len(o3d_frames) < len(frames) else ""
    line("odometry Open3D hybrid (default)", o3d, first)
    line("odometry Open3D hybrid (20 m)", o3d20)
    for p in presets:
        print(
            f"  ratio ours ({p}) / Open3D default     {ours[p].fps / o3d.fps:7.1f}x frames/s, "
            f"{o3d.cpu_ms / ours[p].cpu_ms:5.1f}x less CPU a frame"
        )
    for p in live:
        run = live[p]
        lat = run.latency_ms[1:] if len(run.latency_ms) > 1 else run.latency_ms
        line(f"full SLAM live step ({p})", run.timing)
        back = run.slam.stats()
        print(
            f"    pose latency ms: median {np.median(lat):.1f}, p95 {np.percentile(lat, 95):.1f}, "
            f"max {lat.max():.1f}; tracking thread {run.tracking_cpu_ms:.1f} CPU ms/frame; "
            f"back end: {back.get('loop_searches', 0)} loop searches "
            f"({back.get('loop_checks_skipped', 0)} keyframes skipped while busy), "
            f"{len(run.slam.loops)} loops, {back.get('background_optimisations', 0)} "
            f"optimisations in the child ({run.child_cpu_s:.1f} CPU s); finish {run.finish_s:.2f} s"
        )
    for p in presets:
        run = inline[p]
        line(f"full SLAM step in line ({p})", run.timing)
        print(
            f"    {len(run.slam.keyframes)} keyframes, {len(run.slam.loops)} loop closures; "
            f"pose latency ms: median {np.median(run.latency_ms):.1f}, "
            f"max {run.latency_ms.max():.1f}"
        )

    if gt_path is not None and gt_path.exists():
        gt = read_trajectory(gt_path)
        stamps = np.array([f.stamp_ns for f in frames], dtype=np.float64) * 1e-9
        print(f"accuracy against {gt_path} (SE(3)-aligned)")
        n3 = len(o3d.poses)

        def traj(poses: list[np.ndarray]) -> Trajectory:
            return Trajectory(stamps[: len(poses)], np.array(poses))

        for p in presets:
            report(f"ours odometry ({p})", evaluate(traj(ours[p].poses), gt))
            if n3 < len(frames):
                report(f"ours odometry ({p}), {n3} fr", evaluate(traj(ours[p].poses[:n3]), gt))
        report(f"Open3D default, {n3} fr", evaluate(traj(o3d.poses), gt))
        report(f"Open3D 20 m, {n3} fr", evaluate(traj(o3d20.poses), gt))
        for kind, runs in (("live", live), ("in line", inline)):
            for p in runs:
                s_stamps, s_poses = runs[p].slam.trajectory()
                est = Trajectory(s_stamps.astype(np.float64) * 1e-9, s_poses, "slam")
                report(f"ours SLAM {kind} ({p})", evaluate(est, gt))


def report(name: str, res: Any) -> None:
    print(
        f"  {name:28s} ATE rmse {res.ate_m.rmse:8.4f} m  "
        f"RPE(1m) {res.rpe_trans_m.rmse:.4f} m {res.rpe_rot_deg.rmse:.3f} deg  "
        f"over {res.path_length_m:.1f} m ({res.pairs} poses)"
    )


if __name__ == "__main__":
    main()
