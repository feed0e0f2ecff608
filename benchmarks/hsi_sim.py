"""The library classifier on the simulator's hyperspectral cubes, scored per zone, on
cubes from the SAME source as its library and from a DIFFERENT one.

Renders ``--frames`` snapshot cubes of the default open pit along its survey (the
simulator's own renderer: sub-ray mixing at zone borders, sun incidence and shadow,
sensor noise), divides by the simulator's illumination spectrum, classifies every pixel
with SAM against the bundled USGS library (bad bands dropped) and scores, per zone, the
pixels whose footprint is at least ``--purity`` one zone (the ground truth is the
renderer's per-pixel zone fractions). A zone counts as right when the class is one of
its measured stand-in's classes (``hyperspectral.library.MEASURED_STAND_INS``).

Scenarios (each printed under its name):

- ``same source``: the default simulator (``hsi.spectra: measured``): zone spectra are the
  bundled library's class means, the classifier's own spectra (circular: the figure of
  issue 12);
- ``same source, N variants …``: the bundled samples drawn per ground patch, with
  brightness and smooth spectral distortion (``hsi.variants`` …);
- ``DIFFERENT source <library>``: zone spectra drawn from another library
  (``hsi.spectra: library``: USGS splib07 / splib06 ENVI by default, the bundled samples
  left out by sample id) with the same variability. Zones whose mineral has no other
  sample there (schwertmannite, water in splib06/07) fall back to the bundled samples and
  are marked ``SAME SOURCE (fallback)``; the contamination figure is printed with them
  and for the different-source zones only. Then each of the library's samples of the
  zones' minerals classified alone (where the misreads come from).

Per zone: recall (pure pixels of the zone given one of its classes) and precision (pure
pixels given its classes that are of the zone). Contamination: the jarosite and
schwertmannite zones against the AMD classes (jarosite, schwertmannite, copiapite,
amd_precipitate: the weight-1 classes of the contamination index); mixed pixels: the
dominant zone's class below the purity threshold. ``--synthetic`` adds the old synthetic
stand-ins as a scenario.

Then (unless ``--no-ortho``) the map: a small simulator run (bag, dem.tif, classes.tif)
is classified frame by frame and orthorectified onto the DEM (``smartmine hsi ortho``);
prints the seen extent beside the scene's extent (EPSG:32644) and the accuracy per zone
in map coordinates against the simulator's zone raster ``classes.tif`` (cells whose
neighbourhood is one zone), for snapshot frames and for push-broom lines (same source),
and for snapshot frames from the first different-source library.

    python benchmarks/hsi_sim.py [--frames 6] [--purity 0.9] [--library PATH ...]
        [--variants 8] [--brightness 0.15] [--distortion 0.03] [--synthetic] [--no-ortho]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.calibrate import good_band_mask
from hyperspectral.classify import LibraryClassifier
from hyperspectral.contamination import class_weight
from hyperspectral.cube import Cube
from hyperspectral.library import MEASURED_STAND_INS
from hyperspectral.pipeline import ClassifyConfig, prepare_library
from simulator.config import SimConfig, apply_overrides, default_config
from simulator.mesh import ZONES
from simulator.render import Renderer
from simulator.sensors import Rig
from simulator.simulation import build_trajectory
from simulator.writer import build_scene

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "hyperspectral"
LIBRARIES = (
    SHARED / "usgs_speclib_envi" / "s07_AV95_envi.hdr",
    SHARED / "usgs_speclib_envi" / "s06av95a_envi.hdr",
)
CONTAMINATION_ZONES = ("jarosite", "schwertmannite")
AMD_WEIGHT = 1.0
"""Classes of this contamination weight say "acid mine drainage here" (jarosite,
schwertmannite, copiapite, AMD precipitates: :mod:`hyperspectral.contamination`)."""


@dataclass
class Score:
    """Pixel counts of one scenario (pure pixels: footprint >= purity one zone)."""

    recall_hits: dict[str, int] = field(default_factory=dict)
    pure: dict[str, int] = field(default_factory=dict)
    labelled_as: dict[str, int] = field(default_factory=dict)
    """Pure pixels (any zone) given one of the zone's classes."""
    amd_hits: dict[str, int] = field(default_factory=dict)
    """Pure pixels of the zone given an AMD class (contamination found there)."""
    contamination_called: int = 0
    contamination_called_right: int = 0
    mixed_right: int = 0
    mixed_total: int = 0
    fallback: tuple[str, ...] = ()
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    """Zone → class → pure pixels of the zone given that class (where errors go)."""

    def recall(self, zone: str) -> float:
        return self.recall_hits.get(zone, 0) / max(self.pure.get(zone, 0), 1)

    def precision(self, zone: str) -> float:
        return self.recall_hits.get(zone, 0) / max(self.labelled_as.get(zone, 0), 1)

    def contamination_recall(self, zones: tuple[str, ...]) -> tuple[float, int]:
        """Share of the zones' pure pixels given an AMD class, and how many pixels."""
        total = sum(self.pure.get(z, 0) for z in zones)
        return sum(self.amd_hits.get(z, 0) for z in zones) / max(total, 1), total

    def contamination_precision(self) -> float:
        """Share of the pure pixels given an AMD class that lie on a contamination zone."""
        return self.contamination_called_right / max(self.contamination_called, 1)


