"""The shading stage: what each ray hit, how it is textured and lit, as linear RGB.

The renderer hands every batch of hits (primary rays, marker sub-rays, hyperspectral
sub-rays) through the same steps, each a function to extend:

1. :func:`hit_geometry` — hit points, unit normals turned toward the camera, the zone
   and the coarse texture interpolated across the hit triangle from its vertices;
2. :func:`texture` — brightness and colour tone: coarse + fine fractal texture on rock,
   the ArUco bit pattern on markers;
3. :func:`illumination` — sun (Lambert, cast shadows by a second ray, sky ambient) or a
   headlamp at the camera (Lambert, inverse-square falloff, beam cone); in the drift also
   :func:`fixed_lamp_light`, the fixed lamps' light baked at the vertices
   (:mod:`simulator.drift_lamps`), kept apart because it has the lamps' colour;
4. :func:`linear_rgb` — albedo × illumination written straight into the frame.

The per-pixel loops run compiled (:mod:`simulator.compiled`); what stays in numpy
(dot products through BLAS or einsum, exp) stays so because the kernels must reproduce
its exact rounding: the same seed gives the same bytes as the plain numpy renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from simulator.compiled import jit
from simulator.mesh import MARKER_ZONE
from simulator.noise import octave_sums
from simulator.rock_grain import (
    GRAIN_STRETCH,
    WIRE_DARKENING,
    WIRE_FLOOR_NZ,
    WIRE_SPACING_M,
    WIRE_WIDTH_M,
    grain_octaves,
)
from simulator.threads import raycast_threads

if TYPE_CHECKING:
    from simulator.scene import Scene

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]

SHADOW_OFFSET_M = 0.05
"""Shadow rays start this far off the surface along its normal (no self-hits)."""
TONE_GAIN = 0.3
"""Colour tone: red up and blue down (or the reverse) by this much at tone 0 or 1."""
TONE_RGB = (1.0, 0.0, -1.0)
"""How the tone shifts each channel."""
TEXTURE_BASE = 0.5
"""Brightness = TEXTURE_BASE + normalised texture in [0, 1]."""
FIXTURE_BRIGHTNESS = 1.4
"""Brightness of the drift's fixtures (bolt plates, duct, pipes): plain, brighter than rock."""
LAMP_BEAM_WIDTH = 0.35
"""Headlamp cone: beam = exp(-((1 - cos off-axis) / width)²)."""
LAMP_MIN_RANGE_M = 0.3
"""Inverse-square falloff is capped at this range (no infinite glare)."""
LAMP_AMBIENT = 0.01
"""Stray light underground, so nothing is perfectly black."""
SKY_AMBIENT_FLOOR = 0.6
"""Sky light on a vertical face relative to flat ground is SKY_AMBIENT_FLOOR; the
remaining 0.4 scales with the normal's up component."""


@dataclass
class Hits:
    """What one batch of rays hit (only rays that hit something: ``rows`` of the batch)."""

    rows: I64Array
    points: F64Array
    normals: F64Array
    """Unit normals turned toward the ray origin."""
    zone: npt.NDArray[np.uint8]
    primitive_ids: I64Array
    coarse: F64Array
    """Coarse texture octaves interpolated from the vertices (unnormalised)."""
    tone: F64Array
    """Large-scale colour tone in [0, 1]."""
    cos_view: F64Array
    """|cos| of the angle between the ray and the surface normal."""
    batch_uvs: F32Array | None = None
    """Barycentric (u, v) of every ray of the batch (index with ``rows``)."""


@dataclass
class Surface:
    """Shade-ready facts about the hits of a batch."""

    hits: Hits
    illumination: F64Array
    """Irradiance factor (1 = flat ground in full sun; headlamp: power·cos/r²)."""
    brightness: F64Array
    """Texture brightness multiplier (terrain) or reflectance (markers)."""
    tone_shift: F64Array
    """TONE_GAIN·(tone - 0.5) (0 on markers): the tint is 1 + tone_shift·TONE_RGB."""
    lamp_light: F64Array | None = None
    """Irradiance factor of the fixed lamps (their colour, not the headlamp's); None
    where the scene has none."""

    @property
    def points(self) -> F64Array:
        return self.hits.points

    @property
    def normals(self) -> F64Array:
        return self.hits.normals

    @property
    def zone(self) -> npt.NDArray[np.uint8]:
        return self.hits.zone


