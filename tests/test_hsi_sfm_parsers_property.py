"""Property-based tests of two parsers that read user files: the ENVI header parser and
the ODM ``gcp_list.txt`` reader. On generated and mutated text each gives a result whose
numbers are finite and in range, or a SmartmineError; never another exception."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hyperspectral.cube import ENVI_INTERLEAVES, MAX_ENVI_DIMENSION, parse_envi_header
from mapping.sfm.gcp import read_gcp_file
from smartmine.errors import SmartmineError

FAST = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

VALID_HEADER = """ENVI
description = {a small test cube}
samples = 5
lines = 6
bands = 3
header offset = 0
file type = ENVI Standard
data type = 4
interleave = bip
byte order = 0
wavelength units = Nanometers
wavelength = {500.0, 600.0, 700.0}
fwhm = {10.0, 10.0, 10.0}
bbl = {1, 1, 0}
data ignore value = -9999
"""

VALID_GCP = """EPSG:4326
-83.30625 41.03531 280.0 1000 800 IMG_0461.jpg gcp1
-83.30625 41.03531 280.0 1200 300 IMG_0462.jpg gcp1
-83.30580 41.03550 281.5 400 2200 IMG_0461.jpg gcp2
"""

NUMBERISH = st.sampled_from(
    ["0", "-1", "1e999", "-1e999", "nan", "inf", "1.5", "99999999999999999999", "", "abc", "5"]
)
KEYS = st.sampled_from(
    [
        "samples",
        "lines",
        "bands",
        "data type",
        "interleave",
        "byte order",
        "header offset",
        "wavelength",
        "fwhm",
        "bbl",
        "data ignore value",
        "wavelength units",
        "map info",
    ]
)


def _check_header(text: str) -> None:
    try:
        header = parse_envi_header(text, "generated.hdr")
    except SmartmineError:
        return
    for size in (header.lines, header.samples, header.bands):
        assert 1 <= size <= MAX_ENVI_DIMENSION
    assert header.interleave in ENVI_INTERLEAVES
    assert header.header_offset >= 0
    assert header.dtype.kind in "iuf"
    for values in (header.wavelengths_nm, header.fwhm_nm, header.bbl):
        if values is not None:
            assert len(values) == header.bands and np.isfinite(values).all()
    if header.wavelengths_nm is not None:
        assert (header.wavelengths_nm > 0).all()
    if header.ignore_value is not None:
        assert isinstance(header.ignore_value, float)


@FAST
@given(st.text(max_size=400))
@example("ENVI\nwavelength = {")
@example("ENVI\n= 5\n")
def test_envi_header_on_any_text(text: str) -> None:
    _check_header(text)


@FAST
@given(st.text(max_size=300))
def test_envi_header_after_the_magic(body: str) -> None:
    _check_header("ENVI\n" + body)


@FAST
@given(KEYS, st.lists(NUMBERISH, min_size=1, max_size=5), st.booleans())
def test_envi_header_with_one_field_changed(key: str, values: list[str], braces: bool) -> None:
    value = "{" + ", ".join(values) + "}" if braces else values[0]
    lines = [ln for ln in VALID_HEADER.splitlines() if not ln.startswith(key + " =")]
    _check_header("\n".join([*lines, f"{key} = {value}"]) + "\n")


@FAST
@given(st.data())
def test_envi_header_with_bytes_mutated(data: st.DataObject) -> None:
    text = bytearray(VALID_HEADER.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            text[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "delete":
            del text[i]
        else:
            text.insert(i, data.draw(st.integers(0, 255)))
    _check_header(bytes(text).decode("latin-1"))


def test_the_valid_header_parses() -> None:
    header = parse_envi_header(VALID_HEADER, "ok.hdr")
    assert (header.lines, header.samples, header.bands) == (6, 5, 3)
    assert header.data_bytes == 6 * 5 * 3 * 4
    assert header.bbl is not None and header.bbl.tolist() == [1.0, 1.0, 0.0]


GCP_DIR = Path(tempfile.mkdtemp(prefix="smartmine-gcp-property-"))
IMAGES = {"IMG_0461.jpg", "IMG_0462.jpg"}


def _check_gcp(text: str | bytes) -> None:
    path = GCP_DIR / "gcp_list.txt"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        parsed = read_gcp_file(path, IMAGES)
    except SmartmineError:
        return
    assert parsed.gcps
    for gcp in parsed.gcps:
        assert all(math.isfinite(v) for v in gcp.xyz)
        if parsed.epsg in (4326, 4979):
            assert -180 <= gcp.xyz[0] <= 180 and -90 <= gcp.xyz[1] <= 90
        assert gcp.observations
        for obs in gcp.observations:
            assert obs.image in IMAGES
            assert all(math.isfinite(v) and v >= 0 for v in obs.pixel_xy)
    utm = parsed.utm(parsed.suggested_epsg())
    assert all(np.isfinite(v).all() for v in utm.values())


def test_the_valid_gcp_list_parses() -> None:
    path = GCP_DIR / "ok.txt"
    path.write_text(VALID_GCP)
    parsed = read_gcp_file(path, IMAGES)
    assert [g.name for g in parsed.gcps] == ["gcp1", "gcp2"]
    assert parsed.suggested_epsg() == 32617


CRS_LINES = st.sampled_from(
    [
        "EPSG:4326",
        "EPSG:32617",
        "EPSG:32717",
        "EPSG:3857",
        "EPSG:0",
        "EPSG:-5",
        "EPSG:99999999999999999999",
        "WGS84 UTM 17N",
        "WGS84 UTM 0N",
        "WGS84 UTM 61S",
        "+proj=utm +zone=17 +datum=WGS84 +units=m +no_defs",
        "+proj=utm +zone=99 +ellps=WGS84",
        "+proj=longlat",
        "",
        "garbage",
    ]
)
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-200, 200),
    st.floats(100_000, 900_000),
    st.floats(0, 10_000_000),
)


@FAST
@given(
    CRS_LINES,
    st.lists(
        st.tuples(
            NUMBER,
            NUMBER,
            NUMBER,
            NUMBER,
            NUMBER,
            st.sampled_from(["IMG_0461.jpg", "IMG_0462.jpg", "other.jpg"]),
            st.sampled_from(["", "g1", "g2"]),
        ),
        max_size=6,
    ),
)
def test_gcp_list_from_generated_rows(crs: str, rows: list[tuple[object, ...]]) -> None:
    lines = [crs] + [" ".join(str(v) for v in row).strip() for row in rows]
    _check_gcp("\n".join(lines) + "\n")


@FAST
@given(st.text(max_size=400))
def test_gcp_list_on_any_text(text: str) -> None:
    _check_gcp(text)


@FAST
@given(st.data())
def test_gcp_list_with_bytes_mutated(data: st.DataObject) -> None:
    text = bytearray(VALID_GCP.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(text) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            text[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "delete":
            del text[i]
        else:
            text.insert(i, data.draw(st.sampled_from(list(b"0123456789.-e nN\n\t#"))))
    _check_gcp(bytes(text))
