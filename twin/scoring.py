"""The demo's accuracy table: each stage's figures, against its goal, from the stage's own
report where it measured them, else scored here against the simulator's ground truth.

Works from the stage folders as they lie (``smartmine sfm/slam/hsi ortho --out`` or a
reprocess ``RUN_DIR/sfm``, ``RUN_DIR/slam``, ``RUN_DIR/hsi``) and the simulator's folder
(``scene.json``, ``trajectory_tum.txt``, ``dem.tif``, ``classes.tif``). Every figure says
where it came from (:data:`FROM_REPORT` or :data:`FROM_TRUTH`), so the table can be
checked against the separate commands: a report figure is the number the stage printed;
a truth figure is the number ``benchmarks/sfm_sim.py --score``, ``smartmine traj eval``
or ``smartmine hsi ortho --reference`` print for the same folders (the same functions).

Goals (and where they are set):
- SfM (issue 10, ``mapping.sfm.truth``): camera centres <= 2 GSD horizontal and <= 3 GSD
  vertical RMSE, DSM median |error| <= 2 GSD where the true slope is below 30 deg; every
  image registered.
- SLAM (issue 11, ``benchmarks/slam_sim.py``): ATE <= 2 cm per 100 m of drift, a drift
  shorter than 100 m held to the 2 cm of the 100 m yardstick route (most of a short
  drift's error is the stretch before the first marker, which does not shrink with it);
  marker residuals after the mine-grid fit <= 5 cm each; every frame tracked.
- HSI (issue 12, ``tests/test_hsi_ortho.py``): each acid-mine-drainage zone (contamination
  weight 1: jarosite, schwertmannite) with at least 50 pure cells seen >= 95 % correct; the
  other zones are listed without a goal (granite is a mixture the library does not hold as
  one class; water is dark and noisy: issue 12's notes).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

FROM_REPORT = "report"
"""The figure is the stage's own (its report.json)."""
FROM_TRUTH = "truth"
"""The demo scored it against the simulator's ground truth."""

ATE_GOAL_PER_100M = 0.02
MARKER_GOAL_M = 0.05
ZONE_GOAL = 0.95
ZONE_MIN_CELLS = 50
DSM_MAX_SLOPE_DEG = 30.0

Bound = Literal["<=", ">="]


