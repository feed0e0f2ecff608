"""Simulator rendering throughput on the open pit and the drift, beside the bare Open3D raycast.

For each scene, builds it, takes ``--frames`` poses along its built-in path and times

- peer: Open3D ``RaycastingScene.cast_rays`` alone on the same per-pixel rays (the floor
  any raycasting renderer pays);
- ours: ``Renderer.render`` (raycast, shadow rays, zone fields, texture, shading,
  markers, depth model) plus ``render_hsi`` (the hyperspectral cube), one thread;
- ours, threaded: the same frames through the writer's prefetching (``--workers``, the
  simulator's default 2), which is how ``smartmine sim`` renders.

Each is timed after one warm-up frame (which also loads the compiled kernels); frames/s
are printed with ours as a fraction of the bare raycast rate (target: at least 40 %).

    python benchmarks/sim_render.py [--scene open-pit drift] [--frames 20]
                                    [--width 640 --height 480] [--workers 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simulator.config import SCENES, SimConfig, apply_overrides, default_config
from simulator.hsi import HsiRender
from simulator.render import FrameRender, Renderer
from simulator.sensors import Rig
from simulator.trajectory import Path, Trajectory
from simulator.writer import build_scene, prefetch_frames


def bench_scene(config: SimConfig, frames: int, workers: int) -> None:
    """Print the peer's and our frames/s on ``config``'s scene."""
    import open3d as o3d

    t0 = time.perf_counter()
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    print(
        f"{config.scene}: {len(scene.mesh.triangles)} triangles, "
        f"built in {time.perf_counter() - t0:.1f} s"
    )
    rig = Rig.from_config(config)
    traj = Trajectory(
        Path(scene.default_waypoints, scene.default_corner_radius_m),
        config.path.speed_m_s,
        config.path.accel_time_s,
    )
    times = (np.arange(frames) + 0.5) * traj.duration_s / frames
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
    peer = frames / (time.perf_counter() - t0)

    renderer.render(cams[0], 0)
    renderer.render_hsi(hsis[0], 0)
    t0 = time.perf_counter()
    for i, m in enumerate(cams):
        renderer.render(m, i)
        renderer.render_hsi(hsis[i], i)
    ours = frames / (time.perf_counter() - t0)

    def work(i: int) -> tuple[FrameRender, HsiRender | None]:
        return renderer.render(cams[i], i), renderer.render_hsi(hsis[i], i)

    t0 = time.perf_counter()
    for _ in prefetch_frames(work, frames, workers):
        pass
    threaded = frames / (time.perf_counter() - t0)

    px = f"{config.camera.width}x{config.camera.height}"
    hsi = f"{config.hsi.width}x{config.hsi.height}x{config.hsi.bands}"
    print(f"  frames: {frames} at {px}, HSI {hsi} every frame")
    print(f"  peer Open3D cast_rays only           : {peer:7.1f} frames/s")
    print(f"  ours render + render_hsi, 1 thread   : {ours:7.1f} frames/s ({ours / peer:.0%})")
    print(
        f"  ours render + render_hsi, {workers} workers  : {threaded:7.1f} frames/s "
        f"({threaded / peer:.0%} of the bare raycast)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", nargs="+", choices=SCENES, default=list(SCENES))
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for kind in args.scene:
        camera = {"width": args.width, "height": args.height}
        config = apply_overrides(default_config(kind), {"camera": camera})
        bench_scene(config, args.frames, args.workers)


if __name__ == "__main__":
    main()
