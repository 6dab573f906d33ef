"""The names' word-frequency table, read band by band and through the disk cache, is exactly the table of the
straightforward way.

Names are scored against it (a rare capitalised word is a name, a common one is not), so a changed value could
add or drop a name and with it a tag or a story key.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import wordfreq

from ingest.tagging import lexicon
from ingest.tagging.lexicon import MIN_ZIPF
from ingest.tagging.text import fold

pytestmark = pytest.mark.unit


def _reference(lang: str) -> dict[str, int]:
    """The formula as first written: wordfreq's whole word → frequency dict, filtered afterwards."""
    out: dict[str, int] = {}
    for word, freq in wordfreq.get_frequency_dict(lang, wordlist="large").items():
        zipf = math.log10(freq) + 9.0
        if zipf < MIN_ZIPF:
            continue
        key = fold(word).lower() if not word.isascii() else word
        value = round(zipf * 10)
        if out.get(key, 0) < value:
            out[key] = value
    return out


@pytest.mark.parametrize("lang", ["de", "en"])
def test_band_by_band_table_equals_the_reference(lang: str, fresh_cache: Path) -> None:
    table = lexicon.frequencies(lang)
    assert table == _reference(lang)
    assert min(table.values()) == round(MIN_ZIPF * 10)  # the cut is where it was, not a band early or late


def test_a_cached_table_is_read_back_whole_without_wordfreq(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = lexicon.frequencies("de")
    assert len(list(fresh_cache.glob("names-frequencies-de-*.npz"))) == 1
    lexicon.frequencies.cache_clear()

    def no_wordfreq(*args: object, **kwargs: object) -> None:
        raise AssertionError("a hit must not decode wordfreq's list")

    monkeypatch.setattr(wordfreq, "get_frequency_list", no_wordfreq)
    read = lexicon.frequencies("de")
    assert read == built and list(read) == list(built)  # the same words, values and order


@pytest.mark.parametrize("damage", ["truncate", "values"])
def test_a_damaged_cache_file_is_rebuilt(fresh_cache: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    built = lexicon.frequencies("en")
    lexicon.frequencies.cache_clear()
    (path,) = fresh_cache.glob("names-frequencies-en-*.npz")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # a complete file for the right key whose arrays disagree
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        arrays["values"] = arrays["values"][:-1]
        with path.open("wb") as out:
            np.savez(out, **arrays)
    with caplog.at_level(logging.WARNING, logger="ingest.cache"):
        assert lexicon.frequencies("en") == built
    assert "rebuilding" in caplog.text


def test_packed_words_come_back_in_order_and_a_newline_is_refused() -> None:
    from ingest import cache

    words = ["grenzzaun", "szijjarto", "über", "x"]
    packed = cache.pack_words(words)
    assert cache.unpack_words(packed) == words and cache.packed_word_count(packed) == 4
    assert cache.unpack_words(cache.pack_words([])) == [] and cache.packed_word_count(cache.pack_words([])) == 0
    with pytest.raises(ValueError, match="newline"):
        cache.pack_words(["two\nwords"])
