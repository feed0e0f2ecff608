"""The processor contract: the logic of every node, free of ROS.

A processor declares its input and output **ports** (topic, ROS 2 message type, QoS
kind) and its **parameters** (a dataclass whose fields carry description, unit and
range), and handles one message at a time with its receive time, returning messages to
publish. The same object runs live inside the generic rclpy adapter
(``ros2_ws/src/smartmine_ros``) and offline over a bag (``smartmine node run``), which
is how surveyors reprocess and how we test.

    @register_processor
    class GnssToPose(Processor[GnssToPoseParams]):
        name = "gnss_to_pose"
        inputs = (Port("fix", "/gnss/fix", "sensor_msgs/msg/NavSatFix", "sensor"),)
        outputs = (Port("pose", "/gnss/pose", "geometry_msgs/msg/PoseStamped", "reliable"),)
        Params = GnssToPoseParams

        def process(self, port, message, receive_time_ns):
            return [Output("pose", ...)]

Processors are found through the ``smartmine.processors`` entry-point group
(``name = "package.module:Class"``), so each package adds its own.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, NamedTuple, TypeVar, get_args, get_origin

from smartmine.bagio.writer import QosKind
from smartmine.errors import SmartmineError
from smartmine.msgs.factory import MessageFactory, default_factory


class ProcessorError(SmartmineError):
    """A processor cannot be built (bad parameter) or cannot handle a message."""


@dataclass(frozen=True)
class Port:
    """One input or output of a processor.

    ``name`` is the logical name the processor uses; ``topic`` the default topic,
    remappable at launch or on the command line; ``qos`` the kind: ``sensor`` (best
    effort, volatile), ``reliable``, or ``latched`` (reliable, transient local).
    """

    name: str
    topic: str
    msgtype: str
    qos: QosKind = "sensor"
    description: str = ""
    optional: bool = False
    """An input the processor can do without (the bag runner skips it when absent)."""


class Output(NamedTuple):
    """A message to publish on an output port."""

    port: str
    message: Any


@dataclass(frozen=True)
class ParamInfo:
    """What a parameter is, for ``node list``, ROS parameter descriptors and checks."""

    name: str
    type: type
    default: Any
    description: str
    unit: str | None
    range: tuple[float, float] | None
    choices: tuple[Any, ...] | None


def param(
    default: Any,
    description: str,
    *,
    unit: str | None = None,
    range: tuple[float, float] | None = None,
    choices: Sequence[Any] | None = None,
) -> Any:
    """A parameter field with its description, unit and allowed values."""
    meta = {
        "description": description,
        "unit": unit,
        "range": range,
        "choices": tuple(choices) if choices is not None else None,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _base_type(annotation: Any) -> type:
    """``float`` for ``float``, ``list`` for ``list[float]``, ``str`` for a Literal of strings."""
    origin = get_origin(annotation)
    if origin is Literal:
        return type(get_args(annotation)[0])
    if origin in (list, tuple, Sequence):
        return list
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _base_type(args[0])
    if isinstance(annotation, type):
        return annotation
    return str


def param_infos(params_cls: type) -> list[ParamInfo]:
    """The parameters of a processor's ``Params`` dataclass."""
    hints = typing.get_type_hints(params_cls)
    infos = []
    for f in dataclasses.fields(params_cls):
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()
            if f.default_factory is not dataclasses.MISSING
            else None
        )
        annotation = hints[f.name]
        choices = f.metadata.get("choices")
        if choices is None and get_origin(annotation) is Literal:
            choices = get_args(annotation)
        infos.append(
            ParamInfo(
                name=f.name,
                type=_base_type(annotation),
                default=default,
                description=f.metadata.get("description", ""),
                unit=f.metadata.get("unit"),
                range=f.metadata.get("range"),
                choices=choices,
            )
        )
    return infos


P = TypeVar("P")


