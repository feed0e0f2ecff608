"""Products of a classification: ENVI classification file, GeoTIFF/COG rasters, PNG
previews with a legend, spectra and confusion-matrix plots, and the classification
report (``report.json`` + ``report.html``) every classifier writes.

Rasters are georeferenced (Cloud-Optimized GeoTIFF with the EPSG code) when the cube is,
else written in image coordinates (no CRS; ``report.json`` says so). Every file is
written under a temporary name and renamed (smartmine.atomic).
"""

from __future__ import annotations

import colorsys
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.contamination import MINERAL_WEIGHTS
from hyperspectral.cube import Cube, GeoReference
from hyperspectral.errors import HyperspectralError
from smartmine.atomic import atomic_path, atomic_set, partial_dir
from smartmine.paths import check_output_path

U8Array = npt.NDArray[np.uint8]
F32Array = npt.NDArray[np.float32]
PREVIEW_MAX_SIDE = 1024
"""PNG previews of bigger maps are decimated to this many pixels on the longer side."""


PRODUCT_NAMES = frozenset(
    {
        "class_map.hdr",
        "class_map.img",
        "class_map.tif",
        "class_map.png",
        "class_scores.tif",
        "class_probability.tif",
        "heat_map.tif",
        "heat_map.png",
        "margin.tif",
        "ambiguous.tif",
        "similarity.tif",
        "views.tif",
        "confusion.png",
        "report.json",
        "report.html",
        "config.json",
    }
)
"""Every file ``hsi classify`` and ``hsi ortho`` write into ``--out``."""


