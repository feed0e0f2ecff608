"""One simulation's inputs, built once and shared by every product writer: the scene, the
vehicle's trajectory, the renderer, the sensor rig and the clocks of every stream."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.config import SimConfig
from simulator.hsi import HsiRender
from simulator.render import FrameRender, Renderer
from simulator.scene import Scene
from simulator.sensors import Rig
from simulator.trajectory import (
    MissionPlan,
    Trajectory,
    check_clearance,
    plan_photo_times,
    plan_waypoints_enu,
    read_plan,
)
from simulator.trajectory import Path as FlightPath

F64Array = npt.NDArray[np.float64]

TF_RATE_HZ = 20.0
"""Rate of the ground-truth map -> base_link transform on /tf and in the TUM file."""
PLAN_CLEARANCE_M = 2.0
"""A mission plan's path must stay this far above the pit's surface."""


def build_scene(config: SimConfig) -> Scene:
    """The scene of ``config`` (deterministic for its seed)."""
    if config.scene == "open-pit":
        from simulator.scene_pit import build_pit

        return build_pit(config)
    from simulator.scene_drift import build_drift

    return build_drift(config)


def build_trajectory(
    config: SimConfig, scene: Scene, plan: MissionPlan | None = None
) -> tuple[Trajectory, dict[str, Any]]:
    """The vehicle's trajectory: the mission plan's path, or the scene's built-in one."""
    speed = config.path.speed_m_s
    if config.plan and plan is None:
        plan = read_plan(config.plan)
    if plan is not None:
        waypoints, info = plan_waypoints_enu(plan, scene)
        if plan.speed_m_s is not None and not scene.underground:
            speed = plan.speed_m_s
        path = FlightPath(waypoints, config.path.corner_radius_m)
        check_clearance(scene, path, PLAN_CLEARANCE_M if not scene.underground else 0.0)
        info["source"] = "plan"
    else:
        path = FlightPath(scene.default_waypoints, scene.default_corner_radius_m)
        info = {"source": "lawnmower survey" if scene.kind == "open-pit" else "drift centre-line"}
    trajectory = Trajectory(path, speed, config.path.accel_time_s)
    info.update(
        length_m=path.length,
        speed_m_s=trajectory.timing.speed_m_s,
        duration_s=trajectory.duration_s,
        waypoints_enu_m=[[round(float(v), 4) for v in w] for w in path.waypoints],
    )
    return trajectory, info


def stamps_ns(start_ns: int, t_s: F64Array) -> npt.NDArray[np.int64]:
    """Bag stamps (ns) of times ``t_s`` (s) after ``start_ns``."""
    return start_ns + np.rint(np.asarray(t_s) * 1e9).astype(np.int64)


def frame_times_s(config: SimConfig, duration_s: float) -> F64Array:
    """Camera frame times: at ``rate_hz`` from the start, or spread over the whole run."""
    n = config.frames
    index = np.arange(n, dtype=np.float64)
    if config.camera.rate_hz > 0:
        return np.asarray(index / config.camera.rate_hz, dtype=np.float64)
    return np.asarray((index + 0.5) * duration_s / n, dtype=np.float64)


def route_frames(duration_s: float, rate_hz: float) -> int:
    """Frames at ``rate_hz`` from the start that cover a route of ``duration_s``: the
    last one less than a frame period before its end."""
    return max(1, math.ceil(duration_s * rate_hz - 1e-9))


def route_coverage(frames: int, rate_hz: float, duration_s: float) -> float:
    """Share of a route of ``duration_s`` that ``frames`` at ``rate_hz`` span (0..1);
    1 for frames spread over the route (``rate_hz`` 0)."""
    if rate_hz <= 0 or duration_s <= 0:
        return 1.0
    return min(1.0, (frames - 1) / rate_hz / duration_s)


def ticks(rate_hz: float, end_s: float) -> F64Array:
    """Times (s) on a whole-nanosecond grid at ``rate_hz`` from 0 to ``end_s``, so streams
    at related rates share exact stamps (every 5 Hz GNSS fix has a 20 Hz TF twin)."""
    period_ns = round(1e9 / rate_hz)
    stamps = np.arange(0, round(end_s * 1e9) + 1, period_ns, dtype=np.int64)
    return np.asarray(stamps / 1e9, dtype=np.float64)


def trigger_distance_m(config: SimConfig) -> float:
    """Distance between photos for ``path.frontlap``: the footprint's along-track length
    at rim level (vertical field of view, square pixels) × (1 - frontlap)."""
    cam = config.camera
    half_v = math.atan(math.tan(math.radians(cam.hfov_deg) / 2.0) * cam.height / cam.width)
    footprint_along = 2.0 * config.path.altitude_m * math.tan(half_v)
    return max(footprint_along * (1.0 - config.path.frontlap), 0.1)


