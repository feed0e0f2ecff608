"""The rclpy adapter live: ProcessorNode in-process with real rclpy, DDS and messages.

rclpy cannot be installed on a plain development machine; these tests run in the Docker
test stage (``docker build --target test .``), where ROS 2 Jazzy is sourced. Each test
works in its own rclpy context. Expected outputs are computed by running the same
processor offline (rosbags factory) on the same input message, so the tests check the
adapter (parameters, QoS, topics, conversion, feeding) rather than restate the
processors.
"""

# ruff: noqa: E402 - everything below needs rclpy, imported after the skip

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

rclpy = pytest.importorskip(
    "rclpy", reason="rclpy is not installable here; runs in the Docker test stage"
)

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.context import Context
from rclpy.exceptions import InvalidParameterValueException
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from rclpy.serialization import deserialize_message, serialize_message
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CameraInfo, Image, NavSatFix, NavSatStatus
from std_msgs.msg import String

from smartmine.msgs import image_to_numpy, numpy_to_image
from smartmine.processor import Output, Processor, get_processor, make_params

REPO = Path(__file__).resolve().parents[1]
PKG_DIR = REPO / "ros2_ws" / "src" / "smartmine_ros"
if str(PKG_DIR) not in sys.path:
    sys.path.insert(0, str(PKG_DIR))

from smartmine_ros.adapter import ProcessorNode
from smartmine_ros.entry_points import processor_names
from smartmine_ros.factory import RclpyFactory
from smartmine_ros.main import main
from smartmine_ros.params import from_ros_value, ros_params

STAMP = (1_717_000_000, 250_000_000)
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


@pytest.fixture
def context() -> Iterator[Context]:
    ctx = Context()
    rclpy.init(context=ctx, signal_handler_options=SignalHandlerOptions.NO)
    try:
        yield ctx
    finally:
        rclpy.try_shutdown(context=ctx)


@pytest.fixture
def executor(context: Context) -> Iterator[SingleThreadedExecutor]:
    ex = SingleThreadedExecutor(context=context)
    try:
        yield ex
    finally:
        for node in list(ex.get_nodes()):
            ex.remove_node(node)
            node.destroy_node()
        ex.shutdown()


