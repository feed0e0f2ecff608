"""One streaming reader for ROS 1 ``.bag``, ROS 2 sqlite3 and ROS 2 mcap bags.

Built on ``rosbags``. Differences from a plain ``AnyReader``:

- type definitions are taken per connection: one topic whose definition is missing or
  cannot be parsed is reported (``TopicSummary.problem``) instead of failing the bag,
  and standard types the bag does not define come from the ROS distribution's store;
- a ROS 2 topic serialized in another format than CDR (rosbag2's ``serialization_format``,
  MCAP's ``message_encoding``) is reported the same way: its bytes are not CDR, so they
  are never decoded, exported or copied as if they were;
- a bad path, a truncated or corrupted file, an unknown topic: one ``BagError`` that
  names the file or topic, whatever the underlying library raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self

from smartmine.errors import BagCorruptedError, BagError, UndecodableMessageError

if TYPE_CHECKING:
    from rosbags.interfaces import Connection
    from rosbags.typesys.store import Typestore

ROS1_STORE = "ros1_noetic"
ROS2_STORE = "ros2_jazzy"


class BagMessage(NamedTuple):
    """A decoded message with the bag's receive (log) time."""

    topic: str
    msgtype: str
    log_time_ns: int
    message: Any


class RawMessage(NamedTuple):
    """An undecoded message as stored (ROS 1 or CDR serialization)."""

    topic: str
    msgtype: str
    log_time_ns: int
    data: bytes | memoryview
    connection: Connection


@dataclass(frozen=True)
class TopicSummary:
    """What a bag holds on one topic."""

    name: str
    msgtype: str
    count: int
    problem: str | None = None
    """Why messages on this topic cannot be decoded; None when they can."""

    @property
    def decodable(self) -> bool:
        return self.problem is None


STORAGE_OF_SUFFIX = {".bag": "rosbag1", ".db3": "sqlite3", ".mcap": "mcap"}


def _storage_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in STORAGE_OF_SUFFIX)