def distance_trigger_times(trajectory: Trajectory, step_m: float) -> F64Array:
    """Times the trajectory has flown 0, step, 2·step, ... metres (camera fired by
    distance, as a survey drone's trigger-distance mode)."""
    s_photo = np.arange(0.0, trajectory.path.length + 1e-9, step_m, dtype=np.float64)
    return trajectory.time_at_arc_length(s_photo)


@dataclass(frozen=True)
class Clocks:
    """Times (s from the start) of every stream."""

    frame_t: F64Array
    imu_t: F64Array
    gnss_t: F64Array
    tf_t: F64Array
    end_s: float

    @classmethod
    def of(cls, config: SimConfig, duration_s: float, photo_t: F64Array | None = None) -> Clocks:
        """The streams' clocks; ``photo_t``, when given and not empty, are the colour
        frames (a plan's camera items fire the camera)."""
        frame_t = (
            photo_t if photo_t is not None and len(photo_t) else frame_times_s(config, duration_s)
        )
        end_s = max(duration_s, float(frame_t[-1]))
        return cls(
            frame_t,
            ticks(config.imu.rate_hz, end_s),
            ticks(config.gnss.rate_hz, end_s),
            ticks(TF_RATE_HZ, end_s),
            end_s,
        )


@dataclass
class Simulation:
    """Everything a run's products are written from."""

    config: SimConfig
    scene: Scene
    trajectory: Trajectory
    path_info: dict[str, Any]
    renderer: Renderer
    rig: Rig
    clocks: Clocks

    @classmethod
    def prepare(cls, config: SimConfig, plan: MissionPlan | None = None) -> Simulation:
        scene = build_scene(config)
        if config.plan and plan is None:
            plan = read_plan(config.plan)
        trajectory, path_info = build_trajectory(config, scene, plan)
        if config.frames == 0:  # the whole route at the camera's rate
            frames = route_frames(trajectory.duration_s, config.camera.rate_hz)
            config = replace(config, frames=frames)
        photo_t = plan_photo_times(plan, scene, trajectory)
        if len(photo_t):  # a planned survey yields the photos its flight would take
            path_info["camera"] = f"fired by the plan's camera items: {len(photo_t)} photos"
        elif config.path.frontlap > 0 and not scene.underground:
            step_m = trigger_distance_m(config)
            photo_t = distance_trigger_times(trajectory, step_m)
            path_info["camera"] = (
                f"fired by distance every {step_m:.2f} m (front overlap "
                f"{config.path.frontlap:.0%} at rim level): {len(photo_t)} photos"
            )
        renderer = Renderer(scene, config)
        rig = Rig.from_config(config)
        clocks = Clocks.of(config, trajectory.duration_s, photo_t)
        return cls(config, scene, trajectory, path_info, renderer, rig, clocks)

    @functools.cached_property
    def frame_poses(self) -> F64Array:
        """(frames, 4, 4) base_link in map at every colour frame."""
        return self.trajectory.matrices(self.clocks.frame_t)

    def render_frame(self, i: int) -> tuple[FrameRender, HsiRender | None]:
        """Colour frame ``i`` and, every ``hsi.every`` frames, its hyperspectral cube."""
        base = self.frame_poses[i]
        frame = self.renderer.render(base @ self.rig.base_from_optical, i)
        hsi = None
        if i % self.config.hsi.every == 0:
            if self.config.hsi.mode == "pushbroom":
                hsi = self.render_lines(i)
            else:
                hsi = self.renderer.render_hsi(base @ self.rig.base_from_hsi, i)
        return frame, hsi

    def render_lines(self, i: int) -> HsiRender:
        """Push-broom: ``hsi.height`` lines evenly over colour frame ``i``'s interval, each
        from the pose at its own time (stacked; offsets from the frame's stamp kept)."""
        hc = self.config.hsi
        t = self.clocks.frame_t
        interval = (
            float(t[i + 1] - t[i]) if i + 1 < len(t) else float(t[i] - t[i - 1]) if i else 0.1
        )
        offsets = np.arange(hc.height, dtype=np.float64) * interval / hc.height
        poses = self.trajectory.matrices(t[i] + offsets) @ self.rig.base_from_hsi
        lines = [
            self.renderer.render_hsi_line(pose, i * hc.height + k) for k, pose in enumerate(poses)
        ]
        return HsiRender(
            np.concatenate([line.cube for line in lines]),
            np.concatenate([line.fractions for line in lines]),
            np.round(offsets, 9),
        )
