"""Library classification of a cube into map products (hloc-style ``run``).

``run(config, cube_path, out_dir) -> Path`` reads the cube tile by tile (memory bounded
by ``tile_mb``), classifies every pixel against the library resampled to the cube's
bands (SAM or SID, thresholds, unclassified), and writes into ``out_dir``:

- ``class_map.hdr/.img``: ENVI Classification (``class names``, ``class lookup``, map info)
- ``class_map.tif``: the same labels as a Cloud-Optimized GeoTIFF (uint8/uint16, colour map)
- ``class_scores.tif``: per-class similarity 0–1 (one band per class)
- ``heat_map.tif``: contamination index 0–1 (see :func:`contamination_index`)
- ``class_map.png`` / ``heat_map.png``: previews with legend and colour bar
- ``report.json``: classes, pixel counts, areas (m² when georeferenced), CRS, timing
- ``config.json``: the effective configuration

GeoTIFFs carry the CRS when the cube's header has a UTM ``map info``; otherwise they are
in image coordinates (pixel = 1 unit, no CRS) and ``report.json`` says so. An ``out_dir``
holding products already is refused unless ``overwrite``; the products are built in a
temporary folder that replaces ``out_dir`` as a whole, so a failed run changes nothing.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from hyperspectral.calibrate import continuum_removed, good_band_mask
from hyperspectral.classify import ClassifiedTile, LibraryClassifier, confidence
from hyperspectral.contamination import read_overrides, weights_for
from hyperspectral.cube import Cube, open_cube, tile_lines_for
from hyperspectral.errors import HyperspectralError
from hyperspectral.labels import compare_with_labels, read_labels
from hyperspectral.library import SpectralLibrary, load_library
from hyperspectral.outputs import write_hsi_report
from smartmine.atomic import write_text_atomic
from smartmine.progress import progress

F32Array = npt.NDArray[np.float32]
COMPAT_MODES = ("pycoal",)


class Classifier(Protocol):
    """What the tile loop needs of a classifier (``LibraryClassifier``, the pycoal one)."""

    @property
    def classes(self) -> tuple[str, ...]: ...
    @property
    def library(self) -> SpectralLibrary: ...
    @property
    def band_mask(self) -> npt.NDArray[np.bool_]: ...
    @property
    def method(self) -> Literal["sam", "sid"]: ...
    def classify_block(self, block: F32Array, valid: npt.NDArray[np.bool_]) -> ClassifiedTile: ...


@dataclass
class ClassifyConfig:
    """What ``smartmine hsi classify`` does (saved as config.json beside the result)."""

    library: str = "bundled"
    classes: list[str] = field(default_factory=list)
    """Library classes or spectrum names to use; empty = all."""
    method: Literal["sam", "sid"] = "sam"
    threshold: float | None = None
    """Maximum score (SAM: radians, SID: divergence) for every class; None = no limit."""
    class_thresholds: dict[str, float] = field(default_factory=dict)
    drop_bad_bands: bool = True
    """Leave out water-absorption windows and the header's bbl."""
    continuum_removal: bool = False
    tile_mb: float = 16.0
    irradiance: str = ""
    """CSV of the illumination spectrum (``irradiance_rel``, e.g. the simulator's
    spectra.csv) to divide at-sensor cubes by; empty = the cube is reflectance."""
    wavelengths: str = ""
    """Text file of the cube's band centres (nm, one a line) where its header has none
    (MATLAB cubes never do); empty = the header's."""
    labels: str = ""
    """Reference label raster (ENVI classification with class names, GeoTIFF, .npy):
    confusion matrix and per-class agreement by class name in the report."""
    skip_incomplete_spectra: bool = True
    """Leave out library spectra with missing points within the cube's wavelength range
    (gaps would be bridged by resampling, inventing data; else SAM uses each spectrum's
    valid bands, which favours spectra missing the informative bands)."""
    # hsicompat (issue 20): reproduce another tool's classifier
    compat: str = ""
    """"pycoal": pycoal's SAM (pixels resampled onto the raw ENVI library, every band,
    sentinels kept, its no-data rule; classes = spectrum names) to check its class maps
    pixel for pixel; ``drop_bad_bands``/``skip_incomplete_spectra`` do not apply, and
    SID, continuum removal, irradiance, class subsets and per-class thresholds are
    refused. Empty = our own classifier."""

    # hsiheat (issue 20): contamination weights
    contamination: str = ""
    """CSV/JSON of contamination weights (mineral, class name or class-name prefix ->
    0..1) overriding the built-in ones by mineral; empty = built-in
    (:mod:`hyperspectral.contamination`)."""

    # --- hsimem (issue 20): near-ties made visible ---
    ambiguous_margin: float | None = None
    """A pixel whose best class beats the runner-up class by less than this (score units:
    SAM radians, SID divergence) is flagged in ambiguous.tif and counted per class; its
    label is kept. None = the method's default (:data:`AMBIGUOUS_MARGIN_DEFAULT`), 0 = off."""


