"""``plan check``: is a mission safe to fly? Every rule, along every leg, with numbers.

The route (:mod:`drone_missions.route`) is sampled every couple of metres (an eighth of
the DEM's post spacing at most), so a leg that dips into a bench between two safe
waypoints is caught. Rules: inclusion / exclusion geofences (the plan's and any given),
maximum height above ground and above sea level, minimum terrain clearance, maximum
distance from home, an endurance estimate against the battery (distance at the mission
speeds, climbs and descents at their rates, turns, hover and hold time, reserve), and a
return (RTL or LAND) at the end. Each violation names the item, the rule and the numbers.

Terrain clearance is measured conservatively against the DEM: above the highest of the
posts around each sample plus the DEM's vertical uncertainty (:mod:`drone_missions.dem`);
the clearance above the interpolated surface is reported beside it. With a DEM, home's
altitude is the DEM's at home, and a stored home altitude that disagrees by more than the
uncertainty is flagged with both numbers. Without a DEM terrain is NOT checked: heights
are above home only, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from drone_missions.dem import Dem
from drone_missions.errors import MissionError
from drone_missions.plan import (
    CMD_CHANGE_SPEED,
    CMD_LOITER_TIME,
    CMD_WAYPOINT,
    FenceCircle,
    FencePolygon,
    Plan,
    command_name,
    require_number,
    validate_plan,
)
from drone_missions.route import Route, plan_route

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Limits:
    max_agl_m: float = 120.0
    max_amsl_m: float | None = None
    min_clearance_m: float = 10.0
    max_distance_m: float = 3000.0
    endurance_min: float = 25.0
    """Flight time of a full battery at mission speeds."""
    reserve: float = 0.25
    """Fraction of the battery that must be left on landing."""
    climb_m_s: float = 3.0
    descent_m_s: float = 2.0
    accel_m_s2: float = 2.0
    takeoff_land_hover_s: float = 10.0
    rtl_altitude_m: float = 60.0
    require_return: bool = True

    def __post_init__(self) -> None:
        """Refuse limits that would make every check pass (or none): NaN, zero, negative."""
        positive = {
            "--max-agl-m": self.max_agl_m,
            "--min-clearance-m": self.min_clearance_m,
            "--max-distance-m": self.max_distance_m,
            "--endurance-min": self.endurance_min,
            "climb rate (m/s)": self.climb_m_s,
            "descent rate (m/s)": self.descent_m_s,
            "acceleration (m/s2)": self.accel_m_s2,
            "RTL altitude (m)": self.rtl_altitude_m,
        }
        for name, value in positive.items():
            require_number(value, name, low=0.0, low_open=True)
        require_number(self.reserve, "--reserve", low=0.0, high=1.0, high_open=True)
        require_number(self.takeoff_land_hover_s, "take-off/landing hover (s)", low=0.0)
        if self.max_amsl_m is not None:
            require_number(self.max_amsl_m, "--max-amsl-m", low=-500.0, high=10_000.0)


@dataclass(frozen=True)
class Violation:
    rule: str
    item_index: int | None
    message: str
    numbers: dict[str, float] = field(default_factory=dict)
    lat_deg: float | None = None
    lon_deg: float | None = None

    def line(self) -> str:
        where = f"item {self.item_index}" if self.item_index is not None else "plan"
        return f"{where}: {self.rule}: {self.message}"


@dataclass
class CheckReport:
    violations: list[Violation]
    stats: dict[str, Any]
    samples: dict[str, F64] = field(default_factory=dict, repr=False)
    warnings: list[str] = field(default_factory=list)
    """Things the verdict does not cover or assumed (no DEM: terrain not checked)."""

    @property
    def ok(self) -> bool:
        return not self.violations


def inside_polygon(x: F64, y: F64, poly: F64) -> npt.NDArray[np.bool_]:
    """Whether points (x, y) lie inside the polygon (vertices (N, 2)), by ray crossing."""
    inside = np.zeros(x.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < xc)
    return inside


def _densify(route: Route, step_m: float) -> tuple[F64, npt.NDArray[np.int64], F64]:
    """Samples xyz along the route legs, the leg index of each, and the distance along."""
    pts = np.array([w.xyz for w in route.waypoints])
    xyz = [pts[:1]]
    legs = [np.zeros(1, dtype=np.int64)]
    along = [np.zeros(1)]
    total = 0.0
    for k in range(1, len(pts)):
        d = pts[k] - pts[k - 1]
        length = float(np.linalg.norm(d))
        n = max(1, math.ceil(length / step_m))
        f = np.arange(1, n + 1) / n
        xyz.append(pts[k - 1] + f[:, None] * d)
        legs.append(np.full(n, k, dtype=np.int64))
        along.append(total + f * length)
        total += length
    return np.concatenate(xyz), np.concatenate(legs), np.concatenate(along)


def check_plan(
    plan: Plan,
    dem: Dem | None = None,
    *,
    fences: tuple[FencePolygon | FenceCircle, ...] = (),
    limits: Limits | None = None,
) -> CheckReport:
    """All violations of ``plan`` (empty when it is safe to fly), and route statistics."""
    validate_plan(plan)
    lim = limits or Limits()
    route = plan_route(plan, dem, lim.rtl_altitude_m)
    violations: list[Violation] = []
    warnings: list[str] = []
    wps = route.waypoints
    step = 2.0 if dem is None else min(2.0, dem.cell_size_m / 8.0)
    xyz, leg, along = _densify(route, step)
    from smartmine.geodesy import LocalEnu

    enu = LocalEnu(route.home_lat_deg, route.home_lon_deg, 0.0)
    lat, lon, _ = enu.to_wgs84(xyz[:, 0], xyz[:, 1], np.zeros(len(xyz)))
    ground = dem.height_amsl(lat, lon) if dem is not None else np.full(len(xyz), route.home_amsl_m)
    # the ground as high as the DEM allows: highest post around the sample + uncertainty
    ground_safe = (
        dem.highest_post(lat, lon) + dem.vertical_uncertainty_m if dem is not None else ground
    )
    # legs from or to the ground (take-off climb, landing) are exempt from clearance rules
    airborne = np.ones(len(xyz), dtype=bool)
    for k, w in enumerate(wps):
        if w.kind in ("takeoff", "land"):
            airborne &= leg != k
    airborne[0] = False

    def item_of(sample: int) -> int | None:
        idx = wps[int(leg[sample])].item_index
        return idx if idx >= 0 else None

    def report_worst(rule: str, bad: npt.NDArray[np.bool_], score: F64, text: Any) -> None:
        """One violation per stretch of consecutive bad samples, at its worst sample."""
        idx = np.flatnonzero(bad)
        if idx.size == 0:
            return
        breaks = np.flatnonzero(np.diff(idx) > 1)
        for run in np.split(idx, breaks + 1):
            s = int(run[np.argmax(score[run])])
            msg, numbers = text(s)
            first, last = item_of(int(run[0])), item_of(int(run[-1]))
            if first is not None and last is not None and last != first:
                msg += f" (items {first} to {last})"
            violations.append(
                Violation(rule, item_of(s), msg, numbers, float(lat[s]), float(lon[s]))
            )

    # -- terrain clearance and AGL ---------------------------------------------------------
    clearance = xyz[:, 2] - ground  # above the interpolated DEM (or above home: no DEM)
    clearance_safe = xyz[:, 2] - ground_safe
    if dem is not None:
        _check_home_altitude(route, dem, violations, warnings)
        outside = airborne & ~(np.isfinite(ground) & np.isfinite(ground_safe))
        if outside.any():
            report_worst(
                "outside-dem",
                outside,
                np.ones(len(xyz)),
                lambda s: (f"the leg leaves the DEM at lat {lat[s]:.6f}, lon {lon[s]:.6f}", {}),
            )
        finite = np.isfinite(clearance_safe)
        low = airborne & finite & (clearance_safe < lim.min_clearance_m)
        report_worst(
            "terrain-clearance",
            low,
            -np.nan_to_num(clearance_safe),
            lambda s: (
                f"{_leg_name(route, leg[s])} comes within {clearance_safe[s]:.1f} m of the "
                f"terrain (minimum {lim.min_clearance_m:g} m; {clearance[s]:.1f} m above the "
                f"interpolated DEM, "
                f"{clearance_safe[s] + dem.vertical_uncertainty_m:.1f} m above its highest post "
                f"around, less {dem.vertical_uncertainty_m:g} m uncertainty) at lat {lat[s]:.6f}, "
                f"lon {lon[s]:.6f}",
                {
                    "clearance_m": float(clearance_safe[s]),
                    "clearance_interpolated_m": float(clearance[s]),
                    "min_clearance_m": lim.min_clearance_m,
                    "vertical_uncertainty_m": dem.vertical_uncertainty_m,
                },
            ),
        )
    else:
        warnings.append(
            "terrain clearance NOT checked (no DEM given): heights are above home only; "
            "give --dem to check them against the ground"
        )
        finite = np.isfinite(clearance)
        low = airborne & finite & (clearance < lim.min_clearance_m)
        report_worst(
            "height-above-home",
            low,
            -np.nan_to_num(clearance),
            lambda s: (
                f"{_leg_name(route, leg[s])} is only {clearance[s]:.1f} m above home "
                f"(minimum {lim.min_clearance_m:g} m; terrain not checked) at "
                f"lat {lat[s]:.6f}, lon {lon[s]:.6f}",
                {"height_above_home_m": float(clearance[s]), "min_m": lim.min_clearance_m},
            ),
        )
    high = airborne & finite & (clearance > lim.max_agl_m + 1e-6)
    reference = "above ground" if dem is not None else "above home (no DEM)"
    report_worst(
        "max-agl",
        high,
        np.nan_to_num(clearance),
        lambda s: (
            f"{_leg_name(route, leg[s])} is {clearance[s]:.1f} m {reference} "
            f"(maximum {lim.max_agl_m:g} m)",
            {"agl_m": float(clearance[s]), "max_agl_m": lim.max_agl_m},
        ),
    )
    if lim.max_amsl_m is not None:
        max_amsl = lim.max_amsl_m
        above = xyz[:, 2] > max_amsl + 1e-6
        report_worst(
            "max-amsl",
            above,
            xyz[:, 2],
            lambda s: (
                f"{_leg_name(route, leg[s])} reaches {xyz[s, 2]:.1f} m AMSL "
                f"(maximum {max_amsl:g} m)",
                {"amsl_m": float(xyz[s, 2]), "max_amsl_m": max_amsl},
            ),
        )
    # -- distance from home ------------------------------------------------------------------
    dist = np.hypot(xyz[:, 0], xyz[:, 1])
    far = dist > lim.max_distance_m + 1e-6
    report_worst(
        "max-distance",
        far,
        dist,
        lambda s: (
            f"{_leg_name(route, leg[s])} goes {dist[s]:.0f} m from home "
            f"(maximum {lim.max_distance_m:g} m)",
            {"distance_m": float(dist[s]), "max_distance_m": lim.max_distance_m},
        ),
    )
    # -- geofences ------------------------------------------------------------------------------
    # the plan's own fences and the given ones are two constraints: inside one inclusion
    # fence of each group that has any, outside every exclusion fence
    own: list[FencePolygon | FenceCircle] = [*plan.fence_polygons, *plan.fence_circles]
    groups = (("plan", own), ("given", list(fences)))
    for group, group_fences in groups:
        inclusion = np.zeros(len(xyz), dtype=bool)
        has_inclusion = False
        for fence in group_fences:
            inside = _fence_contains(enu, fence, xyz)
            if fence.inclusion:
                has_inclusion = True
                inclusion |= inside
            else:
                report_worst(
                    "exclusion-fence",
                    inside,
                    np.ones(len(xyz)),
                    lambda s, g=group: (
                        f"{_leg_name(route, leg[s])} enters an exclusion fence ({g}) at "
                        f"lat {lat[s]:.6f}, lon {lon[s]:.6f}",
                        {},
                    ),
                )
        if has_inclusion:
            report_worst(
                "inclusion-fence",
                ~inclusion,
                np.ones(len(xyz)),
                lambda s, g=group: (
                    f"{_leg_name(route, leg[s])} leaves the inclusion fence ({g}) at "
                    f"lat {lat[s]:.6f}, lon {lon[s]:.6f}",
                    {},
                ),
            )
    # -- return and endurance -------------------------------------------------------------------
    kinds = [w.kind for w in wps]
    if lim.require_return and "land" not in kinds:
        violations.append(
            Violation(
                "no-return",
                None,
                "the mission ends without RTL or LAND: the vehicle would hover at the last "
                "waypoint until the battery fails safe",
            )
        )
    stats = _endurance(route, lim)
    stats.update(
        {
            "items": len(route.items),
            "max_distance_from_home_m": float(dist.max()) if len(dist) else 0.0,
            "min_clearance_m": _extreme(np.nanmin, clearance_safe, airborne)
            if dem is not None
            else None,
            "min_clearance_interpolated_m": _extreme(np.nanmin, clearance, airborne)
            if dem is not None
            else None,
            "max_agl_m": _extreme(np.nanmax, clearance, airborne) if dem is not None else None,
            "min_height_above_home_m": _extreme(np.nanmin, xyz[:, 2] - route.home_amsl_m, airborne),
            "max_height_above_home_m": _extreme(np.nanmax, xyz[:, 2] - route.home_amsl_m, airborne),
            "max_amsl_m": float(xyz[:, 2].max()),
            "samples": len(xyz),
            "sample_step_m": step,
            "dem": str(dem.path) if dem is not None else None,
            "home_amsl_m": route.home_amsl_m,
            "home_amsl_stored_m": route.stored_home_amsl_m,
            "home_altitude_from": "DEM" if dem is not None else "plan",
            "terrain": {
                "checked": dem is not None,
                "method": dem.method if dem is not None else "not checked: no DEM",
                "dem_kind": dem.kind if dem is not None else None,
                "vertical_uncertainty_m": dem.vertical_uncertainty_m if dem is not None else None,
                "uncertainty_source": dem.uncertainty_source if dem is not None else None,
            },
        }
    )
    usable_s = lim.endurance_min * 60.0 * (1.0 - lim.reserve)
    if stats["flight_time_s"] > usable_s:
        violations.append(
            Violation(
                "endurance",
                None,
                f"the flight takes {stats['flight_time_s'] / 60:.1f} min, more than the "
                f"{usable_s / 60:.1f} min a {lim.endurance_min:g} min battery gives with a "
                f"{lim.reserve:.0%} reserve",
                {"flight_time_s": stats["flight_time_s"], "usable_s": usable_s},
            )
        )
    samples: dict[str, F64] = {
        "lat": np.asarray(lat, dtype=np.float64),
        "lon": np.asarray(lon, dtype=np.float64),
        "z_amsl": xyz[:, 2],
        "clearance_m": clearance,
        "clearance_conservative_m": clearance_safe,
        "leg": leg.astype(np.float64),
        "along_m": np.asarray(along, dtype=np.float64),
    }
    return CheckReport(violations, stats, samples, warnings)


def _extreme(reduce: Any, values: F64, mask: npt.NDArray[np.bool_]) -> float | None:
    picked = values[mask]
    return float(reduce(picked)) if picked.size and np.isfinite(picked).any() else None


def _check_home_altitude(
    route: Route, dem: Dem, violations: list[Violation], warnings: list[str]
) -> None:
    """The plan's stored home altitude against the DEM's at home (which the route uses)."""
    stored = route.stored_home_amsl_m
    if stored is None:
        warnings.append(
            f"the plan stores no home: home is its first item, at the DEM's "
            f"{route.home_amsl_m:.1f} m AMSL"
        )
        return
    diff = stored - route.home_amsl_m
    if abs(diff) <= dem.vertical_uncertainty_m:
        return
    if stored == 0.0:  # written without a DEM: QGC's "unknown"
        warnings.append(
            f"the plan's home altitude is 0 m (not set); the DEM gives {route.home_amsl_m:.1f} m "
            "AMSL at home: relative altitudes are taken from the DEM's"
        )
        return
    violations.append(
        Violation(
            "home-altitude",
            None,
            f"the plan's home altitude {stored:.1f} m AMSL disagrees with the DEM's "
            f"{route.home_amsl_m:.1f} m at home by {diff:+.1f} m (more than its "
            f"{dem.vertical_uncertainty_m:g} m vertical uncertainty): relative altitudes are "
            "taken from the DEM's; fix the home or the DEM",
            {
                "home_amsl_stored_m": stored,
                "home_amsl_dem_m": route.home_amsl_m,
                "difference_m": diff,
                "vertical_uncertainty_m": dem.vertical_uncertainty_m,
            },
            route.home_lat_deg,
            route.home_lon_deg,
        )
    )


def _leg_name(route: Route, k: Any) -> str:
    w = route.waypoints[int(k)]
    prev = route.waypoints[int(k) - 1] if k > 0 else w
    what = "the RTL return" if w.kind.startswith("rtl") else f"the leg to item {w.item_index}"
    if w.kind == "item":
        what += f" ({command_name(route.items[w.item_index].command)})"
    if prev.item_index >= 0 and prev.item_index != w.item_index:
        what += f" from item {prev.item_index}"
    return what


def _fence_contains(enu: Any, fence: FencePolygon | FenceCircle, xyz: F64) -> npt.NDArray[np.bool_]:
    if isinstance(fence, FenceCircle):
        cx, cy, _ = enu.from_wgs84(fence.center[0], fence.center[1], 0.0)
        return np.asarray(np.hypot(xyz[:, 0] - float(cx), xyz[:, 1] - float(cy)) <= fence.radius_m)
    lat = np.array([v[0] for v in fence.vertices])
    lon = np.array([v[1] for v in fence.vertices])
    fx, fy, _ = enu.from_wgs84(lat, lon, np.zeros_like(lat))
    return inside_polygon(xyz[:, 0], xyz[:, 1], np.stack([fx, fy], axis=1))


def _endurance(route: Route, lim: Limits) -> dict[str, Any]:
    """Distance, time and turns of the route at the plan's speeds."""
    speed = route.plan.hover_speed_m_s
    horizontal = climb = descent = 0.0
    time_s = 0.0
    turns = 0
    turn_s = 0.0
    hover_s = 0.0
    speeds: dict[int, float] = {}
    current = speed
    for i, it in enumerate(route.items):
        if it.command == CMD_CHANGE_SPEED and it.params[1] is not None and it.params[1] > 0:
            current = float(it.params[1])
        speeds[i] = current
        if it.command in (CMD_WAYPOINT,) and it.params[0]:
            hover_s += float(it.params[0])
        if it.command == CMD_LOITER_TIME and it.params[0]:
            hover_s += float(it.params[0])
    wps = route.waypoints
    for k in range(1, len(wps)):
        a, b = np.array(wps[k - 1].xyz), np.array(wps[k].xyz)
        h = float(np.hypot(*(b[:2] - a[:2])))
        dz = float(b[2] - a[2])
        v = speeds.get(wps[k].item_index, speed)
        horizontal += h
        if dz > 0:
            climb += dz
        else:
            descent -= dz
        time_s += max(h / v, (dz / lim.climb_m_s) if dz > 0 else (-dz / lim.descent_m_s))
        if 0 < k < len(wps) - 1:
            c = np.array(wps[k + 1].xyz)
            u, w = b[:2] - a[:2], c[:2] - b[:2]
            nu, nw = float(np.linalg.norm(u)), float(np.linalg.norm(w))
            if nu > 1e-6 and nw > 1e-6:
                cos_t = float(np.clip(u @ w / (nu * nw), -1.0, 1.0))
                if cos_t < math.cos(math.radians(10.0)):
                    turns += 1
                    turn_s += (v / lim.accel_m_s2) * (1.0 - cos_t)
    hover_s += 2 * lim.takeoff_land_hover_s
    total = time_s + turn_s + hover_s
    return {
        "horizontal_distance_m": horizontal,
        "climb_m": climb,
        "descent_m": descent,
        "turns": turns,
        "turn_time_s": turn_s,
        "hover_time_s": hover_s,
        "flight_time_s": total,
        "battery_used": total / (lim.endurance_min * 60.0),
        "reserve_left": 1.0 - total / (lim.endurance_min * 60.0),
    }


