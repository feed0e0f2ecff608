"""Every complex item we write loads in QGroundControl: checked by QGC's own loader rules.

The rules below are the key checks (``JsonHelper::validateKeys``: key present, JSON type)
and version checks of QGroundControl's loaders, read from its source
(mavlink/qgroundcontrol, ``src/MissionManager/``) for **QGC v4.4** (the 4.x line whose
``TransectStyleComplexItem`` is version 2 and still reads version 1, and whose
``CameraCalc`` is version 2 and still reads version 1), and for v4.0-v4.2, whose
``TransectStyleComplexItem::_load`` (version 1) requires ``FollowTerrain``:

- ``SurveyComplexItem::_loadV4V5``: type, complexItemType, entryLocation, angle,
  flyAlternateTransects (optional), splitConcavePolygons (version 5), polygon;
- ``CorridorScanComplexItem::_loadWorker`` (version 2): version, type, complexItemType,
  CorridorWidth, EntryPoint, polyline; its CameraCalc inside the TransectStyleComplexItem;
- ``StructureScanComplexItem::load`` (version 3): version, type, complexItemType, polygon,
  ScanBottomAlt, StructureHeight, Layers, CameraCalc, EntranceAltitude, GimbalPitch,
  StartFromTop;
- ``TransectStyleComplexItem::_load``: version (1 or 2), TurnAroundDistance,
  CameraTriggerInTurnAround, HoverAndCapture, Refly90Degrees, CameraCalc,
  VisualTransectPoints, Items, CameraShots (required from version 2), FollowTerrain
  (version 1; with it the three TerrainAdjust* values);
- ``CameraCalc::load``: version (1: DistanceToSurfaceRelative; 2: DistanceMode),
  CameraName, AdjustedFootprintSide/Frontal, DistanceToSurface; for a camera that is not
  "Manual (no camera specs)" ValueSetIsDistance, ImageDensity, FrontalOverlap,
  SideOverlap and ``CameraSpec::load``'s SensorWidth, SensorHeight, ImageWidth,
  ImageHeight, FocalLength, Landscape, FixedOrientation, MinTriggerInterval;
- ``MissionItem::load`` (SimpleItem): type, command, frame, autoContinue, params (7),
  doJumpId.

The real QGC files in ``shared/data/qgc_plans`` pass the same rules (so the rules are
QGC's, not ours), and the CorridorScan layout we wrote before (CameraCalc at the top
level, no ImageDensity/FixedOrientation/MinTriggerInterval) fails them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from calibration.camera_model import survey_camera
from drone_missions.dem import Dem
from drone_missions.plan import read_plan, write_plan
from drone_missions.planners import CorridorRequest, plan_corridor
from drone_missions.survey import SurveyRequest, plan_survey
from tests.conftest import shared
from tests.test_missions_survey import _rectangle

NUM, BOOL, STR, OBJ, ARR = (int, float), (bool,), (str,), (dict,), (list,)
MANUAL_CAMERA = "Manual (no camera specs)"


def _keys(
    obj: dict[str, Any], rules: list[tuple[str, tuple[type, ...], bool]], where: str
) -> list[str]:
    """JsonHelper::validateKeys: each required key present, each present key of its type
    (a JSON bool is not a number to Qt)."""
    errors = []
    for key, types, required in rules:
        if key not in obj:
            if required:
                errors.append(f"{where}: missing {key}")
            continue
        value = obj[key]
        if isinstance(value, bool) and types is NUM:
            errors.append(f"{where}: {key} is a bool, QGC wants a number")
        elif not isinstance(value, types):
            errors.append(f"{where}: {key} is {type(value).__name__}")
    return errors


def _coordinates(value: Any, minimum: int, where: str) -> list[str]:
    ok = (
        isinstance(value, list)
        and len(value) >= minimum
        and all(
            isinstance(p, list) and len(p) >= 2 and all(isinstance(c, NUM) for c in p[:2])
            for p in value
        )
    )
    return [] if ok else [f"{where}: not a list of >= {minimum} [lat, lon]"]


def _simple_item(obj: Any, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: not an object"]
    errors = _keys(
        obj,
        [("type", STR, True), ("command", NUM, True), ("frame", NUM, True),
         ("autoContinue", BOOL, True), ("params", ARR, True), ("doJumpId", NUM, True)],
        where,
    )  # fmt: skip
    if obj.get("type") != "SimpleItem":
        errors.append(f"{where}: type {obj.get('type')!r}")
    if not isinstance(obj.get("params"), list) or len(obj["params"]) != 7:
        errors.append(f"{where}: params is not 7 values")
    return errors


def _camera_calc(obj: Any, where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: CameraCalc is not an object"]
    version = obj.get("version", 0)
    errors = []
    if version == 1:
        errors += _keys(obj, [("DistanceToSurfaceRelative", BOOL, False)], where)
    elif version == 2:
        errors += _keys(obj, [("DistanceMode", NUM, True)], where)
    else:
        return [f"{where}: CameraCalc version {version}"]
    errors += _keys(
        obj,
        [("CameraName", STR, True), ("AdjustedFootprintSide", NUM, True),
         ("AdjustedFootprintFrontal", NUM, True), ("DistanceToSurface", NUM, True)],
        where,
    )  # fmt: skip
    if obj.get("CameraName") != MANUAL_CAMERA:
        errors += _keys(
            obj,
            [("ValueSetIsDistance", BOOL, True), ("ImageDensity", NUM, True),
             ("FrontalOverlap", NUM, True), ("SideOverlap", NUM, True),
             ("SensorWidth", NUM, True), ("SensorHeight", NUM, True),
             ("ImageWidth", NUM, True), ("ImageHeight", NUM, True),
             ("FocalLength", NUM, True), ("Landscape", BOOL, True),
             ("FixedOrientation", BOOL, True), ("MinTriggerInterval", NUM, True)],
            where,
        )  # fmt: skip
    return errors


def _transect_style(obj: dict[str, Any], where: str) -> list[str]:
    inner = obj.get("TransectStyleComplexItem")
    where = f"{where} TransectStyleComplexItem"
    if not isinstance(inner, dict):
        return [f"{where}: missing (object)"]
    version = inner.get("version", 1)
    if version not in (1, 2):
        return [f"{where}: version {version}"]
    errors = _keys(
        inner,
        [("version", NUM, True), ("TurnAroundDistance", NUM, True),
         ("CameraTriggerInTurnAround", BOOL, True), ("HoverAndCapture", BOOL, True),
         ("Refly90Degrees", BOOL, True), ("CameraCalc", OBJ, True),
         ("VisualTransectPoints", ARR, True), ("Items", ARR, True),
         ("CameraShots", NUM, version == 2)],
        where,
    )  # fmt: skip
    if version == 1:  # QGC 4.0-4.2 require it; 4.4 reads it as the distance mode
        errors += _keys(inner, [("FollowTerrain", BOOL, True)], where)
        if inner.get("FollowTerrain"):
            errors += _keys(
                inner,
                [("TerrainAdjustTolerance", NUM, True), ("TerrainAdjustMaxClimbRate", NUM, True),
                 ("TerrainAdjustMaxDescentRate", NUM, True)],
                where,
            )  # fmt: skip
    errors += _camera_calc(inner.get("CameraCalc"), f"{where} CameraCalc")
    errors += _coordinates(inner.get("VisualTransectPoints"), 0, f"{where} VisualTransectPoints")
    for j, item in enumerate(inner.get("Items") or []):
        errors += _simple_item(item, f"{where} Items[{j}]")
    return errors


def qgc_load_errors(doc: dict[str, Any]) -> list[str]:
    """What QGroundControl's loaders would refuse in a ``.plan`` document (empty: none)."""
    errors = _keys(
        doc,
        [("fileType", STR, True), ("version", NUM, True), ("groundStation", STR, True),
         ("mission", OBJ, True), ("geoFence", OBJ, True), ("rallyPoints", OBJ, True)],
        "plan",
    )  # fmt: skip
    mission = doc.get("mission") or {}
    errors += _keys(
        mission,
        [("version", NUM, True), ("firmwareType", NUM, True), ("vehicleType", NUM, False),
         ("cruiseSpeed", NUM, True), ("hoverSpeed", NUM, True), ("items", ARR, True),
         ("plannedHomePosition", ARR, True)],
        "mission",
    )  # fmt: skip
    for i, item in enumerate(mission.get("items") or []):
        where = f"mission.items[{i}]"
        if item.get("type") != "ComplexItem":
            errors += _simple_item(item, where)
            continue
        kind = item.get("complexItemType")
        base = [("type", STR, True), ("complexItemType", STR, True)]
        if kind == "survey":
            errors += _keys(
                item,
                [*base, ("entryLocation", NUM, True), ("angle", NUM, True),
                 ("flyAlternateTransects", BOOL, False), ("polygon", ARR, True),
                 ("version", NUM, True), ("splitConcavePolygons", BOOL, item.get("version") == 5)],
                where,
            )  # fmt: skip
            if item.get("version") not in (4, 5):
                errors.append(f"{where}: survey version {item.get('version')}")
            errors += _coordinates(item.get("polygon"), 3, f"{where} polygon")
            errors += _transect_style(item, where)
        elif kind == "CorridorScan":
            errors += _keys(
                item,
                [*base, ("version", NUM, True), ("CorridorWidth", NUM, True),
                 ("EntryPoint", NUM, True), ("polyline", ARR, True)],
                where,
            )  # fmt: skip
            if item.get("version") != 2:
                errors.append(f"{where}: CorridorScan version {item.get('version')}")
            errors += _coordinates(item.get("polyline"), 2, f"{where} polyline")
            errors += _transect_style(item, where)
        elif kind == "StructureScan":
            errors += _keys(
                item,
                [*base, ("version", NUM, True), ("polygon", ARR, True),
                 ("ScanBottomAlt", NUM, True), ("StructureHeight", NUM, True),
                 ("Layers", NUM, True), ("CameraCalc", OBJ, True),
                 ("EntranceAltitude", NUM, True), ("GimbalPitch", NUM, True),
                 ("StartFromTop", BOOL, True)],
                where,
            )  # fmt: skip
            if item.get("version") != 3:
                errors.append(f"{where}: StructureScan version {item.get('version')}")
            errors += _coordinates(item.get("polygon"), 3, f"{where} polygon")
            errors += _camera_calc(item.get("CameraCalc"), f"{where} CameraCalc")
        else:
            errors.append(f"{where}: complex item type {kind!r}")
    return errors