def resolve_bag(path: Path) -> tuple[str, list[Path]]:
    """Storage (``rosbag1``, ``sqlite3``, ``mcap``) and the paths rosbags should open.

    The storage files of an uncompressed ROS 2 directory are opened directly: rosbags'
    directory reader yields nothing when metadata.yaml lacks the per-file index (before
    metadata version 5) or when its QoS text differs from the one in the storage file.
    A directory without metadata opens the storage file inside (or its ROS 1 bags).
    """
    if not path.is_dir():
        if path.suffix not in STORAGE_OF_SUFFIX:
            raise BagError(
                f"{path}: unknown bag format (expected .bag, .db3, .mcap or a directory)"
            )
        return STORAGE_OF_SUFFIX[path.suffix], [path]
    meta = path / "metadata.yaml"
    if meta.exists():
        import yaml

        try:
            info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
            storage = str(info.get("storage_identifier") or "sqlite3")
            listed = info.get("relative_file_paths") or []
            if not isinstance(listed, list):
                raise TypeError(f"relative_file_paths is {listed!r}, not a list")
            files = [path / str(f) for f in listed]
        except (yaml.YAMLError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
            raise BagError(f"{meta}: unreadable rosbag2 metadata ({_one_line(err)})") from None
        if info.get("compression_mode") or not files:
            return storage, [path]
        wrong = [f for f in files if STORAGE_OF_SUFFIX.get(f.suffix, storage) != storage]
        if wrong:
            raise BagError(
                f"{meta}: storage_identifier {storage!r} does not match the storage file "
                f"{wrong[0].name}"
            )
        if missing := [f for f in files if not f.exists()]:
            raise BagError(
                f"{path}: storage file {missing[0].name} listed in metadata.yaml is missing"
            )
        return storage, files
    files = _storage_files(path)
    if not files:
        raise BagError(f"{path}: not a bag (no metadata.yaml, .mcap, .db3 or .bag inside)")
    if all(p.suffix == ".bag" for p in files):
        return "rosbag1", files
    if len(files) != 1:
        raise BagError(f"{path}: expected metadata.yaml or exactly one .mcap/.db3 file")
    return STORAGE_OF_SUFFIX[files[0].suffix], files


def _tolerate_foreign_mcap_schemas() -> None:
    """Let rosbags' MCAP reader open files with schemas in foreign encodings.

    rosbags fails the whole file on a schema encoding other than ros2msg, ros2idl or
    omgidl (``protobuf``, ``jsonschema``, ``ros1msg`` from Foxglove or ROS 1 recorders).
    Such a schema is read as "no definition" instead; its topic's message encoding is not
    CDR, so the topic is reported undecodable with that reason and the rest still reads.
    """
    from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat
    from rosbags.rosbag2 import storage_mcap

    strict = storage_mcap.get_msgdef
    if getattr(strict, "__name__", "") == "tolerant_get_msgdef":
        return

    def tolerant_get_msgdef(schema: Any) -> Any:
        try:
            return strict(schema)
        except KeyError:
            return MessageDefinition(MessageDefinitionFormat.NONE, "")

    storage_mcap.get_msgdef = tolerant_get_msgdef


def _make_reader_class() -> type[Any]:
    """An AnyReader whose typestore tolerates per-connection definition problems."""
    _tolerate_foreign_mcap_schemas()
    from rosbags.highlevel import AnyReader
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

    from smartmine.msgs.factory import typestore as named_store

    class TolerantAnyReader(AnyReader):
        problems: dict[str, str]
        topic_problems: dict[str, str]
        guessed: set[str]
        distro_store: str | None = None

        def _open(self) -> None:
            assert self.stack
            for reader in self.readers:
                self.stack.enter_context(reader)
            connections = [c for r in self.readers for c in r.connections]
            defined: dict[str, Any] = {}
            problems: dict[str, str] = {}
            for conn in connections:
                fmt = conn.msgdef.format
                if fmt == MessageDefinitionFormat.NONE or conn.msgtype in defined:
                    continue
                try:
                    if fmt == MessageDefinitionFormat.MSG:
                        typs = get_types_from_msg(conn.msgdef.data, conn.msgtype)
                    else:
                        typs = {}
                        sep = "=" * 80 + "\n"
                        parts = (
                            [p.split("\n", 1)[1] for p in conn.msgdef.data.split(sep)[1:]]
                            if conn.msgdef.data.startswith(f"{sep}IDL: ")
                            else [conn.msgdef.data]
                        )
                        for idl in parts:
                            typs.update(get_types_from_idl(idl))
                except Exception as err:  # rosbags raises several parser error types
                    first = conn.msgdef.data.strip().splitlines()[0][:80]
                    problems[conn.msgtype] = (
                        f"definition stored in the bag cannot be parsed "
                        f"({type(err).__name__} at {first!r})"
                    )
                    continue
                defined.update(typs)
            default = named_store(self.distro_store or (ROS2_STORE if self.is2 else ROS1_STORE))
            default_name = self.distro_store or (ROS2_STORE if self.is2 else ROS1_STORE)
            merged = dict(defined)
            for conn in connections:
                _add_with_dependencies(conn.msgtype, default.fielddefs, merged)
            store = get_typestore(Stores.EMPTY)
            store.register(merged)
            for conn in connections:
                if conn.msgtype in problems:
                    continue
                try:
                    store.get_msgdef(conn.msgtype)
                except Exception:
                    problems[conn.msgtype] = (
                        f"type definition is neither stored in the bag nor a standard "
                        f"{default_name} type"
                    )
            self.connections = connections
            self.typestore = store
            self.problems = problems
            self.topic_problems = _serialization_problems(connections)
            self.guessed = {c.msgtype for c in connections} - set(defined) - set(problems)

    return TolerantAnyReader


def _serialization_problems(connections: list[Connection]) -> dict[str, str]:
    """Topic -> why it cannot be decoded, for ROS 2 topics not serialized as CDR."""
    problems: dict[str, str] = {}
    for conn in connections:
        fmt = getattr(conn.ext, "serialization_format", "cdr")  # ROS 1 connections: none
        if fmt != "cdr" and conn.topic not in problems:
            problems[conn.topic] = (
                f"serialization format {fmt!r} is not CDR (only CDR-serialized ROS 2 "
                "messages decode)"
            )
    return problems


_READER_CLASS: type[Any] | None = None


def _reader_class() -> type[Any]:
    global _READER_CLASS
    if _READER_CLASS is None:
        _READER_CLASS = _make_reader_class()
    return _READER_CLASS


def _add_with_dependencies(msgtype: str, source: dict[str, Any], into: dict[str, Any]) -> None:
    """Copy ``msgtype`` and the types it nests from ``source`` (types already in
    ``into`` win: the bag's own definitions). Registering only what the bag uses keeps
    opening a bag fast."""
    from rosbags.interfaces import Nodetype

    pending = [msgtype]
    while pending:
        name = pending.pop()
        if name in into:
            definition = into[name]
        elif name in source:
            definition = into[name] = source[name]
        else:
            continue
        for _, (node, detail) in definition[1]:
            if node == Nodetype.NAME:
                nested = detail
            elif node in (Nodetype.ARRAY, Nodetype.SEQUENCE) and detail[0][0] == Nodetype.NAME:
                nested = detail[0][1]
            else:
                continue
            if nested not in into:
                pending.append(nested)


class BagReader:
    """Streaming, time-ordered reader of one bag (use as a context manager).

    >>> with BagReader("drift.mcap") as bag:
    ...     for m in bag.messages(topics=["/camera/color/image_raw"]):
    ...         image = image_to_numpy(m.message)
    """

    def __init__(self, path: Path | str, *, distro: str | None = None) -> None:
        """``distro`` (``foxy``, ``humble``, ``noetic``...) supplies definitions the bag lacks;
        by default ROS 2 Jazzy for ROS 2 bags, ROS 1 Noetic for ROS 1 bags."""
        self.path = Path(path)
        self.distro = distro
        self.skipped: dict[str, str] = {}
        """Topics left out of ``messages()`` (all topics) because a message did not decode."""
        if not self.path.exists():
            raise BagError(f"{self.path}: no such bag")
        self.storage, self._paths = resolve_bag(self.path)
        self._reader: Any = None

    # -- opening -----------------------------------------------------------------
    def open(self) -> None:
        if self._reader is not None:
            return
        try:
            reader = _reader_class()(self._paths)
            reader.distro_store = _distro_store(self.distro) if self.distro else None
            reader.open()
        except BagError:
            raise
        except FileNotFoundError as err:
            raise BagError(f"{self.path}: {err}") from None
        except Exception as err:
            raise BagError(
                f"{self.path}: cannot open {self.storage} bag: {_one_line(err)}"
            ) from None
        self._reader = reader

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.close()
            self._reader = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _r(self) -> Any:
        if self._reader is None:
            raise BagError(f"{self.path}: bag is not open")
        return self._reader

    # -- metadata ----------------------------------------------------------------
    @property
    def typestore(self) -> Typestore:
        """The typestore the bag's messages decode with (bag definitions + standard ones)."""
        store: Typestore = self._r.typestore
        return store

    @property
    def is_ros1(self) -> bool:
        return not bool(self._r.is2)

    @property
    def start_ns(self) -> int:
        return int(self._r.start_time) if self.message_count else 0

    @property
    def end_ns(self) -> int:
        return int(self._r.end_time) if self.message_count else 0

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def message_count(self) -> int:
        return int(self._r.message_count)

    @property
    def files(self) -> list[Path]:
        if self.path.is_dir():
            return _storage_files(self.path)
        return [self.path]

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)

    @property
    def topics(self) -> dict[str, TopicSummary]:
        """Every topic, decodable or not, by name."""
        problems: dict[str, str] = self._r.problems
        topic_problems: dict[str, str] = self._r.topic_problems
        out: dict[str, TopicSummary] = {}
        for name, info in self._r.topics.items():
            msgtype = info.msgtype or "/".join(sorted({c.msgtype for c in info.connections}))
            problem = topic_problems.get(name) or problems.get(msgtype)
            out[name] = TopicSummary(name, msgtype, int(info.msgcount), problem)
        return out

    def require_topics(self, topics: Collection[str]) -> None:
        """Raise the clear error if any topic is missing or cannot be decoded."""
        self._connections(topics, None, decodable=True)

    def _connections(
        self, topics: Collection[str] | None, msgtypes: Collection[str] | None, *, decodable: bool
    ) -> list[Connection]:
        known = self.topics
        if topics is not None:
            missing = [t for t in topics if t not in known]
            if missing:
                listing = ", ".join(sorted(known)) or "none"
                raise BagError(
                    f"{self.path}: topic {missing[0]!r} is not in the bag (topics: {listing})"
                )
            if decodable:
                for t in topics:
                    if known[t].problem:
                        raise BagError(
                            f"{self.path}: topic {t!r} ({known[t].msgtype}) cannot be decoded: "
                            f"{known[t].problem}"
                        )
        conns = []
        for conn in self._r.connections:
            if topics is not None and conn.topic not in topics:
                continue
            if msgtypes is not None and conn.msgtype not in msgtypes:
                continue
            if decodable and (
                conn.msgtype in self._r.problems or conn.topic in self._r.topic_problems
            ):
                continue
            conns.append(conn)
        return conns

    # -- messages ----------------------------------------------------------------
    def _iter(
        self, conns: list[Connection], start_ns: int | None, end_ns: int | None
    ) -> Iterator[RawMessage]:
        if not conns:
            return
        last = start_ns
        try:
            for conn, time_ns, data in self._r.messages(conns, start=start_ns, stop=end_ns):
                last = time_ns
                yield RawMessage(conn.topic, conn.msgtype, time_ns, data, conn)
        except BagError:
            raise
        except Exception as err:
            raise self._corrupted(last, err) from None

    def _corrupted(self, last_ns: int | None, err: Exception) -> BagCorruptedError:
        where = f" after t={last_ns} ns" if last_ns is not None else " before its first message"
        return BagCorruptedError(f"{self.path}: corrupted or truncated{where}: {_one_line(err)}")

    def raw_messages(
        self,
        topics: Collection[str] | None = None,
        msgtypes: Collection[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Iterator[RawMessage]:
        """Undecoded messages (any topic) in log-time order; ``end_ns`` is exclusive."""
        return self._iter(self._connections(topics, msgtypes, decodable=False), start_ns, end_ns)

    def messages(
        self,
        topics: Collection[str] | None = None,
        msgtypes: Collection[str] | None = None,
        start_ns: int | None = None,
        end_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Decoded messages in log-time order; ``end_ns`` is exclusive.

        With ``topics`` None every decodable topic is read (undecodable ones are listed by
        ``topics``); a named topic that cannot be decoded is an error.
        """
        conns = self._connections(topics, msgtypes, decodable=True)
        if not conns:
            return
        store = self._r.typestore
        deserialize = store.deserialize_cdr if self._r.is2 else store.deserialize_ros1
        skipped = self.skipped
        last = start_ns
        # one loop over rosbags' tuples (no RawMessage in between): on IMU-rate topics the
        # per-message overhead is what a reader costs
        try:
            for conn, time_ns, data in self._r.messages(conns, start=start_ns, stop=end_ns):
                last = time_ns
                topic = conn.topic
                if topic in skipped:
                    continue
                try:
                    msg = deserialize(data, conn.msgtype)
                except Exception as err:
                    reason = self._undecodable(conn.msgtype, time_ns, err)
                    if topics is None:
                        skipped[topic] = reason
                        continue
                    raise UndecodableMessageError(
                        f"{self.path}: topic {topic!r}: {reason}"
                    ) from None
                yield BagMessage(topic, conn.msgtype, time_ns, msg)
        except BagError:
            raise
        except Exception as err:
            raise self._corrupted(last, err) from None

    def _undecodable(self, msgtype: str, time_ns: int, err: Exception) -> str:
        source = (
            "the standard definition (none stored in the bag; recorded with another "
            "ROS distribution? pass distro=)"
            if msgtype in self._r.guessed
            else "the definition stored in the bag"
        )
        return (
            f"message at t={time_ns} ns does not decode as {msgtype} with "
            f"{source}: {_one_line(err)}"
        )

    def to_cdr(self, raw: RawMessage, store: Typestore | None = None) -> bytes | memoryview:
        """CDR bytes of a raw message for a ROS 2 bag written with ``store`` (Jazzy).

        ROS 2 data passes through untouched; ROS 1 data is decoded and rebuilt field by
        field (Header loses ``seq``, CameraInfo ``K`` becomes ``k``...).
        """
        if problem := self._r.topic_problems.get(raw.topic):
            raise BagError(f"{self.path}: topic {raw.topic!r} cannot be converted: {problem}")
        if not self.is_ros1:
            return raw.data
        from smartmine.msgs.factory import recast, typestore

        target = store if store is not None else typestore()
        message = self._r.typestore.deserialize_ros1(raw.data, raw.msgtype)
        data: memoryview = target.serialize_cdr(recast(message, raw.msgtype, target), raw.msgtype)
        return data


def check_time_window(start_s: float | None, end_s: float | None) -> None:
    """Refuse a ``--start``/``--end`` window (seconds from the bag start) that selects
    nothing: NaN or infinite, negative, or not ``start < end``; the options are named."""
    import math

    for option, value in (("--start", start_s), ("--end", end_s)):
        if value is not None and not (math.isfinite(value) and value >= 0.0):
            raise BagError(f"{option} {value}: must be a finite number of seconds >= 0")
    if start_s is not None and end_s is not None and not start_s < end_s:
        raise BagError(f"--start {start_s} must be before --end {end_s} (seconds from the start)")


def window_ns(
    bag_start_ns: int, start_s: float | None, end_s: float | None
) -> tuple[int | None, int | None]:
    """Absolute log times of a checked ``--start``/``--end`` window (None = open)."""
    check_time_window(start_s, end_s)
    return (
        None if start_s is None else bag_start_ns + round(start_s * 1e9),
        None if end_s is None else bag_start_ns + round(end_s * 1e9),
    )


def _distro_store(distro: str) -> str:
    from rosbags.typesys import Stores

    name = distro.lower()
    if name in {"latest", "empty"}:
        return name
    for prefix in ("ros2_", "ros1_", ""):
        if any(s.value == prefix + name for s in Stores):
            return prefix + name
    choices = ", ".join(s.value.split("_", 1)[-1] for s in Stores if "_" in s.value)
    raise BagError(f"unknown ROS distribution {distro!r} (choose from {choices})")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:297] + "..."
