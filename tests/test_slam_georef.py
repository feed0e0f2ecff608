"""Mine-grid georeferencing: control CSV reading, robust similarity, per-marker residuals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mapping.slam.errors import SlamError
from mapping.slam.georef import fit_map_to_grid, read_control_points


def write_markers(path: Path, grid: dict[tuple[int, int], np.ndarray]) -> None:
    lines = ["marker_id,corner,grid_x_m,grid_y_m,grid_z_m,easting_m,northing_m,height_m"]
    for (mid, corner), p in grid.items():
        lines.append(f"{mid},{corner},{p[0]:.4f},{p[1]:.4f},{p[2]:.4f},1,2,3")
    path.write_text("\n".join(lines) + "\n")


def test_fit_recovers_similarity_and_rejects_a_moved_marker(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    angle = np.radians(37.0)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    shift = np.array([10000.0, 20000.0, 1300.0])
    grid: dict[tuple[int, int], np.ndarray] = {}
    observed: dict[tuple[int, int], np.ndarray] = {}
    for mid in range(6):
        centre = np.array([mid * 15.0, (-1) ** mid * 2.0, 1.5])
        for corner, off in enumerate(
            [(-0.1, 0, 0.1), (0.1, 0, 0.1), (0.1, 0, -0.1), (-0.1, 0, -0.1)]
        ):
            local = centre + np.array(off)
            grid[(mid, corner)] = rot @ local + shift
            observed[(mid, corner)] = local + rng.normal(0, 0.01, 3)
    for corner in range(4):  # marker 4 was moved after the survey
        observed[(4, corner)] = observed[(4, corner)] + np.array([0.0, 2.0, 0.0])
    write_markers(tmp_path / "markers.csv", grid)
    control = read_control_points(tmp_path / "markers.csv")
    assert control.crs == "mine grid"
    fit = fit_map_to_grid(observed, control)
    assert fit is not None
    assert fit.markers_rejected == [4]
    assert fit.scale == pytest.approx(1.0, abs=0.002)
    assert fit.rmse_m < 0.03
    assert max(v for k, v in fit.residuals_m.items() if k != 4) < 0.04
    assert fit.residuals_m[4] > 1.0
    assert np.allclose(fit.rotation, rot, atol=0.01)


def test_too_few_markers_leave_the_map_local(tmp_path: Path) -> None:
    grid = {(0, c): np.array([c, 0.0, 0.0]) for c in range(4)}
    write_markers(tmp_path / "m.csv", grid)
    assert fit_map_to_grid({(0, 0): np.zeros(3)}, read_control_points(tmp_path / "m.csv")) is None


def test_bad_control_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x\nA,1\n")
    with pytest.raises(SlamError, match=r"bad\.csv"):
        read_control_points(bad)
    with pytest.raises(SlamError, match="no such markers file"):
        read_control_points(tmp_path / "none.csv")


def test_markers_in_the_pose_graph_remove_drift_and_reject_a_moved_marker(
    tmp_path: Path,
) -> None:
    """A 30 m keyframe chain whose odometry turns 0.2° too far at every step (1.5 m off at
    the end): tied to surveyed markers in the pose graph, the keyframes land within a
    few cm of the truth, and a marker moved after the survey is left out. The anchored
    graph measures the odometry's bias (0.4° per metre), and with it taken out the
    unanchored ends hold too."""
    from types import SimpleNamespace

    from mapping.slam.frame import Pinhole
    from mapping.slam.georef import MarkerObservations, tie_to_markers
    from mapping.slam.system import Slam
    from smartmine.geometry import invert_transform, make_transform, rot_z

    rng = np.random.default_rng(7)
    cam_to_body = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    truth = [make_transform(cam_to_body, [0.5 * i, 0.0, 1.0]) for i in range(61)]
    slam = Slam(Pinhole(640, 480, 500.0, 500.0, 319.5, 239.5))
    pose = truth[0].copy()
    keyframes = []
    for i, true_pose in enumerate(truth):
        if i:
            step = invert_transform(truth[i - 1]) @ true_pose
            step[:3, :3] = step[:3, :3] @ rot_z(np.radians(0.2))  # camera z-axis: yaw drift
            step = make_transform(cam_to_body.T @ rot_z(np.radians(0.2)) @ cam_to_body, step[:3, 3])
            pose = pose @ step
            edge_info = np.diag([1e5, 1e5, 1e5, 4e4, 4e4, 4e4])  # 3 mrad, 5 mm
            slam.edges.append((i, i - 1, step, edge_info, False))
        keyframes.append(SimpleNamespace(kf_id=i, pose=pose.copy()))
    slam.keyframes = keyframes  # type: ignore[assignment]
    grid: dict[tuple[int, int], np.ndarray] = {}
    for mid in range(6):  # markers every 5 m, alternating walls, facing back along the drift
        centre = np.array([4.0 + 5.0 * mid, 1.5 * (-1) ** mid, 1.5])
        for corner, (dy, dz) in enumerate(
            [(-0.15, 0.15), (0.15, 0.15), (0.15, -0.15), (-0.15, -0.15)]
        ):
            grid[(mid, corner)] = centre + np.array([0.0, dy, dz])
    observations = MarkerObservations()
    for kf, true_pose in enumerate(truth):
        for (mid, corner), q in grid.items():
            p = invert_transform(true_pose)[:3, :3] @ q + invert_transform(true_pose)[:3, 3]
            if 1.5 < p[2] < 4.5:
                noisy = p + rng.normal(0.0, 0.002, 3)
                observations.sightings.append((kf, mid, corner, noisy, float(p[2])))
    surveyed = dict(grid)
    for corner in range(4):  # marker 3 was moved 1 m after the survey
        surveyed[(3, corner)] = grid[(3, corner)] + np.array([0.0, 0.0, 1.0])
    write_markers(tmp_path / "markers.csv", surveyed)
    control = read_control_points(tmp_path / "markers.csv")

    def position_error(to_grid: np.ndarray, from_x: float = -1.0, to_x: float = 99.0) -> float:
        """Worst keyframe position error in the grid frame (between x limits)."""
        return max(
            float(np.linalg.norm(to_grid[:3, :3] @ k.pose[:3, 3] + to_grid[:3, 3] - t[:3, 3]))
            for k, t in zip(keyframes, truth, strict=True)
            if from_x <= t[0, 3] <= to_x
        )

    assert position_error(truth[0]) > 1.0  # the first keyframe at its true place
    fit, info = tie_to_markers(slam, observations, control)
    assert fit is not None and info["anchored"]
    assert 3 not in fit.markers_used and 3 in fit.markers_rejected
    assert fit.markers_used == [0, 1, 2, 4, 5]
    assert fit.rmse_m < 0.02
    # the odometry's bias, measured on the anchored graph: 0.4° per metre about the
    # camera's y axis (the body's yaw)
    bias = info["odometry_bias_per_m"]
    assert np.allclose(bias["rotation_deg"], [0.0, 0.4, 0.0], atol=0.02)
    assert np.allclose(bias["translation_mm"], 0.0, atol=0.5)
    # taken out, the keyframes between the first and the last marker are within 1 cm
    # and the ends, where a single marker holds the chain, within 2 cm (without the
    # correction: 1.8 and 7.5 cm)
    assert position_error(fit.matrix(), from_x=4.0, to_x=29.0) < 0.01
    assert position_error(fit.matrix()) < 0.02
    # left out of the graph, each marker is still found within 1 cm (without the
    # correction the end markers, extrapolated, were 0.12-0.21 m off)
    assert max(info["leave_one_out_m"].values()) < 0.01