# -- 1. geometry -------------------------------------------------------------------------


@jit
def _hit_kernel(
    rows: I64Array,
    dirs: F64Array,
    origin: F64Array,
    t_hit: F32Array,
    primitive_ids: npt.NDArray[np.uint32],
    uvs: F32Array,
    normals32: F32Array,
    triangles: npt.NDArray[np.int32],
    fields: F32Array,
    rule_zones: npt.NDArray[np.uint8],
    base_zone: np.uint8,
    marker_of_face: npt.NDArray[np.int32],
    marker_zone: np.uint8,
    points: F64Array,
    normals: F64Array,
    zone: npt.NDArray[np.uint8],
    prim_out: I64Array,
    coarse: F64Array,
    tone: F64Array,
    cos_view: F64Array,
) -> None:
    n_rules = rule_zones.shape[0]
    one = np.float32(1.0)
    for m in range(rows.shape[0]):
        r = rows[m]
        t = np.float64(t_hit[r])
        dx, dy, dz = dirs[r, 0], dirs[r, 1], dirs[r, 2]
        points[m, 0] = origin[0] + dx * t
        points[m, 1] = origin[1] + dy * t
        points[m, 2] = origin[2] + dz * t
        nx = np.float64(normals32[r, 0])
        ny = np.float64(normals32[r, 1])
        nz = np.float64(normals32[r, 2])
        norm = max(np.sqrt(nx * nx + ny * ny + nz * nz), 1e-12)
        nx, ny, nz = nx / norm, ny / norm, nz / norm
        facing = nx * dx + ny * dy + nz * dz
        if facing > 0.0:
            nx, ny, nz = -nx, -ny, -nz
        normals[m, 0], normals[m, 1], normals[m, 2] = nx, ny, nz
        d_len = np.sqrt(dx * dx + dy * dy + dz * dz)
        cos_view[m] = abs(nx * (dx / d_len) + ny * (dy / d_len) + nz * (dz / d_len))

        p = np.int64(primitive_ids[r])
        prim_out[m] = p
        a, b, c = triangles[p, 0], triangles[p, 1], triangles[p, 2]
        u, v = uvs[r, 0], uvs[r, 1]
        w = one - u - v
        z = base_zone
        for j in range(n_rules):
            if fields[a, j] * w + fields[b, j] * u + fields[c, j] * v > 0.0:
                z = rule_zones[j]
                break
        if marker_of_face[p] >= 0:
            z = marker_zone
        zone[m] = z
        k = n_rules
        coarse[m] = np.float64(fields[a, k] * w + fields[b, k] * u + fields[c, k] * v)
        k = n_rules + 1
        tone[m] = np.float64(fields[a, k] * w + fields[b, k] * u + fields[c, k] * v)


def hit_geometry(
    scene: Scene,
    origin: F64Array,
    dirs: F64Array,
    hits: dict[str, npt.NDArray[np.generic]],
    rows: I64Array,
) -> Hits:
    """Geometry, zone and vertex texture of the rays ``rows`` of ``dirs`` (N, 3) cast
    from ``origin``; ``hits`` is :meth:`Scene.cast`'s result for all N rays."""
    m = len(rows)
    out = Hits(
        rows,
        np.empty((m, 3)),
        np.empty((m, 3)),
        np.empty(m, np.uint8),
        np.empty(m, np.int64),
        np.empty(m),
        np.empty(m),
        np.empty(m),
    )
    uvs = np.ascontiguousarray(hits["primitive_uvs"], dtype=np.float32)
    out.batch_uvs = uvs
    _hit_kernel(
        rows,
        np.ascontiguousarray(dirs, dtype=np.float64),
        np.ascontiguousarray(origin, dtype=np.float64),
        np.asarray(hits["t_hit"], dtype=np.float32),
        np.asarray(hits["primitive_ids"], dtype=np.uint32),
        uvs,
        np.ascontiguousarray(hits["primitive_normals"], dtype=np.float32),
        scene.mesh.triangles,
        scene.vertex_fields,
        np.asarray(scene.score_zones, dtype=np.uint8),
        np.uint8(scene.base_zone),
        scene.marker_of_face,
        np.uint8(MARKER_ZONE),
        out.points,
        out.normals,
        out.zone,
        out.primitive_ids,
        out.coarse,
        out.tone,
        out.cos_view,
    )
    return out


