"""Procedural open pit: benched terraces, a spiral haul ramp, geology and contamination.

The pit is a height field on a regular grid (``pit.grid_res_m``). Its rim is a
superellipse (``width_m`` × ``length_m``) wobbled by seeded noise; the signed distance
from the rim (Euclidean distance transform) drives the bench profile: a face of
``bench_height_m`` at ``face_angle_deg``, then a berm of ``berm_width_m``, down to the
floor at ``depth_m``. The haul ramp spirals down the wall at ``ramp_grade``: a band of
``ramp_width_m`` whose centre-line follows the mean wall slope, cut into the benches
above it and filled over the ones below.

Zones (see :data:`simulator.mesh.ZONES`): granite host rock; a dipping limestone
stratum; an ellipsoidal oxidised ore body with a kaolinite alteration halo;
jarosite-stained ground on the lower benches near the ore; a seepage pond on the floor
ringed by schwertmannite precipitate; steppe vegetation outside the rim. Ground-control
ArUco targets lie flat on the rim and the floor. Around the grid a large flat skirt
keeps the ground under any plan that wanders off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.config import PitConfig, SimConfig
from simulator.layout_rules import GCP_PLATE_SCALE, RIM_GCP_OUT_M, pad_radius_m
from simulator.markers import Marker
from simulator.mesh import ZONE_IDS, Mesh, classify, grid_triangles, merge
from simulator.noise import fbm
from simulator.scene import Scene, make_mine_grid
from simulator.trajectory import lawnmower
from smartmine.geodesy import LocalEnu
from smartmine.geometry import rot_z

F64Array = npt.NDArray[np.float64]

SKIRT_HALF_M = 3000.0
PIT_TEXTURE_SCALE_M = 4.0
"""Coarsest texture feature on the pit's rock (each finer octave halves it)."""
TEXTURE_OCTAVES = 6
TEXTURE_VERTEX_OCTAVES = 3
_SUPERELLIPSE_N = 2.6
_RAMP_EDGE_M = 3.0
"""The ramp blends into the benches over this width at its edges."""
_RAMP_STEP_RAD = 0.002
_RAMP_MAX_TURNS = 2
_RAMP_MIN_RADIUS_M = 5.0
_RELIEF_EDGE_FADE_M = 15.0
_POND_DEPTH_M = 1.5
_POND_SIGMA_M = 12.0
_GCP_SPACING_M = 40.0
"""Floor targets stand at least this far from each other and from the rim ones."""
_LIMESTONE_DIP_DEG = 35.0
_LIMESTONE_THICKNESS_M = 22.0
_ORE_RADII_M = (75.0, 40.0, 40.0)


def _outline_factor(phi: F64Array, seed: int, amount: float) -> F64Array:
    """Periodic radial wobble of the rim (noise sampled on a circle, so it closes)."""
    ring = np.stack([2.5 * np.cos(phi), 2.5 * np.sin(phi), np.zeros_like(phi)], axis=-1)
    return np.asarray(1.0 + amount * (2.0 * fbm(ring, seed, scale_m=1.0, octaves=3) - 1.0))


def _superellipse_radius(phi: F64Array, a: float, b: float) -> F64Array:
    n = _SUPERELLIPSE_N
    c, s = np.abs(np.cos(phi)), np.abs(np.sin(phi))
    return np.asarray(1.0 / ((c / a) ** n + (s / b) ** n) ** (1.0 / n))


@dataclass(frozen=True)
class PitGrid:
    """The height field's regular grid (rows along y, columns along x)."""

    xs: F64Array
    ys: F64Array
    X: F64Array
    Y: F64Array
    res: float
    half_x: float
    half_y: float

    @classmethod
    def of(cls, p: PitConfig) -> PitGrid:
        res = p.grid_res_m
        hx, hy = p.width_m / 2.0 + p.margin_m, p.length_m / 2.0 + p.margin_m
        xs = np.linspace(-hx, hx, round(2 * hx / res) + 1)
        ys = np.linspace(-hy, hy, round(2 * hy / res) + 1)
        X, Y = np.meshgrid(xs, ys)  # noqa: N806 - grid coordinates
        return cls(xs, ys, X, Y, res, hx, hy)

    @property
    def edge_distance(self) -> F64Array:
        """Distance (m) of every node from the grid's border."""
        return np.minimum(self.half_x - np.abs(self.X), self.half_y - np.abs(self.Y))


