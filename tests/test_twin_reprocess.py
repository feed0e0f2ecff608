"""``smartmine reprocess`` on the simulator's small open pit (a survey flight: SfM, the
hyperspectral frames orthorectified on the SfM DSM and draped on the cloud and mesh) and
a short drift with wall markers (SLAM tied to the mine grid): run.json as the contract
(docs/notes/issue-18-contract.md) says, the drape read back by laspy and trimesh against
the class map, each stage's accuracy gathered from its own report, rerun and resume, and
bad inputs (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from smartmine.cli import main
from tests.bad_input import BadInput, check_bad_input, run_main, with_file
from tests.tiny_bags import copy_bag

PIT_ORIGIN_LON_LAT = (82.628, 49.948)


@pytest.fixture(scope="module")
def pit_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 90 m pit, 25 m deep, flown as a survey (test_sfm_sim's flight), reprocessed."""
    root = tmp_path_factory.mktemp("reprocess_pit")
    config = root / "pit.json"
    config.write_text(json.dumps({"pit": {"width_m": 90, "length_m": 90, "depth_m": 25}}))
    sim = root / "sim"
    code = main(
        [
            "sim", "open-pit", "--out", str(sim), "--config", str(config),
            "--survey-camera", "DJI Phantom 4 RTK", "--width", "480",
            "--front-overlap", "0.8", "--side-overlap", "0.7",
        ]
    )  # fmt: skip
    assert code == 0
    run_dir = root / "run"
    assert (
        main(["reprocess", str(sim / "open-pit.mcap"), "--out", str(run_dir), "--preset", "fast"])
        == 0
    )
    return run_dir


