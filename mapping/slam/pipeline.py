"""Offline SLAM run: source → SLAM → fused map → georeference → products and report.

``run(source, out_dir, options) -> Path`` (hloc style). Everything lands in a temporary
sibling of ``out_dir`` and is renamed into place only when complete. Products:
``trajectory_tum.txt`` (every tracked frame, camera optical frame, map or grid frame),
``keyframes_tum.txt``, ``map_mesh.ply``/``.glb``, ``map_cloud.ply``/``.laz``,
``report.json``/``report.html`` (+ ``trajectory.png``), ``config.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mapping.slam.errors import SlamError
from mapping.slam.fusion import FusionConfig, fuse
from mapping.slam.georef import MarkerObservations, fit_map_to_grid, read_control_points
from mapping.slam.sources import RgbdSource
from mapping.slam.system import FrameState, Slam, SlamConfig
from mapping.slam.trajectory import Trajectory, read_trajectory, write_tum
from smartmine.atomic import atomic_path
from smartmine.progress import progress


@dataclass
class RunOptions:
    slam: SlamConfig = field(default_factory=SlamConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    markers: Path | None = None
    marker_dictionary: str = "DICT_4X4_50"
    ground_truth: Path | None = None
    rpe_delta: str = "1m"
    write_map: bool = True
    overwrite: bool = False


@dataclass
class RunResult:
    out_dir: Path
    report: dict[str, Any]


def run(
    source: RgbdSource,
    out_dir: Path,
    options: RunOptions | None = None,
    on_frame: Callable[[FrameState], None] | None = None,
) -> RunResult:
    options = options or RunOptions()
    out_dir = Path(out_dir)
    if out_dir.exists() and not options.overwrite:
        raise SlamError(f"{out_dir} exists already (pass --overwrite to replace it)")
    control = read_control_points(options.markers) if options.markers else None
    slam = Slam(source.camera, options.slam)
    markers = MarkerObservations(options.marker_dictionary)
    started = time.perf_counter()
    track_s = 0.0
    for frame in progress(source, desc="slam", unit="frame"):
        t0 = time.perf_counter()
        state = slam.step(frame)
        track_s += time.perf_counter() - t0
        if state.status in ("keyframe", "relocalised", "new_segment") and control is not None:
            markers.detect(slam.keyframes[-1].kf_id, frame.color, frame.depth_m, source.camera)
        if on_frame is not None:
            on_frame(state)
    if not slam.frames:
        raise SlamError(f"{source.description}: no usable RGB-D frames")
    slam.finish()
    total_s = time.perf_counter() - started
    stamps_ns, poses = slam.trajectory()
    traj = Trajectory(stamps_ns.astype(np.float64) * 1e-9, poses, "slam")
    kf_traj = Trajectory(
        np.array([k.stamp_ns for k in slam.keyframes], dtype=np.float64) * 1e-9,
        np.array([k.pose for k in slam.keyframes]),
        "keyframes",
    )
    report: dict[str, Any] = {
        "source": source.description,
        "camera": dataclasses.asdict(source.camera),
        **slam.stats(),
        "tracked_frames": len(slam.frames),
        "tracking_fps": len(slam.states) / max(track_s, 1e-9),
        "total_s": total_s,
        "path_length_m": traj.path_length_m(),
        "frame": "local map frame (the first camera), not georeferenced",
    }
    georef = None
    if control is not None:
        observed = markers.map_points({k.kf_id: k.pose for k in slam.keyframes})
        georef = fit_map_to_grid(observed, control)
        report["markers"] = {
            "file": str(options.markers),
            "sightings": len(markers.sightings),
            "markers_seen": sorted({k[0] for k in observed}),
            "fit": georef.summary() if georef else None,
        }
        if georef is not None:
            report["frame"] = f"{georef.crs} (similarity fit on {len(georef.markers_used)} markers)"
            traj = traj.transformed(georef.matrix())
            kf_traj = kf_traj.transformed(georef.matrix())
        else:
            report["frame"] += " (too few markers for the mine-grid fit)"
    evaluation = None
    if options.ground_truth is not None:
        from mapping.slam.evaluation import evaluate

        gt = read_trajectory(options.ground_truth)
        evaluation = evaluate(traj, gt, alignment="se3", rpe_delta=options.rpe_delta)
        report["evaluation"] = {"ground_truth": str(options.ground_truth), **evaluation.summary()}
        if georef is not None:
            raw = evaluate(traj, gt, alignment="none", rpe_delta=options.rpe_delta)
            report["evaluation"]["ate_in_grid_without_alignment_m"] = dataclasses.asdict(raw.ate_m)
    with atomic_path(out_dir, overwrite=options.overwrite) as tmp:
        tmp.mkdir()
        write_tum(tmp / "trajectory_tum.txt", traj)
        write_tum(tmp / "keyframes_tum.txt", kf_traj)
        if options.write_map:
            images = [(k.color_small, k.depth_small_mm, k.pose) for k in slam.keyframes]
            small_cam = source.camera.scaled(options.slam.map_scale)
            fused = fuse(images, small_cam, options.fusion)
            if georef is not None:
                fused.vertices = (
                    fused.vertices @ (georef.scale * georef.rotation).T + georef.translation
                )
                fused.points = (
                    fused.points @ (georef.scale * georef.rotation).T + georef.translation
                )
            from mapping.slam.products import write_cloud, write_mesh

            write_mesh(tmp / "map_mesh.ply", fused)
            write_mesh(tmp / "map_mesh.glb", fused)
            write_cloud(tmp / "map_cloud.ply", fused)
            write_cloud(tmp / "map_cloud.laz", fused)
            report["map"] = {
                "vertices": len(fused.vertices),
                "triangles": len(fused.triangles),
                "cloud_points": len(fused.points),
                "voxel_m": options.fusion.voxel_m,
                "chunks": fused.chunks,
            }
            floor = fused.points
        else:
            floor = None
        from mapping.slam.report import write_report

        write_report(tmp, report, traj, evaluation, floor)
        config = {
            "slam": dataclasses.asdict(options.slam),
            "fusion": dataclasses.asdict(options.fusion),
            "markers": str(options.markers) if options.markers else None,
            "ground_truth": str(options.ground_truth) if options.ground_truth else None,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
    return RunResult(out_dir, report)
