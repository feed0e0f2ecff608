"""``SMARTMINE_REQUIRE_DATA=1``: a real-data test whose data set is missing fails, not skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# two quick real-data tests on two different data sets
REAL_DATA_TESTS = [
    "tests/test_calibration_io.py::test_opencv_sample_reference_file_reads",
    "tests/test_bag_reader.py::test_husky_ros1_bag_counts_rates_and_first_fix",
]


def _pytest(require: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SMARTMINE_REQUIRE_DATA"}
    env["SMARTMINE_SHARED_DATA"] = "/nonexistent/shared/data"
    if require is not None:
        env["SMARTMINE_REQUIRE_DATA"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *REAL_DATA_TESTS],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=300,
    )


def test_missing_real_data_skips_by_default_and_fails_when_required() -> None:
    skipped = _pytest(None)
    assert skipped.returncode == 0, skipped.stdout[-2000:]
    assert "2 skipped" in skipped.stdout and "/nonexistent/shared/data" in skipped.stdout
    assert _pytest("0").returncode == 0
    failed = _pytest("1")
    assert failed.returncode == 1, failed.stdout[-2000:]
    assert "SMARTMINE_REQUIRE_DATA=1 makes this a failure" in failed.stdout
    assert "skipped" not in failed.stdout
