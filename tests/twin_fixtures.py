"""A small published twin, written the way the contract says ``smartmine publish`` writes
one (docs/notes/issue-18-contract.md), for the server and viewer tests.

Kept apart so the owner can swap ``build_published_tree`` for the real
``twin.publish.run`` over a tiny run once publish lands: the tests only need a folder
with ``catalog.json``, one site Collection and a few Items whose assets are real files
(COGs in EPSG:32644 near 49.9 N 82.6 E, a GLB, a 3D Tiles 1.1 tileset pointing at it).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import trimesh
from affine import Affine
from pyproj import Transformer

SITE = "open-pit"
EPSG = 32644
LAT_DEG, LON_DEG = 49.9, 82.6
SIZE_PX = 256
GSD_M = 0.25

COG = "image/tiff; application=geotiff; profile=cloud-optimized"

CLASSES: list[dict[str, Any]] = [
    {"value": 1, "name": "jarosite", "colour": "#c8a000", "contamination": True},
    {"value": 2, "name": "goethite", "colour": "#a0522d", "contamination": True},
    {"value": 3, "name": "clean rock", "colour": "#808080", "contamination": False},
]


@dataclass(frozen=True)
class PublishedTree:
    """What the tests compare the server and the page against."""

    root: Path
    run_ids: list[str]  # newest first
    assets: dict[str, dict[str, str]]  # run_id -> asset key -> href relative to root
    ortho_rgb: dict[str, tuple[int, int, int]]  # run_id -> the orthophoto's base colour


def _multihash_sha256(path: Path) -> str:
    return "1220" + hashlib.sha256(path.read_bytes()).hexdigest()


def _write_cog(
    path: Path, data: np.ndarray, origin_en: tuple[float, float], nodata: float | None
) -> None:
    """A tiled, overviewed COG (GDAL's COG driver), small blocks so a window is a few ranges."""
    bands, rows, cols = data.shape
    profile = {
        "driver": "COG",
        "width": cols,
        "height": rows,
        "count": bands,
        "dtype": data.dtype.name,
        "crs": f"EPSG:{EPSG}",
        "transform": Affine(GSD_M, 0.0, origin_en[0], 0.0, -GSD_M, origin_en[1]),
        "blocksize": 64,
        "compress": "DEFLATE",
        "overview_resampling": "average",
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def _rasters(seed: int, rgb: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Orthophoto (a textured base colour), DSM (a bowl), class map and heat map (a blob)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE_PX, 0:SIZE_PX].astype(np.float32) / SIZE_PX
    texture = rng.integers(-12, 12, (SIZE_PX, SIZE_PX))
    ortho = np.stack([np.clip(c + texture, 0, 255) for c in rgb]).astype(np.uint8)
    dsm = (400.0 + 30.0 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)).astype(np.float32)[None]
    cx, cy = (0.35, 0.4) if seed % 2 else (0.6, 0.6)
    heat = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.02).astype(np.float32)
    classes = np.full((SIZE_PX, SIZE_PX), 3, np.uint8)
    classes[heat > 0.5] = 1
    classes[(heat > 0.2) & (heat <= 0.5)] = 2
    heat[heat < 0.05] = np.nan
    return {"orthophoto": ortho, "dsm": dsm, "class_map": classes[None], "heat_map": heat[None]}


def _mesh(path: Path, dsm: np.ndarray, heat: np.ndarray, rgb: tuple[int, int, int]) -> None:
    """A terrain GLB from the DSM (every 8th pixel), local metres, vertex colours.

    glTF is Y up (what 3D Tiles 1.1 expects of GLB content): x east, y up, z south.
    Draped like the contract's meshes: vertex attribute ``_HEAT`` (float32).
    """
    step = 8
    z = dsm[0, ::step, ::step]
    rows, cols = z.shape
    yy, xx = np.mgrid[0:rows, 0:cols]
    verts = np.column_stack(
        [xx.ravel() * step * GSD_M, z.ravel() - z.min(), yy.ravel() * step * GSD_M]
    )
    faces = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            i = r * cols + c
            faces += [[i, i + cols, i + 1], [i + 1, i + cols, i + cols + 1]]
    colours = np.tile(np.array([*rgb, 255], np.uint8), (len(verts), 1))
    mesh = trimesh.Trimesh(verts, np.array(faces), vertex_colors=colours, process=False)
    mesh.vertex_attributes["_HEAT"] = np.nan_to_num(heat[0, ::step, ::step]).ravel()
    glb = mesh.export(file_type="glb")
    assert isinstance(glb, bytes)
    path.write_bytes(glb)


