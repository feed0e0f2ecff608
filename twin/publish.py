"""``smartmine publish RUN_DIR --to DIR``: a run's products into the twin's STAC catalog,
atomically and versioned.

The published tree (docs/notes/issue-18-contract.md)::

    DIR/catalog.json                                the root Catalog: the commit point
    DIR/meta/<G>/<site>/collection.json             generation G of the metadata
    DIR/meta/<G>/<site>/<run_id>/item.json
    DIR/runs/<site>/<run_id>/v<K>/...               version K of a run's assets
    DIR/.publish.lock                               one publisher at a time (flock)

Nothing a committed catalog reaches is ever modified: a publish writes the run's assets
into a new version folder and the whole metadata into a new generation folder (each
built under a temporary name, verified, then renamed), and only then replaces
``catalog.json`` by an atomic rename. Readers see the previous catalog until that rename
and the new one after it, never a mix; a publish killed at any moment before it leaves
the previous catalog served. Whatever such a publish left (temporaries, a version or a
generation the catalog does not reach) is removed by the next one before it writes.

Same run, same products -> same bytes: the outputs depend on the inputs alone (no clock,
no absolute paths), and a run whose sources hash as the published version's does
(``smartmine:source_sha256``) is not published again. ``keep`` versions of each run stay
on disk (the newest is in the catalog; older ones serve readers still holding an older
catalog, and roll-backs); older ones, and metadata generations older than the previous
one, go once the new catalog is committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from smartmine.atomic import atomic_path, clean_debris, write_text_atomic
from smartmine.errors import SmartmineError
from smartmine.paths import check_output_path
from twin import stac
from twin.tiles3d import Placement, write_tileset

RUN_SCHEMA: Final = "smartmine.run/1"
PUBLISH_FORMAT: Final = "smartmine.publish/1"
"""Goes into the source digest: a change of what publish writes makes a new version."""
KINDS: Final = ("aerial", "underground", "hyperspectral")
STATUSES: Final = ("ok", "warnings", "failed")
RASTERS: Final = ("orthophoto", "dsm", "class_map", "heat_map")
ROLE_KEYS: Final = {
    "orthophoto": "orthophoto",
    "dsm": "dsm",
    "class_map": "class_map",
    "heat_map": "heat_map",
    "cloud": "cloud",
    "mesh": "mesh",
    "trajectory": "trajectory",
    "report_html": "report",
    "report_json": "report_json",
}
"""run.json product role -> STAC asset key."""
FILE_NAMES: Final = {
    "orthophoto": "orthophoto.tif",
    "dsm": "dsm.tif",
    "class_map": "class_map.tif",
    "heat_map": "heat_map.tif",
    "cloud": "cloud.laz",
    "copc": "cloud.copc.laz",
    "mesh": "mesh.glb",
    "tileset": "tileset/tileset.json",
    "trajectory": "trajectory.txt",
    "report": "report.html",
    "report_json": "report.json",
}
"""Asset key -> file name in a version folder."""
SAFE_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""A run id or site: one path component of the published tree, nothing else."""
CATALOG: Final = "catalog.json"
LOCK: Final = ".publish.lock"
GENERATION: Final = re.compile(r"\d{6}")
VERSION: Final = re.compile(r"v(\d+)")

Log = Callable[[str], None]


class PublishError(SmartmineError):
    """A run cannot be published: run.json missing or invalid, a product unreadable."""


@dataclass(frozen=True)
class PublishConfig:
    """How to publish. ``keep``: versions of each run kept on disk (the newest is the
    catalog's); ``copc_leaf_points``: points per COPC octree node before it splits."""

    keep: int = 3
    copc_leaf_points: int = 100_000

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= 1000:
            raise PublishError(f"--keep {self.keep}: want 1 to 1000 versions")
        if self.copc_leaf_points < 100:
            raise PublishError(f"copc_leaf_points {self.copc_leaf_points}: want 100 or more")


