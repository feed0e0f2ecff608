"""Trajectory evaluation like evo: association, Umeyama alignment, ATE and RPE.

The numbers must match the tools the field quotes, so each step copies their rules:

- association ``nearest`` (evo's ``associate_trajectories``): for every stamp of the
  shorter trajectory, the nearest stamp of the longer, kept when within ``max_diff_s``
  (a stamp of the longer one may serve twice); ``unique`` (TUM's ``associate.py`` /
  ``evaluate_ate.py``): all pairs within the tolerance, greedily by time difference,
  each stamp used once.
- alignment: Umeyama's least-squares fit of the estimate's positions onto the reference's
  (``se3``: rotation and translation; ``sim3``: with scale, for monocular estimates;
  ``origin``: first poses made equal; ``none``).
- ATE: Euclidean distance between aligned positions; RPE: the translation (and rotation
  angle) of ``inv(inv(Q_i) Q_j) inv(P_i) P_j`` over pose pairs chosen on the reference,
  ``delta`` apart in metres of path (``1m``) or in frames (``10f``).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import TrajectoryError
from mapping.slam.trajectory import Trajectory
from smartmine.geometry import GeometryError, fit_similarity

F64Array = npt.NDArray[np.float64]
Alignment = Literal["se3", "sim3", "origin", "none"]
Association = Literal["nearest", "unique"]


# -- association -----------------------------------------------------------------------
def _nearest_pairs(short: F64Array, long: F64Array, max_diff_s: float) -> tuple[Any, Any]:
    """evo's ``matching_time_indices``: nearest of ``long`` for each of ``short``."""
    order = np.argsort(long, kind="stable")
    sorted_long = long[order]
    right = np.clip(np.searchsorted(sorted_long, short), 0, len(long) - 1)
    left = np.clip(right - 1, 0, len(long) - 1)
    d_left = np.abs(sorted_long[left] - short)
    d_right = np.abs(sorted_long[right] - short)
    # np.argmin picks the first minimum (lowest index) on ties; stamps sorted: the left one
    pick = np.where(d_left <= d_right, left, right)
    diffs = np.minimum(d_left, d_right)
    keep = diffs <= max_diff_s
    return np.flatnonzero(keep), order[pick[keep]]


def _unique_pairs(first: F64Array, second: F64Array, max_diff_s: float) -> tuple[Any, Any]:
    """TUM's ``associate``: candidate pairs under the tolerance, greedily by difference."""
    order = np.argsort(second, kind="stable")
    sorted_second = second[order]
    lo = np.searchsorted(sorted_second, first - max_diff_s, side="left")
    hi = np.searchsorted(sorted_second, first + max_diff_s, side="right")
    cand_i: list[int] = []
    cand_j: list[int] = []
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        cand_i.extend([i] * int(b - a))
        cand_j.extend(order[a:b].tolist())
    ii = np.asarray(cand_i, dtype=np.int64)
    jj = np.asarray(cand_j, dtype=np.int64)
    diffs = np.abs(first[ii] - second[jj])
    strict = diffs < max_diff_s
    ii, jj, diffs = ii[strict], jj[strict], diffs[strict]
    # TUM sorts (diff, a, b) tuples: ties broken by the stamps themselves
    ranked = np.lexsort((second[jj], first[ii], diffs))
    used_i: set[int] = set()
    used_j: set[int] = set()
    out_i: list[int] = []
    out_j: list[int] = []
    for k in ranked:
        i, j = int(ii[k]), int(jj[k])
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        out_i.append(i)
        out_j.append(j)
    sort = np.argsort(first[np.asarray(out_i, dtype=np.int64)], kind="stable")
    return np.asarray(out_i, dtype=np.int64)[sort], np.asarray(out_j, dtype=np.int64)[sort]


def associate(
    est: Trajectory,
    ref: Trajectory,
    max_diff_s: float = 0.01,
    method: Association = "nearest",
    offset_s: float = 0.0,
) -> tuple[Trajectory, Trajectory]:
    """The estimate and reference reduced to pairs of matching stamps (same order)."""
    est_stamps = est.stamps_s + offset_s
    if method == "unique":
        i_ref, i_est = _unique_pairs(ref.stamps_s, est_stamps, max_diff_s)
    elif len(ref) > len(est):
        i_est, i_ref = _nearest_pairs(est_stamps, ref.stamps_s, max_diff_s)
    else:
        i_ref, i_est = _nearest_pairs(ref.stamps_s, est_stamps, max_diff_s)
    if len(i_ref) == 0:
        raise TrajectoryError(
            f"no stamps of {est.name or 'the estimate'} match {ref.name or 'the reference'} "
            f"within {max_diff_s} s (estimate {est.stamps_s[0]:.3f}..{est.stamps_s[-1]:.3f} s, "
            f"reference {ref.stamps_s[0]:.3f}..{ref.stamps_s[-1]:.3f} s)"
        )
    return est.subset(i_est), ref.subset(i_ref)


