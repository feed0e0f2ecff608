"""The whole run: stages chained, each skipping work already on disk, timed, reported.

    run_pipeline(Path("flight/"), Path("out/"), make_config("default"), gcp_path=None)

Work files live in ``OUT/work``; products in ``OUT``. An interrupted run resumes from the
last finished stage; the effective config is saved as ``OUT/config.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from mapping.products import is_complete
from mapping.sfm import (
    block,
    cloudmesh,
    dense,
    georef,
    outputs,
    rasters,
    report,
    sanity,
    select,
    sparse,
)
from mapping.sfm.config import SfmConfig
from mapping.sfm.errors import SfmError
from mapping.sfm.gcp import GcpFile, read_gcp_file
from mapping.sfm.inputs import Inputs, is_bag, load_inputs
from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.errors import SmartmineError
from smartmine.paths import check_output_path

T = TypeVar("T")
F64 = npt.NDArray[np.float64]

STAGES = (
    "inputs",
    "images",
    "features",
    "pairs",
    "matches",
    "mapping",
    "georeferencing",
    "sparse_products",
    "dense",
    "rasters",
    "mesh",
    "report",
)


@dataclass
class Run:
    out_dir: Path
    timings: dict[str, float] = field(default_factory=dict)
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr)

    @property
    def work(self) -> Path:
        return self.out_dir / "work"

    def stage(self, name: str, fn: Callable[[], T]) -> T:
        """Run one stage, timing it and saying so; a resumed stage keeps its old time."""
        index = STAGES.index(name) + 1
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        if elapsed > 0.05 or name not in self.timings:
            self.timings[name] = elapsed
        self.log(f"sfm [{index}/{len(STAGES)}] {name}: {elapsed:.1f} s")
        write_text_atomic(self.work / "timings.json", json.dumps(self.timings, indent=1))
        return result


def _load_timings(work: Path) -> dict[str, float]:
    path = work / "timings.json"
    if path.exists():
        loaded: dict[str, float] = json.loads(path.read_text())
        return loaded
    return {}


def ground_sampling_m(rec: Any) -> float:
    """Median ground sampling distance of the working images (depth / focal)."""
    values = []
    for image in rec.images.values():
        depth = dense.median_point_depth(rec, image, 300) if image.has_pose else None
        if depth is not None:
            values.append(depth / float(image.camera.mean_focal_length()))
    return float(np.median(values)) if values else float("nan")


def run_pipeline(
    input_path: Path,
    out_dir: Path,
    conf: SfmConfig,
    *,
    gcp_path: Path | None = None,
    calibration_path: Path | None = None,
    calibration_camera: str | None = None,
    log: Callable[[str], None] | None = None,
    inputs: Inputs | None = None,
    **bag_options: Any,
) -> Path:
    """Everything from images to report; returns the report.json path."""
    # every input that can be checked is checked before anything is written: the
    # calibration, the CRS, the image folder and the GCP file
    calibration = (
        _load_calibration(calibration_path, calibration_camera) if calibration_path else None
    )
    sparse.choose_epsg(conf.crs, Inputs(kind="none", images=[]))
    if inputs is None and not is_bag(input_path):
        inputs = load_inputs(input_path, out_dir / "work")  # a folder: reads headers only
    gcps: GcpFile | None = None
    if gcp_path is not None and inputs is not None:
        gcps = read_gcp_file(gcp_path, {r.name for r in inputs.images})
    check_output_path(out_dir, "--out")
    with _undo_on_error(out_dir):
        return _run_stages(
            input_path,
            out_dir,
            conf,
            calibration,
            inputs,
            gcps,
            gcp_path,
            log,
            bag_options,
        )


@contextlib.contextmanager
def _undo_on_error(out_dir: Path) -> Iterator[None]:
    """On an error, leave ``out_dir`` as it was: remove it (and the parents made for it)
    when this run created it, else the top-level entries this run added; a resumed run's
    earlier stages stay. A rejected model keeps its FAILED report; an interrupt keeps
    everything for the next run to resume."""
    absolute = out_dir.absolute()
    created = [p for p in [absolute, *absolute.parents] if not p.exists()]
    before = {p.name for p in out_dir.iterdir()} if out_dir.is_dir() else set()
    try:
        yield
    except sanity.ModelRejectedError:
        raise
    except Exception:
        if created:
            shutil.rmtree(created[-1], ignore_errors=True)
        elif out_dir.is_dir():
            for entry in out_dir.iterdir():
                if entry.name not in before:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
        raise


def _run_stages(
    input_path: Path,
    out_dir: Path,
    conf: SfmConfig,
    calibration: Any,
    inputs: Inputs | None,
    gcps: GcpFile | None,
    gcp_path: Path | None,
    log: Callable[[str], None] | None,
    bag_options: dict[str, Any],
) -> Path:
    import pycolmap

    out_dir.mkdir(parents=True, exist_ok=True)
    run = Run(out_dir)
    if log is not None:
        run.log = log
    run.work.mkdir(parents=True, exist_ok=True)
    run.timings = _load_timings(run.work)

    given = inputs
    inputs = run.stage(
        "inputs",
        lambda: given if given is not None else load_inputs(input_path, run.work, **bag_options),
    )
    if calibration is None and inputs.calibration is not None:
        calibration = inputs.calibration  # the bag's CameraInfo
    if calibration is not None:  # a calibration fixes the intrinsics
        conf = dataclasses.replace(conf, refine_intrinsics=False)
    _check_same_settings(out_dir / "config.json", conf)
    write_text_atomic(out_dir / "config.json", json.dumps(conf.to_dict(), indent=1))
    if gcp_path is not None and gcps is None:  # a bag: its image names are known now
        gcps = read_gcp_file(gcp_path, {r.name for r in inputs.images})
    epsg = sparse.choose_epsg(conf.crs, inputs, gcps.suggested_epsg() if gcps else None)
    images_json = run.stage("images", lambda: sparse.run_images(conf, inputs, epsg, run.work))
    images = sparse.WorkingImages.load(images_json)
    database = run.stage(
        "features", lambda: sparse.run_features(conf, images, run.work, calibration)
    )
    pairs = run.stage("pairs", lambda: sparse.run_pairs(conf, images, run.work, database))
    run.stage("matches", lambda: sparse.run_matches(conf, database, pairs, run.work))
    gps_std_m = sanity.stated_gps_std_m(images.records, conf)
    sparse_dir = run.stage(
        "mapping", lambda: select.run_mapping(conf, images, database, run.work, gps_std_m)
    )
    choice = select.load_choice(sparse_dir)
    georef_dir = run.stage(
        "georeferencing",
        lambda: georef.run_georef(conf, images, sparse_dir, run.work, gcps),
    )
    info = georef.load_georef(georef_dir)
    frame_info = product_frame(info)
    epsg, origin = frame_info.epsg, np.asarray(frame_info.origin_m, dtype=float)
    rec = pycolmap.Reconstruction(str(georef_dir))
    verdict = sanity.check_model(rec, conf, info, gps_std_m)
    if not verdict.ok:
        verdict.numbers["reprojection_image_long_side_px"] = working_long_side_px(images)
        _reject_model(out_dir, input_path, inputs, conf, verdict, run.timings, choice)
    warnings = run_warnings(conf, images, rec, info, choice, gcps)
    gsd_m = ground_sampling_m(rec)
    frame = outputs.frame_of(epsg, origin)
    kind = block.classify(rec, georeferenced=info["mode"] != "local")
    want_rasters, raster_line = raster_decision(conf.rasters, kind)
    if kind.warning:
        warnings.append(kind.warning)
    notes = list(images.notes)
    if want_rasters:
        notes.append(raster_line)
    else:
        (warnings if conf.rasters == "always" else notes).append(raster_line)
    products: dict[str, str] = {}

    def sparse_products() -> None:
        pts = np.array([p.xyz for p in rec.points3D.values()]).reshape(-1, 3)
        rgb = np.array([p.color for p in rec.points3D.values()], dtype=np.uint8).reshape(-1, 3)
        if not is_complete(out_dir / "sparse.laz"):
            outputs.write_laz(out_dir / "sparse.laz", pts, rgb, frame)
        if not (out_dir / "cameras.csv").exists():
            outputs.write_cameras_csv(out_dir / "cameras.csv", rec, origin, frame_info.strip(info))
        if not (out_dir / "colmap").exists():
            outputs.write_colmap_model(out_dir / "colmap", rec, origin)

    run.stage("sparse_products", sparse_products)
    products.update(sparse_cloud="sparse.laz", cameras="cameras.csv", colmap_model="colmap")
    dense_gsd = gsd_m * _dense_factor(images, conf)
    voxel_m = 2.0 * dense_gsd if math.isfinite(dense_gsd) else 0.1
    dense_npz = run.work / "dense.npz"

    def dense_stage() -> None:
        if dense_npz.exists():
            return
        if conf.dense:
            result = dense.run_dense(conf, rec, run.work / "images", voxel_m)
            pts, rgb = result.points, result.colours
            n_pairs, n_raw = result.pairs, result.raw_points
            stats = {
                "dense_points_filtered": result.points_filtered,
                "dense_filtered_by_check": result.filtered,
                "dense_pair_points_rejected": result.rejected_in_pairs,
                "warnings": result.warnings,
            }
        else:
            pts, rgb, n_pairs, n_raw = np.zeros((0, 3)), np.zeros((0, 3), np.uint8), 0, 0
            stats = {"dense_points_filtered": 0, "warnings": []}
        if len(pts):
            outputs.write_laz(out_dir / "dense.laz", pts, rgb, frame)
        with atomic_path(dense_npz, overwrite=True) as tmp:  # last: the stage is done
            np.savez(
                tmp, points=pts, colours=rgb, pairs=n_pairs, raw=n_raw, stats=json.dumps(stats)
            )

    run.stage("dense", dense_stage)
    stored = np.load(dense_npz)
    dense_pts, dense_rgb = stored["points"], stored["colours"]
    dense_stats = json.loads(str(stored["stats"])) if "stats" in stored.files else {}
    warnings += [f"dense: {w}" for w in dense_stats.get("warnings", [])]
    if len(dense_pts):
        products["dense_cloud"] = "dense.laz"
    sparse_pts = np.array([p.xyz for p in rec.points3D.values()]).reshape(-1, 3)
    sparse_rgb = np.array([p.color for p in rec.points3D.values()], np.uint8).reshape(-1, 3)
    surface = np.concatenate([dense_pts, sparse_pts]) if len(dense_pts) else sparse_pts
    resolution_m = (
        conf.resolution_cm / 100.0
        if conf.resolution_cm > 0
        else max(2.0 * dense_gsd if math.isfinite(dense_gsd) else 0.1, 0.01)
    )
    relief_m = rasters.scene_relief_m(sparse_pts[:, 2], resolution_m)
    surface, _clipped = rasters.clip_to_sparse(surface, sparse_pts, relief_m)
    grid, grid_warnings = rasters.plan_grid(
        surface[:, :2],
        resolution_m,
        conf.max_raster_cells,
        explicit=conf.resolution_cm > 0 and want_rasters,
    )
    resolution_m = grid.resolution_m  # coarsened when the grid would not fit
    if want_rasters:
        warnings += grid_warnings
    dsm_path, ortho_path = out_dir / "dsm.tif", out_dir / "orthophoto.tif"
    dsm_cache = run.work / "dsm.npy"

    def raster_stage() -> None:
        if not want_rasters:
            return
        if dsm_path.exists() and ortho_path.exists() and dsm_cache.exists():
            return  # (dsm.npy is written last)
        # gaps the dense cloud leaves are bridged from the sparse points up to ~3 of
        # their spacings; wider gaps stay nodata
        area = float(np.prod(np.ptp(surface[:, :2], axis=0))) or 1.0
        spacing_m = math.sqrt(area / max(len(sparse_pts), 1))
        max_gap = math.ceil(max(3.0 * spacing_m, 6 * resolution_m) / resolution_m)
        dsm, dsm_stats = rasters.make_clean_dsm(surface, grid, relief_m, max_gap_cells=max_gap)
        stats = {**dsm_stats.summary(), "warnings": dsm_stats.warnings}
        write_text_atomic(run.work / "dsm_stats.json", json.dumps(stats, indent=1))
        ortho = rasters.make_orthophoto(dsm, grid, rec, run.work / "images")
        dsm_out = np.where(np.isfinite(dsm), dsm + origin[2], rasters.NODATA_DSM)
        rasters.write_cog(
            dsm_path, dsm_out.astype(np.float32), grid, origin, epsg, rasters.NODATA_DSM
        )
        rasters.write_cog(
            ortho_path, np.moveaxis(ortho, 2, 0), grid, origin, epsg, rasters.NODATA_ORTHO
        )
        with atomic_path(run.work / "ortho.npy", overwrite=True) as tmp:
            np.save(tmp, ortho)
        with atomic_path(dsm_cache, overwrite=True) as tmp:  # last: the stage is done
            np.save(tmp, dsm)

    run.stage("rasters", raster_stage)
    dsm: F64 | None = None
    dsm_stats: dict[str, Any] = {}
    if want_rasters:
        products.update(dsm="dsm.tif", orthophoto="orthophoto.tif")
        dsm = np.load(dsm_cache)
        dsm_json = run.work / "dsm_stats.json"
        dsm_stats = json.loads(dsm_json.read_text()) if dsm_json.exists() else {}
        warnings += [f"DSM: {w}" for w in dsm_stats.get("warnings", [])]

    def mesh_stage() -> None:
        if is_complete(out_dir / "mesh.ply") and is_complete(out_dir / "mesh.glb"):
            return
        if dsm is not None:
            vertices, faces, rgb = rasters.dsm_mesh(dsm, np.load(run.work / "ortho.npy"), grid)
        else:  # no DSM: the surface of the cloud itself
            cloud, colours = (
                (dense_pts, dense_rgb)
                if len(dense_pts) >= len(sparse_pts)
                else (sparse_pts, sparse_rgb)
            )
            vertices, faces, rgb = cloudmesh.cloud_mesh(cloud, colours)
        if len(faces):
            outputs.write_meshes(
                out_dir / "mesh.ply", out_dir / "mesh.glb", vertices, faces, rgb, frame
            )

    run.stage("mesh", mesh_stage)
    if (out_dir / "mesh.ply").exists():
        products.update(mesh_ply="mesh.ply", mesh_glb="mesh.glb")
    else:
        notes.append(
            f"no mesh: too few points for a surface ({max(len(dense_pts), len(sparse_pts))})"
        )

    def report_stage() -> Path:
        registered = {i.name for i in rec.images.values() if i.has_pose}
        unregistered = {
            r.name: "not registered (too few matches)"
            for r in images.records
            if r.name not in registered
        }
        if info["mode"] == "local":
            notes.append(local_note(images, gcps))
        long_side_px = working_long_side_px(images)
        scale = float(np.median(list(images.scale.values())))
        reprojection_px = float(rec.compute_mean_reprojection_error())
        summary: dict[str, Any] = {
            "status": "WARNINGS" if warnings else "OK",
            "warnings": warnings,
            "input": str(input_path),
            "input_kind": inputs.kind,
            "images_input": len(inputs.images) + len(inputs.failed),
            "images_registered": len(registered),
            "images_unregistered": len(unregistered),
            "images_failed": len(images.failed),
            "crs": frame_info.label,
            "georeferencing": info["mode"],
            "block_type": kind.kind,
            "pairing": sparse.pairing_mode(pairs),
            "mapper": conf.mapper,
            "mapper_chosen": choice.get("chosen"),
            "mapper_reason": choice.get("reason"),
            "reprojection_error_px": reprojection_px,
            "reprojection_image_long_side_px": long_side_px,
            "reprojection_error_original_px": reprojection_px / scale,
            "mean_track_length": float(rec.compute_mean_track_length()),
            "sparse_points": int(rec.num_points3D()),
            "dense_points": len(dense_pts),
            "gsd_working_m": gsd_m,
            "gsd_original_m": gsd_m * scale,
            **frame_info.figures(info.get("summary", {})),
            "median_triangulation_deg": verdict.numbers["median_triangulation_deg"],
            "mean_points_per_image": verdict.numbers["mean_points_per_image"],
            "min_points_per_image": verdict.numbers["min_points_per_image"],
        }
        summary["dense_points_filtered"] = dense_stats.get("dense_points_filtered", 0)
        if dsm is not None:
            summary.update({k: v for k, v in dsm_stats.items() if k != "warnings"})
            summary["dsm_resolution_m"] = resolution_m
            summary["coverage_m2"] = float(np.isfinite(dsm).sum() * resolution_m**2)
        cells = []
        for image in rec.images.values():
            if image.has_pose:
                c = np.asarray(image.projection_center())
                row, col = grid.cell_of(c[None, :2])
                cells.append((float(row[0]), float(col[0])))
        timings = {k: v for k, v in run.timings.items() if k != "report"}
        timings["total"] = sum(timings.values())
        doc = {
            "warnings": warnings,
            "summary": summary,
            "timings_s": timings,
            "products": products,
            "origin_m": origin.tolist(),
            "images_failed": {**images.failed, **unregistered},
            "georeferencing": frame_info.strip(info),
            "mapping": {**choice, "block": kind.to_dict()},
            "notes": notes,
            "config": conf.to_dict(),
        }
        summary["time_total_s"] = timings["total"]
        plot = report.dsm_plot_png(dsm, cells) if dsm is not None else None
        return report.write_sfm_report(out_dir, doc, plot)

    return run.stage("report", report_stage)


@dataclass
class GeorefFrame:
    """The one source of the products' CRS, origin and label: georef.json's ``mode`` and
    ``epsg``. A local model carries no EPSG and no UTM offset (issue 19: a 2-image model
    was written as EPSG:32633 with a UTM offset while the report said local), and its GPS
    figures are dropped (GPS in another frame than the model: no residual to speak of)."""

    epsg: int | None
    origin_m: list[float]
    local: bool

    @property
    def label(self) -> str:
        return "local (none)" if self.local or not self.epsg else f"EPSG:{self.epsg}"

    def figures(self, summary: dict[str, Any]) -> dict[str, Any]:
        if not self.local:
            return summary
        return {k: v for k, v in summary.items() if not k.startswith("gps_")}

    def strip(self, info: dict[str, Any]) -> dict[str, Any]:
        if not self.local:
            return info
        cameras = {
            name: {k: v for k, v in c.items() if k != "gps_residual_m"}
            for name, c in info.get("cameras", {}).items()
        }
        kept = {k: v for k, v in info.items() if k not in ("epsg", "origin_m", "summary")}
        return {
            **kept,
            "epsg": None,
            "cameras": cameras,
            "summary": self.figures(info.get("summary", {})),
        }


def product_frame(info: dict[str, Any]) -> GeorefFrame:
    local = info.get("mode", "local") == "local"
    if local:
        return GeorefFrame(None, [0.0, 0.0, 0.0], True)
    origin = [float(v) for v in (info.get("origin_m") or [0.0, 0.0, 0.0])]
    return GeorefFrame(info.get("epsg"), origin, False)


def run_warnings(
    conf: SfmConfig,
    images: sparse.WorkingImages,
    rec: Any,
    info: dict[str, Any],
    choice: dict[str, Any],
    gcps: GcpFile | None,
) -> list[str]:
    """What a user must know about a model that passed the sanity checks: too few images
    registered, a georeferencing mode given but not reached, the mapper's and the
    georeferencing's own warnings."""
    found = list(choice.get("warnings", []))
    n = len(images.records)
    registered = {i.name for i in rec.images.values() if i.has_pose}
    if len(registered) < conf.min_registered_share * n:
        found.append(
            f"{len(registered)} of {n} images registered "
            f"(< {100 * conf.min_registered_share:.0f} %, min_registered_share): "
            "the products cover part of the scene"
        )
    mode = str(info.get("mode", "local"))
    with_gps = [nm for nm in images.local_xyz if nm in registered]
    if images.local_xyz and "gps" not in mode:
        found.append(
            f"GPS not used: {len(images.local_xyz)} images have GPS, {len(with_gps)} of "
            "them registered (3 needed to georeference): the model is in a local frame"
        )
    if gcps is not None and "gcp" not in mode:
        found.append(
            f"GCPs not used: {len(gcps.gcps)} GCPs given, fewer than 3 triangulated in "
            f"registered images ({info.get('gcp_note') or info.get('gcp_skipped') or 'none seen'})"
        )
    if mode == "local" and not images.local_xyz and gcps is None:
        found.append(
            "not georeferenced: no GPS and no GCPs, the model has an arbitrary scale, "
            "position and orientation"
        )
    found += [f"georeferencing: {w}" for w in info.get("warnings", [])]
    return found


