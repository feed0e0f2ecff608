"""Georeferencing: a robust similarity from the model to the projected CRS.

Camera centres are fitted to their GPS positions by RANSAC (outlier fixes do not bend the
model), then, where three or more ground control points are seen in registered images,
the GCPs (triangulated from their pixels) refine the fit. Residuals are kept per camera
and per GCP; GCP residuals are also given leave-one-out, the honest check-point figure.
Without GPS or GCPs the model stays in its own frame and the report says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.sfm.config import SfmConfig
from mapping.sfm.errors import SfmError
from mapping.sfm.gcp import GcpFile
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
    info: dict[str, Any] = {"epsg": images.epsg, "origin_m": images.origin}
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
    gcp_utm: dict[str, F64] = {}
    if gcps is not None:
        epsg = images.epsg or gcps.suggested_epsg()
        if not images.local_xyz:  # no GPS: the local origin comes from the GCPs
            images.epsg = epsg
            first = np.array(gcps.utm(epsg)[gcps.gcps[0].name])
            images.origin = [
                round(float(first[0]), -2),
                round(float(first[1]), -2),
                round(float(first[2]), -1),
            ]
            info["epsg"], info["origin_m"] = epsg, images.origin
        gcp_utm = {k: v - np.array(images.origin) for k, v in gcps.utm(epsg).items()}
        model_pts, skipped = triangulate_gcps(rec, gcps, images)
        info["gcp_skipped"] = skipped
        if gcps.skipped:  # observations naming images that are not among the inputs
            info["gcp_file_lines_skipped"] = gcps.skipped
        common = [k for k in model_pts if k in gcp_utm]
        if len(common) >= 3:
            src = np.array([model_pts[k] for k in common])
            dst = np.array([gcp_utm[k] for k in common])
            threshold = (
                1.0
                if mode == "gps"
                else 0.05 * float(np.linalg.norm(dst - dst.mean(0), axis=1).max() + 1.0)
            )
            sim, inliers = fit_sim3(src, dst, threshold)
            transform_reconstruction(rec, sim)
            total = sim.compose(total)
            mode = "gps+gcp" if mode == "gps" else "gcp"
            info["gcp_outliers"] = [k for k, ok in zip(common, inliers, strict=True) if not ok]
            info["gcp_leave_one_out"] = _leave_one_out(src, dst, common)
            if conf.gcp_bundle_adjustment:
                assert gcps is not None
                use = [k for k, ok in zip(common, inliers, strict=True) if ok]
                info["gcp_bundle_adjustment"] = _gcp_adjust(
                    rec, gcps, images, gcp_utm, use, conf.refine_intrinsics
                )
                if "check_after_m" in info["gcp_bundle_adjustment"]:
                    info["gcp_leave_one_out_similarity"] = info["gcp_leave_one_out"]
                    info["gcp_leave_one_out"] = info["gcp_bundle_adjustment"]["check_after_m"]
        elif common:
            info["gcp_note"] = f"only {len(common)} GCP(s) triangulated; 3 needed to refine"
    info["mode"] = mode
    info["model_to_local"] = _to_dict(total)
    info["cameras"] = _camera_residuals(rec, images)
    if gcp_utm:
        model_pts, _ = triangulate_gcps(rec, gcps, images) if gcps else ({}, {})
        info["gcps"] = {
            k: {
                "residual_m": (model_pts[k] - gcp_utm[k]).tolist(),
                "observations": sum(
                    o.image in registered
                    for g in (gcps.gcps if gcps else [])
                    if g.name == k
                    for o in g.observations
                ),
            }
            for k in model_pts
            if k in gcp_utm
        }
    info["summary"] = _summary(info)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        rec.write(str(tmp))
        (tmp / "georef.json").write_text(json.dumps(info, indent=1))
    return out


def gcp_bundle_adjustment(
    rec: Any,
    gcps: GcpFile,
    images: WorkingImages,
    gcp_local: dict[str, F64],
    use: list[str],
    refine_distortion: bool,
) -> int:
    """Bundle adjustment with the GCPs in ``use`` as control: each is added as a 3D point
    held at its surveyed position (local frame) and observed at its marked pixels, so its
    reprojection errors pull the cameras and the tie points toward it; the focal length
    stays (GCPs at one level cannot fix it). The GCP points are removed afterwards.
    Returns the number of GCP observations used."""
    import pycolmap

    by_name = {img.name: img for img in rec.images.values() if img.has_pose}
    added: list[int] = []
    observations = 0
    for gcp in gcps.gcps:
        if gcp.name not in use:
            continue
        track = pycolmap.Track()
        for obs in gcp.observations:
            image = by_name.get(obs.image)
            if image is None:
                continue
            s = images.scale[obs.image]
            index = image.num_points2D()
            xy = np.array([obs.pixel_xy[0] * s, obs.pixel_xy[1] * s])
            image.points2D.append(pycolmap.Point2D(xy))
            track.add_element(image.image_id, index)
        if track.length():
            added.append(rec.add_point3D(np.asarray(gcp_local[gcp.name], dtype=float), track))
            observations += track.length()
    config = pycolmap.BundleAdjustmentConfig()
    for image_id in rec.reg_image_ids():
        config.add_image(image_id)
    for point_id in added:
        config.add_constant_point(point_id)
    options = pycolmap.BundleAdjustmentOptions()
    options.print_summary = False
    options.refine_focal_length = False
    options.refine_principal_point = False
    options.refine_extra_params = refine_distortion
    options.ceres.solver_options.max_num_iterations = 30
    pycolmap.create_default_bundle_adjuster(options, config, rec).solve()
    for point_id in added:
        rec.delete_point3D(point_id)
    return observations


def _gcp_residuals(
    rec: Any, gcps: GcpFile, images: WorkingImages, gcp_local: dict[str, F64]
) -> dict[str, list[float]]:
    points, _ = triangulate_gcps(rec, gcps, images)
    return {k: (v - gcp_local[k]).tolist() for k, v in points.items() if k in gcp_local}


def _gcp_adjust(
    rec: Any,
    gcps: GcpFile,
    images: WorkingImages,
    gcp_local: dict[str, F64],
    use: list[str],
    refine_distortion: bool,
) -> dict[str, Any]:
    """GCP bundle adjustment of ``rec`` with its residuals before and after; with four or
    more GCPs also the check figure after it: each GCP held out of its own adjustment
    (run on a copy) and measured against the model the others made."""
    import pycolmap

    doc: dict[str, Any] = {"gcps_used": use}
    doc["residuals_before_m"] = _gcp_residuals(rec, gcps, images, gcp_local)
    if len(use) >= 4:
        check: dict[str, list[float]] = {}
        for held_out in use:
            trial = pycolmap.Reconstruction(rec)
            others = [k for k in use if k != held_out]
            gcp_bundle_adjustment(trial, gcps, images, gcp_local, others, refine_distortion)
            residual = _gcp_residuals(trial, gcps, images, gcp_local).get(held_out)
            if residual is not None:
                check[held_out] = residual
        doc["check_after_m"] = check
    doc["observations"] = gcp_bundle_adjustment(
        rec, gcps, images, gcp_local, use, refine_distortion
    )
    doc["residuals_after_m"] = _gcp_residuals(rec, gcps, images, gcp_local)
    return doc


def _leave_one_out(src: F64, dst: F64, names: list[str]) -> dict[str, list[float]]:
    """Each GCP's residual when the fit is made without it (needs 4 or more)."""
    if len(names) < 4:
        return {}
    out = {}
    for i, name in enumerate(names):
        keep = np.arange(len(names)) != i
        sim = fit_similarity(src[keep], dst[keep]).transform
        out[name] = (sim.apply(src[i : i + 1])[0] - dst[i]).tolist()
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


