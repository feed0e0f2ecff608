"""Flying a plan through MAVSDK (the native ``mavsdk`` 4.x API): upload, verify, fly, watch.

``smartmine fly mission.plan --connect udpin://0.0.0.0:14540`` uploads the plan's items
(MISSION_ITEM_INT, camera items kept), downloads them again and compares item by item,
runs the pre-flight checks (health, GPS fix or local position, home, battery), arms,
starts and prints progress. Ctrl-C returns to launch; so does a link silent for longer
than ``--link-loss-s`` (the command is sent for as long as the link may come back, and
PX4's own data-link-loss failsafe does the same on the vehicle). Typing ``p`` + Enter
pauses (hold), ``r`` resumes.

GPS-denied flight (:class:`OffboardFlight`): the drone's pose from SLAM (ROS ENU/FLU) is
fed to PX4 as a vision position estimate through MAVSDK's mocap plugin at 30 Hz or more,
and the drift plan's waypoints (local mine frame, ENU) are flown as offboard position
setpoints; both conversions to PX4's NED/FRD come from :mod:`smartmine.frames`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from drone_missions.errors import MissionError
from drone_missions.plan import (
    FRAME_LOCAL_ENU,
    FRAME_LOCAL_NED,
    FRAME_MISSION,
    MissionItem,
    Plan,
)
from smartmine.frames import enu_to_ned, quat_enu_flu_to_ned_frd
from smartmine.geometry import matrix_to_euler, quat_to_matrix

_GLOBAL_FRAMES = {0, 3, 5, 6, 10, 11}
EXIT_LINK_LOST = 3
EXIT_INTERRUPTED = 130


class FlightError(MissionError):
    """The vehicle refused or failed a step (connect, upload, check, arm, start)."""


@dataclass(frozen=True)
class RawItem:
    """A MISSION_ITEM_INT as sent: lat/lon as degE7 integers in global frames."""

    seq: int
    frame: int
    command: int
    current: int
    autocontinue: int
    param1: float
    param2: float
    param3: float
    param4: float
    x: int
    y: int
    z: float


def _f(value: float | None) -> float:
    return math.nan if value is None else float(value)


def raw_items(plan: Plan) -> list[RawItem]:
    """The plan's items as MAVLink MISSION_ITEM_INT (what the vehicle must hold)."""
    out = []
    for i, it in enumerate(plan.mission_items()):
        p = it.params
        if it.altitude_ref == "terrain" and it.frame in (0, 5) and p[6] is None:
            raise FlightError(
                f"{plan.source}: item {i} ({it.name}) is {it.altitude_m:g} m above terrain "
                "with no AMSL altitude computed; give the DEM (--dem) to compute it"
            )
        scale = (
            1e7
            if it.frame in _GLOBAL_FRAMES
            else 1e4
            if it.frame in (FRAME_LOCAL_NED, FRAME_LOCAL_ENU)  # local: m * 1e4
            else 1.0
        )
        x, y = (round(v * scale) if v is not None and math.isfinite(v) else 0 for v in (p[4], p[5]))
        out.append(
            RawItem(
                i,
                it.frame,
                it.command,
                int(i == 0),
                int(it.autocontinue),
                _f(p[0]),
                _f(p[1]),
                _f(p[2]),
                _f(p[3]),
                x,
                y,
                _f(p[6]),
            )
        )
    return out


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))  # float32 on the wire


def compare_items(sent: Sequence[RawItem], back: Sequence[Any]) -> list[str]:
    """Differences between what was sent and what the vehicle holds (empty if none)."""
    if len(sent) != len(back):
        return [f"the vehicle holds {len(back)} items, {len(sent)} were sent"]
    diffs = []
    for s, b in zip(sent, back, strict=True):
        for name in ("frame", "command", "autocontinue", "x", "y"):
            if int(getattr(s, name)) != int(getattr(b, name)):
                diffs.append(f"item {s.seq}: {name} {getattr(b, name)} != {getattr(s, name)}")
        for name in ("param1", "param2", "param3", "param4", "z"):
            if not _same_float(float(getattr(s, name)), float(getattr(b, name))):
                diffs.append(f"item {s.seq}: {name} {getattr(b, name)} != {getattr(s, name)}")
    return diffs


