"""``smartmine calibrate camera|stereo|depth|imu|hsi``: argparse wiring only.

Every verb writes one output folder (``--out``), built under a temporary name and
renamed into place when complete: ``calibration.yaml`` (the file other commands take
with ``--calibration``; an input ``--calibration`` is carried over and extended), the
per-camera ROS camera_info and OpenCV YAML, COLMAP ``colmap_cameras.txt``, a PNG
report, and ``config.yaml`` with the effective settings and software versions.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from calibration.boards import Board
    from calibration.intrinsics import CalibrationResult
    from calibration.io import Calibration, CameraEntry
    from calibration.stereo import StereoResult

BOARD_HELP = (
    "checkerboard:COLSxROWS:SQUARE_M (inner corners, e.g. checkerboard:9x6:0.025) or "
    "charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT (squares, e.g. charuco:7x5:0.04:0.03:DICT_5X5_100)"
)


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


# --- shared helpers -------------------------------------------------------------------


def _check_out(args: argparse.Namespace) -> None:
    from calibration.errors import CalibrationError

    if args.out.exists() and not args.overwrite:
        raise CalibrationError(f"{args.out} exists; choose another --out or pass --overwrite")


def _base(args: argparse.Namespace) -> Calibration:
    from calibration.io import Calibration, load_calibration

    return load_calibration(args.calibration) if args.calibration else Calibration()


def _write_out(
    args: argparse.Namespace,
    cal: Calibration,
    settings: dict[str, Any],
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Everything into a temporary folder, renamed to --out once complete."""
    from calibration.io import write_products
    from smartmine.atomic import atomic_path

    with atomic_path(args.out, overwrite=args.overwrite) as tmp:
        tmp.mkdir()
        write_products(tmp, cal)
        if extra is not None:
            extra(tmp)
        _write_config(tmp / "config.yaml", args, settings)
    print(f"wrote {args.out}/")


def _write_config(path: Path, args: argparse.Namespace, settings: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    import cv2
    import numpy as np

    from calibration.io import dump_yaml, plain
    from smartmine import __version__
    from smartmine.atomic import write_text_atomic

    arguments = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in {"handler", "command"} and not callable(v)
    }
    doc = {
        "command": f"smartmine calibrate {args.verb}",
        "arguments": plain(arguments),
        "settings": plain(settings),
        "software": {"smartmine": __version__, "opencv": cv2.__version__, "numpy": np.__version__},
        "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_text_atomic(path, dump_yaml(doc))


def _board(args: argparse.Namespace) -> Board:
    from calibration.boards import parse_board
    from calibration.errors import CalibrationError

    if not args.board:
        raise CalibrationError(f"calibrate {args.verb} needs --board ({BOARD_HELP})")
    return parse_board(args.board)


def _intrinsics_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": args.model,
        "distortion": args.distortion,
        "fix_aspect_ratio": args.fix_aspect_ratio,
        "zero_tangent": args.zero_tangent,
        "reject_outliers": not args.no_reject,
        "reject_factor": args.reject_factor,
        "reject_floor_px": args.reject_floor_px,
    }


def camera_entry(result: CalibrationResult, frame_id: str) -> CameraEntry:
    """calibration.yaml entry of a camera calibration, with its quality numbers."""
    from calibration.io import CameraEntry

    verdict = result.verdict
    quality = {
        "rms_px": result.rms_px,
        "views_used": len(result.used),
        "views_rejected": len(result.rejected),
        "board": result.board,
        "std_devs": result.std_devs,
        "coverage": result.coverage.fraction,
        "verdict": verdict.level,
        "advice": list(verdict.messages),
    }
    return CameraEntry(result.camera, frame_id, quality)


def _views_csv(result: CalibrationResult, path: Path) -> None:
    import csv
    import io

    from smartmine.atomic import write_text_atomic

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "view", "used", "rms_px", "corners", "tilt_deg", "distance_m", "reason"])
    for i, v in enumerate(result.views):
        w.writerow(
            [
                i,
                v.name,
                int(v.used),
                f"{v.rms_px:.4f}",
                len(v.image_points),
                f"{v.tilt_deg:.1f}",
                f"{v.distance_m:.3f}",
                v.reason,
            ]
        )
    for name in result.not_detected:
        w.writerow(["", name, 0, "", 0, "", "", "board not found"])
    for name, why in result.skipped.items():
        w.writerow(["", name, 0, "", "", "", "", f"skipped: {why}"])
    write_text_atomic(path, buf.getvalue())


