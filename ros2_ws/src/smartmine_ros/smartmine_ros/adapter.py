"""``ProcessorNode``: the one generic rclpy adapter that runs any smartmine processor.

A processor declares its ports (topic, message type, QoS kind) and parameters; this node
turns that declaration into ROS 2:

- node name ``smartmine_<processor>``;
- each processor parameter is a statically typed ROS 2 parameter with a descriptor
  (description with unit, ``FloatingPointRange``/``IntegerRange`` from the parameter's
  range, allowed values in ``additional_constraints``, ``read_only=False``); the
  processor's ``Params`` are built with ``make_params`` from the declared values, and a
  later ``ros2 param set`` is checked the same way and rebuilds the processor (what it
  still held is published first);
- one subscription per input port and one publisher per output port, on the port's
  default topic made node-relative (``/gnss/fix`` -> ``gnss/fix``, so it equals
  ``/gnss/fix`` in the root namespace and follows ``namespace:=...``), remapped with
  standard ROS remapping (``--ros-args -r /gnss/fix:=/fix``); QoS by kind: ``sensor`` ->
  ``qos_profile_sensor_data``, ``reliable`` -> reliable volatile depth 10, ``latched`` ->
  reliable transient local depth 1;
- message classes from the port type names (``rosidl_runtime_py``), output messages
  built by :class:`~smartmine_ros.factory.RclpyFactory`;
- each message goes through :class:`smartmine.runner.Feeder` (the same feeding as the
  offline bag runner) with the node clock's time, and what it returns is published on the
  publisher of that topic; rejected messages are logged as warnings and the node goes on;
- :meth:`ProcessorNode.finish` (called on shutdown) publishes what the processor still
  holds.
"""

from __future__ import annotations

import functools
from typing import Any

import rclpy.qos
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.subscription import Subscription

from smartmine.processor import Processor, ProcessorError, get_processor, make_params
from smartmine.runner import Feeder
from smartmine_ros.factory import RclpyFactory
from smartmine_ros.naming import node_name, node_topic
from smartmine_ros.params import RosParam, from_ros_value, ros_params
from smartmine_ros.qos import QOS

__all__ = ["ProcessorNode", "RclpyFactory", "parameter_descriptor", "qos_profile"]


def qos_profile(kind: str) -> rclpy.qos.QoSProfile:
    """The rclpy QoS profile of a port's QoS kind (see :mod:`smartmine_ros.qos`)."""
    try:
        spec = QOS[kind]
    except KeyError:
        raise ProcessorError(f"unknown QoS kind {kind!r} (known: {', '.join(QOS)})") from None
    if spec.preset is not None:
        preset: rclpy.qos.QoSProfile = getattr(rclpy.qos, spec.preset)
        return preset
    return rclpy.qos.QoSProfile(
        history=rclpy.qos.HistoryPolicy.KEEP_LAST,
        depth=spec.depth,
        reliability=rclpy.qos.ReliabilityPolicy[spec.reliability],
        durability=rclpy.qos.DurabilityPolicy[spec.durability],
    )


def parameter_descriptor(param: RosParam) -> ParameterDescriptor:
    """The ROS 2 descriptor of a processor parameter."""
    descriptor = ParameterDescriptor(
        name=param.name,
        type=Parameter.Type[param.type].value,
        description=param.description,
        additional_constraints=param.additional_constraints,
        read_only=False,
    )
    if param.float_range is not None:
        lo, hi = param.float_range
        descriptor.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
    if param.int_range is not None:
        lo_i, hi_i = param.int_range
        descriptor.integer_range = [IntegerRange(from_value=lo_i, to_value=hi_i, step=0)]
    return descriptor


