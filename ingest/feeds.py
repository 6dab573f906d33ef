"""Feed sources (seed file) and feed parsing.

Parsing is feedparser's tolerant parser behind a guard: the DOCTYPE is scanned first and documents that
declare external entities (XXE) or nested/expanding entities ("billion laughs") are refused before any XML
parser sees them. JSON Feed (jsonfeed.org) documents are read directly, as feedparser 6.0 does not know them.
"""

from __future__ import annotations

import calendar
import html
import json
import logging
import re
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from dateutil import parser as date_parser

from ingest.errors import ConfigurationError, FeedParseError

logger = logging.getLogger(__name__)

BASE_URL_PLACEHOLDER = "{{BASE_URL}}"
_REQUIRED_KEYS = ("name", "url", "language", "country", "publisher")


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


# --- seed file --------------------------------------------------------------------------------------------


def _valid_feed_url(url: str) -> bool:
    probe = url.replace(BASE_URL_PLACEHOLDER, "http://placeholder.invalid", 1)
    parts = urlsplit(probe)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def load_feed_sources(path: Path) -> list[FeedSource]:
    """Read ``[[feed]]`` tables from a TOML file; ``{{BASE_URL}}`` placeholders are kept as they are.

    Raises :class:`ConfigurationError` for an unreadable file, missing or empty keys, duplicate names or
    URLs that are not http(s).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read feed file {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"feed file {path} is not valid TOML: {exc}") from exc
    tables = data.get("feed")
    if not isinstance(tables, list) or not tables:
        raise ConfigurationError(f"feed file {path} has no [[feed]] tables")
    sources: list[FeedSource] = []
    names: set[str] = set()
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: feed #{index + 1} is not a table")
        missing = [k for k in _REQUIRED_KEYS if not isinstance(table.get(k), str) or not table[k].strip()]
        if missing:
            raise ConfigurationError(f"{path}: feed #{index + 1} lacks {', '.join(missing)}")
        values = {k: str(table[k]).strip() for k in _REQUIRED_KEYS}
        if values["name"] in names:
            raise ConfigurationError(f"{path}: duplicate feed name {values['name']!r}")
        if not _valid_feed_url(values["url"]):
            raise ConfigurationError(f"{path}: feed {values['name']!r} has a bad URL {values['url']!r}")
        names.add(values["name"])
        sources.append(FeedSource(**values))
    return sources


# --- guard against entity attacks -------------------------------------------------------------------------

_DOCTYPE_RE = re.compile(rb"<!DOCTYPE[^\[>]*(\[(?P<subset>.*?)\]\s*)?>", re.DOTALL | re.IGNORECASE)
_ENTITY_RE = re.compile(
    rb"<!ENTITY\s+(?P<pe>%\s+)?(?P<name>[^\s]+)\s+(?P<kind>SYSTEM|PUBLIC)?\s*(?P<rest>.*?)>",
    re.DOTALL | re.IGNORECASE,
)
_ENTITY_REF_RE = re.compile(rb"[&%][A-Za-z_:][\w.:-]*;")
#: More internal entities than this in one feed is not a feed, it is an attack or a mistake.
_MAX_ENTITIES = 64


def _scan_head(content: bytes) -> bytes:
    """The bytes to scan, as ASCII-compatible text (UTF-16 documents re-encoded)."""
    head = content[:200_000]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and head[0:1] == b"\x00"):
        try:
            return head.decode("utf-16", errors="ignore").encode("utf-8", errors="ignore")
        except UnicodeError:  # pragma: no cover
            return head
    if len(head) > 1 and head[1:2] == b"\x00":
        return head.decode("utf-16-le", errors="ignore").encode("utf-8", errors="ignore")
    return head


def check_entities(content: bytes) -> None:
    """Refuse documents that declare external entities or entities that expand into other entities.

    Raises :class:`FeedParseError` with reason ``external_entity`` or ``xml_entity_expansion``.
    """
    head = _scan_head(content)
    if b"<!ENTITY" not in head.upper():
        return
    match = _DOCTYPE_RE.search(head)
    subset = match.group("subset") if match and match.group("subset") is not None else head
    entities = list(_ENTITY_RE.finditer(subset))
    if not entities:
        # "<!ENTITY" outside a parseable DOCTYPE: refuse rather than guess
        raise FeedParseError("entity declaration outside a DOCTYPE", reason="xml_entity_expansion")
    for ent in entities:
        if ent.group("kind") is not None:
            raise FeedParseError(
                f"document declares an external entity {ent.group('name').decode(errors='replace')!r}",
                reason="external_entity",
            )
        if ent.group("pe") is not None:
            raise FeedParseError("document declares a parameter entity", reason="xml_entity_expansion")
        value = ent.group("rest")
        if any(not ref.startswith(b"&#") for ref in _ENTITY_REF_RE.findall(value)):
            raise FeedParseError(
                f"entity {ent.group('name').decode(errors='replace')!r} expands into other entities",
                reason="xml_entity_expansion",
            )
        if len(value) > 10_000:
            raise FeedParseError("oversized entity value", reason="xml_entity_expansion")
    if len(entities) > _MAX_ENTITIES:
        raise FeedParseError(f"{len(entities)} entity declarations", reason="xml_entity_expansion")


# --- parsing ---------------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")


def _plain(text: str | None) -> str:
    """HTML fragment to a single line of plain text."""
    if not text:
        return ""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", text))).strip()


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _parse_date(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        parsed = date_parser.parse(raw)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _locator(url: str) -> bool:
    """A URL that names a location (scheme and host, or file:), not an identifier such as ``urn:uuid:``."""
    parts = urlsplit(url)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme == "file")


def _absolute(link: str, base_url: str) -> str:
    return urljoin(base_url, link.strip()) if base_url else link.strip()


_PERIOD_SECONDS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 604800.0,
    "monthly": 2592000.0,
    "yearly": 31536000.0,
}


def _ttl_seconds(feed: Mapping[str, Any]) -> float | None:
    ttl = feed.get("ttl")
    if ttl is not None:
        try:
            minutes = float(str(ttl).strip())
        except ValueError:
            minutes = -1.0
        if minutes > 0:
            return minutes * 60.0
    period = str(feed.get("sy_updateperiod") or "").strip().lower()
    if period in _PERIOD_SECONDS:
        try:
            frequency = max(1.0, float(str(feed.get("sy_updatefrequency") or "1").strip()))
        except ValueError:
            frequency = 1.0
        return _PERIOD_SECONDS[period] / frequency
    return None


def _entry_from_feedparser(raw: Mapping[str, Any], source: FeedSource, base_url: str) -> FeedEntry | None:
    # plain dict look-ups: FeedParserDict's key aliases emit DeprecationWarnings
    item: dict[str, Any] = dict(raw)
    link = item.get("link") or ""
    if link and not _locator(_absolute(str(link), base_url)):
        link = ""  # feedparser copies an Atom id such as urn:uuid:... into link; that is not fetchable
    if not link:
        for candidate in item.get("links") or []:
            if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
                link = candidate["href"]
                break
    guid = str(item.get("id") or "").strip()
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    if not link:
        return None
    url = _absolute(str(link), base_url)
    if not _locator(url):
        return None
    published = _struct_to_datetime(item.get("published_parsed")) or _struct_to_datetime(item.get("updated_parsed"))
    if published is None:
        published = _parse_date(item.get("published")) or _parse_date(item.get("updated"))
    authors: list[str] = []
    for author in item.get("authors") or []:
        name = _plain(author.get("name") if isinstance(author, Mapping) else str(author))
        if name and name not in authors:
            authors.append(name)
    if not authors and item.get("author"):
        authors.append(_plain(str(item["author"])))
    summary = item.get("summary") or ""
    if not summary and item.get("content"):
        summary = item["content"][0].get("value", "")
    return FeedEntry(
        feed=source.name,
        url=url,
        title=_plain(item.get("title")),
        published=published,
        summary=_plain(summary),
        guid=guid or url,
        authors=tuple(authors),
    )


def _looks_like_json(content: bytes) -> bool:
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(content: bytes, source: FeedSource, base_url: str) -> ParsedFeed:
    try:
        doc = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedParseError(f"invalid JSON: {exc}", reason="not_a_feed", url=base_url or None) from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise FeedParseError("JSON document is not a JSON Feed", reason="not_a_feed", url=base_url or None)
    feed_base = base_url or str(doc.get("feed_url") or doc.get("home_page_url") or "")
    entries: list[FeedEntry] = []
    for item in doc.get("items") or []:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or ""
        guid = str(item.get("id") or "")
        if not link and guid.startswith(("http://", "https://")):
            link = guid
        if not link:
            continue
        authors_raw = item.get("authors") or ([item["author"]] if isinstance(item.get("author"), dict) else [])
        authors = tuple(_plain(a.get("name")) for a in authors_raw if isinstance(a, dict) and a.get("name"))
        entries.append(
            FeedEntry(
                feed=source.name,
                url=_absolute(str(link), feed_base),
                title=_plain(item.get("title")),
                published=_parse_date(item.get("date_published")) or _parse_date(item.get("date_modified")),
                summary=_plain(item.get("summary") or item.get("content_html") or item.get("content_text")),
                guid=guid or str(link),
                authors=authors,
            )
        )
    if not entries:
        raise FeedParseError("JSON Feed has no items with a URL", reason="empty_feed", url=base_url or None)
    return ParsedFeed(tuple(entries), None, _plain(doc.get("title")), False, None)


def parse_feed(
    content: bytes,
    *,
    source: FeedSource,
    base_url: str,
    content_type: str | None = None,
    max_entries: int | None = None,
) -> ParsedFeed:
    """Parse a feed document (RSS 0.9x/1.0/2.0, Atom, RDF, JSON Feed) tolerantly.

    Malformed documents give whatever entries can be read (``bozo`` set, ``bozo_reason`` says why). Raises
    :class:`FeedParseError` when no entry can be had: ``not_a_feed``, ``empty_feed``,
    ``xml_entity_expansion``, ``external_entity``.
    """
    if not content.strip():
        raise FeedParseError("empty document", reason="empty_feed", url=base_url or None)
    if _looks_like_json(content) or (content_type or "").split(";")[0].strip().endswith("json"):
        parsed = _parse_json_feed(content, source, base_url)
        return _truncate(parsed, max_entries)
    check_entities(content)
    stripped = content.lstrip(b" \t\r\n")
    if stripped[:5] == b"<?xml" and stripped is not content:
        # a blank line before the XML declaration is the commonest real-world breakage; it is not data
        content = stripped
    headers = {"content-location": base_url} if base_url else {}
    # without a Content-Type feedparser flags every document as bozo; assume XML (it sniffs anyway)
    headers["content-type"] = content_type or "application/xml"
    result = feedparser.parse(content, response_headers=headers, sanitize_html=False, resolve_relative_uris=True)
    bozo = bool(result.get("bozo"))
    bozo_exc = result.get("bozo_exception")
    bozo_reason = f"{type(bozo_exc).__name__}: {bozo_exc}" if bozo and bozo_exc is not None else None
    feed_meta: dict[str, Any] = dict(result.get("feed") or {})
    entries: list[FeedEntry] = []
    for item in result.get("entries") or []:
        entry = _entry_from_feedparser(item, source, base_url)
        if entry is not None:
            entries.append(entry)
    if not entries:
        if not result.get("version") and not feed_meta.get("title"):
            raise FeedParseError(
                f"not a feed ({bozo_reason or 'no feed elements'})", reason="not_a_feed", url=base_url or None
            )
        raise FeedParseError(
            f"feed has no entries with a link{f' ({bozo_reason})' if bozo_reason else ''}",
            reason="empty_feed",
            url=base_url or None,
        )
    if bozo:
        logger.info("feed %s is malformed but readable: %s", source.name, bozo_reason)
    parsed = ParsedFeed(
        entries=tuple(entries),
        ttl_seconds=_ttl_seconds(feed_meta),
        title=_plain(feed_meta.get("title")),
        bozo=bozo,
        bozo_reason=bozo_reason,
    )
    return _truncate(parsed, max_entries)


def _truncate(parsed: ParsedFeed, max_entries: int | None) -> ParsedFeed:
    if max_entries is None or len(parsed.entries) <= max_entries:
        return parsed
    return ParsedFeed(parsed.entries[:max_entries], parsed.ttl_seconds, parsed.title, parsed.bozo, parsed.bozo_reason)
