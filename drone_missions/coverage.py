"""Photo footprints of a plan and how well they cover the survey polygon (computed).

Photos are where the plan's camera items fire along the flown route
(:func:`drone_missions.plan.camera_photos`); each nadir photo covers a rectangle on the
ground, long side across the track for a landscape camera, scaled by its real height
above the ground (the DEM's, or above home without one). The polygon is rasterised and
every cell counted; the forward and side overlaps are measured between neighbouring
photos of a line and neighbouring lines.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from calibration.camera_model import SensorSpec
from drone_missions.check import inside_polygon
from drone_missions.dem import Dem
from drone_missions.plan import Photo, camera_photos
from drone_missions.route import Route

F64 = npt.NDArray[np.float64]
LatLon = tuple[float, float]


@dataclass
class Footprint:
    photo: Photo
    height_agl_m: float
    corners_xy: F64  # (4, 2) in the route's metric frame

    @property
    def center_xy(self) -> tuple[float, float]:
        return self.photo.position[0], self.photo.position[1]


def footprints(route: Route, camera: SensorSpec, dem: Dem | None = None) -> list[Footprint]:
    """The ground rectangle of every photo the plan takes (nadir camera)."""
    photos = camera_photos(route.items, route.item_points)
    out = []
    for ph in photos:
        x, y, z = ph.position
        if dem is not None:
            lat, lon = route.to_wgs84(x, y)
            g = float(dem.height_amsl(lat, lon))
            ground = g if math.isfinite(g) else route.home_amsl_m
        else:
            ground = route.home_amsl_m
        h = z - ground
        across = camera.sensor_width_mm if camera.landscape else camera.sensor_height_mm
        along = camera.sensor_height_mm if camera.landscape else camera.sensor_width_mm
        half_across = 0.5 * across * h / camera.focal_length_mm
        half_along = 0.5 * along * h / camera.focal_length_mm
        t = np.array([math.cos(ph.heading_rad), math.sin(ph.heading_rad)])
        n = np.array([-t[1], t[0]])
        c = np.array([x, y])
        corners = np.array(
            [
                c + t * half_along + n * half_across,
                c - t * half_along + n * half_across,
                c - t * half_along - n * half_across,
                c + t * half_along - n * half_across,
            ]
        )
        out.append(Footprint(ph, h, corners))
    return out


def coverage(
    route: Route,
    camera: SensorSpec,
    polygon: list[LatLon],
    dem: Dem | None = None,
    cell_m: float | None = None,
) -> dict[str, Any]:
    """Fraction of the polygon seen by at least one photo, photos per cell, and the
    smallest forward and side overlaps between neighbouring photos and lines."""
    from smartmine.geodesy import LocalEnu

    prints = footprints(route, camera, dem)
    enu = LocalEnu(route.home_lat_deg, route.home_lon_deg, 0.0)
    lat = np.array([p[0] for p in polygon])
    lon = np.array([p[1] for p in polygon])
    px, py, _ = enu.from_wgs84(lat, lon, np.zeros_like(lat))
    poly = np.stack([px, py], axis=1)
    if cell_m is None:
        span = max(np.ptp(px), np.ptp(py))
        cell_m = max(span / 400.0, 0.05)
    gx = np.arange(px.min() + cell_m / 2, px.max(), cell_m)
    gy = np.arange(py.min() + cell_m / 2, py.max(), cell_m)
    xx, yy = np.meshgrid(gx, gy)
    mask = inside_polygon(xx, yy, poly)
    count = np.zeros(xx.shape, dtype=np.int32)
    for fp in prints:
        c = fp.corners_xy
        x0, x1 = c[:, 0].min(), c[:, 0].max()
        y0, y1 = c[:, 1].min(), c[:, 1].max()
        i0, i1 = np.searchsorted(gx, [x0, x1])
        j0, j1 = np.searchsorted(gy, [y0, y1])
        if i1 <= i0 or j1 <= j0:
            continue
        sub = inside_polygon(xx[j0:j1, i0:i1], yy[j0:j1, i0:i1], c)
        count[j0:j1, i0:i1] += sub
    inside_counts = count[mask]
    covered = float(np.mean(inside_counts > 0)) if inside_counts.size else 0.0
    forward, side = _overlaps(prints, camera)
    return {
        "photos": len(prints),
        "cells": int(mask.sum()),
        "cell_m": cell_m,
        "covered_fraction": covered,
        "min_photos_per_cell": int(inside_counts.min()) if inside_counts.size else 0,
        "median_photos_per_cell": float(np.median(inside_counts)) if inside_counts.size else 0,
        "min_forward_overlap": forward,
        "min_side_overlap": side,
    }


def _overlaps(prints: list[Footprint], camera: SensorSpec) -> tuple[float, float]:
    """Smallest overlap between consecutive photos of a line (forward) and between
    neighbouring lines (side), each relative to the footprint's length in that direction."""
    if len(prints) < 2:
        return math.nan, math.nan
    along = camera.sensor_height_mm if camera.landscape else camera.sensor_width_mm
    across = camera.sensor_width_mm if camera.landscape else camera.sensor_height_mm
    # split into lines: consecutive photos with (nearly) the same heading
    lines: list[list[Footprint]] = [[prints[0]]]
    for a, b in itertools.pairwise(prints):
        turn = abs((b.photo.heading_rad - a.photo.heading_rad + math.pi) % (2 * math.pi) - math.pi)
        if turn > math.radians(5):
            lines.append([b])
        else:
            lines[-1].append(b)
    forward = math.inf
    for line in lines:
        for a, b in itertools.pairwise(line):
            d = math.dist(a.center_xy, b.center_xy)
            length = along * min(a.height_agl_m, b.height_agl_m) / camera.focal_length_mm
            forward = min(forward, 1.0 - d / length)
    side = math.inf

    # transects, not the short connectors between them: longer than a footprint
    def span(ln: list[Footprint]) -> float:
        return math.dist(ln[0].center_xy, ln[-1].center_xy)

    def frontal(ln: list[Footprint]) -> float:
        return along * min(fp.height_agl_m for fp in ln) / camera.focal_length_mm

    long_lines = [ln for ln in lines if len(ln) >= 3 and span(ln) > frontal(ln)]
    remaining = sorted(long_lines, key=len, reverse=True)
    while remaining:  # one group per transect direction (two with crosshatch)
        h = remaining[0][0].photo.heading_rad
        group = [
            ln
            for ln in remaining
            if abs(math.cos(ln[0].photo.heading_rad - h)) > math.cos(math.radians(5))
        ]
        remaining = [ln for ln in remaining if not any(ln is g for g in group)]
        n = np.array([-math.sin(h), math.cos(h)])
        offsets = sorted(
            (float(np.mean([fp.center_xy for fp in ln], axis=0) @ n), ln) for ln in group
        )
        for (oa, a_line), (ob, b_line) in itertools.pairwise(offsets):
            height = min(fp.height_agl_m for fp in (*a_line, *b_line))
            width = across * height / camera.focal_length_mm
            side = min(side, 1.0 - (ob - oa) / width)
    return (forward if math.isfinite(forward) else math.nan), (
        side if math.isfinite(side) else math.nan
    )


OVERLAP_TOLERANCE = 0.005
"""Achieved overlaps may fall this much (half a percent) below the requested ones."""


def coverage_shortfalls(
    cov: dict[str, Any], front_overlap: float, side_overlap: float
) -> list[str]:
    """Why a survey's computed coverage fails what was asked (empty: it does not):
    area not fully covered, or a forward or side overlap below the requested one. An
    overlap that cannot be measured (one photo, one line) is not a failure."""
    out = []
    if cov["covered_fraction"] < 1.0 - 1e-3:
        out.append(f"the photos cover {cov['covered_fraction']:.1%} of the area, not all of it")
    for name, got, wanted in (
        ("forward", cov["min_forward_overlap"], front_overlap),
        ("side", cov["min_side_overlap"], side_overlap),
    ):
        if math.isfinite(got) and got < wanted - OVERLAP_TOLERANCE:
            out.append(f"{name} overlap {got:.3f} is below the requested {wanted:.3f}")
    return out
