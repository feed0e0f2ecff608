"""``smartmine reprocess INPUT... --out RUN_DIR``: look at what the input holds, run the
right stages as libraries, drape the hyperspectral maps on the model, and write one
report and the run manifest (hloc style: ``run(conf, inputs, out_dir) -> RUN_DIR``)::

    from twin.reprocess import make_config, run
    run_dir = run(make_config("fast"), [Path("sim/open-pit.mcap")], Path("runs/pit"))

RUN_DIR holds ``config.json`` (written first), one folder per stage (``sfm/``, ``slam/``,
``hsi/``, ``drape/``; a finished folder is skipped on rerun, so an interrupted reprocess
resumes), ``report.json``/``report.html`` and ``run.json`` (written last: a run is
complete iff it exists; docs/notes/issue-18-contract.md).

Beside a bag (or in its folder) reprocess uses what the simulator or a surveyor leaves
there, each named in the report: ``trajectory_tum.txt`` (SLAM ground truth),
``scene.json`` (the WGS84 origin of the bag's local ENU map frame, which the
hyperspectral poses need, and the mine grid's tie to UTM), ``spectra.csv`` (illumination
to divide at-sensor cubes by), ``classes.tif`` (reference zones: HSI accuracy per zone);
in an image folder ``gcp_list.txt`` (ODM ground control).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmine import __version__
from smartmine.atomic import clean_debris, write_text_atomic
from smartmine.errors import GeodesyError, SmartmineError
from smartmine.geodesy import MineGrid
from smartmine.paths import check_output_path
from smartmine.progress import progress
from smartmine.report import Report, Table, to_jsonable, write_report
from twin import manifest, stages
from twin.inputs import Survey, survey
from twin.stages import StageResult

Log = Callable[[str], None]
RESUMABLE_SETTINGS = frozenset({"site"})
"""Settings that change only run.json, not a stage's work: a resume may change them."""


class ReprocessError(SmartmineError):
    """A reprocess that cannot start (settings, RUN_DIR) or whose stages failed."""


