"""Parsing one feed document into entries: feedparser (RSS 0.9x/1.0/2.0, Atom, RDF) or JSON Feed, inside one
error boundary."""

from __future__ import annotations

import calendar
import html
import io
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import feedparser
from dateutil import parser as date_parser

from ingest.errors import BadURL, FeedParseError, ParserError
from ingest.feeds.entities import check_entities, drop_entity_set_doctype
from ingest.feeds.records import FeedEntry, FeedSource, ParsedFeed
from ingest.feeds.repair import (
    cap_attributes,
    from_utf32,
    html_page,
    http_charset,
    salvage_candidates,
    sanitize_declaration,
    utf8_with_bad_bytes,
    wide_codec,
)
from ingest.response import Response, codec_for
from ingest.text import clean
from ingest.urls import clean_url, document_id

logger = logging.getLogger(__name__)

#: A tag: no "<" inside, so every match attempt ends at the next "<" or ">" (linear, also on 100,000 "<").
_TAG_RE = re.compile(r"<[^<>]*>")
_SPACE_RE = re.compile(r"\s+")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _plain(text: object, *, markup: bool = True) -> str:
    """A field's value as a single line of plain text (numbers become their digits, other non-strings nothing).

    ``markup`` says the value is an HTML fragment (tags dropped, references decoded); plain text keeps its
    "<" and "&" ("a < b", "Use <Enter>" in a title the feed marks as text)."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        return ""
    text = str(text)
    if not text:
        return ""
    if markup:
        text = html.unescape(_TAG_RE.sub(" ", text))
    # cleaned after unescaping: ``&#xD800;`` or a JSON ``"\\ud800"`` must not reach the archive or the index
    return clean(_SPACE_RE.sub(" ", text)).strip()


def _is_markup(detail: object) -> bool:
    """Whether feedparser's ``*_detail`` says its value is HTML (it does, unless the feed marks it as text)."""
    kind = detail.get("type") if isinstance(detail, Mapping) else None
    return not isinstance(kind, str) or kind.lower() in _HTML_TYPES


def _struct_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


#: Two defaults that differ in every field: a date string parsed to different results under them lacks a field.
_DEFAULTS = (datetime(2001, 1, 1, 0, 0, 0), datetime(2002, 2, 2, 0, 0, 0))
_DIGITS_RE = re.compile(r"\d+")
_LETTERS_RE = re.compile(r"[^\W\d_]{3,}")


_ZONE_NAME_RE = re.compile(r"\d\s*([A-Za-z]{2,5})\s*$")
_FEEDPARSER_ZONES = frozenset(feedparser.datetimes.rfc822.timezone_names) | {"utc"}


class _UnknownZone(ValueError):
    """A time zone name that neither feedparser nor dateutil knows: no date rather than a wrong one."""


def _zone(name: str | None, offset: int | None) -> int | None:
    """dateutil's ``tzinfos``: an offset as given, UTC's names as 0, no zone as None (naive), others refused."""
    if offset is not None:
        return offset
    if name is None:
        return None
    if name is not None and name.upper() in ("UTC", "GMT", "UT", "Z"):
        return 0
    raise _UnknownZone(name)


def _names_a_day(raw: str) -> bool:
    """Whether ``raw`` has the fields of a full date: three numbers (2026-12-04, 04.12.2026 10:00), two and a
    month name (4 Dec 2026), or eight digits in a row (20261204). feedparser reads "2026" or "2026-12" as the
    first day of that year or month: a date the feed never gave."""
    groups = _DIGITS_RE.findall(raw)
    if any(len(group) == 8 for group in groups):
        return True
    return len(groups) >= 3 or (len(groups) == 2 and _LETTERS_RE.search(raw) is not None)


