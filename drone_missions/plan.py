"""The mission plan model: one representation for every planner, checker, exporter and flyer.

A :class:`Plan` holds what QGroundControl's ``.plan`` holds: the planned home, the mission
(simple items and complex items -- Survey, StructureScan, CorridorScan -- with the items
they generate), the geofence (inclusion/exclusion polygons and circles) and the rally
points. It reads and writes QGroundControl ``.plan`` files (fileType Plan, version 1,
mission version 2) and ``QGC WPL 110`` waypoint files, and gives the flat item list a
vehicle receives (:meth:`Plan.mission_items`).

Command and frame numbers come from pymavlink's generated MAVLink enums (``MAV_CMD``,
``MAV_FRAME``), never from literals. This module is the one the simulator may import from
``drone_missions``: it keeps to the standard library, pymavlink's enums and the core.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

from pymavlink.dialects.v20 import common as mavlink

from drone_missions.errors import MissionError
from drone_missions.errors import PlanError as PlanError  # re-exported: the plan model's error
from drone_missions.tangent_plane import LatLon, Projection, TangentPlane, line_intersection
from smartmine.atomic import write_text_atomic

Param = float | None
"""A MAVLink item parameter; ``None`` is QGC's ``null`` (NaN on the wire: "unchanged")."""
AltitudeRef = Literal["relative", "amsl", "terrain", "none"]

# -- MAVLink numbers, from the generated enums --------------------------------------------
CMD_WAYPOINT: Final[int] = mavlink.MAV_CMD_NAV_WAYPOINT
CMD_LOITER_UNLIM: Final[int] = mavlink.MAV_CMD_NAV_LOITER_UNLIM
CMD_LOITER_TURNS: Final[int] = mavlink.MAV_CMD_NAV_LOITER_TURNS
CMD_LOITER_TIME: Final[int] = mavlink.MAV_CMD_NAV_LOITER_TIME
CMD_RTL: Final[int] = mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH
CMD_LAND: Final[int] = mavlink.MAV_CMD_NAV_LAND
CMD_TAKEOFF: Final[int] = mavlink.MAV_CMD_NAV_TAKEOFF
CMD_LOITER_TO_ALT: Final[int] = mavlink.MAV_CMD_NAV_LOITER_TO_ALT
CMD_CHANGE_SPEED: Final[int] = mavlink.MAV_CMD_DO_CHANGE_SPEED
CMD_SET_ROI: Final[int] = mavlink.MAV_CMD_DO_SET_ROI
CMD_SET_ROI_NONE: Final[int] = mavlink.MAV_CMD_DO_SET_ROI_NONE
CMD_SET_ROI_WPNEXT_OFFSET: Final[int] = mavlink.MAV_CMD_DO_SET_ROI_WPNEXT_OFFSET
CMD_MOUNT_CONTROL: Final[int] = mavlink.MAV_CMD_DO_MOUNT_CONTROL
CMD_GIMBAL_PITCHYAW: Final[int] = mavlink.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW
CMD_CAM_TRIGG_DIST: Final[int] = mavlink.MAV_CMD_DO_SET_CAM_TRIGG_DIST
CMD_DIGICAM_CONTROL: Final[int] = mavlink.MAV_CMD_DO_DIGICAM_CONTROL
CMD_IMAGE_START_CAPTURE: Final[int] = mavlink.MAV_CMD_IMAGE_START_CAPTURE
CMD_IMAGE_STOP_CAPTURE: Final[int] = mavlink.MAV_CMD_IMAGE_STOP_CAPTURE
CMD_SET_CAMERA_MODE: Final[int] = mavlink.MAV_CMD_SET_CAMERA_MODE
CMD_CONDITION_GATE: Final[int] = mavlink.MAV_CMD_CONDITION_GATE

FRAME_GLOBAL: Final[int] = mavlink.MAV_FRAME_GLOBAL
FRAME_MISSION: Final[int] = mavlink.MAV_FRAME_MISSION
FRAME_GLOBAL_RELATIVE_ALT: Final[int] = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT
FRAME_GLOBAL_INT: Final[int] = mavlink.MAV_FRAME_GLOBAL_INT
FRAME_GLOBAL_RELATIVE_ALT_INT: Final[int] = mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT
FRAME_GLOBAL_TERRAIN_ALT: Final[int] = mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT
FRAME_GLOBAL_TERRAIN_ALT_INT: Final[int] = mavlink.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT
FRAME_LOCAL_NED: Final[int] = mavlink.MAV_FRAME_LOCAL_NED
FRAME_LOCAL_ENU: Final[int] = mavlink.MAV_FRAME_LOCAL_ENU

NAV_POSITION_COMMANDS: Final[frozenset[int]] = frozenset(
    {
        CMD_WAYPOINT,
        CMD_LOITER_UNLIM,
        CMD_LOITER_TURNS,
        CMD_LOITER_TIME,
        CMD_TAKEOFF,
        CMD_LOITER_TO_ALT,
        CMD_LAND,
    }
)
"""Commands whose x/y/z is where the vehicle goes (LAND: where it lands, 0/0 = here)."""
RETURN_COMMANDS: Final[frozenset[int]] = frozenset({CMD_RTL, CMD_LAND})
CAMERA_COMMANDS: Final[frozenset[int]] = frozenset(
    {CMD_CAM_TRIGG_DIST, CMD_DIGICAM_CONTROL, CMD_IMAGE_START_CAPTURE, CMD_IMAGE_STOP_CAPTURE}
)
_RELATIVE_FRAMES: Final = {FRAME_GLOBAL_RELATIVE_ALT, FRAME_GLOBAL_RELATIVE_ALT_INT}
_AMSL_FRAMES: Final = {FRAME_GLOBAL, FRAME_GLOBAL_INT}
_TERRAIN_FRAMES: Final = {FRAME_GLOBAL_TERRAIN_ALT, FRAME_GLOBAL_TERRAIN_ALT_INT}
_LOCAL_FRAMES: Final = {FRAME_LOCAL_NED, FRAME_LOCAL_ENU}