@pytest.fixture(scope="module")
def drift_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames at 5 Hz of the drift, markers every 1.5 m, reprocessed with its markers."""
    from simulator.config import apply_overrides, default_config
    from simulator.writer import run_simulation

    root = tmp_path_factory.mktemp("reprocess_drift")
    config = apply_overrides(
        default_config("drift"),
        {
            "frames": 30,
            "camera": {"rate_hz": 5.0},
            "hsi": {"every": 1000},
            "drift": {"marker_spacing_m": 1.5},
        },
    )
    sim = root / "sim"
    run_simulation(config, sim, overwrite=True)
    run_dir = root / "run"
    argv = ["reprocess", str(sim / "drift.mcap"), "--out", str(run_dir), "--preset", "fast"]
    assert main([*argv, "--markers", str(sim / "markers.csv")]) == 0
    return run_dir


def _doc(run_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return doc


def _class_map_at(run_dir: Path, east: np.ndarray, north: np.ndarray) -> tuple[Any, Any]:
    """The class map's value under each point by rasterio's own index (0 outside)."""
    import rasterio

    with rasterio.open(run_dir / "hsi" / "class_map.tif") as src:
        rows, cols = rasterio.transform.rowcol(src.transform, east, north, op=np.floor)
        rows, cols = np.asarray(rows).astype(np.int64), np.asarray(cols).astype(np.int64)
        band = src.read(1)
    inside = (rows >= 0) & (rows < band.shape[0]) & (cols >= 0) & (cols < band.shape[1])
    expected = np.zeros(len(east), np.uint8)
    expected[inside] = band[rows[inside], cols[inside]]
    return expected, inside


def test_aerial_run_json_follows_the_contract(pit_run: Path) -> None:
    doc = _doc(pit_run)
    assert doc["schema"] == "smartmine.run/1"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", doc["run_id"])
    assert doc["run_id"].endswith(doc["input"]["sha256"][:8])
    assert (doc["kind"], doc["site"], doc["crs"]) == ("aerial", "open-pit", "EPSG:32644")
    assert doc["status"] in ("ok", "warnings") and doc["failed"] == []
    assert doc["mine_grid"] is None and doc["start_ns"] < doc["end_ns"]
    west, south, east, north = doc["bbox_wgs84"]
    lon, lat = PIT_ORIGIN_LON_LAT
    assert west < lon < east and south < lat < north
    ring = doc["footprint_wgs84"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) >= 4
    assert set(doc["stages"]) == {"sfm", "hsi", "drape"}
    for role in ("cloud", "mesh", "dsm", "orthophoto", "class_map", "heat_map", "report_html"):
        assert (pit_run / doc["products"][role]).is_file(), role
    assert doc["products"]["cloud"] == "drape/cloud.laz"
    assert doc["parameters"]["reprocess"]["preset"] == "fast"
    assert json.loads((pit_run / "config.json").read_text()) == doc["parameters"]


def test_accuracy_is_gathered_from_the_stage_reports(pit_run: Path) -> None:
    doc = _doc(pit_run)
    sfm = json.loads((pit_run / "sfm" / "report.json").read_text())["summary"]
    hsi = json.loads((pit_run / "hsi" / "report.json").read_text())["summary"]
    assert doc["accuracy"]["sfm"]["reprojection_error_px"] == sfm["reprojection_error_px"]
    assert doc["accuracy"]["sfm"]["gps_rmse_horizontal_m"] == sfm["gps_rmse_horizontal_m"]
    zones = hsi["reference_zones"]
    for name, zone in zones.items():
        assert doc["accuracy"]["hsi"][f"accuracy_{name}"] == zone["accuracy"]
    assert 0.5 < doc["accuracy"]["hsi"]["accuracy_overall"] <= 1.0
    report = json.loads((pit_run / "report.json").read_text())
    assert "failed" not in report
    table = next(t for t in report["tables"] if t["title"].startswith("Accuracy"))
    assert ["hsi", "accuracy_overall", doc["accuracy"]["hsi"]["accuracy_overall"]] in table["rows"]
    seen_m2 = sum(c["area_m2"] for c in doc["classes"])  # each rounded to 1e-3 m2
    assert seen_m2 <= hsi["area_seen_m2"] + 1e-3 * len(doc["classes"])
    assert any(c["contamination"] for c in doc["classes"])


def test_draped_cloud_carries_the_class_map_at_each_point(pit_run: Path) -> None:
    import laspy

    las = laspy.read(str(pit_run / "drape" / "cloud.laz"))
    assert {"class_id", "heat"} <= set(las.point_format.extra_dimension_names)
    source = laspy.read(str(pit_run / "sfm" / "sparse.laz"))
    assert len(las.points) == len(source.points)
    assert las.header.parse_crs().to_epsg() == 32644
    class_id = np.asarray(las.class_id)
    assert class_id.dtype == np.uint8 and np.asarray(las.heat).dtype == np.float32
    expected, inside = _class_map_at(pit_run, np.asarray(las.x), np.asarray(las.y))
    np.testing.assert_array_equal(class_id, expected)
    assert np.isnan(np.asarray(las.heat)[~inside]).all()
    assert inside.mean() > 0.95 and len(set(class_id[inside].tolist())) > 3
    counts = _doc(pit_run)["stages"]["drape"]["counts"]["cloud"]
    assert counts["outside_map"] == int((~inside).sum())


def test_draped_mesh_carries_class_and_heat_per_vertex(pit_run: Path) -> None:
    import trimesh

    scene = trimesh.load(str(pit_run / "drape" / "mesh.glb"))
    node = scene.graph.nodes_geometry[0]
    transform, name = scene.graph[node]
    mesh = scene.geometry[name]
    world = mesh.vertices @ transform[:3, :3].T + transform[:3, 3]
    assert 600_000 < world[:, 0].mean() < 700_000  # the UTM origin kept in the root node
    class_id = mesh.vertex_attributes["_CLASS_ID"].reshape(-1)
    heat = mesh.vertex_attributes["_HEAT"].reshape(-1)
    assert len(class_id) == len(heat) == len(mesh.vertices)
    expected, inside = _class_map_at(pit_run, world[:, 0], world[:, 1])
    # float32 vertices: a vertex on a cell edge may fall either side
    assert (class_id == expected).mean() > 0.99
    assert np.nanmax(heat) <= 1.0 and np.isfinite(heat[inside & (expected != 255)]).all()


def test_rerun_skips_done_stages_and_an_interrupted_run_resumes(pit_run: Path) -> None:
    before = _doc(pit_run)
    stamp = (pit_run / "sfm" / "report.json").stat().st_mtime_ns
    (pit_run / "run.json").unlink()  # as if killed before the end: the drape not done
    shutil.rmtree(pit_run / "drape")
    outcome = run_main(
        ["reprocess", before["input"]["paths"][0], "--out", str(pit_run), "--preset", "fast"]
    )
    assert outcome.code == 0, outcome.stderr
    after = _doc(pit_run)
    assert {k: (v["status"], v.get("reused", False)) for k, v in after["stages"].items()} == {
        "sfm": ("ok", True),
        "hsi": ("ok", True),
        "drape": ("ok", False),
    }
    assert (pit_run / "sfm" / "report.json").stat().st_mtime_ns == stamp
    assert after["run_id"] == before["run_id"] and after["products"] == before["products"]
    # nothing left to do: run.json and the report keep their bytes (publish stays idempotent)
    written = {n: (pit_run / n).read_bytes() for n in ("run.json", "report.json", "report.html")}
    again = run_main(
        ["reprocess", before["input"]["paths"][0], "--out", str(pit_run), "--preset", "fast"]
    )
    assert again.code == 0, again.stderr
    assert {n: (pit_run / n).read_bytes() for n in written} == written
    other = run_main(["reprocess", before["input"]["paths"][0], "--out", str(pit_run)])
    assert other.code == 2 and "other settings" in other.stderr and str(pit_run) in other.stderr


def test_underground_run_is_tied_to_the_mine_grid(drift_run: Path) -> None:
    doc = _doc(drift_run)
    assert doc["kind"] == "underground" and doc["crs"] is None
    assert set(doc["stages"]) == {"slam"}
    for role in ("cloud", "mesh", "trajectory"):
        assert (drift_run / doc["products"][role]).is_file(), role
    slam = doc["accuracy"]["slam"]
    assert slam["tracked_frames"] == 30 and slam["ate_rmse_m"] < 0.1
    assert slam["marker_fit_rmse_m"] < 0.1
    grid = doc["mine_grid"]
    assert grid["to_crs"] == "EPSG:32644"
    # a marker corner's grid coordinates through the matrix land on its UTM coordinates
    sim = Path(doc["input"]["paths"][0]).parent
    rows = np.genfromtxt(sim / "markers.csv", delimiter=",", names=True)
    grid_xyz = np.column_stack(
        [rows["grid_x_m"], rows["grid_y_m"], rows["grid_z_m"], np.ones(len(rows))]
    )
    utm = grid_xyz @ np.asarray(grid["matrix_4x4"]).T
    np.testing.assert_allclose(utm[:, 0], rows["easting_m"], atol=0.001)
    np.testing.assert_allclose(utm[:, 1], rows["northing_m"], atol=0.001)
    west, south, east, north = doc["bbox_wgs84"]
    assert 82.5 < west < east < 82.8 and 49.8 < south < north < 50.1


def _tiny_bag(kind: str, folder: str = "") -> Callable[[Path], None]:
    """A maker: the tiny bag of ``kind`` (tests/tiny_bags.py) in the case's folder (or in
    a run folder ``folder`` inside it)."""

    def make(d: Path) -> None:
        (d / folder).mkdir(parents=True, exist_ok=True)
        copy_bag(kind, d / folder)

    return make


def test_the_mine_grid_tie_fitted_to_the_markers_file_places_like_scene_json(
    drift_run: Path,
) -> None:
    """--markers-crs (no scene.json): the tie fitted to the markers' grid and UTM columns
    takes grid points where the simulator's own grid definition does, within 1 mm."""
    from twin.manifest import grid_from_markers

    doc = _doc(drift_run)
    markers = Path(doc["input"]["paths"][0]).parent / "markers.csv"
    fitted = grid_from_markers(markers, "EPSG:32644", "mine grid")
    assert fitted is not None and fitted.max_residual_m < 0.001
    matrix = np.asarray(doc["mine_grid"]["matrix_4x4"])
    corners = np.array([[10_000.0, 20_000.0, 1_300.0], [10_100.0, 19_900.0, 1_250.0]])
    e, n, h = fitted.grid.from_grid(corners[:, 0], corners[:, 1], corners[:, 2])
    expected = np.column_stack([corners, np.ones(2)]) @ matrix.T
    np.testing.assert_allclose(np.column_stack([e, n, h]), expected[:, :3], atol=0.001)


