"""MinHash LSH bands and shingle similarity (the Elasticsearch side is in tests/integration/test_dedup.py)."""

from __future__ import annotations

import pytest

from evaluation.faultserver import article_text
from ingest.dedup import BANDS, JACCARD_THRESHOLD, jaccard, lsh_bands, shingles

pytestmark = pytest.mark.unit


def body(n: int) -> str:
    return "\n\n".join(article_text(n)[1])


def edit(text: str, every: int) -> str:
    words = text.split()
    return " ".join("CHANGED" if i % every == 0 else w for i, w in enumerate(words))


def test_bands_are_deterministic_keywords() -> None:
    bands = lsh_bands(body(1))
    assert len(bands) == BANDS == len(set(bands))
    assert bands == lsh_bands(body(1))
    assert all(isinstance(b, str) and len(b) < 64 for b in bands)


def test_short_texts_have_no_bands() -> None:
    assert lsh_bands("Breaking: short item") == []
    assert lsh_bands("") == []


def test_near_duplicates_share_bands_unrelated_do_not() -> None:
    original = body(1)
    copy = edit(original, 60) + " Reporting by the wire desk."
    assert jaccard(shingles(original), shingles(copy)) >= JACCARD_THRESHOLD
    assert set(lsh_bands(original)) & set(lsh_bands(copy))
    assert not set(lsh_bands(original)) & set(lsh_bands(body(2)))
    assert jaccard(shingles(original), shingles(body(2))) < 0.1


def test_case_and_punctuation_do_not_matter() -> None:
    text = body(3)
    assert lsh_bands(text) == lsh_bands(text.upper().replace(".", " ;"))


def test_heavily_edited_text_is_below_threshold() -> None:
    original = body(4)
    rewrite = edit(original, 3)
    assert jaccard(shingles(original), shingles(rewrite)) < JACCARD_THRESHOLD
