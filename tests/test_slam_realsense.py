"""realsense_capture without a device: declaration, message building, clear errors for
recordings that are missing or not RealSense recordings, and genuine RealSense SDK
recordings (tests/realsense_recording.py, librealsense's file format) of the simulator's
drift played by pyrealsense2 itself: every frame, aligned depth, stamps, intrinsics and
``smartmine slam --realsense-file`` scored against the simulator's truth."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mapping.slam.errors import SlamError
from mapping.slam.realsense import (
    RealsenseCapture,
    RealsenseCaptureParams,
    RealsenseFrame,
    RealsenseSource,
    RealsenseStream,
)
from mapping.slam.trajectory import read_trajectory
from simulator.config import apply_overrides, default_config
from simulator.writer import run_simulation
from smartmine.bagio import BagReader
from smartmine.cli import main
from smartmine.msgs import (
    CameraIntrinsics,
    camera_info_to_intrinsics,
    header_stamp_ns,
    image_to_numpy,
)
from smartmine.processor import get_processor
from tests.realsense_recording import (
    RecordedFrame,
    Recording,
    VideoStream,
    d435_color_from_depth,
    drift_recording,
    write_realsense_bag,
)


def test_registered_source_processor() -> None:
    assert get_processor("realsense_capture") is RealsenseCapture
    assert RealsenseCapture.inputs == ()
    assert {p.name for p in RealsenseCapture.outputs} == {
        "color",
        "depth",
        "color_info",
        "depth_info",
    }


def test_frame_becomes_aligned_messages() -> None:
    rng = np.random.default_rng(0)
    intr = CameraIntrinsics(
        64, 48, [[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]], [0.1, 0, 0, 0, 0]
    )
    frame = RealsenseFrame(
        1_700_000_000_123_456_789,
        rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        rng.integers(0, 9000, (48, 64), dtype=np.uint16),
        intr,
    )
    proc = RealsenseCapture(RealsenseCaptureParams(frame_id="cam"))
    out = dict(proc.messages_for(frame))
    assert np.array_equal(image_to_numpy(out["color"]), frame.color_rgb)
    assert np.array_equal(image_to_numpy(out["depth"]), frame.depth_mm)
    assert out["depth"].encoding == "16UC1"
    info = camera_info_to_intrinsics(out["color_info"])
    assert np.allclose(info.k, intr.k) and np.allclose(info.d, intr.d)
    assert all(header_stamp_ns(m) == frame.stamp_ns for m in out.values())
    assert out["color"].header.frame_id == "cam"


def test_missing_or_bad_recording_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SlamError, match="no such RealSense recording"):
        RealsenseStream(file=tmp_path / "none.bag")
    bad = tmp_path / "bad.bag"
    bad.write_bytes(b"not a rosbag")
    with pytest.raises(SlamError, match=r"bad\.bag"):
        RealsenseStream(file=bad)
    assert main(["slam", "--realsense-file", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.bag" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- a genuine RealSense recording of the simulator's drift (tests/realsense_recording.py) --

FRAMES = 30
RATE_HZ = 6.0
"""6 Hz is a D435 frame rate; ~13 cm between frames at the drift's speed."""


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Recording]:
    """The simulator's drift (bag + truth) and the same frames as a RealSense recording:
    colour as rendered, depth from a D435-like imager (848x480, 87°) 14.8 mm beside it
    and turned by ~0.3°, in 0.5 mm depth units."""
    out = tmp_path_factory.mktemp("rsdrift")
    config = apply_overrides(
        default_config("drift"),
        {"frames": FRAMES, "camera": {"rate_hz": RATE_HZ}, "hsi": {"every": 1000}},
    )
    run_simulation(config, out, overwrite=True)
    rec = drift_recording(out, config, out / "drift_rs.bag")
    return out, out / "drift_rs.bag", rec


