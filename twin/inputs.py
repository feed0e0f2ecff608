"""What a reprocess input holds: which bags and images, what their topics carry, and
therefore which stages can run (``reprocess`` looks before it leaps: a bad input fails
here, naming the file, before anything is written).

- a bag (ROS 1 ``.bag``, ROS 2 ``.db3``/``.mcap`` file or rosbag2 folder): colour images
  with valid GNSS fixes -> aerial SfM; colour + depth without a fix -> underground RGB-D
  SLAM; a hyperspectral image topic -> HSI classification (draped on the SfM surface);
- an image folder (EXIF GPS) -> SfM, as ``smartmine sfm`` reads it;
- a run folder holding several bags -> each bag looked at as above.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from smartmine.errors import SmartmineError

Kind = Literal["aerial", "underground", "hyperspectral"]
BAG_SUFFIXES = (".bag", ".db3", ".mcap")
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
FIX_TYPE = "sensor_msgs/msg/NavSatFix"
HASH_CHUNK_BYTES = 1 << 20


class ReprocessInputError(SmartmineError):
    """The input is no bag, image folder or run folder, or holds nothing to process."""


@dataclass(frozen=True)
class BagContents:
    """One bag's topics as the stages need them, and its data time span (header stamps)."""

    path: Path
    colour_topic: str | None
    depth_topic: str | None
    hsi_topic: str | None
    valid_fixes: int
    start_ns: int
    end_ns: int

    @property
    def kind(self) -> Kind | None:
        """aerial (images + GNSS), underground (RGB-D, no fix), hyperspectral only, or None."""
        if self.colour_topic and self.valid_fixes >= 3:
            return "aerial"
        if self.colour_topic and self.depth_topic:
            return "underground"
        if self.hsi_topic:
            return "hyperspectral"
        return None


@dataclass(frozen=True)
class Survey:
    """Everything reprocess found in its inputs."""

    paths: tuple[Path, ...]
    bags: tuple[BagContents, ...] = ()
    image_folder: Path | None = None
    image_files: tuple[Path, ...] = ()
    start_ns: int | None = None
    end_ns: int | None = None
    sha256: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def bag_of(self, kind: Kind) -> BagContents | None:
        """The (first) bag of ``kind``."""
        return next((b for b in self.bags if b.kind == kind), None)

    @property
    def hsi_bag(self) -> BagContents | None:
        return next((b for b in self.bags if b.hsi_topic), None)

    @property
    def kind(self) -> Kind:
        if self.image_folder is not None or self.bag_of("aerial"):
            return "aerial"
        if self.bag_of("underground"):
            return "underground"
        return "hyperspectral"


def is_bag_path(path: Path) -> bool:
    """A bag file by suffix, or a rosbag2 folder (metadata.yaml)."""
    if path.is_file():
        return path.suffix.lower() in BAG_SUFFIXES
    return path.is_dir() and (path / "metadata.yaml").is_file()


def _folder_bags(folder: Path) -> list[Path]:
    """Bags directly in a run folder: bag files and rosbag2 sub-folders."""
    return sorted(p for p in folder.iterdir() if is_bag_path(p))


def _image_files(folder: Path) -> list[Path]:
    from mapping.sfm.inputs import IMAGE_SUFFIXES

    images = folder / "images"  # ODM's project layout, as sfm reads it
    if images.is_dir():
        folder = images
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _pick_image_topic(topics: dict[str, str], *, want: str) -> str | None:
    """The image topic of a role by name: ``depth``, ``hyperspectral`` or ``colour`` (the
    rest, infrared left out)."""
    images = sorted(t for t, msgtype in topics.items() if msgtype in IMAGE_TYPES)
    if want == "depth":
        return next((t for t in images if "depth" in t), None)
    if want == "hyperspectral":  # the topic hyperspectral.ortho_run reads
        from hyperspectral.cube import HSI_TOPIC

        return HSI_TOPIC if HSI_TOPIC in images else None
    colour = [t for t in images if not re.search(r"depth|hyperspectral|/ir|infra", t)]
    return next((t for t in colour if "color" in t or "colour" in t or "rgb" in t), None) or (
        colour[0] if colour else None
    )


def _stamp_topic(topics: dict[str, str], image_topic: str) -> str:
    """The image's camera_info (small messages, same header stamps) when there is one."""
    info = image_topic.rsplit("/", 1)[0] + "/camera_info"
    return info if topics.get(info) == "sensor_msgs/msg/CameraInfo" else image_topic


