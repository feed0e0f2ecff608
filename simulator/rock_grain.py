"""Rock grain: the millimetre-to-centimetre albedo contrast of real drift walls.

Shotcrete aggregate, crystals and fractures give real walls hundreds of corners per
image (the real Kinect frames in ../shared/data give 500-1,000 SIFT keypoints); the
fractal texture of :mod:`simulator.scene` stops at decimetres, so a 640x480 drift frame
gave ~20. This layer multiplies rock albedo by ``1 ± contrast`` of a fine fractal
(3 cm down to ~4 mm) of its own seed stream, so turning it on changes no other draw.
Off by default (``drift.grain_contrast`` 0): the bytes of earlier runs stay as they were.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simulator.noise import fbm

F64Array = npt.NDArray[np.float64]

GRAIN_SCALE_M = 0.03
"""Coarsest grain feature (3 cm); four octaves reach ~4 mm."""
GRAIN_OCTAVES = 4
GRAIN_SEED_OFFSET = 7919
"""The grain's noise seed is the scene's texture seed plus this (its own stream)."""


def grain_factor(
    points: F64Array, texture_seed: int, contrast: float, scale_m: float = GRAIN_SCALE_M
) -> F64Array:
    """Albedo multiplier in ``[1 - contrast, 1 + contrast]`` at each point (coarsest
    feature ``scale_m``)."""
    grain = fbm(
        points,
        texture_seed + GRAIN_SEED_OFFSET,
        scale_m=scale_m,
        octaves=GRAIN_OCTAVES,
        gain=0.7,
    )
    # fbm sits near 0.5; stretch its spread so the contrast is used, then clip
    stretched = np.clip((grain - 0.5) * 4.0, -1.0, 1.0)
    return np.asarray(1.0 + contrast * stretched, dtype=np.float64)
