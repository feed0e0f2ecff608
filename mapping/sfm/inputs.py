"""Inputs: an image folder (EXIF GPS, DJI XMP) or a bag (images + NavSatFix by time).

One interface, guessed from the path: :func:`load_inputs` returns the images with what is
known of each (size, focal length prior, GPS position) and the images that could not be
read, each with its reason. An unreadable image is listed, never fatal.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mapping.sfm.errors import SfmError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp"}
BAG_SUFFIXES = {".mcap", ".db3", ".bag"}
MAX_FIX_GAP_S = 2.0
"""An image further than this from any NavSatFix gets no position."""

# Sensor widths (mm) for cameras whose EXIF lacks both the 35 mm equivalent and the focal
# plane resolution. Deliberately minimal until calibration.camera_model has the survey
# camera catalog; COLMAP's own database is the fallback through focal_px = None.
SENSOR_WIDTH_MM: dict[str, float] = {
    "dji fc6310": 13.2,  # Phantom 4 Pro
    "dji fc6310s": 13.2,
    "dji fc330": 6.17,  # Phantom 4
    "dji fc220": 6.17,  # Mavic Pro
    "dji fc3170": 6.4,  # Mavic Air 2
    "dji l1d-20c": 13.2,  # Mavic 2 Pro
    "dji m3e": 17.3,  # Mavic 3 Enterprise
    "dji zenmuseh20": 7.6,
    "canon canon powershot elph 300 hs": 6.17,
    "sensefly s.o.d.a.": 13.2,
}


@dataclass
class ImageRecord:
    """One input image and what is known about it (sizes and focal at full resolution)."""

    name: str
    path: str
    width: int
    height: int
    focal_px: float | None = None
    focal_source: str = "none"
    lat_deg: float | None = None
    lon_deg: float | None = None
    alt_m: float | None = None
    position_std_m: float | None = None
    stamp_ns: int | None = None
    gimbal_pitch_deg: float | None = None
    gimbal_yaw_deg: float | None = None
    relative_alt_m: float | None = None
    camera_key: str = ""
    """Images with the same key share one camera (model, size, focal)."""

    @property
    def has_gps(self) -> bool:
        return self.lat_deg is not None and self.lon_deg is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Inputs:
    """The usable images in capture order, the failed ones with reasons, and the kind."""

    kind: str
    images: list[ImageRecord]
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calibration: Any = None
    """CameraIntrinsics from the bag's CameraInfo (fixes the intrinsics like --calibration)."""

    @property
    def with_gps(self) -> int:
        return sum(r.has_gps for r in self.images)


# -- EXIF ---------------------------------------------------------------------------------
def _ratio(value: Any) -> float:
    return float(value) if not isinstance(value, tuple) else float(value[0]) / float(value[1])


def _dms(value: Any, ref: Any) -> float:
    d, m, s = (_ratio(v) for v in value)
    deg = d + m / 60.0 + s / 3600.0
    return -deg if str(ref).upper().startswith(("S", "W")) else deg


_XMP_FIELD = re.compile(rb'drone-dji:(\w+)\s*=\s*"([-+0-9.eE]+)"')


def _dji_xmp(path: Path) -> dict[str, float]:
    """DJI's XMP tags (AbsoluteAltitude, RelativeAltitude, GimbalPitchDegree...)."""
    with path.open("rb") as f:
        head = f.read(256 * 1024)
    start = head.find(b"<x:xmpmeta")
    if start < 0:
        return {}
    end = head.find(b"</x:xmpmeta>", start)
    packet = head[start : end if end > 0 else len(head)]
    out: dict[str, float] = {}
    for key, value in _XMP_FIELD.findall(packet):
        try:
            number = float(value)
        except ValueError:
            continue
        if math.isfinite(number) and abs(number) < 1e5:
            out[key.decode()] = number
    return out


