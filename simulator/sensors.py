"""The sensor rig (static transforms) and the GNSS and IMU noise models.

Frames (REP-103/105, RealSense names): ``map`` (the scene's local ENU) → ``base_link``
(FLU body, yaw along track) → ``camera_link`` (FLU, pitched down by the mount) →
``camera_color_optical_frame`` (z forward, x right, y down), and ``hsi_optical_frame``,
``imu_link``, ``gnss_link`` fixed to the body. The aligned depth image shares
``camera_color_optical_frame``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.config import SimConfig
from smartmine.frames import R_BODY_FROM_OPTICAL
from smartmine.geodesy import LocalEnu
from smartmine.geometry import make_transform, rot_y

F64Array = npt.NDArray[np.float64]

MAP, BASE, CAMERA_LINK = "map", "base_link", "camera_link"
COLOR_OPTICAL, HSI_OPTICAL = "camera_color_optical_frame", "hsi_optical_frame"
IMU_FRAME, GNSS_FRAME = "imu_link", "gnss_link"

STREAM_IMU = 21
STREAM_GNSS = 22


def _pitch(deg: float) -> F64Array:
    """Rotation about +y (FLU): positive pitches the x axis down."""
    return rot_y(math.radians(deg))


@dataclass(frozen=True, eq=False)
class Rig:
    """Static transforms of the sensors, each as parent_from_child 4x4."""

    base_from_camera_link: F64Array
    camera_link_from_optical: F64Array
    camera_link_from_hsi: F64Array
    base_from_imu: F64Array
    base_from_gnss: F64Array

    @staticmethod
    def from_config(cfg: SimConfig) -> Rig:
        cam = cfg.camera
        return Rig(
            base_from_camera_link=make_transform(_pitch(cam.mount_pitch_deg), cam.mount_xyz_m),
            camera_link_from_optical=make_transform(R_BODY_FROM_OPTICAL, [0.0, 0.0, 0.0]),
            camera_link_from_hsi=make_transform(R_BODY_FROM_OPTICAL, cfg.hsi.offset_m),
            base_from_imu=make_transform(np.eye(3), cfg.imu.offset_m),
            base_from_gnss=make_transform(np.eye(3), cfg.gnss.antenna_offset_m),
        )

    @property
    def base_from_optical(self) -> F64Array:
        return np.asarray(self.base_from_camera_link @ self.camera_link_from_optical)

    @property
    def base_from_hsi(self) -> F64Array:
        return np.asarray(self.base_from_camera_link @ self.camera_link_from_hsi)

    def static_tree(self) -> list[tuple[str, str, F64Array]]:
        """(parent, child, parent_from_child) of every static transform."""
        return [
            (BASE, CAMERA_LINK, self.base_from_camera_link),
            (CAMERA_LINK, COLOR_OPTICAL, self.camera_link_from_optical),
            (CAMERA_LINK, HSI_OPTICAL, self.camera_link_from_hsi),
            (BASE, IMU_FRAME, self.base_from_imu),
            (BASE, GNSS_FRAME, self.base_from_gnss),
        ]


@dataclass(frozen=True)
class ImuNoise:
    """The IMU's constant biases (drawn once per seed) and per-sample white noise."""

    accel_bias: F64Array
    gyro_bias: F64Array
    accel_sigma: float
    gyro_sigma: float

    @staticmethod
    def draw(cfg: SimConfig) -> ImuNoise:
        rng = np.random.default_rng([cfg.seed, STREAM_IMU, 0])
        imu = cfg.imu
        return ImuNoise(
            accel_bias=rng.normal(0.0, imu.accel_bias_sigma, 3),
            gyro_bias=rng.normal(0.0, imu.gyro_bias_sigma, 3),
            accel_sigma=imu.accel_noise_density * math.sqrt(imu.rate_hz),
            gyro_sigma=imu.gyro_noise_density * math.sqrt(imu.rate_hz),
        )

    def apply(
        self, cfg: SimConfig, specific_force: F64Array, gyro: F64Array
    ) -> tuple[F64Array, F64Array]:
        """Measured (N, 3) specific force and angular rate."""
        rng = np.random.default_rng([cfg.seed, STREAM_IMU, 1])
        accel = (
            specific_force
            + self.accel_bias
            + rng.normal(0.0, self.accel_sigma, specific_force.shape)
        )
        rate = gyro + self.gyro_bias + rng.normal(0.0, self.gyro_sigma, gyro.shape)
        return accel, rate


def gnss_fixes(
    cfg: SimConfig, origin: LocalEnu, antenna_enu: F64Array
) -> tuple[F64Array, F64Array, F64Array, F64Array]:
    """Noisy WGS84 fixes of true antenna positions (N, 3) in local ENU.

    White Gaussian noise in metres (east, north: ``sigma_horizontal_m``; up:
    ``sigma_vertical_m``) is added in the local frame, then converted exactly to
    latitude, longitude and ellipsoidal height. Returns lat, lon, alt and the noise.
    """
    g = cfg.gnss
    rng = np.random.default_rng([cfg.seed, STREAM_GNSS, 0])
    sigma = np.array([g.sigma_horizontal_m, g.sigma_horizontal_m, g.sigma_vertical_m])
    noise = rng.standard_normal(antenna_enu.shape) * sigma
    noisy = antenna_enu + noise
    lat, lon, alt = origin.to_wgs84(noisy[:, 0], noisy[:, 1], noisy[:, 2])
    return lat, lon, alt, noise
