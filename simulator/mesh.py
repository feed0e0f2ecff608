"""Scene meshes: vertices, triangles and a zone id per triangle, and the zone legend.

Scenes are plain numpy arrays so they can be built procedurally, merged, written to PLY
(with the zone of every face) and handed to Open3D's raycaster without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

F64Array = npt.NDArray[np.float64]
I32Array = npt.NDArray[np.int32]
U8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Zone:
    """A class of surface: what the class raster and the face ``zone`` property hold."""

    id: int
    name: str
    spectrum: str | None
    """Name in :data:`hyperspectral.spectra.LIBRARY`; None for markers (grey targets)."""
    description: str


ZONES: Final[tuple[Zone, ...]] = (
    Zone(0, "none", None, "no surface (outside the scene)"),
    Zone(1, "granite", "granite", "host rock"),
    Zone(2, "limestone", "limestone", "limestone stratum (calcite)"),
    Zone(3, "oxidised_ore", "oxidised_ore", "oxidised ore body (goethite/hematite)"),
    Zone(4, "kaolinite", "kaolinite", "argillic alteration halo (kaolinite clay)"),
    Zone(5, "jarosite", "jarosite", "contamination: jarosite-stained ground"),
    Zone(6, "schwertmannite", "schwertmannite", "contamination: schwertmannite precipitate"),
    Zone(7, "water", "water", "seepage water"),
    Zone(8, "vegetation", "vegetation", "steppe vegetation"),
    Zone(9, "marker", None, "survey marker (ArUco target)"),
)
ZONE_IDS: Final = {z.name: z.id for z in ZONES}
MARKER_ZONE: Final = ZONE_IDS["marker"]


def zone_legend() -> dict[str, dict[str, str | None]]:
    """``{id: {name, spectrum, description}}`` for scene.json and GeoTIFF tags."""
    return {
        str(z.id): {"name": z.name, "spectrum": z.spectrum, "description": z.description}
        for z in ZONES
    }


@dataclass
class Mesh:
    """A triangle mesh in the scene's local ENU metres with one zone id per face."""

    vertices: F64Array
    triangles: I32Array
    face_zone: U8Array

    @staticmethod
    def empty() -> Mesh:
        return Mesh(np.zeros((0, 3)), np.zeros((0, 3), np.int32), np.zeros(0, np.uint8))

    def centroids(self) -> F64Array:
        return np.asarray(self.vertices[self.triangles].mean(axis=1), dtype=np.float64)

    def face_normals(self) -> F64Array:
        """Unit normals by the right-hand rule of each triangle's vertex order."""
        v = self.vertices[self.triangles]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        norm = np.linalg.norm(n, axis=1, keepdims=True)
        return np.asarray(n / np.maximum(norm, 1e-300), dtype=np.float64)

    def keep_faces(self, keep: npt.NDArray[np.bool_]) -> Mesh:
        """The mesh with only the faces in ``keep``, unused vertices dropped."""
        tris = self.triangles[keep]
        used = np.unique(tris)
        remap = np.full(len(self.vertices), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return Mesh(
            self.vertices[used].copy(),
            remap[tris].astype(np.int32),
            self.face_zone[keep].copy(),
        )


def vertex_normals(vertices: F64Array, triangles: I32Array) -> F64Array:
    """Area-weighted unit vertex normals (sign follows the faces' winding)."""
    v = vertices[triangles]
    face = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, triangles[:, k], face)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out / np.maximum(norm, 1e-300), dtype=np.float64)


def classify(scores: npt.NDArray[np.floating], zones: tuple[int, ...], base: int) -> U8Array:
    """Zone of each row of ``scores`` (N, len(zones)): the first zone, in priority order,
    whose score is positive; ``base`` where none is.

    Zones are scalar fields sampled at the vertices and interpolated across triangles,
    so their borders run smoothly through faces instead of stepping along edges.
    """
    positive = scores > 0.0
    first = np.argmax(positive, axis=1)
    any_positive = positive.any(axis=1)
    table = np.asarray(zones, dtype=np.uint8)
    return np.where(any_positive, table[first], np.uint8(base)).astype(np.uint8)


