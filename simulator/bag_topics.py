"""The bag, topic by topic: one writer step per topic group, merged in time order.

- :func:`write_latched` — ``/tf_static`` and ``/hyperspectral/wavelengths`` at the start;
- :class:`ImuTopic`, :class:`GnssTopic`, :class:`TfTopic` — the timed streams, each
  computed for all its stamps at once and written message by message as it comes due
  (:class:`TimeOrderedTopics` interleaves them between camera frames);
- :class:`CameraTopics` — colour, aligned depth and hyperspectral images with their
  camera_info, one rendered frame at a time (push-broom: every line with the line
  sensor's camera_info, one row high, :func:`hyperspectral.ortho.line_intrinsics`);
- :func:`bag_metadata` — the simulator's note in the bag's custom data.

A new sensor is a new topic class here (its stamps and a ``write(bag, i)``), listed in
:data:`TOPICS` and in :func:`simulator.writer.write_bag`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from hyperspectral.ortho import line_intrinsics
from simulator.config import SimConfig
from simulator.hsi import HSI_CONVENTION, HsiRender
from simulator.render import FrameRender, Renderer
from simulator.scene import UTM_EPSG, Scene
from simulator.sensors import (
    BASE,
    COLOR_OPTICAL,
    GNSS_FRAME,
    HSI_OPTICAL,
    IMU_FRAME,
    MAP,
    ImuNoise,
    Rig,
    gnss_fixes,
)
from simulator.simulation import stamps_ns
from simulator.trajectory import Trajectory

if TYPE_CHECKING:
    from smartmine.bagio.writer import BagWriter

F64Array = npt.NDArray[np.float64]
I64Array = npt.NDArray[np.int64]

TOPICS: dict[str, tuple[str, str]] = {
    "/camera/color/image_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/camera/color/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/camera/depth/image_rect_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/camera/depth/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/hyperspectral/image_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/hyperspectral/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/hyperspectral/wavelengths": ("std_msgs/msg/Float32MultiArray", "latched"),
    "/gnss/fix": ("sensor_msgs/msg/NavSatFix", "sensor"),
    "/imu/data": ("sensor_msgs/msg/Imu", "sensor"),
    "/tf": ("tf2_msgs/msg/TFMessage", "reliable"),
    "/tf_static": ("tf2_msgs/msg/TFMessage", "latched"),
}
"""Every topic of the bag: message type and QoS kind (smartmine.bagio.writer)."""
IDENTITY_XYZW = np.array([0.0, 0.0, 0.0, 1.0])


def add_topics(bag: BagWriter) -> None:
    for topic, (msgtype, qos) in TOPICS.items():
        bag.add_topic(topic, msgtype, qos=qos)  # type: ignore[arg-type]


def write_latched(bag: BagWriter, rig: Rig, renderer: Renderer, start_ns: int) -> None:
    """The static transform tree and the hyperspectral band centres, at the start."""
    from smartmine.msgs import StampedTransform, transforms_to_tf_message

    f = bag.factory
    statics = [StampedTransform(start_ns, p, c, matrix=m) for p, c, m in rig.static_tree()]
    bag.write("/tf_static", start_ns, transforms_to_tf_message(statics, f))
    wl = renderer.wavelengths_nm.astype(np.float32)
    dim = f(
        "std_msgs/msg/MultiArrayDimension", label="band_centre_nm", size=len(wl), stride=len(wl)
    )
    layout = f("std_msgs/msg/MultiArrayLayout", dim=[dim], data_offset=0)
    message = f("std_msgs/msg/Float32MultiArray", layout=layout, data=wl)
    bag.write("/hyperspectral/wavelengths", start_ns, message)


class TimedTopic(Protocol):
    """A stream written message by message in stamp order."""

    stamps_ns: I64Array

    def write(self, bag: BagWriter, i: int) -> None:
        """Write message ``i`` (stamped ``stamps_ns[i]``)."""


@dataclass
class ImuTopic:
    """``/imu/data``: specific force and angular rate of the IMU with white noise and
    constant biases; orientation not provided (REP-145: covariance[0] = -1)."""

    stamps_ns: I64Array
    accel_m_s2: F64Array
    gyro_rad_s: F64Array
    accel_cov: F64Array
    gyro_cov: F64Array

    @classmethod
    def build(
        cls, config: SimConfig, trajectory: Trajectory, imu_t: F64Array, noise: ImuNoise
    ) -> ImuTopic:
        force, rate = trajectory.imu_truth(imu_t, config.imu.offset_m)
        accel, gyro = noise.apply(config, force, rate)
        return cls(
            stamps_ns(config.start_ns, imu_t),
            accel,
            gyro,
            np.eye(3) * noise.accel_sigma**2,
            np.eye(3) * noise.gyro_sigma**2,
        )

    def write(self, bag: BagWriter, i: int) -> None:
        from smartmine.msgs import ImuSample, sample_to_imu

        t = int(self.stamps_ns[i])
        no_orientation = np.zeros((3, 3))
        no_orientation[0, 0] = -1.0
        sample = ImuSample(
            stamp_ns=t,
            frame_id=IMU_FRAME,
            orientation_xyzw=IDENTITY_XYZW.copy(),
            orientation_covariance=no_orientation,
            angular_velocity_rad_s=self.gyro_rad_s[i],
            angular_velocity_covariance=self.gyro_cov,
            linear_acceleration_m_s2=self.accel_m_s2[i],
            linear_acceleration_covariance=self.accel_cov,
        )
        bag.write("/imu/data", t, sample_to_imu(sample, bag.factory))


@dataclass
class GnssTopic:
    """``/gnss/fix``: noisy fixes of the antenna in the open; no fix underground."""

    stamps_ns: I64Array
    lat_deg: F64Array
    lon_deg: F64Array
    alt_m: F64Array
    covariance: F64Array
    has_fix: bool

    @classmethod
    def build(
        cls, config: SimConfig, scene: Scene, trajectory: Trajectory, rig: Rig, gnss_t: F64Array
    ) -> GnssTopic:
        g = config.gnss
        antenna = (trajectory.matrices(gnss_t) @ rig.base_from_gnss)[:, :3, 3]
        lat = lon = alt = np.full(len(gnss_t), math.nan)
        if not scene.underground:
            lat, lon, alt, _ = gnss_fixes(config, scene.origin, antenna)
        cov = np.diag([g.sigma_horizontal_m**2, g.sigma_horizontal_m**2, g.sigma_vertical_m**2])
        stamps = stamps_ns(config.start_ns, gnss_t)
        return cls(stamps, lat, lon, alt, cov, not scene.underground)

    def write(self, bag: BagWriter, i: int) -> None:
        from smartmine.msgs import GeoFix, geofix_to_navsatfix
        from smartmine.msgs.navsat import (
            COVARIANCE_TYPE_DIAGONAL_KNOWN,
            COVARIANCE_TYPE_UNKNOWN,
            SERVICE_GLONASS,
            SERVICE_GPS,
            STATUS_FIX,
            STATUS_NO_FIX,
        )

        t = int(self.stamps_ns[i])
        services = SERVICE_GPS | SERVICE_GLONASS
        if self.has_fix:
            position = (float(self.lat_deg[i]), float(self.lon_deg[i]), float(self.alt_m[i]))
            cov, cov_type, status = self.covariance, COVARIANCE_TYPE_DIAGONAL_KNOWN, STATUS_FIX
        else:
            position = (math.nan, math.nan, math.nan)
            cov, cov_type, status = np.zeros((3, 3)), COVARIANCE_TYPE_UNKNOWN, STATUS_NO_FIX
        fix = GeoFix(t, *position, cov, cov_type, status, services, GNSS_FRAME)
        bag.write("/gnss/fix", t, geofix_to_navsatfix(fix, bag.factory))


@dataclass
class TfTopic:
    """``/tf``: the ground-truth map -> base_link transform."""

    stamps_ns: I64Array
    map_from_base: F64Array

    @classmethod
    def build(cls, config: SimConfig, trajectory: Trajectory, tf_t: F64Array) -> TfTopic:
        return cls(stamps_ns(config.start_ns, tf_t), trajectory.matrices(tf_t))

    def write(self, bag: BagWriter, i: int) -> None:
        from smartmine.msgs import StampedTransform, transforms_to_tf_message

        t = int(self.stamps_ns[i])
        tf = StampedTransform(t, MAP, BASE, matrix=self.map_from_base[i])
        bag.write("/tf", t, transforms_to_tf_message([tf], bag.factory))


class TimeOrderedTopics:
    """Interleaves timed topics: :meth:`flush` writes every message due up to a stamp,
    earliest first (on equal stamps, in the order the topics were given)."""

    def __init__(self, topics: list[TimedTopic]) -> None:
        self.topics = topics
        self.cursors = [0] * len(topics)

    def flush(self, bag: BagWriter, until_ns: int) -> None:
        while True:
            best, best_t = -1, until_ns + 1
            for k, topic in enumerate(self.topics):
                cursor = self.cursors[k]
                if cursor < len(topic.stamps_ns) and topic.stamps_ns[cursor] < best_t:
                    best, best_t = k, int(topic.stamps_ns[cursor])
            if best < 0:
                return
            self.topics[best].write(bag, self.cursors[best])
            self.cursors[best] += 1

    def last_ns(self) -> int:
        return max(int(topic.stamps_ns[-1]) for topic in self.topics)


class CameraTopics:
    """Colour, aligned depth and hyperspectral images with their camera_info."""

    def __init__(self, renderer: Renderer, depth_encoding: str) -> None:
        self.depth_encoding = depth_encoding
        self.intrinsics = {
            COLOR_OPTICAL: renderer.camera.intrinsics(),
            HSI_OPTICAL: renderer.hsi_camera.intrinsics(),
        }
        hsi = self.intrinsics[HSI_OPTICAL]
        self.line_intrinsics = line_intrinsics(hsi, hsi.height // 2)
        """Push-broom: the line sensor is the middle row (``Renderer.render_hsi_line``)."""

    def write(self, bag: BagWriter, t: int, frame: FrameRender, hsi: HsiRender | None) -> None:
        from smartmine.msgs import intrinsics_to_camera_info, numpy_to_image

        f = bag.factory
        rgb = numpy_to_image(frame.rgb, "rgb8", stamp_ns=t, frame_id=COLOR_OPTICAL, factory=f)
        bag.write("/camera/color/image_raw", t, rgb)
        self._write_info(bag, "/camera/color/camera_info", t, COLOR_OPTICAL)
        depth = numpy_to_image(
            frame.depth_image, self.depth_encoding, stamp_ns=t, frame_id=COLOR_OPTICAL, factory=f
        )
        bag.write("/camera/depth/image_rect_raw", t, depth)
        self._write_info(bag, "/camera/depth/camera_info", t, COLOR_OPTICAL)
        if hsi is not None and hsi.line_offsets_s is not None:  # push-broom lines
            encoding = f"32FC{hsi.cube.shape[2]}"
            for row, offset in enumerate(hsi.line_offsets_s):
                line_t = t + round(float(offset) * 1e9)
                line = numpy_to_image(
                    hsi.cube[row : row + 1],
                    encoding,
                    stamp_ns=line_t,
                    frame_id=HSI_OPTICAL,
                    factory=f,
                )
                bag.write("/hyperspectral/image_raw", line_t, line)
                info = intrinsics_to_camera_info(
                    self.line_intrinsics, stamp_ns=line_t, frame_id=HSI_OPTICAL, factory=f
                )
                bag.write("/hyperspectral/camera_info", line_t, info)
        elif hsi is not None:
            encoding = f"32FC{hsi.cube.shape[2]}"
            cube = numpy_to_image(hsi.cube, encoding, stamp_ns=t, frame_id=HSI_OPTICAL, factory=f)
            bag.write("/hyperspectral/image_raw", t, cube)
            self._write_info(bag, "/hyperspectral/camera_info", t, HSI_OPTICAL)

    def _write_info(self, bag: BagWriter, topic: str, t: int, frame_id: str) -> None:
        from smartmine.msgs import intrinsics_to_camera_info

        info = intrinsics_to_camera_info(
            self.intrinsics[frame_id], stamp_ns=t, frame_id=frame_id, factory=bag.factory
        )
        bag.write(topic, t, info)


def bag_metadata(config: SimConfig, scene: Scene) -> str:
    """The ``smartmine.sim`` custom-data entry: scene, seed, CRS, origin, HSI convention."""
    doc: dict[str, Any] = {
        "scene": config.scene,
        "seed": config.seed,
        "crs": f"EPSG:{UTM_EPSG}",
        "origin_wgs84": [scene.origin.lat_deg, scene.origin.lon_deg, scene.origin.alt_m],
        "map_frame": "local ENU at the origin",
        "hyperspectral": HSI_CONVENTION,
    }
    return json.dumps(doc, sort_keys=True)
