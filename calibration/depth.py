"""Colour-depth extrinsics: RealSense factory calibration, checked against a board.

A depth camera's depth image lives in its IR imager's frame, so the colour-depth
extrinsics are a stereo calibration between the colour camera and the IR stream
(board views seen by both; IR images of a board are ordinary grey images with the
projector off). RealSense devices also carry a factory calibration; it is read from a
device or a ``.bag`` recording through pyrealsense2 playback and, when board views are
at hand too, compared with the board result so a knocked or re-assembled unit shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError

F64 = npt.NDArray[np.float64]


@dataclass
class RealSenseFactory:
    """Factory intrinsics of colour and depth streams and the depth pose in colour."""

    color: CameraModel
    depth: CameraModel
    transform: F64
    """Pose of the depth frame in the colour frame: ``p_color = T p_depth``."""
    depth_scale_m: float
    source: str
    serial: str = ""


def _model_of(intr: Any, what: str) -> CameraModel:
    import pyrealsense2 as rs

    k = [[intr.fx, 0.0, intr.ppx], [0.0, intr.fy, intr.ppy], [0.0, 0.0, 1.0]]
    coeffs = list(intr.coeffs)
    model = intr.model
    if model in (
        rs.distortion.brown_conrady,
        rs.distortion.modified_brown_conrady,
        rs.distortion.inverse_brown_conrady,
        rs.distortion.none,
    ):
        # same coefficient order as OpenCV (k1, k2, p1, p2, k3); the inverse variant is
        # used by depth streams whose coefficients are zero in practice
        if model == rs.distortion.inverse_brown_conrady and any(coeffs):
            raise CalibrationError(
                f"{what}: inverse Brown-Conrady distortion with non-zero coefficients cannot "
                "be expressed as plumb_bob; calibrate this stream with a board"
            )
        return CameraModel.create(intr.width, intr.height, k, coeffs[:5], "plumb_bob")
    if model == rs.distortion.kannala_brandt4:
        return CameraModel.create(intr.width, intr.height, k, coeffs[:4], "equidistant")
    raise CalibrationError(f"{what}: RealSense distortion model {model} is not supported")


def read_realsense_factory(source: str | Path) -> RealSenseFactory:
    """Factory calibration of a RealSense: ``source`` is a .bag recording or ``device``."""
    try:
        import pyrealsense2 as rs
    except ImportError:  # pragma: no cover - a declared dependency
        raise CalibrationError("pyrealsense2 is not installed") from None
    text = str(source)
    cfg = rs.config()
    if text == "device":
        if len(rs.context().query_devices()) == 0:
            raise CalibrationError(
                "no RealSense device connected (check USB 3 cable and udev rules), or pass a "
                ".bag recording to --realsense"
            )
        cfg.enable_stream(rs.stream.depth)
        cfg.enable_stream(rs.stream.color)
    else:
        path = Path(text)
        if not path.is_file():
            raise CalibrationError(f"{path}: no such RealSense recording (.bag)")
        cfg.enable_device_from_file(str(path), repeat_playback=False)
    pipe = rs.pipeline()
    try:
        profile = pipe.start(cfg)
    except RuntimeError as err:
        reason = str(err).splitlines()[0] if str(err) else "unknown error"
        raise CalibrationError(
            f"{text}: cannot open as a RealSense recording or device: {reason}"
        ) from None
    try:
        try:
            depth_p = profile.get_stream(rs.stream.depth).as_video_stream_profile()
            color_p = profile.get_stream(rs.stream.color).as_video_stream_profile()
        except RuntimeError:
            raise CalibrationError(
                f"{text}: needs both a depth and a colour stream (record with both enabled)"
            ) from None
        ext = depth_p.get_extrinsics_to(color_p)
        transform = np.eye(4)
        # rs2_extrinsics.rotation is column-major: p_color = R p_depth + t
        transform[:3, :3] = np.asarray(ext.rotation, np.float64).reshape(3, 3).T
        transform[:3, 3] = np.asarray(ext.translation, np.float64)
        device = profile.get_device()
        scale = 0.0
        for sensor in device.query_sensors():
            if sensor.is_depth_sensor():
                scale = float(sensor.as_depth_sensor().get_depth_scale())
        serial = ""
        if device.supports(rs.camera_info.serial_number):
            serial = str(device.get_info(rs.camera_info.serial_number))
        return RealSenseFactory(
            color=_model_of(color_p.get_intrinsics(), f"{text} colour stream"),
            depth=_model_of(depth_p.get_intrinsics(), f"{text} depth stream"),
            transform=transform,
            depth_scale_m=scale,
            source=text,
            serial=serial,
        )
    finally:
        pipe.stop()
