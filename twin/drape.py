"""Drape the hyperspectral maps on the 3D model: every cloud point and mesh vertex gets the
class id and contamination (heat) value of the class-map / heat-map cell under it, as
hylite's hyperspectral point clouds carry them.

- LAZ: extra bytes ``class_id`` (uint8; the class map's value: 0 unclassified, 1..N the
  classes, the map's nodata 255 where the camera never saw the cell; 0 outside the map)
  and ``heat`` (float32, contamination index 0-1; NaN where unseen or outside);
- GLB: vertex attributes ``_CLASS_ID`` (UNSIGNED_BYTE, 4-byte stride as glTF wants
  vertex data aligned) and ``_HEAT`` (FLOAT), added to the mesh's primitives with
  everything else (nodes, the origin translation, colours) kept as it was.

The drape samples the cell containing the point's easting/northing in the maps' CRS,
which must be the model's CRS. Outputs are new files, written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.errors import SmartmineError

F64 = npt.NDArray[np.float64]
CLASS_ATTRIBUTE = "_CLASS_ID"
HEAT_ATTRIBUTE = "_HEAT"
OUTSIDE_CLASS = 0
UNSIGNED_BYTE = 5121
FLOAT = 5126
ARRAY_BUFFER = 34962


class DrapeError(SmartmineError):
    """The maps and the model cannot be combined (CRS differs, unreadable file)."""


@dataclass(frozen=True)
class Maps:
    """The class map and heat map on one grid (rasterio affine, the maps' EPSG)."""

    classes: npt.NDArray[np.uint8]
    heat: npt.NDArray[np.float32]
    transform: Any
    epsg: int | None
    class_nodata: int

    @classmethod
    def read(cls, class_map: Path, heat_map: Path) -> Maps:
        import rasterio

        with rasterio.open(class_map) as c, rasterio.open(heat_map) as h:
            if c.transform != h.transform or c.shape != h.shape:
                raise DrapeError(f"{heat_map}: not on the grid of {class_map}")
            classes = c.read(1)
            if classes.dtype != np.uint8:
                raise DrapeError(f"{class_map}: {classes.dtype} classes; the drape takes uint8")
            return cls(
                classes=classes,
                heat=h.read(1).astype(np.float32),
                transform=c.transform,
                epsg=c.crs.to_epsg() if c.crs else None,
                class_nodata=int(c.nodata) if c.nodata is not None else 255,
            )

    def sample(self, east: F64, north: F64) -> tuple[npt.NDArray[np.uint8], Any, Any]:
        """(class id, heat, inside the map) of the cells holding the points."""
        inverse = ~self.transform
        col = np.floor(inverse.a * east + inverse.b * north + inverse.c).astype(np.int64)
        row = np.floor(inverse.d * east + inverse.e * north + inverse.f).astype(np.int64)
        rows, cols = self.classes.shape
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols)
        class_id = np.full(east.shape, OUTSIDE_CLASS, np.uint8)
        heat = np.full(east.shape, np.nan, np.float32)
        class_id[inside] = self.classes[row[inside], col[inside]]
        heat[inside] = self.heat[row[inside], col[inside]]
        return class_id, heat, inside


@dataclass(frozen=True)
class DrapeCount:
    """How many points/vertices the maps covered (the report states the rest)."""

    total: int
    outside: int
    not_seen: int

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "outside_map": self.outside, "not_seen": self.not_seen}


def _check_crs(maps: Maps, epsg: int | None, what: Path) -> None:
    if maps.epsg is None or epsg != maps.epsg:
        raise DrapeError(
            f"{what}: in {f'EPSG:{epsg}' if epsg else 'no CRS'}, the class map in "
            f"{f'EPSG:{maps.epsg}' if maps.epsg else 'no CRS'}; cannot drape"
        )


def _count(maps: Maps, class_id: npt.NDArray[np.uint8], inside: Any) -> DrapeCount:
    unseen = int(np.count_nonzero(inside & (class_id == maps.class_nodata)))
    return DrapeCount(len(class_id), int(np.count_nonzero(~inside)), unseen)


def drape_laz(source: Path, maps: Maps, out: Path) -> DrapeCount:
    """``source`` with ``class_id`` and ``heat`` extra bytes, written to ``out``."""
    import laspy

    las = laspy.read(str(source))
    crs = las.header.parse_crs()
    _check_crs(maps, crs.to_epsg() if crs is not None else None, source)
    class_id, heat, inside = maps.sample(np.asarray(las.x), np.asarray(las.y))
    las.add_extra_dims(
        [
            laspy.ExtraBytesParams(
                "class_id", "uint8", "HSI class; 255 not seen", no_data=[maps.class_nodata]
            ),
            laspy.ExtraBytesParams("heat", "float32", "contamination index 0-1"),
        ]
    )
    las.class_id = class_id
    las.heat = heat
    with atomic_path(out, overwrite=True) as tmp:
        las.write(str(tmp), do_compress=out.suffix.lower() == ".laz")
    _copy_sidecar(source, out)
    return _count(maps, class_id, inside)


def _copy_sidecar(source: Path, out: Path) -> None:
    """The product's frame sidecar (mapping.products) goes with the draped copy."""
    sidecar = source.with_name(source.name + ".crs.json")
    if sidecar.exists():
        write_text_atomic(out.with_name(out.name + ".crs.json"), sidecar.read_text())


