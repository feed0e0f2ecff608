"""Camera intrinsics from board views: detection, view selection, robust calibration.

The field workflow: wave a printed board in front of the camera (or record a bag),
run one command, and know at once whether the result is good. So besides the camera
model a :class:`CalibrationResult` carries what a pilot needs to judge and improve it:
RMS and per-view reprojection errors, parameter standard deviations, the views rejected
as outliers and why, where in the frame corners were seen (coverage) and a verdict
that says which views to add.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from calibration.boards import Board, Detection, sharpness
from calibration.camera_model import COEFFICIENT_NAMES, CameraModel
from calibration.errors import CalibrationError
from calibration.sources import Frame

F64 = npt.NDArray[np.float64]

Model = Literal["pinhole", "fisheye"]
PinholeDistortion = Literal["plumb_bob", "rational_polynomial"]

MIN_VIEWS: Final = 3
"""OpenCV's minimum; the verdict asks for ten or more."""
RECOMMENDED_VIEWS: Final = 10
COVERAGE_GRID: Final = (8, 6)
"""Cells across and down the frame in which corner coverage is counted."""
GOOD_RMS_PX: Final = 0.5
POOR_RMS_PX: Final = 1.0
MIN_TILT_DEG: Final = 20.0
MAX_REL_STD_FOCAL: Final = 0.005

REGIONS: Final = (
    ("top-left", "top", "top-right"),
    ("left", "centre", "right"),
    ("bottom-left", "bottom", "bottom-right"),
)


# --- views ----------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """A board detection in one image."""

    name: str
    size: tuple[int, int]
    """(width, height) of the image in pixels."""
    detection: Detection
    stamp_ns: int | None = None
    sharpness: float = float("nan")

    @property
    def image_points(self) -> F64:
        return self.detection.image_points

    @property
    def object_points(self) -> F64:
        return self.detection.object_points


@dataclass
class Detections:
    """Views found in a source, and the frames without a usable board."""

    views: list[View]
    not_found: list[str]
    source: str

    @property
    def frame_count(self) -> int:
        return len(self.views) + len(self.not_found)


def detect_views(
    frames: Iterable[Frame], board: Board, source: str, *, subpix_window: int | None = None
) -> Detections:
    """Detect the board in every frame; all frames must have one size."""
    from smartmine.progress import progress

    views: list[View] = []
    not_found: list[str] = []
    first: tuple[str, tuple[int, int]] | None = None
    for frame in progress(frames, desc="detect board", unit="img"):
        if first is None:
            first = (frame.name, frame.size)
        elif frame.size != first[1]:
            raise CalibrationError(
                f"{source}: images differ in size: {first[0]} is {first[1][0]}x{first[1][1]} "
                f"but {frame.name} is {frame.size[0]}x{frame.size[1]}; calibrate each camera "
                "(and each resolution) separately"
            )
        det = board.detect(frame.gray, subpix_window)
        if det is None:
            not_found.append(frame.name)
            continue
        views.append(
            View(
                frame.name, frame.size, det, frame.stamp_ns, sharpness(frame.gray, det.image_points)
            )
        )
    if first is None:
        raise CalibrationError(f"{source}: no images")
    return Detections(views, not_found, source)


def require_views(found: Detections, board: Board, minimum: int = MIN_VIEWS) -> None:
    """The clear error when too few views show the board."""
    if not found.views:
        hint = (
            "COLSxROWS counts inner corners (9x6 for a board of 10x7 squares)"
            if board.kind == "checkerboard"
            else "COLSxROWS counts squares and DICT must match the printed markers"
        )
        raise CalibrationError(
            f"{found.source}: board {board.spec} not found in any of {found.frame_count} "
            f"images; check --board ({hint}), lighting and focus"
        )
    if len(found.views) < minimum:
        raise CalibrationError(
            f"{found.source}: board {board.spec} found in only {len(found.views)} of "
            f"{found.frame_count} images ({', '.join(v.name for v in found.views)}); need at "
            f"least {minimum}, better {RECOMMENDED_VIEWS}+ views at varied positions and tilts"
        )


# --- view selection (bags) ------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The views kept for calibration and why the others were skipped."""

    kept: list[View]
    skipped: dict[str, str]


