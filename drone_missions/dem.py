"""Terrain heights from a DEM raster (GeoTIFF, ESRI ASCII grid, anything rasterio reads).

Heights are taken as above mean sea level (what MAVLink's AMSL altitudes mean) and
interpolated bilinearly between the raster's posts, the surface every clearance here is
measured against. Any CRS: positions are transformed from WGS84 into the raster's CRS.
A raster without a CRS (an ``.asc`` without ``.prj``) whose bounds are plausible degrees
is taken as EPSG:4326, as SRTM grids are; otherwise give the CRS.

A DEM is not the ground: each has a vertical uncertainty, and between its posts the
ground can rise above the interpolated surface. Terrain clearance is therefore measured
conservatively (:meth:`Dem.highest_post`: the highest of the posts around a position,
plus :attr:`Dem.vertical_uncertainty_m`). The uncertainty comes, in this order, from the
caller (``--dem-vertical-uncertainty-m``), from the raster's own tag
``VERTICAL_UNCERTAINTY_M`` (any GeoTIFF may declare it), or from its kind:

- SRTM (a file name or tag that says so): 16 m, the SRTM mission's stated absolute
  vertical accuracy (90 % linear error; Rodriguez et al. 2006, "An assessment of the
  SRTM topographic products", JPL D-31639);
- the smartmine simulator's ``dem.tif`` (tags ``scene`` and ``vertical``): 1 m, the
  ground-truth mesh sampled at 1 m posts;
- any other: 16 m (:data:`DEFAULT_VERTICAL_UNCERTAINTY_M`), as bad as the worst common
  global DEM, until the user states better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from drone_missions.errors import MissionError

F64 = npt.NDArray[np.float64]

SRTM_VERTICAL_UNCERTAINTY_M = 16.0
"""SRTM's stated absolute vertical accuracy (LE90), m."""
SIMULATOR_VERTICAL_UNCERTAINTY_M = 1.0
DEFAULT_VERTICAL_UNCERTAINTY_M = 16.0
"""For a DEM of unknown kind: as bad as SRTM, until the user states better."""
UNCERTAINTY_TAG = "VERTICAL_UNCERTAINTY_M"


def _kind_and_uncertainty(file: Path, tags: dict[str, str]) -> tuple[str, float, str]:
    """(kind, vertical uncertainty m, where that number comes from) of a DEM."""
    lowered = {k.lower(): v for k, v in tags.items()}
    declared = lowered.get(UNCERTAINTY_TAG.lower())
    if declared is not None:
        try:
            value = float(declared)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value >= 0):
            raise MissionError(f"{file}: tag {UNCERTAINTY_TAG}={declared!r} is not a number >= 0")
        return "declared", value, f"the raster's {UNCERTAINTY_TAG} tag"
    text = " ".join([file.name, *tags.values()]).lower()
    if "srtm" in text:
        return "SRTM", SRTM_VERTICAL_UNCERTAINTY_M, "SRTM's stated absolute accuracy (LE90)"
    if "scene" in lowered and "vertical" in lowered:
        return (
            "smartmine simulator",
            SIMULATOR_VERTICAL_UNCERTAINTY_M,
            "the simulator's ground truth at 1 m posts",
        )
    return "unknown", DEFAULT_VERTICAL_UNCERTAINTY_M, "default for a DEM of unknown kind"


@dataclass
class Dem:
    """A terrain model: ``height_amsl(lat, lon)``; NaN outside the raster or at nodata."""

    path: Path
    crs: str
    heights: F64  # (rows, cols), NaN = nodata
    transform: tuple[float, float, float, float, float, float]  # rasterio Affine a..f
    crs_assumed: bool = False
    kind: str = "unknown"
    vertical_uncertainty_m: float = DEFAULT_VERTICAL_UNCERTAINTY_M
    uncertainty_source: str = "default for a DEM of unknown kind"

    @classmethod
    def open(
        cls, path: str | Path, crs: str | None = None, vertical_uncertainty_m: float | None = None
    ) -> Dem:
        """Read a DEM; ``vertical_uncertainty_m`` overrides the one its kind implies."""
        import rasterio
        from rasterio.errors import RasterioError

        file = Path(path)
        if vertical_uncertainty_m is not None and not (
            math.isfinite(vertical_uncertainty_m) and vertical_uncertainty_m >= 0
        ):
            raise MissionError(
                f"--dem-vertical-uncertainty-m is {vertical_uncertainty_m}: must be a number >= 0"
            )
        if not file.is_file():
            raise MissionError(f"{file}: cannot read the DEM (no such file)")
        try:
            with rasterio.open(file) as ds:
                band = ds.read(1, masked=True).astype(np.float64)
                heights = np.asarray(band.filled(np.nan), dtype=np.float64)
                t = ds.transform
                raster_crs = ds.crs.to_string() if ds.crs is not None else None
                bounds = ds.bounds
                tags = {str(k): str(v) for k, v in ds.tags().items()}
        except RasterioError as err:
            message = " ".join(str(err).split())
            raise MissionError(f"{file}: cannot read the DEM ({message})") from None
        kind, uncertainty, source = _kind_and_uncertainty(file, tags)
        if vertical_uncertainty_m is not None:
            uncertainty, source = vertical_uncertainty_m, "--dem-vertical-uncertainty-m"
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
        if min(heights.shape) < 2:
            raise MissionError(f"{file}: the DEM has {heights.shape} posts; at least 2 x 2 needed")
        affine = (t.a, t.b, t.c, t.d, t.e, t.f)
        if not all(math.isfinite(v) for v in affine) or t.a * t.e - t.b * t.d == 0:
            raise MissionError(f"{file}: the DEM's geotransform {affine} is not usable")
        return cls(file, crs, heights, affine, assumed, kind, uncertainty, source)

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
        return self._sample(lat_deg, lon_deg, highest=False)

    def highest_post(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike) -> F64:
        """The highest of the 2 x 2 posts around each position (the cell the bilinear
        surface is drawn from): no interpolation can put the ground lower than the DEM
        says anywhere in the cell; NaN outside the raster or where a post is nodata."""
        return self._sample(lat_deg, lon_deg, highest=True)

    @property
    def method(self) -> str:
        return (
            f"highest of the 2x2 DEM posts around each sample + {self.vertical_uncertainty_m:g} m "
            f"vertical uncertainty ({self.kind}: {self.uncertainty_source})"
        )

    def _sample(self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, *, highest: bool) -> F64:
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
        if highest:
            posts = np.stack([h[r0c, c0c], h[r0c, c0c + 1], h[r0c + 1, c0c], h[r0c + 1, c0c + 1]])
            top = posts.max(axis=0)  # NaN where any post is nodata
            return np.where(inside, top, np.nan)
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
