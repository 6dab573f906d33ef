"""The pipeline: chains the stages, and does nothing else.

feeds → fetching (+ archive) → extraction → tagging → documents → dedup → indexing → stories

A batch is a JSON-serialisable spec (so Airflow can map tasks over it) in one of two modes:

* ``live``: poll the batch's feeds now, fetch new articles, archive every response.
* ``replay``: rebuild the documents of every page archived in a time window (backfills, re-tagging with a new
  taxonomy, recovery after an Elasticsearch outage). It produces the same documents as the live run did.

Per-item problems (:class:`~ingest.errors.ItemSkipped`) are recorded with their reason and counted; the batch
goes on. Infrastructure errors propagate. Feed validators and "seen" marks are committed only after the batch's
documents are safely indexed, so a failed batch is fetched again on retry instead of being lost.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest import dedup, extraction, indexing
from ingest.archive import Archive
from ingest.config import PipelineOptions
from ingest.documents import Origin, article_url, build_article
from ingest.errors import ConfigurationError, FetchError, ItemSkipped
from ingest.feeds import FeedEntry, FeedSource, load_feed_sources, parse_feed
from ingest.fetching import Fetcher, Response
from ingest.state import StateStore
from ingest.tagging import Tagger
from ingest.urls import document_id

logger = logging.getLogger(__name__)

MODES = ("auto", "live", "replay")
MAX_RECORDED_ERRORS = 100


@dataclass
class BatchReport:
    """What one batch did; returned to Airflow as XCom (plain JSON) and summed by :func:`summarize`."""

    mode: str = "live"
    feeds: int = 0
    feeds_polled: int = 0
    feeds_not_modified: int = 0
    feeds_not_due: int = 0
    feeds_failed: int = 0
    entries: int = 0
    entries_already_seen: int = 0
    pages_fetched: int = 0
    articles_built: int = 0
    created: int = 0
    updated: int = 0
    duplicates_linked: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, str]] = field(default_factory=list)

    def skip(self, exc: ItemSkipped, *, stage: str) -> None:
        self.skipped[f"{stage}:{exc.reason}"] += 1
        logger.warning("skipped (%s) %s", stage, exc)
        if len(self.errors) < MAX_RECORDED_ERRORS:
            self.errors.append({"stage": stage, "reason": exc.reason, "url": exc.url or "", "message": str(exc)})

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = dict(sorted(self.skipped.items()))
        return out


# --- planning ---------------------------------------------------------------------------------------------


def resolve_mode(mode: str, *, run_type: str | None) -> str:
    """``auto`` replays the archive for backfill runs and polls live otherwise."""
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {MODES}, not {mode!r}")
    if mode != "auto":
        return mode
    return "replay" if run_type == "backfill" else "live"


def plan_batches(
    options: PipelineOptions,
    *,
    mode: str = "auto",
    run_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    feed_names: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Split the work of one run into batch specs (Airflow maps one task per spec)."""
    resolved = resolve_mode(mode, run_type=run_type)
    if resolved == "replay":
        if start is None or end is None:
            raise ConfigurationError("replay needs a time window (start and end)")
        return [{"mode": "replay", "start": _iso(start), "end": _iso(end)}]
    sources = load_feed_sources(options.feeds.feeds_file)
    if feed_names:
        wanted = set(feed_names)
        unknown = wanted - {s.name for s in sources}
        if unknown:
            raise ConfigurationError(f"unknown feeds: {sorted(unknown)}")
        sources = [s for s in sources if s.name in wanted]
    size = max(1, options.feeds.batch_size)
    return [{"mode": "live", "feeds": [asdict(s) for s in sources[i : i + size]]} for i in range(0, len(sources), size)]


def run_batch(spec: dict[str, Any], es: Elasticsearch, options: PipelineOptions) -> dict[str, Any]:
    """Run one planned batch; the single entry point of the Airflow ingest task."""
    if spec["mode"] == "replay":
        report = run_replay(_dt(spec["start"]), _dt(spec["end"]), es, options)
    else:
        report = run_live([FeedSource(**f) for f in spec["feeds"]], es, options)
    return report.as_dict()