@dataclass(frozen=True)
class Rim:
    """The pit's rim: a superellipse wobbled by periodic noise."""

    semi_x: float
    semi_y: float
    seed: int
    outline_noise: float

    def radius(self, angle: F64Array) -> F64Array:
        return _superellipse_radius(angle, self.semi_x, self.semi_y) * _outline_factor(
            angle, self.seed, self.outline_noise
        )

    def signed_distance(self, grid: PitGrid) -> F64Array:
        """Distance from the rim at every node, positive inside, smoothed (the transform
        of a rasterised rim steps at cell scale; bench lines and zone borders run clean)."""
        from scipy.ndimage import distance_transform_edt, gaussian_filter

        res = grid.res
        inside = np.hypot(grid.X, grid.Y) <= self.radius(np.arctan2(grid.Y, grid.X))
        d_in = distance_transform_edt(inside) * res
        d_out = distance_transform_edt(~inside) * res
        dist = np.where(inside, d_in - res / 2.0, -(d_out - res / 2.0))
        return np.asarray(gaussian_filter(dist, sigma=1.0 / res, mode="nearest"))


@dataclass(frozen=True)
class Benches:
    """Bench profile: faces of ``bench_height_m`` at ``face_angle_deg`` and berms."""

    p: PitConfig

    @property
    def face_width_m(self) -> float:
        return self.p.bench_height_m / math.tan(math.radians(self.p.face_angle_deg))

    @property
    def period_m(self) -> float:
        return self.face_width_m + self.p.berm_width_m

    @property
    def floor_starts_m(self) -> float:
        """Distance from the rim where the pit floor begins."""
        p = self.p
        return (math.ceil(p.depth_m / p.bench_height_m) - 1) * self.period_m + self.face_width_m

    def height(self, dist: F64Array) -> F64Array:
        """Height (m, rim = 0) at a distance from the rim."""
        p, face_w = self.p, self.face_width_m
        dd = np.maximum(dist, 0.0)
        k = np.floor(dd / self.period_m)
        r = dd - k * self.period_m
        z = -(k * p.bench_height_m + p.bench_height_m * np.minimum(r / face_w, 1.0))
        return np.asarray(np.maximum(z, -p.depth_m))

    def wall_distance(self, z_m: F64Array | float) -> F64Array:
        """Distance from the rim of the mean wall line at height ``z_m``."""
        return np.asarray(-np.asarray(z_m) / self.p.bench_height_m * self.period_m)


@dataclass(frozen=True)
class Ramp:
    """The spiral haul ramp: where it starts, which way it turns, and its footprint."""

    theta0: float
    direction: float
    span_rad: float
    weight: F64Array
    """0..1 per node: how much of the node is ramp (1 on the road, fading at its edges)."""
    height: F64Array
    """The ramp's elevation at every node (where ``weight`` > 0)."""


def _spiral_profile(
    p: PitConfig, rim: Rim, benches: Benches, theta0: float, direction: float
) -> tuple[F64Array, F64Array]:
    """Swept angle and elevation of the ramp's centre-line, integrated around the pit
    along the mean wall line at ``ramp_grade``."""
    thetas, z_r = [0.0], [0.0]
    while z_r[-1] > -p.depth_m and thetas[-1] < _RAMP_MAX_TURNS * 2 * math.pi:
        ang = theta0 + direction * thetas[-1]
        r_c = float(rim.radius(np.array([ang]))[0]) - float(benches.wall_distance(z_r[-1]))
        z_r.append(z_r[-1] - p.ramp_grade * max(r_c, _RAMP_MIN_RADIUS_M) * _RAMP_STEP_RAD)
        thetas.append(thetas[-1] + _RAMP_STEP_RAD)
    return np.array(thetas), np.maximum(np.array(z_r), -p.depth_m)


