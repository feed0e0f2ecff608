"""``sensor_msgs/NavSatFix`` <-> :class:`GeoFix`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartmine.msgs._util import (
    F64Array,
    dataclass_eq,
    flat_f64,
    float_array,
    get_field,
    get_float,
    get_int,
    matrix_arg,
    resolve_factory,
)
from smartmine.msgs.factory import MessageFactory
from smartmine.msgs.stamp import header_frame_id, header_stamp_ns, make_header

# NavSatFix.position_covariance_type
COVARIANCE_TYPE_UNKNOWN = 0
COVARIANCE_TYPE_APPROXIMATED = 1
COVARIANCE_TYPE_DIAGONAL_KNOWN = 2
COVARIANCE_TYPE_KNOWN = 3
# NavSatStatus.status
STATUS_NO_FIX = -1
STATUS_FIX = 0
STATUS_SBAS_FIX = 1
STATUS_GBAS_FIX = 2
# NavSatStatus.service (bit mask)
SERVICE_GPS = 1
SERVICE_GLONASS = 2
SERVICE_COMPASS = 4
SERVICE_GALILEO = 8


@dataclass(eq=False)
class GeoFix:
    """One GNSS fix (WGS84 degrees, metres above the ellipsoid), as in NavSatFix.

    ``position_covariance`` is 3x3 in m² (ENU), ``covariance_type`` one of the
    COVARIANCE_TYPE_* constants, ``status`` STATUS_*, ``service`` SERVICE_* bits.
    """

    stamp_ns: int
    latitude_deg: float
    longitude_deg: float
    altitude_m: float
    position_covariance: F64Array = field(default_factory=lambda: np.zeros((3, 3)))
    covariance_type: int = COVARIANCE_TYPE_UNKNOWN
    status: int = STATUS_FIX
    service: int = SERVICE_GPS
    frame_id: str = ""

    def __post_init__(self) -> None:
        self.position_covariance = matrix_arg(
            self.position_covariance, "GeoFix.position_covariance", (3, 3)
        )

    def __eq__(self, other: object) -> bool:
        return dataclass_eq(self, other)

    __hash__ = None  # type: ignore[assignment]


def navsatfix_to_geofix(msg: Any) -> GeoFix:
    """The fix of a NavSatFix message."""
    status = get_field(msg, "NavSatFix", "status")
    return GeoFix(
        stamp_ns=header_stamp_ns(msg),
        latitude_deg=get_float(msg, "NavSatFix", "latitude"),
        longitude_deg=get_float(msg, "NavSatFix", "longitude"),
        altitude_m=get_float(msg, "NavSatFix", "altitude"),
        position_covariance=float_array(
            get_field(msg, "NavSatFix", "position_covariance"),
            "NavSatFix.position_covariance",
            9,
        ).reshape(3, 3),
        covariance_type=get_int(msg, "NavSatFix", "position_covariance_type"),
        status=get_int(status, "NavSatStatus", "status"),
        service=get_int(status, "NavSatStatus", "service"),
        frame_id=header_frame_id(msg),
    )


def geofix_to_navsatfix(fix: GeoFix, factory: MessageFactory | None = None) -> Any:
    """A ``sensor_msgs/msg/NavSatFix`` of ``fix``."""
    factory = resolve_factory(factory)
    return factory(
        "sensor_msgs/msg/NavSatFix",
        header=make_header(fix.stamp_ns, fix.frame_id, factory),
        status=factory(
            "sensor_msgs/msg/NavSatStatus", status=int(fix.status), service=int(fix.service)
        ),
        latitude=float(fix.latitude_deg),
        longitude=float(fix.longitude_deg),
        altitude=float(fix.altitude_m),
        position_covariance=flat_f64(fix.position_covariance),
        position_covariance_type=int(fix.covariance_type),
    )
