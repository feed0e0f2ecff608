"""pycoal-compatible library classification (``hsi classify --compat pycoal``), so a team
moving from pycoal can check us against its class maps pixel for pixel.

pycoal (capstone-coal) classified AVIRIS-NG cubes against the USGS splib06 ENVI library
by: resampling each *pixel* onto the library's bands with ``spectral``'s resampler
(FWHM from band spacing; the library's overlapping AVIRIS-95 bands get a negative width,
hence NaN, then 0), then SAM against the *raw* library (missing points kept as the
-1.23e34 sentinel, which effectively rules such spectra out), every band of the cube used
(no bad-band dropping), no-data where the first band is -0.005 or -50, and a pixel kept
when its confidence 1 − angle/π exceeds the threshold (0). Each library spectrum is its
own class, named by the library's spectrum name.

Our default classifier (:mod:`hyperspectral.classify`) does this differently on purpose:
the library is resampled to the sensor by FWHM (not the pixels onto the library, which
zeroes bands), spectra with missing points inside the cube's range are left out (not
kept with sentinels), and water-absorption / bbl bands are dropped. This module
reproduces pycoal's arithmetic, vectorised, behind the same classifier protocol as
:class:`hyperspectral.classify.LibraryClassifier` (``classes``, ``library``,
``band_mask``, ``method``, ``classify_block``) so ``pipeline.run`` writes the same products.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from hyperspectral.classify import ClassifiedTile, class_margin
from hyperspectral.cube import Cube, wavelengths_to_nm
from hyperspectral.errors import HyperspectralError
from hyperspectral.library import SpectralLibrary

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

PYCOAL_NO_DATA_FIRST_BAND = (-0.005, -50.0)
"""pycoal's no-data rule: a pixel whose first band holds one of these values."""
CHUNK_PIXELS = 1024
"""Pixels per float64 product against the whole library (1024 × 1365 × 8 B = 11 MB)."""


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library's INFO chatter (``spectral`` logs every band it cannot cover:
    pycoal's overlapping library bands are expected, see the module docstring)."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _open_envi_library(path: Path) -> tuple[object, Path]:
    """The ENVI spectral library as ``spectral`` opens it (pycoal read it so), raw."""
    from spectral.io import envi

    header = path if path.suffix.lower() == ".hdr" else path.with_suffix(".hdr")
    if path.suffix.lower() not in {".hdr", ".sli"}:
        raise HyperspectralError(
            f"--library {path}: --compat pycoal needs an ENVI spectral library (.hdr/.sli), "
            "as pycoal read"
        )
    try:
        lib = envi.open(str(header), str(header.with_suffix(".sli")))
    except FileNotFoundError as err:
        raise HyperspectralError(f"{path}: no such file ({err.filename})") from None
    except Exception as err:
        raise HyperspectralError(f"{header}: not an ENVI spectral library ({err})") from None
    if not hasattr(lib, "names") or lib.bands.centers is None:
        raise HyperspectralError(f"{header}: not an ENVI spectral library with wavelengths")
    return lib, header


