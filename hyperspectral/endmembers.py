"""Endmember extraction (VCA, N-FINDR, ATGP) that gives the same answer whatever the seed.

All three pick *pixels* of the cube as endmembers (pure-pixel methods):

- **VCA** (Nascimento & Bioucas-Dias 2005): project the data onto its signal subspace
  (projective projection at high SNR, PCA plus a constant at low SNR, as the paper), then
  k times take the pixel most extreme along a random direction orthogonal to the ones
  picked so far. The random directions make single runs seed dependent: on Jasper Ridge
  one run misses an endmember on 4 seeds of 10.
- **N-FINDR** (Winter 1999): the k pixels spanning the simplex of largest volume in the
  (k−1)-dimensional PCA space, by replacing one vertex at a time with the pixel that grows
  the volume most (all pixels at once: the volume is linear in one vertex), from a random
  start.
- **ATGP** (Ren & Chang 2003): the brightest pixel, then k−1 times the pixel with the
  largest residual orthogonal to the ones picked. Deterministic (seed and restarts do not
  matter).

Stability: :func:`extract` runs the method ``restarts`` times from independent random
streams of the seed and keeps the set whose FCLS reconstruction RMSE over the pixels is
lowest (a set missing a material cannot reconstruct the pixels of that material). On
Jasper Ridge every seed 0–9 then finds all four endmembers within 0.15 rad.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from hyperspectral.unmix import fcls, reconstruction_rmse

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]

METHODS: Final = ("vca", "nfindr", "atgp")
DEFAULT_RESTARTS: Final = 10
MAX_SCORE_PIXELS: Final = 20000
"""Pixels (evenly spaced) on which each restart's reconstruction RMSE is computed."""
NFINDR_MAX_SWEEPS: Final = 20
REFINE_ITERATIONS: Final = 3
REFINE_MIN_ABUNDANCE: Final = 0.9
"""A refined endmember is the mean of the pixels at least this pure (FCLS abundance)."""


@dataclass(frozen=True)
class Extraction:
    """The endmembers found: the vertex pixels' ``indices`` into the pixels given, the
    endmember ``spectra`` (k, bands: the refined ones, or the vertices' own spectra), the
    reconstruction RMSE of the kept vertices and of every restart (the kept one lowest),
    and how many pixels each refined endmember averages."""

    method: str
    indices: I64Array
    spectra: F64Array
    rmse: float
    restart_rmse: list[float] = field(default_factory=list)
    seed: int = 0
    refined_from: list[int] = field(default_factory=list)


def _pca(x: F64Array, dims: int) -> tuple[F64Array, F64Array]:
    """(mean, leading ``dims`` eigenvectors (bands, dims) of the covariance)."""
    mean = x.mean(axis=0)
    covariance = x.T @ x / len(x) - np.outer(mean, mean)  # no centred copy of the pixels
    return mean, np.linalg.svd(covariance)[0][:, :dims]


def vca_space(pixels: F64Array, k: int) -> F64Array:
    """(n, k) pixels in VCA's space: PCA to k−1 dimensions plus a constant (the paper's
    low-SNR projection, used at every SNR: on Jasper Ridge, 30 dB, where the paper
    switches to the projective projection, the projective picks reconstruct the cube worse,
    FCLS RMSE 0.063 against 0.019, one material missed on every seed)."""
    mean, vectors = _pca(pixels, k - 1)
    low = pixels @ vectors - mean @ vectors
    c = float(np.sqrt((low * low).sum(axis=1).max()))
    return np.hstack([low, np.full((len(pixels), 1), c)])


def vca(y: F64Array, k: int, rng: np.random.Generator) -> I64Array:
    """Indices of k endmember pixels by vertex component analysis of pixels ``y`` in
    :func:`vca_space`: k times, the pixel most extreme along a random direction orthogonal
    to the ones picked so far."""
    basis = np.zeros((k, k))
    basis[-1, 0] = 1.0
    picked = np.zeros(k, np.int64)
    for i in range(k):
        w = rng.standard_normal(k)
        f = w - basis @ (np.linalg.pinv(basis) @ w)
        f /= np.linalg.norm(f)
        picked[i] = int(np.argmax(np.abs(y @ f)))
        basis[:, i] = y[picked[i]]
    return picked


def atgp(pixels: F64Array, k: int) -> I64Array:
    """Indices of k endmember pixels by the automatic target generation process."""
    power = np.einsum("ij,ij->i", pixels, pixels)
    picked = [int(np.argmax(power))]
    for _ in range(k - 1):
        q, _ = np.linalg.qr(pixels[picked].T)
        projected = pixels @ q  # |x − QQᵀx|² = |x|² − |Qᵀx|²: no (n, bands) residual
        picked.append(int(np.argmax(power - np.einsum("ij,ij->i", projected, projected))))
    return np.array(picked, np.int64)


