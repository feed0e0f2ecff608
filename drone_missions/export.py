"""Seeing a plan: GeoJSON, KML and a PNG map over a hillshade of the DEM.

All three show the same things: the flown route (legs, with the item numbers), home, the
survey polygons of the complex items, the geofence, the photo footprints (with a camera)
and the check's violations where they happen. GeoJSON and KML are WGS84 (EPSG:4326) with
altitudes AMSL; the PNG is drawn with OpenCV in a local metric frame at home, north up.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

from drone_missions.check import CheckReport
from drone_missions.coverage import Footprint
from drone_missions.dem import Dem
from drone_missions.plan import FenceCircle, Plan
from drone_missions.route import Route
from smartmine.atomic import atomic_path, write_text_atomic

F64 = npt.NDArray[np.float64]


def _lonlat(route: Route, xy: F64) -> list[list[float]]:
    from smartmine.geodesy import LocalEnu

    enu = LocalEnu(route.home_lat_deg, route.home_lon_deg, 0.0)
    lat, lon, _ = enu.to_wgs84(xy[:, 0], xy[:, 1], np.zeros(len(xy)))
    return [
        [float(a), float(b)] for a, b in zip(np.atleast_1d(lon), np.atleast_1d(lat), strict=True)
    ]


def _circle(center: tuple[float, float], radius_m: float, n: int = 72) -> list[list[float]]:
    from smartmine.geodesy import LocalEnu

    enu = LocalEnu(center[0], center[1], 0.0)
    a = np.linspace(0, 2 * math.pi, n + 1)
    lat, lon, _ = enu.to_wgs84(radius_m * np.cos(a), radius_m * np.sin(a), np.zeros(n + 1))
    return [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]


def features(
    plan: Plan,
    route: Route,
    prints: list[Footprint] | None = None,
    report: CheckReport | None = None,
) -> list[dict[str, Any]]:
    """GeoJSON features (lon, lat[, alt]) of everything a plan map shows."""
    feats: list[dict[str, Any]] = []

    def add(kind: str, geometry: dict[str, Any], **props: Any) -> None:
        feats.append(
            {"type": "Feature", "properties": {"kind": kind, **props}, "geometry": geometry}
        )

    wps = route.waypoints
    add(
        "route",
        {
            "type": "LineString",
            "coordinates": [[w.lon_deg, w.lat_deg, w.xyz[2]] for w in wps],
        },
        altitude="AMSL m",
    )
    add("home", {"type": "Point", "coordinates": [route.home_lon_deg, route.home_lat_deg]})
    for i, it in enumerate(route.items):
        p = route.item_points[i]
        if p is not None and it.has_position:
            add(
                "waypoint",
                {"type": "Point", "coordinates": [it.lon_deg, it.lat_deg, p[2]]},
                item=i,
                command=it.name,
                altitude_m=it.altitude_m,
                altitude_ref=it.altitude_ref,
            )
    for c in plan.complex_items():
        poly = c.definition.get("polygon")
        if isinstance(poly, list) and len(poly) >= 3:
            ring = [[float(v[1]), float(v[0])] for v in poly]
            add(f"{c.kind}-area", {"type": "Polygon", "coordinates": [[*ring, ring[0]]]})
    for f in plan.fence_polygons:
        ring = [[v[1], v[0]] for v in f.vertices]
        add("fence", {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}, inclusion=f.inclusion)
    for fc in plan.fence_circles:
        add(
            "fence",
            {"type": "Polygon", "coordinates": [_circle(fc.center, fc.radius_m)]},
            inclusion=fc.inclusion,
            radius_m=fc.radius_m,
        )
    for lat, lon, alt in plan.rally_points:
        add("rally", {"type": "Point", "coordinates": [lon, lat, alt]})
    for k, fp in enumerate(prints or []):
        ring = _lonlat(route, fp.corners_xy)
        add(
            "footprint",
            {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            photo=k,
            item=fp.photo.item_index,
            height_agl_m=round(fp.height_agl_m, 2),
        )
    for v in report.violations if report else []:
        if v.lat_deg is not None and v.lon_deg is not None:
            add(
                "violation",
                {"type": "Point", "coordinates": [v.lon_deg, v.lat_deg]},
                rule=v.rule,
                item=v.item_index,
                message=v.message,
            )
    return feats


def write_geojson(path: Path, feats: list[dict[str, Any]]) -> Path:
    doc = {"type": "FeatureCollection", "features": feats}
    return write_text_atomic(path, json.dumps(doc, indent=1) + "\n")


_KML_STYLES = {
    "route": ("ff00a5ff", 3),
    "survey-area": ("ffffff00", 2),
    "fence": ("ff0000ff", 2),
    "footprint": ("80ffffff", 1),
}


def write_kml(path: Path, feats: list[dict[str, Any]], name: str = "mission") -> Path:
    """KML 2.2 placemarks; the route with absolute (AMSL) altitudes."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
        f"<name>{escape(name)}</name>",
    ]
    for kind, (color, width) in _KML_STYLES.items():
        out.append(
            f'<Style id="{kind}"><LineStyle><color>{color}</color><width>{width}</width>'
            "</LineStyle><PolyStyle><fill>0</fill></PolyStyle></Style>"
        )
    for f in feats:
        kind = f["properties"]["kind"]
        g = f["geometry"]
        label = escape(
            str(f["properties"].get("command") or f["properties"].get("message") or kind)
        )
        style = kind if kind in _KML_STYLES else ("survey-area" if kind.endswith("-area") else "")
        head = f"<Placemark><name>{label}</name>" + (
            f"<styleUrl>#{style}</styleUrl>" if style else ""
        )

        def coords(points: list[list[float]]) -> str:
            return " ".join(",".join(f"{c:.9g}" for c in p) for p in points)

        if g["type"] == "Point":
            body = f"<Point><coordinates>{coords([g['coordinates']])}</coordinates></Point>"
        elif g["type"] == "LineString":
            body = (
                "<LineString><altitudeMode>absolute</altitudeMode>"
                f"<coordinates>{coords(g['coordinates'])}</coordinates></LineString>"
            )
        else:
            body = (
                "<Polygon><outerBoundaryIs><LinearRing><coordinates>"
                f"{coords(g['coordinates'][0])}</coordinates></LinearRing></outerBoundaryIs></Polygon>"
            )
        out.append(head + body + "</Placemark>")
    out.append("</Document></kml>")
    return write_text_atomic(path, "\n".join(out) + "\n")


