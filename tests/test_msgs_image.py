"""Image / CompressedImage conversion: bit-exact round trips through rosbags CDR."""

from __future__ import annotations

import array
import struct
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

from smartmine.errors import ConversionError
from smartmine.msgs import (
    IMAGE_ENCODINGS,
    compressed_image_to_numpy,
    header_stamp_ns,
    image_encoding,
    image_to_numpy,
    numpy_to_compressed_image,
    numpy_to_image,
)
from smartmine.msgs.factory import typestore

STORE = typestore()
REQUIRED = [
    "rgb8",
    "bgr8",
    "rgba8",
    "bgra8",
    "mono8",
    "mono16",
    "8UC1",
    "8UC3",
    "16UC1",
    "16SC1",
    "32FC1",
    "32SC1",
    "64FC1",
]


def cdr_roundtrip(msg: Any) -> Any:
    msgtype = msg.__msgtype__
    return STORE.deserialize_cdr(STORE.serialize_cdr(msg, msgtype), msgtype)


def random_pixels(encoding: str, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Random bit patterns of the encoding's type (floats include NaN/inf patterns)."""
    enc = image_encoding(encoding)
    shape = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * enc.dtype.itemsize, dtype=np.uint8)
    return raw.view(enc.dtype.newbyteorder("=")).reshape(shape)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def make_image(
    encoding: str, height: int, width: int, step: int, data: bytes, big: bool = False
) -> Any:
    types = STORE.types
    return types["sensor_msgs/msg/Image"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=5, nanosec=7), frame_id="cam"
        ),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big),
        step=step,
        data=np.frombuffer(data, dtype=np.uint8),
    )


@pytest.mark.parametrize("encoding", sorted(IMAGE_ENCODINGS))
@pytest.mark.parametrize("pad", [None, 3, 16])
@pytest.mark.parametrize("big", [False, True])
def test_image_roundtrip_bit_exact(encoding: str, pad: int | None, big: bool) -> None:
    enc = IMAGE_ENCODINGS[encoding]
    height, width = 5, 33
    pixels = random_pixels(encoding, height, width, seed=len(encoding))
    row_bytes = width * enc.bytes_per_pixel
    step = None if pad is None else row_bytes + pad
    msg = numpy_to_image(
        pixels, encoding, stamp_ns=1_500_000_123, frame_id="cam", step=step, is_bigendian=big
    )
    # the message bytes, built independently: rows in the wire byte order, zero padding
    wire = pixels.astype(enc.dtype.newbyteorder(">" if big else "<"))
    rows = wire.reshape(height, -1).view(np.uint8)
    expected = b"".join(r.tobytes() + bytes(pad or 0) for r in rows)
    assert bytes(msg.data) == expected
    assert msg.step == row_bytes + (pad or 0)
    assert msg.is_bigendian == int(big)
    back = cdr_roundtrip(msg)
    assert header_stamp_ns(back) == 1_500_000_123
    assert back.header.frame_id == "cam"
    assert back.encoding == encoding
    out = image_to_numpy(back)
    assert out.dtype.isnative
    assert same_bits(out, pixels)


@pytest.mark.parametrize("encoding", REQUIRED)
def test_required_encodings_supported(encoding: str) -> None:
    assert encoding in IMAGE_ENCODINGS
    pixels = random_pixels(encoding, 3, 33, seed=1)
    assert same_bits(image_to_numpy(numpy_to_image(pixels, encoding)), pixels)


def test_shapes_and_dtypes() -> None:
    assert image_encoding("rgb8").channels == 3
    assert image_encoding("mono16").dtype == np.uint16
    assert image_encoding("32FC1").dtype == np.float32
    assert image_encoding("8UC7").channels == 7  # generic <type>C<n>
    rgb = np.zeros((4, 6, 3), np.uint8)
    assert image_to_numpy(numpy_to_image(rgb, "rgb8")).shape == (4, 6, 3)
    mono = np.zeros((4, 6, 1), np.uint16)  # (H, W, 1) accepted for one channel
    assert image_to_numpy(numpy_to_image(mono, "mono16")).shape == (4, 6)


