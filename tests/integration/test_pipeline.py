"""The pipeline over the sample corpus against the real Elasticsearch: polling, idempotency, replay."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from evaluation.devserver import SampleServer
from ingest import indexing, pipeline
from ingest.config import PipelineOptions
from ingest.errors import ConfigurationError, IndexingError
from ingest.feeds import load_feed_sources
from ingest.ledger import Ledger
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Set at index time, not derived from the capture: the only field a replay may change.
VOLATILE = {"indexed_at"}


def _docs(es: Elasticsearch, alias: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: {k: v for k, v in h["_source"].items() if k not in VOLATILE} for h in hits}


def _live(options: PipelineOptions, es: Elasticsearch, now: datetime | None = None) -> pipeline.BatchReport:
    return pipeline.run_live(load_feed_sources(options.feeds.feeds_file), es, options, now=now)


def test_second_poll_is_conditional_and_fetches_nothing(
    pipeline_options: PipelineOptions, es: Elasticsearch, sample_server: SampleServer
) -> None:
    first = _live(pipeline_options, es)
    manifest = tomllib.loads((ROOT / "seeds" / "sample" / "manifest.toml").read_text("utf-8"))["article"]
    good = [a for a in manifest if a.get("status", 200) == 200]
    assert first.created == len(good)
    assert first.skipped == {"page:http_404": 1}
    sample_server.clear_requests()

    # Polled again right away, the feeds are not due (RSS <ttl>, Cache-Control): polite, nothing is requested.
    early = _live(pipeline_options, es)
    assert early.feeds_not_due == early.feeds
    assert sample_server.requests == []

    second = _live(pipeline_options, es, now=datetime.now(UTC) + timedelta(days=1))
    assert second.feeds_polled == first.feeds_polled
    assert second.feeds_not_modified == second.feeds_polled  # every feed answered 304
    assert second.pages_fetched == 0
    assert second.created == second.updated == 0
    conditional = [h for _, path, h in sample_server.requests if "if-none-match" in {k.lower() for k in h}]
    assert len(conditional) == second.feeds_polled


def test_replay_rebuilds_the_same_documents(pipeline_options: PipelineOptions, es: Elasticsearch) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    _live(pipeline_options, es)
    end = datetime.now(UTC) + timedelta(seconds=1)
    live = _docs(es, pipeline_options.index.articles_alias)

    # Replay into fresh aliases: same ids, same content, nothing more.
    replay_index = replace(
        pipeline_options.index,
        articles_alias=pipeline_options.index.articles_alias + "-replay",
        stories_alias=pipeline_options.index.stories_alias + "-replay",
    )
    options = replace(pipeline_options, index=replay_index)
    try:
        summary = pipeline.replay(start, end, es, options, stories=False)
        replayed = _docs(es, replay_index.articles_alias)
    finally:
        indexing.drop_indices(es, replay_index)
    assert summary["created"] == len(live)
    assert replayed.keys() == live.keys()
    for doc_id, doc in live.items():
        assert replayed[doc_id] == doc, doc_id

    # A window before the capture replays nothing.
    empty = pipeline.replay(start - timedelta(days=1), start - timedelta(hours=1), es, pipeline_options, stories=False)
    assert empty["pages_read"] == 0


def test_elasticsearch_outage_mid_run_loses_nothing(pipeline_options: PipelineOptions, es: Elasticsearch) -> None:
    """Indices exist, then writes are refused (a write block): the run raises, its capture stays pending in the
    ledger, and the next run (the feeds now unchanged) indexes every article exactly once."""
    (articles_index, *_) = indexing.ensure_indices(es, pipeline_options.index)
    es.indices.put_settings(index=articles_index, settings={"index.blocks.write": True})
    try:
        with pytest.raises(IndexingError):
            _live(pipeline_options, es)
    finally:
        es.indices.put_settings(index=articles_index, settings={"index.blocks.write": False})
    assert _docs(es, pipeline_options.index.articles_alias) == {}
    with Ledger(pipeline_options.state) as ledger:
        (pending,) = ledger.pending()
    assert pending.captures > 20

    retry = _live(pipeline_options, es, now=datetime.now(UTC) + timedelta(days=1))
    assert retry.pages_fetched == 0  # nothing is fetched again: the archive holds the captures
    docs = _docs(es, pipeline_options.index.articles_alias)
    assert retry.created == len(docs) == pending.captures - retry.skips_in(("extract", "derive"))
    with Ledger(pipeline_options.state) as ledger:
        assert ledger.pending() == []


def test_processing_a_window_again_changes_nothing(pipeline_options: PipelineOptions, es: Elasticsearch) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    first = _live(pipeline_options, es)
    end = datetime.now(UTC) + timedelta(seconds=1)
    before = _docs(es, pipeline_options.index.articles_alias)
    again = pipeline.replay(start, end, es, pipeline_options, stories=False)
    assert again["created"] == again["updated"] == 0
    assert again["unchanged"] == first.created
    assert _docs(es, pipeline_options.index.articles_alias) == before


def test_backfill_by_publish_time_rederives_through_archive_references(
    pipeline_options: PipelineOptions, es: Elasticsearch
) -> None:
    _live(pipeline_options, es)
    docs = _docs(es, pipeline_options.index.articles_alias)
    published = sorted(d["published_at"] for d in docs.values() if d.get("published_at"))
    start, end = datetime.fromisoformat(published[0]), datetime.fromisoformat(published[len(published) // 2])
    expected = {
        k for k, d in docs.items() if d.get("published_at") and start <= datetime.fromisoformat(d["published_at"]) < end
    }
    summary = pipeline.replay(start, end, es, pipeline_options, by="publish", stories=False)
    assert summary["articles_built"] == len(expected) > 0
    assert summary["unchanged"] == len(expected)
    assert summary["pages_read"] == len(expected)


def test_plan_splits_feeds_into_batches(pipeline_options: PipelineOptions) -> None:
    options = replace(pipeline_options, feeds=replace(pipeline_options.feeds, batch_size=3))
    specs = pipeline.plan_capture(options)
    sources = load_feed_sources(options.feeds.feeds_file)
    assert [len(s["feeds"]) for s in specs] == [3] * (len(sources) // 3) + (
        [len(sources) % 3] if len(sources) % 3 else []
    )
    day = pipeline.plan_window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), options)
    assert [(s["start"], s["end"]) for s in day] == [
        (f"2026-01-01T{h:02d}:00:00+00:00", f"2026-01-0{1 + (h + 6) // 24}T{(h + 6) % 24:02d}:00:00+00:00")
        for h in (0, 6, 12, 18)
    ]
    with pytest.raises(ConfigurationError, match="unknown feeds"):
        pipeline.plan_capture(options, feed_names=["no-such-feed"])
    with pytest.raises(ConfigurationError, match="not after its start"):
        pipeline.plan_window(datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), options)


def test_two_processors_on_overlapping_windows_create_no_duplicates(
    pipeline_options: PipelineOptions, es: Elasticsearch
) -> None:
    """Processing is partitioned by capture window; two workers that overlap (a backfill next to the live run,
    two Celery workers) upsert the same deterministic ids, so the index holds each article once."""
    from concurrent.futures import ThreadPoolExecutor

    start = datetime.now(UTC) - timedelta(seconds=1)
    report = pipeline.capture(load_feed_sources(pipeline_options.feeds.feeds_file), pipeline_options)
    end = datetime.now(UTC) + timedelta(seconds=1)
    middle = start + (end - start) / 2
    indexing.ensure_indices(es, pipeline_options.index)
    windows = [(start, end), (start, middle + timedelta(seconds=1)), (middle, end)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda w: pipeline.replay(w[0], w[1], es, pipeline_options, stories=False), windows))
    docs = _docs(es, pipeline_options.index.articles_alias)
    assert len(docs) == report.captures - sum(r["skipped"].get("extract:no_content", 0) for r in runs[:1]) > 20
    es.indices.refresh(index=pipeline_options.index.articles_alias)
    urls = es.search(
        index=pipeline_options.index.articles_alias, size=0, aggs={"u": {"terms": {"field": "url", "size": 1000}}}
    )["aggregations"]["u"]["buckets"]
    assert all(b["doc_count"] == 1 for b in urls)
    assert sum(r["created"] for r in runs) >= len(docs)  # some were written by both, as updates or no-ops


def test_feed_links_survive_any_processing_order(pipeline_options: PipelineOptions, es: Elasticsearch) -> None:
    """An article two feeds list, captured by one batch: the other batch's link is not lost when its processing
    runs first (mapped tasks run in any order), nor when the article's URL in the feed differs."""
    sources = {s.name: s for s in load_feed_sources(pipeline_options.feeds.feeds_file)}
    indexing.ensure_indices(es, pipeline_options.index)
    pipeline.capture([sources["circuitlane-security"]], pipeline_options)  # fetches the shared article
    pipeline.capture([sources["circuitlane-news"]], pipeline_options)  # lists it too: already seen
    specs = pipeline.pending_specs(pipeline_options)
    assert len(specs) == 2
    for spec in reversed(specs):  # the news batch first: its article is not indexed yet
        pipeline.process_batch(spec, es, pipeline_options)
    docs = _docs(es, pipeline_options.index.articles_alias)
    (shared,) = [d for d in docs.values() if "unreleased-sony-films-leak-online" in d["url"]]
    assert shared["feeds"] == ["circuitlane-news", "circuitlane-security"]
    with Ledger(pipeline_options.state) as ledger:
        assert ledger.deferred_links() == {}


def test_a_document_elasticsearch_refuses_is_a_counted_skip_and_its_batch_is_indexed(
    es: Elasticsearch, pipeline_options: PipelineOptions
) -> None:
    """The processing sink's indexing step with one document Elasticsearch refuses (an unmapped field stands
    for any per-document refusal that gets past :func:`ingest.documents.storable`): the run goes on, the
    refusal is counted under ``index:document_rejected`` with its URL, the other documents are indexed."""
    from ingest.pipeline.derive import _index
    from ingest.pipeline.reports import BatchReport

    indexing.ensure_indices(es, pipeline_options.index)
    docs: list[dict[str, Any]] = [
        {"doc_id": f"d{n}", "url": f"https://example.org/{n}", "title": "t", "body": "b", "feeds": ["f"]}
        for n in range(3)
    ]
    docs[1]["not_in_the_mapping"] = 1
    report = BatchReport(stage="process")
    _index(docs, es, pipeline_options, report)
    assert report.created == 2
    assert report.skipped == {"index:document_rejected": 1}
    assert report.errors[0]["url"] == "https://example.org/1" and report.errors[0]["permanent"] is True
    assert es.count(index=pipeline_options.index.articles_alias)["count"] == 2
