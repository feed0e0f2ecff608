"""Bag read speed: smartmine's reader against plain rosbags ``AnyReader``, same run.

Two measurements, each timed several times alternating ours and the peer's after one
warm-up pass (page cache), best run of each (CPU time) reported with the ratio:

1. Throughput (MB/s and messages/s) on any bag: ``--bag`` (ROS 1 or ROS 2, mixed topics
   such as the simulator's), or a generated bag of 640x480 rgb8 images. Every message of
   every decodable topic is read and its serialized bytes counted.
   - peer: ``rosbags.highlevel.AnyReader``, deserializing every message;
   - ours: ``BagReader.messages()``, plus the numpy conversion of images and point clouds
     (``image_to_numpy``, ``pointcloud2_to_array``; compressed images stay compressed,
     as the peer leaves them).
2. Messages/s on an IMU-heavy bag (``--imu-bag``, or generated: 200 Hz
   ``sensor_msgs/Imu``), where per-message overhead, not bytes, dominates.
   - peer: ``AnyReader`` + deserialize; ours: ``BagReader.messages()``; and, for
     information, ours plus ``imu_to_sample`` (numpy arrays of each message).

Goal: ours >= 0.9x the peer on both.

    python benchmarks/bag_read.py [--bag B] [--size-mb 256] [--imu-bag B]
                                  [--imu-messages 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from smartmine.bagio import BagReader, BagWriter
from smartmine.msgs import (
    ImuSample,
    image_to_numpy,
    imu_to_sample,
    numpy_to_image,
    pointcloud2_to_array,
    sample_to_imu,
)

WIDTH, HEIGHT = 640, 480
IMAGE_TOPIC = "/camera/color/image_raw"
IMU_TOPIC = "/imu/data"
T0_NS = 1_700_000_000_000_000_000
CONVERTERS: dict[str, Callable[[object], object]] = {
    "sensor_msgs/msg/Image": image_to_numpy,
    "sensor_msgs/Image": image_to_numpy,
    "sensor_msgs/msg/PointCloud2": pointcloud2_to_array,
    "sensor_msgs/PointCloud2": pointcloud2_to_array,
}

Reading = tuple[int, int]
"""(messages, serialized bytes) of one pass."""


def generate_images(path: Path, size_mb: int) -> None:
    frames = max(1, size_mb * 2**20 // (WIDTH * HEIGHT * 3))
    base = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    with BagWriter(path) as bag:
        bag.add_topic(IMAGE_TOPIC, "sensor_msgs/msg/Image", qos="sensor")
        for i in range(frames):
            stamp = T0_NS + i * 33_333_333
            image = np.roll(base, i, axis=1)
            msg = numpy_to_image(image, "rgb8", stamp_ns=stamp, factory=bag.factory)
            bag.write(IMAGE_TOPIC, stamp, msg)


def generate_imu(path: Path, messages: int) -> None:
    rng = np.random.default_rng(1)
    with BagWriter(path) as bag:
        bag.add_topic(IMU_TOPIC, "sensor_msgs/msg/Imu", qos="sensor")
        for i in range(messages):
            stamp = T0_NS + i * 5_000_000  # 200 Hz
            q = rng.normal(size=4)
            cov = np.eye(3) * 1e-4
            sample = ImuSample(
                stamp_ns=stamp,
                frame_id="imu_link",
                orientation_xyzw=q / np.linalg.norm(q),
                orientation_covariance=cov,
                angular_velocity_rad_s=rng.normal(size=3),
                angular_velocity_covariance=cov,
                linear_acceleration_m_s2=rng.normal(size=3) + np.array([0.0, 0.0, 9.81]),
                linear_acceleration_covariance=cov,
            )
            bag.write(IMU_TOPIC, stamp, sample_to_imu(sample, bag.factory))


def decodable_topics(path: Path) -> list[str]:
    with BagReader(path) as bag:
        return sorted(t.name for t in bag.topics.values() if t.decodable and t.count)


def read_peer(path: Path, topics: list[str]) -> Reading:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    count = nbytes = 0
    with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
        conns = [c for c in reader.connections if c.topic in topics]
        for conn, _, raw in reader.messages(conns):
            reader.deserialize(raw, conn.msgtype)
            count += 1
            nbytes += len(raw)
    return count, nbytes


def read_ours(path: Path, topics: list[str]) -> Reading:
    count = 0
    with BagReader(path) as bag:
        for m in bag.messages(topics):
            convert = CONVERTERS.get(m.msgtype)
            if convert is not None:
                convert(m.message)
            count += 1
    return count, 0


def read_ours_imu_samples(path: Path, topics: list[str]) -> Reading:
    count = 0
    with BagReader(path) as bag:
        for m in bag.messages(topics):
            imu_to_sample(m.message)
            count += 1
    return count, 0


def race(
    path: Path, readers: dict[str, Callable[[Path, list[str]], Reading]], repeats: int
) -> tuple[dict[str, float], int, int]:
    """Best CPU seconds of each reader, messages, serialized bytes (the peer's pass).

    CPU time of this process, not wall time: both readers are single-threaded, and on
    a machine shared with other jobs CPU time is what stays comparable between runs."""
    topics = decodable_topics(path)
    count, nbytes = read_peer(path, topics)  # warm the page cache
    best = dict.fromkeys(readers, float("inf"))
    for _ in range(repeats):
        for name, read in readers.items():
            t0 = time.process_time()
            got, _ = read(path, topics)
            best[name] = min(best[name], time.process_time() - t0)
            assert got == count, f"{name} read {got} messages, the peer {count}"
    return best, count, nbytes


def throughput(path: Path, repeats: int) -> None:
    if not decodable_topics(path):
        print(f"bag: {path.name} has no decodable messages; nothing to time")
        return
    best, count, nbytes = race(path, {"peer": read_peer, "ours": read_ours}, repeats)
    mb = nbytes / 1e6
    print(f"bag: {path.name}, {count} messages, {mb:.1f} MB serialized, every decodable topic")
    for name, label in (
        ("peer", "peer rosbags AnyReader + deserialize "),
        ("ours", "ours BagReader + numpy conversion    "),
    ):
        print(f"{label}: {mb / best[name]:8.1f} MB/s  {count / best[name]:10.0f} msgs/s")
    print(f"ratio ours/peer: {best['peer'] / best['ours']:.2f} (goal >= 0.90)")


def imu_rate(path: Path, repeats: int) -> None:
    readers = {"peer": read_peer, "ours": read_ours, "ours+sample": read_ours_imu_samples}
    best, count, _ = race(path, readers, repeats)
    print(f"IMU-heavy bag: {path.name}, {count} messages")
    for name, label in (
        ("peer", "peer rosbags AnyReader + deserialize "),
        ("ours", "ours BagReader.messages              "),
        ("ours+sample", "ours + imu_to_sample (information)   "),
    ):
        print(f"{label}: {count / best[name]:10.0f} msgs/s")
    print(f"ratio ours/peer: {best['peer'] / best['ours']:.2f} (goal >= 0.90)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bag", type=Path, help="any bag (default: generated images)")
    parser.add_argument("--size-mb", type=int, default=256, help="generated image bag (256)")
    parser.add_argument("--imu-bag", type=Path, help="IMU-heavy bag (default: generated)")
    parser.add_argument("--imu-messages", type=int, default=100_000, help="generated (100000)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="smartmine-bench-"))
    try:
        bag = args.bag
        if bag is None:
            bag = tmp / "images.mcap"
            t0 = time.perf_counter()
            generate_images(bag, args.size_mb)
            print(f"generated {bag.name} in {time.perf_counter() - t0:.1f} s")
        throughput(bag, args.repeats)
        print()
        imu_bag = args.imu_bag
        if imu_bag is None:
            imu_bag = tmp / "imu.mcap"
            t0 = time.perf_counter()
            generate_imu(imu_bag, args.imu_messages)
            print(f"generated {imu_bag.name} in {time.perf_counter() - t0:.1f} s")
        imu_rate(imu_bag, args.repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
