"""Writers of the fused map (mesh PLY/GLB, cloud PLY/LAZ).

Interim: ``mapping/products.py`` (CRS in the header) replaces these once it lands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mapping.slam.fusion import FusedMap


def write_mesh(path: Path, fused: FusedMap) -> Path:
    import trimesh

    colors = np.clip(fused.vertex_colors * 255, 0, 255).astype(np.uint8)
    mesh = trimesh.Trimesh(
        vertices=fused.vertices, faces=fused.triangles, vertex_colors=colors, process=False
    )
    mesh.export(str(path))
    return path


def write_cloud(path: Path, fused: FusedMap) -> Path:
    colors = np.clip(fused.point_colors * 255, 0, 255).astype(np.uint8)
    if path.suffix == ".laz":
        import laspy

        header = laspy.LasHeader(point_format=2, version="1.4")
        header.offsets = fused.points.min(axis=0) if len(fused.points) else np.zeros(3)
        header.scales = np.array([0.001, 0.001, 0.001])
        las = laspy.LasData(header)
        las.x, las.y, las.z = fused.points.T
        las.red, las.green, las.blue = (colors.astype(np.uint16) * 257).T
        las.write(str(path))
        return path
    import trimesh

    trimesh.PointCloud(fused.points, colors=colors).export(str(path))  # type: ignore[no-untyped-call]
    return path