def pose_descriptor(view: View) -> F64:
    """Where and how the board appears, without intrinsics: 5 numbers of similar scale.

    Centre (x, y as fractions of the frame), apparent size (square root of the outline's
    area over the frame's) and foreshortening (log ratios of the outline's left/right and
    top/bottom edges, signed, i.e. the tilt about the vertical and horizontal axes), after
    ROS camera_calibration's x / y / size / skew. Two views close in these constrain the
    calibration alike.
    """
    import cv2

    obj = view.object_points[:, :2]
    img = view.image_points
    w, h = view.size
    hom, _ = cv2.findHomography(obj, img, 0)
    if hom is None:
        c = img.mean(axis=0)
        return np.array([c[0] / w, c[1] / h, 0.0, 0.0, 0.0])
    lo, hi = obj.min(axis=0), obj.max(axis=0)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    q = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), hom).reshape(-1, 2)
    centre = q.mean(axis=0)
    d1, d2 = q[2] - q[0], q[3] - q[1]
    area = 0.5 * abs(float(d1[0] * d2[1] - d1[1] * d2[0]))
    edge = [float(np.linalg.norm(q[(i + 1) % 4] - q[i])) + 1e-9 for i in range(4)]
    top, right, bottom, left = edge
    return np.array(
        [
            centre[0] / w,
            centre[1] / h,
            math.sqrt(area / (w * h)),
            math.log(left / right),
            math.log(top / bottom),
        ]
    )


def select_views(
    views: Sequence[View],
    *,
    max_views: int = 40,
    min_sharpness_ratio: float = 0.5,
    min_pose_change: float = 0.1,
) -> Selection:
    """Pick sharp views of diverse board poses from a video or bag.

    Frames whose board region is blurred (variance of the Laplacian below
    ``min_sharpness_ratio`` times the median) are skipped; of the rest, views are added
    farthest-first (the one whose board pose differs most from all kept ones) until
    ``max_views`` or until none differs from the kept ones by ``min_pose_change`` (sum of
    absolute differences of :func:`pose_descriptor`).
    """
    skipped: dict[str, str] = {}
    if not views:
        return Selection([], skipped)
    sharp = np.array([v.sharpness for v in views])
    finite = sharp[np.isfinite(sharp)]
    limit = float(np.median(finite)) * min_sharpness_ratio if finite.size else 0.0
    candidates: list[View] = []
    for v, s in zip(views, sharp, strict=True):
        if np.isfinite(s) and s < limit:
            skipped[v.name] = f"blurred (sharpness {s:.0f} < {limit:.0f})"
        else:
            candidates.append(v)
    if not candidates:
        return Selection([], skipped)
    desc = np.array([pose_descriptor(v) for v in candidates])
    order = [int(np.nanargmax([v.sharpness for v in candidates]))]
    nearest = np.abs(desc - desc[order[0]]).sum(axis=1)
    nearest[order[0]] = -1.0
    while len(order) < min(max_views, len(candidates)):
        nxt = int(np.argmax(nearest))
        if nearest[nxt] < min_pose_change:
            break
        order.append(nxt)
        nearest = np.minimum(nearest, np.abs(desc - desc[nxt]).sum(axis=1))
        nearest[order] = -1.0
    chosen = set(order)
    for i, v in enumerate(candidates):
        if i not in chosen:
            skipped[v.name] = (
                "similar pose to a kept view" if len(order) < max_views else "view cap reached"
            )
    kept = [candidates[i] for i in sorted(chosen)]
    return Selection(kept, skipped)


# --- results --------------------------------------------------------------------------


@dataclass
class ViewResult:
    """How one view fits the final model."""

    name: str
    used: bool
    rms_px: float
    residuals_px: F64
    """(N, 2) observed minus projected pixels."""
    image_points: F64
    rvec: F64
    tvec: F64
    reason: str = ""
    """Why the view was rejected (empty when used)."""

    @property
    def tilt_deg(self) -> float:
        """Angle between the board normal and the optical axis."""
        import cv2

        r, _ = cv2.Rodrigues(self.rvec)
        return math.degrees(math.acos(min(1.0, abs(float(r[2, 2])))))

    @property
    def distance_m(self) -> float:
        return float(np.linalg.norm(self.tvec))


