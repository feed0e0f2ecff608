"""Camera-IMU rotation and time offset (hand-eye, rotation only).

A rigidly mounted camera and IMU turn together: the camera's rotation, seen from board
poses (or visual odometry), equals the gyro's once rotated into the IMU frame and
shifted to the IMU clock. So:

1. the time offset comes first, from the cross-correlation of the rate magnitudes
   ``|w|`` (independent of the unknown rotation);
2. the rotation then follows in closed form (Kabsch / SVD on the aligned rates);
3. a least-squares fit of rotation, offset and gyro bias on the rates, comparing the
   camera's rate over each frame interval with the gyro's mean over the same (shifted)
   interval, so the slow camera signal is never interpolated;
4. a final hand-eye fit of rotation and offset on rotations over longer intervals
   (``R A R^T = B``, A from the camera, B the integrated gyro): a board pose is noisy
   to a few tenths of a degree, which differencing at frame rate turns into large rate
   noise, while over a quarter second the rotation is large against that noise.

Conventions (Kalibr's): ``w_imu = R_imu_camera @ w_camera``; ``t_imu = t_camera +
time_offset_s``. The lever arm (translation) needs accelerometer data and a full
spline-based solver; it is not estimated here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from calibration.errors import CalibrationError
from smartmine.geometry import fit_similarity, matrix_to_rotvec, rotvec_to_matrix

F64 = npt.NDArray[np.float64]

MIN_RATE_SAMPLES: Final = 20
GRID_STEP_S: Final = 0.001
HAND_EYE_INTERVAL_S: Final = 0.25


@dataclass
class ImuCalibrationResult:
    """Camera-IMU rotation and time offset with the fit's residuals."""

    rotation: F64
    """R_imu_camera (camera-frame vectors into the IMU frame)."""
    time_offset_s: float
    """t_imu = t_camera + time_offset_s."""
    gyro_bias_rad_s: F64
    residual_rms_rad_s: float
    """RMS of |w_imu - bias - R w_camera| over the camera frame intervals after the fit
    (dominated by the noise of differentiated board poses)."""
    rotation_residual_deg: float
    """RMS angle of ``(R A R^T)^-1 B`` over the hand-eye intervals."""
    samples: int
    correlation: float
    """Peak normalised correlation of |w| (near 1: the offset is well determined)."""
    rate_rms_rad_s: float
    """RMS camera angular rate: how much the data excited the rotation."""
    residuals_rad_s: F64 = field(default_factory=lambda: np.zeros((0, 3)))
    times_s: F64 = field(default_factory=lambda: np.zeros(0))
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def rotation_deg(self) -> float:
        c = (float(np.trace(self.rotation)) - 1) / 2
        return math.degrees(math.acos(max(-1.0, min(1.0, c))))


# --- rates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateIntervals:
    """Mean body angular rate of the camera over frame intervals ``[t0, t1]``."""

    t0_s: F64
    t1_s: F64
    omega_rad_s: F64

    @property
    def mid_s(self) -> F64:
        out: F64 = (self.t0_s + self.t1_s) / 2
        return out


def camera_rates(
    times_s: Sequence[float] | F64, r_world_camera: F64, max_gap_factor: float = 2.5
) -> RateIntervals:
    """Body rates between consecutive orientations (camera in a fixed world/board frame).

    Intervals longer than ``max_gap_factor`` times the median (lost board, dropped
    frames) are skipped rather than averaged over.
    """
    t = np.asarray(times_s, dtype=np.float64)
    if len(t) < 3:
        raise CalibrationError(f"only {len(t)} camera orientations; need a continuous sequence")
    order = np.argsort(t)
    t, r = t[order], r_world_camera[order]
    dt = np.diff(t)
    ok = (dt > 0) & (dt <= max_gap_factor * float(np.median(dt[dt > 0])))
    rel = np.einsum("nji,njk->nik", r[:-1], r[1:])  # R_k^T R_k+1: body-frame increment
    w = matrix_to_rotvec(rel) / np.where(dt > 0, dt, 1.0)[:, None]
    return RateIntervals(t[:-1][ok], t[1:][ok], w[ok])