# QGC's AltitudeMode (QGroundControlQmlGlobal::AltMode)
QGC_ALT_MIXED, QGC_ALT_RELATIVE, QGC_ALT_AMSL, QGC_ALT_CALC_ABOVE_TERRAIN, QGC_ALT_TERRAIN_FRAME = (
    0,
    1,
    2,
    3,
    4,
)
COMPLEX_KINDS: Final = ("survey", "StructureScan", "CorridorScan")


def command_name(command: int) -> str:
    """``MAV_CMD_NAV_WAYPOINT`` for 16; the number for one pymavlink does not know."""
    entry = mavlink.enums["MAV_CMD"].get(command)
    return (
        str(entry.name)
        if entry is not None and not entry.name.endswith("ENUM_END")
        else (f"MAV_CMD {command}")
    )


def frame_name(frame: int) -> str:
    entry = mavlink.enums["MAV_FRAME"].get(frame)
    return str(entry.name) if entry is not None else f"MAV_FRAME {frame}"


@dataclass(frozen=True)
class MissionItem:
    """One MAVLink mission item: command, frame, params 1-4, x (lat), y (lon), z (alt).

    ``qgc_altitude_mode`` / ``qgc_altitude`` keep QGC's AltitudeMode and Altitude fields:
    mode 3 ("calculated above terrain") stores the wanted height above ground in
    ``Altitude`` and the AMSL height (once the terrain is known) in ``params[6]``.
    """

    command: int
    frame: int
    params: tuple[Param, Param, Param, Param, Param, Param, Param]
    autocontinue: bool = True
    qgc_altitude_mode: int | None = None
    qgc_altitude: float | None = None
    qgc_amsl_alt_above_terrain: float | None = None

    @property
    def name(self) -> str:
        return command_name(self.command)

    @property
    def has_position(self) -> bool:
        """Whether x/y/z is a place the vehicle flies to (LAND at 0/0 means "here")."""
        if self.command not in NAV_POSITION_COMMANDS or self.frame in _LOCAL_FRAMES:
            return False
        lat, lon = self.params[4], self.params[5]
        if lat is None or lon is None or (lat == 0 and lon == 0):
            return False
        return math.isfinite(lat) and math.isfinite(lon)

    @property
    def lat_deg(self) -> float:
        return _num(self.params[4])

    @property
    def lon_deg(self) -> float:
        return _num(self.params[5])

    @property
    def altitude_ref(self) -> AltitudeRef:
        """What the altitude is measured from: home (relative), sea level, or the ground."""
        if self.qgc_altitude_mode in (QGC_ALT_CALC_ABOVE_TERRAIN, QGC_ALT_TERRAIN_FRAME):
            return "terrain"
        if self.frame in _RELATIVE_FRAMES:
            return "relative"
        if self.frame in _AMSL_FRAMES:
            return "amsl"
        if self.frame in _TERRAIN_FRAMES:
            return "terrain"
        return "none"

    @property
    def altitude_m(self) -> float:
        """The altitude in its reference (``altitude_ref``); QGC's Altitude for mode 3."""
        if self.qgc_altitude_mode == QGC_ALT_CALC_ABOVE_TERRAIN and self.qgc_altitude is not None:
            return float(self.qgc_altitude)
        return _num(self.params[6])

    def with_position(self, lat_deg: float, lon_deg: float, alt_m: float) -> MissionItem:
        p = self.params
        return replace(self, params=(p[0], p[1], p[2], p[3], lat_deg, lon_deg, alt_m))


def _num(value: Param) -> float:
    return math.nan if value is None else float(value)


def waypoint(
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    *,
    frame: int = FRAME_GLOBAL_RELATIVE_ALT,
    command: int = CMD_WAYPOINT,
    hold_s: float = 0.0,
    yaw_deg: Param = None,
) -> MissionItem:
    """A pass-through waypoint (QGC's defaults: no hold, no acceptance radius, yaw kept)."""
    return MissionItem(command, frame, (hold_s, 0.0, 0.0, yaw_deg, lat_deg, lon_deg, alt_m))


def command(cmd: int, *params: Param) -> MissionItem:
    """A non-positional command (frame MISSION), params padded with zeros to seven."""
    full = (*params, *([0.0] * (7 - len(params))))
    return MissionItem(cmd, FRAME_MISSION, full[:7])  # type: ignore[arg-type]


def camera_trigger_distance(distance_m: float, trigger_now: bool = True) -> MissionItem:
    """DO_SET_CAM_TRIGG_DIST as QGC writes it (0 m stops triggering)."""
    return command(CMD_CAM_TRIGG_DIST, distance_m, 0.0, 1.0 if trigger_now else 0.0, 0, 0, 0, 0)


@dataclass(frozen=True)
class ComplexItem:
    """A QGC complex item (``survey``, ``StructureScan``, ``CorridorScan``) and its items.

    ``items`` are the mission items it expands to (stored by QGC in the file for Survey
    and CorridorScan, generated by us for StructureScan); ``definition`` is the rest of
    the JSON object (polygon, CameraCalc, angle...) kept so a re-export is faithful.
    """

    kind: str
    items: tuple[MissionItem, ...]
    definition: dict[str, Any] = field(compare=False, hash=False, repr=False)


MissionEntry = MissionItem | ComplexItem


@dataclass(frozen=True)
class FencePolygon:
    vertices: tuple[tuple[float, float], ...]  # (lat, lon)
    inclusion: bool = True


@dataclass(frozen=True)
class FenceCircle:
    center: tuple[float, float]  # (lat, lon)
    radius_m: float
    inclusion: bool = True


