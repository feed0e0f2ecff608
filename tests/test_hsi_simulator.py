"""The library classifier on the simulator's cubes (measured USGS zone spectra, sub-ray
mixing, sun and shadow, noise), scored against the renderer's per-pixel zone fractions:
on zone spectra from the classifier's own (bundled) library, and on spectra from another
library (USGS splib07, the bundled samples left out) with spectral variability."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from hyperspectral.calibrate import good_band_mask
from hyperspectral.classify import LibraryClassifier
from hyperspectral.contamination import class_weight
from hyperspectral.cube import Cube
from hyperspectral.library import MEASURED_STAND_INS, bundled_library
from hyperspectral.minerals import mineral_of
from hyperspectral.pipeline import ClassifyConfig, prepare_library
from hyperspectral.spectra import band_centres
from simulator.config import SimConfig, apply_overrides, default_config
from simulator.errors import SimulatorError
from simulator.hsi import Variability, sample_id, zone_spectra, zone_variants
from simulator.mesh import ZONE_IDS
from simulator.render import Renderer
from simulator.scene import Scene
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.writer import build_scene
from tests.conftest import shared

SPLIB07 = ("hyperspectral", "usgs_speclib_envi", "s07_AV95_envi.hdr")
VARIABILITY = {"variants": 8, "brightness_sigma": 0.15, "distortion_rel": 0.03}


@pytest.fixture(scope="module")
def pit() -> Scene:
    """The default open pit (seed 0), built once: the hsi settings do not change the scene,
    and its ray-casting structures and shadow map are built on first use (~15 s)."""
    return build_scene(default_config("open-pit"))


def classified_frames(
    scene: Scene, config: SimConfig, at: tuple[float, ...] = (0.25, 0.75)
) -> list[tuple[npt.NDArray[np.str_], npt.NDArray[np.float64]]]:
    """(class name per pixel, zone fractions) of cubes rendered at these fractions of the
    survey, divided by the illumination and classified by SAM against the bundled
    library (bad bands dropped), as benchmarks/hsi_sim.py does."""
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    poses = traj.matrices(np.array(at) * traj.duration_s) @ rig.base_from_hsi
    wl = renderer.wavelengths_nm
    library = prepare_library(ClassifyConfig(), Cube(np.zeros((1, 1, len(wl)), np.float32), wl))
    mask = np.isfinite(library.spectra).any(axis=0) & good_band_mask(wl)
    classifier = LibraryClassifier(library, "sam", None, mask)
    names = np.array(["unclassified", *classifier.classes])
    irradiance = np.where(renderer.irradiance > 1e-3, renderer.irradiance, np.inf)
    frames = []
    for i, pose in enumerate(poses):
        hsi = renderer.render_hsi(pose, i)
        assert hsi.fractions.shape == (*hsi.cube.shape[:2], len(ZONE_IDS))
        cube = (hsi.cube / irradiance).astype(np.float32)
        labels = classifier.classify_block(cube, Cube(cube, wl).valid_mask(cube)).labels
        frames.append((names[labels], hsi.fractions))
    return frames


def pure(fractions: npt.NDArray[np.float64], zone: str) -> npt.NDArray[np.bool_]:
    """Pixels whose footprint is at least 90 % the zone."""
    return fractions[..., ZONE_IDS[zone]] >= 0.9


def test_contamination_zones_are_found_in_simulated_cubes(pit: Scene) -> None:
    config = apply_overrides(default_config("open-pit"), {"hsi": {"spectra": "measured"}})
    right = total = 0
    for labels, fractions in classified_frames(pit, config):
        for zone in ("jarosite", "schwertmannite", "vegetation"):
            total += int(pure(fractions, zone).sum())
            right += int(
                np.isin(labels[pure(fractions, zone)], list(MEASURED_STAND_INS[zone])).sum()
            )
    assert total > 200
    assert right / total > 0.95, (right, total)


def test_default_zone_spectra_are_unchanged() -> None:
    """Without ``hsi.variants``/``hsi.spectra: library`` the renderer mixes exactly the
    bundled class means of before (the cube bytes: tests/test_simulator_lamps.py)."""
    wl = band_centres(106)
    spectra = zone_variants(wl)
    assert spectra.variants == 1 and spectra.fallback == ()
    assert np.array_equal(spectra.table, zone_spectra(wl, "measured"))


def test_a_missing_library_is_one_error_line_naming_the_option_and_file() -> None:
    base = default_config("open-pit")
    with pytest.raises(SimulatorError) as err:
        apply_overrides(base, {"hsi": {"spectra": "library", "library": "/no/such/lib.hdr"}})
    assert str(err.value) == "hsi.library: /no/such/lib.hdr: no such file"
    with pytest.raises(SimulatorError, match=r"^hsi.library must name"):
        apply_overrides(base, {"hsi": {"spectra": "library"}})
    with pytest.raises(SimulatorError, match=r"^hsi.variants 0 must be 1..64$"):
        apply_overrides(base, {"hsi": {"variants": 0}})


def test_zone_spectra_from_another_library_are_other_samples_of_the_same_minerals() -> None:
    """splib07 (3137 spectra): each zone's minerals found by name, no spectrum of a sample
    the bundled library holds, no mixture; schwertmannite (one sample, BZ93-1, bundled)
    and water (two seawater samples, bundled; the rest are mixtures or miss bands) fall
    back to the bundled spectra and are named."""
    path = shared(*SPLIB07)
    wl = band_centres(106)
    spectra = zone_variants(wl, "library", Variability(8, 0.15, 0.03), str(path))
    assert spectra.fallback == ("schwertmannite", "water")
    bundled = bundled_library()
    bundled_ids = {sample_id(n) for n in bundled.names}
    for zone, names in spectra.samples.items():
        minerals = set(MEASURED_STAND_INS[zone])
        for name in names:
            assert mineral_of(name) in minerals, (zone, name)
            if zone not in spectra.fallback:
                assert sample_id(name) not in bundled_ids, (zone, name)
                assert "+" not in name.split()[0], (zone, name)
    assert len(spectra.samples["jarosite"]) >= 4  # 8 draws among 13 jarosite samples
    # no variant is a bundled spectrum: SAM angle to the nearest bundled jarosite > 0.02 rad
    own = bundled.subset(["jarosite"]).resample(wl).spectra
    rows = spectra.table[ZONE_IDS["jarosite"] * 8 : ZONE_IDS["jarosite"] * 8 + 8]
    cos = (rows @ own.T) / np.outer(np.linalg.norm(rows, axis=1), np.linalg.norm(own, axis=1))
    assert np.arccos(np.clip(cos, -1, 1)).min() > 0.02
    assert len({row.tobytes() for row in rows}) == 8


def test_classifier_on_cubes_from_another_library(pit: Scene) -> None:
    """The non-circular check: zone spectra from splib07 samples the bundled library does
    not hold, 8 variants per zone (brightness sigma 0.15, smooth distortion 3 %), two
    64x48 cubes of the default pit (seed 0). Measured (this commit): the jarosite zone
    (different source) 100 % of 89 px; the AMD classes' precision 58.8 % of 170 px
    (oxidised-ore pixels, other goethite/hematite samples, read as schwertmannite);
    vegetation 100 %. Over scene seeds 0-5: jarosite 89.5-100 %, AMD precision 59-99 %.
    Thresholds: jarosite >= 85 %, precision >= 50 % (the same-source figure is 100 %/100 %)."""
    path = shared(*SPLIB07)
    config = apply_overrides(
        default_config("open-pit"),
        {"hsi": {"spectra": "library", "library": str(path), **VARIABILITY}},
    )
    amd = [c for c in bundled_library().class_names if class_weight(c) >= 1.0]  # AMD classes
    found = truth = called = called_right = veg_right = veg = 0
    for labels, fractions in classified_frames(pit, config):
        jarosite = pure(fractions, "jarosite")
        truth += int(jarosite.sum())
        found += int(np.isin(labels[jarosite], amd).sum())
        pure_any = fractions.max(axis=-1) >= 0.9
        calls = np.isin(labels, amd) & pure_any
        on_contamination = jarosite | pure(fractions, "schwertmannite")
        called += int(calls.sum())
        called_right += int((calls & on_contamination).sum())
        grass = pure(fractions, "vegetation")
        veg += int(grass.sum())
        veg_right += int((labels[grass] == "vegetation").sum())
    assert truth > 50 and veg > 500
    assert found / truth >= 0.85, (found, truth)
    assert called_right / called >= 0.5, (called_right, called)
    assert veg_right / veg >= 0.95, (veg_right, veg)


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
