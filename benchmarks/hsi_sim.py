"""The library classifier on the simulator's hyperspectral cubes, scored per zone.

Renders ``--frames`` snapshot cubes of the default open pit along its survey (the
simulator's own renderer: sub-ray mixing at zone borders, sun incidence and shadow,
sensor noise), divides by the simulator's illumination spectrum, classifies every pixel
with SAM against the bundled USGS library (bad bands dropped) and scores, per zone, the
pixels whose footprint is at least ``--purity`` one zone (the ground truth is the
renderer's per-pixel zone fractions). A zone counts as right when the class is one of
its measured stand-in's classes (``hyperspectral.library.MEASURED_STAND_INS``).

The simulator's zone spectra are the bundled USGS spectra by default (``hsi.spectra:
measured``; a zone such as granite is an areal mixture of several); ``--synthetic`` runs
it with the old synthetic stand-ins instead, which then measures how well measured
spectra recognise those. Mixed-pixel accuracy (purity below the threshold) is printed too.

Then (unless ``--no-ortho``) the map: a small simulator run (bag, dem.tif, classes.tif)
is classified frame by frame and orthorectified onto the DEM (``smartmine hsi ortho``);
prints the seen extent beside the scene's extent (EPSG:32644) and the accuracy per zone
in map coordinates against the simulator's zone raster ``classes.tif`` (cells whose
neighbourhood is one zone), for snapshot frames and for push-broom lines.

    python benchmarks/hsi_sim.py [--frames 6] [--purity 0.9] [--synthetic] [--no-ortho]
"""

from __future__ import annotations

import argparse

import numpy as np

