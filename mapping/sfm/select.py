"""Which sparse model to keep: every mapper the block needs, each scored on evidence.

Candidates: ``incremental`` (COLMAP, GPS priors in the bundle adjustment); ``global``
(GLOMAP, then a GPS-prior bundle adjustment); ``incremental_relaxed`` (lower inlier
limits, started from the best-connected pair the others left out). With GPS: global where
incremental leaves images out, relaxed where both register fewer than
``min_registered_share``. Without GPS nothing shows a bent global model: incremental,
relaxed (when low), global only where neither holds 3 images.

A candidate is eligible when its cameras are not implausible against their own priors
(:mod:`mapping.sfm.intrinsics`) and, with GPS, its camera centres fit GPS after a
similarity within ``gps_max_sigmas`` x the stated accuracy or 1.5 x (+1 m) the best
candidate's fit (a bent global model fails this, colmap/glomap#138). Among the eligible,
the most registered images wins, then the better GPS fit, then more points. The choice,
its reason in a sentence and every trial go to ``work/sparse/mapper.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapping.sfm import sparse
from mapping.sfm.config import SfmConfig
from mapping.sfm.errors import SfmError
from mapping.sfm.intrinsics import IntrinsicsVerdict, database_focal_priors, judge_intrinsics
from mapping.sfm.sparse import RELAXED, WorkingImages
from smartmine.atomic import atomic_path


@dataclass
class Trial:
    """One mapper's largest model and the evidence on it."""

    mapper: str
    rec: Any
    registered: int = 0
    points: int = 0
    gps_rmse_m: float = float("nan")
    intrinsics: IntrinsicsVerdict = field(default_factory=IntrinsicsVerdict)
    rejected: str = ""
    """Why the trial is not eligible ("" = eligible)."""

    def to_dict(self, images: int) -> dict[str, Any]:
        return {
            "registered": self.registered,
            "images": images,
            "points": self.points,
            "gps_rmse_horizontal_m": None
            if math.isnan(self.gps_rmse_m)
            else round(self.gps_rmse_m, 3),
            "intrinsics": self.intrinsics.verdict,
            "intrinsics_notes": self.intrinsics.notes,
            "eligible": not self.rejected,
            "rejected_because": self.rejected or None,
        }


def evaluate(
    mapper: str, rec: Any, images: WorkingImages, priors: dict[int, float | None]
) -> Trial:
    if rec is None:
        return Trial(mapper, None, rejected="no model (too few matches to start one)")
    return Trial(
        mapper,
        rec,
        registered=int(rec.num_reg_images()),
        points=int(rec.num_points3D()),
        gps_rmse_m=sparse._gps_fit_rmse(rec, images),
        intrinsics=judge_intrinsics(rec, priors),
    )


def judge(trials: list[Trial], gps_limit_m: float) -> None:
    """Mark the trials that are not eligible, with the reason."""
    fits = [t.gps_rmse_m for t in trials if t.rec is not None and math.isfinite(t.gps_rmse_m)]
    relative_m = 1.5 * min(fits) + 1.0 if fits else math.inf
    limit_m = max(gps_limit_m, relative_m) if fits else math.inf
    for t in trials:
        if t.rec is None:
            continue
        if t.intrinsics.verdict == "implausible":
            t.rejected = "implausible intrinsics: " + "; ".join(t.intrinsics.notes)
        elif math.isfinite(t.gps_rmse_m) and t.gps_rmse_m > limit_m:
            t.rejected = (
                f"camera centres {t.gps_rmse_m:.2f} m from GPS after a similarity "
                f"(> {limit_m:.2f} m: a bent or wrong model)"
            )


def _rank(t: Trial) -> tuple[int, float, int]:
    gps = -t.gps_rmse_m if math.isfinite(t.gps_rmse_m) else 0.0
    return (t.registered, gps, t.points)


