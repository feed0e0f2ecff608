"""``smartmine publish RUN_DIR --to DIR [--keep N]``: argparse wiring only; the publisher
(pystac, rasterio, copclib) loads when the command runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "publish",
        help="publish a reprocessed run into the twin's STAC catalog (atomic, versioned)",
        description="Publishes RUN_DIR (written by smartmine reprocess: run.json and its "
        "products) into the STAC catalog at DIR: a Collection per site, an Item per run, "
        "with LAZ + COPC, GLB + 3D Tiles tileset, COGs, trajectory and report, checksums "
        "and provenance. The catalog changes by one atomic rename of DIR/catalog.json once "
        "every asset is written and verified; publishing the same run again changes "
        "nothing; an interrupted publish leaves the previous catalog.",
    )
    p.add_argument("run_dir", type=Path, help="run folder of smartmine reprocess (holds run.json)")
    p.add_argument("--to", type=Path, required=True, help="catalog folder (made if missing)")
    p.add_argument(
        "--keep", type=int, default=3, help="versions of each run kept on disk (default 3)"
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from twin.publish import PublishConfig, run

    item = run(PublishConfig(keep=args.keep), args.run_dir, args.to)
    print(f"item: {item}")
    print(f"catalog: {args.to / 'catalog.json'} (serve it: smartmine twin serve {args.to})")
    return 0
