"""Every knob of a simulation in one tree of dataclasses, with per-scene defaults.

The effective configuration is written into ``scene.json`` beside the products, so a
run can be repeated exactly: same configuration and seed, same bytes. Overrides come as
a nested mapping (``--config FILE.json`` on the command line); an unknown key or a
value of the wrong type is a :class:`SimulatorError` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from simulator.errors import SimulatorError
from simulator.layout_rules import drift_problems, pit_problems

SceneKind = Literal["open-pit", "drift"]
SCENES: tuple[SceneKind, ...] = ("open-pit", "drift")
DepthEncoding = Literal["16UC1", "32FC1"]

MAX_FRAMES = 100_000
"""More colour frames than this is a typo (about 3 hours at 10 Hz), not a simulation."""

START_NS = 1_782_021_600_000_000_000
"""2026-06-21T06:00:00Z, late morning local solar time in East Kazakhstan."""


@dataclass
class CameraConfig:
    """RGB camera: pinhole with plumb_bob distortion; the depth image is aligned to it."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 65.0
    """Horizontal field of view of the undistorted pinhole; fx = fy follow from it."""
    distortion: list[float] = field(default_factory=lambda: [-0.12, 0.05, 0.0008, -0.0005, 0.0])
    """plumb_bob k1, k2, p1, p2, k3 (OpenCV order)."""
    rate_hz: float = 0.0
    """Frame rate; 0 spreads the frames evenly over the whole path (survey coverage)."""
    noise_dn: float = 1.5
    """Gaussian read noise of the 8-bit image, digital numbers."""
    marker_supersample: int = 6
    """Sub-samples per axis for pixels at survey markers (anti-aliased corners)."""
    mount_pitch_deg: float = 90.0
    """Camera pitched down from the body's forward axis (90 = nadir)."""
    mount_xyz_m: list[float] = field(default_factory=lambda: [0.1, 0.0, -0.1])
    """camera_link origin in base_link (FLU), metres."""


@dataclass
class DepthConfig:
    """Aligned depth like a RealSense D435: z-depth in the colour optical frame.

    Noise grows as ``sigma_z = noise_c_per_m * z²``; pixels beyond the range limits, at
    grazing incidence, at depth edges, or dropped at random read as invalid (0 in
    16UC1 millimetres, NaN in 32FC1 metres).
    """

    min_range_m: float = 0.3
    max_range_m: float = 10.0
    noise_c_per_m: float = 0.0015
    dropout: float = 0.01
    grazing_limit_deg: float = 80.0
    edge_jump_rel: float = 0.05
    encoding: DepthEncoding = "16UC1"


@dataclass
class HsiConfig:
    """Snapshot hyperspectral camera, boresighted with the RGB camera."""

    width: int = 64
    height: int = 48
    bands: int = 106
    """Band centres evenly spaced over 400–2500 nm (106 bands: 20 nm)."""
    supersample: int = 4
    """Sub-rays per axis per pixel; their zone fractions make the linear mixture."""
    noise_rel: float = 0.01
    noise_floor: float = 0.002
    every: int = 1
    """One cube every ``every`` camera frames."""
    mode: str = "snapshot"
    """``snapshot`` (one height x width cube per colour frame) or ``pushbroom``: a line
    sensor (the middle row of the same camera) exposing ``height`` lines evenly over each
    colour-frame interval, every line rendered from the pose at its own time and stamped
    with it (1 x width images on the same topic)."""
    spectra: str = "measured"
    """Zone spectra: ``measured`` (USGS splib07 spectra bundled with the hyperspectral
    library, resampled to the bands) or ``synthetic`` (the stand-ins of
    hyperspectral.spectra, as before) or ``library``: drawn from ``library`` (below)."""
    offset_m: list[float] = field(default_factory=lambda: [0.0, 0.06, 0.0])
    """hsi_optical_frame origin in camera_link (FLU), metres."""
    # --- issue 20 (helper hsisim): zone spectra from another library, variability ---
    library: str = ""
    """``spectra: library``: an ENVI (``.hdr``/``.sli``) or CSV spectral library (a path
    relative to the working directory or absolute) the zone
    spectra are drawn from instead of the bundled one (e.g. USGS splib06/splib07): each
    zone's minerals found by name (hyperspectral.minerals.mineral_of), mixtures left out,
    so a classifier using the bundled library meets other samples, not its own spectra."""
    exclude: str = "sample"
    """Which spectra of ``library`` the bundled library rules out: ``sample`` (every
    spectrum of a sample id it holds, e.g. all measurements of Jarosite GDS99),
    ``spectrum`` (only the same name) or ``none``."""
    unmatched: str = "bundled"
    """A zone mineral with no sample left in ``library``: ``bundled`` draws it from the
    bundled library (named in scene.json: its check stays circular) or ``error``."""
    variants: int = 1
    """Spectra per zone (1: no variability, as before). Each variant draws one sample per
    mineral, a brightness factor and a smooth distortion; ground patches of ``patch_m``
    pick one variant each."""
    brightness_sigma: float = 0.0
    """Log-normal sigma of a variant's brightness (0.15: about ±15 %)."""
    distortion_rel: float = 0.0
    """RMS of a variant's smooth multiplicative spectral distortion (0.03: 3 %)."""
    patch_m: float = 2.0
    """Size of the ground squares sharing one variant, metres (2 m: about one
    hyperspectral pixel of the open-pit survey, 64 px over 65° from ~140 m)."""


