"""Score an ``smartmine sfm`` run on a simulated open pit against the simulator's truth.

    smartmine sim open-pit --out SIM --frames 150 --rate 0.55 [--config ...]
    smartmine sfm SIM/open-pit.mcap --out RUN
    python benchmarks/sfm_sim.py SIM RUN [--max-slope-deg 35]

Cameras: our centres (cameras.csv, UTM) against the true camera positions
(trajectory_tum.txt, local ENU -> UTM 44N), per frame; horizontal and vertical RMSE, also
as multiples of the GSD. DSM: against the true scene mesh sampled at the DSM cells; median
absolute error where the true slope is below ``--max-slope-deg`` (steep faces masked: a
2.5D DSM cannot hold them), and on all cells.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sim", type=Path)
    parser.add_argument("run", type=Path)
    parser.add_argument("--max-slope-deg", type=float, default=35.0)
    args = parser.parse_args()
    import rasterio
    import trimesh
    from scipy.interpolate import griddata

    from smartmine.geodesy import LocalEnu

    scene = json.loads((args.sim / "scene.json").read_text())
    origin = scene["origin"]
    enu = LocalEnu(origin["lat_deg"], origin["lon_deg"], origin["alt_m"])
    report = json.loads((args.run / "report.json").read_text())["summary"]
    gsd = float(report["gsd_original_m"])
    rows = [
        ln.split()
        for ln in (args.sim / "trajectory_tum.txt").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    truth_enu = np.array([[float(v) for v in r[1:4]] for r in rows])
    e, n, h = enu.to_projected(truth_enu[:, 0], truth_enu[:, 1], truth_enu[:, 2], 32644)
    truth = np.column_stack([e, n, h])
    with (args.run / "cameras.csv").open() as f:
        ours = {
            int(r["image"][6:12]) - 1: np.array(
                [float(r["easting_m"]), float(r["northing_m"]), float(r["height_m"])]
            )
            for r in csv.DictReader(f)
        }
    idx = sorted(i for i in ours if i < len(truth))
    err = np.array([ours[i] - truth[i] for i in idx])
    rmse_h = float(np.sqrt(np.mean(np.sum(err[:, :2] ** 2, axis=1))))
    rmse_v = float(np.sqrt(np.mean(err[:, 2] ** 2)))
    print(f"registered {report['images_registered']}/{report['images_input']}, GSD {gsd:.3f} m")
    print(
        f"cameras: RMSE horizontal {rmse_h:.3f} m ({rmse_h / gsd:.1f} GSD), "
        f"vertical {rmse_v:.3f} m ({rmse_v / gsd:.1f} GSD)"
    )
    mesh = trimesh.load(args.sim / "scene_mesh.ply", process=False)
    v = np.asarray(mesh.vertices)
    ve, vn, vh = enu.to_projected(v[:, 0], v[:, 1], v[:, 2], 32644)
    with rasterio.open(args.run / "dsm.tif") as src:
        dsm = src.read(1).astype(float)
        dsm[dsm == src.nodata] = np.nan
        rows_i, cols_i = np.nonzero(np.isfinite(dsm))
        xs, ys = rasterio.transform.xy(src.transform, rows_i, cols_i)
        res = src.res[0]
    xs, ys = np.asarray(xs), np.asarray(ys)
    true_z = griddata((ve, vn), vh, (xs, ys), method="linear")
    # true slope from a true-height grid at the DSM resolution
    true_grid = np.full(dsm.shape, np.nan)
    true_grid[rows_i, cols_i] = true_z
    gy, gx = np.gradient(true_grid, res)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))[rows_i, cols_i]
    diff = dsm[rows_i, cols_i] - true_z
    ok = np.isfinite(diff)
    flat = ok & (slope < args.max_slope_deg)
    print(
        f"DSM cells {ok.sum()}, slope < {args.max_slope_deg:g} deg: {flat.sum()} "
        f"({100 * flat.sum() / max(ok.sum(), 1):.0f} %)"
    )
    for label, mask in (("floor and benches", flat), ("all cells", ok)):
        mae = float(np.median(np.abs(diff[mask]))) if mask.any() else float("nan")
        print(
            f"DSM {label}: median |error| {mae:.3f} m ({mae / gsd:.1f} GSD), "
            f"bias {float(np.median(diff[mask])):+.3f} m"
        )


if __name__ == "__main__":
    main()
