"""A small synthetic sensor bag, so the main job runs on a fresh machine with no data.

A downward-looking RGB-D camera on a vehicle flying a straight 1 m/s line 20 m above a
textured flat pit floor near Oskemen, East Kazakhstan (UTM 44N, EPSG:32644), with
GNSS, IMU, odometry, TF and a coloured point cloud. Every topic uses the standard
message types and the names the simulator will use. The mine simulator (its own
package) supersedes this for real scenes; this one only exercises the core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from smartmine.bagio.writer import BagWriter
from smartmine.geodesy import LocalEnu
from smartmine.geometry import make_transform
from smartmine.msgs import (
    CameraIntrinsics,
    GeoFix,
    ImuSample,
    OdometrySample,
    StampedTransform,
    intrinsics_to_camera_info,
    numpy_to_image,
    sample_to_imu,
    sample_to_odometry,
    transforms_to_tf_message,
    xyz_to_pointcloud2,
)
from smartmine.msgs.navsat import geofix_to_navsatfix

ORIGIN = LocalEnu(lat_deg=49.9480, lon_deg=82.6280, alt_m=300.0)
"""Scene origin (WGS84, ellipsoidal height) in UTM zone 44N."""
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
WIDTH, HEIGHT = 320, 240
ALTITUDE_M = 20.0
SPEED_M_S = 1.0
MAX_FRAMES = 36_000
"""An hour of 10 Hz frames (about 10 GB): more is a typo, not a sample."""

TOPICS = {
    "/camera/color/image_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/camera/color/camera_info": ("sensor_msgs/msg/CameraInfo", "sensor"),
    "/camera/depth/image_rect_raw": ("sensor_msgs/msg/Image", "sensor"),
    "/camera/depth/points": ("sensor_msgs/msg/PointCloud2", "sensor"),
    "/gnss/fix": ("sensor_msgs/msg/NavSatFix", "sensor"),
    "/imu/data": ("sensor_msgs/msg/Imu", "sensor"),
    "/odom": ("nav_msgs/msg/Odometry", "reliable"),
    "/tf": ("tf2_msgs/msg/TFMessage", "reliable"),
    "/tf_static": ("tf2_msgs/msg/TFMessage", "latched"),
}


def camera() -> CameraIntrinsics:
    """The sample camera: 320×240, 60° horizontal field of view, mild barrel distortion."""
    f = WIDTH / 2 / np.tan(np.radians(30.0))
    k = np.array([[f, 0.0, WIDTH / 2 - 0.5], [0.0, f, HEIGHT / 2 - 0.5], [0.0, 0.0, 1.0]])
    return CameraIntrinsics(WIDTH, HEIGHT, k, np.array([-0.05, 0.01, 0.0, 0.0, 0.0]), "plumb_bob")


def _floor_colour(east_m: np.ndarray, north_m: np.ndarray) -> np.ndarray:
    """A deterministic rock-like texture with two geological zones and a stained patch."""
    zone = (north_m > 0.15 * east_m).astype(np.float64)
    grain = (
        0.5
        + 0.25 * np.sin(east_m * 3.1) * np.cos(north_m * 2.3)
        + 0.25 * np.sin((east_m + north_m) * 7.7)
    )
    rgb = np.stack(
        [
            110 + 60 * grain + 30 * zone,
            100 + 50 * grain - 10 * zone,
            90 + 40 * grain - 30 * zone,
        ],
        axis=-1,
    )
    stain = ((east_m - 18.0) ** 2 + (north_m - 3.0) ** 2) < 16.0  # jarosite-yellow patch
    rgb[stain] = rgb[stain] * np.array([1.25, 1.05, 0.45])
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_sample_bag(
    path: Path | str, *, frames: int = 30, overwrite: bool = False
) -> dict[str, int]:
    """Write the sample bag; returns message counts by topic."""
    from smartmine.errors import BagError

    if not 1 <= frames <= MAX_FRAMES:
        raise BagError(f"--frames must be 1..{MAX_FRAMES}, got {frames}")
    target = Path(path)
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BagError(f"{target}: {parent} is a file, not a folder")
            break
    intr = camera()
    fx, fy, cx, cy = intr.fx, intr.fy, intr.cx, intr.cy
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    ray_x, ray_y = (u - cx) / fx, (v - cy) / fy  # optical frame, z = 1
    # camera looks straight down: optical x = east, optical y = south, optical z = down
    body_from_camera = make_transform(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, -0.1])

    with BagWriter(path, overwrite=overwrite) as bag:
        for topic, (msgtype, qos) in TOPICS.items():
            bag.add_topic(topic, msgtype, qos=qos)  # type: ignore[arg-type]
        static = StampedTransform(START_NS, "base_link", "camera_link", matrix=body_from_camera)
        bag.write("/tf_static", START_NS, transforms_to_tf_message([static], bag.factory))
        imu_per_frame = 10
        for i in range(frames * imu_per_frame):
            t_ns = START_NS + i * 10_000_000
            sample = ImuSample(
                stamp_ns=t_ns,
                frame_id="base_link",
                orientation_xyzw=np.array([0.0, 0.0, 0.0, 1.0]),
                orientation_covariance=np.eye(3) * 1e-4,
                angular_velocity_rad_s=np.zeros(3),
                angular_velocity_covariance=np.eye(3) * 1e-6,
                linear_acceleration_m_s2=np.array([0.0, 0.0, 9.80665]),
                linear_acceleration_covariance=np.eye(3) * 1e-3,
            )
            bag.write("/imu/data", t_ns, sample_to_imu(sample, bag.factory))
        for i in range(frames):
            t_ns = START_NS + i * 100_000_000
            east_m = SPEED_M_S * i * 0.1
            position = np.array([east_m, 0.0, ALTITUDE_M])
            world_from_body = make_transform(np.eye(3), position)
            # depth along the optical axis is the altitude above the flat floor
            depth_m = np.full((HEIGHT, WIDTH), ALTITUDE_M + 0.1)
            floor_e = east_m + ray_x * depth_m
            floor_n = -ray_y * depth_m
            colour = _floor_colour(floor_e, floor_n)
            depth_mm = np.round(depth_m * 1000).astype(np.uint16)
            bag.write(
                "/camera/color/image_raw",
                t_ns,
                numpy_to_image(
                    colour, "rgb8", stamp_ns=t_ns, frame_id="camera_link", factory=bag.factory
                ),
            )
            bag.write(
                "/camera/color/camera_info",
                t_ns,
                intrinsics_to_camera_info(
                    intr, stamp_ns=t_ns, frame_id="camera_link", factory=bag.factory
                ),
            )
            bag.write(
                "/camera/depth/image_rect_raw",
                t_ns,
                numpy_to_image(
                    depth_mm, "16UC1", stamp_ns=t_ns, frame_id="camera_link", factory=bag.factory
                ),
            )
            step = 8
            pts = np.stack([ray_x * depth_m, ray_y * depth_m, depth_m], axis=-1)[
                ::step, ::step
            ].reshape(-1, 3)
            cols = colour[::step, ::step].reshape(-1, 3)
            bag.write(
                "/camera/depth/points",
                t_ns,
                xyz_to_pointcloud2(
                    pts.astype(np.float32),
                    rgb=cols,
                    stamp_ns=t_ns,
                    frame_id="camera_link",
                    factory=bag.factory,
                ),
            )
            lat, lon, alt = ORIGIN.to_wgs84(position[0], position[1], position[2])
            fix = GeoFix(
                stamp_ns=t_ns,
                latitude_deg=float(lat),
                longitude_deg=float(lon),
                altitude_m=float(alt),
                position_covariance=np.diag([0.02**2, 0.02**2, 0.05**2]),
                covariance_type=2,
                frame_id="gnss_link",
            )
            bag.write("/gnss/fix", t_ns, geofix_to_navsatfix(fix, bag.factory))
            odom = OdometrySample(
                stamp_ns=t_ns,
                frame_id="map",
                child_frame_id="base_link",
                pose_matrix=world_from_body,
                pose_covariance=np.eye(6) * 1e-4,
                twist_linear=np.array([SPEED_M_S, 0.0, 0.0]),
                twist_angular=np.zeros(3),
                twist_covariance=np.eye(6) * 1e-4,
            )
            bag.write("/odom", t_ns, sample_to_odometry(odom, bag.factory))
            tf = StampedTransform(t_ns, "map", "base_link", matrix=world_from_body)
            bag.write("/tf", t_ns, transforms_to_tf_message([tf], bag.factory))
        bag.custom_data["smartmine.sample"] = (
            f"origin_wgs84={ORIGIN.lat_deg},{ORIGIN.lon_deg},{ORIGIN.alt_m}; crs=EPSG:32644"
        )
        counts = dict(bag.counts)
    return counts
