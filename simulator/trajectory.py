"""Paths, their timing, the vehicle's poses, and the IMU readings they imply.

A path is a polyline through waypoints whose corners are rounded by circular fillets, so
its tangent is continuous and the vehicle never turns on the spot. It is flown at a
constant speed with smooth (smoothstep) acceleration from rest and deceleration to rest,
so velocity and acceleration are continuous too. The vehicle's attitude is yaw only, yaw
along the horizontal track (kept through vertical legs); the camera is rigidly mounted
(nadir for the pit drone, forward for the drift robot).

The IMU reading follows from that motion exactly: specific force ``R^T (a + g ẑ)`` at
the IMU's lever arm and angular rate in the body frame, plus white noise and a constant
bias per seed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from simulator.errors import SimulatorError
from smartmine.geometry import rot_z

if TYPE_CHECKING:
    from simulator.scene import Scene

F64Array = npt.NDArray[np.float64]

GRAVITY_M_S2 = 9.80665


@dataclass(frozen=True)
class _Segment:
    start_s: float
    length: float
    kind: str  # "line" or "arc"
    p0: F64Array  # line start, or arc centre
    a: F64Array  # line direction, or arc start radial (-inward normal)
    b: F64Array  # arc: initial tangent (unused for lines)
    radius: float = 0.0


class Path:
    """A C1 curve through 3-D waypoints (line segments + circular fillets), by arc length."""

    def __init__(self, waypoints: npt.ArrayLike, max_radius_m: float) -> None:
        pts = np.asarray(waypoints, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise SimulatorError(f"waypoints must be (N, 3), got {pts.shape}")
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.linalg.norm(np.diff(pts, axis=0), axis=1) > 1e-6
        pts = pts[keep]
        if len(pts) < 2:
            raise SimulatorError("a path needs at least 2 distinct waypoints")
        self.waypoints = pts
        self.segments: list[_Segment] = []
        s = 0.0
        current = pts[0]
        for i in range(1, len(pts) - 1):
            prev, corner, nxt = pts[i - 1], pts[i], pts[i + 1]
            d1 = (corner - prev) / np.linalg.norm(corner - prev)
            d2 = (nxt - corner) / np.linalg.norm(nxt - corner)
            cos_phi = float(np.clip(d1 @ d2, -1.0, 1.0))
            phi = math.acos(cos_phi)
            if phi < 1e-6:
                continue
            len_in = float(np.linalg.norm(corner - prev))
            len_out = float(np.linalg.norm(nxt - corner))
            # neighbouring fillets share a leg; the first and last legs are used whole
            avail_in = len_in if i == 1 else 0.5 * len_in
            avail_out = len_out if i == len(pts) - 2 else 0.5 * len_out
            tan_half = math.tan(phi / 2.0)
            radius = min(max_radius_m, min(avail_in, avail_out) / max(tan_half, 1e-12))
            t = radius * tan_half
            arc_start = corner - d1 * t
            arc_end = corner + d2 * t
            s = self._line(s, current, arc_start)
            inward = d2 - d1 * cos_phi
            norm = float(np.linalg.norm(inward))
            if radius < 1e-9 or norm < 1e-12:
                current = arc_start
                continue
            inward /= norm
            centre = arc_start + inward * radius
            self.segments.append(
                _Segment(s, radius * phi, "arc", centre, -inward, d1.copy(), radius)
            )
            s += radius * phi
            current = arc_end
        s = self._line(s, current, pts[-1])
        self.length = s
        if self.length <= 1e-6:
            raise SimulatorError("the path has zero length")
        self._starts = np.array([seg.start_s for seg in self.segments])

    def _line(self, s: float, a: F64Array, b: F64Array) -> float:
        length = float(np.linalg.norm(b - a))
        if length > 1e-9:
            self.segments.append(_Segment(s, length, "line", a.copy(), (b - a) / length, b - a))
        return s + length

    def _locate(self, s: F64Array) -> tuple[npt.NDArray[np.int64], F64Array]:
        s = np.clip(s, 0.0, self.length)
        idx = np.clip(np.searchsorted(self._starts, s, side="right") - 1, 0, len(self.segments) - 1)
        local = s - self._starts[idx]
        return idx.astype(np.int64), local

    def evaluate(self, s: npt.ArrayLike) -> tuple[F64Array, F64Array]:
        """Positions and unit tangents at arc lengths ``s`` (clipped to the path)."""
        s_arr = np.asarray(s, dtype=np.float64)
        shape = s_arr.shape
        flat = s_arr.ravel()
        idx, local = self._locate(flat)
        pos = np.empty((len(flat), 3))
        tan = np.empty((len(flat), 3))
        for k, seg in enumerate(self.segments):
            m = idx == k
            if not np.any(m):
                continue
            loc = np.minimum(local[m], seg.length)[:, None]
            if seg.kind == "line":
                pos[m] = seg.p0 + seg.a * loc
                tan[m] = seg.a
            else:
                ang = loc / seg.radius
                pos[m] = seg.p0 + seg.radius * (seg.a * np.cos(ang) + seg.b * np.sin(ang))
                tan[m] = -seg.a * np.sin(ang) + seg.b * np.cos(ang)
        return pos.reshape((*shape, 3)), tan.reshape((*shape, 3))

    def frames(self, s: npt.ArrayLike) -> tuple[F64Array, F64Array, F64Array, F64Array]:
        """Centre, tangent, left and up unit vectors at arc lengths ``s`` (one dimension)."""
        centre, tangent = self.evaluate(s)
        cross = np.cross([0.0, 0.0, 1.0], tangent)
        unit = cross / np.linalg.norm(cross, axis=1, keepdims=True)
        left: F64Array = np.asarray(unit, np.float64)
        up: F64Array = np.asarray(np.cross(tangent, left), dtype=np.float64)
        return centre, tangent, left, up


@dataclass(frozen=True)
class Timing:
    """Constant cruise speed with smoothstep ramps from and to rest."""

    length_m: float
    speed_m_s: float
    ramp_s: float

    @staticmethod
    def for_path(length_m: float, speed_m_s: float, ramp_s: float) -> Timing:
        speed = speed_m_s
        if ramp_s > 0 and length_m < speed * ramp_s:  # too short to reach cruise speed
            speed = length_m / ramp_s
        return Timing(length_m, speed, ramp_s)

    @property
    def duration_s(self) -> float:
        return self.length_m / self.speed_m_s + self.ramp_s

    def arc_length(self, t: npt.ArrayLike) -> F64Array:
        """Distance travelled at times ``t`` (s from the start; clipped to the run)."""
        tt = np.clip(np.asarray(t, dtype=np.float64), 0.0, self.duration_s)
        v, tau, total = self.speed_m_s, self.ramp_s, self.duration_s
        if tau <= 0:
            return np.asarray(np.minimum(v * tt, self.length_m), dtype=np.float64)

        def ramp(t_from_rest: F64Array) -> F64Array:
            x = np.clip(t_from_rest / tau, 0.0, 1.0)
            return np.asarray(v * tau * (x**3 - 0.5 * x**4), dtype=np.float64)

        out = np.where(
            tt < tau,
            ramp(tt),
            np.where(
                tt <= total - tau, 0.5 * v * tau + v * (tt - tau), self.length_m - ramp(total - tt)
            ),
        )
        return np.asarray(np.clip(out, 0.0, self.length_m), dtype=np.float64)


def yaw_matrices(yaw: F64Array) -> F64Array:
    """(N, 3, 3) rotations about z (ENU world from FLU body)."""
    return rot_z(np.asarray(yaw, dtype=np.float64).reshape(-1))


class Trajectory:
    """The vehicle's motion along a path: base_link poses at any time, and the IMU."""

    def __init__(self, path: Path, speed_m_s: float, ramp_s: float) -> None:
        self.path = path
        self.timing = Timing.for_path(path.length, speed_m_s, ramp_s)
        # yaw along the horizontal track on a fine grid, held through vertical legs
        n = max(2, math.ceil(path.length / 0.05) + 1)
        grid = np.linspace(0.0, path.length, n)
        _, tangent = path.evaluate(grid)
        horizontal = np.hypot(tangent[:, 0], tangent[:, 1])
        yaw = np.arctan2(tangent[:, 1], tangent[:, 0])
        valid = horizontal > 1e-3
        if not np.any(valid):
            yaw[:] = 0.0
        else:
            first = int(np.argmax(valid))
            idx = np.where(valid, np.arange(n), 0)
            idx = np.maximum.accumulate(idx)
            idx[:first] = first
            yaw = yaw[idx]
        self._grid = grid
        self._yaw = np.unwrap(yaw)

    @property
    def duration_s(self) -> float:
        return self.timing.duration_s

    def time_at_arc_length(self, s: F64Array) -> F64Array:
        """Times (s) the trajectory reaches arc lengths ``s`` (m), from its timing sampled
        every 10 ms."""
        t_grid = np.linspace(0.0, self.duration_s, max(2, math.ceil(self.duration_s / 0.01)))
        s_grid = self.timing.arc_length(t_grid)
        return np.asarray(np.interp(s, s_grid, t_grid), dtype=np.float64)

    def yaw(self, s: F64Array) -> F64Array:
        return np.asarray(np.interp(s, self._grid, self._yaw), dtype=np.float64)

    def poses(self, t_s: npt.ArrayLike) -> tuple[F64Array, F64Array]:
        """base_link positions (N, 3) and rotations (N, 3, 3) in the world at times ``t_s``."""
        s = self.timing.arc_length(np.atleast_1d(np.asarray(t_s, dtype=np.float64)))
        pos, _ = self.path.evaluate(s)
        return pos, yaw_matrices(self.yaw(s))

    def matrices(self, t_s: npt.ArrayLike) -> F64Array:
        """(N, 4, 4) world-from-base_link transforms."""
        pos, rot = self.poses(t_s)
        out = np.tile(np.eye(4), (len(pos), 1, 1))
        out[:, :3, :3] = rot
        out[:, :3, 3] = pos
        return out

    def imu_truth(self, t_s: F64Array, lever_arm_m: npt.ArrayLike) -> tuple[F64Array, F64Array]:
        """Noise-free specific force (m/s²) and angular rate (rad/s) in the body frame at
        the point ``lever_arm_m`` of the body, by central differences of the exact motion."""
        h = 1e-3
        lever = np.asarray(lever_arm_m, dtype=np.float64)

        def point(t: F64Array) -> tuple[F64Array, F64Array]:
            s = self.timing.arc_length(t)
            pos, _ = self.path.evaluate(s)
            yaw = self.yaw(s)
            rot = yaw_matrices(yaw)
            return pos + rot @ lever, yaw

        p_minus, yaw_minus = point(t_s - h)
        p_mid, yaw_mid = point(t_s)
        p_plus, yaw_plus = point(t_s + h)
        accel_world = (p_plus - 2.0 * p_mid + p_minus) / (h * h)
        accel_world[:, 2] += GRAVITY_M_S2
        rot = yaw_matrices(yaw_mid)
        specific_force = np.einsum("nji,nj->ni", rot, accel_world)
        gyro = np.zeros_like(specific_force)
        gyro[:, 2] = (yaw_plus - yaw_minus) / (2.0 * h)
        return specific_force, gyro


