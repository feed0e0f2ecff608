"""Fixed lamps in the drift: fittings hung from the crown, as geometry and as light.

Real drifts are lit at intervals: bulkhead fittings (here a 0.6 m × 0.16 m × 0.09 m
housing with an opal diffuser, on a bracket 12 cm under the crown, or with
``fixed_lamp_mount: wall`` on the right-hand wall 2.7 m up) every
``fixed_lamp_spacing_m`` along the main drift, halfway between two rings of rock bolts
when the spacings allow, and one over the junction. They are

- **geometry**: the housing and its bracket are closed boxes merged into the terrain, so
  they show in depth; the housing glows (:data:`LAMP_GLOW`, saturated white in the colour
  image, the lamp's own spectrum in the hyperspectral cube);
- **light**: a point source 1 cm under the diffuser, Lambert at the lit surface,
  inverse-square falloff (capped at :data:`LAMP_MIN_RANGE_M`), a smooth fade to zero at
  ``fixed_lamp_range_m``, more light down than up (:data:`LAMP_UP_SHARE`), occluded by the
  geometry. Lamps do not move, so their light is baked once per scene: at every vertex
  of the mesh, a shadow ray to each lamp in range (Open3D ``test_occlusions``: exact
  occlusion at the vertices) and the sum over lamps of the irradiance *vector*
  (power · pattern · fade · visible / r² · direction to the lamp). A hit takes the vector
  interpolated across its triangle and dots it with its own normal
  (:func:`simulator.shading.fixed_lamp_light`): per pixel that is a gather and a dot
  product, where casting shadow rays per pixel and lamp cost more than the rest of the
  frame. What that approximation costs is measured in NOTES-driftlamps.md (shadow edges
  blur over one triangle, 10 cm; a lamp behind a face's plane but seen from its vertices
  subtracts a little).

The lamps' colour temperature (``fixed_lamp_cct_k``, a blackbody) is by default the
headlamp's 3000 K, so one spectrum lights the whole drift and the hyperspectral cubes
divided by spectra.csv's ``irradiance_rel`` are reflectance as before. Another
temperature tints their light by :func:`lamp_rgb` against the camera's white balance
(set for the headlamp) and gives them their own spectrum (:func:`lamp_irradiance`) in
the cube, both scaled so that a white wall's green channel sees the same irradiance from
either source; apparent reflectance is then biased where the lamps dominate (5000 K:
several degrees of spectral angle), as under real mixed lighting.

No step here draws random numbers: the rock, zones, markers and fixtures stay as they
were, and ``drift.fixed_lamps: false`` gives the drift lit by the headlamp alone, byte
for byte as before the lamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from simulator.drift_fixtures import box
from simulator.mesh import Mesh, merge

if TYPE_CHECKING:
    import open3d as o3d

    from simulator.config import DriftConfig
    from simulator.scene_drift import DriftLayout

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]

HOUSING_M = (0.6, 0.16, 0.09)
"""Length (along the drift), width and height of a lamp housing."""
HANG_M = 0.12
"""The housing's top hangs this far under the smooth crown."""
BRACKET_SIDE_M = 0.04
WALL_LAMP_HEIGHT_M = 2.7
"""``fixed_lamp_mount: wall``: the housing's centre above the floor (above the cable)."""
WALL_GAP_M = 0.12
"""``wall``: the housing's back stands this far off the smooth wall."""
EMITTER_BELOW_M = 0.01
"""The light's point source sits this far under the diffuser (the housing's bottom)."""
LAMP_MIN_RANGE_M = 0.3
"""Inverse-square falloff is capped at this range (the diffuser is not a point)."""
LAMP_UP_SHARE = 0.3
"""Intensity toward the horizon and above, relative to straight down (the opal diffuser
also glows sideways): pattern = share + (1 - share)·max(0, cos from straight down)."""
LAMP_GLOW = 40.0
"""Linear radiance of the glowing housing in the renderer's units (a white wall under
irradiance 1 is 1): far beyond the sensor's white, so it saturates like a real lamp."""
_JUNCTION_KEEP_OUT_M = 3.0
"""No regular lamp within this distance of the junction's own lamp."""
_SHADOW_START_M = 0.01
"""Shadow rays start this far from the vertex toward the lamp (no self-hit)."""


@dataclass(frozen=True)
class Lamps:
    """The lamp fittings: their mesh (brackets first, then housings) and light sources."""

    mesh: Mesh
    housing_faces: int
    """The last this many faces of :attr:`mesh` are the glowing housings."""
    emitters_enu_m: F64Array
    """(n, 3) the lights' point sources."""
    along_m: F64Array
    """Where each hangs along the main drift's centre-line (m)."""

    def parameters(self) -> dict[str, Any]:
        return {
            "fixed_lamps": len(self.emitters_enu_m),
            "fixed_lamps_enu_m": np.round(self.emitters_enu_m, 4).tolist(),
            "fixed_lamps_along_m": np.round(self.along_m, 4).tolist(),
        }


def lamp_stations(d: DriftConfig, layout: DriftLayout) -> F64Array:
    """Arc lengths along the main drift where lamps hang: every ``fixed_lamp_spacing_m``
    from half a spacing in, none within 3 m of the junction, and one over the junction.
    Halfway between bolt rings where the spacings are multiples (10 m and 1.25 m)."""
    path = layout.main_path
    s = np.arange(d.fixed_lamp_spacing_m / 2.0, path.length - 1.0, d.fixed_lamp_spacing_m)
    s = s[np.abs(s - d.junction_at_m) >= _JUNCTION_KEEP_OUT_M]
    return np.sort(np.append(s, d.junction_at_m)).astype(np.float64)


