"""Feed health by feed *name*: the polling state (keyed by URL) joined with the feed file (names, publishers).

A feed is healthy when its last poll succeeded (or it was never polled yet); it is ``failing`` after one or more
consecutive failures and ``backing off`` once it reached ``StateOptions.failure_threshold`` and the poller waits
before trying again. Feeds the state knows but the feed file no longer lists are kept, named by their URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ingest.config import StateOptions
from ingest.feeds import FeedSource
from ingest.state import FeedState, StateStore

FeedStatus = Literal["backing off", "failing", "ok", "never polled", "not in feed file"]
_ORDER: dict[str, int] = {"backing off": 0, "failing": 1, "not in feed file": 2, "never polled": 3, "ok": 4}


@dataclass(frozen=True)
class FeedHealth:
    """One feed's polling health."""

    name: str
    url: str
    publisher: str
    status: FeedStatus
    healthy: bool
    #: HTTP status of the last answered poll (304 for "not modified"), None if never answered.
    last_status: int | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    next_poll_after: datetime | None
    #: Why the next poll waits: cache_max_age, ttl, retry_after or backoff.
    next_poll_reason: str | None
    consecutive_failures: int
    #: The wait the failure count imposes (0 below the failure threshold).
    backoff_seconds: float
    last_error: str | None


def _status(state: FeedState, threshold: int) -> FeedStatus:
    if state.consecutive_failures >= threshold:
        return "backing off"
    if state.consecutive_failures > 0:
        return "failing"
    return "ok"


def feed_health_rows(options: StateOptions, sources: Sequence[FeedSource], *, now: datetime) -> list[FeedHealth]:
    """Every feed of ``sources`` and of the state store, the unhealthiest first (then by name).

    ``options.path`` must be an existing state database; the caller checks, so that a wrong path is reported
    instead of creating an empty database there.
    """
    with StateStore(options) as store:
        known = {s.url: s for s in store.feed_health()}
        backoff = {url: store.backoff_seconds(s.consecutive_failures) for url, s in known.items()}
    rows: list[FeedHealth] = []
    listed: set[str] = set()
    for source in sources:
        listed.add(source.url)
        state = known.get(source.url)
        rows.append(_row(source.name, source.url, source.publisher, state, backoff.get(source.url, 0.0), options))
    for url, state in known.items():
        if url not in listed:
            rows.append(_row(url, url, "", state, backoff[url], options, unlisted=True))
    rows.sort(key=lambda r: (_ORDER[r.status], r.name))
    return rows


def _row(
    name: str,
    url: str,
    publisher: str,
    state: FeedState | None,
    backoff: float,
    options: StateOptions,
    *,
    unlisted: bool = False,
) -> FeedHealth:
    if state is None:
        return FeedHealth(name, url, publisher, "never polled", True, None, None, None, None, None, 0, 0.0, None)
    status = _status(state, options.failure_threshold)
    healthy = status == "ok"
    if unlisted and healthy:
        status = "not in feed file"
    return FeedHealth(
        name=name,
        url=url,
        publisher=publisher,
        status=status,
        healthy=healthy,
        last_status=state.last_status,
        last_polled_at=state.last_polled_at,
        last_success_at=state.last_success_at,
        next_poll_after=state.next_poll_after,
        next_poll_reason=state.next_poll_reason,
        consecutive_failures=state.consecutive_failures,
        backoff_seconds=backoff,
        last_error=state.last_error,
    )


__all__ = ["FeedHealth", "FeedStatus", "feed_health_rows"]
