"""The sensor stage: what the colour and depth sensors make of the rendered scene.

- :func:`sensor_rgb` — sRGB encoding, Gaussian read noise, 8-bit quantisation;
- :func:`depth_image` — the RealSense-like depth model on the true z-depth: range
  limits, grazing incidence, depth edges and random dropout invalidate pixels, noise
  grows as ``sigma_z = c·z²``; 16UC1 millimetres (0 = invalid) or 32FC1 metres (NaN).

Random draws come from numpy generators seeded per frame (see :mod:`simulator.render`);
the per-pixel logic runs compiled with the operations of the numpy statement it
replaced, in order, so the bytes are the same.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from simulator.compiled import jit
from simulator.config import CameraConfig, DepthConfig

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]

MM_PER_M = 1000.0
UINT16_MAX = 65535.0


def srgb_encode(linear: F64Array) -> F64Array:
    """Linear [0, 1] to the sRGB transfer curve."""
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


SRGB_TABLE_STEPS = 65536
"""The sRGB curve (× 255) is tabulated at this many steps over [0, 1] and interpolated
linearly: at most 1.3e-4 DN from the exact curve (where it bends most, at the linear
segment's end), against 1.5 DN of read noise and the 1 DN quantum."""


def _srgb_table() -> F64Array:
    c = np.arange(SRGB_TABLE_STEPS + 1) / SRGB_TABLE_STEPS
    return np.asarray(srgb_encode(c) * 255.0)


@jit
def _sensor_rgb_kernel(
    lin: F64Array,
    noise: F32Array,
    noise_dn: float,
    table: F64Array,
    out: npt.NDArray[np.uint8],
) -> None:
    """sRGB curve (interpolated in ``table``) × 255, + noise × noise_dn, rounded half
    to even, clipped to 8 bits."""
    steps = table.shape[0] - 1
    for i in range(lin.shape[0]):
        x = min(max(lin[i], 0.0), 1.0) * steps
        j = min(int(x), steps - 1)
        f = x - j
        s = table[j] + (table[j + 1] - table[j]) * f
        v = np.rint(s + np.float64(noise[i]) * noise_dn)
        out[i] = np.uint8(min(max(v, 0.0), 255.0))


def sensor_rgb(lin: F64Array, cam: CameraConfig, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """8-bit sRGB of linear RGB with read noise of ``cam.noise_dn`` digital numbers.

    The standard normal draws are single precision (half the cost of double; the
    difference is far below the 1 DN quantum: at most 1 DN where a value sits on a
    rounding boundary, statistically the same noise)."""
    flat = np.ascontiguousarray(lin, dtype=np.float64).reshape(-1)
    if cam.noise_dn > 0:
        noise = rng.standard_normal(flat.shape, dtype=np.float32)
    else:
        noise = np.zeros(flat.shape, dtype=np.float32)
    out = np.empty(flat.shape, dtype=np.uint8)
    _sensor_rgb_kernel(flat, noise, float(cam.noise_dn), _SRGB_TABLE, out)
    return out.reshape(lin.shape)


@jit
def _depth_valid_kernel(
    zz: F64Array,
    cos_view: F64Array,
    min_m: float,
    max_m: float,
    cos_limit: float,
    edge_rel: float,
    drop: npt.NDArray[np.bool_],
    valid: npt.NDArray[np.bool_],
) -> None:
    """Pixels the sensor reports: finite, in range, not grazing, not on a depth edge
    (a 4-neighbour jumps by more than ``edge_rel`` of the depth; a missing neighbour
    counts as a jump), not dropped."""
    h, w = zz.shape
    for y in range(h):
        for x in range(w):
            z = zz[y, x]
            ok = np.isfinite(z) and z >= min_m and z <= max_m and cos_view[y, x] >= cos_limit
            if ok and edge_rel > 0:
                jump = 0.0
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    nb = zz[min(max(ny, 0), h - 1), min(max(nx, 0), w - 1)]
                    diff = abs(nb - z)
                    jump = max(jump, diff if np.isfinite(diff) else np.inf)
                ok = not jump > edge_rel * z
            valid[y, x] = ok and not drop[y, x]


def depth_image(
    z: F32Array, cos_view: F64Array, dc: DepthConfig, rng: np.random.Generator
) -> npt.NDArray[np.generic]:
    """The published depth image of the true z-depth ``z`` (NaN where nothing was hit)
    and the |cos| of the viewing angle at every pixel."""
    zz = z.astype(np.float64)
    # single-precision draws (half the cost; the noise is c·z² ≤ a few mm, its float32
    # rounding ~1e-7 of that; the dropout threshold is compared in float32)
    noise = rng.standard_normal(zz.shape, dtype=np.float32)
    drop = rng.random(zz.shape, dtype=np.float32) < np.float32(dc.dropout)
    valid = np.empty(zz.shape, dtype=bool)
    cos_limit = math.cos(math.radians(dc.grazing_limit_deg))
    _depth_valid_kernel(
        zz, cos_view, dc.min_range_m, dc.max_range_m, cos_limit, dc.edge_jump_rel, drop, valid
    )
    noisy = zz + noise * dc.noise_c_per_m * np.nan_to_num(zz) ** 2
    if dc.encoding == "16UC1":
        mm = np.rint(np.clip(np.nan_to_num(noisy) * MM_PER_M, 0, UINT16_MAX))
        return np.where(valid, mm, 0).astype(np.uint16)
    return np.where(valid, noisy, np.nan).astype(np.float32)


_SRGB_TABLE = _srgb_table()
