#!/usr/bin/env bash
# Entrypoint of the smartmine image: ROS 2 Jazzy, the smartmine_ros overlay and the
# smartmine venv, then the command (default: bash).
#
#   docker run --rm -it smartmine:jazzy ros2 launch smartmine_ros open_pit_survey.launch.py
#
# Order matters: the overlay's setup.bash chains /opt/ros/jazzy (PYTHONPATH with rclpy and
# the message packages, AMENT_PREFIX_PATH with smartmine_ros); the venv comes last so
# `python`, `smartmine` and `pytest` are the venv's. The venv was created with
# --system-site-packages and the node executables' shebang is the venv's python, so
# nodes see both rclpy (/opt/ros) and smartmine with torch (venv).
set -e

# shellcheck disable=SC1091
source "/opt/ros/${ROS_DISTRO:-jazzy}/setup.bash" --
# shellcheck disable=SC1091
source "${SMARTMINE_WS:-/opt/smartmine/ws}/install/setup.bash" --
# shellcheck disable=SC1091
source "${SMARTMINE_VENV:-/opt/smartmine/venv}/bin/activate"

exec "$@"
