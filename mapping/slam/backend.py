"""The SLAM back end off the tracking path, for live runs (``SlamConfig.background``).

Tracking must publish a pose per frame at camera rate; the back end must not hold it up.
Measured on the simulator drift (922 frames, 469 keyframes, in line): the loop search
took a median 28 ms a keyframe, and Open3D's pose-graph optimisation 0.15 to 2.2 s per
loop closure (its solver is dense: cubic in the keyframes), holding Python's GIL all
along, so a thread alone would still stall tracking.

- Loop search (place recognition and geometric verification) runs in a worker thread
  on a snapshot of the keyframes taken when the keyframe was made. Its heavy parts
  (OpenCV matching and PnP, the compiled ICP) release the GIL. Keyframes that arrive
  while it is busy wait in a short queue; when the queue is full the oldest waiting
  keyframe is not searched (counted as ``loop_checks_skipped``).
- Pose-graph optimisation runs in a child process (started once, on the first loop) on
  a stripped copy of the graph; it calls the same ``Slam.optimise``. A thread of its own
  waits for it, so the loop search goes on meanwhile. Its poses are applied when ready:
  keyframes made meanwhile move with the newest optimised one.

Offline runs keep the back end in line (``background`` off): the same bag gives the
same trajectory on every run, which a thread's timing cannot promise.
"""

from __future__ import annotations

import copy
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from mapping.slam.errors import SlamError
from mapping.slam.frame import F64Array
from mapping.slam.odometry import RgbdOdometry, TrackedFrame

if TYPE_CHECKING:
    from mapping.slam.system import Keyframe, Slam

QUEUE_KEYFRAMES = 8
"""Keyframes that may wait for the loop search; older ones are dropped beyond this."""
OPTIMISE_AFTER_S = 1.0
"""A found loop is optimised when the queue is empty, or after this long at most."""


def _stripped(kf: Keyframe) -> Keyframe:
    """The keyframe without images, features or ICP levels (what optimising needs)."""
    empty = TrackedFrame(kf.frame_index, kf.stamp_ns, np.zeros((0, 2)),
                         np.zeros((0, 32), np.uint8), np.zeros((0, 3)), {})  # fmt: skip
    return replace(kf, tracked=empty, thumbnail=np.zeros((0, 0), np.float32), color_jpg=b"",
                   depth_png=b"")  # fmt: skip


def graph_view(slam: Slam) -> Slam:
    """A copy of ``slam`` with what ``Slam.optimise`` reads and writes (keyframe poses,
    edges, anchors) and nothing heavy or unpicklable: sent to the child process."""
    view = copy.copy(slam)  # shallow: what it shares is replaced or dropped below
    view.keyframes = [_stripped(k) for k in slam.keyframes]
    view.edges, view.loops = list(slam.edges), list(slam.loops)
    view.anchors = list(slam.anchors)
    view.frames, view.states = [], []
    for name in ("odometry", "backend", "lock"):
        setattr(view, name, None)
    return view


def optimise_in_child(view: Slam) -> F64Array:
    """Run in the child process: ``view.optimise()``, its keyframe poses (N, 4, 4)."""
    view.optimise()
    return np.array([k.pose for k in view.keyframes], dtype=np.float64).reshape(-1, 4, 4)


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


