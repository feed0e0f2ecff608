"""Spectral libraries: the bundled USGS mine-contamination library and user libraries.

A :class:`SpectralLibrary` holds named reflectance spectra on one band set (centres and
FWHM in nm), each with a *class* (``jarosite``, ``vegetation``...; several spectra may
share a class). Missing points are NaN. Libraries load from

- the bundled file (``hyperspectral/data/usgs_splib07_mine.csv``): measured USGS splib07
  spectra (public domain, Kokaly et al. 2017, USGS Data Series 1035) convolved to
  AVIRIS-1995 bands, selected for mine contamination, derived by
  ``scripts/derive_hsi_library.py`` (see ``hyperspectral/data/README.md``);
- ENVI spectral libraries (``.sli`` + ``.hdr``), e.g. the full splib07/splib06;
- CSV: a wavelength column (``wavelength_nm``/``wavelength_um``/``wavelength``), an
  optional ``fwhm_*`` column, one column per spectrum (header ``class: name`` or just
  ``name``); blank cells are missing points; ``#`` lines are comments.

and are resampled to a sensor's bands by FWHM (:mod:`hyperspectral.resample`).
This module imports only numpy/scipy (the simulator uses it).
"""

from __future__ import annotations

import csv
import functools
import io
import warnings
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from hyperspectral.minerals import known_minerals, sample_mineral
from hyperspectral.resample import resample

F64Array = npt.NDArray[np.float64]

BUNDLED_FILE: Final = "usgs_splib07_mine.csv"
MISSING_BELOW: Final = -1e30
"""USGS marks missing points with -1.23e34."""


@dataclass(frozen=True)
class SpectralLibrary:
    """Named spectra ``(n, bands)`` on ``wavelengths_nm`` (NaN = missing point)."""

    names: tuple[str, ...]
    classes: tuple[str, ...]
    wavelengths_nm: F64Array
    fwhm_nm: F64Array | None
    spectra: F64Array
    source: str = ""

    def __post_init__(self) -> None:
        n, bands = self.spectra.shape
        if len(self.names) != n or len(self.classes) != n:
            raise HyperspectralError(f"{self.source}: {n} spectra but {len(self.names)} names")
        if len(self.wavelengths_nm) != bands:
            raise HyperspectralError(
                f"{self.source}: {bands} bands but {len(self.wavelengths_nm)} wavelengths"
            )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def class_names(self) -> tuple[str, ...]:
        """The distinct classes, in first-seen order."""
        return tuple(dict.fromkeys(self.classes))

    def index(self, name: str) -> int:
        """Index of a spectrum by exact name, by class (first of it), or by unique prefix."""
        if name in self.names:
            return self.names.index(name)
        if name in self.classes:
            return self.classes.index(name)
        hits = [i for i, n in enumerate(self.names) if n.lower().startswith(name.lower())]
        if len(hits) == 1:
            return hits[0]
        some = ", ".join(self.class_names[:20])
        raise HyperspectralError(
            f"{self.source}: no spectrum {name!r}"
            + (f" ({len(hits)} names start with it)" if hits else f" (classes: {some})")
        )

    def subset(self, selected: list[int] | list[str]) -> SpectralLibrary:
        """A library of the given spectra (indices, names or classes; a class takes all;
        a mineral no class or name matches takes every pure sample of it, so
        ``jarosite`` picks the 27 jarosite spectra of the USGS splib07 ENVI library)."""
        idx: list[int] = []
        for item in selected:
            if isinstance(item, int):
                idx.append(item)
            elif item in self.classes and item not in self.names:
                idx.extend(i for i, c in enumerate(self.classes) if c == item)
            elif samples := self._samples_of(item):
                idx.extend(samples)
            else:
                idx.append(self.index(item))
        return replace(
            self,
            names=tuple(self.names[i] for i in idx),
            classes=tuple(self.classes[i] for i in idx),
            spectra=self.spectra[idx],
        )

    def _samples_of(self, mineral: str) -> list[int]:
        """Spectra that are pure samples of ``mineral`` when it names no spectrum, class
        or unique prefix (else [])."""
        key = mineral.lower()
        if key not in known_minerals() or mineral in self.names or mineral in self.classes:
            return []
        prefixed = [n for n in self.names if n.lower().startswith(key)]
        if len(prefixed) == 1:
            return []
        return [i for i, n in enumerate(self.names) if sample_mineral(n) == key]

    def resample(
        self, wavelengths_nm: npt.ArrayLike, fwhm_nm: npt.ArrayLike | None = None
    ) -> SpectralLibrary:
        """The library on a sensor's bands (centres, FWHM; FWHM from spacing if None)."""
        dst = np.asarray(wavelengths_nm, dtype=np.float64)
        dst_fwhm = None if fwhm_nm is None else np.asarray(fwhm_nm, dtype=np.float64)
        values = resample(self.spectra, self.wavelengths_nm, dst, self.fwhm_nm, dst_fwhm)
        return replace(self, wavelengths_nm=dst, fwhm_nm=dst_fwhm, spectra=values)

    def reflectance(self, name: str, wavelengths_nm: npt.ArrayLike | None = None) -> F64Array:
        """One spectrum, optionally resampled to ``wavelengths_nm`` (FWHM from spacing)."""
        i = self.index(name)
        if wavelengths_nm is None:
            return np.asarray(self.spectra[i], dtype=np.float64)
        one = resample(self.spectra[i : i + 1], self.wavelengths_nm, wavelengths_nm, self.fwhm_nm)
        return np.asarray(one[0], dtype=np.float64)

    def class_mean(self, wavelengths_nm: npt.ArrayLike | None = None) -> SpectralLibrary:
        """One spectrum per class: the mean of its members (NaN-aware)."""
        lib = self if wavelengths_nm is None else self.resample(wavelengths_nm)
        classes = lib.class_names
        rows = []
        for c in classes:
            members = lib.spectra[[i for i, k in enumerate(lib.classes) if k == c]]
            with np.errstate(all="ignore"):
                rows.append(
                    np.nanmean(members, axis=0) if np.isfinite(members).any() else members[0]
                )
        return replace(lib, names=classes, classes=classes, spectra=np.stack(rows))


