"""Drift SLAM, live underground: rectified RGB-D colour images for SLAM (no GNSS).

For a robot in a GPS-denied drift: there is no GNSS underground, so only
``image_rectify`` runs; it undistorts the colour stream of the robot's RGB-D camera
(e.g. a RealSense D435/D455) so that SLAM and mapping see pinhole images. ``alpha: 0.0``
in the parameter file keeps only valid pixels (no black borders for feature tracking).
For a drone, ``vision_to_px4`` feeds the SLAM pose (ENU/FLU) to PX4 as a vision position
estimate (NED/FRD) through MAVSDK, and warns when it arrives slower than 30 Hz.

    ros2 launch smartmine_ros drift_slam.launch.py
    ros2 launch smartmine_ros drift_slam.launch.py namespace:=robot1 \\
        image_topic:=/camera/camera/color/image_raw \\
        camera_info_topic:=/camera/camera/color/camera_info

Topics are node-relative, so ``namespace:=robot1`` puts them under ``/robot1``.
Remappings (launch argument -> node topic; the defaults leave the topics as they are):

    image_rectify  in   camera/color/image_raw         <- image_topic
                   in   camera/color/camera_info       <- camera_info_topic
                   out  camera/color/image_rect  camera/color/camera_info_rect
    vision_to_px4  in   slam/pose                      <- slam_pose_topic
                   out  px4/vision_pose_ned  px4/vision_status (latched)

Parameters: ``params/drift_slam.yaml`` (installed to share/smartmine_ros/params), or
``params_file:=/path/to.yaml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launch.launch_description import LaunchDescription

NODES = ["image_rectify", "vision_to_px4"]
"""Processors this launch file starts (node ``smartmine_<name>``, executable ``<name>``)."""

PARAMS_FILE = "drift_slam.yaml"
"""Default parameter file, in share/smartmine_ros/params (launch/params in the repository)."""

USE_SIM_TIME = "false"
"""Default of the ``use_sim_time`` argument: live robot, wall-clock time."""

TOPIC_ARGUMENTS = {
    "image_topic": ("image_rectify", "camera/color/image_raw", "raw colour images"),
    "camera_info_topic": ("image_rectify", "camera/color/camera_info", "their CameraInfo"),
    "slam_pose_topic": ("vision_to_px4", "slam/pose", "SLAM pose (PoseStamped, ENU/FLU)"),
}
"""Launch argument -> (node, node topic it remaps, description); default: the node topic."""


def generate_launch_description() -> LaunchDescription:
    from smartmine_ros.launching import build_launch_description

    description: LaunchDescription = build_launch_description(
        NODES, PARAMS_FILE, USE_SIM_TIME, TOPIC_ARGUMENTS
    )
    return description
