"""Rotations, rigid (SE(3)) and similarity (Sim(3)) transforms: the one place for this maths.

Everything rests on :class:`scipy.spatial.transform.Rotation`; this module adds the
conventions of the stack and the checks that turn bad input into :class:`RotationError`:

- quaternions are in ROS order ``(x, y, z, w)`` (scipy's order too); MAVSDK's
  ``Quaternion(w, x, y, z)`` is converted with :func:`quat_wxyz_to_xyzw`;
- rotation matrices map vectors of the child frame into the parent frame
  (``v_parent = R @ v_child``), and a 4x4 transform ``T_parent_child`` maps points likewise;
- Euler angles follow scipy: lowercase axes are extrinsic (``"xyz"``: roll about x, then
  pitch about y, then yaw about z of the fixed frame = ROS ``rpy``), uppercase intrinsic;
- every function takes stacks: quaternions ``(..., 4)``, matrices ``(..., 3, 3)``,
  points ``(..., 3)``.

The similarity fit (:func:`fit_similarity`) is Umeyama's least squares with optional
weights, wrapped in RANSAC when outliers are expected (GCP blunders, misdetected markers),
and returns the residual of every point so the caller can report them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from smartmine.errors import SmartmineError

__all__ = [
    "FloatArray",
    "GeometryError",
    "RansacOptions",
    "RotationError",
    "Similarity",
    "SimilarityFit",
    "angle_between",
    "axis_angle_to_matrix",
    "check_rotation",
    "check_transform",
    "compose",
    "euler_to_matrix",
    "fit_similarity",
    "interpolate_transforms",
    "invert_transform",
    "make_transform",
    "matrix_to_euler",
    "matrix_to_quat",
    "matrix_to_rotvec",
    "quat_to_matrix",
    "quat_wxyz_to_xyzw",
    "quat_xyzw_to_wxyz",
    "rot_x",
    "rot_y",
    "rot_z",
    "rotation_angle",
    "rotvec_to_matrix",
    "transform_from_quat",
    "transform_from_twist",
    "transform_points",
    "transform_to_quat",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ORTHONORMAL_TOL: Final = 1e-6
"""Largest |R^T R - I| accepted as a rotation (float32 round trips stay well inside)."""
_MIN_QUAT_NORM: Final = 1e-12
_DEGENERATE_RATIO: Final = 1e-9
"""A point set whose spread along its weakest needed axis is below this fraction of its
largest spread does not determine a fit (coincident or collinear points)."""


class GeometryError(SmartmineError):
    """Points, weights or options given to a geometric computation are unusable."""


class RotationError(GeometryError):
    """A quaternion, matrix or transform is not a rotation (zero, non-finite, reflected...)."""


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _array(value: npt.ArrayLike, what: str, trailing: tuple[int, ...]) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RotationError(f"{what} must be numeric, got {value!r}") from exc
    if array.ndim < len(trailing) or array.shape[array.ndim - len(trailing) :] != trailing:
        raise RotationError(
            f"{what} must have shape (..., {', '.join(map(str, trailing))}), got {array.shape}"
        )
    return array


def check_rotation(r: npt.ArrayLike, what: str = "rotation matrix") -> FloatArray:
    """``r`` as float64 ``(..., 3, 3)`` proper rotations, or :class:`RotationError`."""
    matrix = _array(r, what, (3, 3))
    if not np.all(np.isfinite(matrix)):
        raise RotationError(f"{what} has non-finite values")
    gram = np.swapaxes(matrix, -1, -2) @ matrix
    error = float(np.max(np.abs(gram - np.eye(3)))) if matrix.size else 0.0
    if error > ORTHONORMAL_TOL:
        raise RotationError(f"{what} is not orthonormal (|R^T R - I| = {error:.3g})")
    if np.any(np.linalg.det(matrix) <= 0.0):
        raise RotationError(f"{what} is a reflection (det < 0), not a rotation")
    return matrix


def _rotation_of_quat(q: npt.ArrayLike, what: str) -> Rotation:
    quat = _array(q, what, (4,))
    norm = np.linalg.norm(quat, axis=-1)
    if np.any(~np.isfinite(norm)) or np.any(norm < _MIN_QUAT_NORM):
        raise RotationError(
            f"{what} must be finite and non-zero, got (x, y, z, w) = {quat.tolist()}"
        )
    return Rotation.from_quat(quat)


# --------------------------------------------------------------------------------------
# Quaternions
# --------------------------------------------------------------------------------------


def quat_xyzw_to_wxyz(q: npt.ArrayLike) -> FloatArray:
    """ROS ``(x, y, z, w)`` to scalar-first ``(w, x, y, z)`` (MAVSDK, Eigen constructors)."""
    return np.roll(_array(q, "quaternion", (4,)), 1, axis=-1)


def quat_wxyz_to_xyzw(q: npt.ArrayLike) -> FloatArray:
    """Scalar-first ``(w, x, y, z)`` (MAVSDK) to ROS ``(x, y, z, w)``."""
    return np.roll(_array(q, "quaternion", (4,)), -1, axis=-1)


def quat_to_matrix(q: npt.ArrayLike, what: str = "quaternion") -> FloatArray:
    """Rotation matrices ``(..., 3, 3)`` of quaternions ``(..., 4)`` (normalised first)."""
    quat = _array(q, what, (4,))
    flat = _rotation_of_quat(quat.reshape(-1, 4), what).as_matrix()
    return np.asarray(flat.reshape(*quat.shape[:-1], 3, 3), dtype=np.float64)


def matrix_to_quat(r: npt.ArrayLike, what: str = "rotation matrix") -> FloatArray:
    """Unit quaternions ``(..., 4)`` ``(x, y, z, w)`` with ``w >= 0`` of rotation matrices."""
    matrix = check_rotation(r, what)
    quat = Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_quat(canonical=False)
    quat *= np.where(quat[:, 3:4] < 0.0, -1.0, 1.0)
    return np.asarray(quat.reshape(*matrix.shape[:-2], 4), dtype=np.float64)


# --------------------------------------------------------------------------------------
# Euler angles, axis-angle, angles between rotations
# --------------------------------------------------------------------------------------


def euler_to_matrix(
    angles: npt.ArrayLike, seq: str = "xyz", *, degrees: bool = False
) -> FloatArray:
    """Rotation matrices of Euler angles ``(..., len(seq))`` (scipy's ``seq`` rules)."""
    values = np.asarray(angles, dtype=np.float64)
    if values.shape[-1:] != (len(seq),) or not np.all(np.isfinite(values)):
        raise RotationError(
            f"Euler angles for {seq!r} must be finite with shape (..., {len(seq)}), "
            f"got {values.shape}"
        )
    try:
        rotation = Rotation.from_euler(seq, values.reshape(-1, len(seq)), degrees=degrees)
    except ValueError as exc:
        raise RotationError(f"Euler sequence {seq!r}: {exc}") from exc
    return np.asarray(rotation.as_matrix().reshape(*values.shape[:-1], 3, 3), dtype=np.float64)


def matrix_to_euler(r: npt.ArrayLike, seq: str = "xyz", *, degrees: bool = False) -> FloatArray:
    """Euler angles ``(..., 3)`` of rotation matrices (gimbal lock: scipy's convention)."""
    matrix = check_rotation(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # gimbal lock: angles still valid
        try:
            angles = Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_euler(seq, degrees=degrees)
        except ValueError as exc:
            raise RotationError(f"Euler sequence {seq!r}: {exc}") from exc
    return np.asarray(angles.reshape(*matrix.shape[:-2], 3), dtype=np.float64)


def rotvec_to_matrix(v: npt.ArrayLike) -> FloatArray:
    """Rotation matrices of rotation vectors ``(..., 3)`` (axis times angle in radians)."""
    vectors = _array(v, "rotation vector", (3,))
    if not np.all(np.isfinite(vectors)):
        raise RotationError("rotation vector has non-finite values")
    flat = Rotation.from_rotvec(vectors.reshape(-1, 3)).as_matrix()
    return np.asarray(flat.reshape(*vectors.shape[:-1], 3, 3), dtype=np.float64)


def transform_from_twist(twist: npt.ArrayLike) -> FloatArray:
    """4x4 of a small increment ``[w, v]`` (rotation vector first, then translation): the
    update step of Gauss-Newton pose solvers. First order in the translation (``v`` taken
    as is, not the SE(3) exponential's ``V v``), which is what such small steps need."""
    step = _array(twist, "twist", (6,))
    if step.shape != (6,):
        raise RotationError(f"twist must have shape (6,), got {step.shape}")
    out = np.eye(4)
    out[:3, :3] = rotvec_to_matrix(step[:3])
    out[:3, 3] = step[3:]
    return out


def matrix_to_rotvec(r: npt.ArrayLike) -> FloatArray:
    """Rotation vectors ``(..., 3)`` (angle in [0, pi] times unit axis) of matrices."""
    matrix = check_rotation(r)
    flat = Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_rotvec()
    return np.asarray(flat.reshape(*matrix.shape[:-2], 3), dtype=np.float64)


def axis_angle_to_matrix(axis: npt.ArrayLike, angle_rad: npt.ArrayLike) -> FloatArray:
    """Rotation by ``angle_rad`` about ``axis`` (any non-zero length), right-handed."""
    axes = _array(axis, "rotation axis", (3,))
    norm = np.linalg.norm(axes, axis=-1, keepdims=True)
    if np.any(~np.isfinite(norm)) or np.any(norm < _MIN_QUAT_NORM):
        raise RotationError(f"rotation axis must be finite and non-zero, got {axes.tolist()}")
    angles = np.asarray(angle_rad, dtype=np.float64)[..., None]
    return rotvec_to_matrix(axes / norm * angles)


def _axis_rotation(angle_rad: npt.ArrayLike, axis: int) -> FloatArray:
    """Closed-form rotations about one coordinate axis (exact at multiples of 90 deg)."""
    angles = np.asarray(angle_rad, dtype=np.float64)
    if not np.all(np.isfinite(angles)):
        raise RotationError("rotation angle must be finite")
    c, s = np.cos(angles), np.sin(angles)
    out = np.zeros((*angles.shape, 3, 3))
    i, j = [k for k in range(3) if k != axis]
    out[..., axis, axis] = 1.0
    out[..., i, i], out[..., i, j] = c, -s
    out[..., j, i], out[..., j, j] = s, c
    if axis == 1:  # about y the cyclic order is (z, x): flip the sines of (x, z)
        out[..., i, j], out[..., j, i] = s, -s
    return out


def rot_x(angle_rad: npt.ArrayLike) -> FloatArray:
    """Rotation(s) about +x by ``angle_rad`` (right-handed), shape ``(..., 3, 3)``."""
    return _axis_rotation(angle_rad, 0)


def rot_y(angle_rad: npt.ArrayLike) -> FloatArray:
    """Rotation(s) about +y by ``angle_rad`` (right-handed): +x tips towards -z."""
    return _axis_rotation(angle_rad, 1)


def rot_z(angle_rad: npt.ArrayLike) -> FloatArray:
    """Rotation(s) about +z by ``angle_rad`` (yaw, counter-clockwise seen from above)."""
    return _axis_rotation(angle_rad, 2)


def rotation_angle(r: npt.ArrayLike) -> FloatArray | float:
    """Angle of rotation(s) in radians, in ``[0, pi]`` (a float for a single matrix)."""
    matrix = check_rotation(r)
    angles = Rotation.from_matrix(matrix.reshape(-1, 3, 3)).magnitude()
    if matrix.ndim == 2:
        return float(angles[0])
    return np.asarray(angles.reshape(matrix.shape[:-2]), dtype=np.float64)


def angle_between(r_a: npt.ArrayLike, r_b: npt.ArrayLike) -> FloatArray | float:
    """Angle in radians of the rotation taking ``r_a`` to ``r_b`` (``r_a^T r_b``)."""
    a = check_rotation(r_a, "first rotation")
    b = check_rotation(r_b, "second rotation")
    return rotation_angle(np.swapaxes(a, -1, -2) @ b)


# --------------------------------------------------------------------------------------
# Rigid transforms, SE(3) as 4x4 matrices
# --------------------------------------------------------------------------------------


def make_transform(r: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
    """4x4 homogeneous transform from a rotation matrix and a translation ``(3,)``."""
    rotation = check_rotation(r)
    translation = _array(t, "translation", (3,))
    if rotation.shape != (3, 3) or translation.shape != (3,):
        raise RotationError(
            "make_transform needs R (3, 3) and t (3,), "
            f"got {rotation.shape} and {translation.shape}"
        )
    if not np.all(np.isfinite(translation)):
        raise RotationError("translation has non-finite values")
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = translation
    return out


def check_transform(transform: npt.ArrayLike, what: str = "transform") -> FloatArray:
    """``transform`` as a float64 rigid 4x4 matrix, or :class:`RotationError` saying why."""
    try:
        matrix = np.asarray(transform, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RotationError(f"{what} is not a numeric 4x4 matrix") from exc
    if matrix.shape != (4, 4):
        raise RotationError(f"{what} has shape {matrix.shape}, expected (4, 4)")
    if not np.all(np.isfinite(matrix)):
        raise RotationError(f"{what} has non-finite values")
    if not np.array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise RotationError(f"{what}'s last row must be [0, 0, 0, 1], got {matrix[3].tolist()}")
    check_rotation(matrix[:3, :3], f"{what} rotation part")
    return matrix


def invert_transform(transform: npt.ArrayLike) -> FloatArray:
    """Inverse of a rigid 4x4 transform (R^T, -R^T t): exact, unlike a general inverse."""
    matrix = check_transform(transform)
    rotation_t = matrix[:3, :3].T
    out = np.eye(4)
    out[:3, :3] = rotation_t
    out[:3, 3] = -rotation_t @ matrix[:3, 3]
    return out


def compose(*transforms: npt.ArrayLike) -> FloatArray:
    """Product ``T1 @ T2 @ ...`` of rigid 4x4 transforms (``T_a_b @ T_b_c = T_a_c``)."""
    out = np.eye(4)
    for index, transform in enumerate(transforms):
        out = out @ check_transform(transform, f"transform {index}")
    return out


def transform_points(transform: npt.ArrayLike, points: npt.ArrayLike) -> FloatArray:
    """Apply a rigid 4x4 transform to points ``(..., 3)``."""
    matrix = check_transform(transform)
    pts = _array(points, "points", (3,))
    return np.asarray(pts @ matrix[:3, :3].T + matrix[:3, 3], dtype=np.float64)


def transform_from_quat(t: npt.ArrayLike, q_xyzw: npt.ArrayLike) -> FloatArray:
    """4x4 transform from a translation ``(3,)`` and a ROS quaternion ``(x, y, z, w)``."""
    return make_transform(quat_to_matrix(q_xyzw), t)


def transform_to_quat(transform: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """``(translation (3,), quaternion (x, y, z, w))`` of a rigid 4x4 transform."""
    matrix = check_transform(transform)
    return matrix[:3, 3].copy(), matrix_to_quat(matrix[:3, :3])


def interpolate_transforms(
    stamps: npt.ArrayLike, transforms: npt.ArrayLike, query: npt.ArrayLike
) -> FloatArray:
    """Rigid 4x4 transforms ``(m, 4, 4)`` at ``query`` times from a sorted series
    ``(n, 4, 4)`` at ``stamps`` (any one unit): translation linear, rotation by slerp
    between the two neighbours. Queries outside ``[stamps[0], stamps[-1]]`` raise
    :class:`GeometryError` (no extrapolation: a pose matched to a time the series does
    not cover would be invented)."""
    times = np.asarray(stamps, dtype=np.float64).reshape(-1)
    poses = np.asarray(transforms, dtype=np.float64).reshape(-1, 4, 4)
    at = np.asarray(query, dtype=np.float64).reshape(-1)
    if len(times) != len(poses) or len(times) == 0:
        raise GeometryError(f"{len(times)} stamps for {len(poses)} transforms")
    if np.any(np.diff(times) < 0):
        raise GeometryError("interpolate_transforms: stamps are not sorted")
    if at.size and (at.min() < times[0] or at.max() > times[-1]):
        raise GeometryError(
            f"interpolate_transforms: query {at.min()}..{at.max()} outside the series "
            f"{times[0]}..{times[-1]}"
        )
    hi = np.clip(np.searchsorted(times, at, side="left"), 1, max(1, len(times) - 1))
    lo = hi - 1 if len(times) > 1 else hi * 0
    hi = np.minimum(hi, len(times) - 1)
    span = times[hi] - times[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(span > 0, (at - times[lo]) / np.where(span > 0, span, 1.0), 0.0)
    r_lo = Rotation.from_matrix(poses[lo, :3, :3])
    r_hi = Rotation.from_matrix(poses[hi, :3, :3])
    delta = (r_lo.inv() * r_hi).as_rotvec()
    rotation = r_lo * Rotation.from_rotvec(delta * frac[:, None])
    out = np.tile(np.eye(4), (len(at), 1, 1))
    out[:, :3, :3] = rotation.as_matrix()
    out[:, :3, 3] = poses[lo, :3, 3] + frac[:, None] * (poses[hi, :3, 3] - poses[lo, :3, 3])
    return out


# --------------------------------------------------------------------------------------
# Similarity transforms, Sim(3) (and Sim(2) for horizontal fits)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Similarity:
    """``x -> scale * rotation @ x + translation`` in 2 or 3 dimensions."""

    scale: float
    rotation: FloatArray
    translation: FloatArray

    def __post_init__(self) -> None:
        rotation = np.array(self.rotation, dtype=np.float64)
        translation = np.array(self.translation, dtype=np.float64).reshape(-1)
        dim = translation.shape[0]
        if dim not in (2, 3) or rotation.shape != (dim, dim):
            raise GeometryError(
                f"similarity needs a (d, d) rotation and (d,) translation with d = 2 or 3, "
                f"got {rotation.shape} and {translation.shape}"
            )
        if not (math.isfinite(self.scale) and self.scale > 0.0):
            raise GeometryError(f"similarity scale must be finite and > 0, got {self.scale}")
        if dim == 3:
            check_rotation(rotation, "similarity rotation")
        elif (
            float(np.max(np.abs(rotation.T @ rotation - np.eye(2)))) > ORTHONORMAL_TOL
            or float(np.linalg.det(rotation)) <= 0.0
        ):
            raise RotationError("similarity rotation (2D) is not a rotation")
        rotation.setflags(write=False)
        translation.setflags(write=False)
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation", translation)

    @property
    def dim(self) -> int:
        """2 or 3."""
        return int(self.translation.shape[0])

    @classmethod
    def identity(cls, dim: int = 3) -> Similarity:
        """The transform that changes nothing."""
        return cls(1.0, np.eye(dim), np.zeros(dim))

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike) -> Similarity:
        """From a homogeneous ``(d+1, d+1)`` matrix ``[[sR, t], [0, 1]]``."""
        m = np.asarray(matrix, dtype=np.float64)
        dim = m.shape[0] - 1
        if m.shape != (dim + 1, dim + 1) or dim not in (2, 3):
            raise GeometryError(f"similarity matrix must be 3x3 or 4x4, got {m.shape}")
        scaled = m[:dim, :dim]
        scale = float(
            np.cbrt(np.linalg.det(scaled)) if dim == 3 else np.sqrt(np.linalg.det(scaled))
        )
        if not scale > 0.0:
            raise RotationError("similarity matrix has a non-positive determinant")
        return cls(scale, scaled / scale, m[:dim, dim])

    def matrix(self) -> FloatArray:
        """Homogeneous ``(d+1, d+1)`` matrix ``[[s R, t], [0, 1]]``."""
        out = np.eye(self.dim + 1)
        out[: self.dim, : self.dim] = self.scale * self.rotation
        out[: self.dim, self.dim] = self.translation
        return out

    def apply(self, points: npt.ArrayLike) -> FloatArray:
        """Transform points ``(..., d)``."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.shape[-1:] != (self.dim,):
            raise GeometryError(f"points must have shape (..., {self.dim}), got {pts.shape}")
        return np.asarray(self.scale * pts @ self.rotation.T + self.translation, np.float64)

    def inverse(self) -> Similarity:
        """``x -> (R^T (x - t)) / s``."""
        rotation_t = self.rotation.T
        return Similarity(
            1.0 / self.scale, rotation_t, -(rotation_t @ self.translation) / self.scale
        )

    def compose(self, other: Similarity) -> Similarity:
        """``self ∘ other``: apply ``other`` first, then ``self``."""
        if other.dim != self.dim:
            raise GeometryError(f"cannot compose a Sim({self.dim}) with a Sim({other.dim})")
        return Similarity(
            self.scale * other.scale,
            self.rotation @ other.rotation,
            self.scale * self.rotation @ other.translation + self.translation,
        )

    def apply_to_pose(self, transform: npt.ArrayLike) -> FloatArray:
        """Move a rigid pose ``T_src_body`` (4x4) into the target frame; scale moves position."""
        if self.dim != 3:
            raise GeometryError("apply_to_pose needs a Sim(3)")
        matrix = check_transform(transform, "pose")
        out = np.eye(4)
        out[:3, :3] = self.rotation @ matrix[:3, :3]
        out[:3, 3] = self.apply(matrix[:3, 3])
        return out


@dataclass(frozen=True)
class RansacOptions:
    """RANSAC around the similarity fit: inliers are points with residual <= threshold."""

    inlier_threshold: float
    """In the units of the points (metres for survey data)."""
    max_iterations: int = 1000
    seed: int = 0
    min_inliers: int = 0
    """Fewest inliers accepted (0: the minimal sample size)."""


@dataclass(frozen=True, eq=False)
class SimilarityFit:
    """Result of :func:`fit_similarity`."""

    transform: Similarity
    residuals: FloatArray = field(repr=False)
    """(N, d): ``dst - transform(src)`` for every point, inlier or not."""
    inliers: BoolArray = field(repr=False)
    """(N,): the points the final fit used (all of them without RANSAC)."""
    rms: float
    """RMS of the residual lengths over the inliers."""

    @property
    def residual_norms(self) -> FloatArray:
        """(N,) residual length per point."""
        return np.asarray(np.linalg.norm(self.residuals, axis=1), dtype=np.float64)

    @property
    def max_residual(self) -> float:
        """Largest residual length over the inliers; one blunder shows here first."""
        norms = self.residual_norms[self.inliers]
        return float(norms.max()) if norms.size else 0.0


def _fit_points(value: npt.ArrayLike, what: str) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] not in (2, 3):
        raise GeometryError(f"{what} must have shape (N, 2) or (N, 3), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise GeometryError(f"{what} has non-finite values")
    return array


def _umeyama(
    src: FloatArray, dst: FloatArray, weights: FloatArray, with_scale: bool, centre: bool = True
) -> Similarity:
    """Weighted Umeyama (1991): least-squares similarity with a proper rotation.

    ``centre=False`` fits no translation (Kabsch/Wahba on direction vectors).
    """
    dim = src.shape[1]
    w = weights / weights.sum()
    mu_src, mu_dst = (w @ src, w @ dst) if centre else (np.zeros(dim), np.zeros(dim))
    src_c, dst_c = src - mu_src, dst - mu_dst
    need = dim - 1  # points must span a line (2D) or a plane (3D)
    for centred, name in ((src_c, "source points"), (dst_c, "target points")):
        spread = np.linalg.svd(centred * np.sqrt(w)[:, None], compute_uv=False)
        if spread.size < need or spread[need - 1] <= _DEGENERATE_RATIO * max(spread[0], 1e-300):
            shape = "coincident" if spread[0] <= 1e-12 else "collinear"
            raise GeometryError(f"{name} are {shape}; the similarity is not determined")
    covariance = (dst_c * w[:, None]).T @ src_c
    u, singular, vt = np.linalg.svd(covariance)
    d = np.ones(dim)
    if np.linalg.det(u) * np.linalg.det(vt) < 0.0:
        d[-1] = -1.0  # the best orthogonal matrix is a reflection: flip the weakest axis
    rotation = (u * d) @ vt
    variance_src = float(w @ np.sum(src_c**2, axis=1))
    scale = float(np.sum(singular * d) / variance_src) if with_scale else 1.0
    return Similarity(scale, rotation, mu_dst - scale * rotation @ mu_src)


def _ransac(
    src: FloatArray,
    dst: FloatArray,
    weights: FloatArray,
    with_scale: bool,
    centre: bool,
    opts: RansacOptions,
) -> BoolArray:
    """Inlier mask of the best minimal-sample hypothesis (most inliers, then lowest cost)."""
    count, dim = src.shape
    sample_size = dim  # 2 points fix a Sim(2), 3 non-collinear a Sim(3)
    rng = np.random.default_rng(opts.seed)
    best_mask = np.zeros(count, dtype=bool)
    best_key = (-1, math.inf)
    for _ in range(opts.max_iterations):
        sample = rng.choice(count, size=sample_size, replace=False)
        try:
            hypothesis = _umeyama(src[sample], dst[sample], weights[sample], with_scale, centre)
        except GeometryError:
            continue  # degenerate sample
        errors = np.linalg.norm(dst - hypothesis.apply(src), axis=1)
        mask = errors <= opts.inlier_threshold
        key = (int(mask.sum()), float(np.minimum(errors, opts.inlier_threshold).sum()))
        if key[0] > best_key[0] or (key[0] == best_key[0] and key[1] < best_key[1]):
            best_mask, best_key = mask, key
    return best_mask


def fit_similarity(
    src: npt.ArrayLike,
    dst: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    with_scale: bool = True,
    with_translation: bool = True,
    ransac: RansacOptions | None = None,
) -> SimilarityFit:
    """Similarity (or rigid, ``with_scale=False``) ``T`` minimising ``sum w |dst - T(src)|^2``.

    ``src`` and ``dst`` are the same N points, ``(N, 3)`` or ``(N, 2)``, in two frames.
    With ``ransac`` the fit is made on the largest consensus set of minimal samples and
    then refined by least squares on its inliers (twice, so the set settles).
    ``with_translation=False`` fits a rotation (and scale) about the origin only, as for
    direction vectors (angular rates, gravity) rather than points.
    """
    source = _fit_points(src, "source points")
    target = _fit_points(dst, "target points")
    if source.shape != target.shape:
        raise GeometryError(
            f"source {source.shape} and target {target.shape} must hold the same points"
        )
    count, dim = source.shape
    w = np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (count,) or not np.all(np.isfinite(w)) or np.any(w < 0.0) or w.sum() <= 0.0:
        raise GeometryError(f"weights must be {count} finite non-negative values, not all zero")
    if count < dim:
        raise GeometryError(f"a Sim({dim}) fit needs at least {dim} points, got {count}")
    inliers = np.ones(count, dtype=bool)
    if ransac is not None:
        if ransac.inlier_threshold <= 0.0 or ransac.max_iterations < 1:
            raise GeometryError("RANSAC needs inlier_threshold > 0 and max_iterations >= 1")
        inliers = _ransac(source, target, w, with_scale, with_translation, ransac)
        needed = max(ransac.min_inliers, dim)
        if int(inliers.sum()) < needed:
            raise GeometryError(
                f"RANSAC found {int(inliers.sum())} inliers within "
                f"{ransac.inlier_threshold:g}; at least {needed} are needed"
            )
        for _ in range(2):
            refined = _umeyama(
                source[inliers], target[inliers], w[inliers], with_scale, with_translation
            )
            errors = np.linalg.norm(target - refined.apply(source), axis=1)
            new = errors <= ransac.inlier_threshold
            if int(new.sum()) < needed or np.array_equal(new, inliers):
                break
            inliers = new
    transform = _umeyama(source[inliers], target[inliers], w[inliers], with_scale, with_translation)
    residuals = target - transform.apply(source)
    residuals.setflags(write=False)
    norms = np.linalg.norm(residuals[inliers], axis=1)
    return SimilarityFit(
        transform=transform,
        residuals=residuals,
        inliers=inliers,
        rms=float(np.sqrt(np.mean(norms**2))),
    )
