"""Facade, corridor and drift planners (the survey planner is drone_missions.survey).

- **facade**: oblique passes along a pit wall or bench face: the wall's line offset by
  the stand-off distance, passes stacked from ``bottom`` to ``top`` by the face footprint
  and side overlap, photos every trigger distance along, the vehicle facing the face and
  the gimbal pitched (DO_GIMBAL_MANAGER_PITCHYAW).
- **corridor**: QGroundControl's CorridorScan along a haul-road polyline: ceil(width /
  spacing) parallel transects, offset symmetrically, turnarounds, lawnmower order.
- **drift**: GPS-denied waypoints in the local mine frame (ENU metres, MAV_FRAME_LOCAL_ENU)
  along a drift's centre line, from a CSV or found in a point cloud / mesh of the drift,
  pushed away from the walls until every waypoint and leg keeps the clearance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from calibration.camera_model import SensorSpec
from drone_missions import qgc
from drone_missions.errors import MissionError
from drone_missions.plan import (
    CMD_GIMBAL_PITCHYAW,
    CMD_RTL,
    CMD_TAKEOFF,
    CMD_WAYPOINT,
    FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_LOCAL_ENU,
    ComplexItem,
    MissionEntry,
    MissionItem,
    Plan,
    camera_trigger_distance,
    check_latlon,
    check_polyline,
    command,
    require_number,
    waypoint,
)

F64 = npt.NDArray[np.float64]
LatLon = tuple[float, float]


# -- polyline helpers (local metric frame) -------------------------------------------------
def offset_polyline(xy: F64, distance_m: float) -> F64:
    """The polyline moved ``distance_m`` to its left (negative: right), mitred corners."""
    pts = np.asarray(xy, dtype=np.float64)
    d = np.diff(pts, axis=0)
    lengths = np.linalg.norm(d, axis=1)
    if np.any(lengths < 1e-9):
        raise MissionError("the polyline has repeated points")
    t = d / lengths[:, None]
    n = np.stack([-t[:, 1], t[:, 0]], axis=1)  # left normals
    out = np.empty_like(pts)
    out[0] = pts[0] + n[0] * distance_m
    out[-1] = pts[-1] + n[-1] * distance_m
    for i in range(1, len(pts) - 1):
        bis = n[i - 1] + n[i]
        norm = np.linalg.norm(bis)
        if norm < 1e-9:
            out[i] = pts[i] + n[i] * distance_m
            continue
        bis /= norm
        cos_half = max(float(bis @ n[i]), 0.25)  # limit the mitre at sharp corners
        out[i] = pts[i] + bis * distance_m / cos_half
    return out


def _plane(origin: LatLon) -> Any:
    from smartmine.geodesy import LocalEnu

    return LocalEnu(origin[0], origin[1], 0.0)


def _to_xy(enu: Any, pts: Sequence[LatLon]) -> F64:
    lat = np.array([p[0] for p in pts])
    lon = np.array([p[1] for p in pts])
    e, n, _ = enu.from_wgs84(lat, lon, np.zeros_like(lat))
    return np.stack([e, n], axis=1)


def _to_ll(enu: Any, xy: F64) -> list[LatLon]:
    lat, lon, _ = enu.to_wgs84(xy[:, 0], xy[:, 1], np.zeros(len(xy)))
    return [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]


def _heading_deg(a: F64, b: F64) -> float:
    """Compass heading (deg from north, clockwise) from a to b in ENU."""
    return math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360.0


# -- facade ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FacadeRequest:
    line: tuple[LatLon, ...]
    camera: SensorSpec
    standoff_m: float
    bottom_m: float
    top_m: float
    front_overlap: float = 0.8
    side_overlap: float = 0.7
    gimbal_pitch_deg: float = -20.0
    side: str = "left"
    home: LatLon | None = None
    speed_m_s: float = 3.0

    def __post_init__(self) -> None:
        check_polyline(self.line, "facade line")
        require_number(self.standoff_m, "--standoff-m", low=0.0, high=10_000.0, low_open=True)
        bottom = require_number(self.bottom_m, "--bottom-m", low=-10_000.0, high=10_000.0)
        top = require_number(self.top_m, "--top-m", low=-10_000.0, high=10_000.0)
        if top < bottom:
            raise MissionError(f"--top-m {top:g} is below --bottom-m {bottom:g}")
        _overlaps(self.front_overlap, self.side_overlap)
        require_number(self.gimbal_pitch_deg, "--gimbal-pitch-deg", low=-90.0, high=90.0)
        if self.side not in ("left", "right"):
            raise MissionError(f"--side {self.side!r}: expected left or right")
        require_number(self.speed_m_s, "speed (m/s)", low=0.0, low_open=True)
        if self.home is not None:
            check_latlon(self.home[0], self.home[1], "--home")


def _overlaps(front: float, side: float) -> None:
    require_number(front, "--front-overlap", low=0.0, high=1.0, high_open=True)
    require_number(side, "--side-overlap", low=0.0, high=1.0, high_open=True)


def plan_facade(req: FacadeRequest) -> tuple[Plan, dict[str, float]]:
    """Passes along a face at ``standoff_m``, from ``bottom_m`` to ``top_m`` above home."""
    cam = req.camera
    # the face is seen at the stand-off distance along the line of sight
    slant = req.standoff_m / max(math.cos(math.radians(req.gimbal_pitch_deg)), 0.2)
    along = slant * cam.sensor_width_mm / cam.focal_length_mm  # landscape: width along
    vertical = slant * cam.sensor_height_mm / cam.focal_length_mm
    trigger = along * (1.0 - req.front_overlap)
    step = vertical * (1.0 - req.side_overlap)
    n_passes = max(1, math.ceil((req.top_m - req.bottom_m) / step - 1e-9) + 1)
    heights = np.linspace(req.bottom_m, req.top_m, n_passes)
    home = req.home if req.home is not None else req.line[0]
    enu = _plane(home)
    wall = _to_xy(enu, req.line)
    sign = 1.0 if req.side == "left" else -1.0
    path = offset_polyline(wall, sign * req.standoff_m)
    entries: list[MissionEntry] = [
        waypoint(*home, float(heights[0]), command=CMD_TAKEOFF),
        command(CMD_GIMBAL_PITCHYAW, req.gimbal_pitch_deg, 0.0, math.nan, math.nan, 0, 0, 0),
    ]
    for k, h in enumerate(heights):
        xy = path if k % 2 == 0 else path[::-1]
        wall_xy = wall if k % 2 == 0 else wall[::-1]
        ll = _to_ll(enu, xy)
        for i, (lat, lon) in enumerate(ll):
            # face the wall: heading from the flight point to its wall point
            yaw = _heading_deg(xy[i], wall_xy[i])
            entries.append(waypoint(lat, lon, float(h), yaw_deg=yaw))
            if i == 0:
                entries.append(camera_trigger_distance(trigger))
        entries.append(camera_trigger_distance(0.0, False))
    entries.append(command(CMD_RTL))
    plan = Plan(
        entries=tuple(entries),
        home=(home[0], home[1], 0.0),
        hover_speed_m_s=req.speed_m_s,
        global_altitude_mode=1,
        source="smartmine plan facade",
    )
    info = {
        "passes": float(n_passes),
        "pass_spacing_m": float(heights[1] - heights[0]) if n_passes > 1 else 0.0,
        "trigger_distance_m": trigger,
        "footprint_along_m": along,
        "footprint_vertical_m": vertical,
        "gsd_cm_px": slant
        * cam.sensor_width_mm
        * 100.0
        / (cam.image_width_px * cam.focal_length_mm),
    }
    return plan, info


# -- corridor (QGC CorridorScan) --------------------------------------------------------------
@dataclass(frozen=True)
class CorridorRequest:
    line: tuple[LatLon, ...]
    camera: SensorSpec
    width_m: float
    altitude_agl_m: float | None = None
    gsd_cm_px: float | None = None
    front_overlap: float = 0.8
    side_overlap: float = 0.7
    turnaround_m: float = 10.0
    home: LatLon | None = None

    def __post_init__(self) -> None:
        check_polyline(self.line, "corridor line")
        require_number(self.width_m, "--width-m", low=0.0, high=100_000.0, low_open=True)
        if (self.altitude_agl_m is None) == (self.gsd_cm_px is None):
            raise MissionError("give exactly one of --altitude-agl-m and --gsd-cm")
        if self.altitude_agl_m is not None:
            require_number(self.altitude_agl_m, "--altitude-agl-m", low=0.0, high=10_000.0,
                           low_open=True)  # fmt: skip
        if self.gsd_cm_px is not None:
            require_number(self.gsd_cm_px, "--gsd-cm", low=0.0, high=10_000.0, low_open=True)
        _overlaps(self.front_overlap, self.side_overlap)
        require_number(self.turnaround_m, "--turnaround-m", low=0.0, high=10_000.0)
        if self.home is not None:
            check_latlon(self.home[0], self.home[1], "--home")


def corridor_transects(
    line: Sequence[LatLon], width_m: float, spacing_m: float, turnaround_m: float
) -> list[list[qgc.TransectPoint]]:
    """QGC's CorridorScan transects: ceil(width / spacing) offsets of the polyline, from
    +half width inwards by the spacing, extended by the turnaround, lawnmower order."""
    count = max(1, math.ceil(width_m / spacing_m)) if width_m > 0 else 1
    enu = _plane(line[0])
    xy = _to_xy(enu, line)
    half = width_m / 2.0
    position = spacing_m / 2.0
    out: list[list[qgc.TransectPoint]] = []
    for i in range(count):
        offset = 0.0 if count == 1 else half - position
        position += spacing_m
        pts = offset_polyline(xy, offset)
        if turnaround_m > 0:
            t0 = (pts[0] - pts[1]) / np.linalg.norm(pts[0] - pts[1])
            t1 = (pts[-1] - pts[-2]) / np.linalg.norm(pts[-1] - pts[-2])
            pts = np.vstack([pts[0] + t0 * turnaround_m, pts, pts[-1] + t1 * turnaround_m])
        if i % 2:
            pts = pts[::-1]
        ll = _to_ll(enu, pts)
        kinds: list[qgc.CoordType] = ["interior"] * len(ll)
        first, last = (1, len(ll) - 2) if turnaround_m > 0 else (0, len(ll) - 1)
        kinds[first], kinds[last] = "entry", "exit"
        if turnaround_m > 0:
            kinds[0] = kinds[-1] = "turnaround"
        out.append([qgc.TransectPoint(a, b, k) for (a, b), k in zip(ll, kinds, strict=True)])
    return out


def plan_corridor(req: CorridorRequest) -> tuple[Plan, qgc.CameraCalc, int]:
    calc = qgc.camera_calc(
        req.camera,
        distance_m=req.altitude_agl_m,
        gsd_cm_px=req.gsd_cm_px,
        front_overlap=req.front_overlap,
        side_overlap=req.side_overlap,
    )
    transects = corridor_transects(req.line, req.width_m, calc.line_spacing_m, req.turnaround_m)
    items = qgc.transect_items(transects, calc.distance_m, calc.trigger_distance_m)
    home = req.home if req.home is not None else req.line[0]
    definition = {
        "CorridorWidth": req.width_m,
        "EntryPoint": 0,
        # QGC >= 4.0 (CorridorScan version 2): the CameraCalc lives inside the
        # TransectStyleComplexItem, whose loader requires it and these keys
        "TransectStyleComplexItem": {
            "CameraCalc": qgc.camera_calc_json(
                req.camera,
                calc,
                value_set_is_distance=req.altitude_agl_m is not None,
                relative=True,
            ),
            "CameraShots": qgc.camera_shots(transects, calc.trigger_distance_m),
            "CameraTriggerInTurnAround": True,
            "FollowTerrain": False,
            "HoverAndCapture": False,
            "Items": [],
            "Refly90Degrees": False,
            "TurnAroundDistance": req.turnaround_m,
            "VisualTransectPoints": [[p.lat_deg, p.lon_deg] for t in transects for p in t],
            "version": 1,
        },
        "complexItemType": "CorridorScan",
        "polyline": [list(p) for p in req.line],
        "type": "ComplexItem",
        "version": 2,
    }
    entries: list[MissionEntry] = [
        waypoint(*home, calc.distance_m, command=CMD_TAKEOFF),
        ComplexItem("CorridorScan", tuple(items), definition),
        waypoint(*home, calc.distance_m),
        command(CMD_RTL),
    ]
    plan = Plan(
        entries=tuple(entries),
        home=(home[0], home[1], 0.0),
        global_altitude_mode=1,
        source="smartmine plan corridor",
    )
    return plan, calc, len(transects)


# -- drift (GPS-denied, local frame) -----------------------------------------------------------
def read_centerline_csv(path: Path) -> F64:
    """x, y, z (m, local mine frame, ENU) per line; a header line and commas or spaces."""
    rows = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise MissionError(f"cannot read {path}: {err.strerror or err}") from None
    for n, line in enumerate(text.splitlines(), start=1):
        cells = [c for c in line.replace(",", " ").split() if c]
        if not cells or line.lstrip().startswith("#"):
            continue
        try:
            values = [float(c) for c in cells[:3]]
        except ValueError:
            if n == 1:
                continue  # header
            raise MissionError(f"{path}: line {n} is not x,y,z numbers") from None
        if len(values) < 2:
            raise MissionError(f"{path}: line {n} needs x, y (and z)")
        if not all(math.isfinite(v) for v in values):
            raise MissionError(f"{path}: line {n} has a value that is not finite: {line.strip()!r}")
        rows.append(values if len(values) == 3 else [*values, 0.0])
    if len(rows) < 2:
        raise MissionError(f"{path}: a centre line needs at least 2 points")
    if len({tuple(r) for r in rows}) < 2:
        raise MissionError(f"{path}: the centre line's points are all the same")
    return np.array(rows, dtype=np.float64)


def read_map_points(path: Path) -> F64:
    """Points of a PLY point cloud, or the vertices of a PLY mesh densified by sampling."""
    import open3d as o3d

    if not path.exists():
        raise MissionError(f"{path}: no such map file")
    mesh = o3d.io.read_triangle_mesh(str(path))
    if len(mesh.triangles) > 0:
        area = mesh.get_surface_area()
        n = int(min(max(area / 0.01, 10_000), 2_000_000))  # ~10 cm spacing
        pts = np.asarray(mesh.sample_points_uniformly(n).points, dtype=np.float64)
    else:
        pts = np.asarray(o3d.io.read_point_cloud(str(path)).points, dtype=np.float64)
    if len(pts) < 10:
        raise MissionError(f"{path}: holds no usable points")
    return pts


def resample(points: F64, spacing_m: float) -> F64:
    d = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(d)])
    n = max(2, math.ceil(s[-1] / spacing_m) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, k]) for k in range(3)], axis=1)


def _shifted(mask: npt.NDArray[np.bool_], dx: int, dy: int) -> npt.NDArray[np.bool_]:
    """``out[i, j] = mask[i + dx, j + dy]`` (False beyond the edges)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    src = mask[max(dx, 0) : h + min(dx, 0), max(dy, 0) : w + min(dy, 0)]
    out[max(-dx, 0) : h + min(-dx, 0), max(-dy, 0) : w + min(-dy, 0)] = src
    return out