@dataclass
class ImuConfig:
    """IMU at ``offset_m`` in base_link: specific force and angular rate, noise and bias."""

    rate_hz: float = 200.0
    accel_noise_density: float = 2.0e-3
    """m/s²/√Hz (white noise; per-sample sigma = density·√rate)."""
    gyro_noise_density: float = 1.7e-4
    """rad/s/√Hz."""
    accel_bias_sigma: float = 0.05
    """m/s²: each axis's constant bias is drawn once per seed from N(0, sigma)."""
    gyro_bias_sigma: float = 2.0e-3
    """rad/s."""
    offset_m: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.02])


@dataclass
class GnssConfig:
    """GNSS receiver: white noise in metres (east, north, up); no fix underground."""

    rate_hz: float = 5.0
    sigma_horizontal_m: float = 0.8
    sigma_vertical_m: float = 1.5
    antenna_offset_m: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.15])


@dataclass
class PathConfig:
    """The built-in path, and how any path is flown or driven."""

    speed_m_s: float = 8.0
    altitude_m: float = 80.0
    """Pit: above the rim (the scene origin's level). Drift: base_link above the floor."""
    sidelap: float = 0.65
    """Pit lawnmower: side overlap of neighbouring lines at rim level."""
    frontlap: float = 0.0
    """Pit without a plan: > 0 fires the camera by distance, every footprint length (from
    the vertical field of view at rim level) × (1 - frontlap) metres along the path, and
    the frame count follows (``frames`` and ``camera.rate_hz`` are then unused); 0 = off."""
    margin_m: float = 20.0
    """Pit lawnmower: how far beyond the pit the lines extend."""
    accel_time_s: float = 3.0
    """Smooth start from rest and stop at the end, seconds each."""
    corner_radius_m: float = 15.0
    """Largest fillet radius at path corners (plan waypoints)."""


@dataclass
class GeoConfig:
    """Where the scene is on the earth, and its mine grid."""

    origin_lat_deg: float = 49.9480
    origin_lon_deg: float = 82.6280
    origin_alt_m: float = 300.0
    """Ellipsoidal height of the scene origin (local ENU 0, 0, 0)."""
    grid_rotation_deg: float = 0.0
    """Mine grid rotation from UTM east/north, counter-clockwise degrees."""
    grid_origin_m: list[float] = field(default_factory=lambda: [10000.0, 20000.0, 1300.0])
    """Mine grid coordinates of the scene origin."""
    grid_scale: float = 1.0


