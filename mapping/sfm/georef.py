"""Georeferencing: the model into the projected CRS, by GPS and/or ground control points.

Camera centres are fitted to their GPS positions by RANSAC (outlier fixes do not bend the
model). GCPs are then constraints of a bundle adjustment (mapping.sfm.control): their
pixels are observations, their surveyed positions priors with the stated accuracy
(horizontal and vertical apart; no vertical prior without a usable height). Without GPS a
RANSAC similarity over GCP subsets gives the start. A GCP more than 3 x the threshold off
the adjusted model is left out and named with its residual; check points (CHK names,
``gcp_checkpoints``) are never used and are reported apart; with four or more control GCPs
each is also measured held out of its own adjustment (leave-one-out). The adjustment is
kept only where it does not make the control (or check) points worse than the similarity.
Every RMSE above ``gcp_threshold_m`` and every GCP not used is a line in ``warnings``.
Without GPS or usable GCPs the model stays in its own frame and the report says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.sfm.config import SfmConfig
from mapping.sfm.control import AdjustOptions, ControlPoint, adjust, gsd_original_m
from mapping.sfm.errors import SfmError
from mapping.sfm.gcp import Gcp, GcpFile
from mapping.sfm.sparse import WorkingImages, quiet_colmap
from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.geometry import GeometryError, RansacOptions, Similarity, fit_similarity

F64 = npt.NDArray[np.float64]


def fit_sim3(src: F64, dst: F64, threshold_m: float) -> tuple[Similarity, npt.NDArray[np.bool_]]:
    """Robust similarity dst ~ s R src + t (RANSAC, then least squares on the inliers)."""
    if len(src) < 3:
        raise SfmError(f"a similarity needs 3 points, got {len(src)}")
    try:
        fit = fit_similarity(
            src, dst, ransac=RansacOptions(threshold_m, 2000, seed=0, min_inliers=3)
        )
    except GeometryError:
        # no consensus within the threshold (few points, a weak model): least squares on
        # all of them; the residuals in the report then show how good it is
        try:
            fit = fit_similarity(src, dst)
        except GeometryError as err:
            raise SfmError(f"georeferencing fit failed: {err}") from None
    return fit.transform, np.asarray(fit.inliers, dtype=bool)


def _to_dict(sim: Similarity) -> dict[str, Any]:
    return {
        "scale": float(sim.scale),
        "rotation": np.asarray(sim.rotation).tolist(),
        "translation_m": np.asarray(sim.translation).tolist(),
    }


def transform_reconstruction(reconstruction: Any, sim: Similarity) -> None:
    import pycolmap

    rot = pycolmap.Rotation3d(np.asarray(sim.rotation))
    reconstruction.transform(
        pycolmap.Sim3d(float(sim.scale), rot, np.asarray(sim.translation, dtype=float))
    )


def _rmse(values: F64) -> float:
    return float(math.sqrt(np.mean(values**2))) if len(values) else float("nan")


def triangulate_gcps(
    reconstruction: Any, gcps: GcpFile, images: WorkingImages
) -> tuple[dict[str, F64], dict[str, str]]:
    """Each GCP seen in two or more registered images, triangulated in the model frame."""
    import pycolmap

    by_name = {img.name: img for img in reconstruction.images.values() if img.has_pose}
    points: dict[str, F64] = {}
    skipped: dict[str, str] = {}
    for gcp in gcps.gcps:
        rays, poses = [], []
        for obs in gcp.observations:
            image = by_name.get(obs.image)
            if image is None:
                continue
            s = images.scale[obs.image]
            pixel = np.array([obs.pixel_xy[0] * s, obs.pixel_xy[1] * s])
            ray = image.camera.cam_from_img(pixel)
            if ray is None:
                continue
            rays.append(np.array([ray[0], ray[1], 1.0]))
            poses.append(image.cam_from_world().matrix())
        if len(rays) < 2:
            skipped[gcp.name] = f"seen in {len(rays)} registered image(s); 2 are needed"
            continue
        rays_n = np.array(rays) / np.linalg.norm(rays, axis=1, keepdims=True)
        xyz = pycolmap.triangulate_multi_view_point(poses, rays_n)
        if xyz is None:
            skipped[gcp.name] = "rays do not intersect (too small a baseline)"
            continue
        points[gcp.name] = np.asarray(xyz, dtype=float).ravel()
    return points, skipped


def run_georef(
    conf: SfmConfig,
    images: WorkingImages,
    sparse_dir: Path,
    work_dir: Path,
    gcps: GcpFile | None = None,
) -> Path:
    """``work/georef`` (the model in the local frame = CRS - origin) and ``georef.json``."""
    import pycolmap

    out = work_dir / "georef"
    if (out / "georef.json").exists():
        return out
    quiet_colmap()
    rec = pycolmap.Reconstruction(str(sparse_dir))
    info: dict[str, Any] = {"epsg": images.epsg, "origin_m": images.origin, "warnings": []}
    registered = {img.name: img for img in rec.images.values() if img.has_pose}
    names = [n for n in registered if n in images.local_xyz]
    total = Similarity.identity(3)
    mode = "local"
    if len(names) >= 3:
        centres = np.array([registered[n].projection_center() for n in names])
        gps = np.array([images.local_xyz[n] for n in names])
        threshold = max(3.0 * conf.gps_std_m, 1.0)
        sim, inliers = fit_sim3(centres, gps, threshold)
        transform_reconstruction(rec, sim)
        total = sim
        mode = "gps"
        info["gps_inliers"] = int(inliers.sum())
        info["gps_outliers"] = [n for n, ok in zip(names, inliers, strict=True) if not ok]
    if gcps is not None:
        gcps.mark(conf.gcp_checkpoints, conf.gcp_horizontal_only)
        if not images.local_xyz:  # no GPS: the local origin comes from the GCPs
            _origin_from_gcps(images, gcps, info)
        epsg = images.epsg or gcps.suggested_epsg()
        gcp_local = {k: v - np.array(images.origin) for k, v in gcps.utm(epsg).items()}
        if gcps.skipped:  # observations naming images that are not among the inputs
            info["gcp_file_lines_skipped"] = gcps.skipped
        gps_local = {n: np.asarray(images.local_xyz[n], dtype=float) for n in names}
        rec, sim_gcp, mode = _georef_gcps(rec, conf, images, gcps, gcp_local, gps_local, mode, info)
        total = sim_gcp.compose(total)
    info["mode"] = mode
    if mode == "local":  # never a CRS on a model in its own frame
        info["epsg"] = None
    info["model_to_local"] = _to_dict(total)
    info["cameras"] = _camera_residuals(rec, images)
    info["summary"] = _summary(info)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        rec.write(str(tmp))
        (tmp / "georef.json").write_text(json.dumps(info, indent=1))
    return out


def _origin_from_gcps(images: WorkingImages, gcps: GcpFile, info: dict[str, Any]) -> None:
    """Without GPS the project's CRS and local origin come from the GCPs."""
    epsg = images.epsg or gcps.suggested_epsg()
    images.epsg = epsg
    utm = np.array(list(gcps.utm(epsg).values()))
    heights = utm[:, 2][np.isfinite(utm[:, 2])]
    height = float(np.median(heights)) if len(heights) else 0.0
    images.origin = [round(float(utm[0, 0]), -2), round(float(utm[0, 1]), -2), round(height, -1)]
    info["epsg"], info["origin_m"] = epsg, images.origin


