"""The one TUM parser (:mod:`smartmine.tum`), on generated and mutated text: either arrays
that are all finite, with stamps that never go back and unit quaternions, or a
``SmartmineError`` naming the source; never another exception. Plus its written text
read back, exact nanosecond stamps, and each refusal naming the line and field."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drone_missions.vision_pose import UdpPoseFeed
from smartmine import tum
from smartmine.errors import SmartmineError

FAST = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

VALID = """# timestamp x y z qx qy qz qw
1305031102.160407 1.344379 0.627206 1.661754 0.658249 0.611043 -0.294444 -0.326553
1305031102.194330 1.343641 0.626458 1.652408 0.657327 0.613265 -0.295150 -0.323593

1305031102.194330 1.3 0.6 1.6 0 0 0 1
1305031102.226738, 1.331564, 0.629919, 1.645063, -0.729703, -0.358335, 0.331772, 0.478598
"""

WORDS = st.sampled_from(
    [
        "0",
        "-1",
        "1",
        "0.5",
        "1e999",
        "-1e999",
        "nan",
        "inf",
        "-inf",
        "1e300",
        "99999999999999999999",
        "",
        "abc",
        "#",
        ",",
        "1_0",
        "0x10",
        "sNaN",
        "Infinity",
        "\x00",
        "\u00a0",
        "١",
    ]
)


def _check(text: str, strictly_increasing: bool = False) -> None:
    try:
        table = tum.parse_tum(text, "generated.tum", strictly_increasing=strictly_increasing)
        stamps_ns = table.stamps_ns()
    except SmartmineError as err:
        assert str(err).startswith("generated.tum")
        return
    n = len(table)
    assert n >= 1
    assert table.stamps_s.shape == (n,) and stamps_ns.shape == (n,)
    assert table.positions.shape == (n, 3) and table.quats_xyzw.shape == (n, 4)
    for array in (table.stamps_s, table.positions, table.quats_xyzw):
        assert np.isfinite(array).all()
    steps = np.diff(table.stamps_s)
    assert (steps > 0).all() if strictly_increasing else (steps >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(table.quats_xyzw, axis=1), 1.0, atol=1e-12)
    assert len(table.line_numbers) == n and (np.diff(table.line_numbers) > 0).all()


def _mutate(text: str, data: st.DataObject) -> str:
    chars = list(text)
    for _ in range(data.draw(st.integers(0, 4))):
        where = data.draw(st.integers(0, max(0, len(chars) - 1)))
        action = data.draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        if not chars:
            break
        if action == "flip":
            chars[where] = chr(ord(chars[where]) ^ (1 << data.draw(st.integers(0, 7))))
        elif action == "drop":
            del chars[where]
        elif action == "insert":
            chars.insert(where, data.draw(st.sampled_from(list(" \n#,-.e9n\r\t\x00"))))
        else:
            chars = chars[:where]
    return "".join(chars)


@FAST
@given(st.data(), st.booleans())
def test_mutated_text_gives_checked_arrays_or_a_smartmine_error(
    data: st.DataObject, strictly_increasing: bool
) -> None:
    _check(_mutate(VALID, data), strictly_increasing)


@FAST
@given(st.lists(st.lists(WORDS, min_size=0, max_size=10), max_size=6))
@example([["0", "0", "0", "0", "0", "0", "0", "0"]])
@example([["1e300", "0", "0", "0", "0", "0", "0", "1"]])
@example([["1", "0", "0", "0", "0", "0", "0", "1"], ["0", "0", "0", "0", "0", "0", "0", "1"]])
def test_generated_lines_give_checked_arrays_or_a_smartmine_error(
    rows: list[list[str]],
) -> None:
    _check("\n".join(" ".join(row) for row in rows))


@FAST
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**62), 2**62),
            st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3),
            st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_written_text_reads_back(rows: list[tuple[int, list[float], list[float]]]) -> None:
    rows = sorted(rows, key=lambda r: r[0])
    quats = np.array([r[2] for r in rows], dtype=np.float64)
    norms = np.linalg.norm(quats, axis=1, keepdims=True)
    quats = np.where(norms > 1e-3, quats / np.maximum(norms, 1e-300), [0.0, 0.0, 0.0, 1.0])
    stamps_ns = [r[0] for r in rows]
    positions = np.array([r[1] for r in rows], dtype=np.float64)
    text = tum.tum_text([tum.format_stamp_ns(s) for s in stamps_ns], positions, quats)
    table = tum.parse_tum(text, "written.tum")
    assert table.stamps_ns().tolist() == stamps_ns
    np.testing.assert_allclose(table.positions, positions, atol=1e-9)
    np.testing.assert_allclose(table.quats_xyzw, quats, atol=1e-8)


BAD_LINES = [
    ("1 0 0 0 0 0 1", "line 2: 7 columns"),
    ("1 0 0 zero 0 0 0 1", "line 2: field z 'zero' is not a number"),
    ("1 0 nan 0 0 0 0 1", "line 2: field y is nan"),
    ("inf 0 0 0 0 0 0 1", "line 2: field timestamp is inf"),
    ("1 0 0 0 0 0 0 0", "line 2: quaternion (qx qy qz qw) has length 0"),
    ("1 0 0 0 0 0 0 1.5", "line 2: quaternion (qx qy qz qw) has length 1.5"),
    ("0.5 0 0 0 0 0 0 1", "line 2: field timestamp 0.5 goes back in time from 1 (line 1)"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_each_refusal_names_file_line_and_field(line: str, message: str) -> None:
    with pytest.raises(tum.TumError) as caught:
        tum.parse_tum("1 0 0 0 0 0 0 1\n" + line + "\n", "poses.tum")
    assert str(caught.value).startswith("poses.tum: ")
    assert message in str(caught.value)


def test_repeated_stamps_pass_unless_strictly_increasing() -> None:
    text = "1 0 0 0 0 0 0 1\n1 1 0 0 0 0 0 1\n"
    assert len(tum.parse_tum(text, "t")) == 2
    with pytest.raises(tum.TumError, match="line 2: field timestamp 1 is not after 1"):
        tum.parse_tum(text, "t", strictly_increasing=True)


def test_near_unit_quaternion_is_normalised_and_stamps_are_exact_ns() -> None:
    table = tum.parse_tum("1700000000.123456789 0 0 0 0 0 0 1.00008\n", "t")
    np.testing.assert_allclose(table.quats_xyzw[0], [0, 0, 0, 1], atol=0)
    assert table.stamps_ns().tolist() == [1_700_000_000_123_456_789]
    with pytest.raises(tum.TumError, match="line 1: field timestamp"):
        tum.parse_tum("1e300 0 0 0 0 0 0 1\n", "t").stamps_ns()


def test_files_empty_binary_or_missing_are_refused_with_label(tmp_path: Path) -> None:
    empty, binary = tmp_path / "empty.tum", tmp_path / "binary.tum"
    empty.write_text("# only a comment\n\n")
    binary.write_bytes(b"\xff\xfe\x00" * 20)
    for path, reason in (
        (empty, "no poses"),
        (binary, "not TUM text"),
        (tmp_path / "missing.tum", "no such file"),
        (tmp_path, "cannot read"),
    ):
        with pytest.raises(tum.TumError) as caught:
            tum.read_tum(path, label="--poses")
        assert str(caught.value).startswith(f"--poses {path}: {reason}")


def test_write_is_atomic_and_refuses_non_finite(tmp_path: Path) -> None:
    path = tmp_path / "out.tum"
    tum.write_tum(path, ["1.000000000"], [[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0, 1.0]])
    assert path.read_text() == (
        f"# {tum.HEADER}\n1.000000000 1.000000000 2.000000000 3.000000000 "
        "0.000000000 0.000000000 0.000000000 1.000000000\n"
    )
    with pytest.raises(tum.TumError, match="NaN or infinite"):
        tum.write_tum(path, ["2.0"], [[np.nan, 0.0, 0.0]], [[0.0, 0.0, 0.0, 1.0]])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tum"]
    assert len(tum.read_tum(path)) == 1


def test_udp_pose_feed_drops_datagrams_the_parser_refuses() -> None:
    """``fly --vision-pose udp://`` parses each datagram with the same line parser."""
    feed = UdpPoseFeed.listen(f"udp://127.0.0.1:{_free_udp_port()}")
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        address = feed.sock.getsockname()
        bad = (b"1 0 nan 0 0 0 0 1", b"1 0 0 0 0 0 0", b"\xff\xfe")
        for datagram in (*bad, b"1 1 2 3 0 0 0 1.001"):
            sender.sendto(datagram, address)
        deadline = time.monotonic() + 5.0
        while feed.received + feed.rejected < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        sender.close()
        assert (feed.rejected, feed.received) == (3, 1)
        latest = feed()
        assert latest is not None
        np.testing.assert_allclose(latest[0], [1.0, 2.0, 3.0])
        np.testing.assert_allclose(latest[1], [0.0, 0.0, 0.0, 1.0])
    finally:
        feed.close()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
