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
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import SlamError
from mapping.slam.frame import F64Array, Pinhole
from smartmine.errors import GeodesyError
from smartmine.geodesy import LocalEnu, MineGrid
from smartmine.geometry import (
    GeometryError,
    RansacOptions,
    Similarity,
    fit_similarity,
    make_transform,
    matrix_to_rotvec,
    rotvec_to_matrix,
)

if TYPE_CHECKING:
    from mapping.slam.system import Slam

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
    except (UnicodeDecodeError, csv.Error) as err:
        raise SlamError(f"{path}: not a markers CSV ({err})") from None
    if not rows:
        raise SlamError(f"{path}: no markers")
    header = set(rows[0])
    id_col = "marker_id" if "marker_id" in header else "id" if "id" in header else None
    if id_col is None:
        raise SlamError(f"{path}: needs an 'id' or 'marker_id' column (has {sorted(header)})")
    cols: dict[str, str] = {}
    for axis, names in _COLUMNS.items():
        grid_first = frame == "auto" and "grid_x_m" in header
        # (sorted is stable: within each group the names keep their order)
        ordered = sorted(names, key=lambda n: n.startswith("grid") != grid_first)
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
        if not np.isfinite(points[key]).all():
            raise SlamError(f"{path}:{n}: marker {key[0]} has a NaN or infinite coordinate")
    return ControlPoints(points, crs, str(path))


GRID_SCALE_PROBE_M = 100.0
"""Half the side of the square of grid points the grid's scale is measured over."""


def grid_units_per_metre(grid: MineGrid, control: ControlPoints) -> float:
    """Horizontal grid units per ground metre at the surveyed markers.

    A mine grid is tied to a projected CRS (``grid.scale`` against its metres), and a
    projection's metres are not ground metres: UTM's point scale factor (0.9996 on the
    central meridian, more away from it) and the height above the ellipsoid put the
    default simulator site's grid at 0.99975 units per metre. SLAM measures ground
    metres, so this factor belongs in the map-to-grid transform, not in the map (where
    it would show as a 2.5 cm per 100 m stretch of the trajectory). Measured through
    WGS84 against a local tangent plane at the markers' centre, so it holds for any
    projection ``smartmine.geodesy`` can convert."""
    centre = np.mean(np.array(list(control.points.values())), axis=0)
    d = GRID_SCALE_PROBE_M
    probe = centre + np.array([[-d, 0, 0], [d, 0, 0], [0, -d, 0], [0, d, 0]], dtype=np.float64)
    try:
        lat, lon, alt = grid.to_wgs84(probe[:, 0], probe[:, 1], probe[:, 2])
        c_lat, c_lon, c_alt = grid.to_wgs84(centre[0], centre[1], centre[2])
        enu = LocalEnu(float(c_lat), float(c_lon), float(c_alt))
        east, north, _ = enu.from_wgs84(lat, lon, alt)
    except GeodesyError as err:
        raise SlamError(
            f"{control.source}: cannot place the markers' grid on Earth: {err}"
        ) from None
    ground = np.stack([east, north], axis=1)
    metres = [np.linalg.norm(ground[1] - ground[0]), np.linalg.norm(ground[3] - ground[2])]
    return float(2.0 * d / np.mean(metres))


def grid_of_control(control: ControlPoints, beside: Path | None = None) -> MineGrid | None:
    """The grid the control points are in, tied to a projected CRS: an EPSG code of the
    markers file (its coordinates are then projected, scale 1 to that CRS), else the
    ``mine_grid`` of a ``scene.json`` beside the markers file (the simulator writes one;
    a surveyor's grid definition in the same form, ``MineGrid.to_dict``). None when
    neither is known (the grid is then taken as metric)."""
    text = control.crs.strip().upper().removeprefix("EPSG:")
    if text.isdigit():
        return MineGrid.horizontal(int(text), 1.0, 0.0, [0.0, 0.0, 0.0], control.crs)
    scene = (beside or Path(control.source).parent) / "scene.json"
    if not scene.is_file():
        return None
    try:
        data = json.loads(scene.read_text(encoding="utf-8")).get("mine_grid")
        return MineGrid.from_dict(data) if data else None
    except (ValueError, AttributeError, TypeError, KeyError, GeodesyError) as err:
        raise SlamError(f"{scene}: mine_grid: {err}") from None


