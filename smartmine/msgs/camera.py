"""``sensor_msgs/CameraInfo`` <-> :class:`CameraIntrinsics`, and the ROS calibration YAML.

Reads ROS 2 (``d, k, r, p``) and ROS 1 (``D, K, R, P``) spellings alike. The YAML is
the camera_calibration_parsers format written by the ROS camera calibrator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import yaml

from smartmine.atomic import atomic_path
from smartmine.errors import ConversionError
from smartmine.msgs._util import (
    F64Array,
    dataclass_eq,
    flat_f64,
    float_array,
    get_field,
    get_int,
    matrix_arg,
    readonly,
    resolve_factory,
)
from smartmine.msgs.factory import MessageFactory
from smartmine.msgs.stamp import make_header

DISTORTION_MODELS: Final = ("plumb_bob", "rational_polynomial", "equidistant")
"""Distortion models of ROS (others, e.g. "" for uncalibrated, are carried through)."""


@dataclass(frozen=True, init=False, eq=False)
class CameraIntrinsics:
    """Pinhole calibration of one camera, as in CameraInfo.

    ``k`` 3x3 camera matrix, ``d`` distortion coefficients (1-D, meaning set by
    ``distortion_model``), ``r`` 3x3 rectification (default identity), ``p`` 3x4
    projection (default ``[k | 0]``). Arrays are float64 copies, read-only.
    """

    width: int
    height: int
    k: F64Array
    d: F64Array
    distortion_model: str
    r: F64Array
    p: F64Array

    def __init__(
        self,
        width: int,
        height: int,
        k: npt.ArrayLike,
        d: npt.ArrayLike,
        distortion_model: str = "plumb_bob",
        r: npt.ArrayLike | None = None,
        p: npt.ArrayLike | None = None,
    ) -> None:
        try:
            width, height = int(width), int(height)
        except (TypeError, ValueError):
            raise ConversionError(
                f"camera size {width!r} x {height!r} is not a pair of integers"
            ) from None
        if width < 0 or height < 0:
            raise ConversionError(f"camera size {width} x {height} is negative")
        k_arr = matrix_arg(k, "camera matrix k", (3, 3))
        d_arr = float_array(d, "distortion coefficients d")
        r_arr = np.eye(3) if r is None else matrix_arg(r, "rectification matrix r", (3, 3))
        if p is None:
            p_arr = np.zeros((3, 4))
            p_arr[:, :3] = k_arr
        else:
            p_arr = matrix_arg(p, "projection matrix p", (3, 4))
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "k", readonly(k_arr))
        object.__setattr__(self, "d", readonly(d_arr))
        object.__setattr__(self, "distortion_model", str(distortion_model))
        object.__setattr__(self, "r", readonly(r_arr))
        object.__setattr__(self, "p", readonly(p_arr))

    def __eq__(self, other: object) -> bool:
        return dataclass_eq(self, other)

    __hash__ = None  # type: ignore[assignment]

    @property
    def fx(self) -> float:
        return float(self.k[0, 0])

    @property
    def fy(self) -> float:
        return float(self.k[1, 1])

    @property
    def cx(self) -> float:
        return float(self.k[0, 2])

    @property
    def cy(self) -> float:
        return float(self.k[1, 2])


def camera_info_to_intrinsics(msg: Any) -> CameraIntrinsics:
    """Calibration of a CameraInfo message (ROS 1 or ROS 2 field spellings)."""
    return CameraIntrinsics(
        width=get_int(msg, "CameraInfo", "width"),
        height=get_int(msg, "CameraInfo", "height"),
        k=float_array(get_field(msg, "CameraInfo", "k", "K"), "CameraInfo.k", 9),
        d=float_array(get_field(msg, "CameraInfo", "d", "D"), "CameraInfo.d"),
        distortion_model=str(get_field(msg, "CameraInfo", "distortion_model")),
        r=float_array(get_field(msg, "CameraInfo", "r", "R"), "CameraInfo.r", 9),
        p=float_array(get_field(msg, "CameraInfo", "p", "P"), "CameraInfo.p", 12),
    )


def intrinsics_to_camera_info(
    intr: CameraIntrinsics,
    *,
    stamp_ns: int = 0,
    frame_id: str = "",
    factory: MessageFactory | None = None,
) -> Any:
    """A ``sensor_msgs/msg/CameraInfo`` (no binning, empty ROI)."""
    factory = resolve_factory(factory)
    roi = factory(
        "sensor_msgs/msg/RegionOfInterest",
        x_offset=0,
        y_offset=0,
        height=0,
        width=0,
        do_rectify=False,
    )
    return factory(
        "sensor_msgs/msg/CameraInfo",
        header=make_header(stamp_ns, frame_id, factory),
        height=intr.height,
        width=intr.width,
        distortion_model=intr.distortion_model,
        d=flat_f64(intr.d),
        k=flat_f64(intr.k),
        r=flat_f64(intr.r),
        p=flat_f64(intr.p),
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


# --- camera_calibration_parsers YAML ----------------------------------------------------


def _matrix_entry(arr: F64Array, rows: int, cols: int) -> dict[str, Any]:
    return {"rows": rows, "cols": cols, "data": [float(v) for v in arr.reshape(-1)]}


def write_camera_info_yaml(
    intr: CameraIntrinsics, path: str | os.PathLike[str], camera_name: str
) -> None:
    """Write the ROS calibration YAML atomically (:func:`smartmine.atomic.atomic_path`)."""
    doc = {
        "image_width": intr.width,
        "image_height": intr.height,
        "camera_name": str(camera_name),
        "camera_matrix": _matrix_entry(intr.k, 3, 3),
        "distortion_model": intr.distortion_model,
        "distortion_coefficients": _matrix_entry(intr.d, 1, int(intr.d.size)),
        "rectification_matrix": _matrix_entry(intr.r, 3, 3),
        "projection_matrix": _matrix_entry(intr.p, 3, 4),
    }
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=1000)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_calibrated(intr: CameraIntrinsics) -> None:
    """A calibration read from a file must be usable: a positive size, finite numbers,
    positive focal lengths (an uncalibrated CameraInfo, all zeros, is not a file's
    calibration). Raises ``ConversionError`` naming the field."""
    if intr.width < 1 or intr.height < 1:
        raise ConversionError(f"image size {intr.width} x {intr.height} is not positive")
    for field_name, values in (
        ("camera_matrix", intr.k),
        ("distortion_coefficients", intr.d),
        ("rectification_matrix", intr.r),
        ("projection_matrix", intr.p),
    ):
        if not np.isfinite(values).all():
            raise ConversionError(f"{field_name} holds NaN or infinite values")
    if not (intr.k[0, 0] > 0 and intr.k[1, 1] > 0):
        raise ConversionError(
            f"camera_matrix focal lengths fx {intr.k[0, 0]:g}, fy {intr.k[1, 1]:g} must be > 0"
        )


def _yaml_matrix(
    doc: dict[str, Any], key: str, path: Path, shape: tuple[int, int] | None
) -> F64Array:
    entry = doc.get(key)
    if not isinstance(entry, dict):
        what = "missing key" if entry is None else "expected a mapping with rows, cols, data at key"
        raise ConversionError(f"{path}: {what} {key!r}")
    try:
        rows, cols = int(entry["rows"]), int(entry["cols"])
        if any(isinstance(v, bool) for v in (*entry["data"], entry["rows"], entry["cols"])):
            raise TypeError(key)
        data = [float(v) for v in entry["data"]]
    except KeyError as exc:
        raise ConversionError(f"{path}: {key} has no {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ConversionError(f"{path}: {key} has non-numeric rows, cols or data") from None
    if len(data) != rows * cols:
        raise ConversionError(
            f"{path}: {key}.data has {len(data)} values, expected rows*cols = {rows * cols}"
        )
    if shape is not None and (rows, cols) != shape:
        raise ConversionError(f"{path}: {key} is {rows}x{cols}, expected {shape[0]}x{shape[1]}")
    return np.array(data, dtype=np.float64).reshape(rows, cols)


def read_camera_info_yaml(path: str | os.PathLike[str]) -> tuple[CameraIntrinsics, str]:
    """Read a ROS calibration YAML: ``(intrinsics, camera_name)``.

    ``distortion_model`` defaults to plumb_bob and ``camera_name`` to "unknown" as in
    camera_calibration_parsers; rectification/projection default to I and ``[k | 0]``.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConversionError(f"cannot read camera calibration {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConversionError(f"{file}: not a text file") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConversionError(f"{file}: invalid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(doc, dict):
        raise ConversionError(f"{file}: expected a YAML mapping of calibration keys")
    sizes: list[int] = []
    for key in ("image_width", "image_height"):
        if key not in doc:
            raise ConversionError(f"{file}: missing key {key!r}")
        value = doc[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConversionError(f"{file}: {key} is {value!r}, expected an integer")
        sizes.append(value)
    dist = _yaml_matrix(doc, "distortion_coefficients", file, None)
    if dist.shape[0] != 1 and dist.size:
        raise ConversionError(f"{file}: distortion_coefficients must have rows: 1")
    k = _yaml_matrix(doc, "camera_matrix", file, (3, 3))
    r = (
        _yaml_matrix(doc, "rectification_matrix", file, (3, 3))
        if "rectification_matrix" in doc
        else None
    )
    p = _yaml_matrix(doc, "projection_matrix", file, (3, 4)) if "projection_matrix" in doc else None
    model = doc.get("distortion_model", "plumb_bob")
    name = doc.get("camera_name", "unknown")
    if not isinstance(model, str):
        raise ConversionError(f"{file}: distortion_model is {model!r}, expected a string")
    try:
        intr = CameraIntrinsics(sizes[0], sizes[1], k, dist.reshape(-1), model, r, p)
        check_calibrated(intr)
    except ConversionError as exc:
        raise ConversionError(f"{file}: {exc}") from None
    return intr, str(name)
