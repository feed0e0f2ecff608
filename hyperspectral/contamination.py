"""Contamination weights of a library's classes: class name → mineral → weight, and why.

The heat map (``heat_map.tif``) is Σ weight(class) × membership(class). The weights are
decided per *mineral* (:data:`MINERAL_WEIGHTS`), never per class name, because every
library names its spectra differently: the bundled one ``jarosite``, USGS splib07
``Jarosite GDS99 K 200C Syn BECKa AREF``, splib06 ``Jarosite GDS98 K 90C Syn
s06av95a=a``. :func:`contamination_map` recognises each class's minerals with
:func:`hyperspectral.minerals.minerals_in` (the one place that knows mineral names); a
mixture (``Alunite_NH4+Jaro``) carries the highest weight of the minerals it names, since
the heat map screens for the *presence* of acid-mine-drainage minerals.

A user file (``--contamination FILE``, processor parameter ``contamination_csv``)
overrides weights: CSV rows ``key,weight`` (optional header, ``#`` comments) or a JSON
object ``{"key": weight}``, weight 0..1. A key is a mineral (``jarosite``,
``amd_precipitate``; see :func:`hyperspectral.minerals.known_minerals`), else an exact
class name, else a class-name prefix (``Jarosite GDS99``; the longest matching prefix
wins). Precedence per class: exact name > prefix > mineral > built-in. A key that is no
mineral and matches no class is an error (a typo would otherwise silently weigh nothing).

When no class maps to a weight > 0, a heat map would be all zero and read as "clean":
:attr:`ContaminationMap.warning` says so, and the products leave the heat map out.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from hyperspectral.errors import HyperspectralError
from hyperspectral.minerals import known_minerals, minerals_in

F32Array = npt.NDArray[np.float32]

_ACID_SALT = (
    "soluble Fe sulphate salt: efflorescence on oxidising pyritic waste, dissolves to acid "
    "with the next rain (stored acidity)"
)
_ACID_SULPHIDE = "iron sulphide: its oxidation generates the acid of acid mine drainage"
_BASE_METAL = "base-metal sulphide: releases Cu/Zn/Pb when oxidised, little acid on its own"

MINERAL_WEIGHTS: Final = MappingProxyType(
    {
        "jarosite": (1.0, "forms only in acid sulphate water (pH < 3): AMD, oxidised sulphides"),
        "schwertmannite": (1.0, "precipitates from acid mine drainage at pH 3-4.5"),
        "copiapite": (1.0, _ACID_SALT),
        "melanterite": (1.0, _ACID_SALT),
        "rozenite": (1.0, _ACID_SALT),
        "szomolnokite": (1.0, _ACID_SALT),
        "coquimbite": (1.0, _ACID_SALT),
        "amd_precipitate": (1.0, "measured AMD precipitate assemblage or mine-tunnel sludge"),
        "pyrite": (0.8, _ACID_SULPHIDE),
        "marcasite": (0.8, _ACID_SULPHIDE),
        "pyrrhotite": (0.8, _ACID_SULPHIDE + " (faster than pyrite)"),
        "arsenopyrite": (0.8, _ACID_SULPHIDE + ", and releases arsenic"),
        "ferrihydrite": (0.7, "AMD precipitate at pH > 5, carries adsorbed metals"),
        "goethite": (0.5, "Fe(III) oxyhydroxide of weathered sulphides and gossans; also natural"),
        "lepidocrocite": (0.5, "Fe(III) oxyhydroxide from Fe(II) oxidation; also natural"),
        "chalcopyrite": (0.3, _BASE_METAL),
        "sphalerite": (0.3, _BASE_METAL),
        "galena": (0.3, _BASE_METAL),
        "alunite": (0.3, "acid-sulphate alteration (natural or acid drainage)"),
        "gypsum": (0.3, "neutralised AMD (sulphate + carbonate); also evaporite"),
        "hematite": (0.3, "oxidised iron, often natural"),
    }
)
"""Mineral → (weight 0–1, why). Every other mineral (calcite, quartz, clays, micas,
water, vegetation...) weighs 0: not an acid-mine-drainage indicator."""

NO_MINERAL_WHY: Final = "no known mineral in the name: 0"


class ClassContamination(NamedTuple):
    """One class: the mineral that decided its weight (None: none recognised), the
    weight 0–1 and why."""

    mineral: str | None
    weight: float
    why: str


class ContaminationMap(Mapping[str, ClassContamination]):
    """Class name → :class:`ClassContamination`, in the classifier's class order."""

    def __init__(self, entries: Mapping[str, ClassContamination], source: str) -> None:
        self._entries = dict(entries)
        self.source = source
        """Where the weights come from: built-in, or the override file."""

    def __getitem__(self, name: str) -> ClassContamination:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def weights(self) -> F32Array:
        """Weight per class (float32, class order), for :func:`pipeline.contamination_index`."""
        return np.array([e.weight for e in self._entries.values()], np.float32)

    @property
    def mapped(self) -> bool:
        """Whether any class has a weight > 0 (else a heat map would be all zero)."""
        return any(e.weight > 0 for e in self._entries.values())

    @property
    def warning(self) -> str | None:
        """The line to print and report when no class maps to a contamination weight."""
        if self.mapped:
            return None
        return (
            f"no class of the library ({len(self)} classes) has a contamination weight > 0 "
            f"(weights: {self.source}); the heat map is not written, it would read as clean. "
            "Check the names with 'smartmine hsi library list' or give --contamination FILE"
        )

    def add_to_report(self, report: dict[str, Any]) -> None:
        """Put the ``contamination`` section (the mapping) into a report summary, and the
        warning (no class maps: no heat map) into its ``warnings`` list."""
        if self.warning:
            report.setdefault("warnings", []).append(self.warning)
        report["contamination"] = self.summary()

    def summary(self) -> dict[str, Any]:
        """The report's ``contamination`` section (the weighted classes in full)."""
        weighted = {n: e._asdict() for n, e in self._entries.items() if e.weight > 0}
        return {
            "weights": self.source,
            "classes": len(self),
            "classes_with_weight": len(weighted),
            "classes_without_mineral": sum(e.mineral is None for e in self._entries.values()),
            "weighted": weighted,
        }

    def table(self) -> Any:
        """A :class:`smartmine.report.Table` of every class with a mineral or a weight."""
        from smartmine.report import Table

        rows = [
            [name, e.mineral or "", e.weight, e.why]
            for name, e in self._entries.items()
            if e.mineral is not None or e.weight > 0
        ]
        others = len(self) - len(rows)
        title = "contamination weights (class -> mineral -> weight)" + (
            f"; {others} more classes name no known mineral: weight 0" if others else ""
        )
        return Table(title, ["class", "mineral", "weight", "why"], rows)


