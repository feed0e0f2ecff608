"""report.json and a self-contained report.html (tables + DSM with camera positions).

Interim writer until ``smartmine/report.py`` lands on main.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.atomic import write_text_atomic


def dsm_plot_png(dsm: npt.NDArray[np.float64], camera_cells: list[tuple[float, float]]) -> bytes:
    """The DSM in colour (nodata black) with camera positions as white dots."""
    import cv2

    valid = np.isfinite(dsm)
    img = np.zeros((*dsm.shape, 3), dtype=np.uint8)
    if valid.any():
        lo, hi = np.percentile(dsm[valid], [2, 98])
        norm = np.clip((dsm - lo) / max(hi - lo, 1e-6), 0, 1)
        grey = (np.nan_to_num(norm) * 255).astype(np.uint8)
        img = cv2.applyColorMap(grey, cv2.COLORMAP_VIRIDIS)
        img[~valid] = 0
    scale = max(1.0, 900 / max(dsm.shape))
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for row, col in camera_cells:
        centre = (int(col * scale), int(row * scale))
        cv2.circle(img, centre, 5, (255, 255, 255), -1)
        cv2.circle(img, centre, 5, (0, 0, 0), 1)
    ok, png = cv2.imencode(".png", img)
    return bytes(png) if ok else b""


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table>{cells}</table>"


def write_report(out_dir: Path, report: dict[str, Any], plot_png: bytes | None) -> None:
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=1, default=float))
    summary = report.get("summary", {})
    rows = list(summary.items())
    stage_rows = [(k, f"{v:.1f} s") for k, v in report.get("timings_s", {}).items()]
    cams = report.get("georeferencing", {}).get("cameras", {})
    cam_rows = [
        (name, ", ".join(f"{v:+.2f}" for v in c["gps_residual_m"]))
        for name, c in sorted(cams.items()) if "gps_residual_m" in c
    ]
    gcps = report.get("georeferencing", {}).get("gcps", {})
    gcp_rows = [(n, ", ".join(f"{v:+.3f}" for v in g["residual_m"])) for n, g in gcps.items()]
    failed = report.get("images_failed", {})
    parts = [
        "<!doctype html><meta charset='utf-8'><title>smartmine sfm report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}</style>",
        "<h1>Photogrammetry report</h1>",
        f"<p>{html.escape(' '.join(report.get('notes', [])))}</p>",
        "<h2>Summary</h2>", _table(rows),
        "<h2>Timings per stage</h2>", _table(stage_rows),
    ]
    if plot_png:
        data = base64.b64encode(plot_png).decode()
        parts += ["<h2>Camera positions over the DSM</h2>",
                  f"<img alt='DSM with cameras' src='data:image/png;base64,{data}'>"]
    if cam_rows:
        parts += ["<h2>GPS residual per camera (E, N, U; m)</h2>", _table(cam_rows)]
    if gcp_rows:
        parts += ["<h2>GCP residuals (E, N, U; m)</h2>", _table(gcp_rows)]
    if failed:
        parts += ["<h2>Images not used</h2>", _table(list(failed.items()))]
    write_text_atomic(out_dir / "report.html", "\n".join(parts))
