"""Writers of the products: LAZ clouds with the CRS, cameras CSV, COLMAP model, meshes.

Clouds and meshes go through :mod:`mapping.products` (one writer for the whole stack).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mapping.products import ProductFrame, write_cloud_laz, write_mesh
from smartmine.atomic import atomic_path, write_text_atomic

F64 = npt.NDArray[np.float64]


def frame_of(epsg: int | None, origin: F64) -> ProductFrame:
    """The products' frame: the CRS with the local origin, or the model's own frame."""
    o = (float(origin[0]), float(origin[1]), float(origin[2]))
    if epsg is None:
        return ProductFrame(None, "sfm model frame (not georeferenced)", o)
    return ProductFrame(epsg, "", o)


def write_laz(
    path: Path, points_local: F64, rgb: npt.NDArray[np.uint8] | None, frame: ProductFrame
) -> Path:
    """A LAZ cloud in the CRS (millimetre scale, CRS in the header)."""
    return write_cloud_laz(path, points_local, rgb, frame=frame)


def write_cameras_csv(path: Path, rec: Any, origin: F64, georef: dict[str, Any]) -> Path:
    """One row per registered image: centre in the CRS, rotation (world from camera) as a
    quaternion w x y z, GPS residual when the image had GPS."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "image",
            "easting_m",
            "northing_m",
            "height_m",
            "qw",
            "qx",
            "qy",
            "qz",
            "gps_residual_e_m",
            "gps_residual_n_m",
            "gps_residual_u_m",
        ]
    )
    cameras = georef.get("cameras", {})
    for image in sorted(rec.images.values(), key=lambda i: i.name):
        if not image.has_pose:
            continue
        centre = np.asarray(image.projection_center()) + origin
        x, y, z, w = np.asarray(image.cam_from_world().rotation.inverse().quat)
        residual = cameras.get(image.name, {}).get("gps_residual_m", ["", "", ""])
        writer.writerow(
            [
                image.name,
                *(f"{v:.3f}" for v in centre),
                *(f"{v:.8f}" for v in (w, x, y, z)),
                *(f"{v:.3f}" if v != "" else "" for v in residual),
            ]
        )
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


def write_meshes(
    ply: Path,
    glb: Path,
    vertices_local: F64,
    faces: npt.NDArray[np.int64],
    rgb: npt.NDArray[np.uint8],
    frame: ProductFrame,
) -> None:
    """Coloured mesh as PLY and GLB; vertices relative to the frame origin (both formats
    lack a CRS field and GLB is float32: the origin goes into the GLB root node and the
    ``.crs.json`` sidecar)."""
    write_mesh(ply, vertices_local, faces, rgb, frame=frame)
    write_mesh(glb, vertices_local, faces, rgb, frame=frame)
