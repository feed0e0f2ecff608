"""Processor parameters as ROS 2 parameters: types, descriptors and value checks (no rclpy).

Each field of a processor's ``Params`` dataclass becomes one statically typed ROS 2
parameter of the node, declared with a descriptor that carries its description (with the
unit), its range (``FloatingPointRange``/``IntegerRange``) and its allowed values
(``additional_constraints``). The node then builds the ``Params`` with
:func:`smartmine.processor.make_params` from the declared values, so the offline runner
and the live node check parameters the same way.

ROS 2 is stricter than ``make_params`` about types in parameter files: a ``float``
parameter must be written ``5.0``, not ``5`` (rcl reads ``5`` as an integer and the
declaration fails), and a parameter file cannot hold an empty array. :func:`check_ros_value`
states those rules so tests can hold the launch parameter files to them.
"""

from __future__ import annotations

import array
import enum
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args, get_origin

from smartmine.processor import ParamInfo, Processor, ProcessorError, param_infos

SCALAR_TYPES: Final[dict[type, str]] = {
    bool: "BOOL",
    int: "INTEGER",
    float: "DOUBLE",
    str: "STRING",
}
"""Python type -> ``rclpy.parameter.Parameter.Type`` member name."""

INT64_RANGE: Final = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class RosParam:
    """How one processor parameter is declared on the node."""

    name: str
    type: str  # rclpy.parameter.Parameter.Type member name: DOUBLE, STRING_ARRAY, ...
    default: Any  # declared value; None: declared by type only (no default, e.g. [])
    description: str
    additional_constraints: str
    float_range: tuple[float, float] | None
    int_range: tuple[int, int] | None
    info: ParamInfo


def ros_params(cls: type[Processor[Any]]) -> list[RosParam]:
    """The ROS 2 parameters of a processor, in declaration order.

    Raises ``ProcessorError`` naming a parameter whose type has no ROS 2 equivalent.
    """
    hints = typing.get_type_hints(cls.Params)
    return [_ros_param(cls, info, hints[info.name]) for info in param_infos(cls.Params)]


def _ros_param(cls: type[Processor[Any]], info: ParamInfo, annotation: Any) -> RosParam:
    ros_type = _ros_type(info, annotation)
    if ros_type is None:
        raise ProcessorError(
            f"{cls.name}: parameter {info.name!r} of type {annotation} has no ROS 2 "
            "parameter type (bool, int, float, str or a list of one of them)"
        )
    constraints = []
    float_range = int_range = None
    if info.range is not None and ros_type in ("INTEGER", "DOUBLE"):
        lo, hi = info.range
        unit = f" {info.unit}" if info.unit else ""
        constraints.append(f"range {lo} to {hi}{unit}")
        if ros_type == "DOUBLE":
            float_range = (float(lo), float(hi))
        else:
            int_range = (_int_bound(lo, math.ceil), _int_bound(hi, math.floor))
    if info.choices:
        constraints.append("one of " + ", ".join(str(_plain(c)) for c in info.choices))
    description = info.description + (f" [{info.unit}]" if info.unit else "")
    return RosParam(
        name=info.name,
        type=ros_type,
        default=_ros_default(ros_type, info.default),
        description=description,
        additional_constraints="; ".join(constraints),
        float_range=float_range,
        int_range=int_range,
        info=info,
    )


def _int_bound(value: float, rounding: Any) -> int:
    if math.isinf(value):
        return INT64_RANGE[0] if value < 0 else INT64_RANGE[1]
    return int(rounding(value))


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _scalar_type(annotation: Any) -> type | None:
    annotation = _strip_optional(annotation)
    if get_origin(annotation) is Literal:
        kinds = {type(_plain(a)) for a in get_args(annotation)}
        return kinds.pop() if len(kinds) == 1 else None
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            kinds = {type(m.value) for m in annotation}
            return kinds.pop() if len(kinds) == 1 else None
        return annotation
    return None


def _ros_type(info: ParamInfo, annotation: Any) -> str | None:
    annotation = _strip_optional(annotation)
    if info.type is list:
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        element = _scalar_type(args[0]) if args else None
        if element is None or element not in SCALAR_TYPES:
            return None
        return f"{SCALAR_TYPES[element]}_ARRAY"
    scalar = _scalar_type(annotation)
    if scalar is None or issubclass(scalar, list | tuple | dict | set):
        return None
    for py_type, name in SCALAR_TYPES.items():
        if scalar is py_type:
            return name
    # anything else the processor coerces from text (pathlib.Path, ...) is a string
    return "STRING"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _ros_default(ros_type: str, default: Any) -> Any:
    if default is None:
        return None
    default = _plain(default)
    if ros_type.endswith("_ARRAY"):
        values = [_convert_scalar(ros_type.removesuffix("_ARRAY"), v) for v in default]
        return values or None  # an empty default cannot give ROS the element type
    return _convert_scalar(ros_type, default)


def _convert_scalar(ros_type: str, value: Any) -> Any:
    value = _plain(value)
    if ros_type == "BOOL":
        return bool(value)
    if ros_type == "INTEGER":
        return int(value)
    if ros_type == "DOUBLE":
        return float(value)
    return str(value)


def _is_ros_scalar(ros_type: str, value: Any) -> bool:
    if ros_type == "BOOL":
        return isinstance(value, bool)
    if ros_type == "INTEGER":
        return isinstance(value, int) and not isinstance(value, bool)
    if ros_type == "DOUBLE":
        return isinstance(value, float)
    return isinstance(value, str)


def check_ros_value(param: RosParam, value: Any) -> str | None:
    """Why ROS 2 would refuse ``value`` (as read from a YAML file) for ``param``, or None."""
    if param.type.endswith("_ARRAY"):
        element = param.type.removesuffix("_ARRAY")
        if not isinstance(value, list):
            return f"{param.name}: ROS 2 declares it {param.type}, got {value!r} (not a list)"
        if not value:
            return (
                f"{param.name}: a ROS 2 parameter file cannot hold an empty array; "
                "leave the parameter out to keep its default"
            )
        wrong = [v for v in value if not _is_ros_scalar(element, v)]
        if wrong:
            hint = " (write 1.0, not 1)" if element == "DOUBLE" else ""
            return f"{param.name}: ROS 2 declares it {param.type}, got elements {wrong!r}{hint}"
        return None
    if not _is_ros_scalar(param.type, value):
        hint = ""
        if param.type == "DOUBLE" and isinstance(value, int) and not isinstance(value, bool):
            hint = f" (write {value}.0, not {value})"
        return f"{param.name}: ROS 2 declares it {param.type}, got {value!r}{hint}"
    return None


def from_ros_value(value: Any) -> Any:
    """A parameter value as rclpy gives it, in the form ``make_params`` takes.

    rclpy hands array parameters over as ``array.array`` or tuples; ``make_params`` wants
    lists. ``None`` (a parameter declared without a value and never set) stays ``None``.
    """
    if isinstance(value, array.array | tuple):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()
    return value
