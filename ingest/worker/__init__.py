"""What runs inside a derivation worker process: one archived page in, one tagged article document (or a skip)
out, and the process plumbing the workers are started with.

Kept apart from :mod:`ingest.pipeline` on purpose: the workers' forkserver imports this package (and
:mod:`.warmup`), and importing anything under ``ingest.pipeline`` runs that package first, which brings the
Elasticsearch client and the indexing and dedup stages into a process that never talks to Elasticsearch
(0.3-0.5 s of CPU in every processing task's forkserver, measured). The pool that schedules pages onto these
workers is :class:`ingest.pipeline.workers.DerivePool`; a test checks that a worker holds neither.
"""

from __future__ import annotations

import contextlib
import multiprocessing.context
import sys
import threading
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from threadpoolctl import threadpool_limits

from ingest import extraction
from ingest.config import PipelineOptions
from ingest.documents import Origin, article_url, build_article
from ingest.errors import contain
from ingest.response import Response
from ingest.tagging import Tagger

if TYPE_CHECKING:  # importing ingest.feeds loads feedparser, which derivation workers never need
    from ingest.feeds import FeedSource, ParsedFeed

#: Modules the forkserver imports once, so that every (re)started worker has them already (``warmup`` also
#: builds the default tagger, whose compiled data is cached per file, and loads the language model).
PRELOAD = ["ingest.worker", "trafilatura", "ingest.worker.warmup"]


def build_from_response(response: Response, origin: Origin, tagger: Tagger, options: PipelineOptions) -> dict[str, Any]:
    """One archived page → one tagged article document (a pure function of the capture and the options)."""
    html = response.text()
    extracted = extraction.extract(
        html, url=response.final_url, options=options.extraction, fetched_at=response.fetched_at
    )
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


def init_worker(options: PipelineOptions) -> None:
    """A worker's initializer: its tagger (built from the forkserver's cached data) and options."""
    global _WORKER
    # One BLAS thread per worker: the workers already use every core, and OpenBLAS's own threads (numpy, in
    # language identification) spinning beside them made every page take twice as long (measured: 438 pages
    # in 20.2 s instead of 11.7 s on 2 cores).
    threadpool_limits(limits=1)
    _WORKER = (Tagger(options.tagging), options)


def noop() -> None:
    """Scheduled once to start the workers."""


def parse_feed_in_worker(response: Response, source: FeedSource, max_entries: int | None) -> ParsedFeed:
    """Runs in a feed parser process (:class:`ingest.pipeline.workers.FeedParsePool`): only skips leave it."""
    from ingest.feeds import parse_response  # here, not at the top: derivation workers never load feedparser

    return parse_response(response, source=source, max_entries=max_entries)


def derive_in_worker(response: Response, origin: Origin) -> dict[str, Any]:
    """Runs in a worker: any exception is contained here, so only skips cross the process boundary."""
    assert _WORKER is not None, "worker not initialised"
    tagger, options = _WORKER
    try:
        return build_from_response(response, origin, tagger, options)
    except Exception as exc:
        raise contain(exc, url=origin.entry_url or response.final_url) from None


# --- starting worker processes (the Process class is pickled into every new worker, so it lives here) -------

_MAIN_LOCK = threading.Lock()


class WorkerProcess(multiprocessing.context.ForkServerProcess):
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
        with bare_main():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)


@contextlib.contextmanager
def bare_main() -> Iterator[None]:
    """``__main__`` is a bare stand-in meanwhile (see :class:`WorkerProcess`)."""
    with _MAIN_LOCK:
        real_main = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = real_main


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = WorkerProcess  # type: ignore[assignment]


def context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context every derivation pool starts its workers with."""
    ctx = _WorkerContext()
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


__all__ = [
    "PRELOAD",
    "WorkerProcess",
    "bare_main",
    "build_from_response",
    "context",
    "derive_in_worker",
    "init_worker",
    "noop",
    "parse_feed_in_worker",
]
