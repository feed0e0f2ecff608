"""``smartmine demo``: its accuracy table against what the separate commands report.

The demo (``twin.demo.run``) at small sizes: a 90 m pit surveyed at 80/70 % overlap (46
frames) and a 30-frame drift, too short to see three markers (the table's failure case),
reprocessed and published. Then each stage run by its own command on the same bags
(``smartmine sfm``, ``slam``, ``hsi ortho``): the demo's figures equal theirs, scored the
same way, and those equal what the commands print themselves (``benchmarks/sfm_sim.py
--score``, the SLAM report and ``smartmine traj eval``, ``hsi ortho --reference``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.bad_input import BadInput, check_bad_input, run_main, with_file
from twin.cli_demo import exit_code
from twin.demo import (
    DemoConfig,
    Outcome,
    check_out_dir,
    drift_config,
    format_table,
    read_run,
    simulate,
    write_outcome,
)
from twin.demo import run as run_demo
from twin.scoring import FROM_REPORT, FROM_TRUTH, Figure, hsi_figures, sfm_figures, slam_figures

REPRODUCIBLE = {"sfm": 1e-3, "hsi": 1e-3, "slam": 1e-9}
"""Relative agreement of two runs of a stage on the same input with the same settings.
COLMAP's multithreaded matching and bundle adjustment are repeatable only to ~1e-4 when
the machine is loaded (seen in CI: reprojection 0.222469 vs 0.222435 px; on an idle
machine two runs agree to 1e-15), and the HSI zones are scored on that run's DSM; SLAM is
single-threaded and repeatable."""

SMALL = DemoConfig(pit_width_m=90.0, pit_depth_m=25.0, drift_route="through", drift_frames=30)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``twin.demo.run`` at the small sizes: its demo.json."""
    return run_demo(SMALL, tmp_path_factory.mktemp("demo"), log=print)


@pytest.fixture(scope="module")
def stages(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each stage run by its own command on the demo's simulations, with the settings
    reprocess's ``fast`` preset gives them (SfM fast without dense; HSI onto the SfM DSM
    with the scene's origin, illumination and reference zones)."""
    root = tmp_path_factory.mktemp("separate")
    pit, drift = demo.parent / "sim" / "open-pit", demo.parent / "sim" / "drift"
    out = {"pit": pit, "drift": drift}
    for name, argv in (
        ("sfm", ["sfm", str(pit / "open-pit.mcap"), "--preset", "fast", "--no-dense"]),
        ("slam", ["slam", str(drift / "drift.mcap"), "--markers", str(drift / "markers.csv")]),
        ("hsi", [
            "hsi", "ortho", str(pit / "open-pit.mcap"), "--dem", str(root / "sfm" / "dsm.tif"),
            "--origin", str(pit / "scene.json"), "--irradiance", str(pit / "spectra.csv"),
            "--reference", str(pit / "classes.tif"),
        ]),
    ):  # fmt: skip
        out[name] = root / name
        result = run_main([*argv, "--out", str(out[name])])
        assert result.code == 0, result.stderr[-2000:]
    return out


def _by_name(figures: list[Figure]) -> dict[str, Figure]:
    return {f.name: f for f in figures}


def test_sfm_figures_equal_the_benchmark_score(stages: dict[str, Path], tmp_path: Path) -> None:
    figures = _by_name(sfm_figures(stages["sfm"], stages["pit"], tmp_path))
    printed = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "sfm_sim.py"),
            "--score",
            str(stages["sfm"]),
            "--sim",
            str(stages["pit"]),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    ).stdout
    scored = dict(re.findall(r"^\s+(.+?): ([0-9.]+) GSD \(goal", printed, re.MULTILINE))
    assert set(scored) == {"camera horizontal RMSE", "camera vertical RMSE"} | {
        "DSM median |error| (slope-masked)"
    }, printed
    for name, value in scored.items():
        figure = figures[name]
        assert figure.source == FROM_TRUTH and figure.unit == "GSD"
        assert f"{figure.value:.2f}" == value, (name, figure, printed)
        assert figure.met, (figure, printed)  # the goals of issue 10 on the demo's survey
    summary = json.loads((stages["sfm"] / "report.json").read_text())["summary"]
    registered = figures["images registered"]
    assert registered.source == FROM_REPORT
    assert registered.value == summary["images_registered"] == registered.goal == 46