def _error_m(residual: F64, horizontal_only: bool) -> float:
    """Size of a GCP residual: horizontal only where its height is not used."""
    part = residual[:2] if horizontal_only else residual
    return float(np.linalg.norm(part))


def _residuals(
    rec: Any, gcps: GcpFile, images: WorkingImages, gcp_local: dict[str, F64]
) -> dict[str, F64]:
    """Each GCP triangulated from its pixels with the model's cameras, minus its survey."""
    points, _ = triangulate_gcps(rec, gcps, images)
    return {k: v - gcp_local[k] for k, v in points.items() if k in gcp_local}


def _control_points(
    gcps: GcpFile,
    names: list[str],
    images: WorkingImages,
    gcp_local: dict[str, F64],
    conf: SfmConfig,
    model_pts: dict[str, F64],
) -> list[ControlPoint]:
    out = []
    for gcp in gcps.gcps:
        if gcp.name not in names:
            continue
        pixels = {
            o.image: (o.pixel_xy[0] * images.scale[o.image], o.pixel_xy[1] * images.scale[o.image])
            for o in gcp.observations
            if o.image in images.scale
        }
        out.append(
            ControlPoint(
                name=gcp.name,
                surveyed_m=gcp_local[gcp.name],
                std_h_m=conf.gcp_std_horizontal_m,
                std_v_m=conf.gcp_std_vertical_m if gcp.has_height else math.inf,
                pixels=pixels,
                initial_m=model_pts.get(gcp.name),
            )
        )
    return out


