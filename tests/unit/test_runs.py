"""Run metrics records built from the stages' reports (what the DAG tasks write to news-runs)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.config import PipelineOptions
from ingest.errors import FetchError
from ingest.pipeline import BatchReport
from ingest.pipeline.runs import TaskRun, metrics_of

pytestmark = pytest.mark.unit

RUN = TaskRun(dag_id="news_poll", run_id="scheduled__1", task_id="capture", map_index=2, try_number=1)


def test_a_capture_report_becomes_a_metrics_record() -> None:
    report = BatchReport(stage="capture", feeds=3, feeds_polled=3, feeds_not_modified=1, feeds_failed=1, captures=4)
    report.skip(FetchError("timed out", reason="timeout", url="http://a.example/feed"), stage="feed")
    report.failed_feeds.append({"feed": "a", "url": "http://a.example/feed", "error": "timeout: timed out"})
    report.window_start, report.window_end = "2026-12-01T10:00:00+00:00", "2026-12-01T10:00:05+00:00"
    started = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    m = metrics_of(report.as_dict(), RUN, "capture", started, PipelineOptions())
    assert (m.feeds_polled, m.feeds_not_modified, m.feeds_failed, m.captures) == (3, 1, 1, 4)
    assert dict(m.skipped) == {"feed:timeout": 1}
    assert [f.feed for f in m.failing_feeds] == ["a"]
    assert m.window_start == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert (m.map_index, m.status) == (2, "degraded")  # one of three feeds failed: not over the 50 % share


def test_health_decides_the_status_and_grouping_counts_map_to_stories() -> None:
    started = datetime.now(UTC)
    failed = metrics_of({"feeds_polled": 2, "feeds_failed": 2}, RUN, "capture", started, PipelineOptions())
    assert failed.status == "failed"
    grouped = {"assigned": 9, "new_stories": 4, "joined": 5, "merges": 1}
    m = metrics_of(grouped, RUN, "stories", started, PipelineOptions())
    assert (m.stories_created, m.stories_updated, m.stories_merged, m.status) == (4, 5, 1, "ok")
    extraction = {"pages_read": 10, "created": 7, "skipped": {"extract:body_too_short": 2, "derive:internal_error": 1}}
    m = metrics_of(extraction, RUN, "process", started, PipelineOptions())
    assert (m.articles_new, m.extraction_failures, m.status) == (7, 3, "degraded")


def test_check_task_sums_the_mapped_reports_and_fails_past_the_share() -> None:
    from ingest.pipeline import RunUnhealthy
    from ingest.pipeline.runs import check_task

    healthy = [BatchReport(stage="capture", feeds_polled=4, feeds_failed=1).as_dict() for _ in range(2)]
    summary = check_task(healthy, PipelineOptions())
    assert (summary["batches"], summary["feeds_polled"], summary["feeds_failed"]) == (2, 8, 2)

    down = BatchReport(stage="capture", feeds_polled=4, feeds_failed=4).as_dict()
    assert check_task([*healthy, down], PipelineOptions())["feeds_failed"] == 6  # 6 of 12: at the 50 % limit
    with pytest.raises(RunUnhealthy, match="10 of 16 feeds failed"):
        check_task([*healthy, down, down], PipelineOptions())