# -- GPS-denied plans in the local mine frame ------------------------------------------------
def is_local_plan(plan: Plan) -> bool:
    """Whether the plan flies in a local frame (``plan drift``: MAV_FRAME_LOCAL_ENU/NED)."""
    from drone_missions.plan import FRAME_LOCAL_ENU, FRAME_LOCAL_NED, NAV_POSITION_COMMANDS

    nav = [it for it in plan.mission_items() if it.command in NAV_POSITION_COMMANDS]
    return bool(nav) and all(it.frame in (FRAME_LOCAL_ENU, FRAME_LOCAL_NED) for it in nav)


def local_points(plan: Plan) -> tuple[F64, list[int]]:
    """The local-frame waypoints as ENU metres (NED converted), and their item indices."""
    from drone_missions.plan import FRAME_LOCAL_NED, NAV_POSITION_COMMANDS

    pts, index = [], []
    for i, it in enumerate(plan.mission_items()):
        if it.command not in NAV_POSITION_COMMANDS:
            continue
        x, y, z = (float(v) if v is not None else 0.0 for v in it.params[4:7])
        pts.append([y, x, -z] if it.frame == FRAME_LOCAL_NED else [x, y, z])
        index.append(i)
    return np.array(pts, dtype=np.float64).reshape(-1, 3), index


