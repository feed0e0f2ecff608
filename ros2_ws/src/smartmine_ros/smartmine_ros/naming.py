"""Names: node names, node-relative topics and ROS command-line arguments (no rclpy)."""

from __future__ import annotations

from collections.abc import Sequence

NODE_PREFIX = "smartmine_"


def node_name(processor: str) -> str:
    """Node name of a processor: ``gnss_to_pose`` -> ``smartmine_gnss_to_pose``."""
    return f"{NODE_PREFIX}{processor}"


def node_topic(port_topic: str) -> str:
    """The topic name a node uses for a port: the port's default topic made relative.

    ``/gnss/fix`` -> ``gnss/fix``: in the root namespace that is exactly ``/gnss/fix``;
    under a namespace (``namespace:=drone1``) it becomes ``/drone1/gnss/fix``. Standard
    remapping works on it either way (``--ros-args -r /gnss/fix:=/fix`` in the root
    namespace, ``-r gnss/fix:=/fix`` in any namespace).
    """
    return port_topic.lstrip("/")


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(user arguments, ROS arguments)`` of a command line without the program name.

    ROS arguments are those between ``--ros-args`` and ``--`` (or the end), as rcl reads
    them; there may be several such sections.
    """
    user: list[str] = []
    ros: list[str] = []
    in_ros = False
    for arg in argv:
        if arg == "--ros-args":
            in_ros = True
            ros.append(arg)
        elif in_ros and arg == "--":
            in_ros = False
            ros.append(arg)
        elif in_ros:
            ros.append(arg)
        else:
            user.append(arg)
    return user, ros