# --- live -------------------------------------------------------------------------------------------------


@dataclass
class _Pending:
    """State changes held back until the batch's documents are indexed."""

    feed_successes: list[tuple[str, Response, str, float | None]] = field(default_factory=list)
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    #: articles indexed by an earlier run that this run's feeds list too: doc id -> feed names.
    seen_links: dict[str, set[str]] = field(default_factory=dict)


def run_live(
    sources: Sequence[FeedSource],
    es: Elasticsearch,
    options: PipelineOptions,
    *,
    now: datetime | None = None,
) -> BatchReport:
    """Poll ``sources`` once and index every new article they list.

    Feeds are polled one after another; the new articles they list are then fetched, extracted and tagged by
    ``FetchOptions.workers`` threads (the fetcher keeps its per-host limits), and folded back in feed order.
    """
    now = now or datetime.now(UTC)
    indexing.ensure_indices(es, options.index)
    report = BatchReport(mode="live", feeds=len(sources))
    pending = _Pending()
    tagger = Tagger(options.tagging)
    with (
        StateStore(options.state) as state,
        Archive(options.archive) as archive,
        Fetcher(options.fetch, archive if options.archive.enabled else None) as fetcher,
    ):
        claims: dict[str, _Claim] = {}
        for source in sources:
            for entry in _poll(source, fetcher, state, report, pending, now, options.feeds.max_entries_per_feed):
                _claim(entry, source, state, report, pending, claims)
        docs = _fetch_all(list(claims.values()), fetcher, tagger, report, pending, options)
        _index(list(docs.values()), es, options, report)
        _link_feeds(pending.seen_links, es, options)
        for url, response, content_hash, ttl in pending.feed_successes:
            state.record_success(url, response, content_hash=content_hash, ttl_seconds=ttl, now=now)
        for doc_id, url, feed in pending.seen:
            state.mark_article(doc_id, url, feed, now=now)
    logger.info("live batch done: %s", _brief(report))
    return report


def source_metadata(source: FeedSource) -> dict[str, str]:
    """What a feed capture carries in the archive, so that a replay knows its source."""
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


def _poll(
    source: FeedSource,
    fetcher: Fetcher,
    state: StateStore,
    report: BatchReport,
    pending: _Pending,
    now: datetime,
    max_entries: int,
) -> Iterator[FeedEntry]:
    due, why = state.is_due(source.url, now)
    if not due:
        report.feeds_not_due += 1
        logger.info("feed %s not due: %s", source.name, why)
        return
    report.feeds_polled += 1
    try:
        response = fetcher.get(
            source.url,
            kind="feed",
            headers=state.conditional_headers(source.url),
            metadata=source_metadata(source),
        )
    except FetchError as exc:
        report.feeds_failed += 1
        report.skip(exc, stage="feed")
        state.record_failure(source.url, str(exc), now=now, retry_after=getattr(exc, "retry_after", None))
        return
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
    try:
        parsed = parse_feed(
            response.content,
            source=source,
            base_url=response.final_url,
            content_type=response.content_type,
            max_entries=max_entries,
        )
    except ItemSkipped as exc:
        report.feeds_failed += 1
        report.skip(exc, stage="feed")
        state.record_failure(source.url, str(exc), now=now)
        return
    pending.feed_successes.append((source.url, response, content_hash, parsed.ttl_seconds))
    yield from parsed.entries


@dataclass
class _Claim:
    """A new article to fetch, and every feed of this batch that lists it."""

    entry_id: str
    origin: Origin
    feeds: set[str]


def _claim(
    entry: FeedEntry,
    source: FeedSource,
    state: StateStore,
    report: BatchReport,
    pending: _Pending,
    claims: dict[str, _Claim],
) -> None:
    """Decide in the main thread (the state store is not shared across threads) whether to fetch ``entry``."""
    report.entries += 1
    entry_id = document_id(entry.url)
    if entry_id in claims:  # reached through another feed of this batch: fetched once, lists both feeds
        claims[entry_id].feeds.add(source.name)
        report.entries_already_seen += 1
        return
    if state.seen_article(entry_id):
        report.entries_already_seen += 1
        pending.seen_links.setdefault(entry_id, set()).add(source.name)
        return
    claims[entry_id] = _Claim(entry_id, Origin.for_entry(source, entry), {source.name})


