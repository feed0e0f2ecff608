"""The SLAM core: one object, one ``step(frame)`` per RGB-D frame (KISS-ICP style).

Tracking runs frame-to-keyframe (see :mod:`mapping.slam.odometry`). A new keyframe is
made when the camera has moved or turned enough, or tracking weakens. Every keyframe is
looked up against older ones (place recognition: a small normalised thumbnail plus the
keyframes near the current estimate), and a candidate becomes a loop closure only when
feature PnP and dense ICP agree on it (geometric verification). The keyframe pose graph
is then optimised (Open3D, Levenberg-Marquardt with line process pruning of bad loops).

Frames that cannot be used (blank image, no depth) are skipped and counted. When
tracking fails, the system tries to relocalise against the keyframes on each following
frame; after ``relocalise_frames`` failures it starts a new segment, joined to the old
one by a weak edge that the next loop closure corrects.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mapping.slam.frame import (
    F64Array,
    Pinhole,
    RgbdFrame,
    backproject,
    downsample_depth,
    normals_of,
)
from mapping.slam.odometry import (
    OdometryConfig,
    OdometryResult,
    RgbdOdometry,
    TrackedFrame,
)
from smartmine.geometry import make_transform, matrix_to_rotvec, rotation_angle, rotvec_to_matrix

if TYPE_CHECKING:
    from mapping.slam.backend import LoopCloser


@dataclass(frozen=True)
class SlamConfig:
    odometry: OdometryConfig = field(default_factory=OdometryConfig)
    keyframe_translation_m: float = 0.3
    keyframe_rotation_deg: float = 10.0
    keyframe_min_inliers: int = 40
    loop_min_path_m: float = 8.0
    loop_radius_m: float = 6.0
    loop_candidates: int = 4
    loop_min_inliers: int = 25
    loop_max_drift: float = 0.1
    """A loop may correct at most this fraction of the path between the two keyframes..."""
    loop_slack_m: float = 0.5
    """...plus this much."""
    join_min_inliers: int = 40
    """Feature inliers a loop closure needs to join two segments: no drift bound can
    check it, since the new segment's place is unknown."""
    weak_inliers_keyframes: bool = False
    """Make keyframes sooner when few features match. Off: measured on the simulator drift
    (300 frames, 47 m) it raised ATE from 0.06 m to 0.33 m (shorter baselines, more drift)."""
    relocalise_frames: int = 5
    gyro_bias_frames: int = 30
    """The gyro's bias is estimated online from the visual rotation, as a running mean
    over about this many tracked frames (0: the gyro is taken as it is). A MEMS gyro's
    constant bias (the simulator draws 2e-3 rad/s per axis) otherwise biases every
    frame's rotation through the prior. Measured on the simulator's drift (seed 1): it
    finds (0.32, -2.28, 2.58) mrad/s against the drawn (0.01, -2.16, 2.99)."""
    gyro_bias_max_rad_s: float = 0.05
    """Frames whose visual rotation disagrees with the gyro by more than this rate do
    not update the bias (a bad match, not a bias)."""
    map_scale: int = 2
    """Keyframe images kept for fusion at 1/map_scale resolution (memory)."""
    optimise_every_loop: bool = True
    background: bool = False
    """Live: loop search in a worker thread and pose-graph optimisation in a child
    process, so that they never hold up the pose (:mod:`mapping.slam.backend`). Off
    (offline): in line, and the same input gives the same trajectory on every run."""
    # -- slamreal (issue 19): relocalisation verified before it is accepted -------------
    reloc_agree_m: float = 0.10
    """A relocalisation is confirmed when a second view (another keyframe, or the next
    frame) puts the camera within this distance..."""
    reloc_agree_deg: float = 5.0
    """...and this angle of the candidate pose."""
    reloc_second_keyframes: int = 3
    """Other keyframes (nearest the candidate pose first) tried as the second view."""