def check_local_plan(
    plan: Plan,
    map_points: F64 | None = None,
    *,
    min_clearance_m: float = 1.0,
    limits: Limits | None = None,
    step_m: float = 0.05,
) -> CheckReport:
    """A GPS-denied plan in the local mine frame: every leg sampled every ``step_m``
    against the drift map (distance to its nearest point; with no map the clearance is
    NOT checked and the report says so), and the flight time against the battery."""
    validate_plan(plan)
    require_number(min_clearance_m, "--min-clearance-m", low=0.0, low_open=True)
    lim = limits or Limits()
    pts, index = local_points(plan)
    if len(pts) < 1:
        from drone_missions.errors import MissionError

        raise MissionError(f"{plan.source}: no local-frame waypoints to check")
    samples = [pts[:1]]
    legs = [np.zeros(1, dtype=np.int64)]
    for k in range(1, len(pts)):
        n = max(1, math.ceil(float(np.linalg.norm(pts[k] - pts[k - 1])) / step_m))
        f = (np.arange(1, n + 1) / n)[:, None]
        samples.append(pts[k - 1] + f * (pts[k] - pts[k - 1]))
        legs.append(np.full(n, k, dtype=np.int64))
    xyz, leg = np.concatenate(samples), np.concatenate(legs)
    violations: list[Violation] = []
    warnings: list[str] = []
    clearance = np.full(len(xyz), np.nan)
    if map_points is not None:
        from scipy.spatial import cKDTree

        clearance = cKDTree(map_points).query(xyz)[0]
        low = np.flatnonzero(clearance < min_clearance_m)
        if low.size:
            for run in np.split(low, np.flatnonzero(np.diff(low) > 1) + 1):
                s = int(run[np.argmin(clearance[run])])
                item = index[int(leg[s])]
                violations.append(
                    Violation(
                        "map-clearance",
                        item,
                        f"the leg to item {item} comes within {clearance[s]:.2f} m of the map "
                        f"(minimum {min_clearance_m:g} m) at x {xyz[s, 0]:.2f}, y {xyz[s, 1]:.2f}, "
                        f"z {xyz[s, 2]:.2f} m",
                        {"clearance_m": float(clearance[s]), "min_clearance_m": min_clearance_m},
                    )
                )
    else:
        warnings.append(
            "clearance to the drift walls NOT checked (no map given): give --map MAP.ply"
        )
    steps = np.diff(pts, axis=0)
    length = float(np.linalg.norm(steps, axis=1).sum()) if len(steps) else 0.0
    climb = float(np.clip(steps[:, 2], 0, None).sum()) if len(steps) else 0.0
    flight_s = length / plan.hover_speed_m_s + 2 * lim.takeoff_land_hover_s
    usable_s = lim.endurance_min * 60.0 * (1.0 - lim.reserve)
    if flight_s > usable_s:
        violations.append(
            Violation(
                "endurance",
                None,
                f"the flight takes {flight_s / 60:.1f} min, more than the {usable_s / 60:.1f} min "
                f"a {lim.endurance_min:g} min battery gives with a {lim.reserve:.0%} reserve",
                {"flight_time_s": flight_s, "usable_s": usable_s},
            )
        )
    checked = map_points is not None
    stats: dict[str, Any] = {
        "frame": "local",
        "items": len(plan.mission_items()),
        "waypoints": len(pts),
        "horizontal_distance_m": float(np.linalg.norm(steps[:, :2], axis=1).sum())
        if len(steps)
        else 0.0,
        "length_m": length,
        "climb_m": climb,
        "turns": 0,
        "flight_time_s": flight_s,
        "battery_used": flight_s / (lim.endurance_min * 60.0),
        "max_distance_from_home_m": float(np.linalg.norm(pts - pts[0], axis=1).max()),
        "samples": len(xyz),
        "sample_step_m": step_m,
        "min_clearance_m": float(np.nanmin(clearance)) if checked else None,
        "map": {
            "checked": checked,
            "method": f"distance to the nearest map point, every {step_m:g} m along each leg"
            if checked
            else "not checked: no map",
            "map_points": len(map_points) if map_points is not None else 0,
            "min_clearance_m": min_clearance_m,
        },
    }
    sample_arrays: dict[str, F64] = {"xyz": xyz, "clearance_m": clearance}
    return CheckReport(violations, stats, sample_arrays, warnings)


