"""Camera projection models on top of the core :class:`~smartmine.msgs.CameraIntrinsics`.

One implementation of project / distort / undistort for the three ROS distortion
models, in numpy, matching OpenCV to rounding:

- ``plumb_bob`` (k1, k2, p1, p2, k3) and ``rational_polynomial`` (k1, k2, p1, p2, k3,
  k4, k5, k6): OpenCV's pinhole model;
- ``equidistant`` (k1, k2, k3, k4): OpenCV's fisheye (Kannala-Brandt) model, valid
  beyond 90 degrees off-axis.

The simulator renders with it, mapping back-projects with it and calibration tests
check against it, so they all agree on what a calibration means. Pixel coordinates are
OpenCV's: the centre of the top-left pixel is (0, 0).

It also reads one camera out of a calibration file (:func:`load_camera_model`): the
``calibration.yaml`` that ``smartmine calibrate`` writes, or a ROS camera_info YAML. This
is the one parser of a calibration.yaml camera entry; ``calibration.io`` builds the whole
file on it, and the domain packages (which may import only this module of calibration)
read ``--calibration`` through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.errors import CalibrationError
from smartmine.errors import ConversionError, SmartmineError
from smartmine.msgs import CameraIntrinsics

F64 = npt.NDArray[np.float64]

COEFFICIENTS: Final = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}
"""Distortion coefficients of each model (shorter vectors are padded with zeros)."""

COEFFICIENT_NAMES: Final = {
    "plumb_bob": ("k1", "k2", "p1", "p2", "k3"),
    "rational_polynomial": ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6"),
    "equidistant": ("k1", "k2", "k3", "k4"),
}

_NEWTON_ITERATIONS: Final = 20
_NEWTON_TOL: Final = 1e-13
_FOLD_TOL: Final = 1e-9
"""An inverse whose forward image misses the input by more than this is no inverse
(beyond the fold of a strong pinhole distortion): NaN."""


@dataclass(frozen=True)
class CameraModel:
    """A calibrated camera: intrinsics plus the maths to use them."""

    intrinsics: CameraIntrinsics

    def __post_init__(self) -> None:
        model = self.intrinsics.distortion_model
        if model not in COEFFICIENTS:
            raise CalibrationError(
                f"distortion model {model!r} is not supported "
                f"(supported: {', '.join(COEFFICIENTS)})"
            )
        n = COEFFICIENTS[model]
        if self.intrinsics.d.size > n:
            extra = self.intrinsics.d[n:]
            if np.any(extra != 0):
                raise CalibrationError(
                    f"{model} takes {n} distortion coefficients, got {self.intrinsics.d.size}"
                )

    @classmethod
    def create(
        cls,
        width: int,
        height: int,
        k: npt.ArrayLike,
        d: npt.ArrayLike,
        distortion_model: str = "plumb_bob",
    ) -> CameraModel:
        """A model from size, camera matrix and coefficients (P = [K | 0], R = I)."""
        try:
            intr = CameraIntrinsics(width, height, k, d, distortion_model)
        except ConversionError as err:
            raise CalibrationError(str(err)) from None
        return cls(intr)

    # -- parameters --------------------------------------------------------------
    @property
    def width(self) -> int:
        return self.intrinsics.width

    @property
    def height(self) -> int:
        return self.intrinsics.height

    @property
    def k(self) -> F64:
        return self.intrinsics.k

    @property
    def distortion_model(self) -> str:
        return self.intrinsics.distortion_model

    @property
    def is_fisheye(self) -> bool:
        return self.distortion_model == "equidistant"

    @property
    def d(self) -> F64:
        """Distortion coefficients padded to the model's full length (OpenCV order)."""
        n = COEFFICIENTS[self.distortion_model]
        out = np.zeros(n)
        src = self.intrinsics.d[:n]
        out[: src.size] = src
        return out

    @property
    def fx(self) -> float:
        return self.intrinsics.fx

    @property
    def fy(self) -> float:
        return self.intrinsics.fy

    @property
    def cx(self) -> float:
        return self.intrinsics.cx

    @property
    def cy(self) -> float:
        return self.intrinsics.cy

    @property
    def skew(self) -> float:
        return float(self.k[0, 1])

    def coefficients(self) -> dict[str, float]:
        """Distortion coefficients by name (k1, k2, p1...)."""
        names = COEFFICIENT_NAMES[self.distortion_model]
        return {n: float(v) for n, v in zip(names, self.d, strict=True)}

    # -- normalized <-> pixel ----------------------------------------------------
    def _to_pixels(self, xy: F64) -> F64:
        u = self.fx * xy[:, 0] + self.skew * xy[:, 1] + self.cx
        v = self.fy * xy[:, 1] + self.cy
        return np.stack([u, v], axis=1)

    def _from_pixels(self, uv: F64) -> F64:
        y = (uv[:, 1] - self.cy) / self.fy
        x = (uv[:, 0] - self.cx - self.skew * y) / self.fx
        return np.stack([x, y], axis=1)

    # -- the distortion functions (normalized coordinates) -----------------------
    def _distort_normalized(self, xy: F64) -> F64:
        """Pinhole models: ideal normalized (x/z, y/z) -> distorted normalized."""
        d = self.d
        k1, k2, p1, p2, k3 = d[:5]
        k4, k5, k6 = d[5:8] if d.size >= 8 else (0.0, 0.0, 0.0)
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        r4 = r2 * r2
        r6 = r4 * r2
        radial = (1 + k1 * r2 + k2 * r4 + k3 * r6) / (1 + k4 * r2 + k5 * r4 + k6 * r6)
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=1)

    def _theta_d(self, theta: F64) -> F64:
        k1, k2, k3, k4 = self.d
        t2 = theta * theta
        out: F64 = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        return out

    # -- public maps -------------------------------------------------------------
    def project(self, points_cam: npt.ArrayLike) -> F64:
        """(N, 3) points in the camera optical frame -> (N, 2) pixels.

        Points behind a pinhole camera (z <= 0) give NaN; the fisheye model projects
        any direction except straight backwards.
        """
        p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        if self.is_fisheye:
            rho = np.hypot(p[:, 0], p[:, 1])
            theta = np.arctan2(rho, p[:, 2])
            theta_d = self._theta_d(theta)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(rho > 1e-15, theta_d / np.where(rho > 0, rho, 1.0), 0.0)
            xy = p[:, :2] * scale[:, None]
            return self._to_pixels(xy)
        with np.errstate(invalid="ignore", divide="ignore"):
            xy = p[:, :2] / p[:, 2:3]
        xy[p[:, 2] <= 0] = np.nan
        return self._to_pixels(self._distort_normalized(xy))

    def distort(self, xy_normalized: npt.ArrayLike) -> F64:
        """Ideal normalized image coordinates (x/z, y/z) -> distorted pixels."""
        xy = np.asarray(xy_normalized, dtype=np.float64).reshape(-1, 2)
        return self.project(np.column_stack([xy, np.ones(len(xy))]))

    def unproject(self, pixels: npt.ArrayLike) -> F64:
        """(N, 2) pixels -> (N, 3) unit rays in the camera optical frame.

        Pixels beyond the fold of a strong pinhole distortion (where the map has no
        inverse) give NaN.
        """
        uv = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
        xd = self._from_pixels(uv)
        if self.is_fisheye:
            theta_d = np.hypot(xd[:, 0], xd[:, 1])
            theta = self._solve_theta(theta_d)
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(theta_d > 1e-15, np.sin(theta) / np.maximum(theta_d, 1e-300), 1.0)
            rays = np.column_stack([xd * scale[:, None], np.cos(theta)])
        else:
            xy = self._undistort_normalized(xd)
            rays = np.column_stack([xy, np.ones(len(xy))])
        norm = np.linalg.norm(rays, axis=1, keepdims=True)
        out: F64 = rays / norm
        return out

    def undistort_points(self, pixels: npt.ArrayLike) -> F64:
        """(N, 2) distorted pixels -> ideal normalized coordinates (x/z, y/z)."""
        rays = self.unproject(pixels)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: F64 = rays[:, :2] / rays[:, 2:3]
        return out

    # -- inverses ----------------------------------------------------------------
    def _undistort_normalized(self, xd: F64) -> F64:
        """Newton's method on the distortion map (OpenCV's fixed-point loop stalls on
        strong distortion) with the analytic Jacobian, compiled, point by point: each
        point stops when its step is below 1e-13 (normalized units)."""
        src = np.ascontiguousarray(xd, dtype=np.float64).reshape(-1, 2)
        out = np.empty_like(src)
        d = self.d
        coeffs = np.zeros(8)
        coeffs[: d.size] = d
        _undistort_kernel()(src, coeffs, _NEWTON_ITERATIONS, _NEWTON_TOL, _FOLD_TOL, out)
        return out

    def _solve_theta(self, theta_d: F64) -> F64:
        k1, k2, k3, k4 = self.d
        theta = theta_d.copy()
        for _ in range(_NEWTON_ITERATIONS):
            t2 = theta * theta
            g = self._theta_d(theta) - theta_d
            dg = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + t2 * 9 * k4)))
            step = g / np.where(np.abs(dg) < 1e-12, 1e-12, dg)
            theta = theta - step
            if np.all(np.abs(step) < _NEWTON_TOL):
                break
        return theta

    # -- conversions -------------------------------------------------------------
    def to_intrinsics(self) -> CameraIntrinsics:
        """The CameraInfo-level intrinsics (P = [K | 0], R = I unless given)."""
        return self.intrinsics

    def opencv_matrix_and_coefficients(self) -> tuple[F64, F64]:
        """``(K, D)`` as OpenCV's calibration and undistortion functions take them."""
        return np.array(self.k, dtype=np.float64), self.d.copy()


