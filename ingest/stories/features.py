"""What grouping knows about one article: weighted terms, language-independent keys, its time and vector.

Pure functions (no Elasticsearch). Terms are Snowball stems (PyStemmer; English and German, other languages
unstemmed) of the title (weight 3), lead (2) and the start of the body (1), with English/German function words
removed, sublinear and L2-normalised. Keys are language-independent ids: the gazetteer ``entities``
(``company:sony``), the open-vocabulary ``names`` of the tagging stage (``name:kim jong un``) when the document
has that field, otherwise names found here (rare capitalised words and acronyms, ``name:equifax``), and CVE ids.
``focus`` keys are those the title or lead mention: who was hit, where, by what; ``headline_keys`` those the title
mentions (a story's subjects are counted from them). Titles lose the outlet's name that sites append to them
("... | Threatpost") before any of this (:func:`headline_text`).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest import cache
from ingest.embeddings import Matrix, embedding_key, embedding_text

_WORD = re.compile(r"[^\W_](?:[\w]|['’-](?=[^\W_]))*", re.UNICODE)
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,7}\b", re.IGNORECASE)
#: Codes that name one thing: flights, bulletins, models (MH370, MS17-010, A380).
_CODE = re.compile(r"\b[A-Z]{1,5}-?\d{2,5}(?:-\d{2,4})?[A-Z]?\b")
_BREAK = re.compile(r"[.!?:;\"“”„«»|\n]")
_STEMMERS = {"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "nl": "dutch"}
#: Zone weights of the term vector.
TITLE_WEIGHT, LEAD_WEIGHT, BODY_WEIGHT = 3.0, 2.0, 1.0
#: Key kinds (the part before ":") that name places.
PLACE_KINDS = frozenset({"country", "region", "city"})
#: A capitalised word is a name when rarer than this zipf frequency (wordfreq; "the" is 7.7, "city" 5.6).
NAME_MAX_ZIPF = 3.6
#: German capitalises every noun: a German word is a name only when rarer than this.
NAME_MAX_ZIPF_DE = 2.8
#: ... or, in English, rarer than this and never written in lower case in the article ("Atlanta").
NAME_NEVER_LOWER_ZIPF = 5.0
#: Calendar words are capitalised but name no one.
CALENDAR = frozenset(
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "montag",
        "dienstag",
        "mittwoch",
        "donnerstag",
        "freitag",
        "samstag",
        "sonntag",
        "januar",
        "februar",
        "märz",
        "mai",
        "juni",
        "juli",
        "oktober",
        "dezember",
    ]
)
#: A word opening a sentence is a name only when rarer than this (practically: not a dictionary word).
NAME_OPENER_ZIPF = 2.5
#: Days: a published date this far after the fetch time is wrong (see StoryWindowOptions.future_tolerance_days).
DEFAULT_FUTURE_TOLERANCE = 2.0


@dataclass(frozen=True)
class ArticleFeatures:
    """One article as the grouper sees it."""

    doc_id: str
    language: str
    published: datetime
    title: str
    #: stem -> weight (sublinear zone-weighted counts, L2-normalised; not yet idf-weighted)
    terms: Mapping[str, float]
    keys: frozenset[str]
    #: the keys named in the title or lead
    focus: frozenset[str]
    #: stem -> the word it came from (first seen), for readable key terms
    surface: Mapping[str, str]
    #: title + lead, capped, for the embedding model
    embed_text: str
    outlet: str = ""
    tags: tuple[str, ...] = ()
    subtopics: tuple[str, ...] = ()
    vector: Matrix | None = None
    #: lower-cased words of title, lead and body start, compounds also in their parts ("nasa-raumkapsel": nasa,
    #: raumkapsel): where a name the tagger missed is looked for across languages (see evidence.cross_named)
    words: frozenset[str] = frozenset()
    #: the keys the title names (what the piece is about: who was hit, whose flaw), a subset of ``focus``
    headline_keys: frozenset[str] = frozenset()
    #: lower-cased words of title and lead, compounds also in their parts: whether the piece names a story's
    #: subject where it says what it is about (see evidence.key_evidence)
    focus_words: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """English and German function words (justext's stop lists, shipped with trafilatura's dependencies)."""
    import justext

    words: set[str] = set()
    for language in ("English", "German"):
        words.update(w.lower() for w in justext.get_stoplist(language))
    return frozenset(words)


@lru_cache(maxsize=16)
def _stemmer(language: str) -> Any:
    import Stemmer

    name = _STEMMERS.get(language)
    return Stemmer.Stemmer(name) if name else None


@lru_cache(maxsize=200_000)
def stem(word: str, language: str) -> str:
    """The Snowball stem of a lower-cased word (the word itself for languages without a stemmer)."""
    stemmer = _stemmer(language)
    return str(stemmer.stemWord(word)) if stemmer is not None else word


class WordFrequencies:
    """wordfreq's word -> frequency table of one language, read-only, as sorted words and their frequencies.

    Grouping looks up a few thousand words per run (:func:`zipf`); building a dict of wordfreq's 320,000 English
    and 630,000 German words cost each grouping process 0.55 s (wordfreq's own decoding), so the table comes
    from :mod:`ingest.cache` as two arrays and a lookup is a binary search."""

    def __init__(self, words: list[str], values: npt.NDArray[np.float64]) -> None:
        self._words = words
        self._values = values

    def get(self, word: str, default: float = 0.0) -> float:
        at = bisect_left(self._words, word)
        if at < len(self._words) and self._words[at] == word:
            return float(self._values[at])
        return default

    def __len__(self) -> int:
        return len(self._words)


@lru_cache(maxsize=64)
def _frequencies(language: str) -> WordFrequencies:
    """wordfreq's ``best`` word list for ``language`` (empty for a language wordfreq does not know), from the
    disk cache when it holds it (only for :func:`zipf`, whose callers need English, German and the languages of
    documents without ``names``)."""
    arrays = cache.cached_arrays(
        f"stories-frequencies-{language}",
        {
            "language": language,
            "code": cache.fingerprint(_build_frequencies, _pack_frequencies),
            "packages": cache.versions(("wordfreq",)),
        },
        lambda: _pack_frequencies(_build_frequencies(language)),
        check=_check_frequencies,
    )
    return WordFrequencies(cache.unpack_words(arrays["words"]), arrays["values"])


def _build_frequencies(language: str) -> dict[str, float]:
    import wordfreq  # deferred: only a cache miss needs it

    try:
        return dict(wordfreq.get_frequency_dict(language, wordlist="best"))
    except (LookupError, ValueError):  # a language wordfreq does not know
        return {}


def _pack_frequencies(table: Mapping[str, float]) -> dict[str, Any]:
    words = sorted(table)
    return {
        "words": cache.pack_words(words),
        "values": np.fromiter((table[w] for w in words), dtype=np.float64, count=len(words)),
    }


def _check_frequencies(arrays: cache.Arrays) -> None:
    words, values = arrays["words"], arrays["values"]
    if words.dtype != np.uint8 or values.dtype != np.float64:
        raise ValueError("unexpected array types")
    count = cache.packed_word_count(words)
    if count != values.size:
        raise ValueError(f"{count} words for {values.size} frequencies")


#: Words rarer than this count fully in :func:`stem_frequencies` anyway.
_MIN_STEM_FREQUENCY = 1e-7


def _frequency_bands(language: str) -> list[tuple[float, list[str]]]:
    """wordfreq's words of frequency >= ``_MIN_STEM_FREQUENCY`` as ``(frequency, words)`` bands, in its order (the
    order of its frequency table: each word is in one band).

    Read from the file that ``wordfreq.get_frequency_list(language, "best")`` reads (the same language matching),
    but only up to the first rarer band: decoding the rest (two thirds of the words) and building wordfreq's word
    table cost 0.1-0.5 s per language, and grouping needs that table (:func:`zipf`) for English and German only.
    """
    import gzip

    import langcodes
    import msgpack
    import wordfreq

    available = wordfreq.available_languages("best")
    try:
        best, _distance = langcodes.closest_match(language, list(available), max_distance=60)
    except (LookupError, ValueError):  # not a language code
        return []
    if best == "und":  # a language wordfreq does not know
        return []
    bands: list[tuple[float, list[str]]] = []
    with gzip.open(available[best], "rb") as packed:
        unpacker = msgpack.Unpacker(packed, raw=False)
        count = unpacker.read_array_header()
        header = unpacker.unpack()  # a list of bands after a header (see wordfreq.read_cBpack)
        if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
            raise ValueError(f"unexpected wordfreq header {header!r} in {available[best]}")
        for index in range(count - 1):
            freq = wordfreq.cB_to_freq(-index)
            if freq < _MIN_STEM_FREQUENCY:  # the bands are in decreasing frequency
                break
            words = unpacker.unpack()
            if words:
                bands.append((freq, words))
    return bands


@lru_cache(maxsize=2)  # read once per language: evidence._prior_df keeps what grouping needs
def stem_frequencies(language: str) -> Mapping[str, float]:
    """Background word frequency per stem: the summed frequencies of the language's words with that stem.

    From wordfreq's lists (a fixed table: term weights never depend on what an index holds or once held). Summed in
    the order of wordfreq's table, so the sums are exactly those of adding up its items one by one.
    """
    import Stemmer

    table: dict[str, float] = {}
    name = _STEMMERS.get(language)
    # without PyStemmer's cache of recent words: each word comes once, and the cache made it 3-5 times slower
    stemmer = Stemmer.Stemmer(name, 0) if name else None
    for freq, words in _frequency_bands(language):
        if stemmer is None:
            table.update(dict.fromkeys(words, freq))  # one word per key: 0.0 + freq
            continue
        get = table.get
        for key in stemmer.stemWords(words):
            table[key] = get(key, 0.0) + freq
    return table


def zipf(word: str, language: str) -> float:
    """wordfreq's zipf frequency of a lower-cased word (0 when unknown)."""
    freq = _frequencies(language).get(word, 0.0) or _frequencies("en").get(word, 0.0)
    return math.log10(freq) + 9.0 if freq > 0 else 0.0


