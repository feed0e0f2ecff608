"""Bag I/O: one streaming reader for ROS 1 / ROS 2 sqlite3 / ROS 2 mcap bags, a ROS 2
bag writer (mcap by default), and the ``bag info`` / ``bag export`` products.

Names load on first use, so the command line can register ``bag`` without numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartmine.bagio.reader import BagMessage, BagReader, RawMessage, TopicSummary
    from smartmine.bagio.writer import QOS_KINDS, BagWriter, QosKind, qos_profile

_WHERE = {
    "BagMessage": "reader",
    "BagReader": "reader",
    "RawMessage": "reader",
    "TopicSummary": "reader",
    "QOS_KINDS": "writer",
    "BagWriter": "writer",
    "QosKind": "writer",
    "qos_profile": "writer",
}

__all__ = [
    "QOS_KINDS",
    "BagMessage",
    "BagReader",
    "BagWriter",
    "QosKind",
    "RawMessage",
    "TopicSummary",
    "qos_profile",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'smartmine.bagio' has no attribute {name!r}")
    return getattr(importlib.import_module(f"smartmine.bagio.{_WHERE[name]}"), name)
