"""Spectral resampling between band sets, by band centre and FWHM.

The model is the one of ENVI's and ``spectral``'s resamplers: a source band holds a
constant value over its FWHM (a box), a destination band has a Gaussian response of its
FWHM; the weight of a source band in a destination band is the Gaussian's integral over
their overlap, normalised per destination band. Without FWHM a band spans half the
distance to each neighbour. Vectorised: one (destination, source) matrix, built once
per pair of band sets, applied to any number of spectra.

Missing source values (NaN) are left out and the remaining weights renormalised; a
destination band no valid source band overlaps is NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import erf

F64Array = npt.NDArray[np.float64]

_SQRT_8LN2 = float(np.sqrt(8.0 * np.log(2.0)))


def fwhm_from_spacing(centres: npt.ArrayLike) -> F64Array:
    """FWHM that spans half the distance to each neighbour (ends: the one spacing)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size < 2:
        return np.ones_like(c)
    fwhm = np.empty_like(c)
    fwhm[0] = c[1] - c[0]
    fwhm[-1] = c[-1] - c[-2]
    fwhm[1:-1] = (c[2:] - c[:-2]) / 2.0
    return np.abs(fwhm)


def resampling_matrix(
    src_nm: npt.ArrayLike,
    dst_nm: npt.ArrayLike,
    src_fwhm_nm: npt.ArrayLike | None = None,
    dst_fwhm_nm: npt.ArrayLike | None = None,
) -> F64Array:
    """(dst, src) weights; rows sum to 1, a row without overlap is all NaN."""
    src = np.asarray(src_nm, dtype=np.float64)
    dst = np.asarray(dst_nm, dtype=np.float64)
    sw = fwhm_from_spacing(src) if src_fwhm_nm is None else np.asarray(src_fwhm_nm, np.float64)
    dw = fwhm_from_spacing(dst) if dst_fwhm_nm is None else np.asarray(dst_fwhm_nm, np.float64)
    lo = np.maximum((src - sw / 2)[None, :], (dst - dw / 2)[:, None])
    hi = np.minimum((src + sw / 2)[None, :], (dst + dw / 2)[:, None])
    sigma = (dw / _SQRT_8LN2)[:, None]
    centre = dst[:, None]
    weight = 0.5 * (
        erf((hi - centre) / (sigma * np.sqrt(2))) - erf((lo - centre) / (sigma * np.sqrt(2)))
    )
    weight = np.where(hi > lo, weight, 0.0)
    total = weight.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = weight / total
    matrix[total[:, 0] <= 0] = np.nan
    return np.asarray(matrix, dtype=np.float64)


def resample(
    spectra: npt.ArrayLike,
    src_nm: npt.ArrayLike,
    dst_nm: npt.ArrayLike,
    src_fwhm_nm: npt.ArrayLike | None = None,
    dst_fwhm_nm: npt.ArrayLike | None = None,
) -> F64Array:
    """Resample ``(..., src_bands)`` spectra to the destination bands, NaN-aware."""
    values = np.asarray(spectra, dtype=np.float64)
    matrix = resampling_matrix(src_nm, dst_nm, src_fwhm_nm, dst_fwhm_nm)
    no_overlap = np.isnan(matrix[:, 0]) & np.isnan(matrix).all(axis=1)
    weights = np.nan_to_num(matrix)
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0)
    num = filled @ weights.T
    den = valid.astype(np.float64) @ weights.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 1e-9, num / den, np.nan)
    out[..., no_overlap] = np.nan
    return np.asarray(out, dtype=np.float64)
