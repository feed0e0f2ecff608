"""``calibration.pipeline``: the runs the CLI calls, used straight from Python."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from calibration.boards import parse_board
from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from calibration.io import load_calibration
from calibration.pipeline import CameraConf, ModelConf, run_camera
from calibration.synthetic import default_poses, render_board
from smartmine.cli import main

CAM = CameraModel.create(
    640, 480, [[520, 0, 323.4], [0, 518, 236.7], [0, 0, 1]], [-0.28, 0.09, 0.0008, -0.0005, -0.012]
)
BOARD = parse_board("checkerboard:9x6:0.03")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("views")
    rng = np.random.default_rng(2)
    for i, (r, t) in enumerate(default_poses(CAM, BOARD, 12)):
        cv2.imwrite(
            str(path / f"view{i:02d}.png"), render_board(CAM, BOARD, r, t, noise_std=1.0, rng=rng)
        )
    return path


def test_run_camera_matches_the_cli(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    conf = CameraConf(board=BOARD.spec, name="front", model=ModelConf(zero_tangent=True))
    out = run_camera(conf, folder, tmp_path / "lib", echo=lines.append)
    assert out == tmp_path / "lib"
    assert lines[0].startswith("front: 12 views") and lines[-1].startswith("  verdict: good")
    argv = ["calibrate", "camera", str(folder), "--board", BOARD.spec, "--name", "front"]
    assert main([*argv, "--zero-tangent", "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [*lines, f"wrote {tmp_path / 'cli'}/"]
    assert {p.name for p in out.iterdir()} == {p.name for p in (tmp_path / "cli").iterdir()}
    lib, cli = (
        load_calibration(d / "calibration.yaml").camera("front") for d in (out, tmp_path / "cli")
    )
    np.testing.assert_allclose(lib.k, cli.k, rtol=1e-6)  # OpenCV threads: ~1e-8 noise
    np.testing.assert_allclose(lib.d, cli.d, rtol=1e-5, atol=1e-7)
    assert lib.d[2] == lib.d[3] == 0.0  # zero_tangent reached the fit
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["command"] == "calibration.pipeline.run_camera"
    assert config["arguments"]["source"] == str(folder)
    assert config["arguments"]["model"]["zero_tangent"] is True
    assert (
        config["settings"]
        == yaml.safe_load((tmp_path / "cli" / "config.yaml").read_text())["settings"]
    )
    with pytest.raises(CalibrationError, match="exists"):
        run_camera(conf, folder, out)
    run_camera(conf, folder, out, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries
