"""Unmixing: the compiled FCLS against scipy's nnls, endmember extraction on the real
Jasper Ridge cube per seed against its ground truth, and ``hsi unmix`` end to end on
.mat (Jasper Ridge, a Samson-style layout), ENVI and bag cubes, products read back by
their own readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat
from scipy.optimize import nnls

from hyperspectral.cube import open_cube
from hyperspectral.endmembers import extract
from hyperspectral.library import bundled_library, load_library
from hyperspectral.unmix import SUM_TO_ONE_WEIGHT, abundance_rmse, fcls, match_endmembers, sad
from tests.bad_input import run_main
from tests.conftest import shared
from tests.test_bad_inputs_hsi import BANDS, WL_NM, hsi_bag


@pytest.fixture(scope="module")
def jasper() -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    """(path, pixels (n, 198), true M (4, 198), true A (n, 4)), pixels in the cube's order."""
    path = shared("hyperspectral", "unmixing_jasper_ridge", "jasperRidge2_R198.mat")
    mat = loadmat(str(path))
    cube = open_cube(path)
    assert cube.shape == (100, 100, 198) and cube.source.endswith(":Y")
    pixels = cube.read().reshape(-1, 198).astype(np.float64)
    # the cube is rebuilt in MATLAB column order, so the abundances line up
    truth_a = mat["A"].T.reshape(100, 100, 4, order="F").reshape(-1, 4)
    return path, pixels, mat["M"].T, truth_a


