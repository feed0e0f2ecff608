"""Tests of smartmine.geodesy against ground truth that does not come from pyproj itself.

References used: a Krüger-series Transverse Mercator written here (Karney 2011, accurate to
micrometres within a zone), the closed-form geodetic -> ECEF formula, and transforms built
with known parameters for the mine-grid fits.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyproj
import pytest
import yaml

from smartmine.errors import GeodesyError
from smartmine.geodesy import (
    LocalEnu,
    MineGrid,
    describe_crs,
    fit_mine_grid,
    utm_epsg,
    utm_to_wgs84,
    utm_zone,
    wgs84_to_utm,
)

WGS84_A_M = 6_378_137.0
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)

KAZAKH_ZONES = list(range(38, 46))  # UTM 38N..45N, EPSG:32638..32645
LAT_SAMPLES_DEG = [41.0, 44.5, 48.0, 51.5, 55.0]
KZ_LON_MIN, KZ_LON_MAX = 46.0, 87.0
MM = 1e-3


def _zone_lons(zone: int) -> list[float]:
    """Longitudes across a zone, just inside both edges, clipped to Kazakhstan."""
    west = -180.0 + 6.0 * (zone - 1)
    east = west + 6.0
    lons = [west + 1e-7, west + 1.5, west + 3.0, west + 4.5, east - 1e-7]
    return [lon for lon in lons if KZ_LON_MIN <= lon <= KZ_LON_MAX] or [KZ_LON_MIN]


def _zone_samples(zone: int) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(_zone_lons(zone), LAT_SAMPLES_DEG)
    return lat.ravel(), lon.ravel()


def _horizontal_error_m(
    lat_deg: np.ndarray, lon_deg: np.ndarray, lat2_deg: np.ndarray, lon2_deg: np.ndarray
) -> np.ndarray:
    """Angle differences as metres on the ground (6400 km bounds both radii of curvature)."""
    radius_m = 6_400_000.0
    dn = radius_m * np.radians(np.asarray(lat2_deg) - lat_deg)
    de = radius_m * np.cos(np.radians(lat_deg)) * np.radians(np.asarray(lon2_deg) - lon_deg)
    return np.asarray(np.hypot(dn, de))


def _kruger_utm(lat_deg: float, lon_deg: float, zone: int) -> tuple[float, float]:
    """Independent Transverse Mercator (Krüger series to n^6, Karney 2011), northern UTM."""
    n = WGS84_F / (2.0 - WGS84_F)
    e = math.sqrt(WGS84_E2)
    big_a = WGS84_A_M / (1.0 + n) * (1.0 + n**2 / 4.0 + n**4 / 64.0 + n**6 / 256.0)
    alpha = [
        n / 2 - 2 * n**2 / 3 + 5 * n**3 / 16 + 41 * n**4 / 180 - 127 * n**5 / 288
        + 7891 * n**6 / 37800,
        13 * n**2 / 48 - 3 * n**3 / 5 + 557 * n**4 / 1440 + 281 * n**5 / 630
        - 1983433 * n**6 / 1935360,
        61 * n**3 / 240 - 103 * n**4 / 140 + 15061 * n**5 / 26880 + 167603 * n**6 / 181440,
        49561 * n**4 / 161280 - 179 * n**5 / 168 + 6601661 * n**6 / 7257600,
        34729 * n**5 / 80640 - 3418889 * n**6 / 1995840,
        212378941 * n**6 / 319334400,
    ]  # fmt: skip
    phi = math.radians(lat_deg)
    dlam = math.radians(lon_deg - (6.0 * zone - 183.0))
    t = math.sinh(math.atanh(math.sin(phi)) - e * math.atanh(e * math.sin(phi)))
    xi = math.atan2(t, math.cos(dlam))
    eta = math.atanh(math.sin(dlam) / math.sqrt(1.0 + t * t))
    xi_sum = xi + sum(
        a * math.sin(2 * j * xi) * math.cosh(2 * j * eta) for j, a in enumerate(alpha, 1)
    )
    eta_sum = eta + sum(
        a * math.cos(2 * j * xi) * math.sinh(2 * j * eta) for j, a in enumerate(alpha, 1)
    )
    k0 = 0.9996
    return 500_000.0 + k0 * big_a * eta_sum, k0 * big_a * xi_sum


def _ecef(lat_deg: float, lon_deg: float, alt_m: float) -> np.ndarray:
    """Closed-form geodetic -> ECEF."""
    phi, lam = math.radians(lat_deg), math.radians(lon_deg)
    n = WGS84_A_M / math.sqrt(1.0 - WGS84_E2 * math.sin(phi) ** 2)
    return np.array(
        [
            (n + alt_m) * math.cos(phi) * math.cos(lam),
            (n + alt_m) * math.cos(phi) * math.sin(lam),
            (n * (1.0 - WGS84_E2) + alt_m) * math.sin(phi),
        ]
    )


def _enu_reference(
    origin: tuple[float, float, float], point: tuple[float, float, float]
) -> np.ndarray:
    lat0, lon0 = math.radians(origin[0]), math.radians(origin[1])
    rot = np.array(
        [
            [-math.sin(lon0), math.cos(lon0), 0.0],
            [-math.sin(lat0) * math.cos(lon0), -math.sin(lat0) * math.sin(lon0), math.cos(lat0)],
            [math.cos(lat0) * math.cos(lon0), math.cos(lat0) * math.sin(lon0), math.sin(lat0)],
        ]
    )
    return np.asarray(rot @ (_ecef(*point) - _ecef(*origin)))


# --------------------------------------------------------------------------------------
# UTM zones and codes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon_deg", "lat_deg", "zone"),
    [
        (77.0, 45.0, 43),
        (80.9, 45.0, 44),
        (77.999, 45.0, 43),
        (78.0, 45.0, 44),  # an edge belongs to the eastern zone
        (46.5, 47.0, 38),
        (86.9, 49.0, 45),
        (5.0, 60.0, 32),  # Norway: zone 32 widened
        (3.5, 55.9, 31),  # just south of the Norway band
        (11.9, 60.0, 32),
        (12.0, 60.0, 33),
        (5.0, 78.0, 31),  # Svalbard
        (8.9, 78.0, 31),
        (9.0, 78.0, 33),
        (42.0, 78.0, 38),
        (10.0, 78.0, 33),
        (25.0, 78.0, 35),
        (40.0, 78.0, 37),
        (-180.0, 0.0, 1),
        (179.9, 0.0, 60),
        (-3.0, -33.0, 30),
    ],
)
def test_utm_zone(lon_deg: float, lat_deg: float, zone: int) -> None:
    assert utm_zone(lon_deg, lat_deg) == zone


@pytest.mark.parametrize("zone", KAZAKH_ZONES)
def test_utm_zone_of_every_sample_in_kazakhstan(zone: int) -> None:
    lat, lon = _zone_samples(zone)
    assert {utm_zone(o, a) for o, a in zip(lon, lat, strict=True)} == {zone}
    assert utm_epsg(zone) == 32600 + zone
    assert describe_crs(utm_epsg(zone)) == f"WGS 84 / UTM zone {zone}N"


def test_utm_epsg_and_errors() -> None:
    assert utm_epsg(43) == 32643
    assert utm_epsg(43, north=False) == 32743
    for bad in (0, 61, -1):
        with pytest.raises(GeodesyError, match=r"outside 1\.\.60"):
            utm_epsg(bad)
    with pytest.raises(GeodesyError, match="UTM"):
        utm_zone(0.0, 85.0)
    with pytest.raises(GeodesyError, match="unknown CRS"):
        describe_crs("not a crs")


# --------------------------------------------------------------------------------------
# UTM conversions
# --------------------------------------------------------------------------------------


def test_central_meridian_on_equator_is_false_easting() -> None:
    utm = wgs84_to_utm(0.0, 81.0, zone=44)
    assert utm.epsg == 32644
    assert abs(float(utm.easting_m) - 500_000.0) < 1e-6
    assert abs(float(utm.northing_m)) < 1e-6


@pytest.mark.parametrize("zone", KAZAKH_ZONES)
def test_utm_matches_independent_kruger_series(zone: int) -> None:
    lat, lon = _zone_samples(zone)
    utm = wgs84_to_utm(lat, lon)
    assert utm.epsg == 32600 + zone
    expected = np.array([_kruger_utm(a, o, zone) for a, o in zip(lat, lon, strict=True)])
    np.testing.assert_allclose(utm.easting_m, expected[:, 0], rtol=0, atol=MM)
    np.testing.assert_allclose(utm.northing_m, expected[:, 1], rtol=0, atol=MM)


@pytest.mark.parametrize("zone", KAZAKH_ZONES)
def test_utm_round_trip_within_1mm(zone: int) -> None:
    lat, lon = _zone_samples(zone)
    utm = wgs84_to_utm(lat, lon)
    lat2, lon2 = utm_to_wgs84(utm.easting_m, utm.northing_m, utm.epsg)
    assert np.max(_horizontal_error_m(lat, lon, lat2, lon2)) < MM


@pytest.mark.parametrize("zone", KAZAKH_ZONES[:-1])
def test_zone_edge_in_both_zones_round_trips(zone: int) -> None:
    east_edge = -180.0 + 6.0 * zone
    lat = np.array(LAT_SAMPLES_DEG)
    lon = np.full_like(lat, east_edge)
    for asked in (zone, zone + 1):
        utm = wgs84_to_utm(lat, lon, zone=asked)
        assert utm.epsg == 32600 + asked
        lat2, lon2 = utm_to_wgs84(utm.easting_m, utm.northing_m, utm.epsg)
        assert np.max(_horizontal_error_m(lat, lon, lat2, lon2)) < MM
    # The edge lies east of the western zone's central meridian and west of the eastern one's.
    assert np.all(wgs84_to_utm(lat, lon, zone=zone).easting_m > 500_000.0)
    assert np.all(wgs84_to_utm(lat, lon, zone=zone + 1).easting_m < 500_000.0)


def test_point_beyond_zone_edge_stays_in_requested_zone() -> None:
    lat, lon = 43.0, 78.2  # 0.2 deg east of the 43/44 edge at 78 E
    assert utm_zone(lon, lat) == 44
    inside = wgs84_to_utm(lat, lon, zone=43)
    edge = wgs84_to_utm(lat, 78.0, zone=43)
    assert inside.epsg == 32643
    # East of the zone's edge: further east than the edge itself (~745 km at this latitude).
    assert float(inside.easting_m) > float(edge.easting_m) + 15_000.0
    assert float(inside.easting_m) > 740_000.0
    expected_e, expected_n = _kruger_utm(lat, lon, 43)
    assert abs(float(inside.easting_m) - expected_e) < MM
    assert abs(float(inside.northing_m) - expected_n) < MM
    lat2, lon2 = utm_to_wgs84(inside.easting_m, inside.northing_m, inside.epsg)
    assert float(_horizontal_error_m(np.array(lat), np.array(lon), lat2, lon2)) < MM
    # Without a zone the point goes to its own zone, west of that zone's meridian.
    own = wgs84_to_utm(lat, lon)
    assert own.epsg == 32644
    assert float(own.easting_m) < 500_000.0


def test_wgs84_to_utm_shapes_and_errors() -> None:
    lat = np.full((2, 3), 45.0)
    lon = np.linspace(75.0, 77.0, 6).reshape(2, 3)
    utm = wgs84_to_utm(lat, lon)
    assert utm.easting_m.shape == (2, 3)
    assert utm.northing_m.shape == (2, 3)
    with pytest.raises(GeodesyError, match="zones"):
        wgs84_to_utm([45.0, 45.0], [77.9, 78.1])
    with pytest.raises(GeodesyError, match="latitude"):
        wgs84_to_utm(143.2, 76.9)
    with pytest.raises(GeodesyError, match="broadcast"):
        wgs84_to_utm([45.0, 46.0], [75.0, 76.0, 77.0])
    with pytest.raises(GeodesyError, match="NaN"):
        wgs84_to_utm(float("nan"), 75.0)
    with pytest.raises(GeodesyError, match="not a WGS84 / UTM"):
        utm_to_wgs84(500_000.0, 5_000_000.0, 4326)


# --------------------------------------------------------------------------------------
# Local ENU
# --------------------------------------------------------------------------------------


def test_enu_straight_up_is_z() -> None:
    enu = LocalEnu(47.1, 67.3, 350.0)
    e, n, u = enu.from_wgs84(47.1, 67.3, 450.0)
    np.testing.assert_allclose([e, n, u], [0.0, 0.0, 100.0], atol=1e-6)
    e0, n0, u0 = enu.from_wgs84(47.1, 67.3, 350.0)
    np.testing.assert_allclose([e0, n0, u0], [0.0, 0.0, 0.0], atol=1e-6)


def test_enu_one_km_north_matches_ellipsoid() -> None:
    lat0, lon0, alt0 = 49.8, 73.1, 550.0
    phi = math.radians(lat0)
    meridian_radius_m = WGS84_A_M * (1 - WGS84_E2) / (1 - WGS84_E2 * math.sin(phi) ** 2) ** 1.5
    dlat_deg = math.degrees(1000.0 / (meridian_radius_m + alt0))
    e, n, u = LocalEnu(lat0, lon0, alt0).from_wgs84(lat0 + dlat_deg, lon0, alt0)
    assert abs(float(e)) < 1e-6
    assert abs(float(n) - 1000.0) < 1e-3
    # The surface drops below the tangent plane by d^2 / (2 R).
    assert abs(float(u) + 1000.0**2 / (2.0 * (meridian_radius_m + alt0))) < 1e-3


@pytest.mark.parametrize(
    "point",
    [(49.81, 73.1, 600.0), (49.8, 73.13, 420.0), (49.75, 73.0, 1500.0), (50.3, 74.0, 0.0)],
)
def test_enu_matches_closed_form_ecef(point: tuple[float, float, float]) -> None:
    origin = (49.8, 73.1, 550.0)
    got = np.array(LocalEnu(*origin).from_wgs84(*point))
    np.testing.assert_allclose(got, _enu_reference(origin, point), rtol=0, atol=1e-6)


@pytest.mark.parametrize("zone", KAZAKH_ZONES)
def test_enu_round_trip_within_1mm(zone: int) -> None:
    lat, lon = _zone_samples(zone)
    alt = np.linspace(-50.0, 3000.0, lat.size)
    enu = LocalEnu(48.0, 6.0 * zone - 183.0, 400.0)
    e, n, u = enu.from_wgs84(lat, lon, alt)
    assert e.shape == lat.shape
    lat2, lon2, alt2 = enu.to_wgs84(e, n, u)
    assert np.max(_horizontal_error_m(lat, lon, lat2, lon2)) < MM
    assert np.max(np.abs(alt2 - alt)) < MM


def test_enu_from_projected_matches_from_wgs84() -> None:
    enu = LocalEnu(43.2, 76.9, 800.0)
    lat, lon, alt = np.array([43.21, 43.19]), np.array([76.95, 76.88]), np.array([820.0, 790.0])
    utm = wgs84_to_utm(lat, lon, zone=43)
    got = np.array(enu.from_projected(utm.easting_m, utm.northing_m, alt, utm.epsg))
    np.testing.assert_allclose(got, np.array(enu.from_wgs84(lat, lon, alt)), atol=MM)
    back = np.array(enu.to_projected(*got, epsg=utm.epsg))
    np.testing.assert_allclose(back, [utm.easting_m, utm.northing_m, alt], atol=MM)


def test_enu_rejects_bad_origin() -> None:
    with pytest.raises(GeodesyError, match="lat_deg"):
        LocalEnu(95.0, 10.0, 0.0)
    with pytest.raises(GeodesyError, match="alt_m"):
        LocalEnu(45.0, 10.0, float("nan"))


# --------------------------------------------------------------------------------------
# Mine grid
# --------------------------------------------------------------------------------------

TRUE_SCALE = 1.0003
TRUE_ROTATION_DEG = 37.5
TRUE_TRANSLATION_M = np.array([-3_412_345.678, -3_987_654.321, -250.0])
SITE_EPSG = 32642


def _rot_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _true_rotation(kind: str) -> np.ndarray:
    if kind == "horizontal":
        return _rot_z(TRUE_ROTATION_DEG)
    return _rot_z(TRUE_ROTATION_DEG) @ _rot_x(0.02) @ _rot_y(-0.015)


def _apply_true(kind: str, projected: np.ndarray) -> np.ndarray:
    """Ground-truth transform written out directly (not via MineGrid)."""
    rot = _true_rotation(kind)
    if kind == "horizontal":
        out = np.empty_like(projected)
        out[:, :2] = TRUE_SCALE * projected[:, :2] @ rot[:2, :2].T + TRUE_TRANSLATION_M[:2]
        out[:, 2] = projected[:, 2] + TRUE_TRANSLATION_M[2]
        return out
    return np.asarray(TRUE_SCALE * projected @ rot.T + TRUE_TRANSLATION_M)


def _control_points(count: int = 12, seed: int = 7) -> np.ndarray:
    """Control points over a 2 km x 2 km open pit in UTM 42N, heights 300..600 m."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(551_000.0, 553_000.0, count),
            rng.uniform(5_290_000.0, 5_292_000.0, count),
            rng.uniform(300.0, 600.0, count),
        ]
    )


