"""hsi classify with bounded memory (issue 20): products written tile by tile equal the
in-memory computation, the run's traced peak stays within the tile budget, and the
per-pixel margin to the runner-up class (and the ambiguous flag built on it) is right."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from hyperspectral.classify import LibraryClassifier, confidence
from hyperspectral.contamination import weights_for
from hyperspectral.cube import Cube, open_cube
from hyperspectral.library import bundled_library
from hyperspectral.pipeline import (
    ClassifyConfig,
    ambiguous_limit,
    build_classifier,
    contamination_index,
    run,
)


def _write_cube(path: Path, lines: int, samples: int, bands: int, seed: int) -> np.ndarray:
    """ENVI float32 cube of bundled-library class means mixed in pairs (near-ties where
    the two shares are close), random brightness and noise; returns the main class."""
    from spectral.io import envi

    wl = np.linspace(420, 2450, bands)
    lib = bundled_library().class_mean(wl)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, len(lib), (lines, samples))
    b = rng.integers(0, len(lib), (lines, samples))
    f = rng.uniform(0.5, 1.0, (lines, samples, 1))
    cube = f * lib.spectra[a] + (1 - f) * lib.spectra[b]
    cube *= rng.uniform(0.5, 1.1, (lines, samples, 1))
    cube += rng.normal(0, 0.002, cube.shape)
    cube[0, :3] = np.nan  # no data
    envi.save_image(
        str(path),
        cube.astype(np.float32),
        interleave="bil",
        metadata={"wavelength": list(wl), "wavelength units": "Nanometers"},
        force=True,
    )
    return a


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 37 x 29 x 60 cube classified in tiles of 2-3 lines."""
    folder = tmp_path_factory.mktemp("mem")
    header = folder / "c.hdr"
    _write_cube(header, 37, 29, 60, seed=11)
    out = run(ClassifyConfig(tile_mb=0.02), header, folder / "out")
    return header, out


def _in_memory(header: Path, config: ClassifyConfig) -> dict[str, np.ndarray]:
    """What the products hold, computed on the whole cube at once (the old path)."""
    cube = open_cube(header)
    clf = build_classifier(config, cube)
    data = cube.read()
    tile = clf.classify_block(data, cube.valid_mask(data))
    membership = confidence(tile.best_score, config.method)
    heat = contamination_index(tile.labels, membership, weights_for(clf.classes, "")[0])
    heat[np.isnan(tile.best_score)] = np.nan
    return {
        "labels": tile.labels,
        "scores": confidence(tile.class_scores, config.method),
        "heat": heat,
        "margin": tile.margin,
    }


def test_tiled_products_equal_the_in_memory_path(small_run: tuple[Path, Path]) -> None:
    import rasterio
    import spectral
    from rio_cogeo.cogeo import cog_validate

    from hyperspectral import outputs

    header, out = small_run
    want = _in_memory(header, ClassifyConfig())
    names = list(build_classifier(ClassifyConfig(), open_cube(header)).classes)

    def band(name: str) -> np.ndarray:
        assert cog_validate(str(out / name), quiet=True)[0], name
        with rasterio.open(out / name) as r:
            return np.asarray(r.read())

    np.testing.assert_array_equal(band("class_map.tif")[0], want["labels"])
    np.testing.assert_array_equal(band("class_scores.tif"), np.moveaxis(want["scores"], -1, 0))
    np.testing.assert_array_equal(band("heat_map.tif")[0], want["heat"])
    np.testing.assert_array_equal(band("margin.tif")[0], want["margin"])
    # the ENVI class map equals the one spectral's save_classification writes in one go
    old = out.parent / "old_class_map.hdr"
    outputs.write_envi_classification(old, want["labels"], names, None, "x")
    ours, theirs = spectral.open_image(str(out / "class_map.hdr")), spectral.open_image(str(old))
    np.testing.assert_array_equal(np.asarray(ours.open_memmap()), np.asarray(theirs.open_memmap()))
    for key in ("file type", "class names", "classes", "class lookup", "data type", "lines"):
        assert ours.metadata[key] == theirs.metadata[key], key
    # the preview of a small map is the in-memory one, byte for byte
    outputs.class_map_png(out.parent / "old.png", want["labels"], names, "c.hdr (SAM)")
    assert (out / "class_map.png").read_bytes() == (out.parent / "old.png").read_bytes()
    # report counts as computed on the whole label image
    report = json.loads((out / "report.json").read_text())
    old_report = outputs.class_report(want["labels"], names, open_cube(header), want["heat"])
    table = next(t for t in report["tables"] if t["title"] == "classes")
    assert [row[2] for row in table["rows"]] == [c["pixels"] for c in old_report["classes"]]
    assert report["summary"]["heat_mean"] == pytest.approx(old_report["heat_mean"], abs=2e-5)
    assert report["summary"]["heat_above_0_5_pixels"] == old_report["heat_above_0_5_pixels"]


