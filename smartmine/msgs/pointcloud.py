"""``sensor_msgs/PointCloud2`` <-> numpy structured arrays.

Reading gives a 1-D structured array of ``height*width`` points (row-major; reshape to
``(height, width)`` for organised clouds) whose dtype mirrors the message layout:
one field per ``PointField`` at its offset, ``count > 1`` as a sub-array, itemsize
``point_step`` (padding kept). Little-endian clouds without row padding decode to a
view of ``msg.data`` (possibly read-only); big-endian ones to a native-endian copy.
Field types are native and spelled so (``float32``, not ``<f4``), as Open3D requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from smartmine.errors import ConversionError
from smartmine.msgs._util import AnyArray, byte_view, get_field, get_int, resolve_factory
from smartmine.msgs.factory import MessageFactory
from smartmine.msgs.stamp import make_header

INT8: Final = 1
UINT8: Final = 2
INT16: Final = 3
UINT16: Final = 4
INT32: Final = 5
UINT32: Final = 6
FLOAT32: Final = 7
FLOAT64: Final = 8

POINTFIELD_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    INT8: np.dtype("i1"),
    UINT8: np.dtype("u1"),
    INT16: np.dtype("i2"),
    UINT16: np.dtype("u2"),
    INT32: np.dtype("i4"),
    UINT32: np.dtype("u4"),
    FLOAT32: np.dtype("f4"),
    FLOAT64: np.dtype("f8"),
}
"""``PointField.datatype`` -> numpy element type."""

_KIND_SIZE_TO_DATATYPE: Final = {
    (dt.kind, dt.itemsize): code for code, dt in POINTFIELD_DTYPES.items()
}


def _cloud_dtype(fields: Any, point_step: int, big: bool) -> np.dtype[Any]:
    order: Literal[">", "<"] = ">" if big else "<"
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    for i, field in enumerate(fields):
        name = str(get_field(field, "PointField", "name"))
        offset = get_int(field, "PointField", "offset")
        datatype = get_int(field, "PointField", "datatype")
        count = get_int(field, "PointField", "count")
        where = f"PointCloud2.fields[{i}] ({name!r})"
        base = POINTFIELD_DTYPES.get(datatype)
        if base is None:
            raise ConversionError(f"{where} has unknown datatype {datatype}")
        if not name:
            raise ConversionError(f"{where} has an empty name")
        if name in names:
            raise ConversionError(f"{where}: duplicate field name")
        if count < 0:
            raise ConversionError(f"{where} has negative count {count}")
        count = max(count, 1)  # some drivers write count 0 for scalars
        size = base.itemsize * count
        if offset < 0 or offset + size > point_step:
            raise ConversionError(
                f"{where} at offset {offset} with {size} bytes exceeds point_step = {point_step}"
            )
        names.append(name)
        element = np.dtype(base.newbyteorder(order).str)  # "=" where native (see image.py)
        formats.append(element if count == 1 else (element, (count,)))
        offsets.append(offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step}
    )


def _native(dtype: np.dtype[Any]) -> np.dtype[Any]:
    fields: Mapping[str, Any] = dtype.fields or {}
    formats: list[Any] = []
    for name in dtype.names or ():
        sub = fields[name][0]
        base = sub.base.newbyteorder("=")
        formats.append(base if sub.shape == () else (base, sub.shape))
    return np.dtype(
        {
            "names": list(dtype.names or ()),
            "formats": formats,
            "offsets": [fields[n][1] for n in dtype.names or ()],
            "itemsize": dtype.itemsize,
        }
    )


def pointcloud2_to_array(msg: Any) -> AnyArray:
    """All points of a PointCloud2 as a 1-D structured array (see module doc)."""
    height = get_int(msg, "PointCloud2", "height")
    width = get_int(msg, "PointCloud2", "width")
    point_step = get_int(msg, "PointCloud2", "point_step")
    row_step = get_int(msg, "PointCloud2", "row_step")
    big = bool(get_field(msg, "PointCloud2", "is_bigendian"))
    data = byte_view(get_field(msg, "PointCloud2", "data"), "PointCloud2.data")
    if height < 0 or width < 0 or point_step < 0:
        raise ConversionError(
            f"PointCloud2 has negative height/width/point_step ({height}, {width}, {point_step})"
        )
    dtype = _cloud_dtype(get_field(msg, "PointCloud2", "fields"), point_step, big)
    n = height * width
    if n and row_step < width * point_step:
        raise ConversionError(
            f"PointCloud2.row_step = {row_step} is smaller than width*point_step = "
            f"{width * point_step}"
        )
    if data.size != height * row_step:
        raise ConversionError(
            f"PointCloud2.data has {data.size} bytes, expected height*row_step = "
            f"{height * row_step}"
        )
    if n == 0 or point_step == 0:  # point_step 0 passed _cloud_dtype only without fields
        return np.zeros(n, dtype=_native(dtype))
    arr: AnyArray
    if row_step == width * point_step:
        arr = data[: n * point_step].view(dtype)
    else:
        arr = np.ndarray((height, width), dtype=dtype, buffer=data, strides=(row_step, point_step))
        arr = arr.reshape(-1)
    if big:
        arr = arr.astype(_native(dtype))
    return arr


def _scalar_field(arr: AnyArray, name: str) -> AnyArray:
    fields: Mapping[str, Any] = arr.dtype.fields or {}
    if name not in fields:
        raise ConversionError(
            f"PointCloud2 has no field {name!r} (fields: {', '.join(arr.dtype.names or ())})"
        )
    if fields[name][0].shape != ():
        raise ConversionError(f"PointCloud2 field {name!r} has count > 1, expected a scalar")
    return arr[name]


def pointcloud2_to_xyz(msg: Any, skip_nans: bool = True) -> npt.NDArray[np.float64]:
    """(N, 3) float64 of fields x, y, z; ``skip_nans`` drops points with a NaN coordinate."""
    arr = pointcloud2_to_array(msg)
    xyz = np.empty((arr.shape[0], 3), dtype=np.float64)
    for i, name in enumerate("xyz"):
        xyz[:, i] = _scalar_field(arr, name)
    if skip_nans:
        xyz = xyz[~np.isnan(xyz).any(axis=1)]
    return xyz


def unpack_rgb(values: AnyArray) -> npt.NDArray[np.uint8]:
    """(N, 3) uint8 R, G, B of ROS packed ``rgb``/``rgba`` values (0xAARRGGBB).

    Accepts the float32 field as read from the cloud (bits are reinterpreted, never
    converted, so NaN-looking patterns with alpha 255 are fine) or uint32/int32.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 4:
        bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
    elif arr.dtype.kind in "ui" and arr.dtype.itemsize == 4:
        bits = np.ascontiguousarray(arr).view(np.uint32)
    else:
        raise ConversionError(
            f"packed rgb values have dtype {arr.dtype}, expected float32 or uint32"
        )
    bits = bits.reshape(-1)
    out = np.empty((bits.shape[0], 3), dtype=np.uint8)
    out[:, 0] = (bits >> 16) & 0xFF
    out[:, 1] = (bits >> 8) & 0xFF
    out[:, 2] = bits & 0xFF
    return out


