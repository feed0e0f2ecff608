"""Camera-IMU rotation and time offset: the solver on synthetic rates, and a bag end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from calibration.boards import parse_board
from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from calibration.imu import calibrate_camera_imu
from calibration.io import Calibration, CameraEntry, load_calibration, save_calibration
from calibration.synthetic import render_board
from smartmine.bagio.writer import BagWriter
from smartmine.cli import main
from smartmine.msgs import ImuSample, numpy_to_image, sample_to_imu

R_IMU_CAM = Rotation.from_euler("zyx", [90.0, -4.0, 178.0], degrees=True).as_matrix()
OFFSET_S = 0.0375  # t_imu = t_cam + offset
BIAS = np.array([0.01, -0.02, 0.005])


def attitude(t: np.ndarray, amplitude_rad: float = 0.3) -> np.ndarray:
    """Camera orientation in the world: sinusoids about three axes at different rates."""
    a = amplitude_rad
    ang = np.stack(
        [
            a * np.sin(2 * np.pi * 0.7 * t),
            0.8 * a * np.sin(2 * np.pi * 0.45 * t + 1.0),
            0.6 * a * np.sin(2 * np.pi * 0.9 * t + 2.0),
        ],
        axis=-1,
    )
    out: np.ndarray = Rotation.from_euler("xyz", ang).as_matrix()
    return out


def gyro(t_imu: np.ndarray, amplitude_rad: float, noise: float, seed: int = 1) -> np.ndarray:
    """What the IMU measures at its own stamps: rotated body rates, bias and noise."""
    h = 1e-5
    t_cam = t_imu - OFFSET_S
    ra, rb = attitude(t_cam, amplitude_rad), attitude(t_cam + h, amplitude_rad)
    w_cam = Rotation.from_matrix(np.einsum("nji,njk->nik", ra, rb)).as_rotvec() / h
    rng = np.random.default_rng(seed)
    out: np.ndarray = w_cam @ R_IMU_CAM.T + BIAS + rng.normal(0.0, noise, w_cam.shape)
    return out


def test_solver_recovers_rotation_offset_and_bias() -> None:
    t_cam = np.arange(0.0, 8.0, 1 / 20)
    t_imu = np.arange(-1.0, 9.0, 1 / 200)
    res = calibrate_camera_imu(t_cam, attitude(t_cam), t_imu, gyro(t_imu, 0.3, 0.01))
    assert abs(res.time_offset_s - OFFSET_S) < 0.001
    assert (
        np.degrees(np.linalg.norm(Rotation.from_matrix(res.rotation.T @ R_IMU_CAM).as_rotvec()))
        < 0.2
    )
    assert np.allclose(res.gyro_bias_rad_s, BIAS, atol=0.003)
    assert res.residual_rms_rad_s < 0.01 and res.correlation > 0.95


def test_solver_refuses_poor_excitation() -> None:
    t_cam = np.arange(0.0, 6.0, 1 / 20)
    t_imu = np.arange(-1.0, 7.0, 1 / 200)
    with pytest.raises(CalibrationError, match="barely rotates"):
        calibrate_camera_imu(t_cam, attitude(t_cam, 0.001), t_imu, gyro(t_imu, 0.001, 0.0))
    yaw_only = Rotation.from_euler("z", 0.3 * np.sin(2 * np.pi * 0.7 * t_cam)[:, None]).as_matrix()
    with pytest.raises(CalibrationError, match="one axis only"):
        calibrate_camera_imu(t_cam, yaw_only, t_imu, gyro(t_imu, 0.3, 0.0)[:, [2, 1, 0]])
    with pytest.raises(CalibrationError, match="only 2 camera rate samples"):
        calibrate_camera_imu(t_cam[:3], attitude(t_cam[:3]), t_imu, gyro(t_imu, 0.3, 0))


def test_bag_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Board frames rendered along a rotating trajectory + a 200 Hz gyro, through the CLI."""
    cam = CameraModel.create(
        320, 240, [[260, 0, 159.5], [0, 260, 119.5], [0, 0, 1]], [-0.1, 0, 0, 0, 0]
    )
    board = parse_board("checkerboard:7x5:0.025")
    amp = 0.09
    w, h = board.size_m
    centre = np.array([board.render_origin_m() + w / 2, board.render_origin_m() + h / 2, -0.42])
    start = 1_700_000_000_000_000_000
    bag = tmp_path / "imu.mcap"
    t_cam = np.arange(0.0, 3.0, 1 / 20)
    t_imu = np.arange(-0.4, 3.4, 1 / 200)
    with BagWriter(bag) as out:
        out.add_topic("/cam/image_raw", "sensor_msgs/msg/Image", qos="sensor")
        out.add_topic("/imu/data", "sensor_msgs/msg/Imu", qos="sensor")
        for tc, r_wc in zip(t_cam, attitude(t_cam, amp), strict=True):
            r_cb = r_wc.T  # world = board frame
            img = render_board(cam, board, r_cb, -r_cb @ centre, supersample=2, noise_std=1.0)
            ns = start + round(tc * 1e9)
            out.write(
                "/cam/image_raw", ns, numpy_to_image(img, "mono8", stamp_ns=ns, factory=out.factory)
            )
        for ti, wi in zip(t_imu, gyro(t_imu, amp, 0.005), strict=True):
            ns = start + round(ti * 1e9)
            sample = ImuSample(
                ns,
                "imu_link",
                np.array([0, 0, 0, 1.0]),
                np.full((3, 3), -1.0),
                wi,
                np.zeros((3, 3)),
                np.array([0, 0, 9.81]),
                np.zeros((3, 3)),
            )
            out.write("/imu/data", ns, sample_to_imu(sample, out.factory))
    cal_in = save_calibration(
        Calibration(cameras={"cam": CameraEntry(cam, "cam_optical")}), tmp_path / "in.yaml"
    )
    code = main(
        [
            "calibrate",
            "imu",
            str(bag),
            "--imu-topic",
            "/imu/data",
            "--topic",
            "/cam/image_raw",
            "--board",
            board.spec,
            "--calibration",
            str(cal_in),
            "--camera",
            "cam",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "time offset" in capsys.readouterr().out
    cal = load_calibration(tmp_path / "out" / "calibration.yaml")
    assert "cam" in cal.cameras  # carried over from --calibration
    entry = cal.imu[0]
    assert (entry.imu, entry.camera) == ("imu", "cam")
    assert abs(entry.time_offset_s - OFFSET_S) < 0.002
    err_deg = np.degrees(
        np.linalg.norm(Rotation.from_matrix(entry.rotation.T @ R_IMU_CAM).as_rotvec())
    )
    assert err_deg < 0.5
    assert entry.quality["rotation_residual_deg"] < 0.5
    assert entry.quality["imu_frame_id"] == "imu_link"
    assert (tmp_path / "out" / "imu_report.png").stat().st_size > 0


def test_visual_odometry_topic_instead_of_a_board(tmp_path: Path) -> None:
    """Hand-eye from an Odometry topic of the camera (e.g. a VO/SLAM front end)."""
    from smartmine.msgs import OdometrySample, sample_to_odometry

    start = 1_700_000_000_000_000_000
    bag = tmp_path / "vo.mcap"
    t_cam = np.arange(0.0, 6.0, 1 / 30)
    t_imu = np.arange(-0.5, 6.5, 1 / 200)
    rng = np.random.default_rng(4)
    with BagWriter(bag) as out:
        out.add_topic("/vo/odom", "nav_msgs/msg/Odometry")
        out.add_topic("/imu/data", "sensor_msgs/msg/Imu")
        for tc, r_wc in zip(t_cam, attitude(t_cam), strict=True):
            noisy = r_wc @ Rotation.from_rotvec(rng.normal(0, 0.001, 3)).as_matrix()
            pose = np.eye(4)
            pose[:3, :3] = noisy
            ns = start + round(tc * 1e9)
            odo = OdometrySample(
                ns, "odom", "camera", pose, np.eye(6), np.zeros(3), np.zeros(3), np.eye(6)
            )
            out.write("/vo/odom", ns, sample_to_odometry(odo, out.factory))
        for ti, wi in zip(t_imu, gyro(t_imu, 0.3, 0.005), strict=True):
            ns = start + round(ti * 1e9)
            sample = ImuSample(
                ns, "imu", np.array([0, 0, 0, 1.0]), np.full((3, 3), -1.0), wi,
                np.zeros((3, 3)), np.zeros(3), np.zeros((3, 3)),
            )  # fmt: skip
            out.write("/imu/data", ns, sample_to_imu(sample, out.factory))
    args = ["calibrate", "imu", str(bag), "--imu-topic", "/imu/data"]
    code = main([*args, "--odometry-topic", "/vo/odom", "--out", str(tmp_path / "out")])
    assert code == 0
    entry = load_calibration(tmp_path / "out" / "calibration.yaml").imu[0]
    assert abs(entry.time_offset_s - OFFSET_S) < 0.001
    err = np.linalg.norm(Rotation.from_matrix(entry.rotation.T @ R_IMU_CAM).as_rotvec())
    assert np.degrees(err) < 0.2
