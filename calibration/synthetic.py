"""Board images rendered through a known camera, for tests, benchmarks and the simulator.

Rendering runs backwards, per output pixel: pixel -> ray (the model's exact inverse
distortion) -> intersection with the board plane -> board texture, averaged over a
grid of sub-pixel samples so edges are antialiased the way a real sensor integrates
light. Corners detected in these images must land on the model's projection of the
board corners to a few hundredths of a pixel, which is what lets tests check a
calibration against the truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from calibration.boards import Board
from calibration.camera_model import CameraModel
from smartmine.geometry import rot_x, rot_y, rot_z

F64 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint8]

DARK: Final = 30.0
LIGHT: Final = 220.0

_Rays = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]
_RAYS: dict[tuple[bytes, int], _Rays] = {}
_TEXTURES: dict[tuple[str, int], U8] = {}


def rotation(rx_deg: float = 0.0, ry_deg: float = 0.0, rz_deg: float = 0.0) -> F64:
    """Rotation Rx @ Ry @ Rz from angles in degrees."""
    ax, ay, az = (math.radians(a) for a in (rx_deg, ry_deg, rz_deg))
    return rot_x(ax) @ rot_y(ay) @ rot_z(az)


def board_pose(
    camera: CameraModel,
    board: Board,
    *,
    distance_m: float,
    centre_px: tuple[float, float] | None = None,
    tilt_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[F64, F64]:
    """``(R, t)`` board -> camera placing the board centre on pixel ``centre_px``.

    With no tilt the board faces the camera squarely, printed side visible.
    """
    r = rotation(*tilt_deg)
    w, h = board.size_m
    origin = board.render_origin_m()
    centre_board = np.array([origin + w / 2, origin + h / 2, 0.0])
    px = centre_px if centre_px is not None else ((camera.width - 1) / 2, (camera.height - 1) / 2)
    ray = camera.unproject(np.array([px]))[0]
    t = ray / ray[2] * distance_m - r @ centre_board
    return r, t


def _rays(camera: CameraModel, supersample: int) -> _Rays:
    """Ray components at every sub-pixel sample (cached per camera).

    Exact rays are computed on the pixel grid (one pixel of padding) and interpolated
    bilinearly to the sub-pixel samples: distortion varies so slowly over a pixel that
    this is exact to well under 1e-3 px, and it is nine times cheaper.
    """
    k = camera.intrinsics
    key = (
        np.concatenate([k.k.ravel(), k.d.ravel(), [k.width, k.height]]).tobytes()
        + k.distortion_model.encode(),
        supersample,
    )
    if key not in _RAYS:
        w, h, s = camera.width, camera.height, supersample
        gy, gx = np.mgrid[-1 : h + 1, -1 : w + 1]
        grid = camera.unproject(np.column_stack([gx.ravel(), gy.ravel()]))
        offsets = (np.arange(s) + 0.5) / s - 0.5
        comps = []
        for c in range(3):
            field_ = grid[:, c].reshape(h + 2, w + 2)
            cols = np.empty((h + 2, w, s))
            for j, o in enumerate(offsets):
                lo = 1 + int(np.floor(o))
                f = o - np.floor(o)
                cols[:, :, j] = (1 - f) * field_[:, lo : lo + w] + f * field_[
                    :, lo + 1 : lo + 1 + w
                ]
            rows = np.empty((h, s, w, s))
            for i, o in enumerate(offsets):
                lo = 1 + int(np.floor(o))
                f = o - np.floor(o)
                rows[:, i] = (1 - f) * cols[lo : lo + h] + f * cols[lo + 1 : lo + 1 + h]
            comps.append(rows.reshape(h * s, w * s).astype(np.float32))
        if len(_RAYS) > 8:
            _RAYS.clear()
        _RAYS[key] = (comps[0], comps[1], comps[2])
    return _RAYS[key]


def _texture(board: Board, pixels_per_square: int) -> U8:
    key = (board.spec, pixels_per_square)
    if key not in _TEXTURES:
        _TEXTURES[key] = board.render(pixels_per_square)
    return _TEXTURES[key]


def render_board(
    camera: CameraModel,
    board: Board,
    r: F64,
    t: F64,
    *,
    supersample: int = 3,
    pixels_per_square: int = 48,
    background: float = 110.0,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
) -> U8:
    """An 8-bit grey image of the board at pose ``(r, t)`` (board -> camera)."""
    import cv2

    rx, ry, rz = _rays(camera, supersample)
    n = r[:, 2]
    denom = n[0] * rx + n[1] * ry + n[2] * rz
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = float(n @ t) / denom
    # board coordinates of the hit point: R^T (s * ray - t)
    px = scale * rx - t[0]
    py = scale * ry - t[1]
    pz = scale * rz - t[2]
    bx = r[0, 0] * px + r[1, 0] * py + r[2, 0] * pz
    by = r[0, 1] * px + r[1, 1] * py + r[2, 1] * pz
    texture = _texture(board, pixels_per_square)
    margin = int(pixels_per_square)  # board.render's default one-square margin
    per_m = pixels_per_square / board.square_m
    origin = board.render_origin_m()
    map_x = ((bx - origin) * per_m + margin - 0.5).astype(np.float32)
    map_y = ((by - origin) * per_m + margin - 0.5).astype(np.float32)
    behind = ~(scale > 0)
    map_x[behind] = -1e6
    map_y[behind] = -1e6
    tex = (DARK + texture.astype(np.float32) * ((LIGHT - DARK) / 255.0)).astype(np.float32)
    sampled = cv2.remap(
        tex, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=background
    )
    s = supersample
    img = sampled.reshape(camera.height, s, camera.width, s).mean(axis=(1, 3))
    if noise_std > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        img = img + gen.normal(0.0, noise_std, img.shape)
    return np.asarray(np.clip(np.rint(img), 0, 255), dtype=np.uint8)


def project_board(camera: CameraModel, board: Board, r: F64, t: F64) -> F64:
    """True pixel positions of all board corners at pose ``(r, t)``."""
    pts = board.object_points() @ r.T + t
    return camera.project(pts)


def default_poses(
    camera: CameraModel, board: Board, count: int = 12, distance_m: float | None = None
) -> list[tuple[F64, F64]]:
    """Poses covering the frame with tilts of 20-40 degrees, as a careful operator would.

    The board is placed at the centre, the four corners and edge midpoints of the frame,
    tilted towards alternating sides so focal length and distortion are well constrained.
    """
    w = board.size_m[0]
    if distance_m is None:  # the board spans about 55 % of the frame width
        distance_m = camera.fx * w / (0.55 * camera.width)
    spots = [
        (0.5, 0.5),
        (0.28, 0.3),
        (0.72, 0.3),
        (0.28, 0.7),
        (0.72, 0.7),
        (0.5, 0.28),
        (0.5, 0.72),
        (0.3, 0.5),
        (0.7, 0.5),
        (0.4, 0.4),
        (0.6, 0.6),
        (0.5, 0.5),
    ]
    tilts: Sequence[tuple[float, float, float]] = [
        (0, 0, 0),
        (25, -20, 5),
        (25, 20, -5),
        (-25, -20, -5),
        (-25, 20, 5),
        (35, 0, 10),
        (-35, 0, -10),
        (0, -35, 0),
        (0, 35, 0),
        (15, 15, 30),
        (-15, -15, -30),
        (40, 10, 0),
    ]
    poses = []
    for i in range(count):
        fx_, fy_ = spots[i % len(spots)]
        tilt = tilts[i % len(tilts)]
        d = distance_m * (1.0 + 0.15 * ((i // len(spots)) % 3))
        poses.append(
            board_pose(
                camera,
                board,
                distance_m=d,
                centre_px=(fx_ * (camera.width - 1), fy_ * (camera.height - 1)),
                tilt_deg=tilt,
            )
        )
    return poses
