"""What planners read: survey areas (GeoJSON, KML), polylines, cameras (catalog or YAML).

One reader per format behind one function each, chosen from the file name; every error
names the file and what is wrong with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from calibration.camera_model import SURVEY_CAMERAS, SensorSpec, survey_camera
from drone_missions.errors import MissionError
from drone_missions.plan import (
    FenceCircle,
    FencePolygon,
    check_latlon,
    check_polygon,
    check_polyline,
    require_number,
)
from smartmine.errors import SmartmineError

LatLon = tuple[float, float]


def _ring(coords: Any, where: str) -> list[LatLon]:
    """A GeoJSON/KML ring ([lon, lat] positions) as a checked simple polygon (lat, lon):
    finite, in range, 3+ distinct vertices, no repeats, an area, no crossing edges."""
    if not isinstance(coords, list) or len(coords) < 3:
        raise MissionError(f"{where}: a polygon ring needs at least 3 positions")
    latlon = []
    for c in coords:
        if not isinstance(c, list | tuple) or len(c) < 2:
            raise MissionError(f"{where}: position {c!r} is not [lon, lat]")
        latlon.append((c[1], c[0]))
    return list(check_polygon(latlon, where))


def _geojson_geometries(doc: Any) -> list[dict[str, Any]]:
    if not isinstance(doc, dict):
        return []
    kind = doc.get("type")
    if kind == "FeatureCollection":
        return [g for f in doc.get("features") or [] for g in _geojson_geometries(f)]
    if kind == "Feature":
        return _geojson_geometries(doc.get("geometry"))
    if kind == "GeometryCollection":
        return [g for x in doc.get("geometries") or [] for g in _geojson_geometries(x)]
    return [doc] if kind else []


def _read(path: str | Path, what: str) -> tuple[Path, str, Any]:
    """The file, its text, and its GeoJSON document (None for KML)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise MissionError(f"cannot read {what} {file}: {err.strerror or err}") from None
    if file.suffix.lower() == ".kml" or text.lstrip().startswith("<"):
        return file, text, None
    try:
        return file, text, json.loads(text)
    except json.JSONDecodeError as err:
        raise MissionError(f"{file}: invalid GeoJSON: {err}") from None


def read_polygons(path: str | Path) -> list[list[LatLon]]:
    """Outer rings (lat, lon) of the polygons in a GeoJSON or KML file."""
    file, text, doc = _read(path, "area")
    if doc is None:
        return [r for r in _kml_coordinates(text, file, "Polygon") if len(r) >= 3]
    rings: list[list[LatLon]] = []
    for g in _geojson_geometries(doc):
        if g.get("type") == "Polygon":
            rings.append(_ring(_outer(g, str(file)), f"{file}"))
        elif g.get("type") == "MultiPolygon":
            rings += [_ring(p, f"{file}") for p in _outers(g, str(file))]
    if not rings:
        raise MissionError(f"{file}: no Polygon or MultiPolygon in the GeoJSON")
    return rings


def _outer(geometry: dict[str, Any], where: str) -> Any:
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or not coords:
        raise MissionError(f"{where}: the Polygon has no coordinates")
    return coords[0]


def _outers(geometry: dict[str, Any], where: str) -> list[Any]:
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or not all(isinstance(p, list) and p for p in coords):
        raise MissionError(f"{where}: the MultiPolygon's coordinates are not polygons")
    return [p[0] for p in coords]


def read_area(path: str | Path) -> tuple[list[LatLon], str | None]:
    """The one survey polygon of a GeoJSON or KML file, and a note when it was picked
    among others (a ``plan export`` file: its one ``*-area`` polygon). A file with more
    than one polygon (or none) is refused with what it holds."""
    file, text, doc = _read(path, "area")
    polygons = read_polygons(file)
    if len(polygons) == 1:
        return polygons[0], None
    kinds = _feature_kinds(text, doc)
    areas = [k for k, kind in enumerate(kinds.get("polygon-kinds", [])) if kind.endswith("-area")]
    if len(areas) == 1 and len(kinds.get("polygon-kinds", [])) == len(polygons):
        kind = kinds["polygon-kinds"][areas[0]]
        return polygons[areas[0]], f"{file}: using its one {kind} polygon as the area"
    raise MissionError(f"{file}: holds {_describe(kinds, len(polygons))}; give one polygon")


