"""CPU dense matching: semi-global stereo (OpenCV SGBM) on rectified neighbouring views,
fused by multi-pair agreement.

Why this method: COLMAP's PatchMatch needs CUDA. SGBM on a rectified pair costs well under
a second at 800 px on one core and is the classic aerial DSM matcher (Hirschmüller 2008).
Each registered image is paired with up to two neighbours sharing the most sparse points at
a usable baseline; the disparity range comes from those sparse points; a left-right check
drops occlusions and mismatches. Fusion: points from all pairs fall into voxels of about
two working pixels on the ground; where several pairs see a ground column, a voxel is kept
only where ``dense_min_views`` or more of them put a point (the consistency check); a
column only one pair sees keeps that pair's left-right-checked points. Each kept voxel
gives one point, the mean position and colour of its points.

Gross outliers (issue 19: a public drone set gave dense points 500 m below the ground,
from disparities near zero) are removed in layers, each counted:
- per pair, before fusion: depths outside the sparse points' depth range of the left image
  (the range the SGBM disparity search was sized for, with a margin), points behind either
  camera, and rays meeting at less than ``dense_min_triangulation_deg``;
- after fusion: the cross-view check (a point that falls inside other posed images must lie
  inside their sparse depth ranges too; rejected where most of the images seeing it
  disagree), then statistical outlier removal (k-NN mean distance far above the cloud's
  typical one) and radius filtering (too few neighbours within a few voxels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.sfm.config import SfmConfig
from smartmine.progress import progress

F64 = npt.NDArray[np.float64]


@dataclass
class DenseResult:
    points: F64
    colours: npt.NDArray[np.uint8]
    pairs: int
    raw_points: int
    rejected_in_pairs: dict[str, int] = field(default_factory=dict)
    """Pair points dropped before fusion, per check (depth range, behind, angle)."""
    filtered: dict[str, int] = field(default_factory=dict)
    """Fused points dropped after fusion, per check (cross view, statistical, radius)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def points_filtered(self) -> int:
        """Fused points removed as outliers (the report's ``dense_points_filtered``)."""
        return sum(self.filtered.values())


DEPTH_MARGIN_NEAR = 1.25
"""Accepted depths reach the nearest sparse depth (1st percentile) / this: the SGBM search
stops at / 1.15, so nothing real is lost."""
DEPTH_MARGIN_FAR = 0.8
"""... and the farthest (99th percentile) / this; the search reaches / 0.85 (+2 px)."""
SOR_NEIGHBOURS = 8
"""k of the statistical outlier removal (mean distance to the k nearest points)."""
RADIUS_VOXELS = 4.0
"""Radius filter: a point needs ``RADIUS_MIN_NEIGHBOURS`` others within this many voxels."""
RADIUS_MIN_NEIGHBOURS = 3
WARN_FILTERED_SHARE = 0.2
"""A warning when more than this share of the fused points are outliers."""


def opencv_camera(camera: Any, scale: float) -> tuple[F64, F64]:
    """OpenCV K and distortion of a COLMAP camera at ``scale`` of its size."""
    p = list(camera.params)
    model = camera.model_name
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy = p[1], p[2]
        k = [p[3] if len(p) > 3 else 0.0, p[4] if len(p) > 4 else 0.0, 0.0, 0.0]
    elif model in ("PINHOLE", "OPENCV", "FULL_OPENCV"):
        fx, fy, cx, cy = p[:4]
        # OpenCV's order: k1 k2 p1 p2 (OPENCV), then k3 k4 k5 k6 (FULL_OPENCV)
        k = (list(p[4:12]) + [0.0] * 4)[: max(4, len(p) - 4)]
    else:  # unusual models: pinhole approximation
        fx = fy = float(camera.mean_focal_length())
        cx, cy = camera.principal_point_x, camera.principal_point_y
        k = [0.0] * 4
    kmat = np.array(
        [[fx * scale, 0, cx * scale - 0.5], [0, fy * scale, cy * scale - 0.5], [0, 0, 1]]
    )
    return kmat, np.array(k, dtype=float)


