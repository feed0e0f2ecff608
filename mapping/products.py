"""Point-cloud and mesh products in open formats, with their CRS stated.

One writer for each format, shared by SfM and SLAM, so every cloud and mesh the stack
publishes is read back the same way by laspy, Open3D, trimesh and pygltflib:

- LAZ / LAS 1.4 (point format 6, or 7 with colour): millimetre scale, offsets at the
  cloud's minimum, the CRS as an OGC WKT VLR in the header (``laspy`` ``header.parse_crs()``
  reads it back); a cloud in a local frame carries no CRS and says so in the sidecar;
- PLY clouds (binary, Open3D) and PLY / GLB meshes (trimesh). Neither format has a CRS
  field, and GLB stores float32 vertices (0.5 m steps at UTM northings), so vertices are
  written relative to an ``origin`` that goes into the GLB root node's translation and,
  for every format, into ``<file>.crs.json`` beside the product.

Writes are atomic (temporary name, then rename).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.errors import SmartmineError
from smartmine.geodesy import CrsInput, MineGrid, describe_crs, to_pyproj_crs

__all__ = [
    "MineGridTie",
    "ProductError",
    "ProductFrame",
    "read_frame",
    "write_cloud_laz",
    "write_cloud_ply",
    "write_mesh",
]

LAS_SCALE_M: Final = 0.001
"""LAS coordinate resolution: 1 mm, finer than any survey sensor here."""
SIDECAR_SUFFIX: Final = ".crs.json"

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]


class ProductError(SmartmineError):
    """Arrays handed to a product writer are malformed (shape, NaN, colour range)."""


@dataclass(frozen=True)
class ProductFrame:
    """Where a product's coordinates live: a CRS (EPSG/WKT), a mine grid tied to a CRS,
    or a named local frame.

    ``origin`` is added to the stored coordinates to get coordinates in ``crs`` (or the
    local frame); it is zero for LAZ, which has its own offsets.
    """

    crs: CrsInput | None = None
    local_frame: str = ""
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # -- slamacc (issue 19): a mine grid's tie to a CRS ---------------------------------
    mine_grid: MineGridTie | None = None
    """Coordinates in a mine grid (``local_frame`` names it) that ``mine_grid`` ties to a
    CRS; the sidecar then says ``kind: mine_grid`` with the 4x4 grid-to-CRS transform."""

    @property
    def kind(self) -> str:
        """``crs``, ``mine_grid`` or ``local``: what the sidecar's ``kind`` says."""
        if self.crs is not None:
            return "crs"
        return "mine_grid" if self.mine_grid is not None else "local"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (the sidecar)."""
        if self.mine_grid is not None and self.crs is None:
            return {
                "kind": "mine_grid",
                "local_frame": self.local_frame or self.mine_grid.name,
                "grid_name": self.mine_grid.name,
                "epsg": self.mine_grid.epsg,
                "to_crs": self.mine_grid.to_crs,
                "transform_4x4": [list(row) for row in self.mine_grid.transform_4x4],
                "note": "mine-grid coordinates; transform_4x4 takes them (homogeneous, "
                "after adding origin) to to_crs",
                "origin": list(self.origin),
                "up_axis": "z",
            }
        if self.crs is None:
            return {
                "kind": "local",
                "crs": None,
                "local_frame": self.local_frame or "local",
                "note": "not georeferenced: coordinates in a local frame",
                "origin": list(self.origin),
            }
        return {
            "kind": "crs",
            "crs": self.crs if isinstance(self.crs, int) else str(self.crs),
            "crs_name": describe_crs(self.crs),
            "crs_wkt": to_pyproj_crs(self.crs).to_wkt(),
            "origin": list(self.origin),
            "up_axis": "z",
        }


@dataclass(frozen=True)
class MineGridTie:
    """A mine grid's tie to a CRS as products state it (slamacc, issue 19)."""

    name: str
    to_crs: str
    """The CRS the transform goes to (``EPSG:32644`` or WKT)."""
    transform_4x4: tuple[tuple[float, ...], ...]
    """Homogeneous grid coordinates to ``to_crs`` coordinates."""
    epsg: int | None = None

    @classmethod
    def of(cls, grid: MineGrid, name: str = "") -> MineGridTie:
        """The tie of a :class:`smartmine.geodesy.MineGrid` (which maps CRS to grid)."""
        matrix = np.linalg.inv(grid.matrix())
        epsg = grid.crs if isinstance(grid.crs, int) else None
        return cls(
            name=grid.name or name or "mine grid",
            to_crs=f"EPSG:{epsg}" if epsg is not None else str(grid.crs),
            transform_4x4=tuple(tuple(float(v) for v in row) for row in matrix),
            epsg=epsg,
        )


