"""SfM scored against the simulator's truth (issue 10's check, CI size): a small open pit
flown as a survey (80 % front, 70 % side overlap), exported as a drone image folder WITHOUT
GPS, georeferenced from the ODM gcp_list.txt of its markers alone. Camera centres against
truth_cameras.csv and the DSM against dem.tif, in ground sampling units (mapping.sfm.truth).
benchmarks/sfm_sim.py runs the full-size survey, with and without GPS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapping.sfm.config import make_config
from mapping.sfm.pipeline import run_pipeline
from mapping.sfm.truth import score_against_truth
from smartmine.cli import main


@pytest.fixture(scope="module")
def gcp_only_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sfm_sim")
    config = root / "pit.json"
    config.write_text(json.dumps({"pit": {"width_m": 90, "length_m": 90, "depth_m": 25}}))
    sim, images = root / "sim", root / "images"
    code = main(
        [
            "sim", "open-pit", "--out", str(sim), "--config", str(config),
            "--survey-camera", "DJI Phantom 4 RTK", "--width", "480",
            "--front-overlap", "0.8", "--side-overlap", "0.7",
            "--export-images", str(images), "--export-without-gps",
        ]
    )  # fmt: skip
    assert code == 0
    out = root / "sfm"
    conf = make_config(dense=False)
    run_pipeline(images, out, conf, gcp_path=images / "gcp_list.txt", log=lambda _: None)
    return {"sim": sim, "images": images, "out": out}


def test_gcp_only_georeferencing_meets_the_gsd_goals(gcp_only_run: dict[str, Path]) -> None:
    out = gcp_only_run["out"]
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["images_registered"] == summary["images_input"]  # 46 frames
    assert summary["georeferencing"] == "gcp"
    assert summary["crs"] == "EPSG:32644"
    score = score_against_truth(
        out,
        truth_cameras=gcp_only_run["images"] / "truth_cameras.csv",
        reference_dem=gcp_only_run["sim"] / "dem.tif",
        max_slope_deg=30.0,
    )
    assert 0.1 < score.gsd_m < 0.4  # 80 m above the rim, 480 px across 73.7 deg
    assert score.cameras_compared == summary["images_registered"]
    goals = score.goals()
    assert all(ok for _, _, ok in goals.values()), score.lines()
    # the mask keeps most of the pit: floor and benches, not just a sliver
    assert score.dsm_cells_kept > 0.6 * score.dsm_cells


def test_gcp_residuals_and_checks_are_reported(gcp_only_run: dict[str, Path]) -> None:
    out = gcp_only_run["out"]
    geo = json.loads((out / "work" / "georef" / "georef.json").read_text())
    assert len(geo["gcps"]) == 4  # the four rim markers
    adjusted = geo["gcp_bundle_adjustment"]
    assert set(adjusted["check_after_m"]) == set(adjusted["gcps_used"]) == set(geo["gcps"])
    doc = json.loads((out / "report.json").read_text())
    assert any(t["title"].startswith("GCP residuals before / after") for t in doc["tables"])
    summary = doc["summary"]
    # held-out GCPs (each left out of its own adjustment) within 3 GSD
    gsd = summary["gsd_original_m"]
    assert summary["gcp_check_rmse_horizontal_m"] < 3 * gsd
    assert summary["gcp_check_rmse_vertical_m"] < 3 * gsd
