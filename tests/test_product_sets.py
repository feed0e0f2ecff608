"""Products made of several files land together or not at all (issue 17): ``hsi
calibrate``'s ``.img`` + ``.hdr`` and ``hsi train``'s ``.json`` + ``.png`` + ``.pt``.

A real process is killed -9 at the worst moment, between two renames of a set (the
moment is a few microseconds wide, so the child's ``os.replace`` kills it right after
moving the first member into place); the set it leaves is mixed (a new ``.img`` under
the old ``.hdr``), and the next run in that folder removes it and writes a whole one.
Also: the user's path, not the hidden temporary, in an error; the old camera-YAML
temporaries recognised as debris.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from spectral.io import envi

from hyperspectral.cube import open_cube
from hyperspectral.errors import HyperspectralError
from smartmine.atomic import (
    PARTIAL_MARK,
    atomic_set,
    clean_debris,
    is_debris,
    write_text_atomic,
)
from smartmine.cli import main

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO))

KILLED_AFTER_FIRST_MEMBER = """
    import os, signal, sys
    from pathlib import Path
    real_replace = os.replace

    def replace_then_die(src, dst):
        real_replace(src, dst)
        if "{mark}" not in Path(dst).parent.name:  # a member moved into its final place
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace_then_die
    from smartmine.cli import main
    sys.exit(main(sys.argv[1:]))
"""


def run_killed_between_renames(argv: list[str]) -> None:
    """``smartmine argv`` in a process killed -9 right after the first member of a set
    lands."""
    code = textwrap.dedent(KILLED_AFTER_FIRST_MEMBER).format(mark=PARTIAL_MARK)
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], env=ENV, capture_output=True, timeout=120
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def write_cube(path: Path, data: np.ndarray) -> Path:
    wavelengths = np.linspace(450, 2400, data.shape[2])
    envi.save_image(
        str(path),
        data.astype(np.float32),
        interleave="bil",
        metadata={"wavelength": [f"{w:.2f}" for w in wavelengths], "wavelength units": "nm"},
        force=True,
    )
    return path


def test_calibrate_killed_between_img_and_hdr_leaves_a_set_the_next_run_replaces(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    old = write_cube(tmp_path / "old.hdr", rng.uniform(0.1, 0.9, (6, 5, 8)))
    new = write_cube(tmp_path / "new.hdr", rng.uniform(0.1, 0.9, (9, 7, 8)))
    out = tmp_path / "out" / "refl.hdr"
    argv = ["hsi", "calibrate", "--drop-bad-bands", "--min-snr", "0", "--out", str(out)]
    reference = tmp_path / "reference.hdr"
    assert main([*argv[:2], str(new), *argv[2:-1], str(reference)]) == 0
    assert main([*argv[:2], str(old), *argv[2:]]) == 0
    run_killed_between_renames([*argv[:2], str(new), *argv[2:], "--overwrite"])
    # mixed: the new run's 9 x 7 pixels under the old run's 6 x 5 header
    with pytest.raises(HyperspectralError, match="bytes, but the header"):
        open_cube(out)
    assert [n for n in hidden(out.parent) if PARTIAL_MARK in n]
    assert main([*argv[:2], str(new), *argv[2:]]) == 0  # no --overwrite: the mix is debris
    assert sorted(p.name for p in out.parent.iterdir()) == ["refl.hdr", "refl.img"]
    assert out.with_suffix(".img").read_bytes() == reference.with_suffix(".img").read_bytes()


def test_train_killed_between_report_and_model_leaves_no_lone_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    classes = np.zeros((24, 12), np.int64)
    classes[:, 6:] = 1
    spectra = np.array([np.linspace(0.2, 0.6, 8), np.linspace(0.7, 0.3, 8)])
    write_cube(tmp_path / "cube.hdr", spectra[classes] + rng.normal(0, 0.01, (24, 12, 8)))
    np.save(tmp_path / "labels.npy", classes + 1)
    model = tmp_path / "models" / "m.pt"
    argv = ["hsi", "train", str(tmp_path / "cube.hdr"), "--labels", str(tmp_path / "labels.npy")]
    argv += ["--out", str(model), "--epochs", "1", "--patch", "3"]
    run_killed_between_renames(argv)
    assert model.with_suffix(".json").exists() and not model.exists()  # the lone report
    clean_debris(model.parent)  # what the next run does first
    assert list(model.parent.iterdir()) == []
    assert main(argv) == 0
    names = sorted(p.name for p in model.parent.iterdir())
    assert names == ["m.confusion.png", "m.json", "m.pt"]
    assert main(["hsi", "train", *argv[2:-6], "--out", str(tmp_path / "m.json")]) == 2


def test_a_set_that_fails_while_landing_is_removed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk on the second rename: the first member, already in place, goes too."""
    (tmp_path / "a.img").write_text("old data")
    (tmp_path / "a.hdr").write_text("old header")
    real_replace = os.replace

    def second_fails(src: str, dst: str) -> None:
        if str(dst).endswith(".hdr"):
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    members = [tmp_path / "a.img", tmp_path / "a.hdr"]
    with pytest.raises(OSError, match="No space"), atomic_set(members) as (img, hdr):
        img.write_text("new data")
        hdr.write_text("new header")
    assert list(tmp_path.iterdir()) == []