@dataclass(frozen=True)
class Plan:
    """A mission plan as QGroundControl keeps it, plus where it came from."""

    entries: tuple[MissionEntry, ...]
    home: tuple[float, float, float] | None = None
    """Planned home (lat, lon, AMSL altitude m)."""
    fence_polygons: tuple[FencePolygon, ...] = ()
    fence_circles: tuple[FenceCircle, ...] = ()
    rally_points: tuple[tuple[float, float, float], ...] = ()
    cruise_speed_m_s: float = 15.0
    hover_speed_m_s: float = 5.0
    firmware_type: int = mavlink.MAV_AUTOPILOT_PX4
    vehicle_type: int = mavlink.MAV_TYPE_QUADROTOR
    global_altitude_mode: int | None = None
    source: str = ""
    file_format: str = "qgc-plan"

    def mission_items(self) -> list[MissionItem]:
        """The flat item list a vehicle receives (complex items expanded), in order."""
        out: list[MissionItem] = []
        for entry in self.entries:
            if isinstance(entry, ComplexItem):
                out.extend(entry.items)
            else:
                out.append(entry)
        return out

    def positions(self) -> list[tuple[int, MissionItem]]:
        """(index in :meth:`mission_items`, item) of every item with a position."""
        return [(i, it) for i, it in enumerate(self.mission_items()) if it.has_position]

    def complex_items(self, kind: str | None = None) -> list[ComplexItem]:
        return [e for e in self.entries if isinstance(e, ComplexItem) and kind in (None, e.kind)]

    def with_entries(self, entries: Iterable[MissionEntry]) -> Plan:
        return replace(self, entries=tuple(entries))


# -- reading ------------------------------------------------------------------------------
def read_plan(path: str | os.PathLike[str]) -> Plan:
    """Read a QGroundControl ``.plan`` (JSON) or a ``QGC WPL 110`` file, by content."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PlanError(f"cannot read plan {file}: no such file") from None
    except OSError as err:
        raise PlanError(f"cannot read plan {file}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise PlanError(f"{file}: not a text mission file") from None
    return parse_plan(text, str(file))


def parse_plan(text: str, source: str = "<text>") -> Plan:
    """A plan from its text, validated (:func:`validate_plan`): every coordinate, altitude
    and parameter finite and in range, or :class:`~drone_missions.errors.MissionError`
    naming the item and field."""
    stripped = text.lstrip()
    parse = (
        _parse_wpl
        if stripped.startswith("QGC WPL")
        else _parse_qgc_json
        if stripped.startswith("{")
        else None
    )
    if parse is not None:
        try:
            plan = parse(stripped, source)
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            ZeroDivisionError,
        ) as err:
            # a shape none of the field checks foresaw: still one line naming the file
            raise PlanError(f"{source}: malformed plan ({type(err).__name__}: {err})") from None
        except RecursionError:
            raise PlanError(f"{source}: malformed plan (nested too deeply)") from None
        return validate_plan(plan)
    raise PlanError(
        f"{source}: unknown plan format (expected a QGroundControl .plan JSON or a "
        "'QGC WPL 110' waypoint file)"
    )


def _param(value: object, where: str) -> Param:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{where}: parameter is {value!r}, expected a number or null")
    return _as_float(value, where)


def _as_float(value: object, where: str) -> float:
    """A JSON number as a float; a string, bool, list or an integer too big is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{where}: {value!r} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise PlanError(f"{where}: {value!r} is out of range") from None


def _as_int(value: object, where: str) -> int:
    number = _as_float(value, where)
    if not math.isfinite(number) or not number.is_integer():
        raise PlanError(f"{where}: {value!r} is not an integer")
    return int(number)


def _opt_float(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.inf
    return None


def _item_from_json(obj: object, where: str) -> MissionItem:
    if not isinstance(obj, dict):
        raise PlanError(f"{where}: expected a JSON object")
    if obj.get("type") != "SimpleItem":
        raise PlanError(f"{where}: type {obj.get('type')!r} is not SimpleItem")
    for key in ("command", "frame", "params"):
        if key not in obj:
            raise PlanError(f"{where}: missing field {key!r}")
    cmd = _as_int(obj["command"], f"{where} command")
    frame = _as_int(obj["frame"], f"{where} frame")
    raw = obj["params"]
    if not isinstance(raw, list) or len(raw) != 7:
        raise PlanError(f"{where}: 'params' must be a list of 7 values")
    params = tuple(_param(v, f"{where} param{i + 1}") for i, v in enumerate(raw))
    mode = obj.get("AltitudeMode")
    return MissionItem(
        command=cmd,
        frame=frame,
        params=params,  # type: ignore[arg-type]
        autocontinue=bool(obj.get("autoContinue", True)),
        qgc_altitude_mode=_as_int(mode, f"{where} AltitudeMode") if mode is not None else None,
        qgc_altitude=_opt_float(obj.get("Altitude")),
        qgc_amsl_alt_above_terrain=_opt_float(obj.get("AMSLAltAboveTerrain")),
    )


def _latlon_list(value: object, where: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list):
        raise PlanError(f"{where}: expected a list of [lat, lon]")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, list) or len(v) < 2:
            raise PlanError(f"{where}[{i}]: expected [lat, lon]")
        out.append((_as_float(v[0], f"{where}[{i}] lat"), _as_float(v[1], f"{where}[{i}] lon")))
    return tuple(out)


def _parse_complex(obj: dict[str, Any], where: str) -> ComplexItem:
    kind = obj.get("complexItemType")
    if kind not in COMPLEX_KINDS:
        raise PlanError(
            f"{where}: complex item type {kind!r} is not supported "
            f"(supported: {', '.join(COMPLEX_KINDS)})"
        )
    definition = {k: v for k, v in obj.items()}
    if kind == "StructureScan":
        items = tuple(structure_scan_items(definition, where))
        return ComplexItem(kind, items, definition)
    tsci = obj.get("TransectStyleComplexItem")
    if not isinstance(tsci, dict) or not isinstance(tsci.get("Items"), list):
        raise PlanError(
            f"{where}: {kind} has no TransectStyleComplexItem.Items (re-save it with "
            "QGroundControl 3.4 or later, which stores the generated items)"
        )
    items = tuple(_item_from_json(it, f"{where} Items[{j}]") for j, it in enumerate(tsci["Items"]))
    return ComplexItem(str(kind), items, definition)


def _json_list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PlanError(f"{where}: expected a list")
    return value


