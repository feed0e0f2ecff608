"""A simulated PX4-like multicopter speaking MAVLink 2 over UDP on 127.0.0.1 (pymavlink).

Enough of PX4 for a ground station to fly a mission through it: HEARTBEAT with PX4 custom
modes, SYS_STATUS, GPS_RAW_INT, GLOBAL_POSITION_INT, LOCAL_POSITION_NED, ATTITUDE,
BATTERY_STATUS, HOME_POSITION, EXTENDED_SYS_STATE; the mission upload and download
protocols (MISSION_COUNT / REQUEST_INT / ITEM_INT / ACK) for the three mission types:
mission, geofence (FENCE_POLYGON_VERTEX_INCLUSION/EXCLUSION with the vertex count in
param1, FENCE_CIRCLE_INCLUSION/EXCLUSION with the radius) and rally points; COMMAND_LONG/INT
for arming, DO_SET_MODE (mission, hold, RTL, offboard), RTL, message intervals;
MISSION_CURRENT and MISSION_ITEM_REACHED while it flies the items at a constant speed.

Strict like PX4 where it is cheap:

- arming is refused without a 3D GPS fix (or, GPS-denied, without a fresh vision pose),
  outside the uploaded inclusion fence or inside an exclusion fence (PX4: inside at least
  one inclusion area if any exists, outside every exclusion area), and below
  ``low_battery`` (BAT_LOW_THR);
- the geofence is enforced in flight: a step that would leave it is not taken (the
  vehicle stops at the fence, as PX4's GF_PREDICT does), the breach is recorded and
  ``fence_action`` (GF_ACTION: ``hold`` as PX4's default, ``rtl`` to the nearest rally
  point or home, ``land``, ``warn``) is taken;
- failsafes: data-link loss (no GCS heartbeat for ``dll_timeout_s`` while armed: RTL),
  low battery (RTL), vision lost for ``vision_timeout_s`` while flying GPS-denied (land);
  offboard needs a setpoint first and, GPS-denied, a fresh vision pose;
- ``upload_faults`` makes it lose or change what it was sent (``drop``: keeps one item
  fewer, ``alter``: moves item 0 by 1e-4 deg, ``reject``: answers MAV_MISSION_ERROR),
  by mission type, so the ground station's read-back comparison can be tested.

Everything it saw and did is recorded for the test to check. It runs in a thread with a
bounded life (``max_life_s``) so a test can never hang on it.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pymavlink.dialects.v20 import common as mavlink

EARTH_R = 6378137.0
PX4_MAIN_AUTO, PX4_MAIN_OFFBOARD, PX4_MAIN_POSCTL = 4, 6, 3
PX4_SUB_READY, PX4_SUB_TAKEOFF, PX4_SUB_LOITER, PX4_SUB_MISSION, PX4_SUB_RTL, PX4_SUB_LAND = (
    1,
    2,
    3,
    4,
    5,
    6,
)
MODES = {
    "hold": (PX4_MAIN_AUTO, PX4_SUB_LOITER),
    "mission": (PX4_MAIN_AUTO, PX4_SUB_MISSION),
    "rtl": (PX4_MAIN_AUTO, PX4_SUB_RTL),
    "land": (PX4_MAIN_AUTO, PX4_SUB_LAND),
    "takeoff": (PX4_MAIN_AUTO, PX4_SUB_TAKEOFF),
    "offboard": (PX4_MAIN_OFFBOARD, 0),
    "posctl": (PX4_MAIN_POSCTL, 0),
}
POSITION_COMMANDS = {
    mavlink.MAV_CMD_NAV_WAYPOINT,
    mavlink.MAV_CMD_NAV_TAKEOFF,
    mavlink.MAV_CMD_NAV_LOITER_TIME,
    mavlink.MAV_CMD_NAV_LOITER_UNLIM,
    mavlink.MAV_CMD_NAV_LOITER_TURNS,
    mavlink.MAV_CMD_NAV_LOITER_TO_ALT,
}
ALL_SENSORS = (
    mavlink.MAV_SYS_STATUS_SENSOR_3D_GYRO
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_ACCEL
    | mavlink.MAV_SYS_STATUS_SENSOR_3D_MAG
    | mavlink.MAV_SYS_STATUS_SENSOR_ABSOLUTE_PRESSURE
    | mavlink.MAV_SYS_STATUS_SENSOR_GPS
    | mavlink.MAV_SYS_STATUS_SENSOR_RC_RECEIVER
    | mavlink.MAV_SYS_STATUS_SENSOR_BATTERY
    | mavlink.MAV_SYS_STATUS_AHRS
    | mavlink.MAV_SYS_STATUS_PREARM_CHECK
)


CMD_FENCE_VERTEX_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
CMD_FENCE_VERTEX_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
CMD_FENCE_CIRCLE_INCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
CMD_FENCE_CIRCLE_EXCLUSION = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
FENCE_VERTICES = (CMD_FENCE_VERTEX_INCLUSION, CMD_FENCE_VERTEX_EXCLUSION)
FENCE_CIRCLES = (CMD_FENCE_CIRCLE_INCLUSION, CMD_FENCE_CIRCLE_EXCLUSION)


def _valid_fence(items: list[Any]) -> bool:
    """PX4 refuses a fence whose polygons do not hold the vertex count they state."""
    k = 0
    while k < len(items):
        it = items[k]
        if it.command in FENCE_CIRCLES:
            if not it.param1 > 0:
                return False
            k += 1
        elif it.command in FENCE_VERTICES:
            count = int(it.param1)
            group = items[k : k + count]
            if (
                count < 3
                or len(group) != count
                or any(v.command != it.command or int(v.param1) != count for v in group)
            ):
                return False
            k += count
        else:
            return False
    return True


def _in_polygon(point: tuple[float, float], ring: list[tuple[float, float]]) -> bool:
    """Even-odd ray casting in a local (north, east) frame."""
    y, x = point
    inside = False
    for (y1, x1), (y2, x2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


class _Sock:
    """The file-like the MAVLink encoder writes to; drops everything while the link is cut."""

    def __init__(self, vehicle: SimVehicle) -> None:
        self.vehicle = vehicle

    def write(self, data: bytes) -> None:
        v = self.vehicle
        if v.link_cut or v.gcs_addr is None:
            return
        with contextlib.suppress(OSError):
            v.sock.sendto(data, v.gcs_addr)


@dataclass
class SimVehicle:
    gcs_port: int
    home: tuple[float, float, float] = (43.2, 76.9, 800.0)
    speed_m_s: float = 15.0
    climb_m_s: float = 10.0
    acceptance_m: float = 1.0
    dll_timeout_s: float = 3.0
    rtl_climb_m: float = 20.0
    max_life_s: float = 60.0
    time_factor: float = 1.0
    """Simulated seconds per real second for motion and battery (tests fly faster);
    protocol and failsafe timeouts stay in real seconds."""
    battery: float = 0.95
    gps_fix: int = mavlink.GPS_FIX_TYPE_3D_FIX
    fence_action: str = "hold"
    low_battery: float = 0.0
    vision_timeout_s: float = 0.7
    upload_faults: dict[int, str] = field(default_factory=dict)
    # -- state and records
    link_cut: bool = False
    armed: bool = False
    mode: str = "hold"
    mission: list[Any] = field(default_factory=list)
    current: int = 0
    reached: list[int] = field(default_factory=list)
    modes_seen: list[str] = field(default_factory=list)
    commands_seen: list[int] = field(default_factory=list)
    downloads: int = 0
    camera_triggers: list[tuple[int, float]] = field(default_factory=list)
    vision_times: list[float] = field(default_factory=list)
    vision_positions: list[tuple[float, float, float]] = field(default_factory=list)
    setpoint_ned: tuple[float, float, float] | None = None
    offboard_setpoints: int = 0
    landed: bool = False
    fence: list[Any] = field(default_factory=list)
    rally: list[Any] = field(default_factory=list)
    fence_breaches: list[tuple[float, float, float]] = field(default_factory=list)
    failsafes: list[str] = field(default_factory=list)
    arm_denials: list[str] = field(default_factory=list)
    statustexts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.01)
        self.gcs_addr: tuple[str, int] | None = ("127.0.0.1", self.gcs_port)
        self.mav = mavlink.MAVLink(_Sock(self), srcSystem=1, srcComponent=1)
        self.lat, self.lon = self.home[0], self.home[1]
        self.alt = self.home[2]  # AMSL
        self.vx = self.vy = self.vz = 0.0
        self._upload: dict[str, Any] | None = None
        self.gcs_sys, self.gcs_comp = 245, 190
        self._last_gcs_hb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-vehicle", daemon=True)
        self._t0 = time.monotonic()
        self._rtl_phase = ""
        self._rtl_target = self.home
        self._hold_until = 0.0
        self._lock = threading.Lock()

    # -- life ---------------------------------------------------------------------------------
    def start(self) -> SimVehicle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def __enter__(self) -> SimVehicle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_mode(self, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            self.modes_seen.append(mode)
            if mode == "rtl":
                self._rtl_phase = "climb"
                self._rtl_target = self._nearest_safe_point()

    def _run(self) -> None:
        next_fast = next_slow = time.monotonic()
        last = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - self._t0 < self.max_life_s:
            self._receive()
            now = time.monotonic()
            with self._lock:
                self._step((now - last) * self.time_factor)
            last = now
            if now >= next_fast:
                self._send_fast()
                next_fast = now + 0.05
            if now >= next_slow:
                self._send_slow()
                next_slow = now + 0.5

    # -- receiving ----------------------------------------------------------------------------
    def _receive(self) -> None:
        for _ in range(50):
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, BlockingIOError, OSError):
                return
            if self.link_cut:
                continue
            self.gcs_addr = addr
            try:
                msgs = self.mav.parse_buffer(data) or []
            except mavlink.MAVError:
                continue
            for msg in msgs:
                with self._lock:
                    self._handle(msg)

    def _handle(self, msg: Any) -> None:
        kind = msg.get_type()
        if kind != "BAD_DATA":
            self.gcs_sys, self.gcs_comp = msg.get_srcSystem(), msg.get_srcComponent()
        if kind == "HEARTBEAT":
            if msg.type == mavlink.MAV_TYPE_GCS:
                self._last_gcs_hb = time.monotonic()
        elif kind == "MISSION_COUNT":
            self._upload = {"type": msg.mission_type, "items": [None] * msg.count}
            if msg.count == 0:
                self._store([])
            else:
                self._request(0)
        elif kind in ("MISSION_ITEM_INT", "MISSION_ITEM") and self._upload is not None:
            if msg.mission_type != self._upload["type"]:
                return
            items = self._upload["items"]
            if msg.seq >= len(items):
                return
            if kind == "MISSION_ITEM":  # float lat/lon: store as MISSION_ITEM_INT would
                msg.x, msg.y = round(msg.x * 1e7), round(msg.y * 1e7)
            items[msg.seq] = msg
            nxt = next((i for i, it in enumerate(items) if it is None), None)
            if nxt is None:
                self._store(list(items))
            else:
                self._request(nxt)
        elif kind == "MISSION_REQUEST_LIST":
            self.downloads += 1
            count = len(self.held(msg.mission_type))
            self.mav.send(
                self.mav.mission_count_encode(self.gcs_sys, self.gcs_comp, count, msg.mission_type)
            )
        elif kind in ("MISSION_REQUEST_INT", "MISSION_REQUEST"):
            held = self.held(msg.mission_type)
            if msg.seq < len(held):
                it = held[msg.seq]
                current = int(msg.mission_type == 0 and msg.seq == self.current)
                self.mav.send(
                    self.mav.mission_item_int_encode(
                        self.gcs_sys, self.gcs_comp, msg.seq, it.frame, it.command, current,
                        it.autocontinue, it.param1, it.param2, it.param3, it.param4, it.x, it.y,
                        it.z, msg.mission_type,
                    )
                )  # fmt: skip
        elif kind == "MISSION_SET_CURRENT":
            self.current = msg.seq
        elif kind == "MISSION_CLEAR_ALL":
            for kind_cleared in (0, 1, 2):
                if msg.mission_type in (kind_cleared, mavlink.MAV_MISSION_TYPE_ALL):
                    self._hold_list(kind_cleared, [])
            self._ack(mavlink.MAV_MISSION_ACCEPTED, msg.mission_type)
        elif kind in ("COMMAND_LONG", "COMMAND_INT"):
            self._command(msg)
        elif kind == "SET_POSITION_TARGET_LOCAL_NED":
            self.offboard_setpoints += 1
            self.setpoint_ned = (msg.x, msg.y, msg.z)
        elif kind == "VISION_POSITION_ESTIMATE":
            self.vision_times.append(time.monotonic())
            self.vision_positions.append((msg.x, msg.y, msg.z))

    def _request(self, seq: int) -> None:
        kind = self._upload["type"] if self._upload is not None else 0
        self.mav.send(self.mav.mission_request_int_encode(self.gcs_sys, self.gcs_comp, seq, kind))

    def held(self, mission_type: int) -> list[Any]:
        """What the vehicle holds of a mission type (0 mission, 1 fence, 2 rally)."""
        return {0: self.mission, 1: self.fence, 2: self.rally}.get(mission_type, [])

    def _hold_list(self, mission_type: int, items: list[Any]) -> None:
        if mission_type == 0:
            self.mission, self.current, self.reached = items, 0, []
        elif mission_type == 1:
            self.fence = items
        elif mission_type == 2:
            self.rally = items

    def _store(self, items: list[Any]) -> None:
        """An upload complete: check it like PX4, apply the configured fault, keep it."""
        assert self._upload is not None
        kind = self._upload["type"]
        self._upload = None
        fault = self.upload_faults.get(kind, "")
        if fault == "reject":
            self._ack(mavlink.MAV_MISSION_ERROR, kind)
            return
        if kind == 1 and not _valid_fence(items):
            self._ack(mavlink.MAV_MISSION_INVALID, kind)
            return
        if fault == "drop" and items:
            items = items[:-1]
        elif fault == "alter" and items:
            items[0].x += 1000
        self._hold_list(kind, items)
        self._ack(mavlink.MAV_MISSION_ACCEPTED, kind)

    def _ack(self, result: int, mission_type: int = 0) -> None:
        self.mav.send(
            self.mav.mission_ack_encode(self.gcs_sys, self.gcs_comp, result, mission_type)
        )

    def _command(self, msg: Any) -> None:
        cmd = msg.command
        self.commands_seen.append(cmd)
        result = mavlink.MAV_RESULT_ACCEPTED
        if cmd == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
            if msg.param1 == 1:
                refusal = self._arming_refusal()
                if refusal:
                    self.arm_denials.append(refusal)
                    self._statustext(f"Arming denied: {refusal}")
                    result = mavlink.MAV_RESULT_DENIED
                else:
                    self.armed, self.landed = True, False
            else:
                self.armed = False
        elif cmd == mavlink.MAV_CMD_DO_SET_MODE:
            wanted = (int(msg.param2), int(msg.param3))
            name = next((n for n, m in MODES.items() if m == wanted), None)
            if name is None:
                result = mavlink.MAV_RESULT_UNSUPPORTED
            elif (name == "mission" and not self.mission) or (
                name == "offboard" and (self.setpoint_ned is None or not self._has_position())
            ):
                result = mavlink.MAV_RESULT_DENIED
            else:
                self.set_mode(name)
        elif cmd == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            self.set_mode("rtl")
        elif cmd == mavlink.MAV_CMD_MISSION_START:
            self.set_mode("mission")
        elif cmd == mavlink.MAV_CMD_NAV_LAND:
            self.set_mode("land")
        elif (cmd == mavlink.MAV_CMD_REQUEST_MESSAGE and int(msg.param1) == 148) or (
            cmd == mavlink.MAV_CMD_REQUEST_AUTOPILOT_CAPABILITIES
        ):
            self._autopilot_version()
        self.mav.send(self.mav.command_ack_encode(cmd, result, 0, 0, self.gcs_sys, self.gcs_comp))

    def _has_position(self) -> bool:
        """A position estimate: GPS 3D fix, or a vision pose fresher than the timeout."""
        if self.gps_fix >= mavlink.GPS_FIX_TYPE_3D_FIX:
            return True
        return bool(self.vision_times) and (
            time.monotonic() - self.vision_times[-1] <= self.vision_timeout_s
        )

    def _arming_refusal(self) -> str:
        if not self._has_position():
            return "no position estimate (GPS 3D fix or vision)"
        if self.low_battery > 0 and self.battery < self.low_battery:
            return f"battery {self.battery:.0%} below {self.low_battery:.0%}"
        if self.gps_fix >= mavlink.GPS_FIX_TYPE_3D_FIX and not self.inside_fence(
            self.lat, self.lon
        ):
            return "outside the geofence"
        return ""

    def _statustext(self, text: str) -> None:
        self.statustexts.append(text)
        self.mav.send(self.mav.statustext_encode(mavlink.MAV_SEVERITY_CRITICAL, text.encode()[:50]))

    # -- geofence ------------------------------------------------------------------------------
    def _ne(self, lat: float, lon: float) -> tuple[float, float]:
        """North, east (m) of a point from home (flat earth: fences span a few km)."""
        n = math.radians(lat - self.home[0]) * EARTH_R
        e = math.radians(lon - self.home[1]) * EARTH_R * math.cos(math.radians(self.home[0]))
        return n, e

    def inside_fence(self, lat: float, lon: float) -> bool:
        """PX4's rule: inside at least one inclusion area (if there is any) and outside
        every exclusion area."""
        here = self._ne(lat, lon)
        had_inclusion = inside_inclusion = False
        for inclusion, inside in self._fence_areas(here):
            if inclusion:
                had_inclusion = True
                inside_inclusion = inside_inclusion or inside
            elif inside:
                return False
        return inside_inclusion or not had_inclusion

    def _fence_areas(self, here: tuple[float, float]) -> list[tuple[bool, bool]]:
        out = []
        k = 0
        while k < len(self.fence):
            it = self.fence[k]
            if it.command in (CMD_FENCE_CIRCLE_INCLUSION, CMD_FENCE_CIRCLE_EXCLUSION):
                n, e = self._ne(it.x / 1e7, it.y / 1e7)
                inside = math.hypot(here[0] - n, here[1] - e) <= it.param1
                out.append((it.command == CMD_FENCE_CIRCLE_INCLUSION, inside))
                k += 1
            else:
                count = int(it.param1)
                ring = [self._ne(v.x / 1e7, v.y / 1e7) for v in self.fence[k : k + count]]
                out.append((it.command == CMD_FENCE_VERTEX_INCLUSION, _in_polygon(here, ring)))
                k += count
        return out

    def _nearest_safe_point(self) -> tuple[float, float, float]:
        """Where RTL goes: home or the nearest rally point (PX4 RTL_TYPE 0 with rally)."""
        best, best_d = self.home, math.hypot(*self._ned_to(self.home[0], self.home[1]))
        for r in self.rally:
            lat, lon = r.x / 1e7, r.y / 1e7
            d = math.hypot(*self._ned_to(lat, lon))
            if d < best_d:
                best, best_d = (lat, lon, self.home[2]), d
        return best

    def _enforce_fence(self, before: tuple[float, float, float]) -> None:
        """A step that left the fence ends at the fence instead (the last point of the step
        still inside, to a millimetre: PX4's GF_PREDICT stops before it), the breach is
        recorded and the fence action taken."""
        if not self.fence or self.inside_fence(self.lat, self.lon):
            return
        self.fence_breaches.append((self.lat, self.lon, self.alt))
        if self.fence_action == "warn":
            return
        after = (self.lat, self.lon, self.alt)
        inside, outside = 0.0, 1.0  # fractions of the step
        for _ in range(24):
            mid = 0.5 * (inside + outside)
            lat, lon = (b + mid * (a - b) for a, b in zip(after[:2], before[:2], strict=True))
            if self.inside_fence(lat, lon):
                inside = mid
            else:
                outside = mid
        self.lat, self.lon, self.alt = (
            b + inside * (a - b) for a, b in zip(after, before, strict=True)
        )
        self.vx = self.vy = self.vz = 0.0
        self._statustext(f"Geofence breached: {self.fence_action}")
        self.failsafes.append("geofence")
        self.set_mode({"hold": "hold", "rtl": "rtl", "land": "land"}[self.fence_action])

    def _autopilot_version(self) -> None:
        caps = (
            mavlink.MAV_PROTOCOL_CAPABILITY_MISSION_INT
            | mavlink.MAV_PROTOCOL_CAPABILITY_COMMAND_INT
            | mavlink.MAV_PROTOCOL_CAPABILITY_MAVLINK2
            | mavlink.MAV_PROTOCOL_CAPABILITY_SET_POSITION_TARGET_LOCAL_NED
        )
        self.mav.send(
            self.mav.autopilot_version_encode(
                caps, 0x010E0000, 0, 0, 0, [0] * 8, [0] * 8, [0] * 8, 0, 0, 1, [0] * 18
            )
        )

    # -- flying --------------------------------------------------------------------------------
    def _ned_to(self, lat: float, lon: float) -> tuple[float, float]:
        n = math.radians(lat - self.lat) * EARTH_R
        e = math.radians(lon - self.lon) * EARTH_R * math.cos(math.radians(self.lat))
        return n, e

    def _move_towards(self, lat: float, lon: float, alt: float, dt: float) -> bool:
        n, e = self._ned_to(lat, lon)
        d = alt - self.alt
        horiz = math.hypot(n, e)
        step = self.speed_m_s * dt
        if horiz > 1e-9:
            f = min(1.0, step / horiz)
            self.lat += math.degrees(n * f / EARTH_R)
            self.lon += math.degrees(e * f / (EARTH_R * math.cos(math.radians(self.lat))))
            self.vx, self.vy = n / horiz * self.speed_m_s, e / horiz * self.speed_m_s
        else:
            self.vx = self.vy = 0.0
        dz = max(-self.climb_m_s * dt, min(self.climb_m_s * dt, d))
        self.alt += dz
        self.vz = -dz / dt if dt > 0 else 0.0
        n2, e2 = self._ned_to(lat, lon)
        return math.hypot(n2, e2) <= self.acceptance_m and abs(alt - self.alt) <= self.acceptance_m

    def _item_target(self, it: Any) -> tuple[float, float, float]:
        lat, lon = it.x / 1e7, it.y / 1e7
        if it.command == mavlink.MAV_CMD_NAV_TAKEOFF and lat == 0 and lon == 0:
            lat, lon = self.lat, self.lon
        if it.frame in (
            mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT,
            mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        ):
            alt = self.home[2] + it.z
        else:
            alt = it.z
        return lat, lon, alt

    def _step(self, dt: float) -> None:
        now = time.monotonic()
        if (
            self.armed
            and self.mode not in ("rtl", "land")
            and self._last_gcs_hb
            and now - self._last_gcs_hb > self.dll_timeout_s
        ):
            self.set_mode("rtl")  # data link loss failsafe
        if not self.armed or dt <= 0:
            self.vx = self.vy = self.vz = 0.0
            return
        self.battery = max(0.0, self.battery - 0.0005 * dt)
        self._failsafes(now)
        before = (self.lat, self.lon, self.alt)
        if self.mode in ("mission", "offboard", "posctl"):
            self._fenced_step(dt, now)
            self._enforce_fence(before)
        elif self.mode == "rtl":
            self._rtl_step(dt)
        elif self.mode == "land":
            if self._move_towards(self.lat, self.lon, self.home[2], dt):
                self._landed()
        else:
            self.vx = self.vy = self.vz = 0.0

    def _failsafes(self, now: float) -> None:
        if self.mode in ("rtl", "land"):
            return
        if self.low_battery > 0 and self.battery < self.low_battery:
            self.failsafes.append("low-battery")
            self.set_mode("rtl")
        elif self.gps_fix < mavlink.GPS_FIX_TYPE_3D_FIX and not self._has_position():
            self.failsafes.append("vision-lost")  # no position: land where it is
            self._statustext("No position estimate: landing")
            self.set_mode("land")

    def _fenced_step(self, dt: float, now: float) -> None:
        if self.mode == "mission":
            self._mission_step(dt, now)
        elif self.mode == "offboard" and self.setpoint_ned is not None:
            n, e, d = self.setpoint_ned
            lat = self.home[0] + math.degrees(n / EARTH_R)
            lon = self.home[1] + math.degrees(e / (EARTH_R * math.cos(math.radians(self.home[0]))))
            self._move_towards(lat, lon, self.home[2] - d, dt)
        else:
            self.vx = self.vy = self.vz = 0.0

    def _mission_step(self, dt: float, now: float) -> None:
        while self.current < len(self.mission):
            it = self.mission[self.current]
            if it.command in POSITION_COMMANDS:
                if now < self._hold_until:
                    return
                if self._move_towards(*self._item_target(it), dt):
                    self.reached.append(self.current)
                    self.mav.send(self.mav.mission_item_reached_encode(self.current))
                    self.current += 1
                return
            if it.command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
                self.reached.append(self.current)
                self.mav.send(self.mav.mission_item_reached_encode(self.current))
                self.set_mode("rtl")
                return
            if it.command == mavlink.MAV_CMD_NAV_LAND:
                self.reached.append(self.current)
                self.mav.send(self.mav.mission_item_reached_encode(self.current))
                self.set_mode("land")
                return
            if it.command == mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST:
                self.camera_triggers.append((self.current, float(it.param1)))
            self.current += 1  # other DO_ items take effect at once
        self.set_mode("hold")  # mission done: hold like PX4

    def _rtl_step(self, dt: float) -> None:
        rtl_alt = self.home[2] + self.rtl_climb_m
        lat, lon, ground = self._rtl_target
        if self._rtl_phase == "climb":
            if self._move_towards(self.lat, self.lon, max(self.alt, rtl_alt), dt):
                self._rtl_phase = "return"
        elif self._rtl_phase == "return":
            if self._move_towards(lat, lon, self.alt, dt):
                self._rtl_phase = "land"
        elif self._move_towards(lat, lon, ground, dt):
            self._landed()

    def _landed(self) -> None:
        self.armed = False
        self.landed = True
        self.vx = self.vy = self.vz = 0.0

    # -- telemetry ------------------------------------------------------------------------------
    def _send_fast(self) -> None:
        t_ms = int((time.monotonic() - self._t0) * 1000)
        rel = self.alt - self.home[2]
        lat7, lon7 = round(self.lat * 1e7), round(self.lon * 1e7)
        m = self.mav
        m.send(
            m.global_position_int_encode(
                t_ms,
                lat7,
                lon7,
                int(self.alt * 1000),
                int(rel * 1000),
                int(self.vx * 100),
                int(self.vy * 100),
                int(self.vz * 100),
                0,
            )
        )
        n, e = (
            math.radians(self.lat - self.home[0]) * EARTH_R,
            math.radians(self.lon - self.home[1]) * EARTH_R * math.cos(math.radians(self.home[0])),
        )
        m.send(m.local_position_ned_encode(t_ms, n, e, -rel, self.vx, self.vy, self.vz))
        m.send(m.attitude_encode(t_ms, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0))
        m.send(
            m.gps_raw_int_encode(
                t_ms * 1000,
                self.gps_fix,
                lat7,
                lon7,
                int(self.alt * 1000),
                80,
                120,
                0,
                0,
                14,
            )
        )
        if self.mission:
            state = (
                mavlink.MISSION_STATE_ACTIVE
                if self.mode == "mission"
                else (
                    mavlink.MISSION_STATE_PAUSED
                    if self.current < len(self.mission)
                    else mavlink.MISSION_STATE_COMPLETE
                )
            )
            total = len(self.mission)
            m.send(m.mission_current_encode(min(self.current, total), total, state, 0))

    def _send_slow(self) -> None:
        m = self.mav
        main, sub = MODES[self.mode]
        base = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
        if self.armed:
            base |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        m.send(
            m.heartbeat_encode(
                mavlink.MAV_TYPE_QUADROTOR,
                mavlink.MAV_AUTOPILOT_PX4,
                base,
                (main << 16) | (sub << 24),
                mavlink.MAV_STATE_ACTIVE if self.armed else mavlink.MAV_STATE_STANDBY,
                3,
            )
        )
        health = (
            ALL_SENSORS if self.gps_fix >= 3 else ALL_SENSORS & ~mavlink.MAV_SYS_STATUS_SENSOR_GPS
        )
        m.send(
            m.sys_status_encode(
                ALL_SENSORS,
                ALL_SENSORS,
                health,
                100,
                16000,
                500,
                int(self.battery * 100),
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            )
        )
        cells = [4000] * 4 + [65535] * 6
        m.send(
            m.battery_status_encode(
                0,
                mavlink.MAV_BATTERY_FUNCTION_ALL,
                mavlink.MAV_BATTERY_TYPE_LIPO,
                2500,
                cells,
                500,
                100,
                100,
                int(self.battery * 100),
                1200,
                mavlink.MAV_BATTERY_CHARGE_STATE_OK,
                [0, 0, 0, 0],
                0,
                0,
            )
        )
        m.send(
            m.home_position_encode(
                round(self.home[0] * 1e7),
                round(self.home[1] * 1e7),
                int(self.home[2] * 1000),
                0.0,
                0.0,
                0.0,
                [1.0, 0.0, 0.0, 0.0],
                0.0,
                0.0,
                0.0,
                0,
            )
        )
        landed = (
            mavlink.MAV_LANDED_STATE_IN_AIR if self.armed else mavlink.MAV_LANDED_STATE_ON_GROUND
        )
        m.send(m.extended_sys_state_encode(mavlink.MAV_VTOL_STATE_UNDEFINED, landed))


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing holds now (for one vehicle's link)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Any, timeout_s: float = 3.0) -> bool:
    """Poll ``cond()`` every 50 ms until it is true (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False
