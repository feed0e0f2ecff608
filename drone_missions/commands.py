"""``smartmine plan ...`` and ``smartmine fly ...``: argparse wiring; work loads when run."""

from __future__ import annotations

import argparse
from pathlib import Path


def _limits_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("safety limits")
    g.add_argument("--max-agl-m", type=float, default=120.0, help="max height above ground")
    g.add_argument("--max-amsl-m", type=float, help="max altitude above sea level")
    g.add_argument(
        "--min-clearance-m", type=float, help="min terrain clearance on every leg (default 10)"
    )
    g.add_argument("--max-distance-m", type=float, default=3000.0, help="max distance from home")
    g.add_argument(
        "--endurance-min", type=float, default=25.0, help="flight time of a full battery (min)"
    )
    g.add_argument("--reserve", type=float, default=0.25, help="battery left on landing (0.25)")
    g.add_argument("--fence", type=Path, help="extra geofence GeoJSON (properties.inclusion)")


def _dem_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dem", type=Path, help="terrain raster (GeoTIFF, ESRI ASCII grid; any CRS)")
    p.add_argument("--dem-crs", help="CRS of a DEM that states none (e.g. EPSG:4326)")
    p.add_argument(
        "--dem-vertical-uncertainty-m",
        type=float,
        help="the DEM's vertical uncertainty, added to the terrain in clearance checks "
        "(default: from its kind: SRTM 16 m, the simulator's dem.tif 1 m, a VERTICAL_UNCERTAINTY_M "
        "tag, otherwise 16 m)",
    )


def register_plan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = sub.add_parser(
        "plan",
        help="plan, check and export drone missions (QGroundControl .plan)",
        description="Plan survey, facade, corridor and drift missions; check them against "
        "fences, terrain and battery; export them to GeoJSON, KML and PNG.",
    )
    kinds = plan.add_subparsers(dest="plan_command", metavar="ACTION", required=True)

    s = kinds.add_parser(
        "survey",
        help="lawnmower survey of a polygon (QGC Survey), optionally terrain-following",
        description="Transects over AREA (GeoJSON or KML polygon) with QGroundControl's "
        "Survey maths; with --dem the route follows the terrain. The plan is written only "
        "if it passes `plan check`; a report (numbers, coverage, check) goes beside it.",
    )
    s.add_argument("area", type=Path, help="AREA.geojson or AREA.kml (polygon, WGS84)")
    s.add_argument("--camera", required=True, help="built-in camera name or camera.yaml")
    alt = s.add_mutually_exclusive_group(required=True)
    alt.add_argument("--gsd-cm", type=float, help="ground sample distance, cm/px")
    alt.add_argument("--altitude-agl-m", type=float, help="height above ground, m")
    s.add_argument("--front-overlap", type=float, default=0.8, help="0..1 (default 0.8)")
    s.add_argument("--side-overlap", type=float, default=0.7, help="0..1 (default 0.7)")
    s.add_argument("--angle", default="auto", help="transect angle, deg from north, or auto")
    s.add_argument("--crosshatch", action="store_true", help="second pass at +90 deg")
    s.add_argument("--turnaround-m", type=float, default=10.0, help="turnaround distance")
    s.add_argument("--home", help="launch point LAT,LON (default: the polygon's first vertex)")
    s.add_argument("--speed-m-s", type=float, default=5.0, help="survey speed")
    s.add_argument("--max-climb-m-s", type=float, default=3.0)
    s.add_argument("--max-descent-m-s", type=float, default=2.0)
    _dem_args(s)
    _limits_args(s)
    s.add_argument("--out", type=Path, required=True, help="mission.plan to write")
    s.set_defaults(handler=_survey)

    c = kinds.add_parser(
        "check",
        help="validate a mission: fences, altitudes, terrain clearance, range, battery, RTL",
        description="Every violation is listed with its item and numbers; exit 2 if any.",
    )
    c.add_argument("plan", type=Path, help="mission.plan or QGC WPL 110 file")
    _dem_args(c)
    c.add_argument(
        "--map",
        type=Path,
        help="drift map MAP.ply (cloud or mesh) to check a local-frame (drift) plan's "
        "clearance against (--min-clearance-m, default 1 m there)",
    )
    _limits_args(c)
    c.add_argument("--json", type=Path, help="write the check report as JSON")
    c.set_defaults(handler=_check)

    e = kinds.add_parser("export", help="GeoJSON / KML / PNG of a mission")
    e.add_argument("plan", type=Path)
    _dem_args(e)
    e.add_argument("--camera", help="camera, to draw the photo footprints")
    e.add_argument("--geojson", type=Path)
    e.add_argument("--kml", type=Path)
    e.add_argument("--png", type=Path)
    _limits_args(e)
    e.set_defaults(handler=_export)

    show = kinds.add_parser("show", help="list a mission's items")
    show.add_argument("plan", type=Path)
    show.set_defaults(handler=_show)

    _register_more(kinds)