class Processor(Generic[P]):
    """Base of every processor: typed messages in, messages out, no ROS import.

    Subclasses set the class attributes and implement :meth:`process`. ``factory``
    builds output messages (rosbags classes offline, rclpy classes live).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    inputs: ClassVar[tuple[Port, ...]]
    outputs: ClassVar[tuple[Port, ...]]
    Params: ClassVar[type[Any]]

    def __init__(self, params: P | None = None, factory: MessageFactory | None = None) -> None:
        self.params: P = params if params is not None else self.Params()
        self.factory: MessageFactory = factory if factory is not None else default_factory()
        check_params(type(self), self.params)

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        """Handle one message arriving on input ``port``; return what to publish."""
        raise NotImplementedError

    def finish(self) -> list[Output]:
        """End of input (bag end, node shutdown): publish what is still held."""
        return []

    @classmethod
    def input_port(cls, name: str) -> Port:
        return _port(cls.inputs, name, cls.name, "input")

    @classmethod
    def output_port(cls, name: str) -> Port:
        return _port(cls.outputs, name, cls.name, "output")


def _port(ports: Sequence[Port], name: str, processor: str, kind: str) -> Port:
    for p in ports:
        if p.name == name:
            return p
    raise ProcessorError(f"processor {processor!r} has no {kind} port {name!r}")


# -- parameters -------------------------------------------------------------------------
def coerce_param(info: ParamInfo, value: Any, where: str) -> Any:
    """Convert a parameter value (from YAML, ROS or ``key=value`` text) to its type."""
    try:
        if info.type is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                    raise ValueError(value)
                return lowered in {"true", "1", "yes"}
            return bool(value)
        if info.type is list:
            if isinstance(value, str):
                import yaml

                try:
                    value = yaml.safe_load(value)
                except yaml.YAMLError:
                    raise ValueError(value) from None
            if not isinstance(value, list | tuple):
                raise ValueError(value)
            if any(isinstance(v, float) and not math.isfinite(v) for v in value):
                raise ValueError(value)
            return list(value)
        if info.type is float:
            number = float(value)
            if math.isnan(number):
                raise ValueError(value)
            return number
        if info.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        return info.type(value)
    except (TypeError, ValueError):
        raise ProcessorError(
            f"{where}: parameter {info.name!r} wants {info.type.__name__}, got {value!r}"
        ) from None


def check_params(cls: type[Processor[Any]], params: Any) -> None:
    """Raise a ``ProcessorError`` naming the parameter that is out of range or choices."""
    for info in param_infos(cls.Params):
        value = getattr(params, info.name)
        if info.range is not None and isinstance(value, int | float):
            lo, hi = info.range
            if not lo <= value <= hi:
                raise ProcessorError(
                    f"{cls.name}: parameter {info.name!r} = {value} is outside [{lo}, {hi}]"
                    + (f" {info.unit}" if info.unit else "")
                )
        if info.choices is not None and value not in info.choices:
            raise ProcessorError(
                f"{cls.name}: parameter {info.name!r} = {value!r} is not one of "
                f"{', '.join(map(repr, info.choices))}"
            )


def make_params(
    cls: type[Processor[Any]],
    overrides: Mapping[str, Any] | None = None,
    *,
    where: str = "parameters",
) -> Any:
    """The processor's ``Params`` with ``overrides`` applied, coerced and checked."""
    infos = {i.name: i for i in param_infos(cls.Params)}
    values: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key not in infos:
            raise ProcessorError(
                f"{where}: {cls.name} has no parameter {key!r} "
                f"(parameters: {', '.join(infos) or 'none'})"
            )
        values[key] = coerce_param(infos[key], value, where)
    params = cls.Params(**values)
    try:
        check_params(cls, params)
    except ProcessorError as err:
        if where == "parameters":
            raise
        raise ProcessorError(f"{where}: {err}") from None
    return params


