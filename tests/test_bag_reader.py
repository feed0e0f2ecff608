"""The bag reader against real bags written by rosbag2, ROS 1 and a real robot."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartmine.bagio import BagReader
from smartmine.bagio.info import bag_info
from smartmine.errors import BagError
from tests.conftest import shared

SAMPLES = ["talker", "convert_a", "cdr_test", "bag_with_topics_and_service_events"]


def metadata_counts(bag_dir: Path) -> dict[str, tuple[str, int]]:
    """Topic -> (type, count) as rosbag2 itself recorded them in metadata.yaml."""
    info = yaml.safe_load((bag_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return {
        t["topic_metadata"]["name"]: (t["topic_metadata"]["type"], t["message_count"])
        for t in info["topics_with_message_count"]
    }


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("name", SAMPLES)
def test_rosbag2_samples_match_recorded_counts(storage: str, name: str) -> None:
    bag_dir = shared("rosbag2_format_samples", storage, name)
    expected = metadata_counts(bag_dir)
    info = bag_info(bag_dir)
    assert info.storage == storage
    got = {t.name: (t.msgtype, t.count) for t in info.topics}
    assert got == expected
    assert info.message_count == sum(c for _, c in expected.values())


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("name", SAMPLES)
def test_every_decodable_message_decodes(storage: str, name: str) -> None:
    bag_dir = shared("rosbag2_format_samples", storage, name)
    with BagReader(bag_dir) as bag:
        topics = bag.topics
        decoded: dict[str, int] = {}
        for msg in bag.messages():
            decoded[msg.topic] = decoded.get(msg.topic, 0) + 1
            assert msg.message.__msgtype__ == msg.msgtype
        for t in topics.values():
            if t.decodable and t.name not in bag.skipped:
                assert decoded.get(t.name, 0) == t.count, t
            else:
                assert t.name not in decoded


def test_unknown_types_are_reported_not_fatal() -> None:
    # sqlite3 convert_a stores no definitions and uses test_msgs, which no distro ships
    with BagReader(shared("rosbag2_format_samples", "sqlite3", "convert_a")) as bag:
        problems = {t.name: t.problem for t in bag.topics.values()}
        assert set(problems) == {"a_empty", "b_basictypes"}
        assert all(p and "neither stored in the bag" in p for p in problems.values())
        assert list(bag.messages()) == []
        with pytest.raises(BagError, match=r"'b_basictypes'.*cannot be decoded"):
            list(bag.messages(["b_basictypes"]))
    # the mcap copy of the service bag stores a .srv text rosbags cannot parse: those two
    # topics are reported, the plain topics still decode
    with BagReader(
        shared("rosbag2_format_samples", "mcap", "bag_with_topics_and_service_events")
    ) as bag:
        bad = {t.name for t in bag.topics.values() if not t.decodable}
        assert bad == {"/test_service1/_service_event", "/test_service2/_service_event"}
        strings = [m.message for m in bag.messages()]
        assert len(strings) == 2


def test_husky_ros1_bag_counts_rates_and_first_fix() -> None:
    bag = shared("rosbag1_robot_localization_husky", "test1.bag")
    info = bag_info(bag)
    by_name = {t.name: t for t in info.topics}
    assert info.storage == "rosbag1"
    assert by_name["/imu/data"].count == 11865
    assert by_name["/husky_velocity_controller/odom"].count == 3952
    assert by_name["/fix"].count == 989
    assert by_name["/fix"].msgtype == "sensor_msgs/msg/NavSatFix"
    assert by_name["/imu/data"].frequency_hz == pytest.approx(30.0, abs=0.1)
    assert by_name["/husky_velocity_controller/odom"].frequency_hz == pytest.approx(10.0, abs=0.1)
    assert by_name["/fix"].frequency_hz == pytest.approx(2.5, abs=0.05)
    assert info.duration_ns == pytest.approx(395.3e9, abs=0.05e9)
    with BagReader(bag) as reader:
        fixes = [m.message for m in reader.messages(["/fix"])]
    assert (fixes[0].latitude, fixes[0].longitude) == pytest.approx(
        (42.375812, -71.147395), abs=1e-6
    )
    assert (fixes[-1].latitude, fixes[-1].longitude) == pytest.approx(
        (42.375800, -71.147232), abs=1e-6
    )


def test_time_order_and_filters() -> None:
    bag = shared("rosbag1_robot_localization_husky", "test1.bag")
    with BagReader(bag) as reader:
        start = reader.start_ns + 10 * 10**9
        end = start + 5 * 10**9
        msgs = list(reader.messages(start_ns=start, end_ns=end))
        times = [m.log_time_ns for m in msgs]
        assert times == sorted(times)
        assert times[0] >= start and times[-1] < end
        assert {m.topic for m in msgs} == {"/imu/data", "/fix", "/husky_velocity_controller/odom"}
        assert 140 <= sum(m.topic == "/imu/data" for m in msgs) <= 160
        only = list(reader.messages(msgtypes={"sensor_msgs/msg/NavSatFix"}))
        assert {m.topic for m in only} == {"/fix"} and len(only) == 989
        with pytest.raises(BagError, match="'/nope' is not in the bag"):
            list(reader.messages(["/nope"]))


def test_ros1_and_ros2_copies_decode_identically() -> None:
    ros1 = shared("rosbag2_format_samples", "evo_tf_example", "tf_example.bag")
    ros2 = shared("rosbag2_format_samples", "evo_tf_example", "tf_example_ros2")
    with BagReader(ros1) as a, BagReader(ros2) as b:
        assert a.is_ros1 and not b.is_ros1
        left = [(m.topic, m.log_time_ns, len(m.message.transforms)) for m in a.messages()]
        right = [(m.topic, m.log_time_ns, len(m.message.transforms)) for m in b.messages()]
    assert left == right
    assert len(left) == 518


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="no such bag"):
        BagReader(tmp_path / "absent.mcap")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BagError, match="unknown bag format"):
        BagReader(tmp_path / "notes.txt")


def _bag_with_json_topic(path: Path, storage: str) -> Path:
    """A ROS 2 bag with one CDR topic and one whose serialization format is ``json``
    (rosbag2's own tests record topics in non-CDR formats such as ``rmw_format``)."""
    import json

    from rosbags.rosbag2 import StoragePlugin, Writer

    from smartmine.msgs.factory import typestore

    store = typestore()
    string = store.types["std_msgs/msg/String"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        cdr = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
        other = writer.add_connection(
            "/chatter_json", "std_msgs/msg/String", typestore=store, serialization_format="json"
        )
        for i in range(3):
            t = 1_700_000_000_000_000_000 + i * 10**8
            writer.write(cdr, t, store.serialize_cdr(string(data=f"hi {i}"), string.__msgtype__))
            writer.write(other, t + 1, json.dumps({"data": f"hi {i}"}).encode())
    return path


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_non_cdr_topic_is_undecodable_with_its_reason(storage: str, tmp_path: Path) -> None:
    from smartmine.bagio.info import format_info

    folder = _bag_with_json_topic(tmp_path / "bag", storage)
    storage_file = next(folder.glob("*.mcap" if storage == "mcap" else "*.db3"))
    for path in (folder, storage_file):
        with BagReader(path) as bag:
            topics = bag.topics
            assert topics["/chatter"].decodable and topics["/chatter"].count == 3
            json_topic = topics["/chatter_json"]
            assert json_topic.count == 3 and not json_topic.decodable
            assert json_topic.problem and "serialization format 'json' is not CDR" in (
                json_topic.problem
            )
            assert [m.message.data for m in bag.messages()] == ["hi 0", "hi 1", "hi 2"]
            assert bag.skipped == {}
            with pytest.raises(BagError, match=r"'/chatter_json'.*'json' is not CDR"):
                list(bag.messages(["/chatter_json"]))
            with pytest.raises(BagError, match=r"'/chatter_json'.*'json' is not CDR"):
                bag.require_topics(["/chatter_json"])
            raw = next(bag.raw_messages(["/chatter_json"]))
            assert bytes(raw.data).startswith(b'{"data": "hi 0"}')
            with pytest.raises(BagError, match="cannot be converted"):
                bag.to_cdr(raw)
        info = bag_info(path)
        text = format_info(info)
        line = next(x for x in text.splitlines() if "/chatter_json" in x)
        assert "3 msgs" in line and "cannot decode: serialization format 'json'" in line
        assert info.message_count == 6


def test_non_cdr_topic_in_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from smartmine.cli import main

    folder = _bag_with_json_topic(tmp_path / "bag", "mcap")
    assert main(["bag", "info", str(folder), "--json"]) == 0
    topics = {t["name"]: t for t in json.loads(capsys.readouterr().out)["topics"]}
    assert topics["/chatter"]["decodable"] and not topics["/chatter_json"]["decodable"]
    assert "'json' is not CDR" in topics["/chatter_json"]["problem"]
    out = tmp_path / "export"
    code = main(["bag", "export", str(folder), "--topic", "/chatter_json", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "/chatter_json" in err and "'json' is not CDR" in err
    assert err.count("\n") == 1 and not out.exists()


def test_mcap_with_a_ros1_topic_reads_the_rest(tmp_path: Path) -> None:
    """An MCAP topic recorded from ROS 1 (message encoding ``ros1``, schema ``ros1msg``):
    rosbags alone refuses the whole file; we report that topic and read the others."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from smartmine.msgs.factory import typestore

    store, ros1 = typestore(), get_typestore(Stores.ROS1_NOETIC)
    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        cdr = writer.add_connection("/chatter", "std_msgs/msg/String", typestore=store)
        old = writer.add_connection(
            "/legacy", "std_msgs/msg/Header", typestore=store, serialization_format="ros1"
        )
        string, header = store.types["std_msgs/msg/String"], ros1.types["std_msgs/msg/Header"]
        stamp = ros1.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0)
        for i in range(2):
            writer.write(cdr, 10 + i, store.serialize_cdr(string(data="x"), string.__msgtype__))
            legacy = header(seq=i, stamp=stamp, frame_id="base")
            writer.write(old, 11 + i, ros1.serialize_ros1(legacy, header.__msgtype__))
    mcap = tmp_path / "bag" / "bag.mcap"
    data = mcap.read_bytes()
    # the schema as a ROS 1 recorder writes it: same length, so offsets stay valid
    schema = b"\x13\x00\x00\x00std_msgs/msg/Header\x07\x00\x00\x00"
    assert data.count(schema + b"ros2msg") == 2  # in the chunk and in the summary
    mcap.write_bytes(data.replace(schema + b"ros2msg", schema + b"ros1msg"))
    with BagReader(mcap) as bag:
        assert "serialization format 'ros1' is not CDR" in str(bag.topics["/legacy"].problem)
        assert [m.topic for m in bag.messages()] == ["/chatter", "/chatter"]
