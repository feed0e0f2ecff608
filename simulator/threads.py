"""How frames share the CPU: worker processes, OpenBLAS's and Open3D's threads.

Frames render in parallel in forked worker processes (:func:`in_processes`), not
threads: Open3D's ``cast_rays`` holds the GIL. Libraries that bring their own thread
pools would compete with the frames: OpenBLAS's threads spin in their waits (one N×3 by
3×3 product took 80 ms instead of 1 ms), Open3D's TBB workers spin between casts; so a
worker process uses one thread of each. Results do not depend on any of these settings
(BLAS splits rows, not sums; every ray is cast on its own), nor on the number of workers.
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from simulator.errors import SimulatorError
from smartmine.lifetime import started_by_main_thread

T = TypeVar("T")


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """OpenBLAS on one thread while rendering.

    The renderer's BLAS products are tiny (N×3 by 3×3); with OpenBLAS's worker threads
    spinning against Open3D's raycasting threads one such product took 80 ms instead of
    1 ms on 2 cores. Results do not change (BLAS splits rows, not sums, over threads).
    Reference-counted so that frames rendered in parallel threads share one limit; a
    run of frames in threads must hold it around the whole run
    (:func:`simulator.writer.prefetch_frames` does), or the limit lapses whenever no
    thread happens to be inside a call and the others' products run threaded again.
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
    """``nthreads`` for Open3D's casts: 0 (all cores) but 1 in a worker process."""
    return _RAYCAST_THREADS[0]


_WORK: list[Callable[[int], Any]] = []

SLOT_BYTES = 64 << 20
"""Shared memory per frame in flight (virtual: only pages written are backed). A result
whose arrays need more travels pickled through the pipe."""
_ALIGN = 64
_SLOTS: list[list[mmap.mmap]] = []


def _worker_setup(parent_pid: int, kernel_signal: bool) -> None:
    """In each forked worker process: end with the parent, even one killed -9 (a worker
    waits on its task pipe forever otherwise, holding its share of the scene); one
    core's worth of threads (the processes are the parallelism), for the process's
    whole life."""
    from smartmine.lifetime import die_with_parent

    die_with_parent(parent_pid, kernel_signal=kernel_signal)
    _RAYCAST_THREADS[0] = 1
    _blas_controller().limit(limits=1, user_api="blas")


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def _worker_frame(i: int, slot: int) -> tuple[bool, Any]:
    """``work(i)``: its arrays written into shared slot ``slot``, the rest pickled
    (pickle protocol 5, arrays out of band): (True, (pickle, array sizes)); or, where
    they do not fit, (False, the result) pickled whole.

    Pickling 9 MB of arrays per frame into the pipe made the workers page-fault
    (the pickle's buffers are fresh memory every frame); the slots stay mapped."""
    result = _WORK[-1](i)
    buffers: list[pickle.PickleBuffer] = []
    meta = pickle.dumps(result, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    if sum(_aligned(v.nbytes) for v in views) > SLOT_BYTES:
        return False, result
    target = _SLOTS[-1][slot]
    offset = 0
    for v in views:
        target[offset : offset + v.nbytes] = v
        offset += _aligned(v.nbytes)
    return True, (meta, [v.nbytes for v in views])


def _received(answer: tuple[bool, Any], slot: mmap.mmap) -> Any:
    """The result of :func:`_worker_frame`, its arrays copied out of ``slot`` (the slot
    is reused by a later frame)."""
    shared, payload = answer
    if not shared:
        return payload
    meta, sizes = payload
    block = np.empty(sum(_aligned(n) for n in sizes), dtype=np.uint8)
    source = np.frombuffer(slot, dtype=np.uint8, count=len(block))
    np.copyto(block, source)
    buffers, offset = [], 0
    for n in sizes:
        buffers.append(block[offset : offset + n])
        offset += _aligned(n)
    return pickle.loads(meta, buffers=buffers)


def can_fork() -> bool:
    """Worker processes are forked (they inherit the built scene, nothing is pickled but
    the frames): POSIX only."""
    return "fork" in multiprocessing.get_all_start_methods()


def in_processes(work: Callable[[int], T], count: int, workers: int) -> Iterator[T]:
    """``work(0) ... work(count - 1)`` in order, rendered ahead in ``workers`` forked
    processes (at most 2 per worker in flight).

    Not threads: Open3D's ``cast_rays`` holds the GIL, so frames in threads cast one at a
    time and 2 thread workers were no faster than 1 thread (NOTES-simspeed3.md). Forked
    workers share the parent's scene, BVH and caches copy-on-write and start in
    milliseconds; each casts on its own thread (TBB's pool is not forked with it).
    ``work`` must not depend on state that changes after the call (it runs on the
    parent's memory as it was at the fork).
    """
    from concurrent.futures import Future, ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    _WORK.append(work)
    in_flight = 2 * workers
    slots = [mmap.mmap(-1, SLOT_BYTES) for _ in range(in_flight)]
    _SLOTS.append(slots)
    try:
        context = multiprocessing.get_context("fork")
        # the workers fork from this thread at the first submit below (all at once: fork)
        owner = (os.getpid(), started_by_main_thread())
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_setup, initargs=owner
        )
        with pool:
            pending: list[Future[tuple[bool, Any]]] = []
            submitted = 0
            # the workers fork at the first submit; their collector would touch (and so
            # copy) every page that holds an object of the parent's
            gc.freeze()
            for i in range(count):
                while submitted < count and len(pending) < in_flight:
                    pending.append(pool.submit(_worker_frame, submitted, submitted % in_flight))
                    submitted += 1
                gc.unfreeze()
                yield _received(pending.pop(0).result(), slots[i % in_flight])
    except BrokenProcessPool:
        raise SimulatorError(
            f"a render worker process died (out of memory?); {workers} workers were "
            'rendering: try fewer ({"workers": 1} in --config)'
        ) from None
    finally:
        gc.unfreeze()
        _WORK.pop()
        _SLOTS.pop()
        for slot in slots:
            slot.close()
