"""The renderer's compiled kernels give bit for bit the results of the numpy statements
they replace (same seed, same bytes across the speed-up)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config import apply_overrides, default_config
from simulator.noise import octave_sum, octave_sum_reference
from simulator.render import Renderer
from simulator.shading import hit_geometry
from simulator.writer import build_scene


@pytest.mark.parametrize(
    ("scale_m", "first", "count", "gain"),
    [(4.0, 3, 3, 0.65), (24.0, 0, 2, 0.5), (1.5, 0, 4, 0.5), (0.25, 0, 1, 0.5)],
)
def test_compiled_noise_is_bit_identical_to_numpy(
    scale_m: float, first: int, count: int, gain: float
) -> None:
    rng = np.random.default_rng(7)
    points = np.concatenate(
        [
            rng.uniform(-3000.0, 3000.0, (4000, 3)),  # negative lattice coordinates too
            rng.normal(0.0, 2.0, (4000, 3)),
            [[0.0, 0.0, 0.0], [-0.5, 1e6, -1e-300]],
        ]
    )
    for seed in (0, 12345, 2**31 - 2):
        fast, norm = octave_sum(points, seed, scale_m=scale_m, first=first, count=count, gain=gain)
        slow = octave_sum_reference(
            points, seed, scale_m=scale_m, first=first, count=count, gain=gain
        )
        assert fast.tobytes() == slow.tobytes()
        assert norm == sum(gain**k for k in range(first, first + count))
    grid = points[:6].reshape(2, 3, 3)  # any leading shape
    fast, _ = octave_sum(grid, 3, scale_m=scale_m, first=first, count=count, gain=gain)
    assert fast.shape == (2, 3)


def test_hit_kernel_matches_the_scene_interpolation() -> None:
    """Zones and coarse texture from the compiled hit kernel equal the scene's numpy
    interpolation (Scene.interpolate / zones_from_fields) at every hit."""
    config = apply_overrides(default_config("drift"), {"camera": {"width": 160, "height": 120}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    origin = scene.default_waypoints[1]
    rays = renderer.camera.image_rays.reshape(-1, 3)
    for yaw in (0.0, 1.3, 2.9):
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, 0.0, s], [s, 0.0, -c], [0.0, 1.0, 0.0]])  # optical z level
        dirs = rays @ rot.T
        hits = scene.cast(np.broadcast_to(origin, dirs.shape).copy(), dirs)
        rows = np.flatnonzero(np.isfinite(hits["t_hit"]))
        assert rows.size > 0.9 * len(dirs)
        got = hit_geometry(scene, origin, dirs, hits, rows)
        prim = hits["primitive_ids"][rows]
        fields = scene.interpolate(prim, hits["primitive_uvs"][rows])
        n_rules = len(scene.score_zones)
        assert np.array_equal(got.zone, scene.zones_from_fields(fields, prim))
        assert got.coarse.tobytes() == fields[:, n_rules].astype(np.float64).tobytes()
        assert got.tone.tobytes() == fields[:, n_rules + 1].astype(np.float64).tobytes()
        points = origin + dirs[rows] * hits["t_hit"][rows].astype(np.float64)[:, None]
        assert got.points.tobytes() == points.tobytes()
        assert np.all(np.einsum("ij,ij->i", got.normals, dirs[rows]) <= 0.0)  # face the camera
