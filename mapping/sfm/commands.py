"""``smartmine sfm INPUT --out DIR``: argparse wiring only; the pipeline loads when run."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sfm",
        help="photogrammetry on CPU: georeferenced sparse/dense cloud, DSM, orthophoto, mesh",
        description="Structure from motion (pycolmap, CPU) from an image folder (EXIF GPS, "
        "DJI XMP) or a bag (images + NavSatFix by time): sparse and dense clouds (LAZ), "
        "cameras (CSV + COLMAP model), DSM and orthophoto (COG), coloured mesh (PLY, GLB), "
        "report.json/html with residuals. Georeferenced by a RANSAC similarity to UTM from "
        "GPS, refined with GCPs. Resumes an interrupted run in the same --out. Exit 0: clean; "
        "3: finished with warnings (printed first; e.g. images left out, not georeferenced, "
        "rasters refused); 2: bad input or a rejected (degenerate) model.",
    )
    p.add_argument("input", type=Path, help="image folder (or ODM project with images/) or bag")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--gcp", type=Path, help="ODM gcp_list.txt")
    p.add_argument(
        "--checkpoints",
        help="GCP names held out as check points, comma-separated (names starting or "
        "ending with CHK are check points anyway)",
    )
    p.add_argument(
        "--calibration",
        type=Path,
        help="calibration.yaml of smartmine calibrate, or a camera_info YAML: fixes the intrinsics",
    )
    p.add_argument(
        "--calibration-camera",
        metavar="NAME",
        help="camera of a calibration.yaml holding several (default: the only/first one)",
    )
    p.add_argument("--crs", default="auto", help="EPSG:326zz, or auto (UTM zone of the data)")
    p.add_argument(
        "--resolution-cm",
        type=float,
        default=0.0,
        help="DSM/orthophoto cell size (default: twice the ground sampling)",
    )
    p.add_argument("--preset", default="default", help="fast | default | accurate")
    p.add_argument(
        "--camera-below-antenna-m",
        type=float,
        help="vertical GNSS lever arm: camera this far below the antenna",
    )
    p.add_argument("--max-image-px", type=int, help="long side of the working images")
    p.add_argument("--pairing", choices=["auto", "spatial", "sequential", "exhaustive"])
    p.add_argument("--mapper", choices=["auto", "incremental", "global"])
    p.add_argument("--no-dense", action="store_true", help="skip the dense cloud")
    p.add_argument(
        "--rasters",
        choices=["auto", "always", "never"],
        help="DSM + orthophoto: auto = nadir blocks only (default); always = also oblique/"
        "facade blocks (a ground-level block is refused: warning, exit 3); never",
    )
    p.add_argument("--image-topic", help="bag input: image topic (default: the colour one)")
    p.add_argument("--fix-topic", help="bag input: NavSatFix topic (default: the only one)")
    p.add_argument("--every-nth", type=int, default=1, help="bag input: keep every n-th frame")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from mapping.sfm.config import make_config
    from mapping.sfm.errors import SfmError
    from mapping.sfm.pipeline import run_pipeline
    from smartmine.cli import EXIT_WARNINGS

    if args.every_nth < 1:
        raise SfmError(f"--every-nth {args.every_nth}: want 1 or more")

    conf = make_config(
        args.preset,
        crs=args.crs,
        resolution_cm=args.resolution_cm,
        max_image_px=args.max_image_px,
        pairing=args.pairing,
        mapper=args.mapper,
        dense=False if args.no_dense else None,
        camera_below_antenna_m=args.camera_below_antenna_m,
        gcp_checkpoints=[n for n in args.checkpoints.split(",") if n] if args.checkpoints else None,
        rasters=args.rasters,
    )
    bag_options = {}
    if args.image_topic:
        bag_options["image_topic"] = args.image_topic
    if args.fix_topic:
        bag_options["fix_topic"] = args.fix_topic
    if args.every_nth != 1:
        bag_options["every_nth"] = args.every_nth
    path = run_pipeline(
        args.input,
        args.out,
        conf,
        gcp_path=args.gcp,
        calibration_path=args.calibration,
        calibration_camera=args.calibration_camera,
        **bag_options,
    )
    summary = json.loads(path.read_text())["summary"]
    warnings = summary.get("warnings", [])
    for line in warnings:  # first: what the user must know
        print(f"WARNING: {line}")
    print(
        f"{summary['images_registered']}/{summary['images_input']} images registered "
        f"({summary.get('mapper_chosen')} mapper, {summary.get('block_type')} block), "
        f"reprojection {summary['reprojection_error_px']:.2f} px at "
        f"{summary['reprojection_image_long_side_px']} px long side "
        f"({summary['reprojection_error_original_px']:.2f} px at the original size), "
        f"georeferencing {summary['georeferencing']} ({summary['crs']}); report: {path}"
    )
    return EXIT_WARNINGS if warnings else 0