# --- built-in paths ---------------------------------------------------------------------


def lawnmower(
    x_min: float, x_max: float, y_min: float, y_max: float, spacing_m: float, z_m: float
) -> tuple[F64Array, float]:
    """Waypoints of north-south survey lines ``spacing_m`` apart, and the turn radius
    (half the spacing: each turn is a semicircle)."""
    n_lines = max(2, math.ceil((x_max - x_min) / spacing_m) + 1)
    span = (n_lines - 1) * spacing_m
    xs = (x_min + x_max) / 2.0 - span / 2.0 + spacing_m * np.arange(n_lines)
    pts = []
    for i, x in enumerate(xs):
        ys = (y_min, y_max) if i % 2 == 0 else (y_max, y_min)
        pts += [(x, ys[0], z_m), (x, ys[1], z_m)]
    return np.array(pts, dtype=np.float64), spacing_m / 2.0


# --- mission plans --------------------------------------------------------------------------

RELOCATE_BEYOND_M = 5000.0
"""A plan whose home is farther than this from the scene origin is moved onto the scene."""


@dataclass(frozen=True)
class PlanWaypoint:
    """One positional mission item; ``altitude`` is ``relative``, ``amsl`` or ``terrain``."""

    lat_deg: float
    lon_deg: float
    alt_m: float
    altitude: str
    command: int
    item_index: int = -1
    """Index of the item in the plan's flat mission (for its camera items)."""


