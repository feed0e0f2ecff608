"""Processors (the logic of the ROS nodes): ``hsi_classifier`` and ``hsi_capture``.

``hsi_classifier``: a cube (``sensor_msgs/Image``, encoding ``32FC<bands>``) in, the class
image (``mono16``: 0 unclassified, 1..C the classes), the contamination heat map
(``32FC1``, 0–1, NaN = no data; all NaN when no class of the library or model has a
contamination weight, see ``HsiClassifier.heat_warning``) and, once, the class names
(latched ``std_msgs/String``, JSON) out, stamped and framed like the cube. Band centres
come from the latched ``/hyperspectral/wavelengths`` (``std_msgs/Float32MultiArray``) or
the ``wavelengths_nm`` parameter; cubes arriving before any are counted in
``waiting_for_wavelengths`` (the last one is held and classified when the wavelengths
come).

``hsi_capture``: drives a camera (:mod:`hyperspectral.capture`) from a trigger input:
each ``geometry_msgs/PoseStamped`` (GNSS or SLAM pose) that is ``distance_m`` from the
last exposure (``trigger: distance``) or ``period_s`` after it by header stamp
(``trigger: time``) fires one frame or one push-broom line, published with **that pose's
stamp** and ``frame_id`` parameter, so every line or frame matches a pose exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from smartmine.msgs import header_stamp_ns
from smartmine.msgs.image import image_to_numpy, numpy_to_image
from smartmine.processor import Output, Port, Processor, ProcessorError, param, register_processor


def wavelengths_message(wavelengths_nm: Any, factory: Any) -> Any:
    wl = np.asarray(wavelengths_nm, dtype=np.float32)
    dim = factory(
        "std_msgs/msg/MultiArrayDimension", label="band_centre_nm", size=len(wl), stride=len(wl)
    )
    layout = factory("std_msgs/msg/MultiArrayLayout", dim=[dim], data_offset=0)
    return factory("std_msgs/msg/Float32MultiArray", layout=layout, data=wl)


@dataclass
class HsiClassifierParams:
    library: str = param("bundled", "spectral library: bundled, or a .sli/.hdr/.csv path")
    classes: list[str] = param([], "library classes or spectra to use; empty = all")
    method: Literal["sam", "sid"] = param("sam", "library classifier")
    threshold: float = param(
        0.0, "max SAM angle (rad) / SID for a class; 0 = no limit", range=(0.0, 10.0)
    )
    drop_bad_bands: bool = param(True, "leave out water-absorption bands")
    model: str = param("", "trained model (.pt from 'smartmine hsi train'); empty = library")
    wavelengths_nm: list[float] = param([], "band centres if no wavelengths topic is published")
    irradiance_csv: str = param(
        "",
        "CSV of the illumination spectrum (column irradiance_rel, e.g. the simulator's "
        "spectra.csv): cubes are divided by it first; empty = cubes are reflectance",
    )
    contamination_csv: str = param(
        "",
        "CSV/JSON of contamination weights (mineral, class name or prefix -> 0..1) over "
        "the built-in ones by mineral; empty = built-in",
    )


@register_processor
class HsiClassifier(Processor[HsiClassifierParams]):
    name = "hsi_classifier"
    description = "Hyperspectral cube -> class image + contamination heat map (SAM/SID or CNN)"
    inputs = (
        Port("cube", "/hyperspectral/image_raw", "sensor_msgs/msg/Image", "sensor"),
        Port(
            "wavelengths",
            "/hyperspectral/wavelengths",
            "std_msgs/msg/Float32MultiArray",
            "latched",
            "band centres, nm",
        ),
    )
    outputs = (
        Port(
            "classes",
            "/hyperspectral/class_image",
            "sensor_msgs/msg/Image",
            "reliable",
            "mono16 labels, 0 = unclassified",
        ),
        Port(
            "heat",
            "/hyperspectral/heat_map",
            "sensor_msgs/msg/Image",
            "reliable",
            "32FC1 contamination index 0-1",
        ),
        Port(
            "class_names",
            "/hyperspectral/class_names",
            "std_msgs/msg/String",
            "latched",
            "JSON list, index 1 = label 1",
        ),
    )
    Params = HsiClassifierParams

    def __init__(self, params: HsiClassifierParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        self.wavelengths: np.ndarray | None = (
            np.asarray(self.params.wavelengths_nm, np.float64)
            if self.params.wavelengths_nm
            else None
        )
        self._classifier: Any = None
        self._model: Any = None
        self._names_sent = False
        self._held: Any = None
        self._irradiance: np.ndarray | None = None
        self.waiting_for_wavelengths = 0
        self._weights: np.ndarray | None = None
        self.heat_warning: str | None = None
        """Set when no class has a contamination weight: the heat map is NaN ("not
        known"), never 0 ("clean")."""
        if self.params.contamination_csv:  # a bad file fails at start, not on a frame
            from pathlib import Path

            from hyperspectral.contamination import read_overrides

            read_overrides(Path(self.params.contamination_csv))
        if self.params.model:
            from pathlib import Path

            from hyperspectral.model import load_model

            self._model = load_model(Path(self.params.model))
            self._set_weights(self._model.classes)

    def _set_weights(self, classes: Any) -> None:
        """Contamination weights per class, once per classifier (not per frame)."""
        import logging

        from hyperspectral.contamination import weights_for

        weights, cmap = weights_for(list(classes), self.params.contamination_csv)
        self._weights = weights
        self.heat_warning = cmap.warning
        if cmap.warning:
            logging.getLogger(__name__).warning("hsi_classifier: %s", cmap.warning)

    def _library_classifier(self, bands: int) -> Any:
        from hyperspectral.calibrate import good_band_mask
        from hyperspectral.classify import LibraryClassifier
        from hyperspectral.cube import Cube
        from hyperspectral.pipeline import ClassifyConfig, prepare_library

        assert self.wavelengths is not None
        if len(self.wavelengths) != bands:
            raise ProcessorError(
                f"hsi_classifier: cube has {bands} bands, the wavelengths {len(self.wavelengths)}"
            )
        if self._classifier is None or len(self._classifier.band_mask) != bands:
            config = ClassifyConfig(library=self.params.library, classes=list(self.params.classes))
            dummy = Cube(np.zeros((1, 1, bands), np.float32), self.wavelengths)
            lib = prepare_library(config, dummy)
            mask = np.asarray(np.isfinite(lib.spectra).any(axis=0), dtype=bool)
            if self.params.drop_bad_bands:
                mask &= good_band_mask(self.wavelengths)
            threshold = self.params.threshold or None
            self._classifier = LibraryClassifier(lib, self.params.method, threshold, mask)
            self._set_weights(self._classifier.classes)
        return self._classifier

    def _to_reflectance(self, cube: np.ndarray) -> np.ndarray:
        from hyperspectral.calibrate import load_irradiance

        if self.wavelengths is None:
            raise ProcessorError("hsi_classifier: irradiance_csv needs the band centres")
        if self._irradiance is None or len(self._irradiance) != cube.shape[2]:
            irr = load_irradiance(self.params.irradiance_csv, self.wavelengths)
            # bands the illumination does not reach (deep absorption) carry no signal
            self._irradiance = np.where(irr > 1e-3 * irr.max(), irr, np.inf).astype(np.float32)
        return np.asarray(cube / self._irradiance, dtype=np.float32)

    def _classify(self, message: Any) -> list[Output]:
        from hyperspectral.classify import confidence
        from hyperspectral.cube import Cube
        from hyperspectral.pipeline import contamination_index

        cube = np.asarray(image_to_numpy(message), dtype=np.float32)
        if cube.ndim == 2:
            cube = cube[..., None]
        if self.params.irradiance_csv:
            cube = self._to_reflectance(cube)
        valid = Cube(cube, None).valid_mask(cube)
        if self._model is not None:
            h, w, _ = cube.shape
            proba = self._model.predict_proba(cube).reshape(h, w, -1)
            names = list(self._model.classes)
            labels = np.where(valid, proba.argmax(axis=-1) + 1, 0).astype(np.uint16)
            assert self._weights is not None
            heat = np.where(valid, proba @ self._weights, np.nan).astype(np.float32)
        else:
            clf = self._library_classifier(cube.shape[2])
            tile = clf.classify_block(cube, valid)
            names = list(clf.classes)
            labels = tile.labels
            assert self._weights is not None
            membership = confidence(tile.best_score, clf.method)
            heat = contamination_index(labels, membership, self._weights)
            heat[~valid] = np.nan
        if self.heat_warning:
            heat = np.full(labels.shape, np.nan, np.float32)
        stamp = header_stamp_ns(message)
        frame = message.header.frame_id
        out: list[Output] = []
        if not self._names_sent:
            text = json.dumps(["unclassified", *names])
            out.append(Output("class_names", self.factory("std_msgs/msg/String", data=text)))
            self._names_sent = True
        f = self.factory
        out.append(
            Output(
                "classes",
                numpy_to_image(labels, "mono16", stamp_ns=stamp, frame_id=frame, factory=f),
            )
        )
        out.append(
            Output("heat", numpy_to_image(heat, "32FC1", stamp_ns=stamp, frame_id=frame, factory=f))
        )
        return out

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        if port == "wavelengths":
            self.wavelengths = np.asarray(message.data, dtype=np.float64)
            self._classifier = None
            held, self._held = self._held, None
            return self._classify(held) if held is not None else []
        if self.wavelengths is None and self._model is None:
            self.waiting_for_wavelengths += 1
            self._held = message
            return []
        return self._classify(message)


@dataclass
class HsiCaptureParams:
    driver: str = param("playback", "camera driver: playback or a registered vendor driver")
    source: str = param("", "playback: ENVI cube file or folder of cubes")
    loop: bool = param(False, "playback: start again at the end")
    mode: Literal["frame", "line"] = param("line", "snapshot frames or push-broom lines")
    trigger: Literal["distance", "time"] = param("distance", "what fires an exposure")
    distance_m: float = param(1.0, "distance between exposures", unit="m", range=(0.0, 1e6))
    period_s: float = param(0.1, "time between exposures", unit="s", range=(0.0, 1e6))
    frame_id: str = param("hsi_optical", "frame_id of the published cubes/lines")


@register_processor
class HsiCapture(Processor[HsiCaptureParams]):
    name = "hsi_capture"
    description = (
        "Hyperspectral camera driver: frames or push-broom lines on a distance/time trigger"
    )
    inputs = (
        Port(
            "trigger",
            "/gnss/pose",
            "geometry_msgs/msg/PoseStamped",
            "reliable",
            "poses that trigger exposures and stamp them",
        ),
    )
    outputs = (
        Port(
            "cube",
            "/hyperspectral/image_raw",
            "sensor_msgs/msg/Image",
            "sensor",
            "32FC<bands>; height 1 in line mode",
        ),
        Port(
            "wavelengths",
            "/hyperspectral/wavelengths",
            "std_msgs/msg/Float32MultiArray",
            "latched",
            "band centres, nm",
        ),
    )
    Params = HsiCaptureParams

    def __init__(self, params: HsiCaptureParams | None = None, factory: Any = None) -> None:
        super().__init__(params, factory)
        from hyperspectral.capture import make_driver

        options: dict[str, Any] = {}
        if self.params.driver == "playback":
            if not self.params.source:
                raise ProcessorError("hsi_capture: parameter 'source' (ENVI cube) is required")
            options = {"source": self.params.source, "loop": self.params.loop}
        self.driver = make_driver(self.params.driver, **options)
        self._last_position: np.ndarray | None = None
        self._last_stamp: int | None = None
        self._wavelengths_sent = False
        self.exposures = 0
        self.exhausted = False

    def _fires(self, position: np.ndarray, stamp: int) -> bool:
        if self._last_stamp is None or self._last_position is None:
            return True
        if self.params.trigger == "distance":
            return float(np.linalg.norm(position - self._last_position)) >= self.params.distance_m
        return (stamp - self._last_stamp) >= self.params.period_s * 1e9

    def process(self, port: str, message: Any, receive_time_ns: int) -> list[Output]:
        p = message.pose.position
        position = np.array([p.x, p.y, p.z], dtype=np.float64)
        stamp = header_stamp_ns(message)
        if self.exhausted or not self._fires(position, stamp):
            return []
        data = self.driver.next_line() if self.params.mode == "line" else self.driver.next_frame()
        if data is None:
            self.exhausted = True
            return []
        if data.ndim == 2:
            data = data[None]
        self._last_position, self._last_stamp = position, stamp
        self.exposures += 1
        out: list[Output] = []
        if not self._wavelengths_sent:
            out.append(
                Output("wavelengths", wavelengths_message(self.driver.wavelengths_nm, self.factory))
            )
            self._wavelengths_sent = True
        image = numpy_to_image(
            np.ascontiguousarray(data, np.float32),
            f"32FC{data.shape[2]}",
            stamp_ns=stamp,
            frame_id=self.params.frame_id,
            factory=self.factory,
        )
        out.append(Output("cube", image))
        return out

    def finish(self) -> list[Output]:
        self.driver.close()
        return []
