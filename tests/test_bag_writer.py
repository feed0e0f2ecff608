"""The ROS 2 bag writer: real bags written into tmp_path and read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.interfaces import QosDurability, QosReliability

from smartmine.bagio import BagReader, BagWriter
from smartmine.errors import BagError
from smartmine.msgs.factory import default_factory
from tests.conftest import shared


def _string(text: str) -> object:
    return default_factory()("std_msgs/msg/String", data=text)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.mark.parametrize(
    ("name", "storage", "expected"),
    [("out.mcap", "mcap", "mcap"), ("outdir", "mcap", "mcap"), ("outdb", "sqlite3", "sqlite3")],
)
def test_round_trip(tmp_path: Path, name: str, storage: str, expected: str) -> None:
    path = tmp_path / name
    with BagWriter(path, storage=storage) as bag:  # type: ignore[arg-type]
        bag.add_topic("/chatter", "std_msgs/msg/String", qos="reliable")
        bag.add_topic("/map_frame", "std_msgs/msg/String", qos="latched")
        for i in range(25):
            bag.write("/chatter", 1_000_000_000 + i * 10_000_000, _string(f"hello {i}"))
        bag.write("/map_frame", 1_000_000_000, _string("grid"))
    assert _leftovers(tmp_path) == []
    with BagReader(path) as reader:
        assert reader.storage == expected
        assert {t.name: t.count for t in reader.topics.values()} == {
            "/chatter": 25,
            "/map_frame": 1,
        }
        texts = [m.message.data for m in reader.messages(["/chatter"])]
        assert texts == [f"hello {i}" for i in range(25)]
        assert reader.start_ns == 1_000_000_000
        conn = next(c for c in reader._r.connections if c.topic == "/map_frame")
        qos = conn.ext.offered_qos_profiles[0]
        assert qos.durability == QosDurability.TRANSIENT_LOCAL
        assert qos.reliability == QosReliability.RELIABLE


def test_sensor_qos_is_best_effort(tmp_path: Path) -> None:
    path = tmp_path / "s.mcap"
    with BagWriter(path) as bag:
        bag.add_topic("/x", "std_msgs/msg/String", qos="sensor")
        bag.write("/x", 5, _string("a"))
    with BagReader(path) as reader:
        qos = reader._r.connections[0].ext.offered_qos_profiles[0]
        assert qos.reliability == QosReliability.BEST_EFFORT


def test_directory_bag_has_metadata_ros2_can_read(tmp_path: Path) -> None:
    path = tmp_path / "bagdir"
    with BagWriter(path) as bag:
        bag.add_topic("/x", "std_msgs/msg/String")
        bag.write("/x", 7, _string("a"))
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap"
    assert meta["message_count"] == 1
    assert (path / "bagdir.mcap").exists()


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "broken.mcap"
    with pytest.raises(RuntimeError), BagWriter(path) as bag:
        bag.add_topic("/x", "std_msgs/msg/String")
        bag.write("/x", 1, _string("a"))
        raise RuntimeError("simulated crash")
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "e.mcap"
    with BagWriter(path) as bag:
        with pytest.raises(BagError, match="'/nope' was not added"):
            bag.write("/nope", 1, _string("a"))
        with pytest.raises(BagError, match="'pkg/msg/Nope' of topic '/y' is unknown"):
            bag.add_topic("/y", "pkg/msg/Nope")
        bag.add_topic("/x", "std_msgs/msg/String")
        with pytest.raises(BagError, match="does not serialize as std_msgs/msg/String"):
            bag.write("/x", 1, default_factory()("std_msgs/msg/Bool", data=True))
        bag.write("/x", 1, _string("ok"))
    with pytest.raises(BagError, match="exists already"):
        BagWriter(path)


def test_custom_types(tmp_path: Path) -> None:
    """A custom message type is writable once its definition is registered."""
    path = tmp_path / "c.mcap"
    with BagWriter(path) as bag:
        bag.register_types({"smartmine_msgs/msg/Grade": "float64 copper_pct\nstring zone\n"})
        bag.add_topic("/grade", "smartmine_msgs/msg/Grade")
        grade = bag.store.types["smartmine_msgs/msg/Grade"](copper_pct=0.42, zone="B3")
        bag.write("/grade", 3, grade)
    with BagReader(path) as reader:
        (msg,) = [m.message for m in reader.messages()]
    assert (msg.copper_pct, msg.zone) == (0.42, "B3")


def test_write_many_images_keeps_bytes(tmp_path: Path) -> None:
    factory = default_factory()
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (6, 5, 3), dtype=np.uint8) for _ in range(4)]
    path = tmp_path / "img.mcap"
    with BagWriter(path) as bag:
        bag.add_topic("/img", "sensor_msgs/msg/Image", qos="sensor")
        for i, f in enumerate(frames):
            header = factory(
                "std_msgs/msg/Header",
                stamp=factory("builtin_interfaces/msg/Time", sec=i, nanosec=0),
                frame_id="cam",
            )
            msg = factory(
                "sensor_msgs/msg/Image",
                header=header,
                height=6,
                width=5,
                encoding="rgb8",
                is_bigendian=0,
                step=15,
                data=f.reshape(-1),
            )
            bag.write("/img", i, msg)
    with BagReader(path) as reader:
        got = [np.asarray(m.message.data).reshape(6, 5, 3) for m in reader.messages()]
    assert all(np.array_equal(a, b) for a, b in zip(got, frames, strict=True))


def test_raw_copy_from_ros1_bag(tmp_path: Path) -> None:
    """ROS 1 messages copied raw are converted to CDR and decode to the same values."""
    source = shared("rosbag1_robot_localization_husky", "test1.bag")
    path = tmp_path / "copy.mcap"
    with BagReader(source) as reader, BagWriter(path) as bag:
        bag.add_topic("/fix", "sensor_msgs/msg/NavSatFix", qos="sensor")
        for raw in reader.raw_messages(["/fix"]):
            bag.write_raw("/fix", raw.log_time_ns, reader.to_cdr(raw))
        original = [
            (m.log_time_ns, m.message.latitude, m.message.altitude)
            for m in reader.messages(["/fix"])
        ]
    with BagReader(path) as copy:
        copied = [(m.log_time_ns, m.message.latitude, m.message.altitude) for m in copy.messages()]
    assert copied == original and len(copied) == 989
