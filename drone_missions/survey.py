"""Survey planning: polygon + camera + overlaps -> a QGroundControl-compatible mission.

The transects, trigger distance and items are QGroundControl's (``drone_missions.qgc``),
so the plan opens in QGC as the Survey it would have made itself. On top of QGC:
``angle="auto"`` picks the transect angle with the fewest transects (then the shortest
route), the entry corner is chosen for the shortest route from and back to home, and
with a DEM the whole route (take-off climb, transects, turns, return) follows the
terrain at the requested height above ground within the vehicle's climb and descent
rates (frame GLOBAL, AMSL altitudes; QGC's "FollowTerrain").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from calibration.camera_model import SensorSpec
from drone_missions import qgc
from drone_missions.dem import Dem
from drone_missions.errors import MissionError
from drone_missions.plan import (
    CMD_CHANGE_SPEED,
    CMD_RTL,
    CMD_TAKEOFF,
    CMD_WAYPOINT,
    FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT,
    ComplexItem,
    FencePolygon,
    MissionEntry,
    MissionItem,
    Plan,
    check_latlon,
    check_polygon,
    command,
    require_number,
    waypoint,
)
from drone_missions.terrain import TerrainFollowing, follow_terrain

LatLon = tuple[float, float]


@dataclass(frozen=True)
class SurveyRequest:
    polygon: tuple[LatLon, ...]
    camera: SensorSpec
    altitude_agl_m: float | None = None
    gsd_cm_px: float | None = None
    front_overlap: float = 0.8
    side_overlap: float = 0.7
    angle_deg: float | Literal["auto"] = "auto"
    crosshatch: bool = False
    turnaround_m: float = 10.0
    home: LatLon | None = None
    """Launch point; the polygon's first vertex if not given."""
    speed_m_s: float = 5.0
    max_climb_m_s: float = 3.0
    max_descent_m_s: float = 2.0
    min_speed_m_s: float = 1.0
    """Slowest speed on steep ground (terrain following); 0: never slow down."""
    max_agl_m: float = 120.0
    """Terrain following slows down on steep ground rather than rise above this (less a
    5 m margin) or above twice the height above ground."""
    terrain_tolerance_m: float = 5.0
    min_clearance_m: float | None = 10.0
    """Terrain following also keeps this above the DEM's highest post + its uncertainty
    (``plan check``'s terrain clearance); None: only the height above the interpolated DEM."""
    images_in_turnaround: bool = True
    fence_margin_m: float | None = 50.0
    """Add an inclusion fence this far around the route (None: no fence)."""
    projection: qgc.Projection = "ellipsoidal"
    """QGC's tangent plane: current QGC's exact LocalCartesian, or QGC 4.0's sphere
    (whose line spacing is up to 0.4 % off on the ellipsoid)."""

    def __post_init__(self) -> None:
        """Refuse what would plan nonsense: NaN, zero or negative sizes, rates and speeds,
        overlaps outside [0, 1), an angle outside 0-360, a degenerate polygon."""
        check_polygon(self.polygon, "survey area")
        if self.altitude_agl_m is not None:
            require_number(self.altitude_agl_m, "--altitude-agl-m", low=0.0, high=10_000.0,
                           low_open=True)  # fmt: skip
        if self.gsd_cm_px is not None:
            require_number(self.gsd_cm_px, "--gsd-cm", low=0.0, high=10_000.0, low_open=True)
        require_number(self.front_overlap, "--front-overlap", low=0.0, high=1.0, high_open=True)
        require_number(self.side_overlap, "--side-overlap", low=0.0, high=1.0, high_open=True)
        if self.angle_deg != "auto":
            require_number(self.angle_deg, "--angle (deg)", low=0.0, high=360.0)
        require_number(self.turnaround_m, "--turnaround-m", low=0.0, high=10_000.0)
        if self.home is not None:
            check_latlon(self.home[0], self.home[1], "--home")
        for name, value in (
            ("--speed-m-s", self.speed_m_s),
            ("--max-climb-m-s", self.max_climb_m_s),
            ("--max-descent-m-s", self.max_descent_m_s),
            ("--max-agl-m", self.max_agl_m),
        ):
            require_number(value, name, low=0.0, low_open=True)
        require_number(self.min_speed_m_s, "minimum speed (m/s)", low=0.0)
        require_number(self.terrain_tolerance_m, "terrain tolerance (m)", low=0.0)
        if self.min_clearance_m is not None:
            require_number(self.min_clearance_m, "--min-clearance-m", low=0.0, low_open=True)
        if self.fence_margin_m is not None:
            require_number(self.fence_margin_m, "fence margin (m)", low=0.0)


