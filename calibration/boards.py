"""Calibration boards: the spec string, the board's 3-D points, and detection in images.

A board is named on the command line as

- ``checkerboard:COLSxROWS:SQUARE_M``: COLS x ROWS *inner* corners (OpenCV's pattern
  size; a board of 10 x 7 squares is ``9x6``), squares SQUARE_M metres wide;
- ``charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT``: COLS x ROWS *squares* (OpenCV's
  CharucoBoard size), ArUco markers MARKER_M wide from dictionary DICT
  (``DICT_5X5_100`` or ``5X5_100``).

Detection returns the corner ids (index into :meth:`Board.object_points`), so partial
views (ChArUco) and pairs of cameras match corners by id, never by position in a list.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.errors import CalibrationError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]

MIN_CHARUCO_CORNERS: Final = 6
"""Fewer interpolated ChArUco corners constrain a view too weakly to be worth keeping."""

_SPEC = re.compile(r"^(checkerboard|chessboard|charuco):(\d+)[xX](\d+):(.+)$")


@dataclass(frozen=True)
class Detection:
    """Board corners found in one image: ``ids`` index the board's object points."""

    ids: I64
    image_points: F64
    """(N, 2) pixel coordinates, OpenCV convention (centre of the top-left pixel is 0, 0)."""
    object_points: F64
    """(N, 3) the same corners on the board, metres, z = 0."""

    @property
    def count(self) -> int:
        return int(self.ids.size)


