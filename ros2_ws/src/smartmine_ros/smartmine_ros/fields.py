"""Field values for rclpy message classes, from what smartmine converters hand over (no rclpy).

smartmine's converters build messages through a ``MessageFactory`` and pass numpy arrays
for array fields and sometimes numpy scalars or ``int`` for ``float64`` fields. rosbags
classes take those as they are; rclpy's generated setters do not, and check types
strictly. :func:`convert_field` turns a value into what the rclpy setter of a field type
(as ``get_fields_and_field_types()`` spells it) accepts, fast for large arrays:

=========================================  ============================================
field type (rosidl spelling)               value given to rclpy
=========================================  ============================================
``sequence<uint8>`` (``uint8[]``, e.g.     ``array.array('B')`` made from the bytes of a
Image.data, PointCloud2.data)              contiguous uint8 array in one copy (the setter
                                           then only checks the typecode; a list of ints
                                           would be checked element by element)
``sequence<T>``, T numeric (``float64[]``  ``array.array`` of T's typecode ('d', 'f', 'i',
such as CameraInfo.d, ``int32[]`` ...)     ...), bounded sequences checked for length
``T[N]``, T numeric (``float64[9]`` such   1-D ``numpy.ndarray`` of T's dtype and size N:
as CameraInfo.k, covariances)              what rclpy stores (it asserts dtype and size);
                                           a 3x3 matrix is flattened row-major
``sequence<octet>`` / ``octet[N]``         list of 1-byte ``bytes`` (``byte[]`` in .msg)
(``byte[]``)
``sequence<boolean>``, strings, nested     lists of ``bool`` / ``str`` / messages
integer scalars                            ``int`` (numpy integers, integral floats),
                                           range-checked for the field's width
``float`` / ``double`` scalars             ``float`` (``int`` and numpy floats accepted)
=========================================  ============================================

Integer arrays are range-checked and float arrays refused when they hold non-integral
values, instead of wrapping silently; a value that cannot fit its field raises
:class:`smartmine.errors.ConversionError` naming the message type and field.
"""

from __future__ import annotations

import array
import operator
import re
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from smartmine.errors import ConversionError

ARRAY_TYPES: Final[dict[str, tuple[str, str]]] = {
    "float": ("f", "float32"),
    "double": ("d", "float64"),
    "int8": ("b", "int8"),
    "uint8": ("B", "uint8"),
    "int16": ("h", "int16"),
    "uint16": ("H", "uint16"),
    "int32": ("i", "int32"),
    "uint32": ("I", "uint32"),
    "int64": ("q", "int64"),
    "uint64": ("Q", "uint64"),
}
"""Numeric element type -> (``array.array`` typecode, numpy dtype), as rosidl_generator_py
stores them (sequences in ``array.array``, fixed-size arrays in ``numpy.ndarray``)."""

INTEGER_TYPES: Final[dict[str, str]] = {
    "int8": "int8",
    "uint8": "uint8",
    "int16": "int16",
    "uint16": "uint16",
    "int32": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "short": "int16",
    "unsigned short": "uint16",
    "long": "int32",
    "unsigned long": "uint32",
    "long long": "int64",
    "unsigned long long": "uint64",
}
FLOAT_TYPES: Final = frozenset({"float", "double", "long double"})
FLOAT32_MAX: Final = float(np.finfo(np.float32).max)

_SEQUENCE = re.compile(r"sequence<(?P<element>.+?)(?:, (?P<bound>\d+))?>")
_ARRAY = re.compile(r"(?P<element>.+)\[(?P<size>\d+)\]")


def parse_field_type(field_type: str) -> tuple[str, str, int | None]:
    """``(kind, element type, size)``: kind is ``scalar``, ``sequence`` or ``array``.

    ``sequence<uint8>`` -> ``("sequence", "uint8", None)``, ``sequence<double, 3>`` ->
    ``("sequence", "double", 3)``, ``double[9]`` -> ``("array", "double", 9)``.
    """
    match = _SEQUENCE.fullmatch(field_type)
    if match:
        bound = match.group("bound")
        return "sequence", match.group("element"), int(bound) if bound else None
    match = _ARRAY.fullmatch(field_type)
    if match:
        return "array", match.group("element"), int(match.group("size"))
    return "scalar", field_type, None


