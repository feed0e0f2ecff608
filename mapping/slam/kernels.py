"""Compiled per-point loops (numba) of the tracker's hot path.

Each kernel does in one pass, without temporary arrays, what a chain of numpy
statements did (see the numpy reference beside each: ``odometry._icp_terms``,
``frame.normals_of_numpy``); tests/test_slam_speed.py checks them against it. Kernels are
sequential (the same sums in the same order on every run: offline results repeat
exactly), release the GIL (the back end runs in a thread beside tracking) and are
cached on disk after the first compilation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

_F = TypeVar("_F", bound=Callable[..., Any])

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]


def jit(fn: _F) -> _F:
    """``fn`` compiled by numba: nopython, GIL released, cached on disk where a cache
    folder is writable (else compiled in each process), IEEE maths."""
    try:
        return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return cast(_F, numba.njit(cache=False, nogil=True, error_model="numpy")(fn))


@jit
def clean_depth(depth: Any) -> Any:
    """Depth in metres with NaN, inf and non-positive values set to 0 (float32)."""
    h, w = depth.shape
    out = np.empty((h, w), np.float32)
    for r in range(h):
        for c in range(w):
            z = depth[r, c]
            out[r, c] = z if (z > 0 and z < np.inf) else 0.0
    return out


@jit
def level_points(depth: Any, factor: int, max_depth: float, fx: float, fy: float,
                 cx: float, cy: float) -> Any:  # fmt: skip
    """(H/f, W/f, 3) camera points of one depth pixel per f×f block (the block's
    centre pixel: no mixing across depth edges); depth at or beyond ``max_depth`` or
    missing gives zeros."""
    off = factor // 2
    h = (depth.shape[0] - off + factor - 1) // factor
    w = (depth.shape[1] - off + factor - 1) // factor
    out = np.zeros((h, w, 3), np.float32)
    for r in range(h):
        y = (np.float32(r) - np.float32(cy)) / np.float32(fy)
        for c in range(w):
            z = depth[off + r * factor, off + c * factor]
            if z > 0 and z < max_depth:
                out[r, c, 0] = (np.float32(c) - np.float32(cx)) / np.float32(fx) * z
                out[r, c, 1] = y * z
                out[r, c, 2] = z
    return out


@jit
def normals(points: Any) -> Any:
    """Unit normals from image-neighbour cross products, facing the camera; zeros at
    the border, where a neighbour lacks depth, or across a depth edge."""
    h, w, _ = points.shape
    out = np.zeros((h, w, 3), np.float32)
    for r in range(1, h - 1):
        for c in range(1, w - 1):
            z = points[r, c, 2]
            zl, zr = points[r, c - 1, 2], points[r, c + 1, 2]
            zu, zd = points[r - 1, c, 2], points[r + 1, c, 2]
            if z <= 0 or zl <= 0 or zr <= 0 or zu <= 0 or zd <= 0:
                continue
            gap = 0.1 * z + 0.05
            if abs(zr - zl) >= gap or abs(zd - zu) >= gap:
                continue
            ax = points[r, c + 1, 0] - points[r, c - 1, 0]
            ay = points[r, c + 1, 1] - points[r, c - 1, 1]
            az = zr - zl
            bx = points[r + 1, c, 0] - points[r - 1, c, 0]
            by = points[r + 1, c, 1] - points[r - 1, c, 1]
            bz = zd - zu
            nx = ay * bz - az * by
            ny = az * bx - ax * bz
            nz = ax * by - ay * bx
            norm = np.sqrt(nx * nx + ny * ny + nz * nz)
            if norm <= 1e-12:
                continue
            nx, ny, nz = nx / norm, ny / norm, nz / norm
            if nx * points[r, c, 0] + ny * points[r, c, 1] + nz * z > 0:
                nx, ny, nz = -nx, -ny, -nz
            out[r, c, 0] = nx
            out[r, c, 1] = ny
            out[r, c, 2] = nz
    return out


@jit
def valid_points(points: Any) -> Any:
    """(N, 3) the points of an (H, W, 3) image that have depth, in row order."""
    h, w, _ = points.shape
    n = 0
    for r in range(h):
        for c in range(w):
            if points[r, c, 2] > 0:
                n += 1
    out = np.empty((n, 3), np.float32)
    k = 0
    for r in range(h):
        for c in range(w):
            if points[r, c, 2] > 0:
                out[k, 0] = points[r, c, 0]
                out[k, 1] = points[r, c, 1]
                out[k, 2] = points[r, c, 2]
                k += 1
    return out


@jit
def icp_normal_equations(ref_pts: Any, ref_nrm: Any, cur_pts: Any, T: Any, fx: float,
                         fy: float, cx: float, cy: float, max_dist_m: float,
                         huber_m: float) -> Any:  # fmt: skip
    """Huber-weighted Gauss-Newton system of point-to-plane projective ICP at ``T``
    (= T_ref_cur): (H 6×6, g 6, pairs, sum of squared residuals). Rows and
    association as ``odometry._icp_terms``; rotation first, left perturbation."""
    H = np.zeros((6, 6))
    g = np.zeros(6)
    h, w, _ = ref_pts.shape
    pairs = 0
    sq = 0.0
    jac = np.empty(6)
    for k in range(cur_pts.shape[0]):
        px = np.float64(cur_pts[k, 0])
        py = np.float64(cur_pts[k, 1])
        pz = np.float64(cur_pts[k, 2])
        qx = T[0, 0] * px + T[0, 1] * py + T[0, 2] * pz + T[0, 3]
        qy = T[1, 0] * px + T[1, 1] * py + T[1, 2] * pz + T[1, 3]
        qz = T[2, 0] * px + T[2, 1] * py + T[2, 2] * pz + T[2, 3]
        if qz <= 1e-3:
            continue
        u = int(np.floor(qx / qz * fx + cx + 0.5))
        v = int(np.floor(qy / qz * fy + cy + 0.5))
        if u < 0 or u >= w or v < 0 or v >= h:
            continue
        tz = np.float64(ref_pts[v, u, 2])
        nx = np.float64(ref_nrm[v, u, 0])
        ny = np.float64(ref_nrm[v, u, 1])
        nz = np.float64(ref_nrm[v, u, 2])
        if tz <= 0 or (nx == 0 and ny == 0 and nz == 0):
            continue
        dx = qx - np.float64(ref_pts[v, u, 0])
        dy = qy - np.float64(ref_pts[v, u, 1])
        dz = qz - tz
        if dx * dx + dy * dy + dz * dz >= max_dist_m * max_dist_m:
            continue
        res = dx * nx + dy * ny + dz * nz
        jac[0] = qy * nz - qz * ny
        jac[1] = qz * nx - qx * nz
        jac[2] = qx * ny - qy * nx
        jac[3] = nx
        jac[4] = ny
        jac[5] = nz
        a = abs(res)
        wgt = 1.0 if a < huber_m else huber_m / max(a, 1e-12)
        for i in range(6):
            wj = wgt * jac[i]
            g[i] += wj * res
            for j in range(i, 6):
                H[i, j] += wj * jac[j]
        pairs += 1
        sq += res * res
    for i in range(6):
        for j in range(i):
            H[i, j] = H[j, i]
    return H, g, pairs, sq


_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@jit
def _popcount(x: Any) -> Any:
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


@jit
def guided_matches(ref_desc: Any, ref_pts: Any, cur_desc: Any, cur_px: Any, T: Any,
                   fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                   radius_px: float, ratio: float, max_distance: int) -> Any:  # fmt: skip
    """ORB matches (ref index, cur index) searched only near where each ref feature's
    3D point lands in the current image under ``T`` (= T_ref_cur): Lowe's ratio test
    within the window, best distance at most ``max_distance`` bits, and one ref per cur
    keypoint (the closest). Descriptors are (N, 4) uint64 views of ORB's 32 bytes."""
    cell = max(radius_px, 1.0)
    gw = int(width / cell) + 1
    gh = int(height / cell) + 1
    m = cur_px.shape[0]
    # bucket the current keypoints by grid cell (counting sort)
    cell_of = np.empty(m, np.int64)
    start = np.zeros(gw * gh + 1, np.int64)
    for j in range(m):
        gx = min(max(int(cur_px[j, 0] / cell), 0), gw - 1)
        gy = min(max(int(cur_px[j, 1] / cell), 0), gh - 1)
        cell_of[j] = gy * gw + gx
        start[cell_of[j] + 1] += 1
    for c in range(gw * gh):
        start[c + 1] += start[c]
    fill = start.copy()
    order = np.empty(m, np.int64)
    for j in range(m):
        order[fill[cell_of[j]]] = j
        fill[cell_of[j]] += 1
    best_ref = np.full(m, -1, np.int64)
    best_dist = np.full(m, 1 << 30, np.int64)
    R00, R01, R02 = T[0, 0], T[0, 1], T[0, 2]
    R10, R11, R12 = T[1, 0], T[1, 1], T[1, 2]
    R20, R21, R22 = T[2, 0], T[2, 1], T[2, 2]
    tx, ty, tz = T[0, 3], T[1, 3], T[2, 3]
    r2 = radius_px * radius_px
    for i in range(ref_pts.shape[0]):
        if not np.isfinite(ref_pts[i, 2]):
            continue
        px, py, pz = ref_pts[i, 0] - tx, ref_pts[i, 1] - ty, ref_pts[i, 2] - tz
        # R^T (p - t): the point in the current camera
        qx = R00 * px + R10 * py + R20 * pz
        qy = R01 * px + R11 * py + R21 * pz
        qz = R02 * px + R12 * py + R22 * pz
        if qz <= 1e-3:
            continue
        u = fx * qx / qz + cx
        v = fy * qy / qz + cy
        if u < -radius_px or u >= width + radius_px or v < -radius_px or v >= height + radius_px:
            continue
        first, second, arg = 1 << 30, 1 << 30, -1
        cx0 = min(max(int((u - radius_px) / cell), 0), gw - 1)
        cx1 = min(max(int((u + radius_px) / cell), 0), gw - 1)
        cy0 = min(max(int((v - radius_px) / cell), 0), gh - 1)
        cy1 = min(max(int((v + radius_px) / cell), 0), gh - 1)
        for gy in range(cy0, cy1 + 1):
            for gx in range(cx0, cx1 + 1):
                c = gy * gw + gx
                for k in range(start[c], start[c + 1]):
                    j = order[k]
                    du = cur_px[j, 0] - u
                    dv = cur_px[j, 1] - v
                    if du * du + dv * dv > r2:
                        continue
                    d = 0
                    for b in range(4):
                        d += int(_popcount(ref_desc[i, b] ^ cur_desc[j, b]))
                    if d < first:
                        second = first
                        first, arg = d, j
                    elif d < second:
                        second = d
        if arg < 0 or first > max_distance or first >= ratio * second:
            continue
        if first < best_dist[arg]:
            best_dist[arg] = first
            best_ref[arg] = i
    n = 0
    for j in range(m):
        if best_ref[j] >= 0:
            n += 1
    i_out = np.empty(n, np.int64)
    j_out = np.empty(n, np.int64)
    k = 0
    for j in range(m):
        if best_ref[j] >= 0:
            i_out[k] = best_ref[j]
            j_out[k] = j
            k += 1
    return i_out, j_out


