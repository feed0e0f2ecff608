"""A 3D Tiles 1.1 tileset for a run's GLB mesh, placed on the Earth.

The products' GLB is z-up in the products' CRS (UTM eastings/northings, or a mine grid)
with the coordinates' origin in its node translation. 3D Tiles wants something else: tile
content in glTF's y-up convention (the runtime turns it z-up), in a local frame that the
tile's ``transform`` takes to ECEF. A projected CRS is not a local tangent frame (at the
mine, UTM 44N is turned 1.2° from true north by grid convergence and scaled by
0.9997: 3 cm over 100 m), so a single rigid transform of the product GLB would misplace
it. Each vertex is therefore taken through the CRS to the local ENU plane at the mesh's
centre (:class:`smartmine.geodesy.LocalEnu`, exact), turned y-up, and written as float32
relative to that centre (sub-millimetre over kilometres); the root transform is that
plane's ENU -> ECEF matrix. Everything else of the GLB (faces, colours, the draped
``_CLASS_ID`` / ``_HEAT`` attributes) is kept byte for byte; only positions, normals and
node transforms change.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from smartmine.errors import SmartmineError
from smartmine.geodesy import CrsInput, LocalEnu
from smartmine.geometry import quat_to_matrix

F64 = npt.NDArray[np.float64]
FLOAT: Final = 5126
"""glTF componentType of float32."""
TILESET_VERSION: Final = "1.1"
Y_UP_FROM_Z_UP: Final = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
"""(east, north, up) -> glTF (x, y, z) = (east, up, -north); 3D Tiles turns it back."""


class TilesError(SmartmineError):
    """A mesh cannot be placed as a tileset (no positions, shared meshes, bad CRS)."""


@dataclass(frozen=True)
class Placement:
    """How product coordinates reach the Earth: ``crs`` (a projected CRS), after
    ``grid_to_crs`` (a 4x4 affine matrix) when the products are in a mine grid."""

    crs: CrsInput
    grid_to_crs: tuple[tuple[float, ...], ...] | None = None

    def to_projected(self, xyz: F64) -> F64:
        """Product coordinates -> coordinates in :attr:`crs`."""
        if self.grid_to_crs is None:
            return xyz
        matrix = np.asarray(self.grid_to_crs, dtype=np.float64)
        return np.asarray(xyz @ matrix[:3, :3].T + matrix[:3, 3], dtype=np.float64)

    def to_enu(self, enu: LocalEnu, xyz: F64) -> F64:
        """Product coordinates -> the ENU plane ``enu`` (metres)."""
        p = self.to_projected(xyz)
        e, n, u = enu.from_projected(p[:, 0], p[:, 1], p[:, 2], self.crs)
        return np.column_stack([e, n, u])

    def plane_at(self, xyz: F64, near_lat_lon_deg: tuple[float, float]) -> LocalEnu:
        """The ENU plane whose origin is the product point ``xyz`` (3,); found through a
        plane at ``near_lat_lon_deg`` (any point within a few hundred kilometres)."""
        near = LocalEnu(*near_lat_lon_deg, 0.0)
        e, n, u = self.to_enu(near, xyz[None, :])[0]
        lat, lon, alt = near.to_wgs84(e, n, u)
        return LocalEnu(float(lat), float(lon), float(alt))


def _node_matrix(node: Any) -> F64:
    """A glTF node's local transform (``matrix`` is column-major, or T * R * S)."""
    if node.matrix:
        return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T
    out = np.eye(4)
    if node.scale:
        out = np.diag([*node.scale, 1.0]) @ out
    if node.rotation:
        rot = np.eye(4)
        rot[:3, :3] = quat_to_matrix(np.asarray(node.rotation, dtype=np.float64))  # x, y, z, w
        out = rot @ out
    if node.translation:
        out[:3, 3] += np.asarray(node.translation, dtype=np.float64)
    return out


def mesh_world_matrices(gltf: Any) -> dict[int, F64]:
    """Mesh index -> the world matrix of the one node that draws it."""
    found: dict[int, F64] = {}
    scene = gltf.scenes[gltf.scene or 0] if gltf.scenes else None
    roots = scene.nodes if scene is not None else range(len(gltf.nodes))
    stack = [(int(i), np.eye(4)) for i in roots]
    while stack:
        index, parent = stack.pop()
        node = gltf.nodes[index]
        world = parent @ _node_matrix(node)
        if node.mesh is not None:
            if node.mesh in found and not np.allclose(found[node.mesh], world):
                raise TilesError(f"mesh {node.mesh} is drawn by several nodes: not supported")
            found[node.mesh] = world
        stack.extend((int(c), world) for c in node.children or [])
    return found


def _view(gltf: Any, blob: bytearray, accessor_index: int) -> npt.NDArray[np.float32]:
    """A dense float32 VEC3 accessor as a writable (count, 3) view into ``blob``."""
    accessor = gltf.accessors[accessor_index]
    if accessor.componentType != FLOAT or accessor.type != "VEC3" or accessor.sparse:
        raise TilesError(f"accessor {accessor_index}: not a dense float32 VEC3")
    view = gltf.bufferViews[accessor.bufferView]
    return np.ndarray(
        shape=(accessor.count, 3),
        dtype="<f4",
        buffer=blob,
        offset=(view.byteOffset or 0) + (accessor.byteOffset or 0),
        strides=(view.byteStride or 12, 4),
    )


