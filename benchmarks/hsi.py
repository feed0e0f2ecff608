"""SAM throughput and memory: ours (tiled, float32 BLAS) beside ``spectral.spectral_angles``.

Builds a synthetic ``--lines``×``--samples``×``--bands`` float32 reflectance cube (default
1000×1000×200: bundled-library spectra mixed in random pairs, random brightness, noise),
writes it as an ENVI file and times, on the same cube and the same library (the bundled
29 USGS spectra resampled to the cube's bands):

- peer: ``spectral.spectral_angles(cube, members)`` on the cube in memory, then argmin;
- ours: ``LibraryClassifier`` over ``Cube.tiles`` of the memory-mapped file (``--tile-mb``):
  no-data mask, best spectrum and its angle, best angle per class (what the pipeline
  writes), labels.

- ceiling: the bare float32 matrix product of the same tiles with the library (the
  chunks ours multiplies, nothing else): ours as a share of it says how much of our time
  is the product (goal >= 70 %);
- the CLI: ``smartmine hsi classify`` on the cube file as a child process, its peak
  anonymous memory (``RssAnon`` of ``/proc/PID/status`` sampled every 2 ms: the heap,
  numpy buffers, GDAL's cache, not the memory-mapped cube's page cache), beside the
  same command on a 4-line cube of the same width and bands (the fixed cost: interpreter,
  numpy, numba, rasterio...), so the difference is what the cube's size costs
  (``--no-cli`` skips it).

Both are timed ``--repeats`` times, interleaved so both see the same machine load; prints
every run's pixels per wall second and per CPU second of the process (``process_time``:
on a machine shared with other jobs the wall ratio swings with their load, the CPU ratio
much less), both ratios and the load average, the medians, label agreement and each
one's peak Python-heap allocation (tracemalloc, numpy arrays are traced, in a separate
untimed run) beyond the input cube.

Both run on one thread (``OPENBLAS_NUM_THREADS``, default 1, set before numpy loads;
``spectral``'s einsum is single-threaded anyway), so the ratio is per core.

    python benchmarks/hsi.py [--lines 1000 --samples 1000 --bands 200] [--tile-mb 16]
        [--repeats 3] [--threads 1]
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


def time_ours(header: Path, lib: Any, step: int) -> tuple[float, float, Any]:
    """One tiled pass over the memory-mapped file: SAM with the no-data mask (found in the
    norm pass, as ``hsi classify`` does for a cube without an ignore value), labels; wall
    and CPU seconds."""
    cube = open_cube(header)
    lines, samples, _ = cube.shape
    c0 = time.process_time()
    t0 = time.perf_counter()
    clf = LibraryClassifier(lib, "sam")
    labels = np.zeros((lines, samples), np.int32)
    for start, block in cube.tiles(step):
        tile = clf.classify_block(block)  # the data mask in the norm pass, as the pipeline
        labels[start : start + block.shape[0]] = tile.best_spectrum
    return time.perf_counter() - t0, time.process_time() - c0, labels


def time_peer(data: Any, lib: Any) -> tuple[float, float, Any]:
    """``spectral.spectral_angles`` on the in-memory cube, then argmin; wall and CPU s."""
    import spectral

    c0 = time.process_time()
    t0 = time.perf_counter()
    angles = spectral.spectral_angles(data, lib.spectra)
    labels = np.argmin(angles, axis=2)
    return time.perf_counter() - t0, time.process_time() - c0, labels


def time_matmul(header: Path, lib: Any, step: int) -> float:
    """Wall seconds of the bare product of every tile with the library, in ours' chunks
    and operand layout (the ceiling of any SAM that multiplies)."""
    from hyperspectral.classify import SAM_CHUNK_PIXELS

    cube = open_cube(header)
    clf = LibraryClassifier(lib, "sam")
    dots = np.empty((SAM_CHUNK_PIXELS, clf.all_bands_t.shape[1]), np.float32)
    t0 = time.perf_counter()
    for _start, block in cube.tiles(step):
        x = block.reshape(-1, block.shape[-1])
        for a in range(0, len(x), SAM_CHUNK_PIXELS):
            chunk = x[a : a + SAM_CHUNK_PIXELS]
            np.matmul(chunk, clf.all_bands_t, out=dots[: len(chunk)])
    return time.perf_counter() - t0


def cli_anon_peak_mb(header: Path, out: Path, tile_mb: float) -> float:
    """Peak RssAnon (MB) of ``smartmine hsi classify header --out out`` in a child."""
    import subprocess

    cmd = [sys.executable, "-m", "smartmine", "hsi", "classify", str(header), "--out", str(out)]
    cmd += ["--tile-mb", str(tile_mb)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "SMARTMINE_PROGRESS": "0"}
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    peak_kb = 0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            text = status.read_text()
        except OSError:
            break
        for line in text.splitlines():
            if line.startswith("RssAnon:"):
                peak_kb = max(peak_kb, int(line.split()[1]))
        time.sleep(0.002)
    if child.wait() != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {child.returncode}")
    return peak_kb / 1024


def peak_mb(fn: Any) -> float:
    """Peak traced heap (numpy arrays included) of one untimed call, in MB."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--tile-mb", type=float, default=16.0)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (median)")
    parser.add_argument("--threads", default="1", help="BLAS threads (set before numpy loads)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI memory run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        header = Path(tmp) / "bench.hdr"
        wl = make_cube(header, args.lines, args.samples, args.bands)
        lib = bundled_library().resample(wl)
        pixels = args.lines * args.samples
        step = tile_lines_for(args.samples, args.bands, args.tile_mb)
        print(
            f"cube {args.lines}x{args.samples}x{args.bands} float32 "
            f"({pixels * args.bands * 4 / 1e6:.0f} MB), {len(lib)} library spectra, "
            f"BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}, "
            f"load before {os.getloadavg()[0]:.2f}"
        )
        time_ours(header, lib, step)  # warm-up: numba compile/cache load, page cache
        cube_in_memory = np.array(open_cube(header).data, dtype=np.float32)
        wall: dict[str, list[float]] = {"ours": [], "peer": [], "matmul": []}
        cpu: dict[str, list[float]] = {"ours": [], "peer": []}
        loads: list[float] = []
        for rep in range(args.repeats):  # interleaved, so both see the same load
            runs = {
                "ours": time_ours(header, lib, step),
                "peer": time_peer(cube_in_memory, lib),
            }
            for name, (w, c, _) in runs.items():
                wall[name].append(w)
                cpu[name].append(c)
            wall["matmul"].append(time_matmul(header, lib, step))
            loads.append(os.getloadavg()[0])
            print(
                f"  run {rep + 1}: ours {pixels / wall['ours'][-1]:11,.0f} px/s wall "
                f"({pixels / cpu['ours'][-1]:11,.0f} per CPU s), peer "
                f"{pixels / wall['peer'][-1]:9,.0f} px/s wall ({pixels / cpu['peer'][-1]:9,.0f} "
                f"per CPU s), ratio wall {wall['peer'][-1] / wall['ours'][-1]:5.1f}x "
                f"CPU {cpu['peer'][-1] / cpu['ours'][-1]:5.1f}x, bare matmul "
                f"{wall['matmul'][-1] / wall['ours'][-1]:4.0%} of ours, load {loads[-1]:.2f}"
            )
        agree = float((runs["ours"][2] == runs["peer"][2]).mean())
        ours_peak = peak_mb(lambda: time_ours(header, lib, step))
        peer_peak = peak_mb(lambda: time_peer(cube_in_memory, lib))
        cli: tuple[float, float] | None = None
        if not args.no_cli:
            small = Path(tmp) / "small.hdr"
            make_cube(small, 4, args.samples, args.bands)
            fixed = cli_anon_peak_mb(small, Path(tmp) / "small_out", args.tile_mb)
            cli = (cli_anon_peak_mb(header, Path(tmp) / "cli_out", args.tile_mb), fixed)

    med = {k: float(np.median(v)) for k, v in wall.items()}
    med_cpu = {k: float(np.median(v)) for k, v in cpu.items()}
    ratios = [p / o for p, o in zip(wall["peer"], wall["ours"], strict=True)]
    cpu_ratios = [p / o for p, o in zip(cpu["peer"], cpu["ours"], strict=True)]
    print(
        f"peer spectral.spectral_angles (in memory): {pixels / med['peer']:12,.0f} px/s wall, "
        f"{pixels / med_cpu['peer']:12,.0f} px per CPU s (medians of {args.repeats}), "
        f"peak {peer_peak:,.0f} MB beyond the cube"
    )
    print(
        f"ours LibraryClassifier (tiled, memmap):    {pixels / med['ours']:12,.0f} px/s wall, "
        f"{pixels / med_cpu['ours']:12,.0f} px per CPU s (medians of {args.repeats}), "
        f"peak {ours_peak:,.0f} MB (tiles of {step} lines = {args.tile_mb:.0f} MB; includes "
        f"the {pixels * 4 / 1e6:.0f} MB label array)"
    )
    print(
        f"speed ratio ours/peer: wall median {med['peer'] / med['ours']:.1f}x "
        f"(runs {min(ratios):.1f}x-{max(ratios):.1f}x), CPU time median "
        f"{med_cpu['peer'] / med_cpu['ours']:.1f}x (runs {min(cpu_ratios):.1f}x-"
        f"{max(cpu_ratios):.1f}x), best of {args.repeats} "
        f"{min(wall['peer']) / min(wall['ours']):.1f}x wall, "
        f"{min(cpu['peer']) / min(cpu['ours']):.1f}x CPU; load {min(loads):.2f}-{max(loads):.2f}; "
        f"same labels on {agree:.4%} of pixels"
    )
    shares = [m / o for m, o in zip(wall["matmul"], wall["ours"], strict=True)]
    print(
        f"bare matmul ceiling: {pixels / np.median(wall['matmul']):12,.0f} px/s wall; ours is "
        f"{np.median(wall['matmul']) / med['ours']:.0%} of it (runs {min(shares):.0%}-"
        f"{max(shares):.0%}, goal >= 70 %)"
    )
    print(f"peak traced heap beyond the cube: ours {ours_peak:,.0f} MB, peer {peer_peak:,.0f} MB")
    if cli is not None:
        print(
            f"CLI hsi classify, peak anonymous memory (RssAnon) of the whole process: "
            f"{cli[0]:,.0f} MB on this cube, {cli[1]:,.0f} MB on a 4-line cube: the cube's "
            f"size costs {cli[0] - cli[1]:,.0f} MB (tile budget {args.tile_mb:.0f} MB)"
        )


if __name__ == "__main__":
    main()