# -- alignment -------------------------------------------------------------------------
def umeyama(src: F64Array, dst: F64Array, with_scale: bool) -> tuple[F64Array, F64Array, float]:
    """Least-squares ``dst ≈ s R src + t`` (Umeyama 1991, the core's ``fit_similarity``),
    as evo and TUM's tools compute it."""
    if len(src) < 3:
        raise TrajectoryError(f"alignment needs at least 3 matched poses, got {len(src)}")
    try:
        fit = fit_similarity(src, dst, with_scale=with_scale)
    except GeometryError as err:
        raise TrajectoryError(f"cannot align the trajectories: {err}") from None
    sim = fit.transform
    return np.asarray(sim.rotation), np.asarray(sim.translation), sim.scale


def _with_axis_tips(trajectory: Trajectory) -> F64Array:
    """Positions plus the tips of each pose's x and y axes at 1 m."""
    p = trajectory.positions
    return np.vstack([p, p + trajectory.poses[:, :3, 0], p + trajectory.poses[:, :3, 1]])


def align(est: Trajectory, ref: Trajectory, how: Alignment) -> tuple[Trajectory, F64Array, float]:
    """The estimate aligned onto the reference (matched pairs), with the 4×4 and scale."""
    left = np.eye(4)
    scale = 1.0
    if how in ("se3", "sim3"):
        try:
            rotation, translation, scale = umeyama(est.positions, ref.positions, how == "sim3")
        except TrajectoryError:
            if len(est) < 3:
                raise
            # positions on a straight line (a straight drift) leave the roll about it free;
            # the poses' own axes (1 m tips) pin it, where evo would return an arbitrary one
            rotation, translation, scale = umeyama(
                _with_axis_tips(est), _with_axis_tips(ref), how == "sim3"
            )
        left[:3, :3] = rotation
        left[:3, 3] = translation
    elif how == "origin":
        left = ref.poses[0] @ np.linalg.inv(est.poses[0])
    return est.transformed(left, scale), left, scale


# -- metrics ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    rmse: float
    mean: float
    median: float
    std: float
    min: float
    max: float
    sse: float
    count: int

    @staticmethod
    def of(errors: F64Array) -> Stats:
        if len(errors) == 0:
            nan = math.nan
            return Stats(nan, nan, nan, nan, nan, nan, nan, 0)
        return Stats(
            rmse=float(np.sqrt(np.mean(errors**2))),
            mean=float(np.mean(errors)),
            median=float(np.median(errors)),
            std=float(np.std(errors)),
            min=float(np.min(errors)),
            max=float(np.max(errors)),
            sse=float(np.sum(errors**2)),
            count=len(errors),
        )


def rotation_angle_deg(rotations: F64Array) -> F64Array:
    cos = (np.trace(rotations, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.asarray(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))), dtype=np.float64)


def ate_errors(est_aligned: Trajectory, ref: Trajectory) -> F64Array:
    return np.asarray(np.linalg.norm(est_aligned.positions - ref.positions, axis=1), np.float64)


def parse_delta(text: str) -> tuple[float, Literal["m", "f"]]:
    """``"1m"`` → (1.0, metres of path), ``"10f"`` or ``"10"`` → (10, frames)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(m|f|frames?)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise TrajectoryError(f"--rpe-delta {text!r}: expected e.g. 1m (metres) or 10f (frames)")
    unit: Literal["m", "f"] = "m" if match.group(2) == "m" else "f"
    value = float(match.group(1))
    if unit == "f" and not value.is_integer():
        raise TrajectoryError(f"--rpe-delta {text!r}: a frame count must be whole")
    return value, unit


def rpe_pairs(ref: Trajectory, delta: float, unit: Literal["m", "f"]) -> list[tuple[int, int]]:
    """evo's ``filter_pairs_by_path``/``_by_index`` (consecutive, not all pairs)."""
    if unit == "f":
        ids = list(range(0, len(ref), int(delta)))
    else:
        steps = np.r_[0.0, np.linalg.norm(np.diff(ref.positions, axis=0), axis=1)]
        ids = []
        path = 0.0
        for i, step in enumerate(steps):
            path += float(step)
            if path >= delta:
                ids.append(i)
                path = 0.0
    return list(itertools.pairwise(ids))


def rpe_errors(
    est: Trajectory, ref: Trajectory, pairs: list[tuple[int, int]]
) -> tuple[F64Array, F64Array]:
    """Translation (m) and rotation (deg) errors of the relative motions over ``pairs``."""
    if not pairs:
        return np.zeros(0), np.zeros(0)
    i, j = np.asarray(pairs).T
    ref_rel = np.linalg.inv(ref.poses[i]) @ ref.poses[j]
    est_rel = np.linalg.inv(est.poses[i]) @ est.poses[j]
    err = np.linalg.inv(ref_rel) @ est_rel
    return np.linalg.norm(err[:, :3, 3], axis=1), rotation_angle_deg(err[:, :3, :3])


