"""Fixed lamps in the drift (simulator/drift_lamps.py) and Scene.is_inside.

The lamps are geometry (housings in depth, at the configured spacing and over the
junction) and light (a wall near a lamp is brighter than with the lamps off, and less so
farther away; the housings saturate); the build is deterministic, and the lamps off give
the drift of before the lamps byte for byte (hash pinned from main 63372fb).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from simulator.config import SimConfig, apply_overrides, default_config
from simulator.drift_lamps import (
    EMITTER_BELOW_M,
    HANG_M,
    HOUSING_M,
    WALL_GAP_M,
    WALL_LAMP_HEIGHT_M,
    lamp_irradiance,
    lamp_rgb,
    lamp_stations,
    place_lamps,
)
from simulator.mesh import Mesh
from simulator.render import Renderer
from simulator.scene import Scene
from simulator.scene_drift import DriftLayout
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.trajectory import Path
from simulator.writer import build_scene

F64Array = npt.NDArray[np.float64]

LAMPS_OFF_REFERENCE = pathlib.Path(__file__).parent / "data" / "drift_lamps_off_reference.npz"
"""The lamps-off frame of :func:`drift_frame` (colour, depth, 8x8-block mean spectra of the
cube), whose exact digest equalled the render of main 63372fb (before the lamps) on the
AMD machines; this copy was made on the Intel machine of 2026-12-07, where the same code
gives other last bits (not OpenBLAS's kernel: the frame is identical under Haswell,
Prescott and SkylakeX core types; the CPU's own vector paths). Hence a tolerance, not a
hash. The mesh is left out: its vertex count depends on OpenBLAS's kernel (77 of 225k
vertices), so only its growth with the lamps is checked."""


def drift_frame(overrides: dict[str, Any]) -> tuple[dict[str, npt.NDArray[Any]], Mesh]:
    """A 320x240 drift frame (colour, depth) and its hyperspectral cube, and the scene's
    mesh: what the lamps must leave alone when they are off."""
    base: dict[str, Any] = {"camera": {"width": 320, "height": 240}}
    config = apply_overrides(default_config("drift"), base | overrides)
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    pose = traj.matrices(np.array([0.37 * traj.duration_s]))[0]
    frame = renderer.render(pose @ rig.base_from_optical, 0)
    cube = renderer.render_hsi(pose @ rig.base_from_hsi, 0).cube
    return {"rgb": frame.rgb, "depth": frame.depth_image, "cube": cube}, scene.mesh


def digest(arrays: dict[str, npt.NDArray[Any]]) -> str:
    sha = hashlib.sha256()
    for array in arrays.values():
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def block_means(cube: npt.NDArray[Any], block: int = 8) -> npt.NDArray[np.float32]:
    rows, cols, bands = cube.shape
    shaped = cube.reshape(rows // block, block, cols // block, block, bands)
    return shaped.mean(axis=(1, 3)).astype(np.float32)


def assert_close_to_reference(arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Within what another CPU changes (a few edge pixels by a few DN or mm), far below
    what any change of the scene, light or sensor model does (most pixels move)."""
    ref = np.load(LAMPS_OFF_REFERENCE)
    rgb = np.abs(arrays["rgb"].astype(np.int16) - ref["rgb"].astype(np.int16))
    assert (rgb <= 2).mean() >= 0.995 and rgb.mean() < 0.2, (rgb.mean(), (rgb <= 2).mean())
    depth = np.abs(arrays["depth"].astype(np.int32) - ref["depth"].astype(np.int32))
    assert (depth <= 2).mean() >= 0.995, (depth <= 2).mean()
    spectra = block_means(arrays["cube"])
    relative = np.abs(spectra - ref["cube_blocks"]) / np.maximum(np.abs(ref["cube_blocks"]), 1e-6)
    assert np.percentile(relative, 99) < 0.01, np.percentile(relative, 99)


@pytest.fixture(scope="module")
def lit() -> tuple[SimConfig, Scene, Renderer]:
    config = default_config("drift")
    assert config.drift.fixed_lamps  # on by default
    scene = build_scene(config)
    return config, scene, Renderer(scene, config)


@pytest.fixture(scope="module")
def unlit() -> tuple[SimConfig, Scene, Renderer]:
    config = apply_overrides(default_config("drift"), {"drift": {"fixed_lamps": False}})
    scene = build_scene(config)
    return config, scene, Renderer(scene, config)


def camera_at(config: SimConfig, along_m: float, height_m: float = 1.5) -> F64Array:
    """world_from_optical of a camera on the main drift's centre-line, looking along it."""
    layout = DriftLayout.of(config.drift)
    centre, tangent, left, up = (a[0] for a in layout.main_path.frames(np.array([along_m])))
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = -left, -up, tangent
    pose[:3, 3] = centre + up * height_m
    return pose


