"""QGroundControl's survey maths, so our numbers and items agree with QGC's.

Written after QGroundControl's ``CameraCalc::_recalcTriggerDistance`` (GSD, footprint,
line spacing, trigger distance), ``SurveyComplexItem::_rebuildTransectsPhase1Worker
SinglePolygon`` (parallel lines over the bounding box, rotated by the grid angle and
clipped to the polygon; entry corner; lawnmower; turnaround extensions),
``TransectStyleComplexItem::_buildAndAppendMissionItems`` (waypoints and
DO_SET_CAM_TRIGG_DIST items) and ``StructureScanComplexItem::appendMissionItems`` with
``QGCMapPolygon::offset`` (QGroundControl is Apache-2.0 / GPL-3.0 dual licensed; these are
re-implementations of its formulas, not copies). QGC's tangent plane is GeographicLib's
LocalCartesian, i.e. :class:`smartmine.geodesy.LocalEnu`; its distances and azimuths are
Qt's spherical ones (mean radius 6371.0072 km), reproduced here for the turnaround points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from calibration.camera_model import SensorSpec
from drone_missions.plan import (
    CMD_CAM_TRIGG_DIST,
    FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT,
    MissionItem,
    PlanError,
    camera_trigger_distance,
    offset_polygon,
    structure_scan_items,
    waypoint,
)
from drone_missions.tangent_plane import LatLon, Point, Projection, TangentPlane, line_intersection

QT_EARTH_MEAN_RADIUS_M: Final = 6371007.2
MIN_TRANSECT_SPACING_M: Final = 0.5
"""QGC refuses spacings this small (it would make thousands of transects)."""

CoordType = Literal["turnaround", "entry", "exit", "interior"]


# -- camera ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraCalc:
    """QGC's CameraCalc numbers for one camera, distance and overlaps."""

    distance_m: float
    gsd_cm_px: float
    footprint_side_m: float
    footprint_frontal_m: float
    line_spacing_m: float
    """QGC's AdjustedFootprintSide: distance between transects."""
    trigger_distance_m: float
    """QGC's AdjustedFootprintFrontal: distance between photos along a transect."""
    front_overlap: float
    side_overlap: float


def camera_calc(
    spec: SensorSpec,
    *,
    distance_m: float | None = None,
    gsd_cm_px: float | None = None,
    front_overlap: float,
    side_overlap: float,
) -> CameraCalc:
    """GSD, footprint, spacing and trigger distance by QGC's formulas.

    Give the distance to the surface (m) or the wanted GSD (cm/px); overlaps are
    fractions (0.8 = 80 %). As in QGC, the GSD is taken across the sensor width.
    """
    for name, value in (("front overlap", front_overlap), ("side overlap", side_overlap)):
        if not 0.0 <= value < 1.0:
            raise PlanError(f"{name} must be in [0, 1), got {value}")
    w_mm, f_mm, w_px = spec.sensor_width_mm, spec.focal_length_mm, spec.image_width_px
    if distance_m is not None:
        if not distance_m > 0:
            raise PlanError(f"distance to the surface must be > 0 m, got {distance_m}")
        gsd = distance_m * w_mm * 100.0 / (w_px * f_mm)
    elif gsd_cm_px is not None:
        if not gsd_cm_px > 0:
            raise PlanError(f"GSD must be > 0 cm/px, got {gsd_cm_px}")
        gsd = gsd_cm_px
        distance_m = w_px * gsd * f_mm / (w_mm * 100.0)
    else:
        raise PlanError("give a distance to the surface or a GSD")
    if spec.landscape:
        side = spec.image_width_px * gsd / 100.0
        frontal = spec.image_height_px * gsd / 100.0
    else:
        side = spec.image_height_px * gsd / 100.0
        frontal = spec.image_width_px * gsd / 100.0
    return CameraCalc(
        distance_m=distance_m,
        gsd_cm_px=gsd,
        footprint_side_m=side,
        footprint_frontal_m=frontal,
        line_spacing_m=side * (100.0 - side_overlap * 100.0) / 100.0,
        trigger_distance_m=frontal * (100.0 - front_overlap * 100.0) / 100.0,
        front_overlap=front_overlap,
        side_overlap=side_overlap,
    )


def camera_calc_json(
    spec: SensorSpec, calc: CameraCalc, *, value_set_is_distance: bool, relative: bool
) -> dict[str, Any]:
    """QGC's CameraCalc object (version 1, "Custom Camera") as CameraCalc::load and
    CameraSpec::load require it (QGC v4.0 to v4.4 read version 1): the footprints,
    distance and its reference, then for a non-manual camera ValueSetIsDistance,
    ImageDensity and both overlaps, and the sensor (SensorWidth/Height, ImageWidth/Height,
    FocalLength, Landscape, FixedOrientation, MinTriggerInterval)."""
    return {
        "AdjustedFootprintFrontal": calc.trigger_distance_m,
        "AdjustedFootprintSide": calc.line_spacing_m,
        "CameraName": "Custom Camera",
        "DistanceToSurface": calc.distance_m,
        "DistanceToSurfaceRelative": relative,
        "FixedOrientation": False,
        "FocalLength": spec.focal_length_mm,
        "FrontalOverlap": calc.front_overlap * 100.0,
        "ImageDensity": calc.gsd_cm_px,
        "ImageHeight": spec.image_height_px,
        "ImageWidth": spec.image_width_px,
        "Landscape": spec.landscape,
        "MinTriggerInterval": spec.min_trigger_interval_s,
        "SensorHeight": spec.sensor_height_mm,
        "SensorWidth": spec.sensor_width_mm,
        "SideOverlap": calc.side_overlap * 100.0,
        "ValueSetIsDistance": value_set_is_distance,
        "version": 1,
    }


