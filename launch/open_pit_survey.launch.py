"""Open-pit survey flight, live: GNSS poses in UTM 44N and rectified colour images.

For a survey drone over an open pit in East Kazakhstan (78°E-84°E, UTM zone 44N,
EPSG:32644): ``gnss_to_pose`` turns the receiver's NavSatFix into poses and TF in UTM
44N and states the CRS on a latched topic; ``image_rectify`` undistorts the survey
camera's colour images for photogrammetry; ``mission_executor`` flies the survey plan
(``smartmine plan survey``) through MAVSDK: a plan path on ``mission/plan``, commands
(start, pause, resume, abort, land) on ``mission/command``, state and progress out.

    ros2 launch smartmine_ros open_pit_survey.launch.py
    ros2 launch smartmine_ros open_pit_survey.launch.py namespace:=drone1 \\
        gnss_fix_topic:=/ublox/fix \\
        image_topic:=/camera/camera/color/image_raw \\
        camera_info_topic:=/camera/camera/color/camera_info

Topics are node-relative, so ``namespace:=drone1`` puts them under ``/drone1``.
Remappings (launch argument -> node topic; the defaults leave the topics as they are):

    gnss_to_pose   in   gnss/fix                       <- gnss_fix_topic
                   out  gnss/pose  tf  gnss/crs (latched)
    image_rectify  in   camera/color/image_raw         <- image_topic
                   in   camera/color/camera_info       <- camera_info_topic
                   out  camera/color/image_rect  camera/color/camera_info_rect
    hsi_classifier in   hyperspectral/image_raw        <- hsi_topic
                   in   hyperspectral/wavelengths (latched)
                   out  hyperspectral/class_image  hyperspectral/heat_map
                        hyperspectral/class_names (latched)
    mission_executor in mission/plan  mission/command  gnss/pose (tick)
                   out  mission/state (latched)  mission/progress

Parameters: ``params/open_pit_survey.yaml`` (installed to share/smartmine_ros/params),
or ``params_file:=/path/to.yaml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launch.launch_description import LaunchDescription

NODES = ["gnss_to_pose", "image_rectify", "hsi_classifier", "mission_executor"]
"""Processors this launch file starts (node ``smartmine_<name>``, executable ``<name>``)."""

PARAMS_FILE = "open_pit_survey.yaml"
"""Default parameter file, in share/smartmine_ros/params (launch/params in the repository)."""

USE_SIM_TIME = "false"
"""Default of the ``use_sim_time`` argument: live flight, wall-clock time."""

TOPIC_ARGUMENTS = {
    "gnss_fix_topic": ("gnss_to_pose", "gnss/fix", "NavSatFix input of gnss_to_pose"),
    "image_topic": ("image_rectify", "camera/color/image_raw", "raw colour images"),
    "camera_info_topic": ("image_rectify", "camera/color/camera_info", "their CameraInfo"),
    "hsi_topic": ("hsi_classifier", "hyperspectral/image_raw", "hyperspectral cubes (32FC<bands>)"),
}
"""Launch argument -> (node, node topic it remaps, description); default: the node topic."""


def generate_launch_description() -> LaunchDescription:
    from smartmine_ros.launching import build_launch_description

    description: LaunchDescription = build_launch_description(
        NODES, PARAMS_FILE, USE_SIM_TIME, TOPIC_ARGUMENTS
    )
    return description