def classifier_for(wl: npt.NDArray[np.float64]) -> LibraryClassifier:
    """SAM against the bundled library on the simulator's bands, bad bands dropped."""
    library = prepare_library(ClassifyConfig(), Cube(np.zeros((1, 1, len(wl)), np.float32), wl))
    mask = np.isfinite(library.spectra).any(axis=0) & good_band_mask(wl)
    return LibraryClassifier(library, "sam", None, mask)


def score(config: SimConfig, frames: int, purity: float) -> Score:
    """Render ``frames`` cubes along the survey and count per zone (see the module doc)."""
    scene = build_scene(config)
    renderer = Renderer(scene, config)
    rig = Rig.from_config(config)
    traj = build_trajectory(config, scene)[0]
    times = (np.arange(frames) + 0.5) * traj.duration_s / frames
    poses = traj.matrices(times) @ rig.base_from_hsi
    wl = renderer.wavelengths_nm
    irradiance = np.where(renderer.irradiance > 1e-3, renderer.irradiance, np.inf)
    classifier = classifier_for(wl)
    names = np.array(["unclassified", *classifier.classes])
    zones = [z for z in ZONES if z.spectrum is not None]
    accept = {z.name: np.isin(names, list(MEASURED_STAND_INS[z.name])) for z in zones}
    amd = np.array([class_weight(str(n)) >= AMD_WEIGHT for n in names])
    contaminated = [z.id for z in zones if z.name in CONTAMINATION_ZONES]
    result = Score(fallback=renderer.zone_set.fallback)
    for i, pose in enumerate(poses):
        hsi = renderer.render_hsi(pose, i)
        cube = (hsi.cube / irradiance).astype(np.float32)
        valid = Cube(cube, wl).valid_mask(cube)
        labels = classifier.classify_block(cube, valid).labels
        dominant = hsi.fractions.argmax(axis=-1)
        pure_any = (hsi.fractions.max(axis=-1) >= purity) & valid
        for z in zones:
            ok = accept[z.name][labels]
            pure = pure_any & (dominant == z.id)
            add(result.pure, z.name, pure.sum())
            add(result.recall_hits, z.name, (ok & pure).sum())
            add(result.labelled_as, z.name, (ok & pure_any).sum())
            add(result.amd_hits, z.name, (amd[labels] & pure).sum())
            per_class = np.bincount(labels[pure], minlength=len(names))
            calls = result.calls.setdefault(z.name, {})
            for k in np.flatnonzero(per_class):
                add(calls, str(names[k]), per_class[k])
            mixed = (dominant == z.id) & ~pure_any & valid
            result.mixed_total += int(mixed.sum())
            result.mixed_right += int((ok & mixed).sum())
        called = amd[labels] & pure_any
        result.contamination_called += int(called.sum())
        result.contamination_called_right += int((called & np.isin(dominant, contaminated)).sum())
    return result


def add(counts: dict[str, int], key: str, value: Any) -> None:
    counts[key] = counts.get(key, 0) + int(value)


