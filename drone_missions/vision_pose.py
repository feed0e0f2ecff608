"""Live vision pose for GPS-denied flight without ROS: a TUM trajectory played at its
stamps, or TUM lines received over UDP from a running SLAM.

``smartmine fly drift.plan --vision-pose poses.tum`` feeds PX4 the first pose while the
vehicle gets ready on the ground (:meth:`TumPoseReplay.prime`), then, from take-off
(:meth:`TumPoseReplay.start`), the pose of the TUM line whose stamp was last passed
(stamps relative to the first one); after the last line the feed stops, as a SLAM that
died would, and both the flight code and the vehicle's failsafe react. The file's frame
is the drift plan's local frame (ROS ENU world, FLU body; ``t x y z qx qy qz qw``).

The file is read and checked completely before anything connects, by the one TUM parser
(:mod:`smartmine.tum`: eight finite numbers a line, unit quaternions), with stamps
strictly increasing and at least two lines.

``--vision-pose udp://127.0.0.1:PORT`` listens there for datagrams holding one TUM line
each (what a SLAM process without ROS sends, e.g. ``sock.sendto(b"t x y z qx qy qz qw",
...)``); the newest pose is fed while it is younger than ``max_age_s`` (0.5 s), after which
the feed counts as stopped. Datagrams :func:`smartmine.tum.parse_tum_line` refuses are
counted and dropped.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from drone_missions.errors import MissionError
from smartmine import tum

F64 = npt.NDArray[np.float64]


class PoseFeed(Protocol):
    """What ``smartmine fly --vision-pose`` needs of a pose source."""

    source: str

    def prime(self) -> None: ...
    def start(self) -> None: ...
    def ended(self) -> bool: ...
    def close(self) -> None: ...
    def __call__(self) -> tuple[F64, F64] | None: ...


def open_pose_feed(spec: str) -> PoseFeed:
    """``udp://IP:PORT`` (listen) or a TUM file, checked before any vehicle is contacted."""
    if spec.startswith("udp://"):
        return UdpPoseFeed.listen(spec)
    return TumPoseReplay.read(spec)


class TumPoseReplay:
    """A :data:`drone_missions.flight.PoseSource`: the TUM pose current at the replay
    clock; the first pose while primed and not started; None before that and after the
    last stamp (the feed has stopped)."""

    def __init__(self, stamps_s: F64, positions: F64, quats_xyzw: F64, source: str) -> None:
        self.stamps_s = stamps_s
        self.positions = positions
        self.quats_xyzw = quats_xyzw
        self.source = source
        self._t0: float | None = None
        self._primed = False

    @classmethod
    def read(cls, path: str | Path) -> TumPoseReplay:
        """The whole file, checked by :mod:`smartmine.tum` before anything connects."""
        try:
            table = tum.read_tum(path, label="--vision-pose", strictly_increasing=True)
        except tum.TumError as err:
            raise MissionError(str(err)) from None
        if len(table) < 2:
            raise MissionError(
                f"--vision-pose {path}: a vision pose feed needs at least 2 TUM lines"
            )
        return cls(table.stamps_s, table.positions, table.quats_xyzw, str(path))

    @property
    def duration_s(self) -> float:
        return float(self.stamps_s[-1] - self.stamps_s[0])

    def prime(self) -> None:
        """Feed the first pose (the vehicle standing at the start) until :meth:`start`."""
        self._primed = True

    def start(self) -> None:
        self._t0 = time.monotonic()

    def ended(self) -> bool:
        return self._t0 is not None and time.monotonic() - self._t0 > self.duration_s

    def close(self) -> None:
        pass

    def __call__(self) -> tuple[F64, F64] | None:
        if self._t0 is None:
            return (self.positions[0].copy(), self.quats_xyzw[0].copy()) if self._primed else None
        if self.ended():
            return None
        t = self.stamps_s[0] + (time.monotonic() - self._t0)
        k = max(0, int(np.searchsorted(self.stamps_s, t, side="right")) - 1)
        return self.positions[k].copy(), self.quats_xyzw[k].copy()


class UdpPoseFeed:
    """TUM lines over UDP; the newest pose while it is fresh."""

    def __init__(self, sock: socket.socket, source: str, max_age_s: float = 0.5) -> None:
        self.sock = sock
        self.source = source
        self.max_age_s = max_age_s
        self.received = 0
        self.rejected = 0
        self._latest: tuple[float, F64, F64] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="udp-pose", daemon=True)
        self._thread.start()

    @classmethod
    def listen(cls, url: str, max_age_s: float = 0.5) -> UdpPoseFeed:
        import ipaddress

        host, _, port = url.removeprefix("udp://").rpartition(":")
        try:
            ipaddress.ip_address(host)
            number = int(port)
        except ValueError:
            number = -1
        if not 0 < number < 65536:
            raise MissionError(
                f"--vision-pose {url}: expected udp://IP:PORT (an address to listen on)"
            )
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, number))
        except OSError as err:
            sock.close()
            raise MissionError(
                f"--vision-pose {url}: cannot listen there ({err.strerror})"
            ) from None
        sock.settimeout(0.1)
        return cls(sock, url, max_age_s)

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, OSError):
                continue
            try:
                pose = tum.parse_tum_line(data.decode("ascii"), self.source)
            except (tum.TumError, UnicodeDecodeError):
                self.rejected += 1
                continue
            with self._lock:
                self._latest = (time.monotonic(), pose.position, pose.quat_xyzw)
                self.received += 1

    def prime(self) -> None:
        pass

    def start(self) -> None:
        pass

    def ended(self) -> bool:
        with self._lock:
            latest = self._latest
        return latest is not None and time.monotonic() - latest[0] > self.max_age_s

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        self.sock.close()

    def __call__(self) -> tuple[F64, F64] | None:
        with self._lock:
            latest = self._latest
        if latest is None or time.monotonic() - latest[0] > self.max_age_s:
            return None
        return latest[1].copy(), latest[2].copy()


__all__ = ["PoseFeed", "TumPoseReplay", "UdpPoseFeed", "open_pose_feed"]