def _parse_date(raw: Any) -> datetime | None:
    """A feed's date string, or None: never a field filled in from today or a default ("March", "14:05"), and
    never a zone it cannot read taken as UTC (a string without any zone is UTC)."""
    if not isinstance(raw, str) or not raw.strip() or not _names_a_day(raw):
        return None
    try:
        first, second = (date_parser.parse(raw, default=default, tzinfos=_zone) for default in _DEFAULTS)
    except (ValueError, OverflowError, TypeError):
        return None
    if first != second:
        return None
    try:
        if first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
        return first.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _locator(url: str) -> bool:
    """A URL that names a location (scheme and host, or file:), not an identifier such as ``urn:uuid:``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True  # malformed: let the URL check give it its reason
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme == "file")


def _absolute(link: str, base_url: str) -> str:
    link = link.strip()
    if not base_url:
        return link
    try:
        return urljoin(base_url, link)
    except ValueError:
        return link


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
        if 0 < minutes < float("inf"):
            return minutes * 60.0
    period = str(feed.get("sy_updateperiod") or "").strip().lower()
    if period in _PERIOD_SECONDS:
        try:
            frequency = max(1.0, float(str(feed.get("sy_updatefrequency") or "1").strip()))
        except ValueError:
            frequency = 1.0
        if frequency == float("inf"):
            frequency = 1.0
        return _PERIOD_SECONDS[period] / frequency
    return None


class _Dropped(Exception):
    """Internal: an entry left out of the feed, with its reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _entry_url(link: str, base_url: str) -> str:
    """The cleaned absolute URL of an entry link; ``_Dropped("bad_url")`` when it cannot be fetched or stored."""
    try:
        url = clean_url(_absolute(link, base_url))
        document_id(url)  # what the pipeline keys the entry by must work too
    except BadURL as exc:
        logger.info("feed entry dropped: %s", exc)
        raise _Dropped("bad_url") from exc
    return url


def _guid(raw: object, url: str) -> str:
    guid = raw.strip() if isinstance(raw, str) else ""
    if not guid:
        return url
    if "@" in guid and guid.lower().startswith(("http://", "https://")):
        try:
            return clean_url(guid)
        except BadURL:
            return url
    return guid


#: The two shapes of nearly every feed date, ISO 8601 / RFC 3339 and RFC 822, with their fields.
_ISO_FIELDS_RE = re.compile(
    r"^\s*(?P<sign>[-+]?)(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?:[Tt ](?P<H>\d{2}):(?P<M>\d{2}))?"
)
_RFC822_FIELDS_RE = re.compile(
    r"(?P<d>\d{1,2})\s+(?P<mon>[A-Za-z]{3})[A-Za-z]*\.?\s+(?P<y>\d{2,4})\s+(?P<H>\d{1,2}):(?P<M>\d{2})"
    r"(?::\d{2})?\s*(?P<zone>[+-]\d{4})?"
)
_MONTHS = {
    name: i
    for i, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}


def _impossible(raw: str) -> bool:
    """Whether a date in one of the two common shapes names a field that cannot be: month 13, 31 November, 25:61,
    a year before 0000, an offset of +9999. feedparser carries such fields over into a plausible wrong date
    (2025-13-01 becomes 2026-01-01), which would be taken as the article's date when its page gives none."""
    if found := _ISO_FIELDS_RE.match(raw):
        year, month, day = int(found["y"]), int(found["m"]), int(found["d"])
        hour, minute = int(found["H"] or 0), int(found["M"] or 0)
        if found["sign"] == "-":
            return True
    elif found := _RFC822_FIELDS_RE.search(raw):
        month = _MONTHS.get(found["mon"].lower(), 0)
        year, day, hour, minute = int(found["y"]), int(found["d"]), int(found["H"]), int(found["M"])
        year += 2000 if year < 50 else 1900 if year < 100 else 0
        zone = found["zone"]
        if zone is not None and (int(zone[1:3]) > 23 or int(zone[3:5]) > 59):
            return True
        if month == 0:
            return False  # a month name in another language: feedparser's own reading stands
    else:
        return False
    if hour == 24 and minute == 0:
        hour = 23  # ISO 8601's end of a day
    try:
        datetime(max(year, 1), month, day, hour, minute)
    except ValueError:
        return True
    return False


def _feed_date(item: Mapping[str, Any], field: str) -> datetime | None:
    """feedparser's reading of ``field`` when the string names a whole day, else our own strict one; none for a
    date with an impossible field."""
    raw = item.get(field)
    if isinstance(raw, str) and _impossible(raw):
        return None
    parsed = _struct_to_datetime(item.get(f"{field}_parsed"))
    if parsed is not None and (not isinstance(raw, str) or (_names_a_day(raw) and _known_zone(raw))):
        return parsed
    return _parse_date(raw)


def _known_zone(raw: str) -> bool:
    """Whether a zone name ending ``raw`` is one feedparser reads (it takes any other name as UTC)."""
    found = _ZONE_NAME_RE.search(raw)
    return found is None or found.group(1).lower() in _FEEDPARSER_ZONES


def _names_feed(link: str, base_url: str) -> bool:
    """An empty or fragment-only link ("#", "#top"): the feed document itself, not an article."""
    stripped = link.strip()
    if not stripped or stripped.startswith("#"):
        return True
    try:
        target = urldefrag(clean_url(_absolute(stripped, base_url))).url
        return bool(base_url) and target == urldefrag(clean_url(base_url)).url
    except (BadURL, ValueError):
        return False


