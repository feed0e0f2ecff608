"""Writes genuine Intel RealSense SDK recordings (``.bag``) without a camera.

The format is the one librealsense 2.5x's ``ros_writer`` writes (file version 4; its
``ros_file_format.h``, ``ros_writer.cpp`` and ``ros_reader.cpp``): a ROS 1 bag with

- ``/file_version`` (std_msgs/UInt32) and, per device, sensor and stream, static
  records stamped ``TIME_MIN`` (1 ns): ``/device_0/info`` and
  ``/device_0/sensor_N/info`` (diagnostic_msgs/KeyValue, one message per camera-info
  field), ``/device_0/sensor_N/option/<Name_With_Underscores>/{value,description}``
  (std_msgs/Float32, std_msgs/String), ``.../<Stream>_<idx>/info``
  (realsense_msgs/StreamInfo), ``.../<Stream>_<idx>/info/camera_info``
  (sensor_msgs/CameraInfo, ``distortion_model`` = librealsense's model name) and
  ``.../<Stream>_<idx>/tf/0`` (geometry_msgs/Transform: the extrinsics *from* the stream
  *to* the group's reference stream, here the depth stream);
- per frame, at the capture time relative to the recording's start:
  ``.../image/data`` (sensor_msgs/Image, ``header.stamp`` = the frame timestamp,
  ``header.seq`` = the frame number, and librealsense's private extension: ``frame_id``
  "1" announces a float32 ``depth_units`` appended after ``data``) and
  ``.../image/metadata`` (diagnostic_msgs/KeyValue: ``system_time``,
  ``timestamp_domain`` and named frame metadata).

Colour is ``rgb8``, depth ``mono16`` (Z16) in the recording's depth units. The files
are written with rosbags' ROS 1 writer; realsense_msgs/StreamInfo is registered from its
``.msg`` (its MD5 equals the one compiled into librealsense). ``drift_recording`` makes
one from the simulator's drift: the colour frames of its bag, and depth from a separate
depth camera (its own intrinsics and pose on the rig, like a D435's left imager) cast
into the simulator's scene with the simulator's depth sensor model.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.geometry import matrix_to_quat

F64 = npt.NDArray[np.float64]

STREAM_INFO_MSG = """\
# This message defines meta information for a stream
# The stream type is expressed in the topic name

uint32 fps        # The nominal streaming rate, defined in Hz
string encoding   # Stream's data format
bool is_recommended # Is this stream recommended by RealSense SDK
"""
STREAM_INFO_MD5 = "311d7e24eac31bb87271d041bf70ff7d"
IMU_INTRINSIC_MSG = """\
# Motion device intrinsics: scale, bias, and variances

# Interpret data array values
                            # [ Scale X       cross axis        cross axis      Bias X]
                            # [cross axis      Scale Y          cross axis      Bias Y]
                            # [cross axis     cross axis          Scale Z       Bias Z]
float32[12] data            # 3x4 Row-major matrix

float32[3] noise_variances  # Variance of noise for X, Y, and Z axis
float32[3] bias_variances   # Variance of bias for X, Y, and Z axis
"""
IMU_INTRINSIC_MD5 = "aebdc2f8f9726f1c3ca823ab56e47429"
"""MD5 of realsense_msgs/ImuIntrinsic compiled into librealsense (ImuIntrinsic.h)."""
"""MD5 of realsense_msgs/StreamInfo compiled into librealsense (StreamInfo.h)."""
FILE_VERSION = 4
"""ROS_FILE_WITH_RECOMMENDED_PROCESSING_BLOCKS, what librealsense 2.5x writes."""
STATIC_NS = 1
"""rs2rosinternal::TIME_MIN = Time(0, 1): the stamp of every static record."""


@dataclass
class VideoStream:
    """One recorded video stream: its intrinsics as librealsense stores them."""

    width: int
    height: int
    fx: float
    fy: float
    ppx: float
    ppy: float
    coeffs: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)
    model: str = "Brown Conrady"
    fps: int = 30

    @property
    def k(self) -> F64:
        return np.array([[self.fx, 0, self.ppx], [0, self.fy, self.ppy], [0, 0, 1.0]])


@dataclass
class RecordedFrame:
    """One colour + depth pair; ``stamp_ns`` is the frame timestamp (its domain says
    which clock) and ``system_ns`` the host's receive time."""

    stamp_ns: int
    color_rgb: npt.NDArray[np.uint8]
    depth_raw: npt.NDArray[np.uint16]
    """Z16 in the recording's depth units; 0 = no data."""
    system_ns: int | None = None
    depth_stamp_ns: int | None = None
    """Depth frame timestamp when it differs from the colour one."""
    gyro: list[tuple[int, tuple[float, float, float]]] = field(default_factory=list)
    """Gyro samples (stamp ns, rad/s in the gyro frame) since the previous frame."""


