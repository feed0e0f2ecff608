"""Which mineral (or material) a library spectrum is, from its name.

Spectral libraries name their spectra freely: USGS splib07 writes ``Jarosite GDS99 K 200C
Syn BECKa AREF``, splib06 ``Jarosite GDS100 Na;Sy 90C s06av95a=a``, ECOSTRESS
``jhu.becknic...``, and a user's CSV ``jarosite: field sample 3``. Everything that
depends on *what* a spectrum is (the contamination weight of a class, the simulator
drawing a zone's reflectance from another library) goes through :func:`mineral_of`, so a
library nobody here has seen still maps onto the same minerals.

The name is split into words (letters only, hyphen/underscore/``+``/space/digits
separating them, and a lower→upper case change: ``TnlSldgWet`` → ``tnl sldg wet``); the
first word that names a known mineral decides. Group names map to their group
(ammonio-/natro-/plumbo-jarosite → jarosite); AMD assemblages and tunnel sludges
(``Acid_Mine_Dr Assemb1``, ``Renyolds_Tnl_Sludge``, ``Renyolds_TnlSldgWet``) map to
``amd_precipitate``. Sulphides keep their own names (pyrite, marcasite, pyrrhotite,
arsenopyrite, chalcopyrite, sphalerite, galena): their weight is decided in
:mod:`hyperspectral.contamination`, not here.

Mixtures (a ``+`` in the name: ``Water+Montmor SWy-2``, ``Goeth+qtz.5+Jarosite.5``,
``Gyp.3+jr.1+msc.4+dic.2``): :func:`mineral_of` gives the first named mineral (the
spectrum's main material by USGS naming), :func:`minerals_in` every named one, with the
usual USGS abbreviations (``Jaro``, ``jr``, ``Goeth``, ``gth``, ``Gyp``, ``Montmor``...)
recognised inside mixtures only (``jr`` elsewhere is a sample code). Whoever needs a pure
spectrum (the simulator drawing a zone's reflectance) checks :func:`is_mixture`.
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
        "nanohematite": "hematite",
        "pyrite": "pyrite",
        "marcasite": "marcasite",
        "pyrrhotite": "pyrrhotite",
        "sphalerite": "sphalerite",
        "galena": "galena",
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
        "sldg": "amd_precipitate",  # splib07 "Renyolds_TnlSldgWet"
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

MIXTURE_WORDS: Final = MappingProxyType(
    {
        "jaro": "jarosite",
        "jaros": "jarosite",
        "jar": "jarosite",
        "jr": "jarosite",
        "kjar": "jarosite",
        "goeth": "goethite",
        "gth": "goethite",
        "hemat": "hematite",
        "gyp": "gypsum",
        "alun": "alunite",
        "kalun": "alunite",
        "kaol": "kaolinite",
        "kaolin": "kaolinite",
        "kaolwxl": "kaolinite",
        "musc": "muscovite",
        "muscov": "muscovite",
        "msc": "muscovite",
        "montmor": "montmorillonite",
        "montmorill": "montmorillonite",
        "mont": "montmorillonite",
        "calc": "calcite",
        "cal": "calcite",
        "dolo": "dolomite",
        "qtz": "quartz",
    }
)
"""USGS abbreviations in mixture names (``Gyp.3+jr.1+msc.4``), used only where the name
has a ``+``: outside mixtures ``jr``/``cal`` are sample codes."""

_WORD = re.compile(r"[a-z]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def words(name: str) -> list[str]:
    """Lower-case words of a spectrum name, a hyphenated prefix joined to its word and
    camel case split (``TnlSldgWet`` → ``tnl sldg wet``)."""
    text = _CAMEL.sub(" ", name).lower().replace("_", " ")
    text = re.sub(r"\b(ammonio|natro|plumbo|hydronium|ferri)[- ]", r"\1", text)
    return _WORD.findall(text)


def is_mixture(name: str) -> bool:
    """Whether the name is a USGS mixture (``Water+Montmor``, ``Alun.33+Kaol.33``)."""
    return "+" in name


def sample_mineral(name: str) -> str | None:
    """The mineral a pure sample's name names (its first word), or None for a mixture
    (a ``+`` anywhere, or digits in the first word: USGS writes ``Hematite.02+Quartz.98``,
    ``Oil23_Water77``) or a first word that names no mineral."""
    first = name.split()[0] if name.split() else ""
    if is_mixture(name) or any(ch.isdigit() for ch in first):
        return None
    return mineral_of(first)


def minerals_in(name: str) -> list[str]:
    """Every mineral the name names, in order, each once (``"Goeth+qtz.5+Jarosite.5"`` →
    goethite, quartz, jarosite); abbreviations count inside mixtures only."""
    joined = " ".join(words(name))
    found = [mineral for phrase, mineral in PHRASES if phrase in joined]
    table = {**MIXTURE_WORDS, **MINERAL_WORDS} if is_mixture(name) else MINERAL_WORDS
    found += [table[word] for word in joined.split() if word in table]
    return list(dict.fromkeys(found))


def mineral_of(name: str) -> str | None:
    """The mineral a spectrum name means (``"Jarosite GDS99 K"`` → ``jarosite``; a
    mixture: its first named mineral), or None when no word of it is a known mineral."""
    found = minerals_in(name)
    return found[0] if found else None


def known_minerals() -> frozenset[str]:
    """Every mineral (or material class) :func:`mineral_of` can answer."""
    return frozenset({*MINERAL_WORDS.values(), *(m for _, m in PHRASES)})
