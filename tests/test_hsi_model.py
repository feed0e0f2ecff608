"""The spectral-spatial CNN on the real Jasper Ridge cube, spatially disjoint halves; the
saved model reloads with weights_only=True; the GAN generates class-conditional spectra."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.io import loadmat

from hyperspectral.model import disjoint_halves, metrics
from smartmine.cli import EXIT_WARNINGS, main
from tests.conftest import shared
from tests.test_hsi_classify import class_rows


def _jasper_labels(tmp_path: Path) -> tuple[Path, Path]:
    path = shared("hyperspectral", "unmixing_jasper_ridge", "jasperRidge2_R198.mat")
    abundances = loadmat(str(path))["A"].T.reshape(100, 100, 4, order="F")
    labels = tmp_path / "labels.npy"
    np.save(labels, abundances.argmax(axis=-1) + 1)  # 1 tree, 2 water, 3 dirt, 4 road
    return path, labels


def test_metrics_and_disjoint_split() -> None:
    truth = np.array([0, 0, 1, 1, 2, 2])
    m = metrics(truth, np.array([0, 0, 1, 0, 2, 2]), 3)
    assert m["oa"] == pytest.approx(5 / 6) and m["aa"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert 0 < m["kappa"] < m["oa"]
    labels = np.zeros((20, 10), np.int64)
    train, test = disjoint_halves(labels, patch=5)
    assert (np.divmod(train, 10)[0] < 8).all() and (np.divmod(test, 10)[0] >= 10).all()


def test_train_and_classify_jasper_spatially_disjoint(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    cube, labels = _jasper_labels(tmp_path)
    model = tmp_path / "jasper.pt"
    assert (
        main(
            [
                "hsi",
                "train",
                str(cube),
                "--labels",
                str(labels),
                "--out",
                str(model),
                "--epochs",
                "4",
            ]
        )
        == 0
    )
    report = json.loads(model.with_suffix(".json").read_text())
    assert "spatially disjoint" in report["split"]
    assert report["oa"] > 0.7 and report["kappa"] > 0.5, report
    state = torch.load(str(model), weights_only=True)
    assert "state_dict" in state
    out = tmp_path / "cls"
    args = ["hsi", "classify", str(cube), "--model", str(model), "--out", str(out)]
    # its classes (class_1..4 of the .npy) name no contamination mineral: no heat map, exit 3
    assert main(args) == EXIT_WARNINGS
    classified = json.loads((out / "report.json").read_text())
    assert sum(c["pixels"] for c in class_rows(classified)) == 10000
    assert classified["summary"]["crs"] is None
    assert "no class of the library" in classified["warnings"][0]
    assert not (out / "heat_map.tif").exists()
    weights = tmp_path / "w.csv"
    weights.write_text("class_3,0.5\n")  # a class name of the model (dirt)
    args[-1] = str(tmp_path / "cls2")
    assert main([*args, "--contamination", str(weights)]) == 0
    with rasterio.open(tmp_path / "cls2" / "heat_map.tif") as r:
        heat = r.read(1)
    assert 0 < np.nanmax(heat) <= 0.5


def test_model_file_that_is_not_ours_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cube, _ = _jasper_labels(tmp_path)
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a model")
    assert (
        main(["hsi", "classify", str(cube), "--model", str(bogus), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "bogus.pt: not a smartmine hsi model" in capsys.readouterr().err


def test_conditional_gan_generates_spectra_near_their_class() -> None:
    import torch

    from hyperspectral.gan import generate, train_cwgan_gp
    from hyperspectral.library import bundled_library

    torch.set_num_threads(1)
    lib = (
        bundled_library()
        .class_mean(np.linspace(450, 2400, 60))
        .subset(["jarosite", "vegetation", "water"])
    )
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    spectra = (lib.spectra[labels] * rng.uniform(0.8, 1.2, (60, 1))).astype(np.float32)
    gen, mean, std = train_cwgan_gp(spectra, labels, 3, steps=150, seed=0)
    fake = generate(gen, mean, std, 1, 30, 3)
    # generated "vegetation" is closer (by angle) to vegetation than to the other classes
    cos = (
        (fake @ lib.spectra.T)
        / np.linalg.norm(fake, axis=1)[:, None]
        / np.linalg.norm(lib.spectra, axis=1)
    )
    assert (cos.argmax(axis=1) == 1).mean() > 0.8


def test_tiled_prediction_equals_whole_image(tmp_path: Path) -> None:
    import torch

    from hyperspectral.cube import open_cube
    from hyperspectral.model import TrainConfig, predict_tiled, train

    torch.set_num_threads(1)
    cube_path, labels_path = _jasper_labels(tmp_path)
    cube = open_cube(cube_path)
    data = cube.read()[:40, :30]
    labels = (np.load(labels_path)[:40, :30] - 1).ravel()
    model = train(data, labels, np.arange(0, 1200, 7), 4, TrainConfig(epochs=1))
    model.classes = ["tree", "water", "dirt", "road"]
    from hyperspectral.cube import Cube

    small = Cube(data, None)
    whole = model.predict_proba(data).reshape(40, 30, 4)
    tiled, valid = predict_tiled(model, small, tile_mb=30 * 198 * 4 * 7 / 1e6)  # 7-line tiles
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    assert valid.all()


def test_labels_from_an_envi_classification_keep_their_names(tmp_path: Path) -> None:
    from hyperspectral.model import read_labels
    from hyperspectral.outputs import write_envi_classification

    labels = np.array([[0, 1, 2], [2, 2, 0]], np.uint16)
    header = write_envi_classification(tmp_path / "l.hdr", labels, ["jarosite", "water"], None, "t")
    values, names = read_labels(header, (2, 3))
    assert names == ["jarosite", "water"]
    np.testing.assert_array_equal(values, [[-1, 0, 1], [1, 1, -1]])


def test_train_gan_augment_reports_its_effect_and_keeps_the_better(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    cube, labels = _jasper_labels(tmp_path)
    model = tmp_path / "few.pt"
    args = [
        "hsi",
        "train",
        str(cube),
        "--labels",
        str(labels),
        "--out",
        str(model),
        "--epochs",
        "20",
        "--per-class",
        "5",
        "--gan-augment",
    ]
    assert main(args) == 0
    report = json.loads(model.with_suffix(".json").read_text())
    effect = report["gan_effect"]
    assert effect["kept"] in ("with_gan", "without_gan")
    kept = effect[effect["kept"]]
    assert report["oa"] == kept["oa"]
    # chosen on the validation strip of the training half, never on the test half
    val = effect["validation_oa"]
    assert (val["with_gan"] > val["without_gan"]) == (effect["kept"] == "with_gan")
    assert "validation strip" in effect["decided_on"]
    assert report["config"]["gan_augment"] == (effect["kept"] == "with_gan")
    assert report["train_pixels"] == 20
