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

import dataclasses
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

    def __post_init__(self) -> None:
        if self.data.ndim != 3:
            raise HyperspectralError(f"{self.source}: a cube is (lines, samples, bands)")
        bands = int(self.data.shape[2])
        for name, values in (
            ("band centres (wavelength)", self.wavelengths_nm),
            ("fwhm", self.fwhm_nm),
            ("bbl", self.good_bands),
        ):
            if values is not None and len(values) != bands:
                raise HyperspectralError(f"{self.source}: {len(values)} {name} for {bands} bands")

    @property
    def shape(self) -> tuple[int, int, int]:
        lines, samples, bands = self.data.shape
        return int(lines), int(samples), int(bands)

    def require_wavelengths(self) -> F64Array:
        """Band centres (nm), or an error naming the cube (a classifier needs them)."""
        if self.wavelengths_nm is None:
            where = (
                f"{self.source}: no 'wavelength' field in the header; add "
                "'wavelength = {c1, c2, ...}' (one centre per band) and "
                "'wavelength units = Nanometers' to it, or "
                if self.source.endswith(".hdr")
                else f"{self.source}: no band centres (wavelengths); "
            )
            raise HyperspectralError(where + "give --wavelengths FILE (one centre per line, nm)")
        return self.wavelengths_nm

    def with_wavelengths(self, path: Path) -> Cube:
        """This cube with the band centres of ``path`` (text, one nm value per line), as
        ``--wavelengths FILE`` gives them: one per band, finite, increasing."""
        wl = read_wavelength_file(path)
        if len(wl) != self.shape[2]:
            raise HyperspectralError(
                f"{path}: {len(wl)} band centres for the {self.shape[2]} bands of {self.source}"
            )
        return dataclasses.replace(self, wavelengths_nm=wl)

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


