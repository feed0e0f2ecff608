"""Ground control points in OpenDroneMap's ``gcp_list.txt`` format.

First line: the CRS (``EPSG:4326`` with lon lat alt order, ``EPSG:326zz``, ``WGS84 UTM 17N``
or a ``+proj=utm`` string); then one observation a line:
``geo_x geo_y geo_z pixel_x pixel_y image_name [gcp_name]``. Observations of the same
coordinates (or the same name) are one GCP. Coordinates are converted to the project's
UTM CRS through :mod:`smartmine.geodesy`.

Two marks ODM's format has no column for (issue 19):
- a height of ``nan``, ``-`` or ``none``: the point has no usable height and constrains
  only horizontally;
- a name starting or ending with ``CHK`` (any case, e.g. ``CHK_07``, ``p7_chk``): a check
  point, held out of the georeferencing and reported separately. The config fields
  ``gcp_checkpoints`` / ``gcp_horizontal_only`` mark points by name as well.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mapping.sfm.errors import SfmError
from smartmine.errors import GeodesyError
from smartmine.geodesy import describe_crs, utm_epsg, utm_to_wgs84, utm_zone, wgs84_to_utm


@dataclass
class GcpObservation:
    image: str
    pixel_xy: tuple[float, float]
    """Pixel position in the original image (ODM: origin at the top-left pixel's corner)."""


@dataclass
class Gcp:
    name: str
    xyz: tuple[float, float, float]
    """Coordinates in the file's CRS."""
    observations: list[GcpObservation] = field(default_factory=list)
    checkpoint: bool = False
    """Held out of the fit: a check point (name with CHK, or ``gcp_checkpoints``)."""
    horizontal_only: bool = False
    """No usable height (none in the file, or a flagged datum): constrains east/north only."""

    @property
    def has_height(self) -> bool:
        return math.isfinite(self.xyz[2]) and not self.horizontal_only


_NO_HEIGHT = {"nan", "-", "none", "na", "n/a"}


def is_checkpoint_name(name: str) -> bool:
    """``CHK`` at the start or the end of the name (any case) marks a check point."""
    upper = name.upper()
    return upper.startswith("CHK") or upper.endswith("CHK")


@dataclass
class GcpFile:
    path: Path
    crs_text: str
    epsg: int
    gcps: list[Gcp]
    skipped: list[str] = field(default_factory=list)
    """Lines or observations left out, each with its reason."""

    def utm(self, target_epsg: int) -> dict[str, np.ndarray]:
        """Each GCP's easting, northing, height in ``target_epsg`` (a WGS84 UTM code)."""
        out: dict[str, np.ndarray] = {}
        zone, north = target_epsg % 100, target_epsg // 100 == 326
        for gcp in self.gcps:
            x, y, z = gcp.xyz
            if self.epsg in (4326, 4979):
                lat, lon = y, x
            elif self.epsg == target_epsg:
                out[gcp.name] = np.array([x, y, z])
                continue
            else:
                lat_a, lon_a = utm_to_wgs84(x, y, self.epsg)
                lat, lon = float(lat_a), float(lon_a)
            e, n, _ = wgs84_to_utm(lat, lon, zone=zone, north=north)
            out[gcp.name] = np.array([float(e), float(n), z])
        return out

    def mark(self, checkpoints: Collection[str], horizontal_only: Collection[str]) -> None:
        """Mark GCPs by name (config ``gcp_checkpoints`` / ``gcp_horizontal_only``); a
        name the file does not have is an error naming it."""
        names = {g.name for g in self.gcps}
        for field_name, wanted in (
            ("gcp_checkpoints", checkpoints),
            ("gcp_horizontal_only", horizontal_only),
        ):
            unknown = sorted(set(wanted) - names)
            if unknown:
                raise SfmError(
                    f"{self.path}: {field_name} names {', '.join(unknown)}, not in the file "
                    f"(GCPs: {', '.join(sorted(names))})"
                )
        for gcp in self.gcps:
            gcp.checkpoint = gcp.checkpoint or gcp.name in checkpoints
            gcp.horizontal_only = gcp.horizontal_only or gcp.name in horizontal_only

    def suggested_epsg(self) -> int:
        """The UTM zone of the GCPs (for ``--crs auto`` without GPS)."""
        if self.epsg in (4326, 4979):
            x, y, _ = self.gcps[0].xyz
            try:
                return utm_epsg(utm_zone(x, y), y >= 0)
            except GeodesyError as err:
                raise SfmError(f"{self.path}: GCP {self.gcps[0].name!r}: {err}") from None
        return self.epsg


_UTM_TEXT = re.compile(r"^WGS\s*84\s+UTM\s+(\d{1,2})\s*([NS])$", re.IGNORECASE)
_PROJ_UTM = re.compile(r"\+proj=utm\b.*?\+zone=(\d{1,2})", re.IGNORECASE)


def parse_crs_header(text: str, where: str) -> int:
    """EPSG code of an ODM CRS header; an error naming the file for anything else."""
    line = text.strip()
    match = _UTM_TEXT.match(line)
    proj = _PROJ_UTM.search(line)
    try:
        if match:
            return utm_epsg(int(match.group(1)), match.group(2).upper() == "N")
        if proj and ("+datum=WGS84" in line.replace(" ", "") or "+ellps=WGS84" in line):
            return utm_epsg(int(proj.group(1)), "+south" not in line)
    except GeodesyError as err:
        raise SfmError(f"{where}: CRS {line!r} on the first line: {err}") from None
    if line.upper().startswith("EPSG:"):
        try:
            code = int(line.split(":", 1)[1])
            describe_crs(code)
        except (ValueError, GeodesyError, OverflowError):
            raise SfmError(f"{where}: unknown CRS {line!r} on the first line") from None
        if code in (4326, 4979) or 32601 <= code <= 32660 or 32701 <= code <= 32760:
            return code
        raise SfmError(
            f"{where}: CRS {line} ({describe_crs(code)}) is not supported for GCPs; "
            "give WGS84 (EPSG:4326) or WGS84 / UTM coordinates"
        )
    raise SfmError(
        f"{where}: unknown CRS {line!r} on the first line (expected EPSG:xxxx, "
        "'WGS84 UTM 17N' or a +proj=utm string)"
    )


def _check_gcp_values(epsg: int, values: tuple[float, ...], where: str) -> None:
    """Finite numbers, coordinates inside the CRS's range, pixels not negative."""
    x, y, z, px, py = values
    if not all(math.isfinite(v) for i, v in enumerate(values) if i != 2):
        raise SfmError(f"{where}: NaN or infinite value (x y z pixel_x pixel_y: {values})")
    if epsg in (4326, 4979):
        if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):
            raise SfmError(
                f"{where}: {x} {y} is not a longitude latitude (EPSG:{epsg} is lon lat alt)"
            )
    elif not (100_000.0 <= x <= 900_000.0 and 0.0 <= y <= 10_000_000.0):
        raise SfmError(f"{where}: {x} {y} is not a UTM easting northing of EPSG:{epsg}")
    if math.isfinite(z) and abs(z) > 20_000.0:
        raise SfmError(f"{where}: height {z} m is not on Earth")
    if px < 0 or py < 0:
        raise SfmError(f"{where}: pixel {px} {py} is negative")


