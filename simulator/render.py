"""CPU, headless rendering of colour, aligned depth and hyperspectral cubes.

Open3D's ``RaycastingScene`` casts one ray per pixel (rays from
:class:`simulator.camera.CameraModel`, so images carry the lens distortion) and returns
the hit distance, triangle and normal. Colour is albedo × illumination:

- albedo: the zone's colour (from its library spectrum, so RGB and hyperspectral agree)
  modulated by seeded fractal noise (coarse octaves interpolated from the vertices, fine
  ones evaluated at the hit point); the zone itself comes from zone fields interpolated
  across the hit triangle, so borders are smooth; markers use their ArUco
  bit pattern; pixels at marker plates are supersampled so their corners are sharp
  and sub-pixel accurate;
- illumination: in the pit a sun (Lambert, cast shadows by a second ray, plus sky
  ambient); in the drift a headlamp at the camera (Lambert, inverse-square falloff,
  beam cone);

then sRGB encoding, Gaussian read noise and 8-bit quantisation.

Depth follows RealSense conventions: the **z-depth** of the surface in the colour
camera's optical frame (not the ray length: ``z = ray_length * cos(angle to the
optical axis)``), aligned pixel for pixel to the colour image, 16UC1 millimetres (0 =
invalid) or 32FC1 metres (NaN = invalid). Noise is ``sigma_z = c·z²``; pixels outside
the range limits, at grazing incidence, on depth edges and at random are invalid.

Hyperspectral cubes are mixed from sub-rays of the same shading (:mod:`simulator.hsi`).
Every frame draws noise from its own counter-based stream keyed by (seed, stream, frame)
(:func:`simulator.compiled.normal_draw`: value i takes draw i), so frames can be rendered
in any order or in parallel with identical results.

Where things happen (each a function to extend):

- rays: :class:`Renderer` (pixel rays from the camera model, cached; marker sub-pixel
  rays in :class:`SubpixelRayCache`), cast by Open3D (:meth:`Scene.cast`);
- hit geometry, zones, texture, illumination, linear colour: :mod:`simulator.shading`;
- marker anti-aliasing: :meth:`Renderer._antialias_markers`;
- sRGB, read noise, depth sensor model: :mod:`simulator.sensor_model`;
- hyperspectral mixing: :func:`simulator.hsi.mix`.

Per-pixel loops run compiled (:mod:`simulator.compiled`); geometry and shading keep the
numpy statements' IEEE operations in order. The sensor stage changed on purpose for speed
(NOTES-simspeed.md): counter-based noise draws and a tabulated sRGB curve.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.camera import CameraModel
from simulator.compiled import jit, noise_key
from simulator.config import SimConfig
from simulator.hsi import HsiRender, Variability, mix, patch_variant, zone_variants
from simulator.mesh import MARKER_ZONE, ZONES
from simulator.scene import Scene
from simulator.sensor_model import depth_image, sensor_rgb
from simulator.shading import Surface, linear_rgb, shade
from simulator.threads import raycast_threads, single_threaded_blas

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]

INVALID_ID = 0xFFFFFFFF
"""Open3D's primitive id for rays that hit nothing."""
SKY_RGB = np.array([0.55, 0.70, 0.92])
STREAM_RGB_NOISE = 11
STREAM_DEPTH_NOISE = 12
STREAM_HSI_NOISE = 13
UNIFORM_CORNER_TOLERANCE = 0.05
"""Marker anti-aliasing takes a pixel's four corner sub-rays for all k² where they lie
in one region of a plate and their colours differ by at most this fraction of their
mean (a smooth lamp falloff changes them by well under 1 % across a pixel; a shadow
edge by far more)."""
MARKER_REGIONS = 1 << 16
"""Region keys of different markers are ``marker * MARKER_REGIONS + region``."""


@jit
def _ray_table_kernel(origin: F64Array, dirs: F64Array, rays: F32Array) -> None:
    """Open3D's (N, 6) float32 rays: ``origin`` and each row of ``dirs``."""
    for i in range(dirs.shape[0]):
        for k in range(3):
            rays[i, k] = np.float32(origin[k])
            rays[i, 3 + k] = np.float32(dirs[i, k])


def zone_rgb_table() -> F64Array:
    """(zones, 3) linear RGB albedo of every zone, from its library spectrum."""
    from hyperspectral.spectra import reflectance, rgb_from_reflectance, wavelength_grid

    wl = wavelength_grid()
    table = np.zeros((len(ZONES), 3))
    for z in ZONES:
        if z.spectrum is not None:
            table[z.id] = rgb_from_reflectance(reflectance(z.spectrum, wl), wl)
    table[MARKER_ZONE] = 1.0  # scaled by the marker's own reflectance
    return table


