"""Bad input to ``bag``, ``node``, ``sim`` and ``traj``: exit 2, one line naming the file
and the field or topic, nothing written (see tests/bad_input.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bad_input import BadInput, Maker, check_bad_input
from tests.tiny_bags import (
    COLOUR,
    CUBE,
    FIX,
    IMU,
    copy_bag,
    flip_bits,
    still_imu,
    storage_file,
    truncate,
)

BAGS = {"mcap": "tiny.mcap", "db3": "tiny_db3", "bag": "tiny.bag"}


def bag(kind: str, damage: str = "", keep: float = 0.5) -> Maker:
    def make(d: Path) -> None:
        path = copy_bag(kind, d)
        if damage == "truncate":
            truncate(storage_file(path), keep)
        elif damage == "flip":
            flip_bits(storage_file(path))
        elif damage == "empty":
            storage_file(path).write_bytes(b"")

    return make


def write(name: str, content: str | bytes) -> Maker:
    def make(d: Path) -> None:
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    return make


def both(*makers: Maker) -> Maker:
    def make(d: Path) -> None:
        for m in makers:
            m(d)

    return make


PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
AFILE = write("afile", "a regular file, so nothing can be made under it\n")


def lying_metadata(d: Path) -> None:
    """A rosbag2 directory whose metadata.yaml lists a storage file that is not there."""
    path = copy_bag("db3", d)
    meta = path / "metadata.yaml"
    meta.write_text(meta.read_text().replace(".db3", "_missing.db3"))


def metadata_garbage(d: Path) -> None:
    path = copy_bag("db3", d)
    (path / "metadata.yaml").write_text("rosbag2_bagfile_information: [1, 2\n")


def metadata_wrong_storage(d: Path) -> None:
    path = copy_bag("db3", d)
    meta = path / "metadata.yaml"
    meta.write_text(
        meta.read_text().replace("storage_identifier: sqlite3", "storage_identifier: mcap")
    )


def mislabelled(d: Path) -> None:
    """``/gnss/fix`` declared NavSatFix but holding Imu messages; ``/imu/data`` fine."""

    from smartmine.bagio import BagWriter
    from smartmine.msgs import sample_to_imu

    with BagWriter(d / "mixed.mcap") as writer:
        writer.add_topic(FIX, "sensor_msgs/msg/NavSatFix")
        writer.add_topic(IMU, "sensor_msgs/msg/Imu")
        for i in range(3):
            t = 1_000 + i
            imu = still_imu(t)
            message = sample_to_imu(imu, writer.factory)
            writer.write_raw(FIX, t, writer.store.serialize_cdr(message, "sensor_msgs/msg/Imu"))
            writer.write(IMU, t, message)


def metadata_files_not_list(d: Path) -> None:
    path = copy_bag("db3", d)
    meta = path / "metadata.yaml"
    text = meta.read_text()
    start = text.index("relative_file_paths:")
    end = text.index("\n", text.index("- ", start))
    meta.write_text(text[:start] + "relative_file_paths: tiny_db3_0.db3" + text[end:])


# --- bag info / export / sample ---------------------------------------------------------
BAG_CASES = []
for kind, name in BAGS.items():
    for damage, keep in (("truncate", 0.5), ("truncate", 0.93), ("flip", 0.0), ("empty", 0.0)):
        tag = f"{damage}{int(keep * 100) if keep else ''}"
        BAG_CASES.append(
            BadInput(
                f"bag-info-{kind}-{tag}",
                ("bag", "info", f"{{d}}/{name}"),
                (name,),
                bag(kind, damage, keep),
            )
        )
        BAG_CASES.append(
            BadInput(
                f"bag-export-{kind}-{tag}",
                ("bag", "export", f"{{d}}/{name}", "--all", "--out", "{d}/out"),
                (name,),
                bag(kind, damage, keep),
            )
        )

BAG_CASES += [
    BadInput(
        "bag-info-png-named-mcap",
        ("bag", "info", "{d}/x.mcap"),
        ("x.mcap",),
        write("x.mcap", PNG_BYTES),
    ),
    BadInput(
        "bag-info-text-named-bag",
        ("bag", "info", "{d}/x.bag"),
        ("x.bag",),
        write("x.bag", "hello\n"),
    ),
    BadInput(
        "bag-info-png-named-db3",
        ("bag", "info", "{d}/x.db3"),
        ("x.db3",),
        write("x.db3", PNG_BYTES),
    ),
    BadInput("bag-info-missing", ("bag", "info", "{d}/nope.mcap"), ("nope.mcap",)),
    BadInput(
        "bag-info-wrong-suffix", ("bag", "info", "{d}/x.txt"), ("x.txt",), write("x.txt", "x")
    ),
    BadInput("bag-info-empty-dir", ("bag", "info", "{d}/dir"), ("dir",), write("dir/readme", "x")),
    BadInput(
        "bag-info-metadata-lies-file",
        ("bag", "info", "{d}/tiny_db3"),
        ("tiny_db3",),
        lying_metadata,
    ),
    BadInput(
        "bag-info-metadata-garbage",
        ("bag", "info", "{d}/tiny_db3"),
        ("metadata.yaml",),
        metadata_garbage,
    ),
    BadInput(
        "bag-info-metadata-wrong-storage",
        ("bag", "info", "{d}/tiny_db3"),
        ("tiny_db3",),
        metadata_wrong_storage,
    ),
    BadInput(
        "bag-info-bad-distro",
        ("bag", "info", "{d}/tiny.mcap", "--distro", "bogus"),
        ("bogus",),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-unknown-topic",
        ("bag", "export", "{d}/tiny.mcap", "--topic", "/nope", "--out", "{d}/out"),
        ("tiny.mcap", "/nope"),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-no-topic",
        ("bag", "export", "{d}/tiny.mcap", "--out", "{d}/out"),
        ("tiny.mcap", "--topic"),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-start-after-end",
        (
            "bag",
            "export",
            "{d}/tiny.mcap",
            "--all",
            "--out",
            "{d}/out",
            "--start",
            "5",
            "--end",
            "1",
        ),
        ("--start", "--end"),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-start-equals-end",
        (
            "bag",
            "export",
            "{d}/tiny.mcap",
            "--all",
            "--out",
            "{d}/out",
            "--start",
            "1",
            "--end",
            "1",
        ),
        ("--start", "--end"),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-negative-start",
        ("bag", "export", "{d}/tiny.mcap", "--all", "--out", "{d}/out", "--start", "-1"),
        ("--start",),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-nan-end",
        ("bag", "export", "{d}/tiny.mcap", "--all", "--out", "{d}/out", "--end", "nan"),
        ("--end",),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-inf-start",
        ("bag", "export", "{d}/tiny.mcap", "--all", "--out", "{d}/out", "--start", "inf"),
        ("--start",),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-range-past-end",
        ("bag", "export", "{d}/tiny.mcap", "--topic", COLOUR, "--out", "{d}/out", "--start", "50"),
        ("tiny.mcap", COLOUR),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-out-under-file",
        ("bag", "export", "{d}/tiny.mcap", "--all", "--out", "{d}/afile/out"),
        ("{d}/afile/out",),
        both(bag("mcap"), AFILE),
    ),
    BadInput(
        "bag-export-out-proc",
        ("bag", "export", "{d}/tiny.mcap", "--topic", FIX, "--out", "/proc/1/nope"),
        ("/proc/1/nope",),
        bag("mcap"),
    ),
    BadInput(
        "bag-export-out-is-file",
        ("bag", "export", "{d}/tiny.mcap", "--topic", FIX, "--out", "{d}/afile"),
        ("{d}/afile",),
        both(bag("mcap"), AFILE),
    ),
    BadInput(
        "bag-sample-zero-frames", ("bag", "sample", "{d}/s.mcap", "--frames", "0"), ("--frames",)
    ),
    BadInput(
        "bag-sample-negative-frames",
        ("bag", "sample", "{d}/s.mcap", "--frames", "-3"),
        ("--frames",),
    ),
    BadInput(
        "bag-sample-huge-frames",
        ("bag", "sample", "{d}/s.mcap", "--frames", "100000000"),
        ("--frames",),
    ),
    BadInput(
        "bag-sample-out-under-file",
        ("bag", "sample", "{d}/afile/s.mcap", "--frames", "1"),
        ("{d}/afile/s.mcap",),
        AFILE,
    ),
    BadInput(
        "bag-sample-exists",
        ("bag", "sample", "{d}/s.mcap", "--frames", "1"),
        ("{d}/s.mcap",),
        write("s.mcap", "old"),
    ),
]

BAG_CASES += [
    BadInput(
        "bag-info-metadata-files-not-list",
        ("bag", "info", "{d}/tiny_db3"),
        ("metadata.yaml", "relative_file_paths"),
        metadata_files_not_list,
    ),
    BadInput(
        "bag-export-wrong-message-type",
        ("bag", "export", "{d}/mixed.mcap", "--topic", FIX, "--out", "{d}/out"),
        ("mixed.mcap", FIX),
        mislabelled,
    ),
    BadInput(
        "bag-export-png-named-mcap",
        ("bag", "export", "{d}/x.mcap", "--all", "--out", "{d}/out"),
        ("x.mcap",),
        write("x.mcap", PNG_BYTES),
    ),
    BadInput(
        "bag-export-metadata-lies-file",
        ("bag", "export", "{d}/tiny_db3", "--all", "--out", "{d}/out"),
        ("tiny_db3",),
        lying_metadata,
    ),
]

# --- node run -----------------------------------------------------------------------------
NODE = ("node", "run", "gnss_to_pose", "--bag", "{d}/tiny.mcap", "--out", "{d}/o.mcap")
NODE_CASES = [
    BadInput(
        "node-unknown-processor",
        ("node", "run", "nope", "--bag", "{d}/tiny.mcap", "--out", "{d}/o.mcap"),
        ("nope",),
        bag("mcap"),
    ),
    BadInput(
        "node-param-no-equals", (*NODE, "--param", "frame"), ("--param", "frame"), bag("mcap")
    ),
    BadInput("node-param-unknown-key", (*NODE, "--param", "nope=1"), ("nope",), bag("mcap")),
    BadInput("node-param-bad-choice", (*NODE, "--param", "frame=ecef"), ("frame",), bag("mcap")),
    BadInput(
        "node-param-out-of-range", (*NODE, "--param", "utm_zone=99"), ("utm_zone",), bag("mcap")
    ),
    BadInput("node-param-not-int", (*NODE, "--param", "utm_zone=abc"), ("utm_zone",), bag("mcap")),
    BadInput("node-param-nan-int", (*NODE, "--param", "utm_zone=nan"), ("utm_zone",), bag("mcap")),
    BadInput(
        "node-param-bad-bool", (*NODE, "--param", "publish_tf=maybe"), ("publish_tf",), bag("mcap")
    ),
    BadInput(
        "node-param-bad-list", (*NODE, "--param", "enu_origin=[1,2"), ("enu_origin",), bag("mcap")
    ),
    BadInput(
        "node-param-nan-origin",
        (*NODE, "--param", "enu_origin=[nan, 82, 300]"),
        ("enu_origin",),
        bag("mcap"),
    ),
    BadInput(
        "node-params-garbage",
        (*NODE, "--params", "{d}/p.yaml"),
        ("p.yaml",),
        both(bag("mcap"), write("p.yaml", "a: [1, 2\n")),
    ),
    BadInput(
        "node-params-not-mapping",
        (*NODE, "--params", "{d}/p.yaml"),
        ("p.yaml",),
        both(bag("mcap"), write("p.yaml", "- 1\n- 2\n")),
    ),
    BadInput(
        "node-params-unknown-key",
        (*NODE, "--params", "{d}/p.yaml"),
        ("p.yaml", "bogus"),
        both(bag("mcap"), write("p.yaml", "bogus: 3\n")),
    ),
    BadInput(
        "node-params-wrong-type",
        (*NODE, "--params", "{d}/p.yaml"),
        ("p.yaml", "utm_zone"),
        both(
            bag("mcap"),
            write("p.yaml", "smartmine_gnss_to_pose:\n  ros__parameters:\n    utm_zone: [1]\n"),
        ),
    ),
    BadInput(
        "node-params-ros-not-mapping",
        (*NODE, "--params", "{d}/p.yaml"),
        ("p.yaml",),
        both(bag("mcap"), write("p.yaml", "gnss_to_pose:\n  ros__parameters: [1]\n")),
    ),
    BadInput("node-params-missing", (*NODE, "--params", "{d}/p.yaml"), ("p.yaml",), bag("mcap")),
    BadInput(
        "node-params-binary",
        (*NODE, "--params", "{d}/p.yaml"),
        ("p.yaml",),
        both(bag("mcap"), write("p.yaml", PNG_BYTES)),
    ),
    BadInput("node-remap-no-arrow", (*NODE, "--remap", "fix"), ("--remap", "fix")),
    BadInput("node-remap-unknown-port", (*NODE, "--remap", "nope:=/x"), ("nope",), bag("mcap")),
    BadInput(
        "node-remap-wrong-type", (*NODE, "--remap", f"fix:={IMU}"), ("tiny.mcap", IMU), bag("mcap")
    ),
    BadInput(
        "node-remap-missing-topic",
        (*NODE, "--remap", "fix:=/nope"),
        ("tiny.mcap", "/nope"),
        bag("mcap"),
    ),
    BadInput("node-keep-missing-topic", (*NODE, "--keep", "/nope"), ("/nope",), bag("mcap")),
    BadInput(
        "node-keep-output-topic",
        (*NODE, "--keep", "/gnss/fix", "--remap", "pose:=/gnss/fix"),
        ("/gnss/fix",),
        bag("mcap"),
    ),
    BadInput(
        "node-start-after-end",
        (*NODE, "--start", "3", "--end", "1"),
        ("--start", "--end"),
        bag("mcap"),
    ),
    BadInput("node-nan-start", (*NODE, "--start", "nan"), ("--start",), bag("mcap")),
    BadInput("node-negative-end", (*NODE, "--end", "-2"), ("--end",), bag("mcap")),
    BadInput("node-truncated-bag", NODE, ("tiny.mcap",), bag("mcap", "truncate", 0.5)),
    BadInput("node-flipped-bag", NODE, ("tiny.mcap",), bag("mcap", "flip")),
    BadInput("node-missing-bag", NODE, ("tiny.mcap",)),
    BadInput(
        "node-out-under-file",
        ("node", "run", "gnss_to_pose", "--bag", "{d}/tiny.mcap", "--out", "{d}/afile/o.mcap"),
        ("{d}/afile/o.mcap",),
        both(bag("mcap"), AFILE),
    ),
    BadInput("node-out-exists", NODE, ("{d}/o.mcap",), both(bag("mcap"), write("o.mcap", "old"))),
    BadInput("node-bag-is-png", NODE, ("tiny.mcap",), write("tiny.mcap", PNG_BYTES)),
    BadInput(
        "node-every-message-wrong-type",
        ("node", "run", "gnss_to_pose", "--bag", "{d}/mixed.mcap", "--out", "{d}/o.mcap"),
        ("mixed.mcap", FIX),
        mislabelled,
    ),
]

# --- sim ---------------------------------------------------------------------------------
SIM = ("sim", "drift", "--out", "{d}/sim", "--frames", "2", "--width", "32", "--height", "24")


def config(doc: object) -> Maker:
    return write("c.json", json.dumps(doc) if not isinstance(doc, str) else doc)


SIM_CASES = [
    BadInput(
        "sim-frames-zero", ("sim", "drift", "--out", "{d}/sim", "--frames", "0"), ("--frames",)
    ),
    BadInput(
        "sim-frames-huge",
        ("sim", "drift", "--out", "{d}/sim", "--frames", "2000000000"),
        ("--frames",),
    ),
    BadInput(
        "sim-width-negative", ("sim", "drift", "--out", "{d}/sim", "--width", "-1"), ("--width",)
    ),
    BadInput(
        "sim-height-huge",
        ("sim", "open-pit", "--out", "{d}/sim", "--height", "100000"),
        ("--height",),
    ),
    BadInput("sim-seed-negative", (*SIM, "--seed", "-1"), ("--seed",)),
    BadInput("sim-rate-nan", (*SIM, "--rate", "nan"), ("--rate",)),
    BadInput("sim-rate-negative", (*SIM, "--rate", "-5"), ("--rate",)),
    BadInput(
        "sim-front-overlap-2",
        ("sim", "open-pit", "--out", "{d}/sim", "--front-overlap", "2"),
        ("--front-overlap",),
    ),
    BadInput(
        "sim-side-overlap-nan",
        ("sim", "open-pit", "--out", "{d}/sim", "--side-overlap", "nan"),
        ("--side-overlap",),
    ),
    BadInput(
        "sim-survey-camera-unknown", (*SIM, "--survey-camera", "Nope 3000"), ("--survey-camera",)
    ),
    BadInput("sim-plan-missing", (*SIM, "--plan", "{d}/nope.plan"), ("nope.plan",)),
    BadInput("sim-config-missing", (*SIM, "--config", "{d}/c.json"), ("c.json",)),
    BadInput(
        "sim-config-invalid-json",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json",),
        config("{not json"),
    ),
    BadInput(
        "sim-config-not-object", (*SIM, "--config", "{d}/c.json"), ("c.json",), config([1, 2])
    ),
    BadInput(
        "sim-config-unknown-key",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "bogus"),
        config({"bogus": 1}),
    ),
    BadInput(
        "sim-config-unknown-nested",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "camera.bogus"),
        config({"camera": {"bogus": 1}}),
    ),
    BadInput(
        "sim-config-nan-hfov",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "camera.hfov_deg"),
        config('{"camera": {"hfov_deg": NaN}}'),
    ),
    BadInput(
        "sim-config-nan-origin",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "geo.origin_lat_deg"),
        config('{"geo": {"origin_lat_deg": NaN}}'),
    ),
    BadInput(
        "sim-config-inf-noise",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "imu.accel_noise_density"),
        config('{"imu": {"accel_noise_density": Infinity}}'),
    ),
    BadInput(
        "sim-config-negative-speed",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "path.speed_m_s"),
        config({"path": {"speed_m_s": -1}}),
    ),
    BadInput(
        "sim-config-negative-bias",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "imu.gyro_bias_sigma"),
        config({"imu": {"gyro_bias_sigma": -1}}),
    ),
    BadInput(
        "sim-config-lat-out-of-range",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "geo.origin_lat_deg"),
        config({"geo": {"origin_lat_deg": 95}}),
    ),
    BadInput(
        "sim-config-grid-scale-zero",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "geo.grid_scale"),
        config({"geo": {"grid_scale": 0}}),
    ),
    BadInput(
        "sim-config-huge-frames",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "frames"),
        config({"frames": 10**12}),
    ),
    BadInput(
        "sim-config-huge-hsi",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "hsi"),
        config({"hsi": {"width": 100000, "height": 100000}}),
    ),
    BadInput(
        "sim-config-string-width",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "camera.width"),
        config({"camera": {"width": "640"}}),
    ),
    BadInput(
        "sim-config-section-not-object",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "camera"),
        config({"camera": 5}),
    ),
    BadInput(
        "sim-config-nan-list",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "camera.distortion"),
        config('{"camera": {"distortion": [NaN, 0, 0, 0, 0]}}'),
    ),
    BadInput(
        "sim-config-short-imu-offset",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "imu.offset_m"),
        config({"imu": {"offset_m": [1]}}),
    ),
    BadInput(
        "sim-config-workers-zero",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "workers"),
        config({"workers": 0}),
    ),
    BadInput(
        "sim-config-binary",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json",),
        write("c.json", PNG_BYTES),
    ),
    BadInput(
        "sim-out-under-file",
        (
            "sim",
            "drift",
            "--out",
            "{d}/afile/sim",
            "--frames",
            "2",
            "--width",
            "32",
            "--height",
            "24",
        ),
        ("{d}/afile/sim",),
        AFILE,
    ),
    BadInput("sim-out-exists", SIM, ("{d}/sim",), write("sim/trajectory_tum.txt", "x")),
    # geometry the scene cannot hold (the short drift ended in "high - low < 0", exit 1)
    BadInput(
        "sim-config-drift-too-short",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "drift.junction_at_m", "drift.leg2_m", "drift.branch_length_m"),
        config({"drift": {"leg1_m": 20, "leg2_m": 15, "junction_at_m": 10, "branch_length_m": 8}}),
    ),
    BadInput(
        "sim-config-drift-junction-in-the-bend",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "drift.junction_at_m", "before the bend"),
        config({"drift": {"leg1_m": 40, "junction_at_m": 30, "bend_radius_m": 15}}),
    ),
    BadInput(
        "sim-config-drift-bend-backwards",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "drift.bend_deg"),
        config({"drift": {"bend_deg": -40}}),
    ),
    BadInput(
        "sim-config-drift-revisit-too-long",
        (*SIM, "--config", "{d}/c.json"),
        ("c.json", "drift.revisit_m"),
        config({"drift": {"route": "revisit", "revisit_m": 40}}),
    ),
    BadInput(
        "sim-config-pit-rim-inside-out",
        ("sim", "open-pit", "--out", "{d}/sim", "--config", "{d}/c.json"),
        ("c.json", "pit.outline_noise"),
        config({"pit": {"outline_noise": 2}}),
    ),
    BadInput(
        "sim-config-pit-targets-between-nodes",
        ("sim", "open-pit", "--out", "{d}/sim", "--config", "{d}/c.json"),
        ("c.json", "pit.gcp_size_m", "pit.grid_res_m"),
        config({"pit": {"gcp_size_m": 0.1, "grid_res_m": 5}}),
    ),
    BadInput(
        "sim-export-images-under-file",
        (*SIM, "--export-images", "{d}/afile/imgs"),
        ("--export-images", "{d}/afile/imgs"),
        AFILE,
    ),
]

# --- traj eval ------------------------------------------------------------------------------
TUM_OK = "".join(f"{i * 0.1:.1f} {i * 0.1} 0 0 0 0 0 1\n" for i in range(20))


def traj(name: str, content: str) -> Maker:
    return both(write(name, content), write("ref.txt", TUM_OK))


def ev(name: str, *extra: str) -> tuple[str, ...]:
    return ("traj", "eval", f"{{d}}/{name}", "{d}/ref.txt", *extra)


TRAJ_CASES = [
    BadInput("traj-garbage", ev("est.txt"), ("est.txt",), traj("est.txt", "hello world\n")),
    BadInput("traj-empty", ev("est.txt"), ("est.txt",), traj("est.txt", "")),
    BadInput("traj-comments-only", ev("est.txt"), ("est.txt",), traj("est.txt", "# t x y z\n")),
    BadInput(
        "traj-binary", ev("est.txt"), ("est.txt",), traj("est.txt", PNG_BYTES.decode("latin-1"))
    ),
    BadInput(
        "traj-nan-position",
        ev("est.txt"),
        ("est.txt",),
        traj("est.txt", TUM_OK.replace("0.5 0 0", "nan 0 0", 1)),
    ),
    BadInput(
        "traj-inf-stamp",
        ev("est.txt"),
        ("est.txt",),
        traj("est.txt", "inf 0 0 0 0 0 0 1\n" + TUM_OK),
    ),
    BadInput(
        "traj-nan-quaternion",
        ev("est.txt"),
        ("est.txt",),
        traj("est.txt", TUM_OK.replace("0 0 0 1\n", "0 0 nan 1\n", 1)),
    ),
    BadInput(
        "traj-zero-quaternion",
        ev("est.txt"),
        ("est.txt",),
        traj("est.txt", TUM_OK.replace("0 0 0 1\n", "0 0 0 0\n", 1)),
    ),
    BadInput(
        "traj-stamps-backwards",
        ev("est.txt"),
        ("est.txt",),
        traj("est.txt", "".join(reversed(TUM_OK.splitlines(True)))),
    ),
    BadInput("traj-ragged", ev("est.txt"), ("est.txt",), traj("est.txt", TUM_OK + "3 1 2\n")),
    BadInput("traj-seven-columns", ev("est.txt"), ("est.txt",), traj("est.txt", "0 0 0 0 0 0 1\n")),
    BadInput(
        "traj-kitti-not-rotation",
        ev("est.kitti", "--est-format", "kitti"),
        ("est.kitti",),
        traj("est.kitti", "5 0 0 0 0 5 0 0 0 0 5 0\n" * 3),
    ),
    BadInput(
        "traj-kitti-nan",
        ev("est.kitti", "--est-format", "kitti"),
        ("est.kitti",),
        traj("est.kitti", "1 0 0 nan 0 1 0 0 0 0 1 0\n" * 3),
    ),
    BadInput(
        "traj-euroc-garbage",
        ev("est.csv"),
        ("est.csv",),
        traj("est.csv", "#timestamp,p_x\nabc,def\n"),
    ),
    BadInput("traj-euroc-short", ev("est.csv"), ("est.csv",), traj("est.csv", "1,2,3\n")),
    BadInput(
        "traj-euroc-nonmonotonic",
        ev("est.csv"),
        ("est.csv",),
        traj("est.csv", "200,0,0,0,1,0,0,0\n100,0,0,0,1,0,0,0\n"),
    ),
    BadInput("traj-missing", ev("est.txt"), ("est.txt",), write("ref.txt", TUM_OK)),
    BadInput(
        "traj-reference-nan",
        ("traj", "eval", "{d}/est.txt", "{d}/ref.txt"),
        ("ref.txt",),
        both(write("ref.txt", "0 nan 0 0 0 0 0 1\n"), write("est.txt", TUM_OK)),
    ),
    BadInput(
        "traj-no-overlap",
        ev("est.txt"),
        ("est.txt", "ref.txt"),
        traj("est.txt", TUM_OK.replace("\n", "\n").replace("0.", "900.").replace("1.", "901.")),
    ),
    BadInput(
        "traj-max-diff-negative",
        ev("est.txt", "--max-diff", "-1"),
        ("--max-diff",),
        traj("est.txt", TUM_OK),
    ),
    BadInput(
        "traj-max-diff-nan",
        ev("est.txt", "--max-diff", "nan"),
        ("--max-diff",),
        traj("est.txt", TUM_OK),
    ),
    BadInput(
        "traj-offset-nan", ev("est.txt", "--offset", "nan"), ("--offset",), traj("est.txt", TUM_OK)
    ),
    BadInput(
        "traj-rpe-delta-garbage",
        ev("est.txt", "--rpe-delta", "xyz"),
        ("--rpe-delta",),
        traj("est.txt", TUM_OK),
    ),
    BadInput(
        "traj-rpe-delta-zero",
        ev("est.txt", "--rpe-delta", "0m"),
        ("--rpe-delta",),
        traj("est.txt", TUM_OK),
    ),
    BadInput(
        "traj-rpe-delta-negative-frames",
        ev("est.txt", "--rpe-delta", "-2f"),
        ("--rpe-delta",),
        traj("est.txt", TUM_OK),
    ),
    BadInput(
        "traj-json-under-file",
        ev("est.txt", "--json", "{d}/afile/r.json"),
        ("{d}/afile/r.json",),
        both(traj("est.txt", TUM_OK), AFILE),
    ),
    BadInput(
        "traj-plot-under-file",
        ev("est.txt", "--plot", "{d}/afile/p.png"),
        ("{d}/afile/p.png",),
        both(traj("est.txt", TUM_OK), AFILE),
    ),
]

CASES = [*BAG_CASES, *NODE_CASES, *SIM_CASES, *TRAJ_CASES]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path / "case")


def test_corpus_size() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert len(CASES) >= 60


# --- the known cases, read back by their own readers --------------------------------------
def _cube_bag_with_wavelengths(path: Path) -> list[float]:
    """A bag with a 7-band 32FC7 cube topic, its latched wavelengths, and colour frames;
    the second cube is truncated (its data shorter than height x step)."""
    import numpy as np

    from smartmine.bagio import BagWriter
    from smartmine.msgs import numpy_to_image

    wavelengths = [450.0, 550.0, 650.0, 750.0, 850.0, 950.0, 1050.0]
    with BagWriter(path) as bag:
        f = bag.factory
        bag.add_topic("/hyperspectral/wavelengths", "std_msgs/msg/Float32MultiArray")
        bag.add_topic(CUBE, "sensor_msgs/msg/Image")
        bag.add_topic("/broken/image", "sensor_msgs/msg/Image")
        bag.add_topic(COLOUR, "sensor_msgs/msg/Image")
        dim = f("std_msgs/msg/MultiArrayDimension", label="nm", size=7, stride=7)
        layout = f("std_msgs/msg/MultiArrayLayout", dim=[dim], data_offset=0)
        data = np.asarray(wavelengths, np.float32)
        bag.write(
            "/hyperspectral/wavelengths",
            1,
            f("std_msgs/msg/Float32MultiArray", layout=layout, data=data),
        )
        for i in range(2):
            t = 10 + i
            cube = np.random.default_rng(i).random((5, 4, 7)).astype(np.float32)
            bag.write(CUBE, t, numpy_to_image(cube, "32FC7", stamp_ns=t, factory=f))
            broken = numpy_to_image(np.zeros((4, 4), np.uint8), "mono8", stamp_ns=t, factory=f)
            broken.data = broken.data[:5]  # a message that does not convert
            bag.write("/broken/image", t, broken)
            rgb = np.full((4, 4, 3), 9 * i, np.uint8)
            bag.write(COLOUR, t, numpy_to_image(rgb, "rgb8", stamp_ns=t, factory=f))
    return wavelengths


def test_export_all_writes_the_cube_as_envi_and_keeps_later_topics(tmp_path: Path) -> None:
    """A 32FC7 cube exports as ENVI (read back by the hyperspectral reader, values and band
    centres exact); a topic that fails is named, and the topics after it still export."""
    import cv2
    import numpy as np

    from hyperspectral.cube import open_envi
    from smartmine.bagio import BagReader
    from smartmine.msgs import image_to_numpy
    from tests.bad_input import run_main

    bag = tmp_path / "cube.mcap"
    wavelengths = _cube_bag_with_wavelengths(bag)
    out = tmp_path / "out"
    outcome = run_main(["bag", "export", str(bag), "--all", "--out", str(out)])
    assert outcome.code == 2
    assert "'/broken/image'" in outcome.stderr.splitlines()[-1]
    assert "FAILED" in outcome.stdout and "/camera/color/image_raw" in outcome.stdout
    assert not (out / "broken__image").exists()
    with BagReader(bag) as reader:
        sent = [image_to_numpy(m.message) for m in reader.messages([CUBE])]
    headers = sorted((out / "hyperspectral__image_raw").glob("*.hdr"))
    assert len(headers) == 2
    for header, cube in zip(headers, sent, strict=True):
        read = open_envi(header)
        np.testing.assert_array_equal(np.asarray(read.data), cube)
        assert read.wavelengths_nm is not None
        np.testing.assert_allclose(read.wavelengths_nm, wavelengths)
    colour = sorted((out / "camera__color__image_raw").glob("*.png"))
    assert len(colour) == 2  # the topic after the failed one
    assert cv2.imread(str(colour[1]))[0, 0].tolist() == [9, 9, 9]


def test_export_all_goes_on_after_a_topic_of_the_wrong_type(tmp_path: Path) -> None:
    """Bytes that do not decode as the topic's type fail that topic only."""
    import csv

    from tests.bad_input import run_main

    mislabelled(tmp_path)
    out = tmp_path / "out"
    outcome = run_main(["bag", "export", str(tmp_path / "mixed.mcap"), "--all", "--out", str(out)])
    assert outcome.code == 2 and f"'{FIX}'" in outcome.stderr.splitlines()[-1]
    assert not (out / "gnss__fix.csv").exists()
    with (out / "imu__data.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["stamp_ns"] for r in rows] == ["1000", "1001", "1002"]


def test_export_cube_of_a_tiny_bag_of_each_storage(tmp_path: Path) -> None:
    """The 32FC7 topic of the mcap and sqlite3 tiny bags exports as ENVI cubes."""
    import numpy as np

    from hyperspectral.cube import open_envi
    from tests.bad_input import run_main

    for kind in ("mcap", "db3"):
        path = copy_bag(kind, tmp_path)
        out = tmp_path / f"out_{kind}"
        outcome = run_main(["bag", "export", str(path), "--topic", CUBE, "--out", str(out)])
        assert outcome.code == 0, outcome.stderr
        first = open_envi(sorted((out / "hyperspectral__image_raw").glob("*.hdr"))[0])
        assert np.asarray(first.data).shape == (6, 8, 7)
        assert float(np.asarray(first.data)[1, 2, 3]) == float((1 * 8 + 2) * 7 + 3)
