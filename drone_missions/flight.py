"""Flying a plan through MAVSDK (the native ``mavsdk`` 4.x API): upload, verify, fly, watch.

``smartmine fly mission.plan --connect udpin://127.0.0.1:14540`` uploads the plan's items
(MISSION_ITEM_INT, camera items kept), its geofence (inclusion/exclusion polygons and
circles, mission type FENCE) and rally points (mission type RALLY) through MAVSDK's
mission_raw, downloads all three again and compares them item by item (nothing is armed
unless the vehicle holds exactly what was sent), runs the pre-flight checks (health, GPS
fix or local position, home, battery), arms, starts and prints progress. Ctrl-C returns
to launch; so does a link silent for longer than ``--link-loss-s`` (the command is sent
for as long as the link may come back, and PX4's own data-link-loss failsafe does the
same on the vehicle). Typing ``p`` + Enter pauses (hold), ``r`` resumes.

MAVSDK 4.x runs inside this process (libcmavsdk through ctypes): there is no
mavsdk_server and no gRPC port; the only socket is the one ``--connect`` names.

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
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt
from pymavlink.dialects.v20 import common as mavlink

from drone_missions.errors import MissionError
from drone_missions.plan import (
    FRAME_GLOBAL,
    FRAME_GLOBAL_RELATIVE_ALT,
    FRAME_LOCAL_ENU,
    FRAME_LOCAL_NED,
    FRAME_MISSION,
    FenceCircle,
    FencePolygon,
    MissionItem,
    Plan,
    check_latlon,
    validate_plan,
)
from smartmine.frames import enu_to_ned, quat_enu_flu_to_ned_frd
from smartmine.geometry import matrix_to_euler, quat_to_matrix

_GLOBAL_FRAMES = {0, 3, 5, 6, 10, 11}
EXIT_LINK_LOST = 3
EXIT_POSITION_LOST = 4
EXIT_INTERRUPTED = 130
DEFAULT_CONNECT = "udpin://127.0.0.1:14540"
"""Loopback: where PX4 SITL (and tests/sim_vehicle.py) send; a real vehicle needs its
link named (``udpin://0.0.0.0:14550`` for a radio bridge, ``serial:///dev/ttyACM0:57600``)."""

MISSION_TYPE_MISSION: Final[int] = mavlink.MAV_MISSION_TYPE_MISSION
MISSION_TYPE_FENCE: Final[int] = mavlink.MAV_MISSION_TYPE_FENCE
MISSION_TYPE_RALLY: Final[int] = mavlink.MAV_MISSION_TYPE_RALLY
CMD_FENCE_VERTEX_INCLUSION: Final[int] = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
CMD_FENCE_VERTEX_EXCLUSION: Final[int] = mavlink.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
CMD_FENCE_CIRCLE_INCLUSION: Final[int] = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
CMD_FENCE_CIRCLE_EXCLUSION: Final[int] = mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
CMD_RALLY_POINT: Final[int] = mavlink.MAV_CMD_NAV_RALLY_POINT


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
    mission_type: int = MISSION_TYPE_MISSION


def _f(value: float | None) -> float:
    return math.nan if value is None else float(value)


def raw_items(plan: Plan) -> list[RawItem]:
    """The plan's items as MAVLink MISSION_ITEM_INT (what the vehicle must hold).

    The plan is validated first (:func:`drone_missions.plan.validate_plan`): MISSION_ITEM_INT
    has no NaN, and a missing latitude would go up as 0 (the vehicle heads for the equator).
    """
    validate_plan(plan)
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


def _deg_e7(lat_deg: float, lon_deg: float, where: str) -> tuple[int, int]:
    lat_deg, lon_deg = check_latlon(lat_deg, lon_deg, where)
    return round(lat_deg * 1e7), round(lon_deg * 1e7)


def fence_items(
    polygons: Sequence[FencePolygon], circles: Sequence[FenceCircle], source: str = "plan"
) -> list[RawItem]:
    """The geofence as MAVLink mission items of type FENCE, as QGroundControl sends them:
    one FENCE_POLYGON_VERTEX_* per vertex (param1 = the polygon's vertex count), one
    FENCE_CIRCLE_* per circle (param1 = radius, m); frame GLOBAL."""
    out: list[RawItem] = []

    def add(command: int, param1: float, lat: float, lon: float, where: str) -> None:
        x, y = _deg_e7(lat, lon, where)
        out.append(
            RawItem(
                len(out), FRAME_GLOBAL, command, 0, 1, param1, 0.0, 0.0, 0.0, x, y, 0.0,
                MISSION_TYPE_FENCE,
            )
        )  # fmt: skip

    for k, poly in enumerate(polygons):
        where = f"{source}: fence polygon {k}"
        if len(poly.vertices) < 3:
            raise FlightError(f"{where}: {len(poly.vertices)} vertices (3 needed)")
        cmd = CMD_FENCE_VERTEX_INCLUSION if poly.inclusion else CMD_FENCE_VERTEX_EXCLUSION
        for lat, lon in poly.vertices:
            add(cmd, float(len(poly.vertices)), lat, lon, where)
    for k, circle in enumerate(circles):
        where = f"{source}: fence circle {k}"
        if not (math.isfinite(circle.radius_m) and circle.radius_m > 0):
            raise FlightError(f"{where}: radius {circle.radius_m} m (must be > 0)")
        cmd = CMD_FENCE_CIRCLE_INCLUSION if circle.inclusion else CMD_FENCE_CIRCLE_EXCLUSION
        add(cmd, float(circle.radius_m), *circle.center, where)
    return out


def rally_items(
    points: Sequence[tuple[float, float, float]], source: str = "plan"
) -> list[RawItem]:
    """Rally points as MAVLink items of type RALLY (NAV_RALLY_POINT, altitude relative to
    home as QGroundControl keeps them)."""
    out: list[RawItem] = []
    for k, (lat, lon, alt) in enumerate(points):
        where = f"{source}: rally point {k}"
        x, y = _deg_e7(lat, lon, where)
        if not math.isfinite(alt):
            raise FlightError(f"{where}: altitude {alt} is not a number")
        out.append(
            RawItem(
                k, FRAME_GLOBAL_RELATIVE_ALT, CMD_RALLY_POINT, 0, 1, 0.0, 0.0, 0.0, 0.0, x, y,
                float(alt), MISSION_TYPE_RALLY,
            )
        )  # fmt: skip
    return out


Fence: TypeAlias = FencePolygon | FenceCircle


def fences_for_vehicle(plan: Plan, extra: Sequence[Fence], extra_source: str = "--fence") -> Plan:
    """The plan with the extra fences (``--fence FILE``) that go up with it.

    Exclusions are simply added. Inclusions cannot be: PX4 lets the vehicle fly inside
    ANY inclusion area, so adding one widens the fence. When both the plan and the extra
    fences have inclusion areas, the narrower set goes up if it lies inside the other
    (then it is the intersection); if they only overlap, the flight is refused."""
    from dataclasses import replace

    if not extra:
        return plan
    own: list[Fence] = [*plan.fence_polygons, *plan.fence_circles]
    own_in = [f for f in own if f.inclusion]
    given_in = [f for f in extra if f.inclusion]
    if own_in and given_in:
        if _all_inside(own_in, given_in):
            given_in = []
        elif _all_inside(given_in, own_in):
            own_in = []
        else:
            raise FlightError(
                f"{plan.source}: its inclusion fence reaches outside {extra_source}'s (and "
                "the other way round); PX4 flies within either inclusion area, so the two "
                "cannot go up together: give one inclusion fence inside the other"
            )
    kept: list[Fence] = [*own_in, *given_in, *(f for f in [*own, *extra] if not f.inclusion)]
    return replace(
        plan,
        fence_polygons=tuple(f for f in kept if isinstance(f, FencePolygon)),
        fence_circles=tuple(f for f in kept if isinstance(f, FenceCircle)),
    )


def _all_inside(areas: Sequence[Fence], within: Sequence[Fence]) -> bool:
    """Whether every boundary point of ``areas`` (1 m apart) lies inside ``within``."""
    from drone_missions.check import inside_polygon
    from smartmine.geodesy import LocalEnu

    first = areas[0]
    origin = first.center if isinstance(first, FenceCircle) else first.vertices[0]
    enu = LocalEnu(origin[0], origin[1], 0.0)
    xy = np.concatenate([_boundary_xy(enu, a) for a in areas])
    inside = np.zeros(len(xy), dtype=bool)
    for w in within:
        if isinstance(w, FenceCircle):
            cx, cy = _local_xy(enu, [w.center])[0]
            inside |= np.hypot(xy[:, 0] - cx, xy[:, 1] - cy) <= w.radius_m
        else:
            inside |= inside_polygon(xy[:, 0], xy[:, 1], _local_xy(enu, w.vertices))
    return bool(inside.all())


def _local_xy(enu: Any, latlon: Sequence[tuple[float, float]]) -> npt.NDArray[np.float64]:
    lat = np.array([p[0] for p in latlon], dtype=np.float64)
    lon = np.array([p[1] for p in latlon], dtype=np.float64)
    x, y, _ = enu.from_wgs84(lat, lon, np.zeros_like(lat))
    return np.stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)], axis=1)