def mineral_weight(mineral: str | None) -> float:
    """The built-in weight of a mineral (0 for any not in :data:`MINERAL_WEIGHTS`)."""
    entry = MINERAL_WEIGHTS.get(mineral or "")
    return entry[0] if entry else 0.0


def class_weight(name: str) -> float:
    """The built-in weight of a class or spectrum name (its heaviest named mineral)."""
    return _by_mineral(name, {})[1]


def weights_for(
    classes: Sequence[str], override_path: str | Path = ""
) -> tuple[F32Array, ContaminationMap]:
    """Weights per class (float32, in ``classes`` order) and the mapping behind them."""
    cmap = contamination_map(classes, override_path)
    return cmap.weights, cmap


def contamination_map(classes: Sequence[str], override_path: str | Path = "") -> ContaminationMap:
    """Each class's mineral, weight and why (built-in, or overridden by the file)."""
    overrides = read_overrides(Path(override_path)) if str(override_path) else {}
    minerals = {k: v for k, v in overrides.items() if k in known_minerals()}
    names = {k: v for k, v in overrides.items() if k not in minerals}
    where = str(override_path)
    _check_keys_match(names, classes, where)
    entries: dict[str, ClassContamination] = {}
    for cls in classes:
        key = _name_key(cls, names)
        mineral, _, _ = _by_mineral(cls, {})
        if key is not None:
            why = f"{where}: {key!r} = {names[key]:g}"
            entries[cls] = ClassContamination(mineral, names[key], why)
        else:
            entries[cls] = ClassContamination(*_by_mineral(cls, minerals, where))
    source = f"built-in by mineral, overridden by {where}" if overrides else "built-in by mineral"
    return ContaminationMap(entries, source)