def cut_ramp(
    p: PitConfig,
    grid: PitGrid,
    dist: F64Array,
    rim: Rim,
    benches: Benches,
    rng: np.random.Generator,
) -> Ramp:
    """The haul ramp over the bench profile: its nearest turn at every node."""
    theta0 = float(rng.uniform(-math.pi, math.pi))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    ramp_theta, ramp_z = _spiral_profile(p, rim, benches, theta0, direction)
    span = float(ramp_theta[-1])
    phi = np.arctan2(grid.Y, grid.X)
    rel = ((phi - theta0) * direction) % (2 * math.pi)
    best_gap = np.full(dist.shape, np.inf)
    best_z = np.zeros_like(dist)
    for k in range(math.ceil(span / (2 * math.pi)) + 1):
        th = rel + 2 * math.pi * k
        on = th <= span
        zr = np.interp(th, ramp_theta, ramp_z)
        gap = np.where(on, np.abs(dist - benches.wall_distance(zr)), np.inf)
        closer = gap < best_gap
        best_gap = np.where(closer, gap, best_gap)
        best_z = np.where(closer, zr, best_z)
    half_w = p.ramp_width_m / 2.0
    weight = np.clip((half_w + _RAMP_EDGE_M - best_gap) / _RAMP_EDGE_M, 0.0, 1.0)
    weight = np.where(dist > -half_w - _RAMP_EDGE_M, weight, 0.0)
    return Ramp(theta0, direction, span, weight, best_z)


def add_micro_relief(z: F64Array, grid: PitGrid, ramp: Ramp, seed: int) -> F64Array:
    """Round crests and toes a little (as blasting and scaling leave them; this also keeps
    the triangles from zig-zagging along the benches), then add roughness: more on faces,
    little on the haul road, fading out at the grid's edge."""
    from scipy.ndimage import gaussian_filter

    res = grid.res
    z = gaussian_filter(z, sigma=0.6 / res * max(res, 0.5), mode="nearest")
    gy, gx = np.gradient(z, res)
    slope = np.hypot(gx, gy)
    amp = (0.08 + 0.3 * np.clip(slope / 2.0, 0.0, 1.0)) * (1.0 - 0.8 * ramp.weight)
    amp *= np.clip(grid.edge_distance / _RELIEF_EDGE_FADE_M, 0.0, 1.0)
    pts2 = np.stack([grid.X, grid.Y, np.zeros_like(grid.X)], axis=-1)
    return np.asarray(z + amp * 2.0 * (fbm(pts2, seed, scale_m=6.0, octaves=4) - 0.5))


@dataclass(frozen=True)
class Pond:
    """The seepage pond in a basin on the pit floor."""

    centre: F64Array
    distance: F64Array
    """Horizontal distance of every node from the pond's centre."""
    water: npt.NDArray[np.bool_]
    """Nodes under water."""
    level_z_m: float
    floor_mask: npt.NDArray[np.bool_]
    """Floor nodes away from the ramp (where the pond and floor targets may go)."""

    @property
    def radius_m(self) -> float:
        return float(self.distance[self.water].max()) if np.any(self.water) else 0.0


def dig_pond(
    p: PitConfig,
    grid: PitGrid,
    z: F64Array,
    dist: F64Array,
    floor_d: float,
    ramp: Ramp,
    rng: np.random.Generator,
) -> tuple[Pond, F64Array]:
    """A basin on the floor, away from the ramp, filled to a level; the new heights."""
    floor_mask = (dist > floor_d + 20.0) & (ramp.weight == 0.0)
    candidates = np.flatnonzero(floor_mask.ravel())
    if candidates.size == 0:
        candidates = np.flatnonzero((dist > floor_d).ravel())
    if candidates.size == 0:
        candidates = np.array([int(np.argmax(dist))])
    pick = int(candidates[int(rng.integers(0, candidates.size))])
    centre = np.array([grid.X.ravel()[pick], grid.Y.ravel()[pick]])
    r_pond = np.hypot(grid.X - centre[0], grid.Y - centre[1])
    on_floor = np.clip((dist - floor_d) / 5.0, 0.0, 1.0)
    z = z - _POND_DEPTH_M * np.exp(-(r_pond**2) / (2 * _POND_SIGMA_M**2)) * on_floor
    level = -p.depth_m - 0.4
    water = (z < level) & (r_pond < 40.0)
    z = np.where(water, level, z)
    return Pond(centre, r_pond, water, level, floor_mask), z


