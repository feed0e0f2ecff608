"""Shared fixtures: the real data sets in ``../shared/data``.

A test whose data set is absent is skipped, with the path in the reason; with
``SMARTMINE_REQUIRE_DATA=1`` (set by ``.ci/run``) it fails instead, so a moved or
renamed data folder cannot silently turn real-data tests into skips.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SMARTMINE_SHARED_DATA", REPO.parent / "shared" / "data"))
REQUIRE_DATA_ENV = "SMARTMINE_REQUIRE_DATA"


def require_data() -> bool:
    """Whether missing real data is a failure (``SMARTMINE_REQUIRE_DATA`` set, not 0)."""
    return os.environ.get(REQUIRE_DATA_ENV, "").strip() not in ("", "0")


def shared(*parts: str) -> Path:
    """Path of a shared data set; the calling test is skipped (or, with
    ``SMARTMINE_REQUIRE_DATA=1``, failed) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"real data set not present: {path} (see ../shared/data/README.md)"
        if require_data():
            pytest.fail(f"{reason}; {REQUIRE_DATA_ENV}=1 makes this a failure", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(autouse=True)
def _quiet_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTMINE_PROGRESS", "0")