def _entry_from_feedparser(raw: Mapping[str, Any], source: FeedSource, base_url: str) -> FeedEntry:
    # plain dict look-ups: FeedParserDict's key aliases emit DeprecationWarnings
    item: dict[str, Any] = dict(raw)
    link = item.get("link") if isinstance(item.get("link"), str) else ""
    original = item.get("feedburner_origlink")
    if isinstance(original, str) and original.strip() and _locator(_absolute(original.strip(), base_url)):
        # FeedBurner's <feedburner:origLink>: the publisher's own URL behind a feedproxy redirect link
        link = original.strip()
    if link and (not _locator(_absolute(link, base_url)) or _names_feed(link, base_url)):
        link = ""  # feedparser copies an Atom id such as urn:uuid:... into link; "#" is the feed itself
    if not link:
        for candidate in item.get("links") or []:
            href = candidate.get("href") if isinstance(candidate, Mapping) else None
            if (
                isinstance(href, str)
                and not _names_feed(href, base_url)
                and candidate.get("rel", "alternate") == "alternate"
            ):
                link = href
                break
    guid_raw = item.get("id")
    guid = guid_raw.strip() if isinstance(guid_raw, str) else ""
    if not link and guid.startswith(("http://", "https://")) and not _names_feed(guid, base_url):
        link = guid
    if not link:
        links = item.get("links") or []
        # a link element whose URL feedparser could not resolve (a broken IPv6 bracket) is a bad link
        unusable = any(isinstance(c, Mapping) and not c.get("href") and c.get("rel") == "alternate" for c in links)
        raise _Dropped("bad_url" if unusable else "no_link")
    if not _locator(_absolute(link, base_url)):
        raise _Dropped("no_link")
    url = _entry_url(link, base_url)
    published = _feed_date(item, "published") or _feed_date(item, "updated")
    authors: list[str] = []
    for author in item.get("authors") or []:
        name = _plain(author.get("name") if isinstance(author, Mapping) else author)
        if name and name not in authors:
            authors.append(name)
    if not authors and item.get("author"):
        author_name = _plain(item["author"])
        if author_name:
            authors.append(author_name)
    summary = item.get("summary") or ""
    summary_markup = _is_markup(item.get("summary_detail"))
    content = item.get("content")
    if not summary and isinstance(content, list) and content and isinstance(content[0], Mapping):
        summary = content[0].get("value", "")
        summary_markup = _is_markup(content[0])
    return FeedEntry(
        feed=source.name,
        url=url,
        title=_plain(item.get("title"), markup=_is_markup(item.get("title_detail"))),
        published=published,
        summary=_plain(summary, markup=summary_markup),
        guid=_guid(guid, url),
        authors=tuple(authors),
    )


def _looks_like_json(content: bytes) -> bool:
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _looks_like_markup(content: bytes) -> bool:
    """XML whatever its Content-Type says (an RSS file served as application/json is still RSS)."""
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<" or wide_codec(content) is not None


def _json_entry(item: object, source: FeedSource, feed_base: str) -> FeedEntry:
    if not isinstance(item, dict):
        raise _Dropped("no_link")
    given = [v for v in (item.get("url"), item.get("external_url")) if v not in (None, "")]
    link = next((v for v in given if isinstance(v, str) and not _names_feed(v, feed_base)), "")
    guid = _plain(item.get("id"), markup=False)
    if not link and guid.startswith(("http://", "https://")) and not _names_feed(guid, feed_base):
        link = guid
    if not link:
        raise _Dropped("bad_url" if given else "no_link")
    url = _entry_url(link, feed_base)
    authors_raw = item.get("authors")
    if not isinstance(authors_raw, list):
        authors_raw = [item["author"]] if isinstance(item.get("author"), dict) else []
    authors = tuple(name for a in authors_raw if isinstance(a, dict) for name in [_plain(a.get("name"))] if name)
    # JSON Feed: title, summary and content_text are plain text, content_html is HTML
    summary, summary_markup = next(
        (
            (v, markup)
            for v, markup in (
                (item.get("summary"), False),
                (item.get("content_html"), True),
                (item.get("content_text"), False),
            )
            if isinstance(v, str)
        ),
        ("", False),
    )
    return FeedEntry(
        feed=source.name,
        url=url,
        title=_plain(item.get("title"), markup=False),
        published=_parse_date(item.get("date_published")) or _parse_date(item.get("date_modified")),
        summary=_plain(summary, markup=summary_markup),
        guid=_guid(guid, url),
        authors=authors,
    )


#: With ``max_entries``, how many items per kept entry are looked at (duplicates and bad links included).
_ITEMS_PER_ENTRY = 10