# -- 2. texture --------------------------------------------------------------------------


@jit
def _gather_transposed(points: F64Array, rows: I64Array, out: F64Array) -> None:
    """``points[rows]`` transposed into ``out`` (3, N): the octave kernel's layout."""
    for n in range(rows.shape[0]):
        m = rows[n]
        out[0, n], out[1, n], out[2, n] = points[m, 0], points[m, 1], points[m, 2]


@jit
def _rock_brightness_kernel(
    rows: I64Array,
    points_t: F64Array,
    normals: F64Array,
    coarse: F64Array,
    fine: F64Array,
    texture_norm: float,
    grain: F64Array,
    grain_norm: float,
    grain_contrast: float,
    wire_axis: F64Array,
    wire_darkening: float,
    brightness: F64Array,
) -> None:
    """:func:`texture_reference`'s rock brightness at the hits ``rows`` (their points
    transposed in ``points_t``, their octave sums in ``fine`` and ``grain``): texture,
    grain, wire mesh. Branch-free, so it vectorises: a factor that is off is exactly 1
    (contrast 0, darkening 1), and x·1 = x."""
    frac_w = WIRE_WIDTH_M / WIRE_SPACING_M
    for n in range(rows.shape[0]):
        m = rows[n]
        b = TEXTURE_BASE + (coarse[m] + fine[n]) / texture_norm
        stretched = min(max((grain[n] / grain_norm - 0.5) * GRAIN_STRETCH, -1.0), 1.0)
        b = b * (1.0 + grain_contrast * stretched)
        along = (points_t[0, n] * wire_axis[0] + points_t[1, n] * wire_axis[1]) / WIRE_SPACING_M
        height = points_t[2, n] / WIRE_SPACING_M
        on_wire = ((along - np.floor(along)) < frac_w) | ((height - np.floor(height)) < frac_w)
        on_wire &= normals[m, 2] < WIRE_FLOOR_NZ
        brightness[m] = b * (wire_darkening if on_wire else 1.0)


@jit
def _fixture_kernel(
    primitive_ids: I64Array, lo: int, hi: int, brightness: F64Array, tone_shift: F64Array
) -> None:
    # stores are unconditional: a masked vector store is ~40× slower on AMD cores
    for m in range(primitive_ids.shape[0]):
        fixture = (primitive_ids[m] >= lo) & (primitive_ids[m] < hi)
        brightness[m] = FIXTURE_BRIGHTNESS if fixture else brightness[m]
        tone_shift[m] = 0.0 if fixture else tone_shift[m]


