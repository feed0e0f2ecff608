"""Private helpers shared by the converters: field access, buffers, small arrays."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.errors import ConversionError
from smartmine.msgs.factory import MessageFactory, default_factory

F64Array = npt.NDArray[np.float64]
AnyArray = npt.NDArray[Any]
U8Array = npt.NDArray[np.uint8]

_MISSING = object()


def resolve_factory(factory: MessageFactory | None) -> MessageFactory:
    """``factory`` or the shared default (ROS 2 Jazzy rosbags typestore)."""
    return default_factory() if factory is None else factory


def get_field(msg: Any, what: str, *names: str) -> Any:
    """The first attribute of ``names`` that ``msg`` has (ROS 1 / ROS 2 spellings).

    ``what`` names the message (``"CameraInfo"``) for the error message.
    """
    for name in names:
        value = getattr(msg, name, _MISSING)
        if value is not _MISSING:
            return value
    spelled = " or ".join(repr(n) for n in names)
    raise ConversionError(f"{what} message ({type(msg).__name__}) has no field {spelled}")


def get_int(msg: Any, what: str, name: str) -> int:
    """An integer field, with an error naming the field if it is not one."""
    value = get_field(msg, what, name)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConversionError(f"{what}.{name} is {value!r}, expected an integer") from None


def get_float(msg: Any, what: str, name: str) -> float:
    """A float field, with an error naming the field if it is not a number."""
    value = get_field(msg, what, name)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConversionError(f"{what}.{name} is {value!r}, expected a number") from None


def byte_view(data: Any, what: str) -> U8Array:
    """A 1-D uint8 view of a message byte array, copying only when unavoidable.

    Accepts numpy arrays (rosbags), ``bytes``/``bytearray``/``memoryview`` and
    ``array.array`` (rclpy) through the buffer protocol, and sequences of ints.
    The result may be read-only (it shares memory with the message).
    """
    if isinstance(data, np.ndarray):
        if data.dtype == np.uint8 and data.ndim == 1 and data.flags.c_contiguous:
            return data
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(memoryview(data), dtype=np.uint8)
    except (TypeError, ValueError):
        pass
    try:
        return np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise ConversionError(
            f"{what} is of type {type(data).__name__}, expected a byte buffer"
        ) from None


def float_array(value: Any, what: str, size: int | None = None) -> F64Array:
    """A fresh 1-D float64 copy of a numeric message array, checking its length."""
    try:
        arr = np.array(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConversionError(f"{what} is not an array of numbers: {value!r}") from None
    if size is not None and arr.size != size:
        raise ConversionError(f"{what} has {arr.size} values, expected {size}")
    return arr


def matrix_arg(value: Any, what: str, shape: tuple[int, ...]) -> F64Array:
    """A fresh float64 array of ``shape`` from user input (flat row-major input accepted)."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConversionError(f"{what} is not an array of numbers") from None
    if arr.shape != shape:
        if arr.size != int(np.prod(shape)):
            raise ConversionError(f"{what} has shape {arr.shape}, expected {shape}")
        arr = arr.reshape(shape)
    return arr


def flat_f64(value: Any) -> F64Array:
    """A contiguous flat float64 array to hand to a message factory."""
    return np.ascontiguousarray(value, dtype=np.float64).reshape(-1)


def dataclass_eq(a: Any, b: Any) -> bool:
    """Field-wise equality of two dataclasses of the same class, arrays compared exactly."""
    if type(a) is not type(b):
        return NotImplemented  # type: ignore[no-any-return]
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                return False
        elif x != y:
            return False
    return True


def readonly(arr: AnyArray) -> AnyArray:
    """Mark ``arr`` (a fresh array owned by the caller) read-only and return it."""
    arr.setflags(write=False)
    return arr