@dataclass(frozen=True)
class Coverage:
    """Corner counts per cell of a grid over the frame."""

    counts: npt.NDArray[np.int64]
    """(rows, cols) corners of the used views per cell."""
    size: tuple[int, int]

    @property
    def fraction(self) -> float:
        """Share of cells holding at least one corner."""
        return float(np.count_nonzero(self.counts)) / self.counts.size

    def missing_regions(self) -> list[str]:
        """Regions of a 3x3 split of the frame where most cells saw no corner."""
        rows, cols = self.counts.shape
        out = []
        for i, names in enumerate(REGIONS):
            for j, name in enumerate(names):
                r0, r1 = (i * rows) // 3, ((i + 1) * rows) // 3
                c0, c1 = (j * cols) // 3, ((j + 1) * cols) // 3
                cells = self.counts[r0:r1, c0:c1]
                if cells.size and np.count_nonzero(cells) / cells.size < 0.5:
                    out.append(name)
        return out


def coverage_of(points: Iterable[F64], size: tuple[int, int]) -> Coverage:
    cols, rows = COVERAGE_GRID
    counts = np.zeros((rows, cols), dtype=np.int64)
    for pts in points:
        cx = np.clip((pts[:, 0] + 0.5) / size[0] * cols, 0, cols - 1).astype(int)
        cy = np.clip((pts[:, 1] + 0.5) / size[1] * rows, 0, rows - 1).astype(int)
        np.add.at(counts, (cy, cx), 1)
    return Coverage(counts, size)


@dataclass(frozen=True)
class Verdict:
    """``good``, ``acceptable`` or ``poor``, and what to do about it."""

    level: str
    messages: tuple[str, ...]

    def __str__(self) -> str:
        if not self.messages:
            return f"{self.level}: ready to use"
        return f"{self.level}: " + "; ".join(self.messages)


