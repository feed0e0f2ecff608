"""Flying plans with the real MAVSDK (the wheel as shipped) against a simulated vehicle.

The vehicle (tests/sim_vehicle.py) speaks MAVLink 2 over UDP on 127.0.0.1 and implements
the mission protocols, arming, modes, progress and a data-link-loss failsafe. Every test
has a bounded life: the vehicle thread stops itself after ``max_life_s``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mavsdk", reason="MAVSDK is needed to fly")

from drone_missions.flight import (
    FlightConfig,
    MissionFlight,
    OffboardFlight,
    raw_items,
    vision_ned_frd,
)
from drone_missions.plan import CMD_CAM_TRIGG_DIST, Plan, write_plan
from drone_missions.survey import SurveyRequest, plan_survey
from smartmine.geodesy import LocalEnu
from tests.sim_vehicle import SimVehicle, free_udp_port, wait_until

HOME = (43.2, 76.9, 800.0)


def _survey_plan() -> Plan:
    from calibration.camera_model import survey_camera

    enu = LocalEnu(HOME[0], HOME[1], 0.0)
    x, y = np.array([20.0, 80.0, 80.0, 20.0]), np.array([10.0, 10.0, 50.0, 50.0])
    lat, lon, _ = enu.to_wgs84(x, y, np.zeros(4))
    polygon = tuple((float(a), float(b)) for a, b in zip(lat, lon, strict=True))
    req = SurveyRequest(
        polygon,
        survey_camera("DJI Phantom 4 RTK"),
        altitude_agl_m=20.0,
        home=HOME[:2],
        angle_deg=90.0,
        turnaround_m=5.0,
    )
    plan = plan_survey(req).plan
    return Plan(entries=plan.entries, home=HOME, fence_polygons=plan.fence_polygons)


def _config(port: int, **kw: float) -> FlightConfig:
    settings: dict[str, object] = {"timeout_s": 10.0, "poll_s": 0.05, "max_flight_s": 60.0}
    return FlightConfig(connect=f"udpin://127.0.0.1:{port}", **{**settings, **kw})  # type: ignore[arg-type]


def test_vehicle_holds_the_plan_and_reaches_every_waypoint() -> None:
    plan = _survey_plan()
    sent = raw_items(plan)
    port = free_udp_port()
    with (
        SimVehicle(
            port, home=HOME, speed_m_s=40.0, climb_m_s=20.0, max_life_s=60, time_factor=4.0
        ) as v,
        MissionFlight(plan, _config(port, link_loss_s=5.0), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        assert wait_until(lambda: not flight.preflight(), 5.0), flight.preflight()
        flight.arm_and_start()
        outcome = flight.watch()
        assert outcome == "done"
        # the vehicle holds exactly the plan's items (what MAVLink can carry)
        assert len(v.mission) == len(sent)
        for s, held in zip(sent, v.mission, strict=True):
            assert (held.command, held.frame, held.x, held.y) == (s.command, s.frame, s.x, s.y)
            for a, b in ((held.param1, s.param1), (held.param4, s.param4), (held.z, s.z)):
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6)
        # every positional item was reported reached, in order, then RTL and landing
        positional = [i for i, it in enumerate(plan.mission_items()) if it.command in (16, 22)]
        assert [r for r in v.reached if r in positional] == positional
        assert v.modes_seen[-1] == "rtl" and v.landed
        # the camera items ran where the plan put them
        triggers = [
            (i, it.params[0])
            for i, it in enumerate(plan.mission_items())
            if it.command == CMD_CAM_TRIGG_DIST
        ]
        assert [i for i, _ in v.camera_triggers] == [i for i, _ in triggers] and triggers
        assert [d for _, d in v.camera_triggers] == pytest.approx([d for _, d in triggers])


def test_pause_holds_and_resume_continues() -> None:
    plan = _survey_plan()
    port = free_udp_port()
    with (
        SimVehicle(
            port, home=HOME, speed_m_s=15.0, climb_m_s=20.0, max_life_s=60, time_factor=3.0
        ) as v,
        MissionFlight(plan, _config(port), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        assert wait_until(lambda: not flight.preflight(), 5.0)
        flight.arm_and_start()
        assert wait_until(lambda: len(v.reached) >= 3, 20.0)
        flight.pause()
        assert wait_until(lambda: v.mode == "hold", 3.0)
        held_at = (v.lat, v.lon, len(v.reached))
        time.sleep(1.0)
        assert (v.lat, v.lon, len(v.reached)) == held_at  # it stays put
        assert flight.progress().flight_mode == "HOLD"
        flight.resume()
        assert wait_until(lambda: len(v.reached) > held_at[2], 10.0)
        assert v.modes_seen[:3] == ["mission", "hold", "mission"]


def test_cut_link_leads_to_rtl() -> None:
    plan = _survey_plan()
    port = free_udp_port()
    with (
        SimVehicle(
            port,
            home=HOME,
            speed_m_s=15.0,
            climb_m_s=20.0,
            max_life_s=60,
            dll_timeout_s=2.0,
            time_factor=3.0,
        ) as v,
        MissionFlight(plan, _config(port, link_loss_s=1.5), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        assert wait_until(lambda: not flight.preflight(), 5.0)
        flight.arm_and_start()
        assert wait_until(lambda: len(v.reached) >= 2, 20.0)
        v.link_cut = True
        outcome = flight.watch()
        assert outcome == "link-lost"
        # the vehicle's own link-loss failsafe (no GCS heartbeat) returned it
        assert wait_until(lambda: v.mode == "rtl", 5.0)
        v.link_cut = False
        assert wait_until(lambda: flight.progress().flight_mode == "RETURN_TO_LAUNCH", 5.0)


def _start_with_sigint_ignored() -> None:
    """What a shell does to a background job: SIGINT ignored, inherited by the child."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["int", "term"])
