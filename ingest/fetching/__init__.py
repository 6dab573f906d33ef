"""HTTP fetching: polite, bounded and guarded.

One :class:`Fetcher` GETs untrusted URLs and adds what a crawler needs:

* an SSRF guard (:mod:`ingest.fetching.guard`): http(s) only; every name resolved once, at connection time,
  and the connection made to the vetted address (DNS-rebinding proof); non-public addresses refused unless
  allow-listed, per ``host:port`` when the entry carries a port; re-checked on every redirect hop;
* credentials never leave it: userinfo is stripped from every URL, no Authorization/Cookie header is sent,
  no cookie jar is kept;
* wall-clock, connect and read timeouts (the wall clock defeats servers that trickle bytes), and one budget per
  ``get()`` across its redirect hops, retries and their waits;
* a raw size cap and a decoded size cap (gzip bombs), both enforced while streaming; a truncated gzip or
  deflate stream is an ``incomplete_body`` error (:mod:`ingest.fetching.body`), never a shorter page;
* manual redirects with a cap and loop detection; a ``Location`` that is not a fetchable URL
  (``javascript:``, ``mailto:``, ``http:foo``, a bad port) is a ``bad_redirect``; one same-site
  ``<meta http-equiv=refresh>`` interstitial is followed;
* robots.txt for article pages (:mod:`ingest.fetching.robots`, cached per origin);
* per-host concurrency and minimum delay between requests (:mod:`ingest.fetching.politeness`);
* retries in place with exponential backoff (tenacity) on connect errors and 502/503/504; 429/503
  ``Retry-After`` is waited out when short and raised (:class:`~ingest.errors.RateLimited`) when long.

Every failure is a member of the :class:`~ingest.errors.FetchError` family, whose class says whether a later
attempt can help (``permanent``), with a stable ``reason``: ``http_<status>``, ``timeout``,
``connection_error``, ``protocol_error``, ``dns_error``, ``incomplete_body``, ``bad_encoding``, ``too_large``,
``decompression_bomb``, ``too_many_redirects``, ``redirect_loop``, ``bad_redirect``, ``blocked_scheme``,
``blocked_address``, ``robots_disallowed``, ``robots_unavailable``, ``rate_limited``,
``unsupported_content_type``, ``unsupported_encoding``; a malformed URL is :class:`~ingest.errors.BadURL`.
"""

from __future__ import annotations

from ingest.errors import RateLimited
from ingest.fetching.client import SENSITIVE_REQUEST_HEADERS, Fetcher
from ingest.fetching.guard import AddressGuard, PinnedTransport, is_public, parse_allow_entry
from ingest.response import HTML_TYPES, KINDS, ArchiveRef, Response, decode_body

__all__ = [
    "HTML_TYPES",
    "KINDS",
    "SENSITIVE_REQUEST_HEADERS",
    "AddressGuard",
    "ArchiveRef",
    "Fetcher",
    "PinnedTransport",
    "RateLimited",
    "Response",
    "decode_body",
    "is_public",
    "parse_allow_entry",
]
