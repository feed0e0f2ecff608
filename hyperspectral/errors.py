"""Errors of the hyperspectral package: each names the file, field or band at fault."""

from __future__ import annotations

from smartmine.errors import SmartmineError


class HyperspectralError(SmartmineError):
    """A cube, library, reference or model is missing, malformed or inconsistent."""
