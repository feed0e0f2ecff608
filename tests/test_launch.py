"""The launch files in launch/ and their parameter files, checked without ROS.

Each launch file must import without ROS (``launch``/``launch_ros`` only inside
``generate_launch_description``), name the processors it starts in ``NODES``, and have a
parameter file ``launch/params/<name>.yaml`` whose every value the processors accept
(``load_params_file`` + ``make_params``, so a misspelt parameter fails here) and ROS 2
accepts (typed values, no empty arrays). Where launch_ros and the installed package are
available (the Docker test stage) the launch descriptions are also built.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from smartmine.processor import load_params_file, make_params, processor_registry

REPO = Path(__file__).resolve().parents[1]
LAUNCH_DIR = REPO / "launch"
PARAMS_DIR = LAUNCH_DIR / "params"
PKG_DIR = REPO / "ros2_ws" / "src" / "smartmine_ros"
if str(PKG_DIR) not in sys.path:
    sys.path.insert(0, str(PKG_DIR))

from smartmine_ros.entry_points import processor_names  # noqa: E402
from smartmine_ros.params import check_ros_value, ros_params  # noqa: E402

LAUNCH_FILES = sorted(LAUNCH_DIR.glob("*.launch.py"))
ROS_ONLY = {"launch", "launch_ros", "ament_index_python", "rclpy"}
EXPECTED = {
    "open_pit_survey": {"gnss_to_pose", "image_rectify", "hsi_classifier", "mission_executor"},
    "drift_slam": {"image_rectify", "vision_to_px4", "slam"},
    "portal_processing": {
        "gnss_to_pose",
        "image_rectify",
        "hsi_classifier",
        "sfm_portal",
        "twin_publisher",
    },
}


def stem(path: Path) -> str:
    return path.name.removesuffix(".launch.py")


def load(path: Path) -> ModuleType:
    """Import a launch file by path, as ``ros2 launch`` does (no ROS needed here)."""
    name = f"launch_file_{stem(path)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ids(paths: list[Path]) -> list[str]:
    return [stem(p) for p in paths]


def test_the_launch_files_are_there() -> None:
    assert set(EXPECTED) <= set(ids(LAUNCH_FILES))


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=ids(LAUNCH_FILES))
def test_launch_file_imports_without_ros_and_names_its_nodes(path: Path) -> None:
    tree = ast.parse(path.read_text())
    top_level: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert not top_level & ROS_ONLY, f"{path.name} imports {sorted(top_level & ROS_ONLY)}"
    module = load(path)
    assert callable(module.generate_launch_description)
    assert isinstance(module.NODES, list) and module.NODES
    assert len(set(module.NODES)) == len(module.NODES)
    unknown = set(module.NODES) - set(processor_names())
    assert not unknown, f"{path.name}: NODES names unknown processors {sorted(unknown)}"
    if stem(path) in EXPECTED:
        assert set(module.NODES) == EXPECTED[stem(path)]


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=ids(LAUNCH_FILES))
def test_launch_file_uses_its_params_file(path: Path) -> None:
    module = load(path)
    expected = f"{stem(path)}.yaml"
    assert expected == module.PARAMS_FILE
    assert (PARAMS_DIR / module.PARAMS_FILE).is_file()
    function = next(
        n
        for n in ast.parse(path.read_text()).body
        if isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
    )
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    assert {"PARAMS_FILE", "NODES", "USE_SIM_TIME"} <= used
    assert "build_launch_description" in used, f"{path.name} builds its own description"
    builder = (PKG_DIR / "smartmine_ros" / "launching.py").read_text()
    for argument in ("params_file", "use_sim_time", "namespace"):
        assert f'"{argument}"' in builder, f"launching.py declares no {argument!r} argument"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=ids(LAUNCH_FILES))
def test_params_file_is_valid_for_every_node(path: Path) -> None:
    module = load(path)
    params_path = PARAMS_DIR / module.PARAMS_FILE
    data = yaml.safe_load(params_path.read_text())
    assert isinstance(data, dict)
    sections = {key.lstrip("/").split("/")[-1]: value for key, value in data.items()}
    assert set(sections) == {f"smartmine_{n}" for n in module.NODES}, (
        f"{params_path.name}: one section per node of {path.name}, no stale ones"
    )
    registry = processor_registry()
    for name in module.NODES:
        cls = registry[name]
        section = sections[f"smartmine_{name}"]
        assert set(section) == {"ros__parameters"}
        values = load_params_file(params_path, name)
        assert values == section["ros__parameters"]
        assert values, f"{params_path.name}: no parameters for {name}"
        params = make_params(cls, values, where=str(params_path))  # misspelt names fail
        cls(params)  # and what only the processor itself checks
        declared = {p.name: p for p in ros_params(cls)}
        for key, value in values.items():
            problem = check_ros_value(declared[key], value)
            assert problem is None, f"{params_path.name}: {problem}"


def test_open_pit_and_portal_use_utm_44n() -> None:
    for name in ("open_pit_survey", "portal_processing"):
        values = load_params_file(PARAMS_DIR / f"{name}.yaml", "gnss_to_pose")
        assert values["frame"] == "utm"
        assert values["utm_zone"] == 44  # East Kazakhstan: EPSG:32644
        assert values["utm_south"] is False


def test_sim_time_defaults() -> None:
    defaults = {stem(p): load(p).USE_SIM_TIME for p in LAUNCH_FILES}
    assert defaults == {
        "open_pit_survey": "false",
        "drift_slam": "false",
        "portal_processing": "true",  # bag replay
    }


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=ids(LAUNCH_FILES))
def test_launch_description_builds_with_ros(path: Path) -> None:
    pytest.importorskip("launch_ros", reason="launch_ros not installed (runs in the Docker image)")
    packages = pytest.importorskip("ament_index_python.packages")
    try:
        share = Path(packages.get_package_share_directory("smartmine_ros"))
    except packages.PackageNotFoundError:
        pytest.skip("smartmine_ros is not installed (source the colcon overlay)")
    from launch.actions import DeclareLaunchArgument
    from launch.launch_description import LaunchDescription
    from launch_ros.actions import Node

    module = load(path)
    description: Any = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert {"params_file", "use_sim_time", "namespace"} <= set(arguments)
    default = "".join(str(getattr(s, "text", s)) for s in arguments["params_file"].default_value)
    assert Path(default) == share / "params" / module.PARAMS_FILE
    assert Path(default).is_file()
    nodes = [e for e in description.entities if isinstance(e, Node)]
    assert len(nodes) == len(module.NODES)
