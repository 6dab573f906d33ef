"""Capture: poll feeds, fetch the new articles they list, archive every response. No Elasticsearch here.

The archive is the source of truth: what is captured is derived into documents by :mod:`.derive`, live right
after the capture (the asset event of the poll DAG, or ``news-ingest run``) and again in any backfill. Feed
validators and "seen" marks are committed only once the batch's pages are archived, and the batch is recorded
in the capture ledger, so a batch that fails half-way is fetched again and a capture is never lost between the
two steps.

Every per-item step (feed fetch and parse, entry URL, fetch and redirects) runs inside the one error boundary
(:func:`ingest.errors.contain`): whatever it raises becomes a counted skip with a stable reason; only
infrastructure errors (archive, state store) leave the batch.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.archive import Archive
from ingest.config import PipelineOptions
from ingest.documents import Origin
from ingest.errors import FetchError, ItemSkipped, contain
from ingest.feeds import FeedEntry, FeedSource
from ingest.fetching import Fetcher, Response
from ingest.ledger import CaptureBatch, Ledger
from ingest.pipeline.reports import BatchReport
from ingest.pipeline.workers import FeedParsePool
from ingest.state import StateStore
from ingest.urls import document_id

logger = logging.getLogger(__name__)


def source_metadata(source: FeedSource) -> dict[str, str]:
    """What a feed capture carries in the archive, so that processing knows its source."""
    return {
        "feed": source.name,
        "feed-url": source.url,
        "outlet": source.publisher,
        "language": source.language,
        "country": source.country,
    }


def source_from_metadata(meta: dict[str, str], url: str) -> FeedSource:
    return FeedSource(
        name=meta.get("feed", ""),
        url=meta.get("feed-url", url),
        language=meta.get("language", ""),
        country=meta.get("country", ""),
        publisher=meta.get("outlet", ""),
    )


@dataclass
class _Claim:
    """A new article to fetch, and every feed of this batch that lists it."""

    entry_id: str
    origin: Origin
    feeds: set[str]


@dataclass
class _Pending:
    """State changes held back until the batch's pages are archived."""

    feed_successes: list[tuple[str, Response, str, float | None]] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    #: pages that failed transiently: (entry id, url, feeds, reason), for the retry queue
    retries: list[tuple[str, str, tuple[str, ...], str]] = field(default_factory=list)
    #: pages fetched (or permanently skipped) that may have been in the retry queue
    settled: list[str] = field(default_factory=list)


@dataclass
class _Fetched:
    claim: _Claim
    response: Response | None = None
    skipped: ItemSkipped | None = None


def capture(
    sources: Sequence[FeedSource],
    options: PipelineOptions,
    *,
    now: datetime | None = None,
    batch_id: str | None = None,
) -> BatchReport:
    """Poll ``sources`` once, fetch and archive every new article they list; no documents are built here.

    Feeds and then their new pages are fetched by ``FetchOptions.workers`` threads (I/O bound; the fetcher keeps
    its per-host limits); the state store is only used from the calling thread. Returns the batch report with
    its capture-time window.
    """
    now = now or datetime.now(UTC)
    report = BatchReport(stage="capture", batch_id=batch_id or f"cap-{uuid.uuid4().hex[:16]}", feeds=len(sources))
    pending = _Pending()
    with (
        StateStore(options.state) as state,
        Archive(options.archive) as archive,
        Fetcher(options.fetch, archive) as fetcher,
        FeedParsePool(options.feeds) as parser,
    ):
        claims: dict[str, _Claim] = {}
        for source, polled in _fetch_feeds(sources, fetcher, state, report, now, options.fetch.workers):
            for entry in _read_feed(source, polled, state, report, pending, now, parser):
                _claim(entry, source, state, report, claims)
        _claim_retries(sources, state, report, claims, now, options.state.retry_batch_size)
        for fetched in _fetch_pages(list(claims.values()), fetcher, options.fetch.workers):
            _settle(fetched, report, pending)
    # the archive is closed (every record flushed): now the batch may be marked done
    with StateStore(options.state) as state:
        for url, response, content_hash, ttl in pending.feed_successes:
            state.record_success(url, response, content_hash=content_hash, ttl_seconds=ttl, now=now)
        for doc_id, url, feed in pending.seen:
            state.mark_article(doc_id, url, feed, now=now)
        for doc_id in pending.settled:
            state.clear_retry(doc_id)
        for doc_id, url, feeds, reason in pending.retries:
            item = state.schedule_retry(doc_id, url, feeds, reason, now=now)
            report.retry_scheduled += 1
            if item.quarantined:
                report.quarantined += 1
                logger.error("page %s quarantined after %d transient failures (%s)", url, item.attempts, reason)
    if report.captures and report.window_start:
        with Ledger(options.state) as ledger:
            ledger.record(
                CaptureBatch(
                    report.batch_id,
                    datetime.fromisoformat(report.window_start),
                    datetime.fromisoformat(report.window_end),
                    report.captures,
                ),
                now=now,
            )
    logger.info("capture batch %s done: %s", report.batch_id, report.brief())
    return report


