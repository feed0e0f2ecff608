"""The STAC objects of a published twin (pystac) and their validation with no network.

pystac validates against JSON schemas that it fetches over HTTP, except the core STAC
1.1.0 and GeoJSON schemas its wheel ships. The mine has no internet, and neither has CI,
so :class:`OfflineValidator` resolves every schema from files: the core ones from pystac's
wheel, the three extensions this catalog uses (projection, file, classification) from
``twin/schemas/`` (smartmine's checks of those extensions' fields, shipped in the
package). A schema that is not there is an error naming it, never a download.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Final

import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.file import FileExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.validation.stac_validator import GetSchemaError, JsonSchemaSTACValidator

from smartmine.errors import SmartmineError

COG: Final = "image/tiff; application=geotiff; profile=cloud-optimized"
MEDIA_TYPES: Final = {
    "orthophoto": COG,
    "dsm": COG,
    "class_map": COG,
    "heat_map": COG,
    "cloud": "application/vnd.laszip",
    "copc": "application/vnd.laszip+copc",
    "mesh": "model/gltf-binary",
    "tileset": "application/json",
    "trajectory": "text/plain",
    "report": "text/html",
    "report_json": "application/json",
}
"""Asset key -> media type (docs/notes/issue-18-contract.md)."""
ROLES: Final = {
    "orthophoto": ["visual", "data"],
    "dsm": ["data", "elevation"],
    "class_map": ["data", "classification"],
    "heat_map": ["data", "contamination"],
    "cloud": ["data", "point-cloud"],
    "copc": ["data", "point-cloud", "streaming"],
    "mesh": ["data", "mesh"],
    "tileset": ["data", "3d-tiles", "streaming"],
    "trajectory": ["metadata", "trajectory"],
    "report": ["metadata", "report"],
    "report_json": ["metadata", "report"],
}
TITLES: Final = {
    "orthophoto": "Orthophoto (COG)",
    "dsm": "Digital surface model (COG, metres)",
    "class_map": "Mineral class map (COG)",
    "heat_map": "Contamination heat map (COG)",
    "cloud": "Point cloud (LAZ)",
    "copc": "Point cloud (COPC, streaming)",
    "mesh": "Mesh (glTF binary)",
    "tileset": "Mesh (3D Tiles 1.1 tileset)",
    "trajectory": "Trajectory (TUM)",
    "report": "Processing report (HTML)",
    "report_json": "Processing report (JSON)",
}
LICENSE: Final = "proprietary"
SHA2_256_MULTIHASH: Final = "1220"
"""Multihash prefix of a sha2-256 digest (code 0x12, length 0x20), as file:checksum wants."""
_SCHEMA_FILES: Final = {
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": "projection-v2.0.0.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json": "file-v2.1.0.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json": (
        "classification-v2.0.0.json"
    ),
}


class StacError(SmartmineError):
    """A STAC object fails its schema, or names a schema this install does not ship."""


class OfflineValidator(JsonSchemaSTACValidator):
    """pystac's JSON-schema validator with every schema from local files (module doc)."""

    def __init__(self) -> None:
        super().__init__()
        folder = resources.files("twin") / "schemas"
        for uri, name in _SCHEMA_FILES.items():
            self.schema_cache[uri] = json.loads(folder.joinpath(name).read_text("utf-8"))

    def _get_schema(self, schema_uri: str) -> dict[str, Any]:
        if schema_uri not in self.schema_cache:
            raise GetSchemaError(
                schema_uri, LookupError("not shipped with smartmine, and never downloaded")
            )
        return self.schema_cache[schema_uri]


_VALIDATOR: OfflineValidator | None = None


