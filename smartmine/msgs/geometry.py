"""Poses, transforms, odometry and TF <-> 4x4 homogeneous matrices.

Quaternions are (x, y, z, w). Reading normalises the quaternion (a zero one raises
ConversionError); writing takes a rigid 4x4 matrix (checked) and writes w >= 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.errors import ConversionError
from smartmine.geometry import RotationError, check_transform, matrix_to_quat, quat_to_matrix
from smartmine.msgs._util import (
    F64Array,
    dataclass_eq,
    flat_f64,
    float_array,
    get_field,
    get_float,
    matrix_arg,
    readonly,
    resolve_factory,
)
from smartmine.msgs.factory import MessageFactory
from smartmine.msgs.stamp import header_frame_id, header_stamp_ns, make_header

# --- reading / writing the small geometry messages -------------------------------------


def _xyz(msg: Any, what: str) -> F64Array:
    return np.array(
        [get_float(msg, what, "x"), get_float(msg, what, "y"), get_float(msg, what, "z")]
    )


def _xyzw(msg: Any, what: str) -> F64Array:
    return np.array([get_float(msg, what, c) for c in ("x", "y", "z", "w")])


def _matrix(translation: F64Array, rotation_xyzw: F64Array, what: str) -> F64Array:
    t = np.eye(4)
    try:
        t[:3, :3] = quat_to_matrix(rotation_xyzw, what)
    except RotationError as exc:
        raise ConversionError(f"{what} is not a rotation: {exc}") from None
    t[:3, 3] = translation
    return t


def check_rigid(t: npt.ArrayLike, what: str) -> F64Array:
    """``t`` as a float64 4x4 rigid transform, or ConversionError saying what is wrong."""
    try:
        return check_transform(t, what)
    except RotationError as exc:
        raise ConversionError(str(exc)) from None


def _vector3_msg(msgtype: str, v: F64Array, factory: MessageFactory) -> Any:
    return factory(msgtype, x=float(v[0]), y=float(v[1]), z=float(v[2]))


def _quat_msg(q: F64Array, factory: MessageFactory) -> Any:
    return factory(
        "geometry_msgs/msg/Quaternion", x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])
    )


def pose_to_matrix(pose: Any) -> F64Array:
    """4x4 of a ``geometry_msgs/Pose`` (position, orientation)."""
    return _matrix(
        _xyz(get_field(pose, "Pose", "position"), "Pose.position"),
        _xyzw(get_field(pose, "Pose", "orientation"), "Pose.orientation"),
        "Pose.orientation",
    )


def matrix_to_pose(T: npt.ArrayLike, factory: MessageFactory | None = None) -> Any:  # noqa: N803
    """A ``geometry_msgs/msg/Pose`` of a rigid 4x4 matrix."""
    factory = resolve_factory(factory)
    m = check_rigid(T, "pose matrix")
    return factory(
        "geometry_msgs/msg/Pose",
        position=_vector3_msg("geometry_msgs/msg/Point", m[:3, 3], factory),
        orientation=_quat_msg(matrix_to_quat(m[:3, :3]), factory),
    )


def transform_to_matrix(tf: Any) -> F64Array:
    """4x4 of a ``geometry_msgs/Transform`` (translation, rotation)."""
    return _matrix(
        _xyz(get_field(tf, "Transform", "translation"), "Transform.translation"),
        _xyzw(get_field(tf, "Transform", "rotation"), "Transform.rotation"),
        "Transform.rotation",
    )


def _transform_msg(translation: F64Array, rotation_xyzw: F64Array, factory: MessageFactory) -> Any:
    return factory(
        "geometry_msgs/msg/Transform",
        translation=_vector3_msg("geometry_msgs/msg/Vector3", translation, factory),
        rotation=_quat_msg(rotation_xyzw, factory),
    )


def matrix_to_transform(T: npt.ArrayLike, factory: MessageFactory | None = None) -> Any:  # noqa: N803
    """A ``geometry_msgs/msg/Transform`` of a rigid 4x4 matrix."""
    factory = resolve_factory(factory)
    m = check_rigid(T, "transform matrix")
    return _transform_msg(m[:3, 3], matrix_to_quat(m[:3, :3]), factory)


def pose_stamped_to_matrix(msg: Any) -> F64Array:
    """4x4 of a ``geometry_msgs/PoseStamped`` (stamp: :func:`header_stamp_ns`)."""
    return pose_to_matrix(get_field(msg, "PoseStamped", "pose"))


def matrix_to_pose_stamped(
    T: npt.ArrayLike,  # noqa: N803
    stamp_ns: int = 0,
    frame_id: str = "",
    factory: MessageFactory | None = None,
) -> Any:
    """A ``geometry_msgs/msg/PoseStamped`` of a rigid 4x4 matrix."""
    factory = resolve_factory(factory)
    return factory(
        "geometry_msgs/msg/PoseStamped",
        header=make_header(stamp_ns, frame_id, factory),
        pose=matrix_to_pose(T, factory),
    )


# --- odometry ---------------------------------------------------------------------------


@dataclass(eq=False)
class OdometrySample:
    """One ``nav_msgs/Odometry``: pose of ``child_frame_id`` in ``frame_id`` (4x4),
    6x6 covariances (x, y, z, rot x, rot y, rot z), twist in ``child_frame_id``."""

    stamp_ns: int
    frame_id: str
    child_frame_id: str
    pose_matrix: F64Array
    pose_covariance: F64Array
    twist_linear: F64Array
    twist_angular: F64Array
    twist_covariance: F64Array

    def __post_init__(self) -> None:
        self.pose_matrix = matrix_arg(self.pose_matrix, "OdometrySample.pose_matrix", (4, 4))
        self.pose_covariance = matrix_arg(
            self.pose_covariance, "OdometrySample.pose_covariance", (6, 6)
        )
        self.twist_linear = matrix_arg(self.twist_linear, "OdometrySample.twist_linear", (3,))
        self.twist_angular = matrix_arg(self.twist_angular, "OdometrySample.twist_angular", (3,))
        self.twist_covariance = matrix_arg(
            self.twist_covariance, "OdometrySample.twist_covariance", (6, 6)
        )

    def __eq__(self, other: object) -> bool:
        return dataclass_eq(self, other)

    __hash__ = None  # type: ignore[assignment]


def odometry_to_matrix(msg: Any) -> F64Array:
    """4x4 pose of an Odometry message."""
    pose_cov = get_field(msg, "Odometry", "pose")
    return pose_to_matrix(get_field(pose_cov, "Odometry.pose", "pose"))


def odometry_to_sample(msg: Any) -> OdometrySample:
    """The contents of a ``nav_msgs/Odometry``."""
    pose_cov = get_field(msg, "Odometry", "pose")
    twist_cov = get_field(msg, "Odometry", "twist")
    twist = get_field(twist_cov, "Odometry.twist", "twist")
    return OdometrySample(
        stamp_ns=header_stamp_ns(msg),
        frame_id=header_frame_id(msg),
        child_frame_id=str(get_field(msg, "Odometry", "child_frame_id")),
        pose_matrix=pose_to_matrix(get_field(pose_cov, "Odometry.pose", "pose")),
        pose_covariance=float_array(
            get_field(pose_cov, "Odometry.pose", "covariance"), "Odometry.pose.covariance", 36
        ).reshape(6, 6),
        twist_linear=_xyz(
            get_field(twist, "Odometry.twist.twist", "linear"), "Odometry.twist.twist.linear"
        ),
        twist_angular=_xyz(
            get_field(twist, "Odometry.twist.twist", "angular"), "Odometry.twist.twist.angular"
        ),
        twist_covariance=float_array(
            get_field(twist_cov, "Odometry.twist", "covariance"), "Odometry.twist.covariance", 36
        ).reshape(6, 6),
    )


def sample_to_odometry(sample: OdometrySample, factory: MessageFactory | None = None) -> Any:
    """A ``nav_msgs/msg/Odometry`` of ``sample``."""
    factory = resolve_factory(factory)
    pose = factory(
        "geometry_msgs/msg/PoseWithCovariance",
        pose=matrix_to_pose(sample.pose_matrix, factory),
        covariance=flat_f64(sample.pose_covariance),
    )
    twist = factory(
        "geometry_msgs/msg/TwistWithCovariance",
        twist=factory(
            "geometry_msgs/msg/Twist",
            linear=_vector3_msg("geometry_msgs/msg/Vector3", sample.twist_linear, factory),
            angular=_vector3_msg("geometry_msgs/msg/Vector3", sample.twist_angular, factory),
        ),
        covariance=flat_f64(sample.twist_covariance),
    )
    return factory(
        "nav_msgs/msg/Odometry",
        header=make_header(sample.stamp_ns, sample.frame_id, factory),
        child_frame_id=str(sample.child_frame_id),
        pose=pose,
        twist=twist,
    )


# --- TF -----------------------------------------------------------------------------------


@dataclass(frozen=True, init=False, eq=False)
class StampedTransform:
    """Pose of ``child_frame`` in ``parent_frame`` at ``stamp_ns``.

    Keeps ``translation`` (3,) and ``rotation_xyzw`` (4,) exactly as given (as read from
    the message), and ``matrix`` (4x4) computed from them. Construct from either the
    pair or a rigid ``matrix``. Arrays are read-only float64.
    """

    stamp_ns: int
    parent_frame: str
    child_frame: str
    matrix: F64Array
    translation: F64Array
    rotation_xyzw: F64Array

    def __init__(
        self,
        stamp_ns: int,
        parent_frame: str,
        child_frame: str,
        matrix: npt.ArrayLike | None = None,
        translation: npt.ArrayLike | None = None,
        rotation_xyzw: npt.ArrayLike | None = None,
    ) -> None:
        if translation is not None and rotation_xyzw is not None:
            t = matrix_arg(translation, "StampedTransform.translation", (3,))
            q = matrix_arg(rotation_xyzw, "StampedTransform.rotation_xyzw", (4,))
            what = f"transform {parent_frame!r} -> {child_frame!r} rotation"
            m = (
                _matrix(t, q, what)
                if matrix is None
                else check_rigid(matrix, "StampedTransform.matrix")
            )
        elif matrix is not None:
            m = check_rigid(matrix, "StampedTransform.matrix")
            t = m[:3, 3].copy()
            q = matrix_to_quat(m[:3, :3])
        else:
            raise ConversionError(
                "StampedTransform needs a matrix, or a translation and a rotation_xyzw"
            )
        object.__setattr__(self, "stamp_ns", int(stamp_ns))
        object.__setattr__(self, "parent_frame", str(parent_frame))
        object.__setattr__(self, "child_frame", str(child_frame))
        object.__setattr__(self, "matrix", readonly(m))
        object.__setattr__(self, "translation", readonly(t))
        object.__setattr__(self, "rotation_xyzw", readonly(q))

    def __eq__(self, other: object) -> bool:
        return dataclass_eq(self, other)

    __hash__ = None  # type: ignore[assignment]


def transform_stamped_to_stamped_transform(msg: Any) -> StampedTransform:
    """The transform of a ``geometry_msgs/TransformStamped``."""
    tf = get_field(msg, "TransformStamped", "transform")
    return StampedTransform(
        stamp_ns=header_stamp_ns(msg),
        parent_frame=header_frame_id(msg),
        child_frame=str(get_field(msg, "TransformStamped", "child_frame_id")),
        translation=_xyz(get_field(tf, "Transform", "translation"), "Transform.translation"),
        rotation_xyzw=_xyzw(get_field(tf, "Transform", "rotation"), "Transform.rotation"),
    )


def stamped_transform_to_transform_stamped(
    transform: StampedTransform, factory: MessageFactory | None = None
) -> Any:
    """A ``geometry_msgs/msg/TransformStamped`` (translation and quaternion as stored)."""
    factory = resolve_factory(factory)
    return factory(
        "geometry_msgs/msg/TransformStamped",
        header=make_header(transform.stamp_ns, transform.parent_frame, factory),
        child_frame_id=transform.child_frame,
        transform=_transform_msg(transform.translation, transform.rotation_xyzw, factory),
    )


def tf_message_to_transforms(msg: Any) -> list[StampedTransform]:
    """All transforms of a ``tf2_msgs/TFMessage`` (``/tf`` or ``/tf_static``)."""
    return [
        transform_stamped_to_stamped_transform(ts)
        for ts in get_field(msg, "TFMessage", "transforms")
    ]


def transforms_to_tf_message(
    transforms: Iterable[StampedTransform], factory: MessageFactory | None = None
) -> Any:
    """A ``tf2_msgs/msg/TFMessage`` of ``transforms``."""
    factory = resolve_factory(factory)
    return factory(
        "tf2_msgs/msg/TFMessage",
        transforms=[stamped_transform_to_transform_stamped(t, factory) for t in transforms],
    )
