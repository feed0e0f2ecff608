"""Progress bars for long work: on stderr, only when it is a terminal.

One wrapper so every command shows progress the same way and tests and CI logs stay
quiet (``SMARTMINE_PROGRESS=1`` forces bars on, ``0`` off).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress_enabled() -> bool:
    """Whether bars are shown: the env switch, else whether stderr is a terminal."""
    forced = os.environ.get("SMARTMINE_PROGRESS")
    if forced is not None:
        return forced not in {"0", "", "false", "no"}
    return sys.stderr.isatty()


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "msg"
) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on stderr when enabled."""
    if not progress_enabled():
        yield from items
        return
    from tqdm import tqdm

    with tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False) as bar:
        yield from bar
