"""Camera poses for hyperspectral frames and lines: from a bag's TF tree or a TUM file.

Every frame or push-broom line carries the stamp of its exposure; its pose is the pose
of its optical frame in the world (``map``) at that stamp, interpolated between the
neighbouring poses (translation linear, rotation slerp: ``smartmine.geometry``).

- :meth:`PoseSource.from_bag`: ``/tf`` (dynamic, e.g. ``map -> base_link``) chained with
  ``/tf_static`` (e.g. ``base_link -> camera_link -> hsi_optical_frame``) up to the root
  frame; the frame is the image message's ``frame_id``.
- :meth:`PoseSource.from_tum`: a TUM file (:mod:`smartmine.tum`: ``t x y z qx qy qz qw``
  rows, seconds, stamps never going back): the pose of the hyperspectral camera's optical
  frame itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from smartmine import tum
from smartmine.geometry import GeometryError, interpolate_transforms, quat_to_matrix

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]


@dataclass
class _Series:
    parent: str
    stamps_ns: I64Array
    matrices: F64Array


@dataclass
class PoseSource:
    """Static and time-varying ``parent_from_child`` transforms; :meth:`world_from`
    chains them from a frame up to the root."""

    source: str
    static: dict[str, tuple[str, F64Array]] = field(default_factory=dict)
    dynamic: dict[str, _Series] = field(default_factory=dict)
    fixed_frame: str | None = None
    """For a TUM file: the one frame whose poses it holds (any frame name matches)."""

    @classmethod
    def from_bag(cls, path: Path | str, tf_topic: str = "/tf") -> PoseSource:
        from smartmine.bagio.reader import BagReader
        from smartmine.msgs import tf_message_to_transforms

        static: dict[str, tuple[str, F64Array]] = {}
        samples: dict[str, tuple[str, list[int], list[F64Array]]] = {}
        with BagReader(path) as reader:
            topics = [t for t in (tf_topic, "/tf_static") if t in reader.topics]
            if tf_topic not in topics:
                raise HyperspectralError(f"{path}: no {tf_topic} topic for the camera poses")
            for message in reader.messages(topics=topics):
                for tf in tf_message_to_transforms(message.message):
                    if message.topic == "/tf_static":
                        static[tf.child_frame] = (tf.parent_frame, np.array(tf.matrix))
                        continue
                    parent, stamps, mats = samples.setdefault(
                        tf.child_frame, (tf.parent_frame, [], [])
                    )
                    stamps.append(tf.stamp_ns)
                    mats.append(np.array(tf.matrix))
        dynamic = {}
        for child, (parent, stamps, mats) in samples.items():
            order = np.argsort(stamps, kind="stable")
            dynamic[child] = _Series(
                parent, np.asarray(stamps, np.int64)[order], np.asarray(mats)[order]
            )
        return cls(f"{path}:{tf_topic}", static, dynamic)

    @classmethod
    def from_tum(cls, path: Path | str, label: str = "") -> PoseSource:
        """Poses of a TUM file (read and checked by :mod:`smartmine.tum`); ``label`` (the
        option, e.g. ``--poses``) is named with the path in errors."""
        try:
            table = tum.read_tum(path, label=label)
            stamps = table.stamps_ns()
        except tum.TumError as err:
            raise HyperspectralError(str(err)) from None
        rotations = quat_to_matrix(table.quats_xyzw)
        mats = np.tile(np.eye(4), (len(table), 1, 1))
        mats[:, :3, :3] = rotations
        mats[:, :3, 3] = table.positions
        return cls(str(path), dynamic={"*": _Series("world", stamps, mats)}, fixed_frame="*")

    def world_from(self, frame: str, stamps_ns: npt.ArrayLike) -> F64Array:
        """``(n, 4, 4)`` pose of ``frame`` in the root frame at each stamp."""
        at = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        out = np.tile(np.eye(4), (len(at), 1, 1))
        current = self.fixed_frame or frame
        seen: set[str] = set()
        while current in self.static or current in self.dynamic:
            if current in seen:
                raise HyperspectralError(f"{self.source}: TF loop at frame {current!r}")
            seen.add(current)
            if current in self.dynamic:
                series = self.dynamic[current]
                try:
                    step = interpolate_transforms(series.stamps_ns, series.matrices, at)
                except GeometryError:
                    raise HyperspectralError(
                        f"{self.source}: no pose of {current!r} at {at.min()}..{at.max()} ns "
                        f"(poses cover {series.stamps_ns[0]}..{series.stamps_ns[-1]})"
                    ) from None
                out = step @ out
                current = series.parent
            else:
                parent, matrix = self.static[current]
                out = matrix @ out
                current = parent
        if not seen:
            known = sorted({*self.static, *self.dynamic})
            raise HyperspectralError(
                f"{self.source}: no transform for frame {frame!r} (frames: {', '.join(known)})"
            )
        return out