def place_ground_control(
    p: PitConfig,
    grid: PitGrid,
    z: F64Array,
    rim: Rim,
    pond: Pond,
    rng: np.random.Generator,
) -> tuple[list[Marker], F64Array]:
    """Ground-control targets: four around the rim, the rest on the floor, each on a
    levelled pad; the markers and the new heights."""
    X, Y = grid.X, grid.Y  # noqa: N806 - grid coordinates
    plate = p.gcp_size_m * GCP_PLATE_SCALE
    pads: list[tuple[float, float]] = []
    for i in range(min(4, p.gcp_count)):
        ang = math.pi / 4 + i * math.pi / 2 + float(rng.uniform(-0.3, 0.3))
        r = float(rim.radius(np.array([ang]))[0]) + RIM_GCP_OUT_M + plate
        pads.append((r * math.cos(ang), r * math.sin(ang)))
    floor_idx = np.flatnonzero((pond.floor_mask & (pond.distance > 35.0)).ravel())
    order = rng.permutation(floor_idx.size) if floor_idx.size else np.array([], dtype=int)
    for j in order:
        if len(pads) >= p.gcp_count:
            break
        cand = (float(X.ravel()[floor_idx[j]]), float(Y.ravel()[floor_idx[j]]))
        if all(math.hypot(cand[0] - q[0], cand[1] - q[1]) > _GCP_SPACING_M for q in pads):
            pads.append(cand)
    markers: list[Marker] = []
    for i, (px, py) in enumerate(pads):
        footprint = np.hypot(X - px, Y - py) < pad_radius_m(p)
        pad_z = float(np.median(z[footprint]))
        z = np.where(footprint, pad_z - 0.03, z)
        yaw = float(rng.uniform(0.0, 2 * math.pi))
        up, right = [0.0, 0.0, 1.0], [math.cos(yaw), math.sin(yaw), 0.0]
        markers.append(Marker.facing(i, p.gcp_size_m, plate, [px, py, pad_z], up, right))
    return markers, z


@dataclass(frozen=True)
class Geology:
    """Where the zone bodies were put (scene.json's scene_parameters)."""

    strike_rad: float
    ore_centre: F64Array
    ore_radii_m: F64Array
    ore_yaw_rad: float


