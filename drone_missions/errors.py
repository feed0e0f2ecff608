"""The drone_missions error: bad input (area, camera, DEM, plan) as one clear line."""

from __future__ import annotations

from drone_missions.plan import PlanError


class MissionError(PlanError):
    """Planning, checking, exporting or flying cannot proceed; the message says why."""
