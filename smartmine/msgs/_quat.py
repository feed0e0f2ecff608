"""Quaternion (x, y, z, w) <-> rotation matrix, and rigid-transform checks (private)."""

from __future__ import annotations

import math

import numpy as np

from smartmine.errors import ConversionError
from smartmine.msgs._util import F64Array

ORTHONORMAL_TOL = 1e-6


def quat_to_rotation(q_xyzw: F64Array, what: str) -> F64Array:
    """3x3 rotation of a quaternion (normalised first; zero/non-finite -> ConversionError)."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    norm = math.sqrt(float(q @ q))
    if not math.isfinite(norm) or norm == 0.0:
        raise ConversionError(
            f"{what} is not a rotation: quaternion (x, y, z, w) = {tuple(q.tolist())}"
        )
    x, y, z, w = (q / norm).tolist()
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    return np.array(
        [
            [1.0 - 2.0 * (yy + zz), 2.0 * (xy - wz), 2.0 * (xz + wy)],
            [2.0 * (xy + wz), 1.0 - 2.0 * (xx + zz), 2.0 * (yz - wx)],
            [2.0 * (xz - wy), 2.0 * (yz + wx), 1.0 - 2.0 * (xx + yy)],
        ]
    )


def rotation_to_quat(r: F64Array) -> F64Array:
    """Unit quaternion (x, y, z, w) with w >= 0 of a rotation matrix (Shepperd's method)."""
    m = np.asarray(r, dtype=np.float64)
    m00, m01, m02 = float(m[0, 0]), float(m[0, 1]), float(m[0, 2])
    m10, m11, m12 = float(m[1, 0]), float(m[1, 1]), float(m[1, 2])
    m20, m21, m22 = float(m[2, 0]), float(m[2, 1]), float(m[2, 2])
    trace = m00 + m11 + m22
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [(m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s, 0.25 * s]
    elif m00 > m11 and m00 > m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        q = [0.25 * s, (m01 + m10) / s, (m02 + m20) / s, (m21 - m12) / s]
    elif m11 > m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        q = [(m01 + m10) / s, 0.25 * s, (m12 + m21) / s, (m02 - m20) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
        q = [(m02 + m20) / s, (m12 + m21) / s, 0.25 * s, (m10 - m01) / s]
    out = np.array(q)
    out /= np.linalg.norm(out)
    if out[3] < 0.0:
        out = -out
    return out


def check_rigid(t: object, what: str) -> F64Array:
    """``t`` as a float64 4x4 rigid transform, or ConversionError saying what is wrong."""
    try:
        m = np.array(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConversionError(f"{what} is not a numeric 4x4 matrix") from None
    if m.shape != (4, 4):
        raise ConversionError(f"{what} has shape {m.shape}, expected (4, 4)")
    if not np.isfinite(m).all():
        raise ConversionError(f"{what} has non-finite values")
    if not np.array_equal(m[3], [0.0, 0.0, 0.0, 1.0]):
        raise ConversionError(f"{what} has bottom row {m[3].tolist()}, expected [0, 0, 0, 1]")
    r = m[:3, :3]
    err = float(np.abs(r.T @ r - np.eye(3)).max())
    if err > ORTHONORMAL_TOL or np.linalg.det(r) < 0.0:
        raise ConversionError(
            f"{what} rotation part is not a rotation (orthonormality error {err:.3g}, "
            f"det {np.linalg.det(r):.6g})"
        )
    return m