def check_output_folder(
    out: Path, overwrite: bool, products: frozenset[str] = PRODUCT_NAMES
) -> None:
    """Refuse an ``--out`` that holds products already (unless ``overwrite``) or that
    cannot be a folder: checked before any work, so nothing old is reported as new.
    ``products``: the file names the command writes (``hsi unmix`` has its own)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HyperspectralError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise HyperspectralError(
                f"--out {out}: holds products of an earlier run already; give --overwrite to "
                "replace them, or another --out"
            )
        foreign = sorted(
            p.name
            for p in out.iterdir()
            if p.name not in products and ".partial-" not in p.name and ".tiles-" not in p.name
        )
        if foreign:  # --overwrite replaces the folder as a whole: never the user's files
            raise HyperspectralError(
                f"--out {out}: holds files that are not hsi products ({', '.join(foreign[:3])}); "
                "--overwrite replaces the whole folder, so give an empty or new --out"
            )
    check_output_path(out, "--out")


@contextlib.contextmanager
def products_folder(
    out: Path, overwrite: bool, products: frozenset[str] = PRODUCT_NAMES
) -> Iterator[Path]:
    """A temporary folder beside ``out`` that replaces it as a whole on success; on
    failure nothing changes (no partial products, no new parent folders, the old
    products stay)."""
    out = Path(out)
    check_output_folder(out, overwrite, products)
    created = [p for p in [out.absolute(), *out.absolute().parents] if not p.exists()][1:]
    try:
        with atomic_path(out, overwrite=True) as tmp:
            tmp.mkdir()
            yield tmp
    except BaseException:
        for folder in created:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def class_colours(count: int) -> U8Array:
    """(count + 1, 3) RGB: black for 0 (unclassified), then distinct hues."""
    colours = np.zeros((count + 1, 3), np.uint8)
    for i in range(count):
        hue = (i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 0.95 if i % 2 == 0 else 0.7)
        colours[i + 1] = (round(r * 255), round(g * 255), round(b * 255))
    return colours


def write_envi_classification(
    path: Path,
    labels: npt.NDArray[np.uint16],
    class_names: list[str],
    georef: GeoReference | None,
    description: str,
) -> Path:
    """An ENVI Classification file (``.hdr`` + ``.img``) with ``class names`` and
    ``class lookup`` as ENVI and pycoal write it; ``path`` is the ``.hdr``."""
    from spectral.io import envi

    names = ["Unclassified", *class_names]
    colours = class_colours(len(class_names))
    metadata: dict[str, Any] = {"description": description, "data ignore value": 0}
    if georef is not None:
        metadata["map info"] = envi_map_info(georef)
    with atomic_set([path.with_suffix(".img"), path]) as (_, tmp):  # the header last
        envi.save_classification(
            str(tmp),
            labels,
            class_names=names,
            class_colors=colours.tolist(),
            metadata=metadata,
            force=True,
        )
    return path


def envi_map_info(georef: GeoReference) -> list[str]:
    """ENVI ``map info`` for a north-up or rotated UTM georeference."""
    import math

    x0, a, b, y0, d, e = georef.transform
    dx = math.hypot(a, d)
    dy = math.hypot(b, e)
    rotation = math.degrees(math.atan2(d, a))
    zone = georef.epsg % 100
    hemisphere = "North" if georef.epsg // 100 == 326 else "South"
    info = [
        "UTM",
        "1.000",
        "1.000",
        f"{x0:.3f}",
        f"{y0:.3f}",
        f"{dx:.10e}",
        f"{dy:.10e}",
        str(zone),
        hemisphere,
        "WGS-84",
        "units=Meters",
    ]
    if abs(rotation) > 1e-9:
        info.append(f"rotation={rotation:.8f}")
    return info


GDAL_CACHE_MB = 32
"""GDAL's block cache while products are written and turned into COGs (its default is
5 % of the machine's memory, which a big raster fills: it was most of ``hsi classify``'s
peak). Whole blocks are written and read through it, so a small cache costs no speed."""


def _gdal_env() -> Any:
    import rasterio

    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)


class TiledGeoTiff:
    """A GeoTIFF written block by block (bounded memory), turned into a Cloud-Optimized
    GeoTIFF at ``path`` on success; nothing is left at ``path`` on failure.

    Lines are written into an uncompressed, band-interleaved tiled temporary (partial
    blocks rewritten in place), its overviews are built inside that file, and GDAL copies
    it with them into the COG layout (``COPY_SRC_OVERVIEWS``, what ``rio_cogeo`` does). Band
    interleaving keeps every step to a few blocks of one band: the COG driver and
    ``cog_translate`` held whole rows of blocks of every band (+100 MB for 18 classes on
    1000 x 1000 px, growing with the library). GDAL's cache is bounded by
    :data:`GDAL_CACHE_MB` throughout."""

    def __init__(
        self,
        path: Path,
        height: int,
        width: int,
        count: int,
        dtype: str,
        georef: GeoReference | None,
        nodata: float | None = None,
        band_names: list[str] | None = None,
        colormap: U8Array | None = None,
    ) -> None:
        self.path = Path(path)
        self.profile: dict[str, Any] = {
            "driver": "GTiff",
            "height": height,
            "width": width,
            "count": count,
            "dtype": dtype,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "interleave": "band",
            "BIGTIFF": "IF_SAFER",
        }
        if nodata is not None:
            self.profile["nodata"] = nodata
        if georef is not None:
            self.profile["crs"] = f"EPSG:{georef.epsg}"
            self.profile["transform"] = georef.rasterio_transform()
        self.band_names = band_names
        self.colormap = colormap
        self._dst: Any = None

    def __enter__(self) -> TiledGeoTiff:
        import warnings

        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        # image coordinates are written on purpose (and said in the report)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="rio_cogeo")

        self._env = _gdal_env()
        self._env.__enter__()
        self._tmpdir = partial_dir(self.path)  # a killed run's is removed by the next
        self._dst = rasterio.open(self._tmpdir / "raw.tif", "w", **self.profile)
        if self.band_names:
            for i, name in enumerate(self.band_names):
                self._dst.set_band_description(i + 1, name)
        if self.colormap is not None:
            self._dst.write_colormap(
                1, {i: (*map(int, c), 255) for i, c in enumerate(self.colormap)}
            )
        return self

    def write(self, start_line: int, block: npt.NDArray[Any]) -> None:
        """Lines ``start_line..`` of all bands: (h, w) or (h, w, count)."""
        from rasterio.windows import Window

        data = block[..., None] if block.ndim == 2 else block
        window = Window(0, start_line, data.shape[1], data.shape[0])
        bands = np.ascontiguousarray(np.moveaxis(data, -1, 0), dtype=self.profile["dtype"])
        self._dst.write(bands, window=window)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import shutil

        try:
            self._dst.close()
            if exc_type is None:
                with atomic_path(self.path, overwrite=True) as tmp:
                    cog_from_file(self._tmpdir / "raw.tif", tmp)
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._env.__exit__(None, None, None)
            self._warnings.__exit__(None, None, None)


COG_BLOCK = 512


def cog_from_file(raw: Path, out: Path) -> None:
    """A Cloud-Optimized GeoTIFF ``out`` of the (tiled, band-interleaved) GeoTIFF ``raw``:
    nearest-neighbour overviews built into ``raw`` (halving until the smaller side fits
    one block, as ``rio_cogeo``), then copied with them into the COG layout (deflate,
    512 px blocks). Both steps read the file block by block."""
    import rasterio
    import rasterio.shutil
    from rasterio.enums import Resampling

    with rasterio.open(raw, "r+") as src:
        factors, factor = [], 2
        while min(src.width, src.height) // (factor // 2) > COG_BLOCK:
            factors.append(factor)
            factor *= 2
        if factors:
            src.build_overviews(factors, Resampling.nearest)
    rasterio.shutil.copy(
        raw,
        out,
        driver="GTiff",
        COPY_SRC_OVERVIEWS="YES",
        TILED="YES",
        BLOCKXSIZE=COG_BLOCK,
        BLOCKYSIZE=COG_BLOCK,
        COMPRESS="DEFLATE",
        INTERLEAVE="BAND",
        BIGTIFF="IF_SAFER",
    )


def write_geotiff(
    path: Path,
    bands: npt.NDArray[Any],
    georef: GeoReference | None,
    nodata: float | None = None,
    band_names: list[str] | None = None,
    colormap: U8Array | None = None,
) -> Path:
    """A Cloud-Optimized GeoTIFF of (H, W) or (H, W, n) ``bands``; CRS when georeferenced."""
    data = bands[..., None] if bands.ndim == 2 else bands
    h, w, n = data.shape
    cmap = colormap if (n == 1 and data.dtype == np.uint8) else None
    with TiledGeoTiff(path, h, w, n, data.dtype.name, georef, nodata, band_names, cmap) as tif:
        tif.write(0, data)
    return path


class EnviClassificationWriter:
    """The ENVI Classification file of :func:`write_envi_classification`, written line
    block by line block (the labels never whole in memory): data appended to a
    temporary ``.img``, the header written last, both renamed on success
    (``smartmine.atomic.atomic_set``); nothing at ``path`` on failure."""

    def __init__(
        self,
        path: Path,
        lines: int,
        samples: int,
        class_names: list[str],
        georef: GeoReference | None,
        description: str,
        dtype: type[np.unsignedinteger[Any]] = np.uint16,
    ) -> None:
        self.path = Path(path)
        self.shape = (lines, samples)
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.metadata = envi_classification_metadata(
            lines, samples, self.dtype, class_names, georef, description
        )
        self._written = 0

    def __enter__(self) -> EnviClassificationWriter:
        self._set = atomic_set([self.path.with_suffix(".img"), self.path])
        self._img_tmp, self._hdr_tmp = self._set.__enter__()
        self._file = Path(self._img_tmp).open("wb")
        return self

    def write(self, start_line: int, labels: npt.NDArray[Any]) -> None:
        """Lines ``start_line..`` (in order, no gaps: the file is appended to)."""
        if start_line != self._written or labels.shape[1] != self.shape[1]:
            raise ValueError(f"{self.path}: lines {start_line}.. written out of order")
        self._file.write(np.ascontiguousarray(labels, dtype=self.dtype).tobytes())
        self._written += labels.shape[0]

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from spectral.io import envi

        self._file.close()
        if exc_type is None:
            if self._written != self.shape[0]:
                raise ValueError(f"{self.path}: {self._written} of {self.shape[0]} lines")
            envi.write_envi_header(str(self._hdr_tmp), self.metadata)
        self._set.__exit__(exc_type, exc, tb)


def envi_classification_metadata(
    lines: int,
    samples: int,
    dtype: np.dtype[Any],
    class_names: list[str],
    georef: GeoReference | None,
    description: str,
) -> dict[str, Any]:
    """The header ``spectral.envi.save_classification`` writes for our class maps."""
    from spectral.io.envi import dtype_to_envi

    names = ["Unclassified", *class_names]
    metadata: dict[str, Any] = {
        "description": description,
        "samples": samples,
        "lines": lines,
        "bands": 1,
        "header offset": 0,
        "file type": "ENVI Classification",
        "data type": dtype_to_envi[dtype.char],
        "interleave": "bip",
        "byte order": 0,
        "data ignore value": 0,
    }
    if georef is not None:
        metadata["map info"] = envi_map_info(georef)
    metadata["class names"] = names
    metadata["classes"] = str(len(names))
    metadata["class lookup"] = [int(v) for v in class_colours(len(class_names)).ravel()]
    return metadata


def read_preview(path: Path, max_side: int = PREVIEW_MAX_SIDE) -> npt.NDArray[Any]:
    """Band 1 of a GeoTIFF, decimated (nearest) so its longer side is at most
    ``max_side``: GDAL reads it from the COG's overviews, never the whole raster.
    Rasters already that small come back whole (the previews of small maps are exact)."""
    import warnings

    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # said in the report
        with _gdal_env(), rasterio.open(path) as src:
            factor = max(1, -(-max(src.height, src.width) // max_side))
            shape = (-(-src.height // factor), -(-src.width // factor))
            return np.asarray(src.read(1, out_shape=shape, resampling=Resampling.nearest))


def _put_text(image: U8Array, text: str, org: tuple[int, int], scale: float = 0.45) -> None:
    import cv2

    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def _scaled(image: U8Array, min_size: int = 400) -> U8Array:
    import cv2

    h, w = image.shape[:2]
    factor = max(1, int(np.ceil(min_size / max(h, w))))
    if factor == 1:
        return image
    return np.asarray(
        cv2.resize(image, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST), np.uint8
    )


def class_map_png(
    path: Path, labels: npt.NDArray[np.uint16], class_names: list[str], title: str
) -> Path:
    """PNG preview of a class map with a legend of the classes present."""
    import cv2

    colours = class_colours(len(class_names))
    rgb = _scaled(colours[labels])
    present = [int(c) for c in np.unique(labels)]
    row_h = 20
    legend_w = 260
    height = max(rgb.shape[0], 30 + row_h * len(present))
    canvas = np.full((height + 30, rgb.shape[1] + legend_w, 3), 255, np.uint8)
    canvas[30 : 30 + rgb.shape[0], : rgb.shape[1]] = rgb
    _put_text(canvas, title, (5, 20), 0.5)
    names = ["unclassified", *class_names]
    for k, c in enumerate(present):
        y = 40 + k * row_h
        x = rgb.shape[1] + 10
        canvas[y : y + 14, x : x + 14] = colours[c]
        cv2.rectangle(canvas, (x, y), (x + 14, y + 14), (0, 0, 0), 1)
        _put_text(canvas, names[c][:32], (x + 20, y + 12))
    return _write_png(path, canvas)


def heat_map_png(path: Path, heat: npt.NDArray[np.float32], title: str) -> Path:
    """PNG preview of a 0–1 map (inferno-like colour ramp) with a colour bar."""
    import cv2

    scaled = np.nan_to_num(np.clip(heat, 0, 1)) * 255
    grey = scaled.astype(np.uint8)
    coloured = cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO)[..., ::-1]
    coloured[~np.isfinite(heat)] = 128
    rgb = _scaled(np.asarray(coloured, np.uint8))
    bar_h = max(rgb.shape[0] - 20, 60)  # thin maps (a few lines): the bar still fits
    canvas = np.full((max(rgb.shape[0], bar_h + 20) + 30, rgb.shape[1] + 90, 3), 255, np.uint8)
    canvas[30 : 30 + rgb.shape[0], : rgb.shape[1]] = rgb
    _put_text(canvas, title, (5, 20), 0.5)
    ramp = np.linspace(255, 0, bar_h).astype(np.uint8)[:, None].repeat(20, axis=1)
    bar = cv2.applyColorMap(ramp, cv2.COLORMAP_INFERNO)[..., ::-1]
    x = rgb.shape[1] + 10
    canvas[40 : 40 + bar_h, x : x + 20] = bar
    _put_text(canvas, "1", (x + 25, 50))
    _put_text(canvas, "0", (x + 25, 40 + bar_h))
    return _write_png(path, canvas)


def confusion_png(
    path: Path,
    matrix: npt.NDArray[np.int64],
    names: list[str],
    predicted_names: list[str] | None = None,
) -> Path:
    """PNG of a confusion matrix (rows: truth, columns: prediction), shaded by row share;
    ``predicted_names`` when the columns are other classes than the rows."""
    cols = predicted_names if predicted_names is not None else names
    cell, margin = 36, 170
    canvas = np.full(
        (margin + len(names) * cell + 10, margin + len(cols) * cell + 10, 3), 255, np.uint8
    )
    frac = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1)
    for i in range(len(names)):
        _put_text(canvas, names[i][:20], (5, margin + i * cell + 22), 0.4)
        for j in range(len(cols)):
            v = int(255 - 200 * frac[i, j])
            y, x = margin + i * cell, margin + j * cell
            canvas[y : y + cell - 1, x : x + cell - 1] = (v, v, 255)
            _put_text(canvas, str(int(matrix[i, j])), (x + 3, y + 22), 0.35)
    for j in range(len(cols)):
        _put_text(canvas, str(j), (margin + j * cell + 12, margin - 8), 0.4)
    legend = ", ".join(f"{j} {c[:14]}" for j, c in enumerate(cols))
    _put_text(canvas, "rows: truth; columns: predicted", (5, 20), 0.45)
    _put_text(canvas, legend[:140], (5, 40), 0.35)
    return _write_png(path, canvas)


def spectra_png(
    path: Path,
    wavelengths_nm: npt.NDArray[np.float64],
    spectra: npt.NDArray[np.float64],
    names: list[str],
    title: str,
) -> Path:
    """Line plot of spectra (reflectance vs wavelength), NaN gaps left open."""
    import cv2

    w, h, left, top = 800, 420, 60, 40
    canvas = np.full((h + top + 60 + 18 * len(names), w + left + 20, 3), 255, np.uint8)
    lo, hi = float(np.nanmin(wavelengths_nm)), float(np.nanmax(wavelengths_nm))
    ymax = max(float(np.nanmax(spectra)) * 1.05, 1e-6) if np.isfinite(spectra).any() else 1.0
    cv2.rectangle(canvas, (left, top), (left + w, top + h), (0, 0, 0), 1)
    for tick in np.arange(np.ceil(lo / 250) * 250, hi + 1, 250):
        x = int(left + (tick - lo) / (hi - lo) * w)
        _put_text(canvas, f"{tick:.0f}", (x - 15, top + h + 16), 0.4)
    _put_text(canvas, "wavelength (nm)", (left + w // 2 - 50, top + h + 34), 0.45)
    _put_text(canvas, f"{ymax:.2f}", (5, top + 5), 0.4)
    _put_text(canvas, "0", (40, top + h), 0.4)
    _put_text(canvas, title, (left, 25), 0.5)
    colours = class_colours(len(names))[1:]
    for k, spectrum in enumerate(spectra):
        colour = tuple(int(c) for c in colours[k][::-1])
        xs = left + (wavelengths_nm - lo) / (hi - lo) * w
        ys = top + h - np.clip(spectrum, 0, ymax) / ymax * h
        ok = np.isfinite(spectrum)
        for seg in np.split(np.arange(len(xs)), np.flatnonzero(~ok)):
            seg = seg[ok[seg]]
            if len(seg) > 1:
                pts = np.stack([xs[seg], ys[seg]], axis=1).astype(np.int32)
                cv2.polylines(canvas, [pts], False, colour, 1, cv2.LINE_AA)
        y = top + h + 50 + 18 * k
        cv2.line(canvas, (left, y - 4), (left + 30, y - 4), colour, 2)
        _put_text(canvas, names[k][:80], (left + 40, y), 0.4)
    return _write_png(path, canvas)


def _write_png(path: Path, rgb: U8Array) -> Path:
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise OSError(f"cannot encode {path}")
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


HEAT_INDEX_DOC = (
    "contamination index = sum over classes of weight(class) x membership(class); "
    "library classifiers: membership = similarity of the winning class (SAM: 1 - angle/"
    "(pi/2); SID: exp(-SID)), 0 for others; trained model: softmax probabilities. "
    "Weights by the mineral each class name names (table 'contamination weights'; "
    "a mixture takes its heaviest mineral): "
    + ", ".join(f"{mineral} {weight:g}" for mineral, (weight, _) in MINERAL_WEIGHTS.items())
    + "; all other minerals and unrecognised names 0; --contamination FILE overrides."
)


def write_hsi_report(
    out: Path,
    title: str,
    info: dict[str, Any],
    config: dict[str, Any],
    tables: list[Any] | None = None,
) -> Path:
    """report.json + report.html (smartmine.report): summary numbers, the per-class table
    (pixels, m²), the class and heat map previews, the heat-index definition."""
    from smartmine.report import Report, Table, write_report

    classes = info.pop("classes")
    warnings = list(info.pop("warnings", []))
    columns = ["label", "name", "pixels"] + (["area_m2"] if info.get("georeferenced") else [])
    columns += ["ambiguous"] if classes and "ambiguous" in classes[0] else []
    rows = [[c[k] for k in columns] for c in classes]
    figures = {
        caption: out / name
        for caption, name in (
            ("class map", "class_map.png"),
            ("contamination heat map", "heat_map.png"),
            ("confusion matrix", "confusion.png"),
        )
        if (out / name).exists()
    }
    report = Report(
        title=title,
        summary=info,
        tables=[Table("classes", columns, rows), *(tables or [])],
        figures=figures,
        notes=[HEAT_INDEX_DOC, f"coordinates: {info['coordinates']}"],
        config=config,
        warnings=warnings,
    )
    json_path, _ = write_report(report, out)
    return json_path


class ClassTally:
    """Per-class pixel counts, ambiguous pixels and heat statistics accumulated tile by
    tile (the report's numbers without the whole maps in memory)."""

    def __init__(self, n_classes: int) -> None:
        self.counts = np.zeros(n_classes + 1, np.int64)
        self.ambiguous = np.zeros(n_classes + 1, np.int64)
        self.lines = 0
        self.samples = 0
        self.heat_sum = 0.0
        self.heat_pixels = 0
        self.heat_above_0_5 = 0

    def add(
        self,
        labels: npt.NDArray[np.uint16],
        heat: F32Array | None = None,
        ambiguous: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """One tile of whole lines: labels (0..C), its heat map and ambiguous mask."""
        size = len(self.counts)
        self.counts += np.bincount(labels.ravel(), minlength=size)[:size]
        if ambiguous is not None:
            self.ambiguous += np.bincount(labels[ambiguous], minlength=size)[:size]
        self.lines += labels.shape[0]
        self.samples = labels.shape[1]
        if heat is not None:
            finite = heat[np.isfinite(heat)]
            self.heat_sum += float(finite.sum(dtype=np.float64))
            self.heat_pixels += finite.size
            self.heat_above_0_5 += int((finite > 0.5).sum())


def class_report(
    labels: npt.NDArray[np.uint16], names: list[str], cube: Cube, heat: F32Array | None = None
) -> dict[str, Any]:
    """Pixel counts and areas per class, the CRS or 'image coordinates'."""
    tally = ClassTally(len(names))
    tally.add(labels, heat)
    return tally_report(tally, names, cube)


def tally_report(
    tally: ClassTally, names: list[str], cube: Cube, with_ambiguous: bool = False
) -> dict[str, Any]:
    """:func:`class_report` from counts accumulated tile by tile; ``with_ambiguous``:
    each class also says how many of its pixels were near-ties (``ambiguous``)."""
    georef = cube.georef
    counts = tally.counts
    area = georef.pixel_area_m2 if georef else None
    classes = []
    for i, name in enumerate(["unclassified", *names]):
        entry: dict[str, Any] = {"label": i, "name": name, "pixels": int(counts[i])}
        if area is not None:
            entry["area_m2"] = round(float(counts[i]) * area, 3)
        if with_ambiguous:
            entry["ambiguous"] = int(tally.ambiguous[i])
        classes.append(entry)
    report: dict[str, Any] = {
        "lines": int(tally.lines),
        "samples": int(tally.samples),
        "crs": f"EPSG:{georef.epsg}" if georef else None,
        "georeferenced": georef is not None,
        "coordinates": "map (CRS above)" if georef else "image coordinates (line, sample); no CRS",
        "pixel_area_m2": area,
        "classes": classes,
    }
    if georef is not None:
        report["extent_corners"] = georef.corners(tally.lines, tally.samples).round(3).tolist()
    if tally.heat_pixels:
        report["heat_mean"] = round(tally.heat_sum / tally.heat_pixels, 5)
        report["heat_above_0_5_pixels"] = tally.heat_above_0_5
    return report