@dataclass
class Recording:
    """What a recording holds besides its frames."""

    color: VideoStream
    depth: VideoStream
    depth_units_m: float = 0.001
    color_from_depth: F64 = field(default_factory=lambda: np.eye(4))
    """p_color = T p_depth (the depth imager's pose in the colour optical frame)."""
    timestamp_domain: str = "Global Time"
    name: str = "Intel RealSense D435"
    serial: str = "836612070298"
    product_id: str = "0B07"
    firmware: str = "5.13.0.50"
    stereo_baseline_mm: float = 49.9
    gyro_fps: int = 0
    """> 0: a D435i-like motion module with a gyro stream at this rate."""
    gyro_from_depth: F64 = field(default_factory=lambda: _translation(-0.0053, -0.005, -0.0117))
    """The gyro's extrinsics from the depth imager (axes as the depth optical frame)."""


def _translation(x: float, y: float, z: float) -> F64:
    t = np.eye(4)
    t[:3, 3] = [x, y, z]
    return t


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS1_NOETIC)
    store.register(get_types_from_msg(STREAM_INFO_MSG, "realsense_msgs/msg/StreamInfo"))
    store.register(get_types_from_msg(IMU_INTRINSIC_MSG, "realsense_msgs/msg/ImuIntrinsic"))
    return store


class _BagOut:
    """rosbags ROS 1 writer with one connection per topic."""

    def __init__(self, path: Path) -> None:
        from rosbags.rosbag1 import Writer

        self.store = _typestore()
        self.writer = Writer(path)
        self.writer.open()
        self.connections: dict[str, Any] = {}

    def write(self, topic: str, msgtype: str, stamp_ns: int, msg: Any, tail: bytes = b"") -> None:
        conn = self.connections.get(topic)
        if conn is None:
            conn = self.writer.add_connection(topic, msgtype, typestore=self.store)
            self.connections[topic] = conn
        self.writer.write(conn, stamp_ns, bytes(self.store.serialize_ros1(msg, msgtype)) + tail)

    def close(self) -> None:
        self.writer.close()


