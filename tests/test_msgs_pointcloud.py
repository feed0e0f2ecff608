"""PointCloud2 conversion: layouts built by hand, round trips through rosbags CDR."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from smartmine.errors import ConversionError
from smartmine.msgs import (
    POINTFIELD_DTYPES,
    array_to_pointcloud2,
    header_stamp_ns,
    pack_rgb,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
    unpack_rgb,
    xyz_to_pointcloud2,
)
from smartmine.msgs.factory import typestore

STORE = typestore()
T = STORE.types
FLOAT32, UINT16, FLOAT64 = 7, 4, 8


def cdr_roundtrip(msg: Any) -> Any:
    msgtype = msg.__msgtype__
    return STORE.deserialize_cdr(STORE.serialize_cdr(msg, msgtype), msgtype)


def field(name: str, offset: int, datatype: int, count: int = 1) -> Any:
    return T["sensor_msgs/msg/PointField"](name=name, offset=offset, datatype=datatype, count=count)


def cloud(
    fields: list[Any],
    data: bytes,
    *,
    height: int,
    width: int,
    point_step: int,
    row_step: int,
    big: bool = False,
) -> Any:
    return T["sensor_msgs/msg/PointCloud2"](
        header=T["std_msgs/msg/Header"](
            stamp=T["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id="lidar"
        ),
        height=height,
        width=width,
        fields=fields,
        is_bigendian=big,
        point_step=point_step,
        row_step=row_step,
        data=np.frombuffer(data, dtype=np.uint8),
        is_dense=False,
    )


def random_xyz(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 50, (n, 3)).astype(np.float32)


def test_xyz_roundtrip() -> None:
    xyz = random_xyz(101)
    msg = xyz_to_pointcloud2(xyz, stamp_ns=3_000_000_004, frame_id="lidar")
    assert [f.name for f in msg.fields] == ["x", "y", "z"]
    assert [f.offset for f in msg.fields] == [0, 4, 8]
    assert msg.point_step == 12
    assert msg.row_step == 12 * 101
    assert msg.is_dense
    back = cdr_roundtrip(msg)
    assert header_stamp_ns(back) == 3_000_000_004
    out = pointcloud2_to_xyz(back)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, xyz.astype(np.float64))


def test_xyz_rgb_roundtrip() -> None:
    xyz = random_xyz(64, seed=1)
    rgb = np.random.default_rng(2).integers(0, 256, (64, 3), dtype=np.uint8)
    back = cdr_roundtrip(xyz_to_pointcloud2(xyz, rgb=rgb))
    arr = pointcloud2_to_array(back)
    assert arr.dtype.names == ("x", "y", "z", "rgb")
    assert arr.dtype["rgb"] == np.float32
    np.testing.assert_array_equal(unpack_rgb(arr["rgb"]), rgb)
    np.testing.assert_array_equal(pointcloud2_to_xyz(back), xyz)
    # the packed bits are 0x00RRGGBB
    bits = arr["rgb"].view(np.uint32)
    expected = (rgb[:, 0].astype(np.uint32) << 16) | (rgb[:, 1].astype(np.uint32) << 8) | rgb[:, 2]
    np.testing.assert_array_equal(bits, expected)


def test_xyz_intensity_roundtrip() -> None:
    xyz = random_xyz(50, seed=3)
    intensity = np.random.default_rng(4).random(50).astype(np.float32)
    back = cdr_roundtrip(xyz_to_pointcloud2(xyz, intensity=intensity))
    arr = pointcloud2_to_array(back)
    np.testing.assert_array_equal(arr["intensity"], intensity)
    np.testing.assert_array_equal(np.stack([arr["x"], arr["y"], arr["z"]], axis=1), xyz)


def test_unpack_rgb_with_alpha_nan_pattern() -> None:
    # PCL writes alpha 255: 0xFFRRGGBB is a NaN float32; bits must survive
    rgba = np.array([0xFF902030, 0xFFFFFFFF, 0x00ABCDEF, 0x7F000001], dtype=np.uint32)
    as_float = rgba.view(np.float32)
    assert np.isnan(as_float[:2]).all()
    expected = np.array([[144, 32, 48], [255, 255, 255], [171, 205, 239], [0, 0, 1]], np.uint8)
    np.testing.assert_array_equal(unpack_rgb(as_float), expected)
    np.testing.assert_array_equal(unpack_rgb(rgba), expected)
    # through a big-endian cloud
    data = b"".join(
        np.full(3, i, dtype=">f4").tobytes() + np.array([v], dtype=">u4").tobytes()
        for i, v in enumerate(rgba)
    )
    fields = [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32)]
    fields.append(field("rgba", 12, FLOAT32))
    msg = cloud(fields, data, height=1, width=4, point_step=16, row_step=64, big=True)
    np.testing.assert_array_equal(unpack_rgb(pointcloud2_to_array(msg)["rgba"]), expected)
    np.testing.assert_array_equal(pointcloud2_to_xyz(msg)[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(expected)), expected)
    with pytest.raises(ConversionError, match="expected float32 or uint32"):
        unpack_rgb(np.zeros(3, np.float64))


def test_padded_point_step_hand_built() -> None:
    n = 7
    xyz = random_xyz(n, seed=5)
    intensity = np.arange(n, dtype=np.float32) * 1.5
    raw = np.full((n, 32), 0xEE, dtype=np.uint8)  # junk in the padding
    raw[:, 0:12] = xyz.astype("<f4").view(np.uint8).reshape(n, 12)
    raw[:, 16:20] = intensity.astype("<f4").view(np.uint8).reshape(n, 4)
    fields = [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32)]
    fields.append(field("intensity", 16, FLOAT32))
    msg = cloud(fields, raw.tobytes(), height=1, width=n, point_step=32, row_step=32 * n)
    arr = pointcloud2_to_array(cdr_roundtrip(msg))
    assert arr.dtype.itemsize == 32
    assert arr.dtype.fields is not None and arr.dtype.fields["intensity"][1] == 16
    np.testing.assert_array_equal(arr["intensity"], intensity)
    np.testing.assert_array_equal(pointcloud2_to_xyz(msg), xyz)
    # writing it back keeps the layout
    again = cdr_roundtrip(array_to_pointcloud2(arr, frame_id="lidar"))
    assert again.point_step == 32
    assert [(f.name, f.offset, f.datatype, f.count) for f in again.fields] == [
        (f.name, f.offset, f.datatype, f.count) for f in fields
    ]
    np.testing.assert_array_equal(pointcloud2_to_array(again), arr)
    # and a packed array padded to a larger point_step writes zeros
    packed = np.zeros(n, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    padded = array_to_pointcloud2(packed, point_step=20)
    assert padded.point_step == 20
    assert bytes(padded.data) == bytes(20 * n)


def test_row_step_padding_hand_built() -> None:
    height, width, point_step, pad = 3, 4, 14, 9
    xyz = random_xyz(height * width, seed=6).reshape(height, width, 3)
    ring = np.arange(height * width, dtype=np.uint16).reshape(height, width)
    rows = []
    for r in range(height):
        raw = np.zeros((width, point_step), np.uint8)
        raw[:, 0:12] = xyz[r].astype("<f4").view(np.uint8).reshape(width, 12)
        raw[:, 12:14] = ring[r].astype("<u2").view(np.uint8).reshape(width, 2)
        rows.append(raw.tobytes() + b"\x55" * pad)
    fields = [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32)]
    fields.append(field("ring", 12, UINT16))
    msg = cloud(
        fields,
        b"".join(rows),
        height=height,
        width=width,
        point_step=point_step,
        row_step=width * point_step + pad,
    )
    arr = pointcloud2_to_array(cdr_roundtrip(msg))
    assert arr.shape == (height * width,)
    np.testing.assert_array_equal(arr["ring"], ring.reshape(-1))
    np.testing.assert_array_equal(pointcloud2_to_xyz(msg), xyz.reshape(-1, 3))
    # organised write keeps height/width
    organised = array_to_pointcloud2(arr.reshape(height, width))
    assert (organised.height, organised.width) == (height, width)
    assert organised.row_step == width * point_step
    np.testing.assert_array_equal(pointcloud2_to_array(organised), arr)


def test_big_endian_hand_built() -> None:
    n = 5
    x = np.linspace(-1, 1, n)
    ring = np.array([1, 2, 300, 40000, 65535], dtype=np.uint16)
    dtype_be = np.dtype(
        {"names": ["x", "ring"], "formats": [">f8", ">u2"], "offsets": [0, 8], "itemsize": 12}
    )
    raw = np.zeros(n, dtype=dtype_be)
    raw["x"], raw["ring"] = x, ring
    msg = cloud(
        [field("x", 0, FLOAT64), field("ring", 8, UINT16)],
        raw.tobytes(),
        height=1,
        width=n,
        point_step=12,
        row_step=12 * n,
        big=True,
    )
    arr = pointcloud2_to_array(cdr_roundtrip(msg))
    assert arr.dtype["x"].isnative and arr.dtype["ring"].isnative
    np.testing.assert_array_equal(arr["x"], x)
    np.testing.assert_array_equal(arr["ring"], ring)
    # and our writer produces the same bytes
    native = np.zeros(
        n,
        dtype={
            "names": ["x", "ring"],
            "formats": ["<f8", "<u2"],
            "offsets": [0, 8],
            "itemsize": 12,
        },
    )
    native["x"], native["ring"] = x, ring
    written = array_to_pointcloud2(native, is_bigendian=True)
    assert written.is_bigendian
    assert bytes(written.data) == raw.tobytes()
    np.testing.assert_array_equal(pointcloud2_to_array(cdr_roundtrip(written)), native)


def test_count_greater_than_one() -> None:
    n = 6
    xyz = random_xyz(n, seed=7)
    normals = np.random.default_rng(8).random((n, 3)).astype(np.float32)
    raw = np.zeros((n, 24), np.uint8)
    raw[:, 0:12] = xyz.view(np.uint8).reshape(n, 12)
    raw[:, 12:24] = normals.astype("<f4").view(np.uint8).reshape(n, 12)
    fields = [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32)]
    fields.append(field("normal", 12, FLOAT32, count=3))
    msg = cloud(fields, raw.tobytes(), height=1, width=n, point_step=24, row_step=24 * n)
    arr = pointcloud2_to_array(msg)
    assert arr["normal"].shape == (n, 3)
    np.testing.assert_array_equal(arr["normal"], normals)
    back = cdr_roundtrip(array_to_pointcloud2(arr))
    assert [(f.name, f.count) for f in back.fields][-1] == ("normal", 3)
    np.testing.assert_array_equal(pointcloud2_to_array(back)["normal"], normals)
    with pytest.raises(ConversionError, match="field 'z' has count > 1"):
        pointcloud2_to_xyz(
            cloud(
                [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32, 4)],
                bytes(24),
                height=1,
                width=1,
                point_step=24,
                row_step=24,
            )
        )


@pytest.mark.parametrize("big", [False, True])
def test_all_datatypes_roundtrip(big: bool) -> None:
    names = [f"f{code}" for code in POINTFIELD_DTYPES]
    dtype = np.dtype(
        [
            (name, POINTFIELD_DTYPES[code])
            for name, code in zip(names, POINTFIELD_DTYPES, strict=True)
        ]
    )
    rng = np.random.default_rng(9)
    arr = rng.integers(0, 256, 11 * dtype.itemsize, dtype=np.uint8).view(dtype)  # any bits
    back = cdr_roundtrip(array_to_pointcloud2(arr, is_bigendian=big))
    assert [f.datatype for f in back.fields] == list(range(1, 9))
    out = pointcloud2_to_array(back)
    assert out.tobytes() == arr.tobytes()


def test_skip_nans_and_is_dense() -> None:
    xyz = random_xyz(4)
    xyz[1, 2] = np.nan
    msg = xyz_to_pointcloud2(xyz)
    assert not msg.is_dense
    assert pointcloud2_to_xyz(msg).shape == (3, 3)
    np.testing.assert_array_equal(pointcloud2_to_xyz(msg), xyz[[0, 2, 3]])
    assert pointcloud2_to_xyz(msg, skip_nans=False).shape == (4, 3)
    assert xyz_to_pointcloud2(xyz, is_dense=True).is_dense


def test_standin_objects_convert_like_rosbags() -> None:
    xyz = random_xyz(9, seed=10)
    msg = xyz_to_pointcloud2(xyz, intensity=np.arange(9, dtype=np.float32))
    fake = SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=0, nanosec=0), frame_id=""),
        height=msg.height,
        width=msg.width,
        fields=[
            SimpleNamespace(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
            for f in msg.fields
        ],
        is_bigendian=False,
        point_step=msg.point_step,
        row_step=msg.row_step,
        data=bytes(msg.data),
        is_dense=True,
    )
    assert pointcloud2_to_array(fake).tobytes() == pointcloud2_to_array(msg).tobytes()
    np.testing.assert_array_equal(pointcloud2_to_xyz(fake), xyz)


def test_empty_cloud() -> None:
    msg = cdr_roundtrip(xyz_to_pointcloud2(np.zeros((0, 3), np.float32)))
    assert pointcloud2_to_array(msg).shape == (0,)
    assert pointcloud2_to_xyz(msg).shape == (0, 3)


def test_malformed_clouds_raise() -> None:
    xyz_fields = [field("x", 0, FLOAT32), field("y", 4, FLOAT32), field("z", 8, FLOAT32)]
    with pytest.raises(
        ConversionError, match=r"PointCloud2\.data has 20 bytes, expected height\*row_step = 24"
    ):
        pointcloud2_to_array(
            cloud(xyz_fields, bytes(20), height=1, width=2, point_step=12, row_step=24)
        )
    bad = [*xyz_fields, field("t", 12, 9)]
    with pytest.raises(ConversionError, match=r"fields\[3\] \('t'\) has unknown datatype 9"):
        pointcloud2_to_array(cloud(bad, bytes(16), height=1, width=1, point_step=16, row_step=16))
    over = [*xyz_fields, field("t", 10, FLOAT32)]
    with pytest.raises(
        ConversionError, match=r"fields\[3\] \('t'\) at offset 10 .* point_step = 12"
    ):
        pointcloud2_to_array(cloud(over, bytes(12), height=1, width=1, point_step=12, row_step=12))
    with pytest.raises(ConversionError, match=r"row_step = 20 is smaller"):
        pointcloud2_to_array(
            cloud(xyz_fields, bytes(20), height=1, width=2, point_step=12, row_step=20)
        )
    with pytest.raises(ConversionError, match="no field 'z'"):
        pointcloud2_to_xyz(
            cloud(xyz_fields[:2], bytes(8), height=1, width=1, point_step=8, row_step=8)
        )
    with pytest.raises(ConversionError, match="not a structured array"):
        array_to_pointcloud2(np.zeros((3, 3)))
    with pytest.raises(ConversionError, match="unsupported dtype"):
        array_to_pointcloud2(np.zeros(3, dtype=[("x", "f2")]))
    with pytest.raises(ConversionError, match="point_step = 8 is smaller"):
        array_to_pointcloud2(
            np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")]), point_step=8
        )
    with pytest.raises(ConversionError, match=r"rgb has shape"):
        xyz_to_pointcloud2(random_xyz(3), rgb=np.zeros((2, 3), np.uint8))
