"""DSM and orthophoto rasters (Cloud-Optimized GeoTIFF with nodata) from a georeferenced
point cloud and the registered images, plus the coloured 2.5D mesh of the DSM.

DSM: per cell the median height of the points falling in it; holes narrower than
``max_gap_cells`` are filled by linear interpolation, wider ones stay nodata. Orthophoto:
each DSM cell is coloured from the image that sees it most nadir (its camera centre
horizontally nearest), with the camera's distortion applied through COLMAP's model.

Gross outliers (issue 19): before gridding, points far outside the sparse model's box and
height band are clipped (``clip_to_sparse``); the grid's extent comes from robust
percentiles and its cell count is checked against a budget before anything is allocated
(``plan_grid``); cells further than ``SPIKE_RELIEF_FACTOR`` x the scene's relief from their
neighbourhood median are removed before the gaps are filled, and the finished DSM is
checked against ``MAX_STEP_RELIEF_FACTOR`` x relief (``make_clean_dsm``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.sfm.errors import SfmError
from smartmine.atomic import atomic_path

F64 = npt.NDArray[np.float64]
NODATA_DSM = -9999.0
NODATA_ORTHO = 0
EXTENT_PERCENTILES = (0.5, 99.5)
"""The grid spans these percentiles of the points, and beyond them only the tail that
stays connected (``EXTENT_MAX_GAP``), not min/max: a few far mismatches must not stretch
it (a 67 GiB grid from a handful of points), the sparse real edge of a survey must stay."""
EXTENT_MAX_GAP = 0.05
"""A gap along an axis wider than this share of the percentile span ends the extent."""
BYTES_PER_CELL = 64
"""Peak memory per raster cell of the raster stage (DSM, cell centres, orthophoto, the
gap filling's distance transform, the COG copies), measured with margin."""
SPIKE_RELIEF_FACTOR = 3.0
"""A DSM cell further than this x the relief from its 5x5 neighbourhood median is an
outlier: no real surface steps that much within two cells."""
MAX_STEP_RELIEF_FACTOR = 5.0
"""The finished DSM's bound (issue 19): no cell further than this x relief from its
neighbourhood median; cells beyond are removed and counted, with a warning."""
WARN_FILTERED_SHARE = 0.02
"""A warning when more than this share of the cells with data were outliers."""


@dataclass
class Grid:
    """A north-up raster: cell (row, col) centre = (x0 + (col + .5) r, y0 - (row + .5) r)."""

    x0: float
    y0: float
    resolution_m: float
    width: int
    height: int

    @classmethod
    def around(cls, xy: F64, resolution_m: float, margin_cells: int = 2) -> Grid:
        """The grid over the robust extent of ``xy`` (see ``robust_extent``); nothing is
        allocated, so the caller can check ``cells`` first (``plan_grid`` does)."""
        low, high = robust_extent(xy)
        lo = np.floor(low / resolution_m) * resolution_m - margin_cells * resolution_m
        hi = np.ceil(high / resolution_m) * resolution_m + margin_cells * resolution_m
        width = round((hi[0] - lo[0]) / resolution_m)
        height = round((hi[1] - lo[1]) / resolution_m)
        return cls(float(lo[0]), float(hi[1]), resolution_m, width, height)

    @property
    def cells(self) -> int:
        return self.width * self.height

    def cell_of(self, xy: F64) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        col = np.floor((xy[:, 0] - self.x0) / self.resolution_m).astype(np.int64)
        row = np.floor((self.y0 - xy[:, 1]) / self.resolution_m).astype(np.int64)
        return row, col

    def centres(self) -> tuple[F64, F64]:
        xs = self.x0 + (np.arange(self.width) + 0.5) * self.resolution_m
        ys = self.y0 - (np.arange(self.height) + 0.5) * self.resolution_m
        gx, gy = np.meshgrid(xs, ys)
        return gx, gy

    def transform(self, origin: F64) -> Any:
        from rasterio.transform import from_origin

        return from_origin(
            self.x0 + origin[0], self.y0 + origin[1], self.resolution_m, self.resolution_m
        )


def robust_extent(xy: F64) -> tuple[F64, F64]:
    """Low and high corner of ``xy``: from the ``EXTENT_PERCENTILES`` outwards, per axis,
    as far as the points continue without a gap wider than ``EXTENT_MAX_GAP`` of the
    percentile span (a survey's thin edge is kept; points far off it are not)."""
    low, high = np.percentile(xy, EXTENT_PERCENTILES, axis=0)
    out_low, out_high = low.copy(), high.copy()
    for axis in range(xy.shape[1]):
        values = np.sort(xy[:, axis])
        max_gap = max(EXTENT_MAX_GAP * float(high[axis] - low[axis]), 1e-9)
        wide = np.nonzero(np.diff(values) > max_gap)[0]  # gap between i and i + 1
        i_low = int(np.searchsorted(values, low[axis]))
        i_high = int(np.searchsorted(values, high[axis], side="right")) - 1
        below = wide[wide < i_low]
        above = wide[wide >= i_high]
        out_low[axis] = values[below[-1] + 1] if len(below) else values[0]
        out_high[axis] = values[above[0]] if len(above) else values[-1]
    return out_low, out_high


def available_memory_bytes() -> int:
    """MemAvailable of /proc/meminfo (free pages elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def plan_grid(
    xy: F64, resolution_m: float, max_cells: int, *, explicit: bool
) -> tuple[Grid, list[str]]:
    """The raster grid, its size checked before anything is allocated: at most
    ``max_cells`` cells and what free memory holds (``BYTES_PER_CELL``). Too big: an
    automatic cell size is coarsened to fit, with a warning; an explicit one
    (``--resolution-cm``) is refused with an SfmError naming the size and the settings."""
    if max_cells < 1:
        raise SfmError(f"max_raster_cells {max_cells}: want a positive number of cells")
    grid = Grid.around(xy, resolution_m)
    budget = int(min(max_cells, available_memory_bytes() // BYTES_PER_CELL))
    if grid.cells <= budget:
        return grid, []
    size = f"{grid.width} x {grid.height} cells ({grid.cells * BYTES_PER_CELL / 2**30:.1f} GiB)"
    limit = f"max_raster_cells {max_cells:,}, free memory for {budget:,} cells"
    if explicit:
        raise SfmError(
            f"--resolution-cm {100 * resolution_m:g}: the DSM grid would be {size}, above "
            f"the limit ({limit}); give a coarser --resolution-cm"
        )
    coarse_m = resolution_m * math.sqrt(grid.cells / budget)
    while grid.cells > budget:
        coarse_m *= 1.05
        grid = Grid.around(xy, coarse_m)
    return grid, [
        f"rasters: at {100 * resolution_m:.1f} cm the DSM grid would be {size}, above the "
        f"limit ({limit}); cells coarsened to {100 * coarse_m:.1f} cm"
    ]


def scene_relief_m(sparse_z: F64, resolution_m: float) -> float:
    """The scene's relief: the 2-98 % height range of the sparse points, at least 10 cells
    (a flat field must not make every tree an outlier)."""
    if len(sparse_z) < 10:
        return 10.0 * resolution_m
    low, high = np.percentile(sparse_z, [2, 98])
    return max(float(high - low), 10.0 * resolution_m)


def clip_to_sparse(points: F64, sparse: F64, relief_m: float) -> tuple[F64, int]:
    """Points inside the sparse model's robust box (``robust_extent`` widened by 20 %) and
    height band (2-98 % heights +- 2 x relief), and how many were dropped. The sparse
    points are bundle-adjusted multi-view tracks: their box is what the images saw."""
    if len(sparse) < 20:  # too few to trust: the points' own box
        if len(points) < 50:
            return points, 0
        low, high = np.percentile(points, [0.5, 99.5], axis=0)
        span = high - low
        keep = np.all((points >= low - 0.1 * span) & (points <= high + 0.1 * span), axis=1)
        return points[keep], int((~keep).sum())
    low, high = robust_extent(sparse[:, :2])
    span = np.maximum(high - low, relief_m)
    z_low, z_high = np.percentile(sparse[:, 2], [2, 98])
    keep = np.all((points[:, :2] >= low - 0.2 * span) & (points[:, :2] <= high + 0.2 * span), 1)
    keep &= (points[:, 2] >= z_low - 2 * relief_m) & (points[:, 2] <= z_high + 2 * relief_m)
    return points[keep], int((~keep).sum())


@dataclass
class DsmStats:
    """What the DSM filtering did, for the report (issue 19's contract names)."""

    cells_total: int
    cells_with_data: int
    cells_filtered: int
    relief_m: float
    max_step_relief: float
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        measured = max(self.cells_with_data + self.cells_filtered, 1)
        return {
            "dsm_cells_filled_share": self.cells_with_data / max(self.cells_total, 1),
            "dsm_cells_filtered_share": self.cells_filtered / measured,
            "dsm_cells_filtered": self.cells_filtered,
            "dsm_relief_m": self.relief_m,
            "dsm_max_neighbour_step_relief": self.max_step_relief,
        }


def make_clean_dsm(
    points: F64, grid: Grid, relief_m: float, max_gap_cells: int = 6
) -> tuple[F64, DsmStats]:
    """``make_dsm`` with the outlier checks: spikes (``SPIKE_RELIEF_FACTOR``) removed from
    the cell medians before the gaps are filled, then the finished DSM held to
    ``MAX_STEP_RELIEF_FACTOR`` x relief; the counts and warnings in the stats."""
    dsm = cell_medians(points, grid)
    measured = int(np.isfinite(dsm).sum())
    removed = remove_spikes(dsm, SPIKE_RELIEF_FACTOR * relief_m)
    fill_gaps(dsm, max_gap_cells)
    removed += remove_spikes(dsm, MAX_STEP_RELIEF_FACTOR * relief_m)
    step = neighbour_step(dsm)
    finite = np.isfinite(step)
    max_step = float(step[finite].max() / relief_m) if finite.any() else 0.0
    filled = int(np.isfinite(dsm).sum())
    stats = DsmStats(grid.cells, filled, removed, relief_m, max_step)
    share = removed / max(measured, 1)
    if share > WARN_FILTERED_SHARE:
        stats.warnings.append(
            f"DSM: {100 * share:.1f} % of the cells with data ({removed}) were more than "
            f"{SPIKE_RELIEF_FACTOR:g} x the relief ({relief_m:.1f} m) off their neighbours "
            "and were removed; the dense cloud has gross outliers"
        )
    if max_step > MAX_STEP_RELIEF_FACTOR:
        stats.warnings.append(
            f"DSM: a cell is {max_step:.1f} x the relief off its neighbours "
            f"(bound {MAX_STEP_RELIEF_FACTOR:g})"
        )
    return dsm, stats


def neighbour_median(dsm: F64, window: int = 5, block: int = 9) -> F64:
    """Median of the finite cells in each ``window`` x ``window`` neighbourhood (the cell
    included; at least 4 finite). Where a cell has fewer finite neighbours (a lone cell in
    a sparse area), the median of the ``block`` x ``block`` block medians around it
    (``window`` blocks across) stands in, so a lone spike is judged too."""
    fine = _window_median(dsm, window, min_count=4)
    lonely = np.isfinite(dsm) & ~np.isfinite(fine)
    if lonely.any():
        h, w = dsm.shape
        padded = np.pad(
            dsm, ((0, -h % block), (0, -w % block)), constant_values=np.nan
        )  # whole blocks
        hb, wb = padded.shape[0] // block, padded.shape[1] // block
        cells = padded.reshape(hb, block, wb, block).transpose(0, 2, 1, 3)
        coarse = _nan_median(cells.reshape(hb, wb, -1), min_count=1)
        context = _window_median(coarse, window, min_count=2)
        wide = np.repeat(np.repeat(context, block, 0), block, 1)[:h, :w]
        fine[lonely] = wide[lonely]
    return fine


def _window_median(grid: F64, window: int, min_count: int, chunk_cells: int = 2_000_000) -> F64:
    """Median of the finite cells in each ``window`` x ``window`` neighbourhood, NaN where
    fewer than ``min_count``; in row blocks to bound memory."""
    from numpy.lib.stride_tricks import sliding_window_view

    pad = window // 2
    padded = np.pad(grid, pad, constant_values=np.nan)
    out = np.full(grid.shape, np.nan)
    rows = max(1, chunk_cells // max(grid.shape[1], 1))
    for r0 in range(0, grid.shape[0], rows):
        block = padded[r0 : r0 + rows + 2 * pad]
        n = block.shape[0] - 2 * pad
        values = sliding_window_view(block, (window, window)).reshape(n, grid.shape[1], -1)
        out[r0 : r0 + n] = _nan_median(values, min_count)
    return out


def _nan_median(values: F64, min_count: int) -> F64:
    """Median over the last axis ignoring NaN (sorted: NaN last), NaN where fewer than
    ``min_count`` values are finite; much faster than np.nanmedian on short rows."""
    ordered = np.sort(values, axis=-1)
    count = np.isfinite(ordered).sum(axis=-1)
    low = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[..., None], -1)
    high = np.take_along_axis(ordered, np.minimum(count // 2, ordered.shape[-1] - 1)[..., None], -1)
    median = 0.5 * (low[..., 0] + high[..., 0])
    return np.where(count >= max(min_count, 1), median, np.nan)


def neighbour_step(dsm: F64) -> F64:
    """|cell - neighbourhood median| (NaN where either is missing)."""
    return np.abs(dsm - neighbour_median(dsm))


def remove_spikes(dsm: F64, threshold_m: float, rounds: int = 3) -> int:
    """Set cells further than ``threshold_m`` from their neighbourhood median to NaN (in
    place), a few rounds (a removed spike can unmask its neighbour); the count removed."""
    removed = 0
    for _ in range(rounds):
        with np.errstate(invalid="ignore"):
            spikes = neighbour_step(dsm) > threshold_m
        if not spikes.any():
            break
        dsm[spikes] = np.nan
        removed += int(spikes.sum())
    return removed


def cell_medians(points: F64, grid: Grid) -> F64:
    """Median height of the points in each cell, NaN where none falls."""
    row, col = grid.cell_of(points[:, :2])
    inside = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    flat = row[inside] * grid.width + col[inside]
    z = points[inside, 2]
    order = np.lexsort((z, flat))
    flat, z = flat[order], z[order]
    cells, start, count = np.unique(flat, return_index=True, return_counts=True)
    median = z[start + count // 2]
    flat_dsm = np.full(grid.width * grid.height, np.nan)
    flat_dsm[cells] = median
    return flat_dsm.reshape(grid.height, grid.width)


def make_dsm(points: F64, grid: Grid, max_gap_cells: int = 6) -> F64:
    """Median height per cell, small holes interpolated, the rest NaN."""
    dsm = cell_medians(points, grid)
    fill_gaps(dsm, max_gap_cells)
    return dsm


def fill_gaps(dsm: F64, max_gap_cells: int) -> None:
    """Interpolate (linearly, in place) holes up to ``max_gap_cells`` from known cells."""
    from scipy import ndimage
    from scipy.interpolate import griddata

    known = np.isfinite(dsm)
    if known.sum() >= 3 and not known.all():
        distance = ndimage.distance_transform_edt(~known)
        fill = (~known) & (distance <= max_gap_cells)
        rr, cc = np.nonzero(known)
        fr, fc = np.nonzero(fill)
        if len(fr):
            dsm[fr, fc] = griddata((rr, cc), dsm[rr, cc], (fr, fc), method="linear")


def camera_centres(reconstruction: Any) -> dict[int, F64]:
    return {
        i: np.asarray(img.projection_center())
        for i, img in reconstruction.images.items()
        if img.has_pose
    }


def make_orthophoto(
    dsm: F64, grid: Grid, reconstruction: Any, images_dir: Path
) -> npt.NDArray[np.uint8]:
    """RGB orthophoto on the DSM grid; cells without DSM or without a view are 0 (nodata)."""
    import cv2

    gx, gy = grid.centres()
    valid = np.isfinite(dsm)
    pts = np.column_stack([gx[valid], gy[valid], dsm[valid]])
    best_score = np.full(len(pts), np.inf)
    colour = np.zeros((len(pts), 3), dtype=np.uint8)
    for image in reconstruction.images.values():
        if not image.has_pose:
            continue
        picture = cv2.imread(str(images_dir / image.name))
        if picture is None:
            continue
        centre = np.asarray(image.projection_center())
        score = np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1])
        better = score < best_score
        if not better.any():
            continue
        idx = np.nonzero(better)[0]
        world = pts[idx]
        pose = image.cam_from_world().matrix()
        cam = world @ pose[:, :3].T + pose[:, 3]
        front = cam[:, 2] > 0
        idx, cam = idx[front], cam[front]
        if not len(idx):
            continue
        uv = np.asarray(image.camera.img_from_cam(cam))
        h, w = picture.shape[:2]
        ok = (uv[:, 0] >= 0) & (uv[:, 0] < w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] < h - 1)
        idx, uv = idx[ok], uv[ok].astype(np.float32)
        if not len(idx):
            continue
        sampled = np.concatenate(
            [  # remap wants maps under 32767 rows
                cv2.remap(
                    picture, uv[i : i + 30000, 0:1], uv[i : i + 30000, 1:2], cv2.INTER_LINEAR
                ).reshape(-1, 3)
                for i in range(0, len(uv), 30000)
            ]
        )
        colour[idx] = sampled[:, ::-1]
        best_score[idx] = score[idx]
    ortho = np.zeros((grid.height, grid.width, 3), dtype=np.uint8)
    seen = np.isfinite(best_score)
    rows, cols = np.nonzero(valid)
    ortho[rows[seen], cols[seen]] = np.maximum(colour[seen], 1)  # 0 is nodata
    return ortho


def write_cog(
    path: Path, bands: npt.NDArray[Any], grid: Grid, origin: F64, epsg: int | None, nodata: float
) -> Path:
    """A Cloud-Optimized GeoTIFF (deflate, internal overviews) with nodata, written atomically."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    data = bands if bands.ndim == 3 else bands[None]
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": data.shape[0],
        "dtype": str(data.dtype),
        "transform": grid.transform(origin),
        "nodata": nodata,
        "crs": CRS.from_epsg(epsg) if epsg else None,
    }
    with atomic_path(path, overwrite=True) as tmp, MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
            if data.shape[0] == 3:
                dst.colorinterp = [
                    rasterio.enums.ColorInterp.red,
                    rasterio.enums.ColorInterp.green,
                    rasterio.enums.ColorInterp.blue,
                ]
        with mem.open() as src:
            cog_translate(
                src,
                str(tmp),
                cog_profiles.get("deflate"),  # type: ignore[no-untyped-call]
                quiet=True,
                in_memory=True,
                nodata=nodata,
            )
    return path


def dsm_mesh(
    dsm: F64, ortho: npt.NDArray[np.uint8], grid: Grid, max_faces: int = 400_000
) -> tuple[F64, npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Vertices (local frame), triangles and RGB colours of the DSM surface (2.5D)."""
    step = 1
    while (grid.width // step) * (grid.height // step) * 2 > max_faces:
        step += 1
    z = dsm[::step, ::step]
    colours = ortho[::step, ::step]
    gx, gy = grid.centres()
    gx, gy = gx[::step, ::step], gy[::step, ::step]
    h, w = z.shape
    index = np.full((h, w), -1, dtype=np.int64)
    valid = np.isfinite(z)
    index[valid] = np.arange(valid.sum())
    vertices = np.column_stack([gx[valid], gy[valid], z[valid]])
    a, b = index[:-1, :-1], index[:-1, 1:]
    c, d = index[1:, :-1], index[1:, 1:]
    tri1 = np.stack([a, c, b], axis=-1).reshape(-1, 3)
    tri2 = np.stack([b, c, d], axis=-1).reshape(-1, 3)
    faces = np.concatenate([tri1, tri2])
    faces = faces[(faces >= 0).all(axis=1)]
    return vertices, faces, colours[valid]