@dataclass
class SurveyResult:
    plan: Plan
    calc: qgc.CameraCalc
    angle_deg: float
    entry_location: int
    transects: list[list[qgc.TransectPoint]]
    camera_shots: int
    terrain: bool
    info: dict[str, Any] = field(default_factory=dict)


def _route_length(points: Sequence[LatLon]) -> float:
    return sum(qgc.qt_distance_m(a, b) for a, b in itertools.pairwise(points))


def _flat(transects: Sequence[Sequence[qgc.TransectPoint]]) -> list[LatLon]:
    return [(p.lat_deg, p.lon_deg) for t in transects for p in t]


def _optimize_for_shortest_distance(
    start: LatLon, transects: list[list[qgc.TransectPoint]]
) -> list[list[qgc.TransectPoint]]:
    """QGC's _optimizeTransectsForShortestDistance (it compares three of the four ends)."""
    ends = [transects[0][0], transects[0][-1], transects[-1][0], transects[-1][-1]]
    dist = [qgc.qt_distance_m(start, (p.lat_deg, p.lon_deg)) for p in ends]
    best = min(range(3), key=lambda i: dist[i])
    out = transects
    if best > 1:
        out = out[::-1]
    if best & 1:
        out = [t[::-1] for t in out]
    return out


def _build_transects(
    req: SurveyRequest, angle: float, spacing: float, entry: int
) -> list[list[qgc.TransectPoint]]:
    first = qgc.survey_transects(
        req.polygon, angle, spacing, req.turnaround_m, entry, projection=req.projection
    )
    if not req.crosshatch or not first:
        return first
    # QGC's refly pass: transects at +90 degrees, ordered from where the first pass ends;
    # the optimisation acts before the lawnmower reversal, so undo and redo it.
    second = qgc.survey_transects(
        req.polygon, angle, spacing, req.turnaround_m, entry, refly=True, projection=req.projection
    )
    raw = [t[::-1] if i % 2 else t for i, t in enumerate(second)]
    last = first[-1][-1]
    raw = _optimize_for_shortest_distance((last.lat_deg, last.lon_deg), raw)
    return first + [t[::-1] if i % 2 else t for i, t in enumerate(raw)]


def choose_layout(
    req: SurveyRequest, spacing: float, home: LatLon
) -> tuple[float, int, list[list[qgc.TransectPoint]]]:
    """Angle (given, or fewest transects then shortest route) and entry corner (shortest
    route from and back to home)."""
    angles = (
        [float(a) for a in range(0, 180)] if req.angle_deg == "auto" else [float(req.angle_deg)]
    )
    best: tuple[int, float, float, int, list[list[qgc.TransectPoint]]] | None = None
    for angle in angles:
        for entry in range(4):
            transects = _build_transects(req, angle, spacing, entry)
            if not transects:
                continue
            route = [home, *_flat(transects), home]
            key = (len(transects), _route_length(route))
            if best is None or key < (best[0], best[1]):
                best = (key[0], key[1], angle, entry, transects)
    if best is None:
        raise MissionError("no transect crosses the survey polygon (is it degenerate?)")
    return best[2], best[3], best[4]


