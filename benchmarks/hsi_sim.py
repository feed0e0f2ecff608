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

    python benchmarks/hsi_sim.py [--frames 6] [--purity 0.9] [--synthetic]
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
from simulator.trajectory import Path, Trajectory
from simulator.writer import build_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--purity", type=float, default=0.9)
    parser.add_argument("--synthetic", action="store_true", help="synthetic zone spectra")
    args = parser.parse_args()

    config = default_config("open-pit")
    if args.synthetic:
        config = apply_overrides(config, {"hsi": {"spectra": "synthetic"}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = Trajectory(
        Path(scene.default_waypoints, scene.default_corner_radius_m),
        config.path.speed_m_s,
        config.path.accel_time_s,
    )
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


if __name__ == "__main__":
    main()
