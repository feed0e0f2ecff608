"""Contamination heat maps with any library (issue 20 item 3): classes recognised by the
mineral their names name, on the real USGS libraries and the AVIRIS-NG mine cube that
pycoal classified; the mapping in the report; the override file; no heat map (exit 3)
when no class of the library is a contamination mineral."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hyperspectral.classify import confidence
from hyperspectral.contamination import class_weight, contamination_map, weights_for
from hyperspectral.cube import open_cube
from hyperspectral.errors import HyperspectralError
from hyperspectral.library import bundled_library
from hyperspectral.minerals import is_mixture, mineral_of, minerals_in
from hyperspectral.model import read_labels
from hyperspectral.pipeline import ClassifyConfig, build_classifier, contamination_index
from smartmine.cli import EXIT_WARNINGS, main
from tests.conftest import shared

AVIRIS = ("hyperspectral", "aviris_ng_mining_subsets")
CUBE = "ang20150420t182808_corr_v1e_img_4200-4210_70-80.hdr"
PYCOAL_CLASSES = "ang20150420t182808_corr_v1e_img_class_4200-4210_70-80.hdr"
PYCOAL_MINING = "ang20150420t182808_corr_v1e_img_class_mining_4200-4210_70-80.hdr"
SPLIB07_CSV = ("hyperspectral", "usgs_splib07_AV95_amd_minerals_selected.csv")


def test_minerals_from_real_usgs_names() -> None:
    cases = {
        "Jarosite GDS99 K 200C Syn     BECKa AREF": "jarosite",
        "Ammonio-Jarosite SCR-NHJ s06av95a=a": "jarosite",
        "Schwertmannite BZ93-1 s06av95a=b": "schwertmannite",
        "Renyolds_TnlSldgWet SM93-15w  BECKa AREF": "amd_precipitate",  # camel case
        "Renyolds_Tnl_Sludge SM93-15 s06av95a=a": "amd_precipitate",
        "Acid_Mine_Dr Assemb1-Fe3+    ASDFRb AREF": "amd_precipitate",
        "Lepidocrosite GDS80 (Syn) s06av95a=b": "lepidocrocite",
        "Pyrrhotite HS269.3B           BECKc AREF": "pyrrhotite",
        "LawnGrass GDS91b +const 1.0   BECKa AREF": "vegetation",
        "Lepidolite HS167.3B           BECKb AREF": None,  # not lepidocrocite
        "Tremolite JR7 BECKb AREF": None,  # 'jr' outside a mixture is a sample code
    }
    assert {name: mineral_of(name) for name in cases} == cases
    mix = "Gyp.3+jr.1+msc.4+dic.2 AMX22  BECKa AREF"
    assert is_mixture(mix) and minerals_in(mix) == ["gypsum", "jarosite", "muscovite"]
    assert mineral_of("Water+Montmor SWy-2+0.50g/l  ASDFRa AREF") == "water"
    # a mixture weighs as its heaviest mineral: 10 % jarosite marks AMD ground
    assert class_weight(mix) == 1.0 and class_weight("Alunite_NH4+Jaro NMNH145596A") == 1.0
    assert class_weight("Water+Montmor SWy-2+0.50g/l") == 0.0


def test_every_amd_class_of_pycoal_weighs_one() -> None:
    """pycoal's own maps of the cube (splib06 names): its mining classes and the
    jarosites of its class map carry weight 1, nothing else there does."""
    mining, mining_names = read_labels(shared(*AVIRIS, PYCOAL_MINING), (10, 10))
    assert {n: class_weight(n) for n in mining_names} == dict.fromkeys(mining_names, 1.0)
    labels, names = read_labels(shared(*AVIRIS, PYCOAL_CLASSES), (10, 10))
    weights, cmap = weights_for(names)
    amd = {n for n in names if cmap[n].weight > 0}
    assert amd == {
        "Ammonio-Jarosite SCR-NHJ s06av95a=a",
        "Jarosite GDS98 K 90C Syn s06av95a=a",
        "Schwertmannite BZ93-1 s06av95a=b",
        "Renyolds_Tnl_Sludge SM93-15 s06av95a=a",
    }
    heat = weights[labels]
    assert int((heat == 1.0).sum()) == 21  # 12 schwertmannite, 7 jarosite, 2 sludge px
    assert np.all(heat[mining >= 0] == 1.0)  # every pixel of pycoal's mining map


@pytest.mark.parametrize(
    ("library", "on_pycoal_amd"), [("s07_AV95_envi", 11), ("s06av95a_envi", 19)]
)
def test_heat_map_with_the_usgs_envi_library(library: str, on_pycoal_amd: int) -> None:
    """The full ENVI library (every spectrum its own class): the heat map is non-zero on
    the cube's jarosite and schwertmannite pixels. Measured with every band
    (``--keep-bad-bands``); the default drops 71 bad bands and then 'Sulfur GDS94
    Reagent' wins those pixels by 0.04 rad (docs/notes/issue-20-heat.md)."""
    cube = open_cube(shared(*AVIRIS, CUBE))
    lib = shared("hyperspectral", "usgs_speclib_envi", f"{library}.hdr")
    classifier = build_classifier(ClassifyConfig(library=str(lib), drop_bad_bands=False), cube)
    block = cube.read()
    tile = classifier.classify_block(block, cube.valid_mask(block))
    weights, _ = weights_for(classifier.classes)
    heat = contamination_index(tile.labels, confidence(tile.best_score, "sam"), weights)
    hot = heat > 0
    hot_minerals = {mineral_of(classifier.classes[k - 1]) for k in np.unique(tile.labels[hot])}
    assert {"jarosite", "schwertmannite"} <= hot_minerals
    ref, ref_names = read_labels(shared(*AVIRIS, PYCOAL_CLASSES), (10, 10))
    pycoal_amd = weights_for(ref_names)[0][ref] >= 1.0
    assert int((hot & pycoal_amd).sum()) >= on_pycoal_amd  # measured 11 / 19 of 21