def pack_rgb(rgb: AnyArray) -> npt.NDArray[np.float32]:
    """(N,) float32 ROS packed ``rgb`` (0x00RRGGBB bits) of (N, 3) uint8 colours."""
    arr = np.asarray(rgb)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ConversionError(f"rgb has shape {arr.shape}, expected (N, 3)")
    if arr.dtype.kind not in "ui":
        raise ConversionError(f"rgb has dtype {arr.dtype}, expected uint8")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 255):
        raise ConversionError("rgb has values outside 0..255")
    c = arr.astype(np.uint32)
    packed = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    return packed.view(np.float32)


def _default_is_dense(arr: AnyArray) -> bool:
    fields: Mapping[str, Any] = arr.dtype.fields or {}
    for name in ("x", "y", "z"):
        if name in fields and fields[name][0].base.kind == "f" and not np.isfinite(arr[name]).all():
            return False
    return True


def array_to_pointcloud2(
    structured_array: AnyArray,
    *,
    stamp_ns: int = 0,
    frame_id: str = "",
    factory: MessageFactory | None = None,
    point_step: int | None = None,
    is_dense: bool | None = None,
    is_bigendian: bool = False,
) -> Any:
    """A ``sensor_msgs/msg/PointCloud2`` of a structured array.

    1-D arrays give ``height`` 1, 2-D ``(height, width)`` an organised cloud. Each
    field keeps its offset in the dtype (sub-arrays become ``count``); element types
    int8..float64. ``point_step`` defaults to the dtype's itemsize; a larger value
    pads each point with zeros. ``is_dense`` None means "no non-finite x/y/z".
    Without conversion needed, ``data`` is a view of a contiguous input array.
    """
    arr = np.asarray(structured_array)
    fields_map = arr.dtype.fields
    if arr.dtype.names is None or fields_map is None:
        raise ConversionError(f"array of dtype {arr.dtype} is not a structured array")
    if arr.ndim == 1:
        height, width = 1, int(arr.shape[0])
    elif arr.ndim == 2:
        height, width = int(arr.shape[0]), int(arr.shape[1])
    else:
        raise ConversionError(f"point array has shape {arr.shape}, expected (N,) or (H, W)")
    order: Literal[">", "<"] = ">" if is_bigendian else "<"
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    point_fields: list[tuple[str, int, int, int]] = []
    end = 0
    for name in arr.dtype.names:
        sub, offset = fields_map[name][0], int(fields_map[name][1])
        base = sub.base
        datatype = _KIND_SIZE_TO_DATATYPE.get((base.kind, base.itemsize))
        if datatype is None or base.fields is not None:
            raise ConversionError(f"point field {name!r} has unsupported dtype {sub}")
        count = int(np.prod(sub.shape)) if sub.shape else 1
        names.append(name)
        formats.append(
            base.newbyteorder(order) if not sub.shape else (base.newbyteorder(order), (count,))
        )
        offsets.append(offset)
        point_fields.append((name, offset, datatype, count))
        end = max(end, offset + base.itemsize * count)
    step = arr.dtype.itemsize if point_step is None else int(point_step)
    if step < end:
        raise ConversionError(f"point_step = {step} is smaller than the fields' extent {end}")
    target = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": step})
    flat = arr.reshape(-1)
    if target == arr.dtype and flat.flags.c_contiguous:
        data = flat.view(np.uint8)
    else:
        out = np.zeros(flat.shape[0], dtype=target)
        for name in names:
            out[name] = flat[name].reshape(out[name].shape)
        data = out.view(np.uint8)
    if is_dense is None:
        is_dense = _default_is_dense(flat)
    factory = resolve_factory(factory)
    return factory(
        "sensor_msgs/msg/PointCloud2",
        header=make_header(stamp_ns, frame_id, factory),
        height=height,
        width=width,
        fields=[
            factory("sensor_msgs/msg/PointField", name=n, offset=o, datatype=d, count=c)
            for n, o, d, c in point_fields
        ],
        is_bigendian=bool(is_bigendian),
        point_step=step,
        row_step=step * width,
        data=data.reshape(-1),
        is_dense=bool(is_dense),
    )