def test_ambiguous_flags_and_counts_follow_the_margin(small_run: tuple[Path, Path]) -> None:
    import rasterio

    header, out = small_run
    with rasterio.open(out / "margin.tif") as r:
        margin = r.read(1)
    with rasterio.open(out / "ambiguous.tif") as r:
        flags = r.read(1)
    with rasterio.open(out / "class_map.tif") as r:
        labels = r.read(1)
    limit = ambiguous_limit(ClassifyConfig())
    no_data = np.isnan(margin)
    assert no_data[0, :3].all() and (flags[no_data] == 255).all()
    ambiguous = ~no_data & (margin < limit)
    assert 0 < ambiguous.sum() < (~no_data).sum()  # mixtures give some near-ties, not all
    np.testing.assert_array_equal(flags[~no_data], ambiguous[~no_data].astype(np.uint8))
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["ambiguous_pixels"] == int(ambiguous.sum())
    assert report["summary"]["ambiguous_margin"] == limit
    table = next(t for t in report["tables"] if t["title"] == "classes")
    col = table["columns"].index("ambiguous")
    per_class = np.bincount(labels[ambiguous], minlength=len(table["rows"]))
    assert [row[col] for row in table["rows"]] == per_class.tolist()
    # the flag never changes a label: a run with flagging off gives the same class map
    off = run(ClassifyConfig(tile_mb=0.02, ambiguous_margin=0.0), header, out.parent / "off")
    with rasterio.open(off / "class_map.tif") as r:
        np.testing.assert_array_equal(r.read(1), labels)
    assert json.loads((off / "report.json").read_text())["summary"]["ambiguous_pixels"] == 0


@pytest.mark.parametrize("method", ["sam", "sid"])
@pytest.mark.parametrize("missing", [False, True])
def test_margin_is_the_runner_up_class_minus_the_best(method: str, missing: bool) -> None:
    """Brute force: every spectrum's score in float64, per-class minimum, the two
    smallest class scores; SAM on the compiled path and on the missing-points path."""
    wl = np.linspace(420, 2450, 90)
    lib = bundled_library().resample(wl)  # several spectra per class
    if missing:
        lib.spectra[3, 10:14] = np.nan
    clf = LibraryClassifier(lib, method)  # type: ignore[arg-type]
    rng = np.random.default_rng(5)
    n = 3000
    a, b = rng.integers(0, len(lib), n), rng.integers(0, len(lib), n)
    f = rng.uniform(0.5, 1.0, (n, 1))
    spectra = np.nan_to_num(lib.spectra)
    pixels = (f * spectra[a] + (1 - f) * spectra[b] + rng.normal(0, 0.003, (n, 90))).astype(
        np.float32
    )
    valid = np.ones(n, bool)
    valid[7] = False
    tile = clf.classify_pixels(pixels, valid)
    x = pixels.astype(np.float64)
    s = lib.spectra.astype(np.float64)
    if method == "sam":
        ok = np.isfinite(s)
        s0 = np.where(ok, s, 0.0)
        dots = x @ s0.T
        norms = np.sqrt((x * x) @ ok.T * (s0 * s0).sum(axis=1))
        score = np.arccos(np.clip(dots / norms, -1, 1))
    else:
        from hyperspectral.classify import SID_FLOOR

        p = np.clip(x, SID_FLOOR, None)
        p /= p.sum(axis=1, keepdims=True)
        q = np.clip(np.nan_to_num(s, nan=SID_FLOOR), SID_FLOOR, None)
        q /= q.sum(axis=1, keepdims=True)
        score = ((p[:, None] - q[None]) * (np.log(p)[:, None] - np.log(q)[None])).sum(axis=2)
    per_class = np.stack(
        [score[:, clf.class_of == c].min(axis=1) for c in range(len(clf.classes))], axis=1
    )
    two = np.sort(per_class, axis=1)[:, :2]
    want = two[:, 1] - two[:, 0]
    assert np.isnan(tile.margin[7]) and (tile.margin[valid] >= 0).all()
    tol = 2e-4 if method == "sam" else 1e-4  # float32 products vs float64
    np.testing.assert_allclose(tile.margin[valid], want[valid], atol=tol)
    assert (want[valid] < 0.01).mean() > 0.05  # near-ties were tested, not only clear calls


