"""``hsi classify --compat pycoal`` against pycoal's own class maps of the four AVIRIS-NG
cubes (real data, through the CLI, maps read back from the written ENVI and COG files and
compared by class name), its refusals, and reference labels: class names honoured
(0 is a class unless the file says it is "No data"), agreement None with a reason when
nothing was compared, ``--labels`` with ``--model``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hyperspectral.labels import is_unlabelled_name, read_labels
from hyperspectral.library import bundled_library
from hyperspectral.outputs import write_envi_classification
from smartmine.cli import EXIT_WARNINGS, main
from tests.bad_input import BadInput, check_bad_input
from tests.conftest import shared
from tests.test_hsi_classify import AVIRIS, REFERENCE_MAPS

SPLIB06 = ("hyperspectral", "usgs_speclib_envi", "s06av95a_envi.hdr")


def _named(values: np.ndarray, names: list[str]) -> np.ndarray:
    """Class names per pixel, None where the file's name says "no class"."""
    lookup = np.array([None if is_unlabelled_name(n) else n for n in names], dtype=object)
    return lookup[values.astype(np.int64)]


def _envi_names(header: Path) -> np.ndarray:
    import spectral

    image = spectral.open_image(str(header))
    return _named(np.asarray(image.open_memmap())[:, :, 0], image.metadata["class names"])


@pytest.mark.parametrize("cube_name", list(REFERENCE_MAPS))
def test_compat_pycoal_reproduces_the_reference_maps_by_class_name(
    cube_name: str, tmp_path: Path
) -> None:
    import rasterio
    import spectral

    reference = shared(*AVIRIS, REFERENCE_MAPS[cube_name] + ".hdr")
    out = tmp_path / "out"
    argv = ["hsi", "classify", str(shared(*AVIRIS, cube_name + ".hdr")), "--out", str(out)]
    argv += ["--compat", "pycoal", "--library", str(shared(*SPLIB06)), "--labels", str(reference)]
    code = main(argv)
    expected = _envi_names(reference)
    all_no_data = not any(v is not None for v in expected.ravel())
    assert code == (EXIT_WARNINGS if all_no_data else 0)  # 400-410: pycoal's all 'No data'
    ours = _envi_names(out / "class_map.hdr")
    assert (ours == expected).all()
    names = spectral.open_image(str(out / "class_map.hdr")).metadata["class names"]
    with rasterio.open(out / "class_map.tif") as cog:
        assert (_named(cog.read(1), names) == expected).all()
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["bands_used"] == summary["bands"] == 432  # pycoal drops no band
    if all_no_data:
        assert summary["agreement_with_labels"] is None
        assert "no labelled pixel" in summary["agreement_reason"]
    else:
        assert summary["agreement_with_labels"] == 1.0
        assert summary["labelled_pixels"] == int((expected != None).sum())  # noqa: E711


def test_compat_margin_is_the_angle_between_best_and_second_class() -> None:
    from hyperspectral.cube import open_cube
    from hyperspectral.pipeline import ClassifyConfig, build_classifier

    name = "ang20150422t163638_corr_v1e_img_4000-4010_550-560"
    cube = open_cube(shared(*AVIRIS, name + ".hdr"))
    config = ClassifyConfig(library=str(shared(*SPLIB06)), compat="pycoal")
    classifier = build_classifier(config, cube)
    x = cube.read()
    tile = classifier.classify_block(x, cube.valid_mask(x))
    data = tile.labels > 0
    assert tile.margin is not None and data.sum() == 40
    second = np.sort(tile.class_scores[data], axis=1)[:, 1]
    np.testing.assert_allclose(tile.margin[data], second - tile.best_score[data], atol=1e-6)
    assert (tile.margin[data] >= 0).all() and np.isnan(tile.margin[~data]).all()
    # the best class's score is the winning angle
    picked = tile.class_scores[data, tile.labels[data].astype(int) - 1]
    np.testing.assert_allclose(picked, tile.best_score[data], atol=1e-6)


def _cube_case(d: Path) -> None:
    from spectral.io import envi

    wl = np.linspace(420, 2450, 40)
    data = np.random.default_rng(0).uniform(0.1, 0.5, (6, 5, 40)).astype(np.float32)
    envi.save_image(str(d / "c.hdr"), data, metadata={"wavelength": list(wl)}, force=True)


def _bad_compat(option: tuple[str, ...], name: str) -> BadInput:
    lib = str(shared(*SPLIB06))
    argv = ("hsi", "classify", "{d}/c.hdr", "--out", "{d}/o", "--compat", "pycoal")
    return BadInput(f"compat{name}", (*argv, "--library", lib, *option), (name,), _cube_case)


@pytest.mark.parametrize(
    "case",
    [
        _bad_compat(("--method", "sid"), "--method sid"),
        _bad_compat(("--continuum-removal",), "--continuum-removal"),
        _bad_compat(("--classes", "Jarosite"), "--classes"),
        _bad_compat(("--class-threshold", "x=0.1"), "--class-threshold"),
        _bad_compat(("--irradiance", "{d}/irr.csv"), "--irradiance"),
        _bad_compat(("--model", "{d}/m.pt"), "--model"),
        BadInput(
            "compat-bundled",
            ("hsi", "classify", "{d}/c.hdr", "--out", "{d}/o", "--compat", "pycoal"),
            ("--library bundled", "ENVI"),
            _cube_case,
        ),
    ],
    ids=lambda c: c.id,
)
def test_compat_refuses_options_that_contradict_it(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path)