def xyz_to_pointcloud2(
    xyz: AnyArray,
    *,
    rgb: AnyArray | None = None,
    intensity: AnyArray | None = None,
    stamp_ns: int = 0,
    frame_id: str = "",
    factory: MessageFactory | None = None,
    is_dense: bool | None = None,
) -> Any:
    """A PointCloud2 with float32 x, y, z (offsets 0, 4, 8), then optional packed
    ``rgb`` float32 (from (N, 3) uint8) and ``intensity`` float32, tightly packed.

    ``xyz`` (N, 3) gives an unorganised cloud, (H, W, 3) an organised one.
    """
    pts = np.asarray(xyz)
    if pts.ndim not in (2, 3) or pts.shape[-1] != 3:
        raise ConversionError(f"xyz has shape {pts.shape}, expected (N, 3) or (H, W, 3)")
    lead = pts.shape[:-1]
    n = int(np.prod(lead))
    spec: list[tuple[str, Any]] = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if rgb is not None:
        spec.append(("rgb", "<f4"))
    if intensity is not None:
        spec.append(("intensity", "<f4"))
    out = np.empty(lead, dtype=spec)
    flat = pts.reshape(n, 3)
    for i, name in enumerate("xyz"):
        out[name] = flat[:, i].reshape(lead)
    if rgb is not None:
        colours = np.asarray(rgb)
        if colours.shape not in ((n, 3), (*lead, 3)):
            raise ConversionError(f"rgb has shape {colours.shape}, expected ({n}, 3)")
        out["rgb"] = pack_rgb(colours.reshape(n, 3)).reshape(lead)
    if intensity is not None:
        values = np.asarray(intensity)
        if values.size != n:
            raise ConversionError(f"intensity has {values.size} values, expected {n}")
        out["intensity"] = values.reshape(lead)
    return array_to_pointcloud2(
        out, stamp_ns=stamp_ns, frame_id=frame_id, factory=factory, is_dense=is_dense
    )
