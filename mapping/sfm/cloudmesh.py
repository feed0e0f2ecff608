"""A mesh from a point cloud, for blocks a DSM cannot describe (facades, ground-level
photos): Poisson surface reconstruction (Open3D) on the cloud with estimated normals,
trimmed where the surface has little point support (Poisson closes the surface far
beyond the points), coloured from the nearest points."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]
MIN_POINTS = 100
"""Fewer points than this give no surface worth meshing."""
TRIM_DENSITY_QUANTILE = 0.1
MAX_POINTS = 200_000
"""Larger clouds are subsampled (seeded) first: normal orientation grows faster than
linearly, and depth-8 Poisson cannot resolve more detail anyway."""


def cloud_mesh(points: F64, colours: U8, depth: int = 8) -> tuple[F64, npt.NDArray[np.int64], U8]:
    """(vertices, triangles, RGB) of the cloud's surface; empty arrays below
    :data:`MIN_POINTS` points."""
    empty = (np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros((0, 3), np.uint8))
    if len(points) < MIN_POINTS:
        return empty
    import open3d as o3d

    if len(points) > MAX_POINTS:
        keep = np.random.default_rng(0).choice(len(points), MAX_POINTS, replace=False)
        points, colours = points[keep], colours[keep]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, float)))
    cloud.colors = o3d.utility.Vector3dVector(np.asarray(colours, float) / 255.0)
    spacing = float(np.median(cloud.compute_nearest_neighbor_distance()))
    radius = max(5.0 * spacing, 1e-6)
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius, max_nn=30))
    cloud.orient_normals_consistent_tangent_plane(15)
    # one thread: Open3D's threaded Poisson was 50x slower on a shared 2-core machine
    mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
        cloud, depth=depth, n_threads=1
    )
    density = np.asarray(densities)
    if len(density) == 0:
        return empty
    mesh.remove_vertices_by_mask(density < np.quantile(density, TRIM_DENSITY_QUANTILE))
    # and nothing further from the cloud than a few point spacings
    from scipy.spatial import cKDTree

    tree = cKDTree(np.asarray(points, float))
    distance, _ = tree.query(np.asarray(mesh.vertices))
    mesh.remove_vertices_by_mask(distance > 4.0 * radius)
    mesh.remove_unreferenced_vertices()
    vertices = np.asarray(mesh.vertices)
    faces = np.asarray(mesh.triangles, dtype=np.int64)
    _, nearest = tree.query(vertices)
    rgb = np.asarray(colours, np.uint8)[np.asarray(nearest, dtype=np.int64)]
    return vertices, faces, rgb