def convert_fields(
    msgtype: str, field_types: Mapping[str, str], fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Every field converted for the rclpy class of ``msgtype``; unknown fields refused."""
    out = {}
    for name, value in fields.items():
        field_type = field_types.get(name)
        if field_type is None:
            raise ConversionError(
                f"{msgtype} has no field {name!r} (fields: {', '.join(field_types)})"
            )
        out[name] = convert_field(field_type, value, where=f"{msgtype}.{name}")
    return out


def convert_field(field_type: str, value: Any, *, where: str = "field") -> Any:
    """``value`` in the form the rclpy setter of a ``field_type`` field accepts."""
    kind, element, size = parse_field_type(field_type)
    if kind == "scalar":
        return convert_scalar(element, value, where=where)
    if element in ARRAY_TYPES:
        if kind == "sequence":
            seq = _sequence(element, value, where)
            if size is not None and len(seq) > size:
                raise ConversionError(f"{where}: {len(seq)} values, at most {size} allowed")
            return seq
        arr = numeric_array(element, value, where=where)
        if size is not None and arr.size != size:
            raise ConversionError(f"{where}: {arr.size} values, exactly {size} required")
        return arr
    if element == "octet":
        items = _octets(value, where)
    else:
        items = [convert_scalar(element, v, where=where) for v in _iterable(value, where)]
    if size is not None:
        if kind == "array" and len(items) != size:
            raise ConversionError(f"{where}: {len(items)} values, exactly {size} required")
        if kind == "sequence" and len(items) > size:
            raise ConversionError(f"{where}: {len(items)} values, at most {size} allowed")
    return items


def numeric_array(element: str, value: Any, *, where: str = "field") -> npt.NDArray[Any]:
    """A flat, contiguous numpy array of the element type's dtype (native byte order).

    Integers out of the element type's range and non-integral floats for integer
    elements raise ``ConversionError`` (numpy would wrap or truncate them silently).
    """
    dtype = np.dtype(ARRAY_TYPES[element][1])
    if isinstance(value, bytes | bytearray | memoryview):
        arr: npt.NDArray[Any] = np.frombuffer(value, dtype=np.uint8)
    else:
        arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise ConversionError(f"{where}: expected numbers, got an array of {arr.dtype}")
    arr = arr.reshape(-1)
    if dtype.kind in "iu" and arr.size:
        if arr.dtype.kind == "f":
            finite = np.isfinite(arr)
            if not np.all(finite) or not np.all(arr == np.trunc(arr)):
                raise ConversionError(f"{where}: {element} values must be integers")
        info = np.iinfo(dtype)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise ConversionError(
                f"{where}: values {lo}..{hi} do not fit {element} ({info.min}..{info.max})"
            )
    if dtype.kind == "f" and arr.dtype.itemsize > dtype.itemsize and arr.size:
        finite = arr[np.isfinite(arr)]
        if finite.size and float(np.abs(finite).max()) > float(np.finfo(dtype).max):
            raise ConversionError(f"{where}: values beyond the range of {element}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _sequence(element: str, value: Any, where: str) -> array.array[Any]:
    typecode, _ = ARRAY_TYPES[element]
    if isinstance(value, array.array) and value.typecode == typecode:
        return value
    arr = numeric_array(element, value, where=where)
    out = array.array(typecode)
    if out.itemsize == arr.dtype.itemsize:
        out.frombytes(arr.tobytes())  # one copy, no per-element Python objects
    else:  # a platform where the C type differs in width: convert value by value
        out.extend(arr.tolist())
    return out


def _iterable(value: Any, where: str) -> list[Any]:
    if isinstance(value, str | bytes):
        raise ConversionError(f"{where}: expected a sequence of values, got {type(value).__name__}")
    if isinstance(value, np.ndarray):
        return list(value.reshape(-1).tolist())
    try:
        return list(value)
    except TypeError:
        raise ConversionError(
            f"{where}: expected a sequence of values, got {type(value).__name__}"
        ) from None


def _octets(value: Any, where: str) -> list[bytes]:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
    elif isinstance(value, list | tuple) and all(isinstance(v, bytes) for v in value):
        data = b"".join(value)
        if len(data) != len(value):
            raise ConversionError(f"{where}: byte values must be single bytes")
    else:
        data = numeric_array("uint8", value, where=where).tobytes()
    return [data[i : i + 1] for i in range(len(data))]


def convert_scalar(element: str, value: Any, *, where: str = "field") -> Any:
    """One value of a basic (or nested message) type, as rclpy wants it."""
    if isinstance(value, np.generic):
        value = value.item()
    if element in INTEGER_TYPES:
        if isinstance(value, float):
            if not value.is_integer():
                raise ConversionError(f"{where}: {element} wants an integer, got {value!r}")
            value = int(value)
        try:
            number = operator.index(value)
        except TypeError:
            raise ConversionError(
                f"{where}: {element} wants an integer, got {type(value).__name__}"
            ) from None
        info = np.iinfo(np.dtype(INTEGER_TYPES[element]))
        if not info.min <= number <= info.max:
            raise ConversionError(
                f"{where}: {number} does not fit {element} ({info.min}..{info.max})"
            )
        return int(number)
    if element in FLOAT_TYPES:
        if isinstance(value, str | bytes) or value is None:
            raise ConversionError(f"{where}: {element} wants a number, got {value!r}")
        number_f = float(value)
        if element == "float" and abs(number_f) > FLOAT32_MAX and np.isfinite(number_f):
            raise ConversionError(f"{where}: {number_f} does not fit float32")
        return number_f
    if element == "boolean":
        return bool(value)
    if element == "octet":
        if isinstance(value, bytes | bytearray) and len(value) == 1:
            return bytes(value)
        number = convert_scalar("uint8", value, where=where)
        return bytes([number])
    if element.startswith(("string", "wstring")):
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return str(value)
    return value  # char, nested messages: as given
