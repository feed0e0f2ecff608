"""Sparse stages on pycolmap (CPU): working images, SIFT, pairs, matches, mapping.

Each stage is ``run_*(conf, ..., work_dir) -> Path`` and returns at once when its output
is already on disk (resume). Images that fail to decode or register are listed.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.sfm.config import SfmConfig, crs_epsg
from mapping.sfm.errors import SfmError
from mapping.sfm.inputs import ImageRecord, Inputs
from mapping.sfm.intrinsics import database_focal_priors, judge_intrinsics
from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.geodesy import utm_epsg, utm_zone, wgs84_to_utm
from smartmine.progress import progress

F64 = npt.NDArray[np.float64]


def quiet_colmap() -> None:
    """COLMAP logs every image at INFO through glog; keep warnings only."""
    import pycolmap

    pycolmap.logging.minloglevel = 2


@dataclass
class WorkingImages:
    """The images the pipeline works on (downscaled copies) and how they map back."""

    records: list[ImageRecord]
    scale: dict[str, float]
    """Working size / original size, per image."""
    failed: dict[str, str]
    epsg: int | None
    origin: list[float]
    """Local frame origin (easting, northing, height) subtracted from UTM for numerics."""
    local_xyz: dict[str, list[float]]
    """GPS positions in the local frame (UTM - origin), per image that has one."""
    notes: list[str]

    @classmethod
    def load(cls, path: Path) -> WorkingImages:
        doc = json.loads(path.read_text())
        doc["records"] = [ImageRecord(**r) for r in doc["records"]]
        return cls(**doc)

    def to_json(self) -> str:
        doc = {
            "records": [r.to_dict() for r in self.records],
            "scale": self.scale,
            "failed": self.failed,
            "epsg": self.epsg,
            "origin": self.origin,
            "local_xyz": self.local_xyz,
            "notes": self.notes,
        }
        return json.dumps(doc, indent=1)

    def record(self, name: str) -> ImageRecord:
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(name)


def choose_epsg(crs: str, inputs: Inputs, fallback: int | None = None) -> int | None:
    """The product CRS: given (``EPSG:326zz``), or the UTM zone of the images' GPS."""
    code = crs_epsg(crs)
    if code is not None:
        return code
    gps = [r for r in inputs.images if r.has_gps]
    if not gps:
        return fallback
    lat = float(np.median([r.lat_deg for r in gps]))
    lon = float(np.median([r.lon_deg for r in gps]))
    return utm_epsg(utm_zone(lon, lat), lat >= 0)


def _decode(path: str, max_px: int) -> np.ndarray[Any, Any] | None:
    """Decode at reduced size where the JPEG allows (DCT scaling is far faster)."""
    import cv2
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    reduce = 1
    for factor, flag in (
        (8, cv2.IMREAD_REDUCED_COLOR_8),
        (4, cv2.IMREAD_REDUCED_COLOR_4),
        (2, cv2.IMREAD_REDUCED_COLOR_2),
    ):
        if max(w, h) / factor >= max_px:
            reduce = flag
            break
    image = cv2.imread(path, reduce if reduce != 1 else cv2.IMREAD_COLOR)
    if image is None:
        return None
    long_side = max(w, h)
    if long_side > max_px:
        size = (round(w * max_px / long_side), round(h * max_px / long_side))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.asarray(image)


