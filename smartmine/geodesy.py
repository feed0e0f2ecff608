"""Coordinate reference systems for the whole stack: UTM, local ENU and mine grids.

Every package takes its CRS handling from here so that there is exactly one place where
axis order, zone choice and height handling are decided:

* Geographic coordinates are WGS84 (EPSG:4326 / EPSG:4979) in degrees, and functions take
  them in the order ``lat, lon`` like people say them; pyproj is always driven with
  ``always_xy=True`` internally so its axis order never leaks out.
* Heights are ellipsoidal (WGS84). UTM is a projection of that same ellipsoid, so the
  height passes through a UTM conversion unchanged.
* All functions accept scalars or numpy arrays (broadcast together) and return float64
  arrays of the broadcast shape (0-d arrays for scalar input).

Errors the user can cause (bad zone, unknown CRS, points that cannot be fitted) raise
:class:`smartmine.errors.GeodesyError` with a message naming what is wrong.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, cast

import numpy as np
import numpy.typing as npt
import pyproj
from pyproj.exceptions import CRSError, ProjError

from smartmine.errors import GeodesyError
from smartmine.geometry import fit_similarity, rot_z

__all__ = [
    "EPSG_ECEF",
    "EPSG_WGS84",
    "EPSG_WGS84_3D",
    "LocalEnu",
    "MineGrid",
    "MineGridFit",
    "MineGridKind",
    "UtmCoordinates",
    "describe_crs",
    "fit_mine_grid",
    "to_pyproj_crs",
    "utm_epsg",
    "utm_to_wgs84",
    "utm_zone",
    "wgs84_to_utm",
]

FloatArray = npt.NDArray[np.float64]
CrsInput = int | str
MineGridKind = Literal["helmert3d", "horizontal"]

EPSG_WGS84: Final = 4326
"""WGS84 geographic 2D (lat, lon)."""
EPSG_WGS84_3D: Final = 4979
"""WGS84 geographic 3D (lat, lon, ellipsoidal height)."""
EPSG_ECEF: Final = 4978
"""WGS84 geocentric (earth-centred, earth-fixed) X, Y, Z in metres."""

_MINE_GRID_KINDS: Final[tuple[str, ...]] = ("helmert3d", "horizontal")
# Relative spread below which a point cloud is treated as a line (or a point): the rotation
# about that line would be fitted to noise.
_DEGENERATE_RATIO: Final = 1e-6
_DEGENERATE_ABS_M: Final = 1e-9
_ROTATION_TOL: Final = 1e-6


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _as_float_array(value: npt.ArrayLike, what: str) -> FloatArray:
    """Convert user input to float64, naming the argument when it is not numeric."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GeodesyError(f"{what} must be numeric, got {value!r}") from exc
    return array


def _broadcast(**arrays: npt.ArrayLike) -> list[FloatArray]:
    """Broadcast named inputs together; a shape mismatch names the arguments."""
    converted = [_as_float_array(v, k) for k, v in arrays.items()]
    try:
        return [np.array(a, dtype=np.float64) for a in np.broadcast_arrays(*converted)]
    except ValueError as exc:
        shapes = ", ".join(f"{k}{np.shape(a)}" for k, a in zip(arrays, converted, strict=True))
        raise GeodesyError(f"cannot broadcast {shapes} together") from exc


def _check_finite(what: str, *arrays: FloatArray) -> None:
    for array in arrays:
        if not np.all(np.isfinite(array)):
            raise GeodesyError(f"{what} contains NaN or infinite values")


def _check_latitude(lat_deg: FloatArray) -> None:
    if np.any(np.abs(lat_deg) > 90.0):
        bad = float(lat_deg[np.abs(lat_deg) > 90.0].flat[0])
        raise GeodesyError(f"latitude {bad} deg is outside [-90, 90]; were lat and lon swapped?")


def _normalise_crs(crs: object) -> CrsInput:
    """EPSG codes as plain ``int`` (numpy ints from YAML/arrays too), strings as they are."""
    if isinstance(crs, bool) or not isinstance(crs, int | np.integer | str):
        raise GeodesyError(f"CRS must be an EPSG code (int) or a WKT/PROJ string, got {crs!r}")
    return crs if isinstance(crs, str) else int(crs)


