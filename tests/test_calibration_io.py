"""Output formats: write, read back, identical parameters; calibration.yaml schema."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
import pytest

from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from calibration.io import (
    Calibration,
    CameraEntry,
    Extrinsic,
    HsiRegistration,
    ImuCamera,
    colmap_camera_line,
    load_calibration,
    parse_colmap_camera_line,
    read_colmap_cameras,
    read_opencv_yaml,
    read_ros_yaml,
    save_calibration,
    write_colmap_cameras,
    write_opencv_yaml,
    write_products,
    write_ros_yaml,
)
from smartmine.geometry import make_transform
from smartmine.msgs import (
    camera_info_to_intrinsics,
    intrinsics_to_camera_info,
    read_camera_info_yaml,
)
from tests.conftest import shared

K = [
    [533.1592002743954, 0.0, 342.16205791077243],
    [0.0, 533.2301276702215, 234.0549980934328],
    [0, 0, 1],
]
CAMERAS = {
    "plumb_bob": CameraModel.create(
        640, 480, K, [-0.2842754, 0.0526009189, 0.00107331, -7.342e-05, 0.1054299]
    ),
    "plumb_bob_no_k3": CameraModel.create(640, 480, K, [-0.28, 0.05, 0.001, -7.3e-05, 0.0]),
    "rational_polynomial": CameraModel.create(
        1280, 720, K, [0.12, -0.05, 0.001, 0.0005, 0.01, 0.45, -0.06, 0.02], "rational_polynomial"
    ),
    "equidistant": CameraModel.create(848, 800, K, [0.05, -0.02, 0.01, -0.003], "equidistant"),
}


def same(a: CameraModel, b: CameraModel) -> bool:
    return (
        (a.width, a.height, a.distortion_model) == (b.width, b.height, b.distortion_model)
        and np.array_equal(a.k, b.k)
        and np.array_equal(a.d, b.d)
    )


@pytest.mark.parametrize("name", list(CAMERAS))
def test_ros_yaml_round_trip_and_camera_info(tmp_path: Path, name: str) -> None:
    cam = CAMERAS[name]
    path = write_ros_yaml(cam, tmp_path / "cam.yaml", "front")
    back, cam_name = read_ros_yaml(path)
    assert cam_name == "front" and same(back, cam)
    # the Foundation converters load it as a CameraInfo
    intr, _ = read_camera_info_yaml(path)
    msg = intrinsics_to_camera_info(intr, frame_id="front_optical_frame")
    assert msg.distortion_model == cam.distortion_model
    assert np.array_equal(msg.k, np.asarray(cam.k).ravel())
    assert camera_info_to_intrinsics(msg) == cam.intrinsics


@pytest.mark.parametrize("name", list(CAMERAS))
def test_opencv_yaml_round_trip(tmp_path: Path, name: str) -> None:
    cam = CAMERAS[name]
    path = write_opencv_yaml(cam, tmp_path / "cam.yml", "front", rms_px=0.2)
    back, cam_name = read_opencv_yaml(path)
    assert cam_name == "front" and same(back, cam)
    assert "avg_reprojection_error" in path.read_text()


@pytest.mark.parametrize("name", list(CAMERAS))
def test_colmap_line_round_trip(name: str) -> None:
    cam = CAMERAS[name]
    line = colmap_camera_line(cam, 3)
    cam_id, back = parse_colmap_camera_line(line)
    assert cam_id == 3 and back.distortion_model == cam.distortion_model
    assert np.allclose(back.k, cam.k, rtol=0, atol=1e-12) and np.array_equal(back.d, cam.d)
    expected = {
        "plumb_bob": "FULL_OPENCV",
        "plumb_bob_no_k3": "OPENCV",
        "rational_polynomial": "FULL_OPENCV",
        "equidistant": "OPENCV_FISHEYE",
    }[name]
    assert line.split()[1] == expected


@pytest.mark.parametrize("name", list(CAMERAS))
def test_colmap_pixel_convention_matches_pycolmap(name: str) -> None:
    """COLMAP puts pixel centres at +0.5: pycolmap must project 0.5 px right/below us."""
    cam = CAMERAS[name]
    _, model, w, h, *params = colmap_camera_line(cam).split()
    pc = pycolmap.Camera(
        model=model, width=int(w), height=int(h), params=[float(p) for p in params]
    )
    pts = np.array([[0.1, -0.2, 1.0], [-0.3, 0.25, 1.5], [0.0, 0.0, 2.0]])
    theirs = np.asarray(pc.img_from_cam(pts), np.float64)
    assert np.abs(theirs - (cam.project(pts) + 0.5)).max() < 1e-9


def test_colmap_cameras_file(tmp_path: Path) -> None:
    models = {i + 1: m for i, m in enumerate(CAMERAS.values())}
    path = write_colmap_cameras(models, tmp_path / "cameras.txt")
    back = read_colmap_cameras(path)
    assert sorted(back) == sorted(models)
    with pytest.raises(CalibrationError, match="SIMPLE_RADIAL takes 4"):
        parse_colmap_camera_line("1 SIMPLE_RADIAL 640 480 500 320 240")
    simple = parse_colmap_camera_line("7 SIMPLE_RADIAL 640 480 500 320.5 240.5 -0.1")[1]
    assert (simple.fx, simple.cx, simple.d[0]) == (500.0, 320.0, -0.1)


def test_opencv_sample_reference_file_reads() -> None:
    path = shared("calib_opencv_chessboard_stereo", "left_intrinsics.yml")
    cam, _ = read_opencv_yaml(path)
    assert cam.distortion_model == "plumb_bob" and cam.fx == pytest.approx(535.9157, abs=1e-3)
    assert cam.d[0] == pytest.approx(-0.266373, abs=1e-6)


def _full_calibration() -> Calibration:
    t = make_transform(np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]), [0.12, -0.003, 0.01])
    return Calibration(
        cameras={
            "left": CameraEntry(CAMERAS["plumb_bob"], "left_optical_frame", {"rms_px": 0.18}),
            "fish": CameraEntry(CAMERAS["equidistant"], "fish_optical_frame"),
        },
        extrinsics=[Extrinsic("left", "fish", t, {"rms_px": 0.2, "baseline_m": 0.12})],
        imu=[ImuCamera("imu", "left", t[:3, :3], 0.0123, {"residual_rms_rad_s": 0.004})],
        hsi=[
            HsiRegistration(
                "hsi", "left", np.array([[1.1, 0.01, 3], [0, 1.05, -2], [1e-5, 0, 1]]), (320, 256)
            )
        ],
    )


def test_calibration_yaml_round_trip(tmp_path: Path) -> None:
    cal = _full_calibration()
    path = save_calibration(cal, tmp_path / "calibration.yaml")
    back = load_calibration(path)
    for name, entry in cal.cameras.items():
        assert same(back.cameras[name].model, entry.model)
        assert back.cameras[name].frame_id == entry.frame_id
    assert back.cameras["left"].quality == {"rms_px": 0.18}
    assert np.allclose(back.extrinsic("left", "fish"), cal.extrinsics[0].transform, atol=1e-15)
    assert np.allclose(back.extrinsic("fish", "left") @ cal.extrinsics[0].transform, np.eye(4))
    assert back.imu[0].time_offset_s == 0.0123
    assert np.allclose(back.imu[0].rotation, cal.imu[0].rotation, atol=1e-15)
    assert np.array_equal(back.hsi[0].homography, cal.hsi[0].homography)
    assert back.hsi[0].hsi_size == (320, 256)
    assert back.camera("left") is not None
    with pytest.raises(CalibrationError, match=r"no camera 'right' .*cameras: left, fish"):
        back.camera("right")
    assert [p.name for p in tmp_path.iterdir()] == ["calibration.yaml"]  # no temporaries left


def test_merge_replaces_same_names() -> None:
    cal = _full_calibration()
    newer = Calibration(
        cameras={"left": CameraEntry(CAMERAS["plumb_bob_no_k3"], "l")},
        extrinsics=[Extrinsic("fish", "left", np.eye(4))],
    )
    merged = cal.merge(newer)
    assert merged.cameras["left"].frame_id == "l" and "fish" in merged.cameras
    assert len(merged.extrinsics) == 1 and merged.extrinsics[0].parent == "fish"
    assert len(cal.extrinsics) == 1 and cal.extrinsics[0].parent == "left"  # unchanged


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- 1\n- 2\n", "document is not a mapping"),
        ("image_width: 640\nimage_height: 480\n", "not a smartmine calibration"),
        ("schema: smartmine/calibration\nversion: 7\n", "version 7 is not supported"),
        (
            "schema: smartmine/calibration\nversion: 1\ncameras:\n  a: {width: 4, height: 3}\n",
            "missing cameras.a.distortion_model",
        ),
        (
            "schema: smartmine/calibration\nversion: 1\nextrinsics:\n"
            "  - {parent: a, child: b, translation_m: [0, 0], rotation_xyzw: [0, 0, 0, 1]}\n",
            r"extrinsics\[0\].translation_m has 2 numbers",
        ),
        ("schema: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_calibration_files_name_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "calibration.yaml"
    path.write_text(text)
    with pytest.raises(CalibrationError, match=fragment) as err:
        load_calibration(path)
    assert str(path) in str(err.value)


def test_write_products_writes_every_format(tmp_path: Path) -> None:
    paths = write_products(tmp_path, _full_calibration())
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "left.yaml",
            "left_opencv.yml",
            "fish.yaml",
            "fish_opencv.yml",
            "colmap_cameras.txt",
            "calibration.yaml",
        ]
    )
    assert same(read_ros_yaml(tmp_path / "fish.yaml")[0], CAMERAS["equidistant"])
    assert same(read_colmap_cameras(tmp_path / "colmap_cameras.txt")[1], CAMERAS["plumb_bob"])
