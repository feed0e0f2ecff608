"""The hyperspectral sensor: snapshot cubes mixed from the zones' library spectra.

Default: a **snapshot** camera (every pixel of a low-resolution frame at once, like the
mosaic-filter cameras drones carry), boresighted with the RGB camera: frames then share
the RGB camera's poses and timing, which is what SfM, SLAM and map-making pipelines
consume. ``hsi.mode: pushbroom`` makes it a line sensor instead (the middle row, one line
per exposure, each from its own pose and stamped with its time). Each pixel's footprint
is sampled by ``supersample²`` sub-rays; the pixel is the linear mixture of their zones'
reflectance spectra (measured USGS spectra from :mod:`hyperspectral.library` by default,
or the synthetic stand-ins of :mod:`hyperspectral.spectra`), each weighted by its
illumination (sun incidence and shadow, or headlamp falloff) and texture brightness,
times the illumination's spectral shape, plus Gaussian noise. In the drift the fixed
lamps (:mod:`simulator.drift_lamps`) add a second such mixture under their own spectrum
(their colour temperature), and their glowing housings show that spectrum itself.

Published as ``sensor_msgs/Image`` with encoding ``32FC<bands>`` (see
:data:`HSI_CONVENTION`); band centres on the latched ``/hyperspectral/wavelengths``
(``std_msgs/Float32MultiArray``), in scene.json and in spectra.csv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.compiled import NORMAL_TABLE, normal_draws
from simulator.errors import SimulatorError
from simulator.mesh import MARKER_ZONE, ZONES

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]

STREAM_ZONE_VARIANTS = 14
"""Random stream of the zones' spectral variants (simulator.render's noise streams: 11-13)."""

HSI_CONVENTION = (
    "sensor_msgs/Image with encoding 32FC<bands>: height x width pixels, each pixel the "
    "<bands> float32 values of its spectrum in band order (band centres on "
    "/hyperspectral/wavelengths, nm). Value = reflectance x relative irradiance x "
    "illumination (1 = a white Lambertian target on flat ground in full sun, or at 1 m on "
    "the headlamp axis x lamp_power; in the drift plus the fixed lamps' light under their "
    "own spectrum, lamp_irradiance_rel in spectra.csv); divide by spectra.csv "
    "irradiance_rel for apparent reflectance. Linear mixture of the zones in the pixel's "
    "footprint, Gaussian noise sigma = noise_floor + noise_rel x signal."
)


def zone_spectra(wavelengths_nm: F64Array, source: str = "measured") -> F64Array:
    """(zones, bands) reflectance of every zone at the sensor's band centres (markers:
    1, scaled per sub-ray by the printed pattern's reflectance).

    ``measured``: USGS splib07 spectra bundled with the hyperspectral library
    (:func:`hyperspectral.library.measured_reflectance`: each material's mineral mixture,
    resampled to the bands with FWHM = band spacing), so a classifier checked on the
    simulator meets measured spectra, not the generator's own; ``synthetic``: the
    stand-ins of :mod:`hyperspectral.spectra`. (``library``: see :func:`zone_variants`.)"""
    from hyperspectral.library import measured_reflectance
    from hyperspectral.spectra import reflectance

    table = np.zeros((len(ZONES), len(wavelengths_nm)))
    for z in ZONES:
        if z.spectrum is not None:
            if source == "measured":
                table[z.id] = measured_reflectance(z.spectrum, wavelengths_nm)
            else:
                table[z.id] = reflectance(z.spectrum, wavelengths_nm)
    table[MARKER_ZONE] = 1.0
    return table


# --- zone spectra from another library, with spectral variability (issue 20, hsisim) ------


@dataclass(frozen=True)
class Variability:
    """How far a zone's pixels stray from one library spectrum (``hsi.variants`` …)."""

    variants: int = 1
    """Spectra per zone; 1: each mineral's mean spectrum, no variability (as before)."""
    brightness_sigma: float = 0.0
    """Log-normal sigma of each variant's brightness factor (0.15: ±15 %)."""
    distortion_rel: float = 0.0
    """RMS of each variant's smooth multiplicative distortion (3 cosines over the range)."""
    patch_m: float = 2.0
    """Ground patches this size (m) share one variant (drawn per patch by its position)."""
    seed: int = 0