def _crs(crs: CrsInput) -> pyproj.CRS:
    """Parse an EPSG code or WKT/PROJ string (cached: parsing costs milliseconds)."""
    return _parse_crs(_normalise_crs(crs))


@functools.cache
def _parse_crs(crs: CrsInput) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(crs)
    except CRSError as exc:
        raise GeodesyError(f"unknown CRS {crs!r}: {exc}") from exc


def _transformer(src: CrsInput, dst: CrsInput) -> pyproj.Transformer:
    """One pyproj transformer per (source, target) pair; building one costs milliseconds."""
    return _cached_transformer(_normalise_crs(src), _normalise_crs(dst))


@functools.cache
def _cached_transformer(src: CrsInput, dst: CrsInput) -> pyproj.Transformer:
    try:
        return pyproj.Transformer.from_crs(_crs(src), _crs(dst), always_xy=True)
    except ProjError as exc:
        raise GeodesyError(f"no transformation from CRS {src!r} to CRS {dst!r}: {exc}") from exc


def _transform(
    src: CrsInput, dst: CrsInput, x: FloatArray, y: FloatArray, z: FloatArray | None = None
) -> list[FloatArray]:
    """Run a cached transformer on broadcast arrays, turning PROJ's inf into an error."""
    transformer = _transformer(src, dst)
    shape = x.shape
    inputs = [a.ravel() for a in (x, y) + (() if z is None else (z,))]
    # pyproj's single-point fast path wants Python floats (a 1-element array is deprecated).
    args: list[Any] = [float(a[0]) for a in inputs] if x.size == 1 else inputs
    try:
        if z is None:
            result: tuple[Any, ...] = transformer.transform(args[0], args[1], errcheck=True)
        else:
            result = transformer.transform(args[0], args[1], args[2], errcheck=True)
    except ProjError as exc:
        raise GeodesyError(f"transforming from CRS {src!r} to CRS {dst!r} failed: {exc}") from exc
    out = [np.asarray(r, dtype=np.float64).reshape(shape) for r in result]
    if not all(np.all(np.isfinite(o)) for o in out):
        raise GeodesyError(
            f"transforming from CRS {src!r} to CRS {dst!r} gave non-finite coordinates "
            "(point outside the CRS's domain?)"
        )
    return out


def _require_metric_crs(crs: CrsInput) -> pyproj.CRS:
    """Mine grids are metric similarities; a degree-based CRS would silently mix units."""
    parsed = _crs(crs)
    if not (parsed.is_projected or parsed.is_geocentric):
        raise GeodesyError(
            f"CRS {crs!r} ({parsed.name}) is not projected or geocentric; "
            "a mine grid needs metric coordinates"
        )
    return parsed


# --------------------------------------------------------------------------------------
# UTM
# --------------------------------------------------------------------------------------


class UtmCoordinates(NamedTuple):
    """UTM coordinates together with the EPSG code they are expressed in."""

    easting_m: FloatArray
    northing_m: FloatArray
    epsg: int


def _utm_zones(lon_deg: FloatArray, lat_deg: FloatArray) -> npt.NDArray[np.int64]:
    """Vectorised zone rule; see :func:`utm_zone`."""
    if not (np.all(np.isfinite(lon_deg)) and np.all(np.isfinite(lat_deg))):
        raise GeodesyError("utm_zone: lon_deg/lat_deg contain NaN or infinite values")
    outside = (lat_deg < -80.0) | (lat_deg > 84.0)
    if np.any(outside):
        bad = float(lat_deg[outside].flat[0])
        raise GeodesyError(f"latitude {bad} deg is outside UTM's range [-80, 84] (use UPS)")
    lon = (lon_deg + 180.0) % 360.0 - 180.0
    zones = (np.floor((lon + 180.0) / 6.0).astype(np.int64) % 60) + 1
    # South-west Norway: zone 32 widened to 3..12 E.
    zones = np.where((lat_deg >= 56.0) & (lat_deg < 64.0) & (lon >= 3.0) & (lon < 12.0), 32, zones)
    # Svalbard: zones 32, 34 and 36 are unused; 31/33/35/37 are widened.
    svalbard = (lat_deg >= 72.0) & (lon >= 0.0) & (lon < 42.0)
    svalbard_zone = np.select([lon < 9.0, lon < 21.0, lon < 33.0], [31, 33, 35], default=37)
    return np.asarray(np.where(svalbard, svalbard_zone, zones), dtype=np.int64)