NEAR_SIGHTING_M = 5.0
"""Marker sightings up to this range are trusted: measured on the simulator's drift
(against its true camera poses) corners are located to 2-6 mm at 3-4 m and 1-2 cm at
4-5 m, but with 0.2-0.7 m spread and a bias beyond 5 m (a 0.3 m marker is then a few
dozen pixels)."""


def corner_sigma_m(range_m: Any, sigma_m: float = 0.01, per_m2: float = 0.0015) -> Any:
    """Noise of a located corner at ``range_m`` (a D435-like depth noise, ∝ z²)."""
    return sigma_m + per_m2 * np.asarray(range_m) ** 2


def locate_corners(quad_px: F64Array, depth_m: Any, cam: Pinhole) -> list[F64Array | None]:
    """Camera-frame 3-D corners of a detected marker: each corner's pixel ray meets the
    plane fitted to the depth inside the marker (hundreds of pixels, a trimmed least
    squares), which beats reading depth at the corners themselves (noisy, and on a
    turned plate biased toward its centre). Falls back to the median depth just inside
    each corner when the plate has too few depth pixels for a plane."""
    import cv2

    h, w = depth_m.shape
    centre = quad_px.mean(axis=0)
    inner = centre + 0.8 * (quad_px - centre)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(inner).astype(np.int32), 1)
    v, u = np.nonzero(mask)
    z = np.asarray(depth_m[v, u], dtype=np.float64)
    good = np.isfinite(z) & (z > 0)
    rays = cam.rays(quad_px)
    if good.sum() >= 30:
        z, u, v = z[good], u[good], v[good]
        pts = cam.rays(np.stack([u, v], axis=1)) * z[:, None]
        keep = np.ones(len(pts), dtype=bool)
        for _ in range(3):  # drop the pixels farthest off the plane (edges, noise tails)
            mean = pts[keep].mean(axis=0)
            normal = np.linalg.svd(pts[keep] - mean, full_matrices=False)[2][2]
            off = np.abs((pts - mean) @ normal)
            keep = off <= max(float(np.quantile(off[keep], 0.8)), 1e-4)
        denom = rays @ normal
        if np.all(np.abs(denom) > 1e-3):
            depth = (mean @ normal) / denom
            if np.all(depth > 0):
                return [rays[i] * depth[i] for i in range(4)]
    out: list[F64Array | None] = []
    for corner, (uu, vv) in enumerate(centre + 0.9 * (quad_px - centre)):
        ui, vi = round(uu), round(vv)
        patch = depth_m[max(vi - 2, 0) : vi + 3, max(ui - 2, 0) : ui + 3]
        patch = patch[np.isfinite(patch) & (patch > 0)]
        out.append(rays[corner] * float(np.median(patch)) if patch.size >= 5 else None)
    return out


