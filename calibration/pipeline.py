"""Calibration runs: one function per kind, ``run_*(conf, inputs, out_dir) -> Path``.

Each run writes one output folder, built under a temporary name and renamed into place
when complete: ``calibration.yaml`` (an input ``calibration`` is carried over and
extended), the per-camera ROS camera_info and OpenCV YAML, COLMAP
``colmap_cameras.txt``, PNG reports, and ``config.yaml`` with the effective settings and
software versions. An existing ``out_dir`` is an error unless ``overwrite``.

``smartmine calibrate camera|stereo|depth|imu|hsi`` (``calibration.commands``) only turns
its arguments into these configurations; from Python::

    run_camera(CameraConf(board="checkerboard:9x6:0.025"), "imgs/left*.png", Path("out"))

``echo`` receives the human-readable summary lines (the CLI prints them). Heavy
libraries are imported inside the functions: this module is imported by ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from calibration.boards import Board
    from calibration.depth import RealSenseFactory
    from calibration.intrinsics import CalibrationResult, Detections
    from calibration.io import Calibration, CameraEntry
    from calibration.stereo import StereoResult, ViewPair

BOARD_HELP = (
    "checkerboard:COLSxROWS:SQUARE_M (inner corners, e.g. checkerboard:9x6:0.025) or "
    "charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT (squares, e.g. charuco:7x5:0.04:0.03:DICT_5X5_100)"
)

Echo = Callable[[str], None]
Extra = Callable[[Path], None]


def _quiet(_: str) -> None:
    """The default ``echo``: summaries are dropped."""


# --- configurations ---------------------------------------------------------------------


@dataclass(frozen=True)
class ModelConf:
    """Camera model and fit settings of an intrinsic calibration."""

    model: Literal["pinhole", "fisheye"] = "pinhole"
    distortion: Literal["plumb_bob", "rational_polynomial"] = "plumb_bob"
    fix_aspect_ratio: bool = False
    zero_tangent: bool = False
    reject_outliers: bool = True
    reject_factor: float = 5.0
    """Views above this multiple of the median view RMS are rejected..."""
    reject_floor_px: float = 1.0
    """...but never those under this RMS."""


@dataclass(frozen=True)
class CameraConf:
    """Intrinsics of one camera from board views."""

    board: str
    name: str = "camera"
    frame_id: str | None = None
    """Optical frame id; None: ``NAME_optical_frame``."""
    model: ModelConf = field(default_factory=ModelConf)
    subpix_window: int | None = None
    """cornerSubPix half-window in px; None: from the corner spacing."""
    select: bool = False
    """Select views from folders too (always for bags)."""
    max_views: int = 40
    min_sharpness_ratio: float = 0.5
    min_pose_change: float = 0.1


@dataclass(frozen=True)
class PairConf:
    """Extrinsics between two cameras from board views (stereo; depth's colour + IR)."""

    board: str | None
    names: tuple[str, str] = ("left", "right")
    model: ModelConf = field(default_factory=ModelConf)
    subpix_window: int | None = None
    sync_tolerance_s: float = 0.01
    """Bag frames of the two cameras pair up within this stamp difference."""


@dataclass(frozen=True)
class ImuConf:
    """Camera-IMU rotation and time offset; camera rates from a board or odometry."""

    imu_topic: str
    topic: str | None = None
    """Camera image topic (board-based)."""
    board: str | None = None
    odometry_topic: str | None = None
    """Odometry/PoseStamped of the camera, instead of board views."""
    camera: str | None = None
    """Camera name in the input calibration; None: its only camera, else ``camera``."""
    imu_name: str = "imu"
    max_offset_s: float = 0.5
    estimate_bias: bool = True


@dataclass(frozen=True)
class HsiConf:
    """Homography of a hyperspectral frame onto the RGB camera."""

    method: Literal["features", "board"] = "features"
    board: str | None = None
    band: int | None = None
    """Band index of the cube; None: the band mean."""
    name: str = "hsi"
    camera: str = "rgb"
    ransac_px: float = 3.0


@dataclass(frozen=True)
class Invocation:
    """How a run was asked for, as ``config.yaml`` records it."""

    command: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class _Output:
    out_dir: Path
    overwrite: bool
    invocation: Invocation


# --- the output folder ------------------------------------------------------------------


def _output(
    verb: str,
    conf: Any,
    inputs: dict[str, Any],
    out_dir: Path | str,
    overwrite: bool,
    invocation: Invocation | None,
) -> _Output:
    """Where and how a run writes; refuses an existing ``out_dir`` before any work."""
    from calibration.errors import CalibrationError
    from smartmine.paths import check_output_path

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise CalibrationError(f"{out} exists; choose another --out or pass --overwrite")
    check_output_path(out, "--out")
    if invocation is None:
        arguments = {**inputs, **asdict(conf), "out": out, "overwrite": overwrite}
        invocation = Invocation(f"calibration.pipeline.run_{verb}", arguments)
    return _Output(out, overwrite, invocation)


def _base(calibration: Path | str | None) -> Calibration:
    from calibration.io import Calibration, load_calibration

    return load_calibration(calibration) if calibration else Calibration()


def _write(
    output: _Output,
    cal: Calibration,
    settings: dict[str, Any],
    extra: Extra | None = None,
) -> Path:
    """Everything into a temporary folder, renamed to ``out_dir`` once complete."""
    from calibration.io import write_products
    from smartmine.atomic import atomic_path

    with atomic_path(output.out_dir, overwrite=output.overwrite) as tmp:
        tmp.mkdir()
        write_products(tmp, cal)
        if extra is not None:
            extra(tmp)
        _write_config(tmp / "config.yaml", output.invocation, settings)
    return output.out_dir


def _write_config(path: Path, invocation: Invocation, settings: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    import cv2
    import numpy as np

    from calibration.io import dump_yaml, plain
    from smartmine import __version__
    from smartmine.atomic import write_text_atomic

    arguments = {k: (str(v) if isinstance(v, Path) else v) for k, v in invocation.arguments.items()}
    doc = {
        "command": invocation.command,
        "arguments": plain(arguments),
        "settings": plain(settings),
        "software": {"smartmine": __version__, "opencv": cv2.__version__, "numpy": np.__version__},
        "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_text_atomic(path, dump_yaml(doc))


def _board(spec: str | None, verb: str) -> Board:
    from calibration.boards import parse_board
    from calibration.errors import CalibrationError

    if not spec:
        raise CalibrationError(f"calibrate {verb} needs --board ({BOARD_HELP})")
    return parse_board(spec)


# --- camera -----------------------------------------------------------------------------


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


def write_views_csv(result: CalibrationResult, path: Path) -> None:
    """One row per view: used or why not, RMS, corners, board tilt and distance."""
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


def camera_summary(name: str, r: CalibrationResult) -> list[str]:
    """What a camera calibration found, for people."""
    c = r.camera
    sd = r.std_devs
    lines = [
        f"{name}: {len(r.used)} views ({len(r.rejected)} rejected, {len(r.not_detected)} "
        f"without board, {len(r.skipped)} skipped), RMS {r.rms_px:.3f} px",
        f"  fx {c.fx:.2f} +- {sd.get('fx', 0):.2f}  fy {c.fy:.2f} +- {sd.get('fy', 0):.2f}  "
        f"cx {c.cx:.2f} +- {sd.get('cx', 0):.2f}  cy {c.cy:.2f} +- {sd.get('cy', 0):.2f}  "
        f"({c.distortion_model}: "
        + ", ".join(f"{k} {v:.4f}" for k, v in c.coefficients().items())
        + ")",
    ]
    lines += [f"  rejected {v.name}: {v.reason}" for v in r.rejected]
    lines.append(f"  verdict: {r.verdict}")
    return lines


def _camera_extras(result: CalibrationResult, name: str, prefix: str = "") -> Extra:
    def write(folder: Path) -> None:
        from calibration.report import camera_report, coverage_image, write_png

        write_png(camera_report(result, name), folder / f"{prefix}report.png")
        write_png(coverage_image(result), folder / f"{prefix}coverage.png")
        write_views_csv(result, folder / f"{prefix}views.csv")

    return write


def _echo_all(echo: Echo, lines: Sequence[str]) -> None:
    for line in lines:
        echo(line)


def run_camera(
    conf: CameraConf,
    source: str | Path,
    out_dir: Path | str,
    *,
    topic: str | None = None,
    calibration: Path | str | None = None,
    overwrite: bool = False,
    invocation: Invocation | None = None,
    echo: Echo = _quiet,
) -> Path:
    """Intrinsics from an image folder, a quoted glob or a bag ``topic``; bag frames are
    selected (blurred skipped, diverse board poses kept, at most ``max_views``)."""
    from calibration.intrinsics import calibrate_frames
    from calibration.io import Calibration
    from calibration.sources import frame_source_label, is_bag, iter_frames

    inputs = {"source": str(source), "topic": topic, "calibration": calibration}
    output = _output("camera", conf, inputs, out_dir, overwrite, invocation)
    board = _board(conf.board, "camera")
    base = _base(calibration)
    path = Path(source)
    from_bag = path.exists() and is_bag(path)
    result = calibrate_frames(
        iter_frames(str(source), topic),
        board,
        frame_source_label(str(source), topic),
        select=from_bag or conf.select,
        max_views=conf.max_views,
        min_sharpness_ratio=conf.min_sharpness_ratio,
        min_pose_change=conf.min_pose_change,
        subpix_window=conf.subpix_window,
        **asdict(conf.model),
    )
    frame_id = conf.frame_id or f"{conf.name}_optical_frame"
    cal = base.merge(Calibration(cameras={conf.name: camera_entry(result, frame_id)}))
    _echo_all(echo, camera_summary(conf.name, result))
    return _write(output, cal, result.config, _camera_extras(result, conf.name))


# --- stereo and depth -------------------------------------------------------------------


def detect_board_pairs(
    conf: PairConf, board: Board, sources: Sequence[str | Path], topics: Sequence[str], verb: str
) -> tuple[Detections, Detections, list[ViewPair]]:
    """Board views of both cameras, paired: two folders/globs by sorted order, or one
    bag with two topics by stamp."""
    from calibration.errors import CalibrationError
    from calibration.intrinsics import detect_views
    from calibration.sources import frame_source_label, is_bag, iter_frames
    from calibration.stereo import detect_pairs, pair_by_stamp, require_pairs

    srcs = [str(s) for s in sources]
    first, second = conf.names
    if len(srcs) == 1 and Path(srcs[0]).exists() and is_bag(Path(srcs[0])):
        if len(topics) != 2:
            raise CalibrationError(
                f"{srcs[0]} is a bag: give --topic twice ({first} then {second})"
            )
        labels = (frame_source_label(srcs[0], topics[0]), frame_source_label(srcs[0], topics[1]))
        window = conf.subpix_window
        da = detect_views(iter_frames(srcs[0], topics[0]), board, labels[0], subpix_window=window)
        db = detect_views(iter_frames(srcs[0], topics[1]), board, labels[1], subpix_window=window)
        pairs = pair_by_stamp(da, db, board, round(conf.sync_tolerance_s * 1e9))
    elif len(srcs) == 2:
        if topics:
            raise CalibrationError("--topic applies to a single bag SOURCE, not image folders")
        da, db, pairs = detect_pairs(
            iter_frames(srcs[0]),
            iter_frames(srcs[1]),
            board,
            (srcs[0], srcs[1]),
            subpix_window=conf.subpix_window,
        )
    else:
        raise CalibrationError(
            f"calibrate {verb} takes two image folders/globs ({first} then "
            f"{second}) or one bag with --topic twice; got {len(srcs)} sources"
            + (f" ({', '.join(map(str, srcs))})" if srcs else "")
        )
    require_pairs(da, db, pairs, board)
    return da, db, pairs


def _stereo_result(
    conf: PairConf,
    board: Board,
    base: Calibration,
    sources: Sequence[str | Path],
    topics: Sequence[str],
    verb: str,
) -> StereoResult:
    from calibration.stereo import calibrate_stereo

    da, db, pairs = detect_board_pairs(conf, board, sources, topics, verb)
    given = [base.cameras[n].model if n in base.cameras else None for n in conf.names]
    return calibrate_stereo(
        pairs,
        board,
        first=given[0],
        second=given[1],
        first_views=da.views,
        second_views=db.views,
        **asdict(conf.model),
    )


def stereo_calibration(names: tuple[str, str], res: StereoResult, base: Calibration) -> Calibration:
    """``base`` extended by the cameras calibrated on the way and the extrinsic."""
    from calibration.io import Calibration, CameraEntry, Extrinsic

    first, second = names
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


def stereo_summary(names: tuple[str, str], res: StereoResult) -> list[str]:
    """What a stereo calibration found (and the cameras calibrated on the way)."""
    lines: list[str] = []
    for key, name in (("first", names[0]), ("second", names[1])):
        if key in res.intrinsics:
            lines += camera_summary(name, res.intrinsics[key])
    t = res.translation_m
    lines += [
        f"{names[0]} -> {names[1]}: {len(res.used)} pairs ({len(res.rejected)} "
        f"rejected), RMS {res.rms_px:.3f} px, rectified row error {res.epipolar_rms_px:.3f} px",
        f"  baseline {res.baseline_m:.4f} m, rotation {res.rotation_deg:.3f} deg, "
        f"t ({t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}) m ({names[1]} from {names[0]})",
    ]
    lines += [f"  rejected {p.name}: {p.reason}" for p in res.rejected]
    return lines


def _stereo_extras(names: tuple[str, str], res: StereoResult) -> Extra:
    def write(folder: Path) -> None:
        from calibration.report import bar_chart, stack, text_block, write_png

        for key, name in (("first", names[0]), ("second", names[1])):
            if key in res.intrinsics:
                _camera_extras(res.intrinsics[key], name, f"{name}_")(folder)
        lines = [
            f"Stereo {names[0]} -> {names[1]}: RMS {res.rms_px:.3f} px over "
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


def run_stereo(
    conf: PairConf,
    sources: Sequence[str | Path],
    out_dir: Path | str,
    *,
    topics: Sequence[str] = (),
    calibration: Path | str | None = None,
    overwrite: bool = False,
    invocation: Invocation | None = None,
    echo: Echo = _quiet,
) -> Path:
    """Extrinsics between two cameras (their intrinsics too unless ``calibration`` has
    them): two folders/globs paired by sorted order, or one bag with two topics."""
    inputs: dict[str, Any] = {"sources": [str(s) for s in sources], "topics": list(topics)}
    inputs["calibration"] = calibration
    output = _output("stereo", conf, inputs, out_dir, overwrite, invocation)
    board = _board(conf.board, "stereo")
    base = _base(calibration)
    res = _stereo_result(conf, board, base, sources, topics, "stereo")
    cal = stereo_calibration(conf.names, res, base)
    _echo_all(echo, stereo_summary(conf.names, res))
    settings = {**res.config, "names": list(conf.names)}
    return _write(output, cal, settings, _stereo_extras(conf.names, res))


def _factory_calibration(names: tuple[str, str], factory: RealSenseFactory) -> Calibration:
    from calibration.io import Calibration, CameraEntry, Extrinsic

    color, depth = names
    fq = {"method": "realsense factory", "source": factory.source, "serial": factory.serial}
    return Calibration(
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


def run_depth(
    conf: PairConf,
    sources: Sequence[str | Path],
    out_dir: Path | str,
    *,
    topics: Sequence[str] = (),
    realsense: str | None = None,
    calibration: Path | str | None = None,
    overwrite: bool = False,
    invocation: Invocation | None = None,
    echo: Echo = _quiet,
) -> Path:
    """Colour-depth extrinsics from board views (colour + IR, as for stereo) and/or the
    RealSense factory calibration (``realsense``: a .bag recording or ``device``); with
    both, how far the board result is from the factory one."""
    from calibration.depth import read_realsense_factory
    from calibration.errors import CalibrationError
    from calibration.stereo import compare_transforms

    inputs: dict[str, Any] = {"sources": [str(s) for s in sources], "topics": list(topics)}
    inputs |= {"realsense": realsense, "calibration": calibration}
    output = _output("depth", conf, inputs, out_dir, overwrite, invocation)
    if not sources and not realsense:
        raise CalibrationError(
            "calibrate depth needs board views (colour and IR folders, or a bag with --topic "
            "twice) and/or --realsense FILE.bag|device"
        )
    base = _base(calibration)
    color, depth = conf.names
    factory = read_realsense_factory(realsense) if realsense else None
    settings: dict[str, Any] = {"names": [color, depth]}
    cal = base
    if factory is not None:
        cal = cal.merge(_factory_calibration(conf.names, factory))
        settings["realsense"] = factory.source
        echo(
            f"RealSense factory ({factory.source}, serial {factory.serial or '?'}): "
            f"{depth} in {color} t = {factory.transform[:3, 3].round(4).tolist()} m, "
            f"depth scale {factory.depth_scale_m} m"
        )
    extras = None
    if sources:
        board = _board(conf.board, "depth")
        res = _stereo_result(conf, board, base, sources, topics, "depth")
        cal = stereo_calibration(conf.names, res, cal)
        _echo_all(echo, stereo_summary(conf.names, res))
        settings.update(res.config)
        extras = _stereo_extras(conf.names, res)
        if factory is not None:
            dt, dr = compare_transforms(res.transform, factory.transform)
            for e in cal.extrinsics:
                if (e.parent, e.child) == (color, depth):
                    e.quality["vs_factory_translation_m"] = dt
                    e.quality["vs_factory_rotation_deg"] = dr
            echo(f"  board vs factory: {dt * 1000:.1f} mm, {dr:.3f} deg")
    return _write(output, cal, settings, extras)


# --- imu --------------------------------------------------------------------------------


def _imu_camera_name(conf: ImuConf, base: Calibration, calibration: Path | str | None) -> str:
    from calibration.errors import CalibrationError

    if conf.camera is not None:
        return conf.camera
    if len(base.cameras) > 1:
        raise CalibrationError(
            f"{calibration} holds cameras {', '.join(base.cameras)}: name the one the "
            "images come from with --camera"
        )
    return next(iter(base.cameras), "camera")


def _imu_report(conf: ImuConf, camera_name: str, res: Any) -> Extra:
    def write(folder: Path) -> None:
        import numpy as np

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
                f"IMU {conf.imu_name} - camera {camera_name}: offset "
                f"{res.time_offset_s * 1000:.2f} ms, rotation {res.rotation_deg:.2f} deg, "
                f"residual {res.residual_rms_rad_s:.4f} rad/s",
            ]
        )
        write_png(stack([head, chart]), folder / "imu_report.png")

    return write


def run_imu(
    conf: ImuConf,
    bag: Path | str,
    out_dir: Path | str,
    *,
    calibration: Path | str | None = None,
    overwrite: bool = False,
    invocation: Invocation | None = None,
    echo: Echo = _quiet,
) -> Path:
    """Camera-IMU rotation and time offset from a bag: camera rates from board poses
    (intrinsics from ``calibration`` or calibrated from the same frames) or odometry."""
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

    inputs = {"bag": bag, "calibration": calibration}
    output = _output("imu", conf, inputs, out_dir, overwrite, invocation)
    _check_imu_topics(bag, conf)
    base = _base(calibration)
    camera_name = _imu_camera_name(conf, base, calibration)
    new = Calibration()
    settings: dict[str, Any] = {}
    if conf.odometry_topic:
        track = odometry_orientations(bag, conf.odometry_topic)
        settings["rates_from"] = f"odometry {conf.odometry_topic}"
    else:
        if not conf.topic:
            raise CalibrationError(
                "calibrate imu needs --topic (camera images) or --odometry-topic"
            )
        board = _board(conf.board, "imu")
        label = frame_source_label(bag, conf.topic)
        if camera_name in base.cameras:
            model = base.cameras[camera_name].model
        else:
            echo(f"no intrinsics for {camera_name!r} (--calibration): calibrating from {label}")
            result = calibrate_frames(iter_frames(bag, conf.topic), board, label, select=True)
            _echo_all(echo, camera_summary(camera_name, result))
            new.cameras[camera_name] = camera_entry(result, f"{camera_name}_optical_frame")
            model = result.camera
        track = board_orientations(iter_frames(bag, conf.topic), board, model)
        settings["rates_from"] = f"board {board.spec} on {conf.topic}"
    times, omega, imu_frame = read_gyro(bag, conf.imu_topic)
    res = calibrate_camera_imu(
        track.times_s,
        track.r_world_camera,
        times,
        omega,
        max_offset_s=conf.max_offset_s,
        estimate_bias=conf.estimate_bias,
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
    new.imu.append(ImuCamera(conf.imu_name, camera_name, res.rotation, res.time_offset_s, quality))
    cal = base.merge(new)
    settings.update(res.config)
    echo(
        f"{conf.imu_name} <- {camera_name}: time offset {res.time_offset_s * 1000:.2f} ms "
        f"(t_imu = t_cam + offset), rotation {res.rotation_deg:.2f} deg; residuals "
        f"{res.residual_rms_rad_s:.4f} rad/s over {res.samples} frame intervals, "
        f"{res.rotation_residual_deg:.3f} deg over hand-eye intervals "
        f"(|w| correlation {res.correlation:.3f})"
    )
    echo("  R_imu_camera = " + np.array2string(res.rotation, precision=4).replace("\n", ""))
    return _write(output, cal, settings, _imu_report(conf, camera_name, res))


def _check_imu_topics(bag: Path | str, conf: ImuConf) -> None:
    """The IMU topic (and the camera topic) exist and are of the right type, before the
    slow board detection."""
    from calibration.errors import CalibrationError
    from smartmine.bagio.reader import BagReader

    wanted = [t for t in (conf.imu_topic, conf.topic, conf.odometry_topic) if t]
    with BagReader(bag) as reader:
        reader.require_topics(wanted)
        msgtype = reader.topics[conf.imu_topic].msgtype
    if msgtype != "sensor_msgs/msg/Imu":
        raise CalibrationError(
            f"{bag}: --imu-topic {conf.imu_topic} is {msgtype}, not sensor_msgs/msg/Imu"
        )


# --- hsi --------------------------------------------------------------------------------


def run_hsi(
    conf: HsiConf,
    hsi: Path | str,
    rgb: Path | str,
    out_dir: Path | str,
    *,
    calibration: Path | str | None = None,
    overwrite: bool = False,
    invocation: Invocation | None = None,
    echo: Echo = _quiet,
) -> Path:
    """Register a hyperspectral frame (ENVI .hdr, .npy cube, TIFF or false-colour image;
    one band or the band mean) to an RGB image of the same scene (homography)."""
    from calibration.boards import to_gray
    from calibration.hsi import load_hsi_band, overlay, register_board, register_features
    from calibration.io import Calibration, HsiRegistration
    from calibration.sources import read_image

    inputs = {"hsi": hsi, "rgb": rgb, "calibration": calibration}
    output = _output("hsi", conf, inputs, out_dir, overwrite, invocation)
    base = _base(calibration)
    cube_band = load_hsi_band(hsi, conf.band)
    gray = to_gray(read_image(Path(rgb)), str(rgb))
    if conf.method == "board":
        res = register_board(cube_band, gray, _board(conf.board, "hsi"))
    else:
        res = register_features(cube_band, gray, ransac_px=conf.ransac_px)
    quality = {
        "method": res.method,
        "inliers": res.inliers,
        "matches": res.matches,
        "rms_px": res.rms_px,
        "rgb_width": res.rgb_size[0],
        "rgb_height": res.rgb_size[1],
    }
    reg = HsiRegistration(conf.name, conf.camera, res.homography, res.hsi_size, quality)
    cal = base.merge(Calibration(hsi=[reg]))
    echo(
        f"{conf.name} -> {conf.camera}: {res.method}, {res.inliers} inliers of {res.matches} "
        f"matches, transfer RMS {res.rms_px:.3f} px"
    )

    def extra(folder: Path) -> None:
        from calibration.report import write_png

        write_png(overlay(cube_band, gray, res.homography), folder / "hsi_overlay.png")

    return _write(output, cal, {**res.config, "band": conf.band}, extra)
