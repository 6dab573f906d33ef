"""Grouping with the vectors an opened embedding gate needs computed in one batched call gives what one call per
text gives: the same assignments and scores, the same vectors on the same articles, the same counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, StoryOptions
from ingest.indexing import create_indices
from ingest.stories import StoryGrouper
from ingest.stories.grouping import StoryGrouper as _Grouper
from tests.integration.test_stories import ARTICLES, COUNTRIES_DE, SPORT_DE, CountingEmbedder, _drop, _index

pytestmark = pytest.mark.integration


@pytest.fixture
def two(es: Elasticsearch) -> Iterator[tuple[IndexOptions, IndexOptions]]:
    prefix = f"test-stories-{uuid.uuid4().hex[:8]}"
    a, b = (IndexOptions(articles_alias=f"{prefix}-{k}-articles", stories_alias=f"{prefix}-{k}-stories") for k in "ab")
    for opts in (a, b):
        create_indices(es, opts)
    yield a, b
    for opts in (a, b):
        _drop(es, opts)


def _vectors(es: Elasticsearch, opts: IndexOptions) -> dict[str, Any]:
    resp = es.search(index=opts.articles_alias, size=100, source={"exclude_vectors": False})
    return {h["_id"]: h["_source"].get("embedding") for h in resp["hits"]["hits"]}


def test_vectors_computed_ahead_change_nothing_but_the_calls(
    es: Elasticsearch, two: tuple[IndexOptions, IndexOptions], monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = [*ARTICLES, SPORT_DE, COUNTRIES_DE]
    ahead_opts, single_opts = two
    for opts in two:
        _index(es, opts, docs)
    ahead_embedder = CountingEmbedder()
    ahead = StoryGrouper(es, StoryOptions(), ahead_opts, ahead_embedder)
    with_ahead = ahead.assign_pending()
    monkeypatch.setattr(_Grouper, "_embed_ahead", lambda self, *args: None)
    single_embedder = CountingEmbedder()
    single = StoryGrouper(es, StoryOptions(), single_opts, single_embedder)
    one_by_one = single.assign_pending()
    assert [(a.doc_id, a.story_id, a.score, a.path) for a in with_ahead] == [
        (a.doc_id, a.story_id, a.score, a.path) for a in one_by_one
    ]
    assert ahead.stats.embedded == single.stats.embedded == 3
    assert sorted(ahead_embedder.texts) == sorted(single_embedder.texts)  # each text once, in either run
    assert ahead_embedder.calls < single_embedder.calls  # the gate's texts went together
    assert _vectors(es, ahead_opts) == _vectors(es, single_opts)
