"""gnss_to_pose over the real Husky bag, against an independent pyproj conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest

from mapping.gnss_to_pose import GnssToPose, GnssToPoseParams
from smartmine.bagio import BagReader
from smartmine.cli import main
from smartmine.msgs import GeoFix, geofix_to_navsatfix, make_header
from smartmine.msgs.factory import default_factory
from smartmine.runner import Feeder, run_on_bag
from tests.conftest import shared


def husky() -> Path:
    return shared("rosbag1_robot_localization_husky", "test1.bag")


def fixes(bag: Path) -> list[tuple[int, float, float, float]]:
    with BagReader(bag) as reader:
        return [
            (
                m.message.header.stamp.sec * 10**9 + m.message.header.stamp.nanosec,
                m.message.latitude,
                m.message.longitude,
                m.message.altitude,
            )
            for m in reader.messages(["/fix"])
        ]


def poses(bag: Path, topic: str = "/gnss/pose") -> list[tuple[int, np.ndarray]]:
    with BagReader(bag) as reader:
        return [
            (
                m.message.header.stamp.sec * 10**9 + m.message.header.stamp.nanosec,
                np.array(
                    [
                        m.message.pose.position.x,
                        m.message.pose.position.y,
                        m.message.pose.position.z,
                    ]
                ),
            )
            for m in reader.messages([topic])
        ]


def test_utm_poses_match_pyproj_within_a_millimetre(tmp_path: Path) -> None:
    out = tmp_path / "utm.mcap"
    report = run_on_bag(GnssToPose, husky(), out, remaps={"fix": "/fix"}, keep=["/fix"])
    assert report.inputs == {"/fix": 989}
    assert report.outputs == {"/gnss/pose": 989, "/tf": 989, "/gnss/crs": 1}
    assert report.kept == {"/fix": 989} and report.rejected == 0
    truth = fixes(husky())
    got = poses(out)
    # Husky near 42.38 N, 71.15 W: UTM zone 19 N
    to_utm = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32619", always_xy=True)
    lat = np.array([f[1] for f in truth])
    lon = np.array([f[2] for f in truth])
    e, n = to_utm.transform(lon, lat)
    expected = np.stack([e, n, [f[3] for f in truth]], axis=-1)
    assert [s for s, _ in got] == [f[0] for f in truth]
    error = np.abs(np.stack([p for _, p in got]) - expected)
    assert error.max() < 1e-3
    with BagReader(out) as reader:
        (crs,) = [m.message.data for m in reader.messages(["/gnss/crs"])]
        tfs = [m.message.transforms[0] for m in reader.messages(["/tf"])]
        kept = [m.message.latitude for m in reader.messages(["/fix"])]
    assert crs == "EPSG:32619"
    assert tfs[0].header.frame_id == "map" and tfs[0].child_frame_id
    assert tfs[5].transform.translation.x == pytest.approx(expected[5, 0], abs=1e-3)
    assert kept == list(lat)
    assert "ros__parameters" in (tmp_path / "utm.mcap.params.yaml").read_text()


def test_enu_poses_match_independent_ecef(tmp_path: Path) -> None:
    out = tmp_path / "enu.mcap"
    args = ["node", "run", "gnss_to_pose", "--bag", str(husky()), "--out", str(out)]
    assert main([*args, "--remap", "fix:=/fix", "--param", "frame=enu"]) == 0
    truth = fixes(husky())
    got = np.stack([p for _, p in poses(out)])
    lat0, lon0, h0 = truth[0][1:]
    ecef = pyproj.Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
    x, y, z = ecef.transform([f[2] for f in truth], [f[1] for f in truth], [f[3] for f in truth])
    x0, y0, z0 = ecef.transform(lon0, lat0, h0)
    phi, lam = np.radians(lat0), np.radians(lon0)
    rot = np.array(
        [
            [-np.sin(lam), np.cos(lam), 0],
            [-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)],
            [np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)],
        ]
    )
    expected = (rot @ (np.stack([x, y, z]) - np.array([[x0], [y0], [z0]]))).T
    assert np.abs(got - expected).max() < 1e-3
    assert np.allclose(got[0], 0.0, atol=1e-6)
    # metres, not degrees: the horizontal distance first -> last equals the geodesic one
    _, _, geodesic_m = pyproj.Geod(ellps="WGS84").inv(lon0, lat0, truth[-1][2], truth[-1][1])
    assert np.linalg.norm(got[-1, :2] - got[0, :2]) == pytest.approx(geodesic_m, abs=0.01)


def test_given_zone_and_kazakhstan_epsg() -> None:
    proc = GnssToPose(GnssToPoseParams(utm_zone=44))
    fix = GeoFix(stamp_ns=5, latitude_deg=49.95, longitude_deg=82.63, altitude_m=300.0)
    out = {o.port: o.message for o in proc.process("fix", geofix_to_navsatfix(fix), 5)}
    assert out["crs"].data == "EPSG:32644"
    e, n = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32644", always_xy=True).transform(
        82.63, 49.95
    )
    assert out["pose"].pose.position.x == pytest.approx(e, abs=1e-3)
    assert out["pose"].pose.position.y == pytest.approx(n, abs=1e-3)
    # the CRS is said once
    again = proc.process("fix", geofix_to_navsatfix(fix), 6)
    assert [o.port for o in again] == ["pose", "tf"]


def test_no_fix_is_dropped_and_bad_messages_reported() -> None:
    lines: list[str] = []
    proc = GnssToPose()
    feeder = Feeder(
        proc,
        {"fix": "/gnss/fix", "pose": "/gnss/pose", "tf": "/tf", "crs": "/gnss/crs"},
        lines.append,
    )
    no_fix = GeoFix(stamp_ns=1, latitude_deg=0.0, longitude_deg=0.0, altitude_m=0.0, status=-1)
    assert feeder.feed("fix", geofix_to_navsatfix(no_fix), 1) == []
    assert proc.dropped_no_fix == 1 and lines == []
    nan_fix = GeoFix(stamp_ns=2, latitude_deg=float("nan"), longitude_deg=1.0, altitude_m=0.0)
    assert feeder.feed("fix", geofix_to_navsatfix(nan_fix), 2) == []
    factory = default_factory()
    imu = factory(
        "sensor_msgs/msg/Imu",
        header=make_header(3, "imu"),
        orientation=factory("geometry_msgs/msg/Quaternion", x=0.0, y=0.0, z=0.0, w=1.0),
        orientation_covariance=np.zeros(9),
        angular_velocity=factory("geometry_msgs/msg/Vector3", x=0.0, y=0.0, z=0.0),
        angular_velocity_covariance=np.zeros(9),
        linear_acceleration=factory("geometry_msgs/msg/Vector3", x=0.0, y=0.0, z=0.0),
        linear_acceleration_covariance=np.zeros(9),
    )
    assert feeder.feed("fix", imu, 3) == []
    assert len(lines) == 2 and feeder.rejected == 2
    assert "'/gnss/fix'" in lines[0] and "latitude" in lines[0]
    assert "'/gnss/fix'" in lines[1] and "sensor_msgs/msg/Imu" in lines[1]
    good = GeoFix(stamp_ns=4, latitude_deg=49.9, longitude_deg=82.6, altitude_m=1.0)
    assert len(feeder.feed("fix", geofix_to_navsatfix(good), 4)) == 3