def _node_matrices(gltf: Any) -> dict[int, F64]:
    """World matrix of every mesh index (the first node that draws it)."""
    import pygltflib

    def local(node: pygltflib.Node) -> F64:
        if node.matrix:
            return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # column-major
        m = np.eye(4)
        if node.scale:
            m = m @ np.diag([*node.scale, 1.0])
        if node.rotation:
            from smartmine.geometry import quat_to_matrix

            r = np.eye(4)
            r[:3, :3] = quat_to_matrix(node.rotation)  # glTF: x, y, z, w
            m = r @ m
        if node.translation:
            m[:3, 3] += node.translation
        return m

    found: dict[int, F64] = {}

    def walk(index: int, parent: F64) -> None:
        node = gltf.nodes[index]
        world = parent @ local(node)
        if node.mesh is not None and node.mesh not in found:
            found[node.mesh] = world
        for child in node.children or []:
            walk(child, world)

    scene = gltf.scenes[gltf.scene or 0]
    for root in scene.nodes or []:
        walk(root, np.eye(4))
    return found


def _read_positions(gltf: Any, blob: bytes, accessor_index: int) -> F64:
    accessor = gltf.accessors[accessor_index]
    view = gltf.bufferViews[accessor.bufferView]
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    stride = view.byteStride or 12
    raw = np.frombuffer(blob, np.uint8, count=stride * accessor.count, offset=start)
    rows = raw.reshape(accessor.count, stride)[:, :12]
    return np.ascontiguousarray(rows).view(np.float32).reshape(-1, 3).astype(np.float64)


def _append(gltf: Any, blob: bytearray, data: bytes, stride: int | None) -> int:
    """A new 4-byte aligned buffer view over ``data``; returns its index."""
    import pygltflib

    blob.extend(b"\0" * (-len(blob) % 4))
    gltf.bufferViews.append(
        pygltflib.BufferView(
            buffer=0,
            byteOffset=len(blob),
            byteLength=len(data),
            byteStride=stride,
            target=ARRAY_BUFFER,
        )
    )
    blob.extend(data)
    return len(gltf.bufferViews) - 1


def drape_glb(source: Path, maps: Maps, out: Path, epsg: int | None) -> DrapeCount:
    """``source`` with ``_CLASS_ID`` and ``_HEAT`` on every primitive's vertices; vertices
    are placed by their nodes' transforms (the origin translation of mapping.products)."""
    import pygltflib

    _check_crs(maps, epsg, source)
    gltf = pygltflib.GLTF2().load_binary(str(source))
    blob = bytearray(gltf.binary_blob() or b"")
    world_of = _node_matrices(gltf)
    totals = DrapeCount(0, 0, 0)
    for mesh_index, mesh in enumerate(gltf.meshes):
        world = world_of.get(mesh_index, np.eye(4))
        for primitive in mesh.primitives:
            local = _read_positions(gltf, bytes(blob), primitive.attributes.POSITION)
            xyz = local @ world[:3, :3].T + world[:3, 3]
            class_id, heat, inside = maps.sample(xyz[:, 0], xyz[:, 1])
            padded = np.zeros((len(class_id), 4), np.uint8)
            padded[:, 0] = class_id
            class_view = _append(gltf, blob, padded.tobytes(), 4)
            heat_view = _append(gltf, blob, heat.astype("<f4").tobytes(), None)
            for view, ctype in ((class_view, UNSIGNED_BYTE), (heat_view, FLOAT)):
                gltf.accessors.append(
                    pygltflib.Accessor(
                        bufferView=view, componentType=ctype, count=len(class_id), type="SCALAR"
                    )
                )
            setattr(primitive.attributes, CLASS_ATTRIBUTE, len(gltf.accessors) - 2)
            setattr(primitive.attributes, HEAT_ATTRIBUTE, len(gltf.accessors) - 1)
            count = _count(maps, class_id, inside)
            totals = DrapeCount(
                totals.total + count.total,
                totals.outside + count.outside,
                totals.not_seen + count.not_seen,
            )
    gltf.buffers[0].byteLength = len(blob)
    gltf.set_binary_blob(bytes(blob))
    with atomic_path(out, overwrite=True) as tmp:
        gltf.save_binary(str(tmp))
    _copy_sidecar(source, out)
    return totals


def read_glb_attribute(path: Path, name: str) -> npt.NDArray[Any]:
    """One custom vertex attribute of every primitive, concatenated (for checks)."""
    import pygltflib

    gltf = pygltflib.GLTF2().load_binary(str(path))
    blob = gltf.binary_blob() or b""
    parts = []
    for mesh in gltf.meshes:
        for primitive in mesh.primitives:
            accessor = gltf.accessors[getattr(primitive.attributes, name)]
            view = gltf.bufferViews[accessor.bufferView]
            dtype = np.uint8 if accessor.componentType == UNSIGNED_BYTE else np.dtype("<f4")
            size = np.dtype(dtype).itemsize
            stride = view.byteStride or size
            start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
            raw = np.frombuffer(blob, np.uint8, count=stride * accessor.count, offset=start)
            rows = np.ascontiguousarray(raw.reshape(accessor.count, stride)[:, :size])
            parts.append(rows.view(dtype).reshape(-1))
    return np.concatenate(parts) if parts else np.zeros(0)


def write_drape_summary(folder: Path, summary: dict[str, Any]) -> Path:
    """``drape.json``: written last, so a folder holding it is a finished drape."""
    return write_text_atomic(folder / "drape.json", json.dumps(summary, indent=2) + "\n")