def parse_param_args(pairs: Sequence[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ProcessorError(f"--param {pair!r}: expected key=value")
        out[key.strip()] = value
    return out


def load_params_file(path: Path, processor_name: str) -> dict[str, Any]:
    """Parameters for one processor from a ROS 2 parameter YAML file.

    Accepts the ROS 2 layout (``node_name: {ros__parameters: {...}}``, node name
    ``smartmine_<processor>`` or ``<processor>``, optionally under ``/**``) or a flat
    mapping of parameter names.
    """
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProcessorError(f"{path}: no such parameter file") from None
    except UnicodeDecodeError:
        raise ProcessorError(f"{path}: not a text (YAML) parameter file") from None
    except yaml.YAMLError as err:
        raise ProcessorError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProcessorError(f"{path}: expected a mapping of parameters")
    ros_layout = any(isinstance(v, dict) and "ros__parameters" in v for v in data.values())
    if not ros_layout:
        return dict(data)
    for key in (f"smartmine_{processor_name}", processor_name, "/**"):
        for name, section in data.items():
            if name.lstrip("/").split("/")[-1] == key.lstrip("/") or name == key:
                params = section.get("ros__parameters") or {}
                if not isinstance(params, dict):
                    raise ProcessorError(f"{path}: {name}.ros__parameters must be a mapping")
                return dict(params)
    return {}


# -- registry ---------------------------------------------------------------------------
_LOCAL: dict[str, type[Processor[Any]]] = {}


def register_processor(cls: type[Processor[Any]]) -> type[Processor[Any]]:
    """Class decorator: check the declaration and make the class findable by name."""
    for attr in ("name", "inputs", "outputs", "Params"):
        if not hasattr(cls, attr):
            raise TypeError(f"processor {cls.__name__} lacks the class attribute {attr!r}")
    if not dataclasses.is_dataclass(cls.Params):
        raise TypeError(f"{cls.__name__}.Params must be a dataclass")
    names = [p.name for p in (*cls.inputs, *cls.outputs)]
    if len(set(names)) != len(names):
        raise TypeError(f"processor {cls.name}: port names must be unique, got {names}")
    _LOCAL[cls.name] = cls
    return cls


_BROKEN: dict[str, str] = {}


def processor_registry() -> dict[str, type[Processor[Any]]]:
    """Every processor: the installed ``smartmine.processors`` entry points plus any
    registered in this process. One that fails to import is left out and listed by
    :func:`broken_processors`, so one broken package does not take the others down."""
    found: dict[str, type[Processor[Any]]] = {}
    for ep in entry_points(group="smartmine.processors"):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as err:  # an import error of that package, reported by name
            _BROKEN[ep.name] = f"{ep.value} does not load: {type(err).__name__}: {err}"
    found.update(_LOCAL)
    return dict(sorted(found.items()))


def broken_processors() -> dict[str, str]:
    """Processors whose entry point failed to load, with the reason."""
    processor_registry()
    return dict(_BROKEN)


def get_processor(name: str) -> type[Processor[Any]]:
    registry = processor_registry()
    if name not in registry:
        if name in _BROKEN:
            raise ProcessorError(f"processor {name!r} is installed but broken: {_BROKEN[name]}")
        raise ProcessorError(
            f"no processor named {name!r} (available: {', '.join(registry) or 'none'})"
        )
    return registry[name]


def describe(cls: type[Processor[Any]]) -> str:
    """Ports and parameters, for ``smartmine node list``."""
    lines = [f"{cls.name}: {cls.description}".rstrip(": ")]
    for kind, ports in (("in ", cls.inputs), ("out", cls.outputs)):
        for p in ports:
            lines.append(f"  {kind} {p.name:<16} {p.topic:<32} {p.msgtype} [{p.qos}]")
    for info in param_infos(cls.Params):
        extra = []
        if info.unit:
            extra.append(info.unit)
        if info.range:
            extra.append(f"range {info.range[0]}..{info.range[1]}")
        if info.choices:
            extra.append("one of " + "|".join(map(str, info.choices)))
        suffix = f" ({'; '.join(extra)})" if extra else ""
        lines.append(f"  param {info.name} = {info.default!r}{suffix}: {info.description}")
    return "\n".join(lines)