def place_lamps(d: DriftConfig, layout: DriftLayout) -> Lamps:
    """Housings and brackets at :func:`lamp_stations`: hung plumb under the crown, or
    (``fixed_lamp_mount: wall``) on the right-hand wall at :data:`WALL_LAMP_HEIGHT_M`.
    Brackets reach into the rock, which the roughness only pushes outward."""
    s = lamp_stations(d, layout)
    centre, tangent, left, up = layout.main_path.frames(s)
    length, width, height = HOUSING_M
    hw = layout.section.half_width
    reach = d.roughness_m + 0.05  # how far a bracket goes past the smooth rock
    if d.fixed_lamp_mount == "wall":
        lateral = -(hw - WALL_GAP_M - width / 2.0)  # the right wall is at -half_width
        mid_up = WALL_LAMP_HEIGHT_M
        arm = WALL_GAP_M + reach  # bracket from the housing's back into the wall
        bracket_at = (-(hw - WALL_GAP_M) - arm / 2.0, mid_up)
        bracket_half = np.array([BRACKET_SIDE_M, arm, BRACKET_SIDE_M]) / 2.0
    else:
        lateral = 0.0
        top = layout.section.wall_height + layout.section.rise - HANG_M
        mid_up = top - height / 2.0
        arm = HANG_M + reach
        bracket_at = (0.0, top + arm / 2.0)
        bracket_half = np.array([BRACKET_SIDE_M, BRACKET_SIDE_M, arm]) / 2.0
    housings, brackets = [], []
    for c, t, lft, u in zip(centre, tangent, left, up, strict=True):
        axes = np.stack([t, lft, u])
        mid = c + lft * lateral + u * mid_up
        housings.append(box(mid, axes, np.array([length, width, height]) / 2.0))
        brackets.append(box(c + lft * bracket_at[0] + u * bracket_at[1], axes, bracket_half))
    emitters = centre + left * lateral + up * (mid_up - height / 2.0 - EMITTER_BELOW_M)
    housing_mesh = merge(housings)
    return Lamps(merge([*brackets, housing_mesh]), len(housing_mesh.triangles), emitters, s)


def bake_lamp_light(
    vertices: F64Array,
    raycaster: o3d.t.geometry.RaycastingScene,
    emitters: F64Array,
    power: float,
    range_m: float,
) -> F32Array:
    """(vertices, 3) irradiance vector of all lamps at every vertex: the sum over the
    lamps in range and in sight (one shadow ray each) of
    power · pattern · fade / max(r, 0.3 m)² · unit vector to the lamp."""
    import open3d as o3d

    field = np.zeros((len(vertices), 3))
    for emitter in emitters:
        rel = emitter - vertices
        r2 = np.einsum("ij,ij->i", rel, rel)
        near = np.flatnonzero(r2 < range_m * range_m)
        if not len(near):
            continue
        r = np.sqrt(r2[near])
        to_lamp = rel[near] / np.maximum(r, 1e-9)[:, None]
        pattern = LAMP_UP_SHARE + (1.0 - LAMP_UP_SHARE) * np.clip(to_lamp[:, 2], 0.0, None)
        fade = np.clip(1.0 - (r / range_m) ** 4, 0.0, 1.0) ** 2
        amp = power * pattern * fade / np.maximum(r, LAMP_MIN_RANGE_M) ** 2
        starts = vertices[near] + to_lamp * _SHADOW_START_M
        rays = np.concatenate([starts, emitter - starts], axis=1).astype(np.float32)
        blocked = raycaster.test_occlusions(o3d.core.Tensor(rays), tfar=0.999).numpy()
        amp[blocked] = 0.0
        field[near] += amp[:, None] * to_lamp
    return field.astype(np.float32)


def _white_wall_rgb(cct_k: float) -> tuple[F64Array, F64Array]:
    """Camera RGB of a white wall under the lamps' spectrum and under the headlamp's
    (``halogen_irradiance`` at its default temperature, as the renderer lights it)."""
    from hyperspectral.spectra import halogen_irradiance, rgb_from_reflectance, wavelength_grid

    wl = wavelength_grid()
    lamp = rgb_from_reflectance(halogen_irradiance(wl, cct_k), wl)
    head = rgb_from_reflectance(halogen_irradiance(wl), wl)
    return np.asarray(lamp, dtype=np.float64), np.asarray(head, dtype=np.float64)


def lamp_rgb(cct_k: float) -> F64Array:
    """(3,) the lamps' colour in the camera white-balanced for the headlamp (G = 1)."""
    lamp, head = _white_wall_rgb(cct_k)
    tint = lamp / head
    return np.asarray(tint / tint[1], dtype=np.float64)


def lamp_irradiance(wavelengths_nm: F64Array, cct_k: float) -> F64Array:
    """The lamps' relative spectral irradiance at the hyperspectral bands, scaled so a
    white wall's green channel sees the same from it as from the headlamp's spectrum."""
    from hyperspectral.spectra import halogen_irradiance

    lamp, head = _white_wall_rgb(cct_k)
    return np.asarray(halogen_irradiance(wavelengths_nm, cct_k) * head[1] / lamp[1], np.float64)