def _print_camera(name: str, r: CalibrationResult) -> None:
    c = r.camera
    sd = r.std_devs
    print(
        f"{name}: {len(r.used)} views ({len(r.rejected)} rejected, {len(r.not_detected)} "
        f"without board, {len(r.skipped)} skipped), RMS {r.rms_px:.3f} px"
    )
    print(
        f"  fx {c.fx:.2f} +- {sd.get('fx', 0):.2f}  fy {c.fy:.2f} +- {sd.get('fy', 0):.2f}  "
        f"cx {c.cx:.2f} +- {sd.get('cx', 0):.2f}  cy {c.cy:.2f} +- {sd.get('cy', 0):.2f}  "
        f"({c.distortion_model}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in c.coefficients().items())
        + ")"
    )
    for v in r.rejected:
        print(f"  rejected {v.name}: {v.reason}")
    print(f"  verdict: {r.verdict}")


def _camera_extras(
    result: CalibrationResult, name: str, prefix: str = ""
) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        from calibration.report import camera_report, coverage_image, write_png

        write_png(camera_report(result, name), folder / f"{prefix}report.png")
        write_png(coverage_image(result), folder / f"{prefix}coverage.png")
        _views_csv(result, folder / f"{prefix}views.csv")

    return write


# --- camera ---------------------------------------------------------------------------


def _camera(args: argparse.Namespace) -> int:
    from calibration.intrinsics import calibrate_frames
    from calibration.io import Calibration
    from calibration.sources import frame_source_label, is_bag, iter_frames

    _check_out(args)
    board = _board(args)
    base = _base(args)
    source = Path(args.source)
    from_bag = source.exists() and is_bag(source)
    result = calibrate_frames(
        iter_frames(args.source, args.topic),
        board,
        frame_source_label(args.source, args.topic),
        select=from_bag or args.select,
        max_views=args.max_views,
        min_sharpness_ratio=args.min_sharpness_ratio,
        min_pose_change=args.min_pose_change,
        subpix_window=args.subpix_window,
        **_intrinsics_kwargs(args),
    )
    frame_id = args.frame_id or f"{args.name}_optical_frame"
    cal = base.merge(Calibration(cameras={args.name: camera_entry(result, frame_id)}))
    _print_camera(args.name, result)
    _write_out(args, cal, result.config, _camera_extras(result, args.name))
    return 0


# --- stereo and depth -----------------------------------------------------------------


def _pairs_from_args(args: argparse.Namespace, board: Board) -> tuple[Any, Any, list[Any]]:
    from calibration.errors import CalibrationError
    from calibration.intrinsics import detect_views
    from calibration.sources import frame_source_label, is_bag, iter_frames
    from calibration.stereo import detect_pairs, pair_by_stamp, require_pairs

    sources = list(args.sources)
    topics = list(args.topic)
    if len(sources) == 1 and Path(sources[0]).exists() and is_bag(Path(sources[0])):
        if len(topics) != 2:
            raise CalibrationError(
                f"{sources[0]} is a bag: give --topic twice ({args.names[0]} then {args.names[1]})"
            )
        labels = (
            frame_source_label(sources[0], topics[0]),
            frame_source_label(sources[0], topics[1]),
        )
        da = detect_views(
            iter_frames(sources[0], topics[0]), board, labels[0], subpix_window=args.subpix_window
        )
        db = detect_views(
            iter_frames(sources[0], topics[1]), board, labels[1], subpix_window=args.subpix_window
        )
        pairs = pair_by_stamp(da, db, board, round(args.sync_tolerance_s * 1e9))
    elif len(sources) == 2:
        if topics:
            raise CalibrationError("--topic applies to a single bag SOURCE, not image folders")
        da, db, pairs = detect_pairs(
            iter_frames(sources[0]),
            iter_frames(sources[1]),
            board,
            (sources[0], sources[1]),
            subpix_window=args.subpix_window,
        )
    else:
        raise CalibrationError(
            f"calibrate {args.verb} takes two image folders/globs ({args.names[0]} then "
            f"{args.names[1]}) or one bag with --topic twice; got {len(sources)} sources"
        )
    require_pairs(da, db, pairs, board)
    return da, db, pairs