@dataclass(frozen=True)
class Figure:
    """One row of the table: a measured value against its goal (None: no goal)."""

    stage: str
    name: str
    value: float | None
    """None: it could not be measured (the reason in ``note``): a failure when a goal is set."""
    unit: str
    goal: float | None
    bound: Bound
    source: str
    """:data:`FROM_REPORT` or :data:`FROM_TRUTH`."""
    where: str
    """The file the report figure came from, or the function that scored it."""
    note: str = ""

    @property
    def met(self) -> bool | None:
        """True/False against the goal; None where there is no goal."""
        if self.goal is None:
            return None
        if self.value is None or not math.isfinite(self.value):
            return False
        return self.value <= self.goal if self.bound == "<=" else self.value >= self.goal

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def _report(folder: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return doc


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


# -- SfM ----------------------------------------------------------------------------------
def sfm_figures(sfm_dir: Path, sim_dir: Path, work_dir: Path) -> list[Figure]:
    """Registration from the report; camera centres and DSM against the truth in GSD
    (``mapping.sfm.truth``; the truth cameras from the simulator's trajectory, written
    into ``work_dir``)."""
    from mapping.sfm.truth import score_against_truth, truth_cameras_from_trajectory

    report_json = str(sfm_dir / "report.json")
    summary = _report(sfm_dir)["summary"]
    registered, total = summary.get("images_registered"), summary.get("images_input")
    figures = [
        Figure(
            "sfm", "images registered", _number(registered), "images", _number(total), ">=",
            FROM_REPORT, report_json, f"of {total}; georeferencing {summary.get('georeferencing')}",
        ),
        Figure(
            "sfm", "reprojection error", _number(summary.get("reprojection_error_px")), "px",
            None, "<=", FROM_REPORT, report_json,
        ),
    ]  # fmt: skip
    truth = truth_cameras_from_trajectory(sim_dir, work_dir / "truth_cameras.csv")
    score = score_against_truth(
        sfm_dir,
        truth_cameras=truth,
        reference_dem=sim_dir / "dem.tif",
        max_slope_deg=DSM_MAX_SLOPE_DEG,
    )
    metres = {
        "camera horizontal RMSE": score.camera_rmse_horizontal_m,
        "camera vertical RMSE": score.camera_rmse_vertical_m,
        "DSM median |error| (slope-masked)": score.dsm_median_abs_m,
    }
    where = "mapping.sfm.truth.score_against_truth"
    for name, (value, goal, _) in score.goals().items():
        note = f"{metres[name]:.3f} m; GSD {score.gsd_m:.3f} m"
        if name.startswith("DSM"):
            note += (
                f"; {score.dsm_cells_kept}/{score.dsm_cells} cells below {DSM_MAX_SLOPE_DEG:g} deg"
            )
        else:
            note += f"; {score.cameras_compared} cameras"
        figures.append(Figure("sfm", name, value, "GSD", goal, "<=", FROM_TRUTH, where, note))
    return figures


# -- SLAM ---------------------------------------------------------------------------------
def slam_figures(slam_dir: Path, sim_dir: Path) -> list[Figure]:
    """Tracking, ATE and marker residuals from the SLAM report; ATE scored here (as
    ``smartmine traj eval`` does) when the run had no ground truth to report it."""
    report_json = str(slam_dir / "report.json")
    report = _report(slam_dir)
    summary = report["summary"]
    frames, tracked = summary.get("frames"), summary.get("tracked_frames")
    figures = [
        Figure(
            "slam", "frames tracked", _number(tracked), "frames", _number(frames), ">=",
            FROM_REPORT, report_json, f"of {frames}; {summary.get('frame', '')}",
        )
    ]  # fmt: skip
    figures.append(_ate_figure(slam_dir, sim_dir, summary, report_json))
    figures += _marker_figures(report.get("sections", {}).get("markers"), report_json)
    return figures


def ate_goal_m(path_length_m: float) -> float:
    """2 cm per 100 m, and 2 cm for a drift shorter than the 100 m yardstick."""
    return ATE_GOAL_PER_100M * max(1.0, path_length_m / 100.0)


def _ate_figure(slam_dir: Path, sim_dir: Path, summary: dict[str, Any], where: str) -> Figure:
    ate = _number(summary.get("ate_rmse_m"))
    path_m = _number(summary.get("path_length_m"))
    if ate is not None and path_m is not None:
        return Figure(
            "slam", "ATE RMSE", ate, "m", ate_goal_m(path_m), "<=", FROM_REPORT, where,
            f"path {path_m:.1f} m; SE(3)-aligned to the truth",
        )  # fmt: skip
    from mapping.slam.evaluation import evaluate
    from mapping.slam.trajectory import read_trajectory

    result = evaluate(
        read_trajectory(slam_dir / "trajectory_tum.txt"),
        read_trajectory(sim_dir / "trajectory_tum.txt"),
        alignment="se3",
    )
    return Figure(
        "slam", "ATE RMSE", result.ate_m.rmse, "m", ate_goal_m(result.path_length_m), "<=",
        FROM_TRUTH, "mapping.slam.evaluation.evaluate (smartmine traj eval)",
        f"path {result.path_length_m:.1f} m; {result.pairs} poses, SE(3)-aligned",
    )  # fmt: skip


def _marker_figures(section: dict[str, Any] | None, where: str) -> list[Figure]:
    """Worst residual and RMSE of the mine-grid fit; no fit is a failure, said why."""
    if section is None:
        return [
            Figure(
                "slam", "marker residual, worst", None, "m", MARKER_GOAL_M, "<=", FROM_REPORT,
                where, "no markers section: the run had no markers file",
            )
        ]  # fmt: skip
    fit = section.get("fit")
    seen = section.get("markers_seen", [])
    if not fit:
        return [
            Figure(
                "slam", "marker residual, worst", None, "m", MARKER_GOAL_M, "<=", FROM_REPORT,
                where, f"no mine-grid fit: markers seen {seen} (3 needed)",
            )
        ]  # fmt: skip
    residuals = {str(k): float(v) for k, v in fit.get("residuals_m", {}).items()}
    worst = max(residuals, key=lambda k: residuals[k]) if residuals else None
    used = fit.get("markers_used", [])
    return [
        Figure(
            "slam", "marker residual, worst", residuals.get(worst or "", math.nan), "m",
            MARKER_GOAL_M, "<=", FROM_REPORT, where,
            f"marker {worst}; {len(used)} markers used {used}",
        ),
        Figure(
            "slam", "marker fit RMSE", _number(fit.get("rmse_m")), "m", None, "<=",
            FROM_REPORT, where,
        ),
    ]  # fmt: skip


# -- hyperspectral ------------------------------------------------------------------------
def hsi_figures(hsi_dir: Path, sim_dir: Path) -> list[Figure]:
    """Accuracy per reference zone: the report's (``hsi ortho --reference``) when it has
    them, else the class map read back and scored against the simulator's ``classes.tif``
    with the same function."""
    report_json = str(hsi_dir / "report.json")
    report = _report(hsi_dir)
    summary = report["summary"]
    zones = summary.get("reference_zones")
    source, where = FROM_REPORT, report_json
    if zones is None:
        zones = score_class_map(hsi_dir, sim_dir / "classes.tif")
        source, where = FROM_TRUTH, "hyperspectral.ortho_run.zone_accuracy_of_labels"
    frames, used = summary.get("frames"), summary.get("frames_used")
    figures = [
        Figure(
            "hsi", "frames used", _number(used), "frames", _number(frames), ">=",
            FROM_REPORT, report_json, f"of {frames}",
        )
    ]  # fmt: skip
    for zone, row in sorted(zones.items()):
        figures.append(_zone_figure(zone, row, source, where))
    if not any(f.goal is not None for f in figures[1:]):
        figures.append(
            Figure(
                "hsi", "contamination zones scored", 0.0, "zones", 1.0, ">=", source, where,
                f"no jarosite/schwertmannite zone with >= {ZONE_MIN_CELLS} pure cells seen",
            )
        )  # fmt: skip
    return figures


def _zone_figure(zone: str, row: dict[str, Any], source: str, where: str) -> Figure:
    from hyperspectral.contamination import class_weight

    cells = int(row["cells"])
    contamination = class_weight(zone) >= 1.0  # by the mineral the zone's name names
    goal = ZONE_GOAL if contamination and cells >= ZONE_MIN_CELLS else None
    note = f"{row['correct']}/{cells} pure cells"
    if contamination and goal is None:
        note += f" (under {ZONE_MIN_CELLS}: no goal)"
    elif not contamination:
        note += "; not a contamination zone: no goal"
    value = float(row["accuracy"])
    return Figure("hsi", f"zone {zone}", value, "", goal, ">=", source, where, note)


def score_class_map(hsi_dir: Path, reference: Path) -> dict[str, dict[str, Any]]:
    """Accuracy per reference zone of a finished ``class_map.tif`` (its class names from
    the report's ``classes`` table), exactly as ``hsi ortho --reference`` scores it."""
    import rasterio

    from hyperspectral.ortho import NOT_SEEN, read_dem
    from hyperspectral.ortho_run import OrthoRunConfig, zone_accuracy_of_labels

    table = next(t for t in _report(hsi_dir)["tables"] if t["title"] == "classes")
    names = [str(r[1]) for r in sorted(table["rows"], key=lambda r: int(r[0])) if int(r[0]) > 0]
    with rasterio.open(hsi_dir / "class_map.tif") as src:
        raw = src.read(1)
        nodata = src.nodata
    labels = raw.astype(np.uint16)
    if nodata is not None:
        labels[raw == nodata] = NOT_SEEN
    grid = read_dem(hsi_dir / "class_map.tif")  # only its grid: cell centres and CRS
    margin_m = OrthoRunConfig(dem="").reference_margin_m
    zones, _ = zone_accuracy_of_labels(labels, grid, names, reference, margin_m)
    return zones