@dataclass
class PitConfig:
    """Open pit: benched terraces, a haul ramp, zones and contamination."""

    width_m: float = 300.0
    length_m: float = 300.0
    depth_m: float = 60.0
    bench_height_m: float = 10.0
    berm_width_m: float = 8.0
    face_angle_deg: float = 70.0
    ramp_width_m: float = 18.0
    ramp_grade: float = 0.10
    grid_res_m: float = 0.5
    margin_m: float = 45.0
    outline_noise: float = 0.06
    sun_azimuth_deg: float = 135.0
    sun_elevation_deg: float = 40.0
    ambient: float = 0.3
    shadows: bool = True
    gcp_size_m: float = 4.0
    """Side of the ground-control ArUco targets (black square)."""
    gcp_count: int = 6
    detail_contrast: float = 0.8
    """Ground detail (pebbles, grain: simulator/rock_grain.py at the pit's GSD): albedo
    contrast. 0.8 gives a 640x480 frame 1,500-3,700 SIFT keypoints (real drone images
    at that size: up to ~3,900); 0 = off (the frames of runs before it)."""
    detail_scale_gsd: float = 3.0
    """Coarsest ground-detail feature in ground sample distances at rim level."""


@dataclass
class DriftConfig:
    """Underground drift: arched section, a bend, a junction, wall markers."""

    width_m: float = 4.0
    wall_height_m: float = 3.0
    arch_rise_m: float = 1.0
    """0 gives a rectangular section."""
    leg1_m: float = 50.0
    bend_deg: float = 50.0
    bend_radius_m: float = 15.0
    leg2_m: float = 60.0
    junction_at_m: float = 30.0
    branch_length_m: float = 25.0
    grade: float = 0.01
    roughness_m: float = 0.15
    res_m: float = 0.1
    heading_deg: float = 30.0
    """Azimuth of the first leg, clockwise from north."""
    marker_size_m: float = 0.3
    marker_spacing_m: float = 10.0
    lamp_power: float = 4.0
    """Headlamp irradiance at 1 m on the optical axis (1 = a white wall at full scale)."""
    grain_contrast: float = 0.8
    """Rock grain (mm-cm albedo contrast, simulator/rock_grain.py); 0 = off (the bare
    fractal of earlier runs: ~20 SIFT keypoints a frame)."""
    fixtures: bool = True
    """Rock bolts and plates, a ventilation duct, pipes and a cable
    (simulator/drift_fixtures.py); false gives the bare rock tube."""
    bolt_spacing_m: float = 1.25
    """Distance between the rings of rock bolts along the drift."""
    wire_mesh: bool = True
    """Welded mesh (10 cm) on walls and roof (simulator/rock_grain.py)."""
    route: str = "through"
    """The built-in robot path: ``through`` drives the main drift once, end to end;
    ``revisit`` turns round beyond the junction, drives back past it, turns round again
    and then drives through to the end, so the stretch around the junction is seen twice
    from the same direction (a loop closure for SLAM to find)."""
    revisit_m: float = 20.0
    """``revisit``: length of the first leg driven three times, centred on the junction
    (the two U-turns, radius 0.8 m, lie at its ends)."""
    fixed_lamps: bool = True
    """Lamp fittings hung from the crown of the main drift and over the junction
    (simulator/drift_lamps.py): geometry (a glowing housing) and light (Lambert, 1/r²,
    cast shadows) added to the headlamp; false gives the drift lit by the headlamp alone."""
    fixed_lamp_spacing_m: float = 10.0
    """Distance between the fixed lamps along the main drift (one more hangs over the
    junction)."""
    fixed_lamp_power: float = 3.0
    """A fixed lamp's irradiance at 1 m straight below it, in the headlamp's units
    (``lamp_power``)."""
    fixed_lamp_cct_k: float = 3000.0
    """Colour temperature of the fixed lamps (a blackbody). The default is the headlamp's,
    so one illumination spectrum (spectra.csv ``irradiance_rel``) still turns every
    hyperspectral pixel into reflectance; another (e.g. 4000 K, a neutral-white LED)
    tints their light against the camera's white balance and mixes a second spectrum
    into the cubes (``lamp_irradiance_rel``), as mixed lighting does underground."""
    fixed_lamp_range_m: float = 15.0
    """A fixed lamp's light fades smoothly to nothing at this distance."""
    fixed_lamp_mount: str = "crown"
    """Where the fittings hang: ``crown`` (under the back, plumb) or ``wall`` (on the
    right-hand wall, 2.7 m up, above the cable)."""


