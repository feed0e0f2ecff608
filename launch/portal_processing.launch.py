"""Portal processing: replay a recorded bag through image_rectify and gnss_to_pose.

At the mine portal (adit entrance) the surface GNSS survey meets the underground
network. This launch file reprocesses a bag recorded there with ``use_sim_time:=true``
(default here), so the nodes run on the bag's clock:

    ros2 launch smartmine_ros portal_processing.launch.py
    ros2 bag play portal_2024-06-12 --clock            # in a second terminal
    ros2 bag record -o portal_processed /gnss/pose /gnss/crs /tf \\
        /camera/color/image_rect /camera/color/camera_info_rect

A bag recorded with other topic names is remapped with the arguments below, e.g.
``gnss_fix_topic:=/ublox/fix image_topic:=/camera/camera/color/image_raw
camera_info_topic:=/camera/camera/color/camera_info``. Topics are node-relative, so
``namespace:=...`` moves them under that namespace.

    gnss_to_pose   in   gnss/fix                       <- gnss_fix_topic
                   out  gnss/pose  tf  gnss/crs (latched)
    image_rectify  in   camera/color/image_raw         <- image_topic
                   in   camera/color/camera_info       <- camera_info_topic
                   out  camera/color/image_rect  camera/color/camera_info_rect
    hsi_classifier in   hyperspectral/image_raw        <- hsi_topic
                   in   hyperspectral/wavelengths (latched)
                   out  hyperspectral/class_image  hyperspectral/heat_map
                        hyperspectral/class_names (latched)
    sfm_portal     in   sfm/request (String: a finished bag or image folder)  <- sfm_request_topic
                   out  sfm/products (latched JSON)  sfm/preview (latched PointCloud2)
    twin_publisher in   twin/run_finished (String: a finished run folder)     <- twin_run_topic
                   out  twin/publish_status (latched JSON: ok/failed, item)

``sfm_portal`` runs photogrammetry (``smartmine sfm``) on each path sent to sfm/request:
    ros2 topic pub --once /sfm/request std_msgs/msg/String "{data: /data/flight_0612}"

``twin_publisher`` publishes each finished run folder (``smartmine reprocess --out``) sent
to twin/run_finished into the twin's catalog (``smartmine publish``; served by
``smartmine twin serve``):
    ros2 topic pub --once /twin/run_finished std_msgs/msg/String "{data: /data/runs/0612}"

Parameters: ``params/portal_processing.yaml`` (installed to share/smartmine_ros/params),
or ``params_file:=/path/to.yaml``. For offline processing without ROS see
``smartmine node run`` (same processors, same parameter file).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launch.launch_description import LaunchDescription

NODES = ["gnss_to_pose", "image_rectify", "hsi_classifier", "sfm_portal", "twin_publisher"]
"""Processors this launch file starts (node ``smartmine_<name>``, executable ``<name>``)."""

PARAMS_FILE = "portal_processing.yaml"
"""Default parameter file, in share/smartmine_ros/params (launch/params in the repository)."""

USE_SIM_TIME = "true"
"""Default of the ``use_sim_time`` argument: bag replay on the bag's clock (play --clock)."""

TOPIC_ARGUMENTS = {
    "gnss_fix_topic": ("gnss_to_pose", "gnss/fix", "NavSatFix input of gnss_to_pose"),
    "image_topic": ("image_rectify", "camera/color/image_raw", "raw colour images"),
    "camera_info_topic": ("image_rectify", "camera/color/camera_info", "their CameraInfo"),
    "hsi_topic": ("hsi_classifier", "hyperspectral/image_raw", "hyperspectral cubes (32FC<bands>)"),
    "sfm_request_topic": ("sfm_portal", "sfm/request", "paths (String) of bags/folders for SfM"),
    "twin_run_topic": ("twin_publisher", "twin/run_finished", "finished run folders to publish"),
}
"""Launch argument -> (node, node topic it remaps, description); default: the node topic."""


def generate_launch_description() -> LaunchDescription:
    from smartmine_ros.launching import build_launch_description

    description: LaunchDescription = build_launch_description(
        NODES, PARAMS_FILE, USE_SIM_TIME, TOPIC_ARGUMENTS
    )
    return description