def read_wavelength_file(path: Path) -> F64Array:
    """Band centres (nm) of a text file, one a line (``--wavelengths FILE``), checked."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HyperspectralError(f"--wavelengths {path}: cannot read it ({err})") from None
    values: list[float] = []
    for number, line in enumerate(text.splitlines(), start=1):
        item = line.split("#", 1)[0].strip().rstrip(",")
        if not item:
            continue
        try:
            values.append(float(item))
        except ValueError:
            raise HyperspectralError(
                f"--wavelengths {path}:{number}: {item[:40]!r} is not a number (nm)"
            ) from None
    return check_wavelengths(np.array(values, dtype=np.float64), f"--wavelengths {path}")


def tile_lines_for(samples: int, bands: int, tile_mb: float) -> int:
    """Lines per tile so one float32 tile takes about ``tile_mb`` MB."""
    per_line = max(1, samples * bands * 4)
    return max(1, int(tile_mb * 1e6 // per_line))


# --- ENVI ------------------------------------------------------------------------------

ENVI_DTYPES: dict[int, str] = {
    1: "u1",
    2: "i2",
    3: "i4",
    4: "f4",
    5: "f8",
    12: "u2",
    13: "u4",
    14: "i8",
    15: "u8",
}
"""ENVI ``data type`` codes of real-valued data (6 and 9, complex, are not spectra)."""
ENVI_INTERLEAVES = ("bsq", "bil", "bip")
MAX_ENVI_DIMENSION = 10_000_000
"""Lines, samples or bands above this are a corrupt header, not a sensor."""
MAX_HEADER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EnviHeader:
    """An ENVI header, parsed and checked: every number finite and in range.

    ``fields`` keeps every key (lower case) as ENVI gives it: a string, or a list of
    strings for ``{...}`` values; the typed attributes are the ones a cube needs."""

    lines: int
    samples: int
    bands: int
    dtype: np.dtype[Any]
    interleave: str
    header_offset: int
    wavelengths_nm: F64Array | None
    fwhm_nm: F64Array | None
    bbl: F64Array | None
    ignore_value: float | None
    fields: dict[str, Any]

    @property
    def data_bytes(self) -> int:
        return self.header_offset + self.lines * self.samples * self.bands * self.dtype.itemsize


def parse_envi_fields(text: str, what: str) -> dict[str, Any]:
    """``key = value`` and ``key = {a, b, ...}`` pairs of an ENVI header (keys lower case).

    The first line must be ``ENVI``; ``;`` lines are comments; a ``{`` value runs to its
    ``}``, over several lines. ``description`` keeps its text whole."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "ENVI":
        raise HyperspectralError(f"{what}: not an ENVI header (its first line must be 'ENVI')")
    fields: dict[str, Any] = {}
    i = 1
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith(";"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise HyperspectralError(f"{what}:{i}: not a 'key = value' line: {line.strip()[:60]!r}")
        key = " ".join(key.split()).lower()
        if not key:
            raise HyperspectralError(f"{what}:{i}: a value without a key")
        value = value.strip()
        if value.startswith("{"):
            start = i
            while "}" not in value:
                if i >= len(lines):
                    raise HyperspectralError(f"{what}:{start}: field {key!r} has no closing '}}'")
                value += "\n" + lines[i].strip()
                i += 1
            inner = value[1 : value.index("}")]
            if key == "description":
                fields[key] = inner.strip()
            else:
                fields[key] = [v.strip() for v in inner.split(",")] if inner.strip() else []
        else:
            fields[key] = value
    return fields


def _header_int(fields: dict[str, Any], key: str, what: str, low: int, high: int) -> int:
    raw = fields.get(key)
    if raw is None:
        raise HyperspectralError(f"{what}: header lacks the {key!r} field")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise HyperspectralError(
            f"{what}: header field {key!r} = {raw!r} is not an integer"
        ) from None
    if not low <= value <= high:
        raise HyperspectralError(f"{what}: header field {key!r} = {value} is outside {low}..{high}")
    return value


def _float_list(fields: dict[str, Any], key: str, count: int, what: str) -> F64Array | None:
    raw = fields.get(key)
    if raw is None:
        return None
    if not isinstance(raw, list):
        raw = [raw]
    try:
        values = np.array([float(v) for v in raw], dtype=np.float64)
    except (TypeError, ValueError):
        raise HyperspectralError(f"{what}: header field {key!r} is not a list of numbers") from None
    if len(values) != count:
        raise HyperspectralError(
            f"{what}: header field {key!r} has {len(values)} values for {count} bands"
        )
    if not np.isfinite(values).all():
        raise HyperspectralError(f"{what}: header field {key!r} holds NaN or infinite values")
    return values


def check_wavelengths(values: F64Array, what: str) -> F64Array:
    """Band centres (nm) that a resampler can use: finite and positive. Not necessarily
    increasing: AVIRIS's spectrometers overlap (687 nm, then 664 nm)."""
    wl = np.asarray(values, dtype=np.float64)
    if wl.ndim != 1 or len(wl) == 0:
        raise HyperspectralError(f"{what}: no band centres")
    if not np.isfinite(wl).all() or (wl <= 0).any():
        raise HyperspectralError(f"{what}: band centres must be finite and > 0 nm")
    return wl


def parse_envi_header(text: str, what: str) -> EnviHeader:
    """A checked :class:`EnviHeader` from header text, or a HyperspectralError naming
    ``what`` and the field: sizes 1..10^7, a real ``data type``, ``interleave`` bsq/bil/bip,
    ``byte order`` 0/1, ``header offset`` >= 0, per-band lists of the right length."""
    fields = parse_envi_fields(text, what)
    if "spectral library" in str(fields.get("file type", "")).lower():
        raise HyperspectralError(
            f"{what}: an ENVI spectral library, not a cube (give it as --library)"
        )
    lines = _header_int(fields, "lines", what, 1, MAX_ENVI_DIMENSION)
    samples = _header_int(fields, "samples", what, 1, MAX_ENVI_DIMENSION)
    bands = _header_int(fields, "bands", what, 1, MAX_ENVI_DIMENSION)
    code = _header_int(fields, "data type", what, 1, 15)
    if code not in ENVI_DTYPES:
        raise HyperspectralError(
            f"{what}: header field 'data type' = {code} is not a real-valued type "
            f"(ENVI codes {sorted(ENVI_DTYPES)})"
        )
    order = _header_int(fields, "byte order", what, 0, 1) if "byte order" in fields else 0
    dtype = np.dtype(ENVI_DTYPES[code]).newbyteorder(">" if order == 1 else "<")
    interleave = str(fields.get("interleave", "bsq")).strip().lower()
    if interleave not in ENVI_INTERLEAVES:
        raise HyperspectralError(
            f"{what}: header field 'interleave' = {fields.get('interleave')!r} is not "
            "bsq, bil or bip"
        )
    offset = (
        _header_int(fields, "header offset", what, 0, 2**40) if "header offset" in fields else 0
    )
    wl = _float_list(fields, "wavelength", bands, what)
    units = fields.get("wavelength units")
    if wl is not None:
        wl = check_wavelengths(wavelengths_to_nm(wl, units, what), f"{what}: 'wavelength'")
    fwhm = _float_list(fields, "fwhm", bands, what)
    if fwhm is not None and wl is not None and np.max(wl) > 100 and np.max(fwhm) < 1:
        fwhm = wavelengths_to_nm(fwhm, units, what)
    if fwhm is not None and (fwhm <= 0).any():
        raise HyperspectralError(f"{what}: header field 'fwhm' must be > 0")
    bbl = _float_list(fields, "bbl", bands, what)
    ignore: float | None = None
    if "data ignore value" in fields:
        try:
            ignore = float(str(fields["data ignore value"]))
        except ValueError:
            raise HyperspectralError(
                f"{what}: header field 'data ignore value' = {fields['data ignore value']!r} "
                "is not a number"
            ) from None
    return EnviHeader(
        lines, samples, bands, dtype, interleave, offset, wl, fwhm, bbl, ignore, fields
    )


def read_envi_header(header: Path) -> EnviHeader:
    """:func:`parse_envi_header` of a file (UTF-8, else Latin-1)."""
    try:
        with header.open("rb") as f:  # read(n) allocates n bytes first: n = the file's size
            raw = f.read(min(MAX_HEADER_BYTES, header.stat().st_size) + 1)
    except FileNotFoundError:
        raise HyperspectralError(f"{header}: no such file") from None
    except IsADirectoryError:
        raise HyperspectralError(f"{header}: a folder, not an ENVI header") from None
    if len(raw) > MAX_HEADER_BYTES or b"\0" in raw:
        raise HyperspectralError(f"{header}: not an ENVI header (binary or over 16 MB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_envi_header(text, str(header))


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
        if candidate != header and candidate.is_file():
            return candidate
    raise HyperspectralError(f"{header}: no data file beside it (.img, .dat, .raw, .sli)")


def wavelengths_to_nm(values: F64Array, units: str | None, what: str) -> F64Array:
    """Band centres in nm from the header's values and ``wavelength units``.

    Without units, values below 100 are taken as micrometres (the documented fallback:
    no sensor of ours has bands below 100 nm), else nanometres.
    """
    unit = str(units or "").strip().lower()
    if unit in {"micrometers", "micrometer", "microns", "micron", "um", "µm"}:
        return values * 1000.0
    if unit in {"nanometers", "nanometer", "nm"}:
        return values
    if unit in {"wavenumber", "ghz", "mhz", "index"}:
        raise HyperspectralError(f"{what}: wavelength units {units!r} are not supported")
    finite = values[np.isfinite(values)]
    return values * 1000.0 if len(finite) and np.max(finite) < 100 else values


def parse_map_info(map_info: list[str] | None, what: str) -> GeoReference | None:
    """ENVI ``map info`` (UTM, with optional rotation) → :class:`GeoReference`.

    ``{UTM, ref_x, ref_y, easting, northing, dx, dy, zone, North|South, WGS-84, ...,
    rotation=deg}``; ref pixel is 1-based (1,1 = the upper-left corner of the first
    pixel). Rotation is counter-clockwise, as GDAL's ENVI driver reads it.
    """
    if not map_info:
        return None
    from smartmine.geodesy import utm_epsg

    if not isinstance(map_info, list):
        raise HyperspectralError(f"{what}: header field 'map info' is not a {{...}} list")
    items = [str(v).strip() for v in map_info]
    if items[0].upper() != "UTM":
        return None  # other projections: image coordinates, said in the report
    try:
        ref_x, ref_y, east, north, dx, dy = (float(v) for v in items[1:7])
        zone = int(float(items[7]))
        hemisphere = items[8].lower()
    except (ValueError, IndexError, OverflowError):
        raise HyperspectralError(f"{what}: malformed 'map info' {map_info}") from None
    if not all(math.isfinite(v) for v in (ref_x, ref_y, east, north, dx, dy)) or dx <= 0 or dy <= 0:
        raise HyperspectralError(
            f"{what}: 'map info' needs finite coordinates and pixel sizes > 0 ({map_info})"
        )
    if not 1 <= zone <= 60 or hemisphere[:1] not in ("n", "s"):
        raise HyperspectralError(
            f"{what}: 'map info' UTM zone {items[7]} {items[8]} is not 1-60 North|South"
        )
    if "wgs" not in " ".join(items[9:10]).lower() and len(items) > 9:
        datum = items[9]
        if "wgs" not in datum.lower():
            raise HyperspectralError(f"{what}: map info datum {datum!r} is not WGS-84")
    rotation = 0.0
    for item in items:
        match = re.match(r"rotation\s*=\s*([-+0-9.eE]+)", item)
        if match:
            try:
                rotation = float(match.group(1))
            except ValueError:
                raise HyperspectralError(f"{what}: 'map info' {item!r} is not a number") from None
            if not math.isfinite(rotation):
                raise HyperspectralError(f"{what}: 'map info' {item!r} is not finite")
    theta = math.radians(rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    a, b = dx * cos, dy * sin
    d, e = dx * sin, -dy * cos
    # the reference pixel (1-based corner convention) maps to (east, north)
    px, py = ref_x - 1.0, ref_y - 1.0
    x0 = east - (a * px + b * py)
    y0 = north - (d * px + e * py)
    return GeoReference((x0, a, b, y0, d, e), utm_epsg(zone, not hemisphere.startswith("s")))


def open_envi(path: Path) -> Cube:
    """Open an ENVI cube as a memory map, checking the header against the file: its size
    must be exactly what the header's sizes, data type and offset make."""
    header = _header_path(path)
    data_file = _data_path(header) if path.suffix.lower() == ".hdr" else path
    what = str(header)
    info = read_envi_header(header)
    expected = info.data_bytes
    actual = data_file.stat().st_size
    if actual != expected:
        raise HyperspectralError(
            f"{data_file}: {actual} bytes, but the header ({info.lines} lines x {info.samples} "
            f"samples x {info.bands} bands, 'data type' {info.dtype.name}, 'header offset' "
            f"{info.header_offset}) needs {expected}"
        )
    order = {
        "bip": ((info.lines, info.samples, info.bands), (0, 1, 2)),
        "bil": ((info.lines, info.bands, info.samples), (0, 2, 1)),
        "bsq": ((info.bands, info.lines, info.samples), (1, 2, 0)),
    }
    shape, axes = order[info.interleave]
    try:
        raw = np.memmap(
            data_file, dtype=info.dtype, mode="r", offset=info.header_offset, shape=shape
        )
    except (OSError, ValueError) as err:
        raise HyperspectralError(f"{data_file}: cannot map the data ({err})") from None
    return Cube(
        data=raw.transpose(axes),
        wavelengths_nm=info.wavelengths_nm,
        fwhm_nm=info.fwhm_nm,
        good_bands=None if info.bbl is None else info.bbl > 0,
        georef=parse_map_info(info.fields.get("map info"), what),
        source=what,
        ignore_value=info.ignore_value,
        metadata=dict(info.fields),
    )


# --- MATLAB -----------------------------------------------------------------------------


MAT_CUBE_NAMES = ("Y", "data", "V", "cube", "X")
"""Variable names taken for the cube first, when their shape fits (Jasper Ridge: Y,
Samson: V)."""


def _mat_image_size(arrays: dict[str, npt.NDArray[Any]], path: Path) -> tuple[int, int] | None:
    rows = _scalar(arrays, ("nRow", "lines", "rows"), path)
    cols = _scalar(arrays, ("nCol", "cols", "samples"), path)
    return None if rows is None or cols is None else (rows, cols)


def _mat_pixels(values: npt.NDArray[Any], size: tuple[int, int] | None) -> int | None:
    """Which axis of a 2-D variable counts pixels (0 or 1), or None when neither fits the
    image size (``nRow × nCol``; without one: a square number of pixels, more than bands)."""
    for axis in (1, 0):
        n, other = values.shape[axis], values.shape[1 - axis]
        fits = n == size[0] * size[1] if size else math.isqrt(n) ** 2 == n and n > other
        if fits and n > 1:
            return axis
    return None


def _mat_candidates(arrays: dict[str, npt.NDArray[Any]], size: tuple[int, int] | None) -> list[str]:
    """Numeric variables that can be a cube: 3-D, or 2-D with a pixel axis."""
    return [
        name
        for name, v in arrays.items()
        if v.dtype.kind in "iuf"
        and 0 not in v.shape
        and (v.ndim == 3 or (v.ndim == 2 and _mat_pixels(v, size) is not None))
    ]


def _mat_variable_list(arrays: dict[str, npt.NDArray[Any]]) -> str:
    return ", ".join(f"{k} {'x'.join(map(str, v.shape))}" for k, v in arrays.items())


def guess_mat_variable(arrays: dict[str, npt.NDArray[Any]], path: Path) -> str:
    """The cube variable of a .mat file: a candidate (:func:`_mat_candidates`) named as in
    :data:`MAT_CUBE_NAMES`, else the largest candidate; an error listing the variables
    (name and shape) when there is none or two are equally large."""
    size = _mat_image_size(arrays, path)
    candidates = _mat_candidates(arrays, size)
    for name in MAT_CUBE_NAMES:
        if name in candidates:
            return name
    ranked = sorted(candidates, key=lambda k: -arrays[k].size)
    if not ranked or (len(ranked) > 1 and arrays[ranked[0]].size == arrays[ranked[1]].size):
        why = (
            "no cube variable" if not ranked else f"which is the cube, {ranked[0]} or {ranked[1]}?"
        )
        raise HyperspectralError(
            f"{path}: {why} (want lines x samples x bands, or bands x pixels with nRow/nCol; "
            f"hsi unmix takes --variable NAME); variables: {_mat_variable_list(arrays)}"
        )
    return ranked[0]


def mat_columns_to_image(values: npt.NDArray[Any], rows: int, cols: int) -> npt.NDArray[Any]:
    """(rows, cols, c) image of a (c, rows·cols) matrix whose pixels are in MATLAB column
    order (down the first column first), as unmixing data sets store them."""
    return values.T.reshape(cols, rows, -1).transpose(1, 0, 2)


def open_mat(path: Path, variable: str | None = None, shape: tuple[int, int] | None = None) -> Cube:
    """A cube from a MATLAB v5 file: a 3-D (lines, samples, bands) array, or a (bands,
    pixels) or (pixels, bands) matrix with ``nRow``/``nCol`` (or ``lines``/``cols``) beside
    it, pixels in MATLAB column order; without an image size a square image is assumed.
    ``variable`` names the cube, else :func:`guess_mat_variable` picks it. Values are
    divided by ``maxValue`` where the file has one (Jasper Ridge and Samson: digital
    numbers to reflectance)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except FileNotFoundError:
        raise HyperspectralError(f"{path}: no such file") from None
    except Exception as err:
        raise HyperspectralError(f"{path}: not a MATLAB v5 file ({err})") from None
    arrays = {k: v for k, v in mat.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
    if variable is None:
        variable = guess_mat_variable(arrays, path)
    elif variable not in arrays:
        raise HyperspectralError(
            f"{path}: --variable {variable!r} is not in the file (it has: "
            f"{_mat_variable_list(arrays)})"
        )
    values = arrays[variable]
    if values.dtype.kind not in "iufb":
        raise HyperspectralError(
            f"{path}: variable {variable!r} holds {values.dtype} values, not numbers"
        )
    if values.ndim not in (2, 3) or 0 in values.shape:
        raise HyperspectralError(
            f"{path}: variable {variable!r} is {values.shape}; want (lines, samples, bands) "
            "or (bands, pixels)"
        )
    if values.ndim == 2:
        size = shape or _mat_image_size(arrays, path)
        axis = _mat_pixels(values, size)
        if axis is None:
            raise HyperspectralError(
                f"{path}: {variable} is {values.shape[0]} x {values.shape[1]}, and neither "
                + (
                    f"is the {size[0]} x {size[1]} pixels of nRow x nCol"
                    if size
                    else "is a square number of pixels (give nRow/nCol in the file)"
                )
            )
        pixels = values.shape[axis]
        rows, cols = size or (math.isqrt(pixels), math.isqrt(pixels))
        values = mat_columns_to_image(values if axis == 1 else values.T, rows, cols)
    data = values.astype(np.float32)
    scale = _scalar(arrays, ("maxValue",), path, integer=False)
    if scale is not None and scale != 0:
        if not math.isfinite(scale) or scale < 0:
            raise HyperspectralError(f"{path}: maxValue = {scale} is not a positive number")
        data = data / np.float32(scale)
    return Cube(data=data, wavelengths_nm=None, source=f"{path}:{variable}")


def _scalar(
    arrays: dict[str, npt.NDArray[Any]], names: tuple[str, ...], path: Path, integer: bool = True
) -> Any:
    for name in names:
        if name in arrays and arrays[name].size == 1:
            value = arrays[name].ravel()[0]
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise HyperspectralError(f"{path}: {name} = {value!r} is not a number") from None
            if not integer:
                return number
            if not math.isfinite(number) or number != int(number):
                raise HyperspectralError(f"{path}: {name} = {value!r} is not an integer")
            return int(number)
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
                wavelengths = check_wavelengths(
                    np.asarray(message.message.data, dtype=np.float64),
                    f"{path}: {WAVELENGTH_TOPIC}",
                )
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
