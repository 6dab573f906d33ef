"""Index templates, aliases and bulk upserts against the real local Elasticsearch."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest import indexing
from ingest.config import IndexOptions
from ingest.errors import IndexingError

pytestmark = pytest.mark.integration


def _doc(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "doc_id": f"id{n:04d}",
        "url": f"https://example.org/a/{n}",
        "title": f"Article {n}",
        "body": f"Body text of article number {n}.",
        "language": "en",
        "outlet": "Example Times",
        "feeds": ["example-world"],
        "published_at": "2014-12-19T15:00:00+00:00",
        **extra,
    }


def test_templates_and_aliases_are_created_once(es: Elasticsearch, index_options: IndexOptions) -> None:
    first = indexing.ensure_indices(es, index_options)
    second = indexing.ensure_indices(es, index_options)
    indices = {spec.alias: spec.index for spec in indexing.specs(index_options)}
    assert sorted(first) == sorted(indices.values())
    assert indices[index_options.articles_alias].endswith("-v3")  # `embedding_key` came with version 3
    assert second == []
    aliases = es.indices.get_alias(name=index_options.articles_alias)
    assert list(aliases) == [indices[index_options.articles_alias]]
    mapping = es.indices.get_mapping(index=index_options.articles_alias)
    props = next(iter(mapping.values()))["mappings"]
    assert props["dynamic"] == "strict"
    for name in ("outlet", "language", "url", "published_at", "fetched_at", "title", "body", "tags", "story_id"):
        assert name in props["properties"], name
    assert props["properties"]["title"]["fields"]["keyword"]["type"] == "keyword"


def test_bulk_twice_gives_the_same_count(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    docs = [_doc(n) for n in range(250)]  # more than one chunk
    first = indexing.bulk_upsert(es, index_options.articles_alias, docs, index_options)
    second = indexing.bulk_upsert(es, index_options.articles_alias, docs, index_options)
    es.indices.refresh(index=index_options.articles_alias)
    assert (first.created, second.created) == (250, 0)
    assert second.updated + second.noop == 250
    assert es.count(index=index_options.articles_alias)["count"] == 250


def test_upsert_keeps_fields_owned_by_other_stages(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    alias = index_options.articles_alias
    indexing.bulk_upsert(es, alias, [_doc(1)], index_options)
    es.update(index=alias, id="id0001", doc={"story_id": "st-1"}, refresh=True)
    indexing.bulk_upsert(es, alias, [_doc(1, title="Article 1, updated")], index_options)
    source = es.get(index=alias, id="id0001")["_source"]
    assert source["story_id"] == "st-1"
    assert source["title"] == "Article 1, updated"


def test_list_fields_are_merged_not_replaced(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    alias = index_options.articles_alias
    indexing.bulk_upsert(es, alias, [_doc(1)], index_options)
    again = [_doc(1, feeds=["example-tech"])]
    existing = indexing.existing_sources(es, alias, ["id0001", "missing"], indexing.MERGED_LIST_FIELDS)
    indexing.merge_list_fields(again, existing, indexing.MERGED_LIST_FIELDS)
    indexing.bulk_upsert(es, alias, again, index_options)
    assert es.get(index=alias, id="id0001")["_source"]["feeds"] == ["example-tech", "example-world"]


def test_rejected_documents_raise_instead_of_vanishing(es: Elasticsearch, index_options: IndexOptions) -> None:
    """A field the strict mapping does not know is a per-item rejection: it must fail the task."""
    indexing.ensure_indices(es, index_options)
    docs = [_doc(1), _doc(2, unexpected_field="x"), _doc(3)]
    with pytest.raises(IndexingError) as info:
        indexing.bulk_upsert(es, index_options.articles_alias, docs, index_options)
    assert info.value.failed == 1
    assert "strict_dynamic_mapping_exception" in str(info.value.errors[0]["error"])


def test_unreachable_cluster_is_an_infrastructure_error(index_options: IndexOptions) -> None:
    dead = replace(index_options, es_url="http://127.0.0.1:9", request_timeout=2, max_retries=0)
    client = indexing.client(dead, max_retries=0)
    with pytest.raises(IndexingError):
        indexing.ensure_indices(client, dead)
    with pytest.raises(IndexingError):
        indexing.bulk_upsert(client, dead.articles_alias, [_doc(1)], dead)


def test_an_index_from_an_older_template_gets_the_new_fields(es: Elasticsearch, index_options: IndexOptions) -> None:
    """A deployment whose alias still points at a version-1 index (no ``names`` field) keeps it and gains the
    field: ``ensure_indices`` adds new mappings to the indices behind an existing alias."""
    body = indexing.load_template("news-articles")["template"]
    old_mappings = {**body["mappings"], "properties": dict(body["mappings"]["properties"])}
    del old_mappings["properties"]["names"]
    old_index = f"{index_options.articles_alias}-v1"
    es.indices.create(
        index=old_index,
        settings=body["settings"],
        mappings=old_mappings,
        aliases={index_options.articles_alias: {"is_write_index": True}},
    )
    indexing.ensure_indices(es, index_options)
    mapping = es.indices.get_mapping(index=old_index)[old_index]["mappings"]
    assert mapping["properties"]["names"] == {"type": "keyword"}
    es.index(index=index_options.articles_alias, id="a", document={"doc_id": "a", "names": ["name:kim jong un"]})
    es.indices.refresh(index=index_options.articles_alias)
    hits = es.search(index=index_options.articles_alias, query={"term": {"names": "name:kim jong un"}})
    assert hits["hits"]["total"]["value"] == 1


def test_documents_refused_for_their_content_are_skips_not_a_failed_batch(
    es: Elasticsearch, index_options: IndexOptions
) -> None:
    """What Elasticsearch refuses per document (an immense keyword term, a date beyond its range, a wrong type,
    an unmapped field) is that document's fault: with ``skip_rejected`` the batch is indexed and the refused
    documents come back as counted ``document_rejected`` skips with Elasticsearch's reason. Retrying the batch
    (what an IndexingError makes Airflow do) would only be refused again, for ever."""
    indexing.ensure_indices(es, index_options)
    docs = [
        _doc(1),
        _doc(2, authors=["A" * 40_000]),
        _doc(3, published_at="292278995-01-01T00:00:00Z"),
        _doc(4, word_count="many"),
        _doc(5, unexpected_field="x"),
        _doc(6),
    ]
    report = indexing.bulk_upsert(es, index_options.articles_alias, docs, index_options, skip_rejected=True)
    assert report.created == 2 and report.failed == 0
    rejected = {skip.doc_id: skip for skip in report.rejected}
    assert sorted(rejected) == ["id0002", "id0003", "id0004", "id0005"]
    assert all(skip.reason == "document_rejected" and skip.permanent for skip in rejected.values())
    assert rejected["id0002"].url == "https://example.org/a/2"
    assert "immense term" in str(rejected["id0002"]) and len(str(rejected["id0002"])) < 600
    assert rejected["id0005"].error_type == "strict_dynamic_mapping_exception"
    assert es.count(index=index_options.articles_alias)["count"] == 2


def test_a_write_block_still_fails_the_batch_with_skip_rejected(es: Elasticsearch, index_options: IndexOptions) -> None:
    """Not the documents' fault: an infrastructure error, so the task fails and is retried."""
    indexing.ensure_indices(es, index_options)
    es.indices.put_settings(index=index_options.articles_alias, settings={"index.blocks.write": True})
    try:
        with pytest.raises(IndexingError):
            indexing.bulk_upsert(es, index_options.articles_alias, [_doc(1)], index_options, skip_rejected=True)
    finally:
        es.indices.put_settings(index=index_options.articles_alias, settings={"index.blocks.write": False})


def test_drop_indices_leaves_nothing_behind(es: Elasticsearch, index_options: IndexOptions) -> None:
    """Benchmarks drop what they made: the indices, their templates and the story writer clock."""
    from ingest.stories.store import StoryStore

    indexing.ensure_indices(es, index_options)
    StoryStore(es, index_options).clock()  # creates the writer clock's index
    assert es.indices.exists(index=index_options.stories_clock)
    indexing.drop_indices(es, index_options)
    for spec in indexing.specs(index_options):
        assert not es.indices.exists(index=spec.index)
        assert not es.indices.exists_index_template(name=f"{spec.alias}-template")
    assert not es.indices.exists(index=index_options.stories_clock)