def test_one_class_library_has_no_margin() -> None:
    wl = np.linspace(420, 2450, 50)
    lib = bundled_library().class_mean(wl).subset(["jarosite"])
    clf = LibraryClassifier(lib, "sam")
    tile = clf.classify_pixels(lib.spectra.astype(np.float32), np.ones(1, bool))
    assert tile.labels[0] == 1 and np.isnan(tile.margin[0])


def test_classify_peak_memory_stays_within_the_tile_budget(tmp_path: Path) -> None:
    """tracemalloc traces numpy's buffers: the run's peak beyond its start is a few tiles
    and their per-pixel results plus the previews, not the image. 150 x 1200 px x 12
    bands, 0.25 MB tiles (5 lines): the old path (labels and heat of the whole image in
    memory, written and previewed from there) peaked at 12.5 MB, this one at 2.7 MB."""
    from hyperspectral.cube import tile_lines_for

    header = tmp_path / "c.hdr"
    lines, samples, bands, tile_mb = 150, 1200, 12, 0.25
    _write_cube(header, lines, samples, bands, seed=2)
    config = ClassifyConfig(tile_mb=tile_mb)
    run(config, header, tmp_path / "warm")  # imports, numba caches, GDAL drivers
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        run(config, header, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    tile_px = tile_lines_for(samples, bands, tile_mb) * samples
    classes = 18
    # 3 copies of a tile (the block, its masked features, a product), per tile pixel the
    # per-class scores 4x (cosines, angles, similarity, band-major copy) and 40 B of
    # labels/scores/heat/margin/flags; 3 MB for the two PNG previews (decimated 2x here)
    budget = 3 * tile_mb * 1e6 + tile_px * (classes * 4 * 4 + 40) + 3e6
    assert peak < budget, f"peak {peak / 1e6:.1f} MB > budget {budget / 1e6:.1f} MB"


@pytest.mark.parametrize("missing", [False, True])
def test_the_data_mask_found_in_the_norm_pass_equals_the_cube_mask(missing: bool) -> None:
    """``classify_block(block)`` (no mask given: found while taking the norms) gives what
    ``classify_block(block, cube.valid_mask(block))`` gives, on a tile with NaN, infinite,
    constant (no-data fill) and zero pixels; ``missing``: a library with missing points
    (the slower path, which finds the mask first)."""
    import dataclasses

    rng = np.random.default_rng(3)
    library = bundled_library().resample(np.linspace(420, 2400, 40))
    if missing:
        spectra = library.spectra.copy()
        spectra[0, 5] = np.nan
        library = dataclasses.replace(library, spectra=spectra)
    block = (rng.uniform(0.05, 0.6, (6, 7, 40))).astype(np.float32)
    block[0, 0, 3] = np.nan
    block[1, 2, 0] = np.inf
    block[2, 3, :] = -0.005  # AVIRIS-NG's fill
    block[3, 4, :] = 0.0
    block[4, 5, 39] = -np.inf
    clf = LibraryClassifier(library, "sam")
    mask = open_cube_from(block).valid_mask(block)
    assert mask.sum() == 42 - 5
    ours, theirs = clf.classify_block(block), clf.classify_block(block, mask)
    for field in ("labels", "best_score", "class_scores", "best_spectrum", "margin"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field), field)
    assert int((~np.isnan(ours.best_score)).sum()) == 42 - 5


def open_cube_from(block: np.ndarray) -> Cube:
    return Cube(block, np.linspace(420, 2400, block.shape[-1]))
