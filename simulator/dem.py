"""The scene's terrain as a DEM: ``dem.tif``, a GeoTIFF in UTM 44N (EPSG:32644).

Mission planning (``smartmine plan survey --dem dem.tif``) and checking read it like any
surveyed DEM, so a plan made for the simulated pit follows its benches. Heights are the
first surface seen from above at each cell centre, as WGS84 ellipsoidal heights (the
scene's vertical datum; there is no geoid in the simulator); cells with no surface are
nodata. Underground scenes have no terrain model to fly over: their DEM is the drift
floor seen from below.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.scene import UTM_EPSG
from smartmine.atomic import atomic_path

if TYPE_CHECKING:
    from simulator.scene import Scene

DEM_EPSG = UTM_EPSG
NODATA = -9999.0


def dem_grid(scene: Scene, res_m: float) -> tuple[Any, Any, float, float]:
    """UTM cell-centre coordinates covering the scene's raster bounds, and the grid's
    west and north edges."""
    x0, x1, y0, y1 = scene.raster_bounds_enu
    cx = np.array([x0, x1, x1, x0])
    cy = np.array([y0, y0, y1, y1])
    e, n, _ = scene.origin.to_projected(cx, cy, np.zeros(4), DEM_EPSG)
    west = float(np.floor(e.min() / res_m) * res_m)
    north = float(np.ceil(n.max() / res_m) * res_m)
    cols = int(np.ceil((e.max() - west) / res_m))
    rows = int(np.ceil((north - n.min()) / res_m))
    ee, nn = np.meshgrid(
        west + (np.arange(cols) + 0.5) * res_m, north - (np.arange(rows) + 0.5) * res_m
    )
    return ee, nn, west, north


def write_utm_geotiff(
    path: Path,
    raster: Any,
    grid: tuple[float, float, float],
    nodata: float,
    tags: dict[str, str],
    description: str,
) -> None:
    """One-band GeoTIFF in UTM 44N, north-up, ``grid`` = (west, north, resolution m),
    written atomically (the simulator's raster products)."""
    import rasterio
    from rasterio.transform import Affine

    west, north, res = grid
    with (
        atomic_path(path, overwrite=True) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            height=raster.shape[0],
            width=raster.shape[1],
            count=1,
            dtype=raster.dtype.name,
            crs=f"EPSG:{DEM_EPSG}",
            transform=Affine(res, 0.0, west, 0.0, -res, north),
            nodata=nodata,
            compress="deflate",
        ) as dst,
    ):
        dst.write(raster, 1)
        dst.update_tags(**tags)
        dst.set_band_description(1, description)


def write_dem(scene: Scene, path: Path, res_m: float = 1.0) -> dict[str, Any]:
    """Write ``dem.tif`` (float32 heights, m) and return its description for scene.json."""
    ee, nn, west, north = dem_grid(scene, res_m)
    x, y, _ = scene.origin.from_projected(ee, nn, np.full(ee.shape, scene.origin.alt_m), DEM_EPSG)
    if scene.underground:
        z_from = float(scene.terrain.vertices[:, 2].min()) - 5.0
        hits = scene.vertical_hits(x, y, z_from, "up")
        t = hits["t_hit"].astype(np.float64).reshape(x.shape)
        z = np.where(np.isfinite(t), z_from + t, np.nan)
    else:
        z = scene.surface_height(x, y)
    _, _, height = scene.origin.to_wgs84(x, y, np.nan_to_num(z))
    heights = np.where(np.isfinite(z), height, NODATA).astype(np.float32)
    write_utm_geotiff(
        path,
        heights,
        (west, north, res_m),
        NODATA,
        {
            "vertical": "WGS84 ellipsoidal height, m",
            "view": "from above" if not scene.underground else "drift floor, from below",
            "scene": scene.kind,
        },
        "terrain height (m)",
    )
    valid = heights[heights != NODATA]
    return {
        "crs": f"EPSG:{DEM_EPSG}",
        "shape": list(heights.shape),
        "resolution_m": res_m,
        "west_m": west,
        "north_m": north,
        "height_range_m": [float(valid.min()), float(valid.max())] if valid.size else None,
        "vertical": "WGS84 ellipsoidal height",
    }
