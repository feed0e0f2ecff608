"""``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` <-> numpy.

Raw images decode to a view of the message buffer when the layout allows it (native
byte order, aligned): such arrays may be read-only and share memory with the message;
``.copy()`` them before writing. Rows padded by ``step`` give a strided view
(Open3D takes only contiguous buffers: ``np.ascontiguousarray`` such a view first).
Element types are native-endian and spelled so (``uint16``, not ``<u2``), which
Open3D, OpenCV, torch and rasterio take as they are; multi-byte big-endian data is
byte-swapped once, into a native-endian copy.

Compressed images decode through OpenCV, so colour comes back in OpenCV's channel
order (BGR / BGRA), whatever the encoding the publisher started from.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

import numpy as np

from smartmine.errors import ConversionError
from smartmine.msgs._util import AnyArray, byte_view, get_field, get_int, resolve_factory
from smartmine.msgs.factory import MessageFactory
from smartmine.msgs.stamp import make_header


@dataclass(frozen=True)
class ImageEncoding:
    """Pixel layout of a ROS image encoding: element type and channels per pixel."""

    name: str
    dtype: np.dtype[Any]
    channels: int

    @property
    def bytes_per_pixel(self) -> int:
        return self.dtype.itemsize * self.channels


def _build_table() -> dict[str, ImageEncoding]:
    table: dict[str, ImageEncoding] = {}

    def add(name: str, dtype: str, channels: int) -> None:
        table[name] = ImageEncoding(name, np.dtype(dtype), channels)

    for name, ch in (("rgb", 3), ("bgr", 3), ("rgba", 4), ("bgra", 4), ("mono", 1)):
        add(f"{name}8", "u1", ch)
        add(f"{name}16", "u2", ch)
    for pattern in ("rggb", "bggr", "gbrg", "grbg"):
        add(f"bayer_{pattern}8", "u1", 1)
        add(f"bayer_{pattern}16", "u2", 1)
    for prefix, dtype in _TYPE_PREFIXES.items():
        for ch in (1, 2, 3, 4):
            add(f"{prefix}C{ch}", dtype, ch)
    return table


_TYPE_PREFIXES: Final = {
    "8U": "u1",
    "8S": "i1",
    "16U": "u2",
    "16S": "i2",
    "32S": "i4",
    "32F": "f4",
    "64F": "f8",
}
_GENERIC = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-9][0-9]*)$")

IMAGE_ENCODINGS: Final = MappingProxyType(_build_table())
"""Supported ROS image encodings (rgb8 ... 64FC4, bayer_*; any ``<type>C<n>`` also works)."""


def image_encoding(encoding: str) -> ImageEncoding:
    """The layout of ``encoding``; ConversionError if unsupported."""
    enc = IMAGE_ENCODINGS.get(encoding)
    if enc is not None:
        return enc
    match = _GENERIC.match(encoding)
    if match is None:
        raise ConversionError(f"unsupported Image encoding {encoding!r}")
    return ImageEncoding(encoding, np.dtype(_TYPE_PREFIXES[match[1]]), int(match[2]))


def _byteorder(dtype: np.dtype[Any], big: bool) -> np.dtype[Any]:
    """``dtype`` in the message's byte order, spelled native (``=``) where it is native.

    ``newbyteorder("<")`` keeps an explicit ``<`` even on a little-endian machine, and
    its buffer format (``<H``) is refused by Open3D; ``np.dtype(str)`` normalises it.
    """
    return np.dtype(dtype.newbyteorder(">" if big else "<").str)


def image_to_numpy(msg: Any) -> AnyArray:
    """Pixels of an Image message: (H, W) for one channel, else (H, W, C).

    Values are native-endian; a view of ``msg.data`` when possible (see module doc).
    """
    enc = image_encoding(str(get_field(msg, "Image", "encoding")))
    height = get_int(msg, "Image", "height")
    width = get_int(msg, "Image", "width")
    step = get_int(msg, "Image", "step")
    big = bool(get_int(msg, "Image", "is_bigendian"))
    data = byte_view(get_field(msg, "Image", "data"), "Image.data")
    if height < 0 or width < 0:
        raise ConversionError(f"Image has negative size {width}x{height}")
    row_bytes = width * enc.bytes_per_pixel
    if step < row_bytes:
        raise ConversionError(
            f"Image.step = {step} is smaller than width*bytes_per_pixel = {row_bytes} "
            f"({width} px of {enc.name!r})"
        )
    if data.size != height * step:
        raise ConversionError(
            f"Image.data has {data.size} bytes, expected height*step = {height * step}"
        )
    dtype = _byteorder(enc.dtype, big)
    shape: tuple[int, ...] = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    if data.size == 0 or width == 0:
        return np.zeros(shape, dtype=enc.dtype)
    strides: tuple[int, ...] = (step, enc.bytes_per_pixel)
    if enc.channels != 1:
        strides += (enc.dtype.itemsize,)
    arr: AnyArray = np.ndarray(shape, dtype=dtype, buffer=data, strides=strides)
    if not dtype.isnative:
        return arr.astype(dtype.newbyteorder("="))
    if not arr.flags.aligned:
        return arr.copy()
    return arr


def numpy_to_image(
    array: AnyArray,
    encoding: str,
    *,
    stamp_ns: int = 0,
    frame_id: str = "",
    step: int | None = None,
    is_bigendian: bool = False,
    factory: MessageFactory | None = None,
) -> Any:
    """A ``sensor_msgs/msg/Image`` of ``array`` ((H, W) or (H, W, C)) in ``encoding``.

    The array's element type must match the encoding (uint8 for rgb8, float32 for
    32FC1...). ``step`` None packs rows tightly; a larger step pads each row with
    zeros. ``is_bigendian`` writes multi-byte values big-endian. Without padding or
    byte swapping, ``data`` is a view of a contiguous ``array`` (no copy).
    """
    enc = image_encoding(encoding)
    arr = np.asarray(array)
    if arr.ndim == 3 and enc.channels == 1 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    expected_ndim = 2 if enc.channels == 1 else 3
    if arr.ndim != expected_ndim or (expected_ndim == 3 and arr.shape[2] != enc.channels):
        want = "(H, W)" if enc.channels == 1 else f"(H, W, {enc.channels})"
        raise ConversionError(f"array of shape {arr.shape} cannot be {encoding!r}: expected {want}")
    if arr.dtype.kind != enc.dtype.kind or arr.dtype.itemsize != enc.dtype.itemsize:
        raise ConversionError(
            f"array of dtype {arr.dtype} cannot be {encoding!r}: expected {enc.dtype.name}"
        )
    height, width = int(arr.shape[0]), int(arr.shape[1])
    row_bytes = width * enc.bytes_per_pixel
    if step is None:
        step = row_bytes
    step = int(step)
    if step < row_bytes:
        raise ConversionError(
            f"Image.step = {step} is smaller than width*bytes_per_pixel = {row_bytes}"
        )
    dtype = _byteorder(enc.dtype, is_bigendian)
    if step == row_bytes:
        data = np.ascontiguousarray(arr, dtype=dtype).reshape(-1).view(np.uint8)
    else:
        data = np.zeros(height * step, dtype=np.uint8)
        if height and width:
            strides: tuple[int, ...] = (step, enc.bytes_per_pixel)
            if enc.channels != 1:
                strides += (enc.dtype.itemsize,)
            view: AnyArray = np.ndarray(arr.shape, dtype=dtype, buffer=data, strides=strides)
            view[...] = arr
    factory = resolve_factory(factory)
    return factory(
        "sensor_msgs/msg/Image",
        header=make_header(stamp_ns, frame_id, factory),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=1 if is_bigendian else 0,
        step=step,
        data=data,
    )


# --- CompressedImage -------------------------------------------------------------------

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
COMPRESSED_DEPTH_HEADER_SIZE: Final = 12
"""compressed_depth_image_transport ConfigHeader: int32 format, float32 depthParam[2]."""


def _imdecode(buf: AnyArray, what: str) -> AnyArray:
    import cv2

    try:
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        out = None
    if out is None:
        raise ConversionError(f"{what} ({buf.size} bytes) could not be decoded")
    return np.asarray(out)


def compressed_image_to_numpy(msg: Any) -> AnyArray:
    """Pixels of a CompressedImage (jpeg, png, or compressedDepth png).

    Decoded with ``cv2.imdecode(..., IMREAD_UNCHANGED)``: colour images come back
    **BGR** (BGRA with alpha) as OpenCV returns them, grey ones (H, W), 16-bit PNG as
    uint16. ``compressedDepth`` messages (format like ``"16UC1; compressedDepth png"``)
    skip the 12-byte header before the PNG; 16UC1 gives uint16 depth, 32FC1 gives
    float32 depth from the quantised inverse depth (``a / (v - b)``, NaN where v = 0).
    """
    fmt = str(get_field(msg, "CompressedImage", "format"))
    data = byte_view(get_field(msg, "CompressedImage", "data"), "CompressedImage.data")
    if "compressedDepth" not in fmt:
        if "rvl" in fmt.lower():
            raise ConversionError(f"unsupported CompressedImage format {fmt!r}")
        return _imdecode(data, f"CompressedImage.data (format {fmt!r})")
    encoding = fmt.split(";", 1)[0].strip()
    if "rvl" in fmt.lower():
        raise ConversionError(f"unsupported CompressedImage format {fmt!r} (RVL depth)")
    depth_a = depth_b = 0.0
    if data[:8].tobytes() != _PNG_SIGNATURE:
        if data.size < COMPRESSED_DEPTH_HEADER_SIZE:
            raise ConversionError(
                f"CompressedImage.data has {data.size} bytes, shorter than the "
                f"{COMPRESSED_DEPTH_HEADER_SIZE}-byte compressedDepth header"
            )
        _, depth_a, depth_b = struct.unpack("<iff", data[:COMPRESSED_DEPTH_HEADER_SIZE].tobytes())
        data = data[COMPRESSED_DEPTH_HEADER_SIZE:]
    out = _imdecode(data, f"CompressedImage.data (format {fmt!r})")
    if encoding == "32FC1":
        if out.dtype != np.uint16:
            raise ConversionError(
                f"CompressedImage {fmt!r}: inverse depth PNG is {out.dtype}, expected uint16"
            )
        inv = out.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.float32(depth_a) / (inv - np.float32(depth_b))
        depth[out == 0] = np.nan
        return depth
    if encoding not in ("16UC1", "mono16", ""):
        raise ConversionError(f"unsupported compressedDepth encoding {encoding!r} in {fmt!r}")
    return out


def numpy_to_compressed_image(
    array: AnyArray,
    fmt: Literal["jpeg", "png", "compressedDepth"] = "jpeg",
    *,
    stamp_ns: int = 0,
    frame_id: str = "",
    jpeg_quality: int = 95,
    png_level: int = 3,
    factory: MessageFactory | None = None,
) -> Any:
    """A ``sensor_msgs/msg/CompressedImage`` of ``array`` in OpenCV channel order.

    ``jpeg``: uint8, grey or 3-channel BGR. ``png``: uint8 or uint16, 1, 3 (BGR) or 4
    (BGRA) channels. ``compressedDepth``: uint16 (H, W) depth, written with the 12-byte
    header as compressed_depth_image_transport does. The ``format`` field follows
    image_transport, e.g. ``"bgr8; jpeg compressed bgr8"``, ``"16UC1; compressedDepth png"``.
    """
    import cv2

    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    channels = 1 if arr.ndim == 2 else int(arr.shape[2]) if arr.ndim == 3 else 0
    header = b""
    if fmt == "jpeg":
        ok_layout = arr.dtype == np.uint8 and channels in (1, 3)
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        ext = ".jpg"
    elif fmt == "png":
        ok_layout = arr.dtype in (np.uint8, np.uint16) and channels in (1, 3, 4)
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
        ext = ".png"
    elif fmt == "compressedDepth":
        ok_layout = arr.dtype == np.uint16 and channels == 1
        params = [cv2.IMWRITE_PNG_COMPRESSION, int(png_level)]
        ext = ".png"
        header = struct.pack("<iff", 0, 0.0, 0.0)
    else:
        raise ConversionError(f"unsupported CompressedImage format {fmt!r}")
    if not ok_layout:
        raise ConversionError(
            f"array of shape {arr.shape} and dtype {arr.dtype} cannot be written as {fmt}"
        )
    ok, encoded = cv2.imencode(ext, np.ascontiguousarray(arr), params)
    if not ok:
        raise ConversionError(f"OpenCV could not encode the array as {fmt}")
    bits = 8 if arr.dtype == np.uint8 else 16
    if fmt == "compressedDepth":
        fmt_field = "16UC1; compressedDepth png"
    else:
        base = {1: f"mono{bits}", 3: f"bgr{bits}", 4: f"bgra{bits}"}[channels]
        fmt_field = f"{base}; {fmt} compressed {base}"
    payload = np.frombuffer(header + encoded.tobytes(), dtype=np.uint8) if header else encoded
    factory = resolve_factory(factory)
    return factory(
        "sensor_msgs/msg/CompressedImage",
        header=make_header(stamp_ns, frame_id, factory),
        format=fmt_field,
        data=np.ascontiguousarray(payload, dtype=np.uint8).reshape(-1),
    )
