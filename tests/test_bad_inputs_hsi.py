"""Bad input to every ``smartmine hsi`` verb: exit 2, one line naming the file and field,
nothing written (``tests/bad_input.py``). Inputs are built in the case's folder: ENVI
headers that lie, truncated and bit-flipped files, MATLAB files without a cube, pickled
labels, NaN cubes, garbage options, unwritable outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat
from spectral.io import envi

from tests.bad_input import BadInput, Maker, both, check_bad_input, run_main, with_file

WL_NM = np.linspace(450.0, 2400.0, 12)
BANDS = len(WL_NM)


def _cube(
    d: Path,
    name: str = "cube",
    data: np.ndarray | None = None,
    wavelengths: bool = True,
    **meta: object,
) -> Path:
    """A small real ENVI cube (float32 BIP, reflectance-like) with its band centres."""
    if data is None:
        rng = np.random.default_rng(3)
        data = (0.1 + 0.5 * rng.random((6, 5, BANDS))).astype(np.float32)
    metadata: dict[str, object] = {}
    if wavelengths:
        metadata.update(
            {"wavelength": [f"{w:.2f}" for w in WL_NM], "wavelength units": "Nanometers"}
        )
    metadata.update(meta)
    header = d / f"{name}.hdr"
    envi.save_image(str(header), data, interleave="bip", metadata=metadata, force=True)
    return header


def _edit_header(header: Path, key: str, value: str | None) -> None:
    """Set (or with None remove) one ``key = value`` line of an ENVI header."""
    lines = header.read_text().splitlines()
    kept = [ln for ln in lines if ln.split("=")[0].strip().lower() != key]
    if value is not None:
        kept.append(f"{key} = {value}")
    header.write_text("\n".join(kept) + "\n")


def cube_with(key: str, value: str | None) -> Maker:
    def make(d: Path) -> None:
        _edit_header(_cube(d), key, value)

    return make


def cube_then(edit: Maker) -> Maker:
    def make(d: Path) -> None:
        _cube(d)
        edit(d)

    return make


def _header_text(d: Path) -> str:
    return (d / "cube.hdr").read_text()


def _no_magic(d: Path) -> None:
    (d / "cube.hdr").write_text(_header_text(d).replace("ENVI\n", "", 1))


def _flip_lines_digit(d: Path) -> None:
    """A bit flipped in the header's 'lines' value (6 -> 7): a lying size."""
    text = _header_text(d)
    (d / "cube.hdr").write_text(text.replace("lines = 6", "lines = 7"))


def _truncate_data(d: Path) -> None:
    img = d / "cube.img"
    img.write_bytes(img.read_bytes()[:-7])


def _remove_data(d: Path) -> None:
    (d / "cube.img").unlink()


def _unclosed_brace(d: Path) -> None:
    text = _header_text(d)
    (d / "cube.hdr").write_text(text.replace("}", "", 1))


def _nan_cube(d: Path) -> None:
    _cube(d, data=np.full((4, 3, BANDS), np.nan, np.float32))


def _int16_as_float64(d: Path) -> None:
    """The data are float32 but the header says float64: the file is half the size."""
    _cube(d)
    _edit_header(d / "cube.hdr", "data type", "5")


def _float32_as_int16(d: Path) -> None:
    """The data are float32 but the header says int16: the file is twice the size."""
    _cube(d)
    _edit_header(d / "cube.hdr", "data type", "2")


def _npy(name: str, array: np.ndarray) -> Maker:
    def make(d: Path) -> None:
        _cube(d)
        np.save(d / name, array, allow_pickle=True)

    return make


def _object_labels() -> np.ndarray:
    labels = np.empty((6, 5), dtype=object)
    labels[:] = 1
    return labels


def _mat(name: str, **arrays: object) -> Maker:
    def make(d: Path) -> None:
        savemat(str(d / name), arrays)

    return make


def _model(d: Path, bands: int = 5) -> None:
    """A real saved model (untrained weights) for ``bands`` bands."""
    from hyperspectral.model import TrainConfig, TrainedModel, _network

    config = TrainConfig(width=8)
    net = _network(bands, 2, config.width)
    mean, std = np.zeros(bands, np.float32), np.ones(bands, np.float32)
    TrainedModel(net, mean, std, config, ["a", "b"]).save(d / "model.pt")


def _dem(d: Path, name: str = "dem.tif", epsg: int = 32613, height_m: float = 2500.0) -> None:
    import rasterio
    from rasterio.transform import from_origin

    heights = np.full((20, 20), height_m, np.float32)
    profile = {
        "driver": "GTiff",
        "height": 20,
        "width": 20,
        "count": 1,
        "dtype": "float32",
        "crs": f"EPSG:{epsg}",
        "transform": from_origin(430000.0, 4410000.0, 5.0, 5.0),
    }
    with rasterio.open(d / name, "w", **profile) as dst:
        dst.write(heights, 1)


def _tum(d: Path, text: str = "0 0 0 100 0 0 0 1\n1 1 0 100 0 0 0 1\n") -> None:
    (d / "poses.txt").write_text(text)


def _afile(d: Path) -> None:
    (d / "afile").write_text("not a folder\n")


def _out_with_the_cube(d: Path) -> None:
    (d / "out").mkdir()
    _cube(d / "out")
    (d / "out" / "report.json").write_text("{}\n")


def _used_out(d: Path) -> None:
    _cube(d)
    (d / "out").mkdir()
    (d / "out" / "report.json").write_text("{}\n")


C = ("hsi", "classify", "{d}/cube.hdr", "--out", "{d}/out")
HDR = "{d}/cube.hdr"

