"""Issue 19 item 5: no gross outliers in the dense cloud and the DSM, and a raster grid
bounded before anything is allocated.

The surface is a real model: five Seneca images (line B) at small sizes, run end to end.
The outliers injected are what a wrong stereo pair makes: points pushed along one image's
rays to several times their depth (a disparity near zero: the public 15-image set of the
issue had dense points 500 m below the ground and 9.5 % of its DSM cells > 100 m low),
stray points floating over the ground, and DSM cells sunk 150 m. The grid test is the
``--mapper global`` crash of the issue: a few far points asking for a 67 GiB grid."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mapping.sfm import dense, rasters
from mapping.sfm.config import make_config
from mapping.sfm.errors import SfmError
from mapping.sfm.pipeline import run_pipeline
from tests.conftest import shared

SENECA_FIVE = [f"IMG_047{i}.jpg" for i in range(5, 10)]


@pytest.fixture(scope="module")
def seneca_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = shared("aerial_odm_seneca", "images")
    root = tmp_path_factory.mktemp("seneca_dense")
    folder = root / "images"
    folder.mkdir()
    for name in SENECA_FIVE:
        shutil.copy(source / name, folder / name)
    # the fast preset's 640 px dense images; 1024 px / 4096 features for the sparse model
    # (640 px leaves this low-overlap NIR farmland with too few points to fuse)
    conf = make_config("fast", max_image_px=1024, max_features=4096)
    run_pipeline(folder, root / "out", conf, log=lambda _: None)
    return root / "out"


def _model(out: Path) -> tuple[Any, np.ndarray, np.ndarray, float]:
    """The georeferenced model, its fused dense points, its sparse points, and the
    voxel size the pipeline fused with (= the automatic DSM cell)."""
    import pycolmap

    rec = pycolmap.Reconstruction(str(out / "work" / "georef"))
    fused = np.load(out / "work" / "dense.npz")["points"]
    sparse = np.array([p.xyz for p in rec.points3D.values()])
    summary = json.loads((out / "report.json").read_text())["summary"]
    return rec, fused, sparse, float(summary["dsm_resolution_m"])


def test_the_real_run_reports_its_filtering_and_holds_the_neighbour_bound(
    seneca_run: Path,
) -> None:
    import rasterio

    summary = json.loads((seneca_run / "report.json").read_text())["summary"]
    assert summary["status"] == "OK"
    assert summary["dense_points"] > 50
    assert 0 <= summary["dense_points_filtered"] < summary["dense_points"]
    assert 0.2 < summary["dsm_cells_filled_share"] <= 1.0
    assert 0.0 <= summary["dsm_cells_filtered_share"] < 0.02  # a clean set: nothing gross
    assert not summary["warnings"]  # none from the dense/DSM checks on a clean set
    with rasterio.open(seneca_run / "dsm.tif") as src:
        dsm = src.read(1).astype(float)
        dsm[dsm == src.nodata] = np.nan
    relief = summary["dsm_relief_m"]
    step = rasters.neighbour_step(dsm)
    assert np.nanmax(step) <= 5 * relief  # issue 19's bound
    # a flat farm field: nothing near 100 m off the median (the failing set's figure)
    assert np.nanmax(np.abs(dsm - np.nanmedian(dsm))) < 30.0


def test_wrong_pair_points_and_strays_are_removed_from_the_dense_cloud(
    seneca_run: Path,
) -> None:
    rec, real, _, voxel_m = _model(seneca_run)
    image = next(im for im in rec.images.values() if im.has_pose)
    centre = np.asarray(image.projection_center())
    seen = np.array([rec.points3D[p.point3D_id].xyz for p in image.points2D if p.has_point3D()])
    # a wrong pair: the same rays, 4-7 times as deep (down to several hundred metres low)
    rng = np.random.default_rng(0)
    stretch = rng.uniform(4.0, 7.0, size=(len(seen), 1))
    wrong = centre + stretch * (seen - centre)
    assert wrong[:, 2].min() < np.median(real[:, 2]) - 150
    # strays: single points floating 8 m over the ground, inside the depth range
    strays = real[rng.choice(len(real), 15, replace=False)] + [0.0, 0.0, 8.0]
    points = np.concatenate([real, wrong, strays])
    keep, counts = dense.filter_fused(points, rec, voxel_m)
    n_real, n_wrong = len(real), len(wrong)
    assert not keep[n_real : n_real + n_wrong].any()
    assert counts["cross_view_depth"] >= n_wrong
    assert keep[n_real + n_wrong :].sum() <= 1  # the strays: statistical / radius
    assert keep[:n_real].mean() > 0.9  # the real surface stays


def test_pair_geometry_drops_far_behind_and_grazing_points(seneca_run: Path) -> None:
    rec, _, _, _ = _model(seneca_run)
    partners = dense.choose_partners(rec)
    a = next(k for k, v in partners.items() if v)
    b = partners[a][0]
    im1, im2 = rec.images[a], rec.images[b]
    pose1, pose2 = im1.cam_from_world().matrix(), im2.cam_from_world().matrix()
    seen = np.array([rec.points3D[p.point3D_id].xyz for p in im1.points2D if p.has_point3D()])
    depth_range = dense.sparse_depth_range(rec, im1)
    assert depth_range is not None
    c1 = np.asarray(im1.projection_center())
    far = c1 + 6.0 * (seen - c1)  # a disparity near zero
    behind = c1 - (seen - c1)
    keep, counts = dense.pair_geometry_ok(
        np.concatenate([seen, far, behind]), pose1, pose2, depth_range, 1.5
    )
    n = len(seen)
    assert keep[:n].mean() > 0.95
    assert not keep[n:].any()
    assert counts["outside_sparse_depth_range"] >= n and counts["behind_camera"] >= n
    # grazing rays: the same points need a wider angle than this pair gives
    _, grazing = dense.pair_geometry_ok(seen, pose1, pose2, depth_range, 89.0)
    assert grazing["narrow_triangulation_angle"] > 0.9 * n


def test_sunken_cells_are_clipped_and_filtered_from_the_dsm(seneca_run: Path) -> None:
    _, fused, sparse, cell_m = _model(seneca_run)
    resolution_m = 2 * cell_m  # a quarter of the cells: the gap filling dominates the time
    surface = np.concatenate([fused, sparse])
    relief = rasters.scene_relief_m(sparse[:, 2], resolution_m)
    grid = rasters.Grid.around(surface[:, :2], resolution_m)
    clean, clean_stats = rasters.make_clean_dsm(surface, grid, relief)
    assert clean_stats.cells_filtered == 0

    rng = np.random.default_rng(1)
    sunk = rng.random(len(surface)) < 0.095  # the failing set's share, 150 m low
    bad = surface.copy()
    bad[sunk, 2] -= 150.0
    # the band around the sparse heights takes the gross ones out before gridding
    clipped, dropped = rasters.clip_to_sparse(bad, sparse, relief)
    assert dropped >= sunk.sum() and clipped[:, 2].min() > surface[:, 2].min() - 1e-9
    # the cell filter on its own (points that passed any clip): spikes out, bound holds
    dsm, stats = rasters.make_clean_dsm(bad, grid, relief)
    median = np.nanmedian(clean)
    assert np.nanmin(dsm) > median - 5 * relief
    assert np.nanmax(rasters.neighbour_step(dsm)) <= 5 * relief
    assert stats.cells_filtered > 0 and stats.max_step_relief <= 5
    summary = stats.summary()
    assert 0 < summary["dsm_cells_filtered_share"] < 0.5
    assert any("off their neighbours" in w for w in stats.warnings)
    both = np.isfinite(dsm) & np.isfinite(clean)
    assert both.sum() > 0.5 * np.isfinite(clean).sum()
    assert np.median(np.abs(dsm[both] - clean[both])) < 0.5


def test_far_points_cannot_blow_up_the_grid_before_allocation() -> None:
    """The issue's ``--mapper global`` crash: a field 200 m across at 5 cm, plus far points.
    A few far points no longer stretch the extent; many (beyond the robust percentiles)
    ask for ~10^11 cells, which is refused (explicit cell size) or coarsened (automatic)
    with nothing allocated on the way."""
    rng = np.random.default_rng(2)
    field = rng.uniform(0, 200, size=(200_000, 2))
    few = np.concatenate([field, [[40_000.0, 40_000.0]] * 5])
    grid = rasters.Grid.around(few, 0.05)
    assert grid.width <= 200 / 0.05 * 1.1 + 10 and grid.height <= 200 / 0.05 * 1.1 + 10

    many = np.concatenate([field, rng.uniform(15_000, 16_000, size=(4_000, 2))])
    tracemalloc.start()
    with pytest.raises(SfmError, match=r"--resolution-cm 5: the DSM grid would be .*GiB"):
        rasters.plan_grid(many, 0.05, 100_000_000, explicit=True)
    coarse, warnings = rasters.plan_grid(many, 0.05, 100_000_000, explicit=False)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak_bytes < 100 * 2**20  # the points' copies, never a grid
    assert coarse.cells <= 100_000_000 and coarse.resolution_m > 0.05
    assert len(warnings) == 1 and "coarsened" in warnings[0]
    with pytest.raises(SfmError, match="max_raster_cells 0"):
        rasters.plan_grid(field, 0.05, 0, explicit=False)
    assert make_config(max_raster_cells=5_000_000).max_raster_cells == 5_000_000


def _resume_with(out: Path, to: Path, **overrides: Any) -> Path:
    """The finished run's work folder under ``to`` with other raster settings, rasters
    and later stages to be made again."""
    shutil.copytree(out / "work", to / "work")
    for name in ("dsm.npy", "ortho.npy", "dsm_stats.json"):
        (to / "work" / name).unlink(missing_ok=True)
    conf = make_config("fast", max_image_px=1024, max_features=4096, **overrides)
    (to / "config.json").write_text(json.dumps(conf.to_dict()))
    return run_pipeline(out.parent / "images", to, conf, log=lambda _: None)


def test_a_grid_over_budget_is_coarsened_or_refused_in_the_pipeline(
    seneca_run: Path, tmp_path: Path
) -> None:
    before = json.loads((seneca_run / "report.json").read_text())["summary"]
    report = _resume_with(seneca_run, tmp_path / "coarse", max_raster_cells=20_000)
    summary = json.loads(report.read_text())["summary"]
    assert summary["dsm_resolution_m"] > before["dsm_resolution_m"]
    assert any("coarsened" in w and "max_raster_cells 20,000" in w for w in summary["warnings"])
    import rasterio

    with rasterio.open(tmp_path / "coarse" / "dsm.tif") as src:
        assert src.width * src.height <= 20_000
    with pytest.raises(SfmError, match="--resolution-cm 1: the DSM grid would be"):
        _resume_with(seneca_run, tmp_path / "fine", max_raster_cells=20_000, resolution_cm=1.0)