def test_big_endian_decode_hand_built() -> None:
    height, width, pad = 3, 33, 6
    values = (
        (np.arange(height * width, dtype=np.uint32) * 977 + 3)
        .astype(np.uint16)
        .reshape(height, width)
    )
    data = b"".join(row.astype(">u2").tobytes() + b"\xaa" * pad for row in values)
    msg = make_image("16UC1", height, width, width * 2 + pad, data, big=True)
    out = image_to_numpy(msg)
    assert out.dtype == np.dtype("=u2")
    np.testing.assert_array_equal(out, values)

    floats = np.linspace(-3.5, 7.25, height * width * 3, dtype=np.float32).reshape(height, width, 3)
    data = b"".join(row.astype(">f4").tobytes() for row in floats)
    out = image_to_numpy(make_image("32FC3", height, width, width * 12, data, big=True))
    assert out.dtype == np.dtype("=f4")
    np.testing.assert_array_equal(out, floats)

    doubles = np.linspace(-1e300, 1e300, height * width).reshape(height, width)
    data = b"".join(row.astype(">f8").tobytes() + bytes(8) for row in doubles)
    out = image_to_numpy(make_image("64FC1", height, width, width * 8 + 8, data, big=True))
    np.testing.assert_array_equal(out, doubles)

    signed = np.array([[-32768, -1, 0, 1, 32767]], dtype=np.int16)
    out = image_to_numpy(make_image("16SC1", 1, 5, 10, signed.astype(">i2").tobytes(), big=True))
    np.testing.assert_array_equal(out, signed)


def test_little_endian_decode_hand_built_padded_rows() -> None:
    height, width, pad = 4, 33, 5
    rgb = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    data = b"".join(row.tobytes() + b"\xff" * pad for row in rgb)
    out = image_to_numpy(make_image("rgb8", height, width, width * 3 + pad, data))
    np.testing.assert_array_equal(out, rgb)
    # odd step: 16-bit rows start unaligned
    depth = np.arange(height * width, dtype=np.uint16).reshape(height, width) * 13
    data = b"".join(row.astype("<u2").tobytes() + b"\x01" for row in depth)
    out = image_to_numpy(make_image("mono16", height, width, width * 2 + 1, data))
    np.testing.assert_array_equal(out, depth)


def test_decode_is_a_view_when_possible() -> None:
    pixels = random_pixels("16UC1", 4, 8)
    msg = cdr_roundtrip(numpy_to_image(pixels, "16UC1"))
    out = image_to_numpy(msg)
    assert np.shares_memory(out, msg.data)
    padded = cdr_roundtrip(numpy_to_image(random_pixels("rgb8", 4, 33), "rgb8", step=104))
    assert np.shares_memory(image_to_numpy(padded), padded.data)


def test_encode_is_a_view_when_possible() -> None:
    pixels = random_pixels("mono8", 4, 8)
    assert np.shares_memory(numpy_to_image(pixels, "mono8").data, pixels)


def test_standin_objects_convert_like_rosbags() -> None:
    pixels = random_pixels("16UC1", 5, 33, seed=9)
    msg = numpy_to_image(pixels, "16UC1", step=70, is_bigendian=True, stamp_ns=42)
    stamp = SimpleNamespace(sec=0, nanosec=42)
    for data in (array.array("B", bytes(msg.data)), bytes(msg.data), list(bytes(msg.data))):
        fake = SimpleNamespace(
            header=SimpleNamespace(stamp=stamp, frame_id=""),
            height=5,
            width=33,
            encoding="16UC1",
            is_bigendian=1,
            step=70,
            data=data,
        )
        assert same_bits(image_to_numpy(fake), image_to_numpy(msg))
        assert same_bits(image_to_numpy(fake), pixels)
        assert header_stamp_ns(fake) == 42


def test_malformed_images_raise() -> None:
    msg = make_image("rgb8", 480, 640, 1920, bytes(1000))
    with pytest.raises(
        ConversionError, match=r"Image\.data has 1000 bytes, expected height\*step = 921600"
    ):
        image_to_numpy(msg)
    with pytest.raises(ConversionError, match=r"Image\.step = 20 is smaller"):
        image_to_numpy(make_image("rgb8", 2, 10, 20, bytes(40)))
    with pytest.raises(ConversionError, match="unsupported Image encoding 'yuv422'"):
        image_to_numpy(make_image("yuv422", 2, 2, 4, bytes(8)))
    with pytest.raises(ConversionError, match="encoding"):
        image_to_numpy(SimpleNamespace(height=1, width=1))
    with pytest.raises(ConversionError, match=r"dtype float64 .* '32FC1'"):
        numpy_to_image(np.zeros((2, 2)), "32FC1")
    with pytest.raises(ConversionError, match=r"expected \(H, W, 3\)"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ConversionError, match=r"Image\.step = 5 is smaller"):
        numpy_to_image(np.zeros((2, 3), np.uint16), "mono16", step=5)
    with pytest.raises(ConversionError, match="unsupported Image encoding"):
        numpy_to_image(np.zeros((2, 3), np.uint8), "yuv422")


# --- CompressedImage -------------------------------------------------------------------