@dataclass
class Keyframe:
    kf_id: int
    frame_index: int
    stamp_ns: int
    tracked: TrackedFrame
    pose: F64Array
    """T_world_cam, updated by pose-graph optimisation."""
    path_m: float
    thumbnail: npt.NDArray[np.float32]
    color_jpg: bytes
    """Colour at 1/map_scale resolution, JPEG (memory: ~20 kB a keyframe)."""
    depth_png: bytes
    """Depth (mm) at 1/map_scale resolution, 16-bit PNG (lossless)."""
    segment: int

    @property
    def color_small(self) -> npt.NDArray[np.uint8]:
        import cv2

        bgr = np.asarray(cv2.imdecode(np.frombuffer(self.color_jpg, np.uint8), cv2.IMREAD_COLOR))
        return np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.uint8)

    @property
    def depth_small_mm(self) -> npt.NDArray[np.uint16]:
        import cv2

        depth = cv2.imdecode(np.frombuffer(self.depth_png, np.uint8), cv2.IMREAD_UNCHANGED)
        return np.asarray(depth, dtype=np.uint16)


@dataclass
class FrameState:
    """What ``step`` reports for one frame."""

    index: int
    stamp_ns: int
    pose: F64Array | None
    status: str
    """tracked | keyframe | relocalised | lost | new_segment | skipped"""
    detail: str = ""


PendingRelocalisation = tuple[RgbdFrame, "TrackedFrame", "Keyframe", OdometryResult, FrameState]


@dataclass
class LoopClosure:
    kf_from: int
    kf_to: int
    inliers: int
    rmse_m: float
    correction_m: float
    """How far the edge moved the pose against the drifted estimate (before optimising)."""


