"""Errors of the SLAM and trajectory tools."""

from __future__ import annotations

from smartmine.errors import SmartmineError


class SlamError(SmartmineError):
    """Bad input to SLAM (bag without colour or depth, bad markers file, bad option)."""


class TrajectoryError(SmartmineError):
    """A trajectory file cannot be read, or two trajectories cannot be compared."""