def hit_points(renderer: Renderer, pose: F64Array, depth_m: npt.NDArray[np.float32]) -> F64Array:
    rays = renderer.camera.image_rays.reshape(-1, 3) * depth_m.reshape(-1, 1)
    return np.asarray(rays @ pose[:3, :3].T + pose[:3, 3])


def test_lamps_hang_at_the_configured_spacing_and_are_in_depth(
    lit: tuple[SimConfig, Scene, Renderer], unlit: tuple[SimConfig, Scene, Renderer]
) -> None:
    config, scene, _ = lit
    d = config.drift
    along = np.array(scene.parameters["fixed_lamps_along_m"])
    assert scene.parameters["fixed_lamps"] == len(along) == 12
    regular = along[np.abs(along - d.junction_at_m) > 1e-9]
    assert np.allclose(
        regular,
        d.fixed_lamp_spacing_m / 2
        + d.fixed_lamp_spacing_m
        * np.round((regular - d.fixed_lamp_spacing_m / 2) / d.fixed_lamp_spacing_m),
    )
    assert np.allclose(np.diff(regular)[np.diff(regular) < 15.0], d.fixed_lamp_spacing_m)
    assert np.any(np.isclose(along, d.junction_at_m))  # one over the junction
    # another spacing moves them
    other = apply_overrides(config, {"drift": {"fixed_lamp_spacing_m": 7.0}}).drift
    s7 = lamp_stations(other, DriftLayout.of(other))
    assert np.allclose(s7[s7 != other.junction_at_m][:4], [3.5, 10.5, 17.5, 24.5])
    # on the right-hand wall instead: 2.7 m up, off the wall, the bracket into the rock
    wall = apply_overrides(config, {"drift": {"fixed_lamp_mount": "wall"}}).drift
    layout = DriftLayout.of(wall)
    lamps = place_lamps(wall, layout)
    centre, _, left, up = layout.main_path.frames(lamps.along_m)
    lateral = np.einsum("ij,ij->i", lamps.emitters_enu_m - centre, left)
    height = np.einsum("ij,ij->i", lamps.emitters_enu_m - centre, up)
    hw = wall.width_m / 2.0
    assert np.allclose(lateral, -(hw - WALL_GAP_M - HOUSING_M[1] / 2.0))
    assert np.allclose(height, WALL_LAMP_HEIGHT_M - HOUSING_M[2] / 2.0 - EMITTER_BELOW_M)
    reach = (lamps.mesh.vertices - centre[0]) @ left[0]
    assert reach.min() < -hw - wall.roughness_m  # buried past the roughest rock
    # in depth: a ray up from 1.5 m under each light stops at the housing's bottom
    assert scene.lamp_emitters is not None
    origins = scene.lamp_emitters - [0.0, 0.0, 1.5]
    up = np.tile([0.0, 0.0, 1.0], (len(origins), 1))
    t = scene.cast(origins, up)["t_hit"].astype(np.float64)
    assert np.allclose(t, 1.5 + EMITTER_BELOW_M, atol=0.005)
    t_off = unlit[1].cast(origins, up)["t_hit"].astype(np.float64)
    assert np.all(t_off > t + HOUSING_M[2] + 0.1)  # the crown's rock, above the fitting


def test_lamp_light_brightens_the_wall_near_a_lamp_and_falls_off(
    lit: tuple[SimConfig, Scene, Renderer], unlit: tuple[SimConfig, Scene, Renderer]
) -> None:
    cv2 = pytest.importorskip("cv2")
    config, scene, renderer = lit
    lamp_s = 15.0  # a regular lamp on the first leg
    assert scene.lamp_emitters is not None
    emitter = scene.lamp_emitters[
        int(np.argmin(np.abs(np.array(scene.parameters["fixed_lamps_along_m"]) - lamp_s)))
    ]
    pose = camera_at(config, lamp_s - 3.0)
    on = renderer.render(pose, 0)
    off = unlit[2].render(pose, 0)
    points = hit_points(renderer, pose, on.depth_true_m)
    dist = np.linalg.norm(points - emitter, axis=1)
    grey_on = cv2.cvtColor(on.rgb, cv2.COLOR_RGB2GRAY).ravel().astype(np.float64)
    grey_off = cv2.cvtColor(off.rgb, cv2.COLOR_RGB2GRAY).ravel().astype(np.float64)
    lo, hi = scene.lamp_housing_faces or (0, 0)
    housing = (on.primitive_ids.ravel() >= lo) & (on.primitive_ids.ravel() < hi)
    assert housing.sum() > 20 and np.all(on.rgb.reshape(-1, 3)[housing] >= 250)  # glare
    wall = ~housing & np.isfinite(dist) & (points[:, 2] - emitter[2] < -0.5)
    near = wall & (dist < 2.5)
    assert near.sum() > 500
    gain_near = float(np.mean(grey_on[near] - grey_off[near]))
    assert gain_near > 15.0  # DN, in the 8-bit image with its noise
    # falloff: the lamps' irradiance on the right wall between 1 and 2 m up (below the
    # bolts and the cable, above the pipes; the duct shades the left wall), by distance
    dirs = renderer.camera.image_rays.reshape(-1, 3) @ pose[:3, :3].T
    hits = renderer._cast(pose[:3, 3], dirs)
    surf = renderer.surface(pose[:3, 3], pose[:3, 2], dirs, hits, np.isfinite(hits["t_hit"]))
    assert surf.lamp_light is not None
    light = np.zeros(len(dist))
    light[surf.hits.rows] = surf.lamp_light
    _, _, left, up = (a[0] for a in DriftLayout.of(config.drift).main_path.frames([lamp_s]))
    rel = points - (emitter - up * (emitter @ up))  # from the centre-line under the lamp
    d = config.drift
    emitter_height = d.wall_height_m + d.arch_rise_m - HANG_M - HOUSING_M[2] - EMITTER_BELOW_M
    height = points @ up - (emitter @ up - emitter_height)  # above the smooth floor
    right_wall = np.isfinite(dist) & (rel @ left < -1.7) & (height > 1.0) & (height < 2.0)
    bins = [(2.2, 3.0), (3.5, 4.5), (5.5, 6.5)]
    means = [float(np.mean(light[right_wall & (dist > a) & (dist < b)])) for a, b in bins]
    print("lamp light on the right wall by distance", bins, means, "near gain DN", gain_near)
    assert means[0] > 1.6 * means[1] > 1.6 * 1.6 * means[2] > 0.0  # ~cos/r² (measured 2.1, 2.4)


