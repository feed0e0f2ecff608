"""sfm_portal: requests naming an image folder and a bag (images + NavSatFix by time)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mapping.sfm.portal import SfmPortal, SfmPortalParams
from smartmine.msgs import pointcloud2_to_xyz
from smartmine.msgs.factory import default_factory
from tests.conftest import shared


def test_request_publishes_products_and_preview(tmp_path: Path) -> None:
    folder = shared("sfm_opensfm_berlin_gcp", "images")
    factory = default_factory()
    portal = SfmPortal(SfmPortalParams(out_dir=str(tmp_path), preset="fast", preview_points=500))
    request = factory("std_msgs/msg/String", data=str(folder))
    outputs = portal.process("request", request, 5)
    by_port = {o.port: o.message for o in outputs}
    doc = json.loads(by_port["products"].data)
    assert doc["crs"] == "EPSG:32633"  # Berlin
    assert doc["summary"]["images_registered"] == 3
    # photos from the square: a ground-level block gets cloud and mesh, no DSM (issue 19)
    assert doc["summary"]["block_type"] == "ground-level" and "dsm" not in doc["products"]
    assert Path(doc["products"]["mesh_ply"]).exists()
    preview = pointcloud2_to_xyz(by_port["preview"])
    assert 10 < len(preview) <= 500
    # relative to the origin: metres, not UTM coordinates
    assert np.abs(np.median(preview, axis=0)).max() < 1000


def test_request_naming_a_bag_uses_its_images_and_fixes(tmp_path: Path) -> None:
    import cv2

    from mapping.sfm.inputs import read_image_record
    from smartmine.bagio.writer import BagWriter
    from smartmine.msgs import GeoFix, geofix_to_navsatfix, numpy_to_image

    images = sorted(shared("sfm_opensfm_berlin_gcp", "images").glob("*.jpg"))
    bag = tmp_path / "walk.mcap"
    factory = default_factory()
    with BagWriter(bag) as writer:
        writer.add_topic("/camera/color/image_raw", "sensor_msgs/msg/Image")
        writer.add_topic("/gnss/fix", "sensor_msgs/msg/NavSatFix")
        for k, path in enumerate(images):
            stamp = (k + 1) * 1_000_000_000
            record = read_image_record(path)
            assert record.lat_deg is not None and record.lon_deg is not None
            fix = GeoFix(stamp, record.lat_deg, record.lon_deg, record.alt_m or 0.0)
            writer.write("/gnss/fix", stamp, geofix_to_navsatfix(fix, factory))
            picture = cv2.resize(cv2.imread(str(path)), (1024, 768), interpolation=cv2.INTER_AREA)
            message = numpy_to_image(picture, "bgr8", stamp_ns=stamp, factory=factory)
            writer.write("/camera/color/image_raw", stamp, message)
    portal = SfmPortal(SfmPortalParams(out_dir=str(tmp_path / "runs"), preset="fast"))
    request = factory("std_msgs/msg/String", data=str(bag))
    outputs = portal.process("request", request, 1)
    doc = json.loads(outputs[0].message.data)
    assert doc["summary"]["input_kind"] == "bag"
    assert doc["summary"]["images_registered"] == 3
    assert doc["summary"]["georeferencing"] == "gps"
    assert doc["crs"] == "EPSG:32633"
