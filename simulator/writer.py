"""Run a simulation: render along the path into a ROS 2 bag, write the ground truth.

Products in the output folder (each written atomically; ``scene.json`` last, so its
presence marks a complete run):

- ``<scene>.mcap`` — the bag (topics in :data:`simulator.bag_topics.TOPICS`)
- ``trajectory_tum.txt`` — camera_color_optical_frame in ``map`` at every colour frame
- ``trajectory_base_link_tum.txt`` — base_link in ``map`` at 20 Hz (the /tf stamps)
- ``scene_mesh.ply`` — the scene in local ENU metres, a ``zone`` per face
- ``classes.tif`` — zone raster, GeoTIFF in EPSG:32644 (legend in its tags)
- ``dem.tif`` — terrain heights, GeoTIFF in EPSG:32644 (``smartmine plan ... --dem``)
- ``markers.csv`` — marker corners in the mine grid, UTM 44N and local ENU
- ``spectra.csv`` — the zones' library reflectance and the illumination at the HSI bands
- ``scene.json`` — CRS, origin, mine grid, sensor models, seeds, the effective config
  (:mod:`simulator.scene_doc`)

Same configuration and seed give byte-identical products (the bag included).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.bag_topics import (
    TOPICS,
    CameraTopics,
    GnssTopic,
    ImuTopic,
    TfTopic,
    TimeOrderedTopics,
    add_topics,
    bag_metadata,
    write_latched,
)
from simulator.config import SimConfig, validate
from simulator.dem import write_dem, write_utm_geotiff
from simulator.errors import SimulatorError
from simulator.hsi import HsiRender
from simulator.mesh import ZONES, write_ply
from simulator.render import FrameRender, Renderer
from simulator.scene import UTM_EPSG, Scene
from simulator.scene_doc import scene_doc
from simulator.sensor_model import srgb_encode
from simulator.sensors import ImuNoise
from simulator.simulation import (
    Simulation,
    build_scene,
    build_trajectory,
    frame_times_s,
    stamps_ns,
)
from simulator.threads import can_fork, in_processes, single_threaded_blas
from simulator.trajectory import read_plan
from smartmine import tum
from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.progress import progress

__all__ = [
    "PRODUCTS",
    "TOPICS",
    "SimResult",
    "build_scene",
    "build_trajectory",
    "class_raster",
    "finish_run",
    "frame_times_s",
    "marker_rows",
    "prefetch_frames",
    "resumes_unfinished",
    "run_simulation",
    "write_bag",
]

F64Array = npt.NDArray[np.float64]

PRODUCTS = (
    "trajectory_tum.txt",
    "trajectory_base_link_tum.txt",
    "scene_mesh.ply",
    "classes.tif",
    "dem.tif",
    "markers.csv",
    "spectra.csv",
    "scene.json",
)
MESH_PREVIEW_SHADE = 0.9
"""Vertex colours of the PLY: the zone's albedo at this brightness."""


def bag_name(config: SimConfig) -> str:
    return f"{config.scene}.mcap"


@dataclass
class SimResult:
    """What a run wrote."""

    out_dir: Path
    bag: Path
    counts: dict[str, int]
    frames: int
    duration_s: float
    path_length_m: float
    extras: dict[str, Any] = field(default_factory=dict)


UNFINISHED = ".sim-unfinished.json"
"""Hidden marker in OUT while a run is under way: its configuration. A run killed before
it finished leaves it (and whichever products it had completed, each written
atomically); the next run of the same configuration into OUT takes that as its own and
redoes the run (rendering is deterministic: identical products), a different one is
refused as before. Removed once the run (and its image export) is complete."""


def _config_text(config: SimConfig) -> str:
    return json.dumps(config.to_dict(), sort_keys=True, default=str)


def resumes_unfinished(out_dir: Path, config: SimConfig) -> bool:
    """Does ``out_dir`` hold the unfinished run of this very configuration?"""
    try:
        return (out_dir / UNFINISHED).read_text(encoding="utf-8") == _config_text(config)
    except OSError:
        return False


def finish_run(out_dir: Path) -> None:
    """The run in ``out_dir`` is complete: drop its :data:`UNFINISHED` marker."""
    (out_dir / UNFINISHED).unlink(missing_ok=True)