def _collect(items: list[Any], convert: Any, limit: int | None = None) -> tuple[list[FeedEntry], Counter[str]]:
    """Convert each item, dropping (and counting) the ones that cannot be entries; one bad item never
    costs the others. An item whose link is one an earlier item of the document has (the same article,
    tracking parameters aside) is dropped as ``duplicate_link``: hundreds of copies of one link must not crowd
    the feed's other articles out of ``max_entries``. Conversion stops at ``limit`` entries (the rest would be
    cut anyway, and validating 100,000 links took longer than parsing them). The budget of ``limit`` times
    ``_ITEMS_PER_ENTRY`` counts only items with a link to check (thousands of link-less items cost little and
    must not hide the good ones after them); the items past it are counted as ``over_item_budget``."""
    entries: list[FeedEntry] = []
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    budget = None if limit is None else limit * _ITEMS_PER_ENTRY
    spent = 0
    for index, item in enumerate(items):
        if limit is not None and len(entries) >= limit:
            break
        if budget is not None and spent >= budget:
            dropped["over_item_budget"] += len(items) - index
            break
        try:
            entry = convert(item)
            spent += 1
            key = document_id(entry.url)
            if key in seen:
                dropped["duplicate_link"] += 1
                continue
            seen.add(key)
            entries.append(entry)
        except _Dropped as exc:
            dropped[exc.reason] += 1
            spent += exc.reason != "no_link"
        except Exception as exc:  # our bug or a library's on one odd item: contained to that item
            logger.warning("feed entry dropped: %s: %s", type(exc).__name__, exc)
            dropped[f"internal_error:{type(exc).__name__}"] += 1
    return entries, dropped


def _json_int(digits: str) -> int | str:
    """A JSON integer; past Python's 4,300-digit limit on int() its digits (an id, not a count): the limit
    raised ValueError and lost the whole feed as ``parser_error``."""
    return int(digits) if len(digits) <= 4_000 else digits


def _parse_json_feed(content: bytes, source: FeedSource, base_url: str, max_entries: int | None) -> ParsedFeed:
    try:
        doc = json.loads(content.decode("utf-8-sig"), parse_int=_json_int)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FeedParseError(f"invalid JSON: {exc}", reason="not_a_feed", url=base_url or None) from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise FeedParseError("JSON document is not a JSON Feed", reason="not_a_feed", url=base_url or None)
    feed_base = base_url or next(
        (v for v in (doc.get("feed_url"), doc.get("home_page_url")) if isinstance(v, str) and v), ""
    )
    items = doc.get("items")
    entries, dropped = _collect(
        items if isinstance(items, list) else [], lambda i: _json_entry(i, source, feed_base), max_entries
    )
    if not entries:
        raise FeedParseError("JSON Feed has no items with a URL", reason="empty_feed", url=base_url or None)
    return ParsedFeed(tuple(entries), None, _plain(doc.get("title"), markup=False), False, None, dict(dropped))


def _feedparser(content: bytes, headers: dict[str, str]) -> Any:
    # a file object, never bytes: given bytes, feedparser first tries them as a *file name* (a feed body
    # "/dev/zero" or "/etc/passwd" would be opened and read)
    return feedparser.parse(
        io.BytesIO(content), response_headers=headers, sanitize_html=False, resolve_relative_uris=True
    )


def _parse_with_salvage(content: bytes, headers: dict[str, str], name: str) -> Any:
    try:
        return _feedparser(content, headers)
    except Exception as exc:
        failure = exc
    for candidate in salvage_candidates(content):
        try:
            result = _feedparser(candidate, {**headers, "content-type": "application/xml; charset=utf-8"})
        except Exception:  # the next candidate, or the original failure
            continue
        logger.info("feed %s: feedparser failed (%s: %s); read a repaired copy", name, type(failure).__name__, failure)
        result["bozo"] = True
        result["bozo_exception"] = failure
        return result
    raise failure


def parse_feed(
    content: bytes,
    *,
    source: FeedSource,
    base_url: str,
    content_type: str | None = None,
    max_entries: int | None = None,
    charset: str | None = None,
) -> ParsedFeed:
    """Parse a feed document (RSS 0.9x/1.0/2.0, Atom, RDF, JSON Feed) tolerantly.

    ``content_type`` is the Content-Type header (its ``charset`` is used; ``charset`` overrides it).
    Malformed documents give whatever entries can be read (``bozo`` set, ``bozo_reason`` says why). Raises only
    :class:`~ingest.errors.FeedParseError` skips when no entry can be had: ``not_a_feed``, ``empty_feed``,
    ``xml_entity_expansion`` / ``external_entity`` (:class:`~ingest.errors.UnsafeFeed`), ``parser_error``
    (:class:`~ingest.errors.ParserError`, anything the parsers raised).
    """
    try:
        return _parse(content, source, base_url, content_type, max_entries, charset)
    except FeedParseError:
        raise
    except Exception as exc:  # the boundary: whatever feedparser, lxml or our own code raised on this document
        logger.warning("feed %s: parser failed: %s: %s", source.name, type(exc).__name__, exc)
        raise ParserError(f"{type(exc).__name__}: {exc}", url=base_url or None) from exc


