"""Bad input to ``slam`` and ``calibrate``: exit 2, one line naming the file and the
field, nothing written (tests/bad_input.py); and the sample bag's degenerate SLAM result
reported as a failure, not a crash."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.bad_input import BadInput, Maker, check_bad_input, run_main
from tests.test_bad_inputs_core import AFILE, PNG_BYTES, bag, both, write
from tests.tiny_bags import COLOUR, IMU, flip_bits, truncate

ROS_YAML = """image_width: 640
image_height: 480
camera_name: cam
camera_matrix: {rows: 3, cols: 3, data: [520, 0, 320, 0, 520, 240, 0, 0, 1]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [520, 0, 320, 0, 0, 520, 240, 0, 0, 0, 1, 0]}
"""


@functools.cache
def _sample_bag() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="smartmine-sample-bag-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "sample.mcap"
    assert run_main(["bag", "sample", str(path), "--frames", "2"]).code == 0
    return path


def sample(damage: str = "") -> Maker:
    def make(d: Path) -> None:
        path = d / "sample.mcap"
        shutil.copyfile(_sample_bag(), path)
        if damage == "truncate":
            truncate(path, 0.5)
        elif damage == "flip":
            flip_bits(path, 0.2, 0.95, 5)

    return make


@functools.cache
def _rewritten_sample(mode: str) -> Path:
    """The sample bag with its camera_info made unusable (``zero_k``: an uncalibrated
    driver's all-zero K; ``nan_k``: a NaN fx) or its camera_info topic emptied."""
    from smartmine.bagio import BagReader, BagWriter

    folder = Path(tempfile.mkdtemp(prefix="smartmine-sample-bad-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "sample.mcap"
    with BagReader(_sample_bag()) as reader, BagWriter(path) as writer:
        for name, topic in reader.topics.items():
            writer.add_topic(name, topic.msgtype)
        for m in reader.messages():
            msg = m.message
            if m.msgtype.endswith("CameraInfo"):
                if mode == "no_info":
                    continue
                k = np.array(msg.k, dtype=np.float64)
                k[:] = 0.0 if mode == "zero_k" else k
                k[0] = np.nan if mode == "nan_k" else k[0]
                msg.k = k
            writer.write(m.topic, m.log_time_ns, msg)
    return path


def rewritten(mode: str) -> Maker:
    return lambda d: shutil.copyfile(_rewritten_sample(mode), d / "sample.mcap")  # type: ignore[func-returns-value]


def images(name: str = "views", count: int = 2, size: tuple[int, int] = (64, 48)) -> Maker:
    """A folder of grey PNGs (no board in them)."""

    def make(d: Path) -> None:
        import cv2

        folder = d / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            cv2.imwrite(str(folder / f"v{i:02d}.png"), np.full(size[::-1], 90 + i, np.uint8))

    return make


def cal(text: str, name: str = "cam.yaml") -> Maker:
    return write(name, text)


# --- slam -------------------------------------------------------------------------------
def slam(*extra: str, source: str = "{d}/sample.mcap") -> tuple[str, ...]:
    return ("slam", source, "--out", "{d}/out", *extra)


SLAM_CASES = [
    BadInput("slam-missing-bag", slam(), ("sample.mcap",)),
    BadInput("slam-truncated-bag", slam(), ("sample.mcap",), sample("truncate")),
    BadInput("slam-flipped-bag", slam(), ("sample.mcap",), sample("flip")),
    BadInput("slam-empty-bag", slam(), ("sample.mcap",), write("sample.mcap", b"")),
    BadInput("slam-png-named-mcap", slam(), ("sample.mcap",), write("sample.mcap", PNG_BYTES)),
    BadInput(
        "slam-truncated-db3",
        slam(source="{d}/tiny_db3"),
        ("tiny_db3",),
        bag("db3", "truncate", 0.5),
    ),
    BadInput(
        "slam-truncated-ros1",
        slam(source="{d}/tiny.bag"),
        ("tiny.bag",),
        bag("bag", "truncate", 0.5),
    ),
    BadInput(
        "slam-no-depth-topic", slam(source="{d}/tiny.mcap"), ("tiny.mcap", "depth"), bag("mcap")
    ),
    BadInput("slam-unknown-color-topic", slam("--color-topic", "/nope"), ("/nope",), sample()),
    BadInput(
        "slam-depth-topic-is-colour",
        slam("--depth-topic", "/camera/color/image_raw"),
        ("/camera/color/image_raw",),
        sample(),
    ),
    BadInput("slam-info-topic-is-image", slam("--info-topic", COLOUR), (COLOUR,), sample()),
    BadInput(
        "slam-camera-info-zero-k", slam(), ("sample.mcap", "camera_info"), rewritten("zero_k")
    ),
    BadInput("slam-camera-info-nan-k", slam(), ("sample.mcap", "camera_info"), rewritten("nan_k")),
    BadInput(
        "slam-camera-info-empty", slam(), ("sample.mcap", "camera_info"), rewritten("no_info")
    ),
    BadInput("slam-voxel-zero", slam("--voxel", "0"), ("--voxel",), sample()),
    BadInput("slam-voxel-nan", slam("--voxel", "nan"), ("--voxel",), sample()),
    BadInput("slam-voxel-negative", slam("--voxel", "-0.1"), ("--voxel",), sample()),
    BadInput("slam-stride-zero", slam("--stride", "0"), ("--stride",), sample()),
    BadInput("slam-max-frames-zero", slam("--max-frames", "0"), ("--max-frames",), sample()),
    BadInput("slam-rpe-delta-garbage", slam("--rpe-delta", "far"), ("--rpe-delta",), sample()),
    BadInput(
        "slam-marker-dictionary-bogus",
        slam("--markers", "{d}/m.csv", "--marker-dictionary", "DICT_BOGUS"),
        ("DICT_BOGUS",),
        both(sample(), write("m.csv", "id,x,y,z\n1,0,0,0\n")),
    ),
    BadInput("slam-markers-missing", slam("--markers", "{d}/m.csv"), ("m.csv",), sample()),
    BadInput(
        "slam-markers-garbage",
        slam("--markers", "{d}/m.csv"),
        ("m.csv",),
        both(sample(), write("m.csv", "hello,world\nfoo,bar\n")),
    ),
    BadInput(
        "slam-markers-nan",
        slam("--markers", "{d}/m.csv"),
        ("m.csv",),
        both(sample(), write("m.csv", "id,x,y,z\n1,nan,0,0\n2,1,0,0\n3,0,1,0\n")),
    ),
    BadInput(
        "slam-ground-truth-garbage",
        slam("--ground-truth", "{d}/gt.txt"),
        ("gt.txt",),
        both(sample(), write("gt.txt", "not a trajectory\n")),
    ),
    BadInput(
        "slam-ground-truth-nan",
        slam("--ground-truth", "{d}/gt.txt"),
        ("gt.txt",),
        both(sample(), write("gt.txt", "0 nan 0 0 0 0 0 1\n1 0 0 0 0 0 0 1\n")),
    ),
    BadInput(
        "slam-ground-truth-missing", slam("--ground-truth", "{d}/gt.txt"), ("gt.txt",), sample()
    ),
    BadInput(
        "slam-calibration-missing", slam("--calibration", "{d}/cam.yaml"), ("cam.yaml",), sample()
    ),
    BadInput(
        "slam-calibration-nan-k",
        slam("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(sample(), cal(ROS_YAML.replace("data: [520, 0, 320", "data: [.nan, 0, 320"))),
    ),
    BadInput(
        "slam-calibration-short-k",
        slam("--calibration", "{d}/cam.yaml"),
        ("cam.yaml", "camera_matrix"),
        both(
            sample(), cal(ROS_YAML.replace("[520, 0, 320, 0, 520, 240, 0, 0, 1]", "[520, 0, 320]"))
        ),
    ),
    BadInput(
        "slam-calibration-no-width",
        slam("--calibration", "{d}/cam.yaml"),
        ("cam.yaml", "image_width"),
        both(sample(), cal(ROS_YAML.replace("image_width: 640\n", ""))),
    ),
    BadInput(
        "slam-calibration-binary",
        slam("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(sample(), cal(PNG_BYTES.decode("latin-1"))),
    ),
    BadInput(
        "slam-calibration-size-mismatch",
        slam("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(sample(), cal(ROS_YAML)),
    ),
    BadInput(
        "slam-out-under-file",
        ("slam", "{d}/sample.mcap", "--out", "{d}/afile/out"),
        ("{d}/afile/out",),
        both(sample(), AFILE),
    ),
    BadInput("slam-out-exists", slam(), ("{d}/out",), both(sample(), write("out/old.txt", "x"))),
    BadInput(
        "slam-realsense-file-missing",
        ("slam", "--realsense-file", "{d}/rec.bag", "--out", "{d}/out"),
        ("rec.bag",),
    ),
]

# --- calibrate ----------------------------------------------------------------------------
BOARD = "checkerboard:9x6:0.03"


def camera(*extra: str, source: str = "{d}/views", board: str = BOARD) -> tuple[str, ...]:
    return ("calibrate", "camera", source, "--board", board, "--out", "{d}/out", *extra)


CAL_CASES = [
    BadInput("cal-camera-missing-folder", camera(), ("views",)),
    BadInput("cal-camera-empty-folder", camera(), ("views",), images(count=0)),
    BadInput(
        "cal-camera-text-named-png", camera(), ("x.png",), write("views/x.png", "not an image\n")
    ),
    BadInput(
        "cal-camera-truncated-png", camera(), ("x.png",), write("views/x.png", PNG_BYTES[:30])
    ),
    BadInput("cal-camera-no-board-seen", camera(), ("views",), images()),
    BadInput(
        "cal-camera-sizes-differ",
        camera(),
        ("w.png",),
        both(
            images(),
            images("views", 1, (32, 24)),
            lambda d: (d / "views" / "v00.png").rename(d / "views" / "w.png"),
        ),
    ),
    BadInput("cal-board-no-spec", camera(board="foo"), ("foo",), images()),
    BadInput(
        "cal-board-zero-cols",
        camera(board="checkerboard:0x6:0.03"),
        ("checkerboard:0x6:0.03",),
        images(),
    ),
    BadInput(
        "cal-board-negative-square",
        camera(board="checkerboard:9x6:-0.03"),
        ("checkerboard:9x6:-0.03",),
        images(),
    ),
    BadInput(
        "cal-board-nan-square",
        camera(board="checkerboard:9x6:nan"),
        ("checkerboard:9x6:nan",),
        images(),
    ),
    BadInput(
        "cal-board-inf-square",
        camera(board="checkerboard:9x6:inf"),
        ("checkerboard:9x6:inf",),
        images(),
    ),
    BadInput(
        "cal-board-huge",
        camera(board="checkerboard:100000x6:0.03"),
        ("checkerboard:100000x6:0.03",),
        images(),
    ),
    BadInput(
        "cal-board-charuco-bad-dict",
        camera(board="charuco:7x5:0.04:0.03:DICT_NOPE"),
        ("DICT_NOPE",),
        images(),
    ),
    BadInput(
        "cal-board-charuco-marker-too-big",
        camera(board="charuco:7x5:0.04:0.05:DICT_5X5_100"),
        ("charuco:7x5:0.04:0.05:DICT_5X5_100",),
        images(),
    ),
    BadInput(
        "cal-board-charuco-short", camera(board="charuco:7x5:0.04"), ("charuco:7x5:0.04",), images()
    ),
    BadInput(
        "cal-camera-reject-factor-nan",
        camera("--reject-factor", "nan"),
        ("--reject-factor",),
        images(),
    ),
    BadInput(
        "cal-camera-reject-factor-negative",
        camera("--reject-factor", "-1"),
        ("--reject-factor",),
        images(),
    ),
    BadInput("cal-camera-max-views-zero", camera("--max-views", "0"), ("--max-views",), images()),
    BadInput(
        "cal-camera-subpix-negative",
        camera("--subpix-window", "-3"),
        ("--subpix-window",),
        images(),
    ),
    BadInput(
        "cal-camera-sharpness-nan",
        camera("--min-sharpness-ratio", "nan"),
        ("--min-sharpness-ratio",),
        images(),
    ),
    BadInput(
        "cal-camera-calibration-nan",
        camera("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(images(), cal(ROS_YAML.replace("data: [520, 0, 320", "data: [.nan, 0, 320"))),
    ),
    BadInput(
        "cal-camera-calibration-garbage",
        camera("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(images(), cal("a: [1, 2\n")),
    ),
    BadInput(
        "cal-camera-calibration-list",
        camera("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(images(), cal("- 1\n- 2\n")),
    ),
    BadInput(
        "cal-camera-calibration-schema-no-cameras",
        camera("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        both(images(), cal("schema: smartmine.calibration/1\ncameras: 5\n")),
    ),
    BadInput(
        "cal-camera-calibration-missing",
        camera("--calibration", "{d}/cam.yaml"),
        ("cam.yaml",),
        images(),
    ),
    BadInput(
        "cal-camera-out-under-file",
        ("calibrate", "camera", "{d}/views", "--board", BOARD, "--out", "{d}/afile/out"),
        ("{d}/afile/out",),
        both(images(), AFILE),
    ),
    BadInput(
        "cal-camera-bag-truncated",
        camera("--topic", COLOUR, source="{d}/tiny.mcap"),
        ("tiny.mcap",),
        bag("mcap", "truncate", 0.5),
    ),
    BadInput(
        "cal-camera-bag-unknown-topic",
        camera("--topic", "/nope", source="{d}/tiny.mcap"),
        ("/nope",),
        bag("mcap"),
    ),
    BadInput(
        "cal-camera-bag-wrong-type",
        camera("--topic", IMU, source="{d}/tiny.mcap"),
        (IMU,),
        bag("mcap"),
    ),
    BadInput(
        "cal-camera-bag-cube-topic",
        camera("--topic", "/hyperspectral/image_raw", source="{d}/tiny.mcap"),
        ("/hyperspectral/image_raw",),
        bag("mcap"),
    ),
    BadInput(
        "cal-stereo-one-source",
        ("calibrate", "stereo", "{d}/views", "--board", BOARD, "--out", "{d}/out"),
        ("views",),
        images(),
    ),
    BadInput(
        "cal-stereo-count-differs",
        ("calibrate", "stereo", "{d}/views", "{d}/right", "--board", BOARD, "--out", "{d}/out"),
        ("right",),
        both(images(), images("right", 3)),
    ),
    BadInput(
        "cal-stereo-sync-nan",
        (
            "calibrate",
            "stereo",
            "{d}/views",
            "{d}/right",
            "--board",
            BOARD,
            "--out",
            "{d}/out",
            "--sync-tolerance-s",
            "nan",
        ),
        ("--sync-tolerance-s",),
        both(images(), images("right")),
    ),
    BadInput("cal-depth-nothing", ("calibrate", "depth", "--out", "{d}/out"), ("--realsense",)),
    BadInput(
        "cal-depth-realsense-missing",
        ("calibrate", "depth", "--realsense", "{d}/rec.bag", "--out", "{d}/out"),
        ("rec.bag",),
    ),
    BadInput(
        "cal-imu-missing-bag",
        (
            "calibrate",
            "imu",
            "{d}/tiny.mcap",
            "--imu-topic",
            IMU,
            "--odometry-topic",
            "/odom",
            "--out",
            "{d}/out",
        ),
        ("tiny.mcap",),
    ),
    BadInput(
        "cal-imu-truncated-bag",
        (
            "calibrate",
            "imu",
            "{d}/tiny.mcap",
            "--imu-topic",
            IMU,
            "--topic",
            COLOUR,
            "--board",
            BOARD,
            "--out",
            "{d}/out",
        ),
        ("tiny.mcap",),
        bag("mcap", "truncate", 0.5),
    ),
    BadInput(
        "cal-imu-unknown-imu-topic",
        (
            "calibrate",
            "imu",
            "{d}/tiny.mcap",
            "--imu-topic",
            "/nope",
            "--topic",
            COLOUR,
            "--board",
            BOARD,
            "--out",
            "{d}/out",
        ),
        ("/nope",),
        bag("mcap"),
    ),
    BadInput(
        "cal-imu-imu-topic-is-image",
        (
            "calibrate",
            "imu",
            "{d}/tiny.mcap",
            "--imu-topic",
            COLOUR,
            "--topic",
            COLOUR,
            "--board",
            BOARD,
            "--out",
            "{d}/out",
        ),
        (COLOUR,),
        bag("mcap"),
    ),
    BadInput(
        "cal-imu-no-camera-source",
        ("calibrate", "imu", "{d}/tiny.mcap", "--imu-topic", IMU, "--out", "{d}/out"),
        ("--topic",),
        bag("mcap"),
    ),
    BadInput(
        "cal-imu-offset-nan",
        (
            "calibrate",
            "imu",
            "{d}/tiny.mcap",
            "--imu-topic",
            IMU,
            "--topic",
            COLOUR,
            "--board",
            BOARD,
            "--max-offset-s",
            "nan",
            "--out",
            "{d}/out",
        ),
        ("--max-offset-s",),
        bag("mcap"),
    ),
    BadInput(
        "cal-imu-offset-negative",
        (
            "calibrate",
            "imu",
            "{d}/tiny.mcap",
            "--imu-topic",
            IMU,
            "--topic",
            COLOUR,
            "--board",
            BOARD,
            "--max-offset-s",
            "-1",
            "--out",
            "{d}/out",
        ),
        ("--max-offset-s",),
        bag("mcap"),
    ),
    BadInput(
        "cal-hsi-missing",
        ("calibrate", "hsi", "{d}/cube.npy", "{d}/rgb.png", "--out", "{d}/out"),
        ("cube.npy",),
        images(),
    ),
    BadInput(
        "cal-hsi-npy-garbage",
        ("calibrate", "hsi", "{d}/cube.npy", "{d}/views/v00.png", "--out", "{d}/out"),
        ("cube.npy",),
        both(images(), write("cube.npy", "garbage")),
    ),
    BadInput(
        "cal-hsi-npy-object",
        ("calibrate", "hsi", "{d}/cube.npy", "{d}/views/v00.png", "--out", "{d}/out"),
        ("cube.npy",),
        both(
            images(),
            lambda d: np.save(
                d / "cube.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True
            ),
        ),
    ),
    BadInput(
        "cal-hsi-npy-1d",
        ("calibrate", "hsi", "{d}/cube.npy", "{d}/views/v00.png", "--out", "{d}/out"),
        ("cube.npy",),
        both(images(), lambda d: np.save(d / "cube.npy", np.zeros(5))),
    ),
    BadInput(
        "cal-hsi-rgb-not-image",
        ("calibrate", "hsi", "{d}/cube.npy", "{d}/rgb.png", "--out", "{d}/out"),
        ("rgb.png",),
        both(
            write("rgb.png", "text"),
            lambda d: np.save(d / "cube.npy", np.zeros((8, 8, 4), np.float32)),
        ),
    ),
    BadInput(
        "cal-hsi-band-out-of-range",
        (
            "calibrate",
            "hsi",
            "{d}/cube.npy",
            "{d}/views/v00.png",
            "--band",
            "9",
            "--out",
            "{d}/out",
        ),
        ("--band",),
        both(images(), lambda d: np.save(d / "cube.npy", np.zeros((8, 8, 4), np.float32))),
    ),
    BadInput(
        "cal-hsi-ransac-nan",
        (
            "calibrate",
            "hsi",
            "{d}/cube.npy",
            "{d}/views/v00.png",
            "--ransac-px",
            "nan",
            "--out",
            "{d}/out",
        ),
        ("--ransac-px",),
        both(images(), lambda d: np.save(d / "cube.npy", np.zeros((8, 8, 4), np.float32))),
    ),
    BadInput(
        "cal-hsi-envi-lying",
        ("calibrate", "hsi", "{d}/cube.hdr", "{d}/views/v00.png", "--out", "{d}/out"),
        ("cube",),
        both(
            images(),
            write(
                "cube.hdr",
                "ENVI\nsamples = 100\nlines = 100\nbands = 10\ndata type = 4\n"
                "interleave = bsq\nbyte order = 0\nheader offset = 0\n",
            ),
            write("cube.img", b"\0" * 64),
        ),
    ),
    BadInput(
        "cal-hsi-board-method-no-board",
        (
            "calibrate",
            "hsi",
            "{d}/cube.npy",
            "{d}/views/v00.png",
            "--method",
            "board",
            "--out",
            "{d}/out",
        ),
        ("--board",),
        both(images(), lambda d: np.save(d / "cube.npy", np.zeros((8, 8, 4), np.float32))),
    ),
]

CAL_CASES += [
    BadInput(
        "cal-stereo-same-names",
        (
            "calibrate",
            "stereo",
            "{d}/views",
            "{d}/right",
            "--board",
            BOARD,
            "--names",
            "cam",
            "cam",
            "--out",
            "{d}/out",
        ),
        ("--names",),
        both(images(), images("right")),
    ),
]

CASES = [*SLAM_CASES, *CAL_CASES]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path / "case")


def test_corpus_size() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(CASES) >= 70


def test_slam_on_the_sample_bag_reports_the_empty_map(tmp_path: Path) -> None:
    """The sample bag's floor is 20 m away, beyond the TSDF depth limit: the run says so
    first (stdout, report.json), writes no mesh, exits 2, and does not crash."""
    out = tmp_path / "slam"
    outcome = run_main(["slam", str(_sample_bag()), "--out", str(out)])
    assert outcome.code == 2, outcome.stderr
    assert outcome.stdout.splitlines()[0].startswith("FAILED: the map is empty")
    assert "20.1 m" in outcome.stdout.splitlines()[0]
    line = outcome.stderr.strip().splitlines()[-1]
    assert line.startswith("smartmine: error:") and "sample.mcap" in line and "empty" in line
    report = json.loads((out / "report.json").read_text())
    assert next(iter(report)) == "failed"
    assert any("map is empty" in f for f in report["failed"])
    assert not (out / "map_mesh.ply").exists()
    assert (out / "trajectory_tum.txt").read_text().count("\n") >= 2


def test_slam_takes_calibration_over_an_uncalibrated_camera_info(tmp_path: Path) -> None:
    """A driver's all-zero K is refused alone, but --calibration replaces it: the run
    goes through tracking and fusion (and then reports the sample's empty map)."""
    (tmp_path / "cam.yaml").write_text(
        ROS_YAML.replace("640", "320").replace("480", "240"), encoding="utf-8"
    )
    rewritten("zero_k")(tmp_path)
    outcome = run_main(
        [
            "slam",
            str(tmp_path / "sample.mcap"),
            "--out",
            str(tmp_path / "out"),
            "--calibration",
            str(tmp_path / "cam.yaml"),
        ]
    )
    assert outcome.code == 2
    assert "map is empty" in outcome.stderr and "camera_info" not in outcome.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["failed"]
