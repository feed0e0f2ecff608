"""``smartmine publish``: the STAC catalog validates offline, every asset opens in its own
reader, a ground point has the same coordinates in every asset, the 3D Tiles tileset
sits where the scene is on Earth, publishing is idempotent, versioned and atomic under
kill -9, bad runs are refused in one line, and the ``twin_publisher`` processor publishes
a finished run (issue 18, items 2, 3 and 7).

The runs are real product files of one analytic surface (tests/twin_runs.py): an aerial
run in UTM 44N and a run in a mine grid.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import pyproj
import pystac
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from tests.bad_input import BadInput, both, check_bad_input, with_file
from tests.twin_runs import EPSG, RES_M, SLOPE, grid, make_run_dir, manifest, marker_utm
from twin import publish, stac
from twin.publish import PublishConfig, PublishError

REPO = Path(__file__).resolve().parents[1]
UTM_ID, GRID_ID = "20261207T101500Z-ab12cd34", "20261208T090000Z-cd34ef56"
CONF = PublishConfig(copc_leaf_points=3000)
"""Small COPC nodes, so the test clouds make a real octree (several levels)."""
EXTENSIONS = {
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
}


@dataclass(frozen=True)
class Published:
    catalog: Path
    utm_run: Path
    grid_run: Path
    utm_item: Path
    grid_item: Path


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Published:
    base = tmp_path_factory.mktemp("publish")
    utm_run = make_run_dir(base / "run-utm")
    grid_run = make_run_dir(base / "run-grid", mine_grid=True, run_id=GRID_ID, site="drift-3")
    catalog = base / "twin"
    utm_item = publish.run(CONF, utm_run, catalog, log=lambda _: None)
    grid_item = publish.run(CONF, grid_run, catalog, log=lambda _: None)
    return Published(catalog, utm_run, grid_run, utm_item, grid_item)


def _item(p: Published, run_id: str) -> Any:
    catalog = pystac.Catalog.from_file(str(p.catalog / "catalog.json"))
    (item,) = [i for i in catalog.get_items(recursive=True) if i.id == run_id]
    return item


def _asset(p: Published, run_id: str, key: str) -> Path:
    return Path(_item(p, run_id).assets[key].get_absolute_href())


# -- the catalog ------------------------------------------------------------------------------
def test_catalog_reads_back_and_every_object_validates_offline(published: Published) -> None:
    catalog = pystac.Catalog.from_file(str(published.catalog / "catalog.json"))
    collections = {c.id: c for c in catalog.get_children()}
    assert set(collections) == {"open-pit", "drift-3"}
    items = list(catalog.get_items(recursive=True))
    assert {i.id for i in items} == {UTM_ID, GRID_ID}
    for stac_object in [catalog, *collections.values(), *items]:
        checked = set(pystac.validation.validate(stac_object, validator=stac.validator()))
        if isinstance(stac_object, pystac.Item):
            assert checked >= EXTENSIONS, checked  # the extensions' schemas ran too
    assert published.utm_item == published.catalog / "meta/000001/open-pit" / UTM_ID / "item.json"
    assert collections["open-pit"].extent.spatial.bboxes[0] == pytest.approx(
        _item(published, UTM_ID).bbox
    )


def test_items_carry_projection_checksums_provenance_and_classes(published: Published) -> None:
    item = _item(published, UTM_ID)
    run = json.loads((published.utm_run / "run.json").read_text())
    props = item.properties
    assert props["proj:code"] == "EPSG:32644"
    assert len(props["proj:bbox"]) == 6
    assert props["smartmine:input_sha256"] == run["input"]["sha256"]
    assert props["smartmine:software"] == {"name": "smartmine", "version": "0.1.0"}
    assert props["smartmine:parameters"] == run["parameters"]
    assert props["smartmine:classes"] == run["classes"]
    assert props["smartmine:accuracy"] == run["accuracy"]
    assert props["start_datetime"] == "2026-12-07T10:15:00Z"
    assert set(item.assets) == {
        "orthophoto", "dsm", "class_map", "heat_map", "cloud", "copc", "mesh", "tileset",
        "trajectory", "report", "report_json",
    }  # fmt: skip
    for key, asset in item.assets.items():
        path = Path(asset.get_absolute_href())
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert asset.extra_fields["file:checksum"] == "1220" + digest, key
        assert asset.extra_fields["file:size"] == path.stat().st_size, key
        assert asset.media_type == stac.MEDIA_TYPES[key] and asset.roles, key
    classes = item.assets["class_map"].extra_fields["classification:classes"]
    assert [(c["value"], c["name"], c["color_hint"]) for c in classes] == [
        (1, "jarosite", "C8A000"),
        (2, "iron-oxide", "A04020"),
    ]
    grid_props = _item(published, GRID_ID).properties
    assert grid_props["proj:code"] is None
    assert grid_props["smartmine:mine_grid"]["to_crs"] == "EPSG:32644"


def test_offline_validation_rejects_a_bad_field_and_never_downloads(published: Published) -> None:
    doc = json.loads(published.utm_item.read_text())
    doc["assets"]["dsm"]["file:checksum"] = "not hex"
    with pytest.raises(stac.StacError, match=r"item\.json: STAC validation failed"):
        stac.validate(doc, "item.json")
    doc = json.loads(published.utm_item.read_text())
    doc["stac_extensions"].append("https://stac-extensions.github.io/eo/v2.0.0/schema.json")
    with pytest.raises(stac.StacError, match="not shipped with smartmine, and never downloaded"):
        stac.validate(doc, "item.json")


# -- the assets in their own readers ------------------------------------------------------------
def test_rasters_are_valid_cogs_and_a_plain_tiff_was_converted(published: Published) -> None:
    assert not cog_validate(str(published.utm_run / "sfm/orthophoto.tif"), quiet=True)[0]
    for key in ("orthophoto", "dsm", "class_map", "heat_map"):
        path = _asset(published, UTM_ID, key)
        assert cog_validate(str(path), quiet=True)[0], key
        with rasterio.open(path) as raster:
            assert raster.crs.to_epsg() == EPSG and raster.overviews(1) is not None
            fields = _item(published, UTM_ID).assets[key].extra_fields
            assert fields["proj:shape"] == [raster.height, raster.width]
    assert cog_validate(str(_asset(published, GRID_ID, "dsm")), quiet=True)[0]


def test_copc_streams_the_same_points_with_their_draped_values(published: Published) -> None:
    las = laspy.read(_asset(published, UTM_ID, "cloud"))
    copc_path = _asset(published, UTM_ID, "copc")
    with laspy.open(copc_path) as whole:
        assert whole.header.parse_crs().to_epsg() == EPSG
    with laspy.CopcReader.open(copc_path) as copc:
        assert copc.header.point_count == len(las.points)
        assert {"class_id", "heat"} <= set(copc.header.point_format.extra_dimension_names)
        every = copc.query()

        def order(p: Any) -> Any:
            return np.lexsort((p.Z, p.Y, p.X))

        assert (every.array[order(every)] == las.points.array[order(las.points)]).all()
        lo = np.array([las.x.min() + 5, las.y.min() + 5])
        hi = lo + 8.0
        window = copc.query(laspy.copc.Bounds(mins=lo, maxs=hi))
        inside = (las.x >= lo[0]) & (las.x <= hi[0]) & (las.y >= lo[1]) & (las.y <= hi[1])
        assert len(window) == int(inside.sum()) > 0
        coarse = copc.query(resolution=2.0)  # the upper octree levels only
        assert 0 < len(coarse) < len(las.points)


def test_mesh_and_tileset_open_in_their_readers(published: Published) -> None:
    import pygltflib
    import trimesh
    from py3dtiles.tileset.tileset import TileSet

    from twin.tiles3d import read_root_transform

    for run_id in (UTM_ID, GRID_ID):
        trimesh.load(_asset(published, run_id, "mesh"), process=False).to_geometry()
        tileset = _asset(published, run_id, "tileset")
        doc = json.loads(tileset.read_text())
        assert doc["asset"]["version"] == "1.1" and doc["geometricError"] > 0
        root = doc["root"]
        assert len(root["transform"]) == 16 and len(root["boundingVolume"]["box"]) == 12
        content = tileset.parent / root["content"]["uri"]
        pygltflib.GLTF2.load(str(content))
        read = TileSet.from_file(tileset)  # py3dtiles, an independent 3D Tiles reader
        assert np.allclose(read.root_tile.transform, read_root_transform(tileset))
        assert type(read.root_tile.get_or_fetch_content(tileset.parent)).__name__ == "Gltf"
        z_up = _y_up_to_z_up(_vertices(content))
        centre = np.array(root["boundingVolume"]["box"][:3])
        half = np.array(root["boundingVolume"]["box"])[[3, 7, 11]]
        assert np.all(np.abs(z_up - centre) <= half + 1e-3)


# -- one ground point, one set of coordinates ---------------------------------------------------
def _vertices(glb: Path) -> Any:
    """World positions of a GLB, in file order (node transforms applied, no merging)."""
    import trimesh

    return np.asarray(trimesh.load(glb, process=False).to_geometry().vertices, dtype=np.float64)


def _y_up_to_z_up(xyz: Any) -> Any:
    return np.column_stack([xyz[:, 0], -xyz[:, 2], xyz[:, 1]])


def _sample(raster_path: Path, xy: Any) -> Any:
    """The raster's band-1 value in the cell under each point (x, y)."""
    with rasterio.open(raster_path) as raster:
        band = raster.read(1)
        rows, cols = rasterio.transform.rowcol(raster.transform, xy[:, 0], xy[:, 1])
    return band[np.asarray(rows), np.asarray(cols)]


