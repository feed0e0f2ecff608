"""The drone_missions errors: bad input (area, camera, DEM, plan) as one clear line."""

from __future__ import annotations

from smartmine.errors import SmartmineError


class PlanError(SmartmineError):
    """A mission file cannot be read or written; the message names the file and item."""


class MissionError(PlanError):
    """Planning, checking, exporting or flying cannot proceed; the message says why."""
