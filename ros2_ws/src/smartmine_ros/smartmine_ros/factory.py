"""``RclpyFactory``: the ``MessageFactory`` of the live node (rclpy message classes).

Processors build their output messages through ``self.factory(msgtype, **fields)``.
Offline that is the rosbags typestore; in the node it is this factory: it finds the rclpy
class of a ROS 2 type name (``sensor_msgs/msg/Image``) with
``rosidl_runtime_py.utilities.get_message`` and converts each field value with
:mod:`smartmine_ros.fields` into what the class's setters accept (numpy arrays to
``array.array`` or ``numpy.ndarray`` of the right type, numpy scalars to Python ones).

rosidl_runtime_py is imported only when a type is first looked up, so this module (and
the conversion) can be tested without ROS by handing in a ``resolve`` function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from smartmine.errors import ConversionError
from smartmine_ros.fields import convert_fields


def get_message_class(msgtype: str) -> type[Any]:
    """The rclpy message class of a ROS 2 type name, or ``ConversionError``."""
    from rosidl_runtime_py.utilities import get_message

    try:
        cls: type[Any] = get_message(msgtype)
    except (AttributeError, ModuleNotFoundError, ValueError) as err:
        raise ConversionError(
            f"message type {msgtype!r} is not available to rclpy ({type(err).__name__}: {err}); "
            "is its package installed and the ROS environment sourced?"
        ) from None
    return cls


class RclpyFactory:
    """Builds rclpy messages from keyword fields; implements ``MessageFactory``."""

    def __init__(self, resolve: Callable[[str], type[Any]] | None = None) -> None:
        self._resolve = resolve if resolve is not None else get_message_class
        self._classes: dict[str, tuple[type[Any], dict[str, str]]] = {}

    def message_class(self, msgtype: str) -> type[Any]:
        """The class of ``msgtype`` (looked up once, then cached)."""
        return self._lookup(msgtype)[0]

    def _lookup(self, msgtype: str) -> tuple[type[Any], dict[str, str]]:
        entry = self._classes.get(msgtype)
        if entry is None:
            cls = self._resolve(msgtype)
            entry = (cls, dict(cls.get_fields_and_field_types()))
            self._classes[msgtype] = entry
        return entry

    def __call__(self, msgtype: str, /, **fields: Any) -> Any:
        cls, field_types = self._lookup(msgtype)
        return cls(**convert_fields(msgtype, field_types, fields))