def _register_more(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Facade, corridor and drift planners (see drone_missions.planners)."""
    f = kinds.add_parser(
        "facade", help="oblique passes along a pit wall or bench face (gimbal pitched)"
    )
    f.add_argument("line", type=Path, help="GeoJSON/KML LineString along the wall's foot or crest")
    f.add_argument("--standoff-m", type=float, required=True, help="distance from the face")
    f.add_argument("--bottom-m", type=float, required=True, help="lowest pass, m above home")
    f.add_argument("--top-m", type=float, required=True, help="highest pass, m above home")
    f.add_argument("--camera", required=True)
    f.add_argument("--front-overlap", type=float, default=0.8)
    f.add_argument("--side-overlap", type=float, default=0.7)
    f.add_argument("--gimbal-pitch-deg", type=float, default=-20.0)
    f.add_argument(
        "--side",
        choices=("left", "right"),
        default="left",
        help="side of the line (walking along it) the drone flies on",
    )
    f.add_argument("--home", help="LAT,LON (default: the line's first point)")
    _dem_args(f)
    _limits_args(f)
    f.add_argument("--out", type=Path, required=True)
    f.set_defaults(handler=_facade)

    c = kinds.add_parser("corridor", help="passes along a haul-road polyline (QGC CorridorScan)")
    c.add_argument("line", type=Path, help="GeoJSON/KML LineString (road centre line)")
    c.add_argument("--width-m", type=float, required=True, help="corridor width")
    c.add_argument("--camera", required=True)
    alt = c.add_mutually_exclusive_group(required=True)
    alt.add_argument("--gsd-cm", type=float)
    alt.add_argument("--altitude-agl-m", type=float)
    c.add_argument("--front-overlap", type=float, default=0.8)
    c.add_argument("--side-overlap", type=float, default=0.7)
    c.add_argument("--turnaround-m", type=float, default=10.0)
    c.add_argument("--home", help="LAT,LON (default: the line's first point)")
    _dem_args(c)
    _limits_args(c)
    c.add_argument("--out", type=Path, required=True)
    c.set_defaults(handler=_corridor)

    d = kinds.add_parser(
        "drift", help="GPS-denied waypoints along an underground drift (local mine frame)"
    )
    d.add_argument("source", type=Path, help="CENTERLINE.csv (x,y,z) or MAP.ply (cloud/mesh)")
    d.add_argument("--spacing-m", type=float, default=2.0, help="waypoint spacing")
    d.add_argument("--clearance-m", type=float, default=1.0, help="min distance to the walls")
    d.add_argument(
        "--height-m",
        type=float,
        help="flight height above the floor (CSV: z is then the floor; map: default mid-height)",
    )
    d.add_argument("--start", help="X,Y start point in the map frame (PLY input)")
    d.add_argument("--goal", help="X,Y goal point in the map frame (PLY input)")
    d.add_argument("--out", type=Path, required=True, help="drift mission .plan (local frame)")
    d.set_defaults(handler=_drift)


DEFAULT_CONNECT = "udpin://127.0.0.1:14540"
"""drone_missions.flight.DEFAULT_CONNECT (a test keeps them equal; not imported here so
that building the parser loads no flight code)."""


def register_fly(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fly = sub.add_parser(
        "fly",
        help="fly a mission through MAVSDK (upload, checks, arm, progress, RTL on Ctrl-C)",
        description="Upload the mission, its geofence and rally points and read all back, "
        "run pre-flight checks, arm, start, show progress; Ctrl-C or a lost link returns to "
        "launch. A drift plan (local frame) is flown GPS-denied with --vision-pose. "
        "Every argument and file is checked before anything connects.",
    )
    fly.add_argument("plan", type=Path, help="mission.plan or QGC WPL 110 file")
    fly.add_argument(
        "--connect",
        default=DEFAULT_CONNECT,
        help=f"MAVSDK connection URL (default {DEFAULT_CONNECT}: loopback, where PX4 SITL "
        "sends; a real vehicle: udpin://0.0.0.0:14550 or serial:///dev/ttyACM0:57600)",
    )
    fly.add_argument("--timeout-s", type=float, default=30.0, help="wait for the vehicle")
    fly.add_argument(
        "--link-loss-s", type=float, default=5.0, help="RTL after this long without telemetry"
    )
    fly.add_argument("--upload-only", action="store_true", help="upload and verify, do not fly")
    fly.add_argument("--no-gps", action="store_true", help="accept a local position only")
    fly.add_argument("--min-battery", type=float, default=0.5, help="min charge to arm (0..1)")
    fly.add_argument(
        "--no-check", action="store_true", help="fly without `plan check` (not recommended)"
    )
    fly.add_argument(
        "--no-terrain-check",
        action="store_true",
        help="run `plan check` without a DEM or drift map (terrain or wall clearance NOT checked)",
    )
    g = fly.add_argument_group("GPS-denied (drift plans, local frame)")
    g.add_argument(
        "--map",
        type=Path,
        help="drift map MAP.ply: the plan's wall clearance is checked against it before "
        "flying (--min-clearance-m, default 1 m)",
    )
    g.add_argument(
        "--vision-pose",
        metavar="POSES.tum|udp://IP:PORT",
        help="the drone's pose (t x y z qx qy qz qw, ENU/FLU), fed to PX4 as vision: a TUM "
        "file played at its stamps from take-off, or TUM lines received over UDP from a "
        "running SLAM; the flight lands if it stops",
    )
    g.add_argument("--vision-hz", type=float, default=30.0, help="vision rate (>= 30 Hz)")
    g.add_argument("--acceptance-m", type=float, default=0.5, help="waypoint reached within")
    g.add_argument(
        "--leg-timeout-s", type=float, default=60.0, help="give up a waypoint after this long"
    )
    _dem_args(fly)
    _limits_args(fly)
    fly.set_defaults(handler=_fly)


# -- handlers: loaded when run -------------------------------------------------------------
def _survey(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import survey_command

    return survey_command(args)


def _check(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import check_command

    return check_command(args)


def _export(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import export_command

    return export_command(args)


def _show(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import show_command

    return show_command(args)


def _facade(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import facade_command

    return facade_command(args)


def _corridor(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import corridor_command

    return corridor_command(args)


def _drift(args: argparse.Namespace) -> int:
    from drone_missions.cli_plan import drift_command

    return drift_command(args)


def _fly(args: argparse.Namespace) -> int:
    from drone_missions.cli_fly import fly_command

    return fly_command(args)
