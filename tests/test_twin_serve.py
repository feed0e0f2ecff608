"""``smartmine twin serve``: a real server on 127.0.0.1 (the CLI in a subprocess), read
by real clients: GDAL's /vsicurl/ through rasterio (range requests, the log shows 206),
raw HTTP for ranges, traversal and methods (each refusal one log line), and the bad-input
contract at start (missing folder, no catalog, port taken: one line, exit 2).
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from tests.bad_input import BadInput, check_bad_input, run_main, with_file
from tests.twin_fixtures import PublishedTree, Server, build_published_tree, serve_tree
from twin.serve import ServeError, make_app


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> PublishedTree:
    """The published tree, plus two symbolic links that lead out of it."""
    base = tmp_path_factory.mktemp("twin")
    tree = build_published_tree(base / "pub")
    (base / "secret.txt").write_text("root:x:0:0 secret\n", encoding="utf-8")
    (tree.root / "leak.txt").symlink_to(base / "secret.txt")
    (tree.root / "open-pit" / "up").symlink_to(base, target_is_directory=True)
    partial = tree.root / "open-pit" / ".run.partial-123-456-abcd"  # an interrupted publish
    partial.mkdir()
    (partial / "item.json").write_text('{"secret": 1}', encoding="utf-8")
    return tree


@pytest.fixture(scope="module")
def server(tree: PublishedTree) -> Iterator[Server]:
    with serve_tree(tree.root) as running:
        yield running


def test_rasterio_reads_a_cog_window_by_range_requests(server: Server, tree: PublishedTree) -> None:
    run_id = tree.run_ids[0]
    rel = tree.assets[run_id]["orthophoto"]
    local = tree.root / rel
    window = Window(128, 64, 64, 64)
    with rasterio.open(local) as src:
        expected = src.read(window=window)
    env = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
        "VSI_CACHE": "FALSE",
        "GDAL_HTTP_MAX_RETRY": "0",
    }
    mark = len(server.lines)
    with (
        rasterio.Env(**env),
        rasterio.open(f"/vsicurl/http://127.0.0.1:{server.port}/stac/{rel}") as src,
    ):
        assert src.crs.to_epsg() == 32644
        got = src.read(window=window)
    np.testing.assert_array_equal(got, expected)
    gets = [line for line in server.log_since(mark) if f" GET /stac/{rel} " in line]
    assert gets, server.lines[mark:]
    assert all(" 206 " in line and "range=bytes=" in line for line in gets), gets
    sent_b = sum(int(line.split(" 206 ")[1].split(" B")[0]) for line in gets)
    size_b = local.stat().st_size
    print(f"vsicurl window: {len(gets)} range GETs, {sent_b} of {size_b} B")
    assert sent_b < size_b, "the whole file was sent"


def test_laspy_reads_copc_over_http_by_range_requests(server: Server, tree: PublishedTree) -> None:
    import laspy

    rel = tree.assets[tree.run_ids[0]]["copc"]
    local = tree.root / rel
    with laspy.CopcReader.open(local) as reader:
        expected = reader.query()
    mark = len(server.lines)
    url = f"http://127.0.0.1:{server.port}/stac/{rel}"
    with laspy.CopcReader.open(url) as reader:
        got = reader.query()
    np.testing.assert_array_equal(np.asarray(got.x), np.asarray(expected.x))
    np.testing.assert_array_equal(np.asarray(got.z), np.asarray(expected.z))
    gets = [line for line in server.log_since(mark) if f" GET /stac/{rel} " in line]
    assert gets and all(" 206 " in line for line in gets), server.lines[mark:]
    sent_b = sum(int(line.split(" 206 ")[1].split(" B")[0]) for line in gets)
    print(f"copc over http: {len(gets)} range GETs, {sent_b} of {local.stat().st_size} B")


def test_range_requests(server: Server, tree: PublishedTree) -> None:
    rel = tree.assets[tree.run_ids[0]]["heat_map"]
    data = (tree.root / rel).read_bytes()
    size = len(data)
    target = f"/stac/{rel}"
    status, headers, body = server.request("GET", target, {"Range": "bytes=100-199"})
    assert (status, body) == (206, data[100:200])
    assert headers["content-range"] == f"bytes 100-199/{size}"
    status, headers, body = server.request("GET", target, {"Range": "bytes=-50"})
    assert (status, body) == (206, data[-50:])
    status, headers, body = server.request("GET", target, {"Range": f"bytes={size - 10}-"})
    assert (status, body) == (206, data[-10:])
    status, headers, body = server.request("GET", target, {"Range": "bytes=0-9,1000-1009"})
    assert status == 206 and headers["content-type"].startswith("multipart/byteranges")
    assert data[:10] in body and data[1000:1010] in body
    for bad in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
        status, headers, _ = server.request("GET", target, {"Range": bad})
        assert status == 416, bad
        assert headers["content-range"] == f"bytes */{size}", bad
    status, headers, body = server.request("HEAD", target)
    assert (status, body) == (200, b"")
    assert headers["accept-ranges"] == "bytes" and int(headers["content-length"]) == size
    assert headers["content-type"].startswith("image/tiff; application=geotiff")
    stale = {"Range": "bytes=0-9", "If-Range": '"not-the-etag"'}
    status, _, body = server.request("GET", target, stale)
    assert (status, body) == (200, data), "If-Range with another ETag: the whole (new) file"


def test_routes(server: Server, tree: PublishedTree) -> None:
    status, headers, body = server.request("GET", "/")
    assert status == 200 and b"/static/viewer.js" in body
    status, headers, _ = server.request("GET", "/static/viewer.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    status, headers, body = server.request("GET", "/stac/catalog.json")
    assert status == 200 and b'"Catalog"' in body
    assert headers["content-type"] == "application/json"
    status, _, _ = server.request("GET", "/stac/open-pit/nothing.tif")
    assert status == 404
    status, _, _ = server.request("GET", "/stac/open-pit")
    assert status == 404, "no directory listings"
    mesh = tree.assets[tree.run_ids[0]]["mesh"]
    status, headers, _ = server.request("HEAD", f"/stac/{mesh}")
    assert status == 200 and headers["content-type"] == "model/gltf-binary"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("/stac/../../../../etc/passwd", "'..'"),
        ("/stac/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "'..'"),
        ("/stac/..%2f..%2f..%2fetc%2fpasswd", "'..'"),
        ("/stac/open-pit/%2E%2E/%2E%2E/secret.txt", "'..'"),
        ("/stac//etc/passwd", "absolute"),
        ("/stac/%2fetc%2fpasswd", "absolute"),
        ("/stac/open-pit/..%5c..%5csecret.txt", "backslash"),
        ("/stac/leak.txt", "symbolic link"),
        ("/stac/open-pit/up/secret.txt", "symbolic link"),
        ("/static/../serve.py", "'..'"),
        ("/stac/open-pit/.run.partial-123-456-abcd/item.json", "hidden"),
        ("/stac/open-pit/%2erun.partial-123-456-abcd/item.json", "hidden"),
        ("/static/%2e%2e/serve.py", "'..'"),
    ],
)
def test_traversal_refused_with_one_log_line(server: Server, target: str, reason: str) -> None:
    mark = len(server.lines)
    status, _, body = server.request("GET", target)
    assert status == 403, (target, status, body[:100])
    assert b"secret" not in body and b"root:" not in body and b"import" not in body
    new = server.log_since(mark, quiet_s=0.15)
    assert len(new) == 1, new
    assert "refused GET" in new[0] and target in new[0] and "127.0.0.1" in new[0], new
    assert reason in new[0], new


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_writes_refused_with_one_log_line(server: Server, tree: PublishedTree, method: str) -> None:
    catalog = tree.root / "catalog.json"
    before = catalog.read_bytes()
    mark = len(server.lines)
    status, headers, _ = server.request(method, "/stac/catalog.json", {"Content-Length": "0"})
    assert status == 405 and headers["allow"] == "GET, HEAD"
    new = server.log_since(mark, quiet_s=0.15)
    assert len(new) == 1 and f"refused {method} /stac/catalog.json" in new[0], new
    assert "read-only" in new[0]
    assert catalog.read_bytes() == before


def test_access_log_one_line_per_request(server: Server) -> None:
    mark = len(server.lines)
    server.request("GET", "/stac/catalog.json")
    new = server.log_since(mark, quiet_s=0.15)
    assert len(new) == 1 and "127.0.0.1 GET /stac/catalog.json 200" in new[0], new


def test_port_in_use_is_one_line_exit_2(server: Server, tree: PublishedTree) -> None:
    outcome = run_main(["twin", "serve", str(tree.root), "--port", str(server.port)])
    assert outcome.code == 2
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{server.port}" in lines[0], outcome.stderr
    assert "--port" in lines[0]


CATALOG = '{"type": "Catalog", "id": "x", "stac_version": "1.1.0", "description": "d", "links": []}'

BAD_STARTS = [
    BadInput("no-folder", ("twin", "serve", "{d}/nowhere"), ("{d}/nowhere",)),
    BadInput(
        "no-catalog",
        ("twin", "serve", "{d}/pub"),
        ("{d}/pub/catalog.json",),
        with_file("pub/report.html", "<html></html>"),
    ),
    BadInput(
        "catalog-not-json",
        ("twin", "serve", "{d}/pub"),
        ("{d}/pub/catalog.json",),
        with_file("pub/catalog.json", "{not json"),
    ),
    BadInput(
        "catalog-not-a-catalog",
        ("twin", "serve", "{d}/pub"),
        ("{d}/pub/catalog.json", "'type'"),
        with_file("pub/catalog.json", '{"type": "Feature"}'),
    ),
    BadInput(
        "file-not-folder",
        ("twin", "serve", "{d}/catalog.json"),
        ("{d}/catalog.json",),
        with_file("catalog.json", CATALOG),
    ),
    BadInput(
        "port-out-of-range",
        ("twin", "serve", "{d}/pub", "--port", "70000"),
        ("--port",),
        with_file("pub/catalog.json", CATALOG),
    ),
]


@pytest.mark.parametrize("case", BAD_STARTS, ids=lambda c: c.id)
def test_bad_start(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path / "case")


def test_missing_viewer_bundle_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "catalog.json").write_text(CATALOG, encoding="utf-8")
    (tmp_path / "static").mkdir()
    with pytest.raises(ServeError, match=r"viewer bundle missing .*scripts/build_viewer.sh"):
        make_app(tmp_path / "pub", static_dir=tmp_path / "static")


def test_loopback_is_the_default() -> None:
    """Listening beyond loopback is opt-in (--host): the CLI's default and ``serve``'s."""
    import inspect

    from smartmine.cli import build_parser
    from twin import serve

    assert build_parser().parse_args(["twin", "serve", "x"]).host == "127.0.0.1"
    assert inspect.signature(serve.serve).parameters["host"].default == "127.0.0.1"


def test_ctrl_c_stops_cleanly(tree: PublishedTree) -> None:
    """Ctrl-C is how a user stops the server: exit 0 and a last 'stopped' line, not the
    CLI's 'interrupted' message meant for interrupted products."""
    with serve_tree(tree.root) as other:
        other.proc.send_signal(signal.SIGINT)
        assert other.proc.wait(10) == 0
        lines = other.log_since(0, quiet_s=0.2)
    assert "stopped serving" in lines[-1], lines
    assert not any("interrupted" in line for line in lines), lines


