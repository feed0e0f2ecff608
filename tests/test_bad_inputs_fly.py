"""Bad inputs to ``smartmine fly``: exit 2, one line naming the file or option, nothing
written, and no wait for a vehicle (everything is checked before MAVSDK connects: the
port given, 9 on 127.0.0.1, has no vehicle, and a case that reached it would fail on
"no autopilot" instead of naming its input)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drone_missions.plan import (
    CMD_RTL,
    CMD_TAKEOFF,
    FencePolygon,
    Plan,
    command,
    waypoint,
    write_plan,
)
from drone_missions.planners import drift_plan
from tests.bad_input import BadInput, Maker, check_bad_input, with_file

HOME = (43.2, 76.9, 800.0)
LINK = ("--connect", "udpin://127.0.0.1:9", "--timeout-s", "1")


def _plan(**changes: object) -> Plan:
    entries = (
        waypoint(*HOME[:2], 20.0, command=CMD_TAKEOFF),
        waypoint(43.2003, 76.9, 20.0),
        command(CMD_RTL),
    )
    fields: dict[str, object] = {"entries": entries, "home": HOME}
    return Plan(**{**fields, **changes})  # type: ignore[arg-type]


def _good(d: Path) -> None:
    write_plan(_plan(), d / "m.plan")


def _edited(edit: Callable[[dict[str, Any]], None]) -> Maker:
    """A good plan whose JSON ``edit(doc)`` changes (NaN, null, wrong types...)."""

    def make(d: Path) -> None:
        _good(d)
        doc = json.loads((d / "m.plan").read_text())
        edit(doc)
        (d / "m.plan").write_text(json.dumps(doc))

    return make


def _truncated_plan(d: Path) -> None:
    _good(d)
    (d / "m.plan").write_text((d / "m.plan").read_text()[:200])


def _nan_latitude(doc: dict[str, Any]) -> None:
    doc["mission"]["items"][1]["params"][4] = float("nan")


def _null_longitude(doc: dict[str, Any]) -> None:
    doc["mission"]["items"][1]["params"][5] = None


def _nan_rally_altitude(doc: dict[str, Any]) -> None:
    doc["rallyPoints"] = {"points": [[*HOME[:2], float("nan")]], "version": 2}


def _square(lat: float, lon: float, half_deg: float) -> list[tuple[float, float]]:
    return [
        (lat - half_deg, lon - half_deg),
        (lat - half_deg, lon + half_deg),
        (lat + half_deg, lon + half_deg),
        (lat + half_deg, lon - half_deg),
    ]


def _overlapping_fences(d: Path) -> None:
    """The plan's inclusion square and a --fence square that only overlap."""
    own = FencePolygon(tuple(_square(HOME[0], HOME[1], 0.001)), True)
    write_plan(_plan(fence_polygons=(own,)), d / "m.plan")
    ring = [[lon, lat] for lat, lon in _square(HOME[0] + 0.001, HOME[1], 0.001)]
    doc = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    (d / "fence.geojson").write_text(json.dumps(doc))


def _drift(d: Path) -> None:
    write_plan(drift_plan(np.array([[0.0, 0.0, 2.0], [4.0, 0.0, 2.0]])), d / "drift.plan")


def _tum(text: str | bytes) -> Maker:
    return with_file("poses.tum", text, _drift)


def _negative_circle(doc: dict[str, Any]) -> None:
    """A fence circle of radius -5 m (written as JSON: ``write_plan`` refuses it)."""
    circle = {"circle": {"center": list(HOME[:2]), "radius": -5.0}, "inclusion": True}
    doc["geoFence"] = {"circles": [circle], "polygons": [], "version": 2}


GOOD_TUM = "0.0 0 0 2 0 0 0 1\n0.1 0.4 0 2 0 0 0 1\n"
FLY = ("fly", "{d}/m.plan", *LINK, "--no-terrain-check")
DRIFT = ("fly", "{d}/drift.plan", *LINK, "--vision-pose", "{d}/poses.tum", "--no-terrain-check")