def spin_until(
    executor: SingleThreadedExecutor,
    done: Callable[[], bool],
    each: Callable[[], None] | None = None,
    timeout_s: float = 15.0,
) -> bool:
    """Spin until ``done()``; ``each()`` runs every round (re-publishing until discovery)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if each is not None:
            each()
        executor.spin_once(timeout_sec=0.05)
        if done():
            return True
    return False


def offline(cls: type[Processor[Any]], overrides: dict[str, Any], *inputs: Any) -> list[Output]:
    """What the processor outputs offline (rosbags factory) for ``(port, message)`` inputs."""
    processor = cls(make_params(cls, overrides))
    outputs: list[Output] = []
    for port, message in inputs:
        outputs += processor.process(port, message, 0)
    return outputs


def navsatfix(lat: float = 49.948, lon: float = 82.628, alt: float = 402.5) -> NavSatFix:
    """A fix near Ust-Kamenogorsk, East Kazakhstan (UTM 44N)."""
    fix = NavSatFix()
    fix.header.stamp.sec, fix.header.stamp.nanosec = STAMP
    fix.header.frame_id = "gnss_link"
    fix.status.status = NavSatStatus.STATUS_FIX
    fix.status.service = NavSatStatus.SERVICE_GPS
    fix.latitude, fix.longitude, fix.altitude = lat, lon, alt
    fix.position_covariance = np.diag([0.04, 0.04, 0.09]).reshape(-1)
    fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
    return fix


# -- gnss_to_pose end to end ------------------------------------------------------------
def test_gnss_to_pose_node_turns_a_fix_into_a_pose(
    context: Context, executor: SingleThreadedExecutor
) -> None:
    cls = get_processor("gnss_to_pose")
    node = ProcessorNode(
        cls, context=context, parameter_overrides=[Parameter("utm_zone", value=44)]
    )
    assert node.get_name() == "smartmine_gnss_to_pose"
    peer = Node("smartmine_test_peer", context=context)
    poses: list[PoseStamped] = []
    peer.create_subscription(PoseStamped, node.topics["pose"], poses.append, RELIABLE)
    publisher = peer.create_publisher(NavSatFix, node.topics["fix"], qos_profile_sensor_data)
    executor.add_node(node)
    executor.add_node(peer)
    fix = navsatfix()

    assert spin_until(executor, lambda: bool(poses), each=lambda: publisher.publish(fix))

    expected = {o.port: o.message for o in offline(cls, {"utm_zone": 44}, ("fix", fix))}
    pose = poses[0]
    assert isinstance(pose, PoseStamped)
    assert (pose.header.stamp.sec, pose.header.stamp.nanosec) == STAMP
    assert pose.header.frame_id == expected["pose"].header.frame_id == "map"
    for axis in "xyz":
        got = getattr(pose.pose.position, axis)
        assert got == pytest.approx(getattr(expected["pose"].pose.position, axis), abs=1e-6)
    assert 500_000 < pose.pose.position.x < 700_000  # east of the 81°E central meridian
    assert 5_500_000 < pose.pose.position.y < 5_600_000
    assert pose.pose.position.z == pytest.approx(402.5)
    assert pose.pose.orientation.w == pytest.approx(1.0)

    # the CRS is latched: a subscriber joining later still gets it
    crs: list[String] = []
    peer.create_subscription(String, node.topics["crs"], crs.append, LATCHED)
    assert spin_until(executor, lambda: bool(crs))
    assert crs[0].data == expected["crs"].data == "EPSG:32644"


def test_ports_get_their_qos_and_relative_topics(
    context: Context, executor: SingleThreadedExecutor
) -> None:
    node = ProcessorNode("gnss_to_pose", context=context, namespace="drone1")
    executor.add_node(node)
    assert node.topics["fix"] == "/drone1/gnss/fix"
    assert node.topics["tf"] == "/drone1/tf"
    crs = node.output_publishers[node.topics["crs"]].qos_profile
    assert crs.durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert crs.reliability == ReliabilityPolicy.RELIABLE
    assert crs.depth == 1
    pose = node.output_publishers[node.topics["pose"]].qos_profile
    assert pose.durability == DurabilityPolicy.VOLATILE and pose.depth == 10
    (fix_sub,) = node.input_subscriptions
    assert fix_sub.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT


def test_remapping_moves_a_port(context: Context, executor: SingleThreadedExecutor) -> None:
    node = ProcessorNode(
        "gnss_to_pose", context=context, cli_args=["--ros-args", "-r", "/gnss/fix:=/fix"]
    )
    executor.add_node(node)
    assert node.topics["fix"] == "/fix"
    assert node.topics["pose"] == "/gnss/pose"


def test_rejected_messages_are_logged_and_the_node_goes_on(
    context: Context, executor: SingleThreadedExecutor
) -> None:
    node = ProcessorNode("gnss_to_pose", context=context)
    executor.add_node(node)
    bad = navsatfix(lat=float("nan"))
    with mock.patch.object(type(node.get_logger()), "warning") as warning:
        node.on_message("fix", String(data="not a fix"))
        node.on_message("fix", bad)
    assert node.feeder.rejected == 2
    lines = [str(call.args[0]) for call in warning.call_args_list]
    assert len(lines) == 2 and all("rejected" in line for line in lines)
    assert "std_msgs/msg/String" in lines[0]
    node.on_message("fix", navsatfix())  # a good one after the bad ones
    assert node.feeder.rejected == 2


# -- parameters -------------------------------------------------------------------------
@pytest.mark.parametrize("name", processor_names())
def test_parameters_are_declared_with_descriptors(
    name: str, context: Context, executor: SingleThreadedExecutor
) -> None:
    cls = get_processor(name)
    node = ProcessorNode(cls, context=context)
    executor.add_node(node)
    for param in ros_params(cls):
        descriptor = node.describe_parameter(param.name)
        assert descriptor.description == param.description
        assert descriptor.additional_constraints == param.additional_constraints
        assert descriptor.read_only is False
        assert descriptor.type == Parameter.Type[param.type].value
        if param.float_range is not None:
            (r,) = descriptor.floating_point_range
            assert (r.from_value, r.to_value) == param.float_range
        if param.int_range is not None:
            (ri,) = descriptor.integer_range
            assert (ri.from_value, ri.to_value) == param.int_range
        value = from_ros_value(node.get_parameter_or(param.name).value)
        assert value == param.default  # None: declared by type, not set


def test_parameter_changes_are_checked_and_rebuild_the_processor(
    context: Context, executor: SingleThreadedExecutor
) -> None:
    node = ProcessorNode("image_rectify", context=context)
    executor.add_node(node)
    before = node.processor
    assert not node.set_parameters([Parameter("alpha", value=2.0)])[0].successful  # range
    refused = node.set_parameters([Parameter("interpolation", value="bogus")])[0]
    assert not refused.successful and "interpolation" in refused.reason  # choices
    assert node.processor is before
    assert node.set_parameters([Parameter("alpha", value=0.5)])[0].successful
    assert node.processor is not before
    assert node.processor.params.alpha == 0.5
    assert node.get_parameter("alpha").value == 0.5


def test_out_of_range_override_fails_the_node(context: Context) -> None:
    with pytest.raises(InvalidParameterValueException):
        ProcessorNode(
            "gnss_to_pose", context=context, parameter_overrides=[Parameter("utm_zone", value=99)]
        )


def test_main_reports_bad_parameters_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gnss_to_pose", "--ros-args", "-p", "utm_zone:=99"]
    assert main(argv, processor_name="gnss_to_pose") == 2
    assert "utm_zone" in capsys.readouterr().err
    argv = ["gnss_to_pose", "--ros-args", "-p", "frame:=wgs84"]
    assert main(argv, processor_name="gnss_to_pose") == 2
    err = capsys.readouterr().err.strip()
    assert "frame" in err and len(err.splitlines()) == 1


# -- messages ---------------------------------------------------------------------------
def test_rclpy_factory_builds_serializable_messages() -> None:
    factory = RclpyFactory()
    pixels = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    image = numpy_to_image(pixels, "rgb8", stamp_ns=5_000_000_123, frame_id="cam", factory=factory)
    assert isinstance(image, Image)
    assert image.data.typecode == "B" and len(image.data) == pixels.size
    assert (image.header.stamp.sec, image.header.stamp.nanosec) == (5, 123)
    again = deserialize_message(serialize_message(image), Image)
    assert np.array_equal(image_to_numpy(again), pixels)

    info = factory(
        "sensor_msgs/msg/CameraInfo",
        height=np.int64(4),
        width=6,
        distortion_model="plumb_bob",
        d=np.zeros(5, dtype=np.float32),
        k=np.array([[500.0, 0, 3], [0, 500.0, 2], [0, 0, 1]]),
    )
    assert isinstance(info, CameraInfo)
    assert info.k.dtype == np.float64 and info.k.shape == (9,)
    assert info.d.typecode == "d" and len(info.d) == 5
    again_info = deserialize_message(serialize_message(info), CameraInfo)
    assert list(again_info.k) == list(info.k)


def test_image_rectify_node_matches_the_offline_processor(
    context: Context, executor: SingleThreadedExecutor
) -> None:
    cls = get_processor("image_rectify")
    node = ProcessorNode(cls, context=context)
    peer = Node("smartmine_test_camera", context=context)
    rectified: list[Image] = []
    peer.create_subscription(Image, node.topics["image_rect"], rectified.append, RELIABLE)
    image_pub = peer.create_publisher(Image, node.topics["image"], qos_profile_sensor_data)
    info_pub = peer.create_publisher(
        CameraInfo, node.topics["camera_info"], qos_profile_sensor_data
    )
    executor.add_node(node)
    executor.add_node(peer)

    height, width = 48, 64
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    image = numpy_to_image(pixels, "rgb8", stamp_ns=10**9, frame_id="cam", factory=RclpyFactory())
    info = CameraInfo()
    info.header = image.header
    info.height, info.width = height, width
    info.distortion_model = "plumb_bob"
    info.d = [-0.2, 0.05, 0.001, -0.001, 0.0]
    info.k = [60.0, 0.0, 32.0, 0.0, 60.0, 24.0, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [60.0, 0.0, 32.0, 0.0, 0.0, 60.0, 24.0, 0.0, 0.0, 0.0, 1.0, 0.0]

    def publish() -> None:
        info_pub.publish(info)
        image_pub.publish(image)

    assert spin_until(executor, lambda: bool(rectified), each=publish)
    expected = offline(cls, {}, ("camera_info", info), ("image", image))
    (want,) = [o.message for o in expected if o.port == "image_rect"]
    got = rectified[0]
    assert (got.height, got.width, got.encoding) == (height, width, "rgb8")
    assert np.array_equal(image_to_numpy(got), image_to_numpy(want))
    assert not np.array_equal(image_to_numpy(got), pixels)  # distortion was removed
