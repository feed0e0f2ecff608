"""The renderer's compiled kernels give bit for bit the results of the numpy statements
they replace (same seed, same bytes across the speed-up)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from simulator.camera import CameraModel
from simulator.compiled import NORMAL_TABLE, noise_key, normal_draws, uniform_draws
from simulator.config import CameraConfig, DepthConfig, apply_overrides, default_config
from simulator.noise import octave_sum, octave_sum_reference
from simulator.render import Renderer, SubpixelRayCache
from simulator.scene import Scene
from simulator.sensor_model import depth_image, sensor_rgb, srgb_encode
from simulator.shading import Hits, hit_geometry, texture, texture_reference
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


def _hit_batches(kind: str) -> tuple[Scene, list[Hits]]:
    """A scene and hit batches: a camera's view along its path, and a fan of rays at
    every marker from 2 m in front (plate, pattern and the rock around it)."""
    config = apply_overrides(default_config(kind), {"camera": {"width": 160, "height": 120}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    batches: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    origin = scene.default_waypoints[1]
    rays = renderer.camera.image_rays.reshape(-1, 3)
    for yaw in (0.4, 2.9):
        c, s = np.cos(yaw), np.sin(yaw)
        dirs = rays @ np.array([[c, 0.0, s], [s, 0.0, -c], [0.0, -0.6, 0.8]]).T
        hits = scene.cast(np.broadcast_to(origin, dirs.shape).copy(), dirs)
        batches.append((origin, dirs, hits))
    offsets = np.linspace(-1.0, 1.0, 61)
    for marker in scene.markers[:6]:
        eye = marker.centre + 2.0 * marker.normal
        a, b = np.meshgrid(offsets * marker.plate_m, offsets * marker.plate_m)
        target = marker.centre + a.reshape(-1, 1) * marker.right + b.reshape(-1, 1) * marker.down
        dirs = target - eye
        hits = scene.cast(np.broadcast_to(eye, dirs.shape).copy(), dirs)
        batches.append((eye, dirs, hits))
    out = []
    for origin, dirs, hits in batches:
        rows = np.flatnonzero(np.isfinite(hits["t_hit"]))
        out.append(hit_geometry(scene, origin, dirs, hits, rows))
    return scene, out


@pytest.mark.parametrize("kind", ["drift", "open-pit"])
def test_compiled_texture_is_bit_identical_to_numpy(kind: str) -> None:
    """Fine octaves, grain, wire mesh, fixtures and marker patterns: the compiled texture
    stage gives the numpy statements' bytes, on rock and on marker plates."""
    import copy

    scene, batches = _hit_batches(kind)
    on_marker_total = 0
    for hits in batches:
        a, b = copy.deepcopy(hits), copy.deepcopy(hits)
        got, want = texture(scene, a), texture_reference(scene, b)
        assert got[0].tobytes() == want[0].tobytes()
        assert got[1].tobytes() == want[1].tobytes()
        assert a.coarse.tobytes() == b.coarse.tobytes()
        on_marker_total += int(np.sum(scene.marker_of_face[hits.primitive_ids] >= 0))
    assert on_marker_total > 1000  # the marker batches did hit plates


def _depth_reference(z: np.ndarray, cos_view: np.ndarray, dc: DepthConfig, key: int) -> np.ndarray:
    """The depth model as plain numpy (the statement the compiled kernel replaced)."""
    zz = z.astype(np.float64)
    valid = np.isfinite(zz) & (zz >= dc.min_range_m) & (zz <= dc.max_range_m)
    valid &= cos_view >= math.cos(math.radians(dc.grazing_limit_deg))
    if dc.edge_jump_rel > 0:
        padded = np.pad(zz, 1, mode="edge")
        jump = np.zeros_like(zz)
        for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
            diff = np.abs(padded[dy : dy + zz.shape[0], dx : dx + zz.shape[1]] - zz)
            jump = np.fmax(jump, np.where(np.isfinite(diff), diff, np.inf))
        with np.errstate(invalid="ignore"):
            valid &= ~(jump > dc.edge_jump_rel * zz)
    noise = np.empty(zz.size)
    normal_draws(np.uint64(key), 0, NORMAL_TABLE, noise)
    noise = noise.reshape(zz.shape)
    uniform = np.empty(zz.size)
    uniform_draws(np.uint64(key), zz.size, uniform)
    valid &= ~(uniform.reshape(zz.shape) < dc.dropout)
    noisy = zz + noise * dc.noise_c_per_m * np.nan_to_num(zz) ** 2
    if dc.encoding == "16UC1":
        mm = np.rint(np.clip(np.nan_to_num(noisy) * 1000.0, 0, 65535))
        return np.where(valid, mm, 0).astype(np.uint16)
    return np.where(valid, noisy, np.nan).astype(np.float32)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_compiled_depth_model_is_bit_identical_to_numpy(encoding: str) -> None:
    rng = np.random.default_rng(3)
    v, u = np.mgrid[0:60, 0:80]
    z = (0.2 + 0.15 * u + 0.01 * v + rng.normal(0.0, 0.001, u.shape)).astype(np.float32)
    z[10:20, 30:50] += 3.0  # a step: depth edges; the ramp crosses the range limits
    z[rng.random(z.shape) < 0.05] = np.nan  # no hit
    z[0, :] = np.nan  # image border next to holes
    cos_view = rng.uniform(0.0, 1.0, z.shape)
    dc = DepthConfig(encoding=encoding, dropout=0.05)  # type: ignore[arg-type]
    ours = depth_image(z, cos_view, dc, 9)
    reference = _depth_reference(z, cos_view, dc, 9)
    assert ours.dtype == reference.dtype
    assert ours.tobytes() == reference.tobytes()
    assert 0 < np.count_nonzero(np.nan_to_num(ours)) < z.size  # some valid, some not