class Optimiser:
    """A child Python process that optimises pose graphs (``python -m`` this module;
    not multiprocessing, whose spawn re-runs an unguarded main script).

    The child ends with this process, even one killed -9 in the middle of an
    optimisation (:func:`smartmine.lifetime.die_with_parent`). ``kernel_signal``: the
    thread creating the optimiser lives until it is closed (so the kernel's parent-death
    signal, which follows that thread, may be used); by default only the main thread.
    """

    def __init__(self, *, kernel_signal: bool | None = None) -> None:
        from smartmine.lifetime import started_by_main_thread

        if kernel_signal is None:
            kernel_signal = started_by_main_thread()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mapping.slam.backend",
                str(os.getpid()),
                str(int(kernel_signal)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def optimise(self, view: Slam) -> F64Array:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            _send(self.process.stdin, view)
            ok, value = _receive(self.process.stdout)
        except (EOFError, OSError) as err:
            raise SlamError(f"pose-graph optimiser process ended ({err or 'no reply'})") from err
        if not ok:
            raise SlamError(f"pose-graph optimisation failed in the child process: {value}")
        return np.asarray(value, dtype=np.float64)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _serve() -> None:
    """The child's loop: a pickled graph view in, its optimised poses out. It ends with
    its parent (process id and kernel-signal flag in ``argv``), and on its stdin's end."""
    from smartmine.lifetime import die_with_parent

    if len(sys.argv) >= 3:
        die_with_parent(int(sys.argv[1]), kernel_signal=sys.argv[2] == "1")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints (Open3D's) must not corrupt the replies
    requests = sys.stdin.buffer
    while True:
        try:
            view = _receive(requests)
        except EOFError:
            return
        try:
            _send(replies, (True, optimise_in_child(view)))
        except Exception as err:  # reported by the parent
            _send(replies, (False, f"{type(err).__name__}: {err}"))


class LoopCloser:
    """Loop search in a thread, pose-graph optimisation in a process (see the module)."""

    def __init__(self, slam: Slam) -> None:
        self.slam = slam
        self.odometry = RgbdOdometry(slam.cam, slam.config.odometry)  # its own matcher
        self.config = replace(slam.config, optimise_every_loop=False)
        self.queue: deque[Slam] = deque()
        self.wake = threading.Condition()
        self.stopping = False
        self.busy = False
        self.skipped = 0
        self.searched = 0
        self.optimisations = 0
        self.optimise_s = 0.0
        self.search_s = 0.0
        self.optimiser: Optimiser | None = None
        self.optimising: threading.Thread | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="slam-loops", daemon=True)
        self.thread.start()

    # -- tracking thread ---------------------------------------------------------------
    def submit(self) -> None:
        """Queue a loop search for the newest keyframe (call under ``slam.lock``)."""
        slam = self.slam
        kf = slam.keyframes[-1]
        view = copy.copy(slam)  # shallow: the lists are replaced below
        newest = replace(kf, tracked=replace(kf.tracked))  # keeps its ICP levels
        view.keyframes = [*slam.keyframes[:-1], newest]
        view.edges, view.loops, view.rejected_loops = [], [], 0
        view.config = self.config
        view.odometry = self.odometry
        view.backend = None
        with self.wake:
            if len(self.queue) >= QUEUE_KEYFRAMES:
                self.queue.popleft()
                self.skipped += 1
            self.queue.append(view)
            self.wake.notify()

    def idle(self) -> bool:
        """Nothing queued or being searched or optimised right now."""
        with self.wake:
            return not self.queue and not self.busy and not self._optimising()

    def close(self) -> None:
        """Search what is queued, optimise what was found, then stop."""
        with self.wake:
            self.stopping = True
            self.wake.notify()
        self.thread.join()  # (which closes the optimiser child)
        if self.error is not None:
            raise self.error

    def stats(self) -> dict[str, Any]:
        return {
            "loop_searches": self.searched,
            "loop_checks_skipped": self.skipped,
            "background_optimisations": self.optimisations,
            "loop_search_s": round(self.search_s, 3),
            "optimise_s": round(self.optimise_s, 3),
        }

    # -- worker thread -----------------------------------------------------------------
    def _run(self) -> None:
        dirty_since: float | None = None
        try:
            while True:
                with self.wake:
                    while (
                        not self.queue
                        and not self.stopping
                        and (dirty_since is None or self._optimising())
                    ):
                        self.wake.wait()
                    view = self.queue.popleft() if self.queue else None
                    stop = self.stopping and view is None
                    self.busy = view is not None
                if view is not None and self._search(view) and dirty_since is None:
                    dirty_since = time.perf_counter()
                with self.wake:
                    self.busy = False
                if stop:  # (what is still unoptimised, Slam.finish optimises in line)
                    break
                waited = 0.0 if dirty_since is None else time.perf_counter() - dirty_since
                due = dirty_since is not None and not self._optimising()
                if due and (not self.queue or waited > OPTIMISE_AFTER_S):
                    dirty_since = None
                    if self.optimiser is None:  # this thread outlives it: closes it below
                        with self.wake:
                            self.busy = True  # (not idle while the child starts)
                        self.optimiser = Optimiser(kernel_signal=True)
                    self.optimising = threading.Thread(
                        target=self._optimise, name="slam-optimise", daemon=True
                    )
                    self.optimising.start()
                    with self.wake:
                        self.busy = False
            if self.optimising is not None:
                self.optimising.join()
        except BaseException as err:  # surfaced by close(); tracking goes on meanwhile
            self.error = err
        finally:
            self._close_optimiser()

    def _close_optimiser(self) -> None:
        """At the end of the loops thread, which started the child (see Optimiser)."""
        if self.optimising is not None:
            self.optimising.join()
        if self.optimiser is not None:
            try:
                self.optimiser.close()
            except Exception as err:
                self.error = self.error or err
            self.optimiser = None

    def _optimising(self) -> bool:
        return self.optimising is not None and self.optimising.is_alive()

    def _search(self, view: Slam) -> bool:
        """Loop search for the view's newest keyframe, on copies of the keyframes; what
        it changed goes into the SLAM under its lock (:meth:`_apply`)."""
        started = time.perf_counter()
        slam = self.slam
        with slam.lock:  # the poses as they are now (an optimisation may have moved them)
            newest = view.keyframes[-1]
            newest.pose = slam.keyframes[newest.kf_id].pose
            view.keyframes = [*map(copy.copy, view.keyframes[:-1]), newest]
        poses = [k.pose for k in view.keyframes]
        state = dict(vars(view))
        view._detect_loop()
        self.search_s += time.perf_counter() - started
        self.searched += 1
        with slam.lock:
            self._apply(view, poses, state)
        return bool(view.loops)

    def _apply(self, view: Slam, poses: list[F64Array], state: dict[str, Any]) -> None:
        """Into the SLAM: the search's new edges and loops; keyframe poses it moved (a
        loop that joins two segments moves one of them), as the same rigid change, with
        the keyframes made since moving like the newest searched one; and any other
        state it set anew (e.g. which segments are joined)."""
        slam = self.slam
        slam.edges += view.edges
        slam.loops += view.loops
        slam.rejected_loops += view.rejected_loops
        moved = False
        for kf, searched, before in zip(slam.keyframes, view.keyframes, poses, strict=False):
            if searched.pose is not before:
                kf.pose = searched.pose @ np.linalg.inv(before) @ kf.pose
                moved = True
        newest = view.keyframes[-1]
        if newest.pose is not poses[-1]:
            fix = newest.pose @ np.linalg.inv(poses[-1])
            for kf in slam.keyframes[len(view.keyframes) :]:
                kf.pose = fix @ kf.pose
        own = {"keyframes", "edges", "loops", "rejected_loops", "config", "odometry", "backend",
               "lock", "last_pose"}  # fmt: skip
        for name, value in vars(view).items():
            if name not in own and value is not state.get(name):
                setattr(slam, name, value)
        if moved and slam.frames:
            _, _, kf_id, T_kf_cam = slam.frames[-1]
            slam.last_pose = slam.keyframes[kf_id].pose @ T_kf_cam

    def _optimise(self) -> None:
        """In its own thread: the loop search goes on while the child optimises."""
        try:
            self._optimise_graph()
        except BaseException as err:
            self.error = err
        with self.wake:
            self.wake.notify()

    def _optimise_graph(self) -> None:
        slam = self.slam
        with slam.lock:
            view = graph_view(slam)
            n = len(view.keyframes)
            newest_before = slam.keyframes[n - 1].pose.copy()
        started = time.perf_counter()
        assert self.optimiser is not None  # started by the loops thread
        poses = self.optimiser.optimise(view)
        self.optimise_s += time.perf_counter() - started
        self.optimisations += 1
        with slam.lock:
            for kf, pose in zip(slam.keyframes[:n], poses, strict=True):
                kf.pose = pose
            correction = poses[n - 1] @ np.linalg.inv(newest_before)
            for kf in slam.keyframes[n:]:
                kf.pose = correction @ kf.pose
            if slam.frames:
                _, _, kf_id, T_kf_cam = slam.frames[-1]
                slam.last_pose = slam.keyframes[kf_id].pose @ T_kf_cam


if __name__ == "__main__":
    _serve()
