"""The run's report: report.json + report.html through :mod:`smartmine.report`, with a
figure of the camera positions over the DSM."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.atomic import write_bytes_atomic, write_text_atomic
from smartmine.report import Report, Table, write_report


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
    scale = 900 / max(dsm.shape)
    img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for row, col in camera_cells:
        centre = (int(col * scale), int(row * scale))
        cv2.circle(img, centre, 6, (255, 255, 255), -1)
        cv2.circle(img, centre, 6, (0, 0, 0), 1)
    ok, png = cv2.imencode(".png", img)
    return bytes(png) if ok else b""


def write_sfm_report(out_dir: Path, doc: dict[str, Any], plot_png: bytes | None) -> Path:
    """Write report.json/html; ``doc`` holds warnings, summary, timings, georeferencing,
    mapping (the mapper kept, why, its trials; the block type), notes. The warnings come
    first in both (``plot_png`` None: no DSM, no figure)."""
    figures = {}
    if plot_png is not None:
        figures["Camera positions (white) over the DSM"] = write_bytes_atomic(
            out_dir / "report_dsm_cameras.png", plot_png
        )
    geo = doc["georeferencing"]
    cams = geo.get("cameras", {})
    cam_rows = [
        [name, *(round(v, 3) for v in c["gps_residual_m"])]
        for name, c in sorted(cams.items())
        if "gps_residual_m" in c
    ]
    gcp_rows = [
        [
            n,
            g["observations"],
            *(round(v, 3) for v in g["residual_m"]),
            *(round(v, 3) for v in geo.get("gcp_leave_one_out", {}).get(n, [])),
        ]
        for n, g in geo.get("gcps", {}).items()
    ]
    mapping = doc.get("mapping", {})
    tables = [
        *([_trials_table(mapping)] if mapping.get("trials") else []),
        Table(
            "Timings per stage (s)",
            ["stage", "seconds"],
            [[k, round(v, 2)] for k, v in doc["timings_s"].items()],
        ),
    ]
    if cam_rows:
        tables.append(
            Table(
                "GPS residual per camera (model - GPS, m)",
                ["image", "east", "north", "up"],
                cam_rows,
            )
        )
    if gcp_rows:
        tables.append(
            Table(
                "GCP residuals (model - GCP, m; then leave-one-out check)",
                [
                    "gcp",
                    "observations",
                    "east",
                    "north",
                    "up",
                    "check east",
                    "check north",
                    "check up",
                ],
                gcp_rows,
            )
        )
    adjusted = geo.get("gcp_bundle_adjustment", {})
    if adjusted:
        tables.append(
            Table(
                "GCP residuals before / after the GCP bundle adjustment "
                "(horizontal, up; m; check = held out of the fit)",
                ["gcp", *(f"{a} {b}" for a in _GCP_STAGES for b in ("h", "up"))],
                [
                    [
                        n,
                        *_h_up(adjusted.get("residuals_before_m", {}).get(n)),
                        *_h_up(adjusted.get("residuals_after_m", {}).get(n)),
                        *_h_up(geo.get("gcp_leave_one_out_similarity", {}).get(n)),
                        *_h_up(adjusted.get("check_after_m", {}).get(n)),
                    ]
                    for n in adjusted.get("gcps_used", [])
                ],
            )
        )
    if doc["images_failed"]:
        tables.append(
            Table(
                "Images not used",
                ["image", "reason"],
                [[k, v] for k, v in doc["images_failed"].items()],
            )
        )
    report = Report(
        title="Photogrammetry (smartmine sfm)",
        summary=doc["summary"],
        sections={
            "Mapping": {k: v for k, v in mapping.items() if k not in ("trials", "warnings")},
            "Products": doc["products"],
            "Georeferencing": {
                k: v for k, v in geo.items() if k not in ("cameras", "gcps", "gcp_leave_one_out")
            },
            "Timings (s)": doc["timings_s"],
        },
        tables=tables,
        figures=figures,
        notes=doc["notes"],
        config=doc["config"],
    )
    return _write_with_warnings(report, out_dir, doc.get("warnings", []))


def _trials_table(mapping: dict[str, Any]) -> Table:
    return Table(
        f"Mapper candidates (kept: {mapping.get('chosen')})",
        ["mapper", "registered", "points", "GPS RMSE (m)", "intrinsics", "not kept because"],
        [
            [
                name,
                f"{t['registered']}/{t['images']}",
                t["points"],
                t["gps_rmse_horizontal_m"] if t["gps_rmse_horizontal_m"] is not None else "",
                t["intrinsics"],
                t["rejected_because"] or "",
            ]
            for name, t in mapping["trials"].items()
        ],
    )


def _write_with_warnings(report: Report, out_dir: Path, warnings: list[str]) -> Path:
    """report.json/html with ``warnings`` as the first key of the JSON and the first
    lines of the page (the core Report has only ``failed`` there)."""
    json_path, html_path = write_report(report, out_dir)
    if not warnings:
        return json_path
    doc = json.loads(json_path.read_text())
    write_text_atomic(json_path, json.dumps({"warnings": warnings, **doc}, indent=2) + "\n")
    lines = "".join(f"<p><b>WARNING:</b> {html.escape(w)}</p>" for w in warnings)
    page = html_path.read_text().replace("</h1>", "</h1>\n" + lines, 1)
    write_text_atomic(html_path, page)
    return json_path


_GCP_STAGES = ("similarity", "adjusted", "check similarity", "check adjusted")


def _h_up(residual: list[float] | None) -> tuple[float | str, float | str]:
    if not residual:
        return "", ""
    return round(math.hypot(residual[0], residual[1]), 3), round(residual[2], 3)


def write_failed_report(
    out_dir: Path,
    summary: dict[str, Any],
    notes: list[str],
    config: dict[str, Any],
    timings: dict[str, float],
    failures: list[str],
) -> Path:
    """report.json/html of a run whose model was rejected: ``failed`` (the core report's
    field, first in report.json, as for every degenerate result) lists the checks that
    failed, and ``summary`` starts with its ``status`` (``FAILED: ...``) and the numbers."""
    report = Report(
        title="Photogrammetry (smartmine sfm): FAILED",
        failed=failures,
        summary=summary,
        sections={"Timings (s)": {k: round(v, 2) for k, v in timings.items()}},
        notes=notes,
        config=config,
    )
    json_path, _ = write_report(report, out_dir)
    return json_path