def _note_archived(response: Response, report: BatchReport) -> None:
    """Widen the batch's capture window by one archived response."""
    if response.archive_ref is None:
        return
    start = response.fetched_at.astimezone(UTC)
    report.widen_window(
        start.isoformat(timespec="microseconds"), (start + timedelta(microseconds=1)).isoformat(timespec="microseconds")
    )


@dataclass
class _Polled:
    response: Response | None = None
    failure: BaseException | None = None


def _fetch_feeds(
    sources: Sequence[FeedSource],
    fetcher: Fetcher,
    state: StateStore,
    report: BatchReport,
    now: datetime,
    workers: int,
) -> Iterator[tuple[FeedSource, _Polled]]:
    """Conditional GETs of every due feed, ``workers`` at a time (the fetcher keeps its per-host limits).

    The state store is read here, in the calling thread; results come back in feed-file order.
    """
    due: list[tuple[FeedSource, dict[str, str]]] = []
    for source in sources:
        is_due, why = state.is_due(source.url, now)
        if not is_due:
            report.feeds_not_due += 1
            logger.info("feed %s not due: %s", source.name, why)
            continue
        due.append((source, state.conditional_headers(source.url)))
    if not due:
        return
    report.feeds_polled += len(due)

    def get(source: FeedSource, headers: dict[str, str]) -> _Polled:
        try:
            return _Polled(fetcher.get(source.url, kind="feed", headers=headers, metadata=source_metadata(source)))
        except Exception as exc:  # judged by the error boundary in the calling thread
            return _Polled(failure=exc)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="poll") as pool:
        futures = [(source, pool.submit(get, source, headers)) for source, headers in due]
        for source, future in futures:
            yield source, future.result()


def _read_feed(
    source: FeedSource,
    polled: _Polled,
    state: StateStore,
    report: BatchReport,
    pending: _Pending,
    now: datetime,
    parser: FeedParsePool,
) -> Iterator[FeedEntry]:
    """The new entries of one polled feed (none when it is unchanged or failed)."""
    try:
        if polled.failure is not None:
            raise polled.failure
        response = polled.response
        assert response is not None
        _note_archived(response, report)
        if response.not_modified:
            report.feeds_not_modified += 1
            state.record_not_modified(source.url, response, now=now)
            return
        content_hash = hashlib.sha256(response.content).hexdigest()
        previous = state.feed(source.url)
        if previous is not None and previous.content_hash == content_hash:
            report.feeds_not_modified += 1
            state.record_not_modified(source.url, response, now=now)
            return
        parsed = parser.parse(response, source=source, max_entries=parser.options.max_entries_per_feed)
    except Exception as exc:  # the error boundary: a bad feed is a counted skip, infrastructure re-raises
        skipped = contain(exc, url=source.url)
        report.feeds_failed += 1
        report.skip(skipped, stage="feed")
        report.failed_feeds.append({"feed": source.name, "url": source.url, "error": str(skipped)})
        state.record_failure(source.url, str(skipped), now=now, retry_after=getattr(skipped, "retry_after", None))
        return
    pending.feed_successes.append((source.url, response, content_hash, parsed.ttl_seconds))
    for reason, count in parsed.dropped.items():  # entries without a usable link, counted, never fetched
        report.skipped[f"entry:{reason}"] += count
    yield from parsed.entries


