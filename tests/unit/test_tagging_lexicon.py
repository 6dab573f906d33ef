"""The names' word-frequency table, read band by band, is exactly the table of the straightforward way.

Names are scored against it (a rare capitalised word is a name, a common one is not), so a changed value could
add or drop a name and with it a tag or a story key.
"""

from __future__ import annotations

import math

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
def test_band_by_band_table_equals_the_reference(lang: str) -> None:
    table = lexicon.frequencies(lang)
    assert table == _reference(lang)
    assert min(table.values()) == round(MIN_ZIPF * 10)  # the cut is where it was, not a band early or late