# -- Qt's spherical geodesy (QGeoCoordinate) -------------------------------------------------
def qt_distance_m(a: LatLon, b: LatLon) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlat, dlon = lat2 - lat1, math.radians(b[1] - a[1])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * QT_EARTH_MEAN_RADIUS_M * math.atan2(math.sqrt(h), math.sqrt(1 - h))


def qt_azimuth_deg(a: LatLon, b: LatLon) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlon = math.radians(b[1] - a[1])
    y = math.sin(dlon) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return (math.degrees(math.atan2(y, x)) + 360.0) % 360.0


def qt_at_distance_and_azimuth(a: LatLon, distance_m: float, azimuth_deg: float) -> LatLon:
    lat1, lon1 = math.radians(a[0]), math.radians(a[1])
    ratio = distance_m / QT_EARTH_MEAN_RADIUS_M
    az = math.radians(azimuth_deg)
    lat2 = math.asin(
        math.sin(lat1) * math.cos(ratio) + math.cos(lat1) * math.sin(ratio) * math.cos(az)
    )
    lon2 = lon1 + math.atan2(
        math.sin(az) * math.sin(ratio) * math.cos(lat1),
        math.cos(ratio) - math.sin(lat1) * math.sin(lat2),
    )
    return math.degrees(lat2), ((math.degrees(lon2) + 540.0) % 360.0) - 180.0


def _rotate(p: Point, origin: Point, angle_deg: float) -> Point:
    r = math.radians(-angle_deg)
    dx, dy = p[0] - origin[0], p[1] - origin[1]
    return (
        dx * math.cos(r) - dy * math.sin(r) + origin[0],
        dx * math.sin(r) + dy * math.cos(r) + origin[1],
    )


def _qt_angle(p1: Point, p2: Point) -> float:
    theta = math.degrees(math.atan2(-(p2[1] - p1[1]), p2[0] - p1[0]))
    return theta + 360.0 if theta < 0 else theta


def _qt_same(a: Point, b: Point) -> bool:
    """QPointF's ==: coordinates equal to Qt's fuzzy 1e-12."""
    return abs(a[0] - b[0]) <= 1e-12 and abs(a[1] - b[1]) <= 1e-12


def _clip_lines(lines: list[tuple[Point, Point]], closed: list[Point]) -> list[tuple[Point, Point]]:
    """QGC's _intersectLinesWithPolygon: per line, the two crossings farthest apart."""
    out = []
    for p1, p2 in lines:
        xs: list[Point] = []
        for j in range(len(closed) - 1):
            hit = line_intersection(p1, p2, closed[j], closed[j + 1], bounded=True)
            if hit is not None and not any(_qt_same(hit, x) for x in xs):
                xs.append(hit)
        if len(xs) < 2:
            continue
        best, first, second = 0.0, xs[0], xs[0]  # (a line through a vertex only: dropped)
        for a in xs:
            for b in xs:
                d = math.hypot(b[0] - a[0], b[1] - a[1])
                if d > best:
                    best, first, second = d, a, b
        if best > 1e-6:
            out.append((first, second))
    return out


@dataclass(frozen=True)
class TransectPoint:
    lat_deg: float
    lon_deg: float
    kind: CoordType


ENTRY_LOCATIONS: Final = ("top-left", "top-right", "bottom-left", "bottom-right")


