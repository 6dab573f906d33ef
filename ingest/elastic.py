"""The one Elasticsearch seam: the client's exceptions are mapped onto :mod:`ingest.errors` here, once.

Every stage that talks to Elasticsearch (indexing, dedup, stories, the CLI's read side) wraps its client calls
in :func:`mapped` (or calls through :func:`call`), the way httpx maps transport errors at one boundary. Callers
then see a small tree, all :class:`~ingest.errors.IndexingError` (infrastructure: Airflow retries the task):

* :class:`~ingest.errors.ElasticsearchUnavailable`: no connection, a timeout, the node overloaded (429/503);
* :class:`~ingest.errors.IndexMissing`: the alias or index does not exist (run ``news-ingest setup-index``);
* :class:`~ingest.errors.RequestRejected`: any other refusal (a mapping conflict, a write block, bad auth).

One bulk item's error is judged by :func:`item_error`: a document Elasticsearch refuses for its own content
is a :class:`~ingest.errors.DocumentRejected` skip (the rest of the batch goes on); anything about the index
or the node (a write block, a missing index, 429/5xx) stays infrastructure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from elasticsearch import ApiError, TransportError, helpers

from ingest.errors import DocumentRejected, ElasticsearchUnavailable, IndexingError, IndexMissing, RequestRejected

logger = logging.getLogger(__name__)

_R = TypeVar("_R")
#: Statuses meaning "try again later": the node is busy or not ready, not that the request is wrong.
_BUSY = frozenset({429, 502, 503, 504})
#: Error types of a bulk item that Elasticsearch gives for the document's own content (with status 400): the
#: same document is refused again, whatever the state of the cluster.
DOCUMENT_ERROR_TYPES = frozenset(
    {
        "document_parsing_exception",
        "mapper_parsing_exception",
        "strict_dynamic_mapping_exception",
        "illegal_argument_exception",
        "x_content_parse_exception",
        "number_format_exception",
        "date_time_parse_exception",
        "json_parse_exception",
    }
)
#: How much of Elasticsearch's reason one rejection keeps (a preview of a 40 KB value is not a log line).
_REASON_CHARS = 300


def error_type(exc: ApiError) -> str:
    """Elasticsearch's own error type (``index_not_found_exception``, ...) or ``""``."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("type", ""))
    return ""


def translate(exc: Exception, what: str) -> IndexingError:
    """The :mod:`ingest.errors` exception for a client exception raised while doing ``what``."""
    if isinstance(exc, IndexingError):
        return exc
    if isinstance(exc, ApiError):
        status = exc.meta.status if exc.meta is not None else 0
        kind = error_type(exc)
        message = f"{what}: Elasticsearch answered {status} {kind or exc.message}"
        if status == 404 and kind in ("index_not_found_exception", "alias_not_found_exception", ""):
            return IndexMissing(f"{message} (run `news-ingest setup-index`)", status=status)
        if status in _BUSY:
            return ElasticsearchUnavailable(message, status=status)
        return RequestRejected(message, status=status)
    if isinstance(exc, helpers.BulkIndexError):
        return RequestRejected(f"{what}: {exc}", errors=list(exc.errors))
    if isinstance(exc, TransportError):
        return ElasticsearchUnavailable(f"{what}: Elasticsearch is unreachable ({type(exc).__name__}: {_root(exc)})")
    return IndexingError(f"{what}: {type(exc).__name__}: {exc}")


def _root(exc: BaseException) -> str:
    """The innermost cause's message (``[Errno 111] Connection refused``), not the transport's nested reprs."""
    current, seen = exc, 0
    while seen < 10:
        inner = next(iter(getattr(current, "errors", ()) or ()), None) or current.__cause__ or current.__context__
        if not isinstance(inner, BaseException):
            break
        current, seen = inner, seen + 1
    return str(current) or str(exc)


def item_error(item: Mapping[str, Any], *, url: str | None = None) -> DocumentRejected | None:
    """A failed bulk item (``{"_id", "status", "error"}``) as a document skip, or None when the failure is not
    the document's fault (and must fail the request: a write block, a missing index, an overloaded node)."""
    status = item.get("status")
    error = item.get("error")
    kind = str(error.get("type", "")) if isinstance(error, Mapping) else ""
    if status != 400 or kind not in DOCUMENT_ERROR_TYPES:
        return None
    reason = _innermost_reason(error) if isinstance(error, Mapping) else ""
    doc_id = str(item.get("_id") or item.get("id") or "")
    message = f"Elasticsearch refused document {doc_id}: {kind}: {reason}"
    return DocumentRejected(message, error_type=kind, doc_id=doc_id, url=url)


def _innermost_reason(error: Mapping[str, Any]) -> str:
    """The reasons of a ``caused_by`` chain, most specific first (the innermost names the limit or the format),
    each cut short: the outer ones quote a preview of the refused value."""
    reasons: list[str] = []
    current: object = error
    for _ in range(5):
        if not isinstance(current, Mapping):
            break
        reasons.append(str(current.get("reason", ""))[: _REASON_CHARS // 2])
        current = current.get("caused_by")
    return " / ".join(r for r in reversed(reasons) if r)


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run a block of client calls; client exceptions leave it as :class:`IndexingError` subclasses."""
    try:
        yield
    except (ApiError, TransportError, helpers.BulkIndexError) as exc:
        raise translate(exc, what) from exc


def call(what: str, fn: Callable[..., _R], /, **kwargs: object) -> _R:
    """``fn(**kwargs)`` with its client exceptions mapped (see :func:`mapped`)."""
    with mapped(what):
        return fn(**kwargs)


__all__ = ["DOCUMENT_ERROR_TYPES", "call", "error_type", "item_error", "mapped", "translate"]