def test_a_ground_point_has_the_same_coordinates_in_every_asset(published: Published) -> None:
    las = laspy.read(_asset(published, UTM_ID, "cloud"))
    xyz = np.column_stack([las.x, las.y, las.z])
    z_dsm = _sample(_asset(published, UTM_ID, "dsm"), xyz)
    on_centre = np.all(np.isclose(np.mod(xyz[:, :2], RES_M), RES_M / 2, atol=1e-3), axis=1)
    assert on_centre.sum() > 20
    assert np.abs(z_dsm[on_centre] - xyz[on_centre, 2]).max() < 0.01  # same point: 1 cm
    half_pixel_m = RES_M / 2 * np.hypot(SLOPE, 0.02) * np.sqrt(2)
    assert np.abs(z_dsm - xyz[:, 2]).max() < half_pixel_m + 0.01  # elsewhere: half a pixel
    classes = _sample(_asset(published, UTM_ID, "class_map"), xyz)
    assert (classes == np.asarray(las.class_id)).all()  # the draped class is the map's
    mesh = _vertices(_asset(published, UTM_ID, "mesh"))
    assert np.abs(_sample(_asset(published, UTM_ID, "dsm"), mesh) - mesh[:, 2]).max() < 0.01


@pytest.mark.parametrize("run_id", [UTM_ID, GRID_ID], ids=["utm", "mine-grid"])
def test_the_marker_through_the_tileset_transform_lands_within_1cm(
    published: Published, run_id: str
) -> None:
    """Misplaced or rotated tilesets are the most common complaint about drone pipelines:
    a ground-control marker, taken from the tile content through the root transform to
    ECEF and back to UTM with pyproj, must land on its surveyed coordinates."""
    from twin.tiles3d import read_root_transform

    marker = marker_utm()
    in_product = marker if run_id == UTM_ID else np.array(grid().to_grid(*marker))
    mesh = _vertices(_asset(published, run_id, "mesh"))
    index = int(np.argmin(np.linalg.norm(mesh - in_product, axis=1)))
    assert np.linalg.norm(mesh[index] - in_product) < 1e-3  # the marker is a mesh vertex
    tileset = _asset(published, run_id, "tileset")
    tile = _y_up_to_z_up(_vertices(tileset.parent / "mesh.glb"))
    root = read_root_transform(tileset)
    ecef = root[:3, :3] @ tile[index] + root[:3, 3]
    back = pyproj.Transformer.from_crs(4978, EPSG, always_xy=True).transform(*ecef)
    assert np.linalg.norm(np.array(back) - marker) < 0.01
    every = tile @ root[:3, :3].T + root[:3, 3]
    truth = _ecef_of_product(mesh, run_id)
    assert np.abs(every - truth).max() < 0.01  # every vertex, not only the marker


