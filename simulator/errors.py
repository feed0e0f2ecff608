"""The simulator's error: bad input (plan, frame count, configuration) as one clear line."""

from __future__ import annotations

from smartmine.errors import SmartmineError


class SimulatorError(SmartmineError):
    """A simulation cannot run as asked: bad plan, bad parameter, output in the way."""