def _parse_qgc_json(text: str, source: str) -> Plan:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanError(f"{source}: invalid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("fileType") != "Plan":
        raise PlanError(f"{source}: not a QGroundControl plan (fileType is not 'Plan')")
    if doc.get("version") != 1:
        raise PlanError(f"{source}: plan file version {doc.get('version')!r} (supported: 1)")
    mission = doc.get("mission")
    if not isinstance(mission, dict) or not isinstance(mission.get("items"), list):
        raise PlanError(f"{source}: plan has no mission.items list")
    if mission.get("version") != 2:
        raise PlanError(f"{source}: mission version {mission.get('version')!r} (supported: 2)")
    entries: list[MissionEntry] = []
    for i, obj in enumerate(mission["items"]):
        where = f"{source}: mission.items[{i}]"
        if isinstance(obj, dict) and obj.get("type") == "ComplexItem":
            entries.append(_parse_complex(obj, where))
        else:
            entries.append(_item_from_json(obj, where))
    home = None
    planned = mission.get("plannedHomePosition")
    if planned is not None and not (isinstance(planned, list) and len(planned) >= 3):
        raise PlanError(f"{source}: mission.plannedHomePosition must be [lat, lon, alt]")
    if planned is not None and not (planned[0] == planned[1] == 0):
        where = f"{source}: mission.plannedHomePosition"
        home = (
            _as_float(planned[0], f"{where} latitude"),
            _as_float(planned[1], f"{where} longitude"),
            _as_float(planned[2], f"{where} altitude") if planned[2] is not None else 0.0,
        )
    polygons: list[FencePolygon] = []
    circles: list[FenceCircle] = []
    fence = doc.get("geoFence") or {}
    if not isinstance(fence, dict):
        raise PlanError(f"{source}: geoFence is not a JSON object")
    for j, poly in enumerate(_json_list(fence.get("polygons"), f"{source}: geoFence.polygons")):
        where = f"{source}: geoFence.polygons[{j}]"
        if not isinstance(poly, dict):
            raise PlanError(f"{where}: expected a JSON object")
        verts = _latlon_list(poly.get("polygon"), where)
        if len(verts) < 3:
            raise PlanError(f"{where}: a fence polygon needs 3 vertices, got {len(verts)}")
        polygons.append(FencePolygon(verts, bool(poly.get("inclusion", True))))
    for j, circ in enumerate(_json_list(fence.get("circles"), f"{source}: geoFence.circles")):
        where = f"{source}: geoFence.circles[{j}]"
        c = circ.get("circle") if isinstance(circ, dict) else None
        try:
            center = (_as_float(c["center"][0], where), _as_float(c["center"][1], where))  # type: ignore[index]
            radius = _as_float(c["radius"], f"{where} radius")  # type: ignore[index]
        except (KeyError, TypeError, IndexError):
            raise PlanError(
                f"{where}: expected circle.center [lat, lon] and circle.radius"
            ) from None
        circles.append(FenceCircle(center, radius, bool(circ.get("inclusion", True))))
    rally_doc = doc.get("rallyPoints") or {}
    if not isinstance(rally_doc, dict):
        raise PlanError(f"{source}: rallyPoints is not a JSON object")
    rally = []
    for j, p in enumerate(_json_list(rally_doc.get("points"), f"{source}: rallyPoints.points")):
        where = f"{source}: rallyPoints.points[{j}]"
        if not isinstance(p, list) or len(p) < 2:
            raise PlanError(f"{where}: expected [lat, lon, alt]")
        alt = _as_float(p[2], f"{where} altitude") if len(p) > 2 else 0.0
        rally.append(
            (_as_float(p[0], f"{where} latitude"), _as_float(p[1], f"{where} longitude"), alt)
        )
    mode = mission.get("globalPlanAltitudeMode")

    def number(key: str, default: float) -> float:
        value = mission.get(key)
        return default if value is None else _as_float(value, f"{source}: mission.{key}")

    return Plan(
        entries=tuple(entries),
        home=home,
        fence_polygons=tuple(polygons),
        fence_circles=tuple(circles),
        rally_points=tuple(rally),
        cruise_speed_m_s=number("cruiseSpeed", 15.0),
        hover_speed_m_s=number("hoverSpeed", 5.0),
        firmware_type=int(number("firmwareType", mavlink.MAV_AUTOPILOT_PX4)),
        vehicle_type=int(number("vehicleType", mavlink.MAV_TYPE_QUADROTOR)),
        global_altitude_mode=int(mode) if isinstance(mode, int) else None,
        source=source,
        file_format="qgc-plan",
    )


def _parse_wpl(text: str, source: str) -> Plan:
    lines = text.splitlines()
    header = lines[0].split()
    if len(header) != 3 or header[2] != "110":
        raise PlanError(f"{source}: line 1 is {lines[0]!r}; only 'QGC WPL 110' is supported")
    home = None
    entries: list[MissionEntry] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cols = line.split()
        if len(cols) != 12:
            raise PlanError(f"{source}: line {n} has {len(cols)} columns, expected 12")
        try:
            seq, frame, cmd = int(cols[0]), int(cols[2]), int(cols[3])
            values = [float(c) for c in cols[4:11]]
            auto = bool(int(float(cols[11])))
        except ValueError:
            raise PlanError(f"{source}: line {n} is not numeric") from None
        first_row = n == next(k for k, ln in enumerate(lines, start=1) if k > 1 and ln.strip())
        if seq != len(entries) + 1 and not (first_row and seq == 0):
            raise PlanError(
                f"{source}: line {n} has sequence number {seq}, expected {len(entries) + 1}"
            )
        if seq == 0:  # QGC WPL: item 0 is the home position (AMSL); 0/0 = none
            if values[4] or values[5]:
                home = (values[4], values[5], values[6])
            continue
        # NaN in params 1-4 is MAVLink's "unchanged" (QGC's null); positions are checked
        params = tuple(None if k < 4 and math.isnan(v) else v for k, v in enumerate(values))
        entries.append(MissionItem(cmd, frame, params, auto))  # type: ignore[arg-type]
    return Plan(entries=tuple(entries), home=home, source=source, file_format="qgc-wpl-110")


# -- validation -----------------------------------------------------------------------------
MAX_ABS_ALTITUDE_M: Final = 10_000.0
"""No drone mission altitude (relative, AMSL or above terrain) is beyond this."""
MAX_ABS_LOCAL_M: Final = 100_000.0
MIN_POLYGON_AREA_M2: Final = 1.0
_POSITION_FREE_COMMANDS: Final = frozenset({CMD_TAKEOFF, CMD_LAND})
"""Where MAVLink's NaN (or 0/0) latitude/longitude means "where the vehicle is"."""
_YAW_COMMANDS: Final = frozenset(
    {CMD_WAYPOINT, CMD_TAKEOFF, CMD_LOITER_UNLIM, CMD_LOITER_TURNS, CMD_LOITER_TIME, CMD_LAND}
)


def _refuse(message: str) -> NoReturn:
    raise MissionError(message)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "finite"


def require_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the range, or MissionError naming ``name`` and it."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    wanted = _range_text(low, high, low_open, high_open)
    if number is None or not math.isfinite(number):
        shown = "null" if value is None else repr(value)
        _refuse(f"{name} is {shown}: must be a finite number ({wanted})")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        _refuse(f"{name} is {number:g}: must be {wanted}")
    return number


def check_latlon(lat: object, lon: object, where: str) -> tuple[float, float]:
    """A WGS84 position: finite, latitude in [-90, 90], longitude in [-180, 180]."""
    return (
        require_number(lat, f"{where} latitude", low=-90.0, high=90.0),
        require_number(lon, f"{where} longitude", low=-180.0, high=180.0),
    )


def _local_metres(vertices: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Equirectangular metres about the first vertex (enough to judge a polygon's shape)."""
    lat0 = math.radians(vertices[0][0])
    k = 6_371_000.0 * math.pi / 180.0
    return [
        ((lon - vertices[0][1]) * k * math.cos(lat0), (lat - vertices[0][0]) * k)
        for lat, lon in vertices
    ]


def _segments_cross(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]
) -> bool:
    """Whether segments ab and cd share a point (touching counts)."""

    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    def on(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> bool:
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(
            p[1], q[1]
        )

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and on(c, d, a))
        or (d2 == 0 and on(c, d, b))
        or (d3 == 0 and on(a, b, c))
        or (d4 == 0 and on(a, b, d))
    )


def check_polygon(
    vertices: Sequence[Sequence[object]], where: str
) -> tuple[tuple[float, float], ...]:
    """A simple polygon (lat, lon): finite WGS84 vertices, at least 3 distinct, none
    repeated, an area of at least 1 m², no edge crossing another (no "bow-tie"); the
    closing vertex (equal to the first) is dropped. Anything else is refused, named."""
    ring = [
        check_latlon(v[0], v[1], f"{where}: vertex {i}")
        if isinstance(v, Sequence) and len(v) >= 2
        else _refuse(f"{where}: vertex {i} is {v!r}, expected (lat, lon)")
        for i, v in enumerate(vertices)
    ]
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 3:
        _refuse(f"{where}: a polygon needs at least 3 distinct vertices, got {len(ring)}")
    seen: dict[tuple[float, float], int] = {}
    for i, v in enumerate(ring):
        if v in seen:
            _refuse(
                f"{where}: vertex {i} ({v[0]:.7f}, {v[1]:.7f}) repeats vertex {seen[v]} "
                "(degenerate polygon)"
            )
        seen[v] = i
    xy = _local_metres(ring)
    n = len(xy)
    area = 0.5 * abs(
        sum(xy[i][0] * xy[(i + 1) % n][1] - xy[(i + 1) % n][0] * xy[i][1] for i in range(n))
    )
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue  # neighbouring edges share a vertex
            if _segments_cross(xy[i], xy[(i + 1) % n], xy[j], xy[(j + 1) % n]):
                _refuse(
                    f"{where}: edge {i}-{(i + 1) % n} crosses edge {j}-{(j + 1) % n} "
                    "(self-intersecting 'bow-tie' polygon); reorder its vertices"
                )
    if area < MIN_POLYGON_AREA_M2:
        _refuse(f"{where}: the polygon has zero area ({area:.3g} m²: its vertices are in a line)")
    return tuple(ring)


def check_polyline(
    points: Sequence[Sequence[object]], where: str
) -> tuple[tuple[float, float], ...]:
    """A polyline (lat, lon): at least 2 finite WGS84 points, no point repeating the one
    before it (a zero-length leg has no direction)."""
    line = [
        check_latlon(p[0], p[1], f"{where}: point {i}")
        if isinstance(p, Sequence) and len(p) >= 2
        else _refuse(f"{where}: point {i} is {p!r}, expected (lat, lon)")
        for i, p in enumerate(points)
    ]
    if len(line) < 2:
        _refuse(f"{where}: a line needs at least 2 points, got {len(line)}")
    for i in range(1, len(line)):
        if line[i] == line[i - 1]:
            _refuse(f"{where}: point {i} repeats point {i - 1} (zero-length leg)")
    return tuple(line)


def _item_label(plan: Plan, index: int, item: MissionItem) -> str:
    seq = f", WPL seq {index + 1}" if plan.file_format == "qgc-wpl-110" else ""
    return f"{plan.source}: item {index} ({item.name}{seq})"


def validate_item(item: MissionItem, where: str) -> None:
    """One mission item: a known command and frame, finite parameters, a position that is
    a real place and an altitude in range for commands that fly somewhere."""
    entry = mavlink.enums["MAV_CMD"].get(item.command)
    if entry is None or entry.name.endswith("ENUM_END"):
        _refuse(f"{where}: unknown MAV_CMD {item.command} (not in MAVLink's common set)")
    if item.frame not in mavlink.enums["MAV_FRAME"] or item.frame >= mavlink.MAV_FRAME_ENUM_END:
        _refuse(f"{where}: unknown MAV_FRAME {item.frame}")
    names = ("", "", "", " (yaw)", " (latitude/x)", " (longitude/y)", " (altitude/z)")
    for k, p in enumerate(item.params):
        if p is not None and math.isinf(p):
            _refuse(f"{where}: param{k + 1}{names[k]} is {p}: must be finite (or null)")
    lat, lon, alt = item.params[4], item.params[5], item.params[6]
    if item.command in NAV_POSITION_COMMANDS:
        if item.frame in _LOCAL_FRAMES:
            for name, v in (("x", lat), ("y", lon), ("z", alt)):
                require_number(
                    v, f"{where} {name} (local m)", low=-MAX_ABS_LOCAL_M, high=MAX_ABS_LOCAL_M
                )
        else:
            here = (lat is None or math.isnan(lat)) and (lon is None or math.isnan(lon))
            if not (item.command in _POSITION_FREE_COMMANDS and (here or lat == lon == 0)):
                check_latlon(lat, lon, where)
            if item.command != CMD_LAND:
                require_number(
                    item.altitude_m,
                    f"{where} altitude ({item.altitude_ref})",
                    low=-MAX_ABS_ALTITUDE_M,
                    high=MAX_ABS_ALTITUDE_M,
                )
    elif item.frame not in (FRAME_MISSION, *_LOCAL_FRAMES) and lat is not None and (lat or lon):
        check_latlon(_num(lat), _num(lon), where)
    p1, p2 = item.params[0], item.params[1]
    if item.command == CMD_CHANGE_SPEED and p2 is not None and p2 not in (-1.0, -2.0):
        require_number(p2, f"{where} speed (param2, m/s; -1 unchanged)", low=0.0, low_open=True)
    elif item.command == CMD_CAM_TRIGG_DIST:
        require_number(_num(p1), f"{where} trigger distance (param1, m)", low=0.0)
    elif item.command in (CMD_LOITER_TIME, CMD_WAYPOINT) and p1 is not None:
        require_number(p1, f"{where} hold time (param1, s)", low=0.0)
    if item.command == CMD_WAYPOINT and p2 is not None:
        require_number(p2, f"{where} acceptance radius (param2, m)", low=0.0)
    yaw = item.params[3]
    if item.command in _YAW_COMMANDS and yaw is not None and not math.isnan(yaw):
        require_number(yaw, f"{where} yaw (param4, deg)", low=-360.0, high=360.0)


def _validate_complex(entry: ComplexItem, where: str) -> None:
    key = "polyline" if entry.kind == "CorridorScan" else "polygon"
    shape = entry.definition.get(key)
    if not isinstance(shape, list):
        _refuse(f"{where}: {entry.kind} has no '{key}' list")
    if key == "polygon":
        check_polygon(shape, f"{where} {entry.kind} polygon")
    else:
        for i, v in enumerate(shape):
            if not isinstance(v, list) or len(v) < 2:
                _refuse(f"{where}: {entry.kind} polyline[{i}] is {v!r}, expected [lat, lon]")
            check_latlon(v[0], v[1], f"{where} {entry.kind} polyline[{i}]")


def validate_plan(plan: Plan) -> Plan:
    """``plan`` itself if every coordinate, altitude and parameter is finite and in
    range; otherwise :class:`~drone_missions.errors.MissionError` naming the item (its
    index in :meth:`Plan.mission_items`, the one ``plan show`` and ``plan check`` print)
    and the field. A NaN latitude is refused here, never dropped later."""
    src = plan.source or "plan"
    if plan.home is not None:
        check_latlon(plan.home[0], plan.home[1], f"{src}: home")
        require_number(
            plan.home[2],
            f"{src}: home altitude (AMSL m)",
            low=-MAX_ABS_ALTITUDE_M,
            high=MAX_ABS_ALTITUDE_M,
        )
    require_number(plan.cruise_speed_m_s, f"{src}: cruiseSpeed (m/s)", low=0.0, low_open=True)
    require_number(plan.hover_speed_m_s, f"{src}: hoverSpeed (m/s)", low=0.0, low_open=True)
    index = 0
    for k, entry in enumerate(plan.entries):
        if isinstance(entry, ComplexItem):
            _validate_complex(entry, f"{src}: mission.items[{k}]")
            items: Sequence[MissionItem] = entry.items
        else:
            items = (entry,)
        for item in items:
            validate_item(item, _item_label(plan, index, item))
            index += 1
    for j, fp in enumerate(plan.fence_polygons):
        check_polygon(fp.vertices, f"{src}: geoFence.polygons[{j}]")
    for j, fc in enumerate(plan.fence_circles):
        check_latlon(fc.center[0], fc.center[1], f"{src}: geoFence.circles[{j}] centre")
        require_number(
            fc.radius_m, f"{src}: geoFence.circles[{j}] radius (m)", low=0.0, low_open=True
        )
    for j, rp in enumerate(plan.rally_points):
        check_latlon(rp[0], rp[1], f"{src}: rallyPoints.points[{j}]")
        require_number(
            rp[2],
            f"{src}: rallyPoints.points[{j}] altitude",
            low=-MAX_ABS_ALTITUDE_M,
            high=MAX_ABS_ALTITUDE_M,
        )
    return plan


# -- writing ------------------------------------------------------------------------------
def _num_json(value: Param) -> float | int | None:
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else value


def item_to_json(item: MissionItem, do_jump_id: int) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if item.qgc_altitude_mode is not None:
        obj["AMSLAltAboveTerrain"] = _num_json(item.qgc_amsl_alt_above_terrain)
        obj["Altitude"] = _num_json(item.qgc_altitude)
        obj["AltitudeMode"] = item.qgc_altitude_mode
    obj.update(
        {
            "autoContinue": item.autocontinue,
            "command": item.command,
            "doJumpId": do_jump_id,
            "frame": item.frame,
            "params": [_num_json(p) for p in item.params],
            "type": "SimpleItem",
        }
    )
    return obj


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The QGroundControl ``.plan`` document of a plan."""
    items: list[dict[str, Any]] = []
    jump = 1
    for entry in plan.entries:
        if isinstance(entry, MissionItem):
            items.append(item_to_json(entry, jump))
            jump += 1
            continue
        obj = dict(entry.definition)
        generated = []
        for it in entry.items:
            generated.append(item_to_json(it, jump))
            jump += 1
        if entry.kind != "StructureScan":
            tsci = dict(obj.get("TransectStyleComplexItem") or {})
            tsci["Items"] = generated
            obj["TransectStyleComplexItem"] = tsci
        obj["type"] = "ComplexItem"
        obj["complexItemType"] = entry.kind
        items.append(obj)
    home = list(plan.home) if plan.home is not None else [0.0, 0.0, 0.0]
    mission: dict[str, Any] = {
        "cruiseSpeed": plan.cruise_speed_m_s,
        "firmwareType": plan.firmware_type,
        "hoverSpeed": plan.hover_speed_m_s,
        "items": items,
        "plannedHomePosition": home,
        "vehicleType": plan.vehicle_type,
        "version": 2,
    }
    if plan.global_altitude_mode is not None:
        mission["globalPlanAltitudeMode"] = plan.global_altitude_mode
    return {
        "fileType": "Plan",
        "geoFence": {
            "circles": [
                {
                    "circle": {"center": list(c.center), "radius": c.radius_m},
                    "inclusion": c.inclusion,
                    "version": 1,
                }
                for c in plan.fence_circles
            ],
            "polygons": [
                {"inclusion": p.inclusion, "polygon": [list(v) for v in p.vertices], "version": 1}
                for p in plan.fence_polygons
            ],
            "version": 2,
        },
        "groundStation": "QGroundControl",
        "mission": mission,
        "rallyPoints": {"points": [list(p) for p in plan.rally_points], "version": 2},
        "version": 1,
    }


def plan_to_wpl(plan: Plan) -> str:
    """The ``QGC WPL 110`` text of a plan (complex items written as their items; the
    fence and rally points have no place in this format and are left out)."""
    home = plan.home or (0.0, 0.0, 0.0)
    rows: list[tuple[float, ...]] = [(0, 1, FRAME_GLOBAL, CMD_WAYPOINT, 0, 0, 0, 0, *home, 1)]
    for seq, it in enumerate(plan.mission_items(), start=1):
        if it.qgc_altitude_mode == QGC_ALT_CALC_ABOVE_TERRAIN and it.params[6] is None:
            _refuse(
                f"{plan.source}: item {seq - 1} ({it.name}) is {it.altitude_m:g} m above "
                "terrain with no AMSL altitude yet; a WPL file cannot hold that: resolve "
                "it with a DEM (--dem) or keep the .plan"
            )
        rows.append(
            (seq, 0, it.frame, it.command, *(_num(p) for p in it.params), int(it.autocontinue))
        )
    out = ["QGC WPL 110"]
    for row in rows:
        cells = [str(int(v)) for v in row[:4]]
        cells += [repr(float(v)) if not math.isnan(float(v)) else "nan" for v in row[4:11]]
        cells.append(str(int(row[11])))
        out.append("\t".join(cells))
    return "\n".join(out) + "\n"


def write_plan(plan: Plan, path: str | os.PathLike[str]) -> Path:
    """Write ``.plan`` (JSON) or, for ``.waypoints``/``.txt``, QGC WPL 110; atomically."""
    file = Path(path)
    validate_plan(plan)
    if file.suffix.lower() in (".waypoints", ".txt", ".wpl"):
        text = plan_to_wpl(plan)
    else:
        text = json.dumps(plan_to_json(plan), indent=4, allow_nan=False) + "\n"
    return write_text_atomic(file, text)


def describe(plan: Plan) -> str:
    """One line per item: index, command name, frame, position."""
    lines = []
    for i, it in enumerate(plan.mission_items()):
        pos = (
            f" {it.lat_deg:.7f},{it.lon_deg:.7f} {it.altitude_m:.1f} m {it.altitude_ref}"
            if it.has_position
            else ""
        )
        lines.append(f"{i:4d} {it.name}{pos}")
    return "\n".join(lines)


def same_items(a: Sequence[MissionItem], b: Sequence[MissionItem], tol: float = 1e-7) -> bool:
    """Whether two item lists are the same mission (numbers equal to ``tol``, None = NaN)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if (x.command, x.frame, x.autocontinue) != (y.command, y.frame, y.autocontinue):
            return False
        for p, q in zip(x.params, y.params, strict=True):
            pn, qn = _num(p), _num(q)
            if math.isnan(pn) != math.isnan(qn):
                return False
            if not math.isnan(pn) and abs(pn - qn) > tol * max(1.0, abs(pn)):
                return False
    return True


# -- the camera along a flight -------------------------------------------------------------
@dataclass(frozen=True)
class Photo:
    """A photo the mission's camera items take: where, heading of the leg, which item."""

    position: tuple[float, float, float]
    heading_rad: float
    item_index: int


def camera_photos(
    items: Sequence[MissionItem], points: Sequence[tuple[float, float, float] | None]
) -> list[Photo]:
    """Where the camera fires when the items are flown along straight legs.

    ``points[i]`` is item ``i``'s position in any metric frame (x east, y north, z up),
    or None for items without one. DO_SET_CAM_TRIGG_DIST starts (distance > 0) or stops
    (0) distance triggering, measured horizontally along the legs as PX4 does, with one
    photo at once when param3 is 1; IMAGE_START_CAPTURE with a count of 1 and
    DO_DIGICAM_CONTROL with param5 = 1 take one photo where the vehicle is.
    """
    photos: list[Photo] = []
    here: tuple[float, float, float] | None = None
    heading = 0.0
    trigger_m = 0.0
    since_last = 0.0
    for i, it in enumerate(items):
        target = points[i] if i < len(points) else None
        if target is not None:
            if here is None:
                here = target
                continue
            dx, dy, dz = target[0] - here[0], target[1] - here[1], target[2] - here[2]
            leg = math.hypot(dx, dy)
            if leg > 1e-9:
                heading = math.atan2(dy, dx)
            if trigger_m > 0 and leg > 0:
                s = trigger_m - since_last
                while s <= leg + 1e-9:
                    f = s / leg
                    pos = (here[0] + f * dx, here[1] + f * dy, here[2] + f * dz)
                    photos.append(Photo(pos, heading, i))
                    s += trigger_m
                since_last = leg - (s - trigger_m)
            here = target
            continue
        if here is None:
            continue
        if it.command == CMD_CAM_TRIGG_DIST:
            trigger_m = max(_num(it.params[0]), 0.0) if math.isfinite(_num(it.params[0])) else 0.0
            since_last = 0.0
            if _num(it.params[2]) == 1:
                photos.append(Photo(here, heading, i))
        elif (it.command == CMD_IMAGE_START_CAPTURE and _num(it.params[2]) == 1) or (
            it.command == CMD_DIGICAM_CONTROL and _num(it.params[4]) == 1
        ):
            photos.append(Photo(here, heading, i))
    return photos


# -- what a simulator or a viewer flies ----------------------------------------------------
@dataclass(frozen=True)
class PathPoint:
    """A place the vehicle flies to: a mission item's position, altitude and reference."""

    item_index: int
    lat_deg: float
    lon_deg: float
    alt_m: float
    altitude_ref: AltitudeRef
    command: int


def path_points(plan: Plan) -> tuple[list[PathPoint], dict[str, int]]:
    """The positional items in order (a take-off without a position climbs at home),
    and the other items counted by command name (camera, speed, ROI, RTL, LAND...)."""
    points: list[PathPoint] = []
    others: dict[str, int] = {}
    for i, it in enumerate(plan.mission_items()):
        if it.command == CMD_TAKEOFF and not it.has_position and plan.home is not None:
            lat, lon = plan.home[0], plan.home[1]
        elif it.has_position and it.command != CMD_LAND:
            lat, lon = it.lat_deg, it.lon_deg
        else:
            name = it.name.removeprefix("MAV_CMD_")
            others[name] = others.get(name, 0) + 1
            continue
        alt = it.altitude_m
        if not math.isfinite(alt):
            raise PlanError(f"{plan.source}: item {i} ({it.name}) has no altitude")
        points.append(PathPoint(i, lat, lon, alt, it.altitude_ref, it.command))
    return points, others


# -- structure scan -----------------------------------------------------------------------------
def offset_polygon(
    polygon: Sequence[LatLon], distance_m: float, projection: Projection = "azimuthal"
) -> list[LatLon]:
    """QGCMapPolygon::offset: each edge moved ``distance_m`` to its left (outwards for a
    clockwise polygon), new vertices where neighbouring moved edges cross."""
    plane = TangentPlane(polygon[0], projection)
    pts = [(0.0, 0.0), *plane.forward(polygon[1:])]
    n = len(pts)
    edges = []
    for i in range(n):
        a, b = pts[i], pts[(i + 1) % n]
        length = math.hypot(b[0] - a[0], b[1] - a[1])
        nx, ny = -(b[1] - a[1]) / length, (b[0] - a[0]) / length
        edges.append(
            (
                (a[0] + nx * distance_m, a[1] + ny * distance_m),
                (b[0] + nx * distance_m, b[1] + ny * distance_m),
            )
        )
    vertices = []
    for i in range(n):
        prev = edges[i - 1]
        hit = line_intersection(prev[0], prev[1], edges[i][0], edges[i][1], bounded=False)
        if hit is None:
            raise PlanError("structure polygon has parallel neighbouring edges; cannot offset it")
        vertices.append(hit)
    return plane.reverse(vertices)


def structure_scan_items(definition: dict[str, Any], where: str) -> list[MissionItem]:
    """The items QGC generates for a StructureScan (version 3) complex item."""
    try:
        version = int(definition.get("version", 0))
        calc = definition["CameraCalc"]
        distance = float(calc["DistanceToSurface"])
        frontal = float(calc["AdjustedFootprintFrontal"])
        side = float(calc["AdjustedFootprintSide"])
        layers = int(definition["Layers"])
        from_top = bool(definition["StartFromTop"])
        height = float(definition["StructureHeight"])
        bottom = float(definition["ScanBottomAlt"])
        entrance = float(definition["EntranceAltitude"])
        pitch = float(definition.get("GimbalPitch", 0.0))
        polygon = [(float(p[0]), float(p[1])) for p in definition["polygon"]]
        entry_vertex = int(definition.get("EntryVertex", 0))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as err:
        raise PlanError(f"{where}: StructureScan lacks or has a bad field {err}") from None
    if version != 3:
        raise PlanError(f"{where}: StructureScan version {version} (supported: 3)")
    polygon = list(check_polygon(polygon, f"{where} StructureScan polygon"))
    for name, value in (("DistanceToSurface", distance), ("AdjustedFootprintFrontal", frontal),
                        ("AdjustedFootprintSide", side)):  # fmt: skip
        require_number(value, f"{where} StructureScan CameraCalc {name}", low=0.0, high=1e4)
    require_number(layers, f"{where} StructureScan Layers", low=1, high=1000)
    for name, value in (("StructureHeight", height), ("ScanBottomAlt", bottom),
                        ("EntranceAltitude", entrance), ("GimbalPitch", pitch)):  # fmt: skip
        require_number(value, f"{where} StructureScan {name}", low=-1e4, high=1e4)
    flight = offset_polygon(polygon, distance)
    entry_vertex %= len(flight)
    rel = FRAME_GLOBAL_RELATIVE_ALT
    items = [
        waypoint(*flight[entry_vertex], entrance, frame=rel),
        command(CMD_SET_ROI_WPNEXT_OFFSET, 0, 0, 0, 0, pitch, 0, 90),
    ]
    half = frontal / 2.0
    altitude = height - half if from_top else bottom + half
    for _ in range(layers):
        for k in range(len(flight) + 1):
            v = flight[(entry_vertex + k) % len(flight)]
            items.append(waypoint(*v, altitude, frame=rel))
            if k == 0:
                items.append(camera_trigger_distance(side, True))
        items.append(camera_trigger_distance(0.0, False))
        altitude += -2 * half if from_top else 2 * half
    items.append(command(CMD_SET_ROI_NONE))
    items.append(waypoint(*flight[entry_vertex], entrance, frame=rel))
    return items
