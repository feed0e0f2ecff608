"""Geofence and rally points on the vehicle, and GPS-denied flight from the command line.

Real MAVSDK against tests/sim_vehicle.py (UDP on 127.0.0.1): the fence and rally points
go up with the mission and are read back through the MAVLink mission protocol (mission
types FENCE and RALLY); the vehicle enforces the fence as PX4 does; a drift plan is flown
offboard on a vision pose replayed from a TUM file.
"""

from __future__ import annotations

import itertools
import json
import math
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mavsdk", reason="MAVSDK is needed to fly")

from drone_missions.flight import (
    CMD_FENCE_CIRCLE_EXCLUSION,
    CMD_FENCE_VERTEX_EXCLUSION,
    CMD_FENCE_VERTEX_INCLUSION,
    CMD_RALLY_POINT,
    DEFAULT_CONNECT,
    FlightConfig,
    FlightError,
    MissionFlight,
    fence_items,
    rally_items,
)
from drone_missions.plan import (
    CMD_RTL,
    CMD_TAKEOFF,
    FenceCircle,
    FencePolygon,
    Plan,
    command,
    waypoint,
    write_plan,
)
from drone_missions.planners import drift_plan
from smartmine.geodesy import LocalEnu
from tests.bad_input import run_main
from tests.sim_vehicle import SimVehicle, free_udp_port, wait_until

HOME = (43.2, 76.9, 800.0)
ENU = LocalEnu(HOME[0], HOME[1], 0.0)
FENCE_XY = ((-20.0, -20.0), (60.0, -20.0), (60.0, 20.0), (-20.0, 20.0))  # east, north m
RALLY_XY = (50.0, 10.0)


def _latlon(x: float, y: float) -> tuple[float, float]:
    lat, lon, _ = ENU.to_wgs84(np.array([x]), np.array([y]), np.zeros(1))
    return float(lat[0]), float(lon[0])


def _fenced_plan(far_east_m: float = 90.0) -> Plan:
    """Take off at home, fly east to ``far_east_m`` (beyond the fence's 60 m), RTL."""
    entries = (
        waypoint(*HOME[:2], 20.0, command=CMD_TAKEOFF),
        waypoint(*_latlon(30.0, 0.0), 20.0),
        waypoint(*_latlon(far_east_m, 0.0), 20.0),
        command(CMD_RTL),
    )
    return Plan(
        entries=entries,
        home=HOME,
        fence_polygons=(FencePolygon(tuple(_latlon(x, y) for x, y in FENCE_XY), True),),
        fence_circles=(FenceCircle(_latlon(20.0, -15.0), 3.0, inclusion=False),),
        rally_points=((*_latlon(*RALLY_XY), 15.0),),
        source="fenced.plan",
    )


def _config(port: int, **kw: object) -> FlightConfig:
    settings: dict[str, object] = {"timeout_s": 10.0, "poll_s": 0.05, "max_flight_s": 30.0}
    return FlightConfig(connect=f"udpin://127.0.0.1:{port}", **{**settings, **kw})  # type: ignore[arg-type]


def _outside_fence_m(lat: float, lon: float) -> float:
    """How far (m) a point lies outside the rectangular inclusion fence (0 inside)."""
    x, y, _ = ENU.from_wgs84(lat, lon, 0.0)
    (x0, y0), (x1, y1) = FENCE_XY[0], FENCE_XY[2]
    dx = max(x0 - float(x), 0.0, float(x) - x1)
    dy = max(y0 - float(y), 0.0, float(y) - y1)
    return math.hypot(dx, dy)


