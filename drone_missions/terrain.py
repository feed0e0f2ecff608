"""Terrain following: waypoints over a DEM that keep a height above ground on every leg.

The ground under the whole route is sampled densely (an eighth of the DEM's post spacing,
at most ``max_step_m``); the wanted altitude there is ground + height + margin. Climb and
descent limits are applied to that profile (a climb starts early enough, a descent ends
late enough), and the route is then simplified back to as few waypoints as keep the
straight legs between them at or above the wanted altitude everywhere, and no more than
``tolerance_m`` above it. Waypoints the caller gave are kept; the added ones are marked.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drone_missions.dem import Dem
from drone_missions.errors import MissionError

F64 = npt.NDArray[np.float64]
LatLon = tuple[float, float]


@dataclass(frozen=True)
class TerrainFollowing:
    height_agl_m: float
    speed_m_s: float = 5.0
    max_climb_m_s: float = 3.0
    max_descent_m_s: float = 2.0
    tolerance_m: float = 5.0
    """How far above the wanted altitude a leg may stay before a waypoint is added."""
    margin_m: float = 0.5
    """Added to the wanted altitude at the samples, for the ground between samples..."""
    sag_m: float = 0.25
    """...of which a leg may give back this much (fewer waypoints) before one is added."""
    max_step_m: float = 2.0
    min_speed_m_s: float = 1.0
    """Where the terrain is steeper than the climb or descent rate allows at ``speed_m_s``
    (see ``max_excess_m``), fly slower, down to this (0: never slow down)."""
    speed_step_m_s: float = 0.5
    slow_margin_m: float = 20.0
    """A slow stretch starts this far before the steep ground and ends this far after."""
    max_excess_m: float | None = None
    """Slow down only where cruising would leave the vehicle this much above the wanted
    height (None: the wanted height again, i.e. twice the height above ground)."""
    min_clearance_m: float | None = 10.0
    """Also keep this much above the DEM's highest post around each sample plus its
    vertical uncertainty (what ``plan check`` measures); None: the height only."""

    def __post_init__(self) -> None:
        from drone_missions.plan import require_number

        for name, value in (
            ("height above ground (m)", self.height_agl_m),
            ("--speed-m-s", self.speed_m_s),
            ("--max-climb-m-s", self.max_climb_m_s),
            ("--max-descent-m-s", self.max_descent_m_s),
            ("sample step (m)", self.max_step_m),
        ):
            require_number(value, name, low=0.0, low_open=True)
        for name, value in (
            ("terrain tolerance (m)", self.tolerance_m),
            ("margin (m)", self.margin_m),
            ("sag (m)", self.sag_m),
            ("minimum speed (m/s)", self.min_speed_m_s),
            ("speed step (m/s)", self.speed_step_m_s),
            ("slow margin (m)", self.slow_margin_m),
        ):
            require_number(value, name, low=0.0)
        if self.min_clearance_m is not None:
            require_number(self.min_clearance_m, "--min-clearance-m", low=0.0, low_open=True)


@dataclass(frozen=True)
class TerrainPoint:
    lat_deg: float
    lon_deg: float
    amsl_m: float
    given_index: int | None
    """Index of the caller's point, or None for a waypoint added for the terrain."""
    speed_m_s: float = 0.0
    """Horizontal speed on the leg that ends here."""


def _local_xy(points: Sequence[LatLon]) -> F64:
    from smartmine.geodesy import LocalEnu

    enu = LocalEnu(points[0][0], points[0][1], 0.0)
    lat = np.array([p[0] for p in points])
    lon = np.array([p[1] for p in points])
    e, n, _ = enu.from_wgs84(lat, lon, np.zeros_like(lat))
    return np.stack([e, n], axis=1)


