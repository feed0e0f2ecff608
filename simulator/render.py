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
Every frame draws noise from its own generator seeded by (seed, stream, frame), so frames
can be rendered in any order or in parallel with identical results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.camera import CameraModel
from simulator.config import SimConfig
from simulator.hsi import HsiRender, mix, zone_spectra
from simulator.mesh import MARKER_ZONE, ZONES
from simulator.scene import Scene

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]

INVALID_ID = 0xFFFFFFFF
"""Open3D's primitive id for rays that hit nothing."""
SKY_RGB = np.array([0.55, 0.70, 0.92])
STREAM_RGB_NOISE = 11
STREAM_DEPTH_NOISE = 12
STREAM_HSI_NOISE = 13
_SHADOW_OFFSET_M = 0.05


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


def srgb_encode(linear: F64Array) -> F64Array:
    """Linear [0, 1] to the sRGB transfer curve."""
    c = np.clip(linear, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


@dataclass
class Surface:
    """What a batch of rays hit (only rays that hit something)."""

    points: F64Array
    normals: F64Array
    """Unit normals turned toward the ray origin."""
    zone: npt.NDArray[np.uint8]
    illumination: F64Array
    """Irradiance factor (1 = flat ground in full sun; headlamp: power·cos/r²)."""
    brightness: F64Array
    """Texture brightness multiplier (terrain) or reflectance (markers)."""
    tint: F64Array
    """(N, 3) per-channel colour variation (1 for markers)."""


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
        self.zone_refl = zone_spectra(self.wavelengths_nm)
        self.exposure = 0.8 if scene.lighting == "sun" else 1.0
        self.marker_of_face = scene.marker_of_face
        # build the BVH and commit the scene up front (queries from threads are safe after)
        self.scene.cast(np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]]))
        _ = self.camera.image_rays

    # -- shared ----------------------------------------------------------------------------
    def _cast(self, origin: F64Array, dirs: F64Array) -> dict[str, npt.NDArray[np.generic]]:
        origins = np.broadcast_to(origin, dirs.shape)
        return self.scene.cast(np.ascontiguousarray(origins), dirs)

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
        scene = self.scene
        d = dirs[valid]
        t = hits["t_hit"][valid].astype(np.float64)
        prim = hits["primitive_ids"][valid].astype(np.int64)
        points = origin + d * t[:, None]
        normals = hits["primitive_normals"][valid].astype(np.float64)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        facing = np.einsum("ij,ij->i", normals, d)
        normals *= np.where(facing > 0.0, -1.0, 1.0)[:, None]
        fields = scene.interpolate(prim, np.asarray(hits["primitive_uvs"][valid], np.float32))
        zone = scene.zones_from_fields(fields, prim)

        if scene.lighting == "sun":
            sun = scene.sun_dir_enu
            cos_i = np.clip(normals @ sun, 0.0, None)
            lit = cos_i > 0.0
            if scene.shadows and np.any(lit):
                import open3d as o3d

                starts = points[lit] + normals[lit] * _SHADOW_OFFSET_M
                rays = np.concatenate([starts, np.broadcast_to(sun, starts.shape)], axis=1)
                blocked = scene.raycaster.test_occlusions(
                    o3d.core.Tensor(rays.astype(np.float32))
                ).numpy()
                cos_i[np.flatnonzero(lit)[blocked]] = 0.0
            sky = scene.ambient * (0.6 + 0.4 * normals[:, 2])
            illumination = sky + (1.0 - scene.ambient) * cos_i / sun[2]
        else:
            to_lamp = origin - points
            r = np.linalg.norm(to_lamp, axis=1)
            to_lamp /= np.maximum(r, 1e-9)[:, None]
            cos_i = np.clip(np.einsum("ij,ij->i", normals, to_lamp), 0.0, None)
            cos_off = np.clip(-(to_lamp @ axis), -1.0, 1.0)
            beam = np.exp(-(((1.0 - cos_off) / 0.35) ** 2))
            illumination = scene.lamp_power * cos_i * beam / np.maximum(r, 0.3) ** 2 + 0.01

        n_rules = len(scene.score_zones)
        coarse = fields[:, n_rules].astype(np.float64)
        tone = fields[:, n_rules + 1].astype(np.float64)
        big = ~scene.smooth_faces[prim]  # skirt, end caps: too coarse to interpolate
        if np.any(big):
            coarse[big], tone[big] = scene.coarse_texture(points[big])
        brightness = 0.5 + (coarse + scene.fine_texture(points)) / scene.texture_norm
        tint = 1.0 + 0.3 * (tone - 0.5)[:, None] * np.array([1.0, 0.0, -1.0])
        marker_idx = self.marker_of_face[prim]
        on_marker = marker_idx >= 0
        if np.any(on_marker):
            refl = np.empty(int(on_marker.sum()))
            idx = marker_idx[on_marker]
            pts = points[on_marker]
            for m in np.unique(idx):
                sel = idx == m
                refl[sel] = scene.markers[int(m)].reflectance(pts[sel])
            brightness[on_marker] = refl
            tint[on_marker] = 1.0
        return Surface(points, normals, zone, illumination, brightness, tint)

    def _linear_rgb(self, surf: Surface) -> F64Array:
        albedo = self.zone_rgb[surf.zone] * surf.brightness[:, None] * surf.tint
        return np.asarray(albedo * (surf.illumination * self.exposure)[:, None])

    # -- colour and depth ------------------------------------------------------------------
    def render(self, world_from_optical: F64Array, frame_index: int) -> FrameRender:
        """Colour and depth of the camera at ``world_from_optical`` (4x4)."""
        cam = self.camera
        h, w = cam.height, cam.width
        rot = world_from_optical[:3, :3]
        origin = world_from_optical[:3, 3].astype(np.float64)
        dirs = cam.image_rays.reshape(-1, 3) @ rot.T
        hits = self._cast(origin, dirs)
        t_hit = hits["t_hit"]
        valid = np.isfinite(t_hit)
        surf = self.surface(origin, rot[:, 2], dirs, hits, valid)
        lin = np.empty((h * w, 3))
        lin[:] = SKY_RGB if self.scene.lighting == "sun" else 0.0
        lin[valid] = self._linear_rgb(surf)

        # anti-alias marker plates: average a k×k grid of sub-rays per pixel
        k = self.config.camera.marker_supersample
        prim = np.where(valid, hits["primitive_ids"].astype(np.int64), -1)
        if k > 1 and self.scene.markers:
            on_marker = np.zeros(h * w, dtype=bool)
            on_marker[valid] = self.marker_of_face[prim[valid]] >= 0
            if np.any(on_marker):
                from scipy.ndimage import binary_dilation

                grid = binary_dilation(on_marker.reshape(h, w), iterations=2).ravel()
                lin[grid] = self._supersample(np.flatnonzero(grid), origin, rot, k)

        rng = np.random.default_rng([self.config.seed, STREAM_RGB_NOISE, frame_index])
        srgb = srgb_encode(lin) * 255.0
        if self.config.camera.noise_dn > 0:
            srgb = srgb + rng.normal(0.0, self.config.camera.noise_dn, srgb.shape)
        rgb = np.clip(np.rint(srgb), 0, 255).astype(np.uint8).reshape(h, w, 3)

        depth_true = np.where(valid, t_hit, np.nan).astype(np.float32).reshape(h, w)
        cos_view = np.zeros(h * w)
        unit = dirs[valid] / np.linalg.norm(dirs[valid], axis=1, keepdims=True)
        cos_view[valid] = np.abs(np.einsum("ij,ij->i", surf.normals, unit))
        depth_image = self._depth_image(depth_true, cos_view.reshape(h, w), frame_index)
        uvs = np.asarray(hits["primitive_uvs"], dtype=np.float32).reshape(h, w, 2)
        return FrameRender(rgb, depth_true, depth_image, prim.reshape(h, w), uvs)

    def _supersample(
        self, pixels: npt.NDArray[np.int64], origin: F64Array, rot: F64Array, k: int
    ) -> F64Array:
        cam = self.camera
        v, u = np.divmod(pixels, cam.width)
        offsets = (np.arange(k) + 0.5) / k - 0.5
        ou, ov = np.meshgrid(offsets, offsets)
        uu = (u[:, None] + ou.ravel()[None, :]).ravel()
        vv = (v[:, None] + ov.ravel()[None, :]).ravel()
        dirs = cam.pixel_rays(uu, vv) @ rot.T
        hits = self._cast(origin, dirs)
        valid = np.isfinite(hits["t_hit"])
        lin = np.empty((len(dirs), 3))
        lin[:] = SKY_RGB if self.scene.lighting == "sun" else 0.0
        lin[valid] = self._linear_rgb(self.surface(origin, rot[:, 2], dirs, hits, valid))
        return np.asarray(lin.reshape(len(pixels), k * k, 3).mean(axis=1))

    def _depth_image(
        self, z: F32Array, cos_view: F64Array, frame_index: int
    ) -> npt.NDArray[np.generic]:
        """Apply the depth sensor model to the true z-depth."""
        dc = self.config.depth
        rng = np.random.default_rng([self.config.seed, STREAM_DEPTH_NOISE, frame_index])
        zz = z.astype(np.float64)
        valid = np.isfinite(zz) & (zz >= dc.min_range_m) & (zz <= dc.max_range_m)
        valid &= cos_view >= math.cos(math.radians(dc.grazing_limit_deg))
        if dc.edge_jump_rel > 0:
            padded = np.pad(zz, 1, mode="edge")
            jump = np.zeros_like(zz)
            for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
                nb = padded[dy : dy + zz.shape[0], dx : dx + zz.shape[1]]
                diff = np.abs(nb - zz)
                jump = np.fmax(jump, np.where(np.isfinite(diff), diff, np.inf))
            with np.errstate(invalid="ignore", divide="ignore"):
                valid &= ~(jump > dc.edge_jump_rel * zz)
        noise = rng.standard_normal(zz.shape)
        drop = rng.random(zz.shape) < dc.dropout
        valid &= ~drop
        noisy = zz + noise * dc.noise_c_per_m * np.nan_to_num(zz) ** 2
        if dc.encoding == "16UC1":
            mm = np.rint(np.clip(np.nan_to_num(noisy) * 1000.0, 0, 65535))
            return np.where(valid, mm, 0).astype(np.uint16)
        return np.where(valid, noisy, np.nan).astype(np.float32)

    # -- hyperspectral ---------------------------------------------------------------------
    def render_hsi(self, world_from_optical: F64Array, frame_index: int) -> HsiRender:
        """A snapshot cube: each pixel a linear mixture of its sub-rays' zone spectra."""
        cam = self.hsi_camera
        k = self.config.hsi.supersample
        rot = world_from_optical[:3, :3]
        origin = world_from_optical[:3, 3].astype(np.float64)
        dirs = cam.subpixel_rays(k).reshape(-1, 3) @ rot.T
        hits = self._cast(origin, dirs)
        valid = np.isfinite(hits["t_hit"])
        surf = self.surface(origin, rot[:, 2], dirs, hits, valid)
        zone = np.zeros(len(dirs), dtype=np.int64)
        zone[valid] = surf.zone
        weight = np.zeros(len(dirs))
        weight[valid] = surf.illumination * surf.brightness
        hc = self.config.hsi
        return mix(
            zone,
            weight,
            (cam.height, cam.width),
            k * k,
            self.zone_refl,
            self.irradiance,
            hc.noise_floor,
            hc.noise_rel,
            np.random.default_rng([self.config.seed, STREAM_HSI_NOISE, frame_index]),
        )