def test_slam_ate_from_the_report_equals_traj_eval(stages: dict[str, Path], tmp_path: Path) -> None:
    figures = _by_name(slam_figures(stages["slam"], stages["drift"]))
    ate = figures["ATE RMSE"]
    report = json.loads((stages["slam"] / "report.json").read_text())
    assert ate.source == FROM_REPORT and ate.value == report["summary"]["ate_rmse_m"]
    assert ate.goal == 0.02 and ate.met  # a 5 m drive: the 2 cm of the 100 m yardstick
    # the same figure scored by the demo when the run had no ground truth to report it
    bare = tmp_path / "slam"
    shutil.copytree(stages["slam"], bare)
    del report["summary"]["ate_rmse_m"]
    (bare / "report.json").write_text(json.dumps(report))
    scored = _by_name(slam_figures(bare, stages["drift"]))["ATE RMSE"]
    assert scored.source == FROM_TRUTH
    est, ref = stages["slam"] / "trajectory_tum.txt", stages["drift"] / "trajectory_tum.txt"
    result = run_main(["traj", "eval", str(est), str(ref), "--json", str(tmp_path / "e.json")])
    assert result.code == 0, result.stderr
    eval_rmse = json.loads((tmp_path / "e.json").read_text())["ate_m"]["rmse"]
    assert scored.value == pytest.approx(eval_rmse, abs=1e-12)
    assert scored.value == pytest.approx(ate.value, abs=1e-6)  # TUM text vs in-memory poses


def test_too_few_markers_is_a_failure_said_first(stages: dict[str, Path], tmp_path: Path) -> None:
    figures = slam_figures(stages["slam"], stages["drift"])
    marker = _by_name(figures)["marker residual, worst"]
    assert marker.value is None and marker.met is False
    assert "no mine-grid fit" in marker.note and "3 needed" in marker.note
    outcome = Outcome(figures=figures, paths={"out": str(tmp_path)})
    table = format_table(outcome).splitlines()
    assert table[1].startswith("  NOT MET  slam marker residual, worst: –")
    assert "no mine-grid fit" in table[1]
    doc = json.loads(write_outcome(outcome, SMALL, tmp_path).read_text())
    assert next(iter(doc)) == "failed" and doc["status"] == "failed"
    assert doc["failed"][0].startswith("slam marker residual, worst")
    assert (tmp_path / "demo.txt").read_text().count("NOT MET") == 1


def test_hsi_zones_of_the_class_map_equal_hsi_ortho_reference(
    stages: dict[str, Path], tmp_path: Path
) -> None:
    reported = hsi_figures(stages["hsi"], stages["pit"])
    assert {f.source for f in reported[1:]} == {FROM_REPORT}
    bare = tmp_path / "hsi"
    shutil.copytree(stages["hsi"], bare)
    report = json.loads((bare / "report.json").read_text())
    zones = report["summary"].pop("reference_zones")
    (bare / "report.json").write_text(json.dumps(report))
    scored = hsi_figures(bare, stages["pit"])  # class_map.tif read back against classes.tif
    assert {f.source for f in scored[1:]} == {FROM_TRUTH}
    assert [(f.name, f.value, f.goal) for f in scored] == [
        (f.name, f.value, f.goal) for f in reported
    ]
    assert {f.name for f in scored[1:]} == {f"zone {z}" for z in zones}
    schwertmannite = _by_name(scored)["zone schwertmannite"]  # contamination: a goal
    assert schwertmannite.goal == 0.95 and zones["schwertmannite"]["cells"] >= 50
    assert _by_name(scored)["zone granite"].goal is None


