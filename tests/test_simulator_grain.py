"""Rock grain of the drift walls: bounded albedo contrast at cm scale, on by default."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config import apply_overrides, default_config
from simulator.errors import SimulatorError
from simulator.rock_grain import grain_factor


def test_grain_is_bounded_and_varies_at_centimetres() -> None:
    x = np.arange(0, 2.0, 0.005)
    points = np.column_stack([x, np.zeros_like(x), np.zeros_like(x)])
    factor = grain_factor(points, texture_seed=3, contrast=0.5)
    assert factor.min() >= 0.5 and factor.max() <= 1.5
    assert abs(float(factor.mean()) - 1.0) < 0.15
    # neighbours 1 cm apart differ (texture at the scale cameras resolve on a wall)
    step = np.abs(np.diff(factor[::2]))
    assert float(np.median(step)) > 0.02
    assert np.array_equal(factor, grain_factor(points, texture_seed=3, contrast=0.5))


def test_grain_is_on_by_default_and_checked() -> None:
    assert default_config("drift").drift.grain_contrast == 0.8
    on = apply_overrides(default_config("drift"), {"drift": {"grain_contrast": 0.5}})
    assert on.drift.grain_contrast == 0.5
    with pytest.raises(SimulatorError, match="grain_contrast"):
        apply_overrides(default_config("drift"), {"drift": {"grain_contrast": 1.5}})
