"""SfM speed and accuracy: ours beside plain pycolmap on the same images.

Ours: ``smartmine sfm`` stages up to georeferencing (working images, CLAHE SIFT, GPS-
neighbour pairs, incremental/global mapping with GPS priors, RANSAC similarity to UTM),
then, separately timed, the products (dense, DSM, orthophoto, mesh, report).
Peer: pycolmap with default options: ``extract_features`` (SIFT on the full images, up
to 3200 px), ``match_exhaustive``, ``incremental_mapping``; its largest model is fitted to
the same GPS positions by the same similarity so both are scored alike.
Accuracy: images registered, mean reprojection error, horizontal/vertical RMSE of the
camera centres against EXIF GPS after the similarity (consumer GPS: a few metres).

    python benchmarks/sfm.py [--images DIR] [--first N] [--skip-peer] [--keep DIR]
                             [--peer-cap-s S]

Default images: ../shared/data/aerial_odm_seneca (24 drone images with GPS EXIF). The
50+ image check uses the simulator's survey export (benchmarks/sfm_sim.py --make OUT
writes OUT/images_gps, 91 images): there the folder's truth_cameras.csv also scores both
models' camera centres (after the same similarity to EXIF GPS) against the truth.
Times: wall and process CPU (all threads); on a machine shared with other jobs the CPU
time is the fairer figure. ``--peer-cap-s`` stops the peer's mapping after S seconds
(COLMAP's own max_runtime_seconds); the ratio is then a lower bound, and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mapping.sfm.config import make_config
from mapping.sfm.pipeline import run_pipeline
from smartmine.geodesy import wgs84_to_utm
from smartmine.geometry import fit_similarity

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SMARTMINE_SHARED_DATA", REPO.parent / "shared" / "data"))


def gps_of(folder: Path) -> dict[str, np.ndarray]:
    from mapping.sfm.inputs import load_folder

    inputs = load_folder(folder)
    gps = [r for r in inputs.images if r.has_gps]
    lat = np.array([r.lat_deg for r in gps], dtype=float)
    lon = np.array([r.lon_deg for r in gps], dtype=float)
    e, n, _ = wgs84_to_utm(lat, lon)
    return {r.name: np.array([x, y, r.alt_m or 0.0]) for r, x, y in zip(gps, e, n, strict=True)}


def truth_of(folder: Path) -> dict[str, np.ndarray]:
    path = folder / "truth_cameras.csv"
    if not path.exists():
        return {}
    import csv

    with path.open() as f:
        return {
            r["image"]: np.array(
                [float(r["easting_m"]), float(r["northing_m"]), float(r["height_m"])]
            )
            for r in csv.DictReader(f)
        }


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def score(
    rec: Any, gps: dict[str, np.ndarray], truth: dict[str, np.ndarray] | None = None
) -> dict[str, float]:
    names = [i.name for i in rec.images.values() if i.has_pose and i.name in gps]
    out = {
        "registered": float(rec.num_reg_images()),
        "reprojection_px": float(rec.compute_mean_reprojection_error()),
    }
    if len(names) >= 3:
        by_name = {i.name: i for i in rec.images.values()}
        src = np.array([by_name[n].projection_center() for n in names])
        dst = np.array([gps[n] for n in names])
        centre = dst.mean(axis=0)
        fit = fit_similarity(src, dst - centre)
        res = fit.residuals
        out["gps_rmse_h_m"] = float(np.sqrt(np.mean(np.sum(res[:, :2] ** 2, axis=1))))
        out["gps_rmse_v_m"] = float(np.sqrt(np.mean(res[:, 2] ** 2)))
        if truth:
            err = fit.transform.apply(src) + centre - np.array([truth[n] for n in names])
            out["truth_rmse_h_m"] = float(np.sqrt(np.mean(np.sum(err[:, :2] ** 2, axis=1))))
            out["truth_rmse_v_m"] = float(np.sqrt(np.mean(err[:, 2] ** 2)))
    return out


def run_ours(folder: Path, work: Path) -> tuple[dict[str, float], dict[str, float]]:
    import pycolmap

    cpu0 = cpu_s()
    report = run_pipeline(folder, work, make_config(dense=False), log=lambda _: None)
    cpu = cpu_s() - cpu0
    doc = json.loads(report.read_text())
    timings = doc["sections"]["Timings (s)"]
    sparse_stages = (
        "inputs",
        "images",
        "features",
        "pairs",
        "matches",
        "mapping",
        "georeferencing",
    )
    times = {
        "sparse_s": sum(timings.get(s, 0.0) for s in sparse_stages),
        "end_to_end_s": timings["total"],
        "cpu_s": cpu,
    }
    rec = pycolmap.Reconstruction(str(work / "work" / "sparse"))
    return times, score(rec, gps_of(folder), truth_of(folder))


def run_peer(folder: Path, work: Path, cap_s: int = 0) -> tuple[dict[str, float], dict[str, float]]:
    import pycolmap

    pycolmap.logging.minloglevel = 2
    work.mkdir(parents=True, exist_ok=True)
    db = work / "database.db"
    started, cpu0 = time.perf_counter(), cpu_s()
    pycolmap.extract_features(str(db), str(folder))
    pycolmap.match_exhaustive(str(db))
    options = pycolmap.IncrementalPipelineOptions()
    if cap_s:
        options.max_runtime_seconds = cap_s
    models = pycolmap.incremental_mapping(str(db), str(folder), str(work / "sparse"), options)
    elapsed = time.perf_counter() - started
    times = {"sparse_s": elapsed, "cpu_s": cpu_s() - cpu0}
    if not models:
        return times, {"registered": 0.0}
    best = max(models.values(), key=lambda r: r.num_reg_images())
    return times, score(best, gps_of(folder), truth_of(folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DATA / "aerial_odm_seneca" / "images")
    parser.add_argument("--first", type=int, default=0, help="use only the first N images")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the work folders here")
    parser.add_argument("--peer-cap-s", type=int, default=0, help="cap the peer's mapping")
    args = parser.parse_args()
    if not args.images.exists():
        raise SystemExit(f"{args.images}: not present (see ../shared/data/README.md)")
    root = Path(args.keep or tempfile.mkdtemp(prefix="sfm_bench_"))
    folder = args.images
    if args.first:
        folder = root / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(args.images.glob("*.[jJ][pP]*[gG]"))[: args.first]:
            shutil.copy(path, folder / path.name)
    count = len([p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")])
    print(f"{count} images from {args.images}; cores: {os.cpu_count()}")
    ours_t, ours_a = run_ours(folder, root / "ours")
    print(
        f"ours : sparse {ours_t['sparse_s']:.1f} s wall, {ours_t['cpu_s']:.1f} s CPU "
        f"(run without dense: {ours_t['end_to_end_s']:.1f} s);"
        f" {json.dumps({k: round(v, 3) for k, v in ours_a.items()})}"
    )
    if not args.skip_peer:
        peer_t, peer_a = run_peer(folder, root / "peer", args.peer_cap_s)
        capped = args.peer_cap_s and peer_a.get("registered", 0) < count
        print(
            f"peer : sparse {peer_t['sparse_s']:.1f} s wall, {peer_t['cpu_s']:.1f} s CPU "
            f"(pycolmap defaults, exhaustive, incremental"
            f"{f'; mapping capped at {args.peer_cap_s} s' if args.peer_cap_s else ''});"
            f" {json.dumps({k: round(v, 3) for k, v in peer_a.items()})}"
        )
        bound = ">= " if capped else ""
        print(
            f"speed-up (sparse): wall {bound}{peer_t['sparse_s'] / ours_t['sparse_s']:.2f}x, "
            f"CPU {bound}{peer_t['cpu_s'] / ours_t['cpu_s']:.2f}x"
        )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