def _clouds(
    folder: Path, origin_en: tuple[float, float], extent_m: float, n: int, seed: int
) -> None:
    """The point cloud twice: plain LAZ (laspy) and COPC (copclib, one root node)."""
    import copclib
    import laspy

    rng = np.random.default_rng(seed)
    east = origin_en[0] + rng.random(n) * extent_m
    north = origin_en[1] - rng.random(n) * extent_m
    up = 400.0 + rng.random(n) * 15.0
    header = laspy.LasHeader(point_format=6, version="1.4")
    header.scales = np.array([0.01, 0.01, 0.01])
    header.offsets = np.array([origin_en[0], origin_en[1] - extent_m, 400.0])
    las = laspy.LasData(header)
    las.x, las.y, las.z = east, north, up
    las.write(folder / "cloud.laz")
    scale = copclib.Vector3(0.01, 0.01, 0.01)
    offset = copclib.Vector3(origin_en[0], origin_en[1] - extent_m, 400.0)
    writer = copclib.FileWriter(
        str(folder / "cloud.copc.laz"), copclib.CopcConfigWriter(6, scale, offset)
    )
    points = copclib.Points(writer.copc_config.las_header)
    for x, y, z in zip(east, north, up, strict=True):
        point = points.CreatePoint()
        point.x, point.y, point.z = float(x), float(y), float(z)
        points.AddPoint(point)
    writer.AddNode(copclib.VoxelKey(0, 0, 0, 0), points)
    writer.Close()


