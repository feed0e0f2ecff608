"""Issue 17's safety checks of `plan check`, with numbers, on the real SRTM grid.

The site: home at (40.00, -105.60), 3220 m AMSL on SRTM GL3 (Colorado Front Range); a
waypoint 1.4 km to the north-north-west (330 deg) where the ground is about 430 m higher.
A route 60 m above home to there runs hundreds of metres inside the ridge.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from drone_missions.check import check_local_plan, check_plan
from drone_missions.dem import Dem
from drone_missions.errors import MissionError
from drone_missions.plan import (
    CMD_RTL,
    CMD_TAKEOFF,
    Plan,
    check_polygon,
    command,
    read_plan,
    waypoint,
    write_plan,
)
from smartmine.cli import main
from smartmine.geodesy import LocalEnu
from tests.bad_input import run_main
from tests.conftest import shared
from tests.test_missions_survey import _rectangle, _write_area

SRTM = ("dem_open_pit", "SRTMGL3_39.834_-105.816_40.466_-105.184.asc")
HOME = (40.00, -105.60)


def _ridge_point(distance_m: float = 1400.0, bearing_deg: float = 330.0) -> tuple[float, float]:
    enu = LocalEnu(HOME[0], HOME[1], 0.0)
    a = math.radians(bearing_deg)
    lat, lon, _ = enu.to_wgs84(distance_m * math.sin(a), distance_m * math.cos(a), 0.0)
    return float(lat), float(lon)


def _ridge_plan(home_amsl_m: float, lat: float | None = None) -> Plan:
    ridge = _ridge_point()
    return Plan(
        entries=(
            waypoint(*HOME, 60.0, command=CMD_TAKEOFF),
            waypoint(ridge[0] if lat is None else lat, ridge[1], 60.0),
            command(CMD_RTL),
        ),
        home=(HOME[0], HOME[1], home_amsl_m),
    )


def _check(argv: list[str]) -> tuple[int, str, str]:
    out = run_main(["plan", "check", *argv])
    return out.code, out.stdout, out.stderr


def test_nan_latitude_plan_is_refused_naming_the_item(tmp_path: Path) -> None:
    """Before: the NaN leg was dropped and `plan check` said OK (it hid the ridge)."""
    dem_path = shared(*SRTM)
    plan = tmp_path / "nan.plan"
    write_plan(_ridge_plan(0.0), plan)
    doc = json.loads(plan.read_text())
    doc["mission"]["items"][1]["params"][4] = None  # QGC's null: NaN on the wire
    plan.write_text(json.dumps(doc))
    code, out, err = _check([str(plan), "--dem", str(dem_path)])
    assert code == 2 and "OK" not in out
    assert f"{plan}: item 1 (MAV_CMD_NAV_WAYPOINT) latitude is null" in err
    # the same as NaN in a JSON file (Python's json accepts it) and in a WPL file
    plan.write_text(plan.read_text().replace("null, -105", "NaN, -105", 1))
    assert _check([str(plan)])[0] == 2
    wpl = tmp_path / "nan.waypoints"
    write_plan(_ridge_plan(0.0), wpl)
    rows = wpl.read_text().splitlines()
    cells = rows[3].split("\t")
    cells[8] = "nan"
    wpl.write_text("\n".join([*rows[:3], "\t".join(cells), *rows[4:]]) + "\n")
    code, _, err = _check([str(wpl)])
    assert code == 2 and "item 1 (MAV_CMD_NAV_WAYPOINT, WPL seq 2) latitude is nan" in err
    # with the latitude it was meant to have, the ridge is caught
    report = check_plan(_ridge_plan(0.0), Dem.open(dem_path))
    clearance = [v for v in report.violations if v.rule == "terrain-clearance"]
    assert clearance and clearance[0].numbers["clearance_m"] < -300.0


def test_no_dem_plan_checked_with_a_dem_gives_the_true_clearance(tmp_path: Path) -> None:
    """A plan written without a DEM stores home at 0 m: its relative altitudes now resolve
    against the DEM's home (3220 m), not against sea level (before: about -3600 m)."""
    dem_path = shared(*SRTM)
    dem = Dem.open(dem_path)
    home_dem = float(dem.height_amsl(*HOME))
    assert home_dem == pytest.approx(3220.0, abs=1.0)
    plan = write_plan(_ridge_plan(0.0), tmp_path / "nodem.plan")
    report_file = tmp_path / "report.json"
    code, out, _ = _check([str(plan), "--dem", str(dem_path), "--json", str(report_file)])
    assert code == 2
    doc = json.loads(report_file.read_text())
    stats = doc["stats"]
    assert stats["home_amsl_m"] == pytest.approx(home_dem) and stats["home_amsl_stored_m"] == 0.0
    assert any("home altitude is 0 m (not set)" in w for w in doc["warnings"])
    # the truth along the leg: 60 m above home against the interpolated ground
    ridge = _ridge_point()
    d = np.linspace(0.0, 1.0, 2000)
    lat = HOME[0] + d * (ridge[0] - HOME[0])
    lon = HOME[1] + d * (ridge[1] - HOME[1])
    true_min = float(np.min(home_dem + 60.0 - dem.height_amsl(lat, lon)))
    assert -450.0 < true_min < -300.0
    assert stats["min_clearance_interpolated_m"] == pytest.approx(true_min, abs=5.0)
    # the conservative number: below the truth by the post relief and SRTM's 16 m
    assert stats["min_clearance_m"] <= true_min - 16.0
    assert stats["terrain"]["vertical_uncertainty_m"] == 16.0
    assert "highest of the 2x2 DEM posts" in stats["terrain"]["method"]
    assert "VIOLATION item 1: terrain-clearance" in out and "method: highest" in out


