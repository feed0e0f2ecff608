"""SfM speed and accuracy: ours beside plain pycolmap, at its default size and at ours.

Ours: ``smartmine sfm`` stages up to georeferencing (working images, CLAHE SIFT, footprint
or GPS-neighbour pairs, incremental/global mapping with GPS priors, RANSAC similarity to
UTM), then, separately timed, the products (dense, DSM, orthophoto, mesh, report).
Peers, pycolmap with default options (``extract_features``, ``match_exhaustive``,
``incremental_mapping``), each model fitted to the same GPS positions by the same
similarity so all are scored alike:
- default: on the original images (SIFT at up to 3200 px, COLMAP's default);
- equal size: on our working images (``work/images``, the same pixels ours starts from;
  our time includes making them, the peer gets them free).
The equal-size ratio is the one that says what the pipeline itself gains; the default
ratio mostly says that ours works at 1600 px.
Accuracy: images registered, mean reprojection error (in the pixels of the images it is
measured in, stated as their long side, and converted to original pixels: errors at
different image sizes are only comparable in the same pixels), horizontal/vertical RMSE of
the camera centres against EXIF GPS after the similarity (consumer GPS: a few metres).

    python benchmarks/sfm.py [--images DIR] [--first N] [--skip-peer] [--skip-default-peer]
                             [--keep DIR] [--peer-cap-s S]

Default images: ../shared/data/aerial_odm_seneca (24 drone images with GPS EXIF). The
50+ image check uses the simulator's survey export (benchmarks/sfm_sim.py --make OUT
writes OUT/images_gps, 91 images): there the folder's truth_cameras.csv also scores both
models' camera centres (after the same similarity to EXIF GPS) against the truth.
Times: wall and process CPU (all threads) of the sparse stages; on a machine shared with
other jobs the CPU time is the fairer figure. ``--peer-cap-s`` stops a peer's mapping
after S seconds (COLMAP's own max_runtime_seconds); the ratio is then a lower bound, and
says so.
"""

from __future__ import annotations

import argparse
import itertools
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


def original_long_px(folder: Path) -> dict[str, int]:
    """Long side of each original image (headers only)."""
    from PIL import Image

    sizes: dict[str, int] = {}
    for path in folder.iterdir():
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            with Image.open(path) as im:
                sizes[path.name] = max(im.size)
    return sizes


def score(
    rec: Any,
    gps: dict[str, np.ndarray],
    truth: dict[str, np.ndarray] | None = None,
    originals: dict[str, int] | None = None,
) -> dict[str, float]:
    """Registration, reprojection error with the image scale it is measured at (the
    model's long side in px, and the error converted to original pixels), GPS fit."""
    names = [i.name for i in rec.images.values() if i.has_pose and i.name in gps]
    rec.update_point_3d_errors()  # a final adjustment may have left them stale
    reprojection = float(rec.compute_mean_reprojection_error())
    out = {"registered": float(rec.num_reg_images()), "reprojection_px": reprojection}
    registered = [i for i in rec.images.values() if i.has_pose]
    if registered:
        longs = [max(rec.cameras[i.camera_id].width, rec.cameras[i.camera_id].height)
                 for i in registered]  # fmt: skip
        out["measured_at_long_px"] = float(np.median(longs))
        if originals:
            ratio = np.mean([originals[i.name] / n for i, n in zip(registered, longs, strict=True)])
            out["reprojection_original_px"] = reprojection * float(ratio)
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


SPARSE_STAGES = ("inputs", "images", "features", "pairs", "matches", "mapping", "georeferencing")