AMBIGUOUS_MARGIN_DEFAULT: dict[str, float] = {"sam": 0.005, "sid": 0.0007}
"""SAM 0.005 rad: on the four AVIRIS-NG mine cubes against splib06 (all bands, pycoal's
arithmetic), every pixel whose call differs from pycoal's had a margin below 0.0046 rad
(90 % below 0.0023): a call that close is decided by preprocessing (resampling, bands),
not by the spectrum. It flags 7 % of those cubes' data pixels with the bundled library.
SID 0.0007: flags the same share with the bundled library (docs/notes/issue-20-mem.md)."""


def contamination_index(
    labels: npt.NDArray[np.uint16], membership: F32Array, weights: F32Array
) -> F32Array:
    """Heat map 0–1 from labels (1..C, 0 none), the winning class's membership and the
    weight per class (``contamination.weights_for``, computed once per run, not per tile)."""
    table = np.concatenate((np.zeros(1, np.float32), np.asarray(weights, np.float32)))
    return np.asarray(table[labels] * np.nan_to_num(membership), dtype=np.float32)


def prepare_library(config: ClassifyConfig, cube: Cube) -> SpectralLibrary:
    """The configured library on the cube's bands, incomplete spectra handled."""
    library = load_library(config.library)
    if config.classes:
        library = library.subset(list(config.classes))
    wl = cube.require_wavelengths()
    if config.skip_incomplete_spectra:
        lib_wl = library.wavelengths_nm
        inside = (lib_wl >= np.nanmin(wl)) & (lib_wl <= np.nanmax(wl))
        complete = [i for i in range(len(library)) if np.isfinite(library.spectra[i][inside]).all()]
        if not complete:
            raise HyperspectralError(f"{library.source}: every spectrum has missing points")
        library = library.subset(complete)
    return library.resample(wl, cube.fwhm_nm)


def band_mask(
    config: ClassifyConfig, cube: Cube, library: SpectralLibrary
) -> npt.NDArray[np.bool_]:
    wl = cube.require_wavelengths()
    mask = np.isfinite(library.spectra).any(axis=0)
    if config.drop_bad_bands:
        mask &= good_band_mask(wl, cube.good_bands)
    return np.asarray(mask, bool)


def build_classifier(config: ClassifyConfig, cube: Cube) -> Classifier:
    """The configured library classifier for the cube's bands (library resampled, bad
    bands masked, global and per-class thresholds combined), or pycoal's
    (``config.compat == "pycoal"``: raw library, every band, see ``pycoal_compat``)."""
    if config.compat == "pycoal":
        from hyperspectral.pycoal_compat import PycoalClassifier

        check_compat(config)
        return PycoalClassifier(config.library, cube.require_wavelengths(), config.threshold)
    library = prepare_library(config, cube)
    if config.continuum_removal:  # pixels are continuum-removed: so must the library be
        import dataclasses

        removed = continuum_removed(library.spectra, library.wavelengths_nm)
        library = dataclasses.replace(library, spectra=removed)
    mask = band_mask(config, cube, library)
    if not mask.any():
        raise HyperspectralError(
            f"{cube.source}: no band is usable (outside the library's "
            f"{np.min(library.wavelengths_nm):.0f}-{np.max(library.wavelengths_nm):.0f} nm or "
            "bad bands; --keep-bad-bands keeps water-absorption and bbl bands)"
        )
    thresholds: float | dict[str, float] | None = (
        dict(config.class_thresholds) if config.class_thresholds else config.threshold
    )
    if config.class_thresholds and config.threshold is not None:
        thresholds = {c: config.threshold for c in library.class_names}
        thresholds.update(config.class_thresholds)
    return LibraryClassifier(library, config.method, thresholds, mask)


