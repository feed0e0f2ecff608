"""Run a simulation: render along the path into a ROS 2 bag, write the ground truth.

Products in the output folder (each written atomically; ``scene.json`` last, so its
presence marks a complete run):

- ``<scene>.mcap`` — the bag (topics in :data:`TOPICS`)
- ``trajectory_tum.txt`` — camera_color_optical_frame in ``map`` at every colour frame
- ``trajectory_base_link_tum.txt`` — base_link in ``map`` at 20 Hz (the /tf stamps)
- ``scene_mesh.ply`` — the scene in local ENU metres, a ``zone`` per face
- ``classes.tif`` — zone raster, GeoTIFF in EPSG:32644 (legend in its tags)
- ``markers.csv`` — marker corners in the mine grid, UTM 44N and local ENU
- ``spectra.csv`` — the zones' library reflectance and the illumination at the HSI bands
- ``scene.json`` — CRS, origin, mine grid, sensor models, seeds, the effective config

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

from simulator.config import SimConfig, validate
from simulator.errors import SimulatorError
from simulator.hsi import HSI_CONVENTION, HsiRender
from simulator.mesh import ZONES, write_ply, zone_legend
from simulator.render import FrameRender, Renderer, srgb_encode
from simulator.scene import UTM_EPSG, Scene
from simulator.sensors import (
    BASE,
    COLOR_OPTICAL,
    GNSS_FRAME,
    HSI_OPTICAL,
    IMU_FRAME,
    MAP,
    ImuNoise,
    Rig,
    gnss_fixes,
)
from simulator.trajectory import (
    MissionPlan,
    Trajectory,
    check_clearance,
    plan_waypoints_enu,
    read_plan,
)
from simulator.trajectory import Path as FlightPath
from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.progress import progress

F64Array = npt.NDArray[np.float64]

TF_RATE_HZ = 20.0
TOPICS: dict[str, tuple[str, str]] = {
    "/camera/color/image_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/camera/color/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/camera/depth/image_rect_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/camera/depth/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/hyperspectral/image_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/hyperspectral/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/hyperspectral/wavelengths": ("std_msgs/msg/Float32MultiArray", "latched"),
    "/gnss/fix": ("sensor_msgs/msg/NavSatFix", "sensor"),
    "/imu/data": ("sensor_msgs/msg/Imu", "sensor"),
    "/tf": ("tf2_msgs/msg/TFMessage", "reliable"),
    "/tf_static": ("tf2_msgs/msg/TFMessage", "latched"),
}
PRODUCTS = (
    "trajectory_tum.txt",
    "trajectory_base_link_tum.txt",
    "scene_mesh.ply",
    "classes.tif",
    "markers.csv",
    "spectra.csv",
    "scene.json",
)


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


def build_scene(config: SimConfig) -> Scene:
    """The scene of ``config`` (deterministic for its seed)."""
    if config.scene == "open-pit":
        from simulator.scene_pit import build_pit

        return build_pit(config)
    from simulator.scene_drift import build_drift

    return build_drift(config)


def build_trajectory(
    config: SimConfig, scene: Scene, plan: MissionPlan | None = None
) -> tuple[Trajectory, dict[str, Any]]:
    """The vehicle's trajectory: the mission plan's path, or the scene's built-in one."""
    speed = config.path.speed_m_s
    if config.plan and plan is None:
        plan = read_plan(config.plan)
    if plan is not None:
        waypoints, info = plan_waypoints_enu(plan, scene)
        if plan.speed_m_s is not None and not scene.underground:
            speed = plan.speed_m_s
        path = FlightPath(waypoints, config.path.corner_radius_m)
        check_clearance(scene, path, 2.0 if not scene.underground else 0.0)
        info["source"] = "plan"
    else:
        path = FlightPath(scene.default_waypoints, scene.default_corner_radius_m)
        info = {"source": "lawnmower survey" if scene.kind == "open-pit" else "drift centre-line"}
    trajectory = Trajectory(path, speed, config.path.accel_time_s)
    info.update(
        length_m=path.length,
        speed_m_s=trajectory.timing.speed_m_s,
        duration_s=trajectory.duration_s,
        waypoints_enu_m=[[round(float(v), 4) for v in w] for w in path.waypoints],
    )
    return trajectory, info