def _given_camera(base: Calibration, name: str) -> Any:
    return base.cameras[name].model if name in base.cameras else None


def _stereo_result(args: argparse.Namespace, board: Board, base: Calibration) -> StereoResult:
    from calibration.stereo import calibrate_stereo

    da, db, pairs = _pairs_from_args(args, board)
    kwargs = _intrinsics_kwargs(args)
    return calibrate_stereo(
        pairs,
        board,
        first=_given_camera(base, args.names[0]),
        second=_given_camera(base, args.names[1]),
        first_views=da.views,
        second_views=db.views,
        **kwargs,
    )


def _stereo_calibration(
    args: argparse.Namespace, res: StereoResult, base: Calibration
) -> Calibration:
    from calibration.io import Calibration, CameraEntry, Extrinsic

    first, second = args.names
    cal = Calibration()
    for key, name in (("first", first), ("second", second)):
        if key in res.intrinsics:
            cal.cameras[name] = camera_entry(res.intrinsics[key], f"{name}_optical_frame")
        elif name not in base.cameras:  # pragma: no cover - intrinsics are given or calibrated
            cal.cameras[name] = CameraEntry(getattr(res, key), f"{name}_optical_frame")
    quality = {
        "rms_px": res.rms_px,
        "pairs_used": len(res.used),
        "pairs_rejected": len(res.rejected),
        "baseline_m": res.baseline_m,
        "rotation_deg": res.rotation_deg,
        "epipolar_rms_px": res.epipolar_rms_px,
        "method": "board",
    }
    cal.extrinsics.append(Extrinsic(first, second, res.transform, quality))
    return base.merge(cal)


def _print_stereo(args: argparse.Namespace, res: StereoResult) -> None:
    for key, name in (("first", args.names[0]), ("second", args.names[1])):
        if key in res.intrinsics:
            _print_camera(name, res.intrinsics[key])
    t = res.translation_m
    print(
        f"{args.names[0]} -> {args.names[1]}: {len(res.used)} pairs ({len(res.rejected)} "
        f"rejected), RMS {res.rms_px:.3f} px, rectified row error {res.epipolar_rms_px:.3f} px"
    )
    print(
        f"  baseline {res.baseline_m:.4f} m, rotation {res.rotation_deg:.3f} deg, "
        f"t ({t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}) m ({args.names[1]} from {args.names[0]})"
    )
    for p in res.rejected:
        print(f"  rejected {p.name}: {p.reason}")


def _stereo_extras(args: argparse.Namespace, res: StereoResult) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        from calibration.report import bar_chart, stack, text_block, write_png

        for key, name in (("first", args.names[0]), ("second", args.names[1])):
            if key in res.intrinsics:
                _camera_extras(res.intrinsics[key], name, f"{name}_")(folder)
        lines = [
            f"Stereo {args.names[0]} -> {args.names[1]}: RMS {res.rms_px:.3f} px over "
            f"{len(res.used)} pairs, {len(res.rejected)} rejected",
            f"baseline {res.baseline_m:.4f} m, rotation {res.rotation_deg:.3f} deg, rectified "
            f"row error {res.epipolar_rms_px:.3f} px",
        ]
        chart = bar_chart(
            [p.rms_px for p in res.pairs],
            [str(i) for i in range(len(res.pairs))],
            [not p.used for p in res.pairs],
            title="per-pair RMS reprojection error (red: rejected)",
            lines=[(res.rms_px, "overall RMS", (200, 120, 30))],
        )
        write_png(stack([text_block(lines), chart]), folder / "stereo_report.png")

    return write