def test_no_dem_check_says_terrain_was_not_checked(tmp_path: Path) -> None:
    plan = write_plan(_ridge_plan(0.0), tmp_path / "nodem.plan")
    report_file = tmp_path / "report.json"
    code, out, _ = _check([str(plan), "--json", str(report_file)])
    assert code == 0
    assert "terrain: NOT CHECKED (no DEM)" in out
    assert "OK (terrain clearance NOT checked)" in out
    assert "clearance" not in out.split("terrain:")[0]  # no "clearance 50.0 m min" line
    doc = json.loads(report_file.read_text())
    assert doc["terrain_checked"] is False and doc["stats"]["terrain"]["checked"] is False
    assert doc["stats"]["min_clearance_m"] is None
    assert any("NOT checked" in w for w in doc["warnings"])


def test_too_high_home_is_flagged_with_both_numbers(tmp_path: Path) -> None:
    """Home stored 737 m too high: before, the route 256 m inside the ridge showed +481 m."""
    dem_path = shared(*SRTM)
    home_dem = float(Dem.open(dem_path).height_amsl(*HOME))
    plan = write_plan(_ridge_plan(home_dem + 737.0), tmp_path / "high.plan")
    report_file = tmp_path / "report.json"
    code, out, _ = _check([str(plan), "--dem", str(dem_path), "--json", str(report_file)])
    assert code == 2
    doc = json.loads(report_file.read_text())
    home = [v for v in doc["violations"] if v["rule"] == "home-altitude"]
    assert home, out
    assert home[0]["numbers"]["home_amsl_stored_m"] == pytest.approx(home_dem + 737.0)
    assert home[0]["numbers"]["home_amsl_dem_m"] == pytest.approx(home_dem)
    assert f"{home_dem + 737.0:.1f} m AMSL disagrees with the DEM's {home_dem:.1f} m" in out
    # the clearance is the true one (home from the DEM), not +481 m
    assert doc["stats"]["min_clearance_interpolated_m"] < -300.0
    assert any(v["rule"] == "terrain-clearance" for v in doc["violations"])
    # within SRTM's 16 m the stored home is accepted
    near = check_plan(_ridge_plan(home_dem + 10.0), Dem.open(dem_path))
    assert "home-altitude" not in {v.rule for v in near.violations}