def check_output(out_dir: Path, config: SimConfig, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked to overwrite (or it is the
    unfinished run of the same configuration, see :data:`UNFINISHED`)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SimulatorError(f"--out {out_dir} exists and is not a folder")
    if overwrite or resumes_unfinished(out_dir, config):
        return
    for name in (bag_name(config), *PRODUCTS):
        if (out_dir / name).exists():
            raise SimulatorError(
                f"{out_dir / name} exists already (choose another --out, or --overwrite)"
            )


def run_simulation(
    config: SimConfig, out_dir: Path | str, *, overwrite: bool = False, finish: bool = True
) -> SimResult:
    """Simulate ``config`` into ``out_dir``; see the module doc for the products.

    ``finish=False``: more is to be written (an image export); the caller calls
    :func:`finish_run` after it."""
    validate(config)
    out = Path(out_dir)
    check_output(out, config, overwrite)
    plan = read_plan(config.plan) if config.plan else None  # fail fast on a bad plan
    sim = Simulation.prepare(config, plan)
    resuming = resumes_unfinished(out, config)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / UNFINISHED, _config_text(config))
    bag_path = out / bag_name(config)
    try:
        counts = write_bag(sim, bag_path, overwrite or resuming)
        write_ground_truth(sim, out, counts)
    except Exception:  # an error, not a kill: no run to resume
        finish_run(out)
        raise
    if finish:
        finish_run(out)
    clocks = sim.clocks
    return SimResult(
        out,
        bag_path,
        counts,
        len(clocks.frame_t),
        clocks.end_s,
        sim.trajectory.path.length,
        {"path": sim.path_info, "hsi_fallback": sim.renderer.zone_set.fallback},
    )


# --- the bag ------------------------------------------------------------------------------


def write_bag(sim: Simulation, bag_path: Path, overwrite: bool) -> dict[str, int]:
    """Render every frame into the bag with the IMU, GNSS and TF streams interleaved in
    time order (topic steps in :mod:`simulator.bag_topics`); returns messages per topic."""
    from smartmine.bagio.writer import BagWriter

    config, clocks = sim.config, sim.clocks
    timed = TimeOrderedTopics(
        [
            ImuTopic.build(config, sim.trajectory, clocks.imu_t, ImuNoise.draw(config)),
            GnssTopic.build(config, sim.scene, sim.trajectory, sim.rig, clocks.gnss_t),
            TfTopic.build(config, sim.trajectory, clocks.tf_t),
        ]
    )
    camera = CameraTopics(sim.renderer, config.depth.encoding)
    frame_ns = stamps_ns(config.start_ns, clocks.frame_t)
    with BagWriter(bag_path, overwrite=overwrite) as bag:
        add_topics(bag)
        write_latched(bag, sim.rig, sim.renderer, config.start_ns)
        rendered = prefetch_frames(sim.render_frame, len(frame_ns), workers=config.workers)
        for i in progress(
            range(len(frame_ns)), total=len(frame_ns), desc="rendering", unit="frame"
        ):
            t = int(frame_ns[i])
            timed.flush(bag, t)
            camera.write(bag, t, *next(rendered))
        timed.flush(bag, timed.last_ns())
        bag.custom_data["smartmine.sim"] = bag_metadata(config, sim.scene)
        return dict(bag.counts)


MIN_FRAMES_PER_WORKER = 4
"""Fewer frames than this per worker render in the calling process: starting a worker
(fork, its first frame's copy-on-write pages and cold caches) costs ~0.1 s of CPU."""


def prefetch_frames(
    work: Callable[[int], tuple[FrameRender, HsiRender | None]], count: int, workers: int
) -> Iterator[tuple[FrameRender, HsiRender | None]]:
    """``work(0) ... work(count - 1)`` in order; with ``workers`` > 1 (and enough frames)
    rendered ahead in forked worker processes (:func:`simulator.threads.in_processes`;
    threads where the platform cannot fork). Every frame draws from its own seeded
    stream, so the results do not depend on the number of workers.

    OpenBLAS stays on one thread for the whole run: with a limit per render call only,
    it lapsed between calls and 2 thread workers burnt 1.8× the CPU per frame of 1 thread
    (NOTES-simspeed3.md).
    """
    with single_threaded_blas():
        if workers <= 1 or count < MIN_FRAMES_PER_WORKER * workers:
            for i in range(count):
                yield work(i)
        elif can_fork():
            yield from in_processes(work, count, workers)
        else:
            yield from _in_threads(work, count, workers)


