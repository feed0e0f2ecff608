"""The TUM trajectory format, in one place: ``timestamp x y z qx qy qz qw`` per line.

Read by ``traj eval`` and ``slam`` (trajectories), ``hsi ortho --poses``, ``fly
--vision-pose`` (files and UDP lines) and the simulator's image export; written by
``slam`` and the simulator. One parser, one set of checks, so every reader refuses the
same bad input with the same kind of message: the file, the line number and the field.

The format (as the TUM RGB-D benchmark and evo define it): one pose per line, the stamp in
seconds, the position, then the orientation as a quaternion in ``(x, y, z, w)`` order (ROS
order, as everywhere in :mod:`smartmine.geometry`). Lines starting with ``#`` and blank
lines are skipped; fields are separated by spaces (commas are accepted too).

Checks, each a :class:`TumError` naming the file, line and field:

- exactly eight fields, each a number, each finite (no NaN or inf);
- a quaternion whose length is within :data:`QUAT_NORM_TOL` of 1 is normalised (files
  store few decimals: TUM's ground truth is off by up to 1e-4); further off, zero
  included, it is refused (not a rotation written with rounding, but a wrong column or a
  typo);
- stamps never go back in time; a repeated stamp is accepted (real files hold them, e.g.
  evo's ``V102.txt``) unless the caller asks for strictly increasing stamps;
- a file without a single pose is refused.

Stamps are kept both as float seconds and, exactly from the text, as integer
nanoseconds (:meth:`TumTrajectory.stamps_ns`): a float64 second count since 1970 holds
only about a quarter-microsecond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from smartmine.atomic import write_text_atomic
from smartmine.errors import SmartmineError

__all__ = [
    "FIELDS",
    "HEADER",
    "QUAT_NORM_TOL",
    "TumError",
    "TumPose",
    "TumTrajectory",
    "format_stamp_ns",
    "format_stamp_s",
    "parse_tum",
    "parse_tum_line",
    "read_tum",
    "tum_text",
    "write_tum",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

FIELDS: Final = ("timestamp", "x", "y", "z", "qx", "qy", "qz", "qw")
HEADER: Final = " ".join(FIELDS)
QUAT_NORM_TOL: Final = 0.01
"""A quaternion whose length differs from 1 by more than this is refused, not normalised."""
_INT64_MAX: Final = 2**63 - 1
_SHOWN_CHARS: Final = 40
"""Longest piece of a bad field quoted in a message."""


class TumError(SmartmineError):
    """A TUM file or line is unreadable or breaks the format (file, line, field named)."""


@dataclass(frozen=True)
class TumPose:
    """One TUM line: the stamp (seconds, and its text), position and unit quaternion."""

    stamp_s: float
    stamp_text: str
    position: FloatArray
    quat_xyzw: FloatArray


@dataclass(frozen=True)
class TumTrajectory:
    """A checked TUM file: ``stamps_s`` (N,), ``positions`` (N, 3), ``quats_xyzw`` (N, 4)
    unit quaternions, and the line number of each pose in ``source`` (for messages)."""

    source: str
    stamps_s: FloatArray
    positions: FloatArray
    quats_xyzw: FloatArray
    line_numbers: IntArray
    stamp_texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.stamps_s)

    def stamps_ns(self) -> IntArray:
        """Integer nanoseconds, exact from the stamps' text (rounded half-even below 1 ns)."""
        out = np.empty(len(self.stamp_texts), dtype=np.int64)
        for i, text in enumerate(self.stamp_texts):
            nanoseconds = _nanoseconds(text)
            if nanoseconds is None or abs(nanoseconds) > _INT64_MAX:
                raise TumError(
                    f"{self.source}: line {int(self.line_numbers[i])}: field timestamp "
                    f"{text[:_SHOWN_CHARS]!r} is not a time in seconds that nanoseconds "
                    "(64-bit) can hold"
                )
            out[i] = nanoseconds
        return out