def _adjusted(
    rec: Any,
    conf: SfmConfig,
    images: WorkingImages,
    gcps: GcpFile,
    gcp_local: dict[str, F64],
    gps_local: dict[str, F64],
    use: list[str],
) -> tuple[Any, dict[str, Any]]:
    """A copy of ``rec`` adjusted with the GCPs in ``use`` as control (mapping.sfm.control)."""
    import pycolmap

    trial = pycolmap.Reconstruction(rec)
    scale = float(np.median(list(images.scale.values()))) if images.scale else 1.0
    options = AdjustOptions(pixel_std_px=conf.gcp_pixel_std_px * scale, gps_std_m=conf.gps_std_m)
    model_pts, _ = triangulate_gcps(rec, gcps, images)
    control = _control_points(gcps, use, images, gcp_local, conf, model_pts)
    result = adjust(trial, control, gps_local, options)
    return trial, {
        "tie_points": result.tie_points,
        "observations": result.gcp_observations,
        "evaluations": result.iterations,
        "cost_before": result.cost_before,
        "cost_after": result.cost_after,
    }


def _georef_gcps(
    rec: Any,
    conf: SfmConfig,
    images: WorkingImages,
    gcps: GcpFile,
    gcp_local: dict[str, F64],
    gps_local: dict[str, F64],
    mode: str,
    info: dict[str, Any],
) -> tuple[Any, Similarity, str]:
    """GCPs on a model (in the GPS frame already, or in its own): an initial similarity
    (GPS, or RANSAC over GCP subsets), then the bundle adjustment with the GCPs as weighted
    control, rejecting the worst GCP while it is more than 3 x the threshold off; check
    points are held out; the adjustment is kept only where it does not make the control
    (or, when there are check points, the check points) worse."""
    warnings: list[str] = info["warnings"]
    by = {g.name: g for g in gcps.gcps}
    model_pts, skipped = triangulate_gcps(rec, gcps, images)
    info["gcps_not_triangulated"] = [{"name": k, "why": v} for k, v in skipped.items()]
    for name, why in skipped.items():
        warnings.append(f"GCP {name} not used: {why}")
    if mode == "gps":
        _flag_datum(model_pts, gcp_local, by, conf, warnings)
    info["gcps_horizontal_only"] = [g.name for g in gcps.gcps if not g.has_height]
    control = [k for k in model_pts if not by[k].checkpoint]
    checks = [k for k in model_pts if by[k].checkpoint]
    full = [k for k in control if by[k].has_height]
    rejected: dict[str, tuple[float, str]] = {}
    if mode != "gps" and len(full) < 3:
        warnings.append(
            f"GCP georeferencing needs 3 control GCPs with heights seen in 2+ registered "
            f"images; {len(full)} found: the model stays in its own frame (local)"
        )
        return rec, Similarity.identity(3), mode
    sim, outliers = _initial_fit(model_pts, gcp_local, control, full)
    transform_reconstruction(rec, sim)
    if control:
        mode = "gcp" if mode != "gps" else "gps+gcp"
    gsd = gsd_original_m(rec, images.scale)
    threshold = conf.gcp_max_rmse_m or max(
        3.0 * gsd if math.isfinite(gsd) else 0.1, 3.0 * conf.gcp_std_vertical_m
    )
    info["gsd_original_m"] = gsd
    info["gcp_threshold_m"] = threshold
    before = _residuals(rec, gcps, images, gcp_local)
    use = [k for k in control if k not in outliers]
    final = rec
    doc: dict[str, Any] = {"residuals_before_m": {k: v.tolist() for k, v in before.items()}}
    if conf.gcp_bundle_adjustment and use:
        final, use, rejected, doc = _adjust_rejecting(
            rec, conf, images, gcps, gcp_local, gps_local, use, outliers, threshold, doc
        )
    else:
        for k in outliers:
            rejected[k] = (_error_m(before[k], False), "off the similarity fit of the others")
    after = _residuals(final, gcps, images, gcp_local)
    loo_adjusted: dict[str, F64] = {}
    if final is not rec and len(use) >= 4:
        loo_adjusted = _leave_one_out_adjusted(rec, conf, images, gcps, gcp_local, gps_local, use)
    full_used = [k for k in use if by[k].has_height and k in before]
    loo_similarity: dict[str, F64] = {}
    if len(full_used) >= 4:  # the similarity's own check figure, on the GCPs used
        src = np.array([before[k] + gcp_local[k] for k in full_used])
        dst = np.array([gcp_local[k] for k in full_used])
        loo_similarity = _leave_one_out(src, dst, full_used)
        info["gcp_leave_one_out_similarity"] = {k: v.tolist() for k, v in loo_similarity.items()}
    # the adjustment is judged by check points where there are any, else by the
    # leave-one-out figures of both, else by the control points
    if checks:
        worse, basis = _worse(after, before, checks, by), "check points"
    elif loo_adjusted and loo_similarity:
        worse, basis = _worse(loo_adjusted, loo_similarity, use, by), "leave-one-out"
    else:
        worse, basis = _worse(after, before, use, by), "control points"
    kept = "similarity" if final is rec or worse else "adjusted"
    if final is not rec and worse:
        final, after = rec, before
        doc["kept_reason"] = f"the adjustment made the {basis} worse: not kept"
    doc["kept"], doc["judged_by"] = kept, basis
    doc["gcps_used"] = use
    info["gcp_bundle_adjustment"] = doc
    if loo_adjusted:
        doc["check_after_m"] = {k: v.tolist() for k, v in loo_adjusted.items()}
    chosen = loo_adjusted if kept == "adjusted" else loo_similarity
    if chosen:
        info["gcp_leave_one_out"] = {k: v.tolist() for k, v in chosen.items()}
    for k in list(rejected):  # held out already: their residual against the final model
        if k in after:
            info.setdefault("gcp_leave_one_out", {})[k] = after[k].tolist()
            rejected[k] = (_error_m(after[k], not by[k].has_height), rejected[k][1])
    info["gcps_rejected"] = [
        {"name": k, "residual_m": r, "why": why} for k, (r, why) in rejected.items()
    ]
    for k, (r, why) in rejected.items():
        warnings.append(
            f"GCP {k} rejected: {r:.2f} m {why} (> 3 x {threshold:.2f} m): wrong coordinates "
            "or a mis-clicked pixel"
        )
    info["gcps_used"], info["gcps_checkpoints"] = use, checks
    info["gcps"] = {
        k: {
            "residual_m": v.tolist(),
            "observations": len(by[k].observations),
            "role": "check" if k in checks else "rejected" if k in rejected else "control",
            "horizontal_only": not by[k].has_height,
        }
        for k, v in after.items()
    }
    return final, sim, mode


