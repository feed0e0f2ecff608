"""Orthorectification: classified hyperspectral frames (or push-broom lines) onto a DEM.

Ground-to-image, the way a true orthophoto is made: every DEM cell (its centre at the
DEM height) is projected into each frame with the frame's camera model
(``calibration.camera_model``, distortion included) and pose; the line of sight from
the cell to the camera, marched over the DEM, decides whether the cell is seen or hidden
behind nearer terrain (bench crests, pit walls: vertical faces included, which a
z-buffer of cell centres would miss). A visible cell takes the nearest pixel's class,
heat index and similarity. Frames are merged per cell by the best view: the smallest
angle between the line of sight and the terrain normal (``merge="best_view"``), or the
shortest range (``merge="nearest"``); views more oblique than ``max_incidence_deg`` are
not used.

The map grid is the DEM's grid (its CRS, cell size and extent); cells never seen are
nodata. Poses are in a world frame that is either the DEM's projected CRS itself, or a
local ENU tangent plane at a WGS84 origin (``smartmine.geodesy.LocalEnu``, the
simulator's and most SLAM systems' ``map``): DEM cells are converted into that frame
exactly (through ECEF), so no grid-convergence or scale error enters.

A push-broom line is a frame one pixel high: its camera model is the line sensor's row
of the full camera (``cy`` moved to that row), published per line as camera_info.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from calibration.camera_model import CameraModel
from hyperspectral.cube import GeoReference
from hyperspectral.errors import HyperspectralError
from smartmine.geodesy import LocalEnu
from smartmine.msgs.camera import CameraIntrinsics

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
U16Array = npt.NDArray[np.uint16]
Merge = Literal["best_view", "nearest"]
NOT_SEEN = 0xFFFF
"""Label of a map cell no frame saw (written as the class map's nodata)."""


@dataclass(frozen=True)
class Dem:
    """Heights (m) on a north-up grid; NaN = no data."""

    heights: F64Array
    georef: GeoReference
    source: str

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.heights.shape[0]), int(self.heights.shape[1])

    def cell_centres(self) -> tuple[F64Array, F64Array]:
        """(rows, cols) easting and northing of every cell centre."""
        x0, a, b, y0, d, e = self.georef.transform
        rows, cols = np.mgrid[0 : self.shape[0], 0 : self.shape[1]].astype(np.float64) + 0.5
        return x0 + a * cols + b * rows, y0 + d * cols + e * rows

    @property
    def cell_size_m(self) -> float:
        return math.sqrt(self.georef.pixel_area_m2)


MAX_MAP_CELLS = 200_000_000
"""A map grid beyond this (1.6 GB of float64 heights) is a wrong --cell-m, not a survey."""


def read_dem(path: Path | str, cell_m: float | None = None) -> Dem:
    """A DEM GeoTIFF (any GDAL raster) with a projected metric CRS with an EPSG code;
    ``cell_m`` resamples it (bilinear, north-up DEMs) to that cell size, which becomes the
    map's grid (e.g. finer than the DEM where the frames' pixels are smaller)."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import CRSError, RasterioError
    from rasterio.transform import Affine
    from rasterio.warp import reproject

    try:
        with rasterio.open(path) as src:
            crs = src.crs
            t = src.transform
            band = src.read(1, masked=True)
        epsg = crs.to_epsg() if crs is not None and crs.is_projected else None
    except (RasterioError, CRSError) as err:
        raise HyperspectralError(f"{path}: cannot read the DEM ({err})") from None
    if epsg is None:
        raise HyperspectralError(f"{path}: the DEM needs a projected CRS with an EPSG code")
    heights = np.ma.filled(band.astype(np.float64), np.nan)
    if cell_m is not None:
        if not (math.isfinite(cell_m) and cell_m > 0) or t.b != 0 or t.d != 0:
            raise HyperspectralError(f"{path}: --cell-m {cell_m} needs a size > 0, north-up DEM")
        rows = math.ceil(heights.shape[0] * abs(t.e) / cell_m)
        cols = math.ceil(heights.shape[1] * t.a / cell_m)
        if not 1 <= rows * cols <= MAX_MAP_CELLS or rows < 1 or cols < 1:
            raise HyperspectralError(
                f"{path}: --cell-m {cell_m} makes a {rows} x {cols} map "
                f"(want 1..{MAX_MAP_CELLS:.0e} cells)"
            )
        dst_t = Affine(cell_m, 0.0, t.c, 0.0, -cell_m, t.f)
        resampled = np.full((rows, cols), np.nan)
        reproject(
            heights,
            resampled,
            src_transform=t,
            src_crs=crs,
            src_nodata=np.nan,
            dst_transform=dst_t,
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=Resampling.bilinear,
        )
        heights, t = resampled, dst_t
    heights[~np.isfinite(heights)] = np.nan
    if not np.isfinite(heights).any():
        raise HyperspectralError(f"{path}: the DEM holds no heights")
    georef = GeoReference((t.c, t.a, t.b, t.f, t.d, t.e), int(epsg))
    return Dem(heights, georef, str(path))


@dataclass
class OrthoFrame:
    """One classified frame (or line) with what places it on the ground."""

    stamp_ns: int
    camera: CameraModel
    world_from_camera: F64Array
    """4x4 pose of the camera's optical frame (z forward, x right, y down) in the world."""
    labels: U16Array
    """(h, w) class labels 1..C, 0 unclassified."""
    heat: F32Array
    """(h, w) contamination index 0–1, NaN = no data (such pixels are not used)."""
    similarity: F32Array
    """(h, w) similarity 0–1 of the winning class."""


