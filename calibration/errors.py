"""The error of the calibration package.

Every failure a user can cause (no board in the images, too few views, images of
different sizes, a malformed calibration file) is a ``CalibrationError``: the command
line prints it as one line and exits with code 2. Messages name the files or topic at
fault and say what to do.
"""

from __future__ import annotations

from smartmine.errors import SmartmineError


class CalibrationError(SmartmineError):
    """Calibration input, board, or result is unusable; the message says what to do."""