def report(title: str, result: Score, different: bool) -> None:
    """Print one scenario: per zone recall/precision and source, contamination, mixed."""
    print(f"{title}")
    print(f"  {'zone':<16} {'recall':>7} {'precision':>9}  pure px  source")
    for zone, n in result.pure.items():
        if not n:
            continue
        source = "different" if different and zone not in result.fallback else "same"
        if different and zone in result.fallback:
            source = "SAME SOURCE (fallback: no other sample)"
        print(
            f"  {zone:<16} {result.recall(zone):7.1%} {result.precision(zone):9.1%}  "
            f"{n:7d}  {source}"
        )
    for zone, n in result.pure.items():
        wrong = {
            c: k for c, k in result.calls.get(zone, {}).items() if c not in MEASURED_STAND_INS[zone]
        }
        top = sorted(wrong.items(), key=lambda item: -item[1])[:3]
        if top and n:
            print(f"    {zone} misread as: " + ", ".join(f"{c} {k / n:.1%}" for c, k in top))
    c_recall, c_px = result.contamination_recall(CONTAMINATION_ZONES)
    print(
        f"  contamination zones: recall {c_recall:.1%} of {c_px} px, precision "
        f"{result.contamination_precision():.1%} of {result.contamination_called} AMD-class px"
    )
    own = tuple(z for z in CONTAMINATION_ZONES if z not in result.fallback)
    if different and own != CONTAMINATION_ZONES:
        o_recall, o_px = result.contamination_recall(own)
        print(
            f"  contamination, different-source zones only ({', '.join(own) or 'none'}): "
            f"recall {o_recall:.1%} of {o_px} px"
        )
    if result.mixed_total:
        print(
            f"  mixed pixels (dominant zone): {result.mixed_right / result.mixed_total:.1%} "
            f"of {result.mixed_total} px"
        )


def per_sample(library: str, bands: int) -> None:
    """Each pure sample of the library's zone minerals classified alone (no noise, no
    mixing): how many land on their own class, and where the others go."""
    from hyperspectral.spectra import band_centres
    from simulator.hsi import library_pool

    wl = band_centres(bands)
    pool, _ = library_pool(library, wl, "sample")
    classifier = classifier_for(wl)
    names = ["unclassified", *classifier.classes]
    minerals = dict.fromkeys(m for mix in MEASURED_STAND_INS.values() for m in mix)
    print("  each sample alone (SAM, no noise): own class / samples; the others")
    for mineral in minerals:
        members = pool.get(mineral, [])
        if not members:
            print(f"    {mineral:<16} no sample outside the bundled ones")
            continue
        spectra = np.stack([m[1] for m in members]).astype(np.float32)[None]
        labels = classifier.classify_block(spectra, np.ones(spectra.shape[:2], bool)).labels[0]
        got = [names[k] for k in labels]
        wrong = [
            f"{' '.join(n.split()[:2])} -> {g}"
            for (n, _), g in zip(members, got, strict=True)
            if g != mineral
        ]
        right = len(got) - len(wrong)
        print(f"    {mineral:<16} {right}/{len(got)}  " + "; ".join(wrong))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--purity", type=float, default=0.9)
    parser.add_argument(
        "--library",
        action="append",
        help="different-source library (repeatable; default: the shared splib07 and splib06)",
    )
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--brightness", type=float, default=0.15, help="brightness sigma")
    parser.add_argument("--distortion", type=float, default=0.03, help="distortion RMS")
    parser.add_argument("--synthetic", action="store_true", help="add synthetic zone spectra")
    parser.add_argument("--no-ortho", action="store_true", help="skip the map check")
    args = parser.parse_args()

    base = default_config("open-pit")
    hsi = base.hsi
    print(
        f"{args.frames} cubes {hsi.width}x{hsi.height}x{hsi.bands} per scenario, SAM vs the "
        f"bundled USGS library, purity >= {args.purity}"
    )
    variability = {
        "variants": args.variants,
        "brightness_sigma": args.brightness,
        "distortion_rel": args.distortion,
    }
    varied = f"{args.variants} variants per zone, brightness sigma {args.brightness}, " + (
        f"distortion {args.distortion}"
    )
    scenarios: list[tuple[str, dict[str, Any], bool]] = [
        ("same source (default simulator: the bundled class means; circular)", {}, False),
        (f"same source, {varied}", variability, False),
    ]
    if args.synthetic:
        scenarios.append(("synthetic stand-ins", {"spectra": "synthetic"}, False))
    libraries = [Path(p) for p in args.library] if args.library else list(LIBRARIES)
    for lib in libraries:
        if not lib.is_file():
            print(f"(different source: {lib} absent, skipped)")
            continue
        overrides = {"spectra": "library", "library": str(lib), **variability}
        title = f"DIFFERENT source: {lib.name} (bundled samples left out), {varied}"
        scenarios.append((title, overrides, True))
    for title, overrides, different in scenarios:
        config = apply_overrides(base, {"hsi": overrides})
        report(title, score(config, args.frames, args.purity), different)
        if different:
            per_sample(config.hsi.library, base.hsi.bands)
    if not args.no_ortho:
        ortho_check("snapshot frames", {"frames": args.frames})
        lines: dict[str, object] = {"mode": "pushbroom", "height": 16}
        ortho_check("push-broom lines (16 per frame)", {"frames": args.frames, "hsi": lines})
        for _, overrides, different in scenarios:
            if different:  # the first other library, on the map too
                ortho_check(
                    f"snapshot frames, DIFFERENT source {Path(overrides['library']).name}",
                    {"frames": args.frames, "hsi": overrides},
                )
                break