def irradiance_divisor(
    config: ClassifyConfig, wavelengths_nm: npt.NDArray[np.float64]
) -> npt.NDArray[np.float32] | None:
    """What to divide at-sensor spectra by (``config.irradiance``; bands without light
    divide by infinity, i.e. become 0), or None for reflectance cubes."""
    if not config.irradiance:
        return None
    from hyperspectral.calibrate import load_irradiance

    irr = load_irradiance(config.irradiance, wavelengths_nm)
    return np.where(irr > 1e-3 * irr.max(), irr, np.inf).astype(np.float32)


def run(
    config: ClassifyConfig, cube_path: Path | str, out_dir: Path | str, overwrite: bool = False
) -> Path:
    """Classify ``cube_path`` into map products in ``out_dir`` (see the module docstring)."""
    from hyperspectral import outputs

    out = Path(out_dir)
    outputs.check_output_folder(out, overwrite)
    started = time.perf_counter()
    check_classify_config(config)
    cube = open_cube(cube_path)
    if config.wavelengths:
        cube = cube.with_wavelengths(Path(config.wavelengths))
    classifier = build_classifier(config, cube)
    lines, samples, _bands = cube.shape
    truth = read_labels_for(config, (lines, samples))
    wl = cube.require_wavelengths()
    divisor = irradiance_divisor(config, wl)
    with outputs.products_folder(out, overwrite) as tmp:
        _classify_into(tmp, config, cube, classifier, divisor, truth, Path(str(cube_path)), started)
    return out


def read_labels_for(
    config: ClassifyConfig, shape: tuple[int, int]
) -> tuple[npt.NDArray[np.int64], list[str]] | None:
    """The ``--labels`` raster checked against the cube before any work, or None."""
    if not config.labels:
        return None
    return read_labels(Path(config.labels), shape)


def check_classify_config(config: ClassifyConfig) -> None:
    """Every number of the configuration finite and in range, or an error naming the option."""
    checks: list[tuple[str, float | None]] = [
        ("--threshold", config.threshold),
        *((f"--class-threshold {k}", v) for k, v in config.class_thresholds.items()),
    ]
    for option, value in checks:
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise HyperspectralError(f"{option} = {value}: want a finite score >= 0")
    margin = config.ambiguous_margin
    if margin is not None and not (math.isfinite(margin) and margin >= 0):
        raise HyperspectralError(f"--ambiguous-margin = {margin}: want a finite score >= 0")
    if not (math.isfinite(config.tile_mb) and 0.01 <= config.tile_mb <= 1e5):
        raise HyperspectralError(f"--tile-mb {config.tile_mb}: want 0.01..100000 MB")
    if config.contamination:  # hsiheat: a bad weights file fails before any work
        read_overrides(Path(config.contamination))
    check_compat(config)


def check_compat(config: ClassifyConfig) -> None:
    """``--compat`` known, and no option that contradicts what it reproduces."""
    if not config.compat:
        return
    if config.compat not in COMPAT_MODES:
        raise HyperspectralError(
            f"--compat {config.compat}: unknown (want {', '.join(COMPAT_MODES)})"
        )
    contradicting = [
        ("--method sid", config.method != "sam", "pycoal's classifier is SAM"),
        ("--continuum-removal", config.continuum_removal, "pycoal classified reflectance as is"),
        ("--irradiance", bool(config.irradiance), "pycoal classified reflectance as is"),
        ("--classes", bool(config.classes), "pycoal used every spectrum of the library file"),
        ("--class-threshold", bool(config.class_thresholds), "pycoal had one threshold"),
        (
            f"--library {config.library}",
            config.library == "bundled" or not config.library.lower().endswith((".hdr", ".sli")),
            "pycoal read an ENVI spectral library (.hdr/.sli), e.g. USGS splib06",
        ),
    ]
    for option, present, why in contradicting:
        if present:
            raise HyperspectralError(f"{option} contradicts --compat pycoal ({why})")


