"""``slam`` processor: live RGB-D SLAM, nav_msgs/Odometry and TF at camera rate.

Colour and depth (aligned to colour) are paired by stamp, the colour CameraInfo gives
the intrinsics (distorted images are undistorted first). Each tracked frame yields an
Odometry and a TF from ``map_frame_id`` to ``child_frame_id``. The map frame is the
first camera's body frame (x forward, y left, z up: REP-103 FLU), so a level camera
gives a level map, as ``vision_to_px4`` expects. The child defaults to a frame of its
own (``camera_slam``) because the camera frame usually has a parent in the robot's TF
tree already; a static TF from it to the robot's camera link closes the tree.
IMU rates, when published, are integrated between frames into a rotation prior (the
IMU-to-camera rotation comes from /tf_static). Frames that cannot be tracked publish
nothing (tracking loss is counted; the pose comes back after relocalisation).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from mapping.slam.frame import Pinhole, RgbdFrame
from mapping.slam.kernels import warm_up
from mapping.slam.odometry import PRESETS
from mapping.slam.sensors import GyroIntegrator, Undistorter
from mapping.slam.sources import depth_to_metres, rotation_between
from mapping.slam.system import Slam, SlamConfig
from smartmine.frames import R_BODY_FROM_OPTICAL
from smartmine.msgs import (
    OdometrySample,
    StampedTransform,
    camera_info_to_intrinsics,
    header_frame_id,
    header_stamp_ns,
    image_to_numpy,
    imu_to_sample,
    matrix_to_pose_stamped,
    sample_to_odometry,
    tf_message_to_transforms,
    transforms_to_tf_message,
)
from smartmine.processor import Output, Port, Processor, param, register_processor
from smartmine.sync import TimeSync


@dataclass
class SlamParams:
    preset: Literal["live", "wide"] = param("live", "odometry preset (wide: frames far apart)")
    map_frame_id: str = param("slam_map", "frame_id of the odometry (first camera, FLU)")
    child_frame_id: str = param("camera_slam", "child frame of the odometry and TF")
    publish_tf: bool = param(True, "also publish map -> child on /tf")
    max_depth_m: float = param(20.0, "ignore depth beyond this", unit="m", range=(0.5, 100.0))
    keyframe_translation_m: float = param(0.3, "new keyframe after this motion", unit="m")
    sync_tolerance_ms: float = param(20.0, "colour/depth stamp pairing", unit="ms")
    position_sigma_m: float = param(0.02, "reported position standard deviation", unit="m")
    rotation_sigma_rad: float = param(0.01, "reported rotation standard deviation", unit="rad")
    background_loops: bool = param(
        True,
        "loop search and pose-graph optimisation off the tracking path (a worker thread and "
        "process), so the pose keeps camera rate; false: in line (a bag replays exactly)",
    )


@register_processor
class SlamProcessor(Processor[SlamParams]):
    name = "slam"
    description = "RGB-D SLAM: Odometry + TF at camera rate, with loop closure"
    inputs = (
        Port("color", "/camera/color/image_raw", "sensor_msgs/msg/Image", "sensor"),
        Port("depth", "/camera/depth/image_rect_raw", "sensor_msgs/msg/Image", "sensor"),
        Port("camera_info", "/camera/color/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
        Port("imu", "/imu/data", "sensor_msgs/msg/Imu", "sensor", "gyro prior", optional=True),
        Port("tf_static", "/tf_static", "tf2_msgs/msg/TFMessage", "latched", "extrinsic", True),
    )
    outputs = (
        Port("odometry", "/slam/odometry", "nav_msgs/msg/Odometry", "reliable"),
        Port("pose", "/slam/pose", "geometry_msgs/msg/PoseStamped", "sensor", "for vision_to_px4"),
        Port("tf", "/tf", "tf2_msgs/msg/TFMessage", "reliable"),
    )
    Params = SlamParams

    def __init__(self, params: SlamParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        tol_ns = int(self.params.sync_tolerance_ms * 1e6)
        self.sync = TimeSync(["color", "depth"], tolerance_ns=tol_ns)
        self.slam: Slam | None = None
        self.undistorter: Undistorter | None = None
        self.frame_count = 0
        self.lost = 0
        self.base = np.eye(4)
        self.base[:3, :3] = R_BODY_FROM_OPTICAL
        self.gyro = GyroIntegrator()
        self.static: list[Any] = []
        self.imu_frame = ""
        self.camera_frame = ""
        self.R_cam_imu: Any = None

    def _start(self, info: Any) -> None:
        intr = camera_info_to_intrinsics(info)
        cam = Pinhole.from_k(intr.width, intr.height, intr.k)
        self.undistorter = Undistorter.create(intr)
        odo = replace(PRESETS[self.params.preset], max_depth_m=self.params.max_depth_m)
        config = SlamConfig(
            odometry=odo,
            keyframe_translation_m=self.params.keyframe_translation_m,
            background=self.params.background_loops,
        )
        self.slam = Slam(cam, config)
        warm_up()  # the compiled kernels, before the first frame

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        if port == "camera_info":
            if self.slam is None:
                self._start(message)
                self.camera_frame = header_frame_id(message)
            return []
        if port == "tf_static":
            self.static += tf_message_to_transforms(message)
            self.R_cam_imu = None
            return []
        if port == "imu":
            sample = imu_to_sample(message)
            self.imu_frame = sample.frame_id
            self.gyro.add(sample.stamp_ns, sample.angular_velocity_rad_s)
            return []
        out: list[Output] = []
        for pair in self.sync.push(port, header_stamp_ns(message), message):
            if self.slam is None:
                continue  # frames before the first camera_info cannot be used
            out += self._track(pair["color"], pair["depth"])
        return out

    def finish(self) -> list[Output]:
        """Stop the background back end (its last loop search and optimisation)."""
        if self.slam is not None:
            self.slam.finish()
        return []

    def _track(self, color_msg: Any, depth_msg: Any) -> list[Output]:
        assert self.slam is not None
        color = image_to_numpy(color_msg)
        if color.ndim == 3 and str(color_msg.encoding).startswith("bgr"):
            color = color[:, :, ::-1]
        color = np.ascontiguousarray(color[:, :, :3] if color.ndim == 3 else color, np.uint8)
        depth = depth_to_metres(image_to_numpy(depth_msg), depth_msg.encoding)
        if self.undistorter is not None:
            color, depth = self.undistorter.apply(color, depth)
        stamp = header_stamp_ns(color_msg)
        if self.R_cam_imu is None and self.imu_frame and self.camera_frame:
            self.R_cam_imu = rotation_between(self.static, self.camera_frame, self.imu_frame)
        prior = self.gyro.take(self.R_cam_imu) if self.R_cam_imu is not None else None
        frame = RgbdFrame(
            stamp, color, depth, self.frame_count, prior if self.frame_count else None
        )
        state = self.slam.step(frame)
        self.frame_count += 1
        if state.pose is None:
            self.lost += 1
            return []
        pose = self.base @ state.pose @ np.linalg.inv(self.base)
        p = self.params
        cov = np.diag([p.position_sigma_m**2] * 3 + [p.rotation_sigma_rad**2] * 3)
        sample = OdometrySample(
            stamp, p.map_frame_id, p.child_frame_id, pose, cov, np.zeros(3), np.zeros(3), cov
        )
        out = [
            Output("odometry", sample_to_odometry(sample, self.factory)),
            Output("pose", matrix_to_pose_stamped(pose, stamp, p.map_frame_id, self.factory)),
        ]
        if p.publish_tf:
            tf = StampedTransform(stamp, p.map_frame_id, p.child_frame_id, matrix=pose)
            out.append(Output("tf", transforms_to_tf_message([tf], self.factory)))
        return out
