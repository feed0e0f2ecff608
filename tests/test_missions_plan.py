"""The plan model against real QGroundControl and Mission Planner files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drone_missions import qgc
from drone_missions.errors import MissionError
from drone_missions.plan import (
    CMD_CAM_TRIGG_DIST,
    CMD_LAND,
    CMD_RTL,
    CMD_SET_ROI_NONE,
    CMD_SET_ROI_WPNEXT_OFFSET,
    CMD_TAKEOFF,
    CMD_WAYPOINT,
    FRAME_GLOBAL_RELATIVE_ALT,
    FenceCircle,
    Plan,
    PlanError,
    read_plan,
    same_items,
    waypoint,
    write_plan,
)
from tests.conftest import shared

PLANS = ("qgc_plans",)
ALL_FILES = [
    "mavsdk_qgroundcontrol_sample.plan",
    "mavsdk_qgroundcontrol_sample_with_survey.plan",
    "mavsdk_qgroundcontrol_sample_with_structured_scan.plan",
    "mavsdk_qgroundcontrol_sample_with_digicam_control.plan",
    "qgc_TerrainTest-PX4-MultiRotor.plan",
    "qgc_ce_geofence_rd_2.plan",
    "mavsdk_mission_planner_sample.txt",
    "qgc_MissionPlanner.waypoints",
]


def _file(name: str) -> Path:
    return shared("qgc_plans", name)


@pytest.mark.parametrize("name", ALL_FILES)
def test_every_real_file_imports_and_round_trips(name: str, tmp_path: Path) -> None:
    plan = read_plan(_file(name))
    for ext in (".plan", ".waypoints"):
        if ext == ".waypoints" and "TerrainTest" in name:
            # "calculated above terrain" items without AMSL have no WPL form: refused
            with pytest.raises(MissionError, match=r"item 5 .*above terrain"):
                write_plan(plan, tmp_path / f"again{ext}")
            assert not (tmp_path / f"again{ext}").exists()
            continue
        out = write_plan(plan, tmp_path / f"again{ext}")
        back = read_plan(out)
        assert same_items(back.mission_items(), plan.mission_items(), 1e-12), ext
        if plan.home is None:
            assert back.home is None
        else:
            assert back.home == pytest.approx(plan.home)
    again = read_plan(tmp_path / "again.plan")
    assert again.fence_polygons == plan.fence_polygons
    assert [e.kind for e in again.complex_items()] == [e.kind for e in plan.complex_items()]


def test_simple_mission_items_and_frames() -> None:
    plan = read_plan(_file("mavsdk_qgroundcontrol_sample.plan"))
    items = plan.mission_items()
    assert [i.command for i in items] == [CMD_TAKEOFF, 16, 2000, 16, 16, CMD_RTL]
    assert items[1].frame == FRAME_GLOBAL_RELATIVE_ALT and items[1].altitude_m == 50
    assert items[1].lat_deg == pytest.approx(47.39777106)
    assert plan.home == pytest.approx((47.3977507, 8.5456075, 488.93101752001763))


def test_terrain_frame_items_keep_qgc_altitude_modes() -> None:
    plan = read_plan(_file("qgc_TerrainTest-PX4-MultiRotor.plan"))
    items = plan.mission_items()
    assert items[3].altitude_ref == "amsl" and items[3].altitude_m == pytest.approx(159.26)
    assert items[5].altitude_ref == "terrain" and items[5].altitude_m == 80
    assert items[5].params[6] is None  # QGC leaves the AMSL height to be computed
    assert items[7].altitude_ref == "terrain" and items[7].altitude_m == 40
    assert items[-1].command == CMD_LAND


def test_geofence_polygons() -> None:
    plan = read_plan(_file("qgc_ce_geofence_rd_2.plan"))
    assert [p.inclusion for p in plan.fence_polygons] == [True, False]
    assert plan.fence_polygons[0].vertices[0] == (38.7507608625056, -77.49735908548331)
    assert len(plan.mission_items()) == 0


def test_wpl_files() -> None:
    mp = read_plan(_file("qgc_MissionPlanner.waypoints"))
    assert mp.home == pytest.approx((47.660459, -122.103167, 5.21))
    assert len(mp.mission_items()) == 5
    assert all(
        i.frame == FRAME_GLOBAL_RELATIVE_ALT and i.altitude_m == 100 for i in mp.mission_items()
    )
    sample = read_plan(_file("mavsdk_mission_planner_sample.txt"))
    assert [i.command for i in sample.mission_items()] == [16, 16, CMD_RTL]


def test_survey_items_equal_the_items_qgc_stored() -> None:
    """Our transects and trigger items from the survey's own definition = QGC's items."""
    plan = read_plan(_file("mavsdk_qgroundcontrol_sample_with_survey.plan"))
    (survey,) = plan.complex_items("survey")
    d = survey.definition
    tsci = d["TransectStyleComplexItem"]
    calc = tsci["CameraCalc"]
    transects = qgc.survey_transects(
        [tuple(v) for v in d["polygon"]],
        d["angle"],
        calc["AdjustedFootprintSide"],
        tsci["TurnAroundDistance"],
        d["entryLocation"],
    )
    items = qgc.transect_items(
        transects, float(calc["DistanceToSurface"]), float(calc["AdjustedFootprintFrontal"])
    )
    assert len(items) == len(survey.items) == 12
    assert same_items(items, survey.items, 1e-12)  # 1e-12 relative: ~5 µm in latitude
    assert qgc.camera_shots(transects, calc["AdjustedFootprintFrontal"]) == tsci["CameraShots"]
    visual = [c for t in transects for p in t for c in (p.lat_deg, p.lon_deg)]
    stored = [c for v in tsci["VisualTransectPoints"] for c in v]
    assert visual == pytest.approx(stored, abs=1e-11)


def test_structure_scan_expands_like_qgc() -> None:
    plan = read_plan(_file("mavsdk_qgroundcontrol_sample_with_structured_scan.plan"))
    (scan,) = plan.complex_items("StructureScan")
    items = scan.items
    # entrance, ROI, 2 layers x (5 waypoints + trigger on + trigger off), ROI none, exit
    assert len(items) == 2 + 2 * 7 + 2
    assert items[1].command == CMD_SET_ROI_WPNEXT_OFFSET and items[1].params[6] == 90
    assert items[-2].command == CMD_SET_ROI_NONE
    layers = sorted(
        {i.altitude_m for i in items if i.command == CMD_WAYPOINT and i.altitude_m != 50}
    )
    assert layers == [62.5, 87.5]  # height 100, from the top, half a 25 m footprint down
    triggers = [i.params[0] for i in items if i.command == CMD_CAM_TRIGG_DIST]
    assert triggers == [25, 0, 25, 0]
    # the flight polygon lies DistanceToSurface (50 m) outside the structure's edges
    from drone_missions.qgc import TangentPlane

    poly = [tuple(v) for v in scan.definition["polygon"]]
    plane = TangentPlane(poly[0])
    s = plane.forward(poly)
    layer = [i for i in items[2:] if i.command == CMD_WAYPOINT][:4]
    f = plane.forward([(i.lat_deg, i.lon_deg) for i in layer])
    for k in range(4):
        a, b = s[k], s[(k + 1) % 4]
        ex, ey = b[0] - a[0], b[1] - a[1]
        n = (ex * ex + ey * ey) ** 0.5
        dist = abs((f[k][0] - a[0]) * ey - (f[k][1] - a[1]) * ex) / n
        assert dist == pytest.approx(50.0, abs=1e-6)


def test_fence_circles_rally_and_written_json_is_qgc_shaped(tmp_path: Path) -> None:
    plan = Plan(
        entries=(waypoint(43.0, 77.0, 40.0), waypoint(43.001, 77.0, 40.0)),
        home=(43.0, 77.0, 800.0),
        fence_circles=(FenceCircle((43.0, 77.0), 500.0, True),),
        rally_points=((43.0005, 77.0005, 30.0),),
    )
    out = write_plan(plan, tmp_path / "m.plan")
    doc = json.loads(out.read_text())
    assert doc["fileType"] == "Plan" and doc["version"] == 1 and doc["mission"]["version"] == 2
    assert doc["geoFence"]["circles"][0]["circle"]["radius"] == 500.0
    back = read_plan(out)
    assert back.fence_circles == plan.fence_circles
    assert back.rally_points == plan.rally_points


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "unknown plan format"),
        ('{"fileType": "Mission"}', "fileType is not 'Plan'"),
        (
            '{"fileType": "Plan", "version": 1, "mission": {"version": 2, "items": [{"type": '
            '"SimpleItem", "command": 16, "frame": 3, "params": [1, 2]}]}}',
            "7 values",
        ),
        ("QGC WPL 110\n1\t0\t3\t16\t0\t0\n", "12"),
        (
            '{"fileType": "Plan", "version": 1, "mission": {"version": 2, "items": [{"type": '
            '"ComplexItem", "complexItemType": "survey"}]}}',
            "TransectStyleComplexItem.Items",
        ),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.plan"
    path.write_text(text)
    with pytest.raises(PlanError, match=message) as info:
        read_plan(path)
    assert str(path) in str(info.value)


def test_real_geofence_polygons_are_enforced() -> None:
    """QGC's inclusion/exclusion pair (the exclusion is the inclusion's western half)."""
    from drone_missions.check import Limits, check_plan
    from drone_missions.plan import CMD_RTL, command

    fenced = read_plan(_file("qgc_ce_geofence_rd_2.plan"))
    inc, exc = fenced.fence_polygons

    def centroid(vertices: tuple[tuple[float, float], ...]) -> tuple[float, float]:
        return (sum(v[0] for v in vertices) / 4, sum(v[1] for v in vertices) / 4)

    east = centroid(tuple(v for v in inc.vertices if v not in exc.vertices) + exc.vertices[2:])
    limits = Limits(min_clearance_m=5.0)

    def rules(*points: tuple[float, float]) -> set[str]:
        items = [waypoint(lat, lon, 15.0) for lat, lon in points]
        plan = Plan((*items, command(CMD_RTL)), fenced.home, fenced.fence_polygons)
        return {v.rule for v in check_plan(plan, limits=limits).violations}

    assert rules(east) == set()  # home, the point and the way there are in the allowed part
    assert rules(centroid(exc.vertices)) == {"exclusion-fence"}
    assert "inclusion-fence" in rules((38.7520, -77.4970))  # 100 m north: outside


def test_terrain_items_get_their_amsl_altitude_from_a_dem(tmp_path: Path) -> None:
    """QGC's TerrainTest plan: mode-3 items (80 m and 40 m above terrain, AMSL null) over a
    flat 100 m DEM in EPSG:4326 become GLOBAL items at 180 m and 140 m, ready to upload."""
    import numpy as np
    import rasterio
    from rasterio.transform import Affine

    from drone_missions.dem import Dem
    from drone_missions.flight import FlightError, raw_items
    from drone_missions.plan import FRAME_GLOBAL
    from drone_missions.route import resolve_terrain

    plan = read_plan(_file("qgc_TerrainTest-PX4-MultiRotor.plan"))
    with pytest.raises(FlightError, match="above terrain"):
        raw_items(plan)
    dem_path = tmp_path / "flat.tif"
    with rasterio.open(
        dem_path, "w", driver="GTiff", width=200, height=200, count=1, dtype="float32",
        crs="EPSG:4326", transform=Affine(0.001, 0.0, -122.2, 0.0, -0.001, 47.7),
    ) as ds:  # fmt: skip
        ds.write(np.full((200, 200), 100.0, dtype=np.float32), 1)
    resolved = resolve_terrain(plan, Dem.open(dem_path))
    items = resolved.mission_items()
    assert (items[5].frame, items[5].params[6]) == (FRAME_GLOBAL, pytest.approx(180.0))
    assert (items[7].frame, items[7].params[6]) == (FRAME_GLOBAL, pytest.approx(140.0))
    assert [r.z for r in raw_items(resolved)][5] == pytest.approx(180.0)
    back = read_plan(write_plan(resolved, tmp_path / "resolved.plan"))
    assert back.mission_items()[5].qgc_amsl_alt_above_terrain == pytest.approx(180.0)
