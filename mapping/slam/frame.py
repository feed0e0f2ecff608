"""One RGB-D frame and the camera it came from, with the image maths tracking needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import SlamError

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Pinhole:
    """Pinhole intrinsics of the (rectified, depth-aligned) colour camera."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @staticmethod
    def from_k(width: int, height: int, k: npt.ArrayLike) -> Pinhole:
        m = np.asarray(k, dtype=np.float64).reshape(3, 3)
        if m[0, 0] <= 0 or m[1, 1] <= 0:
            raise SlamError(f"camera matrix has non-positive focal length: {m.tolist()}")
        return Pinhole(int(width), int(height), m[0, 0], m[1, 1], m[0, 2], m[1, 2])

    @property
    def k(self) -> F64Array:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def rays(self, px: npt.ArrayLike) -> F64Array:
        """Camera-frame rays (x/z, y/z, 1) through pixels (N, 2): a pixel with depth z
        is the point ``ray * z``."""
        p = np.asarray(px, dtype=np.float64)
        return np.stack(
            [(p[:, 0] - self.cx) / self.fx, (p[:, 1] - self.cy) / self.fy, np.ones(len(p))],
            axis=1,
        )

    def scaled(self, factor: int) -> Pinhole:
        """The intrinsics of an image ``factor`` times smaller (pixel-centre convention)."""
        s = 1.0 / factor
        return Pinhole(
            self.width // factor,
            self.height // factor,
            self.fx * s,
            self.fy * s,
            (self.cx + 0.5) * s - 0.5,
            (self.cy + 0.5) * s - 0.5,
        )


@dataclass
class RgbdFrame:
    """Colour (RGB, uint8) and depth (metres, float32, 0 = no data) of one instant."""

    stamp_ns: int
    color: U8Array
    depth_m: F32Array
    index: int = 0
    gyro_rotation: F64Array | None = field(default=None, repr=False)
    """IMU rotation from the previous frame's camera to this one's (R_prev_cur), if any."""

    def __post_init__(self) -> None:
        if self.color.ndim == 2:
            self.color = np.repeat(self.color[:, :, None], 3, axis=2)
        if self.depth_m.shape != self.color.shape[:2]:
            raise SlamError(
                f"frame {self.index}: depth {self.depth_m.shape} and colour "
                f"{self.color.shape[:2]} differ in size (depth must be aligned to colour)"
            )
        from mapping.slam.kernels import clean_depth

        self.depth_m = clean_depth(np.asarray(self.depth_m, dtype=np.float32))

    @property
    def gray(self) -> U8Array:
        import cv2

        return np.asarray(cv2.cvtColor(self.color, cv2.COLOR_RGB2GRAY), dtype=np.uint8)

    def is_blank(self, min_std: float = 2.0, min_valid_depth: float = 0.02) -> str | None:
        """Why the frame is unusable (blank image, no depth), or None."""
        if float(self.color[::8, ::8].std()) < min_std:
            return "blank or saturated image"
        if float((self.depth_m[::8, ::8] > 0).mean()) < min_valid_depth:
            return "no valid depth"
        return None


def downsample_depth(depth_m: F32Array, factor: int) -> F32Array:
    """Depth ``factor`` times smaller, by taking one pixel per block (no mixing of edges)."""
    if factor == 1:
        return depth_m
    off = factor // 2
    return np.ascontiguousarray(depth_m[off::factor, off::factor])


def backproject(depth_m: F32Array, cam: Pinhole) -> F32Array:
    """(H, W, 3) camera-frame points; invalid depth gives zeros."""
    h, w = depth_m.shape
    u = (np.arange(w, dtype=np.float32) - cam.cx) / cam.fx
    v = (np.arange(h, dtype=np.float32) - cam.cy) / cam.fy
    pts = np.empty((h, w, 3), dtype=np.float32)
    pts[:, :, 0] = u[None, :] * depth_m
    pts[:, :, 1] = v[:, None] * depth_m
    pts[:, :, 2] = depth_m
    return pts


def level_points(depth_m: F32Array, factor: int, cam: Pinhole, max_depth_m: float) -> F32Array:
    """Points (H/f, W/f, 3) of ``backproject(downsample_depth(depth, f), cam.scaled(f))``
    with depth at or beyond ``max_depth_m`` dropped, in one pass (compiled)."""
    from mapping.slam.kernels import level_points as kernel

    small = cam.scaled(factor)
    return np.asarray(
        kernel(depth_m, factor, max_depth_m, small.fx, small.fy, small.cx, small.cy),
        dtype=np.float32,
    )


def normals_of(points: F32Array) -> F32Array:
    """Normals from image-neighbour cross products, facing the camera; zeros where
    undefined (compiled: ``normals_of_numpy`` is the reference)."""
    from mapping.slam.kernels import normals

    return np.asarray(normals(np.ascontiguousarray(points, dtype=np.float32)), dtype=np.float32)


def normals_of_numpy(points: F32Array) -> F32Array:
    """Normals from image-neighbour cross products; zeros where undefined."""
    dx = np.zeros_like(points)
    dy = np.zeros_like(points)
    dx[:, 1:-1] = points[:, 2:] - points[:, :-2]
    dy[1:-1, :] = points[2:, :] - points[:-2, :]
    n = np.cross(dx, dy)
    norm = np.linalg.norm(n, axis=2, keepdims=True)
    valid = (points[:, :, 2:3] > 0) & (norm > 1e-12)
    z = points[:, :, 2]
    # neighbours must exist and lie close in depth (no normals across depth edges)
    ok = np.zeros(z.shape, dtype=bool)
    ok[1:-1, 1:-1] = (
        (z[1:-1, :-2] > 0)
        & (z[1:-1, 2:] > 0)
        & (z[:-2, 1:-1] > 0)
        & (z[2:, 1:-1] > 0)
        & (np.abs(z[1:-1, 2:] - z[1:-1, :-2]) < 0.1 * z[1:-1, 1:-1] + 0.05)
        & (np.abs(z[2:, 1:-1] - z[:-2, 1:-1]) < 0.1 * z[1:-1, 1:-1] + 0.05)
    )
    out = np.where(valid & ok[:, :, None], n / np.maximum(norm, 1e-12), 0).astype(np.float32)
    # orient toward the camera
    flip = (out * points).sum(axis=2) > 0
    out[flip] *= -1
    return out