# --- loaders ------------------------------------------------------------------------------


def _split_header(column: str) -> tuple[str, str]:
    cls, sep, name = column.partition(": ")
    return (cls.strip(), name.strip()) if sep else (column.strip(), column.strip())


def parse_csv(text: str, source: str) -> SpectralLibrary:
    """A library from CSV text (see the module docstring)."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    if len(rows) < 3:
        raise HyperspectralError(f"{source}: a library CSV needs a header and 2+ bands")
    header = [h.strip() for h in rows[0]]
    first = header[0].lower()
    if not first.startswith("wavelength"):
        raise HyperspectralError(f"{source}: first column must be wavelength_nm or wavelength_um")
    has_fwhm = len(header) > 1 and header[1].lower().startswith(("fwhm", "bandwidth"))
    start = 2 if has_fwhm else 1
    for number, r in enumerate(rows[1:], start=2):
        if len(r) > len(header):
            raise HyperspectralError(
                f"{source}: row {number} has {len(r)} cells, the header {len(header)} columns"
            )
    try:
        table = np.array(
            [
                [float(v) if v.strip() else np.nan for v in r + [""] * (len(header) - len(r))]
                for r in rows[1:]
            ],
            dtype=np.float64,
        )
    except ValueError as err:
        raise HyperspectralError(f"{source}: not a number in the table ({err})") from None
    scale = 1000.0 if ("um" in first or "micro" in first or np.nanmax(table[:, 0]) < 100) else 1.0
    wl = table[:, 0] * scale
    if np.isnan(wl).any():
        raise HyperspectralError(f"{source}: a wavelength cell is empty")
    if not np.isfinite(wl).all() or (wl <= 0).any():
        raise HyperspectralError(f"{source}: wavelengths must be finite and > 0")
    fwhm = table[:, 1] * scale if has_fwhm else None
    if fwhm is not None and not (np.isfinite(fwhm) & (fwhm > 0)).all():
        raise HyperspectralError(f"{source}: {header[1]} values must be finite and > 0")
    spectra = table[:, start:].T.copy()
    if np.isinf(spectra).any():
        raise HyperspectralError(f"{source}: a spectrum holds an infinite value")
    spectra[spectra < MISSING_BELOW] = np.nan
    parts = [_split_header(h) for h in header[start:]]
    if not parts:
        raise HyperspectralError(f"{source}: no spectrum columns")
    return SpectralLibrary(
        names=tuple(p[1] for p in parts),
        classes=tuple(p[0] for p in parts),
        wavelengths_nm=wl,
        fwhm_nm=fwhm,
        spectra=spectra,
        source=source,
    )


def load_sli(path: Path) -> SpectralLibrary:
    """An ENVI spectral library (``.sli`` with its ``.hdr``); USGS wavelength/resolution
    rows (names starting ``Wavelengths``/``Resolution``) and splib07's 680 ``error bars to
    preceding`` rows (the uncertainty of the spectrum before, not a material: as a class
    they won pixels) are dropped."""
    from spectral.io import envi

    from hyperspectral.cube import wavelengths_to_nm

    header = path if path.suffix.lower() == ".hdr" else path.with_suffix(".hdr")
    data = path.with_suffix(".sli") if path.suffix.lower() == ".hdr" else path
    try:
        lib = envi.open(str(header), str(data))
    except FileNotFoundError as err:
        raise HyperspectralError(f"{path}: no such file ({err.filename})") from None
    except Exception as err:
        raise HyperspectralError(f"{path}: not an ENVI spectral library ({err})") from None
    if not hasattr(lib, "names"):
        raise HyperspectralError(f"{header}: not an ENVI spectral library (no 'spectra names')")
    units = lib.metadata.get("wavelength units")
    if lib.bands.centers is None:
        raise HyperspectralError(f"{header}: no 'wavelength' field")
    wl = wavelengths_to_nm(np.asarray(lib.bands.centers, np.float64), units, str(header))
    fwhm = None
    if lib.bands.bandwidths:
        fwhm = wavelengths_to_nm(np.asarray(lib.bands.bandwidths, np.float64), units, str(header))
        if np.nanmax(fwhm) < 1 and np.nanmax(wl) > 100:
            fwhm = fwhm * 1000.0
    spectra = np.asarray(lib.spectra, dtype=np.float64).copy()
    spectra[spectra < MISSING_BELOW] = np.nan
    not_spectra = ("wavelengths", "resolution", "error bars")
    keep = [i for i, n in enumerate(lib.names) if not n.lower().startswith(not_spectra)]
    names = tuple(str(lib.names[i]).strip() for i in keep)
    return SpectralLibrary(names, names, wl, fwhm, spectra[keep], source=str(header))


@functools.lru_cache(maxsize=1)
def bundled_library() -> SpectralLibrary:
    """The bundled USGS splib07 mine-contamination library (AVIRIS-95 bands); cached, its
    arrays read-only."""
    text = resources.files("hyperspectral").joinpath("data", BUNDLED_FILE).read_text("utf-8")
    lib = parse_csv(text, f"bundled {BUNDLED_FILE}")
    for array in (lib.wavelengths_nm, lib.fwhm_nm, lib.spectra):
        if array is not None:
            array.flags.writeable = False
    return lib


MEASURED_STAND_INS: Final = MappingProxyType(
    {
        "granite": {"quartz": 0.55, "muscovite": 0.3, "montmorillonite": 0.15},
        "limestone": {"calcite": 1.0},
        "oxidised_ore": {"goethite": 0.6, "hematite": 0.4},
        "kaolinite": {"kaolinite": 1.0},
        "jarosite": {"jarosite": 1.0},
        "schwertmannite": {"schwertmannite": 1.0},
        "water": {"water": 1.0},
        "vegetation": {"vegetation": 1.0},
    }
)
"""Measured replacements of the synthetic :mod:`hyperspectral.spectra` materials: an areal
(linear) mixture of bundled class means. Granite host rock: quartz, muscovite (sericite)
and clay; oxidised ore: a goethite/hematite gossan."""


def measured_reflectance(
    material: str, wavelengths_nm: npt.ArrayLike, fwhm_nm: npt.ArrayLike | None = None
) -> F64Array:
    """Reflectance of a material (a :data:`MEASURED_STAND_INS` key or a bundled class) from
    the measured USGS spectra, resampled to the sensor's bands by FWHM."""
    mixture = MEASURED_STAND_INS.get(material) or {material: 1.0}
    lib = bundled_library()
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    total = np.zeros(len(wl))
    for cls, weight in mixture.items():
        members = lib.subset([cls]).resample(wl, fwhm_nm)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a band no member covers: NaN
            total += weight * np.nanmean(members.spectra, axis=0)
    if not np.isfinite(total).all():
        raise HyperspectralError(
            f"{material}: the bundled library does not cover "
            f"{wl[~np.isfinite(total)].min():.0f} nm (range {lib.wavelengths_nm.min():.0f}-"
            f"{lib.wavelengths_nm.max():.0f} nm)"
        )
    return total


def load_library(path: Path | str | None = None) -> SpectralLibrary:
    """The bundled library (``None`` or ``"bundled"``), an ENVI ``.sli``/``.hdr``, or CSV."""
    if path is None or str(path) == "bundled":
        return bundled_library()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in {".sli", ".hdr"}:
        return load_sli(path)
    if suffix in {".csv", ".txt"}:
        try:
            return parse_csv(path.read_text(encoding="utf-8"), str(path))
        except FileNotFoundError:
            raise HyperspectralError(f"{path}: no such file") from None
        except UnicodeDecodeError:
            raise HyperspectralError(f"{path}: not a text (UTF-8) CSV file") from None
    raise HyperspectralError(f"{path}: unknown library format (want .sli/.hdr or .csv)")
