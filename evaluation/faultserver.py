"""A deliberately misbehaving HTTP server on 127.0.0.1, for tests and ``make eval-faults``.

Everything it serves is generated here (no external data). Paths:

* ``/articles/<n>.html``               a good article page (deterministic text per ``n``)
* ``/syndicated/<n>.html``             the same body as ``/articles/<n>.html`` on another URL and title
* ``/status/<code>``                   that status (404, 410, 500, 503, ...) with a small body
* ``/flaky/<key>``                     503 on the first request for ``key``, then a good article
* ``/retry-after/<seconds>``           429 with ``Retry-After: <seconds>`` (always)
* ``/retry-once/<seconds>``            429 + Retry-After the first time, then a good article
* ``/slow``                            waits ``slow_seconds`` before sending headers
* ``/trickle``                         headers, then one byte every ``trickle_interval`` seconds for ever
* ``/trickle-headers``                 a status line, then one header line every ``trickle_interval`` seconds
* ``/reset``                           reads the request, then resets the TCP connection (RST)
* ``/loop/a`` <-> ``/loop/b``          a redirect loop
* ``/redirect/<k>``                    a chain of ``k`` redirects ending at ``/articles/0.html``
* ``/big``                             ``big_bytes`` (11 MiB by default) of HTML, no Content-Length
* ``/big-declared``                    the same with a Content-Length
* ``/gzip-bomb``                       ``Content-Encoding: gzip``: ~60 KB that inflate to 64 MiB
* ``/charset/latin1-nocharset.html``   ISO-8859-1 page, no charset anywhere
* ``/charset/cp1252-meta.html``        Windows-1252 page, charset only in ``<meta>``
* ``/charset/cp1252-wrong-header.html`` Windows-1252 bytes, header claims UTF-8
* ``/charset/latin1-feed.xml``         ISO-8859-1 RSS, declared in the XML declaration only
* ``/charset/cp1252-feed-nodecl.xml``  Windows-1252 RSS, declared nowhere
* ``/type/pdf``, ``/type/json``, ``/type/png``  non-HTML content types; ``/type/octet-png`` a PNG and
                                       ``/type/octet-html/<n>.html`` article ``n`` as application/octet-stream
* ``/xml/billion-laughs.xml``, ``/xml/xxe.xml``, ``/xml/xxe-parameter.xml``  entity attacks
* ``/feeds/ssrf.xml``                  a feed whose items point at file://, localhost, 169.254.169.254, ...
* ``/feeds/<name>.xml``                feeds registered with :meth:`FaultServer.add_feed`
* ``/conditional/feed.xml``            honours If-None-Match/If-Modified-Since (304), Cache-Control max-age
* ``/robots.txt``                      disallows ``/private/``
* ``/private/<n>.html``                a good page that robots.txt forbids

Hostile cases (documents in :mod:`evaluation.hostile`):

* ``/to/<kind>``                       a redirect whose Location is ``javascript:``, ``mailto:``, ``about:blank``,
                                       ``http:foo``, a bad port, a broken IPv6 bracket, ``data:``, userinfo
                                       with a secret (``/to/userinfo/<n>``), another loopback service
                                       (``/to/bystander``)
* ``/hostile/<name>``                  feeds on which feedparser itself fails or takes quadratic time (60,000
                                       attributes on one item), lone surrogates in a JSON Feed, 400 copies of
                                       one link before another article, bad entry links,
                                       JSON Feeds with wrong types, a W3C-entity DOCTYPE, a KOI8-R feed (charset
                                       only in the header), a feed body that is a local file name
* ``/status/304``                      a 304 to a request that sent no validators
* ``/to/nowhere``                      a 302 without a Location; ``/partial/206`` a 206 nobody asked for
* ``/encoded/<kind>/<n>.html``         article ``n`` as 600 gzip members, raw deflate, under the charset
                                       ``undefined`` or a UTF-16 label on ASCII bytes (``hostile.ENCODED_PAGES``)
* ``/truncated/<gzip|deflate>/<n>``    article ``n`` with its compressed body cut short
* ``/interstitial/<n>.html``           a meta refresh to ``/articles/<n>.html``; ``/interstitial-external``
                                       refreshes to 169.254.169.254, ``/interstitial-bystander`` to the
                                       bystander (same host, another port)
* ``/cookie/<n>.html``                 article ``n`` with ``Set-Cookie: session=<secret>``
* ``/charset/utf8-stray-byte.html``    UTF-8 with one stray 0x92; ``/charset/cp1252-as-utf8.html`` cp1252
                                       (ñ, ã) labelled UTF-8
* ``/odd/<kind>/<n>.html``             article ``n`` with a ``&#x1;`` reference, 3,000 unclosed ``<font>``, a
                                       40 KB author and site name, a 40 KB canonical URL, or 100,000 attributes
                                       on its ``<article>`` (``hostile.ODD_PAGES``)
* ``/consent/<n>.html``                a consent wall instead of the article (``hostile.consent_wall_page``)
* ``/soft404/<n>.html``                a not-found page with status 200 (``hostile.not_found_page``)
* ``/malformed/<kind>/<n>``            bytes that are not an HTTP response: an illegal status or header line,
                                       two or a negative Content-Length, a NUL in a header
                                       (``hostile.MALFORMED_RESPONSES``)
* ``/transient/<n>.html``              fails transiently (503, reset, truncated gzip, unconditional 304, by
                                       ``n % 4``) while ``settings.transient_failing`` is set, then article ``600 + n``

``requests`` counts hits per path (thread-safe), so tests can check politeness and caching; ``request_log``
keeps every request's line and headers (for leak checks); ``durations`` how long each handler ran.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape

from evaluation import hostile

_WORDS = [
    "minister",
    "parliament",
    "election",
    "coalition",
    "budget",
    "reform",
    "treaty",
    "border",
    "sanctions",
    "summit",
    "delegation",
    "ceasefire",
    "negotiation",
    "embassy",
    "protest",
    "court",
    "ruling",
    "inflation",
    "market",
    "energy",
    "pipeline",
    "harbour",
    "railway",
    "airport",
    "strike",
    "union",
    "wages",
    "hospital",
    "vaccine",
    "climate",
    "flood",
    "drought",
    "harvest",
    "farmers",
    "police",
    "investigation",
    "network",
    "outage",
    "ransomware",
    "breach",
    "hackers",
    "patch",
    "vulnerability",
    "server",
    "database",
    "encryption",
    "password",
    "phishing",
    "campaign",
    "province",
    "capital",
    "village",
    "council",
    "mayor",
    "governor",
    "senator",
    "opposition",
    "majority",
    "referendum",
    "commission",
    "report",
    "agency",
    "satellite",
    "launch",
    "rocket",
    "research",
    "university",
    "students",
    "teachers",
    "schools",
    "museum",
    "festival",
    "football",
    "league",
    "coach",
    "transfer",
    "stadium",
    "tournament",
    "final",
    "record",
    "season",
    "injury",
    "weather",
    "storm",
    "earthquake",
    "volcano",
    "tourism",
    "hotel",
    "prices",
    "shares",
    "investors",
    "bank",
    "central",
    "interest",
    "rate",
    "currency",
    "exports",
    "imports",
    "factory",
    "workers",
]

ARTICLE_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta property="og:title" content="{title}">
<link rel="canonical" href="{canonical}">
<meta name="author" content="Fault Server Desk">
<meta property="article:published_time" content="{published}">
</head><body>
<header><nav><a href="/">Home</a> | <a href="/world">World</a></nav></header>
<article>
<h1>{title}</h1>
<p class="byline">By Fault Server Desk, {published}</p>
{paragraphs}
</article>
<footer><p>Copyright Fault Server. All rights reserved.</p></footer>
</body></html>
"""


