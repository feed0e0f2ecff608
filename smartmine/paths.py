"""Output paths checked before any work, so a run that cannot write its product fails at
once, naming the path the user gave, and leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

from smartmine.errors import SmartmineError


def check_output_path(path: Path | str, option: str = "--out", *, folder: bool = True) -> None:
    """Refuse ``path`` when it cannot be written: an existing file where a folder is wanted
    (``folder``), an ancestor that is a file, or a nearest existing folder that refuses a
    new entry (read-only, ``/proc``, permissions). The probe entry is removed again."""
    target = Path(path)
    if target.exists():
        if folder and not target.is_dir():
            raise SmartmineError(f"{option} {target}: is a file, not a folder")
        if not folder and target.is_dir():
            raise SmartmineError(f"{option} {target}: is a folder, not a file")
    nearest = target if target.is_dir() else None
    for parent in target.parents:
        if nearest is not None:
            break
        if parent.exists():
            if not parent.is_dir():
                raise SmartmineError(f"{option} {target}: {parent} is a file, not a folder")
            nearest = parent
    if nearest is None:
        return
    try:
        Path(tempfile.mkdtemp(prefix=".smartmine-probe-", dir=nearest)).rmdir()
    except OSError as err:
        raise SmartmineError(
            f"{option} {target}: cannot write in {nearest} ({err.strerror or err})"
        ) from None