# -- run.json ------------------------------------------------------------------------------
def _field(where: Path, name: str, problem: str) -> PublishError:
    return PublishError(f"{where}: field {name!r}: {problem}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def read_run(run_dir: Path) -> dict[str, Any]:
    """run.json of ``run_dir``, checked field by field (each error names the file and the
    field); product paths are resolved inside ``run_dir`` and must be files."""
    path = run_dir / "run.json"
    if not run_dir.is_dir():
        raise PublishError(f"{run_dir}: not a run folder (no such folder)")
    if not path.is_file():
        raise PublishError(f"{path}: missing: the run is incomplete (reprocess writes it last)")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise PublishError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(run, dict):
        raise PublishError(f"{path}: not a JSON object")
    _check_identity(path, run)
    _check_place(path, run)
    _check_provenance(path, run)
    _check_products(path, run_dir, run)
    _check_classes(path, run)
    return run


def _check_identity(path: Path, run: Mapping[str, Any]) -> None:
    if run.get("schema") != RUN_SCHEMA:
        raise _field(path, "schema", f"{run.get('schema')!r}, want {RUN_SCHEMA!r}")
    for name in ("run_id", "site"):
        value = run.get(name)
        if not isinstance(value, str) or not SAFE_ID.fullmatch(value):
            raise _field(path, name, f"{value!r} is not a plain name (letters, digits, . _ -)")
    if run.get("kind") not in KINDS:
        raise _field(path, "kind", f"{run.get('kind')!r} is not one of {', '.join(KINDS)}")
    if run.get("status") not in STATUSES:
        raise _field(path, "status", f"{run.get('status')!r} is not one of {STATUSES}")
    if run["status"] == "failed":
        failed = "; ".join(map(str, run.get("failed") or [])) or "no reason given"
        raise _field(path, "status", f"the run failed ({failed}): a failed run is not published")
    for name in ("start_ns", "end_ns"):
        value = run.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _field(path, name, f"{value!r} is not a time in ns since 1970")
    if run["end_ns"] < run["start_ns"]:
        raise _field(path, "end_ns", "before start_ns")


def _check_place(path: Path, run: Mapping[str, Any]) -> None:
    from smartmine.geodesy import to_pyproj_crs

    crs, grid = run.get("crs"), run.get("mine_grid")
    if crs is None and grid is None:
        raise _field(path, "crs", "null and no mine_grid: the products are not placed on Earth")
    if crs is not None:
        if not isinstance(crs, str):
            raise _field(path, "crs", f"{crs!r} is not a CRS name such as 'EPSG:32644'")
        try:
            to_pyproj_crs(crs)
        except SmartmineError as err:
            raise _field(path, "crs", str(err)) from None
    if grid is not None:
        _check_grid(path, grid)
    box = run.get("bbox_wgs84")
    if not (isinstance(box, list) and len(box) == 4 and all(map(_number, box))):
        raise _field(path, "bbox_wgs84", f"{box!r} is not [min_lon, min_lat, max_lon, max_lat]")
    if not (-180 <= box[0] <= box[2] <= 180 and -90 <= box[1] <= box[3] <= 90):
        raise _field(path, "bbox_wgs84", f"{box} is not a box in degrees (lon, lat order)")
    footprint = run.get("footprint_wgs84")
    if not (
        isinstance(footprint, dict)
        and footprint.get("type") in ("Polygon", "MultiPolygon")
        and isinstance(footprint.get("coordinates"), list)
    ):
        raise _field(path, "footprint_wgs84", "not a GeoJSON Polygon")


def _check_grid(path: Path, grid: Any) -> None:
    from smartmine.geodesy import to_pyproj_crs

    if not isinstance(grid, dict):
        raise _field(path, "mine_grid", "not an object with name, to_crs and matrix_4x4")
    try:
        to_pyproj_crs(str(grid.get("to_crs")))
    except SmartmineError as err:
        raise _field(path, "mine_grid.to_crs", str(err)) from None
    matrix = grid.get("matrix_4x4")
    if not (
        isinstance(matrix, list)
        and len(matrix) == 4
        and all(isinstance(r, list) and len(r) == 4 and all(map(_number, r)) for r in matrix)
        and matrix[3] == [0, 0, 0, 1]
    ):
        raise _field(path, "mine_grid.matrix_4x4", "not a 4x4 affine matrix (last row 0 0 0 1)")


def _check_provenance(path: Path, run: Mapping[str, Any]) -> None:
    source = run.get("input")
    digest = source.get("sha256") if isinstance(source, dict) else None
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise _field(path, "input.sha256", f"{digest!r} is not a sha256 hex digest")
    software = run.get("software")
    if not (isinstance(software, dict) and isinstance(software.get("version"), str)):
        raise _field(path, "software.version", "missing")
    for name in ("parameters", "accuracy"):
        if not isinstance(run.get(name, {}), dict):
            raise _field(path, name, "not an object")


def _check_products(path: Path, run_dir: Path, run: dict[str, Any]) -> None:
    products = run.get("products")
    if not isinstance(products, dict) or not products:
        raise _field(path, "products", "no products: nothing to publish")
    root = run_dir.resolve()
    resolved: dict[str, Path] = {}
    for role, relative in products.items():
        name = f"products.{role}"
        if role not in ROLE_KEYS:
            raise _field(path, name, f"unknown role (known: {', '.join(ROLE_KEYS)})")
        if not isinstance(relative, str) or not relative or Path(relative).is_absolute():
            raise _field(path, name, f"{relative!r} is not a path relative to the run folder")
        target = (run_dir / relative).resolve()
        if root not in target.parents:
            raise _field(path, name, f"{relative} lies outside the run folder")
        if not target.is_file():
            raise _field(path, name, f"{relative}: no such file in the run folder")
        resolved[role] = target
    run["_files"] = resolved
    run["_path"] = path


def _check_classes(path: Path, run: Mapping[str, Any]) -> None:
    classes = run.get("classes", [])
    if not isinstance(classes, list):
        raise _field(path, "classes", "not a list")
    for i, entry in enumerate(classes):
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("value"), int)
            and isinstance(entry.get("name"), str)
            and entry["name"]
        ):
            raise _field(path, f"classes[{i}]", "wants an integer value and a name")
        colour = entry.get("colour")
        if colour is not None and not re.fullmatch(r"#[0-9A-Fa-f]{6}", str(colour)):
            raise _field(path, f"classes[{i}].colour", f"{colour!r} is not #rrggbb")


