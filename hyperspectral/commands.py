"""``smartmine hsi calibrate|classify|ortho|train|library|unmix``: argparse wiring only; the
hyperspectral modules (numpy, spectral, torch) load when a subcommand runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hyperspectral.pipeline import ClassifyConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hsi = sub.add_parser(
        "hsi",
        help="hyperspectral: calibrate cubes, classify minerals and contamination, libraries",
        description="Hyperspectral contamination mapping: radiometric calibration, spectral "
        "libraries (bundled USGS splib07 subset, ENVI .sli, CSV), SAM/SID library "
        "classification and a trained spectral-spatial model, georeferenced class and heat "
        "maps (COG), ENVI classification files, report.json.",
    )
    cmds = hsi.add_subparsers(dest="hsi_command", metavar="COMMAND", required=True)
    _add_classify(cmds)
    _add_ortho(cmds)
    _add_calibrate(cmds)
    _add_library(cmds)
    _add_train(cmds)
    _add_unmix(cmds)


def _add_classify(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser(
        "classify",
        help="classify a cube (library SAM/SID or a trained model)",
        description="Classify every pixel against a spectral library (SAM/SID) or with a "
        "trained model. The library classifier drops water-absorption and bbl bands, "
        "resamples the library to the sensor by FWHM and leaves out library spectra with "
        "gaps in the cube's range; pycoal did none of these, so its class maps differ "
        "(on pycoal's four AVIRIS-NG reference cubes: 0-12 % of labelled pixels agree, "
        "61-92 % with --keep-bad-bands); --compat pycoal reproduces them pixel for pixel.",
    )
    p.add_argument("cube", type=Path, help="ENVI .hdr/.img, MATLAB .mat or a bag")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_library_classifier_args(p)
    p.add_argument(
        "--model", type=Path, help="trained model (.pt from 'hsi train') instead of a library"
    )
    p.add_argument(
        "--labels",
        type=Path,
        help="reference labels (ENVI classification with class names, .tif, .npy, .mat): "
        "confusion matrix and agreement by class name in the report (also with --model). "
        "Value 0 is unlabelled only where class names[0] says so (Unclassified, No data, "
        "...) or the file has no names; agreement is null with a reason when no pixel "
        "could be compared",
    )
    p.add_argument(
        "--wavelengths",
        type=Path,
        help="band centres of the cube (text, one nm value per line) where its header has "
        "none (MATLAB cubes)",
    )
    p.add_argument(
        "--compat",
        choices=["pycoal"],
        help="reproduce another tool's classifier: 'pycoal' = pycoal's SAM (pixels resampled "
        "onto the raw ENVI --library, every band, missing points kept as sentinels, no data "
        "where band 1 is -0.005 or -50; classes = spectrum names), to check its class maps "
        "pixel for pixel; implies --keep-bad-bands, refuses --method sid, "
        "--continuum-removal, --irradiance, --classes, --class-threshold; --threshold is the "
        "largest angle in radians (pycoal's threshold t = 1 - angle/pi). The default differs "
        "on purpose: bad bands dropped, the library resampled to the sensor by FWHM, spectra "
        "with gaps in the cube's range left out",
    )
    p.add_argument(  # hsimem (issue 20)
        "--ambiguous-margin",
        type=float,
        metavar="SCORE",
        help="flag pixels whose best class beats the runner-up by less than this (SAM: "
        "radians, default 0.005; SID: default 0.0007; 0 = off) in ambiguous.tif and the "
        "report; labels are kept",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the products in --out")
    p.set_defaults(handler=_classify)


def _add_library_classifier_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--library", default="bundled", help="bundled (default), .sli/.hdr or .csv")
    p.add_argument("--classes", nargs="*", default=[], help="library classes/spectra to use")
    p.add_argument("--method", choices=["sam", "sid"], default="sam")
    p.add_argument("--threshold", type=float, help="max score for all classes (SAM: radians)")
    p.add_argument(
        "--class-threshold",
        action="append",
        default=[],
        metavar="CLASS=MAX",
        help="max score for one class (repeatable)",
    )
    p.add_argument(
        "--keep-bad-bands", action="store_true", help="use water-absorption and bbl bands too"
    )
    p.add_argument("--continuum-removal", action="store_true")
    p.add_argument("--tile-mb", type=float, default=16.0, help="tile size (default 16 MB)")
    p.add_argument(
        "--irradiance",
        type=Path,
        help="CSV of the illumination spectrum (irradiance_rel) to divide at-sensor cubes by",
    )
    _add_contamination_arg(p)


def _add_contamination_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--contamination",
        type=Path,
        metavar="FILE",
        help="contamination weights overriding the built-in ones (by the mineral each class "
        "name names, see 'hsi library list'): CSV 'name,weight' or JSON {name: weight}, "
        "name = mineral, class name or class-name prefix, weight 0..1. No class with a "
        "weight > 0: no heat map, a warning, exit 3",
    )


def _classify_config(args: argparse.Namespace) -> ClassifyConfig:
    """The ClassifyConfig of the library-classifier arguments."""
    import math

    from hyperspectral.errors import HyperspectralError
    from hyperspectral.pipeline import ClassifyConfig, check_classify_config

    class_thresholds: dict[str, float] = {}
    for item in args.class_threshold:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number) or number < 0:
            raise HyperspectralError(
                f"--class-threshold {item!r}: want CLASS=MAX (a finite score >= 0)"
            )
        class_thresholds[name.strip()] = number
    config = ClassifyConfig(
        library=str(args.library),
        classes=list(args.classes),
        method=args.method,
        threshold=args.threshold,
        class_thresholds=class_thresholds,
        drop_bad_bands=not args.keep_bad_bands,
        continuum_removal=args.continuum_removal,
        tile_mb=args.tile_mb,
        labels=str(getattr(args, "labels", None) or ""),
        wavelengths=str(getattr(args, "wavelengths", None) or ""),
        irradiance=str(args.irradiance or ""),
        compat=str(getattr(args, "compat", None) or ""),
        contamination=str(args.contamination or ""),
        ambiguous_margin=getattr(args, "ambiguous_margin", None),
    )
    if config.compat:  # what pycoal did: every band, the raw library (sentinels kept)
        config.drop_bad_bands = False
        config.skip_incomplete_spectra = False
    check_classify_config(config)
    return config


def _add_ortho(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser(
        "ortho",
        help="classify a bag's frames/lines and orthorectify them onto a DEM (COG maps)",
        description="Every /hyperspectral/image_raw frame or push-broom line is classified "
        "and projected onto the DEM with its camera_info and its pose at its stamp (bag TF, "
        "or --poses TUM), hidden terrain excluded (line of sight over the DEM), frames merged "
        "by best view; class map, heat map, similarity and view count as Cloud-Optimized "
        "GeoTIFFs in the DEM's CRS, per-class area (m2) in report.json.",
    )
    p.add_argument("bag", type=Path, help="bag with /hyperspectral/image_raw and camera_info")
    p.add_argument("--dem", type=Path, required=True, help="DEM GeoTIFF (projected CRS)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--origin",
        default="",
        help="poses are local ENU at LAT,LON,ALT (or the origin of a scene.json); "
        "default: poses are in the DEM's CRS",
    )
    p.add_argument(
        "--poses", type=Path, help="TUM file of the hyperspectral camera's poses (default: bag TF)"
    )
    p.add_argument("--camera", type=Path, help="camera YAML for frames without camera_info")
    p.add_argument("--merge", choices=["best_view", "nearest"], default="best_view")
    p.add_argument("--max-incidence-deg", type=float, default=80.0)
    p.add_argument(
        "--cell-m", type=float, help="map cell size in metres (default: the DEM's own grid)"
    )
    p.add_argument(
        "--reference",
        type=Path,
        help="zone raster with a 'zones' tag (e.g. the simulator's classes.tif): "
        "accuracy per zone in map coordinates in the report",
    )
    _add_library_classifier_args(p)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=_ortho)


def _ortho(args: argparse.Namespace) -> int:
    import json

    from hyperspectral.ortho_run import OrthoRunConfig, run

    config = OrthoRunConfig(
        dem=str(args.dem),
        classify=_classify_config(args),
        poses=str(args.poses or ""),
        origin=str(args.origin),
        camera=str(args.camera or ""),
        merge=args.merge,
        max_incidence_deg=args.max_incidence_deg,
        cell_m=args.cell_m,
        reference=str(args.reference or ""),
    )
    out = run(config, args.bag, args.out, overwrite=args.overwrite)
    summary = json.loads((out / "report.json").read_text())["summary"]
    print(
        f"{summary['frames_used']}/{summary['frames']} frames, {summary['area_seen_m2']:.0f} m2 "
        f"seen, extent {summary['extent_seen_wsen']} ({summary['crs']})"
    )
    for name, zone in summary.get("reference_zones", {}).items():
        print(f"  {name}: {zone['accuracy']:.1%} of {zone['cells']} cells")
    print(f"-> {out}")
    return _report_warnings(out)


def _add_calibrate(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser("calibrate", help="raw cube -> reflectance (dark/white or empirical line)")
    p.add_argument("cube", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output ENVI header (.hdr)")
    p.add_argument("--dark", type=Path, help="dark reference cube")
    p.add_argument("--white", type=Path, help="white reference cube")
    p.add_argument(
        "--white-reflectance",
        type=float,
        default=1.0,
        help="reflectance of the white panel (default 1.0)",
    )
    p.add_argument(
        "--per-band",
        action="store_true",
        help="one reference per band (default: per column, push-broom)",
    )
    p.add_argument(
        "--targets",
        type=Path,
        help="empirical line: CSV of known target reflectance, columns 'NAME@LINE,SAMPLE'",
    )
    p.add_argument("--target-radius", type=int, default=1, help="pixels around each target")
    p.add_argument("--drop-bad-bands", action="store_true", help="write only good bands")
    p.add_argument("--min-snr", type=float, default=0.0, help="drop bands below this SNR")
    p.add_argument("--continuum-removal", action="store_true")
    p.add_argument(
        "--wavelengths",
        type=Path,
        help="band centres of the cube (text, one nm value per line) where its header has "
        "none (MATLAB cubes)",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(handler=_calibrate)


def _add_library(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser("library", help="list or show spectral library spectra")
    lib = p.add_subparsers(dest="library_command", metavar="ACTION", required=True)
    ls = lib.add_parser(
        "list",
        help="list the spectra, their classes and each class's contamination mineral and weight",
    )
    ls.add_argument("--library", default="bundled")
    _add_contamination_arg(ls)
    ls.set_defaults(handler=_library_list)
    show = lib.add_parser("show", help="print (and plot) spectra by class or name")
    show.add_argument("names", nargs="+")
    show.add_argument("--library", default="bundled")
    show.add_argument("--plot", type=Path, help="write a PNG plot here")
    show.add_argument(
        "--wavelengths",
        type=Path,
        help="resample to these band centres (text, one nm value per line)",
    )
    show.set_defaults(handler=_library_show)


def _add_train(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser("train", help="train the spectral-spatial CNN on a labelled cube")
    p.add_argument("cube", type=Path, help="cube (ENVI, .mat)")
    p.add_argument(
        "--labels",
        type=Path,
        required=True,
        help="label raster: ENVI classification, .mat (2-D), GeoTIFF or .npy; 0 = unlabelled",
    )
    p.add_argument("--out", type=Path, required=True, help="model file (.pt)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patch", type=int, default=5, help="patch size (odd)")
    p.add_argument(
        "--per-class",
        type=int,
        default=0,
        help="labelled samples per class to train on (0 = all of the training half)",
    )
    p.add_argument(
        "--gan-augment", action="store_true", help="add WGAN-GP spectra for rare classes"
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_train)


def _add_unmix(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cmds.add_parser(
        "unmix",
        help="fully constrained unmixing: endmembers from a file or extracted (VCA/N-FINDR/ATGP)",
        description="FCLS abundances (>= 0, summing to one) of every pixel for endmembers "
        "from a spectral library or spectra file (--endmembers) or extracted from the cube "
        "(--extract N: the best of --restarts runs by reconstruction error, refined to the "
        "mean of each endmember's pure pixels). Products in --out: abundances.tif (COG) and "
        "abundances.hdr/.img (ENVI), residual_rmse.tif, endmembers.csv and endmembers.sli "
        "(ENVI library), endmembers.png, report.json/.html, config.json.",
    )
    p.add_argument("cube", type=Path, help="ENVI .hdr/.img, MATLAB .mat or a bag")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--endmembers",
        help="spectral library (bundled, .sli/.hdr, CSV with wavelengths: resampled to the "
        "cube's bands), or spectra on the cube's bands (CSV with a 'band' column, ENVI "
        "library without wavelengths, .mat with M)",
    )
    source.add_argument("--extract", type=int, metavar="N", help="extract N endmembers")
    p.add_argument("--method", choices=["vca", "nfindr", "atgp"], default="vca")
    p.add_argument("--seed", type=int, default=0, help="random seed of the extraction")
    p.add_argument(
        "--restarts", type=int, default=10, help="extraction runs; the lowest FCLS RMSE is kept"
    )
    p.add_argument(
        "--no-refine",
        action="store_true",
        help="keep the extracted vertex pixels (default: the mean of each one's pure pixels)",
    )
    p.add_argument(
        "--classes", nargs="+", default=[], help="library classes/spectra to use as endmembers"
    )
    p.add_argument(
        "--variable",
        help="the cube's variable in a .mat file (default: Y/data/V, else the largest "
        "bands x pixels or lines x samples x bands array)",
    )
    p.add_argument(
        "--wavelengths",
        type=Path,
        help="band centres of the cube (text, one nm value per line) where it has none "
        "(MATLAB cubes); needed to resample a library",
    )
    p.add_argument(
        "--truth",
        type=Path,
        help="true endmembers (and abundances): .mat with M (and A), or an endmember file; "
        "SAD and abundance RMSE per endmember in the output and report",
    )
    p.add_argument("--tile-mb", type=float, default=16.0, help="tile size (default 16 MB)")
    p.add_argument("--overwrite", action="store_true", help="replace the products in --out")
    p.set_defaults(handler=_unmix)


def _classify(args: argparse.Namespace) -> int:
    import json

    from hyperspectral.errors import HyperspectralError

    if args.model is not None:
        from hyperspectral.model import classify_with_model

        if args.compat:
            raise HyperspectralError(
                f"--compat {args.compat} contradicts --model (compat reproduces a library "
                "classifier)"
            )
        out = classify_with_model(
            args.model,
            args.cube,
            args.out,
            overwrite=args.overwrite,
            labels=args.labels,
            contamination_path=str(args.contamination or ""),
        )
        summary = json.loads((out / "report.json").read_text())["summary"]
        _print_agreement(summary)
        print(f"classified with {args.model} -> {out}")
        return _report_warnings(out)
    from hyperspectral.pipeline import run

    config = _classify_config(args)
    out = run(config, args.cube, args.out, overwrite=args.overwrite)
    report = json.loads((out / "report.json").read_text())
    table = report["tables"][0]
    for row in table["rows"]:
        entry = dict(zip(table["columns"], row, strict=True))
        if entry["pixels"]:
            area = f" {entry['area_m2']:.1f} m2" if "area_m2" in entry else ""
            print(f"{entry['name']}: {entry['pixels']} px{area}")
    summary = report["summary"]
    _print_agreement(summary)
    print(f"{summary['crs'] or 'image coordinates (no CRS)'} -> {out}")
    return _report_warnings(out)


def _report_warnings(out: Path) -> int:
    """Print the report's warnings on stderr; EXIT_WARNINGS if there are any, else 0."""
    import json
    import sys

    from smartmine.cli import EXIT_WARNINGS

    warnings = json.loads((out / "report.json").read_text()).get("warnings", [])
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    return EXIT_WARNINGS if warnings else 0


