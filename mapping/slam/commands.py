"""``smartmine slam ...`` and ``smartmine traj eval``: argparse wiring only."""

from __future__ import annotations

import argparse
from pathlib import Path


def register_traj(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    traj = sub.add_parser(
        "traj",
        help="evaluate trajectories (ATE/RPE like evo)",
        description="Trajectory tools. Formats: TUM (t x y z qx qy qz qw), KITTI (3x4 "
        "matrices), EuRoC ground-truth CSV; guessed from the file.",
    )
    cmds = traj.add_subparsers(dest="traj_command", metavar="COMMAND", required=True)
    ev = cmds.add_parser(
        "eval",
        help="ATE and RPE of an estimate against ground truth, with a plot",
        description="Associate stamps, align (Umeyama), and print ATE and RPE statistics "
        "as evo does. --association unique --max-diff 0.02 reproduces TUM's evaluate_ate.py.",
    )
    ev.add_argument("estimate", type=Path, help="estimated trajectory")
    ev.add_argument("reference", type=Path, help="ground-truth trajectory")
    ev.add_argument("--align", choices=["se3", "sim3", "origin", "none"], default="se3")
    ev.add_argument("--rpe-delta", default="1m", help="RPE step: 1m (path metres) or 10f (frames)")
    ev.add_argument(
        "--max-diff", type=float, default=0.01, help="association tolerance, s (default 0.01)"
    )
    ev.add_argument("--offset", type=float, default=0.0, help="added to estimate stamps, s")
    ev.add_argument(
        "--association",
        choices=["nearest", "unique"],
        default="nearest",
        help="nearest (evo, default) or unique (TUM associate.py)",
    )
    for flag in ("--est-format", "--ref-format"):
        ev.add_argument(flag, choices=["tum", "kitti", "euroc"], help="override the guess")
    ev.add_argument("--plot", type=Path, help="write a PNG plot here")
    ev.add_argument("--json", type=Path, help="write the statistics as JSON here")
    ev.set_defaults(handler=_traj_eval)


def _traj_eval(args: argparse.Namespace) -> int:
    import json

    from mapping.slam.evaluation import evaluate, plot_evaluation
    from mapping.slam.trajectory import read_trajectory
    from smartmine.atomic import write_text_atomic

    est = read_trajectory(args.estimate, args.est_format)
    ref = read_trajectory(args.reference, args.ref_format)
    result = evaluate(
        est,
        ref,
        alignment=args.align,
        association=args.association,
        max_diff_s=args.max_diff,
        offset_s=args.offset,
        rpe_delta=args.rpe_delta,
    )
    print(result.text())
    if args.json is not None:
        write_text_atomic(args.json, json.dumps(result.summary(), indent=2) + "\n")
    if args.plot is not None:
        plot_evaluation(result, args.plot)
        print(f"plot -> {args.plot}")
    return 0


def register_slam(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Placeholder until the SLAM pipeline lands (see below)."""
