"""report.json and a self-contained report.html (tables and an embedded PNG).

Interim: ``smartmine/report.py`` replaces the HTML writer once it lands.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

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


def _rows(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and len(value) < 40:
            out += _rows(value, name + ".")
        elif isinstance(value, float):
            out.append((name, f"{value:.6g}"))
        else:
            text = json.dumps(value, default=str)
            out.append((name, text if len(text) < 400 else text[:400] + " …"))
    return out


def write_report(
    folder: Path,
    report: dict[str, Any],
    traj: Trajectory,
    evaluation: EvaluationResult | None,
    floor: npt.NDArray[np.float64] | None,
) -> None:
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    png = plot_trajectory(folder / "trajectory.png", traj, evaluation, floor)
    image = base64.b64encode(png.read_bytes()).decode("ascii")
    rows = "\n".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in _rows(report)
    )
    (folder / "report.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>smartmine SLAM report</title>"
        "<style>body{font-family:sans-serif;margin:2em}"
        "td{padding:2px 8px;border-bottom:1px solid #ddd;font-family:monospace}</style>"
        "</head><body><h1>SLAM report</h1>"
        f"<img alt='trajectory over the map floor plan' src='data:image/png;base64,{image}'>"
        f"<table>{rows}</table></body></html>\n",
        encoding="utf-8",
    )
