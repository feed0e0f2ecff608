"""A built scene: geometry, zones, markers, lighting, georeference and its built-in path.

Scenes live in a local ENU frame (x east, y north, z up, metres) at a stated WGS84
origin, which is the ``map`` frame of the bag. ``smartmine.geodesy.LocalEnu`` carries
points exactly to UTM 44N (EPSG:32644) and WGS84; the mine grid is a
``smartmine.geodesy.MineGrid`` on EPSG:32644.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from simulator.config import SimConfig
from simulator.markers import Marker
from simulator.mesh import MARKER_ZONE, Mesh, classify, merge
from simulator.noise import Octaves, fbm, octave_sum
from smartmine.geodesy import LocalEnu, MineGrid
from smartmine.geometry import rot_z

if TYPE_CHECKING:
    import open3d as o3d

    from simulator.shadows import SunShadowMap

F64Array = npt.NDArray[np.float64]

UTM_EPSG = 32644
"""WGS 84 / UTM zone 44N: East Kazakhstan."""

Lighting = Literal["sun", "headlamp"]
TEXTURE_GAIN = 0.65
"""Amplitude ratio of successive texture octaves: more fine grain than 0.5 (features)."""


@dataclass(eq=False)
class Scene:
    """Everything the renderer and the writers need to know about a scene."""

    kind: str
    terrain: Mesh
    """The surfaces without markers; ``face_zone`` is the zone at each face's centroid."""
    vertex_scores: npt.NDArray[np.float32]
    """(terrain vertices, rules) zone fields; see :func:`simulator.mesh.classify`."""
    score_zones: tuple[int, ...]
    """The zone of each score column, in priority order."""
    base_zone: int
    markers: list[Marker]
    origin: LocalEnu
    mine_grid: MineGrid
    lighting: Lighting
    default_waypoints: F64Array
    """The built-in path of base_link (lawnmower / drift centre-line), local ENU."""
    default_corner_radius_m: float
    home_enu: F64Array
    """Where a mission plan's home is placed (relative altitudes are above this)."""
    raster_bounds_enu: tuple[float, float, float, float]
    """x_min, x_max, y_min, y_max of the class raster, local ENU metres."""
    raster_res_m: float
    raster_look: Literal["down", "up"]
    """How the class raster sees the scene: from above (pit) or from below (drift floor)."""
    underground: bool
    texture_seed: int
    texture_scale_m: float
    texture_octaves: int
    texture_vertex_octaves: int
    """The coarsest octaves of the texture are sampled at the vertices and interpolated
    (cheap); the finer ones are evaluated at every rendered point."""
    sun_dir_enu: F64Array = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    ambient: float = 0.3
    shadows: bool = False
    lamp_power: float = 4.0
    grain_contrast: float = 0.0
    """Rock grain albedo contrast (:mod:`simulator.rock_grain`); 0 = off."""
    fixture_faces: tuple[int, int] | None = None
    """Range [start, end) of terrain faces that are fixtures (bolt plates, duct, pipes:
    plain, brighter albedo, :data:`simulator.shading.FIXTURE_BRIGHTNESS`); None = none."""
    wire_mesh_axis: F64Array | None = None
    """Horizontal unit vector the welded mesh on walls and roof is aligned with
    (:func:`simulator.rock_grain.wire_mesh_factor`); None = no mesh."""
    lamp_emitters: F64Array | None = None
    """(n, 3) point sources of the fixed lamps (:mod:`simulator.drift_lamps`); None = none."""
    lamp_housing_faces: tuple[int, int] | None = None
    """Range [start, end) of terrain faces that are glowing lamp housings."""
    fixed_lamp_power: float = 0.0
    fixed_lamp_range_m: float = 15.0
    fixed_lamp_cct_k: float = 3000.0
    grain_scale_m: float = 0.03
    """Coarsest grain feature (drift: 3 cm; open pit: a few GSD, ``pit.detail_*``)."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """Scene-specific derived facts for scene.json (ramp, pond, zone bodies...)."""

    @functools.cached_property
    def mesh(self) -> Mesh:
        """Terrain and marker plates in one mesh (marker faces last)."""
        return merge([self.terrain, *[m.mesh() for m in self.markers]])

    @functools.cached_property
    def marker_of_face(self) -> npt.NDArray[np.int32]:
        """Index into ``markers`` of every face of :attr:`mesh`, -1 for terrain."""
        out = np.full(len(self.mesh.triangles), -1, dtype=np.int32)
        start = len(self.terrain.triangles)
        for i in range(len(self.markers)):
            out[start + 2 * i : start + 2 * i + 2] = i
        return out

    # -- zones and texture -------------------------------------------------------------
    def coarse_texture(self, points: F64Array) -> tuple[F64Array, F64Array]:
        """The coarse texture octaves (unnormalised) and the large-scale colour tone."""
        coarse, _ = octave_sum(
            points,
            self.texture_seed,
            scale_m=self.texture_scale_m,
            first=0,
            count=self.texture_vertex_octaves,
            gain=TEXTURE_GAIN,
        )
        tone = fbm(points, self.texture_seed + 101, scale_m=self.texture_scale_m * 6.0, octaves=2)
        return coarse, tone

    def fine_texture(self, points: F64Array) -> F64Array:
        """The fine texture octaves (unnormalised), evaluated per rendered point."""
        fine, _ = octave_sum(
            points,
            self.texture_seed,
            scale_m=self.texture_scale_m,
            first=self.texture_vertex_octaves,
            count=self.texture_octaves - self.texture_vertex_octaves,
            gain=TEXTURE_GAIN,
        )
        return fine

    @functools.cached_property
    def fine_octaves(self) -> Octaves:
        """:meth:`fine_texture`'s octaves, for kernels that texture per point."""
        return Octaves.of(
            self.texture_seed,
            scale_m=self.texture_scale_m,
            first=self.texture_vertex_octaves,
            count=self.texture_octaves - self.texture_vertex_octaves,
            gain=TEXTURE_GAIN,
        )

    @property
    def texture_norm(self) -> float:
        """Total amplitude of all texture octaves (normalises coarse + fine to [0, 1])."""
        return float(sum(TEXTURE_GAIN**k for k in range(self.texture_octaves)))

    @functools.cached_property
    def vertex_fields(self) -> npt.NDArray[np.float32]:
        """(vertices, rules + 2) per-vertex zone scores, coarse texture and tone of
        :attr:`mesh` (marker vertices padded with -1)."""
        coarse, tone = self.coarse_texture(self.terrain.vertices)
        terrain = np.column_stack([self.vertex_scores, coarse, tone]).astype(np.float32)
        n_pad = len(self.mesh.vertices) - len(terrain)
        pad = np.full((n_pad, terrain.shape[1]), -1.0, np.float32)
        return np.concatenate([terrain, pad])

    @functools.cached_property
    def smooth_faces(self) -> npt.NDArray[np.bool_]:
        """Faces small enough for the vertex-interpolated coarse texture."""
        v = self.mesh.vertices[self.mesh.triangles]
        edges = np.linalg.norm(v - np.roll(v, 1, axis=1), axis=2).max(axis=1)
        finest = self.texture_scale_m / 2 ** (self.texture_vertex_octaves - 1)
        return np.asarray(edges <= finest)

    def interpolate(
        self, primitive_ids: npt.NDArray[np.integer], uvs: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.float32]:
        """Vertex fields at ray hits by the hit's barycentric coordinates (Open3D:
        point = (1-u-v)·A + u·B + v·C)."""
        prim = np.asarray(primitive_ids, dtype=np.int64)
        tri = self.mesh.triangles[prim]
        u = uvs[:, 0:1].astype(np.float32)
        v = uvs[:, 1:2].astype(np.float32)
        f = self.vertex_fields
        out: npt.NDArray[np.float32] = (
            f[tri[:, 0]] * (1.0 - u - v) + f[tri[:, 1]] * u + f[tri[:, 2]] * v
        )
        return out

    def zones_from_fields(
        self, fields: npt.NDArray[np.float32], primitive_ids: npt.NDArray[np.integer]
    ) -> npt.NDArray[np.uint8]:
        """Zones of interpolated fields (first positive score wins); markers by face."""
        zone = classify(fields[:, : len(self.score_zones)], self.score_zones, self.base_zone)
        marker = self.marker_of_face[np.asarray(primitive_ids, dtype=np.int64)] >= 0
        zone[marker] = MARKER_ZONE
        return zone

    def zones_at(
        self, primitive_ids: npt.NDArray[np.integer], uvs: npt.NDArray[np.floating]
    ) -> npt.NDArray[np.uint8]:
        """Zone at ray hits: the zone fields interpolated across the hit triangle, so
        borders run smoothly through faces instead of stepping along edges."""
        return self.zones_from_fields(self.interpolate(primitive_ids, uvs), primitive_ids)

    @functools.cached_property
    def raycaster(self) -> o3d.t.geometry.RaycastingScene:
        """Open3D BVH over :attr:`mesh` (float32, as Open3D stores it)."""
        import open3d as o3d

        scene = o3d.t.geometry.RaycastingScene()
        mesh = o3d.t.geometry.TriangleMesh()
        mesh.vertex.positions = o3d.core.Tensor(self.mesh.vertices.astype(np.float32))
        mesh.triangle.indices = o3d.core.Tensor(self.mesh.triangles.astype(np.int32))
        scene.add_triangles(mesh)
        return scene

    @functools.cached_property
    def lamp_field(self) -> npt.NDArray[np.float32]:
        """(vertices of :attr:`mesh`, 3) irradiance vector of the fixed lamps, baked with
        a shadow ray per vertex and lamp (:func:`simulator.drift_lamps.bake_lamp_light`)."""
        from simulator.drift_lamps import bake_lamp_light

        if self.lamp_emitters is None:
            return np.zeros((len(self.mesh.vertices), 3), np.float32)
        return bake_lamp_light(
            self.mesh.vertices,
            self.raycaster,
            self.lamp_emitters,
            self.fixed_lamp_power,
            self.fixed_lamp_range_m,
        )

    @functools.cached_property
    def sun_shadow_map(self) -> SunShadowMap:
        """Which shadow rays need casting (see :mod:`simulator.shadows`)."""
        from simulator.shadows import SunShadowMap

        return SunShadowMap.build(self.mesh, self.raster_bounds_enu, self.sun_dir_enu)

    def cast(self, origins: F64Array, directions: F64Array) -> dict[str, Any]:
        """Cast rays (N, 3) + (N, 3); numpy results of Open3D's ``cast_rays``."""
        import open3d as o3d

        rays = np.concatenate([origins, directions], axis=-1).astype(np.float32)
        result = self.raycaster.cast_rays(o3d.core.Tensor(rays))
        return {k: v.numpy() for k, v in result.items()}

    def vertical_hits(self, x: F64Array, y: F64Array, z_from: float, look: str) -> dict[str, Any]:
        """Cast vertical rays at (x, y) from height ``z_from``, down or up."""
        n = x.size
        origins = np.stack([x.ravel(), y.ravel(), np.full(n, z_from)], axis=1)
        directions = np.zeros((n, 3))
        directions[:, 2] = -1.0 if look == "down" else 1.0
        return self.cast(origins, directions)

    def surface_height(
        self, x: npt.ArrayLike, y: npt.ArrayLike, z_from: float = 5000.0
    ) -> F64Array:
        """Height of the first surface below (x, y) seen from ``z_from`` (NaN where none)."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        hits = self.vertical_hits(xa, ya, z_from, "down")
        t = hits["t_hit"].astype(np.float64)
        z = np.where(np.isfinite(t), z_from - t, np.nan)
        return np.asarray(z.reshape(xa.shape), dtype=np.float64)

    def is_inside(self, points: F64Array) -> npt.NDArray[np.bool_]:
        """Whether points lie inside the closed drift: odd crossings along each of
        :data:`INSIDE_RAYS` fixed directions, by majority.

        One ray is not enough: at the junction the cut leaves faces of one tube inside
        the other's rock, and a single upward ray from the left lane crossed them an even
        number of times (a false "outside"). Each of the directions errs on a different
        few points; the majority was right on every pose of the revisit route and every
        point above the roof and under the floor (tests/test_simulator_lamps.py)."""
        import open3d as o3d

        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        votes = np.zeros(len(pts), dtype=np.int64)
        for direction in INSIDE_RAYS:
            rays = np.concatenate([pts, np.tile(direction, (len(pts), 1))], axis=1)
            tensor = o3d.core.Tensor(rays.astype(np.float32))
            votes += self.raycaster.count_intersections(tensor).numpy() % 2
        return np.asarray(2 * votes > len(INSIDE_RAYS))


def _sphere_directions(n: int) -> F64Array:
    """``n`` unit vectors spread evenly over the sphere (golden spiral): none along an
    axis, so none runs along the mesh's rings or its walls."""
    k = np.arange(n) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / n)
    azimuth = math.pi * (1.0 + math.sqrt(5.0)) * k
    return np.stack(
        [np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], 1
    )


INSIDE_RAYS = _sphere_directions(9)
"""Directions of :meth:`Scene.is_inside`'s parity rays (an odd number: no ties)."""


def make_mine_grid(cfg: SimConfig, origin: LocalEnu) -> MineGrid:
    """The mine grid: rotation and scale from the config, translated so the scene origin
    has the configured grid coordinates."""
    g = cfg.geo
    e0, n0, h0 = origin.to_projected(0.0, 0.0, 0.0, UTM_EPSG)
    en = np.array([float(e0), float(n0)])
    r = rot_z(math.radians(g.grid_rotation_deg))
    # written out, not r @ en: BLAS may fuse the products and change the last bit
    rotated = g.grid_scale * np.array(
        [r[0, 0] * en[0] + r[0, 1] * en[1], r[1, 0] * en[0] + r[1, 1] * en[1]]
    )
    translation = [
        g.grid_origin_m[0] - rotated[0],
        g.grid_origin_m[1] - rotated[1],
        g.grid_origin_m[2] - float(h0),
    ]
    name = "pit grid" if cfg.scene == "open-pit" else "mine grid"
    return MineGrid.horizontal(UTM_EPSG, g.grid_scale, g.grid_rotation_deg, translation, name)
