"""The simulator's drone-folder export: EXIF GPS read back by SfM's own reader, the ODM
gcp_list.txt read by SfM's GCP parser, true pixels against an ArUco detection."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from mapping.sfm.gcp import read_gcp_file
from mapping.sfm.inputs import load_folder
from smartmine.cli import main

CAMERA = "DJI Phantom 4 RTK"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sim")
    config = out / "config.json"
    config.write_text(json.dumps({"pit": {"grid_res_m": 1.0, "width_m": 150.0}}))
    images = out / "images"
    code = main(
        [
            "sim", "open-pit", "--out", str(out), "--frames", "12", "--config", str(config),
            "--survey-camera", CAMERA, "--width", "600", "--export-images", str(images),
        ]
    )  # fmt: skip
    assert code == 0
    return {"out": out, "images": images, "doc": json.loads((out / "scene.json").read_text())}


def test_exif_gps_and_focal_read_back_by_sfm(export: dict[str, Any]) -> None:
    inputs = load_folder(export["images"])
    assert len(inputs.images) == 12 and not inputs.failed
    cam = export["doc"]["sensors"]["camera"]
    # survey camera: its aspect (5472 x 3648 -> 600 x 400) and field of view (8.8 / 13.2 mm)
    assert (cam["width"], cam["height"]) == (600, 400)
    assert cam["fx"] == pytest.approx(8.8 / 13.2 * 600, rel=1e-6)
    gnss = export["doc"]["sensors"]["gnss"]
    truth = np.loadtxt(export["images"] / "truth_cameras.csv", delimiter=",", skiprows=1,
                       usecols=(2, 3, 4))  # fmt: skip
    from smartmine.geodesy import wgs84_to_utm

    for record, true_xyz in zip(inputs.images, truth, strict=True):
        assert record.focal_px == pytest.approx(cam["fx"], rel=0.02)  # 35 mm equivalent (int)
        assert record.lat_deg is not None and record.lon_deg is not None
        assert record.alt_m is not None
        assert record.position_std_m == pytest.approx(gnss["sigma_horizontal_m"])
        e, n, _ = wgs84_to_utm(record.lat_deg, record.lon_deg, zone=44, north=True)
        horizontal = math.hypot(float(e) - true_xyz[0], float(n) - true_xyz[1])
        assert horizontal < 5 * gnss["sigma_horizontal_m"] + 0.5  # noisy antenna fix
        assert abs(record.alt_m - true_xyz[2]) < 5 * gnss["sigma_vertical_m"] + 1.0
    from PIL import Image

    with Image.open(export["images"] / "frame_000001.jpg") as im:
        sub = im.getexif().get_ifd(0x8769)
        assert float(sub[0x920A]) == pytest.approx(8.8)  # FocalLength, mm


def test_gcp_list_matches_aruco_detection(export: dict[str, Any]) -> None:
    names = [p.name for p in sorted(export["images"].glob("*.jpg"))]
    gcps = read_gcp_file(export["images"] / "gcp_list.txt", names)
    assert gcps.epsg == 32644 and not gcps.skipped
    observations = [(g, o) for g in gcps.gcps for o in g.observations]
    assert observations, "no marker visible in the exported frames"
    truth: dict[str, list[list[float]]] = {}
    for line in (export["out"] / "markers.csv").read_text().splitlines()[1:]:
        v = line.split(",")
        truth.setdefault(v[0], []).append([float(x) for x in v[5:8]])
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    for gcp, obs in observations:
        assert np.allclose(gcp.xyz, np.mean(truth[gcp.name], axis=0), atol=1e-3)
        image = cv2.imread(str(export["images"] / obs.image))
        assert image is not None
        corners, ids, _ = detector.detectMarkers(image)
        found_ids = [int(i) for i in np.asarray(ids).ravel()] if ids is not None else []
        assert int(gcp.name) in found_ids
        found = np.asarray(corners[found_ids.index(int(gcp.name))]).reshape(4, 2)
        centre = found.mean(axis=0) + 0.5  # ODM pixels: origin at the pixel's corner
        assert np.hypot(*(centre - obs.pixel_xy)) < 1.0


def test_unknown_survey_camera(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "open-pit", "--out", str(tmp_path), "--survey-camera", "Nope 3000"]) != 0
    assert "no built-in camera named 'Nope 3000'" in capsys.readouterr().err


def test_survey_fired_by_distance_at_real_overlaps() -> None:
    from calibration.camera_model import SURVEY_CAMERAS
    from simulator.config import apply_overrides, default_config, survey_camera_overrides
    from simulator.simulation import Simulation, trigger_distance_m

    camera = survey_camera_overrides(SURVEY_CAMERAS[CAMERA], 600, None)
    config = apply_overrides(
        default_config("open-pit"),
        {
            "pit": {"grid_res_m": 1.0, "width_m": 150.0},
            "camera": camera,
            "path": {"frontlap": 0.8, "sidelap": 0.7},
        },
    )
    sim = Simulation.prepare(config)
    step = trigger_distance_m(config)
    # P4 RTK, 3:2 image: along-track half-FOV tan = 8.8 / 2 / 8.8; 80 m above the rim
    assert step == pytest.approx(2 * 80 * (8.8 / 2 / 8.8) * 0.2, rel=1e-3)
    centres = sim.frame_poses[:, :3, 3]
    gaps = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert len(centres) == pytest.approx(sim.trajectory.path.length / step, abs=1.5)
    assert np.median(gaps) == pytest.approx(step, rel=0.01)  # straight lines: chord = arc
    assert "fired by distance" in sim.path_info["camera"]


def test_an_export_killed_while_landing_leaves_nothing_the_next_run_keeps(
    export: dict[str, Any], tmp_path: Path
) -> None:
    """Images and lists land as one set: killed right after the first image lands, the
    folder holds that image and the set's debris, which the next export removes."""
    from simulator.export import export_images
    from smartmine.atomic import PARTIAL_MARK, clean_debris
    from tests.test_product_sets import ENV, KILLED_AFTER_FIRST_MEMBER

    images = tmp_path / "images"
    child = KILLED_AFTER_FIRST_MEMBER.replace(
        "from smartmine.cli import main\n    sys.exit(main(sys.argv[1:]))",
        "from simulator.export import export_images\n"
        "    export_images(Path(sys.argv[1]), Path(sys.argv[2]))",
    ).format(mark=PARTIAL_MARK)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(child), str(export["out"]), str(images)],
        env=ENV,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    visible = sorted(p.name for p in images.iterdir() if not p.name.startswith("."))
    assert visible == ["frame_000001.jpg"]  # a lone image, no gcp_list.txt: not a set
    clean_debris(images)
    assert list(images.iterdir()) == []
    export_images(export["out"], images)
    assert sorted(p.name for p in images.iterdir()) == sorted(
        p.name for p in export["images"].iterdir()
    )