@dataclass
class SimConfig:
    """A whole simulation."""

    scene: SceneKind = "open-pit"
    seed: int = 0
    frames: int = 120
    """Colour frames; 0: as many as cover the whole route at ``camera.rate_hz``."""
    start_ns: int = START_NS
    plan: str | None = None
    workers: int = 2
    """Frames rendered in parallel worker processes, forked (threads where the platform
    cannot fork); 1 renders in the calling process. Results do not depend on it."""
    camera: CameraConfig = field(default_factory=CameraConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    hsi: HsiConfig = field(default_factory=HsiConfig)
    imu: ImuConfig = field(default_factory=ImuConfig)
    gnss: GnssConfig = field(default_factory=GnssConfig)
    path: PathConfig = field(default_factory=PathConfig)
    geo: GeoConfig = field(default_factory=GeoConfig)
    pit: PitConfig = field(default_factory=PitConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping; for the drift the pit section is left out and vice versa."""
        out = dataclasses.asdict(self)
        out.pop("drift" if self.scene == "open-pit" else "pit")
        return out


def default_config(scene: str) -> SimConfig:
    """The defaults of ``scene`` (``open-pit`` or ``drift``)."""
    if scene not in SCENES:
        raise SimulatorError(f"unknown scene {scene!r} (choose from {', '.join(SCENES)})")
    if scene == "open-pit":
        return SimConfig(
            scene="open-pit",
            # a drone's depth camera cannot see 80-140 m; a long-range stereo stand-in,
            # in metres (16UC1 millimetres stop at 65.5 m)
            depth=DepthConfig(
                min_range_m=1.0,
                max_range_m=300.0,
                noise_c_per_m=5.0e-5,
                dropout=0.01,
                encoding="32FC1",
            ),
        )
    return SimConfig(
        scene="drift",
        camera=CameraConfig(mount_pitch_deg=5.0, mount_xyz_m=[0.2, 0.0, 0.45]),
        path=PathConfig(speed_m_s=0.8, altitude_m=0.35, accel_time_s=2.0),
        geo=GeoConfig(
            origin_lat_deg=49.9462,
            origin_lon_deg=82.6335,
            origin_alt_m=120.0,
            grid_rotation_deg=12.5,
        ),
    )


# --- overrides -----------------------------------------------------------------------------


def apply_overrides(config: SimConfig, overrides: Mapping[str, Any]) -> SimConfig:
    """A copy of ``config`` with the nested ``overrides`` applied (checked per key)."""
    copy = dataclasses.replace(config)
    for name in ("camera", "depth", "hsi", "imu", "gnss", "path", "geo", "pit", "drift"):
        setattr(copy, name, dataclasses.replace(getattr(config, name)))
    _apply(copy, overrides, "")
    validate(copy)
    return copy


def _apply(target: Any, overrides: Mapping[str, Any], prefix: str) -> None:
    if not isinstance(overrides, Mapping):
        raise SimulatorError(f"configuration {prefix or 'root'} must be a mapping")
    hints = get_type_hints(type(target))
    names = {f.name for f in dataclasses.fields(target)}
    for key, value in overrides.items():
        where = f"{prefix}{key}"
        if key not in names:
            raise SimulatorError(
                f"unknown configuration key {where!r} (known: {', '.join(sorted(names))})"
            )
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            _apply(current, value, f"{where}.")
            continue
        setattr(target, key, _coerce(value, hints[key], where))


def _coerce(value: Any, hint: Any, where: str) -> Any:
    args = get_args(hint)
    origin = getattr(hint, "__origin__", None)
    if hint is bool:
        if not isinstance(value, bool):
            raise SimulatorError(f"configuration {where!r} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SimulatorError(f"configuration {where!r} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SimulatorError(f"configuration {where!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise SimulatorError(f"configuration {where!r} must be a finite number, got {value!r}")
        return float(value)
    if origin is list:
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        ):
            raise SimulatorError(
                f"configuration {where!r} must be a list of finite numbers, got {value!r}"
            )
        return [float(v) for v in value]
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            raise SimulatorError(f"configuration {where!r} must be one of {choices}, got {value!r}")
        return value
    if type(None) in args:  # str | None
        if value is not None and not isinstance(value, str):
            raise SimulatorError(f"configuration {where!r} must be a string or null")
        return value
    return value


def validate(config: SimConfig) -> None:
    """Reject parameters that cannot give a meaningful simulation, naming the parameter."""

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise SimulatorError(message)

    def finite(*values: float) -> bool:
        return all(math.isfinite(v) for v in values)

    cam, depth, hsi = config.camera, config.depth, config.hsi
    need(config.scene in SCENES, f"unknown scene {config.scene!r}")
    need(
        0 <= config.frames <= MAX_FRAMES,
        f"frames (--frames) must be 1..{MAX_FRAMES}, got {config.frames} (0 in a config: "
        "the whole route at camera.rate_hz)",
    )
    need(
        config.frames > 0 or config.camera.rate_hz > 0,
        "frames 0 (the whole route) needs a camera rate (--rate): at 0 Hz the frames "
        "are spread over the route and their count must be given",
    )
    need(config.seed >= 0, f"seed (--seed) must be a non-negative integer, got {config.seed}")
    need(1 <= config.workers <= 64, f"workers must be 1..64, got {config.workers}")
    for side, flag, value in (("width", "--width", cam.width), ("height", "--height", cam.height)):
        need(8 <= value <= 8192, f"camera.{side} ({flag}) {value} must be 8..8192 pixels")
    need(
        finite(cam.hfov_deg) and 10.0 <= cam.hfov_deg <= 150.0,
        f"camera.hfov_deg {cam.hfov_deg} must be 10..150",
    )
    need(
        finite(cam.rate_hz) and 0.0 <= cam.rate_hz <= 1000.0,
        f"camera.rate_hz (--rate) {cam.rate_hz} must be 0..1000 Hz (0: spread frames)",
    )
    need(len(cam.distortion) == 5, "camera.distortion must be 5 numbers: k1 k2 p1 p2 k3")
    need(cam.noise_dn >= 0.0, "camera.noise_dn must be >= 0")
    need(1 <= cam.marker_supersample <= 16, "camera.marker_supersample must be 1..16")
    need(len(cam.mount_xyz_m) == 3, "camera.mount_xyz_m must be 3 numbers")
    need(
        0.0 < depth.min_range_m < depth.max_range_m,
        f"depth range {depth.min_range_m}..{depth.max_range_m} m must be 0 < min < max",
    )
    need(
        depth.encoding != "16UC1" or depth.max_range_m <= 65.535,
        f"depth.max_range_m {depth.max_range_m} does not fit 16UC1 millimetres "
        "(max 65.535 m); use encoding 32FC1",
    )
    need(0.0 <= depth.dropout < 1.0, "depth.dropout must be in [0, 1)")
    need(depth.noise_c_per_m >= 0.0, "depth.noise_c_per_m must be >= 0")
    need(2 <= hsi.bands <= 512, f"hsi.bands {hsi.bands} must be 2..512")
    need(
        1 <= hsi.width <= 2048 and 1 <= hsi.height <= 2048,
        f"hsi.width and hsi.height ({hsi.width}x{hsi.height}) must be 1..2048 pixels",
    )
    need(1 <= hsi.supersample <= 16, "hsi.supersample must be 1..16")
    need(hsi.every >= 1, "hsi.every must be >= 1")
    need(
        hsi.spectra in ("measured", "synthetic", "library"),
        "hsi.spectra must be measured, synthetic or library",
    )
    need(
        hsi.spectra != "library" or bool(hsi.library),
        "hsi.library must name a spectral library file (.hdr/.sli/.csv) with hsi.spectra: library",
    )
    need(
        hsi.spectra != "library" or Path(hsi.library).is_file(),
        f"hsi.library: {hsi.library}: no such file",
    )
    need(
        hsi.exclude in ("sample", "spectrum", "none"),
        "hsi.exclude must be sample, spectrum or none",
    )
    need(hsi.unmatched in ("bundled", "error"), "hsi.unmatched must be bundled or error")
    need(1 <= hsi.variants <= 64, f"hsi.variants {hsi.variants} must be 1..64")
    need(
        finite(hsi.brightness_sigma, hsi.distortion_rel, hsi.patch_m)
        and 0.0 <= hsi.brightness_sigma <= 1.0
        and 0.0 <= hsi.distortion_rel <= 0.3
        and hsi.patch_m > 0.0,
        "hsi.brightness_sigma must be 0..1, hsi.distortion_rel 0..0.3, hsi.patch_m > 0",
    )
    need(hsi.mode in ("snapshot", "pushbroom"), "hsi.mode must be snapshot or pushbroom")
    need(config.imu.rate_hz > 0.0, "imu.rate_hz must be positive")
    need(config.gnss.rate_hz > 0.0, "gnss.rate_hz must be positive")
    need(
        config.gnss.sigma_horizontal_m >= 0.0 and config.gnss.sigma_vertical_m >= 0.0,
        "gnss sigmas must be >= 0",
    )
    need(config.path.speed_m_s > 0.0, "path.speed_m_s must be positive")
    need(config.path.accel_time_s >= 0.0, "path.accel_time_s must be >= 0")
    need(
        0.0 <= config.path.sidelap < 0.95,
        f"path.sidelap (--side-overlap) {config.path.sidelap} must be in [0, 0.95)",
    )
    pit = config.pit
    need(pit.depth_m > 0 and pit.bench_height_m > 0, "pit depth and bench height must be > 0")
    need(0.0 < pit.face_angle_deg < 90.0, "pit.face_angle_deg must be in (0, 90)")
    need(pit.berm_width_m >= 0.0, "pit.berm_width_m must be >= 0")
    need(pit.width_m >= 50.0 and pit.length_m >= 50.0, "pit width and length must be >= 50 m")
    need(0.1 <= pit.grid_res_m <= 5.0, "pit.grid_res_m must be 0.1..5 m")
    need(0.0 < pit.sun_elevation_deg <= 90.0, "pit.sun_elevation_deg must be in (0, 90]")
    drift = config.drift
    need(drift.width_m >= 1.0 and drift.wall_height_m >= 1.0, "drift section too small")
    need(drift.arch_rise_m >= 0.0, "drift.arch_rise_m must be >= 0")
    need(
        drift.width_m / 2 < drift.junction_at_m < drift.leg1_m - drift.width_m,
        "drift.junction_at_m must lie inside the first leg",
    )
    need(0.02 <= drift.res_m <= 0.5, "drift.res_m must be 0.02..0.5 m")
    need(drift.roughness_m >= 0.0, "drift.roughness_m must be >= 0")
    need(0.0 <= drift.grain_contrast < 1.0, "drift.grain_contrast must be in [0, 1)")
    need(drift.bolt_spacing_m >= 0.3, "drift.bolt_spacing_m must be at least 0.3")
    need(drift.route in ("through", "revisit"), "drift.route must be 'through' or 'revisit'")
    need(drift.fixed_lamp_spacing_m >= 2.0, "drift.fixed_lamp_spacing_m must be at least 2")
    need(drift.fixed_lamp_power >= 0.0, "drift.fixed_lamp_power must be >= 0")
    need(1000.0 <= drift.fixed_lamp_cct_k <= 20000.0, "drift.fixed_lamp_cct_k must be 1000..20000")
    need(drift.fixed_lamp_range_m >= 1.0, "drift.fixed_lamp_range_m must be at least 1")
    need(drift.fixed_lamp_mount in ("crown", "wall"), "drift.fixed_lamp_mount must be crown|wall")
    need(0.0 <= pit.detail_contrast < 1.0, "pit.detail_contrast must be in [0, 1)")
    need(pit.detail_scale_gsd > 0.0, "pit.detail_scale_gsd must be positive")
    need(
        0.0 <= config.path.frontlap < 0.98,
        f"path.frontlap (--front-overlap) {config.path.frontlap} must be in [0, 0.98)",
    )
    _validate_more(config, need)


def _validate_more(config: SimConfig, need: Any) -> None:
    """Numbers with no other check: signs and ranges that make physical sense."""
    imu, gnss, geo, path = config.imu, config.gnss, config.geo, config.path
    for name in ("accel_noise_density", "gyro_noise_density", "accel_bias_sigma"):
        need(getattr(imu, name) >= 0.0, f"imu.{name} must be >= 0, got {getattr(imu, name)}")
    need(imu.gyro_bias_sigma >= 0.0, f"imu.gyro_bias_sigma must be >= 0, got {imu.gyro_bias_sigma}")
    need(imu.rate_hz <= 10000.0, f"imu.rate_hz must be at most 10000, got {imu.rate_hz}")
    need(gnss.rate_hz <= 100.0, f"gnss.rate_hz must be at most 100, got {gnss.rate_hz}")
    for name, size in (
        ("imu.offset_m", len(imu.offset_m)),
        ("hsi.offset_m", len(config.hsi.offset_m)),
    ):
        need(size == 3, f"{name} must be 3 numbers, got {size}")
    need(len(gnss.antenna_offset_m) == 3, "gnss.antenna_offset_m must be 3 numbers")
    need(len(geo.grid_origin_m) == 3, "geo.grid_origin_m must be 3 numbers")
    need(
        -80.0 <= geo.origin_lat_deg <= 84.0,
        f"geo.origin_lat_deg {geo.origin_lat_deg} must be -80..84 (UTM)",
    )
    need(
        -180.0 <= geo.origin_lon_deg <= 180.0,
        f"geo.origin_lon_deg {geo.origin_lon_deg} must be -180..180",
    )
    need(geo.grid_scale > 0.0, f"geo.grid_scale must be positive, got {geo.grid_scale}")
    need(path.altitude_m > 0.0, f"path.altitude_m must be positive, got {path.altitude_m}")
    need(path.speed_m_s <= 100.0, f"path.speed_m_s must be at most 100, got {path.speed_m_s}")
    need(path.margin_m >= 0.0, f"path.margin_m must be >= 0, got {path.margin_m}")
    need(path.corner_radius_m >= 0.0, "path.corner_radius_m must be >= 0")
    need(config.camera.marker_supersample >= 1, "camera.marker_supersample must be >= 1")
    pit, drift = config.pit, config.drift
    need(pit.width_m <= 5000.0 and pit.length_m <= 5000.0, "pit width and length must be <= 5 km")
    need(pit.ramp_width_m > 0.0, f"pit.ramp_width_m must be positive, got {pit.ramp_width_m}")
    need(0.0 < pit.ramp_grade < 0.5, f"pit.ramp_grade must be in (0, 0.5), got {pit.ramp_grade}")
    need(0 <= pit.gcp_count <= 100, f"pit.gcp_count must be 0..100, got {pit.gcp_count}")
    need(pit.gcp_size_m > 0.0, f"pit.gcp_size_m must be positive, got {pit.gcp_size_m}")
    need(drift.leg1_m <= 2000.0 and drift.leg2_m <= 2000.0, "drift legs must be <= 2000 m")
    need(drift.leg2_m > 0.0, f"drift.leg2_m must be positive, got {drift.leg2_m}")
    need(drift.marker_size_m > 0.0, "drift.marker_size_m must be positive")
    need(drift.marker_spacing_m >= 1.0, "drift.marker_spacing_m must be at least 1 m")
    need(drift.lamp_power >= 0.0, "drift.lamp_power must be >= 0")
    _validate_layout(config, need)


def _validate_layout(config: SimConfig, need: Any) -> None:
    """The scene's geometry can hold what is placed in it (simulator.layout_rules)."""
    drift = config.scene == "drift"
    problems = drift_problems(config.drift) if drift else pit_problems(config.pit)
    need(not problems, "; ".join(problems))


def survey_camera_overrides(sensor: Any, width: int | None, height: int | None) -> dict[str, Any]:
    """Camera config overrides for a catalog survey camera at a reduced resolution: the
    sensor's horizontal field of view, the image's aspect (square pixels)."""
    w = width if width is not None else 640
    h = height if height is not None else round(w * sensor.image_height_px / sensor.image_width_px)
    hfov = math.degrees(2.0 * math.atan(sensor.sensor_width_mm / 2.0 / sensor.focal_length_mm))
    return {"width": w, "height": h, "hfov_deg": hfov}