@dataclass(frozen=True)
class ReprocessConfig:
    """Everything that changes a reprocess's result (saved as RUN_DIR/config.json)."""

    preset: str = "default"
    site: str | None = None
    """STAC collection id; None = the scene's name (scene.json) or the input's name."""
    markers: Path | None = None
    """Control markers CSV: SLAM tied to them (the mine grid)."""
    markers_crs: str | None = None
    """CRS (``EPSG:32644``) of the markers file's easting/northing columns: with its grid
    columns they tie the grid to the CRS where no scene.json defines the grid."""
    dem: Path | None = None
    """DEM for hyperspectral-only inputs (aerial runs drape on their own SfM DSM)."""
    origin: str = ""
    """WGS84 origin ``LAT,LON,ALT`` (or a scene.json) of the bags' local ENU map frame;
    empty = the scene.json beside the bag."""
    hyperspectral: bool = True
    """Classify and drape the hyperspectral frames when the input has them."""
    sfm_preset: str = "default"
    sfm_dense: bool = True
    sfm_max_image_px: int | None = None
    slam_voxel_m: float = 0.04
    slam_stride: int = 1
    slam_max_frames: int | None = None
    hsi_cell_m: float | None = None
    """Class/heat map cell size; None = the DSM's grid (twice the ground sampling)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()
        }


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"sfm_preset": "fast", "sfm_dense": False},
    "default": {},
}
"""fast: the demo's and the tests' (sparse cloud only, smaller working images)."""


def make_config(preset: str = "default", **overrides: Any) -> ReprocessConfig:
    """A named preset with overrides (None values ignored); unknown names are an error."""
    if preset not in PRESETS:
        raise ReprocessError(f"--preset {preset!r}: not one of {', '.join(PRESETS)}")
    names = {f.name for f in dataclasses.fields(ReprocessConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ReprocessError(f"unknown reprocess setting(s): {', '.join(unknown)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    conf = ReprocessConfig(preset=preset, **{k: v for k, v in values.items() if k != "preset"})
    _check_config(conf)
    return conf


def _check_config(conf: ReprocessConfig) -> None:
    """Settings that cannot give a run, refused before any work, naming the option."""
    if conf.markers is not None and not Path(conf.markers).is_file():
        raise ReprocessError(f"--markers {conf.markers}: no such file")
    if conf.markers_crs is not None and manifest.epsg_of(conf.markers_crs) is None:
        raise ReprocessError(f"--markers-crs {conf.markers_crs!r}: want EPSG:NNNNN")
    if conf.origin:
        from hyperspectral.ortho_run import parse_origin

        parse_origin(conf.origin)  # names --origin when it is no LAT,LON,ALT or scene.json
    if conf.dem is not None and not Path(conf.dem).is_file():
        raise ReprocessError(f"--dem {conf.dem}: no such file")
    if not 0.001 <= conf.slam_voxel_m <= 10.0:
        raise ReprocessError(f"slam_voxel_m {conf.slam_voxel_m}: want 0.001..10 m")
    if conf.slam_stride < 1:
        raise ReprocessError(f"slam_stride {conf.slam_stride}: want 1 or more")


def _sfm_config(conf: ReprocessConfig) -> Any:
    from mapping.sfm.config import make_config as sfm_make_config
    from mapping.sfm.errors import SfmError

    try:
        return sfm_make_config(
            conf.sfm_preset, dense=conf.sfm_dense, max_image_px=conf.sfm_max_image_px
        )
    except SfmError as err:
        raise ReprocessError(f"sfm settings: {err}") from None


# -- RUN_DIR ------------------------------------------------------------------------------
def _effective(conf: ReprocessConfig, sfm_conf: Any, found: Survey) -> dict[str, Any]:
    return {
        "reprocess": conf.to_dict(),
        "sfm": sfm_conf.to_dict(),
        "input_sha256": found.sha256,
    }


def _open_run_dir(out_dir: Path, effective: dict[str, Any]) -> None:
    """A new RUN_DIR, or the same run resumed; anything else is refused before work."""
    check_output_path(out_dir, "--out")
    config = out_dir / "config.json"
    clean_debris(out_dir)  # a killed run's temporaries (e.g. of its first config.json)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not config.is_file():
            raise ReprocessError(f"--out {out_dir}: holds other files (not a reprocess run)")
        try:
            before = json.loads(config.read_text())
        except ValueError:
            before = {}
        if before.get("input_sha256") != effective["input_sha256"]:
            raise ReprocessError(
                f"--out {out_dir}: a run of other input data; give a new --out or delete it"
            )
        changed = sorted(
            k
            for section in ("reprocess", "sfm")
            for k, v in effective[section].items()
            if before.get(section, {}).get(k) != v and k not in RESUMABLE_SETTINGS
        )
        if changed:
            raise ReprocessError(
                f"--out {out_dir}: a run made with other settings ({', '.join(changed)}); "
                "give a new --out or delete it"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(config, json.dumps(effective, indent=2) + "\n")


def _beside(found: Survey, path: Path | None, name: str) -> Path | None:
    """``name`` beside the bag (or in its folder, or in an input folder); for an image
    folder also one level up (ODM's PROJECT/images, the simulator's SIM/images)."""
    places = [] if path is None else [path.parent if path.is_file() else path]
    places += [p if p.is_dir() else p.parent for p in found.paths]
    if found.image_folder is not None:
        places.append(found.image_folder.parent)
    return next((p / name for p in places if (p / name).is_file()), None)


# -- the plan -----------------------------------------------------------------------------
@dataclass
class RunState:
    """What the stages have made so far."""

    run_dir: Path
    found: Survey
    conf: ReprocessConfig
    log: Log
    results: dict[str, StageResult] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def products(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for result in self.results.values():
            if result.status != "failed":
                merged.update(result.products)
        return merged


def _plan(found: Survey, conf: ReprocessConfig) -> list[str]:
    """The stages this input calls for, in order."""
    hsi = conf.hyperspectral and found.hsi_bag is not None
    if found.kind == "hyperspectral" and not conf.hyperspectral:
        raise ReprocessError(
            f"{found.paths[0]}: only hyperspectral data, and --no-hyperspectral given"
        )
    if found.kind == "aerial":
        return ["sfm", *(["hsi", "drape"] if hsi else [])]
    if found.kind == "underground":
        return ["slam"]
    if conf.dem is None:
        bag = found.hsi_bag
        raise ReprocessError(
            f"{bag.path if bag else found.paths[0]}: hyperspectral frames without a flight "
            "to drape them on; give --dem DEM.tif"
        )
    return ["hsi"]


def _stage_sfm(state: RunState, sfm_conf: Any) -> StageResult:
    found = state.found
    bag = found.bag_of("aerial")
    source = found.image_folder if bag is None else bag.path
    assert source is not None
    options = {"image_topic": bag.colour_topic} if bag is not None else {}
    return stages.run_sfm(source, state.run_dir, sfm_conf, state.log, options)


def _stage_slam(state: RunState) -> StageResult:
    bag = state.found.bag_of("underground")
    assert bag is not None
    truth = _beside(state.found, bag.path, "trajectory_tum.txt")
    if truth is not None:
        state.notes.append(f"SLAM ground truth: {truth}")
    settings = stages.SlamSettings(
        voxel_m=state.conf.slam_voxel_m,
        stride=state.conf.slam_stride,
        max_frames=state.conf.slam_max_frames,
        markers=state.conf.markers,
        ground_truth=truth,
    )
    result = stages.run_slam(bag, state.run_dir, settings, state.log)
    if bag.hsi_topic:
        # not a defect of this run: underground HSI mapping does not exist yet (said, not warned)
        state.log(
            f"reprocess: {bag.path}: hyperspectral frames on {bag.hsi_topic} not mapped "
            "(underground runs have no DEM to orthorectify them onto)"
        )
    return result


def _stage_hsi(state: RunState) -> StageResult:
    bag = state.found.hsi_bag
    assert bag is not None
    dem = state.conf.dem or (state.run_dir / state.products["dsm"])
    origin = state.conf.origin or str(_beside(state.found, bag.path, "scene.json") or "")
    if not origin:
        state.notes.append(
            f"{bag.path}: no scene.json and no --origin: hyperspectral poses taken in the DEM's CRS"
        )
    irradiance = _beside(state.found, bag.path, "spectra.csv")
    reference = _beside(state.found, bag.path, "classes.tif")
    for what, path in (("illumination", irradiance), ("HSI reference zones", reference)):
        if path is not None:
            state.notes.append(f"{what}: {path}")
    settings = stages.HsiSettings(
        dem=Path(dem),
        origin=origin,
        irradiance=str(irradiance or ""),
        reference=str(reference or ""),
        cell_m=state.conf.hsi_cell_m,
    )
    return stages.run_hsi(bag, state.run_dir, settings, state.log)


def _run_stage(name: str, state: RunState, sfm_conf: Any) -> StageResult | None:
    """One stage, or None when a stage it needs failed or made nothing to use."""
    products = state.products
    if name == "sfm":
        return _stage_sfm(state, sfm_conf)
    if name == "slam":
        return _stage_slam(state)
    if name == "hsi":
        if state.conf.dem is None and "dsm" not in products:
            return None
        if state.conf.dem is None and manifest.epsg_of(state.results["sfm"].details["crs"]) is None:
            state.notes.append("hsi: not run, the SfM surface is not georeferenced")
            return None
        return _stage_hsi(state)
    if "class_map" not in products or not ({"cloud", "mesh"} & set(products)):
        return None
    epsg = manifest.epsg_of(state.results["sfm"].details.get("crs"))
    return stages.run_drape(state.run_dir, products, epsg)


# -- geography ----------------------------------------------------------------------------
def _mine_grid(state: RunState) -> tuple[MineGrid, str] | None:
    """The mine grid SLAM was tied to, with its tie to a projected CRS: the ``mine_grid``
    of the scene.json beside the bag (the simulator's; a surveyor's grid definition in
    the same form), else fitted to the markers file's own grid and easting/northing
    columns when ``markers_crs`` names the CRS of the latter."""
    slam = state.results.get("slam")
    fit = slam.details.get("markers") if slam else None
    if not fit or manifest.epsg_of(str(fit.get("crs"))) is not None:
        return None
    name = str(fit.get("crs"))
    bag = state.found.bag_of("underground")
    scene = _beside(state.found, bag.path if bag else None, "scene.json")
    if scene is not None:
        try:
            data = json.loads(scene.read_text()).get("mine_grid")
            if data:
                state.notes.append(f"mine grid tie to its CRS: {scene}")
                return MineGrid.from_dict(data), name
        except (ValueError, AttributeError, GeodesyError) as err:
            state.notes.append(f"mine grid: {scene} does not define one ({err})")
    if state.conf.markers is not None and state.conf.markers_crs:
        grid = manifest.grid_from_markers(state.conf.markers, state.conf.markers_crs, name)
        if grid is not None:
            state.notes.append(
                f"mine grid tie fitted to {state.conf.markers}'s grid and "
                f"{state.conf.markers_crs} columns: rms {grid.rms_m:.4f} m, worst "
                f"{grid.max_residual_m:.4f} m"
            )
            return grid.grid, name
    state.notes.append("mine grid: no tie to a CRS (scene.json mine_grid or --markers-crs)")
    return None


def _slam_geography(state: RunState) -> tuple[dict[str, Any], Any]:
    """The SLAM products' CRS (markers in a CRS) or mine grid (markers in a grid tied to
    a CRS), and their WGS84 footprint when either places them on Earth."""
    geo: dict[str, Any] = {"crs": None, "mine_grid": None}
    fit = state.results["slam"].details.get("markers") or {}
    epsg = manifest.epsg_of(str(fit.get("crs", "")))
    xyz = manifest.cloud_points(state.run_dir / state.products["cloud"])
    if epsg is not None:
        geo["crs"] = f"EPSG:{epsg}"
        return geo, manifest.footprint_wgs84(xyz[:, :2], epsg=epsg)
    grid = _mine_grid(state)
    if grid is None:
        return geo, None
    geo["mine_grid"] = manifest.mine_grid_entry(*grid)
    z = float(xyz[:, 2].mean()) if len(xyz) else 0.0
    return geo, manifest.footprint_wgs84(xyz[:, :2], grid=grid[0], z=z)


def _geography(state: RunState) -> dict[str, Any]:
    """crs, mine_grid, bbox_wgs84, footprint_wgs84 of the products."""
    products, run_dir = state.products, state.run_dir
    geo: dict[str, Any] = {"crs": None, "mine_grid": None}
    located = None
    if "sfm" in state.results and "dsm" in products:
        epsg = manifest.epsg_of(state.results["sfm"].details.get("crs"))
        geo["crs"] = f"EPSG:{epsg}" if epsg else None
        xy, _ = manifest.raster_points(run_dir / products["dsm"])
        located = manifest.footprint_wgs84(xy, epsg=epsg)
    elif "slam" in state.results and "cloud" in products:
        geo, located = _slam_geography(state)
    elif "class_map" in products:  # hyperspectral alone, on a given DEM
        xy, epsg = manifest.raster_points(run_dir / products["class_map"])
        geo["crs"] = f"EPSG:{epsg}" if epsg else None
        located = manifest.footprint_wgs84(xy, epsg=epsg)
    if located is not None:
        geo["bbox_wgs84"], geo["footprint_wgs84"] = located
    else:
        geo["bbox_wgs84"], geo["footprint_wgs84"] = None, None
    return geo


# -- report and manifest ------------------------------------------------------------------
def _site(state: RunState) -> str:
    if state.conf.site:
        return manifest.slug(state.conf.site)
    first = state.found.bags[0].path if state.found.bags else state.found.image_folder
    scene = _beside(state.found, first, "scene.json")
    if scene is not None:
        name = json.loads(scene.read_text()).get("scene")
        if name:
            return manifest.slug(str(name))
    assert first is not None
    if first.is_dir() and first.name == "images":  # ODM's PROJECT/images
        first = first.parent
    return manifest.slug(first.stem if first.is_file() else first.name)


def _status(state: RunState, geo: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """ok, warnings or failed, with the lines saying why (a run never fails silently, nor
    passes off an unplaced model as placed)."""
    failed = [line for r in state.results.values() for line in r.failed]
    warnings = [line for r in state.results.values() for line in r.warnings]
    if not failed and state.found.kind != "hyperspectral" and "cloud" not in state.products:
        failed.append("no point cloud was made")
    if not failed and geo["bbox_wgs84"] is None:
        warnings.append(
            "the products are in a local frame: no CRS and no mine grid tied to one "
            "(not placed on Earth)"
        )
    return ("failed" if failed else "warnings" if warnings else "ok"), failed, warnings


def _report(state: RunState, doc: dict[str, Any]) -> Report:
    """The combined report: every stage's figures (from its own report), failed first."""
    rows = [
        [stage, name, value]
        for stage, figures in doc["accuracy"].items()
        for name, value in figures.items()
    ]
    sections = {
        name: {
            "status": r.status + (" (done before, skipped)" if r.reused else ""),
            "folder": r.folder,
            "seconds": round(r.seconds, 1),
            **{f"product {k}": v for k, v in r.products.items()},
        }
        for name, r in state.results.items()
    }
    drape = state.results.get("drape")
    if drape is not None:
        for role, counts in drape.details.items():
            sections["drape"][f"{role} outside the class map"] = (
                f"{counts['outside_map']} of {counts['total']}"
            )
            sections["drape"][f"{role} on cells not seen"] = counts["not_seen"]
    tables = [Table("Accuracy (measured by each stage)", ["stage", "figure", "value"], rows)]
    if doc["classes"]:
        tables.append(
            Table(
                "Classes (hyperspectral class map)",
                ["value", "name", "contamination", "area m2"],
                [[c["value"], c["name"], c["contamination"], c["area_m2"]] for c in doc["classes"]],
            )
        )
    return Report(
        title=f"smartmine reprocess {doc['run_id']}" + (" (FAILED)" if doc["failed"] else ""),
        failed=doc["failed"],
        summary={
            "status": doc["status"],
            "kind": doc["kind"],
            "site": doc["site"],
            "crs": doc["crs"] or ("mine grid" if doc["mine_grid"] else "local (none)"),
            "inputs": ", ".join(doc["input"]["paths"]),
            **{f"warning {i + 1}": w for i, w in enumerate(doc["warnings"])},
        },
        sections=sections,
        tables=tables,
        notes=state.notes,
        config=doc["parameters"],
    )