def _fetch_and_build(
    claim: _Claim, fetcher: Fetcher, tagger: Tagger, options: PipelineOptions
) -> tuple[dict[str, Any] | None, ItemSkipped | None, bool]:
    """(document, skip, fetched) for one claim; runs in a worker thread. Infrastructure errors propagate."""
    try:
        response = fetcher.get(claim.origin.entry_url, kind="page", metadata=claim.origin.as_metadata())
    except ItemSkipped as exc:
        return None, exc, False
    try:
        return build_from_response(response, claim.origin, tagger, options), None, True
    except ItemSkipped as exc:
        return None, exc, True


def _fetch_all(
    claims: list[_Claim],
    fetcher: Fetcher,
    tagger: Tagger,
    report: BatchReport,
    pending: _Pending,
    options: PipelineOptions,
) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    if not claims:
        return docs
    with ThreadPoolExecutor(max_workers=max(1, options.fetch.workers), thread_name_prefix="fetch") as pool:
        futures = [pool.submit(_fetch_and_build, claim, fetcher, tagger, options) for claim in claims]
        for claim, future in zip(claims, futures, strict=True):
            doc, skipped, fetched = future.result()
            report.pages_fetched += fetched
            url = claim.origin.entry_url
            if skipped is not None:
                report.skip(skipped, stage="page")
                if skipped.permanent:
                    pending.seen.extend((claim.entry_id, url, feed) for feed in sorted(claim.feeds))
                continue
            assert doc is not None
            report.articles_built += 1
            doc["feeds"] = sorted(set(doc["feeds"]) | claim.feeds)
            for feed in sorted(claim.feeds):
                pending.seen.append((claim.entry_id, url, feed))
                if doc["doc_id"] != claim.entry_id:
                    pending.seen.append((doc["doc_id"], doc["url"], feed))
            _add(docs, doc)
    return docs


def _add(docs: dict[str, dict[str, Any]], doc: dict[str, Any]) -> None:
    existing = docs.get(doc["doc_id"])
    if existing is not None:
        for name in indexing.MERGED_LIST_FIELDS:
            existing[name] = sorted(set(existing[name]) | set(doc[name]))
        return
    docs[doc["doc_id"]] = doc


def build_from_response(response: Response, origin: Origin, tagger: Tagger, options: PipelineOptions) -> dict[str, Any]:
    """One fetched (or replayed) page → one tagged article document."""
    html = response.text()
    extracted = extraction.extract(html, url=response.final_url, options=options.extraction)
    url = article_url(html=html, final_url=response.final_url, extracted_url=extracted.url)
    tags = tagger.tag(
        title=extracted.title,
        body=extracted.body,
        language=extracted.language or origin.language,
        description=extracted.description,
        # the outlet's country: politics at home is domestic, elsewhere it counts toward geopolitics
        home_country=origin.country or None,
    )
    archive = (
        {"warc_path": response.archive_ref.path, "record_id": response.archive_ref.record_id}
        if response.archive_ref
        else None
    )
    return build_article(
        origin=origin,
        extracted=extracted,
        url=url,
        fetched_at=response.fetched_at,
        source_urls=[origin.entry_url, response.url, response.final_url],
        tag_fields=tags.as_fields(),
        archive=archive,
    )


def _index(docs: list[dict[str, Any]], es: Elasticsearch, options: PipelineOptions, report: BatchReport) -> None:
    if not docs:
        return
    docs.sort(key=lambda d: d["doc_id"])
    alias = options.index.articles_alias
    existing = indexing.existing_sources(es, alias, [d["doc_id"] for d in docs], indexing.MERGED_LIST_FIELDS)
    indexing.merge_list_fields(docs, existing, indexing.MERGED_LIST_FIELDS)
    report.duplicates_linked += dedup.link_near_duplicates(es, alias, docs)
    result = indexing.bulk_upsert(es, alias, docs, options.index)
    report.created += result.created
    report.updated += result.updated + result.noop


