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


class FolderSource:
    """``color/*.png`` + ``depth/*.pgm|png`` (millimetres) with given intrinsics."""

    def __init__(self, folder: Path, camera: Pinhole, depth_scale: float = 1000.0) -> None:
        self.folder = Path(folder)
        self.camera = camera
        self.depth_scale = depth_scale
        self.colors = sorted((self.folder / "color").glob("*.png"), key=_numeric_key)
        if not self.colors:
            raise SlamError(f"{self.folder}: no color/*.png")
        self.description = f"folder {self.folder}"

    def __iter__(self) -> Iterator[RgbdFrame]:
        import cv2

        for i, color_path in enumerate(self.colors):
            stem = color_path.stem
            depth_path = next(
                (
                    p
                    for p in (self.folder / "depth").glob(f"{stem}.*")
                    if p.suffix in (".pgm", ".png")
                ),
                None,
            )
            color = cv2.imread(str(color_path), cv2.IMREAD_COLOR)
            depth = cv2.imread(str(depth_path), cv2.IMREAD_UNCHANGED) if depth_path else None
            if color is None or depth is None:
                raise SlamError(f"{color_path}: cannot read the image or its depth")
            yield RgbdFrame(
                int(i * 1e8),
                np.ascontiguousarray(color[:, :, ::-1]),
                (depth.astype(np.float32) / self.depth_scale).astype(np.float32),
                i,
            )


def _numeric_key(path: Path) -> tuple[int, str]:
    return (int(path.stem), "") if path.stem.isdigit() else (1 << 30, path.stem)