def _focal_from_exif(
    exif: dict[str, Any], make_model: str, width: int, height: int
) -> tuple[float | None, str]:
    long_side = max(width, height)
    f35 = exif.get("FocalLengthIn35mmFilm")
    if f35:
        return float(f35) / 36.0 * long_side, "exif_35mm"
    focal_mm = exif.get("FocalLength")
    if not focal_mm:
        return None, "none"
    focal_mm = _ratio(focal_mm)
    fpx_res = exif.get("FocalPlaneXResolution")
    unit = {2: 25.4, 3: 10.0, 4: 1.0}.get(int(exif.get("FocalPlaneResolutionUnit", 2) or 2), 25.4)
    exif_width = exif.get("ExifImageWidth") or width
    if fpx_res:
        sensor_width_mm = float(exif_width) / _ratio(fpx_res) * unit
        if 1.0 < sensor_width_mm < 60.0:
            return focal_mm / sensor_width_mm * width, "exif_focal_plane"
    sensor = SENSOR_WIDTH_MM.get(make_model.lower().strip())
    if sensor:
        return focal_mm / sensor * width, "sensor_catalog"
    return None, "none"


def read_image_record(path: Path) -> ImageRecord:
    """Size, focal prior and GPS of one image file, from its header (no full decode)."""
    from PIL import ExifTags, Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
            raw = im.getexif()
            # decode it (JPEG at 1/8 scale: fast) so a truncated or corrupt file is
            # listed now, not found missing after the run has started
            im.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise SfmError(f"{path.name}: not a readable image ({err})") from None
    if width < 16 or height < 16:
        raise SfmError(f"{path.name}: {width} x {height} px is too small to match")
    base = {ExifTags.TAGS.get(k, str(k)): v for k, v in raw.items()}
    sub = {ExifTags.TAGS.get(k, str(k)): v for k, v in raw.get_ifd(0x8769).items()}
    gps = {ExifTags.GPSTAGS.get(k, str(k)): v for k, v in raw.get_ifd(0x8825).items()}
    exif = {**base, **sub}
    make_model = f"{exif.get('Make', '')} {exif.get('Model', '')}".strip()
    focal, focal_source = _focal_from_exif(exif, make_model, width, height)
    record = ImageRecord(
        name=path.name,
        path=str(path),
        width=width,
        height=height,
        focal_px=focal,
        focal_source=focal_source,
        camera_key=f"{make_model}|{width}x{height}|{exif.get('FocalLength', '')}",
    )
    try:
        if "GPSLatitude" in gps and "GPSLongitude" in gps:
            record.lat_deg = _dms(gps["GPSLatitude"], gps.get("GPSLatitudeRef", "N"))
            record.lon_deg = _dms(gps["GPSLongitude"], gps.get("GPSLongitudeRef", "E"))
            if "GPSAltitude" in gps:
                alt = _ratio(gps["GPSAltitude"])
                record.alt_m = -alt if gps.get("GPSAltitudeRef") in (1, b"\x01") else alt
            if "GPSHPositioningError" in gps:
                record.position_std_m = _ratio(gps["GPSHPositioningError"])
    except (TypeError, ValueError, ZeroDivisionError):
        record.lat_deg = record.lon_deg = record.alt_m = None
    if record.lat_deg is not None and not (
        math.isfinite(record.lat_deg)
        and abs(record.lat_deg) <= 90
        and record.lat_deg != 0
        and record.lon_deg is not None
        and math.isfinite(record.lon_deg)
        and abs(record.lon_deg) <= 180
    ):
        record.lat_deg = record.lon_deg = record.alt_m = None
    if record.alt_m is not None and not (math.isfinite(record.alt_m) and abs(record.alt_m) < 1e5):
        record.alt_m = None
    if record.position_std_m is not None and not (
        math.isfinite(record.position_std_m) and record.position_std_m > 0
    ):
        record.position_std_m = None
    xmp = _dji_xmp(path)
    if "AbsoluteAltitude" in xmp:
        record.alt_m = xmp["AbsoluteAltitude"]
    record.relative_alt_m = xmp.get("RelativeAltitude")
    record.gimbal_pitch_deg = xmp.get("GimbalPitchDegree")
    record.gimbal_yaw_deg = xmp.get("GimbalYawDegree")
    stamp = exif.get("DateTimeOriginal") or exif.get("DateTime")
    if isinstance(stamp, str):
        from datetime import UTC, datetime

        try:
            when = datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
            record.stamp_ns = int(when.timestamp() * 1e9)
        except ValueError:
            pass
    return record