def median_point_depth(rec: Any, image: Any, limit: int) -> float | None:
    """Median camera-frame depth of (up to ``limit``) sparse points a posed image sees."""
    pose = image.cam_from_world().matrix()
    zs = [
        (pose[:, :3] @ rec.points3D[p.point3D_id].xyz + pose[:, 3])[2]
        for p in image.points2D
        if p.has_point3D()
    ][:limit]
    return float(np.median(zs)) if zs else None


def sparse_depth_range(rec: Any, image: Any) -> tuple[float, float] | None:
    """The depths (camera frame) a posed image's sparse points span, with the margins the
    dense checks allow: (1st percentile / 1.25, 99th percentile / 0.8); None when the
    image sees fewer than 10 sparse points in front of it."""
    pose = image.cam_from_world().matrix()
    xyz = [rec.points3D[p.point3D_id].xyz for p in image.points2D if p.has_point3D()]
    if len(xyz) < 10:
        return None
    z = (np.asarray(xyz) @ pose[2, :3]) + pose[2, 3]
    z = z[z > 0]
    if len(z) < 10:
        return None
    near, far = np.percentile(z, [1, 99])
    return float(near / DEPTH_MARGIN_NEAR), float(far / DEPTH_MARGIN_FAR)


def choose_partners(rec: Any, max_partners: int = 2) -> dict[int, list[int]]:
    """Per image, the neighbours sharing the most sparse points at a baseline of 5-60 %
    of the scene depth (enough parallax, not too much distortion)."""
    shared: dict[tuple[int, int], int] = {}
    for point in rec.points3D.values():
        ids = sorted({el.image_id for el in point.track.elements})
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1 :]:
                shared[(a, b)] = shared.get((a, b), 0) + 1
    depth: dict[int, float] = {}
    for image_id, image in rec.images.items():
        if image.has_pose:
            depth[image_id] = median_point_depth(rec, image, 500) or 0.0
    partners: dict[int, list[int]] = {}
    for image_id in depth:
        scored = []
        for other in depth:
            if other == image_id:
                continue
            key = (min(image_id, other), max(image_id, other))
            baseline = np.linalg.norm(
                rec.images[image_id].projection_center() - rec.images[other].projection_center()
            )
            ratio = baseline / max(depth[image_id], 1e-9)
            if 0.05 <= ratio <= 0.6:
                # most shared points first; without any, the nearest camera
                scored.append((shared.get(key, 0), -baseline, other))
        partners[image_id] = [o for *_, o in sorted(scored, reverse=True)[:max_partners]]
    return partners


def _load(images_dir: Path, name: str, long_side: int) -> tuple[npt.NDArray[np.uint8], float]:
    import cv2

    image = cv2.imread(str(images_dir / name))
    if image is None:
        raise FileNotFoundError(images_dir / name)
    h, w = image.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s < 1.0:
        image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return np.asarray(image, dtype=np.uint8), s


