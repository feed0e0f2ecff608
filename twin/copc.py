"""COPC (Cloud-Optimized Point Cloud) from a LAZ, so a browser streams a cloud by octree
node over HTTP range requests instead of downloading it whole.

The octree is built here (copclib only packs it): the cube around the cloud is split
level by level; at each level one point per sample cell (``SAMPLE_GRID`` cells across a
node) stays in the node and the rest go down, so each level is a spatially even preview
of the next and every node's parent holds points (COPC readers walk from the root). A
level whose remaining points fit in ``leaf_points`` takes them all. The point records
are laspy's own bytes of the source (same point format, scale, offsets, CRS and extra
bytes: a draped cloud's ``class_id`` and ``heat`` stream too), so every point of the
COPC is bit for bit a point of the LAZ. The output is a function of the input alone
(point order, header date and GUID from the source): publishing twice gives the same
bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from smartmine.atomic import atomic_path
from smartmine.errors import SmartmineError

SAMPLE_GRID: Final = 64
"""Sample cells across one node and axis: the node's point spacing is its size / this."""
MAX_DEPTH: Final = 12
COPC_FORMATS: Final = (6, 7, 8)
"""COPC allows only these LAS 1.4 point formats."""

I64 = npt.NDArray[np.int64]


class CopcError(SmartmineError):
    """A cloud cannot be written as COPC (empty, or a point format COPC does not allow)."""


def _linear(cells: I64, side: int) -> I64:
    """One int64 per 3D cell index (``side`` cells per axis; at most 2**21 per axis)."""
    return np.asarray((cells[:, 0] * side + cells[:, 1]) * side + cells[:, 2], dtype=np.int64)


def octree_keys(
    xyz: npt.NDArray[np.float64], leaf_points: int
) -> tuple[npt.NDArray[np.float64], float, list[tuple[tuple[int, int, int, int], I64]]]:
    """The cube (centre, half size) and, per node key ``(d, x, y, z)``, the indices of the
    points it holds (ascending, each point in exactly one node). A node whose points fit
    in ``leaf_points`` keeps them all (a leaf); a bigger one keeps one per sample cell."""
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    centre = (lo + hi) / 2.0
    half = max(float((hi - lo).max()) / 2.0, 0.5) * (1.0 + 1e-9)
    corner = centre - half
    remaining = np.arange(len(xyz), dtype=np.int64)
    nodes: list[tuple[tuple[int, int, int, int], I64]] = []
    for depth in range(MAX_DEPTH + 1):
        if remaining.size == 0:
            break
        side = 2**depth
        local = xyz[remaining] - corner
        keys = np.clip(np.floor(local / (2.0 * half / side)).astype(np.int64), 0, side - 1)
        key_ids = _linear(keys, side)
        _, inverse, counts = np.unique(key_ids, return_inverse=True, return_counts=True)
        taken = counts[inverse] <= leaf_points
        if depth < MAX_DEPTH:
            crowded = np.flatnonzero(~taken)
            cell_side = side * SAMPLE_GRID
            cells = np.floor(local[crowded] / (2.0 * half / cell_side)).astype(np.int64)
            cell_ids = _linear(np.clip(cells, 0, cell_side - 1), cell_side)
            _, first = np.unique(cell_ids, return_index=True)
            taken[crowded[first]] = True
        else:
            taken[:] = True
        nodes += _group(depth, keys[taken], key_ids[taken], remaining[taken])
        remaining = remaining[~taken]
    return centre, half, nodes


def _group(
    depth: int, keys: I64, key_ids: I64, members: I64
) -> list[tuple[tuple[int, int, int, int], I64]]:
    """The taken points of one level, grouped by node (nodes in key order, points
    ascending)."""
    order = np.lexsort((members, key_ids))
    keys, key_ids, members = keys[order], key_ids[order], members[order]
    splits = np.flatnonzero(np.diff(key_ids)) + 1
    out = []
    for rows, group in zip(np.split(keys, splits), np.split(members, splits), strict=True):
        x, y, z = (int(v) for v in rows[0])
        out.append(((depth, x, y, z), group))
    return out


def write_copc(laz: Path, out: Path, *, leaf_points: int = 100_000) -> Path:
    """Write ``laz`` as a COPC file at ``out`` (atomically); returns ``out``."""
    import copclib
    import laspy

    las = laspy.read(laz)
    if len(las.points) == 0:
        raise CopcError(f"{laz}: the cloud has no points, nothing to stream")
    if las.header.point_format.id not in COPC_FORMATS:
        raise CopcError(
            f"{laz}: point format {las.header.point_format.id} is not one COPC allows "
            f"({', '.join(map(str, COPC_FORMATS))})"
        )
    xyz = np.column_stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)])
    centre, half, nodes = octree_keys(xyz, leaf_points)
    records = las.points.array
    with atomic_path(out, overwrite=True) as tmp:
        source = _copclib_view(las, tmp.with_name("first-point.laz"))
        config = copclib.CopcConfigWriter(
            las.header.point_format.id,
            copclib.Vector3(*(float(v) for v in las.header.scales)),
            copclib.Vector3(*(float(v) for v in las.header.offsets)),
            _wkt(las),
            source.extra_bytes_vlr,
            False,
        )
        writer = copclib.FileWriter(str(tmp), config)
        _describe(writer.copc_config, source.las_header, xyz, centre, half)
        for key, members in nodes:
            data = copclib.VectorChar(np.frombuffer(records[members].tobytes(), dtype=np.int8))
            writer.AddNode(copclib.VoxelKey(*key), data)
        writer.Close()
    return out


def _copclib_view(las: Any, scratch: Path) -> Any:
    """copclib's view of the cloud's header and extra-bytes descriptors (names and types:
    copclib's Python API cannot make them), read from a one-point copy with the WKT bit
    set (copclib refuses a LAS 1.4 header without it, as on a cloud with no CRS)."""
    import copclib
    import laspy

    head = laspy.LasData(las.header.copy(), las.points[:1].copy())
    head.header.global_encoding.wkt = True
    head.write(str(scratch))
    try:
        return copclib.LazReader(str(scratch)).laz_config
    finally:
        scratch.unlink()


def _wkt(las: Any) -> str:
    """The cloud's OGC WKT, from laspy (copclib 2.6.3's LAZ reader reads that VLR six
    bytes off: ``S["WGS 84 ...`` and the next VLR's bytes)."""
    import laspy

    for vlr in las.header.vlrs:
        if isinstance(vlr, laspy.vlrs.known.WktCoordinateSystemVlr):
            return str(vlr.string).rstrip("\x00")
    crs = las.header.parse_crs()
    return "" if crs is None else str(crs.to_wkt())


def _describe(
    config: Any, source_header: Any, xyz: npt.NDArray[np.float64], centre: Any, half: float
) -> None:
    """Header bounds, dates and GUID (from the source: no clock in the output) and the
    COPC info (octree cube, root spacing)."""
    import copclib

    header = config.las_header
    header.min = copclib.Vector3(*(float(v) for v in xyz.min(axis=0)))
    header.max = copclib.Vector3(*(float(v) for v in xyz.max(axis=0)))
    for name in ("creation_day", "creation_year", "file_source_id", "guid"):
        setattr(header, name, getattr(source_header, name))
    info = config.copc_info
    info.center_x, info.center_y, info.center_z = (float(v) for v in centre)
    info.halfsize = half
    info.spacing = 2.0 * half / SAMPLE_GRID
