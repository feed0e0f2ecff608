"""`smartmine sim drift --rate R` without --frames covers the whole route (issue 19)."""

from __future__ import annotations

import math

import pytest

from simulator.commands import _coverage_line
from simulator.config import apply_overrides, default_config, validate
from simulator.errors import SimulatorError
from simulator.simulation import frame_times_s, route_coverage, route_frames


def test_route_frames_reach_the_end_of_the_route() -> None:
    """The through route (132.13 s at 0.8 m/s) at 5 Hz: 661 frames, the last one less
    than a frame period before the end; one fewer stops short of it."""
    duration_s = 132.13298947401495
    frames = route_frames(duration_s, 5.0)
    assert frames == 661
    config = apply_overrides(
        default_config("drift"), {"frames": frames, "camera": {"rate_hz": 5.0}}
    )
    last = float(frame_times_s(config, duration_s)[-1])
    assert duration_s - 0.2 < last <= duration_s
    assert route_coverage(frames, 5.0, duration_s) > 0.998
    assert route_coverage(120, 5.0, duration_s) == pytest.approx(119 / 5.0 / duration_s)
    assert route_frames(10.0, 2.0) == 20 and route_frames(10.01, 2.0) == 21


def test_the_cli_says_how_much_of_the_route_the_frames_cover() -> None:
    info = {"duration_s": 132.13, "length_m": 104.1}
    assert "whole route" in _coverage_line(661, 5.0, info)
    line = _coverage_line(120, 5.0, info)
    assert "18%" in line and "--frames" in line
    assert "whole route" in _coverage_line(120, 0.0, info)  # spread over the route


def test_zero_frames_means_the_whole_route_and_needs_a_rate() -> None:
    validate(apply_overrides(default_config("drift"), {"frames": 0, "camera": {"rate_hz": 5.0}}))
    with pytest.raises(SimulatorError, match="whole route"):
        validate(
            apply_overrides(default_config("drift"), {"frames": 0, "camera": {"rate_hz": 0.0}})
        )
    assert math.isfinite(route_coverage(1, 5.0, 0.0))
