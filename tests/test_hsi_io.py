"""Hyperspectral I/O, libraries, resampling and calibration: real files written and read
back, the shared USGS libraries, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from spectral.io import envi

from hyperspectral.calibrate import (
    DarkWhite,
    continuum_removed,
    fit_empirical_line,
    water_band_mask,
)
from hyperspectral.contamination import class_weight
from hyperspectral.cube import open_cube
from hyperspectral.errors import HyperspectralError
from hyperspectral.library import bundled_library, load_library
from hyperspectral.resample import resample, resampling_matrix
from smartmine.cli import main
from tests.conftest import shared

WL_UM = np.round(np.linspace(0.4, 2.5, 12), 4)


def _write(tmp: Path, data: np.ndarray, interleave: str, byteorder: int, **meta: object) -> Path:
    header = tmp / f"cube_{interleave}_{data.dtype.name}_{byteorder}.hdr"
    metadata = {"wavelength": [f"{w:.4f}" for w in WL_UM], "wavelength units": "Micrometers"}
    metadata.update(meta)  # type: ignore[arg-type]
    envi.save_image(
        str(header), data, interleave=interleave, byteorder=byteorder, metadata=metadata, force=True
    )
    return header


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("byteorder", [0, 1])
def test_envi_round_trip_every_layout(
    tmp_path: Path, interleave: str, dtype: type, byteorder: int
) -> None:
    rng = np.random.default_rng(1)
    data = (rng.random((7, 5, 12)) * 1000).astype(dtype)
    cube = open_cube(_write(tmp_path, data, interleave, byteorder))
    assert cube.shape == (7, 5, 12)
    np.testing.assert_allclose(cube.wavelengths_nm, WL_UM * 1000)
    tiles = list(cube.tiles(3))
    assert [s for s, _ in tiles] == [0, 3, 6]
    np.testing.assert_array_equal(np.concatenate([b for _, b in tiles]), data.astype(np.float32))
    assert isinstance(cube.data, np.memmap) or isinstance(cube.data.base, np.memmap)


def test_header_that_disagrees_with_file_size_is_refused(tmp_path: Path) -> None:
    header = _write(tmp_path, np.ones((4, 4, 12), np.float32), "bip", 0)
    img = header.with_suffix(".img")
    img.write_bytes(img.read_bytes()[:-10])
    with pytest.raises(HyperspectralError, match=r"cube_bip.*bytes, but the header"):
        open_cube(header)


def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = _write(tmp_path, np.ones((4, 4, 12), np.float32), "bip", 0)
    header.with_suffix(".img").write_bytes(b"\0" * 10)
    assert main(["hsi", "classify", str(header), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(header.with_suffix(".img")) in err[0]
    assert not (tmp_path / "o").exists()


def test_missing_wavelengths_is_a_clear_error(tmp_path: Path) -> None:
    header = tmp_path / "nowl.hdr"
    envi.save_image(str(header), np.ones((3, 3, 5), np.float32), force=True)
    cube = open_cube(header)
    with pytest.raises(HyperspectralError, match="no 'wavelength' field"):
        cube.require_wavelengths()


def test_nan_pixels_are_no_data(tmp_path: Path) -> None:
    data = np.random.default_rng(0).random((3, 3, 12)).astype(np.float32)
    data[1, 1, 4] = np.nan
    data[0, 0] = -0.005
    cube = open_cube(_write(tmp_path, data, "bip", 0))
    valid = cube.valid_mask(cube.read())
    assert not valid[1, 1] and not valid[0, 0] and valid.sum() == 7


def test_resampling_matches_spectral_band_resampler() -> None:
    from spectral import BandResampler

    src = np.linspace(400, 2500, 211)
    dst = np.linspace(420, 2480, 50)
    fwhm = np.full(50, 12.0)
    ours = resampling_matrix(src, dst, None, fwhm)
    theirs = BandResampler(list(src), list(dst), None, list(fwhm)).matrix
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    spectra = np.random.default_rng(2).random((3, 211))
    spectra[0, 100] = np.nan  # a missing point is left out, not propagated
    out = resample(spectra, src, dst, None, fwhm)
    assert np.isfinite(out).all()


def test_bundled_library_has_the_mine_minerals_and_is_small() -> None:
    lib = bundled_library()
    need = {
        "jarosite",
        "schwertmannite",
        "goethite",
        "ferrihydrite",
        "hematite",
        "copiapite",
        "gypsum",
        "kaolinite",
        "alunite",
        "vegetation",
        "water",
        "calcite",
    }
    assert need <= set(lib.class_names)
    assert lib.wavelengths_nm.min() < 400 and lib.wavelengths_nm.max() > 2500
    weighted = {c for c in lib.class_names if class_weight(c) > 0}  # by mineral
    assert {"jarosite", "schwertmannite", "copiapite", "amd_precipitate", "pyrite"} <= weighted
    path = Path(__file__).resolve().parents[1] / "hyperspectral" / "data" / "usgs_splib07_mine.csv"
    assert path.stat().st_size < 300_000
    # jarosite's Fe-OH feature near 2265 nm: a local minimum in the measured spectrum
    j = lib.reflectance("jarosite", np.arange(2200.0, 2330.0, 10.0))
    assert 2240 <= 2200 + 10 * int(np.argmin(j)) <= 2290


def test_bundled_library_equals_the_shared_splib07() -> None:
    path = shared("hyperspectral", "usgs_speclib_envi", "s07_AV95_envi.hdr")
    full = load_library(path)
    lib = bundled_library()
    for name, spectrum in zip(lib.names, lib.spectra, strict=True):
        ref = full.spectra[
            full.names.index(next(n for n in full.names if " ".join(n.split()) == name))
        ]
        np.testing.assert_allclose(spectrum, ref, atol=6e-6, equal_nan=True)
    np.testing.assert_allclose(lib.wavelengths_nm, full.wavelengths_nm, atol=0.006)


def test_user_csv_library_with_micrometres_and_gaps() -> None:
    path = shared("hyperspectral", "usgs_splib07_AV95_amd_minerals_selected.csv")
    lib = load_library(path)
    assert len(lib) >= 20 and lib.wavelengths_nm.max() > 2400
    assert any("Schwertmannite" in n for n in lib.names)
    on_sensor = lib.resample(np.linspace(450, 2400, 100), np.full(100, 10.0))
    assert on_sensor.spectra.shape == (len(lib), 100)


def test_unknown_spectrum_names_the_classes() -> None:
    with pytest.raises(HyperspectralError, match="classes: jarosite"):
        bundled_library().subset(["melanterite"])


def test_cli_library_list_and_show_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hsi", "library", "list"]) == 0
    assert "Schwertmannite BZ93-1" in capsys.readouterr().out
    png = tmp_path / "j.png"
    assert main(["hsi", "library", "show", "jarosite", "--plot", str(png)]) == 0
    import cv2

    assert cv2.imread(str(png)).shape[1] > 500


# --- calibration -----------------------------------------------------------------------------


def test_dark_white_per_column_recovers_reflectance() -> None:
    rng = np.random.default_rng(3)
    samples, bands = 16, 12
    gain = rng.uniform(50, 200, (samples, bands))  # per-detector response
    dark_level = rng.uniform(10, 30, (samples, bands))
    truth = rng.uniform(0.05, 0.9, (20, samples, bands))
    raw = (truth * gain + dark_level).astype(np.float32)
    dark = np.repeat(dark_level[None], 5, axis=0).astype(np.float32)
    white = np.repeat((0.99 * gain + dark_level)[None], 5, axis=0).astype(np.float32)
    refl = DarkWhite(dark, white, per_column=True, white_reflectance=0.99).apply(raw)
    np.testing.assert_allclose(refl, truth, atol=1e-4)
    per_band = DarkWhite(dark, white, per_column=False, white_reflectance=0.99).apply(raw)
    assert np.abs(per_band - truth).max() > 0.05  # a per-band reference misses the columns


def test_zero_white_reference_is_refused() -> None:
    dark = np.ones((2, 4, 6), np.float32)
    white = np.full((2, 4, 6), 50, np.float32)
    white[..., 3] = 0
    with pytest.raises(HyperspectralError, match=r"white reference is not above .* \[3\]"):
        DarkWhite(dark, white, names=("d.hdr", "white.hdr"))


def test_empirical_line_recovers_gain_and_offset() -> None:
    reflectance = np.array([[0.03] * 5, [0.5] * 5, [0.9] * 5])
    gain, offset = np.arange(1.0, 6.0) * 100, np.arange(5.0) * 7
    signal = (reflectance - 0) * gain + offset
    g, o = fit_empirical_line(signal, reflectance)
    np.testing.assert_allclose(g * signal + o, reflectance, atol=1e-12)
    with pytest.raises(HyperspectralError, match="at least 2 targets"):
        fit_empirical_line(signal[:1], reflectance[:1])


def test_calibrate_cli_writes_reflectance_envi(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    truth = rng.uniform(0.1, 0.8, (6, 5, 12)).astype(np.float32)
    raw = _write(tmp_path, truth * 100 + 5, "bil", 0)
    dark = _write(tmp_path, np.full((2, 5, 12), 5, np.float32), "bsq", 0)
    white = _write(tmp_path, np.full((2, 5, 12), 105, np.float32), "bsq", 1)
    out = tmp_path / "refl.hdr"
    assert (
        main(
            [
                "hsi",
                "calibrate",
                str(raw),
                "--dark",
                str(dark),
                "--white",
                str(white),
                "--out",
                str(out),
                "--drop-bad-bands",
            ]
        )
        == 0
    )
    cube = open_cube(out)
    keep = water_band_mask(WL_UM * 1000)
    np.testing.assert_allclose(cube.read(), truth[..., keep], atol=1e-5)
    np.testing.assert_allclose(cube.wavelengths_nm, WL_UM[keep] * 1000, atol=1e-3)


def test_continuum_removal_is_one_on_the_hull() -> None:
    wl = np.linspace(400, 2500, 50)
    spectrum = 0.5 + 0.0001 * wl - 0.2 * np.exp(-0.5 * ((wl - 2200) / 30) ** 2)
    cr = continuum_removed(spectrum, wl)
    assert cr.max() == pytest.approx(1.0) and cr[0] == pytest.approx(1.0)
    assert 0.6 < cr.min() < 0.75 and abs(wl[np.argmin(cr)] - 2200) < 45


def test_calibrate_cli_empirical_line_from_targets(tmp_path: Path) -> None:
    truth = np.full((6, 6, 12), 0.4, np.float32)
    truth[1, 1] = 0.05  # dark target
    truth[4, 4] = 0.9  # bright target
    gain, offset = np.linspace(200, 400, 12), np.linspace(3, 9, 12)
    raw = _write(tmp_path, (truth * gain + offset).astype(np.float32), "bip", 0)
    targets = tmp_path / "targets.csv"
    rows = ['wavelength_nm,"dark@1,1","bright@4,4"']
    rows += [f"{w * 1000:.1f},0.05,0.9" for w in WL_UM]
    targets.write_text("\n".join(rows) + "\n")
    out = tmp_path / "el.hdr"
    assert (
        main(
            [
                "hsi",
                "calibrate",
                str(raw),
                "--targets",
                str(targets),
                "--target-radius",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    np.testing.assert_allclose(open_cube(out).read(), truth, atol=1e-4)


def test_measured_stand_ins_for_the_simulator_materials() -> None:
    from hyperspectral.library import MEASURED_STAND_INS, measured_reflectance
    from hyperspectral.spectra import LIBRARY

    assert set(MEASURED_STAND_INS) == set(LIBRARY)  # every synthetic material has one
    wl = np.linspace(400, 2500, 64)
    for name in LIBRARY:
        refl = measured_reflectance(name, wl, np.full(64, 30.0))
        assert np.isfinite(refl).all() and refl.min() >= 0 and refl.max() < 1.1
    veg = measured_reflectance("vegetation", [670.0, 800.0])
    assert veg[1] > 2 * veg[0]  # red edge
    with pytest.raises(HyperspectralError, match="does not cover"):
        measured_reflectance("jarosite", [300.0])


def test_batched_continuum_matches_scipy_convex_hull() -> None:
    from scipy.spatial import ConvexHull

    wl = np.linspace(420, 2450, 120)
    lib = bundled_library().resample(wl).spectra
    rng = np.random.default_rng(5)
    spectra = lib[rng.integers(0, len(lib), 40)] + rng.normal(0, 0.003, (40, 120))
    spectra[3, 50] = np.nan  # a gap: hulled over the valid bands
    cr = continuum_removed(spectra, wl)
    for k in range(40):
        ok = np.isfinite(spectra[k])
        pts = np.c_[wl[ok], spectra[k, ok]]
        floor = [[wl[ok][0], -10.0], [wl[ok][-1], -10.0]]
        hull = ConvexHull(np.vstack([pts, floor]))
        top = sorted(i for i in hull.vertices if i < ok.sum())
        expected = pts[:, 1] / np.interp(pts[:, 0], pts[top, 0], pts[top, 1])
        np.testing.assert_allclose(cr[k, ok], expected, atol=1e-12)
    assert np.isnan(cr[3, 50]) and (cr[np.isfinite(cr)] <= 1 + 1e-12).all()