#: No word is longer (German compounds reach about 60 letters); a longer "word" is a hash, base64 or junk, and
#: past 32,766 bytes a story key term Elasticsearch refuses, which failed every grouping run.
MAX_WORD_CHARS = 80


def tokens(text: str) -> list[str]:
    return [w for m in _WORD.finditer(text) if len(w := m.group(0)) <= MAX_WORD_CHARS]


_PARTS = re.compile(r"['’-]")
#: What separates a title from the outlet's name appended to it ("... | Threatpost | The first stop for security
#: news", "... - Help Net Security", "... – Naked Security").
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|–—«»•]|-|::)\s+")
#: A trailing title segment of at most this many words is the outlet's name, not part of the headline.
SITE_SUFFIX_WORDS = 6


def headline_text(title: str) -> str:
    """The title without the outlet's name that sites append to it: those words would be a title's strongest
    terms and subjects (two pieces of one outlet would share them whatever they are about). Only short trailing
    segments go, and only while at least four words of headline stay."""
    parts = _TITLE_SEPARATOR.split(title.strip())
    while len(parts) > 1 and len(tokens(parts[-1])) <= SITE_SUFFIX_WORDS and len(tokens(" ".join(parts[:-1]))) >= 4:
        parts.pop()
    return " ".join(parts)