def centerline_from_map(
    points: F64,
    start: Sequence[float] | None,
    goal: Sequence[float] | None,
    cell_m: float = 0.2,
    max_width_m: float = 8.0,
) -> F64:
    """The drift's centre line in a horizontal slice of the map: free cells far from
    the walls, the path between start and goal that keeps farthest from them."""
    from scipy import ndimage
    from scipy.sparse import csgraph, csr_matrix

    floor = float(np.percentile(points[:, 2], 5))
    ceiling = float(np.percentile(points[:, 2], 95))
    band = (points[:, 2] > floor + 0.3 * (ceiling - floor)) & (
        points[:, 2] < floor + 0.7 * (ceiling - floor)
    )
    walls = points[band]
    if len(walls) < 10:
        raise MissionError("the map has too few wall points between floor and roof")
    lo = walls[:, :2].min(axis=0) - 1.0
    hi = walls[:, :2].max(axis=0) + 1.0
    shape = np.ceil((hi - lo) / cell_m).astype(int) + 1
    occ = np.zeros(shape, dtype=bool)
    idx = np.floor((walls[:, :2] - lo) / cell_m).astype(int)
    occ[idx[:, 0], idx[:, 1]] = True
    occ = ndimage.binary_dilation(occ, iterations=1)
    dist = ndimage.distance_transform_edt(~occ) * cell_m
    # inside the drift: free cells with a wall on both sides along some direction (within
    # a drift's width), in the piece connected to the start; open ends do not leak out
    reach = math.ceil(max_width_m / cell_m)
    inside = np.zeros(shape, dtype=bool)
    free = ~occ
    for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
        fwd = np.zeros(shape, dtype=bool)
        back = np.zeros(shape, dtype=bool)
        for k in range(1, reach + 1):
            fwd |= _shifted(occ, k * dx, k * dy)
            back |= _shifted(occ, -k * dx, -k * dy)
        inside |= fwd & back
    inside &= free
    if not inside.any():
        raise MissionError("no free space between walls found in the map's wall slice")
    labels, _ = ndimage.label(inside)

    def cell_of(p: Sequence[float] | None, fallback: str) -> int:
        if p is None:
            cells = np.argwhere(inside)
            if fallback == "start":
                origin = np.floor((np.zeros(2) - lo) / cell_m)
                k = int(np.argmin(np.linalg.norm(cells - origin, axis=1)))
            else:
                return -1
        else:
            c = np.floor((np.asarray(p[:2], dtype=float) - lo) / cell_m).astype(int)
            cells = np.argwhere(inside)
            k = int(np.argmin(np.linalg.norm(cells - c, axis=1)))
        return int(np.ravel_multi_index(tuple(cells[k]), shape))

    s = cell_of(start, "start")
    inside &= labels == labels.ravel()[s]
    flat_inside = inside.ravel()
    ids = np.flatnonzero(flat_inside)
    cost = 1.0 / np.maximum(dist.ravel(), cell_m) ** 2
    rows, cols, weights = [], [], []
    for di, dj in ((1, 0), (0, 1), (1, 1), (1, -1)):
        a = np.array(np.unravel_index(ids, shape)).T
        b = a + np.array([di, dj])
        ok = (b[:, 0] < shape[0]) & (b[:, 1] >= 0) & (b[:, 1] < shape[1])
        a, b = a[ok], b[ok]
        bi = np.ravel_multi_index((b[:, 0], b[:, 1]), shape)
        ai = np.ravel_multi_index((a[:, 0], a[:, 1]), shape)
        keep = flat_inside[bi]
        step = math.hypot(di, dj) * cell_m
        rows.append(ai[keep])
        cols.append(bi[keep])
        weights.append(step * 0.5 * (cost[ai[keep]] + cost[bi[keep]]))
    size = int(np.prod(shape))
    graph = csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), (size, size)
    )
    dists, pred = csgraph.dijkstra(graph, directed=False, indices=s, return_predecessors=True)
    g = cell_of(goal, "goal")
    if g < 0:  # no goal: the far end of the drift (highest path cost from the start)
        g = int(np.argmax(np.where(np.isfinite(dists), dists, -1.0)))
    path = [g]
    while path[-1] != s:
        p = int(pred[path[-1]])
        if p < 0:
            raise MissionError("start and goal are not connected inside the drift")
        path.append(p)
    cells = np.array(np.unravel_index(np.array(path[::-1]), shape)).T
    xy = lo + (cells + 0.5) * cell_m
    z = np.full(len(xy), floor + 0.5 * (ceiling - floor))
    return np.column_stack([xy, z])