def test_dem_uncertainty_override_and_declared_tag(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import Affine

    dem_path = shared(*SRTM)
    assert Dem.open(dem_path).kind == "SRTM"
    assert Dem.open(dem_path, vertical_uncertainty_m=2.5).vertical_uncertainty_m == 2.5
    tif = tmp_path / "lidar.tif"
    with rasterio.open(
        tif, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32",
        crs="EPSG:4326", transform=Affine(0.001, 0, 10.0, 0, -0.001, 45.0),
    ) as ds:  # fmt: skip
        ds.write(np.arange(16, dtype=np.float32).reshape(4, 4), 1)
        ds.update_tags(VERTICAL_UNCERTAINTY_M="0.3")
    dem = Dem.open(tif)
    assert (dem.kind, dem.vertical_uncertainty_m) == ("declared", 0.3)
    # the highest post of the cell, not the interpolation: posts 5, 6, 9, 10 around
    lat, lon = 45.0 - 0.0015 - 0.0004, 10.0 + 0.0015 + 0.0003
    assert float(dem.highest_post(lat, lon)) == 10.0
    assert float(dem.height_amsl(lat, lon)) < 10.0
    with pytest.raises(MissionError, match="--dem-vertical-uncertainty-m"):
        Dem.open(tif, vertical_uncertainty_m=-1.0)


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ([(0.0, 0.0), (0.0, 0.001), (0.001, 0.0), (0.001, 0.001)], "crosses edge"),
        ([(0.0, 0.0), (0.0, 0.001), (0.0, 0.001), (0.001, 0.0)], "repeats vertex 1"),
        ([(0.0, 0.0), (0.0, 0.001), (0.0, 0.002)], "zero area"),
        ([(0.0, 0.0), (0.0, 0.001)], "at least 3 distinct"),
        ([(0.0, 0.0), (math.nan, 0.001), (0.001, 0.0)], "vertex 1 latitude is nan"),
        ([(0.0, 0.0), (0.0, 190.0), (0.001, 0.0)], "vertex 1 longitude is 190"),
    ],
)
def test_degenerate_polygons_are_refused(ring: list[tuple[float, float]], message: str) -> None:
    with pytest.raises(MissionError, match=message):
        check_polygon(ring, "area")


def test_survey_fails_when_the_achieved_overlap_is_below_the_requested(tmp_path: Path) -> None:
    """A survey planned without a DEM (50 m above home) flown over ground that rises 40 m
    (the bench GeoTIFF): over the bench the photos are 10 m above ground, their footprints
    shrink and the overlaps fall far below the requested; terrain following keeps them."""
    from calibration.camera_model import survey_camera
    from drone_missions.coverage import coverage, coverage_shortfalls
    from drone_missions.route import plan_route
    from drone_missions.survey import SurveyRequest, plan_survey
    from tests.test_missions_survey import _bench_dem

    dem = Dem.open(_bench_dem(tmp_path / "bench.tif")[0], vertical_uncertainty_m=0.0)
    camera = survey_camera("DJI Phantom 4 RTK")
    area = _rectangle(150.0, 120.0)  # the bench wall at x = 50 m
    flat = plan_survey(SurveyRequest(tuple(area), camera, altitude_agl_m=50.0))
    cov = coverage(plan_route(flat.plan, dem), camera, area, dem)
    lines = coverage_shortfalls(cov, 0.8, 0.7)
    assert cov["min_forward_overlap"] < 0.8 - 0.1 and cov["min_side_overlap"] < 0.7 - 0.1
    assert any(line.startswith("forward overlap") for line in lines)
    assert any(line.startswith("side overlap") for line in lines)
    followed = plan_survey(SurveyRequest(tuple(area), camera, altitude_agl_m=50.0), dem)
    cov = coverage(plan_route(followed.plan, dem), camera, area, dem)
    assert coverage_shortfalls(cov, 0.8, 0.7) == []