@dataclass
class FlightConfig:
    connect: str = "udpin://0.0.0.0:14540"
    timeout_s: float = 30.0
    link_loss_s: float = 5.0
    min_battery: float = 0.5
    require_gps: bool = True
    max_flight_s: float = 3600.0
    poll_s: float = 0.2


@dataclass
class Progress:
    current: int
    total: int
    reached: int
    flight_mode: str
    armed: bool
    lat_deg: float
    lon_deg: float
    relative_alt_m: float
    battery: float


class MissionFlight:
    """One vehicle, one mission: connect, upload and verify, check, arm, start, watch."""

    def __init__(
        self, plan: Plan, config: FlightConfig, log: Callable[[str], None] = print
    ) -> None:
        self.plan = plan
        self.config = config
        self.log = log
        self.items = raw_items(plan)
        self._mavsdk: Any = None
        self.system: Any = None
        self._last_telemetry = 0.0
        self._reached: list[int] = []
        self._lock = threading.Lock()
        self._subs: list[Any] = []

    # -- connection ------------------------------------------------------------------------------
    def connect(self) -> None:
        from mavsdk import ComponentType, Configuration, ConnectionResult, Mavsdk
        from mavsdk.plugins.action import Action
        from mavsdk.plugins.mission_raw import MissionRaw
        from mavsdk.plugins.telemetry import Telemetry

        self._mavsdk = Mavsdk(
            Configuration.create_with_component_type(ComponentType.GROUND_STATION)
        )
        result = self._mavsdk.add_any_connection(self.config.connect)
        if result != ConnectionResult.SUCCESS:
            raise FlightError(f"cannot open {self.config.connect}: {result.name}")
        self.system = self._mavsdk.first_autopilot(self.config.timeout_s)
        if self.system is None:
            raise FlightError(
                f"no autopilot answered on {self.config.connect} within {self.config.timeout_s:g} s"
            )
        self.mission = MissionRaw(self.system)
        self.action = Action(self.system)
        self.telemetry = Telemetry(self.system)
        self._last_telemetry = time.monotonic()
        self._subs.append(self.telemetry.subscribe_position(self._on_position))
        self._subs.append(self.mission.subscribe_mission_progress(self._on_progress))

    def _on_position(self, _position: Any, _user: Any) -> None:
        self._last_telemetry = time.monotonic()

    def _on_progress(self, progress: Any, _user: Any) -> None:
        with self._lock:
            done = int(progress.current)
            if done > len(self._reached):
                self._reached.extend(range(len(self._reached), done))

    def close(self) -> None:
        if self._mavsdk is not None:
            self._mavsdk.destroy()
            self._mavsdk = None

    def __enter__(self) -> MissionFlight:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- mission -----------------------------------------------------------------------------------
    def upload_and_verify(self) -> None:
        from mavsdk.plugins.mission_raw import MissionItem as MavItem
        from mavsdk.plugins.mission_raw import MissionRawError

        mav_items = [
            MavItem(
                it.seq,
                it.frame,
                it.command,
                it.current,
                it.autocontinue,
                it.param1,
                it.param2,
                it.param3,
                it.param4,
                it.x,
                it.y,
                it.z,
                0,
            )
            for it in self.items
        ]
        try:
            self.mission.upload_mission(mav_items)
            back = self.mission.download_mission()
        except MissionRawError as err:
            raise FlightError(f"mission transfer failed: {err}") from None
        diffs = compare_items(self.items, back)
        if diffs:
            raise FlightError(
                "the vehicle's mission differs from the plan: " + "; ".join(diffs[:5])
            )
        self.log(f"uploaded {len(self.items)} items; read back and identical")

    def preflight(self) -> list[str]:
        """What stops the flight (empty list: go)."""
        problems = []
        health = self.telemetry.health()
        for name in ("is_gyrometer_calibration_ok", "is_accelerometer_calibration_ok"):
            if not getattr(health, name):
                problems.append(name.removeprefix("is_").replace("_", " ") + " is not OK")
        if self.config.require_gps:
            if not health.is_global_position_ok:
                problems.append("no global position (GPS fix)")
            if not health.is_home_position_ok:
                problems.append("no home position")
            gps = self.telemetry.gps_info()
            if int(gps.fix_type) < 3:
                problems.append(f"GPS fix type {int(gps.fix_type)} (3D fix needed)")
        elif not health.is_local_position_ok:
            problems.append("no local position estimate")
        battery = self.telemetry.battery()
        remaining = float(battery.remaining_percent)
        remaining = remaining / 100.0 if remaining > 1.0 else remaining
        if not math.isfinite(remaining) or remaining < self.config.min_battery:
            problems.append(f"battery at {remaining:.0%} (minimum {self.config.min_battery:.0%})")
        return problems

    def wait_preflight(self, timeout_s: float = 10.0) -> list[str]:
        """Pre-flight checks, retried while telemetry arrives (empty list: go)."""
        deadline = time.monotonic() + timeout_s
        problems = self.preflight()
        while problems and time.monotonic() < deadline:
            time.sleep(0.2)
            problems = self.preflight()
        return problems

    def arm_and_start(self) -> None:
        from mavsdk.plugins.action import ActionError
        from mavsdk.plugins.mission_raw import MissionRawError

        try:
            self.action.arm()
        except ActionError as err:
            raise FlightError(f"the vehicle refused to arm: {err}") from None
        try:
            self.mission.start_mission()
        except MissionRawError as err:
            raise FlightError(f"the vehicle refused to start the mission: {err}") from None
        self.log("armed; mission started")

    def pause(self) -> None:
        self.mission.pause_mission()
        self.log("paused (hold)")

    def resume(self) -> None:
        self.mission.start_mission()
        self.log("resumed")

    def return_to_launch(self) -> bool:
        """Command RTL; False if the vehicle did not acknowledge (link down)."""
        from mavsdk.plugins.action import ActionError

        try:
            self.action.return_to_launch()
        except ActionError as err:
            self.log(f"RTL not acknowledged ({err})")
            return False
        self.log("return to launch commanded")
        return True

    def progress(self) -> Progress:
        p = self.mission.mission_progress()
        pos = self.telemetry.position()
        bat = float(self.telemetry.battery().remaining_percent)
        return Progress(
            current=int(p.current),
            total=int(p.total),
            reached=len(self._reached),
            flight_mode=self.telemetry.flight_mode().name,
            armed=bool(self.telemetry.armed()),
            lat_deg=float(pos.latitude_deg),
            lon_deg=float(pos.longitude_deg),
            relative_alt_m=float(pos.relative_altitude_m),
            battery=bat / 100.0 if bat > 1.0 else bat,
        )

    def link_age_s(self) -> float:
        return time.monotonic() - self._last_telemetry

    def watch(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        stop: threading.Event | None = None,
    ) -> str:
        """Until the mission ends and the vehicle lands: ``done``; ``link-lost`` (RTL sent)
        when telemetry stops for ``link_loss_s``; ``stopped`` when ``stop`` is set;
        ``timeout`` after ``max_flight_s``."""
        started = time.monotonic()
        last_current = -1
        was_armed = False
        while time.monotonic() - started < self.config.max_flight_s:
            if stop is not None and stop.is_set():
                return "stopped"
            if self.link_age_s() > self.config.link_loss_s:
                self.log(f"link lost for {self.link_age_s():.1f} s: returning to launch")
                self.return_to_launch()
                return "link-lost"
            prog = self.progress()
            was_armed = was_armed or prog.armed
            if prog.current != last_current:
                last_current = prog.current
                if on_progress is not None:
                    on_progress(prog)
            if was_armed and not prog.armed and prog.current >= prog.total > 0:
                return "done"
            time.sleep(self.config.poll_s)
        return "timeout"