def stereo_pair(
    rec: Any, id1: int, id2: int, images_dir: Path, long_side: int, min_angle_deg: float = 0.0
) -> tuple[F64, npt.NDArray[np.uint8], dict[str, int]]:
    """World points and BGR colours from one rectified pair (left-right checked, then the
    geometric checks of ``pair_geometry_ok``), and how many points each check dropped."""
    import cv2

    im1, im2 = rec.images[id1], rec.images[id2]
    img1, s1 = _load(images_dir, im1.name, long_side)
    img2, s2 = _load(images_dir, im2.name, long_side)
    if img1.shape != img2.shape:
        img2 = np.asarray(
            cv2.resize(img2, (img1.shape[1], img1.shape[0]), interpolation=cv2.INTER_AREA),
            dtype=np.uint8,
        )
        s2 = img1.shape[1] / im2.camera.width
    k1, d1 = opencv_camera(im1.camera, s1)
    k2, d2 = opencv_camera(im2.camera, s2)
    p1w, p2w = im1.cam_from_world().matrix(), im2.cam_from_world().matrix()
    rel_r = p2w[:, :3] @ p1w[:, :3].T
    rel_t = p2w[:, 3] - rel_r @ p1w[:, 3]
    size = (img1.shape[1], img1.shape[0])
    r1, r2, pr1, pr2, _, _, _ = cv2.stereoRectify(
        k1,
        d1.reshape(1, -1),
        k2,
        d2.reshape(1, -1),
        size,
        rel_r,
        rel_t.reshape(3, 1),
        flags=cv2.CALIB_ZERO_DISPARITY,
        alpha=0,
    )
    m1 = cv2.initUndistortRectifyMap(k1, d1, r1, pr1, size, cv2.CV_32FC1)
    m2 = cv2.initUndistortRectifyMap(k2, d2, r2, pr2, size, cv2.CV_32FC1)
    rect1 = cv2.remap(img1, m1[0], m1[1], cv2.INTER_LINEAR)
    rect2 = cv2.remap(img2, m2[0], m2[1], cv2.INTER_LINEAR)
    f, cx, cy = pr1[0, 0], pr1[0, 2], pr1[1, 2]
    vertical = abs(pr2[1, 3]) > abs(pr2[0, 3])
    tx = pr2[1, 3] if vertical else pr2[0, 3]
    baseline = abs(tx) / f
    flip = tx > 0  # camera 2 on the "left": mirror so disparities are positive

    def to_t(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        a = np.swapaxes(a, 0, 1) if vertical else a
        return np.ascontiguousarray(a[:, ::-1] if flip else a)

    def from_t(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
        a = a[:, ::-1] if flip else a
        return np.ascontiguousarray(np.swapaxes(a, 0, 1) if vertical else a)

    # disparity range from the sparse points image 1 sees (else all points in front of it)
    pts = [rec.points3D[p.point3D_id].xyz for p in im1.points2D if p.has_point3D()]
    if len(pts) < 20:
        pts = [p.xyz for p in rec.points3D.values()]
    depths = np.array([(p1w[:, :3] @ x + p1w[:, 3])[2] for x in pts]) if pts else np.array([])
    depths = depths[depths > 0]
    if len(depths) < 10:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.uint8), {}
    d_hi = f * baseline / np.percentile(depths, 1) * 1.15
    d_lo = max(f * baseline / np.percentile(depths, 99) * 0.85 - 2, 0)
    min_disp = int(np.floor(d_lo))
    num_disp = int(np.ceil((d_hi - min_disp) / 16.0)) * 16
    num_disp = int(min(max(num_disp, 16), 256))
    block = 5
    sgbm = cv2.StereoSGBM.create(
        minDisparity=min_disp,
        numDisparities=num_disp,
        blockSize=block,
        P1=8 * 3 * block**2,
        P2=32 * 3 * block**2,
        disp12MaxDiff=1,
        uniquenessRatio=10,
        speckleWindowSize=100,
        speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )
    left, right = to_t(rect1), to_t(rect2)
    room = left.shape[1] - 4 * block - min_disp  # the overlap, in pixels
    num_disp = min(num_disp, room // 16 * 16)  # short overlap: the nearest heights are lost
    if num_disp < 32:  # views hardly overlap
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.uint8), {}
    sgbm.setNumDisparities(num_disp)
    disp = sgbm.compute(left, right).astype(np.float32) / 16.0
    right_matcher = cv2.ximgproc.createRightMatcher(sgbm)
    disp_r = right_matcher.compute(right, left).astype(np.float32) / 16.0
    h, w = disp.shape
    xs = np.arange(w)[None, :].repeat(h, 0)
    xr = np.clip(np.round(xs - disp).astype(int), 0, w - 1)
    back = -np.take_along_axis(disp_r, xr, axis=1)
    valid = (disp > min_disp) & (np.abs(disp - back) <= 1.0)
    valid &= (left.sum(axis=2) > 0) if left.ndim == 3 else left > 0
    disp = np.where(valid, disp, np.nan)
    disp = from_t(disp)
    rows, cols = np.nonzero(np.isfinite(disp))
    d = disp[rows, cols]
    z = f * baseline / d
    x = (cols - cx) * z / f
    y = (rows - cy) * z / f
    cam_rect = np.column_stack([x, y, z])
    cam1 = cam_rect @ r1  # rectified -> camera-1 frame (R1 maps camera 1 to rectified)
    world = (cam1 - p1w[:, 3]) @ p1w[:, :3]
    colours = np.asarray(rect1[rows, cols], dtype=np.uint8)
    depth_range = (
        float(np.percentile(depths, 1) / DEPTH_MARGIN_NEAR),
        float(np.percentile(depths, 99) / DEPTH_MARGIN_FAR),
    )
    keep, rejected = pair_geometry_ok(world, p1w, p2w, depth_range, min_angle_deg)
    return np.asarray(world[keep], dtype=np.float64), colours[keep], rejected


def pair_geometry_ok(
    world: F64,
    pose1: F64,
    pose2: F64,
    depth_range: tuple[float, float],
    min_angle_deg: float,
) -> tuple[npt.NDArray[np.bool_], dict[str, int]]:
    """Which triangulated points of a pair are geometrically sane: in front of both
    cameras, at a depth (camera 1) inside ``depth_range`` (the sparse points' range that
    sized the disparity search: a disparity near zero puts a point hundreds of metres
    away), and seen under rays that meet at ``min_angle_deg`` or more (a narrower angle
    makes the depth mostly noise). Counts are per check, each point counted once, in
    this order."""
    z1 = world @ pose1[2, :3] + pose1[2, 3]
    z2 = world @ pose2[2, :3] + pose2[2, 3]
    behind = (z1 <= 0) | (z2 <= 0)
    out_of_range = ~behind & ((z1 < depth_range[0]) | (z1 > depth_range[1]))
    c1 = -pose1[:, :3].T @ pose1[:, 3]
    c2 = -pose2[:, :3].T @ pose2[:, 3]
    ray1, ray2 = world - c1, world - c2
    cos = np.einsum("ij,ij->i", ray1, ray2) / np.maximum(
        np.linalg.norm(ray1, axis=1) * np.linalg.norm(ray2, axis=1), 1e-12
    )
    narrow = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))) < min_angle_deg
    narrow &= ~behind & ~out_of_range
    keep = ~(behind | out_of_range | narrow)
    counts = {
        "behind_camera": int(behind.sum()),
        "outside_sparse_depth_range": int(out_of_range.sum()),
        "narrow_triangulation_angle": int(narrow.sum()),
    }
    return keep, counts


