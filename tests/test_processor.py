"""The processor contract, parameters, time sync and the bag runner's error handling."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mapping.gnss_to_pose import GnssToPose
from smartmine.bagio import BagReader, BagWriter
from smartmine.errors import BagError
from smartmine.msgs import GeoFix, geofix_to_navsatfix, header_stamp_ns, make_header
from smartmine.processor import (
    Output,
    Port,
    Processor,
    ProcessorError,
    get_processor,
    load_params_file,
    make_params,
    param,
    param_infos,
    parse_param_args,
    processor_registry,
    register_processor,
)
from smartmine.runner import parse_remaps, resolve_topics, run_on_bag
from smartmine.sync import TimeSync


@dataclass
class CounterParams:
    scale: float = param(1.0, "multiplier", unit="m", range=(0.0, 10.0))
    mode: str = param("sum", "how to combine", choices=["sum", "last"])
    window: int = param(3, "messages per output", range=(1, 100))
    verbose: bool = param(False, "say more")


@register_processor
class Counter(Processor[CounterParams]):
    """Test processor: sums fix altitudes, publishes every ``window`` fixes and at the end."""

    name = "test_counter"
    inputs = (Port("fix", "/gnss/fix", "sensor_msgs/msg/NavSatFix"),)
    outputs = (Port("total", "/total", "std_msgs/msg/Float64", "reliable"),)
    Params = CounterParams

    def __init__(self, params: CounterParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self.values: list[float] = []

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        if message.altitude < 0:
            raise ProcessorError("NavSatFix.altitude is negative")
        self.values.append(message.altitude * self.params.scale)
        if len(self.values) % self.params.window == 0:
            return [Output("total", self.factory("std_msgs/msg/Float64", data=sum(self.values)))]
        return []

    def finish(self) -> list[Output]:
        return [Output("total", self.factory("std_msgs/msg/Float64", data=-sum(self.values)))]


def fix_bag(path: Path, altitudes: list[float]) -> Path:
    with BagWriter(path) as bag:
        bag.add_topic("/gnss/fix", "sensor_msgs/msg/NavSatFix", qos="sensor")
        bag.add_topic("/other", "std_msgs/msg/String")
        for i, alt in enumerate(altitudes):
            t = 1_000 + i * 100
            fix = GeoFix(stamp_ns=t, latitude_deg=50.0, longitude_deg=80.0, altitude_m=alt)
            bag.write("/gnss/fix", t, geofix_to_navsatfix(fix, bag.factory))
            bag.write("/other", t + 1, bag.factory("std_msgs/msg/String", data=str(i)))
    return path


def test_params_coerce_check_and_name_what_is_wrong() -> None:
    p = make_params(Counter, {"scale": "2.5", "window": "4", "verbose": "true", "mode": "last"})
    assert (p.scale, p.window, p.verbose, p.mode) == (2.5, 4, True, "last")
    with pytest.raises(ProcessorError, match=r"'scale' = 11.0 is outside \[0.0, 10.0\] m"):
        make_params(Counter, {"scale": 11})
    with pytest.raises(ProcessorError, match="'mode' = 'max' is not one of 'sum', 'last'"):
        make_params(Counter, {"mode": "max"})
    with pytest.raises(ProcessorError, match="no parameter 'scael'"):
        make_params(Counter, {"scael": 1})
    with pytest.raises(ProcessorError, match=r"'window' wants int, got '2\.5'"):
        make_params(Counter, {"window": "2.5"})
    with pytest.raises(ProcessorError, match="expected key=value"):
        parse_param_args(["scale"])
    infos = {i.name: i for i in param_infos(CounterParams)}
    assert infos["scale"].unit == "m" and infos["scale"].range == (0.0, 10.0)
    assert infos["mode"].choices == ("sum", "last")
    # Literal types give their choices without being told
    frame = {i.name: i for i in param_infos(GnssToPose.Params)}["frame"]
    assert frame.choices == ("utm", "enu") and frame.type is str


def test_params_file_ros_layout_and_flat(tmp_path: Path) -> None:
    ros = tmp_path / "ros.yaml"
    ros.write_text(
        "smartmine_test_counter:\n  ros__parameters:\n    scale: 3.0\n"
        "other:\n  ros__parameters: {x: 1}\n"
    )
    assert load_params_file(ros, "test_counter") == {"scale": 3.0}
    flat = tmp_path / "flat.yaml"
    flat.write_text("window: 7\n")
    assert load_params_file(flat, "test_counter") == {"window": 7}
    wildcard = tmp_path / "all.yaml"
    wildcard.write_text("/**:\n  ros__parameters:\n    verbose: true\n")
    assert load_params_file(wildcard, "test_counter") == {"verbose": True}
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ProcessorError, match=r"bad\.yaml: not valid YAML"):
        load_params_file(bad, "test_counter")
    with pytest.raises(ProcessorError, match="no such parameter file"):
        load_params_file(tmp_path / "absent.yaml", "x")


def test_registry_has_the_shipped_processors() -> None:
    registry = processor_registry()
    assert {"gnss_to_pose", "image_rectify", "test_counter"} <= set(registry)
    for cls in registry.values():
        # a source processor (realsense_capture) has no inputs and is polled instead
        assert (cls.inputs or callable(getattr(cls, "poll", None))) and cls.outputs
        for port in (*cls.inputs, *cls.outputs):
            assert port.qos in {"sensor", "reliable", "latched"}
            assert port.msgtype.count("/") == 2 and port.topic.startswith("/")
        make_params(cls)  # defaults are valid
    with pytest.raises(ProcessorError, match="no processor named 'nope'"):
        get_processor("nope")


def test_time_sync_pairs_by_stamp() -> None:
    sync = TimeSync(["image", "info", "depth"], tolerance_ns=5)
    assert sync.push("image", 100, "i100") == []
    assert sync.push("info", 103, "c103") == []
    assert sync.push("image", 200, "i200") == []
    (matched,) = sync.push("depth", 98, "d98")
    assert matched == {"image": "i100", "info": "c103", "depth": "d98"}
    assert sync.push("depth", 150, "d150") == []  # nothing within 5 ns
    assert sync.push("info", 204, "c204") == []
    (second,) = sync.push("depth", 201, "d201")
    assert second == {"image": "i200", "info": "c204", "depth": "d201"}
    with pytest.raises(KeyError, match="no port 'x'"):
        sync.push("x", 1, None)


def test_remaps() -> None:
    remaps = parse_remaps(["fix:=/fix", "/gnss/pose:=/pose"])
    topics = resolve_topics(GnssToPose, remaps)
    assert topics["fix"] == "/fix" and topics["pose"] == "/pose" and topics["tf"] == "/tf"
    with pytest.raises(ProcessorError, match="expected FROM:=TO"):
        parse_remaps(["fix=/fix"])
    with pytest.raises(ProcessorError, match="'nope': gnss_to_pose has no such port"):
        resolve_topics(GnssToPose, {"nope": "/x"})


def test_runner_feeds_in_order_reports_bad_messages_and_finishes(tmp_path: Path) -> None:
    bag = fix_bag(tmp_path / "in.mcap", [1.0, 2.0, -1.0, 3.0, 4.0, 5.0, 6.0])
    lines: list[str] = []
    out = tmp_path / "out.mcap"
    report = run_on_bag(
        Counter, bag, out, overrides={"window": 2}, keep=["/other"], report=lines.append
    )
    assert report.inputs == {"/gnss/fix": 7} and report.rejected == 1
    assert len(lines) == 1 and "'/gnss/fix'" in lines[0] and "altitude is negative" in lines[0]
    with BagReader(out) as reader:
        totals = [m.message.data for m in reader.messages(["/total"])]
        kept = [m.message.data for m in reader.messages(["/other"])]
    assert totals == [3.0, 10.0, 21.0, -21.0]
    assert kept == [str(i) for i in range(7)]


def test_runner_refuses_wrong_types_and_writes_nothing(tmp_path: Path) -> None:
    bag = fix_bag(tmp_path / "in.mcap", [1.0])
    out = tmp_path / "out.mcap"
    with pytest.raises(
        ProcessorError, match="'/other' has type std_msgs/msg/String, but test_counter port 'fix'"
    ):
        run_on_bag(Counter, bag, out, remaps={"fix": "/other"})
    with pytest.raises(BagError, match="'/absent' is not in the bag"):
        run_on_bag(Counter, bag, out, remaps={"fix": "/absent"})
    with pytest.raises(ProcessorError, match="also an output topic"):
        run_on_bag(Counter, bag, out, keep=["/other"], remaps={"total": "/other"})
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mcap"]


def test_cli_node_list_and_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smartmine", "node", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    listing = json.loads(result.stdout)
    gnss = listing["gnss_to_pose"]
    assert [p["topic"] for p in gnss["inputs"]] == ["/gnss/fix"]
    assert {p["name"] for p in gnss["parameters"]} >= {"frame", "utm_zone", "enu_origin"}
    bag = fix_bag(tmp_path / "in.mcap", [1.0, 2.0])
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartmine",
            "node",
            "run",
            "gnss_to_pose",
            "--bag",
            str(bag),
            "--out",
            str(tmp_path / "o.mcap"),
            "--param",
            "utm_zone=99",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        == "smartmine: error: gnss_to_pose: parameter 'utm_zone' = 99 is outside [0, 60]"
    )
    assert not (tmp_path / "o.mcap").exists()


def test_header_time_flows_through(tmp_path: Path) -> None:
    """Outputs carry the input header stamp, written at the input's receive time."""
    bag = tmp_path / "in.mcap"
    with BagWriter(bag) as w:
        w.add_topic("/gnss/fix", "sensor_msgs/msg/NavSatFix")
        fix = GeoFix(stamp_ns=123_456_789, latitude_deg=49.9, longitude_deg=82.6, altitude_m=0.0)
        w.write("/gnss/fix", 999_000_000, geofix_to_navsatfix(fix, w.factory))
    out = tmp_path / "out.mcap"
    run_on_bag(GnssToPose, bag, out)
    with BagReader(out) as reader:
        (pose,) = list(reader.messages(["/gnss/pose"]))
    assert pose.log_time_ns == 999_000_000
    assert header_stamp_ns(pose.message) == 123_456_789
    assert make_header(1, "x").frame_id == "x" and np.isfinite(pose.message.pose.position.x)
