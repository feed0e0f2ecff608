"""``smartmine bag info``: what a bag holds, like ``ros2 bag info`` plus rates."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from smartmine.bagio.reader import BagReader
from smartmine.progress import progress


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int
    frequency_hz: float | None
    """Mean rate over the topic's own first-to-last span; None under two messages."""
    first_ns: int | None
    last_ns: int | None
    decodable: bool
    problem: str | None


@dataclass(frozen=True)
class BagInfo:
    path: str
    storage: str
    files: list[str]
    size_bytes: int
    start_ns: int
    end_ns: int
    duration_ns: int
    message_count: int
    topics: list[TopicInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bag_info(path: Path | str, *, distro: str | None = None) -> BagInfo:
    """Summarise a bag; one pass over the message index for per-topic rates."""
    with BagReader(path, distro=distro) as bag:
        first: dict[str, int] = {}
        last: dict[str, int] = {}
        for raw in progress(bag.raw_messages(), total=bag.message_count, desc="scanning"):
            first.setdefault(raw.topic, raw.log_time_ns)
            last[raw.topic] = raw.log_time_ns
        topics = []
        for name, summary in sorted(bag.topics.items()):
            t0, t1 = first.get(name), last.get(name)
            rate = None
            if summary.count > 1 and t0 is not None and t1 is not None and t1 > t0:
                rate = (summary.count - 1) / ((t1 - t0) * 1e-9)
            topics.append(
                TopicInfo(
                    name,
                    summary.msgtype,
                    summary.count,
                    rate,
                    t0,
                    t1,
                    summary.decodable,
                    summary.problem,
                )
            )
        return BagInfo(
            path=str(bag.path),
            storage=bag.storage,
            files=[p.name for p in bag.files],
            size_bytes=bag.size_bytes,
            start_ns=bag.start_ns,
            end_ns=bag.end_ns,
            duration_ns=bag.duration_ns,
            message_count=bag.message_count,
            topics=topics,
        )


def _human_size(n: float) -> str:
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GiB"


def _stamp(ns: int) -> str:
    when = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    return f"{when:%b %d %Y %H:%M:%S}.{ns % 10**9:09d} UTC ({ns // 10**9}.{ns % 10**9:09d})"


def format_info(info: BagInfo) -> str:
    """Human-readable text in the layout of ``ros2 bag info``."""
    lines = [
        f"Files:             {', '.join(info.files)}",
        f"Bag size:          {_human_size(info.size_bytes)}",
        f"Storage id:        {info.storage}",
        f"Duration:          {info.duration_ns / 1e9:.3f}s",
        f"Start:             {_stamp(info.start_ns)}",
        f"End:               {_stamp(info.end_ns)}",
        f"Messages:          {info.message_count}",
        f"Topic information: {len(info.topics)} topics",
    ]
    width = max((len(t.name) for t in info.topics), default=0)
    type_width = max((len(t.msgtype) for t in info.topics), default=0)
    for t in info.topics:
        rate = f"{t.frequency_hz:8.2f} Hz" if t.frequency_hz is not None else "       - Hz"
        line = f"  {t.name:<{width}} | {t.msgtype:<{type_width}} | {t.count:>7} msgs | {rate}"
        if t.problem:
            line += f" | cannot decode: {t.problem}"
        lines.append(line)
    return "\n".join(lines)
