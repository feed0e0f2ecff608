"""``smartmine slam ...`` and ``smartmine traj eval``: argparse wiring only."""

from __future__ import annotations

import argparse
from pathlib import Path


def register_traj(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    traj = sub.add_parser(
        "traj",
        help="evaluate trajectories (ATE/RPE like evo)",
        description="Trajectory tools. Formats: TUM (t x y z qx qy qz qw), KITTI (3x4 "
        "matrices), EuRoC ground-truth CSV; guessed from the file.",
    )
    cmds = traj.add_subparsers(dest="traj_command", metavar="COMMAND", required=True)
    ev = cmds.add_parser(
        "eval",
        help="ATE and RPE of an estimate against ground truth, with a plot",
        description="Associate stamps, align (Umeyama), and print ATE and RPE statistics "
        "as evo does. --association unique --max-diff 0.02 reproduces TUM's evaluate_ate.py.",
    )
    ev.add_argument("estimate", type=Path, help="estimated trajectory")
    ev.add_argument("reference", type=Path, help="ground-truth trajectory")
    ev.add_argument("--align", choices=["se3", "sim3", "origin", "none"], default="se3")
    ev.add_argument("--rpe-delta", default="1m", help="RPE step: 1m (path metres) or 10f (frames)")
    ev.add_argument(
        "--max-diff", type=float, default=0.01, help="association tolerance, s (default 0.01)"
    )
    ev.add_argument("--offset", type=float, default=0.0, help="added to estimate stamps, s")
    ev.add_argument(
        "--association",
        choices=["nearest", "unique"],
        default="nearest",
        help="nearest (evo, default) or unique (TUM associate.py)",
    )
    for flag in ("--est-format", "--ref-format"):
        ev.add_argument(flag, choices=["tum", "kitti", "euroc"], help="override the guess")
    ev.add_argument("--plot", type=Path, help="write a PNG plot here")
    ev.add_argument("--json", type=Path, help="write the statistics as JSON here")
    ev.set_defaults(handler=_traj_eval)


def _traj_eval(args: argparse.Namespace) -> int:
    import json
    import math

    from mapping.slam.errors import TrajectoryError
    from mapping.slam.evaluation import evaluate, parse_delta, plot_evaluation
    from mapping.slam.trajectory import read_trajectory
    from smartmine.atomic import write_text_atomic
    from smartmine.paths import check_output_path

    if not (math.isfinite(args.max_diff) and args.max_diff >= 0.0):
        raise TrajectoryError(f"--max-diff {args.max_diff}: must be a finite number of s >= 0")
    if not math.isfinite(args.offset):
        raise TrajectoryError(f"--offset {args.offset}: must be a finite number of seconds")
    parse_delta(args.rpe_delta)
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None:
            check_output_path(path, option, folder=False)
    est = read_trajectory(args.estimate, args.est_format)
    ref = read_trajectory(args.reference, args.ref_format)
    try:
        result = evaluate(
            est,
            ref,
            alignment=args.align,
            association=args.association,
            max_diff_s=args.max_diff,
            offset_s=args.offset,
            rpe_delta=args.rpe_delta,
        )
    except TrajectoryError as err:
        raise TrajectoryError(f"{args.estimate} against {args.reference}: {err}") from None
    print(result.text())
    if args.json is not None:
        write_text_atomic(args.json, json.dumps(result.summary(), indent=2) + "\n")
    if args.plot is not None:
        plot_evaluation(result, args.plot)
        print(f"plot -> {args.plot}")
    return 0


def register_slam(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    slam = sub.add_parser(
        "slam",
        help="RGB-D SLAM over a bag, an image folder or a RealSense: trajectory, mesh, cloud, "
        "report",
        description="Offline RGB-D SLAM (odometry, keyframes, loop closure, pose graph, TSDF "
        "map) over a bag with colour, depth and camera_info, a folder of RGB-D images (TUM "
        "RGB-D, ICL-NUIM, slambook), a RealSense .bag recording, or a live RealSense. With "
        "--markers the map is tied to the surveyed grid. Exit 3: finished, but frames were "
        "lost (odometry failed or refused).",
    )
    src = slam.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "bag",
        nargs="?",
        type=Path,
        help="ROS 1/2 bag, or a folder of RGB-D images: TUM RGB-D / ICL-NUIM (rgb.txt, "
        "depth.txt), ICL-NUIM native (scene_00_NNNN.png + .depth) or slambook (color/, "
        "depth/, pose.txt)",
    )
    src.add_argument("--realsense", nargs="?", const="", metavar="SERIAL", help="live RealSense")
    src.add_argument("--realsense-file", type=Path, metavar="REC.bag", help="RealSense recording")
    slam.add_argument("--out", type=Path, required=True, help="output folder")
    slam.add_argument("--markers", type=Path, help="control markers CSV (id, coordinates)")
    slam.add_argument("--marker-dictionary", default="DICT_4X4_50", help="ArUco dictionary")
    slam.add_argument(
        "--calibration",
        "--camera-info",
        type=Path,
        help="calibration.yaml of smartmine calibrate, or a ROS camera_info YAML: overrides the "
        "bag's camera_info; a folder's camera",
    )
    slam.add_argument(
        "--intrinsics",
        metavar="FX,FY,CX,CY",
        help="a folder's camera, in pixels (TUM freiburg1-3 and ICL-NUIM folders are known "
        "by name)",
    )
    slam.add_argument(
        "--depth-scale",
        type=float,
        metavar="UNITS",
        help="a folder's depth units per metre (default: TUM/ICL-NUIM PNG 5000, slambook "
        "1000, ICL-NUIM .depth 1)",
    )
    slam.add_argument(
        "--calibration-camera",
        metavar="NAME",
        help="camera of a calibration.yaml holding several (default: the only/first one)",
    )
    slam.add_argument(
        "--ground-truth",
        type=Path,
        help="TUM trajectory to score against (default: trajectory_tum.txt beside a simulator bag)",
    )
    slam.add_argument("--color-topic")
    slam.add_argument("--depth-topic")
    slam.add_argument("--info-topic")
    slam.add_argument("--max-frames", type=int, help="stop after this many frames")
    slam.add_argument("--stride", type=int, default=1, help="use every Nth frame")
    slam.add_argument("--voxel", type=float, default=0.04, help="TSDF voxel, m (default 0.04)")
    slam.add_argument(
        "--preset",
        choices=["live", "wide"],
        default="live",
        help="odometry preset: live (30 Hz, speed) or wide (frames far apart)",
    )
    slam.add_argument("--no-map", action="store_true", help="trajectory and report only")
    slam.add_argument(
        "--no-marker-anchors",
        action="store_true",
        help="with --markers: only fit the map to the grid afterwards (default: the markers "
        "also constrain the pose graph)",
    )
    slam.add_argument("--rpe-delta", default="1m")
    slam.add_argument("--overwrite", action="store_true")
    slam.set_defaults(handler=_slam)


def _check_slam_options(args: argparse.Namespace) -> None:
    """Options that cannot give a run, refused before any work, naming the option."""
    import math

    import cv2

    from mapping.slam.errors import SlamError
    from mapping.slam.evaluation import parse_delta
    from smartmine.paths import check_output_path

    if not (math.isfinite(args.voxel) and 0.001 <= args.voxel <= 10.0):
        raise SlamError(f"--voxel {args.voxel}: must be 0.001..10 m")
    if args.stride < 1:
        raise SlamError(f"--stride {args.stride}: must be at least 1")
    if args.max_frames is not None and args.max_frames < 1:
        raise SlamError(f"--max-frames {args.max_frames}: must be at least 1")
    parse_delta(args.rpe_delta)
    if not isinstance(getattr(cv2.aruco, args.marker_dictionary, None), int):
        raise SlamError(
            f"--marker-dictionary {args.marker_dictionary!r}: not an OpenCV ArUco dictionary "
            "(e.g. DICT_4X4_50)"
        )
    if args.depth_scale is not None and not (
        math.isfinite(args.depth_scale) and args.depth_scale > 0
    ):
        raise SlamError(f"--depth-scale {args.depth_scale}: must be a positive number")
    if args.intrinsics is not None:
        from mapping.slam.sources import parse_intrinsics

        parse_intrinsics(args.intrinsics)
    if args.realsense_file is not None and not args.realsense_file.exists():
        raise SlamError(f"--realsense-file {args.realsense_file}: no such recording")
    if not (args.overwrite and args.out.exists()):
        check_output_path(args.out, "--out")


def _slam(args: argparse.Namespace) -> int:
    from mapping.slam.errors import SlamError
    from mapping.slam.fusion import FusionConfig
    from mapping.slam.georef import AnchorOptions
    from mapping.slam.pipeline import RunOptions, run
    from mapping.slam.sources import (
        BagSource,
        FolderFrames,
        RgbdSource,
        apply_calibration,
        open_folder,
    )

    _check_slam_options(args)
    source: RgbdSource
    if args.realsense is not None or args.realsense_file is not None:
        from mapping.slam.realsense import RealsenseSource

        source = RealsenseSource(
            serial=args.realsense or None,
            file=args.realsense_file,
            max_frames=args.max_frames,
            stride=args.stride,
        )
    elif _is_image_folder(args.bag):
        source = open_folder(
            args.bag, args.intrinsics, args.depth_scale, args.max_frames, args.stride
        )
    else:
        if not args.bag.exists():
            raise SlamError(f"{args.bag}: no such bag or folder")
        for option, value in (
            ("--intrinsics", args.intrinsics),
            ("--depth-scale", args.depth_scale),
        ):
            if value is not None:
                raise SlamError(f"{option}: for a folder of images; {args.bag} is a bag")
        source = BagSource(
            args.bag,
            args.color_topic,
            args.depth_topic,
            args.info_topic,
            max_frames=args.max_frames,
            stride=args.stride,
            calibration_follows=args.calibration is not None,
        )
    if args.calibration is not None:
        apply_calibration(source, args.calibration, args.calibration_camera)
    gt = args.ground_truth
    truth_dir = None
    if isinstance(source, FolderFrames):
        print(f"{source.description}: camera {source.camera} ({source.camera_note})")
        truth = source.ground_truth() if gt is None else None
        if truth is not None:
            import tempfile

            from mapping.slam.trajectory import write_tum

            truth_dir = tempfile.TemporaryDirectory(prefix="smartmine-slam-truth-")
            gt = write_tum(Path(truth_dir.name) / "ground_truth_tum.txt", truth)
            print(f"ground truth: the folder's {truth.name} ({len(truth)} poses)")
    elif gt is None and args.bag is not None:
        beside = (
            args.bag.parent / "trajectory_tum.txt"
            if args.bag.is_file()
            else args.bag / "trajectory_tum.txt"
        )
        if beside.exists():
            gt = beside
            print(f"ground truth: {gt}")
    from mapping.slam.odometry import PRESETS
    from mapping.slam.system import SlamConfig

    options = RunOptions(
        # a live camera: the back end off the tracking path; recordings: in line (repeatable)
        slam=SlamConfig(odometry=PRESETS[args.preset], background=args.realsense is not None),
        fusion=FusionConfig(voxel_m=args.voxel),
        markers=args.markers,
        marker_dictionary=args.marker_dictionary,
        ground_truth=gt,
        rpe_delta=args.rpe_delta,
        write_map=not args.no_map,
        overwrite=args.overwrite,
        anchors=AnchorOptions(enabled=not args.no_marker_anchors),
    )
    try:
        result = run(source, args.out, options)
    finally:
        if truth_dir is not None:
            truth_dir.cleanup()
    r = result.report
    for line in r.get("failed", []):
        print(f"FAILED: {line}")
    print(
        f"{r['frames']} frames ({r['status_counts']}), {r['keyframes']} keyframes, "
        f"{len(r['loop_closures'])} loop closures, {r['segments']} segment(s) "
        f"({len(r['segments_joined'])} joined), "
        f"tracking {r['tracking_fps']:.1f} frames/s, path {r['path_length_m']:.1f} m"
    )
    if "evaluation" in r:
        ev = r["evaluation"]
        print(
            f"ATE rmse {ev['ate_m']['rmse']:.4f} m, RPE ({ev['rpe_delta']}) trans rmse "
            f"{ev['rpe_trans_m']['rmse']:.4f} m rot {ev['rpe_rot_deg']['rmse']:.3f} deg"
        )
        if "before_marker_anchors" in ev:
            print(
                "  before marker anchors: ATE rmse "
                f"{ev['before_marker_anchors']['ate_rmse_m']:.4f} m"
            )
    if r.get("markers"):
        fit = r["markers"]["fit"]
        print(
            "markers: no fit (too few seen)"
            if fit is None
            else f"markers: fit rmse {fit['rmse_m']:.4f} m on {fit['markers_used']}"
        )
        if fit and "leave_one_out_m" in fit:
            loo = list(fit["leave_one_out_m"].values())
            rms = (sum(v * v for v in loo) / len(loo)) ** 0.5
            print(f"  each marker left out of the graph: rmse {rms:.4f} m, worst {max(loo):.4f} m")
        bias = r["markers"]["pose_graph"].get("odometry_bias_per_m")
        if bias:
            rot = ", ".join(f"{v:.3f}" for v in bias["rotation_deg"])
            trans = ", ".join(f"{v:.2f}" for v in bias["translation_mm"])
            print(f"  odometry bias taken out, per metre: rotation ({rot})°, ({trans}) mm")
    print(f"frame: {r['frame']} -> {result.out_dir}")
    if r.get("failed"):
        raise SlamError(
            f"{args.bag or 'the camera'}: {r['failed'][0]} (trajectory and report.json "
            f"written to {result.out_dir} for diagnosis)"
        )
    lost = r["status_counts"].get("lost", 0)
    if lost:
        from smartmine.cli import EXIT_WARNINGS

        print(
            f"WARNING: {lost} of {r['frames']} frames lost (odometry failed or was refused "
            "as unsupported by the frames; they have no pose): see report.json"
        )
        return EXIT_WARNINGS
    return 0


def _is_image_folder(path: Path | None) -> bool:
    """A folder that is not a ROS 2 bag (which holds metadata.yaml or an .mcap/.db3)."""
    if path is None or not path.is_dir():
        return False
    return not any(
        (path / "metadata.yaml").exists() or any(path.glob(f"*{ext}")) for ext in (".mcap", ".db3")
    )