def ambiguous_limit(config: ClassifyConfig) -> float:
    """The margin below which a call is flagged ambiguous (score units of the method)."""
    if config.ambiguous_margin is not None:
        return float(config.ambiguous_margin)
    return AMBIGUOUS_MARGIN_DEFAULT[config.method]


class _TileProducts:
    """The per-pixel products of a classification, each written tile by tile: ENVI class
    map, class map / per-class scores / heat / margin / ambiguous COGs; and the report's
    per-class counts accumulated on the way (nothing the size of the image in memory)."""

    def __init__(
        self,
        out: Path,
        config: ClassifyConfig,
        cube: Cube,
        classes: tuple[str, ...],
        heat: bool = True,
    ) -> None:
        from hyperspectral import outputs

        lines, samples, _bands = cube.shape
        names = list(classes)
        georef = cube.georef
        n = len(names)
        self.config = config
        self.label_dtype = np.uint8 if n < 255 else np.uint16
        unit = "rad" if config.method == "sam" else "sid"
        nan = float("nan")
        colours = outputs.class_colours(n) if self.label_dtype == np.uint8 else None
        self.envi = outputs.EnviClassificationWriter(
            out / "class_map.hdr",
            lines,
            samples,
            names,
            georef,
            f"smartmine {config.method.upper()} classification",
        )
        tif = outputs.TiledGeoTiff
        self.class_map = tif(
            out / "class_map.tif", lines, samples, 1, self.label_dtype.__name__, georef,
            colormap=colours,
        )  # fmt: skip
        self.scores = tif(
            out / "class_scores.tif", lines, samples, n, "float32", georef, nan, names
        )
        self.heat = None if not heat else tif(
            out / "heat_map.tif", lines, samples, 1, "float32", georef, nan,
            ["contamination_index"],
        )  # fmt: skip
        """None where no class of the library has a contamination weight."""
        self.margin = tif(
            out / "margin.tif", lines, samples, 1, "float32", georef, nan, [f"margin_{unit}"]
        )
        self.ambiguous = tif(
            out / "ambiguous.tif", lines, samples, 1, "uint8", georef, 255.0,
            ["ambiguous (1), clear call (0), no data (255)"],
        )  # fmt: skip
        self.tally = outputs.ClassTally(n)
        self.limit = ambiguous_limit(config)

    def writers(self) -> list[Any]:
        heat = [] if self.heat is None else [self.heat]
        return [self.envi, self.class_map, self.scores, *heat, self.margin, self.ambiguous]

    def write(self, start: int, tile: ClassifiedTile, weights: F32Array) -> None:
        """One tile's products (lines ``start..``) and its counts."""
        method = self.config.method
        membership = confidence(tile.best_score, method)
        heat = contamination_index(tile.labels, membership, weights)
        no_data = np.isnan(tile.best_score)
        heat[no_data] = np.nan
        with np.errstate(invalid="ignore"):
            ambiguous = tile.margin < self.limit  # NaN margins (no data, one class): False
        flags = ambiguous.astype(np.uint8)
        flags[no_data] = 255
        self.envi.write(start, tile.labels)
        self.class_map.write(start, tile.labels.astype(self.label_dtype))
        self.scores.write(start, confidence(tile.class_scores, method))
        if self.heat is not None:
            self.heat.write(start, heat)
        self.margin.write(start, tile.margin)
        self.ambiguous.write(start, flags)
        self.tally.add(tile.labels, heat if self.heat is not None else None, ambiguous)


