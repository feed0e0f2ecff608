"""Bag read throughput: smartmine's reader decoding to numpy vs plain rosbags AnyReader.

Generates a bag of 640×480 rgb8 images (~1 GB by default; mcap), then reads it with

- peer: ``rosbags.highlevel.AnyReader`` iterating and deserializing every message;
- ours: ``smartmine.bagio.BagReader.messages`` plus ``image_to_numpy`` on each image.

Each is timed several times, alternating, after one warm-up pass (page cache);
the best run of each is reported. Goal: ours >= 0.9x the peer's MB/s.

    python benchmarks/bag_read.py [--size-mb 1024] [--bag existing.mcap] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from smartmine.bagio import BagReader, BagWriter
from smartmine.msgs import image_to_numpy, numpy_to_image

WIDTH, HEIGHT = 640, 480
TOPIC = "/camera/color/image_raw"


def generate(path: Path, size_mb: int) -> None:
    frame_bytes = WIDTH * HEIGHT * 3
    frames = max(1, size_mb * 1024 * 1024 // frame_bytes)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    with BagWriter(path) as bag:
        bag.add_topic(TOPIC, "sensor_msgs/msg/Image", qos="sensor")
        for i in range(frames):
            stamp = 1_700_000_000_000_000_000 + i * 33_333_333
            image = np.roll(base, i, axis=1)
            bag.write(
                TOPIC, stamp, numpy_to_image(image, "rgb8", stamp_ns=stamp, factory=bag.factory)
            )


def read_peer(path: Path) -> tuple[int, int]:
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    count = nbytes = 0
    with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
        for conn, _, raw in reader.messages(reader.connections):
            msg = reader.deserialize(raw, conn.msgtype)
            count += 1
            nbytes += len(msg.data)
    return count, nbytes


def read_ours(path: Path) -> tuple[int, int]:
    count = nbytes = 0
    with BagReader(path) as bag:
        for m in bag.messages([TOPIC]):
            image = image_to_numpy(m.message)
            count += 1
            nbytes += image.nbytes
    return count, nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--bag", type=Path, help="reuse this bag instead of generating one")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="smartmine-bench-"))
    try:
        path = args.bag or tmp / "images.mcap"
        if args.bag is None:
            t0 = time.perf_counter()
            generate(path, args.size_mb)
            seconds = time.perf_counter() - t0
            print(f"generated {path.stat().st_size / 2**20:.0f} MiB in {seconds:.1f} s")
        size_mb = path.stat().st_size / 2**20
        read_peer(path)  # warm the page cache
        best = {"peer": float("inf"), "ours": float("inf")}
        counts: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, fn in (("peer", read_peer), ("ours", read_ours)):
                t0 = time.perf_counter()
                counts[name], _ = fn(path)
                best[name] = min(best[name], time.perf_counter() - t0)
        assert counts["peer"] == counts["ours"], counts
        peer, ours = size_mb / best["peer"], size_mb / best["ours"]
        print(f"bag: {size_mb:.0f} MiB, {counts['ours']} images {WIDTH}x{HEIGHT} rgb8")
        print(f"peer rosbags AnyReader + deserialize : {peer:8.1f} MB/s")
        print(f"ours BagReader + image_to_numpy      : {ours:8.1f} MB/s")
        print(f"ratio ours/peer: {ours / peer:.2f} (goal >= 0.90)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
