"""QoS of the processor port kinds, as data (no rclpy); the adapter builds the profiles.

========  ==========================================  ====================================
kind      rclpy profile                               use
========  ==========================================  ====================================
sensor    ``rclpy.qos.qos_profile_sensor_data``       camera, GNSS, IMU streams: best
          (best effort, volatile, keep last 5)        effort, never block the driver
reliable  reliable, volatile, keep last 10            poses, TF, results
latched   reliable, transient local, keep last 1      CRS, maps: late joiners get the last
========  ==========================================  ====================================
"""

from __future__ import annotations

from typing import Final, NamedTuple


class QosSpec(NamedTuple):
    reliability: str  # rclpy.qos.ReliabilityPolicy member name
    durability: str  # rclpy.qos.DurabilityPolicy member name
    depth: int
    preset: str | None  # name of an rclpy.qos preset profile to use as it is


QOS: Final[dict[str, QosSpec]] = {
    "sensor": QosSpec("BEST_EFFORT", "VOLATILE", 5, "qos_profile_sensor_data"),
    "reliable": QosSpec("RELIABLE", "VOLATILE", 10, None),
    "latched": QosSpec("RELIABLE", "TRANSIENT_LOCAL", 1, None),
}