def _claim(
    entry: FeedEntry,
    source: FeedSource,
    state: StateStore,
    report: BatchReport,
    claims: dict[str, _Claim],
) -> None:
    """Decide in the main thread (the state store is not shared across threads) whether to fetch ``entry``."""
    report.entries += 1
    try:
        entry_id = document_id(entry.url)
        origin = Origin.for_entry(source, entry)
    except Exception as exc:  # a bad entry URL skips the entry, never the feed
        report.skip(contain(exc, url=entry.url), stage="entry")
        return
    if entry_id in claims:  # reached through another feed of this batch: fetched once, lists both feeds
        claims[entry_id].feeds.add(source.name)
        report.entries_already_seen += 1
        return
    if state.seen_article(entry_id):
        report.entries_already_seen += 1
        return
    claims[entry_id] = _Claim(entry_id, origin, {source.name})


def _claim_retries(
    sources: Sequence[FeedSource],
    state: StateStore,
    report: BatchReport,
    claims: dict[str, _Claim],
    now: datetime,
    limit: int,
) -> None:
    """Pages of this batch's feeds that failed transiently earlier and are due again: fetched although their
    feed did not change (a feed answering 304 lists nothing new)."""
    by_name = {s.name: s for s in sources}
    for item in state.due_retries(now, limit):
        mine = [by_name[f] for f in item.feeds if f in by_name]
        if not mine or item.doc_id in claims:
            continue  # another batch's page (its own capture retries it), or listed again anyway
        report.retries_due += 1
        source = mine[0]
        origin = Origin(
            feed=source.name,
            outlet=source.publisher,
            language=source.language,
            country=source.country,
            entry_url=item.url,
        )
        claims[item.doc_id] = _Claim(item.doc_id, origin, {s.name for s in mine})


def _fetch_one(claim: _Claim, fetcher: Fetcher) -> _Fetched:
    """Runs in a worker thread; infrastructure errors (the archive) propagate, anything else is a skip."""
    try:
        return _Fetched(
            claim, response=fetcher.get(claim.origin.entry_url, kind="page", metadata=claim.origin.as_metadata())
        )
    except Exception as exc:
        return _Fetched(claim, skipped=contain(exc, url=claim.origin.entry_url))


def _fetch_pages(claims: list[_Claim], fetcher: Fetcher, workers: int) -> Iterator[_Fetched]:
    if not claims:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch") as pool:
        futures = [pool.submit(_fetch_one, claim, fetcher) for claim in claims]
        for future in futures:
            yield future.result()


def _settle(fetched: _Fetched, report: BatchReport, pending: _Pending) -> None:
    claim = fetched.claim
    url = claim.origin.entry_url
    report.pages_attempted += 1
    skipped = fetched.skipped
    response = fetched.response
    if skipped is None and response is not None:
        report.pages_fetched += 1
        _note_archived(response, report)
        if response.status == 200 and response.archive_ref is not None:
            report.captures += 1
            pending.seen.extend((claim.entry_id, url, feed) for feed in sorted(claim.feeds))
            pending.settled.append(claim.entry_id)
            return
        # an empty body: nothing to derive; maybe a glitch, so it is retried like any transient failure
        skipped = FetchError(f"HTTP {response.status} without a body to archive", reason="no_content", url=url)
    assert skipped is not None
    report.skip(skipped, stage="page")
    if skipped.permanent:
        pending.seen.extend((claim.entry_id, url, feed) for feed in sorted(claim.feeds))
        pending.settled.append(claim.entry_id)
    else:  # a timeout, a 5xx, a reset, a truncated body: fetched again on a later poll, with backoff
        pending.retries.append((claim.entry_id, url, tuple(sorted(claim.feeds)), skipped.reason))
