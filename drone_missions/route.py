"""Where a plan flies: every item's position in a metric frame at home, AMSL heights.

x east and y north (m) on the tangent plane at home (:class:`smartmine.geodesy.LocalEnu`),
z above mean sea level: relative altitudes are added to home's, terrain altitudes to the
DEM's ground. With a DEM, home's altitude is the DEM's at home (the vehicle's relative
altitudes are measured from where it stands, not from what a file says); the altitude
the plan stored is kept beside it (``stored_home_amsl_m``) to be compared.
RTL is flown as PX4 does: climb to the return altitude (if lower), fly home,
descend; LAND at 0/0 lands where the vehicle is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from drone_missions.dem import Dem
from drone_missions.errors import MissionError
from drone_missions.plan import CMD_LAND, CMD_RTL, CMD_TAKEOFF, MissionItem, Plan

XYZ = tuple[float, float, float]


@dataclass(frozen=True)
class Waypoint:
    """One point of the flown route; ``item_index`` is the mission item that put it there."""

    item_index: int
    xyz: XYZ
    lat_deg: float
    lon_deg: float
    kind: str  # "item", "takeoff", "rtl-climb", "rtl-home", "land"


@dataclass
class Route:
    plan: Plan
    home_lat_deg: float
    home_lon_deg: float
    home_amsl_m: float
    items: list[MissionItem]
    item_points: list[XYZ | None]
    """Per mission item, its position (None for items without one)."""
    waypoints: list[Waypoint]
    """The route flown, in order, from the ground at home."""
    stored_home_amsl_m: float | None = None
    """The home altitude the plan stored (None: it stored no home)."""
    home_from_dem: bool = False

    def to_wgs84(self, x: float, y: float) -> tuple[float, float]:
        from smartmine.geodesy import LocalEnu

        lat, lon, _ = LocalEnu(self.home_lat_deg, self.home_lon_deg, 0.0).to_wgs84(x, y, 0.0)
        return float(lat), float(lon)


def plan_route(plan: Plan, dem: Dem | None = None, rtl_altitude_m: float = 60.0) -> Route:
    """The route of ``plan``; terrain-relative items need ``dem``."""
    from smartmine.geodesy import LocalEnu

    items = plan.mission_items()
    stored: float | None = None
    if plan.home is not None:
        home_lat, home_lon, home_amsl = plan.home
        stored = home_amsl
        if dem is not None:
            home_amsl = float(dem.height_amsl(home_lat, home_lon))
            if not math.isfinite(home_amsl):
                raise MissionError(
                    f"{plan.source}: home ({home_lat:.7f}, {home_lon:.7f}) lies outside the "
                    f"DEM {dem.path} (or on nodata)"
                )
    else:
        first = next((it for it in items if it.has_position), None)
        if first is None:
            raise MissionError(f"{plan.source}: the plan has no home and no positioned item")
        home_lat, home_lon, home_amsl = first.lat_deg, first.lon_deg, 0.0
        if dem is not None:
            home_amsl = float(dem.height_amsl(home_lat, home_lon))
            if not math.isfinite(home_amsl):
                raise MissionError(
                    f"{plan.source}: the first item ({home_lat:.7f}, {home_lon:.7f}), taken as "
                    f"home, lies outside the DEM {dem.path}"
                )
    enu = LocalEnu(home_lat, home_lon, 0.0)
    lat = np.array([it.lat_deg if it.has_position else home_lat for it in items])
    lon = np.array([it.lon_deg if it.has_position else home_lon for it in items])
    if len(items):
        east, north, _ = enu.from_wgs84(lat, lon, np.zeros_like(lat))
    else:
        east = north = np.zeros(0)
    ground = (
        dem.height_amsl(lat, lon) if dem is not None and len(items) else np.full(len(items), np.nan)
    )
    points: list[XYZ | None] = []
    for i, it in enumerate(items):
        is_takeoff = it.command == CMD_TAKEOFF
        if not (it.has_position or is_takeoff):
            points.append(None)
            continue
        x, y = (float(east[i]), float(north[i])) if it.has_position else (0.0, 0.0)
        ref = it.altitude_ref
        alt = it.altitude_m
        if not math.isfinite(alt):
            raise MissionError(f"{plan.source}: item {i} ({it.name}) has no altitude")
        if ref == "relative":
            z = home_amsl + alt
        elif ref == "amsl":
            z = alt
        elif ref == "terrain":
            if dem is None:
                raise MissionError(
                    f"{plan.source}: item {i} ({it.name}) is {alt:g} m above terrain; "
                    "give a DEM (--dem) to place it"
                )
            g = float(ground[i])
            if not math.isfinite(g):
                raise MissionError(f"{plan.source}: item {i} ({it.name}) lies outside the DEM")
            z = g + alt
        else:
            raise MissionError(f"{plan.source}: item {i} ({it.name}) has frame {it.frame}")
        points.append((x, y, z))
    route: list[Waypoint] = [Waypoint(-1, (0.0, 0.0, home_amsl), home_lat, home_lon, "home")]
    for i, it in enumerate(items):
        here = route[-1].xyz
        p = points[i]
        if it.command == CMD_TAKEOFF and p is not None:
            route.append(Waypoint(i, (here[0], here[1], p[2]), *_ll(enu, here), "takeoff"))
        elif p is not None and it.command != CMD_LAND:
            if len(route) == 1:  # on the ground: PX4 climbs to the first item's altitude
                route.append(Waypoint(i, (here[0], here[1], p[2]), *_ll(enu, here), "takeoff"))
            route.append(Waypoint(i, p, float(lat[i]), float(lon[i]), "item"))
        elif it.command == CMD_LAND:
            spot = p if p is not None else here
            if p is not None:
                route.append(Waypoint(i, (spot[0], spot[1], here[2]), *_ll(enu, spot), "item"))
            g = _ground(dem, enu, spot, home_amsl)
            route.append(Waypoint(i, (spot[0], spot[1], g), *_ll(enu, spot), "land"))
            break
        elif it.command == CMD_RTL:
            z = max(here[2], home_amsl + rtl_altitude_m)
            route.append(Waypoint(i, (here[0], here[1], z), *_ll(enu, here), "rtl-climb"))
            route.append(Waypoint(i, (0.0, 0.0, z), home_lat, home_lon, "rtl-home"))
            route.append(Waypoint(i, (0.0, 0.0, home_amsl), home_lat, home_lon, "land"))
            break
    return Route(plan, home_lat, home_lon, home_amsl, items, points, route, stored, dem is not None)


def _ll(enu: object, xyz: XYZ) -> tuple[float, float]:
    lat, lon, _ = enu.to_wgs84(xyz[0], xyz[1], 0.0)  # type: ignore[attr-defined]
    return float(lat), float(lon)


def _ground(dem: Dem | None, enu: object, xyz: XYZ, fallback: float) -> float:
    if dem is None:
        return fallback
    lat, lon = _ll(enu, xyz)
    g = float(dem.height_amsl(lat, lon))
    return g if math.isfinite(g) else fallback


def resolve_terrain(plan: Plan, dem: Dem) -> Plan:
    """The plan with QGC's "calculated above terrain" items (AltitudeMode 3, AMSL left
    null) given their AMSL altitude from ``dem``, as QGC does before an upload: frame
    GLOBAL, param7 = ground + Altitude (also stored as AMSLAltAboveTerrain)."""
    from dataclasses import replace

    from drone_missions.plan import QGC_ALT_CALC_ABOVE_TERRAIN, ComplexItem

    def fix(i: int, it: MissionItem) -> MissionItem:
        if it.qgc_altitude_mode != QGC_ALT_CALC_ABOVE_TERRAIN or not it.has_position:
            return it
        ground = float(dem.height_amsl(it.lat_deg, it.lon_deg))
        if not math.isfinite(ground):
            raise MissionError(f"{plan.source}: item {i} ({it.name}) lies outside the DEM")
        amsl = ground + it.altitude_m
        p = it.params
        return replace(
            it,
            frame=0,
            params=(p[0], p[1], p[2], p[3], p[4], p[5], amsl),
            qgc_amsl_alt_above_terrain=amsl,
        )

    k = 0
    entries: list[MissionItem | ComplexItem] = []
    for entry in plan.entries:
        if isinstance(entry, ComplexItem):
            items = []
            for it in entry.items:
                items.append(fix(k, it))
                k += 1
            entries.append(ComplexItem(entry.kind, tuple(items), entry.definition))
        else:
            entries.append(fix(k, entry))
            k += 1
    return plan.with_entries(entries)
