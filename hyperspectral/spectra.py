"""A small built-in library of reflectance spectra, 400–2500 nm, for the mine's zones.

The spectra are **synthetic stand-ins, not measurements**: each is a smooth continuum
(monotone cubic through a few anchor reflectances) multiplied by Gaussian absorption
bands placed at the band centres the literature gives for that material. They exist so
the product (the simulator, the demo, the tests) needs no downloaded library, while a
classifier still sees the diagnostic features in the right places:

- jarosite: Fe³⁺ 0.43 µm (sharp) and ~0.91 µm, OH/H₂O 1.47 and 1.85 µm, Fe–OH 2.265 µm
  (Bishop & Murad 2005; Crowley et al. 2003)
- schwertmannite: broad Fe³⁺ ~0.92 µm with a 0.48 µm shoulder, water 1.45 and 1.95 µm
  (Bishop & Murad 1996)
- goethite/hematite (oxidised ore): charge-transfer edge below 0.55 µm, 0.48 µm, 0.65 µm
  shoulder, crystal-field band 0.86–0.93 µm (Hunt 1977; Morris et al. 1985)
- kaolinite: OH doublets 1.395/1.415 µm and 2.165/2.206 µm (Clark et al. 1990)
- calcite: CO₃ 2.335 µm, weaker 1.87, 1.99, 2.16 µm (Gaffey 1986)
- granite host rock: weak Fe²⁺ ~1.0 µm, sericite Al–OH 2.20 µm, water 1.41/1.91 µm
- water (acid seepage pond, iron-laden): dark, nearly black beyond 0.9 µm
- vegetation (dry steppe grass): chlorophyll 0.45/0.67 µm, red edge, water 0.97, 1.20,
  1.45, 1.94 µm

Compare with measured libraries (USGS splib07) for real work; here only band positions
and rough depths are meant to be right. Everything is deterministic and cheap to
evaluate on any wavelength grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

F64Array = npt.NDArray[np.float64]

WAVELENGTH_MIN_NM: Final = 400.0
WAVELENGTH_MAX_NM: Final = 2500.0


def wavelength_grid(step_nm: float = 10.0) -> F64Array:
    """The library's default grid: 400–2500 nm inclusive at ``step_nm``."""
    count = round((WAVELENGTH_MAX_NM - WAVELENGTH_MIN_NM) / step_nm) + 1
    return np.linspace(WAVELENGTH_MIN_NM, WAVELENGTH_MAX_NM, count)


def band_centres(count: int) -> F64Array:
    """``count`` evenly spaced band centres spanning 400–2500 nm (a sensor's bands)."""
    if count < 2:
        raise ValueError(f"a spectrometer needs at least 2 bands, got {count}")
    return np.linspace(WAVELENGTH_MIN_NM, WAVELENGTH_MAX_NM, count)


@dataclass(frozen=True)
class Absorption:
    """A Gaussian absorption band: ``1 - depth * exp(-4 ln2 (λ - centre)² / fwhm²)``."""

    centre_nm: float
    fwhm_nm: float
    depth: float


@dataclass(frozen=True)
class SyntheticSpectrum:
    """A synthetic reflectance spectrum: continuum × Π (1 - Gaussian absorption)."""

    name: str
    material: str
    continuum: tuple[tuple[float, float], ...]
    """(wavelength nm, reflectance) anchors; a monotone cubic passes through them."""
    absorptions: tuple[Absorption, ...]
    note: str = ""

    def reflectance(self, wavelengths_nm: npt.ArrayLike) -> F64Array:
        """Reflectance (0–1) at ``wavelengths_nm``; flat beyond the anchors."""
        from scipy.interpolate import PchipInterpolator

        wl = np.asarray(wavelengths_nm, dtype=np.float64)
        anchors = np.array(self.continuum, dtype=np.float64)
        curve = PchipInterpolator(anchors[:, 0], anchors[:, 1], extrapolate=False)
        clipped = np.clip(wl, anchors[0, 0], anchors[-1, 0])
        refl = np.asarray(curve(clipped), dtype=np.float64)
        k = 4.0 * math.log(2.0)
        for band in self.absorptions:
            refl = refl * (
                1.0 - band.depth * np.exp(-k * (wl - band.centre_nm) ** 2 / band.fwhm_nm**2)
            )
        return np.clip(refl, 0.0, 1.0)