def _ecef_enu_matrix(lat_deg: float, lon_deg: float, h_m: float) -> list[float]:
    """Column-major 4x4 ENU -> ECEF at a point (3D Tiles root transform)."""
    to_ecef = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x, y, z = to_ecef.transform(lon_deg, lat_deg, h_m)
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    east = [-np.sin(lon), np.cos(lon), 0.0]
    north = [-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)]
    up = [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    return [*east, 0.0, *north, 0.0, *up, 0.0, x, y, z, 1.0]


def _tileset(path: Path, glb_name: str, extent_m: float) -> None:
    half = extent_m / 2
    doc = {
        "asset": {"version": "1.1"},
        "geometricError": extent_m,
        "root": {
            "transform": _ecef_enu_matrix(LAT_DEG, LON_DEG, 400.0),
            "boundingVolume": {"box": [half, -half, 15, half, 0, 0, 0, half, 0, 0, 0, 15]},
            "geometricError": 0.0,
            "refine": "ADD",
            "content": {"uri": glb_name},
        },
    }
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _add_asset(item: pystac.Item, key: str, path: Path, media: str, roles: list[str]) -> None:
    asset = pystac.Asset(href=str(path), media_type=media, roles=roles, title=key)
    asset.extra_fields["file:checksum"] = _multihash_sha256(path)
    asset.extra_fields["file:size"] = path.stat().st_size
    item.add_asset(key, asset)


def _item(
    run_id: str, when: datetime, folder: Path, seed: int, rgb: tuple[int, int, int]
) -> pystac.Item:
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True)
    e0, n0 = to_utm.transform(LON_DEG, LAT_DEG)
    extent = SIZE_PX * GSD_M
    origin = (round(e0, 0), round(n0, 0) + extent)
    proj_bbox = [origin[0], origin[1] - extent, origin[0] + extent, origin[1]]
    to_wgs = Transformer.from_crs(f"EPSG:{EPSG}", "EPSG:4326", always_xy=True)
    lons, lats = to_wgs.transform([proj_bbox[0], proj_bbox[2]], [proj_bbox[1], proj_bbox[3]])
    bbox = [min(lons), min(lats), max(lons), max(lats)]
    ring = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]]
    folder.mkdir(parents=True, exist_ok=True)
    rasters = _rasters(seed, rgb)
    for key, data in rasters.items():
        nodata = float("nan") if key == "heat_map" else None
        _write_cog(folder / f"{key}.tif", data, origin, nodata)
    _mesh(folder / "mesh.glb", rasters["dsm"], rasters["heat_map"], rgb)
    _clouds(folder, origin, extent, 2000, seed)
    _tileset(folder / "tileset.json", "mesh.glb", extent)
    (folder / "trajectory.txt").write_text("0 0 0 30 0 0 0 1\n", encoding="utf-8")
    (folder / "report.html").write_text("<html><body>report</body></html>", encoding="utf-8")
    px_area_m2 = GSD_M * GSD_M
    classes = [
        {**c, "area_m2": float((rasters["class_map"] == c["value"]).sum() * px_area_m2)}
        for c in CLASSES
    ]
    item = pystac.Item(
        id=run_id,
        geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        bbox=bbox,
        datetime=when,
        properties={
            "proj:code": f"EPSG:{EPSG}",
            "proj:bbox": proj_bbox,
            "smartmine:kind": "aerial",
            "smartmine:status": "ok",
            "smartmine:classes": classes,
            "smartmine:accuracy": {"sfm": {"dsm_rmse_gsd": 0.4}},
            "smartmine:input_sha256": hashlib.sha256(run_id.encode()).hexdigest(),
            "smartmine:software": {"name": "smartmine", "version": "0.1.0"},
            "smartmine:parameters": {},
        },
    )
    for key in rasters:
        roles = ["data"] if key != "orthophoto" else ["data", "visual"]
        _add_asset(item, key, folder / f"{key}.tif", COG, roles)
    item.assets["class_map"].extra_fields["classification:classes"] = [
        {"value": c["value"], "name": c["name"], "color_hint": c["colour"].lstrip("#")}
        for c in CLASSES
    ]
    _add_asset(item, "cloud", folder / "cloud.laz", "application/vnd.laszip", ["data"])
    copc_type = "application/vnd.laszip+copc"
    _add_asset(item, "copc", folder / "cloud.copc.laz", copc_type, ["data"])
    _add_asset(item, "mesh", folder / "mesh.glb", "model/gltf-binary", ["data"])
    _add_asset(item, "tileset", folder / "tileset.json", "application/json", ["data"])
    _add_asset(item, "trajectory", folder / "trajectory.txt", "text/plain", ["metadata"])
    _add_asset(item, "report", folder / "report.html", "text/html", ["metadata"])
    return item


DRIFT_SITE = "drift"


