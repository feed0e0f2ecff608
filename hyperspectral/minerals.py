"""Which mineral (or material) a library spectrum is, from its name.

Spectral libraries name their spectra freely: USGS splib07 writes ``Jarosite GDS99 K 200C
Syn BECKa AREF``, splib06 ``Jarosite GDS100 Na;Sy 90C s06av95a=a``, ECOSTRESS
``jhu.becknic...``, and a user's CSV ``jarosite: field sample 3``. Everything that
depends on *what* a spectrum is (the contamination weight of a class, the simulator
drawing a zone's reflectance from another library) goes through :func:`mineral_of`, so a
library nobody here has seen still maps onto the same minerals.

The name is split into words (letters only, hyphen/underscore/``+``/space/digits
separating them); the first word that names a known mineral decides. Group names map to
their group (ammonio-/natro-/plumbo-jarosite → jarosite); AMD assemblages and tunnel
sludges map to ``amd_precipitate``. Sulphides that are not pyrite (arsenopyrite,
chalcopyrite) keep their own names: their weight is a separate decision.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Final

MINERAL_WORDS: Final = MappingProxyType(
    {
        "jarosite": "jarosite",
        "natrojarosite": "jarosite",
        "ammoniojarosite": "jarosite",
        "plumbojarosite": "jarosite",
        "hydroniumjarosite": "jarosite",
        "schwertmannite": "schwertmannite",
        "copiapite": "copiapite",
        "ferricopiapite": "copiapite",
        "ferrihydrite": "ferrihydrite",
        "goethite": "goethite",
        "lepidocrocite": "lepidocrocite",
        "lepidocrosite": "lepidocrocite",  # splib06's spelling
        "hematite": "hematite",
        "pyrite": "pyrite",
        "marcasite": "marcasite",
        "arsenopyrite": "arsenopyrite",
        "chalcopyrite": "chalcopyrite",
        "melanterite": "melanterite",
        "rozenite": "rozenite",
        "szomolnokite": "szomolnokite",
        "coquimbite": "coquimbite",
        "alunite": "alunite",
        "gypsum": "gypsum",
        "kaolinite": "kaolinite",
        "calcite": "calcite",
        "dolomite": "dolomite",
        "quartz": "quartz",
        "muscovite": "muscovite",
        "sericite": "muscovite",
        "montmorillonite": "montmorillonite",
        "basalt": "basalt",
        "granite": "granite",
        "limestone": "limestone",
        "water": "water",
        "seawater": "water",
        "grass": "vegetation",
        "cheatgrass": "vegetation",
        "conifer": "vegetation",
        "conifers": "vegetation",
        "aspen": "vegetation",
        "lawn": "vegetation",
        "vegetation": "vegetation",
        "sludge": "amd_precipitate",
        "amd": "amd_precipitate",
    }
)
"""Lower-case word → mineral (or material class). Keys are single words after joining a
hyphenated prefix (``Ammonio-Jarosite`` → ``ammoniojarosite``)."""

PHRASES: Final = (
    ("acid mine", "amd_precipitate"),  # "Acid_Mine_Dr Assemb1-Fe3+"
    ("mine drainage", "amd_precipitate"),
)
"""Multi-word names checked before single words."""

_WORD = re.compile(r"[a-z]+")


def words(name: str) -> list[str]:
    """Lower-case words of a spectrum name, a hyphenated prefix joined to its word."""
    text = name.lower().replace("_", " ")
    text = re.sub(r"\b(ammonio|natro|plumbo|hydronium|ferri)[- ]", r"\1", text)
    return _WORD.findall(text)


def mineral_of(name: str) -> str | None:
    """The mineral a spectrum name means (``"Jarosite GDS99 K"`` → ``jarosite``), or None
    when no word of it is a known mineral."""
    joined = " ".join(words(name))
    for phrase, mineral in PHRASES:
        if phrase in joined:
            return mineral
    for word in joined.split():
        if word in MINERAL_WORDS:
            return MINERAL_WORDS[word]
    return None
