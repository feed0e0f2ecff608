"""``sensor_msgs/Imu`` <-> :class:`ImuSample`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartmine.msgs._util import (
    F64Array,
    dataclass_eq,
    flat_f64,
    float_array,
    get_field,
    get_float,
    matrix_arg,
    resolve_factory,
)
from smartmine.msgs.factory import MessageFactory
from smartmine.msgs.stamp import header_frame_id, header_stamp_ns, make_header


@dataclass(eq=False)
class ImuSample:
    """One IMU reading. Vectors are (3,), the quaternion (4,) x, y, z, w, covariances
    3x3 row-major as in the message (element [0, 0] = -1 means "not provided")."""

    stamp_ns: int
    frame_id: str
    orientation_xyzw: F64Array
    orientation_covariance: F64Array
    angular_velocity_rad_s: F64Array
    angular_velocity_covariance: F64Array
    linear_acceleration_m_s2: F64Array
    linear_acceleration_covariance: F64Array

    def __post_init__(self) -> None:
        self.orientation_xyzw = matrix_arg(
            self.orientation_xyzw, "ImuSample.orientation_xyzw", (4,)
        )
        self.angular_velocity_rad_s = matrix_arg(
            self.angular_velocity_rad_s, "ImuSample.angular_velocity_rad_s", (3,)
        )
        self.linear_acceleration_m_s2 = matrix_arg(
            self.linear_acceleration_m_s2, "ImuSample.linear_acceleration_m_s2", (3,)
        )
        for name in (
            "orientation_covariance",
            "angular_velocity_covariance",
            "linear_acceleration_covariance",
        ):
            setattr(self, name, matrix_arg(getattr(self, name), f"ImuSample.{name}", (3, 3)))

    def __eq__(self, other: object) -> bool:
        return dataclass_eq(self, other)

    __hash__ = None  # type: ignore[assignment]


def _vector3(msg: Any, what: str) -> F64Array:
    return float_array(
        [get_float(msg, what, "x"), get_float(msg, what, "y"), get_float(msg, what, "z")], what
    )


def _cov3(msg: Any, name: str) -> F64Array:
    return float_array(get_field(msg, "Imu", name), f"Imu.{name}", 9).reshape(3, 3)


def imu_to_sample(msg: Any) -> ImuSample:
    """The reading of an Imu message."""
    q = get_field(msg, "Imu", "orientation")
    return ImuSample(
        stamp_ns=header_stamp_ns(msg),
        frame_id=header_frame_id(msg),
        orientation_xyzw=float_array(
            [get_float(q, "Imu.orientation", c) for c in "xyzw"], "Imu.orientation"
        ),
        orientation_covariance=_cov3(msg, "orientation_covariance"),
        angular_velocity_rad_s=_vector3(
            get_field(msg, "Imu", "angular_velocity"), "Imu.angular_velocity"
        ),
        angular_velocity_covariance=_cov3(msg, "angular_velocity_covariance"),
        linear_acceleration_m_s2=_vector3(
            get_field(msg, "Imu", "linear_acceleration"), "Imu.linear_acceleration"
        ),
        linear_acceleration_covariance=_cov3(msg, "linear_acceleration_covariance"),
    )


def _make_vector3(v: F64Array, factory: MessageFactory) -> Any:
    return factory("geometry_msgs/msg/Vector3", x=float(v[0]), y=float(v[1]), z=float(v[2]))


def sample_to_imu(sample: ImuSample, factory: MessageFactory | None = None) -> Any:
    """A ``sensor_msgs/msg/Imu`` of ``sample`` (quaternion written as given)."""
    factory = resolve_factory(factory)
    q = sample.orientation_xyzw
    return factory(
        "sensor_msgs/msg/Imu",
        header=make_header(sample.stamp_ns, sample.frame_id, factory),
        orientation=factory(
            "geometry_msgs/msg/Quaternion",
            x=float(q[0]),
            y=float(q[1]),
            z=float(q[2]),
            w=float(q[3]),
        ),
        orientation_covariance=flat_f64(sample.orientation_covariance),
        angular_velocity=_make_vector3(sample.angular_velocity_rad_s, factory),
        angular_velocity_covariance=flat_f64(sample.angular_velocity_covariance),
        linear_acceleration=_make_vector3(sample.linear_acceleration_m_s2, factory),
        linear_acceleration_covariance=flat_f64(sample.linear_acceleration_covariance),
    )
