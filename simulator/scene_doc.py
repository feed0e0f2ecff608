"""scene.json: CRS, origin, mine grid, zones, markers, trajectory, frames, sensor models,
topics, products and the effective configuration of a run, one section per function."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simulator.bag_topics import TOPICS
from simulator.hsi import HSI_CONVENTION
from simulator.mesh import zone_legend
from simulator.scene import UTM_EPSG, Scene
from simulator.sensors import COLOR_OPTICAL, GNSS_FRAME, HSI_OPTICAL, IMU_FRAME, ImuNoise
from simulator.simulation import TF_RATE_HZ, Simulation

Section = dict[str, Any]
SIMILARITY_GRID = 9
"""Samples per axis over the scene for the approximate ENU -> UTM similarity."""


def scene_doc(
    sim: Simulation,
    counts: dict[str, int],
    raster_info: dict[str, Any],
    bag: str,
    version: str,
) -> dict[str, Any]:
    """The whole scene.json document (key order is the file's order)."""
    config, scene = sim.config, sim.scene
    return {
        "software": {
            "name": "smartmine",
            "version": version,
            "command": f"smartmine sim {config.scene}",
        },
        "scene": config.scene,
        "seed": config.seed,
        "frames": config.frames,
        "crs": crs_section(),
        "origin": origin_section(scene),
        "enu_to_utm_approx": enu_to_utm_similarity(scene),
        "mine_grid": scene.mine_grid.to_dict(),
        "zones": zone_legend(),
        "scene_parameters": scene.parameters,
        "markers": markers_section(scene),
        "trajectory": sim.path_info,
        "frames_tree": frames_tree_section(sim),
        "sensors": sensors_section(sim),
        "topics": {t: {"type": TOPICS[t][0], "count": counts.get(t, 0)} for t in TOPICS},
        "products": products_section(bag, raster_info),
        "config": config.to_dict(),
    }


def crs_section() -> Section:
    from smartmine.geodesy import describe_crs

    return {
        "projected": f"EPSG:{UTM_EPSG}",
        "projected_name": describe_crs(UTM_EPSG),
        "geographic": "EPSG:4979 (WGS84 latitude, longitude, ellipsoidal height)",
        "map_frame": "local ENU tangent plane at the origin: x east, y north, z up, metres",
        "exact_conversion": "smartmine.geodesy.LocalEnu(lat_deg, lon_deg, alt_m)"
        f".to_projected(x, y, z, {UTM_EPSG})",
    }


def origin_section(scene: Scene) -> Section:
    e0, n0, h0 = scene.origin.to_projected(0.0, 0.0, 0.0, UTM_EPSG)
    return {
        "lat_deg": scene.origin.lat_deg,
        "lon_deg": scene.origin.lon_deg,
        "alt_m": scene.origin.alt_m,
        "easting_m": float(e0),
        "northing_m": float(n0),
        "height_m": float(h0),
    }


def enu_to_utm_similarity(scene: Scene) -> dict[str, float]:
    """Best 2-D similarity local ENU -> UTM over the scene (for quick use; exact
    conversion goes through smartmine.geodesy.LocalEnu)."""
    x0, x1, y0, y1 = scene.raster_bounds_enu
    axis_x = np.linspace(x0, x1, SIMILARITY_GRID)
    gx, gy = np.meshgrid(axis_x, np.linspace(y0, y1, SIMILARITY_GRID))
    e, n, h = scene.origin.to_projected(gx.ravel(), gy.ravel(), np.zeros(gx.size), UTM_EPSG)
    p = gx.ravel() + 1j * gy.ravel()
    q = e + 1j * n
    pm, qm = p.mean(), q.mean()
    a = complex(np.sum(np.conj(p - pm) * (q - qm)) / np.sum(np.abs(p - pm) ** 2))
    t = qm - a * pm
    err = np.abs(a * p + t - q)
    return {
        "rotation_deg": math.degrees(math.atan2(a.imag, a.real)),
        "scale": abs(a),
        "easting_of_origin_m": t.real,
        "northing_of_origin_m": t.imag,
        "height_of_origin_m": float(h.mean() + 0.0),
        "max_horizontal_error_m": float(err.max()),
    }


def markers_section(scene: Scene) -> Section:
    return {
        "dictionary": scene.markers[0].dictionary if scene.markers else None,
        "corner_order": "top-left, top-right, bottom-right, bottom-left (OpenCV ArUco)",
        "list": [m.to_dict() for m in scene.markers],
    }


def frames_tree_section(sim: Simulation) -> Section:
    return {
        "dynamic": f"map -> base_link on /tf at {TF_RATE_HZ:g} Hz (ground truth)",
        "static": [
            {"parent": p, "child": c, "matrix": np.round(m, 9).tolist()}
            for p, c, m in sim.rig.static_tree()
        ],
        "base_link": "FLU body, attitude yaw along track only",
    }


def sensors_section(sim: Simulation) -> Section:
    return {
        "camera": camera_section(sim),
        "depth": depth_section(sim),
        "hyperspectral": hyperspectral_section(sim),
        "imu": imu_section(sim),
        "gnss": gnss_section(sim),
    }


def camera_section(sim: Simulation) -> Section:
    cam = sim.config.camera
    return {
        **sim.renderer.camera.to_dict(),
        "frame_id": COLOR_OPTICAL,
        "rate": "spread evenly over the path" if cam.rate_hz == 0 else f"{cam.rate_hz} Hz",
        "noise_dn": cam.noise_dn,
        "shading": "sun (Lambert, cast shadows, sky ambient)"
        if sim.scene.lighting == "sun"
        else "headlamp at the camera (Lambert, 1/r^2, cone)",
    }


def depth_section(sim: Simulation) -> Section:
    dc = sim.config.depth
    return {
        "alignment": "aligned to the colour camera (same model, same frame)",
        "value": "z-depth in the optical frame (not ray length)",
        "encoding": dc.encoding,
        "units": "millimetres, 0 = invalid" if dc.encoding == "16UC1" else "metres, NaN = invalid",
        "range_m": [dc.min_range_m, dc.max_range_m],
        "noise": f"sigma_z = {dc.noise_c_per_m} * z^2 (m)",
        "dropout": dc.dropout,
        "grazing_limit_deg": dc.grazing_limit_deg,
        "edge_jump_rel": dc.edge_jump_rel,
    }


def hyperspectral_section(sim: Simulation) -> Section:
    renderer, hc = sim.renderer, sim.config.hsi
    return {
        **renderer.hsi_camera.to_dict(),
        "frame_id": HSI_OPTICAL,
        "kind": "push-broom lines (1 x width, each stamped at its exposure)"
        if hc.mode == "pushbroom"
        else "snapshot cube",
        "bands": len(renderer.wavelengths_nm),
        "wavelengths_nm": [round(float(w), 4) for w in renderer.wavelengths_nm],
        "supersample": hc.supersample,
        "every_n_frames": hc.every,
        "convention": HSI_CONVENTION,
        "illumination": "solar_irradiance"
        if sim.scene.lighting == "sun"
        else "halogen_irradiance (3000 K)"
        + (
            ""
            if renderer.lamp_irradiance is None
            else f" + fixed lamps: blackbody {sim.scene.fixed_lamp_cct_k:g} K "
            "(spectra.csv lamp_irradiance_rel)"
        ),
        "spectra": "USGS splib07 (bundled, hyperspectral.library.MEASURED_STAND_INS), "
        "resampled to the bands"
        if hc.spectra == "measured"
        else f"{hc.library} (samples found by mineral, hsi.exclude: {hc.exclude}), "
        "resampled to the bands"
        if hc.spectra == "library"
        else "hyperspectral.spectra (synthetic, literature band positions)",
        **variability_section(sim),
    }


def variability_section(sim: Simulation) -> Section:
    """Zone spectra variants and their samples (hsi.variants > 1 or hsi.spectra: library);
    empty otherwise, so the default scene.json stays as it was."""
    zones, hc = sim.renderer.zone_set, sim.config.hsi
    if not zones.samples:
        return {}
    return {
        "variability": {
            "variants_per_zone": zones.variants,
            "brightness_sigma": hc.brightness_sigma,
            "distortion_rel": hc.distortion_rel,
            "patch_m": hc.patch_m,
        },
        "zone_samples": {zone: list(names) for zone, names in zones.samples.items()},
        "zones_from_bundled_library": list(zones.fallback),
    }


def imu_section(sim: Simulation) -> Section:
    noise = ImuNoise.draw(sim.config)
    return {
        "frame_id": IMU_FRAME,
        "rate_hz": sim.config.imu.rate_hz,
        "accel_sigma_m_s2": noise.accel_sigma,
        "gyro_sigma_rad_s": noise.gyro_sigma,
        "accel_bias_m_s2": noise.accel_bias.tolist(),
        "gyro_bias_rad_s": noise.gyro_bias.tolist(),
        "orientation": "not provided (orientation_covariance[0] = -1)",
    }


def gnss_section(sim: Simulation) -> Section:
    g = sim.config.gnss
    return {
        "frame_id": GNSS_FRAME,
        "rate_hz": g.rate_hz,
        "sigma_horizontal_m": g.sigma_horizontal_m,
        "sigma_vertical_m": g.sigma_vertical_m,
        "position": "the antenna (gnss_link)",
        "underground": "no fix: status -1, NaN position" if sim.scene.underground else None,
    }


def products_section(bag: str, raster_info: dict[str, Any]) -> Section:
    return {
        "bag": bag,
        "trajectory_tum.txt": "camera_color_optical_frame in map at each colour frame",
        "trajectory_base_link_tum.txt": f"base_link in map at {TF_RATE_HZ:g} Hz (/tf stamps)",
        "scene_mesh.ply": "scene mesh, local ENU metres, face property 'zone'",
        "classes.tif": raster_info,
        "markers.csv": "marker corners: mine grid, UTM 44N, local ENU",
        "spectra.csv": "zone reflectance and relative irradiance at the HSI bands",
    }