def _feature_kinds(text: str, doc: Any) -> dict[str, list[str]]:
    """Per geometry type, the ``kind`` (our exports) or name of each feature."""
    out: dict[str, list[str]] = {}
    if doc is None:  # KML: placemark names
        import xml.etree.ElementTree as ET

        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return out
        for mark in root.iter():
            if mark.tag.split("}")[-1] != "Placemark":
                continue
            name = next((c.text or "" for c in mark if c.tag.split("}")[-1] == "name"), "")
            for child in mark.iter():
                tag = child.tag.split("}")[-1]
                if tag in ("Polygon", "LineString", "Point"):
                    key = "polygon-kinds" if tag == "Polygon" else tag
                    out.setdefault(key, []).append(name)
        return out
    features = doc.get("features") if isinstance(doc, dict) else None
    for f in features if isinstance(features, list) else [doc]:
        if not isinstance(f, dict):
            continue
        props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
        for g in _geojson_geometries(f):
            kind = str(props.get("kind") or g.get("type"))  # type: ignore[union-attr]
            key = (
                "polygon-kinds"
                if g.get("type") in ("Polygon", "MultiPolygon")
                else str(g.get("type"))
            )
            out.setdefault(key, []).append(kind)
    return out


def _describe(kinds: dict[str, list[str]], n_polygons: int) -> str:
    from collections import Counter

    parts = []
    if n_polygons:
        counted = Counter(kinds.get("polygon-kinds", []))
        named = ", ".join(f"{n} {k}" for k, n in counted.items())
        parts.append(f"{n_polygons} polygons" + (f" ({named})" if named else ""))
    else:
        parts.append("no polygon")
    lines = kinds.get("LineString", [])
    if lines:
        parts.append(
            "the route LineString" if lines == ["route"] else f"{len(lines)} LineString(s)"
        )
    points = kinds.get("Point", [])
    if points:
        parts.append(f"{len(points)} points")
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)


def read_polyline(path: str | Path) -> list[LatLon]:
    """The first LineString (lat, lon) of a GeoJSON or KML file."""
    file, text, doc = _read(path, "line")
    if doc is None:
        lines = _kml_coordinates(text, file, "LineString")
        if not lines:
            raise MissionError(f"{file}: no LineString in the KML")
        return list(check_polyline(lines[0], f"{file}: LineString"))
    for g in _geojson_geometries(doc):
        if g.get("type") == "LineString":
            coords = g.get("coordinates")
            if not isinstance(coords, list):
                raise MissionError(f"{file}: the LineString has no coordinates list")
            swapped = [(c[1], c[0]) if isinstance(c, list) and len(c) >= 2 else c for c in coords]
            return list(check_polyline(swapped, f"{file}: LineString"))
    raise MissionError(f"{file}: no LineString in the GeoJSON")


def _kml_coordinates(text: str, file: Path, tag: str) -> list[list[LatLon]]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise MissionError(f"{file}: invalid KML: {err}") from None
    out: list[list[LatLon]] = []
    for el in root.iter():
        if el.tag.split("}")[-1] != tag:
            continue
        for coord in el.iter():
            if coord.tag.split("}")[-1] != "coordinates" or not coord.text:
                continue
            if tag == "Polygon" and not _in_outer_boundary(el, coord):
                continue
            pts = []
            for tok in coord.text.split():
                parts = tok.split(",")
                try:
                    pts.append([float(parts[0]), float(parts[1])])
                except (ValueError, IndexError):
                    raise MissionError(f"{file}: KML coordinate {tok!r} is not lon,lat") from None
            if tag == "Polygon":
                out.append(_ring(pts, str(file)))
            else:
                out.append([(p[1], p[0]) for p in pts])
            break
    if not out and tag == "Polygon":
        raise MissionError(f"{file}: no Polygon in the KML")
    return out


