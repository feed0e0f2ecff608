"""ORB keypoint coordinates against ground truth (the odometry's bias, issue 11).

OpenCV's ORB reports a pyramid level's pixel ``x`` as ``x * scale``; its level images
keep pixel centres aligned, so that point lies up to 1.3 px up and left of where the
feature is. ``odometry.orb_pixels`` corrects it. The truth used here: a mirrored image
has mirrored keypoints (x -> W - 1 - x), which holds exactly for unbiased coordinates
(the pyramid of a mirrored image is the mirrored pyramid). The effect on the odometry
against the simulator's truth is in docs/notes/issue-11-odometry-bias.md.
"""

from __future__ import annotations

import cv2
import numpy as np

from mapping.slam.odometry import orb_pixels


def texture(seed: int = 0) -> np.ndarray:
    """A grey 640×480 texture with blobs and corners at every scale."""
    rng = np.random.default_rng(seed)
    img = np.zeros((480, 640), np.float64)
    for cell in (4, 8, 16, 32, 64):
        small = rng.random((480 // cell + 2, 640 // cell + 2))
        img += cv2.resize(small, (640 + 2 * cell, 480 + 2 * cell), interpolation=cv2.INTER_CUBIC)[
            cell : cell + 480, cell : cell + 640
        ]
    img = (img - img.min()) / (img.max() - img.min()) * 255.0
    return np.asarray(img, np.uint8)


def _mirror_offsets(gray: np.ndarray, corrected: bool) -> dict[int, float]:
    """Per octave: the mean of (x + x_mirror - (W - 1)) / 2 over keypoints found at
    the same place and octave in the image and its left-right mirror (0 if unbiased)."""
    orb = cv2.ORB.create(nfeatures=1000, fastThreshold=12)
    h, w = gray.shape

    def points(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        kps = orb.detect(img, None)
        px = (
            orb_pixels(kps, w, h, orb.getScaleFactor())
            if corrected
            else np.array([k.pt for k in kps], np.float64)
        )
        return px, np.array([k.octave for k in kps])

    p1, o1 = points(gray)
    p2, o2 = points(np.ascontiguousarray(gray[:, ::-1]))
    p2[:, 0] = w - 1 - p2[:, 0]
    offsets: dict[int, list[float]] = {}
    for p, o in zip(p1, o1, strict=True):
        d = np.hypot(*(p2 - p).T)
        d[o2 != o] = np.inf
        j = int(np.argmin(d))
        if d[j] < 2.5:
            offsets.setdefault(int(o), []).append(float(p[0] - p2[j, 0]) / 2)
    return {o: float(np.mean(v)) for o, v in offsets.items() if len(v) >= 5}


def test_orb_pixels_are_mirror_consistent_at_every_octave() -> None:
    gray = texture()
    raw = _mirror_offsets(gray, corrected=False)
    fixed = _mirror_offsets(gray, corrected=True)
    assert len(fixed) >= 5  # keypoints on several octaves
    # OpenCV's own coordinates are biased at the upper octaves (this is what is fixed)
    assert max(abs(v) for o, v in raw.items() if o >= 2) > 0.2
    for octave, offset in fixed.items():
        assert abs(offset) < 1e-3, (octave, offset)
