"""Arrays from message conversion go straight into Open3D, OpenCV, torch and rasterio.

Images are written into a real bag (little- and big-endian), read back through the
bag reader, converted, and handed to each library as they are: no ``astype``, no
``ascontiguousarray``. Open3D refuses explicitly little-endian buffers (``<H``), so
this guards the native byte order of the converters.
"""

from __future__ import annotations

import warnings
from typing import Any

import cv2
import numpy as np
import pytest

from smartmine.bagio.reader import BagReader
from smartmine.bagio.writer import BagWriter
from smartmine.msgs import image_to_numpy, numpy_to_image, pointcloud2_to_array
from smartmine.msgs.pointcloud import xyz_to_pointcloud2

o3d = pytest.importorskip("open3d")

HEIGHT, WIDTH = 48, 64
T0 = 1_700_000_000_000_000_000


def _frames() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    depth_mm = rng.integers(500, 4000, (HEIGHT, WIDTH), dtype=np.uint16)
    return {
        "16UC1": depth_mm,
        "32FC1": depth_mm.astype(np.float32) / 1000.0,
        "rgb8": rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8),
    }


@pytest.fixture(scope="module", params=[False, True], ids=["little-endian", "big-endian"])
def from_bag(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The three images and a cloud as read back from a bag written with that byte order."""
    big = bool(request.param)
    bag = tmp_path_factory.mktemp("interop") / "rgbd.mcap"
    frames = _frames()
    xyz = np.random.default_rng(9).normal(size=(100, 3))
    with BagWriter(bag) as w:
        for enc, pixels in frames.items():
            topic = f"/camera/{enc}"
            w.add_topic(topic, "sensor_msgs/msg/Image")
            msg = numpy_to_image(pixels, enc, stamp_ns=T0, is_bigendian=big, factory=w.factory)
            w.write(topic, T0, msg)
        w.add_topic("/points", "sensor_msgs/msg/PointCloud2")
        w.write("/points", T0, xyz_to_pointcloud2(xyz, factory=w.factory))
    with BagReader(bag) as reader:
        msgs = {m.topic: m.message for m in reader.messages()}
    images = {enc: image_to_numpy(msgs[f"/camera/{enc}"]) for enc in frames}
    for enc, pixels in frames.items():
        np.testing.assert_array_equal(images[enc], pixels)
    return frames, images, pointcloud2_to_array(msgs["/points"]), xyz


def test_arrays_are_native_endian(from_bag: Any) -> None:
    _, images, cloud, _ = from_bag
    for arr in images.values():
        assert arr.dtype.byteorder in "=|", arr.dtype
        assert memoryview(arr).format in {"B", "H", "f"}
    for name in cloud.dtype.names:
        assert cloud.dtype.fields[name][0].byteorder in "=|"


def test_open3d_takes_depth_and_colour(from_bag: Any) -> None:
    frames, images, _, _ = from_bag
    color = o3d.geometry.Image(images["rgb8"])
    for enc in ("16UC1", "32FC1"):
        depth = o3d.geometry.Image(images[enc])
        np.testing.assert_array_equal(np.asarray(depth), frames[enc])
        scale = 1000.0 if enc == "16UC1" else 1.0
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            color, depth, depth_scale=scale, depth_trunc=10.0, convert_rgb_to_intensity=False
        )
        metres = np.asarray(rgbd.depth)
        np.testing.assert_allclose(metres, frames["16UC1"] / 1000.0, rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(rgbd.color), frames["rgb8"])
        intrinsic = o3d.camera.PinholeCameraIntrinsic(WIDTH, HEIGHT, 50.0, 50.0, 32.0, 24.0)
        cloud = o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, intrinsic)
        assert len(cloud.points) == HEIGHT * WIDTH


def test_opencv_takes_them(from_bag: Any) -> None:
    frames, images, _, _ = from_bag
    grey = cv2.cvtColor(images["rgb8"], cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(grey, cv2.cvtColor(frames["rgb8"], cv2.COLOR_RGB2GRAY))
    for enc in ("16UC1", "32FC1"):
        small = cv2.resize(images[enc], (WIDTH // 2, HEIGHT // 2), interpolation=cv2.INTER_NEAREST)
        assert small.dtype == frames[enc].dtype
        np.testing.assert_array_equal(small, frames[enc][::2, ::2])
    # a filter that checks the element type strictly (16-bit median needs ksize 3 or 5)
    np.testing.assert_array_equal(
        cv2.medianBlur(images["16UC1"], 3), cv2.medianBlur(frames["16UC1"], 3)
    )


def test_torch_and_rasterio_take_them(from_bag: Any) -> None:
    torch = pytest.importorskip("torch")
    rasterio = pytest.importorskip("rasterio")
    from rasterio.io import MemoryFile

    frames, images, cloud, xyz = from_bag
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # read-only views: torch warns, still works
        depth = torch.from_numpy(images["32FC1"])
        z = torch.from_numpy(cloud["z"])
    assert depth.dtype == torch.float32 and float(depth.sum()) == pytest.approx(
        float(frames["32FC1"].sum()), rel=1e-6
    )
    np.testing.assert_allclose(z.numpy(), xyz[:, 2].astype(np.float32))
    profile = {
        "driver": "GTiff",
        "width": WIDTH,
        "height": HEIGHT,
        "count": 1,
        "crs": "EPSG:32644",
        "transform": rasterio.Affine(0.05, 0.0, 500_000.0, 0.0, -0.05, 5_500_000.0),
    }
    for enc in ("16UC1", "32FC1"):
        with MemoryFile() as mem:
            with mem.open(**profile, dtype=images[enc].dtype) as dst:
                dst.write(images[enc], 1)
            with mem.open() as src:
                np.testing.assert_array_equal(src.read(1), frames[enc])
