"""HTTP fetching: polite, bounded and guarded.

One :class:`Fetcher` wraps an httpx client and adds what a crawler of untrusted URLs needs:

* an SSRF guard re-checked on every redirect hop (http/https only; the host is resolved and loopback,
  private, link-local (169.254.169.254), multicast, reserved and unspecified addresses are refused unless
  allow-listed);
* wall-clock, connect and read timeouts (the wall clock defeats servers that trickle bytes);
* a raw size cap and a decoded size cap (gzip bombs), both enforced while streaming;
* manual redirects with a cap and loop detection;
* robots.txt for article pages (cached per host);
* per-host concurrency and minimum delay between requests (thread-safe, per process);
* retries with exponential backoff (tenacity) on connect errors and 502/503/504; 429/503 ``Retry-After``
  is waited out when short and reported (``rate_limited`` with ``retry_after``) when long.

Every failure is a :class:`~ingest.errors.FetchError` (or :class:`~ingest.errors.BlockedURL`) with a short
``reason``: ``http_<status>``, ``timeout``, ``connection_error``, ``dns_error``, ``too_large``,
``decompression_bomb``, ``too_many_redirects``, ``redirect_loop``, ``blocked_scheme``, ``blocked_address``,
``robots_disallowed``, ``robots_unavailable``, ``rate_limited``, ``unsupported_content_type``, ``bad_encoding``.
"""

from __future__ import annotations

import codecs
import contextlib
import email.utils
import ipaddress
import logging
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import charset_normalizer
import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ingest.archive import Archive, ArchiveRef
from ingest.config import FetchOptions
from ingest.errors import BlockedURL, FetchError

logger = logging.getLogger(__name__)

KINDS = ("feed", "page", "robots")
HTML_TYPES = ("text/html", "application/xhtml+xml")
_REDIRECTS = {301, 302, 303, 307, 308}
_TRANSIENT = {502, 503, 504}
#: An unavailable robots.txt (5xx, unreachable) is asked for again after at most this many seconds.
_ROBOTS_RETRY_SECONDS = 300.0
#: Non-ASCII bytes needed before charset detection is trusted over the windows-1252 default.
_DETECTION_MIN_BYTES = 200
_NO_WIDE = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]


# --- the response ----------------------------------------------------------------------------------------

_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: Labels that browsers (WHATWG Encoding) decode as windows-1252.
_AS_CP1252 = {
    "iso-8859-1",
    "iso8859-1",
    "latin-1",
    "latin1",
    "l1",
    "us-ascii",
    "ascii",
    "cp819",
    "iso_8859-1",
}


def _codec(label: str) -> str | None:
    label = label.strip().strip("\"'").lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _single_byte(codec: str) -> bool:
    return codec.startswith(("cp125", "iso8859", "latin", "mac-", "koi8", "ascii"))


def decode_body(content: bytes, header_charset: str | None) -> str:
    """Decode an HTML/XML body the way a careful browser would.

    BOM, then the declared encodings (HTTP header, ``<meta charset>``, XML declaration) in that order, taking
    the first that decodes cleanly (a single-byte label on bytes that are valid multi-byte UTF-8 is treated as
    a wrong label), then charset_normalizer's detection, then UTF-8 with replacement characters.
    """
    if not content:
        return ""
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    head = content[:4096]
    candidates: list[str] = []
    labels: list[str | None] = [header_charset]
    for pattern in (_XML_DECL_RE, _META_CHARSET_RE):
        found = pattern.search(head)
        labels.append(found.group(1).decode("ascii", "ignore") if found else None)
    for label in labels:
        label_codec = _codec(label) if label else None
        if label_codec and label_codec not in candidates:
            candidates.append(label_codec)
    utf8_text: str | None = None
    try:
        utf8_text = content.decode("utf-8")
    except UnicodeDecodeError:
        utf8_text = None
    for codec in candidates:
        if _single_byte(codec) and utf8_text is not None and not content.isascii():
            # declared latin-1/cp1252 but the bytes are valid UTF-8 with multi-byte sequences: the label lies
            return utf8_text
        try:
            return content.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    if utf8_text is not None:
        return utf8_text
    # Undeclared and not UTF-8. Detection needs evidence: with few non-ASCII bytes it guesses wildly (Big5
    # for "K\xf6ln"), so short evidence falls back to windows-1252, the web's default for such bytes.
    non_ascii = sum(1 for b in content[:200_000] if b >= 0x80)
    if non_ascii >= _DETECTION_MIN_BYTES:
        best = charset_normalizer.from_bytes(content[:200_000], cp_exclusion=_NO_WIDE).best()
        if best is not None and best.encoding:
            codec = _codec(best.encoding) or best.encoding
            # cp1252 over latin-1: they differ only in 0x80-0x9F, where latin-1 has control characters
            if codec in ("latin_1", "iso8859-1", "iso8859_1"):
                codec = "cp1252"
            try:
                return content.decode(codec, errors="replace")
            except LookupError:
                pass
    return content.decode("cp1252", errors="replace")