def text_words(text: str) -> frozenset[str]:
    """Lower-cased words of ``text`` and the parts of its compounds (``Nasa-Raumkapsel``, ``Sony's``): German
    writes names into hyphenated compounds that no tagger reports as names, while the same name stands alone in
    English."""
    out: set[str] = set()
    for word in tokens(text.lower()):
        _add_word(out, word)
    return frozenset(out)


def _add_word(out: set[str], word: str) -> None:
    """``word`` and, for a compound (``nasa-raumkapsel``, ``sony's``), its parts."""
    out.add(word)
    if "-" in word or "'" in word or "’" in word:
        out.update(p for p in _PARTS.split(word) if p)


def _content(word: str, stops: frozenset[str]) -> bool:
    if word in stops:
        return False
    if word.isdigit():
        return len(word) >= 3  # years, counts: weak but real evidence; 1-2 digits are noise
    return len(word) >= 3 or (len(word) == 2 and word.isalpha() and not word.islower())


def term_vector(
    language: str, zones: Sequence[tuple[str, float]], *, max_terms: int = 400, words: set[str] | None = None
) -> tuple[dict[str, float], dict[str, str]]:
    """Weighted stems of the zones ``(text, weight)``: ``1 + ln(weighted count)``, L2-normalised; and the word
    each stem was first seen as. ``words``: filled with the content words and their compound parts (as
    :func:`text_words`, from the same pass)."""
    stops = stop_words()
    counts: dict[str, float] = {}
    surface: dict[str, str] = {}
    for text, weight in zones:
        for raw in tokens(text):
            if not _content(raw, stops):
                continue
            word = raw.lower()
            if word in stops:
                continue
            if words is not None:
                _add_word(words, word)
            term = stem(word, language)
            counts[term] = counts.get(term, 0.0) + weight
            surface.setdefault(term, word)
    if not counts:
        return {}, {}
    weighted = {t: 1.0 + math.log(c) if c >= 1.0 else c for t, c in counts.items()}
    if len(weighted) > max_terms:
        weighted = dict(sorted(weighted.items(), key=lambda kv: (-kv[1], kv[0]))[:max_terms])
    norm = math.sqrt(sum(v * v for v in weighted.values()))
    return {t: v / norm for t, v in sorted(weighted.items())}, {t: surface[t] for t in weighted}