def run_dense(conf: SfmConfig, rec: Any, images_dir: Path, voxel_m: float) -> DenseResult:
    """Dense points (model frame) and RGB colours, fused over all stereo pairs, gross
    outliers removed and counted (see the module docstring)."""
    partners = choose_partners(rec)
    pairs = sorted({(min(a, b), max(a, b)) for a, bs in partners.items() for b in bs})
    chunks: list[F64] = []
    colours: list[npt.NDArray[np.uint8]] = []
    labels: list[npt.NDArray[np.int64]] = []
    rejected: dict[str, int] = {}
    for index, (a, b) in enumerate(progress(pairs, total=len(pairs), desc="dense", unit="pair")):
        try:
            pts, cols, dropped = stereo_pair(
                rec, a, b, images_dir, conf.dense_max_px, conf.dense_min_triangulation_deg
            )
        except Exception:  # a pair that cannot be rectified is skipped, not fatal
            continue
        for key, count in dropped.items():
            rejected[key] = rejected.get(key, 0) + count
        chunks.append(pts)
        colours.append(cols)
        labels.append(np.full(len(pts), index))
    if not chunks or not sum(len(c) for c in chunks):
        empty = np.zeros((0, 3))
        return DenseResult(empty, np.zeros((0, 3), np.uint8), len(pairs), 0, rejected)
    points = np.concatenate(chunks)
    rgb = np.concatenate(colours)[:, ::-1]
    mean, mean_rgb = fuse(points, rgb, np.concatenate(labels), voxel_m, conf.dense_min_views)
    keep, filtered = filter_fused(mean, rec, voxel_m)
    raw = len(points) + sum(rejected.values())
    result = DenseResult(mean[keep], mean_rgb[keep], len(pairs), raw, rejected, filtered)
    share = result.points_filtered / max(len(mean), 1)
    if share > WARN_FILTERED_SHARE:
        detail = ", ".join(f"{k} {v}" for k, v in filtered.items())
        result.warnings.append(
            f"dense: {100 * share:.0f} % of the fused points were gross outliers and were "
            f"removed ({detail}); the poses or the stereo pairs are doubtful"
        )
    return result