def densify(points: Sequence[LatLon], step_m: float) -> tuple[F64, F64, F64, list[int]]:
    """Samples along the route: lat, lon, distance along it, and the sample index of each
    given point. Positions are interpolated linearly in lat/lon (legs are short)."""
    xy = _local_xy(points)
    lats, lons, dist, marks = [points[0][0]], [points[0][1]], [0.0], [0]
    total = 0.0
    for i in range(len(points) - 1):
        length = float(np.linalg.norm(xy[i + 1] - xy[i]))
        n = max(1, math.ceil(length / step_m))
        for k in range(1, n + 1):
            f = k / n
            lats.append(points[i][0] + f * (points[i + 1][0] - points[i][0]))
            lons.append(points[i][1] + f * (points[i + 1][1] - points[i][1]))
            dist.append(total + f * length)
        total += length
        marks.append(len(lats) - 1)
    return np.array(lats), np.array(lons), np.array(dist), marks


def follow_terrain(
    points: Sequence[LatLon], dem: Dem, config: TerrainFollowing
) -> list[TerrainPoint]:
    """The route through ``points`` with AMSL altitudes that follow the terrain."""
    if len(points) < 2:
        raise MissionError("terrain following needs a route of at least 2 points")
    step = min(config.max_step_m, dem.cell_size_m / 8.0)
    lat, lon, dist, marks = densify(points, step)
    ground = dem.height_amsl(lat, lon)
    if not np.all(np.isfinite(ground)):
        k = int(np.argmax(~np.isfinite(ground)))
        raise MissionError(
            f"the route leaves the DEM {dem.path} (or crosses nodata) at "
            f"lat {lat[k]:.6f}, lon {lon[k]:.6f}"
        )
    target = ground + config.height_agl_m + config.margin_m
    if config.min_clearance_m is not None:
        # where the posts stand far above the interpolated surface (steep ground, coarse
        # DEM), rise above them by the clearance ``plan check`` demands
        floor = dem.highest_post(lat, lon) + dem.vertical_uncertainty_m + config.min_clearance_m
        # the floor steps up at cell edges, between two samples: hold each step one
        # sample early and late so that no leg cuts the corner
        floor = np.maximum(floor, np.maximum(np.roll(floor, 1), np.roll(floor, -1)))
        target = np.maximum(target, floor + config.margin_m)
    # a kink of the ground between two samples rises above their chord by at most a
    # quarter of the second difference: keep that much more at the peaks
    bulge = np.zeros_like(target)
    bulge[1:-1] = np.maximum(0.0, -(ground[:-2] - 2.0 * ground[1:-1] + ground[2:])) / 4.0
    target += np.maximum(bulge, np.maximum(np.roll(bulge, 1), np.roll(bulge, -1)))
    ds = np.maximum(np.diff(dist), 1e-9)
    speed = segment_speeds(target, dist, config)
    target = _rate_limited(target, ds, config.max_climb_m_s / speed, config.max_descent_m_s / speed)
    # waypoints where the speed changes, so that each leg is flown at one speed
    changes = (np.flatnonzero(np.diff(speed) != 0) + 1).tolist()
    anchors = sorted(set(marks) | set(changes))
    keep = set(anchors)
    for a, b in itertools.pairwise(anchors):
        _simplify(dist, target, a, b, config.tolerance_m, config.sag_m, keep)
    out = []
    given = {m: i for i, m in enumerate(marks)}
    kept = sorted(keep)
    previous = kept[0]
    for k in kept:
        leg_speed = float(speed[previous:k].min()) if k > previous else config.speed_m_s
        point = TerrainPoint(
            float(lat[k]), float(lon[k]), float(target[k]), given.get(k), leg_speed
        )
        out.append(point)
        previous = k
    return out


def _rate_limited(target: F64, ds: F64, climb: F64, descent: F64) -> F64:
    """The lowest profile above ``target`` whose grades stay within the climb and descent
    grades of each segment (a climb starts early enough, a descent ends late enough)."""
    out = target.copy()
    for k in range(len(out) - 2, -1, -1):
        out[k] = max(out[k], out[k + 1] - climb[k] * ds[k])
    for k in range(1, len(out)):
        out[k] = max(out[k], out[k - 1] - descent[k - 1] * ds[k - 1])
    return out


