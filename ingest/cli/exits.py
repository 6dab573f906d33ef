"""What the process exit status means, and which exception maps to which (used once, by :func:`ingest.cli.main`)."""

from __future__ import annotations

import sys
from enum import IntEnum

from ingest.errors import (
    ConfigurationError,
    ElasticsearchUnavailable,
    IndexMissing,
    ItemSkipped,
    RequestRejected,
    StateStoreError,
)


class ExitCode(IntEnum):
    """Exit statuses; scripts and monitoring can branch on them."""

    OK = 0
    #: The command ran but found a problem it was asked to report (``feed-health --fail-on-unhealthy``).
    UNHEALTHY = 1
    #: Bad command line: unknown option, bad or inverted dates, missing argument.
    USAGE = 2
    #: Bad configuration: a ``NEWS_*`` value, the feed file, a ``--state`` path that does not exist.
    CONFIG = 3
    ES_UNAVAILABLE = 4
    #: The index or alias does not exist: run ``news-ingest setup-index``.
    INDEX_MISSING = 5
    #: Elasticsearch refused the request (mapping conflict, permissions, write block).
    REJECTED = 6
    #: No such article or story.
    NOT_FOUND = 7
    #: The polling state store could not be read or written.
    STATE = 8
    #: Any other error of the pipeline.
    FAILED = 9
    INTERRUPTED = 130
    #: stdout was closed early (``news-ingest search ... | head -1``): 128 + SIGPIPE, as a shell reports it.
    BROKEN_PIPE = 141


def exit_code(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and one-line message for an :mod:`ingest.errors` exception that left a command."""
    if isinstance(exc, ElasticsearchUnavailable):
        return ExitCode.ES_UNAVAILABLE, f"{exc} (is Elasticsearch running? NEWS_INDEX_ES_URL)"
    if isinstance(exc, IndexMissing):
        return ExitCode.INDEX_MISSING, str(exc)
    if isinstance(exc, RequestRejected):
        return ExitCode.REJECTED, str(exc)
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG, str(exc)
    if isinstance(exc, StateStoreError):
        return ExitCode.STATE, str(exc)
    if isinstance(exc, ItemSkipped) and exc.reason in ("not_found", "not_grouped"):
        return ExitCode.NOT_FOUND, str(exc)
    return ExitCode.FAILED, f"{type(exc).__name__}: {exc}"


def error(message: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


__all__ = ["ExitCode", "error", "exit_code"]
