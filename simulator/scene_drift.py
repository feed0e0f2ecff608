"""Procedural underground drift: arched section, a bend, a junction, wall markers.

The main drift runs ``leg1_m`` on azimuth ``heading_deg``, bends right by ``bend_deg``
(radius ``bend_radius_m``) and runs on for ``leg2_m``, rising at ``grade``. A branch
(cross-cut) leaves it to the left at ``junction_at_m``. Each is a tube swept along its
centre-line: a closed cross-section (flat floor, vertical walls to ``wall_height_m``,
a half-ellipse arch of ``arch_rise_m``; 0 gives a rectangle) whose vertices are pushed
*outward* by up to ``roughness_m`` of seeded noise (less on the floor). The junction is
cut where each tube lies inside the other's smooth section; pushing rock only outward
makes the cut watertight (no ray escapes). Ends are closed by flat faces.

Zones: granite host rock crossed by an oxidised ore vein, a kaolinite fault gouge and a
limestone band in the cross-cut; a seep high on a wall stains it with jarosite, drips
schwertmannite on the floor and fills puddles (horizontal water surfaces) on the
down-grade side. ArUco survey markers are bolted to the walls every
``marker_spacing_m`` (alternating sides, turned 35° toward the approaching robot) and
on both dead-end faces; their mine-grid coordinates are the control the SLAM map is
tied to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.config import DriftConfig, SimConfig
from simulator.errors import SimulatorError
from simulator.layout_rules import (
    FAULT_BEFORE_JUNCTION_M,
    FAULT_FROM_START_M,
    LIMESTONE_BEFORE_END_M,
    LIMESTONE_FROM_JUNCTION_M,
    PATH_END_CLEARANCE_M,
    SEEP_AFTER_JUNCTION_M,
    SEEP_BEFORE_BEND_M,
    UTURN_RADIUS_M,
    VEIN_AFTER_BEND_M,
    VEIN_BEFORE_END_M,
    drift_azimuths_rad,
    drift_centre_line,
    first_straight_m,
    revisit_problem,
)
from simulator.markers import Marker
from simulator.mesh import ZONE_IDS, Mesh, classify, merge, vertex_normals
from simulator.noise import fbm
from simulator.scene import Scene, make_mine_grid
from simulator.trajectory import Path
from smartmine.geodesy import LocalEnu

F64Array = npt.NDArray[np.float64]
DRIFT_TEXTURE_SCALE_M = 1.0
"""Coarsest texture feature on the drift's rock (each finer octave halves it)."""
TEXTURE_OCTAVES = 6
TEXTURE_VERTEX_OCTAVES = 3
_MARKER_YAW_DEG = 35.0
"""Wall markers are turned this far toward the approaching robot."""
_MARKER_HEIGHT_M = 1.5
_FIRST_MARKER_M = 5.0
_PUDDLE_DEPTH_M = 0.025
_SEEP_HEIGHT_M = 2.6
_SEEP_FLOOR_OFFSET_M = 1.2
"""The seep drips this far from the centre-line, on its side."""
_RASTER_RES_M = 0.1


@dataclass(frozen=True)
class _Section:
    half_width: float
    wall_height: float
    rise: float

    def roof(self, lat: F64Array) -> F64Array:
        frac = np.clip(1.0 - (lat / self.half_width) ** 2, 0.0, None)
        return np.asarray(self.wall_height + self.rise * np.sqrt(frac))

    def profile(self, spacing: float) -> tuple[F64Array, F64Array]:
        """Closed cross-section polyline (l, z) and outward unit normals."""
        hw, wh, rise = self.half_width, self.wall_height, self.rise

        def run(a: tuple[float, float], b: tuple[float, float]) -> F64Array:
            n = max(2, math.ceil(math.dist(a, b) / spacing) + 1)
            return np.linspace(a, b, n)[:-1]

        floor = run((-hw, 0.0), (hw, 0.0))
        wall_r = run((hw, 0.0), (hw, wh))
        arch_len = math.pi * math.sqrt((hw**2 + rise**2) / 2.0) if rise > 0 else 2 * hw
        n_arch = max(4, math.ceil(arch_len / spacing))
        ang = np.linspace(0.0, math.pi, n_arch + 1)[:-1]
        arch = np.stack([hw * np.cos(ang), wh + rise * np.sin(ang)], axis=1)
        wall_l = run((-hw, wh), (-hw, 0.0))
        pts = np.concatenate([floor, wall_r, arch, wall_l])
        normals = np.zeros_like(pts)
        n_f, n_r, n_a = len(floor), len(wall_r), len(arch)
        normals[:n_f] = (0.0, -1.0)
        normals[n_f : n_f + n_r] = (1.0, 0.0)
        if rise > 0:
            arch_n = np.stack([np.cos(ang) / hw, np.sin(ang) / rise], axis=1)
        else:
            arch_n = np.tile([0.0, 1.0], (n_arch, 1))
        normals[n_f + n_r : n_f + n_r + n_a] = arch_n
        normals[n_f + n_r + n_a :] = (-1.0, 0.0)
        # corners: average the two sides
        for i in (0, n_f, n_f + n_r, n_f + n_r + n_a):
            normals[i] = normals[i - 1] + normals[(i + 1) % len(pts)]
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        return pts, normals

    def contains(self, lat: F64Array, up: F64Array) -> npt.NDArray[np.bool_]:
        return np.asarray((np.abs(lat) < self.half_width) & (up > 0.0) & (up < self.roof(lat)))


