"""RGB-D odometry: ORB features + PnP for a robust start, then one Gauss-Newton over
dense point-to-plane ICP (quarter resolution, coarse to fine) and the 3D feature
matches together, with an optional gyro rotation prior.

Why both terms: a drift is geometrically degenerate along its axis (a straight tube
slides onto itself) and photometrically bland in places; features fix the slide where
there is texture, geometry holds the pose where there is none. The Hessian of the joint
problem says how well each direction is constrained, which becomes the information
matrix of the pose-graph edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.slam.frame import (
    F32Array,
    F64Array,
    Pinhole,
    RgbdFrame,
    level_points,
    normals_of,
)
from mapping.slam.kernels import (
    guided_matches,
    icp_normal_equations,
    support_sums,
    valid_points,
)
from smartmine.geometry import matrix_to_rotvec, rotvec_to_matrix, transform_from_twist


@dataclass(frozen=True)
class OdometryConfig:
    """Tuning of the tracker; the defaults suit 640×480 RGB-D at 5–30 Hz."""

    orb_features: int = 1000
    min_depth_m: float = 0.2
    max_depth_m: float = 20.0
    pnp_min_inliers: int = 15
    pnp_reproj_px: float = 2.0
    ratio: float = 0.8
    icp_levels: tuple[int, ...] = (8, 4)
    """Downsampling factors of the dense ICP, coarse to fine."""
    icp_iterations: tuple[int, ...] = (6, 3)
    icp_max_dist_m: float = 0.3
    huber_m: float = 0.02
    feature_weight: float = 100.0
    gyro_weight: float = 1e4
    motion_prior_weight: float = 0.0
    """Pull toward the predicted motion (constant velocity), per metre and radian. Off:
    measured on the simulator drift (300 frames) 30 raised ATE from 0.06 to 0.55 m (a
    robot starting from rest is predicted to stay there)."""
    photometric_weight: float = 0.0
    """Weight of grey-level residuals (0-1 units) against ICP metres; 0 switches it off.
    Off by default: under the robot's own light a drift looks alike metre after metre
    (measured on the simulator: 0.25 shrank the tracked motion tenfold)."""
    huber_intensity: float = 0.04
    min_icp_points: int = 300
    min_icp_fraction: float = 0.2
    """Share of the current frame's depth points ICP must pair with the reference: a
    garbage frame (random depth) pairs a few percent by chance, under a 0.08 m rmse."""
    max_rmse_m: float = 0.08
    guided_radius_px: float = 0.0
    """Match features only within this radius (at 640 px width) of where the predicted
    motion puts them, all against all as the fallback; 0: always all against all. Off
    by default: 24 px cut tracking from 11.3 to 7.8 CPU ms a frame, but on the simulator
    drift (922 frames, 146 m) ATE rose from 0.15 to 0.21 m (full SLAM) and from 0.31 to
    0.56 m (frame-to-frame), while the per-pair errors against the truth stayed alike
    (RPE 1 m 0.0094 vs 0.0096 m)."""
    guided_max_bits: int = 64
    """Largest Hamming distance (of 256 bits) of a guided match."""
    guided_min_inliers: int = 30
    """Fewer PnP inliers from guided matches than this: match all against all instead."""
    # -- slamreal (issue 19): refuse what the frames cannot support ---------------------
    support_level: int = 4
    """Downsampling (at 640 px width) of the support check after the estimate."""
    min_overlap: float = 0.15
    """Share of the current frame's depth points that, moved by the estimate, land inside
    the reference image on a pixel with depth (the predicted overlap of the frustums).
    Measured on the real Kinect pairs: true pairs 0.20-0.93."""
    min_depth_agreement: float = 0.45
    """Of those overlapping points, the share whose depth agrees with the reference's
    within ``agreement_m + agreement_rel * z``. Measured on the real Kinect frames: true
    pairs 0.49-0.93, pairs with no overlap in the truth that ICP slid into place
    0.34-0.41 (docs/notes/issue-19-slamreal.md)."""
    agreement_m: float = 0.03
    agreement_rel: float = 0.03
    min_ncc: float = 0.5
    """Normalised cross-correlation of the grey levels at the agreeing points (a check the
    estimate did not optimise). True Kinect pairs 0.96-0.99; no-overlap pairs -0.7-0.8."""
    min_inlier_hull: float = 0.02
    """Feature inliers count as support only when their convex hull covers this share of
    the image (a tight cluster of matches fixes the pose poorly)."""


@dataclass
class TrackedFrame:
    """What tracking keeps of a frame: features with depth and the ICP pyramid."""

    index: int
    stamp_ns: int
    keypoints_px: F64Array
    descriptors: npt.NDArray[np.uint8]
    points_cam: F64Array
    """(N, 3) feature points in the camera frame; NaN rows where depth is missing."""
    levels: dict[int, tuple[F32Array, F32Array]] = field(repr=False)
    """factor -> (points (H, W, 3), normals (H, W, 3)) at that downsampling."""
    intensity: dict[int, F32Array] = field(default_factory=dict, repr=False)
    """factor -> grey image in [0, 1], area-averaged to that size (photometric term)."""


@dataclass
class OdometryResult:
    """The motion ``T_ref_cur`` and how much to trust it."""

    T_ref_cur: F64Array
    ok: bool
    feature_inliers: int
    icp_points: int
    rmse_m: float
    information: F64Array
    """6×6 information of the pose (rotation first), from the Gauss-Newton Hessian."""
    reason: str = ""
    support: Support | None = None
    """The checks of the estimate against the frames (None: not reached)."""


@dataclass(frozen=True)
class Support:
    """How well the frames support an estimate ``T_ref_cur`` (see ``support_of``)."""

    overlap: float
    """Share of the current depth points landing on reference pixels with depth."""
    depth_agreement: float
    """Of those, the share whose depth agrees with the reference's."""
    ncc: float
    """Grey-level correlation over the agreeing points (NaN: too few, or no texture)."""
    inlier_hull: float
    """Convex hull of the feature inliers in the current image / image area."""
    inlier_ratio: float
    """Feature inliers / descriptor matches (0 without matches)."""

    def refusal(self, config: OdometryConfig) -> str:
        """Why the estimate is refused ('' when it is supported)."""
        if self.overlap < config.min_overlap:
            return f"overlap {self.overlap:.0%} of the depth points (< {config.min_overlap:.0%})"
        if self.depth_agreement < config.min_depth_agreement:
            return (
                f"depth agrees on {self.depth_agreement:.0%} of the overlap "
                f"(< {config.min_depth_agreement:.0%})"
            )
        if self.ncc < config.min_ncc:  # NaN (no texture to compare) passes
            return f"grey levels correlate {self.ncc:.2f} (< {config.min_ncc:.2f})"
        return ""