def _time(ns: int) -> Any:
    from rosbags.typesys.stores.ros1_noetic import builtin_interfaces__msg__Time as Time

    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def write_realsense_bag(path: Path, rec: Recording, frames: Iterable[RecordedFrame]) -> int:
    """Write ``frames`` as a RealSense SDK recording at ``path``; returns the frame count."""
    out = _BagOut(path)
    m = out.store.types
    msg_u32 = m["std_msgs/msg/UInt32"]
    msg_f32 = m["std_msgs/msg/Float32"]
    msg_str = m["std_msgs/msg/String"]
    kv = m["diagnostic_msgs/msg/KeyValue"]
    try:
        out.write("/file_version", "std_msgs/msg/UInt32", STATIC_NS, msg_u32(data=FILE_VERSION))
        device_info = {
            "Name": rec.name,
            "Serial Number": rec.serial,
            "Firmware Version": rec.firmware,
            "Recommended Firmware Version": rec.firmware,
            "Physical Port": "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/video4linux",
            "Debug Op Code": "15",
            "Advanced Mode": "YES",
            "Product Id": rec.product_id,
            "Camera Locked": "YES",
            "Usb Type Descriptor": "3.2",
            "Product Line": "D400",
            "Asic Serial Number": "838313021236",
            "Firmware Update Id": "838313021236",
        }
        for key, value in device_info.items():
            out.write("/device_0/info", "diagnostic_msgs/msg/KeyValue", STATIC_NS, kv(key, value))
        sensors = [
            ("Stereo Module", "Depth", rec.depth, "mono16", np.eye(4)),
            ("RGB Camera", "Color", rec.color, "rgb8", rec.color_from_depth),
        ]
        options = [
            {
                "Depth Units": (
                    rec.depth_units_m,
                    "Number of meters represented by a single depth unit",
                ),
                "Stereo Baseline": (
                    rec.stereo_baseline_mm,
                    "Distance in mm between the stereo imagers",
                ),
                "Global Time Enabled": (1.0, "Enable/Disable global timestamp"),
                "Frames Queue Size": (16.0, "Max number of frames you can hold at a given time."),
            },
            {
                "Global Time Enabled": (1.0, "Enable/Disable global timestamp"),
                "Frames Queue Size": (16.0, "Max number of frames you can hold at a given time."),
                "Enable Auto Exposure": (1.0, "Enable / disable auto-exposure"),
            },
        ]
        for index, (name, stream, video, encoding, to_reference) in enumerate(sensors):
            prefix = f"/device_0/sensor_{index}"
            for key, value in {"Name": name, "Product Line": "D400"}.items():
                out.write(
                    f"{prefix}/info", "diagnostic_msgs/msg/KeyValue", STATIC_NS, kv(key, value)
                )
            for option, (opt_value, text) in options[index].items():
                topic = f"{prefix}/option/{option.replace(' ', '_')}"
                out.write(f"{topic}/value", "std_msgs/msg/Float32", STATIC_NS, msg_f32(opt_value))
                out.write(f"{topic}/description", "std_msgs/msg/String", STATIC_NS, msg_str(text))
            sp = f"{prefix}/{stream}_0"
            info = m["realsense_msgs/msg/StreamInfo"](
                fps=video.fps, encoding=encoding, is_recommended=True
            )
            out.write(f"{sp}/info", "realsense_msgs/msg/StreamInfo", STATIC_NS, info)
            out.write(
                f"{sp}/info/camera_info",
                "sensor_msgs/msg/CameraInfo",
                STATIC_NS,
                _camera_info(m, video),
            )
            out.write(
                f"{sp}/tf/0", "geometry_msgs/msg/Transform", STATIC_NS, _transform(m, to_reference)
            )
        if rec.gyro_fps:
            _write_motion_module(out, rec, len(sensors))
        count = 0
        gyro_seq = 0
        first_ns: int | None = None
        for n, frame in enumerate(frames):
            depth_stamp = (
                frame.depth_stamp_ns if frame.depth_stamp_ns is not None else frame.stamp_ns
            )
            system_ns = frame.system_ns if frame.system_ns is not None else frame.stamp_ns
            if first_ns is None:
                first_ns = system_ns - 100_000_000  # the recording started 0.1 s earlier
            capture_ns = system_ns - first_ns
            for stamp, rate in frame.gyro:
                gyro_seq += 1
                _write_gyro(out, rec, len(sensors), stamp, rate, gyro_seq, first_ns)
            for index, (_, stream, video, encoding, _) in enumerate(sensors):
                sp = f"/device_0/sensor_{index}/{stream}_0"
                is_depth = stream == "Depth"
                data = frame.depth_raw if is_depth else frame.color_rgb
                stamp = depth_stamp if is_depth else frame.stamp_ns
                units = rec.depth_units_m if is_depth else 0.0
                image = _image(m, data, encoding, stamp, n + 1)
                out.write(f"{sp}/image/data", "sensor_msgs/msg/Image", capture_ns, image,
                          tail=struct.pack("<f", units))  # fmt: skip
                metadata = {
                    "system_time": f"{system_ns / 1e6:.6f}",
                    "timestamp_domain": rec.timestamp_domain,
                    "Frame Counter": str(n + 1),
                    "Frame Timestamp": str(stamp // 1000),
                    "Sensor Timestamp": str(stamp // 1000 - 8000),
                    "Time Of Arrival": str(system_ns // 1_000_000),
                    "Backend Timestamp": str(system_ns // 1_000_000 - 1),
                    "Actual Fps": str(video.fps),
                }
                for key, value in metadata.items():
                    out.write(f"{sp}/image/metadata", "diagnostic_msgs/msg/KeyValue", capture_ns,
                              kv(key, value))  # fmt: skip
            count += 1
    finally:
        out.close()
    return count


def _write_motion_module(out: _BagOut, rec: Recording, index: int) -> None:
    """Sensor ``index``: a "Motion Module" with one gyro stream (D435i-like)."""
    m = out.store.types
    kv = m["diagnostic_msgs/msg/KeyValue"]
    prefix = f"/device_0/sensor_{index}"
    for key, value in {"Name": "Motion Module", "Product Line": "D400"}.items():
        out.write(f"{prefix}/info", "diagnostic_msgs/msg/KeyValue", STATIC_NS, kv(key, value))
    sp = f"{prefix}/Gyro_0"
    info = m["realsense_msgs/msg/StreamInfo"](
        fps=rec.gyro_fps, encoding="MOTION_XYZ32F", is_recommended=True
    )
    out.write(f"{sp}/info", "realsense_msgs/msg/StreamInfo", STATIC_NS, info)
    intrinsic = m["realsense_msgs/msg/ImuIntrinsic"](
        data=np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], dtype=np.float32),
        noise_variances=np.full(3, 1e-6, dtype=np.float32),
        bias_variances=np.full(3, 1e-8, dtype=np.float32),
    )
    out.write(f"{sp}/imu_intrinsic", "realsense_msgs/msg/ImuIntrinsic", STATIC_NS, intrinsic)
    out.write(
        f"{sp}/tf/0", "geometry_msgs/msg/Transform", STATIC_NS, _transform(m, rec.gyro_from_depth)
    )


def _write_gyro(
    out: _BagOut,
    rec: Recording,
    index: int,
    stamp_ns: int,
    rate: tuple[float, float, float],
    seq: int,
    first_ns: int,
) -> None:
    m = out.store.types
    sp = f"/device_0/sensor_{index}/Gyro_0"
    vec = m["geometry_msgs/msg/Vector3"]
    imu = m["sensor_msgs/msg/Imu"](
        header=m["std_msgs/msg/Header"](seq=seq, stamp=_time(stamp_ns), frame_id="1"),
        orientation=m["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=0.0),
        orientation_covariance=np.zeros(9),
        angular_velocity=vec(x=rate[0], y=rate[1], z=rate[2]),
        angular_velocity_covariance=np.zeros(9),
        linear_acceleration=vec(x=0.0, y=0.0, z=0.0),
        linear_acceleration_covariance=np.zeros(9),
    )
    capture_ns = stamp_ns + 1_000_000 - first_ns
    out.write(f"{sp}/imu/data", "sensor_msgs/msg/Imu", capture_ns, imu)
    kv = m["diagnostic_msgs/msg/KeyValue"]
    metadata = {
        "system_time": f"{(stamp_ns + 1_000_000) / 1e6:.6f}",
        "timestamp_domain": rec.timestamp_domain,
        "Frame Counter": str(seq),
        "Frame Timestamp": str(stamp_ns // 1000),
    }
    for key, value in metadata.items():
        out.write(f"{sp}/imu/metadata", "diagnostic_msgs/msg/KeyValue", capture_ns, kv(key, value))


def _camera_info(m: dict[str, Any], v: VideoStream) -> Any:
    header = m["std_msgs/msg/Header"](seq=0, stamp=_time(0), frame_id="")
    roi = m["sensor_msgs/msg/RegionOfInterest"](
        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
    )
    k = np.zeros(9)
    k[[0, 2, 4, 5, 8]] = [v.fx, v.ppx, v.fy, v.ppy, 1.0]
    return m["sensor_msgs/msg/CameraInfo"](
        header=header, height=v.height, width=v.width, distortion_model=v.model,
        D=np.array(v.coeffs, dtype=np.float64), K=k, R=np.zeros(9), P=np.zeros(12),
        binning_x=0, binning_y=0, roi=roi,
    )  # fmt: skip


def _transform(m: dict[str, Any], t: F64) -> Any:
    x, y, z, w = matrix_to_quat(t[:3, :3])  # xyzw
    return m["geometry_msgs/msg/Transform"](
        translation=m["geometry_msgs/msg/Vector3"](x=t[0, 3], y=t[1, 3], z=t[2, 3]),
        rotation=m["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
    )


def _image(
    m: dict[str, Any], data: npt.NDArray[Any], encoding: str, stamp_ns: int, seq: int
) -> Any:
    arr = np.ascontiguousarray(data)
    header = m["std_msgs/msg/Header"](seq=seq, stamp=_time(stamp_ns), frame_id="1")
    return m["sensor_msgs/msg/Image"](
        header=header, height=arr.shape[0], width=arr.shape[1], encoding=encoding,
        is_bigendian=0, step=arr.strides[0], data=arr.view(np.uint8).ravel(),
    )  # fmt: skip


# -- the simulator's drift as a RealSense recording ----------------------------------------


def d435_depth_stream(fps: int) -> VideoStream:
    """A D435-like depth imager: 848x480, 87° horizontal FOV, no distortion."""
    f = 424.0 / math.tan(math.radians(87.0) / 2.0)
    return VideoStream(848, 480, f, f, 423.7, 239.6, fps=fps)


def d435_color_from_depth() -> F64:
    """The depth imager 14.8 mm beside the colour camera, turned by ~0.3°."""
    from smartmine.geometry import euler_to_matrix

    t = np.eye(4)
    t[:3, :3] = euler_to_matrix([0.2, -0.25, 0.1], "xyz", degrees=True)
    t[:3, 3] = [0.0148, 0.0003, 0.0002]
    return t


def drift_recording(
    sim_dir: Path,
    config: Any,
    path: Path,
    depth_units_m: float = 0.0005,
    depth: VideoStream | None = None,
    color_from_depth: F64 | None = None,
    gyro: bool = True,
) -> Recording:
    """A RealSense recording of a simulated drift: the colour frames and stamps of
    ``sim_dir``'s bag (rendered from ``config``), and depth from a depth imager at
    ``color_from_depth`` on the colour camera, cast into the same scene at the same
    instants with the simulator's depth sensor model (metres, quantised to the depth
    units)."""
    from simulator.camera import CameraModel
    from simulator.compiled import noise_key
    from simulator.render import STREAM_DEPTH_NOISE
    from simulator.sensor_model import depth_image
    from simulator.simulation import Simulation
    from smartmine.bagio import BagReader
    from smartmine.msgs import header_stamp_ns, image_to_numpy

    sim = Simulation.prepare(config)
    cam = config.camera
    fps = max(1, round(cam.rate_hz))
    depth = depth or d435_depth_stream(fps)
    color_from_depth = d435_color_from_depth() if color_from_depth is None else color_from_depth
    color_model = sim.renderer.camera
    color = VideoStream(
        color_model.width, color_model.height, color_model.fx, color_model.fy,
        color_model.cx, color_model.cy, tuple(color_model.dist), fps=fps,  # type: ignore[arg-type]
    )  # fmt: skip
    rec = Recording(color, depth, depth_units_m, color_from_depth)
    gyro_samples: list[tuple[int, tuple[float, float, float]]] = []
    if gyro:  # the simulator's IMU rates, turned into the depth imager's axes
        rec.gyro_fps = round(config.imu.rate_hz)
        r_depth_imu = color_from_depth[:3, :3].T @ sim.rig.base_from_optical[:3, :3].T
        with BagReader(sim_dir / "drift.mcap") as bag:
            for msg in bag.messages(["/imu/data"]):
                w = msg.message.angular_velocity
                rate = r_depth_imu @ np.array([w.x, w.y, w.z])
                gyro_samples.append((header_stamp_ns(msg.message), (rate[0], rate[1], rate[2])))
    depth_model = CameraModel(depth.width, depth.height, depth.fx, depth.fy, depth.ppx, depth.ppy)
    rays = depth_model.image_rays.reshape(-1, 3)
    metres_config = dataclasses.replace(config.depth, encoding="32FC1")

    def frames() -> Iterator[RecordedFrame]:
        previous = 0
        with BagReader(sim_dir / "drift.mcap") as bag:
            topic = next(t for t in bag.topics if t.endswith("color/image_raw"))
            for i, msg in enumerate(bag.messages([topic])):
                image = msg.message
                stamp = header_stamp_ns(image)
                world_from_color = sim.frame_poses[i] @ sim.rig.base_from_optical
                pose = world_from_color @ color_from_depth
                dirs = rays @ pose[:3, :3].T
                hits = sim.scene.cast(np.repeat(pose[None, :3, 3], len(dirs), 0), dirs)
                t_hit = hits["t_hit"].astype(np.float64)
                z = np.where(np.isfinite(t_hit), t_hit, np.nan).astype(np.float32)
                normals = hits["primitive_normals"].astype(np.float64)
                cos = np.abs(np.sum(normals * dirs, axis=1)) / np.linalg.norm(dirs, axis=1)
                key = noise_key(config.seed, STREAM_DEPTH_NOISE, 10_000 + i)
                shape = (depth.height, depth.width)
                metres = np.asarray(
                    depth_image(z.reshape(shape), cos.reshape(shape), metres_config, key),
                    dtype=np.float64,
                )
                raw = np.where(np.isfinite(metres), np.round(metres / depth_units_m), 0)
                since = previous if i else stamp - 50_000_000
                yield RecordedFrame(
                    stamp,
                    image_to_numpy(image),
                    np.clip(raw, 0, 65535).astype(np.uint16),
                    system_ns=stamp + 2_500_000,  # received 2.5 ms later
                    gyro=[g for g in gyro_samples if since < g[0] <= stamp],
                )
                previous = stamp

    write_realsense_bag(path, rec, frames())
    return rec
