"""SAM throughput and memory: ours (tiled, float32 BLAS) beside ``spectral.spectral_angles``.

Builds a synthetic ``--lines``×``--samples``×``--bands`` float32 reflectance cube (default
1000×1000×200: bundled-library spectra mixed in random pairs, random brightness, noise),
writes it as an ENVI file and times, on the same cube and the same library (the bundled
29 USGS spectra resampled to the cube's bands):

- peer: ``spectral.spectral_angles(cube, members)`` on the cube in memory, then argmin;
- ours: ``LibraryClassifier`` over ``Cube.tiles`` of the memory-mapped file (``--tile-mb``),
  angles to every spectrum, argmin, per-class best angle.

Prints pixels/s, the ratio, label agreement and each one's peak Python-heap allocation
(tracemalloc; numpy arrays are traced) beyond the input cube.

Both run on one thread (``OPENBLAS_NUM_THREADS``, default 1, set before numpy loads;
``spectral``'s einsum is single-threaded anyway), so the ratio is per core.

    python benchmarks/hsi.py [--lines 1000 --samples 1000 --bands 200] [--tile-mb 16]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    _threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
    os.environ["OPENBLAS_NUM_THREADS"] = _threads
    os.environ["OMP_NUM_THREADS"] = _threads

import numpy as np

from hyperspectral.classify import LibraryClassifier
from hyperspectral.cube import open_cube, tile_lines_for
from hyperspectral.library import bundled_library


def make_cube(path: Path, lines: int, samples: int, bands: int, seed: int = 0) -> Any:
    from spectral.io import envi

    wl = np.linspace(400, 2450, bands)
    lib = bundled_library().resample(wl)
    rng = np.random.default_rng(seed)
    image = envi.create_image(
        str(path),
        shape=(lines, samples, bands),
        dtype=np.float32,
        interleave="bip",
        force=True,
        metadata={"wavelength": [f"{w:.3f}" for w in wl], "wavelength units": "Nanometers"},
    )
    out = image.open_memmap(writable=True)
    for start in range(0, lines, 100):
        n = min(100, lines - start) * samples
        a, b = rng.integers(0, len(lib), n), rng.integers(0, len(lib), n)
        f = rng.uniform(0.6, 1.0, (n, 1))
        mix = f * lib.spectra[a] + (1 - f) * lib.spectra[b]
        mix = mix * rng.uniform(0.4, 1.2, (n, 1)) + rng.normal(0, 0.003, (n, bands))
        out[start : start + n // samples] = mix.reshape(-1, samples, bands).astype(np.float32)
    out.flush()
    return wl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--tile-mb", type=float, default=16.0)
    parser.add_argument("--threads", default="1", help="BLAS threads (set before numpy loads)")
    args = parser.parse_args()
    import spectral

    with tempfile.TemporaryDirectory() as tmp:
        header = Path(tmp) / "bench.hdr"
        wl = make_cube(header, args.lines, args.samples, args.bands)
        cube = open_cube(header)
        lib = bundled_library().resample(wl)
        pixels = args.lines * args.samples
        print(
            f"cube {args.lines}x{args.samples}x{args.bands} float32 "
            f"({pixels * args.bands * 4 / 1e6:.0f} MB), {len(lib)} library spectra"
        )

        # ours: tiles from the memory map
        tracemalloc.start()
        t0 = time.perf_counter()
        clf = LibraryClassifier(lib, "sam")
        labels_ours = np.zeros((args.lines, args.samples), np.uint16)
        step = tile_lines_for(args.samples, args.bands, args.tile_mb)
        for start, block in cube.tiles(step):
            valid = np.ones(block.shape[:2], bool)
            tile = clf.classify_block(block, valid)
            labels_ours[start : start + block.shape[0]] = tile.best_spectrum
        ours_s = time.perf_counter() - t0
        ours_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

        # peer: spectral.spectral_angles on the cube in memory
        data = np.array(cube.data, dtype=np.float32)
        t0 = time.perf_counter()
        for start in range(0, args.lines, step):
            block = data[start : start + step]
            clf.classify_block(block, np.ones(block.shape[:2], bool))
        ours_mem_s = time.perf_counter() - t0
        tracemalloc.start()
        t0 = time.perf_counter()
        angles = spectral.spectral_angles(data, lib.spectra)
        labels_peer = np.argmin(angles, axis=2)
        peer_s = time.perf_counter() - t0
        peer_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del angles, data

    agree = float((labels_ours == labels_peer).mean())
    print(
        f"peer spectral.spectral_angles: {pixels / peer_s:12,.0f} px/s  ({peer_s:.2f} s), "
        f"peak {peer_peak / 1e6:,.0f} MB beyond the in-memory cube"
    )
    print(
        f"ours LibraryClassifier tiled:  {pixels / ours_s:12,.0f} px/s  ({ours_s:.2f} s), "
        f"peak {ours_peak / 1e6:,.0f} MB (tile {args.tile_mb:.0f} MB, cube memory-mapped)"
    )
    print(
        f"ours on the in-memory cube:    {pixels / ours_mem_s:12,.0f} px/s  ({ours_mem_s:.2f} s), "
        f"ratio {peer_s / ours_mem_s:.1f}x"
    )
    print(f"BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS')}")
    print(f"speed ratio ours/peer: {peer_s / ours_s:.1f}x; same labels on {agree:.4%} of pixels")


if __name__ == "__main__":
    main()
