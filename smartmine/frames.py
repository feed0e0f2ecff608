"""REP-103 frame conventions, in one place.

ROS (REP-103) uses ENU for the world (x east, y north, z up) and FLU for bodies (x forward,
y left, z up); PX4/MAVSDK use NED (x north, y east, z down) and FRD (x forward, y right,
z down). Cameras use the optical frame (z forward, x right, y down). Getting one of these
flips wrong mirrors a map or turns a drone the wrong way, so every conversion lives here.

Quaternions are in ROS order ``(x, y, z, w)``. MAVSDK's ``Quaternion(w, x, y, z)`` must be
reordered with :func:`quat_wxyz_to_xyzw` first. Functions accept stacks of vectors
(``(..., 3)``), quaternions (``(..., 4)``) and matrices (``(..., 3, 3)``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from smartmine.errors import GeodesyError

__all__ = [
    "R_BODY_FROM_OPTICAL",
    "R_ENU_FROM_NED",
    "R_FLU_FROM_FRD",
    "R_FRD_FROM_FLU",
    "R_NED_FROM_ENU",
    "R_OPTICAL_FROM_BODY",
    "enu_to_ned",
    "flu_to_frd",
    "frd_to_flu",
    "invert_transform",
    "make_transform",
    "matrix_to_quat",
    "ned_to_enu",
    "quat_enu_flu_to_ned_frd",
    "quat_ned_frd_to_enu_flu",
    "quat_to_matrix",
    "quat_wxyz_to_xyzw",
    "quat_xyzw_to_wxyz",
    "transform_points",
]

FloatArray = npt.NDArray[np.float64]

_ORTHONORMAL_TOL: Final = 1e-6


def _constant(rows: list[list[float]]) -> FloatArray:
    array = np.array(rows, dtype=np.float64)
    array.setflags(write=False)  # shared module constants must not be mutated in place
    return array


R_ENU_FROM_NED: Final[FloatArray] = _constant([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
"""Maps NED vectors to ENU (swap x/y, negate z). Its own inverse."""
R_NED_FROM_ENU: Final[FloatArray] = R_ENU_FROM_NED

R_FLU_FROM_FRD: Final[FloatArray] = _constant([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
"""Maps FRD body vectors to FLU (negate y and z). Its own inverse."""
R_FRD_FROM_FLU: Final[FloatArray] = R_FLU_FROM_FRD

R_BODY_FROM_OPTICAL: Final[FloatArray] = _constant(
    [[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]
)
"""Maps camera optical vectors (z forward, x right, y down) to the FLU body/camera link."""
R_OPTICAL_FROM_BODY: Final[FloatArray] = _constant(R_BODY_FROM_OPTICAL.T.tolist())


def _array(value: npt.ArrayLike, what: str, trailing: tuple[int, ...]) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GeodesyError(f"{what} must be numeric, got {value!r}") from exc
    if array.ndim < len(trailing) or array.shape[array.ndim - len(trailing) :] != trailing:
        raise GeodesyError(
            f"{what} must have shape (..., {', '.join(map(str, trailing))}), got {array.shape}"
        )
    return array


# --------------------------------------------------------------------------------------
# Quaternions and rigid transforms
# --------------------------------------------------------------------------------------


def quat_xyzw_to_wxyz(q: npt.ArrayLike) -> FloatArray:
    """ROS ``(x, y, z, w)`` to scalar-first ``(w, x, y, z)`` (MAVSDK, Eigen constructors)."""
    return np.roll(_array(q, "quaternion", (4,)), 1, axis=-1)


def quat_wxyz_to_xyzw(q: npt.ArrayLike) -> FloatArray:
    """Scalar-first ``(w, x, y, z)`` (MAVSDK) to ROS ``(x, y, z, w)``."""
    return np.roll(_array(q, "quaternion", (4,)), -1, axis=-1)


def quat_to_matrix(q: npt.ArrayLike) -> FloatArray:
    """Rotation matrix of a quaternion ``(x, y, z, w)``; normalised first (any length > 0)."""
    quat = _array(q, "quaternion", (4,))
    norm = np.linalg.norm(quat, axis=-1, keepdims=True)
    if np.any(~np.isfinite(norm)) or np.any(norm < 1e-12):
        raise GeodesyError("quaternion must be finite and non-zero")
    x, y, z, w = np.moveaxis(quat / norm, -1, 0)
    out = np.empty((*quat.shape[:-1], 3, 3), dtype=np.float64)
    out[..., 0, 0] = 1.0 - 2.0 * (y * y + z * z)
    out[..., 0, 1] = 2.0 * (x * y - z * w)
    out[..., 0, 2] = 2.0 * (x * z + y * w)
    out[..., 1, 0] = 2.0 * (x * y + z * w)
    out[..., 1, 1] = 1.0 - 2.0 * (x * x + z * z)
    out[..., 1, 2] = 2.0 * (y * z - x * w)
    out[..., 2, 0] = 2.0 * (x * z - y * w)
    out[..., 2, 1] = 2.0 * (y * z + x * w)
    out[..., 2, 2] = 1.0 - 2.0 * (x * x + y * y)
    return out


def _check_rotation(matrix: FloatArray, what: str) -> None:
    gram = np.swapaxes(matrix, -1, -2) @ matrix
    if not np.all(np.isfinite(matrix)) or np.max(np.abs(gram - np.eye(3))) > _ORTHONORMAL_TOL:
        raise GeodesyError(f"{what} is not orthonormal")
    if np.any(np.linalg.det(matrix) <= 0.0):
        raise GeodesyError(f"{what} is a reflection (det < 0), not a rotation")


def matrix_to_quat(r: npt.ArrayLike) -> FloatArray:
    """Quaternion ``(x, y, z, w)`` of a rotation matrix, normalised with ``w >= 0``.

    Shepperd's method: pick the largest of w, x, y, z to divide by, which stays accurate
    near 180-degree rotations where the trace formula loses precision.
    """
    matrix = _array(r, "rotation matrix", (3, 3))
    _check_rotation(matrix, "rotation matrix")
    m = matrix
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # 4*q_i^2 for i = x, y, z, w (from the diagonal); choose the largest per matrix.
    squares = np.stack(
        [
            1.0 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1.0 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1.0 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
            1.0 + trace,
        ],
        axis=-1,
    )
    best = np.argmax(squares, axis=-1)
    s = np.sqrt(np.maximum(np.take_along_axis(squares, best[..., None], -1)[..., 0], 0.0)) * 2.0
    # Off-diagonal sums/differences: 4*x*y etc.
    xy = m[..., 0, 1] + m[..., 1, 0]
    xz = m[..., 0, 2] + m[..., 2, 0]
    yz = m[..., 1, 2] + m[..., 2, 1]
    wx = m[..., 2, 1] - m[..., 1, 2]
    wy = m[..., 0, 2] - m[..., 2, 0]
    wz = m[..., 1, 0] - m[..., 0, 1]
    candidates = np.stack(
        [
            np.stack([s * s / 4.0, xy, xz, wx], axis=-1),
            np.stack([xy, s * s / 4.0, yz, wy], axis=-1),
            np.stack([xz, yz, s * s / 4.0, wz], axis=-1),
            np.stack([wx, wy, wz, s * s / 4.0], axis=-1),
        ],
        axis=-2,
    )
    quat = np.take_along_axis(candidates, best[..., None, None], -2)[..., 0, :] / s[..., None]
    quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
    quat *= np.where(quat[..., 3:4] < 0.0, -1.0, 1.0)
    return np.asarray(quat, dtype=np.float64)


def make_transform(r: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
    """4x4 homogeneous transform from a rotation matrix and a translation."""
    rotation = _array(r, "rotation matrix", (3, 3))
    translation = _array(t, "translation", (3,))
    if rotation.shape != (3, 3) or translation.shape != (3,):
        raise GeodesyError(
            "make_transform needs R (3, 3) and t (3,), "
            f"got {rotation.shape} and {translation.shape}"
        )
    _check_rotation(rotation, "rotation matrix")
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = translation
    return out


def _check_transform(transform: npt.ArrayLike) -> FloatArray:
    matrix = _array(transform, "transform", (4, 4))
    if matrix.shape != (4, 4):
        raise GeodesyError(f"transform must be 4x4, got {matrix.shape}")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise GeodesyError(f"transform's last row must be [0, 0, 0, 1], got {matrix[3]}")
    return matrix


def invert_transform(transform: npt.ArrayLike) -> FloatArray:
    """Inverse of a rigid 4x4 transform (R^T, -R^T t): exact, unlike a general inverse."""
    matrix = _check_transform(transform)
    rotation_t = matrix[:3, :3].T
    out = np.eye(4)
    out[:3, :3] = rotation_t
    out[:3, 3] = -rotation_t @ matrix[:3, 3]
    return out


def transform_points(transform: npt.ArrayLike, points: npt.ArrayLike) -> FloatArray:
    """Apply a 4x4 transform to points of shape ``(..., 3)``."""
    matrix = _check_transform(transform)
    pts = _array(points, "points", (3,))
    return np.asarray(pts @ matrix[:3, :3].T + matrix[:3, 3], dtype=np.float64)


# --------------------------------------------------------------------------------------
# Frame conversions
# --------------------------------------------------------------------------------------


def ned_to_enu(v: npt.ArrayLike) -> FloatArray:
    """NED vectors ``(..., 3)`` (PX4 world) to ENU (ROS world)."""
    return _array(v, "NED vector", (3,)) @ R_ENU_FROM_NED.T


def enu_to_ned(v: npt.ArrayLike) -> FloatArray:
    """ENU vectors ``(..., 3)`` (ROS world) to NED (PX4 world)."""
    return _array(v, "ENU vector", (3,)) @ R_NED_FROM_ENU.T


def frd_to_flu(v: npt.ArrayLike) -> FloatArray:
    """FRD body vectors ``(..., 3)`` (PX4 body) to FLU (ROS body)."""
    return _array(v, "FRD vector", (3,)) @ R_FLU_FROM_FRD.T


def flu_to_frd(v: npt.ArrayLike) -> FloatArray:
    """FLU body vectors ``(..., 3)`` (ROS body) to FRD (PX4 body)."""
    return _array(v, "FLU vector", (3,)) @ R_FRD_FROM_FLU.T


def quat_ned_frd_to_enu_flu(q: npt.ArrayLike) -> FloatArray:
    """PX4 attitude (FRD body in NED world) to ROS attitude (FLU body in ENU world).

    Both in ``(x, y, z, w)`` order. A PX4 heading of 90 deg (facing east) becomes a ROS yaw
    of 0 deg (facing +x = east).
    """
    r_ned_frd = quat_to_matrix(q)
    return matrix_to_quat(R_ENU_FROM_NED @ r_ned_frd @ R_FRD_FROM_FLU)


def quat_enu_flu_to_ned_frd(q: npt.ArrayLike) -> FloatArray:
    """ROS attitude (FLU body in ENU world) to PX4 attitude (FRD body in NED world)."""
    r_enu_flu = quat_to_matrix(q)
    return matrix_to_quat(R_NED_FROM_ENU @ r_enu_flu @ R_FLU_FROM_FRD)
