"""The word lists the name finder reads: word frequencies (``wordfreq``) and the small closed classes around names
(titles, connectors, months, German noun shapes). Separate from :mod:`~ingest.tagging.names` so that what is
language knowledge and what is the algorithm stay apart.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest import cache
from ingest.tagging import text as folding
from ingest.tagging.text import fold

logger = logging.getLogger(__name__)

#: zipf values are stored ×10 as integers; words rarer than this (zipf) are left out of the list (= unknown).
MIN_ZIPF = 2.0


def wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: lower-case words allowed inside a name ("Bank of England", "Ursula von der Leyen", "Omar al-Bashir")
CONNECTORS: dict[str, frozenset[str]] = {
    "en": frozenset(
        {"of", "de", "da", "di", "del", "van", "von", "der", "den", "bin", "ibn", "al", "el", "la", "le", "du"}
    ),
    "de": frozenset({"von", "van", "de", "da", "di", "del", "bin", "ibn", "al", "el", "la", "le", "du"}),
}
#: abbreviations whose full stop does not end a sentence ("Mr. Zeman")
ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "gen", "sen", "rep", "gov", "lt", "col", "capt", "sgt", "jr"}
)
#: determiners that may start a name phrase but are not part of its id
ARTICLES = frozenset({"the", "a", "an", "der", "die", "das", "den", "dem", "des", "ein", "eine", "einer", "eines"})
MONTHS_DAYS = wordset(
    "january february march april may june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday januar februar marz mai juni juli oktober dezember montag dienstag "
    "mittwoch donnerstag freitag samstag sonntag sonnabend janner"
)
#: titles and roles in front of a name ("President Macron", "Innenministerin Mikl-Leitner"): dropped from the id
TITLES = wordset(
    "mr mrs ms miss dr prof professor sir dame lord lady president vice prime minister chancellor secretary "
    "general gen col colonel lt sgt capt captain king queen prince princess pope cardinal bishop archbishop rev "
    "senator sen rep representative governor gov mayor judge justice chief ceo chairman chairwoman director "
    "spokesman spokeswoman spokesperson ambassador commissioner premier sheikh ayatollah emir sultan crown "
    "herr frau fraulein dr präsident prasident prasidentin kanzler kanzlerin minister ministerin staatssekretar "
    "staatssekretarin burgermeister burgermeisterin landeshauptmann landeshauptfrau abgeordnete abgeordneter "
    "papst kardinal konig konigin prinz prinzessin richter richterin sprecher sprecherin chef chefin trainer "
    "kapitan general generalin botschafter botschafterin kommissar kommissarin vorsitzende vorsitzender "
    "striker midfielder defender goalkeeper manager coach singer guitarist frontman rapper author writer novelist "
    "designer photographer reporter correspondent analyst spokesman sturmer torhuter sangerin sanger autorin "
    "regisseur regisseurin"
)
#: role words ending a German compound ("Außenminister", "Parteichefin", "Regierungssprecher"): a title as well
TITLE_TAILS: tuple[str, ...] = (
    "minister", "ministerin", "prasident", "prasidentin", "kanzler", "kanzlerin", "chef", "chefin", "sprecher",
    "sprecherin", "fuhrer", "fuhrerin", "vorsitzende", "vorsitzender", "sekretar", "sekretarin", "direktor",
    "direktorin", "botschafter", "botschafterin", "kommissar", "kommissarin", "kandidat", "kandidatin", "meister",
    "meisterin", "hauptmann", "gouverneur", "premier", "experte", "expertin", "anwalt", "anwaltin",
)  # fmt: skip
#: German nouns that say what kind of thing the name after them is ("die Stadt Agadez", "die Gruppe Ansar Dine",
#: "Künstlerin Danae Stratou"): capitalised like the name, so without this they would glue onto it and the name
#: would never match its English mentions. Only in front of a name (the segment goes on); folded, lower case.
CLASSIFIERS = wordset(
    "stadt hauptstadt hafenstadt grenzstadt kleinstadt gemeinde dorf region provinz bundesstaat insel halbinsel "
    "gruppe miliz organisation partei firma konzern unternehmen hersteller sender zeitung zeitschrift magazin "
    "agentur nachrichtenagentur band kunstler kunstlerin schauspieler schauspielerin autor freund freundin verein "
    "klub klinik krankenhaus flughafen software schadsoftware trojaner app plattform netzwerk dienst website "
    "webseite portal"
)
#: ... and compounds ending in one of these ("Hackergruppe", "Terrormiliz", "Softwarekonzern", "Fernsehsender");
#: not ``stadt``, which ends place names ("Darmstadt")
CLASSIFIER_TAILS: tuple[str, ...] = (
    "gruppe", "miliz", "organisation", "partei", "firma", "konzern", "hersteller", "sender", "zeitung", "magazin",
    "agentur", "dienst", "plattform", "netzwerk", "software", "verein",
)  # fmt: skip
#: shapes of German common nouns (rare compounds among them are no names)
NOUN_SUFFIXES: tuple[str, ...] = (
    "ung", "ungen", "heit", "heiten", "keit", "keiten", "schaft", "schaften", "ismus", "tion", "tionen", "itat",
    "itaten", "nisse", "ierung", "lich", "liche", "lichen", "ische", "ischen", "isch",
)  # fmt: skip
#: inflection endings a compound's parts may carry
INFLECTIONS: tuple[str, ...] = ("en", "n", "e", "es", "s", "er", "innen", "in")
#: titles of state office: a person they introduce acts for a state
STATE_TITLES = wordset(
    "president prime minister chancellor secretary ambassador premier king queen emir sultan sheikh ayatollah "
    "prasident prasidentin kanzler kanzlerin minister ministerin premier botschafter botschafterin konig konigin "
    "staatschef staatschefin regierungschef regierungschefin"
)
STATE_TITLE_TAILS: tuple[str, ...] = ("minister", "ministerin", "prasident", "prasidentin", "kanzler", "kanzlerin")
#: linking elements of German compounds ("Flüchtling-s-obergrenze", "Sonne-n-schein")
LINKS: tuple[str, ...] = ("s", "es", "n", "en", "er", "e")


@functools.lru_cache(maxsize=4)
def frequencies(lang: str) -> dict[str, int]:
    """``wordfreq``'s ``large`` list for ``lang`` as folded lower-case word → zipf×10 (words from zipf 2 up).

    Folded like the text it is compared with (``ü`` → ``u``); when two words fold alike the commoner counts.
    Loaded once per process (20-30 MB per language), from the disk cache (:mod:`ingest.cache`) when it holds
    the table: decoding wordfreq's list (and importing wordfreq) cost every forkserver and tagging process
    0.1-0.3 s per language, reading the cached table about 0.02 s (``tests/unit/test_tagging_lexicon.py``).
    """
    arrays = cache.cached_arrays(
        f"names-frequencies-{lang}",
        {
            "lang": lang,
            "min_zipf": MIN_ZIPF,
            "code": cache.fingerprint(_build_frequencies, folding),
            "packages": cache.versions(("wordfreq",)),
        },
        lambda: _pack(_build_frequencies(lang)),
        check=_check_packed,
    )
    out = dict(zip(cache.unpack_words(arrays["words"]), arrays["values"].tolist(), strict=True))
    logger.debug("loaded %s word frequencies for %s", len(out), lang)
    return out


def _build_frequencies(lang: str) -> dict[str, int]:
    """Read from wordfreq's frequency bands (one zipf value per band, commonest first), stopping at the first
    band under ``MIN_ZIPF``: most of the list is rarer than that (building wordfreq's whole word → frequency
    dict first cost 0.5 s for German)."""
    import wordfreq  # deferred: only a cache miss needs it

    out: dict[str, int] = {}
    for index, band in enumerate(wordfreq.get_frequency_list(lang, wordlist="large")):
        if not band:
            continue
        zipf = math.log10(wordfreq.cB_to_freq(-index)) + 9.0
        if zipf < MIN_ZIPF:
            break  # bands come commonest first
        value = round(zipf * 10)
        for word in band:
            key = fold(word).lower() if not word.isascii() else word
            if out.get(key, 0) < value:
                out[key] = value
    return out


def _pack(table: dict[str, int]) -> dict[str, npt.NDArray[Any]]:
    """The table as two arrays (words packed by :func:`ingest.cache.pack_words`, values one byte each: zipf×10 is
    at most 80)."""
    return {
        "words": cache.pack_words(list(table)),
        "values": np.fromiter(table.values(), dtype=np.uint8, count=len(table)),
    }


def _check_packed(arrays: cache.Arrays) -> None:
    words, values = arrays["words"], arrays["values"]
    if words.dtype != np.uint8 or values.dtype != np.uint8:
        raise ValueError("wrong array types")
    count = cache.packed_word_count(words)
    if count != len(values):
        raise ValueError(f"{count} words for {len(values)} values")