@dataclass(frozen=True)
class Board:
    """A planar calibration target. Build with :func:`parse_board`."""

    kind: str
    """``checkerboard`` or ``charuco``."""
    cols: int
    rows: int
    square_m: float
    marker_m: float = 0.0
    dictionary: str = ""

    # -- description -------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The spec string this board parses from (saved with every result)."""
        base = f"{self.kind}:{self.cols}x{self.rows}:{_num(self.square_m)}"
        if self.kind == "charuco":
            return f"{base}:{_num(self.marker_m)}:{self.dictionary}"
        return base

    @property
    def corner_count(self) -> int:
        """Corners of a complete view."""
        if self.kind == "checkerboard":
            return self.cols * self.rows
        return (self.cols - 1) * (self.rows - 1)

    @property
    def min_corners(self) -> int:
        """Fewest corners a detection needs to be used."""
        return self.corner_count if self.kind == "checkerboard" else MIN_CHARUCO_CORNERS

    def object_points(self) -> F64:
        """(corner_count, 3) corner positions on the board in metres, row-major, z = 0."""
        if self.kind == "checkerboard":
            cols, rows, offset = self.cols, self.rows, 0.0
        else:  # ChArUco inner corners start one square in from the board edge
            cols, rows, offset = self.cols - 1, self.rows - 1, self.square_m
        yy, xx = np.mgrid[0:rows, 0:cols]
        pts = np.zeros((rows * cols, 3))
        pts[:, 0] = xx.ravel() * self.square_m + offset
        pts[:, 1] = yy.ravel() * self.square_m + offset
        return pts

    @property
    def size_m(self) -> tuple[float, float]:
        """Width and height of the printed pattern (squares only, no margin), metres."""
        if self.kind == "checkerboard":
            return (self.cols + 1) * self.square_m, (self.rows + 1) * self.square_m
        return self.cols * self.square_m, self.rows * self.square_m

    # -- OpenCV objects ----------------------------------------------------------
    def charuco_board(self) -> Any:
        """The ``cv2.aruco.CharucoBoard`` of a ChArUco spec."""
        import cv2

        if self.kind != "charuco":
            raise CalibrationError(f"board {self.spec} is not a ChArUco board")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard(
            (self.cols, self.rows), self.square_m, self.marker_m, dictionary
        )

    def render(self, pixels_per_square: int, margin_squares: float = 1.0) -> U8:
        """The printable pattern with a white margin (used by tests and the simulator).

        Pixel (i, j) covers board coordinates ``[(j - m) s, (j - m + 1) s)`` where ``s``
        is the square size over ``pixels_per_square`` and ``m`` the margin in pixels, so
        the board origin (first square's corner) sits at pixel edge ``m``.
        """
        import cv2

        pps = int(pixels_per_square)
        margin = round(margin_squares * pps)
        if self.kind == "checkerboard":
            sq_cols, sq_rows = self.cols + 1, self.rows + 1
            yy, xx = np.mgrid[0 : sq_rows * pps, 0 : sq_cols * pps]
            # corner (0, 0) of the object points is the first inner corner: square (0, 0)
            # is black, as in OpenCV's pattern.png
            black = ((xx // pps + yy // pps) % 2) == 0
            pattern = np.where(black, 0, 255).astype(np.uint8)
        else:
            pattern = self.charuco_board().generateImage(
                (self.cols * pps, self.rows * pps), marginSize=0, borderBits=1
            )
        out = np.asarray(
            cv2.copyMakeBorder(
                pattern, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255
            ),
            dtype=np.uint8,
        )
        return out

    def render_origin_m(self) -> float:
        """Board coordinate (metres) of the top-left pattern edge in :meth:`render`."""
        return -self.square_m if self.kind == "checkerboard" else 0.0

    # -- detection ---------------------------------------------------------------
    def detect(self, gray: U8, subpix_window: int | None = None) -> Detection | None:
        """Sub-pixel corners of the board in an 8-bit grey image; None when not found.

        ``subpix_window`` fixes cornerSubPix's half-window (OpenCV's samples: 11);
        by default it follows the corner spacing (:func:`subpix_window`).
        """
        if self.kind == "checkerboard":
            return _detect_checkerboard(self, gray, subpix_window)
        return _detect_charuco(self, gray, subpix_window)


def _num(value: float) -> str:
    return f"{value:g}"


def parse_board(spec: str) -> Board:
    """Parse ``checkerboard:9x6:0.025`` or ``charuco:7x5:0.04:0.03:DICT_5X5_100``."""
    text = spec.strip()
    m = _SPEC.match(text)
    if m is None:
        raise CalibrationError(
            f"board {spec!r} is not checkerboard:COLSxROWS:SQUARE_M (inner corners, e.g. "
            "checkerboard:9x6:0.025) or charuco:COLSxROWS:SQUARE_M:MARKER_M:DICT (squares, "
            "e.g. charuco:7x5:0.04:0.03:DICT_5X5_100)"
        )
    kind = "charuco" if m.group(1) == "charuco" else "checkerboard"
    cols, rows = int(m.group(2)), int(m.group(3))
    fields = m.group(4).split(":")
    expected = 3 if kind == "charuco" else 1
    if len(fields) != expected:
        raise CalibrationError(
            f"board {spec!r}: {kind} takes {'SQUARE_M:MARKER_M:DICT' if expected == 3 else ''}"
            f"{'SQUARE_M' if expected == 1 else ''} after COLSxROWS"
        )
    square_m = _positive(fields[0], "square size", spec)
    if kind == "checkerboard":
        if cols < 2 or rows < 2:
            raise CalibrationError(f"board {spec!r}: needs at least 2x2 inner corners")
        return Board(kind, cols, rows, square_m)
    marker_m = _positive(fields[1], "marker size", spec)
    if marker_m >= square_m:
        raise CalibrationError(
            f"board {spec!r}: marker size {marker_m} m must be smaller than the square"
        )
    if cols < 3 or rows < 3:
        raise CalibrationError(f"board {spec!r}: a ChArUco board needs at least 3x3 squares")
    dictionary = fields[2].strip().upper()
    if not dictionary.startswith("DICT_"):
        dictionary = "DICT_" + dictionary
    _check_dictionary(dictionary, cols, rows, spec)
    return Board(kind, cols, rows, square_m, marker_m, dictionary)


def _positive(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CalibrationError(f"board {spec!r}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise CalibrationError(f"board {spec!r}: {what} must be positive metres, got {text}")
    return value


def _check_dictionary(name: str, cols: int, rows: int, spec: str) -> None:
    import cv2

    names = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
    if name not in names:
        raise CalibrationError(
            f"board {spec!r}: unknown ArUco dictionary {name} (e.g. DICT_4X4_50, DICT_5X5_100, "
            "DICT_6X6_250, DICT_APRILTAG_36H11)"
        )
    size = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name)).bytesList.shape[0]
    needed = (cols * rows) // 2
    if needed > size:
        raise CalibrationError(f"board {spec!r}: needs {needed} markers but {name} has only {size}")


# --- detection ---------------------------------------------------------------------


def subpix_window(points: F64) -> int:
    """Half-size of the cornerSubPix window: 0.35 x the corner spacing, 3 to 11 px.

    OpenCV's samples use a fixed 11 (a 23 px window); on a steep or distant view whose
    corners are 20 px apart that window takes in the neighbouring corners and biases
    the estimate (left02 of OpenCV's sample set: 1.2 px view RMS with 11, 0.16 px with
    7). 0.35 x spacing gave the lowest RMS on that set and caps at OpenCV's 11.
    """
    if len(points) < 2:
        return 5
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(points, k=2)
    spacing = float(np.min(dist[:, 1]))
    return int(max(3, min(11, math.floor(0.35 * spacing))))


def _detect_checkerboard(board: Board, gray: U8, window: int | None) -> Detection | None:
    import cv2

    size = (board.cols, board.rows)
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(gray, size, flags=flags)
    pts: Any
    if found:
        pts = np.asarray(corners, np.float32).reshape(-1, 1, 2)
        win = window or subpix_window(pts.reshape(-1, 2).astype(np.float64))
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
        pts = cv2.cornerSubPix(gray, pts, (win, win), (-1, -1), criteria)
    else:  # the sector-based detector copes with blur, glare and harsh lighting
        found, corners = cv2.findChessboardCornersSB(
            gray, size, flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE
        )
        if not found:
            return None
        pts = corners
    image_points = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    image_points = _canonical_order(image_points, board.cols, board.rows)
    ids = np.arange(board.corner_count, dtype=np.int64)
    return Detection(ids, image_points, board.object_points())


def _canonical_order(points: F64, cols: int, rows: int) -> F64:
    """Start the grid at its top-left-most end, so two cameras of a rig number alike.

    OpenCV may return a checkerboard's corners from either end (the grid is symmetric
    under a half turn); the corner nearer the image's top-left is taken as corner 0.
    """
    first, last = points[0], points[-1]
    if first[0] + first[1] > last[0] + last[1]:
        return points[::-1].copy()
    return points


def _detect_charuco(board: Board, gray: U8, window: int | None) -> Detection | None:
    import cv2

    detector = _charuco_detector(board)
    corners, ids, _, _ = detector.detectBoard(gray)
    if ids is None or corners is None or len(ids) < board.min_corners:
        return None
    ids_arr = np.asarray(ids, dtype=np.int64).reshape(-1)
    pts: Any = np.asarray(corners, dtype=np.float32).reshape(-1, 1, 2)
    if window:  # the detector already refines with a window that avoids the markers
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 1e-4)
        pts = cv2.cornerSubPix(gray, pts, (window, window), (-1, -1), criteria)
    cb = detector.getBoard()
    if cb.checkCharucoCornersCollinear(ids_arr.astype(np.int32).reshape(-1, 1)):
        return None  # a line of corners does not fix a plane's pose
    order = np.argsort(ids_arr)
    ids_arr = ids_arr[order]
    image_points = np.asarray(pts, dtype=np.float64).reshape(-1, 2)[order]
    return Detection(ids_arr, image_points, board.object_points()[ids_arr])


_DETECTORS: dict[str, Any] = {}


def _charuco_detector(board: Board) -> Any:
    """One CharucoDetector per board (building it parses the dictionary each time)."""
    import cv2

    det = _DETECTORS.get(board.spec)
    if det is None:
        params = cv2.aruco.DetectorParameters()
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
        charuco = cv2.aruco.CharucoParameters()
        charuco.tryRefineMarkers = True
        det = cv2.aruco.CharucoDetector(board.charuco_board(), charuco, params)
        _DETECTORS[board.spec] = det
    return det


def common_corners(a: Detection, b: Detection) -> tuple[F64, F64, F64]:
    """Corners seen in both detections: ``(object_points, points_a, points_b)``."""
    _, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
    return a.object_points[ia], a.image_points[ia], b.image_points[ib]


def to_gray(image: npt.NDArray[Any], what: str) -> U8:
    """8-bit grey of any image a camera gives (colour, 16-bit IR, float)."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[:, :, :3]
        if img.shape[2] != 3:
            raise CalibrationError(f"{what}: {img.shape[2]}-channel image, expected grey or RGB")
        if img.dtype != np.uint8:
            img = _stretch(img.mean(axis=2))
        return np.asarray(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2GRAY))
    if img.ndim != 2:
        raise CalibrationError(f"{what}: image of shape {img.shape} is not 2-D")
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    return _stretch(img)


def _stretch(img: npt.NDArray[Any]) -> U8:
    """16-bit IR or float images to 8 bits between the 1st and 99th percentile."""
    arr = np.asarray(img, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return np.zeros(arr.shape, np.uint8)
    lo, hi = np.percentile(finite, [1, 99])
    scale = 255.0 / max(hi - lo, 1e-12)
    out = np.clip((np.nan_to_num(arr, nan=lo) - lo) * scale, 0, 255)
    return np.asarray(out, dtype=np.uint8)


def sharpness(gray: U8, points: F64 | None = None) -> float:
    """Variance of the Laplacian, over the board's bounding box when ``points`` is given.

    Motion blur and defocus flatten edges; a blurred view shifts corners along the
    motion and biases the calibration, so blurred frames are skipped.
    """
    import cv2

    roi = gray
    if points is not None and len(points):
        x0, y0 = np.floor(points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
        h, w = gray.shape[:2]
        roi = gray[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
        if roi.size < 16:
            roi = gray
    return float(cv2.Laplacian(roi, cv2.CV_64F).var())
