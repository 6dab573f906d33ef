"""Processing: derive article documents from the archive (extract, tag, build, dedup, index).

The same code path serves the live pipeline (right after a capture, triggered by its asset event) and every
backfill: the archive is the source of truth, and a replay builds the same documents as the live run did.
What to derive is a :class:`Selection`:

* by **capture time**: every page archived in one or more windows (what a capture batch just archived, or a
  backfill's interval), with feed membership rebuilt from the feed documents archived in the same windows;
* by **publish time**: the indexed articles published in a window, re-derived from the captures their
  ``archive`` references point at.

Pages are derived in a process pool (:mod:`.workers`); documents are deduplicated and bulk-upserted in
groups of ``ProcessOptions.index_batch``. Per-page problems are counted skips; Elasticsearch or archive
failures raise (the task fails and is retried, the capture ledger keeps the batch pending).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from elasticsearch import Elasticsearch

from ingest import dedup, indexing
from ingest.archive import Archive
from ingest.config import PipelineOptions
from ingest.documents import Origin
from ingest.elastic import call
from ingest.errors import ConfigurationError, ExtractionError, contain
from ingest.ledger import Ledger
from ingest.pipeline.capture import source_from_metadata
from ingest.pipeline.reports import BatchReport
from ingest.pipeline.workers import DerivePool, FeedParsePool, Page
from ingest.urls import document_id, normalize_url

logger = logging.getLogger(__name__)

WindowKind = Literal["capture", "publish"]


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` (timezone-aware)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ConfigurationError("windows need timezone-aware instants")
        if self.end <= self.start:
            raise ConfigurationError(
                f"window end {self.end.isoformat()} is not after its start {self.start.isoformat()}"
            )


@dataclass(frozen=True)
class Selection:
    """What to derive: windows by capture or publish time, optionally only some feeds' articles."""

    windows: tuple[Window, ...]
    by: WindowKind = "capture"
    feeds: frozenset[str] = field(default_factory=frozenset)

    def wants(self, feeds: Iterable[str]) -> bool:
        return not self.feeds or bool(self.feeds & set(feeds))


def derive(
    selection: Selection,
    es: Elasticsearch,
    options: PipelineOptions,
    *,
    batch_id: str = "",
    write: bool = True,
) -> BatchReport:
    """Derive and index the documents of ``selection`` from the archive (``write=False``: only count what
    would be created, updated or left unchanged)."""
    report = BatchReport(stage="process", batch_id=batch_id, dry_run=not write)
    with (
        Archive(options.archive) as archive,
        DerivePool(options) as pool,
        _Sink(_index if write else _compare, es, options, report) as sink,
    ):
        pool.start()  # the workers start (and import trafilatura) while the feeds are read
        if selection.by == "capture":
            listed_by, urls = _feed_membership(archive, selection.windows, options, report)
            pages = _captured_pages(archive, selection, listed_by)
        else:
            listed_by, urls = {}, {}
            pages = _published_pages(archive, selection, es, options)
        built: set[str] = set()
        batch: dict[str, dict[str, Any]] = {}
        for result in pool.derive(_counted(pages, report)):
            entry_id, _ = result.item
            if result.skipped is not None:
                stage = "extract" if isinstance(result.skipped, ExtractionError) else "derive"
                report.skip(result.skipped, stage=stage)
                continue
            doc = result.doc
            assert doc is not None
            report.articles_built += 1
            extra = listed_by.get(entry_id, set()) | listed_by.get(doc["doc_id"], set())
            doc["feeds"] = sorted((set(doc["feeds"]) | extra) - {""})
            built.update((entry_id, doc["doc_id"]))
            _add(batch, doc)
            if len(batch) >= max(1, options.process.index_batch):
                sink.put(list(batch.values()))
                batch = {}
        sink.put(list(batch.values()))
    if write:
        unbuilt = {k: v for k, v in listed_by.items() if k not in built}
        report.feeds_linked += _link_feeds(unbuilt, urls, es, options)
    logger.info("processing %s done: %s", batch_id or selection.by, report.brief())
    return report


_SinkFn = Callable[[list[dict[str, Any]], Elasticsearch, PipelineOptions, BatchReport], None]