REAL_PLANS = [
    "mavsdk_qgroundcontrol_sample.plan",
    "mavsdk_qgroundcontrol_sample_with_survey.plan",
    "mavsdk_qgroundcontrol_sample_with_structured_scan.plan",
    "mavsdk_qgroundcontrol_sample_with_digicam_control.plan",
    "qgc_TerrainTest-PX4-MultiRotor.plan",
    "qgc_ce_geofence_rd_2.plan",
]


@pytest.mark.parametrize("name", REAL_PLANS)
def test_real_qgc_plans_pass_the_loader_rules_and_so_do_our_re_exports(
    name: str, tmp_path: Path
) -> None:
    path = shared("qgc_plans", name)
    assert qgc_load_errors(json.loads(path.read_text())) == []
    again = write_plan(read_plan(path), tmp_path / "again.plan")
    assert qgc_load_errors(json.loads(again.read_text())) == []


def _line() -> tuple[tuple[float, float], ...]:
    pts = _rectangle(400.0, 150.0)
    return (pts[0], pts[1], pts[2])


def test_written_survey_and_corridor_items_follow_the_loaders(tmp_path: Path) -> None:
    camera = survey_camera("DJI Phantom 4 RTK")
    survey = plan_survey(SurveyRequest(tuple(_rectangle(300.0, 200.0)), camera, gsd_cm_px=2.0))
    corridor, _, _ = plan_corridor(CorridorRequest(_line(), camera, 60.0, altitude_agl_m=50.0))
    for name, plan in (("survey", survey.plan), ("corridor", corridor)):
        doc = json.loads(write_plan(plan, tmp_path / f"{name}.plan").read_text())
        assert qgc_load_errors(doc) == [], name
    inner = json.loads((tmp_path / "corridor.plan").read_text())["mission"]["items"][1]
    assert "CameraCalc" not in inner  # inside the TransectStyleComplexItem
    calc = inner["TransectStyleComplexItem"]["CameraCalc"]
    assert calc["FixedOrientation"] is False and calc["MinTriggerInterval"] == 0.0
    assert inner["TransectStyleComplexItem"]["CameraShots"] > 0


