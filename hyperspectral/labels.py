"""Reference label rasters (``--labels``) and the agreement of a class map with them.

Which value is "unlabelled" comes from the file: an ENVI classification (or any ENVI file
with ``class names``) names its values, and value 0 is unlabelled only when
``class names[0]`` says so ("Unclassified", "No data", "unlabelled", "background" ...,
see :data:`UNLABELLED_NAMES`); otherwise 0 is a real class (pycoal wrote maps whose first
class is a mineral). Files without names (``.npy``, ``.tif``, ``.mat``, ENVI without
``class names``) keep the common convention 0 = unlabelled and name their classes
``class_N``. Agreement compares class *names* (case-insensitive), so the reference and
the map may number their classes differently; it is None, with a reason, when no
pixel could be compared (never a 0.0 that looks like a measurement).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError

I64Array = npt.NDArray[np.int64]
UNLABELLED_NAMES = frozenset(
    {
        "unclassified",
        "notclassified",
        "nodata",
        "unlabelled",
        "unlabeled",
        "nolabel",
        "background",
        "masked",
        "none",
        "void",
        "ignore",
        "ignored",
        "null",
    }
)
"""``class names[0]`` values (lower case, letters only) that make 0 "unlabelled"."""


def is_unlabelled_name(name: str) -> bool:
    """Whether a class name means "no class" ("No data", "Unclassified", "un-labelled")."""
    return re.sub(r"[^a-z]", "", name.lower()) in UNLABELLED_NAMES


def _read_raw(path: Path, shape: tuple[int, int]) -> tuple[npt.NDArray[Any], list[str] | None]:
    """The label array as stored and the file's class names (None: the file names none)."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise HyperspectralError(f"{path}: no such label file")
    if suffix == ".npy":
        try:
            raw = np.load(path, allow_pickle=False)
        except ValueError as err:
            reason = "objects (pickled), not numbers" if "allow_pickle" in str(err) else str(err)
            raise HyperspectralError(f"{path}: not a label array ({reason})") from None
        except (OSError, EOFError) as err:
            raise HyperspectralError(f"{path}: not a .npy file ({err})") from None
        if not isinstance(raw, np.ndarray):
            raise HyperspectralError(f"{path}: not a single label array")
        return raw, None
    if suffix == ".mat":
        from scipy.io import loadmat

        try:
            mat = loadmat(str(path))
        except Exception as err:  # scipy raises several classes for a bad file
            raise HyperspectralError(f"{path}: not a MATLAB v5 file ({err})") from None
        arrays = [
            v for k, v in mat.items() if not k.startswith("__") and getattr(v, "ndim", 0) == 2
        ]
        arrays = [v for v in arrays if v.shape == shape] or arrays
        if not arrays:
            raise HyperspectralError(f"{path}: no 2-D label array")
        return arrays[0], None
    if suffix in {".tif", ".tiff"}:
        import rasterio
        from rasterio.errors import RasterioError

        try:
            with rasterio.open(path) as src:
                return src.read(1), None
        except RasterioError as err:
            raise HyperspectralError(f"{path}: not a readable GeoTIFF ({err})") from None
    from hyperspectral.cube import open_envi

    image = open_envi(path)
    class_names = image.metadata.get("class names")
    names = [str(n).strip() for n in class_names] if isinstance(class_names, list) else None
    return np.asarray(image.data)[..., 0], names or None


def read_labels(path: Path, shape: tuple[int, int]) -> tuple[I64Array, list[str]]:
    """Label raster as (h, w) int64 with −1 for unlabelled and classes 0..C−1 (the values
    present, in order), and their names.

    0 is unlabelled unless the file's ``class names[0]`` is a real class (see the module
    docstring). ``.npy`` files are read without pickle (``allow_pickle=False``: a pickled
    object array could run code), and every format must hold whole numbers 0..65535 of
    ``shape``."""
    raw, file_names = _read_raw(Path(path), shape)
    raw = np.asarray(raw)
    if raw.dtype.kind not in "iufb":
        raise HyperspectralError(f"{path}: labels are {raw.dtype}, not numbers")
    if raw.shape != shape:
        raise HyperspectralError(f"{path}: labels are {raw.shape}, the cube {shape}")
    if raw.dtype.kind == "f" and (not np.isfinite(raw).all() or (raw != np.round(raw)).any()):
        raise HyperspectralError(f"{path}: labels must be whole numbers (NaN or fractions)")
    zero_is_class = bool(file_names) and not is_unlabelled_name(file_names[0])  # type: ignore[index]
    if raw.size and (raw.min() < 0 or raw.max() > 65535):
        zero = "0 is a class" if zero_is_class else "0 = unlabelled"
        raise HyperspectralError(
            f"{path}: labels must be 0..65535 (have {raw.min()}..{raw.max()}; {zero})"
        )
    values = raw.astype(np.int64)
    present = np.unique(values[values >= 0] if zero_is_class else values[values > 0])
    remap = -np.ones(int(values.max(initial=0)) + 1, np.int64)
    remap[present] = np.arange(len(present))
    if file_names is None:
        names = [f"class_{int(v)}" for v in present]
    else:
        names = [file_names[v] if v < len(file_names) else f"class_{v}" for v in present.tolist()]
    return remap[values], names


def compare_with_labels(
    reference: tuple[I64Array, list[str]],
    labels: npt.NDArray[np.uint16],
    names: list[str] | tuple[str, ...],
    out: Path,
) -> tuple[dict[str, Any], Any]:
    """Agreement of a class map (``labels`` 1..C named ``names``, 0 = unclassified / no
    data) with the reference, by class name (case-insensitive): the share of labelled
    reference pixels whose class we gave them (pixels we left unclassified count as
    disagreeing). Returns the report entries (``agreement_with_labels``: None with
    ``agreement_reason`` when nothing was compared; ``labelled_pixels``,
    ``labelled_pixels_classified``) and a per-reference-class table; writes confusion.png."""
    from hyperspectral import outputs
    from smartmine.report import Table

    truth, truth_names = reference
    ours = ["unclassified", *names]
    matrix = np.zeros((len(truth_names), len(ours)), np.int64)
    mask = truth >= 0
    np.add.at(matrix, (truth[mask], labels[mask].astype(np.int64)), 1)
    lookup = {n.lower(): i for i, n in enumerate(ours) if i > 0}
    rows, agree = [], 0
    for t, name in enumerate(truth_names):
        same = lookup.get(name.lower())
        hits = int(matrix[t, same]) if same is not None else 0
        agree += hits
        total = int(matrix[t].sum())
        rows.append([name, total, hits, round(hits / total, 4) if total else None])
    labelled = int(mask.sum())
    classified = int(matrix[:, 1:].sum())
    entries: dict[str, Any] = {
        "agreement_with_labels": round(agree / labelled, 6) if classified else None,
        "labelled_pixels": labelled,
        "labelled_pixels_classified": classified,
    }
    if labelled == 0:
        entries["agreement_reason"] = (
            "the reference has no labelled pixel (every value is its unlabelled class)"
        )
    elif classified == 0:
        entries["agreement_reason"] = (
            "no labelled pixel overlaps a classified pixel (ours are unclassified or no "
            "data wherever the reference has a label)"
        )
    if labelled:
        used = np.flatnonzero(matrix.sum(axis=0))  # only the classes we predicted there
        outputs.confusion_png(
            out / "confusion.png", matrix[:, used], truth_names, [ours[i] for i in used]
        )
    columns = ["reference class", "pixels", "same class", "agreement"]
    return entries, Table("agreement with the reference labels", columns, rows)