class SubpixelRayCache:
    """k×k sub-pixel rays (optical frame) of a camera, each computed when first needed
    and kept.

    Marker anti-aliasing asks for sub-rays around the same plates frame after frame,
    and inverting the lens distortion is the costly part (in the drift it took more
    time than the raycast). Each ray is computed exactly as ``pixel_rays`` computes it
    for any batch (the inverse is per ray), so the cache does not change results.
    Sub-rays are kept one by one, so a caller that needs only some of a pixel's
    sub-rays (the corners, :meth:`Renderer._supersample`) inverts only those.
    The table is reserved, not filled: memory is only used for pixels seen (at most
    ``max_bytes``; a larger table is not kept and every call computes its rays).
    """

    def __init__(self, camera: CameraModel, k: int, max_bytes: int = 512 << 20) -> None:
        self.camera = camera
        self.k = k
        offsets = (np.arange(k) + 0.5) / k - 0.5
        self._ou, self._ov = (a.ravel() for a in np.meshgrid(offsets, offsets))
        n_pixels = camera.width * camera.height
        self.enabled = n_pixels * k * k * 3 * 8 <= max_bytes
        self._table = np.empty((n_pixels if self.enabled else 0, k * k, 3))
        self._known = np.zeros((n_pixels if self.enabled else 0, k * k), dtype=bool)
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every pixel's rays (benchmarks time the cold cache)."""
        with self._lock:
            self._known[:] = False

    def rays(
        self, pixels: npt.NDArray[np.int64], subrays: npt.NDArray[np.int64] | None = None
    ) -> F64Array:
        """(len(pixels), len(subrays), 3) sub-rays ``subrays`` (row-major indices into
        the k×k grid; default all k²) of the flat pixel indices ``pixels``."""
        sub = np.arange(self.k * self.k) if subrays is None else np.asarray(subrays)
        pix, idx = (a.ravel() for a in np.broadcast_arrays(pixels[:, None], sub[None, :]))
        if not self.enabled:
            return self._compute(pix, idx).reshape(len(pixels), len(sub), 3)
        with self._lock:
            new = np.flatnonzero(~self._known[pix, idx])
        if len(new):  # computed outside the lock: a ray computed twice is the same ray
            rays = self._compute(pix[new], idx[new])
            with self._lock:
                self._table[pix[new], idx[new]] = rays
                self._known[pix[new], idx[new]] = True
        return np.asarray(self._table[pix, idx]).reshape(len(pixels), len(sub), 3)

    def _compute(self, pixels: npt.NDArray[np.int64], subrays: npt.NDArray[np.int64]) -> F64Array:
        """The rays of sub-ray ``subrays[i]`` of pixel ``pixels[i]``."""
        v, u = np.divmod(pixels, self.camera.width)
        return self.camera.pixel_rays(u + self._ou[subrays], v + self._ov[subrays])


@dataclass
class FrameRender:
    """One colour camera frame and the renderer's own record of what each pixel saw."""

    rgb: npt.NDArray[np.uint8]
    depth_true_m: F32Array
    """Noise-free z-depth, NaN where the ray hit nothing."""
    depth_image: npt.NDArray[np.generic]
    """The published depth: uint16 mm or float32 m, with noise and holes."""
    primitive_ids: npt.NDArray[np.int64]
    """Triangle index per pixel, -1 where nothing was hit."""
    primitive_uvs: F32Array
    """Barycentric (u, v) of the hit: point = (1-u-v)·A + u·B + v·C."""


