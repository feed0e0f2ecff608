"""Errors of the photogrammetry pipeline (bad input folder, bag, GCP file, calibration)."""

from __future__ import annotations

from smartmine.errors import SmartmineError


class SfmError(SmartmineError):
    """The input cannot be used (no images, unreadable GCP file, unknown CRS...)."""
