"""The stages of a reprocess, each the library its own command calls (never a subprocess),
each in its own folder of RUN_DIR, each skipped when its folder is complete:

- ``sfm``: :func:`mapping.sfm.pipeline.run_pipeline` (bag or image folder; resumes itself);
- ``slam``: :func:`mapping.slam.pipeline.run` over a :class:`BagSource` (written
  atomically: the folder exists only when complete), tied to ``markers`` when given;
- ``hsi``: :func:`hyperspectral.ortho_run.run` onto the SfM DSM (or a given DEM);
- ``drape``: :mod:`twin.drape` over the cloud and mesh.

Each returns a :class:`StageResult`: status, products (role -> path in RUN_DIR), the
accuracy figures the stage's own report measured (gathered, never recomputed), warnings.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartmine.errors import SmartmineError
from twin.inputs import BagContents

Log = Callable[[str], None]

DRAPE_WARN_FRACTION = 0.1
"""More than this share of the model outside the maps or unseen is a warning (the counts
are always in the report): the hyperspectral flight missed part of the model."""
SFM_ACCURACY_KEYS = (
    "images_input",
    "images_registered",
    "reprojection_error_px",
    "gsd_original_m",
    "dsm_resolution_m",
    "gps_rmse_horizontal_m",
    "gps_rmse_vertical_m",
    "gps_max_horizontal_m",
    "gcp_rmse_horizontal_m",
    "gcp_rmse_vertical_m",
    "gcp_check_rmse_horizontal_m",
    "gcp_check_rmse_vertical_m",
    "checkpoint_rmse_horizontal_m",
    "checkpoint_rmse_vertical_m",
    "gcp_all_rmse_horizontal_m",
    "gcp_all_rmse_vertical_m",
)
SLAM_ACCURACY_KEYS = (
    "frames",
    "tracked_frames",
    "path_length_m",
    "ate_rmse_m",
    "rpe_trans_rmse_m",
    "rpe_rot_rmse_deg",
    "marker_fit_rmse_m",
)


@dataclass
class StageResult:
    """What one stage left in RUN_DIR."""

    name: str
    status: str = "ok"
    """ok | failed"""
    reused: bool = False
    """Done by an earlier (interrupted) run of the same RUN_DIR: skipped this time."""
    folder: str = ""
    seconds: float = 0.0
    products: dict[str, str] = field(default_factory=dict)
    accuracy: dict[str, float | int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    report: str = ""
    """The stage's own report.json, relative to RUN_DIR (when it writes one)."""

    def manifest(self) -> dict[str, Any]:
        """The stage's entry in run.json ``stages``."""
        entry: dict[str, Any] = {"status": self.status, "folder": self.folder}
        if self.report:
            entry["report"] = self.report
        entry["seconds"] = round(self.seconds, 3)
        if self.reused:
            entry["reused"] = True
        return entry


def read_report(folder: Path) -> dict[str, Any]:
    """A stage's report.json (the numbers it measured)."""
    doc: dict[str, Any] = json.loads((folder / "report.json").read_text())
    return doc


def _numbers(summary: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float | int]:
    """The finite numbers among ``keys`` (a stage reports only what it could measure)."""
    out: dict[str, float | int] = {}
    for key in keys:
        value = summary.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out[key] = value
    return out


def _product(run_dir: Path, folder: str, name: str) -> str | None:
    return f"{folder}/{name}" if (run_dir / folder / name).is_file() else None


def _timed(result: StageResult, started: float) -> StageResult:
    result.seconds = time.perf_counter() - started
    return result


# -- SfM ----------------------------------------------------------------------------------
def sfm_done(folder: Path) -> bool:
    """A finished SfM folder: its report is written last (and a rejected model's too)."""
    return (folder / "report.json").is_file()