def _nanoseconds(text: str) -> int | None:
    try:
        value = Decimal(text.strip())
        if not value.is_finite():
            return None
        return int(value.scaleb(9).to_integral_value(rounding=ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError, OverflowError):
        return None


def _fields(line: str) -> list[str]:
    return line.replace(",", " ").split()


def parse_tum_line(line: str, where: str) -> TumPose:
    """One TUM line (a UDP datagram, a file's line), checked; ``where`` starts each message
    (e.g. ``"--vision-pose poses.tum: line 3"``)."""
    words = _fields(line)
    if len(words) != len(FIELDS):
        raise TumError(f"{where}: {len(words)} columns, TUM wants {len(FIELDS)} ({HEADER})")
    values = []
    for name, word in zip(FIELDS, words, strict=True):
        try:
            value = float(word)
        except ValueError:
            raise TumError(
                f"{where}: field {name} {word[:_SHOWN_CHARS]!r} is not a number"
            ) from None
        if not math.isfinite(value):
            raise TumError(f"{where}: field {name} is {word[:_SHOWN_CHARS]} (not finite)")
        values.append(value)
    quat = np.array(values[4:8], dtype=np.float64)
    norm = math.hypot(*values[4:8])  # no overflow for huge finite components
    if not abs(norm - 1.0) <= QUAT_NORM_TOL:
        raise TumError(
            f"{where}: quaternion (qx qy qz qw) has length {norm:.6g}; a rotation needs 1 "
            f"(within {QUAT_NORM_TOL:g})"
        )
    return TumPose(values[0], words[0], np.array(values[1:4], dtype=np.float64), quat / norm)


def _check_order(poses: list[TumPose], lines: list[int], where: str, strict: bool) -> None:
    for i in range(1, len(poses)):
        before, after = poses[i - 1].stamp_s, poses[i].stamp_s
        if after < before or (strict and after == before):
            verdict = "is not after" if after >= before else "goes back in time from"
            raise TumError(
                f"{where}: line {lines[i]}: field timestamp {poses[i].stamp_text} {verdict} "
                f"{poses[i - 1].stamp_text} (line {lines[i - 1]})"
            )


def parse_tum(text: str, source: str, *, strictly_increasing: bool = False) -> TumTrajectory:
    """A TUM file's text, checked; ``source`` names it in messages."""
    poses: list[TumPose] = []
    lines: list[int] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        poses.append(parse_tum_line(line, f"{source}: line {number}"))
        lines.append(number)
    if not poses:
        raise TumError(f"{source}: no poses (TUM wants lines of {HEADER})")
    _check_order(poses, lines, source, strictly_increasing)
    return TumTrajectory(
        source,
        np.array([p.stamp_s for p in poses], dtype=np.float64),
        np.array([p.position for p in poses], dtype=np.float64).reshape(-1, 3),
        np.array([p.quat_xyzw for p in poses], dtype=np.float64).reshape(-1, 4),
        np.array(lines, dtype=np.int64),
        tuple(p.stamp_text for p in poses),
    )


def read_tum(
    path: str | Path, *, label: str = "", strictly_increasing: bool = False
) -> TumTrajectory:
    """Read and check a TUM file. ``label`` (e.g. the option ``"--poses"``) prefixes the
    path in messages, so the user learns which of their inputs is at fault."""
    source = f"{label} {path}" if label else str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TumError(f"{source}: no such file") from None
    except UnicodeDecodeError as err:
        raise TumError(f"{source}: not TUM text (byte {err.start} is not UTF-8)") from None
    except OSError as err:
        raise TumError(f"{source}: cannot read ({err.strerror or err})") from None
    return parse_tum(text, source, strictly_increasing=strictly_increasing)


def format_stamp_ns(stamp_ns: int) -> str:
    """Integer nanoseconds as exact decimal seconds, ``"1700000000.000000001"``."""
    sign = "-" if stamp_ns < 0 else ""
    seconds, nanoseconds = divmod(abs(int(stamp_ns)), 1_000_000_000)
    return f"{sign}{seconds}.{nanoseconds:09d}"


def format_stamp_s(stamp_s: float) -> str:
    """Float seconds with nanosecond decimals."""
    return f"{stamp_s:.9f}"


def tum_text(
    stamps: Sequence[str],
    positions: npt.ArrayLike,
    quats_xyzw: npt.ArrayLike,
    *,
    comment: str = HEADER,
    position_decimals: int = 9,
    quat_decimals: int = 9,
) -> str:
    """A TUM file's text: ``# comment``, then one line per pose. ``stamps`` are already
    text (:func:`format_stamp_ns` or :func:`format_stamp_s`), so no caller loses digits.
    Refuses non-finite values: nothing is written that :func:`read_tum` would refuse."""
    position_rows = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    quat_rows = np.asarray(quats_xyzw, dtype=np.float64).reshape(-1, 4)
    if not len(stamps) == len(position_rows) == len(quat_rows):
        raise TumError(
            f"TUM text: {len(stamps)} stamps, {len(position_rows)} positions, "
            f"{len(quat_rows)} quaternions"
        )
    if not (np.all(np.isfinite(position_rows)) and np.all(np.isfinite(quat_rows))):
        raise TumError("TUM text: a position or quaternion is NaN or infinite")
    lines = [f"# {comment}"]
    for stamp, position, quat in zip(stamps, position_rows, quat_rows, strict=True):
        xyz = " ".join(f"{v:.{position_decimals}f}" for v in position)
        q = " ".join(f"{v:.{quat_decimals}f}" for v in quat)
        lines.append(f"{stamp} {xyz} {q}")
    return "\n".join(lines) + "\n"


def write_tum(
    path: str | Path,
    stamps: Sequence[str],
    positions: npt.ArrayLike,
    quats_xyzw: npt.ArrayLike,
    *,
    comment: str = HEADER,
    position_decimals: int = 9,
    quat_decimals: int = 9,
) -> Path:
    """Write :func:`tum_text` to ``path`` atomically (temporary name, then rename)."""
    text = tum_text(
        stamps,
        positions,
        quats_xyzw,
        comment=comment,
        position_decimals=position_decimals,
        quat_decimals=quat_decimals,
    )
    return write_text_atomic(path, text)
