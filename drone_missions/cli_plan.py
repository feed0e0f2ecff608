"""``smartmine plan ...`` handlers: read the inputs, plan or check, print, write atomically."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from drone_missions.check import check_local_plan, check_plan, is_local_plan
from drone_missions.cli_common import (
    EXIT_UNSAFE,
    fences_from_args,
    latlon_arg,
    limits_from_args,
    load_dem,
    print_check,
)
from drone_missions.coverage import coverage, coverage_shortfalls, footprints
from drone_missions.dem import Dem
from drone_missions.errors import MissionError
from drone_missions.export import features, write_geojson, write_kml, write_png
from drone_missions.inputs import load_camera, read_area, read_polyline
from drone_missions.plan import Plan, describe, read_plan, require_number, write_plan
from drone_missions.planners import (
    CorridorRequest,
    FacadeRequest,
    centerline_from_map,
    drift_plan,
    keep_clearance,
    plan_corridor,
    plan_facade,
    read_centerline_csv,
    read_map_points,
    resample,
)
from drone_missions.route import plan_route
from drone_missions.survey import SurveyRequest, plan_survey
from smartmine.atomic import write_text_atomic
from smartmine.paths import check_output_path


def survey_command(args: argparse.Namespace) -> int:
    area, note = read_area(args.area)
    camera = load_camera(args.camera)
    angle = _angle_arg(args.angle)
    limits = limits_from_args(args)
    fences = fences_from_args(args)
    check_output_path(args.out, "--out", folder=False)
    dem = load_dem(args)
    if note:
        print(note)
    req = SurveyRequest(
        polygon=tuple(area),
        camera=camera,
        altitude_agl_m=args.altitude_agl_m,
        gsd_cm_px=args.gsd_cm,
        front_overlap=args.front_overlap,
        side_overlap=args.side_overlap,
        angle_deg=angle,  # type: ignore[arg-type]
        crosshatch=args.crosshatch,
        turnaround_m=args.turnaround_m,
        home=latlon_arg(args.home, "--home"),
        speed_m_s=args.speed_m_s,
        max_climb_m_s=args.max_climb_m_s,
        max_descent_m_s=args.max_descent_m_s,
        max_agl_m=args.max_agl_m,
        min_clearance_m=limits.min_clearance_m,
    )
    result = plan_survey(req, dem)
    calc = result.calc
    print(
        f"{camera.name}: GSD {calc.gsd_cm_px:.2f} cm/px at {calc.distance_m:.1f} m; footprint "
        f"{calc.footprint_side_m:.1f} x {calc.footprint_frontal_m:.1f} m; line spacing "
        f"{calc.line_spacing_m:.2f} m; trigger every {calc.trigger_distance_m:.2f} m; "
        f"{len(result.transects)} transects at {result.angle_deg:g} deg; "
        f"~{result.camera_shots} photos"
    )
    report = check_plan(result.plan, dem, fences=fences, limits=limits)
    print_check(report)
    cov = coverage(plan_route(result.plan, dem), camera, list(req.polygon), dem)
    print(
        f"coverage: {cov['covered_fraction']:.1%} of the area, {cov['photos']} photos, "
        f"overlap forward {cov['min_forward_overlap']:.3f} side {cov['min_side_overlap']:.3f} (min)"
    )
    shortfalls = coverage_shortfalls(cov, req.front_overlap, req.side_overlap)
    for line in shortfalls:
        print(f"COVERAGE {line}")
    if shortfalls:
        print(f"not written: {args.out} (the survey does not achieve the requested coverage)")
        return EXIT_UNSAFE
    if not report.ok:
        if dem is not None and any(v.rule == "max-agl" for v in report.violations):
            print(
                "hint: the terrain falls faster than --max-descent-m-s allows at --speed-m-s "
                f"({args.max_descent_m_s:g} m/s at {args.speed_m_s:g} m/s); fly slower or "
                "descend faster"
            )
        print(f"not written: {args.out} (the plan fails the check)")
        return EXIT_UNSAFE
    write_plan(result.plan, args.out)
    summary = {
        "config": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k != "handler"
        },
        "camera": camera.__dict__,
        "camera_calc": calc.__dict__,
        "angle_deg": result.angle_deg,
        "entry_location": result.entry_location,
        "transects": len(result.transects),
        "camera_shots_qgc": result.camera_shots,
        "items": len(result.plan.mission_items()),
        "coverage": cov,
        "check": report.stats,
    }
    write_text_atomic(
        args.out.with_name(args.out.name + ".json"), json.dumps(summary, indent=2) + "\n"
    )
    print(f"wrote {args.out}")
    return 0


def _angle_arg(text: str) -> float | str:
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise MissionError(f"--angle {text!r}: expected degrees (0-360) or auto") from None


def _home_on_dem(plan: Plan, dem: Dem | None) -> Plan:
    """With a DEM, the plan's home altitude is the DEM's at home (not 0)."""
    if dem is None or plan.home is None:
        return plan
    ground = float(dem.height_amsl(plan.home[0], plan.home[1]))
    if not np.isfinite(ground):
        raise MissionError(
            f"home ({plan.home[0]:.7f}, {plan.home[1]:.7f}) lies outside the DEM {dem.path}"
        )
    return replace(plan, home=(plan.home[0], plan.home[1], ground))


def check_command(args: argparse.Namespace) -> int:
    plan = read_plan(args.plan)
    limits = limits_from_args(args)
    if args.json is not None:
        check_output_path(args.json, "--json", folder=False)
    if is_local_plan(plan):
        if args.dem is not None:
            raise MissionError(
                f"{args.plan}: a local-frame (drift) plan cannot be checked against a DEM; "
                "give --map MAP.ply"
            )
        cloud = read_map_points(args.map) if args.map is not None else None
        clearance = args.min_clearance_m if args.min_clearance_m is not None else 1.0
        report = check_local_plan(plan, cloud, min_clearance_m=clearance, limits=limits)
        checked = report.stats["map"]["checked"]
    else:
        if args.map is not None:
            raise MissionError(f"{args.plan}: --map is for local-frame (drift) plans; use --dem")
        report = check_plan(plan, load_dem(args), fences=fences_from_args(args), limits=limits)
        checked = report.stats.get("terrain", {}).get("checked")
    print_check(report)
    if args.json is not None:
        doc = {
            "plan": str(args.plan),
            "ok": report.ok,
            "terrain_checked": bool(checked),
            "warnings": report.warnings,
            "violations": [v.__dict__ for v in report.violations],
            "stats": report.stats,
        }
        write_text_atomic(args.json, json.dumps(doc, indent=2) + "\n")
    if report.ok:
        print(f"{args.plan}: OK" + ("" if checked else " (terrain clearance NOT checked)"))
        return 0
    print(f"{args.plan}: {len(report.violations)} violation(s)")
    return EXIT_UNSAFE


def export_command(args: argparse.Namespace) -> int:
    if not (args.geojson or args.kml or args.png):
        raise MissionError("give at least one of --geojson, --kml, --png")
    for option, out in (("--geojson", args.geojson), ("--kml", args.kml), ("--png", args.png)):
        if out is not None:
            check_output_path(out, option, folder=False)
    plan = read_plan(args.plan)
    dem = load_dem(args)
    route = plan_route(plan, dem)
    prints = footprints(route, load_camera(args.camera), dem) if args.camera else None
    report = check_plan(plan, dem, fences=fences_from_args(args), limits=limits_from_args(args))
    feats = features(plan, route, prints, report)
    for out, writer in ((args.geojson, write_geojson), (args.kml, write_kml)):
        if out is not None:
            writer(out, feats)
            print(f"wrote {out}")
    if args.png is not None:
        write_png(args.png, plan, route, dem, prints, report)
        print(f"wrote {args.png}")
    return 0


def show_command(args: argparse.Namespace) -> int:
    print(describe(read_plan(args.plan)))
    return 0


def _check_and_write(plan: Plan, args: argparse.Namespace, info: dict[str, Any]) -> int:
    limits = limits_from_args(args)
    fences = fences_from_args(args)
    check_output_path(args.out, "--out", folder=False)
    dem = load_dem(args)
    plan = _home_on_dem(plan, dem)
    report = check_plan(plan, dem, fences=fences, limits=limits)
    print_check(report)
    if not report.ok:
        print(f"not written: {args.out} (the plan fails the check)")
        return EXIT_UNSAFE
    write_plan(plan, args.out)
    info["check"] = report.stats
    write_text_atomic(
        args.out.with_name(args.out.name + ".json"), json.dumps(info, indent=2, default=str) + "\n"
    )
    print(f"wrote {args.out}")
    return 0


def facade_command(args: argparse.Namespace) -> int:
    req = FacadeRequest(
        line=tuple(read_polyline(args.line)),
        camera=load_camera(args.camera),
        standoff_m=args.standoff_m,
        bottom_m=args.bottom_m,
        top_m=args.top_m,
        front_overlap=args.front_overlap,
        side_overlap=args.side_overlap,
        gimbal_pitch_deg=args.gimbal_pitch_deg,
        side=args.side,
        home=latlon_arg(args.home, "--home"),
    )
    plan, info = plan_facade(req)
    print(
        f"facade: {int(info['passes'])} passes {info['pass_spacing_m']:.1f} m apart, photo every "
        f"{info['trigger_distance_m']:.1f} m, GSD {info['gsd_cm_px']:.2f} cm/px on the face"
    )
    return _check_and_write(plan, args, {"facade": info})


def corridor_command(args: argparse.Namespace) -> int:
    req = CorridorRequest(
        line=tuple(read_polyline(args.line)),
        camera=load_camera(args.camera),
        width_m=args.width_m,
        altitude_agl_m=args.altitude_agl_m,
        gsd_cm_px=args.gsd_cm,
        front_overlap=args.front_overlap,
        side_overlap=args.side_overlap,
        turnaround_m=args.turnaround_m,
        home=latlon_arg(args.home, "--home"),
    )
    plan, calc, n = plan_corridor(req)
    print(
        f"corridor: {n} transects {calc.line_spacing_m:.1f} m apart at {calc.distance_m:.1f} m, "
        f"GSD {calc.gsd_cm_px:.2f} cm/px, photo every {calc.trigger_distance_m:.1f} m"
    )
    return _check_and_write(plan, args, {"corridor": calc.__dict__, "transects": n})


def _xy(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise MissionError(f"{what} {text!r}: expected X,Y") from None


def drift_command(args: argparse.Namespace) -> int:
    src: Path = args.source
    require_number(args.spacing_m, "--spacing-m", low=0.0, low_open=True)
    require_number(args.clearance_m, "--clearance-m", low=0.0, low_open=True)
    if args.height_m is not None:
        require_number(args.height_m, "--height-m", low=-10_000.0, high=10_000.0)
    check_output_path(args.out, "--out", folder=False)
    cloud = None
    if src.suffix.lower() == ".ply":
        cloud = read_map_points(src)
        line = centerline_from_map(cloud, _xy(args.start, "--start"), _xy(args.goal, "--goal"))
    else:
        line = read_centerline_csv(src)
    if args.height_m is not None:  # CSV: z is the floor; map: above its floor level
        line = line.copy()
        if cloud is None:
            line[:, 2] += args.height_m
        else:
            line[:, 2] = float(np.percentile(cloud[:, 2], 5)) + args.height_m
    pts = resample(line, args.spacing_m)
    info: dict[str, Any] = {"source": str(src), "waypoints": len(pts)}
    if cloud is not None:
        pts, dmin = keep_clearance(pts, cloud, args.clearance_m)
        info["min_clearance_m"] = dmin
        print(f"drift: {len(pts)} waypoints, min clearance to the walls {dmin:.2f} m")
        if dmin < args.clearance_m - 1e-6:
            print(f"not written: {args.out} (clearance {dmin:.2f} m < {args.clearance_m:g} m)")
            return 2
    else:
        print(f"drift: {len(pts)} waypoints (no map given: clearance not checked)")

    write_plan(drift_plan(pts), args.out)
    write_text_atomic(
        args.out.with_name(args.out.name + ".json"), json.dumps(info, indent=2) + "\n"
    )
    print(f"wrote {args.out}")
    return 0
