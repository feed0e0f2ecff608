"""Time stamps: ROS ``Time`` (``sec``/``nanosec``) <-> integer nanoseconds, headers."""

from __future__ import annotations

import operator
from typing import Any, SupportsIndex

from smartmine.errors import ConversionError
from smartmine.msgs._util import get_field, resolve_factory
from smartmine.msgs.factory import MessageFactory

NS_PER_S = 1_000_000_000
_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds of a ``Time`` message.

    Reads ``sec``/``nanosec`` (ROS 2, and ROS 1 as decoded by rosbags) or
    ``secs``/``nsecs`` (genpy-style ROS 1 objects).
    """
    sec = getattr(stamp, "sec", None)
    if sec is not None:
        nsec = get_field(stamp, "Time", "nanosec", "nsec")
    else:
        sec = get_field(stamp, "Time", "sec", "secs")
        nsec = get_field(stamp, "Time", "nanosec", "nsecs")
    try:
        return int(sec) * NS_PER_S + int(nsec)
    except (TypeError, ValueError):
        raise ConversionError(
            f"Time has sec={sec!r}, nanosec={nsec!r}, expected integers"
        ) from None


def ns_to_stamp(ns: SupportsIndex, factory: MessageFactory | None = None) -> Any:
    """A ``builtin_interfaces/msg/Time`` for ``ns`` nanoseconds (``nanosec`` in [0, 1e9))."""
    try:
        value = operator.index(ns)
    except TypeError:
        raise ConversionError(f"stamp {ns!r} is not an integer number of nanoseconds") from None
    sec, nanosec = divmod(value, NS_PER_S)
    if not _INT32_MIN <= sec <= _INT32_MAX:
        raise ConversionError(f"stamp {value} ns is out of range of Time.sec (int32)")
    return resolve_factory(factory)("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def header_stamp_ns(msg: Any) -> int:
    """Nanoseconds of ``msg.header.stamp``."""
    header = get_field(msg, type(msg).__name__, "header")
    return stamp_to_ns(get_field(header, "Header", "stamp"))


def header_frame_id(msg: Any) -> str:
    """``msg.header.frame_id`` as a str."""
    header = get_field(msg, type(msg).__name__, "header")
    return str(get_field(header, "Header", "frame_id"))


def make_header(
    stamp_ns: SupportsIndex, frame_id: str = "", factory: MessageFactory | None = None
) -> Any:
    """A ``std_msgs/msg/Header`` (ROS 2: no ``seq``)."""
    factory = resolve_factory(factory)
    return factory(
        "std_msgs/msg/Header", stamp=ns_to_stamp(stamp_ns, factory), frame_id=str(frame_id)
    )
