"""Minimum sanity of a model: a run whose model fails it is reported FAILED, not success.

Images with almost no overlap can still give a "model": three images registered on a
handful of points with a reprojection error of 0.00 px (two-view points fit exactly), or
cameras stacked on one spot with no baseline. Such a model has no geometry to map from;
its products would be fiction. The checks, each with its number in the report:

- the registered images observe on average at least ``min_points_per_image`` (config,
  default 10) 3D points (the weakest image's count is reported too: a line's end image
  may see only a few and still be held by its GPS prior, as in the Seneca test, 3 of 172 points);
- at least :data:`MIN_POINTS` 3D points in all;
- a mean reprojection error above :data:`MIN_REPROJECTION_PX` (exactly zero means the
  points have no redundancy) and below :data:`MAX_REPROJECTION_PX`;
- a median triangulation angle of at least :data:`MIN_TRIANGULATION_DEG` (rays nearly
  parallel give depths that are noise);
- with GPS, camera centres within ``gps_max_sigmas`` (config, default 3) x the stated GPS
  accuracy (horizontal RMSE; the
  accuracy is the images' own where given, else ``gps_std_m`` of the config).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mapping.sfm.config import SfmConfig
from mapping.sfm.errors import SfmError

MIN_POINTS = 30
MIN_REPROJECTION_PX = 1e-3
MAX_REPROJECTION_PX = 4.0
MIN_TRIANGULATION_DEG = 1.0
MAX_POINTS_FOR_ANGLES = 5000


class ModelRejectedError(SfmError):
    """The model fails the minimum sanity: the report says FAILED with the numbers."""


@dataclass
class Verdict:
    """The sanity numbers of a model and the checks it failed (empty = sane)."""

    numbers: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def status(self) -> str:
        return "OK" if self.ok else "FAILED: " + "; ".join(self.failures)


def median_triangulation_deg(rec: Any, max_points: int = MAX_POINTS_FOR_ANGLES) -> float:
    """Median over 3D points of the largest angle between the rays that observe it."""
    centres = {
        image_id: np.asarray(image.projection_center(), dtype=float)
        for image_id, image in rec.images.items()
        if image.has_pose
    }
    angles = []
    for k, point in enumerate(rec.points3D.values()):
        if k >= max_points:
            break
        ids = {el.image_id for el in point.track.elements if el.image_id in centres}
        if len(ids) < 2:
            continue
        rays = np.array([centres[i] for i in ids]) - np.asarray(point.xyz, dtype=float)
        norms = np.linalg.norm(rays, axis=1)
        if (norms <= 0).any():
            continue
        unit = rays / norms[:, None]
        cos = np.clip(unit @ unit.T, -1.0, 1.0)
        angles.append(math.degrees(float(np.arccos(cos.min()))))
    return float(np.median(angles)) if angles else 0.0


def check_model(rec: Any, conf: SfmConfig, info: dict[str, Any], gps_std_m: float) -> Verdict:
    """The sanity :class:`Verdict` of a georeferenced model (``info``: georef.json)."""
    registered = [img for img in rec.images.values() if img.has_pose]
    per_image = {img.name: int(img.num_points3D) for img in registered}
    weakest = min(per_image, key=lambda n: per_image[n]) if per_image else ""
    mean_per_image = float(np.mean(list(per_image.values()))) if per_image else 0.0
    points = int(rec.num_points3D())
    reprojection = float(rec.compute_mean_reprojection_error()) if points else 0.0
    angle = median_triangulation_deg(rec)
    numbers: dict[str, Any] = {
        "images_registered": len(registered),
        "sparse_points": points,
        "mean_points_per_image": round(mean_per_image, 1),
        "min_points_per_image": per_image.get(weakest, 0),
        "weakest_image": weakest,
        "reprojection_error_px": round(reprojection, 4),
        "median_triangulation_deg": round(angle, 3),
    }
    failures = []
    if mean_per_image < conf.min_points_per_image:
        failures.append(
            f"the registered images observe {mean_per_image:.1f} 3D points on average "
            f"(< {conf.min_points_per_image}, min_points_per_image)"
        )
    if points < MIN_POINTS:
        failures.append(f"{points} 3D points (< {MIN_POINTS})")
    if not MIN_REPROJECTION_PX < reprojection < MAX_REPROJECTION_PX:
        failures.append(
            f"reprojection error {reprojection:.4f} px at the working image size "
            f"(want {MIN_REPROJECTION_PX}-{MAX_REPROJECTION_PX} px; 0 = no redundancy)"
        )
    if angle < MIN_TRIANGULATION_DEG:
        failures.append(
            f"median triangulation angle {angle:.2f} deg (< {MIN_TRIANGULATION_DEG} deg)"
        )
    rmse = info.get("summary", {}).get("gps_rmse_horizontal_m")
    if "gps" in str(info.get("mode", "")) and rmse is not None and math.isfinite(rmse):
        limit = conf.gps_max_sigmas * gps_std_m
        numbers["gps_rmse_horizontal_m"] = round(float(rmse), 3)
        numbers["gps_rmse_limit_m"] = round(limit, 3)
        if rmse > limit:
            failures.append(
                f"camera centres {rmse:.2f} m RMSE from GPS (> {conf.gps_max_sigmas:g} x "
                f"the stated {gps_std_m:g} m accuracy)"
            )
    return Verdict(numbers, failures)


def stated_gps_std_m(records: list[Any], conf: SfmConfig) -> float:
    """The GPS accuracy the run works with: the median of the images' own (EXIF
    GPSHPositioningError, NavSatFix covariance) where given, else ``gps_std_m``."""
    own = [
        float(r.position_std_m)
        for r in records
        if r.position_std_m is not None and math.isfinite(r.position_std_m)
    ]
    return max(float(np.median(own)), 0.5) if own else float(conf.gps_std_m)
