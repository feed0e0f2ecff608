"""``smartmine twin serve``: a read-only HTTP server for a published twin.

Routes: ``/`` the viewer page, ``/static/...`` its bundle (built from npm at set-up time
and shipped in the package, see ``scripts/build_viewer.sh``), ``/stac/...`` the files of
the published folder, ``/stac/catalog.json`` the root catalog.

Why range requests matter: COGs and COPC are read by their clients (GDAL's /vsicurl/,
geotiff.js, copc.js) a few kilobytes at a time; Starlette's ``FileResponse`` answers
``Range`` with 206 (one range) or ``multipart/byteranges`` (several) and 416 for ranges
past the end, which is what those clients need.

Why the guard: the folder is served to a browser, so nothing outside it may leak: a path
with ``..`` (plain or percent-encoded), an empty segment (``//etc/passwd``), a
backslash or NUL, or a symbolic link whose target lies outside the folder is refused
with one line in the log naming the client, the request and the reason; so is a hidden
name (``.NAME.partial-*``: what an interrupted publish leaves). Only GET and HEAD are
answered; the server never writes.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smartmine.errors import SmartmineError

LOG = logging.getLogger("smartmine.twin.serve")

STATIC_DIR = Path(__file__).parent / "static"
"""The viewer bundle (index.html, viewer.js, viewer.css, laz-perf.wasm for COPC), built by
scripts/build_viewer.sh."""

VIEWER_FILES = ("index.html", "viewer.js", "viewer.css", "laz-perf.wasm")

ALLOWED_METHODS = ("GET", "HEAD")

MEDIA_TYPES = {
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".tiff": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".laz": "application/vnd.laszip",
    ".las": "application/vnd.las",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".b3dm": "application/octet-stream",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
}
"""Explicit types: the platform's mimetypes table lacks several of these (GLB, LAZ)."""


class ServeError(SmartmineError):
    """The folder cannot be served (missing, no catalog, no viewer bundle, port taken)."""


@dataclass(frozen=True)
class RefusedError(Exception):
    """A request the server will not answer; ``reason`` goes into the log line."""

    status: int
    reason: str


