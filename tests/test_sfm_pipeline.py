"""SfM end to end on real images (reduced sizes): registration, georeferencing against
EXIF GPS, every product read back by its own reader, one ground point agreeing across
DSM, cloud and orthophoto, resume, GCPs, a local-frame model without GPS."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mapping.sfm.config import make_config
from mapping.sfm.errors import SfmError
from mapping.sfm.pipeline import run_pipeline
from tests.conftest import shared

SENECA_LINE_A = [f"IMG_046{i}.jpg" for i in range(1, 7)]


@pytest.fixture(scope="module")
def seneca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = shared("aerial_odm_seneca", "images")
    root = tmp_path_factory.mktemp("seneca")
    folder = root / "images"
    folder.mkdir()
    for name in SENECA_LINE_A:
        shutil.copy(source / name, folder / name)
    conf = make_config(max_image_px=1024, dense_max_px=800)
    run_pipeline(folder, root / "out", conf, log=lambda _: None)
    return root / "out"


def _report(out: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads((out / "report.json").read_text())
    return doc


def test_seneca_line_registers_and_fits_gps(seneca: Path) -> None:
    summary = _report(seneca)["summary"]
    assert isinstance(summary, dict)
    assert summary["images_registered"] == 6
    assert summary["crs"] == "EPSG:32617"
    assert summary["georeferencing"] == "gps"
    assert summary["reprojection_error_px"] < 1.0
    # camera centres within consumer-GPS error of their EXIF positions
    assert summary["gps_rmse_horizontal_m"] < 5.0
    assert summary["gps_rmse_vertical_m"] < 5.0
    assert 0.01 < summary["gsd_original_m"] < 0.1  # ~70 m above ground, 4.3 mm lens
    with (seneca / "cameras.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == SENECA_LINE_A
    easting = np.array([float(r["easting_m"]) for r in rows])
    assert np.all((easting > 300_000) & (easting < 340_000))  # UTM 17N, Seneca County
    assert (seneca / "report.html").read_text().count("<table") >= 2


def test_products_open_in_their_readers_with_the_crs(seneca: Path) -> None:
    import laspy
    import pygltflib
    import rasterio
    import trimesh

    products = _report(seneca)["sections"]["Products"]  # type: ignore[index]
    assert isinstance(products, dict)
    clouds = [
        products["sparse_cloud"],
        *([products["dense_cloud"]] if "dense_cloud" in products else []),
    ]
    for name in clouds:
        las = laspy.read(seneca / name)
        assert las.header.parse_crs().to_epsg() == 32617
        # this 6-image line (~25 % overlap) keeps 41-173 sparse points: GLOMAP's track
        # count here depends on what ran before in the process (41 after
        # tests/test_sfm_calibration.py, 172-173 alone); see NOTES-sfmgcp.md
        assert len(las.points) > 30
    for name in ("dsm.tif", "orthophoto.tif"):
        with rasterio.open(seneca / name) as src:
            assert src.crs.to_epsg() == 32617
            assert src.nodata is not None
            assert src.profile["tiled"]  # COG: tiled with overviews
    mesh = trimesh.load(seneca / "mesh.ply")
    assert len(mesh.faces) > 100 and mesh.visual.vertex_colors.shape[1] == 4
    gltf = pygltflib.GLTF2().load(str(seneca / "mesh.glb"))
    node = gltf.nodes[0]
    offset = node.translation if node.translation is not None else node.matrix[12:15]
    assert 300_000 < offset[0] < 340_000  # the UTM origin sits in the root node
    assert (seneca / "colmap" / "images.txt").exists()


def test_one_ground_point_agrees_across_products(seneca: Path) -> None:
    import laspy
    import rasterio

    las = laspy.read(seneca / "sparse.laz")
    xyz = np.column_stack([las.x, las.y, las.z])
    with (
        rasterio.open(seneca / "dsm.tif") as dsm_src,
        rasterio.open(seneca / "orthophoto.tif") as ortho_src,
    ):
        dsm = dsm_src.read(1)
        centre = np.median(xyz, axis=0)
        near = xyz[np.linalg.norm(xyz[:, :2] - centre[:2], axis=1) < 5.0]
        assert len(near) >= 3
        point = np.median(near, axis=0)
        row, col = dsm_src.index(point[0], point[1])
        assert dsm[row, col] != dsm_src.nodata
        assert abs(dsm[row, col] - point[2]) < 1.0  # flat field: same height within 1 m
        orow, ocol = ortho_src.index(point[0], point[1])
        assert (orow, ocol) == (row, col)  # same grid
        assert ortho_src.read()[:, orow, ocol].any()  # coloured, not nodata


def test_resume_skips_finished_stages(seneca: Path) -> None:
    before = json.loads((seneca / "work" / "timings.json").read_text())
    (seneca / "orthophoto.tif").unlink()
    lines: list[str] = []
    conf = make_config(max_image_px=1024, dense_max_px=800)
    run_pipeline(seneca.parent / "images", seneca, conf, log=lines.append)
    after = json.loads((seneca / "work" / "timings.json").read_text())
    assert (seneca / "orthophoto.tif").exists()
    assert after["features"] == before["features"]  # not run again
    assert len(lines) == 12 and lines[2].startswith("sfm [3/12] features:")
    with pytest.raises(SfmError, match="other settings \\(max_features\\)"):
        run_pipeline(
            seneca.parent / "images",
            seneca,
            make_config(max_image_px=1024, max_features=999, dense_max_px=800),
            log=lines.append,
        )


def test_degenerate_model_is_reported_failed_with_numbers(seneca: Path, tmp_path: Path) -> None:
    """The real Seneca model thinned to 2 points (what three frames with almost no
    overlap give): the resumed run exits 2 and its report says FAILED first, with the
    numbers; no product is written. The full model passes the same checks."""
    import pycolmap

    from mapping.sfm.sanity import check_model, stated_gps_std_m
    from mapping.sfm.sparse import WorkingImages
    from smartmine.cli import main

    conf = make_config(max_image_px=1024, dense_max_px=800)
    info = json.loads((seneca / "work" / "georef" / "georef.json").read_text())
    records = WorkingImages.load(seneca / "work" / "images.json").records
    full = pycolmap.Reconstruction(str(seneca / "work" / "georef"))
    sane = check_model(full, conf, info, stated_gps_std_m(records, conf))
    assert sane.ok, sane.failures
    assert sane.numbers["median_triangulation_deg"] > 1.0
    assert sane.numbers["mean_points_per_image"] >= 10

    out = tmp_path / "out"
    shutil.copytree(seneca / "work", out / "work")
    shutil.copy(seneca / "config.json", out / "config.json")
    thin = pycolmap.Reconstruction(str(out / "work" / "georef"))
    for point_id in list(thin.points3D)[2:]:
        thin.delete_point3D(point_id)
    thin.write(str(out / "work" / "georef"))
    args = ["sfm", str(seneca.parent / "images"), "--out", str(out), "--max-image-px", "1024"]
    assert main(args) == 2
    doc = json.loads((out / "report.json").read_text())
    assert next(iter(doc)) == "failed" and any("3D points" in f for f in doc["failed"])
    summary = doc["summary"]
    assert next(iter(summary)) == "status" and summary["status"].startswith("FAILED")
    assert summary["sparse_points"] == 2 and summary["images_registered"] == 6
    assert "3D points" in summary["status"] and summary["mean_points_per_image"] < 10
    assert not (out / "sparse.laz").exists() and not (out / "dsm.tif").exists()


def test_unordered_photos_without_gps_make_a_local_model(tmp_path: Path) -> None:
    conf = make_config(max_image_px=1080, dense=False)  # the photos' own size
    out = tmp_path / "out"
    run_pipeline(shared("sfm_hloc_sacre_coeur", "mapping"), out, conf, log=lambda _: None)
    doc = _report(out)
    summary = doc["summary"]
    assert isinstance(summary, dict)
    assert summary["images_registered"] == 10  # hloc's demo: all 10 register
    assert summary["reprojection_error_px"] < 1.5
    assert summary["georeferencing"] == "local"
    assert any("LOCAL FRAME" in n for n in doc["notes"])  # type: ignore[union-attr]
    sidecar = json.loads((out / "sparse.laz.crs.json").read_text())
    assert sidecar["crs"] is None


def test_gps_and_gcps_on_berlin(tmp_path: Path) -> None:
    """OpenSfM's Berlin photos: GPS in EXIF and GCPs (converted to ODM's format)."""
    from PIL import Image

    data = shared("sfm_opensfm_berlin_gcp")
    points = json.loads((data / "ground_control_points.json").read_text())["points"]
    lines = ["EPSG:4326"]
    for point in points:
        if "position" not in point:
            continue
        pos = point["position"]
        for obs in point["observations"]:
            with Image.open(data / "images" / obs["shot_id"]) as im:
                w, h = im.size
            px = obs["projection"][0] * max(w, h) + w / 2
            py = obs["projection"][1] * max(w, h) + h / 2
            lines.append(
                f"{pos['longitude']} {pos['latitude']} {pos['altitude']} {px} {py} "
                f"{obs['shot_id']} gcp{point['id']}"
            )
    gcp = tmp_path / "gcp_list.txt"
    gcp.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    conf = make_config(max_image_px=1024, dense=False)
    run_pipeline(data / "images", out, conf, gcp_path=gcp, log=lambda _: None)
    doc = _report(out)
    summary = doc["summary"]
    assert isinstance(summary, dict)
    assert summary["images_registered"] == 3
    assert summary["crs"] == "EPSG:32633"
    # two GCPs carry coordinates; one is seen in two images and gets a residual
    assert summary["gcp_rmse_horizontal_m"] < 15.0  # phone GPS (DOP 5) fixes the frame


def test_gcp_only_georeferencing_matches_the_gps_model(seneca: Path, tmp_path: Path) -> None:
    """Images without any GPS or EXIF (the working copies), the camera from the
    calibration.yaml ``smartmine calibrate`` writes, and a gcp_list.txt made from five points
    of the GPS run: the model lands where the GPS run put it."""
    import pycolmap

    from calibration.camera_model import CameraModel
    from calibration.io import Calibration, CameraEntry, save_calibration

    rec = pycolmap.Reconstruction(str(seneca / "work" / "georef"))
    camera = next(iter(rec.cameras.values()))
    fx, fy, cx, cy, k1, k2, p1, p2 = camera.params  # OPENCV
    model = CameraModel.create(
        camera.width,
        camera.height,
        [[fx, 0, cx - 0.5], [0, fy, cy - 0.5], [0, 0, 1]],
        [k1, k2, p1, p2, 0],
    )
    calibration = save_calibration(
        Calibration({"survey_camera": CameraEntry(model, "survey_camera_optical_frame")}),
        tmp_path / "calibration.yaml",
    )
    origin = np.array(
        json.loads((seneca / "work" / "georef" / "georef.json").read_text())["origin_m"]
    )
    points = sorted(rec.points3D.values(), key=lambda p: -p.track.length())
    chosen, used = [], set()
    for point in points:  # well-seen points, spread over the block
        if all(np.linalg.norm(point.xyz[:2] - q) > 15 for q in used):
            chosen.append(point)
            used.add(tuple(point.xyz[:2]))
        if len(chosen) == 5:
            break
    lines = ["WGS84 UTM 17N"]
    for k, point in enumerate(chosen):
        xyz = point.xyz + origin
        for element in point.track.elements:
            image = rec.images[element.image_id]
            u, v = image.points2D[element.point2D_idx].xy
            lines.append(
                f"{xyz[0]:.3f} {xyz[1]:.3f} {xyz[2]:.3f} {u:.2f} {v:.2f} {image.name} p{k}"
            )
    (tmp_path / "gcp_list.txt").write_text("\n".join(lines) + "\n")
    folder = tmp_path / "images"
    shutil.copytree(seneca / "work" / "images", folder)  # re-encoded: no EXIF, no GPS
    out = tmp_path / "out"
    conf = make_config(max_image_px=1024, max_features=8192, dense=False)
    run_pipeline(
        folder,
        out,
        conf,
        gcp_path=tmp_path / "gcp_list.txt",
        calibration_path=calibration,
        log=lambda _: None,
    )
    summary = _report(out)["summary"]
    assert isinstance(summary, dict)
    assert summary["georeferencing"] == "gcp" and summary["crs"] == "EPSG:32617"
    assert summary["gcp_rmse_horizontal_m"] < 0.1
    assert summary["gcp_check_rmse_horizontal_m"] < 0.2  # leave-one-out check points
    assert summary["gcp_check_rmse_vertical_m"] < 0.3

    def centres(path: Path) -> dict[str, np.ndarray]:
        with path.open() as f:
            return {
                r["image"]: np.array([float(r[k]) for k in ("easting_m", "northing_m", "height_m")])
                for r in csv.DictReader(f)
            }

    gps_run, gcp_run = centres(seneca / "cameras.csv"), centres(out / "cameras.csv")
    common = sorted(set(gps_run) & set(gcp_run))
    assert len(common) >= 4
    error = np.array([gcp_run[n] - gps_run[n] for n in common])
    # same images, same camera: the GCP-only model puts the cameras where the GPS run did
    assert np.sqrt(np.mean(np.sum(error[:, :2] ** 2, axis=1))) < 0.5
    assert np.sqrt(np.mean(error[:, 2] ** 2)) < 0.5
