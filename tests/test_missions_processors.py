"""mission_executor and vision_to_px4 as processors, against the simulated vehicle."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mavsdk", reason="MAVSDK is needed")

from drone_missions.plan import CMD_RTL, CMD_TAKEOFF, Plan, command, waypoint, write_plan
from drone_missions.processors import MissionExecutor, MissionExecutorParams, VisionToPx4
from drone_missions.processors import VisionToPx4Params as VisionParams
from smartmine.geometry import make_transform, quat_to_matrix
from smartmine.msgs import matrix_to_pose_stamped, pose_stamped_to_matrix
from smartmine.msgs.factory import default_factory
from tests.sim_vehicle import SimVehicle, free_udp_port, wait_until

HOME = (43.2, 76.9, 800.0)
F = default_factory()


def _string(text: str) -> object:
    return F("std_msgs/msg/String", data=text)


def _tick(stamp_ns: int) -> object:
    return matrix_to_pose_stamped(np.eye(4), stamp_ns, "map", F)


def test_mission_executor_flies_pauses_and_aborts(tmp_path: Path) -> None:
    plan = Plan(
        entries=(
            waypoint(HOME[0], HOME[1], 10.0, command=CMD_TAKEOFF),
            waypoint(HOME[0] + 0.0003, HOME[1], 10.0),
            waypoint(HOME[0] + 0.0003, HOME[1] + 0.0004, 10.0),
            waypoint(HOME[0], HOME[1] + 0.0004, 10.0),
            command(CMD_RTL),
        ),
        home=HOME,
    )
    path = write_plan(plan, tmp_path / "m.plan")
    port = free_udp_port()
    with SimVehicle(port, home=HOME, speed_m_s=10.0, climb_m_s=10.0, max_life_s=60) as v:
        params = MissionExecutorParams(
            connect=f"udpin://127.0.0.1:{port}", timeout_s=10.0, terrain_check=False
        )
        node = MissionExecutor(params)
        try:
            out = node.process("plan", _string(str(path)), 0)
            state = json.loads(out[0].message.data)
            assert state["connected"] and any("identical" in e for e in state["events"])
            assert len(v.mission) == 5
            node.process("command", _string("start"), 1)
            deadline = time.monotonic() + 20
            progress = 0.0
            while len(v.reached) < 2 and time.monotonic() < deadline:
                out = node.process("tick", _tick(2), 2)
                progress = float(out[1].message.data)
                time.sleep(0.1)
            assert len(v.reached) >= 2 and progress > 0
            node.process("command", _string("pause"), 3)
            assert v.mode == "hold" or wait_until(lambda: v.mode == "hold")
            out = node.process("command", _string("abort"), 4)
            assert wait_until(lambda: v.mode == "rtl")
            state = json.loads(node.process("tick", _tick(5), 5)[0].message.data)
            assert state["armed"] and state["total"] == 5
            bad = json.loads(node.process("command", _string("dance"), 6)[0].message.data)
            assert "unknown command 'dance'" in bad["events"][-1]
        finally:
            node.finish()
        assert v.modes_seen[:3] == ["mission", "hold", "rtl"]


def test_mission_executor_uploads_nothing_it_cannot_check(tmp_path: Path) -> None:
    """As `smartmine fly`: without a DEM the plan is refused (the event names the
    parameter), a plan failing its check is refused with the rule, and nothing goes up."""
    plan = Plan(
        entries=(
            waypoint(HOME[0], HOME[1], 10.0, command=CMD_TAKEOFF),
            waypoint(HOME[0] + 0.05, HOME[1], 10.0),  # 5.6 km out: past max distance
            command(CMD_RTL),
        ),
        home=HOME,
    )
    path = write_plan(plan, tmp_path / "far.plan")
    port = free_udp_port()
    with SimVehicle(port, home=HOME, max_life_s=20) as v:
        connect = f"udpin://127.0.0.1:{port}"
        node = MissionExecutor(MissionExecutorParams(connect=connect, timeout_s=5.0))
        try:
            state = json.loads(node.process("plan", _string(str(path)), 0)[0].message.data)
            assert "terrain clearance cannot be checked" in state["events"][-1]
            assert "dem_file" in state["events"][-1] and not state["connected"]
        finally:
            node.finish()
        unchecked = MissionExecutorParams(connect=connect, timeout_s=5.0, terrain_check=False)
        node = MissionExecutor(unchecked)
        try:
            state = json.loads(node.process("plan", _string(str(path)), 0)[0].message.data)
            assert "max-distance" in state["events"][-1] and "not flying it" in state["events"][-1]
        finally:
            node.finish()
        assert v.mission == []


def _pose(t_s: float, yaw: float) -> object:
    q = [0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)]
    position = [1.0 + t_s, 2.0, 1.5]  # ENU: moving east at 1 m/s, 1.5 m up
    return matrix_to_pose_stamped(
        make_transform(quat_to_matrix(q), position), int(1e9 + t_s * 1e9), "odom", F
    )


def test_vision_to_px4_converts_and_sends_at_rate() -> None:
    port = free_udp_port()
    with SimVehicle(port, home=HOME, gps_fix=0, max_life_s=30) as v:
        node = VisionToPx4(VisionParams(connect=f"udpin://127.0.0.1:{port}", timeout_s=10.0))
        try:
            outs = []
            for k in range(40):  # 1 s of poses at 40 Hz (stamps), facing north-east
                outs += node.process("pose", _pose(k / 40.0, math.radians(45.0)), 0)
                time.sleep(0.005)
            assert wait_until(lambda: len(v.vision_positions) >= 40, 3.0)
        finally:
            node.finish()
    poses = [o.message for o in outs if o.port == "pose_ned"]
    last = pose_stamped_to_matrix(poses[-1])
    assert last[:3, 3] == pytest.approx([2.0, 1.0 + 39 / 40.0, -1.5])  # NED
    # ROS yaw 45 deg (north-east, from east) = PX4 heading 45 deg (from north)
    heading = math.degrees(math.atan2(last[1, 0], last[0, 0]))
    assert heading == pytest.approx(45.0)
    assert v.vision_positions[-1] == pytest.approx((2.0, 1.0 + 39 / 40.0, -1.5), abs=1e-5)
    status = [json.loads(o.message.data) for o in outs if o.port == "status"]
    assert status[-1]["status"] == "ok" and node.rate_hz() == pytest.approx(40.0, rel=1e-6)


def test_vision_to_px4_warns_when_slow() -> None:
    node = VisionToPx4(VisionParams(connect=""))
    outs = []
    for k in range(20):
        outs += node.process("pose", _pose(k / 10.0, 0.0), 0)  # 10 Hz
    status = [json.loads(o.message.data) for o in outs if o.port == "status"]
    assert status[-1]["status"].startswith("vision rate 10.0 Hz below 30 Hz")


def test_vision_to_px4_over_a_real_bag(tmp_path: Path) -> None:
    """The Husky bag's GNSS fixes -> gnss_to_pose (ENU) -> vision_to_px4, offline: every
    pose comes out in NED (north, east, down) and the 1-10 Hz source is reported slow."""
    from smartmine.bagio import BagReader
    from smartmine.cli import main
    from tests.conftest import shared

    bag = shared("rosbag1_robot_localization_husky", "test1.bag")
    enu = tmp_path / "enu.mcap"
    assert main(["node", "run", "gnss_to_pose", "--bag", str(bag), "--out", str(enu),
                 "--param", "frame=enu", "--remap", "fix:=/fix"]) == 0  # fmt: skip
    ned = tmp_path / "ned.mcap"
    assert main(["node", "run", "vision_to_px4", "--bag", str(enu), "--out", str(ned),
                 "--remap", "pose:=/gnss/pose"]) == 0  # fmt: skip
    with BagReader(enu) as reader:
        src = [pose_stamped_to_matrix(m.message) for m in reader.messages(["/gnss/pose"])]
    with BagReader(ned) as reader:
        out = [pose_stamped_to_matrix(m.message) for m in reader.messages(["/px4/vision_pose_ned"])]
        status = [json.loads(m.message.data) for m in reader.messages(["/px4/vision_status"])]
    assert len(out) == len(src) > 100
    a = np.array([m[:3, 3] for m in src])
    b = np.array([m[:3, 3] for m in out])
    assert np.allclose(b, np.column_stack([a[:, 1], a[:, 0], -a[:, 2]]))
    assert status[-1]["status"].startswith("vision rate") and status[-1]["rate_hz"] < 30
