"""image_rectify against ground truth: blobs rendered at distorted positions must land on
their ideal pinhole pixels; caching, pass-through, pairing, errors and the bag runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from calibration.rectify import ImageRectify, ImageRectifyParams
from smartmine.bagio import BagReader, BagWriter
from smartmine.msgs import (
    CameraIntrinsics,
    camera_info_to_intrinsics,
    header_frame_id,
    header_stamp_ns,
    image_to_numpy,
    intrinsics_to_camera_info,
    numpy_to_image,
)
from smartmine.processor import ProcessorError, get_processor
from smartmine.runner import Feeder, params_sidecar, run_on_bag

W, H = 640, 480
K = np.array([[500.0, 0.0, 319.5], [0.0, 500.0, 239.5], [0.0, 0.0, 1.0]])
PLUMB_BOB = np.array([-0.25, 0.08, 0.001, -0.0015, 0.0])
RATIONAL = np.array([-0.2, 0.05, 0.001, -0.001, 0.01, 0.1, 0.02, 0.005])
FISHEYE = np.array([0.1, -0.05, 0.02, -0.005])
FRAME = "camera_color_optical_frame"
IMAGE_TOPIC = "/camera/color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
TOPICS = {p.name: p.topic for p in (*ImageRectify.inputs, *ImageRectify.outputs)}
Array = npt.NDArray[Any]


# -- ground truth -------------------------------------------------------------------------
def distort(ideal: Array, k_new: Array, d: Array, model: str) -> Array:
    """Raw (distorted) pixels of ideal pinhole pixels under ``k_new``: the lens models
    written out here, independent of the OpenCV code the processor uses."""
    x = (ideal[:, 0] - k_new[0, 2]) / k_new[0, 0]
    y = (ideal[:, 1] - k_new[1, 2]) / k_new[1, 1]
    if model == "equidistant":
        r = np.hypot(x, y)
        theta = np.arctan(r)
        t2 = theta**2
        theta_d = theta * (1 + d[0] * t2 + d[1] * t2**2 + d[2] * t2**3 + d[3] * t2**4)
        scale = np.where(r > 0, theta_d / np.where(r > 0, r, 1), 1.0)
        xd, yd = x * scale, y * scale
    else:  # plumb_bob (5 coefficients) or rational_polynomial (8)
        k1, k2, p1, p2, k3, k4, k5, k6 = np.pad(d, (0, 8 - len(d)))
        r2 = x**2 + y**2
        radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x**2)
        yd = y * radial + p1 * (r2 + 2 * y**2) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=1)


def ideal_points(n_x: int = 5, n_y: int = 4, margin: float = 60.0) -> Array:
    """~20 points over the image at sub-pixel positions (ideal, rectified pixels)."""
    rng = np.random.default_rng(7)
    xs, ys = np.meshgrid(
        np.linspace(margin, W - 1 - margin, n_x), np.linspace(margin, H - 1 - margin, n_y)
    )
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1)
    return pts + rng.uniform(-0.5, 0.5, pts.shape)


def render_blobs(centres: Array, amplitude: float, sigma: float = 2.0) -> Array:
    """Float image of Gaussian blobs sampled at pixel centres (OpenCV convention)."""
    cols, rows = np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)
    img = np.zeros((H, W))
    for cx, cy in centres:
        gx = np.exp(-((cols - cx) ** 2) / (2 * sigma**2))
        gy = np.exp(-((rows - cy) ** 2) / (2 * sigma**2))
        img += amplitude * np.outer(gy, gx)
    return img


def centroid(img: Array, around: Array, radius: int = 14) -> Array:
    """Intensity-weighted centroid in a window around a pixel."""
    if img.ndim == 3:
        img = img.mean(axis=2)
    cx, cy = round(float(around[0])), round(float(around[1]))
    win = img[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1].astype(np.float64)
    ys, xs = np.mgrid[cy - radius : cy + radius + 1, cx - radius : cx + radius + 1]
    return np.array([(win * xs).sum() / win.sum(), (win * ys).sum() / win.sum()])


def max_point_error(rectified: Array, ideal: Array) -> float:
    return max(float(np.hypot(*(centroid(rectified, p) - p))) for p in ideal)


# -- messages -------------------------------------------------------------------------------
def camera_info(
    d: Any = PLUMB_BOB,
    model: str = "plumb_bob",
    *,
    k: Array = K,
    p: Array | None = None,
    size: tuple[int, int] = (W, H),
    stamp_ns: int = 0,
    factory: Any = None,
) -> Any:
    intr = CameraIntrinsics(size[0], size[1], k, d, model, None, p)
    return intrinsics_to_camera_info(intr, stamp_ns=stamp_ns, frame_id=FRAME, factory=factory)


def image(pixels: Array, encoding: str, stamp_ns: int = 0) -> Any:
    return numpy_to_image(pixels, encoding, stamp_ns=stamp_ns, frame_id=FRAME)


def distorted_mono16(ideal: Array, d: Array = PLUMB_BOB, model: str = "plumb_bob") -> Array:
    blobs = render_blobs(distort(ideal, K, d, model), amplitude=60000.0)
    return np.round(blobs).clip(0, 65535).astype(np.uint16)


def rectify(proc: ImageRectify, info: Any, img: Any) -> tuple[Any, Any]:
    """The (image_rect, camera_info_rect) messages for one image."""
    assert proc.process("camera_info", info, 0) == []
    out = {o.port: o.message for o in proc.process("image", img, 0)}
    assert set(out) == {"image_rect", "camera_info_rect"}
    return out["image_rect"], out["camera_info_rect"]


# -- accuracy -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "d", "encoding", "interpolation"),
    [
        ("plumb_bob", PLUMB_BOB, "mono16", "linear"),
        ("plumb_bob", PLUMB_BOB, "mono16", "cubic"),
        ("plumb_bob", PLUMB_BOB, "rgb8", "linear"),
        ("rational_polynomial", RATIONAL, "mono16", "lanczos4"),
        ("equidistant", FISHEYE, "mono16", "linear"),
    ],
)
def test_known_points_move_to_their_undistorted_pixels(
    model: str, d: Array, encoding: str, interpolation: str
) -> None:
    ideal = ideal_points()
    raw = distorted_mono16(ideal, d, model)
    # the lens really moves the points: up to tens of pixels at the corners
    assert np.abs(distort(ideal, K, d, model) - ideal).max() > 10
    if encoding == "rgb8":
        grey = np.round(raw / 65535.0 * 250).astype(np.uint8)
        raw = np.dstack([grey, grey, grey])
    proc = ImageRectify(ImageRectifyParams(interpolation=interpolation))  # type: ignore[arg-type]
    img_rect, info_rect = rectify(proc, camera_info(d, model), image(raw, encoding))
    rectified = image_to_numpy(img_rect)
    assert rectified.dtype == raw.dtype and img_rect.encoding == encoding
    error = max_point_error(rectified, ideal)
    print(f"{model} {encoding} {interpolation}: max point error {error:.4f} px")
    assert error < 0.1
    np.testing.assert_allclose(camera_info_to_intrinsics(info_rect).k, K)


def test_unrectified_image_fails_the_point_check() -> None:
    """The check can fail: the distorted image itself is far off the ideal points."""
    ideal = ideal_points()
    assert max_point_error(distorted_mono16(ideal), ideal) > 5


def test_alpha_zero_uses_the_optimal_new_camera_matrix() -> None:
    import cv2

    new_k, _ = cv2.getOptimalNewCameraMatrix(K, PLUMB_BOB, (W, H), 0.0, (W, H))
    ideal = ideal_points(margin=80)
    blobs = render_blobs(distort(ideal, new_k, PLUMB_BOB, "plumb_bob"), amplitude=60000.0)
    raw = np.round(blobs).astype(np.uint16)
    proc = ImageRectify(ImageRectifyParams(alpha=0.0))
    img_rect, info_rect = rectify(proc, camera_info(), image(raw, "mono16"))
    intr = camera_info_to_intrinsics(info_rect)
    np.testing.assert_allclose(intr.k, new_k)
    assert not np.allclose(new_k, K)
    assert max_point_error(image_to_numpy(img_rect), ideal) < 0.1


# -- caching --------------------------------------------------------------------------------
def test_maps_are_built_once_and_rebuilt_when_k_changes() -> None:
    proc = ImageRectify()
    raw = distorted_mono16(ideal_points())
    proc.process("camera_info", camera_info(), 0)
    firsts = [proc.process("image", image(raw, "mono16", i), i) for i in range(5)]
    assert all(len(o) == 2 for o in firsts)
    assert proc.maps_built == 1
    proc.process("camera_info", camera_info(), 5)  # same calibration, new stamp: no rebuild
    proc.process("image", image(raw, "mono16", 5), 5)
    assert proc.maps_built == 1
    k2 = K.copy()
    k2[0, 0] = k2[1, 1] = 520.0
    proc.process("camera_info", camera_info(k=k2), 6)
    out = proc.process("image", image(raw, "mono16", 6), 6)
    assert proc.maps_built == 2
    np.testing.assert_allclose(camera_info_to_intrinsics(out[1].message).k, k2)
    first = image_to_numpy(firsts[0][0].message)
    assert not np.array_equal(image_to_numpy(out[0].message), first)


# -- pass-through -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "dtype", "channels"),
    [
        ("rgb8", np.uint8, 3),
        ("mono16", np.uint16, 1),
        ("16UC1", np.uint16, 1),
        ("32FC1", np.float32, 1),
        ("bgra8", np.uint8, 4),
    ],
)
@pytest.mark.parametrize(("model", "d"), [("plumb_bob", np.zeros(5)), ("", [])])
def test_zero_distortion_passes_the_image_through(
    encoding: str, dtype: Any, channels: int, model: str, d: Any
) -> None:
    rng = np.random.default_rng(1)
    shape = (H, W) if channels == 1 else (H, W, channels)
    if np.dtype(dtype).kind == "f":
        pixels = rng.uniform(0.2, 20.0, shape).astype(dtype)
    else:
        pixels = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    proc = ImageRectify(ImageRectifyParams(interpolation="nearest"))
    img_rect, info_rect = rectify(proc, camera_info(d, model), image(pixels, encoding, 123_456_789))
    out = image_to_numpy(img_rect)
    assert img_rect.encoding == encoding and out.dtype == dtype
    np.testing.assert_array_equal(out, pixels)
    for msg in (img_rect, info_rect):
        assert header_stamp_ns(msg) == 123_456_789 and header_frame_id(msg) == FRAME
    intr = camera_info_to_intrinsics(info_rect)
    assert (intr.width, intr.height, intr.distortion_model) == (W, H, "plumb_bob")
    np.testing.assert_array_equal(intr.d, np.zeros(5))
    np.testing.assert_array_equal(intr.r, np.eye(3))
    np.testing.assert_allclose(intr.k, K)
    np.testing.assert_allclose(intr.p, np.c_[K, np.zeros(3)])


def test_linear_zero_distortion_is_exact_too() -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (H, W, 3)).astype(np.uint8)
    img_rect, _ = rectify(ImageRectify(), camera_info(np.zeros(5)), image(pixels, "bgr8"))
    np.testing.assert_array_equal(image_to_numpy(img_rect), pixels)


def test_projection_keeps_the_stereo_baseline() -> None:
    p = np.c_[K, [-0.05 * 500.0, 0.0, 0.0]]  # right camera of a 5 cm stereo pair
    _, info_rect = rectify(
        ImageRectify(), camera_info(p=p), image(np.zeros((H, W), np.uint8), "mono8")
    )
    np.testing.assert_allclose(camera_info_to_intrinsics(info_rect).p, p)


def test_depth_is_never_interpolated() -> None:
    """Linear resampling of a depth edge would invent depths between the two surfaces."""
    depth = np.full((H, W), 3000, np.uint16)
    depth[:, W // 2 :] = 1000
    depth[H // 3 : H // 2, :] = 1500
    proc = ImageRectify(ImageRectifyParams(interpolation="linear"))
    img_rect, _ = rectify(proc, camera_info(), image(depth, "16UC1"))
    assert set(np.unique(image_to_numpy(img_rect)).tolist()) <= {0, 1000, 1500, 3000}
    # the same picture as mono16 is a picture: interpolated, so new values appear
    img_rect, _ = rectify(ImageRectify(), camera_info(), image(depth, "mono16"))
    assert not set(np.unique(image_to_numpy(img_rect)).tolist()) <= {0, 1000, 1500, 3000}


# -- pairing --------------------------------------------------------------------------------
def test_strict_pairing_waits_for_the_matching_camera_info() -> None:
    proc = ImageRectify(ImageRectifyParams(use_latest_camera_info=False, sync_tolerance_s=0.0))
    pixels = np.zeros((H, W), np.uint8)
    assert proc.process("camera_info", camera_info(stamp_ns=100), 100) == []
    assert proc.process("image", image(pixels, "mono8", 200), 200) == []
    assert proc.process("camera_info", camera_info(stamp_ns=150), 250) == []
    assert proc.waiting_for_camera_info == 1
    out = proc.process("camera_info", camera_info(stamp_ns=200), 300)
    assert [o.port for o in out] == ["image_rect", "camera_info_rect"]
    assert all(header_stamp_ns(o.message) == 200 for o in out)


def test_latest_camera_info_is_used_when_none_matches() -> None:
    proc = ImageRectify()
    pixels = np.zeros((H, W), np.uint8)
    assert proc.process("image", image(pixels, "mono8", 10), 10) == []
    assert proc.waiting_for_camera_info == 1
    k_a, k_b = K.copy(), K.copy()
    k_a[0, 0], k_b[0, 0] = 490.0, 510.0
    proc.process("camera_info", camera_info(k=k_a, stamp_ns=20), 20)
    proc.process("camera_info", camera_info(k=k_b, stamp_ns=40), 40)
    by_stamp = {
        stamp: camera_info_to_intrinsics(
            proc.process("image", image(pixels, "mono8", stamp), stamp)[1].message
        ).fx
        for stamp in (20, 40, 99)
    }
    assert by_stamp == {20: 490.0, 40: 510.0, 99: 510.0}


def test_images_before_the_first_camera_info_are_held_then_rectified() -> None:
    """A driver that starts with an image loses no frame: it is rectified once the
    first camera_info arrives (stamps and order kept)."""
    proc = ImageRectify()
    pixels = np.zeros((H, W), np.uint8)
    assert proc.process("image", image(pixels, "mono8", 5), 5) == []
    assert proc.process("image", image(pixels, "mono8", 6), 6) == []
    out = proc.process("camera_info", camera_info(stamp_ns=6), 6)
    assert [(o.port, header_stamp_ns(o.message)) for o in out] == [
        ("image_rect", 5),
        ("camera_info_rect", 5),
        ("image_rect", 6),
        ("camera_info_rect", 6),
    ]
    assert proc.process("camera_info", camera_info(stamp_ns=7), 7) == []  # nothing held twice


# -- errors -----------------------------------------------------------------------------------
def test_size_mismatch_is_an_error_naming_width_and_height() -> None:
    proc = ImageRectify()
    proc.process("camera_info", camera_info(), 0)
    with pytest.raises(ProcessorError, match=r"width/height 320x240 .*640x480"):
        proc.process("image", image(np.zeros((240, 320), np.uint8), "mono8"), 0)


@pytest.mark.parametrize(
    ("info", "encoding", "match"),
    [
        (camera_info(k=np.zeros((3, 3))), "mono8", r"CameraInfo\.k is all zeros"),
        (camera_info(model="kannala_brandt_9"), "mono8", "distortion_model 'kannala_brandt_9'"),
        (camera_info(d=np.ones(6)), "mono8", r"CameraInfo\.d has 6 coefficients"),
        (camera_info(), "bayer_rggb8", r"Image\.encoding 'bayer_rggb8'"),
        (camera_info(), "32SC1", r"Image\.encoding '32SC1'"),
        (camera_info(), "yuv422", r"Image\.encoding 'yuv422'"),
    ],
)
def test_user_errors_name_the_field(info: Any, encoding: str, match: str) -> None:
    proc = ImageRectify()
    img = image(np.zeros((H, W), np.uint8), "mono8")
    img.encoding = encoding
    with pytest.raises(ProcessorError, match=match):
        proc.process("camera_info", info, 0)
        proc.process("image", img, 0)


def test_feeder_reports_bad_messages_and_goes_on() -> None:
    reports: list[str] = []
    feeder = Feeder(ImageRectify(), TOPICS, reports.append)
    assert feeder.feed("camera_info", camera_info(), 0) == []
    small = image(np.zeros((240, 320), np.uint8), "mono8", 1)
    assert feeder.feed("image", small, 1) == []
    assert len(reports) == 1 and IMAGE_TOPIC in reports[0] and "width/height" in reports[0]
    good = feeder.feed("image", image(np.zeros((H, W), np.uint8), "mono8", 2), 2)
    assert [t for t, _ in good] == ["/camera/color/image_rect", "/camera/color/camera_info_rect"]
    broken = image(np.zeros((H, W), np.uint8), "mono8", 3)
    broken.data = broken.data[: H * W - 1]
    assert feeder.feed("image", broken, 3) == []
    assert len(reports) == 2 and f"{IMAGE_TOPIC!r}" in reports[1] and "height*step" in reports[1]
    assert len(feeder.feed("image", image(np.zeros((H, W), np.uint8), "mono8", 4), 4)) == 2
    assert feeder.rejected == 2


def test_registered_by_name() -> None:
    assert get_processor("image_rectify") is ImageRectify
    with pytest.raises(ProcessorError, match="interpolation"):
        ImageRectify(ImageRectifyParams(interpolation="bicubic"))  # type: ignore[arg-type]
    with pytest.raises(ProcessorError, match="alpha"):
        ImageRectify(ImageRectifyParams(alpha=1.5))


# -- bag runner -------------------------------------------------------------------------------
def test_end_to_end_over_a_bag(tmp_path: Path) -> None:
    ideal = ideal_points()
    raw = distorted_mono16(ideal)
    bag = tmp_path / "in.mcap"
    with BagWriter(bag) as writer:
        writer.add_topic(IMAGE_TOPIC, "sensor_msgs/msg/Image", qos="sensor")
        writer.add_topic(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", qos="sensor")
        for i in range(5):
            t = 1_000_000_000 + i * 100_000_000
            writer.write(INFO_TOPIC, t, camera_info(stamp_ns=t, factory=writer.factory))
            frame = numpy_to_image(
                raw, "mono16", stamp_ns=t, frame_id=FRAME, factory=writer.factory
            )
            writer.write(IMAGE_TOPIC, t + 1, frame)
    out = tmp_path / "out.mcap"
    reports: list[str] = []
    result = run_on_bag(
        ImageRectify, bag, out, overrides={"interpolation": "cubic"}, report=reports.append
    )
    assert reports == [] and result.rejected == 0
    assert result.outputs == {"/camera/color/image_rect": 5, "/camera/color/camera_info_rect": 5}
    with BagReader(out) as reader:
        topics = reader.topics
        assert {t: (s.msgtype, s.count) for t, s in topics.items()} == {
            "/camera/color/image_rect": ("sensor_msgs/msg/Image", 5),
            "/camera/color/camera_info_rect": ("sensor_msgs/msg/CameraInfo", 5),
        }
        frames = [m.message for m in reader.messages(["/camera/color/image_rect"])]
    assert [header_stamp_ns(f) for f in frames] == [
        1_000_000_000 + i * 100_000_000 for i in range(5)
    ]
    assert max_point_error(image_to_numpy(frames[-1]), ideal) < 0.1
    sidecar = yaml.safe_load(params_sidecar(out).read_text())
    assert sidecar == {
        "smartmine_image_rectify": {
            "ros__parameters": {
                "alpha": -1.0,
                "interpolation": "cubic",
                "sync_tolerance_s": 0.0,
                "use_latest_camera_info": True,
            }
        }
    }
