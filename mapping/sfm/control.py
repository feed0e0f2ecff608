"""Bundle adjustment with ground control: GCPs as weighted constraints, not a fit afterwards.

pycolmap 4.2.1's bundle adjuster takes a 3D point either free or constant, with no weighted
position prior, so this is a small adjustment of its own (scipy ``least_squares``, sparse
Jacobian, robust Huber loss on whitened residuals). Unknowns: every registered camera's
pose and every tie point, plus one 3D point per control GCP. Residuals, each divided by
its standard deviation:

- tie points: reprojection error (``tie_std_px`` working pixels);
- GCPs: reprojection error of the marked pixels (``pixel_std_px``) and a position prior
  tying the point to its surveyed coordinates, horizontal and vertical separately
  (``std_h_m``, ``std_v_m``); a GCP without a usable height gets no vertical prior;
- with GPS: each camera centre against its GPS position (``gps_std_m``).

Intrinsics stay as the mapper left them (GCPs at one level cannot fix the focal length).
Observations are compared in normalised camera coordinates (the camera's own undistortion,
done once), scaled back to pixels by the focal length: exact for any COLMAP camera model.
The Huber loss makes one wrong GCP or a bad tie point pull with a bounded force, so its
residual stays large and it can be named and left out (mapping.sfm.georef does that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from smartmine.geometry import rotvec_to_matrix

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass
class ControlPoint:
    """One GCP as the adjustment sees it (local frame = CRS minus origin)."""

    name: str
    surveyed_m: F64
    std_h_m: float
    std_v_m: float
    """Vertical 1-sigma; ``inf`` for a GCP that constrains only horizontally."""
    pixels: dict[str, tuple[float, float]]
    """Marked pixel per image name, in working-image pixels (COLMAP convention)."""
    initial_m: F64 | None = None
    """Start of the point: where the images put it (triangulated); the survey otherwise.
    Starting at the survey would put a GCP of another height datum behind the cameras."""


@dataclass
class AdjustOptions:
    tie_std_px: float = 1.0
    pixel_std_px: float = 1.0
    gps_std_m: float = 5.0
    huber_sigmas: float = 3.0
    max_tie_points: int = 6000
    """Tie points with the longest tracks are adjusted; the rest are re-triangulated."""
    max_iterations: int = 30


@dataclass
class AdjustResult:
    tie_points: int
    gcp_observations: int
    iterations: int
    cost_before: float
    cost_after: float
    gcp_points_m: dict[str, list[float]] = field(default_factory=dict)
    """The adjusted GCP points (pulled between pixels and survey)."""


@dataclass
class _Problem:
    image_ids: list[int]
    rot0: F64  # (C, 3, 3) initial cam_from_world rotations
    t0: F64  # (C, 3)
    focal: F64  # (C,) working pixels
    points0: F64  # (P, 3) tie points then GCP points
    obs_cam: I64
    obs_pt: I64
    obs_xy: F64  # (O, 2) normalised coordinates
    obs_w: F64  # (O,) focal / std (whitening of the normalised residual)
    prior_pt: I64  # (Q,) point index of each prior row
    prior_axis: I64  # (Q,) 0, 1, 2
    prior_value: F64
    prior_w: F64
    gps_cam: I64
    gps_xyz: F64
    gps_w: float
    tie_ids: list[int]
    gcp_names: list[str]


def _rotate(rotvec: F64, vectors: F64) -> F64:
    """Each vector rotated by its rotation vector (both (N, 3))."""
    rotated: F64 = np.einsum("nij,nj->ni", rotvec_to_matrix(rotvec), vectors)
    return rotated


def _build(
    rec: Any,
    control: list[ControlPoint],
    gps_m: dict[str, F64],
    options: AdjustOptions,
) -> _Problem:
    images = [img for img in rec.images.values() if img.has_pose]
    index = {img.image_id: k for k, img in enumerate(images)}
    by_name = {img.name: k for k, img in enumerate(images)}
    rot0 = np.array([img.cam_from_world().rotation.matrix() for img in images])
    t0 = np.array([np.asarray(img.cam_from_world().translation) for img in images])
    focal = np.array([float(img.camera.mean_focal_length()) for img in images])
    ranked = sorted(rec.points3D.items(), key=lambda kv: -kv[1].track.length())
    tie = ranked[: options.max_tie_points]
    cams: list[int] = []
    pts: list[int] = []
    pix: list[F64] = []
    stds: list[float] = []
    points0 = [np.asarray(p.xyz, dtype=float) for _, p in tie]
    for k, (_, point) in enumerate(tie):
        for el in point.track.elements:
            if el.image_id in index:
                cams.append(index[el.image_id])
                pts.append(k)
                pix.append(np.asarray(rec.images[el.image_id].points2D[el.point2D_idx].xy))
                stds.append(options.tie_std_px)
    prior_pt, prior_axis, prior_value, prior_w = [], [], [], []
    for gcp in control:
        k = len(points0)
        start = gcp.surveyed_m if gcp.initial_m is None else gcp.initial_m
        points0.append(np.asarray(start, dtype=float))
        for name, xy in gcp.pixels.items():
            if name in by_name:
                cams.append(by_name[name])
                pts.append(k)
                pix.append(np.asarray(xy, dtype=float))
                stds.append(options.pixel_std_px)
        for axis, std in ((0, gcp.std_h_m), (1, gcp.std_h_m), (2, gcp.std_v_m)):
            if np.isfinite(std) and np.isfinite(gcp.surveyed_m[axis]):
                prior_pt.append(k)
                prior_axis.append(axis)
                prior_value.append(float(gcp.surveyed_m[axis]))
                prior_w.append(1.0 / std)
    obs_cam = np.asarray(cams, dtype=np.int64)
    obs_xy = np.zeros((len(cams), 2))
    for c, img in enumerate(images):  # undistort each camera's observations at once
        rows = np.flatnonzero(obs_cam == c)
        if len(rows):
            obs_xy[rows] = img.camera.cam_from_img(np.array([pix[r] for r in rows]))
    gps_cam = [by_name[n] for n in gps_m if n in by_name]
    gps_xyz = np.array([gps_m[images[c].name] for c in gps_cam]).reshape(-1, 3)
    return _Problem(
        image_ids=[img.image_id for img in images],
        rot0=rot0,
        t0=t0,
        focal=focal,
        points0=np.array(points0).reshape(-1, 3),
        obs_cam=obs_cam,
        obs_pt=np.asarray(pts, dtype=np.int64),
        obs_xy=obs_xy,
        obs_w=focal[obs_cam] / np.asarray(stds),
        prior_pt=np.asarray(prior_pt, dtype=np.int64),
        prior_axis=np.asarray(prior_axis, dtype=np.int64),
        prior_value=np.asarray(prior_value, dtype=float),
        prior_w=np.asarray(prior_w, dtype=float),
        gps_cam=np.asarray(gps_cam, dtype=np.int64),
        gps_xyz=gps_xyz,
        gps_w=1.0 / options.gps_std_m,
        tie_ids=[pid for pid, _ in tie],
        gcp_names=[g.name for g in control],
    )


def _unpack(prob: _Problem, x: F64) -> tuple[F64, F64, F64]:
    n_cam = len(prob.image_ids)
    cam = x[: 6 * n_cam].reshape(n_cam, 6)
    return cam[:, :3], prob.t0 + cam[:, 3:], x[6 * n_cam :].reshape(-1, 3)


def _residuals(x: F64, prob: _Problem) -> F64:
    dr, t, pts = _unpack(prob, x)
    c, p = prob.obs_cam, prob.obs_pt
    in_cam = _rotate(dr[c], np.einsum("nij,nj->ni", prob.rot0[c], pts[p])) + t[c]
    z = in_cam[:, 2:3]
    z = np.where(np.abs(z) < 1e-9, 1e-9, z)
    reproj = (in_cam[:, :2] / z - prob.obs_xy) * prob.obs_w[:, None]
    prior = (pts[prob.prior_pt, prob.prior_axis] - prob.prior_value) * prob.prior_w
    parts = [reproj.ravel(), prior]
    if len(prob.gps_cam):
        g = prob.gps_cam
        # centre = -R^T t with R = exp(dr) R0
        rt = _rotate(-dr[g], t[g])
        centre = -np.einsum("nji,nj->ni", prob.rot0[g], rt)
        parts.append(((centre - prob.gps_xyz) * prob.gps_w).ravel())
    return np.concatenate(parts)


def _sparsity(prob: _Problem) -> Any:
    from scipy.sparse import coo_matrix

    n_cam, n_pt = len(prob.image_ids), len(prob.points0)
    rows: list[I64] = []
    cols: list[I64] = []
    n_obs = len(prob.obs_cam)
    for axis in range(2):
        r = 2 * np.arange(n_obs) + axis
        for j in range(6):
            rows.append(r)
            cols.append(6 * prob.obs_cam + j)
        for j in range(3):
            rows.append(r)
            cols.append(6 * n_cam + 3 * prob.obs_pt + j)
    base = 2 * n_obs
    rows.append(base + np.arange(len(prob.prior_pt)))
    cols.append(6 * n_cam + 3 * prob.prior_pt + prob.prior_axis)
    base += len(prob.prior_pt)
    for k, cam in enumerate(prob.gps_cam):
        for axis in range(3):
            rows.append(np.full(6, base + 3 * k + axis))
            cols.append(6 * cam + np.arange(6))
    r_all, c_all = np.concatenate(rows), np.concatenate(cols)
    n_rows = base + 3 * len(prob.gps_cam)
    return coo_matrix(
        (np.ones(len(r_all)), (r_all, c_all)), shape=(n_rows, 6 * n_cam + 3 * n_pt)
    ).tocsr()


def _write_back(rec: Any, prob: _Problem, x: F64) -> None:
    import pycolmap

    dr, t, pts = _unpack(prob, x)
    for k, image_id in enumerate(prob.image_ids):
        image = rec.images[image_id]
        rot = rotvec_to_matrix(dr[k]) @ prob.rot0[k]
        pose = pycolmap.Rigid3d(np.hstack([rot, t[k][:, None]]))
        rec.frame(image.frame_id).set_cam_from_world(image.camera_id, pose)
    for k, pid in enumerate(prob.tie_ids):
        rec.points3D[pid].xyz = pts[k]


def _huber(f: F64, k: float) -> tuple[float, F64]:
    """Huber cost of whitened residuals and the square roots of their IRLS weights."""
    a = np.abs(f)
    cost = float(np.sum(np.where(a <= k, 0.5 * f**2, k * a - 0.5 * k**2)))
    return cost, np.sqrt(np.where(a <= k, 1.0, k / np.maximum(a, 1e-300)))


def _schur_step(a: Any, g: F64, damping: float, n_cam: int) -> F64:
    """Solve (A + damping diag A) dx = -g by eliminating the points (3 x 3 blocks of A)
    first: the reduced camera system is small and dense, the rest block diagonal."""
    from scipy.sparse import bsr_matrix, diags

    a = (a + diags(damping * a.diagonal() + 1e-12)).tocsr()
    n_pt = (a.shape[0] - n_cam) // 3
    u = a[:n_cam, :n_cam].toarray()
    w = a[:n_cam, n_cam:]
    base = n_cam + 3 * np.repeat(np.arange(n_pt), 9)
    rows = base + np.tile(np.repeat(np.arange(3), 3), n_pt)
    cols = base + np.tile(np.tile(np.arange(3), 3), n_pt)
    blocks = np.asarray(a[rows, cols]).reshape(n_pt, 3, 3)
    inv = np.linalg.inv(blocks)
    v_inv = bsr_matrix((inv, np.arange(n_pt), np.arange(n_pt + 1)), shape=(3 * n_pt, 3 * n_pt))
    g_cam, g_pt = g[:n_cam], g[n_cam:]
    wv = w @ v_inv
    schur = u - (wv @ w.T).toarray()
    rhs = -g_cam + wv @ g_pt
    try:
        d_cam = np.linalg.solve(schur, rhs)
    except np.linalg.LinAlgError:
        d_cam = np.linalg.lstsq(schur, rhs, rcond=None)[0]
    d_pt = v_inv @ (-g_pt - w.T @ d_cam)
    return np.concatenate([d_cam, d_pt])


def _solve(prob: _Problem, x0: F64, opts: AdjustOptions) -> tuple[F64, int, float, float]:
    """Levenberg-Marquardt with Huber weights (IRLS) and a Schur complement on the
    points; the Jacobian by finite differences over the sparse structure (one group of
    columns per parameter kind: a handful of residual evaluations)."""
    from scipy.optimize._numdiff import approx_derivative, group_columns
    from scipy.sparse import diags

    sparsity = _sparsity(prob)
    groups = group_columns(sparsity)
    n_cam = 6 * len(prob.image_ids)
    x, f = x0, _residuals(x0, prob)
    cost, sqrt_w = _huber(f, opts.huber_sigmas)
    first, damping, steps = cost, 1e-4, 0
    for _ in range(opts.max_iterations):
        jac = approx_derivative(
            _residuals, x, f0=f, sparsity=(sparsity, groups), args=(prob,), method="2-point"
        )
        jw = diags(sqrt_w) @ jac
        normal, grad = (jw.T @ jw).tocsr(), jw.T @ (sqrt_w * f)
        while damping < 1e10:
            dx = _schur_step(normal, grad, damping, n_cam)
            steps += 1
            if np.all(np.isfinite(dx)):  # a singular solve: more damping, as for a worse cost
                f_new = _residuals(x + dx, prob)
                cost_new, w_new = _huber(f_new, opts.huber_sigmas)
                if cost_new < cost:
                    break
            damping *= 10.0
        else:
            break
        done = cost - cost_new < 1e-7 * cost
        x, f, cost, sqrt_w = x + dx, f_new, cost_new, w_new
        damping = max(damping / 10.0, 1e-9)
        if done:
            break
    return x, steps, first, cost


def adjust(
    rec: Any,
    control: list[ControlPoint],
    gps_m: dict[str, F64] | None = None,
    options: AdjustOptions | None = None,
) -> AdjustResult:
    """Adjust ``rec`` in place (poses and tie points) with ``control`` as weighted
    constraints and, where given, GPS camera positions as priors. Tie points beyond
    ``max_tie_points`` are then re-fitted to the adjusted cameras (COLMAP's adjuster with
    the poses and intrinsics held)."""
    opts = options or AdjustOptions()
    prob = _build(rec, control, gps_m or {}, opts)
    x0 = np.concatenate([np.zeros((len(prob.image_ids), 6)).ravel(), prob.points0.ravel()])
    x, steps, cost_before, cost_after = _solve(prob, x0, opts)
    _write_back(rec, prob, x)
    if len(prob.tie_ids) < rec.num_points3D():
        _refit_points(rec)
    _, _, pts = _unpack(prob, x)
    n_tie = len(prob.tie_ids)
    return AdjustResult(
        tie_points=n_tie,
        gcp_observations=int(np.sum(prob.obs_pt >= n_tie)),
        iterations=steps,
        cost_before=cost_before,
        cost_after=cost_after,
        gcp_points_m={n: pts[n_tie + k].tolist() for k, n in enumerate(prob.gcp_names)},
    )


def _refit_points(rec: Any) -> None:
    import pycolmap

    config = pycolmap.BundleAdjustmentConfig()
    for image_id in rec.reg_image_ids():
        config.add_image(image_id)
    options = pycolmap.BundleAdjustmentOptions()
    options.print_summary = False
    options.refine_focal_length = False
    options.refine_principal_point = False
    options.refine_extra_params = False
    options.refine_rig_from_world = False
    options.ceres.solver_options.max_num_iterations = 20
    pycolmap.create_default_bundle_adjuster(options, config, rec).solve()


def gsd_original_m(rec: Any, scale_to_original: dict[str, float]) -> float:
    """Median GSD of the ORIGINAL images (median tie-point depth / focal, per image, over
    the working-to-original scale): the unit of the accuracy goals and thresholds."""
    values = []
    for image in rec.images.values():
        if not image.has_pose:
            continue
        ids = [p.point3D_id for p in image.points2D if p.has_point3D()]
        if len(ids) < 10:
            continue
        xyz = np.array([rec.points3D[i].xyz for i in ids[:: max(1, len(ids) // 300)]])
        pose = image.cam_from_world()
        depth = (xyz @ np.asarray(pose.rotation.matrix()).T + np.asarray(pose.translation))[:, 2]
        focal = float(image.camera.mean_focal_length())
        values.append(float(np.median(depth)) / focal * scale_to_original.get(image.name, 1.0))
    return float(np.median(values)) if values else float("nan")
