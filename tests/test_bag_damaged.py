"""``bag export --all`` of a bag damaged midway (MCAP, ROS 1) (issue 17): every topic is tried;
those whose messages can all be read are exported whole, each damaged topic is named
with the time the damage starts, no partial product stays, and the exit is 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartmine.bagio.reader import BagReader
from smartmine.cli import main
from tests.conftest import shared


def test_a_bag_damaged_midway_exports_what_is_whole_and_names_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "run.mcap"
    assert main(["bag", "sample", str(bag), "--frames", "30"]) == 0
    data = bytearray(bag.read_bytes())
    start = int(len(data) * 0.6)
    data[start : start + 20000] = bytes(20000)  # a zeroed stretch, as a bad sector leaves
    damaged = tmp_path / "damaged.mcap"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["bag", "export", str(damaged), "--all", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "corrupted or truncated after t=" in error[0]
    assert "'/camera/color/image_raw'" in error[0]
    written = sorted(p.name for p in out.iterdir())
    assert written and not [n for n in written if n.startswith(".")]
    with BagReader(bag) as whole:
        counts = {t: s.count for t, s in whole.topics.items()}
    assert "imu__data.csv" in written  # in chunks of its own, before and after the damage
    rows = (out / "imu__data.csv").read_text().splitlines()
    assert len(rows) - 1 == counts["/imu/data"]  # complete, header + one row a message
    assert "camera__color__image_raw" not in written


def test_a_ros1_bag_damaged_midway_exports_the_topics_it_spares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real Husky bag with 200 bytes zeroed at 30 %: a chunk of /imu/data is lost,
    /fix and the odometry (indexed in other chunks) export whole."""
    source = shared("rosbag1_robot_localization_husky", "test1.bag")
    data = bytearray(source.read_bytes())
    start = int(len(data) * 0.3)
    data[start : start + 200] = bytes(200)
    damaged = tmp_path / "damaged.bag"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["bag", "export", str(damaged), "--all", "--out", str(out)]) == 2
    (error,) = capsys.readouterr().err.strip().splitlines()
    assert "1 of 3 topics not exported" in error and "'/imu/data'" in error
    assert "damaged.bag: corrupted or truncated" in error
    assert sorted(p.name for p in out.iterdir()) == [
        "fix.csv",
        "husky_velocity_controller__odom.csv",
    ]
    with BagReader(source) as whole:
        counts = {t: s.count for t, s in whole.topics.items()}
    for name, topic in (
        ("fix.csv", "/fix"),
        ("husky_velocity_controller__odom.csv", "/husky_velocity_controller/odom"),
    ):
        assert len((out / name).read_text().splitlines()) - 1 == counts[topic], name