def ortho_check(what: str, overrides: dict[str, object]) -> None:
    """Simulate, orthorectify, print extent and per-zone accuracy in map coordinates."""
    import tempfile
    import time
    from pathlib import Path as FsPath

    import rasterio

    from hyperspectral.ortho_run import OrthoRunConfig, run
    from simulator.writer import run_simulation

    config = apply_overrides(
        default_config("open-pit"), {"camera": {"width": 96, "height": 72}, **overrides}
    )
    with tempfile.TemporaryDirectory() as tmp:
        sim_dir = FsPath(tmp) / "sim"
        run_simulation(config, sim_dir)
        ortho = OrthoRunConfig(
            dem=str(sim_dir / "dem.tif"),
            classify=ClassifyConfig(irradiance=str(sim_dir / "spectra.csv")),
            origin=str(sim_dir / "scene.json"),
            reference=str(sim_dir / "classes.tif"),
        )
        t0 = time.perf_counter()
        out = run(ortho, sim_dir / "open-pit.mcap", FsPath(tmp) / "ortho")
        seconds = time.perf_counter() - t0
        import json

        summary = json.loads((out / "report.json").read_text())["summary"]
        with rasterio.open(sim_dir / "classes.tif") as gt:
            scene = gt.bounds
        with rasterio.open(sim_dir / "dem.tif") as dem:
            cell = dem.res[0]
    w, s_, e, n = summary["extent_seen_wsen"]
    inside = (
        scene.left - cell <= w < e <= scene.right + cell
        and scene.bottom - cell <= s_ < n <= scene.top + cell
    )
    print(
        f"map from {what}: {summary['frames_used']}/{summary['frames']} used in {seconds:.1f} s, "
        f"{summary['area_seen_m2']:.0f} m2 seen, extent W{w:.1f} S{s_:.1f} E{e:.1f} N{n:.1f}; "
        f"scene (classes.tif) W{scene.left:.1f} S{scene.bottom:.1f} E{scene.right:.1f} "
        f"N{scene.top:.1f} ({summary['crs']}); within it to one DEM cell ({cell:g} m): {inside}"
    )
    zones = summary["reference_zones"]
    for name, zone in zones.items():
        print(f"  {name:<16} {zone['accuracy']:6.1%} of {zone['cells']} cells")
    contamination = [zones[z] for z in ("jarosite", "schwertmannite") if z in zones]
    cells = sum(z["cells"] for z in contamination)
    if cells:
        right = sum(z["correct"] for z in contamination)
        print(f"  contamination zones in map coordinates: {right / cells:.1%} of {cells} cells")


if __name__ == "__main__":
    main()