@dataclass(frozen=True)
class Response:
    """A fetched (or replayed) HTTP response with its decoded body bytes."""

    url: str
    final_url: str
    status: int
    #: Lower-case header names.
    headers: Mapping[str, str]
    content: bytes
    #: UTC
    fetched_at: datetime
    #: "feed" | "page" | "robots"
    kind: str
    archive_ref: ArchiveRef | None = None
    #: Request headers actually sent (lower-case names); empty for replayed responses.
    request_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'").lower()
        return None

    def text(self) -> str:
        return decode_body(self.content, self.charset)


# --- SSRF guard ------------------------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _is_public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


class AddressGuard:
    """Decides whether a URL may be fetched; ``allow`` lists hosts or CIDR ranges let through anyway."""

    def __init__(
        self,
        allow: tuple[str, ...] = (),
        resolver: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._hosts: set[str] = set()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in allow:
            item = item.strip().lower()
            if not item:
                continue
            try:
                self._nets.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                self._hosts.add(item)
        self._resolve = resolver or _resolve

    def _allowed_ip(self, ip: IPAddress) -> bool:
        return _is_public(ip) or any(ip in net for net in self._nets)

    def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedURL(f"scheme {parts.scheme or '(none)'!r} is not fetched", reason="blocked_scheme", url=url)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise BlockedURL("URL has no host", reason="blocked_address", url=url)
        if host in self._hosts:
            return
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses: list[IPAddress]
        if literal is not None:
            addresses = [literal]
        else:
            if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
                raise BlockedURL(f"host {host} is local", reason="blocked_address", url=url)
            try:
                addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self._resolve(host)]
            except (OSError, UnicodeError, ValueError) as exc:
                raise FetchError(f"cannot resolve {host}: {exc}", reason="dns_error", url=url) from exc
            if not addresses:
                raise FetchError(f"{host} has no addresses", reason="dns_error", url=url)
        for ip in addresses:
            if not self._allowed_ip(ip):
                raise BlockedURL(f"{host} resolves to non-public address {ip}", reason="blocked_address", url=url)


def _resolve(host: str) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


# --- politeness ------------------------------------------------------------------------------------------


class _HostGate:
    """Per-host concurrency limit and minimum delay between request starts (thread-safe)."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self._concurrency = max(1, concurrency)
        self._delay = max(0.0, delay)
        self._lock = threading.Lock()
        self._sems: dict[str, threading.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    def _sem(self, host: str) -> threading.Semaphore:
        with self._lock:
            sem = self._sems.get(host)
            if sem is None:
                sem = self._sems[host] = threading.Semaphore(self._concurrency)
            return sem

    def acquire(self, host: str) -> None:
        self._sem(host).acquire()
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + self._delay
        if start > now:
            time.sleep(start - now)

    def release(self, host: str) -> None:
        self._sem(host).release()


# --- the fetcher -----------------------------------------------------------------------------------------


class RateLimited(FetchError):
    """HTTP 429/503 with a Retry-After: ``retry_after`` seconds to wait before asking again."""

    reason = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None, url: str | None = None) -> None:
        super().__init__(message, url=url)
        self.retry_after = retry_after


class _Transient(Exception):
    """Internal: an attempt failed in a way worth retrying."""

    def __init__(self, error: FetchError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def _retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Decoder:
    """Streaming Content-Encoding decoder with an output cap."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self.limit = limit
        self.url = url
        self.produced = 0
        encoding = encoding.strip().lower()
        self._obj: Any
        self._deflate_probe = False
        self._gzip = encoding in ("gzip", "x-gzip")
        if self._gzip:
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._obj = zlib.decompressobj()
            self._deflate_probe = True
        elif encoding in ("", "identity"):
            self._obj = None
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r}", reason="unsupported_encoding", url=url)

    def _bomb(self) -> FetchError:
        return FetchError(f"body inflates beyond {self.limit} bytes", reason="decompression_bomb", url=self.url)

    def feed(self, chunk: bytes) -> bytes:
        if self._obj is None:
            return chunk
        try:
            out: bytes = self._obj.decompress(chunk, self.limit - self.produced + 1)
        except zlib.error:
            if self._deflate_probe and self.produced == 0:
                # "deflate" sent raw (no zlib header), as some servers do
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                self._deflate_probe = False
                return self.feed(chunk)
            raise
        self._deflate_probe = False
        self.produced += len(out)
        if self.produced > self.limit or self._obj.unconsumed_tail:
            raise self._bomb()
        if self._gzip and self._obj.eof and self._obj.unused_data:
            # concatenated gzip members (RFC 1952 allows them): decode every member, under the same cap
            rest = self._obj.unused_data
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return out + self.feed(rest)
        return out

    def flush(self) -> bytes:
        if self._obj is None:
            return b""
        out: bytes = self._obj.flush()
        self.produced += len(out)
        if self.produced > self.limit:
            raise self._bomb()
        return out


