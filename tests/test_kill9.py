"""kill -9 at any moment: no visible partial product, the next run removes the debris and
completes with the same products; forked workers and child processes die with their
parent (issue 17).

Each :class:`KillCase` row is a real command run as a subprocess on small inputs: once
uninterrupted (the reference), then into another folder killed -9 at each of its
:class:`Moment` in turn (each run starting from what the last kill left), checking after
every kill that each visible product is complete (read back by its own reader) and that
the killed process's children are gone with no ``/dev/shm`` segment of theirs left;
then run to completion, which must leave no debris (``.partial-*``, SQLite side files,
the simulator's unfinished-run marker) and products equal to the reference.

``publish`` (issue 18) is one more row: killed while it writes a run's assets and after
they are in place but before the catalog is committed (its own test,
tests/test_twin_publish.py, kills it with a previous catalog in place).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from smartmine.atomic import (
    PARTIAL_MARK,
    atomic_path,
    clean_debris,
    is_debris,
    owner_tag,
)

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO))
WAIT_S = 120.0
"""Longest wait for a moment, or for a run: a loaded machine is slow, never this slow."""
CHILDREN_GONE_S = 5.0


# -- the table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Moment:
    """When to kill: once ``pattern`` (a glob under the output folder's parent, hidden
    names included: ``out/...`` for the product, ``.out.partial-*/...`` for a command that
    builds its whole output folder under a temporary name) matches, or once the process
    has ``children`` child processes; then after ``delay_s``."""

    pattern: str | None = None
    children: int = 0
    delay_s: float = 0.0


@dataclass(frozen=True)
class KillCase:
    id: str
    make: Callable[[Path], None]
    """Builds the inputs in the case's folder."""
    command: str
    """smartmine's arguments, ``{d}`` the case's folder, ``{out}`` the output folder."""
    moments: tuple[Moment, ...]
    internal: tuple[str, ...] = ()
    """Globs (under the output) of a command's own work files: not products, so not
    compared (their correctness shows in the products), only checked for debris."""
    reports: tuple[str, ...] = ()
    """JSON reports compared without their timings (see :func:`without_timings`)."""
    unequal: tuple[str, ...] = field(default=("report.html",))
    """Products that hold times (read back, not compared)."""
    compare: Callable[[Path, Path], None] | None = None
    """Compares the products of a command that is not bit-reproducible (instead of
    byte by byte, after checking both hold the same files)."""

    def argv(self, folder: Path, out: Path) -> list[str]:
        return self.command.format(d=folder, out=out).split()


def make_sample_bag(folder: Path) -> None:
    _smartmine("bag", "sample", str(folder / "in.mcap"), "--frames", "150")


SMALL_DRIFT = {
    "workers": 2,
    "hsi": {"width": 16, "height": 12, "bands": 20, "supersample": 1},
    "path": {"speed_m_s": 40, "accel_time_s": 1},
    "drift": {"res_m": 0.2, "fixtures": False, "wire_mesh": False, "fixed_lamps": False},
}
"""A drift that builds and renders fast, in 2 forked workers (8 frames: 4 each)."""


def make_sim_config(folder: Path) -> None:
    (folder / "small.json").write_text(json.dumps(SMALL_DRIFT))


def make_cube(folder: Path) -> None:
    from spectral.io import envi

    from hyperspectral.library import bundled_library

    wl = np.linspace(420, 2450, 80)
    library = bundled_library().class_mean(wl)
    rng = np.random.default_rng(7)
    truth = rng.integers(0, len(library), (400, 300))
    cube = library.spectra[truth] * rng.uniform(0.5, 1.0, (400, 300, 1))
    envi.save_image(
        str(folder / "cube.hdr"),
        cube.astype(np.float32),
        interleave="bil",
        metadata={"wavelength": list(wl), "wavelength units": "Nanometers"},
    )


