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


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never run)."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for stmt in node.body
        for inner in ast.walk(stmt)
    }


def imported_modules(path: Path, *, runtime_only: bool = False) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in ``path``; ``from pkg import mod``
    counts as ``pkg.mod`` when ``mod`` is a module of ours. ``runtime_only`` leaves out
    the imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_only(tree) if runtime_only else set()
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Our module -> our modules it imports when run (lazy imports inside functions too;
    not those under ``if TYPE_CHECKING:``)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            deps = graph.setdefault(_module_name(path), set())
            for _, module in imported_modules(path, runtime_only=True):
                while module and not _is_module(module):  # `from m import name`
                    module = module.rpartition(".")[0]
                if module and module.split(".")[0] in PACKAGES:
                    deps.add(module)
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each cycle once (depth-first, from the module where it is first met).

    A package's ``__init__`` imported by its own modules is not counted: Python loads
    the package first either way."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if node.startswith(dep + "."):
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_library_modules_do_not_import_command_line_modules() -> None:
    """Flight, planning and every library module work without the CLI: only command-line
    modules (``commands``, ``cli*``, ``nodecli``) import command-line modules."""

    def is_cli(module: str) -> bool:
        last = module.rsplit(".", 1)[-1]
        return last in {"commands", "cli", "nodecli", "__main__"} or last.startswith("cli_")

    found = [
        f"{module} imports {dep}"
        for module, deps in import_graph().items()
        if not is_cli(module)
        for dep in deps
        if is_cli(dep)
    ]
    assert not found, "\n".join(found)


def test_cycle_finder_sees_a_lazy_cycle() -> None:
    graph = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a": set(), "a.w": {"a"}}
    assert import_cycles(graph) == [["a.x", "a.y", "a.z", "a.x"]]


def test_no_import_cycles_not_even_inside_a_package() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
