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

Near the ground that map is coarse (a cell holds the highest vertex within 1.5 cells),
so many rays from slopes and bench toes fail it although they are free. Those get a
second, per-ray test on a finer grid (:data:`FINE_CELL_M`) whose cells hold an upper
bound of the surface over them (each triangle's plane at the corners of its bounding box
clipped to the cell, at most its highest vertex): the ray walks the fine cells it
crosses, clear of a cell's triangles where it enters the cell above that bound, until
it reaches a point above ``S`` of the coarse cell there (free from there on), for at most
:data:`FINE_MAX_CELLS` cells.

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
FINE_CELL_M = 0.25
"""Cell of the near-field grid (see module doc)."""
FINE_BOX_PAD_M = 0.002
"""Triangles' bounding boxes grow by this on the fine grid (float32 rays stray < 0.1 mm)."""
FINE_MAX_CELLS = 8
"""Fine cells a ray walks before it is cast anyway: in the pit, longer walks proved few
more rays free (0.25 m cells, 8 cells: a third of the rays the coarse map left, for
~2.5 ms per frame; 0.125 m or 96 cells: little more, at 2-4× the cost)."""


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
def _raster_plane_kernel(
    vertices: F64Array,
    triangles: npt.NDArray[np.int32],
    x0: float,
    y0: float,
    cell: float,
    pad: float,
    heights: F64Array,
) -> None:
    """Per fine cell an upper bound of every triangle over it: the triangle's plane at
    the corners of its padded bounding box clipped to the cell, at most its highest
    vertex (steep triangles: the highest vertex)."""
    ny, nx = heights.shape
    for f in range(triangles.shape[0]):
        a, b, c = triangles[f, 0], triangles[f, 1], triangles[f, 2]
        ax, ay, az = vertices[a, 0], vertices[a, 1], vertices[a, 2]
        ux, uy, uz = vertices[b, 0] - ax, vertices[b, 1] - ay, vertices[b, 2] - az
        vx, vy, vz = vertices[c, 0] - ax, vertices[c, 1] - ay, vertices[c, 2] - az
        nx_ = uy * vz - uz * vy
        ny_ = uz * vx - ux * vz
        nz_ = ux * vy - uy * vx
        norm = np.sqrt(nx_ * nx_ + ny_ * ny_ + nz_ * nz_)
        steep = abs(nz_) < 0.05 * norm
        z_max = max(az, vertices[b, 2], vertices[c, 2])
        x_lo = min(ax, vertices[b, 0], vertices[c, 0]) - pad
        x_hi = max(ax, vertices[b, 0], vertices[c, 0]) + pad
        y_lo = min(ay, vertices[b, 1], vertices[c, 1]) - pad
        y_hi = max(ay, vertices[b, 1], vertices[c, 1]) + pad
        i0, i1 = int(np.floor((x_lo - x0) / cell)), int(np.floor((x_hi - x0) / cell))
        j0, j1 = int(np.floor((y_lo - y0) / cell)), int(np.floor((y_hi - y0) / cell))
        for j in range(max(j0, 0), min(j1, ny - 1) + 1):
            cy0 = max(y0 + j * cell, y_lo)
            cy1 = min(y0 + (j + 1) * cell, y_hi)
            for i in range(max(i0, 0), min(i1, nx - 1) + 1):
                z = z_max
                if not steep:
                    cx0 = max(x0 + i * cell, x_lo)
                    cx1 = min(x0 + (i + 1) * cell, x_hi)
                    # z over the plane: az - (nx (x - ax) + ny (y - ay)) / nz, largest at
                    # a corner of the rectangle
                    gx, gy = -nx_ / nz_, -ny_ / nz_
                    zx = max(gx * (cx0 - ax), gx * (cx1 - ax))
                    zy = max(gy * (cy0 - ay), gy * (cy1 - ay))
                    z = min(z, az + zx + zy)
                heights[j, i] = max(heights[j, i], z)


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


@jit
def _near_field_kernel(
    points: F64Array,
    normals: F64Array,
    lit: npt.NDArray[np.int64],
    offset_m: float,
    x0: float,
    y0: float,
    cell: float,
    free_above: F64Array,
    fx0: float,
    fy0: float,
    fine: float,
    fine_heights: F64Array,
    dx: float,
    dy: float,
    tan_el: float,
    max_cells: int,
    maybe: npt.NDArray[np.bool_],
) -> None:
    """For the rays the coarse map left (``maybe``): walk the fine cells the ray crosses
    (its horizontal path from the start, entering each at height ``z + s tan_el``);
    False where it clears each one until a point the coarse map proves free."""
    ny, nx = free_above.shape
    fny, fnx = fine_heights.shape
    inf = np.inf
    for k in range(lit.shape[0]):
        if not maybe[k]:
            continue
        m = lit[k]
        x = points[m, 0] + normals[m, 0] * offset_m
        y = points[m, 1] + normals[m, 1] * offset_m
        z = points[m, 2] + normals[m, 2] * offset_m
        i = int(np.floor((x - fx0) / fine))
        j = int(np.floor((y - fy0) / fine))
        step_i = 1 if dx > 0.0 else -1
        step_j = 1 if dy > 0.0 else -1
        if dx != 0.0:
            edge_x = fx0 + (i + (1 if dx > 0.0 else 0)) * fine
            next_x, delta_x = (edge_x - x) / dx, fine / abs(dx)
        else:
            next_x, delta_x = inf, inf
        if dy != 0.0:
            edge_y = fy0 + (j + (1 if dy > 0.0 else 0)) * fine
            next_y, delta_y = (edge_y - y) / dy, fine / abs(dy)
        else:
            next_y, delta_y = inf, inf
        s = 0.0  # horizontal distance where the ray enters fine cell (i, j)
        for _ in range(max_cells):
            if i < 0 or j < 0 or i >= fnx or j >= fny:
                break
            zs = z + s * tan_el
            if not zs > fine_heights[j, i]:
                break
            xs, ys = x + s * dx, y + s * dy
            ci, cj = int(np.floor((xs - x0) / cell)), int(np.floor((ys - y0) / cell))
            if ci >= 0 and cj >= 0 and ci < nx and cj < ny and zs > free_above[cj, ci]:
                maybe[k] = False  # free up to here, and from here on
                break
            if next_x < next_y:
                s = next_x
                next_x += delta_x
                i += step_i
            else:
                s = next_y
                next_y += delta_y
                j += step_j


@dataclass(frozen=True)
class SunShadowMap:
    """Per cell, the height above which a ray toward the sun is free (see module doc)."""

    x0: float
    y0: float
    cell_m: float
    free_above: F64Array
    fine_cell_m: float
    fine_heights: F64Array
    """Per fine cell, an upper bound of the surface over it plus the margin."""
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
        fine = FINE_CELL_M
        fine_heights = np.full(
            (math.ceil((y_max - y_min) / fine), math.ceil((x_max - x_min) / fine)), -np.inf
        )
        _raster_plane_kernel(
            vertices, mesh.triangles, x_min, y_min, fine, FINE_BOX_PAD_M, fine_heights
        )
        fine_heights += MARGIN_M
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
        return cls(x_min, y_min, cell, free_above, fine, fine_heights, z_out, sun_2d)

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
        if dx != 0.0 or dy != 0.0:
            _near_field_kernel(
                points,
                normals,
                lit,
                offset_m,
                self.x0,
                self.y0,
                self.cell_m,
                self.free_above,
                self.x0,
                self.y0,
                self.fine_cell_m,
                self.fine_heights,
                dx,
                dy,
                tan_el,
                FINE_MAX_CELLS,
                out,
            )
        return out
