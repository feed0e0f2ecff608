"""``smartmine sim open-pit|drift``: argparse wiring only; the simulator loads when run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser(
        "sim",
        help="simulate an open pit or an underground drift into a bag with ground truth",
        description="Render a procedural, georeferenced mine scene (UTM 44N) along a path "
        "into a ROS 2 bag (RGB, aligned depth, hyperspectral cubes, GNSS, IMU, TF) and "
        "write its ground truth beside it: trajectory (TUM), mesh (PLY), zone raster "
        "(GeoTIFF), marker coordinates (CSV), scene.json. Same seed, same bytes.",
    )
    scenes = sim.add_subparsers(dest="scene", metavar="SCENE", required=True)
    for name, text in (
        ("open-pit", "benched open pit with a haul ramp, zones and contamination (drone)"),
        ("drift", "underground drift with a bend, a junction and wall markers (robot)"),
    ):
        p = scenes.add_parser(name, help=text)
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.add_argument(
            "--frames",
            type=int,
            help="colour frames (default 120; with --rate: as many as cover the whole route)",
        )
        p.add_argument("--seed", type=int, help="scene and noise seed (default 0)")
        p.add_argument("--width", type=int, help="image width (default 640)")
        p.add_argument("--height", type=int, help="image height (default 480)")
        p.add_argument(
            "--rate",
            type=float,
            help="camera rate, Hz (default: frames spread over the whole path)",
        )
        p.add_argument(
            "--plan", type=Path, help="QGroundControl .plan or QGC WPL 110 mission to follow"
        )
        p.add_argument(
            "--config",
            type=Path,
            help="JSON file of configuration overrides (see scene.json 'config'); e.g. "
            '{"hsi": {"spectra": "library", "library": "s07_AV95_envi.hdr", "variants": 8, '
            '"brightness_sigma": 0.15, "distortion_rel": 0.03}} draws the zone spectra from '
            "another spectral library (other samples than the bundled ones) with variability",
        )
        p.add_argument("--overwrite", action="store_true", help="replace an earlier run in OUT")
        p.add_argument(
            "--front-overlap",
            type=float,
            help="open pit: fire the camera by distance for this front overlap (e.g. 0.8); "
            "the frame count follows",
        )
        p.add_argument(
            "--side-overlap", type=float, help="open pit: side overlap of the lines (e.g. 0.7)"
        )
        p.add_argument(
            "--survey-camera",
            metavar="NAME",
            help="render at a catalog survey camera's field of view and aspect "
            "(calibration.camera_model.SURVEY_CAMERAS, e.g. 'DJI Phantom 4 RTK'); --width "
            "(default 640) sets the reduced resolution, the height follows the aspect",
        )
        p.add_argument(
            "--export-images",
            type=Path,
            metavar="DIR",
            help="also write the colour frames as a drone image folder: JPEGs with the noisy "
            "GNSS fix in EXIF GPS, and an ODM gcp_list.txt of the visible markers (true "
            "coordinates and pixels) (simulator/export.py)",
        )
        p.add_argument(
            "--export-without-gps",
            action="store_true",
            help="with --export-images: leave GPS out of EXIF (GCP-only georeferencing)",
        )
        p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import math
    import time

    from simulator.config import MAX_FRAMES, apply_overrides, default_config
    from simulator.errors import SimulatorError
    from simulator.writer import finish_run, run_simulation
    from smartmine.cli import EXIT_WARNINGS
    from smartmine.paths import check_output_path

    for flag, number in (
        ("--rate", args.rate),
        ("--front-overlap", args.front_overlap),
        ("--side-overlap", args.side_overlap),
    ):
        if number is not None and not math.isfinite(number):
            raise SimulatorError(f"{flag} {number}: must be a finite number")
    config = default_config(args.scene)
    loaded_keys: set[str] = set()
    if args.config is not None:
        try:
            loaded = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except OSError as err:
            raise SimulatorError(f"cannot read --config {args.config}: {err.strerror}") from None
        except UnicodeDecodeError:
            raise SimulatorError(f"--config {args.config}: not a text (JSON) file") from None
        except json.JSONDecodeError as err:
            raise SimulatorError(f"--config {args.config}: invalid JSON: {err}") from None
        if not isinstance(loaded, dict):
            raise SimulatorError(f"--config {args.config}: expected a JSON object")
        loaded_keys = set(loaded)
        try:  # the file's own values first, so its errors name it
            config = apply_overrides(config, loaded)
        except SimulatorError as err:
            raise SimulatorError(f"--config {args.config}: {err}") from None
    overrides: dict[str, object] = {}
    if args.frames is not None:
        if args.frames < 1:
            raise SimulatorError(
                f"frames (--frames) must be 1..{MAX_FRAMES}, got {args.frames} (leave "
                "--frames out, with --rate, to cover the whole route)"
            )
        overrides["frames"] = args.frames
    elif args.rate is not None and args.rate > 0 and "frames" not in loaded_keys:
        overrides["frames"] = 0  # the whole route at that rate
    if args.seed is not None:
        overrides["seed"] = args.seed
    camera: dict[str, Any] = {}
    if args.width is not None:
        camera["width"] = args.width
    if args.height is not None:
        camera["height"] = args.height
    sensor = None
    if args.survey_camera:
        from calibration.camera_model import SURVEY_CAMERAS
        from simulator.config import survey_camera_overrides

        wanted = "".join(args.survey_camera.lower().split())
        sensor = next(
            (s for k, s in SURVEY_CAMERAS.items() if "".join(k.lower().split()) == wanted), None
        )
        if sensor is None:
            raise SimulatorError(
                f"--survey-camera: no built-in camera named {args.survey_camera!r} "
                f"(built in: {', '.join(SURVEY_CAMERAS)})"
            )
        camera.update(survey_camera_overrides(sensor, args.width, args.height))
    if args.rate is not None:
        camera["rate_hz"] = args.rate
    if camera:
        overrides["camera"] = camera
    if args.plan is not None:
        overrides["plan"] = str(args.plan)
    path: dict[str, Any] = {}
    if args.front_overlap is not None:
        path["frontlap"] = args.front_overlap
    if args.side_overlap is not None:
        path["sidelap"] = args.side_overlap
    if path:
        overrides["path"] = path
    config = apply_overrides(config, overrides)
    check_output_path(args.out, "--out")
    if args.export_images is not None:
        check_output_path(args.export_images, "--export-images")
    started = time.perf_counter()
    exporting = args.export_images is not None
    result = run_simulation(config, args.out, overwrite=args.overwrite, finish=not exporting)
    seconds = time.perf_counter() - started
    fallback = result.extras.get("hsi_fallback", ())
    if fallback:  # hsi.spectra: library without a sample of these zones' minerals
        print(
            f"warning: {config.hsi.library} holds no other sample for zone(s) "
            f"{', '.join(fallback)}: their spectra come from the bundled library "
            "(scene.json zones_from_bundled_library; hsi.unmatched: error stops instead)"
        )
    for topic, n in result.counts.items():
        print(f"{topic}: {n}")
    print(
        f"{config.scene}: {result.frames} frames over {result.path_length_m:.0f} m "
        f"({result.duration_s:.1f} s simulated) in {seconds:.1f} s -> {result.out_dir}"
    )
    print(_coverage_line(result.frames, config.camera.rate_hz, result.extras["path"]))
    if args.export_images is not None:
        from simulator.export import export_images

        try:
            exported = export_images(
                Path(args.out),
                args.export_images,
                with_gps=not args.export_without_gps,
                sensor=sensor,
            )
        finally:  # (a kill skips this: the next run redoes the unfinished one)
            finish_run(Path(args.out))
        print(
            f"exported {len(exported.images)} images ({exported.gps_images} with GPS), "
            f"{exported.gcp_observations} GCP observations of {exported.markers_seen} markers "
            f"-> {args.export_images}"
        )
    return EXIT_WARNINGS if fallback else 0


def _coverage_line(frames: int, rate_hz: float, path_info: dict[str, Any]) -> str:
    """How much of the route the frames cover (a rate with too few frames stops early)."""
    from simulator.simulation import route_coverage, route_frames

    duration_s = float(path_info.get("duration_s", 0.0))
    length_m = float(path_info.get("length_m", 0.0))
    share = route_coverage(frames, rate_hz, duration_s)
    if rate_hz <= 0 or frames >= route_frames(duration_s, rate_hz):
        return f"the frames cover the whole route ({length_m:.0f} m, {duration_s:.1f} s)"
    return (
        f"the frames cover {share:.0%} of the route ({share * duration_s:.1f} of "
        f"{duration_s:.1f} s at {rate_hz:g} Hz); leave out --frames to cover all of it"
    )
