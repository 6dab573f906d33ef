"""Near-duplicate linking against the real local Elasticsearch (test aliases, removed afterwards)."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import Elasticsearch

from evaluation.faultserver import article_text
from ingest import indexing
from ingest.config import IndexOptions
from ingest.dedup import link_near_duplicates
from ingest.errors import IndexingError

pytestmark = pytest.mark.integration


def doc(doc_id: str, n: int, day: int, *, edit_every: int = 0) -> dict[str, Any]:
    title, paragraphs = article_text(n)
    words = " ".join(paragraphs).split()
    if edit_every:
        words = ["EDITED" if i % edit_every == 0 else w for i, w in enumerate(words)]
    return {
        "doc_id": doc_id,
        "url": f"https://example.org/{doc_id}",
        "title": title,
        "body": " ".join(words),
        "published_at": f"2026-11-{day:02d}T10:00:00+00:00",
    }


def stored(es: Elasticsearch, alias: str, doc_id: str) -> dict[str, Any]:
    src: dict[str, Any] = es.get(index=alias, id=doc_id)["_source"]
    return src


def index(es: Elasticsearch, options: IndexOptions, docs: list[dict[str, Any]]) -> int:
    links = link_near_duplicates(es, options.articles_alias, docs)
    indexing.bulk_upsert(es, options.articles_alias, docs, options)
    indexing.refresh(es, options.articles_alias)
    return links


def test_linking_across_batches(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    alias = index_options.articles_alias
    a, c = doc("a", 1, 10), doc("c", 2, 10)
    assert index(es, index_options, [a, c]) == 0
    assert stored(es, alias, "a")["lsh_bands"]
    assert stored(es, alias, "a")["is_duplicate"] is False

    b = doc("b", 1, 12, edit_every=50)  # wire copy, published later
    assert index(es, index_options, [b]) == 1
    assert b["is_duplicate"] is True and b["duplicate_of"] == "a" and b["near_duplicates"] == ["a"]
    sa = stored(es, alias, "a")
    assert sa["near_duplicates"] == ["b"] and sa["is_duplicate"] is False
    assert stored(es, alias, "c")["near_duplicates"] == []

    # idempotent: the same batch again changes nothing
    again = doc("b", 1, 12, edit_every=50)
    assert index(es, index_options, [again]) == 1
    assert {k: again[k] for k in ("near_duplicates", "is_duplicate", "duplicate_of", "lsh_bands")} == {
        k: b[k] for k in ("near_duplicates", "is_duplicate", "duplicate_of", "lsh_bands")
    }
    assert stored(es, alias, "a")["near_duplicates"] == ["b"]

    # an earlier-published copy arriving late becomes the original of its partner
    early = doc("e", 1, 1, edit_every=70)
    assert index(es, index_options, [early]) == 2
    assert early["is_duplicate"] is False and early["near_duplicates"] == ["a", "b"]
    sa = stored(es, alias, "a")
    assert sa["near_duplicates"] == ["b", "e"]
    assert sa["is_duplicate"] is True and sa["duplicate_of"] == "e"


def test_linking_within_one_batch_ties_to_smallest_id(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    x, y, z = doc("x", 5, 3), doc("y", 5, 3, edit_every=40), doc("z", 6, 3)
    assert index(es, index_options, [y, x, z]) == 1
    assert x["is_duplicate"] is False and x["near_duplicates"] == ["y"]
    assert y["is_duplicate"] is True and y["duplicate_of"] == "x"
    assert z["near_duplicates"] == [] and z["duplicate_of"] is None


def test_unreachable_elasticsearch_raises() -> None:
    dead = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    with pytest.raises(IndexingError):
        link_near_duplicates(dead, "test-dedup-dead", [doc("q", 1, 1)])
