"""Task runs: the Airflow task bodies, each one call, with the run's metrics written to ``news-runs``.

A task body passes who it is (:class:`TaskRun`: dag, run, task, map index, try, run type) and gets the stage's
report back as JSON (the XCom). On the way the report becomes one :class:`~ingest.metrics.RunMetrics` record:
its one-line summary goes to the task log, its documents to the run-metrics index. A metrics write that fails
(Elasticsearch down) is logged as an error and does not fail a capture, whose archive is already committed:
failing it would only poll the feeds again; processing and grouping need Elasticsearch anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest import indexing
from ingest.config import PipelineOptions
from ingest.errors import IndexingError
from ingest.metrics import FeedFailure, RunMetrics, Stage, Status, write_run_metrics
from ingest.pipeline.planning import CaptureSpec, ProcessSpec, parse_instant
from ingest.pipeline.reports import EXTRACTION_STAGES, check_health, health_problems, summarize

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskRun:
    """Which Airflow task try this is (from the task's context)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1
    run_type: str = "manual"


def _status(report: Mapping[str, Any], options: PipelineOptions) -> Status:
    if health_problems(report, options.health):
        return "failed"
    return "degraded" if report.get("feeds_failed") or report.get("skipped") else "ok"


def _instant(value: object) -> datetime | None:
    return parse_instant(str(value)) if value else None


def metrics_of(
    report: Mapping[str, Any], run: TaskRun, stage: Stage, started_at: datetime, options: PipelineOptions
) -> RunMetrics:
    """The run-metrics record of one task try, from its report (``BatchReport.as_dict`` or a grouping result)."""
    skipped: dict[str, int] = dict(report.get("skipped") or {})
    return RunMetrics(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=run.task_id,
        stage=stage,
        started_at=started_at,
        finished_at=max(started_at, datetime.now(UTC)),
        map_index=run.map_index,
        try_number=run.try_number,
        run_type=run.run_type,
        window_start=_instant(report.get("window_start")),
        window_end=_instant(report.get("window_end")),
        feeds_polled=int(report.get("feeds_polled", 0)),
        feeds_not_modified=int(report.get("feeds_not_modified", 0)),
        feeds_failed=int(report.get("feeds_failed", 0)),
        captures=int(report.get("captures", 0)),
        articles_new=int(report.get("created", 0)),
        articles_updated=int(report.get("updated", 0)),
        skipped=skipped,
        extraction_failures=sum(n for k, n in skipped.items() if k.split(":", 1)[0] in EXTRACTION_STAGES),
        tag_counts=dict(report.get("tags") or {}),
        stories_created=int(report.get("new_stories", 0)),
        stories_updated=int(report.get("joined", 0)),
        stories_merged=int(report.get("merges", 0)),
        failing_feeds=tuple(
            FeedFailure(feed=f.get("feed", ""), url=f.get("url", ""), error=f.get("error", ""))
            for f in report.get("failed_feeds") or []
        ),
        status=_status(report, options),
    )


def record(
    es: Elasticsearch,
    options: PipelineOptions,
    run: TaskRun,
    stage: Stage,
    started_at: datetime,
    report: Mapping[str, Any],
    *,
    required: bool,
) -> None:
    """Log the try's one-line summary and write its metrics (``required=False``: a failed write is logged)."""
    metrics = metrics_of(report, run, stage, started_at, options)
    logger.info("%s", metrics.summary())
    try:
        write_run_metrics(es, options.index, metrics)
    except IndexingError as exc:
        if required:
            raise
        logger.error("run metrics of %s.%s not written: %s", run.dag_id, run.task_id, exc)


def plan_poll(es: Elasticsearch, options: PipelineOptions, feed_names: Sequence[str]) -> list[CaptureSpec]:
    """The poll DAG's ``plan``: batch specs of the feed file, and the index templates installed once per run
    (so the run metrics have their index). Capture needs no Elasticsearch: if it is down, that is logged and
    the capture goes on (processing, which needs it, is retried)."""
    from ingest.pipeline import plan_capture

    specs = plan_capture(options, feed_names)
    try:
        indexing.ensure_indices(es, options.index)
    except IndexingError as exc:
        logger.error("index templates not installed (capture goes on, run metrics will be missing): %s", exc)
    return specs


def capture_task(spec: CaptureSpec, es: Elasticsearch, options: PipelineOptions, run: TaskRun) -> dict[str, Any]:
    """The poll DAG's ``capture``: poll, fetch and archive one batch of feeds, then record the run."""
    from ingest.pipeline import capture_batch

    started = datetime.now(UTC)
    report = capture_batch(spec, options)
    record(es, options, run, "capture", started, report, required=False)
    return report


def process_task(spec: ProcessSpec, es: Elasticsearch, options: PipelineOptions, run: TaskRun) -> dict[str, Any]:
    """The processing DAG's ``process``: derive and index one window, then record the run."""
    from ingest.pipeline import process_batch

    started = datetime.now(UTC)
    report = process_batch(spec, es, options)
    record(es, options, run, "process", started, report, required=True)
    return report


def stories_task(es: Elasticsearch, options: PipelineOptions, run: TaskRun) -> dict[str, Any]:
    """The stories DAG's ``group``: assign pending articles to stories, then record the run."""
    from ingest.pipeline import group_stories

    started = datetime.now(UTC)
    result = group_stories(es, options)
    record(es, options, run, "stories", started, result, required=True)
    return result


def check_task(reports: Sequence[Mapping[str, Any]], options: PipelineOptions) -> dict[str, Any]:
    """A DAG's ``check``: the run summary of its mapped reports; :class:`RunUnhealthy` past a failure share."""
    summary = summarize(list(reports))
    check_health(summary, options.health)
    return summary


__all__ = [
    "TaskRun",
    "capture_task",
    "check_task",
    "metrics_of",
    "plan_poll",
    "process_task",
    "record",
    "stories_task",
]