def _sweep(
    path: Path, section: _Section, res: float, rough_m: float, seed: int
) -> tuple[F64Array, npt.NDArray[np.int32], F64Array]:
    """Tube vertices (rings × profile), triangles, and each vertex's profile normal z."""
    prof, prof_n = section.profile(res)
    n_rings = max(2, math.ceil(path.length / res) + 1)
    s = np.linspace(0.0, path.length, n_rings)
    centre, _, left, up = path.frames(s)
    lat, vert = prof[:, 0], prof[:, 1]
    base = (
        centre[:, None, :]
        + lat[None, :, None] * left[:, None, :]
        + vert[None, :, None] * up[:, None, :]
    )
    normal = prof_n[None, :, 0, None] * left[:, None, :] + prof_n[None, :, 1, None] * up[:, None, :]
    pts = base.reshape(-1, 3)
    bump = 0.8 * fbm(pts, seed, scale_m=1.5, octaves=4) + 0.2 * fbm(
        pts, seed + 1, scale_m=0.25, octaves=2
    )
    # floors are graded: a third of the wall roughness
    weight = np.where(np.tile(prof_n[:, 1], n_rings) < -0.9, 0.3, 1.0)
    verts = pts + normal.reshape(-1, 3) * (rough_m * bump * weight)[:, None]
    m = len(prof)
    ring = np.arange(n_rings - 1)[:, None] * m
    j = np.arange(m)[None, :]
    a = (ring + j).ravel()
    b = (ring + (j + 1) % m).ravel()
    c, d = a + m, b + m
    tris = np.concatenate([np.stack([a, c, d], 1), np.stack([a, d, b], 1)]).astype(np.int32)
    return verts, tris, np.tile(prof_n[:, 1], n_rings)


def _cap(ring: F64Array, flip: bool) -> tuple[F64Array, npt.NDArray[np.int32]]:
    """Fan of triangles closing a ring (star-shaped around its centroid)."""
    centre = ring.mean(axis=0)
    verts = np.concatenate([ring, centre[None, :]])
    m = len(ring)
    i = np.arange(m)
    tris = np.stack([i, (i + 1) % m, np.full(m, m)], axis=1)
    if flip:
        tris = tris[:, ::-1]
    return verts, tris.astype(np.int32)


@dataclass(frozen=True)
class DriftLayout:
    """Centre-lines of the main drift (two legs joined by a bend) and the cross-cut."""

    section: _Section
    az1: float
    az2: float
    w0: F64Array
    w1: F64Array
    w2: F64Array
    main_path: Path
    t1: F64Array
    """Unit direction of the first leg."""
    junction: F64Array
    branch_dir: F64Array
    branch_path: Path

    @classmethod
    def of(cls, d: DriftConfig) -> DriftLayout:
        section = _Section(d.width_m / 2.0, d.wall_height_m, d.arch_rise_m)
        az1, az2 = drift_azimuths_rad(d)
        h1 = np.array([math.sin(az1), math.cos(az1), 0.0])
        main_path = drift_centre_line(d)
        w0, w1, w2 = main_path.waypoints
        t1 = (w1 - w0) / np.linalg.norm(w1 - w0)
        junction = w0 + t1 * d.junction_at_m
        branch_dir = np.array([-h1[1], h1[0], 0.0])  # 90° left of the first leg
        branch_end = junction + d.branch_length_m * branch_dir
        branch_path = Path(np.stack([junction, branch_end]), 1.0)
        return cls(section, az1, az2, w0, w1, w2, main_path, t1, junction, branch_dir, branch_path)

    @property
    def straight_m(self) -> float:
        """Length of the first leg's straight part (the junction lies on it)."""
        return first_straight_m(self.main_path)