def _manifest(state: RunState, effective: dict[str, Any]) -> dict[str, Any]:
    geo = _geography(state)
    status, failed, warnings = _status(state, geo)
    found = state.found
    products = {**state.products, "report_html": "report.html", "report_json": "report.json"}
    hsi = state.results.get("hsi")
    classes = []
    if hsi is not None and hsi.status != "failed":
        classes = manifest.classes_entry(
            hsi.details["classes"], state.run_dir / products["class_map"]
        )
    stage_entries = {name: r.manifest() for name, r in state.results.items()}
    if "drape" in state.results:
        stage_entries["drape"]["counts"] = state.results["drape"].details
    return {
        "schema": manifest.SCHEMA,
        "run_id": manifest.run_id(found.start_ns, found.sha256),
        "site": _site(state),
        "kind": found.kind,
        "status": status,
        "failed": failed,
        "warnings": warnings,
        "start_ns": found.start_ns,
        "end_ns": found.end_ns,
        **geo,
        "input": {"paths": [str(p) for p in found.paths], "sha256": found.sha256},
        "software": {"name": "smartmine", "version": __version__},
        "parameters": effective,
        "stages": stage_entries,
        "products": products,
        "classes": classes,
        "accuracy": {n: r.accuracy for n, r in state.results.items() if r.accuracy},
    }


