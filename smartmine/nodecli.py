"""``smartmine node list|run``: processors offline; argparse wiring only."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = sub.add_parser("node", help="list processors, run one over a bag (offline node)")
    verbs = node.add_subparsers(dest="verb", metavar="VERB", required=True)

    lst = verbs.add_parser("list", help="processors with their ports and parameters")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_list)

    run = verbs.add_parser(
        "run",
        help="run a processor over a bag, recording its outputs into a new ROS 2 bag",
        description="Feed NAME every message on its input topics in time order and record "
        "its outputs (and --keep topics) into OUT (a .mcap file or a rosbag2 directory). "
        "The effective parameters are saved beside OUT as OUT.params.yaml.",
    )
    run.add_argument("name", help="processor name (see: smartmine node list)")
    run.add_argument("--bag", type=Path, required=True, help="input bag")
    run.add_argument("--out", type=Path, required=True, help="output bag (.mcap or directory)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--params", type=Path, help="ROS 2 parameter YAML file")
    run.add_argument(
        "--remap", action="append", default=[], metavar="FROM:=TO", help="port or topic to topic"
    )
    run.add_argument("--keep", action="append", default=[], metavar="TOPIC", help="copy a topic")
    run.add_argument("--start", type=float, help="seconds from the bag start (inclusive)")
    run.add_argument("--end", type=float, help="seconds from the bag start (exclusive)")
    run.add_argument("--overwrite", action="store_true")
    run.add_argument("--distro", help="ROS distribution for types the bag does not define")
    run.set_defaults(handler=_run)


def _list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from smartmine.processor import describe, param_infos, processor_registry

    registry = processor_registry()
    if args.json:
        out = {
            name: {
                "description": cls.description,
                "inputs": [asdict(p) for p in cls.inputs],
                "outputs": [asdict(p) for p in cls.outputs],
                "parameters": [
                    {**asdict(i), "type": i.type.__name__} for i in param_infos(cls.Params)
                ],
            }
            for name, cls in registry.items()
        }
        json.dump(out, sys.stdout, indent=2, default=str)
        print()
        return 0
    print("\n\n".join(describe(cls) for cls in registry.values()))
    return 0


def _run(args: argparse.Namespace) -> int:
    from smartmine.bagio.reader import BagReader, check_time_window, window_ns
    from smartmine.paths import check_output_path
    from smartmine.processor import get_processor, load_params_file, make_params, parse_param_args
    from smartmine.runner import parse_remaps, run_on_bag

    cls = get_processor(args.name)
    check_time_window(args.start, args.end)
    remaps = parse_remaps(args.remap)
    overrides = load_params_file(args.params, cls.name) if args.params else {}
    make_params(cls, overrides, where=str(args.params))  # the file's errors name the file
    overrides.update(parse_param_args(args.param))
    make_params(cls, overrides)
    check_output_path(args.out, "--out", folder=args.out.suffix != ".mcap")
    start_ns = end_ns = None
    if args.start is not None or args.end is not None:
        with BagReader(args.bag, distro=args.distro) as bag:
            start_ns, end_ns = window_ns(bag.start_ns, args.start, args.end)
    shown = 0

    def report(line: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= 20:
            print(f"smartmine: warning: {line}", file=sys.stderr)

    result = run_on_bag(
        cls,
        args.bag,
        args.out,
        overrides=overrides,
        remaps=remaps,
        keep=args.keep,
        start_ns=start_ns,
        end_ns=end_ns,
        overwrite=args.overwrite,
        distro=args.distro,
        report=report,
    )
    for topic, n in result.inputs.items():
        print(f"in   {topic}: {n}")
    for topic, n in result.outputs.items():
        print(f"out  {topic}: {n}")
    for topic, n in result.kept.items():
        print(f"kept {topic}: {n}")
    if result.rejected:
        more = f" ({result.rejected - 20} not shown)" if result.rejected > 20 else ""
        print(f"rejected: {result.rejected} messages{more}", file=sys.stderr)
    print(f"wrote {result.output}")
    return 0
