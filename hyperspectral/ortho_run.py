"""``smartmine hsi ortho``: classify every hyperspectral frame (or push-broom line) of a
bag and orthorectify the results onto a DEM (hloc-style ``run(conf, inputs, out_dir)``).

Inputs: the bag (``/hyperspectral/image_raw`` frames or lines, their
``/hyperspectral/camera_info``, latched ``/hyperspectral/wavelengths``, and ``/tf`` +
``/tf_static`` unless a TUM file of the camera's poses is given), the DEM GeoTIFF, and
where the poses' world frame is: the DEM's CRS, or a local ENU plane at a WGS84 origin
(``LAT,LON,ALT`` or a ``scene.json`` with an ``origin``). Writes into ``out_dir``:

- ``class_map.tif``: classes on the DEM grid (Cloud-Optimized GeoTIFF, the DEM's CRS;
  0 = unclassified, 255 (or 65535) = not seen, the nodata value), ``class_map.png``
- ``heat_map.tif``: contamination index 0–1 (NaN = not seen), ``heat_map.png``; left out
  (with a warning in the report) when no class of the library has a contamination weight
- ``similarity.tif``: similarity 0–1 of the mapped class; ``views.tif``: frames that saw
  each cell
- ``report.json`` / ``report.html``: per-class area in m², extent of the seen cells,
  frames used; with ``reference`` (a zone raster such as the simulator's
  ``classes.tif``) the accuracy per reference zone in map coordinates
- ``config.json``
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.calibrate import continuum_removed
from hyperspectral.classify import confidence
from hyperspectral.contamination import weights_for
from hyperspectral.cube import HSI_TOPIC, WAVELENGTH_TOPIC, Cube, check_wavelengths
from hyperspectral.errors import HyperspectralError
from hyperspectral.ortho import (
    NOT_SEEN,
    Dem,
    OrthoConfig,
    OrthoFrame,
    Orthorectifier,
    read_dem,
)
from hyperspectral.outputs import write_hsi_report
from hyperspectral.pipeline import (
    ClassifyConfig,
    build_classifier,
    contamination_index,
    irradiance_divisor,
)
from hyperspectral.poses import PoseSource
from smartmine.atomic import write_text_atomic
from smartmine.geodesy import LocalEnu
from smartmine.progress import progress

CAMERA_INFO_TOPIC = "/hyperspectral/camera_info"


@dataclass
class OrthoRunConfig:
    """What ``smartmine hsi ortho`` does (saved as config.json beside the result)."""

    dem: str
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    poses: str = ""
    """TUM file of the hyperspectral optical frame's poses; empty = the bag's TF."""
    origin: str = ""
    """``LAT,LON,ALT`` or a scene.json: poses are local ENU there; empty = the DEM's CRS."""
    camera: str = ""
    """Camera YAML (calibration) for frames without camera_info; empty = camera_info."""
    merge: str = "best_view"
    max_incidence_deg: float = 80.0
    cell_m: float | None = None
    """Map cell size (m): the DEM resampled to it; None = the DEM's own grid."""
    reference: str = ""
    """Zone raster with a ``zones`` tag (``{"id": "name"}``, e.g. the simulator's
    classes.tif): accuracy per zone in map coordinates."""
    reference_margin_m: float = 2.0
    """Reference cells scored only when every cell within this distance (a square) has
    the same zone: zone borders are mixed pixels, and frame pixels (~1.6 m in the
    simulator) are larger than the map's cells."""


def parse_origin(text: str) -> LocalEnu | None:
    """``LAT,LON,ALT`` or a JSON file with ``origin: {lat_deg, lon_deg, alt_m}``."""
    from smartmine.errors import GeodesyError

    if not text:
        return None
    path = Path(text)
    if path.suffix.lower() == ".json" or path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            o = doc["origin"]
            return LocalEnu(float(o["lat_deg"]), float(o["lon_deg"]), float(o["alt_m"]))
        except (OSError, ValueError, KeyError, TypeError, GeodesyError) as err:
            raise HyperspectralError(
                f"--origin {path}: no valid origin {{lat_deg, lon_deg, alt_m}} ({err})"
            ) from None
    try:
        lat, lon, alt = (float(v) for v in text.split(","))
        return LocalEnu(lat, lon, alt)
    except (ValueError, GeodesyError) as err:
        raise HyperspectralError(
            f"--origin {text!r}: want LAT,LON,ALT (finite, |LAT| <= 90) or a scene.json ({err})"
        ) from None


def check_ortho_config(config: OrthoRunConfig) -> None:
    """The numeric options in range, before any work."""
    if not (math.isfinite(config.max_incidence_deg) and 0 < config.max_incidence_deg <= 90):
        raise HyperspectralError(
            f"--max-incidence-deg {config.max_incidence_deg}: want 0 < angle <= 90"
        )
    if config.cell_m is not None and not (math.isfinite(config.cell_m) and config.cell_m > 0):
        raise HyperspectralError(f"--cell-m {config.cell_m}: want a size > 0 m")
    if config.reference:
        check_reference(Path(config.reference))


