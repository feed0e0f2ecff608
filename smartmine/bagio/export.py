"""``smartmine bag export``: topics of a bag to ordinary files.

- Image: ``<slug>/NNNNNN_<stamp>.png`` (16-bit kept; 32FC1 depth as 32-bit TIFF); an
  image PNG/TIFF cannot hold (a hyperspectral ``32FC<bands>`` cube, 2 or more than 4
  channels, 64-bit or signed elements) as an ENVI cube ``NNNNNN_<stamp>.img`` + ``.hdr``
  (BIP, the band centres of a ``<namespace>/wavelengths`` topic when the bag has one)
- CompressedImage: ``<slug>/NNNNNN_<stamp>.jpg`` or ``.png``, the stored bytes
- PointCloud2: ``<slug>/NNNNNN_<stamp>.ply`` (binary, every field)
- NavSatFix, Imu, Odometry, TFMessage, Pose(WithCovariance)Stamped, TransformStamped:
  ``<slug>.csv`` with a header row
- CameraInfo: ``<slug>.yaml`` (camera_calibration_parsers format)

Per-message file folders carry ``timestamps.csv`` (index, header stamp, log time, file).
Each product is built under a temporary name and renamed when complete; a product that
already exists is skipped, so an interrupted export resumes where it stopped. A topic that
fails (a message that does not convert) does not stop the others: they are exported, and
:class:`ExportFailedError` then names each failed topic.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from smartmine.atomic import atomic_path
from smartmine.bagio.reader import BagReader
from smartmine.errors import BagCorruptedError, BagError, SmartmineError, UndecodableMessageError
from smartmine.progress import progress


def topic_slug(topic: str) -> str:
    """A file name for a topic: ``/camera/color/image_raw`` → ``camera__color__image_raw``."""
    slug = topic.strip("/").replace("/", "__")
    return slug or "root"


def _f(value: float) -> str:
    """Shortest exact text of a float, so equal values give equal CSV."""
    return repr(float(value))


class Exporter(Protocol):
    """Writes one topic's messages into a temporary product path."""

    def add(self, index: int, log_time_ns: int, message: Any) -> None: ...

    def finish(self) -> None: ...


# -- tables --------------------------------------------------------------------------
Row = list[str]


def _navsat_rows(msg: Any) -> list[Row]:
    from smartmine.msgs import navsatfix_to_geofix

    fix = navsatfix_to_geofix(msg)
    cov = np.asarray(fix.position_covariance, dtype=float).ravel()
    return [
        [
            str(fix.stamp_ns),
            fix.frame_id,
            _f(fix.latitude_deg),
            _f(fix.longitude_deg),
            _f(fix.altitude_m),
            str(fix.status),
            str(fix.service),
            str(fix.covariance_type),
            *(_f(c) for c in cov),
        ]
    ]


_NAVSAT_HEADER = [
    "stamp_ns",
    "frame_id",
    "latitude_deg",
    "longitude_deg",
    "altitude_m",
    "status",
    "service",
    "covariance_type",
    *(f"cov_{a}{b}" for a in "enu" for b in "enu"),
]


def _imu_rows(msg: Any) -> list[Row]:
    from smartmine.msgs import imu_to_sample

    s = imu_to_sample(msg)
    return [
        [
            str(s.stamp_ns),
            s.frame_id,
            *(_f(v) for v in s.orientation_xyzw),
            *(_f(v) for v in s.angular_velocity_rad_s),
            *(_f(v) for v in s.linear_acceleration_m_s2),
        ]
    ]


_IMU_HEADER = [
    "stamp_ns",
    "frame_id",
    "qx",
    "qy",
    "qz",
    "qw",
    "wx_rad_s",
    "wy_rad_s",
    "wz_rad_s",
    "ax_m_s2",
    "ay_m_s2",
    "az_m_s2",
]


def _xyz_q(translation: Any, rotation: Any) -> list[str]:
    return [
        _f(translation.x),
        _f(translation.y),
        _f(translation.z),
        _f(rotation.x),
        _f(rotation.y),
        _f(rotation.z),
        _f(rotation.w),
    ]


_POSE_COLUMNS = ["x_m", "y_m", "z_m", "qx", "qy", "qz", "qw"]