@dataclass
class FeatureFit:
    """Feature PnP: ``T_ref_cur`` (None when it failed) and the inlier pairs."""

    T_ref_cur: F64Array | None
    i_ref: Any
    j_cur: Any
    matches: int = 0
    """Descriptor matches the PnP started from (for the inlier ratio)."""

    @property
    def inliers(self) -> int:
        return len(self.i_ref)


PRESETS: dict[str, OdometryConfig] = {
    "live": OdometryConfig(),
    "wide": OdometryConfig(orb_features=2000, icp_iterations=(8, 4)),
}
"""``live``: 30 Hz camera, small baselines (speed first). ``wide``: frames far apart
(low frame rates, keyframe sets such as slambook's joinMap): more features and
iterations."""


def orb_pixels(keypoints: Any, width: int, height: int, scale_factor: float) -> F64Array:
    """(N, 2) pixel coordinates (centres at integers) of OpenCV ORB ``keypoints``.

    ORB detects on a pyramid of images resized to ``round(width / s)`` with s =
    ``scale_factor ** octave`` and reports a level's pixel ``x`` as ``x * s``. Resizing
    keeps pixel centres aligned, so the full-image coordinate is ``(x + 0.5) * width /
    round(width / s) - 0.5``: the reported one lies up to 1.3 px (octave 7) up and left
    of it, in every frame alike. Uncorrected, that offset biased the odometry against
    the simulator's truth (see docs/notes/issue-11-odometry-bias.md).
    """
    out = np.empty((len(keypoints), 2), dtype=np.float64)
    for i, k in enumerate(keypoints):
        x, y = k.pt
        if k.octave > 0:
            s = scale_factor**k.octave
            x = (x / s + 0.5) * width / round(width / s) - 0.5
            y = (y / s + 0.5) * height / round(height / s) - 0.5
        out[i] = x, y
    return out


