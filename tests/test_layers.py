"""The architecture of the brief, checked on the source: layers, no ROS in libraries.

Checked module by module (every ``import`` and ``from ... import``, lazy ones inside
functions included): the core imports none of the packages above it; a domain package
imports, besides itself, only the core, ``calibration.camera_model``, the hyperspectral
library (not its CLI commands or processors) and the mission plan model
``drone_missions.plan``; ``twin`` may import everything.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = "smartmine"
DOMAIN = ["calibration", "hyperspectral", "mapping", "drone_missions", "simulator"]
TOP = "twin"
PACKAGES = [CORE, *DOMAIN, TOP]
SHARED_MODULES = {"calibration.camera_model", "drone_missions.plan"}
"""Domain modules every domain package may use (besides the core and the HSI library)."""
ROS_ONLY = {"rclpy", "rosidl_runtime_py", "launch", "launch_ros", "ament_index_python"}


def _entry_point_modules() -> set[str]:
    """Modules registered as CLI commands or processors (not library: no one imports them)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = project.get("entry-points", {})
    return {
        target.split(":")[0]
        for group in ("smartmine.commands", "smartmine.processors")
        for target in groups.get(group, {}).values()
    }


def is_hyperspectral_library(module: str, front_ends: set[str]) -> bool:
    if module != "hyperspectral" and not module.startswith("hyperspectral."):
        return False
    return not any(
        module == m or module.startswith(m + ".") for m in {*front_ends, "hyperspectral.commands"}
    )


def _is_module(dotted: str) -> bool:
    path = REPO.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in ``path``; ``from pkg import mod``
    counts as ``pkg.mod`` when ``mod`` is a module of ours."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            if node.module.split(".")[0] in PACKAGES and all(_is_module(s) for s in subs):
                found += [(node.lineno, s) for s in subs]
            else:
                found.append((node.lineno, node.module))
    return sorted(found)


def allowed(package: str, module: str, front_ends: set[str]) -> bool:
    """May ``package`` import our ``module``?"""
    top = module.split(".")[0]
    if top in (package, CORE) or package == TOP:
        return True
    if package == CORE:
        return False
    return any(
        module == m or module.startswith(m + ".") for m in SHARED_MODULES
    ) or is_hyperspectral_library(module, front_ends)


def violations(package: str) -> list[str]:
    front_ends = _entry_point_modules()
    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        for line, module in imported_modules(path):
            where = f"{path.relative_to(REPO)}:{line}"
            top = module.split(".")[0]
            if top in PACKAGES and not allowed(package, module, front_ends):
                out.append(f"{where} imports {module}")
            if top in ROS_ONLY:
                out.append(f"{where} imports ROS-only {module}")
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_layers_below(package: str) -> None:
    found = violations(package)
    assert not found, "layer violations (see tests/test_layers.py):\n" + "\n".join(found)


def test_layer_rule_names_the_offending_import(tmp_path: Path) -> None:
    front_ends = _entry_point_modules()
    assert allowed("simulator", "calibration.camera_model", front_ends)
    assert allowed("mapping", "hyperspectral.spectra", front_ends)
    assert allowed("simulator", "drone_missions.plan", front_ends)
    assert allowed("twin", "simulator.writer", front_ends)
    assert not allowed("simulator", "calibration.io", front_ends)
    assert not allowed("mapping", "hyperspectral.commands", front_ends)
    assert not allowed("hyperspectral", "mapping.gnss_to_pose", front_ends)
    assert not allowed("smartmine", "calibration.camera_model", front_ends)
    assert not allowed("calibration", "drone_missions", front_ends)
    src = tmp_path / "x.py"
    src.write_text(
        "from calibration import camera_model, io\n"
        "def f():\n    from simulator.scene import Scene\n    import calibration\n"
    )
    assert imported_modules(src) == [
        (1, "calibration.camera_model"),
        (1, "calibration.io"),
        (3, "simulator.scene"),
        (4, "calibration"),
    ]


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
