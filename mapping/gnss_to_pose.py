"""``gnss_to_pose``: GNSS fixes as poses in a metric frame (UTM or local ENU).

Downstream mapping, missions and the twin work in metres, not degrees. Each valid
NavSatFix becomes a PoseStamped (and a TF from the map frame to the antenna frame) in
either UTM (zone from the first fix or given; Kazakhstan spans 38N–45N,
EPSG:32638–32645) or a local ENU plane at a given or the first fix. The frame's CRS is
stated once on a latched String topic (``EPSG:32644``, or the ENU origin), because a
pose message has no field for it. Heights stay ellipsoidal (WGS84), as NavSatFix gives
them. GNSS gives no attitude: the orientation is identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from smartmine.errors import SmartmineError
from smartmine.geodesy import LocalEnu, utm_epsg, utm_zone, wgs84_to_utm
from smartmine.geometry import make_transform
from smartmine.msgs import (
    StampedTransform,
    header_frame_id,
    header_stamp_ns,
    matrix_to_pose_stamped,
    navsatfix_to_geofix,
    transforms_to_tf_message,
)
from smartmine.processor import Output, Port, Processor, ProcessorError, param, register_processor

STATUS_NO_FIX = -1


@dataclass
class GnssToPoseParams:
    frame: Literal["utm", "enu"] = param("utm", "metric frame of the poses")
    utm_zone: int = param(0, "UTM zone; 0 = from the first fix's longitude", range=(0, 60))
    utm_south: bool = param(False, "southern-hemisphere UTM (with a given utm_zone)")
    enu_origin: list[float] = param(
        [], "ENU origin [lat_deg, lon_deg, alt_m] (WGS84); empty = the first valid fix"
    )
    map_frame_id: str = param("map", "frame_id of the poses and parent of the TF")
    child_frame_id: str = param("", "TF child frame; empty = the fix's header frame_id")
    publish_tf: bool = param(True, "also publish the map -> child transform on /tf")
    min_status: int = param(0, "drop fixes whose NavSatStatus.status is below this", range=(-1, 2))


@register_processor
class GnssToPose(Processor[GnssToPoseParams]):
    name = "gnss_to_pose"
    description = "NavSatFix -> PoseStamped + TF in UTM or local ENU, CRS stated"
    inputs = (Port("fix", "/gnss/fix", "sensor_msgs/msg/NavSatFix", "sensor", "GNSS fixes"),)
    outputs = (
        Port("pose", "/gnss/pose", "geometry_msgs/msg/PoseStamped", "reliable"),
        Port("tf", "/tf", "tf2_msgs/msg/TFMessage", "reliable"),
        Port("crs", "/gnss/crs", "std_msgs/msg/String", "latched", "CRS of the pose frame"),
    )
    Params = GnssToPoseParams

    def __init__(self, params: GnssToPoseParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        origin = self.params.enu_origin
        if origin and len(origin) != 3:
            raise ProcessorError(
                f"gnss_to_pose: parameter 'enu_origin' wants [lat_deg, lon_deg, alt_m], "
                f"got {origin}"
            )
        try:
            self.enu: LocalEnu | None = LocalEnu(*map(float, origin)) if origin else None
        except (ValueError, TypeError, SmartmineError) as err:
            raise ProcessorError(
                f"gnss_to_pose: parameter 'enu_origin' = {origin}: {err}"
            ) from None
        self.epsg: int | None = (
            utm_epsg(self.params.utm_zone, not self.params.utm_south)
            if self.params.utm_zone
            else None
        )
        self.crs_sent = False
        self.dropped_no_fix = 0

    def crs_text(self) -> str:
        """What the pose frame is, e.g. ``EPSG:32644`` or the ENU origin."""
        if self.params.frame == "utm":
            return f"EPSG:{self.epsg}"
        assert self.enu is not None
        return (
            f"ENU lat_deg={self.enu.lat_deg!r} lon_deg={self.enu.lon_deg!r} "
            f"alt_m={self.enu.alt_m!r} (WGS84 ellipsoidal, EPSG:4979)"
        )

    def to_metric(self, lat: float, lon: float, alt: float) -> tuple[float, float, float]:
        if self.params.frame == "utm":
            if self.epsg is None:
                self.epsg = utm_epsg(utm_zone(lon, lat), lat >= 0)
            zone, north = self.epsg % 100, self.epsg // 100 == 326
            e, n, _ = wgs84_to_utm(lat, lon, zone=zone, north=north)
            return float(e), float(n), alt
        if self.enu is None:
            self.enu = LocalEnu(lat, lon, alt)
        e, n, u = self.enu.from_wgs84(lat, lon, alt)
        return float(e), float(n), float(u)

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        fix = navsatfix_to_geofix(message)
        if fix.status < self.params.min_status or fix.status == STATUS_NO_FIX:
            self.dropped_no_fix += 1
            return []
        for name, value in (("latitude", fix.latitude_deg), ("longitude", fix.longitude_deg)):
            if not math.isfinite(value):
                raise ProcessorError(f"NavSatFix.{name} is {value} with status {fix.status}")
        alt = fix.altitude_m if math.isfinite(fix.altitude_m) else 0.0
        if abs(fix.latitude_deg) > 90:
            raise ProcessorError(f"NavSatFix.latitude {fix.latitude_deg} is outside [-90, 90]")
        position = self.to_metric(fix.latitude_deg, fix.longitude_deg, alt)
        pose = make_transform(np.eye(3), position)
        stamp = header_stamp_ns(message)
        out: list[Output] = []
        if not self.crs_sent:
            out.append(Output("crs", self.factory("std_msgs/msg/String", data=self.crs_text())))
            self.crs_sent = True
        map_frame = self.params.map_frame_id
        out.append(Output("pose", matrix_to_pose_stamped(pose, stamp, map_frame, self.factory)))
        if self.params.publish_tf:
            child = self.params.child_frame_id or header_frame_id(message) or "gnss_link"
            tf = StampedTransform(stamp, map_frame, child, matrix=pose)
            out.append(Output("tf", transforms_to_tf_message([tf], self.factory)))
        return out