def _print_agreement(summary: dict[str, object]) -> None:
    """One line on the agreement with ``--labels`` (n/a with the reason), if given."""
    if "labelled_pixels" not in summary:
        return
    agreement = summary.get("agreement_with_labels")
    if isinstance(agreement, float | int):
        print(f"agreement with labels: {agreement:.1%} of {summary['labelled_pixels']} labelled px")
    else:
        print(f"agreement with labels: n/a ({summary.get('agreement_reason')})")


def _calibrate(args: argparse.Namespace) -> int:
    from hyperspectral.calibration_run import calibrate_command

    out = calibrate_command(args)
    print(f"reflectance -> {out}")
    return 0


def _library_list(args: argparse.Namespace) -> int:
    """Every spectrum with its class, the class's contamination mineral, weight and why;
    exit 3 when no class carries a weight (a heat map with this library would be empty)."""
    import sys

    from hyperspectral.contamination import contamination_map
    from hyperspectral.library import load_library
    from smartmine.cli import EXIT_WARNINGS

    lib = load_library(args.library)
    cmap = contamination_map(lib.class_names, str(args.contamination or ""))
    wl = lib.wavelengths_nm
    print(f"{lib.source}: {len(lib)} spectra, {len(wl)} bands {wl.min():.0f}-{wl.max():.0f} nm")
    print(f"contamination weights: {cmap.source} (class blank: the spectrum is its own class)")
    print(f"{'class':<18} {'weight':>6}  {'mineral':<16} spectrum  (why)")
    for name, cls in zip(lib.names, lib.classes, strict=True):
        entry = cmap[cls]
        label = cls if cls != name else ""
        print(f"{label:<18} {entry.weight:>6.2f}  {entry.mineral or '-':<16} {name}  ({entry.why})")
    weighted = sum(e.weight > 0 for e in cmap.values())
    print(f"{weighted} of {len(cmap)} classes carry a contamination weight")
    if cmap.warning:
        print(f"warning: {cmap.warning}", file=sys.stderr)
        return EXIT_WARNINGS
    return 0


