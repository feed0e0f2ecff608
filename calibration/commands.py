"""``smartmine calibrate camera|stereo|depth|imu|hsi``: argparse wiring only.

Each verb turns its arguments into a configuration of ``calibration.pipeline`` and calls
its ``run_*`` function, which writes the output folder (``--out``): ``calibration.yaml``
(the file other commands take with ``--calibration``; an input ``--calibration`` is
carried over and extended), the per-camera ROS camera_info and OpenCV YAML, COLMAP
``colmap_cameras.txt``, a PNG report, and ``config.yaml`` with the effective settings
and software versions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calibration.pipeline import BOARD_HELP

if TYPE_CHECKING:
    from calibration.pipeline import ModelConf, PairConf


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="camera intrinsics, stereo/depth/IMU extrinsics, HSI-RGB registration",
        description="Calibrate cameras from a printed board (or features for HSI). Each verb "
        "writes --out DIR with calibration.yaml, ROS/OpenCV/COLMAP files, a PNG report "
        "and config.yaml.",
    )
    verbs = cal.add_subparsers(dest="verb", metavar="VERB", required=True)

    cam = verbs.add_parser(
        "camera",
        help="intrinsics of one camera from board images or a bag",
        description="Intrinsics from an image folder / glob or a bag topic. Bag frames are "
        "selected: blurred frames skipped, diverse board poses kept, at most --max-views.",
    )
    cam.add_argument("source", help="image folder, quoted glob ('imgs/left*.png') or bag")
    cam.add_argument("--topic", help="image topic (Image or CompressedImage) when SOURCE is a bag")
    _board_args(cam)
    _model_args(cam)
    cam.add_argument("--name", default="camera", help="camera name in the outputs (camera)")
    cam.add_argument("--frame-id", help="optical frame id (NAME_optical_frame)")
    _selection_args(cam)
    _out_args(cam)
    cam.set_defaults(handler=_camera)

    st = verbs.add_parser(
        "stereo",
        help="extrinsics between two cameras (intrinsics too unless given)",
        description="Pairs are matched by sorted order for folders/globs, by stamp for bags "
        "(one bag, --topic twice: first camera then second).",
    )
    _pair_args(st, ("left", "right"))
    st.set_defaults(handler=_stereo)

    dp = verbs.add_parser(
        "depth",
        help="colour-depth extrinsics from board views (colour + IR) and/or RealSense factory",
        description="Board-based: colour and IR (depth imager) views of a board, as for "
        "stereo. --realsense FILE.bag|device reads the factory calibration with pyrealsense2 "
        "and, with board views, reports how far the board result is from it.",
    )
    _pair_args(dp, ("color", "depth"), optional=True)
    dp.add_argument("--realsense", help="RealSense .bag recording, or 'device' for a live one")
    dp.set_defaults(handler=_depth)

    imu = verbs.add_parser(
        "imu",
        help="camera-IMU rotation and time offset from a bag (board or visual odometry)",
        description="Rotate the rig about all axes in front of the board (or record visual "
        "odometry). Camera rates come from board poses (--topic, --board, intrinsics from "
        "--calibration or calibrated from the same frames) or --odometry-topic.",
    )
    imu.add_argument("bag", type=Path)
    imu.add_argument("--imu-topic", required=True, help="sensor_msgs/Imu topic")
    imu.add_argument("--topic", help="camera image topic (board-based)")
    imu.add_argument("--board", help=BOARD_HELP)
    imu.add_argument("--odometry-topic", help="Odometry/PoseStamped of the camera (instead)")
    imu.add_argument("--camera", help="camera name in --calibration (camera)")
    imu.add_argument("--imu-name", default="imu", help="IMU name in the outputs (imu)")
    imu.add_argument("--max-offset-s", type=float, default=0.5, help="time offset search range")
    imu.add_argument("--no-bias", action="store_true", help="do not estimate a gyro bias")
    _out_args(imu)
    imu.set_defaults(handler=_imu)

    hsi = verbs.add_parser(
        "hsi",
        help="register a hyperspectral frame to the RGB camera (homography)",
        description="HSI: ENVI .hdr, .npy cube, TIFF or false-colour image; one --band or "
        "the band mean. --method features (SIFT) or board.",
    )
    hsi.add_argument("hsi", type=Path, help="hyperspectral frame")
    hsi.add_argument("rgb", type=Path, help="RGB image of the same scene")
    hsi.add_argument("--method", choices=("features", "board"), default="features")
    hsi.add_argument("--board", help=BOARD_HELP + " (for --method board)")
    hsi.add_argument("--band", type=int, help="band index of the cube (default: mean)")
    hsi.add_argument("--name", default="hsi", help="HSI sensor name (hsi)")
    hsi.add_argument("--camera", default="rgb", help="RGB camera name (rgb)")
    hsi.add_argument("--ransac-px", type=float, default=3.0, help="inlier threshold (3 px)")
    _out_args(hsi)
    hsi.set_defaults(handler=_hsi)


# --- argument groups ------------------------------------------------------------------


def _board_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--board", required=required, help=BOARD_HELP)
    p.add_argument(
        "--subpix-window", type=int, help="cornerSubPix half-window px (default: from spacing)"
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=("pinhole", "fisheye"), default="pinhole")
    p.add_argument(
        "--distortion",
        choices=("plumb_bob", "rational_polynomial"),
        default="plumb_bob",
        help="pinhole distortion model (plumb_bob: k1 k2 p1 p2 k3)",
    )
    p.add_argument("--fix-aspect-ratio", action="store_true", help="fx = fy")
    p.add_argument("--zero-tangent", action="store_true", help="p1 = p2 = 0")
    p.add_argument("--no-reject", action="store_true", help="keep outlier views")
    p.add_argument("--reject-factor", type=float, default=5.0, help="x median view RMS (5)")
    p.add_argument("--reject-floor-px", type=float, default=1.0, help="never below (1.0 px)")


def _selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-views", type=int, default=40, help="bag view selection cap (40)")
    p.add_argument(
        "--min-sharpness-ratio", type=float, default=0.5, help="skip frames below x median (0.5)"
    )
    p.add_argument(
        "--min-pose-change",
        type=float,
        default=0.1,
        help="pose difference to keep a view: position, size, tilt (0.1)",
    )
    p.add_argument("--select", action="store_true", help="select views from folders too")


def _pair_args(p: argparse.ArgumentParser, names: tuple[str, str], optional: bool = False) -> None:
    nargs = "*" if optional else "+"
    p.add_argument("sources", nargs=nargs, metavar="SOURCE", help="two folders/globs, or one bag")
    p.add_argument(
        "--topic", action="append", default=[], help=f"bag image topic: {names[0]}, then {names[1]}"
    )
    _board_args(p, required=not optional)
    _model_args(p)
    p.add_argument(
        "--names",
        nargs=2,
        default=list(names),
        metavar=("FIRST", "SECOND"),
        help=f"camera names ({names[0]} {names[1]}); intrinsics come from --calibration when "
        "it holds them",
    )
    p.add_argument("--sync-tolerance-s", type=float, default=0.01, help="bag pairing (0.01 s)")
    _out_args(p)


def _out_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument(
        "--calibration", type=Path, help="calibration.yaml to take intrinsics from and extend"
    )


# --- from arguments to configurations ---------------------------------------------------


NUMBER_OPTIONS: dict[str, tuple[str, float, bool]] = {
    # attribute: (option, lower bound, bound allowed)
    "reject_factor": ("--reject-factor", 0.0, False),
    "reject_floor_px": ("--reject-floor-px", 0.0, True),
    "max_views": ("--max-views", 1.0, True),
    "subpix_window": ("--subpix-window", 1.0, True),
    "min_sharpness_ratio": ("--min-sharpness-ratio", 0.0, True),
    "min_pose_change": ("--min-pose-change", 0.0, True),
    "sync_tolerance_s": ("--sync-tolerance-s", 0.0, True),
    "max_offset_s": ("--max-offset-s", 0.0, False),
    "ransac_px": ("--ransac-px", 0.0, False),
    "band": ("--band", 0.0, True),
}


def check_options(args: argparse.Namespace) -> None:
    """Numbers that are NaN, infinite or out of range, and an output folder that cannot
    be written, refused before any work, naming the option."""
    import math

    from calibration.errors import CalibrationError
    from smartmine.paths import check_output_path

    for attr, (option, low, inclusive) in NUMBER_OPTIONS.items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        ok = math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok:
            bound = f">= {low:g}" if inclusive else f"> {low:g}"
            raise CalibrationError(f"{option} {value}: must be a finite number {bound}")
    names = getattr(args, "names", None)
    if names is not None and (names[0] == names[1] or not all(n.strip() for n in names)):
        raise CalibrationError(f"--names {names[0]!r} {names[1]!r}: two different, non-empty names")
    if not args.overwrite or not args.out.exists():
        check_output_path(args.out, "--out")


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """What every run takes besides its configuration and inputs; summaries printed."""
    from calibration.pipeline import Invocation

    check_options(args)
    arguments = {
        k: v for k, v in vars(args).items() if k not in {"handler", "command"} and not callable(v)
    }
    return {
        "calibration": args.calibration,
        "overwrite": args.overwrite,
        "invocation": Invocation(f"smartmine calibrate {args.verb}", arguments),
        "echo": print,
    }


def _model_conf(args: argparse.Namespace) -> ModelConf:
    from calibration.pipeline import ModelConf

    return ModelConf(
        model=args.model,
        distortion=args.distortion,
        fix_aspect_ratio=args.fix_aspect_ratio,
        zero_tangent=args.zero_tangent,
        reject_outliers=not args.no_reject,
        reject_factor=args.reject_factor,
        reject_floor_px=args.reject_floor_px,
    )


def _pair_conf(args: argparse.Namespace) -> PairConf:
    from calibration.pipeline import PairConf

    first, second = args.names
    return PairConf(
        board=args.board,
        names=(first, second),
        model=_model_conf(args),
        subpix_window=args.subpix_window,
        sync_tolerance_s=args.sync_tolerance_s,
    )


def _wrote(out: Path) -> int:
    print(f"wrote {out}/")
    return 0


# --- verbs ------------------------------------------------------------------------------


def _camera(args: argparse.Namespace) -> int:
    from calibration.pipeline import CameraConf, run_camera

    conf = CameraConf(
        board=args.board,
        name=args.name,
        frame_id=args.frame_id,
        model=_model_conf(args),
        subpix_window=args.subpix_window,
        select=args.select,
        max_views=args.max_views,
        min_sharpness_ratio=args.min_sharpness_ratio,
        min_pose_change=args.min_pose_change,
    )
    return _wrote(run_camera(conf, args.source, args.out, topic=args.topic, **_run_options(args)))


def _stereo(args: argparse.Namespace) -> int:
    from calibration.pipeline import run_stereo

    return _wrote(
        run_stereo(
            _pair_conf(args), args.sources, args.out, topics=args.topic, **_run_options(args)
        )
    )


def _depth(args: argparse.Namespace) -> int:
    from calibration.errors import CalibrationError
    from calibration.pipeline import run_depth

    if args.realsense not in (None, "device") and not Path(args.realsense).exists():
        raise CalibrationError(f"--realsense {args.realsense}: no such recording")
    return _wrote(
        run_depth(
            _pair_conf(args),
            args.sources,
            args.out,
            topics=args.topic,
            realsense=args.realsense,
            **_run_options(args),
        )
    )


def _imu(args: argparse.Namespace) -> int:
    from calibration.pipeline import ImuConf, run_imu

    conf = ImuConf(
        imu_topic=args.imu_topic,
        topic=args.topic,
        board=args.board,
        odometry_topic=args.odometry_topic,
        camera=args.camera,
        imu_name=args.imu_name,
        max_offset_s=args.max_offset_s,
        estimate_bias=not args.no_bias,
    )
    return _wrote(run_imu(conf, args.bag, args.out, **_run_options(args)))


def _hsi(args: argparse.Namespace) -> int:
    from calibration.pipeline import HsiConf, run_hsi

    conf = HsiConf(
        method=args.method,
        board=args.board,
        band=args.band,
        name=args.name,
        camera=args.camera,
        ransac_px=args.ransac_px,
    )
    return _wrote(run_hsi(conf, args.hsi, args.rgb, args.out, **_run_options(args)))