def segment_speeds(target: F64, dist: F64, config: TerrainFollowing) -> F64:
    """Speed on each segment between samples: the cruise speed, or slower where at cruise
    speed the climb or descent rate would leave the vehicle more than ``max_excess_m``
    above the wanted height (there, as slow as the ground's grade needs, in steps of
    ``speed_step_m_s``, held ``slow_margin_m`` before and after)."""
    from scipy.ndimage import binary_dilation, minimum_filter1d

    cruise = config.speed_m_s
    ds = np.maximum(np.diff(dist), 1e-9)
    flat = np.full(len(ds), cruise)
    if config.min_speed_m_s <= 0 or not len(ds):
        return flat
    at_cruise = _rate_limited(
        target, ds, np.full(len(ds), config.max_climb_m_s / cruise),
        np.full(len(ds), config.max_descent_m_s / cruise),
    )  # fmt: skip
    limit = config.max_excess_m if config.max_excess_m is not None else config.height_agl_m
    high = at_cruise - target > limit
    if not high.any():
        return flat
    window = max(1, math.ceil(config.slow_margin_m / float(np.median(ds))))
    region = binary_dilation(high[:-1] | high[1:], iterations=window)
    grade = np.diff(target) / ds
    with np.errstate(divide="ignore"):
        need = np.where(
            grade > 0,
            config.max_climb_m_s / np.maximum(grade, 1e-12),
            config.max_descent_m_s / np.maximum(-grade, 1e-12),
        )
    v = np.clip(np.minimum(need, cruise), config.min_speed_m_s, cruise)
    step = config.speed_step_m_s
    v = np.maximum(np.floor(v / step) * step, min(config.min_speed_m_s, cruise))
    v = np.where(region, v, cruise)
    out: F64 = minimum_filter1d(v, size=2 * window + 1, mode="nearest")
    return out


def _simplify(
    dist: F64, target: F64, a: int, b: int, tolerance: float, sag: float, keep: set[int]
) -> None:
    stack = [(a, b)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        s = dist[i + 1 : j]
        line = target[i] + (target[j] - target[i]) * (s - dist[i]) / max(dist[j] - dist[i], 1e-9)
        dev = target[i + 1 : j] - line
        k_hi = int(np.argmax(dev))
        k_lo = int(np.argmin(dev))
        if dev[k_hi] > sag:
            k = i + 1 + k_hi
        elif dev[k_lo] < -tolerance:
            k = i + 1 + k_lo
        else:
            continue
        keep.add(k)
        stack += [(i, k), (k, j)]


def leg_clearance(
    route: Sequence[tuple[float, float, float]], dem: Dem, step_m: float | None = None
) -> tuple[F64, F64, F64, F64]:
    """Clearance above the DEM along straight legs between (lat, lon, amsl) points:
    sample lat, lon, clearance (m) and the leg index of each sample."""
    step = step_m if step_m is not None else min(2.0, dem.cell_size_m / 8.0)
    pts = [(p[0], p[1]) for p in route]
    lat, lon, dist, marks = densify(pts, step)
    alt = np.empty_like(lat)
    leg = np.empty(len(lat))
    alt[0], leg[0] = route[0][2], 0
    for i, (a, b) in enumerate(itertools.pairwise(marks)):
        span = max(dist[b] - dist[a], 1e-9)
        f = (dist[a + 1 : b + 1] - dist[a]) / span
        alt[a + 1 : b + 1] = route[i][2] + f * (route[i + 1][2] - route[i][2])
        leg[a + 1 : b + 1] = i
    clearance = alt - dem.height_amsl(lat, lon)
    return lat, lon, clearance, leg
