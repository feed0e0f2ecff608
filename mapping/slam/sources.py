"""Where RGB-D frames come from: one class per input behind one interface.

``BagSource`` streams any ROS 1/2 bag with colour, depth (aligned to colour) and the
colour camera_info; topics are found by type and name when not given. Distorted images
are undistorted onto the same camera matrix (colour bilinear, depth nearest), so the
tracker sees a pinhole camera. ``FolderSource`` reads ``color/N.png`` + ``depth/N.pgm``
(+ optional ``pose.txt``) folders such as slambook's joinMap set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mapping.slam.errors import SlamError
from mapping.slam.frame import Pinhole, RgbdFrame
from mapping.slam.sensors import GyroIntegrator, Undistorter
from smartmine.errors import SmartmineError


class RgbdSource(Protocol):
    camera: Pinhole
    description: str

    def __iter__(self) -> Iterator[RgbdFrame]: ...


def depth_to_metres(array: npt.NDArray[Any], encoding: str) -> npt.NDArray[np.float32]:
    """16UC1/mono16 depth is millimetres (REP-118); 32FC1 is metres."""
    if array.dtype == np.uint16:
        return (array.astype(np.float32) / 1000.0).astype(np.float32)
    if array.dtype in (np.float32, np.float64):
        return np.asarray(array, dtype=np.float32)
    raise SlamError(f"depth image encoding {encoding!r} is not a depth encoding (16UC1 or 32FC1)")


def _first_message(bag: Any, topic: str) -> Any:
    """The first message on ``topic``; a SlamError naming it when there is none."""
    for message in bag.messages([topic]):
        return message.message
    raise SlamError(f"{bag.path}: topic {topic} has no messages")


class BagSource:
    """Frames from a bag (see module docstring)."""

    def __init__(
        self,
        path: Path,
        color_topic: str | None = None,
        depth_topic: str | None = None,
        info_topic: str | None = None,
        max_frames: int | None = None,
        stride: int = 1,
        imu_topic: str | None = "auto",
        *,
        calibration_follows: bool = False,
    ) -> None:
        """``calibration_follows``: a camera_info that is not a calibration (an uncalibrated
        driver's zero K) is let through, as ``apply_calibration`` will replace it."""
        from smartmine.bagio.reader import BagReader
        from smartmine.msgs import CameraIntrinsics, camera_info_to_intrinsics
        from smartmine.msgs.camera import check_calibrated

        self.path = Path(path)
        self.max_frames = max_frames
        self.stride = max(1, stride)
        with BagReader(self.path) as bag:
            topics = bag.topics
            images = [t for t, s in topics.items() if s.msgtype == "sensor_msgs/msg/Image"]
            infos = [t for t, s in topics.items() if s.msgtype == "sensor_msgs/msg/CameraInfo"]
            self.depth_topic = depth_topic or _pick(images, ("depth",), (), "depth image", path)
            self.color_topic = color_topic or _pick(
                images,
                ("color", "rgb", "colour"),
                ("depth", "hyperspectral", "ir"),
                "colour image",
                path,
            )
            self.info_topic = info_topic or _pick(
                infos,
                ("color", "rgb", "colour"),
                ("depth", "hyperspectral", "ir"),
                "colour camera_info",
                path,
            )
            for t in (self.color_topic, self.depth_topic, self.info_topic):
                if t not in topics:
                    raise SlamError(f"{path}: no topic {t!r} (topics: {', '.join(sorted(topics))})")
            for option, t, want in (
                ("--color-topic", self.color_topic, "sensor_msgs/msg/Image"),
                ("--depth-topic", self.depth_topic, "sensor_msgs/msg/Image"),
                ("--info-topic", self.info_topic, "sensor_msgs/msg/CameraInfo"),
            ):
                if topics[t].msgtype != want:
                    raise SlamError(f"{path}: {option} {t} is {topics[t].msgtype}, not {want}")
            info_msg = _first_message(bag, self.info_topic)
            imus = [t for t, s in topics.items() if s.msgtype == "sensor_msgs/msg/Imu"]
            self.imu_topic = (imus[0] if imus else None) if imu_topic == "auto" else imu_topic
            self.R_cam_imu: npt.NDArray[np.float64] | None = None
            if self.imu_topic is not None:
                imu_msg = _first_message(bag, self.imu_topic)
                self.R_cam_imu = _static_rotation(
                    bag, info_msg.header.frame_id, imu_msg.header.frame_id
                )
        self.intrinsics = camera_info_to_intrinsics(info_msg)
        self.unusable_info: str | None = None
        """Why the bag's camera_info cannot be used; apply_calibration replaces it."""
        try:
            check_calibrated(self.intrinsics)
        except SmartmineError as err:
            self.unusable_info = (
                f"{path}: {self.info_topic} is not a usable calibration ({err}); "
                "give the camera with --calibration"
            )
            if not calibration_follows or self.intrinsics.width < 1 or self.intrinsics.height < 1:
                raise SlamError(self.unusable_info) from None
            # a stand-in until apply_calibration gives the real camera
            w, h = self.intrinsics.width, self.intrinsics.height
            stand_in = np.array([[w, 0.0, w / 2], [0.0, w, h / 2], [0.0, 0.0, 1.0]])
            self.intrinsics = CameraIntrinsics(w, h, stand_in, np.zeros(5))
        self.camera = Pinhole.from_k(
            self.intrinsics.width, self.intrinsics.height, self.intrinsics.k
        )
        self.undistorter = Undistorter.create(self.intrinsics)
        self.description = f"bag {self.path} ({self.color_topic}, {self.depth_topic})"
        self.skipped_messages = 0

    def __iter__(self) -> Iterator[RgbdFrame]:
        from smartmine.bagio.reader import BagReader
        from smartmine.msgs import header_stamp_ns, image_to_numpy, imu_to_sample

        if self.unusable_info is not None:
            raise SlamError(self.unusable_info)

        use_imu = self.imu_topic is not None and self.R_cam_imu is not None
        gyro = GyroIntegrator()
        pending_color: dict[int, Any] = {}
        pending_depth: dict[int, Any] = {}
        index = 0
        emitted = 0
        with BagReader(self.path) as bag:
            wanted = [self.color_topic, self.depth_topic]
            if use_imu and self.imu_topic is not None:
                wanted.append(self.imu_topic)
            for msg in bag.messages(wanted):
                stamp = header_stamp_ns(msg.message)
                if msg.topic == self.imu_topic:
                    gyro.add(stamp, imu_to_sample(msg.message).angular_velocity_rad_s)
                    continue
                store = pending_color if msg.topic == self.color_topic else pending_depth
                store[stamp] = msg.message
                other = pending_depth if msg.topic == self.color_topic else pending_color
                match = _nearest(other, stamp, tolerance_ns=20_000_000)
                if match is None:
                    _trim(store, 50)
                    continue
                color_msg = store.pop(stamp) if store is pending_color else other.pop(match)
                depth_msg = store.pop(stamp) if store is pending_depth else other.pop(match)
                for old in [s for s in pending_color if s < stamp - 1_000_000_000]:
                    pending_color.pop(old)
                for old in [s for s in pending_depth if s < stamp - 1_000_000_000]:
                    pending_depth.pop(old)
                index += 1
                if (index - 1) % self.stride:
                    continue
                try:
                    color = image_to_numpy(color_msg)
                    depth = depth_to_metres(image_to_numpy(depth_msg), depth_msg.encoding)
                except SmartmineError:
                    self.skipped_messages += 1  # corrupt frame: counted, not fatal
                    continue
                if color.ndim == 3 and getattr(color_msg, "encoding", "").startswith("bgr"):
                    color = color[:, :, ::-1]
                if color.ndim == 3 and color.shape[2] == 4:
                    color = color[:, :, :3]
                if color.shape[:2] != depth.shape or color.shape[:2] != (
                    self.camera.height,
                    self.camera.width,
                ):
                    self.skipped_messages += 1
                    continue
                color = np.ascontiguousarray(color, dtype=np.uint8)
                if self.undistorter is not None:
                    color, depth = self.undistorter.apply(color, depth)
                prior = gyro.take(self.R_cam_imu) if self.R_cam_imu is not None else None
                if not emitted:
                    prior = None
                yield RgbdFrame(header_stamp_ns(color_msg), color, depth, index - 1, prior)
                emitted += 1
                if self.max_frames is not None and emitted >= self.max_frames:
                    return


def apply_calibration(source: RgbdSource, path: Path, camera: str | None = None) -> None:
    """Give ``source`` the camera of ``--calibration`` (a calibration.yaml of ``smartmine
    calibrate``, camera ``camera`` or the only/first one, or a ROS camera_info YAML).

    A bag or RealSense source also takes its distortion (frames are undistorted with it);
    the image size must be the source's.
    """
    from calibration.camera_model import load_camera_model

    try:
        intrinsics = load_camera_model(path, camera).intrinsics
    except SmartmineError as err:
        raise SlamError(str(err)) from None
    from mapping.slam.realsense import RealsenseSource

    if isinstance(source, (BagSource, RealsenseSource)):  # frames get undistorted
        own = source.intrinsics
        if (intrinsics.width, intrinsics.height) != (own.width, own.height):
            raise SlamError(
                f"{path}: calibration is for {intrinsics.width}x{intrinsics.height} images, "
                f"{source.description} gives {own.width}x{own.height}"
            )
        source.intrinsics = intrinsics
        source.undistorter = Undistorter.create(intrinsics)
        if isinstance(source, BagSource):
            source.unusable_info = None
    source.camera = Pinhole.from_k(intrinsics.width, intrinsics.height, intrinsics.k)
    if isinstance(source, FolderFrames):
        source.camera_note = str(path)


def _static_rotation(bag: Any, camera_frame: str, imu_frame: str) -> npt.NDArray[np.float64] | None:
    """R_cam_imu from the bag's /tf_static (None when the frames are not connected there)."""
    from smartmine.msgs import tf_message_to_transforms

    if camera_frame == imu_frame:
        return np.eye(3)
    if "/tf_static" not in bag.topics:
        return None
    transforms = [
        t for msg in bag.messages(["/tf_static"]) for t in tf_message_to_transforms(msg.message)
    ]
    return rotation_between(transforms, camera_frame, imu_frame)


def rotation_between(
    transforms: Sequence[Any], target_frame: str, source_frame: str
) -> npt.NDArray[np.float64] | None:
    """R_target_source through a chain of static transforms (StampedTransform), or None."""
    if target_frame == source_frame:
        return np.eye(3)
    edges: dict[str, list[tuple[str, npt.NDArray[np.float64]]]] = {}
    for t in transforms:
        r = np.asarray(t.matrix, dtype=np.float64)[:3, :3]  # R_parent_child
        edges.setdefault(t.parent_frame, []).append((t.child_frame, r))
        edges.setdefault(t.child_frame, []).append((t.parent_frame, r.T))
    # breadth-first from the source frame: R_node_source for every reachable node
    found = {source_frame: np.eye(3)}
    queue = [source_frame]
    while queue:
        node = queue.pop(0)
        for other, r_node_other in edges.get(node, []):
            if other not in found:
                found[other] = r_node_other.T @ found[node]
                queue.append(other)
    return found.get(target_frame)


def _nearest(store: dict[int, Any], stamp: int, tolerance_ns: int) -> int | None:
    best = None
    for s in store:
        if abs(s - stamp) <= tolerance_ns and (best is None or abs(s - stamp) < abs(best - stamp)):
            best = s
    return best


def _trim(store: dict[int, Any], keep: int) -> None:
    while len(store) > keep:
        store.pop(min(store))


def _pick(
    topics: list[str], want: tuple[str, ...], avoid: tuple[str, ...], what: str, path: Path
) -> str:
    scored = [
        t
        for t in topics
        if any(w in t.lower() for w in want) and not any(a in t.lower() for a in avoid)
    ]
    if not scored:
        raise SlamError(
            f"{path}: no {what} topic found (image/camera_info topics: "
            f"{', '.join(topics) or 'none'}); name it with --color-topic/--depth-topic/--info-topic"
        )
    return sorted(scored, key=lambda t: ("raw" not in t, len(t)))[0]


# -- folders of images (slamreal, issue 19) ---------------------------------------------
#
# One class per layout behind one interface (KISS-ICP's datasets style): each lists its
# (stamp, colour file, depth file) rows, knows its depth units, and where it can, its
# camera and ground truth. ``open_folder`` picks the class from the folder's contents.

KNOWN_CAMERAS: dict[str, tuple[float, float, float, float]] = {
    # TUM RGB-D's published colour intrinsics, by the sequence name's sensor
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
    # ICL-NUIM (fy is -480 in its own POV-Ray convention; the PNGs are upright)
    "living_room": (481.2, 480.0, 319.5, 239.5),
    "traj0_frei": (481.2, 480.0, 319.5, 239.5),
    "office": (481.2, 480.0, 319.5, 239.5),
}


def parse_intrinsics(text: str) -> tuple[float, float, float, float]:
    """``fx,fy,cx,cy`` in pixels; a SlamError naming ``--intrinsics`` otherwise."""
    import math

    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise SlamError(f"--intrinsics {text!r}: want four numbers fx,fy,cx,cy (pixels)")
    fx, fy, cx, cy = values
    if fx <= 0 or fy <= 0:
        raise SlamError(f"--intrinsics {text!r}: focal lengths must be positive")
    return fx, fy, cx, cy


class FolderFrames:
    """Frames listed as (stamp ns, colour file, depth file) rows of one folder layout.

    ``camera`` is None until given (``--intrinsics``, ``--camera-info``) or known for
    the layout; ``ground_truth`` is the folder's trajectory of the colour frames, if any.
    """

    layout = "folder"
    default_depth_scale = 1000.0
    guess_camera = False
    """Whether a sequence name may give the camera (TUM, ICL-NUIM)."""

    def __init__(
        self,
        folder: Path,
        camera: Pinhole | None = None,
        depth_scale: float | None = None,
        max_frames: int | None = None,
        stride: int = 1,
    ) -> None:
        self.folder = Path(folder)
        self.depth_scale = self.default_depth_scale if depth_scale is None else depth_scale
        if not (self.depth_scale > 0 and np.isfinite(self.depth_scale)):
            raise SlamError(f"--depth-scale {self.depth_scale}: must be a positive number")
        rows = self.rows()
        if not rows:
            raise SlamError(f"{self.folder}: {self.layout} folder without frames")
        self.rows_all = rows[:: max(1, stride)][:max_frames]
        for _, color, depth in self.rows_all:  # refused before any work, not mid-run
            if not color.exists():
                raise SlamError(f"{color}: no such colour image")
            if depth is None or not depth.exists():
                raise SlamError(f"{color}: no depth image for it ({depth or 'none listed'})")
        self.description = f"{self.layout} folder {self.folder}"
        self.camera_note = "given"
        self._camera = camera or (self._known_camera() if self.guess_camera else None)
        self.skipped_messages = 0

    @property
    def camera(self) -> Pinhole:
        """The camera; the one error line of missing intrinsics when there is none."""
        if self._camera is None:
            raise SlamError(
                f"{self.folder}: no camera intrinsics for this {self.layout} folder; give "
                "--intrinsics fx,fy,cx,cy or --camera-info FILE"
            )
        return self._camera

    @camera.setter
    def camera(self, camera: Pinhole) -> None:
        w, h = self.image_size()
        if (camera.width, camera.height) != (w, h):
            raise SlamError(
                f"{self.folder}: the camera is for {camera.width}x{camera.height} images, "
                f"the folder's are {w}x{h}"
            )
        self._camera = camera

    # the per-layout parts
    def rows(self) -> list[tuple[int, Path, Path | None]]:
        raise NotImplementedError

    def read_depth(self, path: Path) -> npt.NDArray[np.float32]:
        """Depth in metres (0: none) of one depth file."""
        import cv2

        depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if depth is None or depth.ndim != 2:
            raise SlamError(f"{path}: not a single-channel depth image")
        return (depth.astype(np.float32) / np.float32(self.depth_scale)).astype(np.float32)

    def ground_truth(self) -> Any:
        """The folder's ground truth as a Trajectory (None: none in the folder)."""
        return None

    # shared
    def image_size(self) -> tuple[int, int]:
        import cv2

        first = self.rows_all[0][1]
        image = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SlamError(f"{first}: cannot read the colour image")
        return int(image.shape[1]), int(image.shape[0])

    def _known_camera(self) -> Pinhole | None:
        """The camera of a known sequence, from the folder's name (TUM, ICL-NUIM)."""
        name = str(self.folder.resolve()).lower()
        for key, (fx, fy, cx, cy) in KNOWN_CAMERAS.items():
            if key in name:
                w, h = self.image_size()
                self.camera_note = f"{key}'s published intrinsics (from the folder name)"
                return Pinhole(w, h, fx, fy, cx, cy)
        return None

    def set_intrinsics(self, fx: float, fy: float, cx: float, cy: float) -> None:
        w, h = self.image_size()
        self._camera = Pinhole(w, h, fx, fy, cx, cy)
        self.camera_note = "--intrinsics"

    def __iter__(self) -> Iterator[RgbdFrame]:
        import cv2

        for i, (stamp_ns, color_path, depth_path) in enumerate(self.rows_all):
            assert depth_path is not None  # checked in __init__
            color = cv2.imread(str(color_path), cv2.IMREAD_COLOR)
            if color is None:
                raise SlamError(f"{color_path}: cannot read the colour image")
            depth = self.read_depth(depth_path)
            if depth.shape != color.shape[:2] or depth.shape != (
                self.camera.height,
                self.camera.width,
            ):
                raise SlamError(
                    f"{depth_path}: {depth.shape[1]}x{depth.shape[0]} depth, colour "
                    f"{color.shape[1]}x{color.shape[0]}, camera "
                    f"{self.camera.width}x{self.camera.height}: they must agree"
                )
            yield RgbdFrame(stamp_ns, np.ascontiguousarray(color[:, :, ::-1]), depth, i)


class SlambookFolder(FolderFrames):
    """``color/N.png`` + ``depth/N.pgm|png`` (millimetres) + optional ``pose.txt``
    (``tx ty tz qx qy qz qw`` per frame, T_world_cam), as slambook's joinMap set.
    Frames get stamps 0.1 s apart (the set has none)."""

    layout = "slambook"
    default_depth_scale = 1000.0

    def rows(self) -> list[tuple[int, Path, Path | None]]:
        colors = sorted((self.folder / "color").glob("*.png"), key=_numeric_key)
        rows: list[tuple[int, Path, Path | None]] = []
        for i, color in enumerate(colors):
            depth = next(
                (
                    p
                    for p in sorted((self.folder / "depth").glob(f"{color.stem}.*"))
                    if p.suffix in (".pgm", ".png")
                ),
                self.folder / "depth" / f"{color.stem}.pgm",
            )
            rows.append((i * 100_000_000, color, depth))
        return rows

    def ground_truth(self) -> Any:
        from mapping.slam.trajectory import Trajectory
        from smartmine.geometry import quat_to_matrix

        path = self.folder / "pose.txt"
        if not path.exists():
            return None
        try:
            table = np.loadtxt(path, ndmin=2)
        except ValueError as err:
            raise SlamError(f"{path}: not rows of tx ty tz qx qy qz qw ({err})") from None
        if table.shape[1] != 7:
            raise SlamError(f"{path}: {table.shape[1]} columns, want tx ty tz qx qy qz qw")
        n = min(len(table), len(self.rows()))
        poses = np.tile(np.eye(4), (n, 1, 1))
        for k in range(n):
            poses[k, :3, :3] = quat_to_matrix(table[k, 3:])
            poses[k, :3, 3] = table[k, :3]
        stamps = np.array([r[0] for r in self.rows()[:n]], dtype=np.float64) * 1e-9
        return Trajectory(stamps, poses, "pose.txt")


FolderSource = SlambookFolder
"""The older name (tests, benchmarks)."""


class TumFolder(FolderFrames):
    """TUM RGB-D layout: ``rgb.txt`` and ``depth.txt`` (``stamp file`` rows) with
    ``rgb/`` and ``depth/`` PNGs, depth 5000 units per metre, optional
    ``groundtruth.txt``; colour and depth associated by nearest stamp within 20 ms
    (TUM's associate.py). ICL-NUIM's TUM-compatible sets have the same layout."""

    layout = "TUM RGB-D"
    default_depth_scale = 5000.0
    guess_camera = True
    max_difference_s = 0.02

    def rows(self) -> list[tuple[int, Path, Path | None]]:
        colors = self._list("rgb.txt")
        depths = self._list("depth.txt")
        if not depths:
            raise SlamError(f"{self.folder / 'depth.txt'}: no depth images listed")
        d_stamps = np.array([s for s, _ in depths])
        rows: list[tuple[int, Path, Path | None]] = []
        for stamp, color in colors:
            k = int(np.argmin(np.abs(d_stamps - stamp)))
            if abs(d_stamps[k] - stamp) > self.max_difference_s:
                self.skipped_unmatched = getattr(self, "skipped_unmatched", 0) + 1
                continue
            rows.append((round(stamp * 1e9), color, depths[k][1]))
        return rows

    def _list(self, name: str) -> list[tuple[float, Path]]:
        path = self.folder / name
        if not path.exists():
            raise SlamError(f"{path}: missing (a TUM RGB-D folder lists its images there)")
        out = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            try:
                stamp = float(parts[0])
                out.append((stamp, self.folder / parts[1]))
            except (ValueError, IndexError):
                raise SlamError(f"{path}:{n}: want 'timestamp filename', got {line!r}") from None
        return out

    def ground_truth(self) -> Any:
        from mapping.slam.trajectory import read_trajectory

        path = self.folder / "groundtruth.txt"
        return read_trajectory(path, "tum") if path.exists() else None


class IclNuimFolder(FolderFrames):
    """ICL-NUIM's POV-Ray native layout: ``scene_00_NNNN.png`` with ``scene_00_NNNN.depth``
    (text: the Euclidean distance of each pixel's point from the camera centre, row by
    row), turned into depth along the optical axis. Stamps are 1/30 s apart. The
    distances are taken as metres (``--depth-scale`` 1); the pose files are not read."""

    layout = "ICL-NUIM"
    default_depth_scale = 1.0
    guess_camera = True

    def rows(self) -> list[tuple[int, Path, Path | None]]:
        colors = sorted(self.folder.glob("scene_*_[0-9][0-9][0-9][0-9].png"))
        return [(round(i * 1e9 / 30), c, c.with_suffix(".depth")) for i, c in enumerate(colors)]

    def read_depth(self, path: Path) -> npt.NDArray[np.float32]:
        cam = self.camera
        try:
            dist = np.loadtxt(path, dtype=np.float64).ravel()
        except ValueError as err:
            raise SlamError(f"{path}: not a POV-Ray depth file ({err})") from None
        if dist.size != cam.width * cam.height:
            raise SlamError(
                f"{path}: {dist.size} values, want {cam.width}x{cam.height} = "
                f"{cam.width * cam.height}"
            )
        u = (np.arange(cam.width) - cam.cx) / cam.fx
        v = (np.arange(cam.height) - cam.cy) / cam.fy
        norm = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2 + 1.0)
        z = dist.reshape(cam.height, cam.width) / norm / self.depth_scale
        return np.asarray(z, dtype=np.float32)


