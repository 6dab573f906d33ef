"""The article document: one Elasticsearch source per article, with a deterministic id.

Everything here is a pure function of its inputs (no clock, no randomness) so that a replay from the raw
archive builds byte-identical documents to the live run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ingest.config import VERSION
from ingest.extraction import DATE_AHEAD, Extracted, parse_datetime
from ingest.text import clean, clean_value, clip_utf8
from ingest.urls import canonical_url, credible_canonical, document_id, normalize_url

if TYPE_CHECKING:  # annotations only: the extraction workers build documents and never parse feeds (feedparser)
    from ingest.feeds import FeedEntry, FeedSource

#: Fields that the ingest stage owns. Story grouping and dedup own other fields of the same document,
#: and partial updates (``doc_as_upsert``) keep their values when an article is re-ingested.
PIPELINE_VERSION = f"ingest-{VERSION}"


@dataclass(frozen=True)
class Origin:
    """Where an article came from: its feed and the feed entry (all plain strings, so it can ride in WARC
    metadata and come back unchanged on replay)."""

    feed: str
    outlet: str
    language: str
    country: str
    entry_url: str
    entry_title: str = ""
    entry_published: str = ""

    def as_metadata(self) -> dict[str, str]:
        return {
            "feed": self.feed,
            "outlet": self.outlet,
            "language": self.language,
            "country": self.country,
            "entry-url": self.entry_url,
            "entry-title": self.entry_title,
            "entry-published": self.entry_published,
        }

    @classmethod
    def for_entry(cls, source: FeedSource, entry: FeedEntry) -> Origin:
        """The origin of an article that ``source`` lists as ``entry``."""
        return cls(
            feed=source.name,
            outlet=source.publisher,
            language=source.language,
            country=source.country,
            entry_url=entry.url,
            entry_title=entry.title,
            entry_published=_iso(entry.published) or "",
        )

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> Origin:
        return cls(
            feed=meta.get("feed", ""),
            outlet=meta.get("outlet", ""),
            language=meta.get("language", ""),
            country=meta.get("country", ""),
            entry_url=meta.get("entry-url", ""),
            entry_title=meta.get("entry-title", ""),
            entry_published=meta.get("entry-published", ""),
        )


def article_url(*, html: str, final_url: str, extracted_url: str | None) -> str:
    """The URL an article is known by: its canonical URL when the page names a credible one."""
    # trafilatura's own reading of the canonical (og:url, JSON-LD) passes the same checks as ours
    return canonical_url(html, final_url) or credible_canonical(extracted_url, final_url) or final_url


def build_article(
    *,
    origin: Origin,
    extracted: Extracted,
    url: str,
    fetched_at: datetime,
    source_urls: Iterable[str],
    tag_fields: Mapping[str, Any],
    archive: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Assemble the document; ``doc_id`` is derived from the normalised canonical URL."""
    normalized = normalize_url(url)
    published = best_published(extracted, parse_datetime(origin.entry_published), fetched_at)
    body = clean(extracted.body)  # hashed below: what UTF-8 cannot encode must be gone first
    doc: dict[str, Any] = {
        "doc_id": document_id(url),
        "url": normalized,
        "canonical_url": url,
        "source_urls": sorted({normalize_url(u) for u in source_urls if u} | {normalized}),
        "host": urlsplit(normalized).hostname or "",
        "feeds": [origin.feed] if origin.feed else [],
        "outlet": origin.outlet or extracted.site_name or "",
        "site_name": extracted.site_name or origin.outlet or "",
        "country": origin.country or None,
        "language": extracted.language or origin.language or None,
        "title": extracted.title or origin.entry_title,
        "description": extracted.description or None,
        "lead": extracted.lead,
        "body": body,
        "authors": list(extracted.authors),
        "word_count": len(body.split()),
        "published_at": _iso(published),
        "fetched_at": _iso(fetched_at),
        "content_hash": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "pipeline_version": PIPELINE_VERSION,
    }
    if archive:
        doc["archive"] = dict(archive)
    doc.update(tag_fields)
    return storable(doc)


#: Keyword fields filled from what a page or feed says (not from a URL or a hash), and the byte cap of one value.
#: A name, an outlet or a country is never longer; Elasticsearch fails a document over a term of 32,766 bytes.
KEYWORD_TEXT_FIELDS = ("outlet", "site_name", "country", "language", "authors", "entity_names", "names")
MAX_KEYWORD_BYTES = 1_024


def storable(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as Elasticsearch stores it: no lone surrogates or control characters anywhere (they fail the
    request's serialisation, or the document), keyword values from the page cut to :data:`MAX_KEYWORD_BYTES`."""
    out: dict[str, Any] = clean_value(doc)
    for name in KEYWORD_TEXT_FIELDS:
        value = out.get(name)
        if isinstance(value, str):
            out[name] = clip_utf8(value, MAX_KEYWORD_BYTES)
        elif isinstance(value, list):
            out[name] = [clip_utf8(v, MAX_KEYWORD_BYTES) if isinstance(v, str) else v for v in value]
    return out


#: No news page is dated before this; a feed's or a page's date outside [EARLIEST, fetch time + DATE_AHEAD] is
#: no date (a feed dated 2099 or year 1, a template's placeholder), not a real one. DATE_AHEAD is the bound
#: extraction gives htmldate, so a page's and a feed's date face the same one.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


def plausible(value: datetime | None, fetched_at: datetime) -> datetime | None:
    """``value`` when it can be a publication date of a page fetched at ``fetched_at``, else None."""
    if value is None:
        return None
    try:
        return value if EARLIEST <= value <= fetched_at + DATE_AHEAD else None
    except (OverflowError, ValueError, TypeError):  # an offset of 24 h or more raises when it is used
        return None


def best_published(extracted: Extracted, from_feed: datetime | None, fetched_at: datetime) -> datetime | None:
    """The page's date, with three exceptions where the feed's date wins.

    * The page names only the day and the feed has a time on (about) that day.
    * The page's day is a 1st and the feed's date is in that month: htmldate gives a bare month ("2026-12", or a
      full date it rejected, cut to that) the day 1.
    * The date was only guessed from the text (htmldate's extensive search). Without a feed date such a guess
      is kept, but not a 1st of the month: htmldate makes those up (a copyright year as 1 January), and no date
      is better than a made-up one.

    Dates outside :func:`plausible`'s range are no dates.
    """
    feed = plausible(from_feed, fetched_at)
    page = plausible(extracted.published, fetched_at)
    if page is None:
        return feed
    if extracted.published_guessed:
        if feed is not None:
            return feed
        return None if page.day == 1 else page
    if feed is not None and not extracted.published_has_time:
        if abs(feed - page) <= timedelta(hours=36):
            return feed
        if page.day == 1 and (feed.year, feed.month) == (page.year, page.month):
            return feed  # a month htmldate gave a day (a date it rejected, cut to "2026-12"): the feed knows the day
    return page


def _iso(value: datetime | None) -> str | None:
    """UTC ISO form, or None for an instant that has none (year 9999 at -05:00 is past datetime.max in UTC):
    a bad date is a missing date, never a lost article."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC).isoformat()
    except (OverflowError, ValueError):
        return None
