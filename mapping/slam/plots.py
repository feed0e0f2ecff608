"""Figures of the SLAM report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from mapping.slam.evaluation import EvaluationResult
from mapping.slam.trajectory import Trajectory


def plot_trajectory(
    path: Path,
    traj: Trajectory,
    evaluation: EvaluationResult | None,
    floor: npt.NDArray[np.float64] | None,
) -> Path:
    """Top view: the map's points (floor plan) in grey, the trajectory, the ground truth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7))
    if floor is not None and len(floor):
        step = max(1, len(floor) // 60000)
        ax.scatter(floor[::step, 0], floor[::step, 1], s=0.2, c="0.75", label="map")
    if evaluation is not None:
        ref = evaluation.matched_ref.positions
        est = evaluation.aligned.positions
        ax.plot(ref[:, 0], ref[:, 1], "k--", lw=1, label="ground truth")
        ax.plot(est[:, 0], est[:, 1], "r-", lw=1, label="SLAM (aligned)")
        ax.set_title(
            f"ATE RMSE {evaluation.ate_m.rmse:.3f} m over {evaluation.path_length_m:.1f} m"
        )
    else:
        p = traj.positions
        ax.plot(p[:, 0], p[:, 1], "r-", lw=1, label="SLAM")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
    return path
