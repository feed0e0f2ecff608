"""``image_rectify``: raw camera images -> undistorted, rectified images (like image_proc).

Photogrammetry, SLAM and hyperspectral registration assume pinhole images; lens
distortion of a few pixels at the edges ruins them. Each image is remapped with the
calibration of its camera_info (plumb_bob, rational_polynomial or equidistant/fisheye)
onto a new camera matrix: the CameraInfo's P, as ROS ``image_proc`` does, or OpenCV's
optimal matrix for a given ``alpha``. A matching camera_info for the rectified image
(K of the new matrix, no distortion, R = I) is published beside it.

The undistortion maps are cached and rebuilt only when the calibration, image size or
``alpha`` change, since building them costs far more than remapping a frame.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Literal

import cv2
import numpy as np
import numpy.typing as npt

from smartmine.errors import ConversionError
from smartmine.msgs import (
    CameraIntrinsics,
    camera_info_to_intrinsics,
    header_frame_id,
    header_stamp_ns,
    image_encoding,
    image_to_numpy,
    intrinsics_to_camera_info,
    numpy_to_image,
)
from smartmine.processor import Output, Port, Processor, ProcessorError, param, register_processor
from smartmine.sync import TimeSync

F64 = npt.NDArray[np.float64]

INTERPOLATIONS: Final = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,  # cv2.remap treats it as linear
    "lanczos4": cv2.INTER_LANCZOS4,
}

DEPTH_ENCODINGS: Final = frozenset({"16UC1", "32FC1"})
"""REP 118 depth images: remapped with nearest, as interpolating depth invents points."""

_REMAP_DTYPES: Final = frozenset({"u1", "u2", "i2", "f4", "f8"})
"""Element types cv2.remap interpolates (int8/int32 only work with nearest)."""

_COEFFS: Final = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}
"""Coefficients per distortion model; shorter D vectors are padded with zeros."""

_CAMERA_INFO_QUEUE: Final = 30
_PENDING_IMAGES: Final = 8


@dataclass
class ImageRectifyParams:
    interpolation: Literal["nearest", "linear", "cubic", "area", "lanczos4"] = param(
        "linear",
        "resampling of colour/grey images (depth always uses nearest; area = linear in remap)",
        choices=tuple(INTERPOLATIONS),
    )
    alpha: float = param(
        -1.0,
        "-1: project with the CameraInfo's P (as image_proc); 0..1: OpenCV optimal new "
        "camera matrix (0 = only valid pixels, 1 = keep every source pixel)",
        range=(-1.0, 1.0),
    )
    sync_tolerance_s: float = param(
        0.0,
        "how far image and camera_info header stamps may differ to be paired",
        unit="s",
        range=(0.0, float("inf")),
    )
    use_latest_camera_info: bool = param(
        True,
        "without a camera_info of matching stamp use the latest one (drivers often "
        "publish it at a lower rate); false: pair strictly by stamp",
    )


@dataclass(frozen=True)
class _Rectifier:
    """Cached maps of one calibration, and the camera_info they produce."""

    key: tuple[Any, ...]
    new_matrix: F64  # 3x4 projection of the rectified image
    map_x: npt.NDArray[np.float32]  # float maps: exact nearest-neighbour lookup
    map_y: npt.NDArray[np.float32]
    map_fixed: npt.NDArray[np.int16]  # fixed-point maps: fast interpolating remap
    map_frac: npt.NDArray[np.uint16]


@register_processor
class ImageRectify(Processor[ImageRectifyParams]):
    """Undistort and rectify images with their camera_info.

    Encodings: any that cv2.remap handles (mono8/16, rgb8/16, bgr8/16, rgba/bgra,
    8UC*, 16UC*, 16SC*, 32FC*, 64FC*, up to 4 channels); the output keeps the encoding,
    header stamp and frame_id. Depth images (16UC1, 32FC1) are always remapped with
    nearest neighbour, whatever ``interpolation`` says: blending depths across an edge
    invents points floating between foreground and background. Bayer images are
    refused (remapping a mosaic mixes colours: debayer first).

    ``waiting_for_camera_info`` counts images that gave no output on arrival because
    no (matching) camera_info was at hand; in latest mode the last few of those before
    the first camera_info are held and rectified when it comes. ``maps_built`` counts
    map computations.
    """

    name = "image_rectify"
    description = "Undistort/rectify images with their CameraInfo (plumb_bob, rational, fisheye)"
    inputs = (
        Port("image", "/camera/color/image_raw", "sensor_msgs/msg/Image", "sensor"),
        Port("camera_info", "/camera/color/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
    )
    outputs = (
        Port("image_rect", "/camera/color/image_rect", "sensor_msgs/msg/Image", "sensor"),
        Port(
            "camera_info_rect",
            "/camera/color/camera_info_rect",
            "sensor_msgs/msg/CameraInfo",
            "sensor",
        ),
    )
    Params = ImageRectifyParams

    def __init__(self, params: ImageRectifyParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self.tolerance_ns = round(min(self.params.sync_tolerance_s, 1e6) * 1e9)  # inf: any
        self.camera_infos: deque[tuple[int, CameraIntrinsics]] = deque(maxlen=_CAMERA_INFO_QUEUE)
        self.sync = TimeSync(["image", "camera_info"], self.tolerance_ns)
        self.rectifier: _Rectifier | None = None
        self.waiting_for_camera_info = 0
        self.maps_built = 0
        # images that came before any camera_info (drivers often start with an image)
        self.pending_images: deque[Any] = deque(maxlen=_PENDING_IMAGES)

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        stamp = header_stamp_ns(message)
        if port == "camera_info":
            intr = _checked_intrinsics(message)
            if not self.params.use_latest_camera_info:
                return [
                    o for pair in self.sync.push(port, stamp, intr) for o in self._rectify(pair)
                ]
            self.camera_infos.append((stamp, intr))
            held = list(self.pending_images)
            self.pending_images.clear()
            return [o for image in held for o in self._rectify_latest(image)]
        if port != "image":
            raise ProcessorError(f"image_rectify has no input port {port!r}")
        if not self.params.use_latest_camera_info:
            pairs = self.sync.push(port, stamp, message)
            if not pairs:
                self.waiting_for_camera_info += 1
            return [o for pair in pairs for o in self._rectify(pair)]
        if not self.camera_infos:
            self.waiting_for_camera_info += 1
            self.pending_images.append(message)
            return []
        return self._rectify_latest(message)

    def _rectify_latest(self, message: Any) -> list[Output]:
        info = self._camera_info_for(header_stamp_ns(message))
        assert info is not None
        return self._rectify({"image": message, "camera_info": info})

    def _camera_info_for(self, stamp: int) -> CameraIntrinsics | None:
        """The camera_info closest in stamp within tolerance, else the latest one."""
        if not self.camera_infos:
            return None
        closest, intr = min(self.camera_infos, key=lambda entry: abs(entry[0] - stamp))
        return intr if abs(closest - stamp) <= self.tolerance_ns else self.camera_infos[-1][1]

    def _rectify(self, pair: dict[str, Any]) -> list[Output]:
        message, intr = pair["image"], pair["camera_info"]
        encoding = str(getattr(message, "encoding", ""))
        try:
            enc = image_encoding(encoding)
        except ConversionError:
            raise ProcessorError(f"Image.encoding {encoding!r} is not supported") from None
        if encoding.startswith("bayer_"):
            raise ProcessorError(
                f"Image.encoding {encoding!r}: a Bayer mosaic cannot be rectified (debayer first)"
            )
        if enc.dtype.str[1:] not in _REMAP_DTYPES or enc.channels > 4:
            raise ProcessorError(
                f"Image.encoding {encoding!r} is not supported: cv2.remap takes 1-4 channels "
                "of uint8, uint16, int16, float32 or float64"
            )
        pixels = image_to_numpy(message)
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        if (width, height) != (intr.width, intr.height):
            raise ProcessorError(
                f"Image width/height {width}x{height} differs from CameraInfo width/height "
                f"{intr.width}x{intr.height}"
            )
        if width == 0 or height == 0:
            raise ProcessorError(f"Image width/height {width}x{height} is empty")
        rect = self._rectifier_for(intr)
        if encoding in DEPTH_ENCODINGS or self.params.interpolation == "nearest":
            maps: tuple[Any, Any] = (rect.map_x, rect.map_y)
            interpolation = cv2.INTER_NEAREST
        else:
            maps = (rect.map_fixed, rect.map_frac)
            interpolation = INTERPOLATIONS[self.params.interpolation]
        out = cv2.remap(
            np.ascontiguousarray(pixels),
            *maps,
            interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        stamp, frame_id = header_stamp_ns(message), header_frame_id(message)
        new_k = rect.new_matrix[:, :3]
        info_rect = CameraIntrinsics(
            width, height, new_k, np.zeros(5), "plumb_bob", None, rect.new_matrix
        )
        return [
            Output(
                "image_rect",
                numpy_to_image(
                    out, encoding, stamp_ns=stamp, frame_id=frame_id, factory=self.factory
                ),
            ),
            Output(
                "camera_info_rect",
                intrinsics_to_camera_info(
                    info_rect, stamp_ns=stamp, frame_id=frame_id, factory=self.factory
                ),
            ),
        ]

    def _rectifier_for(self, intr: CameraIntrinsics) -> _Rectifier:
        """The cached maps, rebuilt when calibration, size or alpha changed."""
        alpha = float(self.params.alpha)
        key = (
            intr.width,
            intr.height,
            intr.distortion_model,
            intr.k.tobytes(),
            intr.d.tobytes(),
            intr.r.tobytes(),
            intr.p.tobytes(),
            alpha,
        )
        if self.rectifier is not None and self.rectifier.key == key:
            return self.rectifier
        self.rectifier = _build_rectifier(intr, alpha, key)
        self.maps_built += 1
        return self.rectifier


def _checked_intrinsics(message: Any) -> CameraIntrinsics:
    """The calibration of a camera_info, refused early when it cannot rectify anything."""
    intr = camera_info_to_intrinsics(message)
    if not np.any(intr.k):
        raise ProcessorError("CameraInfo.k is all zeros: the camera is not calibrated")
    if intr.k[0, 0] == 0 or intr.k[1, 1] == 0 or intr.k[2, 2] == 0:
        raise ProcessorError(f"CameraInfo.k has a zero focal length or k[2][2]: {intr.k.tolist()}")
    if not np.all(np.isfinite(intr.k)) or not np.all(np.isfinite(intr.d)):
        raise ProcessorError("CameraInfo.k or CameraInfo.d holds NaN or infinity")
    for axis in ("binning_x", "binning_y"):
        binning = int(getattr(message, axis, 0) or 0)
        if binning > 1:
            raise ProcessorError(f"CameraInfo.{axis} = {binning}: binned images are not supported")
    roi = getattr(message, "roi", None)
    if roi is not None and int(getattr(roi, "width", 0)) and int(getattr(roi, "height", 0)):
        window = (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height))
        if window != (0, 0, intr.width, intr.height):
            raise ProcessorError(
                f"CameraInfo.roi {window}: region-of-interest images are not supported"
            )
    _distortion(intr)
    return intr


def _distortion(intr: CameraIntrinsics) -> tuple[bool, F64]:
    """``(fisheye, coefficients)`` in the form OpenCV wants.

    An all-zero D of plumb_bob, rational_polynomial or an empty/unknown model means no
    distortion. Equidistant is a fisheye projection even with zero coefficients.
    """
    model, d = intr.distortion_model, intr.d
    if model == "equidistant":
        if d.size > 4:
            raise ProcessorError(f"CameraInfo.d has {d.size} coefficients, equidistant takes 4")
        return True, np.pad(d, (0, 4 - d.size))
    if not np.any(d):
        return False, np.zeros(5)
    if model not in _COEFFS:
        raise ProcessorError(
            f"CameraInfo.distortion_model {model!r} is not supported "
            f"(use one of {', '.join(_COEFFS)})"
        )
    size = _COEFFS[model]
    if d.size > size:
        raise ProcessorError(f"CameraInfo.d has {d.size} coefficients, {model} takes {size}")
    return False, np.pad(d, (0, size - d.size))


def _build_rectifier(intr: CameraIntrinsics, alpha: float, key: tuple[Any, ...]) -> _Rectifier:
    fisheye, d = _distortion(intr)
    size = (intr.width, intr.height)
    k, r = np.array(intr.k), np.array(intr.r)
    new_matrix = np.zeros((3, 4))
    if alpha < 0:
        new_matrix[:] = intr.p  # keeps the stereo baseline Tx/Ty of a right camera
        if not np.any(new_matrix[:, :3]):
            new_matrix[:, :3] = k  # some drivers leave P zero: image_proc would fail
    elif fisheye:
        new_matrix[:, :3] = cv2.fisheye.estimateNewCameraMatrixForUndistortRectify(
            k, d, size, r, balance=alpha
        )
    else:
        new_k, _ = cv2.getOptimalNewCameraMatrix(k, d, size, alpha, size)
        new_matrix[:, :3] = new_k
    new_k3 = np.ascontiguousarray(new_matrix[:, :3])  # OpenCV ignores Tx/Ty too
    init = cv2.fisheye.initUndistortRectifyMap if fisheye else cv2.initUndistortRectifyMap
    map_x, map_y = init(k, d, r, new_k3, size, cv2.CV_32FC1)
    map_fixed, map_frac = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
    return _Rectifier(
        key,
        new_matrix,
        np.asarray(map_x, dtype=np.float32),
        np.asarray(map_y, dtype=np.float32),
        np.asarray(map_fixed, dtype=np.int16),
        np.asarray(map_frac, dtype=np.uint16),
    )
