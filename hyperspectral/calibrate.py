"""Radiometric calibration to reflectance, bad bands, continuum removal.

- Dark/white reference: ``R = (raw − dark) / (white − dark) × ρ_white``. References are
  averaged over their lines; ``per_column=True`` keeps one reference per detector column
  (push-broom sensors: each column is its own detector element), else one per band.
- Empirical line: per band, reflectance = gain × signal + offset fitted by least squares
  to field targets of known reflectance (2 or more, spanning dark to bright).
- Bad bands: atmospheric water absorption windows (1340–1450, 1790–1960, 2450+ nm), the
  header's ``bbl`` and low-SNR bands (SNR estimated from differences of neighbouring
  pixels, the homogeneous-area method).
- Continuum removal: each spectrum divided by its upper convex hull (features become
  band depths, comparable across illumination).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

WATER_WINDOWS_NM: tuple[tuple[float, float], ...] = (
    (1340.0, 1450.0),
    (1790.0, 1960.0),
    (2450.0, 1e9),
)
"""Atmospheric water vapour absorption: no ground signal reaches the sensor there."""


def reference_spectrum(frames: F32Array, per_column: bool, what: str) -> F64Array:
    """Average a (lines, samples, bands) reference to (samples, bands) or (bands,)."""
    values = np.asarray(frames, dtype=np.float64)
    if values.ndim != 3:
        raise HyperspectralError(f"{what}: expected a (lines, samples, bands) cube")
    if not np.isfinite(values).all():
        raise HyperspectralError(f"{what}: contains NaN or infinite values")
    mean = values.mean(axis=0) if per_column else values.mean(axis=(0, 1))
    return np.asarray(mean, dtype=np.float64)


class DarkWhite:
    """Dark/white reference calibration; build once, apply to tiles."""

    def __init__(
        self,
        dark: F32Array,
        white: F32Array,
        per_column: bool = True,
        white_reflectance: float | F64Array = 1.0,
        names: tuple[str, str] = ("dark", "white"),
    ) -> None:
        self.dark = reference_spectrum(dark, per_column, names[0])
        self.white = reference_spectrum(white, per_column, names[1])
        if self.dark.shape != self.white.shape:
            raise HyperspectralError(
                f"{names[0]} and {names[1]} references differ in shape: "
                f"{self.dark.shape} vs {self.white.shape}"
            )
        span = self.white - self.dark
        bad = span <= 0
        if bad.any():
            bands = np.flatnonzero(bad.reshape(-1, span.shape[-1]).any(axis=0))
            raise HyperspectralError(
                f"{names[1]}: white reference is not above the dark reference in "
                f"{len(bands)} band(s) (first: {bands[:5].tolist()}); zero or saturated "
                "white? Re-take it or drop those bands"
            )
        self.gain = np.asarray(white_reflectance, dtype=np.float64) / span

    def apply(self, block: F32Array) -> F32Array:
        """Reflectance of a (lines, samples, bands) block."""
        if self.dark.ndim == 2 and block.shape[1] != self.dark.shape[0]:
            raise HyperspectralError(
                f"cube has {block.shape[1]} samples, the per-column references {self.dark.shape[0]}"
            )
        if block.shape[-1] != self.dark.shape[-1]:
            raise HyperspectralError(
                f"cube has {block.shape[-1]} bands, the references {self.dark.shape[-1]}"
            )
        return np.asarray((block - self.dark) * self.gain, dtype=np.float32)


def fit_empirical_line(signal: F64Array, reflectance: F64Array) -> tuple[F64Array, F64Array]:
    """Per-band (gain, offset) from (targets, bands) signal and known reflectance."""
    s = np.asarray(signal, dtype=np.float64)
    r = np.asarray(reflectance, dtype=np.float64)
    if s.shape != r.shape or s.ndim != 2:
        raise HyperspectralError(
            f"empirical line: signal {s.shape} and reflectance {r.shape} differ"
        )
    if s.shape[0] < 2:
        raise HyperspectralError("empirical line needs at least 2 targets (dark and bright)")
    mean_s, mean_r = s.mean(axis=0), r.mean(axis=0)
    var = ((s - mean_s) ** 2).sum(axis=0)
    if (var <= 0).any():
        raise HyperspectralError(
            f"empirical line: targets have the same signal in {int((var <= 0).sum())} band(s); "
            "use targets of different brightness"
        )
    gain = ((s - mean_s) * (r - mean_r)).sum(axis=0) / var
    return gain, mean_r - gain * mean_s


def water_band_mask(wavelengths_nm: F64Array) -> BoolArray:
    """True for bands outside the atmospheric water absorption windows."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    good = np.ones(wl.shape, bool)
    for lo, hi in WATER_WINDOWS_NM:
        good &= ~((wl >= lo) & (wl <= hi))
    return good