def _sim_frames(sim_dir: Path) -> tuple[list[int], list[Any], Any]:
    with BagReader(sim_dir / "drift.mcap") as bag:
        stamps = [header_stamp_ns(m.message) for m in bag.messages(["/camera/color/image_raw"])]
        depths = [image_to_numpy(m.message) for m in bag.messages(["/camera/depth/image_rect_raw"])]
        info = next(iter(bag.messages(["/camera/color/camera_info"]))).message
    return stamps, depths, camera_info_to_intrinsics(info)


def test_recording_plays_in_librealsense(recording: tuple[Path, Path, Recording]) -> None:
    """The real reader (pyrealsense2's playback device through its pipeline) opens the
    recording: device, depth scale, intrinsics, extrinsics, every frame and its stamp."""
    import pyrealsense2 as rs

    sim_dir, bag, rec = recording
    stamps, _, sim_intr = _sim_frames(sim_dir)
    config = rs.config()
    config.enable_device_from_file(str(bag), repeat_playback=False)
    pipe = rs.pipeline()
    profile = pipe.start(config)
    device = profile.get_device()
    device.as_playback().set_real_time(False)
    try:
        assert device.get_info(rs.camera_info.name) == "Intel RealSense D435"
        assert device.get_info(rs.camera_info.product_id) == "0B07"
        assert device.first_depth_sensor().get_depth_scale() == pytest.approx(0.0005)
        color = profile.get_stream(rs.stream.color).as_video_stream_profile()
        depth = profile.get_stream(rs.stream.depth).as_video_stream_profile()
        ci, di = color.get_intrinsics(), depth.get_intrinsics()
        assert (ci.width, ci.height, color.fps(), color.format()) == (640, 480, 6, rs.format.rgb8)
        assert [ci.fx, ci.fy, ci.ppx, ci.ppy] == pytest.approx(
            [sim_intr.k[0][0], sim_intr.k[1][1], sim_intr.k[0][2], sim_intr.k[1][2]], rel=1e-6
        )
        assert ci.model == rs.distortion.brown_conrady
        assert list(ci.coeffs) == pytest.approx(list(sim_intr.d), abs=1e-7)
        assert (di.width, di.height, depth.format()) == (848, 480, rs.format.z16)
        ext = depth.get_extrinsics_to(color)  # p_color = R p_depth + t, R column-major
        r = np.asarray(ext.rotation).reshape(3, 3).T
        assert np.allclose(r, rec.color_from_depth[:3, :3], atol=1e-6)
        assert np.allclose(ext.translation, rec.color_from_depth[:3, 3], atol=1e-7)
        seen: dict[str, list[float]] = {"color": [], "depth": []}
        while True:
            ok, frames = pipe.try_wait_for_frames(1000)
            if not ok:
                break
            for name, f in (
                ("color", frames.get_color_frame()),
                ("depth", frames.get_depth_frame()),
            ):
                if f and (not seen[name] or f.get_timestamp() != seen[name][-1]):
                    seen[name].append(f.get_timestamp())
                    assert f.get_frame_timestamp_domain() == rs.timestamp_domain.global_time
    finally:
        pipe.stop()
    # the pipeline may skip frames when its consumer is slow; those it gives are right
    truth_ms = np.array(stamps) / 1e6
    for name in ("color", "depth"):
        got = np.array(seen[name])
        assert len(got) >= FRAMES // 2
        assert np.abs(got[:, None] - truth_ms[None, :]).min(axis=1).max() < 1e-3


def test_factory_calibration_reads_the_recording(
    recording: tuple[Path, Path, Recording],
) -> None:
    from calibration.depth import read_realsense_factory

    _, bag, rec = recording
    factory = read_realsense_factory(bag)
    assert np.allclose(factory.transform, rec.color_from_depth, atol=1e-6)
    assert factory.depth_scale_m == pytest.approx(0.0005)
    assert factory.serial == rec.serial
    assert factory.depth.width == 848 and factory.color.width == 640


