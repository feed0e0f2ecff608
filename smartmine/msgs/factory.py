"""Building messages without knowing whose message classes they are.

Converters read messages by field name, so any object with the right attributes
works (rclpy classes, rosbags dataclasses, ROS 1 or ROS 2 field spellings). To
*build* a message they ask a ``MessageFactory`` for an instance of a ROS 2 type name
(``sensor_msgs/msg/Image``) with every field given. ``RosbagsFactory`` serves the
rosbags typestore (bags); the rclpy adapter brings its own factory.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

DEFAULT_STORE = "ros2_jazzy"


class MessageFactory(Protocol):
    """Builds a message of ``msgtype`` (ROS 2 spelling) from keyword fields."""

    def __call__(self, msgtype: str, /, **fields: Any) -> Any: ...


@cache
def typestore(name: str = DEFAULT_STORE) -> Typestore:
    """The rosbags typestore of a ROS distribution (``ros2_jazzy``, ``ros1_noetic``...)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores(name))


class RosbagsFactory:
    """Factory over a rosbags typestore; numpy arrays are passed through as they are."""

    def __init__(self, store: Typestore | None = None) -> None:
        self.store = store if store is not None else typestore()

    def __call__(self, msgtype: str, /, **fields: Any) -> Any:
        from smartmine.errors import ConversionError

        try:
            cls = self.store.types[msgtype]
        except KeyError:
            raise ConversionError(
                f"message type {msgtype!r} is not known to the typestore"
            ) from None
        return cls(**fields)


@cache
def default_factory() -> RosbagsFactory:
    """The shared factory over the ROS 2 Jazzy typestore."""
    return RosbagsFactory()


def recast(message: Any, msgtype: str, store: Typestore | None = None) -> Any:
    """Rebuild ``message`` as ``msgtype`` of ``store``, matching fields by name.

    For moving messages between type systems that spell a type differently: a ROS 1
    message (Header with ``seq``, CameraInfo ``K``) into ROS 2 Jazzy classes, or an
    rclpy message into rosbags classes. Fields are matched exactly, then ignoring
    case; fields the target lacks are dropped; a target field the source lacks is an
    error.
    """
    from rosbags.interfaces import Nodetype

    from smartmine.errors import ConversionError

    store = store if store is not None else typestore()
    try:
        _, fields = store.fielddefs[msgtype]
    except KeyError:
        raise ConversionError(f"message type {msgtype!r} is not known to the typestore") from None
    source_names = {n.lower(): n for n in _field_names(message)}
    values: dict[str, Any] = {}
    for name, (node, detail_) in fields:
        detail: Any = detail_
        source = name if hasattr(message, name) else source_names.get(name.lower())
        if source is None:
            raise ConversionError(f"{msgtype}: source message has no field {name!r}")
        value = getattr(message, source)
        if node == Nodetype.NAME:
            value = recast(value, detail, store)
        elif node in (Nodetype.ARRAY, Nodetype.SEQUENCE) and detail[0][0] == Nodetype.NAME:
            value = [recast(v, detail[0][1], store) for v in value]
        values[name] = value
    return store.types[msgtype](**values)


def _field_names(message: Any) -> list[str]:
    slots = getattr(message, "__dataclass_fields__", None) or getattr(message, "__slots__", None)
    if slots is not None:
        return [n.lstrip("_") for n in slots]
    return [n for n in vars(message) if not n.startswith("__")]
