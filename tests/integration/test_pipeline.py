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
        report = pipeline.run_batch({"mode": "replay", "start": start.isoformat(), "end": end.isoformat()}, es, options)
        replayed = _docs(es, replay_index.articles_alias)
    finally:
        indexing.drop_indices(es, replay_index)
    assert report["created"] == len(live)
    assert replayed.keys() == live.keys()
    for doc_id, doc in live.items():
        assert replayed[doc_id] == doc, doc_id

    # A window before the capture replays nothing.
    empty = pipeline.run_replay(start - timedelta(days=1), start - timedelta(hours=1), es, pipeline_options)
    assert empty.pages_fetched == 0


def test_elasticsearch_outage_fails_the_batch_and_loses_nothing(
    pipeline_options: PipelineOptions, es: Elasticsearch
) -> None:
    dead = indexing.client(replace(pipeline_options.index, es_url="http://127.0.0.1:9"), max_retries=0)
    with pytest.raises(IndexingError):
        _live(pipeline_options, dead)
    # Nothing was marked as done: the retry fetches and indexes every article.
    retry = _live(pipeline_options, es)
    assert retry.created == len(_docs(es, pipeline_options.index.articles_alias)) > 20
    assert retry.entries_already_seen < retry.entries


def test_plan_splits_feeds_into_batches(pipeline_options: PipelineOptions) -> None:
    options = replace(pipeline_options, feeds=replace(pipeline_options.feeds, batch_size=3))
    specs = pipeline.plan_batches(options, mode="auto", run_type="scheduled")
    sources = load_feed_sources(options.feeds.feeds_file)
    assert [len(s["feeds"]) for s in specs] == [3] * (len(sources) // 3) + (
        [len(sources) % 3] if len(sources) % 3 else []
    )
    backfill = pipeline.plan_batches(
        options,
        mode="auto",
        run_type="backfill",
        start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert backfill == [{"mode": "replay", "start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00"}]
    with pytest.raises(ConfigurationError, match="unknown feeds"):
        pipeline.plan_batches(options, mode="live", feed_names=["no-such-feed"])
