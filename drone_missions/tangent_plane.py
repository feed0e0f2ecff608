"""QGroundControl's tangent plane and Qt's line crossing: the plane geometry the survey
maths (:mod:`drone_missions.qgc`) and the StructureScan items of a loaded plan
(:mod:`drone_missions.plan`) share; below both, so neither imports the other's module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, Literal

Point = tuple[float, float]  # (x east, y north) metres on QGC's tangent plane
LatLon = tuple[float, float]
PX4_EARTH_RADIUS_M: Final = 6371000.0
Projection = Literal["azimuthal", "ellipsoidal"]


class TangentPlane:
    """QGC's NED conversion about a polygon's first vertex (x east, y north, height 0).

    ``azimuthal``: the spherical azimuthal-equidistant projection (PX4's map_projection,
    R = 6371 km) QGC used up to 4.0, which wrote the real survey files we check against;
    ``ellipsoidal``: GeographicLib's LocalCartesian of later QGC versions
    (:class:`smartmine.geodesy.LocalEnu`). They differ by millimetres over a survey.
    """

    def __init__(self, origin: LatLon, projection: Projection = "azimuthal") -> None:
        from smartmine.geodesy import LocalEnu

        self.origin = origin
        self.projection = projection
        self._enu = LocalEnu(origin[0], origin[1], 0.0)

    def _az_forward(self, p: LatLon) -> Point:
        lat, lon = math.radians(p[0]), math.radians(p[1])
        lat0, lon0 = math.radians(self.origin[0]), math.radians(self.origin[1])
        cos_c = math.sin(lat0) * math.sin(lat) + math.cos(lat0) * math.cos(lat) * math.cos(
            lon - lon0
        )
        c = math.acos(max(-1.0, min(1.0, cos_c)))
        k = 1.0 if abs(c) < 1e-15 else c / math.sin(c)
        north = k * (
            math.cos(lat0) * math.sin(lat) - math.sin(lat0) * math.cos(lat) * math.cos(lon - lon0)
        )
        east = k * math.cos(lat) * math.sin(lon - lon0)
        return east * PX4_EARTH_RADIUS_M, north * PX4_EARTH_RADIUS_M

    def _az_reverse(self, p: Point) -> LatLon:
        x_rad, y_rad = p[1] / PX4_EARTH_RADIUS_M, p[0] / PX4_EARTH_RADIUS_M
        lat0, lon0 = math.radians(self.origin[0]), math.radians(self.origin[1])
        c = math.hypot(x_rad, y_rad)
        if abs(c) < 1e-15:
            return self.origin
        sin_c, cos_c = math.sin(c), math.cos(c)
        lat = math.asin(cos_c * math.sin(lat0) + (x_rad * sin_c * math.cos(lat0)) / c)
        lon = lon0 + math.atan2(
            y_rad * sin_c, c * math.cos(lat0) * cos_c - x_rad * math.sin(lat0) * sin_c
        )
        return math.degrees(lat), math.degrees(lon)

    def forward(self, points: Sequence[LatLon]) -> list[Point]:
        if self.projection == "azimuthal":
            return [self._az_forward(p) for p in points]
        import numpy as np

        lat = np.array([p[0] for p in points])
        lon = np.array([p[1] for p in points])
        e, n, _ = self._enu.from_wgs84(lat, lon, np.zeros_like(lat))
        return [(float(x), float(y)) for x, y in zip(e, n, strict=True)]

    def reverse(self, points: Sequence[Point]) -> list[LatLon]:
        if self.projection == "azimuthal":
            return [self._az_reverse(p) for p in points]
        import numpy as np

        x = np.array([p[0] for p in points])
        y = np.array([p[1] for p in points])
        lat, lon, _ = self._enu.to_wgs84(x, y, np.zeros_like(x))
        return [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]


def line_intersection(a1: Point, a2: Point, b1: Point, b2: Point, bounded: bool) -> Point | None:
    """Qt's QLineF::intersects: the crossing of two lines, or of two segments if bounded."""
    ax, ay = a2[0] - a1[0], a2[1] - a1[1]
    bx, by = b1[0] - b2[0], b1[1] - b2[1]
    denom = ay * bx - ax * by
    if denom == 0 or not math.isfinite(denom):
        return None
    cx, cy = a1[0] - b1[0], a1[1] - b1[1]
    na = (by * cx - bx * cy) / denom
    nb = (ax * cy - ay * cx) / denom
    if bounded and not (0 <= na <= 1 and 0 <= nb <= 1):
        return None
    return a1[0] + ax * na, a1[1] + ay * na