def _library_show(args: argparse.Namespace) -> int:
    import numpy as np

    from hyperspectral.cube import read_wavelength_file
    from hyperspectral.library import load_library

    lib = load_library(args.library).subset(list(args.names))
    if args.plot is not None:
        from smartmine.paths import check_output_path

        check_output_path(args.plot, "--plot", folder=False)
    if args.wavelengths is not None:
        lib = lib.resample(read_wavelength_file(args.wavelengths))
    for name, cls, spectrum in zip(lib.names, lib.classes, lib.spectra, strict=True):
        finite = spectrum[np.isfinite(spectrum)]
        print(
            f"{cls}: {name}  ({len(finite)}/{len(spectrum)} points, "
            f"reflectance {finite.min():.3f}-{finite.max():.3f})"
        )
    if args.plot is not None:
        from hyperspectral.outputs import spectra_png

        spectra_png(
            args.plot,
            lib.wavelengths_nm,
            lib.spectra,
            [f"{c}: {n}" for c, n in zip(lib.classes, lib.names, strict=True)],
            lib.source,
        )
        print(f"plot -> {args.plot}")
    else:
        print("wavelength_nm," + ",".join(lib.names))
        for b, w in enumerate(lib.wavelengths_nm):
            print(
                f"{w:.2f},"
                + ",".join("" if not np.isfinite(v) else f"{v:.5f}" for v in lib.spectra[:, b])
            )
    return 0


def _train(args: argparse.Namespace) -> int:
    from hyperspectral.model import train_command

    out = train_command(args)
    print(f"model -> {out}")
    return 0


def _unmix(args: argparse.Namespace) -> int:
    from hyperspectral.unmix_run import UnmixConfig, run, score_lines
    from smartmine.cli import EXIT_WARNINGS

    config = UnmixConfig(
        endmembers=str(args.endmembers or ""),
        extract=int(args.extract or 0),
        method=args.method,
        seed=args.seed,
        restarts=args.restarts,
        refine=not args.no_refine,
        classes=list(args.classes),
        variable=str(args.variable or ""),
        wavelengths=str(args.wavelengths or ""),
        truth=str(args.truth or ""),
        tile_mb=args.tile_mb,
    )
    summary = run(config, args.cube, args.out, overwrite=args.overwrite)
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    for line in score_lines(summary):
        print(line)
    print(f"-> {args.out}")
    return EXIT_WARNINGS if summary["warnings"] else 0