# -- the committed state -------------------------------------------------------------------
@dataclass(frozen=True)
class Committed:
    """What DIR/catalog.json reaches: its generation and every item (JSON) by (site, id)."""

    generation: int
    items: dict[tuple[str, str], dict[str, Any]]


def committed_state(to_dir: Path) -> Committed:
    """The catalog as committed (generation 0 and no items when there is none yet)."""
    catalog = to_dir / CATALOG
    if not catalog.exists():
        return Committed(0, {})
    try:
        return _read_committed(to_dir, stac.read_json(catalog))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise PublishError(
            f"{catalog}: not a catalog smartmine publish wrote ({type(err).__name__}: {err}); "
            "publish into an empty folder or one it wrote"
        ) from None


def _read_committed(to_dir: Path, doc: dict[str, Any]) -> Committed:
    items: dict[tuple[str, str], dict[str, Any]] = {}
    generation = 0
    for link in doc.get("links", []):
        if link.get("rel") != "child":
            continue
        collection_path = (to_dir / link["href"]).resolve()
        generation = int(collection_path.parent.parent.name)
        collection = stac.read_json(collection_path)
        for item_link in collection.get("links", []):
            if item_link.get("rel") == "item":
                item = stac.read_json((collection_path.parent / item_link["href"]).resolve())
                items[(collection["id"], item["id"])] = item
    return Committed(generation, items)