def check_reference(path: Path) -> None:
    """``--reference`` opens as a raster with a ``zones`` tag naming its zone ids."""
    import rasterio
    from rasterio.errors import RasterioError

    if not path.is_file():
        raise HyperspectralError(f"--reference {path}: no such file")
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
    except RasterioError as err:
        raise HyperspectralError(f"--reference {path}: not a raster ({err})") from None
    try:
        zones = json.loads(tags["zones"])
        {int(k): str(v) for k, v in zones.items()}
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise HyperspectralError(
            f"--reference {path}: no 'zones' tag naming the zone ids ({err})"
        ) from None


@dataclass
class _Image:
    stamp_ns: int
    frame_id: str
    cube: npt.NDArray[np.float32]
    camera: Any


def _bag_images(path: Path, camera_yaml: str) -> tuple[Iterator[_Image], int, Any]:
    """Frames/lines of the bag with their camera models; (iterator, count, wavelengths)."""
    from calibration.camera_model import CameraModel, load_camera_model
    from smartmine.bagio.reader import BagReader
    from smartmine.msgs import camera_info_to_intrinsics, header_frame_id, header_stamp_ns
    from smartmine.msgs.image import image_to_numpy

    fallback = load_camera_model(camera_yaml) if camera_yaml else None
    infos: dict[int, Any] = {}
    wavelengths = None
    with BagReader(path) as reader:
        reader.require_topics([HSI_TOPIC])
        count = reader.topics[HSI_TOPIC].count
        extra = [t for t in (CAMERA_INFO_TOPIC, WAVELENGTH_TOPIC) if t in reader.topics]
        for message in reader.messages(topics=extra):
            if message.topic == WAVELENGTH_TOPIC:
                wavelengths = np.asarray(message.message.data, dtype=np.float64)
            else:
                infos[header_stamp_ns(message.message)] = message.message
    if wavelengths is None:
        raise HyperspectralError(f"{path}: no {WAVELENGTH_TOPIC} (band centres)")
    wavelengths = check_wavelengths(wavelengths, f"{path}: {WAVELENGTH_TOPIC}")

    def images() -> Iterator[_Image]:
        with BagReader(path) as reader:
            for message in reader.messages(topics=[HSI_TOPIC]):
                msg = message.message
                stamp = header_stamp_ns(msg)
                cube = np.asarray(image_to_numpy(msg), dtype=np.float32)
                if cube.ndim == 2:
                    cube = cube[..., None]
                if cube.shape[2] != len(wavelengths):
                    raise HyperspectralError(
                        f"{path}: {HSI_TOPIC} at {stamp} ns has {cube.shape[2]} bands, "
                        f"{WAVELENGTH_TOPIC} {len(wavelengths)} band centres"
                    )
                info = infos.get(stamp)
                if info is not None:
                    camera = CameraModel(camera_info_to_intrinsics(info))
                elif fallback is not None:
                    camera = fallback
                else:
                    raise HyperspectralError(
                        f"{path}: {HSI_TOPIC} at {stamp} ns has no {CAMERA_INFO_TOPIC} with "
                        "its stamp (give --camera CAMERA.yaml)"
                    )
                yield _Image(stamp, header_frame_id(msg), cube, camera)

    return images(), count, wavelengths


