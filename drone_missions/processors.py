"""``mission_executor`` and ``vision_to_px4``: the mission and GPS-denied nodes, without ROS.

``mission_executor`` holds one vehicle (MAVSDK, :class:`drone_missions.flight.MissionFlight`):
a plan arriving (a file path, or the .plan JSON itself) is uploaded and read back; the
commands ``start``, ``pause``, ``resume``, ``abort`` (return to launch) and ``land`` act
on it; every message on its ``tick`` input (any periodic topic, e.g. the GNSS pose)
publishes the vehicle's state (JSON) and mission progress (0..1), and a link silent
longer than ``link_loss_s`` while armed commands RTL once.

``vision_to_px4`` turns a SLAM pose (ROS ENU world, FLU body; PoseStamped)
into PX4's NED/FRD with :mod:`smartmine.frames`, sends it as a vision position estimate
(MAVSDK mocap) when ``connect`` is set, publishes what it sent, and reports on a latched
status topic when the pose rate falls below PX4's 30 Hz.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drone_missions.check import GroundOptions, check_before_flight
from drone_missions.dem import Dem
from drone_missions.errors import MissionError
from drone_missions.flight import DEFAULT_CONNECT, FlightConfig, MissionFlight, vision_ned_frd
from drone_missions.plan import Plan, parse_plan, read_plan
from drone_missions.planners import read_map_points
from drone_missions.route import resolve_terrain
from smartmine.frames import quat_enu_flu_to_ned_frd
from smartmine.geometry import make_transform, matrix_to_quat, quat_to_matrix
from smartmine.msgs import (
    header_frame_id,
    header_stamp_ns,
    matrix_to_pose_stamped,
    pose_stamped_to_matrix,
)
from smartmine.processor import Output, Port, Processor, param, register_processor

COMMANDS = ("start", "pause", "resume", "abort", "rtl", "land")


@dataclass
class MissionExecutorParams:
    connect: str = param(DEFAULT_CONNECT, "MAVSDK connection URL of the vehicle")
    timeout_s: float = param(30.0, "wait this long for the vehicle", unit="s", range=(0.1, 600))
    link_loss_s: float = param(
        5.0, "RTL when telemetry stops this long while armed", unit="s", range=(0.5, 120)
    )
    min_battery: float = param(0.5, "minimum charge to start", range=(0.0, 1.0))
    require_gps: bool = param(True, "pre-flight needs a GPS fix (false: local position)")
    plan_file: str = param("", "plan to upload at start-up; empty: wait for a plan message")
    dem_file: str = param(
        "", "terrain raster (GeoTIFF, ESRI ASCII) every global plan is checked against"
    )
    drift_map_file: str = param(
        "", "drift map (.ply) every local-frame (drift) plan is checked against"
    )
    terrain_check: bool = param(
        True,
        "refuse a plan whose ground clearance cannot be checked (no dem_file or "
        "drift_map_file for it); false: upload it unchecked",
    )


NODE_GROUND_OPTIONS = GroundOptions(
    dem="the dem_file parameter",
    drift_map="the drift_map_file parameter",
    unchecked="terrain_check:=false",
)


@register_processor
class MissionExecutor(Processor[MissionExecutorParams]):
    name = "mission_executor"
    description = "upload, start, pause, resume and abort a mission through MAVSDK; state out"
    inputs = (
        Port("plan", "/mission/plan", "std_msgs/msg/String", "latched",
             "a .plan / .waypoints path, or the .plan JSON"),
        Port("command", "/mission/command", "std_msgs/msg/String", "reliable",
             "start | pause | resume | abort | rtl | land"),
        Port("tick", "/gnss/pose", "geometry_msgs/msg/PoseStamped", "sensor",
             "any periodic message: publishes state and progress"),
    )  # fmt: skip
    outputs = (
        Port("state", "/mission/state", "std_msgs/msg/String", "latched", "vehicle state (JSON)"),
        Port("progress", "/mission/progress", "std_msgs/msg/Float32", "reliable", "0..1"),
    )
    Params = MissionExecutorParams

    def __init__(self, params: MissionExecutorParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self.flight: MissionFlight | None = None
        self.plan: Plan | None = None
        self.events: deque[str] = deque(maxlen=20)
        self.rtl_sent = False
        self._last_state: dict[str, Any] = {}
        p = self.params
        self._dem = Dem.open(Path(p.dem_file), None) if p.dem_file else None
        self._drift_map = read_map_points(Path(p.drift_map_file)) if p.drift_map_file else None
        if self.params.plan_file:
            self._load(self.params.plan_file)

    def _config(self) -> FlightConfig:
        p = self.params
        return FlightConfig(
            connect=p.connect,
            timeout_s=p.timeout_s,
            link_loss_s=p.link_loss_s,
            min_battery=p.min_battery,
            require_gps=p.require_gps,
        )

    def _event(self, text: str) -> None:
        self.events.append(text)

    def _load(self, text: str) -> None:
        """Read, check (as ``smartmine fly`` does: nothing unsafe or unchecked is
        uploaded) and upload a plan; a refused plan leaves the vehicle's mission as it was."""
        if text.lstrip().startswith("{"):
            plan = parse_plan(text, "mission/plan message")
        else:
            plan = read_plan(text.strip())
        if self._dem is not None:  # QGC's above-terrain items get their AMSL altitude
            plan = resolve_terrain(plan, self._dem)
        check_before_flight(
            plan,
            dem=self._dem,
            drift_map=self._drift_map,
            unchecked_ground_ok=not self.params.terrain_check,
            options=NODE_GROUND_OPTIONS,
        )
        self.plan = plan
        if self.flight is not None:
            self.flight.close()
        self.flight = MissionFlight(self.plan, self._config(), log=self._event)
        self.flight.connect()
        self.flight.upload_and_verify()
        self.rtl_sent = False

    def _command(self, word: str) -> None:
        if word not in COMMANDS:
            self._event(f"unknown command {word!r} (known: {', '.join(COMMANDS)})")
            return
        flight = self.flight
        if flight is None:
            self._event(f"{word}: no plan uploaded yet")
            return
        if word == "start":
            problems = flight.wait_preflight(5.0)
            if problems:
                self._event("not started: " + "; ".join(problems))
                return
            flight.arm_and_start()
        elif word == "pause":
            flight.pause()
        elif word == "resume":
            flight.resume()
        elif word in ("abort", "rtl"):
            flight.return_to_launch()
        elif word == "land":
            flight.action.land()
            self._event("landing")

    def state(self) -> dict[str, Any]:
        flight = self.flight
        out: dict[str, Any] = {"connected": flight is not None and flight.system is not None}
        if flight is not None and flight.system is not None:
            p = flight.progress()
            out.update(
                armed=p.armed,
                flight_mode=p.flight_mode,
                current=p.current,
                total=p.total,
                reached=p.reached,
                battery=p.battery,
                lat_deg=p.lat_deg,
                lon_deg=p.lon_deg,
                relative_alt_m=p.relative_alt_m,
                link_age_s=round(flight.link_age_s(), 3),
            )
            if p.armed and flight.link_age_s() > self.params.link_loss_s and not self.rtl_sent:
                self.rtl_sent = True
                self._event("link lost: return to launch")
                flight.return_to_launch()
        out["events"] = list(self.events)
        return out

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        try:
            if port == "plan":
                self._load(str(message.data))
            elif port == "command":
                self._command(str(message.data).strip().lower())
        except MissionError as err:
            self._event(f"error: {err}")
        state = self.state()
        out = [Output("state", self.factory("std_msgs/msg/String", data=json.dumps(state)))]
        total = int(state.get("total") or 0)
        fraction = float(state.get("current", 0)) / total if total else 0.0
        out.append(Output("progress", self.factory("std_msgs/msg/Float32", data=fraction)))
        return out

    def finish(self) -> list[Output]:
        if self.flight is not None:
            self.flight.close()
            self.flight = None
        return []