@dataclass(frozen=True)
class ZoneSpectra:
    """The zones' spectra a renderer mixes: ``variants`` rows per zone and where they came
    from (which samples, which zones had no sample of their own and fell back)."""

    table: F64Array
    """(zones × variants, bands): row ``zone · variants + v``."""
    variants: int
    mean: F64Array
    """(zones, bands): mean over the variants (spectra.csv, the documented reflectance)."""
    samples: dict[str, tuple[str, ...]]
    """Material → the spectra (library names) its variants were drawn from."""
    fallback: tuple[str, ...] = ()
    """Materials with no spectrum of their own in ``hsi.library`` (drawn from the bundled
    library instead: for them the check stays circular; named in scene.json)."""


SAMPLE_SUFFIX = re.compile(r"(?<=\d)[A-Za-z]+$")


def sample_id(name: str) -> str:
    """The USGS sample id of a spectrum name (its second word, a trailing letter suffix
    dropped: ``Goethite HS36.3B NIC4bcb RREF`` → ``HS36.3``, ``GDS113a`` → ``GDS113``);
    "" for a one-word name. Two spectra with one id are one sample measured twice."""
    parts = name.split()
    return SAMPLE_SUFFIX.sub("", parts[1]) if len(parts) > 1 else ""


def pure_mineral(cls: str, name: str) -> str | None:
    """The mineral a library spectrum is a sample of, or None for a mixture.

    A labelled library (class ≠ name, e.g. a CSV ``jarosite: field sample 3``) is taken
    at its word (:func:`hyperspectral.minerals.mineral_of` of the class); otherwise the
    name must be a pure sample's (:func:`hyperspectral.minerals.sample_mineral`)."""
    from hyperspectral.minerals import mineral_of, sample_mineral

    return mineral_of(cls) if cls != name else sample_mineral(name)


def library_pool(
    path: str, wavelengths_nm: F64Array, exclude: str
) -> tuple[dict[str, list[tuple[str, F64Array]]], str]:
    """Mineral → [(name, spectrum at the bands)] of a user library's pure samples that
    cover every band, leaving out what the bundled library holds: ``exclude`` ``sample``
    (every spectrum of a bundled sample id), ``spectrum`` (the same name) or ``none``."""
    from hyperspectral.errors import HyperspectralError
    from hyperspectral.library import bundled_library, load_library

    try:
        lib = load_library(path).resample(wavelengths_nm)
    except HyperspectralError as err:
        raise SimulatorError(f"hsi.library: {err}") from None
    bundled = bundled_library()
    names = {" ".join(n.split()) for n in bundled.names}
    samples = {sample_id(n) for n in bundled.names} - {""}
    pool: dict[str, list[tuple[str, F64Array]]] = {}
    for cls, name, spectrum in zip(lib.classes, lib.names, lib.spectra, strict=True):
        mineral = pure_mineral(cls, name)
        if mineral is None or not np.isfinite(spectrum).all():
            continue
        if exclude != "none" and " ".join(name.split()) in names:
            continue
        if exclude == "sample" and sample_id(name) in samples:
            continue
        pool.setdefault(mineral, []).append((" ".join(name.split()), spectrum))
    return pool, lib.source


def bundled_pool(wavelengths_nm: F64Array) -> dict[str, list[tuple[str, F64Array]]]:
    """Class → [(name, spectrum at the bands)] of the bundled library (complete ones)."""
    from hyperspectral.library import bundled_library

    lib = bundled_library().resample(wavelengths_nm)
    pool: dict[str, list[tuple[str, F64Array]]] = {}
    for cls, name, spectrum in zip(lib.classes, lib.names, lib.spectra, strict=True):
        if np.isfinite(spectrum).all():
            pool.setdefault(cls, []).append((name, spectrum))
    return pool


