"""Feed sources (seed file) and feed parsing: one package, a module per concern.

* :mod:`~ingest.feeds.sources`: the seed file of feeds to poll (:func:`load_feed_sources`).
* :mod:`~ingest.feeds.entities`: the DOCTYPE guard. Documents that declare external entities (XXE) or
  nested/expanding entities ("billion laughs") are refused before any XML parser sees them; a DOCTYPE that only
  imports the W3C XHTML entity sets (old RSS 1.0 feeds) is dropped instead, and the named entities it would
  define become character references.
* :mod:`~ingest.feeds.repair`: what is fixed before and after feedparser: an XML declaration that is not one,
  the HTTP charset (it reaches feedparser unless the bytes contradict a single-byte label), UTF-8 with a few
  malformed bytes (stays UTF-8, with replacement characters), and the repaired copies tried when feedparser
  itself fails (lxml's recovering parser re-serialises the document, then drops extension elements).
* :mod:`~ingest.feeds.parse`: :func:`parse_feed` / :func:`parse_response` and the entries. They raise nothing
  but :class:`~ingest.errors.FeedParseError` and its subclasses. Every entry link is checked
  (:func:`ingest.urls.clean_url`: userinfo stripped; bad ports, control characters, broken IPv6 brackets
  refused); a bad entry is dropped and counted in ``ParsedFeed.dropped`` by reason (``bad_url``, ``no_link``,
  ``internal_error:<Type>``), the rest of the feed is kept. JSON Feed (jsonfeed.org) is read directly, as
  feedparser 6.0 does not know it.
"""

from __future__ import annotations

from ingest.feeds.entities import check_entities, drop_entity_set_doctype
from ingest.feeds.parse import parse_feed, parse_response
from ingest.feeds.records import FeedEntry, FeedSource, ParsedFeed
from ingest.feeds.sources import BASE_URL_PLACEHOLDER, load_feed_sources

__all__ = [
    "BASE_URL_PLACEHOLDER",
    "FeedEntry",
    "FeedSource",
    "ParsedFeed",
    "check_entities",
    "drop_entity_set_doctype",
    "load_feed_sources",
    "parse_feed",
    "parse_response",
]