def _link_feeds(links: dict[str, set[str]], es: Elasticsearch, options: PipelineOptions) -> None:
    """Add feed names to articles indexed earlier that another feed now lists (no refetch needed)."""
    if not links:
        return
    alias = options.index.articles_alias
    existing = indexing.existing_sources(es, alias, sorted(links), ["feeds"])
    updates = [
        {"doc_id": doc_id, "feeds": sorted(set(src.get("feeds") or []) | links[doc_id])}
        for doc_id, src in existing.items()
        if not links[doc_id] <= set(src.get("feeds") or [])
    ]
    if updates:
        indexing.bulk_upsert(es, alias, updates, options.index)


# --- replay -----------------------------------------------------------------------------------------------


def run_replay(start: datetime, end: datetime, es: Elasticsearch, options: PipelineOptions) -> BatchReport:
    """Rebuild and upsert the documents of every page archived in ``[start, end)``."""
    indexing.ensure_indices(es, options.index)
    report = BatchReport(mode="replay")
    docs: dict[str, dict[str, Any]] = {}
    tagger = Tagger(options.tagging)
    #: entry id -> feeds that listed it in the window (an article fetched once may be in several feeds)
    listed_by: dict[str, set[str]] = {}
    with Archive(options.archive) as archive:
        for response, meta in archive.replay(start, end, kind="feed"):
            if response.status != 200:
                continue
            report.feeds += 1
            try:
                parsed = parse_feed(
                    response.content,
                    source=source_from_metadata(meta, response.url),
                    base_url=response.final_url,
                    content_type=response.content_type,
                    max_entries=options.feeds.max_entries_per_feed,
                )
            except ItemSkipped as exc:
                report.skip(exc, stage="replay-feed")
                continue
            for entry in parsed.entries:
                listed_by.setdefault(document_id(entry.url), set()).add(meta.get("feed", ""))
        for response, meta in archive.replay(start, end, kind="page"):
            report.pages_fetched += 1
            if response.status != 200:
                continue
            origin = Origin.from_metadata(meta)
            try:
                doc = build_from_response(response, origin, tagger, options)
            except ItemSkipped as exc:
                report.skip(exc, stage="replay")
                continue
            report.articles_built += 1
            extra = listed_by.get(document_id(origin.entry_url), set()) | listed_by.get(doc["doc_id"], set())
            doc["feeds"] = sorted((set(doc["feeds"]) | extra) - {""})
            _add(docs, doc)
    _index(list(docs.values()), es, options, report)
    logger.info("replay %s..%s done: %s", start, end, _brief(report))
    return report


# --- stories and reporting ---------------------------------------------------------------------------------


def group_stories(es: Elasticsearch, options: PipelineOptions) -> dict[str, Any]:
    """Assign every indexed article that has no story yet (the DAG's last step); returns a
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


def summarize(reports: Sequence[dict[str, Any]], stories: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sum batch reports into one run summary (what the DAG's last task logs)."""
    total: dict[str, Any] = {"batches": len(reports), "skipped": Counter()}
    for rep in reports:
        for key, value in rep.items():
            if key == "skipped":
                total["skipped"].update(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    total["skipped"] = dict(sorted(total["skipped"].items()))
    if stories:
        total["stories"] = stories
    return total


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _dt(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _brief(report: BatchReport) -> str:
    return (
        f"feeds={report.feeds} polled={report.feeds_polled} not_modified={report.feeds_not_modified} "
        f"failed={report.feeds_failed} entries={report.entries} seen={report.entries_already_seen} "
        f"fetched={report.pages_fetched} built={report.articles_built} created={report.created} "
        f"updated={report.updated} skipped={sum(report.skipped.values())}"
    )


__all__ = [
    "BatchReport",
    "build_from_response",
    "group_stories",
    "plan_batches",
    "resolve_mode",
    "run_batch",
    "run_live",
    "run_replay",
    "summarize",
]