def local_note(images: sparse.WorkingImages, gcps: GcpFile | None) -> str:
    why = []
    why.append(
        f"{len(images.local_xyz)} images have GPS but fewer than 3 registered ones"
        if images.local_xyz
        else "no GPS"
    )
    why.append("GCPs given but fewer than 3 used" if gcps is not None else "no GCPs")
    return (
        f"LOCAL FRAME ({', '.join(why)}): the model has an arbitrary scale, position and "
        "orientation; no product carries a CRS."
    )


def raster_decision(setting: str, kind: block.Block) -> tuple[bool, str]:
    """(make DSM + orthophoto?, the line that says why) for ``rasters`` and the block."""
    if setting == "never":
        return False, "no DSM/orthophoto (rasters: never)"
    if kind.kind == block.NADIR:
        return True, f"nadir block ({kind.reason}): DSM and orthophoto"
    if setting == "always" and kind.kind == block.OBLIQUE:
        return True, f"{kind.kind} block ({kind.reason}): DSM and orthophoto as asked"
    if setting == "always":
        return False, (
            f"rasters refused: a {kind.kind} block ({kind.reason}) cannot make a DSM or "
            "orthophoto (cameras below the scene see no top surface); cloud and mesh only"
        )
    return False, (
        f"{kind.kind} block ({kind.reason}): cloud and mesh, no DSM/orthophoto "
        "(--rasters always to ask for them)"
    )