def _odom_rows(msg: Any) -> list[Row]:
    from smartmine.msgs import header_stamp_ns

    pose, twist = msg.pose.pose, msg.twist.twist
    return [
        [
            str(header_stamp_ns(msg)),
            msg.header.frame_id,
            msg.child_frame_id,
            *_xyz_q(pose.position, pose.orientation),
            *(_f(getattr(twist.linear, a)) for a in "xyz"),
            *(_f(getattr(twist.angular, a)) for a in "xyz"),
        ]
    ]


_ODOM_HEADER = [
    "stamp_ns",
    "frame_id",
    "child_frame_id",
    *_POSE_COLUMNS,
    "vx_m_s",
    "vy_m_s",
    "vz_m_s",
    "wx_rad_s",
    "wy_rad_s",
    "wz_rad_s",
]


def _transform_row(ts: Any) -> Row:
    from smartmine.msgs import header_stamp_ns

    return [
        str(header_stamp_ns(ts)),
        ts.header.frame_id,
        ts.child_frame_id,
        *_xyz_q(ts.transform.translation, ts.transform.rotation),
    ]


_TF_HEADER = ["stamp_ns", "parent_frame", "child_frame", *_POSE_COLUMNS]


def _tf_rows(msg: Any) -> list[Row]:
    return [_transform_row(ts) for ts in msg.transforms]


def _pose_stamped_rows(msg: Any) -> list[Row]:
    from smartmine.msgs import header_stamp_ns

    pose = msg.pose.pose if hasattr(msg.pose, "covariance") else msg.pose
    return [
        [
            str(header_stamp_ns(msg)),
            msg.header.frame_id,
            *_xyz_q(pose.position, pose.orientation),
        ]
    ]


_POSE_HEADER = ["stamp_ns", "frame_id", *_POSE_COLUMNS]

TABLES: dict[str, tuple[list[str], Callable[[Any], list[Row]]]] = {
    "sensor_msgs/msg/NavSatFix": (_NAVSAT_HEADER, _navsat_rows),
    "sensor_msgs/msg/Imu": (_IMU_HEADER, _imu_rows),
    "nav_msgs/msg/Odometry": (_ODOM_HEADER, _odom_rows),
    "tf2_msgs/msg/TFMessage": (_TF_HEADER, _tf_rows),
    "geometry_msgs/msg/TransformStamped": (_TF_HEADER, lambda m: [_transform_row(m)]),
    "geometry_msgs/msg/PoseStamped": (_POSE_HEADER, _pose_stamped_rows),
    "geometry_msgs/msg/PoseWithCovarianceStamped": (_POSE_HEADER, _pose_stamped_rows),
}


class TableExporter:
    """One CSV per topic; columns start with the header stamp; log time last."""

    def __init__(self, path: Path, header: list[str], rows: Callable[[Any], list[Row]]) -> None:
        self.file = path.open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file, lineterminator="\n")
        self.writer.writerow([*header, "log_time_ns"])
        self.rows = rows

    def add(self, index: int, log_time_ns: int, message: Any) -> None:
        for row in self.rows(message):
            self.writer.writerow([*row, str(log_time_ns)])

    def finish(self) -> None:
        self.file.close()


# -- per-message files ---------------------------------------------------------------
def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    if not cv2.imwrite(str(path), image):
        raise BagError(f"{path}: OpenCV could not write the image")


class FilesExporter:
    """A folder of one file per message plus ``timestamps.csv``."""

    def __init__(self, folder: Path, write: Callable[[Path, Any], str]) -> None:
        folder.mkdir(parents=True)
        self.folder = folder
        self.write = write
        self.index = io.StringIO()
        self.index_writer = csv.writer(self.index, lineterminator="\n")
        self.index_writer.writerow(["index", "stamp_ns", "log_time_ns", "file"])

    def add(self, index: int, log_time_ns: int, message: Any) -> None:
        from smartmine.msgs import header_stamp_ns

        stamp = header_stamp_ns(message)
        stem = self.folder / f"{index:06d}_{stamp}"
        name = self.write(stem, message)
        self.index_writer.writerow([index, stamp, log_time_ns, name])

    def finish(self) -> None:
        (self.folder / "timestamps.csv").write_text(self.index.getvalue(), encoding="utf-8")


PNG_TIFF_CHANNELS = (1, 3, 4)


