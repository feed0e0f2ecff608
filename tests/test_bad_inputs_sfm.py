"""Bad input to ``smartmine sfm``: exit 2, one line naming the file and field, and the
``--out`` folder as it was (``tests/bad_input.py``): no ``config.json``, no ``work/``,
even for errors found after the run started. Plus a degenerate model (real images with
almost no overlap) reported FAILED with its numbers, never as success."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.bad_input import (
    BadInput,
    Maker,
    both,
    check_bad_input,
    run_main,
    snapshot,
    with_file,
)
from tests.conftest import SHARED_DATA, shared

SENECA = ("IMG_0461.jpg", "IMG_0462.jpg")
"""Two neighbouring Seneca frames (EXIF GPS, UTM 17N)."""


@functools.cache
def _small_seneca() -> Path:
    """The Seneca frames at 640 px with their EXIF (GPS): real images, small to copy."""
    from PIL import Image

    source = SHARED_DATA / "aerial_odm_seneca" / "images"
    folder = Path(tempfile.mkdtemp(prefix="smartmine-sfm-bad-"))
    for name in SENECA:
        with Image.open(source / name) as im:
            exif = im.info.get("exif", b"")
            im.resize((640, 480)).save(folder / name, quality=90, exif=exif)
    return folder


def images(*names: str) -> Maker:
    def make(d: Path) -> None:
        shared("aerial_odm_seneca", "images")
        (d / "images").mkdir(exist_ok=True)
        for name in names or SENECA:
            shutil.copy(_small_seneca() / name, d / "images" / name)

    return make


def _truncated(d: Path) -> None:
    images()(d)
    for path in (d / "images").iterdir():
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _afile(d: Path) -> None:
    images()(d)
    (d / "afile").write_text("not a folder\n")


def gcp(text: str) -> Maker:
    return with_file("gcp_list.txt", text, images())


S = ("sfm", "{d}/images", "--out", "{d}/out", "--preset", "fast", "--no-dense")
G = (*S, "--gcp", "{d}/gcp_list.txt")
GCP_FILE = "{d}/gcp_list.txt"
OBS = "-83.30625 41.03531 280.0 100 100 IMG_0461.jpg gcp1\n"


def sfm_bag(image_topic: str | None = "/camera/color/image_raw") -> Maker:
    """A real bag: one NavSatFix and, unless None, two small colour frames."""

    def make(d: Path) -> None:
        from smartmine.bagio import BagWriter
        from smartmine.msgs.image import numpy_to_image

        with BagWriter(d / "run.mcap") as bag:
            f = bag.factory
            bag.add_topic("/gnss/fix", "sensor_msgs/msg/NavSatFix")
            header = f(
                "std_msgs/msg/Header",
                stamp=f("builtin_interfaces/msg/Time", sec=1, nanosec=0),
                frame_id="gnss",
            )
            status = f("sensor_msgs/msg/NavSatStatus", status=0, service=1)
            fix = f(
                "sensor_msgs/msg/NavSatFix",
                header=header,
                status=status,
                latitude=41.0,
                longitude=-83.3,
                altitude=280.0,
                position_covariance=np.zeros(9),
                position_covariance_type=0,
            )
            bag.write("/gnss/fix", 10**9, fix)
            if image_topic is not None:
                bag.add_topic(image_topic, "sensor_msgs/msg/Image")
                for k in range(2):
                    frame = np.full((48, 64, 3), 40 * k, np.uint8)
                    image = numpy_to_image(frame, "bgr8", stamp_ns=10**9 + k, factory=f)
                    bag.write(image_topic, 10**9 + k, image)

    return make


CASES: list[BadInput] = [
    BadInput("input-missing", ("sfm", "{d}/none", "--out", "{d}/out"), ("{d}/none",)),
    BadInput("input-empty-folder", S, ("{d}/images",), lambda d: (d / "images").mkdir()),
    BadInput(
        "input-not-images",
        S,
        ("{d}/images",),
        with_file("images/a.jpg", "text", with_file("images/b.jpg", "more text")),
    ),
    BadInput(
        "input-regular-file",
        ("sfm", "{d}/notes.txt", "--out", "{d}/out"),
        ("{d}/notes.txt",),
        with_file("notes.txt", "hello"),
    ),
    BadInput("input-truncated-jpegs", S, ("{d}/images",), _truncated),
    BadInput("input-one-image", S, ("{d}/images", "2 or more"), images("IMG_0461.jpg")),
    BadInput(
        "input-one-image-and-garbage",
        S,
        ("{d}/images", "b.jpg"),
        with_file("images/b.jpg", b"\xff\xd8\xff garbage", images("IMG_0461.jpg")),
    ),
    BadInput("input-tiny-images", S, ("{d}/images",), lambda d: _tiny_pngs(d)),
    BadInput(
        "bag-garbage",
        ("sfm", "{d}/run.mcap", "--out", "{d}/out"),
        ("{d}/run.mcap",),
        with_file("run.mcap", b"\x89MCAP0\r\n" + b"\x01" * 64),
    ),
    BadInput(
        "bag-empty-file",
        ("sfm", "{d}/run.mcap", "--out", "{d}/out"),
        ("{d}/run.mcap",),
        with_file("run.mcap", b""),
    ),
    BadInput(
        "bag-without-images",
        ("sfm", "{d}/run.mcap", "--out", "{d}/out"),
        ("{d}/run.mcap", "no image topic"),
        sfm_bag(None),
    ),
    BadInput(
        "bag-image-topic-unknown",
        ("sfm", "{d}/run.mcap", "--out", "{d}/out", "--image-topic", "/nope"),
        ("{d}/run.mcap", "/nope"),
        sfm_bag(),
    ),
    BadInput(
        "bag-fix-topic-unknown",
        ("sfm", "{d}/run.mcap", "--out", "{d}/out", "--fix-topic", "/nope"),
        ("{d}/run.mcap", "/nope"),
        sfm_bag(),
    ),
    BadInput(
        "bag-gcp-unknown-images",
        ("sfm", "{d}/run.mcap", "--out", "{d}/out", "--gcp", GCP_FILE),
        (GCP_FILE, "IMG_0461.jpg"),
        both(sfm_bag(), with_file("gcp_list.txt", "EPSG:4326\n" + OBS)),
    ),
    BadInput("gcp-missing", G, (GCP_FILE,), images()),
    BadInput("gcp-empty", G, (GCP_FILE, "empty"), gcp("")),
    BadInput(
        "gcp-binary", G, (GCP_FILE,), with_file("gcp_list.txt", bytes(range(128, 256)), images())
    ),
    BadInput("gcp-crs-garbage", G, (GCP_FILE, "CRS"), gcp("hello world\n" + OBS)),
    BadInput("gcp-crs-epsg-unknown", G, (GCP_FILE, "EPSG:99999"), gcp("EPSG:99999\n" + OBS)),
    BadInput("gcp-crs-epsg-not-utm", G, (GCP_FILE, "EPSG:3857"), gcp("EPSG:3857\n" + OBS)),
    BadInput("gcp-crs-utm-zone-99", G, (GCP_FILE, "UTM 99N"), gcp("WGS84 UTM 99N\n" + OBS)),
    BadInput("gcp-crs-proj-zone-0", G, (GCP_FILE,), gcp("+proj=utm +zone=0 +datum=WGS84\n" + OBS)),
    BadInput(
        "gcp-nan",
        G,
        (GCP_FILE + ":2", "NaN"),
        gcp("EPSG:4326\nnan 41.0 280 100 100 IMG_0461.jpg g1\n"),
    ),
    BadInput(
        "gcp-inf-pixel",
        G,
        (GCP_FILE + ":2",),
        gcp("EPSG:4326\n-83.3 41.0 280 inf 100 IMG_0461.jpg g1\n"),
    ),
    BadInput(
        "gcp-latitude-141",
        G,
        (GCP_FILE + ":2", "latitude"),
        gcp("EPSG:4326\n-83.3 141.0 280 100 100 IMG_0461.jpg g1\n"),
    ),
    BadInput(
        "gcp-lat-lon-swapped-in-utm",
        G,
        (GCP_FILE + ":2", "UTM"),
        gcp("EPSG:32617\n41.03 -83.30 280 100 100 IMG_0461.jpg g1\n"),
    ),
    BadInput(
        "gcp-height-huge",
        G,
        (GCP_FILE + ":2", "height"),
        gcp("EPSG:4326\n-83.3 41.0 1e9 100 100 IMG_0461.jpg g1\n"),
    ),
    BadInput(
        "gcp-negative-pixel",
        G,
        (GCP_FILE + ":2", "pixel"),
        gcp("EPSG:4326\n-83.3 41.0 280 -5 100 IMG_0461.jpg g1\n"),
    ),
    BadInput("gcp-short-line", G, (GCP_FILE + ":2",), gcp("EPSG:4326\n-83.3 41.0 280 100 100\n")),
    BadInput(
        "gcp-words-for-numbers",
        G,
        (GCP_FILE + ":2",),
        gcp("EPSG:4326\nx y z 100 100 IMG_0461.jpg\n"),
    ),
    BadInput(
        "gcp-unknown-images",
        G,
        (GCP_FILE, "other.jpg"),
        gcp("EPSG:4326\n-83.3 41.0 280 100 100 other.jpg g1\n"),
    ),
    BadInput(
        "gcp-same-name-two-places",
        G,
        (GCP_FILE + ":3", "g1"),
        gcp("EPSG:4326\n-83.3 41.0 280 1 1 IMG_0461.jpg g1\n-83.2 41.0 280 1 1 IMG_0462.jpg g1\n"),
    ),
    BadInput(
        "calibration-missing", (*S, "--calibration", "{d}/cam.yaml"), ("{d}/cam.yaml",), images()
    ),
    BadInput(
        "calibration-garbage",
        (*S, "--calibration", "{d}/cam.yaml"),
        ("{d}/cam.yaml",),
        with_file("cam.yaml", "{{{ not: yaml", images()),
    ),
    BadInput(
        "calibration-empty",
        (*S, "--calibration", "{d}/cam.yaml"),
        ("{d}/cam.yaml",),
        with_file("cam.yaml", "", images()),
    ),
    BadInput("crs-garbage", (*S, "--crs", "EPSG:abc"), ("--crs",), images()),
    BadInput("crs-unsupported", (*S, "--crs", "EPSG:4326"), ("--crs",), images()),
    BadInput(
        "resolution-cm-negative", (*S, "--resolution-cm", "-5"), ("--resolution-cm",), images()
    ),
    BadInput("resolution-cm-nan", (*S, "--resolution-cm", "nan"), ("--resolution-cm",), images()),
    BadInput(
        "preset-unknown",
        ("sfm", "{d}/images", "--out", "{d}/out", "--preset", "quick"),
        ("quick",),
        images(),
    ),
    BadInput("max-image-px-tiny", (*S, "--max-image-px", "10"), ("--max-image-px",), images()),
    BadInput(
        "camera-below-antenna-nan",
        (*S, "--camera-below-antenna-m", "nan"),
        ("--camera-below-antenna-m",),
        images(),
    ),
    BadInput("every-nth-zero", (*S, "--every-nth", "0"), ("--every-nth",), images()),
    BadInput(
        "out-under-a-file", ("sfm", "{d}/images", "--out", "{d}/afile/out"), ("{d}/afile",), _afile
    ),
    BadInput(
        "out-in-proc", ("sfm", "{d}/images", "--out", "/proc/1/nope"), ("/proc/1/nope",), images()
    ),
    BadInput("out-is-a-file", ("sfm", "{d}/images", "--out", "{d}/afile"), ("{d}/afile",), _afile),
]


def _tiny_pngs(d: Path) -> None:
    import cv2

    (d / "images").mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(d / "images" / name), np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused_with_nothing_written(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path / "case")


def test_error_after_the_start_leaves_a_used_out_as_it_was(tmp_path: Path) -> None:
    """An --out holding the user's own file: a run failing in a later stage (bad GCPs
    found, a bag that cannot be read) removes what it made and keeps the rest."""
    images()(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (tmp_path / "gcp_list.txt").write_text("EPSG:4326\n-83.3 41.0 280 1 1 nowhere.jpg g1\n")
    before = snapshot(tmp_path)
    outcome = run_main([*(a.format(d=tmp_path) for a in G)])
    assert outcome.code == 2 and "gcp_list.txt" in outcome.stderr
    assert snapshot(tmp_path) == before


def _two_lines_apart(d: Path) -> None:
    """Three real Seneca frames from three flight lines, far apart: almost no overlap."""
    source = shared("aerial_odm_seneca", "images")
    (d / "images").mkdir()
    for name in ("IMG_0461.jpg", "IMG_0478.jpg", "IMG_0494.jpg"):
        shutil.copy(source / name, d / "images" / name)


def test_images_without_overlap_are_refused_not_reported(tmp_path: Path) -> None:
    """Three frames that cannot make a model: exit 2, and no report claims success."""
    _two_lines_apart(tmp_path)
    out = tmp_path / "out"
    outcome = run_main(
        ["sfm", str(tmp_path / "images"), "--out", str(out), "--preset", "fast", "--no-dense"]
    )
    assert outcome.code == 2, outcome.stderr[-1500:]
    assert "registered" not in outcome.stdout
    report = out / "report.json"
    if report.exists():  # a degenerate model: the report says FAILED first, with numbers
        summary = json.loads(report.read_text())["summary"]
        assert next(iter(summary)) == "status" and summary["status"].startswith("FAILED")
        assert not (out / "sparse.laz").exists() and not (out / "dsm.tif").exists()
    else:  # no model at all: nothing left behind
        assert not out.exists()