def _initial_fit(
    model_pts: dict[str, F64],
    gcp_local: dict[str, F64],
    control: list[str],
    full: list[str],
) -> tuple[Similarity, list[str]]:
    """The start of the adjustment, close to the GCPs (the robust loss would otherwise
    treat a far GCP as wrong): a RANSAC similarity over GCP subsets where three or more
    have heights (gross errors out only: the adjustment judges finer), else (a GPS model
    with one or two GCPs) the median shift onto them, horizontal only without heights."""
    if len(full) >= 3:
        src = np.array([model_pts[k] for k in full])
        dst = np.array([gcp_local[k] for k in full])
        extent = float(np.linalg.norm(dst - dst.mean(0), axis=1).max())
        sim, inliers = fit_sim3(src, dst, max(0.1 * extent, 1.0))
        return sim, [k for k, ok in zip(full, inliers, strict=True) if not ok]
    shifts = [gcp_local[k] - model_pts[k] for k in control]
    shift = np.median(np.array(shifts).reshape(-1, 3), axis=0) if shifts else np.zeros(3)
    if not full:
        shift[2] = 0.0
    return Similarity(1.0, np.eye(3), np.nan_to_num(shift)), []


def _flag_datum(
    model_pts: dict[str, F64],
    gcp_local: dict[str, F64],
    by: dict[str, Gcp],
    conf: SfmConfig,
    warnings: list[str],
) -> None:
    """GCP heights far off the GPS heights (more than the GPS could be): another vertical
    datum (geoid against ellipsoid heights is tens of metres): use them horizontally."""
    dz = [
        float(model_pts[k][2] - gcp_local[k][2])
        for k in model_pts
        if by[k].has_height and k in gcp_local
    ]
    if dz and abs(float(np.median(dz))) > max(3.0 * conf.gps_std_m, 10.0):
        for k in model_pts:
            by[k].horizontal_only = True
        warnings.append(
            f"GCP heights are {-float(np.median(dz)):+.1f} m from the GPS model's (median; "
            "another vertical datum?): GCPs used horizontally only"
        )