def frame_times_s(config: SimConfig, duration_s: float) -> F64Array:
    """Camera frame times: at ``rate_hz`` from the start, or spread over the whole run."""
    n = config.frames
    index = np.arange(n, dtype=np.float64)
    if config.camera.rate_hz > 0:
        return np.asarray(index / config.camera.rate_hz, dtype=np.float64)
    return np.asarray((index + 0.5) * duration_s / n, dtype=np.float64)


def _ticks(rate_hz: float, end_s: float) -> F64Array:
    """Times (s) on a whole-nanosecond grid at ``rate_hz`` from 0 to ``end_s``, so streams
    at related rates share exact stamps (every 5 Hz GNSS fix has a 20 Hz TF twin)."""
    period_ns = round(1e9 / rate_hz)
    ticks = np.arange(0, round(end_s * 1e9) + 1, period_ns, dtype=np.int64)
    return np.asarray(ticks / 1e9, dtype=np.float64)


def _ns(config: SimConfig, t_s: F64Array) -> npt.NDArray[np.int64]:
    return config.start_ns + np.rint(np.asarray(t_s) * 1e9).astype(np.int64)


def _tum_line(stamp_ns: int, matrix: F64Array) -> str:
    from smartmine.geometry import matrix_to_quat

    q = matrix_to_quat(matrix[:3, :3])
    t = matrix[:3, 3]
    sec = f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"
    vals = " ".join(f"{v:.9f}" for v in (*t, *q))
    return f"{sec} {vals}"