def test_capture_delivers_every_frame_once_aligned(
    recording: tuple[Path, Path, Recording],
) -> None:
    """realsense_capture over the recording: every frame once, in order, on the
    recorded clock (ns), with the colour intrinsics, and depth aligned to colour that
    matches the simulator's own depth of the colour camera."""
    sim_dir, bag, _ = recording
    stamps, depths, sim_intr = _sim_frames(sim_dir)
    proc = RealsenseCapture(RealsenseCaptureParams(file=str(bag)))
    got: list[dict[str, Any]] = []
    while not proc.finished:
        out = proc.poll()
        if out:
            got.append(dict(out))
        if len(got) <= 3:
            time.sleep(0.2)  # a slow consumer: the player waits, nothing is dropped
    assert len(got) == FRAMES
    got_stamps = [header_stamp_ns(m["color"]) for m in got]
    assert np.abs(np.array(got_stamps) - np.array(stamps)).max() < 1_000  # < 1 µs
    assert all(header_stamp_ns(m["depth"]) == s for m, s in zip(got, got_stamps, strict=True))
    info = camera_info_to_intrinsics(got[0]["color_info"])
    assert np.allclose(info.k, sim_intr.k, rtol=1e-6)
    assert np.allclose(info.d, sim_intr.d, atol=1e-7)
    for i in (0, FRAMES // 2, FRAMES - 1):
        aligned = image_to_numpy(got[i]["depth"]).astype(np.float64)
        truth = depths[i].astype(np.float64)
        both = (aligned > 0) & (truth > 0)
        assert both.mean() > 0.7
        rel = aligned[both] / truth[both] - 1.0
        assert abs(float(np.median(rel))) < 0.002  # no scale, units or registration bias
        assert float(np.median(np.abs(rel))) < 0.01  # the noise of two depth draws
        corner = both.copy()
        corner[80:-80, 80:-80] = False  # where a distortion mistake shows most
        assert abs(float(np.median(aligned[corner] / truth[corner] - 1.0))) < 0.002


def test_slam_on_the_recording_matches_the_simulator_bag(
    recording: tuple[Path, Path, Recording], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``smartmine slam --realsense-file`` end to end, scored against the truth and
    beside the same frames read from the simulator's own bag."""
    sim_dir, bag, _ = recording
    gt = sim_dir / "trajectory_tum.txt"
    rs_out, bag_out = tmp_path / "rs", tmp_path / "bag"
    args = ["--no-map", "--ground-truth", str(gt)]
    assert main(["slam", "--realsense-file", str(bag), "--out", str(rs_out), *args]) == 0
    assert main(["slam", str(sim_dir / "drift.mcap"), "--out", str(bag_out), *args]) == 0
    capsys.readouterr()
    rs_report = json.loads((rs_out / "report.json").read_text())["summary"]
    bag_report = json.loads((bag_out / "report.json").read_text())["summary"]
    assert rs_report["tracked_frames"] == FRAMES
    est = read_trajectory(rs_out / "trajectory_tum.txt")
    truth = read_trajectory(gt)
    assert len(est) == FRAMES
    assert np.abs(est.stamps_s - truth.stamps_s[:FRAMES]).max() < 1e-5
    # same colour; depth re-projected from another viewpoint: comparable accuracy
    assert rs_report["ate_rmse_m"] < 0.05 * truth.path_length_m() + 0.02
    assert rs_report["ate_rmse_m"] < 1.5 * bag_report["ate_rmse_m"] + 0.01


def test_hardware_clock_stamps_go_on_the_host_clock(tmp_path: Path) -> None:
    """A recording in the device's hardware-clock domain: stamps move onto the host
    clock by the first frame's arrival time and keep the device's spacing."""
    color = VideoStream(64, 48, 50.0, 50.0, 31.5, 23.5, fps=30)
    depth = VideoStream(64, 48, 50.0, 50.0, 31.5, 23.5, fps=30)
    rec = Recording(color, depth, timestamp_domain="Hardware Clock")
    host0 = 1_782_021_600_123_000_000
    device_ns = [5_000_000_000 + i * 33_366_700 for i in range(8)]
    frames = [
        RecordedFrame(
            d,
            np.full((48, 64, 3), i, np.uint8),
            np.full((48, 64), 1500 + i, np.uint16),
            system_ns=host0 + (d - device_ns[0]) + 1_000_000,
        )
        for i, d in enumerate(device_ns)
    ]
    write_realsense_bag(tmp_path / "hw.bag", rec, frames)
    got = list(RealsenseStream(file=tmp_path / "hw.bag").frames())
    assert [f.frame_number for f in got] == list(range(1, 9))
    offset = (host0 + 1_000_000) // 1_000_000 * 1_000_000 - device_ns[0]  # ToA is in ms
    assert (
        np.abs(np.array([f.stamp_ns for f in got]) - (np.array(device_ns) + offset)).max() < 1_000
    )
    assert all(int(f.depth_mm[0, 0]) == 1500 + i for i, f in enumerate(got))  # 1 mm units


def test_gyro_of_a_d435i_recording_becomes_the_rotation_prior(tmp_path: Path) -> None:
    """A recording with a gyro stream (Motion Module, 200 Hz): the rates between two
    frames, integrated and turned into the colour camera's axes through the recorded
    gyro->colour extrinsics, are each frame's rotation prior."""
    from smartmine.geometry import euler_to_matrix, rotation_angle, rotvec_to_matrix

    color = VideoStream(64, 48, 50.0, 50.0, 31.5, 23.5, fps=30)
    gyro_from_depth = np.eye(4)
    gyro_from_depth[:3, :3] = euler_to_matrix([0.0, 0.0, 90.0], "xyz", degrees=True)
    rec = Recording(
        color, color, color_from_depth=d435_color_from_depth(), gyro_fps=200,
        gyro_from_depth=gyro_from_depth,
    )  # fmt: skip
    rate = np.array([0.1, -0.2, 0.3])  # rad/s in the gyro's axes
    t0 = 1_782_021_600_000_000_000
    frame_ns = [t0 + 1_000_000 + i * 33_333_333 for i in range(8)]  # never on a sample
    gyro_ns = [t0 - 40_000_000 + k * 5_000_000 for k in range(70)]
    frames = []
    for i, stamp in enumerate(frame_ns):
        since = frame_ns[i - 1] if i else t0 - 50_000_000
        samples = [(g, (rate[0], rate[1], rate[2])) for g in gyro_ns if since < g <= stamp]
        frames.append(
            RecordedFrame(
                stamp, np.zeros((48, 64, 3), np.uint8), np.full((48, 64), 2000, np.uint16),
                gyro=samples,
            )
        )  # fmt: skip
    write_realsense_bag(tmp_path / "d435i.bag", rec, frames)
    source = RealsenseSource(file=tmp_path / "d435i.bag")
    got = list(source)
    assert len(got) == 8 and got[0].gyro_rotation is None
    r_cam_gyro = rec.color_from_depth[:3, :3] @ gyro_from_depth[:3, :3].T
    assert source.stream.r_cam_gyro is not None
    assert np.allclose(source.stream.r_cam_gyro, r_cam_gyro, atol=1e-6)
    for i in range(1, 8):
        last = [g for g in gyro_ns if g <= frame_ns[i]][-1]
        before = [g for g in gyro_ns if g <= frame_ns[i - 1]][-1]
        turn = rotvec_to_matrix(rate * (last - before) * 1e-9)
        expected = r_cam_gyro @ turn @ r_cam_gyro.T
        prior = got[i].gyro_rotation
        assert prior is not None, i
        assert np.allclose(prior, expected, atol=1e-6), (
            i,
            rotation_angle(prior),
            rotation_angle(expected),
        )
