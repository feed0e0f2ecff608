"""Time synchronisation of several inputs by header stamp (colour + depth + camera_info).

Like ROS ``message_filters``' approximate-time policy, reduced to what processors need:
a set is emitted when every port holds a message whose stamp lies within
``tolerance_ns`` of the newest arrival; older messages are then dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any


class TimeSync:
    """Match messages of several ports by stamp.

    >>> sync = TimeSync(["image", "camera_info"], tolerance_ns=0)
    >>> sync.push("image", 10, img)        # -> []
    >>> sync.push("camera_info", 10, info) # -> [{"image": img, "camera_info": info}]
    """

    def __init__(self, ports: Sequence[str], tolerance_ns: int = 0, queue_size: int = 30) -> None:
        if not ports:
            raise ValueError("TimeSync needs at least one port")
        self.ports = list(ports)
        self.tolerance_ns = int(tolerance_ns)
        self.queues: dict[str, deque[tuple[int, Any]]] = {
            p: deque(maxlen=queue_size) for p in self.ports
        }
        self.dropped = 0

    def push(self, port: str, stamp_ns: int, message: Any) -> list[dict[str, Any]]:
        """Add a message; return the sets completed by it (at most one)."""
        if port not in self.queues:
            raise KeyError(f"TimeSync has no port {port!r} (ports: {', '.join(self.ports)})")
        queue = self.queues[port]
        if len(queue) == queue.maxlen:
            self.dropped += 1
        queue.append((stamp_ns, message))
        chosen: dict[str, tuple[int, Any]] = {}
        for other, candidates in self.queues.items():
            best = None
            for stamp, msg in candidates:
                gap = abs(stamp - stamp_ns)
                if gap <= self.tolerance_ns and (best is None or gap < abs(best[0] - stamp_ns)):
                    best = (stamp, msg)
            if best is None:
                return []
            chosen[other] = best
        for other, (stamp, _) in chosen.items():
            q = self.queues[other]
            while q and q[0][0] <= stamp:
                q.popleft()
        return [{p: m for p, (_, m) in chosen.items()}]