def read_bag(path: Path) -> BagContents:
    """Topics, valid GNSS fixes and the header-stamp span of one bag."""
    from smartmine.bagio import BagReader
    from smartmine.msgs import header_stamp_ns, navsatfix_to_geofix

    with BagReader(path) as reader:
        topics = {name: t.msgtype for name, t in reader.topics.items() if t.decodable}
        colour = _pick_image_topic(topics, want="colour")
        depth = _pick_image_topic(topics, want="depth")
        hsi = _pick_image_topic(topics, want="hyperspectral")
        fixes = [t for t, msgtype in topics.items() if msgtype == FIX_TYPE]
        stamp_topics = {_stamp_topic(topics, t) for t in (colour, hsi) if t}
        valid, stamps = 0, []
        for m in reader.messages(topics=[*fixes, *sorted(stamp_topics)]):
            if m.topic in fixes:
                fix = navsatfix_to_geofix(m.message)
                valid += fix.status >= 0 and math.isfinite(fix.latitude_deg)
            else:
                stamps.append(header_stamp_ns(m.message))
        start, end = (min(stamps), max(stamps)) if stamps else (reader.start_ns, reader.end_ns)
    contents = BagContents(path, colour, depth, hsi, valid, start, end)
    if contents.kind is None:
        raise ReprocessInputError(
            f"{path}: nothing to reprocess: no colour images with GNSS, no colour + depth, "
            f"no hyperspectral images (topics: {', '.join(sorted(topics)) or 'none'})"
        )
    return contents


def _image_span(files: list[Path]) -> tuple[int | None, int | None]:
    """EXIF capture time span of an image folder (None where an image has none)."""
    from mapping.sfm.errors import SfmError
    from mapping.sfm.inputs import read_image_record

    stamps = []
    for path in files:
        try:
            stamp = read_image_record(path).stamp_ns
        except SfmError:
            continue
        if stamp is not None:
            stamps.append(stamp)
    return (min(stamps), max(stamps)) if stamps else (None, None)


def input_sha256(files: Iterable[Path], root_of: dict[Path, Path]) -> str:
    """SHA-256 over every input file's name (relative to its input) and bytes, in order:
    the same data gives the same run id wherever it lies."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root_of[path])).encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def _bag_files(bag: Path) -> list[Path]:
    return [bag] if bag.is_file() else sorted(p for p in bag.rglob("*") if p.is_file())


def survey(paths: list[Path]) -> Survey:
    """Look at every input; raise naming the first one that cannot be reprocessed."""
    if not paths:
        raise ReprocessInputError("no INPUT given (a bag, an image folder or a run folder)")
    bag_paths: list[Path] = []
    image_folder: Path | None = None
    image_files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ReprocessInputError(f"{path}: no such bag or folder")
        if is_bag_path(path):
            bag_paths.append(path)
        elif path.is_file():
            raise ReprocessInputError(
                f"{path}: not a bag ({', '.join(BAG_SUFFIXES)}) nor a folder of images or bags"
            )
        elif inner := _folder_bags(path):
            bag_paths += inner
        elif files := _image_files(path):
            if image_folder is not None:
                raise ReprocessInputError(f"{path}: a second image folder (one flight per run)")
            image_folder, image_files = path, files
        else:
            raise ReprocessInputError(f"{path}: holds no bag and no images")
    bags = tuple(read_bag(p) for p in bag_paths)
    _check_combination(bags, image_folder)
    roots: dict[Path, Path] = {}
    for bag in bag_paths:
        roots.update({f: bag.parent if bag.is_file() else bag for f in _bag_files(bag)})
    roots.update({f: f.parent for f in image_files})
    start, end = (
        (min(b.start_ns for b in bags), max(b.end_ns for b in bags))
        if bags
        else _image_span(image_files)
    )
    return Survey(
        paths=tuple(paths),
        bags=bags,
        image_folder=image_folder,
        image_files=tuple(image_files),
        start_ns=start,
        end_ns=end,
        sha256=input_sha256(sorted(roots, key=lambda f: (str(roots[f]), str(f))), roots),
    )


def _check_combination(bags: tuple[BagContents, ...], image_folder: Path | None) -> None:
    """One survey per run: one flight (bag or image folder) or one underground run, plus
    hyperspectral bags; refused otherwise, naming the inputs that clash."""
    aerial = [str(b.path) for b in bags if b.kind == "aerial"]
    if image_folder is not None:
        aerial.append(str(image_folder))
    underground = [str(b.path) for b in bags if b.kind == "underground"]
    if len(aerial) > 1:
        raise ReprocessInputError(f"{aerial[1]}: a second flight beside {aerial[0]} (one per run)")
    if len(underground) > 1:
        raise ReprocessInputError(
            f"{underground[1]}: a second RGB-D run beside {underground[0]} (one per run)"
        )
    if aerial and underground:
        raise ReprocessInputError(
            f"{underground[0]}: an underground run beside the flight {aerial[0]}; "
            "reprocess them separately (their products live in different frames)"
        )