def test_label_zero_is_a_class_unless_the_file_says_no_data(tmp_path: Path) -> None:
    from spectral.io import envi

    values = np.array([[0, 1, 2], [2, 0, 1]], np.uint8)
    header = tmp_path / "real0.hdr"
    envi.save_classification(str(header), values, class_names=["Water", "Jarosite", "Goethite"])
    labels, names = read_labels(header, (2, 3))
    assert names == ["Water", "Jarosite", "Goethite"]
    np.testing.assert_array_equal(labels, values)  # nothing unlabelled
    for unlabelled in ("No data", "Unclassified", "unlabelled", "Background"):
        envi.save_classification(
            str(header), values, class_names=[unlabelled, "Jarosite", "Goethite"], force=True
        )
        labels, names = read_labels(header, (2, 3))
        assert names == ["Jarosite", "Goethite"]
        np.testing.assert_array_equal(labels, [[-1, 0, 1], [1, -1, 0]])
    np.save(tmp_path / "l.npy", values)  # no names: 0 stays unlabelled
    labels, names = read_labels(tmp_path / "l.npy", (2, 3))
    assert names == ["class_1", "class_2"] and (labels == -1).sum() == 2


def test_pycoal_map_whose_first_class_is_a_mineral_counts_every_pixel() -> None:
    # 2580-2590's reference map names 4 minerals, no 'No data': value 0 is Nontronite NG-1.a
    # (before: read as unlabelled, 85 of 100 px compared); the CLI figure is checked above
    name = "ang20140912t192359_corr_v1c_img_2580-2590_540-550"
    reference = shared(*AVIRIS, REFERENCE_MAPS[name] + ".hdr")
    labels, names = read_labels(reference, (10, 10))
    assert names[0] == "Nontronite NG-1.a s06av95a=b" and (labels >= 0).all()
    assert (labels == 0).sum() == 15


def _synthetic(tmp_path: Path) -> tuple[Path, np.ndarray, list[str]]:
    """A 24x20 ENVI cube of three bundled classes in vertical stripes, and the truth."""
    from spectral.io import envi

    wl = np.linspace(420, 2450, 50)
    lib = bundled_library().class_mean(wl).subset(["jarosite", "vegetation", "calcite"])
    truth = np.repeat(np.arange(3), [7, 7, 6])[None, :].repeat(24, axis=0)
    rng = np.random.default_rng(3)
    cube = lib.spectra[truth] * rng.uniform(0.7, 1.0, (24, 20, 1))
    cube += rng.normal(0, 0.003, cube.shape)
    header = tmp_path / "cube.hdr"
    metadata = {"wavelength": list(wl), "wavelength units": "Nanometers"}
    envi.save_image(str(header), cube.astype(np.float32), metadata=metadata, force=True)
    return header, truth, list(lib.class_names)


def test_agreement_is_none_with_a_reason_when_nothing_is_compared(tmp_path: Path) -> None:
    header, truth, classes = _synthetic(tmp_path)
    no_labels = tmp_path / "none.hdr"
    write_envi_classification(no_labels, np.zeros(truth.shape, np.uint16), classes, None, "t")
    out = tmp_path / "o"
    assert (
        main(["hsi", "classify", str(header), "--out", str(out), "--labels", str(no_labels)]) == 0
    )
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["agreement_with_labels"] is None and summary["labelled_pixels"] == 0
    assert "no labelled pixel" in summary["agreement_reason"]
    # labelled pixels only where every class is refused (threshold 0): none classified
    labels = tmp_path / "l.hdr"
    write_envi_classification(labels, (truth + 1).astype(np.uint16), classes, None, "t")
    out2 = tmp_path / "o2"
    argv = ["hsi", "classify", str(header), "--out", str(out2), "--labels", str(labels)]
    assert main([*argv, "--threshold", "0"]) == 0
    summary = json.loads((out2 / "report.json").read_text())["summary"]
    assert summary["agreement_with_labels"] is None and summary["labelled_pixels"] == 480
    assert "overlaps a classified pixel" in summary["agreement_reason"]
    assert main([*argv, "--overwrite"]) == 0  # and without the threshold: a real figure
    summary = json.loads((out2 / "report.json").read_text())["summary"]
    assert summary["agreement_with_labels"] == 1.0


def test_labels_with_a_trained_model_give_agreement_and_confusion(tmp_path: Path) -> None:
    import torch

    from hyperspectral.cube import open_cube
    from hyperspectral.model import TrainConfig, train

    torch.set_num_threads(1)
    header, truth, classes = _synthetic(tmp_path)
    data = open_cube(header).read()
    model = train(data, truth.ravel(), np.arange(0, truth.size, 3), 3, TrainConfig(epochs=15))
    model.classes = classes
    model_path = model.save(tmp_path / "m.pt")
    # the reference numbers its classes the other way round: compared by name
    reversed_names = classes[::-1]
    labels = tmp_path / "ref.hdr"
    write_envi_classification(labels, (3 - truth).astype(np.uint16), reversed_names, None, "t")
    out = tmp_path / "o"
    argv = ["hsi", "classify", str(header), "--model", str(model_path), "--out", str(out)]
    assert main([*argv, "--labels", str(labels)]) == 0
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["labelled_pixels"] == truth.size
    assert summary["agreement_with_labels"] >= 0.95
    table = next(t for t in report["tables"] if t["title"].startswith("agreement"))
    assert [r[0] for r in table["rows"]] == reversed_names
    assert sum(r[1] for r in table["rows"]) == truth.size
    assert (out / "confusion.png").exists()