class PycoalClassifier:
    """pycoal's SAM mineral classifier over tiles; classes are the library's spectrum
    names (duplicates merged by name, as the class maps are compared by name).

    ``max_angle_rad``: a pixel whose best angle exceeds it is unclassified (pycoal's
    ``threshold`` t is ``max_angle_rad = π (1 − t)``); None = pycoal's default (0).
    The ``valid`` mask handed to :meth:`classify_block` is not used: pycoal's no-data rule
    decides (every other pixel gets a class, as pycoal gave it one).
    """

    method: Literal["sam"] = "sam"

    def __init__(
        self, library_path: Path | str, wavelengths_nm: F64Array, max_angle_rad: float | None
    ) -> None:
        lib, header = _open_envi_library(Path(library_path))
        import spectral

        units = lib.metadata.get("wavelength units")  # type: ignore[attr-defined]
        lib_wl_nm = wavelengths_to_nm(
            np.asarray(lib.bands.centers, np.float64),  # type: ignore[attr-defined]
            units,
            str(header),
        )
        names = tuple(str(n) for n in lib.names)  # type: ignore[attr-defined]
        self.spectra = np.asarray(lib.spectra, dtype=np.float64)  # type: ignore[attr-defined]
        with np.errstate(invalid="ignore", divide="ignore"), _quiet("spectral"):
            self.matrix = np.asarray(
                spectral.BandResampler(
                    list(wavelengths_nm / 1000.0), list(lib_wl_nm / 1000.0)
                ).matrix
            )
        self.spectrum_norm = np.linalg.norm(self.spectra, axis=1)
        self.classes: tuple[str, ...] = tuple(dict.fromkeys(names))
        index = {name: i for i, name in enumerate(self.classes)}
        self.class_of = np.array([index[n] for n in names], np.int64)
        order = np.argsort(self.class_of, kind="stable")
        self.order = order
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.class_of[order]) != 0])
        self.library = SpectralLibrary(
            names, names, lib_wl_nm, None, self.spectra, source=f"{header} (pycoal, raw)"
        )
        self.band_mask: BoolArray = np.ones(len(wavelengths_nm), bool)
        self.max_angle_rad = max_angle_rad

    def classify_pixels(self, pixels: F32Array) -> ClassifiedTile:
        """Classify (n, bands) pixels as pycoal did (float64, chunk by chunk)."""
        n = len(pixels)
        labels = np.zeros(n, np.uint16)
        best = np.full(n, np.nan, np.float32)
        per_class = np.full((n, len(self.classes)), np.nan, np.float32)
        margin = np.full(n, np.nan, np.float32)
        best_spectrum = np.full(n, -1, np.int32)
        for a in range(0, n, CHUNK_PIXELS):
            part = slice(a, a + CHUNK_PIXELS)
            self._classify_chunk(
                pixels[part], labels[part], best[part], per_class[part], margin[part],
                best_spectrum[part],
            )  # fmt: skip
        return ClassifiedTile(
            labels=labels,
            best_score=best,
            class_scores=per_class,
            best_spectrum=best_spectrum,
            margin=margin,
        )

    def _classify_chunk(
        self,
        pixels: F32Array,
        labels: npt.NDArray[np.uint16],
        best: F32Array,
        per_class: F32Array,
        margin: F32Array,
        best_spectrum: npt.NDArray[np.int32],
    ) -> None:
        x = pixels.astype(np.float64)
        resampled = np.nan_to_num(x @ self.matrix.T)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            cos = (resampled @ self.spectra.T) / np.linalg.norm(resampled, axis=1)[:, None]
            cos = cos / self.spectrum_norm[None, :]
        angle = np.arccos(np.clip(np.nan_to_num(cos, nan=-1.0), -1, 1))
        confidence = 1.0 - angle / np.pi  # pycoal's score: its argmax decides ties as pycoal
        j = np.argmax(confidence, axis=1)
        rows = np.arange(len(j))
        ok = confidence[rows, j] > 0.0
        if self.max_angle_rad is not None:
            ok &= angle[rows, j] <= self.max_angle_rad
        first = x[:, 0]
        nodata = np.isclose(first, PYCOAL_NO_DATA_FIRST_BAND[0]) | (
            first == PYCOAL_NO_DATA_FIRST_BAND[1]
        )
        keep = ok & ~nodata
        labels[:] = np.where(keep, self.class_of[j] + 1, 0)
        best_spectrum[:] = np.where(keep, j, -1)
        class_angle = np.minimum.reduceat(angle[:, self.order], self.starts, axis=1)
        data = ~nodata
        best[data] = angle[rows, j][data]
        per_class[data] = class_angle[data]
        margin[data] = class_margin(class_angle)[data]

    def classify_block(self, block: F32Array, valid: BoolArray) -> ClassifiedTile:
        """Classify a (h, w, bands) tile (``valid`` unused: pycoal's no-data rule)."""
        h, w, bands = block.shape
        return self.classify_pixels(block.reshape(-1, bands)).as_image(h, w)


def classify_like_pycoal(
    cube: Cube, library_path: Path, threshold: float = 0.0
) -> tuple[npt.NDArray[np.uint16], list[str]]:
    """(lines, samples) labels (0 = no data, i = class i-1) and the names
    ``['No data', *library spectrum names]``; ``threshold`` on 1 − angle/π as pycoal."""
    max_angle = None if threshold <= 0.0 else math.pi * (1.0 - threshold)
    classifier = PycoalClassifier(library_path, cube.require_wavelengths(), max_angle)
    lines, samples, _ = cube.shape
    labels = np.zeros((lines, samples), np.uint16)
    for start, block in cube.tiles():
        tile = classifier.classify_block(block, np.ones(block.shape[:2], bool))
        labels[start : start + block.shape[0]] = tile.labels
    return labels, ["No data", *classifier.classes]