def utm_zone(lon_deg: float, lat_deg: float) -> int:
    """Standard UTM zone (1..60) of a point, including the Norway and Svalbard exceptions.

    Zone boundaries belong to the eastern zone (lon 78.0 is zone 44), as in the standard.
    """
    lon = _as_float_array(lon_deg, "lon_deg")
    lat = _as_float_array(lat_deg, "lat_deg")
    if lon.shape != () or lat.shape != ():
        raise GeodesyError("utm_zone takes one point (scalar lon_deg, lat_deg)")
    return int(_utm_zones(lon, lat))


def utm_epsg(zone: int, north: bool = True) -> int:
    """EPSG code of WGS84 / UTM ``zone`` (326xx north, 327xx south)."""
    if isinstance(zone, bool) or not isinstance(zone, int | np.integer):
        raise GeodesyError(f"UTM zone must be an integer 1..60, got {zone!r}")
    if not 1 <= int(zone) <= 60:
        raise GeodesyError(f"UTM zone {zone} is outside 1..60")
    return (32600 if north else 32700) + int(zone)


def _utm_zone_of_epsg(epsg: int) -> tuple[int, bool]:
    if isinstance(epsg, bool) or not isinstance(epsg, int | np.integer):
        raise GeodesyError(f"UTM EPSG code must be an integer, got {epsg!r}")
    code = int(epsg)
    if 32601 <= code <= 32660:
        return code - 32600, True
    if 32701 <= code <= 32760:
        return code - 32700, False
    raise GeodesyError(f"EPSG:{code} is not a WGS84 / UTM code (32601..32660, 32701..32760)")


def to_pyproj_crs(crs: CrsInput) -> pyproj.CRS:
    """The pyproj CRS of an EPSG code or WKT/PROJ string (for writers: LAS, GeoTIFF)."""
    return _crs(crs)


def describe_crs(epsg_or_wkt: CrsInput) -> str:
    """Human-readable name of a CRS (pyproj's), for logs and metadata."""
    return str(_crs(epsg_or_wkt).name)


def wgs84_to_utm(
    lat_deg: npt.ArrayLike,
    lon_deg: npt.ArrayLike,
    zone: int | None = None,
    north: bool | None = None,
) -> UtmCoordinates:
    """WGS84 latitude/longitude to UTM easting/northing.

    Without ``zone`` the zone is taken from the points (all must fall in one zone, so a
    survey is never silently split across two grids). With ``zone`` that zone is used even
    for points outside it: work near a zone edge stays in the zone the project chose.
    ``north`` defaults to the hemisphere of the points. Heights are unchanged by UTM
    (same ellipsoid), so they are not taken here; carry them alongside.
    """
    lat, lon = _broadcast(lat_deg=lat_deg, lon_deg=lon_deg)
    _check_finite("lat_deg/lon_deg", lat, lon)
    _check_latitude(lat)
    if lat.size == 0:
        raise GeodesyError("wgs84_to_utm: no points given")
    if zone is None:
        zones = np.unique(_utm_zones(lon, lat))
        if zones.size != 1:
            raise GeodesyError(
                f"points span UTM zones {zones.tolist()}; pass zone= to choose one for all"
            )
        zone = int(zones[0])
    if north is None:
        hemispheres = set((lat >= 0.0).flat)
        if len(hemispheres) != 1:
            raise GeodesyError("points span both hemispheres; pass north= to choose one")
        north = bool(hemispheres.pop())
    epsg = utm_epsg(zone, north)
    easting, northing = _transform(EPSG_WGS84, epsg, lon, lat)
    return UtmCoordinates(easting, northing, epsg)


def utm_to_wgs84(
    easting_m: npt.ArrayLike, northing_m: npt.ArrayLike, epsg: int
) -> tuple[FloatArray, FloatArray]:
    """UTM easting/northing in ``epsg`` to WGS84 ``(lat_deg, lon_deg)``."""
    _utm_zone_of_epsg(epsg)
    easting, northing = _broadcast(easting_m=easting_m, northing_m=northing_m)
    _check_finite("easting_m/northing_m", easting, northing)
    lon, lat = _transform(int(epsg), EPSG_WGS84, easting, northing)
    return lat, lon


