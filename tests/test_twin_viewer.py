"""The viewer page in a real headless browser: Debian's chromium driven by Playwright,
against ``smartmine twin serve`` on 127.0.0.1.

Checked: the page loads with no console error and asks nothing of any other host (it
works offline: no CDN, no tokens); the layers it lists are exactly the newest run's
assets in the catalog (read back by pystac); the legend shows the classes with their
areas; a screenshot shows the map (orthophoto and heat-map colours, by pixels) and the
3D model (non-background pixels in its canvas); the run picker lists every run newest
first and switches the map and the layer list to the chosen run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
from PIL import Image

from tests.conftest import require_data
from tests.twin_fixtures import PublishedTree, Server, build_published_tree, serve_tree

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",  # WebGL (OpenLayers' COG layers, three.js) on the CPU
]
BACKGROUND_RGB = (0x1D, 0x1F, 0x21)
READY_S = 60.0
MAP_DRAWN = """() => new Promise((resolve) => {
  const map = window.smartmineTwin.mapView.map;
  map.once('rendercomplete', resolve);
  map.render();
})"""
"""Resolves when the map has drawn every tile the current view needs."""


@dataclass
class Session:
    """The page, what it logged and every URL it asked for."""

    page: Any
    server: Server
    tree: PublishedTree
    console: list[tuple[str, str]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} not installed (apt-get install chromium; scripts/setup.sh test does)"
    if require_data():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> PublishedTree:
    return build_published_tree(
        tmp_path_factory.mktemp("twin") / "pub", runs=2, drift=True, stope=True
    )


@pytest.fixture(scope="module")
def session(tree: PublishedTree) -> Iterator[Session]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with serve_tree(tree.root) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 700})
        s = Session(page, server, tree)
        page.on("console", lambda m: s.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: s.console.append(("pageerror", str(e))))
        page.on("request", lambda r: s.requests.append(r.url))
        page.on("requestfailed", lambda r: s.failures.append(f"{r.url}: {r.failure}"))
        page.on(
            "response",
            lambda r: s.failures.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None,
        )
        page.goto(f"http://127.0.0.1:{server.port}/")
        wait_ready(page, tree.run_ids[0])
        yield s
        browser.close()


def wait_ready(page: Any, run_id: str) -> None:
    """Until the page says the run is drawn (map rendered, model loaded) or failed."""
    page.wait_for_selector(
        f'body[data-state="ready"][data-run="{run_id}"], body[data-state="error"]',
        timeout=READY_S * 1000,
    )
    assert page.evaluate("document.body.dataset.state") == "ready"


def screenshot(page: Any, selector: str) -> np.ndarray:
    """The element's pixels as an (H, W, 3) uint8 array, from a real screenshot."""
    png = page.locator(selector).screenshot()
    rgb: np.ndarray = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return rgb


def near(rgb: np.ndarray, colour: tuple[int, int, int], tol: int) -> np.ndarray:
    close: np.ndarray = np.all(np.abs(rgb.astype(int) - np.array(colour)) <= tol, axis=-1)
    return close


def hot_centre_x(rgb: np.ndarray) -> float:
    """Where the heat map's hottest colour lies across the image, 0 (west) .. 1 (east);
    NaN when there is none."""
    hot = (rgb[..., 0] > 170) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)
    cols = np.nonzero(hot)[1]
    return float(cols.mean() / rgb.shape[1]) if cols.size else float("nan")


def newest_item(tree: PublishedTree) -> pystac.Item:
    catalog = pystac.Catalog.from_file(str(tree.root / "catalog.json"))
    items = list(catalog.get_items(recursive=True))
    return max(
        items, key=lambda i: str(i.properties.get("datetime") or i.properties["start_datetime"])
    )


def test_page_loads_without_console_errors_and_stays_on_loopback(session: Session) -> None:
    errors = [(kind, text) for kind, text in session.console if kind in ("error", "pageerror")]
    assert not errors, errors
    assert not session.failures, session.failures
    origin = f"http://127.0.0.1:{session.server.port}/"
    foreign = [u for u in session.requests if not u.startswith((origin, "data:", "blob:"))]
    assert not foreign, f"the page asked other hosts (must work offline): {foreign}"


def test_layers_listed_equal_the_catalog_assets(session: Session) -> None:
    item = newest_item(session.tree)
    listed = session.page.eval_on_selector_all(
        "#layers [data-asset]", "els => els.map(e => [e.dataset.asset, e.dataset.href])"
    )
    assert sorted(key for key, _ in listed) == sorted(item.assets)
    for key, href in listed:  # each link is the asset served from the tree
        rel = Path(item.assets[key].get_absolute_href() or "").relative_to(session.tree.root)
        assert href.endswith(f"/stac/{rel.as_posix()}"), (key, href)


