"""The library classifier on the simulator's cubes (measured USGS zone spectra, sub-ray
mixing, sun and shadow, noise), scored against the renderer's per-pixel zone fractions."""

from __future__ import annotations

import numpy as np

from hyperspectral.calibrate import good_band_mask
from hyperspectral.classify import LibraryClassifier
from hyperspectral.cube import Cube
from hyperspectral.library import MEASURED_STAND_INS
from hyperspectral.pipeline import ClassifyConfig, prepare_library
from simulator.config import apply_overrides, default_config
from simulator.mesh import ZONE_IDS
from simulator.render import Renderer
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.writer import build_scene


def test_contamination_zones_are_found_in_simulated_cubes() -> None:
    config = apply_overrides(default_config("open-pit"), {"hsi": {"spectra": "measured"}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    poses = traj.matrices(np.array([0.25, 0.75]) * traj.duration_s) @ rig.base_from_hsi
    wl = renderer.wavelengths_nm
    library = prepare_library(ClassifyConfig(), Cube(np.zeros((1, 1, len(wl)), np.float32), wl))
    mask = np.isfinite(library.spectra).any(axis=0) & good_band_mask(wl)
    classifier = LibraryClassifier(library, "sam", None, mask)
    names = np.array(["unclassified", *classifier.classes])
    irradiance = np.where(renderer.irradiance > 1e-3, renderer.irradiance, np.inf)
    right = total = 0
    for i, pose in enumerate(poses):
        hsi = renderer.render_hsi(pose, i)
        cube = (hsi.cube / irradiance).astype(np.float32)
        labels = classifier.classify_block(cube, Cube(cube, wl).valid_mask(cube)).labels
        purity = hsi.fractions.max(axis=-1)
        for zone in ("jarosite", "schwertmannite", "vegetation"):
            pure = (hsi.fractions[..., ZONE_IDS[zone]] >= 0.9) & (purity >= 0.9)
            total += int(pure.sum())
            right += int(np.isin(names[labels[pure]], list(MEASURED_STAND_INS[zone])).sum())
    assert total > 200
    assert right / total > 0.95, (right, total)


def test_pushbroom_lines_are_rendered_from_their_own_poses() -> None:
    from simulator.simulation import Simulation

    config = apply_overrides(
        default_config("open-pit"),
        {"frames": 6, "hsi": {"mode": "pushbroom", "height": 8, "width": 16, "supersample": 2}},
    )
    sim = Simulation.prepare(config)
    _, hsi = sim.render_frame(2)
    assert hsi is not None and hsi.cube.shape == (8, 16, config.hsi.bands)
    offsets = hsi.line_offsets_s
    assert offsets is not None and offsets[0] == 0.0 and (np.diff(offsets) > 0).all()
    interval = sim.clocks.frame_t[3] - sim.clocks.frame_t[2]
    assert offsets[-1] < interval
    k = 5
    pose = sim.trajectory.matrices(np.array([sim.clocks.frame_t[2] + offsets[k]]))[0]
    again = sim.renderer.render_hsi_line(pose @ sim.rig.base_from_hsi, 2 * 8 + k)
    np.testing.assert_allclose(again.cube[0], hsi.cube[k], rtol=1e-5, atol=1e-7)
