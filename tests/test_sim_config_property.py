"""Any drift or pit geometry in a ``--config`` is refused with a SimulatorError naming the
fields, or builds its scene (issue 17: a short drift ended in numpy's "high - low < 0",
an internal error). Scenes are built coarse (``res_m`` 0.5, ``grid_res_m`` 5) so the
examples stay cheap; the geometry rules do not depend on the resolution."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import apply_overrides, default_config
from simulator.errors import SimulatorError
from simulator.writer import build_scene

lengths_m = st.integers(3, 80).map(float)


@st.composite
def drift_geometry(draw: st.DrawFn) -> dict[str, Any]:
    """Legs and junction drawn relative to each other, so that both sides of every rule
    (junction before the bend, room after it, cross-cut length, U-turns) come up."""
    leg1_m = draw(lengths_m)
    return {
        "leg1_m": leg1_m,
        "leg2_m": draw(lengths_m),
        "junction_at_m": leg1_m * draw(st.integers(5, 100)) / 100.0,
        "branch_length_m": float(draw(st.integers(3, 40))),
        "bend_deg": float(draw(st.integers(-20, 170))),
        "bend_radius_m": draw(st.floats(0.0, 30.0)),
        "width_m": draw(st.floats(1.0, 8.0)),
        "wall_height_m": draw(st.floats(1.0, 6.0)),
        "grade": draw(st.floats(-0.2, 0.2)),
        "route": draw(st.sampled_from(["through", "revisit"])),
        "revisit_m": float(draw(st.integers(0, 40))),
        "fixtures": draw(st.booleans()),
        "fixed_lamps": draw(st.booleans()),
    }


pit_geometry = st.fixed_dictionaries(
    {
        "width_m": st.floats(50.0, 400.0),
        "length_m": st.floats(50.0, 400.0),
        "depth_m": st.floats(0.1, 400.0),
        "bench_height_m": st.floats(0.1, 100.0),
        "berm_width_m": st.floats(0.0, 60.0),
        "face_angle_deg": st.floats(1.0, 89.9),
        "ramp_width_m": st.floats(0.1, 100.0),
        "ramp_grade": st.floats(0.01, 0.49),
        "margin_m": st.floats(0.0, 120.0),
        "outline_noise": st.floats(0.0, 0.8),
        "gcp_count": st.integers(0, 20),
        "gcp_size_m": st.floats(0.05, 12.0),
    }
)


def refused_or_built(overrides: dict[str, Any]) -> None:
    """Refused naming a geometry field, or built into a scene with ground in it."""
    scene = "drift" if "drift" in overrides else "open-pit"
    try:
        config = apply_overrides(default_config(scene), overrides)
    except SimulatorError as err:
        assert "drift." in str(err) or "pit." in str(err), err
        return
    try:
        built = build_scene(config)
    except SimulatorError as err:  # (refused while building: still exit 2, named)
        pytest.fail(f"accepted, then refused while building: {err}")
    assert len(built.terrain.triangles) > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drift_geometry())
def test_any_drift_geometry_is_refused_or_builds(geometry: dict[str, Any]) -> None:
    refused_or_built({"drift": {**geometry, "res_m": 0.5, "wire_mesh": False}})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pit_geometry)
def test_any_pit_geometry_is_refused_or_builds(geometry: dict[str, Any]) -> None:
    refused_or_built({"pit": {**geometry, "grid_res_m": 5.0}})


def test_the_short_drift_of_the_report_is_refused_naming_its_fields() -> None:
    short = {"leg1_m": 20, "leg2_m": 15, "junction_at_m": 10, "branch_length_m": 8}
    with pytest.raises(SimulatorError) as caught:
        apply_overrides(default_config("drift"), {"drift": short})
    for field in ("drift.junction_at_m", "drift.leg2_m", "drift.branch_length_m"):
        assert field in str(caught.value)
