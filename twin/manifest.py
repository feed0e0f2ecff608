"""run.json, the manifest of a reprocess (docs/notes/issue-18-contract.md): where the
products are on Earth (CRS, or the mine grid with its transform; WGS84 bbox and
footprint), which roles they play, the classes with their areas, the accuracy figures.

Written last and atomically: a RUN_DIR is complete iff run.json exists.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.atomic import write_text_atomic
from smartmine.geodesy import MineGrid, MineGridFit
from smartmine.report import to_jsonable

SCHEMA = "smartmine.run/1"
F64 = npt.NDArray[np.float64]
FOOTPRINT_MAX_POINTS = 20_000
"""Points (DSM cells or cloud points) sampled for the footprint's convex hull."""


def run_id(start_ns: int | None, sha256: str) -> str:
    """``20261207T101500Z-ab12cd34``: UTC start of the data + 8 hex of the input hash."""
    if start_ns is None:
        return f"undated-{sha256[:8]}"
    start = dt.datetime.fromtimestamp(start_ns / 1e9, dt.UTC)
    return f"{start:%Y%m%dT%H%M%SZ}-{sha256[:8]}"


def slug(text: str) -> str:
    """A STAC-safe collection id: lower case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "site"


def epsg_of(crs: str | None) -> int | None:
    """``EPSG:32644`` -> 32644; a grid name or a local frame -> None."""
    if not crs:
        return None
    text = crs.strip().upper().removeprefix("EPSG:")
    return int(text) if text.isdigit() else None


def mine_grid_entry(grid: MineGrid, name: str) -> dict[str, Any]:
    """run.json ``mine_grid``: the 4x4 matrix taking grid coordinates to ``to_crs``."""
    return {
        "name": grid.name or name,
        "to_crs": f"EPSG:{grid.crs}" if isinstance(grid.crs, int) else str(grid.crs),
        "matrix_4x4": np.linalg.inv(grid.matrix()).tolist(),
    }


def grid_from_markers(markers: Path, crs: str, name: str) -> MineGridFit | None:
    """The mine grid's tie to ``crs`` fitted (horizontal similarity + height offset,
    smartmine.geodesy) to the marker corners known in both the grid and ``crs`` columns
    of the markers file; None when it has only one set."""
    from mapping.slam.georef import read_control_points
    from smartmine.geodesy import fit_mine_grid

    in_grid = read_control_points(markers, "auto")
    in_crs = read_control_points(markers, "utm")
    keys = sorted(set(in_grid.points) & set(in_crs.points))
    projected = np.array([in_crs.points[k] for k in keys])
    grid = np.array([in_grid.points[k] for k in keys])
    if np.array_equal(projected, grid):  # the same columns both times: one set only
        return None
    return fit_mine_grid(projected, grid, crs, kind="horizontal", name=name)


def _hull(xy: F64) -> F64:
    """The convex hull's vertices (counter-clockwise), or the points when too few."""
    from scipy.spatial import ConvexHull, QhullError

    if len(xy) > FOOTPRINT_MAX_POINTS:
        xy = xy[np.linspace(0, len(xy) - 1, FOOTPRINT_MAX_POINTS).astype(np.int64)]
    try:
        return np.asarray(xy[ConvexHull(xy).vertices], dtype=np.float64)
    except (QhullError, ValueError):
        return xy


def raster_points(path: Path) -> tuple[F64, int | None]:
    """Centres (E, N) of a raster's valid cells (finite, not nodata: the DSM's surface,
    the class map's seen cells) and its EPSG code."""
    import rasterio

    with rasterio.open(path) as src:
        band = src.read(1).astype(np.float64)
        valid = (
            np.isfinite(band) if src.nodata is None else np.isfinite(band) & (band != src.nodata)
        )
        rows, cols = np.nonzero(valid)
        east, north = rasterio.transform.xy(src.transform, rows, cols)
        epsg = src.crs.to_epsg() if src.crs else None
    return np.column_stack([np.asarray(east), np.asarray(north)]), epsg


def cloud_points(laz: Path) -> F64:
    """The cloud's coordinates (N, 3) as stored (its own frame)."""
    import laspy

    las = laspy.read(str(laz))
    return np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])


def footprint_wgs84(
    xy: F64, *, epsg: int | None = None, grid: MineGrid | None = None, z: float = 0.0
) -> tuple[list[float], dict[str, Any]] | None:
    """(bbox, GeoJSON polygon) in WGS84 of the points' hull, from a UTM CRS or a mine
    grid; None when the points are in no known frame."""
    from smartmine.geodesy import utm_to_wgs84

    if len(xy) < 1 or (epsg is None and grid is None):
        return None
    hull = _hull(xy)
    if grid is not None:
        lat, lon, _ = grid.to_wgs84(hull[:, 0], hull[:, 1], np.full(len(hull), z))
    else:
        assert epsg is not None
        lat, lon = utm_to_wgs84(hull[:, 0], hull[:, 1], epsg)
    ring = [[round(float(a), 8), round(float(b), 8)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    bbox = [
        round(float(np.min(lon)), 8),
        round(float(np.min(lat)), 8),
        round(float(np.max(lon)), 8),
        round(float(np.max(lat)), 8),
    ]
    return bbox, {"type": "Polygon", "coordinates": [ring]}


def classes_entry(hsi_classes: list[dict[str, Any]], class_map: Path) -> list[dict[str, Any]]:
    """run.json ``classes``: the mapped classes (area > 0) with their map colour, whether
    they are contamination (the weight of the mineral the class name names,
    hyperspectral.contamination) and area from the class map."""
    import rasterio

    from hyperspectral.contamination import class_weight

    with rasterio.open(class_map) as src:
        try:
            colormap = src.colormap(1)
        except ValueError:  # no colour table (more than 255 classes)
            colormap = {}
    out = []
    for c in hsi_classes:
        value = int(c["label"])
        if value == 0 or float(c["area_m2"]) <= 0:
            continue
        r, g, b = colormap.get(value, (128, 128, 128, 255))[:3]
        out.append(
            {
                "value": value,
                "name": str(c["name"]),
                "colour": f"#{r:02x}{g:02x}{b:02x}",
                "contamination": class_weight(str(c["name"])) > 0,
                "area_m2": float(c["area_m2"]),
            }
        )
    return out


def write_run_json(run_dir: Path, doc: dict[str, Any]) -> Path:
    """run.json, atomically (the commit point of the run)."""
    return write_text_atomic(
        run_dir / "run.json", json.dumps(to_jsonable(doc), indent=2, allow_nan=False) + "\n"
    )
