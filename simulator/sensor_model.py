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

from simulator.compiled import NORMAL_TABLE, jit, normal_draw, uniform_draw
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
    key: np.uint64,
    noise_dn: float,
    table: F64Array,
    normal_table: F64Array,
    out: npt.NDArray[np.uint8],
) -> None:
    """sRGB curve (interpolated in ``table``) × 255, + read noise (draw i of stream
    ``key``) × noise_dn, rounded half to even, clipped to 8 bits."""
    steps = table.shape[0] - 1
    for i in range(lin.shape[0]):
        x = min(max(lin[i], 0.0), 1.0) * steps
        j = min(int(x), steps - 1)
        f = x - j
        s = table[j] + (table[j + 1] - table[j]) * f
        if noise_dn > 0:
            s += normal_draw(key, i, normal_table) * noise_dn
        v = np.rint(s)
        out[i] = np.uint8(min(max(v, 0.0), 255.0))


def sensor_rgb(lin: F64Array, cam: CameraConfig, key: int) -> npt.NDArray[np.uint8]:
    """8-bit sRGB of linear RGB with read noise of ``cam.noise_dn`` digital numbers.

    The noise of value i is draw i of the counter-based stream ``key``
    (:func:`simulator.compiled.normal_draw`: Gaussian truncated at ±4.33 σ, unit
    variance), drawn inline."""
    flat = np.ascontiguousarray(lin, dtype=np.float64).reshape(-1)
    out = np.empty(flat.shape, dtype=np.uint8)
    _sensor_rgb_kernel(flat, np.uint64(key), float(cam.noise_dn), _SRGB_TABLE, NORMAL_TABLE, out)
    return out.reshape(lin.shape)


@jit
def _depth_kernel(
    zz: F32Array,
    cos_view: F64Array,
    min_m: float,
    max_m: float,
    cos_limit: float,
    edge_rel: float,
    dropout: float,
    noise_c_per_m: float,
    key: np.uint64,
    normal_table: F64Array,
    millimetres: bool,
    out: npt.NDArray[np.generic],
) -> None:
    """The sensor's depth image in one pass: pixels the sensor reports are finite, in
    range, not grazing, not on a depth edge (a 4-neighbour jumps by more than
    ``edge_rel`` of the depth; a missing neighbour counts as a jump) and not dropped
    (uniform draw n + i below ``dropout``); they get z + N(0, 1)·c·z² (normal draw i),
    in mm rounded half to even and clipped to 16 bits into a uint16 ``out`` when
    ``millimetres``, in metres into a float32 ``out`` otherwise; the others 0 or NaN.
    The numpy statements' operations in their order (tests/test_simulator_kernels.py)."""
    h, w = zz.shape
    n = h * w
    for y in range(h):
        for x in range(w):
            z = np.float64(zz[y, x])
            i = y * w + x
            ok = np.isfinite(z) and z >= min_m and z <= max_m and cos_view[y, x] >= cos_limit
            if ok and edge_rel > 0:
                jump = 0.0
                for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    nb = np.float64(zz[min(max(ny, 0), h - 1), min(max(nx, 0), w - 1)])
                    diff = abs(nb - z)
                    jump = max(jump, diff if np.isfinite(diff) else np.inf)
                ok = not jump > edge_rel * z
            if ok:
                ok = not uniform_draw(key, n + i) < dropout
            if not ok:
                out[y, x] = 0 if millimetres else np.nan
                continue
            noisy = z + normal_draw(key, i, normal_table) * noise_c_per_m * (z * z)
            if millimetres:
                out[y, x] = np.rint(min(max(noisy * MM_PER_M, 0.0), UINT16_MAX))
            else:
                out[y, x] = noisy


def depth_image(
    z: F32Array, cos_view: F64Array, dc: DepthConfig, key: int
) -> npt.NDArray[np.generic]:
    """The published depth image of the true z-depth ``z`` (NaN where nothing was hit)
    and the |cos| of the viewing angle at every pixel. Pixel i's noise is draw i of the
    counter-based stream ``key`` (standard normal), its dropout draw n + i (uniform)."""
    out = np.empty(z.shape, dtype=np.uint16 if dc.encoding == "16UC1" else np.float32)
    _depth_kernel(
        np.ascontiguousarray(z, dtype=np.float32),
        np.ascontiguousarray(cos_view, dtype=np.float64),
        dc.min_range_m,
        dc.max_range_m,
        math.cos(math.radians(dc.grazing_limit_deg)),
        dc.edge_jump_rel,
        dc.dropout,
        dc.noise_c_per_m,
        np.uint64(key),
        NORMAL_TABLE,
        dc.encoding == "16UC1",
        out,
    )
    return out


_SRGB_TABLE = _srgb_table()
