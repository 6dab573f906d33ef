"""The exception tree.

Two families, because the scheduler must treat them differently:

* :class:`ItemSkipped` (and subclasses): one feed or one page is bad. The pipeline records the reason,
  counts it and goes on with the rest. Never raised out of a batch.
* :class:`InfrastructureError`: something every item needs is down (Elasticsearch, the archive, the state
  store). It propagates so that Airflow fails the task and retries it.
"""

from __future__ import annotations

import logging


class IngestError(Exception):
    """Base class of every error raised by :mod:`ingest`."""


class ConfigurationError(IngestError, ValueError):
    """Settings, seed files or run parameters are invalid: fix them, a retry will not help."""


# --- per-item problems: skip, record, count -------------------------------------------------------------


class ItemSkipped(IngestError):
    """A single feed, page or document was dropped. ``reason`` is a short, stable, countable code.

    ``permanent`` says whether trying the same item again later can help: a permanent skip (a 404, a page
    that is not an article) marks the item done; a transient one (a timeout, a 503) is retried on a later
    poll with backoff and quarantined after a cap. ``log_level`` is how loudly one occurrence is logged.
    Both are properties of the exception class (subclasses override them), never of a list of reason strings.
    """

    reason: str = "skipped"
    permanent: bool = False
    log_level: int = logging.WARNING

    def __init__(self, message: str, *, reason: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.url = url

    def __str__(self) -> str:
        base = super().__str__()
        return f"{self.reason}: {base}" if self.url is None else f"{self.reason}: {base} ({self.url})"


class FetchError(ItemSkipped):
    """An HTTP fetch failed (status, timeout, size cap, content type, refused address...)."""

    reason = "fetch_error"

    @property
    def permanent(self) -> bool:  # type: ignore[override]  # transitional: becomes one subclass per family
        return self.reason in _PERMANENT_FETCH_REASONS


_PERMANENT_FETCH_REASONS = frozenset(
    {
        "http_404",
        "http_410",
        "unsupported_content_type",
        "blocked_url",
        "blocked_address",
        "blocked_scheme",
        "robots_disallowed",
        "no_content",
        "too_large",
        "decompression_bomb",
        "redirect_loop",
        "too_many_redirects",
        "unsupported_encoding",
    }
)


class BlockedURL(FetchError):
    """The URL points at a scheme or address the SSRF guard refuses, or robots.txt disallows it."""

    reason = "blocked_url"


class FeedParseError(ItemSkipped):
    """The feed document could not be parsed into any entries."""

    reason = "feed_parse_error"


class ExtractionError(ItemSkipped):
    """trafilatura found no usable article text on the page (the same page gives the same result)."""

    reason = "extraction_error"
    permanent = True


class ExtractionTimeout(ExtractionError):
    """Extraction of one page went over its time or size budget; the worker was recycled."""

    reason = "extraction_timeout"
    log_level = logging.ERROR


class InternalError(ItemSkipped):
    """An unexpected exception inside one item's step (our bug, or a library's on hostile input).

    Contained so that the rest of the batch goes on; transient, so the item is retried a few times and then
    quarantined with this reason instead of failing every later run. ``reason`` is ``internal_error:<Type>``.
    """

    reason = "internal_error"
    log_level = logging.ERROR

    def __init__(self, exc: BaseException, *, url: str | None = None) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}", reason=f"internal_error:{type(exc).__name__}", url=url)


def contain(exc: BaseException, *, url: str | None = None) -> ItemSkipped:
    """The one error boundary of per-item steps: what an exception raised while handling one item becomes.

    An :class:`ItemSkipped` stays itself; an :class:`InfrastructureError` (and anything that is not an
    :class:`Exception`, such as ``KeyboardInterrupt``) is re-raised, so the task fails and Airflow retries
    it; any other exception becomes an :class:`InternalError` skip. Use it as
    ``except Exception as exc: report.skip(contain(exc, url=url), ...)``.
    """
    if isinstance(exc, ItemSkipped):
        if url is not None and exc.url is None:
            exc.url = url
        return exc
    if isinstance(exc, InfrastructureError) or not isinstance(exc, Exception):
        raise exc
    return InternalError(exc, url=url)


# --- infrastructure: raise so that Airflow retries ------------------------------------------------------


class InfrastructureError(IngestError):
    """A shared dependency failed; the whole task should fail and be retried."""


class IndexingError(InfrastructureError):
    """Elasticsearch was unavailable or rejected documents that must not be dropped.

    Raised through the one seam that maps the client's exceptions (:mod:`ingest.elastic`).
    """

    def __init__(
        self,
        message: str,
        *,
        failed: int = 0,
        errors: list[dict[str, object]] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.errors = errors or []
        self.status = status


class ElasticsearchUnavailable(IndexingError):
    """No connection, a timeout, or the node is overloaded (429/503): try again later."""


class IndexMissing(IndexingError):
    """The alias or index does not exist: ``news-ingest setup-index`` (or the DAG's first task) creates it."""


class RequestRejected(IndexingError):
    """Elasticsearch refused the request or documents (mapping conflict, write block, permissions)."""


class ArchiveError(InfrastructureError):
    """The raw WARC archive could not be written or read."""


class StateStoreError(InfrastructureError):
    """The polling state store (SQLite) could not be read or written."""


class GroupingConflict(IndexingError):
    """Another story grouper wrote between our load and our write (optimistic concurrency on the stories index),
    or holds the writer lease longer than we may wait: nothing of ours was written; retry."""


class EmbeddingsUnavailable(ConfigurationError):
    """Embeddings are required (``NEWS_STORIES_REQUIRE_EMBEDDINGS=1``) but the model cannot be loaded."""