BAD = [
    BadInput(
        "not-a-bag",
        ("reprocess", "{d}/notes.txt", "--out", "{d}/run"),
        ("{d}/notes.txt",),
        with_file("notes.txt", "hello"),
    ),
    BadInput(
        "empty-folder",
        ("reprocess", "{d}/empty", "--out", "{d}/run"),
        ("{d}/empty",),
        lambda d: (d / "empty").mkdir(),
    ),
    BadInput(
        "garbage-mcap",
        ("reprocess", "{d}/flight.mcap", "--out", "{d}/run"),
        ("{d}/flight.mcap",),
        with_file("flight.mcap", b"\x89MCAP0\r\n" + bytes(range(256)) * 4),
    ),
    BadInput(
        "missing", ("reprocess", "{d}/nothing.mcap", "--out", "{d}/run"), ("{d}/nothing.mcap",)
    ),
    BadInput(
        "ros1-bag-colour-only",  # no GNSS, no depth, no hyperspectral: no stage fits
        ("reprocess", "{d}/tiny.bag", "--out", "{d}/run"),
        ("{d}/tiny.bag", "nothing to reprocess"),
        _tiny_bag("bag"),
    ),
    BadInput(
        "rosbag2-folder-hyperspectral-without-dem",
        ("reprocess", "{d}/tiny_db3", "--out", "{d}/run"),
        ("{d}/tiny_db3", "--dem"),
        _tiny_bag("db3"),
    ),
    BadInput(
        "run-folder-dem-missing",
        ("reprocess", "{d}/flight", "--out", "{d}/run", "--dem", "{d}/dem.tif"),
        ("--dem", "{d}/dem.tif"),
        _tiny_bag("mcap", "flight"),
    ),
    BadInput(
        "origin-not-a-position",
        ("reprocess", "{d}/tiny.mcap", "--out", "{d}/run", "--origin", "north-ish"),
        ("--origin", "north-ish"),
        _tiny_bag("mcap"),
    ),
    BadInput(
        "markers-crs-not-epsg",
        ("reprocess", "{d}/tiny.mcap", "--out", "{d}/run", "--markers-crs", "UTM44"),
        ("--markers-crs", "UTM44"),
        _tiny_bag("mcap"),
    ),
    BadInput(
        "markers-missing",
        ("reprocess", "{d}/notes.txt", "--out", "{d}/run", "--markers", "{d}/m.csv"),
        ("--markers", "{d}/m.csv"),
        with_file("notes.txt", "hello"),
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_is_one_line_exit_2_nothing_written(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path)


def test_a_failed_stage_exits_2_reason_first_and_says_so_in_run_json(tmp_path: Path) -> None:
    """Three images of noise: SfM builds no model; the run is recorded as failed."""
    import cv2

    images = tmp_path / "noise"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(images / f"img{i}.jpg"), rng.integers(0, 255, (240, 320, 3), np.uint8))
    run_dir = tmp_path / "run"
    outcome = run_main(["reprocess", str(images), "--out", str(run_dir), "--preset", "fast"])
    assert outcome.code == 2
    line = [x for x in outcome.stderr.splitlines() if x.strip()][-1]
    assert line.startswith("smartmine: error: sfm: ") and str(run_dir / "report.html") in line
    doc = _doc(run_dir)
    assert doc["status"] == "failed" and doc["failed"][0] in line
    assert doc["run_id"].startswith("undated-")  # no EXIF time in these images
    report = json.loads((run_dir / "report.json").read_text())
    assert next(iter(report)) == "failed" and report["failed"] == doc["failed"]


def test_a_reprocess_killed_mid_stage_resumes(pit_run: Path) -> None:
    """kill -9 while the hyperspectral stage runs (SfM done): no run.json, no visible hsi
    folder; the next run reuses SfM and finishes with the same products."""
    import os
    import signal
    import subprocess
    import sys
    import time

    before = _doc(pit_run)
    for name in ("hsi", "drape"):
        shutil.rmtree(pit_run / name)
    (pit_run / "run.json").unlink()
    argv = ["reprocess", before["input"]["paths"][0], "--out", str(pit_run), "--preset", "fast"]
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartmine", *argv], env=env, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("reprocess: sfm ok"):
            break
    time.sleep(2.0)  # into the hyperspectral stage (~10 s)
    assert proc.poll() is None, "finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (pit_run / "run.json").exists() and not (pit_run / "hsi").exists()
    outcome = run_main(argv)
    assert outcome.code == 0, outcome.stderr
    after = _doc(pit_run)
    assert after["stages"]["sfm"].get("reused") and not after["stages"]["hsi"].get("reused")
    assert after["products"] == before["products"] and after["classes"] == before["classes"]
    assert after["accuracy"] == before["accuracy"]
    assert not [p for p in pit_run.rglob(".*partial-*")]


def test_a_run_with_warnings_says_so_first_and_exits_3(drift_run: Path, tmp_path: Path) -> None:
    """The drift without its markers file: nothing ties the map to the mine grid. The run
    finishes, but never as a plain success: warnings first, exit 3, status in run.json."""
    bag = Path(_doc(drift_run)["input"]["paths"][0])
    run_dir = tmp_path / "run"
    outcome = run_main(["reprocess", str(bag), "--out", str(run_dir), "--preset", "fast"])
    doc = _doc(run_dir)
    if doc["mine_grid"] is not None or doc["crs"] is not None:
        pytest.fail(f"a drift without markers was placed on Earth: {doc['mine_grid']}")
    assert outcome.code == 3, outcome.stderr
    first = outcome.stdout.splitlines()[0]
    assert first.startswith("FINISHED WITH WARNINGS"), outcome.stdout
    assert doc["status"] == "warnings" and doc["warnings"]
    assert any("not placed on Earth" in line for line in doc["warnings"])