@dataclass
class CalibrationResult:
    """A calibrated camera with everything needed to judge it."""

    camera: CameraModel
    rms_px: float
    views: list[ViewResult]
    std_devs: dict[str, float]
    """Standard deviation of each estimated parameter (fx, fy, cx, cy, k1...)."""
    coverage: Coverage
    board: str
    config: dict[str, Any] = field(default_factory=dict)
    """The effective settings, saved beside the result."""
    not_detected: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Frames left out by view selection, and why."""

    @property
    def used(self) -> list[ViewResult]:
        return [v for v in self.views if v.used]

    @property
    def rejected(self) -> list[ViewResult]:
        return [v for v in self.views if not v.used]

    @property
    def verdict(self) -> Verdict:
        return judge(self)

    def view(self, name: str) -> ViewResult:
        for v in self.views:
            if v.name == name:
                return v
        raise KeyError(name)


def judge(result: CalibrationResult) -> Verdict:
    """Rate a calibration and say which views to add (the field operator's question)."""
    level = 0  # 0 good, 1 acceptable, 2 poor
    msgs: list[str] = []
    used = result.used
    if result.rms_px > POOR_RMS_PX:
        level = 2
        msgs.append(
            f"RMS {result.rms_px:.2f} px is high: check the --board size, that the board is "
            "flat and rigid, and that images are sharp"
        )
    elif result.rms_px > GOOD_RMS_PX:
        level = max(level, 1)
        msgs.append(f"RMS {result.rms_px:.2f} px is above {GOOD_RMS_PX} px: retake blurred views")
    if len(used) < RECOMMENDED_VIEWS:
        level = max(level, 1 if len(used) >= 6 else 2)
        msgs.append(f"only {len(used)} views: add more ({RECOMMENDED_VIEWS}-30 recommended)")
    missing = result.coverage.missing_regions()
    if missing:
        level = max(level, 1)
        msgs.append("add views with the board near the " + ", ".join(missing) + " of the frame")
    tilts = [v.tilt_deg for v in used]
    if tilts and max(tilts) < MIN_TILT_DEG:
        level = max(level, 1)
        msgs.append(
            "add views with the board tilted 30-45 degrees (fronto-parallel views leave the "
            "focal length weakly determined)"
        )
    f = result.camera.fx
    sf = result.std_devs.get("fx", 0.0)
    if f > 0 and sf / f > MAX_REL_STD_FOCAL:
        level = max(level, 2 if sf / f > 4 * MAX_REL_STD_FOCAL else 1)
        msgs.append(f"focal length uncertain (+-{100 * sf / f:.2f} %): add tilted and edge views")
    if result.rejected:
        names = ", ".join(v.name for v in result.rejected[:5])
        more = "" if len(result.rejected) <= 5 else f" and {len(result.rejected) - 5} more"
        msgs.append(f"rejected as outliers: {names}{more}")
    return Verdict(("good", "acceptable", "poor")[level], tuple(msgs))


# --- calibration ----------------------------------------------------------------------


@dataclass
class _Fit:
    k: F64
    d: F64
    rvecs: list[F64]
    tvecs: list[F64]
    std: F64
    per_view: F64
    rms: float


def _as_cv(views: Sequence[View]) -> tuple[list[Any], list[Any]]:
    objs = [v.object_points.astype(np.float32).reshape(-1, 1, 3) for v in views]
    imgs = [v.image_points.astype(np.float32).reshape(-1, 1, 2) for v in views]
    return objs, imgs


def _pinhole_flags(distortion: str, fix_aspect_ratio: bool, zero_tangent: bool) -> int:
    import cv2

    flags = 0
    if fix_aspect_ratio:
        flags |= cv2.CALIB_FIX_ASPECT_RATIO
    if zero_tangent:
        flags |= cv2.CALIB_ZERO_TANGENT_DIST
    if distortion == "rational_polynomial":
        flags |= cv2.CALIB_RATIONAL_MODEL
    return flags


def _fit_pinhole(views: Sequence[View], size: tuple[int, int], distortion: str, flags: int) -> _Fit:
    import cv2

    objs, imgs = _as_cv(views)
    k0 = np.eye(3)
    n = 8 if distortion == "rational_polynomial" else 5
    try:
        rms, k, d, rvecs, tvecs, std, _, per_view = cv2.calibrateCameraExtended(
            objs, imgs, size, k0, np.zeros(n), flags=flags
        )
    except cv2.error as err:
        raise CalibrationError(f"OpenCV calibration failed: {cv_message(err)}") from None
    return _Fit(
        np.asarray(k, np.float64),
        np.asarray(d, np.float64).reshape(-1)[:n],
        [np.asarray(r, np.float64).reshape(3) for r in rvecs],
        [np.asarray(t, np.float64).reshape(3) for t in tvecs],
        np.asarray(std, np.float64).reshape(-1),
        np.asarray(per_view, np.float64).reshape(-1),
        float(rms),
    )


def _fit_fisheye(views: Sequence[View], size: tuple[int, int]) -> _Fit:
    import cv2

    # OpenCV 5's fisheye module wants (1, N, 3) / (1, N, 2) per view
    objs = [v.object_points.astype(np.float64).reshape(1, -1, 3) for v in views]
    imgs = [v.image_points.astype(np.float64).reshape(1, -1, 2) for v in views]
    flags = cv2.CALIB_RECOMPUTE_EXTRINSIC | cv2.CALIB_FIX_SKEW
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 200, 1e-12)
    try:
        rms, k, d, rvecs, tvecs = cv2.fisheye.calibrate(
            objs, imgs, size, np.eye(3), np.zeros(4), flags=flags, criteria=criteria
        )
    except cv2.error as err:
        raise CalibrationError(f"OpenCV fisheye calibration failed: {cv_message(err)}") from None
    fit = _Fit(
        np.asarray(k, np.float64),
        np.asarray(d, np.float64).reshape(-1)[:4],
        [np.asarray(r, np.float64).reshape(3) for r in rvecs],
        [np.asarray(t, np.float64).reshape(3) for t in tvecs],
        np.zeros(8),
        np.zeros(len(views)),
        float(rms),
    )
    model = CameraModel.create(size[0], size[1], fit.k, fit.d, "equidistant")
    res = [
        reprojection_residuals(model, v.object_points, v.image_points, r, t)
        for v, r, t in zip(views, fit.rvecs, fit.tvecs, strict=True)
    ]
    fit.per_view = np.array([rms_of(r) for r in res])
    fit.rms = rms_of(np.concatenate(res))
    fit.std = _fisheye_std(views, model, fit)
    return fit


