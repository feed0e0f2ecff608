"""Drift SLAM, live underground: rectified RGB-D colour images for SLAM (no GNSS).

For a robot in a GPS-denied drift: there is no GNSS underground, so only
``image_rectify`` runs; it undistorts the colour stream of the robot's RGB-D camera
(e.g. a RealSense D435/D455) so that SLAM and mapping see pinhole images. ``alpha: 0.0``
in the parameter file keeps only valid pixels (no black borders for feature tracking).

    ros2 launch smartmine_ros drift_slam.launch.py
    ros2 launch smartmine_ros drift_slam.launch.py namespace:=robot1 \\
        image_topic:=/camera/camera/color/image_raw \\
        camera_info_topic:=/camera/camera/color/camera_info

Topics are node-relative, so ``namespace:=robot1`` puts them under ``/robot1``.
Remappings (launch argument -> node topic; the defaults leave the topics as they are):

    image_rectify  in   camera/color/image_raw         <- image_topic
                   in   camera/color/camera_info       <- camera_info_topic
                   out  camera/color/image_rect  camera/color/camera_info_rect

Parameters: ``params/drift_slam.yaml`` (installed to share/smartmine_ros/params), or
``params_file:=/path/to.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launch.launch_description import LaunchDescription

NODES = ["image_rectify"]
"""Processors this launch file starts (node ``smartmine_<name>``, executable ``<name>``)."""

PARAMS_FILE = "drift_slam.yaml"
"""Default parameter file, in share/smartmine_ros/params (launch/params in the repository)."""

USE_SIM_TIME = "false"
"""Default of the ``use_sim_time`` argument: live robot, wall-clock time."""

TOPIC_ARGUMENTS = {
    "image_topic": ("image_rectify", "camera/color/image_raw", "raw colour images"),
    "camera_info_topic": ("image_rectify", "camera/color/camera_info", "their CameraInfo"),
}
"""Launch argument -> (node, node topic it remaps, description); default: the node topic."""


def generate_launch_description() -> LaunchDescription:
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description import LaunchDescription
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node
    from launch_ros.parameter_descriptions import ParameterValue

    share = Path(get_package_share_directory("smartmine_ros"))
    arguments = [
        DeclareLaunchArgument(
            "params_file",
            default_value=str(share / "params" / PARAMS_FILE),
            description="ROS 2 parameter file of the nodes",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value=USE_SIM_TIME, description="use /clock time"
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the nodes and topics"
        ),
        *(
            DeclareLaunchArgument(arg, default_value=topic, description=text)
            for arg, (_, topic, text) in TOPIC_ARGUMENTS.items()
        ),
    ]
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    nodes = [
        Node(
            package="smartmine_ros",
            executable=name,
            name=f"smartmine_{name}",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
            remappings=[
                (topic, LaunchConfiguration(arg))
                for arg, (node, topic, _) in TOPIC_ARGUMENTS.items()
                if node == name
            ],
            output="screen",
            emulate_tty=True,
        )
        for name in NODES
    ]
    return LaunchDescription([*arguments, *nodes])
