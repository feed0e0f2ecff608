"""``smartmine demo [--out DIR]``: argparse wiring only; the chain loads when run."""

from __future__ import annotations

import argparse
from pathlib import Path

from smartmine import cli

EXIT_NOT_MET = 2
"""A stage failed or a figure missed its goal: the command's exit status (the project's
code for a result that is not good enough, as for a degenerate SfM model)."""
EXIT_WARNINGS = cli.EXIT_WARNINGS
"""Every stage ran and every figure met its goal, but a run finished with warnings (as
``smartmine reprocess`` exits)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole chain on simulated data: simulate, reprocess, publish, score",
        description="Simulate an open-pit drone survey and an underground drift (with "
        "their ground truth), reprocess both (SfM, hyperspectral, SLAM tied to markers), "
        "publish them into one twin (STAC, COG, COPC, 3D Tiles), and print where everything "
        "is and a table of accuracies against the ground truth. No data needed; about 3.5 "
        "minutes on 2 cores. Exit status 2 when a stage failed or a figure missed its goal, "
        "3 when a run finished with warnings (said first in the table and in "
        "DIR/demo.json).",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/demo"),
        help="output folder (default runs/demo); an earlier demo's folder is reused",
    )
    p.add_argument("--seed", type=int, default=0, help="scene and noise seed (default 0)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from twin.demo import DemoConfig, run

    demo_json = run(DemoConfig(seed=args.seed), args.out)
    print((demo_json.parent / "demo.txt").read_text(encoding="utf-8"), end="")
    return exit_code(demo_json)


def exit_code(demo_json: Path) -> int:
    """0 when the demo's status is ok, :data:`EXIT_WARNINGS` when only warnings, else
    :data:`EXIT_NOT_MET`."""
    import json

    status = json.loads(demo_json.read_text(encoding="utf-8"))["status"]
    return {"ok": 0, "warnings": EXIT_WARNINGS}.get(status, EXIT_NOT_MET)
