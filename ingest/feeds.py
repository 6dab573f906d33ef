"""Feed sources (seed file) and feed parsing.

Parsing is feedparser's tolerant parser behind a guard, and inside one error boundary:

* The DOCTYPE is scanned first: documents that declare external entities (XXE) or nested/expanding entities
  ("billion laughs") are refused before any XML parser sees them; a DOCTYPE that only imports the W3C XHTML
  entity sets (old RSS 1.0 feeds) is dropped instead, and the named entities it would define are written as
  character references. An XML declaration whose encoding label is not a readable label loses the label.
* The charset of the HTTP Content-Type reaches feedparser (unless the bytes contradict a single-byte label);
  UTF-8 with a few malformed bytes stays UTF-8 (with replacement characters).
* feedparser's own failures on odd input (a podcast chapter without ``start``, ``gml:pos`` outside
  ``georss:where``...) are retried once on the document reduced to its RSS/Atom core (extension elements
  removed by lxml's recovering parser); what still fails is a :class:`~ingest.errors.ParserError` skip.
  :func:`parse_feed` raises nothing but :class:`~ingest.errors.FeedParseError` and its subclasses.
* Every entry link is checked (:func:`ingest.urls.clean_url`: userinfo stripped, bad ports, control characters,
  broken IPv6 brackets refused); a bad entry is dropped and counted in ``ParsedFeed.dropped`` by reason
  (``bad_url``, ``no_link``, ``internal_error:<Type>``), the rest of the feed is kept.

JSON Feed (jsonfeed.org) documents are read directly, as feedparser 6.0 does not know them.
"""

from __future__ import annotations

import calendar
import html
import html.entities
import io
import json
import logging
import re
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from dateutil import parser as date_parser
from lxml import etree

from ingest.errors import BadURL, ConfigurationError, FeedParseError, ParserError, UnsafeFeed
from ingest.response import Response, charset_of, codec_for, mostly_utf8, utf8_label_lies
from ingest.urls import clean_url, document_id, strip_userinfo_text

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
    #: Entries left out, by reason (``bad_url``, ``no_link``, ``internal_error:<Type>``): counted, not lost silently.
    dropped: Mapping[str, int] = field(default_factory=dict)


# --- seed file --------------------------------------------------------------------------------------------


def _feed_url_problem(url: str) -> str | None:
    """Why a seed file's feed URL cannot be used, or None: it must be a well-formed http(s) URL without
    credentials (userinfo is never sent, so a feed that needs it would silently fail; and it would be archived)."""
    probe = url.replace(BASE_URL_PLACEHOLDER, "http://placeholder.invalid", 1)
    try:
        cleaned = clean_url(probe)
    except BadURL as exc:
        return str(exc)
    if urlsplit(cleaned).scheme not in ("http", "https"):
        return "not an http(s) URL"
    if cleaned != probe.strip():
        return "credentials in feed URLs are not supported (they would be neither sent nor kept secret)"
    return None


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
        problem = _feed_url_problem(values["url"])
        if problem is not None:
            shown = strip_userinfo_text(values["url"])
            raise ConfigurationError(f"{path}: feed {values['name']!r} has a bad URL {shown!r}: {problem}")
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
_PE_REF_RE = re.compile(rb"%(?P<name>[A-Za-z_:][\w.:-]*);")
_QUOTED_RE = re.compile(rb"""["']([^"']*)["']""")
#: Public identifiers of the W3C's HTML/XHTML character entity sets (``-//W3C//ENTITIES Latin 1 for XHTML//EN``,
#: ``-//W3C//ENTITIES Symbols//EN//HTML``...): what old RSS 1.0 feeds import to use ``&eacute;``.
_W3C_ENTITY_SET_RE = re.compile(rb"^-//W3C//ENTITIES [^/]+//EN(//HTML)?$", re.IGNORECASE)
#: More internal entities than this in one feed is not a feed, it is an attack or a mistake.
_MAX_ENTITIES = 64
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_NAMED_REF_RE = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")


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