CASES = [
    BadInput("missing-plan", ("fly", "{d}/nope.plan", *LINK), ("{d}/nope.plan",)),
    BadInput(
        "empty-plan",
        FLY,
        ("{d}/m.plan",),
        with_file("m.plan", ""),
    ),
    BadInput(
        "truncated-plan",
        FLY,
        ("{d}/m.plan",),
        _truncated_plan,
    ),
    BadInput(
        "binary-plan",
        FLY,
        ("{d}/m.plan",),
        with_file("m.plan", bytes(range(256)) * 4),
    ),
    BadInput("nan-latitude", (*FLY, "--no-check"), ("m.plan", "latitude"), _edited(_nan_latitude)),
    BadInput(
        "null-longitude", (*FLY, "--no-check"), ("m.plan", "longitude"), _edited(_null_longitude)
    ),
    BadInput("plan-is-a-folder", FLY, ("{d}/m.plan",), lambda d: (d / "m.plan").mkdir()),
    BadInput(
        "connect-scheme", ("fly", "{d}/m.plan", "--connect", "http://x:1"), ("--connect",), _good
    ),
    BadInput(
        "connect-no-port",
        ("fly", "{d}/m.plan", "--connect", "udpin://127.0.0.1"),
        ("--connect",),
        _good,
    ),
    BadInput(
        "connect-port-range",
        ("fly", "{d}/m.plan", "--connect", "udpin://127.0.0.1:70000"),
        ("--connect", "70000"),
        _good,
    ),
    BadInput(
        "connect-udpin-hostname",
        ("fly", "{d}/m.plan", "--connect", "udpin://vehicle.local:14540"),
        ("--connect", "vehicle.local"),
        _good,
    ),
    BadInput(
        "connect-serial-baud",
        ("fly", "{d}/m.plan", "--connect", "serial:///dev/ttyACM0:fast"),
        ("--connect",),
        _good,
    ),
    BadInput("negative-timeout", (*FLY, "--timeout-s", "-1"), ("--timeout-s",), _good),
    BadInput("nan-link-loss", (*FLY, "--link-loss-s", "nan"), ("--link-loss-s",), _good),
    BadInput("min-battery-above-1", (*FLY, "--min-battery", "1.5"), ("--min-battery",), _good),
    BadInput("min-battery-negative", (*FLY, "--min-battery", "-0.1"), ("--min-battery",), _good),
    BadInput("no-dem", ("fly", "{d}/m.plan", *LINK), ("{d}/m.plan", "--dem"), _good),
    BadInput(
        "missing-dem", ("fly", "{d}/m.plan", *LINK, "--dem", "{d}/dem.tif"), ("{d}/dem.tif",), _good
    ),
    BadInput(
        "garbage-dem",
        ("fly", "{d}/m.plan", *LINK, "--dem", "{d}/dem.tif"),
        ("{d}/dem.tif",),
        with_file("dem.tif", b"II*\x00" + b"\xff" * 100, _good),
    ),
    BadInput(
        "missing-fence", (*FLY, "--fence", "{d}/fence.geojson"), ("{d}/fence.geojson",), _good
    ),
    BadInput(
        "fence-not-json",
        (*FLY, "--fence", "{d}/fence.geojson"),
        ("{d}/fence.geojson",),
        with_file("fence.geojson", '{"type": "Feat', _good),
    ),
    BadInput(
        "fence-inclusions-only-overlap",
        (*FLY, "--fence", "{d}/fence.geojson"),
        ("{d}/fence.geojson", "inclusion"),
        _overlapping_fences,
    ),
    BadInput(
        "fence-circle-negative-radius",
        (*FLY, "--no-check"),
        ("m.plan", "circles[0]", "radius"),
        _edited(_negative_circle),
    ),
    BadInput(
        "rally-nan-altitude",
        (*FLY, "--no-check"),
        ("m.plan", "rallyPoints.points[0]", "altitude"),
        _edited(_nan_rally_altitude),
    ),
    BadInput("drift-without-vision", ("fly", "{d}/drift.plan", *LINK), ("--vision-pose",), _drift),
    BadInput(
        "vision-pose-on-global-plan",
        (*FLY, "--vision-pose", "{d}/poses.tum"),
        ("{d}/m.plan", "--vision-pose"),
        with_file("poses.tum", GOOD_TUM, _good),
    ),
    BadInput("vision-pose-missing", DRIFT, ("{d}/poses.tum",), _drift),
    BadInput("vision-pose-empty", DRIFT, ("{d}/poses.tum",), _tum("")),
    BadInput(
        "vision-pose-truncated-line",
        DRIFT,
        ("{d}/poses.tum", "line 2"),
        _tum("0.0 0 0 2 0 0 0 1\n0.1 0.4 0 2 0 0\n"),
    ),
    BadInput(
        "vision-pose-nan",
        DRIFT,
        ("{d}/poses.tum", "line 3"),
        _tum(GOOD_TUM + "0.2 nan 0 2 0 0 0 1\n"),
    ),
    BadInput(
        "vision-pose-stamps-backwards",
        DRIFT,
        ("{d}/poses.tum", "line 3"),
        _tum(GOOD_TUM + "0.05 0 0 2 0 0 0 1\n"),
    ),
    BadInput(
        "vision-pose-zero-quaternion",
        DRIFT,
        ("{d}/poses.tum", "line 1", "quaternion"),
        _tum("0.0 0 0 2 0 0 0 0\n0.1 0 0 2 0 0 0 1\n"),
    ),
    BadInput(
        "vision-pose-binary",
        DRIFT,
        ("{d}/poses.tum",),
        _tum(b"\xff\xfe\x00" * 50),
    ),
    BadInput(
        "vision-udp-hostname",
        (
            "fly",
            "{d}/drift.plan",
            *LINK,
            "--vision-pose",
            "udp://slam.local:5000",
            "--no-terrain-check",
        ),
        ("--vision-pose", "udp://slam.local:5000"),
        _drift,
    ),
    BadInput(
        "vision-udp-port-range",
        (
            "fly",
            "{d}/drift.plan",
            *LINK,
            "--vision-pose",
            "udp://127.0.0.1:0",
            "--no-terrain-check",
        ),
        ("--vision-pose",),
        _drift,
    ),
    BadInput(
        "vision-udp-not-this-machine",
        (
            "fly",
            "{d}/drift.plan",
            *LINK,
            "--vision-pose",
            "udp://192.0.2.7:5000",
            "--no-terrain-check",
        ),
        ("--vision-pose", "cannot listen"),
        _drift,
    ),
    BadInput(
        "drift-with-fence",
        (*DRIFT, "--fence", "{d}/fence.geojson"),
        ("{d}/drift.plan", "--fence"),
        with_file("fence.geojson", '{"type": "Polygon", "coordinates": []}', _tum(GOOD_TUM)),
    ),
    BadInput(
        "vision-rate-too-low", (*DRIFT, "--vision-hz", "10"), ("--vision-hz",), _tum(GOOD_TUM)
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_fly_refuses_bad_input_before_connecting(case: BadInput, tmp_path: Path) -> None:
    started = time.monotonic()
    check_bad_input(case, tmp_path)
    assert time.monotonic() - started < 5.0  # no wait for a vehicle (--timeout-s 1 anyway)
