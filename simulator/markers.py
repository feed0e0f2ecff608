"""Survey control markers: flat ArUco targets on a white plate, with known corners.

A marker is a square plate (two triangles of zone ``marker`` in the scene mesh) whose
texture is the ArUco bit pattern, looked up per rendered point. Its corners are listed
in OpenCV's ArUco order (top-left, top-right, bottom-right, bottom-left of the marker
as generated), so a detection can be compared corner by corner with the ground truth.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from simulator.compiled import jit
from simulator.mesh import MARKER_ZONE, Mesh

F64Array = npt.NDArray[np.float64]

ARUCO_DICTIONARY: Final = "DICT_4X4_50"
WHITE: Final = 0.85
"""Reflectance of the plate's white (matte paint)."""
BLACK: Final = 0.04


@functools.cache
def aruco_bits(dictionary: str, marker_id: int) -> npt.NDArray[np.bool_]:
    """(cells, cells) True where the marker (with its 1-cell black border) is white."""
    import cv2

    aruco_dict = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    cells = int(aruco_dict.markerSize) + 2
    image = cv2.aruco.generateImageMarker(aruco_dict, marker_id, cells, borderBits=1)
    bits = np.asarray(image) > 127
    bits.setflags(write=False)
    return bits


@jit
def _pattern_kernel(
    along_right: F64Array,
    along_down: F64Array,
    size_m: float,
    bits: npt.NDArray[np.bool_],
    out: F64Array,
) -> None:
    """Reflectance from the points' offsets along the marker's right and down axes:
    the cell of the bit pattern inside the square, white plate around it."""
    cells = bits.shape[0]
    for n in range(along_right.shape[0]):
        x = (along_right[n] + size_m / 2.0) / size_m * cells
        y = (along_down[n] + size_m / 2.0) / size_m * cells
        if x >= 0 and x < cells and y >= 0 and y < cells:
            ix = min(max(np.int64(np.floor(x)), 0), cells - 1)
            iy = min(max(np.int64(np.floor(y)), 0), cells - 1)
            out[n] = WHITE if bits[iy, ix] else BLACK
        else:
            out[n] = WHITE


@jit
def _region_kernel(
    along_right: F64Array,
    along_down: F64Array,
    size_m: float,
    cells: int,
    out: npt.NDArray[np.int64],
) -> None:
    """The convex region of the plate each point lies in: a cell of the bit pattern, or
    a piece of the white border (the pattern's grid extended by one row and column on
    every side, clipped by the plate), numbered row-major over (cells + 2)²."""
    for n in range(along_right.shape[0]):
        x = (along_right[n] + size_m / 2.0) / size_m * cells
        y = (along_down[n] + size_m / 2.0) / size_m * cells
        ix = min(max(int(np.floor(x)), -1), cells) + 1
        iy = min(max(int(np.floor(y)), -1), cells) + 1
        out[n] = iy * (cells + 2) + ix


@dataclass(frozen=True, eq=False)
class Marker:
    """One ArUco target: ``size_m`` is the black square's side, ``plate_m`` the plate's."""

    marker_id: int
    size_m: float
    plate_m: float
    centre: F64Array
    right: F64Array
    """Unit vector along the marker image's +x (left to right)."""
    down: F64Array
    """Unit vector along the marker image's +y (top to bottom)."""
    dictionary: str = ARUCO_DICTIONARY

    @staticmethod
    def facing(
        marker_id: int,
        size_m: float,
        plate_m: float,
        centre: npt.ArrayLike,
        normal: npt.ArrayLike,
        up_hint: npt.ArrayLike,
    ) -> Marker:
        """A marker at ``centre`` whose face looks along ``normal``, image top toward
        ``up_hint`` (made orthogonal to the normal)."""
        n = np.asarray(normal, dtype=np.float64)
        n = n / np.linalg.norm(n)
        up = np.asarray(up_hint, dtype=np.float64)
        up = up - n * (up @ n)
        up = up / np.linalg.norm(up)
        down = -up
        right = np.asarray(np.cross(n, down), dtype=np.float64)
        return Marker(marker_id, size_m, plate_m, np.asarray(centre, np.float64), right, down)

    @property
    def normal(self) -> F64Array:
        """Unit normal on the printed side (toward a viewer who can read it)."""
        return np.asarray(np.cross(self.down, self.right), dtype=np.float64)

    def corners(self) -> F64Array:
        """(4, 3) corners of the black square: TL, TR, BR, BL (OpenCV ArUco order)."""
        h = self.size_m / 2.0
        r, d, c = self.right * h, self.down * h, self.centre
        return np.stack([c - r - d, c + r - d, c + r + d, c - r + d])

    def mesh(self) -> Mesh:
        """The plate: two triangles, zone ``marker``, normal toward the viewer."""
        h = self.plate_m / 2.0
        r, d, c = self.right * h, self.down * h, self.centre
        verts = np.stack([c - r - d, c + r - d, c + r + d, c - r + d])
        # counter-clockwise seen from the front (normal = down x right)
        tris = np.array([[0, 3, 2], [0, 2, 1]], dtype=np.int32)
        return Mesh(verts, tris, np.full(2, MARKER_ZONE, dtype=np.uint8))

    def reflectance(self, points: F64Array) -> F64Array:
        """Reflectance at points on the plate: the bit pattern inside the square, white
        plate around it."""
        bits = aruco_bits(self.dictionary, self.marker_id)
        rel = points - self.centre
        out = np.empty(len(points))
        _pattern_kernel(rel @ self.right, rel @ self.down, self.size_m, bits, out)
        return out

    def regions(self, points: F64Array) -> npt.NDArray[np.int64]:
        """The convex piece of the plate of uniform reflectance each point (on the plate)
        lies in: a bit cell or a piece of the white border. Points in one region share
        their reflectance, and so does everything between them (each region is convex)."""
        cells = aruco_bits(self.dictionary, self.marker_id).shape[0]
        rel = points - self.centre
        out = np.empty(len(points), dtype=np.int64)
        _region_kernel(rel @ self.right, rel @ self.down, self.size_m, cells, out)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.marker_id,
            "dictionary": self.dictionary,
            "size_m": self.size_m,
            "plate_m": self.plate_m,
            "centre_enu_m": [float(v) for v in self.centre],
            "normal_enu": [float(v) for v in self.normal],
        }
