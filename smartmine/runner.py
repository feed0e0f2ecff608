"""The offline bag runner: a processor over a recorded bag, outputs into a new bag.

Messages on the processor's input topics are fed in log-time order with their log time
as receive time, exactly as the live adapter feeds them with the clock's time; outputs
are written at the receive time of the message that produced them. Topics asked to be
kept are copied into the output bag. A message the processor rejects (wrong type,
malformed) is reported with its topic and time and the run goes on.

The effective configuration (processor, parameters, remappings) is saved beside the
output as ``<out>.params.yaml`` in the ROS 2 parameter-file layout, so the same run can
be repeated live with ``--params-file`` or offline with ``--params``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartmine.atomic import write_text_atomic
from smartmine.bagio.reader import BagReader
from smartmine.bagio.writer import BagWriter
from smartmine.errors import BagError, SmartmineError
from smartmine.processor import Processor, ProcessorError, make_params
from smartmine.progress import progress


def parse_remaps(pairs: Sequence[str]) -> dict[str, str]:
    """``["fix:=/fix", "/gnss/pose:=/pose"]`` → mapping from port name or topic to topic."""
    out = {}
    for pair in pairs:
        source, sep, target = pair.partition(":=")
        if not sep or not source or not target:
            raise ProcessorError(f"--remap {pair!r}: expected FROM:=TO (port name or topic)")
        out[source] = target
    return out


def resolve_topics(cls: type[Processor[Any]], remaps: Mapping[str, str]) -> dict[str, str]:
    """Port name → topic, after remapping by port name or by default topic."""
    ports = (*cls.inputs, *cls.outputs)
    known = {p.name for p in ports} | {p.topic for p in ports}
    unknown = [k for k in remaps if k not in known]
    if unknown:
        raise ProcessorError(
            f"--remap {unknown[0]!r}: {cls.name} has no such port or topic "
            f"(ports: {', '.join(p.name for p in ports)})"
        )
    return {p.name: remaps.get(p.name, remaps.get(p.topic, p.topic)) for p in ports}


def message_type_of(message: Any) -> str | None:
    """ROS 2 type name of a message object (rosbags ``__msgtype__`` or rclpy class)."""
    msgtype = getattr(message, "__msgtype__", None)
    if isinstance(msgtype, str):
        return msgtype
    cls = type(message)
    module = cls.__module__.split(".")  # rclpy: sensor_msgs.msg._nav_sat_fix
    if len(module) >= 2 and module[1] == "msg":
        return f"{module[0]}/msg/{cls.__name__}"
    return None


class Feeder:
    """Feeds one processor, checks message types and turns failures into reports.

    Shared by the bag runner and the live rclpy adapter so both behave alike.
    """

    def __init__(
        self,
        processor: Processor[Any],
        topics: Mapping[str, str],
        report: Callable[[str], None],
    ) -> None:
        self.processor = processor
        self.topics = topics
        self.report = report
        self.rejected = 0

    def feed(self, port: str, message: Any, receive_time_ns: int) -> list[tuple[str, Any]]:
        """(output topic, message) pairs to publish; [] and a report on rejection."""
        cls = type(self.processor)
        topic = self.topics[port]
        expected = cls.input_port(port).msgtype
        got = message_type_of(message)
        if got is not None and got != expected:
            return self.reject(topic, receive_time_ns, f"type {got}, expected {expected}")
        try:
            outputs = self.processor.process(port, message, receive_time_ns)
        except SmartmineError as err:
            return self.reject(topic, receive_time_ns, str(err))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as err:
            return self.reject(
                topic, receive_time_ns, f"malformed message ({type(err).__name__}: {err})"
            )
        return [(self.topics[o.port], o.message) for o in outputs]

    def finish(self) -> list[tuple[str, Any]]:
        return [(self.topics[o.port], o.message) for o in self.processor.finish()]

    def reject(self, topic: str, time_ns: int, why: str) -> list[tuple[str, Any]]:
        self.rejected += 1
        self.report(
            f"{self.processor.name}: message on {topic!r} at t={time_ns} ns rejected: {why}"
        )
        return []


@dataclass
class RunReport:
    processor: str
    output: str
    inputs: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, int] = field(default_factory=dict)
    kept: dict[str, int] = field(default_factory=dict)
    rejected: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def params_sidecar(out: Path) -> Path:
    return out.with_name(f"{out.name}.params.yaml")


def run_on_bag(
    cls: type[Processor[Any]],
    bag_in: Path | str,
    bag_out: Path | str,
    *,
    overrides: Mapping[str, Any] | None = None,
    remaps: Mapping[str, str] | None = None,
    keep: Sequence[str] = (),
    start_ns: int | None = None,
    end_ns: int | None = None,
    overwrite: bool = False,
    distro: str | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> RunReport:
    """Run ``cls`` over ``bag_in``; write its outputs (and ``keep`` topics) to ``bag_out``."""
    import yaml

    params = make_params(cls, overrides)
    topics = resolve_topics(cls, remaps or {})
    first_rejection: list[str] = []

    def note(line: str) -> None:
        if not first_rejection:
            first_rejection.append(line)
        report(line)

    bag_out = Path(bag_out)
    result = RunReport(cls.name, str(bag_out))
    with BagReader(bag_in, distro=distro) as reader:
        available = reader.topics
        # an optional input (e.g. an IMU beside the camera) absent from the bag is skipped
        in_topics = {
            topics[p.name]: p
            for p in cls.inputs
            if not (p.optional and topics[p.name] not in available)
        }
        reader.require_topics([*in_topics, *keep])
        for topic, port in in_topics.items():
            if available[topic].msgtype != port.msgtype:
                raise ProcessorError(
                    f"{reader.path}: topic {topic!r} has type {available[topic].msgtype}, "
                    f"but {cls.name} port {port.name!r} takes {port.msgtype} "
                    f"(remap with --remap {port.name}:=TOPIC)"
                )
        if not any(available[t].count for t in in_topics):
            raise BagError(f"{reader.path}: no messages on the input topics {', '.join(in_topics)}")
        clash = set(keep) & {topics[p.name] for p in cls.outputs}
        if clash:
            raise ProcessorError(
                f"--keep {sorted(clash)[0]!r} is also an output topic of {cls.name}"
            )
        with BagWriter(bag_out, overwrite=overwrite) as writer:
            processor = cls(params, writer.factory)
            feeder = Feeder(processor, topics, note)
            for port in cls.outputs:
                writer.add_topic(topics[port.name], port.msgtype, qos=port.qos)
            for topic in keep:
                writer.add_topic(topic, available[topic].msgtype, qos="reliable")
                result.kept[topic] = 0
            result.inputs = {t: 0 for t in in_topics}
            result.outputs = {topics[p.name]: 0 for p in cls.outputs}
            wanted = sorted({*in_topics, *keep})
            total = sum(available[t].count for t in wanted)
            store = reader.typestore
            deserialize = store.deserialize_ros1 if reader.is_ros1 else store.deserialize_cdr
            last_ns = start_ns or 0

            def publish(pairs: list[tuple[str, Any]], time_ns: int) -> None:
                for topic, message in pairs:
                    writer.write(topic, time_ns, message)
                    result.outputs[topic] += 1

            raws = reader.raw_messages(wanted, start_ns=start_ns, end_ns=end_ns)
            for raw in progress(raws, total=total, desc=cls.name):
                last_ns = raw.log_time_ns
                if raw.topic in result.kept:
                    writer.write_raw(raw.topic, raw.log_time_ns, reader.to_cdr(raw, writer.store))
                    result.kept[raw.topic] += 1
                in_port = in_topics.get(raw.topic)
                if in_port is None:
                    continue
                result.inputs[raw.topic] += 1
                try:
                    message = deserialize(raw.data, raw.msgtype)
                except Exception as err:
                    feeder.reject(raw.topic, raw.log_time_ns, f"does not decode: {err}")
                    continue
                publish(feeder.feed(in_port.name, message, raw.log_time_ns), raw.log_time_ns)
            publish(feeder.finish(), last_ns)
            result.rejected = feeder.rejected
            fed = sum(result.inputs.values())
            if fed and feeder.rejected >= fed and not any(result.outputs.values()):
                raise ProcessorError(
                    f"{reader.path}: {cls.name} rejected every one of the {fed} input "
                    f"messages, nothing to write; the first: {first_rejection[0]}"
                )
            writer.custom_data["smartmine.processor"] = cls.name
            writer.custom_data["smartmine.params"] = yaml.safe_dump(asdict(params), sort_keys=True)
    sidecar = {
        f"smartmine_{cls.name}": {"ros__parameters": _plain(asdict(params))},
    }
    text = (
        f"# effective configuration of: smartmine node run {cls.name}\n"
        f"# input: {Path(bag_in)}\n"
        f"# topics: {', '.join(f'{k}:={v}' for k, v in topics.items())}\n"
        + yaml.safe_dump(sidecar, sort_keys=True)
    )
    write_text_atomic(params_sidecar(bag_out), text)
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
