"""The run-metrics record: validation, deterministic ids, and documents the strict news-runs mapping accepts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ingest import indexing
from ingest.config import IndexOptions
from ingest.errors import ConfigurationError
from ingest.kibana.validate import template_fields
from ingest.metrics import FeedFailure, RunMetrics

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _record(**changes: object) -> RunMetrics:
    base = RunMetrics(
        dag_id="news_poll",
        run_id="scheduled__2026-11-30T12:00:00+00:00",
        task_id="poll",
        stage="poll",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=12.5),
        map_index=3,
        run_type="scheduled",
        window_start=T0 - timedelta(minutes=15),
        window_end=T0,
        feeds_polled=8,
        feeds_not_modified=5,
        feeds_failed=1,
        captures=14,
        articles_new=6,
        articles_updated=1,
        skipped={"page:http_404": 2, "feed:timeout": 1},
        extraction_failures=1,
        tag_counts={"cyberattack": 3, "geopolitics": 2},
        failing_feeds=(FeedFailure("bbc-world", "https://feeds.bbci.co.uk/news/world/rss.xml", "timeout: 15s"),),
        status="degraded",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_derived_counts() -> None:
    record = _record()
    assert record.duration_s == 12.5
    assert record.articles_skipped == 3
    assert record.feeds_changed == 2  # 8 polled - 5 unchanged - 1 failed


def test_ids_are_deterministic_and_per_try() -> None:
    a, b = _record(), _record()
    assert a.record_id == b.record_id
    assert [i for i, _ in a.documents()] == [i for i, _ in b.documents()]
    assert _record(try_number=2).record_id != a.record_id
    assert _record(map_index=4).record_id != a.record_id
    ids = [i for i, _ in a.documents()]
    assert len(ids) == len(set(ids)) == 1 + 2 + 1 + 2


def test_documents_by_kind() -> None:
    docs = dict(_record().documents())
    kinds = sorted(str(d["kind"]) for d in docs.values())
    assert kinds == ["feed_failure", "skip", "skip", "tag", "tag", "task"]
    skips = {(d["skip_stage"], d["reason"]): d["count"] for d in docs.values() if d["kind"] == "skip"}
    assert skips == {("page", "http_404"): 2, ("feed", "timeout"): 1}
    failure = next(d for d in docs.values() if d["kind"] == "feed_failure")
    assert (failure["feed"], failure["error"], failure["count"]) == ("bbc-world", "timeout: 15s", 1)
    for doc in docs.values():  # every document carries the context it is filtered and charted by
        assert doc["stage"] == "poll" and doc["status"] == "degraded"
        assert doc["started_at"] == T0.isoformat() and doc["dag_id"] == "news_poll"


def test_documents_fit_the_strict_mapping() -> None:
    spec = next(s for s in indexing.specs(IndexOptions()) if s.template == "news-runs")
    mapped = template_fields(indexing.load_template(spec.template))
    for _doc_id, doc in _record().documents():
        assert set(doc) - set(mapped) == set(), doc["kind"]
    assert "child_ids" in mapped


def test_a_skip_without_a_stage() -> None:
    doc = next(d for _, d in _record(skipped={"robots_disallowed": 4}).documents() if d["kind"] == "skip")
    assert (doc["skip_stage"], doc["reason"], doc["count"]) == ("", "robots_disallowed", 4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stage": "indexing"}, "stage must be one of"),
        ({"status": "green"}, "status must be one of"),
        ({"finished_at": T0 - timedelta(seconds=1)}, "before started_at"),
        ({"started_at": datetime(2026, 11, 30, 12, 0)}, "timezone-aware"),
        ({"articles_new": -1}, "articles_new"),
        ({"skipped": {"page:x": -2}}, r"skipped\[page:x\]"),
    ],
)
def test_invalid_records_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _record(**changes)


def test_record_is_immutable() -> None:
    source = {"page:http_404": 1}
    record = _record(skipped=source)
    source["page:http_404"] = 99
    assert record.skipped == {"page:http_404": 1}
    with pytest.raises(TypeError):
        record.skipped["x"] = 1  # type: ignore[index]


def test_summary_line_has_the_numbers() -> None:
    line = _record().summary()
    assert "poll degraded: 12.5s" in line and "not_modified=5" in line and "page:http_404=2" in line
    assert "\n" not in line


def test_runs_alias_follows_the_articles_alias() -> None:
    assert IndexOptions().runs == "news-runs"
    assert IndexOptions(articles_alias="test-abc-articles").runs == "test-abc-runs"
    assert IndexOptions(articles_alias="custom").runs == "custom-runs"
    assert IndexOptions(runs_alias="ops-runs").runs == "ops-runs"
