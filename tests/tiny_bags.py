"""Tiny real bags of every storage (ROS 1 .bag, ROS 2 .db3 directory, .mcap) for the
bad-input corpus: built once per test session, copied (then damaged) into each case's
folder. Two 8x6 colour frames, a 7-band float cube, a GNSS fix and an IMU sample."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from smartmine.msgs import ImuSample

START_NS = 1_767_225_600_000_000_000
COLOUR = "/camera/color/image_raw"
CUBE = "/hyperspectral/image_raw"
FIX = "/gnss/fix"
IMU = "/imu/data"


@functools.cache
def _built() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="smartmine-tiny-bags-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    _write_ros2(folder / "tiny.mcap", "mcap")
    _write_ros2(folder / "tiny_db3", "sqlite3")
    _write_ros1(folder / "tiny.bag")
    return folder


def still_imu(stamp_ns: int) -> ImuSample:
    """An IMU at rest, level: gravity up, no rotation."""
    return ImuSample(
        stamp_ns=stamp_ns,
        frame_id="imu",
        orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]),
        orientation_covariance=np.eye(3),
        angular_velocity_rad_s=np.zeros(3),
        angular_velocity_covariance=np.eye(3),
        linear_acceleration_m_s2=np.array([0.0, 0.0, 9.8]),
        linear_acceleration_covariance=np.eye(3),
    )


def _write_ros2(path: Path, storage: str) -> None:
    from smartmine.bagio import BagWriter
    from smartmine.msgs import GeoFix, numpy_to_image, sample_to_imu
    from smartmine.msgs.navsat import geofix_to_navsatfix

    with BagWriter(path, storage=storage) as bag:  # type: ignore[arg-type]
        bag.add_topic(COLOUR, "sensor_msgs/msg/Image")
        bag.add_topic(CUBE, "sensor_msgs/msg/Image")
        bag.add_topic(FIX, "sensor_msgs/msg/NavSatFix")
        bag.add_topic(IMU, "sensor_msgs/msg/Imu")
        for i in range(2):
            t = START_NS + i * 100_000_000
            rgb = np.full((6, 8, 3), 40 * (i + 1), np.uint8)
            cube = np.arange(6 * 8 * 7, dtype=np.float32).reshape(6, 8, 7) + i
            f = bag.factory
            bag.write(COLOUR, t, numpy_to_image(rgb, "rgb8", stamp_ns=t, frame_id="c", factory=f))
            bag.write(CUBE, t, numpy_to_image(cube, "32FC7", stamp_ns=t, frame_id="h", factory=f))
            fix = GeoFix(
                stamp_ns=t,
                latitude_deg=49.9,
                longitude_deg=82.6,
                altitude_m=300.0,
                position_covariance=np.eye(3),
                covariance_type=2,
                frame_id="gnss",
            )
            bag.write(FIX, t, geofix_to_navsatfix(fix, f))
            imu = still_imu(t)
            bag.write(IMU, t, sample_to_imu(imu, f))


def _write_ros1(path: Path) -> None:
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    image = store.types["sensor_msgs/msg/Image"]
    header = store.types["std_msgs/msg/Header"]
    stamp = store.types["builtin_interfaces/msg/Time"]
    with Writer(path) as bag:
        conn = bag.add_connection(COLOUR, "sensor_msgs/msg/Image", typestore=store)
        for i in range(2):
            t = START_NS + i * 100_000_000
            msg = image(
                header=header(seq=i, stamp=stamp(sec=t // 10**9, nanosec=t % 10**9), frame_id="c"),
                height=6,
                width=8,
                encoding="rgb8",
                is_bigendian=0,
                step=24,
                data=np.full(6 * 24, 30 * (i + 1), np.uint8),
            )
            bag.write(conn, t, store.serialize_ros1(msg, "sensor_msgs/msg/Image"))


def copy_bag(kind: str, folder: Path, name: str | None = None) -> Path:
    """A fresh copy of the tiny bag of ``kind`` (``mcap``, ``db3`` directory, ``bag``)."""
    source = {"mcap": "tiny.mcap", "db3": "tiny_db3", "bag": "tiny.bag"}[kind]
    src = _built() / source
    dst = folder / (name or source)
    if src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copyfile(src, dst)
    return dst


def storage_file(bag: Path) -> Path:
    """The file holding the messages: the bag itself or the .db3 inside a directory."""
    return next(bag.glob("*.db3")) if bag.is_dir() else bag


def truncate(path: Path, keep: float) -> None:
    """Cut ``path`` to ``keep`` of its size (0 < keep < 1)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flip_bits(path: Path, start: float = 0.3, stop: float = 0.9, every: int = 7) -> None:
    """Flip one bit in every ``every``-th byte between the fractions ``start`` and ``stop``."""
    data = bytearray(path.read_bytes())
    for i in range(int(len(data) * start), int(len(data) * stop), every):
        data[i] ^= 0x10
    path.write_bytes(bytes(data))
