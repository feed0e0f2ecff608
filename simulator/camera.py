"""The simulated cameras: pinhole + plumb_bob distortion, and the ray of every pixel.

Rays are made by *undistorting* pixel coordinates, so a renderer casting them produces
a truly distorted image: the surface point seen at pixel (u, v) projects back onto
(u, v) through the same model ``cv2.projectPoints`` uses. Pixel centres sit at integer
coordinates (OpenCV's convention); ``cx = (width - 1) / 2`` for a centred camera.

Rays are in the optical frame (z forward, x right, y down) and scaled to z = 1, so the
ray parameter at a hit is the z-depth directly.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from calibration.camera_model import CameraModel as LensModel
from simulator.errors import SimulatorError
from smartmine.msgs import CameraIntrinsics

F64Array = npt.NDArray[np.float64]

_UNDISTORT_TOL_PX = 1e-6


@dataclass(frozen=True, eq=False)
class CameraModel:
    """A camera's intrinsics: size, focal lengths, principal point, plumb_bob k1 k2 p1 p2 k3."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def from_fov(
        cls, width: int, height: int, hfov_deg: float, dist: list[float] | None = None
    ) -> CameraModel:
        """Square pixels, centred principal point, focal length from the horizontal FOV
        (so the same FOV holds at any resolution)."""
        f = width / 2.0 / math.tan(math.radians(hfov_deg) / 2.0)
        values = [0.0] * 5 if dist is None else [float(v) for v in dist]
        if len(values) != 5:
            raise SimulatorError("distortion must be 5 numbers: k1 k2 p1 p2 k3")
        k1, k2, p1, p2, k3 = values
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0, (k1, k2, p1, p2, k3))

    @property
    def k(self) -> F64Array:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def dist_array(self) -> F64Array:
        return np.array(self.dist, dtype=np.float64)

    def intrinsics(self) -> CameraIntrinsics:
        """The core calibration record (what CameraInfo carries)."""
        return CameraIntrinsics(self.width, self.height, self.k, self.dist_array, "plumb_bob")

    def to_dict(self) -> dict[str, object]:
        return {
            "width": self.width,
            "height": self.height,
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "distortion_model": "plumb_bob",
            "d": list(self.dist),
            "pixel_centre_convention": "integer coordinates (OpenCV)",
        }

    # -- the model (calibration's camera model: one implementation of the maths) -------
    @functools.cached_property
    def model(self) -> LensModel:
        """The calibration package's model of this camera (projection and its inverse)."""
        return LensModel(self.intrinsics())

    def project(self, points_cam: npt.ArrayLike) -> F64Array:
        """(N, 3) points in the optical frame to (N, 2) pixels (as cv2.projectPoints)."""
        return self.model.project(points_cam)

    def pixel_rays(self, u: npt.ArrayLike, v: npt.ArrayLike) -> F64Array:
        """(N, 3) optical-frame rays (z = 1) through pixel coordinates (u, v).

        The inverse comes from the calibration model (Newton on the forward model); it is
        checked here by re-projection to 1e-6 px, and a pixel the model cannot reach
        (beyond where the distortion folds over) is a SimulatorError.
        """
        uu = np.asarray(u, dtype=np.float64).ravel()
        vv = np.asarray(v, dtype=np.float64).ravel()
        pixels = np.stack([uu, vv], axis=1)
        rays = self.model.unproject(pixels)
        rays = rays / rays[:, 2:3]
        err_px = np.hypot(*(self.model.project(rays) - pixels).T)
        worst_px = float(np.max(err_px)) if err_px.size else 0.0  # NaN: no inverse
        if not worst_px <= _UNDISTORT_TOL_PX:
            why = "it folds over" if math.isnan(worst_px) else f"residual {worst_px:.2g} px"
            raise SimulatorError(
                f"distortion {list(self.dist)} cannot be inverted at some pixels "
                f"({why}); use milder coefficients"
            )
        out: F64Array = rays
        return out

    @functools.cached_property
    def image_rays(self) -> F64Array:
        """(H, W, 3) rays through every pixel centre (cached)."""
        v, u = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        return self.pixel_rays(u, v).reshape(self.height, self.width, 3)

    def subpixel_rays(self, factor: int) -> F64Array:
        """(H, W, factor², 3) rays on a factor×factor grid inside every pixel."""
        offsets = (np.arange(factor) + 0.5) / factor - 0.5
        v, u = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        ou, ov = np.meshgrid(offsets, offsets)
        uu = u[:, :, None] + ou.ravel()[None, None, :]
        vv = v[:, :, None] + ov.ravel()[None, None, :]
        return self.pixel_rays(uu, vv).reshape(self.height, self.width, factor * factor, 3)