def run_sfm(
    source: Path, run_dir: Path, sfm_conf: Any, log: Log, bag_options: dict[str, Any]
) -> StageResult:
    """SfM on a bag or image folder into RUN_DIR/sfm (skipped when done)."""
    from mapping.sfm.pipeline import run_pipeline

    folder = run_dir / "sfm"
    result = StageResult("sfm", folder="sfm", report="sfm/report.json")
    started = time.perf_counter()
    if sfm_done(folder):
        result.reused = True
    else:
        gcp = _gcp_list(source)
        try:
            run_pipeline(source, folder, sfm_conf, gcp_path=gcp, log=log, **bag_options)
        except SmartmineError as err:
            result.status, result.failed = "failed", [f"sfm: {err}"]
            return _timed(result, started)
    report = read_report(folder)
    status = str(report["summary"].get("status", "OK"))
    if report.get("failed") or status not in ("OK", "WARNINGS"):
        result.status = "failed"
        result.failed = [f"sfm: {line}" for line in report.get("failed") or report["notes"][:1]]
        return _timed(result, started)
    summary = report["summary"]
    result.accuracy = _numbers(summary, SFM_ACCURACY_KEYS)
    result.details = {
        "crs": summary.get("crs"),
        "georeferencing": summary.get("georeferencing"),
        "notes": report.get("notes", []),
    }
    # the sfm run's own warnings (images left out, a mode that did not happen, rasters
    # refused, not georeferenced...) are the stage's
    result.warnings += [f"sfm: {w}" for w in summary.get("warnings", [])]
    if summary.get("georeferencing") == "local" and "warnings" not in summary:
        result.warnings.append(
            "sfm: the model is not georeferenced (no GPS and no GCPs): local frame"
        )
    cloud = _product(run_dir, "sfm", "dense.laz") or _product(run_dir, "sfm", "sparse.laz")
    for role, path in (
        ("cloud", cloud),
        ("mesh", _product(run_dir, "sfm", "mesh.glb")),
        ("dsm", _product(run_dir, "sfm", "dsm.tif")),
        ("orthophoto", _product(run_dir, "sfm", "orthophoto.tif")),
    ):
        if path:
            result.products[role] = path
    return _timed(result, started)


def _gcp_list(source: Path) -> Path | None:
    """An image folder's ODM ``gcp_list.txt``, used as ``smartmine sfm --gcp`` would."""
    if source.is_dir() and not (source / "metadata.yaml").exists():
        for candidate in (source / "gcp_list.txt", source.parent / "gcp_list.txt"):
            if candidate.is_file():
                return candidate
    return None


# -- SLAM ---------------------------------------------------------------------------------
def slam_done(folder: Path) -> bool:
    """The SLAM folder is renamed into place complete, report included."""
    return (folder / "report.json").is_file()


@dataclass(frozen=True)
class SlamSettings:
    voxel_m: float = 0.04
    stride: int = 1
    max_frames: int | None = None
    markers: Path | None = None
    ground_truth: Path | None = None


def run_slam(bag: BagContents, run_dir: Path, settings: SlamSettings, log: Log) -> StageResult:
    """RGB-D SLAM over the bag into RUN_DIR/slam (skipped when done)."""
    from mapping.slam.fusion import FusionConfig
    from mapping.slam.pipeline import RunOptions, run
    from mapping.slam.sources import BagSource

    folder = run_dir / "slam"
    result = StageResult("slam", folder="slam", report="slam/report.json")
    started = time.perf_counter()
    if slam_done(folder):
        result.reused = True
    else:
        try:
            source = BagSource(
                bag.path,
                bag.colour_topic,
                bag.depth_topic,
                None,
                max_frames=settings.max_frames,
                stride=settings.stride,
            )
            options = RunOptions(
                fusion=FusionConfig(voxel_m=settings.voxel_m),
                markers=settings.markers,
                ground_truth=settings.ground_truth,
            )
            run(source, folder, options)
        except SmartmineError as err:
            result.status, result.failed = "failed", [f"slam: {err}"]
            return _timed(result, started)
    report = read_report(folder)
    summary = report["summary"]
    result.failed = [f"slam: {line}" for line in report.get("failed", [])]
    if result.failed:
        result.status = "failed"
    result.accuracy = _numbers(summary, SLAM_ACCURACY_KEYS)
    fit = report["sections"].get("markers", {}).get("fit") or {}
    loo = list((fit.get("leave_one_out_m") or {}).values())
    if loo:
        result.accuracy["marker_leave_one_out_rmse_m"] = math.sqrt(
            sum(v * v for v in loo) / len(loo)
        )
    result.details = {"frame": summary.get("frame"), "markers": fit, "config": report["config"]}
    if settings.markers is not None and not fit:
        result.warnings.append(
            f"slam: too few markers of {settings.markers} seen to tie the map to the grid"
        )
    for role, name in (
        ("cloud", "map_cloud.laz"),
        ("mesh", "map_mesh.glb"),
        ("trajectory", "trajectory_tum.txt"),
    ):
        if path := _product(run_dir, "slam", name):
            result.products[role] = path
    return _timed(result, started)


# -- hyperspectral ------------------------------------------------------------------------
def hsi_done(folder: Path) -> bool:
    """hsi ortho writes its folder atomically, report included."""
    return (folder / "report.json").is_file()


