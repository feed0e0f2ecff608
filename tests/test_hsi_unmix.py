"""Unmixing on the real Jasper Ridge cube with its ground-truth endmembers and abundances."""

from __future__ import annotations

from itertools import permutations

import numpy as np
from scipy.io import loadmat

from hyperspectral.cube import open_cube
from hyperspectral.unmix import abundance_rmse, fcls, sad, vca
from tests.conftest import shared


def test_jasper_ridge_fcls_and_vca_against_ground_truth() -> None:
    path = shared("hyperspectral", "unmixing_jasper_ridge", "jasperRidge2_R198.mat")
    mat = loadmat(str(path))
    cube = open_cube(path)
    assert cube.shape == (100, 100, 198)
    pixels = cube.read().reshape(-1, 198)[::2]  # every other pixel keeps the test quick
    truth_m = mat["M"].T
    # pixel order: the cube is rebuilt in MATLAB column order, so abundances line up
    truth_a = mat["A"].T.reshape(100, 100, 4, order="F").reshape(-1, 4)[::2]
    with_true = abundance_rmse(fcls(pixels, truth_m), truth_a)
    assert (with_true < 0.11).all(), with_true
    found = vca(pixels, 4)
    order = min(permutations(range(4)), key=lambda p: float(sad(found[list(p)], truth_m).sum()))
    angles = sad(found[list(order)], truth_m)
    print("Jasper SAD (rad) tree/water/dirt/road:", np.round(angles, 3))
    assert (angles < 0.3).all(), angles
    rmse = abundance_rmse(fcls(pixels, found[list(order)]), truth_a)
    print("Jasper abundance RMSE:", np.round(rmse, 3))
    assert (rmse < 0.25).all(), rmse
