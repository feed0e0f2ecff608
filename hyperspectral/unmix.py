"""Linear unmixing: fully constrained least squares (abundances ≥ 0, summing to 1).

FCLS is solved per pixel as non-negative least squares on the endmember matrix augmented
with a heavily weighted row of ones (Heinz & Chang 2001), which enforces the sum-to-one
constraint to within 1/δ². Scored against ground truth by spectral angle distance (SAD)
per endmember and abundance RMSE, the usual unmixing benchmark measures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from smartmine.paths import check_output_path

F64Array = npt.NDArray[np.float64]

SUM_TO_ONE_WEIGHT = 1e3


def fcls(
    pixels: npt.ArrayLike, endmembers: npt.ArrayLike, delta: float = SUM_TO_ONE_WEIGHT
) -> F64Array:
    """(n, k) abundances of (n, bands) pixels for (k, bands) endmembers."""
    from scipy.optimize import nnls

    x = np.asarray(pixels, dtype=np.float64)
    m = np.asarray(endmembers, dtype=np.float64)
    if x.shape[-1] != m.shape[-1]:
        raise HyperspectralError(
            f"unmixing: pixels have {x.shape[-1]} bands, endmembers {m.shape[-1]}"
        )
    if not np.isfinite(m).all():
        raise HyperspectralError("unmixing: endmembers contain NaN (missing points)")
    a = np.vstack([m.T, delta * np.ones((1, m.shape[0]))])
    out = np.zeros((x.shape[0], m.shape[0]))
    for i, pixel in enumerate(x):
        if np.isfinite(pixel).all():
            out[i], _ = nnls(a, np.append(pixel, delta))
        else:
            out[i] = np.nan
    return out


def sad(estimated: npt.ArrayLike, truth: npt.ArrayLike) -> F64Array:
    """Spectral angle distance (rad) between matching rows."""
    e = np.asarray(estimated, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    cos = (e * t).sum(axis=-1) / (np.linalg.norm(e, axis=-1) * np.linalg.norm(t, axis=-1))
    return np.asarray(np.arccos(np.clip(cos, -1.0, 1.0)), dtype=np.float64)


def abundance_rmse(estimated: npt.ArrayLike, truth: npt.ArrayLike) -> F64Array:
    """RMSE per endmember over pixels, (n, k) abundances."""
    e = np.asarray(estimated, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    return np.asarray(np.sqrt(np.nanmean((e - t) ** 2, axis=0)), dtype=np.float64)


def vca(pixels: npt.ArrayLike, k: int, seed: int = 0) -> F64Array:
    """Vertex component analysis (Nascimento & Bioucas-Dias 2005), simplified: endmembers
    picked as the extreme pixels of successive orthogonal projections in the SVD subspace."""
    x = np.asarray(pixels, dtype=np.float64)
    rng = np.random.default_rng(seed)
    mean = x.mean(axis=0)
    u, _, _ = np.linalg.svd((x - mean).T @ (x - mean) / len(x))
    proj = (x - mean) @ u[:, : k - 1]
    y = np.hstack([proj, np.ones((len(x), 1)) * np.abs(proj).max()])
    basis = np.zeros((k, k))
    basis[-1, 0] = 1
    picked: list[int] = []
    for i in range(k):
        w = rng.standard_normal(k)
        f = w - basis @ np.linalg.pinv(basis) @ w
        f /= np.linalg.norm(f)
        j = int(np.argmax(np.abs(y @ f)))
        picked.append(j)
        basis[:, i] = y[j]
    return x[picked]


def unmix_command(args: argparse.Namespace) -> Path:
    from hyperspectral.cube import open_cube
    from hyperspectral.library import load_library
    from hyperspectral.outputs import write_geotiff

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise HyperspectralError(f"--out {out} exists already (use --overwrite)")
    check_output_path(out, "--out", folder=False)
    cube = open_cube(args.cube)
    if getattr(args, "wavelengths", None):
        cube = cube.with_wavelengths(args.wavelengths)
    library = load_library(args.library).subset(list(args.classes)).class_mean()
    library = library.resample(cube.require_wavelengths(), cube.fwhm_nm)
    lines, samples, bands = cube.shape
    abundances = np.zeros((lines, samples, len(library)), np.float32)
    ok = np.isfinite(library.spectra).all(axis=0)
    if not ok.any():
        raise HyperspectralError(
            f"{library.source}: the endmembers cover none of the bands of {cube.source}"
        )
    valid_pixels = 0
    for start, block in cube.tiles(16):
        flat = block.reshape(-1, bands)[:, ok]
        valid_pixels += int(np.isfinite(flat).all(axis=1).sum())
        a = fcls(flat, library.spectra[:, ok])
        abundances[start : start + block.shape[0]] = a.reshape(block.shape[0], samples, -1)
    if valid_pixels == 0:
        raise HyperspectralError(f"{cube.source}: no pixel holds data (all NaN or infinite)")
    write_geotiff(out, abundances, cube.georef, nodata=float("nan"), band_names=list(library.names))
    return out