def anchor_edges(
    observations: MarkerObservations,
    control_map: dict[tuple[int, int], F64Array],
    markers: set[int],
    poses: dict[int, F64Array],
    sigma_m: float = 0.01,
    sigma_per_m2: float = 0.0015,
    max_range_m: float = NEAR_SIGHTING_M,
) -> list[tuple[int, F64Array, F64Array]]:
    """Surveyed markers as pose-graph constraints. For each keyframe that saw at least
    three corners of ``markers`` (surveyed positions ``control_map`` in the map frame),
    one Gauss-Newton step of its corners onto their survey from its current pose gives
    the pose they ask for; the edge carries that pose and the information of the
    corners, linearised in the camera frame as Open3D's pose graph expects.

    Each corner's noise is ``sigma_m + sigma_per_m2 * z²`` in every direction. Measured
    on the simulator's drift against the truth, a corner's bearing is good to 0.4 px at
    3 m and 0.8 px at 5-10 m, its depth to 8 mm at 3-4 m, 5 cm at 5-6 m, 0.3 m at
    7-8 m; weighting the two directions apart (and using sightings to 7 or 10 m) made
    ATE worse on one seed of two (2.2 → 2.7-3.7 cm per 100 m).

    Why a step and not the rigid fit of the corners: a 0.3 m marker at 8 m fixes the
    camera's rotation about it only to tens of degrees, far outside the pose graph's
    small-angle model. The step, damped, moves only along the directions the corners
    determine; a keyframe whose step is still large
    (over 0.5 m or 5°) is left out this round. Call again after optimising (the caller's
    rounds re-linearise)."""
    by_kf: dict[int, list[tuple[F64Array, F64Array]]] = {}
    for kf_id, marker_id, corner, p, z in observations.sightings:
        q = control_map.get((marker_id, corner))
        if marker_id in markers and q is not None and z <= max_range_m and kf_id in poses:
            by_kf.setdefault(kf_id, []).append((p, q))
    edges = []
    for kf_id, pairs in sorted(by_kf.items()):
        if len(pairs) < 3:
            continue
        pose = poses[kf_id]
        info = np.zeros((6, 6))
        grad = np.zeros(6)
        for p, q in pairs:
            jac = np.hstack([-_skew(p), np.eye(3)])
            weight = 1.0 / corner_sigma_m(p[2], sigma_m, sigma_per_m2) ** 2
            residual = pose[:3, :3].T @ (pose[:3, :3] @ p + pose[:3, 3] - q)  # camera frame
            info += weight * jac.T @ jac
            grad += weight * jac.T @ residual
        # damped (Levenberg): directions the corners hardly fix take hardly any step
        damping = 1e-3 * float(np.trace(info)) / 6.0
        step = np.linalg.solve(info + damping * np.eye(6), -grad)
        if np.linalg.norm(step[3:]) > 0.5 or np.linalg.norm(step[:3]) > np.radians(5.0):
            continue
        measured = pose @ make_transform(rotvec_to_matrix(step[:3]), step[3:])
        edges.append((kf_id, measured, info))
    return edges


def _skew(p: F64Array) -> F64Array:
    return np.array([[0.0, -p[2], p[1]], [p[2], 0.0, -p[0]], [-p[1], p[0], 0.0]])


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
        for quad, marker_id in zip(corners, ids.reshape(-1), strict=True):
            located = locate_corners(quad.reshape(4, 2).astype(np.float64), depth_m, cam)
            for corner, p in enumerate(located):
                if p is not None:
                    self.sightings.append((kf_id, int(marker_id), corner, p, float(p[2])))
                    found += 1
        return found

    def map_points(
        self, poses: dict[int, F64Array], near_m: float = NEAR_SIGHTING_M
    ) -> dict[tuple[int, int], F64Array]:
        """Weighted mean map position of each (marker, corner) over its sightings: those
        within ``near_m`` when it has any (far ones are measured to be biased and ten
        times noisier), each weighted by 1/σ² of ``corner_sigma_m``."""
        acc: dict[tuple[int, int], list[tuple[F64Array, float]]] = {}
        for kf_id, marker_id, corner, p, z in self.sightings:
            if kf_id not in poses:
                continue
            world = poses[kf_id][:3, :3] @ p + poses[kf_id][:3, 3]
            acc.setdefault((marker_id, corner), []).append((world, z))
        out = {}
        for key, items in acc.items():
            pts = np.array([i[0] for i in items])
            ranges = np.array([i[1] for i in items])
            near = ranges <= near_m
            if near.any():
                pts, ranges = pts[near], ranges[near]
            w = 1.0 / corner_sigma_m(ranges) ** 2
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


