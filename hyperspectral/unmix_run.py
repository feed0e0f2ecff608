"""``smartmine hsi unmix``: endmembers (a file or extracted), FCLS abundances tile by tile,
scores against the truth, products in one folder.

Products (``--out`` folder, written to a temporary folder and renamed as a whole):

- ``abundances.tif`` (Cloud-Optimized GeoTIFF, one float32 band per endmember named after
  it, NaN where no data; the cube's georeference) and ``abundances.hdr``/``.img`` (ENVI,
  BIP float32, ``band names``, ``map info``);
- ``residual_rmse.tif``: per pixel RMSE of the reconstruction over the bands used;
- ``endmembers.csv`` and ``endmembers.sli``/``.hdr`` (ENVI spectral library), ``endmembers.png``;
- ``report.json`` + ``report.html``, ``config.json``.

Memory: one tile of the cube (``--tile-mb``) plus its abundances; extraction reads at most
``max_extract_pixels`` pixels (evenly spaced, 100 000 by default) into memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from hyperspectral.cube import Cube, open_cube, tile_lines_for
from hyperspectral.endmembers import (
    DEFAULT_RESTARTS,
    METHODS,
    Endmembers,
    Extraction,
    extract,
    guess_names,
    read_endmembers,
    write_endmembers,
)
from hyperspectral.errors import HyperspectralError
from hyperspectral.unmix import fcls, match_endmembers, sad

F64Array = npt.NDArray[np.float64]

PRODUCTS: Final = frozenset(
    {
        "abundances.tif",
        "abundances.hdr",
        "abundances.img",
        "residual_rmse.tif",
        "endmembers.csv",
        "endmembers.sli",
        "endmembers.hdr",
        "endmembers.png",
        "report.json",
        "report.html",
        "config.json",
    }
)
MAX_EXTRACT_PIXELS: Final = 100_000
"""Pixels read for extraction (evenly spaced): about 80 MB of float64 at 200 bands."""


@dataclass
class UnmixConfig:
    """What ``smartmine hsi unmix`` does (saved as config.json beside the result)."""

    endmembers: str = ""
    extract: int = 0
    method: str = "vca"
    seed: int = 0
    restarts: int = DEFAULT_RESTARTS
    refine: bool = True
    classes: list[str] = field(default_factory=list)
    variable: str = ""
    wavelengths: str = ""
    truth: str = ""
    tile_mb: float = 16.0
    max_extract_pixels: int = MAX_EXTRACT_PIXELS


@dataclass(frozen=True)
class Truth:
    """True endmembers (k, bands) and, when given, abundances (lines, samples, k)."""

    names: tuple[str, ...]
    spectra: F64Array
    abundances: F64Array | None
    source: str


def check_config(config: UnmixConfig) -> None:
    """Option errors before any work."""
    if bool(config.endmembers) == bool(config.extract):
        raise HyperspectralError("hsi unmix: give either --endmembers FILE or --extract N")
    if config.extract and config.extract < 2:
        raise HyperspectralError(f"--extract {config.extract}: want at least 2 endmembers")
    if config.method not in METHODS:
        raise HyperspectralError(f"--method {config.method!r}: want one of {', '.join(METHODS)}")
    if config.restarts < 1:
        raise HyperspectralError(f"--restarts {config.restarts}: want at least 1")
    if not config.tile_mb > 0:
        raise HyperspectralError(f"--tile-mb {config.tile_mb}: want a size > 0")


def open_unmix_cube(config: UnmixConfig, path: Path) -> Cube:
    """The cube (``--variable`` for .mat files), with ``--wavelengths`` applied."""
    if config.variable and Path(path).suffix.lower() != ".mat":
        raise HyperspectralError(f"--variable {config.variable}: only for MATLAB .mat cubes")
    kwargs = {"variable": config.variable} if config.variable else {}
    cube = open_cube(path, **kwargs)
    if config.wavelengths:
        cube = cube.with_wavelengths(Path(config.wavelengths))
    return cube


def read_truth(path: Path, cube: Cube) -> Truth:
    """``--truth``: a .mat with ``M`` (bands × k) and optionally ``A`` (k × pixels in
    MATLAB column order, or lines × samples × k); or an endmember file (SAD only)."""
    from scipy.io import loadmat

    from hyperspectral.cube import mat_columns_to_image

    lines, samples, bands = cube.shape
    found = read_endmembers(path, bands, cube.wavelengths_nm, cube.fwhm_nm, what="--truth")
    abundances = None
    if Path(path).suffix.lower() == ".mat" and "A" in (mat := loadmat(str(path))):
        a = np.asarray(mat["A"], dtype=np.float64)
        k = len(found.names)
        if a.ndim == 3 and a.shape == (lines, samples, k):
            abundances = a
        elif a.ndim == 2 and a.shape == (k, lines * samples):
            abundances = mat_columns_to_image(a, lines, samples)
        else:
            raise HyperspectralError(
                f"--truth {path}: A is {'x'.join(map(str, a.shape))}; want {k} x "
                f"{lines * samples} (endmembers x pixels) or {lines} x {samples} x {k}"
            )
    if not np.isfinite(found.spectra).all():
        raise HyperspectralError(f"--truth {path}: the true endmembers contain NaN")
    return Truth(found.names, found.spectra, abundances, str(path))


def sample_pixels(
    cube: Cube, limit: int, tile_lines: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[Any]]:
    """Valid pixels (at most ``limit``, every s-th pixel of the image) and their flat
    indices (line · samples + sample)."""
    lines, samples, bands = cube.shape
    step = max(1, -(-lines * samples // limit))
    chosen: list[npt.NDArray[np.float32]] = []
    where: list[npt.NDArray[Any]] = []
    for start, block in cube.tiles(tile_lines):
        flat = np.arange(start * samples, (start + block.shape[0]) * samples)
        keep = cube.valid_mask(block).ravel() & (flat % step == 0)
        chosen.append(block.reshape(-1, bands)[keep].astype(np.float32))
        where.append(flat[keep])
    pixels = np.concatenate(chosen)
    if len(pixels) == 0:
        raise HyperspectralError(f"{cube.source}: no pixel holds data (all NaN or constant)")
    return pixels, np.concatenate(where)


def choose_endmembers(
    config: UnmixConfig, cube: Cube, tile_lines: int
) -> tuple[Endmembers, Extraction | None, npt.NDArray[Any] | None]:
    """The endmembers of ``--endmembers`` or ``--extract``; with extraction also the
    :class:`Extraction` and the vertex pixels' flat indices."""
    _, _, bands = cube.shape
    if config.endmembers:
        found = read_endmembers(
            config.endmembers, bands, cube.wavelengths_nm, cube.fwhm_nm, list(config.classes)
        )
        return found, None, None
    pixels, where = sample_pixels(cube, config.max_extract_pixels, tile_lines)
    result = extract(
        pixels, config.extract, config.method, config.seed, config.restarts, config.refine
    )
    names = tuple(f"endmember {i + 1}" for i in range(config.extract))
    how = f"extracted by {config.method} from {len(pixels)} pixels"
    return Endmembers(names, result.spectra, how), result, where[result.indices]


