"""Mine-grid georeferencing from surveyed ArUco control markers.

Markers are detected in keyframes (full resolution), their corners located in 3D from
the aligned depth, carried into the map frame by the (optimised) keyframe pose and
averaged over sightings, nearer sightings weighing more (depth noise grows with range).
A robust similarity (RANSAC over corners, then least squares on the inliers) maps the
map frame onto the surveyed coordinates; the per-marker residuals are reported.

The control CSV needs an id column (``id`` or ``marker_id``), an optional ``corner``
(0–3, OpenCV order; absent = the marker centre), coordinates (``easting``/``northing``/
``elevation``, with or without ``_m``, or ``grid_x_m``/``grid_y_m``/``grid_z_m`` as the
simulator's ``markers.csv`` has for its mine grid) and optionally ``crs`` (an EPSG code
or a grid name).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import SlamError
from mapping.slam.frame import F64Array, Pinhole
from smartmine.geometry import GeometryError, RansacOptions, fit_similarity

ARUCO_DICTIONARIES = ("DICT_4X4_50", "DICT_5X5_100", "DICT_6X6_250", "DICT_APRILTAG_36h11")

_COLUMNS = {
    "x": ("easting", "easting_m", "grid_x_m", "x", "x_m"),
    "y": ("northing", "northing_m", "grid_y_m", "y", "y_m"),
    "z": ("elevation", "elevation_m", "grid_z_m", "height_m", "z", "z_m"),
}


@dataclass
class ControlPoints:
    """Surveyed coordinates keyed by (marker id, corner or -1 for the centre)."""

    points: dict[tuple[int, int], F64Array]
    crs: str
    source: str


def read_control_points(path: Path, frame: str = "auto") -> ControlPoints:
    """Read a markers CSV (see module docstring). ``frame``: ``auto`` prefers the mine
    grid columns (``grid_*``) when present, ``utm`` the easting/northing ones."""
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise SlamError(f"{path}: no such markers file") from None
    if not rows:
        raise SlamError(f"{path}: no markers")
    header = set(rows[0])
    id_col = "marker_id" if "marker_id" in header else "id" if "id" in header else None
    if id_col is None:
        raise SlamError(f"{path}: needs an 'id' or 'marker_id' column (has {sorted(header)})")
    cols: dict[str, str] = {}
    for axis, names in _COLUMNS.items():
        ordered = (
            names
            if frame != "auto" or "grid_x_m" not in header
            else sorted(names, key=lambda n: not n.startswith("grid"))
        )
        found = next((n for n in ordered if n in header), None)
        if found is None:
            raise SlamError(f"{path}: no column for {axis} (one of {', '.join(names)})")
        cols[axis] = found
    is_grid = cols["x"].startswith("grid")
    crs = rows[0].get("crs") or ("mine grid" if is_grid else "unknown CRS")
    points: dict[tuple[int, int], F64Array] = {}
    for n, row in enumerate(rows, start=2):
        try:
            key = (
                int(row[id_col]),
                int(row["corner"]) if row.get("corner") not in (None, "") else -1,
            )
            points[key] = np.array([float(row[cols[a]]) for a in "xyz"])
        except (TypeError, ValueError):
            raise SlamError(f"{path}:{n}: bad marker row {row}") from None
    return ControlPoints(points, crs, str(path))


@dataclass
class MarkerObservations:
    """Sightings of marker corners in map coordinates, gathered during the run."""

    dictionary: str = "DICT_4X4_50"
    sightings: list[tuple[int, int, int, F64Array, float]] = field(default_factory=list)
    """(keyframe id, marker id, corner, point in camera frame, range m)"""
    _detector: Any = None

    def detect(self, kf_id: int, color: npt.NDArray[np.uint8], depth_m: Any, cam: Pinhole) -> int:
        """Detect markers in one (undistorted) frame; return how many were located."""
        import cv2

        if self._detector is None:
            aruco = cv2.aruco
            dictionary = aruco.getPredefinedDictionary(getattr(aruco, self.dictionary))
            params = aruco.DetectorParameters()
            params.cornerRefinementMethod = aruco.CORNER_REFINE_SUBPIX
            self._detector = aruco.ArucoDetector(dictionary, params)
        gray = cv2.cvtColor(color, cv2.COLOR_RGB2GRAY)
        corners, ids, _ = self._detector.detectMarkers(gray)
        if ids is None:
            return 0
        found = 0
        h, w = depth_m.shape
        for quad, marker_id in zip(corners, ids.reshape(-1), strict=True):
            quad = quad.reshape(4, 2)
            # depth on the plate, just inside the corners (edges of the black square)
            centre = quad.mean(axis=0)
            for corner, (u, v) in enumerate(quad):
                uu, vv = centre + 0.9 * (np.array([u, v]) - centre)
                ui, vi = round(uu), round(vv)
                if not (2 <= ui < w - 2 and 2 <= vi < h - 2):
                    continue
                patch = depth_m[vi - 2 : vi + 3, ui - 2 : ui + 3]
                patch = patch[patch > 0]
                if patch.size < 5:
                    continue
                z = float(np.median(patch))
                p = np.array([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z])
                self.sightings.append((kf_id, int(marker_id), corner, p, z))
                found += 1
        return found

    def map_points(self, poses: dict[int, F64Array]) -> dict[tuple[int, int], F64Array]:
        """Weighted mean map position of each (marker, corner) over its sightings."""
        acc: dict[tuple[int, int], list[tuple[F64Array, float]]] = {}
        for kf_id, marker_id, corner, p, z in self.sightings:
            if kf_id not in poses:
                continue
            world = poses[kf_id][:3, :3] @ p + poses[kf_id][:3, 3]
            acc.setdefault((marker_id, corner), []).append((world, 1.0 / max(z, 0.3) ** 2))
        out = {}
        for key, items in acc.items():
            pts = np.array([i[0] for i in items])
            w = np.array([i[1] for i in items])
            med = np.median(pts, axis=0)
            keep = np.linalg.norm(pts - med, axis=1) < 0.3
            if keep.any():
                out[key] = (pts[keep] * w[keep, None]).sum(axis=0) / w[keep].sum()
        return out


@dataclass
class GeorefResult:
    scale: float
    rotation: F64Array
    translation: F64Array
    crs: str
    markers_used: list[int]
    markers_rejected: list[int]
    residuals_m: dict[int, float]
    rmse_m: float

    def matrix(self) -> F64Array:
        m = np.eye(4)
        m[:3, :3] = self.scale * self.rotation
        m[:3, 3] = self.translation
        return m

    def summary(self) -> dict[str, Any]:
        return {
            "crs": self.crs,
            "scale": self.scale,
            "map_to_grid_4x4": self.matrix().tolist(),
            "markers_used": self.markers_used,
            "markers_rejected": self.markers_rejected,
            "residuals_m": {str(k): v for k, v in self.residuals_m.items()},
            "rmse_m": self.rmse_m,
        }


def fit_map_to_grid(
    observed: dict[tuple[int, int], F64Array],
    control: ControlPoints,
    inlier_m: float = 0.25,
    iterations: int = 500,
    seed: int = 0,
) -> GeorefResult | None:
    """Robust similarity map→grid over marker corners (the core's ``fit_similarity``
    with RANSAC), per-marker residuals; None when fewer than 3 markers were located."""
    keys = [k for k in observed if k in control.points]
    if not keys:
        # control given as centres: compare marker centres
        centres: dict[tuple[int, int], list[F64Array]] = {}
        for (mid, _), p in observed.items():
            centres.setdefault((mid, -1), []).append(p)
        observed = {k: np.mean(v, axis=0) for k, v in centres.items() if len(v) == 4}
        keys = [k for k in observed if k in control.points]
    markers = sorted({k[0] for k in keys})
    if len(markers) < 3:
        return None
    src = np.array([observed[k] for k in keys])
    dst = np.array([control.points[k] for k in keys])
    ids = np.array([k[0] for k in keys])
    try:
        fit = fit_similarity(
            src,
            dst,
            with_scale=True,
            ransac=RansacOptions(inlier_m, iterations, seed, min_inliers=min(len(keys), 6)),
        )
    except GeometryError:
        return None
    norms = fit.residual_norms
    residuals = {int(m): float(np.sqrt(np.mean(norms[ids == m] ** 2))) for m in markers}
    used = sorted({int(m) for m in ids[fit.inliers]})
    sim = fit.transform
    return GeorefResult(
        scale=sim.scale,
        rotation=np.asarray(sim.rotation),
        translation=np.asarray(sim.translation),
        crs=control.crs,
        markers_used=used,
        markers_rejected=[int(m) for m in markers if m not in used],
        residuals_m=residuals,
        rmse_m=fit.rms,
    )
