"""smartmine_ros: every smartmine processor as a ROS 2 node, through one generic adapter.

Modules free of rclpy (importable by setup.py and by the repository's tests without ROS):
``naming``, ``entry_points``, ``qos``, ``params``, ``fields``, ``factory`` and ``main``
(which imports rclpy only when a node starts). ``adapter`` holds the rclpy node.
"""
