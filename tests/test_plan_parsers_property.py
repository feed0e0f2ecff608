"""Property tests of the mission parsers: any input, garbage or a valid file mutated,
either parses into a plan (or area) whose every value is finite and in range, or is
refused with a SmartmineError (one line, exit 2) -- never another exception."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drone_missions.inputs import read_area
from drone_missions.plan import (
    NAV_POSITION_COMMANDS,
    Plan,
    parse_plan,
    plan_to_json,
    plan_to_wpl,
    validate_plan,
)
from smartmine.errors import SmartmineError
from tests.test_bad_inputs_plan import _good_plan

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 90.0001, 180.5, 1e308, -0.0]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=8), st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


def assert_sound(plan: Plan) -> None:
    """What any accepted plan must be: finite, in range, validated."""
    assert validate_plan(plan) is plan
    if plan.home is not None:
        assert all(math.isfinite(v) for v in plan.home)
        assert -90 <= plan.home[0] <= 90 and -180 <= plan.home[1] <= 180
    for it in plan.mission_items():
        assert all(p is None or not math.isinf(p) for p in it.params)
        if it.has_position:
            assert -90 <= it.lat_deg <= 90 and -180 <= it.lon_deg <= 180
        if it.command in NAV_POSITION_COMMANDS and it.command != 21 and it.has_position:
            assert math.isfinite(it.altitude_m)
    for fence in plan.fence_polygons:
        assert all(math.isfinite(c) for v in fence.vertices for c in v)


def parse_or_refuse(text: str) -> None:
    try:
        plan = parse_plan(text, "prop.plan")
    except SmartmineError as err:
        assert "\n" not in str(err).strip()
        return
    assert_sound(plan)


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*path, k))] + [path]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))] + [path]
    return [path]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[head] = _replace(doc[head], rest, value)
    return copy


VALID_DOC = plan_to_json(_good_plan())
VALID_PATHS = _leaves(VALID_DOC)


@FAST
@given(json_values)
def test_any_json_is_a_sound_plan_or_refused(doc: Any) -> None:
    parse_or_refuse(json.dumps(doc, allow_nan=True))


@FAST
@given(st.lists(st.tuples(st.sampled_from(VALID_PATHS), json_values), min_size=1, max_size=4))
def test_mutated_qgc_plans_are_sound_or_refused(edits: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc: Any = VALID_DOC
    for path, value in edits:
        try:
            doc = _replace(doc, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed the path
    parse_or_refuse(json.dumps(doc, allow_nan=True))


VALID_WPL = plan_to_wpl(_good_plan()).splitlines()
tokens = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "1", "16", "3", "95", "-200", "1e400", "x", ""]),
    numbers.map(str),
    st.text(alphabet="0123456789.-e", max_size=6),
)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID_WPL) - 1), st.integers(0, 12), tokens),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_wpl_files_are_sound_or_refused(edits: list[tuple[int, int, str]]) -> None:
    rows = [line.split("\t") for line in VALID_WPL]
    for row, col, token in edits:
        cells = rows[row]
        if col < len(cells):
            cells[col] = token
        else:
            cells.append(token)
    parse_or_refuse("\n".join("\t".join(r) for r in rows) + "\n")


@FAST
@given(st.lists(st.lists(tokens, max_size=13).map("\t".join), max_size=6))
def test_any_wpl_text_is_sound_or_refused(lines: list[str]) -> None:
    parse_or_refuse("\n".join(["QGC WPL 110", *lines]) + "\n")


positions = st.lists(
    st.one_of(
        st.tuples(numbers, numbers).map(list),
        st.tuples(
            st.floats(-0.01, 0.01).map(lambda v: 76.9 + v),
            st.floats(-0.01, 0.01).map(lambda v: 43.2 + v),
        ).map(list),
        json_values,
    ),
    max_size=7,
)


def _area_is_sound_or_refused(name: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text)
        try:
            ring, _ = read_area(path)
        except SmartmineError as err:
            assert "\n" not in str(err).strip()
            return
    assert len(ring) >= 3
    for lat, lon in ring:
        assert math.isfinite(lat) and math.isfinite(lon)
        assert -90 <= lat <= 90 and -180 <= lon <= 180


@FAST
@given(positions, st.sampled_from(["Polygon", "MultiPolygon", "LineString", "Feature"]))
def test_any_geojson_area_is_sound_or_refused(ring: list[Any], kind: str) -> None:
    doc: Any = {"type": "Polygon", "coordinates": [ring]}
    if kind == "MultiPolygon":
        doc = {"type": "MultiPolygon", "coordinates": [[ring]]}
    elif kind == "LineString":
        doc = {"type": "LineString", "coordinates": ring}
    elif kind == "Feature":
        doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": doc}]}
    _area_is_sound_or_refused("area.geojson", json.dumps(doc, allow_nan=True))


@FAST
@given(json_values)
def test_any_json_area_is_sound_or_refused(doc: Any) -> None:
    _area_is_sound_or_refused("area.geojson", json.dumps(doc, allow_nan=True))


@FAST
@given(st.lists(st.lists(tokens, min_size=1, max_size=3).map(",".join), max_size=7), st.booleans())
def test_any_kml_area_is_sound_or_refused(coords: list[str], wrap: bool) -> None:
    body = " ".join(coords)
    ring = f"<coordinates>{body}</coordinates>"
    if wrap:
        ring = f"<outerBoundaryIs><LinearRing>{ring}</LinearRing></outerBoundaryIs>"
    text = f'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><Polygon>{ring}</Polygon></Placemark></kml>'
    _area_is_sound_or_refused("area.kml", text)


@FAST
@given(st.text(max_size=200))
def test_any_text_as_kml_is_refused_or_sound(text: str) -> None:
    _area_is_sound_or_refused("area.kml", "<kml>" + text)


COMPLEX_FILES = (
    "mavsdk_qgroundcontrol_sample_with_survey.plan",
    "mavsdk_qgroundcontrol_sample_with_structured_scan.plan",
    "qgc_TerrainTest-PX4-MultiRotor.plan",
    "qgc_ce_geofence_rd_2.plan",
)


def _real_doc(name: str) -> Any:
    from tests.conftest import shared

    return json.loads(shared("qgc_plans", name).read_text())


@FAST
@given(st.sampled_from(COMPLEX_FILES), st.data())
def test_mutated_real_qgc_plans_are_sound_or_refused(name: str, data: st.DataObject) -> None:
    """The real files (Survey, StructureScan, terrain items, fences) with leaves replaced."""
    doc = _real_doc(name)
    paths = _leaves(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        try:
            doc = _replace(doc, path, data.draw(json_values))
        except (KeyError, IndexError, TypeError):
            continue
    parse_or_refuse(json.dumps(doc, allow_nan=True))
