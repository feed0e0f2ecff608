"""REP-103 frame conventions, in one place.

ROS (REP-103) uses ENU for the world (x east, y north, z up) and FLU for bodies (x forward,
y left, z up); PX4/MAVSDK use NED (x north, y east, z down) and FRD (x forward, y right,
z down). Cameras use the optical frame (z forward, x right, y down). Getting one of these
flips wrong mirrors a map or turns a drone the wrong way, so every conversion lives here.

Quaternions are in ROS order ``(x, y, z, w)``. MAVSDK's ``Quaternion(w, x, y, z)`` must be
reordered with :func:`smartmine.geometry.quat_wxyz_to_xyzw` first. Functions accept stacks
of vectors (``(..., 3)``) and quaternions (``(..., 4)``). The rotation maths itself
(quaternions, matrices, transforms) lives in :mod:`smartmine.geometry`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from smartmine.geometry import FloatArray, GeometryError, matrix_to_quat, quat_to_matrix

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
    "ned_to_enu",
    "quat_enu_flu_to_ned_frd",
    "quat_ned_frd_to_enu_flu",
]


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


def _vectors(value: npt.ArrayLike, what: str) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GeometryError(f"{what} must be numeric, got {value!r}") from exc
    if array.ndim < 1 or array.shape[-1] != 3:
        raise GeometryError(f"{what} must have shape (..., 3), got {array.shape}")
    return array


# --------------------------------------------------------------------------------------
# Frame conversions
# --------------------------------------------------------------------------------------


def ned_to_enu(v: npt.ArrayLike) -> FloatArray:
    """NED vectors ``(..., 3)`` (PX4 world) to ENU (ROS world)."""
    return _vectors(v, "NED vector") @ R_ENU_FROM_NED.T


def enu_to_ned(v: npt.ArrayLike) -> FloatArray:
    """ENU vectors ``(..., 3)`` (ROS world) to NED (PX4 world)."""
    return _vectors(v, "ENU vector") @ R_NED_FROM_ENU.T


def frd_to_flu(v: npt.ArrayLike) -> FloatArray:
    """FRD body vectors ``(..., 3)`` (PX4 body) to FLU (ROS body)."""
    return _vectors(v, "FRD vector") @ R_FLU_FROM_FRD.T


def flu_to_frd(v: npt.ArrayLike) -> FloatArray:
    """FLU body vectors ``(..., 3)`` (ROS body) to FRD (PX4 body)."""
    return _vectors(v, "FLU vector") @ R_FRD_FROM_FLU.T


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