def test_ctrl_c_returns_to_launch(tmp_path: Path, stop_signal: signal.Signals) -> None:
    """Ctrl-C (or a supervisor's SIGTERM) returns to launch, even when the command was
    started as a background job with SIGINT ignored."""
    plan = _survey_plan()
    path = write_plan(plan, tmp_path / "m.plan")
    port = free_udp_port()
    with SimVehicle(
        port, home=HOME, speed_m_s=15.0, climb_m_s=20.0, max_life_s=60, time_factor=3.0
    ) as v:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartmine",
                "fly",
                str(path),
                "--connect",
                f"udpin://127.0.0.1:{port}",
                "--timeout-s",
                "10",
                "--no-terrain-check",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            preexec_fn=_start_with_sigint_ignored,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
        reader.start()
        try:
            assert wait_until(lambda: len(v.reached) >= 3, 30.0), "".join(lines)
            proc.send_signal(stop_signal)
            # a liveness limit, not a timing check: 20 s timed out once on a loaded 2-core box
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(timeout=2)
        assert rc == 130, "".join(lines)
        assert wait_until(lambda: v.mode == "rtl", 3.0), (v.modes_seen, "".join(lines))
        out = "".join(lines)
        assert "identical" in out and "returning to launch" in out


def test_preflight_refuses_without_gps() -> None:
    plan = _survey_plan()
    port = free_udp_port()
    with (
        SimVehicle(port, home=HOME, gps_fix=1, max_life_s=30) as v,
        MissionFlight(plan, _config(port), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        time.sleep(1.0)
        problems = flight.preflight()
        assert any("GPS" in p for p in problems) and not v.armed


def test_gps_denied_offboard_with_vision_pose() -> None:
    """SLAM pose (ENU/FLU) -> PX4 vision (NED/FRD) at >= 30 Hz; drift waypoints by offboard."""
    from mavsdk.plugins.action import Action, ActionError

    port = free_udp_port()
    with SimVehicle(port, home=HOME, gps_fix=0, speed_m_s=4.0, climb_m_s=4.0, max_life_s=60) as v:
        enu = LocalEnu(HOME[0], HOME[1], HOME[2])

        def pose() -> tuple[np.ndarray, np.ndarray]:  # the "SLAM" pose: the vehicle's truth
            e, n, u = enu.from_wgs84(v.lat, v.lon, v.alt)
            yaw = math.radians(30.0)  # facing 30 deg left of east (ENU)
            q = np.array([0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)])
            return np.array([float(e), float(n), float(u)]), q

        flight = MissionFlight(Plan(entries=()), _config(port, require_gps=False))
        flight.connect()
        try:
            with pytest.raises(ActionError):  # GPS-denied and no vision yet: no position
                Action(flight.system).arm()
            assert v.arm_denials == ["no position estimate (GPS 3D fix or vision)"]
            gps_denied = OffboardFlight(flight.system, pose, vision_hz=40.0, log=lambda _m: None)
            gps_denied.start_vision()
            time.sleep(1.0)
            gps_denied.set_target_enu([0.0, 0.0, 2.0])
            gps_denied.offboard.start()
            Action(flight.system).arm()
            drift = [[0.0, 0.0, 2.0], [4.0, 0.0, 2.0], [4.0, 3.0, 2.0]]
            reached = gps_denied.fly_waypoints(drift, acceptance_m=0.5, leg_timeout_s=15.0)
            gps_denied.stop()  # the vision stream stops: the vehicle lands by itself
            assert wait_until(lambda: v.mode == "land", 2.0), v.modes_seen
            assert v.failsafes == ["vision-lost"]
        finally:
            flight.close()
        assert reached == 3
        # the vision stream: rate and frame conversion
        times = np.array(v.vision_times)
        span = times[-1] - times[0]
        assert (len(times) - 1) / span >= 30.0
        e, n, u = (float(c) for c in enu.from_wgs84(v.lat, v.lon, v.alt))
        last = np.array(v.vision_positions[-1])
        assert last == pytest.approx([n, e, -u], abs=0.6)  # NED = (north, east, -up)
        # the final offboard setpoint is the last drift waypoint in NED
        assert v.setpoint_ned == pytest.approx((3.0, 4.0, -2.0), abs=1e-6)


def test_vision_conversion_uses_ros_conventions() -> None:
    p, (roll, pitch, yaw) = vision_ned_frd([1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 1.0])
    assert p == pytest.approx([2.0, 1.0, -3.0])
    assert math.degrees(yaw) == pytest.approx(90.0)  # ROS yaw 0 (east) = PX4 heading 90
    assert roll == pytest.approx(0.0, abs=1e-12) and pitch == pytest.approx(0.0, abs=1e-12)


def test_fly_refuses_a_plan_that_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    from smartmine.cli import main
    from tests.conftest import shared

    no_rtl = shared("qgc_plans", "mavsdk_qgroundcontrol_sample_with_survey.plan")
    argv = ["fly", str(no_rtl), "--connect", "udpin://127.0.0.1:9", "--timeout-s", "1"]
    assert main([*argv, "--no-terrain-check"]) == 2
    assert "no-return" in capsys.readouterr().err
    assert main(argv) == 2  # no DEM: terrain clearance cannot be checked, not flown
    assert "--dem" in capsys.readouterr().err
