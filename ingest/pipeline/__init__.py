"""The pipeline: chains the stages, and does nothing else.

    capture:  feeds → fetching → archive (+ state, ledger)            no Elasticsearch
    process:  archive → extraction → tagging → documents → dedup → indexing
    stories:  indexed articles → story grouping

Capture and processing are separate steps that trigger each other (the poll DAG's asset event starts the
processing DAG, whose event starts the stories DAG), and the archive is the source of truth: live processing
is the same code path as a replay of what was just captured, so a backfill rebuilds the same documents.
Each Airflow task body is one call into this module; the CLI chains the same calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest import indexing
from ingest.config import PipelineOptions
from ingest.errors import ConfigurationError
from ingest.feeds import FeedSource
from ingest.ledger import Ledger
from ingest.pipeline.capture import capture, source_from_metadata, source_metadata
from ingest.pipeline.derive import Selection, Window, derive, retag
from ingest.pipeline.planning import (
    SCOPES,
    STAGES,
    CaptureSpec,
    ProcessSpec,
    check_stages,
    plan_batches,
    plan_capture,
    plan_window,
    select_sources,
    selection_of,
    sources_of,
)
from ingest.pipeline.reports import BatchReport, RunUnhealthy, check_health, health_problems, summarize
from ingest.pipeline.workers import start_forkserver
from ingest.worker import build_from_response

logger = logging.getLogger(__name__)


# --- Airflow task bodies --------------------------------------------------------------------------------


def capture_batch(spec: CaptureSpec, options: PipelineOptions) -> dict[str, Any]:
    """Poll, fetch and archive one batch of feeds (the poll DAG's mapped task)."""
    return capture(sources_of(spec), options).as_dict()


def process_batch(spec: ProcessSpec, es: Elasticsearch, options: PipelineOptions) -> dict[str, Any]:
    """Derive and index one window (the processing DAG's mapped task); marks its capture batches done.

    ``extract`` re-derives from the archive; ``tag`` alone re-tags the stored text; without ``index`` it is a
    dry run (counts only); ``group`` alone derives nothing here (the stories DAG regroups).
    """
    stages = set(spec.get("stages") or STAGES)
    write = "index" in stages
    indexing.ensure_indices(es, options.index)  # templates are only rewritten when their version changes
    label = ",".join(spec["batch_ids"]) or f"{spec['by']}:{spec['start']}..{spec['end']}"
    if "extract" in stages:
        report = derive(selection_of(spec), es, options, batch_id=label, write=write)
    elif "tag" in stages:
        report = retag(selection_of(spec), es, options, batch_id=label, write=write)
    else:
        return BatchReport(stage="process", batch_id=label).as_dict()
    if not write:
        return report.as_dict()
    now = datetime.now(UTC)
    with Ledger(options.state) as ledger:
        if spec["batch_ids"]:
            ledger.mark_processed(spec["batch_ids"], now=now)
        elif spec["by"] == "capture" and not spec["feeds"]:
            window = selection_of(spec).windows[0]
            ledger.mark_processed_within(window.start, window.end, now=now)
    return report.as_dict()


def plan_process_run(
    options: PipelineOptions,
    *,
    run_type: str,
    interval: tuple[datetime, datetime] | None,
    announced: Sequence[str] = (),
    scope: str = "auto",
    by: str = "capture",
    feeds: Sequence[str] = (),
    stages: Sequence[str] = STAGES,
) -> list[ProcessSpec]:
    """What one processing DAG run derives.

    ``scope="auto"``: a run started by capture asset events derives the batches they announced (and anything
    pending from earlier failures); a backfill re-derives its data interval (by capture or publish time, only
    some feeds, some stages); scheduled and manual runs sweep whatever is pending. ``pending`` and ``interval``
    force one of the two. Invalid parameters raise :class:`~ingest.errors.ConfigurationError`.
    """
    if scope not in SCOPES:
        raise ConfigurationError(f"scope must be one of {list(SCOPES)}, not {scope!r}")
    check_stages(stages)
    if scope == "interval" or (scope == "auto" and run_type == "backfill"):
        if interval is None:
            raise ConfigurationError("this run has no data interval to re-derive")
        return plan_window(interval[0], interval[1], options, by=by, feeds=feeds, stages=stages)  # type: ignore[arg-type]
    if feeds or by != "capture":
        # worded for the trigger form, where ops meet it: its labels, then the param names
        raise ConfigurationError(
            "'Window by' (window_by) and 'Feeds' (feeds) only select what a backfill re-derives: for a single "
            "run, set 'What to derive' to \"This run's data interval\" (scope=interval)"
        )
    specs = pending_specs(options)
    if announced:
        known = {b for spec in specs for b in spec["batch_ids"]}
        missing = sorted(set(announced) - known)
        if missing:
            logger.info("announced capture batches already processed (or unknown here): %s", missing)
    return specs


def pending_specs(options: PipelineOptions) -> list[ProcessSpec]:
    """Processing specs for every capture batch not derived yet (a sweep; also what ``run`` processes)."""
    with Ledger(options.state) as ledger:
        return plan_batches(ledger.pending())


def batch_specs(batch_ids: Sequence[str], options: PipelineOptions) -> list[ProcessSpec]:
    """Processing specs for the named capture batches (the ones an asset event announced)."""
    with Ledger(options.state) as ledger:
        return plan_batches([b for b in ledger.get(list(batch_ids)) if b.processed_at is None])


# --- chains for the CLI, the evaluation harnesses and tests ------------------------------------------------


def run_live(
    sources: Sequence[FeedSource], es: Elasticsearch, options: PipelineOptions, *, now: datetime | None = None
) -> BatchReport:
    """Capture ``sources`` once, then derive what is pending (this capture, and any earlier one left over)."""
    indexing.ensure_indices(es, options.index)
    start_forkserver()
    report = capture(sources, options, now=now)
    for spec in pending_specs(options):
        processed = process_batch(spec, es, options)
        report.absorb(_report_from(processed))
    return report


def run(
    es: Elasticsearch,
    options: PipelineOptions,
    *,
    feed_names: Sequence[str] = (),
    stories: bool = True,
) -> dict[str, Any]:
    """``news-ingest run``: every batch of the feed file captured, everything pending derived, then grouped."""
    indexing.ensure_indices(es, options.index)
    start_forkserver()  # the derivation workers' start-up runs beside the capture
    reports = [capture_batch(spec, options) for spec in plan_capture(options, feed_names)]
    reports += [process_batch(spec, es, options) for spec in pending_specs(options)]
    return summarize(reports, group_stories(es, options) if stories else None)


def replay(
    start: datetime,
    end: datetime,
    es: Elasticsearch,
    options: PipelineOptions,
    *,
    by: str = "capture",
    feed_names: Sequence[str] = (),
    stories: bool = True,
) -> dict[str, Any]:
    """Re-derive a window of the archive (by capture or publish time), then group what is new."""
    specs = plan_window(start, end, options, by=by, feeds=feed_names)  # type: ignore[arg-type]
    reports = [process_batch(spec, es, options) for spec in specs]
    return summarize(reports, group_stories(es, options) if stories else None)


def _report_from(data: dict[str, Any]) -> BatchReport:
    report = BatchReport()
    for key, value in data.items():
        if key in ("skipped", "tags"):
            getattr(report, key).update(value)
        elif key in ("errors", "failed_feeds"):
            getattr(report, key).extend(value)
        elif hasattr(report, key):
            setattr(report, key, value)
    return report


# --- stories ---------------------------------------------------------------------------------------------


def group_stories(es: Elasticsearch, options: PipelineOptions) -> dict[str, Any]:
    """Assign every indexed article that has no story yet (the stories DAG's task); returns a
    :class:`ingest.stories.GroupingResult` (JSON for XCom)."""
    from ingest.embeddings import load_embedder
    from ingest.stories import group

    if not options.stories.enabled:
        logger.warning("story grouping is disabled by configuration (NEWS_STORIES_ENABLED)")
        return {"assigned": 0, "new_stories": 0, "disabled": True}
    indexing.ensure_indices(es, options.index)
    indexing.refresh(es, options.index.articles_alias)
    stories = options.stories
    embedder = load_embedder(
        enabled=stories.use_embeddings and stories.embedding.policy != "off", required=stories.require_embeddings
    )
    return dict(group(es, stories, options.index, embedder))


__all__ = [
    "SCOPES",
    "STAGES",
    "BatchReport",
    "CaptureSpec",
    "ProcessSpec",
    "RunUnhealthy",
    "Selection",
    "Window",
    "batch_specs",
    "build_from_response",
    "capture",
    "capture_batch",
    "check_health",
    "derive",
    "group_stories",
    "health_problems",
    "pending_specs",
    "plan_capture",
    "plan_process_run",
    "plan_window",
    "process_batch",
    "replay",
    "run",
    "run_live",
    "select_sources",
    "source_from_metadata",
    "source_metadata",
    "sources_of",
    "start_forkserver",
    "summarize",
]
