"""``twin_publisher``: publishing into the twin as a processor (ROS node or bag runner).

In: a String on ``/twin/run_finished`` naming a finished run folder (the RUN_DIR of
``smartmine reprocess``, with its run.json). Out: a latched String on
``/twin/publish_status`` with JSON ``{"status": "ok" | "failed", "run_dir": ...,
"item": ..., "catalog": ...}`` or the one-line error: a run that cannot be published is
reported, the node keeps serving the next one, and the catalog stays as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smartmine.errors import SmartmineError
from smartmine.processor import Output, Port, Processor, ProcessorError, param, register_processor


@dataclass
class TwinPublisherParams:
    catalog_dir: str = param("twin", "catalog folder the runs are published into (STAC root)")
    keep: int = param(3, "versions of each run kept on disk", range=(1, 1000))


@register_processor
class TwinPublisher(Processor[TwinPublisherParams]):
    name = "twin_publisher"
    description = "finished run folder (reprocess) -> published into the twin's STAC catalog"
    inputs = (
        Port(
            "run",
            "/twin/run_finished",
            "std_msgs/msg/String",
            "reliable",
            "path of a finished run folder (RUN_DIR with run.json)",
        ),
    )
    outputs = (
        Port(
            "status",
            "/twin/publish_status",
            "std_msgs/msg/String",
            "latched",
            "JSON: ok or failed, the run folder, the item path or the error",
        ),
    )
    Params = TwinPublisherParams

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        if port != "run":
            raise ProcessorError(f"twin_publisher: no input port {port!r}")
        from twin.publish import PublishConfig, run

        run_dir = Path(str(message.data).strip())
        catalog = Path(self.params.catalog_dir)
        status: dict[str, Any] = {"run_dir": str(run_dir), "catalog": str(catalog / "catalog.json")}
        try:
            item = run(PublishConfig(keep=self.params.keep), run_dir, catalog, log=lambda _: None)
        except (SmartmineError, OSError) as err:
            status.update(status="failed", error=str(err))
        else:
            status.update(status="ok", item=str(item))
        data = json.dumps(status)
        return [Output("status", self.factory("std_msgs/msg/String", data=data))]
