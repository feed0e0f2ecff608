"""``smartmine fly``: check, upload, verify, arm, watch; p/r on the terminal, Ctrl-C or
SIGTERM return to launch. Drift plans (local frame) fly GPS-denied on ``--vision-pose``.

Every argument and input file is checked before anything connects: a bad input never
waits for a vehicle."""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from drone_missions.check import check_before_flight
from drone_missions.cli_common import fences_from_args, limits_from_args, load_dem
from drone_missions.errors import MissionError
from drone_missions.flight import (
    EXIT_INTERRUPTED,
    EXIT_LINK_LOST,
    EXIT_POSITION_LOST,
    FlightConfig,
    FlightError,
    MissionFlight,
    OffboardFlight,
    Progress,
    check_connect_url,
    fences_for_vehicle,
)
from drone_missions.plan import FRAME_LOCAL_ENU, FRAME_LOCAL_NED, Plan, read_plan
from drone_missions.planners import drift_points, read_map_points
from drone_missions.route import resolve_terrain
from drone_missions.vision_pose import PoseFeed, open_pose_feed

_LOCAL_FRAMES = (FRAME_LOCAL_NED, FRAME_LOCAL_ENU)


def _stdin_commands(flight: MissionFlight, stop: threading.Event) -> None:
    """``p`` pauses, ``r`` resumes, ``rtl`` returns, typed on the terminal."""
    for line in sys.stdin:
        if stop.is_set():
            return
        word = line.strip().lower()
        if word == "p":
            flight.pause()
        elif word == "r":
            flight.resume()
        elif word == "rtl":
            flight.return_to_launch()