def load_folder(folder: Path) -> Inputs:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SfmError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    inputs = Inputs(kind="folder", images=[])
    for path in files:
        try:
            inputs.images.append(read_image_record(path))
        except SfmError as err:
            inputs.failed[path.name] = str(err)
    if not inputs.images:
        first = next(iter(inputs.failed.values()), "")
        raise SfmError(f"{folder}: none of the {len(files)} images could be read ({first})")
    if len(inputs.images) < 2:
        raise SfmError(
            f"{folder}: {len(inputs.images)} readable image; SfM needs 2 or more"
            + (f" (not readable: {', '.join(inputs.failed)})" if inputs.failed else "")
        )
    # capture order: EXIF time where every image has one, else file name
    if all(r.stamp_ns is not None for r in inputs.images):
        inputs.images.sort(key=lambda r: (r.stamp_ns, r.name))
    return inputs


# -- bags ---------------------------------------------------------------------------------
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
FIX_TYPE = "sensor_msgs/msg/NavSatFix"
INFO_TYPE = "sensor_msgs/msg/CameraInfo"


def _pick_topic(topics: dict[str, Any], types: tuple[str, ...], wanted: str | None) -> str | None:
    if wanted:
        return wanted if wanted in topics else None
    candidates = [(t, s) for t, s in topics.items() if s.msgtype in types]
    colour = [c for c in candidates if "depth" not in c[0] and "hyperspectral" not in c[0]]
    pool = colour or candidates
    if not pool:
        return None
    return max(pool, key=lambda c: (c[1].count, "color" in c[0]))[0]


def load_bag(
    bag_path: Path,
    images_dir: Path,
    *,
    image_topic: str | None = None,
    fix_topic: str | None = None,
    every_nth: int = 1,
) -> Inputs:
    """Write the bag's colour images to ``images_dir`` and give each the GNSS fix
    interpolated at its header stamp (none where the nearest fix is > 2 s away)."""
    import cv2
    import numpy as np

    from smartmine.bagio.reader import BagReader
    from smartmine.errors import BagError
    from smartmine.msgs import (
        camera_info_to_intrinsics,
        compressed_image_to_numpy,
        header_stamp_ns,
        image_to_numpy,
        navsatfix_to_geofix,
    )

    images_dir.mkdir(parents=True, exist_ok=True)
    inputs = Inputs(kind="bag", images=[])
    try:
        with BagReader(bag_path) as bag:
            topics = bag.topics
            img_topic = _pick_topic(topics, IMAGE_TYPES, image_topic)
            if img_topic is None:
                raise SfmError(
                    f"{bag_path}: no image topic"
                    + (f" {image_topic!r}" if image_topic else "")
                    + f" (topics: {', '.join(sorted(topics))})"
                )
            gnss_topic = _pick_topic(topics, (FIX_TYPE,), fix_topic)
            if fix_topic and gnss_topic is None:
                raise SfmError(f"{bag_path}: no NavSatFix topic {fix_topic!r}")
            info_topic = img_topic.rsplit("/", 1)[0] + "/camera_info"
            fixes: list[Fix] = []
            focal: float | None = None
            frame_index = 0
            wanted = [img_topic] + [t for t in (gnss_topic, info_topic) if t and t in topics]
            for m in bag.messages(topics=wanted):
                if m.topic == gnss_topic:
                    fix = navsatfix_to_geofix(m.message)
                    if fix.status >= 0 and math.isfinite(fix.latitude_deg):
                        cov = float(np.trace(fix.position_covariance[:2, :2]) / 2)
                        std = math.sqrt(cov) if cov > 0 else float("nan")
                        fixes.append(
                            (fix.stamp_ns, fix.latitude_deg, fix.longitude_deg, fix.altitude_m, std)
                        )
                    continue
                if m.topic == info_topic:
                    k = list(m.message.k if hasattr(m.message, "k") else m.message.K)
                    if k[0] > 0 and inputs.calibration is None:
                        focal = float(k[0])
                        try:
                            inputs.calibration = camera_info_to_intrinsics(m.message)
                        except Exception:  # a malformed CameraInfo: keep the focal only
                            inputs.calibration = None
                    continue
                frame_index += 1
                if (frame_index - 1) % every_nth:
                    continue
                name = f"frame_{frame_index:06d}.jpg"
                try:
                    stamp = header_stamp_ns(m.message)
                    if m.msgtype.endswith("CompressedImage"):
                        array = compressed_image_to_numpy(m.message)
                    else:
                        array = image_to_numpy(m.message)
                    encoding = str(getattr(m.message, "encoding", "bgr8")).lower()
                    if array.ndim == 3 and encoding.startswith("rgb"):
                        array = array[:, :, ::-1]
                    if array.dtype != np.uint8:
                        span = float(np.ptp(array)) or 1.0
                        array = ((array - array.min()) * (255.0 / span)).astype(np.uint8)
                    cv2.imwrite(str(images_dir / name), array, [cv2.IMWRITE_JPEG_QUALITY, 95])
                except Exception as err:  # one bad frame is listed, not fatal
                    inputs.failed[name] = f"{img_topic} @ {m.log_time_ns}: {err}"
                    continue
                h, w = array.shape[:2]
                inputs.images.append(
                    ImageRecord(
                        name=name,
                        path=str(images_dir / name),
                        width=w,
                        height=h,
                        stamp_ns=stamp,
                        camera_key=f"bag|{w}x{h}",
                    )
                )
    except BagError as err:
        raise SfmError(str(err)) from None
    if not inputs.images:
        raise SfmError(f"{bag_path}: no decodable images on the image topic")
    for record in inputs.images:
        if focal is not None:
            record.focal_px, record.focal_source = focal, "camera_info"
    if fixes:
        attach_fixes(inputs.images, fixes)
    else:
        inputs.notes.append(f"{bag_path}: no NavSatFix topic; images carry no positions")
    return inputs