def _boundary_xy(enu: Any, area: Fence) -> npt.NDArray[np.float64]:
    if isinstance(area, FenceCircle):
        c = _local_xy(enu, [area.center])[0]
        a = np.linspace(0.0, 2 * math.pi, max(16, int(2 * math.pi * area.radius_m)))
        circle: npt.NDArray[np.float64] = c + area.radius_m * np.stack([np.cos(a), np.sin(a)], 1)
        return circle
    ring = _local_xy(enu, area.vertices)
    out = []
    for p, q in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        n = max(1, int(np.ceil(np.linalg.norm(q - p))))
        out.append(p + (q - p) * (np.arange(n)[:, None] / n))
    return np.asarray(np.concatenate(out), dtype=np.float64)


_URL_SCHEMES = ("udpin", "udpout", "udp", "tcpin", "tcpout", "tcp", "serial")


def check_connect_url(url: str) -> str:
    """A MAVSDK connection URL checked before anything connects (MAVSDK itself would
    only log an error): ``udpin://IP:PORT`` (listen; IP to bind, 127.0.0.1 for a
    simulator), ``udpout://HOST:PORT``, ``tcpin/tcpout://HOST:PORT``,
    ``serial:///dev/ttyX[:BAUD]``."""
    import ipaddress

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in _URL_SCHEMES:
        raise FlightError(
            f"--connect {url!r}: expected {', '.join(s + '://' for s in _URL_SCHEMES)}"
        )
    if scheme == "serial":
        device, _, baud = rest.partition(":")
        if not device.startswith("/") or (baud and not (baud.isdigit() and int(baud) > 0)):
            raise FlightError(f"--connect {url!r}: expected serial:///dev/ttyX[:BAUD]")
        return url
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise FlightError(f"--connect {url!r}: expected {scheme}://HOST:PORT (port 1-65535)")
    if scheme.endswith("in"):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise FlightError(
                f"--connect {url!r}: {scheme} listens on an IP address of this machine "
                "(127.0.0.1, 0.0.0.0 for every interface)"
            ) from None
    return url


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))  # float32 on the wire