def _write_image(stem: Path, msg: Any, wavelengths_nm: np.ndarray | None = None) -> str:
    import cv2

    from smartmine.msgs import image_to_numpy

    image = image_to_numpy(msg)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels not in PNG_TIFF_CHANNELS or image.dtype not in (np.uint8, np.uint16, np.float32):
        return write_envi_frame(stem, image, str(msg.encoding), wavelengths_nm)
    encoding = str(msg.encoding)
    if encoding in {"rgb8", "rgb16"}:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif encoding in {"rgba8", "rgba16"}:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    path = stem.with_suffix(".png" if image.dtype in (np.uint8, np.uint16) else ".tiff")
    _write_png(path, np.ascontiguousarray(image))
    return path.name


ENVI_DATA_TYPES = {
    np.dtype("uint8"): 1,
    np.dtype("int16"): 2,
    np.dtype("int32"): 3,
    np.dtype("float32"): 4,
    np.dtype("float64"): 5,
    np.dtype("uint16"): 12,
    np.dtype("uint32"): 13,
    np.dtype("int64"): 14,
    np.dtype("uint64"): 15,
}
"""numpy element type -> ENVI ``data type`` code (int8 is widened to int16)."""


def write_envi_frame(
    stem: Path, image: np.ndarray, encoding: str, wavelengths_nm: np.ndarray | None
) -> str:
    """One image as an ENVI cube: ``stem.img`` (band interleaved by pixel, little-endian,
    every value kept) and ``stem.hdr``; returns the data file's name."""
    cube = image if image.ndim == 3 else image[:, :, None]
    if cube.dtype == np.int8:
        cube = cube.astype(np.int16)
    cube = np.ascontiguousarray(cube, dtype=cube.dtype.newbyteorder("<"))
    code = ENVI_DATA_TYPES.get(np.dtype(cube.dtype.name))
    if code is None:
        raise BagError(f"Image encoding {encoding!r} has no ENVI data type")
    lines, samples, bands = cube.shape
    header = [
        "ENVI",
        f"description = {{smartmine bag export: sensor_msgs/Image encoding {encoding}}}",
        f"samples = {samples}",
        f"lines = {lines}",
        f"bands = {bands}",
        "header offset = 0",
        "file type = ENVI Standard",
        f"data type = {code}",
        "interleave = bip",
        "byte order = 0",
    ]
    if wavelengths_nm is not None and len(wavelengths_nm) == bands:
        header.append("wavelength units = Nanometers")
        header.append("wavelength = {" + ", ".join(_f(w) for w in wavelengths_nm) + "}")
    data = stem.with_suffix(".img")
    data.write_bytes(cube.tobytes())
    stem.with_suffix(".hdr").write_text("\n".join(header) + "\n", encoding="ascii")
    return data.name


def _write_compressed(stem: Path, msg: Any) -> str:
    fmt = str(msg.format).lower()
    suffix = ".png" if "png" in fmt else ".jpg" if ("jpeg" in fmt or "jpg" in fmt) else ".bin"
    data = np.frombuffer(memoryview(msg.data), dtype=np.uint8) if len(msg.data) else b""
    path = stem.with_suffix(suffix)
    path.write_bytes(bytes(data))
    return path.name


