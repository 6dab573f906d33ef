"""Grouping's per-language word tables, built the cheap way, are exactly the tables of the straightforward way.

The idf prior of every term comes from these tables, so any difference (a word, a stem, the last bit of a summed
frequency) could move an article to another story.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import wordfreq

from ingest.stories import features as F
from ingest.stories.features import cve_keys, features, found_names, stem_frequencies

pytestmark = pytest.mark.unit


def _reference_stem_frequencies(language: str) -> dict[str, float]:
    """The table as first written: wordfreq's word table, words of frequency >= 1e-7 stemmed and summed in order."""
    try:
        freqs = dict(wordfreq.get_frequency_dict(language, wordlist="best"))
    except (LookupError, ValueError):
        freqs = {}
    words = [w for w, f in freqs.items() if f >= 1e-7]
    stemmer = F._stemmer(language)
    stems = stemmer.stemWords(words) if stemmer is not None else words
    table: dict[str, float] = {}
    for word, key in zip(words, stems, strict=True):
        table[key] = table.get(key, 0.0) + freqs[word]
    return table


# en, de: stemmed, in every run; ja: no stemmer; zu: wordfreq falls back to the English list; xx: unknown
@pytest.mark.parametrize("language", ["en", "de", "ja", "zu", "xx"])
def test_stem_frequencies_equal_the_straightforward_table_bit_for_bit(language: str) -> None:
    stem_frequencies.cache_clear()
    table = dict(stem_frequencies(language))
    reference = _reference_stem_frequencies(language)
    assert list(table) == list(reference)  # same stems, same order
    assert [v.hex() for v in table.values()] == [v.hex() for v in reference.values()]
    assert (language == "xx") == (not table)


def test_frequency_bands_stop_at_the_rare_words() -> None:
    bands = F._frequency_bands("en")
    freqs = [f for f, _ in bands]
    assert freqs == sorted(freqs, reverse=True) and min(freqs) >= 1e-7
    assert sum(len(words) for _, words in bands) == sum(
        1 for f in wordfreq.get_frequency_dict("en").values() if f >= 1e-7
    )


def test_cve_keys_are_the_cve_keys_found_names_finds() -> None:
    text = "Patch CVE-2017-0144 and cve-2019-0708 now, said Microsoft. MS17-010 (CVE-2017-0145) again; CVE-17-1."
    found = {k for k in found_names(text, "en") if k.startswith("cve:")}
    assert cve_keys(text) == found == {"cve:cve-2017-0144", "cve:cve-2019-0708", "cve:cve-2017-0145"}


def test_documents_with_names_keep_their_cve_keys() -> None:
    doc: dict[str, Any] = {
        "doc_id": "a",
        "title": "Hospital hit",
        "lead": "",
        "body": "Attackers used CVE-2017-0144 against Hancock Health.",
        "language": "en",
        "published_at": "2018-01-15T00:00:00Z",
        "names": ["name:hancock health"],
    }
    assert features(doc).keys == {"name:hancock health", "cve:cve-2017-0144"}


@pytest.mark.parametrize(
    ("word", "text"),
    [
        ("sony", "the sony hack"),
        ("sony", "sony pictures"),
        ("sony", "playstation-sony"),  # a hyphen starts a word
        ("sony", "notsony at all"),
        ("sony", "_sony"),  # the underscore is a word character
        ("pyongyang", "über pyongyangs"),
        ("ß", "straße ßtraße"),
        ("1914", "x1914 and 1914"),
        ("kim", ""),
        ("kim", "kimkim kim"),
    ],
)
def test_starts_a_word_says_what_the_word_start_pattern_says(word: str, text: str) -> None:
    import re

    assert F.starts_a_word(word, text) == bool(re.search(rf"\b{re.escape(word)}", text))


def test_grouping_word_frequencies_are_wordfreqs_and_cached(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``zipf`` reads wordfreq's table through the disk cache: every word with wordfreq's own frequency, and a
    second process reads it back without decoding wordfreq's list; a damaged file is rebuilt."""
    reference = wordfreq.get_frequency_dict("de", wordlist="best")
    built = F._frequencies("de")
    assert len(built) == len(reference)
    assert all(built.get(word, -1.0) == freq for word, freq in reference.items())
    assert built.get("zzqx-no-such-word") == 0.0
    (path,) = fresh_cache.glob("stories-frequencies-de-*.npz")

    F._frequencies.cache_clear()
    with monkeypatch.context() as patched:
        patched.setattr(wordfreq, "get_frequency_dict", lambda *a, **k: pytest.fail("a hit must not decode wordfreq"))
        read = F._frequencies("de")
    assert read.get("regierung") == reference["regierung"] and len(read) == len(reference)

    F._frequencies.cache_clear()
    path.write_bytes(path.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="ingest.cache"):
        assert F._frequencies("de").get("regierung") == reference["regierung"]
    assert "rebuilding" in caplog.text
    assert F._frequencies("xx-unknown").get("regierung") == 0.0  # a language wordfreq does not know
