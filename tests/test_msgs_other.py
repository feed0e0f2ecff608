"""Stamps, CameraInfo (+ YAML), NavSatFix, Imu, Odometry, Pose/Transform/TF conversions."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from smartmine.errors import ConversionError
from smartmine.msgs import (
    CameraIntrinsics,
    GeoFix,
    ImuSample,
    OdometrySample,
    StampedTransform,
    camera_info_to_intrinsics,
    geofix_to_navsatfix,
    header_frame_id,
    header_stamp_ns,
    imu_to_sample,
    intrinsics_to_camera_info,
    make_header,
    matrix_to_pose,
    matrix_to_pose_stamped,
    matrix_to_transform,
    navsatfix_to_geofix,
    ns_to_stamp,
    odometry_to_matrix,
    odometry_to_sample,
    pose_stamped_to_matrix,
    pose_to_matrix,
    read_camera_info_yaml,
    sample_to_imu,
    sample_to_odometry,
    stamp_to_ns,
    stamped_transform_to_transform_stamped,
    tf_message_to_transforms,
    transform_stamped_to_stamped_transform,
    transform_to_matrix,
    transforms_to_tf_message,
    write_camera_info_yaml,
)
from smartmine.msgs.factory import RosbagsFactory, typestore

ROS2 = typestore()
ROS1 = typestore("ros1_noetic")


def cdr_roundtrip(msg: Any) -> Any:
    msgtype = msg.__msgtype__
    return ROS2.deserialize_cdr(ROS2.serialize_cdr(msg, msgtype), msgtype)


def ros1_roundtrip(msg: Any) -> Any:
    msgtype = msg.__msgtype__
    return ROS1.deserialize_ros1(ROS1.serialize_ros1(msg, msgtype), msgtype)


def random_rotation(seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=4)
    q /= np.linalg.norm(q)
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def random_pose(seed: int) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = random_rotation(seed)
    t[:3, 3] = np.random.default_rng(seed + 100).normal(0, 100, 3)
    return t


def random_cov(n: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T


# --- stamps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ns", [0, 1, 999_999_999, 1_000_000_000, 1_712_345_678_901_234_567, -1, -1_500_000_000]
)
def test_stamp_roundtrip(ns: int) -> None:
    stamp = ns_to_stamp(ns)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert stamp_to_ns(stamp) == ns
    header = cdr_roundtrip(make_header(ns, "base_link"))
    assert stamp_to_ns(header.stamp) == ns
    assert header.frame_id == "base_link"


def test_stamp_variants_and_errors() -> None:
    assert stamp_to_ns(SimpleNamespace(secs=2, nsecs=5)) == 2_000_000_005  # genpy-style
    ros1_header = ROS1.types["std_msgs/msg/Header"](
        seq=7, stamp=ROS1.types["builtin_interfaces/msg/Time"](sec=3, nanosec=9), frame_id="m"
    )
    msg = SimpleNamespace(header=ros1_roundtrip(ros1_header))
    assert header_stamp_ns(msg) == 3_000_000_009
    assert header_frame_id(msg) == "m"
    assert stamp_to_ns(ns_to_stamp(np.int64(123))) == 123
    with pytest.raises(ConversionError, match="out of range"):
        ns_to_stamp(2**31 * 1_000_000_000)
    with pytest.raises(ConversionError, match="not an integer"):
        ns_to_stamp(1.5)  # type: ignore[arg-type]
    with pytest.raises(ConversionError, match="no field 'header'"):
        header_stamp_ns(SimpleNamespace())


# --- CameraInfo ----------------------------------------------------------------------------


def sample_intrinsics(model: str = "plumb_bob", n: int = 5) -> CameraIntrinsics:
    rng = np.random.default_rng(n)
    k = np.array([[612.3456789, 0.0, 319.123456], [0.0, 611.987654321, 241.5], [0.0, 0.0, 1.0]])
    return CameraIntrinsics(
        width=641,
        height=479,
        k=k,
        d=rng.normal(0, 0.1, n),
        distortion_model=model,
        r=random_rotation(n),
        p=np.hstack([k * 1.01, rng.normal(size=(3, 1))]),
    )


def test_intrinsics_defaults_and_properties() -> None:
    k = [[500.0, 0.0, 320.0], [0.0, 501.0, 240.0], [0.0, 0.0, 1.0]]
    intr = CameraIntrinsics(640, 480, k, [0.1, -0.2, 0, 0, 0.01])
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (500.0, 501.0, 320.0, 240.0)
    np.testing.assert_array_equal(intr.r, np.eye(3))
    np.testing.assert_array_equal(intr.p, np.hstack([np.array(k), np.zeros((3, 1))]))
    assert intr.distortion_model == "plumb_bob"
    assert not intr.k.flags.writeable
    assert intr == CameraIntrinsics(640, 480, np.array(k), np.array([0.1, -0.2, 0, 0, 0.01]))
    assert intr != CameraIntrinsics(640, 480, k, [0.1, -0.2, 0, 0, 0.02])
    with pytest.raises(ConversionError, match="camera matrix k"):
        CameraIntrinsics(640, 480, np.eye(4), [])


@pytest.mark.parametrize(
    ("model", "n"), [("plumb_bob", 5), ("rational_polynomial", 8), ("equidistant", 4)]
)
def test_camera_info_roundtrip_ros2(model: str, n: int) -> None:
    intr = sample_intrinsics(model, n)
    msg = cdr_roundtrip(intrinsics_to_camera_info(intr, stamp_ns=77, frame_id="cam_optical"))
    assert header_stamp_ns(msg) == 77
    assert msg.header.frame_id == "cam_optical"
    assert msg.distortion_model == model
    back = camera_info_to_intrinsics(msg)
    assert back == intr
    np.testing.assert_array_equal(back.d, intr.d)  # float64 equality, no arithmetic


def test_camera_info_roundtrip_ros1_spelling() -> None:
    intr = sample_intrinsics("plumb_bob", 5)
    t = ROS1.types
    msg = t["sensor_msgs/msg/CameraInfo"](
        header=t["std_msgs/msg/Header"](
            seq=12, stamp=t["builtin_interfaces/msg/Time"](sec=1, nanosec=2), frame_id="cam"
        ),
        height=intr.height,
        width=intr.width,
        distortion_model=intr.distortion_model,
        D=intr.d.copy(),
        K=intr.k.reshape(-1).copy(),
        R=intr.r.reshape(-1).copy(),
        P=intr.p.reshape(-1).copy(),
        binning_x=0,
        binning_y=0,
        roi=t["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )
    msg = ros1_roundtrip(msg)
    assert not hasattr(msg, "k")
    assert camera_info_to_intrinsics(msg) == intr
    assert header_stamp_ns(msg) == 1_000_000_002


def test_camera_info_standin_and_errors() -> None:
    intr = sample_intrinsics()
    fake = SimpleNamespace(
        width=intr.width,
        height=intr.height,
        distortion_model="plumb_bob",
        d=list(intr.d),
        k=tuple(intr.k.reshape(-1)),
        r=intr.r.reshape(-1).tolist(),
        p=intr.p.reshape(-1).tolist(),
    )
    assert camera_info_to_intrinsics(fake) == intr
    fake.k = fake.k[:8]
    with pytest.raises(ConversionError, match=r"CameraInfo\.k has 8 values, expected 9"):
        camera_info_to_intrinsics(fake)
    del fake.k
    with pytest.raises(ConversionError, match="no field 'k' or 'K'"):
        camera_info_to_intrinsics(fake)


def test_camera_yaml_roundtrip(tmp_path: Path) -> None:
    for model, n in (("plumb_bob", 5), ("rational_polynomial", 8), ("equidistant", 4)):
        intr = sample_intrinsics(model, n)
        path = tmp_path / f"{model}.yaml"
        write_camera_info_yaml(intr, path, "front_cam")
        back, name = read_camera_info_yaml(path)
        assert name == "front_cam"
        assert back == intr  # exact float64
        doc = yaml.safe_load(path.read_text())
        assert list(doc) == [
            "image_width",
            "image_height",
            "camera_name",
            "camera_matrix",
            "distortion_model",
            "distortion_coefficients",
            "rectification_matrix",
            "projection_matrix",
        ]
        assert doc["distortion_coefficients"]["rows"] == 1
        assert doc["distortion_coefficients"]["cols"] == n
        assert doc["projection_matrix"]["cols"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "equidistant.yaml",
        "plumb_bob.yaml",
        "rational_polynomial.yaml",
    ]  # no temporary files left behind


def test_camera_yaml_reads_ros_file(tmp_path: Path) -> None:
    path = tmp_path / "ost.yaml"
    path.write_text(
        "image_width: 640\n"
        "image_height: 480\n"
        "camera_name: narrow_stereo\n"
        "camera_matrix:\n  rows: 3\n  cols: 3\n"
        "  data: [500, 0, 320, 0, 500, 240, 0, 0, 1]\n"
        "distortion_model: plumb_bob\n"
        "distortion_coefficients:\n  rows: 1\n  cols: 5\n  data: [0.1, -0.2, 0.001, 0.002, 0]\n"
        "rectification_matrix:\n  rows: 3\n  cols: 3\n  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]\n"
        "projection_matrix:\n  rows: 3\n  cols: 4\n"
        "  data: [500, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0]\n"
    )
    intr, name = read_camera_info_yaml(path)
    assert name == "narrow_stereo"
    assert intr.fx == 500.0 and intr.cy == 240.0
    np.testing.assert_array_equal(intr.d, [0.1, -0.2, 0.001, 0.002, 0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("image_width: 640\n", "missing key 'image_height'"),
        ("[1, 2", "invalid YAML"),
        ("- 1\n- 2\n", "expected a YAML mapping"),
        (
            "image_width: 640\nimage_height: 480\n"
            "camera_matrix: {rows: 3, cols: 3, data: [1, 2, 3]}\n"
            "distortion_coefficients: {rows: 1, cols: 0, data: []}\n",
            r"camera_matrix\.data has 3 values, expected rows\*cols = 9",
        ),
        (
            "image_width: 640\nimage_height: 480\n"
            "distortion_coefficients: {rows: 1, cols: 0, data: []}\n",
            "missing key 'camera_matrix'",
        ),
        (
            "image_width: wide\nimage_height: 480\n",
            "image_width is 'wide'",
        ),
    ],
)
def test_camera_yaml_errors_name_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad_calib.yaml"
    path.write_text(text)
    with pytest.raises(ConversionError, match=message) as info:
        read_camera_info_yaml(path)
    assert str(path) in str(info.value)


def test_camera_yaml_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConversionError, match=r"absent\.yaml"):
        read_camera_info_yaml(path)


# --- NavSatFix -----------------------------------------------------------------------------


def test_navsatfix_roundtrip() -> None:
    fix = GeoFix(
        stamp_ns=1_700_000_000_123_456_789,
        latitude_deg=-23.456789012345678,
        longitude_deg=133.87654321098765,
        altitude_m=612.3456,
        position_covariance=random_cov(3, 1),
        covariance_type=3,
        status=2,
        service=1 | 8,
        frame_id="gps",
    )
    msg = cdr_roundtrip(geofix_to_navsatfix(fix))
    assert msg.status.status == 2
    back = navsatfix_to_geofix(msg)
    assert back == fix
    assert back.latitude_deg == fix.latitude_deg
    np.testing.assert_array_equal(back.position_covariance, fix.position_covariance)
    assert back != GeoFix(fix.stamp_ns, 0.0, 0.0, 0.0)
    # defaults and NO_FIX status survive
    minimal = GeoFix(5, 1.0, 2.0, 3.0, status=-1)
    assert navsatfix_to_geofix(cdr_roundtrip(geofix_to_navsatfix(minimal))) == minimal


def test_navsatfix_ros1() -> None:
    t = ROS1.types
    msg = t["sensor_msgs/msg/NavSatFix"](
        header=t["std_msgs/msg/Header"](
            seq=1, stamp=t["builtin_interfaces/msg/Time"](sec=10, nanosec=20), frame_id="gps"
        ),
        status=t["sensor_msgs/msg/NavSatStatus"](status=0, service=1),
        latitude=1.25,
        longitude=2.5,
        altitude=3.75,
        position_covariance=np.arange(9, dtype=np.float64),
        position_covariance_type=2,
    )
    fix = navsatfix_to_geofix(ros1_roundtrip(msg))
    assert (fix.stamp_ns, fix.latitude_deg, fix.longitude_deg, fix.altitude_m) == (
        10_000_000_020,
        1.25,
        2.5,
        3.75,
    )
    np.testing.assert_array_equal(fix.position_covariance, np.arange(9.0).reshape(3, 3))
    assert fix.covariance_type == 2 and fix.frame_id == "gps"


# --- Imu -----------------------------------------------------------------------------------


def test_imu_roundtrip() -> None:
    rng = np.random.default_rng(11)
    q = rng.normal(size=4)
    sample = ImuSample(
        stamp_ns=42_000_000_001,
        frame_id="imu_link",
        orientation_xyzw=q / np.linalg.norm(q),
        orientation_covariance=random_cov(3, 2),
        angular_velocity_rad_s=rng.normal(size=3),
        angular_velocity_covariance=random_cov(3, 3),
        linear_acceleration_m_s2=rng.normal(0, 9.81, 3),
        linear_acceleration_covariance=np.diag([-1.0, 0, 0]),  # "not provided" marker kept
    )
    msg = cdr_roundtrip(sample_to_imu(sample))
    back = imu_to_sample(msg)
    assert back == sample
    np.testing.assert_array_equal(back.orientation_xyzw, sample.orientation_xyzw)
    assert back.linear_acceleration_covariance[0, 0] == -1.0
    fake = SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=42, nanosec=1), frame_id="imu_link"),
        orientation=SimpleNamespace(**dict(zip("xyzw", sample.orientation_xyzw, strict=True))),
        orientation_covariance=list(msg.orientation_covariance),
        angular_velocity=msg.angular_velocity,
        angular_velocity_covariance=msg.angular_velocity_covariance,
        linear_acceleration=msg.linear_acceleration,
        linear_acceleration_covariance=msg.linear_acceleration_covariance,
    )
    assert imu_to_sample(fake) == sample
    with pytest.raises(ConversionError, match=r"ImuSample\.orientation_xyzw"):
        ImuSample(0, "", np.zeros(3), np.eye(3), np.zeros(3), np.eye(3), np.zeros(3), np.eye(3))


# --- Pose / Transform / Odometry / TF -------------------------------------------------------


def test_pose_and_transform_matrices() -> None:
    for seed in range(20):
        t = random_pose(seed)
        pose = cdr_roundtrip(matrix_to_pose(t))
        assert pose.orientation.w >= 0
        np.testing.assert_allclose(pose_to_matrix(pose), t, rtol=0, atol=1e-12)
        assert pose.position.x == t[0, 3]  # translation copied, not computed
        tf = cdr_roundtrip(matrix_to_transform(t))
        np.testing.assert_allclose(transform_to_matrix(tf), t, rtol=0, atol=1e-12)
    # 180° rotations take the other branches of the matrix -> quaternion conversion
    for r in (np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])):
        t = np.eye(4)
        t[:3, :3] = r
        np.testing.assert_allclose(pose_to_matrix(matrix_to_pose(t)), t, atol=1e-12)


def test_quaternion_reading_is_exact_for_known_values() -> None:
    s = math.sqrt(0.5)
    pose = SimpleNamespace(
        position=SimpleNamespace(x=1.0, y=2.0, z=3.0),
        orientation=SimpleNamespace(x=0.0, y=0.0, z=s, w=s),  # +90° about z
    )
    expected = np.array([[0, -1, 0, 1], [1, 0, 0, 2], [0, 0, 1, 3], [0, 0, 0, 1.0]])
    np.testing.assert_allclose(pose_to_matrix(pose), expected, atol=1e-15)
    # non-unit quaternions are normalised
    pose.orientation = SimpleNamespace(x=0.0, y=0.0, z=2.0, w=2.0)
    np.testing.assert_allclose(pose_to_matrix(pose), expected, atol=1e-15)


def test_geometry_errors() -> None:
    pose = SimpleNamespace(
        position=SimpleNamespace(x=0.0, y=0.0, z=0.0),
        orientation=SimpleNamespace(x=0.0, y=0.0, z=0.0, w=0.0),
    )
    with pytest.raises(ConversionError, match=r"Pose\.orientation is not a rotation"):
        pose_to_matrix(pose)
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(ConversionError, match="pose matrix rotation part"):
        matrix_to_pose(bad)
    with pytest.raises(ConversionError, match=r"shape \(3, 3\)"):
        matrix_to_transform(np.eye(3))
    mirror = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(ConversionError, match="not a rotation"):
        matrix_to_pose(mirror)


def test_pose_stamped_roundtrip() -> None:
    t = random_pose(3)
    msg = cdr_roundtrip(matrix_to_pose_stamped(t, 9_000_000_001, "map"))
    assert header_stamp_ns(msg) == 9_000_000_001
    assert msg.header.frame_id == "map"
    np.testing.assert_allclose(pose_stamped_to_matrix(msg), t, rtol=0, atol=1e-12)


def test_odometry_roundtrip() -> None:
    rng = np.random.default_rng(4)
    sample = OdometrySample(
        stamp_ns=123_456_789_012,
        frame_id="odom",
        child_frame_id="base_link",
        pose_matrix=random_pose(5),
        pose_covariance=random_cov(6, 6),
        twist_linear=rng.normal(size=3),
        twist_angular=rng.normal(size=3),
        twist_covariance=random_cov(6, 7),
    )
    msg = cdr_roundtrip(sample_to_odometry(sample))
    np.testing.assert_allclose(odometry_to_matrix(msg), sample.pose_matrix, rtol=0, atol=1e-12)
    back = odometry_to_sample(msg)
    assert (back.stamp_ns, back.frame_id, back.child_frame_id) == (
        sample.stamp_ns,
        "odom",
        "base_link",
    )
    np.testing.assert_allclose(back.pose_matrix, sample.pose_matrix, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(back.pose_matrix[:3, 3], sample.pose_matrix[:3, 3])
    np.testing.assert_array_equal(back.pose_covariance, sample.pose_covariance)
    np.testing.assert_array_equal(back.twist_linear, sample.twist_linear)
    np.testing.assert_array_equal(back.twist_angular, sample.twist_angular)
    np.testing.assert_array_equal(back.twist_covariance, sample.twist_covariance)
    # message -> sample -> message is exact apart from the quaternion (through a matrix)
    again = sample_to_odometry(back)
    q1 = [getattr(msg.pose.pose.orientation, c) for c in "xyzw"]
    q2 = [getattr(again.pose.pose.orientation, c) for c in "xyzw"]
    np.testing.assert_allclose(q1, q2, rtol=0, atol=1e-12)


def test_tf_roundtrip_exact() -> None:
    rng = np.random.default_rng(12)
    transforms = []
    for i in range(5):
        q = rng.normal(size=4)
        transforms.append(
            StampedTransform(
                stamp_ns=1_000 * i + 7,
                parent_frame="map" if i == 0 else f"link{i - 1}",
                child_frame=f"link{i}",
                translation=rng.normal(size=3),
                rotation_xyzw=q / np.linalg.norm(q),
            )
        )
    msg = cdr_roundtrip(transforms_to_tf_message(transforms))
    assert len(msg.transforms) == 5
    back = tf_message_to_transforms(msg)
    for got, want in zip(back, transforms, strict=True):
        assert got == want  # translation and quaternion exactly as given
        np.testing.assert_array_equal(got.rotation_xyzw, want.rotation_xyzw)
        np.testing.assert_allclose(got.matrix[:3, :3] @ got.matrix[:3, :3].T, np.eye(3), atol=1e-12)
    single = cdr_roundtrip(stamped_transform_to_transform_stamped(transforms[2]))
    assert single.header.frame_id == "link1" and single.child_frame_id == "link2"
    assert transform_stamped_to_stamped_transform(single) == transforms[2]


def test_stamped_transform_from_matrix() -> None:
    t = random_pose(8)
    st = StampedTransform(5, "a", "b", matrix=t)
    np.testing.assert_array_equal(st.translation, t[:3, 3])
    assert st.rotation_xyzw[3] >= 0
    again = StampedTransform(
        5, "a", "b", translation=st.translation, rotation_xyzw=st.rotation_xyzw
    )
    np.testing.assert_allclose(again.matrix, t, rtol=0, atol=1e-12)
    assert not st.matrix.flags.writeable
    with pytest.raises(ConversionError, match="needs a matrix"):
        StampedTransform(5, "a", "b")


def test_explicit_factory_is_used() -> None:
    calls: list[str] = []
    inner = RosbagsFactory(ROS2)

    def factory(msgtype: str, /, **fields: Any) -> Any:
        calls.append(msgtype)
        return inner(msgtype, **fields)

    matrix_to_pose_stamped(np.eye(4), 0, "map", factory)
    assert calls[-1] == "geometry_msgs/msg/PoseStamped"
    assert "builtin_interfaces/msg/Time" in calls
    with pytest.raises(ConversionError, match="not known to the typestore"):
        inner("nope_msgs/msg/Nope")
