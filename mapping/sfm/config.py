"""The pipeline's settings, with named presets; the effective config is saved beside results."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from mapping.sfm.errors import SfmError

Pairing = Literal["auto", "spatial", "sequential", "exhaustive"]
Mapper = Literal["auto", "incremental", "global"]
Rasters = Literal["auto", "always", "never"]


@dataclass
class SfmConfig:
    """Everything that changes a result. Units in names; defaults = the ``default`` preset."""

    max_image_px: int = 1600
    """Long side of the working images (features, dense, orthophoto colour); speed vs accuracy."""
    max_features: int = 8192
    """SIFT keypoints per image at most (8192 = COLMAP's; Seneca at 1600 px: 4096 gave
    0.38 px reprojection, 8192 0.35 px, for 4 s more matching CPU)."""
    enhance_contrast: bool = True
    """SIFT on contrast-equalised (CLAHE) copies: many more keypoints on bare ground."""
    sift_peak_threshold: float = 0.004
    """SIFT's contrast threshold (COLMAP default 0.0067); lower finds faint texture."""
    pairing: Pairing = "auto"
    """auto: GPS neighbours when positions exist, else sequence for long sets, else exhaustive."""
    spatial_neighbors: int = 12
    """GPS neighbours matched per image."""
    sequential_overlap: int = 8
    """Following images matched per image when pairing by sequence."""
    retrieval_neighbors: int = 8
    """Without GPS, pairing by sequence adds this many retrieval neighbours per image
    (images sharing the most large-scale SIFT features: the neighbouring flight lines)."""
    exhaustive_max_images: int = 40
    """auto pairing matches every pair only up to this many images."""
    mapper: Mapper = "auto"
    """auto: incremental, then global where incremental leaves images out and the global
    model fits GPS as well (GLOMAP can bend near-planar blocks); or one of them."""
    use_gps_prior: bool = True
    """Bundle adjustment with the GPS positions as priors."""
    gps_std_m: float = 5.0
    """1-sigma of a GPS position prior when the input gives none (consumer GNSS)."""
    gcp_bundle_adjustment: bool = True
    """GCPs as control in a final bundle adjustment (held at their surveyed positions,
    observed at their pixels), after the similarity fit; off: the similarity alone."""
    camera_below_antenna_m: float = 0.0
    """Vertical lever arm: how far the camera sits below the GNSS antenna (nadir survey)."""
    crs: str = "auto"
    """Projected CRS of the products, ``EPSG:32644``, or ``auto`` (UTM zone of the data)."""
    resolution_cm: float = 0.0
    """DSM/orthophoto cell size; 0 = twice the mean ground sampling distance."""
    dense: bool = True
    """Compute the dense cloud (SGBM stereo on neighbouring views, fused)."""
    dense_max_px: int = 800
    """Long side of the images used for dense stereo."""
    dense_min_views: int = 2
    """A dense point is kept where this many stereo pairs agree."""
    slope_mask_deg: float = 0.0
    """Unused by the pipeline; kept for reports that state a slope mask."""
    refine_intrinsics: bool = True
    """Bundle adjustment refines focal length and distortion (off: a calibration fixes them)."""
    seed: int = 0
    """Random seed of COLMAP's RANSAC and mapping, for repeatable runs."""
    # --- issue 19, helper sfmgcp: GCPs as weighted constraints (mapping/sfm/control.py) ---
    gcp_std_horizontal_m: float = 0.02
    """Stated 1-sigma of the surveyed GCP positions, east/north (RTK survey)."""
    gcp_std_vertical_m: float = 0.03
    """Stated 1-sigma of the surveyed GCP heights."""
    gcp_pixel_std_px: float = 1.0
    """1-sigma of a marked GCP pixel, in original-image pixels."""
    gcp_max_rmse_m: float = 0.0
    """Warning threshold for the control and check-point RMSE (horizontal and vertical);
    a GCP more than 3x this off the adjusted model is rejected. 0 = automatic:
    max(3 x GSD of the original images, 3 x gcp_std_vertical_m)."""
    gcp_checkpoints: list[str] = dataclasses.field(default_factory=list)
    """GCP names held out as check points (as well as names starting/ending with CHK)."""
    gcp_horizontal_only: list[str] = dataclasses.field(default_factory=list)
    """GCP names whose height is not to be used (another vertical datum)."""
    # --- issue 19, helper sfmdense: dense outlier checks, raster memory bound ---
    dense_min_triangulation_deg: float = 1.5
    """Dense points whose two rays meet at a narrower angle are dropped (depth is noise)."""
    max_raster_cells: int = 100_000_000
    """DSM/orthophoto cells at most (also bounded by the free memory): an automatic cell
    size is coarsened to fit, with a warning; an explicit --resolution-cm is refused."""

    # -- sfmselect (issue 19): model choice on evidence, block type, loud failures --
    rasters: Rasters = "auto"
    """DSM and orthophoto: auto = for a nadir block only; always = also for an oblique or
    facade block (a ground-level block is refused with a warning: no raster); never."""
    min_registered_share: float = 0.8
    """Fewer registered images than this share of the usable ones: a warning (exit 3),
    and the relaxed incremental mapper is tried as a further candidate."""
    min_points_per_image: int = 10
    """Registered images observing fewer 3D points than this on average: model rejected
    (exit 2). The weakest image alone is only reported (a line's end image may see few
    points and still be held by its GPS prior)."""
    gps_max_sigmas: float = 3.0
    """Camera centres further from GPS than this x the stated accuracy (horizontal RMSE
    after a similarity): model rejected (exit 2); a mapper candidate beyond it is not kept."""

    # --- issue 19 item 6 (helper sfmspeed): speed at equal image size ---
    sift_first_octave: int | None = None
    """SIFT's first octave: 0 starts at the working image; -1 (COLMAP's default) first
    doubles it, 4.8x the SIFT time (Seneca, 1600 px), for the finest keypoints. None:
    0 for a GPS-tagged block seen from above (no gimbal pitch off nadir), whose views
    share one scale; -1 otherwise (ground-level photos at varying distance need them:
    Sacre Coeur registers 2 of 10 at octave 0)."""
    footprint_overlap: float = 0.02
    """spatial pairing: two images are paired when their ground footprints (from GPS,
    height above the ground and focal length, drawn 20 % larger for tilt and GPS error)
    overlap by this share of the smaller one; 0 pairs GPS neighbours instead."""
    verify_max_error_px: float = 2.0
    """Geometric verification: RANSAC inlier threshold (px at the working size; COLMAP's
    4 px let looser matches into the model: Seneca 0.35 -> 0.32 px at 2 px, the same
    images registered; 1.5 px gained nothing more)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"max_image_px": 1024, "max_features": 2048, "dense_max_px": 640},
    "default": {},
    "accurate": {"max_image_px": 2400, "max_features": 8192, "dense_max_px": 1200},
}


def crs_epsg(crs: str) -> int | None:
    """The EPSG code of ``--crs`` (``EPSG:326zz``/``327zz``), or None for ``auto``."""
    if not crs or crs.lower() == "auto":
        return None
    text = crs.strip().upper().removeprefix("EPSG:")
    try:
        code = int(text)
    except ValueError:
        raise SfmError(f"--crs {crs!r}: expected EPSG:326zz/327zz or auto") from None
    if not (32601 <= code <= 32660 or 32701 <= code <= 32760):
        raise SfmError(f"--crs {crs}: only WGS84 / UTM (EPSG:32601-32760) is supported")
    return code


def make_config(preset: str = "default", **overrides: Any) -> SfmConfig:
    """A preset with overrides applied; unknown names are an error naming them."""
    if preset not in PRESETS:
        raise SfmError(f"unknown preset {preset!r} (presets: {', '.join(PRESETS)})")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    names = {f.name for f in dataclasses.fields(SfmConfig)}
    unknown = set(values) - names
    if unknown:
        raise SfmError(f"unknown sfm setting(s): {', '.join(sorted(unknown))}")
    config = SfmConfig(**values)
    if not 200 <= config.max_image_px <= 20_000:
        raise SfmError(f"--max-image-px {config.max_image_px}: want 200..20000")
    if not (math.isfinite(config.resolution_cm) and 0 <= config.resolution_cm <= 100_000):
        raise SfmError(
            f"--resolution-cm {config.resolution_cm}: want a cell size > 0 cm (0 = automatic)"
        )
    lever_m = config.camera_below_antenna_m
    if not (math.isfinite(lever_m) and abs(lever_m) <= 100):
        raise SfmError(f"--camera-below-antenna-m {lever_m}: want -100..100 m")
    crs_epsg(config.crs)
    if config.pairing not in ("auto", "spatial", "sequential", "exhaustive"):
        raise SfmError(f"pairing {config.pairing!r} is not auto|spatial|sequential|exhaustive")
    if config.mapper not in ("auto", "incremental", "global"):
        raise SfmError(f"mapper {config.mapper!r} is not auto|incremental|global")
    if config.rasters not in ("auto", "always", "never"):
        raise SfmError(f"rasters {config.rasters!r} is not auto|always|never")
    if not 0.0 <= config.min_registered_share <= 1.0:
        raise SfmError(f"min_registered_share {config.min_registered_share}: want 0..1")
    if config.max_raster_cells < 10_000:
        raise SfmError(f"max_raster_cells {config.max_raster_cells}: want >= 10000")
    _check_speed_settings(config)
    return config


def _check_speed_settings(config: SfmConfig) -> None:
    """The issue-19 speed settings (helper sfmspeed), each error naming its field."""
    if config.sift_first_octave not in (None, -1, 0, 1):
        raise SfmError(f"sift_first_octave {config.sift_first_octave}: want -1, 0, 1 or None")
    if not (math.isfinite(config.footprint_overlap) and 0 <= config.footprint_overlap < 1):
        raise SfmError(f"footprint_overlap {config.footprint_overlap}: want 0..1 (0 = k-NN)")
    if not (math.isfinite(config.verify_max_error_px) and 0 < config.verify_max_error_px <= 50):
        raise SfmError(f"verify_max_error_px {config.verify_max_error_px}: want 0..50 px")