@dataclass(frozen=True)
class AnchorOptions:
    """Surveyed markers as pose-graph constraints (see :func:`tie_to_markers`)."""

    enabled: bool = True
    grid_scale: float | None = None
    """Grid units per map (ground) metre: the grid's own scale against its CRS times the
    CRS's point scale factor at the site (:func:`grid_units_per_metre`; 0.99975 at the
    simulator's default site). None: 1 (a metric local grid), unless the pipeline knows
    the grid's tie to a CRS. Applied in the map-to-grid transform, so the map (and ATE
    in ground metres) stays metric."""
    sigma_m: float = 0.01
    """Corner noise at the camera, plus..."""
    sigma_per_m2: float = 0.0015
    """...this times the squared range (the depth noise of a D435-like sensor)."""
    readmit_m: float = 0.1
    readmit_per_m: float = 0.03
    """After each anchored optimisation, markers within ``readmit_m`` plus this much per
    metre to the nearest anchored marker of their survey are used: the first similarity
    fit rejects good markers that drift has moved far, and beyond the last anchored
    marker the map is extrapolated (measured on the simulator's drift: 0.34 m at 10 m).
    A marker moved after the survey stays out."""
    max_range_m: float = NEAR_SIGHTING_M
    rounds: int = 10
    calibrate_odometry: int = 2
    """Times the odometry's systematic error per metre travelled is measured on the
    anchored graph and taken out of every odometry edge (0: never). Where no marker
    is in sight, at the start before the first one, the map is the odometry's
    extrapolation: measured on the simulator's drift, its rotation drifts by about
    -0.04° per metre about the camera's x axis, the same on every seed and route,
    which put the first frames 8-13 cm off. Two passes met 2 cm per 100 m on 5 of 6
    runs (0 passes: 2 of 6); on the ``through`` route with the fixed lamps the start's
    error differs from the route's mean and ATE rose (2.07 to 2.68 cm per 100 m)."""
    converged_m: float = 0.002
    """Stop the rounds when no keyframe moved more than this in the last one."""
    # -- slamacc (issue 19) ------------------------------------------------------------
    tilt_sigma_deg: float = 1.0
    """Gravity from the accelerometer as a tilt (roll, pitch) constraint on every keyframe,
    this uncertain (0: off). Before the first marker in anchor range the map is the
    odometry's extrapolation, and one 0.3 m marker seen at 4 m fixes the camera's
    rotation about it only to degrees: measured on the simulator's ``through`` route the
    first ~8 m were pitched by up to 1° (first frame 6-25 cm off). Gravity holds the
    tilt everywhere; the accelerometer's bias is measured on the anchored keyframes
    first. 0.1° made Open3D's optimisation diverge (seed 7)."""
    tilt_window_s: float = 0.6
    """Half-width of the triangle window the specific force is averaged over, matched by
    the trajectory's second difference over the same span (the robot's acceleration)."""
    leave_one_out: bool = True
    """Also optimise once without each used marker and report its residual then: the
    honest check, since a marker in the graph is pulled onto its survey."""


