"""SIFT and ORB keypoints per frame on the simulated drift, beside the real Kinect frames.

Renders ``--frames`` colour frames evenly along the drift's built-in robot path (640x480
by default) and counts OpenCV SIFT and ORB (nfeatures 5000, so the count is not capped
at ORB's default 500) keypoints on each grey image; prints median and range, and the same
for the five real Kinect frames of ``../shared/data/rgbd_kinect_slambook_joinmap/`` when
present. ``--set drift.grain_contrast=0`` style overrides compare variants.

    python benchmarks/drift_keypoints.py [--frames 12] [--set section.key=value ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path as FsPath
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.config import SimConfig, apply_overrides, default_config
from simulator.render import Renderer
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.writer import build_scene

REAL_FRAMES = FsPath(__file__).resolve().parents[1] / "../shared/data/rgbd_kinect_slambook_joinmap"


def count_keypoints(grey: npt.NDArray[np.uint8]) -> tuple[int, int]:
    """SIFT and ORB keypoint counts of one grey image."""
    import cv2

    sift = cv2.SIFT_create()
    orb = cv2.ORB_create(nfeatures=5000)
    return len(sift.detect(grey, None)), len(orb.detect(grey, None))


def drift_frames(config: SimConfig, frames: int) -> list[npt.NDArray[np.uint8]]:
    """Grey 8-bit images at ``frames`` poses evenly along the drift's robot path."""
    import cv2

    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    times = (np.arange(frames) + 0.5) * traj.duration_s / frames
    cams = traj.matrices(times) @ rig.base_from_optical
    out = []
    for i, m in enumerate(cams):
        rgb = renderer.render(m, i).rgb
        out.append(np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), np.uint8))
    return out


def summary(counts: list[tuple[int, int]]) -> dict[str, Any]:
    sift = np.array([c[0] for c in counts])
    orb = np.array([c[1] for c in counts])
    return {
        "frames": len(counts),
        "sift_median": float(np.median(sift)),
        "sift_range": [int(sift.min()), int(sift.max())],
        "orb_median": float(np.median(orb)),
        "orb_range": [int(orb.min()), int(orb.max())],
        "per_frame": [list(c) for c in counts],
    }


def real_counts() -> list[tuple[int, int]]:
    import cv2

    files = sorted((REAL_FRAMES / "color").glob("*.png"))
    return [count_keypoints(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)) for f in files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    overrides: dict[str, dict[str, Any]] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        overrides.setdefault(section, {})[name] = json.loads(value)
    config = apply_overrides(default_config("drift"), overrides)
    sim = summary([count_keypoints(g) for g in drift_frames(config, args.frames)])
    print("simulated drift:", json.dumps({k: v for k, v in sim.items()}))
    if (REAL_FRAMES / "color").is_dir():
        real = summary(real_counts())
        print("real Kinect:    ", json.dumps(real))


if __name__ == "__main__":
    main()
