"""Footprint pairing on real drone images (Seneca: three parallel flight lines, A B C).

Ground truth for which pairs overlap: matching every pair of the 24 images at 1600 px
(pycolmap, exhaustive) verifies 63 pairs, none between line A and line C (160-180 m
apart); the strongest pairs across lines A-B include IMG_0461-0474 (226 inliers),
0462-0474 (133) and 0463-0475 (71). The camera flew ~60 m above the ground (the
dataset's 2.5 cm GSD x the 2498 px EXIF focal length)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from mapping.sfm.config import make_config
from mapping.sfm.errors import SfmError
from mapping.sfm.inputs import load_inputs
from mapping.sfm.sparse import (
    WorkingImages,
    choose_epsg,
    estimate_footprints,
    image_pairs,
    run_features,
    run_images,
)
from tests.conftest import shared


def _line(name: str) -> str:
    number = int(name[4:8])
    return "A" if number <= 468 else "B" if number <= 481 else "C"


@pytest.fixture(scope="module")
def seneca(tmp_path_factory: pytest.TempPathFactory) -> tuple[WorkingImages, Path]:
    """Working images at 640 px and their SIFT features (a few seconds)."""
    work = tmp_path_factory.mktemp("seneca_pairs")
    inputs = load_inputs(shared("aerial_odm_seneca"), work)
    conf = make_config(max_image_px=640, max_features=2048)
    images = WorkingImages.load(run_images(conf, inputs, choose_epsg("auto", inputs), work))
    return images, run_features(conf, images, work)


def test_footprints_give_the_flight_height_and_pair_only_overlapping_images(
    seneca: tuple[WorkingImages, Path],
) -> None:
    images, database = seneca
    footprints = estimate_footprints(images, database)
    assert footprints is not None
    assert 45 < footprints.height_m < 75
    assert footprints.yaws_estimated >= 20  # nearly every image's heading from the motion
    conf = make_config(max_image_px=640)
    pairs, label = image_pairs(conf, images, database)
    assert label.startswith("footprint")
    chosen = {tuple(sorted(p)) for p in pairs}
    lines = {(_line(a), _line(b)) for a, b in chosen}
    assert ("A", "C") not in lines  # never across the middle line
    names = [r.name for r in images.records]
    for a, b in itertools.pairwise(names):
        if _line(a) == _line(b):
            assert (a, b) in chosen  # consecutive images of a line
    for pair in [("IMG_0461.jpg", "IMG_0474.jpg"), ("IMG_0462.jpg", "IMG_0474.jpg"),
                 ("IMG_0463.jpg", "IMG_0475.jpg")]:  # fmt: skip
        assert pair in chosen  # neighbouring lines that overlap
    knn, _ = image_pairs(make_config(max_image_px=640, footprint_overlap=0), images, database)
    assert len(chosen) < 0.7 * len(knn)
    # a footprint is where its GPS position is, about as wide as 640 px x height / focal
    corners = footprints.corners_m["IMG_0461.jpg"]
    centre = np.asarray(images.local_xyz["IMG_0461.jpg"][:2])
    assert np.linalg.norm(corners.mean(axis=0) - centre) < 1.0


@pytest.mark.parametrize(
    ("field", "value"),
    [("footprint_overlap", 1.5), ("verify_max_error_px", 0.0), ("sift_first_octave", -3)],
)
def test_speed_settings_out_of_range_are_refused_by_name(field: str, value: float) -> None:
    with pytest.raises(SfmError, match=field):
        make_config("default", **{field: value})
