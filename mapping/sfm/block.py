"""What kind of block the images make: a nadir survey, an oblique/facade block, or
ground-level photos. A DSM and an orthophoto are heights and colours seen from above: a
nadir block gives them; photos taken standing on the ground give a cloud and a mesh,
and a raster of them is fiction (issue 19: 29 street photos gave a DSM from 31 points).

Up is the georeferenced frame's +z where GPS/GCPs fixed it (not from GPS on a line of
cameras alone: the roll about the line is free), else an estimate from the images: the
mean viewing direction's opposite for a block whose cameras spread across their viewing
direction (a survey), or the mean upright direction of the images (photos are held
upright) where the cameras spread along it (people walking around a scene).

Then: the median angle of the views from straight down (< :data:`NADIR_MAX_DEG`: nadir),
and the cameras' height above the low points of the scene against their distance to
it (< :data:`GROUND_HEIGHT_SHARE`: ground-level, else oblique/facade).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
NADIR_MAX_DEG = 30.0
GROUND_HEIGHT_SHARE = 0.3
MAX_POINTS = 3000
"""Points used for heights and distances (a subsample: these are medians)."""
NADIR = "nadir"
OBLIQUE = "oblique-facade"
GROUND = "ground-level"


@dataclass
class Block:
    kind: str
    up_from: str
    median_off_nadir_deg: float
    camera_height_share: float
    """Median camera height above the scene's 10th height percentile / median distance
    from the cameras to the scene."""
    reason: str
    warning: str = ""
    """A vertical the georeferenced frame and the images disagree on ("" = none)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _poses(rec: Any) -> tuple[F64, F64, F64]:
    """Camera centres, viewing directions (+z of the camera) and image-up directions
    (-y of the camera) in the model frame, one row per registered image."""
    centres, views, ups = [], [], []
    for image in rec.images.values():
        if not image.has_pose:
            continue
        world_from_cam = np.asarray(image.cam_from_world().rotation.matrix()).T
        centres.append(np.asarray(image.projection_center(), dtype=float))
        views.append(world_from_cam[:, 2])
        ups.append(-world_from_cam[:, 1])
    return (
        np.array(centres).reshape(-1, 3),
        np.array(views).reshape(-1, 3),
        np.array(ups).reshape(-1, 3),
    )


def _unit(v: F64) -> F64:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def estimate_up(centres: F64, views: F64, ups: F64) -> tuple[F64, str]:
    """Up in a model without a trustworthy vertical, and where it came from.

    Cameras spread over a plane: across their views (a survey: up = -view) or along them
    (people on the ground: the plane's normal, signed by the images' upright direction).
    Cameras on a line: a drone's image-up runs along its flight line (survey), a walker's
    across it (upright photos: up = the images' mean upright direction)."""
    view, upright = _unit(np.mean(views, axis=0)), np.mean(ups, axis=0)
    if len(centres) >= 2:
        _, s, vt = np.linalg.svd(centres - centres.mean(axis=0), full_matrices=False)
        s = np.concatenate([s, np.zeros(3 - len(s))])
        if len(centres) >= 4 and s[1] > 0.2 * s[0] and s[2] < 0.5 * s[1]:
            normal = vt[2]
            if abs(float(normal @ view)) >= 0.7:
                return -view, "viewing direction (cameras spread across it: a survey)"
            sign = 1.0 if float(normal @ upright) >= 0 else -1.0
            return sign * normal, "plane of the camera positions (cameras spread along the views)"
        if abs(float(vt[0] @ _unit(upright))) > 0.7:
            return -view, "viewing direction (image tops along the camera line: a survey)"
    if np.linalg.norm(upright) > 0.7:
        return _unit(upright), "upright direction of the images"
    return -view, "viewing direction"


def classify(rec: Any, georeferenced: bool) -> Block:
    """The block type of a model (``georeferenced``: +z is up)."""
    centres, views, ups = _poses(rec)
    points = np.array([p.xyz for p in rec.points3D.values()], dtype=float).reshape(-1, 3)
    points = points[:: max(1, len(points) // MAX_POINTS)]
    if len(centres) == 0 or len(points) == 0:
        return Block(NADIR, "none", float("nan"), float("nan"), "no registered geometry")
    spread = (
        np.linalg.svd(centres - centres.mean(axis=0), compute_uv=False)
        if len(centres) > 1
        else np.zeros(3)
    )
    line = len(centres) < 3 or spread[1] < 0.1 * max(spread[0], 1e-9)
    warning = ""
    if georeferenced and not line:
        up, up_from = np.array([0.0, 0.0, 1.0]), "georeferenced frame"
    else:
        up, up_from = estimate_up(centres, views, ups)
    if georeferenced and float(np.mean(ups, axis=0)[2]) < -0.5:
        warning = (
            "the georeferenced model is upside down against the images' upright direction "
            f"(mean image top {float(np.mean(ups, axis=0)[2]):+.2f} in z): "
            + ("GPS on a line of cameras does not fix the roll about it" if line else "check GPS")
        )
    off_nadir = np.degrees(np.arccos(np.clip(views @ -up, -1.0, 1.0)))
    median_off = float(np.median(off_nadir))
    heights = points @ up
    low = float(np.percentile(heights, 10))
    camera_height = float(np.median(centres @ up)) - low
    distance = float(np.median(np.linalg.norm(points[None, :, :] - centres[:, None, :], axis=2)))
    share = camera_height / max(distance, 1e-9)
    if median_off < NADIR_MAX_DEG:
        kind = NADIR
        reason = f"views {median_off:.0f} deg from straight down (median; < {NADIR_MAX_DEG:g})"
    elif share < GROUND_HEIGHT_SHARE:
        kind = GROUND
        reason = (
            f"views {median_off:.0f} deg from straight down, cameras {share:.2f} x their "
            f"distance to the scene above its low points (< {GROUND_HEIGHT_SHARE:g})"
        )
    else:
        kind = OBLIQUE
        reason = (
            f"views {median_off:.0f} deg from straight down, cameras {share:.2f} x their "
            "distance to the scene above its low points"
        )
    if math.isnan(share):
        share = 0.0
    return Block(
        kind,
        up_from,
        round(median_off, 1),
        round(share, 3),
        reason + f"; up from the {up_from}",
        warning,
    )