_COMPARED = {
    # what the autopilot keeps of each kind (PX4 stores fence and rally points as
    # lat/lon/alt with the vertex count or radius; unused params do not come back)
    MISSION_TYPE_MISSION: (
        ("frame", "command", "autocontinue", "x", "y"),
        ("param1", "param2", "param3", "param4", "z"),
    ),
    MISSION_TYPE_FENCE: (("frame", "command", "x", "y"), ("param1",)),
    MISSION_TYPE_RALLY: (("frame", "command", "x", "y"), ("z",)),
}


def compare_items(sent: Sequence[RawItem], back: Sequence[Any], what: str = "item") -> list[str]:
    """Differences between what was sent and what the vehicle holds (empty if none)."""
    if len(sent) != len(back):
        return [f"the vehicle holds {len(back)} {what}s, {len(sent)} were sent"]
    diffs = []
    for s, b in zip(sent, back, strict=True):
        ints, floats = _COMPARED[s.mission_type]
        for name in ints:
            if int(getattr(s, name)) != int(getattr(b, name)):
                diffs.append(f"{what} {s.seq}: {name} {getattr(b, name)} != {getattr(s, name)}")
        for name in floats:
            if not _same_float(float(getattr(s, name)), float(getattr(b, name))):
                diffs.append(f"{what} {s.seq}: {name} {getattr(b, name)} != {getattr(s, name)}")
    return diffs