def _a(centre_nm: float, fwhm_nm: float, depth: float) -> Absorption:
    return Absorption(centre_nm, fwhm_nm, depth)


_SPECTRA: tuple[SyntheticSpectrum, ...] = (
    SyntheticSpectrum(
        "granite",
        "host rock: granite (quartz, feldspar, minor biotite/sericite)",
        ((400, 0.16), (550, 0.24), (750, 0.30), (1300, 0.34), (1800, 0.35), (2500, 0.30)),
        (_a(1000, 250, 0.06), _a(1410, 40, 0.08), _a(1910, 60, 0.10), _a(2200, 40, 0.08)),
    ),
    SyntheticSpectrum(
        "limestone",
        "limestone / marble: calcite",
        ((400, 0.45), (600, 0.58), (1000, 0.64), (1800, 0.66), (2300, 0.60), (2500, 0.50)),
        (
            _a(1870, 40, 0.05),
            _a(1990, 40, 0.07),
            _a(2160, 40, 0.06),
            _a(2335, 70, 0.30),
            _a(2500, 50, 0.25),
        ),
    ),
    SyntheticSpectrum(
        "oxidised_ore",
        "oxidised ore: goethite + hematite gossan",
        ((400, 0.05), (500, 0.07), (580, 0.14), (750, 0.30), (1300, 0.34), (2500, 0.30)),
        (_a(480, 50, 0.25), _a(650, 60, 0.12), _a(900, 180, 0.35), _a(1920, 70, 0.06)),
    ),
    SyntheticSpectrum(
        "jarosite",
        "jarosite-stained ground (acid sulphate, pH < 3)",
        ((400, 0.08), (480, 0.14), (560, 0.34), (700, 0.46), (1300, 0.52), (2500, 0.42)),
        (
            _a(435, 25, 0.35),
            _a(910, 160, 0.30),
            _a(1470, 40, 0.18),
            _a(1850, 50, 0.12),
            _a(2265, 50, 0.30),
        ),
    ),
    SyntheticSpectrum(
        "schwertmannite",
        "schwertmannite precipitate (acid mine drainage, pH 3–4)",
        ((400, 0.05), (500, 0.08), (600, 0.20), (750, 0.30), (1300, 0.36), (2500, 0.26)),
        (_a(480, 60, 0.20), _a(920, 200, 0.35), _a(1450, 80, 0.20), _a(1950, 100, 0.28)),
    ),
    SyntheticSpectrum(
        "kaolinite",
        "kaolinite clay (argillic alteration)",
        ((400, 0.55), (600, 0.72), (1000, 0.80), (1800, 0.80), (2500, 0.70)),
        (
            _a(1395, 20, 0.15),
            _a(1415, 20, 0.18),
            _a(1910, 50, 0.10),
            _a(2165, 25, 0.22),
            _a(2206, 25, 0.35),
            _a(2320, 30, 0.08),
            _a(2380, 30, 0.10),
        ),
    ),
    SyntheticSpectrum(
        "water",
        "seepage water (iron-laden acid pond)",
        (
            (400, 0.035),
            (500, 0.045),
            (600, 0.065),
            (700, 0.045),
            (800, 0.020),
            (900, 0.008),
            (1100, 0.004),
            (2500, 0.003),
        ),
        (),
        "liquid water absorbs strongly beyond 0.9 µm",
    ),
    SyntheticSpectrum(
        "vegetation",
        "steppe grass and shrubs",
        (
            (400, 0.04),
            (500, 0.06),
            (550, 0.11),
            (640, 0.06),
            (690, 0.06),
            (760, 0.42),
            (1100, 0.44),
            (1300, 0.40),
            (1650, 0.32),
            (2200, 0.18),
            (2500, 0.10),
        ),
        (
            _a(450, 40, 0.30),
            _a(670, 35, 0.45),
            _a(970, 50, 0.08),
            _a(1200, 70, 0.12),
            _a(1450, 110, 0.40),
            _a(1940, 120, 0.55),
            _a(2100, 60, 0.06),
        ),
    ),
)