def merge(meshes: list[Mesh]) -> Mesh:
    """One mesh holding all of ``meshes`` (faces in order)."""
    offset = 0
    verts, tris, zones = [], [], []
    for m in meshes:
        verts.append(m.vertices)
        tris.append(m.triangles.astype(np.int64) + offset)
        zones.append(m.face_zone)
        offset += len(m.vertices)
    return Mesh(
        np.concatenate(verts) if verts else np.zeros((0, 3)),
        np.concatenate(tris).astype(np.int32) if tris else np.zeros((0, 3), np.int32),
        np.concatenate(zones).astype(np.uint8) if zones else np.zeros(0, np.uint8),
    )


def grid_triangles(rows: int, cols: int) -> I32Array:
    """Two triangles per cell of a rows×cols vertex grid (row-major), counter-clockwise
    seen from +z when rows run along +y and columns along +x."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    v00 = (r * cols + c).ravel()
    v01 = v00 + 1
    v10 = v00 + cols
    v11 = v10 + 1
    tris = np.concatenate([np.stack([v00, v01, v11], 1), np.stack([v00, v11, v10], 1)])
    # interleave so the two triangles of a cell are neighbours in the face list
    n = len(v00)
    out = np.empty((2 * n, 3), dtype=np.int32)
    out[0::2] = tris[:n]
    out[1::2] = tris[n:]
    return out


def write_ply(
    mesh: Mesh, path: Path, vertex_rgb: U8Array | None = None, comments: tuple[str, ...] = ()
) -> None:
    """Binary little-endian PLY: double x y z (+ uchar rgb), faces with a ``zone`` uchar.

    Written by hand (one buffer per element) so bytes are deterministic and the zone
    property survives; Open3D, trimesh, MeshLab and CloudCompare read it.
    """
    n_v, n_f = len(mesh.vertices), len(mesh.triangles)
    header = ["ply", "format binary_little_endian 1.0"]
    header += [f"comment {c}" for c in comments]
    header += [
        f"element vertex {n_v}",
        "property double x",
        "property double y",
        "property double z",
    ]
    vfields: list[tuple[str, str]] = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]
    if vertex_rgb is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
        vfields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    header += [
        f"element face {n_f}",
        "property list uchar int vertex_indices",
        "property uchar zone",
        "end_header",
    ]
    vrec = np.empty(n_v, dtype=np.dtype(vfields))
    vrec["x"], vrec["y"], vrec["z"] = mesh.vertices.T
    if vertex_rgb is not None:
        vrec["red"], vrec["green"], vrec["blue"] = vertex_rgb.T
    frec = np.empty(n_f, dtype=np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("zone", "u1")]))
    frec["n"] = 3
    frec["v"] = mesh.triangles
    frec["zone"] = mesh.face_zone
    with path.open("wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(vrec.tobytes())
        f.write(frec.tobytes())


def read_ply_zones(path: Path) -> tuple[F64Array, I32Array, U8Array]:
    """Vertices, triangles and face zones of a PLY written by :func:`write_ply`."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    n_v = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    n_f = int(next(h for h in header if h.startswith("element face")).split()[-1])
    has_rgb = "property uchar red" in header
    vfields: list[tuple[str, str]] = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")]
    if has_rgb:
        vfields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vdt = np.dtype(vfields)
    vrec = np.frombuffer(data, dtype=vdt, count=n_v, offset=end)
    fdt = np.dtype([("n", "u1"), ("v", "<i4", (3,)), ("zone", "u1")])
    frec = np.frombuffer(data, dtype=fdt, count=n_f, offset=end + n_v * vdt.itemsize)
    verts = np.stack([vrec["x"], vrec["y"], vrec["z"]], axis=1).astype(np.float64)
    return verts, frec["v"].astype(np.int32), frec["zone"].astype(np.uint8)
