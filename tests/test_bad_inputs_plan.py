"""Bad inputs to the `smartmine plan` commands: one error line naming the file or field,
exit 2, nothing written (the contract of ``tests/bad_input.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drone_missions.plan import CMD_RTL, CMD_TAKEOFF, Plan, command, waypoint, write_plan
from tests.bad_input import BadInput, check_bad_input, with_file

LAT, LON = 43.2, 76.9
RING = [[LON, LAT], [LON + 0.003, LAT], [LON + 0.003, LAT + 0.002], [LON, LAT + 0.002]]
CAMERA = ("--camera", "DJI Phantom 4 RTK")


def _truncated_plan(d: Path) -> None:
    (d / "m.plan").write_text(json.dumps(_plan_doc())[:200])


def _area(name: str, ring: list[Any]) -> Callable[[Path], None]:
    doc = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    return with_file(name, json.dumps(doc))


def _good_plan() -> Plan:
    return Plan(
        entries=(
            waypoint(LAT, LON, 30.0, command=CMD_TAKEOFF),
            waypoint(LAT + 0.001, LON, 30.0),
            waypoint(LAT + 0.001, LON + 0.001, 30.0),
            command(CMD_RTL),
        ),
        home=(LAT, LON, 0.0),
    )


def _plan_doc() -> dict[str, Any]:
    from drone_missions.plan import plan_to_json

    return plan_to_json(_good_plan())


def _plan_with(
    edit: Callable[[dict[str, Any]], None], name: str = "m.plan"
) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        doc = _plan_doc()
        edit(doc)
        (d / name).write_text(json.dumps(doc))

    return make


def _item(k: int, param: int, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["mission"]["items"][k]["params"][param] = value

    return edit


def _set(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _wpl(rows: list[str], header: str = "QGC WPL 110") -> Callable[[Path], None]:
    return with_file("m.waypoints", "\n".join([header, *rows]) + "\n")


WPL_HOME = "0\t1\t0\t16\t0\t0\t0\t0\t43.2\t76.9\t0\t1"
WPL_WP = "1\t0\t3\t16\t0\t0\t0\t0\t43.201\t76.9\t30\t1"


def _tiff(truncate: bool) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        import numpy as np
        import rasterio
        from rasterio.transform import Affine

        path = d / "dem.tif"
        with rasterio.open(
            path, "w", driver="GTiff", width=64, height=64, count=1, dtype="float32",
            crs="EPSG:4326", transform=Affine(0.001, 0, LON - 0.01, 0, -0.001, LAT + 0.03),
        ) as ds:  # fmt: skip
            ds.write(np.full((64, 64), 800.0, dtype=np.float32), 1)
        if truncate:
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])

    return make


def _both(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        for m in makers:
            m(d)

    return make


def _drift_plan(d: Path) -> None:
    import numpy as np

    from drone_missions.planners import drift_plan

    write_plan(drift_plan(np.array([[0.0, 0.0, 1.5], [5.0, 0.0, 1.5]])), d / "drift.plan")


def _afile(d: Path) -> None:
    (d / "afile").write_text("a regular file, not a folder\n")


GOOD_AREA = _area("area.geojson", RING)
GOOD_PLAN = _plan_with(lambda doc: None)
SURVEY = ("plan", "survey", "{d}/area.geojson", *CAMERA)
SURVEY_OUT = ("--out", "{d}/m.plan")
LINE = with_file(
    "line.geojson",
    json.dumps({"type": "LineString", "coordinates": [[LON, LAT], [LON + 0.004, LAT + 0.001]]}),
)


def survey(*extra: str) -> tuple[str, ...]:
    return (*SURVEY, *extra, *SURVEY_OUT)


CASES = [
    # -- survey: the area -------------------------------------------------------------------
    BadInput("survey-area-missing", survey("--altitude-agl-m", "50"), ("{d}/area.geojson",)),
    BadInput(
        "survey-area-truncated-json",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "invalid GeoJSON"),
        with_file("area.geojson", '{"type": "Polygon", "coo'),
    ),
    BadInput(
        "survey-area-nan-vertex",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "vertex 1 longitude is nan"),
        with_file(
            "area.geojson",
            json.dumps(
                {
                    "type": "Polygon",
                    "coordinates": [[RING[0], [float("nan"), LAT], RING[2], RING[3], RING[0]]],
                }
            ),
        ),
    ),
    BadInput(
        "survey-area-null-coordinate",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "vertex 2 latitude is null"),
        _area("area.geojson", [RING[0], RING[1], [LON, None], RING[3]]),
    ),
    BadInput(
        "survey-area-string-coordinate",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "vertex 1 latitude is 'north'"),
        _area("area.geojson", [RING[0], [LON, "north"], RING[2], RING[3]]),
    ),
    BadInput(
        "survey-area-bow-tie",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "bow-tie"),
        _area("area.geojson", [RING[0], RING[2], RING[1], RING[3]]),
    ),
    BadInput(
        "survey-area-two-vertices",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "at least 3"),
        _area("area.geojson", [RING[0], RING[1]]),
    ),
    BadInput(
        "survey-area-repeated-vertex",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "repeats vertex"),
        _area("area.geojson", [RING[0], RING[1], RING[1], RING[2]]),
    ),
    BadInput(
        "survey-area-zero-area",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "zero area"),
        _area("area.geojson", [RING[0], [LON + 0.001, LAT], [LON + 0.002, LAT]]),
    ),
    BadInput(
        "survey-area-latitude-95",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "latitude is 95"),
        _area("area.geojson", [RING[0], [LON, 95.0], RING[2]]),
    ),
    BadInput(
        "survey-area-only-a-line",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "no Polygon"),
        with_file("area.geojson", json.dumps({"type": "LineString", "coordinates": RING})),
    ),
    BadInput(
        "survey-area-two-polygons",
        survey("--altitude-agl-m", "50"),
        ("{d}/area.geojson", "2 polygons", "give one polygon"),
        with_file(
            "area.geojson",
            json.dumps(
                {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [[*RING, RING[0]]],
                        [[[c[0] + 0.01, c[1]] for c in [*RING, RING[0]]]],
                    ],
                }
            ),
        ),
    ),
    BadInput(
        "survey-kml-without-polygon",
        ("plan", "survey", "{d}/area.kml", *CAMERA, "--altitude-agl-m", "50", *SURVEY_OUT),
        ("{d}/area.kml", "no Polygon in the KML"),
        with_file(
            "area.kml",
            '<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark>'
            "<LineString><coordinates>76.9,43.2 76.91,43.21</coordinates></LineString>"
            "</Placemark></kml>",
        ),
    ),
    BadInput(
        "survey-kml-truncated",
        ("plan", "survey", "{d}/area.kml", *CAMERA, "--altitude-agl-m", "50", *SURVEY_OUT),
        ("{d}/area.kml", "invalid KML"),
        with_file("area.kml", "<kml><Placemark><Polygon><outerBoundaryIs>"),
    ),
    BadInput(
        "survey-kml-bad-coordinate",
        ("plan", "survey", "{d}/area.kml", *CAMERA, "--altitude-agl-m", "50", *SURVEY_OUT),
        ("{d}/area.kml", "'east,43.2'"),
        with_file(
            "area.kml",
            "<kml><Placemark><Polygon><outerBoundaryIs><LinearRing>"
            "<coordinates>east,43.2 76.91,43.2 76.91,43.21</coordinates></LinearRing>"
            "</outerBoundaryIs></Polygon></Placemark></kml>",
        ),
    ),
    # -- survey: parameters -------------------------------------------------------------------
    BadInput(
        "survey-negative-altitude",
        survey("--altitude-agl-m", "-50"),
        ("--altitude-agl-m",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-nan-altitude",
        survey("--altitude-agl-m", "nan"),
        ("--altitude-agl-m is nan",),
        GOOD_AREA,
    ),
    BadInput("survey-zero-gsd", survey("--gsd-cm", "0"), ("--gsd-cm",), GOOD_AREA),
    BadInput(
        "survey-side-overlap-1.2",
        survey("--altitude-agl-m", "50", "--side-overlap", "1.2"),
        ("--side-overlap",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-front-overlap-negative",
        survey("--altitude-agl-m", "50", "--front-overlap", "-0.1"),
        ("--front-overlap",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-zero-speed",
        survey("--altitude-agl-m", "50", "--speed-m-s", "0"),
        ("--speed-m-s",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-negative-speed",
        survey("--altitude-agl-m", "50", "--speed-m-s", "-3"),
        ("--speed-m-s",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-zero-climb-rate",
        survey("--altitude-agl-m", "50", "--max-climb-m-s", "0"),
        ("--max-climb-m-s",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-angle-400",
        survey("--altitude-agl-m", "50", "--angle", "400"),
        ("--angle",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-angle-word",
        survey("--altitude-agl-m", "50", "--angle", "north"),
        ("--angle", "north"),
        GOOD_AREA,
    ),
    BadInput(
        "survey-negative-turnaround",
        survey("--altitude-agl-m", "50", "--turnaround-m", "-5"),
        ("--turnaround-m",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-zero-endurance",
        survey("--altitude-agl-m", "50", "--endurance-min", "0"),
        ("--endurance-min",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-negative-min-clearance",
        survey("--altitude-agl-m", "50", "--min-clearance-m", "-1"),
        ("--min-clearance-m",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-reserve-1.5",
        survey("--altitude-agl-m", "50", "--reserve", "1.5"),
        ("--reserve",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-home-latitude-95",
        survey("--altitude-agl-m", "50", "--home", "95,76.9"),
        ("--home latitude",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-unknown-camera",
        (
            "plan",
            "survey",
            "{d}/area.geojson",
            "--camera",
            "Brick 9000",
            "--altitude-agl-m",
            "50",
            *SURVEY_OUT,
        ),
        ("Brick 9000",),
        GOOD_AREA,
    ),
    BadInput(
        "survey-camera-yaml-nan",
        (
            "plan",
            "survey",
            "{d}/area.geojson",
            "--camera",
            "{d}/cam.yaml",
            "--altitude-agl-m",
            "50",
            *SURVEY_OUT,
        ),
        ("{d}/cam.yaml", "focal_length_mm"),
        _both(
            GOOD_AREA,
            with_file(
                "cam.yaml",
                "sensor_width_mm: 13.2\nsensor_height_mm: 8.8\n"
                "focal_length_mm: .nan\nimage_width_px: 5472\nimage_height_px: 3648\n",
            ),
        ),
    ),
    BadInput(
        "survey-camera-yaml-truncated",
        (
            "plan",
            "survey",
            "{d}/area.geojson",
            "--camera",
            "{d}/cam.yaml",
            "--altitude-agl-m",
            "50",
            *SURVEY_OUT,
        ),
        ("{d}/cam.yaml", "invalid YAML"),
        _both(GOOD_AREA, with_file("cam.yaml", "sensor_width_mm: [13.2\n")),
    ),
    BadInput(
        "survey-camera-yaml-string-field",
        (
            "plan",
            "survey",
            "{d}/area.geojson",
            "--camera",
            "{d}/cam.yaml",
            "--altitude-agl-m",
            "50",
            *SURVEY_OUT,
        ),
        ("{d}/cam.yaml", "sensor_width_mm"),
        _both(
            GOOD_AREA,
            with_file(
                "cam.yaml",
                "sensor_width_mm: wide\nsensor_height_mm: 8.8\n"
                "focal_length_mm: 8.8\nimage_width_px: 5472\nimage_height_px: 3648\n",
            ),
        ),
    ),
    BadInput(
        "survey-dem-not-a-raster",
        survey("--altitude-agl-m", "50", "--dem", "{d}/dem.tif"),
        ("{d}/dem.tif", "cannot read the DEM"),
        _both(GOOD_AREA, with_file("dem.tif", "not a raster\n")),
    ),
    BadInput(
        "survey-dem-truncated-geotiff",
        survey("--altitude-agl-m", "50", "--dem", "{d}/dem.tif"),
        ("{d}/dem.tif", "cannot read the DEM"),
        _both(GOOD_AREA, _tiff(truncate=True)),
    ),
    BadInput(
        "survey-dem-negative-uncertainty",
        survey(
            "--altitude-agl-m", "50", "--dem", "{d}/dem.tif", "--dem-vertical-uncertainty-m", "-3"
        ),
        ("--dem-vertical-uncertainty-m",),
        _both(GOOD_AREA, _tiff(truncate=False)),
    ),
    BadInput(
        "survey-out-under-a-file",
        (*SURVEY, "--altitude-agl-m", "50", "--out", "{d}/afile/m.plan"),
        ("{d}/afile/m.plan",),
        _both(GOOD_AREA, _afile),
    ),
    BadInput(
        "survey-fence-bow-tie",
        survey("--altitude-agl-m", "50", "--fence", "{d}/fence.geojson"),
        ("{d}/fence.geojson", "bow-tie"),
        _both(GOOD_AREA, _area("fence.geojson", [RING[0], RING[2], RING[1], RING[3]])),
    ),
    # -- check: plans ------------------------------------------------------------------------
    BadInput(
        "check-nan-latitude",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "item 1", "latitude is nan"),
        _plan_with(_item(1, 4, float("nan"))),
    ),
    BadInput(
        "check-null-longitude",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "item 2", "longitude is null"),
        _plan_with(_item(2, 5, None)),
    ),
    BadInput(
        "check-infinite-altitude",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "item 1", "altitude"),
        _plan_with(_item(1, 6, float("inf"))),
    ),
    BadInput(
        "check-latitude-95",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "item 2", "latitude is 95"),
        _plan_with(_item(2, 4, 95.0)),
    ),
    BadInput(
        "check-longitude-200",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "longitude is 200"),
        _plan_with(_item(1, 5, 200.0)),
    ),
    BadInput(
        "check-unknown-mav-cmd",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "unknown MAV_CMD 12345"),
        _plan_with(_set(("mission", "items", 1, "command"), 12345)),
    ),
    BadInput(
        "check-string-param",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "param5"),
        _plan_with(_item(1, 4, "43.2")),
    ),
    BadInput(
        "check-zero-speed-change",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "item 1", "speed"),
        _plan_with(
            lambda doc: doc["mission"]["items"].insert(
                1,
                {
                    "autoContinue": True,
                    "command": 178,
                    "doJumpId": 9,
                    "frame": 2,
                    "params": [1, 0, -1, 0, 0, 0, 0],
                    "type": "SimpleItem",
                },
            )
        ),
    ),
    BadInput(
        "check-cruise-speed-word",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "cruiseSpeed"),
        _plan_with(_set(("mission", "cruiseSpeed"), "fast")),
    ),
    BadInput(
        "check-negative-hover-speed",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "hoverSpeed"),
        _plan_with(_set(("mission", "hoverSpeed"), -5)),
    ),
    BadInput(
        "check-home-nan",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "home", "altitude"),
        _plan_with(_set(("mission", "plannedHomePosition", 2), float("nan"))),
    ),
    BadInput(
        "check-fence-bow-tie",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "geoFence.polygons[0]", "bow-tie"),
        _plan_with(
            _set(
                ("geoFence", "polygons"),
                [
                    {
                        "inclusion": True,
                        "version": 1,
                        "polygon": [
                            [LAT, LON],
                            [LAT + 0.002, LON + 0.003],
                            [LAT, LON + 0.003],
                            [LAT + 0.002, LON],
                        ],
                    }
                ],
            )
        ),
    ),
    BadInput(
        "check-fence-circle-zero-radius",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "radius"),
        _plan_with(
            _set(
                ("geoFence", "circles"),
                [{"inclusion": True, "version": 1, "circle": {"center": [LAT, LON], "radius": 0}}],
            )
        ),
    ),
    BadInput(
        "check-rally-point-list-of-words",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "rallyPoints"),
        _plan_with(_set(("rallyPoints", "points"), "here")),
    ),
    BadInput(
        "check-truncated-json",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "invalid JSON"),
        _truncated_plan,
    ),
    BadInput(
        "check-empty-file",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan", "unknown plan format"),
        with_file("m.plan", ""),
    ),
    BadInput(
        "check-binary-file",
        ("plan", "check", "{d}/m.plan"),
        ("{d}/m.plan",),
        with_file("m.plan", bytes(range(256)) * 4),
    ),
    BadInput(
        "check-wpl-wrong-header",
        ("plan", "check", "{d}/m.waypoints"),
        ("{d}/m.waypoints", "QGC WPL 110"),
        _wpl([WPL_HOME, WPL_WP], header="QGC WPL 120"),
    ),
    BadInput(
        "check-wpl-wrong-columns",
        ("plan", "check", "{d}/m.waypoints"),
        ("{d}/m.waypoints", "line 3", "columns"),
        _wpl([WPL_HOME, "1\t0\t3\t16\t0\t0\t0\t43.201\t76.9\t30\t1"]),
    ),
    BadInput(
        "check-wpl-words",
        ("plan", "check", "{d}/m.waypoints"),
        ("{d}/m.waypoints", "line 3"),
        _wpl([WPL_HOME, WPL_WP.replace("43.201", "north")]),
    ),
    BadInput(
        "check-wpl-nan-latitude",
        ("plan", "check", "{d}/m.waypoints"),
        ("{d}/m.waypoints", "WPL seq 1", "latitude is nan"),
        _wpl([WPL_HOME, WPL_WP.replace("43.201", "nan")]),
    ),
    BadInput(
        "check-wpl-sequence-gap",
        ("plan", "check", "{d}/m.waypoints"),
        ("{d}/m.waypoints", "sequence number 5"),
        _wpl([WPL_HOME, WPL_WP.replace("1\t0\t3", "5\t0\t3", 1)]),
    ),
    BadInput(
        "check-dem-truncated",
        ("plan", "check", "{d}/m.plan", "--dem", "{d}/dem.tif"),
        ("{d}/dem.tif", "cannot read the DEM"),
        _both(GOOD_PLAN, _tiff(truncate=True)),
    ),
    BadInput(
        "check-home-outside-the-dem",
        ("plan", "check", "{d}/m.plan", "--dem", "{d}/dem.tif"),
        ("outside the DEM",),
        _both(
            _plan_with(_set(("mission", "plannedHomePosition"), [10.0, 10.0, 0])),
            _tiff(truncate=False),
        ),
    ),
    BadInput(
        "check-json-under-a-file",
        ("plan", "check", "{d}/m.plan", "--json", "{d}/afile/r.json"),
        ("{d}/afile/r.json",),
        _both(GOOD_PLAN, _afile),
    ),
    BadInput(
        "check-drift-plan-with-dem",
        ("plan", "check", "{d}/drift.plan", "--dem", "{d}/dem.tif"),
        ("{d}/drift.plan", "local-frame"),
        _both(_tiff(truncate=False), _drift_plan),
    ),
    BadInput(
        "check-drift-map-missing",
        ("plan", "check", "{d}/m.plan", "--map", "{d}/map.ply"),
        ("--map",),
        GOOD_PLAN,
    ),
    # -- export, show --------------------------------------------------------------------------
    BadInput("export-no-output", ("plan", "export", "{d}/m.plan"), ("--geojson",), GOOD_PLAN),
    BadInput(
        "export-nan-plan",
        ("plan", "export", "{d}/m.plan", "--geojson", "{d}/m.geojson"),
        ("{d}/m.plan", "latitude is nan"),
        _plan_with(_item(1, 4, float("nan"))),
    ),
    BadInput(
        "export-second-output-unwritable",
        ("plan", "export", "{d}/m.plan", "--geojson", "{d}/m.geojson", "--kml", "{d}/afile/m.kml"),
        ("{d}/afile/m.kml",),
        _both(GOOD_PLAN, _afile),
    ),
    BadInput(
        "export-unknown-camera",
        ("plan", "export", "{d}/m.plan", "--camera", "Brick 9000", "--geojson", "{d}/m.geojson"),
        ("Brick 9000",),
        GOOD_PLAN,
    ),
    BadInput(
        "show-truncated",
        ("plan", "show", "{d}/m.plan"),
        ("{d}/m.plan", "invalid JSON"),
        with_file("m.plan", '{"fileType": "Plan", "mission": {"items": ['),
    ),
    BadInput(
        "show-null-coordinates",
        ("plan", "show", "{d}/m.plan"),
        ("{d}/m.plan", "item 1", "latitude is null"),
        _plan_with(_item(1, 4, None)),
    ),
    # -- facade, corridor, drift --------------------------------------------------------------
    BadInput(
        "facade-negative-standoff",
        (
            "plan",
            "facade",
            "{d}/line.geojson",
            "--standoff-m",
            "-5",
            "--bottom-m",
            "10",
            "--top-m",
            "40",
            *CAMERA,
            "--out",
            "{d}/f.plan",
        ),
        ("--standoff-m",),
        LINE,
    ),
    BadInput(
        "facade-top-below-bottom",
        (
            "plan",
            "facade",
            "{d}/line.geojson",
            "--standoff-m",
            "20",
            "--bottom-m",
            "40",
            "--top-m",
            "10",
            *CAMERA,
            "--out",
            "{d}/f.plan",
        ),
        ("--top-m",),
        LINE,
    ),
    BadInput(
        "facade-gimbal-200",
        (
            "plan",
            "facade",
            "{d}/line.geojson",
            "--standoff-m",
            "20",
            "--bottom-m",
            "10",
            "--top-m",
            "40",
            "--gimbal-pitch-deg",
            "200",
            *CAMERA,
            "--out",
            "{d}/f.plan",
        ),
        ("--gimbal-pitch-deg",),
        LINE,
    ),
    BadInput(
        "facade-one-point-line",
        (
            "plan",
            "facade",
            "{d}/line.geojson",
            "--standoff-m",
            "20",
            "--bottom-m",
            "10",
            "--top-m",
            "40",
            *CAMERA,
            "--out",
            "{d}/f.plan",
        ),
        ("{d}/line.geojson", "at least 2 points"),
        with_file("line.geojson", json.dumps({"type": "LineString", "coordinates": [[LON, LAT]]})),
    ),
    BadInput(
        "corridor-zero-width",
        (
            "plan",
            "corridor",
            "{d}/line.geojson",
            "--width-m",
            "0",
            *CAMERA,
            "--altitude-agl-m",
            "50",
            "--out",
            "{d}/c.plan",
        ),
        ("--width-m",),
        LINE,
    ),
    BadInput(
        "corridor-nan-width",
        (
            "plan",
            "corridor",
            "{d}/line.geojson",
            "--width-m",
            "nan",
            *CAMERA,
            "--altitude-agl-m",
            "50",
            "--out",
            "{d}/c.plan",
        ),
        ("--width-m is nan",),
        LINE,
    ),
    BadInput(
        "corridor-repeated-point",
        (
            "plan",
            "corridor",
            "{d}/line.geojson",
            "--width-m",
            "60",
            *CAMERA,
            "--altitude-agl-m",
            "50",
            "--out",
            "{d}/c.plan",
        ),
        ("{d}/line.geojson", "repeats point 0"),
        with_file(
            "line.geojson",
            json.dumps(
                {"type": "LineString", "coordinates": [[LON, LAT], [LON, LAT], [LON + 0.004, LAT]]}
            ),
        ),
    ),
    BadInput(
        "corridor-negative-turnaround",
        (
            "plan",
            "corridor",
            "{d}/line.geojson",
            "--width-m",
            "60",
            *CAMERA,
            "--altitude-agl-m",
            "50",
            "--turnaround-m",
            "-1",
            "--out",
            "{d}/c.plan",
        ),
        ("--turnaround-m",),
        LINE,
    ),
    BadInput(
        "corridor-dem-not-a-raster",
        (
            "plan",
            "corridor",
            "{d}/line.geojson",
            "--width-m",
            "60",
            *CAMERA,
            "--altitude-agl-m",
            "50",
            "--dem",
            "{d}/dem.tif",
            "--out",
            "{d}/c.plan",
        ),
        ("{d}/dem.tif",),
        _both(LINE, with_file("dem.tif", "GIF89a not a raster")),
    ),
    BadInput(
        "drift-zero-spacing",
        ("plan", "drift", "{d}/line.csv", "--spacing-m", "0", "--out", "{d}/d.plan"),
        ("--spacing-m",),
        with_file("line.csv", "x,y,z\n0,0,1.5\n10,0,1.5\n"),
    ),
    BadInput(
        "drift-negative-clearance",
        ("plan", "drift", "{d}/line.csv", "--clearance-m", "-1", "--out", "{d}/d.plan"),
        ("--clearance-m",),
        with_file("line.csv", "x,y,z\n0,0,1.5\n10,0,1.5\n"),
    ),
    BadInput(
        "drift-csv-nan",
        ("plan", "drift", "{d}/line.csv", "--out", "{d}/d.plan"),
        ("{d}/line.csv", "line 3"),
        with_file("line.csv", "x,y,z\n0,0,1.5\nnan,0,1.5\n"),
    ),
    BadInput(
        "drift-csv-one-point",
        ("plan", "drift", "{d}/line.csv", "--out", "{d}/d.plan"),
        ("{d}/line.csv", "at least 2 points"),
        with_file("line.csv", "x,y,z\n0,0,1.5\n"),
    ),
    BadInput(
        "drift-map-garbage",
        ("plan", "drift", "{d}/map.ply", "--out", "{d}/d.plan"),
        ("{d}/map.ply",),
        with_file("map.ply", "garbage, not a PLY\n"),
    ),
    BadInput(
        "drift-out-under-a-file",
        ("plan", "drift", "{d}/line.csv", "--out", "{d}/afile/d.plan"),
        ("{d}/afile/d.plan",),
        _both(with_file("line.csv", "x,y,z\n0,0,1.5\n10,0,1.5\n"), _afile),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_to_plan_commands(case: BadInput, tmp_path: Path) -> None:
    check_bad_input(case, tmp_path / "case")


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
