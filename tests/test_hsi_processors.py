"""hsi_capture -> hsi_classifier through real bags (the bag runner): push-broom lines
stamped with their trigger poses, classified against the bundled library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from spectral.io import envi

from hyperspectral.library import bundled_library
from hyperspectral.processors import HsiCapture, HsiCaptureParams, HsiClassifier
from smartmine.bagio import BagReader
from smartmine.bagio.writer import BagWriter
from smartmine.msgs import matrix_to_pose_stamped
from smartmine.msgs.image import image_to_numpy
from smartmine.processor import ProcessorError, make_params
from smartmine.runner import run_on_bag

CLASSES = ["jarosite", "schwertmannite", "vegetation", "calcite"]


def _cube(tmp_path: Path) -> tuple[Path, np.ndarray]:
    wl = np.linspace(420, 2450, 90)
    lib = bundled_library().class_mean(wl).subset(CLASSES)
    truth = np.arange(12) % 4  # line i shows class truth[i] across its 8 samples
    rng = np.random.default_rng(0)
    cube = lib.spectra[truth][:, None, :] * rng.uniform(0.5, 1.0, (12, 8, 1))
    header = tmp_path / "pushbroom.hdr"
    envi.save_image(
        str(header),
        cube.astype(np.float32),
        metadata={"wavelength": [f"{w:.3f}" for w in wl], "wavelength units": "Nanometers"},
    )
    return header, truth


def _pose_bag(path: Path, count: int, step_m: float) -> list[int]:
    stamps = [10**9 + i * 10**8 for i in range(count)]
    with BagWriter(path) as bag:
        bag.add_topic("/gnss/pose", "geometry_msgs/msg/PoseStamped", qos="reliable")
        for i, stamp in enumerate(stamps):
            pose = np.eye(4)
            pose[0, 3] = i * step_m
            bag.write("/gnss/pose", stamp, matrix_to_pose_stamped(pose, stamp, "map", bag.factory))
    return stamps


def test_capture_lines_on_distance_then_classify(tmp_path: Path) -> None:
    header, truth = _cube(tmp_path)
    stamps = _pose_bag(tmp_path / "poses.mcap", 30, 0.5)
    captured = tmp_path / "captured.mcap"
    report = run_on_bag(
        HsiCapture,
        tmp_path / "poses.mcap",
        captured,
        overrides={"source": str(header), "distance_m": 1.0, "mode": "line"},
    )
    # every 2nd pose is 1 m on: 15 triggers, 12 lines in the cube
    assert report.outputs["/hyperspectral/image_raw"] == 12
    with BagReader(captured) as reader:
        lines = [
            (
                m.message.header.stamp.sec * 10**9 + m.message.header.stamp.nanosec,
                image_to_numpy(m.message),
            )
            for m in reader.messages(["/hyperspectral/image_raw"])
        ]
    assert [s for s, _ in lines] == stamps[0:24:2]  # each line carries its pose's stamp
    assert lines[0][1].shape == (1, 8, 90)
    from hyperspectral.cube import open_cube  # a bag is a cube source too (first cube)

    from_bag = open_cube(captured)  # push-broom lines stacked into one cube, stamps kept
    assert from_bag.shape == (12, 8, 90) and from_bag.wavelengths_nm is not None
    np.testing.assert_allclose(from_bag.read(), np.concatenate([line for _, line in lines]))
    assert from_bag.metadata["line_stamps_ns"] == stamps[0:24:2]
    classified = tmp_path / "classified.mcap"
    run_on_bag(HsiClassifier, captured, classified)
    with BagReader(classified) as reader:
        labels = [
            image_to_numpy(m.message) for m in reader.messages(["/hyperspectral/class_image"])
        ]
        heats = [image_to_numpy(m.message) for m in reader.messages(["/hyperspectral/heat_map"])]
        names = json.loads(next(iter(reader.messages(["/hyperspectral/class_names"]))).message.data)
    predicted = [names[int(np.bincount(lab.ravel()).argmax())] for lab in labels]
    assert predicted == [CLASSES[t] for t in truth]
    heat = np.array([float(h.mean()) for h in heats])
    contaminated = np.isin(truth, [0, 1])
    assert heat[contaminated].min() > 0.8 and heat[~contaminated].max() == 0.0


def test_time_trigger_and_frames(tmp_path: Path) -> None:
    header, _ = _cube(tmp_path)
    _pose_bag(tmp_path / "poses.mcap", 10, 0.0)  # hovering: distance never fires
    out = tmp_path / "frames.mcap"
    report = run_on_bag(
        HsiCapture,
        tmp_path / "poses.mcap",
        out,
        overrides={
            "source": str(header),
            "trigger": "time",
            "period_s": 0.3,
            "mode": "frame",
            "loop": True,
        },
    )
    assert report.outputs["/hyperspectral/image_raw"] == 4  # t = 0, 0.3, 0.6, 0.9 s
    assert report.outputs["/hyperspectral/wavelengths"] == 1


def test_capture_without_source_is_refused() -> None:
    with pytest.raises(ProcessorError, match="'source'"):
        HsiCapture(HsiCaptureParams())


def test_classifier_divides_by_the_illumination_spectrum(tmp_path: Path) -> None:
    from hyperspectral.spectra import solar_irradiance
    from smartmine.msgs.factory import default_factory
    from smartmine.msgs.image import numpy_to_image

    wl = np.linspace(420, 2450, 90)
    lib = bundled_library().class_mean(wl).subset(CLASSES)
    irradiance = solar_irradiance(wl)
    csv_path = tmp_path / "spectra.csv"
    csv_path.write_text(
        "wavelength_nm,irradiance_rel\n"
        + "\n".join(f"{w:.3f},{v:.6f}" for w, v in zip(wl, irradiance, strict=True))
        + "\n"
    )
    signal = (lib.spectra[:, None, :] * irradiance).astype(np.float32)  # 4 x 1 px at-sensor
    f = default_factory()
    message = numpy_to_image(signal, "32FC90", stamp_ns=5, frame_id="hsi", factory=f)
    outs = {}
    for irr in ("", str(csv_path)):
        overrides = {"wavelengths_nm": list(wl), "irradiance_csv": irr, "classes": CLASSES}
        proc = HsiClassifier(make_params(HsiClassifier, overrides))
        result = {o.port: o.message for o in proc.process("cube", message, 0)}
        outs[irr] = image_to_numpy(result["classes"]).ravel()
    assert (outs[str(csv_path)] == np.arange(1, 5)).all()  # right with the illumination removed
