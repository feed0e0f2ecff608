"""Per-frame sensor helpers every RGB-D source shares (bag, RealSense, ROS node):
undistortion of colour and depth, and gyro integration into a rotation prior.

Below :mod:`mapping.slam.sources` and :mod:`mapping.slam.realsense`, which both use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass
class Undistorter:
    """Remap tables from a distorted camera onto its own undistorted pinhole."""

    map_x: npt.NDArray[np.float32]
    map_y: npt.NDArray[np.float32]

    @staticmethod
    def create(intrinsics: Any) -> Undistorter | None:
        from calibration.camera_model import CameraModel

        if not np.any(np.asarray(intrinsics.d) != 0):
            return None
        model = CameraModel(intrinsics)
        k = np.asarray(intrinsics.k, dtype=np.float64)
        w, h = int(intrinsics.width), int(intrinsics.height)
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        xy = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1]], axis=-1).reshape(-1, 2)
        d = model.distort(xy)  # distorted pixels of each undistorted pixel
        mx = d[:, 0].reshape(h, w).astype(np.float32)
        my = d[:, 1].reshape(h, w).astype(np.float32)
        return Undistorter(mx, my)

    def apply(
        self, color: npt.NDArray[np.uint8], depth: npt.NDArray[np.float32]
    ) -> tuple[Any, Any]:
        import cv2

        c = cv2.remap(color, self.map_x, self.map_y, cv2.INTER_LINEAR)
        d = cv2.remap(depth, self.map_x, self.map_y, cv2.INTER_NEAREST)
        return c, d


class GyroIntegrator:
    """Integrates body rates between camera frames into a rotation prior R_prev_cur."""

    def __init__(self) -> None:
        self.rotation = np.eye(3)
        self.last_ns: int | None = None

    def add(self, stamp_ns: int, rate_rad_s: npt.NDArray[np.float64]) -> None:
        from smartmine.geometry import rotvec_to_matrix

        if self.last_ns is not None and 0 < stamp_ns - self.last_ns < 100_000_000:
            dt = (stamp_ns - self.last_ns) * 1e-9
            self.rotation = self.rotation @ rotvec_to_matrix(np.asarray(rate_rad_s) * dt)
        self.last_ns = stamp_ns

    def take(self, r_cam_imu: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
        """The camera rotation since the last take (None before any rate arrived)."""
        out = None if self.last_ns is None else r_cam_imu @ self.rotation @ r_cam_imu.T
        self.rotation = np.eye(3)
        return out
