"""The derivation worker pool: archived pages in, tagged article documents (or skips) out, in input order.

Extraction, tagging and document building are CPU-bound and run in worker *processes* (pebble's
``ProcessPool``), for three reasons measured on this project:

* both cores are used (threads serialise on the GIL for trafilatura's Python passes);
* a native crash cannot take the run down. Four worker threads over 439 real pages once died with glibc's
  ``double free or corruption``: trafilatura compiles its XPath expressions once, at import, into module-level
  ``lxml.etree.XPath`` objects, and lxml's XPath evaluators are not safe to call from several threads at once.
  One page per process at a time avoids that, and a worker that still dies is replaced and its page skipped
  (``worker_crashed``);
* every page has a deadline: a page that takes longer than ``ExtractionOptions.timeout_seconds`` is killed with
  its worker (``extraction_timeout``) instead of holding a worker forever. Workers are also recycled after
  ``ProcessOptions.max_pages_per_worker`` pages, which bounds what trafilatura/lxml may leak.

Workers are forked from a forkserver that has already imported trafilatura and built the tagger, so a
replacement starts in milliseconds, and they never inherit the parent's threads or sockets. What runs inside
them (and the forkserver's preload) is :mod:`ingest.worker`, outside this package so that they never import
the Elasticsearch client.
"""

from __future__ import annotations

import logging
import multiprocessing.forkserver
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from ingest import worker
from ingest.config import FeedOptions, PipelineOptions
from ingest.documents import Origin
from ingest.errors import ExtractionTimeout, FeedParseTimeout, ItemSkipped, ParserError, WorkerCrashed, contain
from ingest.feeds import FeedSource, ParsedFeed, parse_response
from ingest.fetching import Response

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Page:
    """One archived page to derive."""

    response: Response
    origin: Origin


@dataclass(frozen=True)
class Derived(Generic[_T]):
    """What one page became: a document, or the skip that says why not."""

    item: _T
    doc: dict[str, Any] | None
    skipped: ItemSkipped | None


def start_forkserver() -> None:
    """Start the workers' forkserver now, without waiting for it.

    It is one per process (every :class:`DerivePool` forks its workers from it) and its start-up takes 1-2 s of
    one core (importing trafilatura, building the tagger and its word lists, the language model:
    :data:`ingest.worker.PRELOAD`), which the first pool otherwise waits for. Called before a capture that the
    same process derives next (``news-ingest run``), that start-up runs on the core the capture leaves idle. A
    no-op when it runs already.
    """
    worker.context()
    with worker.bare_main():
        multiprocessing.forkserver.ensure_running()


class DerivePool:
    """A pool of derivation workers; :meth:`derive` streams results back in input order."""

    def __init__(self, options: PipelineOptions) -> None:
        self.options = options
        self.workers = options.process.workers or os.cpu_count() or 1
        self._pool = ProcessPool(
            max_workers=self.workers,
            max_tasks=max(0, options.process.max_pages_per_worker),
            initializer=worker.init_worker,
            initargs=(options,),
            context=worker.context(),
        )

    def start(self) -> None:
        """Start the workers now (pebble starts them with the first page), so their start-up overlaps the
        caller's own preparation."""
        self._pool.schedule(worker.noop)

    def close(self) -> None:
        self._pool.close()  # type: ignore[no-untyped-call]
        self._pool.join()

    def __enter__(self) -> DerivePool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
        self.close()

    def derive(self, items: Iterable[tuple[_T, Page]]) -> Iterator[Derived[_T]]:
        """Derive every page; at most ``workers * prefetch_per_worker`` pages are in flight at a time."""
        window = max(1, self.workers * max(1, self.options.process.prefetch_per_worker))
        timeout = self.options.extraction.timeout_seconds or None
        in_flight: deque[tuple[_T, Page, ProcessFuture[dict[str, Any]]]] = deque()
        for item, page in items:
            future = self._pool.schedule(worker.derive_in_worker, args=(page.response, page.origin), timeout=timeout)
            in_flight.append((item, page, future))
            if len(in_flight) >= window:
                yield self._collect(*in_flight.popleft())
        while in_flight:
            yield self._collect(*in_flight.popleft())

    def _collect(self, item: _T, page: Page, future: ProcessFuture[dict[str, Any]]) -> Derived[_T]:
        url = page.origin.entry_url or page.response.final_url
        try:
            return Derived(item, future.result(), None)
        except ItemSkipped as exc:
            return Derived(item, None, exc)
        except FutureTimeout:
            seconds = self.options.extraction.timeout_seconds
            return Derived(item, None, ExtractionTimeout(f"no result within {seconds:g} s", url=url))
        except ProcessExpired as exc:
            return Derived(item, None, WorkerCrashed(f"worker died ({exc}, exit code {exc.exitcode})", url=url))
        except Exception as exc:  # e.g. a result that could not be pickled: still one page, not the run
            return Derived(item, None, contain(exc, url=url))


class FeedParsePool:
    """Feed parsing with a deadline: a document of ``FeedOptions.isolate_parse_above_bytes`` or more is parsed in
    a separate worker process, killed (and the document skipped as ``parse_timeout``) past
    ``FeedOptions.parse_timeout_seconds``; smaller ones, which parse in well under a second, in the caller.

    feedparser is pure Python and cannot be interrupted in the thread that runs it, and a feed's cost grows with
    its markup (about 2 s of CPU per MB of inline HTML, measured), so without this one large hostile document held
    a capture or processing task for as long as it liked. The process (one, from the derivation workers'
    forkserver) is started on the first large document only: a poll of ordinary feeds never pays for it.
    """

    def __init__(self, options: FeedOptions) -> None:
        self.options = options
        self._pool: ProcessPool | None = None

    def parse(self, response: Response, *, source: FeedSource, max_entries: int | None = None) -> ParsedFeed:
        """:func:`ingest.feeds.parse_response`, within the deadline; raises only ``FeedParseError`` skips."""
        if len(response.content) < self.options.isolate_parse_above_bytes:
            return parse_response(response, source=source, max_entries=max_entries)
        if self._pool is None:
            self._pool = ProcessPool(max_workers=1, context=worker.context())
        timeout = self.options.parse_timeout_seconds or None
        future = self._pool.schedule(worker.parse_feed_in_worker, args=(response, source, max_entries), timeout=timeout)
        url = response.final_url or None
        try:
            parsed: ParsedFeed = future.result()
        except FutureTimeout:
            size = len(response.content) / 1e6
            raise FeedParseTimeout(f"a {size:.1f} MB document not parsed within {timeout:g} s", url=url) from None
        except ProcessExpired as exc:
            raise ParserError(f"the feed parser process died ({exc}, exit code {exc.exitcode})", url=url) from None
        return parsed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join()
            self._pool = None

    def __enter__(self) -> FeedParsePool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