def test_terrain_following_survey_follows_the_loaders(tmp_path: Path) -> None:
    dem = Dem.open(shared("dem_open_pit", "SRTMGL3_39.834_-105.816_40.466_-105.184.asc"))
    area = _rectangle(250.0, 200.0, origin=(40.00, -105.60))
    req = SurveyRequest(tuple(area), survey_camera("DJI Phantom 4 RTK"), altitude_agl_m=60.0)
    doc = json.loads(write_plan(plan_survey(req, dem).plan, tmp_path / "t.plan").read_text())
    assert qgc_load_errors(doc) == []
    survey = [i for i in doc["mission"]["items"] if i.get("complexItemType") == "survey"]
    assert survey[0]["TransectStyleComplexItem"]["FollowTerrain"] is True


def test_the_rules_can_fail_the_old_corridor_layout(tmp_path: Path) -> None:
    """The CorridorScan we wrote before issue 17: CameraCalc at the top level (QGC 3.x),
    without ImageDensity, FixedOrientation, MinTriggerInterval. QGC 4.x refuses it."""
    camera = survey_camera("DJI Phantom 4 RTK")
    corridor, _, _ = plan_corridor(CorridorRequest(_line(), camera, 60.0, altitude_agl_m=50.0))
    doc = json.loads(write_plan(corridor, tmp_path / "c.plan").read_text())
    item = doc["mission"]["items"][1]
    calc = item["TransectStyleComplexItem"].pop("CameraCalc")
    for key in ("ImageDensity", "FixedOrientation", "MinTriggerInterval"):
        del calc[key]
    item["CameraCalc"] = calc
    errors = qgc_load_errors(doc)
    assert any("missing CameraCalc" in e for e in errors), errors
