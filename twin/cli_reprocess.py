"""``smartmine reprocess INPUT... --out RUN_DIR``: argparse wiring only (twin.reprocess)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from smartmine.cli import EXIT_WARNINGS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "reprocess",
        help="run the right stages on a bag, image folder or run folder: SfM, SLAM, "
        "hyperspectral draped on the model; one report and run.json",
        description="Looks at what INPUT holds (colour images with GNSS: aerial SfM; colour "
        "+ depth without a fix: underground RGB-D SLAM, tied to --markers; hyperspectral "
        "frames: classified, orthorectified on the SfM DSM and draped on the cloud and mesh "
        "as class_id/heat) and runs those stages as libraries into RUN_DIR, one folder each. "
        "One report (report.html/json) with each stage's accuracy figures; run.json, the "
        "manifest `smartmine publish` reads, is written last. Rerun with the same --out to "
        "resume: finished stages are skipped. Exit 0 when every stage met its checks, 3 when "
        "the run finished with warnings (ungeoreferenced products, markers not seen, "
        "frames unused: printed first), 2 on bad input or a failed stage (reason first).",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="bag, image or run folder")
    p.add_argument("--out", type=Path, required=True, help="run folder (RUN_DIR)")
    p.add_argument("--preset", default="default", help="fast | default")
    p.add_argument("--site", help="site id (STAC collection; default: the scene's or input's name)")
    p.add_argument("--markers", type=Path, help="control markers CSV: SLAM tied to the mine grid")
    p.add_argument(
        "--markers-crs",
        metavar="EPSG:N",
        help="CRS of the markers file's easting/northing columns: with its grid columns they "
        "tie the mine grid to it (default: the scene.json beside the bag)",
    )
    p.add_argument("--dem", type=Path, help="DEM for hyperspectral-only inputs")
    p.add_argument(
        "--origin",
        default="",
        help="LAT,LON,ALT (or a scene.json) of the bags' local ENU map frame "
        "(default: the scene.json beside the bag)",
    )
    p.add_argument("--no-hyperspectral", action="store_true", help="skip the HSI stages")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import json

    from twin.reprocess import make_config, run

    conf = make_config(
        args.preset,
        site=args.site,
        markers=args.markers,
        markers_crs=args.markers_crs,
        dem=args.dem,
        origin=args.origin or None,
        hyperspectral=False if args.no_hyperspectral else None,
    )
    run_dir = run(conf, list(args.inputs), args.out, log=lambda line: print(line, file=sys.stderr))
    doc = json.loads((run_dir / "run.json").read_text())
    if doc["warnings"]:
        print(f"FINISHED WITH WARNINGS ({len(doc['warnings'])}):")
    for line in doc["warnings"]:
        print(f"warning: {line}")
    print(f"{doc['run_id']} ({doc['kind']}, {doc['status']}, {doc['crs'] or 'mine grid'})")
    for stage, figures in doc["accuracy"].items():
        shown = ", ".join(f"{k} {v:.4g}" for k, v in figures.items())
        print(f"  {stage}: {shown}")
    print(f"-> {run_dir / 'run.json'}; report: {run_dir / 'report.html'}")
    return EXIT_WARNINGS if doc["warnings"] else 0
