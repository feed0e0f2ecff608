"""Error classes of the core.

Every error a user can cause (bad file, unknown topic, unsupported encoding) is a
``SmartmineError``: the command line prints its message as one line and exits non-zero.
The message must name the file, topic or field at fault.
"""

from __future__ import annotations


class SmartmineError(Exception):
    """Base of all errors caused by input, configuration or environment."""


class BagError(SmartmineError):
    """A bag is missing, truncated, corrupted, or lacks what was asked of it."""


class BagCorruptedError(BagError):
    """The bag's bytes cannot be read past some point (truncated, overwritten): what lies
    before it may still be read."""


class UndecodableMessageError(BagError):
    """A message's bytes do not decode as its topic's type (the rest of the bag reads)."""


class ConversionError(SmartmineError):
    """A message cannot be converted to or from numpy (bad field, unsupported encoding)."""


class GeodesyError(SmartmineError):
    """A coordinate reference system or transform is invalid or cannot be fitted."""