def write_ply(path: Path, cloud: np.ndarray) -> None:
    """Binary little-endian PLY of a structured point array (every numeric field kept).

    A packed ROS ``rgb``/``rgba`` float field becomes ``red``, ``green``, ``blue`` uchar
    properties, which every PLY reader understands.
    """
    from smartmine.msgs import unpack_rgb

    names: dict[np.dtype[Any], str] = {
        np.dtype("int8"): "char",
        np.dtype("uint8"): "uchar",
        np.dtype("int16"): "short",
        np.dtype("uint16"): "ushort",
        np.dtype("int32"): "int",
        np.dtype("uint32"): "uint",
        np.dtype("float32"): "float",
        np.dtype("float64"): "double",
    }
    columns: list[tuple[str, np.ndarray]] = []
    assert cloud.dtype.names is not None
    for name in cloud.dtype.names:
        column = cloud[name]
        if name in {"rgb", "rgba"}:
            rgb = unpack_rgb(column.reshape(-1))
            columns += [("red", rgb[:, 0]), ("green", rgb[:, 1]), ("blue", rgb[:, 2])]
            continue
        if column.ndim > 1:  # count > 1
            columns += [(f"{name}_{i}", column[:, i]) for i in range(column.shape[1])]
        else:
            columns.append((name, column))
    dtype = np.dtype([(n, c.dtype.newbyteorder("<")) for n, c in columns])
    table = np.empty(len(cloud), dtype=dtype)
    for n, c in columns:
        table[n] = c
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(table)}"]
    header += [f"property {names[np.dtype(c.dtype.name)]} {n}" for n, c in columns]
    header.append("end_header")
    with path.open("wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        f.write(table.tobytes())


def _write_cloud(stem: Path, msg: Any) -> str:
    from smartmine.msgs import pointcloud2_to_array

    path = stem.with_suffix(".ply")
    write_ply(path, pointcloud2_to_array(msg).reshape(-1))
    return path.name


FILES: dict[str, Callable[[Path, Any], str]] = {
    "sensor_msgs/msg/Image": _write_image,
    "sensor_msgs/msg/CompressedImage": _write_compressed,
    "sensor_msgs/msg/PointCloud2": _write_cloud,
}


class CameraInfoExporter:
    """The camera model as ROS camera_info YAML; a later, different model gets its own
    ``<slug>_<stamp>.yaml`` beside it."""

    def __init__(self, path: Path, final: Path, camera_name: str) -> None:
        self.path = path
        self.final = final
        self.camera_name = camera_name
        self.written: list[Any] = []

    def add(self, index: int, log_time_ns: int, message: Any) -> None:
        from smartmine.msgs import camera_info_to_intrinsics, header_stamp_ns
        from smartmine.msgs import write_camera_info_yaml as write_yaml

        intr = camera_info_to_intrinsics(message)
        if any(_same_camera(intr, seen) for seen in self.written):
            return
        target = (
            self.final.with_name(f"{self.final.stem}_{header_stamp_ns(message)}.yaml")
            if self.written
            else self.path
        )
        write_yaml(intr, target, self.camera_name)
        self.written.append(intr)

    def finish(self) -> None:
        pass


def _same_camera(a: Any, b: Any) -> bool:
    return bool(
        a.width == b.width
        and a.height == b.height
        and a.distortion_model == b.distortion_model
        and np.array_equal(a.k, b.k)
        and np.array_equal(a.d, b.d)
        and np.array_equal(a.r, b.r)
        and np.array_equal(a.p, b.p)
    )


SUPPORTED = sorted([*TABLES, *FILES, "sensor_msgs/msg/CameraInfo"])


@dataclass(frozen=True)
class ExportResult:
    topic: str
    msgtype: str
    product: Path
    messages: int
    skipped: bool
    """True when the product existed already (resumed export)."""
    error: str | None = None
    """Why the topic was not exported (its product left as it was); None on success."""
    empty: bool = False
    """True when the topic has no message in the time range (no product written)."""


class ExportFailedError(BagError):
    """Some topics failed; ``results`` holds every topic's outcome (the others exported)."""

    def __init__(self, message: str, results: list[ExportResult]) -> None:
        super().__init__(message)
        self.results = results


def product_path(out_dir: Path, topic: str, msgtype: str) -> Path:
    slug = topic_slug(topic)
    if msgtype in TABLES:
        return out_dir / f"{slug}.csv"
    if msgtype == "sensor_msgs/msg/CameraInfo":
        return out_dir / f"{slug}.yaml"
    return out_dir / slug


WAVELENGTH_TYPES = ("std_msgs/msg/Float32MultiArray", "std_msgs/msg/Float64MultiArray")


def _wavelengths_nm(bag: BagReader, topic: str) -> np.ndarray | None:
    """Band centres for an image topic: the first message of ``<namespace>/wavelengths``
    (the simulator's and hsi_capture's latched topic), or None."""
    sibling = topic.rsplit("/", 1)[0] + "/wavelengths"
    info = bag.topics.get(sibling)
    if info is None or info.msgtype not in WAVELENGTH_TYPES or not info.decodable:
        return None
    for msg in bag.messages([sibling]):
        values = np.asarray(msg.message.data, dtype=np.float64).reshape(-1)
        return values if len(values) and np.isfinite(values).all() else None
    return None


def _make_exporter(bag: BagReader, tmp: Path, final: Path, topic: str, msgtype: str) -> Exporter:
    if msgtype in TABLES:
        header, rows = TABLES[msgtype]
        return TableExporter(tmp, header, rows)
    if msgtype == "sensor_msgs/msg/Image":
        wavelengths = _wavelengths_nm(bag, topic)
        return FilesExporter(tmp, lambda stem, msg: _write_image(stem, msg, wavelengths))
    if msgtype in FILES:
        return FilesExporter(tmp, FILES[msgtype])
    camera_name = topic_slug(topic.removesuffix("/camera_info")).replace("__", "_")
    return CameraInfoExporter(tmp, final, camera_name)


def check_export_out(out_dir: Path) -> None:
    """Refuse an output folder that cannot be one before any work, naming the path."""
    from smartmine.paths import check_output_path

    check_output_path(out_dir, "--out")


def export_topics(
    bag_path: Path | str,
    topics: Sequence[str],
    out_dir: Path | str,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    overwrite: bool = False,
    distro: str | None = None,
) -> list[ExportResult]:
    """Export each topic to its product under ``out_dir``; returns what was done.

    ``start_ns``/``end_ns`` are absolute log times (``end_ns`` exclusive). A topic that
    fails leaves no product and does not stop the others; :class:`ExportFailedError` (with
    every topic's result) is raised at the end; so does a bag damaged midway, for each
    topic whose messages cannot all be read (the error names the time the damage
    starts). An ``out_dir`` created here is removed again when nothing was exported into
    it.
    """
    out = Path(out_dir)
    check_export_out(out)
    created = not out.exists()
    results: list[ExportResult] = []
    try:
        with BagReader(bag_path, distro=distro) as bag:
            known = bag.topics
            bag.require_topics(topics)  # one clear error before anything is written
            for topic in topics:
                if known[topic].msgtype not in SUPPORTED:
                    raise BagError(
                        f"{bag.path}: topic {topic!r} has type {known[topic].msgtype}, which "
                        f"bag export does not handle (supported: "
                        f"{', '.join(t.split('/')[-1] for t in SUPPORTED)})"
                    )
            for topic in topics:
                results.append(
                    _export_topic(bag, topic, out, start_ns, end_ns, overwrite=overwrite)
                )
    finally:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    if results and all(r.empty for r in results):
        raise BagError(
            f"{bag_path}: no messages in the time range on topic"
            f"{'s' if len(results) > 1 else ''} {', '.join(repr(r.topic) for r in results)}"
        )
    failed = [r for r in results if r.error is not None]
    if failed:
        done = len(results) - len(failed)
        raise ExportFailedError(
            f"{len(failed)} of {len(results)} topics not exported ({done} done): "
            + "; ".join(str(r.error) for r in failed),
            results,
        )
    return results


def _export_topic(
    bag: BagReader,
    topic: str,
    out: Path,
    start_ns: int | None,
    end_ns: int | None,
    *,
    overwrite: bool,
) -> ExportResult:
    """One topic's product; a message that does not convert gives a result with ``error``
    (no product); a bag that cannot be read raises."""
    msgtype = bag.topics[topic].msgtype
    final = product_path(out, topic, msgtype)
    if final.exists() and not overwrite:
        return ExportResult(topic, msgtype, final, 0, True)
    count = 0
    try:
        with atomic_path(final, overwrite=overwrite) as tmp:
            exporter = _make_exporter(bag, tmp, final, topic, msgtype)
            messages = bag.messages([topic], start_ns=start_ns, end_ns=end_ns)
            for msg in progress(messages, total=bag.topics[topic].count, desc=topic):
                try:
                    exporter.add(count, msg.log_time_ns, msg.message)
                except (SmartmineError, ValueError, TypeError, AttributeError) as err:
                    # a malformed message: this topic fails, the others go on
                    detail = err if isinstance(err, SmartmineError) else _one_line(err)
                    raise _TopicFailedError(
                        f"{bag.path}: topic {topic!r} message {count} "
                        f"(t={msg.log_time_ns} ns): {detail}"
                    ) from None
                count += 1
            exporter.finish()
            if count == 0:
                raise _TopicEmptyError
    except _TopicFailedError as err:
        return ExportResult(topic, msgtype, final, count, False, str(err))
    except UndecodableMessageError as err:  # the topic's bytes are not its type
        return ExportResult(topic, msgtype, final, count, False, str(err))
    except BagCorruptedError as err:  # damage midway: no product for this topic; those
        # whose messages all lie before the damage (or after, in other chunks) go on
        return ExportResult(
            topic, msgtype, final, count, False, f"topic {topic!r} after {count} messages: {err}"
        )
    except _TopicEmptyError:
        return ExportResult(topic, msgtype, final, 0, False, empty=True)
    return ExportResult(topic, msgtype, final, count, False)


class _TopicFailedError(Exception):
    """One topic cannot be exported; the export goes on with the next."""


class _TopicEmptyError(Exception):
    """No message of the topic lies in the time range: no product."""


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"{type(err).__name__}: {text[:300]}"