def choose(trials: list[Trial], n_images: int) -> tuple[Trial, str, list[str]]:
    """The kept trial, the reason (a sentence) and warnings."""
    built = [t for t in trials if t.rec is not None]
    if not built:
        raise SfmError(
            "no model could be built: too few matches between the images "
            "(check overlap, or try --pairing exhaustive)"
        )
    eligible = [t for t in built if not t.rejected]
    warnings: list[str] = []
    if eligible:
        best = max(eligible, key=_rank)
    else:
        best = max(built, key=_rank)
        warnings.append(
            f"no mapper gave a model that passes the checks; kept {best.mapper} ({best.rejected})"
        )
    evidence = [f"{best.registered}/{n_images} images registered"]
    if math.isfinite(best.gps_rmse_m):
        evidence.append(f"camera centres {best.gps_rmse_m:.2f} m RMSE from GPS")
    evidence.append(f"intrinsics {best.intrinsics.verdict}")
    others = []
    for t in trials:
        if t is best:
            continue
        if t.rec is None:
            others.append(f"{t.mapper}: no model")
            continue
        text = f"{t.mapper} {t.registered}/{n_images}"
        if math.isfinite(t.gps_rmse_m):
            text += f", {t.gps_rmse_m:.2f} m"
        others.append(text + (f", not eligible: {t.rejected}" if t.rejected else ""))
    reason = f"{best.mapper} kept: " + ", ".join(evidence)
    reason += f" (against {'; '.join(others)})." if others else " (the only mapper run)."
    if best.intrinsics.verdict == "doubtful":
        warnings.append(
            f"the kept model's intrinsics are doubtful: {'; '.join(best.intrinsics.notes)}"
        )
    return best, reason, warnings


def initial_pair(database: Path, registered: set[str]) -> tuple[int, int] | None:
    """The verified pair with the most inliers that has an image ``registered`` lacks:
    where a relaxed mapper should start to reach the images the others left out."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    names = {img.image_id: img.name for img in db.read_all_images()}
    pair_ids, counts = db.read_two_view_geometry_num_inliers()
    db.close()
    best: tuple[int, tuple[int, int]] | None = None
    for pair_id, count in zip(pair_ids, counts, strict=True):
        a, b = pycolmap.pair_id_to_image_pair(pair_id)
        if names.get(a) in registered and names.get(b) in registered:
            continue
        if best is None or count > best[0]:
            best = (int(count), (int(a), int(b)))
    return best[1] if best else None


def run_mapping(
    conf: SfmConfig,
    images: WorkingImages,
    database: Path,
    work_dir: Path,
    gps_std_m: float,
) -> Path:
    """The kept model in ``work/sparse`` with ``mapper.json`` beside it (see the module)."""
    out = work_dir / "sparse"
    if (out / "images.bin").exists():
        return out
    sparse.quiet_colmap()
    n = len(images.records)
    priors = database_focal_priors(database)
    first = "global" if conf.mapper == "global" else "incremental"
    trials = [
        evaluate(
            first,
            sparse._map(conf, first, images, database, work_dir / f"mapper_{first}"),
            images,
            priors,
        )
    ]

    def low(trial: Trial) -> bool:
        return trial.registered < max(conf.min_registered_share * n, 3)

    def relaxed() -> None:
        done = max(trials, key=lambda t: t.registered)
        names = {i.name for i in done.rec.images.values() if i.has_pose} if done.rec else set()
        pair = initial_pair(database, names)
        rec = sparse._map(conf, RELAXED, images, database, work_dir / "mapper_relaxed", pair)
        if rec is None and pair is not None:  # that pair starts nothing: COLMAP's own choice
            rec = sparse._map(conf, RELAXED, images, database, work_dir / "mapper_relaxed2")
        trials.append(evaluate(RELAXED, rec, images, priors))

    def global_() -> None:
        other = sparse._map(conf, "global", images, database, work_dir / "mapper_global")
        trials.append(evaluate("global", other, images, priors))

    # GLOMAP can bend a near-planar block (colmap/glomap#138): with GPS the fit shows it;
    # without, a global model is the last resort, where no incremental model holds 3
    # images (Seneca line without GPS: the global model registered 6/6 against 4/6, the
    # 4 shared cameras agreeing to 0.5 %, but put the cameras 3-6 m RMSE off the GPS
    # run's, GCP check points 0.20-0.22 m against < 0.2 m)
    checkable = len(images.local_xyz) >= 3
    if conf.mapper == "auto" and checkable:
        if trials[0].registered < n:
            global_()
        if all(low(t) for t in trials):
            relaxed()
    elif conf.mapper == "auto":
        if low(trials[0]):
            relaxed()
        if all(t.registered < 3 for t in trials):
            global_()
    elif conf.mapper == "incremental" and low(trials[0]):
        relaxed()
    judge(trials, conf.gps_max_sigmas * gps_std_m)
    best, reason, warnings = choose(trials, n)
    doc = {
        "chosen": best.mapper,
        "reason": reason,
        "trials": {t.mapper: t.to_dict(n) for t in trials},
        "warnings": warnings,
    }
    with atomic_path(out) as tmp:
        tmp.mkdir()
        best.rec.write(str(tmp))
        (tmp / "mapper.json").write_text(json.dumps(doc, indent=1))
    return out


def load_choice(sparse_dir: Path) -> dict[str, Any]:
    """``mapper.json`` of a run (an older run without one: an empty choice)."""
    path = sparse_dir / "mapper.json"
    doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return doc