def read_gcp_file(path: Path, images: Collection[str] | None = None) -> GcpFile:
    """Parse ``gcp_list.txt``; observations of images not in ``images`` are skipped and
    listed (never fatal); a file with no usable GCP is an error."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as err:
        raise SfmError(f"{path}: cannot read GCP file ({err.strerror})") from None
    except UnicodeDecodeError:
        raise SfmError(f"{path}: not a text GCP file (binary, or not UTF-8)") from None
    lines = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise SfmError(f"{path}: empty GCP file")
    epsg = parse_crs_header(lines[0], str(path))
    by_key: dict[str, Gcp] = {}
    skipped: list[str] = []
    known = set(images) if images is not None else None
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split()
        if len(parts) < 6:
            raise SfmError(
                f"{path}:{number}: expected 'x y z pixel_x pixel_y image [name]', got {line!r}"
            )
        try:
            no_height = parts[2].lower() in _NO_HEIGHT
            x, y, px, py = (float(parts[i]) for i in (0, 1, 3, 4))
            z = math.nan if no_height else float(parts[2])
        except ValueError:
            raise SfmError(f"{path}:{number}: non-numeric coordinate in {line!r}") from None
        if not (no_height or math.isfinite(z)):
            raise SfmError(f"{path}:{number}: height {parts[2]!r} (write nan or - for none)")
        _check_gcp_values(epsg, (x, y, z, px, py), f"{path}:{number}")
        image = parts[5]
        name = parts[6] if len(parts) > 6 else f"{x:.3f}_{y:.3f}_{z:.3f}"
        known_gcp = by_key.get(name)
        if known_gcp is not None and not np.allclose(
            known_gcp.xyz, (x, y, z), atol=1e-6, equal_nan=True
        ):
            raise SfmError(
                f"{path}:{number}: GCP {name!r} at {x} {y} {z}, an earlier line put it at "
                f"{' '.join(str(v) for v in known_gcp.xyz)}"
            )
        if known is not None and image not in known:
            skipped.append(f"line {number}: image {image!r} is not among the input images")
            continue
        gcp = by_key.setdefault(
            name, Gcp(name=name, xyz=(x, y, z), checkpoint=is_checkpoint_name(name))
        )
        gcp.observations.append(GcpObservation(image=image, pixel_xy=(px, py)))
    if not by_key:
        raise SfmError(
            f"{path}: no GCP observation names an input image"
            + (f" ({skipped[0]})" if skipped else "")
        )
    return GcpFile(
        path=path, crs_text=lines[0].strip(), epsg=epsg, gcps=list(by_key.values()), skipped=skipped
    )