def _points(xyz: npt.ArrayLike, what: str = "points") -> F64:
    array = np.asarray(xyz, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ProductError(f"{what} must have shape (N, 3), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ProductError(f"{what} contain NaN or infinite coordinates")
    return array


def _colours(rgb: npt.ArrayLike | None, count: int) -> U8 | None:
    if rgb is None:
        return None
    array = np.asarray(rgb)
    if array.shape != (count, 3):
        raise ProductError(f"colours must have shape ({count}, 3), got {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255)
    return np.asarray(array, dtype=np.uint8)


def _write_sidecar(path: Path, frame: ProductFrame) -> None:
    write_text_atomic(
        path.with_name(path.name + SIDECAR_SUFFIX), json.dumps(frame.to_dict(), indent=2) + "\n"
    )


def is_complete(path: str | Path) -> bool:
    """Were the product and its sidecar both written? The sidecar comes second, so a run
    killed between the two leaves a product that a resumed run must write again."""
    path = Path(path)
    return path.exists() and path.with_name(path.name + SIDECAR_SUFFIX).exists()


def read_frame(path: str | Path) -> ProductFrame:
    """The frame a product was written in, from its sidecar."""
    sidecar = Path(path).with_name(Path(path).name + SIDECAR_SUFFIX)
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProductError(f"{sidecar}: cannot read the product's frame: {exc}") from exc
    origin = tuple(float(v) for v in data.get("origin", (0.0, 0.0, 0.0)))
    if len(origin) != 3:
        raise ProductError(f"{sidecar}: origin must have 3 values")
    tie = None
    if data.get("kind") == "mine_grid":
        try:
            matrix = np.asarray(data["transform_4x4"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ProductError(f"{sidecar}: transform_4x4 is not a 4x4 matrix") from None
        if matrix.shape != (4, 4):
            raise ProductError(f"{sidecar}: transform_4x4 is not a 4x4 matrix")
        tie = MineGridTie(
            name=str(data.get("grid_name", data.get("local_frame", "mine grid"))),
            to_crs=str(data.get("to_crs", "")),
            transform_4x4=tuple(tuple(float(v) for v in row) for row in matrix),
            epsg=data.get("epsg"),
        )
    return ProductFrame(
        crs=data.get("crs"),
        local_frame=str(data.get("local_frame", "")),
        origin=(origin[0], origin[1], origin[2]),
        mine_grid=tie,
    )


def write_cloud_laz(
    path: str | Path,
    xyz: npt.ArrayLike,
    rgb: npt.ArrayLike | None = None,
    *,
    frame: ProductFrame,
    classification: npt.ArrayLike | None = None,
) -> Path:
    """LAZ (or LAS, by suffix) 1.4 cloud; coordinates are absolute in ``frame.crs``."""
    import laspy

    points = _points(xyz) + np.asarray(frame.origin, dtype=np.float64)
    colours = _colours(rgb, points.shape[0])
    header = laspy.LasHeader(point_format=7 if colours is not None else 6, version="1.4")
    header.scales = np.full(3, LAS_SCALE_M)
    header.offsets = np.floor(points.min(axis=0)) if points.size else np.zeros(3)
    if frame.crs is not None:
        header.add_crs(to_pyproj_crs(frame.crs))
    las = laspy.LasData(header)
    las.x, las.y, las.z = points[:, 0], points[:, 1], points[:, 2]
    if colours is not None:
        wide = colours.astype(np.uint16) * 257  # LAS colour is 16 bit
        las.red, las.green, las.blue = wide[:, 0], wide[:, 1], wide[:, 2]
    if classification is not None:
        las.classification = np.asarray(classification, dtype=np.uint8)
    final = Path(path)
    with atomic_path(final, overwrite=True) as tmp:
        las.write(str(tmp))
    _write_sidecar(final, ProductFrame(frame.crs, frame.local_frame, mine_grid=frame.mine_grid))
    return final


def write_cloud_ply(
    path: str | Path,
    xyz: npt.ArrayLike,
    rgb: npt.ArrayLike | None = None,
    *,
    frame: ProductFrame,
    normals: npt.ArrayLike | None = None,
) -> Path:
    """Binary PLY cloud; stored coordinates are ``xyz`` (add ``frame.origin`` to place them)."""
    import open3d as o3d

    points = _points(xyz)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    colours = _colours(rgb, points.shape[0])
    if colours is not None:
        cloud.colors = o3d.utility.Vector3dVector(colours.astype(np.float64) / 255.0)
    if normals is not None:
        cloud.normals = o3d.utility.Vector3dVector(_points(normals, "normals"))
    final = Path(path)
    with atomic_path(final, overwrite=True) as tmp:
        tmp_ply = tmp.with_suffix(".ply")
        if not o3d.io.write_point_cloud(str(tmp_ply), cloud, write_ascii=False):
            raise ProductError(f"{final}: Open3D could not write the cloud")
        tmp_ply.replace(tmp)
    _write_sidecar(final, frame)
    return final


def write_mesh(
    path: str | Path,
    vertices: npt.ArrayLike,
    triangles: npt.ArrayLike,
    vertex_rgb: npt.ArrayLike | None = None,
    *,
    frame: ProductFrame,
) -> Path:
    """PLY or GLB (by suffix) triangle mesh; vertices relative to ``frame.origin``.

    In GLB the origin is the root node's translation, so viewers that honour node
    transforms place the mesh at its true coordinates without float32 loss.
    """
    import trimesh

    verts = _points(vertices, "vertices")
    faces = np.asarray(triangles, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ProductError(f"triangles must have shape (M, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= verts.shape[0]):
        raise ProductError("triangles index vertices that do not exist")
    colours = _colours(vertex_rgb, verts.shape[0])
    mesh = trimesh.Trimesh(
        vertices=verts,
        faces=faces,
        vertex_colors=None
        if colours is None
        else np.column_stack([colours, np.full(len(colours), 255, np.uint8)]),
        process=False,
    )
    final = Path(path)
    suffix = final.suffix.lower()
    if suffix not in (".ply", ".glb"):
        raise ProductError(f"{final}: mesh format must be .ply or .glb")
    with atomic_path(final, overwrite=True) as tmp:
        if suffix == ".glb":
            transform = np.eye(4)
            transform[:3, 3] = frame.origin
            scene = trimesh.Scene()
            scene.add_geometry(mesh, node_name="mesh", transform=transform)
            data = scene.export(file_type="glb")  # type: ignore[no-untyped-call]
        else:
            data = mesh.export(file_type="ply", encoding="binary")
        if not isinstance(data, bytes):
            raise ProductError(f"{final}: trimesh returned {type(data).__name__}, not bytes")
        tmp.write_bytes(data)
    _write_sidecar(final, frame)
    return final