def _in_outer_boundary(polygon: Any, coord: Any) -> bool:
    for child in polygon:
        if child.tag.split("}")[-1] == "outerBoundaryIs":
            return any(c is coord for c in child.iter())
    return True


def read_fences(path: str | Path) -> list[FencePolygon | FenceCircle]:
    """Geofences from GeoJSON: polygons (``properties.inclusion``, default true) and
    points with ``properties.radius_m`` (circles)."""
    file, _, doc = _read(path, "fence")
    if doc is None:
        raise MissionError(f"{file}: fences must be GeoJSON")
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        features = [{"type": "Feature", "properties": {}, "geometry": doc}]
    out: list[FencePolygon | FenceCircle] = []
    for k, f in enumerate(features):
        if not isinstance(f, dict):
            raise MissionError(f"{file}: feature {k} is not a JSON object")
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            raise MissionError(f"{file}: feature {k} properties is not a JSON object")
        inclusion = bool(props.get("inclusion", True))
        for g in _geojson_geometries(f):
            where = f"{file}: feature {k}"
            if g.get("type") == "Polygon":
                out.append(FencePolygon(tuple(_ring(_outer(g, where), where)), inclusion))
            elif g.get("type") == "MultiPolygon":
                out += [FencePolygon(tuple(_ring(p, where)), inclusion) for p in _outers(g, where)]
            elif g.get("type") == "Point" and "radius_m" in props:
                coords = g.get("coordinates")
                if not isinstance(coords, list) or len(coords) < 2:
                    raise MissionError(f"{where}: the Point has no [lon, lat]")
                lat, lon = check_latlon(coords[1], coords[0], where)
                radius = require_number(props["radius_m"], f"{where} radius_m", low=0.0,
                                        low_open=True)  # fmt: skip
                out.append(FenceCircle((lat, lon), radius, inclusion))
    if not out:
        raise MissionError(f"{file}: no fence polygon (or point with radius_m) in it")
    return out


def load_camera(name_or_path: str) -> SensorSpec:
    """A camera from the built-in catalog by name, or from a YAML file with the keys
    ``name, sensor_width_mm, sensor_height_mm, focal_length_mm, image_width_px,
    image_height_px`` (``landscape``, ``min_trigger_interval_s`` optional)."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise MissionError(f"cannot read camera {path}: {err.strerror or err}") from None
        except yaml.YAMLError as err:
            raise MissionError(f"{path}: invalid YAML: {' '.join(str(err).split())}") from None
        if not isinstance(data, dict):
            raise MissionError(f"{path}: expected a mapping of camera fields")
        fields = (
            "sensor_width_mm",
            "sensor_height_mm",
            "focal_length_mm",
            "image_width_px",
            "image_height_px",
        )
        missing = [f for f in fields if f not in data]
        if missing:
            raise MissionError(f"{path}: camera lacks {', '.join(missing)}")
        for key in (*fields, "min_trigger_interval_s"):
            value = data.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MissionError(f"{path}: camera field {key} is {value!r}, not a number")
        require_number(
            data.get("min_trigger_interval_s", 0.0), f"{path}: min_trigger_interval_s", low=0.0
        )
        try:
            return SensorSpec(
                name=str(data.get("name", path.stem)),
                sensor_width_mm=float(data["sensor_width_mm"]),
                sensor_height_mm=float(data["sensor_height_mm"]),
                focal_length_mm=float(data["focal_length_mm"]),
                image_width_px=int(data["image_width_px"]),
                image_height_px=int(data["image_height_px"]),
                landscape=bool(data.get("landscape", True)),
                min_trigger_interval_s=float(data.get("min_trigger_interval_s", 0.0)),
            )
        except (TypeError, ValueError) as err:
            raise MissionError(f"{path}: bad camera field ({err})") from None
        except SmartmineError as err:
            raise MissionError(f"{path}: {err}") from None
    try:
        return survey_camera(name_or_path)
    except SmartmineError as err:
        raise MissionError(str(err)) from None


__all__ = ["SURVEY_CAMERAS", "load_camera", "read_area", "read_polygons", "read_polyline"]
