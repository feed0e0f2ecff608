"""Terrain heights from a DEM raster (GeoTIFF, ESRI ASCII grid, anything rasterio reads).

Heights are taken as above mean sea level (what MAVLink's AMSL altitudes mean) and
interpolated bilinearly between the raster's posts, the surface every clearance here is
measured against. Any CRS: positions are transformed from WGS84 into the raster's CRS.
A raster without a CRS (an ``.asc`` without ``.prj``) whose bounds are plausible degrees
is taken as EPSG:4326, as SRTM grids are; otherwise give the CRS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from drone_missions.errors import MissionError

F64 = npt.NDArray[np.float64]


@dataclass
class Dem:
    """A terrain model: ``height_amsl(lat, lon)``; NaN outside the raster or at nodata."""

    path: Path
    crs: str
    heights: F64  # (rows, cols), NaN = nodata
    transform: tuple[float, float, float, float, float, float]  # rasterio Affine a..f
    crs_assumed: bool = False

    @classmethod
    def open(cls, path: str | Path, crs: str | None = None) -> Dem:
        import rasterio
        from rasterio.errors import RasterioIOError

        file = Path(path)
        try:
            with rasterio.open(file) as ds:
                band = ds.read(1, masked=True).astype(np.float64)
                heights = np.asarray(band.filled(np.nan), dtype=np.float64)
                t = ds.transform
                raster_crs = ds.crs.to_string() if ds.crs is not None else None
                bounds = ds.bounds
        except RasterioIOError as err:
            raise MissionError(f"{file}: cannot read the DEM ({err})") from None
        assumed = False
        if crs is None:
            if raster_crs is None:
                if (
                    -180 <= bounds.left < bounds.right <= 180
                    and -90 <= bounds.bottom < bounds.top <= 90
                ):
                    raster_crs, assumed = "EPSG:4326", True
                else:
                    raise MissionError(
                        f"{file}: the DEM states no CRS and its bounds are not degrees; "
                        "give it (--dem-crs EPSG:...)"
                    )
            crs = raster_crs
        if heights.size == 0 or not np.isfinite(heights).any():
            raise MissionError(f"{file}: the DEM holds no valid heights")
        return cls(file, crs, heights, (t.a, t.b, t.c, t.d, t.e, t.f), assumed)

    @property
    def cell_size_m(self) -> float:
        """Approximate post spacing in metres (degrees converted at the raster's centre)."""
        a, _, _c, _, e, f = self.transform
        size = min(abs(a), abs(e))
        if self.is_geographic:
            rows = self.heights.shape[0]
            lat = f + e * rows / 2.0
            return size * 111_320.0 * max(math.cos(math.radians(lat)), 1e-6)
        return size

    @property
    def is_geographic(self) -> bool:
        return self.crs.upper() in ("EPSG:4326", "OGC:CRS84", "EPSG:4979") or "longlat" in self.crs

    def _to_raster_xy(self, lat: F64, lon: F64) -> tuple[F64, F64]:
        if self.is_geographic:
            return lon, lat
        from rasterio.warp import transform

        xs, ys = transform("EPSG:4326", self.crs, lon.ravel().tolist(), lat.ravel().tolist())
        return np.asarray(xs).reshape(lat.shape), np.asarray(ys).reshape(lat.shape)

    def _from_raster_xy(self, x: F64, y: F64) -> tuple[F64, F64]:
        if self.is_geographic:
            return y, x
        from rasterio.warp import transform

        lons, lats = transform(self.crs, "EPSG:4326", x.ravel().tolist(), y.ravel().tolist())
        return np.asarray(lats).reshape(x.shape), np.asarray(lons).reshape(x.shape)

    def height_amsl(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> F64:
        """Bilinearly interpolated terrain height (m) at WGS84 positions."""
        lat = np.asarray(lat_deg, dtype=np.float64)
        lon = np.asarray(lon_deg, dtype=np.float64)
        lat, lon = np.broadcast_arrays(lat, lon)
        x, y = self._to_raster_xy(lat, lon)
        a, b, c, d, e, f = self.transform
        det = a * e - b * d
        # pixel coordinates of the point, with post centres at integers
        col = (e * (x - c) - b * (y - f)) / det - 0.5
        row = (-d * (x - c) + a * (y - f)) / det - 0.5
        rows, cols = self.heights.shape
        eps = 1e-6
        inside = (col >= -eps) & (row >= -eps) & (col <= cols - 1 + eps) & (row <= rows - 1 + eps)
        col = np.clip(col, 0.0, cols - 1.0)
        row = np.clip(row, 0.0, rows - 1.0)
        c0c = np.clip(np.floor(col).astype(np.int64), 0, cols - 2)
        r0c = np.clip(np.floor(row).astype(np.int64), 0, rows - 2)
        fc, fr = col - c0c, row - r0c
        h = self.heights
        z = (
            h[r0c, c0c] * (1 - fr) * (1 - fc)
            + h[r0c, c0c + 1] * (1 - fr) * fc
            + h[r0c + 1, c0c] * fr * (1 - fc)
            + h[r0c + 1, c0c + 1] * fr * fc
        )
        return np.where(inside, z, np.nan)

    def grid_wgs84(self, step: int = 1) -> tuple[F64, F64, F64]:
        """Post positions (lat, lon) and heights, every ``step`` posts (for maps)."""
        a, b, c, d, e, f = self.transform
        rows, cols = self.heights.shape
        rr, cc = np.mgrid[0:rows:step, 0:cols:step].astype(np.float64)
        x = a * (cc + 0.5) + b * (rr + 0.5) + c
        y = d * (cc + 0.5) + e * (rr + 0.5) + f
        lat, lon = self._from_raster_xy(x, y)
        return lat, lon, self.heights[::step, ::step]
