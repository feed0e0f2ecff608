"""smartmine.geometry against scipy and against hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from smartmine.frames import R_ENU_FROM_NED, quat_ned_frd_to_enu_flu
from smartmine.geometry import (
    GeometryError,
    RansacOptions,
    RotationError,
    Similarity,
    angle_between,
    axis_angle_to_matrix,
    compose,
    euler_to_matrix,
    fit_similarity,
    invert_transform,
    make_transform,
    matrix_to_euler,
    matrix_to_quat,
    matrix_to_rotvec,
    quat_to_matrix,
    rot_x,
    rot_y,
    rot_z,
    rotation_angle,
    rotvec_to_matrix,
    transform_from_quat,
    transform_points,
    transform_to_quat,
)

S = math.sqrt(0.5)


def _random_rotations(count: int, seed: int) -> np.ndarray:
    return Rotation.random(count, random_state=seed).as_matrix()


# --- hand-worked cases -----------------------------------------------------------------


def test_quarter_turns_map_axes_as_drawn() -> None:
    x, y, z = np.eye(3)
    np.testing.assert_allclose(rot_z(math.pi / 2) @ x, y, atol=1e-15)
    np.testing.assert_allclose(rot_x(math.pi / 2) @ y, z, atol=1e-15)
    np.testing.assert_allclose(rot_y(math.pi / 2) @ z, x, atol=1e-15)
    # +90 deg about z is the quaternion (0, 0, sin 45, cos 45)
    np.testing.assert_allclose(matrix_to_quat(rot_z(math.pi / 2)), [0, 0, S, S], atol=1e-15)
    np.testing.assert_allclose(quat_to_matrix([0, 0, S, S]), rot_z(math.pi / 2), atol=1e-15)


def test_ned_enu_swap_is_a_half_turn_about_the_diagonal() -> None:
    """NED -> ENU is a 180 deg rotation about (1, 1, 0)/sqrt 2 and its own inverse."""
    r = axis_angle_to_matrix([1.0, 1.0, 0.0], math.pi)
    np.testing.assert_allclose(r, R_ENU_FROM_NED, atol=1e-15)
    assert rotation_angle(R_ENU_FROM_NED) == pytest.approx(math.pi)
    np.testing.assert_allclose(abs(matrix_to_quat(R_ENU_FROM_NED)), [S, S, 0, 0], atol=1e-15)
    # PX4 level, facing north (identity in NED/FRD) is ROS yaw +90 deg (facing +y = north)
    np.testing.assert_allclose(
        quat_to_matrix(quat_ned_frd_to_enu_flu([0, 0, 0, 1.0])), rot_z(math.pi / 2), atol=1e-15
    )


def test_half_turn_flip_keeps_w_non_negative_and_round_trips() -> None:
    for r in (np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])):
        q = matrix_to_quat(r)
        assert q[3] == pytest.approx(0.0, abs=1e-15)
        assert np.count_nonzero(np.abs(q) > 0.5) == 1
        np.testing.assert_allclose(quat_to_matrix(q), r, atol=1e-15)
        assert rotation_angle(r) == pytest.approx(math.pi)


def test_near_identity_keeps_small_angles() -> None:
    r = rotvec_to_matrix([1e-9, -2e-9, 3e-9])
    np.testing.assert_allclose(matrix_to_rotvec(r), [1e-9, -2e-9, 3e-9], rtol=1e-6, atol=1e-20)
    assert rotation_angle(r) == pytest.approx(math.sqrt(14) * 1e-9, rel=1e-6)
    assert angle_between(np.eye(3), r) == pytest.approx(math.sqrt(14) * 1e-9, rel=1e-6)


def test_euler_xyz_is_ros_rpy_and_intrinsic_uppercase() -> None:
    roll, pitch, yaw = 0.1, -0.2, 0.3
    expected = rot_z(yaw) @ rot_y(pitch) @ rot_x(roll)  # extrinsic x, y, z = ROS rpy
    np.testing.assert_allclose(euler_to_matrix([roll, pitch, yaw]), expected, atol=1e-15)
    np.testing.assert_allclose(matrix_to_euler(expected), [roll, pitch, yaw], atol=1e-14)
    intrinsic = rot_x(roll) @ rot_y(pitch) @ rot_z(yaw)
    np.testing.assert_allclose(euler_to_matrix([roll, pitch, yaw], "XYZ"), intrinsic, atol=1e-15)
    np.testing.assert_allclose(
        euler_to_matrix([10.0, 20.0, 30.0], degrees=True),
        euler_to_matrix(np.radians([10.0, 20.0, 30.0])),
        atol=1e-15,
    )


# --- against scipy on random rotations --------------------------------------------------


def test_quaternions_match_scipy_and_round_trip_in_stacks() -> None:
    r = _random_rotations(300, seed=1).reshape(10, 30, 3, 3)
    q = matrix_to_quat(r)
    assert q.shape == (10, 30, 4)
    assert np.all(q[..., 3] >= 0.0)
    flat_q = Rotation.from_matrix(r.reshape(-1, 3, 3)).as_quat(canonical=True)
    np.testing.assert_allclose(np.abs(q.reshape(-1, 4)), np.abs(flat_q), atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(q), r, atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(3.0 * q), r, atol=1e-12)  # normalised first


def test_rotvec_euler_and_angles_match_scipy() -> None:
    r = _random_rotations(200, seed=2)
    scipy_r = Rotation.from_matrix(r)
    np.testing.assert_allclose(matrix_to_rotvec(r), scipy_r.as_rotvec(), atol=1e-12)
    np.testing.assert_allclose(rotvec_to_matrix(scipy_r.as_rotvec()), r, atol=1e-12)
    np.testing.assert_allclose(matrix_to_euler(r, "zyx"), scipy_r.as_euler("zyx"), atol=1e-10)
    np.testing.assert_allclose(rotation_angle(r), scipy_r.magnitude(), atol=1e-12)
    other = _random_rotations(200, seed=3)
    expected = (scipy_r.inv() * Rotation.from_matrix(other)).magnitude()
    np.testing.assert_allclose(angle_between(r, other), expected, atol=1e-12)


def test_rigid_transforms_compose_invert_apply() -> None:
    rng = np.random.default_rng(4)
    t_ab = make_transform(_random_rotations(1, 5)[0], rng.normal(size=3))
    t_bc = make_transform(_random_rotations(1, 6)[0], rng.normal(size=3))
    pts = rng.normal(size=(7, 3))
    np.testing.assert_allclose(
        transform_points(compose(t_ab, t_bc), pts),
        transform_points(t_ab, transform_points(t_bc, pts)),
        atol=1e-12,
    )
    np.testing.assert_allclose(compose(t_ab, invert_transform(t_ab)), np.eye(4), atol=1e-12)
    t, q = transform_to_quat(t_ab)
    np.testing.assert_allclose(transform_from_quat(t, q), t_ab, atol=1e-12)


def test_similarity_compose_inverse_and_matrix() -> None:
    a = Similarity(2.0, rot_z(0.4), [1.0, 2.0, 3.0])
    b = Similarity(0.5, rot_x(-1.1), [-3.0, 0.0, 1.0])
    pts = np.random.default_rng(7).normal(size=(5, 3))
    np.testing.assert_allclose(a.compose(b).apply(pts), a.apply(b.apply(pts)), atol=1e-12)
    np.testing.assert_allclose(a.inverse().apply(a.apply(pts)), pts, atol=1e-12)
    back = Similarity.from_matrix(a.matrix())
    assert back.scale == pytest.approx(2.0)
    np.testing.assert_allclose(back.rotation, a.rotation, atol=1e-15)
    pose = a.apply_to_pose(make_transform(rot_y(0.2), [1.0, 0.0, 0.0]))
    np.testing.assert_allclose(pose[:3, 3], a.apply([1.0, 0.0, 0.0]), atol=1e-12)
    np.testing.assert_allclose(pose[:3, :3], rot_z(0.4) @ rot_y(0.2), atol=1e-15)


# --- similarity fit --------------------------------------------------------------------


def _truth() -> Similarity:
    return Similarity(1.7, Rotation.from_rotvec([0.3, -0.5, 1.2]).as_matrix(), [10.0, -4.0, 2.5])


def test_fit_recovers_exact_similarity() -> None:
    src = np.random.default_rng(8).uniform(-50, 50, size=(12, 3))
    fit = fit_similarity(src, _truth().apply(src))
    assert fit.transform.scale == pytest.approx(1.7, rel=1e-12)
    np.testing.assert_allclose(fit.transform.rotation, _truth().rotation, atol=1e-12)
    np.testing.assert_allclose(fit.transform.translation, [10.0, -4.0, 2.5], atol=1e-9)
    assert fit.rms < 1e-9 and fit.inliers.all()
    rigid = fit_similarity(src, _truth().apply(src), with_scale=False)
    assert rigid.transform.scale == 1.0 and rigid.rms > 1.0  # scale 1.7 cannot be absorbed


def test_fit_weights_pull_towards_trusted_points() -> None:
    rng = np.random.default_rng(9)
    src = rng.uniform(-20, 20, size=(10, 3))
    dst = _truth().apply(src)
    dst[0] += [0.0, 0.0, 5.0]  # one bad point
    plain = fit_similarity(src, dst)
    weighted = fit_similarity(src, dst, weights=[1e-6] + [1.0] * 9)
    assert np.linalg.norm(weighted.residuals[1:], axis=1).max() < 1e-4
    assert np.linalg.norm(plain.residuals[1:], axis=1).max() > 0.1
    assert weighted.residual_norms[0] == pytest.approx(5.0, rel=1e-3)


def test_ransac_rejects_blunders_and_reports_their_residuals() -> None:
    rng = np.random.default_rng(10)
    src = rng.uniform(-100, 100, size=(30, 3))
    dst = _truth().apply(src) + rng.normal(scale=0.01, size=(30, 3))
    blunders = [3, 11, 25]
    dst[blunders] += rng.uniform(5, 20, size=(3, 3))
    fit = fit_similarity(src, dst, ransac=RansacOptions(inlier_threshold=0.1, seed=1))
    assert sorted(np.flatnonzero(~fit.inliers).tolist()) == blunders
    assert fit.rms < 0.03 and fit.max_residual < 0.1
    assert np.all(fit.residual_norms[blunders] > 4.0)
    assert fit.transform.scale == pytest.approx(1.7, rel=1e-4)


def test_two_dimensional_fit_and_rotation_only_fit() -> None:
    rng = np.random.default_rng(11)
    src = rng.uniform(-10, 10, size=(6, 2))
    truth = Similarity(0.999, rot_z(0.25)[:2, :2], [100.0, 200.0])
    fit = fit_similarity(src, truth.apply(src))
    assert fit.transform.dim == 2 and fit.transform.scale == pytest.approx(0.999, rel=1e-12)
    vectors = rng.normal(size=(20, 3))
    r = _truth().rotation
    rotation_only = fit_similarity(vectors, vectors @ r.T, with_scale=False, with_translation=False)
    np.testing.assert_allclose(rotation_only.transform.rotation, r, atol=1e-12)
    np.testing.assert_allclose(rotation_only.transform.translation, 0.0, atol=0.0)


# --- errors ----------------------------------------------------------------------------


def test_bad_rotations_raise_one_error_class() -> None:
    with pytest.raises(RotationError, match="reflection"):
        matrix_to_quat(np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(RotationError, match="orthonormal"):
        rotation_angle(2.0 * np.eye(3))
    with pytest.raises(RotationError, match="non-zero"):
        quat_to_matrix([0.0, 0.0, 0.0, 0.0])
    with pytest.raises(RotationError, match="non-finite"):
        check = np.eye(3)
        check[0, 0] = np.nan
        matrix_to_rotvec(check)
    with pytest.raises(RotationError, match=r"shape \(3, 3\), expected \(4, 4\)"):
        invert_transform(np.eye(3))
    with pytest.raises(RotationError, match="Euler"):
        euler_to_matrix([0.0, 0.0], "xyz")
    assert issubclass(RotationError, GeometryError)


def test_degenerate_fits_are_refused() -> None:
    line = np.outer(np.arange(5.0), [1.0, 2.0, 3.0])
    with pytest.raises(GeometryError, match="collinear"):
        fit_similarity(line, line)
    with pytest.raises(GeometryError, match="same points"):
        fit_similarity(np.zeros((4, 3)), np.zeros((5, 3)))
    with pytest.raises(GeometryError, match="weights"):
        fit_similarity(np.eye(3), np.eye(3), weights=[1.0, -1.0, 1.0])
    src = np.random.default_rng(12).uniform(size=(5, 3))
    with pytest.raises(GeometryError, match="inliers"):
        fit_similarity(
            src,
            np.random.default_rng(13).uniform(size=(5, 3)) * 100,
            ransac=RansacOptions(inlier_threshold=1e-6, min_inliers=4),
        )


def test_transform_from_twist_is_the_first_order_step() -> None:
    from smartmine.geometry import transform_from_twist

    step = transform_from_twist([0.0, 0.0, np.pi / 2, 0.1, -0.2, 0.3])
    np.testing.assert_allclose(step[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(step[:3, 3], [0.1, -0.2, 0.3])  # translation as given
    np.testing.assert_allclose(step[3], [0, 0, 0, 1])
    with pytest.raises(RotationError):
        transform_from_twist([[0.0] * 6, [0.0] * 6])