def test_a_finished_simulation_is_reused(stages: dict[str, Path]) -> None:
    bag = stages["drift"] / "drift.mcap"
    before = bag.stat().st_mtime_ns
    said: list[str] = []
    assert simulate(drift_config(SMALL), stages["drift"], said.append) == bag
    assert bag.stat().st_mtime_ns == before and "reused" in said[0]


def test_table_lists_failures_then_goals_not_met(tmp_path: Path) -> None:
    ok = Figure("sfm", "camera vertical RMSE", 0.7, "GSD", 3.0, "<=", FROM_TRUTH, "x")
    missed = replace(ok, name="camera horizontal RMSE", value=2.5, goal=2.0)
    info = replace(ok, name="reprojection error", unit="px", goal=None)
    outcome = Outcome(failed=["drift: stage slam failed"], figures=[ok, missed, info])
    lines = format_table(outcome).splitlines()
    assert lines[1] == "  FAILED   drift: stage slam failed"
    assert lines[2] == "  NOT MET  sfm camera horizontal RMSE: 2.50 GSD, goal <= 2 GSD"
    body = [line for line in lines if line.startswith("  sfm ")]
    assert " NO " in next(line for line in body if "horizontal" in line)
    assert " yes " in next(line for line in body if "vertical" in line)
    assert [ok.met, missed.met, info.met] == [True, False, None]


def test_a_failed_run_says_why_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "open-pit"
    run_dir.mkdir()
    doc = {
        "status": "failed",
        "failed": ["sfm: no model could be built from 3 images"],
        "warnings": ["hsi: not run"],
        "stages": {"sfm": {"status": "failed", "folder": "sfm"}},
    }
    (run_dir / "run.json").write_text(json.dumps(doc))
    outcome = Outcome()
    assert read_run(run_dir, ("sfm", "hsi"), outcome)["status"] == "failed"
    assert outcome.failed == [
        "open-pit: sfm: no model could be built from 3 images",
        "open-pit: stage hsi did not run",
    ]
    assert outcome.warnings == ["open-pit: hsi: not run"]


def _foreign_folder(d: Path) -> None:
    (d / "out").mkdir()
    (d / "out" / "keep.txt").write_text("not the demo's")


BAD: list[BadInput] = [
    BadInput("out-is-a-file", ("demo", "--out", "{d}/out"), ("{d}/out", "a file"),
             with_file("out", "x")),
    BadInput("out-holds-other-files", ("demo", "--out", "{d}/out"), ("{d}/out", "other files"),
             _foreign_folder),
    BadInput("out-unwritable", ("demo", "--out", "/proc/smartmine-demo"), ("/proc",)),
    BadInput("negative-seed", ("demo", "--out", "{d}/out", "--seed", "-1"), ("seed", "-1")),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path)


def test_an_earlier_foreign_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / ".smartmine-demo").write_text("x")
    (tmp_path / "demo.json").write_text("{}")
    check_out_dir(tmp_path)


def test_the_demo_table_equals_the_separate_commands(
    demo: Path, stages: dict[str, Path], tmp_path: Path
) -> None:
    """The issue's check: the demo's figures are those of ``smartmine sfm``, ``slam`` and
    ``hsi ortho`` run on their own over the same bags, scored the same way."""
    doc = json.loads(demo.read_text())
    separate = (
        sfm_figures(stages["sfm"], stages["pit"], tmp_path)
        + slam_figures(stages["slam"], stages["drift"])
        + hsi_figures(stages["hsi"], stages["pit"])
    )
    theirs = {(f.stage, f.name): f.to_json() for f in separate}
    ours = {(f["stage"], f["name"]): f for f in doc["figures"]}
    assert set(ours) == set(theirs)
    runs = doc["paths"]["runs"]
    for stage, site in (("sfm", "open-pit"), ("slam", "drift")):  # the same settings, exactly
        config = Path(runs[site]["run_dir"]) / stage / "config.json"
        assert json.loads(config.read_text()) == json.loads(
            (stages[stage] / "config.json").read_text()
        )
    for key, figure in ours.items():
        other = theirs[key]
        assert (figure["source"], figure["goal"], figure["met"]) == (
            other["source"], other["goal"], other["met"],
        ), key  # fmt: skip
        if other["value"] is None:
            assert figure["value"] is None, key
        else:
            assert figure["value"] == pytest.approx(other["value"], rel=REPRODUCIBLE[key[0]]), key