def tie_to_markers(
    slam: Slam,
    observations: MarkerObservations,
    control: ControlPoints,
    options: AnchorOptions | None = None,
    accel: AccelSamples | None = None,
) -> tuple[GeorefResult | None, dict[str, Any]]:
    """Georeference the map: a robust similarity fit, then (``options.enabled``) the
    markers as absolute constraints in the keyframe pose graph, so drift between markers
    is corrected rather than averaged, and the final fit. Returns the fit and what the
    anchoring did (markers used, rounds, the fit before anchoring, leave-one-out
    residuals). The keyframe poses of ``slam`` are changed in place."""
    options = options or AnchorOptions()

    def poses() -> dict[int, F64Array]:
        return {k.kf_id: k.pose for k in slam.keyframes}

    def observed() -> dict[tuple[int, int], F64Array]:
        return observations.map_points(poses())

    first = fit_map_to_grid(observed(), control)
    info: dict[str, Any] = {"anchored": False}
    if first is None or not options.enabled:
        return first, info
    # the map is metric: drift must not set the scale the survey is brought in at (a
    # free scale lets the survey shrink or stretch to the drifted map, 0.3 % over 100 m
    # measured, and the graph then fights the odometry); grid_scale is the grid's own
    start = observed()
    keys = [k for k in start if k in control.points and k[0] in first.markers_used]
    grid_scale = options.grid_scale or 1.0
    rigid = fit_similarity(
        grid_scale * np.array([start[k] for k in keys]),
        np.array([control.points[k] for k in keys]),
        with_scale=False,
    ).transform
    to_map = Similarity(grid_scale, rigid.rotation, np.asarray(rigid.translation)).inverse()
    control_map = {k: to_map.apply(q) for k, q in control.points.items() if k[1] >= 0}
    if not control_map:
        info["reason"] = "control points are marker centres: no corners to anchor poses"
        return first, info
    use = set(first.markers_used)
    edges: list[tuple[int, F64Array, F64Array]] = []
    rounds = 0
    bias_per_m = np.zeros(6)
    up_map = np.asarray(to_map.rotation)[:, 2]  # the grid's z (height) in the map
    tilting = accel is not None and options.tilt_sigma_deg > 0 and len(accel.stamps_ns) > 0
    accel_bias: F64Array | None = None
    tilts: list[tuple[int, F64Array, F64Array]] = []
    passes = max(options.calibrate_odometry, 1 if tilting else 0) + 1
    for calibration in range(passes):
        if 0 < calibration <= options.calibrate_odometry:
            # the odometry's systematic error, measured on the anchored graph
            bias = odometry_bias_per_m(slam)
            correct_odometry(slam, bias)
            bias_per_m += bias
        for _ in range(options.rounds):
            if tilting and calibration and accel is not None:
                # gravity, once the markers have levelled the anchored stretches
                forces = keyframe_specific_forces(slam, accel, options.tilt_window_s)
                if accel_bias is None:
                    accel_bias = accelerometer_bias(slam, forces, up_map, {e[0] for e in edges})
                tilts = tilt_edges(
                    slam, forces, up_map, accel_bias, math.radians(options.tilt_sigma_deg)
                )
            rounds += 1
            edges = anchor_edges(
                observations,
                control_map,
                use,
                poses(),
                options.sigma_m,
                options.sigma_per_m2,
                options.max_range_m,
            )
            slam.anchors = edges + tilts
            before = np.array([k.pose[:3, 3] for k in slam.keyframes])
            slam.optimise(thorough=True)
            moved = float(np.abs(np.array([k.pose[:3, 3] for k in slam.keyframes]) - before).max())
            residual = _marker_residuals(observed(), control_map)
            now = _admissible(residual, control_map, use, options)
            # each round re-linearises the anchors: go on while the keyframes still move
            if now == use and moved < options.converged_m:
                break
            if len(now) >= 3:
                use = now
    # the anchors have pulled the map onto the survey as brought in by ``to_map``: that
    # transform is the georeference now (a refit would let the markers left out, far off
    # at an unanchored end, tilt the whole map)
    residual = _marker_residuals(observed(), control_map)
    used = sorted(m for m in use if m in residual)
    corner_sq = [
        float(np.sum((p - control_map[k]) ** 2))
        for k, p in observed().items()
        if k in control_map and k[0] in use
    ]
    to_grid = to_map.inverse()
    final = GeorefResult(
        scale=to_grid.scale,
        rotation=np.asarray(to_grid.rotation),
        translation=np.asarray(to_grid.translation),
        crs=control.crs,
        markers_used=used,
        markers_rejected=sorted(m for m in residual if m not in use),
        residuals_m={m: to_grid.scale * r for m, r in sorted(residual.items())},
        rmse_m=to_grid.scale * float(np.sqrt(np.mean(corner_sq))) if corner_sq else math.nan,
    )
    info.update(
        anchored=bool(edges),
        markers_anchored=sorted(use),
        anchor_keyframes=len(edges),
        rounds=rounds,
        fit_before_anchoring=first.summary(),
        odometry_bias_per_m={
            "rotation_deg": np.degrees(bias_per_m[:3]).tolist(),
            "translation_mm": (1000.0 * bias_per_m[3:]).tolist(),
        },
        tilt_keyframes=len(tilts),
        accelerometer_bias_m_s2=None if accel_bias is None else accel_bias.tolist(),
    )
    if options.leave_one_out:
        info["leave_one_out_m"] = _leave_one_out(slam, observations, control_map, use, options)
    return final, info


GRAVITY_M_S2 = 9.80665