def test_plan_export_is_read_back_as_a_survey_area(tmp_path: Path) -> None:
    area = _write_area(tmp_path / "area.geojson", _rectangle(200.0, 150.0))
    plan = tmp_path / "m.plan"
    camera = ["--camera", "DJI Phantom 4 RTK"]
    assert main(["plan", "survey", str(area), *camera, "--altitude-agl-m", "50",
                 "--out", str(plan)]) == 0  # fmt: skip
    geojson, kml = tmp_path / "m.geojson", tmp_path / "m.kml"
    assert main(["plan", "export", str(plan), "--geojson", str(geojson), "--kml", str(kml)]) == 0
    for exported in (geojson, kml):
        out = tmp_path / f"again-{exported.suffix[1:]}.plan"
        result = run_main(["plan", "survey", str(exported), *camera, "--altitude-agl-m", "50",
                           "--out", str(out)])  # fmt: skip
        assert result.code == 0, result.stderr
        assert "using its one survey-area polygon" in result.stdout
        first = read_plan(plan).complex_items()[0].definition["polygon"]
        again = read_plan(out).complex_items()[0].definition["polygon"]
        assert np.allclose(first, again, atol=1e-8)
    # with footprints there are many polygons: refused, saying what the file holds
    busy = tmp_path / "busy.geojson"
    assert main(["plan", "export", str(plan), "--camera", "DJI Phantom 4 RTK",
                 "--geojson", str(busy)]) == 0  # fmt: skip
    doc = json.loads(busy.read_text())
    doc["features"] = [f for f in doc["features"] if f["properties"]["kind"] != "survey-area"]
    busy.write_text(json.dumps(doc))
    result = run_main(["plan", "survey", str(busy), *camera, "--altitude-agl-m", "50",
                       "--out", str(tmp_path / "x.plan")])  # fmt: skip
    assert result.code == 2
    assert "footprint" in result.stderr and "the route LineString" in result.stderr
    assert "give one polygon" in result.stderr


def test_drift_plans_are_checked_against_the_map(tmp_path: Path) -> None:
    import open3d as o3d

    from drone_missions.planners import drift_plan
    from tests.test_missions_planners import _tunnel_cloud

    cloud = _tunnel_cloud()
    ply = tmp_path / "drift.ply"
    o3d.io.write_point_cloud(str(ply), o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud)))
    centre = np.array([[0.0, 0.0, 1.75], [30.0, 0.0, 1.75], [50.0, 0.0, 1.75]])
    safe = write_plan(drift_plan(centre), tmp_path / "safe.plan")
    code, out, _ = _check([str(safe), "--map", str(ply)])
    assert code == 0 and "map clearance: 1.7" in out  # 2 m walls, 1.75 m floor/roof
    # a leg that cuts within 0.5 m of the south wall (y = -2)
    grazing = centre.copy()
    grazing[1, 1] = -1.5
    bad = write_plan(drift_plan(grazing), tmp_path / "bad.plan")
    report = check_local_plan(read_plan(bad), cloud, min_clearance_m=1.0)
    assert [v.rule for v in report.violations] == ["map-clearance"]
    assert report.violations[0].item_index in (1, 2)  # the waypoint at y = -1.5 and after
    assert report.violations[0].numbers["clearance_m"] == pytest.approx(0.5, abs=0.05)
    assert _check([str(bad), "--map", str(ply)])[0] == 2
    # no map: said plainly
    code, out, _ = _check([str(safe)])
    assert code == 0 and "map clearance: NOT CHECKED (no map)" in out
    assert "terrain clearance NOT checked" in out
