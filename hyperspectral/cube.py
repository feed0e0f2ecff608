"""Hyperspectral cubes: ENVI (through ``spectral``), MATLAB ``.mat`` and bags, one interface.

A :class:`Cube` is a lazily read ``(lines, samples, bands)`` array (a memory map for
ENVI, so a cube larger than RAM works) plus the metadata every later step needs: band
centres and widths in nanometres, the bad-band list, and the georeference (affine
transform and EPSG code) when the header has a ``map info``. Work is done tile by tile
(:meth:`Cube.tiles`): a block of whole lines as float32, so memory stays bounded by the
tile size whatever the cube's size, interleave or data type.

The format is guessed from the path (KISS-ICP's dataset idea): ``.hdr`` / ``.img`` /
``.dat`` / ``.raw`` / ``.bsq|.bil|.bip`` → ENVI, ``.mat`` → MATLAB, ``.mcap`` or a bag
folder → the simulator's ``/hyperspectral/image_raw`` topic (first cube).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

ENVI_SUFFIXES = {".hdr", ".img", ".dat", ".raw", ".bsq", ".bil", ".bip", ".sli", ""}
DEFAULT_TILE_LINES = 256


@dataclass(frozen=True)
class GeoReference:
    """Where pixels lie: GDAL-order affine ``(x0, dx, rx, y0, ry, dy)`` of pixel *corners*
    in the CRS ``EPSG:epsg`` (metres for UTM)."""

    transform: tuple[float, float, float, float, float, float]
    epsg: int

    @property
    def pixel_area_m2(self) -> float:
        """Ground area of one pixel (|det| of the affine's linear part)."""
        _, a, b, _, d, e = self.transform
        return abs(a * e - b * d)

    def corners(self, lines: int, samples: int) -> F64Array:
        """(4, 2) map coordinates of the image corners (0,0), (W,0), (W,H), (0,H)."""
        x0, a, b, y0, d, e = self.transform
        cols = np.array([0, samples, samples, 0], dtype=np.float64)
        rows = np.array([0, 0, lines, lines], dtype=np.float64)
        return np.stack([x0 + a * cols + b * rows, y0 + d * cols + e * rows], axis=1)

    def rasterio_transform(self) -> Any:
        from rasterio.transform import Affine

        x0, a, b, y0, d, e = self.transform
        return Affine(a, b, x0, d, e, y0)


@dataclass
class Cube:
    """A hyperspectral cube: ``data`` is ``(lines, samples, bands)``, possibly a memmap."""

    data: npt.NDArray[Any]
    wavelengths_nm: F64Array | None
    fwhm_nm: F64Array | None = None
    good_bands: BoolArray | None = None
    """ENVI ``bbl``: True for usable bands (None = all usable)."""
    georef: GeoReference | None = None
    source: str = "array"
    ignore_value: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        lines, samples, bands = self.data.shape
        return int(lines), int(samples), int(bands)

    def require_wavelengths(self) -> F64Array:
        """Band centres (nm), or an error naming the cube (a classifier needs them)."""
        if self.wavelengths_nm is None:
            raise HyperspectralError(
                f"{self.source}: no 'wavelength' field in the header; add it (band centres) "
                "or give --wavelengths FILE (one centre per line, nm)"
            )
        return self.wavelengths_nm

    def tiles(self, lines_per_tile: int = DEFAULT_TILE_LINES) -> Iterator[tuple[int, F32Array]]:
        """``(first_line, block)`` blocks of whole lines as float32, in order.

        Treat blocks as read-only: a native float32 BIP file is handed out as a view of
        the memory map (no copy), anything else is converted into a new array."""
        lines = self.shape[0]
        step = max(1, int(lines_per_tile))
        for start in range(0, lines, step):
            block = self.data[start : start + step]
            if block.dtype == np.float32 and block.dtype.isnative and block.flags.c_contiguous:
                yield start, np.asarray(block)
            else:
                yield start, np.array(block, dtype=np.float32)

    def read(self) -> F32Array:
        """The whole cube in memory as float32 (small cubes only)."""
        return np.array(self.data, dtype=np.float32)

    def valid_mask(self, block: F32Array) -> BoolArray:
        """Pixels of ``block`` that hold data: finite, not the ignore value, not constant
        (AVIRIS-NG fills no-data pixels with one value, e.g. -0.005, in every band)."""
        from hyperspectral.kernels import varying_finite

        pixels = np.ascontiguousarray(block, dtype=np.float32).reshape(-1, block.shape[-1])
        flat = np.empty(len(pixels), np.bool_)
        varying_finite(pixels, pixels.view(np.uint32), flat)
        ok = flat.reshape(block.shape[:-1])
        if self.ignore_value is not None:
            ok &= ~np.isclose(block[..., 0], self.ignore_value)
        return ok


def tile_lines_for(samples: int, bands: int, tile_mb: float) -> int:
    """Lines per tile so one float32 tile takes about ``tile_mb`` MB."""
    per_line = max(1, samples * bands * 4)
    return max(1, int(tile_mb * 1e6 // per_line))


# --- ENVI ------------------------------------------------------------------------------


def _header_path(path: Path) -> Path:
    if path.suffix.lower() == ".hdr":
        return path
    for candidate in (path.with_suffix(".hdr"), Path(str(path) + ".hdr")):
        if candidate.exists():
            return candidate
    raise HyperspectralError(f"{path}: no ENVI header (.hdr) beside it")


def _data_path(header: Path) -> Path:
    for suffix in (".img", ".dat", ".raw", ".bsq", ".bil", ".bip", ".sli", ""):
        candidate = header.with_suffix(suffix)
        if candidate != header and candidate.exists():
            return candidate
    raise HyperspectralError(f"{header}: no data file beside it (.img, .dat, .raw, .sli)")


def wavelengths_to_nm(values: F64Array, units: str | None, what: str) -> F64Array:
    """Band centres in nm from the header's values and ``wavelength units``.

    Without units, values below 100 are taken as micrometres (the documented fallback:
    no sensor of ours has bands below 100 nm), else nanometres.
    """
    unit = (units or "").strip().lower()
    if unit in {"micrometers", "micrometer", "microns", "micron", "um", "µm"}:
        return values * 1000.0
    if unit in {"nanometers", "nanometer", "nm"}:
        return values
    if unit in {"wavenumber", "ghz", "mhz", "index", "unknown"} and unit != "unknown":
        raise HyperspectralError(f"{what}: wavelength units {units!r} are not supported")
    return values * 1000.0 if np.nanmax(values) < 100 else values


def parse_map_info(map_info: list[str] | None, what: str) -> GeoReference | None:
    """ENVI ``map info`` (UTM, with optional rotation) → :class:`GeoReference`.

    ``{UTM, ref_x, ref_y, easting, northing, dx, dy, zone, North|South, WGS-84, ...,
    rotation=deg}``; ref pixel is 1-based (1,1 = the upper-left corner of the first
    pixel). Rotation is counter-clockwise, as GDAL's ENVI driver reads it.
    """
    if not map_info:
        return None
    from smartmine.geodesy import utm_epsg

    items = [str(v).strip() for v in map_info]
    if items[0].upper() != "UTM":
        return None  # other projections: image coordinates, said in the report
    try:
        ref_x, ref_y, east, north, dx, dy = (float(v) for v in items[1:7])
        zone = int(float(items[7]))
        hemisphere = items[8].lower()
    except (ValueError, IndexError):
        raise HyperspectralError(f"{what}: malformed 'map info' {map_info}") from None
    if "wgs" not in " ".join(items[9:10]).lower() and len(items) > 9:
        datum = items[9]
        if "wgs" not in datum.lower():
            raise HyperspectralError(f"{what}: map info datum {datum!r} is not WGS-84")
    rotation = 0.0
    for item in items:
        match = re.match(r"rotation\s*=\s*([-+0-9.eE]+)", item)
        if match:
            rotation = float(match.group(1))
    theta = math.radians(rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    a, b = dx * cos, dy * sin
    d, e = dx * sin, -dy * cos
    # the reference pixel (1-based corner convention) maps to (east, north)
    px, py = ref_x - 1.0, ref_y - 1.0
    x0 = east - (a * px + b * py)
    y0 = north - (d * px + e * py)
    return GeoReference((x0, a, b, y0, d, e), utm_epsg(zone, not hemisphere.startswith("s")))


def _float_list(meta: dict[str, Any], key: str, count: int, what: str) -> F64Array | None:
    raw = meta.get(key)
    if raw is None:
        return None
    try:
        values = np.array([float(v) for v in raw], dtype=np.float64)
    except (TypeError, ValueError):
        raise HyperspectralError(f"{what}: header field {key!r} is not a list of numbers") from None
    if len(values) != count:
        raise HyperspectralError(
            f"{what}: header field {key!r} has {len(values)} values for {count} bands"
        )
    return values


def open_envi(path: Path) -> Cube:
    """Open an ENVI cube as a memory map, checking the header against the file."""
    import spectral
    from spectral.io import envi

    header = _header_path(path)
    data_file = _data_path(header) if path.suffix.lower() == ".hdr" else path
    what = str(header)
    try:
        meta = envi.read_envi_header(str(header))
    except FileNotFoundError:
        raise HyperspectralError(f"{header}: no such file") from None
    except Exception as err:  # spectral raises its own classes for malformed headers
        raise HyperspectralError(f"{header}: not a valid ENVI header ({err})") from None
    try:
        lines, samples, bands = (int(meta[k]) for k in ("lines", "samples", "bands"))
        dtype = np.dtype(envi.envi_to_dtype[str(meta["data type"])])
    except KeyError as err:
        raise HyperspectralError(f"{header}: header lacks or has a bad {err} field") from None
    big = str(meta.get("byte order", "0")).strip() == "1"
    dtype = dtype.newbyteorder(">" if big else "<")
    offset = int(meta.get("header offset", 0))
    expected = offset + lines * samples * bands * dtype.itemsize
    actual = data_file.stat().st_size
    if actual < expected:
        raise HyperspectralError(
            f"{data_file}: {actual} bytes, but the header ({lines} lines x {samples} samples x "
            f"{bands} bands of {dtype.name}, offset {offset}) needs {expected}"
        )
    try:
        image = spectral.open_image(str(header))
        memmap = image.open_memmap(interleave="bip")
    except Exception as err:
        raise HyperspectralError(f"{header}: cannot map {data_file.name} ({err})") from None
    wl = _float_list(meta, "wavelength", bands, what)
    if wl is not None:
        wl = wavelengths_to_nm(wl, meta.get("wavelength units"), what)
    fwhm = _float_list(meta, "fwhm", bands, what)
    if fwhm is not None and wl is not None:
        fwhm = (
            wavelengths_to_nm(fwhm, meta.get("wavelength units"), what)
            if np.nanmax(wl) > 100 and np.nanmax(fwhm) < 1
            else fwhm
        )
    bbl = _float_list(meta, "bbl", bands, what)
    ignore = meta.get("data ignore value")
    return Cube(
        data=memmap,
        wavelengths_nm=wl,
        fwhm_nm=fwhm,
        good_bands=None if bbl is None else bbl > 0,
        georef=parse_map_info(meta.get("map info"), what),
        source=str(header),
        ignore_value=None if ignore is None else float(ignore),
        metadata=dict(meta),
    )


# --- MATLAB -----------------------------------------------------------------------------


def open_mat(path: Path, variable: str | None = None, shape: tuple[int, int] | None = None) -> Cube:
    """A cube from a MATLAB v5 file: a 3-D array, or a (bands, pixels) matrix with
    ``lines``/``cols`` (or ``nRow``/``nCol``) beside it, pixels in MATLAB column order."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except FileNotFoundError:
        raise HyperspectralError(f"{path}: no such file") from None
    except Exception as err:
        raise HyperspectralError(f"{path}: not a MATLAB v5 file ({err})") from None
    arrays = {k: v for k, v in mat.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
    if variable is None:
        three_d = [k for k, v in arrays.items() if v.ndim == 3]
        variable = three_d[0] if three_d else ("Y" if "Y" in arrays else None)
    if variable is None or variable not in arrays:
        raise HyperspectralError(f"{path}: no cube variable (have {', '.join(arrays)})")
    values = arrays[variable]
    if values.ndim == 2:
        rows = shape[0] if shape else _scalar(arrays, ("nRow", "lines", "rows"))
        cols = shape[1] if shape else _scalar(arrays, ("nCol", "cols", "samples"))
        if rows is None or cols is None:
            side = math.isqrt(values.shape[1])
            if side * side != values.shape[1]:
                raise HyperspectralError(f"{path}: {variable} is 2-D and the image size is unknown")
            rows = cols = side
        if rows * cols != values.shape[1]:
            raise HyperspectralError(
                f"{path}: {variable} has {values.shape[1]} pixels, not {rows} x {cols}"
            )
        values = values.T.reshape(cols, rows, -1).transpose(1, 0, 2)
    data = values.astype(np.float32)
    scale = _scalar(arrays, ("maxValue",))
    if scale:
        data = data / np.float32(scale)
    return Cube(data=data, wavelengths_nm=None, source=f"{path}:{variable}")


def _scalar(arrays: dict[str, npt.NDArray[Any]], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in arrays and arrays[name].size == 1:
            return int(arrays[name].ravel()[0])
    return None


# --- bags -------------------------------------------------------------------------------

HSI_TOPIC = "/hyperspectral/image_raw"
WAVELENGTH_TOPIC = "/hyperspectral/wavelengths"


def open_bag(path: Path, index: int = 0, topic: str = HSI_TOPIC) -> Cube:
    """A cube from a bag: snapshot frames give frame number ``index``; push-broom lines
    (images one pixel high) are stacked in stamp order into one cube, their header stamps
    kept in ``metadata["line_stamps_ns"]`` for pose matching. Band centres come from the
    latched ``/hyperspectral/wavelengths``."""
    from smartmine.bagio.reader import BagReader
    from smartmine.msgs import header_stamp_ns
    from smartmine.msgs.image import image_to_numpy

    wavelengths: F64Array | None = None
    lines: list[F32Array] = []
    stamps: list[int] = []
    with BagReader(path) as reader:
        reader.require_topics([topic])
        if WAVELENGTH_TOPIC in reader.topics:
            for message in reader.messages(topics=[WAVELENGTH_TOPIC]):
                wavelengths = np.asarray(message.message.data, dtype=np.float64)
                break
        for i, message in enumerate(reader.messages(topics=[topic])):
            image = np.asarray(image_to_numpy(message.message), dtype=np.float32)
            if image.ndim == 2:
                image = image[..., None]
            if image.shape[0] == 1:  # push-broom line
                if lines and image.shape[1:] != lines[0].shape:
                    raise HyperspectralError(
                        f"{path}: {topic} line {i} is {image.shape[1:]}, the first {lines[0].shape}"
                    )
                lines.append(image[0])
                stamps.append(header_stamp_ns(message.message))
            elif i == index:
                return Cube(data=image, wavelengths_nm=wavelengths, source=f"{path}:{topic}#{i}")
    if lines:
        order = np.argsort(stamps, kind="stable")
        cube = np.stack([lines[k] for k in order])
        return Cube(
            data=cube,
            wavelengths_nm=wavelengths,
            source=f"{path}:{topic} ({len(lines)} lines)",
            metadata={"line_stamps_ns": [stamps[k] for k in order]},
        )
    raise HyperspectralError(f"{path}: topic {topic} has no cube number {index}")


def open_cube(path: Path | str, **kwargs: Any) -> Cube:
    """Open a cube, the format guessed from the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists() and not (suffix == "" and path.with_suffix(".hdr").exists()):
        raise HyperspectralError(f"{path}: no such file")
    if suffix == ".mat":
        return open_mat(path, **kwargs)
    if suffix == ".mcap" or (path.is_dir() and (path / "metadata.yaml").exists()):
        return open_bag(path, **kwargs)
    if suffix in ENVI_SUFFIXES or path.with_suffix(".hdr").exists():
        return open_envi(path)
    raise HyperspectralError(f"{path}: unknown cube format (want ENVI .hdr/.img, .mat or a bag)")