def keep_clearance(
    waypoints: F64, cloud: F64, clearance_m: float, iterations: int = 30
) -> tuple[F64, float]:
    """Waypoints pushed away from the nearest map points until each keeps the clearance;
    returns them and the smallest clearance along every leg (sampled every 5 cm)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(cloud)
    pts = waypoints.copy()
    for _ in range(iterations):
        d, i = tree.query(pts)
        low = d < clearance_m * 1.05
        if not low.any():
            break
        away = pts[low] - cloud[i[low]]
        norm = np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
        pts[low] += away / norm * (clearance_m * 1.05 - d[low])[:, None]
    samples = [pts[:1]]
    for a, b in itertools.pairwise(pts):
        n = max(1, math.ceil(np.linalg.norm(b - a) / 0.05))
        samples.append(a + (b - a) * (np.arange(1, n + 1) / n)[:, None])
    dmin = float(tree.query(np.concatenate(samples))[0].min())
    return pts, dmin


def drift_plan(points: F64, hold_s: float = 0.0) -> Plan:
    """Waypoints in the local mine frame (MAV_FRAME_LOCAL_ENU: x east, y north, z up, m)."""
    entries = tuple(
        MissionItem(
            CMD_WAYPOINT, FRAME_LOCAL_ENU, (hold_s, 0.0, 0.0, None, float(x), float(y), float(z))
        )
        for x, y, z in points
    )
    return Plan(entries=entries, home=None, source="smartmine plan drift", file_format="qgc-plan")


def drift_points(plan: Plan) -> F64:
    """The local ENU waypoints of a drift plan (for OffboardFlight)."""
    pts = [
        [float(it.params[4] or 0), float(it.params[5] or 0), float(it.params[6] or 0)]
        for it in plan.mission_items()
        if it.frame == FRAME_LOCAL_ENU and it.command == CMD_WAYPOINT
    ]
    if not pts:
        raise MissionError(f"{plan.source}: no local-frame (MAV_FRAME_LOCAL_ENU) waypoints")
    return np.array(pts, dtype=np.float64)


__all__ = [
    "FRAME_GLOBAL_RELATIVE_ALT",
    "CorridorRequest",
    "FacadeRequest",
    "centerline_from_map",
    "corridor_transects",
    "drift_plan",
    "drift_points",
    "keep_clearance",
    "offset_polyline",
    "plan_corridor",
    "plan_facade",
]
