"""Seeded, smooth procedural noise for terrain, rock roughness and texture.

Value noise on an integer lattice whose values come from an integer hash of the lattice
coordinates and the seed: no tables, no state, any domain, and the same point always
gives the same value for the same seed, so scenes are reproducible and textures can be
evaluated lazily per rendered pixel.

Texture is the renderer's largest per-pixel cost, so :func:`octave_sum` runs a compiled,
vectorised kernel (:mod:`simulator.compiled`). :func:`octave_sum_reference` and
:func:`value_noise` state the same maths in plain numpy: the kernel performs the same
IEEE operations in the same order, so both give bit-identical results
(tests/test_simulator_units.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.compiled import jit

F64Array = npt.NDArray[np.float64]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_P = (np.uint64(0x8DA6B343), np.uint64(0xD8163841), np.uint64(0xCB1AB31F))
_TO_UNIT = 1.0 / 9007199254740992.0
"""2⁻⁵³: the top 53 bits of the hash as a double in [0, 1)."""
OCTAVE_OFFSET = 17.31
"""Each octave is shifted by this many lattice cells times its index, so lattice points
of different octaves do not line up."""


def _seed_term(seed: int) -> np.uint64:
    with np.errstate(over="ignore"):
        return np.uint64(np.uint64(seed) * _M1)


def _hash01(
    ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64], iz: npt.NDArray[np.int64], seed: int
) -> F64Array:
    """Uniform [0, 1) from lattice coordinates (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = (
            ix.astype(np.uint64) * _P[0]
            ^ iy.astype(np.uint64) * _P[1]
            ^ iz.astype(np.uint64) * _P[2]
            ^ _seed_term(seed)
        )
        h ^= h >> np.uint64(30)
        h *= _M2
        h ^= h >> np.uint64(27)
        h *= _M3
        h ^= h >> np.uint64(31)
    out: F64Array = (h >> np.uint64(11)).astype(np.float64) * _TO_UNIT
    return out


def value_noise(points: npt.ArrayLike, seed: int) -> F64Array:
    """Smooth noise in [0, 1] at (..., 3) points, one lattice cell per unit (numpy
    reference of the compiled kernel)."""
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


def octave_sum_reference(
    points: npt.ArrayLike, seed: int, *, scale_m: float, first: int, count: int, gain: float
) -> F64Array:
    """:func:`octave_sum`'s sum in plain numpy (the statement the kernel must match)."""
    p = np.asarray(points, dtype=np.float64) / scale_m
    total = np.zeros(p.shape[:-1])
    for octave in range(first, first + count):
        total += gain**octave * value_noise(
            p * (2.0**octave) + OCTAVE_OFFSET * octave, seed + octave
        )
    return total


@jit
def _unit_hash(h: np.uint64) -> float:
    """splitmix64 finaliser of a combined lattice key, to [0, 1)."""
    h ^= h >> np.uint64(30)
    h *= _M2
    h ^= h >> np.uint64(27)
    h *= _M3
    h ^= h >> np.uint64(31)
    return float(np.float64(h >> np.uint64(11)) * _TO_UNIT)


@jit
def _octave_kernel(
    points: F64Array,
    scale_m: float,
    factors: F64Array,
    offsets: F64Array,
    amplitudes: F64Array,
    seed_terms: npt.NDArray[np.uint64],
    out: F64Array,
) -> None:
    """out = Σ amplitude·value_noise(point / scale · factor + offset) over octaves, the
    operations of :func:`octave_sum_reference` in its order. Octaves outside, points
    inside: the inner loop has no branches, so LLVM vectorises it."""
    p0, p1, p2 = _P
    one = np.int64(1)
    n_points = points.shape[1]
    px, py, pz = points[0], points[1], points[2]
    for n in range(n_points):
        out[n] = 0.0
    for o in range(factors.shape[0]):
        factor, offset, amplitude, s = factors[o], offsets[o], amplitudes[o], seed_terms[o]
        for n in range(n_points):
            x = px[n] / scale_m * factor + offset
            y = py[n] / scale_m * factor + offset
            z = pz[n] / scale_m * factor + offset
            bx, by, bz = np.floor(x), np.floor(y), np.floor(z)
            fx, fy, fz = x - bx, y - by, z - bz
            wx = fx * fx * (3.0 - 2.0 * fx)
            wy = fy * fy * (3.0 - 2.0 * fy)
            wz = fz * fz * (3.0 - 2.0 * fz)
            ix, iy, iz = np.int64(bx), np.int64(by), np.int64(bz)
            x0, x1 = np.uint64(ix) * p0, np.uint64(ix + one) * p0
            y0, y1 = np.uint64(iy) * p1, np.uint64(iy + one) * p1
            z0, z1 = np.uint64(iz) * p2 ^ s, np.uint64(iz + one) * p2 ^ s
            c000, c100 = _unit_hash(x0 ^ y0 ^ z0), _unit_hash(x1 ^ y0 ^ z0)
            c010, c110 = _unit_hash(x0 ^ y1 ^ z0), _unit_hash(x1 ^ y1 ^ z0)
            c001, c101 = _unit_hash(x0 ^ y0 ^ z1), _unit_hash(x1 ^ y0 ^ z1)
            c011, c111 = _unit_hash(x0 ^ y1 ^ z1), _unit_hash(x1 ^ y1 ^ z1)
            c00 = c000 + (c100 - c000) * wx
            c10 = c010 + (c110 - c010) * wx
            c01 = c001 + (c101 - c001) * wx
            c11 = c011 + (c111 - c011) * wx
            c0 = c00 + (c10 - c00) * wy
            c1 = c01 + (c11 - c01) * wy
            out[n] += amplitude * (c0 + (c1 - c0) * wz)


@dataclass(frozen=True)
class Octaves:
    """The per-octave constants of octaves ``first .. first + count - 1`` of :func:`fbm`
    (what the compiled kernels take)."""

    scale_m: float
    factors: F64Array
    offsets: F64Array
    amplitudes: F64Array
    seed_terms: npt.NDArray[np.uint64]
    norm: float
    """Total amplitude of these octaves."""

    @classmethod
    def of(cls, seed: int, *, scale_m: float, first: int, count: int, gain: float) -> Octaves:
        octaves = range(first, first + count)
        amplitudes = [gain**octave for octave in octaves]
        return cls(
            float(scale_m),
            np.array([2.0**octave for octave in octaves]),
            np.array([OCTAVE_OFFSET * octave for octave in octaves]),
            np.array(amplitudes),
            np.array([_seed_term(seed + octave) for octave in octaves], dtype=np.uint64),
            float(sum(amplitudes)),
        )


def octave_sums(points_t: F64Array, octaves: Octaves) -> F64Array:
    """The unnormalised sum of ``octaves`` at (3, N) points (x, y, z rows; contiguous
    rows, so the kernel vectorises); :func:`octave_sum` without its reshaping."""
    out = np.empty(points_t.shape[1])
    _octave_kernel(
        points_t,
        octaves.scale_m,
        octaves.factors,
        octaves.offsets,
        octaves.amplitudes,
        octaves.seed_terms,
        out,
    )
    return out


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
    p = np.asarray(points, dtype=np.float64)
    shape = p.shape[:-1]
    o = Octaves.of(seed, scale_m=scale_m, first=first, count=count, gain=gain)
    return octave_sums(np.ascontiguousarray(p.reshape(-1, 3).T), o).reshape(shape), o.norm


def fbm(
    points: npt.ArrayLike, seed: int, *, scale_m: float, octaves: int = 4, gain: float = 0.5
) -> F64Array:
    """Fractal sum of value noise, normalised to [0, 1]; ``scale_m`` is the coarsest
    feature size. Each octave halves the size and multiplies the amplitude by ``gain``."""
    total, norm = octave_sum(points, seed, scale_m=scale_m, first=0, count=octaves, gain=gain)
    return np.asarray(total / norm, dtype=np.float64)
