"""Tests of the installed package, run by ``colcon test`` (ROS environment and overlay sourced).

The repository's own tests (``tests/test_ros_package.py``, ``tests/test_launch.py``,
``tests/test_rclpy_adapter.py``) check the sources; these check what ``colcon build``
installed: the ament index entry, the launch and parameter files, one working executable
per processor, and the manifest against the REP 149 schema.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE.parent
PACKAGE = "smartmine_ros"


@pytest.fixture(scope="module")
def share() -> Path:
    packages = pytest.importorskip("ament_index_python.packages")
    try:
        return Path(packages.get_package_share_directory(PACKAGE))
    except packages.PackageNotFoundError:
        pytest.fail(f"{PACKAGE} is not in the ament index: source install/setup.bash first")


@pytest.fixture(scope="module")
def prefix() -> Path:
    packages = pytest.importorskip("ament_index_python.packages")
    return Path(packages.get_package_prefix(PACKAGE))


def test_manifest_validates_against_rep149_schema() -> None:
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(str(HERE / "package_format3.xsd")))
    manifest = etree.parse(str(PACKAGE_DIR / "package.xml"))
    assert schema.validate(manifest), str(schema.error_log)


def test_launch_and_params_files_are_installed(share: Path) -> None:
    assert (share / "package.xml").is_file()
    launch_files = sorted(p.name for p in (share / "launch").glob("*.launch.py"))
    params = sorted(p.name for p in (share / "params").glob("*.yaml"))
    assert launch_files, f"no launch files under {share / 'launch'}"
    assert [n.removesuffix(".launch.py") for n in launch_files] == [
        n.removesuffix(".yaml") for n in params
    ]


def test_every_processor_has_a_working_executable(prefix: Path) -> None:
    from smartmine.processor import processor_registry

    lib = prefix / "lib" / PACKAGE
    registry = processor_registry()
    assert registry
    for name, cls in registry.items():
        exe = lib / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"missing executable {exe}"
        out = subprocess.run(
            [str(exe), "--help"], capture_output=True, text=True, timeout=120, check=False
        )
        assert out.returncode == 0, out.stderr[-2000:]
        for port in (*cls.inputs, *cls.outputs):
            assert port.msgtype in out.stdout
        assert f"smartmine_{name}" in out.stdout
    generic = lib / "smartmine_node"
    out = subprocess.run(
        [str(generic), "--list"], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for name in registry:
        assert name in out.stdout
