"""ROS 2 bag writer (mcap by default) for every product we record.

The bag is written under a temporary sibling name (:func:`smartmine.atomic.partial_dir`)
and renamed into place on a clean close, so an interrupted run leaves no half bag; the
temporary of a killed run (with its SQLite ``-wal``/``-journal``) is removed by the next
run that writes into the same folder. A path ending in ``.mcap`` gives a
single self-contained mcap file (schemas and QoS inside); any other path gives a
rosbag2 directory with ``metadata.yaml``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

from smartmine.atomic import partial_dir
from smartmine.errors import BagError
from smartmine.msgs.factory import RosbagsFactory, typestore

if TYPE_CHECKING:
    from rosbags.interfaces import Connection, Qos
    from rosbags.typesys.store import Typestore

QosKind = Literal["sensor", "reliable", "latched"]
"""How a topic is offered: sensor data (best effort, volatile), reliable, or latched
(reliable, transient local: maps, plans, static TF)."""

QOS_KINDS: tuple[QosKind, ...] = ("sensor", "reliable", "latched")


def qos_profile(kind: QosKind, depth: int = 10) -> Qos:
    """The rosbags QoS record of a ``QosKind``."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    if kind not in QOS_KINDS:
        raise BagError(f"unknown QoS kind {kind!r} (choose from {', '.join(QOS_KINDS)})")
    reliability = QosReliability.BEST_EFFORT if kind == "sensor" else QosReliability.RELIABLE
    durability = QosDurability.TRANSIENT_LOCAL if kind == "latched" else QosDurability.VOLATILE
    zero = QosTime(0, 0)
    return Qos(
        QosHistory.KEEP_LAST,
        1 if kind == "latched" else depth,
        reliability,
        durability,
        zero,
        zero,
        QosLiveliness.AUTOMATIC,
        zero,
        False,
    )


class BagWriter:
    """Write messages to a new ROS 2 bag.

    >>> with BagWriter("out.mcap") as bag:
    ...     bag.add_topic("/gnss/fix", "sensor_msgs/msg/NavSatFix", qos="sensor")
    ...     bag.write("/gnss/fix", stamp_ns, fix_msg)
    """

    def __init__(
        self,
        path: Path | str,
        *,
        storage: Literal["mcap", "sqlite3"] = "mcap",
        store: Typestore | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.single_file = self.path.suffix == ".mcap"
        if self.single_file and storage != "mcap":
            raise BagError(f"{self.path}: a .mcap path needs storage 'mcap', not {storage!r}")
        if self.path.exists() and not overwrite:
            raise BagError(f"{self.path}: exists already (choose another output or overwrite)")
        self.storage = storage
        self.overwrite = overwrite
        self.store = store if store is not None else typestore()
        self.factory = RosbagsFactory(self.store)
        self._connections: dict[str, Connection] = {}
        self._types: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._tmp_dir: Path | None = None
        self._writer: Any = None
        self.custom_data: dict[str, str] = {}

    # -- lifecycle -----------------------------------------------------------------
    def open(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self._tmp_dir = partial_dir(self.path)
        stem = self.path.stem if self.single_file else self.path.name
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self._tmp_dir / stem, version=9, storage_plugin=plugin)
        self._writer.open()

    def close(self) -> None:
        """Finish the bag and move it into place."""
        if self._writer is None or self._tmp_dir is None:
            return
        for key, value in self.custom_data.items():
            self._writer.set_custom_data(key, value)
        self._writer.close()
        self._writer = None
        built = self._tmp_dir / (self.path.stem if self.single_file else self.path.name)
        source = built / f"{built.name}.mcap" if self.single_file else built
        if self.path.exists():
            if not self.overwrite:
                self.abort()
                raise BagError(f"{self.path}: appeared while writing; not overwriting")
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        os.replace(source, self.path)
        shutil.rmtree(self._tmp_dir, ignore_errors=True)
        self._tmp_dir = None

    def abort(self) -> None:
        """Drop everything written so far."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.abort()
            self._writer = None
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- topics and messages ---------------------------------------------------------
    def register_types(self, definitions: Mapping[str, str]) -> None:
        """Make custom message types (``{"pkg/msg/Name": "<.msg text>"}``) writable."""
        from rosbags.typesys import get_types_from_msg

        typs: dict[str, Any] = {}
        for name, text in definitions.items():
            typs.update(get_types_from_msg(text, name))
        self.store.register(typs)

    def add_topic(
        self,
        topic: str,
        msgtype: str,
        *,
        qos: QosKind = "reliable",
        msgdef: str | None = None,
        rihs01: str | None = None,
    ) -> None:
        """Declare a topic before writing to it (idempotent for the same type)."""
        if self._writer is None:
            raise BagError(f"{self.path}: bag is not open")
        if topic in self._types:
            if self._types[topic] != msgtype:
                raise BagError(
                    f"{self.path}: topic {topic!r} already has type {self._types[topic]}, "
                    f"not {msgtype}"
                )
            return
        if msgdef is None and msgtype not in self.store.fielddefs:
            raise BagError(f"{self.path}: message type {msgtype!r} of topic {topic!r} is unknown")
        self._connections[topic] = self._writer.add_connection(
            topic,
            msgtype,
            typestore=self.store,
            msgdef=msgdef,
            rihs01=rihs01,
            offered_qos_profiles=[qos_profile(qos)],
        )
        self._types[topic] = msgtype
        self.counts[topic] = 0

    def write(self, topic: str, log_time_ns: int, message: Any) -> None:
        """Serialize and write one message (CDR) at ``log_time_ns``."""
        msgtype = self._types.get(topic)
        if msgtype is None:
            raise BagError(f"{self.path}: topic {topic!r} was not added before writing")
        try:
            data = self.store.serialize_cdr(message, msgtype)
        except Exception as err:
            raise BagError(
                f"{self.path}: message for {topic!r} does not serialize as {msgtype}: {err}"
            ) from None
        self.write_raw(topic, log_time_ns, data)

    def write_raw(self, topic: str, log_time_ns: int, data: bytes | memoryview) -> None:
        """Write already CDR-serialized bytes."""
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"{self.path}: topic {topic!r} was not added before writing")
        self._writer.write(conn, int(log_time_ns), data)
        self.counts[topic] += 1