def check_output(out_dir: Path, config: SimConfig, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked to overwrite."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SimulatorError(f"--out {out_dir} exists and is not a folder")
    if overwrite:
        return
    for name in (bag_name(config), *PRODUCTS):
        if (out_dir / name).exists():
            raise SimulatorError(
                f"{out_dir / name} exists already (choose another --out, or --overwrite)"
            )


def run_simulation(config: SimConfig, out_dir: Path | str, *, overwrite: bool = False) -> SimResult:
    """Simulate ``config`` into ``out_dir``; see the module doc for the products."""
    from smartmine import __version__

    validate(config)
    out = Path(out_dir)
    check_output(out, config, overwrite)
    plan = read_plan(config.plan) if config.plan else None  # fail fast on a bad plan
    scene = build_scene(config)
    trajectory, path_info = build_trajectory(config, scene, plan)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    out.mkdir(parents=True, exist_ok=True)

    frame_t = frame_times_s(config, trajectory.duration_s)
    end_s = max(trajectory.duration_s, float(frame_t[-1]))
    imu_t, gnss_t, tf_t = (
        _ticks(rate, end_s) for rate in (config.imu.rate_hz, config.gnss.rate_hz, TF_RATE_HZ)
    )

    bag_path = out / bag_name(config)
    counts = _write_bag(
        config, scene, trajectory, renderer, rig, bag_path, overwrite, frame_t, imu_t, gnss_t, tf_t
    )

    # ground truth
    frame_ns = _ns(config, frame_t)
    cam_poses = trajectory.matrices(frame_t) @ rig.base_from_optical
    write_text_atomic(
        out / "trajectory_tum.txt",
        "# camera_color_optical_frame in map (local ENU metres, see scene.json); "
        "timestamp x y z qx qy qz qw\n"
        + "".join(_tum_line(int(s), m) + "\n" for s, m in zip(frame_ns, cam_poses, strict=True)),
    )
    base_poses = trajectory.matrices(tf_t)
    write_text_atomic(
        out / "trajectory_base_link_tum.txt",
        "# base_link in map (local ENU metres, see scene.json); "
        "timestamp x y z qx qy qz qw\n"
        + "".join(
            _tum_line(int(s), m) + "\n" for s, m in zip(_ns(config, tf_t), base_poses, strict=True)
        ),
    )
    _write_mesh(scene, renderer, out / "scene_mesh.ply")
    raster_info = _write_classes(scene, out / "classes.tif")
    _write_markers(scene, out / "markers.csv")
    _write_spectra(renderer, out / "spectra.csv")
    imu_noise = ImuNoise.draw(config)
    doc = _scene_doc(
        config, scene, renderer, rig, imu_noise, path_info, counts, raster_info, __version__
    )
    write_text_atomic(out / "scene.json", json.dumps(doc, indent=2) + "\n")
    return SimResult(
        out, bag_path, counts, len(frame_t), end_s, trajectory.path.length, {"path": path_info}
    )


# --- the bag ------------------------------------------------------------------------------


def _write_bag(
    config: SimConfig,
    scene: Scene,
    trajectory: Trajectory,
    renderer: Renderer,
    rig: Rig,
    bag_path: Path,
    overwrite: bool,
    frame_t: F64Array,
    imu_t: F64Array,
    gnss_t: F64Array,
    tf_t: F64Array,
) -> dict[str, int]:
    from smartmine.bagio.writer import BagWriter
    from smartmine.msgs import (
        GeoFix,
        ImuSample,
        StampedTransform,
        geofix_to_navsatfix,
        intrinsics_to_camera_info,
        numpy_to_image,
        sample_to_imu,
        transforms_to_tf_message,
    )
    from smartmine.msgs.navsat import (
        COVARIANCE_TYPE_DIAGONAL_KNOWN,
        COVARIANCE_TYPE_UNKNOWN,
        SERVICE_GLONASS,
        SERVICE_GPS,
        STATUS_FIX,
        STATUS_NO_FIX,
    )

    start = config.start_ns
    imu_ns, gnss_ns, tf_ns, frame_ns = (_ns(config, t) for t in (imu_t, gnss_t, tf_t, frame_t))

    # IMU, all at once (vectorised), then messages as they come due
    imu_noise = ImuNoise.draw(config)
    force, rate = trajectory.imu_truth(imu_t, config.imu.offset_m)
    accel_m, gyro_m = imu_noise.apply(config, force, rate)
    no_orientation = np.zeros((3, 3))
    no_orientation[0, 0] = -1.0  # REP-145: orientation not provided
    accel_cov = np.eye(3) * imu_noise.accel_sigma**2
    gyro_cov = np.eye(3) * imu_noise.gyro_sigma**2

    # GNSS fixes of the antenna
    g = config.gnss
    base_gnss = trajectory.matrices(gnss_t)
    antenna = (base_gnss @ rig.base_from_gnss)[:, :3, 3]
    lat = lon = alt = np.full(len(gnss_t), math.nan)
    if not scene.underground:
        lat, lon, alt, _ = gnss_fixes(config, scene.origin, antenna)
    gnss_cov = np.diag([g.sigma_horizontal_m**2, g.sigma_horizontal_m**2, g.sigma_vertical_m**2])

    base_tf = trajectory.matrices(tf_t)
    base_frames = trajectory.matrices(frame_t)
    info_color = renderer.camera.intrinsics()
    info_hsi = renderer.hsi_camera.intrinsics()

    with BagWriter(bag_path, overwrite=overwrite) as bag:
        f = bag.factory
        for topic, (msgtype, qos) in TOPICS.items():
            bag.add_topic(topic, msgtype, qos=qos)  # type: ignore[arg-type]
        statics = [StampedTransform(start, p, c, matrix=m) for p, c, m in rig.static_tree()]
        bag.write("/tf_static", start, transforms_to_tf_message(statics, f))
        wl = renderer.wavelengths_nm.astype(np.float32)
        layout = f(
            "std_msgs/msg/MultiArrayLayout",
            dim=[
                f(
                    "std_msgs/msg/MultiArrayDimension",
                    label="band_centre_nm",
                    size=len(wl),
                    stride=len(wl),
                )
            ],
            data_offset=0,
        )
        bag.write(
            "/hyperspectral/wavelengths",
            start,
            f("std_msgs/msg/Float32MultiArray", layout=layout, data=wl),
        )

        def write_imu(i: int) -> None:
            t = int(imu_ns[i])
            sample = ImuSample(
                stamp_ns=t,
                frame_id=IMU_FRAME,
                orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]),
                orientation_covariance=no_orientation,
                angular_velocity_rad_s=gyro_m[i],
                angular_velocity_covariance=gyro_cov,
                linear_acceleration_m_s2=accel_m[i],
                linear_acceleration_covariance=accel_cov,
            )
            bag.write("/imu/data", t, sample_to_imu(sample, f))

        def write_gnss(i: int) -> None:
            t = int(gnss_ns[i])
            if scene.underground:
                fix = GeoFix(
                    t,
                    math.nan,
                    math.nan,
                    math.nan,
                    np.zeros((3, 3)),
                    COVARIANCE_TYPE_UNKNOWN,
                    STATUS_NO_FIX,
                    SERVICE_GPS | SERVICE_GLONASS,
                    GNSS_FRAME,
                )
            else:
                fix = GeoFix(
                    t,
                    float(lat[i]),
                    float(lon[i]),
                    float(alt[i]),
                    gnss_cov,
                    COVARIANCE_TYPE_DIAGONAL_KNOWN,
                    STATUS_FIX,
                    SERVICE_GPS | SERVICE_GLONASS,
                    GNSS_FRAME,
                )
            bag.write("/gnss/fix", t, geofix_to_navsatfix(fix, f))

        def write_tf(i: int) -> None:
            t = int(tf_ns[i])
            tf = StampedTransform(t, MAP, BASE, matrix=base_tf[i])
            bag.write("/tf", t, transforms_to_tf_message([tf], f))

        streams = [(imu_ns, write_imu), (gnss_ns, write_gnss), (tf_ns, write_tf)]
        cursors = [0, 0, 0]

        def flush(until_ns: int) -> None:
            """Write every due IMU/GNSS/TF message up to ``until_ns`` in time order."""
            while True:
                best, best_t = -1, until_ns + 1
                for k, (stamps, _) in enumerate(streams):
                    if cursors[k] < len(stamps) and stamps[cursors[k]] < best_t:
                        best, best_t = k, int(stamps[cursors[k]])
                if best < 0:
                    return
                streams[best][1](cursors[best])
                cursors[best] += 1

        depth_enc = config.depth.encoding

        def render(i: int) -> tuple[FrameRender, HsiRender | None]:
            frame = renderer.render(base_frames[i] @ rig.base_from_optical, i)
            hsi = None
            if i % config.hsi.every == 0:
                hsi = renderer.render_hsi(base_frames[i] @ rig.base_from_hsi, i)
            return frame, hsi

        rendered = prefetch_frames(render, len(frame_t), workers=config.workers)
        for i in progress(range(len(frame_t)), total=len(frame_t), desc="rendering", unit="frame"):
            t = int(frame_ns[i])
            flush(t)
            frame, hsi = next(rendered)
            bag.write(
                "/camera/color/image_raw",
                t,
                numpy_to_image(frame.rgb, "rgb8", stamp_ns=t, frame_id=COLOR_OPTICAL, factory=f),
            )
            bag.write(
                "/camera/color/camera_info",
                t,
                intrinsics_to_camera_info(
                    info_color, stamp_ns=t, frame_id=COLOR_OPTICAL, factory=f
                ),
            )
            bag.write(
                "/camera/depth/image_rect_raw",
                t,
                numpy_to_image(
                    frame.depth_image, depth_enc, stamp_ns=t, frame_id=COLOR_OPTICAL, factory=f
                ),
            )
            bag.write(
                "/camera/depth/camera_info",
                t,
                intrinsics_to_camera_info(
                    info_color, stamp_ns=t, frame_id=COLOR_OPTICAL, factory=f
                ),
            )
            if hsi is not None:
                bands = hsi.cube.shape[2]
                bag.write(
                    "/hyperspectral/image_raw",
                    t,
                    numpy_to_image(
                        hsi.cube, f"32FC{bands}", stamp_ns=t, frame_id=HSI_OPTICAL, factory=f
                    ),
                )
                bag.write(
                    "/hyperspectral/camera_info",
                    t,
                    intrinsics_to_camera_info(
                        info_hsi, stamp_ns=t, frame_id=HSI_OPTICAL, factory=f
                    ),
                )
        flush(int(max(imu_ns[-1], gnss_ns[-1], tf_ns[-1])))
        bag.custom_data["smartmine.sim"] = json.dumps(
            {
                "scene": config.scene,
                "seed": config.seed,
                "crs": f"EPSG:{UTM_EPSG}",
                "origin_wgs84": [scene.origin.lat_deg, scene.origin.lon_deg, scene.origin.alt_m],
                "map_frame": "local ENU at the origin",
                "hyperspectral": HSI_CONVENTION,
            },
            sort_keys=True,
        )
        counts = dict(bag.counts)
    return counts


