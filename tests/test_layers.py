"""The architecture of DEVELOPERS.md, checked on the source: layers, no ROS in libraries."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = "smartmine"
DOMAIN = ["calibration", "hyperspectral", "mapping", "drone_missions", "simulator"]
TOP = "twin"
# what each package may import of ours (besides itself)
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "calibration": {CORE},
    "hyperspectral": {CORE, "calibration"},
    "mapping": {CORE, "calibration", "hyperspectral"},
    "drone_missions": {CORE, "calibration"},
    "simulator": {CORE, "calibration", "hyperspectral"},
    TOP: {CORE, *DOMAIN},
}
ROS_ONLY = {"rclpy", "rosidl_runtime_py", "launch", "launch_ros", "ament_index_python"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", list(ALLOWED))
def test_package_imports_only_layers_below(package: str) -> None:
    ours = set(ALLOWED)
    for path in sorted((REPO / package).rglob("*.py")):
        found = imports_of(path)
        forbidden = (found & ours) - ALLOWED[package] - {package}
        assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"
        ros = found & ROS_ONLY
        assert not ros, f"{path.relative_to(REPO)} imports ROS-only {sorted(ros)}"


def test_help_is_fast_and_lazy() -> None:
    """``smartmine --help`` must not import the heavy libraries."""
    code = (
        "import sys; from smartmine.cli import build_parser; build_parser(); "
        "heavy = {'torch', 'open3d', 'cv2', 'pycolmap', 'rosbags', 'rasterio', 'numpy'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(
    shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
    reason="ruff not installed (pip install -e '.[test]')",
)
def test_ruff_clean() -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", str(REPO)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_mypy_strict_clean() -> None:
    pytest.importorskip("mypy", reason="mypy not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:]