class _Watchdog:
    """Shuts a request's socket down when its wall-clock budget is spent.

    The read timeout restarts with every byte, so a server that trickles its *headers* would otherwise hold a
    request for ever (the body loop checks the deadline itself). The socket comes from httpcore's trace hook
    when the connection is opened (the fetcher does not reuse connections).
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sock = sock

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class Fetcher:
    """Fetches feeds, pages and robots.txt; thread-safe; writes bodies to the archive when given one."""

    def __init__(
        self,
        options: FetchOptions,
        archive: Archive | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        resolver: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.options = options
        self.archive = archive
        self.guard = AddressGuard(options.allow_hosts, resolver)
        self._gate = _HostGate(options.per_host_concurrency, options.per_host_delay)
        self._robots: dict[str, tuple[float, RobotFileParser | None, str | None]] = {}
        self._robots_lock = threading.Lock()
        timeout = httpx.Timeout(
            connect=options.connect_timeout, read=options.read_timeout, write=options.read_timeout, pool=None
        )
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            transport=transport,
            # no keep-alive: every request opens its own connection, so the watchdog always holds its socket
            limits=httpx.Limits(max_keepalive_connections=0),
            trust_env=False,
            headers={
                "User-Agent": options.user_agent,
                "Accept-Encoding": "gzip, deflate",
            },
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- public -----------------------------------------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        kind: str,
        headers: Mapping[str, str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> Response:
        """GET ``url`` following redirects; raises FetchError/BlockedURL; 304 is returned, not raised."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.guard.check(url)
        if kind == "page" and self.options.respect_robots:
            self._check_robots(url)
        response = self._with_retries(url, kind, dict(headers or {}))
        if self.archive is not None and kind in ("feed", "page") and response.content:
            ref = self.archive.write(
                url=url,
                final_url=response.final_url,
                kind=kind,
                request_headers=response.request_headers,
                status=response.status,
                response_headers=response.headers,
                body=response.content,
                fetched_at=response.fetched_at,
                metadata=metadata,
            )
            response = replace(response, archive_ref=ref)
        return response

    # --- robots -----------------------------------------------------------------------------------------

    def robots_allowed(self, url: str) -> bool:
        """Whether robots.txt of ``url``'s host lets our user agent fetch it (fetched once per host)."""
        parser, _problem = self._robots_for(url)
        return parser is not None and parser.can_fetch(self.options.user_agent, url)

    def _robots_for(self, url: str) -> tuple[RobotFileParser | None, str | None]:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = time.monotonic()
        with self._robots_lock:
            cached = self._robots.get(origin)
        if cached is not None:
            # an unavailable robots.txt is asked for again sooner than a good one
            ttl = (
                self.options.robots_cache_seconds
                if cached[1] is not None
                else min(self.options.robots_cache_seconds, _ROBOTS_RETRY_SECONDS)
            )
            if now - cached[0] > ttl:
                cached = None
        if cached is None:
            parser, problem = self._load_robots(origin)
            cached = (now, parser, problem)
            with self._robots_lock:
                self._robots[origin] = cached
        return cached[1], cached[2]

    def _load_robots(self, origin: str) -> tuple[RobotFileParser | None, str | None]:
        robots_url = f"{origin}/robots.txt"
        parser = RobotFileParser(robots_url)
        try:
            response = self._with_retries(robots_url, "robots", {})
        except FetchError as exc:
            status = exc.reason.removeprefix("http_")
            if status.isdigit() and 400 <= int(status) < 500 and int(status) != 429:
                parser.parse([])  # RFC 9309: 4xx means no restrictions
                return parser, None
            # unreachable or 5xx: RFC 9309 says assume everything is disallowed (until the cache expires)
            logger.info("robots.txt of %s unavailable (%s): treating as disallow-all", origin, exc.reason)
            return None, exc.reason
        parser.parse(response.text().splitlines())
        return parser, None

    def _check_robots(self, url: str) -> None:
        parser, problem = self._robots_for(url)
        if parser is None:
            # temporary (5xx, unreachable, rate limited): not the permanent "robots_disallowed"
            raise BlockedURL(f"robots.txt unavailable ({problem})", reason="robots_unavailable", url=url)
        if not parser.can_fetch(self.options.user_agent, url):
            raise BlockedURL("robots.txt disallows this URL", reason="robots_disallowed", url=url)

    # --- attempts ---------------------------------------------------------------------------------------

    def _with_retries(self, url: str, kind: str, headers: dict[str, str]) -> Response:
        options = self.options

        def wait(retry_state: Any) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if isinstance(exc, _Transient) and exc.wait is not None:
                return exc.wait
            backoff = wait_exponential(multiplier=options.retry_backoff, max=30.0)(retry_state)
            return float(backoff)

        retrying = Retrying(
            stop=stop_after_attempt(max(1, options.retries + 1)),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._follow(url, kind, headers)
        except _Transient as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _follow(self, url: str, kind: str, headers: dict[str, str]) -> Response:
        seen: list[str] = []
        current = url
        for _hop in range(self.options.max_redirects + 1):
            if current in seen:
                raise FetchError(f"redirect loop after {len(seen)} hops", reason="redirect_loop", url=url)
            seen.append(current)
            if current != url:
                self.guard.check(current)
            result = self._attempt(url, current, kind, headers)
            if isinstance(result, Response):
                return result
            current = result
        raise FetchError(f"more than {self.options.max_redirects} redirects", reason="too_many_redirects", url=url)

    def _attempt(self, original: str, url: str, kind: str, headers: dict[str, str]) -> Response | str:
        """One request; returns the Response, or the next URL for a redirect."""
        options = self.options
        host = (urlsplit(url).hostname or "").lower()
        self._gate.acquire(host)
        deadline = time.monotonic() + options.total_timeout
        watchdog = _Watchdog(options.total_timeout)
        try:
            request = self._client.build_request("GET", url, headers=headers, extensions={"trace": watchdog.trace})
            try:
                raw = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                raise self._transport_error(exc, url, watchdog.fired) from exc
            try:
                result = self._handle(original, url, kind, request, raw, deadline)
                if watchdog.fired:
                    # the shut-down socket may look like a clean end of a close-delimited body: not complete
                    raise self._overtime(url)
                return result
            except FetchError as exc:
                if watchdog.fired and exc.reason == "connection_error":
                    raise self._overtime(url) from exc
                raise
            finally:
                raw.close()
        finally:
            watchdog.cancel()
            self._gate.release(host)

    def _transport_error(self, exc: httpx.TransportError, url: str, overtime: bool) -> Exception:
        """Map an httpx failure before the response headers to a FetchError (or a retryable _Transient)."""
        if overtime:
            return self._overtime(url)
        if isinstance(exc, httpx.ConnectTimeout):
            return _Transient(FetchError(f"connect timeout: {exc}", reason="timeout", url=url))
        if isinstance(exc, httpx.TimeoutException):
            return FetchError(f"timeout: {exc}", reason="timeout", url=url)
        if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError):
            return _Transient(FetchError(f"connection failed: {exc}", reason="connection_error", url=url))
        return FetchError(f"transport error: {exc}", reason="connection_error", url=url)

    def _overtime(self, url: str) -> FetchError:
        return FetchError(f"response took longer than {self.options.total_timeout}s", reason="timeout", url=url)

    def _handle(
        self,
        original: str,
        url: str,
        kind: str,
        request: httpx.Request,
        raw: httpx.Response,
        deadline: float,
    ) -> Response | str:
        options = self.options
        status = raw.status_code
        resp_headers = _lower_headers(raw.headers)
        fetched_at = datetime.now(UTC)
        if status in _REDIRECTS:
            location = resp_headers.get("location")
            if not location:
                raise FetchError(f"redirect {status} without Location", reason=f"http_{status}", url=url)
            return urljoin(url, location.strip())
        if status in (429, 503):
            retry_after = _retry_after_seconds(resp_headers.get("retry-after"))
            if retry_after is not None and retry_after > options.max_retry_after_wait:
                raise RateLimited(f"HTTP {status}, Retry-After {retry_after:.0f}s", retry_after=retry_after, url=url)
            if retry_after is not None:
                raise _Transient(
                    RateLimited(f"HTTP {status}, Retry-After {retry_after:.0f}s", retry_after=retry_after, url=url),
                    wait=retry_after,
                )
            if status == 503:
                raise _Transient(FetchError(f"HTTP {status}", reason=f"http_{status}", url=url))
            raise FetchError(f"HTTP {status}", reason=f"http_{status}", url=url)
        if status in _TRANSIENT:
            raise _Transient(FetchError(f"HTTP {status}", reason=f"http_{status}", url=url))
        if status == 304:
            return Response(
                url=original,
                final_url=url,
                status=status,
                headers=resp_headers,
                content=b"",
                fetched_at=fetched_at,
                kind=kind,
                request_headers=_lower_headers(request.headers),
            )
        if status >= 400 or status < 200:
            raise FetchError(f"HTTP {status}", reason=f"http_{status}", url=url)
        content_type = resp_headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "page" and content_type and content_type not in HTML_TYPES:
            raise FetchError(f"content type {content_type!r} is not HTML", reason="unsupported_content_type", url=url)
        declared = resp_headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > options.max_bytes:
            raise FetchError(f"Content-Length {declared} exceeds {options.max_bytes}", reason="too_large", url=url)
        body = self._read_body(raw, resp_headers.get("content-encoding", ""), url, deadline)
        if kind == "page" and not content_type and not _sniff_html(body):
            raise FetchError("no content type and not HTML", reason="unsupported_content_type", url=url)
        return Response(
            url=original,
            final_url=url,
            status=status,
            headers=resp_headers,
            content=body,
            fetched_at=fetched_at,
            kind=kind,
            request_headers=_lower_headers(request.headers),
        )

    def _read_body(self, raw: httpx.Response, encoding: str, url: str, deadline: float) -> bytes:
        options = self.options
        if raw.is_stream_consumed:
            # an in-memory transport (tests, MockTransport) hands over the decoded body at once
            body = raw.content
            if len(body) > options.max_decompressed_bytes:
                raise FetchError(f"body exceeds {options.max_bytes} bytes", reason="too_large", url=url)
            return body
        decoder = _Decoder(encoding, options.max_decompressed_bytes, url)
        received = 0
        parts: list[bytes] = []
        try:
            for chunk in _chunks(raw):
                received += len(chunk)
                if received > options.max_bytes:
                    raise FetchError(f"body exceeds {options.max_bytes} bytes", reason="too_large", url=url)
                if time.monotonic() > deadline:
                    raise FetchError(f"response took longer than {options.total_timeout}s", reason="timeout", url=url)
                parts.append(decoder.feed(chunk))
            parts.append(decoder.flush())
        except httpx.TimeoutException as exc:
            raise FetchError(f"read timeout: {exc}", reason="timeout", url=url) from exc
        except httpx.TransportError as exc:
            raise FetchError(f"connection broke: {exc}", reason="connection_error", url=url) from exc
        except zlib.error as exc:
            raise FetchError(f"corrupt {encoding} body: {exc}", reason="bad_encoding", url=url) from exc
        return b"".join(parts)


def _chunks(raw: httpx.Response) -> Iterator[bytes]:
    # no chunk_size: httpx would buffer up to it, and a trickling server would never reach the deadline check
    yield from raw.iter_raw()


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.multi_items():
        key = key.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--")) or b"<html" in head[:512]
