"""The one Elasticsearch seam: the client's exceptions are mapped onto :mod:`ingest.errors` here, once.

Every stage that talks to Elasticsearch (indexing, dedup, stories, the CLI's read side) wraps its client calls
in :func:`mapped` (or calls through :func:`call`), the way httpx maps transport errors at one boundary. Callers
then see a small tree, all :class:`~ingest.errors.IndexingError` (infrastructure: Airflow retries the task):

* :class:`~ingest.errors.ElasticsearchUnavailable`: no connection, a timeout, the node overloaded (429/503);
* :class:`~ingest.errors.IndexMissing`: the alias or index does not exist (run ``news-ingest setup-index``);
* :class:`~ingest.errors.RequestRejected`: any other refusal (a mapping conflict, a write block, bad auth).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from elasticsearch import ApiError, TransportError, helpers

from ingest.errors import ElasticsearchUnavailable, IndexingError, IndexMissing, RequestRejected

logger = logging.getLogger(__name__)

_R = TypeVar("_R")
#: Statuses meaning "try again later": the node is busy or not ready, not that the request is wrong.
_BUSY = frozenset({429, 502, 503, 504})


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


__all__ = ["call", "error_type", "mapped", "translate"]
