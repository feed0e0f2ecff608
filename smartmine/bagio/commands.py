"""``smartmine bag info|export|sample``: argparse wiring only; work is imported lazily."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bag = sub.add_parser(
        "bag", help="inspect, export and generate bags (ROS 1, ROS 2 sqlite3/mcap)"
    )
    verbs = bag.add_subparsers(dest="verb", metavar="VERB", required=True)

    info = verbs.add_parser("info", help="storage, duration, and per topic type, count, rate")
    info.add_argument("bag", type=Path, help="a .bag, .db3, .mcap file or a rosbag2 directory")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.add_argument("--distro", help="ROS distribution for types the bag does not define")
    info.set_defaults(handler=_info)

    export = verbs.add_parser(
        "export",
        help="topics to PNG/TIFF/ENVI, PLY, CSV, camera_info YAML",
        description="Export topics: Image to PNG (16-bit kept; 32FC1 to TIFF; "
        "multi-band cubes such as 32FC<bands> to ENVI .img/.hdr), "
        "CompressedImage as stored, PointCloud2 to PLY, NavSatFix/Imu/Odometry/TF/Pose to "
        "CSV, CameraInfo to camera_info YAML. Products already in OUT are skipped "
        "(resume); --overwrite redoes them. A topic that fails does not stop the others; "
        "the exit status is then 2, the failed topics named.",
    )
    export.add_argument("bag", type=Path)
    export.add_argument("--topic", action="append", default=[], help="topic to export (repeat)")
    export.add_argument("--all", action="store_true", help="every topic bag export handles")
    export.add_argument("--out", type=Path, required=True, help="output directory")
    export.add_argument("--start", type=float, help="seconds from the bag start (inclusive)")
    export.add_argument("--end", type=float, help="seconds from the bag start (exclusive)")
    export.add_argument("--overwrite", action="store_true", help="redo products that exist")
    export.add_argument("--distro", help="ROS distribution for types the bag does not define")
    export.set_defaults(handler=_export)

    sample = verbs.add_parser(
        "sample", help="write a small synthetic sensor bag (camera, depth, GNSS, IMU, TF, cloud)"
    )
    sample.add_argument("out", type=Path, help="output: NAME.mcap file or a rosbag2 directory")
    sample.add_argument("--frames", type=int, default=30, help="camera frames (10 Hz)")
    sample.add_argument("--overwrite", action="store_true")
    sample.set_defaults(handler=_sample)


def _info(args: argparse.Namespace) -> int:
    from smartmine.bagio.info import bag_info, format_info

    info = bag_info(args.bag, distro=args.distro)
    if args.json:
        json.dump(info.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(format_info(info))
    return 0


def _export(args: argparse.Namespace) -> int:
    from smartmine.bagio.export import (
        SUPPORTED,
        ExportFailedError,
        ExportResult,
        check_export_out,
        export_topics,
    )
    from smartmine.bagio.reader import BagReader, check_time_window, window_ns
    from smartmine.errors import BagError

    check_time_window(args.start, args.end)
    check_export_out(args.out)
    with BagReader(args.bag, distro=args.distro) as bag:
        start_ns = bag.start_ns
        topics = list(args.topic)
        if args.all:
            topics += [
                t.name
                for t in bag.topics.values()
                if t.msgtype in SUPPORTED and t.decodable and t.count and t.name not in topics
            ]
    if not topics:
        if args.all:
            raise BagError(
                f"{args.bag}: no decodable topic of a type bag export handles "
                f"(handled: {', '.join(t.split('/')[-1] for t in SUPPORTED)})"
            )
        raise BagError(f"{args.bag}: name at least one --topic, or --all")
    first_ns, last_ns = window_ns(start_ns, args.start, args.end)

    def show(results: list[ExportResult]) -> None:
        for r in results:
            if r.error is not None:
                state = "FAILED, not exported"
            elif r.empty:
                state = "no messages in the range, nothing written"
            else:
                state = "exists, skipped" if r.skipped else f"{r.messages} messages"
            print(f"{r.topic} ({r.msgtype}) -> {r.product} [{state}]")

    try:
        results = export_topics(
            args.bag,
            topics,
            args.out,
            start_ns=first_ns,
            end_ns=last_ns,
            overwrite=args.overwrite,
            distro=args.distro,
        )
    except ExportFailedError as failed:
        show(failed.results)
        raise
    show(results)
    return 0


def _sample(args: argparse.Namespace) -> int:
    from smartmine.bagio.sample import write_sample_bag

    counts = write_sample_bag(args.out, frames=args.frames, overwrite=args.overwrite)
    for topic, n in counts.items():
        print(f"{topic}: {n}")
    print(f"wrote {args.out}")
    return 0
