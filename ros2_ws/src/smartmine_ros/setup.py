"""Build script of the ament_python package smartmine_ros (run by ``colcon build``).

- Executables: generated from the processor registry, one per installed processor plus
  the generic ``smartmine_node`` (:func:`smartmine_ros.entry_points.console_scripts`).
  smartmine must therefore be importable by the Python that runs colcon; the Dockerfile
  runs colcon with the venv's interpreter for that reason.
- Launch and parameter files: they live in the repository's top-level ``launch/``
  directory (tests import them from there). ``launch`` next to this file is a relative
  symlink to it (``../../../launch``), so the data files below are plain relative paths
  inside the package, as colcon requires (an ``../`` path would escape the build
  directory under ``--symlink-install``). They are installed to
  ``share/smartmine_ros/launch`` and ``share/smartmine_ros/params``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from smartmine_ros.entry_points import PACKAGE, console_scripts  # noqa: E402


def package_files(pattern: str) -> list[str]:
    """Files matching ``pattern`` under this directory, as relative POSIX paths."""
    return sorted(p.relative_to(HERE).as_posix() for p in HERE.glob(pattern) if p.is_file())


LAUNCH_FILES = package_files("launch/*.launch.py")
PARAM_FILES = package_files("launch/params/*.yaml")
if not LAUNCH_FILES:
    print(
        f"warning: {PACKAGE}: no launch files found under {HERE / 'launch'} "
        "(the symlink to the repository's launch/ directory is missing or broken)",
        file=sys.stderr,
    )

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", LAUNCH_FILES),
        (f"share/{PACKAGE}/params", PARAM_FILES),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="Smart Mining+ field stack team",
    maintainer_email="smartmine@example.com",
    description="Every smartmine processor as a ROS 2 node, through one generic rclpy adapter",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={"console_scripts": console_scripts()},
)