Fix = tuple[int, float, float, float, float]
"""(stamp_ns, lat_deg, lon_deg, alt_m, horizontal std m or NaN)."""


def attach_fixes(records: list[ImageRecord], fixes: list[Fix]) -> None:
    """Give each image the fix interpolated at its stamp (none beyond 2 s of any fix)."""
    import bisect

    fixes = sorted(fixes)
    stamps = [f[0] for f in fixes]
    for record in records:
        if record.stamp_ns is None:
            continue
        i = bisect.bisect_left(stamps, record.stamp_ns)
        lo, hi = fixes[max(i - 1, 0)], fixes[min(i, len(fixes) - 1)]
        gap = min(abs(record.stamp_ns - lo[0]), abs(record.stamp_ns - hi[0])) / 1e9
        if gap > MAX_FIX_GAP_S:
            continue
        t = 0.0 if hi[0] == lo[0] else (record.stamp_ns - lo[0]) / (hi[0] - lo[0])
        t = min(max(t, 0.0), 1.0)
        record.lat_deg = lo[1] + t * (hi[1] - lo[1])
        record.lon_deg = lo[2] + t * (hi[2] - lo[2])
        record.alt_m = lo[3] + t * (hi[3] - lo[3])
        record.position_std_m = lo[4] if math.isfinite(lo[4]) else None


def is_bag(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() in BAG_SUFFIXES
    return path.is_dir() and (
        (path / "metadata.yaml").exists()
        or any(p.suffix in {".mcap", ".db3"} for p in path.iterdir())
    )


def load_inputs(path: Path, work_dir: Path, **bag_options: Any) -> Inputs:
    """The images of ``path`` (a folder of images or a bag), guessed from the path."""
    if not path.exists():
        raise SfmError(f"{path}: no such folder or bag")
    if is_bag(path):
        return load_bag(path, work_dir / "bag_images", **bag_options)
    if path.is_dir():
        images = path / "images"
        if images.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in images.iterdir()):
            path = images  # ODM's project layout: PROJECT/images/*.jpg
        return load_folder(path)
    raise SfmError(f"{path}: neither an image folder nor a bag (.mcap, .db3, .bag)")
