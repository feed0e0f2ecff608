"""Write-then-rename, so a failed or interrupted run never leaves half a product.

Every product is built under a temporary sibling name (same directory, so the final
``os.replace`` is atomic on one filesystem) and renamed into place only once complete.

A run killed outright (kill -9, power loss) cannot remove its temporary: it stays as a
hidden ``.NAME.partial-PID-START-XXXX`` next to where the product would have gone. The
owner's process id and start time (clock ticks since boot, from ``/proc``) are in the
name, so the next run that writes into the same folder tells debris from a live
concurrent run's temporary: :func:`atomic_path` (and every writer built on
:func:`partial_dir`) first removes, once per process and folder, each ``.partial-``
entry whose owner is gone (:func:`clean_debris`). SQLite side files (``-wal``,
``-journal``) of a database built inside such a temporary go with it; those next to a
finished database are SQLite's own crash recovery and are left to it.

A product made of several files (an ENVI ``.hdr`` + ``.img``, a model's ``.pt`` +
``.json`` + ``.png``) is written with :func:`atomic_set`: every member is built in one
temporary folder, which then gets a manifest naming the members before they are renamed
into place one by one, the member a reader opens first last. A run killed between two
renames leaves that folder as debris, and removing it (:func:`clean_debris`) removes the
members its manifest names too when some of them had moved and some not: a mixed set (a
new ``.img`` under an old ``.hdr``) never outlives the next run that writes there, and a
set the kill left whole (old or new) stays.

The camera-YAML writer before issue 17 left ``.NAME.yaml.XXXXXXXX.tmp`` (``mkstemp``) on
a kill: those count as debris too (:data:`LEGACY_YAML_TMP`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

PARTIAL_MARK = ".partial-"
LEGACY_TILES_MARK = ".tiles-"
"""hyperspectral.outputs.TiledGeoTiff's temporaries before they were named for an owner."""
LEGACY_YAML_TMP = re.compile(r"\.(?P<target>.+\.ya?ml)\.[a-z0-9_]{8}\.tmp")
"""smartmine.msgs.camera's YAML temporaries before issue 17 (``tempfile.mkstemp`` with
prefix ``.NAME.`` and suffix ``.tmp``): only that exact pattern, for a ``.yaml``."""
SET_MANIFEST = "set-members.json"
"""In an :func:`atomic_set` temporary folder once its members start moving into place:
the names of the whole set, all removed with the folder when its owner is gone."""
_OWNER = re.compile(re.escape(PARTIAL_MARK) + r"(\d+)-(\d+)-")
_CLEANED: set[tuple[int, str]] = set()
"""(process id, folder) pairs already cleaned: a folder is scanned once per process."""
_CLEANED_LOCK = threading.Lock()


def _remove(path: Path) -> list[Path]:
    """Remove ``path``; for a temporary folder of an interrupted :func:`atomic_set`, the
    members its manifest names too (returned with it)."""
    removed = [path]
    if path.is_dir() and not path.is_symlink():
        removed += _remove_set_members(path)
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return removed


