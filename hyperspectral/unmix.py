"""Linear unmixing: fully constrained least squares (abundances ≥ 0, summing to 1), and
the benchmark scores against ground truth.

FCLS is non-negative least squares on the endmember matrix augmented with a heavily
weighted row of ones (Heinz & Chang 2001), which enforces sum-to-one within about 1/δ².
It used to be a per-pixel ``scipy.optimize.nnls`` loop (0.26 ms a pixel: 4 min for a
1000×1000 cube); it is now solved by Lawson–Hanson on the k×k normal equations
(``G = MᵀM + δ²``, ``b = Mᵀy + δ²``), compiled by numba: the Gram matrix is shared by all
pixels, so a pixel costs one dot product per endmember plus a few k×k Cholesky solves.
The optimum is unique (full-rank endmembers), so it is the one ``nnls`` finds (tests:
equal to 1e-6).

Scores: spectral angle distance (SAD) per endmember after matching estimated to true
endmembers by the Hungarian assignment of the angles, and abundance RMSE per endmember.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from hyperspectral.kernels import jit

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]

SUM_TO_ONE_WEIGHT = 1e3
"""δ of the augmented sum-to-one row: abundances sum to one within about 1/δ²."""
NNLS_ITERATIONS_PER_ENDMEMBER = 8
"""Lawson–Hanson needs about k iterations; the cap only stops a numerically cycling pixel."""


def _solve_passive_py(
    g: F64Array, b: F64Array, idx: I64Array, m: int, work: F64Array, s: F64Array
) -> None:
    """``s`` = the solution of ``g[P, P] s_P = b[P]`` on the passive set ``P = idx[:m]``
    (Cholesky, ``g`` is SPD), zero elsewhere."""
    for r in range(m):
        for c in range(r + 1):
            v = g[idx[r], idx[c]]
            for q in range(c):
                v -= work[r, q] * work[c, q]
            if r == c:
                work[r, r] = np.sqrt(v) if v > 0.0 else 1e-150
            else:
                work[r, c] = v / work[c, c]
    for i in range(s.shape[0]):
        s[i] = 0.0
    for r in range(m):  # forward: L z = b
        v = b[idx[r]]
        for q in range(r):
            v -= work[r, q] * s[idx[q]]
        s[idx[r]] = v / work[r, r]
    for r in range(m - 1, -1, -1):  # backward: Lᵀ x = z
        v = s[idx[r]]
        for q in range(r + 1, m):
            v -= work[q, r] * s[idx[q]]
        s[idx[r]] = v / work[r, r]


_solve_passive = jit(_solve_passive_py)


def _fcls_py(
    pixels: npt.NDArray[np.floating],
    m: F64Array,
    g: F64Array,
    delta2: float,
    tol: float,
    out: F64Array,
) -> None:
    """``out[p]`` = argmin ``½xᵀgx − xᵀb`` over x ≥ 0 with ``b = m·pixels[p] + δ²``
    (Lawson–Hanson on the normal equations, Bro & De Jong's FNNLS); a pixel with a
    non-finite band gives NaNs. ``b`` is summed in float64 whatever the pixels' type."""
    n, bands = pixels.shape
    k = m.shape[0]
    passive = np.zeros(k, np.bool_)
    idx = np.zeros(k, np.int64)
    x = np.zeros(k)
    s = np.zeros(k)
    w = np.zeros(k)
    bp = np.zeros(k)
    work = np.zeros((k, k))
    max_iter = NNLS_ITERATIONS_PER_ENDMEMBER * k + 10
    for p in range(n):
        finite = True
        for i in range(k):
            v = 0.0
            for q in range(bands):
                v += m[i, q] * pixels[p, q]
            bp[i] = v + delta2
            finite &= np.isfinite(v)
        if not finite:
            out[p, :] = np.nan
            continue
        for i in range(k):
            passive[i] = False
            x[i] = 0.0
            w[i] = bp[i]
        it = 0
        while it < max_iter:
            j = -1
            best = tol
            for i in range(k):
                if not passive[i] and w[i] > best:
                    best = w[i]
                    j = i
            if j < 0:
                break
            passive[j] = True
            while it < max_iter:
                it += 1
                count = 0
                for i in range(k):
                    if passive[i]:
                        idx[count] = i
                        count += 1
                _solve_passive(g, bp, idx, count, work, s)
                alpha = 2.0
                for r in range(count):
                    i = idx[r]
                    if s[i] <= 0.0:
                        alpha = min(alpha, x[i] / (x[i] - s[i]))
                if alpha > 1.0:
                    break  # s is feasible
                for i in range(k):
                    x[i] += alpha * (s[i] - x[i])
                    if passive[i] and x[i] <= 1e-15:
                        passive[i] = False
                        x[i] = 0.0
            for i in range(k):
                x[i] = s[i] if passive[i] else 0.0
            for i in range(k):
                v = bp[i]
                for q in range(k):
                    v -= g[i, q] * x[q]
                w[i] = v
        for i in range(k):
            out[p, i] = x[i]


_fcls_kernel = jit(_fcls_py)


def check_endmembers(endmembers: npt.ArrayLike, bands: int, what: str) -> F64Array:
    """(k, bands) finite float64 endmembers, or an error naming ``what``."""
    m = np.atleast_2d(np.asarray(endmembers, dtype=np.float64))
    if m.ndim != 2 or m.shape[1] != bands:
        raise HyperspectralError(f"{what}: endmembers have {m.shape[-1]} bands, the pixels {bands}")
    if len(m) == 0:
        raise HyperspectralError(f"{what}: no endmembers")
    if not np.isfinite(m).all():
        raise HyperspectralError(f"{what}: endmembers contain NaN (missing points)")
    return m


def fcls(
    pixels: npt.ArrayLike,
    endmembers: npt.ArrayLike,
    delta: float = SUM_TO_ONE_WEIGHT,
    what: str = "unmixing",
) -> F64Array:
    """(n, k) abundances of (n, bands) pixels for (k, bands) endmembers; NaN rows for
    pixels with a non-finite band. float32 pixels are not copied (tiles of a cube)."""
    x = np.asarray(pixels)
    if x.ndim == 1:
        x = x[None, :]
    m = check_endmembers(endmembers, x.shape[-1], what)
    k = len(m)
    gram = m @ m.T + delta * delta
    if np.linalg.matrix_rank(m @ m.T) < k:
        raise HyperspectralError(f"{what}: the {k} endmembers are linearly dependent")
    tol = 10.0 * np.finfo(np.float64).eps * float(np.abs(gram).sum(axis=0).max()) * k
    out = np.empty((x.shape[0], k), np.float64)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    _fcls_kernel(np.ascontiguousarray(x), m, gram, delta * delta, tol, out)
    return out


def reconstruction_rmse(
    pixels: npt.ArrayLike, abundances: npt.ArrayLike, endmembers: npt.ArrayLike
) -> F64Array:
    """Per pixel RMSE over bands of ``pixels − abundances @ endmembers`` (NaN where no data)."""
    x = np.asarray(pixels, dtype=np.float64)
    residual = x - np.asarray(abundances, np.float64) @ np.asarray(endmembers, np.float64)
    return np.asarray(np.sqrt(np.mean(residual * residual, axis=-1)), dtype=np.float64)


def sad(estimated: npt.ArrayLike, truth: npt.ArrayLike) -> F64Array:
    """Spectral angle distance (rad) between matching rows."""
    e = np.asarray(estimated, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    cos = (e * t).sum(axis=-1) / (np.linalg.norm(e, axis=-1) * np.linalg.norm(t, axis=-1))
    return np.asarray(np.arccos(np.clip(cos, -1.0, 1.0)), dtype=np.float64)


def sad_matrix(estimated: npt.ArrayLike, truth: npt.ArrayLike) -> F64Array:
    """(k_est, k_true) spectral angles (rad) between every pair of spectra."""
    e = np.asarray(estimated, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    return np.asarray(np.arccos(np.clip(e @ t.T, -1.0, 1.0)), dtype=np.float64)


def match_endmembers(estimated: npt.ArrayLike, truth: npt.ArrayLike) -> I64Array:
    """For each true endmember, the index of its estimated one: the Hungarian assignment
    minimising the summed SAD (-1 where there are fewer estimates than true ones)."""
    from scipy.optimize import linear_sum_assignment

    angles = sad_matrix(estimated, truth)
    rows, cols = linear_sum_assignment(angles)
    order = np.full(angles.shape[1], -1, np.int64)
    order[cols] = rows
    return order


def abundance_rmse(estimated: npt.ArrayLike, truth: npt.ArrayLike) -> F64Array:
    """RMSE per endmember over pixels, (n, k) abundances (pixels with NaN left out)."""
    e = np.asarray(estimated, dtype=np.float64)
    t = np.asarray(truth, dtype=np.float64)
    return np.asarray(np.sqrt(np.nanmean((e - t) ** 2, axis=0)), dtype=np.float64)
