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

import numpy as np
import numpy.typing as npt

from simulator.config import SimConfig
from simulator.markers import Marker
from simulator.mesh import ZONE_IDS, Mesh, classify, grid_triangles, merge
from simulator.noise import fbm
from simulator.scene import Scene, make_mine_grid
from simulator.trajectory import lawnmower
from smartmine.geodesy import LocalEnu

F64Array = npt.NDArray[np.float64]

SKIRT_HALF_M = 3000.0
_SUPERELLIPSE_N = 2.6
_RAMP_EDGE_M = 3.0


def _outline_factor(phi: F64Array, seed: int, amount: float) -> F64Array:
    """Periodic radial wobble of the rim (noise sampled on a circle, so it closes)."""
    ring = np.stack([2.5 * np.cos(phi), 2.5 * np.sin(phi), np.zeros_like(phi)], axis=-1)
    return np.asarray(1.0 + amount * (2.0 * fbm(ring, seed, scale_m=1.0, octaves=3) - 1.0))


def _superellipse_radius(phi: F64Array, a: float, b: float) -> F64Array:
    n = _SUPERELLIPSE_N
    c, s = np.abs(np.cos(phi)), np.abs(np.sin(phi))
    return np.asarray(1.0 / ((c / a) ** n + (s / b) ** n) ** (1.0 / n))