def make_survey_images(folder: Path) -> None:
    """Six frames of one line over a small simulated pit (the real Seneca frames need
    1024 px and 15 s of SIFT for a model that is not degenerate)."""
    from smartmine.cli import main

    config = folder / "pit.json"
    small = {"pit": {"width_m": 50, "length_m": 50, "depth_m": 10}, "hsi": SMALL_DRIFT["hsi"]}
    config.write_text(json.dumps(small))
    exported = folder / "exported"
    code = main(
        [
            "sim", "open-pit", "--out", str(folder / "pit"), "--config", str(config),
            "--survey-camera", "DJI Phantom 4 RTK", "--width", "240",
            "--front-overlap", "0.75", "--side-overlap", "0.6", "--export-images", str(exported),
        ]
    )  # fmt: skip
    assert code == 0
    images = folder / "images"
    images.mkdir()
    for i in range(1, 7):
        (exported / f"frame_{i:06d}.jpg").rename(images / f"frame_{i:06d}.jpg")


def make_publish_run(folder: Path) -> None:
    """A run folder of reprocess (run.json and real products) with a cloud big enough
    for publish's COPC to take a moment."""
    from tests.twin_runs import make_run_dir

    make_run_dir(folder / "run", points=120_000)


CASES = [
    KillCase(
        "bag-export",
        make_sample_bag,
        "bag export {d}/in.mcap --all --out {out}",
        (
            Moment(pattern=f"out/.camera__color__image_raw{PARTIAL_MARK}*", delay_s=0.1),
            Moment(pattern="out/camera__depth__image_rect_raw"),
        ),
    ),
    KillCase(
        "sim",
        make_sim_config,
        "sim drift --out {out} --frames 8 --width 160 --height 120 --config {d}/small.json",
        (Moment(children=2, delay_s=0.3), Moment(pattern="out/drift.mcap")),
    ),
    KillCase(
        "hsi-classify",
        make_cube,
        "hsi classify {d}/cube.hdr --out {out} --tile-mb 0.5",
        (
            Moment(
                pattern=f".out{PARTIAL_MARK}*/out/.class_scores.tif{PARTIAL_MARK}*", delay_s=0.05
            ),
            Moment(pattern=f".out{PARTIAL_MARK}*/out/class_map.tif"),
        ),
        reports=("report.json",),
    ),
    KillCase(
        "hsi-calibrate",
        make_cube,
        "hsi calibrate {d}/cube.hdr --drop-bad-bands --continuum-removal --out {out}/refl.hdr",
        (Moment(pattern=f"out/.refl.hdr{PARTIAL_MARK}*/refl.img", delay_s=0.05),),
    ),
    KillCase(
        "sfm",
        make_survey_images,
        "sfm {d}/images --out {out} --preset fast",
        (
            Moment(pattern="out/work/database.db"),
            Moment(pattern="out/sparse.laz"),
            Moment(pattern="out/dsm.tif"),
        ),
        internal=("work",),
        compare=lambda reference, resumed: same_survey(reference, resumed),
    ),
    KillCase(
        "publish",
        make_publish_run,
        "publish {d}/run --to {out}",
        (
            Moment(pattern=f"out/runs/*/*/.v1{PARTIAL_MARK}*/v1/cloud.laz"),
            Moment(pattern=f"out/runs/*/*/.v1{PARTIAL_MARK}*/v1/cloud.copc.laz"),
            Moment(pattern="out/runs/*/*/v1/tileset/tileset.json"),
        ),
        unequal=(),
    ),
]