def hillshade(z: F64, cell_x_m: float, cell_y_m: float, azimuth_deg: float = 315.0) -> F64:
    """0..1 shading of a height grid (rows north to south), light from the north-west."""
    gy, gx = np.gradient(np.nan_to_num(z, nan=float(np.nanmean(z))), cell_y_m, cell_x_m)
    slope = np.arctan(np.hypot(gx, gy))
    aspect = np.arctan2(-gx, gy)
    az = math.radians(360.0 - azimuth_deg + 90.0)
    alt = math.radians(45.0)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    return np.asarray(np.clip(shade, 0.0, 1.0), dtype=np.float64)


def write_png(
    path: Path,
    plan: Plan,
    route: Route,
    dem: Dem | None = None,
    prints: list[Footprint] | None = None,
    report: CheckReport | None = None,
    size_px: int = 1200,
) -> Path:
    """The plan over a hillshade of the DEM (or a plain background), north up."""
    import cv2

    from smartmine.geodesy import LocalEnu

    enu = LocalEnu(route.home_lat_deg, route.home_lon_deg, 0.0)

    def xy_of(lat: Any, lon: Any) -> F64:
        e, n, _ = enu.from_wgs84(np.asarray(lat), np.asarray(lon), np.zeros(np.shape(lat)))
        return np.stack([np.atleast_1d(e), np.atleast_1d(n)], axis=1)

    pts = [np.array([w.xyz[:2] for w in route.waypoints])]
    for f in plan.fence_polygons:
        pts.append(xy_of([v[0] for v in f.vertices], [v[1] for v in f.vertices]))
    for fp in prints or []:
        pts.append(fp.corners_xy)
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = max(float((hi - lo).max()), 10.0) * 1.1
    mid = (lo + hi) / 2
    lo, hi = mid - span / 2, mid + span / 2
    scale = size_px / span

    def px(xy: F64) -> npt.NDArray[np.int32]:
        u = (xy[:, 0] - lo[0]) * scale
        v = (hi[1] - xy[:, 1]) * scale
        return np.stack([u, v], axis=1).round().astype(np.int32)

    canvas = np.full((size_px, size_px, 3), 235, dtype=np.uint8)
    if dem is not None:
        grid = np.linspace(0, span, min(size_px, 600))
        gx, gy = np.meshgrid(lo[0] + grid, hi[1] - grid)
        lat, lon, _ = enu.to_wgs84(gx, gy, np.zeros_like(gx))
        z = dem.height_amsl(lat, lon)
        if np.isfinite(z).any():
            cell = span / len(grid)
            shade = hillshade(z, cell, cell)
            tint = (z - np.nanmin(z)) / max(float(np.nanmax(z) - np.nanmin(z)), 1e-6)
            low, high = np.array([90.0, 150.0, 110.0]), np.array([200.0, 215.0, 235.0])  # BGR
            colour = low + (high - low) * tint[..., None]
            img = colour * (0.45 + 0.55 * shade[..., None])
            img = np.where(np.isfinite(z)[..., None], img, 235)
            resized = cv2.resize(
                img.astype(np.uint8), (size_px, size_px), interpolation=cv2.INTER_LINEAR
            )
            canvas = np.asarray(resized, dtype=np.uint8)
    for fp in prints or []:
        cv2.polylines(canvas, [px(fp.corners_xy)], True, (200, 200, 200), 1, cv2.LINE_AA)
    for c in plan.complex_items():
        poly = c.definition.get("polygon")
        if isinstance(poly, list) and len(poly) >= 3:
            ring = xy_of([v[0] for v in poly], [v[1] for v in poly])
            cv2.polylines(canvas, [px(ring)], True, (200, 160, 0), 2, cv2.LINE_AA)
    for f in plan.fence_polygons:
        ring = xy_of([v[0] for v in f.vertices], [v[1] for v in f.vertices])
        color = (0, 160, 0) if f.inclusion else (0, 0, 200)
        cv2.polylines(canvas, [px(ring)], True, color, 2, cv2.LINE_AA)
    for fc in plan.fence_circles:
        c_xy = xy_of(fc.center[0], fc.center[1])
        color = (0, 160, 0) if fc.inclusion else (0, 0, 200)
        center = (int(px(c_xy)[0, 0]), int(px(c_xy)[0, 1]))
        cv2.circle(canvas, center, int(fc.radius_m * scale), color, 2, cv2.LINE_AA)
    route_px = px(np.array([w.xyz[:2] for w in route.waypoints]))
    cv2.polylines(canvas, [route_px], False, (0, 120, 255), 2, cv2.LINE_AA)
    hx, hy = px(np.zeros((1, 2)))[0]
    cv2.drawMarker(canvas, (int(hx), int(hy)), (0, 0, 0), cv2.MARKER_TRIANGLE_UP, 18, 2)
    for v in report.violations if report else []:
        if v.lat_deg is None or v.lon_deg is None:
            continue
        x, y = px(xy_of(v.lat_deg, v.lon_deg))[0]
        cv2.drawMarker(canvas, (int(x), int(y)), (0, 0, 255), cv2.MARKER_TILTED_CROSS, 22, 3)
        cv2.putText(
            canvas,
            v.rule,
            (int(x) + 8, int(y) - 8),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (0, 0, 200),
            1,
            cv2.LINE_AA,
        )
    bar_m = 10 ** math.floor(math.log10(span / 4))
    cv2.line(canvas, (20, size_px - 20), (20 + int(bar_m * scale), size_px - 20), (0, 0, 0), 3)
    cv2.putText(
        canvas,
        f"{bar_m:g} m",
        (20, size_px - 30),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.6,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    cv2.putText(canvas, "N", (size_px - 30, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    with atomic_path(path, overwrite=True) as tmp:
        ok, data = cv2.imencode(".png", canvas)
        if not ok:
            raise OSError(f"cannot encode {path}")
        tmp.write_bytes(data.tobytes())
    return Path(path)


__all__ = ["FenceCircle", "features", "hillshade", "write_geojson", "write_kml", "write_png"]
