"""Export a finished simulation as a drone's image folder, with ground-truth GCPs.

``export_images(SIM, DIR)`` reads the run in ``SIM`` (its bag, ``scene.json``,
``trajectory_tum.txt`` and ``markers.csv``) and writes into ``DIR``:

- ``frame_NNNNNN.jpg`` — every colour frame (1-based, the bag's order), JPEG quality 95,
  with EXIF as a survey drone writes it: GPS latitude, longitude and ellipsoidal altitude
  of the *noisy* GNSS fix (the bag's NavSatFix, i.e. the antenna, interpolated at the
  frame's stamp), ``GPSHPositioningError`` (the simulated horizontal sigma),
  ``DateTimeOriginal`` + ``SubSecTimeOriginal``, ``FocalLengthIn35mmFilm`` (from the
  camera's horizontal field of view) and, when the run names a survey camera with a
  sensor size, ``FocalLength`` in mm and the focal-plane resolution.
- ``gcp_list.txt`` — OpenDroneMap's GCP file from the ground markers: the CRS line
  ``EPSG:32644``, then ``easting northing height pixel_x pixel_y image marker_id`` per
  observation. Coordinates are the TRUE marker centres (UTM 44N, ellipsoidal height);
  pixels are the TRUE projections of the centre through the ground-truth camera pose and
  the true lens model (distortion included), in ODM's convention (origin at the top-left
  pixel's corner = OpenCV + 0.5). A marker is listed in an image only where all four
  corners of its black square fall inside the image, its face is toward the camera, and
  the rays to its corners reach it unoccluded (raycast against the scene mesh).
- ``truth_cameras.csv`` — true camera centres (UTM 44N) per image, for scoring.

The GPS in EXIF is the noisy antenna fix, not the camera centre: the antenna sits
``scene.json rig`` above the camera, as on a real drone (SfM's lever-arm option applies).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.errors import SimulatorError
from smartmine import tum
from smartmine.atomic import atomic_set

F64Array = npt.NDArray[np.float64]

COLOUR_TOPIC = "/camera/color/image_raw"
GNSS_TYPE = "sensor_msgs/msg/NavSatFix"
GCP_CRS_LINE = "EPSG:32644"
JPEG_QUALITY = 95
OCCLUSION_TOL_M = 0.05
"""A ray to a marker corner that hits the mesh this much before the corner is occluded."""


@dataclass
class ExportResult:
    images: list[str] = field(default_factory=list)
    gcp_observations: int = 0
    markers_seen: int = 0
    gps_images: int = 0


def _rational_dms(value_deg: float) -> tuple[Any, Any, Any]:
    from PIL.TiffImagePlugin import IFDRational

    v = abs(value_deg)
    d = int(v)
    m = int((v - d) * 60.0)
    s = (v - d - m / 60.0) * 3600.0
    return IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(s * 1e6), 1_000_000)


def exif_bytes(
    *,
    stamp_ns: int,
    lat_deg: float | None,
    lon_deg: float | None,
    alt_m: float | None,
    h_sigma_m: float | None,
    focal35_mm: float,
    focal_mm: float | None = None,
    sensor_width_mm: float | None = None,
    width_px: int = 0,
) -> bytes:
    """EXIF (with GPS IFD) as Pillow writes it into a JPEG."""
    from datetime import UTC, datetime

    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    exif[0x010F] = "smartmine"  # Make
    exif[0x0110] = "simulator"  # Model
    when = datetime.fromtimestamp(stamp_ns // 1_000_000_000, tz=UTC)
    text = when.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x0132] = text  # DateTime
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = text  # DateTimeOriginal
    sub[0x9291] = f"{(stamp_ns % 1_000_000_000) // 1_000_000:03d}"  # SubSecTimeOriginal
    sub[0xA405] = max(1, round(focal35_mm))  # FocalLengthIn35mmFilm
    if focal_mm is not None:
        sub[0x920A] = IFDRational(round(focal_mm * 1000), 1000)  # FocalLength
        if sensor_width_mm and width_px:
            sub[0xA20E] = IFDRational(round(width_px / sensor_width_mm * 1e4), 10_000)
            sub[0xA20F] = sub[0xA20E]
            sub[0xA210] = 4  # FocalPlaneResolutionUnit: mm
    if lat_deg is not None and lon_deg is not None and alt_m is not None:
        gps = exif.get_ifd(0x8825)
        gps[0] = b"\x02\x03\x00\x00"  # GPSVersionID
        gps[1] = "N" if lat_deg >= 0 else "S"
        gps[2] = _rational_dms(lat_deg)
        gps[3] = "E" if lon_deg >= 0 else "W"
        gps[4] = _rational_dms(lon_deg)
        gps[5] = b"\x00" if alt_m >= 0 else b"\x01"
        gps[6] = IFDRational(round(abs(alt_m) * 1000), 1000)
        if h_sigma_m is not None:
            gps[31] = IFDRational(round(h_sigma_m * 1000), 1000)  # GPSHPositioningError
    return exif.tobytes()


def _camera_from_doc(doc: dict[str, Any]) -> Any:
    from calibration.camera_model import CameraModel as LensModel
    from smartmine.msgs import CameraIntrinsics

    cam = doc["sensors"]["camera"] if "sensors" in doc else doc["camera"]
    k = np.array([[cam["fx"], 0.0, cam["cx"]], [0.0, cam["fy"], cam["cy"]], [0.0, 0.0, 1.0]])
    intr = CameraIntrinsics(
        int(cam["width"]), int(cam["height"]), k, np.asarray(cam["d"], float), "plumb_bob"
    )
    return cam, LensModel(intr)


def _find_camera_section(doc: dict[str, Any]) -> dict[str, Any]:
    """The colour camera's section of scene.json (wherever the doc keeps it)."""

    def walk(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if {"fx", "fy", "cx", "cy", "width", "height", "d"} <= node.keys():
                return node
            for key in ("camera", "sensors"):
                if key in node:
                    found = walk(node[key])
                    if found is not None:
                        return found
        return None

    found = walk(doc)
    if found is None:
        raise SimulatorError("scene.json has no colour camera section")
    return found


def read_tum(path: Path) -> tuple[npt.NDArray[np.int64], F64Array]:
    """Stamps (exact ns) and (N, 4, 4) poses of a run's TUM file (:mod:`smartmine.tum`)."""
    from smartmine.geometry import quat_to_matrix

    try:
        table = tum.read_tum(path)
        stamps = table.stamps_ns()
    except tum.TumError as err:
        raise SimulatorError(str(err)) from None
    poses = np.tile(np.eye(4), (len(table), 1, 1))
    poses[:, :3, :3] = quat_to_matrix(table.quats_xyzw)
    poses[:, :3, 3] = table.positions
    return stamps, poses


def marker_centres(path: Path) -> dict[int, tuple[F64Array, F64Array]]:
    """Per marker id: (4, 3) corners in local ENU and (4, 3) in UTM (easting, northing, h)."""
    rows: dict[int, list[dict[str, str]]] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            rows.setdefault(int(r["marker_id"]), []).append(r)
    out = {}
    for mid, rs in rows.items():
        rs.sort(key=lambda r: int(r["corner"]))
        enu = np.array([[float(r[k]) for k in ("east_m", "north_m", "up_m")] for r in rs])
        utm = np.array([[float(r[k]) for k in ("easting_m", "northing_m", "height_m")] for r in rs])
        out[mid] = (enu, utm)
    return out


def _interp_fix(
    fixes: F64Array, stamp_ns: int, max_gap_s: float = 2.0
) -> tuple[float, float, float] | None:
    """(lat, lon, alt) interpolated at ``stamp_ns`` from (N, 4) rows stamp_ns lat lon alt."""
    if not len(fixes):
        return None
    t = fixes[:, 0]
    if np.min(np.abs(t - stamp_ns)) > max_gap_s * 1e9:
        return None
    return (
        float(np.interp(stamp_ns, t, fixes[:, 1])),
        float(np.interp(stamp_ns, t, fixes[:, 2])),
        float(np.interp(stamp_ns, t, fixes[:, 3])),
    )


def visible_markers(
    lens: Any,
    width: int,
    height: int,
    map_from_cam: F64Array,
    markers: dict[int, tuple[F64Array, F64Array]],
    raycaster: Any,
) -> list[tuple[int, float, float]]:
    """(marker_id, u, v) of the markers visible in one frame; (u, v) in OpenCV pixels."""
    out = []
    r, c = map_from_cam[:3, :3], map_from_cam[:3, 3]
    for mid, (enu, _) in sorted(markers.items()):
        pts = np.vstack([enu, enu.mean(axis=0)])
        cam = (pts - c) @ r
        if np.any(cam[:, 2] <= 0.1):
            continue
        uv = lens.project(cam)
        if not np.all(np.isfinite(uv)):
            continue
        if np.any(uv[:4, 0] < 1) or np.any(uv[:4, 0] > width - 2):
            continue
        if np.any(uv[:4, 1] < 1) or np.any(uv[:4, 1] > height - 2):
            continue
        normal = np.cross(enu[1] - enu[0], enu[3] - enu[0])
        normal = normal / np.linalg.norm(normal)
        if normal[2] < 0:
            normal = -normal  # ground markers face up
        if float(normal @ (c - pts[4])) <= 0:
            continue
        if raycaster is not None:
            dirs = pts - c
            dist = np.linalg.norm(dirs, axis=1)
            hits = raycaster(c, dirs / dist[:, None])
            if np.any(hits < dist - OCCLUSION_TOL_M):
                continue
        out.append((mid, float(uv[4, 0]), float(uv[4, 1])))
    return out


def _mesh_raycaster(mesh_path: Path) -> Any:
    """A function (origin (3,), dirs (N, 3)) -> hit distances against the scene mesh."""
    import open3d as o3d

    mesh = o3d.t.io.read_triangle_mesh(str(mesh_path))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(mesh)

    def cast(origin: F64Array, dirs: F64Array) -> F64Array:
        rays = np.hstack([np.repeat(origin[None, :], len(dirs), axis=0), dirs]).astype(np.float32)
        hits = scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        return np.asarray(hits, dtype=np.float64)

    return cast


def export_images(
    sim_dir: Path,
    out_dir: Path,
    *,
    with_gps: bool = True,
    sensor: Any = None,
) -> ExportResult:
    """Write the run in ``sim_dir`` as an image folder with EXIF GPS and ``gcp_list.txt``
    (see the module doc). ``sensor``: a :class:`calibration.camera_model.SensorSpec` whose
    sensor width and focal length go into EXIF."""
    from smartmine.bagio.reader import BagReader
    from smartmine.msgs import header_stamp_ns, image_to_numpy, navsatfix_to_geofix

    doc_path = sim_dir / "scene.json"
    if not doc_path.exists():
        raise SimulatorError(f"{sim_dir}: no scene.json (not a finished simulator run)")
    doc = json.loads(doc_path.read_text())
    cam = _find_camera_section(doc)
    _, lens = _camera_from_doc({"camera": cam})
    width, height = int(cam["width"]), int(cam["height"])
    hfov = 2.0 * math.atan(width / 2.0 / float(cam["fx"]))
    focal35 = 18.0 / math.tan(hfov / 2.0)  # 36 mm wide frame
    h_sigma = None
    gnss = doc.get("sensors", {}).get("gnss", doc.get("gnss", {}))
    if isinstance(gnss, dict):
        h_sigma = gnss.get("sigma_horizontal_m")
    bags = sorted(sim_dir.glob("*.mcap"))
    if not bags:
        raise SimulatorError(f"{sim_dir}: no bag (*.mcap)")
    stamps_truth, poses = read_tum(sim_dir / "trajectory_tum.txt")
    markers = marker_centres(sim_dir / "markers.csv")
    raycaster = _mesh_raycaster(sim_dir / "scene_mesh.ply") if markers else None
    out_dir.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    frames: list[tuple[int, Any]] = []
    fix_rows: list[tuple[int, float, float, float]] = []
    with BagReader(bags[0]) as bag:
        topics = bag.topics
        gnss_topics = [t for t, s in topics.items() if s.msgtype == GNSS_TYPE]
        wanted = [COLOUR_TOPIC, *gnss_topics[:1]]
        for m in bag.messages(topics=wanted):
            if m.topic == COLOUR_TOPIC:
                frames.append((header_stamp_ns(m.message), image_to_numpy(m.message)))
            else:
                geo = navsatfix_to_geofix(m.message)
                if geo.status >= 0 and math.isfinite(geo.latitude_deg):
                    fix_rows.append(
                        (geo.stamp_ns, geo.latitude_deg, geo.longitude_deg, geo.altitude_m)
                    )
    fixes = np.array(sorted(fix_rows), dtype=np.float64).reshape(-1, 4)
    gcp_lines = [GCP_CRS_LINE]
    truth_lines = ["image,stamp_ns,easting_m,northing_m,height_m"]
    seen: set[int] = set()
    origin = doc["origin"]
    from smartmine.geodesy import LocalEnu

    enu = LocalEnu(origin["lat_deg"], origin["lon_deg"], origin["alt_m"])
    names = [f"frame_{index:06d}.jpg" for index in range(1, len(frames) + 1)]
    members = [out_dir / n for n in (*names, "truth_cameras.csv", "gcp_list.txt")]
    with atomic_set(members) as tmps:  # the folder's images and lists land together
        _write_frames(frames, tmps, fixes, with_gps, h_sigma, focal35, sensor, width)
        for index, (stamp, _) in enumerate(frames):
            name = names[index]
            fix = _interp_fix(fixes, stamp) if with_gps else None
            result.images.append(name)
            result.gps_images += fix is not None
            k = int(np.argmin(np.abs(stamps_truth - stamp)))
            if abs(int(stamps_truth[k]) - stamp) > 1_000_000:
                raise SimulatorError(f"{name}: no ground-truth pose at its stamp {stamp}")
            pose = poses[k]
            e, n, h = enu.to_projected(pose[0:1, 3], pose[1:2, 3], pose[2:3, 3], 32644)
            truth_lines.append(
                f"{name},{stamp},{float(e[0]):.4f},{float(n[0]):.4f},{float(h[0]):.4f}"
            )
            for mid, u, v in visible_markers(lens, width, height, pose, markers, raycaster):
                x, y, z = markers[mid][1].mean(axis=0)
                gcp_lines.append(
                    f"{x:.4f} {y:.4f} {z:.4f} {u + 0.5:.3f} {v + 0.5:.3f} {name} {mid}"
                )
                result.gcp_observations += 1
                seen.add(mid)
        tmps[-2].write_text("\n".join(truth_lines) + "\n", encoding="utf-8")
        tmps[-1].write_text("\n".join(gcp_lines) + "\n", encoding="utf-8")
    result.markers_seen = len(seen)
    return result


def _write_frames(
    frames: list[tuple[int, Any]],
    paths: list[Path],
    fixes: F64Array,
    with_gps: bool,
    h_sigma: Any,
    focal35: float,
    sensor: Any,
    width: int,
) -> None:
    """The JPEGs with their EXIF (GPS interpolated at each frame's stamp)."""
    from PIL import Image

    for (stamp, array), path in zip(frames, paths, strict=False):  # (paths: + the lists)
        fix = _interp_fix(fixes, stamp) if with_gps else None
        exif = exif_bytes(
            stamp_ns=stamp,
            lat_deg=fix[0] if fix else None,
            lon_deg=fix[1] if fix else None,
            alt_m=fix[2] if fix else None,
            h_sigma_m=float(h_sigma) if h_sigma is not None else None,
            focal35_mm=focal35,
            focal_mm=None if sensor is None else float(sensor.focal_length_mm),
            sensor_width_mm=None if sensor is None else float(sensor.sensor_width_mm),
            width_px=width,
        )
        image = Image.fromarray(np.ascontiguousarray(array[:, :, :3]).astype(np.uint8), "RGB")
        image.save(path, format="JPEG", quality=JPEG_QUALITY, exif=exif)