def _ecef_of_product(xyz: Any, run_id: str) -> Any:
    if run_id == GRID_ID:
        xyz = np.column_stack(grid().from_grid(xyz[:, 0], xyz[:, 1], xyz[:, 2]))
    to_ecef = pyproj.Transformer.from_crs(EPSG, 4978, always_xy=True)
    return np.column_stack(to_ecef.transform(xyz[:, 0], xyz[:, 1], xyz[:, 2]))


# -- idempotent, versioned, atomic --------------------------------------------------------------
def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_publishing_the_same_run_again_changes_nothing(published: Published) -> None:
    before = _tree(published.catalog)
    again = publish.run(CONF, published.utm_run, published.catalog, log=lambda _: None)
    assert again == published.catalog / "meta/000002/open-pit" / UTM_ID / "item.json"
    assert _tree(published.catalog) == before  # same checksums, no new version


def test_the_command_publishes_once_and_says_where(
    published: Published, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartmine.cli import main

    catalog = tmp_path / "twin"
    for _ in range(2):
        assert main(["publish", str(published.grid_run), "--to", str(catalog)]) == 0
    out = capsys.readouterr().out
    item = catalog / "meta/000001/drift-3" / GRID_ID / "item.json"
    assert out.count(f"item: {item}") == 2 and "is published already" in out
    assert [p.name for p in (catalog / "meta").iterdir()] == ["000001"]


def test_new_products_make_a_new_version_and_keep_removes_the_oldest(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run", points=2000)
    catalog = tmp_path / "twin"
    conf = PublishConfig(keep=2, copc_leaf_points=CONF.copc_leaf_points)
    versions = tmp_path / "twin/runs/open-pit" / UTM_ID
    first = publish.run(conf, run, catalog, log=lambda _: None)
    first_catalog = (catalog / "catalog.json").read_bytes()
    for n in (2, 3):
        (run / "report.html").write_text(f"<html><body>version {n}</body></html>\n")
        item = publish.run(conf, run, catalog, log=lambda _: None)
        doc = json.loads(item.read_text())
        assert doc["properties"]["smartmine:version"] == n
        assert f"/v{n}/report.html" in doc["assets"]["report"]["href"]
    assert sorted(p.name for p in versions.iterdir()) == ["v2", "v3"]  # --keep 2
    assert sorted(p.name for p in (catalog / "meta").iterdir()) == ["000002", "000003"]
    assert not first.exists() and first_catalog != (catalog / "catalog.json").read_bytes()
    for stac_object in pystac.Catalog.from_file(str(catalog / "catalog.json")).get_all_items():
        pystac.validation.validate(stac_object, validator=stac.validator())


def test_kill9_mid_publish_leaves_the_previous_catalog_and_the_next_publish_cleans_up(
    tmp_path: Path,
) -> None:
    """A second run published into a catalog holding a first, killed -9 while it writes
    its assets and while it writes the metadata: each time catalog.json is byte for byte
    the previous one and reaches only the first run; the next publish removes what the
    killed ones left and commits."""
    first = make_run_dir(tmp_path / "first", points=2000)
    second = make_run_dir(tmp_path / "second", run_id="20261209T080000Z-0badcafe", points=120_000)
    catalog = tmp_path / "twin"
    publish.run(CONF, first, catalog, log=lambda _: None)
    previous = (catalog / "catalog.json").read_bytes()
    moments = [
        "runs/open-pit/20261209T080000Z-0badcafe/.v1.partial-*/v1/cloud.laz",
        "runs/open-pit/20261209T080000Z-0badcafe/.v1.partial-*/v1/cloud.copc.laz",
        "runs/open-pit/20261209T080000Z-0badcafe/v1/tileset/tileset.json",
    ]
    kills = 0
    for pattern in moments:
        if _kill_publish_at(second, catalog, pattern, tmp_path / "log.txt"):
            kills += 1
            assert (catalog / "catalog.json").read_bytes() == previous
            items = pystac.Catalog.from_file(str(catalog / "catalog.json")).get_all_items()
            assert [i.id for i in items] == [UTM_ID]
    assert kills >= 2, (tmp_path / "log.txt").read_text()[-2000:]
    item = publish.run(CONF, second, catalog, log=lambda _: None)
    assert json.loads(item.read_text())["properties"]["smartmine:version"] == 1
    assert not [p for p in catalog.rglob("*") if ".partial-" in p.name]
    assert sorted(p.name for p in (catalog / "meta").iterdir()) == ["000001", "000002"]


def _kill_publish_at(run: Path, catalog: Path, pattern: str, log: Path) -> bool:
    """Run ``smartmine publish`` and kill -9 it once ``pattern`` exists under
    ``catalog``; False when it finished first."""
    argv = [sys.executable, "-m", "smartmine", "publish", str(run), "--to", str(catalog)]
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink, env={"PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 120
    while not any(catalog.glob(pattern)) and process.poll() is None:
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.002)
    if process.poll() is not None:
        assert process.returncode == 0, log.read_text()[-2000:]
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


# -- bad runs -----------------------------------------------------------------------------------
def _tiny_run(**changes: Any) -> Any:
    """A maker: {d}/run with a run.json (``changes`` applied; None removes a field) whose
    only product is its report."""

    def make(d: Path) -> None:
        run = d / "run"
        run.mkdir()
        (run / "report.html").write_text("<html></html>\n")
        doc = manifest(UTM_ID, "open-pit", False, {"report_html": "report.html"})
        for key, value in changes.items():
            if value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        (run / "run.json").write_text(json.dumps(doc))

    return make


def _no_manifest(d: Path) -> None:
    (d / "run").mkdir()


def _not_json(d: Path) -> None:
    (d / "run").mkdir()
    (d / "run" / "run.json").write_text('{"schema": "smartmine.run/1", ')


def _products_in_another_crs(d: Path) -> None:
    """A real run whose run.json says UTM 43N while its products are in 44N."""
    run = make_run_dir(d / "run", points=500)
    doc = json.loads((run / "run.json").read_text())
    doc["crs"] = "EPSG:32643"
    (run / "run.json").write_text(json.dumps(doc))


PUBLISH = ("publish", "{d}/run", "--to", "{d}/twin")
BAD_RUNS = [
    BadInput("no-run-json", PUBLISH, ("{d}/run/run.json", "incomplete"), _no_manifest),
    BadInput("not-json", PUBLISH, ("run.json", "not valid JSON"), _not_json),
    BadInput("wrong-schema", PUBLISH, ("run.json", "'schema'"), _tiny_run(schema="x/2")),
    BadInput("no-crs", PUBLISH, ("run.json", "'crs'", "not placed"), _tiny_run(crs=None)),
    BadInput("bad-crs", PUBLISH, ("run.json", "'crs'"), _tiny_run(crs="EPSG:0")),
    BadInput("failed-run", PUBLISH, ("run.json", "'status'"), _tiny_run(status="failed")),
    BadInput("run-id-path", PUBLISH, ("run.json", "'run_id'"), _tiny_run(run_id="../x")),
    BadInput("no-products", PUBLISH, ("run.json", "'products'"), _tiny_run(products={})),
    BadInput(
        "missing-product",
        PUBLISH,
        ("run.json", "'products.dsm'", "sfm/dsm.tif"),
        _tiny_run(products={"dsm": "sfm/dsm.tif"}),
    ),
    BadInput(
        "product-outside",
        PUBLISH,
        ("run.json", "'products.cloud'", "outside"),
        _tiny_run(products={"cloud": "../../etc/passwd"}),
    ),
    BadInput(
        "bad-bbox",
        PUBLISH,
        ("run.json", "'bbox_wgs84'"),
        _tiny_run(bbox_wgs84=[82.61, 49.9, 82.6, 49.91]),
    ),
    BadInput("bad-keep", (*PUBLISH, "--keep", "0"), ("--keep",), _tiny_run()),
    BadInput(
        "products-in-another-crs",
        PUBLISH,
        ("run.json", "'products.class_map'", "EPSG:32644", "not EPSG:32643"),
        _products_in_another_crs,
    ),
    BadInput(
        "to-is-a-file", PUBLISH, ("--to", "{d}/twin"), both(_tiny_run(), with_file("twin", ""))
    ),
    BadInput(
        "foreign-catalog",
        PUBLISH,
        ("{d}/twin/catalog.json", "not a catalog smartmine publish wrote"),
        both(
            _tiny_run(),
            with_file("twin/catalog.json", '{"links": [{"rel": "child", "href": "x.json"}]}'),
        ),
    ),
]


@pytest.mark.parametrize("case", BAD_RUNS, ids=lambda c: c.id)
def test_a_bad_run_is_refused_in_one_line_and_nothing_is_published(
    case: BadInput, tmp_path: Path
) -> None:
    check_bad_input(case, tmp_path)


def test_publish_config_refuses_a_keep_of_zero() -> None:
    with pytest.raises(PublishError, match="--keep 0"):
        PublishConfig(keep=0)


# -- the ROS processor --------------------------------------------------------------------------
def test_twin_publisher_publishes_a_finished_run_and_reports_a_bad_one(
    published: Published, tmp_path: Path
) -> None:
    from smartmine.msgs.factory import default_factory
    from smartmine.processor import get_processor, make_params

    cls = get_processor("twin_publisher")
    processor = cls(make_params(cls, {"catalog_dir": str(tmp_path / "twin")}))
    factory = default_factory()
    (out,) = processor.process(
        "run", factory("std_msgs/msg/String", data=str(published.grid_run)), 0
    )
    status = json.loads(out.message.data)
    assert out.port == "status" and status["status"] == "ok"
    assert Path(status["item"]).is_file() and Path(status["catalog"]).is_file()
    (out,) = processor.process("run", factory("std_msgs/msg/String", data=str(tmp_path)), 0)
    status = json.loads(out.message.data)
    assert status["status"] == "failed" and "run.json" in status["error"]


def test_a_publish_that_fails_midway_leaves_nothing(published: Published, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(published.utm_run, run)
    (run / "sfm/mesh.glb").write_bytes(b"glTF not really")
    with pytest.raises(PublishError, match=r"'products.mesh'.*sfm/mesh.glb"):
        publish.run(CONF, run, tmp_path / "first", log=lambda _: None)
    assert not (tmp_path / "first").exists()  # a first publish: no catalog folder left
    catalog = tmp_path / "twin"
    publish.run(CONF, published.grid_run, catalog, log=lambda _: None)
    before = _tree(catalog)
    with pytest.raises(PublishError, match=r"'products.mesh'"):
        publish.run(CONF, run, catalog, log=lambda _: None)
    assert _tree(catalog) == before  # the previous catalog, nothing more