def test_fence_and_rally_points_go_up_and_read_back_identical() -> None:
    plan = _fenced_plan()
    port = free_udp_port()
    with (
        SimVehicle(port, home=HOME, max_life_s=20) as v,
        MissionFlight(plan, _config(port), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        assert v.downloads >= 3  # mission, fence and rally each read back
    sent = fence_items(plan.fence_polygons, plan.fence_circles)
    assert [it.command for it in v.fence] == [CMD_FENCE_VERTEX_INCLUSION] * 4 + [
        CMD_FENCE_CIRCLE_EXCLUSION
    ]
    assert [(it.x, it.y, it.param1) for it in v.fence] == [(s.x, s.y, s.param1) for s in sent]
    rally = rally_items(plan.rally_points)
    assert [(it.command, it.x, it.y, it.z) for it in v.rally] == [
        (CMD_RALLY_POINT, rally[0].x, rally[0].y, pytest.approx(15.0))
    ]


def test_no_fence_clears_what_an_earlier_flight_left() -> None:
    port = free_udp_port()
    plan = _fenced_plan()
    bare = Plan(entries=plan.entries, home=HOME, source="bare.plan")
    with SimVehicle(port, home=HOME, max_life_s=20) as v:
        with MissionFlight(plan, _config(port), log=lambda _m: None) as flight:
            flight.upload_and_verify()
        assert v.fence and v.rally
        with MissionFlight(bare, _config(port), log=lambda _m: None) as flight:
            flight.upload_and_verify()
        assert v.fence == [] and v.rally == []


@pytest.mark.parametrize(
    ("mission_type", "fault", "what"),
    [
        (1, "drop", "geofence"),
        (1, "alter", "geofence"),
        (1, "reject", "geofence upload failed"),
        (2, "alter", "rally points"),
    ],
    ids=["fence-drop", "fence-alter", "fence-reject", "rally-alter"],
)
def test_fly_refuses_to_arm_when_the_vehicle_holds_another_fence(
    tmp_path: Path, mission_type: int, fault: str, what: str
) -> None:
    path = write_plan(_fenced_plan(60.0 - 5.0), tmp_path / "m.plan")
    port = free_udp_port()
    with SimVehicle(port, home=HOME, max_life_s=20, upload_faults={mission_type: fault}) as v:
        out = run_main(
            ["fly", str(path), "--connect", f"udpin://127.0.0.1:{port}", "--no-terrain-check"]
        )
        assert out.code == 2, out.stderr
        assert what in out.stderr.splitlines()[-1] and "not arming" in out.stderr
        assert not v.armed and 400 not in v.commands_seen  # ARM_DISARM never even sent


def test_arming_outside_the_fence_is_refused() -> None:
    plan = _fenced_plan()
    port = free_udp_port()
    outside = _latlon(100.0, 0.0)
    with (
        SimVehicle(port, home=(*outside, HOME[2]), max_life_s=20) as v,
        MissionFlight(plan, _config(port), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        with pytest.raises(FlightError, match="refused to arm"):
            flight.arm_and_start()
        assert not v.armed and v.arm_denials == ["outside the geofence"]


def test_arming_inside_an_exclusion_circle_is_refused() -> None:
    plan = _fenced_plan()
    port = free_udp_port()
    with (
        SimVehicle(port, home=(*_latlon(20.0, -15.0), HOME[2]), max_life_s=20) as v,
        MissionFlight(plan, _config(port), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        with pytest.raises(FlightError, match="refused to arm"):
            flight.arm_and_start()
        assert v.arm_denials == ["outside the geofence"]


def test_breach_holds_at_the_fence() -> None:
    """PX4's default GF_ACTION: hold where the fence is met; the mission goes no further."""
    plan = _fenced_plan()
    port = free_udp_port()
    with (
        SimVehicle(
            port, home=HOME, speed_m_s=30.0, climb_m_s=20.0, max_life_s=30, time_factor=3.0
        ) as v,
        MissionFlight(plan, _config(port), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        assert wait_until(lambda: not flight.preflight(), 5.0), flight.preflight()
        flight.arm_and_start()
        assert wait_until(lambda: v.fence_breaches, 15.0)
        assert v.mode == "hold" and v.failsafes == ["geofence"]
        held = (v.lat, v.lon)
        time.sleep(0.5)
        assert (v.lat, v.lon) == held  # stays at the fence
        x, _, _ = ENU.from_wgs84(v.lat, v.lon, 0.0)
        assert 59.99 < float(x) <= 60.0 and _outside_fence_m(v.lat, v.lon) == 0.0
        assert v.current == 2  # the waypoint beyond the fence was never reached


def test_fly_across_the_fence_returns_to_the_rally_point(tmp_path: Path) -> None:
    """`fly --no-check` of a leg that crosses the fence: the vehicle never leaves it (by
    more than 1 cm), returns to the nearest rally point (GF_ACTION RTL) and lands."""
    path = write_plan(_fenced_plan(), tmp_path / "m.plan")
    port = free_udp_port()
    worst = [0.0]
    with SimVehicle(
        port,
        home=HOME,
        speed_m_s=30.0,
        climb_m_s=20.0,
        max_life_s=30,
        fence_action="rtl",
        time_factor=3.0,
    ) as v:
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                worst[0] = max(worst[0], _outside_fence_m(v.lat, v.lon))
                time.sleep(0.01)

        sampler = threading.Thread(target=watch, daemon=True)
        sampler.start()
        try:
            out = run_main(
                ["fly", str(path), "--connect", f"udpin://127.0.0.1:{port}", "--no-check"]
            )
        finally:
            done.set()
            sampler.join()
        assert out.code == 1 and "flight: landed-early" in out.stdout, out.stdout + out.stderr
        assert v.fence_breaches and v.failsafes == ["geofence"] and v.landed
        assert worst[0] <= 0.01
        x, y, _ = ENU.from_wgs84(v.lat, v.lon, 0.0)  # landed at the rally point, not home
        assert math.hypot(float(x) - RALLY_XY[0], float(y) - RALLY_XY[1]) < 1.5


def test_connect_default_listens_on_loopback_only() -> None:
    """MAVSDK 4 runs in this process (no mavsdk_server, no gRPC port): the one socket is
    the one --connect names, and the default binds 127.0.0.1."""
    from drone_missions.commands import DEFAULT_CONNECT as CLI_DEFAULT

    assert CLI_DEFAULT == DEFAULT_CONNECT == "udpin://127.0.0.1:14540"
    port = free_udp_port()
    flight = MissionFlight(Plan(entries=()), _config(port, timeout_s=0.2))
    with pytest.raises(FlightError, match="no autopilot"):
        flight.connect()
    try:
        table = Path("/proc/net/udp").read_text().splitlines()[1:]
        local = {line.split()[1] for line in table}
        assert f"0100007F:{port:04X}" in local  # 127.0.0.1:port
        assert f"00000000:{port:04X}" not in local
    finally:
        flight.close()


# -- GPS-denied from the command line ------------------------------------------------------
DRIFT = np.array([[0.0, 0.0, 2.0], [4.0, 0.0, 2.0], [4.0, 3.0, 2.0]])


def _tum_along(points: np.ndarray, speed_m_s: float, rate_hz: float, hold_s: float) -> str:
    """A SLAM trajectory along the drift (ENU, facing east) at ``rate_hz``."""
    stamps, positions = [0.0], [points[0]]
    t = 0.0
    for a, b in itertools.pairwise(points):
        n = max(1, int(np.linalg.norm(b - a) / speed_m_s * rate_hz))
        for k in range(1, n + 1):
            t += 1.0 / rate_hz
            stamps.append(t)
            positions.append(a + (b - a) * k / n)
    for _ in range(int(hold_s * rate_hz)):
        t += 1.0 / rate_hz
        stamps.append(t)
        positions.append(points[-1])
    return "".join(
        f"{s:.4f} {p[0]:.4f} {p[1]:.4f} {p[2]:.4f} 0 0 0 1\n"
        for s, p in zip(stamps, positions, strict=True)
    )


def _distance_to_leg(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    t = np.clip(np.dot(point - a, b - a) / np.dot(b - a, b - a), 0.0, 1.0)
    return float(np.linalg.norm(point - (a + t * (b - a))))


def _tube_map(path: Path, points: np.ndarray, radius_m: float) -> Path:
    """A drift map: the walls of a tube of ``radius_m`` around the legs (no wall point
    nearer any leg), as an ASCII PLY."""
    wall = []
    for a, b in itertools.pairwise(points):
        axis = (b - a) / np.linalg.norm(b - a)
        side = np.cross(axis, [0.0, 0.0, 1.0])
        side /= np.linalg.norm(side)
        up = np.cross(side, axis)
        for along in np.arange(0.0, np.linalg.norm(b - a) + 1e-9, 0.1):
            for angle in np.linspace(0.0, 2 * np.pi, 36, endpoint=False):
                ring = np.cos(angle) * side + np.sin(angle) * up
                wall.append(a + axis * along + radius_m * ring)
    legs = list(itertools.pairwise(points))
    wall = [w for w in wall if min(_distance_to_leg(w, a, b) for a, b in legs) > 0.99 * radius_m]
    header = f"ply\nformat ascii 1.0\nelement vertex {len(wall)}\n"
    header += "property float x\nproperty float y\nproperty float z\nend_header\n"
    path.write_text(header + "".join(f"{x:.4f} {y:.4f} {z:.4f}\n" for x, y, z in wall))
    return path


def _sim_link(port: int) -> tuple[str, ...]:
    return ("--connect", f"udpin://127.0.0.1:{port}", "--timeout-s", "5")


def test_fly_drift_plan_gps_denied_on_a_tum_vision_pose(tmp_path: Path) -> None:
    plan = write_plan(drift_plan(DRIFT), tmp_path / "drift.plan")
    poses = tmp_path / "poses.tum"
    poses.write_text(_tum_along(DRIFT, speed_m_s=8.0, rate_hz=50.0, hold_s=1.0))
    port = free_udp_port()
    with SimVehicle(port, home=HOME, gps_fix=0, speed_m_s=8.0, climb_m_s=8.0, max_life_s=30) as v:
        drift_map = _tube_map(tmp_path / "map.ply", DRIFT, radius_m=1.8)
        fly = ("fly", str(plan), "--vision-pose", str(poses), "--map", str(drift_map))
        out = run_main([*fly, *_sim_link(port)])
        assert out.code == 0, out.stdout + out.stderr
        assert "reached 3/3" in out.stdout and "flight: done" in out.stdout
        assert v.landed and "offboard" in v.modes_seen and v.modes_seen[-1] == "land"
        assert v.setpoint_ned == pytest.approx((3.0, 4.0, -2.0), abs=1e-6)  # last, in NED
        times = np.array(v.vision_times)
        assert (len(times) - 1) / (times[-1] - times[0]) >= 29.0
        assert v.vision_positions[-1] == pytest.approx((3.0, 4.0, -2.0), abs=1e-3)
        assert v.failsafes == []


def test_fly_drift_plan_checked_against_the_map_before_connecting(tmp_path: Path) -> None:
    """Walls 0.6 m from the legs (< the 1 m clearance): refused before any link, naming
    the rule; without a map, refused unless --no-terrain-check says to fly unchecked."""
    plan = write_plan(drift_plan(DRIFT), tmp_path / "drift.plan")
    poses = tmp_path / "poses.tum"
    poses.write_text(_tum_along(DRIFT, speed_m_s=8.0, rate_hz=50.0, hold_s=1.0))
    narrow = _tube_map(tmp_path / "narrow.ply", DRIFT, radius_m=0.6)
    fly = ("fly", str(plan), "--vision-pose", str(poses), *_sim_link(free_udp_port()))
    out = run_main([*fly, "--map", str(narrow)])
    assert out.code == 2 and "map-clearance" in out.stderr and "not flying it" in out.stderr
    out = run_main(list(fly))
    assert out.code == 2 and "--map MAP.ply" in out.stderr


def test_fly_drift_plan_lands_when_the_vision_pose_stops(tmp_path: Path) -> None:
    plan = write_plan(drift_plan(DRIFT), tmp_path / "drift.plan")
    poses = tmp_path / "poses.tum"
    poses.write_text(_tum_along(DRIFT[:2], speed_m_s=8.0, rate_hz=50.0, hold_s=0.0))
    port = free_udp_port()
    with SimVehicle(port, home=HOME, gps_fix=0, speed_m_s=8.0, climb_m_s=8.0, max_life_s=30) as v:
        fly = ("fly", str(plan), "--vision-pose", str(poses), "--no-terrain-check")
        out = run_main([*fly, *_sim_link(port)])
        assert out.code == 4, out.stdout + out.stderr
        assert "vision pose lost: landing" in out.stdout and "flight: position-lost" in out.stdout
        assert wait_until(lambda: v.landed, 5.0) and v.modes_seen[-1] == "land"


def test_low_battery_refuses_to_arm_and_returns_in_flight() -> None:
    """BAT_LOW_THR-like: no arming below it; crossing it in flight returns to launch."""
    plan = _fenced_plan(55.0)
    port = free_udp_port()
    with (
        SimVehicle(port, home=HOME, battery=0.30, low_battery=0.35, max_life_s=20) as v,
        MissionFlight(plan, _config(port, min_battery=0.0), log=lambda _m: None) as flight,
    ):
        flight.upload_and_verify()
        with pytest.raises(FlightError, match="refused to arm"):
            flight.arm_and_start()
        assert v.arm_denials == ["battery 30% below 35%"]
        v.battery = 0.3503  # just above: arms, then drains below it during the take-off
        flight.arm_and_start()
        assert wait_until(lambda: v.failsafes == ["low-battery"], 5.0), (v.battery, v.modes_seen)
        assert v.mode == "rtl"


def _fence_geojson(path: Path, areas: list[tuple[bool, list[tuple[float, float]]]]) -> Path:
    """GeoJSON fence polygons from local (east, north) rings."""
    features = []
    for inclusion, ring_xy in areas:
        ring = [list(reversed(_latlon(x, y))) for x, y in [*ring_xy, ring_xy[0]]]
        features.append(
            {
                "type": "Feature",
                "properties": {"inclusion": inclusion},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_fence_file_goes_up_with_the_plan_without_widening_it(tmp_path: Path) -> None:
    """--fence: its exclusion goes up; its inclusion, wider than the plan's, does not
    (PX4 flies within ANY inclusion area: it would widen the plan's)."""
    path = write_plan(_fenced_plan(55.0), tmp_path / "m.plan")
    site = [(-100.0, -100.0), (100.0, -100.0), (100.0, 100.0), (-100.0, 100.0)]
    keep_out = [(0.0, 12.0), (10.0, 12.0), (10.0, 18.0), (0.0, 18.0)]
    fence = _fence_geojson(tmp_path / "site.geojson", [(True, site), (False, keep_out)])
    port = free_udp_port()
    with SimVehicle(port, home=HOME, max_life_s=20) as v:
        out = run_main(
            [
                *("fly", str(path), "--fence", str(fence), "--upload-only"),
                *("--no-terrain-check", "--connect", f"udpin://127.0.0.1:{port}"),
            ]
        )
        assert out.code == 0, out.stdout + out.stderr
        commands = [it.command for it in v.fence]  # polygons first, then circles
        inclusion, exclusion = CMD_FENCE_VERTEX_INCLUSION, CMD_FENCE_VERTEX_EXCLUSION
        assert commands == [inclusion] * 4 + [exclusion] * 4 + [CMD_FENCE_CIRCLE_EXCLUSION]
        east = [float(ENU.from_wgs84(it.x / 1e7, it.y / 1e7, 0.0)[0]) for it in v.fence[:4]]
        assert max(east) == pytest.approx(60.0, abs=0.01)  # the plan's, not the site's 100 m
        assert not v.armed


def test_fly_drift_plan_on_a_udp_pose_feed(tmp_path: Path) -> None:
    """A running SLAM without ROS sends TUM lines over UDP (here: the vehicle's true pose,
    ENU from home); `fly --vision-pose udp://...` feeds them to PX4 and flies the drift.
    The vehicle lands at the end."""
    plan = write_plan(drift_plan(DRIFT), tmp_path / "drift.plan")
    feed_port = free_udp_port()
    port = free_udp_port()
    enu = LocalEnu(HOME[0], HOME[1], HOME[2])
    sending = threading.Event()
    sending.set()
    with SimVehicle(port, home=HOME, gps_fix=0, speed_m_s=8.0, climb_m_s=8.0, max_life_s=30) as v:

        def slam() -> None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
                while sending.is_set():
                    e, n, u = (float(c) for c in enu.from_wgs84(v.lat, v.lon, v.alt))
                    line = f"{time.time():.3f} {e:.3f} {n:.3f} {u:.3f} 0 0 0 1"
                    out.sendto(line.encode(), ("127.0.0.1", feed_port))
                    time.sleep(0.02)

        sender = threading.Thread(target=slam, daemon=True)
        sender.start()
        try:
            out = run_main(
                [
                    "fly",
                    str(plan),
                    "--vision-pose",
                    f"udp://127.0.0.1:{feed_port}",
                    "--no-terrain-check",
                    *_sim_link(port),
                ]
            )
        finally:
            sending.clear()
            sender.join()
        assert out.code == 0, out.stdout + out.stderr
        assert "reached 3/3" in out.stdout and v.landed
        assert v.setpoint_ned == pytest.approx((3.0, 4.0, -2.0), abs=1e-6)
        # what PX4 got as vision is the pose sent, in NED
        assert v.vision_positions[-1][:2] == pytest.approx((3.0, 4.0), abs=0.6)
