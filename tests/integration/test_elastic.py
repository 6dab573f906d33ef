"""The one Elasticsearch seam maps real client errors from the real node onto ingest's exception tree."""

from __future__ import annotations

import socket

import pytest
from elasticsearch import Elasticsearch

from ingest import elastic, indexing
from ingest.config import IndexOptions
from ingest.errors import ElasticsearchUnavailable, IndexingError, IndexMissing, RequestRejected

pytestmark = pytest.mark.integration


def test_missing_alias_is_index_missing(es: Elasticsearch, index_options: IndexOptions) -> None:
    with pytest.raises(IndexMissing, match="setup-index") as info:
        elastic.call("a search", es.search, index=index_options.articles_alias, query={"match_all": {}})
    assert info.value.status == 404


def test_bad_request_is_rejected(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    with pytest.raises(RequestRejected) as info:
        elastic.call(
            "a malformed query", es.search, index=index_options.articles_alias, query={"no_such_query": {}}
        )
    assert info.value.status == 400
    assert "parsing_exception" in str(info.value) or "x_content" in str(info.value)


def test_write_block_rejects_bulk_writes(es: Elasticsearch, index_options: IndexOptions) -> None:
    (concrete, *_) = indexing.ensure_indices(es, index_options)
    es.indices.put_settings(index=concrete, settings={"index.blocks.write": True})
    try:
        doc = {"doc_id": "x1", "url": "https://example.org/x1", "title": "t", "body": "b", "language": "en"}
        with pytest.raises(IndexingError):
            indexing.bulk_upsert(es, index_options.articles_alias, [doc], index_options)
    finally:
        es.indices.put_settings(index=concrete, settings={"index.blocks.write": False})


def test_no_server_is_unavailable() -> None:
    with socket.socket() as sock:  # a loopback port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = Elasticsearch(f"http://127.0.0.1:{port}", request_timeout=2, max_retries=0)
    with pytest.raises(ElasticsearchUnavailable, match="unreachable"):
        elastic.call("a health check", dead.cluster.health)
