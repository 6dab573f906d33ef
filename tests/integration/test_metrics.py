"""Run metrics in the real news-runs index: idempotent writes, stale per-reason documents removed, and the
aggregations the Pipeline health dashboard makes (skips by reason, failing feeds, 304 share) give the numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from ingest import indexing
from ingest.config import IndexOptions
from ingest.errors import IndexMissing
from ingest.metrics import FeedFailure, RunMetrics, write_run_metrics

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _record(**changes: object) -> RunMetrics:
    base = RunMetrics(
        dag_id="news_poll",
        run_id="scheduled__2026-11-30T12:00:00+00:00",
        task_id="poll",
        stage="poll",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=20),
        feeds_polled=10,
        feeds_not_modified=7,
        feeds_failed=1,
        articles_new=4,
        skipped={"page:http_404": 2, "page:extraction_error": 1},
        extraction_failures=1,
        tag_counts={"cyberattack": 2},
        failing_feeds=(FeedFailure("bbc-world", "https://feeds.bbci.co.uk/news/world/rss.xml", "http_503"),),
        status="degraded",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _count(es: Elasticsearch, alias: str, **term: str) -> int:
    es.indices.refresh(index=alias)
    query = {"term": term} if term else {"match_all": {}}
    return int(es.count(index=alias, query=query)["count"])


def test_rewriting_a_try_overwrites_and_drops_stale_documents(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    alias = index_options.runs
    first = _record()
    assert write_run_metrics(es, index_options, first) == 1 + 2 + 1 + 1
    assert write_run_metrics(es, index_options, first) == 5
    assert _count(es, alias) == 5, "a rewrite of the same try must not add documents"
    # the retried write of this try no longer has the extraction_error skip: its document goes
    fewer = replace(first, skipped={"page:http_404": 3})
    write_run_metrics(es, index_options, fewer)
    assert _count(es, alias, kind="skip") == 1
    assert _count(es, alias) == 4
    # the next try is a new run: its own documents beside the first try's
    write_run_metrics(es, index_options, replace(first, try_number=2))
    assert _count(es, alias, kind="task") == 2


def test_health_aggregations(es: Elasticsearch, index_options: IndexOptions) -> None:
    indexing.ensure_indices(es, index_options)
    alias = index_options.runs
    write_run_metrics(es, index_options, _record())
    write_run_metrics(
        es, index_options, _record(run_id="scheduled__2", skipped={"page:http_404": 5}, failing_feeds=(), status="ok")
    )
    es.indices.refresh(index=alias)
    resp = es.search(
        index=alias,
        size=0,
        query={"term": {"kind": "skip"}},
        aggs={"reason": {"terms": {"field": "reason"}, "aggs": {"n": {"sum": {"field": "count"}}}}},
    )
    by_reason = {b["key"]: b["n"]["value"] for b in resp["aggregations"]["reason"]["buckets"]}
    assert by_reason == {"http_404": 7.0, "extraction_error": 1.0}
    feeds = es.search(
        index=alias,
        size=0,
        query={"term": {"kind": "feed_failure"}},
        aggs={"feed": {"terms": {"field": "feed"}}},
    )["aggregations"]["feed"]["buckets"]
    assert [(b["key"], b["doc_count"]) for b in feeds] == [("bbc-world", 1)]
    shares = es.search(
        index=alias,
        size=0,
        query={"term": {"kind": "task"}},
        aggs={n: {"sum": {"field": n}} for n in ("feeds_not_modified", "feeds_changed", "feeds_failed")},
    )["aggregations"]
    assert {k: v["value"] for k, v in shares.items()} == {
        "feeds_not_modified": 14.0,
        "feeds_changed": 4.0,
        "feeds_failed": 2.0,
    }


def test_a_missing_runs_index_is_reported(es: Elasticsearch, index_options: IndexOptions) -> None:
    with pytest.raises(IndexMissing, match="setup-index"):
        write_run_metrics(es, index_options, _record())