# ======================================================================================
# Survey camera specifications (sensor, lens, image size) and a catalog of common ones
# ======================================================================================
# Mission planning (ground sample distance, footprint, trigger distance), the simulator's
# survey camera and SfM's first guess of the intrinsics all start from the same data-sheet
# numbers, so they live here once. Values are the manufacturers' published specifications
# (effective sensor size, nominal focal length, full-resolution still image size).


@dataclass(frozen=True)
class SensorSpec:
    """A survey camera as a data sheet gives it: sensor size (mm), focal length (mm),
    image size (px). ``landscape``: the long image side lies across the flight line."""

    name: str
    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int
    landscape: bool = True
    min_trigger_interval_s: float = 0.0

    def __post_init__(self) -> None:
        for attr in ("sensor_width_mm", "sensor_height_mm", "focal_length_mm"):
            value = getattr(self, attr)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise CalibrationError(f"camera {self.name!r}: {attr} must be > 0, got {value!r}")
        for attr in ("image_width_px", "image_height_px"):
            value = getattr(self, attr)
            if not (isinstance(value, int) and value > 0):
                raise CalibrationError(
                    f"camera {self.name!r}: {attr} must be a positive integer, got {value!r}"
                )

    @property
    def fx_px(self) -> float:
        """Focal length in pixels along the image width (pinhole)."""
        return self.focal_length_mm * self.image_width_px / self.sensor_width_mm

    @property
    def fy_px(self) -> float:
        return self.focal_length_mm * self.image_height_px / self.sensor_height_mm

    def pinhole(self, width: int | None = None, height: int | None = None) -> CameraModel:
        """Distortion-free pinhole intrinsics, optionally for the image scaled to
        ``width`` x ``height`` (the field of view is kept)."""
        w = width if width is not None else self.image_width_px
        h = height if height is not None else self.image_height_px
        fx = self.fx_px * w / self.image_width_px
        fy = self.fy_px * h / self.image_height_px
        k = np.array([[fx, 0.0, (w - 1) / 2.0], [0.0, fy, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
        return CameraModel.create(w, h, k, np.zeros(5))


SURVEY_CAMERAS: Final[dict[str, SensorSpec]] = {
    spec.name: spec
    for spec in (
        # 1" 20 MP, 8.8 mm (24 mm equiv.)
        SensorSpec("DJI Phantom 4 RTK", 13.2, 8.8, 8.8, 5472, 3648),
        SensorSpec("DJI Phantom 4 Pro", 13.2, 8.8, 8.8, 5472, 3648),
        # 4/3" 20 MP wide camera, 12.29 mm (24 mm equiv.)
        SensorSpec("DJI Mavic 3 Enterprise", 17.3, 13.0, 12.29, 5280, 3956),
        # full frame 45 MP with the 35 mm lens
        SensorSpec("DJI Zenmuse P1 35mm", 35.9, 24.0, 35.0, 8192, 5460),
        # 1" 20 MP, 10.26 mm (28 mm equiv.)
        SensorSpec("DJI Mavic 2 Pro", 13.2, 8.8, 10.26, 5472, 3648),
        # full frame 42 MP fixed 35 mm (fixed-wing survey payloads)
        SensorSpec("Sony RX1R II", 35.9, 24.0, 35.0, 7952, 5304),
        # APS-C 24 MP with a 16 mm lens
        SensorSpec("Sony a6000 16mm", 23.5, 15.6, 16.0, 6000, 4000),
        # multispectral (per band)
        SensorSpec("MicaSense RedEdge-MX", 4.8, 3.6, 5.5, 1280, 960),
        SensorSpec("Parrot Sequoia RGB", 6.17, 4.63, 4.88, 4608, 3456),
    )
}
"""Common survey drone cameras by name (``smartmine plan survey --camera NAME``)."""


def survey_camera(name: str) -> SensorSpec:
    """A catalog camera by name (case- and space-insensitive)."""
    wanted = "".join(name.lower().split())
    for key, spec in SURVEY_CAMERAS.items():
        if "".join(key.lower().split()) == wanted:
            return spec
    raise CalibrationError(
        f"no built-in camera named {name!r} (built in: {', '.join(SURVEY_CAMERAS)}; "
        "or give a camera YAML file)"
    )


# ======================================================================================
# Reading a camera from a calibration file (calibration.yaml or ROS camera_info YAML)
# ======================================================================================

SCHEMA: Final = "smartmine/calibration"
"""The ``schema`` key of calibration.yaml."""
VERSION: Final = 1
"""The calibration.yaml schema version this smartmine reads and writes."""


class YamlFields:
    """Typed access to a parsed YAML mapping, with errors that name the file and key."""

    def __init__(self, doc: Any, path: Path, where: str) -> None:
        if not isinstance(doc, dict):
            raise CalibrationError(f"{path}: {where or 'document'} is not a mapping")
        self.doc, self.path, self.where = doc, path, where

    def key(self, key: str) -> str:
        """``key`` with its place in the document (``cameras.left.width``)."""
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, default: Any = None) -> Any:
        return self.doc.get(key, default)

    def req(self, key: str) -> Any:
        if key not in self.doc:
            raise CalibrationError(f"{self.path}: missing {self.key(key)}")
        return self.doc[key]

    def str_(self, key: str, default: str | None = None) -> str:
        v = self.doc.get(key, default) if default is not None else self.req(key)
        if not isinstance(v, str):
            raise CalibrationError(f"{self.path}: {self.key(key)} must be a string")
        return v

    def int_(self, key: str) -> int:
        v = self.req(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise CalibrationError(f"{self.path}: {self.key(key)} must be an integer")
        return v

    def float_(self, key: str) -> float:
        v = self.req(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise CalibrationError(f"{self.path}: {self.key(key)} must be a finite number")
        return float(v)

    def floats(self, key: str, size: int | None = None) -> F64:
        v = self.req(key)
        try:
            arr = np.array(v, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise CalibrationError(
                f"{self.path}: {self.key(key)} must be a list of numbers"
            ) from None
        if size is not None and arr.size != size:
            raise CalibrationError(
                f"{self.path}: {self.key(key)} has {arr.size} numbers, expected {size}"
            )
        if not np.all(np.isfinite(arr)):
            raise CalibrationError(f"{self.path}: {self.key(key)} holds NaN or infinity")
        return arr

    def quality(self) -> dict[str, Any]:
        q = self.doc.get("quality", {})
        return dict(q) if isinstance(q, dict) else {}


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML of a calibration file; unreadable or invalid files name the file."""
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise CalibrationError(f"cannot read calibration {file}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{file}: not a text file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CalibrationError(f"{file}: invalid YAML: {err}".replace("\n", " ")) from None


def check_schema(top: YamlFields, hint: str = "") -> None:
    """Refuse a document that is not calibration.yaml, or of a version not known here."""
    if top.get("schema") != SCHEMA:
        raise CalibrationError(
            f"{top.path}: not a smartmine calibration (schema: {SCHEMA} missing){hint}"
        )
    version = top.get("version")
    if version != VERSION:
        raise CalibrationError(
            f"{top.path}: calibration schema version {version!r} is not supported (this "
            f"smartmine reads version {VERSION}); upgrade smartmine"
        )


def camera_from_fields(d: YamlFields) -> CameraModel:
    """The model of one ``cameras.NAME`` entry of calibration.yaml."""
    model = d.str_("distortion_model")
    if model not in COEFFICIENTS:
        raise CalibrationError(
            f"{d.path}: {d.key('distortion_model')} {model!r} is not one of "
            f"{', '.join(COEFFICIENTS)}"
        )
    k = d.floats("camera_matrix", 9).reshape(3, 3)
    coeffs = d.floats("distortion_coefficients")
    r = (
        d.floats("rectification_matrix", 9).reshape(3, 3)
        if "rectification_matrix" in d.doc
        else None
    )
    p = d.floats("projection_matrix", 12).reshape(3, 4) if "projection_matrix" in d.doc else None
    from smartmine.msgs.camera import check_calibrated

    try:
        intr = CameraIntrinsics(d.int_("width"), d.int_("height"), k, coeffs, model, r, p)
        check_calibrated(intr)
        return CameraModel(intr)
    except SmartmineError as err:
        raise CalibrationError(f"{d.path}: {d.where}: {err}") from None


def camera_entries(top: YamlFields) -> dict[str, YamlFields]:
    """The ``cameras`` of a calibration.yaml by name, in file order (not yet parsed)."""
    cams = top.get("cameras") or {}
    if not isinstance(cams, dict):
        raise CalibrationError(f"{top.path}: cameras must be a mapping of name to camera")
    return {str(n): YamlFields(c, top.path, f"cameras.{n}") for n, c in cams.items()}


def load_camera_model(path: str | Path, camera: str | None = None) -> CameraModel:
    """One camera from a calibration file: what ``--calibration`` takes.

    ``path`` is either the ``calibration.yaml`` of ``smartmine calibrate`` (the camera
    named ``camera``; by default the only one, or the first of several) or a ROS
    camera_info YAML (one camera; ``camera`` is not checked against its camera_name).
    Every failure is one :class:`CalibrationError` naming the file.
    """
    file = Path(path)
    doc = read_yaml(file)
    if isinstance(doc, dict) and "schema" not in doc and "camera_matrix" in doc:
        from smartmine.msgs import read_camera_info_yaml

        try:
            intr, _ = read_camera_info_yaml(file)
            return CameraModel(intr)
        except SmartmineError as err:
            text = str(err)
            raise CalibrationError(text if str(file) in text else f"{file}: {text}") from None
    top = YamlFields(doc, file, "")
    if "schema" not in top.doc:
        raise CalibrationError(
            f"{file}: not a camera calibration: neither a smartmine calibration.yaml "
            f"(schema: {SCHEMA}) nor a ROS camera_info YAML (image_width, image_height, "
            "camera_matrix, distortion_coefficients)"
        )
    check_schema(top)
    cameras = camera_entries(top)
    if not cameras:
        raise CalibrationError(f"{file}: the calibration holds no cameras")
    if camera is None:
        return camera_from_fields(next(iter(cameras.values())))
    if camera not in cameras:
        raise CalibrationError(
            f"{file}: no camera {camera!r} in the calibration (cameras: {', '.join(cameras)})"
        )
    return camera_from_fields(cameras[camera])


def _undistort_points(
    xd: F64, c: F64, iterations: int, tol: float, fold_tol: float, out: F64
) -> None:
    """Pinhole models (k1, k2, p1, p2, k3, k4, k5, k6): Newton per point on
    distort(x) = xd from x = xd / radial(xd); NaN where the result does not map back."""
    k1, k2, p1, p2, k3, k4, k5, k6 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    for i in range(xd.shape[0]):
        tx, ty = xd[i, 0], xd[i, 1]
        # start from one fixed-point step (x = xd / radial(xd)): one Newton step fewer
        r2 = tx * tx + ty * ty
        radial = (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        if not (radial > 0.1 and radial < 10.0):
            radial = 1.0
        x, y = tx / radial, ty / radial
        for it in range(iterations + 1):
            r2 = x * x + y * y
            num = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            den = 1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
            radial = num / den
            dnum = k1 + r2 * (2.0 * k2 + r2 * 3.0 * k3)
            dden = k4 + r2 * (2.0 * k5 + r2 * 3.0 * k6)
            dradial = (dnum * den - num * dden) / (den * den)  # d radial / d r2
            fx = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) - tx
            fy = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y - ty
            if it == iterations:
                break
            a = radial + 2.0 * x * x * dradial + 2.0 * p1 * y + 6.0 * p2 * x
            b = 2.0 * x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
            cc = 2.0 * x * y * dradial + 2.0 * p1 * x + 2.0 * p2 * y
            dd = radial + 2.0 * y * y * dradial + 6.0 * p1 * y + 2.0 * p2 * x
            det = a * dd - b * cc
            if abs(det) < 1e-12:
                det = 1e-12
            sx = (dd * fx - b * fy) / det
            sy = (-cc * fx + a * fy) / det
            x -= sx
            y -= sy
            if np.hypot(sx, sy) < tol:
                r2 = x * x + y * y
                radial = (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (
                    1.0 + r2 * (k4 + r2 * (k5 + r2 * k6))
                )
                fx = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x) - tx
                fy = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y - ty
                break
        if np.hypot(fx, fy) > fold_tol:
            x = y = np.nan
        out[i, 0], out[i, 1] = x, y


_COMPILED: dict[str, Any] = {}


def _undistort_kernel() -> Any:
    """:func:`_undistort_points` compiled by numba (on first use: importing numba is
    slow, and most users of this module never invert a lens)."""
    if "undistort" not in _COMPILED:
        import numba  # type: ignore[import-untyped]

        try:
            kernel = numba.njit(cache=True, nogil=True, error_model="numpy")(_undistort_points)
        except RuntimeError:  # no writable cache folder
            kernel = numba.njit(cache=False, nogil=True, error_model="numpy")(_undistort_points)
        _COMPILED["undistort"] = kernel
    return _COMPILED["undistort"]
