"""How the renderer shares the CPU with itself: OpenBLAS's and Open3D's threads.

Frames render in parallel threads (:func:`simulator.writer.prefetch_frames`). Libraries
that bring their own thread pools then compete with the frames and with each other:
OpenBLAS's threads spin in their waits, Open3D's TBB workers spin between casts. On the
2-core machine both made 2 workers slower than 1 thread (NOTES-simspeed3.md). Results do
not depend on any of these settings (BLAS splits rows, not sums; every ray is cast on
its own).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS on one thread while rendering.

    The renderer's BLAS products are tiny (N×3 by 3×3); with OpenBLAS's worker threads
    spinning against Open3D's raycasting threads one such product took 80 ms instead of
    1 ms on 2 cores. Results do not change (BLAS splits rows, not sums, over threads).
    Reference-counted so that frames rendered in parallel threads share one limit; a
    run of frames in threads must hold it around the whole run
    (:func:`frames_in_threads` does), or the limit lapses whenever no thread happens to
    be inside a call and the others' products run threaded again.
    """
    with _BLAS_LOCK:
        if _BLAS_USERS[0] == 0:
            _BLAS_LIMIT.append(_blas_controller().limit(limits=1, user_api="blas"))
        _BLAS_USERS[0] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS[0] -= 1
            if _BLAS_USERS[0] == 0:
                _BLAS_LIMIT.pop().restore_original_limits()


def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, made once: scanning the
    process's libraries (what ``threadpool_limits`` does on every call) cost ~3 ms per
    frame once Open3D, scipy and numba are loaded."""
    if not _BLAS_CONTROLLER:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _BLAS_CONTROLLER.append(ThreadpoolController())
    return _BLAS_CONTROLLER[0]


_BLAS_CONTROLLER: list[Any] = []
_BLAS_LOCK = threading.Lock()
_BLAS_USERS = [0]
_BLAS_LIMIT: list[Any] = []


_RAYCAST_THREADS = [0]


def raycast_threads() -> int:
    """``nthreads`` for Open3D's casts: 0 (all cores) unless frames render in threads."""
    return _RAYCAST_THREADS[0]


@contextlib.contextmanager
def frames_in_threads(workers: int) -> Iterator[None]:
    """While rendering a run of frames in ``workers`` threads: OpenBLAS on one thread
    for the whole run and, with 2 workers or more, each cast on its calling thread (the
    frames are the parallelism; TBB's workers spinning between two frames' casts cost
    ~10 % more CPU per frame)."""
    with single_threaded_blas():
        previous = _RAYCAST_THREADS[0]
        _RAYCAST_THREADS[0] = 1 if workers > 1 else 0
        try:
            yield
        finally:
            _RAYCAST_THREADS[0] = previous
