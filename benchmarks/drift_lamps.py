"""The drift's fixed lamps: baked light (ours) against per-pixel shadow rays (exact).

Ours (:func:`simulator.shading.fixed_lamp_light`) interpolates an irradiance vector baked
at the mesh's vertices, each with a shadow ray per lamp in range. The exact reference
casts, for every pixel of ``--frames`` 640x480 frames along the drift's path, a shadow
ray to every lamp in range and sums each lamp's own clamped cosine with the same
pattern and fade. Prints the time per frame of both and the error of ours: relative to
the pixel's whole illumination (headlamp + lamps) and in the 8-bit image (same sensor
noise, so only the lamp light differs).

    python benchmarks/drift_lamps.py [--frames 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import numpy.typing as npt

from simulator import drift_lamps
from simulator.config import default_config
from simulator.render import Renderer
from simulator.scene import Scene
from simulator.sensors import Rig
from simulator.shading import Surface, linear_rgb
from simulator.simulation import build_trajectory
from simulator.writer import build_scene

F64Array = npt.NDArray[np.float64]


def exact_lamp_light(scene: Scene, surf: Surface) -> F64Array:
    """Each hit's lamp irradiance with its own shadow ray per lamp in range."""
    import open3d as o3d

    assert scene.lamp_emitters is not None
    points, normals = surf.hits.points, surf.hits.normals
    out = np.zeros(len(points))
    range_m = scene.fixed_lamp_range_m
    for emitter in scene.lamp_emitters:
        rel = emitter - points
        r = np.linalg.norm(rel, axis=1)
        near = np.flatnonzero(r < range_m)
        to_lamp = rel[near] / r[near, None]
        cos = np.einsum("ij,ij->i", normals[near], to_lamp)
        front = cos > 0.0
        near, to_lamp, cos, rn = near[front], to_lamp[front], cos[front], r[near][front]
        share = drift_lamps.LAMP_UP_SHARE
        pattern = share + (1.0 - share) * np.clip(to_lamp[:, 2], 0.0, None)
        fade = np.clip(1.0 - (rn / range_m) ** 4, 0.0, 1.0) ** 2
        amp = scene.fixed_lamp_power * pattern * fade * cos
        amp /= np.maximum(rn, drift_lamps.LAMP_MIN_RANGE_M) ** 2
        starts = points[near] + to_lamp * 0.01
        rays = np.concatenate([starts, emitter - starts], axis=1).astype(np.float32)
        blocked = scene.raycaster.test_occlusions(o3d.core.Tensor(rays), tfar=0.999).numpy()
        amp[blocked] = 0.0
        out[near] += amp
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    config = default_config("drift")
    scene = build_scene(config)
    started = time.perf_counter()
    renderer = Renderer(scene, config)  # bakes the lamps' light
    print(f"renderer ready (bake included) in {time.perf_counter() - started:.2f} s")
    assert renderer.lamps is not None and scene.lamp_housing_faces is not None
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    times = (np.arange(args.frames) + 0.5) * traj.duration_s / args.frames
    rows = []
    for i, pose in enumerate(traj.matrices(times) @ rig.base_from_optical):
        origin, rot = pose[:3, 3], pose[:3, :3]
        dirs = renderer.camera.image_rays.reshape(-1, 3) @ rot.T
        hits = renderer._cast(origin, dirs)
        t0 = time.perf_counter()
        surf = renderer.surface(origin, rot[:, 2], dirs, hits, np.isfinite(hits["t_hit"]))
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        exact = exact_lamp_light(scene, surf)
        t_exact = time.perf_counter() - t0
        assert surf.lamp_light is not None
        lo, hi = scene.lamp_housing_faces
        lit = ~((surf.hits.primitive_ids >= lo) & (surf.hits.primitive_ids < hi))
        rel = np.abs(surf.lamp_light - exact)[lit] / (surf.illumination + exact)[lit]
        images = []
        for light in (surf.lamp_light, exact):
            lin = renderer._background(len(dirs))
            linear_rgb(dataclasses.replace(surf, lamp_light=light), renderer.zone_rgb,
                       renderer.exposure, lin, renderer.lamps)  # fmt: skip
            images.append(renderer._sensor_rgb(lin, i).astype(np.int64))
        dn = np.abs(images[0] - images[1]).max(axis=1)
        rows.append([t_ours, t_exact, rel.mean(), np.percentile(rel, 95), dn.mean(),
                     np.percentile(dn, 95), np.percentile(dn, 99), np.mean(dn > 10),
                     surf.lamp_light[lit].mean() / max(exact[lit].mean(), 1e-12)])  # fmt: skip
        print(f"frame {i}: error mean {rel.mean():.1%}, {dn.mean():.2f} DN", flush=True)
    m = np.mean(rows, axis=0)
    print(f"shading per frame: ours (whole shade, baked lamps) {m[0] * 1000:.0f} ms, exact "
          f"lamp shadow rays alone {m[1] * 1000:.0f} ms")  # fmt: skip
    print(f"ours against exact: |error| / illumination mean {m[2]:.1%}, p95 {m[3]:.1%}; "
          f"8-bit image mean {m[4]:.2f} DN, p95 {m[5]:.1f}, p99 {m[6]:.1f}, "
          f"{m[7]:.2%} of pixels > 10 DN; ours/exact mean light {m[8]:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
