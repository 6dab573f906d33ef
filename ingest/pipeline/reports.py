"""What one batch did, the run summary, and whether a run is healthy.

A dropped item carries its reason (as in Scrapy): every skip is counted under ``<stage>:<reason>`` and the
first :data:`MAX_RECORDED_ERRORS` are kept with their URL and message. Reports are plain JSON once
:meth:`BatchReport.as_dict` is called, which is what Airflow passes between tasks (counts and references,
never payloads).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypedDict

from ingest.config import HealthOptions
from ingest.errors import IngestError, ItemSkipped

logger = logging.getLogger(__name__)

MAX_RECORDED_ERRORS = 100
#: Skip stages whose items count against the page / feed / extraction failure shares.
FEED_STAGES = ("feed",)
PAGE_STAGES = ("page",)
#: Skips of pages that were read but gave no document (``index``: Elasticsearch refused the document built).
EXTRACTION_STAGES = ("extract", "derive", "index")


class SkipRecord(TypedDict):
    stage: str
    reason: str
    url: str
    message: str
    permanent: bool


@dataclass
class BatchReport:
    """Counters of one capture or processing batch (one Airflow task, one CLI step)."""

    stage: str = "capture"
    batch_id: str = ""
    #: processing only computed what would change (the ``index`` stage was not selected): nothing was written
    dry_run: bool = False
    # capture
    feeds: int = 0
    feeds_polled: int = 0
    feeds_not_modified: int = 0
    feeds_not_due: int = 0
    feeds_failed: int = 0
    entries: int = 0
    entries_already_seen: int = 0
    retries_due: int = 0
    #: page fetches tried (new entries + due retries); pages_fetched of them got a response to archive
    pages_attempted: int = 0
    pages_fetched: int = 0
    captures: int = 0
    retry_scheduled: int = 0
    quarantined: int = 0
    #: capture-time window of what this batch archived: ISO instants, empty when nothing was archived
    window_start: str = ""
    window_end: str = ""
    # processing
    feed_documents: int = 0
    pages_read: int = 0
    articles_built: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates_linked: int = 0
    feeds_linked: int = 0
    tags: Counter[str] = field(default_factory=Counter)
    #: feeds whose poll failed: {"feed", "url", "error"} (for the run metrics' failing-feeds chart)
    failed_feeds: list[dict[str, str]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[SkipRecord] = field(default_factory=list)

    def skip(self, exc: ItemSkipped, *, stage: str) -> None:
        """Count one dropped item under ``<stage>:<reason>``; log it at its class's level."""
        self.skipped[f"{stage}:{exc.reason}"] += 1
        logger.log(exc.log_level, "skipped (%s) %s", stage, exc)
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append(
                {
                    "stage": stage,
                    "reason": exc.reason,
                    "url": exc.url or "",
                    "message": str(exc),
                    "permanent": exc.permanent,
                }
            )

    def skips_in(self, stages: Sequence[str]) -> int:
        return sum(n for key, n in self.skipped.items() if key.split(":", 1)[0] in stages)

    def widen_window(self, start: str, end: str) -> None:
        if start and (not self.window_start or start < self.window_start):
            self.window_start = start
        if end and (not self.window_end or end > self.window_end):
            self.window_end = end

    def absorb(self, other: BatchReport) -> None:
        """Add ``other``'s counts to this report (a live run = its capture + its processing)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            elif isinstance(mine, int) and not isinstance(mine, bool):
                setattr(self, f.name, mine + theirs)
        self.errors.extend(other.errors[: max(0, MAX_RECORDED_ERRORS - len(self.errors))])
        self.failed_feeds.extend(other.failed_feeds)
        self.widen_window(other.window_start, other.window_end)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = dict(sorted(self.skipped.items()))
        out["tags"] = dict(sorted(self.tags.items()))
        return out

    def brief(self) -> str:
        if self.stage == "capture":
            return (
                f"feeds={self.feeds} polled={self.feeds_polled} not_modified={self.feeds_not_modified} "
                f"not_due={self.feeds_not_due} failed={self.feeds_failed} entries={self.entries} "
                f"seen={self.entries_already_seen} retries={self.retries_due} fetched={self.pages_fetched} "
                f"captured={self.captures} skipped={sum(self.skipped.values())}"
            )
        return (
            f"read={self.pages_read} built={self.articles_built} created={self.created} updated={self.updated} "
            f"unchanged={self.unchanged} duplicates={self.duplicates_linked} skipped={sum(self.skipped.values())}"
        )


_SUMMED_DICTS = ("skipped", "tags")


def summarize(reports: Sequence[Mapping[str, Any]], stories: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Sum batch reports (``as_dict`` form) into one run summary: counts, skip reasons, capture window."""
    total: dict[str, Any] = {"batches": len(reports), "skipped": Counter(), "tags": Counter(), "errors": []}
    window = BatchReport()
    for rep in reports:
        for key, value in rep.items():
            if key in _SUMMED_DICTS:
                total[key].update(value)
            elif key in ("errors", "failed_feeds"):
                total.setdefault(key, [])
                total[key].extend(value[: max(0, MAX_RECORDED_ERRORS - len(total[key]))])
            elif isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
        window.widen_window(str(rep.get("window_start", "")), str(rep.get("window_end", "")))
    total["window_start"], total["window_end"] = window.window_start, window.window_end
    for key in _SUMMED_DICTS:
        total[key] = dict(sorted(total[key].items()))
    if stories:
        total["stories"] = dict(stories)
    return total


class RunUnhealthy(IngestError):
    """Too many feeds or pages of a run failed: the run must not look green (no retry: it would not help)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def _share(failed: int, attempted: int) -> float:
    return failed / attempted if attempted else 0.0


def health_problems(summary: Mapping[str, Any], options: HealthOptions) -> list[str]:
    """What makes a run summary unhealthy (empty: healthy). Shares are failures over attempts per kind."""
    report = BatchReport(skipped=Counter(summary.get("skipped") or {}))
    checks = [
        (
            "feeds",
            int(summary.get("feeds_failed", 0)),
            int(summary.get("feeds_polled", 0)),
            options.max_feed_failure_share,
        ),
        ("pages", report.skips_in(PAGE_STAGES), int(summary.get("pages_attempted", 0)), options.max_page_failure_share),
        (
            "extractions",
            report.skips_in(EXTRACTION_STAGES),
            int(summary.get("pages_read", 0)),
            options.max_extraction_failure_share,
        ),
    ]
    problems = []
    for what, failed, attempted, limit in checks:
        share = _share(failed, attempted)
        if attempted and share > limit:
            problems.append(f"{failed} of {attempted} {what} failed ({share:.0%} > {limit:.0%})")
    return problems


def check_health(summary: Mapping[str, Any], options: HealthOptions) -> None:
    """Raise :class:`RunUnhealthy` when the summary is over a failure share (the DAG's check task)."""
    problems = health_problems(summary, options)
    if problems:
        raise RunUnhealthy(problems)
    logger.info("run healthy: %s", {k: summary.get(k) for k in ("feeds_polled", "feeds_failed", "pages_fetched")})