class ProcessorNode(Node):
    """Any smartmine processor as a ROS 2 node.

    ``processor`` is a processor class or its registered name; ``node_kwargs`` go to
    ``rclpy.node.Node`` (``context``, ``namespace``, ``parameter_overrides``, ...).
    Raises ``ProcessorError`` for parameters the processor refuses, and rclpy's parameter
    exceptions for values ROS refuses (wrong type, out of range).
    """

    def __init__(
        self,
        processor: type[Processor[Any]] | str,
        *,
        name: str | None = None,
        **node_kwargs: Any,
    ) -> None:
        cls = get_processor(processor) if isinstance(processor, str) else processor
        super().__init__(name or node_name(cls.name), **node_kwargs)
        self.processor_cls = cls
        self.ros_params: dict[str, RosParam] = {p.name: p for p in ros_params(cls)}
        for param in self.ros_params.values():
            value = param.default if param.default is not None else Parameter.Type[param.type]
            self.declare_parameter(param.name, value, parameter_descriptor(param))

        self.factory = RclpyFactory()
        self.processor: Processor[Any] = cls(self._sm_params(), self.factory)
        self._sm_pending: Processor[Any] | None = None

        self.topics: dict[str, str] = {}  # port name -> resolved topic
        self.output_publishers: dict[str, Publisher] = {}  # resolved topic -> publisher
        self.input_subscriptions: list[Subscription] = []
        for port in cls.outputs:
            topic = node_topic(port.topic)
            publisher = self.create_publisher(
                self.factory.message_class(port.msgtype), topic, qos_profile(port.qos)
            )
            resolved = str(getattr(publisher, "topic_name", topic))
            self.topics[port.name] = resolved
            self.output_publishers[resolved] = publisher
        for port in cls.inputs:
            topic = node_topic(port.topic)
            subscription = self.create_subscription(
                self.factory.message_class(port.msgtype),
                topic,
                functools.partial(self.on_message, port.name),
                qos_profile(port.qos),
            )
            self.topics[port.name] = str(getattr(subscription, "topic_name", topic))
            self.input_subscriptions.append(subscription)

        self.feeder = Feeder(self.processor, self.topics, self._sm_report)
        # a source processor (no inputs, a ``poll()``: e.g. realsense_capture) is polled
        poll = getattr(self.processor, "poll", None)
        if not cls.inputs and callable(poll):
            period_s = float(getattr(self.processor, "poll_period_s", 1.0 / 60.0))
            self.create_timer(period_s, self._sm_poll)
        self.add_on_set_parameters_callback(self._sm_check_parameters)
        self.add_post_set_parameters_callback(self._sm_apply_parameters)
        ins = ", ".join(f"{p.name}<-{self.topics[p.name]}" for p in cls.inputs)
        outs = ", ".join(f"{p.name}->{self.topics[p.name]}" for p in cls.outputs)
        self.get_logger().info(f"{cls.name}: in {ins}; out {outs}")

    # -- messages ----------------------------------------------------------------------
    # (private names carry the _sm_ prefix so that they never clash with rclpy's Node)
    def on_message(self, port: str, message: Any) -> None:
        """Subscription callback of input ``port``: feed, then publish the outputs."""
        now_ns = self.get_clock().now().nanoseconds
        self._sm_publish(self.feeder.feed(port, message, now_ns))

    def _sm_poll(self) -> None:
        """Timer callback of a source processor: publish what ``poll()`` returns."""
        outputs = self.processor.poll()  # type: ignore[attr-defined]
        self._sm_publish([(self.topics[out.port], out.message) for out in outputs])

    def _sm_publish(self, pairs: list[tuple[str, Any]]) -> None:
        for topic, message in pairs:
            publisher = self.output_publishers.get(topic)
            if publisher is None:
                self.get_logger().error(f"{self.processor_cls.name}: no publisher for {topic!r}")
                continue
            try:
                publisher.publish(message)
            except TypeError as err:  # a processor built the wrong message type
                self.get_logger().error(
                    f"{self.processor_cls.name}: cannot publish on {topic!r}: {err}"
                )

    def _sm_report(self, line: str) -> None:
        self.get_logger().warning(line)

    def finish(self) -> None:
        """End of input (shutdown): publish what the processor still holds."""
        pairs = self.feeder.finish()
        if not pairs:
            return
        if not self.context.ok():
            self.get_logger().warning(
                f"{self.processor_cls.name}: {len(pairs)} held message(s) not published: "
                "the ROS context is already shut down"
            )
            return
        self._sm_publish(pairs)

    # -- parameters --------------------------------------------------------------------
    def _sm_where(self) -> str:
        return f"node {self.get_fully_qualified_name()}"

    def _sm_values(self) -> dict[str, Any]:
        """Current values of the processor parameters that are set."""
        values = {}
        for name in self.ros_params:
            value = from_ros_value(self.get_parameter_or(name).value)
            if value is not None:
                values[name] = value
        return values

    def _sm_params(self, changed: dict[str, Any] | None = None) -> Any:
        values = self._sm_values()
        for name, value in (changed or {}).items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return make_params(self.processor_cls, values, where=self._sm_where())

    def _sm_check_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Accept a change only if the processor accepts the resulting parameters."""
        changed = {p.name: from_ros_value(p.value) for p in parameters if p.name in self.ros_params}
        if not changed:
            return SetParametersResult(successful=True)
        try:
            self._sm_pending = self.processor_cls(self._sm_params(changed), self.factory)
        except ProcessorError as err:
            self._sm_pending = None
            return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _sm_apply_parameters(self, parameters: list[Parameter]) -> None:
        """After a change: flush the old processor, continue with the new one."""
        if self._sm_pending is None or not any(p.name in self.ros_params for p in parameters):
            return
        self._sm_publish(self.feeder.finish())
        rejected = self.feeder.rejected
        self.processor, self._sm_pending = self._sm_pending, None
        self.feeder = Feeder(self.processor, self.topics, self._sm_report)
        self.feeder.rejected = rejected
        names = ", ".join(p.name for p in parameters if p.name in self.ros_params)
        self.get_logger().info(f"{self.processor_cls.name}: parameters changed ({names})")