def _run(args: list[str]) -> int:
    return main(["hsi", *[str(a) for a in args]])


MINE_MINERALS = [
    "jarosite",
    "schwertmannite",
    "copiapite",
    "ferrihydrite",
    "goethite",
    "hematite",
    "calcite",
    "gypsum",
    "kaolinite",
    "alunite",
    "muscovite",
    "montmorillonite",
    "quartz",
    "vegetation",
    "water",
]


def test_the_full_usgs_library_subset_by_mineral_finds_jarosite_by_default(
    tmp_path: Path,
) -> None:
    """``--classes jarosite ...`` on splib07 (each spectrum its own class) takes every pure
    sample of each mineral (jarosite: 27 of them); with default options (bad bands
    dropped) the heat map is hot on pycoal's jarosite/schwertmannite/sludge pixels.
    Measured: 137 spectra; heat > 0.5 on 18 px, 10 of pycoal's 21 AMD pixels."""
    lib = shared("hyperspectral", "usgs_speclib_envi", "s07_AV95_envi.hdr")
    out = tmp_path / "out"
    rc = _run(
        [
            "classify",
            shared(*AVIRIS, CUBE),
            "--library",
            lib,
            "--classes",
            *MINE_MINERALS,
            "--out",
            out,
        ]
    )
    assert rc == 0
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert 100 < summary["library_spectra"] < 200  # pure samples only, no mixtures
    with rasterio.open(out / "class_map.tif") as r:
        labels = r.read(1)
    with rasterio.open(out / "heat_map.tif") as r:
        heat = r.read(1)
    ref, ref_names = read_labels(shared(*AVIRIS, PYCOAL_CLASSES), (10, 10))
    pycoal_amd = weights_for(ref_names)[0][ref] >= 1.0
    assert int(((heat > 0.5) & pycoal_amd).sum()) >= 5, int(((heat > 0.5) & pycoal_amd).sum())
    assert int((labels > 0).sum()) == 100


