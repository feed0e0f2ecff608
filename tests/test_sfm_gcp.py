"""GCPs as constraints of the bundle adjustment (issue 19, item 4), on a simulated GCP-only
survey whose markers have true coordinates: check points (held out) within 2 GSD
horizontally and 3 GSD vertically; a GCP moved 5 m is rejected and named with its
residual while the rest stay within bounds; a GCP whose height is flagged (another datum,
here also 10 m wrong) constrains only horizontally (a missing height, ``nan`` in the
file, is parsed as such); a GCP seen in one image is
named with the reason. The survey: a 120 m pit, 45 frames at 480 px, five markers (four
on the rim, one on the floor 20 m lower: the check point), fast preset, no dense cloud.
The variants re-run only the georeferencing on the same sparse model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mapping.sfm import georef, sparse
from mapping.sfm.config import make_config
from mapping.sfm.errors import SfmError
from mapping.sfm.gcp import read_gcp_file
from mapping.sfm.pipeline import run_pipeline
from mapping.sfm.truth import score_against_truth
from smartmine.cli import main

CHECK = "4"  # the floor marker


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sfm_gcp")
    config = root / "pit.json"
    pit = {"width_m": 120, "length_m": 120, "depth_m": 20, "gcp_count": 8}
    config.write_text(json.dumps({"pit": pit}))
    sim, images = root / "sim", root / "images"
    code = main(
        [
            "sim", "open-pit", "--out", str(sim), "--config", str(config),
            "--survey-camera", "DJI Phantom 4 RTK", "--width", "480",
            "--front-overlap", "0.75", "--side-overlap", "0.65",
            "--export-images", str(images), "--export-without-gps",
        ]
    )  # fmt: skip
    assert code == 0
    out = root / "sfm"
    conf = make_config("fast", dense=False, gcp_checkpoints=[CHECK])
    run_pipeline(images, out, conf, gcp_path=images / "gcp_list.txt", log=lambda _: None)
    return {"root": root, "sim": sim, "images": images, "out": out}


def _georef_again(survey: dict[str, Path], name: str, lines: list[str], **conf: Any) -> Any:
    """The georeferencing alone, on the survey's sparse model, with another GCP file."""
    gcp_path = survey["root"] / f"{name}.txt"
    gcp_path.write_text("\n".join(lines) + "\n")
    work = survey["root"] / name
    images = sparse.WorkingImages.load(survey["out"] / "work" / "images.json")
    gcps = read_gcp_file(gcp_path, set(images.scale))
    config = make_config("fast", dense=False, **{"gcp_checkpoints": [CHECK], **conf})
    out = georef.run_georef(config, images, survey["out"] / "work" / "sparse", work, gcps)
    return georef.load_georef(out)


def _lines(survey: dict[str, Path]) -> list[str]:
    return (survey["images"] / "gcp_list.txt").read_text().splitlines()


def _within_goals(summary: dict[str, Any], gsd: float) -> None:
    assert summary["checkpoint_rmse_horizontal_m"] <= 2 * gsd, summary
    assert summary["checkpoint_rmse_vertical_m"] <= 3 * gsd, summary


def test_check_points_within_the_gsd_goals(survey: dict[str, Path]) -> None:
    doc = json.loads((survey["out"] / "report.json").read_text())
    summary = doc["summary"]
    assert summary["georeferencing"] == "gcp" and summary["crs"] == "EPSG:32644"
    assert summary["images_registered"] == summary["images_input"]
    assert summary["gcps_checkpoints"] == [CHECK]
    assert sorted(summary["gcps_used"]) == ["0", "1", "2", "3"]
    assert summary["gcps_rejected"] == []
    gsd = summary["gsd_original_m"]
    assert 0.1 < gsd < 0.4
    _within_goals(summary, gsd)
    assert summary["gcp_check_rmse_horizontal_m"] <= 2 * gsd  # leave-one-out, control
    geo = georef.load_georef(survey["out"] / "work" / "georef")
    assert geo["gcps"][CHECK]["role"] == "check"
    assert geo["gcp_bundle_adjustment"]["kept"] in ("adjusted", "similarity")
    assert geo["warnings"] == []
    score = score_against_truth(
        survey["out"],
        truth_cameras=survey["images"] / "truth_cameras.csv",
        reference_dem=survey["sim"] / "dem.tif",
        max_slope_deg=30.0,
    )
    assert score.goals()["camera horizontal RMSE"][2], score.lines()