def prefetch_frames(
    work: Callable[[int], tuple[FrameRender, HsiRender | None]], count: int, workers: int
) -> Iterator[tuple[FrameRender, HsiRender | None]]:
    """``work(0) ... work(count - 1)`` in order, up to ``workers`` frames rendered ahead in
    threads (Open3D and numpy release the GIL). Each frame draws from its own seeded
    generator, so the results do not depend on the number of workers."""
    if workers <= 1:
        for i in range(count):
            yield work(i)
        return
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


def _write_mesh(scene: Scene, renderer: Renderer, path: Path) -> None:
    mesh = scene.mesh
    vertex_zone = np.zeros(len(mesh.vertices), dtype=np.int64)
    vertex_zone[mesh.triangles.ravel()] = np.repeat(mesh.face_zone, 3)
    rgb = srgb_encode(renderer.zone_rgb[vertex_zone] * 0.9)
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
    import rasterio
    from rasterio.transform import Affine

    raster, (west, north, res) = class_raster(scene)
    legend = {str(z.id): z.name for z in ZONES}
    with (
        atomic_path(path, overwrite=True) as tmp,
        rasterio.open(
            tmp,
            "w",
            driver="GTiff",
            height=raster.shape[0],
            width=raster.shape[1],
            count=1,
            dtype="uint8",
            crs=f"EPSG:{UTM_EPSG}",
            transform=Affine(res, 0.0, west, 0.0, -res, north),
            nodata=0,
            compress="deflate",
        ) as dst,
    ):
        dst.write(raster, 1)
        dst.update_tags(
            zones=json.dumps(legend),
            view="from above" if scene.raster_look == "down" else "floor, from below",
            scene=scene.kind,
        )
        dst.set_band_description(1, "zone id (see tag 'zones')")
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
    lines = ["wavelength_nm,irradiance_rel," + ",".join(names)]
    for b, wl in enumerate(renderer.wavelengths_nm):
        vals = [renderer.irradiance[b], *renderer.zone_refl[ids, b]]
        lines.append(f"{wl:.2f}," + ",".join(f"{v:.6f}" for v in vals))
    write_text_atomic(path, "\n".join(lines) + "\n")