def run(
    config: UnmixConfig, cube_path: Path | str, out_dir: Path | str, overwrite: bool = False
) -> dict[str, Any]:
    """Unmix ``cube_path`` into ``out_dir`` (see the module docstring); returns the report
    summary."""
    from hyperspectral import outputs

    started = time.perf_counter()
    out = Path(out_dir)
    check_config(config)
    outputs.check_output_folder(out, overwrite, PRODUCTS)
    cube = open_unmix_cube(config, Path(cube_path))
    _, samples, bands = cube.shape
    truth = read_truth(Path(config.truth), cube) if config.truth else None
    tile_lines = tile_lines_for(samples, bands, config.tile_mb)
    found, extraction, vertices = choose_endmembers(config, cube, tile_lines)
    used: npt.NDArray[np.bool_] = np.asarray(np.isfinite(found.spectra).all(axis=0))
    if not used.any():
        raise HyperspectralError(
            f"--endmembers {config.endmembers}: the endmembers cover none of the bands of "
            f"{cube.source}"
        )
    with outputs.products_folder(out, overwrite, PRODUCTS) as tmp:
        stats = _unmix_into(tmp, cube, found, used, tile_lines, truth)
        stats["seconds"] = round(time.perf_counter() - started, 3)
        (tmp / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
        return _write_report(
            tmp, config, cube, Path(cube_path), found, used, extraction, vertices, truth, stats
        )


def _unmix_into(
    out: Path,
    cube: Cube,
    found: Endmembers,
    used: npt.NDArray[np.bool_],
    tile_lines: int,
    truth: Truth | None,
) -> dict[str, Any]:
    """FCLS tile by tile into the COG and ENVI files; sums for the report's scores."""
    from spectral.io.envi import write_envi_header

    from hyperspectral.outputs import TiledGeoTiff, envi_map_info

    lines, samples, _ = cube.shape
    k = len(found.names)
    m = found.spectra[:, used]
    order = match_endmembers(found.spectra[:, used], truth.spectra[:, used]) if truth else None
    sq_residual = 0.0
    valid = 0
    sq_truth = np.zeros(k if truth is None else len(truth.names))
    names = list(found.names)
    with (
        TiledGeoTiff(
            out / "abundances.tif", lines, samples, k, "float32", cube.georef, float("nan"), names
        ) as tif,
        TiledGeoTiff(
            out / "residual_rmse.tif", lines, samples, 1, "float32", cube.georef, float("nan")
        ) as res_tif,
        (out / "abundances.img").open("wb") as envi_file,
    ):
        for start, block in cube.tiles(tile_lines):
            h = block.shape[0]
            ok = cube.valid_mask(block).ravel()
            pixels = block.reshape(-1, block.shape[-1])[:, used]
            a = np.full((len(pixels), k), np.nan)
            a[ok] = fcls(pixels[ok], m, what=found.how)
            residual = pixels.astype(np.float64) - a @ m
            rmse = np.sqrt(np.mean(residual * residual, axis=1))
            sq_residual += float(np.nansum(residual[ok] ** 2))
            valid += int(ok.sum())
            if truth is not None and order is not None and truth.abundances is not None:
                ta = truth.abundances[start : start + h].reshape(-1, len(truth.names))
                for j, i in enumerate(order):
                    if i >= 0:
                        sq_truth[j] += float(np.sum((a[ok, i] - ta[ok, j]) ** 2))
            image = a.reshape(h, samples, k).astype(np.float32)
            tif.write(start, image)
            res_tif.write(start, rmse.reshape(h, samples).astype(np.float32))
            image.astype("<f4").tofile(envi_file)
    if valid == 0:
        raise HyperspectralError(f"{cube.source}: no pixel holds data (all NaN or constant)")
    meta: dict[str, Any] = {
        "description": f"FCLS abundances of {cube.source}",
        "samples": samples,
        "lines": lines,
        "bands": k,
        "header offset": 0,
        "data type": 4,
        "interleave": "bip",
        "byte order": 0,
        "band names": names,
        "data ignore value": "nan",
    }
    if cube.georef is not None:
        meta["map info"] = envi_map_info(cube.georef)
    write_envi_header(str(out / "abundances.hdr"), meta)
    stats: dict[str, Any] = {
        "valid_pixels": valid,
        "reconstruction_rmse": float(np.sqrt(sq_residual / (valid * int(used.sum())))),
        "order": order,
    }
    if truth is not None and truth.abundances is not None:
        stats["abundance_rmse"] = np.sqrt(sq_truth / valid)
    return stats


def _write_report(
    out: Path,
    config: UnmixConfig,
    cube: Cube,
    cube_path: Path,
    found: Endmembers,
    used: npt.NDArray[np.bool_],
    extraction: Extraction | None,
    vertices: npt.NDArray[Any] | None,
    truth: Truth | None,
    stats: dict[str, Any],
) -> dict[str, Any]:
    from hyperspectral.outputs import spectra_png
    from smartmine.report import Report, Table, write_report

    lines, samples, bands = cube.shape
    names = list(found.names)
    write_endmembers(out, names, found.spectra, cube.wavelengths_nm)
    x = (
        cube.wavelengths_nm
        if cube.wavelengths_nm is not None
        else np.arange(1.0, bands + 1, dtype=np.float64)  # band numbers without centres
    )
    spectra_png(out / "endmembers.png", x, found.spectra, names, f"endmembers ({found.how})")
    guesses = guess_names(found.spectra, cube.wavelengths_nm, cube.fwhm_nm) if extraction else None
    warnings: list[str] = []
    if not used.all():
        warnings.append(
            f"{int((~used).sum())} of {bands} bands left out: the endmembers do not cover them"
        )
    summary: dict[str, Any] = {
        "warnings": warnings,
        "cube": str(cube_path),
        "source": cube.source,
        "lines": lines,
        "samples": samples,
        "bands": bands,
        "bands_used": int(used.sum()),
        "endmembers": len(names),
        "endmembers_from": found.how,
        "valid_pixels": stats["valid_pixels"],
        "reconstruction_rmse": round(stats["reconstruction_rmse"], 6),
        "crs": f"EPSG:{cube.georef.epsg}" if cube.georef else None,
        "coordinates": "map (CRS above)" if cube.georef else "image coordinates; no CRS",
        "seconds": stats["seconds"],
    }
    if extraction is not None:
        summary |= {
            "method": extraction.method,
            "seed": config.seed,
            "restarts": 1 if extraction.method == "atgp" else config.restarts,
            "refined": config.refine,
            "vertex_rmse_per_restart": [round(r, 6) for r in extraction.restart_rmse],
        }
    columns = ["endmember", "name", "pixels averaged", "vertex (line, sample)"]
    rows: list[list[Any]] = []
    for i, name in enumerate(names):
        vertex = (
            [int(vertices[i] // samples), int(vertices[i] % samples)]
            if vertices is not None
            else None
        )
        averaged = extraction.refined_from[i] if extraction is not None else None
        rows.append([i + 1, name, averaged, vertex])
    if guesses is not None:
        columns.append("library guess (not an identification)")
        for row, guess in zip(rows, guesses, strict=True):
            row.append(guess)
    truth_rows = _score_truth(found, used, truth, stats, summary, warnings)
    tables = [Table("endmembers", columns, rows)]
    if truth_rows:
        tables.append(
            Table(
                "against the truth",
                ["true endmember", "matched endmember", "SAD (rad)", "abundance RMSE"],
                truth_rows,
            )
        )
    notes = [
        "Abundances: fully constrained least squares (>= 0, sum to one within 1e-6) per "
        "pixel; residual_rmse.tif is the per-pixel RMSE of the reconstruction.",
        "Endmembers matched to the truth by the Hungarian assignment of spectral angles.",
    ]
    if guesses is not None:
        notes.append(
            "library guess: the bundled library class of smallest spectral angle to an "
            "extracted endmember; a hint for reading the result, not an identification."
        )
    report = Report(
        title="Hyperspectral unmixing",
        summary=summary,
        tables=tables,
        figures={"endmembers": out / "endmembers.png"},
        notes=notes,
        config=asdict(config),
    )
    write_report(report, out)
    return summary


def _score_truth(
    found: Endmembers,
    used: npt.NDArray[np.bool_],
    truth: Truth | None,
    stats: dict[str, Any],
    summary: dict[str, Any],
    warnings: list[str],
) -> list[list[Any]]:
    """SAD and abundance RMSE per true endmember (matched) into the summary; table rows."""
    if truth is None:
        return []
    order = stats["order"]
    rows: list[list[Any]] = []
    sads: dict[str, float | None] = {}
    rmses: dict[str, float | None] = {}
    for j, name in enumerate(truth.names):
        i = int(order[j])
        if i < 0:
            warnings.append(f"true endmember {name} has no estimated endmember to match")
            sads[name] = rmses[name] = None
            rows.append([name, None, None, None])
            continue
        angle = float(sad(found.spectra[i, used], truth.spectra[j, used]))
        rmse = float(stats["abundance_rmse"][j]) if "abundance_rmse" in stats else None
        sads[name] = round(angle, 4)
        rmses[name] = None if rmse is None else round(rmse, 4)
        rows.append([name, found.names[i], sads[name], rmses[name]])
    summary["truth"] = truth.source
    summary["sad_rad"] = sads
    summary["abundance_rmse"] = rmses
    return rows


def score_lines(summary: dict[str, Any]) -> list[str]:
    """What the command prints: endmembers, RMSE and the scores against the truth."""
    text = [
        f"{summary['endmembers']} endmembers ({summary['endmembers_from']}), "
        f"reconstruction RMSE {summary['reconstruction_rmse']:.4g} over "
        f"{summary['valid_pixels']} pixels"
    ]
    for name, angle in summary.get("sad_rad", {}).items():
        rmse = summary.get("abundance_rmse", {}).get(name)
        text.append(
            f"  {name}: SAD {'-' if angle is None else f'{angle:.3f}'} rad, abundance RMSE "
            f"{'-' if rmse is None else f'{rmse:.3f}'}"
        )
    return text
