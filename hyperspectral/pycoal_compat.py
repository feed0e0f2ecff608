"""pycoal-compatible library classification, to check ourselves against its class maps.

pycoal (capstone-coal) classified AVIRIS-NG cubes against the USGS splib06 ENVI library
by: resampling each *pixel* onto the library's bands with ``spectral``'s resampler
(FWHM from band spacing; the library's overlapping AVIRIS-95 bands get a negative width,
hence NaN, then 0), then SAM against the *raw* library (missing points kept as the
-1.23e34 sentinel, which effectively rules such spectra out), no-data where the first
band is -0.005 or -50. Our own classifier (:mod:`hyperspectral.classify`) does this
differently on purpose (library resampled to the sensor by FWHM, spectra with missing
points left out, bad bands honoured); this module reproduces pycoal's arithmetic,
vectorised, so the reference maps can be matched pixel for pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from hyperspectral.cube import Cube
from hyperspectral.errors import HyperspectralError


def classify_like_pycoal(
    cube: Cube, library_path: Path, threshold: float = 0.0
) -> tuple[npt.NDArray[np.uint16], list[str]]:
    """(lines, samples) labels (0 = no data, i = library spectrum i-1) and the names
    ``['No data', *library names]``; ``threshold`` on 1 − angle/π as pycoal."""
    import spectral
    from spectral.io import envi

    header = library_path.with_suffix(".hdr")
    try:
        lib = envi.open(str(header), str(header.with_suffix(".sli")))
    except Exception as err:
        raise HyperspectralError(f"{header}: not an ENVI spectral library ({err})") from None
    wl = cube.require_wavelengths()
    spectra = np.asarray(lib.spectra, dtype=np.float64)
    matrix = spectral.BandResampler(list(wl / 1000.0), lib.bands.centers).matrix
    lib_norm = np.linalg.norm(spectra, axis=1)
    names = ["No data", *[str(n) for n in lib.names]]
    lines, samples, _ = cube.shape
    labels = np.zeros((lines, samples), np.uint16)
    for start, block in cube.tiles():
        x = block.reshape(-1, block.shape[-1]).astype(np.float64)
        resampled = np.nan_to_num(x @ matrix.T)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            cos = (resampled @ spectra.T) / np.linalg.norm(resampled, axis=1)[:, None]
            cos = cos / lib_norm[None, :]
        confidence = 1.0 - np.arccos(np.clip(np.nan_to_num(cos, nan=-1.0), -1, 1)) / np.pi
        best = np.argmax(confidence, axis=1)
        ok = confidence[np.arange(len(best)), best] > threshold
        nodata = np.isclose(x[:, 0], -0.005) | (x[:, 0] == -50)
        lab = np.where(ok & ~nodata, best + 1, 0).astype(np.uint16)
        labels[start : start + block.shape[0]] = lab.reshape(block.shape[:2])
    return labels, names
