"""Simulator building blocks: camera model, spectral library, paths, plans, configuration."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from hyperspectral.spectra import (
    LIBRARY,
    band_centres,
    reflectance,
    rgb_from_reflectance,
    solar_irradiance,
    wavelength_grid,
)
from simulator.camera import CameraModel
from simulator.config import SimConfig, apply_overrides, default_config
from simulator.errors import SimulatorError
from simulator.trajectory import Path as FlightPath
from simulator.trajectory import Timing, Trajectory, lawnmower, read_plan
from smartmine.errors import SmartmineError


def test_camera_projection_matches_opencv_and_rays_invert_it() -> None:
    cam = CameraModel.from_fov(640, 480, 65.0, [-0.12, 0.05, 0.0008, -0.0005, 0.0])
    rng = np.random.default_rng(0)
    pts = np.column_stack(
        [rng.uniform(-4, 4, 500), rng.uniform(-3, 3, 500), rng.uniform(4, 20, 500)]
    )
    ours = cam.project(pts)
    theirs, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.k, cam.dist_array)
    assert np.abs(ours - theirs.reshape(-1, 2)).max() < 1e-9
    rays = cam.image_rays.reshape(-1, 3)
    v, u = np.mgrid[0:480, 0:640]
    back = cam.project(rays * 7.0)
    assert np.abs(back - np.column_stack([u.ravel(), v.ravel()])).max() < 1e-6
    assert cam.intrinsics().distortion_model == "plumb_bob"
    assert cam.cx == 319.5 and cam.fx == pytest.approx(320 / math.tan(math.radians(32.5)))
    with pytest.raises(SimulatorError, match="cannot be inverted"):
        _ = CameraModel.from_fov(64, 48, 140.0, [-0.9, 0.0, 0.0, 0.0, 0.0]).image_rays


def _minimum_near(name: str, centre_nm: float, window_nm: float = 40.0) -> float:
    """Wavelength of the deepest point of the continuum-removed spectrum near centre."""
    wl = np.arange(400.0, 2501.0, 1.0)
    r = reflectance(name, wl)
    sel = np.abs(wl - centre_nm) <= window_nm
    w, x = wl[sel], r[sel]
    hull = np.interp(w, [w[0], w[-1]], [x[0], x[-1]])
    return float(w[np.argmin(x / hull)])


@pytest.mark.parametrize(
    ("name", "centre_nm", "tol_nm"),
    [
        ("jarosite", 435, 8),
        ("jarosite", 2265, 10),
        ("jarosite", 910, 40),
        ("oxidised_ore", 900, 40),
        ("kaolinite", 2165, 10),
        ("kaolinite", 2206, 8),
        ("limestone", 2335, 10),
        ("schwertmannite", 920, 60),
        ("vegetation", 670, 15),
    ],
)
def test_library_bands_sit_at_literature_positions(
    name: str, centre_nm: float, tol_nm: float
) -> None:
    window = 25.0 if tol_nm <= 10 else 150.0
    assert abs(_minimum_near(name, centre_nm, window) - centre_nm) <= tol_nm


def test_library_shapes() -> None:
    wl = wavelength_grid()
    assert wl[0] == 400 and wl[-1] == 2500 and len(wl) == 211
    assert set(LIBRARY) >= {
        "granite",
        "limestone",
        "oxidised_ore",
        "jarosite",
        "schwertmannite",
        "kaolinite",
        "water",
        "vegetation",
    }
    for spectrum in LIBRARY.values():
        r = spectrum.reflectance(wl)
        assert np.all((r >= 0) & (r <= 1))
    water = reflectance("water", wl)
    assert water[wl > 1000].max() < 0.01
    veg = reflectance("vegetation", np.array([670.0, 800.0]))
    assert veg[1] / veg[0] > 5  # red edge
    jarosite = rgb_from_reflectance(reflectance("jarosite", wl), wl)
    assert jarosite[0] > jarosite[1] > jarosite[2]  # yellow-brown
    grey = rgb_from_reflectance(np.full_like(wl, 0.4), wl)
    assert np.allclose(grey, 0.4)
    sun = solar_irradiance(band_centres(106))
    assert (
        sun.max() == pytest.approx(1.0) and sun[np.argmin(np.abs(band_centres(106) - 1380))] < 0.1
    )
    with pytest.raises(KeyError, match="no built-in spectrum"):
        reflectance("unobtainium")


def test_path_is_smooth_and_timing_consistent() -> None:
    waypoints, radius = lawnmower(-100, 100, -80, 80, 30.0, 60.0)
    path = FlightPath(waypoints, radius)
    s = np.linspace(0, path.length, 100_001)
    pos, tangent = path.evaluate(s)
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    assert np.allclose(step, s[1] - s[0], rtol=1e-6)  # arc-length parametrisation
    assert np.abs(np.diff(tangent, axis=0)).max() < 1e-2  # no corners
    assert np.allclose(pos[0], waypoints[0]) and np.allclose(pos[-1], waypoints[-1])
    timing = Timing.for_path(path.length, 8.0, 3.0)
    t = np.linspace(0, timing.duration_s, 20_001)
    arc = timing.arc_length(t)
    speed = np.diff(arc) / np.diff(t)
    assert arc[0] == 0 and arc[-1] == pytest.approx(path.length)
    assert speed.max() == pytest.approx(8.0, rel=1e-4) and speed.min() >= 0
    traj = Trajectory(path, 8.0, 3.0)
    force, _ = traj.imu_truth(np.array([0.0, timing.duration_s / 2]), [0.0, 0.0, 0.0])
    assert np.allclose(force[0], [0, 0, 9.80665], atol=1e-3)  # at rest
    with pytest.raises(SimulatorError, match="2 distinct waypoints"):
        FlightPath(np.zeros((3, 3)), 5.0)


def test_configuration_overrides_are_checked() -> None:
    config = apply_overrides(default_config("drift"), {"drift": {"arch_rise_m": 0}, "seed": 7})
    assert config.drift.arch_rise_m == 0.0 and config.seed == 7
    assert default_config("drift").seed == 0  # the defaults are not touched
    with pytest.raises(SimulatorError, match=r"unknown configuration key 'camera\.fov'"):
        apply_overrides(default_config("drift"), {"camera": {"fov": 60}})
    with pytest.raises(SimulatorError, match="'frames' must be an integer"):
        apply_overrides(default_config("drift"), {"frames": "many"})
    with pytest.raises(SimulatorError, match="does not fit 16UC1"):
        apply_overrides(default_config("drift"), {"depth": {"max_range_m": 100}})
    with pytest.raises(SimulatorError, match="unknown scene"):
        default_config("quarry")
    assert issubclass(SimulatorError, SmartmineError)
    assert "drift" not in SimConfig().to_dict()


def test_plan_files_are_recognised(tmp_path: Path) -> None:
    wpl = tmp_path / "m.waypoints"
    wpl.write_text(
        "QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t49.9\t82.6\t300\t1\n"
        "1\t0\t3\t22\t0\t0\t0\t0\t0\t0\t30\t1\n"
        "2\t0\t3\t16\t0\t0\t0\t0\t49.901\t82.6\t30\t1\n"
        "3\t0\t10\t16\t0\t0\t0\t0\t49.902\t82.6\t25\t1\n"
        "4\t0\t3\t21\t0\t0\t0\t0\t49.902\t82.6\t0\t1\n"
    )
    plan = read_plan(wpl)
    assert [w.command for w in plan.waypoints] == [22, 16, 16]
    assert plan.waypoints[0].lat_deg == 49.9  # takeoff without a position: from home
    assert [w.altitude for w in plan.waypoints] == ["relative", "relative", "terrain"]
    assert plan.ignored == {"NAV_LAND": 1}
    bad = tmp_path / "bad.plan"
    bad.write_text(
        '{"fileType": "Plan", "version": 1, "mission": {"version": 2, "items": [{"type": '
        '"SimpleItem", "command": 16, "frame": 7, "params": [0, 0, 0, 0, 1, 2, 3]}]}}'
    )
    with pytest.raises(SimulatorError, match="MAV_FRAME 7 is not supported"):
        read_plan(bad)
    with pytest.raises(SimulatorError, match="cannot read plan"):
        read_plan(tmp_path / "missing.plan")


def test_distortion_without_inverse_is_a_clear_error() -> None:
    """Strong barrel distortion over a wide field folds over: no ray for some pixels."""
    cam = CameraModel.from_fov(64, 48, 120.0, [-0.5, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(
        SimulatorError, match=r"cannot be inverted at some pixels \(it folds over\)"
    ):
        _ = cam.image_rays