def test_the_demo_says_what_failed_first_and_exits_2(demo: Path) -> None:
    """The 30-frame drift sees one marker: no mine-grid fit, so its products are not
    placed on Earth and publish refuses them; both said first, and the exit status is 2."""
    doc = json.loads(demo.read_text())
    assert next(iter(doc)) == "failed" and doc["status"] == "failed"
    assert exit_code(demo) == 2
    failed = doc["failed"]
    refused = [line for line in failed if line.startswith("publish drift: ")]
    assert len(refused) == 1 and "not placed on Earth" in refused[0]
    assert "slam marker residual, worst: – (no mine-grid fit" in " ".join(failed)
    not_met = [f for f in doc["figures"] if f["met"] is False]
    assert len(failed) == len(refused) + len(not_met)  # nothing else failed
    text = (demo.parent / "demo.txt").read_text()
    table = text[text.index("ACCURACY") :].splitlines()
    assert table[1] == f"  FAILED   {refused[0]}"
    assert [line[11:] for line in table[2 : 2 + len(not_met)]] == failed[1:]
    assert all(line.startswith("  NOT MET  ") for line in table[2 : 2 + len(not_met)])
    assert f"smartmine twin serve {doc['paths']['twin']}" in text
    steps = [s["name"] for s in doc["timing"]["steps"]]
    assert steps[:2] == ["simulate open-pit", "simulate drift"]
    assert all(s["cpu_s"] >= 0 for s in doc["timing"]["steps"])
    assert doc["timing"]["wall_s"] < 600  # the 10 minutes (full size: ~100-190 s)


def test_the_twin_holds_the_placed_run(demo: Path) -> None:
    import pystac

    doc = json.loads(demo.read_text())
    catalog = pystac.Catalog.from_file(str(Path(doc["paths"]["twin"]) / "catalog.json"))
    items = {i.collection_id: i for i in catalog.get_items(recursive=True)}
    assert set(items) == set(doc["paths"]["published"]) == {"open-pit"}
    assert {"dsm", "class_map", "heat_map", "cloud"} <= set(items["open-pit"].assets)
    item_json = Path(doc["paths"]["published"]["open-pit"])
    assert json.loads(item_json.read_text())["id"] == items["open-pit"].id


def test_a_second_demo_reuses_everything(demo: Path) -> None:
    before = json.loads(demo.read_text())
    catalog = demo.parent / "twin" / "catalog.json"
    catalog_bytes = catalog.read_bytes() if catalog.exists() else None
    said: list[str] = []
    again = run_demo(SMALL, demo.parent, log=said.append)
    doc = json.loads(again.read_text())
    assert sum(s["wall_s"] for s in doc["timing"]["steps"]) < 60
    assert sum("holds this simulation already; reused" in line for line in said) == 2
    assert doc["figures"] == before["figures"]
    assert doc["failed"] == before["failed"]
    # the same run (run_id) in the twin, and nothing republished: reprocess leaves a
    # finished run byte for byte, so publish finds it published already
    ids = {site: Path(p).parent.name for site, p in doc["paths"]["published"].items()}
    assert ids == {site: Path(p).parent.name for site, p in before["paths"]["published"].items()}
    assert doc["paths"]["published"] == before["paths"]["published"]
    if catalog_bytes is not None:
        assert catalog.read_bytes() == catalog_bytes