def _in_threads(
    work: Callable[[int], tuple[FrameRender, HsiRender | None]], count: int, workers: int
) -> Iterator[tuple[FrameRender, HsiRender | None]]:
    """The fallback: threads overlap only what runs outside the GIL (not the casts)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[tuple[FrameRender, HsiRender | None]]] = []
        submitted = 0
        for _ in range(count):
            while submitted < count and len(pending) < workers:
                pending.append(pool.submit(work, submitted))
                submitted += 1
            yield pending.pop(0).result()


# --- ground-truth files ---------------------------------------------------------------------


def write_ground_truth(sim: Simulation, out: Path, counts: dict[str, int]) -> None:
    """Every product beside the bag; scene.json last (its presence marks a complete run)."""
    from smartmine import __version__

    write_camera_trajectory(sim, out / "trajectory_tum.txt")
    write_base_trajectory(sim, out / "trajectory_base_link_tum.txt")
    _write_mesh(sim.scene, sim.renderer, out / "scene_mesh.ply")
    raster_info = _write_classes(sim.scene, out / "classes.tif")
    dem_info = write_dem(sim.scene, out / "dem.tif")
    _write_markers(sim.scene, out / "markers.csv")
    _write_spectra(sim.renderer, out / "spectra.csv")
    doc = scene_doc(sim, counts, raster_info, bag_name(sim.config), __version__)
    doc["products"]["dem.tif"] = dem_info
    write_text_atomic(out / "scene.json", json.dumps(doc, indent=2) + "\n")


def _write_tum(path: Path, what: str, stamps: npt.NDArray[np.int64], poses: F64Array) -> None:
    """Exact nanosecond stamps; positions and quaternions with 9 decimals."""
    from smartmine.geometry import matrix_to_quat

    tum.write_tum(
        path,
        [tum.format_stamp_ns(int(s)) for s in stamps],
        poses[:, :3, 3],
        matrix_to_quat(poses[:, :3, :3]),
        comment=f"{what} in map (local ENU metres, see scene.json); {tum.HEADER}",
    )


def write_camera_trajectory(sim: Simulation, path: Path) -> None:
    """camera_color_optical_frame in map at every colour frame (TUM)."""
    t = sim.clocks.frame_t
    poses = sim.trajectory.matrices(t) @ sim.rig.base_from_optical
    _write_tum(path, "camera_color_optical_frame", stamps_ns(sim.config.start_ns, t), poses)


def write_base_trajectory(sim: Simulation, path: Path) -> None:
    """base_link in map at the /tf stamps (TUM)."""
    t = sim.clocks.tf_t
    poses = sim.trajectory.matrices(t)
    _write_tum(path, "base_link", stamps_ns(sim.config.start_ns, t), poses)


def _write_mesh(scene: Scene, renderer: Renderer, path: Path) -> None:
    mesh = scene.mesh
    vertex_zone = np.zeros(len(mesh.vertices), dtype=np.int64)
    vertex_zone[mesh.triangles.ravel()] = np.repeat(mesh.face_zone, 3)
    rgb = srgb_encode(renderer.zone_rgb[vertex_zone] * MESH_PREVIEW_SHADE)
    colours = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    comments = (
        f"smartmine simulator scene {scene.kind}: local ENU metres at lat {scene.origin.lat_deg} "
        f"lon {scene.origin.lon_deg} alt {scene.origin.alt_m} (WGS84 ellipsoidal)",
        "face property zone: see scene.json zones",
    )
    with atomic_path(path, overwrite=True) as tmp:
        write_ply(mesh, tmp, colours, comments)


def _raster_grid(scene: Scene) -> tuple[F64Array, F64Array, float, float, float]:
    """UTM cell-centre grids covering the scene's raster bounds; origin and resolution."""
    x0, x1, y0, y1 = scene.raster_bounds_enu
    corners_x = np.array([x0, x1, x1, x0])
    corners_y = np.array([y0, y0, y1, y1])
    e, n, _ = scene.origin.to_projected(corners_x, corners_y, np.zeros(4), UTM_EPSG)
    res = scene.raster_res_m
    west = math.floor(float(e.min()) / res) * res
    north = math.ceil(float(n.max()) / res) * res
    cols = math.ceil((float(e.max()) - west) / res)
    rows = math.ceil((north - float(n.min())) / res)
    east_c = west + (np.arange(cols) + 0.5) * res
    north_c = north - (np.arange(rows) + 0.5) * res
    ee, nn = np.meshgrid(east_c, north_c)
    return ee, nn, west, north, res


