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

    # -- the model -----------------------------------------------------------------------
    def distort(self, x: F64Array, y: F64Array) -> tuple[F64Array, F64Array]:
        """Normalised undistorted (x, y) to normalised distorted coordinates."""
        k1, k2, p1, p2, k3 = self.dist
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        return xd, yd

    def project(self, points_cam: npt.ArrayLike) -> F64Array:
        """(N, 3) points in the optical frame to (N, 2) pixels (as cv2.projectPoints)."""
        p = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
        xd, yd = self.distort(x, y)
        return np.stack([self.fx * xd + self.cx, self.fy * yd + self.cy], axis=1)

    def _jacobian(self, x: F64Array, y: F64Array) -> tuple[F64Array, ...]:
        k1, k2, p1, p2, k3 = self.dist
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dradial_dr2 = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)
        dr_dx, dr_dy = dradial_dr2 * 2.0 * x, dradial_dr2 * 2.0 * y
        a = radial + x * dr_dx + 2.0 * p1 * y + 6.0 * p2 * x
        b = x * dr_dy + 2.0 * p1 * x + 2.0 * p2 * y
        c = y * dr_dx + 2.0 * p1 * x + 2.0 * p2 * y
        d = radial + y * dr_dy + 6.0 * p1 * y + 2.0 * p2 * x
        return a, b, c, d

    def pixel_rays(self, u: npt.ArrayLike, v: npt.ArrayLike) -> F64Array:
        """(N, 3) optical-frame rays (z = 1) through pixel coordinates (u, v).

        ``cv2.undistortPoints`` gives the start, Newton steps on the forward model polish
        it until re-projection agrees to 1e-6 px; a pixel the model cannot reach (beyond
        where the distortion folds over) is a SimulatorError.
        """
        import cv2

        uu = np.asarray(u, dtype=np.float64).ravel()
        vv = np.asarray(v, dtype=np.float64).ravel()
        pts = np.stack([uu, vv], axis=1).reshape(-1, 1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
        und = cv2.undistortPoints(pts, self.k, self.dist_array, criteria=criteria)
        x = und[:, 0, 0].astype(np.float64)
        y = und[:, 0, 1].astype(np.float64)
        xd_target = (uu - self.cx) / self.fx
        yd_target = (vv - self.cy) / self.fy
        for _ in range(6):
            xd, yd = self.distort(x, y)
            ex, ey = xd - xd_target, yd - yd_target
            a, b, c, d = self._jacobian(x, y)
            det = a * d - b * c
            x = x - (d * ex - b * ey) / det
            y = y - (-c * ex + a * ey) / det
        xd, yd = self.distort(x, y)
        err_px = np.hypot((xd - xd_target) * self.fx, (yd - yd_target) * self.fy)
        if err_px.size and float(err_px.max()) > _UNDISTORT_TOL_PX:
            raise SimulatorError(
                f"distortion {list(self.dist)} cannot be inverted at some pixels "
                f"(residual {float(err_px.max()):.2g} px); use milder coefficients"
            )
        return np.stack([x, y, np.ones_like(x)], axis=1)

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