def texture(scene: Scene, hits: Hits) -> tuple[F64Array, F64Array]:
    """Brightness and tone shift of every hit (see :class:`Surface`): fractal texture,
    grain and wire mesh on rock, plain fixtures, the printed pattern on markers.

    Compiled passes (:func:`texture_reference` is the same in numpy statements, bit for
    bit; tests/test_simulator_kernels.py): the numpy version spent most of its time
    selecting and scattering the rock rows, not computing. The octave sums stay in the
    vectorised kernel (octaves outside, points inside: ~3× faster than per point)."""
    marker_idx = scene.marker_of_face[hits.primitive_ids]
    on_marker = marker_idx >= 0
    big = ~(on_marker | scene.smooth_faces[hits.primitive_ids])  # skirt, end caps
    if np.any(big):
        hits.coarse[big], hits.tone[big] = scene.coarse_texture(hits.points[big])
    rock = np.flatnonzero(~on_marker)
    rock_t = np.empty((3, len(rock)))
    _gather_transposed(hits.points, rock, rock_t)
    fine = octave_sums(rock_t, scene.fine_octaves)
    grain = grain_octaves(scene.texture_seed, scene.grain_scale_m)
    wired = scene.wire_mesh_axis is not None
    brightness = np.empty(len(hits.rows))
    _rock_brightness_kernel(
        rock,
        rock_t,
        hits.normals,
        hits.coarse,
        fine,
        scene.texture_norm,
        octave_sums(rock_t, grain) if scene.grain_contrast > 0 else fine,
        grain.norm,
        float(max(scene.grain_contrast, 0.0)),
        np.asarray(scene.wire_mesh_axis if wired else np.zeros(3), dtype=np.float64),
        WIRE_DARKENING if wired else 1.0,
        brightness,
    )
    tone_shift = TONE_GAIN * (hits.tone - 0.5)
    if scene.fixture_faces is not None:
        _fixture_kernel(hits.primitive_ids, *scene.fixture_faces, brightness, tone_shift)
    if np.any(on_marker):
        brightness[on_marker] = marker_reflectance(scene, marker_idx, hits.points, on_marker)
        tone_shift[on_marker] = 0.0
    return brightness, tone_shift


def texture_reference(scene: Scene, hits: Hits) -> tuple[F64Array, F64Array]:
    """:func:`texture` as numpy statements (the statement its kernel must match)."""
    coarse, tone = hits.coarse, hits.tone
    marker_idx = scene.marker_of_face[hits.primitive_ids]
    on_marker = marker_idx >= 0
    rock = ~on_marker
    big = rock & ~scene.smooth_faces[hits.primitive_ids]  # skirt, end caps: too coarse
    if np.any(big):
        coarse[big], tone[big] = scene.coarse_texture(hits.points[big])
    if np.all(rock):
        fine = scene.fine_texture(hits.points)
    else:
        fine = np.zeros(len(coarse))
        fine[rock] = scene.fine_texture(hits.points[rock])
    brightness = TEXTURE_BASE + (coarse + fine) / scene.texture_norm
    if scene.grain_contrast > 0 and np.any(rock):
        from simulator.rock_grain import grain_factor

        brightness[rock] *= grain_factor(
            hits.points[rock], scene.texture_seed, scene.grain_contrast, scene.grain_scale_m
        )
    if scene.wire_mesh_axis is not None and np.any(rock):
        from simulator.rock_grain import wire_mesh_factor

        brightness[rock] *= wire_mesh_factor(
            hits.points[rock], hits.normals[rock], scene.wire_mesh_axis
        )
    tone_shift = TONE_GAIN * (tone - 0.5)
    if scene.fixture_faces is not None:
        lo, hi = scene.fixture_faces
        fixture = (hits.primitive_ids >= lo) & (hits.primitive_ids < hi)
        brightness[fixture] = FIXTURE_BRIGHTNESS  # painted or galvanised steel: plain
        tone_shift[fixture] = 0.0
    if np.any(on_marker):
        brightness[on_marker] = marker_reflectance(scene, marker_idx, hits.points, on_marker)
        tone_shift[on_marker] = 0.0
    return brightness, tone_shift


def marker_reflectance(
    scene: Scene,
    marker_idx: npt.NDArray[np.int32],
    points: F64Array,
    on_marker: npt.NDArray[np.bool_],
) -> F64Array:
    """The printed pattern's reflectance at the hits on marker plates."""
    refl = np.empty(int(on_marker.sum()))
    idx = marker_idx[on_marker]
    pts = points[on_marker]
    for m in np.unique(idx):
        sel = idx == m
        refl[sel] = scene.markers[int(m)].reflectance(pts[sel])
    return refl


# -- 3. illumination ---------------------------------------------------------------------


@jit
def _shadow_rays_kernel(
    points: F64Array,
    normals: F64Array,
    lit: I64Array,
    sun: F64Array,
    offset_m: float,
    rays: F32Array,
) -> None:
    for i in range(lit.shape[0]):
        m = lit[i]
        for k in range(3):
            rays[i, k] = np.float32(points[m, k] + normals[m, k] * offset_m)
            rays[i, 3 + k] = np.float32(sun[k])