def _same_as_written(run_dir: Path, doc: dict[str, Any]) -> bool:
    """True when run.json and the report exist and say what ``doc`` says, apart from how
    each stage came about this time (its seconds, whether it was reused)."""
    path = run_dir / "run.json"
    if not (path.is_file() and (run_dir / "report.json").is_file()):
        return False
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return False

    def untimed(d: dict[str, Any]) -> dict[str, Any]:
        d = json.loads(json.dumps(to_jsonable(d), allow_nan=False))
        for stage in d.get("stages", {}).values():
            stage.pop("seconds", None)
            stage.pop("reused", None)
        return d

    return isinstance(old, dict) and untimed(old) == untimed(doc)


# -- the run ------------------------------------------------------------------------------
def run(conf: ReprocessConfig, inputs: list[Path], out_dir: Path, log: Log = print) -> Path:
    """Reprocess ``inputs`` into ``out_dir``; returns RUN_DIR. A bad input raises before
    anything is written; a failed stage leaves its report, report.json and run.json
    (status failed) and raises :class:`ReprocessError` with the reason first."""
    _check_config(conf)
    found = survey([Path(p) for p in inputs])
    sfm_conf = _sfm_config(conf)
    plan = _plan(found, conf)
    run_dir = Path(out_dir)
    effective = _effective(conf, sfm_conf, found)
    _open_run_dir(run_dir, effective)
    log(f"reprocess: {found.kind} run, stages {', '.join(plan)} -> {run_dir}")
    state = RunState(run_dir, found, conf, log)
    if conf.markers is not None and found.kind != "underground":
        state.notes.append(f"--markers {conf.markers}: not used (no underground RGB-D run)")
    for name in progress(plan, total=len(plan), desc="reprocess", unit="stage"):
        result = _run_stage(name, state, sfm_conf)
        if result is None:
            state.notes.append(f"{name}: not run (nothing to work on)")
            continue
        state.results[name] = result
        done = "done before, skipped" if result.reused else f"{result.seconds:.1f} s"
        log(f"reprocess: {name} {result.status} ({done})")
        if result.status == "failed":
            break
    doc = _manifest(state, effective)
    if _same_as_written(run_dir, doc):
        # a rerun of a finished run changes nothing: same bytes, so publish stays idempotent
        log("reprocess: every stage done before; run.json and the report kept as they were")
    else:
        write_report(_report(state, doc), run_dir)
        manifest.write_run_json(run_dir, doc)
    if doc["failed"]:
        raise ReprocessError(f"{doc['failed'][0]} (report: {run_dir / 'report.html'})")
    return run_dir