def _summary(info: dict[str, Any]) -> dict[str, float]:
    summary: dict[str, float] = {}
    res = np.array(
        [c["gps_residual_m"] for c in info["cameras"].values() if "gps_residual_m" in c]
    ).reshape(-1, 3)
    if len(res):
        summary["gps_rmse_horizontal_m"] = _rmse(np.linalg.norm(res[:, :2], axis=1))
        summary["gps_rmse_vertical_m"] = _rmse(res[:, 2])
        summary["gps_max_horizontal_m"] = float(np.linalg.norm(res[:, :2], axis=1).max())
    gcp = np.array([g["residual_m"] for g in info.get("gcps", {}).values()]).reshape(-1, 3)
    if len(gcp):
        summary["gcp_rmse_horizontal_m"] = _rmse(np.linalg.norm(gcp[:, :2], axis=1))
        summary["gcp_rmse_vertical_m"] = _rmse(gcp[:, 2])
    figures = {
        "gcp_check": info.get("gcp_leave_one_out", {}),
        "gcp_check_similarity": info.get("gcp_leave_one_out_similarity", {}),
        "gcp_similarity": info.get("gcp_bundle_adjustment", {}).get("residuals_before_m", {}),
    }
    for prefix, residuals in figures.items():
        res = np.array(list(residuals.values())).reshape(-1, 3)
        if len(res):
            summary[f"{prefix}_rmse_horizontal_m"] = _rmse(np.linalg.norm(res[:, :2], axis=1))
            summary[f"{prefix}_rmse_vertical_m"] = _rmse(res[:, 2])
    return summary


def load_georef(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((path / "georef.json").read_text())
    return doc


def write_georef_note(path: Path, text: str) -> None:
    write_text_atomic(path, text)