def _underground_item(run_id: str, when: datetime, folder: Path) -> pystac.Item:
    """A drift run in a mine grid (``proj:code`` null): no rasters, a draped tunnel mesh
    and its tileset, the trajectory and the report."""
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True)
    lat, lon = LAT_DEG - 0.002, LON_DEG + 0.002
    e0, n0 = to_utm.transform(lon, lat)
    folder.mkdir(parents=True, exist_ok=True)
    tunnel = trimesh.creation.box(extents=(40.0, 4.0, 4.0))  # x along the drift, y up
    tunnel.apply_translation((20.0, 2.0, 0.0))
    heat = tunnel.vertices[:, 0] / 40.0  # clean at the portal, hot at the face
    tunnel.vertex_attributes["_HEAT"] = heat.astype(np.float32)
    glb = tunnel.export(file_type="glb")
    assert isinstance(glb, bytes)
    (folder / "mesh.glb").write_bytes(glb)
    doc = {
        "asset": {"version": "1.1"},
        "geometricError": 40.0,
        "root": {
            "transform": _ecef_enu_matrix(lat, lon, -120.0),
            "boundingVolume": {"box": [20, 0, 2, 20, 0, 0, 0, 2, 0, 0, 0, 2]},
            "geometricError": 0.0,
            "refine": "ADD",
            "content": {"uri": "mesh.glb"},
        },
    }
    (folder / "tileset.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    (folder / "trajectory.txt").write_text("0 0 0 0 0 0 0 1\n", encoding="utf-8")
    (folder / "report.html").write_text("<html><body>drift</body></html>", encoding="utf-8")
    grid = {
        "name": "drift-grid",
        "to_crs": f"EPSG:{EPSG}",
        "matrix_4x4": [[1, 0, 0, e0], [0, 1, 0, n0], [0, 0, 1, -120.0], [0, 0, 0, 1]],
    }
    d = 0.0005
    bbox = [lon - d, lat - d, lon + d, lat + d]
    ring = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]]
    item = pystac.Item(
        id=run_id,
        geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        bbox=bbox,
        datetime=when,
        properties={
            "proj:code": None,
            "proj:bbox": [0.0, -2.0, 40.0, 2.0],
            "smartmine:mine_grid": grid,
            "smartmine:kind": "underground",
            "smartmine:status": "ok",
            "smartmine:classes": [],
            "smartmine:accuracy": {"slam": {"ate_rmse_m": 0.05}},
            "smartmine:input_sha256": hashlib.sha256(run_id.encode()).hexdigest(),
            "smartmine:software": {"name": "smartmine", "version": "0.1.0"},
            "smartmine:parameters": {},
        },
    )
    _add_asset(item, "mesh", folder / "mesh.glb", "model/gltf-binary", ["data"])
    _add_asset(item, "tileset", folder / "tileset.json", "application/json", ["data"])
    _add_asset(item, "trajectory", folder / "trajectory.txt", "text/plain", ["metadata"])
    _add_asset(item, "report", folder / "report.html", "text/html", ["metadata"])
    return item


STOPE_SITE = "stope"


def _cloud_only_item(run_id: str, when: datetime, folder: Path) -> pystac.Item:
    """A run with nothing but its point cloud (LAZ and COPC), in EPSG:32644."""
    to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{EPSG}", always_xy=True)
    e0, n0 = to_utm.transform(LON_DEG + 0.004, LAT_DEG)
    folder.mkdir(parents=True, exist_ok=True)
    _clouds(folder, (round(e0), round(n0)), 30.0, 5000, seed=7)
    (folder / "trajectory.txt").write_text("0 0 0 0 0 0 0 1\n", encoding="utf-8")
    lon, lat, d = LON_DEG + 0.004, LAT_DEG, 0.0005
    bbox = [lon - d, lat - d, lon + d, lat + d]
    ring = [[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[2], bbox[3]], [bbox[0], bbox[3]]]
    item = pystac.Item(
        id=run_id,
        geometry={"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        bbox=bbox,
        datetime=when,
        properties={
            "proj:code": f"EPSG:{EPSG}",
            "smartmine:kind": "underground",
            "smartmine:status": "warnings",
            "smartmine:classes": [],
            "smartmine:accuracy": {},
            "smartmine:input_sha256": hashlib.sha256(run_id.encode()).hexdigest(),
            "smartmine:software": {"name": "smartmine", "version": "0.1.0"},
            "smartmine:parameters": {},
        },
    )
    _add_asset(item, "cloud", folder / "cloud.laz", "application/vnd.laszip", ["data"])
    copc_type = "application/vnd.laszip+copc"
    _add_asset(item, "copc", folder / "cloud.copc.laz", copc_type, ["data"])
    _add_asset(item, "trajectory", folder / "trajectory.txt", "text/plain", ["metadata"])
    return item


def build_published_tree(
    root: Path, runs: int = 2, drift: bool = False, stope: bool = False
) -> PublishedTree:
    """``runs`` Items of one aerial site under ``root``; with ``drift``, one older
    underground run of a second site in a mine grid (mesh and tileset, no rasters); with
    ``stope``, an even older run of a third site with only a point cloud. Newest first
    in the result."""
    colours = [(150, 110, 70), (70, 120, 160), (90, 150, 90)]
    start = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)
    catalog = pystac.Catalog(id="smartmine", description="smartmine digital twin")
    sites: dict[str, list[pystac.Item]] = {SITE: []}
    for k in range(runs):
        when = start + timedelta(days=k)
        run_id = when.strftime("%Y%m%dT%H%M%SZ") + f"-{k:08x}"
        folder = root / SITE / run_id
        sites[SITE].append(_item(run_id, when, folder, k, colours[k % len(colours)]))
    if drift:
        when = start - timedelta(hours=3)
        run_id = when.strftime("%Y%m%dT%H%M%SZ") + "-d0d0d0d0"
        sites[DRIFT_SITE] = [_underground_item(run_id, when, root / DRIFT_SITE / run_id)]
    if stope:
        when = start - timedelta(hours=6)
        run_id = when.strftime("%Y%m%dT%H%M%SZ") + "-5705e000"
        sites[STOPE_SITE] = [_cloud_only_item(run_id, when, root / STOPE_SITE / run_id)]
    for site, items in sites.items():
        times = [i.datetime for i in items if i.datetime is not None]
        extent = pystac.Extent(
            pystac.SpatialExtent([list(items[0].bbox or [])]),
            pystac.TemporalExtent([[min(times), max(times)]]),
        )
        collection = pystac.Collection(id=site, description=f"site {site}", extent=extent)
        catalog.add_child(collection)
        for item in items:
            collection.add_item(item)
    catalog.normalize_hrefs(str(root))
    everything = [(site, item) for site, items in sites.items() for item in items]
    for site, item in everything:  # assets beside their item, relative
        for asset in item.assets.values():
            asset.href = str(Path(asset.href).relative_to(root / site / item.id))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    assets = {
        item.id: {key: f"{site}/{item.id}/{asset.href}" for key, asset in item.assets.items()}
        for site, item in everything
    }
    ortho_rgb = {item.id: colours[k % len(colours)] for k, item in enumerate(sites[SITE])}
    newest_first = sorted(everything, key=lambda si: str(si[1].datetime), reverse=True)
    run_ids = [item.id for _, item in newest_first]
    return PublishedTree(root=root, run_ids=run_ids, assets=assets, ortho_rgb=ortho_rgb)