LIBRARY: Final = MappingProxyType({s.name: s for s in _SPECTRA})
"""The built-in spectra by name."""


def reflectance(name: str, wavelengths_nm: npt.ArrayLike | None = None) -> F64Array:
    """Reflectance of library spectrum ``name`` (default: the 10 nm grid)."""
    try:
        spectrum = LIBRARY[name]
    except KeyError:
        raise KeyError(f"no built-in spectrum {name!r} (have {', '.join(LIBRARY)})") from None
    wl = wavelength_grid() if wavelengths_nm is None else wavelengths_nm
    return spectrum.reflectance(wl)


def library_matrix(names: list[str], wavelengths_nm: npt.ArrayLike) -> F64Array:
    """(len(names), bands) reflectances, one row per name (endmember matrix)."""
    return np.stack([reflectance(n, wavelengths_nm) for n in names])


# --- illumination ------------------------------------------------------------------------


def _planck(wavelengths_nm: F64Array, temperature_k: float) -> F64Array:
    wl_m = wavelengths_nm * 1e-9
    c2 = 1.4387769e-2  # m·K
    return np.asarray(1.0 / (wl_m**5 * np.expm1(c2 / (wl_m * temperature_k))), dtype=np.float64)


def solar_irradiance(wavelengths_nm: npt.ArrayLike) -> F64Array:
    """Relative solar irradiance at the ground (max 1): a 5778 K blackbody through an
    atmosphere with O₂ (760 nm) and water vapour (940, 1140, 1380, 1870 nm) bands."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    shape = _planck(wl, 5778.0)
    k = 4.0 * math.log(2.0)
    for centre, fwhm, depth in (
        (760, 10, 0.5),
        (940, 50, 0.45),
        (1140, 60, 0.4),
        (1380, 90, 0.97),
        (1870, 120, 0.98),
        (2500, 200, 0.3),
    ):
        shape = shape * (1.0 - depth * np.exp(-k * (wl - centre) ** 2 / fwhm**2))
    return np.asarray(shape / shape.max(), dtype=np.float64)


def halogen_irradiance(wavelengths_nm: npt.ArrayLike, temperature_k: float = 3000.0) -> F64Array:
    """Relative irradiance of a halogen headlamp (blackbody at ``temperature_k``), max 1."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    shape = _planck(wl, temperature_k)
    return np.asarray(shape / shape.max(), dtype=np.float64)


# --- colour --------------------------------------------------------------------------------

_RGB_RESPONSE_NM: Final = ((610.0, 30.0), (540.0, 32.0), (465.0, 25.0))
"""Gaussian (centre, sigma) responses of a white-balanced RGB camera: R, G, B."""


def rgb_from_reflectance(refl: npt.ArrayLike, wavelengths_nm: npt.ArrayLike) -> F64Array:
    """Linear RGB (0–1) a white-balanced camera records for reflectance spectra.

    ``refl`` is (..., bands) on ``wavelengths_nm``; a flat spectrum of value r gives
    (r, r, r), so colours agree with the spectra the hyperspectral sensor sees.
    """
    r = np.asarray(refl, dtype=np.float64)
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    out = []
    for centre, sigma in _RGB_RESPONSE_NM:
        weight = np.exp(-0.5 * ((wl - centre) / sigma) ** 2)
        out.append((r * weight).sum(axis=-1) / weight.sum())
    return np.stack(out, axis=-1)