def smooth_image(height: int, width: int, channels: int, dtype: Any) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    scale = 255 if dtype == np.uint8 else 65535
    planes = [
        (np.sin(xx / 7.0 + c) * np.cos(yy / 5.0 - c) * 0.5 + 0.5) * scale for c in range(channels)
    ]
    img = np.stack(planes, axis=-1).astype(dtype)
    return img[..., 0] if channels == 1 else img


@pytest.mark.parametrize(
    ("channels", "dtype"),
    [(1, np.uint8), (3, np.uint8), (4, np.uint8), (1, np.uint16), (3, np.uint16)],
)
def test_png_roundtrip_exact(channels: int, dtype: Any) -> None:
    img = np.random.default_rng(channels).integers(
        0, np.iinfo(dtype).max, smooth_image(31, 33, channels, dtype).shape, dtype=dtype
    )
    msg = cdr_roundtrip(numpy_to_compressed_image(img, "png", stamp_ns=99, frame_id="cam"))
    assert "png" in msg.format
    assert header_stamp_ns(msg) == 99
    out = compressed_image_to_numpy(msg)
    assert out.dtype == img.dtype
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_roundtrip_close(channels: int) -> None:
    img = smooth_image(48, 64, channels, np.uint8)
    msg = cdr_roundtrip(numpy_to_compressed_image(img, "jpeg"))
    assert "jpeg" in msg.format
    assert bytes(msg.data[:2]) == b"\xff\xd8"
    out = compressed_image_to_numpy(msg)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - img.astype(int)).mean() < 2.0


def test_compressed_colour_is_bgr() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 0] = 200  # blue in OpenCV order
    ok, png = cv2.imencode(".png", img)
    assert ok
    msg = SimpleNamespace(format="png", data=png.tobytes())
    out = compressed_image_to_numpy(msg)
    assert (out[..., 0] == 200).all()
    assert (out[..., 1:] == 0).all()


def compressed_msg(fmt: str, payload: bytes) -> Any:
    types = STORE.types
    return types["sensor_msgs/msg/CompressedImage"](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="depth"
        ),
        format=fmt,
        data=np.frombuffer(payload, dtype=np.uint8),
    )


def test_compressed_depth_16uc1_hand_built() -> None:
    depth = np.random.default_rng(5).integers(0, 65535, (24, 33), dtype=np.uint16)
    ok, png = cv2.imencode(".png", depth)
    assert ok
    payload = struct.pack("<iff", 0, 0.0, 0.0) + png.tobytes()
    msg = cdr_roundtrip(compressed_msg("16UC1; compressedDepth png", payload))
    out = compressed_image_to_numpy(msg)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, depth)
    # the older ROS 1 spelling without the codec name
    out = compressed_image_to_numpy(compressed_msg("16UC1; compressedDepth", payload))
    np.testing.assert_array_equal(out, depth)


def test_compressed_depth_32fc1_hand_built() -> None:
    depth_a, depth_b = 100.0, 10.0
    inv = np.array([[0, 20, 110], [1010, 60, 0]], dtype=np.uint16)
    ok, png = cv2.imencode(".png", inv)
    assert ok
    payload = struct.pack("<iff", 0, depth_a, depth_b) + png.tobytes()
    out = compressed_image_to_numpy(compressed_msg("32FC1; compressedDepth png", payload))
    assert out.dtype == np.float32
    expected = np.float32(depth_a) / (inv.astype(np.float32) - np.float32(depth_b))
    expected[inv == 0] = np.nan
    np.testing.assert_array_equal(out, expected)
    assert out[0, 1] == pytest.approx(10.0)


def test_compressed_depth_writer() -> None:
    depth = np.random.default_rng(6).integers(0, 65535, (10, 33), dtype=np.uint16)
    msg = cdr_roundtrip(numpy_to_compressed_image(depth, "compressedDepth"))
    assert msg.format == "16UC1; compressedDepth png"
    assert bytes(msg.data[12:20]) == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(compressed_image_to_numpy(msg), depth)


def test_compressed_errors() -> None:
    with pytest.raises(ConversionError, match=r"CompressedImage\.data .*could not be decoded"):
        compressed_image_to_numpy(compressed_msg("jpeg", b"\xff\xd8not a jpeg"))
    with pytest.raises(ConversionError, match="compressedDepth header"):
        compressed_image_to_numpy(compressed_msg("16UC1; compressedDepth png", b"abc"))
    with pytest.raises(ConversionError, match="cannot be written as jpeg"):
        numpy_to_compressed_image(np.zeros((4, 4), np.uint16), "jpeg")
    with pytest.raises(ConversionError, match="unsupported CompressedImage format"):
        numpy_to_compressed_image(np.zeros((4, 4), np.uint8), "webp")  # type: ignore[arg-type]