def enhance(image: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Grey image with local contrast equalised (CLAHE): bare soil and gravel, faint at
    drone altitude, then give SIFT several times more repeatable keypoints."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    return np.asarray(clahe.apply(grey))


def feature_images_dir(conf: SfmConfig, work_dir: Path) -> Path:
    return work_dir / ("features_images" if conf.enhance_contrast else "images")


def run_images(conf: SfmConfig, inputs: Inputs, epsg: int | None, work_dir: Path) -> Path:
    """Downscaled working copies in ``work/images`` and ``work/images.json``."""
    import cv2

    out = work_dir / "images.json"
    if out.exists():
        return out
    images_dir = work_dir / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    records: list[ImageRecord] = []
    scale: dict[str, float] = {}
    failed = dict(inputs.failed)
    for record in progress(inputs.images, total=len(inputs.images), desc="images", unit="img"):
        target = images_dir / record.name
        try:
            fresh = not target.exists()
            image = _decode(record.path, conf.max_image_px) if fresh else cv2.imread(str(target))
            if image is None:
                raise ValueError("cannot be decoded (corrupt or truncated?)")
            _h, w = image.shape[:2]
            if fresh:
                jpeg = target.suffix.lower() in (".jpg", ".jpeg")
                params = [cv2.IMWRITE_JPEG_QUALITY, 95] if jpeg else []
                with atomic_path(target, overwrite=True) as tmp:
                    if not cv2.imwrite(str(tmp), image, params):
                        raise ValueError("cannot be written")
            feature_copy = work_dir / "features_images" / record.name
            if conf.enhance_contrast and not feature_copy.exists():
                with atomic_path(feature_copy, overwrite=True) as tmp:
                    cv2.imwrite(str(tmp), enhance(image), params)
        except Exception as err:  # listed, never fatal
            failed[record.name] = f"{record.path}: {err}"
            continue
        scale[record.name] = w / record.width
        records.append(record)
    if len(records) < 2:
        raise SfmError(
            f"fewer than 2 usable images ({len(records)}); failed: "
            + "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3])
        )
    local: dict[str, list[float]] = {}
    origin = [0.0, 0.0, 0.0]
    gps = [r for r in records if r.has_gps]
    if epsg is not None and gps:
        zone, north = epsg % 100, epsg // 100 == 326
        lat = np.array([r.lat_deg for r in gps], dtype=float)
        lon = np.array([r.lon_deg for r in gps], dtype=float)
        alt = np.array([r.alt_m if r.alt_m is not None else 0.0 for r in gps])
        alt = alt - conf.camera_below_antenna_m  # GNSS antenna -> camera centre
        e, n, _ = wgs84_to_utm(lat, lon, zone=zone, north=north)
        origin = [
            round(float(np.mean(e)), -2),
            round(float(np.mean(n)), -2),
            round(float(np.mean(alt)), -1),
        ]
        for r, x, y, z in zip(gps, e, n, alt, strict=True):
            local[r.name] = [float(x) - origin[0], float(y) - origin[1], float(z) - origin[2]]
    notes = list(inputs.notes)
    if not gps:
        notes.append("no image has a GPS position")
    result = WorkingImages(records, scale, failed, epsg, origin, local, notes)
    write_text_atomic(out, result.to_json())
    return out


def _camera_groups(images: WorkingImages) -> dict[str, list[ImageRecord]]:
    groups: dict[str, list[ImageRecord]] = {}
    for r in images.records:
        # like COLMAP's AUTO mode: one camera per (model, size, focal); same-size images
        # without any EXIF share one too (a survey camera), their focal found by the BA
        key = r.camera_key if r.focal_px is not None else f"unknown|{r.width}x{r.height}"
        groups.setdefault(key, []).append(r)
    return groups


def run_features(
    conf: SfmConfig, images: WorkingImages, work_dir: Path, calibration: Any = None
) -> Path:
    """SIFT into ``work/database.db``: one camera per (model, size, focal) group, seeded by
    the focal prior (calibration > EXIF); GPS positions written as pose priors."""
    import pycolmap

    out = work_dir / "database.db"
    if out.exists():
        return out
    quiet_colmap()
    with atomic_path(out) as tmp:
        db = pycolmap.Database.open(str(tmp))
        groups = _camera_groups(images)
        plan: list[tuple[int, list[str]]] = []
        for records in groups.values():
            first = records[0]
            s = images.scale[first.name]
            w, h = round(first.width * s), round(first.height * s)
            if calibration is not None and calibration.width == first.width:
                camera = calibrated_camera(calibration.k, calibration.d, s, w, h)
            elif first.focal_px is not None:
                # OPENCV (k1 k2 p1 p2, all 0 until the whole-block refinement): with k1
                # alone the bundle adjustment bends a nadir block and shifts the focal to
                # make up; without p1 p2 (simulated pit: 0.0008, -0.0005) the camera block
                # comes out 0.35 % wider than the ground, the DSM 0.25 m high from GPS
                camera = pycolmap.Camera.create_from_model_name(
                    0, "OPENCV", first.focal_px * s, w, h
                )
                camera.has_prior_focal_length = True
            else:
                camera = pycolmap.Camera.create_from_model_name(
                    0, "SIMPLE_RADIAL", 1.2 * max(w, h), w, h
                )
            camera_id = db.write_camera(camera)
            plan.append((camera_id, [r.name for r in records]))
        db.close()
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.max_image_size = conf.max_image_px
        extraction.sift.max_num_features = conf.max_features
        extraction.sift.max_num_orientations = 1
        extraction.sift.peak_threshold = conf.sift_peak_threshold
        extraction.sift.first_octave = first_octave(conf, images)
        for camera_id, names in progress(plan, total=len(plan), desc="features", unit="cam"):
            reader = pycolmap.ImageReaderOptions()
            reader.existing_camera_id = camera_id
            pycolmap.extract_features(
                str(tmp),
                str(feature_images_dir(conf, work_dir)),
                image_names=names,
                camera_mode=pycolmap.CameraMode.SINGLE,
                reader_options=reader,
                extraction_options=extraction,
            )
        db = pycolmap.Database.open(str(tmp))
        for image in db.read_all_images():
            xyz = images.local_xyz.get(image.name)
            if xyz is None:
                continue
            std = images.record(image.name).position_std_m or conf.gps_std_m
            prior = pycolmap.PosePrior()
            prior.corr_data_id = image.data_id
            prior.position = np.asarray(xyz, dtype=float)
            prior.position_covariance = np.diag([std**2, std**2, (1.5 * std) ** 2])
            prior.coordinate_system = pycolmap.PosePriorCoordinateSystem.CARTESIAN
            db.write_pose_prior(prior)
        db.close()
    return out


def first_octave(conf: SfmConfig, images: WorkingImages) -> int:
    """The SIFT first octave (see ``SfmConfig.sift_first_octave``): 0 for an aerial
    block (GPS on the images that spatial pairing needs, no oblique gimbal) worked at
    ``MIN_PX_FOR_OCTAVE_0`` px or more, else -1. Small working images need the doubled
    octave's keypoints: six 240 px survey frames registered 3 of 6 at octave 0, 6 of 6 at
    -1 (and doubling a small image costs little)."""
    if conf.sift_first_octave is not None:
        return conf.sift_first_octave
    n = len(images.records)
    aerial = n > 3 and len(images.local_xyz) >= 0.8 * n
    oblique = any(
        r.gimbal_pitch_deg is not None and r.gimbal_pitch_deg > -60 for r in images.records
    )
    long_side_px = max(max(r.width, r.height) * images.scale[r.name] for r in images.records)
    large = long_side_px >= MIN_PX_FOR_OCTAVE_0
    return 0 if aerial and not oblique and large else -1


MIN_PX_FOR_OCTAVE_0 = 1000


def calibrated_camera(k: Any, d: Any, scale: float, width: int, height: int) -> Any:
    """A COLMAP camera from OpenCV intrinsics at ``scale``: OPENCV (k1 k2 p1 p2), or
    FULL_OPENCV where the calibration has k3 or the rational k4-k6 (same order)."""
    import pycolmap

    dist = np.asarray(d, dtype=float).ravel()
    full = len(dist) > 4 and bool(np.any(dist[4:8] != 0.0))
    n_dist = 8 if full else 4
    camera = pycolmap.Camera.create_from_model_name(
        0, "FULL_OPENCV" if full else "OPENCV", 1.0, width, height
    )
    camera.params = [
        k[0, 0] * scale,
        k[1, 1] * scale,
        (k[0, 2] + 0.5) * scale,  # OpenCV centres pixel 0 at 0, COLMAP at 0.5
        (k[1, 2] + 0.5) * scale,
        *list(np.concatenate([dist, np.zeros(8)])[:n_dist]),
    ]
    camera.has_prior_focal_length = True
    return camera


def retrieval_neighbours(
    database: Path, names: list[str], per_image: int, neighbours: int
) -> set[tuple[int, int]]:
    """Image retrieval without a vocabulary tree (none can be downloaded here): each
    image's ``per_image`` largest-scale SIFT descriptors are matched against every other
    image's (ratio test); its ``neighbours`` best-matching images become pairs. Costs a
    few seconds for 100 images and finds the overlap between neighbouring flight lines
    that capture order misses."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    ids = {img.name: img.image_id for img in db.read_all_images()}
    subsets: list[npt.NDArray[np.float32]] = []
    for name in names:
        keypoints = db.read_keypoints(ids[name])
        desc = np.asarray(db.read_descriptors(ids[name]).data, dtype=np.float32)
        scale = np.abs(keypoints[:, 2] * keypoints[:, 5] - keypoints[:, 3] * keypoints[:, 4])
        subsets.append(desc[np.argsort(-scale)[:per_image]])
    db.close()
    n = len(names)
    # same count per image (pad with copies of a far vector that never passes the ratio)
    m = max(2, min(len(d) for d in subsets))
    stack = np.stack([d[:m] / np.maximum(np.linalg.norm(d[:m], axis=1, keepdims=True), 1e-9)
                      for d in subsets])  # fmt: skip
    score = np.zeros((n, n))
    for i in range(n - 1):
        others = stack[i + 1 :].reshape(-1, stack.shape[2])
        dist2 = np.maximum(2.0 - 2.0 * (stack[i] @ others.T), 0.0).reshape(m, n - i - 1, m)
        two = np.partition(dist2, 1, axis=2)[:, :, :2]
        good = (two[:, :, 0] < 0.64 * two[:, :, 1]).sum(axis=0)  # ratio 0.8 on distances
        score[i, i + 1 :] = good
        score[i + 1 :, i] = good
    pairs: set[tuple[int, int]] = set()
    for i in range(n):
        for j in np.argsort(-score[i])[:neighbours]:
            if score[i, j] > 0:
                pairs.add((min(i, int(j)), max(i, int(j))))
    return pairs


def _largest_features(db: Any, image_id: int, count: int) -> tuple[F64, npt.NDArray[np.float32]]:
    """Positions (px) and descriptors of an image's ``count`` largest-scale features: the
    ones that survive a change of viewpoint between neighbouring drone images."""
    keypoints = db.read_keypoints(image_id)
    desc = np.asarray(db.read_descriptors(image_id).data, dtype=np.float32)
    scale = np.abs(keypoints[:, 2] * keypoints[:, 5] - keypoints[:, 3] * keypoints[:, 4])
    keep = np.argsort(-scale)[:count]
    return np.asarray(keypoints[keep, :2], dtype=np.float64), desc[keep]


def _centre_offsets(db: Any, id_a: int, id_b: int, centre: F64) -> tuple[F64, F64] | None:
    """Ground motion from image a's nadir point to b's, in a's and in b's pixels (None
    when too few matches agree): a 2D similarity fitted by RANSAC to ratio-tested matches
    of the largest features, the centre of each image carried into the other."""
    import cv2

    pts_a, desc_a = _largest_features(db, id_a, 2048)
    pts_b, desc_b = _largest_features(db, id_b, 2048)
    if len(pts_a) < 16 or len(pts_b) < 16:
        return None
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc_a, desc_b, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < 16:
        return None
    src = pts_a[[m.queryIdx for m in good]]
    dst = pts_b[[m.trainIdx for m in good]]
    fit, inliers = cv2.estimateAffinePartial2D(src, dst, ransacReprojThreshold=8.0)
    if fit is None or int(inliers.sum()) < 15:
        return None
    a_in_b = fit[:, :2] @ centre + fit[:, 2]
    b_in_a = np.linalg.solve(fit[:, :2], centre - fit[:, 2])
    return b_in_a - centre, centre - a_in_b


def _heading_rad(ground_en: F64, image_px: F64) -> float:
    """Yaw of an image: the angle that turns its pixel axes (x right, y down; a nadir view
    is a map: east right, north up at yaw 0) onto the ground vector ``ground_en``."""
    return math.atan2(ground_en[1], ground_en[0]) - math.atan2(-image_px[1], image_px[0])


@dataclass
class Footprints:
    """Nadir ground footprints of the images (local metres), from GPS, yaw and height."""

    corners_m: dict[str, F64]
    height_m: float
    yaws_estimated: int


FOOTPRINT_MARGIN = 1.2
"""Footprints are drawn this much larger than a level nadir camera sees: a camera tilted
by a few degrees and GPS errors of a few metres shift the real ones (Seneca: pairs of
neighbouring lines with 20-230 verified inliers lie up to ~15 % outside the level ones)."""


def estimate_footprints(
    images: WorkingImages, database: Path, margin: float = FOOTPRINT_MARGIN
) -> Footprints | None:
    """Ground footprints of a nadir block, or None when it does not look like one.

    The height above the ground is not in EXIF (GPS altitude is above the geoid, the
    ground's is unknown): for each image and the next in capture order, the motion of
    the ground between them in pixels against the GPS baseline in metres gives it
    (f * baseline / motion), and the direction of that motion in the image against the
    baseline's direction gives the image's yaw. A block whose height estimates disagree
    (oblique, facade, ground level) gets None and is paired by GPS distance."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    try:
        ids = {img.name: img.image_id for img in db.read_all_images()}
        names = [
            r.name
            for r in images.records
            if r.name in images.local_xyz and r.name in ids and r.focal_px is not None
        ]
        heights, yaws = _heights_and_yaws(db, images, names, ids)
    finally:
        db.close()
    if len(heights) < 2:
        return None
    q25, height_m, q75 = np.percentile(heights, [25, 50, 75])
    if q75 > 1.5 * q25:  # not one flat nadir block
        return None
    corners = {
        name: _footprint(images, name, margin * float(height_m), yaws.get(name)) for name in names
    }
    return Footprints(corners, float(height_m), len(yaws))


def _heights_and_yaws(
    db: Any, images: WorkingImages, names: list[str], ids: dict[str, int]
) -> tuple[list[float], dict[str, list[float]]]:
    """Height above the ground from each consecutive pair, and each image's yaw(s)."""
    heights: list[float] = []
    yaws: dict[str, list[float]] = {}
    for a, b in itertools.pairwise(names):
        record = images.record(b)
        s = images.scale[b]
        base = np.subtract(images.local_xyz[b][:2], images.local_xyz[a][:2])
        if np.linalg.norm(base) < 1.0 or record.focal_px is None:
            continue
        centre = np.array([record.width * s, record.height * s]) / 2.0
        offsets = _centre_offsets(db, ids[a], ids[b], centre)
        if offsets is None or min(np.linalg.norm(offsets[0]), np.linalg.norm(offsets[1])) < 5:
            continue  # no agreement, or no motion to measure
        in_a, in_b = offsets
        heights.append(record.focal_px * s * float(np.linalg.norm(base) / np.linalg.norm(in_b)))
        yaws.setdefault(a, []).append(_heading_rad(base, in_a))
        yaws.setdefault(b, []).append(_heading_rad(base, in_b))
    return heights, yaws


def _footprint(images: WorkingImages, name: str, height_m: float, yaws: list[float] | None) -> F64:
    """Corners (local metres) of what a level nadir camera at ``height_m`` sees; without
    a yaw, a 16-gon around the disc that any yaw covers."""
    record = images.record(name)
    s = images.scale[name]
    w, h = record.width * s, record.height * s
    px = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=float) - [w / 2, h / 2]
    ground = np.column_stack([px[:, 0], -px[:, 1]]) * height_m / (float(record.focal_px or 1) * s)
    if yaws:
        yaw = math.atan2(np.mean(np.sin(yaws)), np.mean(np.cos(yaws)))
        c, si = math.cos(yaw), math.sin(yaw)
        ground = ground @ np.array([[c, si], [-si, c]])  # rows turned by +yaw
    else:
        radius = float(np.linalg.norm(ground[0]))
        t = np.linspace(0, 2 * math.pi, 16, endpoint=False)
        ground = radius * np.column_stack([np.cos(t), np.sin(t)])
    return np.asarray(ground + np.asarray(images.local_xyz[name][:2]), dtype=np.float64)


def footprint_overlap(a: F64, b: F64) -> float:
    """Shared area of two convex footprints as a share of the smaller one."""
    import cv2

    area, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    smaller = min(cv2.contourArea(a.astype(np.float32)), cv2.contourArea(b.astype(np.float32)))
    return float(area) / smaller if smaller > 0 else 0.0


def footprint_pairs(
    names: list[str], footprints: Footprints, min_share: float
) -> set[tuple[int, int]]:
    """Index pairs whose ground footprints overlap by ``min_share`` of the smaller one."""
    pairs: set[tuple[int, int]] = set()
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            if a not in footprints.corners_m or b not in footprints.corners_m:
                continue
            if footprint_overlap(footprints.corners_m[a], footprints.corners_m[b]) >= min_share:
                pairs.add((i, j))
    return pairs


def image_pairs(
    conf: SfmConfig, images: WorkingImages, database: Path | None = None
) -> tuple[list[tuple[str, str]], str]:
    """Pairs to match and how they were chosen: with GPS, images whose ground footprints
    overlap (a nadir block, features at hand) or else GPS neighbours, plus the next
    images in capture order (catches GPS glitches); the sequence (plus retrieval
    neighbours when the features are at hand); or every pair."""
    names = [r.name for r in images.records]
    n = len(names)
    mode = conf.pairing
    with_gps = [nm for nm in names if nm in images.local_xyz]
    if mode == "auto":
        if len(with_gps) >= 0.8 * n and n > 3:
            mode = "spatial"
        elif n <= conf.exhaustive_max_images:
            mode = "exhaustive"
        else:
            mode = "sequential"
    pairs: set[tuple[int, int]] = set()
    if mode == "exhaustive":
        pairs = {(i, j) for i in range(n) for j in range(i + 1, n)}
    label: str = mode
    footprints = None
    if mode == "spatial" and database is not None and conf.footprint_overlap > 0:
        footprints = estimate_footprints(images, database)
    if mode in ("sequential", "spatial"):
        overlap = conf.sequential_overlap if mode == "sequential" else 2
        overlap = 1 if footprints is not None else overlap
        pairs |= {(i, j) for i in range(n) for j in range(i + 1, min(n, i + 1 + overlap))}
    if mode == "sequential" and database is not None and conf.retrieval_neighbors > 0:
        pairs |= retrieval_neighbours(database, names, 256, conf.retrieval_neighbors)
        label = "sequential+retrieval"
    if footprints is not None:
        pairs |= footprint_pairs(names, footprints, conf.footprint_overlap)
        label = f"footprint (height {footprints.height_m:.0f} m above ground)"
    elif mode == "spatial":
        xy = np.array([images.local_xyz.get(nm, [np.nan] * 3)[:2] for nm in names])
        dist = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
        dist[~np.isfinite(dist)] = np.inf
        np.fill_diagonal(dist, np.inf)
        k = min(conf.spatial_neighbors, n - 1)
        for i in range(n):
            for j in np.argsort(dist[i])[:k]:
                if math.isfinite(dist[i, j]):
                    pairs.add((min(i, int(j)), max(i, int(j))))
    return [(names[i], names[j]) for i, j in sorted(pairs)], label


def run_pairs(
    conf: SfmConfig, images: WorkingImages, work_dir: Path, database: Path | None = None
) -> Path:
    out = work_dir / "pairs.txt"
    if out.exists():
        return out
    pairs, mode = image_pairs(conf, images, database)
    write_text_atomic(out, f"# pairing: {mode}\n" + "".join(f"{a} {b}\n" for a, b in pairs))
    return out


def pairing_mode(pairs_file: Path) -> str:
    first = pairs_file.read_text().splitlines()[0]
    return first.split(":", 1)[1].strip() if first.startswith("#") else "imported"


def run_matches(conf: SfmConfig, database: Path, pairs_file: Path, work_dir: Path) -> Path:
    """Match and geometrically verify the chosen pairs (brute-force SIFT, CPU)."""
    import pycolmap

    done = work_dir / "matches.done"
    if done.exists():
        return done
    quiet_colmap()
    plain = work_dir / "pairs.plain.txt"
    lines = [ln for ln in pairs_file.read_text().splitlines() if ln and not ln.startswith("#")]
    write_text_atomic(plain, "\n".join(lines) + "\n")
    db = pycolmap.Database.open(str(database))
    db.clear_matches()
    db.clear_two_view_geometries()
    db.close()
    pairing = pycolmap.ImportedPairingOptions()
    pairing.match_list_path = str(plain)
    verification = pycolmap.TwoViewGeometryOptions()
    # COLMAP's default seed (-1) draws a new one per run: the verified inliers, and with
    # them small models, then change from run to run and with the machine's load
    verification.ransac.random_seed = conf.seed
    verification.ransac.max_error = conf.verify_max_error_px
    pycolmap.match_image_pairs(
        str(database), pairing_options=pairing, verification_options=verification
    )
    db = pycolmap.Database.open(str(database))
    verified = db.num_verified_image_pairs()
    db.close()
    write_text_atomic(done, json.dumps({"pairs": len(lines), "verified_pairs": verified}))
    return done


def _gps_fit_rmse(rec: Any, images: WorkingImages) -> float:
    """Horizontal RMSE of the camera centres after a similarity to GPS (NaN without GPS):
    the check that a global model is not bent (colmap/glomap#138)."""
    from smartmine.geometry import fit_similarity

    pairs = [
        (np.asarray(img.projection_center()), images.local_xyz[img.name])
        for img in rec.images.values()
        if img.has_pose and img.name in images.local_xyz
    ]
    if len(pairs) < 3:
        return float("nan")
    src = np.array([p[0] for p in pairs])
    dst = np.array([p[1] for p in pairs], dtype=float)
    fit = fit_similarity(src, dst)
    return float(np.sqrt(np.mean(np.sum(fit.residuals[:, :2] ** 2, axis=1))))


def prior_bundle_adjustment(rec: Any, database: Path) -> None:
    """Bundle adjustment with the GPS positions as priors (Cauchy loss: a bad fix does not
    pull the block). Straightens a global model bent into an arc (colmap/glomap#138)."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    priors = db.read_all_pose_priors()
    db.close()
    config = pycolmap.BundleAdjustmentConfig()
    for image_id in rec.reg_image_ids():
        config.add_image(image_id)
    prior_options = pycolmap.PosePriorBundleAdjustmentOptions()
    prior_options.ceres.prior_position_loss_function_type = pycolmap.LossFunctionType.CAUCHY
    prior_options.alignment_ransac.max_error = 15.0
    adjuster = pycolmap.create_pose_prior_bundle_adjuster(
        pycolmap.BundleAdjustmentOptions(), prior_options, config, priors, rec
    )
    adjuster.solve()
    # the points keep the errors of the model before this adjustment otherwise: Seneca's
    # global model then reported 0.43 px where its observations are 0.38 px off
    rec.update_point_3d_errors()


def _global_options(conf: SfmConfig) -> Any:
    """GLOMAP's options with every random seed set (its default, -1, draws a new seed per
    run, so the same images gave models of 41 or 173 points)."""
    import pycolmap

    options = pycolmap.GlobalPipelineOptions()
    options.random_seed = conf.seed
    options.mapper.random_seed = conf.seed
    options.mapper.rotation_averaging.random_seed = conf.seed
    options.mapper.global_positioning.random_seed = conf.seed
    options.mapper.retriangulation.random_seed = conf.seed
    return options


RELAXED = "incremental_relaxed"
"""The third mapper: incremental again, from another initial pair and with lower inlier
limits, for a block where the first two register too few images."""


def _incremental_options(conf: SfmConfig, use_prior: bool, fix_intrinsics: bool) -> Any:
    import pycolmap

    options = pycolmap.IncrementalPipelineOptions()
    options.random_seed = conf.seed
    options.max_num_models = 10  # a sparse block: stop re-seeding hopeless fragments
    options.use_prior_position = use_prior
    options.use_robust_loss_on_prior_position = use_prior
    options.ba_refine_principal_point = False
    if fix_intrinsics:
        options.ba_refine_focal_length = False
        options.ba_refine_extra_params = False
        options.mapper.abs_pose_refine_focal_length = False
        options.mapper.abs_pose_refine_extra_params = False
    return options


def relax(options: Any, init_pair: tuple[int, int] | None) -> None:
    """Lower COLMAP's inlier limits (a weakly textured or weakly overlapping block: the
    defaults, 100 inliers to start and 30 to add an image, leave most of it out) and start
    from ``init_pair`` where given; the phone's distortion may be strong (no |k| cap)."""
    options.mapper.init_min_num_inliers = 40
    options.mapper.abs_pose_min_num_inliers = 15
    options.mapper.init_min_tri_angle = 8.0
    options.min_model_size = 3
    options.max_extra_param = 3.0
    if init_pair is not None:
        options.init_image_id1, options.init_image_id2 = init_pair