def survey_transects(
    polygon: Sequence[LatLon],
    angle_deg: float,
    spacing_m: float,
    turnaround_m: float,
    entry_location: int = 0,
    *,
    refly: bool = False,
    projection: Projection = "azimuthal",
) -> list[list[TransectPoint]]:
    """QGC's survey transects in flight order (each: [turnaround], entry, exit, [turnaround]).

    ``entry_location`` is QGC's EntryLocation (0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right: which end of which outermost transect is flown first).
    """
    if len(polygon) < 3:
        raise PlanError(f"a survey polygon needs 3 vertices, got {len(polygon)}")
    plane = TangentPlane(polygon[0], projection)
    pts = [(0.0, 0.0), *plane.forward(polygon[1:])]
    closed = [*pts, pts[0]]
    angle = angle_deg
    if angle > 90.0:
        angle -= 180.0
    elif angle < -90.0:
        angle += 180.0
    if refly:
        angle += 90.0
    spacing = spacing_m if spacing_m >= MIN_TRANSECT_SPACING_M else 1e9
    xs = [p[0] for p in closed]
    ys = [p[1] for p in closed]
    center = ((min(xs) + max(xs)) / 2.0, (min(ys) + max(ys)) / 2.0)
    max_width = max(max(xs) - min(xs), max(ys) - min(ys)) + 2000.0
    half = max_width / 2.0
    lines: list[tuple[Point, Point]] = []
    x = center[0] - half
    x_max = x + max_width
    while x < x_max:
        top, bottom = (x, center[1] - half), (x, center[1] + half)
        lines.append((_rotate(top, center, angle), _rotate(bottom, center, angle)))
        x += spacing
    clipped = _clip_lines(lines, closed)
    if len(clipped) < 2:  # one line through the middle of the polygon
        p1, p2 = lines[0]
        mid = ((p1[0] + p2[0]) / 2, (p1[1] + p2[1]) / 2)
        dx, dy = center[0] - mid[0], center[1] - mid[1]
        clipped = _clip_lines([((p1[0] + dx, p1[1] + dy), (p2[0] + dx, p2[1] + dy))], closed)
    if not clipped:
        return []
    first_angle = _qt_angle(*clipped[0])
    same_way = [(b, a) if abs(_qt_angle(a, b) - first_angle) > 1.0 else (a, b) for a, b in clipped]
    geo = plane.reverse([p for line in same_way for p in line])
    transects = [[geo[2 * i], geo[2 * i + 1]] for i in range(len(same_way))]
    if entry_location in (2, 3):
        transects = [t[::-1] for t in transects]
    if entry_location in (1, 3):
        transects = transects[::-1]
    transects = [t[::-1] if i % 2 else t for i, t in enumerate(transects)]
    out = []
    for entry, exit_ in transects:
        row = [TransectPoint(*entry, "entry"), TransectPoint(*exit_, "exit")]
        if turnaround_m > 0:
            az_in = qt_azimuth_deg(entry, exit_)
            before = qt_at_distance_and_azimuth(entry, -turnaround_m, az_in)
            az_out = qt_azimuth_deg(exit_, entry)
            after = qt_at_distance_and_azimuth(exit_, -turnaround_m, az_out)
            row = [TransectPoint(*before, "turnaround"), *row, TransectPoint(*after, "turnaround")]
        out.append(row)
    return out


def transect_items(
    transects: Sequence[Sequence[TransectPoint]],
    altitudes_m: Sequence[Sequence[float]] | float,
    trigger_distance_m: float,
    *,
    frame: int = FRAME_GLOBAL_RELATIVE_ALT,
    images_in_turnaround: bool = True,
) -> list[MissionItem]:
    """QGC's items for transects: waypoints, with DO_SET_CAM_TRIGG_DIST switched on at the
    first turnaround and every survey entry, and off at the end (or at each exit when
    no images are taken in the turnarounds). ``altitudes_m``: one altitude, or one per
    point (terrain following, where interior points may have been added)."""
    items: list[MissionItem] = []
    trigger = trigger_distance_m > 0
    has_turnaround = any(p.kind == "turnaround" for t in transects for p in t)
    begin_end = images_in_turnaround and trigger
    last = len(transects) - 1
    for ti, transect in enumerate(transects):
        entry_turnaround = True
        for pi, p in enumerate(transect):
            alt = altitudes_m if isinstance(altitudes_m, float | int) else altitudes_m[ti][pi]
            wp = waypoint(p.lat_deg, p.lon_deg, float(alt), frame=frame)
            items.append(wp)
            if p.kind == "turnaround":
                first = ti == 0 and entry_turnaround
                last_exit = ti == last and not entry_turnaround
                if begin_end and (first or last_exit):
                    items.append(camera_trigger_distance(trigger_distance_m if first else 0.0))
                entry_turnaround = False
            elif p.kind == "entry":
                if trigger:
                    items.append(camera_trigger_distance(trigger_distance_m))
            elif (
                p.kind == "exit"
                and trigger
                and ((begin_end and not has_turnaround and ti == last) or not images_in_turnaround)
            ):
                items.append(camera_trigger_distance(0.0))
    return items


def camera_shots(
    transects: Sequence[Sequence[TransectPoint]],
    trigger_distance_m: float,
    images_in_turnaround: bool = True,
) -> int:
    """QGC's CameraShots estimate: per transect, ceil(length / trigger distance), the
    length taken over the turnarounds too when images are taken there."""
    if trigger_distance_m <= 0:
        return 0
    shots = 0
    for t in transects:
        if images_in_turnaround:
            entry, exit_ = t[0], t[-1]
        else:
            entry = next(p for p in t if p.kind == "entry")
            exit_ = next(p for p in t if p.kind == "exit")
        length = qt_distance_m((entry.lat_deg, entry.lon_deg), (exit_.lat_deg, exit_.lon_deg))
        shots += math.ceil(length / trigger_distance_m)
    return shots


__all__ = [
    "CMD_CAM_TRIGG_DIST",
    "FRAME_GLOBAL",
    "CameraCalc",
    "LatLon",
    "Point",
    "Projection",
    "TangentPlane",
    "TransectPoint",
    "camera_calc",
    "camera_shots",
    "offset_polygon",
    "structure_scan_items",
    "survey_transects",
    "transect_items",
]