@dataclass(frozen=True)
class GroundOptions:
    """How the caller's user gives the ground a flight is checked against, named in the
    refusal: command-line options for ``smartmine fly``, parameters for the ROS node."""

    dem: str = "--dem DEM"
    drift_map: str = "--map MAP.ply"
    unchecked: str = "--no-terrain-check"


def check_before_flight(
    plan: Plan,
    *,
    dem: Dem | None = None,
    drift_map: F64 | None = None,
    fences: tuple[FencePolygon | FenceCircle, ...] = (),
    limits: Limits | None = None,
    drift_clearance_m: float = 1.0,
    unchecked_ground_ok: bool = False,
    options: GroundOptions = GroundOptions(),
) -> CheckReport:
    """``plan check`` as a flight runs it, before anything is uploaded: a global plan
    against the DEM, a drift (local-frame) plan against the drift map. Without that
    ground the flight is refused unless ``unchecked_ground_ok`` says to fly knowing the
    clearance was not checked; a plan that fails its check is refused naming the first
    violations. Raises :class:`MissionError`; returns the report of a plan that passed."""
    local = is_local_plan(plan)
    if (drift_map if local else dem) is None and not unchecked_ground_ok:
        what, give = (
            ("wall clearance cannot be checked without the drift map", options.drift_map)
            if local
            else ("terrain clearance cannot be checked without a DEM", options.dem)
        )
        raise MissionError(
            f"{plan.source}: {what}: give {give} (or {options.unchecked} to fly without "
            "checking it)"
        )
    report = (
        check_local_plan(plan, drift_map, min_clearance_m=drift_clearance_m, limits=limits)
        if local
        else check_plan(plan, dem, fences=fences, limits=limits)
    )
    if not report.ok:
        lines = "; ".join(v.line() for v in report.violations[:5])
        raise MissionError(f"{plan.source} fails `plan check` ({lines}); not flying it")
    return report