def _fisheye_std(views: Sequence[View], model: CameraModel, fit: _Fit) -> F64:
    """Std devs of fx, fy, cx, cy, k1..k4 from the Gauss-Newton covariance.

    OpenCV's fisheye calibration reports none; they come from the numerical Jacobian
    of all residuals with the poses as nuisance parameters, as OpenCV does for pinhole.
    """
    intr0 = np.array([model.fx, model.fy, model.cx, model.cy, *model.d])
    n_pts = [len(v.object_points) for v in views]
    n_res = 2 * sum(n_pts)
    n_par = 8 + 6 * len(views)
    jac = np.zeros((n_res, n_par))

    def res_all(intr: F64, view_i: int | None = None, pose: F64 | None = None) -> F64:
        m = CameraModel.create(
            model.width,
            model.height,
            [[intr[0], 0, intr[2]], [0, intr[1], intr[3]], [0, 0, 1]],
            intr[4:],
            "equidistant",
        )
        out = []
        for i, v in enumerate(views):
            r, t = fit.rvecs[i], fit.tvecs[i]
            if view_i == i and pose is not None:
                r, t = pose[:3], pose[3:]
            out.append(reprojection_residuals(m, v.object_points, v.image_points, r, t).reshape(-1))
        return np.concatenate(out)

    base = res_all(intr0)
    for j in range(8):
        h = 1e-6 * max(1.0, abs(intr0[j]))
        step = intr0.copy()
        step[j] += h
        jac[:, j] = (res_all(step) - base) / h
    row = 0
    for i, v in enumerate(views):
        pose0 = np.concatenate([fit.rvecs[i], fit.tvecs[i]])
        rows = slice(row, row + 2 * n_pts[i])
        m = model
        for j in range(6):
            step = pose0.copy()
            step[j] += 1e-7
            r1 = reprojection_residuals(
                m, v.object_points, v.image_points, step[:3], step[3:]
            ).reshape(-1)
            jac[rows, 8 + 6 * i + j] = (r1 - base[rows]) / 1e-7
        row += 2 * n_pts[i]
    dof = max(1, n_res - n_par)
    sigma2 = float(base @ base) / dof
    try:
        cov = np.linalg.inv(jac.T @ jac) * sigma2
    except np.linalg.LinAlgError:
        return np.full(8, np.nan)
    out: F64 = np.sqrt(np.clip(np.diag(cov)[:8], 0, None))
    return out


def reprojection_residuals(
    model: CameraModel, obj: F64, img: F64, rvec: npt.ArrayLike, tvec: npt.ArrayLike
) -> F64:
    import cv2

    r, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
    cam = obj @ r.T + np.asarray(tvec, np.float64).reshape(1, 3)
    out: F64 = img - model.project(cam)
    return out


def rms_of(residuals: F64) -> float:
    if residuals.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.sum(residuals.reshape(-1, 2) ** 2, axis=1))))


def cv_message(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[-1] if text else repr(err)).strip()


def _pose(model: CameraModel, view: View) -> tuple[F64, F64]:
    """Board pose of a view under a given model (for views not in the final fit)."""
    import cv2

    k, d = model.opencv_matrix_and_coefficients()
    obj = view.object_points.astype(np.float64).reshape(-1, 1, 3)
    img = view.image_points.astype(np.float64).reshape(-1, 1, 2)
    if model.is_fisheye:
        ok, rvec, tvec = cv2.fisheye.solvePnP(obj, img, k, d)
    else:
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, d)
    if not ok:
        return np.zeros(3), np.array([0.0, 0.0, 1.0])
    return np.asarray(rvec, np.float64).reshape(3), np.asarray(tvec, np.float64).reshape(3)


def board_pose(model: CameraModel, detection: Detection) -> tuple[F64, F64, float]:
    """``(rvec, tvec, rms_px)`` of the board in a calibrated camera (board -> camera)."""
    view = View("", (model.width, model.height), detection)
    rvec, tvec = _pose(model, view)
    res = reprojection_residuals(model, detection.object_points, detection.image_points, rvec, tvec)
    return rvec, tvec, rms_of(res)


