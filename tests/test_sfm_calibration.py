"""A calibration's full distortion (k3, rational k4-k6) reaches COLMAP: the camera made from
OpenCV intrinsics projects like cv2.projectPoints (COLMAP's pixel centres at +0.5), and the
dense stage gets the same coefficients back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mapping.sfm.dense import opencv_camera
from mapping.sfm.sparse import calibrated_camera

K = np.array([[800.0, 0.0, 315.0], [0.0, 805.0, 242.0], [0.0, 0.0, 1.0]])
POINTS = np.array([[x, y, 1.0] for x in (-0.35, 0.0, 0.3) for y in (-0.25, 0.1, 0.28)])


@pytest.mark.parametrize(
    ("dist", "model"),
    [
        ([-0.12, 0.05, 0.0008, -0.0005, 0.0], "OPENCV"),
        ([-0.12, 0.05, 0.0008, -0.0005, 0.03], "FULL_OPENCV"),  # plumb_bob with k3
        ([-0.12, 0.05, 0.0008, -0.0005, 0.03, 0.01, -0.02, 0.005], "FULL_OPENCV"),  # rational
    ],
)
def test_calibrated_camera_projects_like_opencv(dist: list[float], model: str) -> None:
    scale = 0.5
    camera = calibrated_camera(K, np.array(dist), scale, 320, 240)
    assert camera.model_name == model
    expected, _ = cv2.projectPoints(POINTS, np.zeros(3), np.zeros(3), K, np.array(dist))
    expected = (expected.reshape(-1, 2) + 0.5) * scale  # OpenCV pixel 0 = COLMAP 0.5
    ours = np.array([camera.img_from_cam(p) for p in POINTS])
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    kmat, d = opencv_camera(camera, 1.0 / scale)
    np.testing.assert_allclose(kmat, K, atol=1e-9)
    n = len(d)
    np.testing.assert_allclose(d, (dist + [0.0] * 8)[:n], atol=1e-12)
    assert n >= len([v for v in dist if v != 0.0])