# -- GPS-denied: vision pose in, offboard setpoints out --------------------------------------------
def vision_ned_frd(
    position_enu: npt.ArrayLike, quat_enu_flu_xyzw: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], tuple[float, float, float]]:
    """A ROS pose (ENU world, FLU body) as PX4 wants it: NED position and FRD roll, pitch,
    yaw (rad), by :mod:`smartmine.frames`."""
    p_ned = enu_to_ned(np.asarray(position_enu, dtype=np.float64))
    q = quat_enu_flu_to_ned_frd(quat_enu_flu_xyzw)  # (x, y, z, w), NED/FRD
    yaw, pitch, roll = matrix_to_euler(quat_to_matrix(q), "ZYX")  # aerospace Z-Y-X
    return p_ned, (float(roll), float(pitch), float(yaw))


PoseSource = Callable[[], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None]
"""Returns the latest (position ENU, quaternion ENU/FLU x,y,z,w), or None if none yet."""


class OffboardFlight:
    """GPS-denied flight: vision pose fed to PX4 at ``vision_hz``, drift waypoints flown as
    offboard position setpoints in the local frame (ENU in, NED out)."""

    def __init__(
        self,
        system: Any,
        pose: PoseSource,
        vision_hz: float = 30.0,
        setpoint_hz: float = 20.0,
        log: Callable[[str], None] = print,
    ) -> None:
        from mavsdk.plugins.mocap import Mocap
        from mavsdk.plugins.offboard import Offboard

        if vision_hz < 30.0:
            raise FlightError(f"vision pose rate {vision_hz:g} Hz is below PX4's 30 Hz minimum")
        self.mocap = Mocap(system)
        self.offboard = Offboard(system)
        self.pose = pose
        self.vision_hz = vision_hz
        self.setpoint_hz = setpoint_hz
        self.log = log
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="vision-to-px4", daemon=True)
        self._target_ned = np.zeros(3)
        self._yaw_deg = 0.0

    def start_vision(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _feed(self) -> None:
        from mavsdk.plugins.mocap import (
            AngleBody,
            Covariance,
            PositionBody,
            VisionPositionEstimate,
        )

        period = 1.0 / self.vision_hz
        nxt = time.monotonic()
        while not self._stop.is_set():
            latest = self.pose()
            if latest is not None:
                p_ned, (roll, pitch, yaw) = vision_ned_frd(*latest)
                estimate = VisionPositionEstimate(
                    int(time.time() * 1e6),
                    PositionBody(float(p_ned[0]), float(p_ned[1]), float(p_ned[2])),
                    AngleBody(roll, pitch, yaw),
                    Covariance([math.nan]),
                    0,
                )
                self.mocap.set_vision_position_estimate(estimate)
                self.sent += 1
            nxt += period
            time.sleep(max(0.0, nxt - time.monotonic()))

    def set_target_enu(self, position_enu: npt.ArrayLike, yaw_enu_deg: float = 0.0) -> None:
        from mavsdk.plugins.offboard import PositionNedYaw

        self._target_ned = enu_to_ned(np.asarray(position_enu, dtype=np.float64))
        self._yaw_deg = (90.0 - yaw_enu_deg) % 360.0  # ENU yaw from east -> NED heading
        n, e, d = (float(v) for v in self._target_ned)
        self.offboard.set_position_ned(PositionNedYaw(n, e, d, self._yaw_deg))

    def fly_waypoints(
        self,
        waypoints_enu: npt.ArrayLike,
        acceptance_m: float = 0.5,
        leg_timeout_s: float = 60.0,
    ) -> int:
        """Fly the waypoints in order (offboard mode must be startable: a setpoint is sent
        first, as PX4 requires); returns how many were reached."""
        pts = np.asarray(waypoints_enu, dtype=np.float64).reshape(-1, 3)
        if not len(pts):
            return 0
        self.set_target_enu(pts[0])
        self.offboard.start()
        reached = 0
        for k, p in enumerate(pts):
            yaw = 0.0
            if k + 1 < len(pts):
                d = pts[k + 1] - p
                yaw = math.degrees(math.atan2(d[1], d[0]))
            deadline = time.monotonic() + leg_timeout_s
            while time.monotonic() < deadline:
                self.set_target_enu(p, yaw)
                latest = self.pose()
                if latest is not None and np.linalg.norm(latest[0] - p) <= acceptance_m:
                    reached += 1
                    break
                time.sleep(1.0 / self.setpoint_hz)
            else:
                self.log(f"waypoint {k} not reached within {leg_timeout_s:g} s")
                break
        return reached


__all__ = [
    "FRAME_MISSION",
    "FlightConfig",
    "FlightError",
    "MissionFlight",
    "MissionItem",
    "OffboardFlight",
    "compare_items",
    "raw_items",
    "vision_ned_frd",
]