@dataclass(frozen=True)
class HsiSettings:
    dem: Path
    origin: str = ""
    irradiance: str = ""
    reference: str = ""
    cell_m: float | None = None


def run_hsi(bag: BagContents, run_dir: Path, settings: HsiSettings, log: Log) -> StageResult:
    """Classify and orthorectify the bag's hyperspectral frames onto the DEM, into
    RUN_DIR/hsi, as ``smartmine hsi ortho`` does (skipped when done)."""
    from hyperspectral.ortho_run import OrthoRunConfig, run
    from hyperspectral.pipeline import ClassifyConfig

    folder = run_dir / "hsi"
    result = StageResult("hsi", folder="hsi", report="hsi/report.json")
    started = time.perf_counter()
    if hsi_done(folder):
        result.reused = True
    else:
        config = OrthoRunConfig(
            dem=str(settings.dem),
            classify=ClassifyConfig(irradiance=settings.irradiance),
            origin=settings.origin,
            cell_m=settings.cell_m,
            reference=settings.reference,
        )
        try:
            run(config, bag.path, folder)
        except SmartmineError as err:
            result.status, result.failed = "failed", [f"hsi: {err}"]
            return _timed(result, started)
    report = read_report(folder)
    summary = report["summary"]
    zones = summary.get("reference_zones") or {}
    for name, zone in sorted(zones.items()):
        result.accuracy[f"accuracy_{name}"] = zone["accuracy"]
    if zones:
        cells = sum(z["cells"] for z in zones.values())
        result.accuracy["accuracy_overall"] = round(
            sum(z["correct"] for z in zones.values()) / max(cells, 1), 4
        )
        result.accuracy["reference_cells"] = cells
    result.accuracy["frames_used"] = summary["frames_used"]
    result.accuracy["area_seen_m2"] = summary["area_seen_m2"]
    result.details = {"classes": _classes_table(report), "crs": summary["crs"]}
    if summary["frames_used"] < summary["frames"]:
        result.warnings.append(
            f"hsi: {summary['frames'] - summary['frames_used']} of {summary['frames']} "
            "hyperspectral frames saw none of the surface"
        )
    for role, name in (("class_map", "class_map.tif"), ("heat_map", "heat_map.tif")):
        if path := _product(run_dir, "hsi", name):
            result.products[role] = path
    return _timed(result, started)


def _classes_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The hsi report's ``classes`` table as rows of {label, name, pixels, area_m2}."""
    table = next(t for t in report["tables"] if t["title"] == "classes")
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


# -- drape --------------------------------------------------------------------------------
def drape_done(folder: Path) -> bool:
    return (folder / "drape.json").is_file()


def run_drape(run_dir: Path, products: dict[str, str], epsg: int | None) -> StageResult:
    """The cloud and mesh with the HSI class and heat of the cell under each point,
    into RUN_DIR/drape (skipped when done)."""
    from twin import drape

    folder = run_dir / "drape"
    result = StageResult("drape", folder="drape")
    started = time.perf_counter()
    targets: dict[str, str] = {r: products[r] for r in ("cloud", "mesh") if r in products}
    outputs = {role: f"drape/{role}{Path(path).suffix}" for role, path in targets.items()}
    if drape_done(folder):
        result.reused = True
        summary = json.loads((folder / "drape.json").read_text())
    else:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            maps = drape.Maps.read(run_dir / products["class_map"], run_dir / products["heat_map"])
            summary = {}
            for role, path in targets.items():
                if role == "cloud":
                    count = drape.drape_laz(run_dir / path, maps, run_dir / outputs[role])
                else:
                    count = drape.drape_glb(run_dir / path, maps, run_dir / outputs[role], epsg)
                summary[role] = {"source": path, **count.to_dict()}
        except SmartmineError as err:
            result.status, result.failed = "failed", [f"drape: {err}"]
            return _timed(result, started)
        drape.write_drape_summary(folder, summary)
    result.products = dict(outputs)
    result.details = summary
    for role, counts in summary.items():
        missed = counts["outside_map"] + counts["not_seen"]
        if missed > DRAPE_WARN_FRACTION * max(counts["total"], 1):
            result.warnings.append(
                f"drape: {counts['outside_map']} of {counts['total']} {role} "
                f"{'points' if role == 'cloud' else 'vertices'} outside the class map (class 0, "
                f"heat NaN), {counts['not_seen']} on cells the camera never saw (class 255)"
            )
    return _timed(result, started)