def _version_of(item: Mapping[str, Any]) -> int:
    return int(item["properties"]["smartmine:version"])


def remove_uncommitted(to_dir: Path, state: Committed, log: Log) -> None:
    """Remove what an interrupted publish left: temporaries, and generations and run
    versions newer than what the committed catalog reaches."""
    for path in clean_debris(to_dir, recursive=True):
        log(f"removed the debris of an interrupted publish: {path}")
    meta = to_dir / "meta"
    for folder in sorted(meta.iterdir()) if meta.is_dir() else []:
        if GENERATION.fullmatch(folder.name) and int(folder.name) > state.generation:
            shutil.rmtree(folder)
            log(f"removed an uncommitted metadata generation: {folder}")
    published = {key: _version_of(item) for key, item in state.items.items()}
    for site, run_id, version, folder in _version_folders(to_dir):
        if version > published.get((site, run_id), 0):
            shutil.rmtree(folder)
            log(f"removed an uncommitted run version: {folder}")
    _remove_empty_folders(to_dir)


def _remove_empty_folders(to_dir: Path) -> None:
    """Run, site, runs and meta folders left empty (by a removal or a roll-back)."""
    for top in ("runs", "meta"):
        for folder in sorted((to_dir / top).rglob("*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if (to_dir / top).is_dir() and not any((to_dir / top).iterdir()):
            (to_dir / top).rmdir()


def _version_folders(to_dir: Path) -> Iterator[tuple[str, str, int, Path]]:
    runs = to_dir / "runs"
    for site in sorted(runs.iterdir()) if runs.is_dir() else []:
        for run in sorted(site.iterdir()) if site.is_dir() else []:
            for folder in sorted(run.iterdir()) if run.is_dir() else []:
                match = VERSION.fullmatch(folder.name)
                if match and folder.is_dir():
                    yield site.name, run.name, int(match[1]), folder


def prune(to_dir: Path, state: Committed, keep: int, log: Log) -> None:
    """After a commit: each run's versions beyond the newest ``keep`` (never the one the
    catalog reaches), and metadata generations older than the previous one."""
    versions: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    for site, run_id, version, folder in _version_folders(to_dir):
        versions.setdefault((site, run_id), []).append((version, folder))
    for key, found in versions.items():
        current = _version_of(state.items[key]) if key in state.items else None
        for version, folder in sorted(found)[:-keep]:
            if version != current:
                shutil.rmtree(folder)
                log(f"removed old version {folder} (--keep {keep})")
    meta = to_dir / "meta"
    for folder in sorted(meta.iterdir()) if meta.is_dir() else []:
        if GENERATION.fullmatch(folder.name) and int(folder.name) < state.generation - 1:
            shutil.rmtree(folder)


@contextlib.contextmanager
def publisher_lock(to_dir: Path) -> Iterator[None]:
    """One publisher per catalog at a time; the kernel drops the lock of a killed one."""
    with (to_dir / LOCK).open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- hashing and verifying -----------------------------------------------------------------
def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def source_digest(run: Mapping[str, Any], conf: PublishConfig) -> str:
    """What the published bytes depend on: run.json, every product's bytes, the publish
    format and the COPC node size (not ``keep``, not the paths)."""
    manifest = {k: v for k, v in run.items() if not k.startswith("_")}
    files: Mapping[str, Path] = run["_files"]
    parts = {
        "run": manifest,
        "products": {role: sha256_of(path) for role, path in sorted(files.items())},
        "format": PUBLISH_FORMAT,
        "copc_leaf_points": conf.copc_leaf_points,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# -- writing the assets ----------------------------------------------------------------------
def _copy_verified(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256_of(source)
    shutil.copyfile(source, target)
    if sha256_of(target) != expected:
        raise PublishError(f"{target}: the copy of {source} reads back different bytes")


def _raster(source: Path, target: Path, run: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A COG of ``source`` at ``target`` (a copy when it is one already); its projection
    fields. A raster in another CRS than the run's is refused."""
    import rasterio
    from rio_cogeo.cogeo import cog_translate, cog_validate
    from rio_cogeo.profiles import cog_profiles

    with rasterio.open(source) as src:
        crs = src.crs.to_string() if src.crs else None
        if run.get("crs") and crs and src.crs != rasterio.crs.CRS.from_user_input(run["crs"]):
            raise _field(
                run["_path"], f"products.{role}", f"{source} is in {crs}, not {run['crs']}"
            )
        shape, transform = [src.height, src.width], list(src.transform)[:6]
    valid, _, _ = cog_validate(str(source), quiet=True)
    if valid:
        _copy_verified(source, target)
    else:
        with rasterio.open(source) as src:
            profile = cog_profiles.get("deflate")  # type: ignore[no-untyped-call]
            cog_translate(src, str(target), profile, quiet=True, in_memory=True)
    valid, errors, _ = cog_validate(str(target), quiet=True)
    if not valid:
        raise PublishError(f"{target}: not a valid COG after conversion: {'; '.join(errors)}")
    return {"proj:shape": shape, "proj:transform": [float(v) for v in transform]}


def _cloud(
    source: Path, folder: Path, conf: PublishConfig, run: Mapping[str, Any]
) -> tuple[list[float], int]:
    """The LAZ (copy) and its COPC; the cloud's 3D box and point count (verified in both).
    A cloud whose header states another CRS than the run's is refused."""
    import laspy
    import pyproj

    from twin.copc import write_copc

    _copy_verified(source, folder / FILE_NAMES["cloud"])
    with laspy.open(folder / FILE_NAMES["cloud"]) as reader:
        header = reader.header
        count = int(header.point_count)
        box = [*map(float, header.mins), *map(float, header.maxs)]
        crs = header.parse_crs()
    if run.get("crs") and crs is not None and not crs.equals(pyproj.CRS(run["crs"])):
        raise _field(run["_path"], "products.cloud", f"{source} is in {crs.name}, not {run['crs']}")
    if count == 0:
        raise PublishError(f"{source}: the cloud has no points")
    write_copc(source, folder / FILE_NAMES["copc"], leaf_points=conf.copc_leaf_points)
    with laspy.CopcReader.open(folder / FILE_NAMES["copc"]) as copc:
        if int(copc.header.point_count) != count:
            raise PublishError(f"{folder / FILE_NAMES['copc']}: holds other points than {source}")
    return box, count


def _placement(run: Mapping[str, Any]) -> Placement:
    grid = run.get("mine_grid")
    if grid is not None:
        matrix = tuple(tuple(float(v) for v in row) for row in grid["matrix_4x4"])
        return Placement(str(grid["to_crs"]), matrix)
    return Placement(str(run["crs"]))


def _mesh(source: Path, folder: Path, run: Mapping[str, Any], generator: str) -> None:
    import pygltflib

    _copy_verified(source, folder / FILE_NAMES["mesh"])
    tiles = folder / "tileset"
    tiles.mkdir()
    box = run["bbox_wgs84"]
    near = ((box[1] + box[3]) / 2.0, (box[0] + box[2]) / 2.0)
    tileset = write_tileset(source, tiles, _placement(run), near, generator=generator)
    doc = json.loads(tileset.tileset.read_text(encoding="utf-8"))
    if doc["asset"]["version"] != "1.1" or not (tiles / doc["root"]["content"]["uri"]).is_file():
        raise PublishError(f"{tileset.tileset}: not a complete 3D Tiles 1.1 tileset")
    pygltflib.GLTF2.load(str(tileset.content))


def write_assets(
    run: Mapping[str, Any], folder: Path, conf: PublishConfig, log: Log
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Every asset of ``run`` into ``folder`` (made), written and verified; per asset key
    its extra STAC fields, and the item's extra properties (``proj:bbox``)."""
    files: Mapping[str, Path] = run["_files"]
    extras: dict[str, dict[str, Any]] = {}
    properties: dict[str, Any] = {}
    for role, source in sorted(files.items()):
        key = ROLE_KEYS[role]
        log(f"publish: {key} <- {source.name}")
        try:
            _write_asset(run, role, key, source, folder, conf, extras, properties)
        except SmartmineError:
            raise
        except Exception as err:  # a reader's own error on a damaged product
            relative = source.relative_to(run["_path"].parent.resolve())
            raise _field(
                run["_path"],
                f"products.{role}",
                f"{relative}: unreadable ({type(err).__name__}: {err})",
            ) from err
    return extras, properties


def _write_asset(
    run: Mapping[str, Any],
    role: str,
    key: str,
    source: Path,
    folder: Path,
    conf: PublishConfig,
    extras: dict[str, dict[str, Any]],
    properties: dict[str, Any],
) -> None:
    """One product's asset(s) into ``folder``; their STAC fields into ``extras`` and
    ``properties``."""
    generator = f"smartmine {run['software']['version']}"
    if key in RASTERS:
        extras[key] = _raster(source, folder / FILE_NAMES[key], run, role)
        if "proj:bbox" not in properties:
            properties["proj:bbox"] = _raster_bbox(extras[key])
    elif key == "cloud":
        box, _ = _cloud(source, folder, conf, run)
        properties["proj:bbox"] = box
        extras["cloud"], extras["copc"] = {}, {}
    elif key == "mesh":
        _mesh(source, folder, run, generator)
        extras["mesh"], extras["tileset"] = {}, {}
    else:
        _copy_verified(source, folder / FILE_NAMES[key])
        extras[key] = {}


def _raster_bbox(fields: Mapping[str, Any]) -> list[float]:
    a, b, c, d, e, f = fields["proj:transform"]
    height, width = fields["proj:shape"]
    xs, ys = (c, c + a * width + b * height), (f, f + d * width + e * height)
    return [min(xs), min(ys), max(xs), max(ys)]


# -- the catalog -----------------------------------------------------------------------------
def _item_from(doc: Mapping[str, Any]) -> Any:
    """A committed item, without its links (they are made again for the new generation)."""
    import pystac

    item = pystac.Item.from_dict(dict(doc), preserve_dict=True)
    dropped = ("root", "parent", "collection", "self")
    item.links = [link for link in item.links if link.rel not in dropped]
    return item


def write_generation(
    to_dir: Path, generation: int, items: Mapping[tuple[str, str], Any]
) -> tuple[str, dict[tuple[str, str], Path]]:
    """Metadata generation ``generation`` (validated, renamed into place); the root
    catalog's JSON (not written: the caller commits it) and each item's final path."""
    by_site: dict[str, list[Any]] = {}
    for (site, _), item in sorted(items.items()):
        by_site.setdefault(site, []).append(item)
    collections = [stac.make_collection(site, site_items) for site, site_items in by_site.items()]
    catalog = stac.make_catalog(collections)
    final = to_dir / "meta" / f"{generation:06d}"
    catalog.set_self_href(str(to_dir / CATALOG))
    paths: dict[tuple[str, str], Path] = {}
    for collection in collections:
        collection.set_self_href(str(final / collection.id / "collection.json"))
        for item in collection.get_items():
            paths[(collection.id, item.id)] = final / collection.id / item.id / "item.json"
            item.set_self_href(str(paths[(collection.id, item.id)]))
    documents: list[tuple[Path, str]] = []
    for collection in collections:
        documents.append((final / collection.id / "collection.json", stac.to_json(collection)))
        for item in collection.get_items():
            documents.append((paths[(collection.id, item.id)], stac.to_json(item)))
    root_json = stac.to_json(catalog)
    for path, text in [*documents, (to_dir / CATALOG, root_json)]:
        stac.validate(json.loads(text), str(path.relative_to(to_dir)))
    with atomic_path(final) as tmp:
        for path, text in documents:
            target = tmp / path.relative_to(final)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return root_json, paths


def _verify_published(folder: Path, expected: Mapping[str, tuple[str, int]]) -> None:
    """Re-read every asset after its rename into place: same checksum and size."""
    for name, (digest, size) in expected.items():
        path = folder / name
        if path.stat().st_size != size or sha256_of(path) != digest:
            raise PublishError(f"{path}: reads back different bytes than were written")


def run(conf: PublishConfig, run_dir: Path, to_dir: Path, log: Log = print) -> Path:
    """Publish the run in ``run_dir`` into the catalog at ``to_dir``; the item JSON path.
    Idempotent: the same run with the same products publishes nothing new."""
    run_dir, to_dir = Path(run_dir), Path(to_dir)
    manifest = read_run(run_dir)
    check_output_path(to_dir, "--to")
    digest = source_digest(manifest, conf)
    committed_state(to_dir)  # a folder holding some other catalog: refused, left untouched
    made = not to_dir.exists()
    to_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _publish_locked(conf, manifest, to_dir, digest, log)
    except BaseException:
        if made:  # a first publish that failed leaves no catalog folder behind
            (to_dir / LOCK).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                to_dir.rmdir()
        raise


def _publish_locked(
    conf: PublishConfig, manifest: Mapping[str, Any], to_dir: Path, digest: str, log: Log
) -> Path:
    """:func:`run` once the catalog folder exists: under the lock, after the clean-up."""
    site, run_id = manifest["site"], manifest["run_id"]
    with publisher_lock(to_dir):
        state = committed_state(to_dir)
        remove_uncommitted(to_dir, state, log)
        current = state.items.get((site, run_id))
        if current is not None and current["properties"].get("smartmine:source_sha256") == digest:
            path: Path = to_dir / "meta" / f"{state.generation:06d}" / site / run_id / "item.json"
            log(f"publish: {site}/{run_id} is published already with these products: {path}")
            prune(to_dir, state, conf.keep, log)  # (a publish killed before its pruning)
            return path
        version = (_version_of(current) if current is not None else 0) + 1
        try:
            item = _publish_version(conf, manifest, to_dir, state, version, digest, log)
        except BaseException:
            remove_uncommitted(to_dir, state, lambda _: None)  # the catalog is as it was
            raise
        prune(to_dir, committed_state(to_dir), conf.keep, log)
        return item


def _publish_version(
    conf: PublishConfig,
    manifest: Mapping[str, Any],
    to_dir: Path,
    state: Committed,
    version: int,
    digest: str,
    log: Log,
) -> Path:
    """Version ``version`` of the run's assets, the next metadata generation, then the
    commit (catalog.json renamed into place); the item's path."""
    site, run_id = manifest["site"], manifest["run_id"]
    folder = to_dir / "runs" / site / run_id / f"v{version}"
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        extras, properties = write_assets(manifest, tmp, conf, log)
        written = _file_facts(tmp)
    _verify_published(folder, written)
    href_base = f"../../../../runs/{site}/{run_id}/v{version}/"
    assets = [
        stac.AssetFile(key, href_base + FILE_NAMES[key], *written[FILE_NAMES[key]], extras[key])
        for key in sorted(extras)
    ]
    properties.update({"smartmine:version": version, "smartmine:source_sha256": digest})
    items = {key: _item_from(doc) for key, doc in state.items.items()}
    items[(site, run_id)] = stac.make_item(manifest, assets, properties)
    generation = state.generation + 1
    root_json, paths = write_generation(to_dir, generation, items)
    write_text_atomic(to_dir / CATALOG, root_json)  # the commit point
    log(f"publish: {site}/{run_id} version {version} in catalog generation {generation}")
    return paths[(site, run_id)]


def _file_facts(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and size of every file under ``folder``, by relative POSIX path."""
    return {
        path.relative_to(folder).as_posix(): (sha256_of(path), path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