def _w3c_entity_set(ent: re.Match[bytes]) -> bool:
    if (ent.group("kind") or b"").upper() != b"PUBLIC":
        return False
    public_id = _QUOTED_RE.match(ent.group("rest").strip())
    return public_id is not None and bool(_W3C_ENTITY_SET_RE.match(public_id.group(1).strip()))


def check_entities(content: bytes) -> None:
    """Refuse documents that declare external entities or entities that expand into other entities.

    Raises :class:`~ingest.errors.UnsafeFeed` with reason ``external_entity`` or ``xml_entity_expansion``.
    Imports of the W3C XHTML entity sets are not refused here (:func:`drop_entity_set_doctype` removes them).
    """
    head = _scan_head(content)
    if b"<!ENTITY" not in head.upper():
        return
    match = _DOCTYPE_RE.search(head)
    subset = match.group("subset") if match and match.group("subset") is not None else head
    entities = list(_ENTITY_RE.finditer(subset))
    if not entities:
        # "<!ENTITY" outside a parseable DOCTYPE: refuse rather than guess
        raise UnsafeFeed("entity declaration outside a DOCTYPE", reason="xml_entity_expansion")
    sets = {ent.group("name") for ent in entities if ent.group("pe") is not None and _w3c_entity_set(ent)}
    for ent in entities:
        name = ent.group("name").decode(errors="replace")
        if ent.group("pe") is not None and ent.group("name") in sets:
            continue
        if ent.group("kind") is not None:
            raise UnsafeFeed(f"document declares an external entity {name!r}", reason="external_entity")
        if ent.group("pe") is not None:
            raise UnsafeFeed("document declares a parameter entity", reason="xml_entity_expansion")
        value = ent.group("rest")
        if any(not ref.startswith(b"&#") for ref in _ENTITY_REF_RE.findall(value)):
            raise UnsafeFeed(f"entity {name!r} expands into other entities", reason="xml_entity_expansion")
        if len(value) > 10_000:
            raise UnsafeFeed("oversized entity value", reason="xml_entity_expansion")
    unknown_refs = {m.group("name") for m in _PE_REF_RE.finditer(_ENTITY_RE.sub(b"", subset))} - sets
    if unknown_refs:
        raise UnsafeFeed("document references undeclared parameter entities", reason="xml_entity_expansion")
    if len(entities) > _MAX_ENTITIES:
        raise UnsafeFeed(f"{len(entities)} entity declarations", reason="xml_entity_expansion")


def _numeric_refs(content: bytes) -> bytes:
    """HTML named character references (``&eacute;``) as numeric ones, which every XML parser knows."""

    def repl(match: re.Match[bytes]) -> bytes:
        name = match.group(1).decode("ascii")
        if name in _XML_ENTITIES or name not in html.entities.name2codepoint:
            return match.group(0)
        return b"&#%d;" % html.entities.name2codepoint[name]

    return _NAMED_REF_RE.sub(repl, content)


def drop_entity_set_doctype(content: bytes) -> bytes:
    """Remove a DOCTYPE whose only external entities are the W3C XHTML entity sets; keep its internal entities.

    Call after :func:`check_entities`. The named references the sets would have defined become numeric
    character references, so the strict XML parser reads the feed. Other documents are returned unchanged.
    """
    if content[:2] in (b"\xff\xfe", b"\xfe\xff") or b"<!ENTITY" not in content[:200_000].upper():
        return content
    match = _DOCTYPE_RE.search(content[:200_000])
    if match is None or match.group("subset") is None:
        return content
    entities = list(_ENTITY_RE.finditer(match.group("subset")))
    if not any(ent.group("pe") is not None and _w3c_entity_set(ent) for ent in entities):
        return content
    internal = [ent.group(0) for ent in entities if ent.group("kind") is None and ent.group("pe") is None]
    name = re.match(rb"<!DOCTYPE\s+([^\s\[>]+)", match.group(0), re.IGNORECASE)
    doctype = b""
    if internal and name is not None:
        doctype = b"<!DOCTYPE " + name.group(1) + b" [\n" + b"\n".join(internal) + b"\n]>"
    logger.debug("dropping a DOCTYPE that imports the W3C XHTML entity sets")
    return content[: match.start()] + doctype + _numeric_refs(content[match.end() :])