def test_log_lines_cannot_be_forged(server: Server, tree: PublishedTree) -> None:
    """Raw bytes never reach the log as such: the HTTP parser answers 400 to a target
    with control or non-ASCII bytes (one log line); header bytes it lets through are
    logged as \\xNN."""
    rel = tree.assets[tree.run_ids[0]]["dsm"]
    cases = [
        (b"GET /stac/\x1b[2J HTTP/1.1\r\nHost: x\r\n", b"HTTP/1.1 400", "Invalid HTTP"),
        (b"GET /stac/caf\xe9.tif HTTP/1.1\r\nHost: x\r\n", b"HTTP/1.1 400", "Invalid HTTP"),
        (
            f"GET /stac/{rel} HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\n".encode()[:-2]
            + b"\xe9\r\n",
            b"HTTP/1.1 ",
            "range=bytes=0-9\\xe9",
        ),
    ]
    for request, status, wanted in cases:
        mark = len(server.lines)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(request + b"Connection: close\r\n\r\n")
            reply = conn.recv(100)
        assert reply.startswith(status), (request, reply)
        new = server.log_since(mark, quiet_s=0.15)
        assert len(new) == 1 and wanted in new[0], (request, new)
        assert "\x1b" not in new[0] and "\xe9" not in new[0], new