def run(
    config: OrthoRunConfig, bag: Path | str, out_dir: Path | str, overwrite: bool = False
) -> Path:
    """Classify and orthorectify every frame of ``bag`` into ``out_dir``."""
    from hyperspectral.outputs import check_output_folder, products_folder
    from hyperspectral.pipeline import check_classify_config

    out = Path(out_dir)
    check_output_folder(out, overwrite)
    started = time.perf_counter()
    bag = Path(bag)
    check_ortho_config(config)
    check_classify_config(config.classify)
    dem = read_dem(config.dem, config.cell_m)
    origin = parse_origin(config.origin)
    if config.poses:
        poses = PoseSource.from_tum(config.poses, "--poses")
    else:
        poses = PoseSource.from_bag(bag)
    images, count, wavelengths = _bag_images(bag, config.camera)
    probe = Cube(np.zeros((1, 1, len(wavelengths)), np.float32), wavelengths, source=str(bag))
    classifier = build_classifier(config.classify, probe)
    weights, contamination = weights_for(classifier.classes, config.classify.contamination)
    divisor = irradiance_divisor(config.classify, wavelengths)
    ortho = Orthorectifier(
        dem,
        origin,
        OrthoConfig(config.merge, config.max_incidence_deg),  # type: ignore[arg-type]
    )
    frames = 0
    no_pose: list[str] = []
    for image in progress(images, total=count, desc="orthorectify", unit="frame"):
        frames += 1
        try:
            pose = poses.world_from(image.frame_id, [image.stamp_ns])[0]
        except HyperspectralError as err:  # e.g. a line exposed after the last pose
            no_pose.append(str(err))
            continue
        valid = probe.valid_mask(image.cube)
        block = image.cube / divisor if divisor is not None else image.cube
        if config.classify.continuum_removal:
            block = continuum_removed(block, wavelengths)
        tile = classifier.classify_block(np.asarray(block, np.float32), valid)
        similarity = confidence(tile.best_score, config.classify.method)
        heat = contamination_index(tile.labels, similarity, weights)
        heat[np.isnan(tile.best_score)] = np.nan
        ortho.add(OrthoFrame(image.stamp_ns, image.camera, pose, tile.labels, heat, similarity))
    if frames == 0:
        raise HyperspectralError(f"{bag}: no {HSI_TOPIC} messages")
    if len(no_pose) == frames:
        raise HyperspectralError(no_pose[0])
    names = list(classifier.classes)
    with products_folder(out, overwrite) as tmp:
        report = write_products(ortho, names, tmp, heat=contamination.mapped)
        contamination.add_to_report(report)
        report.update(
            {
                "bag": str(bag),
                "dem": dem.source,
                "poses": poses.source,
                "pose_frame": f"local ENU at {origin}" if origin else f"EPSG:{dem.georef.epsg}",
                "frames": frames,
                "frames_used": ortho.frames_used,
                "frames_without_pose": len(no_pose),
                "library": classifier.library.source,
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
        tables = [contamination.table()]
        if config.reference:
            zones, table = zone_accuracy(
                ortho, names, Path(config.reference), config.reference_margin_m
            )
            report["reference_zones"] = zones
            tables.append(table)
        write_text_atomic(tmp / "config.json", json.dumps(asdict(config), indent=2) + "\n")
        write_hsi_report(
            tmp, "Orthorectified hyperspectral classification", report, asdict(config), tables
        )
    return out


def write_products(
    ortho: Orthorectifier, names: list[str], out: Path, heat: bool = True
) -> dict[str, Any]:
    """The GeoTIFFs and previews; returns the report's summary (classes with m²).
    ``heat``: write the heat map (False: no class has a contamination weight)."""
    from hyperspectral import outputs

    out.mkdir(parents=True, exist_ok=True)
    georef = ortho.dem.georef
    labels16 = ortho.grid(ortho.labels, NOT_SEEN)
    small = len(names) < 255
    nodata = 255 if small else NOT_SEEN
    labels = np.where(labels16 == NOT_SEEN, nodata, labels16).astype(
        np.uint8 if small else np.uint16
    )
    colours = outputs.class_colours(len(names))
    if small:
        colours = np.vstack([colours, np.zeros((255 - len(colours) + 1, 3), np.uint8)])
    outputs.write_geotiff(
        out / "class_map.tif", labels, georef, nodata=nodata, colormap=colours if small else None
    )
    if heat:
        heat_grid = ortho.grid(ortho.heat, np.nan)
        outputs.write_geotiff(
            out / "heat_map.tif",
            heat_grid,
            georef,
            nodata=float("nan"),
            band_names=["contamination_index"],
        )
        outputs.heat_map_png(out / "heat_map.png", heat_grid, "contamination index 0-1")
    outputs.write_geotiff(
        out / "similarity.tif",
        ortho.grid(ortho.similarity, np.nan),
        georef,
        nodata=float("nan"),
        band_names=["similarity"],
    )
    outputs.write_geotiff(
        out / "views.tif", ortho.grid(ortho.views, 0), georef, band_names=["frames_seeing_cell"]
    )
    seen = labels16 != NOT_SEEN
    outputs.class_map_png(
        out / "class_map.png",
        np.where(seen, labels16, 0).astype(np.uint16),
        names,
        "orthorectified",
    )
    counts = np.bincount(labels16[seen].astype(np.int64), minlength=len(names) + 1)
    area = georef.pixel_area_m2
    classes = [
        {
            "label": i,
            "name": n,
            "pixels": int(counts[i]),
            "area_m2": round(float(counts[i]) * area, 3),
        }
        for i, n in enumerate(["unclassified", *names])
    ]
    extent = ortho.seen_extent()
    return {
        "lines": int(labels.shape[0]),
        "samples": int(labels.shape[1]),
        "crs": f"EPSG:{georef.epsg}",
        "georeferenced": True,
        "coordinates": f"map (EPSG:{georef.epsg}), the DEM's grid",
        "pixel_area_m2": area,
        "classes": classes,
        "cells_seen": int(seen.sum()),
        "area_seen_m2": round(float(seen.sum()) * area, 3),
        "extent_seen_wsen": None if extent is None else [round(v, 3) for v in extent],
        "heat_mean": _heat_mean(heat_grid) if heat else None,
    }


def _heat_mean(heat: npt.NDArray[np.float32]) -> float | None:
    return round(float(np.nanmean(heat)), 5) if np.isfinite(heat).any() else None


def reference_zones(
    path: Path, dem: Dem
) -> tuple[npt.NDArray[np.int64], dict[int, str], npt.NDArray[np.bool_]]:
    """The reference zone at every DEM cell centre (nearest reference cell), the zone
    names from the raster's ``zones`` tag, and whether the 2×2 reference cells around
    the centre agree (the reference may be finer than the DEM)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            zones = src.read(1).astype(np.int64)
            tags = src.tags()
            inverse = ~src.transform
            same_crs = src.crs is not None and src.crs.to_epsg() == dem.georef.epsg
    except RasterioIOError as err:
        raise HyperspectralError(f"{path}: cannot read the reference ({err})") from None
    if not same_crs:
        raise HyperspectralError(
            f"{path}: the reference is not in the DEM's EPSG:{dem.georef.epsg}"
        )
    try:
        names = {int(k): str(v) for k, v in json.loads(tags["zones"]).items()}
    except (KeyError, ValueError) as err:
        raise HyperspectralError(f"{path}: no 'zones' tag naming the zone ids ({err})") from None
    east, north = dem.cell_centres()
    quarter = 0.25 * dem.cell_size_m
    samples = []
    for dx, dy in (
        (-quarter, -quarter),
        (quarter, -quarter),
        (-quarter, quarter),
        (quarter, quarter),
    ):
        x, y = east + dx, north + dy
        col = inverse.a * x + inverse.b * y + inverse.c
        row = inverse.d * x + inverse.e * y + inverse.f
        col = np.floor(col).astype(np.int64)
        row = np.floor(row).astype(np.int64)
        inside = (row >= 0) & (row < zones.shape[0]) & (col >= 0) & (col < zones.shape[1])
        value = np.full(east.shape, -1, np.int64)
        value[inside] = zones[row[inside], col[inside]]
        samples.append(value)
    stack = np.stack(samples)
    agree = (stack == stack[0]).all(axis=0) & (stack[0] >= 0)
    return stack[0], names, agree


def zone_accuracy(
    ortho: Orthorectifier, names: list[str], reference: Path, margin_m: float
) -> tuple[dict[str, dict[str, Any]], Any]:
    """Per reference zone: cells seen, cells whose class is the zone's material (or one
    of its measured stand-in's minerals, ``library.MEASURED_STAND_INS``), accuracy."""
    return zone_accuracy_of_labels(
        ortho.grid(ortho.labels, NOT_SEEN), ortho.dem, names, reference, margin_m
    )


def zone_accuracy_of_labels(
    labels: npt.NDArray[Any], dem: Dem, names: list[str], reference: Path, margin_m: float
) -> tuple[dict[str, dict[str, Any]], Any]:
    """:func:`zone_accuracy` of a class grid on ``dem``'s grid (``NOT_SEEN`` = not seen,
    0 = unclassified, i = ``names[i - 1]``): also scores a finished ``class_map.tif``
    read back, so a score taken later equals the one ``hsi ortho --reference`` reports."""
    from scipy.ndimage import maximum_filter, minimum_filter

    from hyperspectral.library import MEASURED_STAND_INS
    from smartmine.report import Table

    zone, zone_names, agree = reference_zones(reference, dem)
    size = 2 * math.ceil(margin_m / dem.cell_size_m - 1e-9) + 1
    pure = agree & (maximum_filter(zone, size) == minimum_filter(zone, size))
    pure &= minimum_filter(agree.astype(np.uint8), size).astype(bool)
    seen = labels != NOT_SEEN
    ours = np.array(["unclassified", *names, "not seen"], dtype=object)
    label_idx = np.where(seen, labels, len(names) + 1).astype(np.int64)
    result: dict[str, dict[str, Any]] = {}
    rows = []
    for zid, zname in sorted(zone_names.items()):
        accept = set(MEASURED_STAND_INS.get(zname, {zname: 1.0}))
        if not accept & set(names):
            continue
        cells = pure & seen & (zone == zid)
        total = int(cells.sum())
        if total == 0:
            continue
        hits = int(np.isin(ours[label_idx[cells]], list(accept)).sum())
        accuracy = hits / total
        result[zname] = {"cells": total, "correct": hits, "accuracy": round(accuracy, 4)}
        rows.append([zname, ", ".join(sorted(accept)), total, hits, round(accuracy, 4)])
    columns = ["reference zone", "accepted classes", "cells (pure, seen)", "correct", "accuracy"]
    return result, Table("accuracy per reference zone (map coordinates)", columns, rows)