def run_ours(folder: Path, work: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The pipeline without dense; wall and CPU of its sparse stages (CPU read at each
    stage's end through the pipeline's log, so no stage needs its own timer)."""
    import pycolmap

    marks: list[tuple[str, float]] = [("start", cpu_s())]

    def log(line: str) -> None:  # "sfm [3/12] features: 12.3 s"
        marks.append((line.split("]", 1)[1].split(":", 1)[0].strip(), cpu_s()))

    report = run_pipeline(folder, work, make_config(dense=False), log=log)
    stage_cpu = {name: now - before for (_, before), (name, now) in itertools.pairwise(marks)}
    doc = json.loads(report.read_text())
    timings = doc["sections"]["Timings (s)"]
    times = {
        "sparse_s": sum(timings.get(s, 0.0) for s in SPARSE_STAGES),
        "end_to_end_s": timings["total"],
        "cpu_s": sum(stage_cpu.get(s, 0.0) for s in SPARSE_STAGES),
        **{f"{s}_cpu_s": stage_cpu.get(s, 0.0) for s in ("features", "matches", "mapping")},
    }
    rec = pycolmap.Reconstruction(str(work / "work" / "sparse"))
    return times, score(rec, gps_of(folder), truth_of(folder), original_long_px(folder))


def run_peer(
    folder: Path, work: Path, cap_s: int = 0, originals: Path | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """pycolmap with its defaults on ``folder``; scored against ``originals`` (the folder
    the GPS and the original image sizes come from; ``folder`` itself by default)."""
    import pycolmap

    originals = originals or folder
    pycolmap.logging.minloglevel = 2
    work.mkdir(parents=True, exist_ok=True)
    db = work / "database.db"
    times: dict[str, float] = {}
    started, cpu0 = time.perf_counter(), cpu_s()
    pycolmap.extract_features(str(db), str(folder))
    times["features_cpu_s"] = cpu_s() - cpu0
    pycolmap.match_exhaustive(str(db))
    times["matches_cpu_s"] = cpu_s() - cpu0 - times["features_cpu_s"]
    options = pycolmap.IncrementalPipelineOptions()
    if cap_s:
        options.max_runtime_seconds = cap_s
    models = pycolmap.incremental_mapping(str(db), str(folder), str(work / "sparse"), options)
    times["sparse_s"] = time.perf_counter() - started
    times["cpu_s"] = cpu_s() - cpu0
    times["mapping_cpu_s"] = times["cpu_s"] - times["features_cpu_s"] - times["matches_cpu_s"]
    if not models:
        return times, {"registered": 0.0}
    best = max(models.values(), key=lambda r: r.num_reg_images())
    accuracy = score(best, gps_of(originals), truth_of(originals), original_long_px(originals))
    return times, accuracy


def _line(label: str, times: dict[str, float], accuracy: dict[str, float], what: str) -> str:
    split = ", ".join(
        f"{s} {times[f'{s}_cpu_s']:.1f}" for s in ("features", "matches", "mapping")
        if f"{s}_cpu_s" in times
    )  # fmt: skip
    reproj = ""
    if "measured_at_long_px" in accuracy:
        reproj = (
            f"reprojection {accuracy['reprojection_px']:.3f} px at "
            f"{accuracy['measured_at_long_px']:.0f} px long side"
        )
        if "reprojection_original_px" in accuracy:
            reproj += f" = {accuracy['reprojection_original_px']:.3f} original px"
    rest = {k: round(v, 3) for k, v in accuracy.items() if not k.startswith(("reproj", "meas"))}
    return (
        f"{label}: sparse {times['sparse_s']:.1f} s wall, {times['cpu_s']:.1f} s CPU "
        f"({split} CPU s) [{what}]; {reproj}; {json.dumps(rest)}"
    )


def _ratio(label: str, peer: dict[str, float], ours: dict[str, float], bound: bool) -> str:
    sign = ">= " if bound else ""
    return (
        f"speed-up {label} (sparse): wall {sign}{peer['sparse_s'] / ours['sparse_s']:.2f}x, "
        f"CPU {sign}{peer['cpu_s'] / ours['cpu_s']:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DATA / "aerial_odm_seneca" / "images")
    parser.add_argument("--first", type=int, default=0, help="use only the first N images")
    parser.add_argument("--skip-peer", action="store_true", help="no peer at all")
    parser.add_argument("--skip-default-peer", action="store_true", help="only the equal-size peer")
    parser.add_argument("--keep", type=Path, help="keep the work folders here")
    parser.add_argument("--peer-cap-s", type=int, default=0, help="cap the peers' mapping")
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
    print(f"{count} images from {args.images}; cores: {os.cpu_count()}", flush=True)
    ours_t, ours_a = run_ours(folder, root / "ours")
    work_images = root / "ours" / "work" / "images"
    print(
        _line("ours", ours_t, ours_a, f"run without dense: {ours_t['end_to_end_s']:.1f} s"),
        flush=True,
    )
    if args.skip_peer:
        return
    peers = [("equal-size", work_images)]
    if not args.skip_default_peer:
        peers.append(("default", folder))
    for label, images in peers:
        peer_t, peer_a = run_peer(images, root / f"peer_{label}", args.peer_cap_s, folder)
        capped = bool(args.peer_cap_s) and peer_a.get("registered", 0) < count
        cap = f"; mapping capped at {args.peer_cap_s} s" if args.peer_cap_s else ""
        what = f"pycolmap defaults on {'our working' if images != folder else 'the original'}"
        print(_line(f"peer {label}", peer_t, peer_a, f"{what} images{cap}"), flush=True)
        print(_ratio(label, peer_t, ours_t, capped), flush=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