def test_classify_with_splib07_names_writes_the_heat_map_and_the_mapping(tmp_path: Path) -> None:
    """A user CSV library named as in splib07 ('Jarosite JR2501 (K) BECKb AREF'), default
    options: heat map non-zero on its jarosite pixels, the mapping in both reports."""
    out = tmp_path / "out"
    rc = _run(["classify", shared(*AVIRIS, CUBE), "--library", shared(*SPLIB07_CSV), "--out", out])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert "warnings" not in report
    section = report["summary"]["contamination"]
    assert section["weights"] == "built-in by mineral" and section["classes_with_weight"] >= 15
    assert section["weighted"]["Schwertmannite BZ93-1 BECKb AREF"]["mineral"] == "schwertmannite"
    table = next(t for t in report["tables"] if t["title"].startswith("contamination"))
    rows = {r[0]: r for r in table["rows"]}
    assert rows["Renyolds_Tnl_Sludge SM93-15 BECKa AREF"][1:3] == ["amd_precipitate", 1.0]
    assert rows["Calcite WS272 BECKa AREF"][1:3] == ["calcite", 0.0]
    assert (
        "contamination weights (class -&gt; mineral -&gt; weight)"
        in (out / "report.html").read_text()
    )
    with rasterio.open(out / "class_map.tif") as r:
        labels = r.read(1)
    with rasterio.open(out / "heat_map.tif") as r:
        heat = r.read(1)
    classes = next(t for t in report["tables"] if t["title"] == "classes")["rows"]
    is_jarosite = np.isin(labels, [row[0] for row in classes if "Jarosite" in row[1]])
    assert is_jarosite.sum() > 0 and np.all(heat[is_jarosite] > 0.5)


