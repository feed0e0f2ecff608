"""Calibration files: ``calibration.yaml`` and the ROS, OpenCV and COLMAP formats.

``calibration.yaml`` is the one file every other command takes with ``--calibration``:
cameras by name, extrinsics between frames, IMU-camera rotation and time offset, and
HSI-RGB registrations, each with the numbers that say how good it is. The schema is
versioned (``version: 1``); readers refuse versions they do not know instead of
guessing.

Conventions, stated once:

- camera matrices are row-major 3x3, distortion coefficients in OpenCV order, pixel
  coordinates OpenCV's (the centre of the top-left pixel is 0, 0);
- an extrinsic ``parent -> child`` is the pose of ``child`` in ``parent`` as ROS tf has
  it: ``p_parent = R p_child + t`` (``translation_m``, ``rotation_xyzw``);
- COLMAP puts the centre of the top-left pixel at (0.5, 0.5): its cx, cy are OpenCV's
  plus 0.5, converted on write and read.

Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.camera_model import (
    COEFFICIENTS,
    SCHEMA,
    VERSION,
    CameraModel,
    YamlFields,
    camera_entries,
    camera_from_fields,
    check_schema,
    read_yaml,
)
from calibration.errors import CalibrationError
from smartmine.atomic import atomic_path, write_text_atomic
from smartmine.errors import SmartmineError

F64 = npt.NDArray[np.float64]


# --- calibration.yaml -----------------------------------------------------------------


@dataclass
class CameraEntry:
    """A named camera in calibration.yaml."""

    model: CameraModel
    frame_id: str = ""
    quality: dict[str, Any] = field(default_factory=dict)


@dataclass
class Extrinsic:
    """Pose of ``child`` in ``parent``: ``p_parent = T @ p_child`` (4x4)."""

    parent: str
    child: str
    transform: F64
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def translation_m(self) -> F64:
        out: F64 = self.transform[:3, 3].copy()
        return out

    @property
    def rotation(self) -> F64:
        out: F64 = self.transform[:3, :3].copy()
        return out


@dataclass
class ImuCamera:
    """Camera-IMU calibration: ``w_imu = R_imu_camera @ w_camera``, ``t_imu = t_cam + offset``."""

    imu: str
    camera: str
    rotation: F64
    """R_imu_camera: camera-frame vectors into the IMU frame."""
    time_offset_s: float
    """Add to camera stamps to get the IMU clock (Kalibr's ``timeshift_cam_imu``)."""
    quality: dict[str, Any] = field(default_factory=dict)


@dataclass
class HsiRegistration:
    """Homography from hyperspectral pixels to pixels of an RGB camera."""

    hsi: str
    camera: str
    homography: F64
    """3x3, ``x_rgb ~ H @ x_hsi`` in OpenCV pixel coordinates."""
    hsi_size: tuple[int, int]
    quality: dict[str, Any] = field(default_factory=dict)


@dataclass
class Calibration:
    """Everything calibrated for one platform."""

    cameras: dict[str, CameraEntry] = field(default_factory=dict)
    extrinsics: list[Extrinsic] = field(default_factory=list)
    imu: list[ImuCamera] = field(default_factory=list)
    hsi: list[HsiRegistration] = field(default_factory=list)

    def camera(self, name: str | None = None) -> CameraModel:
        """A camera by name (or the only one); the error lists the names there are."""
        if name is None:
            if len(self.cameras) == 1:
                return next(iter(self.cameras.values())).model
            raise CalibrationError(
                f"calibration holds {len(self.cameras)} cameras "
                f"({', '.join(self.cameras) or 'none'}); name one"
            )
        if name not in self.cameras:
            raise CalibrationError(
                f"no camera {name!r} in the calibration (cameras: "
                f"{', '.join(self.cameras) or 'none'})"
            )
        return self.cameras[name].model

    def extrinsic(self, parent: str, child: str) -> F64:
        """Pose of ``child`` in ``parent`` (an entry stored the other way is inverted)."""
        for e in self.extrinsics:
            if (e.parent, e.child) == (parent, child):
                out: F64 = e.transform.copy()
                return out
            if (e.parent, e.child) == (child, parent):
                inv: F64 = np.asarray(np.linalg.inv(e.transform), np.float64)
                return inv
        raise CalibrationError(f"no extrinsic between {parent!r} and {child!r} in the calibration")

    def merge(self, other: Calibration) -> Calibration:
        """A copy with ``other``'s entries added; entries for the same names are replaced."""
        out = Calibration(dict(self.cameras), list(self.extrinsics), list(self.imu), list(self.hsi))
        out.cameras.update(other.cameras)
        for e in other.extrinsics:
            out.extrinsics = [
                x for x in out.extrinsics if {x.parent, x.child} != {e.parent, e.child}
            ] + [e]
        for i in other.imu:
            out.imu = [x for x in out.imu if (x.imu, x.camera) != (i.imu, i.camera)] + [i]
        for h in other.hsi:
            out.hsi = [x for x in out.hsi if (x.hsi, x.camera) != (h.hsi, h.camera)] + [h]
        return out


def plain(value: Any) -> Any:
    """YAML-safe copy: numpy scalars/arrays to Python floats, ints and lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    return value if value is None or isinstance(value, str) else str(value)


def _floats(arr: npt.ArrayLike) -> list[float]:
    return [float(v) for v in np.asarray(arr, dtype=np.float64).reshape(-1)]


def camera_to_dict(entry: CameraEntry) -> dict[str, Any]:
    m = entry.model
    intr = m.intrinsics
    doc: dict[str, Any] = {
        "frame_id": entry.frame_id,
        "width": m.width,
        "height": m.height,
        "distortion_model": m.distortion_model,
        "camera_matrix": _floats(intr.k),
        "distortion_coefficients": _floats(intr.d),
    }
    if not np.array_equal(intr.r, np.eye(3)):
        doc["rectification_matrix"] = _floats(intr.r)
    p0 = np.zeros((3, 4))
    p0[:, :3] = intr.k
    if not np.array_equal(intr.p, p0):
        doc["projection_matrix"] = _floats(intr.p)
    if entry.quality:
        doc["quality"] = plain(entry.quality)
    return doc


def calibration_to_dict(cal: Calibration) -> dict[str, Any]:
    from smartmine.geometry import matrix_to_quat

    return {
        "schema": SCHEMA,
        "version": VERSION,
        "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cameras": {name: camera_to_dict(e) for name, e in cal.cameras.items()},
        "extrinsics": [
            {
                "parent": e.parent,
                "child": e.child,
                "translation_m": _floats(e.transform[:3, 3]),
                "rotation_xyzw": _floats(matrix_to_quat(e.transform[:3, :3])),
                **({"quality": plain(e.quality)} if e.quality else {}),
            }
            for e in cal.extrinsics
        ],
        "imu": [
            {
                "imu": i.imu,
                "camera": i.camera,
                "rotation_xyzw": _floats(matrix_to_quat(i.rotation)),
                "time_offset_s": float(i.time_offset_s),
                **({"quality": plain(i.quality)} if i.quality else {}),
            }
            for i in cal.imu
        ],
        "hsi": [
            {
                "hsi": h.hsi,
                "camera": h.camera,
                "hsi_width": int(h.hsi_size[0]),
                "hsi_height": int(h.hsi_size[1]),
                "homography": _floats(h.homography),
                **({"quality": plain(h.quality)} if h.quality else {}),
            }
            for h in cal.hsi
        ],
    }


def dump_yaml(doc: Any) -> str:
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100))


def save_calibration(cal: Calibration, path: str | Path) -> Path:
    """Write calibration.yaml atomically."""
    header = (
        "# smartmine calibration (schema smartmine/calibration, version 1).\n"
        "# Extrinsics: pose of child in parent (p_parent = R p_child + t); IMU: "
        "w_imu = R w_cam, t_imu = t_cam + time_offset_s;\n# HSI: x_rgb ~ H x_hsi (pixels).\n"
    )
    return write_text_atomic(path, header + dump_yaml(calibration_to_dict(cal)))


def _camera_from(d: YamlFields) -> CameraEntry:
    return CameraEntry(camera_from_fields(d), d.str_("frame_id", ""), d.quality())


def calibration_from_dict(doc: Any, path: Path) -> Calibration:
    from smartmine.geometry import make_transform, quat_to_matrix

    top = YamlFields(doc, path, "")
    check_schema(
        top, "; camera_info or OpenCV YAML files are read with read_ros_yaml / read_opencv_yaml"
    )
    cal = Calibration()
    for name, entry in camera_entries(top).items():
        cal.cameras[name] = _camera_from(entry)

    def rot(d: YamlFields) -> F64:
        try:
            r: F64 = quat_to_matrix(d.floats("rotation_xyzw", 4))
        except SmartmineError as err:
            raise CalibrationError(f"{path}: {d.where}.rotation_xyzw: {err}") from None
        return r

    for i, e in enumerate(_entries(top, "extrinsics")):
        d = YamlFields(e, path, f"extrinsics[{i}]")
        t = make_transform(rot(d), d.floats("translation_m", 3))
        cal.extrinsics.append(Extrinsic(d.str_("parent"), d.str_("child"), t, d.quality()))
    for i, e in enumerate(_entries(top, "imu")):
        d = YamlFields(e, path, f"imu[{i}]")
        cal.imu.append(
            ImuCamera(
                d.str_("imu"), d.str_("camera"), rot(d), d.float_("time_offset_s"), d.quality()
            )
        )
    for i, e in enumerate(_entries(top, "hsi")):
        d = YamlFields(e, path, f"hsi[{i}]")
        cal.hsi.append(
            HsiRegistration(
                d.str_("hsi"),
                d.str_("camera"),
                d.floats("homography", 9).reshape(3, 3),
                (d.int_("hsi_width"), d.int_("hsi_height")),
                d.quality(),
            )
        )
    return cal


def _entries(top: YamlFields, key: str) -> list[Any]:
    """The list under ``key`` (absent or null: none); anything else is refused."""
    value = top.get(key) or []
    if not isinstance(value, list):
        raise CalibrationError(f"{top.path}: {key} must be a list, got {value!r}")
    return value


def load_calibration(path: str | Path) -> Calibration:
    """Read calibration.yaml (every camera, extrinsic, IMU and HSI entry).

    A command that needs only one camera reads it with
    :func:`calibration.camera_model.load_camera_model`, which also takes a ROS camera_info
    YAML.
    """
    file = Path(path)
    return calibration_from_dict(read_yaml(file), file)


# --- ROS camera_info YAML -------------------------------------------------------------


def write_ros_yaml(model: CameraModel, path: str | Path, camera_name: str) -> Path:
    """The camera_calibration_parsers YAML (what camera drivers load as camera_info_url)."""
    from smartmine.msgs import write_camera_info_yaml

    target = Path(path)
    write_camera_info_yaml(model.intrinsics, target, camera_name)
    return target


def read_ros_yaml(path: str | Path) -> tuple[CameraModel, str]:
    """``(model, camera_name)`` from a camera_calibration_parsers YAML."""
    from smartmine.msgs import read_camera_info_yaml

    try:
        intr, name = read_camera_info_yaml(path)
    except SmartmineError as err:
        raise CalibrationError(str(err)) from None
    try:
        return CameraModel(intr), name
    except CalibrationError as err:
        raise CalibrationError(f"{path}: {err}") from None


# --- OpenCV FileStorage YAML ----------------------------------------------------------


def write_opencv_yaml(
    model: CameraModel, path: str | Path, camera_name: str = "", rms_px: float | None = None
) -> Path:
    """OpenCV FileStorage YAML, with the keys of OpenCV's calibration sample."""
    import cv2

    target = Path(path)
    with atomic_path(target, overwrite=True) as tmp:
        fs = cv2.FileStorage(str(tmp), cv2.FILE_STORAGE_WRITE)
        try:
            if camera_name:
                fs.write("camera_name", camera_name)
            fs.write("image_width", model.width)
            fs.write("image_height", model.height)
            fs.write("distortion_model", model.distortion_model)
            fs.write("camera_matrix", np.array(model.k, dtype=np.float64))
            fs.write(
                "distortion_coefficients",
                np.array(model.intrinsics.d, dtype=np.float64).reshape(-1, 1),
            )
            if rms_px is not None:
                fs.write("avg_reprojection_error", float(rms_px))
        finally:
            fs.release()
    return target


def read_opencv_yaml(path: str | Path) -> tuple[CameraModel, str]:
    """``(model, camera_name)`` from an OpenCV FileStorage file (YAML or XML).

    Also reads OpenCV's own sample outputs (no ``distortion_model`` key: 4, 5 or 8
    coefficients are the pinhole model, as ``calibrateCamera`` returns them).
    """
    import cv2

    file = Path(path)
    if not file.is_file():
        raise CalibrationError(f"{file}: no such OpenCV calibration file")
    try:
        fs = cv2.FileStorage(str(file), cv2.FILE_STORAGE_READ)
    except cv2.error as err:
        raise CalibrationError(f"{file}: not an OpenCV FileStorage file ({err})") from None
    try:
        k = fs.getNode("camera_matrix").mat()
        d = fs.getNode("distortion_coefficients").mat()
        width = fs.getNode("image_width")
        height = fs.getNode("image_height")
        model_node = fs.getNode("distortion_model")
        name_node = fs.getNode("camera_name")
        if k is None or d is None or width.empty() or height.empty():
            raise CalibrationError(
                f"{file}: needs camera_matrix, distortion_coefficients, image_width, image_height"
            )
        coeffs = np.asarray(d, dtype=np.float64).reshape(-1)
        model = model_node.string() if not model_node.empty() else ""
        if not model:
            model = "rational_polynomial" if coeffs.size >= 8 else "plumb_bob"
            coeffs = _trim(coeffs, COEFFICIENTS[model], file)
        name = name_node.string() if not name_node.empty() else ""
        cam = CameraModel.create(int(width.real()), int(height.real()), k, coeffs, model)
    finally:
        fs.release()
    return cam, name


def _trim(coeffs: F64, n: int, file: Path) -> F64:
    if coeffs.size > n and np.any(coeffs[n:] != 0):
        raise CalibrationError(
            f"{file}: {coeffs.size} distortion coefficients with thin-prism/tilt terms; "
            "only plumb_bob, rational_polynomial and equidistant are supported"
        )
    out: F64 = coeffs[:n]
    return out


# --- COLMAP ---------------------------------------------------------------------------

_COLMAP_PARAMS: Final = {
    "SIMPLE_PINHOLE": 3,
    "PINHOLE": 4,
    "SIMPLE_RADIAL": 4,
    "RADIAL": 5,
    "OPENCV": 8,
    "FULL_OPENCV": 12,
    "OPENCV_FISHEYE": 8,
}


def colmap_camera_line(model: CameraModel, camera_id: int = 1) -> str:
    """One line of COLMAP's cameras.txt: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS...``.

    plumb_bob without k3 is OPENCV, with k3 or rational_polynomial FULL_OPENCV,
    equidistant OPENCV_FISHEYE; cx, cy move by +0.5 px to COLMAP's pixel convention.
    """
    if model.skew != 0:
        raise CalibrationError("COLMAP camera models have no skew; calibrate with zero skew")
    d = model.d
    head = [model.fx, model.fy, model.cx + 0.5, model.cy + 0.5]
    if model.is_fisheye:
        name, params = "OPENCV_FISHEYE", [*head, *d]
    elif model.distortion_model == "plumb_bob" and d[4] == 0:
        name, params = "OPENCV", [*head, *d[:4]]
    else:
        full = np.zeros(8)
        full[: d.size] = d
        name, params = "FULL_OPENCV", [*head, *full]
    text = " ".join(repr(float(p)) for p in params)
    return f"{int(camera_id)} {name} {model.width} {model.height} {text}"


def parse_colmap_camera_line(line: str, where: str = "cameras.txt") -> tuple[int, CameraModel]:
    """``(camera_id, model)`` of a cameras.txt line (OpenCV pixel convention)."""
    parts = line.split()
    if len(parts) < 4:
        raise CalibrationError(f"{where}: {line!r} is not CAMERA_ID MODEL WIDTH HEIGHT PARAMS...")
    try:
        cam_id, name, width, height = int(parts[0]), parts[1], int(parts[2]), int(parts[3])
        p = [float(v) for v in parts[4:]]
    except ValueError:
        raise CalibrationError(f"{where}: {line!r} has non-numeric fields") from None
    if name not in _COLMAP_PARAMS:
        raise CalibrationError(
            f"{where}: COLMAP model {name} is not supported ({', '.join(_COLMAP_PARAMS)})"
        )
    if len(p) != _COLMAP_PARAMS[name]:
        raise CalibrationError(
            f"{where}: {name} takes {_COLMAP_PARAMS[name]} parameters, got {len(p)}"
        )
    if name in {"SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"}:
        fx = fy = p[0]
        cx, cy, rest = p[1], p[2], p[3:]
    else:
        fx, fy, cx, cy, rest = p[0], p[1], p[2], p[3], p[4:]
    k = [[fx, 0.0, cx - 0.5], [0.0, fy, cy - 0.5], [0.0, 0.0, 1.0]]
    if name == "OPENCV_FISHEYE":
        return cam_id, CameraModel.create(width, height, k, rest, "equidistant")
    if name == "FULL_OPENCV":
        rational = any(v != 0 for v in rest[5:])
        coeffs = rest if rational else rest[:5]
        model = "rational_polynomial" if rational else "plumb_bob"
        return cam_id, CameraModel.create(width, height, k, coeffs, model)
    coeffs5 = {
        "SIMPLE_PINHOLE": [0.0] * 5,
        "PINHOLE": [0.0] * 5,
        "SIMPLE_RADIAL": [rest[0] if rest else 0.0, 0.0, 0.0, 0.0, 0.0],
        "RADIAL": [*rest[:2], 0.0, 0.0, 0.0],
        "OPENCV": [*rest[:4], 0.0],
    }[name]
    return cam_id, CameraModel.create(width, height, k, coeffs5, "plumb_bob")


def write_colmap_cameras(models: dict[int, CameraModel], path: str | Path) -> Path:
    """A COLMAP cameras.txt holding the given cameras."""
    lines = [
        "# Camera list with one line of data per camera:",
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
        "# Written by smartmine calibrate (cx, cy in COLMAP's convention: OpenCV + 0.5 px)",
        f"# Number of cameras: {len(models)}",
    ]
    lines += [colmap_camera_line(m, cid) for cid, m in models.items()]
    return write_text_atomic(path, "\n".join(lines) + "\n")


def read_colmap_cameras(path: str | Path) -> dict[int, CameraModel]:
    """All cameras of a COLMAP cameras.txt by id."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        raise CalibrationError(f"cannot read {file}: {err.strerror}") from None
    out: dict[int, CameraModel] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            cid, model = parse_colmap_camera_line(line, f"{file}:{n}")
            out[cid] = model
    return out


# --- the products of one camera -------------------------------------------------------


def write_camera_files(
    out_dir: Path, name: str, model: CameraModel, rms_px: float | None = None
) -> list[Path]:
    """``NAME.yaml`` (ROS camera_info) and ``NAME_opencv.yml`` in ``out_dir``."""
    return [
        write_ros_yaml(model, out_dir / f"{name}.yaml", name),
        write_opencv_yaml(model, out_dir / f"{name}_opencv.yml", name, rms_px),
    ]


def write_products(out_dir: Path, cal: Calibration) -> list[Path]:
    """Every file format for every camera of ``cal``, plus calibration.yaml."""
    paths: list[Path] = []
    for name, entry in cal.cameras.items():
        rms = entry.quality.get("rms_px")
        paths += write_camera_files(
            out_dir, name, entry.model, rms if isinstance(rms, float) else None
        )
    if cal.cameras:
        models = {i + 1: e.model for i, e in enumerate(cal.cameras.values())}
        paths.append(write_colmap_cameras(models, out_dir / "colmap_cameras.txt"))
    paths.append(save_calibration(cal, out_dir / "calibration.yaml"))
    return paths