@dataclass(frozen=True)
class MissionPlan:
    """The positional content of a mission file (read by :mod:`drone_missions.plan`)."""

    source: str
    format: str
    home: tuple[float, float, float] | None
    """Planned home (lat, lon, AMSL altitude) if the file states one."""
    waypoints: tuple[PlanWaypoint, ...]
    speed_m_s: float | None
    ignored: dict[str, int]
    """Items that do not move the vehicle (camera, speed, ROI...), LAND and RTL, by name."""
    mission: Any = None
    """The :class:`drone_missions.plan.Plan` itself (its camera items fire the camera)."""


def read_plan(path: str | os.PathLike[str]) -> MissionPlan:
    """Read a QGroundControl ``.plan`` or a ``QGC WPL 110`` file through the one plan
    model, :mod:`drone_missions.plan` (Survey, StructureScan and CorridorScan expand to
    their items). Positional items in frames GLOBAL / GLOBAL_RELATIVE_ALT /
    GLOBAL_TERRAIN_ALT (and _INT) and QGC's above-terrain modes make the path; the other
    items are counted; LAND and RTL end nothing (the path ends at the last waypoint). A
    plan with fewer than two positional items, or one in another frame, is refused."""
    from drone_missions.plan import PlanError, path_points
    from drone_missions.plan import read_plan as read_mission

    file = FilePath(path)
    try:
        mission = read_mission(file)
        points, others = path_points(mission)
    except PlanError as err:
        raise SimulatorError(str(err)) from None
    items = mission.mission_items()
    if not points:  # a drift plan: waypoints in the local mine frame (the scene's ENU)
        from drone_missions.plan import FRAME_LOCAL_ENU

        local = [
            PlanWaypoint(
                _num(it.params[4]), _num(it.params[5]), _num(it.params[6]), "local", it.command, i
            )
            for i, it in enumerate(items)
            if it.frame == FRAME_LOCAL_ENU and it.params[4] is not None
        ]
        if len(local) >= 2:
            rest = {k: v for k, v in others.items() if k != "NAV_WAYPOINT"}
            if others.get("NAV_WAYPOINT", 0) > len(local):
                rest["NAV_WAYPOINT"] = others["NAV_WAYPOINT"] - len(local)
            return MissionPlan(str(file), "local-enu", None, tuple(local), None, rest, mission)
    for p in points:
        if p.altitude_ref == "none":
            frame = items[p.item_index].frame
            raise SimulatorError(
                f"{file}: item {p.item_index}: MAV_FRAME {frame} is not supported "
                "(use 0, 3, 5, 6, 10, 11)"
            )
    if len(points) < 2:
        raise SimulatorError(
            f"{file}: the plan has {len(points)} positional waypoint(s); a path needs 2"
        )
    waypoints = tuple(
        PlanWaypoint(p.lat_deg, p.lon_deg, p.alt_m, p.altitude_ref, p.command, p.item_index)
        for p in points
    )
    speed = mission.hover_speed_m_s if mission.file_format == "qgc-plan" else None
    return MissionPlan(str(file), mission.file_format, mission.home, waypoints, speed, others,
                       mission)  # fmt: skip


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