def cve_keys(text: str) -> set[str]:
    """The CVE ids in ``text`` as keys (``cve:cve-2017-0144``), as :func:`found_names` finds them."""
    return {f"cve:{m.group(0).lower()}" for m in _CVE.finditer(text)}


def found_names(text: str, language: str, context: str = "") -> set[str]:
    """Names in running text when the document has no ``names`` field: capitalised words that do not open a
    sentence and are rare (``name:equifax``), or fairly common but never written in lower case in ``text`` +
    ``context`` (``name:atlanta``; English only: German capitalises every noun); acronyms (``name:nhs``); CVE ids
    (``cve:cve-2017-0144``). A sentence-opening word counts only when it is no dictionary word at all."""
    stops = stop_words()
    found = cve_keys(text)
    found |= {f"name:{m.group(0).lower()}" for m in _CODE.finditer(text) if not m.group(0).upper().startswith("CVE")}
    lower_words = {w for w in tokens(f"{text}\n{context}") if w.islower()}
    previous = 0
    for m in _WORD.finditer(text):
        word, between = m.group(0), text[previous : m.start()]
        opens_sentence = previous == 0 or bool(_BREAK.search(between))
        previous = m.end()
        lower = word.lower()
        if len(word) < 2 or word.isdigit() or lower in stops or lower in CALENDAR:
            continue
        if word.isupper() and word.isalpha() and len(word) <= 6:
            if not opens_sentence or len(word) >= 3:
                found.add(f"name:{lower}")
            continue
        if not word[0].isupper() or word.isupper():
            continue
        freq = zipf(lower, language)
        if opens_sentence:
            if freq < NAME_OPENER_ZIPF:
                found.add(f"name:{lower}")
            continue
        limit = NAME_MAX_ZIPF_DE if language == "de" else NAME_MAX_ZIPF
        if freq < limit or (language != "de" and freq < NAME_NEVER_LOWER_ZIPF and lower not in lower_words):
            found.add(f"name:{lower}")
    return found


def _mentioned(key: str, display: str, text_lower: str, names_in_focus: set[str]) -> bool:
    if key in names_in_focus:
        return True
    label = display or key.split(":", 1)[-1].replace("-", " ")
    words = [w for w in tokens(label.lower()) if len(w) >= 3 and w not in stop_words()]
    return any(starts_a_word(w, text_lower) for w in words[:3])


def starts_a_word(word: str, text: str) -> bool:
    """Does ``text`` hold ``word`` (which starts with a letter or digit) where a word starts: what
    ``re.search(rf"\b{re.escape(word)}", text)`` says, without compiling a pattern for every word (grouping asks
    this for thousands of different words, far past the ``re`` module's cache of compiled patterns)."""
    at = text.find(word)
    while at >= 0:
        if at == 0 or not (text[at - 1].isalnum() or text[at - 1] == "_"):
            return True
        at = text.find(word, at + 1)
    return False


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def article_time(source: Mapping[str, Any], future_tolerance_days: float = DEFAULT_FUTURE_TOLERANCE) -> datetime:
    """When the article appeared: its published date, unless missing or implausibly after the fetch (then the
    fetch/index time)."""
    published = parse_time(source.get("published_at"))
    seen = parse_time(source.get("fetched_at")) or parse_time(source.get("indexed_at"))
    if published is not None and (seen is None or published <= seen + timedelta(days=future_tolerance_days)):
        return published
    return seen or published or datetime(1970, 1, 1, tzinfo=UTC)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value if v]
    return []


