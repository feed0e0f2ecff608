"""Survey planning, terrain following, validation and exports, checked by numbers."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from calibration.camera_model import SensorSpec, survey_camera
from drone_missions import qgc
from drone_missions.check import Limits, check_plan
from drone_missions.coverage import coverage
from drone_missions.dem import Dem
from drone_missions.inputs import load_camera, read_polygons
from drone_missions.plan import (
    CMD_RTL,
    FRAME_GLOBAL,
    FencePolygon,
    Plan,
    read_plan,
    waypoint,
)
from drone_missions.route import plan_route
from drone_missions.survey import SurveyRequest, plan_survey
from smartmine.cli import main
from smartmine.geodesy import LocalEnu
from tests.conftest import shared

ORIGIN = (43.2, 76.9)  # near Almaty (UTM 43N)


def _rectangle(width_m: float, height_m: float, origin: tuple[float, float] = ORIGIN) -> list:
    enu = LocalEnu(origin[0], origin[1], 0.0)
    x = np.array([0.0, width_m, width_m, 0.0])
    y = np.array([0.0, 0.0, height_m, height_m])
    lat, lon, _ = enu.to_wgs84(x, y, np.zeros(4))
    return [(float(a), float(b)) for a, b in zip(lat, lon, strict=True)]


def _write_area(path: Path, polygon: list) -> Path:
    ring = [[lon, lat] for lat, lon in polygon]
    doc = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    path.write_text(json.dumps(doc))
    return path


# -- survey numbers against hand-computed values ---------------------------------------------
@pytest.mark.parametrize(
    ("camera", "kwargs", "expected"),
    [
        # 100 m * 13.2 mm / 8.8 mm = 150 m across; GSD = 150 m / 5472 px
        (
            "DJI Phantom 4 RTK",
            {"distance_m": 100.0},
            {
                "gsd": 100 * 13.2 * 100 / (5472 * 8.8),
                "side": 150.0,
                "front": 100.0,
                "spacing": 45.0,
                "trigger": 20.0,
            },
        ),
        # GSD 1 cm/px: distance = 8192 px * 1 cm * 35 mm / (35.9 mm * 100)
        (
            "DJI Zenmuse P1 35mm",
            {"gsd_cm_px": 1.0},
            {
                "gsd": 1.0,
                "distance": 8192 * 35 / 3590,
                "side": 81.92,
                "front": 54.60,
                "spacing": 81.92 * 0.3,
                "trigger": 54.60 * 0.2,
            },
        ),
        # 60 m: across = 60 * 17.3 / 12.29; along = 3956 px at the same GSD
        (
            "DJI Mavic 3 Enterprise",
            {"distance_m": 60.0},
            {
                "gsd": 60 * 17.3 * 100 / (5280 * 12.29),
                "side": 60 * 17.3 / 12.29,
                "front": 3956 * (60 * 17.3 / (5280 * 12.29)),
                "spacing": 60 * 17.3 / 12.29 * 0.3,
                "trigger": 3956 * (60 * 17.3 / (5280 * 12.29)) * 0.2,
            },
        ),
    ],
)
def test_camera_numbers_equal_hand_computed(camera: str, kwargs: dict, expected: dict) -> None:
    calc = qgc.camera_calc(survey_camera(camera), front_overlap=0.8, side_overlap=0.7, **kwargs)
    assert calc.gsd_cm_px == pytest.approx(expected["gsd"], rel=1e-12)
    assert calc.footprint_side_m == pytest.approx(expected["side"], rel=1e-12)
    assert calc.footprint_frontal_m == pytest.approx(expected["front"], rel=1e-12)
    assert calc.line_spacing_m == pytest.approx(expected["spacing"], rel=1e-12)
    assert calc.trigger_distance_m == pytest.approx(expected["trigger"], rel=1e-12)
    if "distance" in expected:
        assert calc.distance_m == pytest.approx(expected["distance"], rel=1e-12)


@pytest.mark.parametrize(
    ("width", "height", "spacing", "expected_lines"),
    # QGC lays lines at x = cx - (max(w, h) + 2000) / 2 + k * spacing; count those in (0, w)
    [(200.0, 300.0, 45.0, 4), (300.0, 120.0, 24.576, 12), (90.0, 400.0, 27.0, 4)],
)
def test_transect_count_equals_hand_computed(
    width: float, height: float, spacing: float, expected_lines: int
) -> None:
    half = (max(width, height) + 2000.0) / 2.0
    xs = [width / 2 - half + k * spacing for k in range(int(2 * half / spacing) + 2)]
    assert sum(1 for x in xs if 0 < x < width) == expected_lines  # the hand count
    transects = qgc.survey_transects(
        _rectangle(width, height), 0.0, spacing, 0.0, projection="ellipsoidal"
    )
    assert len(transects) == expected_lines


@pytest.mark.parametrize("crosshatch", [False, True])
def test_footprints_cover_the_area_at_the_requested_overlaps(crosshatch: bool) -> None:
    polygon = _rectangle(260.0, 180.0)
    camera = survey_camera("DJI Phantom 4 RTK")
    req = SurveyRequest(tuple(polygon), camera, altitude_agl_m=50.0, crosshatch=crosshatch)
    result = plan_survey(req)
    cov = coverage(plan_route(result.plan), camera, polygon)
    assert cov["covered_fraction"] == 1.0
    assert cov["min_forward_overlap"] >= 0.8 - 1e-6
    assert cov["min_side_overlap"] >= 0.7 - 1e-6
    assert cov["photos"] >= result.camera_shots * 0.9


def test_auto_angle_flies_along_the_long_side() -> None:
    # a 400 x 60 m strip: lines along it (east-west, 90 deg) need the fewest transects
    polygon = _rectangle(400.0, 60.0)
    req = SurveyRequest(tuple(polygon), survey_camera("DJI Phantom 4 RTK"), altitude_agl_m=40.0)
    result = plan_survey(req)
    assert 80.0 <= result.angle_deg <= 100.0
    across = plan_survey(
        SurveyRequest(tuple(polygon), req.camera, altitude_agl_m=40.0, angle_deg=0.0)
    )
    # spacing 18 m; QGC grid from cx - 1200 m: 4 lines along the strip, 22 across it
    assert len(result.transects) == 4 and len(across.transects) == 22


# -- terrain following over the real SRTM grid ----------------------------------------------------
def test_terrain_following_over_srtm_keeps_the_height(tmp_path: Path) -> None:
    dem_path = shared("dem_open_pit", "SRTMGL3_39.834_-105.816_40.466_-105.184.asc")
    dem = Dem.open(dem_path)
    assert dem.crs == "EPSG:4326" and dem.crs_assumed
    polygon = _rectangle(350.0, 300.0, origin=(40.00, -105.60))  # steep slopes, ~2600 m
    camera = survey_camera("DJI Phantom 4 RTK")
    req = SurveyRequest(tuple(polygon), camera, altitude_agl_m=60.0)
    result = plan_survey(req, dem)
    items = result.plan.mission_items()
    assert {i.frame for i in items if i.has_position and i.command != 22} == {FRAME_GLOBAL}
    report = check_plan(result.plan, dem)  # 10 m above the highest post + SRTM's 16 m
    assert report.ok, [v.line() for v in report.violations]
    clearance = report.samples["clearance_m"]
    ground = report.stats["sample_step_m"]
    assert ground <= 2.0
    # the route holds the height above the interpolated DEM...
    assert report.stats["min_clearance_interpolated_m"] >= 60.0 - 0.5
    # ...and the conservative clearance takes off the posts' relief and SRTM's 16 m
    assert report.stats["terrain"]["vertical_uncertainty_m"] == 16.0
    assert 10.0 <= report.stats["min_clearance_m"] <= 60.0 - 16.0
    # the route really follows: along the survey, the height stays within the tolerance
    survey_part = clearance[np.isfinite(clearance)]
    assert np.percentile(survey_part, 50) < 60.0 + req.terrain_tolerance_m
    cov = coverage(plan_route(result.plan, dem), camera, polygon, dem)
    assert cov["covered_fraction"] == 1.0
    assert cov["min_forward_overlap"] >= 0.8 - 1e-6 and cov["min_side_overlap"] >= 0.7 - 1e-6
    climb = report.stats["climb_m"]
    assert climb > 50  # the terrain does rise and fall under the survey
    # and the climb limit holds on every leg (3 m/s at 5 m/s = 0.6 m per m)
    route = plan_route(result.plan, dem)
    for a, b in zip(route.waypoints[2:-3], route.waypoints[3:-2], strict=True):
        dh = math.hypot(b.xyz[0] - a.xyz[0], b.xyz[1] - a.xyz[1])
        if dh > 1.0:
            assert (b.xyz[2] - a.xyz[2]) / dh <= 3.0 / 5.0 + 1e-6
            assert (a.xyz[2] - b.xyz[2]) / dh <= 2.0 / 5.0 + 1e-6
    # the written plan re-imports to the same items
    from drone_missions.plan import same_items, write_plan

    back = read_plan(write_plan(result.plan, tmp_path / "t.plan"))
    assert same_items(back.mission_items(), items, 1e-12)


# -- a synthetic open pit with benches, in UTM ----------------------------------------------------
def _bench_dem(path: Path) -> tuple[Path, tuple[float, float]]:
    """A 1.2 km square GeoTIFF in EPSG:32643 (UTM 43N), 800 m high west of 50 m east of
    the origin, 840 m east of it (a 40 m bench wall)."""
    import rasterio
    from rasterio.transform import Affine

    from smartmine.geodesy import wgs84_to_utm

    e0, n0, _ = wgs84_to_utm(ORIGIN[0], ORIGIN[1], zone=43, north=True)
    cell = 5.0
    size = 240
    west, north = float(e0) - 400.0, float(n0) + 700.0
    z = np.full((size, size), 800.0, dtype=np.float32)
    cols = np.arange(size)
    z[:, (cols + 0.5) * cell > 450.0] = 840.0
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="float32",
        crs="EPSG:32643",
        transform=Affine(cell, 0.0, west, 0.0, -cell, north),
    ) as ds:
        ds.write(z, 1)
    return path, ORIGIN


def _plan(points: list, *, rtl: bool = True, alt: float = 30.0) -> Plan:
    entries = [waypoint(lat, lon, alt) for lat, lon in points]
    if rtl:
        from drone_missions.plan import command

        entries.append(command(CMD_RTL))
    return Plan(entries=tuple(entries), home=(ORIGIN[0], ORIGIN[1], 800.0), hover_speed_m_s=5.0)


def test_unsafe_plans_are_refused_with_the_right_reason(tmp_path: Path) -> None:
    dem_path, _ = _bench_dem(tmp_path / "bench.tif")
    dem = Dem.open(dem_path, vertical_uncertainty_m=0.0)  # synthetic: exact by construction
    assert dem.height_amsl(ORIGIN[0], ORIGIN[1]) == pytest.approx(800.0)
    east = _rectangle(150.0, 10.0)  # (0,0) (150,0) ...: crosses the bench at x = 50 m
    limits = Limits(min_clearance_m=15.0, max_distance_m=500.0, endurance_min=20.0)

    def rules(plan: Plan, **kw: object) -> set[str]:
        report = check_plan(plan, dem, limits=kw.pop("limits", limits), **kw)  # type: ignore[arg-type]
        return {v.rule for v in report.violations}

    safe = _plan([east[0], east[3]], alt=30.0)  # stays west of the bench
    assert rules(safe) == set()
    # through a bench: 30 m above home, the bench is 40 m high; the waypoints are fine
    through = _plan([east[0], east[1]], alt=30.0)
    report = check_plan(through, dem, limits=limits)
    bench = [v for v in report.violations if v.rule == "terrain-clearance"]
    assert bench and bench[0].item_index == 1
    assert bench[0].numbers["clearance_m"] == pytest.approx(30.0 - 40.0, abs=0.5)
    # outside the fence
    fence = FencePolygon(tuple(_rectangle(40.0, 40.0)), True)
    assert "inclusion-fence" in rules(_plan([east[0], east[1]], alt=60.0), fences=(fence,))
    exclusion = FencePolygon(tuple(_rectangle(20.0, 20.0)), False)
    assert "exclusion-fence" in rules(_plan([east[0], east[3]], alt=60.0), fences=(exclusion,))
    # too far
    far = _rectangle(2000.0, 10.0)
    assert "max-distance" in rules(_plan([far[0], far[1]], alt=60.0))
    # too long for the battery: 20 laps of 2 x 150 m, about 20 min at 5 m/s
    laps = [east[0], east[1]] * 20
    assert "endurance" in rules(_plan(laps, alt=60.0), limits=Limits(endurance_min=10.0))
    # no RTL
    assert rules(_plan([east[0], east[3]], rtl=False)) == {"no-return"}


def test_plan_survey_never_writes_an_unsafe_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    area = _write_area(tmp_path / "area.geojson", _rectangle(300.0, 200.0))
    out = tmp_path / "m.plan"
    base = ["plan", "survey", str(area), "--camera", "DJI Phantom 4 RTK", "--altitude-agl-m", "50"]
    assert main([*base, "--max-distance-m", "100", "--out", str(out)]) == 2
    assert "max-distance" in capsys.readouterr().out and not out.exists()
    assert main([*base, "--endurance-min", "3", "--out", str(out)]) == 2
    assert "endurance" in capsys.readouterr().out and not out.exists()
    fence = tmp_path / "fence.geojson"
    fence.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"inclusion": True},
                        "geometry": {
                            "type": "Polygon",
                            "coordinates": [[[p[1], p[0]] for p in _rectangle(150.0, 150.0)]],
                        },
                    }
                ],
            }
        )
    )
    assert main([*base, "--fence", str(fence), "--out", str(out)]) == 2
    assert "inclusion-fence" in capsys.readouterr().out and not out.exists()
    dem_path, _ = _bench_dem(tmp_path / "bench.tif")
    # over the bench with a plan relative to home (no terrain following: --dem only checks)
    assert main([*base, "--dem", str(dem_path), "--out", str(out)]) == 0  # follows the bench
    assert out.exists()
    report = json.loads((tmp_path / "m.plan.json").read_text())
    assert report["check"]["min_clearance_interpolated_m"] >= 50.0 - 0.5
    # the bench GeoTIFF is of no known kind: 16 m uncertainty, 10 m minimum clearance
    assert report["check"]["terrain"]["vertical_uncertainty_m"] == 16.0
    assert report["check"]["min_clearance_m"] >= 10.0
    assert report["coverage"]["covered_fraction"] == 1.0
    # the check command on it: OK; with a higher clearance demand: exit 2
    assert main(["plan", "check", str(out), "--dem", str(dem_path)]) == 0
    assert main(["plan", "check", str(out), "--dem", str(dem_path), "--min-clearance-m", "55"]) == 2


def test_exports_read_back(tmp_path: Path) -> None:
    polygon = _rectangle(200.0, 150.0)
    area = _write_area(tmp_path / "area.geojson", polygon)
    out = tmp_path / "m.plan"
    assert (
        main(
            [
                "plan",
                "survey",
                str(area),
                "--camera",
                "DJI Phantom 4 RTK",
                "--altitude-agl-m",
                "40",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    geo, kml, png = tmp_path / "m.geojson", tmp_path / "m.kml", tmp_path / "m.png"
    export = ["plan", "export", str(out), "--camera", "DJI Phantom 4 RTK", "--geojson", str(geo)]
    assert main([*export, "--kml", str(kml), "--png", str(png), "--max-distance-m", "120"]) == 0
    doc = json.loads(geo.read_text())
    kinds = [f["properties"]["kind"] for f in doc["features"]]
    plan = read_plan(out)
    n_pos = sum(1 for it in plan.mission_items() if it.has_position)
    assert kinds.count("waypoint") == n_pos
    assert kinds.count("footprint") > 20 and kinds.count("fence") == 1
    assert "violation" in kinds  # the 120 m range limit is exceeded and marked
    # KML: the survey area reads back as our area reader sees it
    ET.parse(kml)
    areas = read_polygons(kml)
    assert np.allclose(areas[0], polygon, atol=1e-9)
    import cv2

    image = cv2.imread(str(png))
    assert image is not None and image.shape == (1200, 1200, 3)
    # red violation markers were drawn
    red = (image[..., 2] > 200) & (image[..., 1] < 60) & (image[..., 0] < 60)
    assert red.sum() > 20


def test_camera_yaml_and_bad_inputs(tmp_path: Path) -> None:
    cam = tmp_path / "cam.yaml"
    cam.write_text(
        "name: test\nsensor_width_mm: 13.2\nsensor_height_mm: 8.8\nfocal_length_mm: 8.8\n"
        "image_width_px: 5472\nimage_height_px: 3648\n"
    )
    spec = load_camera(str(cam))
    assert isinstance(spec, SensorSpec) and spec.pinhole().fx == pytest.approx(3648.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsensor_width_mm: 13.2\n")
    from drone_missions.errors import MissionError

    with pytest.raises(MissionError, match="lacks"):
        load_camera(str(bad))
    with pytest.raises(MissionError, match="no built-in camera"):
        load_camera("Hasselblad 500C")
    area = tmp_path / "a.geojson"
    area.write_text('{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}')
    with pytest.raises(MissionError, match="no Polygon"):
        read_polygons(area)


def test_terrain_following_over_the_simulated_pit(tmp_path: Path) -> None:
    """The simulator's dem.tif (UTM 44N GeoTIFF of its pit): a survey flown 40 m above
    the benches keeps 40 m over the DEM on every leg, and close to it over the mesh."""
    from simulator.config import apply_overrides, default_config
    from simulator.dem import write_dem
    from simulator.writer import build_scene

    scene = build_scene(apply_overrides(default_config("open-pit"), {"pit": {"grid_res_m": 1.0}}))
    info = write_dem(scene, tmp_path / "dem.tif", 2.0)
    assert info["crs"] == "EPSG:32644"
    dem = Dem.open(tmp_path / "dem.tif")
    x, y = np.array([-150.0, 150.0, 150.0, -150.0]), np.array([-150.0, -150.0, 150.0, 150.0])
    lat, lon, _ = scene.origin.to_wgs84(x, y, np.zeros(4))
    polygon = tuple(zip(lat.tolist(), lon.tolist(), strict=True))
    home_lat, home_lon, _ = scene.origin.to_wgs84(-170.0, -170.0, 0.0)
    req = SurveyRequest(polygon, survey_camera("DJI Phantom 4 RTK"), altitude_agl_m=40.0,
                        home=(float(home_lat), float(home_lon)))  # fmt: skip
    result = plan_survey(req, dem)
    report = check_plan(result.plan, dem, limits=Limits(min_clearance_m=30.0, endurance_min=40))
    assert report.ok, [v.line() for v in report.violations]
    assert report.stats["terrain"]["dem_kind"] == "smartmine simulator"
    assert report.stats["min_clearance_interpolated_m"] >= 40.0 - 0.5
    # above the highest post + the simulator DEM's 1 m: at the bench edges the 2 m posts
    # stand up to ~5 m above the interpolated surface (measured: 34.1 m)
    assert 30.0 <= report.stats["min_clearance_m"] <= 40.0 - 1.0
    assert report.stats["climb_m"] > 100  # down the benches and back up: it did follow
    # against the scene's own surface (the mesh), where the DEM's 2 m posts round off
    # the bench edges
    s = report.samples
    e, n, u = scene.origin.from_wgs84(s["lat"], s["lon"], s["z_amsl"])
    truth = u - scene.surface_height(e, n)
    survey = s["clearance_m"] >= 39.5
    assert np.nanmin(truth[survey]) >= 40.0 - 3.0


def test_steep_srtm_slows_down_instead_of_climbing_too_high() -> None:
    """600 m x 500 m over 315 m of relief at 80 m AGL: at 5 m/s the 2 m/s descent cannot
    follow the slopes (the height above ground would reach 240 m); the plan slows down
    there (DO_CHANGE_SPEED) and stays under 120 m AGL and at 80 m clearance."""
    from drone_missions.plan import CMD_CHANGE_SPEED

    dem = Dem.open(shared("dem_open_pit", "SRTMGL3_39.834_-105.816_40.466_-105.184.asc"))
    polygon = _rectangle(600.0, 500.0, origin=(40.05, -105.65))
    # only the height above the interpolated DEM (no floor above the highest posts)
    req = SurveyRequest(tuple(polygon), survey_camera("DJI Phantom 4 RTK"), altitude_agl_m=80.0,
                        min_clearance_m=None)  # fmt: skip
    plan = plan_survey(req, dem).plan
    report = check_plan(plan, dem, limits=Limits(endurance_min=60.0))
    assert report.stats["max_agl_m"] <= 120.0
    assert report.stats["min_clearance_interpolated_m"] >= 80.0 - 0.5
    # on these slopes SRTM's 90 m posts stand up to ~110 m above the interpolated
    # surface: measured against the highest post + 16 m, the plan is refused
    assert {v.rule for v in report.violations} == {"terrain-clearance"}
    assert report.stats["min_clearance_m"] < 0.0
    items = plan.mission_items()
    speeds = [i.params[1] for i in items if i.command == CMD_CHANGE_SPEED]
    assert speeds and min(speeds) < 5.0 and speeds[-1] == 5.0  # back to cruise at the end
    # every leg within the rates at the speed it is flown
    route = plan_route(plan, dem)
    speed_at: dict[int, float] = {}
    current = 5.0
    for k, it in enumerate(items):
        if it.command == CMD_CHANGE_SPEED:
            current = float(it.params[1] or current)
        speed_at[k] = current
    for a, b in zip(route.waypoints[2:-3], route.waypoints[3:-2], strict=True):
        dh = math.hypot(b.xyz[0] - a.xyz[0], b.xyz[1] - a.xyz[1])
        v = speed_at[b.item_index]
        if dh > 1.0:
            assert (b.xyz[2] - a.xyz[2]) / dh <= 3.0 / v + 1e-6
            assert (a.xyz[2] - b.xyz[2]) / dh <= 2.0 / v + 1e-6
