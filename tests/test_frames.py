"""Tests of smartmine.frames against the definitions of the frames and against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from smartmine.frames import (
    R_BODY_FROM_OPTICAL,
    R_ENU_FROM_NED,
    R_FLU_FROM_FRD,
    R_OPTICAL_FROM_BODY,
    enu_to_ned,
    flu_to_frd,
    frd_to_flu,
    ned_to_enu,
    quat_enu_flu_to_ned_frd,
    quat_ned_frd_to_enu_flu,
)
from smartmine.geometry import (
    GeometryError,
    RotationError,
    invert_transform,
    make_transform,
    matrix_to_quat,
    quat_to_matrix,
    quat_wxyz_to_xyzw,
    quat_xyzw_to_wxyz,
    transform_points,
)


def _random_quats(count: int, seed: int = 3) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(count, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _yaw_deg(r: np.ndarray) -> float:
    return math.degrees(math.atan2(r[1, 0], r[0, 0]))


def _same_rotation(q1: np.ndarray, q2: np.ndarray) -> bool:
    return bool(abs(abs(float(np.dot(q1, q2))) - 1.0) < 1e-12)


# --------------------------------------------------------------------------------------
# World and body frame vectors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ned", "enu"),
    [
        ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),  # north
        ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),  # east
        ((0.0, 0.0, 1.0), (0.0, 0.0, -1.0)),  # down
        ((3.0, -2.0, 5.0), (-2.0, 3.0, -5.0)),
    ],
)
def test_ned_enu(ned: tuple[float, ...], enu: tuple[float, ...]) -> None:
    np.testing.assert_array_equal(ned_to_enu(ned), enu)
    np.testing.assert_array_equal(enu_to_ned(enu), ned)
    np.testing.assert_array_equal(R_ENU_FROM_NED @ np.array(ned), enu)


@pytest.mark.parametrize(
    ("frd", "flu"),
    [
        ((1.0, 0.0, 0.0), (1.0, 0.0, 0.0)),  # forward
        ((0.0, 1.0, 0.0), (0.0, -1.0, 0.0)),  # right is minus left
        ((0.0, 0.0, 1.0), (0.0, 0.0, -1.0)),  # down is minus up
    ],
)
def test_frd_flu(frd: tuple[float, ...], flu: tuple[float, ...]) -> None:
    np.testing.assert_array_equal(frd_to_flu(frd), flu)
    np.testing.assert_array_equal(flu_to_frd(flu), frd)
    np.testing.assert_array_equal(R_FLU_FROM_FRD @ np.array(frd), flu)


def test_vector_conversions_are_vectorised_and_round_trip() -> None:
    v = np.random.default_rng(0).normal(size=(5, 7, 3))
    assert ned_to_enu(v).shape == v.shape
    np.testing.assert_array_equal(enu_to_ned(ned_to_enu(v)), v)
    np.testing.assert_array_equal(flu_to_frd(frd_to_flu(v)), v)
    np.testing.assert_array_equal(ned_to_enu(v)[2, 3], ned_to_enu(v[2, 3]))
    with pytest.raises(GeometryError, match=r"\(\.\.\., 3\)"):
        ned_to_enu([1.0, 2.0])


def test_optical_frame_axes() -> None:
    forward, left, up = np.eye(3)
    optical_x_right, optical_y_down, optical_z_forward = np.eye(3)
    np.testing.assert_array_equal(R_BODY_FROM_OPTICAL @ optical_z_forward, forward)
    np.testing.assert_array_equal(R_BODY_FROM_OPTICAL @ optical_x_right, -left)
    np.testing.assert_array_equal(R_BODY_FROM_OPTICAL @ optical_y_down, -up)
    np.testing.assert_array_equal(R_OPTICAL_FROM_BODY @ R_BODY_FROM_OPTICAL, np.eye(3))
    # The usual ROS static transform camera_link -> optical: rpy = (-pi/2, 0, -pi/2).
    expected = Rotation.from_euler("xyz", [-math.pi / 2, 0.0, -math.pi / 2]).as_matrix()
    np.testing.assert_allclose(R_BODY_FROM_OPTICAL, expected, atol=1e-12)


def test_constants_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        R_ENU_FROM_NED[0, 0] = 5.0


# --------------------------------------------------------------------------------------
# Quaternions
# --------------------------------------------------------------------------------------


def test_quat_to_matrix_known_rotation() -> None:
    q = [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]  # +90 deg about z
    np.testing.assert_allclose(
        quat_to_matrix(q), [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], atol=1e-15
    )
    np.testing.assert_allclose(quat_to_matrix([0.0, 0.0, 0.0, 2.0]), np.eye(3))  # normalised


def test_quat_to_matrix_matches_scipy() -> None:
    q = _random_quats(200)
    np.testing.assert_allclose(quat_to_matrix(q), Rotation.from_quat(q).as_matrix(), atol=1e-12)


def test_quat_matrix_round_trip_on_random_rotations() -> None:
    q = _random_quats(500)
    back = matrix_to_quat(quat_to_matrix(q))
    assert back.shape == q.shape
    assert np.all(back[:, 3] >= 0.0)
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(back, q * np.sign(q[:, 3:4]), atol=1e-12)


@pytest.mark.parametrize("axis", [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1, -2, 3)])
def test_matrix_to_quat_near_half_turn(axis: tuple[float, float, float]) -> None:
    unit = np.array(axis, dtype=float) / np.linalg.norm(axis)
    for angle in (math.pi, math.pi - 1e-9, 1e-9):
        r = Rotation.from_rotvec(unit * angle).as_matrix()
        q = matrix_to_quat(r)
        assert q[3] >= 0.0
        np.testing.assert_allclose(quat_to_matrix(q), r, atol=1e-12)


def test_matrix_to_quat_rejects_non_rotations() -> None:
    with pytest.raises(RotationError, match="reflection"):
        matrix_to_quat(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(RotationError, match="orthonormal"):
        matrix_to_quat(2.0 * np.eye(3))
    with pytest.raises(RotationError, match="non-zero"):
        quat_to_matrix([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(RotationError, match=r"\(\.\.\., 4\)"):
        quat_to_matrix([0.0, 0.0, 1.0])


def test_wxyz_reordering() -> None:
    q_xyzw = np.array([0.1, 0.2, 0.3, 0.9])
    np.testing.assert_array_equal(quat_xyzw_to_wxyz(q_xyzw), [0.9, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(quat_wxyz_to_xyzw(quat_xyzw_to_wxyz(q_xyzw)), q_xyzw)


# --------------------------------------------------------------------------------------
# PX4 (NED/FRD) <-> ROS (ENU/FLU) attitude
# --------------------------------------------------------------------------------------


def test_px4_heading_east_is_ros_yaw_zero() -> None:
    q_ned = [0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)]  # yaw 90 deg: east
    q_enu = quat_ned_frd_to_enu_flu(q_ned)
    r = quat_to_matrix(q_enu)
    assert abs(_yaw_deg(r)) < 1e-9
    np.testing.assert_allclose(r, np.eye(3), atol=1e-12)


@pytest.mark.parametrize("heading_deg", [0.0, 30.0, 90.0, 135.0, 180.0, -60.0])
def test_px4_heading_maps_to_ros_yaw(heading_deg: float) -> None:
    half = math.radians(heading_deg) / 2.0
    r = quat_to_matrix(quat_ned_frd_to_enu_flu([0.0, 0.0, math.sin(half), math.cos(half)]))
    expected = (90.0 - heading_deg + 180.0) % 360.0 - 180.0
    assert abs((_yaw_deg(r) - expected + 180.0) % 360.0 - 180.0) < 1e-9


def test_px4_nose_up_is_ros_nose_up() -> None:
    # PX4 pitch +10 deg (about body right, nose up), heading north.
    half = math.radians(10.0) / 2.0
    r = quat_to_matrix(quat_ned_frd_to_enu_flu([0.0, math.sin(half), 0.0, math.cos(half)]))
    s, c = math.sin(math.radians(10.0)), math.cos(math.radians(10.0))
    np.testing.assert_allclose(r[:, 0], [0.0, c, s], atol=1e-12)  # forward: north and up


def test_attitude_conversion_maps_body_axes() -> None:
    """For any attitude, each ROS body axis is the PX4 body axis seen in ENU."""
    q_ned = _random_quats(50, seed=9)
    r_ned = quat_to_matrix(q_ned)
    r_enu = quat_to_matrix(quat_ned_frd_to_enu_flu(q_ned))
    forward_ned, right_ned, down_ned = r_ned[..., 0], r_ned[..., 1], r_ned[..., 2]
    np.testing.assert_allclose(r_enu[..., 0], ned_to_enu(forward_ned), atol=1e-12)
    np.testing.assert_allclose(r_enu[..., 1], ned_to_enu(-right_ned), atol=1e-12)
    np.testing.assert_allclose(r_enu[..., 2], ned_to_enu(-down_ned), atol=1e-12)


def test_attitude_round_trips() -> None:
    q = _random_quats(100, seed=5)
    there_and_back = quat_enu_flu_to_ned_frd(quat_ned_frd_to_enu_flu(q))
    back_and_there = quat_ned_frd_to_enu_flu(quat_enu_flu_to_ned_frd(q))
    for a, b, c in zip(q, there_and_back, back_and_there, strict=True):
        assert _same_rotation(a, b)
        assert _same_rotation(a, c)


# --------------------------------------------------------------------------------------
# Rigid transforms
# --------------------------------------------------------------------------------------


def test_invert_transform() -> None:
    rng = np.random.default_rng(1)
    for q in _random_quats(20, seed=2):
        t = make_transform(quat_to_matrix(q), rng.normal(scale=100.0, size=3))
        np.testing.assert_allclose(invert_transform(t) @ t, np.eye(4), atol=1e-12)
        np.testing.assert_allclose(t @ invert_transform(t), np.eye(4), atol=1e-12)


def test_transform_points() -> None:
    r = quat_to_matrix([0.0, 0.0, math.sin(math.pi / 4), math.cos(math.pi / 4)])
    t = make_transform(r, [10.0, 0.0, 1.0])
    pts = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    np.testing.assert_allclose(
        transform_points(t, pts), [[10.0, 1.0, 1.0], [8.0, 0.0, 1.0]], atol=1e-12
    )
    np.testing.assert_allclose(
        transform_points(invert_transform(t), transform_points(t, pts)), pts, atol=1e-12
    )
    assert transform_points(t, np.zeros((2, 5, 3))).shape == (2, 5, 3)


def test_transform_errors() -> None:
    with pytest.raises(RotationError, match="last row"):
        invert_transform(np.ones((4, 4)))
    with pytest.raises(RotationError, match="orthonormal"):
        make_transform(np.ones((3, 3)), [0.0, 0.0, 0.0])
    with pytest.raises(RotationError, match="translation"):
        make_transform(np.eye(3), [0.0, 0.0])