def plan_waypoints_enu(plan: MissionPlan, scene: Scene) -> tuple[F64Array, dict[str, object]]:
    """The plan's waypoints in the scene's local ENU, and how they were placed.

    A plan made within ``RELOCATE_BEYOND_M`` of the scene origin is flown where it is:
    AMSL altitudes exactly (the scene's heights are ellipsoidal, as its ``dem.tif``),
    relative ones above the plan's home (or ``scene.home_enu`` without one). One made
    elsewhere (e.g. QGC's samples) is moved so its home lands on ``scene.home_enu``,
    keeping every waypoint's east/north offset and height above home. Terrain altitudes
    are above the scene's surface under the waypoint (underground: above home). A drift
    plan in the local frame (``smartmine plan drift``) is the scene's ENU already.
    """
    from smartmine.geodesy import LocalEnu

    if plan.format == "local-enu":
        xyz = np.array([[w.lat_deg, w.lon_deg, w.alt_m] for w in plan.waypoints])
        return xyz, {
            "file": plan.source,
            "format": plan.format,
            "waypoints": len(plan.waypoints),
            "relocated": False,
            "ignored_items": plan.ignored,
            "speed_m_s": plan.speed_m_s,
        }
    first = plan.waypoints[0]
    home = plan.home if plan.home is not None else (first.lat_deg, first.lon_deg, 0.0)
    lat = np.array([w.lat_deg for w in plan.waypoints])
    lon = np.array([w.lon_deg for w in plan.waypoints])
    alt = np.array([w.alt_m for w in plan.waypoints])
    hx, hy, hz = scene.origin.from_wgs84(home[0], home[1], home[2])
    home_dist = math.hypot(float(hx), float(hy))
    relocated = home_dist > RELOCATE_BEYOND_M
    if relocated:
        frame = LocalEnu(home[0], home[1], home[2])
        east, north, _ = frame.from_wgs84(lat, lon, np.full_like(lat, home[2]))
        x = east + scene.home_enu[0]
        y = north + scene.home_enu[1]
        base = float(scene.home_enu[2])
        amsl_z = base + alt - home[2]
    else:
        x, y, amsl_z = scene.origin.from_wgs84(lat, lon, alt)
        base = float(hz) if plan.home is not None else float(scene.home_enu[2])
    z = np.empty_like(alt)
    for i, w in enumerate(plan.waypoints):
        if w.altitude == "relative" or (w.altitude == "terrain" and scene.underground):
            z[i] = base + w.alt_m
        elif w.altitude == "amsl":
            z[i] = amsl_z[i]
        else:
            ground = float(scene.surface_height(np.array([x[i]]), np.array([y[i]]))[0])
            z[i] = (ground if math.isfinite(ground) else base) + w.alt_m
    info: dict[str, object] = {
        "file": plan.source,
        "format": plan.format,
        "waypoints": len(plan.waypoints),
        "home_wgs84": list(home),
        "relocated": relocated,
        "home_distance_from_origin_m": home_dist,
        "ignored_items": plan.ignored,
        "speed_m_s": plan.speed_m_s,
    }
    return np.stack([x, y, z], axis=1), info