LAYOUTS: dict[str, type[FolderFrames]] = {
    "tum": TumFolder,
    "icl-nuim": IclNuimFolder,
    "slambook": SlambookFolder,
}


def folder_layout(folder: Path) -> type[FolderFrames]:
    """The layout class of ``folder`` from what it holds; a SlamError listing the
    layouts otherwise."""
    folder = Path(folder)
    if (folder / "rgb.txt").exists() or (folder / "depth.txt").exists():
        return TumFolder
    if any(folder.glob("scene_*_[0-9][0-9][0-9][0-9].depth")):
        return IclNuimFolder
    if (folder / "color").is_dir():
        return SlambookFolder
    raise SlamError(
        f"{folder}: not an RGB-D folder this reads: TUM RGB-D / ICL-NUIM (rgb.txt, "
        "depth.txt, rgb/, depth/), ICL-NUIM native (scene_00_NNNN.png + .depth) or "
        "slambook (color/N.png, depth/N.pgm, pose.txt)"
    )


def open_folder(
    folder: Path,
    intrinsics: str | None = None,
    depth_scale: float | None = None,
    max_frames: int | None = None,
    stride: int = 1,
) -> FolderFrames:
    """The frames of ``folder`` (layout guessed from its contents), with the camera of
    ``intrinsics`` (``fx,fy,cx,cy``) when given."""
    kind = folder_layout(folder)
    given = parse_intrinsics(intrinsics) if intrinsics is not None else None
    source = kind(folder, None, depth_scale, max_frames, stride)
    if given is not None:
        source.set_intrinsics(*given)
    return source


def _numeric_key(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 30, path.stem)