def plan_survey(req: SurveyRequest, dem: Dem | None = None) -> SurveyResult:
    """A survey mission: take-off, the Survey complex item, back above home, RTL."""
    if (req.altitude_agl_m is None) == (req.gsd_cm_px is None):
        raise MissionError("give exactly one of --altitude-agl-m and --gsd-cm")
    calc = qgc.camera_calc(
        req.camera,
        distance_m=req.altitude_agl_m,
        gsd_cm_px=req.gsd_cm_px,
        front_overlap=req.front_overlap,
        side_overlap=req.side_overlap,
    )
    home = req.home if req.home is not None else req.polygon[0]
    angle, entry, transects = choose_layout(req, calc.line_spacing_m, home)
    height = calc.distance_m
    definition = _qgc_definition(req, calc, angle, entry, transects, dem is not None)
    entries: list[MissionEntry]
    if dem is None:
        items = qgc.transect_items(
            transects,
            height,
            calc.trigger_distance_m,
            frame=FRAME_GLOBAL_RELATIVE_ALT,
            images_in_turnaround=req.images_in_turnaround,
        )
        home_amsl = 0.0
        entries = [
            waypoint(*home, height, command=CMD_TAKEOFF),
            ComplexItem("survey", tuple(items), definition),
            waypoint(*home, height),
            command(CMD_RTL),
        ]
    else:
        home_amsl = float(dem.height_amsl(home[0], home[1]))
        if not math.isfinite(home_amsl):
            raise MissionError(f"home {home} lies outside the DEM {dem.path}")
        entries = _terrain_entries(req, calc, transects, dem, home, home_amsl, definition)
    fence: tuple[FencePolygon, ...] = ()
    if req.fence_margin_m is not None:
        fence = (FencePolygon(tuple(_fence_around(req, home, transects)), True),)
    plan = Plan(
        entries=tuple(entries),
        home=(home[0], home[1], home_amsl),
        fence_polygons=fence,
        cruise_speed_m_s=max(req.speed_m_s, 15.0),
        hover_speed_m_s=req.speed_m_s,
        global_altitude_mode=1,
        source="smartmine plan survey",
    )
    shots = qgc.camera_shots(transects, calc.trigger_distance_m, req.images_in_turnaround)
    return SurveyResult(plan, calc, angle, entry, transects, shots, dem is not None)


def _terrain_entries(
    req: SurveyRequest,
    calc: qgc.CameraCalc,
    transects: list[list[qgc.TransectPoint]],
    dem: Dem,
    home: LatLon,
    home_amsl: float,
    definition: dict[str, Any],
) -> list[MissionEntry]:
    """Take-off, terrain-following route over the transects and back, in AMSL."""
    flat = [p for t in transects for p in t]
    route = [home, *[(p.lat_deg, p.lon_deg) for p in flat], home]
    config = TerrainFollowing(
        height_agl_m=calc.distance_m,
        speed_m_s=req.speed_m_s,
        max_climb_m_s=req.max_climb_m_s,
        max_descent_m_s=req.max_descent_m_s,
        tolerance_m=req.terrain_tolerance_m,
        min_speed_m_s=req.min_speed_m_s,
        max_excess_m=max(min(calc.distance_m, req.max_agl_m - 5.0 - calc.distance_m), 1.0),
        min_clearance_m=req.min_clearance_m,
    )
    followed = follow_terrain(route, dem, config)
    # split the followed route back into: climb-out, each survey point with the points
    # added on the leg after it, and the return (leg after the last point, and home)
    n = len(flat)
    takeoff_rel = max(followed[0].amsl_m - home_amsl, 2.0)
    climb: list[tuple[float, float, float]] = []
    back: list[tuple[float, float, float]] = []
    after: list[list[tuple[qgc.TransectPoint, float]]] = [[] for _ in flat]
    leg = 0
    for p in followed[1:]:
        where = (p.lat_deg, p.lon_deg, p.amsl_m)
        if p.given_index is not None:
            leg = p.given_index
            if leg == n + 1:
                back.append(where)
            else:
                after[leg - 1].append((flat[leg - 1], p.amsl_m))
        elif leg == 0:
            climb.append(where)
        elif leg == n:
            back.append(where)
        else:
            after[leg - 1].append((qgc.TransectPoint(p.lat_deg, p.lon_deg, "interior"), p.amsl_m))
    grouped: list[list[qgc.TransectPoint]] = []
    grouped_alts: list[list[float]] = []
    k = 0
    for t in transects:
        pairs = [pair for j in range(k, k + len(t)) for pair in after[j]]
        k += len(t)
        grouped.append([pt for pt, _ in pairs])
        grouped_alts.append([alt for _, alt in pairs])
    items = qgc.transect_items(
        grouped,
        grouped_alts,
        calc.trigger_distance_m,
        frame=FRAME_GLOBAL,
        images_in_turnaround=req.images_in_turnaround,
    )
    entries: list[MissionEntry] = [waypoint(*home, takeoff_rel, command=CMD_TAKEOFF)]
    entries += [waypoint(lat, lon, alt, frame=FRAME_GLOBAL) for lat, lon, alt in climb]
    entries.append(ComplexItem("survey", tuple(items), definition))
    entries += [waypoint(lat, lon, alt, frame=FRAME_GLOBAL) for lat, lon, alt in back]
    entries = _with_speed_changes(entries, [p.speed_m_s for p in followed[1:]], req.speed_m_s)
    entries.append(command(CMD_RTL))
    return entries