@dataclass
class OrthoConfig:
    merge: Merge = "best_view"
    max_incidence_deg: float = 80.0
    """Views whose line of sight is more oblique to the terrain than this are not used."""
    occlusion_tolerance_m: float = 0.3
    """A line of sight is blocked where it passes more than this below the DEM."""
    footprint_cull: bool = True
    """Project only the cells in blocks under the frame's footprint (its border rays met
    with the terrain's lowest and highest planes); off = every cell, every frame."""


BLOCK_CELLS = 32
"""Cells per side of the blocks the footprint cull selects."""


class Orthorectifier:
    """Accumulates frames onto the DEM grid (:meth:`add`), best view per cell."""

    def __init__(self, dem: Dem, origin: LocalEnu | None, config: OrthoConfig | None = None):
        self.dem = dem
        self.origin = origin
        self.config = config or OrthoConfig()
        if self.config.merge not in ("best_view", "nearest"):
            raise HyperspectralError(f"unknown merge {self.config.merge!r} (best_view, nearest)")
        east, north = dem.cell_centres()
        self.cells = np.flatnonzero(np.isfinite(dem.heights).ravel())
        world = self._to_world(east, north, dem.heights)
        self.dem_points = np.stack([east, north, dem.heights], axis=-1).reshape(-1, 3)[self.cells]
        self.filled = np.where(np.isfinite(dem.heights), dem.heights, -1e9)
        """Heights for the line-of-sight test (no data: nothing blocks)."""
        self.top_m = float(np.nanmax(dem.heights))
        self.points = world.reshape(-1, 3)[self.cells]
        self.normals = _grid_normals(world).reshape(-1, 3)[self.cells]
        n = len(self.cells)
        self.key = np.full(n, np.inf)
        self.labels = np.full(n, NOT_SEEN, np.uint16)
        self.heat = np.full(n, np.nan, np.float32)
        self.similarity = np.full(n, np.nan, np.float32)
        self.views = np.zeros(n, np.uint16)
        self.frames_used = 0
        self._index_blocks()

    def _index_blocks(self) -> None:
        """Cells grouped by BLOCK_CELLS² blocks of the grid, with each block's world x/y
        bounds, so a frame's footprint selects its cells without touching the rest."""
        rows, cols = np.divmod(self.cells, self.dem.shape[1])
        per_row = -(-self.dem.shape[1] // BLOCK_CELLS)
        block = (rows // BLOCK_CELLS) * per_row + cols // BLOCK_CELLS
        self.block_order = np.argsort(block, kind="stable")
        sorted_block = block[self.block_order]
        starts = np.unique(sorted_block, return_index=True)[1]
        self.block_starts = starts
        self.block_ends = np.r_[starts[1:], len(sorted_block)]
        xy = self.points[self.block_order, :2]
        self.block_min = np.minimum.reduceat(xy, starts, axis=0)
        self.block_max = np.maximum.reduceat(xy, starts, axis=0)
        self.z_range = (float(self.points[:, 2].min()), float(self.points[:, 2].max()))

    def _candidates(self, cam: CameraModel, pose: F64Array) -> npt.NDArray[np.int64]:
        """Cells that may lie in the frame: all, or those of the blocks that overlap the
        footprint's bounding box (widened by two cells)."""
        everything = np.arange(len(self.cells))
        if not self.config.footprint_cull or cam.is_fisheye:
            return everything
        rays = cam.unproject(_image_border(cam, 32)) @ pose[:3, :3].T
        centre = pose[:3, 3]
        low, high = self.z_range
        if not np.isfinite(rays).all() or (rays[:, 2] >= 0).any() or centre[2] <= high:
            return everything  # looks at or above the horizon, or flies below the rim
        corners = [
            centre[:2] + ((z - centre[2]) / rays[:, 2])[:, None] * rays[:, :2] for z in (low, high)
        ]
        pts = np.concatenate(corners)
        margin = 2 * self.dem.cell_size_m
        lo, hi = pts.min(axis=0) - margin, pts.max(axis=0) + margin
        hit = np.flatnonzero(
            (self.block_max[:, 0] >= lo[0])
            & (self.block_min[:, 0] <= hi[0])
            & (self.block_max[:, 1] >= lo[1])
            & (self.block_min[:, 1] <= hi[1])
        )
        if hit.size == 0:
            return np.zeros(0, np.int64)
        return np.concatenate(
            [self.block_order[self.block_starts[b] : self.block_ends[b]] for b in hit]
        )

    def _to_world(self, east: F64Array, north: F64Array, height: F64Array) -> F64Array:
        """(rows, cols, 3) world coordinates of DEM cells (NaN heights kept as NaN)."""
        if self.origin is None:
            return np.stack([east, north, height], axis=-1)
        filled = np.where(np.isfinite(height), height, np.nanmean(height))
        x, y, z = self.origin.from_projected(east, north, filled, self.dem.georef.epsg)
        out = np.stack([x, y, z], axis=-1)
        out[~np.isfinite(height)] = np.nan
        return out

    def add(self, frame: OrthoFrame) -> int:
        """Project the DEM into ``frame``; cells it sees better than before take its
        values. Returns the number of cells it saw."""
        cam = frame.camera
        h, w = frame.labels.shape
        if (cam.height, cam.width) != (h, w):
            raise HyperspectralError(
                f"frame at {frame.stamp_ns} ns is {h}x{w}, its camera model "
                f"{cam.height}x{cam.width}"
            )
        rot = frame.world_from_camera[:3, :3]
        centre = frame.world_from_camera[:3, 3]
        candidates = self._candidates(cam, frame.world_from_camera)
        rel = self.points[candidates] - centre
        local = rel @ rot  # camera coordinates
        z = local[:, 2]
        keep = z > 0
        bounds = _frustum(cam)
        if bounds is not None:  # cheap cull before the full projection
            with np.errstate(invalid="ignore", divide="ignore"):
                xz, yz = local[:, 0] / z, local[:, 1] / z
            keep &= (xz >= bounds[0]) & (xz <= bounds[1]) & (yz >= bounds[2]) & (yz <= bounds[3])
        ahead = np.flatnonzero(keep)
        if ahead.size == 0:
            return 0
        uv = cam.project(local[ahead])
        rel = rel[ahead]
        ahead = candidates[ahead]
        col = np.floor(uv[:, 0] + 0.5)
        row = np.floor(uv[:, 1] + 0.5)
        inside = np.isfinite(col) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        idx = ahead[inside]
        if idx.size == 0:
            return 0
        rel = rel[inside]
        col_i, row_i = col[inside].astype(np.int64), row[inside].astype(np.int64)
        rng = np.linalg.norm(rel, axis=1)
        pixel = row_i * w + col_i
        view = -rel / rng[:, None]
        cos_incidence = np.einsum("ij,ij->i", view, self.normals[idx])
        visible = cos_incidence >= math.cos(math.radians(self.config.max_incidence_deg))
        heat = frame.heat.reshape(-1)[pixel]
        visible &= np.isfinite(heat)
        check = np.flatnonzero(visible)
        visible[check] = self._unoccluded(idx[check], self._camera_in_dem_crs(centre))
        key = -cos_incidence if self.config.merge == "best_view" else rng
        cells = idx[visible]
        self.views[cells] += 1
        better = key[visible] < self.key[cells]
        take = cells[better]
        source = pixel[visible][better]
        self.key[take] = key[visible][better]
        self.labels[take] = frame.labels.reshape(-1)[source]
        self.heat[take] = heat[visible][better]
        self.similarity[take] = frame.similarity.reshape(-1)[source]
        self.frames_used += 1
        return int(visible.sum())

    def _camera_in_dem_crs(self, centre: F64Array) -> F64Array:
        if self.origin is None:
            return centre
        e, n, h = self.origin.to_projected(centre[0], centre[1], centre[2], self.dem.georef.epsg)
        return np.array([float(e), float(n), float(h)])

    def _unoccluded(self, cells: npt.NDArray[np.int64], camera: F64Array) -> npt.NDArray[np.bool_]:
        """Whether the line of sight from each cell to the camera stays above the DEM:
        marched in steps of half a cell from 1.5 cells out until it rises above the
        highest terrain, the DEM bilinear between cell centres. Unlike a z-buffer of
        cell centres this also catches vertical faces (bench walls) that no cell centre
        represents."""
        from scipy.ndimage import map_coordinates

        start = self.dem_points[cells]
        ray = camera - start
        length = np.linalg.norm(ray, axis=1)
        ray /= length[:, None]
        cell = self.dem.cell_size_m
        with np.errstate(divide="ignore", invalid="ignore"):
            climb = np.where(ray[:, 2] > 0, (self.top_m - start[:, 2]) / ray[:, 2], np.inf)
        stop = np.minimum(length, climb)
        tol = self.config.occlusion_tolerance_m
        x0, a, _, y0, _, e = self.dem.georef.transform
        free = np.ones(len(cells), bool)
        live = np.flatnonzero(stop > 1.5 * cell)
        s = 1.5 * cell
        while live.size:
            p = start[live] + s * ray[live]
            coords = np.stack([(p[:, 1] - y0) / e - 0.5, (p[:, 0] - x0) / a - 0.5])
            ground = map_coordinates(self.filled, coords, order=1, mode="nearest")
            free[live[p[:, 2] < ground - tol]] = False
            s += 0.5 * cell
            live = live[free[live] & (stop[live] > s)]
        return free

    def grid(self, values: npt.NDArray[Any], fill: float) -> npt.NDArray[Any]:
        """Per-cell values back on the DEM grid (cells without height: ``fill``)."""
        out = np.full(self.dem.heights.size, fill, dtype=values.dtype)
        out[self.cells] = values
        return out.reshape(self.dem.shape)

    def seen_extent(self) -> tuple[float, float, float, float] | None:
        """(west, south, east, north) of the cells seen, in the DEM's CRS."""
        seen = self.grid(self.labels != NOT_SEEN, False)
        if not seen.any():
            return None
        rows, cols = np.nonzero(seen)
        x0, a, _, y0, _, e = self.dem.georef.transform
        return (
            x0 + a * float(cols.min()),
            y0 + e * float(rows.max() + 1),
            x0 + a * float(cols.max() + 1),
            y0 + e * float(rows.min()),
        )


def _image_border(cam: CameraModel, per_side: int) -> F64Array:
    """Pixels along the image border widened by two pixels, ``per_side`` per side."""
    u = np.linspace(-2.5, cam.width + 1.5, per_side)
    v = np.linspace(-2.5, cam.height + 1.5, per_side)
    return np.concatenate(
        [
            np.column_stack([u, np.full_like(u, v[0])]),
            np.column_stack([u, np.full_like(u, v[-1])]),
            np.column_stack([np.full_like(v, u[0]), v]),
            np.column_stack([np.full_like(v, u[-1]), v]),
        ]
    )


def _frustum(cam: CameraModel) -> tuple[float, float, float, float] | None:
    """Bounds of x/z and y/z over the image border widened by two pixels (pinhole
    models; None for fisheye, whose field may exceed 180 degrees)."""
    if cam.is_fisheye:
        return None
    rays = cam.unproject(_image_border(cam, 16))
    if not np.isfinite(rays).all() or (rays[:, 2] <= 0).any():
        return None
    x, y = rays[:, 0] / rays[:, 2], rays[:, 1] / rays[:, 2]
    return float(x.min()), float(x.max()), float(y.min()), float(y.max())


def _grid_normals(world: F64Array) -> F64Array:
    """Unit upward normals of a (rows, cols, 3) grid of points (central differences;
    NaN next to missing cells)."""
    along_cols = np.gradient(world, axis=1)
    along_rows = np.gradient(world, axis=0)  # rows run south: cross gives the up side
    normal = np.cross(along_rows, along_cols)
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = normal / norm
    flip = normal[..., 2] < 0
    normal[flip] *= -1
    return np.asarray(normal)


def line_intrinsics(full: CameraIntrinsics, row: int) -> CameraIntrinsics:
    """The line sensor model of a push-broom camera: row ``row`` of the frame camera
    ``full`` as a camera one pixel high (same width, focal lengths and distortion; the
    principal point moved so that the line's row 0 is the frame's ``row``). Published as
    each line's camera_info, it lets every line be projected like a frame."""
    k = np.array(full.k, dtype=np.float64)
    k[1, 2] -= row
    p = np.array(full.p, dtype=np.float64)
    p[1, 2] -= row
    return CameraIntrinsics(full.width, 1, k, full.d, full.distortion_model, full.r, p)