def _encode(ext: str, image: npt.NDArray[Any]) -> bytes:
    import cv2

    ok, buf = cv2.imencode(ext, image, [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else [])
    if not ok:
        raise ValueError(f"cannot encode a keyframe image as {ext}")
    return bytes(buf.tobytes())


def thumbnail(frame: RgbdFrame) -> npt.NDArray[np.float32]:
    """A 32×24 zero-mean unit-norm grey image: a cheap global place descriptor."""
    import cv2

    small = cv2.resize(frame.gray, (32, 24), interpolation=cv2.INTER_AREA).astype(np.float32)
    small -= small.mean()
    return (small / max(float(np.linalg.norm(small)), 1e-6)).astype(np.float32)


class Slam:
    """RGB-D SLAM over a stream of frames; see the module docstring."""

    def __init__(self, cam: Pinhole, config: SlamConfig | None = None) -> None:
        self.cam = cam
        self.config = config or SlamConfig()
        self.odometry = RgbdOdometry(cam, self.config.odometry)
        self.keyframes: list[Keyframe] = []
        self.edges: list[tuple[int, int, F64Array, F64Array, bool]] = []
        """(source kf, target kf, T_target_source, information, uncertain)"""
        self.loops: list[LoopClosure] = []
        self.anchors: list[tuple[int, F64Array, F64Array]] = []
        """(keyframe, measured T_world_kf, information): absolute constraints, e.g. from
        surveyed markers (:func:`mapping.slam.georef.anchor_edges`)."""
        self.rejected_loops = 0
        self.frames: list[tuple[int, int, int, F64Array]] = []
        """(frame index, stamp, keyframe id, T_kf_cam) of every tracked frame"""
        self.states: list[FrameState] = []
        self.segment = 0
        self.segment_group = [0]
        """Which group of joined segments each segment is in (its lowest segment)."""
        self.segment_seed: tuple[RgbdFrame, TrackedFrame, F64Array | None, FrameState] | None = None
        """The frame a new segment will start on if the next frame tracks against it."""
        self.joins: list[tuple[int, int, int]] = []
        """(segment, segment, loop index) of each loop closure that joined two segments."""
        self.lost_count = 0
        self.lost_since: int | None = None
        self.last_T_kf_cam = np.eye(4)
        self.velocity = np.eye(4)
        """Motion over ``velocity_dt_ns`` (the last two posed frames), T_prev_cur."""
        self.velocity_dt_ns = 0
        self.last_stamp_ns: int | None = None
        self.last_pose: F64Array | None = None
        self.gyro_since_pose: F64Array | None = np.eye(3)
        """IMU rotation from the last posed frame to the current one (None: incomplete)."""
        self.gyro_bias = np.zeros(3)
        """Estimated gyro bias, rad/s in the camera frame (see ``gyro_bias_frames``)."""
        self.gyro_bias_updates = 0
        self.last_frame_ns: int | None = None
        self.lock = threading.RLock()
        """Held while the graph changes (tracking's keyframes, the back end's results)."""
        self.backend: LoopCloser | None = None
        if self.config.background:
            from mapping.slam.backend import LoopCloser

            self.backend = LoopCloser(self)
        self.backend_stats: dict[str, Any] = {}
        self.reloc_pending: PendingRelocalisation | None = None
        """A relocalisation no second keyframe could confirm: (frame, tracked, keyframe,
        its result, its state), confirmed or dropped by the next frame."""
        self.odometry_refused = 0
        """Frames lost because the frames did not support the estimate (not "ok")."""
        self.reloc_rejected: list[str] = []
        """Why each rejected relocalisation candidate was rejected."""

    # -- public ------------------------------------------------------------------------
    def step(self, frame: RgbdFrame) -> FrameState:
        """Track one frame; returns its pose (T_world_cam) and status."""
        # the gyro rotation since the last posed frame, over skipped and lost ones too
        if self.gyro_since_pose is not None:
            rotation = frame.gyro_rotation
            if rotation is not None and self.last_frame_ns is not None:
                dt_s = (frame.stamp_ns - self.last_frame_ns) * 1e-9
                rotation = rotation @ rotvec_to_matrix(-self.gyro_bias * dt_s)
            self.gyro_since_pose = None if rotation is None else self.gyro_since_pose @ rotation
        self.last_frame_ns = frame.stamp_ns
        reason = frame.is_blank()
        if reason is not None:
            return self._record(FrameState(frame.index, frame.stamp_ns, None, "skipped", reason))
        tracked = self.odometry.prepare(frame)
        if not self.keyframes:
            self._add_keyframe(frame, tracked, np.eye(4), None)
            return self._record(FrameState(frame.index, frame.stamp_ns, np.eye(4), "keyframe"))
        if self.lost_since is not None:
            with self.lock:
                return self._record(self._recover(frame, tracked))
        kf = self.keyframes[-1]
        guess = self.last_T_kf_cam @ self._predicted_motion(frame.stamp_ns)
        gyro = None
        if self.gyro_since_pose is not None:
            gyro = self.last_T_kf_cam[:3, :3] @ self.gyro_since_pose
        result = self.odometry.estimate(kf.tracked, tracked, guess, gyro)
        if not result.ok:
            self.lost_since = frame.index
            self.lost_count += 1
            if result.support is not None:  # estimated, then refused by its checks
                self.odometry_refused += 1
            return self._record(
                FrameState(frame.index, frame.stamp_ns, None, "lost", result.reason)
            )
        with self.lock:
            return self._record(self._accept(frame, tracked, kf, result))

    def finish(self) -> None:
        """Final pose-graph optimisation (after the background back end's last work)."""
        if self.backend is not None:
            self.backend.close()
            self.backend_stats = self.backend.stats()
            self.backend = None
        if self.loops or any(e[4] for e in self.edges):
            self.optimise()

    def trajectory(self) -> tuple[npt.NDArray[np.int64], F64Array]:
        """Stamps (ns) and current T_world_cam of every tracked frame."""
        by_id = {k.kf_id: k.pose for k in self.keyframes}
        stamps = np.array([f[1] for f in self.frames], dtype=np.int64)
        poses = np.array([by_id[f[2]] @ f[3] for f in self.frames]).reshape(-1, 4, 4)
        return stamps, poses

    # -- tracking --------------------------------------------------------------------------
    def _accept(
        self, frame: RgbdFrame, tracked: TrackedFrame, kf: Keyframe, result: OdometryResult
    ) -> FrameState:
        T_kf_cam = result.T_ref_cur
        self.velocity = np.linalg.inv(self.last_T_kf_cam) @ T_kf_cam
        self.velocity_dt_ns = frame.stamp_ns - (self.last_stamp_ns or frame.stamp_ns)
        if result.feature_inliers >= self.config.keyframe_min_inliers:
            self._update_gyro_bias()
        self.last_T_kf_cam = T_kf_cam
        pose = kf.pose @ T_kf_cam
        moved = float(np.linalg.norm(T_kf_cam[:3, 3]))
        turned = math.degrees(float(rotation_angle(T_kf_cam[:3, :3])))
        weak = result.feature_inliers < self.config.keyframe_min_inliers
        if (
            moved > self.config.keyframe_translation_m
            or turned > self.config.keyframe_rotation_deg
            or (
                weak
                and self.config.weak_inliers_keyframes
                and moved > self.config.keyframe_translation_m / 3
            )
        ):
            self._add_keyframe(frame, tracked, pose, (kf, T_kf_cam, result.information))
            if self.backend is not None:
                self.backend.submit()
            else:
                self._detect_loop()
            return FrameState(frame.index, frame.stamp_ns, pose, "keyframe")
        self.frames.append((frame.index, frame.stamp_ns, kf.kf_id, T_kf_cam))
        self.last_pose = pose
        return FrameState(frame.index, frame.stamp_ns, pose, "tracked")

    def _add_keyframe(
        self,
        frame: RgbdFrame,
        tracked: TrackedFrame,
        pose: F64Array,
        link: tuple[Keyframe, F64Array, F64Array] | None,
        uncertain: bool = False,
    ) -> Keyframe:
        import cv2

        s = self.config.map_scale
        h, w = frame.depth_m.shape
        color = cv2.resize(frame.color, (w // s, h // s), interpolation=cv2.INTER_AREA)
        depth = np.ascontiguousarray(frame.depth_m[s // 2 :: s, s // 2 :: s][: h // s, : w // s])
        depth_mm = np.clip(depth * 1000.0, 0, 65535).astype(np.uint16)
        prev_path = self.keyframes[-1].path_m if self.keyframes else 0.0
        step = float(np.linalg.norm(link[1][:3, 3])) if link is not None else 0.0
        kf = Keyframe(
            kf_id=len(self.keyframes),
            frame_index=frame.index,
            stamp_ns=frame.stamp_ns,
            tracked=tracked,
            pose=pose,
            path_m=prev_path + step,
            thumbnail=thumbnail(frame),
            color_jpg=_encode(".jpg", np.ascontiguousarray(color[:, :, ::-1])),
            depth_png=_encode(".png", depth_mm),
            segment=self.segment,
        )
        # older keyframes keep features only; their ICP levels are rebuilt when needed
        if self.keyframes:
            self.keyframes[-1].tracked.levels = {}
        self.keyframes.append(kf)
        if link is not None:
            prev, T_prev_cur, info = link
            self.edges.append((kf.kf_id, prev.kf_id, T_prev_cur, info, uncertain))
        self.frames.append((frame.index, frame.stamp_ns, kf.kf_id, np.eye(4)))
        self.last_T_kf_cam = np.eye(4)
        self.last_pose = pose
        return kf

    # -- loss and recovery -------------------------------------------------------------
    def _recover(self, frame: RgbdFrame, tracked: TrackedFrame) -> FrameState:
        if self.reloc_pending is not None:
            state = self._confirm_pending(frame, tracked)
            if state is not None:
                return state
        candidates = self._place_candidates(thumbnail(frame), None, exclude_recent=0)
        tried: set[int] = set()
        for kf in [self.keyframes[-1], *candidates]:
            if kf.kf_id in tried:
                continue
            tried.add(kf.kf_id)
            result = self._verify(kf, tracked, None)
            if result is None or not result.ok:
                continue
            confirmed, why = self.check_relocalisation(kf, tracked, result.T_ref_cur)
            if confirmed is False:
                self.reloc_rejected.append(f"frame {frame.index}: {why}")
                continue
            if confirmed is None:  # no second keyframe sees it: the next frame decides
                state = FrameState(
                    frame.index, frame.stamp_ns, None, "lost",
                    f"relocalisation against keyframe {kf.kf_id} waits for the next frame",
                )  # fmt: skip
                self.reloc_pending = (frame, tracked, kf, result, state)
                self.lost_count += 1
                return state
            self._relocalise(frame, tracked, kf, result.T_ref_cur, result.information)
            pose = kf.pose @ result.T_ref_cur
            return FrameState(
                frame.index, frame.stamp_ns, pose, "relocalised",
                f"against keyframe {kf.kf_id}, {why}",
            )  # fmt: skip
        assert self.lost_since is not None
        if frame.index - self.lost_since < self.config.relocalise_frames:
            self.lost_count += 1
            return FrameState(frame.index, frame.stamp_ns, None, "lost", "relocalisation failed")
        return self._new_segment(frame, tracked)

    def _relocalise(
        self,
        frame: RgbdFrame,
        tracked: TrackedFrame,
        kf: Keyframe,
        T_kf_cam: F64Array,
        information: F64Array,
    ) -> Keyframe:
        """Tracking resumes at ``frame``, placed against keyframe ``kf``."""
        self.lost_since = None
        self.segment_seed = None
        self.reloc_pending = None
        self.velocity = np.eye(4)
        self.last_T_kf_cam = np.eye(4)
        return self._add_keyframe(frame, tracked, kf.pose @ T_kf_cam, (kf, T_kf_cam, information))

    def check_relocalisation(
        self, kf: Keyframe, tracked: TrackedFrame, T_kf_cam: F64Array
    ) -> tuple[bool | None, str]:
        """Whether a relocalisation candidate ``T_kf_cam`` is verified: ``kf``'s depth and
        texture must support it (``odometry.Support``), and a second keyframe that the
        candidate says sees the frame must place it alike. True with which keyframe
        confirmed it, False with why not, None when no other keyframe is predicted to
        see the frame (the next frame must confirm it).

        Why a second view: place recognition picks look-alike places, and PnP over their
        matches can fit a pose the first keyframe's checks pass on (measured on real
        Kinect frames, docs/notes/issue-19-slamreal.md); an independent view seldom
        agrees with a wrong pose."""
        from mapping.slam.odometry import FeatureFit, support_of

        none = FeatureFit(None, np.zeros(0, int), np.zeros(0, int))
        config = self.odometry.config
        own = support_of(self._full(kf), tracked, self.cam, T_kf_cam, none, config)
        refusal = own.refusal(config)
        if refusal:
            return False, f"keyframe {kf.kf_id} does not support the candidate: {refusal}"
        pose = kf.pose @ T_kf_cam
        others = sorted(
            (k for k in self.keyframes if k is not kf),
            key=lambda k: float(np.linalg.norm(k.pose[:3, 3] - pose[:3, 3])),
        )[: self.config.reloc_second_keyframes]
        for other in others:
            full = self._full(other)
            predicted = np.linalg.inv(other.pose) @ pose
            overlap = support_of(full, tracked, self.cam, predicted, none, config).overlap
            if overlap < config.min_overlap:
                continue  # the candidate says this keyframe does not see the frame
            result = self.odometry.estimate(full, tracked, predicted, guided=False)
            if not result.ok:
                return False, (
                    f"keyframe {other.kf_id} should see {overlap:.0%} of the frame at the "
                    f"candidate pose, but does not support it ({result.reason})"
                )
            dt_m, dr_deg = _difference(result.T_ref_cur, predicted)
            if dt_m > self.config.reloc_agree_m or dr_deg > self.config.reloc_agree_deg:
                return False, (
                    f"keyframe {other.kf_id} places the frame {dt_m:.2f} m / {dr_deg:.1f} deg "
                    "from the candidate pose"
                )
            return True, f"confirmed by keyframe {other.kf_id} ({dt_m:.3f} m, {dr_deg:.2f} deg)"
        return None, "no second keyframe sees the frame"

    def _confirm_pending(self, frame: RgbdFrame, tracked: TrackedFrame) -> FrameState | None:
        """The frame after an unconfirmed relocalisation: tracked against that frame and
        relocalised against the same keyframe on its own, the two must agree; then both
        frames are placed (the earlier frame's state turns to relocalised). None: the
        candidate is dropped and this frame relocalises afresh."""
        assert self.reloc_pending is not None
        pend_frame, pend_tracked, kf, pend_result, pend_state = self.reloc_pending
        self.reloc_pending = None
        T_kf_pend = pend_result.T_ref_cur
        step = self.odometry.estimate(pend_tracked, tracked, None)
        direct = self._verify(kf, tracked, None)
        if not step.ok or direct is None or not direct.ok:
            why = step.reason if not step.ok else "no independent fit against the keyframe"
            self.reloc_rejected.append(f"frame {pend_frame.index}: next frame: {why}")
            return None
        dt_m, dr_deg = _difference(direct.T_ref_cur, T_kf_pend @ step.T_ref_cur)
        if dt_m > self.config.reloc_agree_m or dr_deg > self.config.reloc_agree_deg:
            self.reloc_rejected.append(
                f"frame {pend_frame.index}: the next frame disagrees by {dt_m:.2f} m / "
                f"{dr_deg:.1f} deg"
            )
            return None
        new_kf = self._relocalise(pend_frame, pend_tracked, kf, T_kf_pend, pend_result.information)
        pend_state.status = "relocalised"
        pend_state.pose = new_kf.pose
        pend_state.detail = f"against keyframe {kf.kf_id}, confirmed by the next frame"
        self.lost_count -= 1
        self.last_stamp_ns = pend_frame.stamp_ns
        return self._accept(frame, tracked, new_kf, step)

    def _new_segment(self, frame: RgbdFrame, tracked: TrackedFrame) -> FrameState:
        """Relocalisation has failed for ``relocalise_frames``: start a new segment, but
        only on a frame that the next one tracks against (a garbage frame, or one seen
        while the camera is still half covered, must not become its first keyframe).
        The segment starts at the last known position, turned by the gyro where there is
        one, weakly tied to the old segment; the first loop closure to an older segment
        moves it into place (:meth:`_join`)."""
        seed = self.segment_seed
        if seed is not None:
            seed_frame, seed_tracked, seed_gyro, seed_state = seed
            gyro = None
            if seed_gyro is not None and self.gyro_since_pose is not None:
                gyro = seed_gyro.T @ self.gyro_since_pose
            result = self.odometry.estimate(seed_tracked, tracked, None, gyro)
            if result.ok and result.feature_inliers >= self.config.keyframe_min_inliers:
                self.segment_seed = None
                self.lost_since = None
                self.velocity = np.eye(4)
                self.segment += 1
                self.segment_group.append(self.segment)
                last = self.keyframes[-1]
                pose = (self.last_pose if self.last_pose is not None else last.pose).copy()
                if seed_gyro is not None:  # the turn while lost, from the gyro
                    pose[:3, :3] = pose[:3, :3] @ seed_gyro
                weak = np.eye(6) * 1e-3
                T_last_new = np.linalg.inv(last.pose) @ pose
                kf = self._add_keyframe(
                    seed_frame, seed_tracked, pose, (last, T_last_new, weak), uncertain=True
                )
                seed_state.status = "new_segment"
                seed_state.pose = pose
                seed_state.detail = f"segment {self.segment}"
                self.last_stamp_ns = seed_frame.stamp_ns
                self.gyro_since_pose = gyro
                return self._accept(frame, tracked, kf, result)
        # this frame may start the segment, if the next one tracks against it
        state = FrameState(
            frame.index, frame.stamp_ns, None, "lost", "relocalisation failed: new segment next"
        )
        gyro_now = None if self.gyro_since_pose is None else self.gyro_since_pose.copy()
        self.segment_seed = (frame, tracked, gyro_now, state)
        self.lost_count += 1
        return state

    # -- loop closure ------------------------------------------------------------------
    def _place_candidates(
        self, thumb: npt.NDArray[np.float32], position: F64Array | None, exclude_recent: int
    ) -> list[Keyframe]:
        current_path = self.keyframes[-1].path_m if self.keyframes else 0.0
        pool = [
            k
            for k in self.keyframes[: len(self.keyframes) - exclude_recent]
            if current_path - k.path_m >= self.config.loop_min_path_m or exclude_recent == 0
        ]
        if not pool:
            return []
        n = self.config.loop_candidates
        thumbs = np.stack([k.thumbnail.ravel() for k in pool])
        score = thumbs @ thumb.ravel()
        chosen = [pool[i] for i in np.argsort(-score)[:n]]
        if position is not None:
            dist = np.array([np.linalg.norm(k.pose[:3, 3] - position) for k in pool])
            near = [pool[i] for i in np.argsort(dist)[:n] if dist[i] < self.config.loop_radius_m]
            chosen += [k for k in near if k not in chosen]
        return chosen

    def _detect_loop(self) -> None:
        kf = self.keyframes[-1]
        candidates = self._place_candidates(kf.thumbnail, kf.pose[:3, 3], exclude_recent=1)
        found = False
        for cand in candidates:
            joining = self._group(kf.segment) != self._group(cand.segment)
            guess = np.linalg.inv(cand.pose) @ kf.pose
            need = self.config.join_min_inliers if joining else self.config.loop_min_inliers
            result = self._verify(cand, kf.tracked, None if joining else guess, need)
            if result is None or not result.ok:
                continue
            correction = float(np.linalg.norm(result.T_ref_cur[:3, 3] - guess[:3, 3]))
            # odometry drifts by a fraction of the path: a bigger jump is perceptual
            # aliasing (no bound between unjoined segments: one's place is unknown)
            between = abs(kf.path_m - cand.path_m)
            limit = self.config.loop_max_drift * between + self.config.loop_slack_m
            if not joining and correction > limit:
                self.rejected_loops += 1
                continue
            self.edges.append((kf.kf_id, cand.kf_id, result.T_ref_cur, result.information, True))
            self.loops.append(
                LoopClosure(kf.kf_id, cand.kf_id, result.feature_inliers, result.rmse_m, correction)
            )
            if joining:
                self._join(kf, cand, result.T_ref_cur)
            found = True
            break
        if found and self.config.optimise_every_loop:
            self.optimise()

    def _group(self, segment: int) -> int:
        return self.segment_group[segment]

    def _join(self, kf: Keyframe, cand: Keyframe, T_cand_kf: F64Array) -> None:
        """A loop between two unjoined segments: move ``kf``'s whole group rigidly so the
        loop holds (the pose graph's robust kernel would otherwise take a loop metres
        off as an outlier), and merge the groups."""
        moved, kept = self._group(kf.segment), self._group(cand.segment)
        fix = cand.pose @ T_cand_kf @ np.linalg.inv(kf.pose)
        for other in self.keyframes:
            if self._group(other.segment) == moved:
                other.pose = fix @ other.pose
        if self.last_pose is not None and self._group(self.keyframes[-1].segment) == moved:
            self.last_pose = fix @ self.last_pose
        group = min(moved, kept)
        self.segment_group = [group if g in (moved, kept) else g for g in self.segment_group]
        # new lists, not changed in place: the background loop search works on a shallow
        # copy and hands back what it set anew (mapping.slam.backend)
        self.joins = [*self.joins, (kf.segment, cand.segment, len(self.loops) - 1)]

    def optimise(self, thorough: bool = False) -> None:
        """Pose-graph optimisation of the keyframes (Open3D, Levenberg-Marquardt). Keyframe
        0 is held fixed; with ``anchors`` a fixed world node is added instead, tied to
        each anchored keyframe by its measured absolute pose. ``thorough`` iterates to a
        relative change of 1e-9 instead of Open3D's 1e-6: measured on the simulator's
        drift, the default stops while the unanchored start of the route still moves by
        centimetres (a small share of the whole graph's residual)."""
        import open3d as o3d

        reg = o3d.pipelines.registration
        graph = reg.PoseGraph()
        for kf in self.keyframes:
            graph.nodes.append(reg.PoseGraphNode(kf.pose))
        world = len(self.keyframes)
        if self.anchors:
            graph.nodes.append(reg.PoseGraphNode(np.eye(4)))
        edges = [*self.edges, *((kf, world, T, info, False) for kf, T, info in self.anchors)]
        for source, target, T_target_source, info, uncertain in edges:
            info = np.asarray(info, dtype=np.float64)
            info = 0.5 * (info + info.T) + 1e-6 * np.eye(6)
            graph.edges.append(reg.PoseGraphEdge(source, target, T_target_source, info, uncertain))
        option = reg.GlobalOptimizationOption(
            max_correspondence_distance=0.1,
            edge_prune_threshold=0.25,
            reference_node=world if self.anchors else 0,
        )
        criteria = reg.GlobalOptimizationConvergenceCriteria()
        if thorough:
            criteria.min_relative_increment = 1e-9
            criteria.min_relative_residual_increment = 1e-9
            criteria.min_right_term = 1e-9
            criteria.min_residual = 1e-9
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            reg.global_optimization(
                graph,
                reg.GlobalOptimizationLevenbergMarquardt(),
                criteria,
                option,
            )
        for kf, node in zip(self.keyframes, graph.nodes, strict=False):
            kf.pose = np.asarray(node.pose, dtype=np.float64)
        if self.frames:
            _, poses = self.trajectory()
            self.last_pose = poses[-1]

    def _verify(
        self, kf: Keyframe, tracked: TrackedFrame, guess: F64Array | None, need: int = 0
    ) -> OdometryResult | None:
        """``tracked`` against keyframe ``kf`` (loop or relocalisation): None when the
        features give fewer than ``need`` (default ``loop_min_inliers``) PnP inliers,
        checked before the keyframe's ICP levels are rebuilt (most candidates stop there)."""
        need = need or self.config.loop_min_inliers
        fit = self.odometry.match_features(kf.tracked, tracked, None, min_inliers=need)
        if fit.inliers < need:
            return None
        return self.odometry.estimate(self._full(kf), tracked, guess, features=fit)

    def _full(self, kf: Keyframe) -> TrackedFrame:
        """The keyframe with its ICP levels (rebuilt from the kept depth if dropped)."""
        tracked, levels = kf.tracked, kf.tracked.levels  # (tracking may drop them meanwhile)
        if levels:
            return replace(tracked, levels=levels)
        s = self.config.map_scale
        depth = kf.depth_small_mm.astype(np.float32) / 1000.0
        depth[depth >= self.odometry.config.max_depth_m] = 0
        levels = {}
        for factor in {*self.odometry.config.icp_levels, self.odometry.config.support_level}:
            small = downsample_depth(depth, max(1, factor // s))
            points = backproject(small, self.cam.scaled(factor))
            levels[factor] = (points, normals_of(points))
        return replace(kf.tracked, levels=levels)

    def _update_gyro_bias(self) -> None:
        """Running mean of the gyro's bias: the rotation the gyro (bias-corrected so far)
        reports since the last posed frame against the one tracking found. The visual
        rotation is itself pulled toward the gyro prior, so each frame sees only part of
        the remaining bias; the running mean still settles on the bias, as the part it
        sees vanishes only there."""
        n = self.config.gyro_bias_frames
        if n <= 0 or self.gyro_since_pose is None or self.velocity_dt_ns <= 0:
            return
        dt_s = self.velocity_dt_ns * 1e-9
        # gyro = truth · exp(b dt): the visual rotation's offset from it is -b dt
        error = -matrix_to_rotvec(self.gyro_since_pose.T @ self.velocity[:3, :3]) / dt_s
        if float(np.linalg.norm(error)) > self.config.gyro_bias_max_rad_s:
            return
        self.gyro_bias_updates += 1
        self.gyro_bias = self.gyro_bias + error / min(self.gyro_bias_updates, n)

    def _predicted_motion(self, stamp_ns: int) -> F64Array:
        """Constant velocity over the time since the last posed frame: after skipped or
        dropped frames the camera has moved several frames' worth (measured on the
        drift: a 1.6 s blackout predicted as one frame let ICP slide 1.2 m along the
        tunnel)."""
        if self.last_stamp_ns is None or self.velocity_dt_ns <= 0:
            return self.velocity
        ratio = min((stamp_ns - self.last_stamp_ns) / self.velocity_dt_ns, 20.0)
        if abs(ratio - 1.0) < 0.25:
            return self.velocity
        return make_transform(
            rotvec_to_matrix(ratio * matrix_to_rotvec(self.velocity[:3, :3])),
            ratio * self.velocity[:3, 3],
        )

    def _record(self, state: FrameState) -> FrameState:
        self.states.append(state)
        if state.pose is not None:
            self.gyro_since_pose = np.eye(3)
            self.last_stamp_ns = state.stamp_ns
        return state

    def stats(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for s in self.states:
            counts[s.status] = counts.get(s.status, 0) + 1
        return {
            "frames": len(self.states),
            "status_counts": counts,
            "keyframes": len(self.keyframes),
            "segments": self.segment + 1,
            "segments_joined": [
                {"segment": a, "to_segment": b, "loop": i} for a, b, i in self.joins
            ],
            "loop_closures": [vars(lc) for lc in self.loops],
            "loop_candidates_rejected": self.rejected_loops,
            "odometry_refused": self.odometry_refused,
            "relocalisations_rejected": list(self.reloc_rejected),
            "gyro_bias_rad_s": self.gyro_bias.tolist(),
            **(self.backend.stats() if self.backend is not None else self.backend_stats),
        }


def _difference(a: F64Array, b: F64Array) -> tuple[float, float]:
    """Translation (m) and rotation (deg) between two poses."""
    d = np.linalg.inv(a) @ b
    return float(np.linalg.norm(d[:3, 3])), math.degrees(float(rotation_angle(d[:3, :3])))