def fuse(
    points: F64,
    rgb: npt.NDArray[np.uint8],
    pair_of: npt.NDArray[np.int64],
    voxel_m: float,
    min_views: int,
) -> tuple[F64, npt.NDArray[np.uint8]]:
    """One point per kept voxel (mean position and colour); see the module docstring."""
    keys = np.floor(points / voxel_m).astype(np.int64)
    _, voxel, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    voxel = voxel.ravel()
    # distinct pairs per voxel
    vp = np.unique(np.column_stack([voxel, pair_of]), axis=0)
    pairs_per_voxel = np.bincount(vp[:, 0], minlength=len(counts))
    # where several pairs see a ground column they must agree (same voxel); where only
    # one pair sees it, its left-right-checked points stand
    col_keys = np.unique(keys[:, :2], axis=0, return_inverse=True)[1].ravel()
    cp = np.unique(np.column_stack([col_keys, pair_of]), axis=0)
    pairs_per_column = np.bincount(cp[:, 0])
    column_of_voxel = np.zeros(len(counts), dtype=np.int64)
    column_of_voxel[voxel] = col_keys
    keep_voxel = (pairs_per_voxel >= min_views) | (pairs_per_column[column_of_voxel] < min_views)
    n = len(counts)
    sums = np.zeros((n, 3))
    np.add.at(sums, voxel, points)
    csum = np.zeros((n, 3))
    np.add.at(csum, voxel, rgb.astype(float))
    mean = sums[keep_voxel] / counts[keep_voxel, None]
    mean_rgb = (csum[keep_voxel] / counts[keep_voxel, None]).round().astype(np.uint8)
    return mean, mean_rgb


def filter_fused(
    points: F64, rec: Any, voxel_m: float
) -> tuple[npt.NDArray[np.bool_], dict[str, int]]:
    """Which fused points survive the cross-view depth check, then statistical outlier
    removal and the radius filter; counts per check (each point counted once)."""
    keep = cross_view_consistent(points, rec)
    counts = {"cross_view_depth": int((~keep).sum())}
    kept = np.nonzero(keep)[0]
    sor, radius = neighbourhood_outliers(points[kept], voxel_m)
    counts["statistical"] = int(sor.sum())
    counts["radius"] = int(radius.sum())
    keep[kept[sor | radius]] = False
    return keep, counts


def cross_view_consistent(points: F64, rec: Any) -> npt.NDArray[np.bool_]:
    """A point must lie inside the sparse depth range (``sparse_depth_range``) of the posed
    images it falls in: where at least half of those images put it nearer or farther than
    anything their sparse points show, it is a mismatch (a wrong pair, a disparity near
    zero), not terrain. Points no image with a depth range sees are kept."""
    seen = np.zeros(len(points), dtype=np.int32)
    outside = np.zeros(len(points), dtype=np.int32)
    homogeneous = np.column_stack([points, np.ones(len(points))])
    for image in rec.images.values():
        if not image.has_pose:
            continue
        depth_range = sparse_depth_range(rec, image)
        if depth_range is None:
            continue
        kmat, _ = opencv_camera(image.camera, 1.0)
        uvz = homogeneous @ (kmat @ image.cam_from_world().matrix()).T  # z: camera depth
        z = uvz[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u, v = uvz[:, 0] / z, uvz[:, 1] / z
            inside = (z > 0) & (u >= 0) & (u < image.camera.width)
            inside &= (v >= 0) & (v < image.camera.height)
        seen += inside
        outside += inside & ((z < depth_range[0]) | (z > depth_range[1]))
    return ~((outside > 0) & (2 * outside >= seen))


def neighbourhood_outliers(
    points: F64, voxel_m: float
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Statistical outliers (mean distance to the k nearest points above the cloud's median
    by 5 robust sigmas, and at least 3 times the median) and radius outliers (fewer than
    ``RADIUS_MIN_NEIGHBOURS`` others within ``RADIUS_VOXELS`` voxels). A fused surface has
    neighbours about a voxel apart; a stray point floats alone."""
    none = np.zeros(len(points), dtype=bool)
    if len(points) <= SOR_NEIGHBOURS:
        return none, none.copy()
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(points, k=SOR_NEIGHBOURS + 1)
    mean = dist[:, 1:].mean(axis=1)
    median = float(np.median(mean))
    sigma = 1.4826 * float(np.median(np.abs(mean - median)))
    sor = mean > max(median + 5.0 * sigma, 3.0 * median)
    radius = ~sor & (dist[:, RADIUS_MIN_NEIGHBOURS] > RADIUS_VOXELS * voxel_m)
    return sor, radius
