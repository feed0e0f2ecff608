"""Child processes that end with their parent, even when the parent is killed -9.

A killed parent runs no cleanup: forked render workers blocked on their task queue (the
queue's pipe stays open in the workers themselves) or an optimiser child busy with a
graph would run on, each holding its share of memory. :func:`die_with_parent`, called
in the child right after it starts, asks Linux to SIGKILL it when the parent goes
(``prctl(PR_SET_PDEATHSIG)``), checks the parent did not already go before that, and
starts a watchdog thread that ends the child once it is re-parented (the fallback where
there is no prctl, or where the thread that started the child ends before the parent
does: the kernel's signal follows that thread, not the process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.25
"""How often the watchdog looks at the parent process id."""


def _set_parent_death_signal() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)``: True where it took effect (Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(WATCH_INTERVAL_S)
        if os.getppid() != parent_pid:
            os._exit(1)


def die_with_parent(parent_pid: int, *, kernel_signal: bool = True) -> None:
    """Make this (child) process end when process ``parent_pid`` ends.

    ``kernel_signal``: also ask the kernel for SIGKILL on the parent's death; only when
    the thread that started this child lives as long as the parent process does (the
    main thread), since the kernel sends the signal when that thread ends.
    """
    if kernel_signal:
        _set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="die-with-parent", daemon=True).start()


def started_by_main_thread() -> bool:
    """Is the calling thread the main thread (whose end is the process's end)?"""
    return threading.current_thread() is threading.main_thread()