def smooth_distortion(wavelengths_nm: F64Array, rel: float, rng: np.random.Generator) -> F64Array:
    """1 + a random smooth curve of RMS ``rel``: three cosines (periods of 2, 1 and 2/3
    times the band range, random phases), no narrow feature a classifier could key on."""
    x = (wavelengths_nm - wavelengths_nm[0]) / max(float(np.ptp(wavelengths_nm)), 1e-9)
    curve: F64Array = np.zeros_like(x)
    for k in (1, 2, 3):
        curve += rng.normal() * np.cos(np.pi * k * x + rng.uniform(0, 2 * np.pi))
    return np.asarray(1.0 + rel * curve / np.sqrt(1.5), dtype=np.float64)


def zone_variants(
    wavelengths_nm: F64Array,
    source: str = "measured",
    variability: Variability | None = None,
    library: str = "",
    exclude: str = "sample",
    unmatched: str = "bundled",
) -> ZoneSpectra:
    """The zones' spectra with variability: per zone ``variants`` spectra, each the zone's
    mineral mixture (:data:`hyperspectral.library.MEASURED_STAND_INS`) of one sample per
    mineral drawn from the pool, times a brightness factor and a smooth distortion.

    Pools: ``measured`` the bundled library's spectra of each class; ``library`` the pure
    samples of ``library`` found by mineral (:func:`library_pool`), so the classifier (the
    bundled library) meets other samples of the same minerals; ``synthetic`` the
    stand-ins. A material whose mineral has no sample left in ``library``: ``unmatched``
    ``bundled`` draws it from the bundled library (listed in ``fallback``), ``error``
    stops. With one variant and no scaling: the mean of each pool (``measured``: the
    exact table of :func:`zone_spectra`)."""
    var = variability or Variability()
    if source != "library" and var.variants == 1:
        table = zone_spectra(wavelengths_nm, source)
        return ZoneSpectra(table, 1, table, {}, ())
    from hyperspectral.library import MEASURED_STAND_INS

    bundled = bundled_pool(wavelengths_nm)
    pool, where = bundled, "bundled"
    if source == "library":
        pool, where = library_pool(library, wavelengths_nm, exclude)
    elif source == "synthetic":
        synthetic = zone_spectra(wavelengths_nm, "synthetic")
        pool = {z.name: [(f"synthetic {z.spectrum}", synthetic[z.id])] for z in ZONES}
    v = var.variants
    table = np.zeros((len(ZONES) * v, len(wavelengths_nm)))
    samples: dict[str, tuple[str, ...]] = {}
    fallback: list[str] = []
    for z in ZONES:
        if z.spectrum is None:
            continue
        rng = np.random.default_rng([var.seed, STREAM_ZONE_VARIANTS, z.id])
        mixture = MEASURED_STAND_INS.get(z.spectrum) or {z.spectrum: 1.0}
        if source == "synthetic":
            mixture = {z.name: 1.0}
        used: list[str] = []
        base = np.zeros((v, len(wavelengths_nm)))
        for mineral, weight in mixture.items():
            members = pool.get(mineral, [])
            if not members:
                if unmatched != "bundled":
                    raise SimulatorError(
                        f"hsi.library: {where} holds no sample of {mineral} (zone {z.name}) "
                        "besides the bundled ones (hsi.unmatched: error)"
                    )
                fallback.append(z.name)
                members = bundled[mineral]
            stack = np.stack([m[1] for m in members])
            if v == 1:
                base[0] += weight * stack.mean(axis=0)
                used.extend(m[0] for m in members)
                continue
            pick = rng.integers(len(members), size=v)
            base += weight * stack[pick]
            used.extend(members[i][0] for i in sorted(set(pick.tolist())))
        scale = np.exp(var.brightness_sigma * rng.normal(size=(v, 1)))
        shape = np.stack(
            [smooth_distortion(wavelengths_nm, var.distortion_rel, rng) for _ in range(v)]
        )
        table[z.id * v : (z.id + 1) * v] = np.clip(base * scale * shape, 0.0, 1.0)
        samples[z.name] = tuple(dict.fromkeys(used))
    table[MARKER_ZONE * v : (MARKER_ZONE + 1) * v] = 1.0
    mean = table.reshape(len(ZONES), v, -1).mean(axis=1)
    return ZoneSpectra(table, v, mean, samples, tuple(dict.fromkeys(fallback)))


