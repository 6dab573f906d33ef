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


def test_the_signature_is_datasketchs_minhash_bit_for_bit() -> None:
    """The bands are stored in the index: our MinHash must equal the one every stored band was made with
    (datasketch 2.0's default, ``MinHash(num_perm=128, seed=1)``), on short and long texts, accents included."""
    import random

    import numpy as np
    from datasketch import MinHash

    from ingest.dedup import _SEED, NUM_PERM, signature

    rng = random.Random(11)
    words = ["Sony", "Pictures", "hack", "Nordkorea", "Angriff", "über", "の", "2014", "wiper", "e-mail"]
    for size in (1, 3, 40, 2_000):
        shingle_set = {" ".join(rng.choice(words) + str(rng.randint(0, 50)) for _ in range(3)) for _ in range(size)}
        reference = MinHash(num_perm=NUM_PERM, seed=_SEED)
        reference.update_batch([s.encode("utf-8") for s in sorted(shingle_set)])
        assert reference.scheme == "affine32"  # the scheme the stored bands were made with
        assert np.array_equal(signature(sorted(shingle_set)), reference.hashvalues)


def test_processing_does_not_import_scipy() -> None:
    """datasketch's package imports scipy (0.5 s in every processing task): the bands must not need it."""
    import subprocess
    import sys

    code = (
        "import sys; import ingest.pipeline, ingest.dedup as d; "
        "d.lsh_bands(' '.join(f'word{i}' for i in range(60))); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'datasketch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