# -- running and killing ------------------------------------------------------------------
def _smartmine(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "smartmine", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _reached(moment: Moment, out: Path, process: psutil.Process) -> bool:
    if moment.pattern is not None:
        return any(out.parent.glob(moment.pattern))
    try:
        return len(process.children(recursive=True)) >= moment.children
    except psutil.NoSuchProcess:
        return False


def _shared_memory_of(processes: list[psutil.Process]) -> set[str]:
    """``/dev/shm`` files the processes map or hold open."""
    found: set[str] = set()
    for p in processes:
        try:
            found |= {m.path for m in p.memory_maps(grouped=False) if m.path.startswith("/dev/shm")}
            found |= {f.path for f in p.open_files() if f.path.startswith("/dev/shm")}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def run_and_kill(argv: list[str], out: Path, moment: Moment, log: Path) -> bool:
    """Run smartmine ``argv`` and kill it -9 at ``moment``; False when it finished
    first. Its children must be gone within :data:`CHILDREN_GONE_S`, with no
    ``/dev/shm`` segment they used left behind."""
    with log.open("ab") as sink:
        popen = subprocess.Popen(
            [sys.executable, "-m", "smartmine", *argv], env=ENV, stdout=sink, stderr=sink
        )
    process = psutil.Process(popen.pid)
    deadline = time.monotonic() + WAIT_S
    while not _reached(moment, out, process) and popen.poll() is None:
        if time.monotonic() >= deadline:
            popen.kill()  # not left running after the test
            popen.wait()
            raise AssertionError(f"{moment} never came: {log.read_text()[-2000:]}")
        time.sleep(0.005)
    time.sleep(moment.delay_s)
    if popen.poll() is not None:
        assert popen.returncode == 0, log.read_text()[-3000:]
        return False
    children = process.children(recursive=True)
    segments = _shared_memory_of([process, *children])
    os.kill(popen.pid, signal.SIGKILL)
    popen.wait()
    _, alive = psutil.wait_procs(children, timeout=CHILDREN_GONE_S)
    assert not alive, f"children outlived their killed parent: {[p.pid for p in alive]}"
    assert not [s for s in segments if Path(s).exists()], f"shared memory left: {segments}"
    return True


# -- checking -----------------------------------------------------------------------------
def _visible_files(root: Path, skip: tuple[str, ...] = ()) -> list[Path]:
    skipped = {root / s for s in skip}
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and not any(p == s or s in p.parents for s in skipped)
    )


def read_back(path: Path) -> None:
    """Read a product with its own reader (raises when it is incomplete)."""
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".crs.json") else path.suffix
    if suffix in (".json", ".crs.json"):
        json.loads(path.read_text())
    elif suffix in (".csv", ".txt"):
        text = path.read_text()
        assert text.endswith("\n"), f"{path}: cut short"
    elif suffix == ".yaml":
        import yaml

        assert yaml.safe_load(path.read_text()) is not None
    elif suffix == ".html":
        assert path.read_text().rstrip().endswith("</html>"), f"{path}: cut short"
    elif suffix in (".png", ".jpg"):
        from PIL import Image

        with Image.open(path) as image:
            image.load()
    elif suffix == ".tif":
        import rasterio

        with rasterio.open(path) as raster:
            raster.read()
    elif suffix == ".hdr":
        from spectral import open_image

        open_image(str(path)).load()
    elif suffix == ".img":
        assert path.with_suffix(".hdr").exists(), f"{path}: its header is missing"
    elif suffix in (".ply", ".glb"):
        import trimesh

        trimesh.load(path)
    elif suffix == ".laz":
        import laspy

        assert len(laspy.read(path).points) > 0
    elif suffix == ".mcap":
        from smartmine.bagio.reader import BagReader

        with BagReader(path) as bag:
            assert sum(1 for _ in bag.messages()) > 0
    else:
        raise AssertionError(f"{path}: no reader known for {suffix!r} (add one here)")


def check_complete(out: Path, case: KillCase) -> None:
    for path in _visible_files(out, case.internal):
        read_back(path)


def debris(root: Path) -> list[Path]:
    side = ("-wal", "-journal", "-shm")
    return [
        p
        for p in root.rglob("*")
        if PARTIAL_MARK in p.name or p.name.endswith(side) or p.name == ".sim-unfinished.json"
    ]


