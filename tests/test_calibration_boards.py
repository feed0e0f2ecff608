"""Board specs, object points and sub-pixel detection on rendered boards."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.boards import parse_board, to_gray
from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from calibration.synthetic import board_pose, project_board, render_board

K = [[400.0, 0.0, 319.5], [0.0, 400.0, 239.5], [0.0, 0.0, 1.0]]


def _camera() -> CameraModel:
    return CameraModel.create(640, 480, K, [-0.2, 0.05, 0.0, 0.0, 0.0])


def test_parse_specs_round_trip() -> None:
    b = parse_board("checkerboard:9x6:0.025")
    assert (b.kind, b.cols, b.rows, b.square_m, b.corner_count) == ("checkerboard", 9, 6, 0.025, 54)
    assert parse_board(b.spec) == b
    c = parse_board("charuco:7x5:0.04:0.03:5x5_100")
    assert c.dictionary == "DICT_5X5_100" and c.corner_count == 24
    assert parse_board(c.spec) == c
    assert parse_board("chessboard:4x3:0.1").kind == "checkerboard"


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("checkerboard:9x6", "checkerboard:COLSxROWS:SQUARE_M"),
        ("checkerboard:9x6:abc", "not a number"),
        ("checkerboard:9x6:-1", "positive"),
        ("checkerboard:1x6:0.02", "2x2"),
        ("charuco:7x5:0.04:0.05:DICT_5X5_100", "smaller than the square"),
        ("charuco:7x5:0.04:0.03:DICT_NOPE", "unknown ArUco dictionary"),
        ("charuco:20x20:0.04:0.03:DICT_4X4_50", "has only 50"),
        ("circles:4x11:0.02", "checkerboard:COLSxROWS"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(CalibrationError, match=fragment):
        parse_board(spec)


def test_charuco_object_points_match_opencv() -> None:
    b = parse_board("charuco:7x5:0.04:0.03:DICT_5X5_100")
    ref = np.asarray(b.charuco_board().getChessboardCorners(), np.float64)
    assert np.allclose(b.object_points(), ref)


@pytest.mark.parametrize("spec", ["checkerboard:9x6:0.03", "charuco:8x6:0.04:0.03:DICT_5X5_100"])
def test_detection_is_subpixel_accurate(spec: str) -> None:
    b = parse_board(spec)
    cam = _camera()
    r, t = board_pose(cam, b, distance_m=0.55, tilt_deg=(20.0, -15.0, 5.0))
    img = render_board(cam, b, r, t, noise_std=1.0)
    det = b.detect(img)
    assert det is not None and det.count == b.corner_count
    truth = project_board(cam, b, r, t)[det.ids]
    err = np.linalg.norm(det.image_points - truth, axis=1)
    assert err.max() < 0.2, err.max()
    assert np.allclose(det.object_points, b.object_points()[det.ids])


def test_checkerboard_numbering_starts_top_left_even_upside_down() -> None:
    b = parse_board("checkerboard:9x6:0.03")
    cam = _camera()
    r, t = board_pose(cam, b, distance_m=0.6, tilt_deg=(0.0, 0.0, 180.0))
    det = b.detect(render_board(cam, b, r, t))
    assert det is not None
    first, last = det.image_points[0], det.image_points[-1]
    assert first.sum() < last.sum()


def test_charuco_partial_view_keeps_ids() -> None:
    b = parse_board("charuco:8x6:0.04:0.03:DICT_5X5_100")
    cam = _camera()
    r, t = board_pose(cam, b, distance_m=0.45, centre_px=(60.0, 240.0))  # left half off-frame
    img = render_board(cam, b, r, t)
    det = b.detect(img)
    assert det is not None and 6 <= det.count < b.corner_count
    truth = project_board(cam, b, r, t)[det.ids]
    assert np.abs(det.image_points - truth).max() < 0.3


def test_no_board_gives_none() -> None:
    blank = np.full((480, 640), 128, np.uint8)
    assert parse_board("checkerboard:9x6:0.03").detect(blank) is None
    assert parse_board("charuco:8x6:0.04:0.03:DICT_5X5_100").detect(blank) is None


def test_to_gray_handles_ir_and_colour() -> None:
    ir = (np.arange(480 * 640, dtype=np.uint16).reshape(480, 640) % 4000) + 500
    g = to_gray(ir, "ir")
    assert g.dtype == np.uint8 and g.shape == (480, 640) and g.max() == 255
    rgb = np.zeros((4, 5, 3), np.uint8)
    assert to_gray(rgb, "rgb").shape == (4, 5)
    with pytest.raises(CalibrationError, match="5-channel"):
        to_gray(np.zeros((4, 4, 5), np.uint8), "odd")
