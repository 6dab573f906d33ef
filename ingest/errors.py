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

    def __reduce__(self) -> tuple[object, ...]:
        # Skips cross process boundaries (the extraction workers): keep the class, whatever its __init__ takes.
        return (_rebuild_skip, (type(self), self.args, dict(self.__dict__)))


def _rebuild_skip(cls: type[ItemSkipped], args: tuple[object, ...], state: dict[str, object]) -> ItemSkipped:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class BadURL(ItemSkipped):
    """A URL that cannot be parsed, fetched or stored as it is (bad port, control characters, broken IPv6
    brackets, an invalid host). The same string is as bad tomorrow: permanent."""

    reason = "bad_url"
    permanent = True


# --- fetching: one class per family; the class says whether a later attempt can help -------------------


class FetchError(ItemSkipped):
    """An HTTP fetch failed. Subclasses name the family; ``reason`` stays the short countable code
    (``http_<status>``, ``timeout``, ...). A bare FetchError is transient."""

    reason = "fetch_error"


class HTTPStatusError(FetchError):
    """The server answered with a status we cannot use; ``reason`` is ``http_<status>``.

    Statuses without a family of their own (403, 401, 400, 451, 429 without Retry-After...) are transient:
    bot walls and rate limits come and go, and the retry queue's attempt cap bounds the cost.
    """

    def __init__(self, message: str, *, status: int, url: str | None = None) -> None:
        super().__init__(message, reason=f"http_{status}", url=url)
        self.status = status


class NotFound(HTTPStatusError):
    """404: the page is not there."""

    permanent = True
    log_level = logging.INFO


class Gone(HTTPStatusError):
    """410: the page was removed for good."""

    permanent = True
    log_level = logging.INFO


class ServerError(HTTPStatusError):
    """5xx, or a server that broke the protocol (a 304 to a GET that sent no validators)."""


class RateLimited(FetchError):
    """HTTP 429/503 with a Retry-After: ``retry_after`` seconds to wait before asking again."""

    reason = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after


class Timeout(FetchError):
    """Connect, read or wall-clock timeout."""

    reason = "timeout"


class ConnectionFailed(FetchError):
    """Refused, reset or broken connection, or a server that hung up before any response."""

    reason = "connection_error"


class ProtocolViolation(ConnectionFailed):
    """The server answered with bytes that are not an HTTP response: an illegal status or header line,
    conflicting or negative lengths. Told apart from a broken connection so ops see a broken server, not a
    network problem; not retried at once (the same server sends the same bytes), but not permanent either: a
    server gets fixed, and the page is tried again on the retry schedule."""

    reason = "protocol_error"


class DNSError(ConnectionFailed):
    """The host name did not resolve (now)."""

    reason = "dns_error"


class IncompleteBody(FetchError):
    """The body ended early: a truncated gzip/deflate stream, or a corrupt one (``bad_encoding``).

    Never accepted as the page: a later attempt usually gets it whole.
    """

    reason = "incomplete_body"


class RobotsUnavailable(FetchError):
    """robots.txt answered 5xx or was unreachable: RFC 9309 says assume disallow, for now."""

    reason = "robots_unavailable"


class BlockedURL(FetchError):
    """The SSRF guard refuses the URL: its scheme (``blocked_scheme``) or address (``blocked_address``)."""

    reason = "blocked_url"
    permanent = True


class RobotsDisallowed(BlockedURL):
    """robots.txt disallows our user agent for this URL."""

    reason = "robots_disallowed"
    log_level = logging.INFO


class TooLarge(FetchError):
    """Over the raw size cap (``too_large``) or the decoded size cap (``decompression_bomb``)."""

    reason = "too_large"
    permanent = True


class UnsupportedContentType(FetchError):
    """A page that is not HTML (``unsupported_content_type``) or a Content-Encoding we do not decode
    (``unsupported_encoding``)."""

    reason = "unsupported_content_type"
    permanent = True
    log_level = logging.INFO


class RedirectError(FetchError):
    """A redirect chain that cannot end: ``redirect_loop`` or ``too_many_redirects``."""

    reason = "redirect_loop"
    permanent = True


class BadRedirect(RedirectError):
    """A ``Location`` that is not a fetchable http(s) URL (``javascript:``, ``mailto:``, ``about:blank``,
    ``http:foo``, a bad port or host)."""

    reason = "bad_redirect"


class FeedParseError(ItemSkipped):
    """The feed document could not be parsed into any entries (``not_a_feed``, ``empty_feed``...)."""

    reason = "feed_parse_error"


class UnsafeFeed(FeedParseError):
    """The document declares external entities (``external_entity``) or expanding ones
    (``xml_entity_expansion``): refused before any XML parser sees it."""

    reason = "external_entity"
    permanent = True


class ParserError(FeedParseError):
    """The feed parser itself failed on this document (a feedparser bug on hostile or odd input)."""

    reason = "parser_error"
    log_level = logging.ERROR


class FeedParseTimeout(FeedParseError):
    """Parsing one large feed document went over ``FeedOptions.parse_timeout_seconds``; its parser process was
    killed. The same bytes take as long again, so it is permanent (a changed document is parsed afresh)."""

    reason = "parse_timeout"
    permanent = True
    log_level = logging.ERROR


class ExtractionError(ItemSkipped):
    """trafilatura found no usable article text on the page (the same page gives the same result)."""

    reason = "extraction_error"
    permanent = True


class NotAnArticle(ExtractionError):
    """The page holds text but no article: a consent wall (``ingest.pagekind``). The same request gets the same
    notice, so it is permanent; the raw page stays in the archive, and a replay judges it again."""

    reason = "consent_wall"


class JunkText(ExtractionError):
    """The extracted text is mostly tokens no language has (``ingest.pagekind.junk_text``): one 3 MB "word", an
    encoded blob. The same page gives the same text, so it is permanent."""

    reason = "junk_text"


class SoftNotFound(NotAnArticle):
    """A not-found page served with status 200 (``ingest.pagekind.not_found_page``): as permanent as a 404."""

    reason = "soft_404"


class ExtractionTimeout(ExtractionError):
    """Extraction of one page went over its time or size budget; the worker was recycled."""

    reason = "extraction_timeout"
    log_level = logging.ERROR


class DocumentRejected(ItemSkipped):
    """Elasticsearch refused one document of a bulk request for its content (a field value the mapping cannot
    take: a keyword over 32,766 bytes, an unparseable date, a wrong type, an unmapped field).

    The rest of the batch is indexed; sending the same document again gets the same answer, so it is permanent
    (a fixed pipeline re-derives it from the archive with a backfill). ``reason`` is ``document_rejected``,
    ``error_type`` Elasticsearch's own (``document_parsing_exception``, ...).
    """

    reason = "document_rejected"
    permanent = True
    log_level = logging.ERROR

    def __init__(self, message: str, *, error_type: str = "", doc_id: str = "", url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.error_type = error_type
        self.doc_id = doc_id


class WorkerCrashed(ItemSkipped):
    """The worker process handling one page died (a native crash in a C extension); it was replaced."""

    reason = "worker_crashed"
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
