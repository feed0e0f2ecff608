"""HSI-RGB registration: synthetic pair of known homography, board-based, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.boards import parse_board
from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from calibration.hsi import load_hsi_band, register_board, register_features, transfer
from calibration.io import load_calibration
from calibration.synthetic import board_pose, render_board
from smartmine.cli import main

H_TRUE = np.array([[1.9, 0.05, 22.0], [-0.04, 1.95, 15.0], [2e-5, -1e-5, 1.0]])  # hsi -> rgb


def scene(size: tuple[int, int] = (640, 480), seed: int = 5) -> np.ndarray:
    """A rock-face-like texture: blobs and ridges at several scales."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size[1], size[0]), np.float32)
    for scale in (4, 12, 40):
        noise = rng.normal(0, 1, (size[1] // scale + 2, size[0] // scale + 2)).astype(np.float32)
        img += cv2.resize(
            noise, (size[0] + 2 * scale, size[1] + 2 * scale), interpolation=cv2.INTER_CUBIC
        )[scale : scale + size[1], scale : scale + size[0]] * (scale**0.5)
    img = (img - img.min()) / np.ptp(img) * 255
    return img.astype(np.uint8)


def hsi_cube(rgb_gray: np.ndarray, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    """What a 16-band HSI frame of the scene might hold: other gains per band, noise."""
    band = cv2.warpPerspective(
        rgb_gray.astype(np.float32), np.linalg.inv(H_TRUE), size, flags=cv2.INTER_AREA
    )
    rng = np.random.default_rng(1)
    gains = np.linspace(0.4, 1.3, 16)
    cube = np.stack([band * g + rng.normal(0, 2.0, band.shape) for g in gains], axis=2)
    return cube.astype(np.float32)


def corners_error(h: np.ndarray, size: tuple[int, int] = (320, 240)) -> float:
    c = np.array(
        [[0, 0], [size[0] - 1, 0], [size[0] - 1, size[1] - 1], [0, size[1] - 1]], np.float64
    )
    return float(np.abs(transfer(h, c) - transfer(H_TRUE, c)).max())


def test_features_recover_known_homography(tmp_path: Path) -> None:
    rgb = scene()
    np.save(tmp_path / "cube.npy", hsi_cube(rgb))
    hsi = load_hsi_band(tmp_path / "cube.npy")
    res = register_features(hsi, rgb)
    assert res.inliers > 50 and res.inliers <= res.matches
    assert res.rms_px < 1.0
    assert corners_error(res.homography) < 1.0  # at the HSI frame's corners, in RGB pixels
    assert res.method.startswith("features")


def test_board_based_registration() -> None:
    board = parse_board("checkerboard:9x6:0.03")
    rgb_cam = CameraModel.create(640, 480, [[500, 0, 319.5], [0, 500, 239.5], [0, 0, 1]], [0.0] * 5)
    hsi_cam = CameraModel.create(320, 256, [[260, 0, 159.5], [0, 260, 127.5], [0, 0, 1]], [0.0] * 5)
    r, t = board_pose(rgb_cam, board, distance_m=0.7, tilt_deg=(15, 10, 0))
    rgb = render_board(rgb_cam, board, r, t)
    hsi = render_board(hsi_cam, board, r, t + np.array([0.01, 0.0, 0.0]))
    res = register_board(hsi, rgb, board)
    assert res.method == "board" and res.inliers == board.corner_count
    assert res.rms_px < 0.5  # HSI corner noise of ~0.1 px, doubled in RGB pixels


def test_cli_writes_registration(tmp_path: Path) -> None:
    rgb = scene()
    cv2.imwrite(str(tmp_path / "rgb.png"), rgb)
    np.save(tmp_path / "cube.npy", hsi_cube(rgb))
    code = main(
        [
            "calibrate",
            "hsi",
            str(tmp_path / "cube.npy"),
            str(tmp_path / "rgb.png"),
            "--band",
            "5",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    cal = load_calibration(tmp_path / "out" / "calibration.yaml")
    reg = cal.hsi[0]
    assert (reg.hsi, reg.camera, reg.hsi_size) == ("hsi", "rgb", (320, 240))
    assert corners_error(reg.homography) < 1.0
    assert reg.quality["inliers"] > 50
    assert (tmp_path / "out" / "hsi_overlay.png").exists()
    assert (tmp_path / "out" / "config.yaml").exists()


def test_errors_are_clear(tmp_path: Path) -> None:
    flat = np.full((240, 320), 90, np.uint8)
    with pytest.raises(CalibrationError, match="too few features"):
        register_features(flat, scene())
    with pytest.raises(CalibrationError, match="not found in the HSI image"):
        register_board(flat, scene(), parse_board("checkerboard:9x6:0.03"))
    np.save(tmp_path / "c.npy", np.zeros((8, 8, 4), np.float32))
    with pytest.raises(CalibrationError, match=r"band 9 out of range 0\.\.3"):
        load_hsi_band(tmp_path / "c.npy", band=9)
    with pytest.raises(CalibrationError, match="no such hyperspectral image"):
        load_hsi_band(tmp_path / "missing.hdr")