def _library_csv(path: Path, classes: list[str]) -> Path:
    """A CSV library of bundled spectra ('class: name' columns)."""
    lib = bundled_library().subset(classes)
    header = ["wavelength_nm", *(f"{c}: {n}" for c, n in zip(lib.classes, lib.names, strict=True))]
    lines = [",".join(header)]
    for b, wl in enumerate(lib.wavelengths_nm):
        cells = ["" if not np.isfinite(v) else f"{v:.6f}" for v in lib.spectra[:, b]]
        lines.append(",".join([f"{wl:.3f}", *cells]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_library_without_contamination_minerals_warns_and_writes_no_heat_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    library = _library_csv(tmp_path / "calcite_quartz.csv", ["calcite", "quartz"])
    out = tmp_path / "out"
    rc = _run(["classify", shared(*AVIRIS, CUBE), "--library", library, "--out", out])
    assert rc == EXIT_WARNINGS
    err = capsys.readouterr().err
    assert "no class of the library (2 classes) has a contamination weight" in err
    assert not (out / "heat_map.tif").exists() and not (out / "heat_map.png").exists()
    assert (out / "class_map.tif").exists()
    text = (out / "report.json").read_text()
    assert text.index('"warnings"') < text.index('"summary"')  # the report's first lines
    assert "<b>Warning:</b> no class of the library" in (out / "report.html").read_text()
    assert _run(["library", "list", "--library", library]) == EXIT_WARNINGS
    # the override makes calcite and quartz count: heat map written, plain success
    weights = tmp_path / "w.json"
    weights.write_text('{"calcite": 0.4, "quartz": 0.4}')
    out2 = tmp_path / "out2"
    args = ["--library", library, "--contamination", weights, "--out", out2]
    assert _run(["classify", shared(*AVIRIS, CUBE), *args]) == 0
    with rasterio.open(out2 / "heat_map.tif") as r:
        heat = r.read(1)
    assert 0 < np.nanmax(heat) <= 0.4


def test_override_file_by_mineral_class_and_prefix(tmp_path: Path) -> None:
    classes = [
        "Schwertmannite BZ93-1 BECKb AREF",
        "Jarosite GDS99 K 200C Syn BECKa AREF",
        "Goethite GDS134 ASDFRb AREF",
        "Calcite WS272 BECKa AREF",
    ]
    csv_file = tmp_path / "w.csv"
    csv_file.write_text(
        "# site weights\nname,weight\nschwertmannite bz93,0.25\njarosite,0\n"
        "Calcite WS272 BECKa AREF,1\n"
    )
    cmap = contamination_map(classes, csv_file)
    assert [cmap[c].weight for c in classes] == [0.25, 0.0, 0.5, 1.0]
    assert str(csv_file) in cmap[classes[0]].why and "built-in" in cmap.source
    assert cmap[classes[2]].why.startswith("Fe(III) oxyhydroxide")  # not overridden
    np.testing.assert_array_equal(weights_for(classes, csv_file)[0], [0.25, 0, 0.5, 1])


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("big.csv", "jarosite,1.5\n", "entry 'jarosite': weight '1.5' is not a number 0..1"),
        ("nan.json", '{"goethite": NaN}', "entry 'goethite': weight nan"),
        ("typo.csv", "jarsite,1\n", "entry 'jarsite' is no mineral"),
        ("cols.csv", "jarosite,1,x\n", "line 1: want 'name,weight', got 3 fields"),
        ("list.json", "[1, 2]", "want a JSON object"),
        ("twice.csv", "pyrite,1\nPyrite,0.5\n", "entry 'Pyrite' given twice"),
    ],
)
def test_bad_override_file_is_one_line_naming_file_and_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    cube = shared(*AVIRIS, CUBE)
    ortho = ["ortho", tmp_path / "no.mcap", "--dem", tmp_path / "no.tif", "--out", tmp_path / "p"]
    for command in (
        ["classify", cube, "--out", tmp_path / "o", "--contamination", path],
        [*ortho, "--contamination", path],
    ):
        if name == "typo.csv" and command[0] == "ortho":
            continue  # a key matching no class is found only once the classes are known
        assert _run(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(path) in err[0] and message in err[0], err
    assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()
    with pytest.raises(HyperspectralError, match=r"cannot read"):
        contamination_map(["jarosite"], tmp_path / "missing.csv")


def test_processor_heat_is_unknown_not_clean_without_contamination_classes(
    tmp_path: Path,
) -> None:
    from hyperspectral.processors import HsiClassifier
    from smartmine.msgs.factory import default_factory
    from smartmine.msgs.image import image_to_numpy, numpy_to_image
    from smartmine.processor import make_params

    wl = np.linspace(420, 2450, 60)
    lib = bundled_library().class_mean(wl).subset(["calcite", "quartz"])
    cube = np.repeat(lib.spectra[None, :, :], 3, axis=0).astype(np.float32)  # 3 x 2 px
    f = default_factory()
    message = numpy_to_image(cube, "32FC60", stamp_ns=5, frame_id="hsi", factory=f)
    library = _library_csv(tmp_path / "cq.csv", ["calcite", "quartz"])
    for override, expect_nan in (("", True), ('{"quartz": 1}', False)):
        params: dict[str, object] = {"library": str(library), "wavelengths_nm": list(wl)}
        if override:
            (tmp_path / "w.json").write_text(override)
            params["contamination_csv"] = str(tmp_path / "w.json")
        proc = HsiClassifier(make_params(HsiClassifier, params), f)
        out = {o.port: o.message for o in proc.process("cube", message, 0)}
        heat = image_to_numpy(out["heat"])
        assert (proc.heat_warning is not None) == expect_nan
        if expect_nan:
            assert np.isnan(heat).all()
        else:  # quartz pixels (column 1) hot, calcite ones 0
            assert np.all(heat[:, 1] > 0.9) and np.all(heat[:, 0] == 0)