def working_long_side_px(images: sparse.WorkingImages) -> int:
    """The long side of the working images (the scale of every reprojection figure)."""
    return int(
        np.median([round(max(r.width, r.height) * images.scale[r.name]) for r in images.records])
    )


def _reject_model(
    out_dir: Path,
    input_path: Path,
    inputs: Inputs,
    conf: SfmConfig,
    verdict: sanity.Verdict,
    timings: dict[str, float],
    choice: dict[str, Any],
) -> None:
    """Write the FAILED report (the numbers first, no products) and raise."""
    summary: dict[str, Any] = {
        "status": verdict.status,
        **verdict.numbers,
        "mapper_chosen": choice.get("chosen"),
        "mapper_reason": choice.get("reason"),
        "images_input": len(inputs.images) + len(inputs.failed),
        "input": str(input_path),
    }
    path = report.write_failed_report(
        out_dir,
        summary,
        [
            "FAILED: the model does not pass the minimum sanity checks (mapping/sfm/sanity.py); "
            "no product was written. Images need more overlap (60-80 % along a line) or "
            "texture; try --pairing exhaustive.",
        ],
        conf.to_dict(),
        timings,
        verdict.failures,
    )
    numbers = ", ".join(f"{k} {v}" for k, v in verdict.numbers.items())
    raise sanity.ModelRejectedError(
        f"{input_path}: the model is degenerate, {verdict.status} ({numbers}); report: {path}"
    )


