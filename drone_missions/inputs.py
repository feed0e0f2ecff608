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
from drone_missions.plan import FenceCircle, FencePolygon
from smartmine.errors import SmartmineError

LatLon = tuple[float, float]


def _ring(coords: Any, where: str) -> list[LatLon]:
    if not isinstance(coords, list) or len(coords) < 3:
        raise MissionError(f"{where}: a polygon ring needs at least 3 positions")
    ring = []
    for c in coords:
        if not isinstance(c, list | tuple) or len(c) < 2:
            raise MissionError(f"{where}: position {c!r} is not [lon, lat]")
        ring.append((float(c[1]), float(c[0])))
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 3:
        raise MissionError(f"{where}: a polygon needs 3 distinct vertices")
    for lat, lon in ring:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise MissionError(f"{where}: ({lon}, {lat}) is not WGS84 lon/lat degrees")
    return ring


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
            rings.append(_ring((g.get("coordinates") or [None])[0], f"{file}"))
        elif g.get("type") == "MultiPolygon":
            rings += [_ring(p[0], f"{file}") for p in g.get("coordinates") or []]
    if not rings:
        raise MissionError(f"{file}: no Polygon or MultiPolygon in the GeoJSON")
    return rings


def read_polyline(path: str | Path) -> list[LatLon]:
    """The first LineString (lat, lon) of a GeoJSON or KML file."""
    file, text, doc = _read(path, "line")
    if doc is None:
        lines = _kml_coordinates(text, file, "LineString")
        if not lines:
            raise MissionError(f"{file}: no LineString in the KML")
        return lines[0]
    for g in _geojson_geometries(doc):
        if g.get("type") == "LineString":
            coords = g.get("coordinates") or []
            if len(coords) < 2:
                raise MissionError(f"{file}: the LineString needs 2 positions")
            return [(float(c[1]), float(c[0])) for c in coords]
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
        props = f.get("properties") or {}
        inclusion = bool(props.get("inclusion", True))
        for g in _geojson_geometries(f):
            where = f"{file}: feature {k}"
            if g.get("type") == "Polygon":
                out.append(FencePolygon(tuple(_ring(g["coordinates"][0], where)), inclusion))
            elif g.get("type") == "MultiPolygon":
                out += [
                    FencePolygon(tuple(_ring(p[0], where)), inclusion) for p in g["coordinates"]
                ]
            elif g.get("type") == "Point" and "radius_m" in props:
                lon, lat = g["coordinates"][:2]
                out.append(
                    FenceCircle((float(lat), float(lon)), float(props["radius_m"]), inclusion)
                )
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


__all__ = ["SURVEY_CAMERAS", "load_camera", "read_polygons", "read_polyline"]