def test_counter_based_draws_are_standard_normal_and_order_free() -> None:
    from scipy import stats

    key = np.uint64(noise_key(0, 11, 3))
    out = np.empty(400_000)
    normal_draws(key, 0, NORMAL_TABLE, out)
    assert abs(out.mean()) < 0.01 and abs(out.std() - 1.0) < 0.01
    assert abs(stats.skew(out)) < 0.02 and abs(stats.kurtosis(out)) < 0.05
    assert stats.kstest(out[:50_000], "norm").pvalue > 1e-3
    assert np.abs(out).max() < 4.4  # truncated at 4.33 sigma
    tail = np.empty(1000)
    normal_draws(key, 399_000, NORMAL_TABLE, tail)  # any draw, on its own
    assert tail.tobytes() == out[399_000:].tobytes()
    other = np.empty(1000)
    normal_draws(np.uint64(noise_key(0, 11, 4)), 0, NORMAL_TABLE, other)
    assert abs(np.corrcoef(other, out[:1000])[0, 1]) < 0.15  # frames are independent
    u = np.empty(100_000)
    uniform_draws(key, 0, u)
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01


def test_sensor_rgb_is_the_srgb_curve_plus_the_drawn_noise() -> None:
    lin = np.random.default_rng(0).uniform(-0.1, 1.1, (120, 160, 3))
    cam = CameraConfig()
    ours = sensor_rgb(lin, cam, 77)
    noise = np.empty(lin.size)
    normal_draws(np.uint64(77), 0, NORMAL_TABLE, noise)
    exact = srgb_encode(lin) * 255.0 + noise.reshape(lin.shape) * cam.noise_dn
    reference = np.clip(np.rint(exact), 0, 255).astype(np.uint8)
    # the tabulated curve is within 1.3e-4 DN: a value may round the other way only
    # right at a rounding boundary
    diff = np.abs(ours.astype(int) - reference)
    assert diff.max() <= 1 and np.count_nonzero(diff) <= lin.size // 1000
    assert sensor_rgb(lin, cam, 77).tobytes() == ours.tobytes()


def test_marker_subray_cache_returns_the_camera_rays() -> None:
    cam = CameraModel.from_fov(64, 48, 65.0, [-0.12, 0.05, 0.0008, -0.0005, 0.0])
    cache = SubpixelRayCache(cam, 3)
    k_offsets = (np.arange(3) + 0.5) / 3 - 0.5
    ou, ov = (a.ravel() for a in np.meshgrid(k_offsets, k_offsets))
    for pixels in (np.array([0, 5, 64 * 48 - 1]), np.arange(100, 400, 7), np.array([5, 5])):
        v, u = np.divmod(pixels, 64)
        direct = cam.pixel_rays((u[:, None] + ou).ravel(), (v[:, None] + ov).ravel())
        assert cache.rays(pixels).tobytes() == direct.tobytes()
    small = SubpixelRayCache(cam, 3, max_bytes=1024)  # too small to keep: computed each time
    assert not small.enabled
    assert small.rays(np.array([7])).tobytes() == cache.rays(np.array([7])).tobytes()


