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

from simulator.noise import Octaves, fbm

F64Array = npt.NDArray[np.float64]

GRAIN_SCALE_M = 0.03
"""Coarsest grain feature (3 cm); four octaves reach ~4 mm."""
GRAIN_OCTAVES = 4
GRAIN_SEED_OFFSET = 7919
"""The grain's noise seed is the scene's texture seed plus this (its own stream)."""
GRAIN_GAIN = 0.7
GRAIN_STRETCH = 4.0
"""fbm sits near 0.5; its spread is stretched by this so the contrast is used, then clipped."""


def grain_octaves(texture_seed: int, scale_m: float = GRAIN_SCALE_M) -> Octaves:
    """The grain's octaves (what :func:`grain_factor` sums), for per-point kernels."""
    return Octaves.of(
        texture_seed + GRAIN_SEED_OFFSET,
        scale_m=scale_m,
        first=0,
        count=GRAIN_OCTAVES,
        gain=GRAIN_GAIN,
    )


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
        gain=GRAIN_GAIN,
    )
    stretched = np.clip((grain - 0.5) * GRAIN_STRETCH, -1.0, 1.0)
    return np.asarray(1.0 + contrast * stretched, dtype=np.float64)


WIRE_SPACING_M = 0.1
"""Welded mesh: square openings of 10 cm (wire centre to centre)."""
WIRE_WIDTH_M = 0.006
WIRE_DARKENING = 0.4
"""Albedo on a wire (rusted steel and its shadow on the rock) relative to the rock."""
WIRE_FLOOR_NZ = 0.8
"""No mesh where the normal (turned toward the camera) points this far up: the floor."""


def wire_mesh_factor(points: F64Array, normals: F64Array, axis: F64Array) -> F64Array:
    """Albedo multiplier of welded mesh pinned to walls and roof: wires at constant
    height and at constant distance along the horizontal ``axis`` (the drift's heading),
    every :data:`WIRE_SPACING_M`; 1 off the wires and on the floor."""
    frac_w = WIRE_WIDTH_M / WIRE_SPACING_M
    along = (points[:, 0] * axis[0] + points[:, 1] * axis[1]) / WIRE_SPACING_M
    height = points[:, 2] / WIRE_SPACING_M
    on_wire = ((along - np.floor(along)) < frac_w) | ((height - np.floor(height)) < frac_w)
    on_wire &= normals[:, 2] < WIRE_FLOOR_NZ
    return np.where(on_wire, WIRE_DARKENING, 1.0)