@contextlib.contextmanager
def _interrupt_on_stop_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so both return the vehicle to launch.
    Set explicitly: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored, so `kill -INT` (or a supervisor's SIGTERM) would not bring it back.
    The handlers before are restored afterwards (the command may run inside a program)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


def _check_numbers(args: argparse.Namespace) -> None:
    """Numbers that would make the flight code wait forever or never arm: refused first."""
    for flag, value in (
        ("--timeout-s", args.timeout_s),
        ("--link-loss-s", args.link_loss_s),
        ("--vision-hz", args.vision_hz),
        ("--acceptance-m", args.acceptance_m),
        ("--leg-timeout-s", args.leg_timeout_s),
    ):
        if not (math.isfinite(value) and value > 0):
            raise MissionError(f"{flag} {value:g}: must be a positive number")
    if not (math.isfinite(args.min_battery) and 0.0 <= args.min_battery <= 1.0):
        raise MissionError(f"--min-battery {args.min_battery:g}: must be a fraction 0..1")
    if args.vision_hz < 30.0:
        raise MissionError(f"--vision-hz {args.vision_hz:g}: PX4 wants vision at 30 Hz or more")


def _is_local(plan: Plan, source: Path) -> bool:
    """A drift plan (every item in a local frame) or a global one; a mix is refused."""
    frames = {it.frame in _LOCAL_FRAMES for it in plan.mission_items()}
    if frames == {True, False}:
        raise MissionError(f"{source}: mixes local-frame and global items; cannot fly it")
    return frames == {True}


def fly_command(args: argparse.Namespace) -> int:
    _check_numbers(args)
    check_connect_url(args.connect)
    plan = read_plan(args.plan)
    if _is_local(plan, args.plan) or args.vision_pose is not None:
        return _fly_gps_denied(args, plan)
    dem = load_dem(args)
    if dem is not None:  # QGC's above-terrain items get their AMSL altitude
        plan = resolve_terrain(plan, dem)
    extra = fences_from_args(args)
    flown = fences_for_vehicle(plan, extra, str(args.fence))  # --fence goes up too
    if not args.no_check:
        check_before_flight(
            plan,
            dem=dem,
            fences=extra,
            limits=limits_from_args(args),
            unchecked_ground_ok=args.no_terrain_check,
        )
    config = FlightConfig(
        connect=args.connect,
        timeout_s=args.timeout_s,
        link_loss_s=args.link_loss_s,
        min_battery=args.min_battery,
        require_gps=not args.no_gps,
    )
    flight = MissionFlight(flown, config)  # items, fence and rally checked here, offline
    with _interrupt_on_stop_signals():
        return _fly_mission(flight, args)


def _fly_mission(flight: MissionFlight, args: argparse.Namespace) -> int:
    stop = threading.Event()
    try:
        flight.connect()
        flight.upload_and_verify()
        problems = flight.wait_preflight(min(10.0, args.timeout_s))
        if problems:
            raise FlightError("pre-flight checks failed: " + "; ".join(problems))
        if args.upload_only:
            return 0
        flight.arm_and_start()
        if sys.stdin.isatty():
            threading.Thread(target=_stdin_commands, args=(flight, stop), daemon=True).start()
            print("p + Enter: pause, r + Enter: resume, Ctrl-C: return to launch")

        def show(p: Progress) -> None:
            print(
                f"item {p.current}/{p.total}  {p.flight_mode.lower():<8} "
                f"{p.lat_deg:.7f} {p.lon_deg:.7f} {p.relative_alt_m:6.1f} m  "
                f"battery {p.battery:.0%}",
                flush=True,
            )

        outcome = flight.watch(show, stop)
        print(f"flight: {outcome}", flush=True)
        return {"done": 0, "link-lost": EXIT_LINK_LOST}.get(outcome, 1)
    except KeyboardInterrupt:
        stop.set()
        print("interrupted: returning to launch", flush=True)
        if flight.system is not None:
            flight.return_to_launch()
        return EXIT_INTERRUPTED
    finally:
        stop.set()
        flight.close()


def _fly_gps_denied(args: argparse.Namespace, plan: Plan) -> int:
    """A drift plan flown in the local frame: the vision pose fed to PX4, the waypoints
    as offboard setpoints, landing at the end or when the pose feed stops."""
    if args.vision_pose is None:
        raise MissionError(
            f"{args.plan}: a local-frame (GPS-denied) plan needs a pose: give --vision-pose"
        )
    if not _is_local(plan, args.plan):
        raise MissionError(
            f"{args.plan}: --vision-pose flies local-frame (drift) plans; this one is global"
        )
    for flag, value in (("--fence", args.fence), ("--dem", args.dem)):
        if value is not None:  # a safety option silently ignored would be worse
            raise MissionError(
                f"{args.plan}: {flag} {value} does not apply to a local-frame (drift) plan"
            )
    if not args.no_check:
        check_before_flight(
            plan,
            drift_map=read_map_points(args.map) if args.map is not None else None,
            drift_clearance_m=args.min_clearance_m if args.min_clearance_m is not None else 1.0,
            limits=limits_from_args(args),
            unchecked_ground_ok=args.no_terrain_check,
        )
    points = drift_points(plan)
    pose = open_pose_feed(args.vision_pose)  # a UDP feed listens from here on
    config = FlightConfig(
        connect=args.connect,
        timeout_s=args.timeout_s,
        link_loss_s=args.link_loss_s,
        min_battery=args.min_battery,
        require_gps=False,
    )
    flight = MissionFlight(Plan(entries=(), source=str(args.plan)), config)
    try:
        with _interrupt_on_stop_signals():
            return _fly_offboard(flight, pose, points, args)
    finally:
        pose.close()


def _fly_offboard(
    flight: MissionFlight,
    pose: PoseFeed,
    points: npt.NDArray[np.float64],
    args: argparse.Namespace,
) -> int:
    gps_denied: OffboardFlight | None = None
    try:
        flight.connect()
        gps_denied = OffboardFlight(flight.system, pose, vision_hz=args.vision_hz)
        pose.prime()  # the first pose while on the ground; played from take-off
        gps_denied.start_vision()
        _wait_for_pose(pose, args.timeout_s)
        problems = flight.wait_preflight(min(10.0, args.timeout_s))
        if problems:
            raise FlightError("pre-flight checks failed: " + "; ".join(problems))
        if args.upload_only:
            return 0
        gps_denied.set_target_enu(points[0])
        gps_denied.offboard.start()
        _arm(flight)
        pose.start()
        print(f"armed; flying {len(points)} drift waypoints offboard on the vision pose")
        seen_offboard = [False]

        def abort() -> str | None:
            if pose.ended():
                return "the vision pose feed stopped"
            mode = flight.telemetry.flight_mode().name
            seen_offboard[0] = seen_offboard[0] or mode == "OFFBOARD"
            if seen_offboard[0] and mode != "OFFBOARD":
                return f"the vehicle left offboard ({mode.lower()})"
            if flight.link_age_s() > flight.config.link_loss_s:
                return f"no telemetry for {flight.link_age_s():.1f} s"
            return None

        reached = gps_denied.fly_waypoints(
            points, args.acceptance_m, args.leg_timeout_s, abort=abort
        )
        print(f"reached {reached}/{len(points)} waypoints", flush=True)
        lost = pose.ended() and reached < len(points)
        if lost:
            print("vision pose lost: landing", flush=True)
        _land(flight, args.timeout_s)
        if reached == len(points):
            print("flight: done", flush=True)
            return 0
        print("flight: " + ("position-lost" if lost else "stopped"), flush=True)
        return EXIT_POSITION_LOST if lost else 1
    except KeyboardInterrupt:
        print("interrupted: landing", flush=True)  # underground: no way home without GPS
        if flight.system is not None:
            _land(flight, 0.0)
        return EXIT_INTERRUPTED
    finally:
        if gps_denied is not None:
            gps_denied.stop()
        flight.close()


def _wait_for_pose(pose: PoseFeed, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while pose() is None:
        if time.monotonic() > deadline:
            raise FlightError(
                f"no vision pose from {pose.source} within {timeout_s:g} s; not arming"
            )
        time.sleep(0.05)


def _arm(flight: MissionFlight) -> None:
    from mavsdk.plugins.action import ActionError

    try:
        flight.action.arm()
    except ActionError as err:
        raise FlightError(f"the vehicle refused to arm: {err}") from None


def _land(flight: MissionFlight, wait_s: float) -> None:
    """Command LAND (best effort) and wait up to ``wait_s`` for the vehicle to disarm."""
    from mavsdk.plugins.action import ActionError

    try:
        flight.action.land()
    except ActionError as err:
        print(f"LAND not acknowledged ({err})", flush=True)
        return
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and flight.telemetry.armed():
        time.sleep(0.1)