def zone_rules(
    vertices: F64Array,
    dist_v: F64Array,
    edge_v: F64Array,
    floor_d: float,
    pond: Pond,
    seeds: npt.NDArray[np.int64],
    semi_axes: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[dict[str, F64Array], Geology]:
    """Zone fields at the vertices, in priority order (positive inside; AND = min):
    seepage water and its precipitate ring, jarosite staining near the ore on the lower
    benches, the ore body and its kaolinite halo, a dipping limestone stratum, steppe
    vegetation outside the rim."""
    a, b = semi_axes
    inside_pit = dist_v + 4.0
    dip = math.radians(_LIMESTONE_DIP_DEG)
    strike = float(rng.uniform(0, 2 * math.pi))
    n_strat = np.array(
        [math.sin(dip) * math.cos(strike), math.sin(dip) * math.sin(strike), math.cos(dip)]
    )
    strat_origin = np.array([rng.uniform(-0.3 * a, 0.3 * a), rng.uniform(-0.3 * b, 0.3 * b), -30.0])
    w = (vertices - strat_origin) @ n_strat
    ore_c = np.array([rng.uniform(-0.35 * a, 0.35 * a), rng.uniform(-0.35 * b, 0.35 * b), -45.0])
    ore_yaw = float(rng.uniform(0, math.pi))
    rot = rot_z(-ore_yaw)  # into the ore body's frame
    ore_r = np.array(_ORE_RADII_M)
    ore_rho = np.sqrt(((((vertices - ore_c) @ rot.T) / ore_r) ** 2).sum(axis=1))
    blotch = fbm(vertices, int(seeds[2]), scale_m=15.0, octaves=3)
    stain = fbm(vertices, int(seeds[3]), scale_m=12.0, octaves=3)
    ore_xy = np.hypot(vertices[:, 0] - ore_c[0], vertices[:, 1] - ore_c[1])
    ring = fbm(vertices, int(seeds[4]), scale_m=5.0, octaves=3)
    veg = fbm(vertices, int(seeds[5]), scale_m=25.0, octaves=4)
    # bare ground in patches near the rim, all steppe toward the grid edge (and the skirt)
    threshold = 0.45 - 0.6 * np.clip((25.0 - edge_v) / 25.0, 0.0, 1.0)
    thickness = _LIMESTONE_THICKNESS_M
    rules = {
        "water": np.where(pond.water.ravel(), 1.0, -1.0),
        "schwertmannite": np.minimum.reduce(
            [pond.radius_m + 9.0 - pond.distance.ravel(), ring - 0.35, dist_v - floor_d]
        ),
        "jarosite": np.minimum.reduce([-25.0 - vertices[:, 2], 90.0 - ore_xy, stain - 0.6, dist_v]),
        "oxidised_ore": np.minimum(1.0 - ore_rho, inside_pit),
        "kaolinite": np.minimum.reduce([1.45 - ore_rho, blotch - 0.42, inside_pit]),
        "limestone": np.minimum.reduce([w, thickness - w, inside_pit]),
        "vegetation": np.minimum(-4.0 - dist_v, veg - threshold),
    }
    return rules, Geology(strike, ore_c, ore_r, ore_yaw)


def pit_terrain(
    grid: PitGrid, z: F64Array, rules: dict[str, F64Array]
) -> tuple[Mesh, npt.NDArray[np.float32], tuple[int, ...]]:
    """The height field and the skirt as one mesh, with zone scores per vertex (the
    skirt is vegetation) and each face's zone; returns mesh, scores, score zones."""
    vertices = np.stack([grid.X.ravel(), grid.Y.ravel(), z.ravel()], axis=1)
    triangles = grid_triangles(len(grid.ys), len(grid.xs))
    score_zones = tuple(ZONE_IDS[k] for k in rules)
    scores = np.stack(list(rules.values()), axis=1).astype(np.float32)
    skirt = _skirt(grid.half_x, grid.half_y)
    skirt_scores = np.full((len(skirt.vertices), len(rules)), -1.0, np.float32)
    skirt_scores[:, list(rules).index("vegetation")] = 1.0
    terrain = merge([Mesh(vertices, triangles, np.zeros(len(triangles), np.uint8)), skirt])
    scores = np.concatenate([scores, skirt_scores])
    face_scores = scores[terrain.triangles].mean(axis=1)
    terrain.face_zone = classify(face_scores, score_zones, ZONE_IDS["granite"])
    return terrain, scores, score_zones


def rim_gsd_m(cfg: SimConfig) -> float:
    """Ground sample distance of the colour camera at rim level, metres per pixel."""
    half_fov = math.radians(cfg.camera.hfov_deg) / 2.0
    return 2.0 * cfg.path.altitude_m * math.tan(half_fov) / cfg.camera.width


def survey_lines(cfg: SimConfig) -> tuple[F64Array, float, float]:
    """The built-in survey: north-south lines with side overlap at rim level; waypoints,
    turn radius and line spacing."""
    half_fov = math.radians(cfg.camera.hfov_deg) / 2.0
    footprint_w = 2.0 * cfg.path.altitude_m * math.tan(half_fov)
    spacing = max(footprint_w * (1.0 - cfg.path.sidelap), 1.0)
    a, b, m = cfg.pit.width_m / 2.0, cfg.pit.length_m / 2.0, cfg.path.margin_m
    waypoints, turn_r = lawnmower(-a - m, a + m, -b - m, b + m, spacing, cfg.path.altitude_m)
    return waypoints, turn_r, spacing


def sun_direction(p: PitConfig) -> F64Array:
    """Unit vector toward the sun in local ENU."""
    az, el = math.radians(p.sun_azimuth_deg), math.radians(p.sun_elevation_deg)
    return np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])