def _nnls_fcls(pixels: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The FCLS definition, solved by scipy: nnls on M augmented with a δ row of ones."""
    a = np.vstack([m.T, SUM_TO_ONE_WEIGHT * np.ones((1, len(m)))])
    return np.array([nnls(a, np.append(p, SUM_TO_ONE_WEIGHT))[0] for p in pixels])


def test_compiled_fcls_equals_scipy_nnls(jasper: tuple) -> None:
    _, pixels, truth_m, _ = jasper
    sample = pixels[::7]
    assert np.abs(fcls(sample, truth_m) - _nnls_fcls(sample, truth_m)).max() < 1e-6
    rng = np.random.default_rng(1)  # more endmembers, noisy pixels outside the simplex
    m = rng.random((9, 40))
    x = rng.dirichlet(np.ones(9), 500) @ m + rng.normal(0, 0.05, (500, 40))
    x[7, 3] = np.nan
    got = fcls(x.astype(np.float32), m)
    want = _nnls_fcls(np.nan_to_num(x.astype(np.float32)), m)
    assert np.isnan(got[7]).all()
    keep = np.arange(500) != 7
    assert np.abs(got[keep] - want[keep]).max() < 1e-6
    assert np.abs(got[keep].sum(axis=1) - 1).max() < 1e-5


def test_fcls_with_the_true_endmembers(jasper: tuple) -> None:
    _, pixels, truth_m, truth_a = jasper
    rmse = abundance_rmse(fcls(pixels, truth_m), truth_a)
    np.testing.assert_allclose(rmse, [0.087, 0.082, 0.098, 0.070], atol=1.5e-3)


@pytest.mark.parametrize("seed", range(10))
def test_vca_finds_all_four_endmembers_on_every_seed(jasper: tuple, seed: int) -> None:
    _, pixels, truth_m, _ = jasper
    found = extract(pixels, 4, "vca", seed=seed, restarts=10)
    angles = sad(found.spectra[match_endmembers(found.spectra, truth_m)], truth_m)
    assert (angles <= 0.15).all(), angles


@pytest.mark.parametrize("method", ["nfindr", "atgp"])
def test_nfindr_and_atgp_find_all_four(jasper: tuple, method: str) -> None:
    _, pixels, truth_m, _ = jasper
    found = extract(pixels, 4, method, seed=3, restarts=3)
    angles = sad(found.spectra[match_endmembers(found.spectra, truth_m)], truth_m)
    assert (angles <= 0.15).all(), angles
    raw = extract(pixels, 4, method, seed=3, restarts=3, refined=False)
    worst_raw = sad(raw.spectra[match_endmembers(raw.spectra, truth_m)], truth_m).max()
    assert worst_raw > 0.2  # the vertex pixels alone are not the materials' spectra


def test_cli_on_jasper_with_truth_products_read_back(tmp_path: Path, jasper: tuple) -> None:
    import rasterio
    from spectral.io import envi

    path = jasper[0]
    out = tmp_path / "out"
    run = run_main(
        ["hsi", "unmix", str(path), "--out", str(out), "--extract", "4", "--truth", str(path)]
    )
    assert run.code == 0, run.stderr
    assert "M2: SAD" in run.stdout and "abundance RMSE" in run.stdout
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["method"] == "vca" and summary["restarts"] == 10 and summary["seed"] == 0
    assert max(summary["sad_rad"].values()) <= 0.15
    assert max(summary["abundance_rmse"].values()) < 0.25
    assert summary["reconstruction_rmse"] < 0.03
    assert (out / "report.html").exists() and json.loads((out / "config.json").read_text())[
        "extract"
    ] == 4
    with rasterio.open(out / "abundances.tif") as tif:
        cog = tif.read()
        assert tif.count == 4 and tif.descriptions[0] == "endmember 1" and tif.crs is None
    image = envi.open(str(out / "abundances.hdr")).load()
    np.testing.assert_array_equal(np.moveaxis(cog, 0, -1), np.asarray(image))
    assert np.abs(np.nansum(cog, axis=0) - 1).max() < 1e-4
    library = envi.open(str(out / "endmembers.hdr"), str(out / "endmembers.sli"))
    assert library.names == [f"endmember {i}" for i in range(1, 5)]
    assert library.spectra.shape == (4, 198)
    # the written endmembers (CSV on the cube's bands) unmix to the same abundances
    again = tmp_path / "again"
    reuse = run_main(
        [
            "hsi",
            "unmix",
            str(path),
            "--out",
            str(again),
            "--endmembers",
            str(out / "endmembers.csv"),
        ]
    )
    assert reuse.code == 0, reuse.stderr
    with rasterio.open(again / "abundances.tif") as tif:
        np.testing.assert_allclose(tif.read(), cog, atol=1e-5)
    sli = tmp_path / "sli"  # and so does the ENVI library (no wavelengths: on the bands)
    args = ["--endmembers", str(out / "endmembers.sli")]
    assert run_main(["hsi", "unmix", str(path), "--out", str(sli), *args]).code == 0
    with rasterio.open(sli / "abundances.tif") as tif:
        np.testing.assert_allclose(tif.read(), cog, atol=1e-5)
    # and the true endmembers (.mat M) give the published abundance RMSE
    true_run = tmp_path / "true"
    scored = run_main(
        [
            "hsi",
            "unmix",
            str(path),
            "--out",
            str(true_run),
            "--endmembers",
            str(path),
            "--truth",
            str(path),
        ]
    )
    assert scored.code == 0, scored.stderr
    rmse = json.loads((true_run / "report.json").read_text())["summary"]["abundance_rmse"]
    np.testing.assert_allclose(list(rmse.values()), [0.087, 0.082, 0.098, 0.070], atol=1.5e-3)
    # --overwrite replaces the folder; without it the old products stay
    assert run_main(["hsi", "unmix", str(path), "--out", str(out), "--extract", "3"]).code == 2
    over = run_main(["hsi", "unmix", str(path), "--out", str(out), "--extract", "3", "--overwrite"])
    assert over.code == 0, over.stderr
    assert json.loads((out / "report.json").read_text())["summary"]["endmembers"] == 3


def test_samson_layout_mat_with_nrow_ncol(tmp_path: Path) -> None:
    """V (bands x pixels, MATLAB column order) with nRow != nCol and maxValue, as Samson."""
    rng = np.random.default_rng(5)
    rows, cols, bands = 6, 9, 20
    m = 0.1 + 0.8 * rng.random((3, bands))
    a = rng.dirichlet(np.ones(3), rows * cols)  # pixel p = line p % rows, sample p // rows
    v = (a @ m).T * 2.0
    savemat(
        str(tmp_path / "samson.mat"),
        {
            "V": v,
            "nRow": rows,
            "nCol": cols,
            "maxValue": 2.0,
            "M": m.T,
            "A": a.T,
            "other": np.ones((3, 3)),
        },
    )
    cube = open_cube(tmp_path / "samson.mat")
    assert cube.shape == (rows, cols, bands) and cube.source.endswith(":V")
    np.testing.assert_allclose(cube.read()[4, 7], a[4 + 7 * rows] @ m, rtol=1e-6)
    np.testing.assert_allclose(open_cube(tmp_path / "samson.mat", variable="V").read(), cube.read())
    out = tmp_path / "out"
    mat = str(tmp_path / "samson.mat")
    run = run_main(["hsi", "unmix", mat, "--out", str(out), "--endmembers", mat, "--truth", mat])
    assert run.code == 0, run.stderr
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert max(summary["sad_rad"].values()) < 1e-6
    assert max(summary["abundance_rmse"].values()) < 1e-5


def _georeferenced_mixture(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """An ENVI cube (UTM map info) of three bundled classes mixed by known abundances."""
    from spectral.io import envi

    wl = np.linspace(450, 2400, 60)
    lib = bundled_library().subset(["jarosite", "goethite", "vegetation"]).class_mean()
    m = lib.resample(wl).spectra
    assert np.isfinite(m).all()
    a = np.random.default_rng(2).dirichlet(np.ones(3), (8, 7))
    data = (a @ m).astype(np.float32)
    meta = {
        "wavelength": [f"{w:.3f}" for w in wl],
        "wavelength units": "Nanometers",
        "map info": ["UTM", "1", "1", "500000", "4100000", "2", "2", "17", "North", "WGS-84"],
    }
    envi.save_image(str(tmp_path / "mix.hdr"), data, interleave="bip", metadata=meta, force=True)
    return tmp_path / "mix.hdr", a


def test_envi_cube_with_library_endmembers_keeps_the_georeference(tmp_path: Path) -> None:
    import rasterio

    cube, truth = _georeferenced_mixture(tmp_path)
    out = tmp_path / "out"
    run = run_main(
        [
            "hsi",
            "unmix",
            str(cube),
            "--out",
            str(out),
            "--endmembers",
            "bundled",
            "--classes",
            "jarosite",
            "goethite",
            "vegetation",
        ]
    )
    assert run.code == 0, run.stderr
    with rasterio.open(out / "abundances.tif") as tif:
        assert tif.crs.to_epsg() == 32617 and tif.transform.c == 500000
        assert list(tif.descriptions) == ["jarosite", "goethite", "vegetation"]
        np.testing.assert_allclose(np.moveaxis(tif.read(), 0, -1), truth, atol=2e-4)
    assert "map info" in (out / "abundances.hdr").read_text()
    library = load_library(out / "endmembers.sli")  # with wavelengths: a library again
    assert (
        library.names == ("jarosite", "goethite", "vegetation")
        and len(library.wavelengths_nm) == 60
    )
    extracted = tmp_path / "extracted"
    run = run_main(
        ["hsi", "unmix", str(cube), "--out", str(extracted), "--extract", "3", "--method", "nfindr"]
    )
    assert run.code == 0, run.stderr
    table = json.loads((extracted / "report.json").read_text())["tables"][0]
    assert "library guess (not an identification)" in table["columns"]
    guesses = {row[-1].split("?")[0] for row in table["rows"]}
    assert guesses == {"jarosite", "goethite", "vegetation"}


def test_bag_cube_unmixes(tmp_path: Path) -> None:
    hsi_bag(list(WL_NM))(tmp_path)
    out = tmp_path / "out"
    run = run_main(
        ["hsi", "unmix", str(tmp_path / "run.mcap"), "--out", str(out), "--extract", "2"]
    )
    assert run.code == 0, run.stderr
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert (summary["lines"], summary["samples"], summary["bands"]) == (4, 5, BANDS)
    assert summary["valid_pixels"] == 20