def build_pit(cfg: SimConfig) -> Scene:
    """The open-pit scene of ``cfg`` (deterministic for ``cfg.seed``)."""
    from scipy.ndimage import distance_transform_edt, gaussian_filter

    p = cfg.pit
    rng = np.random.default_rng([cfg.seed, 101])
    seeds = rng.integers(0, 2**31 - 1, size=8)
    a, b = p.width_m / 2.0, p.length_m / 2.0
    res = p.grid_res_m
    hx, hy = a + p.margin_m, b + p.margin_m
    nx, ny = round(2 * hx / res) + 1, round(2 * hy / res) + 1
    xs = np.linspace(-hx, hx, nx)
    ys = np.linspace(-hy, hy, ny)
    X, Y = np.meshgrid(xs, ys)  # noqa: N806 - grid coordinates
    phi = np.arctan2(Y, X)
    radius = np.hypot(X, Y)

    # rim and signed distance from it (positive inside)
    def rim_radius(angle: F64Array) -> F64Array:
        return _superellipse_radius(angle, a, b) * _outline_factor(
            angle, int(seeds[0]), p.outline_noise
        )

    inside = radius <= rim_radius(phi)
    d_in = distance_transform_edt(inside) * res
    d_out = distance_transform_edt(~inside) * res
    dist = np.where(inside, d_in - res / 2.0, -(d_out - res / 2.0))
    # the transform of a rasterised rim steps at cell scale; smooth it so bench lines and
    # zone borders run clean
    dist = gaussian_filter(dist, sigma=1.0 / res, mode="nearest")

    # benches
    face_w = p.bench_height_m / math.tan(math.radians(p.face_angle_deg))
    period = face_w + p.berm_width_m

    def bench_profile(d: F64Array) -> F64Array:
        dd = np.maximum(d, 0.0)
        k = np.floor(dd / period)
        r = dd - k * period
        z = -(k * p.bench_height_m + p.bench_height_m * np.minimum(r / face_w, 1.0))
        return np.asarray(np.maximum(z, -p.depth_m))

    z = bench_profile(dist)
    floor_d = (math.ceil(p.depth_m / p.bench_height_m) - 1) * period + face_w

    # haul ramp: integrate its elevation around the pit along the mean wall line
    def wall_distance(z_m: F64Array | float) -> F64Array:
        return np.asarray(-np.asarray(z_m) / p.bench_height_m * period)

    theta0 = float(rng.uniform(-math.pi, math.pi))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    step = 0.002
    thetas, z_r = [0.0], [0.0]
    while z_r[-1] > -p.depth_m and thetas[-1] < 4 * math.pi:
        ang = theta0 + direction * thetas[-1]
        r_c = float(rim_radius(np.array([ang]))[0]) - float(wall_distance(z_r[-1]))
        z_r.append(z_r[-1] - p.ramp_grade * max(r_c, 5.0) * step)
        thetas.append(thetas[-1] + step)
    ramp_theta = np.array(thetas)
    ramp_z = np.maximum(np.array(z_r), -p.depth_m)
    span = float(ramp_theta[-1])
    rel = ((phi - theta0) * direction) % (2 * math.pi)
    best_gap = np.full(z.shape, np.inf)
    best_z = np.zeros_like(z)
    for k in range(math.ceil(span / (2 * math.pi)) + 1):
        th = rel + 2 * math.pi * k
        on = th <= span
        zr = np.interp(th, ramp_theta, ramp_z)
        gap = np.where(on, np.abs(dist - wall_distance(zr)), np.inf)
        closer = gap < best_gap
        best_gap = np.where(closer, gap, best_gap)
        best_z = np.where(closer, zr, best_z)
    half_w = p.ramp_width_m / 2.0
    ramp_w = np.clip((half_w + _RAMP_EDGE_M - best_gap) / _RAMP_EDGE_M, 0.0, 1.0)
    ramp_w = np.where(dist > -half_w - _RAMP_EDGE_M, ramp_w, 0.0)
    z = ramp_w * best_z + (1.0 - ramp_w) * z
    # round crests and toes a little (as blasting and scaling leave them); this also keeps
    # the height field's triangles from zig-zagging along the benches
    z = gaussian_filter(z, sigma=0.6 / res * max(res, 0.5), mode="nearest")

    # micro-relief, rougher on faces, smooth on the haul road, fading at the grid edge
    gy, gx = np.gradient(z, res)
    slope = np.hypot(gx, gy)
    amp = (0.08 + 0.3 * np.clip(slope / 2.0, 0.0, 1.0)) * (1.0 - 0.8 * ramp_w)
    edge = np.minimum(hx - np.abs(X), hy - np.abs(Y))
    amp *= np.clip(edge / 15.0, 0.0, 1.0)
    pts2 = np.stack([X, Y, np.zeros_like(X)], axis=-1)
    z = z + amp * 2.0 * (fbm(pts2, int(seeds[1]), scale_m=6.0, octaves=4) - 0.5)

    # seepage pond in a basin on the floor, away from the ramp
    floor_mask = (dist > floor_d + 20.0) & (ramp_w == 0.0)
    candidates = np.flatnonzero(floor_mask.ravel())
    if candidates.size == 0:
        candidates = np.flatnonzero((dist > floor_d).ravel())
    if candidates.size == 0:
        candidates = np.array([int(np.argmax(dist))])
    pick = int(candidates[int(rng.integers(0, candidates.size))])
    pond_c = np.array([X.ravel()[pick], Y.ravel()[pick]])
    r_pond = np.hypot(X - pond_c[0], Y - pond_c[1])
    on_floor = np.clip((dist - floor_d) / 5.0, 0.0, 1.0)
    z = z - 1.5 * np.exp(-(r_pond**2) / (2 * 12.0**2)) * on_floor
    water_level = -p.depth_m - 0.4
    water = (z < water_level) & (r_pond < 40.0)
    z = np.where(water, water_level, z)

    # ground-control targets: four around the rim, two on the floor
    markers: list[Marker] = []
    plate = p.gcp_size_m * 1.25
    pads: list[tuple[float, float]] = []
    for i in range(min(4, p.gcp_count)):
        ang = math.pi / 4 + i * math.pi / 2 + float(rng.uniform(-0.3, 0.3))
        r = float(rim_radius(np.array([ang]))[0]) + 15.0 + plate
        pads.append((r * math.cos(ang), r * math.sin(ang)))
    floor_ok = floor_mask & (r_pond > 35.0)
    floor_idx = np.flatnonzero(floor_ok.ravel())
    order = rng.permutation(floor_idx.size) if floor_idx.size else np.array([], dtype=int)
    for j in order:
        if len(pads) >= p.gcp_count:
            break
        cand = (float(X.ravel()[floor_idx[j]]), float(Y.ravel()[floor_idx[j]]))
        if all(math.hypot(cand[0] - q[0], cand[1] - q[1]) > 40.0 for q in pads):
            pads.append(cand)
    for i, (px, py) in enumerate(pads):
        footprint = np.hypot(X - px, Y - py) < plate * 0.75 + 1.0
        pad_z = float(np.median(z[footprint]))
        z = np.where(footprint, pad_z - 0.03, z)
        yaw = float(rng.uniform(0.0, 2 * math.pi))
        markers.append(
            Marker.facing(
                i,
                p.gcp_size_m,
                plate,
                [px, py, pad_z],
                [0.0, 0.0, 1.0],
                [math.cos(yaw), math.sin(yaw), 0.0],
            )
        )

    vertices = np.stack([X.ravel(), Y.ravel(), z.ravel()], axis=1)
    triangles = grid_triangles(ny, nx)
    dist_v = dist.ravel()

    # geology as zone fields at the vertices (positive inside; AND = min)
    inside_pit = dist_v + 4.0
    dip = math.radians(35.0)
    strike = float(rng.uniform(0, 2 * math.pi))
    n_strat = np.array(
        [math.sin(dip) * math.cos(strike), math.sin(dip) * math.sin(strike), math.cos(dip)]
    )
    strat_origin = np.array([rng.uniform(-0.3 * a, 0.3 * a), rng.uniform(-0.3 * b, 0.3 * b), -30.0])
    w = (vertices - strat_origin) @ n_strat
    ore_c = np.array([rng.uniform(-0.35 * a, 0.35 * a), rng.uniform(-0.35 * b, 0.35 * b), -45.0])
    ore_yaw = float(rng.uniform(0, math.pi))
    rot = np.array(
        [
            [math.cos(ore_yaw), math.sin(ore_yaw), 0.0],
            [-math.sin(ore_yaw), math.cos(ore_yaw), 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    ore_r = np.array([75.0, 40.0, 40.0])
    ore_rho = np.sqrt(((((vertices - ore_c) @ rot.T) / ore_r) ** 2).sum(axis=1))
    blotch = fbm(vertices, int(seeds[2]), scale_m=15.0, octaves=3)
    stain = fbm(vertices, int(seeds[3]), scale_m=12.0, octaves=3)
    ore_xy = np.hypot(vertices[:, 0] - ore_c[0], vertices[:, 1] - ore_c[1])
    pond_radius = float(r_pond[water].max()) if np.any(water) else 0.0
    ring = fbm(vertices, int(seeds[4]), scale_m=5.0, octaves=3)
    veg = fbm(vertices, int(seeds[5]), scale_m=25.0, octaves=4)
    # bare ground in patches near the rim, all steppe toward the grid edge (and the skirt)
    edge_v = edge.ravel()
    threshold = 0.45 - 0.6 * np.clip((25.0 - edge_v) / 25.0, 0.0, 1.0)
    rules = {
        "water": np.where(water.ravel(), 1.0, -1.0),
        "schwertmannite": np.minimum.reduce(
            [pond_radius + 9.0 - r_pond.ravel(), ring - 0.35, dist_v - floor_d]
        ),
        "jarosite": np.minimum.reduce([-25.0 - vertices[:, 2], 90.0 - ore_xy, stain - 0.6, dist_v]),
        "oxidised_ore": np.minimum(1.0 - ore_rho, inside_pit),
        "kaolinite": np.minimum.reduce([1.45 - ore_rho, blotch - 0.42, inside_pit]),
        "limestone": np.minimum.reduce([w, 22.0 - w, inside_pit]),
        "vegetation": np.minimum(-4.0 - dist_v, veg - threshold),
    }
    score_zones = tuple(ZONE_IDS[k] for k in rules)
    scores = np.stack(list(rules.values()), axis=1).astype(np.float32)
    skirt = _skirt(hx, hy)
    skirt_scores = np.full((len(skirt.vertices), len(rules)), -1.0, np.float32)
    skirt_scores[:, list(rules).index("vegetation")] = 1.0
    terrain = merge([Mesh(vertices, triangles, np.zeros(len(triangles), np.uint8)), skirt])
    scores = np.concatenate([scores, skirt_scores])
    base_zone = ZONE_IDS["granite"]
    terrain.face_zone = classify(scores[terrain.triangles].mean(axis=1), score_zones, base_zone)

    # built-in survey: north-south lines, side overlap at rim level
    footprint_w = 2.0 * cfg.path.altitude_m * math.tan(math.radians(cfg.camera.hfov_deg) / 2.0)
    spacing = max(footprint_w * (1.0 - cfg.path.sidelap), 1.0)
    m = cfg.path.margin_m
    waypoints, turn_r = lawnmower(-a - m, a + m, -b - m, b + m, spacing, cfg.path.altitude_m)

    g = cfg.geo
    origin = LocalEnu(g.origin_lat_deg, g.origin_lon_deg, g.origin_alt_m)
    mine_grid = make_mine_grid(cfg, origin)
    az, el = math.radians(p.sun_azimuth_deg), math.radians(p.sun_elevation_deg)
    sun = np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])
    return Scene(
        kind="open-pit",
        terrain=terrain,
        vertex_scores=scores,
        score_zones=score_zones,
        base_zone=base_zone,
        markers=markers,
        origin=origin,
        mine_grid=mine_grid,
        lighting="sun",
        default_waypoints=waypoints,
        default_corner_radius_m=turn_r,
        home_enu=np.zeros(3),
        raster_bounds_enu=(-hx, hx, -hy, hy),
        raster_res_m=res,
        raster_look="down",
        underground=False,
        texture_seed=int(seeds[6]),
        texture_scale_m=4.0,
        texture_octaves=6,
        texture_vertex_octaves=3,
        sun_dir_enu=sun,
        ambient=p.ambient,
        shadows=p.shadows,
        parameters={
            "rim": f"superellipse n={_SUPERELLIPSE_N}, semi-axes {a} m (east) x {b} m "
            f"(north), radial noise {p.outline_noise}",
            "bench_face_width_m": face_w,
            "floor_starts_m_from_rim": floor_d,
            "floor_z_m": -p.depth_m,
            "ramp": {
                "start_azimuth_deg_from_east": math.degrees(theta0) % 360.0,
                "turn": "counter-clockwise" if direction > 0 else "clockwise",
                "swept_deg": math.degrees(span),
                "grade": p.ramp_grade,
                "width_m": p.ramp_width_m,
            },
            "pond": {
                "centre_enu_m": [float(pond_c[0]), float(pond_c[1])],
                "water_level_z_m": water_level,
                "radius_m": pond_radius,
            },
            "limestone": {
                "dip_deg": 35.0,
                "dip_azimuth_deg_from_east": math.degrees(strike),
                "thickness_m": 22.0,
            },
            "ore_body": {
                "centre_enu_m": ore_c.tolist(),
                "radii_m": ore_r.tolist(),
                "yaw_deg": math.degrees(ore_yaw),
            },
            "survey_line_spacing_m": spacing,
            "grid_vertices": [int(nx), int(ny)],
            "skirt_half_size_m": SKIRT_HALF_M,
        },
    )


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
