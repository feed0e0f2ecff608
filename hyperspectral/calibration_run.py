"""``smartmine hsi calibrate``: a raw cube to a reflectance ENVI cube, tile by tile."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.calibrate import DarkWhite, continuum_removed, fit_empirical_line, good_band_mask
from hyperspectral.cube import Cube, open_cube, tile_lines_for
from hyperspectral.errors import HyperspectralError
from smartmine.atomic import atomic_set, clean_debris
from smartmine.paths import check_output_path
from smartmine.progress import progress

F32Array = npt.NDArray[np.float32]


def read_targets(
    path: Path, wavelengths_nm: npt.NDArray[np.float64]
) -> list[tuple[str, int, int, npt.NDArray[np.float64]]]:
    """Targets CSV: ``wavelength_nm`` then columns ``NAME@LINE,SAMPLE`` of known reflectance,
    resampled to the cube's bands."""
    from hyperspectral.library import parse_csv

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HyperspectralError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise HyperspectralError(f"{path}: not a text (UTF-8) CSV file") from None
    lib = parse_csv(text, str(path)).resample(wavelengths_nm)
    targets = []
    for name, spectrum in zip(lib.names, lib.spectra, strict=True):
        match = re.fullmatch(r"(.*)@\s*(\d+)\s*[,;]\s*(\d+)", name)
        if not match:
            raise HyperspectralError(f"{path}: column {name!r} is not NAME@LINE,SAMPLE")
        if not np.isfinite(spectrum).all():
            raise HyperspectralError(f"{path}: target {name!r} does not cover the cube's bands")
        targets.append((match.group(1), int(match.group(2)), int(match.group(3)), spectrum))
    return targets


def empirical_line(
    cube: Cube, targets_path: Path, radius: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    wl = cube.require_wavelengths()
    targets = read_targets(targets_path, wl)
    lines, samples, _ = cube.shape
    signal, known = [], []
    for name, line, sample, reflectance in targets:
        if not (0 <= line < lines and 0 <= sample < samples):
            raise HyperspectralError(
                f"{targets_path}: target {name!r} at ({line}, {sample}) is outside the cube"
            )
        window = np.asarray(
            cube.data[
                max(0, line - radius) : line + radius + 1,
                max(0, sample - radius) : sample + radius + 1,
            ],
            np.float64,
        )
        signal.append(window.reshape(-1, window.shape[-1]).mean(axis=0))
        known.append(reflectance)
    return fit_empirical_line(np.array(signal), np.array(known))


def _check_calibrate_args(args: argparse.Namespace) -> Path:
    """The options in range and ``--out`` usable, before any work."""
    out = Path(args.out)
    if out.suffix.lower() != ".hdr":
        raise HyperspectralError(f"--out {out}: give an ENVI header path ending in .hdr")
    clean_debris(out.parent)  # (a set a killed run left mixed goes with its temporary)
    if not args.overwrite:
        for existing in (out, out.with_suffix(".img")):
            if existing.exists():
                raise HyperspectralError(f"--out {existing} exists already (use --overwrite)")
    check_output_path(out, "--out", folder=False)
    if not (math.isfinite(args.white_reflectance) and 0 < args.white_reflectance <= 2):
        raise HyperspectralError(f"--white-reflectance {args.white_reflectance}: want 0 < r <= 2")
    if args.target_radius < 0:
        raise HyperspectralError(f"--target-radius {args.target_radius}: want 0 or more pixels")
    if not (math.isfinite(args.min_snr) and args.min_snr >= 0):
        raise HyperspectralError(f"--min-snr {args.min_snr}: want a finite SNR >= 0")
    if (args.dark is None) != (args.white is None):
        raise HyperspectralError("calibrate: give both --dark and --white")
    return out


def calibrate_command(args: argparse.Namespace) -> Path:
    from spectral.io import envi

    out = _check_calibrate_args(args)
    cube = open_cube(args.cube)
    if getattr(args, "wavelengths", None):
        cube = cube.with_wavelengths(args.wavelengths)
    lines, samples, bands = cube.shape
    apply: Any
    if args.targets is not None:
        gain, offset = empirical_line(cube, args.targets, args.target_radius)
        apply = lambda block: (block * gain + offset).astype(np.float32)  # noqa: E731
        method = f"empirical line ({args.targets.name})"
    elif args.dark is not None and args.white is not None:
        dark, white = open_cube(args.dark), open_cube(args.white)
        for reference in (dark, white):
            if reference.shape[2] != bands or (not args.per_band and reference.shape[1] != samples):
                raise HyperspectralError(
                    f"{reference.source}: {reference.shape[1]} samples x {reference.shape[2]} "
                    f"bands, the cube {samples} x {bands}"
                    + ("" if args.per_band else " (per-column references; --per-band averages)")
                )
        dw = DarkWhite(
            dark.read(),
            white.read(),
            per_column=not args.per_band,
            white_reflectance=args.white_reflectance,
            names=(str(args.dark), str(args.white)),
        )
        apply = dw.apply
        method = "dark/white reference" + (" per band" if args.per_band else " per column")
    elif args.drop_bad_bands or args.continuum_removal:
        apply = lambda block: block  # noqa: E731
        method = "none (already reflectance)"
    else:
        raise HyperspectralError("calibrate: give --dark and --white, or --targets")
    keep = np.ones(bands, bool)
    if args.drop_bad_bands:
        sample = np.asarray(cube.data[: min(lines, 64)], np.float32)
        keep = good_band_mask(cube.wavelengths_nm, cube.good_bands, sample, args.min_snr)
    if not keep.any():
        raise HyperspectralError(f"{cube.source}: every band is a bad band; nothing to write")
    metadata: dict[str, Any] = {
        k: v
        for k, v in cube.metadata.items()
        if k in {"map info", "coordinate system string", "wavelength units"}
    }
    metadata["description"] = f"smartmine reflectance: {method}"
    if cube.wavelengths_nm is not None:
        metadata["wavelength"] = [f"{w:.4f}" for w in cube.wavelengths_nm[keep]]
        metadata["wavelength units"] = "Nanometers"
    if cube.fwhm_nm is not None:
        metadata["fwhm"] = [f"{w:.4f}" for w in cube.fwhm_nm[keep]]
    step = tile_lines_for(samples, bands, 64.0)
    with atomic_set([out.with_suffix(".img"), out], overwrite=args.overwrite) as (_, tmp):
        image = envi.create_image(
            str(tmp),
            shape=(lines, samples, int(keep.sum())),
            dtype=np.float32,
            interleave="bil",
            metadata=metadata,
            force=True,
        )
        target = image.open_memmap(writable=True)
        for start, block in progress(cube.tiles(step), desc="calibrate", unit="tile"):
            refl = apply(block)[..., keep]
            if args.continuum_removal and cube.wavelengths_nm is not None:
                refl = continuum_removed(refl, cube.wavelengths_nm[keep]).astype(np.float32)
            target[start : start + block.shape[0]] = refl
        target.flush()
        del target
    return out