def _stereo(args: argparse.Namespace) -> int:
    _check_out(args)
    board = _board(args)
    base = _base(args)
    res = _stereo_result(args, board, base)
    cal = _stereo_calibration(args, res, base)
    _print_stereo(args, res)
    settings = {**res.config, "names": list(args.names)}
    _write_out(args, cal, settings, _stereo_extras(args, res))
    return 0


def _depth(args: argparse.Namespace) -> int:
    from calibration.depth import read_realsense_factory
    from calibration.errors import CalibrationError
    from calibration.io import Calibration, CameraEntry, Extrinsic
    from calibration.stereo import compare_transforms

    _check_out(args)
    if not args.sources and not args.realsense:
        raise CalibrationError(
            "calibrate depth needs board views (colour and IR folders, or a bag with --topic "
            "twice) and/or --realsense FILE.bag|device"
        )
    base = _base(args)
    color, depth = args.names
    factory = read_realsense_factory(args.realsense) if args.realsense else None
    settings: dict[str, Any] = {"names": [color, depth]}
    cal = base
    if factory is not None:
        fq = {"method": "realsense factory", "source": factory.source, "serial": factory.serial}
        fac = Calibration(
            cameras={
                f"{color}_factory": CameraEntry(factory.color, f"{color}_optical_frame", fq),
                f"{depth}_factory": CameraEntry(
                    factory.depth,
                    f"{depth}_optical_frame",
                    {**fq, "depth_scale_m": factory.depth_scale_m},
                ),
            },
            extrinsics=[Extrinsic(f"{color}_factory", f"{depth}_factory", factory.transform, fq)],
        )
        cal = cal.merge(fac)
        settings["realsense"] = factory.source
        print(
            f"RealSense factory ({factory.source}, serial {factory.serial or '?'}): "
            f"{depth} in {color} t = {factory.transform[:3, 3].round(4).tolist()} m, "
            f"depth scale {factory.depth_scale_m} m"
        )
    extras = None
    if args.sources:
        board = _board(args)
        res = _stereo_result(args, board, base)
        cal = _stereo_calibration(args, res, cal)
        _print_stereo(args, res)
        settings.update(res.config)
        extras = _stereo_extras(args, res)
        if factory is not None:
            dt, dr = compare_transforms(res.transform, factory.transform)
            for e in cal.extrinsics:
                if (e.parent, e.child) == (color, depth):
                    e.quality["vs_factory_translation_m"] = dt
                    e.quality["vs_factory_rotation_deg"] = dr
            print(f"  board vs factory: {dt * 1000:.1f} mm, {dr:.3f} deg")
    _write_out(args, cal, settings, extras)
    return 0


# --- imu ------------------------------------------------------------------------------