class GyroIntegral:
    """Cumulative integral of gyro rates, for the exact mean rate over any interval."""

    def __init__(self, times_s: F64, omega_rad_s: F64) -> None:
        order = np.argsort(times_s)
        self.t = np.asarray(times_s, np.float64)[order]
        w = np.asarray(omega_rad_s, np.float64)[order]
        if len(self.t) < 2:
            raise CalibrationError("fewer than two IMU samples")
        steps = np.diff(self.t)[:, None] * (w[1:] + w[:-1]) / 2
        self.cum = np.vstack([np.zeros(3), np.cumsum(steps, axis=0)])
        self.w = w

    def mean(self, t0: F64, t1: F64) -> F64:
        c0 = np.column_stack([np.interp(t0, self.t, self.cum[:, i]) for i in range(3)])
        c1 = np.column_stack([np.interp(t1, self.t, self.cum[:, i]) for i in range(3)])
        out: F64 = (c1 - c0) / (t1 - t0)[:, None]
        return out

    def covers(self, t0: F64, t1: F64) -> npt.NDArray[np.bool_]:
        out: npt.NDArray[np.bool_] = (t0 >= self.t[0]) & (t1 <= self.t[-1])
        return out

    def attitude(self, bias: F64) -> GyroAttitude:
        """Integrated orientation of the IMU (in its start frame) with ``bias`` removed."""
        return GyroAttitude(self.t, self.w - bias)


class GyroAttitude:
    """Gyro rates integrated into orientations, sample by sample (body-frame rates)."""

    def __init__(self, t: F64, w: F64) -> None:
        from scipy.spatial.transform import Rotation

        self.t, self.w = t, w
        # midpoint rule: the rate at the middle of each step (Euler's first-order rule
        # would shift the attitude by half a sample, i.e. bias the time offset)
        steps = Rotation.from_rotvec((w[:-1] + w[1:]) / 2 * np.diff(t)[:, None]).as_quat()
        quats = np.empty((len(t), 4))
        q = np.array([0.0, 0.0, 0.0, 1.0])
        quats[0] = q
        for i, dq in enumerate(steps):  # q_(i+1) = q_i * dq_i
            x1, y1, z1, w1 = q
            x2, y2, z2, w2 = dq
            q = np.array(
                [
                    w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                    w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                    w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
                    w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
                ]
            )
            q /= np.linalg.norm(q)
            quats[i + 1] = q
        self.quats = quats

    def at(self, times: F64) -> Any:
        """Orientations (scipy Rotation) at arbitrary times within the samples."""
        from scipy.spatial.transform import Rotation

        n = len(self.t)
        k = np.clip(np.searchsorted(self.t, times, side="right") - 1, 0, n - 2)
        tau = times - self.t[k]
        slope = (self.w[k + 1] - self.w[k]) / (self.t[k + 1] - self.t[k])[:, None]
        w_mid = self.w[k] + slope * (tau / 2)[:, None]  # mean rate over [t_k, t]
        step = Rotation.from_rotvec(w_mid * tau[:, None])
        return Rotation.from_quat(self.quats[k]) * step


# --- solver -----------------------------------------------------------------------------


