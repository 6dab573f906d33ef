"""The exception tree.

Two families, because the scheduler must treat them differently:

* :class:`ItemSkipped` (and subclasses): one feed or one page is bad. The pipeline records the reason,
  counts it and goes on with the rest. Never raised out of a batch.
* :class:`InfrastructureError`: something every item needs is down (Elasticsearch, the archive, the state
  store). It propagates so that Airflow fails the task and retries it.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error raised by :mod:`ingest`."""


class ConfigurationError(IngestError, ValueError):
    """Settings, seed files or run parameters are invalid: fix them, a retry will not help."""


# --- per-item problems: skip, record, count -------------------------------------------------------------


class ItemSkipped(IngestError):
    """A single feed, page or document was dropped. ``reason`` is a short, stable, countable code."""

    reason: str = "skipped"

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


class BlockedURL(FetchError):
    """The URL points at a scheme or address the SSRF guard refuses, or robots.txt disallows it."""

    reason = "blocked_url"


class FeedParseError(ItemSkipped):
    """The feed document could not be parsed into any entries."""

    reason = "feed_parse_error"


class ExtractionError(ItemSkipped):
    """trafilatura found no usable article text on the page."""

    reason = "extraction_error"


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
