"""``--calibration``: one reader (calibration.camera_model.load_camera_model) for the
calibration.yaml of ``smartmine calibrate`` and ROS camera_info YAML, used by sfm and slam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calibration.camera_model import CameraModel, load_camera_model
from calibration.errors import CalibrationError
from calibration.io import Calibration, CameraEntry, save_calibration, write_ros_yaml
from mapping.sfm.errors import SfmError
from mapping.sfm.pipeline import _load_calibration, run_pipeline
from mapping.slam.errors import SlamError
from mapping.slam.frame import Pinhole
from mapping.slam.sources import BagSource, FolderSource, apply_calibration
from smartmine.bagio.writer import BagWriter
from smartmine.cli import main
from smartmine.msgs import intrinsics_to_camera_info

FRONT = CameraModel.create(
    640, 480, [[520, 0, 323.4], [0, 518, 236.7], [0, 0, 1]], [-0.28, 0.09, 0.0008, -0.0005, -0.012]
)
RIGHT = CameraModel.create(
    640, 480, [[530, 0, 319.0], [0, 529, 241.0], [0, 0, 1]], [-0.2, 0.05, 0.0, 0.0, 0.0]
)
FISH = CameraModel.create(
    800,
    600,
    [[300, 0, 399.5], [0, 300, 299.5], [0, 0, 1]],
    [0.01, -0.002, 0.0003, -0.00004],
    "equidistant",
)


@pytest.fixture
def two_cameras(tmp_path: Path) -> Path:
    """A calibration.yaml as ``smartmine calibrate stereo`` writes it (two cameras)."""
    cal = Calibration(
        {
            "front": CameraEntry(FRONT, "front_optical_frame", {"rms_px": 0.2}),
            "right": CameraEntry(RIGHT, "right_optical_frame"),
        }
    )
    return save_calibration(cal, tmp_path / "calibration.yaml")


def test_calibration_yaml_by_name_and_first_by_default(two_cameras: Path) -> None:
    assert load_camera_model(two_cameras).intrinsics == FRONT.intrinsics  # the first
    assert load_camera_model(two_cameras, "right").intrinsics == RIGHT.intrinsics
    with pytest.raises(CalibrationError, match=r"no camera 'left'.*cameras: front, right") as err:
        load_camera_model(two_cameras, "left")
    assert str(two_cameras) in str(err.value)


@pytest.mark.parametrize("model", [FRONT, FISH], ids=["plumb_bob", "equidistant"])
def test_single_camera_yaml_and_camera_info_give_the_same_model(
    tmp_path: Path, model: CameraModel
) -> None:
    cal = save_calibration(Calibration({"cam": CameraEntry(model)}), tmp_path / "calibration.yaml")
    ros = write_ros_yaml(model, tmp_path / "cam.yaml", "cam")
    assert load_camera_model(cal).intrinsics == model.intrinsics
    assert load_camera_model(ros).intrinsics == model.intrinsics
    assert load_camera_model(ros, "any name").intrinsics == model.intrinsics


def test_calibrate_cli_output_reads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The calibration.yaml and NAME.yaml of ``smartmine calibrate camera`` on synthetic views."""
    import cv2

    from calibration.boards import parse_board
    from calibration.synthetic import default_poses, render_board

    board = parse_board("checkerboard:9x6:0.03")
    views = tmp_path / "views"
    views.mkdir()
    rng = np.random.default_rng(2)
    for i, (r, t) in enumerate(default_poses(FRONT, board, 12)):
        cv2.imwrite(
            str(views / f"v{i:02d}.png"), render_board(FRONT, board, r, t, noise_std=1.0, rng=rng)
        )
    out = tmp_path / "out"
    argv = ["calibrate", "camera", str(views), "--board", board.spec, "--name", "front"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    model = load_camera_model(out / "calibration.yaml")
    assert abs(model.fx / FRONT.fx - 1) < 0.005 and abs(model.cx - FRONT.cx) < 1
    assert load_camera_model(out / "calibration.yaml", "front").intrinsics == model.intrinsics
    assert load_camera_model(out / "front.yaml").intrinsics == model.intrinsics


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- 1\n- 2\n", "document is not a mapping"),
        ("a: [unclosed\n", "invalid YAML"),
        ("image_width: 640\nimage_height: 480\n", "neither a smartmine calibration.yaml"),
        ("schema: smartmine/calibration\nversion: 7\n", "version 7 is not supported"),
        ("schema: smartmine/calibration\nversion: 1\ncameras: {}\n", "holds no cameras"),
        (
            "schema: smartmine/calibration\nversion: 1\ncameras:\n  a: {width: 4, height: 3}\n",
            "missing cameras.a.distortion_model",
        ),
        (
            "image_width: 640\nimage_height: 480\ncamera_matrix: {rows: 3, cols: 3, data: [1]}\n"
            "distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n",
            "camera_matrix",
        ),
    ],
)
def test_bad_file_is_one_error_naming_it(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "calib.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=fragment) as err:
        load_camera_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(SfmError, match=fragment) as sfm_err:
        _load_calibration(path)
    assert str(path) in str(sfm_err.value)
    source = _folder(tmp_path)
    with pytest.raises(SlamError, match=fragment) as slam_err:
        apply_calibration(source, path)
    assert str(path) in str(slam_err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"cannot read calibration .*nope\.yaml"):
        load_camera_model(tmp_path / "nope.yaml")


def test_sfm_takes_calibration_yaml(two_cameras: Path) -> None:
    assert _load_calibration(two_cameras) == FRONT.intrinsics
    assert _load_calibration(two_cameras, "right") == RIGHT.intrinsics


def test_sfm_refuses_a_fisheye_calibration(tmp_path: Path) -> None:
    cal = save_calibration(Calibration({"fish": CameraEntry(FISH)}), tmp_path / "c.yaml")
    with pytest.raises(SfmError, match=r"c\.yaml: an equidistant \(fisheye\) calibration"):
        _load_calibration(cal)


def test_sfm_bad_calibration_fails_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "calibration.yaml"
    bad.write_text("schema: smartmine/calibration\nversion: 1\ncameras: {}\n")
    out = tmp_path / "out"
    with pytest.raises(SfmError, match="holds no cameras"):
        run_pipeline(tmp_path, out, None, calibration_path=bad)  # type: ignore[arg-type]
    assert not out.exists()
    argv = ["sfm", str(tmp_path), "--out", str(out), "--calibration", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and "holds no cameras" in err and "\n" not in err


def _folder(root: Path) -> FolderSource:
    import cv2

    (root / "color").mkdir(exist_ok=True)
    (root / "depth").mkdir(exist_ok=True)
    # a folder source checks its depth files and the camera's image size at once
    cv2.imwrite(str(root / "color" / "0.png"), np.zeros((480, 640, 3), np.uint8))
    cv2.imwrite(str(root / "depth" / "0.pgm"), np.zeros((480, 640), np.uint16))
    return FolderSource(root, Pinhole.from_k(640, 480, [[400, 0, 320], [0, 400, 240], [0, 0, 1]]))


def _rgbd_bag(path: Path, intr: object) -> Path:
    with BagWriter(path) as w:
        w.add_topic("/camera/color/image_raw", "sensor_msgs/msg/Image")
        w.add_topic("/camera/depth/image_raw", "sensor_msgs/msg/Image")
        w.add_topic("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo")
        msg = intrinsics_to_camera_info(intr, frame_id="cam", factory=w.factory)  # type: ignore[arg-type]
        w.write("/camera/color/camera_info", 1, msg)
    return path


def test_slam_takes_calibration_yaml(tmp_path: Path, two_cameras: Path) -> None:
    bag_model = CameraModel.create(640, 480, [[400, 0, 320], [0, 400, 240], [0, 0, 1]], [0] * 5)
    source = BagSource(_rgbd_bag(tmp_path / "rgbd", bag_model.intrinsics))
    assert source.undistorter is None
    apply_calibration(source, two_cameras, "right")
    assert np.array_equal(source.camera.k, RIGHT.k)
    assert source.intrinsics == RIGHT.intrinsics
    assert source.undistorter is not None  # the calibration's distortion is removed
    folder = _folder(tmp_path)
    apply_calibration(folder, two_cameras)
    assert np.array_equal(folder.camera.k, FRONT.k)


def test_slam_refuses_a_calibration_of_another_image_size(tmp_path: Path) -> None:
    cal = save_calibration(Calibration({"fish": CameraEntry(FISH)}), tmp_path / "c.yaml")
    source = BagSource(_rgbd_bag(tmp_path / "rgbd", FRONT.intrinsics))
    with pytest.raises(SlamError, match=r"c.yaml: calibration is for 800x600 images.*640x480"):
        apply_calibration(source, cal)
