"""Writers of the products: LAZ clouds with the CRS, cameras CSV, COLMAP model, meshes.

Interim: LAZ and meshes are written here with laspy/trimesh until ``mapping/products.py``
lands on main; then these delegate to it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.atomic import atomic_path, write_text_atomic

F64 = npt.NDArray[np.float64]


def write_laz(path: Path, points_crs: F64, rgb: npt.NDArray[np.uint8] | None,
              epsg: int | None) -> Path:
    """A LAZ point cloud (1 mm scale) with the CRS as a WKT VLR when known."""
    import laspy

    header = laspy.LasHeader(point_format=7 if rgb is not None else 6, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.floor(points_crs.min(axis=0)) if len(points_crs) else np.zeros(3)
    if epsg:
        import pyproj

        header.add_crs(pyproj.CRS.from_epsg(epsg))
    las = laspy.LasData(header)
    las.x, las.y, las.z = points_crs[:, 0], points_crs[:, 1], points_crs[:, 2]
    if rgb is not None:
        las.red, las.green, las.blue = (rgb[:, i].astype(np.uint16) * 257 for i in range(3))
    with atomic_path(path, overwrite=True) as tmp:
        las.write(str(tmp), laz_backend=laspy.LazBackend.Lazrs)
    return path


def write_cameras_csv(path: Path, rec: Any, origin: F64, georef: dict[str, Any]) -> Path:
    """One row per registered image: centre in the CRS, rotation (world from camera) as a
    quaternion w x y z, GPS residual when the image had GPS."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "easting_m", "northing_m", "height_m", "qw", "qx", "qy", "qz",
                     "gps_residual_e_m", "gps_residual_n_m", "gps_residual_u_m"])
    cameras = georef.get("cameras", {})
    for image in sorted(rec.images.values(), key=lambda i: i.name):
        if not image.has_pose:
            continue
        centre = np.asarray(image.projection_center()) + origin
        x, y, z, w = np.asarray(image.cam_from_world().rotation.inverse().quat)
        residual = cameras.get(image.name, {}).get("gps_residual_m", ["", "", ""])
        writer.writerow([image.name, *(f"{v:.3f}" for v in centre),
                         *(f"{v:.8f}" for v in (w, x, y, z)),
                         *(f"{v:.3f}" if v != "" else "" for v in residual)])
    return write_text_atomic(path, buffer.getvalue())


def write_colmap_model(path: Path, rec: Any, origin: F64) -> Path:
    """The COLMAP model (text) with coordinates in the product CRS (origin added back)."""
    import pycolmap

    copy = pycolmap.Reconstruction(rec)
    copy.transform(pycolmap.Sim3d(1.0, pycolmap.Rotation3d(), np.asarray(origin, dtype=float)))
    with atomic_path(path, overwrite=True) as tmp:
        tmp.mkdir()
        copy.write_text(str(tmp))
    return path


def write_mesh(ply: Path, glb: Path, vertices_crs: F64, faces: npt.NDArray[np.int64],
               rgb: npt.NDArray[np.uint8], origin: F64) -> None:
    """Coloured mesh: PLY in CRS coordinates; GLB (float32) relative to ``origin`` (glTF
    has no CRS; the offset is in the GLB's ``extras`` and the report)."""
    import trimesh

    colours = np.column_stack([rgb, np.full(len(rgb), 255, dtype=np.uint8)])
    mesh = trimesh.Trimesh(vertices=vertices_crs, faces=faces, vertex_colors=colours,
                           process=False)
    with atomic_path(ply, overwrite=True) as tmp:
        mesh.export(str(tmp), file_type="ply")
    local = trimesh.Trimesh(vertices=vertices_crs - origin, faces=faces, vertex_colors=colours,
                            process=False)
    local.metadata["extras"] = {"crs_offset_m": [float(v) for v in origin]}
    scene = trimesh.Scene(local)
    scene.metadata["extras"] = {"crs_offset_m": [float(v) for v in origin]}
    with atomic_path(glb, overwrite=True) as tmp:
        tmp.write_bytes(scene.export(file_type="glb"))