@dataclass
class FlightConfig:
    connect: str = DEFAULT_CONNECT
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
        self.fence = fence_items(plan.fence_polygons, plan.fence_circles, plan.source or "plan")
        self.rally = rally_items(plan.rally_points, plan.source or "plan")
        self._mavsdk: Any = None
        self._direct: Any = None
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
        """Mission, geofence and rally points up, read back, compared; FlightError (and no
        arming) if any transfer fails or the vehicle holds anything else."""
        self._transfer(MISSION_TYPE_FENCE, self.fence)
        self._transfer(MISSION_TYPE_RALLY, self.rally)
        self._transfer(MISSION_TYPE_MISSION, self.items)  # last: MAVSDK's progress total
        # is the count of the latest transfer, whatever its type
        self.log(
            f"uploaded {len(self.items)} items, {len(self.fence)} fence items, "
            f"{len(self.rally)} rally points; read back and identical"
        )

    def _transfer(self, mission_type: int, items: Sequence[RawItem]) -> None:
        from mavsdk.plugins.mission_raw import MissionItem as MavItem
        from mavsdk.plugins.mission_raw import MissionRawError

        mav_items = [
            MavItem(
                it.seq, it.frame, it.command, it.current, it.autocontinue, it.param1,
                it.param2, it.param3, it.param4, it.x, it.y, it.z, it.mission_type,
            )
            for it in items
        ]  # fmt: skip
        what, label, upload, download = {
            MISSION_TYPE_MISSION: (
                "mission", "item", self.mission.upload_mission, self.mission.download_mission
            ),
            MISSION_TYPE_FENCE: (
                "geofence", "fence item", self.mission.upload_geofence,
                self.mission.download_geofence,
            ),
            MISSION_TYPE_RALLY: (
                "rally points", "rally point", self.mission.upload_rally_points,
                self.mission.download_rallypoints,
            ),
        }[mission_type]  # fmt: skip
        try:
            if mav_items:
                upload(mav_items)
            else:  # nothing to send: clear what an earlier flight left (MAVSDK cannot
                self._clear(mission_type)  # upload an empty list); read back below
        except MissionRawError as err:
            raise FlightError(f"{what} upload failed ({err}); not arming") from None
        try:
            back = download()
        except MissionRawError as err:
            raise FlightError(f"{what} read-back failed ({err}); not arming") from None
        diffs = compare_items(items, back, label)
        if diffs:
            raise FlightError(
                f"the vehicle's {what} differs from the plan ({'; '.join(diffs[:5])}); not arming"
            )

    def _clear(self, mission_type: int) -> None:
        """MISSION_CLEAR_ALL for one mission type (MAVSDK has no call for rally points)."""
        import json

        from mavsdk.plugins.mavlink_direct import MavlinkDirect, MavlinkMessage

        if self._direct is None:
            self._direct = MavlinkDirect(self.system)
        target = int(self.system.get_system_id())
        fields = {"target_system": target, "target_component": 1, "mission_type": mission_type}
        self._direct.send_message(
            MavlinkMessage("MISSION_CLEAR_ALL", 0, 0, target, 1, json.dumps(fields))
        )

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
            total=len(self.items) if self.items else int(p.total),
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
        """Until the mission ends and the vehicle lands: ``done`` (``landed-early`` when a
        failsafe, e.g. the geofence's, brought it down first); ``link-lost`` (RTL sent)
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
            if was_armed and not prog.armed:  # landed: the mission's end or a failsafe
                return "done" if prog.current >= prog.total > 0 else "landed-early"
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
        abort: Callable[[], str | None] | None = None,
    ) -> int:
        """Fly the waypoints in order (offboard mode must be startable: a setpoint is sent
        first, as PX4 requires); returns how many were reached. ``abort`` is asked at
        every setpoint: a reason (vision lost, the vehicle left offboard) stops here."""
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
                reason = abort() if abort is not None else None
                if reason:
                    self.log(f"stopped before waypoint {k}: {reason}")
                    return reached
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
    "check_connect_url",
    "compare_items",
    "fence_items",
    "fences_for_vehicle",
    "rally_items",
    "raw_items",
    "vision_ned_frd",
]
