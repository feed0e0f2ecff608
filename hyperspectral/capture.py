"""Hyperspectral camera drivers behind one small interface.

A driver yields frames (snapshot cameras: ``(lines, samples, bands)``) or lines
(push-broom cameras: ``(samples, bands)``) on demand, and states its band centres.
:class:`PlaybackDriver` streams ENVI cubes from files (one cube after another, or line by
line for push-broom playback); it is what tests and bag-less demos use.

**Vendor SDK drivers** (Specim, Headwall, Resonon, Cubert, ...) go here: a class with the
:class:`HsiDriver` methods wrapping the vendor SDK (open the camera in ``__init__``,
trigger one exposure per ``next_frame``/``next_line``, return float32 radiance or DN,
``close`` the device), registered under a name through the ``smartmine.hsi_drivers``
entry-point group (``name = "package.module:Class"``) so ``hsi_capture`` finds it with
``driver:=name`` without this package importing any SDK.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from hyperspectral.cube import Cube, open_cube
from hyperspectral.errors import HyperspectralError

F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]


class HsiDriver(Protocol):
    """What ``hsi_capture`` needs of a camera."""

    @property
    def wavelengths_nm(self) -> F64Array: ...

    def next_frame(self) -> F32Array | None:
        """The next (lines, samples, bands) frame, or None when the source is exhausted."""

    def next_line(self) -> F32Array | None:
        """The next (samples, bands) push-broom line, or None when exhausted."""

    def close(self) -> None: ...


class PlaybackDriver:
    """Streams ENVI cubes from a file or a folder of ``*.hdr`` (sorted), frame by frame or
    line by line; ``loop`` starts again at the end."""

    def __init__(self, source: str | Path, loop: bool = False) -> None:
        path = Path(source)
        files = sorted(path.glob("*.hdr")) if path.is_dir() else [path]
        if not files:
            raise HyperspectralError(f"{path}: no ENVI cubes (*.hdr) to play back")
        self.cubes: list[Cube] = [open_cube(f) for f in files]
        first = self.cubes[0]
        self._wavelengths = first.require_wavelengths()
        for cube in self.cubes[1:]:
            if cube.shape[1:] != first.shape[1:]:
                raise HyperspectralError(
                    f"{cube.source}: {cube.shape[1:]} samples x bands, the first cube "
                    f"{first.shape[1:]}"
                )
        self.loop = loop
        self._cube = 0
        self._line = 0

    @property
    def wavelengths_nm(self) -> F64Array:
        return self._wavelengths

    def _advance(self) -> bool:
        self._cube += 1
        self._line = 0
        if self._cube >= len(self.cubes):
            if not self.loop:
                return False
            self._cube = 0
        return True

    def next_frame(self) -> F32Array | None:
        if self._cube >= len(self.cubes):
            return None
        frame = self.cubes[self._cube].read()
        if not self._advance():
            self._cube = len(self.cubes)
        return frame

    def next_line(self) -> F32Array | None:
        while self._cube < len(self.cubes):
            cube = self.cubes[self._cube]
            if self._line < cube.shape[0]:
                line = np.array(cube.data[self._line], dtype=np.float32)
                self._line += 1
                return line
            if not self._advance():
                self._cube = len(self.cubes)
        return None

    def close(self) -> None:
        self.cubes = []


def make_driver(name: str, **options: Any) -> HsiDriver:
    """A driver by name: ``playback`` or one registered under ``smartmine.hsi_drivers``."""
    if name == "playback":
        return PlaybackDriver(**options)
    for ep in entry_points(group="smartmine.hsi_drivers"):
        if ep.name == name:
            driver: HsiDriver = ep.load()(**options)
            return driver
    raise HyperspectralError(f"no hyperspectral camera driver {name!r} (have: playback)")