class FeatureExtractor:
    """ORB keypoints and descriptors with their 3D points from depth."""

    def __init__(self, config: OdometryConfig) -> None:
        import cv2

        self.config = config
        self.orb = cv2.ORB.create(nfeatures=config.orb_features, fastThreshold=12)
        self.orb_low = cv2.ORB.create(nfeatures=config.orb_features, fastThreshold=4)
        self.bland = False
        # brute force, not FLANN's LSH: LSH is ~3x faster at 1-2k descriptors but draws its
        # hash tables at random, so two runs over the same bag gave trajectories 1 m apart
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)

    def extract(self, frame: RgbdFrame, cam: Pinhole) -> TrackedFrame:
        gray = frame.gray
        # bland images need a lower FAST bar; remember which one the last frame needed
        enough = self.config.orb_features // 4
        kps, desc = (self.orb_low if self.bland else self.orb).detectAndCompute(gray, None)
        if not self.bland and len(kps) < enough:
            kps, desc = self.orb_low.detectAndCompute(gray, None)
            self.bland = True
        elif self.bland and len(kps) >= self.config.orb_features:
            self.bland = False  # texture is back: the normal bar from the next frame on
        px = orb_pixels(kps, gray.shape[1], gray.shape[0], self.orb.getScaleFactor())
        descriptors: npt.NDArray[np.uint8] = (
            np.zeros((0, 32), np.uint8) if desc is None else np.asarray(desc, np.uint8)
        )
        depth = frame.depth_m
        ui = np.clip(np.round(px[:, 0]).astype(int), 0, cam.width - 1)
        vi = np.clip(np.round(px[:, 1]).astype(int), 0, cam.height - 1)
        z = depth[vi, ui].astype(np.float64)
        good = (z > self.config.min_depth_m) & (z < self.config.max_depth_m)
        pts = np.full((len(px), 3), np.nan)
        pts[good] = cam.rays(px[good]) * z[good, None]
        levels = {}
        for factor in {*self.config.icp_levels, self.config.support_level}:
            points = level_points(depth, factor, cam, self.config.max_depth_m)
            levels[factor] = (points, normals_of(points))
        import cv2

        intensity = {}
        wanted = {self.config.support_level}  # the support check's grey levels, always
        if self.config.photometric_weight > 0:
            wanted |= set(self.config.icp_levels)
        for factor in wanted:
            small_gray = cv2.resize(
                gray, (cam.width // factor, cam.height // factor), interpolation=cv2.INTER_AREA
            )
            intensity[factor] = small_gray.astype(np.float32) / 255.0
        return TrackedFrame(frame.index, frame.stamp_ns, px, descriptors, pts, levels, intensity)

    def guided(
        self, ref: TrackedFrame, cur: TrackedFrame, T_ref_cur: F64Array, cam: Pinhole
    ) -> tuple[Any, Any]:
        """Indices of matches (ref, cur) searched near each ref point's predicted pixel:
        ~10x cheaper than all against all, and fewer look-alikes to confuse."""
        if len(ref.descriptors) == 0 or len(cur.descriptors) == 0:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        radius = self.config.guided_radius_px * cam.width / 640.0
        return guided_matches(  # type: ignore[no-any-return]
            np.ascontiguousarray(ref.descriptors).view(np.uint64),
            ref.points_cam,
            np.ascontiguousarray(cur.descriptors).view(np.uint64),
            cur.keypoints_px,
            np.ascontiguousarray(T_ref_cur, dtype=np.float64),
            cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height,
            radius, self.config.ratio, self.config.guided_max_bits,
        )  # fmt: skip

    def match(self, ref: TrackedFrame, cur: TrackedFrame) -> tuple[Any, Any]:
        """Indices of descriptor matches (ref, cur) passing Lowe's ratio test."""
        if len(ref.descriptors) < 2 or len(cur.descriptors) < 2:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        knn = self.matcher.knnMatch(ref.descriptors, cur.descriptors, k=2)
        knn = [p for p in knn if len(p) == 2]
        ratio = self.config.ratio
        matches = [p[0] for p in knn if len(p) == 2 and p[0].distance < ratio * p[1].distance]
        i = np.array([m.queryIdx for m in matches], dtype=int)
        j = np.array([m.trainIdx for m in matches], dtype=int)
        return i, j


def pnp(
    ref: TrackedFrame,
    cur: TrackedFrame,
    i_ref: Any,
    j_cur: Any,
    cam: Pinhole,
    config: OdometryConfig,
    min_inliers: int = 0,
) -> tuple[F64Array | None, Any, Any]:
    """``T_ref_cur`` from ref 3D points seen at cur pixels (RANSAC), with inlier pairs.
    Fewer matches than ``min_inliers`` (or the config's) fail at once: RANSAC over a
    loop candidate's mostly wrong matches costs ~5 ms."""
    import cv2

    have = np.isfinite(ref.points_cam[i_ref, 0])
    i_ref, j_cur = i_ref[have], j_cur[have]
    if len(i_ref) < max(config.pnp_min_inliers, min_inliers):
        return None, i_ref[:0], j_cur[:0]
    cv2.setRNGSeed(len(i_ref))  # same input, same RANSAC samples: runs repeat exactly
    try:
        ok, rvec, tvec, inliers = cv2.solvePnPRansac(
            ref.points_cam[i_ref].astype(np.float64),
            cur.keypoints_px[j_cur].astype(np.float64),
            cam.k,
            None,
            iterationsCount=500,
            reprojectionError=config.pnp_reproj_px,
            confidence=0.999,
            flags=cv2.SOLVEPNP_SQPNP,
        )
    except cv2.error:  # degenerate point sets (all on a line, or coincident)
        return None, i_ref[:0], j_cur[:0]
    if not ok or inliers is None or len(inliers) < config.pnp_min_inliers:
        return None, i_ref[:0], j_cur[:0]
    inl = inliers.reshape(-1)
    rvec, tvec = cv2.solvePnPRefineLM(
        ref.points_cam[i_ref[inl]], cur.keypoints_px[j_cur[inl]], cam.k, None, rvec, tvec
    )
    T_cur_ref = np.eye(4)
    T_cur_ref[:3, :3] = rotvec_to_matrix(np.asarray(rvec, dtype=np.float64).reshape(3))
    T_cur_ref[:3, 3] = tvec.reshape(3)
    return np.asarray(np.linalg.inv(T_cur_ref), dtype=np.float64), i_ref[inl], j_cur[inl]


def _icp_terms(
    ref_pts: F32Array,
    ref_nrm: F32Array,
    cur_pts: F32Array,
    cam: Pinhole,
    T: F64Array,
    max_dist_m: float,
) -> tuple[F64Array, F64Array]:
    """Point-to-plane rows: Jacobian (M, 6) and residuals (M,) of cur→ref projective data
    association at the current estimate ``T`` (= T_ref_cur). ``cur_pts`` is an image of
    points (H, W, 3) or the valid points already gathered (N, 3)."""
    if cur_pts.ndim == 3:
        cur_pts = cur_pts[cur_pts[:, :, 2] > 0]
    p = cur_pts.astype(np.float64)
    q = p @ T[:3, :3].T + T[:3, 3]
    z = q[:, 2]
    front = z > 1e-3
    q = q[front]
    z = z[front]
    u = np.round(q[:, 0] / z * cam.fx + cam.cx).astype(np.int64)
    v = np.round(q[:, 1] / z * cam.fy + cam.cy).astype(np.int64)
    inside = (u >= 0) & (u < ref_pts.shape[1]) & (v >= 0) & (v < ref_pts.shape[0])
    q, u, v = q[inside], u[inside], v[inside]
    target = ref_pts[v, u].astype(np.float64)
    normal = ref_nrm[v, u].astype(np.float64)
    good = (target[:, 2] > 0) & (np.abs(normal).sum(axis=1) > 0)
    diff = q[good] - target[good]
    normal = normal[good]
    q = q[good]
    close = np.linalg.norm(diff, axis=1) < max_dist_m
    diff, normal, q = diff[close], normal[close], q[close]
    residual = (diff * normal).sum(axis=1)
    jac = np.hstack([np.cross(q, normal), normal])
    return jac, residual


def _photometric_terms(
    ref_gray: F32Array, cur_gray: F32Array, cur_pts: F32Array, cam: Pinhole, T: F64Array
) -> tuple[F64Array, F64Array]:
    """Grey-level rows: ``I_ref(π(T p)) - I_cur(u)`` over current pixels with depth."""
    h, w = ref_gray.shape
    valid = cur_pts[:, :, 2] > 0
    p = cur_pts[valid].astype(np.float64)
    i_cur = cur_gray[valid].astype(np.float64)
    q = p @ T[:3, :3].T + T[:3, 3]
    z = q[:, 2]
    front = z > 1e-3
    q, z, i_cur = q[front], z[front], i_cur[front]
    u = q[:, 0] / z * cam.fx + cam.cx
    v = q[:, 1] / z * cam.fy + cam.cy
    inside = (u >= 1) & (u < w - 2) & (v >= 1) & (v < h - 2)
    q, z, u, v, i_cur = q[inside], z[inside], u[inside], v[inside], i_cur[inside]
    u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    a, b = u - u0, v - v0
    img = ref_gray

    def sample(du: int, dv: int) -> F64Array:
        uu, vv = u0 + du, v0 + dv
        return np.asarray(
            (1 - a) * (1 - b) * img[vv, uu]
            + a * (1 - b) * img[vv, uu + 1]
            + (1 - a) * b * img[vv + 1, uu]
            + a * b * img[vv + 1, uu + 1],
            dtype=np.float64,
        )

    i_ref = sample(0, 0)
    gx = 0.5 * (sample(1, 0) - sample(-1, 0))
    gy = 0.5 * (sample(0, 1) - sample(0, -1))
    # a = dI/dq = [gx, gy] · dπ/dq
    ax = gx * cam.fx / z
    ay = gy * cam.fy / z
    az = -(ax * q[:, 0] + ay * q[:, 1]) / z
    grad = np.stack([ax, ay, az], axis=1)
    jac = np.hstack([np.cross(q, grad), grad])
    return jac, i_ref - i_cur


def _reprojection_terms(
    p_ref: F64Array, px_cur: F64Array, cam: Pinhole, T: F64Array
) -> tuple[F64Array, F64Array]:
    """Rows (2M, 6) and residuals (2M,) of ref points reprojected into cur, in pixels,
    for the left perturbation ``exp(δ) T`` of ``T`` = T_ref_cur."""
    R, t = T[:3, :3], T[:3, 3]
    q = (p_ref - t) @ R  # R^T (p - t): the points in the current camera
    z = np.maximum(q[:, 2], 1e-6)
    res = np.empty(2 * len(q))
    res[0::2] = cam.fx * q[:, 0] / z + cam.cx - px_cur[:, 0]
    res[1::2] = cam.fy * q[:, 1] / z + cam.cy - px_cur[:, 1]
    d_proj = np.zeros((len(q), 2, 3))
    d_proj[:, 0, 0] = cam.fx / z
    d_proj[:, 0, 2] = -cam.fx * q[:, 0] / z**2
    d_proj[:, 1, 1] = cam.fy / z
    d_proj[:, 1, 2] = -cam.fy * q[:, 1] / z**2
    # dq/dω = R^T [p]x, dq/dv = -R^T
    skew = np.zeros((len(q), 3, 3))
    skew[:, 0, 1], skew[:, 0, 2] = -p_ref[:, 2], p_ref[:, 1]
    skew[:, 1, 0], skew[:, 1, 2] = p_ref[:, 2], -p_ref[:, 0]
    skew[:, 2, 0], skew[:, 2, 1] = -p_ref[:, 1], p_ref[:, 0]
    d_q = np.concatenate([R.T @ skew, np.broadcast_to(-R.T, (len(q), 3, 3))], axis=2)
    jac = (d_proj @ d_q).reshape(-1, 6)
    return jac, res


def refine(
    ref: TrackedFrame,
    cur: TrackedFrame,
    cam: Pinhole,
    T_init: F64Array,
    pairs: tuple[Any, Any],
    config: OdometryConfig,
    gyro_R_ref_cur: F64Array | None = None,
    T_prior: F64Array | None = None,
) -> OdometryResult:
    """Joint Gauss-Newton (dense ICP + feature reprojections + gyro and motion priors)
    from ``T_init``."""
    T = T_init.copy()
    i_ref, j_cur = pairs
    f_ref = ref.points_cam[i_ref]
    f_px = cur.keypoints_px[j_cur]
    H = np.zeros((6, 6))
    n_icp = 0
    rmse = np.inf
    for factor, iterations in zip(config.icp_levels, config.icp_iterations, strict=True):
        ref_pts, ref_nrm = ref.levels[factor]
        cur_img, _ = cur.levels[factor]
        cur_pts = valid_points(cur_img)
        lcam = cam.scaled(factor)
        for it in range(iterations):
            dist = (
                config.icp_max_dist_m
                if it or factor != config.icp_levels[0]
                else 2 * config.icp_max_dist_m
            )
            # the compiled form of _icp_terms and its Huber-weighted normal equations
            H, g, n_icp, squares = icp_normal_equations(
                ref_pts, ref_nrm, cur_pts, T, lcam.fx, lcam.fy, lcam.cx, lcam.cy, dist,
                config.huber_m,
            )  # fmt: skip
            rmse = float(np.sqrt(squares / n_icp)) if n_icp else np.inf
            if config.photometric_weight > 0 and factor in ref.intensity:
                jp, rp = _photometric_terms(
                    ref.intensity[factor], cur.intensity[factor], cur_img, lcam, T
                )
                wp = np.where(
                    np.abs(rp) < config.huber_intensity,
                    1.0,
                    config.huber_intensity / np.maximum(np.abs(rp), 1e-12),
                )
                wp *= config.photometric_weight
                H += (jp * wp[:, None]).T @ jp
                g += (jp * wp[:, None]).T @ rp
            if len(f_ref):
                jf, rf = _reprojection_terms(f_ref, f_px, cam, T)
                err = np.sqrt(rf[0::2] ** 2 + rf[1::2] ** 2)
                wf = np.where(err < 2.0, 1.0, 2.0 / np.maximum(err, 1e-12)).repeat(2)
                # pixels against metres: a 1 px feature residual weighs like 1 cm of ICP,
                # and the dense ICP rows (correlated neighbours) count for fewer points
                wf = wf * config.feature_weight * 1e-4 * max(n_icp, 1) / 1000
                H += (jf * wf[:, None]).T @ jf
                g += (jf * wf[:, None]).T @ rf
            if T_prior is not None and config.motion_prior_weight > 0:
                wm = config.motion_prior_weight
                H += wm * np.eye(6)
                g[:3] += wm * matrix_to_rotvec(T[:3, :3] @ T_prior[:3, :3].T)
                g[3:] += wm * (T[:3, 3] - T_prior[:3, 3])
            if gyro_R_ref_cur is not None:
                r_rot = matrix_to_rotvec(T[:3, :3] @ gyro_R_ref_cur.T)
                H[:3, :3] += config.gyro_weight * np.eye(3)
                g[:3] += config.gyro_weight * r_rot
            try:
                step = -np.linalg.solve(H + 1e-6 * np.eye(6), g)
            except np.linalg.LinAlgError:
                break
            T = transform_from_twist(step) @ T
            if np.linalg.norm(step) < 1e-4:  # 0.1 mm, 0.1 mrad
                break
    share = n_icp / max(len(cur_pts), 1)
    ok = (
        n_icp >= config.min_icp_points
        and rmse < config.max_rmse_m
        and share >= config.min_icp_fraction
    )
    reason = "" if ok else f"ICP: {n_icp} points ({share:.0%} paired), rmse {rmse:.3f} m"
    return OdometryResult(T, ok, len(f_ref), n_icp, rmse, H, reason)


class RgbdOdometry:
    """Frame-to-keyframe RGB-D odometry (see the module docstring)."""

    def __init__(self, cam: Pinhole, config: OdometryConfig | None = None) -> None:
        self.cam = cam
        config = config or OdometryConfig()
        # the ICP levels are tuned for 640-pixel-wide images: keep their pixel count
        ratio = cam.width / 640.0
        levels = tuple(max(1, round(f * ratio)) for f in config.icp_levels)
        if len(set(levels)) == len(levels) and levels != config.icp_levels:
            config = replace(config, icp_levels=levels)
        support_level = max(1, round(config.support_level * ratio))
        if support_level != config.support_level:
            config = replace(config, support_level=support_level)
        self.config = config
        self.features = FeatureExtractor(self.config)

    def prepare(self, frame: RgbdFrame) -> TrackedFrame:
        return self.features.extract(frame, self.cam)

    def estimate(
        self,
        ref: TrackedFrame,
        cur: TrackedFrame,
        T_guess: F64Array | None = None,
        gyro_R_ref_cur: F64Array | None = None,
        guided: bool = True,
        features: FeatureFit | None = None,
    ) -> OdometryResult:
        """``T_ref_cur``: PnP from features when they suffice, else ``T_guess``; refined.
        Features are matched near where ``T_guess`` puts them (``guided``), all against
        all when that finds too few; ``features`` passes a fit made already."""
        if features is None:
            features = self.match_features(ref, cur, T_guess if guided else None)
        T_pnp, i_in, j_in = features.T_ref_cur, features.i_ref, features.j_cur
        starts = [T for T in (T_pnp, T_guess) if T is not None] or [np.eye(4)]
        best: OdometryResult | None = None
        for T0 in starts:
            result = refine(
                ref, cur, self.cam, T0, (i_in, j_in), self.config, gyro_R_ref_cur, T_guess
            )
            result.feature_inliers = len(i_in)
            if result.ok:
                result = self.check_support(ref, cur, result, features)
            if best is None or (result.ok and (not best.ok or result.rmse_m < best.rmse_m)):
                best = result
            if result.ok and T_pnp is not None:
                break
        assert best is not None
        return best

    def check_support(
        self, ref: TrackedFrame, cur: TrackedFrame, result: OdometryResult, features: FeatureFit
    ) -> OdometryResult:
        """``result`` refused (``ok`` False, the reason given) when the frames do not
        support it: too little predicted overlap, depth that disagrees, or grey levels
        that do not correlate where the surfaces meet (see ``Support``)."""
        support = support_of(ref, cur, self.cam, result.T_ref_cur, features, self.config)
        result.support = support
        refusal = support.refusal(self.config)
        if refusal:
            result.ok = False
            result.reason = f"not supported by the frames: {refusal}"
        return result

    def match_features(
        self, ref: TrackedFrame, cur: TrackedFrame, T_guess: F64Array | None = None,
        min_inliers: int = 0,
    ) -> FeatureFit:  # fmt: skip
        """PnP ``T_ref_cur`` and its inlier pairs: from guided matches near ``T_guess``
        when given and enough, else all against all. Needs only the features: a loop
        candidate is checked before its ICP levels are rebuilt."""
        config = self.config
        if T_guess is not None and config.guided_radius_px > 0:
            i_ref, j_cur = self.features.guided(ref, cur, T_guess, self.cam)
            fit = self._fit(ref, cur, i_ref, j_cur, min_inliers)
            if fit.T_ref_cur is not None and fit.inliers >= config.guided_min_inliers:
                return fit
        i_ref, j_cur = self.features.match(ref, cur)
        return self._fit(ref, cur, i_ref, j_cur, min_inliers)

    def _fit(
        self, ref: TrackedFrame, cur: TrackedFrame, i_ref: Any, j_cur: Any, min_inliers: int
    ) -> FeatureFit:
        """PnP over the matches; inliers bunched in a corner of the image (hull under
        ``min_inlier_hull``) fix the pose poorly and are dropped, as no fit."""
        T, i_in, j_in = pnp(ref, cur, i_ref, j_cur, self.cam, self.config, min_inliers)
        if T is not None and inlier_hull(cur.keypoints_px[j_in], self.cam) < (
            self.config.min_inlier_hull
        ):
            T, i_in, j_in = None, i_in[:0], j_in[:0]
        return FeatureFit(T, i_in, j_in, len(i_ref))


def inlier_hull(px: F64Array, cam: Pinhole) -> float:
    """Area of the convex hull of pixels ``px`` (N, 2) over the image's area: how much
    of the field of view the feature inliers span (0 for fewer than 3)."""
    import cv2

    if len(px) < 3:
        return 0.0
    hull = cv2.convexHull(np.ascontiguousarray(px, dtype=np.float32))
    return float(cv2.contourArea(hull)) / float(cam.width * cam.height)


def support_of(
    ref: TrackedFrame,
    cur: TrackedFrame,
    cam: Pinhole,
    T_ref_cur: F64Array,
    features: FeatureFit,
    config: OdometryConfig,
) -> Support:
    """The checks of ``T_ref_cur`` that the estimate did not optimise: the current depth
    points moved into the reference image (``support_level``), the share that lands on
    reference depth (overlap), the share of those whose depth agrees, and the grey-level
    correlation over the agreeing ones; with the feature inliers' spread and ratio.

    Why these: ICP pairs any surfaces within ``icp_max_dist_m`` and lowers its rmse by
    sliding a wall onto another wall; frames with no common view then pass its
    thresholds (measured on the real Kinect frames, docs/notes/issue-19-slamreal.md).
    A true overlap has most depths agreeing and the same texture on them."""
    factor = config.support_level
    lcam = cam.scaled(factor)
    hull = inlier_hull(cur.keypoints_px[features.j_cur], cam) if features.inliers else 0.0
    ratio = features.inliers / features.matches if features.matches else 0.0
    ref_pts, cur_pts = ref.levels[factor][0], cur.levels[factor][0]
    blank = np.zeros(cur_pts.shape[:2], np.float32)
    sums = support_sums(
        ref_pts, ref.intensity.get(factor, blank), cur_pts, cur.intensity.get(factor, blank),
        np.ascontiguousarray(T_ref_cur, dtype=np.float64), lcam.fx, lcam.fy, lcam.cx, lcam.cy,
        config.agreement_m, config.agreement_rel,
    )  # fmt: skip
    n_cur, n_seen, n_agree, sx, sy, sxx, syy, sxy = (float(v) for v in sums)
    overlap = n_seen / n_cur if n_cur else 0.0
    agreement = n_agree / n_seen if n_seen else 0.0
    ncc = float("nan")
    if n_agree >= 30 and factor in cur.intensity and factor in ref.intensity:
        var_x = sxx / n_agree - (sx / n_agree) ** 2
        var_y = syy / n_agree - (sy / n_agree) ** 2
        if var_x > 1e-4 and var_y > 1e-4:  # grey std over 0.01: texture to compare
            ncc = (sxy / n_agree - sx * sy / n_agree**2) / float(np.sqrt(var_x * var_y))
    return Support(overlap, agreement, ncc, hull, ratio)
