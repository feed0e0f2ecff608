"""Compiled per-pixel loops (numba) for the renderer's hot paths.

numba is already installed with the stack (py3dtiles depends on it). Kernels are
compiled on first use and cached on disk, release the GIL (frames render in parallel
threads) and use plain IEEE arithmetic (no fast-math): each kernel performs the
operations of the numpy statement it replaces in the same order, so results are bit for
bit those of that statement (tests/test_simulator_units.py checks the pairs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(fn: _F) -> _F:
    """``fn`` compiled by numba: nopython, GIL released, cached on disk (where a cache
    folder is writable; otherwise compiled in each process), IEEE maths."""
    try:
        return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return cast(_F, numba.njit(cache=False, nogil=True, error_model="numpy")(fn))


# -- counter-based Gaussian draws ------------------------------------------------------
# Read noise needs ~1M standard normal draws per frame; numpy's generator took ~7 ms for
# them (float32 ziggurat) on the 2-core machine. Here draw i of a frame is a pure
# function of (key, i): SplitMix64 of the counter gives 53 uniform bits, mapped through
# a tabulated inverse normal CDF (linear between 2^16 steps). Kernels draw inline in
# ~1.5 ns, in any order and from any thread with the same result.

NORMAL_TABLE_STEPS = 1 << 16


def _normal_table() -> npt.NDArray[np.float64]:
    """Inverse standard normal CDF at u = j / steps, the ends clamped at half a step
    (draws are truncated at ±4.33 σ), scaled so the piecewise-linear distribution has
    unit variance exactly (the truncation and the chords take 2e-4 of it)."""
    from scipy.special import ndtri

    n = NORMAL_TABLE_STEPS
    u = np.clip(np.arange(n + 1) / n, 0.5 / n, 1.0 - 0.5 / n)
    z = np.asarray(ndtri(u), dtype=np.float64)
    a, b = z[:-1], z[1:]
    variance = float(np.sum(a * a + a * b + b * b) / 3.0 / n)  # mean is 0 by symmetry
    return np.asarray(z / np.sqrt(variance))


NORMAL_TABLE = _normal_table()


def noise_key(*entropy: int) -> int:
    """A 64-bit stream key of integers such as (seed, stream, frame) (numpy's
    SeedSequence hashing, so nearby seeds give unrelated streams)."""
    state = np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)
    return int(state[0])


@jit
def uniform_draw(key: np.uint64, i: int) -> float:
    """Draw ``i`` of stream ``key``: uniform in [0, 1), 53 bits (SplitMix64)."""
    z = np.uint64(key) + np.uint64(i + 1) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@jit
def normal_draw(key: np.uint64, i: int, table: npt.NDArray[np.float64]) -> float:
    """Draw ``i`` of stream ``key``: standard normal (``table`` = NORMAL_TABLE)."""
    x = uniform_draw(key, i) * (table.shape[0] - 1)
    j = int(x)
    return float(table[j] + (table[j + 1] - table[j]) * (x - j))


@jit
def normal_draws(
    key: np.uint64, start: int, table: npt.NDArray[np.float64], out: npt.NDArray[np.float64]
) -> None:
    """``out[i]`` = draw start + i of stream ``key`` (standard normal)."""
    for i in range(out.shape[0]):
        out[i] = normal_draw(key, start + i, table)


@jit
def uniform_draws(key: np.uint64, start: int, out: npt.NDArray[np.float64]) -> None:
    """``out[i]`` = draw start + i of stream ``key`` (uniform in [0, 1))."""
    for i in range(out.shape[0]):
        out[i] = uniform_draw(key, start + i)