def _check_same_settings(path: Path, conf: SfmConfig) -> None:
    """Resuming with other settings would mix stages made under different ones."""
    if not path.exists():
        return
    try:
        before = json.loads(path.read_text())
    except ValueError:
        return
    changed = sorted(k for k, v in conf.to_dict().items() if k in before and before[k] != v)
    if changed:
        raise SfmError(
            f"{path.parent} holds a run made with other settings ({', '.join(changed)}); "
            "give a new --out or delete that folder"
        )


def _dense_factor(images: sparse.WorkingImages, conf: SfmConfig) -> float:
    long_side = max(max(r.width, r.height) * images.scale[r.name] for r in images.records)
    return max(1.0, long_side / conf.dense_max_px) if conf.dense else 1.0


def _load_calibration(path: Path, camera: str | None = None) -> Any:
    """The intrinsics (CameraIntrinsics) of ``--calibration``: a calibration.yaml of
    ``smartmine calibrate`` (camera ``camera``, default the only/first one) or a ROS
    camera_info YAML, read by calibration.camera_model's one reader."""
    from calibration.camera_model import load_camera_model

    try:
        model = load_camera_model(path, camera)
    except SmartmineError as err:
        raise SfmError(str(err)) from None
    if model.is_fisheye:  # the COLMAP camera below is OPENCV (k1, k2, p1, p2)
        raise SfmError(
            f"{path}: an equidistant (fisheye) calibration; sfm takes plumb_bob or "
            "rational_polynomial cameras"
        )
    return model.intrinsics


__all__ = ["STAGES", "GcpFile", "run_pipeline"]
