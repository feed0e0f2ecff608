"""``smartmine fly``: check, upload, verify, arm, watch; p/r on the terminal, Ctrl-C or
SIGTERM return to launch."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from drone_missions.check import check_plan
from drone_missions.cli_common import fences_from_args, limits_from_args, load_dem
from drone_missions.flight import (
    EXIT_INTERRUPTED,
    EXIT_LINK_LOST,
    FlightConfig,
    FlightError,
    MissionFlight,
    Progress,
)
from drone_missions.plan import read_plan
from drone_missions.route import resolve_terrain


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


def _interrupt_on_stop_signals() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so both return the vehicle to launch.
    Set explicitly: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored, so `kill -INT` (or a supervisor's SIGTERM) would not bring it back."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def fly_command(args: argparse.Namespace) -> int:
    plan = read_plan(args.plan)
    if args.dem is not None:  # QGC's above-terrain items get their AMSL altitude
        plan = resolve_terrain(plan, load_dem(args))
    if not args.no_check:
        report = check_plan(
            plan, load_dem(args), fences=fences_from_args(args), limits=limits_from_args(args)
        )
        if not report.ok:
            lines = "; ".join(v.line() for v in report.violations[:5])
            raise FlightError(f"{args.plan} fails `plan check` ({lines}); not flying it")
    config = FlightConfig(
        connect=args.connect,
        timeout_s=args.timeout_s,
        link_loss_s=args.link_loss_s,
        min_battery=args.min_battery,
        require_gps=not args.no_gps,
    )
    flight = MissionFlight(plan, config)
    stop = threading.Event()
    _interrupt_on_stop_signals()
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
