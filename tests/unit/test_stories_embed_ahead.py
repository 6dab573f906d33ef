"""Vectors computed ahead of need (one batched call once the embedding gate opens) are only a cache: a vector is
counted and written onto its article when grouping asks for it, never before, and never computed twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, StoryOptions
from ingest.embeddings import Matrix, normalise_rows
from ingest.stories.grouping import StoryGrouper, _VectorCache

pytestmark = pytest.mark.unit


class Recorder:
    dims = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        return normalise_rows(np.array([[len(t), 1.0, 0.0, float(ord(t[0]))] for t in texts], dtype=np.float32))


class NoStoredVectors:
    """The store's vector read, without Elasticsearch: nothing stored; counts the doc ids asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def vectors(self, texts: Mapping[str, str]) -> dict[str, list[float]]:
        self.asked.extend(texts)
        return {}


def _grouper() -> tuple[StoryGrouper, Recorder, NoStoredVectors]:
    embedder = Recorder()
    grouper = StoryGrouper(Elasticsearch("http://127.0.0.1:9"), StoryOptions(), IndexOptions(), embedder)
    store = NoStoredVectors()
    grouper.store = store  # type: ignore[assignment]
    return grouper, embedder, store


def test_vectors_computed_ahead_wait_until_asked_for() -> None:
    grouper, embedder, store = _grouper()
    cache = _VectorCache({}, read=[])
    grouper._embed_now([("a", "alpha"), ("b", "beta"), ("c", "gamma")], cache, ahead=True)
    assert embedder.calls == [["alpha", "beta", "gamma"]] and store.asked == ["a", "b", "c"]
    assert cache.get("a") is None and grouper.stats.embedded == 0 and cache.computed() == []
    (a,) = grouper._embed_now([("a", "alpha")], cache)
    assert len(embedder.calls) == 1  # taken from what was computed ahead, not computed again
    assert np.array_equal(a, Recorder().embed(["alpha"])[0])
    both = grouper._embed_now([("b", "beta"), ("d", "delta")], cache)
    assert embedder.calls[1:] == [["delta"]] and len(both) == 2  # only the one not computed ahead
    assert grouper.stats.embedded == 3
    # what was asked for is written onto its articles; "c", computed ahead but never used, is not
    assert [doc_id for doc_id, _, _ in cache.computed()] == ["a", "b", "d"]
    assert store.asked == ["a", "b", "c", "d"]  # each stored vector looked for once


def test_computing_ahead_twice_computes_once() -> None:
    grouper, embedder, _ = _grouper()
    cache = _VectorCache({}, read=[])
    grouper._embed_now([("a", "alpha"), ("b", "beta")], cache, ahead=True)
    grouper._embed_now([("a", "alpha"), ("b", "beta"), ("c", "gamma")], cache, ahead=True)
    assert embedder.calls == [["alpha", "beta"], ["gamma"]]
    grouper._embed_now([("c", "gamma"), ("a", "alpha")], cache)
    assert len(embedder.calls) == 2 and grouper.stats.embedded == 2
