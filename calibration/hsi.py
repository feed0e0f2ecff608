"""Registration of hyperspectral frames to an RGB camera (homography).

Class maps computed from a hyperspectral camera are draped on the SfM/SLAM model
through the RGB camera that built it, so every HSI pixel needs its RGB pixel. For a
rigid pair looking at distant terrain (a drone survey, parallax negligible against
the flying height) or at a plane, that map is a homography ``x_rgb ~ H x_hsi``.

Two ways to get it:

- ``features``: SIFT keypoints (ORB when SIFT is unavailable) on a contrast-equalised
  HSI band or false-colour composite and the RGB grey image, ratio-test matching and a
  robust (MAGSAC/RANSAC) homography; works on any textured scene;
- ``board``: a calibration board seen by both; corners give exact correspondences.

A frame-camera HSI whose extrinsics are wanted instead is calibrated with
``calibrate stereo`` (board views from both cameras).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from calibration.boards import Board, common_corners, to_gray
from calibration.errors import CalibrationError

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

Method = Literal["features", "board"]

MIN_INLIERS: Final = 12
RATIO: Final = 0.75


@dataclass
class HsiResult:
    """Homography from HSI pixels to RGB pixels and how well it fits."""

    homography: F64
    method: str
    inliers: int
    matches: int
    rms_px: float
    """RMS transfer error of the inliers in RGB pixels."""
    hsi_size: tuple[int, int]
    rgb_size: tuple[int, int]
    points_hsi: F64 = field(default_factory=lambda: np.zeros((0, 2)))
    points_rgb: F64 = field(default_factory=lambda: np.zeros((0, 2)))
    config: dict[str, Any] = field(default_factory=dict)

    def to_rgb(self, points_hsi: npt.ArrayLike) -> F64:
        """Map (N, 2) HSI pixels to RGB pixels."""
        return transfer(self.homography, np.asarray(points_hsi, np.float64))


def transfer(h: F64, pts: F64) -> F64:
    p = np.column_stack([pts.reshape(-1, 2), np.ones(len(pts.reshape(-1, 2)))]) @ h.T
    out: F64 = p[:, :2] / p[:, 2:3]
    return out


def load_hsi_band(path: str | Path, band: int | None = None) -> U8:
    """An 8-bit grey image of a hyperspectral frame: one band or the mean of all.

    Reads ENVI (``.hdr``), numpy (``.npy``, H x W x B) and image files (multi-page or
    multi-channel TIFF, PNG false-colour composites).
    """
    import cv2

    file = Path(path)
    if not file.exists():
        raise CalibrationError(f"{file}: no such hyperspectral image")
    cube: npt.NDArray[Any]
    if file.suffix.lower() == ".hdr":
        try:
            import spectral

            cube = np.asarray(spectral.open_image(str(file)).load())
        except Exception as err:
            raise CalibrationError(f"{file}: cannot read ENVI cube: {err}") from None
    elif file.suffix.lower() == ".npy":
        try:
            cube = np.load(file)
        except (OSError, ValueError) as err:
            raise CalibrationError(f"{file}: cannot read numpy array: {err}") from None
    else:
        ok, pages = cv2.imreadmulti(str(file), flags=cv2.IMREAD_UNCHANGED)
        if not ok or not pages:
            raise CalibrationError(f"{file}: cannot read this image")
        cube = np.dstack(pages) if len(pages) > 1 else np.asarray(pages[0])
    if cube.ndim == 3 and cube.shape[2] == 1:
        cube = cube[:, :, 0]
    if cube.ndim == 2:
        if band not in (None, 0):
            raise CalibrationError(f"{file}: single-band image has no band {band}")
        return to_gray(cube, str(file))
    if cube.ndim != 3:
        raise CalibrationError(f"{file}: expected H x W or H x W x bands, got {cube.shape}")
    if band is not None:
        if not 0 <= band < cube.shape[2]:
            raise CalibrationError(f"{file}: --band {band} out of range 0..{cube.shape[2] - 1}")
        return to_gray(cube[:, :, band], str(file))
    if cube.shape[2] == 3 and cube.dtype == np.uint8:
        return to_gray(cube, str(file))  # a false-colour composite
    return to_gray(cube.astype(np.float64).mean(axis=2), str(file))


def _equalise(gray: U8) -> U8:
    """Local contrast equalisation: HSI bands and RGB differ in brightness and gain."""
    import cv2

    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    return np.asarray(clahe.apply(gray))


def _features(gray: U8) -> tuple[Any, Any, str]:
    import cv2

    det: Any
    if hasattr(cv2, "SIFT_create"):
        det = cv2.SIFT_create(nfeatures=4000)
        name = "sift"
    else:  # pragma: no cover - every OpenCV >= 4.4 has SIFT
        det = getattr(cv2, "ORB_create")(nfeatures=4000)  # noqa: B009
        name = "orb"
    kp, desc = det.detectAndCompute(gray, None)
    return kp, desc, name


def register_features(
    hsi: U8, rgb: U8, *, ransac_px: float = 3.0, ratio: float = RATIO
) -> HsiResult:
    """Feature-based homography (HSI -> RGB)."""
    import cv2

    kp1, d1, name = _features(_equalise(hsi))
    kp2, d2, _ = _features(_equalise(rgb))
    if d1 is None or d2 is None or len(kp1) < MIN_INLIERS or len(kp2) < MIN_INLIERS:
        raise CalibrationError(
            f"too few features ({0 if d1 is None else len(kp1)} in the HSI image, "
            f"{0 if d2 is None else len(kp2)} in the RGB image); pick a textured scene or a "
            "band with more contrast (--band), or use --method board"
        )
    norm = cv2.NORM_L2 if name == "sift" else cv2.NORM_HAMMING
    matcher = cv2.BFMatcher(norm)
    good = []
    for pair in matcher.knnMatch(d1, d2, k=2):
        if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance:
            good.append(pair[0])
    if len(good) < MIN_INLIERS:
        raise CalibrationError(
            f"only {len(good)} distinctive feature matches between the HSI and RGB images "
            f"(need {MIN_INLIERS}); check they overlap, try another --band or --method board"
        )
    p1 = np.array([kp1[m.queryIdx].pt for m in good], np.float64)
    p2 = np.array([kp2[m.trainIdx].pt for m in good], np.float64)
    method = getattr(cv2, "USAC_MAGSAC", cv2.RANSAC)
    h, mask = cv2.findHomography(p1, p2, method, ransac_px, maxIters=10000, confidence=0.9999)
    if h is None or mask is None or int(mask.sum()) < MIN_INLIERS:
        raise CalibrationError(
            f"no consistent homography among {len(good)} matches (fewer than {MIN_INLIERS} "
            "inliers); the images may not overlap or the scene is too close for a homography"
        )
    inl = mask.ravel().astype(bool)
    hom = np.asarray(h, np.float64)
    err = transfer(hom, p1[inl]) - p2[inl]
    return HsiResult(
        homography=hom / hom[2, 2],
        method=f"features ({name})",
        inliers=int(inl.sum()),
        matches=len(good),
        rms_px=float(np.sqrt(np.mean(np.sum(err**2, axis=1)))),
        hsi_size=(int(hsi.shape[1]), int(hsi.shape[0])),
        rgb_size=(int(rgb.shape[1]), int(rgb.shape[0])),
        points_hsi=p1[inl],
        points_rgb=p2[inl],
        config={"method": "features", "ransac_px": ransac_px, "ratio": ratio, "detector": name},
    )


def register_board(hsi: U8, rgb: U8, board: Board) -> HsiResult:
    """Board-based homography (HSI -> RGB) from the corners seen in both images."""
    import cv2

    a = board.detect(hsi)
    b = board.detect(rgb)
    if a is None or b is None:
        which = "HSI" if a is None else "RGB"
        raise CalibrationError(f"board {board.spec} not found in the {which} image")
    _, pa, pb = common_corners(a, b)
    if len(pa) < 6:
        raise CalibrationError(f"the two images share only {len(pa)} board corners (need 6)")
    if board.kind == "checkerboard" and float(np.dot(pa[-1] - pa[0], pb[-1] - pb[0])) < 0:
        pb = pb[::-1].copy()  # numbered from opposite ends (see stereo.align_pair)
    h, _ = cv2.findHomography(pa, pb, 0)
    if h is None:
        raise CalibrationError("board corners do not determine a homography (degenerate view)")
    hom = np.asarray(h, np.float64)
    err = transfer(hom, pa) - pb
    return HsiResult(
        homography=hom / hom[2, 2],
        method="board",
        inliers=len(pa),
        matches=len(pa),
        rms_px=float(np.sqrt(np.mean(np.sum(err**2, axis=1)))),
        hsi_size=(int(hsi.shape[1]), int(hsi.shape[0])),
        rgb_size=(int(rgb.shape[1]), int(rgb.shape[0])),
        points_hsi=pa,
        points_rgb=pb,
        config={"method": "board", "board": board.spec},
    )


def overlay(hsi: U8, rgb: U8, h: F64) -> U8:
    """RGB image with the warped HSI band in magenta/green: misregistration shows as fringes."""
    import cv2

    warped = cv2.warpPerspective(hsi, h, (rgb.shape[1], rgb.shape[0]))
    out = np.dstack([warped, rgb, warped])
    return np.asarray(out, dtype=np.uint8)
