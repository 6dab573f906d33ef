"""The derivation worker pool: one archived page in, one tagged article document (or a skip) out.

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

Workers are forked from a forkserver that has already imported trafilatura, so a replacement starts in
milliseconds, and they never inherit the parent's threads or sockets.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import sys
import threading
import types
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from pebble import ProcessExpired, ProcessFuture, ProcessPool
from threadpoolctl import threadpool_limits

from ingest import extraction
from ingest.config import PipelineOptions
from ingest.documents import Origin, article_url, build_article
from ingest.errors import ExtractionTimeout, ItemSkipped, WorkerCrashed, contain
from ingest.fetching import Response
from ingest.tagging import Tagger

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Modules the forkserver imports once, so that every (re)started worker has them already (``warmup`` also
#: builds the default tagger, whose compiled data is cached per file).
_PRELOAD = ["ingest.pipeline.workers", "trafilatura", "ingest.pipeline.warmup"]


def build_from_response(response: Response, origin: Origin, tagger: Tagger, options: PipelineOptions) -> dict[str, Any]:
    """One archived page → one tagged article document (a pure function of the capture and the options)."""
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


# --- inside a worker process ------------------------------------------------------------------------------

_WORKER: tuple[Tagger, PipelineOptions] | None = None


def _init_worker(options: PipelineOptions) -> None:
    global _WORKER
    # One BLAS thread per worker: the workers already use every core, and OpenBLAS's own threads (numpy, in
    # language identification) spinning beside them made every page take twice as long (measured: 438 pages
    # in 20.2 s instead of 11.7 s on 2 cores).
    threadpool_limits(limits=1)
    _WORKER = (Tagger(options.tagging), options)


def _noop() -> None:
    """Scheduled once to start the workers."""


def _derive_in_worker(response: Response, origin: Origin) -> dict[str, Any]:
    """Runs in a worker: any exception is contained here, so only skips cross the process boundary."""
    assert _WORKER is not None, "worker not initialised"
    tagger, options = _WORKER
    try:
        return build_from_response(response, origin, tagger, options)
    except Exception as exc:
        raise contain(exc, url=origin.entry_url or response.final_url) from None


# --- in the parent -----------------------------------------------------------------------------------------


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


_MAIN_LOCK = threading.Lock()


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    """A forkserver process that does not re-run the parent's ``__main__`` first.

    multiprocessing re-executes the parent's main script in every new process (as ``__mp_main__``) so that
    objects defined there can be unpickled. The workers need nothing from it (their functions live in this
    module), and re-running it can be fatal: under an Airflow worker the main script is the ``airflow`` CLI,
    whose import initialises Airflow's settings, and a task process is not allowed a metadata database, so
    every worker died at start and every page of a run was skipped as ``BrokenProcessPool``. ``dag.test()``
    hid this (its main module is pytest). While a process is launched, ``__main__`` is a bare stand-in.
    """

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _bare_main():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """``__main__`` is a bare stand-in meanwhile (see :class:`_WorkerProcess`)."""
    with _MAIN_LOCK:
        real_main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = real_main


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = _WorkerProcess  # type: ignore[assignment]


def _context() -> multiprocessing.context.BaseContext:
    ctx = _WorkerContext()
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def start_forkserver() -> None:
    """Start the workers' forkserver now, without waiting for it.

    It is one per process (every :class:`DerivePool` forks its workers from it) and its start-up takes 2-4 s of
    one core (importing trafilatura, building the tagger and its word lists, the language model: ``_PRELOAD``),
    which the first pool otherwise waits for. Called before a capture that the same process derives next
    (``news-ingest run``), that start-up runs on the core the capture leaves idle. A no-op when it runs already.
    """
    _context()
    with _bare_main():
        multiprocessing.forkserver.ensure_running()


class DerivePool:
    """A pool of derivation workers; :meth:`derive` streams results back in input order."""

    def __init__(self, options: PipelineOptions) -> None:
        self.options = options
        self.workers = options.process.workers or os.cpu_count() or 1
        self._pool = ProcessPool(
            max_workers=self.workers,
            max_tasks=max(0, options.process.max_pages_per_worker),
            initializer=_init_worker,
            initargs=(options,),
            context=_context(),
        )

    def start(self) -> None:
        """Start the workers now (pebble starts them with the first page), so their start-up overlaps the
        caller's own preparation."""
        self._pool.schedule(_noop)

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
            future = self._pool.schedule(_derive_in_worker, args=(page.response, page.origin), timeout=timeout)
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