def nfindr_space(pixels: F64Array, k: int) -> F64Array:
    """(n, k) pixels in N-FINDR's space: a leading 1, then PCA to k−1 dimensions; the
    simplex volume of k pixels is |det| of their rows (up to (k−1)!)."""
    mean, vectors = _pca(pixels, k - 1)
    return np.hstack([np.ones((len(pixels), 1)), pixels @ vectors - mean @ vectors])


def nfindr(z: F64Array, k: int, rng: np.random.Generator, start: I64Array) -> I64Array:
    """Indices of k endmember pixels spanning the largest simplex, pixels ``z`` in
    :func:`nfindr_space`, from k random pixels (``start`` where those are degenerate)."""
    picked = rng.choice(len(z), size=k, replace=False)
    if abs(np.linalg.det(z[picked])) < 1e-12:
        picked = start.copy()
    for _ in range(NFINDR_MAX_SWEEPS):
        changed = False
        for i in range(k):
            # det(E with row i replaced by z_p) = det(E) · (z_p E⁻¹)_i (Cramer's rule)
            volumes = np.abs(z @ np.linalg.inv(z[picked])[:, i])
            best = int(np.argmax(volumes))
            if volumes[best] > 1.0 + 1e-9 and best not in picked:
                picked[i] = best
                changed = True
        if not changed:
            break
    return np.asarray(picked, np.int64)


