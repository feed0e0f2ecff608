"""Where calibration images come from: a folder, a glob pattern, or a bag topic.

Every frame has a name that a user can find again (the file name, or the topic and
time in the bag), so error messages and per-view reports point at the real input.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.boards import to_gray
from calibration.errors import CalibrationError

IMAGE_SUFFIXES: Final = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm"})
BAG_SUFFIXES: Final = frozenset({".bag", ".mcap", ".db3"})
IMAGE_TYPES: Final = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass(frozen=True)
class Frame:
    """One grey image and where it came from."""

    name: str
    gray: npt.NDArray[np.uint8]
    stamp_ns: int | None = None
    """Header stamp for bag frames (the bag's log time when the header has none)."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.gray.shape[1]), int(self.gray.shape[0])


def is_bag(path: Path) -> bool:
    """Whether ``path`` is a bag file or a rosbag2 directory (not an image folder)."""
    if path.is_dir():
        return (path / "metadata.yaml").exists() or any(
            p.suffix in BAG_SUFFIXES for p in path.iterdir()
        )
    return path.suffix.lower() in BAG_SUFFIXES


def image_files(source: str | Path) -> list[Path]:
    """Sorted image files of a folder or a glob pattern (``'data/left*.jpg'``)."""
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CalibrationError(
                f"{path}: no images (.png, .jpg, .bmp, .tif) in this folder; for a bag pass "
                "the .mcap/.db3/.bag file or rosbag2 folder with --topic"
            )
        return files
    if any(ch in text for ch in "*?["):
        # a user's glob may be absolute or relative, which Path.glob does not take
        matches = glob.glob(text)  # noqa: PTH207
        files = sorted(Path(p) for p in matches if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise CalibrationError(f"no image file matches {text!r}")
        return files
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [path]
    if not path.exists():
        raise CalibrationError(f"{path}: no such image folder, pattern or bag")
    raise CalibrationError(
        f"{path}: not an image folder, image, glob pattern or bag (.mcap, .db3, .bag)"
    )


def read_image(path: Path) -> npt.NDArray[Any]:
    """An image file as stored (8/16-bit, grey or BGR)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise CalibrationError(f"{path}: cannot read this image (corrupted or not an image)")
    return np.asarray(img)


def iter_frames(source: str | Path, topic: str | None = None) -> Iterator[Frame]:
    """Grey frames of an image folder / glob, or of one image topic of a bag."""
    path = Path(str(source))
    if path.exists() and is_bag(path):
        if not topic:
            raise CalibrationError(f"{path} is a bag: name the image topic with --topic")
        yield from _bag_frames(path, topic)
        return
    if topic:
        raise CalibrationError(f"--topic {topic} applies to bags, but {source} holds images")
    for file in image_files(source):
        yield Frame(file.name, to_gray(read_image(file), str(file)))


def _bag_frames(path: Path, topic: str) -> Iterator[Frame]:
    from smartmine.bagio.reader import BagReader
    from smartmine.errors import SmartmineError
    from smartmine.msgs import compressed_image_to_numpy, header_stamp_ns, image_to_numpy

    with BagReader(path) as bag:
        bag.require_topics([topic])
        msgtype = bag.topics[topic].msgtype
        if msgtype not in IMAGE_TYPES:
            raise CalibrationError(
                f"{path}: topic {topic} is {msgtype}, expected sensor_msgs Image or CompressedImage"
            )
        compressed = msgtype.endswith("CompressedImage")
        for m in bag.messages([topic]):
            try:
                image = (
                    compressed_image_to_numpy(m.message)
                    if compressed
                    else image_to_numpy(m.message)
                )
                stamp = header_stamp_ns(m.message) or m.log_time_ns
            except SmartmineError as err:
                raise CalibrationError(f"{path}: {topic} at t={m.log_time_ns} ns: {err}") from None
            name = f"{topic}@{stamp / 1e9:.6f}"
            yield Frame(name, to_gray(image, name), stamp)


def frame_source_label(source: str | Path, topic: str | None) -> str:
    """How an input is named in messages: the path, plus the topic for bags."""
    return f"{source} topic {topic}" if topic else str(source)