@dataclass
class Server:
    """The running ``smartmine twin serve`` and the lines of its log so far."""

    proc: subprocess.Popen[str]
    port: int
    root: Path
    lines: list[str] = field(default_factory=list)

    def log_since(self, mark: int, quiet_s: float = 0.3, timeout_s: float = 5.0) -> list[str]:
        """Log lines after ``mark`` (a ``len(lines)`` taken before the requests), once
        the log has been quiet for ``quiet_s`` (access lines follow the response)."""
        deadline = time.monotonic() + timeout_s
        seen = len(self.lines)
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if len(self.lines) != seen:
                seen, quiet_since = len(self.lines), time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                break
        return self.lines[mark:]

    def request(
        self, method: str, target: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw request: ``target`` goes on the wire exactly as given (no normalising).

        Returns once the server has logged it, so the next request's lines never mix
        with this one's."""
        mark = len(self.lines)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            conn.endheaders()
            response = conn.getresponse()
            result = response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if any(f" {target} " in line for line in self.lines[mark:]):
                break
            time.sleep(0.01)
        return result


REPO = Path(__file__).resolve().parents[1]


def require_bundle() -> None:
    """Fail (not skip) without the viewer bundle: set-up builds it in every job."""
    from twin.serve import STATIC_DIR, VIEWER_FILES

    missing = [name for name in VIEWER_FILES if not (STATIC_DIR / name).is_file()]
    if missing:
        pytest.fail(
            f"viewer bundle missing in {STATIC_DIR} ({missing}): run scripts/build_viewer.sh"
        )


@contextmanager
def serve_tree(root: Path) -> Iterator[Server]:
    """``smartmine twin serve ROOT --port 0`` in a subprocess, its log pumped into
    ``Server.lines``; stopped on exit."""
    require_bundle()
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "smartmine", "twin", "serve", str(root), "--port", "0"]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, cwd=REPO)
    lines: list[str] = []
    started = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if " serving " in line:
                started.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not started.wait(30):
            pytest.fail(f"twin serve did not start: {lines}")
        url = next(line for line in lines if " serving " in line).split(" at ")[1].split()[0]
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert url == f"http://127.0.0.1:{port}/", f"not loopback by default: {url}"
        yield Server(proc, port, root, lines)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