def test_a_set_is_only_written_when_every_member_was(tmp_path: Path) -> None:
    members = [tmp_path / "a.img", tmp_path / "a.hdr"]
    with pytest.raises(FileNotFoundError, match="nothing"), atomic_set(members) as (img, _):
        img.write_text("data without its header")
    assert list(tmp_path.iterdir()) == []
    apart = [tmp_path / "a.img", tmp_path / "sub" / "a.hdr"]
    with pytest.raises(ValueError, match="one folder"), atomic_set(apart):
        pass


@pytest.mark.parametrize("where", ["/proc/1/x.json", "/proc/1/sub/x.json"])
def test_an_unwritable_place_is_named_as_the_user_gave_it(where: str) -> None:
    with pytest.raises(OSError) as caught:
        write_text_atomic(where, "{}")
    assert caught.value.filename == where
    assert PARTIAL_MARK not in str(caught.value)


def test_the_old_camera_yaml_temporaries_are_debris(tmp_path: Path) -> None:
    old = [".camera.yaml.k2j4_x9z.tmp", ".left.yml.abcdefgh.tmp"]
    kept = [
        ".notes.txt.abcdefgh.tmp",  # not a YAML's
        "camera.yaml.abcdefgh.tmp",  # not hidden
        ".camera.yaml.abc.tmp",  # not mkstemp's eight characters
        ".camera.yaml.ABCDEFGH.tmp",  # nor its alphabet
        "camera.yaml",
    ]
    for name in old + kept:
        (tmp_path / name).write_text("x")
    assert all(is_debris(n) for n in old) and not any(is_debris(n) for n in kept)
    assert sorted(p.name for p in clean_debris(tmp_path)) == sorted(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


KILLED_AT_RENAME = """
    import os, signal, sys
    from pathlib import Path
    from smartmine.atomic import atomic_set
    real_replace, moved = os.replace, []

    def replace_then_die(src, dst):  # killed once {before} member(s) moved
        if {before} == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)
        moved.append(dst)
        if len(moved) == {before}:
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace_then_die
    folder = Path(sys.argv[1])
    with atomic_set([folder / "a.img", folder / "a.hdr"]) as (img, hdr):
        img.write_text("new data")
        hdr.write_text("new header")
"""


@pytest.mark.parametrize(
    ("moved", "left"),
    [(0, "old"), (1, None), (2, "new")],
    ids=["before-the-first", "between", "after-the-last"],
)
def test_a_set_killed_at_each_rename_is_whole_old_whole_new_or_gone(
    moved: int, left: str | None, tmp_path: Path
) -> None:
    (tmp_path / "a.img").write_text("old data")
    (tmp_path / "a.hdr").write_text("old header")
    code = textwrap.dedent(KILLED_AT_RENAME).format(before=moved)
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=ENV, timeout=60)
    assert done.returncode == -signal.SIGKILL
    clean_debris(tmp_path)
    if left is None:
        assert list(tmp_path.iterdir()) == []
    else:
        assert (tmp_path / "a.img").read_text() == f"{left} data"
        assert (tmp_path / "a.hdr").read_text() == f"{left} header"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hdr", "a.img"]