CLASSIFY: list[BadInput] = [
    BadInput(
        "overwrite-a-folder-holding-the-cube",
        ("hsi", "classify", "{d}/out/cube.hdr", "--out", "{d}/out", "--overwrite"),
        ("{d}/out", "cube.hdr"),
        _out_with_the_cube,
    ),
    BadInput(
        "missing-cube", ("hsi", "classify", "{d}/none.hdr", "--out", "{d}/out"), ("{d}/none.hdr",)
    ),
    BadInput(
        "cube-is-a-folder",
        ("hsi", "classify", "{d}/sub", "--out", "{d}/out"),
        ("{d}/sub",),
        lambda d: (d / "sub").mkdir(),
    ),
    BadInput(
        "unknown-format",
        ("hsi", "classify", "{d}/c.xyz", "--out", "{d}/out"),
        ("{d}/c.xyz",),
        with_file("c.xyz", "hello"),
    ),
    BadInput("header-without-envi-magic", C, (HDR, "ENVI"), cube_then(_no_magic)),
    BadInput("header-empty", C, (HDR,), cube_then(with_file("cube.hdr", ""))),
    BadInput("header-binary", C, (HDR,), cube_then(with_file("cube.hdr", bytes(range(256)) * 4))),
    BadInput("header-unclosed-brace", C, (HDR, "wavelength"), cube_then(_unclosed_brace)),
    BadInput(
        "header-line-without-equals",
        C,
        (HDR, "key = value"),
        cube_then(lambda d: (d / "cube.hdr").write_text(_header_text(d) + "garbage line\n")),
    ),
    BadInput("interleave-unknown", C, (HDR, "interleave"), cube_with("interleave", "xyz")),
    BadInput("data-type-unknown", C, (HDR, "data type"), cube_with("data type", "99")),
    BadInput("data-type-complex", C, (HDR, "data type"), cube_with("data type", "6")),
    BadInput("data-type-text", C, (HDR, "data type"), cube_with("data type", "float")),
    BadInput("data-type-too-big-for-file", C, ("{d}/cube.img", "data type"), _int16_as_float64),
    BadInput("data-type-too-small-for-file", C, ("{d}/cube.img", "data type"), _float32_as_int16),
    BadInput("lines-zero", C, (HDR, "lines"), cube_with("lines", "0")),
    BadInput("lines-negative", C, (HDR, "lines"), cube_with("lines", "-3")),
    BadInput("lines-missing", C, (HDR, "lines"), cube_with("lines", None)),
    BadInput("samples-not-a-number", C, (HDR, "samples"), cube_with("samples", "abc")),
    BadInput("samples-fraction", C, (HDR, "samples"), cube_with("samples", "5.5")),
    BadInput("bands-huge", C, (HDR, "bands"), cube_with("bands", "1000000000000")),
    BadInput(
        "bands-huge-but-allowed-size", C, (HDR, "9000000 bands"), cube_with("bands", "9000000")
    ),
    BadInput("byte-order-invalid", C, (HDR, "byte order"), cube_with("byte order", "7")),
    BadInput("header-offset-negative", C, (HDR, "header offset"), cube_with("header offset", "-5")),
    BadInput(
        "header-offset-beyond-file",
        C,
        ("{d}/cube.img", "header offset"),
        cube_with("header offset", "4096"),
    ),
    BadInput("lines-bit-flipped", C, ("{d}/cube.img",), cube_then(_flip_lines_digit)),
    BadInput("data-file-missing", C, (HDR, "data file"), cube_then(_remove_data)),
    BadInput("data-file-truncated", C, ("{d}/cube.img",), cube_then(_truncate_data)),
    BadInput(
        "wavelength-missing",
        C,
        (HDR, "wavelength", "--wavelengths FILE"),
        cube_with("wavelength", None),
    ),
    BadInput(
        "wavelength-count-wrong", C, (HDR, "wavelength"), cube_with("wavelength", "{500, 600, 700}")
    ),
    BadInput(
        "wavelength-not-numbers",
        C,
        (HDR, "wavelength"),
        cube_with("wavelength", "{" + ", ".join(["abc"] * BANDS) + "}"),
    ),
    BadInput(
        "wavelength-nan",
        C,
        (HDR, "wavelength"),
        cube_with("wavelength", "{" + ", ".join(["nan"] * BANDS) + "}"),
    ),
    BadInput(
        "wavelength-negative",
        C,
        (HDR, "wavelength"),
        cube_with("wavelength", "{" + ", ".join(["-500"] * BANDS) + "}"),
    ),
    BadInput("fwhm-count-wrong", C, (HDR, "fwhm"), cube_with("fwhm", "{10, 10}")),
    BadInput(
        "bbl-not-numbers", C, (HDR, "bbl"), cube_with("bbl", "{" + ", ".join(["yes"] * BANDS) + "}")
    ),
    BadInput(
        "ignore-value-text", C, (HDR, "data ignore value"), cube_with("data ignore value", "none")
    ),
    BadInput("map-info-garbage", C, (HDR, "map info"), cube_with("map info", "{UTM, 1, 1, abc}")),
    BadInput(
        "map-info-zone-99",
        C,
        (HDR, "map info"),
        cube_with("map info", "{UTM, 1, 1, 500000, 4000000, 1, 1, 99, North, WGS-84}"),
    ),
    BadInput(
        "map-info-zero-pixel",
        C,
        (HDR, "map info"),
        cube_with("map info", "{UTM, 1, 1, 500000, 4000000, 0, 1, 13, North, WGS-84}"),
    ),
    BadInput(
        "cube-all-nan",
        ("hsi", "classify", "{d}/cube.hdr", "--out", "{d}/out"),
        (HDR, "no pixel"),
        _nan_cube,
    ),
    BadInput(
        "wavelengths-file-missing",
        (*C, "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt",),
        cube_with("wavelength", None),
    ),
    BadInput(
        "wavelengths-file-garbage",
        (*C, "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt",),
        with_file("wl.txt", "500\nfive hundred\n", cube_with("wavelength", None)),
    ),
    BadInput(
        "wavelengths-file-wrong-count",
        (*C, "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt", "12 bands"),
        with_file("wl.txt", "500\n600\n", cube_with("wavelength", None)),
    ),
    BadInput(
        "wavelengths-file-nan",
        (*C, "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt",),
        with_file("wl.txt", "nan\n" * BANDS, cube_with("wavelength", None)),
    ),
    BadInput(
        "library-missing",
        (*C, "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
        cube_then(lambda d: None),
    ),
    BadInput(
        "library-one-row",
        (*C, "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
        with_file("lib.csv", "wavelength_nm,a\n500,0.1\n", _cube),
    ),
    BadInput(
        "library-not-numbers",
        (*C, "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
        with_file("lib.csv", "wavelength_nm,a\n500,x\n600,y\n700,z\n", _cube),
    ),
    BadInput(
        "library-no-wavelength-column",
        (*C, "--library", "{d}/lib.csv"),
        ("{d}/lib.csv", "wavelength"),
        with_file("lib.csv", "band,a\n1,0.1\n2,0.2\n3,0.3\n", _cube),
    ),
    BadInput(
        "library-unknown-format",
        (*C, "--library", "{d}/lib.xls"),
        ("{d}/lib.xls",),
        with_file("lib.xls", "x", _cube),
    ),
    BadInput(
        "library-sli-garbage-header",
        (*C, "--library", "{d}/lib.sli"),
        ("{d}/lib",),
        both(_cube, with_file("lib.sli", b"\0" * 64), with_file("lib.hdr", "not envi\n")),
    ),
    BadInput(
        "library-no-overlap",
        (*C, "--library", "{d}/lib.csv"),
        ("{d}/",),
        with_file(
            "lib.csv", "wavelength_nm,a: a,b: b\n5000,0.1,0.2\n6000,0.2,0.3\n7000,0.3,0.4\n", _cube
        ),
    ),
    BadInput("classes-unknown", (*C, "--classes", "unobtainium"), ("unobtainium",), _cube),
    BadInput(
        "class-threshold-garbage",
        (*C, "--class-threshold", "abc"),
        ("--class-threshold", "abc"),
        _cube,
    ),
    BadInput(
        "class-threshold-nan",
        (*C, "--class-threshold", "jarosite=nan"),
        ("--class-threshold",),
        _cube,
    ),
    BadInput(
        "class-threshold-negative",
        (*C, "--class-threshold", "jarosite=-1"),
        ("--class-threshold",),
        _cube,
    ),
    BadInput(
        "class-threshold-no-name", (*C, "--class-threshold", "=0.1"), ("--class-threshold",), _cube
    ),
    BadInput(
        "class-threshold-unknown-class",
        (*C, "--class-threshold", "unobtainium=0.1"),
        ("unobtainium",),
        _cube,
    ),
    BadInput("threshold-nan", (*C, "--threshold", "nan"), ("--threshold",), _cube),
    BadInput("threshold-inf", (*C, "--threshold", "inf"), ("--threshold",), _cube),
    BadInput("tile-mb-zero", (*C, "--tile-mb", "0"), ("--tile-mb",), _cube),
    BadInput("tile-mb-nan", (*C, "--tile-mb", "nan"), ("--tile-mb",), _cube),
    BadInput(
        "labels-object-npy",
        (*C, "--labels", "{d}/labels.npy"),
        ("{d}/labels.npy", "pickled"),
        _npy("labels.npy", _object_labels()),
    ),
    BadInput(
        "labels-wrong-shape",
        (*C, "--labels", "{d}/labels.npy"),
        ("{d}/labels.npy", "(3, 3)"),
        _npy("labels.npy", np.ones((3, 3), np.int32)),
    ),
    BadInput(
        "labels-nan",
        (*C, "--labels", "{d}/labels.npy"),
        ("{d}/labels.npy",),
        _npy("labels.npy", np.full((6, 5), np.nan)),
    ),
    BadInput(
        "labels-negative",
        (*C, "--labels", "{d}/labels.npy"),
        ("{d}/labels.npy",),
        _npy("labels.npy", -np.ones((6, 5), np.int32)),
    ),
    BadInput(
        "labels-strings",
        (*C, "--labels", "{d}/labels.npy"),
        ("{d}/labels.npy",),
        _npy("labels.npy", np.full((6, 5), "x")),
    ),
    BadInput(
        "labels-truncated-npy",
        (*C, "--labels", "{d}/labels.npy"),
        ("{d}/labels.npy",),
        with_file("labels.npy", b"\x93NUMPY\x01\x00", _cube),
    ),
    BadInput("labels-missing", (*C, "--labels", "{d}/labels.npy"), ("{d}/labels.npy",), _cube),
    BadInput(
        "labels-tif-not-a-raster",
        (*C, "--labels", "{d}/labels.tif"),
        ("{d}/labels.tif",),
        with_file("labels.tif", "not a tiff", _cube),
    ),
    BadInput(
        "labels-mat-garbage",
        (*C, "--labels", "{d}/labels.mat"),
        ("{d}/labels.mat",),
        with_file("labels.mat", b"MATLAB garbage" * 10, _cube),
    ),
    BadInput("irradiance-missing", (*C, "--irradiance", "{d}/sun.csv"), ("{d}/sun.csv",), _cube),
    BadInput(
        "irradiance-zero",
        (*C, "--irradiance", "{d}/sun.csv"),
        ("{d}/sun.csv",),
        with_file("sun.csv", "wavelength_nm,irradiance_rel\n300,0\n3000,0\n", _cube),
    ),
    BadInput(
        "out-under-a-file",
        ("hsi", "classify", "{d}/cube.hdr", "--out", "{d}/afile/out"),
        ("{d}/afile",),
        both(_cube, _afile),
    ),
    BadInput(
        "out-is-a-file",
        ("hsi", "classify", "{d}/cube.hdr", "--out", "{d}/afile"),
        ("{d}/afile",),
        both(_cube, _afile),
    ),
    BadInput("out-used-without-overwrite", C, ("{d}/out", "--overwrite"), _used_out),
    BadInput(
        "mat-garbage",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat",),
        with_file("c.mat", b"\x00\x01garbage" * 40),
    ),
    BadInput(
        "mat-without-cube",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat", "no cube"),
        _mat("c.mat", x=np.array([1.0])),
    ),
    BadInput(
        "mat-1d-cube",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat",),
        _mat("c.mat", Y=np.ones(10)),
    ),
    BadInput(
        "mat-2d-wrong-pixels",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat", "pixels"),
        _mat("c.mat", Y=np.ones((12, 10)), nRow=3, nCol=3),
    ),
    BadInput(
        "mat-strings",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat",),
        _mat("c.mat", Y=np.array([["abc", "def"]])),
    ),
    BadInput(
        "mat-nan-maxvalue",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat", "maxValue"),
        _mat("c.mat", Y=np.ones((3, 3, 4)), maxValue=np.nan),
    ),
    BadInput(
        "mat-without-wavelengths",
        ("hsi", "classify", "{d}/c.mat", "--out", "{d}/out"),
        ("{d}/c.mat", "--wavelengths FILE"),
        _mat("c.mat", Y=np.ones((3, 3, 4))),
    ),
    BadInput(
        "model-garbage",
        (*C, "--model", "{d}/model.pt"),
        ("{d}/model.pt",),
        with_file("model.pt", b"not torch", _cube),
    ),
    BadInput(
        "model-bands-mismatch",
        (*C, "--model", "{d}/model.pt"),
        ("{d}/cube.hdr", "bands"),
        both(_cube, _model),
    ),
    BadInput(
        "model-into-used-out",
        (*C, "--model", "{d}/model.pt"),
        ("{d}/out", "--overwrite"),
        both(_used_out, _model),
    ),
]


def _library_csv(d: Path) -> None:
    (d / "lib.csv").write_text("wavelength_nm,a: one\n500,0.1\n600,0.2\n700,0.3\n")


LIBRARY: list[BadInput] = [
    BadInput(
        "library-list-missing",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
    ),
    BadInput(
        "library-list-empty",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
        with_file("lib.csv", ""),
    ),
    BadInput(
        "library-list-binary",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
        with_file("lib.csv", bytes(range(256))),
    ),
    BadInput(
        "library-list-empty-wavelength-cell",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv", "wavelength"),
        with_file("lib.csv", "wavelength_nm,a\n500,0.1\n,0.2\n700,0.3\n"),
    ),
    BadInput(
        "library-list-nan-wavelength",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv", "wavelength"),
        with_file("lib.csv", "wavelength_nm,a\n500,0.1\nnan,0.2\n700,0.3\n"),
    ),
    BadInput(
        "library-list-inf-wavelength",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv", "wavelength"),
        with_file("lib.csv", "wavelength_nm,a\n500,0.1\ninf,0.2\n700,0.3\n"),
    ),
    BadInput(
        "library-list-inf-reflectance",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv", "infinite"),
        with_file("lib.csv", "wavelength_nm,a\n500,0.1\n600,inf\n700,0.3\n"),
    ),
    BadInput(
        "library-list-long-row",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv", "row 3"),
        with_file("lib.csv", "wavelength_nm,a\n500,0.1\n600,0.2,0.5\n700,0.3\n"),
    ),
    BadInput(
        "library-list-only-wavelengths",
        ("hsi", "library", "list", "--library", "{d}/lib.csv"),
        ("{d}/lib.csv",),
        with_file("lib.csv", "wavelength_nm\n500\n600\n700\n"),
    ),
    BadInput(
        "library-list-sli-missing-data",
        ("hsi", "library", "list", "--library", "{d}/lib.hdr"),
        ("{d}/lib",),
        with_file(
            "lib.hdr",
            "ENVI\nsamples = 3\nlines = 1\nbands = 1\ndata type = 4\n"
            "file type = ENVI Spectral Library\n",
        ),
    ),
    BadInput(
        "library-show-unknown-name", ("hsi", "library", "show", "unobtainium"), ("unobtainium",)
    ),
    BadInput(
        "library-show-wavelengths-garbage",
        ("hsi", "library", "show", "jarosite", "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt",),
        with_file("wl.txt", "abc\n"),
    ),
    BadInput(
        "library-show-wavelengths-empty",
        ("hsi", "library", "show", "jarosite", "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt",),
        with_file("wl.txt", ""),
    ),
    BadInput(
        "library-show-wavelengths-inf",
        ("hsi", "library", "show", "jarosite", "--wavelengths", "{d}/wl.txt"),
        ("{d}/wl.txt",),
        with_file("wl.txt", "500\ninf\n"),
    ),
    BadInput(
        "library-show-plot-under-a-file",
        ("hsi", "library", "show", "jarosite", "--plot", "{d}/afile/p.png"),
        ("{d}/afile",),
        _afile,
    ),
]

CAL = ("hsi", "calibrate", "{d}/cube.hdr", "--out", "{d}/refl.hdr")
CALIBRATE: list[BadInput] = [
    BadInput("calibrate-no-method", CAL, ("--dark",), _cube),
    BadInput("calibrate-dark-only", (*CAL, "--dark", "{d}/cube.hdr"), ("--white",), _cube),
    BadInput(
        "calibrate-dark-missing",
        (*CAL, "--dark", "{d}/dark.hdr", "--white", "{d}/cube.hdr"),
        ("{d}/dark.hdr",),
        _cube,
    ),
    BadInput(
        "calibrate-white-bands-mismatch",
        (*CAL, "--dark", "{d}/cube.hdr", "--white", "{d}/white.hdr"),
        ("{d}/white.hdr", "bands"),
        both(_cube, lambda d: _cube(d, "white", np.ones((2, 5, 4), np.float32), wavelengths=False)),
    ),
    BadInput(
        "calibrate-white-below-dark",
        (*CAL, "--dark", "{d}/cube.hdr", "--white", "{d}/white.hdr"),
        ("{d}/white.hdr",),
        both(_cube, lambda d: _cube(d, "white", np.zeros((2, 5, BANDS), np.float32))),
    ),
    BadInput(
        "calibrate-white-nan",
        (*CAL, "--dark", "{d}/dark.hdr", "--white", "{d}/white.hdr"),
        ("{d}/white.hdr",),
        both(
            _cube,
            lambda d: _cube(d, "dark", np.zeros((2, 5, BANDS), np.float32)),
            lambda d: _cube(d, "white", np.full((2, 5, BANDS), np.nan, np.float32)),
        ),
    ),
    BadInput(
        "calibrate-out-not-hdr",
        ("hsi", "calibrate", "{d}/cube.hdr", "--out", "{d}/refl.tif", "--drop-bad-bands"),
        ("{d}/refl.tif",),
        _cube,
    ),
    BadInput(
        "calibrate-out-exists",
        (*CAL, "--drop-bad-bands"),
        ("{d}/refl.hdr", "--overwrite"),
        both(_cube, with_file("refl.hdr", "old")),
    ),
    BadInput(
        "calibrate-out-under-a-file",
        ("hsi", "calibrate", "{d}/cube.hdr", "--out", "{d}/afile/r.hdr", "--drop-bad-bands"),
        ("{d}/afile",),
        both(_cube, _afile),
    ),
    BadInput(
        "calibrate-white-reflectance-nan",
        (*CAL, "--dark", "{d}/cube.hdr", "--white", "{d}/cube.hdr", "--white-reflectance", "nan"),
        ("--white-reflectance",),
        _cube,
    ),
    BadInput(
        "calibrate-white-reflectance-zero",
        (*CAL, "--dark", "{d}/cube.hdr", "--white", "{d}/cube.hdr", "--white-reflectance", "0"),
        ("--white-reflectance",),
        _cube,
    ),
    BadInput(
        "calibrate-target-radius-negative",
        (*CAL, "--targets", "{d}/t.csv", "--target-radius", "-1"),
        ("--target-radius",),
        _cube,
    ),
    BadInput(
        "calibrate-min-snr-nan",
        (*CAL, "--drop-bad-bands", "--min-snr", "nan"),
        ("--min-snr",),
        _cube,
    ),
    BadInput(
        "calibrate-targets-garbage",
        (*CAL, "--targets", "{d}/t.csv"),
        ("{d}/t.csv",),
        with_file("t.csv", "hello\n", _cube),
    ),
    BadInput(
        "calibrate-targets-bad-column",
        (*CAL, "--targets", "{d}/t.csv"),
        ("{d}/t.csv", "NAME@LINE,SAMPLE"),
        with_file("t.csv", "wavelength_nm,dark,bright\n300,0.1,0.9\n3000,0.1,0.9\n", _cube),
    ),
    BadInput(
        "calibrate-target-outside-cube",
        (*CAL, "--targets", "{d}/t.csv"),
        ("{d}/t.csv", "outside"),
        with_file(
            "t.csv", 'wavelength_nm,"dark@0,0","bright@99,99"\n300,0.1,0.9\n3000,0.1,0.9\n', _cube
        ),
    ),
    BadInput(
        "calibrate-drop-bad-bands-no-wavelengths",
        ("hsi", "calibrate", "{d}/c.mat", "--out", "{d}/refl.hdr", "--drop-bad-bands"),
        ("bad-band",),
        _mat("c.mat", Y=np.ones((3, 3, 4))),
    ),
]

TR = ("hsi", "train", "{d}/cube.hdr", "--labels", "{d}/labels.npy", "--out", "{d}/m.pt")
_labels_ok = _npy("labels.npy", np.tile(np.array([1, 2, 1, 2, 1]), (6, 1)).astype(np.int32))
TRAIN: list[BadInput] = [
    BadInput(
        "train-labels-object-npy",
        TR,
        ("{d}/labels.npy", "pickled"),
        _npy("labels.npy", _object_labels()),
    ),
    BadInput(
        "train-labels-wrong-shape",
        TR,
        ("{d}/labels.npy", "(2, 2)"),
        _npy("labels.npy", np.ones((2, 2), np.int32)),
    ),
    BadInput(
        "train-labels-one-class",
        TR,
        ("{d}/labels.npy", "class"),
        _npy("labels.npy", np.ones((6, 5), np.int32)),
    ),
    BadInput(
        "train-labels-all-unlabelled",
        TR,
        ("{d}/labels.npy",),
        _npy("labels.npy", np.zeros((6, 5), np.int32)),
    ),
    BadInput(
        "train-labels-huge",
        TR,
        ("{d}/labels.npy", "65535"),
        _npy("labels.npy", np.full((6, 5), 2**40, np.int64)),
    ),
    BadInput("train-patch-even", (*TR, "--patch", "4"), ("--patch",), _labels_ok),
    BadInput("train-patch-huge", (*TR, "--patch", "1001"), ("--patch",), _labels_ok),
    BadInput("train-epochs-zero", (*TR, "--epochs", "0"), ("--epochs",), _labels_ok),
    BadInput("train-per-class-negative", (*TR, "--per-class", "-2"), ("--per-class",), _labels_ok),
    BadInput(
        "train-out-under-a-file",
        ("hsi", "train", "{d}/cube.hdr", "--labels", "{d}/labels.npy", "--out", "{d}/afile/m.pt"),
        ("{d}/afile",),
        both(_labels_ok, _afile),
    ),
    BadInput(
        "train-out-is-a-folder",
        ("hsi", "train", "{d}/cube.hdr", "--labels", "{d}/labels.npy", "--out", "{d}"),
        ("--out",),
        _labels_ok,
    ),
    BadInput(
        "train-nan-cube",
        TR,
        ("{d}/cube.hdr", "NaN"),
        both(_labels_ok, lambda d: _cube(d, data=np.full((6, 5, BANDS), np.nan, np.float32))),
    ),
]

UM = ("hsi", "unmix", "{d}/cube.hdr", "--out", "{d}/out", "--endmembers", "bundled", "--classes")
UMX = ("hsi", "unmix", "{d}/cube.mat", "--out", "{d}/out")


def _mat(d: Path, **arrays: object) -> None:
    from scipy.io import savemat

    savemat(str(d / "cube.mat"), arrays)


def _mat_no_cube(d: Path) -> None:
    _mat(d, M=np.ones((5, 2)), labels=np.zeros((3, 3)))


def _mat_cube(d: Path) -> None:
    rng = np.random.default_rng(0)
    _mat(d, Y=rng.random((5, 16)), nRow=4, nCol=4)


UNMIX: list[BadInput] = [
    BadInput("unmix-unknown-class", (*UM, "unobtainium"), ("unobtainium",), _cube),
    BadInput(
        "unmix-no-wavelengths",
        (*UM, "jarosite"),
        ("--wavelengths FILE",),
        cube_with("wavelength", None),
    ),
    BadInput(
        "unmix-out-exists",
        (*UM, "jarosite"),
        ("{d}/out", "--overwrite"),
        both(_cube, with_file("out/report.json", "{}")),
    ),
    BadInput(
        "unmix-out-is-a-file",
        ("hsi", "unmix", "{d}/cube.hdr", "--out", "{d}/afile", "--extract", "2"),
        ("{d}/afile",),
        both(_cube, _afile),
    ),
    BadInput(
        "unmix-out-under-a-file",
        ("hsi", "unmix", "{d}/cube.hdr", "--out", "{d}/afile/o", "--extract", "2"),
        ("{d}/afile",),
        both(_cube, _afile),
    ),
    BadInput("unmix-all-nan", (*UM, "jarosite"), ("{d}/cube.hdr", "no pixel"), _nan_cube),
    BadInput(
        "unmix-extract-all-nan",
        (*UMX[:2], "{d}/cube.hdr", *UMX[3:], "--extract", "2"),
        ("{d}/cube.hdr", "no pixel"),
        _nan_cube,
    ),
    BadInput(
        "unmix-wavelengths-mismatch",
        (*UM[:5], "--wavelengths", "{d}/wl.txt", *UM[5:], "jarosite"),
        ("{d}/wl.txt", "bands"),
        with_file("wl.txt", "500\n600\n", _cube),
    ),
    BadInput(
        "unmix-mat-without-a-cube",
        (*UMX, "--extract", "2"),
        ("{d}/cube.mat", "no cube variable", "--variable", "M 5x2", "labels 3x3"),
        _mat_no_cube,
    ),
    BadInput(
        "unmix-mat-two-equal-cubes",
        (*UMX, "--extract", "2"),
        ("which is the cube", "a 3x4x5", "b 3x4x5"),
        lambda d: _mat(d, a=np.ones((3, 4, 5)), b=np.ones((3, 4, 5))),
    ),
    BadInput(
        "unmix-mat-missing-variable",
        (*UMX, "--extract", "2", "--variable", "Z"),
        ("{d}/cube.mat", "'Z'", "Y 5x16"),
        _mat_cube,
    ),
    BadInput(
        "unmix-endmembers-wrong-bands",
        (*UMX, "--endmembers", "{d}/em.csv"),
        ("{d}/em.csv", "3 bands", "cube 5"),
        both(_mat_cube, with_file("em.csv", "band,a,b\n1,0.1,0.2\n2,0.2,0.3\n3,0.3,0.1\n")),
    ),
    BadInput(
        "unmix-truth-wrong-bands",
        (*UMX, "--extract", "2", "--truth", "{d}/em.csv"),
        ("--truth", "{d}/em.csv", "3 bands"),
        both(_mat_cube, with_file("em.csv", "band,a,b\n1,0.1,0.2\n2,0.2,0.3\n3,0.3,0.1\n")),
    ),
    BadInput(
        "unmix-variable-on-envi",
        ("hsi", "unmix", "{d}/cube.hdr", "--out", "{d}/out", "--extract", "2", "--variable", "Y"),
        ("--variable",),
        _cube,
    ),
    BadInput(
        "unmix-too-few-endmembers",
        (*UMX, "--extract", "1"),
        ("--extract 1",),
        _mat_cube,
    ),
]

OR = ("hsi", "ortho", "{d}/none.mcap", "--dem", "{d}/dem.tif", "--out", "{d}/out")
ORV = (
    "hsi",
    "ortho",
    "{d}/run.mcap",
    "--dem",
    "{d}/dem.tif",
    "--poses",
    "{d}/poses.txt",
    "--out",
    "{d}/out",
)
ORTHO: list[BadInput] = [
    BadInput(
        "ortho-dem-all-nan",
        OR,
        ("{d}/dem.tif", "no heights"),
        lambda d: _dem(d, height_m=float("nan")),
    ),
    BadInput(
        "ortho-dem-all-inf",
        OR,
        ("{d}/dem.tif", "no heights"),
        lambda d: _dem(d, height_m=float("inf")),
    ),
    BadInput(
        "ortho-reference-is-text",
        (*OR, "--reference", "{d}/zones.tif"),
        ("{d}/zones.tif",),
        with_file("zones.tif", "zones", _dem),
    ),
    BadInput(
        "ortho-reference-without-zones-tag",
        (*OR, "--reference", "{d}/zones.tif"),
        ("{d}/zones.tif", "zones"),
        both(_dem, lambda d: _dem(d, "zones.tif")),
    ),
    BadInput("ortho-dem-missing", OR, ("{d}/dem.tif",)),
    BadInput(
        "ortho-dem-not-a-raster", OR, ("{d}/dem.tif",), with_file("dem.tif", "elevation: high\n")
    ),
    BadInput(
        "ortho-dem-geographic", OR, ("{d}/dem.tif", "projected"), lambda d: _dem(d, epsg=4326)
    ),
    BadInput("ortho-origin-garbage", (*OR, "--origin", "abc"), ("--origin", "abc"), _dem),
    BadInput("ortho-origin-nan", (*OR, "--origin", "nan,10,0"), ("--origin",), _dem),
    BadInput("ortho-origin-latitude-200", (*OR, "--origin", "200,10,0"), ("--origin",), _dem),
    BadInput("ortho-origin-two-values", (*OR, "--origin", "40,-105"), ("--origin",), _dem),
    BadInput(
        "ortho-scene-json-garbage",
        (*OR, "--origin", "{d}/scene.json"),
        ("{d}/scene.json",),
        with_file("scene.json", "{not json", _dem),
    ),
    BadInput(
        "ortho-scene-json-no-origin",
        (*OR, "--origin", "{d}/scene.json"),
        ("{d}/scene.json", "origin"),
        with_file("scene.json", json.dumps({"name": "pit"}), _dem),
    ),
    BadInput(
        "ortho-scene-json-nan-origin",
        (*OR, "--origin", "{d}/scene.json"),
        ("{d}/scene.json",),
        with_file("scene.json", '{"origin": {"lat_deg": NaN, "lon_deg": 0, "alt_m": 0}}', _dem),
    ),
    BadInput("ortho-poses-missing", (*OR, "--poses", "{d}/poses.txt"), ("{d}/poses.txt",), _dem),
    BadInput(
        "ortho-poses-garbage",
        (*OR, "--poses", "{d}/poses.txt"),
        ("{d}/poses.txt",),
        both(_dem, lambda d: _tum(d, "hello world\n")),
    ),
    BadInput(
        "ortho-poses-seven-columns",
        (*OR, "--poses", "{d}/poses.txt"),
        ("{d}/poses.txt", "columns"),
        both(_dem, lambda d: _tum(d, "0 0 0 0 0 0 1\n")),
    ),
    BadInput(
        "ortho-poses-nan",
        (*OR, "--poses", "{d}/poses.txt"),
        ("{d}/poses.txt",),
        both(_dem, lambda d: _tum(d, "0 nan 0 0 0 0 0 1\n")),
    ),
    BadInput(
        "ortho-poses-zero-quaternion",
        (*OR, "--poses", "{d}/poses.txt"),
        ("{d}/poses.txt",),
        both(_dem, lambda d: _tum(d, "0 0 0 0 0 0 0 0\n")),
    ),
    BadInput(
        "ortho-poses-binary",
        (*OR, "--poses", "{d}/poses.txt"),
        ("{d}/poses.txt",),
        both(_dem, with_file("poses.txt", bytes(range(128, 256)))),
    ),
    BadInput(
        "ortho-poses-empty",
        (*OR, "--poses", "{d}/poses.txt"),
        ("{d}/poses.txt",),
        both(_dem, lambda d: _tum(d, "# nothing\n")),
    ),
    BadInput("ortho-cell-m-negative", (*OR, "--cell-m", "-1"), ("--cell-m",), _dem),
    BadInput("ortho-cell-m-tiny", (*OR, "--cell-m", "1e-6"), ("{d}/dem.tif", "--cell-m"), _dem),
    BadInput(
        "ortho-incidence-100", (*OR, "--max-incidence-deg", "100"), ("--max-incidence-deg",), _dem
    ),
    BadInput(
        "ortho-reference-missing", (*OR, "--reference", "{d}/zones.tif"), ("{d}/zones.tif",), _dem
    ),
    BadInput("ortho-bag-missing", ORV, ("{d}/run.mcap",), both(_dem, _tum)),
    BadInput(
        "ortho-bag-garbage",
        ORV,
        ("{d}/run.mcap",),
        both(_dem, _tum, with_file("run.mcap", b"\x89MCAP0\r\n" + b"\x00" * 50)),
    ),
    BadInput("ortho-out-used", ORV, ("{d}/out", "--overwrite"), both(_dem, _tum, _used_out)),
    BadInput(
        "ortho-class-threshold-garbage",
        (*OR, "--class-threshold", "x"),
        ("--class-threshold",),
        _dem,
    ),
]


def hsi_bag(
    wavelengths: list[float] | None = None, topic: str = "/hyperspectral/image_raw"
) -> Maker:
    """A real bag with one 4 x 5 x 12-band frame on ``topic`` (32FC12) and, unless None,
    ``wavelengths`` on the latched /hyperspectral/wavelengths (Float32MultiArray)."""

    def make(d: Path) -> None:
        from smartmine.bagio import BagWriter
        from smartmine.msgs.image import numpy_to_image

        cube = (0.1 + 0.5 * np.random.default_rng(1).random((4, 5, BANDS))).astype(np.float32)
        with BagWriter(d / "run.mcap") as bag:
            f = bag.factory
            bag.add_topic(topic, "sensor_msgs/msg/Image")
            if wavelengths is not None:
                bag.add_topic("/hyperspectral/wavelengths", "std_msgs/msg/Float32MultiArray")
                wl = np.asarray(wavelengths, np.float32)
                dim = f(
                    "std_msgs/msg/MultiArrayDimension", label="nm", size=len(wl), stride=len(wl)
                )
                layout = f("std_msgs/msg/MultiArrayLayout", dim=[dim], data_offset=0)
                message = f("std_msgs/msg/Float32MultiArray", layout=layout, data=wl)
                bag.write("/hyperspectral/wavelengths", 10**9, message)
            image = numpy_to_image(
                cube, f"32FC{BANDS}", stamp_ns=10**9, frame_id="hsi_optical", factory=f
            )
            bag.write(topic, 10**9, image)

    return make


B = ("hsi", "classify", "{d}/run.mcap", "--out", "{d}/out")
BAG = "{d}/run.mcap"
BAGS: list[BadInput] = [
    BadInput(
        "bag-without-hsi-topic",
        B,
        (BAG, "/hyperspectral/image_raw"),
        hsi_bag(list(WL_NM), "/camera/image"),
    ),
    BadInput("bag-without-wavelengths", B, (BAG, "--wavelengths FILE"), hsi_bag(None)),
    BadInput("bag-wavelengths-count-wrong", B, (BAG, "band"), hsi_bag([500.0, 600.0, 700.0])),
    BadInput(
        "bag-wavelengths-nan",
        B,
        (BAG, "/hyperspectral/wavelengths"),
        hsi_bag([float("nan")] * BANDS),
    ),
    BadInput(
        "ortho-bag-without-wavelengths",
        ORV,
        (BAG, "/hyperspectral/wavelengths"),
        both(_dem, _tum, hsi_bag(None)),
    ),
    BadInput(
        "ortho-bag-wavelengths-count-wrong",
        ORV,
        (BAG, "band"),
        both(_dem, _tum, hsi_bag([500.0, 600.0])),
    ),
    BadInput(
        "ortho-bag-without-camera-info",
        ORV,
        (BAG, "--camera"),
        both(_dem, _tum, hsi_bag(list(WL_NM))),
    ),
    BadInput(
        "ortho-camera-yaml-garbage",
        (*ORV, "--camera", "{d}/cam.yaml"),
        ("{d}/cam.yaml",),
        both(_dem, _tum, hsi_bag(list(WL_NM)), with_file("cam.yaml", "{{{")),
    ),
]

UNWRITABLE: list[BadInput] = [
    BadInput(
        "classify-a-spectral-library",
        ("hsi", "classify", HDR, "--out", "{d}/out"),
        (HDR, "--library"),
        cube_with("file type", "ENVI Spectral Library"),
    ),
    BadInput(
        "classify-out-in-proc",
        ("hsi", "classify", HDR, "--out", "/proc/1/nope"),
        ("/proc/1/nope",),
        _cube,
    ),
    BadInput(
        "unmix-out-in-proc",
        ("hsi", "unmix", HDR, "--out", "/proc/1/a", "--extract", "2"),
        ("/proc/1/a",),
        _cube,
    ),
    BadInput(
        "calibrate-out-in-proc",
        ("hsi", "calibrate", HDR, "--out", "/proc/1/r.hdr", "--drop-bad-bands"),
        ("/proc/1/r.hdr",),
        _cube,
    ),
    BadInput(
        "train-out-in-proc",
        ("hsi", "train", HDR, "--labels", "{d}/labels.npy", "--out", "/proc/1/m.pt"),
        ("/proc/1/m.pt",),
        _labels_ok,
    ),
    BadInput(
        "library-plot-in-proc",
        ("hsi", "library", "show", "jarosite", "--plot", "/proc/1/p.png"),
        ("/proc/1/p.png",),
    ),
    BadInput(
        "ortho-out-in-proc",
        ("hsi", "ortho", "{d}/run.mcap", "--dem", "{d}/dem.tif", "--out", "/proc/1/o"),
        ("/proc/1/o",),
        _dem,
    ),
]

CASES = CLASSIFY + LIBRARY + CALIBRATE + TRAIN + UNMIX + ORTHO + BAGS + UNWRITABLE


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_with_nothing_written(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path / "case")


def test_the_corpus_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


def test_classify_into_a_used_out_never_reports_old_products(tmp_path: Path) -> None:
    """The old report is neither printed as new nor kept: without --overwrite the run is
    refused naming the folder; with it the products are the new run's."""
    _cube(tmp_path)
    out = tmp_path / "out"
    first = run_main(["hsi", "classify", str(tmp_path / "cube.hdr"), "--out", str(out)])
    assert first.code == 0, first.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["method"] == "sam"
    stale = out / "class_probability.tif"  # a model run's product, not a SAM run's
    stale.write_text("from an older run")
    again = run_main(
        ["hsi", "classify", str(tmp_path / "cube.hdr"), "--out", str(out), "--method", "sid"]
    )
    assert again.code == 2 and str(out) in again.stderr and "--overwrite" in again.stderr
    assert "sid" not in again.stdout.lower()
    assert json.loads((out / "report.json").read_text())["summary"]["method"] == "sam"
    cube = str(tmp_path / "cube.hdr")
    replaced = run_main(
        ["hsi", "classify", cube, "--out", str(out), "--method", "sid", "--overwrite"]
    )
    assert replaced.code == 0, replaced.stderr
    assert json.loads((out / "report.json").read_text())["summary"]["method"] == "sid"
    assert not stale.exists()  # the folder was replaced as a whole
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_failed_overwrite_keeps_the_old_products(tmp_path: Path) -> None:
    """--overwrite with bad labels: refused, the earlier products untouched."""
    _cube(tmp_path)
    out = tmp_path / "out"
    assert run_main(["hsi", "classify", str(tmp_path / "cube.hdr"), "--out", str(out)]).code == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    np.save(tmp_path / "labels.npy", np.ones((2, 2), np.int32))
    labels = str(tmp_path / "labels.npy")
    cube = str(tmp_path / "cube.hdr")
    bad = run_main(["hsi", "classify", cube, "--out", str(out), "--overwrite", "--labels", labels])
    assert bad.code == 2 and "labels.npy" in bad.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_mat_cube_classifies_with_wavelengths_file(tmp_path: Path) -> None:
    """The option the missing-wavelength error names exists and works."""
    rng = np.random.default_rng(0)
    savemat(str(tmp_path / "c.mat"), {"Y": (0.1 + rng.random((4, 3, BANDS))).astype(np.float32)})
    (tmp_path / "wl.txt").write_text("\n".join(f"{w:.1f}" for w in WL_NM) + "\n")
    cube, out = str(tmp_path / "c.mat"), str(tmp_path / "out")
    wavelengths = str(tmp_path / "wl.txt")
    outcome = run_main(["hsi", "classify", cube, "--out", out, "--wavelengths", wavelengths])
    assert outcome.code == 0, outcome.stderr
    summary = json.loads((tmp_path / "out" / "report.json").read_text())["summary"]
    assert summary["lines"] == 4 and summary["samples"] == 3 and summary["valid_pixels"] == 12