def score_pixels(pixels: F64Array) -> F64Array:
    """At most :data:`MAX_SCORE_PIXELS` pixels, evenly spaced, to score restarts on."""
    step = max(1, len(pixels) // MAX_SCORE_PIXELS)
    return pixels[::step]


def refine(pixels: F64Array, endmembers: F64Array) -> tuple[F64Array, list[int]]:
    """Endmembers moved from the extreme vertex pixels to the centre of their pure pixels:
    :data:`REFINE_ITERATIONS` times, each becomes the mean of the pixels whose FCLS
    abundance of it is at least :data:`REFINE_MIN_ABUNDANCE` (none: it stays).

    Why: a simplex vertex is the most extreme pixel, e.g. the brightest tree crown or the
    noisiest dark water pixel, whose spectrum differs from the material's typical pure
    pixel (Jasper Ridge: 0.16 rad for tree, 0.25 for water); the mean of the pure pixels
    is what a ground-truth endmember is (0.08-0.13 rad), and every method converges to
    it. Returns the endmembers and how many pixels each averages."""
    current = endmembers.copy()
    counts = [1] * len(current)
    for _ in range(REFINE_ITERATIONS):
        abundances = fcls(pixels, current)
        for j in range(len(current)):
            pure = abundances[:, j] >= REFINE_MIN_ABUNDANCE
            if pure.any():
                current[j] = pixels[pure].mean(axis=0)
                counts[j] = int(pure.sum())
    return current, counts


def extract(
    pixels: npt.ArrayLike,
    k: int,
    method: str = "vca",
    seed: int = 0,
    restarts: int = DEFAULT_RESTARTS,
    refined: bool = True,
) -> Extraction:
    """k endmembers of (n, bands) finite ``pixels``: the best of ``restarts`` runs by
    FCLS reconstruction RMSE (ATGP: one run, it has no randomness), then (``refined``)
    moved to the centre of their purest pixels (:func:`refine`)."""
    x = np.asarray(pixels, dtype=np.float64)
    if method not in METHODS:
        raise HyperspectralError(f"--method {method!r}: want one of {', '.join(METHODS)}")
    if k < 2:
        raise HyperspectralError(f"--extract {k}: want at least 2 endmembers")
    if restarts < 1:
        raise HyperspectralError(f"--restarts {restarts}: want at least 1")
    if len(x) < k or k > x.shape[1]:
        raise HyperspectralError(
            f"--extract {k}: more endmembers than pixels with data ({len(x)}) or bands "
            f"({x.shape[1]})"
        )
    scoring = score_pixels(x)
    streams = np.random.SeedSequence(seed).spawn(1 if method == "atgp" else restarts)
    space = vca_space(x, k) if method == "vca" else nfindr_space(x, k)
    start = atgp(x, k) if method != "vca" else np.arange(k)
    best: tuple[float, I64Array] | None = None
    tried: list[float] = []
    seen: dict[tuple[int, ...], float] = {}
    for stream in streams:
        rng = np.random.default_rng(stream)
        if method == "vca":
            picked = vca(space, k, rng)
        elif method == "nfindr":
            picked = nfindr(space, k, rng, start)
        else:
            picked = start
        key = tuple(sorted(int(i) for i in picked))
        if key not in seen:
            seen[key] = _set_rmse(scoring, x[picked])
        tried.append(seen[key])
        if best is None or seen[key] < best[0]:
            best = (seen[key], picked)
    assert best is not None
    spectra, counts = refine(x, x[best[1]]) if refined else (x[best[1]], [1] * k)
    return Extraction(method, best[1], spectra, best[0], tried, seed, counts)


def _set_rmse(pixels: F64Array, endmembers: F64Array) -> float:
    """RMSE of the FCLS reconstruction of ``pixels``; inf for a degenerate set."""
    if len({tuple(e) for e in endmembers}) < len(endmembers):
        return float("inf")
    try:
        abundances = fcls(pixels, endmembers)
    except HyperspectralError:  # linearly dependent picks
        return float("inf")
    return float(np.sqrt(np.nanmean(reconstruction_rmse(pixels, abundances, endmembers) ** 2)))


# --- endmember files ----------------------------------------------------------------------


@dataclass(frozen=True)
class Endmembers:
    """Endmember spectra on the cube's bands: ``spectra`` (k, bands), NaN where a library
    does not cover a band; ``names``; where they came from (``how``: the file and whether
    it was resampled)."""

    names: tuple[str, ...]
    spectra: F64Array
    how: str


def read_endmembers(
    path: Path | str,
    bands: int,
    wavelengths_nm: F64Array | None,
    fwhm_nm: F64Array | None = None,
    classes: list[str] | None = None,
    what: str = "--endmembers",
) -> Endmembers:
    """Endmembers from a file, on the cube's ``bands``:

    - a spectral library (``bundled``, ENVI ``.sli``/``.hdr`` with wavelengths, CSV with a
      wavelength column): resampled to the cube's band centres (needs them); ``classes``
      picks spectra, a class giving its mean;
    - spectra already on the cube's bands (no wavelengths needed): CSV whose first column
      is ``band`` (as ``endmembers.csv`` is written for a cube without wavelengths), an
      ENVI library without wavelengths, or a ``.mat`` variable ``M`` (bands × k or k × bands).
    """
    from hyperspectral.library import load_library

    path = Path(path) if str(path) != "bundled" else path
    on_bands = _on_band_spectra(path, what)
    if on_bands is not None:
        names, spectra = on_bands
        if classes:
            keep = [names.index(c) for c in classes if c in names]
            missing = [c for c in classes if c not in names]
            if missing:
                raise HyperspectralError(f"{what} {path}: no spectrum {missing[0]!r}")
            names, spectra = [names[i] for i in keep], spectra[keep]
        if spectra.shape[1] != bands:
            raise HyperspectralError(
                f"{what} {path}: the spectra have {spectra.shape[1]} bands, the cube {bands}"
            )
        return Endmembers(tuple(names), spectra, f"{path} (on the cube's bands)")
    library = load_library(path)
    if classes:
        library = library.subset(list(classes)).class_mean()
    if wavelengths_nm is None:
        raise HyperspectralError(
            f"{what} {path}: a spectral library needs the cube's band centres to be resampled "
            "to its bands; give --wavelengths FILE (one nm value per band)"
        )
    same = len(library.wavelengths_nm) == bands and np.allclose(
        library.wavelengths_nm, wavelengths_nm, atol=1e-3
    )
    if same:
        return Endmembers(library.names, library.spectra.copy(), f"{library.source}")
    resampled = library.resample(wavelengths_nm, fwhm_nm)
    return Endmembers(
        resampled.names, resampled.spectra, f"{library.source} (resampled to the cube's bands)"
    )


def _on_band_spectra(path: Path | str, what: str) -> tuple[list[str], F64Array] | None:
    """(names, (k, bands) spectra) of a file of spectra on the cube's bands, or None for a
    spectral library with wavelengths."""
    if str(path) == "bundled":
        return None
    path = Path(path)
    if not path.exists() and not path.with_suffix(".hdr").exists():
        raise HyperspectralError(f"{what} {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        return _mat_endmembers(path, what)
    if suffix in {".csv", ".txt"}:
        return _band_csv(path, what)
    if suffix in {".sli", ".hdr"}:
        header = path.with_suffix(".hdr")
        from hyperspectral.cube import parse_envi_fields

        try:
            fields = parse_envi_fields(header.read_text(encoding="latin-1"), str(header))
        except OSError as err:
            raise HyperspectralError(f"{what} {header}: cannot read it ({err})") from None
        if "wavelength" in fields:
            return None
        from spectral.io import envi

        try:
            lib = envi.open(str(header), str(header.with_suffix(".sli")))
        except Exception as err:
            raise HyperspectralError(
                f"{what} {path}: not an ENVI spectral library ({err})"
            ) from None
        names = [str(n).strip() for n in getattr(lib, "names", [])]
        spectra = np.asarray(lib.spectra, dtype=np.float64)
        return names or [f"endmember {i + 1}" for i in range(len(spectra))], spectra
    return None


def _band_csv(path: Path, what: str) -> tuple[list[str], F64Array] | None:
    """A CSV whose first column is ``band``: one column per endmember; else None."""
    import csv
    import io

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HyperspectralError(f"{what} {path}: cannot read it ({err})") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].lstrip().startswith("#")]
    if not rows or rows[0][0].strip().lower() != "band":
        return None
    names = [c.strip() for c in rows[0][1:]]
    try:
        values = np.array([[float(v) for v in r[1 : len(names) + 1]] for r in rows[1:]])
    except ValueError:
        raise HyperspectralError(f"{what} {path}: a value is not a number") from None
    if values.ndim != 2 or values.shape[1] != len(names) or len(names) == 0:
        raise HyperspectralError(f"{what} {path}: want a 'band' column and one per endmember")
    return names, values.T.copy()