@jit
def support_sums(ref_pts: Any, ref_gray: Any, cur_pts: Any, cur_gray: Any, T: Any,
                 fx: float, fy: float, cx: float, cy: float, agree_m: float,
                 agree_rel: float) -> Any:  # fmt: skip
    """One pass of ``odometry.support_of``: each current point (H, W, 3; z 0 = none)
    moved by ``T`` (= T_ref_cur) and projected into the reference (nearest pixel).
    Returns float64[8]: current points, those on reference depth, those agreeing in
    depth, and the sums x, y, xx, yy, xy of grey levels (x current, y reference) over
    the agreeing ones (for their correlation)."""
    out = np.zeros(8, np.float64)
    h, w = ref_pts.shape[0], ref_pts.shape[1]
    for r in range(cur_pts.shape[0]):
        for c in range(cur_pts.shape[1]):
            pz = cur_pts[r, c, 2]
            if pz <= 0:
                continue
            out[0] += 1
            px, py = cur_pts[r, c, 0], cur_pts[r, c, 1]
            qx = T[0, 0] * px + T[0, 1] * py + T[0, 2] * pz + T[0, 3]
            qy = T[1, 0] * px + T[1, 1] * py + T[1, 2] * pz + T[1, 3]
            qz = T[2, 0] * px + T[2, 1] * py + T[2, 2] * pz + T[2, 3]
            if qz <= 1e-3:
                continue
            u = np.round(qx / qz * fx + cx)
            v = np.round(qy / qz * fy + cy)
            if u < 0 or u >= w or v < 0 or v >= h:
                continue
            ui, vi = int(u), int(v)
            zr = ref_pts[vi, ui, 2]
            if zr <= 0:
                continue
            out[1] += 1
            if abs(zr - qz) >= agree_m + agree_rel * qz:
                continue
            out[2] += 1
            x = np.float64(cur_gray[r, c])
            y = np.float64(ref_gray[vi, ui])
            out[3] += x
            out[4] += y
            out[5] += x * x
            out[6] += y * y
            out[7] += x * y
    return out


def warm_up() -> None:
    """Compile (or load from the disk cache) every kernel now, on tiny inputs: a live
    node calls this before its first frame, which would otherwise wait ~2 s on an
    empty cache."""
    depth = clean_depth(np.ones((4, 4), np.float32))
    points = level_points(depth, 1, 10.0, 1.0, 1.0, 1.5, 1.5)
    nrm = normals(points)
    icp_normal_equations(points, nrm, valid_points(points), np.eye(4), 1.0, 1.0, 1.5, 1.5,
                         0.3, 0.02)  # fmt: skip
    desc = np.zeros((1, 4), np.uint64)
    guided_matches(desc, np.ones((1, 3)), desc, np.zeros((1, 2)), np.eye(4), 1.0, 1.0, 1.5,
                   1.5, 4, 4, 2.0, 0.8, 64)  # fmt: skip
    gray = np.zeros((4, 4), np.float32)
    support_sums(points, gray, points, gray, np.eye(4), 1.0, 1.0, 1.5, 1.5, 0.03, 0.03)
