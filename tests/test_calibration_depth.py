"""Colour-depth extrinsics: board views in colour and 16-bit IR; RealSense factory errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.boards import parse_board
from calibration.camera_model import CameraModel
from calibration.depth import read_realsense_factory
from calibration.errors import CalibrationError
from calibration.io import Calibration, CameraEntry, load_calibration, save_calibration
from calibration.stereo import rotation_angle_deg
from calibration.synthetic import default_poses, render_board, rotation
from smartmine.cli import main

COLOR = CameraModel.create(
    640, 480, [[600, 0, 321], [0, 600, 238], [0, 0, 1]], [0.08, -0.15, 0, 0, 0.05]
)
IR = CameraModel.create(640, 400, [[385, 0, 319], [0, 385, 199.5], [0, 0, 1]], [0.0] * 5)
R_CD = rotation(0.3, 0.5, -0.2)  # x_depth = R x_color + t
T_CD = np.array([-0.015, 0.0003, 0.0002])


def test_board_views_in_colour_and_ir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    board = parse_board("charuco:8x6:0.04:0.03:DICT_5X5_100")
    (tmp_path / "color").mkdir()
    (tmp_path / "ir").mkdir()
    for i, (r, t) in enumerate(default_poses(COLOR, board, 12, distance_m=0.75)):
        cv2.imwrite(
            str(tmp_path / "color" / f"{i:02d}.png"),
            render_board(COLOR, board, r, t, noise_std=1.0),
        )
        ir8 = render_board(IR, board, R_CD @ r, R_CD @ t + T_CD, noise_std=1.0)
        cv2.imwrite(str(tmp_path / "ir" / f"{i:02d}.png"), (ir8.astype(np.uint16) * 40 + 300))
    # the IR imager's intrinsics come from an earlier calibration (the colour camera's
    # views leave the wider IR frame poorly covered); the colour camera is calibrated here
    known = tmp_path / "ir.yaml"
    save_calibration(Calibration(cameras={"depth": CameraEntry(IR, "depth_optical_frame")}), known)
    out = tmp_path / "out"
    args = ["calibrate", "depth", str(tmp_path / "color"), str(tmp_path / "ir")]
    code = main([*args, "--board", board.spec, "--calibration", str(known), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    cal = load_calibration(out / "calibration.yaml")
    assert set(cal.cameras) == {"color", "depth"}
    assert (cal.cameras["depth"].model.width, cal.cameras["depth"].model.height) == (640, 400)
    pose = cal.extrinsic("color", "depth")  # pose of the depth imager in the colour frame
    truth = np.eye(4)
    truth[:3, :3] = R_CD.T
    truth[:3, 3] = -R_CD.T @ T_CD
    assert np.linalg.norm(pose[:3, 3] - truth[:3, 3]) < 0.002
    assert rotation_angle_deg(pose[:3, :3].T @ truth[:3, :3]) < 0.2
    for name in (
        "color.yaml",
        "depth.yaml",
        "color_report.png",
        "stereo_report.png",
        "config.yaml",
    ):
        assert (out / name).exists(), name


def test_realsense_missing_or_invalid_recording(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="no such RealSense recording"):
        read_realsense_factory(tmp_path / "none.bag")
    bad = tmp_path / "bad.bag"
    bad.write_text("not a recording")
    with pytest.raises(CalibrationError, match="cannot open as a RealSense recording") as err:
        read_realsense_factory(bad)
    assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_cli_realsense_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.bag"
    bad.write_text("garbage")
    code = main(["calibrate", "depth", "--realsense", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "RealSense" in err
    assert not (tmp_path / "o").exists()
    code = main(["calibrate", "depth", "--out", str(tmp_path / "o")])
    assert code == 2 and "needs board views" in capsys.readouterr().err