def test_a_gcp_moved_5_m_is_rejected_and_named(survey: dict[str, Path]) -> None:
    lines = _lines(survey)
    moved = [lines[0]]
    for line in lines[1:]:
        parts = line.split()
        if parts[6] == "1":
            parts[0] = f"{float(parts[0]) + 5.0:.4f}"
        moved.append(" ".join(parts))
    one_view = next(ln.split() for ln in lines[1:] if ln.split()[6] == "2")
    moved.append(" ".join(["616800.0", *one_view[1:6], "lonely"]))  # one image only
    geo = _georef_again(survey, "moved", moved)
    summary = geo["summary"]
    rejected = {r["name"]: r for r in summary["gcps_rejected"]}
    assert set(rejected) == {"1"}, summary
    assert 4.0 < rejected["1"]["residual_m"] < 6.0
    assert any(w.startswith("GCP 1 rejected: ") for w in geo["warnings"])
    assert sorted(summary["gcps_used"]) == ["0", "2", "3"]
    assert summary["gcps_not_triangulated"][0]["name"] == "lonely"
    assert any("GCP lonely not used: seen in 1" in w for w in geo["warnings"])
    gsd = geo["gsd_original_m"]
    _within_goals(summary, gsd)
    assert summary["gcp_rmse_horizontal_m"] <= 2 * gsd  # the GCPs kept
    # the headline covers every GCP: the rejected one is in the all-GCP figure
    assert summary["gcp_all_rmse_horizontal_m"] > 1.0


def test_gcps_without_usable_heights_constrain_only_horizontally(
    survey: dict[str, Path],
) -> None:
    source = _lines(survey)
    lines = source[:1]
    for line in source[1:]:
        parts = line.split()
        if parts[6] == "3":
            parts[2] = f"{float(parts[2]) + 10.0:.4f}"  # another datum, flagged below
        lines.append(" ".join(parts))
    geo = _georef_again(survey, "horizontal", lines, gcp_horizontal_only=["3"])
    summary = geo["summary"]
    assert summary["gcps_horizontal_only"] == ["3"]
    assert summary["gcps_rejected"] == []
    assert geo["gcps"]["3"]["horizontal_only"]
    assert abs(geo["gcps"]["3"]["residual_m"][2] + 10.0) < 0.5  # its height: not used
    gsd = geo["gsd_original_m"]
    _within_goals(summary, gsd)  # the 10 m height of GCP 3 did not tilt the block
    assert summary["gcp_rmse_horizontal_m"] <= 2 * gsd


def test_gcp_file_marks_check_points_and_missing_heights(tmp_path: Path) -> None:
    path = tmp_path / "gcp_list.txt"
    path.write_text(
        "EPSG:32644\n"
        "616764.0 5534058.0 300.0 10 20 a.jpg CHK_07\n"
        "616765.0 5534059.0 nan 10 20 a.jpg p2\n"
        "616766.0 5534060.0 301.0 10 20 a.jpg p3_chk\n"
        "616767.0 5534061.0 302.0 10 20 a.jpg p4\n"
    )
    gcps = read_gcp_file(path)
    marks = {g.name: (g.checkpoint, g.has_height) for g in gcps.gcps}
    assert marks == {
        "CHK_07": (True, True),
        "p2": (False, False),
        "p3_chk": (True, True),
        "p4": (False, True),
    }
    gcps.mark(["p4"], ["p3_chk"])
    assert gcps.gcps[3].checkpoint and not gcps.gcps[2].has_height
    with pytest.raises(SfmError, match="gcp_checkpoints names nope"):
        gcps.mark(["nope"], [])


def test_two_gcps_without_gps_leave_the_model_local_and_say_so(
    survey: dict[str, Path],
) -> None:
    lines = [ln for ln in _lines(survey) if len(ln.split()) < 7 or ln.split()[6] in "01"]
    geo = _georef_again(survey, "two", lines, gcp_checkpoints=[])
    assert geo["mode"] == "local" and geo["epsg"] is None
    assert any("needs 3 control GCPs" in w for w in geo["warnings"])
