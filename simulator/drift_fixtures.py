"""Drift fixtures: rock bolts and plates, a ventilation duct, pipes and a cable.

Real drifts are not bare rock tubes: their walls carry a regular pattern of rock-bolt
plates (here 15 cm square plates with a nut, in rings every ``bolt_spacing_m`` along the
drift: both walls at 2 m, the crown and the arch 45° right of it), a ventilation duct hung high
on the left of the arch, two service pipes low on the right wall and a power cable
sagging between hooks above them. They are geometry (they appear in depth and give ICP
and the feature tracker corners and edges), merged into the drift's terrain mesh with the
host rock's zone (no zone of their own: the hyperspectral library has no steel).

Bolt plates sit on the rough rock: each is placed where a ray from the section's centre
toward the smooth section hits the carved tunnel, and turned to that face's normal. No
step here draws random numbers, so adding them changes no other draw of the drift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from simulator.mesh import Mesh, merge

if TYPE_CHECKING:
    from simulator.config import DriftConfig
    from simulator.markers import Marker
    from simulator.scene_drift import DriftLayout

F64Array = npt.NDArray[np.float64]

PLATE_SIDE_M = 0.15
PLATE_THICKNESS_M = 0.02
NUT_SIDE_M = 0.04
NUT_PROUD_M = 0.06
"""The nut and bolt end stand this far proud of the rock."""
BOLT_WALL_HEIGHT_M = 2.0
BOLT_ARCH_DEG = (90.0, 135.0)
"""Arch bolts at the crown and 45° right of it (the duct hangs left of the crown)."""
DUCT_RADIUS_M = 0.3
DUCT_LAT_FRAC = 0.65
"""Duct axis: this fraction of the half-width to the left of the centre-line."""
DUCT_HEIGHT_M = 3.2
PIPES = ((0.08, 0.5), (0.05, 0.8))
"""(radius, height of the axis) of the pipes along the right wall."""
PIPE_WALL_GAP_M = 0.1
CABLE_RADIUS_M = 0.012
CABLE_HEIGHT_M = 2.3
CABLE_HOOK_SPACING_M = 1.5
CABLE_SAG_M = 0.06
_END_GAP_M = 0.3
_MARKER_KEEP_OUT_M = 0.45


@dataclass(frozen=True)
class Fixtures:
    """The fixtures' mesh (host-rock zone) and where they are, for scene.json."""

    mesh: Mesh
    bolt_plates_enu_m: F64Array
    """(n, 3) centres of the plates' front faces."""
    bolt_plate_normals: F64Array
    """(n, 3) unit normals of the plates (out of the rock)."""
    duct_axis_enu_m: F64Array
    """(n, 3) samples of the duct's axis."""

    def parameters(self) -> dict[str, Any]:
        return {
            "bolt_plates": len(self.bolt_plates_enu_m),
            "duct_radius_m": DUCT_RADIUS_M,
            "duct_axis_start_end_enu_m": [
                self.duct_axis_enu_m[0].tolist(),
                self.duct_axis_enu_m[-1].tolist(),
            ],
        }


def box(centre: F64Array, axes: F64Array, half: F64Array) -> Mesh:
    """A closed box: ``axes`` rows are its unit axes, ``half`` its half-sizes."""
    signs = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], np.float64) * 2 - 1
    verts = centre + (signs * half) @ axes
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    return Mesh(verts, tris, np.zeros(len(tris), np.uint8))


def tube(centre: F64Array, left: F64Array, up: F64Array, radius: float, sides: int = 12) -> Mesh:
    """A closed tube of ``radius`` around the polyline ``centre`` (n, 3), its rings in
    the planes spanned by ``left`` and ``up`` (n, 3)."""
    ang = np.linspace(0.0, 2.0 * math.pi, sides, endpoint=False)
    ring = (
        centre[:, None, :]
        + radius * np.cos(ang)[None, :, None] * left[:, None, :]
        + radius * np.sin(ang)[None, :, None] * up[:, None, :]
    )
    verts = ring.reshape(-1, 3)
    n = len(centre)
    base = np.arange(n - 1)[:, None] * sides
    j = np.arange(sides)[None, :]
    a = (base + j).ravel()
    b = (base + (j + 1) % sides).ravel()
    c, d = a + sides, b + sides
    tris = [np.stack([a, c, d], 1), np.stack([a, d, b], 1)]
    # end caps: fans around a centre vertex each
    first, last = len(verts), len(verts) + 1
    verts = np.concatenate([verts, centre[:1], centre[-1:]])
    k = np.arange(sides)
    tris.append(np.stack([np.full(sides, first), (k + 1) % sides, k], 1))
    tris.append(
        np.stack([np.full(sides, last), (n - 1) * sides + k, (n - 1) * sides + (k + 1) % sides], 1)
    )
    faces = np.concatenate(tris).astype(np.int32)
    return Mesh(verts, faces, np.zeros(len(faces), np.uint8))