def _with_speed_changes(
    entries: list[MissionEntry], speeds: list[float], cruise: float
) -> list[MissionEntry]:
    """DO_CHANGE_SPEED before each waypoint whose leg is flown at another speed (steep
    ground), and back to cruise speed at the end; ``speeds``: one per waypoint after the
    take-off, in order."""
    it = iter(speeds)
    state = {"current": cruise}

    def expand(items: list[MissionItem]) -> list[MissionItem]:
        out: list[MissionItem] = []
        for item in items:
            if item.command == CMD_WAYPOINT and item.has_position:
                wanted = next(it)
                if abs(wanted - state["current"]) > 1e-6:
                    out.append(command(CMD_CHANGE_SPEED, 1, wanted, -1, 0, 0, 0, 0))
                    state["current"] = wanted
            out.append(item)
        return out

    result: list[MissionEntry] = [entries[0]]
    for entry in entries[1:]:
        if isinstance(entry, ComplexItem):
            result.append(
                ComplexItem(entry.kind, tuple(expand(list(entry.items))), entry.definition)
            )
        else:
            result += expand([entry])
    if abs(state["current"] - cruise) > 1e-6:
        result.append(command(CMD_CHANGE_SPEED, 1, cruise, -1, 0, 0, 0, 0))
    return result


def _fence_around(
    req: SurveyRequest, home: LatLon, transects: list[list[qgc.TransectPoint]]
) -> list[LatLon]:
    """A convex inclusion fence ``fence_margin_m`` around home, polygon and route."""
    pts = [home, *req.polygon, *_flat(transects)]
    plane = qgc.TangentPlane(home, req.projection)
    xy = plane.forward(pts)
    hull = _convex_hull(xy)
    margin = float(req.fence_margin_m or 0.0)
    n = len(hull)
    out = []
    for i in range(n):  # push each vertex out along its bisector, by at least the margin
        prev, cur, nxt = hull[i - 1], hull[i], hull[(i + 1) % n]
        n1 = _outward(prev, cur)
        n2 = _outward(cur, nxt)
        bx, by = n1[0] + n2[0], n1[1] + n2[1]
        norm = math.hypot(bx, by) or 1.0
        cos_half = max((bx * n1[0] + by * n1[1]) / norm, 0.2)
        d = margin / cos_half
        out.append((cur[0] + bx / norm * d, cur[1] + by / norm * d))
    return plane.reverse(out)


def _outward(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    ex, ey = b[0] - a[0], b[1] - a[1]
    n = math.hypot(ex, ey) or 1.0
    return ey / n, -ex / n  # right of a counter-clockwise hull edge is outside


def _convex_hull(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    pts = sorted(set(points))
    if len(pts) < 3:
        return list(pts)

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _qgc_definition(
    req: SurveyRequest,
    calc: qgc.CameraCalc,
    angle: float,
    entry: int,
    transects: list[list[qgc.TransectPoint]],
    follow_terrain: bool,
) -> dict[str, Any]:
    """The Survey complex item as QGC (v4.x, survey version 5) writes it."""
    camera_calc = qgc.camera_calc_json(
        req.camera,
        calc,
        value_set_is_distance=req.altitude_agl_m is not None,
        relative=not follow_terrain,
    )
    tsci: dict[str, Any] = {
        "CameraCalc": camera_calc,
        "CameraShots": qgc.camera_shots(
            transects, calc.trigger_distance_m, req.images_in_turnaround
        ),
        "CameraTriggerInTurnAround": req.images_in_turnaround,
        "FollowTerrain": follow_terrain,
        "HoverAndCapture": False,
        "Items": [],
        "Refly90Degrees": req.crosshatch,
        "TurnAroundDistance": req.turnaround_m,
        "VisualTransectPoints": [[p.lat_deg, p.lon_deg] for t in transects for p in t],
        "version": 1,
    }
    if follow_terrain:
        tsci["TerrainAdjustMaxClimbRate"] = req.max_climb_m_s
        tsci["TerrainAdjustMaxDescentRate"] = req.max_descent_m_s
        tsci["TerrainAdjustTolerance"] = req.terrain_tolerance_m
    return {
        "TransectStyleComplexItem": tsci,
        "angle": angle,
        "complexItemType": "survey",
        "entryLocation": entry,
        "flyAlternateTransects": False,
        "polygon": [list(v) for v in req.polygon],
        "splitConcavePolygons": False,
        "type": "ComplexItem",
        "version": 5,
    }
