"""Run reports: ``report.json`` for machines and a self-contained ``report.html`` for people.

Every batch job (SfM, SLAM, hyperspectral) ends with the same pair, so a surveyor finds
the numbers in the same place whatever ran. The HTML embeds its figures (PNG, base64) and
needs no network or asset folder; the JSON holds the same numbers, the effective config
and the figure file names. Both are written atomically.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smartmine.atomic import write_text_atomic

__all__ = ["Report", "Table", "to_jsonable", "write_report"]


@dataclass
class Table:
    """A titled table: one row per item (camera, marker, class...)."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass
class Report:
    """What a run found: headline numbers, sections of key/values, tables and figures."""

    title: str
    summary: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    """Caption -> PNG path (embedded into the HTML; named relative in the JSON)."""
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    """What did not work (a degenerate result): first in report.json and the page."""
    warnings: list[str] = field(default_factory=list)
    """What finished but needs a look (exit 3): after ``failed``, before everything else."""


def to_jsonable(value: Any) -> Any:
    """Numpy scalars/arrays, paths and non-finite floats made JSON-safe (NaN -> null)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "–"
        return f"{number:.4g}" if abs(number) < 1e5 else f"{number:.1f}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _key_values(items: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in items.items()
    )
    return f"<table class='kv'>{rows}</table>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in table.rows
    )
    return f"<h2>{html.escape(table.title)}</h2><table><tr>{head}</tr>{body}</table>"


def _figure(caption: str, png: Path) -> str:
    try:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
    except OSError:
        return f"<p>(figure {html.escape(caption)} missing: {html.escape(str(png))})</p>"
    return (
        f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;"
    "margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%}figure{margin:1em 0}"
)


def render_html(report: Report) -> str:
    """The self-contained HTML page of a report."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}"
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(report.title)}</h1>",
        *(f"<p><b>FAILED:</b> {html.escape(line)}</p>" for line in report.failed),
        *(f"<p><b>Warning:</b> {html.escape(line)}</p>" for line in report.warnings),
        _key_values(report.summary),
    ]
    parts += [f"<p><b>Note:</b> {html.escape(note)}</p>" for note in report.notes]
    for name, items in report.sections.items():
        parts += [f"<h2>{html.escape(name)}</h2>", _key_values(items)]
    parts += [_table(t) for t in report.tables]
    parts += [_figure(caption, png) for caption, png in report.figures.items()]
    if report.config:
        config = html.escape(json.dumps(to_jsonable(report.config), indent=2))
        parts.append(f"<h2>Effective configuration</h2><pre>{config}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(report: Report, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    doc = {
        **({"failed": report.failed} if report.failed else {}),
        **({"warnings": report.warnings} if report.warnings else {}),
        "title": report.title,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "summary": report.summary,
        "sections": report.sections,
        "tables": [
            {"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows]}
            for t in report.tables
        ],
        "figures": {
            caption: (str(p.relative_to(out)) if p.is_relative_to(out) else str(p))
            for caption, p in report.figures.items()
        },
        "notes": report.notes,
        "config": report.config,
    }
    json_path = write_text_atomic(
        out / "report.json", json.dumps(to_jsonable(doc), indent=2, allow_nan=False) + "\n"
    )
    html_path = write_text_atomic(out / "report.html", render_html(report))
    return json_path, html_path