def _mat_endmembers(path: Path, what: str) -> tuple[list[str], F64Array]:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as err:
        raise HyperspectralError(f"{what} {path}: not a MATLAB v5 file ({err})") from None
    if "M" not in mat or not isinstance(mat["M"], np.ndarray) or mat["M"].ndim != 2:
        have = ", ".join(k for k in mat if not k.startswith("__"))
        raise HyperspectralError(f"{what} {path}: no 2-D endmember variable 'M' (have {have})")
    m = np.asarray(mat["M"], dtype=np.float64)
    spectra = m.T if m.shape[0] >= m.shape[1] else m  # bands × k as unmixing sets store it
    return [f"M{i + 1}" for i in range(len(spectra))], spectra.copy()


def write_endmembers(
    out: Path, names: list[str], spectra: F64Array, wavelengths_nm: F64Array | None
) -> list[Path]:
    """``endmembers.csv`` (a ``wavelength_nm`` column, or ``band`` where the cube has no
    band centres, then one column per endmember) and the ENVI spectral library
    ``endmembers.sli``/``.hdr`` (``spectra names``; ``wavelength`` when known), both
    readable back by ``--endmembers``, ``load_library`` (with wavelengths) and spectral."""
    from spectral.io.envi import write_envi_header

    x_name, x = (
        ("wavelength_nm", wavelengths_nm)
        if wavelengths_nm is not None
        else ("band", np.arange(1, spectra.shape[1] + 1, dtype=np.float64))
    )
    lines = [",".join([x_name, *(n.replace(",", ";") for n in names)])]
    for b in range(spectra.shape[1]):
        cells = ["" if not np.isfinite(v) else f"{v:.7g}" for v in spectra[:, b]]
        lines.append(",".join([f"{x[b]:.6g}" if x_name == "band" else f"{x[b]:.4f}", *cells]))
    csv_path = out / "endmembers.csv"
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    meta: dict[str, object] = {
        "samples": spectra.shape[1],
        "lines": len(names),
        "bands": 1,
        "header offset": 0,
        "data type": 4,
        "interleave": "bsq",
        "byte order": 0,
        "file type": "ENVI Spectral Library",
        "spectra names": list(names),
    }
    if wavelengths_nm is not None:
        meta["wavelength"] = [f"{w:.4f}" for w in wavelengths_nm]
        meta["wavelength units"] = "Nanometers"
    write_envi_header(str(out / "endmembers.hdr"), meta, True)
    spectra.astype("<f4").tofile(out / "endmembers.sli")
    return [csv_path, out / "endmembers.sli", out / "endmembers.hdr"]


def guess_names(
    spectra: F64Array, wavelengths_nm: F64Array | None, fwhm_nm: F64Array | None = None
) -> list[str] | None:
    """For each endmember, the bundled library class of best spectral angle, as
    ``"class? (0.12 rad)"``: a guess to help read the result, not an identification.
    None where the cube has no band centres."""
    from hyperspectral.library import bundled_library
    from hyperspectral.unmix import sad_matrix

    if wavelengths_nm is None:
        return None
    library = bundled_library().class_mean().resample(wavelengths_nm, fwhm_nm)
    ok = np.isfinite(library.spectra).all(axis=0) & np.isfinite(spectra).all(axis=0)
    if ok.sum() < 3:
        return None
    angles = sad_matrix(spectra[:, ok], library.spectra[:, ok])
    best = angles.argmin(axis=1)
    return [f"{library.names[j]}? ({angles[i, j]:.2f} rad)" for i, j in enumerate(best)]