def _adjust_rejecting(
    rec: Any,
    conf: SfmConfig,
    images: WorkingImages,
    gcps: GcpFile,
    gcp_local: dict[str, F64],
    gps_local: dict[str, F64],
    use: list[str],
    outliers: list[str],
    threshold: float,
    doc: dict[str, Any],
) -> tuple[Any, list[str], dict[str, tuple[float, str]], dict[str, Any]]:
    """Adjust, and while the worst control GCP is more than 3 x ``threshold`` off the
    adjusted model (and enough remain) leave it out and adjust again; similarity outliers
    that fit the adjusted model after all are taken back once."""
    by = {g.name: g for g in gcps.gcps}
    keep_min = 1 if gps_local else 3
    rejected: dict[str, tuple[float, str]] = {}
    pending = list(outliers)
    while True:
        trial, stats = _adjusted(rec, conf, images, gcps, gcp_local, gps_local, use)
        res = _residuals(trial, gcps, images, gcp_local)
        errors = {k: _error_m(res[k], not by[k].has_height) for k in use if k in res}
        worst = max(errors, key=lambda k: errors[k]) if errors else None
        if worst is not None and errors[worst] > 3 * threshold and len(use) > keep_min:
            rejected[worst] = (errors[worst], "off the model adjusted without it")
            use = [k for k in use if k != worst]
            continue
        back = [k for k in pending if k in res and _error_m(res[k], False) <= 3 * threshold]
        pending = []
        if back:
            use = use + back
            continue
        for k in outliers:
            if k not in use and k in res:
                rejected[k] = (_error_m(res[k], False), "off the model adjusted without it")
        doc.update(stats)
        doc["residuals_after_m"] = {k: v.tolist() for k, v in res.items()}
        return trial, use, rejected, doc


def _worse(
    after: dict[str, F64], before: dict[str, F64], names: list[str], by: dict[str, Gcp]
) -> bool:
    """``after`` has the larger RMSE over ``names`` (3D; horizontal where no height)."""
    common = [k for k in names if k in after and k in before]

    def rmse(res: dict[str, F64]) -> float:
        return _rmse(np.array([_error_m(res[k], not by[k].has_height) for k in common]))

    return bool(common) and rmse(after) > rmse(before) + 1e-6


def _leave_one_out_adjusted(
    rec: Any,
    conf: SfmConfig,
    images: WorkingImages,
    gcps: GcpFile,
    gcp_local: dict[str, F64],
    gps_local: dict[str, F64],
    use: list[str],
) -> dict[str, F64]:
    """Each control GCP held out of its own adjustment and measured against the model the
    others made: the check figure when no check points are marked."""
    check: dict[str, F64] = {}
    for held_out in use:
        others = [k for k in use if k != held_out]
        trial, _ = _adjusted(rec, conf, images, gcps, gcp_local, gps_local, others)
        residual = _residuals(trial, gcps, images, gcp_local).get(held_out)
        if residual is not None:
            check[held_out] = residual
    return check


def _leave_one_out(src: F64, dst: F64, names: list[str]) -> dict[str, F64]:
    """Each GCP's residual when the similarity is fitted without it (needs 4 or more)."""
    if len(names) < 4:
        return {}
    out = {}
    for i, name in enumerate(names):
        keep = np.arange(len(names)) != i
        sim = fit_similarity(src[keep], dst[keep]).transform
        out[name] = sim.apply(src[i : i + 1])[0] - dst[i]
    return out