def _along(layout: DriftLayout, step: float) -> tuple[F64Array, F64Array, F64Array, F64Array]:
    path = layout.main_path
    s = np.arange(_END_GAP_M, path.length - _END_GAP_M, step, dtype=np.float64)
    centre, _, left, up = path.frames(s)
    return s, centre, left, up


def services(layout: DriftLayout) -> tuple[list[Mesh], F64Array]:
    """The duct, the pipes and the cable along the main drift, and the duct's axis."""
    hw = layout.section.half_width
    s, centre, left, up = _along(layout, 0.25)
    duct_axis = centre + DUCT_LAT_FRAC * hw * left + DUCT_HEIGHT_M * up
    parts = [tube(duct_axis, left, up, DUCT_RADIUS_M, sides=16)]
    for radius, height in PIPES:
        axis = centre - (hw - PIPE_WALL_GAP_M) * left + height * up
        parts.append(tube(axis, left, up, radius, sides=10))
    s, centre, left, up = _along(layout, 0.1)
    frac = (s % CABLE_HOOK_SPACING_M) / CABLE_HOOK_SPACING_M
    sag = CABLE_SAG_M * (1.0 - (2.0 * frac - 1.0) ** 2)
    axis = centre - (hw - PIPE_WALL_GAP_M) * left + (CABLE_HEIGHT_M - sag)[:, None] * up
    parts.append(tube(axis, left, up, CABLE_RADIUS_M, sides=6))
    return parts, duct_axis


def bolt_plates(
    d: DriftConfig, layout: DriftLayout, tunnel: Mesh, markers: list[Marker]
) -> tuple[list[Mesh], F64Array, F64Array]:
    """Plates with nuts in rings every ``bolt_spacing_m``, seated on the carved rock."""
    import open3d as o3d

    section = layout.section
    hw, wh, rise = section.half_width, section.wall_height, section.rise
    targets = [(hw, BOLT_WALL_HEIGHT_M), (-hw, BOLT_WALL_HEIGHT_M)]
    for deg in BOLT_ARCH_DEG:
        a = math.radians(deg)
        targets.append((hw * math.cos(a), wh + rise * math.sin(a)))
    path = layout.main_path
    s = np.arange(d.bolt_spacing_m / 2.0, path.length - 1.0, d.bolt_spacing_m, dtype=np.float64)
    far = np.abs(s - d.junction_at_m) > hw + 1.0
    s = s[far]
    centre, tangent, left, up = path.frames(s)
    origin = centre + up * (wh * 0.6)
    ends = np.concatenate([centre + lat * left + z * up for lat, z in targets])
    starts = np.tile(origin, (len(targets), 1))
    tang = np.tile(tangent, (len(targets), 1))
    dirs = ends - starts
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(tunnel.vertices.astype(np.float32)),
        o3d.core.Tensor(tunnel.triangles.astype(np.uint32)),
    )
    rays = np.concatenate([starts, dirs], axis=1).astype(np.float32)
    hit = scene.cast_rays(o3d.core.Tensor(rays))
    t = hit["t_hit"].numpy().astype(np.float64)
    normals = hit["primitive_normals"].numpy().astype(np.float64)
    marker_centres = np.array([m.centre for m in markers]) if markers else np.zeros((0, 3))
    parts: list[Mesh] = []
    fronts: list[F64Array] = []
    outward: list[F64Array] = []
    for i in np.flatnonzero(np.isfinite(t)):
        point = starts[i] + dirs[i] * t[i]
        n = normals[i] / np.linalg.norm(normals[i])
        if n @ dirs[i] > 0:
            n = -n
        if len(marker_centres) and np.min(np.linalg.norm(marker_centres - point, axis=1)) < (
            _MARKER_KEEP_OUT_M + d.marker_size_m
        ):
            continue
        u = tang[i] - (tang[i] @ n) * n
        u /= np.linalg.norm(u)
        v = np.cross(n, u)
        axes = np.stack([u, v, n])
        half = np.array([PLATE_SIDE_M / 2, PLATE_SIDE_M / 2, PLATE_THICKNESS_M])
        parts.append(box(point, axes, half))  # back face buried in the rock, front proud
        nut_half = np.array([NUT_SIDE_M / 2, NUT_SIDE_M / 2, NUT_PROUD_M / 2])
        parts.append(box(point + n * (NUT_PROUD_M / 2), axes, nut_half))
        fronts.append(point + n * PLATE_THICKNESS_M)
        outward.append(n)
    return parts, np.array(fronts).reshape(-1, 3), np.array(outward).reshape(-1, 3)


def build_fixtures(
    d: DriftConfig, layout: DriftLayout, tunnel: Mesh, markers: list[Marker]
) -> Fixtures:
    """All fixtures of the drift ``tunnel`` (the carved rock), in one mesh."""
    plates, fronts, normals = bolt_plates(d, layout, tunnel, markers)
    pipes, duct_axis = services(layout)
    return Fixtures(merge([*pipes, *plates]), fronts, normals, duct_axis)
