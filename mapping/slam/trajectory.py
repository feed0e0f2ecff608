"""Trajectories as stamped SE(3) poses, read from and written to TUM, KITTI and EuRoC files.

One reader per format behind :func:`read_trajectory`, which guesses the format from the
path and the first data line: ``.csv`` (EuRoC ground truth: ns stamp, position,
quaternion w-first), 12 numbers per line (KITTI: a 3×4 row-major matrix, stamped by its
line index), 8 numbers per line (TUM: ``t x y z qx qy qz qw``, stamp in seconds; read,
checked and written by :mod:`smartmine.tum`, the one place for that format).
Poses are body-to-world (T_wb) 4×4 matrices; stamps are float seconds, as evo and the
TUM tools compare them (nanosecond stamps are kept exact as ``stamps_ns``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import TrajectoryError
from smartmine import tum
from smartmine.atomic import write_text_atomic
from smartmine.geometry import GeometryError, matrix_to_quat, quat_to_matrix

F64Array = npt.NDArray[np.float64]
TrajectoryFormat = Literal["tum", "kitti", "euroc"]
_COMMENTS = ("#", "%", "//")
"""Comment starts in KITTI and EuRoC files (TUM's own rules are in smartmine.tum)."""


@dataclass
class Trajectory:
    """``stamps_s`` (N,) seconds and ``poses`` (N, 4, 4) body-to-world."""

    stamps_s: F64Array
    poses: F64Array
    name: str = ""

    def __post_init__(self) -> None:
        self.stamps_s = np.asarray(self.stamps_s, dtype=np.float64).reshape(-1)
        self.poses = np.asarray(self.poses, dtype=np.float64).reshape(-1, 4, 4)
        if len(self.stamps_s) != len(self.poses):
            raise TrajectoryError(
                f"trajectory {self.name!r}: {len(self.stamps_s)} stamps for {len(self.poses)} poses"
            )

    def __len__(self) -> int:
        return len(self.stamps_s)

    @property
    def positions(self) -> F64Array:
        return self.poses[:, :3, 3]

    def subset(self, indices: npt.ArrayLike) -> Trajectory:
        idx = np.asarray(indices, dtype=np.int64)
        return Trajectory(self.stamps_s[idx], self.poses[idx], self.name)

    def transformed(self, left: F64Array, scale: float = 1.0) -> Trajectory:
        """``left @ pose`` for every pose, the positions first scaled by ``scale``
        (a similarity applied to the trajectory, as evo's ``align`` does)."""
        poses = self.poses.copy()
        poses[:, :3, 3] *= scale
        return Trajectory(self.stamps_s.copy(), left @ poses, self.name)

    def path_length_m(self) -> float:
        steps = np.diff(self.positions, axis=0)
        return float(np.linalg.norm(steps, axis=1).sum())


def _poses_from(positions: F64Array, quats_xyzw: F64Array, where: str) -> F64Array:
    try:
        rotations = quat_to_matrix(quats_xyzw)
    except GeometryError as err:
        raise TrajectoryError(f"{where}: {err}") from None
    poses = np.tile(np.eye(4), (len(positions), 1, 1))
    poses[:, :3, :3] = rotations
    poses[:, :3, 3] = positions
    return poses


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrajectoryError(f"{path}: no such trajectory file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TrajectoryError(f"{path}: cannot read ({err})") from None


def _numeric_rows(path: Path, delimiter: str | None) -> _Rows:
    """KITTI and EuRoC rows (TUM is read by :mod:`smartmine.tum`)."""
    rows: list[list[float]] = []
    lines: list[int] = []
    width = None
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(_COMMENTS):
            continue
        parts = line.split(delimiter) if delimiter else line.replace(",", " ").split()
        try:
            values = [float(p) for p in parts if p.strip()]
        except ValueError:
            raise TrajectoryError(f"{path}:{number}: not a row of numbers: {line[:60]!r}") from None
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise TrajectoryError(f"{path}:{number}: {len(values)} columns, expected {width}")
        if not all(math.isfinite(v) for v in values):
            raise TrajectoryError(f"{path}:{number}: NaN or infinite value: {line[:60]!r}")
        rows.append(values)
        lines.append(number)
    if not rows:
        raise TrajectoryError(f"{path}: no poses")
    return _Rows(np.asarray(rows, dtype=np.float64), lines)


class _Rows:
    """A file's numeric rows and the line number of each, for messages."""

    def __init__(self, values: F64Array, lines: list[int]) -> None:
        self.values = values
        self.lines = lines
        self.shape = values.shape

    def check_increasing(self, stamps: F64Array, path: Path) -> None:
        """Stamps must not go back: associating poses assumes time order (a repeated
        stamp is let through: real files, e.g. evo's V102.txt, hold some)."""
        steps = np.diff(stamps)
        bad = np.flatnonzero(~(steps >= 0))
        if len(bad):
            i = int(bad[0]) + 1
            raise TrajectoryError(
                f"{path}:{self.lines[i]}: stamp {float(stamps[i])!r} goes back in time "
                f"(previous {float(stamps[i - 1])!r} at line {self.lines[i - 1]})"
            )


def _check_rotations(rotations: F64Array, rows: _Rows, path: Path) -> None:
    """KITTI matrices must hold rotations (orthonormal, determinant +1, 1e-3)."""
    err = np.abs(rotations @ np.swapaxes(rotations, 1, 2) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(rotations)
    bad = np.flatnonzero((err > 1e-3) | (np.abs(det - 1.0) > 1e-3))
    if len(bad):
        raise TrajectoryError(
            f"{path}:{rows.lines[int(bad[0])]}: the 3x3 part is not a rotation matrix"
        )


def read_tum(path: Path) -> Trajectory:
    """A TUM file, read and checked by :mod:`smartmine.tum` (the one TUM parser)."""
    try:
        table = tum.read_tum(path)
    except tum.TumError as err:
        raise TrajectoryError(str(err)) from None
    poses = _poses_from(table.positions, table.quats_xyzw, str(path))
    return Trajectory(table.stamps_s, poses, path.stem)


def read_kitti(path: Path) -> Trajectory:
    table = _numeric_rows(path, None)
    rows = table.values
    if rows.shape[1] != 12:
        raise TrajectoryError(f"{path}: KITTI wants 12 columns (3x4 matrix), got {rows.shape[1]}")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :4] = rows.reshape(-1, 3, 4)
    _check_rotations(poses[:, :3, :3], table, path)
    return Trajectory(np.arange(len(rows), dtype=np.float64), poses, path.stem)


def read_euroc(path: Path) -> Trajectory:
    """EuRoC state ground truth: ``t_ns, px, py, pz, qw, qx, qy, qz, ...``."""
    table = _numeric_rows(path, None)
    rows = table.values
    if rows.shape[1] < 8:
        raise TrajectoryError(f"{path}: EuRoC CSV wants at least 8 columns, got {rows.shape[1]}")
    table.check_increasing(rows[:, 0], path)
    quats = rows[:, [5, 6, 7, 4]]
    return Trajectory(rows[:, 0] * 1e-9, _poses_from(rows[:, 1:4], quats, str(path)), path.stem)


def _first_row_width(path: Path) -> int:
    """Fields on the first data line (the reader of the format checks the whole file)."""
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(_COMMENTS):
            continue
        parts = line.replace(",", " ").split()
        try:
            [float(p) for p in parts]
        except ValueError:
            raise TrajectoryError(f"{path}:{number}: not a row of numbers: {line[:60]!r}") from None
        return len(parts)
    raise TrajectoryError(f"{path}: no poses")


def guess_format(path: Path) -> TrajectoryFormat:
    if path.suffix.lower() == ".csv":
        return "euroc"
    width = _first_row_width(path)
    if width == 12:
        return "kitti"
    if width == 8:
        return "tum"
    raise TrajectoryError(
        f"{path}: cannot tell the format from {width} columns (TUM has 8, KITTI 12, EuRoC is .csv)"
    )


def read_trajectory(path: Path | str, fmt: TrajectoryFormat | None = None) -> Trajectory:
    """Read a trajectory; ``fmt`` None guesses it from the path and column count."""
    path = Path(path)
    fmt = fmt or guess_format(path)
    reader = {"tum": read_tum, "kitti": read_kitti, "euroc": read_euroc}[fmt]
    return reader(path)


TUM_COMMENT = "timestamp tx ty tz qx qy qz qw"


def tum_text(trajectory: Trajectory) -> str:
    """``trajectory`` as TUM text: stamps with 9 decimals, positions 6, quaternions 8."""
    quats = matrix_to_quat(trajectory.poses[:, :3, :3]) if len(trajectory) else np.zeros((0, 4))
    return tum.tum_text(
        [tum.format_stamp_s(s) for s in trajectory.stamps_s],
        trajectory.positions,
        quats,
        comment=TUM_COMMENT,
        position_decimals=6,
        quat_decimals=8,
    )


def write_tum(path: Path | str, trajectory: Trajectory) -> Path:
    """Write ``trajectory`` in TUM format (atomically)."""
    return write_text_atomic(path, tum_text(trajectory))
