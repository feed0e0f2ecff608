"""What ``smartmine plan`` and ``smartmine fly`` share: command-line values made into
library objects (DEM, limits, fences, LAT,LON) and the check's printout.

CLI layer only: the library modules (plan, check, flight, planners) never import it.
"""

from __future__ import annotations

import argparse
from typing import Any

EXIT_UNSAFE = 2


def latlon_arg(text: str | None, what: str) -> tuple[float, float] | None:
    from drone_missions.errors import MissionError

    if text is None:
        return None
    try:
        lat, lon = (float(v) for v in text.split(","))
    except ValueError:
        raise MissionError(f"{what} {text!r}: expected LAT,LON") from None
    return lat, lon


def load_dem(args: argparse.Namespace) -> Any:
    if getattr(args, "dem", None) is None:
        return None
    from drone_missions.dem import Dem

    return Dem.open(args.dem, args.dem_crs, getattr(args, "dem_vertical_uncertainty_m", None))


def limits_from_args(args: argparse.Namespace, min_clearance: float | None = None) -> Any:
    from drone_missions.check import Limits

    clearance = args.min_clearance_m
    if clearance is None:
        clearance = min_clearance if min_clearance is not None else 10.0
    return Limits(
        max_agl_m=args.max_agl_m,
        max_amsl_m=args.max_amsl_m,
        min_clearance_m=clearance,
        max_distance_m=args.max_distance_m,
        endurance_min=args.endurance_min,
        reserve=args.reserve,
    )


def fences_from_args(args: argparse.Namespace) -> tuple[Any, ...]:
    if args.fence is None:
        return ()
    from drone_missions.inputs import read_fences

    return tuple(read_fences(args.fence))


def print_check(report: Any) -> None:
    """The route's numbers, how terrain was checked (or that it was NOT), warnings and
    violations, one per line."""
    s = report.stats
    print(
        f"route: {s['horizontal_distance_m']:.0f} m, climb {s['climb_m']:.0f} m, "
        f"{s['turns']} turns, {s['flight_time_s'] / 60:.1f} min "
        f"({s['battery_used']:.0%} of the battery); max {s['max_distance_from_home_m']:.0f} m "
        "from home"
    )
    terrain = s.get("terrain") or {}
    if s.get("frame") == "local":
        drift_map = s.get("map") or {}
        print(
            f"map clearance: {_num(s.get('min_clearance_m'))} m min; {drift_map.get('method')}"
            if drift_map.get("checked")
            else "map clearance: NOT CHECKED (no map)"
        )
    elif terrain.get("checked"):
        home = s.get("home_amsl_m")
        stored = s.get("home_amsl_stored_m")
        print(
            f"terrain: clearance {_num(s.get('min_clearance_m'))} m min "
            f"({_num(s.get('min_clearance_interpolated_m'))} m above the interpolated DEM), "
            f"AGL {_num(s.get('max_agl_m'))} m max; method: {terrain.get('method')}"
        )
        print(
            f"home: {home:.1f} m AMSL from the DEM (the plan stores "
            + (f"{stored:.1f} m)" if stored is not None else "none)")
        )
    elif terrain:
        print(
            "terrain: NOT CHECKED (no DEM): heights above home "
            f"{_num(s.get('min_height_above_home_m'))} to "
            f"{_num(s.get('max_height_above_home_m'))} m"
        )
    for w in getattr(report, "warnings", []):
        print(f"WARNING {w}")
    for v in report.violations:
        print(f"VIOLATION {v.line()}")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