def sun_illumination(scene: Scene, hits: Hits) -> F64Array:
    """Sky ambient plus direct sun (Lambert), zero direct light where a ray toward the
    sun is blocked."""
    sun = scene.sun_dir_enu
    normals = hits.normals
    cos_i = np.clip(normals @ sun, 0.0, None)
    lit = np.flatnonzero(cos_i > 0.0)
    if scene.shadows and len(lit):
        import open3d as o3d

        # rays the shadow map proves free are not cast (Open3D would find them free)
        lit = lit[scene.sun_shadow_map.may_be_shadowed(hits.points, normals, lit, SHADOW_OFFSET_M)]
        rays = np.empty((len(lit), 6), np.float32)
        _shadow_rays_kernel(hits.points, normals, lit, sun, SHADOW_OFFSET_M, rays)
        tensor = o3d.core.Tensor.from_numpy(rays)
        blocked = scene.raycaster.test_occlusions(tensor, nthreads=raycast_threads()).numpy()
        cos_i[lit[blocked]] = 0.0
    sky = scene.ambient * (SKY_AMBIENT_FLOOR + (1.0 - SKY_AMBIENT_FLOOR) * normals[:, 2])
    return np.asarray(sky + (1.0 - scene.ambient) * cos_i / sun[2])


@jit
def _lamp_vectors_kernel(
    origin: F64Array, points: F64Array, to_lamp: F64Array, r: F64Array
) -> None:
    for m in range(points.shape[0]):
        x = origin[0] - points[m, 0]
        y = origin[1] - points[m, 1]
        z = origin[2] - points[m, 2]
        dist = np.sqrt(x * x + y * y + z * z)
        r[m] = dist
        scale = max(dist, 1e-9)
        to_lamp[m, 0], to_lamp[m, 1], to_lamp[m, 2] = x / scale, y / scale, z / scale


def headlamp_illumination(scene: Scene, origin: F64Array, axis: F64Array, hits: Hits) -> F64Array:
    """A lamp at the camera pointing along ``axis``: Lambert, 1/r², beam cone."""
    m = len(hits.rows)
    to_lamp = np.empty((m, 3))
    r = np.empty(m)
    _lamp_vectors_kernel(np.asarray(origin, np.float64), hits.points, to_lamp, r)
    cos_i = np.clip(np.einsum("ij,ij->i", hits.normals, to_lamp), 0.0, None)
    cos_off = np.clip(-(to_lamp @ axis), -1.0, 1.0)
    beam = np.exp(-(((1.0 - cos_off) / LAMP_BEAM_WIDTH) ** 2))
    falloff = np.maximum(r, LAMP_MIN_RANGE_M) ** 2
    return np.asarray(scene.lamp_power * cos_i * beam / falloff + LAMP_AMBIENT)


@jit
def _fixed_lamp_kernel(
    rows: I64Array,
    primitive_ids: I64Array,
    uvs: F32Array,
    triangles: npt.NDArray[np.int32],
    field: F32Array,
    normals: F64Array,
    out: F64Array,
) -> None:
    for m in range(rows.shape[0]):
        r = rows[m]
        p = primitive_ids[m]
        a, b, c = triangles[p, 0], triangles[p, 1], triangles[p, 2]
        u = np.float64(uvs[r, 0])
        v = np.float64(uvs[r, 1])
        w = 1.0 - u - v
        e = 0.0
        for k in range(3):
            e += normals[m, k] * (field[a, k] * w + field[b, k] * u + field[c, k] * v)
        out[m] = max(e, 0.0)


def fixed_lamp_light(scene: Scene, hits: Hits) -> F64Array | None:
    """Irradiance of the fixed lamps at every hit (None without lamps): the lamps'
    irradiance vector baked at the vertices (:attr:`Scene.lamp_field`, occlusion
    included) interpolated across the hit triangle, dotted with the hit's normal."""
    if scene.lamp_emitters is None or hits.batch_uvs is None:
        return None
    out = np.empty(len(hits.rows))
    _fixed_lamp_kernel(
        hits.rows,
        hits.primitive_ids,
        hits.batch_uvs,
        scene.mesh.triangles,
        scene.lamp_field,
        hits.normals,
        out,
    )
    return out


