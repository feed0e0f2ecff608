"""Seeded, smooth procedural noise for terrain, rock roughness and texture.

Value noise on an integer lattice whose values come from an integer hash of the lattice
coordinates and the seed: no tables, no state, any domain, and the same point always
gives the same value for the same seed, so scenes are reproducible and textures can be
evaluated lazily per rendered pixel.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64Array = npt.NDArray[np.float64]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_P = (np.uint64(0x8DA6B343), np.uint64(0xD8163841), np.uint64(0xCB1AB31F))


def _hash01(
    ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64], iz: npt.NDArray[np.int64], seed: int
) -> F64Array:
    """Uniform [0, 1) from lattice coordinates (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = (
            ix.astype(np.uint64) * _P[0]
            ^ iy.astype(np.uint64) * _P[1]
            ^ iz.astype(np.uint64) * _P[2]
            ^ (np.uint64(seed) * _M1)
        )
        h ^= h >> np.uint64(30)
        h *= _M2
        h ^= h >> np.uint64(27)
        h *= _M3
        h ^= h >> np.uint64(31)
    out: F64Array = (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return out


def value_noise(points: npt.ArrayLike, seed: int) -> F64Array:
    """Smooth noise in [0, 1] at (..., 3) points, one lattice cell per unit."""
    p = np.asarray(points, dtype=np.float64)
    shape = p.shape[:-1]
    p = p.reshape(-1, 3)
    base = np.floor(p)
    frac = p - base
    w = frac * frac * (3.0 - 2.0 * frac)
    i = base.astype(np.int64)
    ix0, iy0, iz0 = i[:, 0], i[:, 1], i[:, 2]
    ix1, iy1, iz1 = ix0 + 1, iy0 + 1, iz0 + 1
    wx, wy, wz = w[:, 0], w[:, 1], w[:, 2]

    def lerp(a: F64Array, b: F64Array, t: F64Array) -> F64Array:
        return a + (b - a) * t

    c00 = lerp(_hash01(ix0, iy0, iz0, seed), _hash01(ix1, iy0, iz0, seed), wx)
    c10 = lerp(_hash01(ix0, iy1, iz0, seed), _hash01(ix1, iy1, iz0, seed), wx)
    c01 = lerp(_hash01(ix0, iy0, iz1, seed), _hash01(ix1, iy0, iz1, seed), wx)
    c11 = lerp(_hash01(ix0, iy1, iz1, seed), _hash01(ix1, iy1, iz1, seed), wx)
    out = lerp(lerp(c00, c10, wy), lerp(c01, c11, wy), wz)
    return out.reshape(shape)


def octave_sum(
    points: npt.ArrayLike,
    seed: int,
    *,
    scale_m: float,
    first: int,
    count: int,
    gain: float = 0.5,
) -> tuple[F64Array, float]:
    """Octaves ``first .. first + count - 1`` of :func:`fbm`, unnormalised, and the
    total amplitude of those octaves (split an fbm into coarse and fine parts)."""
    p = np.asarray(points, dtype=np.float64) / scale_m
    total = np.zeros(p.shape[:-1])
    norm = 0.0
    for octave in range(first, first + count):
        amplitude = gain**octave
        # offset each octave so lattice points of different octaves do not line up
        total += amplitude * value_noise(p * (2.0**octave) + 17.31 * octave, seed + octave)
        norm += amplitude
    return total, norm


def fbm(
    points: npt.ArrayLike, seed: int, *, scale_m: float, octaves: int = 4, gain: float = 0.5
) -> F64Array:
    """Fractal sum of value noise, normalised to [0, 1]; ``scale_m`` is the coarsest
    feature size. Each octave halves the size and multiplies the amplitude by ``gain``."""
    total, norm = octave_sum(points, seed, scale_m=scale_m, first=0, count=octaves, gain=gain)
    return np.asarray(total / norm, dtype=np.float64)