def _rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of a^T b; ||a - b||_F = 2 sqrt(2) sin(angle / 2) stays precise near zero."""
    chord = float(np.linalg.norm(a - b)) / (2.0 * math.sqrt(2.0))
    return math.degrees(2.0 * math.asin(min(1.0, chord)))


KINDS = ["horizontal", "helmert3d"]


@pytest.mark.parametrize("kind", KINDS)
def test_fit_recovers_exact_transform_without_noise(kind: str) -> None:
    projected = _control_points()
    fit = fit_mine_grid(projected, _apply_true(kind, projected), SITE_EPSG, kind=kind)
    assert fit.grid.kind == kind
    assert abs(fit.grid.scale - TRUE_SCALE) < 1e-9
    assert _rotation_angle_deg(fit.grid.rotation, _true_rotation(kind)) < 1e-6
    np.testing.assert_allclose(fit.grid.translation_m, TRUE_TRANSLATION_M, rtol=0, atol=0.01)
    assert fit.rms_m < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_fit_with_5mm_noise(kind: str) -> None:
    rng = np.random.default_rng(2024)
    projected = _control_points()
    grid_pts = _apply_true(kind, projected) + rng.normal(0.0, 0.005, projected.shape)
    fit = fit_mine_grid(projected, grid_pts, SITE_EPSG, kind=kind, name="pit-north")

    assert abs(fit.grid.scale - TRUE_SCALE) < 1e-5
    assert _rotation_angle_deg(fit.grid.rotation, _true_rotation(kind)) < 0.01
    if kind == "horizontal":
        assert abs(fit.grid.rotation_deg - TRUE_ROTATION_DEG) < 0.01
    assert abs(np.linalg.det(fit.grid.rotation) - 1.0) < 1e-12
    # The raw translation is ~5000 km lever arm times the rotation error, so it is checked
    # where it is determined: the site centroid must land within 1 cm of the truth.
    centroid = projected.mean(axis=0, keepdims=True)
    got = np.array(fit.grid.to_grid(*centroid.T)).T
    assert np.max(np.abs(got - _apply_true(kind, centroid))) < 0.01

    assert 0.002 < fit.rms_m < 0.012
    assert fit.residuals_m.shape == projected.shape
    transformed = np.column_stack(fit.grid.to_grid(*projected.T))
    np.testing.assert_allclose(fit.residuals_m, grid_pts - transformed, rtol=0, atol=1e-9)
    norms = np.linalg.norm(fit.residuals_m, axis=1)
    assert fit.rms_m == pytest.approx(math.sqrt(np.mean(norms**2)))
    assert fit.max_residual_m == pytest.approx(norms.max())
    assert fit.grid.name == "pit-north"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("offset", [(0.5, 0.0, 0.0), (0.0, 0.0, 0.5)])
def test_fit_flags_blundered_control_point(kind: str, offset: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(11)
    projected = _control_points()
    grid_pts = _apply_true(kind, projected) + rng.normal(0.0, 0.005, projected.shape)
    clean = fit_mine_grid(projected, grid_pts, SITE_EPSG, kind=kind)
    grid_pts[4] += offset
    fit = fit_mine_grid(projected, grid_pts, SITE_EPSG, kind=kind)
    assert clean.max_residual_m < 0.03
    assert fit.max_residual_m > 0.3
    assert int(np.argmax(fit.residual_norms_m)) == 4


def test_helmert3d_fit_is_a_proper_rotation_even_for_mirrored_grids() -> None:
    projected = _control_points()
    mirrored = projected * np.array([-1.0, 1.0, 1.0])
    fit = fit_mine_grid(projected, mirrored, SITE_EPSG, kind="helmert3d")
    assert abs(np.linalg.det(fit.grid.rotation) - 1.0) < 1e-12
    assert fit.rms_m > 1.0  # a mirror cannot be fitted by a rotation


def test_helmert3d_fit_works_on_flat_points() -> None:
    projected = _control_points()
    projected[:, 2] = 420.0  # all control on one bench: coplanar but not collinear
    fit = fit_mine_grid(projected, _apply_true("helmert3d", projected), SITE_EPSG, "helmert3d")
    assert _rotation_angle_deg(fit.grid.rotation, _true_rotation("helmert3d")) < 1e-6


def test_fit_rejects_too_few_degenerate_and_mismatched_points() -> None:
    projected = _control_points()
    grid_pts = _apply_true("helmert3d", projected)
    with pytest.raises(GeodesyError, match="at least 3"):
        fit_mine_grid(projected[:2], grid_pts[:2], SITE_EPSG, kind="helmert3d")
    with pytest.raises(GeodesyError, match="at least 2"):
        fit_mine_grid(projected[:1], grid_pts[:1], SITE_EPSG, kind="horizontal")
    line = projected[0] + np.outer(np.linspace(0.0, 1.0, 6), [300.0, 200.0, 10.0])
    with pytest.raises(GeodesyError, match="collinear"):
        fit_mine_grid(line, _apply_true("helmert3d", line), SITE_EPSG, kind="helmert3d")
    shaft = np.column_stack([np.full(4, 552_000.0), np.full(4, 5_291_000.0), [0, 100, 200, 300]])
    with pytest.raises(GeodesyError, match="coincident"):
        fit_mine_grid(shaft, _apply_true("horizontal", shaft), SITE_EPSG, kind="horizontal")
    with pytest.raises(GeodesyError, match="same points"):
        fit_mine_grid(projected, grid_pts[:-1], SITE_EPSG)
    with pytest.raises(GeodesyError, match=r"\(N, 3\)"):
        fit_mine_grid(projected[:, :2], grid_pts[:, :2], SITE_EPSG)
    with pytest.raises(GeodesyError, match="not projected"):
        fit_mine_grid(projected, grid_pts, 4326)
    with pytest.raises(GeodesyError, match="kind"):
        fit_mine_grid(projected, grid_pts, SITE_EPSG, kind="affine")  # type: ignore[arg-type]


def test_horizontal_kind_keeps_heights_unscaled() -> None:
    grid = MineGrid.horizontal(SITE_EPSG, 1.01, 10.0, [100.0, 200.0, -30.0])
    _, _, z = grid.to_grid(552_000.0, 5_291_000.0, 1_000.0)
    assert float(z) == pytest.approx(970.0, abs=1e-9)
    x, y, _ = grid.to_grid(0.0, 0.0, 0.0)
    np.testing.assert_allclose([x, y], [100.0, 200.0])


@pytest.mark.parametrize("kind", KINDS)
def test_dict_round_trip_gives_identical_transform(kind: str) -> None:
    projected = _control_points()
    fit = fit_mine_grid(projected, _apply_true(kind, projected), SITE_EPSG, kind=kind, name="g")
    as_json = MineGrid.from_dict(json.loads(json.dumps(fit.grid.to_dict())))
    as_yaml = MineGrid.from_dict(yaml.safe_load(yaml.safe_dump(fit.grid.to_dict())))
    for restored in (as_json, as_yaml):
        assert restored == fit.grid
        for a, b in zip(
            restored.to_grid(*projected.T), fit.grid.to_grid(*projected.T), strict=True
        ):
            assert np.array_equal(a, b)


def test_from_dict_and_constructor_errors() -> None:
    good = MineGrid.horizontal(SITE_EPSG, 1.0, 5.0, [0.0, 0.0, 0.0]).to_dict()
    with pytest.raises(GeodesyError, match="rotation"):
        MineGrid.from_dict({k: v for k, v in good.items() if k != "rotation"})
    with pytest.raises(GeodesyError, match="kind"):
        MineGrid.from_dict({**good, "kind": "affine"})
    with pytest.raises(GeodesyError, match="scale"):
        MineGrid.from_dict({**good, "scale": -1.0})
    with pytest.raises(GeodesyError, match="about z"):
        MineGrid.from_dict({**good, "rotation": _rot_x(5.0).tolist()})
    with pytest.raises(GeodesyError, match="proper rotation"):
        MineGrid.from_dict({**good, "rotation": np.diag([1.0, 1.0, -1.0]).tolist()})
    with pytest.raises(GeodesyError, match="unknown CRS"):
        MineGrid.from_dict({**good, "crs": "not a crs"})


@pytest.mark.parametrize("zone", KAZAKH_ZONES)
@pytest.mark.parametrize("kind", KINDS)
def test_mine_grid_wgs84_round_trip_within_1mm(zone: int, kind: str) -> None:
    lat, lon = _zone_samples(zone)
    alt = np.linspace(200.0, 900.0, lat.size)
    grid = MineGrid(
        crs=utm_epsg(zone),
        scale=TRUE_SCALE,
        rotation=_true_rotation(kind),
        translation_m=TRUE_TRANSLATION_M,
        kind=kind,  # type: ignore[arg-type]
    )
    x, y, z = grid.from_wgs84(lat, lon, alt)
    # Same as going through UTM by hand: ellipsoidal height passes through UTM.
    utm = wgs84_to_utm(lat, lon, zone=zone)
    expected = _apply_true(kind, np.column_stack([utm.easting_m, utm.northing_m, alt]))
    np.testing.assert_allclose(np.column_stack([x, y, z]), expected, rtol=0, atol=MM)
    lat2, lon2, alt2 = grid.to_wgs84(x, y, z)
    assert np.max(_horizontal_error_m(lat, lon, lat2, lon2)) < MM
    assert np.max(np.abs(alt2 - alt)) < MM


def test_mine_grid_accepts_wkt_crs() -> None:
    wkt = pyproj.CRS.from_epsg(SITE_EPSG).to_wkt()
    projected = _control_points()
    grid_pts = _apply_true("horizontal", projected)
    by_wkt = fit_mine_grid(projected, grid_pts, wkt).grid
    by_epsg = fit_mine_grid(projected, grid_pts, SITE_EPSG).grid
    assert describe_crs(wkt) == describe_crs(SITE_EPSG)
    lat, lon, alt = 47.75, 69.7, 450.0
    np.testing.assert_allclose(
        by_wkt.from_wgs84(lat, lon, alt), by_epsg.from_wgs84(lat, lon, alt), rtol=0, atol=MM
    )
    assert MineGrid.from_dict(json.loads(json.dumps(by_wkt.to_dict()))) == by_wkt
