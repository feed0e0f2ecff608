"""Property-based tests of the calibration YAML readers (``--calibration`` of every
command): on generated and mutated ROS camera_info and smartmine calibration.yaml
documents, ``load_camera_model`` and ``load_calibration`` give a model with finite values
or a ``SmartmineError`` naming the file, never another exception."""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration.camera_model import CameraModel, load_camera_model
from calibration.io import Calibration, CameraEntry, calibration_to_dict, load_calibration
from smartmine.errors import SmartmineError

FOLDER = Path(tempfile.mkdtemp(prefix="smartmine-calib-prop-"))
atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CAM = CameraModel.create(
    640, 480, [[520, 0, 323.4], [0, 518, 236.7], [0, 0, 1]], [-0.28, 0.09, 0.0008, -0.0005, 0.01]
)
ROS_DOC: dict[str, Any] = {
    "image_width": 640,
    "image_height": 480,
    "camera_name": "cam",
    "camera_matrix": {"rows": 3, "cols": 3, "data": [520, 0, 320, 0, 520, 240, 0, 0, 1]},
    "distortion_model": "plumb_bob",
    "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.1, -0.2, 0, 0, 0]},
    "rectification_matrix": {"rows": 3, "cols": 3, "data": [1, 0, 0, 0, 1, 0, 0, 0, 1]},
    "projection_matrix": {
        "rows": 3,
        "cols": 4,
        "data": [520, 0, 320, 0, 0, 520, 240, 0, 0, 0, 1, 0],
    },
}
SMARTMINE_DOC: dict[str, Any] = calibration_to_dict(
    Calibration(cameras={"cam": CameraEntry(CAM, "cam_optical_frame", {"rms_px": 0.2})})
)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=14),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def check(path: Path, read: Callable[[Path], Any]) -> None:
    """``read(path)`` gives finite models or a SmartmineError naming the file."""
    try:
        result = read(path)
    except SmartmineError as err:
        assert str(path) in str(err) or path.name in str(err), str(err)
        return
    models = (
        [e.model for e in result.cameras.values()] if isinstance(result, Calibration) else [result]
    )
    for model in models:
        assert isinstance(model, CameraModel)
        assert model.width > 0 and model.height > 0
        assert np.isfinite(model.k).all() and model.k[0, 0] > 0 and model.k[1, 1] > 0
        assert np.isfinite(model.intrinsics.d).all()
        assert np.isfinite(model.intrinsics.p).all() and np.isfinite(model.intrinsics.r).all()


def write(doc: Any, name: str) -> Path:
    path = FOLDER / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def paths_of(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a nested document (mappings and lists)."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += paths_of(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += paths_of(value, (*prefix, i))
    return out


def mutate(doc: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    """A deep copy of ``doc`` with the item at ``path`` replaced by ``value`` (or deleted)."""
    copy = yaml.safe_load(yaml.safe_dump(doc))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> Any:
    """``doc`` with one to three items replaced by junk or deleted."""
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        doc = mutate(doc, path, draw(junk), draw(st.booleans()))
    return doc


@SETTINGS
@given(mutated(ROS_DOC))
def test_mutated_ros_camera_info(doc: Any) -> None:
    check(write(doc, "ros.yaml"), load_camera_model)


@SETTINGS
@given(mutated(SMARTMINE_DOC))
def test_mutated_smartmine_calibration(doc: Any) -> None:
    path = write(doc, "calibration.yaml")
    check(path, load_camera_model)
    check(path, load_calibration)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@SETTINGS
@given(
    width=st.integers(-10, 100_000),
    height=st.integers(-10, 100_000),
    k=st.lists(finite_or_not, min_size=0, max_size=12),
    rows=st.integers(-1, 4),
    cols=st.integers(-1, 4),
    d=st.lists(finite_or_not, min_size=0, max_size=16),
    model=st.sampled_from(
        ["plumb_bob", "rational_polynomial", "equidistant", "fisheye", "", "pinhole", "x"]
    ),
)
def test_generated_ros_camera_info(
    width: int, height: int, k: list[float], rows: int, cols: int, d: list[float], model: str
) -> None:
    doc = {
        "image_width": width,
        "image_height": height,
        "camera_matrix": {"rows": rows, "cols": cols, "data": k},
        "distortion_model": model,
        "distortion_coefficients": {"rows": 1, "cols": len(d), "data": d},
    }
    check(write(doc, "generated.yaml"), load_camera_model)


@SETTINGS
@given(st.data())
def test_truncated_and_flipped_text(data: st.DataObject) -> None:
    """The text of a valid file cut anywhere or with one character changed."""
    source = yaml.safe_dump(data.draw(st.sampled_from([ROS_DOC, SMARTMINE_DOC])), sort_keys=False)
    cut = data.draw(st.integers(0, len(source)))
    text = source[:cut]
    if data.draw(st.booleans()) and text:
        i = data.draw(st.integers(0, len(text) - 1))
        text = (
            text[:i]
            + data.draw(st.sampled_from(list(":-[]{}#&*!|>'\"%@` \t\n0.nan")))
            + text[i + 1 :]
        )
    path = FOLDER / "text.yaml"
    path.write_text(text, encoding="utf-8")
    check(path, load_camera_model)


def test_the_unmutated_documents_load() -> None:
    """The property's seeds are valid, so the mutations start from a real file."""
    ros = load_camera_model(write(ROS_DOC, "ros_ok.yaml"))
    assert ros.width == 640 and math.isclose(ros.k[0, 0], 520.0)
    mine = load_camera_model(write(SMARTMINE_DOC, "mine_ok.yaml"))
    np.testing.assert_allclose(mine.k, CAM.k)
