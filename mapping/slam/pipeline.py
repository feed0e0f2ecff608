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

from mapping.products import (
    MineGridTie,
    ProductFrame,
    write_cloud_laz,
    write_cloud_ply,
    write_mesh,
)
from mapping.slam.errors import SlamError
from mapping.slam.evaluation import EvaluationResult
from mapping.slam.fusion import FusedMap, FusionConfig, fuse
from mapping.slam.georef import (
    AccelSamples,
    AnchorOptions,
    MarkerObservations,
    grid_of_control,
    grid_units_per_metre,
    read_control_points,
    tie_to_markers,
)
from mapping.slam.plots import plot_trajectory
from mapping.slam.sources import RgbdSource
from mapping.slam.system import FrameState, Slam, SlamConfig
from mapping.slam.trajectory import Trajectory, read_trajectory, write_tum
from smartmine.atomic import atomic_path
from smartmine.geodesy import MineGrid
from smartmine.geometry import make_transform
from smartmine.progress import progress
from smartmine.report import Report, Table, write_report


@dataclass
class RunOptions:
    slam: SlamConfig = field(default_factory=SlamConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    markers: Path | None = None
    anchors: AnchorOptions = field(default_factory=AnchorOptions)
    """Markers as pose-graph constraints (on by default; off = only a similarity fit)."""
    marker_dictionary: str = "DICT_4X4_50"
    ground_truth: Path | None = None
    rpe_delta: str = "1m"
    write_map: bool = True
    overwrite: bool = False
    # -- slamacc (issue 19) ------------------------------------------------------------
    mine_grid: MineGrid | None = None
    """The markers' grid tied to a projected CRS (None: an EPSG code of the markers file,
    else the ``mine_grid`` of a ``scene.json`` beside it, else unknown). Sets the grid's
    units per ground metre in the anchoring and the products' ``crs.json``."""


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
    grid = options.mine_grid or (grid_of_control(control) if control else None)
    anchors = options.anchors
    if control is not None and grid is not None and anchors.grid_scale is None:
        anchors = dataclasses.replace(anchors, grid_scale=grid_units_per_metre(grid, control))
    if options.ground_truth is not None:
        read_trajectory(options.ground_truth)  # a bad file fails now, not after the run
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
    georef = None
    marker_report: dict[str, Any] | None = None
    before_anchoring = None
    if control is not None:
        if options.ground_truth is not None and anchors.enabled:
            before_anchoring = _evaluate(slam, options)
        accel = _accelerometer(source) if anchors.tilt_sigma_deg > 0 else None
        georef, anchoring = tie_to_markers(slam, markers, control, anchors, accel)
        observed = markers.map_points({k.kf_id: k.pose for k in slam.keyframes})
        marker_report = {
            "file": str(options.markers),
            "sightings": len(markers.sightings),
            "markers_seen": sorted({k[0] for k in observed}),
            "fit": georef.summary() if georef else None,
            "pose_graph": anchoring,
            "grid_units_per_m": anchors.grid_scale,
            "grid": MineGridTie.of(grid).to_crs if grid is not None else None,
        }
        if georef is not None and "leave_one_out_m" in anchoring:
            marker_report["fit"]["leave_one_out_m"] = anchoring["leave_one_out_m"]
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
    evaluation = None
    if options.ground_truth is not None:
        evaluation = _evaluate(slam, options)
        report["evaluation"] = {"ground_truth": str(options.ground_truth), **evaluation.summary()}
        if before_anchoring is not None:
            report["evaluation"]["before_marker_anchors"] = {
                "ate_rmse_m": before_anchoring.ate_m.rmse,
                "rpe_trans_rmse_m": before_anchoring.rpe_trans_m.rmse,
                "rpe_rot_rmse_deg": before_anchoring.rpe_rot_deg.rmse,
            }
    if marker_report is not None:
        report["markers"] = marker_report
        if georef is not None:
            how = (
                "pose graph anchored to"
                if marker_report["pose_graph"].get("anchored")
                else "similarity fit on"
            )
            report["frame"] = f"{georef.crs} ({how} {len(georef.markers_used)} markers)"
            rigid = make_transform(georef.rotation, georef.translation)
            traj = traj.transformed(rigid, georef.scale)
            kf_traj = kf_traj.transformed(rigid, georef.scale)
        else:
            report["frame"] += " (too few markers for the mine-grid fit)"
    product_frame = _product_frame(georef.crs if georef is not None else None, grid)
    failed: list[str] = []
    """Degenerate results: the run still writes what it has, says this first, exits 2."""
    lost = int(report["status_counts"].get("lost", 0))
    if lost * 2 > report["frames"]:
        failed.append(
            f"tracking was lost on {lost} of {report['frames']} frames: the trajectory "
            "holds only the frames before each loss"
        )
    with atomic_path(out_dir, overwrite=options.overwrite) as tmp:
        tmp.mkdir()
        write_tum(tmp / "trajectory_tum.txt", traj)
        write_tum(tmp / "keyframes_tum.txt", kf_traj)
        floor = None
        if options.write_map:
            images = [(k.color_small, k.depth_small_mm, k.pose) for k in slam.keyframes]
            small_cam = source.camera.scaled(options.slam.map_scale)
            fused = fuse(images, small_cam, options.fusion)
            floor = fused.points.copy()  # local map frame, for the plot
            if georef is not None:
                scaled = georef.scale * georef.rotation
                fused.vertices = fused.vertices @ scaled.T + georef.translation
                fused.points = fused.points @ scaled.T + georef.translation
            if len(fused.triangles):
                _write_map(tmp, fused, product_frame)
            else:
                failed.append(_empty_map_reason(slam, options.fusion))
            report["map"] = {
                "vertices": len(fused.vertices),
                "triangles": len(fused.triangles),
                "cloud_points": len(fused.points),
                "voxel_m": options.fusion.voxel_m,
                "chunks": fused.chunks,
                "frame": product_frame.to_dict(),
            }
        config = {
            "slam": dataclasses.asdict(options.slam),
            "fusion": dataclasses.asdict(options.fusion),
            "markers": str(options.markers) if options.markers else None,
            "ground_truth": str(options.ground_truth) if options.ground_truth else None,
        }
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
        if evaluation is not None:  # plot in the ground truth's frame
            if floor is not None:
                left = evaluation.alignment_matrix
                floor = evaluation.scale * floor @ left[:3, :3].T + left[:3, 3]
        elif georef is not None and floor is not None:
            floor = georef.scale * floor @ georef.rotation.T + georef.translation
        plot_trajectory(tmp / "trajectory.png", traj, evaluation, floor)
        if failed:
            report = {"failed": failed, **report}
        write_report(_report(report, config, tmp / "trajectory.png"), tmp)
    return RunResult(out_dir, report)


def _accelerometer(source: RgbdSource) -> AccelSamples | None:
    """The bag's accelerometer in the camera frame (None for sources without an IMU)."""
    path = getattr(source, "path", None)
    topic = getattr(source, "imu_topic", None)
    r_cam_imu = getattr(source, "R_cam_imu", None)
    if path is None or topic is None or r_cam_imu is None:
        return None
    from smartmine.bagio.reader import BagReader
    from smartmine.msgs import header_stamp_ns, imu_to_sample

    stamps, forces = [], []
    with BagReader(path) as bag:
        for msg in bag.messages([topic]):
            stamps.append(header_stamp_ns(msg.message))
            forces.append(imu_to_sample(msg.message).linear_acceleration_m_s2)
    if not stamps:
        return None
    return AccelSamples(
        np.array(stamps, dtype=np.int64), np.array(forces) @ np.asarray(r_cam_imu).T
    )


def _empty_map_reason(slam: Slam, fusion: FusionConfig) -> str:
    """Why TSDF fusion gave no surface, from the keyframes' depth images."""
    depths_m = [k.depth_small_mm[k.depth_small_mm > 0] * 1e-3 for k in slam.keyframes]
    valid = np.concatenate(depths_m) if depths_m else np.zeros(0)
    what = f"the map is empty: TSDF fusion of {len(slam.keyframes)} keyframes gave no surface"
    if not len(valid):
        return f"{what} (no keyframe has a valid depth pixel)"
    within = float(np.mean(valid <= fusion.depth_trunc_m))
    if within < 0.01:
        return (
            f"{what}: the depth is {float(np.median(valid)):.1f} m (median), beyond the "
            f"fusion's depth limit of {fusion.depth_trunc_m:g} m (an RGB-D camera's range); "
            "no mesh or cloud written"
        )
    return f"{what} ({within:.0%} of depth pixels within {fusion.depth_trunc_m:g} m)"


def _evaluate(slam: Slam, options: RunOptions) -> EvaluationResult:
    """ATE/RPE of the current keyframe poses against ``options.ground_truth``."""
    from mapping.slam.evaluation import evaluate

    assert options.ground_truth is not None
    stamps_ns, poses = slam.trajectory()
    traj = Trajectory(stamps_ns.astype(np.float64) * 1e-9, poses, "slam")
    gt = read_trajectory(options.ground_truth)
    return evaluate(traj, gt, alignment="se3", rpe_delta=options.rpe_delta)


def _product_frame(crs: str | None, grid: MineGrid | None) -> ProductFrame:
    """EPSG codes become the products' CRS; a named grid tied to a CRS is a mine grid
    with its transform; a grid without a tie, or no georeference, a local frame."""
    if crs is None:
        return ProductFrame(local_frame="SLAM map: first camera's optical frame")
    text = crs.strip().upper().removeprefix("EPSG:")
    if text.isdigit():
        return ProductFrame(crs=int(text))
    if grid is not None:
        return ProductFrame(local_frame=crs, mine_grid=MineGridTie.of(grid, crs))
    return ProductFrame(local_frame=f"{crs} (its tie to a CRS is unknown)")


def _write_map(folder: Path, fused: FusedMap, frame: ProductFrame) -> None:
    rgb = np.clip(fused.vertex_colors * 255, 0, 255).astype(np.uint8)
    origin = np.floor(fused.vertices.min(axis=0)) if len(fused.vertices) else np.zeros(3)
    local = dataclasses.replace(frame, origin=(origin[0], origin[1], origin[2]))
    for name in ("map_mesh.ply", "map_mesh.glb"):
        write_mesh(folder / name, fused.vertices - origin, fused.triangles, rgb, frame=local)
    cloud_rgb = np.clip(fused.point_colors * 255, 0, 255).astype(np.uint8)
    write_cloud_ply(folder / "map_cloud.ply", fused.points - origin, cloud_rgb, frame=local)
    write_cloud_laz(folder / "map_cloud.laz", fused.points, cloud_rgb, frame=frame)


def _report(data: dict[str, Any], config: dict[str, Any], figure: Path) -> Report:
    """The run's numbers as the core's Report (report.json + report.html)."""
    summary_keys = (
        "frames",
        "tracked_frames",
        "keyframes",
        "segments",
        "tracking_fps",
        "path_length_m",
        "frame",
    )
    summary = {k: data[k] for k in summary_keys}
    summary["loop_closures"] = len(data["loop_closures"])
    if "evaluation" in data:
        ev = data["evaluation"]
        summary["ate_rmse_m"] = ev["ate_m"]["rmse"]
        summary["rpe_trans_rmse_m"] = ev["rpe_trans_m"]["rmse"]
        summary["rpe_rot_rmse_deg"] = ev["rpe_rot_deg"]["rmse"]
    fit = (data.get("markers") or {}).get("fit")
    if fit:
        summary["marker_fit_rmse_m"] = fit["rmse_m"]
    sections = {
        "tracking": {
            "status_counts": data["status_counts"],
            # slamreal (issue 19): frames whose estimate the frames did not support
            "odometry_refused": data.get("odometry_refused", 0),
            "relocalisations_rejected": data.get("relocalisations_rejected", []),
            "tracking_fps": data["tracking_fps"],
            "total_s": data["total_s"],
            "source": data["source"],
        }
    }
    for key in ("evaluation", "markers", "map"):
        if data.get(key):
            sections[key] = data[key]
    tables = [
        Table(
            "Loop closures",
            ["keyframe", "matched keyframe", "feature inliers", "ICP rmse m", "correction m"],
            [
                [lc["kf_from"], lc["kf_to"], lc["inliers"], lc["rmse_m"], lc["correction_m"]]
                for lc in data["loop_closures"]
            ],
        )
    ]
    if fit:
        tables.append(
            Table(
                "Control markers",
                ["marker", "residual m", "used"],
                [[m, r, int(m) in fit["markers_used"]] for m, r in fit["residuals_m"].items()],
            )
        )
    notes = [f"Coordinates: {data['frame']}."]
    if data["status_counts"].get("lost"):
        notes.append(f"Tracking was lost on {data['status_counts']['lost']} frames.")
    if data["segments"] > 1:
        notes.append(
            f"Tracking restarted {data['segments'] - 1} time(s) in a new segment; "
            f"{len(data['segments_joined'])} joined to an older one by a loop closure "
            "(an unjoined segment's place in the map is a guess)."
        )
    return Report(
        failed=list(data.get("failed", [])),
        title="smartmine SLAM" + (" (FAILED)" if data.get("failed") else ""),
        summary=summary,
        sections=sections,
        tables=tables,
        figures={"Trajectory over the map's floor plan": figure},
        notes=notes,
        config=config,
    )
