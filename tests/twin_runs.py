"""Small RUN_DIRs (docs/notes/issue-18-contract.md) made of real product files, for the
publish, serve and demo tests: a surveyed slope near the mine (UTM 44N, lat 49.9 lon
82.6) whose every product is drawn from one analytic surface, so a ground point has
known coordinates in each of them.

- ``make_run_dir(folder)``: an aerial run in EPSG:32644: LAZ (draped ``class_id`` and
  ``heat`` extra bytes), GLB mesh of the DSM, DSM / class map / heat map as COGs, the
  orthophoto as a plain (striped, not cloud-optimized) GeoTIFF that publish must convert,
  TUM trajectory, report HTML/JSON;
- ``make_run_dir(folder, mine_grid=True)``: the same ground in a mine grid (rotated 30°,
  shifted) with the grid -> EPSG:32644 matrix in run.json.

:data:`MARKER` is a ground-control point of the scene (on a DSM cell centre, so a mesh
vertex sits on it).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
EPSG: Final = 32644
LAT0, LON0 = 49.9, 82.6
RES_M: Final = 0.5
WIDTH_M, HEIGHT_M = 40.0, 30.0
SLOPE: Final = 0.05
CLASSES: Final = [
    {"value": 1, "name": "jarosite", "colour": "#c8a000", "contamination": True, "area_m2": 300.0},
    {
        "value": 2,
        "name": "iron oxide",
        "colour": "#a04020",
        "contamination": False,
        "area_m2": 900.0,
    },
]


def origin_utm() -> tuple[float, float]:
    """South-west corner of the scene (whole metres), UTM 44N."""
    import pyproj

    to_utm = pyproj.Transformer.from_crs(4326, EPSG, always_xy=True)
    e, n = to_utm.transform(LON0, LAT0)
    return float(math.floor(e)), float(math.floor(n))


def ground_z(e: F64, n: F64) -> F64:
    """Height of the ground (ellipsoidal, m) at UTM ``e``, ``n``: a 5 % slope."""
    e0, n0 = origin_utm()
    return np.asarray(380.0 + SLOPE * (e - e0) + 0.02 * (n - n0), dtype=np.float64)


def marker_utm() -> F64:
    """The ground-control marker: at a DSM cell centre, so on the mesh."""
    e0, n0 = origin_utm()
    e, n = e0 + 12.25, n0 + 17.75
    return np.array([e, n, float(ground_z(np.array(e), np.array(n)))])


MARKER: Final = "GCP-1"


def grid():  # type: ignore[no-untyped-def]
    """The mine grid: UTM turned 30° and shifted to small numbers."""
    from smartmine.geodesy import MineGrid

    e0, n0 = origin_utm()
    return MineGrid.horizontal(EPSG, 1.0, 30.0, (-e0 + 1000.0, -n0 + 2000.0, -300.0), "pit-grid")


def make_run_dir(
    folder: Path,
    *,
    mine_grid: bool = False,
    run_id: str = "20261207T101500Z-ab12cd34",
    site: str = "open-pit",
    points: int = 12_000,
) -> Path:
    """A complete RUN_DIR at ``folder`` (made); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sfm").mkdir(exist_ok=True)
    (folder / "hsi").mkdir(exist_ok=True)
    to_frame = _to_frame(mine_grid)
    products = {
        "cloud": _cloud(folder / "sfm" / "dense.laz", to_frame, mine_grid, points),
        "mesh": _mesh(folder / "sfm" / "mesh.glb", to_frame, mine_grid),
        **_rasters(folder, mine_grid),
        "trajectory": _trajectory(folder / "sfm" / "trajectory.txt", to_frame),
        "report_html": "report.html",
        "report_json": "report.json",
    }
    (folder / "report.html").write_text("<!doctype html><html><body>run</body></html>\n")
    (folder / "report.json").write_text(json.dumps({"failed": [], "summary": {}}) + "\n")
    (folder / "config.json").write_text("{}\n")
    run = manifest(run_id, site, mine_grid, products)
    (folder / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    return folder


def _to_frame(mine_grid: bool) -> Any:
    if not mine_grid:
        return lambda xyz: xyz
    g = grid()

    def to_grid(xyz: F64) -> F64:
        x, y, z = g.to_grid(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        return np.column_stack([x, y, z])

    return to_grid


def _frame(mine_grid: bool, origin: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Any:
    from mapping.products import ProductFrame

    if mine_grid:
        return ProductFrame(crs=None, local_frame="pit-grid", origin=origin)
    return ProductFrame(crs=EPSG, origin=origin)


def _cloud(path: Path, to_frame: Any, mine_grid: bool, count: int) -> str:
    import laspy

    from mapping.products import write_cloud_laz

    e0, n0 = origin_utm()
    rng = np.random.default_rng(18)
    xy = rng.uniform([e0 + 1, n0 + 1], [e0 + WIDTH_M - 1, n0 + HEIGHT_M - 1], (count, 2))
    # every 8th cell centre too: points whose DSM cell value is their own height
    cx, cy = np.meshgrid(
        np.arange(e0 + 1.25, e0 + WIDTH_M - 1, 4.0), np.arange(n0 + 1.25, n0 + HEIGHT_M - 1, 4.0)
    )
    xy = np.vstack([xy, np.column_stack([cx.ravel(), cy.ravel()])])
    utm = np.column_stack([xy, ground_z(xy[:, 0], xy[:, 1])])
    write_cloud_laz(
        path, to_frame(utm), rng.integers(0, 255, (len(utm), 3)), frame=_frame(mine_grid)
    )
    las = laspy.read(path)
    las.add_extra_dims(
        [laspy.ExtraBytesParams("class_id", np.uint8), laspy.ExtraBytesParams("heat", np.float32)]
    )
    las.class_id = _class_at(utm).astype(np.uint8)
    las.heat = (las.class_id == 1).astype(np.float32) * 0.8
    las.write(path)
    return str(path.relative_to(path.parents[1]))


def _class_at(utm: F64) -> npt.NDArray[np.int64]:
    e0, _ = origin_utm()
    return np.where(utm[:, 0] - e0 < 10.0, 1, 2)


def _cells() -> tuple[F64, F64]:
    e0, n0 = origin_utm()
    xs = e0 + (np.arange(int(WIDTH_M / RES_M)) + 0.5) * RES_M
    ys = n0 + HEIGHT_M - (np.arange(int(HEIGHT_M / RES_M)) + 0.5) * RES_M
    return np.meshgrid(xs, ys)


def _mesh(path: Path, to_frame: Any, mine_grid: bool) -> str:
    from mapping.products import write_mesh

    gx, gy = _cells()
    utm = np.column_stack([gx.ravel(), gy.ravel(), ground_z(gx.ravel(), gy.ravel())])
    h, w = gx.shape
    index = np.arange(h * w).reshape(h, w)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    faces = np.concatenate(
        [np.stack([a, c, b], -1).reshape(-1, 3), np.stack([b, c, d], -1).reshape(-1, 3)]
    )
    product = to_frame(utm)
    origin = tuple(float(v) for v in np.floor(product.min(axis=0)))
    write_mesh(
        path,
        product - origin,
        faces,
        np.full((len(utm), 3), 140, np.uint8),
        frame=_frame(mine_grid, origin),
    )  # type: ignore[arg-type]
    return str(path.relative_to(path.parents[1]))


def _rasters(folder: Path, mine_grid: bool) -> dict[str, str]:
    """DSM, class map, heat map (COGs) and the orthophoto (a plain GeoTIFF); for the mine
    grid run only the DSM (north-up in the grid: resampled from the surface)."""
    from mapping.sfm.rasters import Grid, write_cog

    e0, n0 = origin_utm()
    gx, gy = _cells()
    if mine_grid:
        g = grid()
        corner = np.array(g.to_grid(e0, n0, 0.0))[:2]
        x0, y0 = float(np.floor(corner[0])) - 20.0, float(np.floor(corner[1])) + 50.0
        cells = Grid(x0, y0, RES_M, 140, 140)
        xs, ys = cells.centres()
        e, n, _ = g.from_grid(xs, ys, np.zeros_like(xs))
        inside = (e > e0) & (e < e0 + WIDTH_M) & (n > n0) & (n < n0 + HEIGHT_M)
        dsm = np.where(inside, g.to_grid(e, n, ground_z(e, n))[2], -9999.0).astype(np.float32)
        write_cog(folder / "sfm" / "dsm.tif", dsm, cells, np.zeros(3), None, -9999.0)
        return {"dsm": "sfm/dsm.tif"}
    cells = Grid(e0, n0 + HEIGHT_M, RES_M, gx.shape[1], gx.shape[0])
    dsm = ground_z(gx, gy).astype(np.float32)
    write_cog(folder / "sfm" / "dsm.tif", dsm, cells, np.zeros(3), EPSG, -9999.0)
    classes = np.where(gx - e0 < 10.0, 1, 2).astype(np.uint8)
    write_cog(folder / "hsi" / "class_map.tif", classes, cells, np.zeros(3), EPSG, 0)
    heat = ((classes == 1) * 0.8).astype(np.float32)
    write_cog(folder / "hsi" / "heat_map.tif", heat, cells, np.zeros(3), EPSG, -1.0)
    _plain_tiff(folder / "sfm" / "orthophoto.tif", cells, gx)
    return {
        "dsm": "sfm/dsm.tif",
        "class_map": "hsi/class_map.tif",
        "heat_map": "hsi/heat_map.tif",
        "orthophoto": "sfm/orthophoto.tif",
    }


def _plain_tiff(path: Path, cells: Any, gx: F64) -> None:
    """The orthophoto at a tenth of the DSM cell, striped (not tiled, no overviews): a
    GeoTIFF larger than 512 px that is not cloud-optimized."""
    import rasterio
    from rasterio.crs import CRS

    from mapping.sfm.rasters import Grid

    fine = Grid(cells.x0, cells.y0, RES_M / 10, cells.width * 10, cells.height * 10)
    xs, _ = fine.centres()
    rgb = np.stack([xs * 70 % 255, np.full_like(xs, 120), xs * 30 % 255]).astype(np.uint8)
    profile = {
        "driver": "GTiff", "width": fine.width, "height": fine.height, "count": 3,
        "dtype": "uint8", "crs": CRS.from_epsg(EPSG), "transform": fine.transform(np.zeros(3)),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rgb)


def _trajectory(path: Path, to_frame: Any) -> str:
    e0, n0 = origin_utm()
    t = np.arange(10, dtype=np.float64)
    utm = np.column_stack([e0 + 4 * t, n0 + 15 + 0 * t, 440 + 0 * t])
    xyz = to_frame(utm)
    lines = [
        f"{1.7e9 + s:.3f} {x:.4f} {y:.4f} {z:.4f} 0 0 0 1"
        for s, (x, y, z) in zip(t, xyz, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path.relative_to(path.parents[1]))


def manifest(run_id: str, site: str, mine_grid: bool, products: dict[str, str]) -> dict[str, Any]:
    import pyproj

    e0, n0 = origin_utm()
    to_wgs = pyproj.Transformer.from_crs(EPSG, 4326, always_xy=True)
    corners = [(e0, n0), (e0 + WIDTH_M, n0), (e0 + WIDTH_M, n0 + HEIGHT_M), (e0, n0 + HEIGHT_M)]
    ring = [list(to_wgs.transform(e, n)) for e, n in corners]
    ring.append(ring[0])
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    grid_doc = None
    if mine_grid:
        matrix = np.linalg.inv(grid().matrix())
        grid_doc = {
            "name": "pit-grid",
            "to_crs": f"EPSG:{EPSG}",
            "matrix_4x4": [[float(v) for v in row] for row in matrix],
        }
        grid_doc["matrix_4x4"][3] = [0, 0, 0, 1]
    return {
        "schema": "smartmine.run/1",
        "run_id": run_id,
        "site": site,
        "kind": "aerial",
        "status": "ok",
        "failed": [],
        "warnings": [],
        "start_ns": 1_796_638_500_000_000_000,
        "end_ns": 1_796_638_800_000_000_000,
        "crs": None if mine_grid else f"EPSG:{EPSG}",
        "mine_grid": grid_doc,
        "bbox_wgs84": [min(lons), min(lats), max(lons), max(lats)],
        "footprint_wgs84": {"type": "Polygon", "coordinates": [ring]},
        "input": {"paths": ["flight.mcap"], "sha256": hashlib.sha256(run_id.encode()).hexdigest()},
        "software": {"name": "smartmine", "version": "0.1.0"},
        "parameters": {"preset": "fast"},
        "stages": {
            "sfm": {"status": "ok", "folder": "sfm", "report": "sfm/report.json", "seconds": 1.0}
        },
        "products": products,
        "classes": CLASSES,
        "accuracy": {"sfm": {"gsd_m": 0.02}, "slam": {}, "hsi": {"accuracy": 0.93}},
    }