@dataclass
class AccelSamples:
    """Accelerometer readings (specific force, m/s²) rotated into the camera frame."""

    stamps_ns: npt.NDArray[np.int64]
    force_cam: F64Array


def keyframe_specific_forces(
    slam: Slam, accel: AccelSamples, half_s: float
) -> dict[int, tuple[F64Array, F64Array]]:
    """Per keyframe: the triangle-weighted mean specific force (camera frame) over
    ±``half_s`` and the world acceleration over the same window (the tracked positions'
    second difference, which is exactly that triangle-weighted mean)."""
    stamps_ns, poses = slam.trajectory()
    t_s, pos = stamps_ns * 1e-9, poses[:, :3, 3]
    a_s = accel.stamps_ns * 1e-9
    out = {}
    for kf in slam.keyframes:
        tk = kf.stamp_ns * 1e-9
        if not len(t_s) or tk - half_s < t_s[0] or tk + half_s > t_s[-1]:
            continue
        near = np.abs(a_s - tk) < half_s
        if near.sum() < 5:
            continue
        weight = half_s - np.abs(a_s[near] - tk)
        force = (accel.force_cam[near] * weight[:, None]).sum(axis=0) / weight.sum()
        p = [
            np.array([np.interp(x, t_s, pos[:, i]) for i in range(3)])
            for x in (tk - half_s, tk, tk + half_s)
        ]
        out[kf.kf_id] = (force, (p[0] - 2.0 * p[1] + p[2]) / half_s**2)
    return out


def accelerometer_bias(
    slam: Slam,
    forces: dict[int, tuple[F64Array, F64Array]],
    up_map: F64Array,
    anchored: set[int],
) -> F64Array:
    """The accelerometer's bias (camera frame): the median of the measured specific force
    less the one the anchored keyframes' poses predict."""
    by_id = {k.kf_id: k.pose for k in slam.keyframes}
    diffs = [
        forces[kf][0] - by_id[kf][:3, :3].T @ (forces[kf][1] + GRAVITY_M_S2 * up_map)
        for kf in anchored
        if kf in forces
    ]
    return np.median(np.array(diffs), axis=0) if diffs else np.zeros(3)


def tilt_edges(
    slam: Slam,
    forces: dict[int, tuple[F64Array, F64Array]],
    up_map: F64Array,
    bias_cam: F64Array,
    sigma_rad: float,
) -> list[tuple[int, F64Array, F64Array]]:
    """Gravity as anchors: each keyframe's pose turned so that its measured up (specific
    force less bias and its own acceleration) is the map's up, with information only on
    the two rotations that tilt it (none about up, none on position)."""
    by_id = {k.kf_id: k.pose for k in slam.keyframes}
    edges = []
    for kf, (force, acc) in forces.items():
        pose = by_id[kf]
        up_measured = force - bias_cam - pose[:3, :3].T @ acc
        norm = float(np.linalg.norm(up_measured))
        if not 0.5 * GRAVITY_M_S2 < norm < 1.5 * GRAVITY_M_S2:
            continue  # a knock or a free fall: no gravity to read
        u_meas, u_pred = up_measured / norm, pose[:3, :3].T @ up_map
        axis = np.cross(u_meas, u_pred)
        angle = math.atan2(float(np.linalg.norm(axis)), float(u_meas @ u_pred))
        turn = rotvec_to_matrix(axis / max(float(np.linalg.norm(axis)), 1e-12) * angle)
        info = np.zeros((6, 6))
        info[:3, :3] = (np.eye(3) - np.outer(u_pred, u_pred)) / sigma_rad**2
        edges.append((kf, make_transform(pose[:3, :3] @ turn, pose[:3, 3]), info))
    return edges


