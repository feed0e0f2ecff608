#!/usr/bin/env python3
"""Derive the bundled spectral library (hyperspectral/data/usgs_splib07_mine.csv).

Input: the USGS splib07 library convolved to AVIRIS-1995 bands in ENVI format
(``s07_AV95_envi.sli``/``.hdr``, as in ../shared/data/hyperspectral/usgs_speclib_envi/,
from capstone-coal/pycoal). The spectra are a US Government work in the public domain
(Kokaly et al. 2017, USGS Spectral Library Version 7, USGS Data Series 1035).

Output: one CSV column per selected spectrum (header ``class: splib07 name``), wavelength
and FWHM in nm, reflectance to 5 decimals, missing points blank. Run:

    .venv/bin/python scripts/derive_hsi_library.py \
        ../shared/data/hyperspectral/usgs_speclib_envi/s07_AV95_envi.hdr
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

# class -> splib07 names (prefix match on the library's name); BECK/ASD measurements
SELECTION: dict[str, list[str]] = {
    "jarosite": [
        "Jarosite GDS99 K 200C Syn     BECKa",
        "Jarosite GDS24 Na             BECKb",
        "Jarosite JR2501 (K)           BECKb",
    ],
    "schwertmannite": ["Schwertmannite BZ93-1         BECKb"],
    "copiapite": ["Copiapite GDS21               BECKb"],
    "ferrihydrite": ["Ferrihydrite GDS75 Syn F6     BECKb"],
    "goethite": ["Goethite WS222 Medium Gr.     BECKa", "Goethite HS36.3               BECKb"],
    "hematite": ["Hematite GDS27                BECKa", "Hematite_Coatd_Qtz BR93-34C   BECKa"],
    "amd_precipitate": [
        "Acid_Mine_Dr Assemb2-Fe3+    ASDFRb",
        "Renyolds_Tnl_Sludge SM93-15   BECKa",
    ],
    "pyrite": ["Pyrite LV95-6A Weath on Tail  BECKb"],
    "gypsum": ["Gypsum SU2202                 BECKa", "Gypsum HS333.3B (Selenite)    BECKa"],
    "kaolinite": ["Kaolinite KGa-1 (wxl)         BECKb", "Kaolinite CM9                 BECKb"],
    "alunite": ["Alunite GDS84 Na03            BECKa", "Alunite HS295.3B              BECKa"],
    "calcite": ["Calcite WS272                 BECKa"],
    "quartz": ["Quartz GDS74 Sand Ottawa      BECKc"],
    "muscovite": ["Muscovite GDS107              BECKa"],
    "montmorillonite": ["Montmorillonite SWy-1         BECKb"],
    "basalt": ["Basalt_weathered BR93-43      BECKb"],
    "vegetation": [
        "Lawn_Grass GDS91 green        BECKa",
        "Grass_Golden_Dry GDS480      ASDFRa",
        "Aspen_Leaf-A DW92-2           BECKa",
    ],
    "water": ["Seawater_Coast_Chl SW1        BECKa", "Seawater_Open_Ocean SW2 lwch  BECKa"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("library", type=Path, help="s07_AV95_envi.hdr")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1]
        / "hyperspectral"
        / "data"
        / "usgs_splib07_mine.csv",
    )
    args = parser.parse_args()
    import numpy as np
    from spectral.io import envi

    lib = envi.open(str(args.library), str(args.library.with_suffix(".sli")))
    names = [str(n) for n in lib.names]
    spectra = np.asarray(lib.spectra, dtype=np.float64)
    wl_nm = np.asarray(lib.bands.centers) * 1000.0
    fwhm_nm = np.asarray(lib.bands.bandwidths) * 1000.0
    columns: list[tuple[str, np.ndarray]] = []
    for cls, wanted in SELECTION.items():
        for prefix in wanted:
            hits = [i for i, n in enumerate(names) if n.startswith(prefix)]
            if len(hits) != 1:
                raise SystemExit(f"{prefix!r}: {len(hits)} matches in {args.library}")
            columns.append((f"{cls}: {' '.join(names[hits[0]].split())}", spectra[hits[0]]))
    buf = io.StringIO()
    buf.write("# USGS Spectral Library Version 7 (splib07a), convolved to AVIRIS-1995 bands;\n")
    buf.write("# public domain (Kokaly et al. 2017, USGS Data Series 1035, doi:10.3133/ds1035).\n")
    buf.write(f"# Derived by scripts/derive_hsi_library.py from {args.library.name}.\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["wavelength_nm", "fwhm_nm", *(c[0] for c in columns)])
    for b in range(len(wl_nm)):
        row = [f"{wl_nm[b]:.2f}", f"{fwhm_nm[b]:.2f}"]
        for _, values in columns:
            v = values[b]
            row.append("" if v < -1e30 else f"{v:.5f}")
        writer.writerow(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(buf.getvalue(), encoding="utf-8")
    print(
        f"{len(columns)} spectra x {len(wl_nm)} bands -> {args.out} ({len(buf.getvalue())} bytes)"
    )


if __name__ == "__main__":
    main()
