"""Console entry points of smartmine_ros, generated from the processor registry (no rclpy).

``setup.py`` calls :func:`console_scripts`, so every installed processor gets its own
executable (``ros2 run smartmine_ros gnss_to_pose``) without a line per node anywhere:

    gnss_to_pose = smartmine_ros.main:main_gnss_to_pose
    image_rectify = smartmine_ros.main:main_image_rectify
    smartmine_node = smartmine_ros.main:main          # generic: takes the processor name

``main_<name>`` is provided by the module-level ``__getattr__`` of :mod:`smartmine_ros.main`.

The names are those of :func:`smartmine.processor.processor_registry`: the
``smartmine.processors`` entry points of the installed distributions. They are read from
the entry-point metadata without importing the processors, so building the package stays
fast and a processor that fails to import still gets its executable, which then says why
it cannot run.
"""

from __future__ import annotations

from collections.abc import Iterable

PACKAGE = "smartmine_ros"
GENERIC_EXECUTABLE = "smartmine_node"
PROCESSOR_GROUP = "smartmine.processors"
MAIN_MODULE = f"{PACKAGE}.main"


def processor_names() -> list[str]:
    """Names of the installed processors (entry-point metadata, nothing imported)."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=PROCESSOR_GROUP)})


def console_scripts(names: Iterable[str] | None = None) -> list[str]:
    """``console_scripts`` lines: the generic executable plus one per processor.

    Raises ``RuntimeError`` when there is no processor at all (smartmine is not installed
    in the Python that builds the package) and ``ValueError`` for a name that cannot be
    an executable and attribute name.
    """
    found = processor_names() if names is None else sorted(set(names))
    if not found:
        raise RuntimeError(
            f"no smartmine processors found (entry-point group {PROCESSOR_GROUP!r}): install "
            "smartmine into the Python that runs colcon, e.g. run colcon with the venv's "
            "python (see the Dockerfile)"
        )
    bad = [n for n in found if not n.isidentifier() or n == GENERIC_EXECUTABLE]
    if bad:
        raise ValueError(f"processor names that cannot be executables: {bad}")
    return [
        f"{GENERIC_EXECUTABLE} = {MAIN_MODULE}:main",
        *(f"{name} = {MAIN_MODULE}:main_{name}" for name in found),
    ]