def _remove_set_members(tmp_dir: Path) -> list[Path]:
    """The members named by ``tmp_dir``'s set manifest, removed from its parent when the
    set there is mixed: some members moved into place, some not (still in ``tmp_dir``).
    When none moved the old set is whole, when all did the new one is: both are kept."""
    try:
        names = json.loads((tmp_dir / SET_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # no manifest (or cut short: written before any member moved)
    if not isinstance(names, list):
        return []
    plain = [n for n in names if isinstance(n, str) and n and Path(n).name == n]
    # (only plain names of the same folder, never a path elsewhere)
    waiting = sum((tmp_dir / n).exists() for n in plain)
    if waiting in (0, len(plain)):
        return []
    removed: list[Path] = []
    for name in plain:
        member = tmp_dir.parent / name
        if member.exists() or member.is_symlink():
            _remove(member)
            removed.append(member)
    return removed


def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/PID/stat`` field 22),
    so a reused process id is not taken for the original; None where it does not exist
    (or where there is no ``/proc``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces or ')'
    return int(fields[19])


def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def owner_tag() -> str:
    """``PID-START`` of this process, as written into its temporaries' names."""
    pid = os.getpid()
    if pid not in _TAGS:  # (a forked child has its own)
        _TAGS[pid] = f"{pid}-{process_start_ticks(pid) or 0}"
    return _TAGS[pid]


_TAGS: dict[int, str] = {}


def owner_alive(pid: int, start_ticks: int) -> bool:
    """Is the process that wrote ``PID-START`` into a temporary's name still running?"""
    if not _has_proc():  # no start times to compare: the process id alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return process_start_ticks(pid) == start_ticks


def is_debris(name: str) -> bool:
    """A hidden ``.partial-`` entry whose owner process is gone. Names without an owner
    (the ``.NAME.partial-XXXX``, the GeoTIFF tiles' ``.NAME.tiles-XXXX`` and the camera
    YAML's ``.NAME.yaml.XXXXXXXX.tmp`` of versions before issue 17) count as debris."""
    if name.startswith(".") and LEGACY_TILES_MARK in name:
        return True
    if LEGACY_YAML_TMP.fullmatch(name):
        return True
    if not name.startswith(".") or PARTIAL_MARK not in name:
        return False
    owner = _OWNER.search(name)
    return owner is None or not owner_alive(int(owner[1]), int(owner[2]))


def clean_debris(folder: Path | str, *, recursive: bool = False) -> list[Path]:
    """Remove the debris (:func:`is_debris`) in ``folder`` (and its subfolders when
    ``recursive``); returns what was removed. A live run's temporaries are kept."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        path = Path(entry.path)
        if is_debris(entry.name):
            removed += _remove(path)
        elif recursive and entry.is_dir(follow_symlinks=False):
            removed += clean_debris(path, recursive=True)
    return removed


def clean_debris_once(folder: Path) -> None:
    """:func:`clean_debris` the first time this process writes into ``folder``."""
    key = (os.getpid(), str(Path(folder).absolute()))
    with _CLEANED_LOCK:
        if key in _CLEANED:
            return
        _CLEANED.add(key)
    clean_debris(folder)


def partial_dir(final: str | os.PathLike[str]) -> Path:
    """A new hidden temporary folder next to ``final`` (its parent made if missing),
    named for this process so that it is debris once the process is gone; the folder's
    old debris is removed first."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_debris_once(final.parent)
        prefix = f".{final.name}{PARTIAL_MARK}{owner_tag()}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    except OSError as err:
        raise _naming(final, err) from err


def _naming(final: Path, err: OSError) -> OSError:
    """``err`` about ``final``, the path the user gave, not the hidden temporary next to it
    (``/proc/1/x: No such file or directory``, not ``/proc/1/.x.partial-…``); a parent
    folder that could not be made stays named in the reason."""
    reason = err.strerror or str(err)
    culprit = err.filename
    if culprit is not None and PARTIAL_MARK not in str(culprit) and Path(culprit) != final:
        reason = f"{reason} ({culprit})"
    return OSError(err.errno, reason, str(final))


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path (not yet existing) that becomes ``final`` on success.

    The caller may create a file or a directory there. On any exception the
    temporary is removed and ``final`` is left as it was.
    """
    final = Path(final)
    tmp_dir = partial_dir(final)
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


@contextlib.contextmanager
def atomic_set(
    finals: Sequence[str | os.PathLike[str]], *, overwrite: bool = True
) -> Iterator[list[Path]]:
    """Yield one temporary path per member of a product made of several files in one
    folder (same names, in one temporary folder); on success they all replace
    ``finals``, in the order given: put last the member a reader opens first (the
    ``.hdr`` of an ENVI image, the ``.pt`` of a model), so that it never names data that
    is not there yet. Before the first rename the temporary folder gets a manifest of the
    set, so a run killed between renames leaves debris whose removal takes the mixed set
    with it (module doc). On an exception nothing is renamed; one during the renames
    (a full disk) after the first removes the whole set: it is there whole or not at all.
    """
    paths = [Path(f) for f in finals]
    names = {p.name for p in paths}
    if len({p.parent.absolute() for p in paths}) != 1 or len(names) != len(paths):
        raise ValueError(f"atomic_set: members of one folder with distinct names, not {paths}")
    if SET_MANIFEST in names:
        raise ValueError(f"atomic_set: {SET_MANIFEST} is the manifest's name")
    tmp_dir = partial_dir(paths[-1])
    tmps = [tmp_dir / p.name for p in paths]
    try:
        yield tmps
        for tmp in tmps:
            if not tmp.exists():
                raise FileNotFoundError(f"nothing was written to {tmp}")
        if not overwrite:
            for final in paths:
                if final.exists():
                    raise FileExistsError(f"{final} exists already")
        manifest = tmp_dir / SET_MANIFEST
        manifest.write_text(json.dumps([p.name for p in paths]), encoding="utf-8")
        try:
            for tmp, final in zip(tmps, paths, strict=True):
                if final.is_dir() and not final.is_symlink():
                    _remove(final)
                os.replace(tmp, final)
        except BaseException:
            _remove_set_members(tmp_dir)  # (some moved: none stays; none moved: the old set)
            raise
        manifest.unlink()
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a small text file atomically, replacing any previous version."""
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write a small binary file atomically, replacing any previous version."""
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(data)
    return Path(path)