# --- parsing ---------------------------------------------------------------------------------------------

_TAG_RE = re.compile(r"<[^>]*>")
_SPACE_RE = re.compile(r"\s+")
_XML_DECL_ENCODING_RE = re.compile(rb"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*(["'])(?P<label>[^"'>]*)\2""")
_XML_DECL_LABEL_RE = re.compile(rb"""encoding\s*=\s*(["'])(.*?)\1""", re.DOTALL)
#: Namespaces feedparser reads entries from; the rest are extensions (podcasts, geo, licences, media...).
_CORE_NAMESPACES = frozenset(
    {
        "",
        "http://www.w3.org/2005/Atom",
        "http://purl.org/atom/ns#",
        "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "http://purl.org/rss/1.0/modules/content/",
        "http://purl.org/dc/elements/1.1/",
        "http://purl.org/dc/terms/",
        "http://www.w3.org/1999/xhtml",
    }
)


def _plain(text: object) -> str:
    """HTML fragment to a single line of plain text (numbers become their digits, other non-strings nothing)."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        return ""
    text = str(text)
    if not text:
        return ""
    return _SPACE_RE.sub(" ", html.unescape(_TAG_RE.sub(" ", text))).strip()


def _struct_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
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
    try:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
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


def _entry_from_feedparser(raw: Mapping[str, Any], source: FeedSource, base_url: str) -> FeedEntry:
    # plain dict look-ups: FeedParserDict's key aliases emit DeprecationWarnings
    item: dict[str, Any] = dict(raw)
    link = item.get("link") if isinstance(item.get("link"), str) else ""
    if link and not _locator(_absolute(link, base_url)):
        link = ""  # feedparser copies an Atom id such as urn:uuid:... into link; that is not fetchable
    if not link:
        for candidate in item.get("links") or []:
            href = candidate.get("href") if isinstance(candidate, Mapping) else None
            if isinstance(href, str) and href and candidate.get("rel", "alternate") == "alternate":
                link = href
                break
    guid_raw = item.get("id")
    guid = guid_raw.strip() if isinstance(guid_raw, str) else ""
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    if not link:
        links = item.get("links") or []
        # a link element whose URL feedparser could not resolve (a broken IPv6 bracket) is a bad link
        unusable = any(isinstance(c, Mapping) and not c.get("href") and c.get("rel") == "alternate" for c in links)
        raise _Dropped("bad_url" if unusable else "no_link")
    if not _locator(_absolute(link, base_url)):
        raise _Dropped("no_link")
    url = _entry_url(link, base_url)
    published = _struct_to_datetime(item.get("published_parsed")) or _struct_to_datetime(item.get("updated_parsed"))
    if published is None:
        published = _parse_date(item.get("published")) or _parse_date(item.get("updated"))
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
    content = item.get("content")
    if not summary and isinstance(content, list) and content and isinstance(content[0], Mapping):
        summary = content[0].get("value", "")
    return FeedEntry(
        feed=source.name,
        url=url,
        title=_plain(item.get("title")),
        published=published,
        summary=_plain(summary),
        guid=_guid(guid, url),
        authors=tuple(authors),
    )


def _looks_like_json(content: bytes) -> bool:
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _json_entry(item: object, source: FeedSource, feed_base: str) -> FeedEntry:
    if not isinstance(item, dict):
        raise _Dropped("no_link")
    given = [v for v in (item.get("url"), item.get("external_url")) if v not in (None, "")]
    link = next((v for v in given if isinstance(v, str) and v.strip()), "")
    guid = _plain(item.get("id"))
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    if not link:
        raise _Dropped("bad_url" if given else "no_link")
    url = _entry_url(link, feed_base)
    authors_raw = item.get("authors")
    if not isinstance(authors_raw, list):
        authors_raw = [item["author"]] if isinstance(item.get("author"), dict) else []
    authors = tuple(name for a in authors_raw if isinstance(a, dict) for name in [_plain(a.get("name"))] if name)
    summary = next(
        (v for v in (item.get("summary"), item.get("content_html"), item.get("content_text")) if isinstance(v, str)),
        "",
    )
    return FeedEntry(
        feed=source.name,
        url=url,
        title=_plain(item.get("title")),
        published=_parse_date(item.get("date_published")) or _parse_date(item.get("date_modified")),
        summary=_plain(summary),
        guid=_guid(guid, url),
        authors=authors,
    )


def _collect(items: list[Any], convert: Any) -> tuple[list[FeedEntry], Counter[str]]:
    """Convert each item, dropping (and counting) the ones that cannot be entries; one bad item never
    costs the others."""
    entries: list[FeedEntry] = []
    dropped: Counter[str] = Counter()
    for item in items:
        try:
            entries.append(convert(item))
        except _Dropped as exc:
            dropped[exc.reason] += 1
        except Exception as exc:  # our bug or a library's on one odd item: contained to that item
            logger.warning("feed entry dropped: %s: %s", type(exc).__name__, exc)
            dropped[f"internal_error:{type(exc).__name__}"] += 1
    return entries, dropped


def _parse_json_feed(content: bytes, source: FeedSource, base_url: str) -> ParsedFeed:
    try:
        doc = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FeedParseError(f"invalid JSON: {exc}", reason="not_a_feed", url=base_url or None) from exc
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        raise FeedParseError("JSON document is not a JSON Feed", reason="not_a_feed", url=base_url or None)
    feed_base = base_url or next(
        (v for v in (doc.get("feed_url"), doc.get("home_page_url")) if isinstance(v, str) and v), ""
    )
    items = doc.get("items")
    entries, dropped = _collect(items if isinstance(items, list) else [], lambda i: _json_entry(i, source, feed_base))
    if not entries:
        raise FeedParseError("JSON Feed has no items with a URL", reason="empty_feed", url=base_url or None)
    return ParsedFeed(tuple(entries), None, _plain(doc.get("title")), False, None, dict(dropped))


def _sanitize_declaration(content: bytes) -> bytes:
    """Rewrite an XML declaration that is not one: non-ASCII or control bytes, markup inside it, or an
    encoding label that is no readable charset label (feedparser decodes the label itself and fails on it).
    A readable label is kept; the rest of the document is untouched."""
    if not content.startswith(b"<?xml"):
        return content
    end = content.find(b"?>", 0, 1024)
    declaration = content[: end + 2] if end >= 0 else content[: content.find(b">", 0, 1024) + 1]
    if not declaration:
        return content
    label_match = _XML_DECL_LABEL_RE.search(declaration)
    label = label_match.group(2) if label_match else None
    readable = label is None or (label.isascii() and codec_for(label.decode("ascii")) is not None)
    clean = b"<" not in declaration[1:] and all(32 <= b < 127 or b in (9, 10, 13) for b in declaration)
    if readable and clean:
        return content
    logger.info("rewriting an unreadable XML declaration %r", declaration[:60])
    keep = b' encoding="' + label + b'"' if label is not None and readable else b""
    return b'<?xml version="1.0"' + keep + b"?>" + content[len(declaration) :]


def _http_charset(content: bytes, content_type: str | None, charset: str | None) -> str | None:
    """The HTTP charset worth telling feedparser: a known label the bytes do not contradict."""
    label = charset or charset_of(content_type)
    codec = codec_for(label)
    if codec is None or utf8_label_lies(content, codec):
        return None
    return label


def _feedparser(content: bytes, headers: dict[str, str]) -> Any:
    # a file object, never bytes: given bytes, feedparser first tries them as a *file name* (a feed body
    # "/dev/zero" or "/etc/passwd" would be opened and read)
    return feedparser.parse(
        io.BytesIO(content), response_headers=headers, sanitize_html=False, resolve_relative_uris=True
    )


#: Prefixes of the core namespaces, for elements whose prefix a broken document never bound.
_CORE_PREFIXES = frozenset({"rdf", "content", "dc", "dcterms", "atom", "xhtml"})
_PREFIXED_TAG_RE = re.compile(rb"</?(?P<prefix>[A-Za-z_][\w.-]*):[\w.-]+(?:\s[^<>]*)?/?>")


def _namespace(tag: str) -> str | None:
    """The namespace of an lxml tag; None for a prefixed name whose prefix was never bound (``cc:license``)."""
    if tag.startswith("{"):
        return tag[1:].split("}", 1)[0]
    if ":" in tag:
        return "" if tag.split(":", 1)[0].lower() in _CORE_PREFIXES else None
    return ""


def _salvage_candidates(content: bytes) -> Iterator[bytes]:
    """Rewritten documents to try when feedparser fails on ``content``: first re-serialised by lxml's
    recovering parser (balanced tags: feedparser's handlers crash on stray end tags), then also without
    extension elements (its namespace handlers crash on odd podcast, geo and licence markup). No entities are
    resolved, nothing is loaded from the network."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except (etree.LxmlError, ValueError):
        root = None
    if root is not None:
        yield etree.tostring(root, encoding="utf-8", xml_declaration=True)
        for element in list(root.iter()):
            parent = element.getparent()
            if isinstance(element.tag, str) and parent is not None and _namespace(element.tag) not in _CORE_NAMESPACES:
                parent.remove(element)
        yield etree.tostring(root, encoding="utf-8", xml_declaration=True)

    # too broken for lxml to find a root: drop the tags of extension elements from the text itself
    def keep(match: re.Match[bytes]) -> bytes:
        return match.group(0) if match.group("prefix").lower().decode("ascii", "replace") in _CORE_PREFIXES else b""

    yield _PREFIXED_TAG_RE.sub(keep, content)


def _parse_with_salvage(content: bytes, headers: dict[str, str], name: str) -> Any:
    try:
        return _feedparser(content, headers)
    except Exception as exc:
        failure = exc
    for candidate in _salvage_candidates(content):
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
    if _looks_like_json(content) or media_type.endswith("json"):
        return _truncate(_parse_json_feed(content, source, base_url), max_entries)
    check_entities(content)
    content = drop_entity_set_doctype(content)
    stripped = content.lstrip(b" \t\r\n")
    if stripped[:5] == b"<?xml" and stripped is not content:
        # a blank line before the XML declaration is the commonest real-world breakage; it is not data
        content = stripped
    content = _sanitize_declaration(content)
    http_charset = _http_charset(content, content_type, charset)
    if codec_for(http_charset) in (None, "utf-8") and _utf8_with_bad_bytes(content):
        # declared or assumed UTF-8 with a few malformed bytes: feedparser would read the whole feed as cp1252
        content = content.decode("utf-8", errors="replace").encode("utf-8")
    headers = {"content-location": base_url} if base_url else {}
    # without a Content-Type feedparser flags every document as bozo; assume XML (it sniffs anyway)
    headers["content-type"] = (media_type or "application/xml") + (f"; charset={http_charset}" if http_charset else "")
    result = _parse_with_salvage(content, headers, source.name)
    bozo = bool(result.get("bozo"))
    bozo_exc = result.get("bozo_exception")
    bozo_reason = f"{type(bozo_exc).__name__}: {bozo_exc}" if bozo and bozo_exc is not None else None
    feed_meta: dict[str, Any] = dict(result.get("feed") or {})
    items = result.get("entries")
    entries, dropped = _collect(
        items if isinstance(items, list) else [], lambda i: _entry_from_feedparser(i, source, base_url)
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
        title=_plain(feed_meta.get("title")),
        bozo=bozo,
        bozo_reason=bozo_reason,
        dropped=dict(dropped),
    )
    return _truncate(parsed, max_entries)


def _utf8_with_bad_bytes(content: bytes) -> bool:
    if content.isascii() or content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return False
    match = _XML_DECL_ENCODING_RE.match(content[:512])
    if match is not None and codec_for(match.group("label").decode("ascii", "ignore")) not in ("utf-8", None):
        return False  # declared as something else in the document
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return mostly_utf8(content)
    return False


def _truncate(parsed: ParsedFeed, max_entries: int | None) -> ParsedFeed:
    if max_entries is None or len(parsed.entries) <= max_entries:
        return parsed
    return replace(parsed, entries=parsed.entries[:max_entries])