def plan_photo_positions(plan: MissionPlan, waypoints_enu: F64Array) -> F64Array:
    """Where the plan's camera items fire (``drone_missions.plan.camera_photos``) along
    its straight legs in the scene's ENU; (0, 3) when it has no camera items."""
    from drone_missions.plan import camera_photos

    if plan.mission is None:
        return np.zeros((0, 3))
    items = plan.mission.mission_items()
    points: list[tuple[float, float, float] | None] = [None] * len(items)
    for w, p in zip(plan.waypoints, waypoints_enu, strict=True):
        if 0 <= w.item_index < len(items):
            points[w.item_index] = (float(p[0]), float(p[1]), float(p[2]))
    photos = camera_photos(items, points)
    return np.array([ph.position for ph in photos], dtype=np.float64).reshape(-1, 3)


def photo_times_s(trajectory: Trajectory, positions: F64Array, step_m: float = 0.05) -> F64Array:
    """The times the trajectory passes the photo positions, in order along the path
    (the nearest path point at or after the previous photo's)."""
    path = trajectory.path
    grid = np.linspace(0.0, path.length, max(2, math.ceil(path.length / step_m) + 1))
    pos, _ = path.evaluate(grid)
    s_photo = np.empty(len(positions))
    start = 0
    for k, p in enumerate(positions):
        d = np.linalg.norm(pos[start:] - p, axis=1)
        j = start + int(np.argmin(d))
        s_photo[k] = grid[j]
        start = j
    return trajectory.time_at_arc_length(s_photo)


def plan_photo_times(plan: MissionPlan | None, scene: Scene, trajectory: Trajectory) -> F64Array:
    """Camera frame times where the plan's camera items fire along the flown trajectory
    (empty without a plan or camera items): a planned survey yields its photos."""
    if plan is None:
        return np.zeros(0)
    waypoints, _ = plan_waypoints_enu(plan, scene)
    positions = plan_photo_positions(plan, waypoints)
    if not len(positions):
        return np.zeros(0)
    return photo_times_s(trajectory, positions)


def check_clearance(scene: Scene, path: Path, clearance_m: float) -> None:
    """Refuse a path that goes into the ground (pit) or leaves the drift."""
    n = max(2, math.ceil(path.length / 2.0) + 1)
    s = np.linspace(0.0, path.length, n)
    pos, _ = path.evaluate(s)
    if scene.underground:
        bad = ~scene.is_inside(pos)
    else:
        ground = scene.surface_height(pos[:, 0], pos[:, 1])
        bad = pos[:, 2] < np.nan_to_num(ground, nan=-1e9) + clearance_m
    if np.any(bad):
        k = int(np.argmax(bad))
        lat, lon, _ = scene.origin.to_wgs84(pos[k, 0], pos[k, 1], pos[k, 2])
        what = (
            "leaves the drift"
            if scene.underground
            else (f"comes within {clearance_m:g} m of the ground")
        )
        raise SimulatorError(
            f"the path {what} {s[k]:.0f} m along it (local ENU {pos[k, 0]:.1f}, "
            f"{pos[k, 1]:.1f}, {pos[k, 2]:.1f} m; lat {float(lat):.6f}, lon {float(lon):.6f})"
        )
