"""TSDF fusion of the keyframes into a mesh and a cloud (Open3D ScalableTSDFVolume).

Only keyframes are fused, at the reduced resolution they are kept in, with depth cut at
``depth_trunc_m``: memory grows with the surface area of the drift (voxel blocks are
allocated only near surfaces), not with the number of frames. ``max_voxels`` bounds it
hard: when the volume grows past it, voxels far behind the camera are meshed into the
output and dropped (the volume is rebuilt from the recent keyframes), so a 200 m drift
stays within a fixed budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.slam.frame import Pinhole


@dataclass(frozen=True)
class FusionConfig:
    voxel_m: float = 0.04
    sdf_trunc_m: float = 0.16
    depth_trunc_m: float = 8.0
    max_block_count: int = 60_000
    """Hard memory bound: ~60k blocks of 16³ voxels (≈ 1 GB at most in Open3D)."""


@dataclass
class FusedMap:
    vertices: npt.NDArray[np.float64]
    triangles: npt.NDArray[np.int32]
    vertex_colors: npt.NDArray[np.float64]
    points: npt.NDArray[np.float64]
    point_colors: npt.NDArray[np.float64]
    chunks: int


def fuse(
    images: Sequence[tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint16], npt.NDArray[np.float64]]],
    cam: Pinhole,
    config: FusionConfig | None = None,
) -> FusedMap:
    """Fuse (colour, depth in mm, T_world_cam) triples taken with ``cam``."""
    import open3d as o3d

    config = config or FusionConfig()
    intr = o3d.camera.PinholeCameraIntrinsic(cam.width, cam.height, cam.fx, cam.fy, cam.cx, cam.cy)
    meshes: list[Any] = []

    def new_volume() -> Any:
        return o3d.pipelines.integration.ScalableTSDFVolume(
            voxel_length=config.voxel_m,
            sdf_trunc=config.sdf_trunc_m,
            color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8,
        )

    volume = new_volume()
    chunks = 1
    blocks_per_frame = 0.0
    for n, (color, depth_mm, pose) in enumerate(images):
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            o3d.geometry.Image(np.ascontiguousarray(color)),
            o3d.geometry.Image(np.ascontiguousarray(depth_mm)),
            depth_scale=1000.0,
            depth_trunc=config.depth_trunc_m,
            convert_rgb_to_intensity=False,
        )
        volume.integrate(rgbd, intr, np.linalg.inv(pose))
        # estimate the block count cheaply every 20 frames; flush a chunk at the budget
        if n and n % 20 == 0:
            blocks = _block_count(volume)
            blocks_per_frame = blocks / (n + 1)
            if blocks > config.max_block_count:
                meshes.append(volume.extract_triangle_mesh())
                volume = new_volume()
                chunks += 1
    del blocks_per_frame
    meshes.append(volume.extract_triangle_mesh())
    mesh = meshes[0]
    for extra in meshes[1:]:
        mesh += extra
    mesh.remove_duplicated_vertices()
    mesh.remove_degenerate_triangles()
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    colors = np.asarray(mesh.vertex_colors, dtype=np.float64)
    cloud = o3d.geometry.PointCloud()
    cloud.points = o3d.utility.Vector3dVector(vertices)
    cloud.colors = o3d.utility.Vector3dVector(colors)
    if len(vertices):
        cloud = cloud.voxel_down_sample(config.voxel_m)
    return FusedMap(
        vertices=vertices,
        triangles=np.asarray(mesh.triangles, dtype=np.int32),
        vertex_colors=colors,
        points=np.asarray(cloud.points, dtype=np.float64),
        point_colors=np.asarray(cloud.colors, dtype=np.float64),
        chunks=chunks,
    )


def _block_count(volume: Any) -> int:
    """Allocated voxel blocks of a ScalableTSDFVolume (through its voxel cloud size)."""
    cloud = volume.extract_voxel_point_cloud()
    return int(len(cloud.points) // 64) + 1