from hyperspectral.calibrate import good_band_mask
from hyperspectral.classify import LibraryClassifier
from hyperspectral.cube import Cube
from hyperspectral.library import MEASURED_STAND_INS
from hyperspectral.pipeline import ClassifyConfig, prepare_library
from simulator.config import apply_overrides, default_config
from simulator.mesh import ZONES
from simulator.render import Renderer
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.writer import build_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--purity", type=float, default=0.9)
    parser.add_argument("--synthetic", action="store_true", help="synthetic zone spectra")
    parser.add_argument("--no-ortho", action="store_true", help="skip the map check")
    args = parser.parse_args()

    config = default_config("open-pit")
    if args.synthetic:
        config = apply_overrides(config, {"hsi": {"spectra": "synthetic"}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    times = (np.arange(args.frames) + 0.5) * traj.duration_s / args.frames
    poses = traj.matrices(times) @ rig.base_from_hsi
    wl = renderer.wavelengths_nm
    dummy = Cube(np.zeros((1, 1, len(wl)), np.float32), wl)
    library = prepare_library(ClassifyConfig(), dummy)
    mask = np.isfinite(library.spectra).any(axis=0) & good_band_mask(wl)
    irradiance = np.where(renderer.irradiance > 1e-3, renderer.irradiance, np.inf)
    classifier = LibraryClassifier(library, "sam", None, mask)
    names = ["unclassified", *classifier.classes]
    right = np.zeros(len(ZONES))
    total = np.zeros(len(ZONES))
    mixed_right = mixed_total = 0
    for i, pose in enumerate(poses):
        hsi = renderer.render_hsi(pose, i)
        cube = (hsi.cube / irradiance).astype(np.float32)
        valid = Cube(cube, wl).valid_mask(cube)
        labels = classifier.classify_block(cube, valid).labels
        dominant = hsi.fractions.argmax(axis=-1)
        purity = hsi.fractions.max(axis=-1)
        for z in ZONES:
            if z.spectrum is None:
                continue
            accept = set(MEASURED_STAND_INS[z.spectrum])
            ok = np.array([names[k] in accept for k in range(len(names))])
            pure = (dominant == z.id) & (purity >= args.purity) & valid
            total[z.id] += pure.sum()
            right[z.id] += ok[labels[pure]].sum()
            mix = (dominant == z.id) & (purity < args.purity) & valid
            mixed_total += int(mix.sum())
            mixed_right += int(ok[labels[mix]].sum())
    print(
        f"{args.frames} cubes {config.hsi.width}x{config.hsi.height}x{config.hsi.bands}, "
        f"SAM vs the bundled USGS library ({len(library)} spectra), purity >= {args.purity}"
    )
    for z in ZONES:
        if z.spectrum is not None and total[z.id]:
            print(f"  {z.name:<16} {right[z.id] / total[z.id]:6.1%} of {int(total[z.id])} px")
    contamination = [
        ZONES[k].id for k in range(len(ZONES)) if ZONES[k].name in ("jarosite", "schwertmannite")
    ]
    c_total = total[contamination].sum()
    if c_total:
        print(
            f"contamination zones: {right[contamination].sum() / c_total:.1%} of {int(c_total)} px"
        )
    if mixed_total:
        print(f"mixed pixels (dominant zone): {mixed_right / mixed_total:.1%} of {mixed_total} px")
    if not args.no_ortho:
        overrides: dict[str, object] = (
            {} if not args.synthetic else {"hsi": {"spectra": "synthetic"}}
        )
        ortho_check("snapshot frames", {"frames": args.frames, **overrides})
        lines: dict[str, object] = {"mode": "pushbroom", "height": 16}
        if args.synthetic:
            lines["spectra"] = "synthetic"
        ortho_check("push-broom lines (16 per frame)", {"frames": args.frames, "hsi": lines})


def ortho_check(what: str, overrides: dict[str, object]) -> None:
    """Simulate, orthorectify, print extent and per-zone accuracy in map coordinates."""
    import tempfile
    import time
    from pathlib import Path as FsPath

    import rasterio

    from hyperspectral.ortho_run import OrthoRunConfig, run
    from simulator.writer import run_simulation

    config = apply_overrides(
        default_config("open-pit"), {"camera": {"width": 96, "height": 72}, **overrides}
    )
    with tempfile.TemporaryDirectory() as tmp:
        sim_dir = FsPath(tmp) / "sim"
        run_simulation(config, sim_dir)
        ortho = OrthoRunConfig(
            dem=str(sim_dir / "dem.tif"),
            classify=ClassifyConfig(irradiance=str(sim_dir / "spectra.csv")),
            origin=str(sim_dir / "scene.json"),
            reference=str(sim_dir / "classes.tif"),
        )
        t0 = time.perf_counter()
        out = run(ortho, sim_dir / "open-pit.mcap", FsPath(tmp) / "ortho")
        seconds = time.perf_counter() - t0
        import json

        summary = json.loads((out / "report.json").read_text())["summary"]
        with rasterio.open(sim_dir / "classes.tif") as gt:
            scene = gt.bounds
        with rasterio.open(sim_dir / "dem.tif") as dem:
            cell = dem.res[0]
    w, s_, e, n = summary["extent_seen_wsen"]
    inside = (
        scene.left - cell <= w < e <= scene.right + cell
        and scene.bottom - cell <= s_ < n <= scene.top + cell
    )
    print(
        f"map from {what}: {summary['frames_used']}/{summary['frames']} used in {seconds:.1f} s, "
        f"{summary['area_seen_m2']:.0f} m2 seen, extent W{w:.1f} S{s_:.1f} E{e:.1f} N{n:.1f}; "
        f"scene (classes.tif) W{scene.left:.1f} S{scene.bottom:.1f} E{scene.right:.1f} "
        f"N{scene.top:.1f} ({summary['crs']}); within it to one DEM cell ({cell:g} m): {inside}"
    )
    zones = summary["reference_zones"]
    for name, zone in zones.items():
        print(f"  {name:<16} {zone['accuracy']:6.1%} of {zone['cells']} cells")
    contamination = [zones[z] for z in ("jarosite", "schwertmannite") if z in zones]
    cells = sum(z["cells"] for z in contamination)
    if cells:
        right = sum(z["correct"] for z in contamination)
        print(f"  contamination zones in map coordinates: {right / cells:.1%} of {cells} cells")


if __name__ == "__main__":
    main()