def patch_variant(points: F64Array, patch_m: float, variants: int, seed: int) -> I64Array:
    """Variant index (0 … variants-1) of world points: one per ``patch_m`` ground square,
    from a hash of the square's indices and the seed, so every view of a spot sees the
    same spectrum (not a new one per frame)."""
    cells = np.floor(points[:, :2] / patch_m).astype(np.int64).view(np.uint64)
    h = cells[:, 0] * np.uint64(0x9E3779B97F4A7C15) ^ cells[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)
    h ^= np.uint64(seed * 0x165667B19E3779F9 % (1 << 64))
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return (h % np.uint64(variants)).astype(np.int64)


@dataclass
class HsiRender:
    """One hyperspectral cube and the zone fractions it was mixed from."""

    cube: F32Array
    """(H, W, bands) at-sensor signal: reflectance × irradiance shape × illumination."""
    fractions: F64Array
    """(H, W, zones) geometric fraction of each zone in each pixel's footprint."""
    line_offsets_s: F64Array | None = None
    """Push-broom: each row is a line exposed this long after the colour frame's stamp
    (from its own pose); None for a snapshot cube."""


def mix(
    zone: npt.NDArray[np.integer],
    weight: F64Array,
    shape: tuple[int, int],
    samples_per_pixel: int,
    zone_refl: F64Array,
    irradiance: F64Array,
    noise_floor: float,
    noise_rel: float,
    noise_key: int,
    lamps: tuple[npt.NDArray[np.integer], F64Array, F64Array] | None = None,
    variants: int = 1,
) -> HsiRender:
    """Mix sub-ray samples (pixel-major, ``samples_per_pixel`` each) into a cube.

    ``zone`` (0 where the ray hit nothing) and ``weight`` (illumination × brightness)
    per sub-ray; the pixel's spectrum is ``Σ weight·ρ_zone / n × irradiance + noise``.
    ``lamps`` (zone, weight, irradiance) adds a second light with its own spectrum the
    same way (the drift's fixed lamps: their light, and their glowing housings as zone
    reflectance 1 × glow); None leaves the cube as it was without them. ``variants`` > 1:
    ``zone`` indexes rows of ``zone_refl`` (``zone · variants + v``, see
    :class:`ZoneSpectra`) and the fractions sum each zone's variants.
    """
    n_pix = shape[0] * shape[1]
    n_zones = zone_refl.shape[0]
    pixel = np.arange(len(zone)) // samples_per_pixel
    flat = pixel * n_zones + np.asarray(zone, dtype=np.int64)
    size = n_pix * n_zones
    weights = np.bincount(flat, weights=weight, minlength=size).reshape(n_pix, n_zones)
    counts = np.bincount(flat, minlength=size).reshape(n_pix, n_zones).astype(np.float64)
    signal = (weights / samples_per_pixel @ zone_refl) * irradiance
    if lamps is not None:
        lamp_zone, lamp_weight, lamp_irradiance = lamps
        lamp_flat = pixel * n_zones + np.asarray(lamp_zone, dtype=np.int64)
        lamp_w = np.bincount(lamp_flat, weights=lamp_weight, minlength=size)
        lamp_w = lamp_w.reshape(n_pix, n_zones)
        signal = signal + (lamp_w / samples_per_pixel @ zone_refl) * lamp_irradiance
    sigma = noise_floor + noise_rel * signal
    # value i of the cube takes draw i of the counter-based stream (simulator.compiled)
    draws = np.empty(signal.size)
    normal_draws(np.uint64(noise_key), 0, NORMAL_TABLE, draws)
    cube = signal + sigma * draws.reshape(signal.shape)
    return HsiRender(
        cube.reshape(*shape, -1).astype(np.float32),
        (counts / samples_per_pixel).reshape(*shape, n_zones // variants, variants).sum(-1),
    )