def _by_mineral(
    name: str, overrides: Mapping[str, float], where: str = ""
) -> tuple[str | None, float, str]:
    """(deciding mineral, weight, why) from the minerals the name names."""
    found = minerals_in(name)
    if not found:
        return None, 0.0, NO_MINERAL_WHY

    def weight(mineral: str) -> float:
        return overrides.get(mineral, mineral_weight(mineral))

    best = max(found, key=weight)  # first of the heaviest: max keeps the first on ties
    if best in overrides:
        why = f"{where}: {best!r} = {overrides[best]:g}"
    elif best in MINERAL_WEIGHTS:
        why = MINERAL_WEIGHTS[best][1]
    else:
        why = "not an acid-mine-drainage indicator: 0"
    if len(found) > 1:
        why = f"mixture of {', '.join(found)}: weight of {best}; {why}"
    return best, weight(best), why


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _name_key(cls: str, names: Mapping[str, float]) -> str | None:
    """The override key for a class: its exact name, else the longest matching prefix."""
    target = _normal(cls)
    if target in names:
        return target
    prefixes = [k for k in names if target.startswith(k)]
    return max(prefixes, key=len) if prefixes else None


def _check_keys_match(names: Mapping[str, float], classes: Sequence[str], where: str) -> None:
    normal = [_normal(c) for c in classes]
    for key in names:
        if not any(c.startswith(key) for c in normal):
            some = ", ".join(sorted(known_minerals()))
            raise HyperspectralError(
                f"{where}: entry {key!r} is no mineral ({some}) and no class name or "
                f"prefix of the library's {len(classes)} classes"
            )


def read_overrides(path: Path) -> dict[str, float]:
    """Key (normalised: lower case, single spaces) → weight 0–1 from a CSV or JSON file;
    any bad entry is an error naming the file and the entry."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise HyperspectralError(f"{path}: cannot read the contamination weights ({err})") from err
    pairs = _json_pairs(path, text) if path.suffix.lower() == ".json" else _csv_pairs(path, text)
    weights: dict[str, float] = {}
    for key, value in pairs:
        name = _normal(key)
        if not name:
            raise HyperspectralError(f"{path}: entry with an empty name (weight {value!r})")
        if name in weights:
            raise HyperspectralError(f"{path}: entry {key!r} given twice")
        weights[name] = _weight(path, key, value)
    if not weights:
        raise HyperspectralError(f"{path}: no contamination weights in the file")
    return weights


def _weight(path: Path, key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise HyperspectralError(f"{path}: entry {key!r}: weight {value!r} is not a number 0..1")
    return number


def _json_pairs(path: Path, text: str) -> list[tuple[str, Any]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise HyperspectralError(f"{path}: not JSON ({err})") from err
    if not isinstance(doc, dict):
        raise HyperspectralError(f"{path}: want a JSON object {{name: weight 0..1}}")
    return [(str(k), v) for k, v in doc.items()]


def _csv_pairs(path: Path, text: str) -> list[tuple[str, Any]]:
    rows = [
        (line_no, row)
        for line_no, row in enumerate(csv.reader(io.StringIO(text)), start=1)
        if row and any(c.strip() for c in row) and not row[0].lstrip().startswith("#")
    ]
    pairs: list[tuple[str, Any]] = []
    for i, (line_no, row) in enumerate(rows):
        if len(row) != 2:
            raise HyperspectralError(
                f"{path}: line {line_no}: want 'name,weight', got {len(row)} fields"
            )
        key, value = row[0].strip(), row[1].strip()
        if i == 0 and _is_header(value):
            continue
        pairs.append((key, value))
    return pairs


def _is_header(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return value.lower() in {"weight", "contamination", "contamination_weight"}
    return False