def _map(
    conf: SfmConfig,
    mapper: str,
    images: WorkingImages,
    database: Path,
    scratch: Path,
    init_pair: tuple[int, int] | None = None,
) -> Any:
    """The largest model of one mapper (``incremental``, ``global`` or
    :data:`RELAXED`), or None."""
    import pycolmap

    pycolmap.set_random_seed(conf.seed)
    scratch.mkdir(parents=True, exist_ok=True)
    use_prior = conf.use_gps_prior and len(images.local_xyz) >= 3
    if mapper == "global":
        models = pycolmap.global_mapping(
            str(database), str(scratch.parent / "images"), str(scratch), _global_options(conf)
        )
        if use_prior:
            for model in models.values():
                prior_bundle_adjustment(model, database)
    else:
        # With a focal prior the intrinsics stay fixed while the block grows and the
        # distortion is refined once it is whole: a single flight line of nadir images
        # cannot fix the focal length, the BA drifts it out of range, COLMAP then drops
        # every image of that camera and restarts the same model (91 frames: > 20 min,
        # nothing kept)
        fix_first = conf.refine_intrinsics and _all_focal_priors(database)
        options = _incremental_options(conf, use_prior, not conf.refine_intrinsics or fix_first)
        if mapper == RELAXED:
            relax(options, init_pair)
        models = pycolmap.incremental_mapping(
            str(database), str(scratch.parent / "images"), str(scratch), options
        )
        if fix_first:
            priors = database_focal_priors(database)
            models = {k: refine_intrinsics(m, priors) for k, m in models.items()}
    if not models:
        return None
    return max(models.values(), key=lambda r: (r.num_reg_images(), r.num_points3D()))