def _rotation_to_enu(placement: Placement, enu: LocalEnu, centre: F64) -> F64:
    """The rotation nearest to the product -> ENU map's Jacobian at ``centre`` (normals)."""
    steps = centre + np.vstack([np.zeros(3), np.eye(3)])
    mapped = placement.to_enu(enu, steps)
    jacobian = (mapped[1:] - mapped[0]).T
    u, _, vt = np.linalg.svd(jacobian)
    return np.asarray(u @ vt, dtype=np.float64)


@dataclass(frozen=True)
class Tileset:
    """What :func:`write_tileset` wrote: the tileset JSON, its content and the ENU plane."""

    tileset: Path
    content: Path
    plane: LocalEnu


def write_tileset(
    glb: Path,
    out_dir: Path,
    placement: Placement,
    near_lat_lon_deg: tuple[float, float],
    *,
    generator: str = "smartmine",
) -> Tileset:
    """``out_dir``/tileset.json with one tile whose content is ``out_dir``/mesh.glb (the
    mesh of ``glb`` in the ENU plane at its centre, y-up). ``out_dir`` must exist."""
    import pygltflib

    gltf = pygltflib.GLTF2.load(str(glb))
    blob = bytearray(gltf.binary_blob() or b"")
    worlds = mesh_world_matrices(gltf)
    positions: list[tuple[int, F64, npt.NDArray[np.float32], F64]] = []
    for mesh_index, world in sorted(worlds.items()):
        for primitive in gltf.meshes[mesh_index].primitives:
            if primitive.attributes.POSITION is None:
                continue
            rows = _view(gltf, blob, primitive.attributes.POSITION)
            product = rows.astype(np.float64) @ world[:3, :3].T + world[:3, 3]
            positions.append((primitive.attributes.POSITION, product, rows, world))
    if not positions or not sum(len(p[1]) for p in positions):
        raise TilesError(f"{glb}: the mesh has no vertices to place")
    every = np.vstack([p[1] for p in positions])
    centre = (every.min(axis=0) + every.max(axis=0)) / 2.0
    plane = placement.plane_at(centre, near_lat_lon_deg)
    rotation = _rotation_to_enu(placement, plane, centre)
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    done_normals: set[int] = set()
    for accessor_index, product, rows, world in positions:
        local = placement.to_enu(plane, product)
        lo, hi = np.minimum(lo, local.min(axis=0)), np.maximum(hi, local.max(axis=0))
        y_up = local @ Y_UP_FROM_Z_UP.T
        rows[:] = y_up
        accessor = gltf.accessors[accessor_index]
        accessor.min = [float(v) for v in y_up.astype(np.float32).min(axis=0)]
        accessor.max = [float(v) for v in y_up.astype(np.float32).max(axis=0)]
        linear = Y_UP_FROM_Z_UP @ rotation @ world[:3, :3]
        _turn_normals(gltf, blob, accessor_index, linear, done_normals)
    for node in gltf.nodes:
        node.matrix = None
        node.translation = node.rotation = node.scale = None
    gltf.set_binary_blob(bytes(blob))
    content = out_dir / "mesh.glb"
    gltf.save_binary(str(content))
    tileset = out_dir / "tileset.json"
    tileset.write_text(json.dumps(_tileset_json(plane, lo, hi, generator), indent=1) + "\n")
    return Tileset(tileset, content, plane)


def _turn_normals(
    gltf: Any, blob: bytearray, position_accessor: int, linear: F64, done: set[int]
) -> None:
    """Normals of the primitives whose POSITION is ``position_accessor``, turned as the
    positions were (inverse transpose of ``linear``), unit length again; each normal
    accessor once (``done``)."""
    normal_matrix = np.linalg.inv(linear).T
    for mesh in gltf.meshes:
        for primitive in mesh.primitives:
            normal = primitive.attributes.NORMAL
            if position_accessor != primitive.attributes.POSITION or normal in (None, *done):
                continue
            done.add(normal)
            rows = _view(gltf, blob, normal)
            turned = rows.astype(np.float64) @ normal_matrix.T
            length = np.linalg.norm(turned, axis=1, keepdims=True)
            rows[:] = turned / np.where(length > 0, length, 1.0)


def _tileset_json(plane: LocalEnu, lo: F64, hi: F64, generator: str) -> dict[str, Any]:
    centre, half = (lo + hi) / 2.0, np.maximum((hi - lo) / 2.0, 0.005)
    box = [*centre, half[0], 0.0, 0.0, 0.0, half[1], 0.0, 0.0, 0.0, half[2]]
    diagonal_m = 2.0 * float(np.linalg.norm(half))
    return {
        "asset": {"version": TILESET_VERSION, "generator": generator},
        "geometricError": round(diagonal_m, 3),
        "root": {
            "transform": [float(v) for v in plane.ecef_from_enu().T.flatten()],
            "boundingVolume": {"box": [round(float(v), 4) + 0.0 for v in box]},
            "geometricError": 0.0,
            "refine": "ADD",
            "content": {"uri": "mesh.glb"},
        },
    }


def read_root_transform(tileset: Path) -> F64:
    """The root tile's 4x4 transform (tile ENU -> ECEF) of a tileset JSON."""
    doc = json.loads(tileset.read_text(encoding="utf-8"))
    values = doc["root"].get("transform")
    if values is None or len(values) != 16 or not all(math.isfinite(v) for v in values):
        raise TilesError(f"{tileset}: root.transform is missing or not 16 finite numbers")
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T
