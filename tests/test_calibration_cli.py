"""``smartmine calibrate``: outputs, bag input with view selection, one-line errors."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from calibration.boards import parse_board
from calibration.camera_model import CameraModel
from calibration.io import (
    Calibration,
    CameraEntry,
    load_calibration,
    read_colmap_cameras,
    read_opencv_yaml,
    read_ros_yaml,
    save_calibration,
)
from calibration.synthetic import default_poses, render_board
from smartmine.bagio.writer import BagWriter
from smartmine.cli import main
from smartmine.msgs import (
    intrinsics_to_camera_info,
    numpy_to_compressed_image,
    read_camera_info_yaml,
)

CAM = CameraModel.create(
    640, 480, [[520, 0, 323.4], [0, 518, 236.7], [0, 0, 1]], [-0.28, 0.09, 0.0008, -0.0005, -0.012]
)
BOARD = parse_board("checkerboard:9x6:0.03")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [
        render_board(CAM, BOARD, r, t, noise_std=1.0, rng=rng)
        for r, t in default_poses(CAM, BOARD, 12)
    ]


@pytest.fixture(scope="module")
def folder(images: list[np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("views")
    for i, img in enumerate(images):
        cv2.imwrite(str(path / f"view{i:02d}.png"), img)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["calibrate", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_camera_writes_every_product(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, err = run(
        capsys, "camera", str(folder), "--board", BOARD.spec, "--name", "front", "--out", str(out)
    )
    assert code == 0, err
    assert "RMS" in stdout and "verdict: good" in stdout
    names = {p.name for p in out.iterdir()}
    assert names == {
        "calibration.yaml",
        "front.yaml",
        "front_opencv.yml",
        "colmap_cameras.txt",
        "report.png",
        "coverage.png",
        "views.csv",
        "config.yaml",
    }
    cal = load_calibration(out / "calibration.yaml")
    model = cal.camera("front")
    assert abs(model.fx / CAM.fx - 1) < 0.005 and abs(model.cx - CAM.cx) < 1
    assert cal.cameras["front"].frame_id == "front_optical_frame"
    assert cal.cameras["front"].quality["verdict"] == "good"
    # every format holds the same numbers
    ros, name = read_ros_yaml(out / "front.yaml")
    assert name == "front" and ros.intrinsics == model.intrinsics
    ocv, _ = read_opencv_yaml(out / "front_opencv.yml")
    assert np.array_equal(ocv.k, model.k) and np.array_equal(ocv.d, model.d)
    colmap = read_colmap_cameras(out / "colmap_cameras.txt")[1]
    assert np.allclose(colmap.k, model.k, atol=1e-12) and np.array_equal(colmap.d, model.d)
    msg = intrinsics_to_camera_info(read_camera_info_yaml(out / "front.yaml")[0], frame_id="front")
    assert msg.width == 640 and msg.distortion_model == "plumb_bob"
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert (
        config["settings"]["board"] == BOARD.spec and config["settings"]["reject_floor_px"] == 1.0
    )
    assert config["software"]["opencv"] == cv2.__version__
    rows = list(csv.DictReader((out / "views.csv").open()))
    assert len(rows) == 12 and all(r["used"] == "1" for r in rows)
    report = cv2.imread(str(out / "report.png"))
    assert report is not None and report.shape[1] == 1280
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_camera_from_bag_selects_views(
    images: list[np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "cam.mcap"
    topic = "/camera/color/image_raw/compressed"
    frames = [*images, images[0], images[1], cv2.GaussianBlur(images[2], (0, 0), 3.0)]
    frames += [np.full_like(images[0], 90)]  # the board out of view
    with BagWriter(bag) as w:
        w.add_topic(topic, "sensor_msgs/msg/CompressedImage")
        for i, img in enumerate(frames):
            ns = 1_700_000_000_000_000_000 + i * 100_000_000
            w.write(
                topic, ns, numpy_to_compressed_image(img, "png", stamp_ns=ns, factory=w.factory)
            )
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "camera", str(bag), "--topic", topic, "--board", BOARD.spec, "--out", str(out)
    )
    assert code == 0, err
    rows = list(csv.DictReader((out / "views.csv").open()))
    used = [r for r in rows if r["used"] == "1"]
    assert len(used) == 12
    reasons = [r["reason"] for r in rows if r["used"] != "1"]
    assert sum("similar pose" in r for r in reasons) == 2
    assert sum("blurred" in r for r in reasons) == 1
    assert sum(r == "board not found" for r in reasons) == 1
    assert all(r["view"].startswith(topic + "@") for r in rows)


def test_calibration_input_is_extended(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = CameraModel.create(320, 240, [[200, 0, 160], [0, 200, 120], [0, 0, 1]], [0.0] * 5)
    base = save_calibration(
        Calibration(cameras={"thermal": CameraEntry(other, "thermal_frame")}), tmp_path / "in.yaml"
    )
    code, _, err = run(
        capsys,
        "camera",
        str(folder),
        "--board",
        BOARD.spec,
        "--calibration",
        str(base),
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    cal = load_calibration(tmp_path / "out" / "calibration.yaml")
    assert set(cal.cameras) == {"thermal", "camera"}
    assert (tmp_path / "out" / "thermal.yaml").exists()


def test_errors_are_one_line_and_leave_nothing(
    tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blank = tmp_path / "blank"
    blank.mkdir()
    for i in range(3):
        cv2.imwrite(str(blank / f"b{i}.png"), np.full((480, 640), 100, np.uint8))
    out = tmp_path / "out"
    code, _, err = run(capsys, "camera", str(blank), "--board", BOARD.spec, "--out", str(out))
    assert code == 2 and err.count("\n") == 1
    assert str(blank) in err and "not found in any of 3 images" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["blank"]

    cv2.imwrite(str(blank / "small.png"), np.full((240, 320), 100, np.uint8))
    code, _, err = run(capsys, "camera", str(blank), "--board", BOARD.spec, "--out", str(out))
    assert code == 2 and "differ in size" in err and "small.png is 320x240" in err

    code, _, err = run(
        capsys, "camera", str(folder), "--board", "checkerboard:9x6", "--out", str(out)
    )
    assert code == 2 and "checkerboard:COLSxROWS:SQUARE_M" in err

    out.mkdir()
    code, _, err = run(capsys, "camera", str(folder), "--board", BOARD.spec, "--out", str(out))
    assert code == 2 and "exists" in err and "--overwrite" in err

    bag = tmp_path / "x.mcap"
    with BagWriter(bag) as w:
        w.add_topic("/imu", "sensor_msgs/msg/Imu")
    code, _, err = run(
        capsys, "camera", str(bag), "--board", BOARD.spec, "--out", str(tmp_path / "o2")
    )
    assert code == 2 and "name the image topic with --topic" in err
    code, _, err = run(
        capsys,
        "camera",
        str(bag),
        "--topic",
        "/imu",
        "--board",
        BOARD.spec,
        "--out",
        str(tmp_path / "o2"),
    )
    assert code == 2 and "/imu is sensor_msgs/msg/Imu" in err

    code, _, err = run(
        capsys,
        "stereo",
        str(folder),
        str(blank),
        "--board",
        BOARD.spec,
        "--out",
        str(tmp_path / "o3"),
    )
    assert code == 2 and "has 12 images but" in err


def test_stereo_cli_on_opencv_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import shared

    folder = shared("calib_opencv_chessboard_stereo", "left01.jpg").parent
    out = tmp_path / "rig"
    code, stdout, err = run(
        capsys,
        "stereo",
        f"{folder}/left*.jpg",
        f"{folder}/right*.jpg",
        "--board",
        "checkerboard:9x6:0.025",
        "--out",
        str(out),
    )
    assert code == 0, err
    assert "baseline 0.083" in stdout
    cal = load_calibration(out / "calibration.yaml")
    assert set(cal.cameras) == {"left", "right"}
    ext = cal.extrinsics[0]
    assert (ext.parent, ext.child) == ("left", "right")
    assert ext.quality["baseline_m"] == pytest.approx(0.0832, abs=0.001)
    assert (out / "stereo_report.png").exists() and (out / "left_report.png").exists()


def test_help_lists_verbs_without_heavy_imports() -> None:
    code = (
        "import sys; from smartmine.cli import build_parser; p = build_parser(); "
        "h = p._subparsers._group_actions[0].choices['calibrate'].format_help(); "
        "print(all(v in h for v in ('camera', 'stereo', 'depth', 'imu', 'hsi'))); "
        "print(sorted({'cv2', 'numpy', 'scipy', 'yaml'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["True", "[]"]