def test_legend_lists_the_classes_with_their_areas(session: Session) -> None:
    item = newest_item(session.tree)
    rows = session.page.eval_on_selector_all(
        "#legend tbody tr", "rows => rows.map(r => [r.dataset.class, r.cells[2].textContent])"
    )
    expected = [[c["name"], f"{c['area_m2']:.1f}"] for c in item.properties["smartmine:classes"]]
    assert rows == expected


def test_accuracy_panel_lists_the_figures_of_the_item(session: Session) -> None:
    item = newest_item(session.tree)
    rows = session.page.eval_on_selector_all(
        "#accuracy tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    expected = [
        [stage, name.replace("_", " "), str(value) if isinstance(value, int) else f"{value:.4g}"]
        for stage, figures in item.properties["smartmine:accuracy"].items()
        for name, value in figures.items()
    ]
    assert rows == expected and rows


def test_screenshot_shows_the_map_and_the_model(session: Session) -> None:
    """Map: orthophoto and heat colours. Model: the tileset drawn, the draped heat on it,
    and its hot spot on the same side (west/east) as on the map: the tileset's ECEF
    transform taken back to the screen agrees with the COG's georeferencing."""
    run_id = session.tree.run_ids[0]
    page = session.page
    shot = screenshot(page, "#map")
    ortho = near(shot, session.tree.ortho_rgb[run_id], 30).mean()
    red = shot[..., 0].astype(int)
    heat = ((red > 170) & (shot[..., 1] < 90) & (shot[..., 2] < 90)).mean()
    print(f"map: orthophoto colour {ortho:.1%}, heat red {heat:.2%}")
    assert ortho > 0.30, f"the orthophoto covers {ortho:.1%} of the map"
    assert heat > 0.005, f"the heat map's hot colour covers {heat:.2%} of the map"
    assert page.eval_on_selector("#model", "c => c.dataset.source") == "tileset"
    model = screenshot(page, "#model")
    drawn = ~near(model, BACKGROUND_RGB, 6)
    print(f"model: {drawn.mean():.1%} of the canvas drawn")
    assert drawn.mean() > 0.10, f"the 3D model covers {drawn.mean():.1%} of its canvas"
    map_x, model_x = hot_centre_x(shot), hot_centre_x(model)
    print(f"hot spot across: map {map_x:.2f}, model {model_x:.2f}")
    assert (map_x - 0.5) * (model_x - 0.5) > 0, "the hot spot is on opposite sides"
    page.screenshot(path=str(session.tree.root.parent / "viewer.png"))


def test_class_map_toggles_on_with_the_legend_colours(session: Session) -> None:
    """The layer checkboxes work: heat off, class map on shows the first class in its
    legend colour (blended over the orthophoto at the layer's 0.55 alpha)."""
    page = session.page
    run_id = session.tree.run_ids[0]
    item = newest_item(session.tree)
    first = item.properties["smartmine:classes"][0]
    colour = np.array([int(first["colour"][i : i + 2], 16) for i in (1, 3, 5)])
    expected = 0.55 * colour + 0.45 * np.array(session.tree.ortho_rgb[run_id])
    page.uncheck('#layers [data-asset="heat_map"] input')
    page.check('#layers [data-asset="class_map"] input')
    page.evaluate(MAP_DRAWN)
    shot = screenshot(page, "#map")
    share = near(shot, tuple(int(v) for v in expected), 25).mean()  # type: ignore[arg-type]
    print(f"class map: {first['name']} colour covers {share:.2%} of the map")
    page.check('#layers [data-asset="heat_map"] input')
    page.uncheck('#layers [data-asset="class_map"] input')
    assert share > 0.01, f"{first['name']} covers {share:.2%} of the map"


def test_run_picker_switches_runs(session: Session) -> None:
    page = session.page
    run_ids = page.eval_on_selector_all("#run-picker option", "os => os.map(o => o.dataset.run)")
    assert run_ids == session.tree.run_ids, "every run of every site, newest first"
    older = session.tree.run_ids[1]
    page.select_option("#run-picker", index=1)
    wait_ready(page, older)
    hrefs = page.eval_on_selector_all("#layers [data-asset]", "els => els.map(e => e.dataset.href)")
    assert hrefs and all(f"/{older}/" in h for h in hrefs), hrefs
    shot = screenshot(page, "#map")
    now = near(shot, session.tree.ortho_rgb[older], 30).mean()
    before = near(shot, session.tree.ortho_rgb[session.tree.run_ids[0]], 30).mean()
    assert now > 0.30 and before < 0.02, (now, before)
    model = screenshot(page, "#model")
    map_x, model_x = hot_centre_x(shot), hot_centre_x(model)
    assert map_x > 0.5 and model_x > 0.5, ("the older run's hot spot lies east", map_x, model_x)
    errors = [(kind, text) for kind, text in session.console if kind in ("error", "pageerror")]
    assert not errors, errors


def test_underground_run_in_a_mine_grid(session: Session) -> None:
    """A drift run (no rasters, ``proj:code`` null): no map layers, said so; the tunnel
    drawn from its tileset with its draped heat."""
    page = session.page
    drift = session.tree.run_ids[2]
    page.select_option("#run-picker", index=2)
    wait_ready(page, drift)
    listed = page.eval_on_selector_all(
        "#layers [data-asset]", "els => els.map(e => e.dataset.asset)"
    )
    assert sorted(listed) == sorted(session.tree.assets[drift])
    assert "no map layers" in page.inner_text("#map-note")
    assert page.eval_on_selector("#model", "c => c.dataset.source") == "tileset"
    model = screenshot(page, "#model")
    drawn = ~near(model, BACKGROUND_RGB, 6)
    assert drawn.mean() > 0.02, f"the tunnel covers {drawn.mean():.1%} of its canvas"
    page.screenshot(path=str(session.tree.root.parent / "drift.png"))
    assert np.isfinite(hot_centre_x(model)), "no draped heat on the tunnel"
    errors = [(kind, text) for kind, text in session.console if kind in ("error", "pageerror")]
    assert not errors, errors


def test_a_run_with_only_a_point_cloud_streams_its_copc(session: Session) -> None:
    """No mesh, no tileset: the COPC's coarse levels are drawn, read by range requests
    (206 in the server's log) and decompressed by the shipped laz-perf WebAssembly."""
    page = session.page
    stope = session.tree.run_ids[3]
    mark = len(session.server.lines)
    page.select_option("#run-picker", index=3)
    wait_ready(page, stope)
    assert page.eval_on_selector("#model", "c => c.dataset.source") == "copc"
    drawn = ~near(screenshot(page, "#model"), BACKGROUND_RGB, 6)
    print(f"cloud: {drawn.mean():.1%} of the canvas drawn")
    assert drawn.mean() > 0.01, f"the point cloud covers {drawn.mean():.1%} of its canvas"
    copc = session.tree.assets[stope]["copc"]
    gets = [line for line in session.server.log_since(mark) if f" GET /stac/{copc} " in line]
    assert gets and all(" 206 " in line for line in gets), gets
    errors = [(kind, text) for kind, text in session.console if kind in ("error", "pageerror")]
    assert not errors, errors


def test_the_page_on_a_tree_written_by_smartmine_publish(
    session: Session, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same checks on what ``smartmine publish`` writes (an aerial run in UTM and
    one in a mine grid): every run loads with no console error, lists exactly its
    catalog assets and draws its model. Runs once publish and its test runs are in the
    tree (issue 18 pieces merged)."""
    publish = pytest.importorskip("twin.publish", reason="twin.publish not in this tree yet")
    runs = pytest.importorskip("tests.twin_runs", reason="tests/twin_runs.py not here yet")
    base = tmp_path_factory.mktemp("published")
    conf = publish.PublishConfig()
    for run_dir in (
        runs.make_run_dir(base / "utm"),
        runs.make_run_dir(base / "grid", mine_grid=True, run_id="20261208T090000Z-cd34ef56"),
    ):
        publish.run(conf, run_dir, base / "twin", log=lambda _: None)
    catalog = pystac.Catalog.from_file(str(base / "twin" / "catalog.json"))
    items = {item.id: item for item in catalog.get_items(recursive=True)}
    with serve_tree(base / "twin") as server:
        page = session.page.context.browser.new_page(viewport={"width": 1400, "height": 700})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector('body[data-state="ready"], body[data-state="error"]')
        run_ids = page.eval_on_selector_all(
            "#run-picker option", "os => os.map(o => o.dataset.run)"
        )
        assert sorted(run_ids) == sorted(items)
        for index, run_id in enumerate(run_ids):
            page.select_option("#run-picker", index=index)
            wait_ready(page, run_id)
            listed = page.eval_on_selector_all(
                "#layers [data-asset]", "els => els.map(e => e.dataset.asset)"
            )
            assert sorted(listed) == sorted(items[run_id].assets), run_id
            drawn = ~near(screenshot(page, "#model"), BACKGROUND_RGB, 6)
            assert drawn.mean() > 0.02, (run_id, drawn.mean())
        page.close()
    assert not errors, errors