def _local(
    points: F64Array, origin: F64Array, tangent: F64Array
) -> tuple[F64Array, F64Array, F64Array]:
    """Along, left and up coordinates of points in a straight tube's frame."""
    left = np.cross([0.0, 0.0, 1.0], tangent)
    left /= np.linalg.norm(left)
    up = np.cross(tangent, left)
    rel = points - origin
    return rel @ tangent, rel @ left, rel @ up


def carve_tunnels(d: DriftConfig, layout: DriftLayout, seed: int) -> Mesh:
    """Sweep both tubes, cut the junction (drop faces lying wholly inside the other
    tube's smooth section) and close the dead ends."""
    section = layout.section
    mv, mt, mnz = _sweep(layout.main_path, section, d.res_m, d.roughness_m, seed)
    bv, bt, bnz = _sweep(layout.branch_path, section, d.res_m, d.roughness_m, seed)
    # wall vertices at the floor corner count as inside too, or a kerb would remain
    bs, bl, bu = _local(mv, layout.junction, layout.branch_dir)
    in_branch = section.contains(bl, np.where(mnz > -0.9, np.abs(bu), bu))
    in_branch &= (bs > 0.0) & (bs < d.branch_length_m)
    ms, ml, mu = _local(bv, layout.w0, layout.t1)
    straight = layout.straight_m
    in_main = section.contains(ml, np.where(bnz > -0.9, np.abs(mu), mu)) & (ms < straight)
    # the main floor carries the junction: drop the cross-cut's floor over it
    in_main |= (bnz < -0.9) & (np.abs(ml) < section.half_width) & (ms < straight)
    keep_main = np.asarray(~in_branch[mt].all(axis=1))
    keep_branch = np.asarray(~in_main[bt].all(axis=1))
    main = Mesh(mv, mt, np.zeros(len(mt), np.uint8)).keep_faces(keep_main)
    branch = Mesh(bv, bt, np.zeros(len(bt), np.uint8)).keep_faces(keep_branch)
    ring = len(section.profile(d.res_m)[0])
    return merge([main, branch, *_end_caps(mv, bv, ring)])


def _end_caps(main_v: F64Array, branch_v: F64Array, ring: int) -> list[Mesh]:
    """Flat faces closing the main drift's start and end and the cross-cut's end."""
    caps = []
    for verts, first in ((main_v, True), (branch_v, False)):
        n_rings = len(verts) // ring
        if first:  # the main drift's start
            cv, ct = _cap(verts[:ring], flip=True)
            caps.append(Mesh(cv, ct, np.zeros(len(ct), np.uint8)))
        cv, ct = _cap(verts[(n_rings - 1) * ring :], flip=False)
        caps.append(Mesh(cv, ct, np.zeros(len(ct), np.uint8)))
    return caps


@dataclass(frozen=True)
class Seep:
    """A seep high on a wall of the first leg and where it drips onto the floor."""

    along_m: float
    point: F64Array
    floor: F64Array


def place_seep(d: DriftConfig, layout: DriftLayout, rng: np.random.Generator) -> Seep:
    seep_s = float(
        rng.uniform(d.junction_at_m + SEEP_AFTER_JUNCTION_M, layout.straight_m - SEEP_BEFORE_BEND_M)
    )
    side = 1.0 if rng.random() < 0.5 else -1.0
    centre, _, left, up = (a[0] for a in layout.main_path.frames(np.array([seep_s])))
    floor = centre + side * left * _SEEP_FLOOR_OFFSET_M
    point = centre + side * left * layout.section.half_width + up * _SEEP_HEIGHT_M
    return Seep(seep_s, point, floor)