@dataclass
class EvaluationResult:
    """What ``traj eval`` prints and saves."""

    estimate: str
    reference: str
    alignment: Alignment
    association: Association
    max_diff_s: float
    pairs: int
    scale: float
    ate_m: Stats
    rpe_delta: str
    rpe_trans_m: Stats
    rpe_rot_deg: Stats
    path_length_m: float
    aligned: Trajectory = field(repr=False)
    matched_ref: Trajectory = field(repr=False)
    alignment_matrix: F64Array = field(repr=False, default_factory=lambda: np.eye(4))
    """Rigid part of the alignment: aligned = alignment_matrix @ (positions × scale)."""

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("aligned")
        data.pop("matched_ref")
        data["alignment_matrix"] = self.alignment_matrix.tolist()
        return data

    def text(self) -> str:
        a, t, r = self.ate_m, self.rpe_trans_m, self.rpe_rot_deg
        return "\n".join(
            [
                f"estimate  {self.estimate}",
                f"reference {self.reference}",
                f"pairs {self.pairs} ({self.association}, max diff {self.max_diff_s} s), "
                f"alignment {self.alignment}, scale {self.scale:.6f}, "
                f"reference path {self.path_length_m:.3f} m",
                f"ATE  rmse {a.rmse:.6f} m  mean {a.mean:.6f}  median {a.median:.6f}  "
                f"std {a.std:.6f}  min {a.min:.6f}  max {a.max:.6f}",
                f"RPE  delta {self.rpe_delta} ({t.count} pairs)  trans rmse {t.rmse:.6f} m  "
                f"mean {t.mean:.6f}  max {t.max:.6f};  rot rmse {r.rmse:.4f} deg  "
                f"mean {r.mean:.4f}  max {r.max:.4f}",
            ]
        )


def evaluate(
    est: Trajectory,
    ref: Trajectory,
    *,
    alignment: Alignment = "se3",
    association: Association = "nearest",
    max_diff_s: float = 0.01,
    offset_s: float = 0.0,
    rpe_delta: str = "1m",
) -> EvaluationResult:
    """ATE and RPE of ``est`` against ``ref`` (see the module docstring for the rules)."""
    est_m, ref_m = associate(est, ref, max_diff_s, association, offset_s)
    aligned, left, scale = align(est_m, ref_m, alignment)
    delta, unit = parse_delta(rpe_delta)
    trans, rot = rpe_errors(aligned, ref_m, rpe_pairs(ref_m, delta, unit))
    return EvaluationResult(
        estimate=est.name,
        reference=ref.name,
        alignment=alignment,
        association=association,
        max_diff_s=max_diff_s,
        pairs=len(ref_m),
        scale=scale,
        ate_m=Stats.of(ate_errors(aligned, ref_m)),
        rpe_delta=rpe_delta,
        rpe_trans_m=Stats.of(trans),
        rpe_rot_deg=Stats.of(rot),
        path_length_m=ref_m.path_length_m(),
        aligned=aligned,
        alignment_matrix=left,
        matched_ref=ref_m,
    )


def plot_evaluation(result: EvaluationResult, path: Path, title: str = "") -> Path:
    """Top view (x-y) of reference and aligned estimate, and ATE along the trajectory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from smartmine.atomic import atomic_path

    ref, est = result.matched_ref, result.aligned
    err = ate_errors(est, ref)
    fig, (ax_xy, ax_err) = plt.subplots(1, 2, figsize=(12, 5))
    ax_xy.plot(ref.positions[:, 0], ref.positions[:, 1], "k--", lw=1, label="reference")
    points = ax_xy.scatter(est.positions[:, 0], est.positions[:, 1], c=err, s=4, cmap="viridis")
    ax_xy.plot(est.positions[:, 0], est.positions[:, 1], lw=0.5, alpha=0.5, label="estimate")
    fig.colorbar(points, ax=ax_xy, label="ATE (m)")
    ax_xy.set_aspect("equal", adjustable="datalim")
    ax_xy.set_xlabel("x (m)")
    ax_xy.set_ylabel("y (m)")
    ax_xy.legend(loc="best")
    t = ref.stamps_s - ref.stamps_s[0]
    ax_err.plot(t, err, lw=1)
    ax_err.axhline(
        result.ate_m.rmse, color="r", lw=1, ls=":", label=f"RMSE {result.ate_m.rmse:.4f} m"
    )
    ax_err.set_xlabel("time (s)")
    ax_err.set_ylabel("ATE (m)")
    ax_err.legend(loc="best")
    fig.suptitle(title or f"{result.estimate} vs {result.reference} ({result.alignment})")
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