def test_housings_glow_with_the_lamp_spectrum(lit: tuple[SimConfig, Scene, Renderer]) -> None:
    config, scene, _ = lit
    assert config.drift.fixed_lamp_cct_k == 3000.0  # the headlamp's: one spectrum by default
    assert np.allclose(lamp_rgb(3000.0), 1.0)
    tint = lamp_rgb(5000.0)
    assert tint[1] == 1.0 and tint[0] < 1.0 < tint[2]  # bluish under a 3000 K balance
    cool = dataclasses.replace(scene, fixed_lamp_cct_k=5000.0)
    renderer = Renderer(cool, config)
    pose = camera_at(config, 12.0, height_m=1.0)
    pitch = 0.44  # up 25°, toward the lamp at 15 m
    c, s = np.cos(pitch), np.sin(pitch)
    pose = pose @ np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])
    cube = renderer.render_hsi(pose, 0).cube.reshape(-1, len(renderer.wavelengths_nm))
    brightest = cube[int(np.argmax(cube.sum(axis=1)))].astype(np.float64)
    lamp = lamp_irradiance(renderer.wavelengths_nm, 5000.0)
    assert renderer.lamp_irradiance is not None
    assert np.allclose(renderer.lamp_irradiance, lamp)

    def spread(ratio: F64Array) -> float:
        return float(np.std(ratio) / np.mean(ratio))

    # the glow is the lamp's own spectrum, not the headlamp's
    assert spread(brightest / lamp) < 0.1 < spread(brightest / renderer.irradiance)


def test_lamps_are_deterministic_and_off_gives_the_drift_before_them() -> None:
    on, on_mesh = drift_frame({})
    assert digest(drift_frame({})[0]) == digest(on)
    off, off_mesh = drift_frame({"drift": {"fixed_lamps": False}})
    assert digest(off) != digest(on)
    assert_close_to_reference(off)
    with pytest.raises(AssertionError):  # the lamps' light is far outside the tolerance
        assert_close_to_reference(on)
    # the lamps add their fittings to the mesh, and only with lamps on
    assert len(on_mesh.triangles) > len(off_mesh.triangles)


def test_is_inside_holds_on_the_revisit_route_and_not_outside() -> None:
    config = apply_overrides(default_config("drift"), {"drift": {"route": "revisit"}})
    scene = build_scene(config)
    path = Path(scene.default_waypoints, scene.default_corner_radius_m)
    pos, _ = path.evaluate(np.linspace(0.0, path.length, 3000))
    assert np.all(scene.is_inside(pos))
    # the old single upward ray called the left lane at the junction outside
    import open3d as o3d

    rays = np.concatenate([pos, np.tile([0.0, 0.0, 1.0], (len(pos), 1))], axis=1)
    counts = scene.raycaster.count_intersections(o3d.core.Tensor(rays.astype(np.float32)))
    assert np.any(counts.numpy() % 2 == 0)
    for offset in ([0.0, 0.0, 6.0], [0.0, 0.0, -2.0], [0.0, 0.0, -0.5]):
        assert not np.any(scene.is_inside(pos + offset))
    layout = DriftLayout.of(config.drift)
    ends = layout.main_path.evaluate(np.array([0.0, layout.main_path.length]))
    centre, tangent = ends
    beyond = np.stack([centre[0] - 3.0 * tangent[0], centre[1] + 3.0 * tangent[1]])
    beyond[:, 2] += 1.5
    assert not np.any(scene.is_inside(beyond))