class Renderer:
    """Renders a scene's colour, depth and hyperspectral frames for a configuration."""

    def __init__(self, scene: Scene, config: SimConfig) -> None:
        from hyperspectral.spectra import band_centres, halogen_irradiance, solar_irradiance

        self.scene = scene
        self.config = config
        cam = config.camera
        self.camera = CameraModel.from_fov(cam.width, cam.height, cam.hfov_deg, cam.distortion)
        hsi = config.hsi
        self.hsi_camera = CameraModel.from_fov(hsi.width, hsi.height, cam.hfov_deg)
        self.wavelengths_nm = band_centres(hsi.bands)
        irradiance = solar_irradiance if scene.lighting == "sun" else halogen_irradiance
        self.irradiance = irradiance(self.wavelengths_nm)
        self.zone_rgb = zone_rgb_table()
        self.zone_set = zone_variants(
            self.wavelengths_nm,
            hsi.spectra,
            Variability(
                hsi.variants, hsi.brightness_sigma, hsi.distortion_rel, hsi.patch_m, config.seed
            ),
            hsi.library,
            hsi.exclude,
            hsi.unmatched,
        )
        """The zones' spectra and their variants (hsi.variants), and where they came from."""
        self.zone_refl = self.zone_set.mean
        self.exposure = 0.8 if scene.lighting == "sun" else 1.0
        self.marker_of_face = scene.marker_of_face
        # build the BVH and commit the scene up front (queries from threads are safe after)
        self.scene.cast(np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]))
        _ = scene.vertex_fields, scene.smooth_faces, scene.marker_of_face
        if scene.lighting == "sun" and scene.shadows:
            _ = scene.sun_shadow_map
        _ = self.camera.image_rays
        self.hsi_rays = self.hsi_camera.subpixel_rays(hsi.supersample)
        """(H, W, k², 3) optical-frame sub-rays of the hyperspectral pixels (fixed)."""
        self.marker_subrays = SubpixelRayCache(self.camera, cam.marker_supersample)
        self.lamps: tuple[F64Array, tuple[int, int]] | None = None
        """The fixed lamps' RGB colour and glowing faces (None without lamps)."""
        self.lamp_irradiance: F64Array | None = None
        """The fixed lamps' spectrum at the hyperspectral bands."""
        if scene.lamp_emitters is not None and scene.lamp_housing_faces is not None:
            from simulator.drift_lamps import lamp_irradiance, lamp_rgb

            _ = scene.lamp_field  # baked once, before any worker forks
            self.lamps = (lamp_rgb(scene.fixed_lamp_cct_k), scene.lamp_housing_faces)
            self.lamp_irradiance = lamp_irradiance(self.wavelengths_nm, scene.fixed_lamp_cct_k)

    # -- shared ----------------------------------------------------------------------------
    def _cast(self, origin: F64Array, dirs: F64Array) -> dict[str, npt.NDArray[np.generic]]:
        """:meth:`Scene.cast` of rays from one ``origin``: the float32 ray table is
        written in one compiled pass and handed to Open3D without a copy."""
        import open3d as o3d

        rays = np.empty((len(dirs), 6), dtype=np.float32)
        _ray_table_kernel(np.asarray(origin, dtype=np.float64), dirs, rays)
        tensor = o3d.core.Tensor.from_numpy(rays)
        result = self.scene.raycaster.cast_rays(tensor, nthreads=raycast_threads())
        return {k: v.numpy() for k, v in result.items()}

    def surface(
        self,
        origin: F64Array,
        axis: F64Array,
        dirs: F64Array,
        hits: dict[str, npt.NDArray[np.generic]],
        valid: npt.NDArray[np.bool_],
    ) -> Surface:
        """Shade-ready facts about the rays in ``valid``: dirs (N, 3) from a camera at
        ``origin`` looking along ``axis`` (where the headlamp points)."""
        return shade(self.scene, origin, axis, dirs, hits, np.flatnonzero(valid))

    def _background(self, n: int) -> F64Array:
        """(n, 3) linear RGB of rays that hit nothing: sky, or black underground."""
        lin = np.empty((n, 3))
        lin[:] = SKY_RGB if self.scene.lighting == "sun" else 0.0
        return lin

    # -- colour and depth ------------------------------------------------------------------
    def render(self, world_from_optical: F64Array, frame_index: int) -> FrameRender:
        """Colour and depth of the camera at ``world_from_optical`` (4x4)."""
        with single_threaded_blas():
            return self._render(world_from_optical, frame_index)

    def _render(self, world_from_optical: F64Array, frame_index: int) -> FrameRender:
        cam = self.camera
        h, w = cam.height, cam.width
        rot = world_from_optical[:3, :3]
        origin = world_from_optical[:3, 3].astype(np.float64)
        dirs = cam.image_rays.reshape(-1, 3) @ rot.T
        hits = self._cast(origin, dirs)
        t_hit = hits["t_hit"]
        valid = np.isfinite(t_hit)
        surf = self.surface(origin, rot[:, 2], dirs, hits, valid)
        lin = self._background(h * w)
        linear_rgb(surf, self.zone_rgb, self.exposure, lin, self.lamps)
        prim = np.full(h * w, -1, dtype=np.int64)
        prim[surf.hits.rows] = surf.hits.primitive_ids
        self._antialias_markers(lin, surf, origin, rot)
        rgb = self._sensor_rgb(lin, frame_index).reshape(h, w, 3)

        depth_true = np.where(valid, t_hit, np.nan).astype(np.float32).reshape(h, w)
        cos_view = np.zeros(h * w)
        cos_view[surf.hits.rows] = surf.hits.cos_view
        depth_image = self._depth_image(depth_true, cos_view.reshape(h, w), frame_index)
        uvs = np.asarray(hits["primitive_uvs"], dtype=np.float32).reshape(h, w, 2)
        return FrameRender(rgb, depth_true, depth_image, prim.reshape(h, w), uvs)

    def _antialias_markers(
        self, lin: F64Array, surf: Surface, origin: F64Array, rot: F64Array
    ) -> None:
        """Replace pixels at and around marker plates by the mean of a k×k grid of
        sub-rays, so marker corners are sharp and sub-pixel accurate."""
        k = self.config.camera.marker_supersample
        if k <= 1 or not self.scene.markers:
            return
        cam = self.camera
        on_marker = np.zeros(cam.height * cam.width, dtype=bool)
        on_marker[surf.hits.rows] = self.marker_of_face[surf.hits.primitive_ids] >= 0
        if np.any(on_marker):
            from scipy.ndimage import binary_dilation

            shape = (cam.height, cam.width)
            grid = binary_dilation(on_marker.reshape(shape), iterations=2).ravel()
            lin[grid] = self._supersample(np.flatnonzero(grid), origin, rot, k)

    def _sensor_rgb(self, lin: F64Array, frame_index: int) -> npt.NDArray[np.uint8]:
        """sRGB encoding, Gaussian read noise and 8-bit quantisation of linear RGB."""
        key = noise_key(self.config.seed, STREAM_RGB_NOISE, frame_index)
        return sensor_rgb(lin, self.config.camera, key)

    def _supersample(
        self, pixels: npt.NDArray[np.int64], origin: F64Array, rot: F64Array, k: int
    ) -> F64Array:
        """(len(pixels), 3) linear RGB of each pixel: the mean of its k×k sub-rays.

        Adaptive: the four corner sub-rays are cast first. Where all four land in one
        convex region of uniform reflectance on one marker plate (a bit cell or a piece
        of the white border, :meth:`Marker.regions`) and their colours agree to
        :data:`UNIFORM_CORNER_TOLERANCE` (no shadow edge between them), every sub-ray in
        between lands there too, the colour only varies with the smooth illumination,
        and the mean of the corners stands for the mean of all k² (they differ by far
        less than 1 DN; NOTES-simspeed3.md). Every other pixel (a cell edge, the plate's
        edge, rock) casts the remaining k² - 4 sub-rays and takes the mean of all k²,
        the same bytes as casting them all at once.
        """
        corners = np.array([0, k - 1, k * (k - 1), k * k - 1])
        lin_c, region_c = self._subray_colours(pixels, corners, origin, rot)
        mean_c = lin_c.mean(axis=1)
        uniform = (region_c >= 0).all(axis=1) & (region_c == region_c[:, :1]).all(axis=1)
        spread = np.abs(lin_c - mean_c[:, None, :]).max(axis=(1, 2))
        uniform &= spread <= UNIFORM_CORNER_TOLERANCE * mean_c.max(axis=1)
        out: F64Array = mean_c
        mixed = np.flatnonzero(~uniform)
        rest = np.setdiff1d(np.arange(k * k), corners)  # none for k = 2
        if len(mixed) and len(rest):
            lin_r, _ = self._subray_colours(pixels[mixed], rest, origin, rot)
            full = np.empty((len(mixed), k * k, 3))
            full[:, corners] = lin_c[mixed]
            full[:, rest] = lin_r
            out[mixed] = full.mean(axis=1)
        return out

    def _subray_colours(
        self,
        pixels: npt.NDArray[np.int64],
        subrays: npt.NDArray[np.int64],
        origin: F64Array,
        rot: F64Array,
    ) -> tuple[F64Array, npt.NDArray[np.int64]]:
        """Linear RGB (n, s, 3) of the sub-rays ``subrays`` of ``pixels`` and the marker
        region each landed in (n, s): ``marker * MARKER_REGIONS + region``, -1 off the
        plates."""
        n, s = len(pixels), len(subrays)
        dirs = self.marker_subrays.rays(pixels, subrays).reshape(-1, 3) @ rot.T
        hits = self._cast(origin, dirs)
        valid = np.isfinite(hits["t_hit"])
        lin = self._background(len(dirs))
        surf = self.surface(origin, rot[:, 2], dirs, hits, valid)
        linear_rgb(surf, self.zone_rgb, self.exposure, lin, self.lamps)
        region = np.full(len(dirs), -1, dtype=np.int64)
        marker = self.marker_of_face[surf.hits.primitive_ids]
        for m in np.unique(marker[marker >= 0]):
            on = np.flatnonzero(marker == m)
            pieces = self.scene.markers[int(m)].regions(surf.hits.points[on])
            region[surf.hits.rows[on]] = int(m) * MARKER_REGIONS + pieces
        return lin.reshape(n, s, 3), region.reshape(n, s)

    def _depth_image(
        self, z: F32Array, cos_view: F64Array, frame_index: int
    ) -> npt.NDArray[np.generic]:
        """Apply the depth sensor model to the true z-depth."""
        key = noise_key(self.config.seed, STREAM_DEPTH_NOISE, frame_index)
        return depth_image(z, cos_view, self.config.depth, key)

    # -- hyperspectral ---------------------------------------------------------------------
    def render_hsi(self, world_from_optical: F64Array, frame_index: int) -> HsiRender:
        """A snapshot cube: each pixel a linear mixture of its sub-rays' zone spectra."""
        with single_threaded_blas():
            return self._render_hsi(world_from_optical, frame_index)

    def render_hsi_line(self, world_from_optical: F64Array, line_index: int) -> HsiRender:
        """One push-broom line (1 x width): the middle row of the hyperspectral camera."""
        with single_threaded_blas():
            return self._render_hsi(world_from_optical, line_index, line=True)

    def _render_hsi(
        self, world_from_optical: F64Array, frame_index: int, line: bool = False
    ) -> HsiRender:
        cam = self.hsi_camera
        k = self.config.hsi.supersample
        rot = world_from_optical[:3, :3]
        origin = world_from_optical[:3, 3].astype(np.float64)
        rays = self.hsi_rays[cam.height // 2 : cam.height // 2 + 1] if line else self.hsi_rays
        dirs = rays.reshape(-1, 3) @ rot.T
        hits = self._cast(origin, dirs)
        valid = np.isfinite(hits["t_hit"])
        surf = self.surface(origin, rot[:, 2], dirs, hits, valid)
        zone = np.zeros(len(dirs), dtype=np.int64)
        zone[surf.hits.rows] = surf.zone
        weight = np.zeros(len(dirs))
        weight[surf.hits.rows] = surf.illumination * surf.brightness
        hc = self.config.hsi
        stream = [self.config.seed, STREAM_HSI_NOISE, frame_index] + ([1] if line else [])
        lamps = self._lamp_mixture(surf, zone, weight)  # zeroes the glowing rows of weight
        variants = self.zone_set.variants
        if variants > 1:  # each ground patch its zone's variant (row zone·variants + v)
            v = np.zeros(len(dirs), dtype=np.int64)
            v[surf.hits.rows] = patch_variant(
                surf.hits.points, hc.patch_m, variants, self.config.seed
            )
            zone = zone * variants + v
            if lamps is not None:
                lamps = (lamps[0] * variants + v, lamps[1], lamps[2])
        return mix(
            zone,
            weight,
            (1 if line else cam.height, cam.width),
            k * k,
            self.zone_set.table,
            self.irradiance,
            hc.noise_floor,
            hc.noise_rel,
            noise_key(*stream),
            lamps,
            variants,
        )

    def _lamp_mixture(
        self, surf: Surface, zone: npt.NDArray[np.int64], weight: F64Array
    ) -> tuple[npt.NDArray[np.int64], F64Array, F64Array] | None:
        """The fixed lamps' share of a cube (see :func:`simulator.hsi.mix`): their light
        on every sub-ray's zone, and their glowing housings (reflectance 1, the glow)
        under their own spectrum; None without lamps."""
        if surf.lamp_light is None or self.lamps is None or self.lamp_irradiance is None:
            return None
        from simulator.drift_lamps import LAMP_GLOW

        lo, hi = self.lamps[1]
        rows = surf.hits.rows
        lamp_zone = zone.copy()
        lamp_weight = np.zeros_like(weight)
        lamp_weight[rows] = surf.lamp_light * surf.brightness
        glowing = (surf.hits.primitive_ids >= lo) & (surf.hits.primitive_ids < hi)
        lamp_zone[rows[glowing]] = MARKER_ZONE
        lamp_weight[rows[glowing]] = LAMP_GLOW
        weight[rows[glowing]] = 0.0  # the glow stands for all the housing sends
        return lamp_zone, lamp_weight, self.lamp_irradiance
