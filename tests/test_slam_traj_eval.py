"""``smartmine traj eval`` against evo's and TUM's published figures on real trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mapping.slam.errors import TrajectoryError
from mapping.slam.evaluation import evaluate, parse_delta
from mapping.slam.trajectory import Trajectory, read_trajectory, write_tum
from smartmine.cli import main
from tests.conftest import shared

EVO = "trajectories_tum_euroc_evo"
TOL_M = 1e-4  # the bar: within 0.1 mm of the reference figures


@pytest.mark.parametrize(
    ("est", "ref", "align", "rmse_m"),
    [
        ("freiburg1_xyz-rgbdslam.txt", "freiburg1_xyz-groundtruth.txt", "se3", 0.013470),
        ("V102.txt", "V102_groundtruth.csv", "se3", 0.091727),
        ("freiburg1_xyz-ORB_kf_mono.txt", "freiburg1_xyz-groundtruth.txt", "sim3", 0.009755),
        ("fr2_desk_ORB_kf_mono.txt", "fr2_desk_groundtruth.txt", "sim3", 0.007729),
        ("fr2_desk_ORB.txt", "fr2_desk_groundtruth.txt", "se3", 0.008119),
    ],
)
def test_ate_matches_evo(est: str, ref: str, align: str, rmse_m: float) -> None:
    result = evaluate(
        read_trajectory(shared(EVO, est)),
        read_trajectory(shared(EVO, ref)),
        alignment=align,  # type: ignore[arg-type]
    )
    assert abs(result.ate_m.rmse - rmse_m) < TOL_M


def test_tum_evaluate_ate_figures_reproduced() -> None:
    """TUM's evaluate_ate.py: 2,223 pairs, RMSE 0.008144, mean 0.007514, max 0.024329."""
    result = evaluate(
        read_trajectory(shared(EVO, "fr2_desk_ORB.txt")),
        read_trajectory(shared(EVO, "fr2_desk_groundtruth.txt")),
        association="unique",
        max_diff_s=0.02,
    )
    assert result.pairs == 2223
    assert abs(result.ate_m.rmse - 0.008144) < TOL_M
    assert abs(result.ate_m.mean - 0.007514) < TOL_M
    assert abs(result.ate_m.max - 0.024329) < TOL_M


def test_cli_prints_writes_json_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    est = shared(EVO, "freiburg1_xyz-rgbdslam.txt")
    ref = shared(EVO, "freiburg1_xyz-groundtruth.txt")
    code = main(
        [
            "traj",
            "eval",
            str(est),
            str(ref),
            "--plot",
            str(tmp_path / "p.png"),
            "--json",
            str(tmp_path / "s.json"),
            "--rpe-delta",
            "10f",
        ]
    )
    assert code == 0
    assert "ATE  rmse 0.013470 m" in capsys.readouterr().out
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["rpe_trans_m"]["count"] > 50
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_tum_and_kitti_round_trip_and_known_error(tmp_path: Path) -> None:
    """A known perturbation gives the known ATE and RPE; files read back equal."""
    rng = np.random.default_rng(1)
    n = 200
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, 0, 3] = np.linspace(0, 20, n)
    poses[:, 1, 3] = 3.0 * np.sin(np.linspace(0, 3, n))  # a curve: a line leaves a rotation free
    angle = np.linspace(0, 1.0, n)
    poses[:, 0, 0] = poses[:, 1, 1] = np.cos(angle)
    poses[:, 0, 1], poses[:, 1, 0] = -np.sin(angle), np.sin(angle)
    ref = Trajectory(np.arange(n) * 0.1, poses, "ref")
    est_poses = poses.copy()
    est_poses[:, 2, 3] += 0.05  # constant offset: removed by se3, kept by none
    est_poses[:, 1, 3] += rng.normal(0, 1e-9, n)
    est = Trajectory(ref.stamps_s + 0.003, est_poses, "est")
    write_tum(tmp_path / "est.txt", est)
    back = read_trajectory(tmp_path / "est.txt")
    assert np.allclose(back.poses, est.poses, atol=1e-6)
    kitti = tmp_path / "ref.kitti"
    kitti.write_text("\n".join(" ".join(f"{v:.9f}" for v in p[:3].ravel()) for p in poses))
    assert np.allclose(read_trajectory(kitti).poses, poses, atol=1e-8)
    assert evaluate(back, ref, alignment="se3").ate_m.rmse < 1e-5
    none = evaluate(back, ref, alignment="none")
    assert abs(none.ate_m.rmse - 0.05) < 1e-5
    assert none.rpe_trans_m.rmse < 1e-5 and none.rpe_trans_m.count > 10
    with pytest.raises(TrajectoryError, match="no stamps"):
        evaluate(back, ref, max_diff_s=0.001)


def test_bad_input_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2 3 4 5\n")
    assert main(["traj", "eval", str(bad), str(bad)]) == 2
    assert "bad.txt" in capsys.readouterr().err
    with pytest.raises(TrajectoryError):
        parse_delta("1km")


def test_straight_trajectory_is_aligned_by_its_poses() -> None:
    """A straight drift gives collinear positions: the roll about the line is pinned by
    the poses' axes, so a rotated copy aligns exactly."""
    n = 50
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, :3, 3] = np.outer(np.linspace(0, 30, n), [0.8, 0.6, 0.0])
    ref = Trajectory(np.arange(n) * 0.2, poses, "ref")
    moved = np.eye(4)
    moved[:3, :3] = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    moved[:3, 3] = [5, -2, 1]
    est = Trajectory(ref.stamps_s, moved @ poses, "est")
    result = evaluate(est, ref)
    assert result.ate_m.rmse < 1e-9
