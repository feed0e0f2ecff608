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
