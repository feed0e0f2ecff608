"""SfM inputs: EXIF GPS, ODM GCP files, bags (images + NavSatFix), bad input."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from mapping.sfm.config import make_config
from mapping.sfm.errors import SfmError
from mapping.sfm.gcp import parse_crs_header, read_gcp_file
from mapping.sfm.inputs import load_bag, load_folder, load_inputs, read_image_record
from mapping.sfm.sparse import WorkingImages, choose_epsg, image_pairs, run_images
from tests.conftest import shared


def test_exif_gps_matches_the_derived_csv() -> None:
    folder = shared("aerial_odm_seneca")
    with (folder / "exif_gps.csv").open() as f:
        rows = {r["image"]: r for r in csv.DictReader(f)}
    inputs = load_inputs(folder, folder)  # the ODM layout: images/ below the folder
    assert inputs.kind == "folder" and len(inputs.images) == 24 and inputs.with_gps == 24
    for record in inputs.images:
        row = rows[record.name]
        assert record.lat_deg == pytest.approx(float(row["latitude_deg"]), abs=1e-6)
        assert record.lon_deg == pytest.approx(float(row["longitude_deg"]), abs=1e-6)
        assert record.alt_m == pytest.approx(float(row["gps_altitude_m"]), abs=0.01)
    first = inputs.images[0]
    # 4.3 mm at 16393 px/inch on the 4000 px wide EXIF sensor, scaled to 3600 px
    assert first.focal_px == pytest.approx(4.3 / (4000 / 16393.44 * 25.4) * 3600, rel=1e-3)
    assert first.focal_source == "exif_focal_plane"
    assert [r.name for r in inputs.images][:2] == ["IMG_0461.jpg", "IMG_0462.jpg"]
    assert choose_epsg("auto", inputs) == 32617
    assert choose_epsg("EPSG:32644", inputs) == 32644
    with pytest.raises(SfmError, match="only WGS84 / UTM"):
        choose_epsg("EPSG:4326", inputs)


def test_photos_without_exif_have_no_prior() -> None:
    folder = shared("sfm_hloc_sacre_coeur", "mapping")
    record = read_image_record(sorted(folder.glob("*.jpg"))[0])
    assert record.focal_px is None and not record.has_gps


def test_odm_gcp_files_in_utm_and_wgs84() -> None:
    bellus = read_gcp_file(shared("gcp_files", "bellus", "gcp_list.txt"))
    assert bellus.epsg == 32617 and len(bellus.gcps) == 4
    utm = bellus.utm(32617)
    first = bellus.gcps[0]
    assert np.allclose(utm[first.name], first.xyz)
    assert first.observations[0].image == "IMG_1356_RGB.jpg"
    assert first.observations[0].pixel_xy == (2648.0, 2147.0)

    helen = read_gcp_file(shared("gcp_files", "helenenschacht", "gcp_list.txt"))
    assert helen.epsg == 4326 and len(helen.gcps) == 5
    assert sum(len(g.observations) for g in helen.gcps) == 35
    assert helen.suggested_epsg() == 32633
    # the README's UTM 33N coordinates of GCP 1
    assert np.allclose(helen.utm(32633)["1"][:2], [610852.39, 5277733.59], atol=0.05)


def test_gcp_file_errors_name_the_problem(tmp_path: Path) -> None:
    bad_crs = tmp_path / "gcp_list.txt"
    bad_crs.write_text("EPSG:999999\n1 2 3 4 5 a.jpg\n")
    with pytest.raises(SfmError, match="unknown CRS"):
        read_gcp_file(bad_crs)
    with pytest.raises(SfmError, match="unknown CRS"):
        parse_crs_header("Lambert somewhere", "x")
    assert parse_crs_header("+proj=utm +zone=44 +datum=WGS84 +units=m", "x") == 32644
    missing = tmp_path / "missing.txt"
    missing.write_text(
        "WGS84 UTM 44N\n500001 4000002 3 4 5 a.jpg g1\n500001 4000002 3 6 7 b.jpg g1\n"
    )
    parsed = read_gcp_file(missing, images={"a.jpg"})
    assert len(parsed.gcps[0].observations) == 1
    assert "b.jpg" in parsed.skipped[0]
    with pytest.raises(SfmError, match="no GCP observation names an input image"):
        read_gcp_file(missing, images={"z.jpg"})
    short = tmp_path / "short.txt"
    short.write_text("EPSG:4326\n1 2 3\n")
    with pytest.raises(SfmError, match=r"short.txt:2"):
        read_gcp_file(short)


def test_corrupt_image_is_listed_not_fatal(tmp_path: Path) -> None:
    source = shared("aerial_odm_seneca", "images")
    folder = tmp_path / "flight"
    folder.mkdir()
    for name in ("IMG_0461.jpg", "IMG_0462.jpg", "IMG_0463.jpg"):
        shutil.copy(source / name, folder / name)
    data = (source / "IMG_0464.jpg").read_bytes()
    (folder / "IMG_0464.jpg").write_bytes(data[:2000])  # truncated: header only
    (folder / "IMG_0465.jpg").write_bytes(b"not a jpeg")
    inputs = load_folder(folder)
    assert "IMG_0465.jpg" in inputs.failed
    conf = make_config(max_image_px=400)
    images = WorkingImages.load(run_images(conf, inputs, 32617, tmp_path / "work"))
    assert {r.name for r in images.records} == {"IMG_0461.jpg", "IMG_0462.jpg", "IMG_0463.jpg"}
    assert set(images.failed) == {"IMG_0464.jpg", "IMG_0465.jpg"}
    assert "IMG_0464.jpg" in images.failed["IMG_0464.jpg"]  # names the file
    # positions in the local frame are metres from a rounded origin, consecutive ~30 m
    step = np.linalg.norm(
        np.subtract(images.local_xyz["IMG_0462.jpg"][:2], images.local_xyz["IMG_0461.jpg"][:2])
    )
    assert 20 < step < 45
    lever = make_config(max_image_px=400, camera_below_antenna_m=0.25)
    lowered = WorkingImages.load(run_images(lever, inputs, 32617, tmp_path / "work2"))
    name = "IMG_0461.jpg"
    height = images.local_xyz[name][2] + images.origin[2]
    assert lowered.local_xyz[name][2] + lowered.origin[2] == pytest.approx(height - 0.25)
    pairs, mode = image_pairs(conf, images)
    assert mode == "exhaustive" and len(pairs) == 3


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SfmError, match="no images"):
        load_folder(tmp_path)
    with pytest.raises(SfmError, match="no such folder"):
        load_inputs(tmp_path / "nope", tmp_path)


def test_bag_images_get_interpolated_fixes(tmp_path: Path) -> None:
    from smartmine.bagio.writer import BagWriter
    from smartmine.msgs import GeoFix, geofix_to_navsatfix, numpy_to_image
    from smartmine.msgs.factory import default_factory

    bag_path = tmp_path / "flight.mcap"
    factory = default_factory()
    rng = np.random.default_rng(0)
    with BagWriter(bag_path) as bag:
        bag.add_topic("/camera/color/image_raw", "sensor_msgs/msg/Image")
        bag.add_topic("/gnss/fix", "sensor_msgs/msg/NavSatFix")
        for second in range(4):
            stamp = second * 1_000_000_000
            fix = GeoFix(stamp, 50.0 + second * 1e-4, 78.0, 500.0 + second)
            bag.write("/gnss/fix", stamp, geofix_to_navsatfix(fix, factory))
        for k in range(3):
            stamp = 500_000_000 + k * 1_000_000_000
            image = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            msg = numpy_to_image(image, "rgb8", stamp_ns=stamp, factory=factory)
            bag.write("/camera/color/image_raw", stamp, msg)
    inputs = load_bag(bag_path, tmp_path / "frames")
    assert inputs.kind == "bag" and len(inputs.images) == 3
    second = inputs.images[1]
    assert second.lat_deg == pytest.approx(50.0 + 1.5e-4)
    assert second.alt_m == pytest.approx(501.5)
    assert (tmp_path / "frames" / second.name).exists()
    assert second.width == 64 and second.height == 48
    with pytest.raises(SfmError, match="no image topic '/nope'"):
        load_bag(bag_path, tmp_path / "x", image_topic="/nope")
