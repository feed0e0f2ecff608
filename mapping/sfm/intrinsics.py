"""Are a model's cameras believable? Judged against each camera's own prior, not fixed limits.

A fixed ``|k| < 0.5`` threw away a global model that registered 29 of 29 phone photos with
a 4.6 m GPS fit (issue 19): phones have strong distortion, and a single coefficient says
little (k1 and k2 trade against each other). What matters is what the model does to the
image: the focal length against the prior the camera started from (EXIF or calibration,
with that prior's uncertainty), and the distortion as the displacement it gives at the
image corner, in pixels and relative to the half diagonal, and whether the radial mapping
folds back (a model that maps two radii to one is not a lens).

Verdicts: ``plausible``; ``doubtful`` (kept when the evidence favours the model, said in
the report); ``implausible`` (the model is not used while another candidate exists).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FOCAL_PRIOR_REL_STD = 0.15
"""1-sigma of an EXIF focal prior relative to itself (35 mm equivalents rounded, digital
crops, focus breathing)."""
FOCAL_DOUBTFUL_SIGMAS = 2.0
FOCAL_IMPLAUSIBLE_SIGMAS = 4.0
FOCAL_RATIO_RANGE = (0.25, 4.0)
"""Without a prior: focal / long side outside this is no camera one photographs with."""
CORNER_DOUBTFUL_SHARE = 0.25
"""Distortion moving the corner by more than this share of the half diagonal: a fisheye's
amount; a phone's main camera stays well below."""
FOLD_IMPLAUSIBLE_SHARE = 0.7
"""A radial mapping that folds back inside this share of the half diagonal is implausible
(where most tie points lie); folding only nearer the corner is doubtful."""
VERDICTS = ("plausible", "doubtful", "implausible")


@dataclass
class IntrinsicsVerdict:
    """The worst verdict over the model's cameras, with one line per finding."""

    verdict: str = "plausible"
    notes: list[str] = field(default_factory=list)

    def worsen(self, verdict: str, note: str) -> None:
        if VERDICTS.index(verdict) > VERDICTS.index(self.verdict):
            self.verdict = verdict
        self.notes.append(note)


def corner_distortion(camera: Any) -> tuple[float, float | None]:
    """(displacement of the image corner by the distortion in px, the share of the half
    diagonal where the radial mapping first folds back or None): the corner ray of the
    undistorted pinhole projected with and without the distortion."""
    f = float(camera.mean_focal_length())
    cx, cy = float(camera.principal_point_x), float(camera.principal_point_y)
    corner = np.array([camera.width, camera.height], dtype=float) - [cx, cy]
    half_diagonal_px = float(np.linalg.norm(corner))
    direction = corner / max(half_diagonal_px, 1e-9)
    shares = np.linspace(0.02, 1.0, 50)
    rays = np.column_stack(
        [shares * direction[0] * half_diagonal_px / f, shares * direction[1] * half_diagonal_px / f]
    )
    projected = np.asarray(camera.img_from_cam(np.column_stack([rays, np.ones(len(rays))])))
    radius_px = np.linalg.norm(projected - [cx, cy], axis=1)
    displacement_px = abs(float(radius_px[-1]) - half_diagonal_px)
    folds = np.nonzero(np.diff(radius_px) <= 0)[0]
    fold_share = float(shares[folds[0]]) if len(folds) else None
    return displacement_px, fold_share


def judge_camera(camera: Any, prior_focal_px: float | None, out: IntrinsicsVerdict) -> None:
    """Add the findings of one camera to ``out``."""
    name = f"camera {camera.camera_id}"
    focal_px = float(camera.mean_focal_length())
    if prior_focal_px:
        deviation = abs(focal_px - prior_focal_px) / prior_focal_px
        sigmas = deviation / FOCAL_PRIOR_REL_STD
        text = (
            f"{name}: focal {focal_px:.0f} px vs prior {prior_focal_px:.0f} px "
            f"({100 * deviation:.0f} %, {sigmas:.1f} sigma of a {100 * FOCAL_PRIOR_REL_STD:.0f} "
            "% prior)"
        )
        if sigmas > FOCAL_IMPLAUSIBLE_SIGMAS:
            out.worsen("implausible", text)
        elif sigmas > FOCAL_DOUBTFUL_SIGMAS:
            out.worsen("doubtful", text)
    else:
        ratio = focal_px / max(camera.width, camera.height)
        if not FOCAL_RATIO_RANGE[0] <= ratio <= FOCAL_RATIO_RANGE[1]:
            out.worsen(
                "implausible",
                f"{name}: focal {ratio:.2f} x the long side, no prior "
                f"(want {FOCAL_RATIO_RANGE[0]}-{FOCAL_RATIO_RANGE[1]})",
            )
    if not list(camera.extra_params_idxs()):
        return
    displacement_px, fold_share = corner_distortion(camera)
    half_diagonal_px = 0.5 * math.hypot(camera.width, camera.height)
    share = displacement_px / half_diagonal_px
    text = (
        f"{name}: distortion moves the corner {displacement_px:.0f} px "
        f"({100 * share:.0f} % of the half diagonal, image {camera.width}x{camera.height} px)"
    )
    if fold_share is not None and fold_share < FOLD_IMPLAUSIBLE_SHARE:
        out.worsen("implausible", f"{text}; the radial mapping folds at {100 * fold_share:.0f} %")
    elif fold_share is not None:
        out.worsen("doubtful", f"{text}; the radial mapping folds at {100 * fold_share:.0f} %")
    elif share > CORNER_DOUBTFUL_SHARE:
        out.worsen("doubtful", text)


def judge_intrinsics(rec: Any, prior_focal_px: dict[int, float | None]) -> IntrinsicsVerdict:
    """The verdict on every camera of ``rec`` that a registered image uses;
    ``prior_focal_px``: camera id -> the focal the camera started from (None: no prior)."""
    out = IntrinsicsVerdict()
    used = {img.camera_id for img in rec.images.values() if img.has_pose}
    for camera_id, camera in rec.cameras.items():
        if camera_id in used:
            judge_camera(camera, prior_focal_px.get(camera_id), out)
    return out


def database_focal_priors(database: Any) -> dict[int, float | None]:
    """Camera id -> the focal length each camera was created with where it is a prior
    (EXIF, catalog, calibration), else None; from the COLMAP database (path)."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    cameras = db.read_all_cameras()
    db.close()
    return {
        c.camera_id: float(c.mean_focal_length()) if c.has_prior_focal_length else None
        for c in cameras
    }