def estimate_time_offset(
    cam: RateIntervals, gyro: GyroIntegral, max_offset_s: float
) -> tuple[float, float]:
    """``(offset_s, peak correlation)`` from the cross-correlation of |w|."""
    t_lo, t_hi = float(cam.t0_s[0]), float(cam.t1_s[-1])
    grid = np.arange(t_lo, t_hi, GRID_STEP_S)
    cam_norm = np.interp(grid, cam.mid_s, np.linalg.norm(cam.omega_rad_s, axis=1))
    gyro_norm = np.linalg.norm(gyro.w, axis=1)
    # the gyro's rates smoothed over one camera interval, to compare like with like
    frame_dt = float(np.median(cam.t1_s - cam.t0_s))
    lags = np.arange(-max_offset_s, max_offset_s + GRID_STEP_S / 2, GRID_STEP_S)
    kernel = max(1, round(frame_dt / GRID_STEP_S))
    gyro_grid_t = np.arange(t_lo - max_offset_s, t_hi + max_offset_s, GRID_STEP_S)
    g = np.interp(gyro_grid_t, gyro.t, gyro_norm, left=np.nan, right=np.nan)
    g = np.convolve(np.nan_to_num(g, nan=0.0), np.ones(kernel) / kernel, mode="same")
    valid = np.interp(gyro_grid_t, gyro.t, np.ones(len(gyro.t)), left=0.0, right=0.0)
    a = cam_norm - cam_norm.mean()
    best, best_c = 0.0, -np.inf
    scores = np.full(len(lags), -np.inf)
    n = len(grid)
    for i, lag in enumerate(lags):
        start = round((t_lo + lag - gyro_grid_t[0]) / GRID_STEP_S)
        if start < 0 or start + n > len(g):
            continue
        seg = g[start : start + n]
        if valid[start : start + n].min() < 1.0:
            continue
        b = seg - seg.mean()
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        if denom > 0:
            scores[i] = float(a @ b) / denom
    if not np.isfinite(scores).any():
        raise CalibrationError(
            "IMU data do not span the camera sequence shifted by up to "
            f"+-{max_offset_s} s; record the IMU for the whole sequence or lower --max-offset-s"
        )
    k = int(np.argmax(scores))
    best, best_c = float(lags[k]), float(scores[k])
    if 0 < k < len(lags) - 1 and np.isfinite(scores[k - 1]) and np.isfinite(scores[k + 1]):
        y0, y1, y2 = scores[k - 1], scores[k], scores[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            best += 0.5 * (y0 - y2) / den * GRID_STEP_S
    return best, best_c


def kabsch(a: F64, b: F64) -> F64:
    """Rotation R minimising sum |b - R a|^2 (rows of a, b are vectors)."""
    fit = fit_similarity(a, b, with_scale=False, with_translation=False)
    return fit.transform.rotation


def calibrate_camera_imu(
    camera_times_s: F64,
    r_world_camera: F64,
    imu_times_s: F64,
    imu_omega_rad_s: F64,
    *,
    max_offset_s: float = 0.5,
    estimate_bias: bool = True,
    hand_eye_interval_s: float = HAND_EYE_INTERVAL_S,
) -> ImuCalibrationResult:
    """Rotation, time offset (and gyro bias) between a camera and an IMU.

    ``r_world_camera`` (N, 3, 3) are camera orientations in any fixed frame (the board's,
    or an odometry frame) at ``camera_times_s``; the gyro gives ``imu_omega_rad_s`` at
    ``imu_times_s`` on its own clock.
    """
    from scipy.optimize import least_squares

    cam = camera_rates(camera_times_s, r_world_camera)
    if len(cam.omega_rad_s) < MIN_RATE_SAMPLES:
        raise CalibrationError(
            f"only {len(cam.omega_rad_s)} camera rate samples; record at least "
            f"{MIN_RATE_SAMPLES + 1} consecutive frames with the board (or odometry) in view"
        )
    gyro = GyroIntegral(imu_times_s, imu_omega_rad_s)
    rate_rms = float(np.sqrt(np.mean(np.sum(cam.omega_rad_s**2, axis=1))))
    if rate_rms < 0.05:
        raise CalibrationError(
            f"the camera barely rotates (RMS rate {rate_rms:.3f} rad/s); rotate it about all "
            "three axes while recording"
        )
    offset, corr = estimate_time_offset(cam, gyro, max_offset_s)

    def aligned(off: float) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
        t0, t1 = cam.t0_s + off, cam.t1_s + off
        ok = gyro.covers(t0, t1)
        return cam.omega_rad_s[ok], gyro.mean(t0[ok], t1[ok]), ok

    a, b, _ = aligned(offset)
    sv = np.linalg.svd(a - a.mean(axis=0), compute_uv=False)
    if sv[1] < 0.05 * sv[0]:
        raise CalibrationError(
            "the camera turned about one axis only; the camera-IMU rotation needs rotation "
            "about at least two axes (tilt and pan the rig while recording)"
        )
    r0 = kabsch(a, b)

    def rate_residuals(x: F64) -> F64:
        r = rotvec_to_matrix(x[:3])
        off = float(x[3])
        bias = x[4:7] if estimate_bias else np.zeros(3)
        t0, t1 = cam.t0_s + off, cam.t1_s + off
        t0c = np.clip(t0, gyro.t[0], gyro.t[-1])
        t1c = np.clip(t1, gyro.t[0], gyro.t[-1])
        t1c = np.maximum(t1c, t0c + 1e-6)
        res: F64 = (gyro.mean(t0c, t1c) - bias - cam.omega_rad_s @ r.T).reshape(-1)
        return res

    x0 = np.concatenate([matrix_to_rotvec(r0), [offset], np.zeros(3) if estimate_bias else []])
    dt = float(np.median(cam.t1_s - cam.t0_s))
    lo = np.full(x0.size, -np.inf)
    hi = np.full(x0.size, np.inf)
    lo[3], hi[3] = offset - dt, offset + dt
    sol = least_squares(
        rate_residuals, x0, bounds=(lo, hi), x_scale="jac", loss="soft_l1", f_scale=0.1
    )
    bias = np.asarray(sol.x[4:7] if estimate_bias else np.zeros(3), np.float64)

    # hand-eye on rotations over longer intervals (bias from the rate fit)
    r_fit, off_fit, rot_res = _hand_eye(
        np.asarray(camera_times_s, np.float64),
        np.asarray(r_world_camera, np.float64),
        gyro.attitude(bias),
        rotvec_to_matrix(sol.x[:3]),
        float(sol.x[3]),
        hand_eye_interval_s,
        dt,
    )
    x_final = np.concatenate([matrix_to_rotvec(r_fit), [off_fit], bias if estimate_bias else []])
    _, _, ok = aligned(off_fit)
    res = rate_residuals(x_final).reshape(-1, 3)[ok]
    return ImuCalibrationResult(
        rotation=r_fit,
        time_offset_s=off_fit,
        gyro_bias_rad_s=bias,
        residual_rms_rad_s=float(np.sqrt(np.mean(np.sum(res**2, axis=1)))),
        rotation_residual_deg=rot_res,
        samples=int(ok.sum()),
        correlation=corr,
        rate_rms_rad_s=rate_rms,
        residuals_rad_s=res,
        times_s=cam.mid_s[ok],
        config={
            "max_offset_s": max_offset_s,
            "estimate_bias": estimate_bias,
            "hand_eye_interval_s": hand_eye_interval_s,
        },
    )


def _hand_eye(
    times: F64,
    r_world_camera: F64,
    imu: GyroAttitude,
    r0: F64,
    offset0: float,
    interval_s: float,
    frame_dt: float,
) -> tuple[F64, float, float]:
    """Refine R and the offset on ``R A R^T = B`` over intervals of about ``interval_s``."""
    from scipy.optimize import least_squares
    from scipy.spatial.transform import Rotation

    order = np.argsort(times)
    t, rw = times[order], r_world_camera[order]
    k = max(1, round(interval_s / frame_dt))
    i0 = np.arange(len(t) - k)
    i1 = i0 + k
    span = t[i1] - t[i0]
    keep = span <= (k + 0.5) * frame_dt
    i0, i1 = i0[keep], i1[keep]
    if len(i0) < 3:
        return r0, offset0, float("nan")
    a = Rotation.from_matrix(np.einsum("nji,njk->nik", rw[i0], rw[i1]))

    def residuals(x: F64) -> F64:
        r = Rotation.from_rotvec(x[:3])
        off = float(x[3])
        b = imu.at(t[i0] + off).inv() * imu.at(t[i1] + off)
        out: F64 = (b.inv() * r * a * r.inv()).as_rotvec().reshape(-1)
        return out

    x0 = np.concatenate([matrix_to_rotvec(r0), [offset0]])
    lo = np.array([-np.inf, -np.inf, -np.inf, offset0 - frame_dt])
    hi = np.array([np.inf, np.inf, np.inf, offset0 + frame_dt])
    inside = (t[i0] + offset0 - frame_dt >= imu.t[0]) & (t[i1] + offset0 + frame_dt <= imu.t[-1])
    i0, i1 = i0[inside], i1[inside]
    if len(i0) < 3:
        return r0, offset0, float("nan")
    a = Rotation.from_matrix(np.einsum("nji,njk->nik", rw[i0], rw[i1]))
    sol = least_squares(residuals, x0, bounds=(lo, hi), x_scale="jac", loss="soft_l1", f_scale=0.01)
    res = residuals(sol.x).reshape(-1, 3)
    rms_deg = float(np.degrees(np.sqrt(np.mean(np.sum(res**2, axis=1)))))
    return rotvec_to_matrix(sol.x[:3]), float(sol.x[3]), rms_deg


# --- from a bag -----------------------------------------------------------------------


@dataclass
class OrientationTrack:
    """Camera orientations in a fixed frame, with the frame names for messages."""

    times_s: F64
    r_world_camera: F64
    used: int
    dropped: dict[str, str]


def board_orientations(
    frames: Any, board: Any, camera: Any, max_rms_px: float = 2.0
) -> OrientationTrack:
    """Camera orientation in the board frame for every frame where the board is seen."""
    import cv2

    from calibration.intrinsics import board_pose

    times: list[float] = []
    rots: list[F64] = []
    dropped: dict[str, str] = {}
    for frame in frames:
        det = board.detect(frame.gray)
        if det is None or det.count < 6:
            dropped[frame.name] = "no board"
            continue
        rvec, _, rms = board_pose(camera, det)
        if not np.isfinite(rms) or rms > max_rms_px:
            dropped[frame.name] = f"pose RMS {rms:.2f} px"
            continue
        r_cam_board = cv2.Rodrigues(rvec)[0]
        times.append((frame.stamp_ns or 0) / 1e9)
        rots.append(np.asarray(r_cam_board, np.float64).T)
    if len(times) < 3:
        raise CalibrationError(
            f"the board was posed in only {len(times)} frames; keep it in view while moving"
        )
    return OrientationTrack(np.array(times), np.array(rots), len(times), dropped)


def odometry_orientations(bag: Any, topic: str) -> OrientationTrack:
    """Camera orientations from a visual odometry topic (Odometry, PoseStamped)."""
    from smartmine.bagio.reader import BagReader
    from smartmine.msgs import header_stamp_ns, odometry_to_matrix, pose_stamped_to_matrix

    times: list[float] = []
    rots: list[F64] = []
    with BagReader(bag) as reader:
        reader.require_topics([topic])
        msgtype = reader.topics[topic].msgtype
        convert = {
            "nav_msgs/msg/Odometry": odometry_to_matrix,
            "geometry_msgs/msg/PoseStamped": pose_stamped_to_matrix,
        }.get(msgtype)
        if convert is None:
            raise CalibrationError(
                f"{bag}: odometry topic {topic} is {msgtype}; expected nav_msgs/Odometry or "
                "geometry_msgs/PoseStamped of the camera"
            )
        for m in reader.messages([topic]):
            times.append(header_stamp_ns(m.message) / 1e9)
            rots.append(convert(m.message)[:3, :3])
    if len(times) < 3:
        raise CalibrationError(f"{bag}: only {len(times)} messages on {topic}")
    return OrientationTrack(np.array(times), np.array(rots), len(times), {})


def read_gyro(bag: Any, topic: str) -> tuple[F64, F64, str]:
    """``(times_s, omega (N, 3), frame_id)`` of a sensor_msgs/Imu topic."""
    from smartmine.bagio.reader import BagReader
    from smartmine.msgs import imu_to_sample

    times: list[float] = []
    rates: list[F64] = []
    frame = ""
    with BagReader(bag) as reader:
        reader.require_topics([topic])
        msgtype = reader.topics[topic].msgtype
        if msgtype != "sensor_msgs/msg/Imu":
            raise CalibrationError(f"{bag}: {topic} is {msgtype}, expected sensor_msgs/Imu")
        for m in reader.messages([topic]):
            s = imu_to_sample(m.message)
            times.append(s.stamp_ns / 1e9)
            rates.append(s.angular_velocity_rad_s)
            frame = frame or s.frame_id
    if len(times) < 10:
        raise CalibrationError(f"{bag}: only {len(times)} IMU messages on {topic}")
    return np.array(times), np.array(rates), frame