def odometry_bias_per_m(slam: Slam, min_edges: int = 20) -> F64Array:
    """The odometry edges' systematic error per metre travelled, as a twist (rotation
    vector, translation; in the edge's frame): the robust, length-weighted mean of the
    twist that takes each edge onto its keyframes' current relative pose. Zero with
    fewer than ``min_edges`` edges."""
    errors, steps = [], []
    by_id = {k.kf_id: k.pose for k in slam.keyframes}
    for source, target, T_target_source, _, uncertain in slam.edges:
        step = float(np.linalg.norm(T_target_source[:3, 3]))
        if uncertain or abs(source - target) != 1 or step < 0.05:
            continue
        current = np.linalg.inv(by_id[target]) @ by_id[source]
        error = np.linalg.inv(T_target_source) @ current
        errors.append(np.concatenate([matrix_to_rotvec(error[:3, :3]), error[:3, 3]]) / step)
        steps.append(step)
    if len(errors) < min_edges:
        return np.zeros(6)
    per_m, weight = np.array(errors), np.array(steps)
    median = np.median(per_m, axis=0)
    spread = 1.4826 * np.median(np.abs(per_m - median), axis=0) + 1e-12
    keep = np.all(np.abs(per_m - median) < 3.0 * spread, axis=1)  # not the failed edges
    return np.asarray(
        (per_m[keep] * weight[keep, None]).sum(axis=0) / weight[keep].sum(), dtype=np.float64
    )


def correct_odometry(slam: Slam, bias_per_m: F64Array) -> None:
    """Take ``bias_per_m`` (see :func:`odometry_bias_per_m`) out of every odometry edge
    of ``slam``, in proportion to its length."""
    for n, (source, target, T, info, uncertain) in enumerate(slam.edges):
        step = float(np.linalg.norm(T[:3, 3]))
        if uncertain or abs(source - target) != 1:
            continue
        twist = bias_per_m * step
        fix = make_transform(rotvec_to_matrix(twist[:3]), twist[3:])
        slam.edges[n] = (source, target, T @ fix, info, uncertain)


def _admissible(
    residual: dict[int, float],
    control_map: dict[tuple[int, int], F64Array],
    anchored: set[int],
    options: AnchorOptions,
) -> set[int]:
    """Markers close enough to their survey to anchor (see ``AnchorOptions.readmit_m``)."""
    centres: dict[int, list[F64Array]] = {}
    for (marker, _), q in control_map.items():
        centres.setdefault(marker, []).append(q)
    centre = {m: np.mean(v, axis=0) for m, v in centres.items()}
    out = set()
    for marker, r in residual.items():
        others = [centre[a] for a in anchored if a != marker and a in centre]
        gap = min((float(np.linalg.norm(centre[marker] - c)) for c in others), default=0.0)
        if r <= options.readmit_m + options.readmit_per_m * gap:
            out.add(marker)
    return out


def _marker_residuals(
    observed: dict[tuple[int, int], F64Array], control_map: dict[tuple[int, int], F64Array]
) -> dict[int, float]:
    """RMS corner distance of each marker to its survey (both in the map frame)."""
    per: dict[int, list[float]] = {}
    for key, p in observed.items():
        if key in control_map:
            per.setdefault(key[0], []).append(float(np.sum((p - control_map[key]) ** 2)))
    return {m: float(np.sqrt(np.mean(v))) for m, v in per.items()}


def _leave_one_out(
    slam: Slam,
    observations: MarkerObservations,
    control_map: dict[tuple[int, int], F64Array],
    use: set[int],
    options: AnchorOptions,
) -> dict[str, float]:
    """Each used marker's residual when the graph is optimised without it."""
    poses = [k.pose.copy() for k in slam.keyframes]
    by_id = {k.kf_id: k.pose for k in slam.keyframes}
    anchors = slam.anchors
    out = {}
    for marker in sorted(use):
        slam.anchors = anchor_edges(
            observations,
            control_map,
            use - {marker},
            by_id,
            options.sigma_m,
            options.sigma_per_m2,
            options.max_range_m,
        )
        slam.optimise()
        current = {k.kf_id: k.pose for k in slam.keyframes}
        residual = _marker_residuals(observations.map_points(current), control_map).get(marker)
        if residual is not None:
            out[str(marker)] = residual
        for kf, pose in zip(slam.keyframes, poses, strict=True):
            kf.pose = pose.copy()
    slam.anchors = anchors
    return out
