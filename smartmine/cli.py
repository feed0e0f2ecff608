"""The ``smartmine`` command.

Each package registers its subcommands through the ``smartmine.commands`` entry-point
group (see pyproject.toml): the registered function adds an argparse subparser and sets
``handler``; handlers import heavy libraries only when run, so ``smartmine --help``
stays fast. A handler returns an exit code; a ``SmartmineError`` or ``OSError`` becomes one line on
stderr and exit code 2, with nothing half-written (products are written atomically);
any other exception is a bug: one line, exit 1, the traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from smartmine import __version__
from smartmine.errors import SmartmineError

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_WARNINGS = 3
"""The command finished, but its result did not meet every check (ungeoreferenced,
markers not seen, ...): never a plain success; the warnings are printed first."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartmine",
        description="Mine survey field stack: bags, missions, SfM, SLAM, hyperspectral, twin.",
    )
    parser.add_argument("--version", action="version", version=f"smartmine {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    seen: set[str] = set()
    for ep in sorted(entry_points(group="smartmine.commands"), key=lambda e: e.name):
        if ep.name in seen:  # an editable and a regular install side by side
            continue
        seen.add(ep.name)
        try:
            register: Register = ep.load()
            register(sub)
        except Exception as err:  # one broken package must not take the command down
            reason = f"{ep.value} does not load: {type(err).__name__}: {err}"
            broken = sub.add_parser(ep.name, help=f"(unavailable: {reason})")
            broken.add_argument("args", nargs=argparse.REMAINDER)
            broken.set_defaults(handler=_unavailable(ep.name, reason))
    return parser


def _unavailable(name: str, reason: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise SmartmineError(f"command {name!r} is installed but broken: {reason}")

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    debug = bool(args.debug or os.environ.get("SMARTMINE_DEBUG"))
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(
            "smartmine: interrupted (completed products kept; run again to resume)", file=sys.stderr
        )
        return 130
    except Exception as err:
        if debug:
            raise
        code, line = describe_error(err)
        print(f"smartmine: {line}", file=sys.stderr)
        return code


def describe_error(err: Exception) -> tuple[int, str]:
    """Exit code and the one line a user sees for ``err``.

    Input, configuration and file-system errors (``SmartmineError``, ``OSError``: a
    missing, unreadable or unwritable path) are the user's to fix: exit 2, the path named.
    Anything else is a bug of ours: exit 1, and ``--debug`` shows the traceback.
    """
    if isinstance(err, SmartmineError):
        return EXIT_USER_ERROR, f"error: {err}"
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        what = err.strerror or str(err)
        if where and what and str(err.filename) in what:
            where = ""
        return EXIT_USER_ERROR, f"error: {where}{what}"
    first = str(err).splitlines()[0] if str(err) else ""
    return EXIT_INTERNAL_ERROR, (
        f"internal error (a bug, please report it): {type(err).__name__}: {first} "
        "(run with --debug for the traceback)"
    )


if __name__ == "__main__":
    sys.exit(main())