def snr_per_band(block: F32Array) -> F64Array:
    """SNR per band: mean over the std of horizontal neighbour differences / √2."""
    x = np.asarray(block, dtype=np.float64)
    diff = np.diff(x, axis=1).reshape(-1, x.shape[-1])
    noise = np.nanstd(diff, axis=0) / np.sqrt(2.0)
    mean = np.nanmean(x.reshape(-1, x.shape[-1]), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(noise > 0, np.abs(mean) / noise, np.inf), dtype=np.float64)


def good_band_mask(
    wavelengths_nm: F64Array | None,
    bbl: BoolArray | None = None,
    sample: F32Array | None = None,
    min_snr: float = 0.0,
) -> BoolArray:
    """Usable bands: outside water windows, in ``bbl``, SNR ≥ ``min_snr`` on ``sample``."""
    if wavelengths_nm is None and bbl is None:
        raise HyperspectralError("bad-band removal needs wavelengths or a bbl")
    n = len(wavelengths_nm) if wavelengths_nm is not None else len(bbl)  # type: ignore[arg-type]
    good = np.ones(n, bool)
    if wavelengths_nm is not None:
        good &= water_band_mask(wavelengths_nm)
    if bbl is not None:
        good &= np.asarray(bbl, bool)
    if sample is not None and min_snr > 0:
        good &= snr_per_band(sample) >= min_snr
    return good


def _upper_hull_many(x: F64Array, y: F64Array) -> F64Array:
    """Upper convex hulls of many spectra ``y`` (n, b) over one sorted ``x`` (b,), evaluated
    at ``x``: Andrew's monotone chain run for all spectra at once (one stack per row)."""
    n, b = y.shape
    rows = np.arange(n)
    stack = np.zeros((n, b), np.int64)
    top = np.zeros(n, np.int64)
    for i in range(b):
        active = rows[top >= 2]  # rows that may pop; shrinks to those that did
        while active.size:
            t = top[active]
            a = stack[active, t - 2]
            c = stack[active, t - 1]
            ya, yc = y[active, a], y[active, c]
            cross = (x[c] - x[a]) * (y[active, i] - ya) - (yc - ya) * (x[i] - x[a])
            active = active[cross >= 0]
            top[active] -= 1
            active = active[top[active] >= 2]
        stack[rows, top] = i
        top += 1
    vertex = np.zeros((n, b), bool)
    keep = np.arange(b)[None, :] < top[:, None]
    vertex[np.repeat(rows, b)[keep.ravel()], stack[keep]] = True
    band = np.arange(b)[:, None]
    vt = vertex.T  # (b, n): accumulate along the first axis runs over contiguous rows
    left = np.maximum.accumulate(np.where(vt, band, 0), axis=0)
    right = np.minimum.accumulate(np.where(vt, band, b - 1)[::-1], axis=0)[::-1]
    flat_y = y.ravel()
    offset = np.arange(n)[None, :] * b
    y_left, y_right = flat_y[left + offset], flat_y[right + offset]
    span = x[right] - x[left]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(span > 0, (x[:, None] - x[left]) / span, 0.0)
    return np.asarray((y_left + t * (y_right - y_left)).T, dtype=np.float64)


def continuum_removed(spectra: npt.ArrayLike, wavelengths_nm: F64Array) -> F64Array:
    """(..., bands) spectra divided by their upper convex hull (1 = no absorption).

    Spectra with missing points (NaN) are hulled over their valid bands one by one; the
    rest all at once."""
    values = np.asarray(spectra, dtype=np.float64)
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    order = np.argsort(wl)
    flat = values.reshape(-1, values.shape[-1])[:, order]
    x = wl[order]
    out = np.full_like(flat, np.nan)
    complete = np.isfinite(flat).all(axis=1)
    if complete.any():
        hull = _upper_hull_many(x, flat[complete])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[complete] = np.where(hull > 0, flat[complete] / hull, np.nan)
    for k in np.flatnonzero(~complete):
        ok = np.isfinite(flat[k])
        if ok.sum() < 2:
            continue
        hull = _upper_hull_many(x[ok], flat[k, ok][None])[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[k, ok] = np.where(hull > 0, flat[k, ok] / hull, np.nan)
    result = np.empty_like(out)
    result[:, order] = out
    return result.reshape(values.shape)


def load_irradiance(path: str, wavelengths_nm: F64Array) -> F64Array:
    """Relative illumination spectrum from a CSV (column ``irradiance_rel`` as the simulator
    writes in spectra.csv, else the first spectrum column), on the sensor's bands; dividing
    at-sensor signal by it gives apparent reflectance (up to one scale, which SAM ignores)."""
    from hyperspectral.library import load_library

    lib = load_library(path)
    name = "irradiance_rel" if "irradiance_rel" in lib.names else lib.names[0]
    values = lib.reflectance(name, wavelengths_nm)
    if not np.isfinite(values).all():
        raise HyperspectralError(f"{path}: {name} does not cover the sensor's bands")
    if (values <= 0).all():
        raise HyperspectralError(f"{path}: {name} is zero everywhere")
    return values
