"""PNG reports a field operator reads at a glance (drawn with OpenCV, no GUI toolkit).

``report.png``: the numbers and the verdict, per-view reprojection errors (rejected
views in red), a coverage heat map of where corners were seen, and the residual
vectors magnified, which show a bad model (swirls, radial patterns) that an RMS hides.
``coverage.png``: the heat map alone at full resolution, to see what views to add.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from calibration.intrinsics import COVERAGE_GRID, CalibrationResult
from smartmine.atomic import write_bytes_atomic

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

WIDTH: Final = 1280
BG: Final = (255, 255, 255)
INK: Final = (30, 30, 30)
GOOD: Final = (60, 160, 60)
BAD: Final = (40, 40, 220)
ACCENT: Final = (200, 120, 30)
FONT: Final = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _canvas(w: int, h: int) -> U8:
    return np.full((h, w, 3), BG, dtype=np.uint8)


def _text(
    img: U8,
    text: str,
    org: tuple[int, int],
    scale: float = 0.5,
    color: tuple[int, int, int] = INK,
    thick: int = 1,
) -> None:
    import cv2

    cv2.putText(img, text, org, FONT, scale, color, thick, cv2.LINE_AA)


def text_block(lines: Sequence[str], width: int = WIDTH, scale: float = 0.55) -> U8:
    """Lines of text, wrapped to the width."""
    chars = max(20, int(width / (scale * 19)))
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, chars) or [""]
    step = int(30 * scale + 8)
    img = _canvas(width, step * len(wrapped) + 16)
    for i, line in enumerate(wrapped):
        _text(img, line, (14, 22 + i * step), scale, INK, 1)
    return img


def bar_chart(
    values: Sequence[float],
    labels: Sequence[str],
    bad: Sequence[bool],
    *,
    title: str,
    lines: Sequence[tuple[float, str, tuple[int, int, int]]] = (),
    width: int = WIDTH,
    height: int = 300,
) -> U8:
    """Vertical bars (px) with horizontal reference lines (RMS, rejection limit)."""
    import cv2

    img = _canvas(width, height)
    left, right, top, bottom = 60, 20, 34, 46
    _text(img, title, (left, 22), 0.6, INK, 1)
    vals = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)
    ref = [v for v, _, _ in lines if np.isfinite(v)]
    vmax = max([*vals.tolist(), *ref, 1e-3]) * 1.1
    plot_h = height - top - bottom
    plot_w = width - left - right
    y0 = height - bottom
    cv2.line(img, (left, y0), (width - right, y0), INK, 1)
    cv2.line(img, (left, top), (left, y0), INK, 1)
    for frac in (0.0, 0.5, 1.0):
        y = int(y0 - frac * plot_h)
        _text(img, f"{frac * vmax:.2f}", (4, y + 4), 0.4)
    n = max(1, len(vals))
    slot = plot_w / n
    bar = max(2, int(slot * 0.7))
    for i, v in enumerate(vals):
        x = int(left + i * slot + (slot - bar) / 2)
        h = int(v / vmax * plot_h)
        cv2.rectangle(img, (x, y0 - h), (x + bar, y0), BAD if bad[i] else GOOD, -1)
        if n <= 60 or i % max(1, n // 40) == 0:
            _text(img, labels[i][:6], (x, y0 + 16 + 14 * (i % 2)), 0.35)
    for v, name, color in lines:
        if np.isfinite(v) and v <= vmax:
            y = int(y0 - v / vmax * plot_h)
            for xs in range(left, width - right, 12):
                cv2.line(img, (xs, y), (min(xs + 6, width - right), y), color, 1)
            _text(img, name, (width - right - 8 * len(name) - 10, y - 4), 0.4, color)
    _text(img, "px", (left - 28, top - 8), 0.4)
    return img


def _frame_panel(size: tuple[int, int], width: int) -> tuple[U8, float]:
    scale = width / size[0]
    h = round(size[1] * scale)
    return np.full((h, width, 3), 250, np.uint8), scale


def coverage_image(result: CalibrationResult, width: int | None = None) -> U8:
    """Heat map of corner density over the frame, grid cells and missing regions marked."""
    import cv2

    size = result.coverage.size
    panel_w = width or size[0]
    img, scale = _frame_panel(size, panel_w)
    h, w = img.shape[:2]
    density = np.zeros((h, w), np.float32)
    for v in result.used:
        pts = np.rint(v.image_points * scale).astype(int)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        np.add.at(density, (pts[ok, 1], pts[ok, 0]), 1.0)
    sigma = max(3.0, w / 40)
    density = np.asarray(cv2.GaussianBlur(density, (0, 0), sigma), np.float32)
    if density.max() > 0:
        norm = (255 * np.sqrt(density / density.max())).astype(np.uint8)
        heat = cv2.applyColorMap(norm, cv2.COLORMAP_TURBO)
        alpha = (norm.astype(np.float32) / 255.0)[:, :, None] * 0.85
        img = (img * (1 - alpha) + heat * alpha).astype(np.uint8)
    cols, rows = COVERAGE_GRID
    for c in range(1, cols):
        cv2.line(img, (int(c * w / cols), 0), (int(c * w / cols), h), (180, 180, 180), 1)
    for r in range(1, rows):
        cv2.line(img, (0, int(r * h / rows)), (w, int(r * h / rows)), (180, 180, 180), 1)
    counts = result.coverage.counts
    for r in range(rows):
        for c in range(cols):
            if counts[r, c] == 0:
                x0, y0 = int(c * w / cols), int(r * h / rows)
                x1, y1 = int((c + 1) * w / cols), int((r + 1) * h / rows)
                cv2.line(img, (x0 + 4, y0 + 4), (x1 - 4, y1 - 4), BAD, 1)
                cv2.line(img, (x0 + 4, y1 - 4), (x1 - 4, y0 + 4), BAD, 1)
    for v in result.rejected:
        for p in v.image_points * scale:
            cv2.drawMarker(img, (int(p[0]), int(p[1])), BAD, cv2.MARKER_TILTED_CROSS, 5, 1)
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), INK, 1)
    s = 0.5 * max(0.8, w / 640)
    _text(
        img, f"coverage {100 * result.coverage.fraction:.0f}% of cells", (8, int(20 * s / 0.5)), s
    )
    missing = result.coverage.missing_regions()
    if missing:
        _text(img, "add views: " + ", ".join(missing), (8, h - 10), s * 0.9, BAD)
    return img


def residual_image(result: CalibrationResult, width: int) -> U8:
    """Residual vectors of used views, magnified so the largest typical one is ~20 px."""
    import cv2

    img, scale = _frame_panel(result.coverage.size, width)
    res = [v.residuals_px for v in result.used]
    mags = np.linalg.norm(np.concatenate(res), axis=1) if res else np.zeros(1)
    p95 = float(np.percentile(mags, 95)) if mags.size else 0.0
    gain = 20.0 / p95 if p95 > 0 else 1.0
    colors = [(int(c[0]), int(c[1]), int(c[2])) for c in _palette(len(result.used))]
    for color, v in zip(colors, result.used, strict=True):
        for p, r in zip(v.image_points * scale, v.residuals_px, strict=True):
            a = (int(p[0]), int(p[1]))
            b = (int(p[0] + r[0] * gain), int(p[1] + r[1] * gain))
            cv2.line(img, a, b, color, 1, cv2.LINE_AA)
            cv2.circle(img, a, 1, color, -1)
    cv2.rectangle(img, (0, 0), (img.shape[1] - 1, img.shape[0] - 1), INK, 1)
    _text(img, f"residuals x{gain:.0f} (observed - projected)", (8, 20), 0.5)
    return img


def _palette(n: int) -> U8:
    import cv2

    hues = np.linspace(0, 255, max(n, 1), endpoint=False).astype(np.uint8).reshape(-1, 1)
    out = np.asarray(cv2.applyColorMap(hues, cv2.COLORMAP_HSV), np.uint8).reshape(-1, 3)
    return out[:n]


def stack(parts: Sequence[U8]) -> U8:
    w = max(p.shape[1] for p in parts)
    padded = [np.pad(p, ((0, 0), (0, w - p.shape[1]), (0, 0)), constant_values=255) for p in parts]
    return np.concatenate(padded, axis=0)


def camera_report(result: CalibrationResult, name: str) -> U8:
    """The whole report of one camera calibration."""
    cam = result.camera
    sd = result.std_devs
    verdict = result.verdict

    def pm(key: str, value: float, fmt: str = ".2f") -> str:
        s = sd.get(key)
        return f"{key} {value:{fmt}}" + (f" +- {s:{fmt}}" if s is not None else "")

    coeffs = ", ".join(f"{k} {v:.5f}" for k, v in cam.coefficients().items())
    lines = [
        f"Camera '{name}'  {cam.width}x{cam.height}  {cam.distortion_model}  board {result.board}",
        f"RMS reprojection error {result.rms_px:.3f} px over {len(result.used)} views "
        f"({len(result.rejected)} rejected, {len(result.not_detected)} without board)",
        "  ".join([pm("fx", cam.fx), pm("fy", cam.fy), pm("cx", cam.cx), pm("cy", cam.cy)]),
        coeffs,
        f"VERDICT: {verdict}",
    ]
    header = text_block(lines)
    floor = float(result.config.get("reject_floor_px", np.nan))
    factor = float(result.config.get("reject_factor", np.nan))
    used_rms = [v.rms_px for v in result.used]
    limit = max(floor, factor * float(np.median(used_rms))) if used_rms else np.nan
    chart = bar_chart(
        [v.rms_px for v in result.views],
        [str(i) for i in range(len(result.views))],
        [not v.used for v in result.views],
        title="per-view RMS reprojection error (red: rejected; labels: view index, see views.csv)",
        lines=[(result.rms_px, "overall RMS", ACCENT), (limit, "rejection limit", BAD)],
    )
    half = WIDTH // 2 - 6
    cov = coverage_image(result, half)
    resid = residual_image(result, half)
    gap = np.full((cov.shape[0], WIDTH - 2 * half, 3), 255, np.uint8)
    row = np.concatenate([cov, gap, resid], axis=1)
    return stack([header, chart, row])


def encode_png(img: U8) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return bytes(buf.tobytes())


def write_png(img: U8, path: Path) -> Path:
    return write_bytes_atomic(path, encode_png(img))