@dataclass
class VisionToPx4Params:
    connect: str = param("", "MAVSDK connection URL; empty: convert and publish only")
    min_rate_hz: float = param(30.0, "PX4 wants vision at this rate or more", unit="Hz",
                               range=(1.0, 1000.0))  # fmt: skip
    ned_frame_id: str = param("odom_ned", "frame_id of the published NED pose")
    timeout_s: float = param(30.0, "wait this long for the vehicle", unit="s", range=(0.1, 600))


@register_processor
class VisionToPx4(Processor[VisionToPx4Params]):
    name = "vision_to_px4"
    description = "SLAM pose (ENU/FLU) -> PX4 vision position estimate (NED/FRD) via MAVSDK"
    inputs = (
        Port("pose", "/slam/pose", "geometry_msgs/msg/PoseStamped", "sensor",
             "SLAM pose: ENU world, FLU body"),
    )  # fmt: skip
    outputs = (
        Port("pose_ned", "/px4/vision_pose_ned", "geometry_msgs/msg/PoseStamped", "sensor",
             "the pose as sent to PX4 (NED world, FRD body)"),
        Port("status", "/px4/vision_status", "std_msgs/msg/String", "latched",
             "rate and link status"),
    )  # fmt: skip
    Params = VisionToPx4Params

    def __init__(self, params: VisionToPx4Params | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self.stamps: deque[int] = deque(maxlen=200)
        self.sent = 0
        self._status = ""
        self._mavsdk: Any = None
        self._mocap: Any = None

    def _connect(self) -> None:
        if self._mocap is not None or not self.params.connect:
            return
        from mavsdk import ComponentType, Configuration, Mavsdk
        from mavsdk.plugins.mocap import Mocap

        config = Configuration.create_with_component_type(ComponentType.COMPANION_COMPUTER)
        self._mavsdk = Mavsdk(config)
        self._mavsdk.add_any_connection(self.params.connect)
        system = self._mavsdk.first_autopilot(self.params.timeout_s)
        if system is None:
            raise MissionError(f"vision_to_px4: no autopilot on {self.params.connect}")
        self._mocap = Mocap(system)

    def rate_hz(self) -> float:
        if len(self.stamps) < 2:
            return 0.0
        window = [s for s in self.stamps if s >= self.stamps[-1] - 1_000_000_000]
        if len(window) < 2:
            return 0.0
        return (len(window) - 1) / ((window[-1] - window[0]) * 1e-9)

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        matrix = pose_stamped_to_matrix(message)
        stamp = header_stamp_ns(message)
        self.stamps.append(stamp)
        q_enu_flu = matrix_to_quat(matrix[:3, :3])
        p_ned, (roll, pitch, yaw) = vision_ned_frd(matrix[:3, 3], q_enu_flu)
        out: list[Output] = []
        self._connect()
        if self._mocap is not None:
            from mavsdk.plugins.mocap import (
                AngleBody,
                Covariance,
                PositionBody,
                VisionPositionEstimate,
            )

            self._mocap.set_vision_position_estimate(
                VisionPositionEstimate(
                    stamp // 1000,
                    PositionBody(*(float(v) for v in p_ned)),
                    AngleBody(roll, pitch, yaw),
                    Covariance([float("nan")]),
                    0,
                )
            )
            self.sent += 1
        q_ned = quat_enu_flu_to_ned_frd(q_enu_flu)
        t_ned = make_transform(quat_to_matrix(q_ned), p_ned)
        out.append(
            Output(
                "pose_ned",
                matrix_to_pose_stamped(t_ned, stamp, self.params.ned_frame_id, self.factory),
            )
        )
        rate = self.rate_hz()
        if len(self.stamps) < 10:
            status = "measuring the rate"
        elif rate < self.params.min_rate_hz:
            status = f"vision rate {rate:.1f} Hz below {self.params.min_rate_hz:g} Hz"
        else:
            status = "ok"
        if status != self._status:
            self._status = status
            source = header_frame_id(message) or port
            text = json.dumps({"status": status, "rate_hz": round(rate, 2), "source": source})
            out.append(Output("status", self.factory("std_msgs/msg/String", data=text)))
        return out

    def finish(self) -> list[Output]:
        if self._mavsdk is not None:
            self._mavsdk.destroy()
            self._mavsdk = None
        return []


__all__ = ["MissionExecutor", "VisionToPx4"]