def build_pit(cfg: SimConfig) -> Scene:
    """The open-pit scene of ``cfg`` (deterministic for ``cfg.seed``): each step below
    draws from one seeded generator in this order, so reordering them changes the pit."""
    p = cfg.pit
    rng = np.random.default_rng([cfg.seed, 101])
    seeds = rng.integers(0, 2**31 - 1, size=8)
    grid = PitGrid.of(p)
    rim = Rim(p.width_m / 2.0, p.length_m / 2.0, int(seeds[0]), p.outline_noise)
    dist = rim.signed_distance(grid)
    benches = Benches(p)
    ramp = cut_ramp(p, grid, dist, rim, benches, rng)
    z = ramp.weight * ramp.height + (1.0 - ramp.weight) * benches.height(dist)
    z = add_micro_relief(z, grid, ramp, int(seeds[1]))
    floor_d = benches.floor_starts_m
    pond, z = dig_pond(p, grid, z, dist, floor_d, ramp, rng)
    markers, z = place_ground_control(p, grid, z, rim, pond, rng)
    vertices = np.stack([grid.X.ravel(), grid.Y.ravel(), z.ravel()], axis=1)
    semi_axes = (rim.semi_x, rim.semi_y)
    edge_v = grid.edge_distance.ravel()
    rules, geology = zone_rules(
        vertices, dist.ravel(), edge_v, floor_d, pond, seeds, semi_axes, rng
    )
    terrain, scores, score_zones = pit_terrain(grid, z, rules)
    waypoints, turn_r, spacing = survey_lines(cfg)
    g = cfg.geo
    origin = LocalEnu(g.origin_lat_deg, g.origin_lon_deg, g.origin_alt_m)
    return Scene(
        kind="open-pit",
        terrain=terrain,
        vertex_scores=scores,
        score_zones=score_zones,
        base_zone=ZONE_IDS["granite"],
        markers=markers,
        origin=origin,
        mine_grid=make_mine_grid(cfg, origin),
        lighting="sun",
        default_waypoints=waypoints,
        default_corner_radius_m=turn_r,
        home_enu=np.zeros(3),
        raster_bounds_enu=(-grid.half_x, grid.half_x, -grid.half_y, grid.half_y),
        raster_res_m=grid.res,
        raster_look="down",
        underground=False,
        texture_seed=int(seeds[6]),
        texture_scale_m=PIT_TEXTURE_SCALE_M,
        texture_octaves=TEXTURE_OCTAVES,
        texture_vertex_octaves=TEXTURE_VERTEX_OCTAVES,
        sun_dir_enu=sun_direction(p),
        ambient=p.ambient,
        shadows=p.shadows,
        grain_contrast=p.detail_contrast,
        grain_scale_m=p.detail_scale_gsd * rim_gsd_m(cfg),
        parameters=pit_parameters(p, grid, benches, ramp, pond, geology, spacing),
    )


def pit_parameters(
    p: PitConfig,
    grid: PitGrid,
    benches: Benches,
    ramp: Ramp,
    pond: Pond,
    geology: Geology,
    spacing: float,
) -> dict[str, Any]:
    """What was built, for scene.json's scene_parameters."""
    return {
        "rim": f"superellipse n={_SUPERELLIPSE_N}, semi-axes {p.width_m / 2.0} m (east) x "
        f"{p.length_m / 2.0} m (north), radial noise {p.outline_noise}",
        "bench_face_width_m": benches.face_width_m,
        "floor_starts_m_from_rim": benches.floor_starts_m,
        "floor_z_m": -p.depth_m,
        "ramp": {
            "start_azimuth_deg_from_east": math.degrees(ramp.theta0) % 360.0,
            "turn": "counter-clockwise" if ramp.direction > 0 else "clockwise",
            "swept_deg": math.degrees(ramp.span_rad),
            "grade": p.ramp_grade,
            "width_m": p.ramp_width_m,
        },
        "pond": {
            "centre_enu_m": [float(pond.centre[0]), float(pond.centre[1])],
            "water_level_z_m": pond.level_z_m,
            "radius_m": pond.radius_m,
        },
        "limestone": {
            "dip_deg": _LIMESTONE_DIP_DEG,
            "dip_azimuth_deg_from_east": math.degrees(geology.strike_rad),
            "thickness_m": _LIMESTONE_THICKNESS_M,
        },
        "ore_body": {
            "centre_enu_m": geology.ore_centre.tolist(),
            "radii_m": geology.ore_radii_m.tolist(),
            "yaw_deg": math.degrees(geology.ore_yaw_rad),
        },
        "survey_line_spacing_m": spacing,
        "grid_vertices": [len(grid.xs), len(grid.ys)],
        "skirt_half_size_m": SKIRT_HALF_M,
    }


def _skirt(hx: float, hy: float) -> Mesh:
    """Flat ground from the grid's edge out to ±SKIRT_HALF_M (vegetation)."""
    s = SKIRT_HALF_M
    inner = [(-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy)]
    outer = [(-s, -s), (s, -s), (s, s), (-s, s)]
    verts = np.array([(x, y, 0.0) for x, y in inner + outer])
    tris = []
    for i in range(4):
        j = (i + 1) % 4
        tris += [(i, 4 + i, 4 + j), (i, 4 + j, j)]
    return Mesh(
        verts,
        np.array(tris, dtype=np.int32),
        np.full(len(tris), ZONE_IDS["vegetation"], dtype=np.uint8),
    )