def validator() -> OfflineValidator:
    """The one offline validator of this process (its schemas parsed once)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = OfflineValidator()
    return _VALIDATOR


def validate(doc: Mapping[str, Any], where: str) -> None:
    """Validate one STAC JSON document (core + its extensions) offline."""
    from pystac.validation import validate_dict

    try:
        validate_dict(dict(doc), validator=validator(), href=where)
    except pystac.STACValidationError as err:
        first = str(err).splitlines()
        detail = first[-1] if len(first) > 1 else first[0]
        raise StacError(f"{where}: STAC validation failed: {detail}") from None
    except GetSchemaError as err:
        raise StacError(f"{where}: {err}") from None


def multihash_sha256(hex_digest: str) -> str:
    """``file:checksum`` of a sha2-256 hex digest."""
    return SHA2_256_MULTIHASH + hex_digest


@dataclass(frozen=True)
class AssetFile:
    """One published file of a run: its key, href (relative to the item JSON), digest,
    size and extra fields (projection of a raster, classes of a class map)."""

    key: str
    href: str
    sha256: str
    size: int
    extra: Mapping[str, Any]


def iso_utc(ns: int) -> datetime:
    """A data time in ns since the epoch, as a UTC datetime (microseconds)."""
    return datetime.fromtimestamp(ns // 1000 / 1e6, tz=UTC)


def make_item(run: Mapping[str, Any], assets: Sequence[AssetFile], extra: Mapping[str, Any]) -> Any:
    """The Item of one run (``run``: its run.json) with its assets and properties."""
    start, end = iso_utc(int(run["start_ns"])), iso_utc(int(run["end_ns"]))
    item = pystac.Item(
        id=run["run_id"],
        geometry=run["footprint_wgs84"],
        bbox=[float(v) for v in run["bbox_wgs84"]],
        datetime=start if start == end else None,
        start_datetime=None if start == end else start,
        end_datetime=None if start == end else end,
        properties={},
    )
    properties = item.properties
    properties["smartmine:kind"] = run["kind"]
    properties["smartmine:status"] = run["status"]
    properties["smartmine:warnings"] = list(run.get("warnings") or [])
    properties["smartmine:classes"] = list(run.get("classes") or [])
    properties["smartmine:accuracy"] = dict(run.get("accuracy") or {})
    properties["smartmine:input_sha256"] = run["input"]["sha256"]
    properties["smartmine:software"] = dict(run["software"])
    properties["smartmine:parameters"] = dict(run.get("parameters") or {})
    properties.update(extra)
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    projection.code = run["crs"]
    if run.get("mine_grid") is not None:
        properties["smartmine:mine_grid"] = run["mine_grid"]
    FileExtension.add_to(item)
    for asset_file in assets:
        _add_asset(item, asset_file, run)
    return item


def _add_asset(item: Any, asset_file: AssetFile, run: Mapping[str, Any]) -> None:
    asset = pystac.Asset(
        href=asset_file.href,
        media_type=MEDIA_TYPES[asset_file.key],
        roles=ROLES[asset_file.key],
        title=TITLES[asset_file.key],
        extra_fields=dict(asset_file.extra),
    )
    item.add_asset(asset_file.key, asset)
    info = FileExtension.ext(asset, add_if_missing=False)
    info.checksum = multihash_sha256(asset_file.sha256)
    info.size = asset_file.size
    if asset_file.key == "class_map" and run.get("classes"):
        ClassificationExtension.ext(item, add_if_missing=True)
        ClassificationExtension.ext(asset).classes = [_class(c) for c in run["classes"]]


def _class(entry: Mapping[str, Any]) -> Any:
    """A run.json class as a classification:classes entry (names made machine-safe)."""
    name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(entry["name"]))
    return Classification.create(
        value=int(entry["value"]),
        name=name,
        title=str(entry["name"]),
        description=("contamination" if entry.get("contamination") else "mineral class"),
        color_hint=str(entry.get("colour", "#808080")).lstrip("#").upper() or None,
    )


def make_collection(site: str, items: Sequence[Any]) -> Any:
    """The Collection of one site, its extent the union of its items'."""
    boxes = [i.bbox for i in items]
    bbox = [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]
    times = [t for i in items for t in _times(i)]
    extent = pystac.Extent(
        pystac.SpatialExtent([bbox]), pystac.TemporalExtent([[min(times), max(times)]])
    )
    collection = pystac.Collection(
        id=site,
        description=f"Survey runs of {site}: clouds, meshes, rasters and reports.",
        extent=extent,
        license=LICENSE,
        title=site,
    )
    for item in sorted(items, key=lambda i: i.id):
        collection.add_item(item)
    return collection


def _times(item: Any) -> list[datetime]:
    if item.datetime is not None:
        return [item.datetime]
    return [item.common_metadata.start_datetime, item.common_metadata.end_datetime]


def make_catalog(collections: Sequence[Any]) -> Any:
    """The root Catalog: one child Collection per site (sorted, so the bytes are stable)."""
    catalog = pystac.Catalog(
        id="smartmine",
        description="smartmine digital twin: every published survey run, by site.",
        title="smartmine twin",
        catalog_type=pystac.CatalogType.SELF_CONTAINED,
    )
    for collection in sorted(collections, key=lambda c: c.id):
        catalog.add_child(collection)
    return catalog


def to_json(stac_object: Any) -> str:
    """The object's JSON as saved (relative links, no self link, sorted nothing: pystac's
    own order), with a final newline."""
    doc = stac_object.to_dict(include_self_link=False, transform_hrefs=True)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def read_json(path: Path) -> dict[str, Any]:
    """A STAC JSON file of a published tree."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc
