"""A survey planned on the simulator's dem.tif, flown by the simulator: one frame per photo.

``smartmine plan survey --dem dem.tif`` plans a terrain-following survey of part of the
simulated pit; ``smartmine sim open-pit --plan`` flies it and fires the camera where the
plan's camera items do, so the bag holds exactly the photos the flight would take, taken
where drone_missions says they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drone_missions.dem import Dem
from drone_missions.plan import camera_photos, read_plan
from drone_missions.route import plan_route
from smartmine.cli import main
from smartmine.geodesy import LocalEnu

CONFIG = {"pit": {"grid_res_m": 1.0}, "hsi": {"every": 1000}}


def test_planned_survey_yields_the_planned_photos(tmp_path: Path) -> None:
    from simulator.config import apply_overrides, default_config
    from simulator.dem import write_dem
    from simulator.writer import build_scene

    config_path = tmp_path / "sim.json"
    config_path.write_text(json.dumps(CONFIG))
    scene = build_scene(apply_overrides(default_config("open-pit"), CONFIG))
    write_dem(scene, tmp_path / "dem.tif", 1.0)  # the same dem.tif the run writes
    origin = scene.origin
    x, y = np.array([-40.0, 40.0, 40.0, -40.0]), np.array([-25.0, -25.0, 25.0, 25.0])
    lat, lon, _ = origin.to_wgs84(x, y, np.zeros(4))
    ring = [[float(b), float(a)] for a, b in zip(lat, lon, strict=True)]
    area = tmp_path / "area.geojson"
    area.write_text(json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]}))
    home_lat, home_lon, _ = origin.to_wgs84(-100.0, -90.0, 0.0)  # on the rim
    plan_path = tmp_path / "pit.plan"
    home = f"{float(home_lat)},{float(home_lon)}"
    dem_args = ["--dem", str(tmp_path / "dem.tif"), "--home", home]
    survey = ["plan", "survey", str(area), "--camera", "DJI Phantom 4 RTK", *dem_args]
    assert main([*survey, "--altitude-agl-m", "35", "--out", str(plan_path)]) == 0
    out = tmp_path / "sim"
    sim = ["sim", "open-pit", "--out", str(out), "--width", "48", "--height", "36"]
    assert main([*sim, "--plan", str(plan_path), "--config", str(config_path)]) == 0
    # the run wrote its terrain, identical to the one planned on
    sim_dem = Dem.open(out / "dem.tif")
    assert sim_dem.crs == "EPSG:32644"
    assert np.array_equal(sim_dem.heights, Dem.open(tmp_path / "dem.tif").heights, equal_nan=True)
    # the photos drone_missions predicts, in the scene's frame
    plan = read_plan(plan_path)
    route = plan_route(plan, sim_dem)
    photos = camera_photos(route.items, route.item_points)
    at_home = LocalEnu(route.home_lat_deg, route.home_lon_deg, 0.0)
    xyz = np.array([p.position for p in photos])
    plat, plon, _ = at_home.to_wgs84(xyz[:, 0], xyz[:, 1], np.zeros(len(xyz)))
    e, n, u = origin.from_wgs84(plat, plon, xyz[:, 2])
    camera = np.loadtxt(out / "trajectory_tum.txt")[:, 1:4]
    assert len(camera) == len(photos) > 10  # one frame per photo, no more, no less
    doc = json.loads((out / "scene.json").read_text())
    assert doc["trajectory"]["camera"].endswith(f"{len(photos)} photos")
    horizontal = np.hypot(camera[:, 0] - e, camera[:, 1] - n)
    # on the legs the camera is where the photo is (lever arm ~0.1 m); at the rounded
    # corners of the flown path a few metres off
    assert np.median(horizontal) < 0.3 and np.percentile(horizontal, 80) < 0.5
    assert np.abs(camera[:, 2] - u).max() < 0.5