def test_sun_shadow_map_only_skips_rays_that_are_free() -> None:
    """Every shadow ray the map lets the renderer skip is one Open3D finds unblocked, and
    the map skips a good share of them (the speed-up)."""
    import open3d as o3d

    config = apply_overrides(default_config("open-pit"), {"camera": {"width": 160, "height": 120}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    sun = scene.sun_dir_enu
    rays_cam = renderer.camera.image_rays.reshape(-1, 3)
    skipped = cast = 0
    for k, origin in enumerate(
        scene.default_waypoints[:: max(1, len(scene.default_waypoints) // 5)]
    ):
        yaw = 0.7 * k
        c, s = np.cos(yaw), np.sin(yaw)
        down = np.array([[c, -s, 0.0], [-s, -c, 0.0], [0.0, 0.0, -1.0]])  # nadir, turned
        dirs = rays_cam @ down.T
        hits = scene.cast(np.broadcast_to(origin, dirs.shape).copy(), dirs)
        geometry = hit_geometry(
            scene, origin, dirs, hits, np.flatnonzero(np.isfinite(hits["t_hit"]))
        )
        lit = np.flatnonzero(geometry.normals @ sun > 0.0)
        maybe = scene.sun_shadow_map.may_be_shadowed(geometry.points, geometry.normals, lit, 0.05)
        free = lit[~maybe]
        starts = geometry.points[free] + geometry.normals[free] * 0.05
        rays = np.concatenate([starts, np.broadcast_to(sun, starts.shape)], axis=1)
        blocked = scene.raycaster.test_occlusions(o3d.core.Tensor(rays.astype(np.float32)))
        assert not blocked.numpy().any()
        skipped += len(free)
        cast += int(maybe.sum())
    assert skipped > 0.3 * (skipped + cast)


def test_sun_shadow_map_proofs_along_the_flight() -> None:
    """Along the pit's own flight (oblique views that see the plain beyond the grid and
    the benches): no ray the map skips (coarse map, plain outside the grid, near-field
    walk) is blocked for Open3D, and it leaves few free rays to cast."""
    import open3d as o3d

    from simulator.sensors import Rig
    from simulator.trajectory import Path, Trajectory

    config = apply_overrides(default_config("open-pit"), {"camera": {"width": 160, "height": 120}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    path = Path(scene.default_waypoints, scene.default_corner_radius_m)
    traj = Trajectory(path, config.path.speed_m_s, config.path.accel_time_s)
    cams = traj.matrices((np.arange(6) + 0.5) * traj.duration_s / 6) @ rig.base_from_optical
    sun = scene.sun_dir_enu
    rays_cam = renderer.camera.image_rays.reshape(-1, 3)
    cast = blocked_total = lit_total = 0
    for cam in cams:
        dirs = rays_cam @ cam[:3, :3].T
        origin = cam[:3, 3]
        hits = scene.cast(np.broadcast_to(origin, dirs.shape).copy(), dirs)
        geometry = hit_geometry(
            scene, origin, dirs, hits, np.flatnonzero(np.isfinite(hits["t_hit"]))
        )
        lit = np.flatnonzero(geometry.normals @ sun > 0.0)
        maybe = scene.sun_shadow_map.may_be_shadowed(geometry.points, geometry.normals, lit, 0.05)
        starts = geometry.points[lit] + geometry.normals[lit] * 0.05
        rays = np.concatenate([starts, np.broadcast_to(sun, starts.shape)], axis=1)
        tensor = o3d.core.Tensor(rays.astype(np.float32))
        blocked = scene.raycaster.test_occlusions(tensor).numpy().astype(bool)
        assert not (blocked & ~maybe).any()
        cast += int(maybe.sum())
        blocked_total += int(blocked.sum())
        lit_total += len(lit)
    assert lit_total > 0 and blocked_total > 0
    assert cast < 0.3 * lit_total  # the coarse map alone left ~40 % (NOTES-simspeed4.md)


def test_adaptive_marker_antialiasing_is_the_full_supersampling() -> None:
    """Pixels whose four corner sub-rays lie in one region of a marker plate take the
    corners' mean: the rendered bytes equal full k×k supersampling but for rounding
    (≤ 1 DN, almost nowhere), pixels at cell edges are computed exactly as before, and
    far fewer sub-rays are cast."""
    from simulator import render
    from simulator.sensors import Rig
    from simulator.simulation import build_trajectory

    config = apply_overrides(default_config("drift"), {"camera": {"width": 640, "height": 480}})
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    traj = build_trajectory(config, scene)[0]
    cams = traj.matrices(np.array([0.65, 0.75, 0.85, 0.95]) * traj.duration_s)
    cams = cams @ Rig.from_config(config).base_from_optical
    cast = [0]
    colours = renderer._subray_colours

    def counted(pixels: np.ndarray, subrays: np.ndarray, *args: np.ndarray) -> object:
        cast[0] += len(pixels) * len(subrays)
        return colours(pixels, subrays, *args)

    renderer._subray_colours = counted  # type: ignore[method-assign,assignment]
    adaptive = np.stack([renderer.render(cam, i).rgb for i, cam in enumerate(cams)])
    adaptive_rays, cast[0] = cast[0], 0
    tolerance = render.UNIFORM_CORNER_TOLERANCE
    try:
        render.UNIFORM_CORNER_TOLERANCE = -1.0  # no pixel is uniform: all k² sub-rays
        full = np.stack([renderer.render(cam, i).rgb for i, cam in enumerate(cams)])
    finally:
        render.UNIFORM_CORNER_TOLERANCE = tolerance
    k = config.camera.marker_supersample
    assert cast[0] > 500 * k * k  # the frames show markers
    assert adaptive_rays < 0.75 * cast[0]
    diff = np.abs(adaptive.astype(int) - full)
    assert diff.max() <= 1
    assert np.count_nonzero(diff) <= diff.size // 100_000


def test_worker_processes_render_the_same_bytes_in_order() -> None:
    """Frames rendered ahead in forked worker processes are those of one thread, byte for
    byte and in order (every frame draws from its own stream)."""
    from simulator.simulation import Simulation
    from simulator.writer import prefetch_frames

    config = apply_overrides(
        default_config("drift"), {"camera": {"width": 160, "height": 120}, "frames": 9}
    )
    sim = Simulation.prepare(config)
    one = list(prefetch_frames(sim.render_frame, 9, workers=1))
    two = list(prefetch_frames(sim.render_frame, 9, workers=2))  # in processes
    assert len(two) == 9
    for (frame_a, hsi_a), (frame_b, hsi_b) in zip(one, two, strict=True):
        for a, b in (
            (frame_a.rgb, frame_b.rgb),
            (frame_a.depth_image, frame_b.depth_image),
            (frame_a.primitive_ids, frame_b.primitive_ids),
        ):
            assert a.tobytes() == b.tobytes()
        assert (hsi_a is None) == (hsi_b is None)
        if hsi_a is not None and hsi_b is not None:
            assert hsi_a.cube.tobytes() == hsi_b.cube.tobytes()
    assert one[0][0].rgb.tobytes() != one[1][0].rgb.tobytes()  # frames differ: order counts


def _dies_at_frame_3(i: int) -> int:
    if i == 3:
        os._exit(9)  # a worker killed mid-run (as by the OOM killer)
    return i


def test_a_dead_worker_process_is_one_clear_error() -> None:
    from simulator.errors import SimulatorError
    from simulator.threads import in_processes

    with pytest.raises(SimulatorError, match="render worker process died"):
        list(in_processes(_dies_at_frame_3, 10, 2))
    assert list(in_processes(lambda i: i * i, 6, 2)) == [0, 1, 4, 9, 16, 25]  # in order


def _arrays_of_frame(i: int) -> dict[str, object]:
    rng = np.random.default_rng(i)
    return {
        "rgb": rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        "depth": rng.random((48, 64), dtype=np.float32),
        "fortran": np.asfortranarray(rng.random((5, 7))),
        "strided": rng.random((10, 10))[::2, ::3],
        "scalar": i,
    }


@pytest.mark.parametrize("slot_bytes", [64 << 20, 1024])
def test_worker_results_come_back_whole(monkeypatch: pytest.MonkeyPatch, slot_bytes: int) -> None:
    """Arrays come back from the workers through shared slots (or, where a frame's
    arrays do not fit a slot, pickled whole) equal, writable and in order."""
    import simulator.threads as threads

    monkeypatch.setattr(threads, "SLOT_BYTES", slot_bytes)
    results = list(threads.in_processes(_arrays_of_frame, 9, 2))
    assert [r["scalar"] for r in results] == list(range(9))
    for i, got in enumerate(results):
        want = _arrays_of_frame(i)
        for key in ("rgb", "depth", "fortran", "strided"):
            a, b = got[key], want[key]
            assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
            assert a.dtype == b.dtype and a.shape == b.shape
            assert a.tobytes() == b.tobytes()
            assert a.flags.writeable
