"""Splitting a run into batch specs: plain JSON, so that Airflow can map one task over each.

Specs carry references (feed definitions, time windows, capture batch ids), never payloads. Fan-out stays far
under Airflow's ``max_map_length`` (1024): feeds are chunked by ``FeedOptions.batch_size`` and processing
windows by ``ProcessOptions.chunk_hours``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from ingest.config import PipelineOptions
from ingest.errors import ConfigurationError
from ingest.feeds import FeedSource, load_feed_sources
from ingest.ledger import CaptureBatch
from ingest.pipeline.derive import Selection, Window, WindowKind

#: Airflow's default ``[core] max_map_length``; plans never come near it.
MAX_MAP_LENGTH = 1024
#: What a processing run can redo. ``extract`` re-reads the archive (and so re-tags); ``tag`` alone re-tags the
#: stored text; without ``index`` nothing is written (a dry run that counts what would change); ``group``
#: hands the result to story grouping.
STAGES = ("extract", "tag", "index", "group")
SCOPES = ("auto", "pending", "interval")


class FeedSpec(TypedDict):
    name: str
    url: str
    language: str
    country: str
    publisher: str


class CaptureSpec(TypedDict):
    """One capture task: these feeds."""

    feeds: list[FeedSpec]


class ProcessSpec(TypedDict):
    """One processing task: derive this window (by capture or publish time) and mark these batches done."""

    by: WindowKind
    start: str
    end: str
    feeds: list[str]
    batch_ids: list[str]
    stages: list[str]


def check_stages(stages: Sequence[str]) -> list[str]:
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ConfigurationError(f"unknown stages {unknown}: choose from {list(STAGES)}")
    if not set(stages) & {"extract", "tag", "group"}:
        raise ConfigurationError("select at least one of the stages extract, tag or group")
    return [s for s in STAGES if s in stages]


def select_sources(options: PipelineOptions, feed_names: Sequence[str] = ()) -> list[FeedSource]:
    """The feed file's sources, or only the named ones (unknown names are a configuration error)."""
    sources = load_feed_sources(options.feeds.feeds_file)
    if not feed_names:
        return sources
    wanted = set(feed_names)
    unknown = wanted - {s.name for s in sources}
    if unknown:
        raise ConfigurationError(
            f"unknown feeds: {', '.join(sorted(unknown))} (the feed file {options.feeds.feeds_file} names "
            f"{len(sources)} feeds)"
        )
    return [s for s in sources if s.name in wanted]


def plan_capture(options: PipelineOptions, feed_names: Sequence[str] = ()) -> list[CaptureSpec]:
    sources = select_sources(options, feed_names)
    size = max(1, options.feeds.batch_size, -(-len(sources) // MAX_MAP_LENGTH))
    return [
        {"feeds": [FeedSpec(**asdict(s)) for s in sources[i : i + size]]}  # type: ignore[typeddict-item]
        for i in range(0, len(sources), size)
    ]


def sources_of(spec: CaptureSpec) -> list[FeedSource]:
    return [FeedSource(**f) for f in spec["feeds"]]


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def parse_instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _plain(value: datetime) -> datetime:
    """A stdlib ``datetime`` in UTC for any aware datetime (pendulum's included); naive ones are UTC."""
    return parse_instant(iso(value))


def plan_batches(batches: Sequence[CaptureBatch]) -> list[ProcessSpec]:
    """Processing of freshly captured batches: one spec per union of overlapping capture windows."""
    specs: list[ProcessSpec] = []
    for batch in sorted(batches, key=lambda b: (b.start, b.batch_id)):
        if specs and parse_instant(specs[-1]["end"]) >= batch.start:
            last = specs[-1]
            last["end"] = iso(max(parse_instant(last["end"]), batch.end))
            last["batch_ids"].append(batch.batch_id)
            continue
        specs.append(
            {
                "by": "capture",
                "start": iso(batch.start),
                "end": iso(batch.end),
                "feeds": [],
                "batch_ids": [batch.batch_id],
                "stages": list(STAGES),
            }
        )
    return specs


def plan_window(
    start: datetime,
    end: datetime,
    options: PipelineOptions,
    *,
    by: WindowKind = "capture",
    feeds: Sequence[str] = (),
    stages: Sequence[str] = STAGES,
) -> list[ProcessSpec]:
    """A backfill or replay window, split into ``chunk_hours`` pieces (one mapped task each)."""
    chosen = check_stages(stages)
    # Plain datetimes: Airflow hands over pendulum DateTimes, whose difference (a pendulum Interval) cannot be
    # divided by a timedelta (AttributeError in pendulum 3): every backfill run failed in ``plan``.
    start, end = _plain(start), _plain(end)
    if by not in ("capture", "publish"):
        raise ConfigurationError(f"window_by must be 'capture' or 'publish', not {by!r}")
    Window(start, end)  # validates: aware, end after start
    if feeds:
        select_sources(options, feeds)  # validates the names
    step = timedelta(hours=max(1, options.process.chunk_hours))
    if (end - start) / step > MAX_MAP_LENGTH:
        step = (end - start) / MAX_MAP_LENGTH
    specs: list[ProcessSpec] = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + step)
        specs.append(
            {
                "by": by,
                "start": iso(cursor),
                "end": iso(stop),
                "feeds": sorted(feeds),
                "batch_ids": [],
                "stages": chosen,
            }
        )
        cursor = stop
    return specs


def selection_of(spec: ProcessSpec) -> Selection:
    return Selection(
        windows=(Window(parse_instant(spec["start"]), parse_instant(spec["end"])),),
        by=spec["by"],
        feeds=frozenset(spec["feeds"]),
    )
