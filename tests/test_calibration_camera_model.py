"""CameraModel against OpenCV, and its inverse maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from calibration.camera_model import CameraModel
from calibration.errors import CalibrationError
from smartmine.msgs import CameraIntrinsics

K = np.array([[510.0, 0.0, 322.3], [0.0, 505.0, 241.7], [0.0, 0.0, 1.0]])
MODELS = {
    "plumb_bob": [-0.3, 0.12, 0.001, -0.0008, -0.02],
    "rational_polynomial": [0.12, -0.05, 0.001, 0.0005, 0.01, 0.45, -0.06, 0.02],
    "equidistant": [0.05, -0.02, 0.01, -0.003],
}


def _points(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(3)
    p = rng.uniform([-0.5, -0.4, 0.8], [0.5, 0.4, 2.0], (n, 3))
    return np.asarray(p)


@pytest.mark.parametrize("model", list(MODELS))
def test_project_matches_opencv(model: str) -> None:
    cam = CameraModel.create(640, 480, K, MODELS[model], model)
    pts = _points()
    ours = cam.project(pts)
    zero = np.zeros(3)
    if model == "equidistant":
        ref, _ = cv2.fisheye.projectPoints(pts.reshape(1, -1, 3), zero, zero, K, cam.d)
    else:
        ref, _ = cv2.projectPoints(pts, zero, zero, K, cam.d)
    assert np.abs(ours - ref.reshape(-1, 2)).max() < 1e-9


@pytest.mark.parametrize("model", list(MODELS))
def test_unproject_inverts_project_over_the_frame(model: str) -> None:
    cam = CameraModel.create(640, 480, K, MODELS[model], model)
    gy, gx = np.mgrid[0:480:7, 0:640:7]
    pix = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float64)
    rays = cam.unproject(pix)
    assert np.allclose(np.linalg.norm(rays, axis=1), 1.0)
    assert np.abs(cam.project(rays) - pix).max() < 1e-8
    und = cam.undistort_points(pix)
    assert np.abs(cam.distort(und) - pix).max() < 1e-8


def test_fisheye_beyond_ninety_degrees() -> None:
    cam = CameraModel.create(
        640, 480, [[200, 0, 320], [0, 200, 240], [0, 0, 1]], [0, 0, 0, 0], "equidistant"
    )
    ray = np.array([[np.sin(np.radians(100)), 0.0, np.cos(np.radians(100))]])
    pix = cam.project(ray)
    assert pix[0, 0] == pytest.approx(320 + 200 * np.radians(100))
    assert np.allclose(cam.unproject(pix), ray)


def test_pinhole_behind_camera_is_nan() -> None:
    cam = CameraModel.create(640, 480, K, MODELS["plumb_bob"])
    assert np.isnan(cam.project([[0.0, 0.0, -1.0]])).all()


def test_model_checks_and_intrinsics() -> None:
    with pytest.raises(CalibrationError, match="not supported"):
        CameraModel(CameraIntrinsics(640, 480, K, [0.1], "double_sphere"))
    with pytest.raises(CalibrationError, match="takes 4"):
        CameraModel.create(640, 480, K, [0.1, 0.2, 0.3, 0.4, 0.5], "equidistant")
    short = CameraModel.create(640, 480, K, [-0.1, 0.01], "plumb_bob")
    assert short.d.tolist() == [-0.1, 0.01, 0.0, 0.0, 0.0]
    assert short.coefficients()["k3"] == 0.0
    assert short.to_intrinsics().fx == 510.0
