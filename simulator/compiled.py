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

_F = TypeVar("_F", bound=Callable[..., Any])


def jit(fn: _F) -> _F:
    """``fn`` compiled by numba: nopython, GIL released, cached on disk (where a cache
    folder is writable; otherwise compiled in each process), IEEE maths."""
    try:
        return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return cast(_F, numba.njit(cache=False, nogil=True, error_model="numpy")(fn))