def stored_vector(source: Mapping[str, Any], text: str) -> list[Any] | None:
    """The article's stored embedding if it was computed from ``text`` (its ``embedding_key``): a vector of another
    text (the article was re-derived since, with a new title or lead) is no vector of this one."""
    vector = source.get("embedding")
    if isinstance(vector, list) and vector and source.get("embedding_key") == embedding_key(text):
        return vector
    return None


def features(
    source: Mapping[str, Any],
    *,
    body_chars: int = 3000,
    embed_chars: int = 300,
    future_tolerance_days: float = DEFAULT_FUTURE_TOLERANCE,
    doc_id: str | None = None,
) -> ArticleFeatures:
    """The features of an article document (the articles index's ``_source``)."""
    title = str(source.get("title") or "")
    headline_words = headline_text(title)
    lead = str(source.get("lead") or "")
    body = str(source.get("body") or "")[:body_chars]
    language = str(source.get("language") or "").lower()[:2]
    if not lead:
        lead = body[:400]
    words: set[str] = set()
    terms, surface = term_vector(
        language, [(headline_words, TITLE_WEIGHT), (lead, LEAD_WEIGHT), (body, BODY_WEIGHT)], words=words
    )
    focus_text = f"{headline_words}\n{lead}"
    entities = _strings(source.get("entities"))
    displays = _strings(source.get("entity_names"))
    keys: set[str] = set(entities)
    focus_names: set[str] = set()
    if "names" in source and source.get("names") is not None:
        names = set(_strings(source.get("names")))
        keys |= names
        lowered = focus_text.lower()
        focus_names = {n for n in names if n.split(":", 1)[-1] in lowered}
        keys |= cve_keys(focus_text + "\n" + body)  # found_names' CVE ids (its names cost zipf look-ups)
    else:
        in_lead = found_names(lead, language, body)
        in_text = in_lead | found_names(body, language, lead)
        # titles are often Title Case: a title word is a name when the text names it too
        focus_names = (found_names(headline_words, language, body) & in_text) | in_lead
        keys |= in_text | focus_names
    text_lower = focus_text.lower()
    display = dict(zip(entities, displays, strict=False)) if len(displays) == len(entities) else {}
    focus = {k for k in keys if _mentioned(k, display.get(k, ""), text_lower, focus_names)}
    if language == "de" and not ("names" in source and source.get("names") is not None):
        # German capitalises every noun: names found here are too noisy to tell incidents apart
        focus = {k for k in focus if not k.startswith("name:")}
    title_words = text_words(headline_words)
    title_lower = headline_words.lower()
    headline = {
        k
        for k in focus
        if (
            key_named(k, title_words)
            if k.startswith("name:")
            else _mentioned(k, display.get(k, ""), title_lower, set())
        )
    }
    embed_text = embedding_text(title, lead, body, embed_chars)
    vector = stored_vector(source, embed_text)
    vec = np.asarray(vector, dtype=np.float32) if vector is not None else None
    return ArticleFeatures(
        doc_id=str(doc_id or source.get("doc_id") or ""),
        language=language,
        published=article_time(source, future_tolerance_days),
        title=title,
        terms=terms,
        keys=frozenset(keys),
        focus=frozenset(focus),
        surface=surface,
        embed_text=embed_text,
        outlet=str(source.get("outlet") or ""),
        tags=tuple(_strings(source.get("tags"))),
        subtopics=tuple(_strings(source.get("subtopics"))),
        vector=vec,
        words=frozenset(words),
        headline_keys=frozenset(headline),
        focus_words=text_words(focus_text),
    )


@lru_cache(maxsize=100_000)
def key_words(key: str) -> tuple[str, ...]:
    """The content words of a key's value (``name:city of atlanta``: city, atlanta; ``company:sony``: sony)."""
    stops = stop_words()
    value = key.split(":", 1)[-1].replace("-", " ").lower()
    return tuple(w for w in tokens(value) if w not in stops)


def key_named(key: str, words: frozenset[str]) -> bool:
    """Whether ``words`` contain every content word of ``key``."""
    parts = key_words(key)
    return bool(parts) and all(w in words for w in parts)


def key_kind(key: str) -> str:
    return key.split(":", 1)[0] if ":" in key else ""