def flood_puddles(
    terrain: Mesh, layout: DriftLayout, seep: Seep, seed: int
) -> tuple[F64Array, F64Array, float]:
    """Where the floor's roughness dips deepest near the seep, water stands: returns the
    vertices with puddle surfaces levelled, the water zone field and the water level."""
    verts = terrain.vertices
    floor_v = np.abs(vertex_normals(verts, terrain.triangles)[:, 2]) > 0.9
    w0, t1 = layout.w0, layout.t1
    smooth_floor = w0[2] + ((verts - w0) @ t1) * t1[2]
    near = 5.0 - np.hypot(verts[:, 0] - seep.floor[0], verts[:, 1] - seep.floor[1])
    pool = fbm(verts, seed, scale_m=1.2, octaves=3) - 0.55
    water_score = np.minimum(near, pool)
    low = verts[:, 2] < smooth_floor + 0.1
    puddle = floor_v & (water_score > 0.0) & low
    verts[:, 2] = np.where(puddle, smooth_floor - _PUDDLE_DEPTH_M, verts[:, 2])
    water_score = np.where(floor_v & (verts[:, 2] < smooth_floor + 0.1), water_score, -1.0)
    return verts, water_score, float(seep.floor[2]) - _PUDDLE_DEPTH_M


@dataclass(frozen=True)
class Bands:
    """Where the ore vein and the fault gouge cross the main drift (m along it)."""

    vein_at_m: float
    fault_at_m: float


