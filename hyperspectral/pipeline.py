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
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hyperspectral.calibrate import continuum_removed, good_band_mask
from hyperspectral.classify import ClassifiedTile, LibraryClassifier, confidence
from hyperspectral.cube import Cube, open_cube, tile_lines_for
from hyperspectral.errors import HyperspectralError
from hyperspectral.library import CONTAMINATION_WEIGHTS, SpectralLibrary, load_library
from hyperspectral.outputs import write_hsi_report
from smartmine.atomic import write_text_atomic
from smartmine.progress import progress

F32Array = npt.NDArray[np.float32]


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
    weight per label (:func:`contamination_weights`)."""
    return np.asarray(weights[labels] * np.nan_to_num(membership), dtype=np.float32)


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


def build_classifier(config: ClassifyConfig, cube: Cube) -> LibraryClassifier:
    """The configured library classifier for the cube's bands (library resampled, bad
    bands masked, global and per-class thresholds combined)."""
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
    from hyperspectral.model import read_labels

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


def contamination_weights(classes: tuple[str, ...]) -> F32Array:
    """Heat-map weight per label (0 = unclassified, then the classes), computed once
    before the tile loop (hsiheat's ``contamination.weights_for`` replaces this)."""
    return np.array([0.0, *(CONTAMINATION_WEIGHTS.get(c, 0.0) for c in classes)], np.float32)


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
        self, out: Path, config: ClassifyConfig, cube: Cube, classes: tuple[str, ...]
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
        self.heat = tif(
            out / "heat_map.tif", lines, samples, 1, "float32", georef, nan,
            ["contamination_index"],
        )  # fmt: skip
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
        return [self.envi, self.class_map, self.scores, self.heat, self.margin, self.ambiguous]

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
        self.heat.write(start, heat)
        self.margin.write(start, tile.margin)
        self.ambiguous.write(start, flags)
        self.tally.add(tile.labels, heat, ambiguous)


def _classify_into(
    out: Path,
    config: ClassifyConfig,
    cube: Cube,
    classifier: LibraryClassifier,
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
    weights = contamination_weights(classifier.classes)
    products = _TileProducts(out, config, cube, classifier.classes)
    valid_pixels = 0
    with contextlib.ExitStack() as stack:
        for writer in products.writers():
            stack.enter_context(writer)
        tiles = progress(cube.tiles(step), total=-(-lines // step), desc="classify", unit="tile")
        for start, block in tiles:
            valid = cube.valid_mask(block)
            valid_pixels += int(valid.sum())
            if divisor is not None:
                block = block / divisor
            if config.continuum_removal:
                block = continuum_removed(block, wl).astype(np.float32)
            products.write(start, classifier.classify_block(block, valid), weights)
        if valid_pixels == 0:
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
    heat_preview = outputs.read_preview(out / "heat_map.tif")
    outputs.heat_map_png(out / "heat_map.png", heat_preview, "contamination index 0-1")
    tally = products.tally
    report = outputs.tally_report(tally, names, cube, with_ambiguous=True)
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
    tables = []
    if truth is not None:  # the labels read back from the written map (file-backed pages)
        labels = np.memmap(out / "class_map.img", np.dtype("<u2"), "r", shape=(lines, samples))
        agreement, table = compare_with_labels(truth, labels, names, out)
        report["agreement_with_labels"] = agreement
        tables.append(table)
    write_text_atomic(out / "config.json", json.dumps(asdict(config), indent=2) + "\n")
    write_hsi_report(
        out,
        f"Hyperspectral classification ({config.method.upper()})",
        report,
        asdict(config),
        tables,
    )


def compare_with_labels(
    reference: tuple[npt.NDArray[np.int64], list[str]],
    labels: npt.NDArray[np.uint16],
    names: list[str],
    out: Path,
) -> tuple[float, Any]:
    """Agreement (share of labelled pixels whose reference class name equals ours,
    case-insensitive) and a per-reference-class table; writes confusion.png."""
    from hyperspectral import outputs
    from smartmine.report import Table

    truth, truth_names = reference
    ours = ["unclassified", *names]
    matrix = np.zeros((len(truth_names), len(ours)), np.int64)
    mask = truth >= 0
    np.add.at(matrix, (truth[mask], labels[mask].astype(np.int64)), 1)
    lookup = {n.lower(): i for i, n in enumerate(ours)}
    rows, agree = [], 0
    for t, name in enumerate(truth_names):
        same = lookup.get(name.lower())
        hits = int(matrix[t, same]) if same is not None else 0
        agree += hits
        total = int(matrix[t].sum())
        rows.append([name, total, hits, round(hits / total, 4) if total else None])
    used = np.flatnonzero(matrix.sum(axis=0))  # only the classes we predicted there
    outputs.confusion_png(
        out / "confusion.png", matrix[:, used], truth_names, [ours[i] for i in used]
    )
    agreement = agree / max(1, int(mask.sum()))
    columns = ["reference class", "pixels", "same class", "agreement"]
    return round(agreement, 6), Table("agreement with the reference labels", columns, rows)
