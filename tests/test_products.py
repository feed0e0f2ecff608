"""Cloud, mesh and report writers, read back by their own readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mapping.products import (
    ProductError,
    ProductFrame,
    read_frame,
    write_cloud_laz,
    write_cloud_ply,
    write_mesh,
)
from smartmine.report import Report, Table, write_report

UTM44N = 32644
ORIGIN = (500_123.25, 5_540_321.75, 812.5)


def _cloud(n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    xyz = rng.uniform(-100, 100, size=(n, 3)) + ORIGIN
    rgb = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
    return xyz, rgb


def test_laz_round_trips_at_millimetres_with_crs(tmp_path: Path) -> None:
    laspy = pytest.importorskip("laspy")
    xyz, rgb = _cloud()
    path = write_cloud_laz(tmp_path / "cloud.laz", xyz, rgb, frame=ProductFrame(crs=UTM44N))
    las = laspy.read(str(path))
    assert las.header.parse_crs().to_epsg() == UTM44N
    back = np.column_stack([las.x, las.y, las.z])
    assert np.abs(back - xyz).max() <= 0.0005 + 1e-9
    np.testing.assert_array_equal(np.asarray(las.red) // 257, rgb[:, 0])
    assert read_frame(path).crs == UTM44N
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_local_frame_cloud_says_it_is_not_georeferenced(tmp_path: Path) -> None:
    laspy = pytest.importorskip("laspy")
    xyz, _ = _cloud(50)
    path = write_cloud_laz(tmp_path / "c.laz", xyz - ORIGIN, frame=ProductFrame(local_frame="map"))
    assert laspy.read(str(path)).header.parse_crs() is None
    sidecar = json.loads((tmp_path / "c.laz.crs.json").read_text())
    assert sidecar["crs"] is None and "not georeferenced" in sidecar["note"]


def test_ply_cloud_and_meshes_read_back(tmp_path: Path) -> None:
    o3d = pytest.importorskip("open3d")
    trimesh = pytest.importorskip("trimesh")
    pygltflib = pytest.importorskip("pygltflib")
    xyz, rgb = _cloud(100)
    frame = ProductFrame(crs=UTM44N, origin=ORIGIN)
    ply = write_cloud_ply(tmp_path / "c.ply", xyz - ORIGIN, rgb, frame=frame)
    cloud = o3d.io.read_point_cloud(str(ply))
    np.testing.assert_allclose(np.asarray(cloud.points), xyz - ORIGIN, atol=1e-9)
    vertices = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]])
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], dtype=np.uint8)
    glb = write_mesh(tmp_path / "m.glb", vertices, faces, colours, frame=frame)
    gltf = pygltflib.GLTF2().load(str(glb))
    assert gltf.nodes[0].matrix is not None or gltf.nodes[0].translation is not None
    loaded = trimesh.load(str(glb), force="scene")
    placed = (
        loaded.to_geometry() if hasattr(loaded, "to_geometry") else loaded.dump(concatenate=True)
    )
    np.testing.assert_allclose(placed.vertices.min(axis=0), ORIGIN, atol=1e-6)
    mesh_ply = write_mesh(tmp_path / "m.ply", vertices, faces, colours, frame=frame)
    back = trimesh.load(str(mesh_ply), process=False)
    np.testing.assert_allclose(back.vertices, vertices)
    assert len(back.faces) == 4
    assert read_frame(mesh_ply).origin == ORIGIN


def test_writers_refuse_bad_arrays(tmp_path: Path) -> None:
    frame = ProductFrame(crs=UTM44N)
    with pytest.raises(ProductError, match="NaN"):
        write_cloud_laz(tmp_path / "x.laz", [[0.0, np.nan, 0.0]], frame=frame)
    with pytest.raises(ProductError, match=r"\(N, 3\)"):
        write_cloud_laz(tmp_path / "x.laz", np.zeros((3, 2)), frame=frame)
    with pytest.raises(ProductError, match="do not exist"):
        write_mesh(tmp_path / "x.glb", np.zeros((3, 3)), [[0, 1, 5]], frame=frame)
    assert not list(tmp_path.iterdir())


def test_report_json_and_html(tmp_path: Path) -> None:
    png = tmp_path / "plot.png"
    import cv2

    cv2.imwrite(str(png), np.full((8, 8, 3), 128, np.uint8))
    report = Report(
        title="SfM run",
        summary={
            "images_registered": np.int64(23),
            "rmse_m": np.float64(0.031),
            "bad": float("nan"),
        },
        tables=[Table("GCP residuals", ["name", "dx_m"], [["g1", 0.01], ["g2", -0.02]])],
        figures={"cameras over DSM": png},
        notes=["local frame"],
        config={"resolution_cm": 5},
    )
    json_path, html_path = write_report(report, tmp_path)
    doc = json.loads(json_path.read_text())
    assert doc["summary"] == {"images_registered": 23, "rmse_m": 0.031, "bad": None}
    assert doc["figures"] == {"cameras over DSM": "plot.png"}
    text = html_path.read_text()
    assert "GCP residuals" in text and "data:image/png;base64," in text and "0.031" in text
