"""Simulator rendering throughput on the open pit, beside the bare Open3D raycast cost.

Builds the default open pit, takes ``--frames`` poses along its built-in survey and times

- peer: Open3D ``RaycastingScene.cast_rays`` alone on the same per-pixel rays (the floor
  any raycasting renderer pays);
- ours: ``Renderer.render`` (raycast, shadow rays, zone fields, texture, shading,
  markers, depth model) plus ``render_hsi`` (the hyperspectral cube), one thread;
- ours, threaded: the same frames through the writer's prefetching (``--workers``).

Each is timed after one warm-up frame; frames/s are printed with the overhead ratio.

    python benchmarks/sim_render.py [--frames 20] [--width 640 --height 480] [--workers 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simulator.config import apply_overrides, default_config
from simulator.hsi import HsiRender
from simulator.render import FrameRender, Renderer
from simulator.sensors import Rig
from simulator.trajectory import Path, Trajectory
from simulator.writer import build_scene, prefetch_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import open3d as o3d

    config = apply_overrides(
        default_config("open-pit"), {"camera": {"width": args.width, "height": args.height}}
    )
    t0 = time.perf_counter()
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    print(
        f"scene: {len(scene.mesh.triangles)} triangles, built in {time.perf_counter() - t0:.1f} s"
    )
    rig = Rig.from_config(config)
    traj = Trajectory(
        Path(scene.default_waypoints, scene.default_corner_radius_m),
        config.path.speed_m_s,
        config.path.accel_time_s,
    )
    times = (np.arange(args.frames) + 0.5) * traj.duration_s / args.frames
    cams = traj.matrices(times) @ rig.base_from_optical
    hsis = traj.matrices(times) @ rig.base_from_hsi
    rays_cam = renderer.camera.image_rays.reshape(-1, 3)
    tensors = []
    for m in cams:
        dirs = rays_cam @ m[:3, :3].T
        origins = np.broadcast_to(m[:3, 3], dirs.shape)
        rays = np.concatenate([origins, dirs], axis=1).astype(np.float32)
        tensors.append(o3d.core.Tensor(rays))

    raycaster = scene.raycaster
    raycaster.cast_rays(tensors[0])
    t0 = time.perf_counter()
    for tensor in tensors:
        raycaster.cast_rays(tensor)
    peer = time.perf_counter() - t0

    renderer.render(cams[0], 0)
    t0 = time.perf_counter()
    for i, m in enumerate(cams):
        renderer.render(m, i)
        renderer.render_hsi(hsis[i], i)
    ours = time.perf_counter() - t0

    def work(i: int) -> tuple[FrameRender, HsiRender | None]:
        return renderer.render(cams[i], i), renderer.render_hsi(hsis[i], i)

    t0 = time.perf_counter()
    for _ in prefetch_frames(work, len(cams), args.workers):
        pass
    threaded = time.perf_counter() - t0

    n = len(cams)
    px = f"{args.width}x{args.height}"
    print(f"frames: {n} at {px}, HSI {config.hsi.width}x{config.hsi.height}x{config.hsi.bands}")
    print(f"peer Open3D cast_rays only           : {n / peer:7.1f} frames/s")
    print(f"ours render + render_hsi, 1 thread   : {n / ours:7.1f} frames/s")
    print(f"ours render + render_hsi, {args.workers} workers  : {n / threaded:7.1f} frames/s")
    print(f"overhead over the bare raycast: {ours / peer:.1f}x (1 thread)")


if __name__ == "__main__":
    main()