def parse_response(response: Response, *, source: FeedSource, max_entries: int | None = None) -> ParsedFeed:
    """:func:`parse_feed` of a fetched (or replayed) feed response: its final URL as base, its full
    Content-Type header (charset included)."""
    return parse_feed(
        response.content,
        source=source,
        base_url=response.final_url,
        content_type=response.headers.get("content-type"),
        max_entries=max_entries,
    )


def _parse(
    content: bytes,
    source: FeedSource,
    base_url: str,
    content_type: str | None,
    max_entries: int | None,
    charset: str | None,
) -> ParsedFeed:
    if not isinstance(content, bytes) or not content.strip():
        raise FeedParseError("empty document", reason="empty_feed", url=base_url or None)
    media_type = (content_type or "").split(";")[0].strip().lower()
    if _looks_like_json(content) or (media_type.endswith("json") and not _looks_like_markup(content)):
        return _truncate(_parse_json_feed(content, source, base_url, max_entries), max_entries)
    if html_page(content):
        raise FeedParseError("an HTML page, not a feed", reason="not_a_feed", url=base_url or None)
    utf8 = from_utf32(content)
    if utf8 is not content:
        content, charset = utf8, "utf-8"
    check_entities(content)
    content = drop_entity_set_doctype(content)
    stripped = content.lstrip(b" \t\r\n")
    if stripped[:5] == b"<?xml" and stripped is not content:
        # a blank line before the XML declaration is the commonest real-world breakage; it is not data
        content = stripped
    content = sanitize_declaration(content)
    capped = cap_attributes(content)
    if capped is not content and wide_codec(content) is not None:
        charset = "utf-8"  # transcoded to cut it: the header's utf-16 no longer applies
    content = capped
    label = http_charset(content, content_type, charset)
    if codec_for(label) in (None, "utf-8") and utf8_with_bad_bytes(content):
        # declared or assumed UTF-8 with a few malformed bytes: feedparser would read the whole feed as cp1252
        content = content.decode("utf-8", errors="replace").encode("utf-8")
    headers = {"content-location": base_url} if base_url else {}
    # without a Content-Type feedparser flags every document as bozo; assume XML (it sniffs anyway)
    headers["content-type"] = (media_type or "application/xml") + (f"; charset={label}" if label else "")
    result = _parse_with_salvage(content, headers, source.name)
    bozo = bool(result.get("bozo"))
    bozo_exc = result.get("bozo_exception")
    bozo_reason = f"{type(bozo_exc).__name__}: {bozo_exc}" if bozo and bozo_exc is not None else None
    feed_meta: dict[str, Any] = dict(result.get("feed") or {})
    items = result.get("entries")
    entries, dropped = _collect(
        items if isinstance(items, list) else [], lambda i: _entry_from_feedparser(i, source, base_url), max_entries
    )
    if dropped:
        logger.info("feed %s: entries dropped: %s", source.name, dict(dropped))
    if not entries:
        if not result.get("version") and not feed_meta.get("title"):
            raise FeedParseError(
                f"not a feed ({bozo_reason or 'no feed elements'})", reason="not_a_feed", url=base_url or None
            )
        raise FeedParseError(
            f"feed has no entries with a usable link{f' ({bozo_reason})' if bozo_reason else ''}",
            reason="empty_feed",
            url=base_url or None,
        )
    if bozo:
        logger.info("feed %s is malformed but readable: %s", source.name, bozo_reason)
    parsed = ParsedFeed(
        entries=tuple(entries),
        ttl_seconds=_ttl_seconds(feed_meta),
        title=_plain(feed_meta.get("title"), markup=_is_markup(feed_meta.get("title_detail"))),
        bozo=bozo,
        bozo_reason=bozo_reason,
        dropped=dict(dropped),
    )
    return _truncate(parsed, max_entries)


def _truncate(parsed: ParsedFeed, max_entries: int | None) -> ParsedFeed:
    if max_entries is None or len(parsed.entries) <= max_entries:
        return parsed
    return replace(parsed, entries=parsed.entries[:max_entries])
