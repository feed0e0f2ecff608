"""The one launch-description builder behind every launch file in ``launch/``.

Each launch file only states what differs (processors, parameter file, sim-time default,
topic arguments); the arguments ``params_file``, ``use_sim_time`` and ``namespace`` and
the node construction are the same everywhere and live here. ROS imports stay inside the
function so launch files (and this module) import without ROS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

TopicArguments = Mapping[str, tuple[str, str, str]]
"""Launch argument -> (processor, node topic it remaps, description)."""


def build_launch_description(
    nodes: Sequence[str],
    params_file: str,
    use_sim_time: str,
    topic_arguments: TopicArguments,
) -> Any:
    """``LaunchDescription`` starting ``smartmine_<name>`` for each processor name."""
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
            default_value=str(share / "params" / params_file),
            description="ROS 2 parameter file of the nodes",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value=use_sim_time, description="use /clock time"
        ),
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the nodes and topics"
        ),
        *(
            DeclareLaunchArgument(arg, default_value=topic, description=text)
            for arg, (_, topic, text) in topic_arguments.items()
        ),
    ]
    sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)
    launched = [
        Node(
            package="smartmine_ros",
            executable=name,
            name=f"smartmine_{name}",
            namespace=LaunchConfiguration("namespace"),
            parameters=[LaunchConfiguration("params_file"), {"use_sim_time": sim_time}],
            remappings=[
                (topic, LaunchConfiguration(arg))
                for arg, (node, topic, _) in topic_arguments.items()
                if node == name
            ],
            output="screen",
            emulate_tty=True,
        )
        for name in nodes
    ]
    return LaunchDescription([*arguments, *launched])
