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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.compiled import NORMAL_TABLE, normal_draws
from simulator.mesh import MARKER_ZONE, ZONES

F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]

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
    stand-ins of :mod:`hyperspectral.spectra`."""
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
) -> HsiRender:
    """Mix sub-ray samples (pixel-major, ``samples_per_pixel`` each) into a cube.

    ``zone`` (0 where the ray hit nothing) and ``weight`` (illumination × brightness)
    per sub-ray; the pixel's spectrum is ``Σ weight·ρ_zone / n × irradiance + noise``.
    ``lamps`` (zone, weight, irradiance) adds a second light with its own spectrum the
    same way (the drift's fixed lamps: their light, and their glowing housings as zone
    reflectance 1 × glow); None leaves the cube as it was without them.
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
        (counts / samples_per_pixel).reshape(*shape, n_zones),
    )
