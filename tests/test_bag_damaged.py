"""``bag export --all`` of an MCAP bag damaged midway (issue 17): every topic is tried;
those whose messages can all be read are exported whole, each damaged topic is named
with the time the damage starts, no partial product stays, and the exit is 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartmine.bagio.reader import BagReader
from smartmine.cli import main


def test_a_bag_damaged_midway_exports_what_is_whole_and_names_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "run.mcap"
    assert main(["bag", "sample", str(bag), "--frames", "30"]) == 0
    data = bytearray(bag.read_bytes())
    start = int(len(data) * 0.6)
    data[start : start + 20000] = bytes(20000)  # a zeroed stretch, as a bad sector leaves
    damaged = tmp_path / "damaged.mcap"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["bag", "export", str(damaged), "--all", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "corrupted or truncated after t=" in error[0]
    assert "'/camera/color/image_raw'" in error[0]
    written = sorted(p.name for p in out.iterdir())
    assert written and not [n for n in written if n.startswith(".")]
    with BagReader(bag) as whole:
        counts = {t: s.count for t, s in whole.topics.items()}
    assert "imu__data.csv" in written  # in chunks of its own, before and after the damage
    rows = (out / "imu__data.csv").read_text().splitlines()
    assert len(rows) - 1 == counts["/imu/data"]  # complete, header + one row a message
    assert "camera__color__image_raw" not in written