def class_raster(scene: Scene) -> tuple[npt.NDArray[np.uint8], tuple[float, float, float]]:
    """Zone ids on a UTM 44N grid, seen vertically (pit: from above; drift floor: from
    below); 0 where no surface. Returns the raster and (west, north, resolution)."""
    ee, nn, west, north, res = _raster_grid(scene)
    x, y, _ = scene.origin.from_projected(ee, nn, np.full(ee.shape, scene.origin.alt_m), UTM_EPSG)
    if scene.raster_look == "down":
        z_from = 5000.0
    else:
        z_from = float(scene.terrain.vertices[:, 2].min()) - 5.0
    hits = scene.vertical_hits(x, y, z_from, scene.raster_look)
    hit = np.isfinite(hits["t_hit"])
    zones = np.zeros(x.size, dtype=np.uint8)
    zones[hit] = scene.zones_at(hits["primitive_ids"][hit], hits["primitive_uvs"][hit])
    return zones.reshape(x.shape), (west, north, res)


def _write_classes(scene: Scene, path: Path) -> dict[str, Any]:
    raster, (west, north, res) = class_raster(scene)
    legend = {str(z.id): z.name for z in ZONES}
    write_utm_geotiff(
        path,
        raster,
        (west, north, res),
        0,
        {
            "zones": json.dumps(legend),
            "view": "from above" if scene.raster_look == "down" else "floor, from below",
            "scene": scene.kind,
        },
        "zone id (see tag 'zones')",
    )
    counts = np.bincount(raster.ravel(), minlength=len(ZONES))
    return {
        "shape": list(raster.shape),
        "resolution_m": res,
        "west_m": west,
        "north_m": north,
        "cells_per_zone": {ZONES[i].name: int(c) for i, c in enumerate(counts) if c},
    }


def marker_rows(scene: Scene) -> list[dict[str, Any]]:
    """Every marker corner in local ENU, UTM 44N and the mine grid."""
    rows = []
    for m in scene.markers:
        c = m.corners()
        e, n, h = scene.origin.to_projected(c[:, 0], c[:, 1], c[:, 2], UTM_EPSG)
        gx, gy, gz = scene.mine_grid.to_grid(e, n, h)
        for k in range(4):
            rows.append(
                {
                    "marker_id": m.marker_id,
                    "corner": k,
                    "grid_x_m": float(gx[k]),
                    "grid_y_m": float(gy[k]),
                    "grid_z_m": float(gz[k]),
                    "easting_m": float(e[k]),
                    "northing_m": float(n[k]),
                    "height_m": float(h[k]),
                    "east_m": float(c[k, 0]),
                    "north_m": float(c[k, 1]),
                    "up_m": float(c[k, 2]),
                }
            )
    return rows


def _write_markers(scene: Scene, path: Path) -> None:
    rows = marker_rows(scene)
    header = (
        "marker_id,corner,grid_x_m,grid_y_m,grid_z_m,easting_m,northing_m,height_m,"
        "east_m,north_m,up_m"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"{r['marker_id']},{r['corner']},"
            + ",".join(f"{r[k]:.4f}" for k in header.split(",")[2:])
        )
    write_text_atomic(path, "\n".join(lines) + "\n")


def _write_spectra(renderer: Renderer, path: Path) -> None:
    names = [z.name for z in ZONES if z.spectrum is not None]
    ids = [z.id for z in ZONES if z.spectrum is not None]
    lamp = renderer.lamp_irradiance  # the drift's fixed lamps: their spectrum, last
    lines = ["wavelength_nm,irradiance_rel," + ",".join(names)]
    if lamp is not None:
        lines[0] += ",lamp_irradiance_rel"
    for b, wl in enumerate(renderer.wavelengths_nm):
        vals = [renderer.irradiance[b], *renderer.zone_refl[ids, b]]
        if lamp is not None:
            vals.append(lamp[b])
        lines.append(f"{wl:.2f}," + ",".join(f"{v:.6f}" for v in vals))
    write_text_atomic(path, "\n".join(lines) + "\n")
