"""Which shadow rays need casting: a conservative sun-shadow map of the scene.

Cast shadows are a second ray per lit point toward the sun, about as costly as the
primary raycast. Most of those rays are provably free, and this map proves it cheaply:

1. rasterise the mesh into a grid of ``cell_m`` cells, each holding the highest vertex
   of any triangle whose bounding box touches it (everything outside the grid counts at
   the height of the highest triangle reaching outside), dilated by one cell and raised
   by :data:`MARGIN_M`;
2. march from every cell toward the sun: a ray starting anywhere in the cell rises
   ``tan(elevation)`` per metre, so it is free of every triangle if it starts above
   ``S = max over the march of (height - rise)``.

A ray starting above ``S`` of its cell cannot hit anything, so Open3D would report it
unblocked: skipping it changes no result. The dilation covers the ray's offset from the
cell centre, the margin covers Open3D's float32 geometry.

A ray starting outside the grid (the plain around the pit that the camera sees beyond
the rim) is free if it starts above everything outside the grid and, where its path
toward the sun enters the grid, is above ``S`` of the cell it enters. Every other ray is
cast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.compiled import jit
from simulator.mesh import Mesh

F64Array = npt.NDArray[np.float64]

MARGIN_M = 0.02
"""Safety height over every triangle (float32 vertices and rays are off by < 1 mm)."""
CELL_M = 0.5
SAMPLES_PER_CELL = 4
"""March steps per cell length."""


@jit
def _raster_max_kernel(
    vertices: F64Array,
    triangles: npt.NDArray[np.int32],
    x0: float,
    y0: float,
    cell: float,
    heights: F64Array,
    outside: F64Array,
) -> None:
    ny, nx = heights.shape
    for f in range(triangles.shape[0]):
        a, b, c = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        z_max = max(vertices[a, 2], vertices[b, 2], vertices[c, 2])
        x_lo = min(vertices[a, 0], vertices[b, 0], vertices[c, 0])
        x_hi = max(vertices[a, 0], vertices[b, 0], vertices[c, 0])
        y_lo = min(vertices[a, 1], vertices[b, 1], vertices[c, 1])
        y_hi = max(vertices[a, 1], vertices[b, 1], vertices[c, 1])
        i0, i1 = int(np.floor((x_lo - x0) / cell)), int(np.floor((x_hi - x0) / cell))
        j0, j1 = int(np.floor((y_lo - y0) / cell)), int(np.floor((y_hi - y0) / cell))
        if i0 < 0 or j0 < 0 or i1 >= nx or j1 >= ny:
            outside[0] = max(outside[0], z_max)
        for j in range(max(j0, 0), min(j1, ny - 1) + 1):
            for i in range(max(i0, 0), min(i1, nx - 1) + 1):
                heights[j, i] = max(heights[j, i], z_max)


@jit
def _march_kernel(
    heights: F64Array,
    x0: float,
    y0: float,
    cell: float,
    dx: float,
    dy: float,
    tan_el: float,
    z_top: float,
    z_outside: float,
    step: float,
    free_above: F64Array,
) -> None:
    ny, nx = heights.shape
    for j in range(ny):
        for i in range(nx):
            cx, cy = x0 + (i + 0.5) * cell, y0 + (j + 0.5) * cell
            s = -np.inf
            t = 0.0
            while z_top - t * tan_el > s:
                ii = int(np.floor((cx + t * dx - x0) / cell))
                jj = int(np.floor((cy + t * dy - y0) / cell))
                if ii < 0 or jj < 0 or ii >= nx or jj >= ny:
                    # left the grid (a rectangle: no way back) where nothing is higher
                    # than z_outside; it rose at least this much before leaving
                    s = max(s, z_outside - max(t - step, 0.0) * tan_el)
                    break
                s = max(s, heights[jj, ii] - t * tan_el)
                t += step
            free_above[j, i] = s


@jit
def _may_be_shadowed_kernel(
    points: F64Array,
    normals: F64Array,
    lit: npt.NDArray[np.int64],
    offset_m: float,
    x0: float,
    y0: float,
    cell: float,
    free_above: F64Array,
    outside_above: float,
    dx: float,
    dy: float,
    tan_el: float,
    out: npt.NDArray[np.bool_],
) -> None:
    ny, nx = free_above.shape
    x1, y1 = x0 + nx * cell, y0 + ny * cell
    for k in range(lit.shape[0]):
        m = lit[k]
        x = points[m, 0] + normals[m, 0] * offset_m
        y = points[m, 1] + normals[m, 1] * offset_m
        z = points[m, 2] + normals[m, 2] * offset_m
        i, j = int(np.floor((x - x0) / cell)), int(np.floor((y - y0) / cell))
        if i >= 0 and j >= 0 and i < nx and j < ny:
            out[k] = not z > free_above[j, i]
            continue
        out[k] = True
        if not z > outside_above:
            continue
        # where the horizontal path toward the sun enters the grid rectangle, if it does
        s_in, s_out = 0.0, np.inf
        if dx != 0.0:
            sa, sb = (x0 - x) / dx, (x1 - x) / dx
            s_in, s_out = max(s_in, min(sa, sb)), min(s_out, max(sa, sb))
        elif not x0 <= x <= x1:
            s_out = -1.0
        if dy != 0.0:
            sa, sb = (y0 - y) / dy, (y1 - y) / dy
            s_in, s_out = max(s_in, min(sa, sb)), min(s_out, max(sa, sb))
        elif not y0 <= y <= y1:
            s_out = -1.0
        if not s_in < s_out:
            out[k] = False  # never over the grid: above everything it passes
            continue
        i = min(max(int(np.floor((x + s_in * dx - x0) / cell)), 0), nx - 1)
        j = min(max(int(np.floor((y + s_in * dy - y0) / cell)), 0), ny - 1)
        out[k] = not z + s_in * tan_el > free_above[j, i]


@dataclass(frozen=True)
class SunShadowMap:
    """Per cell, the height above which a ray toward the sun is free (see module doc)."""

    x0: float
    y0: float
    cell_m: float
    free_above: F64Array
    outside_above: float
    """Height above which a ray starting outside the grid clears everything there."""
    sun: tuple[float, float, float]
    """Horizontal unit direction toward the sun and its rise per metre (at the zenith:
    0, 0, 0; only rays from above ``outside_above`` outside the grid, never entering)."""

    @classmethod
    def build(
        cls, mesh: Mesh, bounds: tuple[float, float, float, float], sun: F64Array
    ) -> SunShadowMap:
        """The map of ``mesh`` over ``bounds`` (x_min, x_max, y_min, y_max) for a sun in
        unit direction ``sun`` (above the horizon)."""
        from scipy.ndimage import maximum_filter

        x_min, x_max, y_min, y_max = bounds
        cell = CELL_M
        nx, ny = math.ceil((x_max - x_min) / cell), math.ceil((y_max - y_min) / cell)
        heights = np.full((ny, nx), -np.inf)
        outside = np.array([-np.inf])
        vertices = np.ascontiguousarray(mesh.vertices, dtype=np.float64)
        _raster_max_kernel(vertices, mesh.triangles, x_min, y_min, cell, heights, outside)
        heights = maximum_filter(heights, size=3, mode="nearest") + MARGIN_M
        z_top = float(vertices[:, 2].max()) + MARGIN_M
        z_out = float(outside[0]) + MARGIN_M
        horizontal = math.hypot(float(sun[0]), float(sun[1]))
        free_above = np.empty_like(heights)
        if horizontal < 1e-9:  # sun at the zenith: only the cell itself can shade
            free_above[:] = heights
            sun_2d = (0.0, 0.0, 0.0)
        else:
            dx, dy = float(sun[0]) / horizontal, float(sun[1]) / horizontal
            tan_el = float(sun[2]) / horizontal
            sun_2d = (dx, dy, tan_el)
            step = cell / SAMPLES_PER_CELL
            _march_kernel(
                heights, x_min, y_min, cell, dx, dy, tan_el, z_top, z_out, step, free_above
            )
        return cls(x_min, y_min, cell, free_above, z_out, sun_2d)

    def may_be_shadowed(
        self, points: F64Array, normals: F64Array, lit: npt.NDArray[np.int64], offset_m: float
    ) -> npt.NDArray[np.bool_]:
        """For the shadow rays from ``points[lit] + normals[lit] * offset_m``: False where
        the ray is certainly free, True where it must be cast."""
        out = np.empty(len(lit), dtype=bool)
        dx, dy, tan_el = self.sun
        _may_be_shadowed_kernel(
            points,
            normals,
            lit,
            offset_m,
            self.x0,
            self.y0,
            self.cell_m,
            self.free_above,
            self.outside_above,
            dx,
            dy,
            tan_el,
            out,
        )
        return out
