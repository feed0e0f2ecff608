"""Calibration accuracy and speed: OpenCV's sample set and synthetic boards of known truth.

- OpenCV sample (``../shared/data/calib_opencv_chessboard_stereo``, when present):
  RMS and fx against left_intrinsics.yml, with the sample's settings (cornerSubPix
  11x11, fixed aspect ratio) and with ours (window from the corner spacing); stereo
  baseline against stereo_calib's result; time per image for detection.
- Synthetic: views rendered through a known camera (checkerboard, ChArUco, fisheye) at
  several image-noise levels; errors of fx, cx, cy and of the distortion.

    python benchmarks/calibration_bench.py [--views 12] [--noise 0.5 1 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from calibration.boards import parse_board
from calibration.camera_model import CameraModel
from calibration.intrinsics import calibrate_camera, calibrate_frames, detect_views
from calibration.io import read_opencv_yaml
from calibration.sources import Frame, iter_frames
from calibration.stereo import calibrate_stereo, detect_pairs
from calibration.synthetic import default_poses, render_board

REPO = Path(__file__).resolve().parents[1]
DATA = (
    Path(os.environ.get("SMARTMINE_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "calib_opencv_chessboard_stereo"
)
REF_RMS_PX = 0.39259
REF_BASELINE_M = 3.3431 * 0.025  # stereo_calib's |T| in squares x square size


def opencv_sample() -> None:
    if not DATA.exists():
        print(f"OpenCV sample set not present ({DATA}); skipped")
        return
    ref, _ = read_opencv_yaml(DATA / "left_intrinsics.yml")
    board = parse_board("checkerboard:9x6:0.025")
    print("OpenCV sample, left camera (reference RMS 0.3926 px, fx 535.92)")
    for label, kwargs in (
        (
            "sample settings",
            {"subpix_window": 11, "fix_aspect_ratio": True, "reject_outliers": False},
        ),
        ("smartmine default", {}),
    ):
        t0 = time.perf_counter()
        res = calibrate_frames(iter_frames(f"{DATA}/left*.jpg"), board, "left", **kwargs)  # type: ignore[arg-type]
        dt = time.perf_counter() - t0
        print(
            f"  {label:18s} RMS {res.rms_px:.4f} px "
            f"({100 * (res.rms_px / REF_RMS_PX - 1):+.1f} %)  "
            f"fx {res.camera.fx:.2f} ({100 * (res.camera.fx / ref.fx - 1):+.2f} %)  "
            f"cx {res.camera.cx - ref.cx:+.2f} px  cy {res.camera.cy - ref.cy:+.2f} px  "
            f"{1000 * dt / 13:.0f} ms/image"
        )
    da, db, pairs = detect_pairs(
        iter_frames(f"{DATA}/left*.jpg"), iter_frames(f"{DATA}/right*.jpg"), board, ("l", "r")
    )
    st = calibrate_stereo(pairs, board, first_views=da.views, second_views=db.views)
    print(
        f"  stereo baseline {st.baseline_m:.5f} m (stereo_calib {REF_BASELINE_M:.5f} m, "
        f"{100 * (st.baseline_m / REF_BASELINE_M - 1):+.2f} %), "
        f"rotation {st.rotation_deg:.3f} deg, "
        f"RMS {st.rms_px:.3f} px, rectified row error {st.epipolar_rms_px:.3f} px"
    )


def synthetic(views: int, noises: list[float]) -> None:
    k = np.array([[520.0, 0.0, 323.4], [0.0, 518.0, 236.7], [0.0, 0.0, 1.0]])
    cases = [
        (
            "checkerboard",
            "checkerboard:9x6:0.03",
            "plumb_bob",
            [-0.28, 0.09, 0.0008, -0.0005, -0.012],
        ),
        (
            "charuco",
            "charuco:8x6:0.04:0.03:DICT_5X5_100",
            "plumb_bob",
            [-0.28, 0.09, 0.0008, -0.0005, -0.012],
        ),
        ("fisheye", "checkerboard:9x6:0.03", "equidistant", [0.05, -0.02, 0.01, -0.003]),
    ]
    print(f"Synthetic, {views} views, 640x480 (errors: estimate - truth)")
    for name, spec, model, d in cases:
        truth = CameraModel.create(640, 480, k, d, model)
        board = parse_board(spec)
        for noise in noises:
            rng = np.random.default_rng(0)
            frames = [
                Frame(f"{i}", render_board(truth, board, r, t, noise_std=noise, rng=rng))
                for i, (r, t) in enumerate(default_poses(truth, board, views))
            ]
            found = detect_views(frames, board, name)
            t0 = time.perf_counter()
            res = calibrate_camera(
                found.views, board, model="fisheye" if model == "equidistant" else "pinhole"
            )
            dt = time.perf_counter() - t0
            cam = res.camera
            gy, gx = np.mgrid[40:440:20, 40:600:20]
            pix = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float64)
            same_k = CameraModel.create(640, 480, truth.k, cam.d, cam.distortion_model)
            dist_err = np.nanmax(np.linalg.norm(same_k.project(truth.unproject(pix)) - pix, axis=1))
            print(
                f"  {name:12s} noise {noise:3.1f}  RMS {res.rms_px:.3f} px  "
                f"fx {100 * (cam.fx / truth.fx - 1):+.3f} %  cx {cam.cx - truth.cx:+.2f}  "
                f"cy {cam.cy - truth.cy:+.2f} px  distortion <= {dist_err:.3f} px  "
                f"calibration {1000 * dt:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    args = parser.parse_args()
    opencv_sample()
    synthetic(args.views, args.noise)


if __name__ == "__main__":
    main()
