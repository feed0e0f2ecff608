"""``sfm_portal``: photogrammetry at the portal as a processor (ROS node or bag runner).

In: a String on ``/sfm/request`` naming a finished bag (images + NavSatFix) or an image
folder; each request is one run in ``out_dir/run_NNN_<name>``. Out: a latched String with
the products as JSON (paths, CRS, origin, headline numbers) and a latched PointCloud2
preview of the cloud (float32, relative to the origin in the JSON: UTM eastings do not fit
float32 at millimetres).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smartmine.processor import Output, Port, Processor, ProcessorError, param, register_processor


@dataclass
class SfmPortalParams:
    out_dir: str = param("sfm_portal", "folder the runs are written under (one per request)")
    preset: str = param("default", "sfm preset", choices=("fast", "default", "accurate"))
    crs: str = param("auto", "product CRS: EPSG:326zz or auto (UTM zone of the GPS)")
    gcp_file: str = param("", "ODM gcp_list.txt; empty = none")
    resolution_cm: float = param(
        0.0, "DSM/orthophoto cell; 0 = twice the GSD", unit="cm", range=(0.0, 1000.0)
    )
    every_nth: int = param(1, "bag input: keep every n-th image", range=(1, 1000))
    preview_points: int = param(
        50000, "points in the PointCloud2 preview at most", range=(100, 5_000_000)
    )
    preview_frame_id: str = param("sfm_origin", "frame_id of the preview (the CRS origin)")


@register_processor
class SfmPortal(Processor[SfmPortalParams]):
    name = "sfm_portal"
    description = "finished bag/folder or streamed images+GNSS -> georeferenced SfM products"
    inputs = (
        Port(
            "request",
            "/sfm/request",
            "std_msgs/msg/String",
            "reliable",
            "path of a finished bag or image folder to process",
        ),
        Port(
            "image",
            "/camera/color/image_raw",
            "sensor_msgs/msg/Image",
            "sensor",
            "survey images (streamed mode)",
        ),
        Port(
            "fix", "/gnss/fix", "sensor_msgs/msg/NavSatFix", "sensor", "GNSS fixes (streamed mode)"
        ),
    )
    outputs = (
        Port(
            "products",
            "/sfm/products",
            "std_msgs/msg/String",
            "latched",
            "JSON: product paths, CRS, origin, registered images, residuals",
        ),
        Port(
            "preview",
            "/sfm/preview",
            "sensor_msgs/msg/PointCloud2",
            "latched",
            "decimated cloud, coordinates relative to the origin",
        ),
    )
    Params = SfmPortalParams

    def __init__(self, params: SfmPortalParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self.runs = 0

    def _out(self, label: str) -> Path:
        self.runs += 1
        return Path(self.params.out_dir) / f"run_{self.runs:03d}_{label}"

    def _run(self, source: Path, out: Path, stamp_ns: int) -> list[Output]:
        from mapping.sfm.config import make_config
        from mapping.sfm.inputs import is_bag
        from mapping.sfm.pipeline import run_pipeline

        p = self.params
        conf = make_config(p.preset, crs=p.crs, resolution_cm=p.resolution_cm)
        bag_options: dict[str, Any] = {}
        if p.every_nth != 1 and is_bag(source):
            bag_options["every_nth"] = p.every_nth
        report = run_pipeline(
            source,
            out,
            conf,
            gcp_path=Path(p.gcp_file) if p.gcp_file else None,
            log=lambda _: None,
            **bag_options,
        )
        doc = json.loads(report.read_text())
        products = {k: str(out / v) for k, v in doc["sections"]["Products"].items()}
        origin = doc["sections"]["Georeferencing"].get("origin_m") or [0.0, 0.0, 0.0]
        message = {
            "input": str(source),
            "out_dir": str(out),
            "report": str(report),
            "products": products,
            "crs": doc["summary"]["crs"],
            "origin_m": origin,
            "summary": doc["summary"],
        }
        out_msgs = [
            Output("products", self.factory("std_msgs/msg/String", data=json.dumps(message)))
        ]
        cloud = _preview_cloud(products)
        if cloud:
            out_msgs.append(Output("preview", self._preview(Path(cloud), origin, stamp_ns)))
        return out_msgs

    def _preview(self, cloud: Path, origin: list[float], stamp_ns: int) -> Any:
        import laspy

        from smartmine.msgs import xyz_to_pointcloud2

        las = laspy.read(cloud)
        xyz = np.column_stack([las.x, las.y, las.z]) - np.asarray(origin, dtype=float)
        rgb = None
        if "red" in las.point_format.dimension_names:
            rgb = (np.column_stack([las.red, las.green, las.blue]) // 257).astype(np.uint8)
        step = max(1, math.ceil(len(xyz) / self.params.preview_points))
        return xyz_to_pointcloud2(
            xyz[::step].astype(np.float32),
            rgb=None if rgb is None else rgb[::step],
            stamp_ns=stamp_ns,
            frame_id=self.params.preview_frame_id,
            factory=self.factory,
        )

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        if port == "request":
            source = Path(str(message.data).strip())
            if not source.exists():
                raise ProcessorError(f"sfm_portal: request names {source}, which does not exist")
            return self._run(source, self._out(source.stem or "input"), receive_time_ns)
        raise ProcessorError(f"sfm_portal: no input port {port!r}")


def _preview_cloud(products: dict[str, str]) -> str | None:
    """The cloud to preview: the dense one unless the sparse one has more points (a few
    images can fuse to a near-empty dense cloud; its handful of points would be the
    preview)."""
    import laspy

    def count(name: str) -> int:
        path = products.get(name)
        if not path or not Path(path).exists():
            return -1
        with laspy.open(path) as reader:
            return int(reader.header.point_count)

    dense, sparse = count("dense_cloud"), count("sparse_cloud")
    if dense < 0 and sparse < 0:
        return None
    return products["dense_cloud"] if dense >= sparse else products["sparse_cloud"]
