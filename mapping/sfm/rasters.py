"""DSM and orthophoto rasters (Cloud-Optimized GeoTIFF with nodata) from a georeferenced
point cloud and the registered images, plus the coloured 2.5D mesh of the DSM.

DSM: per cell the median height of the points falling in it; holes narrower than
``max_gap_cells`` are filled by linear interpolation, wider ones stay nodata. Orthophoto:
each DSM cell is coloured from the image that sees it most nadir (its camera centre
horizontally nearest), with the camera's distortion applied through COLMAP's model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.atomic import atomic_path

F64 = npt.NDArray[np.float64]
NODATA_DSM = -9999.0
NODATA_ORTHO = 0


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
        lo = np.floor(xy.min(0) / resolution_m) * resolution_m - margin_cells * resolution_m
        hi = np.ceil(xy.max(0) / resolution_m) * resolution_m + margin_cells * resolution_m
        width = round((hi[0] - lo[0]) / resolution_m)
        height = round((hi[1] - lo[1]) / resolution_m)
        return cls(float(lo[0]), float(hi[1]), resolution_m, width, height)

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


def make_dsm(points: F64, grid: Grid, max_gap_cells: int = 6) -> F64:
    """Median height per cell, small holes interpolated, the rest NaN."""
    from scipy import ndimage
    from scipy.interpolate import griddata

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
    dsm = flat_dsm.reshape(grid.height, grid.width)
    known = np.isfinite(dsm)
    if known.sum() >= 3 and not known.all():
        distance = ndimage.distance_transform_edt(~known)
        fill = (~known) & (distance <= max_gap_cells)
        rr, cc = np.nonzero(known)
        fr, fc = np.nonzero(fill)
        if len(fr):
            dsm[fr, fc] = griddata((rr, cc), dsm[rr, cc], (fr, fc), method="linear")
    return dsm


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