def article_text(n: int, paragraphs: int = 5) -> tuple[str, list[str]]:
    """Deterministic title and paragraphs for article ``n`` (different ``n`` share few word trigrams)."""
    rng = random.Random(1000 + n)
    title = " ".join(rng.choice(_WORDS) for _ in range(6)).capitalize() + f" (report {n})"
    paras = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(4):
            words = [rng.choice(_WORDS) for _ in range(rng.randint(9, 15))]
            sentences.append(" ".join(words).capitalize() + ".")
        paras.append(" ".join(sentences))
    return title, paras


def article_html(n: int, *, canonical: str, title: str | None = None, published: datetime | None = None) -> str:
    base_title, paras = article_text(n)
    published = published or datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=n)
    return ARTICLE_TEMPLATE.format(
        title=escape(title or base_title),
        canonical=escape(canonical),
        published=published.isoformat(),
        paragraphs="\n".join(f"<p>{escape(p)}</p>" for p in paras),
    )


def rss(title: str, items: Sequence[tuple[str, str]], *, ttl: int | None = None, encoding: str = "utf-8") -> str:
    """An RSS 2.0 document listing ``(title, link)`` items."""
    now = datetime(2026, 11, 20, tzinfo=UTC)
    body = []
    for i, (item_title, link) in enumerate(items):
        body.append(
            f"<item><title>{escape(item_title)}</title><link>{escape(link)}</link>"
            f"<guid>{escape(link)}</guid><pubDate>{format_datetime(now - timedelta(minutes=i))}</pubDate>"
            f"<description>{escape(item_title)}</description></item>"
        )
    decl = f'<?xml version="1.0" encoding="{encoding}"?>\n' if encoding else ""
    ttl_el = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        f'{decl}<rss version="2.0"><channel><title>{escape(title)}</title><link>http://example.org/</link>'
        f"<description>test feed</description>{ttl_el}{''.join(body)}</channel></rss>\n"
    )


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><link>http://example.org/</link>
<item><title>&lol9;</title><link>http://example.org/a</link></item></channel></rss>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<rss version="2.0"><channel><title>x</title><link>http://example.org/</link>
<item><title>&xxe;</title><link>http://example.org/a</link><description>&xxe;</description></item>
</channel></rss>
"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE rss [ <!ENTITY % remote SYSTEM "http://169.254.169.254/latest/meta-data/"> %remote; ]>
<rss version="2.0"><channel><title>x</title><link>http://example.org/</link>
<item><title>y</title><link>http://example.org/a</link></item></channel></rss>
"""

SSRF_TARGETS = (
    "file:///etc/passwd",
    "http://localhost/admin",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.1/internal",
    "http://192.168.1.1/router",
    "http://[::1]/ipv6-loopback",
    "http://0.0.0.0/unspecified",
    "ftp://example.org/file.txt",
)

_LATIN1_TEXT = (
    "Größere Änderungen im Straßenverkehr: Die Behörde in Köln erklärt, daß Fußgänger künftig Vorrang haben. "
    "Außerdem wurden Gebühren für Parkplätze erhöht; Bürger äußerten Kritik an der Maßnahme. "
)
_CP1252_TEXT = (
    "\u201cSmart quotes\u201d and the \u20ac sign \u2014 plus an ellipsis\u2026 and \u2018single\u2019 quotes "
    "are the Windows-1252 characters that ISO-8859-1 decoding gets wrong. "
)


def charset_page(text: str, *, meta: str | None) -> str:
    meta_el = f'<meta charset="{meta}">' if meta else ""
    paras = "".join(f"<p>{text * 2} Paragraph {i}.</p>" for i in range(4))
    return (
        f"<!DOCTYPE html><html><head>{meta_el}<title>Charset test</title></head>"
        f"<body><article><h1>Charset test</h1>{paras}</article></body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- helpers ----------------------------------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        *,
        length: bool = True,
    ) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    def _article(self, n: int, *, path: str | None = None, title: str | None = None) -> None:
        canonical = f"{self.server.base_url}{path or self.path.split('?')[0]}"
        self._send(200, article_html(n, canonical=canonical, title=title).encode("utf-8"))

    def _once(self, key: str) -> bool:
        """True the first time ``key`` is seen."""
        with self.server.lock:
            first = key not in self.server.once
            self.server.once.add(key)
        return first

    # --- routing ----------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        with self.server.lock:
            self.server.requests[path] += 1
            self.server.request_log.append(f"{self.requestline}\n{self.headers}")
        started = time.monotonic()
        try:
            if not self._hostile(path):
                self._route(path)
        finally:
            with self.server.lock:
                self.server.durations.append((path, time.monotonic() - started))

    def _hostile(self, path: str) -> bool:
        """The hostile cases; False when ``path`` is none of them."""
        srv = self.server
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "to":
            locations = {
                "javascript": "javascript:alert(document.cookie)",
                "mailto": "mailto:desk@example.org",
                "about": "about:blank",
                "http-no-host": "http:foo",
                "bad-port": f"{srv.base_url.rsplit(':', 1)[0]}:99999/articles/1.html",
                "bad-ipv6": "http://[::1/articles/1.html",
                "data": "data:text/html,<p>x</p>",
                "bystander": f"{srv.bystander_url}/admin",
            }
            if parts[1] == "nowhere":  # a redirect without a Location
                self._send(302, b"")
                return True
            if parts[1] == "userinfo" and len(parts) == 3:
                target = f"{srv.base_url}/articles/{parts[2]}"
                location = target.replace("://", f"://{hostile.USERINFO_USER}:{hostile.USERINFO_SECRET}@", 1)
            elif parts[1] in locations:
                location = locations[parts[1]]
            else:
                return False
            self._send(302, b"", headers={"Location": location})
        elif len(parts) == 2 and parts[0] == "hostile":
            return self._hostile_feed(parts[1])
        elif path == "/status/304":
            self.send_response(304)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif len(parts) == 3 and parts[0] == "truncated" and parts[1] in ("gzip", "deflate"):
            n = int(parts[2].split(".")[0])
            html = article_html(n, canonical=f"{srv.base_url}{path}").encode()
            self._send(200, hostile.truncated(html, parts[1]), headers={"Content-Encoding": parts[1]})
        elif len(parts) == 2 and parts[0] == "interstitial":
            self._send(200, hostile.interstitial_page(f"/articles/{parts[1]}"))
        elif path == "/interstitial-external":
            self._send(200, hostile.interstitial_page("http://169.254.169.254/latest/meta-data/"))
        elif path == "/interstitial-bystander":  # same host (127.0.0.1), another port
            self._send(200, hostile.interstitial_page(f"{srv.bystander_url}/admin"))
        elif len(parts) == 2 and parts[0] == "cookie":
            n = int(parts[1].split(".")[0])
            cookie = f"session={hostile.COOKIE_SECRET}; Path=/; HttpOnly"
            body = article_html(n, canonical=f"{srv.base_url}{path}").encode()
            self._send(200, body, headers={"Set-Cookie": cookie})
        elif path == "/charset/utf8-stray-byte.html":
            self._send(200, hostile.utf8_stray_byte_page(), "text/html; charset=utf-8")
        elif path == "/charset/cp1252-as-utf8.html":
            self._send(200, hostile.cp1252_as_utf8_page(), "text/html; charset=utf-8")
        elif len(parts) == 2 and parts[0] == "transient":
            self._transient(int(parts[1].split(".")[0]), path)
        elif len(parts) == 3 and parts[0] == "encoded" and parts[1] in hostile.ENCODED_PAGES:
            n = int(parts[2].split(".")[0])
            body, headers = hostile.encoded_page(parts[1], article_html(n, canonical=f"{srv.base_url}{path}"))
            self._send(200, body, headers.pop("Content-Type", "text/html; charset=utf-8"), headers)
        elif path == "/partial/206":  # a part of an article nobody asked a Range of
            body = article_html(3, canonical=f"{srv.base_url}{path}").encode()
            self._send(206, body[:2000], headers={"Content-Range": f"bytes 0-1999/{len(body)}"})
        elif len(parts) == 2 and parts[0] == "soft404":  # a not-found page with status 200
            self._send(200, hostile.not_found_page("faultserver.example"), "text/html; charset=utf-8")
        elif len(parts) == 2 and parts[0] == "consent":  # a consent wall where the article should be
            self._send(200, hostile.consent_wall_page("faultserver.example"), "text/html; charset=utf-8")
        elif len(parts) == 3 and parts[0] == "malformed" and parts[1] in hostile.MALFORMED_RESPONSES:
            self.close_connection = True
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(hostile.MALFORMED_RESPONSES[parts[1]])
                self.wfile.flush()
        elif len(parts) == 3 and parts[0] == "odd" and parts[1] in (*hostile.ODD_PAGES, *hostile.LATER_ODD_PAGES):
            n = int(parts[2].split(".")[0])
            page = article_html(n, canonical=f"{srv.base_url}{path}")
            self._send(200, hostile.odd_page(parts[1], page), "text/html; charset=utf-8")
        else:
            return False
        return True

    def _hostile_feed(self, name: str) -> bool:
        srv = self.server
        number = {**hostile.FEED_ARTICLES, **hostile.EMPTY_FEEDS}.get(name, 0)
        good = f"{srv.base_url}/articles/{number}.html"
        docs = {
            **hostile.feedparser_bug_feeds(good),
            **hostile.json_feeds(good),
            **hostile.third_round_feeds(good, BILLION_LAUGHS),
        }
        if name in docs:
            kind = "application/json" if name.endswith(".json") else "application/rss+xml"
            self._send(200, docs[name], kind)
        elif name == "bad-links.xml":
            body = hostile.bad_link_feed(srv.base_url, good, srv.bystander_url)
            self._send(200, body, "application/rss+xml; charset=utf-8")
        elif name == "crowded.xml":
            self._send(200, hostile.crowded_feed(srv.base_url, good), "application/rss+xml")
        elif name == "many-attributes.xml":
            self._send(200, hostile.many_attributes_feed(good), "application/rss+xml")
        elif name == "w3c-entities.xml":
            self._send(200, hostile.w3c_entities_feed(good), "application/rss+xml")
        elif name == "koi8r.xml":
            self._send(200, hostile.koi8_feed(good), "application/rss+xml; charset=koi8-r")
        elif name == "file-path.xml" and srv.secret_file:
            self._send(200, hostile.file_path_feed(srv.secret_file), "application/rss+xml")
        else:
            return False
        return True

    def _transient(self, n: int, path: str) -> None:
        srv = self.server
        if not srv.transient_failing:
            self._article(600 + n)  # text of its own, not a near-duplicate of /articles/<n>.html
        elif n % 4 == 0:
            self._send(503, b"busy")
        elif n % 4 == 1:
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif n % 4 == 2:
            html = article_html(n, canonical=f"{srv.base_url}{path}").encode()
            self._send(200, hostile.truncated(html, "gzip"), headers={"Content-Encoding": "gzip"})
        else:
            self.send_response(304)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _route(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        srv = self.server
        if path == "/robots.txt":
            if srv.robots_status != 200:
                self._send(srv.robots_status, b"robots unavailable", "text/plain")
            else:
                self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif len(parts) == 2 and parts[0] == "articles" and parts[1].endswith(".html"):
            self._article(int(parts[1].split(".")[0]))
        elif len(parts) == 2 and parts[0] == "syndicated" and parts[1].endswith(".html"):
            n = int(parts[1].split(".")[0])
            self._article(n, title=f"Syndicated: wire report {n}")
        elif len(parts) == 2 and parts[0] == "private":
            self._article(int(parts[1].split(".")[0]))
        elif len(parts) == 2 and parts[0] == "status":
            code = int(parts[1])
            self._send(code, f"<html><body>status {code}</body></html>".encode())
        elif len(parts) == 2 and parts[0] == "flaky":
            if self._once(path):
                self._send(503, b"busy")
            else:
                self._article(7000 + sum(map(ord, parts[1])))
        elif len(parts) == 2 and parts[0] == "retry-after":
            self._send(429, b"slow down", headers={"Retry-After": parts[1]})
        elif len(parts) == 2 and parts[0] == "retry-once":
            if self._once(path):
                self._send(429, b"slow down", headers={"Retry-After": parts[1]})
            else:
                self._article(8000)
        elif path == "/slow":
            time.sleep(srv.slow_seconds)
            self._article(1)
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(b"<html><body>")
                self.wfile.flush()
                deadline = time.monotonic() + srv.trickle_max_seconds
                while time.monotonic() < deadline and not srv.stopping.is_set():
                    time.sleep(srv.trickle_interval)
                    self.wfile.write(b"x")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/trickle-headers":
            self.close_connection = True
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                self.wfile.flush()
                deadline = time.monotonic() + srv.trickle_max_seconds
                while time.monotonic() < deadline and not srv.stopping.is_set():
                    time.sleep(srv.trickle_interval)
                    self.wfile.write(b"X-Slow: a\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/reset":
            self.close_connection = True
            # SO_LINGER with timeout 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif path == "/loop/a":
            self._send(302, b"", headers={"Location": "/loop/b"})
        elif path == "/loop/b":
            self._send(301, b"", headers={"Location": f"{srv.base_url}/loop/a"})
        elif len(parts) == 2 and parts[0] == "redirect":
            left = int(parts[1])
            target = "/articles/0.html" if left <= 1 else f"/redirect/{left - 1}"
            self._send(302, b"", headers={"Location": target})
        elif path == "/redirect-to-metadata":
            self._send(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/redirect-to-file":
            self._send(302, b"", headers={"Location": "file:///etc/passwd"})
        elif path in ("/big", "/big-declared"):
            self._stream_big(declared=path == "/big-declared")
        elif path == "/gzip-bomb":
            self._send(200, srv.gzip_bomb(), "text/html", headers={"Content-Encoding": "gzip"})
        elif path == "/gzip-ok":
            body = gzip.compress(article_html(3, canonical=f"{srv.base_url}/gzip-ok").encode())
            self._send(200, body, "text/html; charset=utf-8", headers={"Content-Encoding": "gzip"})
        elif path == "/charset/latin1-nocharset.html":
            self._send(200, charset_page(_LATIN1_TEXT, meta=None).encode("latin-1"), "text/html")
        elif path == "/charset/cp1252-meta.html":
            self._send(200, charset_page(_CP1252_TEXT, meta="windows-1252").encode("cp1252"), "text/html")
        elif path == "/charset/cp1252-wrong-header.html":
            body = charset_page(_CP1252_TEXT, meta=None).encode("cp1252")
            self._send(200, body, "text/html; charset=utf-8")
        elif path == "/charset/latin1-feed.xml":
            doc = rss(
                "Nachrichten aus Köln",
                [(_LATIN1_TEXT[:60], f"{srv.base_url}/articles/11.html")],
                encoding="iso-8859-1",
            )
            self._send(200, doc.encode("latin-1"), "application/rss+xml")
        elif path == "/charset/cp1252-feed-nodecl.xml":
            doc = rss(
                "\u201cQuoted\u201d \u20ac feed",
                [(_CP1252_TEXT[:60], f"{srv.base_url}/articles/12.html")],
                encoding="",
            )
            self._send(200, doc.encode("cp1252"), "application/xml")
        elif path == "/type/pdf":
            self._send(200, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "application/pdf")
        elif path == "/type/json":
            self._send(200, b'{"article": "not html"}', "application/json")
        elif path == "/type/png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
        elif path == "/type/octet-png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "application/octet-stream")
        elif len(parts) == 3 and parts[:2] == ["type", "octet-html"]:  # an article sent as "some bytes"
            n = int(parts[2].split(".")[0])
            self._send(200, article_html(n, canonical=f"{srv.base_url}{path}").encode(), "application/octet-stream")
        elif path == "/xml/billion-laughs.xml":
            self._send(200, BILLION_LAUGHS, "application/rss+xml")
        elif path == "/xml/xxe.xml":
            self._send(200, XXE, "application/rss+xml")
        elif path == "/xml/xxe-parameter.xml":
            self._send(200, XXE_PARAMETER, "application/rss+xml")
        elif path == "/feeds/ssrf.xml":
            doc = rss("SSRF", [(f"target {i}", url) for i, url in enumerate(SSRF_TARGETS)])
            self._send(200, doc.encode(), "application/rss+xml")
        elif len(parts) == 2 and parts[0] == "feeds" and parts[1] in srv.feeds:
            self._send(200, srv.feeds[parts[1]].encode("utf-8"), "application/rss+xml; charset=utf-8")
        elif path == "/conditional/feed.xml":
            self._conditional()
        else:
            self._send(404, b"<html><body>not found</body></html>")

    def _conditional(self) -> None:
        srv = self.server
        etag = '"v1"'
        last_modified = "Fri, 20 Nov 2026 10:00:00 GMT"
        headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": f"max-age={srv.max_age}"}
        if self.headers.get("If-None-Match") == etag or self.headers.get("If-Modified-Since") == last_modified:
            self.send_response(304)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        doc = rss("Conditional", [("a", f"{srv.base_url}/articles/21.html")], ttl=30)
        self._send(200, doc.encode(), "application/rss+xml", headers=headers)

    def _stream_big(self, *, declared: bool) -> None:
        srv = self.server
        chunk = b"<p>" + b"filler " * 1000 + b"</p>\n"
        count = srv.big_bytes // len(chunk) + 1
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if declared:
            self.send_header("Content-Length", str(count * len(chunk)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(b"<html><body>")
            for _ in range(count):
                self.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass


@functools.cache
def _gzip_bomb() -> bytes:
    """64 MiB of zeros as two gzip members (~65 KB); built once per process (~1 s)."""
    half = gzip.compress(b"\0" * (32 * 1024 * 1024), compresslevel=9)
    return half + half


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.once: set[str] = set()
        self.feeds: dict[str, str] = {}
        self.stopping = threading.Event()
        self.slow_seconds = 3.0
        self.trickle_interval = 0.2
        self.trickle_max_seconds = 30.0
        self.big_bytes = 11 * 1024 * 1024
        self.max_age = 600
        self.robots_status = 200
        self.request_log: list[str] = []
        self.durations: list[tuple[str, float]] = []
        self.transient_failing = True
        #: where ``/to/bystander`` and the bad-link feed point (another loopback service); a file name for
        #: ``/hostile/file-path.xml``
        self.bystander_url = "http://127.0.0.1:9"
        self.secret_file = ""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up on purpose (size caps, timeouts, resets) are expected, not errors."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def gzip_bomb(self) -> bytes:
        return _gzip_bomb()


class FaultServer:
    """Run the misbehaving server in a background thread: ``with FaultServer() as server: server.url(...)``."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultserver", daemon=True)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def requests(self) -> Counter[str]:
        return self._server.requests

    @property
    def settings(self) -> _Server:
        """Tunables: slow_seconds, trickle_interval, trickle_max_seconds, big_bytes, max_age."""
        return self._server

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def add_feed(self, name: str, items: Sequence[tuple[str, str]], *, ttl: int | None = None) -> str:
        """Serve RSS at ``/feeds/<name>.xml`` listing ``(title, absolute-or-relative link)``; its URL."""
        resolved = [(t, link if "://" in link else self.url(link)) for t, link in items]
        self._server.feeds[f"{name}.xml"] = rss(name, resolved, ttl=ttl)
        return self.url(f"feeds/{name}.xml")

    def start(self) -> FaultServer:
        _gzip_bomb()  # build it before any client is waiting with a short timeout
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _BystanderHandler(BaseHTTPRequestHandler):
    server: _BystanderServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits.append(self.path)
        body = f"<html><body><h1>admin</h1><p>{hostile.BYSTANDER_SECRET}</p></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _BystanderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BystanderHandler)
        self.lock = threading.Lock()
        self.hits: list[str] = []


class Bystander:
    """Another local service on 127.0.0.1 (an admin page holding a secret) that no feed may reach."""

    def __init__(self) -> None:
        self._server = _BystanderServer()
        self._thread = threading.Thread(target=self._server.serve_forever, name="bystander", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def hits(self) -> list[str]:
        with self._server.lock:
            return list(self._server.hits)

    def __enter__(self) -> Bystander:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
