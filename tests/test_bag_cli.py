"""``smartmine bag info|export|sample`` end to end, products read back by their own readers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import pytest

from smartmine.bagio import BagReader, BagWriter
from smartmine.cli import main
from smartmine.msgs import (
    camera_info_to_intrinsics,
    image_to_numpy,
    intrinsics_to_camera_info,
    pointcloud2_to_array,
    read_camera_info_yaml,
    unpack_rgb,
)
from smartmine.msgs.factory import default_factory
from tests.conftest import shared

COLOUR, DEPTH, CLOUD = (
    "/camera/color/image_raw",
    "/camera/depth/image_rect_raw",
    "/camera/depth/points",
)


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartmine", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env={"SMARTMINE_PROGRESS": "0", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def sample_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "sample.mcap"
    assert main(["bag", "sample", str(path), "--frames", "6"]) == 0
    return path


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "bag" in result.stdout


def test_info_json_matches_real_counts() -> None:
    bag = shared("rosbag1_robot_localization_husky", "test1.bag")
    result = run_cli("bag", "info", bag, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    counts = {t["name"]: (t["msgtype"], t["count"]) for t in info["topics"]}
    assert counts == {
        "/fix": ("sensor_msgs/msg/NavSatFix", 989),
        "/husky_velocity_controller/odom": ("nav_msgs/msg/Odometry", 3952),
        "/imu/data": ("sensor_msgs/msg/Imu", 11865),
    }
    assert info["storage"] == "rosbag1"
    text = run_cli("bag", "info", bag).stdout
    assert "/imu/data" in text and "11865" in text and "30.01 Hz" in text


def test_ros1_and_ros2_tf_export_identical_csv(tmp_path: Path) -> None:
    ros1 = shared("rosbag2_format_samples", "evo_tf_example", "tf_example.bag")
    ros2 = shared("rosbag2_format_samples", "evo_tf_example", "tf_example_ros2")
    for name, bag in (("a", ros1), ("b", ros2)):
        args = ["bag", "export", str(bag), "--topic", "/tf", "--topic", "/tf_static"]
        assert main([*args, "--out", str(tmp_path / name)]) == 0
    for product in ("tf.csv", "tf_static.csv"):
        left = (tmp_path / "a" / product).read_bytes()
        assert left == (tmp_path / "b" / product).read_bytes()
    rows = (tmp_path / "a" / "tf.csv").read_text().splitlines()
    assert rows[0].startswith("stamp_ns,parent_frame,child_frame,x_m,y_m,z_m,qx,qy,qz,qw")
    with BagReader(ros1) as reader:
        transforms = sum(len(m.message.transforms) for m in reader.messages(["/tf"]))
    assert len(rows) - 1 == transforms


def test_navsat_csv_and_time_range(tmp_path: Path) -> None:
    bag = shared("rosbag1_robot_localization_husky", "test1.bag")
    assert main(["bag", "export", str(bag), "--topic", "/fix", "--out", str(tmp_path / "all")]) == 0
    rows = (tmp_path / "all" / "fix.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 990
    first = dict(zip(header, rows[1].split(","), strict=True))
    assert float(first["latitude_deg"]) == pytest.approx(42.375812, abs=1e-6)
    assert float(first["longitude_deg"]) == pytest.approx(-71.147395, abs=1e-6)
    args = ["bag", "export", str(bag), "--topic", "/fix", "--start", "10", "--end", "20"]
    assert main([*args, "--out", str(tmp_path / "part")]) == 0
    part = (tmp_path / "part" / "fix.csv").read_text().splitlines()
    assert 24 <= len(part) - 1 <= 26  # 2.5 Hz for 10 s


def test_sample_export_read_back(sample_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert main(["bag", "export", str(sample_bag), "--all", "--out", str(out)]) == 0
    with BagReader(sample_bag) as reader:
        colour = [image_to_numpy(m.message) for m in reader.messages([COLOUR])]
        depth = [image_to_numpy(m.message) for m in reader.messages([DEPTH])]
        clouds = [pointcloud2_to_array(m.message) for m in reader.messages([CLOUD])]
        info_msg = next(reader.messages(["/camera/color/camera_info"])).message
    pngs = sorted((out / "camera__color__image_raw").glob("*.png"))
    assert len(pngs) == 6
    for png, expected in zip(pngs, colour, strict=True):
        assert np.array_equal(cv2.imread(str(png), cv2.IMREAD_UNCHANGED)[..., ::-1], expected)
    depth_pngs = sorted((out / "camera__depth__image_rect_raw").glob("*.png"))
    read = cv2.imread(str(depth_pngs[0]), cv2.IMREAD_UNCHANGED)
    assert read.dtype == np.uint16 and np.array_equal(read, depth[0])
    index = (out / "camera__depth__image_rect_raw" / "timestamps.csv").read_text().splitlines()
    assert index[0] == "index,stamp_ns,log_time_ns,file" and len(index) == 7
    ply = sorted((out / "camera__depth__points").glob("*.ply"))[0]
    cloud = o3d.io.read_point_cloud(str(ply))
    xyz = np.stack([clouds[0]["x"], clouds[0]["y"], clouds[0]["z"]], axis=-1).reshape(-1, 3)
    assert np.allclose(np.asarray(cloud.points), xyz)
    rgb = unpack_rgb(clouds[0]["rgb"].reshape(-1))
    assert np.allclose(np.asarray(cloud.colors) * 255, rgb, atol=0.5)
    intr, name = read_camera_info_yaml(out / "camera__color__camera_info.yaml")
    assert name == "camera_color"
    assert intr == camera_info_to_intrinsics(info_msg)
    again = camera_info_to_intrinsics(intrinsics_to_camera_info(intr))
    assert again == intr


def test_export_resumes_and_overwrites(sample_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    args = ["bag", "export", str(sample_bag), "--topic", "/gnss/fix", "--out", str(out)]
    assert main(args) == 0
    product = out / "gnss__fix.csv"
    product.write_text("stale")
    result = run_cli(*args)
    assert result.returncode == 0 and "exists, skipped" in result.stdout
    assert product.read_text() == "stale"
    assert main([*args, "--overwrite"]) == 0
    assert product.read_text().startswith("stamp_ns,")


def _bag_with_bad_image(path: Path) -> None:
    factory = default_factory()
    with BagWriter(path) as bag:
        bag.add_topic("/img", "sensor_msgs/msg/Image")
        for i in range(3):
            header = factory(
                "std_msgs/msg/Header",
                stamp=factory("builtin_interfaces/msg/Time", sec=i, nanosec=0),
                frame_id="cam",
            )
            length = 12 if i < 2 else 7  # the third image is short of height*step
            data = np.zeros(length, dtype=np.uint8)
            msg = factory(
                "sensor_msgs/msg/Image",
                header=header,
                height=2,
                width=2,
                encoding="rgb8",
                is_bigendian=0,
                step=6,
                data=data,
            )
            bag.write("/img", i + 1, msg)


def test_bad_message_mid_export_leaves_nothing(tmp_path: Path) -> None:
    bag = tmp_path / "bad.mcap"
    _bag_with_bad_image(bag)
    out = tmp_path / "out"
    result = run_cli("bag", "export", bag, "--topic", "/img", "--out", out)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "'/img'" in lines[0] and "data" in lines[0]
    assert not out.exists()  # the folder made for the export is removed again


def _corrupt_copies(source: Path, folder: Path) -> list[Path]:
    data = source.read_bytes()
    truncated = folder / f"truncated{source.suffix}"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    for i in range(len(data) // 3, len(data) // 3 + 400, 7):
        flipped[i] ^= 0xFF
    flipped_path = folder / f"flipped{source.suffix}"
    flipped_path.write_bytes(bytes(flipped))
    empty = folder / f"empty{source.suffix}"
    empty.write_bytes(b"")
    return [truncated, flipped_path, empty]


@pytest.mark.parametrize(
    "source",
    [
        ("rosbag1_robot_localization_husky", "test1.bag"),
        ("rosbag2_format_samples", "evo_tf_example", "tf_example.bag"),
        ("rosbag2_format_samples", "mcap", "talker", "talker.mcap"),
        ("rosbag2_format_samples", "sqlite3", "talker", "talker.db3"),
    ],
    ids=lambda p: "/".join(p[-2:]),
)
def test_corrupted_bags_give_one_clear_line(source: tuple[str, ...], tmp_path: Path) -> None:
    original = shared(*source)
    for broken in _corrupt_copies(original, tmp_path):
        out = tmp_path / f"out_{broken.stem}"
        info = run_cli("bag", "info", broken)
        export = run_cli("bag", "export", broken, "--all", "--out", out)
        failures = [r for r in (info, export) if r.returncode != 0]
        # truncation and emptiness are always detected; flipped bytes inside an
        # uncompressed sqlite payload can only show when a message fails to decode
        assert failures, f"{broken.name}: corruption went unnoticed"
        for r in failures:
            assert r.returncode == 2, r.stderr
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, r.stderr
            assert lines[0].startswith("smartmine: error: ") and broken.name in lines[0]
        assert not out.exists() or not any(out.iterdir()) or export.returncode == 0


def test_unknown_topic_and_unsupported_type(tmp_path: Path) -> None:
    bag = shared("rosbag2_format_samples", "mcap", "talker")
    result = run_cli("bag", "export", bag, "--topic", "/nope", "--out", tmp_path / "o")
    assert result.returncode == 2 and "'/nope' is not in the bag" in result.stderr
    result = run_cli("bag", "export", bag, "--topic", "/topic", "--out", tmp_path / "o")
    assert result.returncode == 2 and "std_msgs/msg/String" in result.stderr
    assert not (tmp_path / "o").exists()


def test_demo_outputs_nothing_partial(sample_bag: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.mcap"
    shutil.copy(sample_bag, copy)
    assert main(["bag", "sample", str(copy), "--frames", "2"]) == 2  # exists already
    assert copy.read_bytes() == sample_bag.read_bytes()
