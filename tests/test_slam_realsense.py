"""realsense_capture without a device: declaration, message building, and clear errors for
recordings that are missing or not RealSense recordings (pyrealsense2 is really called)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mapping.slam.errors import SlamError
from mapping.slam.realsense import (
    RealsenseCapture,
    RealsenseCaptureParams,
    RealsenseFrame,
    RealsenseStream,
)
from smartmine.cli import main
from smartmine.msgs import (
    CameraIntrinsics,
    camera_info_to_intrinsics,
    header_stamp_ns,
    image_to_numpy,
)
from smartmine.processor import get_processor


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
