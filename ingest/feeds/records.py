"""The feed records: a feed to poll, an entry of a feed document, what one document gave."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeedSource:
    """One feed to poll, from the seed file."""

    name: str
    url: str
    language: str
    country: str
    publisher: str


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed document; ``url`` is absolute, ``published`` tz-aware UTC or None."""

    feed: str
    url: str
    title: str
    published: datetime | None
    summary: str
    guid: str
    authors: tuple[str, ...]


@dataclass(frozen=True)
class ParsedFeed:
    """What could be read from one feed document."""

    entries: tuple[FeedEntry, ...]
    #: RSS ``<ttl>`` (or sy:updatePeriod/updateFrequency) in seconds, when the feed states one.
    ttl_seconds: float | None
    title: str
    bozo: bool
    bozo_reason: str | None
    #: Entries left out, by reason (``bad_url``, ``no_link``, ``internal_error:<Type>``): counted, not lost silently.
    dropped: Mapping[str, int] = field(default_factory=dict)