def _classify_into(
    out: Path,
    config: ClassifyConfig,
    cube: Cube,
    classifier: Classifier,
    divisor: npt.NDArray[np.float32] | None,
    truth: tuple[npt.NDArray[np.int64], list[str]] | None,
    cube_path: Path,
    started: float,
) -> None:
    """Every product of a library classification, written into ``out`` (a fresh folder).

    Memory: one tile of the cube (``tile_mb``) and that tile's per-pixel results; every
    product is written tile by tile, COGs are built from the written files and the PNG
    previews from their overviews (issue 20)."""
    import contextlib

    from hyperspectral import outputs

    library, mask = classifier.library, classifier.band_mask
    lines, samples, bands = cube.shape
    names = list(classifier.classes)
    wl = cube.require_wavelengths()
    step = tile_lines_for(samples, bands, config.tile_mb)
    valid_pixels = 0
    plain = divisor is None and not config.continuum_removal and cube.ignore_value is None
    fused = classifier if plain and isinstance(classifier, LibraryClassifier) else None
    weights, contamination = weights_for(classifier.classes, config.contamination)  # hsiheat
    products = _TileProducts(out, config, cube, classifier.classes, heat=contamination.mapped)
    with contextlib.ExitStack() as stack:
        for writer in products.writers():
            stack.enter_context(writer)
        tiles = progress(cube.tiles(step), total=-(-lines // step), desc="classify", unit="tile")
        for start, block in tiles:
            if fused is not None:  # the data mask found in the classifier's norm pass
                tile = fused.classify_block(block)
                valid_pixels += int(np.count_nonzero(~np.isnan(tile.best_score)))
                products.write(start, tile, weights)
                continue
            valid = cube.valid_mask(block)
            valid_pixels += int(valid.sum())
            if divisor is not None:
                block = block / divisor
            if config.continuum_removal:
                block = continuum_removed(block, wl).astype(np.float32)
            products.write(start, classifier.classify_block(block, valid), weights)
        if valid_pixels == 0 and config.compat != "pycoal":  # pycoal writes all 'No data'
            raise HyperspectralError(
                f"{cube.source}: no pixel holds data (every one is NaN, infinite, the "
                "'data ignore value' or the same in every band)"
            )
    outputs.class_map_png(
        out / "class_map.png",
        outputs.read_preview(out / "class_map.tif"),
        names,
        f"{cube_path.name} ({config.method.upper()})",
    )
    if contamination.mapped:  # hsiheat: else no heat map (an all-zero one reads "clean")
        heat_preview = outputs.read_preview(out / "heat_map.tif")
        outputs.heat_map_png(out / "heat_map.png", heat_preview, "contamination index 0-1")
    tally = products.tally
    report = outputs.tally_report(tally, names, cube, with_ambiguous=True)
    contamination.add_to_report(report)  # hsiheat
    if valid_pixels == 0:  # --compat pycoal: the all-'No data' map pycoal writes
        report.setdefault("warnings", []).append(
            f"{cube.source}: no pixel holds data; the class map is all no data, as pycoal writes it"
        )
    report.update(
        {
            "cube": str(cube_path),
            "method": config.method,
            "library": library.source,
            "library_spectra": len(library),
            "bands_used": int(mask.sum()),
            "bands": bands,
            "valid_pixels": valid_pixels,
            "ambiguous_margin": products.limit,
            "margin_unit": "radians (SAM angle)" if config.method == "sam" else "SID",
            "ambiguous_pixels": int(tally.ambiguous.sum()),
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    tables = [contamination.table()]  # hsiheat
    if truth is not None:  # the labels read back from the written map (file-backed pages)
        labels = np.memmap(out / "class_map.img", np.dtype("<u2"), "r", shape=(lines, samples))
        agreement, table = compare_with_labels(truth, labels, names, out)
        report.update(agreement)  # hsicompat: None + agreement_reason when nothing compared
        tables.append(table)
    write_text_atomic(out / "config.json", json.dumps(asdict(config), indent=2) + "\n")
    write_hsi_report(
        out,
        f"Hyperspectral classification ({config.method.upper()})",
        report,
        asdict(config),
        tables,
    )
