"""Extrinsics between two cameras (stereo pairs, colour-depth/IR) from board views.

Each camera is calibrated on its own first (or its intrinsics are taken from a
calibration file), then only the relative pose is fitted to the pairs of views that
both cameras saw (``CALIB_FIX_INTRINSIC``): a joint fit of everything diverges easily
and OpenCV recommends against it. Pairs whose error stands out are rejected as in
:func:`calibration.intrinsics.calibrate_camera`.

``rotation`` and ``translation_m`` map points from the first camera to the second
(``x2 = R x1 + t``, OpenCV's stereoCalibrate); :attr:`StereoResult.transform` is the
pose of the second camera in the first, the way calibration.yaml and ROS tf store it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.boards import Board, Detection, common_corners
from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from calibration.intrinsics import (
    CalibrationResult,
    Detections,
    View,
    calibrate_camera,
    cv_message,
    reprojection_residuals,
    require_views,
    rms_of,
)
from calibration.sources import Frame
from smartmine.geometry import rotation_angle

F64 = npt.NDArray[np.float64]

MIN_PAIRS: Final = 3


@dataclass(frozen=True)
class ViewPair:
    """The same board pose seen by both cameras."""

    first: View
    second: View

    @property
    def name(self) -> str:
        return f"{self.first.name}|{self.second.name}"


@dataclass
class PairResult:
    name: str
    used: bool
    rms_first_px: float
    rms_second_px: float
    reason: str = ""

    @property
    def rms_px(self) -> float:
        return math.sqrt((self.rms_first_px**2 + self.rms_second_px**2) / 2)


@dataclass
class StereoResult:
    """Relative pose of two cameras and how well it fits."""

    first: CameraModel
    second: CameraModel
    rotation: F64
    """R: first-camera coordinates to second-camera coordinates."""
    translation_m: F64
    rms_px: float
    pairs: list[PairResult]
    epipolar_rms_px: float
    """RMS vertical disparity of board corners after rectification (0 for a perfect rig)."""
    intrinsics: dict[str, CalibrationResult] = field(default_factory=dict)
    """Per-camera calibrations made on the way (empty when intrinsics were given)."""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def transform(self) -> F64:
        """Pose of the second camera in the first (4x4): ``p_first = T p_second``."""
        t = np.eye(4)
        t[:3, :3] = self.rotation.T
        t[:3, 3] = -self.rotation.T @ self.translation_m
        return t

    @property
    def baseline_m(self) -> float:
        return float(np.linalg.norm(self.translation_m))

    @property
    def rotation_deg(self) -> float:
        return rotation_angle_deg(self.rotation)

    @property
    def used(self) -> list[PairResult]:
        return [p for p in self.pairs if p.used]

    @property
    def rejected(self) -> list[PairResult]:
        return [p for p in self.pairs if not p.used]


def rotation_angle_deg(r: F64) -> float:
    """Angle of a rotation matrix, degrees."""
    return math.degrees(float(rotation_angle(r)))


# --- pairing --------------------------------------------------------------------------


def align_pair(first: View, second: View, board: Board) -> ViewPair:
    """Number a checkerboard's corners alike in both views.

    A checkerboard's grid is symmetric under a half turn and OpenCV may number it from
    either end, independently in each camera; for cameras of one rig the board runs the
    same way in both images, so the second view is reversed when its first-to-last
    corner direction opposes the first view's. (ChArUco ids are unambiguous.)
    """
    a, b = first.image_points, second.image_points
    same_ids = a.shape == b.shape and np.array_equal(first.detection.ids, second.detection.ids)
    flip = board.kind == "checkerboard" and same_ids and len(a) > 1
    if flip and float(np.dot(a[-1] - a[0], b[-1] - b[0])) < 0:
        det = second.detection
        flipped = Detection(det.ids, det.image_points[::-1].copy(), det.object_points)
        second = View(second.name, second.size, flipped, second.stamp_ns, second.sharpness)
    return ViewPair(first, second)


def detect_pairs(
    first: Sequence[Frame] | Any,
    second: Sequence[Frame] | Any,
    board: Board,
    sources: tuple[str, str],
    *,
    subpix_window: int | None = None,
) -> tuple[Detections, Detections, list[ViewPair]]:
    """Detect the board in two image lists paired by position (sorted folders)."""
    from calibration.intrinsics import detect_views

    a = list(first)
    b = list(second)
    if len(a) != len(b):
        raise CalibrationError(
            f"{sources[0]} has {len(a)} images but {sources[1]} has {len(b)}; stereo pairs "
            "are matched by sorted order, so both must hold the same views"
        )
    da = detect_views(a, board, sources[0], subpix_window=subpix_window)
    db = detect_views(b, board, sources[1], subpix_window=subpix_window)
    by_a = {v.name: v for v in da.views}
    by_b = {v.name: v for v in db.views}
    pairs = [
        align_pair(by_a[fa.name], by_b[fb.name], board)
        for fa, fb in zip(a, b, strict=True)
        if fa.name in by_a and fb.name in by_b
    ]
    return da, db, pairs


def pair_by_stamp(
    first: Detections, second: Detections, board: Board, tolerance_ns: int
) -> list[ViewPair]:
    """Pair bag views whose stamps differ by at most ``tolerance_ns`` (nearest first)."""
    stamps_b = np.array([v.stamp_ns or 0 for v in second.views], dtype=np.int64)
    pairs: list[ViewPair] = []
    taken: set[int] = set()
    if not stamps_b.size:
        return pairs
    for v in first.views:
        j = int(np.argmin(np.abs(stamps_b - (v.stamp_ns or 0))))
        if abs(int(stamps_b[j]) - (v.stamp_ns or 0)) <= tolerance_ns and j not in taken:
            taken.add(j)
            pairs.append(align_pair(v, second.views[j], board))
    return pairs


# --- calibration ----------------------------------------------------------------------


def _pair_points(pair: ViewPair) -> tuple[F64, F64, F64]:
    return common_corners(pair.first.detection, pair.second.detection)


def _rectified_y_rms(
    first: CameraModel, second: CameraModel, r: F64, t: F64, pts: Sequence[tuple[F64, F64, F64]]
) -> float:
    """RMS row difference of matching corners after stereo rectification."""
    import cv2

    size = (first.width, first.height)
    k1, d1 = first.opencv_matrix_and_coefficients()
    k2, d2 = second.opencv_matrix_and_coefficients()
    try:
        if first.is_fisheye:
            r1, r2, p1, p2, _ = cv2.fisheye.stereoRectify(
                k1, d1, k2, d2, size, r, t.reshape(3, 1), flags=cv2.CALIB_ZERO_DISPARITY
            )
        else:
            r1, r2, p1, p2, *_ = cv2.stereoRectify(k1, d1, k2, d2, size, r, t.reshape(3, 1))
    except cv2.error:
        return float("nan")
    dy = []
    for _, a, b in pts:
        if first.is_fisheye:
            ua = cv2.fisheye.undistortPoints(a.reshape(1, -1, 2), k1, d1, R=r1, P=p1)
            ub = cv2.fisheye.undistortPoints(b.reshape(1, -1, 2), k2, d2, R=r2, P=p2)
        else:
            ua = cv2.undistortPoints(a.reshape(-1, 1, 2), k1, d1, R=r1, P=p1)
            ub = cv2.undistortPoints(b.reshape(-1, 1, 2), k2, d2, R=r2, P=p2)
        dy.append(ua.reshape(-1, 2)[:, 1] - ub.reshape(-1, 2)[:, 1])
    if not dy:
        return float("nan")
    all_dy = np.concatenate(dy)
    horizontal = abs(float(t[0])) >= abs(float(t[1]))
    if not horizontal:  # vertical rig: rectified rows become columns
        return float("nan")
    return float(np.sqrt(np.mean(all_dy**2)))


def _fit_extrinsics(
    pts: Sequence[tuple[F64, F64, F64]], first: CameraModel, second: CameraModel
) -> tuple[F64, F64, list[tuple[float, float]]]:
    import cv2

    size = (first.width, first.height)
    k1, d1 = first.opencv_matrix_and_coefficients()
    k2, d2 = second.opencv_matrix_and_coefficients()
    out: Any
    try:
        if first.is_fisheye:
            objs = [o.reshape(1, -1, 3).astype(np.float64) for o, _, _ in pts]
            ia = [a.reshape(1, -1, 2).astype(np.float64) for _, a, _ in pts]
            ib = [b.reshape(1, -1, 2).astype(np.float64) for _, _, b in pts]
            criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 200, 1e-12)
            out = cv2.fisheye.stereoCalibrate(
                objs,
                ia,
                ib,
                k1,
                d1,
                k2,
                d2,
                size,
                flags=cv2.CALIB_FIX_INTRINSIC,
                criteria=criteria,
            )
            r, t, rvecs, tvecs = out[5], out[6], out[7], out[8]
        else:
            objs = [o.reshape(-1, 1, 3).astype(np.float32) for o, _, _ in pts]
            ia = [a.reshape(-1, 1, 2).astype(np.float32) for _, a, _ in pts]
            ib = [b.reshape(-1, 1, 2).astype(np.float32) for _, _, b in pts]
            criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-10)
            out = cv2.stereoCalibrateExtended(
                objs,
                ia,
                ib,
                k1,
                d1,
                k2,
                d2,
                size,
                np.eye(3),
                np.zeros((3, 1)),
                flags=cv2.CALIB_FIX_INTRINSIC,
                criteria=criteria,
            )
            r, t, rvecs, tvecs = out[5], out[6], out[9], out[10]
    except cv2.error as err:
        raise CalibrationError(f"OpenCV stereo calibration failed: {cv_message(err)}") from None
    r = np.asarray(r, np.float64).reshape(3, 3)
    t = np.asarray(t, np.float64).reshape(3)
    errs = []
    for (obj, a, b), rv, tv in zip(pts, rvecs, tvecs, strict=True):
        rv = np.asarray(rv, np.float64).reshape(3)
        tv = np.asarray(tv, np.float64).reshape(3)
        ea = rms_of(reprojection_residuals(first, obj, a, rv, tv))
        rb = r @ cv2.Rodrigues(rv)[0]
        eb = rms_of(
            reprojection_residuals(second, obj, b, cv2.Rodrigues(rb)[0].reshape(3), r @ tv + t)
        )
        errs.append((ea, eb))
    return r, t, errs


def calibrate_stereo(
    pairs: Sequence[ViewPair],
    board: Board,
    *,
    first: CameraModel | None = None,
    second: CameraModel | None = None,
    first_views: Sequence[View] = (),
    second_views: Sequence[View] = (),
    reject_outliers: bool = True,
    reject_factor: float = 5.0,
    reject_floor_px: float = 1.0,
    **intrinsics_kwargs: Any,
) -> StereoResult:
    """Relative pose of two cameras from paired board views.

    Cameras without given intrinsics are calibrated from all their views
    (``first_views``/``second_views``, defaulting to the paired ones).
    """
    if len(pairs) < MIN_PAIRS:
        raise CalibrationError(
            f"only {len(pairs)} board views seen by both cameras; need at least {MIN_PAIRS}, "
            "better 10+ (keep the whole board in both images)"
        )
    calibrated: dict[str, CalibrationResult] = {}
    cams: list[CameraModel] = []
    for key, given, views in (
        ("first", first, first_views or [p.first for p in pairs]),
        ("second", second, second_views or [p.second for p in pairs]),
    ):
        if given is None:
            res = calibrate_camera(list(views), board, **intrinsics_kwargs)
            calibrated[key] = res
            given = res.camera
        cams.append(given)
    cam1, cam2 = cams
    if cam1.is_fisheye != cam2.is_fisheye:
        raise CalibrationError("both cameras must use the same model (pinhole or fisheye)")
    for cam, pair_view, which in (
        (cam1, pairs[0].first, "first"),
        (cam2, pairs[0].second, "second"),
    ):
        if (cam.width, cam.height) != pair_view.size:
            raise CalibrationError(
                f"{which} camera calibration is {cam.width}x{cam.height} but its images "
                f"({pair_view.name}) are {pair_view.size[0]}x{pair_view.size[1]}"
            )
    pts = [_pair_points(p) for p in pairs]
    few = [p.name for p, q in zip(pairs, pts, strict=True) if len(q[0]) < 6]
    if few:
        raise CalibrationError(f"pairs share fewer than 6 board corners: {', '.join(few[:3])}")
    active = list(range(len(pairs)))
    reasons: dict[int, str] = {}
    r, t, errs = _fit_extrinsics([pts[i] for i in active], cam1, cam2)
    while reject_outliers and len(active) > MIN_PAIRS:
        per = np.array([math.sqrt((a * a + b * b) / 2) for a, b in errs])
        med = float(np.median(per))
        limit = max(reject_floor_px, reject_factor * med)
        worst = int(np.argmax(per))
        if per[worst] <= limit:
            break
        reasons[active[worst]] = f"RMS {per[worst]:.2f} px > {limit:.2f} px"
        del active[worst]
        r, t, errs = _fit_extrinsics([pts[i] for i in active], cam1, cam2)
    results: list[PairResult] = []
    pos = {i: j for j, i in enumerate(active)}
    for i, p in enumerate(pairs):
        if i in pos:
            ea, eb = errs[pos[i]]
        else:
            ea, eb = _pair_error(pts[i], cam1, cam2, r, t)
        results.append(PairResult(p.name, i in pos, ea, eb, reasons.get(i, "")))
    used_sq = [
        (pr.rms_first_px**2 * len(pts[i][0]) + pr.rms_second_px**2 * len(pts[i][0]))
        for i, pr in enumerate(results)
        if pr.used
    ]
    n_used = sum(2 * len(pts[i][0]) for i in active)
    rms = math.sqrt(sum(used_sq) / n_used)
    epi = _rectified_y_rms(cam1, cam2, r, t, [pts[i] for i in active])
    config = {
        "board": board.spec,
        "fix_intrinsics": True,
        "reject_outliers": reject_outliers,
        "reject_factor": reject_factor,
        "reject_floor_px": reject_floor_px,
        "intrinsics_calibrated_here": sorted(calibrated),
    }
    return StereoResult(cam1, cam2, r, t, rms, results, epi, calibrated, config)


def _pair_error(
    pts: tuple[F64, F64, F64], cam1: CameraModel, cam2: CameraModel, r: F64, t: F64
) -> tuple[float, float]:
    """Errors of a rejected pair under the final rig: first-camera pose by PnP."""
    import cv2

    from calibration.intrinsics import board_pose

    obj, a, b = pts
    ids = np.arange(len(obj), dtype=np.int64)
    rv, tv, ea = board_pose(cam1, Detection(ids, a, obj))
    rb = r @ cv2.Rodrigues(rv)[0]
    eb = rms_of(reprojection_residuals(cam2, obj, b, cv2.Rodrigues(rb)[0].reshape(3), r @ tv + t))
    return ea, eb


def require_pairs(
    first: Detections, second: Detections, pairs: Sequence[ViewPair], board: Board
) -> None:
    """Clear errors for a stereo input without enough common views."""
    require_views(first, board, 1)
    require_views(second, board, 1)
    if len(pairs) < MIN_PAIRS:
        raise CalibrationError(
            f"board {board.spec} seen by both cameras in only {len(pairs)} pairs "
            f"({first.source} / {second.source}); need at least {MIN_PAIRS}, better 10+"
        )


def compare_transforms(a: F64, b: F64) -> tuple[float, float]:
    """``(translation difference m, rotation difference deg)`` of two 4x4 poses."""
    dt = float(np.linalg.norm(a[:3, 3] - b[:3, 3]))
    dr = rotation_angle_deg(a[:3, :3].T @ b[:3, :3])
    return dt, dr
