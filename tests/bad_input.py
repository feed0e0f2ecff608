"""The bad-input contract of every command, and the table-driven harness that checks it.

A command given bad input (truncated, bit-flipped, wrong type, lying header, NaN, empty,
huge values, unwritable output) must:

- exit with code 2,
- print no traceback, and end its stderr with one ``smartmine: error: ...`` line (or
  argparse's ``smartmine ...: error: ...`` line) that names the file, topic or field,
- leave the folder it was run in exactly as it was: no product, no hidden
  ``.partial-*`` folder, no ``-wal`` file.

Each test module adds rows (:class:`BadInput`) for its commands and runs them with
:func:`check_bad_input`; ``tests/test_bad_inputs_*.py`` hold the corpus.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smartmine.cli import main

Maker = Callable[[Path], None]


@dataclass(frozen=True)
class BadInput:
    """One bad input: how to build it, the command line, what the error must name.

    ``argv`` items may use ``{d}`` for the case's folder (where ``make`` built the
    inputs; outputs should go there too, so "nothing written" is checked).
    ``names`` are substrings the error line must contain (file, topic or field),
    formatted like ``argv``.
    """

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    make: Maker = field(default=lambda d: None)


def with_file(name: str, content: str | bytes, base: Maker | None = None) -> Maker:
    """A maker: ``base`` first (when given), then the file ``name`` (its folders made)
    holding ``content`` (text as UTF-8)."""

    def make(d: Path) -> None:
        if base is not None:
            base(d)
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return make


def both(*makers: Maker) -> Maker:
    """A maker that runs ``makers`` in order."""

    def make(d: Path) -> None:
        for maker in makers:
            maker(d)

    return make


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_main(argv: list[str]) -> Outcome:
    """Run ``smartmine ARGV`` in this process; any uncaught exception propagates."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse
            code = stop.code if isinstance(stop.code, int) else 2
    return Outcome(int(code), out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` (hidden ones too); files with their size and mtime.

    A folder's own mtime is left out: a run may create and remove temporaries in it.
    """
    return {
        str(p.relative_to(folder)): (
            (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (-1, 0)
        )
        for p in sorted(folder.rglob("*"))
    }


def error_line(stderr: str) -> str:
    """The last non-empty line of stderr: where the one error line must be."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def check_bad_input(case: BadInput, folder: Path) -> Outcome:
    """Build ``case`` in ``folder``, run it and assert the contract; return the outcome."""
    folder.mkdir(parents=True, exist_ok=True)
    case.make(folder)
    before = snapshot(folder)
    argv = [a.format(d=folder) for a in case.argv]
    outcome = run_main(argv)
    line = error_line(outcome.stderr)
    assert outcome.code == 2, f"{case.id}: exit {outcome.code}, stderr: {outcome.stderr[-800:]}"
    assert "Traceback" not in outcome.stderr, f"{case.id}: {outcome.stderr[-2000:]}"
    assert "error:" in line, f"{case.id}: last stderr line is not an error: {line!r}"
    for name in case.names:
        wanted = name.format(d=folder)
        assert wanted in line, f"{case.id}: error line does not name {wanted!r}: {line!r}"
    after = snapshot(folder)
    added = sorted(set(after) - set(before))
    changed = sorted(k for k in before if k in after and after[k] != before[k])
    assert not added, f"{case.id}: left behind {added}"
    assert not changed, f"{case.id}: changed {changed}"
    return outcome