def without_timings(doc: Any) -> Any:
    """A report without what depends on the clock (creation time, seconds, timings)."""
    if isinstance(doc, dict):
        return {
            k: without_timings(v)
            for k, v in doc.items()
            if k not in ("created_utc", "seconds", "time_total_s") and not k.startswith("Timings")
        }
    if isinstance(doc, list):
        return [
            without_timings(v)
            for v in doc
            if not (isinstance(v, dict) and str(v.get("title", "")).startswith("Timings"))
        ]
    return doc


def assert_same_products(reference: Path, resumed: Path, case: KillCase) -> None:
    ours = [p.relative_to(resumed) for p in _visible_files(resumed, case.internal)]
    theirs = [p.relative_to(reference) for p in _visible_files(reference, case.internal)]
    assert ours == theirs
    if case.compare is not None:
        case.compare(reference, resumed)
        return
    for name in ours:
        a, b = reference / name, resumed / name
        if str(name) in case.reports:
            assert without_timings(json.loads(b.read_text())) == without_timings(
                json.loads(a.read_text())
            ), name
        elif str(name) not in case.unequal:
            assert a.read_bytes() == b.read_bytes(), f"{name} differs from the reference"


DENSE_SPREAD = 0.07
"""Twice the spread of the dense point count between uninterrupted runs."""


def same_survey(reference: Path, resumed: Path) -> None:
    """SfM products as alike as two uninterrupted runs are. COLMAP's threaded bundle
    adjustment differs from run to run in the 13th digit (measured: 3 runs of the same 6
    images, 3 different byte streams); through the GSD that can move the raster grid by
    a cell and the dense cloud by a few percent (measured: 9686, 9811, 9952, 9952 and
    10003 dense points in five uninterrupted runs, 3.3 % apart). What a resume could get
    wrong (a stage left out or taken from a half-written file, a product missing) shows
    far above that."""
    import csv

    import laspy
    import rasterio

    a, b = (json.loads((d / "report.json").read_text())["summary"] for d in (reference, resumed))
    for key in ("images_input", "images_registered", "crs", "georeferencing", "sparse_points"):
        assert a[key] == b[key], key
    for key in ("reprojection_error_px", "gps_rmse_horizontal_m", "gsd_working_m"):
        assert b[key] == pytest.approx(a[key], rel=1e-6), key
    assert b["dense_points"] == pytest.approx(a["dense_points"], rel=DENSE_SPREAD)
    rows = [list(csv.DictReader((d / "cameras.csv").open())) for d in (reference, resumed)]
    assert [r["image"] for r in rows[0]] == [r["image"] for r in rows[1]]
    for key in ("easting_m", "northing_m", "height_m"):
        assert [float(r[key]) for r in rows[1]] == pytest.approx(
            [float(r[key]) for r in rows[0]], abs=1e-3
        )
    for name in ("sparse.laz", "dense.laz"):
        clouds = [laspy.read(d / name) for d in (reference, resumed)]
        assert clouds[0].header.parse_crs() == clouds[1].header.parse_crs()
        assert len(clouds[1].points) == pytest.approx(len(clouds[0].points), rel=DENSE_SPREAD)
    for name in ("dsm.tif", "orthophoto.tif"):
        with rasterio.open(reference / name) as x, rasterio.open(resumed / name) as y:
            assert x.crs == y.crs and x.count == y.count
            assert abs(x.width - y.width) <= 1 and abs(x.height - y.height) <= 1
            assert y.res == pytest.approx(x.res, rel=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_kill9_leaves_no_partial_product_and_the_rerun_completes_the_same(
    case: KillCase, tmp_path: Path
) -> None:
    case.make(tmp_path)
    reference, out, log = tmp_path / "reference", tmp_path / "out", tmp_path / "log.txt"
    _smartmine(*case.argv(tmp_path, reference))
    kills = 0
    for moment in case.moments:
        if not run_and_kill(case.argv(tmp_path, out), out, moment, log):
            break  # it finished first: nothing left to resume
        kills += 1
        check_complete(out, case)
    print(f"{case.id}: killed {kills} of {len(case.moments)} times")
    assert kills >= 1, f"every run finished before its moment: {case.moments}"
    _smartmine(*case.argv(tmp_path, out))
    assert not debris(tmp_path), debris(tmp_path)
    check_complete(out, case)
    assert_same_products(reference, out, case)


# -- the debris rules, the SQLite bag and the child processes ------------------------------
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_debris_is_what_a_gone_process_left_never_a_live_runs_temporary(tmp_path: Path) -> None:
    live = subprocess.Popen(SLEEPER)
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        live_tag = f"{live.pid}-{_start_ticks(live.pid)}"
        names = {
            "ours": f".a.tif{PARTIAL_MARK}{owner_tag()}-x1",
            "live": f".b.tif{PARTIAL_MARK}{live_tag}-x2",
            "dead": f".c.tif{PARTIAL_MARK}{dead.pid}-{_start_ticks(os.getpid())}-x3",
            "reused pid": f".d.tif{PARTIAL_MARK}{live.pid}-1-x4",  # same id, other start
            "old style": f".e.tif{PARTIAL_MARK}k2j4_x9z",
            "old tiles": ".f.tif.tiles-3jw_0qpa",
        }
        for name in names.values():
            (tmp_path / name).mkdir()
        (tmp_path / "product.tif").write_bytes(b"kept")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / names["old style"]).write_bytes(b"")
        removed = {p.name for p in clean_debris(tmp_path)}
        assert removed == {names[k] for k in ("dead", "reused pid", "old style", "old tiles")}
        assert not is_debris("product.tif") and not is_debris(names["ours"])
        assert (tmp_path / "sub" / names["old style"]).exists()  # not recursive unless asked
        assert clean_debris(tmp_path, recursive=True) == [tmp_path / "sub" / names["old style"]]
    finally:
        live.kill()
        live.wait()