def _enu_to_utm_similarity(scene: Scene) -> dict[str, float]:
    """Best 2-D similarity local ENU -> UTM over the scene (for quick use; exact
    conversion goes through smartmine.geodesy.LocalEnu)."""
    x0, x1, y0, y1 = scene.raster_bounds_enu
    gx, gy = np.meshgrid(np.linspace(x0, x1, 9), np.linspace(y0, y1, 9))
    e, n, h = scene.origin.to_projected(gx.ravel(), gy.ravel(), np.zeros(gx.size), UTM_EPSG)
    p = gx.ravel() + 1j * gy.ravel()
    q = e + 1j * n
    pm, qm = p.mean(), q.mean()
    a = complex(np.sum(np.conj(p - pm) * (q - qm)) / np.sum(np.abs(p - pm) ** 2))
    t = qm - a * pm
    err = np.abs(a * p + t - q)
    return {
        "rotation_deg": math.degrees(math.atan2(a.imag, a.real)),
        "scale": abs(a),
        "easting_of_origin_m": t.real,
        "northing_of_origin_m": t.imag,
        "height_of_origin_m": float(h.mean() + 0.0),
        "max_horizontal_error_m": float(err.max()),
    }


def _scene_doc(
    config: SimConfig,
    scene: Scene,
    renderer: Renderer,
    rig: Rig,
    imu_noise: ImuNoise,
    path_info: dict[str, Any],
    counts: dict[str, int],
    raster_info: dict[str, Any],
    version: str,
) -> dict[str, Any]:
    from smartmine.geodesy import describe_crs

    e0, n0, h0 = scene.origin.to_projected(0.0, 0.0, 0.0, UTM_EPSG)
    dc = config.depth
    return {
        "software": {
            "name": "smartmine",
            "version": version,
            "command": f"smartmine sim {config.scene}",
        },
        "scene": config.scene,
        "seed": config.seed,
        "frames": config.frames,
        "crs": {
            "projected": f"EPSG:{UTM_EPSG}",
            "projected_name": describe_crs(UTM_EPSG),
            "geographic": "EPSG:4979 (WGS84 latitude, longitude, ellipsoidal height)",
            "map_frame": "local ENU tangent plane at the origin: x east, y north, z up, metres",
            "exact_conversion": "smartmine.geodesy.LocalEnu(lat_deg, lon_deg, alt_m)"
            ".to_projected(x, y, z, 32644)",
        },
        "origin": {
            "lat_deg": scene.origin.lat_deg,
            "lon_deg": scene.origin.lon_deg,
            "alt_m": scene.origin.alt_m,
            "easting_m": float(e0),
            "northing_m": float(n0),
            "height_m": float(h0),
        },
        "enu_to_utm_approx": _enu_to_utm_similarity(scene),
        "mine_grid": scene.mine_grid.to_dict(),
        "zones": zone_legend(),
        "scene_parameters": scene.parameters,
        "markers": {
            "dictionary": scene.markers[0].dictionary if scene.markers else None,
            "corner_order": "top-left, top-right, bottom-right, bottom-left (OpenCV ArUco)",
            "list": [m.to_dict() for m in scene.markers],
        },
        "trajectory": path_info,
        "frames_tree": {
            "dynamic": "map -> base_link on /tf at 20 Hz (ground truth)",
            "static": [
                {"parent": p, "child": c, "matrix": np.round(m, 9).tolist()}
                for p, c, m in rig.static_tree()
            ],
            "base_link": "FLU body, attitude yaw along track only",
        },
        "sensors": {
            "camera": {
                **renderer.camera.to_dict(),
                "frame_id": COLOR_OPTICAL,
                "rate": "spread evenly over the path"
                if config.camera.rate_hz == 0
                else f"{config.camera.rate_hz} Hz",
                "noise_dn": config.camera.noise_dn,
                "shading": "sun (Lambert, cast shadows, sky ambient)"
                if scene.lighting == "sun"
                else "headlamp at the camera (Lambert, 1/r^2, cone)",
            },
            "depth": {
                "alignment": "aligned to the colour camera (same model, same frame)",
                "value": "z-depth in the optical frame (not ray length)",
                "encoding": dc.encoding,
                "units": "millimetres, 0 = invalid"
                if dc.encoding == "16UC1"
                else "metres, NaN = invalid",
                "range_m": [dc.min_range_m, dc.max_range_m],
                "noise": f"sigma_z = {dc.noise_c_per_m} * z^2 (m)",
                "dropout": dc.dropout,
                "grazing_limit_deg": dc.grazing_limit_deg,
                "edge_jump_rel": dc.edge_jump_rel,
            },
            "hyperspectral": {
                **renderer.hsi_camera.to_dict(),
                "frame_id": HSI_OPTICAL,
                "kind": "snapshot cube",
                "bands": len(renderer.wavelengths_nm),
                "wavelengths_nm": [round(float(w), 4) for w in renderer.wavelengths_nm],
                "supersample": config.hsi.supersample,
                "every_n_frames": config.hsi.every,
                "convention": HSI_CONVENTION,
                "illumination": "solar_irradiance"
                if scene.lighting == "sun"
                else "halogen_irradiance (3000 K)",
                "spectra": "hyperspectral.spectra (synthetic, literature band positions)",
            },
            "imu": {
                "frame_id": IMU_FRAME,
                "rate_hz": config.imu.rate_hz,
                "accel_sigma_m_s2": imu_noise.accel_sigma,
                "gyro_sigma_rad_s": imu_noise.gyro_sigma,
                "accel_bias_m_s2": imu_noise.accel_bias.tolist(),
                "gyro_bias_rad_s": imu_noise.gyro_bias.tolist(),
                "orientation": "not provided (orientation_covariance[0] = -1)",
            },
            "gnss": {
                "frame_id": GNSS_FRAME,
                "rate_hz": config.gnss.rate_hz,
                "sigma_horizontal_m": config.gnss.sigma_horizontal_m,
                "sigma_vertical_m": config.gnss.sigma_vertical_m,
                "position": "the antenna (gnss_link)",
                "underground": "no fix: status -1, NaN position" if scene.underground else None,
            },
        },
        "topics": {t: {"type": TOPICS[t][0], "count": counts.get(t, 0)} for t in TOPICS},
        "products": {
            "bag": bag_name(config),
            "trajectory_tum.txt": "camera_color_optical_frame in map at each colour frame",
            "trajectory_base_link_tum.txt": "base_link in map at 20 Hz (/tf stamps)",
            "scene_mesh.ply": "scene mesh, local ENU metres, face property 'zone'",
            "classes.tif": raster_info,
            "markers.csv": "marker corners: mine grid, UTM 44N, local ENU",
            "spectra.csv": "zone reflectance and relative irradiance at the HSI bands",
        },
        "config": config.to_dict(),
    }