def _camera_residuals(rec: Any, images: WorkingImages) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for img in rec.images.values():
        if not img.has_pose:
            continue
        centre = np.asarray(img.projection_center(), dtype=float)
        entry: dict[str, Any] = {"centre_local_m": centre.tolist()}
        if img.name in images.local_xyz:
            entry["gps_residual_m"] = (centre - np.array(images.local_xyz[img.name])).tolist()
        out[img.name] = entry
    return out


def _h_v_rmse(residuals: list[list[float]]) -> tuple[float, float]:
    """Horizontal and vertical RMSE; heights that are not known (NaN) left out of the
    vertical figure."""
    res = np.array(residuals, dtype=float).reshape(-1, 3)
    vertical = res[:, 2][np.isfinite(res[:, 2])]
    return _rmse(np.linalg.norm(res[:, :2], axis=1)), _rmse(vertical)


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    """The figures that go into the run's report summary; with GCPs also a warning for
    each RMSE above ``gcp_threshold_m``."""
    summary: dict[str, Any] = {}
    res = np.array(
        [c["gps_residual_m"] for c in info["cameras"].values() if "gps_residual_m" in c]
    ).reshape(-1, 3)
    if len(res):
        summary["gps_rmse_horizontal_m"] = _rmse(np.linalg.norm(res[:, :2], axis=1))
        summary["gps_rmse_vertical_m"] = _rmse(res[:, 2])
        summary["gps_max_horizontal_m"] = float(np.linalg.norm(res[:, :2], axis=1).max())
    gcps = info.get("gcps", {})
    no_height = set(info.get("gcps_horizontal_only", []))

    def residuals(names: list[str], source: dict[str, Any]) -> list[list[float]]:
        out = []
        for k in names:
            if k in source:
                r = list(source[k]["residual_m"] if isinstance(source[k], dict) else source[k])
                out.append([r[0], r[1], math.nan if k in no_height else r[2]])
        return out

    figures = {
        "gcp": residuals(info.get("gcps_used", []), gcps),
        "checkpoint": residuals(info.get("gcps_checkpoints", []), gcps),
        "gcp_all": residuals(list(gcps), gcps),
    }
    for prefix, source_key in (
        ("gcp_check", "gcp_leave_one_out"),
        ("gcp_check_similarity", "gcp_leave_one_out_similarity"),
    ):
        loo = info.get(source_key, {})
        figures[prefix] = residuals(list(loo), loo)
    before = info.get("gcp_bundle_adjustment", {}).get("residuals_before_m", {})
    figures["gcp_similarity"] = residuals(info.get("gcps_used", []), before)
    for prefix, values in figures.items():
        if values:
            h, v = _h_v_rmse(values)
            summary[f"{prefix}_rmse_horizontal_m"] = h
            summary[f"{prefix}_rmse_vertical_m"] = v
    if "gcps" in info or "gcps_not_triangulated" in info:
        summary["gcps_used"] = info.get("gcps_used", [])
        summary["gcps_checkpoints"] = info.get("gcps_checkpoints", [])
        summary["gcps_rejected"] = info.get("gcps_rejected", [])
        summary["gcps_horizontal_only"] = sorted(no_height)
        summary["gcps_not_triangulated"] = info.get("gcps_not_triangulated", [])
    threshold = info.get("gcp_threshold_m")
    if threshold is not None:
        summary["gcp_threshold_m"] = threshold
        labels = {"gcp": "control", "checkpoint": "check-point", "gcp_check": "leave-one-out check"}
        for prefix, label in labels.items():
            for axis in ("horizontal", "vertical"):
                value = summary.get(f"{prefix}_rmse_{axis}_m", math.nan)
                if math.isfinite(value) and value > threshold:
                    info["warnings"].append(
                        f"GCP {label} RMSE {value:.2f} m {axis} (> {threshold:.2f} m threshold)"
                    )
    return summary


def load_georef(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((path / "georef.json").read_text())
    return doc


def write_georef_note(path: Path, text: str) -> None:
    write_text_atomic(path, text)