def _start_ticks(pid: int) -> int:
    from smartmine.atomic import process_start_ticks

    ticks = process_start_ticks(pid)
    assert ticks is not None
    return ticks


KILLED_IN_ATOMIC_PATH = """
    import os, signal
    from smartmine.atomic import atomic_path
    with atomic_path("{}") as tmp:
        tmp.write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGKILL)
"""


KILLED_IN_ATOMIC_PATH = """
    import os, signal
    from smartmine.atomic import atomic_path
    with atomic_path("{}") as tmp:
        tmp.write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGKILL)
"""


def test_atomic_path_removes_a_killed_runs_temporary_and_names_its_own(tmp_path: Path) -> None:
    code = textwrap.dedent(KILLED_IN_ATOMIC_PATH).format(tmp_path / "map.tif")
    killed = subprocess.Popen([sys.executable, "-c", code], env=ENV)
    assert killed.wait() == -signal.SIGKILL
    (left,) = [p.name for p in tmp_path.iterdir()]
    assert left.startswith(f".map.tif{PARTIAL_MARK}{killed.pid}-")
    with atomic_path(tmp_path / "map.tif") as tmp:
        assert tmp.parent.name.startswith(f".map.tif{PARTIAL_MARK}{owner_tag()}-")
        tmp.write_bytes(b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["map.tif"]


def _any_larger(root: Path, pattern: str, size: int) -> bool:
    """Whether a file under ``root`` matching ``pattern`` holds more than ``size`` bytes
    (SQLite's journal comes and goes between listing and stat: skipped)."""
    for path in root.rglob(pattern):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > size:
                return True
    return False


def test_a_killed_sqlite_bag_leaves_nothing_after_the_next_bag(tmp_path: Path) -> None:
    """A rosbag2 sqlite3 bag killed while writing: its temporary holds the db3 and
    SQLite's side files; the next bag written there removes them all."""
    writer = textwrap.dedent(f"""
        from smartmine.bagio.writer import BagWriter
        from smartmine.msgs.factory import RosbagsFactory, typestore
        bag = BagWriter({str(tmp_path / "run")!r}, storage="sqlite3")
        bag.open()
        bag.add_topic("/n", "std_msgs/msg/String")
        String = typestore().types["std_msgs/msg/String"]
        for i in range(200_000):  # bounded: 200 MB at most, should the test not kill it
            bag.write("/n", i, String(data="x" * 1000))
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], env=ENV)
    try:
        deadline = time.monotonic() + WAIT_S
        while not _any_larger(tmp_path, "*.db3*", 100_000):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:  # never leave the writer running (it filled a CI disk with 42 GB once)
        process.kill()
        process.wait()
    assert [p for p in tmp_path.rglob("*") if PARTIAL_MARK in p.name]
    from smartmine.bagio.sample import write_sample_bag

    write_sample_bag(tmp_path / "next.mcap", frames=1)
    assert [p.name for p in tmp_path.iterdir()] == ["next.mcap"]


def _orphan_check(parent_code: str) -> None:
    """Run ``parent_code`` in a process and kill that -9. The code prints its child's
    process id, then those of bystanders (processes of its own that keep the child's
    pipes open, as forked workers do; killed here at the end), then sleeps. The child
    must be gone within :data:`CHILDREN_GONE_S`."""
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(parent_code)],
        env=ENV,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    child, bystanders = psutil.Process(pids[0]), [psutil.Process(p) for p in pids[1:]]
    try:
        assert child.is_running() and child.ppid() == parent.pid
        time.sleep(0.3)  # (the child is set up: its watchdog runs)
        parent.kill()
        parent.wait()
        _, alive = psutil.wait_procs([child], timeout=CHILDREN_GONE_S)
        assert not alive, "the child outlived its killed parent"
    finally:
        for bystander in bystanders:
            bystander.kill()


@pytest.mark.parametrize("kernel_signal", [True, False], ids=["prctl", "watchdog"])
def test_a_busy_child_dies_with_its_killed_parent(kernel_signal: bool) -> None:
    _orphan_check(f"""
        import subprocess, sys, os, time
        child = subprocess.Popen([sys.executable, "-c",
            "import time; from smartmine.lifetime import die_with_parent; "
            "die_with_parent({{}}, kernel_signal={kernel_signal}); time.sleep(60)"
            .format(os.getpid())])
        print(child.pid, flush=True)
        time.sleep(60)
    """)


def test_the_slam_optimiser_child_dies_with_its_killed_parent() -> None:
    """Even while a fork of the parent keeps the child's stdin open (no end of input)."""
    _orphan_check("""
        import os, time
        from mapping.slam.backend import Optimiser
        optimiser = Optimiser()
        holder = os.fork()
        if holder == 0:
            time.sleep(60)
            os._exit(0)
        print(optimiser.process.pid, holder, flush=True)
        time.sleep(60)
    """)


def test_sim_takes_only_its_own_unfinished_run_as_its_own(tmp_path: Path) -> None:
    from simulator.config import apply_overrides, default_config
    from simulator.errors import SimulatorError
    from simulator.writer import (
        UNFINISHED,
        _config_text,
        check_output,
        finish_run,
        resumes_unfinished,
    )

    ours = apply_overrides(default_config("drift"), {"frames": 8})
    other = apply_overrides(default_config("drift"), {"frames": 9})
    (tmp_path / "drift.mcap").write_bytes(b"a finished bag of a killed run")
    (tmp_path / UNFINISHED).write_text(_config_text(ours))
    assert resumes_unfinished(tmp_path, ours)
    check_output(tmp_path, ours, overwrite=False)  # resumed
    with pytest.raises(SimulatorError, match="exists already"):
        check_output(tmp_path, other, overwrite=False)
    finish_run(tmp_path)
    with pytest.raises(SimulatorError, match="exists already"):
        check_output(tmp_path, ours, overwrite=False)  # a finished run is not redone