# --------------------------------------------------------------------------------------
# Local tangent plane (ENU)
# --------------------------------------------------------------------------------------


def _enu_rotation(lat_deg: float, lon_deg: float) -> FloatArray:
    """Rows are the E, N, U unit vectors in ECEF at the given geodetic position."""
    lat = math.radians(lat_deg)
    lon = math.radians(lon_deg)
    sin_lat, cos_lat = math.sin(lat), math.cos(lat)
    sin_lon, cos_lon = math.sin(lon), math.cos(lon)
    return np.array(
        [
            [-sin_lon, cos_lon, 0.0],
            [-sin_lat * cos_lon, -sin_lat * sin_lon, cos_lat],
            [cos_lat * cos_lon, cos_lat * sin_lon, sin_lat],
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class LocalEnu:
    """Local tangent plane at an origin (REP-103 ENU: x east, y north, z up), in metres.

    Exact (no flat-earth approximation): positions go through ECEF with pyproj and are
    rotated into the tangent plane at the origin, so it is valid kilometres away.
    """

    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lat_deg", "lon_deg", "alt_m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
                raise GeodesyError(f"LocalEnu origin {name} must be a number, got {value!r}")
            if not math.isfinite(float(value)):
                raise GeodesyError(f"LocalEnu origin {name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if abs(self.lat_deg) > 90.0:
            raise GeodesyError(f"LocalEnu origin lat_deg {self.lat_deg} is outside [-90, 90]")

    @functools.cached_property
    def _origin_ecef_m(self) -> FloatArray:
        x, y, z = _transform(
            EPSG_WGS84_3D,
            EPSG_ECEF,
            np.array([self.lon_deg]),
            np.array([self.lat_deg]),
            np.array([self.alt_m]),
        )
        return np.array([x[0], y[0], z[0]], dtype=np.float64)

    @functools.cached_property
    def _r_enu_from_ecef(self) -> FloatArray:
        return _enu_rotation(self.lat_deg, self.lon_deg)

    def ecef_from_enu(self) -> FloatArray:
        """4x4 matrix taking local ENU points (metres) to ECEF (EPSG:4978), e.g. the root
        transform of a 3D Tiles tileset whose content is in this tangent plane."""
        matrix = np.eye(4)
        matrix[:3, :3] = self._r_enu_from_ecef.T
        matrix[:3, 3] = self._origin_ecef_m
        return matrix

    def from_wgs84(
        self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, alt_m: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """WGS84 (ellipsoidal height) to local ``(east_m, north_m, up_m)``."""
        lat, lon, alt = _broadcast(lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_m)
        _check_finite("lat_deg/lon_deg/alt_m", lat, lon, alt)
        _check_latitude(lat)
        x, y, z = _transform(EPSG_WGS84_3D, EPSG_ECEF, lon, lat, alt)
        delta = np.stack([x, y, z], axis=-1) - self._origin_ecef_m
        enu = delta @ self._r_enu_from_ecef.T
        return enu[..., 0], enu[..., 1], enu[..., 2]

    def to_wgs84(
        self, east_m: npt.ArrayLike, north_m: npt.ArrayLike, up_m: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Local ``(east_m, north_m, up_m)`` to WGS84 ``(lat_deg, lon_deg, alt_m)``."""
        east, north, up = _broadcast(east_m=east_m, north_m=north_m, up_m=up_m)
        _check_finite("east_m/north_m/up_m", east, north, up)
        ecef = np.stack([east, north, up], axis=-1) @ self._r_enu_from_ecef + self._origin_ecef_m
        lon, lat, alt = _transform(
            EPSG_ECEF, EPSG_WGS84_3D, ecef[..., 0], ecef[..., 1], ecef[..., 2]
        )
        return lat, lon, alt

    def from_projected(
        self,
        easting_m: npt.ArrayLike,
        northing_m: npt.ArrayLike,
        height_m: npt.ArrayLike,
        epsg: CrsInput,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Projected coordinates (e.g. UTM, EPSG code or WKT/PROJ string) to local ENU."""
        easting, northing, height = _broadcast(
            easting_m=easting_m, northing_m=northing_m, height_m=height_m
        )
        _check_finite("easting_m/northing_m/height_m", easting, northing, height)
        lon, lat, alt = _transform(epsg, EPSG_WGS84_3D, easting, northing, height)
        return self.from_wgs84(lat, lon, alt)

    def to_projected(
        self, east_m: npt.ArrayLike, north_m: npt.ArrayLike, up_m: npt.ArrayLike, epsg: CrsInput
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Local ENU to projected ``(easting_m, northing_m, height_m)`` in ``epsg``."""
        lat, lon, alt = self.to_wgs84(east_m, north_m, up_m)
        easting, northing, height = _transform(EPSG_WGS84_3D, epsg, lon, lat, alt)
        return easting, northing, height


# --------------------------------------------------------------------------------------
# Mine grid
# --------------------------------------------------------------------------------------


def _readonly(array: FloatArray) -> FloatArray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class MineGrid:
    """A local mine survey grid tied to a projected CRS by a similarity transform.

    ``kind="helmert3d"`` (7 parameters)::

        grid = scale * rotation @ projected + translation_m

    ``kind="horizontal"`` (the usual mine grid: a 4-parameter 2D similarity in E/N plus a
    vertical offset). ``rotation`` is then a rotation about z only and the scale applies to
    the horizontal only, because mine levels are quoted as heights and must not be scaled::

        [x, y] = scale * R2 @ [e, n] + translation_m[:2]
        z      = h + translation_m[2]

    ``crs`` is an EPSG code or a WKT/PROJ string (e.g. a QazTRF-23 based projection).
    """

    crs: CrsInput
    scale: float
    rotation: FloatArray
    translation_m: FloatArray
    kind: MineGridKind = "horizontal"
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "crs", _normalise_crs(self.crs))
        _require_metric_crs(self.crs)
        if self.kind not in _MINE_GRID_KINDS:
            raise GeodesyError(
                f"mine grid {self.name!r}: kind {self.kind!r} is not one of {_MINE_GRID_KINDS}"
            )
        if not isinstance(self.name, str):
            raise GeodesyError(f"mine grid name must be a string, got {self.name!r}")
        scale = float(_as_float_array(self.scale, "scale"))
        if not (math.isfinite(scale) and scale > 0.0):
            raise GeodesyError(f"mine grid {self.name!r}: scale must be positive, got {scale}")
        rotation = _as_float_array(self.rotation, "rotation")
        if rotation.shape != (3, 3) or not np.all(np.isfinite(rotation)):
            raise GeodesyError(
                f"mine grid {self.name!r}: rotation must be a finite 3x3 matrix, "
                f"got shape {rotation.shape}"
            )
        if (
            np.max(np.abs(rotation.T @ rotation - np.eye(3))) > _ROTATION_TOL
            or np.linalg.det(rotation) <= 0.0
        ):
            raise GeodesyError(f"mine grid {self.name!r}: rotation is not a proper rotation")
        if self.kind == "horizontal" and (
            np.max(np.abs(rotation[2, :] - [0.0, 0.0, 1.0])) > _ROTATION_TOL
            or np.max(np.abs(rotation[:2, 2])) > _ROTATION_TOL
        ):
            raise GeodesyError(
                f"mine grid {self.name!r}: kind 'horizontal' needs a rotation about z only"
            )
        translation = _as_float_array(self.translation_m, "translation_m")
        if translation.shape != (3,) or not np.all(np.isfinite(translation)):
            raise GeodesyError(
                f"mine grid {self.name!r}: translation_m must be 3 finite numbers, "
                f"got shape {translation.shape}"
            )
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "rotation", _readonly(rotation))
        object.__setattr__(self, "translation_m", _readonly(translation))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MineGrid):
            return NotImplemented
        return (
            self.crs == other.crs
            and self.kind == other.kind
            and self.name == other.name
            and self.scale == other.scale
            and bool(np.array_equal(self.rotation, other.rotation))
            and bool(np.array_equal(self.translation_m, other.translation_m))
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def horizontal(
        cls,
        crs: CrsInput,
        scale: float,
        rotation_deg: float,
        translation_m: npt.ArrayLike,
        name: str = "",
    ) -> MineGrid:
        """Build a horizontal grid from the parameters a surveyor quotes (angle CCW, deg)."""
        return cls(
            crs=crs,
            scale=scale,
            rotation=rot_z(math.radians(float(rotation_deg))),
            translation_m=_as_float_array(translation_m, "translation_m"),
            kind="horizontal",
            name=name,
        )

    @property
    def rotation_deg(self) -> float:
        """Rotation about z (counter-clockwise from projected E/N to grid x/y), degrees."""
        return math.degrees(math.atan2(self.rotation[1, 0], self.rotation[0, 0]))

    @property
    def _scale_vector(self) -> FloatArray:
        z_scale = self.scale if self.kind == "helmert3d" else 1.0
        return np.array([self.scale, self.scale, z_scale], dtype=np.float64)

    def matrix(self) -> FloatArray:
        """4x4 affine matrix mapping homogeneous projected points to grid points."""
        out = np.eye(4)
        out[:3, :3] = self.rotation * self._scale_vector  # R @ diag(s)
        out[:3, 3] = self.translation_m
        return out

    def to_grid(
        self, easting_m: npt.ArrayLike, northing_m: npt.ArrayLike, height_m: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Projected ``(easting, northing, height)`` to grid ``(x, y, z)``, metres."""
        e, n, h = _broadcast(easting_m=easting_m, northing_m=northing_m, height_m=height_m)
        projected = np.stack([e, n, h], axis=-1)
        grid = (projected * self._scale_vector) @ self.rotation.T + self.translation_m
        return grid[..., 0], grid[..., 1], grid[..., 2]

    def from_grid(
        self, x_m: npt.ArrayLike, y_m: npt.ArrayLike, z_m: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Grid ``(x, y, z)`` to projected ``(easting, northing, height)``, metres."""
        x, y, z = _broadcast(x_m=x_m, y_m=y_m, z_m=z_m)
        grid = np.stack([x, y, z], axis=-1)
        projected = ((grid - self.translation_m) @ self.rotation) / self._scale_vector
        return projected[..., 0], projected[..., 1], projected[..., 2]

    def from_wgs84(
        self, lat_deg: npt.ArrayLike, lon_deg: npt.ArrayLike, alt_m: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """WGS84 (ellipsoidal height) to grid ``(x, y, z)`` through the grid's CRS."""
        lat, lon, alt = _broadcast(lat_deg=lat_deg, lon_deg=lon_deg, alt_m=alt_m)
        _check_finite("lat_deg/lon_deg/alt_m", lat, lon, alt)
        _check_latitude(lat)
        e, n, h = _transform(EPSG_WGS84_3D, self.crs, lon, lat, alt)
        return self.to_grid(e, n, h)

    def to_wgs84(
        self, x_m: npt.ArrayLike, y_m: npt.ArrayLike, z_m: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Grid ``(x, y, z)`` to WGS84 ``(lat_deg, lon_deg, alt_m)``."""
        e, n, h = self.from_grid(x_m, y_m, z_m)
        _check_finite("x_m/y_m/z_m", e, n, h)
        lon, lat, alt = _transform(self.crs, EPSG_WGS84_3D, e, n, h)
        return lat, lon, alt

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able description (floats and lists only)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "crs": self.crs,
            "scale": float(self.scale),
            "rotation": [[float(v) for v in row] for row in self.rotation],
            "translation_m": [float(v) for v in self.translation_m],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MineGrid:
        """Inverse of :meth:`to_dict`; a missing or malformed key is named in the error."""
        if not isinstance(data, Mapping):
            raise GeodesyError(f"mine grid description must be a mapping, got {type(data)}")
        missing = [k for k in ("crs", "scale", "rotation", "translation_m") if k not in data]
        if missing:
            raise GeodesyError(f"mine grid description lacks {', '.join(missing)}")
        kind = data.get("kind", "horizontal")
        if kind not in _MINE_GRID_KINDS:
            raise GeodesyError(f"mine grid kind {kind!r} is not one of {_MINE_GRID_KINDS}")
        return cls(
            crs=data["crs"],
            scale=data["scale"],
            rotation=_as_float_array(data["rotation"], "rotation"),
            translation_m=_as_float_array(data["translation_m"], "translation_m"),
            kind=cast(MineGridKind, kind),
            name=str(data.get("name", "")),
        )


@dataclass(frozen=True, eq=False)
class MineGridFit:
    """Result of :func:`fit_mine_grid`: the grid and how well the control points agree."""

    grid: MineGrid
    residuals_m: FloatArray = field(repr=False)
    """(N, 3): control grid coordinates minus the fitted transform of the projected ones."""
    rms_m: float
    """3D RMS of the residuals."""
    max_residual_m: float
    """Largest 3D residual; a blunder in one control point shows here first."""

    @property
    def residual_norms_m(self) -> FloatArray:
        """(N,) 3D residual length per control point."""
        return np.asarray(np.linalg.norm(self.residuals_m, axis=1), dtype=np.float64)


def _points(value: npt.ArrayLike, what: str) -> FloatArray:
    array = _as_float_array(value, what)
    if array.ndim != 2 or array.shape[1] != 3:
        raise GeodesyError(f"{what} must have shape (N, 3), got {array.shape}")
    _check_finite(what, array)
    return array


def _check_spread(centred: FloatArray, what: str, need: int) -> None:
    """Raise when the points span fewer than ``need`` dimensions (coincident/collinear)."""
    spread = np.linalg.svd(centred, compute_uv=False) / math.sqrt(centred.shape[0])
    largest = float(spread[0]) if spread.size else 0.0
    threshold = max(_DEGENERATE_RATIO * largest, _DEGENERATE_ABS_M)
    if spread.size < need or float(spread[need - 1]) <= threshold:
        shape = "coincident" if largest <= _DEGENERATE_ABS_M else "collinear"
        raise GeodesyError(f"{what} are {shape}; the transform is not determined")


def _fit_helmert3d(src: FloatArray, dst: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """7-parameter similarity (Umeyama, in :mod:`smartmine.geometry`)."""
    _check_spread(src - src.mean(axis=0), "projected control points", 2)
    _check_spread(dst - dst.mean(axis=0), "grid control points", 2)
    fit = fit_similarity(src, dst).transform
    return fit.scale, np.array(fit.rotation), np.array(fit.translation)


def _fit_horizontal(src: FloatArray, dst: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """2D similarity in E/N plus the mean height offset."""
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    _check_spread(src[:, :2] - mu_src[:2], "projected control points (horizontally)", 1)
    _check_spread(dst[:, :2] - mu_dst[:2], "grid control points (horizontally)", 1)
    fit = fit_similarity(src[:, :2], dst[:, :2]).transform
    rotation = np.eye(3)
    rotation[:2, :2] = fit.rotation
    translation = np.append(fit.translation, mu_dst[2] - mu_src[2])
    return fit.scale, rotation, translation


def fit_mine_grid(
    projected_pts: npt.ArrayLike,
    grid_pts: npt.ArrayLike,
    crs: CrsInput,
    kind: MineGridKind = "horizontal",
    name: str = "",
) -> MineGridFit:
    """Fit a :class:`MineGrid` to control points known in both the CRS and the mine grid.

    ``projected_pts`` and ``grid_pts`` are (N, 3) arrays of the same points. ``helmert3d``
    needs at least 3 non-collinear points, ``horizontal`` at least 2 distinct ones. Look at
    ``max_residual_m``: a single blundered control point stands out there.
    """
    src = _points(projected_pts, "projected_pts")
    dst = _points(grid_pts, "grid_pts")
    if src.shape != dst.shape:
        raise GeodesyError(
            f"projected_pts {src.shape} and grid_pts {dst.shape} must hold the same points"
        )
    if kind not in _MINE_GRID_KINDS:
        raise GeodesyError(f"mine grid kind {kind!r} is not one of {_MINE_GRID_KINDS}")
    crs = _normalise_crs(crs)
    _require_metric_crs(crs)
    need = 3 if kind == "helmert3d" else 2
    if src.shape[0] < need:
        raise GeodesyError(
            f"a {kind} mine grid needs at least {need} control points, got {src.shape[0]}"
        )
    if kind == "helmert3d":
        scale, rotation, translation = _fit_helmert3d(src, dst)
    else:
        scale, rotation, translation = _fit_horizontal(src, dst)
    grid = MineGrid(
        crs=crs, scale=scale, rotation=rotation, translation_m=translation, kind=kind, name=name
    )
    fitted = np.stack(grid.to_grid(src[:, 0], src[:, 1], src[:, 2]), axis=-1)
    residuals = dst - fitted
    norms = np.linalg.norm(residuals, axis=1)
    return MineGridFit(
        grid=grid,
        residuals_m=_readonly(residuals),
        rms_m=float(np.sqrt(np.mean(norms**2))),
        max_residual_m=float(np.max(norms)),
    )