def _all_focal_priors(database: Path) -> bool:
    import pycolmap

    db = pycolmap.Database.open(str(database))
    cameras = db.read_all_cameras()
    db.close()
    return bool(cameras) and all(c.has_prior_focal_length for c in cameras)


def refine_intrinsics(rec: Any, priors: dict[int, float | None] | None = None) -> Any:
    """The whole block bundle-adjusted once with the distortion free and the focal length
    held at its prior (EXIF, catalog or calibration); the input unchanged where that makes
    the cameras implausible. Over parallel nadir lines the focal trades against the depth
    of the ground below the cameras: neither GPS on the cameras nor GCPs at one level fix
    it (simulated pit, 91 frames: freed, it went 427 -> 175 px without GPS and -> 108 px
    with GPS priors, a 270 s bundle adjustment that did not converge)."""
    import pycolmap

    refined = pycolmap.Reconstruction(rec)
    options = pycolmap.BundleAdjustmentOptions()
    options.print_summary = False
    options.refine_principal_point = False
    options.refine_focal_length = False
    pycolmap.bundle_adjustment(refined, options)
    return refined if _plausible_cameras(refined, priors) else rec


def _plausible_cameras(rec: Any, priors: dict[int, float | None] | None = None) -> bool:
    """False where a camera is implausible against its own prior (mapping/sfm/intrinsics.py:
    focal off its prior by more than 4 sigma, a distortion that folds the image): a planar
    block without focal prior can do that."""
    return judge_intrinsics(rec, priors or {}).verdict != "implausible"
