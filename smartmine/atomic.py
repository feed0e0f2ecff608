"""Write-then-rename, so a failed or interrupted run never leaves half a product.

Every product is built under a temporary sibling name (same directory, so the final
``os.replace`` is atomic on one filesystem) and renamed into place only once complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PARTIAL_MARK = ".partial-"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(final: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path (not yet existing) that becomes ``final`` on success.

    The caller may create a file or a directory there. On any exception the
    temporary is removed and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final.name}{PARTIAL_MARK}", dir=final.parent))
    tmp = tmp_dir / final.name
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        if final.exists():
            if not overwrite:
                raise FileExistsError(f"{final} exists already")
            _remove(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write a small text file atomically, replacing any previous version."""
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    """Write a small binary file atomically, replacing any previous version."""
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(data)
    return Path(path)
