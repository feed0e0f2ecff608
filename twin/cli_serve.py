"""``smartmine twin serve DIR``: argparse wiring only (the server is twin.serve)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    twin = sub.add_parser("twin", help="the digital twin: serve a published catalog and viewer")
    verbs = twin.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve = verbs.add_parser(
        "serve",
        help="serve a published twin read-only over HTTP, with the viewer page at /",
        description="Serve DIR (written by smartmine publish) read-only: the viewer at /, "
        "the STAC catalog at /stac/catalog.json, assets with HTTP range requests so "
        "COGs and COPC stream. Listens on loopback unless --host says otherwise.",
    )
    serve.add_argument("dir", type=Path, help="published folder (holds catalog.json)")
    serve.add_argument(
        "--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, loopback only; 0.0.0.0 for all)",
    )
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from twin.serve import ServeError, serve

    if not 0 <= args.port <= 65535:
        raise ServeError(f"--port {args.port}: not a TCP port (0..65535)")
    serve(args.dir, host=args.host, port=args.port)
    return 0