def calibrate_camera(
    views: Sequence[View],
    board: Board,
    *,
    model: Model = "pinhole",
    distortion: PinholeDistortion = "plumb_bob",
    fix_aspect_ratio: bool = False,
    zero_tangent: bool = False,
    reject_outliers: bool = True,
    reject_factor: float = 5.0,
    reject_floor_px: float = 1.0,
) -> CalibrationResult:
    """Calibrate one camera from board views, rejecting outlier views one at a time.

    After each fit the worst view is dropped when its RMS exceeds both
    ``reject_floor_px`` and ``reject_factor`` times the median view RMS (a view with
    wrong correspondences or from another camera sits far above the rest, while an
    honest steep view may be a few times the median), then the fit is redone.
    """
    if len(views) < MIN_VIEWS:
        raise CalibrationError(
            f"only {len(views)} views with the board; need at least {MIN_VIEWS}, better "
            f"{RECOMMENDED_VIEWS}+"
        )
    sizes = {v.size for v in views}
    if len(sizes) > 1:
        raise CalibrationError(
            "views differ in image size: "
            + ", ".join(f"{v.name} {v.size[0]}x{v.size[1]}" for v in views[:4])
        )
    if model == "fisheye" and (fix_aspect_ratio or zero_tangent):
        raise CalibrationError(
            "--fix-aspect-ratio and --zero-tangent apply to the pinhole model only"
        )
    size = views[0].size
    flags = _pinhole_flags(distortion, fix_aspect_ratio, zero_tangent)
    active = list(range(len(views)))
    reasons: dict[int, str] = {}

    def fit_of(idx: list[int]) -> _Fit:
        chosen = [views[i] for i in idx]
        if model == "fisheye":
            return _fit_fisheye(chosen, size)
        return _fit_pinhole(chosen, size, distortion, flags)

    fit = fit_of(active)
    while reject_outliers and len(active) > MIN_VIEWS:
        med = float(np.median(fit.per_view))
        limit = max(reject_floor_px, reject_factor * med)
        worst = int(np.argmax(fit.per_view))
        if fit.per_view[worst] <= limit:
            break
        reasons[active[worst]] = (
            f"RMS {fit.per_view[worst]:.2f} px > {limit:.2f} px "
            f"(max of {reject_floor_px:g} px and {reject_factor:g} x median {med:.2f} px)"
        )
        del active[worst]
        fit = fit_of(active)

    dist_model = "equidistant" if model == "fisheye" else distortion
    camera = CameraModel.create(size[0], size[1], fit.k, fit.d, dist_model)
    results: list[ViewResult] = []
    pos = {vi: j for j, vi in enumerate(active)}
    for i, v in enumerate(views):
        if i in pos:
            rvec, tvec = fit.rvecs[pos[i]], fit.tvecs[pos[i]]
        else:
            rvec, tvec = _pose(camera, v)
        res = reprojection_residuals(camera, v.object_points, v.image_points, rvec, tvec)
        results.append(
            ViewResult(
                v.name, i in pos, rms_of(res), res, v.image_points, rvec, tvec, reasons.get(i, "")
            )
        )
    used_res = np.concatenate([r.residuals_px for r in results if r.used])
    names = ["fx", "fy", "cx", "cy", *COEFFICIENT_NAMES[dist_model]]
    std = {n: float(s) for n, s in zip(names, fit.std[: len(names)], strict=False)}
    if fix_aspect_ratio:
        std["fx"] = std.get("fy", 0.0) * camera.fx / camera.fy
    config = {
        "board": board.spec,
        "model": model,
        "distortion_model": dist_model,
        "fix_aspect_ratio": fix_aspect_ratio,
        "zero_tangent": zero_tangent,
        "reject_outliers": reject_outliers,
        "reject_factor": reject_factor,
        "reject_floor_px": reject_floor_px,
    }
    return CalibrationResult(
        camera=camera,
        rms_px=rms_of(used_res),
        views=results,
        std_devs=std,
        coverage=coverage_of((r.image_points for r in results if r.used), size),
        board=board.spec,
        config=config,
    )


def calibrate_frames(
    frames: Iterable[Frame],
    board: Board,
    source: str,
    *,
    select: bool = False,
    max_views: int = 40,
    min_sharpness_ratio: float = 0.5,
    min_pose_change: float = 0.1,
    subpix_window: int | None = None,
    **kwargs: Any,
) -> CalibrationResult:
    """Detect, optionally select (bags, videos), then :func:`calibrate_camera`."""
    found = detect_views(frames, board, source, subpix_window=subpix_window)
    require_views(found, board)
    views = found.views
    skipped: dict[str, str] = {}
    if select:
        sel = select_views(
            views,
            max_views=max_views,
            min_sharpness_ratio=min_sharpness_ratio,
            min_pose_change=min_pose_change,
        )
        views, skipped = sel.kept, sel.skipped
        if len(views) < MIN_VIEWS:
            raise CalibrationError(
                f"{source}: only {len(views)} sharp, distinct board views among "
                f"{len(found.views)} detections; move the board to new positions and tilts, "
                "slower (motion blur), and record again"
            )
    result = calibrate_camera(views, board, **kwargs)
    result.not_detected = found.not_found
    result.skipped = skipped
    result.config.update(
        {
            "source": source,
            "view_selection": select,
            "max_views": max_views,
            "min_sharpness_ratio": min_sharpness_ratio,
            "min_pose_change": min_pose_change,
            "subpix_window": subpix_window or "auto",
        }
    )
    return result