def illumination(scene: Scene, origin: F64Array, axis: F64Array, hits: Hits) -> F64Array:
    """Irradiance factor of every hit under the scene's lighting."""
    if scene.lighting == "sun":
        return sun_illumination(scene, hits)
    return headlamp_illumination(scene, origin, axis, hits)


def shade(
    scene: Scene,
    origin: F64Array,
    axis: F64Array,
    dirs: F64Array,
    hits: dict[str, npt.NDArray[np.generic]],
    rows: I64Array,
) -> Surface:
    """Steps 1-3 for the rays ``rows`` of a batch cast from ``origin`` (camera looking
    along ``axis``, where a headlamp points)."""
    geometry = hit_geometry(scene, origin, dirs, hits, rows)
    brightness, tone_shift = texture(scene, geometry)
    light = illumination(scene, origin, axis, geometry)
    return Surface(geometry, light, brightness, tone_shift, fixed_lamp_light(scene, geometry))


# -- 4. colour ---------------------------------------------------------------------------


@jit
def _linear_rgb_kernel(
    rows: I64Array,
    zone: npt.NDArray[np.uint8],
    zone_rgb: F64Array,
    brightness: F64Array,
    tone_shift: F64Array,
    illumination: F64Array,
    lamp_light: F64Array,
    primitive_ids: I64Array,
    glow_lo: int,
    glow_hi: int,
    glow: float,
    lamp_rgb: F64Array,
    exposure: float,
    tone_rgb: F64Array,
    out: F64Array,
) -> None:
    """Without fixed lamps ``lamp_light`` is empty and nothing glows (``glow_lo ==
    glow_hi``): the light is then the illumination alone, in the same operations."""
    with_lamps = lamp_light.shape[0] > 0
    for m in range(rows.shape[0]):
        z = zone[m]
        p = primitive_ids[m]
        glowing = (p >= glow_lo) & (p < glow_hi)
        for k in range(3):
            tint = 1.0 + tone_shift[m] * tone_rgb[k]
            if with_lamps:
                light = (illumination[m] + lamp_light[m] * lamp_rgb[k]) * exposure
            else:
                light = illumination[m] * exposure
            lit = zone_rgb[z, k] * brightness[m] * tint * light
            out[rows[m], k] = glow * lamp_rgb[k] * exposure if glowing else lit


_NO_LAMP_LIGHT = np.zeros(0)
_WHITE = np.ones(3)


def linear_rgb(
    surface: Surface,
    zone_rgb: F64Array,
    exposure: float,
    out: F64Array,
    lamps: tuple[F64Array, tuple[int, int]] | None = None,
) -> None:
    """Write albedo (zone colour × texture × tint) × illumination × exposure into the
    rows of ``out`` (N, 3) that ``surface`` covers; with fixed lamps (``lamps``: their
    RGB colour and the range of glowing faces), their light in their colour is added and
    their housings glow (:data:`simulator.drift_lamps.LAMP_GLOW`)."""
    lamp_light, lamp_rgb, (lo, hi), glow = _NO_LAMP_LIGHT, _WHITE, (0, 0), 0.0
    if surface.lamp_light is not None and lamps is not None:
        from simulator.drift_lamps import LAMP_GLOW

        lamp_light, glow = surface.lamp_light, LAMP_GLOW
        lamp_rgb, (lo, hi) = np.asarray(lamps[0], np.float64), lamps[1]
    _linear_rgb_kernel(
        surface.hits.rows,
        surface.zone,
        zone_rgb,
        surface.brightness,
        surface.tone_shift,
        surface.illumination,
        lamp_light,
        surface.hits.primitive_ids,
        lo,
        hi,
        glow,
        lamp_rgb,
        float(exposure),
        np.asarray(TONE_RGB),
        out,
    )