def drift_zone_rules(
    d: DriftConfig,
    verts: F64Array,
    triangles: npt.NDArray[np.int32],
    layout: DriftLayout,
    seep: Seep,
    water_score: F64Array,
    seeds: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> tuple[dict[str, F64Array], Bands]:
    """Zone fields at the vertices, in priority order (positive inside; AND = min):
    puddles, schwertmannite drips under the seep, jarosite stain around it, an ore vein,
    a kaolinite fault gouge and a limestone band in the cross-cut."""
    abs_nz = np.abs(vertex_normals(verts, triangles)[:, 2])
    band_seed = int(seeds[2])

    def plane_band(point: F64Array, strike_rad: float, dip_deg: float, half: float) -> F64Array:
        dip = math.radians(dip_deg)
        sin_dip = math.sin(dip)
        normal = np.array(
            [math.cos(strike_rad) * sin_dip, -math.sin(strike_rad) * sin_dip, math.cos(dip)]
        )
        wobble = 0.4 * (fbm(verts, band_seed, scale_m=2.0, octaves=2) - 0.5)
        return np.asarray(half - np.abs((verts - point) @ normal + wobble))

    main_path = layout.main_path
    vein_s = float(
        rng.uniform(layout.straight_m + VEIN_AFTER_BEND_M, main_path.length - VEIN_BEFORE_END_M)
    )
    vein_p = main_path.evaluate(np.array([vein_s]))[0][0]
    fault_s = float(rng.uniform(FAULT_FROM_START_M, d.junction_at_m - FAULT_BEFORE_JUNCTION_M))
    fault_p = main_path.evaluate(np.array([fault_s]))[0][0]
    lime_s = rng.uniform(LIMESTONE_FROM_JUNCTION_M, d.branch_length_m - LIMESTONE_BEFORE_END_M)
    lime_p = layout.junction + layout.branch_dir * lime_s
    stain = fbm(verts, int(seeds[3]), scale_m=0.8, octaves=3)
    drip = fbm(verts, int(seeds[4]), scale_m=0.6, octaves=3)
    dist_seep = np.linalg.norm(verts[:, :2] - seep.point[:2], axis=1)
    dist_floor = np.linalg.norm(verts[:, :2] - seep.floor[:2], axis=1)
    az1, az2 = layout.az1, layout.az2
    rules = {
        "water": water_score,
        "schwertmannite": np.minimum.reduce(
            [abs_nz - 0.9, seep.floor[2] + 0.5 - verts[:, 2], 4.5 - dist_floor, drip - 0.4]
        ),
        "jarosite": np.minimum.reduce(
            [0.7 - abs_nz, seep.point[2] + 0.3 - verts[:, 2], 3.0 - dist_seep, stain - 0.42]
        ),
        "oxidised_ore": plane_band(vein_p, az2 + math.radians(rng.uniform(40, 70)), 75.0, 1.2),
        "kaolinite": plane_band(fault_p, az1 + math.radians(rng.uniform(50, 80)), 65.0, 0.7),
        "limestone": plane_band(lime_p, az1 + math.radians(rng.uniform(-20, 20)), 60.0, 2.0),
    }
    return rules, Bands(vein_s, fault_s)


def place_wall_markers(d: DriftConfig, layout: DriftLayout) -> list[Marker]:
    """ArUco markers bolted to the walls every ``marker_spacing_m`` (alternating sides,
    turned toward the approaching robot, none at the junction) and on both dead ends."""
    section, main_path = layout.section, layout.main_path
    markers: list[Marker] = []
    yaw = math.radians(_MARKER_YAW_DEG)
    clearance = d.marker_size_m * 0.67 * math.sin(yaw) + 0.05
    plate = d.marker_size_m * 4.0 / 3.0
    side = 1.0
    s = _FIRST_MARKER_M
    while s < main_path.length - 4.0:
        if abs(s - d.junction_at_m) > section.half_width + 2.0:
            c, t, lft, u = (a[0] for a in main_path.frames(np.array([s])))
            lat = side * (section.half_width - clearance)
            centre = c + lft * lat + u * _MARKER_HEIGHT_M
            normal = -side * lft * math.cos(yaw) - t * math.sin(yaw)
            markers.append(Marker.facing(len(markers), d.marker_size_m, plate, centre, normal, u))
            side = -side
        s += d.marker_spacing_m
    for path in (main_path, layout.branch_path):
        c, t, _, u = (a[0] for a in path.frames(np.array([path.length])))
        centre = c - t * 0.05 + u * (_MARKER_HEIGHT_M + 0.1)
        markers.append(Marker.facing(len(markers), d.marker_size_m, plate, centre, -t, u))
    return markers


def robot_path(cfg: SimConfig, layout: DriftLayout) -> tuple[F64Array, F64Array]:
    """Waypoints of base_link along the main drift (``drift.route``), and its lift above
    the floor."""
    lift = np.array([0.0, 0.0, cfg.path.altitude_m])
    w0, w1, w2, t1 = layout.w0, layout.w1, layout.w2, layout.t1
    t2 = (w2 - w1) / np.linalg.norm(w2 - w1)
    ends = PATH_END_CLEARANCE_M
    end = w2 - ends * t2 + lift
    if cfg.drift.route != "revisit":
        return np.stack([w0 + ends * t1 + lift, w1 + lift, end]), lift
    return np.stack([*_revisit_turns(cfg.drift, layout), w1, end - lift]) + lift, lift


def _revisit_turns(d: DriftConfig, layout: DriftLayout) -> list[F64Array]:
    """Start and U-turn corners of the ``revisit`` route, on the first leg's floor: out in
    the right lane past the junction, back in the left lane, round again into the right
    lane (then on to the bend; see ``robot_path``)."""
    r = UTURN_RADIUS_M
    far = d.junction_at_m + d.revisit_m / 2.0
    near = d.junction_at_m - d.revisit_m / 2.0
    start = PATH_END_CLEARANCE_M
    problem = revisit_problem(d, layout.straight_m)
    if problem:
        raise SimulatorError(problem)
    t1 = layout.t1
    left = np.array([-t1[1], t1[0], 0.0]) / np.linalg.norm(t1[:2])

    def at(s: float, lane: float) -> F64Array:
        return np.asarray(layout.w0 + s * t1 + lane * r * left, dtype=np.float64)

    return [at(start, -1), at(far, -1), at(far, 1), at(near, 1), at(near, -1)]


def build_drift(cfg: SimConfig) -> Scene:
    """The drift scene of ``cfg`` (deterministic for ``cfg.seed``): each step below draws
    from one seeded generator in this order, so reordering them changes the drift."""
    d = cfg.drift
    rng = np.random.default_rng([cfg.seed, 102])
    seeds = rng.integers(0, 2**31 - 1, size=8)
    layout = DriftLayout.of(d)
    terrain = carve_tunnels(d, layout, int(seeds[0]))
    seep = place_seep(d, layout, rng)
    verts, water_score, level = flood_puddles(terrain, layout, seep, int(seeds[1]))
    tri = terrain.triangles
    rules, bands = drift_zone_rules(d, verts, tri, layout, seep, water_score, seeds, rng)
    score_zones = tuple(ZONE_IDS[k] for k in rules)
    scores = np.stack(list(rules.values()), axis=1).astype(np.float32)
    base_zone = ZONE_IDS["granite"]
    terrain = Mesh(verts, tri, classify(scores[tri].mean(axis=1), score_zones, base_zone))
    markers = place_wall_markers(d, layout)
    fixture_parameters: dict[str, Any] = {}
    fixture_faces = None
    if d.fixtures:
        from simulator.drift_fixtures import build_fixtures

        fixtures = build_fixtures(d, layout, terrain, markers)
        extra = fixtures.mesh
        n_rock = len(terrain.triangles)
        fixture_faces = (n_rock, n_rock + len(extra.triangles))
        terrain = merge(
            [
                terrain,
                Mesh(
                    extra.vertices,
                    extra.triangles,
                    np.full(len(extra.triangles), base_zone, np.uint8),
                ),
            ]
        )
        pad = np.full((len(extra.vertices), scores.shape[1]), -1.0, np.float32)
        scores = np.concatenate([scores, pad])
        fixture_parameters = fixtures.parameters()
    lamp_emitters = None
    lamp_housing_faces = None
    if d.fixed_lamps:
        from simulator.drift_lamps import place_lamps

        lamps = place_lamps(d, layout)
        n_before = len(terrain.triangles)
        n_after = n_before + len(lamps.mesh.triangles)
        lamp_housing_faces = (n_after - lamps.housing_faces, n_after)
        # brackets are plain fixtures: they extend the fixtures' face range
        fixture_faces = (fixture_faces[0] if fixture_faces else n_before, lamp_housing_faces[0])
        zone = np.full(len(lamps.mesh.triangles), base_zone, np.uint8)
        terrain = merge([terrain, Mesh(lamps.mesh.vertices, lamps.mesh.triangles, zone)])
        pad = np.full((len(lamps.mesh.vertices), scores.shape[1]), -1.0, np.float32)
        scores = np.concatenate([scores, pad])
        lamp_emitters = lamps.emitters_enu_m
        fixture_parameters |= lamps.parameters()
    waypoints, lift = robot_path(cfg, layout)
    g = cfg.geo
    origin = LocalEnu(g.origin_lat_deg, g.origin_lon_deg, g.origin_alt_m)
    xy = terrain.vertices[:, :2]
    lo, hi = xy.min(axis=0) - 1.0, xy.max(axis=0) + 1.0
    return Scene(
        kind="drift",
        terrain=terrain,
        vertex_scores=scores,
        score_zones=score_zones,
        base_zone=base_zone,
        markers=markers,
        origin=origin,
        mine_grid=make_mine_grid(cfg, origin),
        lighting="headlamp",
        default_waypoints=waypoints,
        default_corner_radius_m=d.bend_radius_m,
        home_enu=waypoints[0] - lift,
        raster_bounds_enu=(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])),
        raster_res_m=_RASTER_RES_M,
        raster_look="up",
        underground=True,
        texture_seed=int(seeds[6]),
        texture_scale_m=DRIFT_TEXTURE_SCALE_M,
        texture_octaves=TEXTURE_OCTAVES,
        texture_vertex_octaves=TEXTURE_VERTEX_OCTAVES,
        lamp_power=d.lamp_power,
        grain_contrast=d.grain_contrast,
        lamp_emitters=lamp_emitters,
        lamp_housing_faces=lamp_housing_faces,
        fixed_lamp_power=d.fixed_lamp_power,
        fixed_lamp_range_m=d.fixed_lamp_range_m,
        fixed_lamp_cct_k=d.fixed_lamp_cct_k,
        fixture_faces=fixture_faces,
        wire_mesh_axis=layout.t1 * [1.0, 1.0, 0.0] / np.linalg.norm(layout.t1[:2])
        if d.wire_mesh
        else None,
        parameters=drift_parameters(d, layout, seep, level, bands) | fixture_parameters,
    )


def drift_parameters(
    d: DriftConfig, layout: DriftLayout, seep: Seep, level: float, bands: Bands
) -> dict[str, Any]:
    """What was built, for scene.json's scene_parameters."""
    bx, by = layout.branch_dir[0], layout.branch_dir[1]
    return {
        "section": "arched" if d.arch_rise_m > 0 else "rectangular",
        "centre_line_m": layout.main_path.length,
        "waypoints_enu_m": [w.tolist() for w in (layout.w0, layout.w1, layout.w2)],
        "junction_enu_m": layout.junction.tolist(),
        "branch_azimuth_deg": math.degrees(math.atan2(bx, by)) % 360,
        "seep_enu_m": seep.point.tolist(),
        "water_level_z_m": level,
        "ore_vein_at_m": bands.vein_at_m,
        "fault_at_m": bands.fault_at_m,
    }