def _imu(args: argparse.Namespace) -> int:
    import numpy as np

    from calibration.errors import CalibrationError
    from calibration.imu import (
        board_orientations,
        calibrate_camera_imu,
        odometry_orientations,
        read_gyro,
    )
    from calibration.intrinsics import calibrate_frames
    from calibration.io import Calibration, ImuCamera
    from calibration.sources import frame_source_label, iter_frames

    _check_out(args)
    base = _base(args)
    camera_name = args.camera
    if camera_name is None:
        if len(base.cameras) > 1:
            raise CalibrationError(
                f"{args.calibration} holds cameras {', '.join(base.cameras)}: name the one the "
                "images come from with --camera"
            )
        camera_name = next(iter(base.cameras), "camera")
    new = Calibration()
    settings: dict[str, Any] = {}
    if args.odometry_topic:
        track = odometry_orientations(args.bag, args.odometry_topic)
        settings["rates_from"] = f"odometry {args.odometry_topic}"
    else:
        if not args.topic:
            raise CalibrationError(
                "calibrate imu needs --topic (camera images) or --odometry-topic"
            )
        board = _board(args)
        label = frame_source_label(args.bag, args.topic)
        if camera_name in base.cameras:
            model = base.cameras[camera_name].model
        else:
            print(f"no intrinsics for {camera_name!r} (--calibration): calibrating from {label}")
            result = calibrate_frames(iter_frames(args.bag, args.topic), board, label, select=True)
            _print_camera(camera_name, result)
            new.cameras[camera_name] = camera_entry(result, f"{camera_name}_optical_frame")
            model = result.camera
        track = board_orientations(iter_frames(args.bag, args.topic), board, model)
        settings["rates_from"] = f"board {board.spec} on {args.topic}"
    times, omega, imu_frame = read_gyro(args.bag, args.imu_topic)
    res = calibrate_camera_imu(
        track.times_s,
        track.r_world_camera,
        times,
        omega,
        max_offset_s=args.max_offset_s,
        estimate_bias=not args.no_bias,
    )
    quality = {
        "residual_rms_rad_s": res.residual_rms_rad_s,
        "rotation_residual_deg": res.rotation_residual_deg,
        "samples": res.samples,
        "correlation": res.correlation,
        "camera_rate_rms_rad_s": res.rate_rms_rad_s,
        "gyro_bias_rad_s": res.gyro_bias_rad_s,
        "imu_frame_id": imu_frame,
        "translation": "not estimated",
    }
    new.imu.append(ImuCamera(args.imu_name, camera_name, res.rotation, res.time_offset_s, quality))
    cal = base.merge(new)
    settings.update(res.config)
    print(
        f"{args.imu_name} <- {camera_name}: time offset {res.time_offset_s * 1000:.2f} ms "
        f"(t_imu = t_cam + offset), rotation {res.rotation_deg:.2f} deg; residuals "
        f"{res.residual_rms_rad_s:.4f} rad/s over {res.samples} frame intervals, "
        f"{res.rotation_residual_deg:.3f} deg over hand-eye intervals "
        f"(|w| correlation {res.correlation:.3f})"
    )
    print("  R_imu_camera = " + np.array2string(res.rotation, precision=4).replace("\n", ""))

    def extra(folder: Path) -> None:
        from calibration.report import bar_chart, stack, text_block, write_png

        mags = np.linalg.norm(res.residuals_rad_s, axis=1)
        step = max(1, len(mags) // 200)
        chart = bar_chart(
            mags[::step].tolist(),
            [f"{t:.1f}" for t in res.times_s[::step]],
            [False] * len(mags[::step]),
            title="|residual| rad/s over time (camera clock, s)",
            lines=[(res.residual_rms_rad_s, "RMS", (200, 120, 30))],
        )
        head = text_block(
            [
                f"IMU {args.imu_name} - camera {camera_name}: offset "
                f"{res.time_offset_s * 1000:.2f} ms, rotation {res.rotation_deg:.2f} deg, "
                f"residual {res.residual_rms_rad_s:.4f} rad/s",
            ]
        )
        write_png(stack([head, chart]), folder / "imu_report.png")

    _write_out(args, cal, settings, extra)
    return 0


# --- hsi ------------------------------------------------------------------------------


def _hsi(args: argparse.Namespace) -> int:
    from calibration.boards import to_gray
    from calibration.hsi import load_hsi_band, overlay, register_board, register_features
    from calibration.io import Calibration, HsiRegistration
    from calibration.sources import read_image

    _check_out(args)
    base = _base(args)
    hsi = load_hsi_band(args.hsi, args.band)
    rgb = to_gray(read_image(args.rgb), str(args.rgb))
    if args.method == "board":
        res = register_board(hsi, rgb, _board(args))
    else:
        res = register_features(hsi, rgb, ransac_px=args.ransac_px)
    quality = {
        "method": res.method,
        "inliers": res.inliers,
        "matches": res.matches,
        "rms_px": res.rms_px,
        "rgb_width": res.rgb_size[0],
        "rgb_height": res.rgb_size[1],
    }
    reg = HsiRegistration(args.name, args.camera, res.homography, res.hsi_size, quality)
    cal = base.merge(Calibration(hsi=[reg]))
    print(
        f"{args.name} -> {args.camera}: {res.method}, {res.inliers} inliers of {res.matches} "
        f"matches, transfer RMS {res.rms_px:.3f} px"
    )

    def extra(folder: Path) -> None:
        from calibration.report import write_png

        write_png(overlay(hsi, rgb, res.homography), folder / "hsi_overlay.png")

    _write_out(args, cal, {**res.config, "band": args.band}, extra)
    return 0