class _Sink:
    """Indexes batches of documents in a background thread while the workers derive the next ones.

    One batch waits at most (``put`` blocks beyond that), so memory stays bounded; the first failure
    (Elasticsearch down, a rejected batch) is re-raised in the caller at the next ``put`` or on exit, and
    nothing after it is written. Batches are indexed in order, each refreshed before the next one so that
    near-duplicate detection sees the previous batches.
    """

    def __init__(self, fn: _SinkFn, es: Elasticsearch, options: PipelineOptions, report: BatchReport) -> None:
        self._fn, self._es, self._options, self._report = fn, es, options, report
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._written = 0
        self._thread = threading.Thread(target=self._run, name="index-sink", daemon=True)

    def __enter__(self) -> _Sink:
        self._thread.start()
        return self

    def _run(self) -> None:
        while (docs := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: nothing after a failure is written
            try:
                if self._written:
                    indexing.refresh(self._es, self._options.index.articles_alias)
                self._fn(docs, self._es, self._options, self._report)
                self._written += 1
            except BaseException as exc:  # re-raised in the caller's thread
                self._error = exc

    def put(self, docs: list[dict[str, Any]]) -> None:
        self._raise()
        if docs:
            self._queue.put(docs)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc is None:
            self._raise()


def _counted(pages: Iterator[tuple[str, Page]], report: BatchReport) -> Iterator[tuple[tuple[str, Page], Page]]:
    for entry_id, page in pages:
        report.pages_read += 1
        yield (entry_id, page), page


# --- selecting pages ---------------------------------------------------------------------------------------


def _feed_membership(
    archive: Archive, windows: Sequence[Window], options: PipelineOptions, report: BatchReport
) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Entry id -> feeds that listed it, and entry id -> normalised entry URL, from the feed documents
    archived in the windows."""
    listed_by: dict[str, set[str]] = {}
    urls: dict[str, str] = {}
    with FeedParsePool(options.feeds) as parser:
        for window in windows:
            for response, meta in archive.replay(window.start, window.end, kind="feed"):
                if response.status != 200:
                    continue
                report.feed_documents += 1
                try:
                    parsed = parser.parse(
                        response,
                        source=source_from_metadata(meta, response.url),
                        max_entries=options.feeds.max_entries_per_feed,
                    )
                    for entry in parsed.entries:
                        entry_id = document_id(entry.url)
                        listed_by.setdefault(entry_id, set()).add(meta.get("feed", ""))
                        urls.setdefault(entry_id, normalize_url(entry.url))
                except Exception as exc:  # the same boundary as the capture's: one feed document, counted
                    report.skip(contain(exc, url=response.url), stage="replay-feed")
    return listed_by, urls


def _captured_pages(
    archive: Archive, selection: Selection, listed_by: dict[str, set[str]]
) -> Iterator[tuple[str, Page]]:
    for window in selection.windows:
        for response, meta in archive.replay(window.start, window.end, kind="page"):
            if response.status != 200:
                continue
            origin = Origin.from_metadata(meta)
            try:
                entry_id = document_id(origin.entry_url or response.url)
            except Exception:
                entry_id = response.final_url
            if not selection.wants({origin.feed} | listed_by.get(entry_id, set())):
                continue
            yield entry_id, Page(response, origin)


def _published_pages(
    archive: Archive, selection: Selection, es: Elasticsearch, options: PipelineOptions
) -> Iterator[tuple[str, Page]]:
    """The captures behind the articles published in the windows (through their ``archive`` references)."""
    refs: dict[str, set[str]] = {}
    for window in selection.windows:
        for source in _stored(es, options, "published_at", window, selection.feeds, ["archive"]):
            ref = source.get("archive") or {}
            if ref.get("warc_path") and ref.get("record_id"):
                refs.setdefault(str(ref["warc_path"]), set()).add(str(ref["record_id"]))
    for path in sorted(refs):
        for response, meta in archive.records(path, refs[path]):
            origin = Origin.from_metadata(meta)
            yield document_id(origin.entry_url or response.url), Page(response, origin)


# --- indexing ----------------------------------------------------------------------------------------------


def _add(docs: dict[str, dict[str, Any]], doc: dict[str, Any]) -> None:
    """A later capture of the same article wins; list fields accumulate."""
    existing = docs.get(doc["doc_id"])
    if existing is not None:
        for name in indexing.MERGED_LIST_FIELDS:
            doc[name] = sorted(set(existing[name]) | set(doc[name]))
    docs[doc["doc_id"]] = doc


def _index(docs: list[dict[str, Any]], es: Elasticsearch, options: PipelineOptions, report: BatchReport) -> None:
    if not docs:
        return
    docs.sort(key=lambda d: d["doc_id"])
    alias = options.index.articles_alias
    existing = indexing.existing_sources(es, alias, [d["doc_id"] for d in docs], indexing.MERGED_LIST_FIELDS)
    indexing.merge_list_fields(docs, existing, indexing.MERGED_LIST_FIELDS)
    report.duplicates_linked += dedup.link_near_duplicates(es, alias, docs)
    result = indexing.bulk_upsert(es, alias, docs, options.index, skip_rejected=True)
    report.created += result.created
    report.updated += result.updated
    report.unchanged += result.noop
    refused = {skip.doc_id for skip in result.rejected}
    for skip in result.rejected:
        report.skip(skip, stage="index")
    for doc in docs:
        if doc["doc_id"] not in refused:
            report.tags.update(doc.get("tags") or [])


#: Fields of an article that later stages own (stories, dedup) or that indexing stamps: not compared.
_NOT_DERIVED = frozenset({"indexed_at", "story_id", "story_title", "story_score", "embedding"})


def _compare(docs: list[dict[str, Any]], es: Elasticsearch, options: PipelineOptions, report: BatchReport) -> None:
    """The dry run's sink: count what indexing ``docs`` would create or change, write nothing."""
    if not docs:
        return
    stored = indexing.existing_sources(es, options.index.articles_alias, [d["doc_id"] for d in docs], None)
    for doc in docs:
        before = stored.get(doc["doc_id"])
        if before is None:
            report.created += 1
        elif any(before.get(k) != v for k, v in doc.items() if k not in _NOT_DERIVED and k not in _MERGED):
            report.updated += 1
        else:
            report.unchanged += 1
        report.tags.update(doc.get("tags") or [])


_MERGED = frozenset(indexing.MERGED_LIST_FIELDS)


def retag(
    selection: Selection, es: Elasticsearch, options: PipelineOptions, *, batch_id: str = "", write: bool = True
) -> BatchReport:
    """Re-tag the stored articles of ``selection`` from their indexed text (no archive, no extraction): what a
    taxonomy or gazetteer change needs. Only documents whose tag fields change are rewritten."""
    from ingest.tagging import Tagger

    report = BatchReport(stage="retag", batch_id=batch_id, dry_run=not write)
    tagger = Tagger(options.tagging)
    field = "fetched_at" if selection.by == "capture" else "published_at"
    updates: list[dict[str, Any]] = []
    for window in selection.windows:
        for source in _stored(es, options, field, window, selection.feeds, _RETAG_SOURCE):
            report.pages_read += 1
            try:
                fields = tagger.tag(
                    title=source.get("title") or "",
                    body=source.get("body") or "",
                    language=source.get("language"),
                    description=source.get("description") or "",
                    home_country=source.get("country") or None,
                ).as_fields()
            except Exception as exc:  # one document, counted
                report.skip(contain(exc, url=source.get("url")), stage="derive")
                continue
            report.articles_built += 1
            report.tags.update(fields["tags"])
            if all(source.get(k) == v for k, v in fields.items()):
                report.unchanged += 1
                continue
            report.updated += 1
            updates.append({"doc_id": source["doc_id"], **fields})
            if write and len(updates) >= max(1, options.process.index_batch):
                _write_tags(updates, es, options, report)
                updates = []
    if write and updates:
        _write_tags(updates, es, options, report)
    logger.info("re-tagging %s done: %s", batch_id or selection.by, report.brief())
    return report


def _write_tags(
    updates: list[dict[str, Any]], es: Elasticsearch, options: PipelineOptions, report: BatchReport
) -> None:
    result = indexing.bulk_upsert(es, options.index.articles_alias, updates, options.index, skip_rejected=True)
    for skip in result.rejected:
        report.updated -= 1
        report.skip(skip, stage="index")


_RETAG_SOURCE = [
    "doc_id",
    "url",
    "title",
    "body",
    "language",
    "description",
    "country",
    "tags",
    "subtopics",
    "entities",
    "entity_names",
    "tag_scores",
    "tag_evidence",
    "taxonomy_version",
    "names",
]


def _stored(
    es: Elasticsearch,
    options: PipelineOptions,
    field: str,
    window: Window,
    feeds: frozenset[str],
    includes: list[str],
) -> Iterator[dict[str, Any]]:
    """Stored articles whose ``field`` lies in ``window`` (and listed by one of ``feeds``), by id."""
    filters: list[dict[str, Any]] = [
        {"range": {field: {"gte": window.start.isoformat(), "lt": window.end.isoformat()}}}
    ]
    if feeds:
        filters.append({"terms": {"feeds": sorted(feeds)}})
    search_after: list[Any] | None = None
    while True:
        resp = call(
            f"selecting articles by {field}",
            es.search,
            index=options.index.articles_alias,
            query={"bool": {"filter": filters}},
            source_includes=includes,
            sort=[{"doc_id": "asc"}],
            size=500,
            **({"search_after": search_after} if search_after else {}),
        )
        hits = resp["hits"]["hits"]
        for hit in hits:
            yield hit.get("_source") or {}
        if len(hits) < 500:
            return
        search_after = hits[-1]["sort"]


#: A feed link whose article never got indexed is forgotten after this long.
_DEFERRED_LINK_DAYS = 7


def _link_feeds(links: dict[str, set[str]], urls: dict[str, str], es: Elasticsearch, options: PipelineOptions) -> int:
    """Add feed names to articles that a feed of these windows lists but that were derived elsewhere.

    The article may be indexed already (an earlier capture; found by id, or by its entry URL among the
    documents' ``source_urls`` when its canonical URL differs), or not yet: another capture batch of the same
    poll holds it and may be derived later, in any order. Links whose article is not indexed yet are kept in
    the capture ledger and applied by whichever later processing run finds the article, so no order of the
    mapped tasks loses one.
    """
    now = datetime.now(UTC)
    with Ledger(options.state) as ledger:
        deferred = ledger.deferred_links()
        wanted = {k: (urls.get(k, ""), v - {""}) for k, v in links.items() if v - {""}}
        for entry_id, (url, feeds) in deferred.items():
            known_url, known_feeds = wanted.get(entry_id, (url, set()))
            wanted[entry_id] = (known_url or url, known_feeds | feeds)
        if not wanted:
            return 0
        alias = options.index.articles_alias
        found = indexing.existing_sources(es, alias, sorted(wanted), ["feeds"])
        by_url = _by_source_url(es, alias, {wanted[k][0]: k for k in wanted if k not in found and wanted[k][0]})
        targets = {**{k: (k, src) for k, src in found.items()}, **by_url}
        merged: dict[str, set[str]] = {}
        stored: dict[str, set[str]] = {}
        for entry_id, (doc_id, src) in targets.items():
            merged.setdefault(doc_id, set()).update(wanted[entry_id][1])
            stored[doc_id] = set(src.get("feeds") or [])
        updates = [
            {"doc_id": doc_id, "feeds": sorted(stored[doc_id] | feeds)}
            for doc_id, feeds in sorted(merged.items())
            if not feeds <= stored[doc_id]
        ]
        if updates:
            indexing.bulk_upsert(es, alias, updates, options.index)
        missing = {k: v for k, v in wanted.items() if k not in targets}
        ledger.defer_links(missing, now=now)
        ledger.clear_links([k for k in deferred if k in targets], older_than=now - timedelta(days=_DEFERRED_LINK_DAYS))
    if missing:
        logger.info("%d feed links wait for their article to be indexed", len(missing))
    return len(updates)


def _by_source_url(es: Elasticsearch, alias: str, urls: dict[str, str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Entry id -> (doc id, source) of stored articles that list the entry's URL among their ``source_urls``."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    names = sorted(urls)
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        resp = call(
            "finding articles by source URL",
            es.search,
            index=alias,
            query={"terms": {"source_urls": chunk}},
            source_includes=["feeds", "source_urls"],
            size=len(chunk) * 2,
        )
        for hit in resp["hits"]["hits"]:
            for url in set(hit["_source"].get("source_urls") or []) & set(chunk):
                out[urls[url]] = (hit["_id"], hit["_source"])
    return out


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["Selection", "Window", "derive", "retag", "utc"]