def check_root(root: Path) -> Path:
    """The published folder, resolved, after checking it holds a readable root catalog.

    Checked at start so that a wrong path is one line and exit 2, not a page of 404s.
    """
    if not root.exists():
        raise ServeError(f"{root}: no such folder (publish a run first: smartmine publish)")
    if not root.is_dir():
        raise ServeError(f"{root}: not a folder (give the folder that holds catalog.json)")
    catalog = root / "catalog.json"
    if not catalog.is_file():
        raise ServeError(
            f"{catalog}: missing; {root} is not a published twin "
            "(smartmine publish RUN_DIR --to DIR writes it)"
        )
    try:
        doc = json.loads(catalog.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ServeError(f"{catalog}: not a readable JSON file: {err}") from err
    if not isinstance(doc, dict) or doc.get("type") != "Catalog":
        raise ServeError(f"{catalog}: field 'type' is not 'Catalog' (not a STAC root catalog)")
    return root.resolve()


def check_static(static_dir: Path) -> Path:
    """The viewer bundle folder, resolved, after checking the bundle was built."""
    missing = [name for name in VIEWER_FILES if not (static_dir / name).is_file()]
    if missing:
        raise ServeError(
            f"{static_dir}: viewer bundle missing ({', '.join(missing)}); "
            "build it with scripts/build_viewer.sh (npm ci + esbuild)"
        )
    return static_dir.resolve()


def locate(base: Path, rel: str) -> Path:
    """The file ``rel`` (already percent-decoded) names inside ``base``, or ``RefusedError``.

    ``base`` must be resolved. Segments are checked before touching the file system
    (no ``..``, ``.``, empty, backslash, NUL, and no hidden name: an interrupted
    publish leaves its ``.NAME.partial-*`` folders, which must never be served), then
    the resolved path must stay inside ``base`` so symbolic links that leave it are
    refused too.
    """
    segments = rel.split("/")
    for seg in segments:
        if seg == "..":
            raise RefusedError(403, "path climbs out with '..'")
        if "\\" in seg or "\x00" in seg:
            raise RefusedError(403, "backslash or NUL in path")
        if seg in ("", "."):
            raise RefusedError(403, "empty or '.' path segment (absolute or non-canonical path)")
        if seg.startswith("."):
            raise RefusedError(403, "hidden path (unfinished publish or private file)")
    candidate = base.joinpath(*segments)
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise RefusedError(404, "") from None
    except (OSError, RuntimeError) as err:  # symlink loop
        raise RefusedError(403, f"path does not resolve: {err}") from None
    if not real.is_relative_to(base):
        raise RefusedError(403, "symbolic link leads outside the served folder")
    if not real.is_file():
        raise RefusedError(404, "")
    return real


def _file_response(path: Path) -> Response:
    """The file with its media type; no-cache so a republished catalog shows at once
    (the ETag keeps unchanged assets cheap to revalidate)."""
    media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    return FileResponse(path, media_type=media, headers=headers)


def _mark_refused(request: Request, refused: RefusedError) -> Response:
    """The response to a refused request; the log line is written by ``AccessLog``."""
    if refused.status == 404:
        return PlainTextResponse("not found\n", status_code=404)
    request.scope.setdefault("state", {})["refused"] = refused.reason
    return PlainTextResponse(f"refused: {refused.reason}\n", status_code=refused.status)


def make_app(root: Path, *, static_dir: Path | None = None) -> Starlette:
    """The ASGI app serving ``root`` (a published twin) and the viewer bundle.

    ``static_dir`` defaults to the bundle shipped in the package; tests of the server
    alone may give another.
    """
    stac_base = check_root(root)
    static_base = check_static(static_dir if static_dir is not None else STATIC_DIR)

    async def index(request: Request) -> Response:
        return _file_response(static_base / "index.html")

    # Plain functions: Starlette runs them in its thread pool, so the file-system checks
    # of ``locate`` never block the event loop.
    def stac(request: Request) -> Response:
        try:
            return _file_response(locate(stac_base, request.path_params["rel"]))
        except RefusedError as refused:
            return _mark_refused(request, refused)

    def static(request: Request) -> Response:
        try:
            return _file_response(locate(static_base, request.path_params["rel"]))
        except RefusedError as refused:
            return _mark_refused(request, refused)

    async def stac_root(request: Request) -> Response:
        return RedirectResponse("/stac/catalog.json")

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/index.html", index, methods=["GET"]),
        Route("/stac", stac_root, methods=["GET"]),
        Route("/stac/", stac_root, methods=["GET"]),
        Route("/stac/{rel:path}", stac, methods=["GET"]),
        Route("/static/{rel:path}", static, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(AccessLog)
    return app


class AccessLog:
    """One log line per request: the access line, or the refusal with its reason.

    Non-GET/HEAD methods are refused here, before routing, so a POST to any path is one
    ``refused`` line and 405 (read-only server).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("-", 0)
        raw = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            raw += b"?" + scope["query_string"]
        target = _printable(raw)
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            LOG.warning(
                "refused %s %s from %s: method not allowed (read-only server)",
                method,
                target,
                client[0],
            )
            response = PlainTextResponse(
                "refused: read-only server (GET and HEAD only)\n",
                status_code=405,
                headers={"Allow": ", ".join(ALLOWED_METHODS)},
            )
            await response(scope, receive, send)
            return
        state: dict[str, Any] = {"status": 0, "bytes": 0}
        started = time.perf_counter()

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        scope.setdefault("state", {})
        await self.app(scope, receive, counting_send)
        reason = scope["state"].get("refused")
        if reason:
            LOG.warning(
                "refused %s %s from %s: %s (%d)", method, target, client[0], reason, state["status"]
            )
            return
        ranged = _header(scope, b"range")
        LOG.info(
            "%s %s %s %d %d B%s %.1f ms",
            client[0],
            method,
            target,
            state["status"],
            state["bytes"],
            f" range={ranged}" if ranged else "",
            (time.perf_counter() - started) * 1000.0,
        )


def _printable(raw: bytes) -> str:
    """The request target as sent, with control and non-ASCII bytes as ``\\xNN`` so a
    crafted target cannot forge or split log lines."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return _printable(value)
    return ""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or one clear error.

    Bound here rather than inside uvicorn so that a taken port is a ``ServeError`` (one
    line, exit 2) instead of uvicorn's log and exit 1.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise ServeError(f"--host {host}: not a usable address: {err.strerror}") from err
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {err.strerror} (another server there? "
            "pick another with --port)"
        ) from err
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The page address for a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _configure_logging() -> None:
    """Our lines on stderr, one per request, with a UTC time stamp."""
    if LOG.handlers:
        return
    handler = logging.StreamHandler()
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    # uvicorn's own lines (a request its HTTP parser rejects, a crash) with the same stamp
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(handler)
    uvicorn_log.setLevel(logging.WARNING)
    uvicorn_log.propagate = False


def serve(
    root: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    static_dir: Path | None = None,
) -> None:
    """Serve ``root`` until interrupted (Ctrl-C); loopback unless ``host`` says otherwise."""
    import uvicorn

    app = make_app(root, static_dir=static_dir)
    sock = bind(host, port)
    _configure_logging()
    try:
        LOG.info(
            "serving %s read-only at %s (viewer at /, catalog at /stac/catalog.json; Ctrl-C stops)",
            root,
            url_of(sock),
        )
        if host not in ("127.0.0.1", "localhost", "::1"):
            LOG.warning("listening on %s: reachable from other machines on that network", host)
        config = uvicorn.Config(app, log_config=None, access_log=False, log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on: a normal stop
        pass
    finally:
        sock.close()
    LOG.info("stopped serving %s", root)
