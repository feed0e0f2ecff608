"""Intel RealSense input (pyrealsense2): a live camera or a ``.bag`` recording.

Depth is aligned to colour by librealsense (``rs.align``), the colour intrinsics become
the CameraInfo (RealSense colour streams report Brown-Conrady or no distortion), and
stamps go on the ROS clock: the host receive time for live frames (the device clock
drifts against the host's), the recording's own stamps for playback.

``RealsenseSource`` feeds ``smartmine slam --realsense|--realsense-file``; the
``realsense_capture`` processor publishes the same frames as ROS messages. A processor
with no input port is a *source*: ``poll()`` returns what is ready, and the live adapter
or any loop calls it at the camera rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import SlamError
from mapping.slam.frame import Pinhole, RgbdFrame
from smartmine.msgs import (
    CameraIntrinsics,
    intrinsics_to_camera_info,
    numpy_to_image,
)
from smartmine.processor import Output, Port, Processor, param, register_processor


@dataclass
class RealsenseFrame:
    stamp_ns: int
    color_rgb: npt.NDArray[np.uint8]
    depth_mm: npt.NDArray[np.uint16]
    intrinsics: CameraIntrinsics


class RealsenseStream:
    """Aligned colour + depth from a device (``serial``, None = any) or a recording."""

    def __init__(
        self,
        serial: str | None = None,
        file: Path | None = None,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        realtime: bool = False,
    ) -> None:
        try:
            import pyrealsense2 as rs
        except ImportError as err:  # pragma: no cover - pinned dependency
            raise SlamError(f"pyrealsense2 is not installed: {err}") from None
        self.rs = rs
        self.file = Path(file) if file is not None else None
        if self.file is not None and not self.file.is_file():
            raise SlamError(f"{self.file}: no such RealSense recording")
        self.pipeline = rs.pipeline()
        config = rs.config()
        where = str(self.file) if self.file else f"RealSense {serial or '(any)'}"
        try:
            if self.file is not None:
                config.enable_device_from_file(str(self.file), repeat_playback=False)
            else:
                if serial:
                    config.enable_device(serial)
                config.enable_stream(rs.stream.depth, width, height, rs.format.z16, fps)
                config.enable_stream(rs.stream.color, width, height, rs.format.rgb8, fps)
            profile = self.pipeline.start(config)
        except RuntimeError as err:
            raise SlamError(f"{where}: cannot start RealSense: {err}") from None
        self.where = where
        device = profile.get_device()
        if self.file is not None:
            device.as_playback().set_real_time(realtime)
        self.depth_scale_m = float(device.first_depth_sensor().get_depth_scale())
        self.align = rs.align(rs.stream.color)
        video = profile.get_stream(rs.stream.color).as_video_stream_profile()
        self.intrinsics = intrinsics_from_realsense(video.get_intrinsics())

    def frames(self, timeout_ms: int = 2000) -> Iterator[RealsenseFrame]:
        rs = self.rs
        try:
            while True:
                ok, frames = self.pipeline.try_wait_for_frames(timeout_ms)
                if not ok:
                    return  # end of a recording, or a live camera gone silent
                aligned = self.align.process(frames)
                color = aligned.get_color_frame()
                depth = aligned.get_depth_frame()
                if not color or not depth:
                    continue
                image = np.asanyarray(color.get_data())
                fmt = color.get_profile().format()
                if fmt == rs.format.bgr8:
                    image = image[:, :, ::-1]
                elif fmt not in (rs.format.rgb8,):
                    continue
                depth_raw = np.asanyarray(depth.get_data()).astype(np.float64)
                depth_mm = np.clip(depth_raw * self.depth_scale_m * 1000.0, 0, 65535)
                stamp_ns = int(frames.get_timestamp() * 1e6) if self.file else time.time_ns()
                yield RealsenseFrame(
                    stamp_ns,
                    np.ascontiguousarray(image, dtype=np.uint8),
                    depth_mm.astype(np.uint16),
                    self.intrinsics,
                )
        finally:
            self.pipeline.stop()


def intrinsics_from_realsense(intr: Any) -> CameraIntrinsics:
    """rs.intrinsics -> CameraIntrinsics (plumb_bob; RealSense colour coeffs are k1 k2 p1 p2 k3)."""
    k = [[intr.fx, 0.0, intr.ppx], [0.0, intr.fy, intr.ppy], [0.0, 0.0, 1.0]]
    return CameraIntrinsics(intr.width, intr.height, k, list(intr.coeffs)[:5], "plumb_bob")


class RealsenseSource:
    """``RgbdSource`` over a RealSense device or recording (for ``smartmine slam``)."""

    def __init__(self, serial: str | None = None, file: Path | None = None) -> None:
        self.stream = RealsenseStream(serial, file)
        i = self.stream.intrinsics
        self.camera = Pinhole.from_k(i.width, i.height, i.k)
        self.description = self.stream.where

    def __iter__(self) -> Iterator[RgbdFrame]:
        for n, f in enumerate(self.stream.frames()):
            yield RgbdFrame(f.stamp_ns, f.color_rgb, f.depth_mm.astype(np.float32) / 1000.0, n)


def frame_messages(frame: RealsenseFrame, color_frame_id: str, factory: Any) -> dict[str, Any]:
    """The four messages of one aligned frame (colour, depth in mm, two CameraInfos)."""
    where = {"stamp_ns": frame.stamp_ns, "frame_id": color_frame_id, "factory": factory}
    info = intrinsics_to_camera_info(frame.intrinsics, **where)
    return {
        "color": numpy_to_image(frame.color_rgb, "rgb8", **where),
        "depth": numpy_to_image(frame.depth_mm, "16UC1", **where),
        "color_info": info,
        "depth_info": info,
    }


@dataclass
class RealsenseCaptureParams:
    serial: str = param("", "device serial; empty = the first RealSense found")
    file: str = param("", "play this RealSense .bag recording instead of a device")
    width: int = param(640, "stream width", unit="px", range=(320, 1920))
    height: int = param(480, "stream height", unit="px", range=(180, 1080))
    fps: int = param(30, "stream rate", unit="Hz", range=(6, 90))
    frame_id: str = param("camera_color_optical_frame", "frame_id of all four topics")
    realtime: bool = param(False, "play a recording at its recorded pace")


@register_processor
class RealsenseCapture(Processor[RealsenseCaptureParams]):
    """Source processor: aligned RGB-D from a RealSense or a recording."""

    name = "realsense_capture"
    description = "RealSense (or .bag recording) -> aligned colour, depth, CameraInfo"
    inputs = ()
    outputs = (
        Port("color", "/camera/color/image_raw", "sensor_msgs/msg/Image", "sensor"),
        Port(
            "depth", "/camera/aligned_depth_to_color/image_raw", "sensor_msgs/msg/Image", "sensor"
        ),
        Port("color_info", "/camera/color/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
        Port(
            "depth_info",
            "/camera/aligned_depth_to_color/camera_info",
            "sensor_msgs/msg/CameraInfo",
            "sensor",
        ),
    )
    Params = RealsenseCaptureParams

    def __init__(self, params: RealsenseCaptureParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self._frames: Iterator[RealsenseFrame] | None = None
        self.finished = False
        self.poll_period_s = 0.5 / self.params.fps
        """The live adapter polls this often; ``poll`` waits for the next frame itself."""

    def start(self) -> None:
        p = self.params
        stream = RealsenseStream(
            p.serial or None, Path(p.file) if p.file else None, p.width, p.height, p.fps, p.realtime
        )
        self._frames = stream.frames()

    def poll(self) -> list[Output]:
        """The next aligned frame as messages (empty at the end of a recording)."""
        if self.finished:
            return []
        if self._frames is None:
            self.start()
        assert self._frames is not None
        frame = next(self._frames, None)
        if frame is None:
            self.finished = True
            return []
        return self.messages_for(frame)

    def messages_for(self, frame: RealsenseFrame) -> list[Output]:
        msgs = frame_messages(frame, self.params.frame_id, self.factory)
        return [Output(name, msgs[name]) for name in ("color", "depth", "color_info", "depth_info")]

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        return []
