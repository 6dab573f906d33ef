"""The fetcher: one GET of an untrusted URL, guarded, bounded, polite, with its redirects and retries."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ingest.archive import Archive
from ingest.config import FetchOptions
from ingest.errors import (
    BadRedirect,
    BadURL,
    BlockedURL,
    ConnectionFailed,
    DNSError,
    FetchError,
    Gone,
    HTTPStatusError,
    IncompleteBody,
    NotFound,
    ProtocolViolation,
    RateLimited,
    RedirectError,
    ServerError,
    Timeout,
    TooLarge,
    UnsupportedContentType,
)
from ingest.fetching.body import Decoder, Watchdog
from ingest.fetching.guard import AddressGuard, PinnedTransport, Resolver
from ingest.fetching.politeness import HostGate, retry_after_seconds
from ingest.fetching.robots import FETCH_LIMIT_BYTES, RobotsCache
from ingest.response import HTML_TYPES, KINDS, Response, decode_body
from ingest.urls import absolute_location, clean_url, http_host, meta_refresh, same_site

logger = logging.getLogger(__name__)

_REDIRECTS = {301, 302, 303, 307, 308}
_RETRY_IN_PLACE = {502, 503, 504}
#: how h11 (through httpx) says the server closed before any response: a broken connection, not bad bytes
_HUNG_UP = "Server disconnected without sending a response"
#: how h11 says a body ended before its Content-Length or last chunk (any other body error is bad framing)
_CUT_SHORT = "peer closed connection without sending complete message body"
#: The statuses whose body is the whole resource (200 OK, 203 from a transforming proxy).
_FULL = {200, 203}
#: Request headers that carry credentials: the fetcher has none to send, so they never leave it.
SENSITIVE_REQUEST_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_VALIDATORS = ("if-none-match", "if-modified-since")
#: Response headers with one value (not a list): a repeat replaces, never joins.
_SINGLE_VALUED = frozenset(
    {"content-type", "content-length", "location", "etag", "last-modified", "retry-after", "date"}
)
#: How much of a page is decoded to look for a meta refresh.
_REFRESH_SCAN_BYTES = 65_536


class _Transient(Exception):
    """Internal: an attempt failed in a way worth retrying at once (tenacity's signal)."""

    def __init__(self, error: FetchError, wait: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait


class _Budget:
    """What is left of one ``get()``'s wall clock (``FetchOptions.get_timeout``), shared by its redirect hops,
    retries and their waits; time spent queueing at this process's own politeness gate is given back."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def _status_error(status: int, url: str) -> HTTPStatusError:
    cls: type[HTTPStatusError]
    if status == 404:
        cls = NotFound
    elif status == 410:
        cls = Gone
    elif status >= 500:
        cls = ServerError
    else:
        cls = HTTPStatusError
    return cls(f"HTTP {status}", status=status, url=url)


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    """Response headers by lower-case name, repeats joined with ", " (RFC 9110 5.3), except the headers that
    carry one value: sent twice (a proxy adding its own), the same value is one header, and of different values
    the last counts, as browsers read Content-Type (WHATWG Fetch); joined, they named no type at all."""
    out: dict[str, str] = {}
    for key, value in headers.multi_items():
        key = key.lower()
        if key in out and key not in _SINGLE_VALUED:
            value = f"{out[key]}, {value}"
        out[key] = value
    return out


def _locations(headers: httpx.Headers) -> set[str]:
    """The distinct Location values, read as UTF-8 as browsers do (else latin-1): httpx decodes all of a
    response's headers with one encoding, latin-1 as soon as any of them is not UTF-8."""
    found: set[str] = set()
    for key, value in headers.raw:
        if key.lower() == b"location":
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = value.decode("latin-1")
            found.add(text.strip())
    return found - {""}


def _safe_headers(headers: Mapping[str, str], url: str) -> dict[str, str]:
    """Caller headers that can go on the wire: no credentials, ASCII without control characters."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        if key.lower() in SENSITIVE_REQUEST_HEADERS:
            logger.warning("not sending the %s header to %s: the fetcher never sends credentials", key, url)
            continue
        if not (
            isinstance(value, str) and value.isascii() and value.isprintable() and key.isascii() and key.isprintable()
        ):
            logger.warning("dropping request header %r for %s: not printable ASCII", key, url)
            continue
        out[key] = value
    return out


#: Types that say "unknown" rather than what the body is (WHATWG MIME Sniffing's unknown types, and the
#: generic binary types misconfigured servers send for every file): the body decides, as in a browser.
_UNKNOWN_TYPES = frozenset(
    {"application/octet-stream", "binary/octet-stream", "application/unknown", "unknown/unknown", "*/*"}
)


def _sniff_html(body: bytes) -> bool:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--")) or b"<html" in head[:512]


class Fetcher:
    """Guarded, bounded, polite HTTP GETs; archives feed and page responses when given an archive.

    ``transport`` replaces the network (tests: ``httpx.MockTransport``); without it every connection goes
    through the pinned transport, which resolves each name once and connects to the address it vetted.
    ``resolver`` (host -> addresses) replaces DNS for the guard.
    """

    def __init__(
        self,
        options: FetchOptions,
        archive: Archive | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.options = options
        self.archive = archive
        self.guard = AddressGuard(options.allow_hosts, resolver)
        self._gate = HostGate(options.per_host_concurrency, options.per_host_delay)
        self._robots = RobotsCache(
            options.user_agent,
            options.robots_cache_seconds,
            lambda url: self._with_retries(url, "robots", {}, _Budget(options.get_timeout)),
        )
        self._timeout = httpx.Timeout(
            connect=options.connect_timeout, read=options.read_timeout, write=options.read_timeout, pool=None
        ).as_dict()
        # No httpx.Client: it would turn URL userinfo into Basic auth, keep a cookie jar across sites and build
        # the next request of every redirect itself (raising on a bad Location). Redirects are followed here.
        self._transport = transport or PinnedTransport(self.guard)
        self._default_headers = {"User-Agent": options.user_agent, "Accept-Encoding": "gzip, deflate"}

    def close(self) -> None:
        self._transport.close()

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
        """GET ``url`` following redirects (and, for pages, one same-site meta refresh).

        Raises a :class:`~ingest.errors.FetchError` family member, or :class:`~ingest.errors.BadURL`. A 304 is
        returned (not raised) when the request carried validators; to a request without, it is a ServerError.
        Userinfo is stripped from ``url`` before anything is sent, archived or returned.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        url = clean_url(url)
        self.guard.check(url, resolve=False)
        sent = _safe_headers(headers or {}, url)
        if kind == "page" and self.options.respect_robots:
            self._robots.check(url)
        budget = _Budget(self.options.get_timeout)
        response = self._with_retries(url, kind, sent, budget)
        if kind == "page" and self.options.follow_meta_refresh:
            response = self._follow_refresh(response, sent, budget)
        if self.archive is not None and kind in ("feed", "page") and response.content:
            response = replace(response, archive_ref=self.archive.write_response(response, metadata=metadata))
        return response

    def robots_allowed(self, url: str) -> bool:
        """Whether robots.txt of ``url``'s host lets our user agent fetch it (fetched once per host)."""
        return self._robots.allowed(clean_url(url))

    # --- meta refresh -----------------------------------------------------------------------------------

    def _follow_refresh(self, response: Response, headers: dict[str, str], budget: _Budget) -> Response:
        """One same-site ``<meta http-equiv=refresh>`` interstitial is followed (through the guard and robots);
        the target's own refresh is not."""
        if response.status != 200 or (response.content_type and response.content_type not in HTML_TYPES):
            return response
        head = decode_body(response.content[:_REFRESH_SCAN_BYTES], response.charset)
        refresh = meta_refresh(head, response.final_url)
        if refresh is None or refresh.delay > self.options.meta_refresh_max_delay:
            return response
        if not same_site(refresh.url, response.final_url):
            logger.info("not following the cross-site meta refresh of %s to %s", response.final_url, refresh.url)
            return response
        self.guard.check(refresh.url, resolve=False)
        if self.options.respect_robots:
            self._robots.check(refresh.url)
        logger.debug("following the meta refresh of %s to %s", response.final_url, refresh.url)
        target = self._with_retries(refresh.url, "page", headers, budget)
        return replace(target, url=response.url)

    # --- attempts ---------------------------------------------------------------------------------------

    def _with_retries(self, url: str, kind: str, headers: dict[str, str], budget: _Budget) -> Response:
        options = self.options

        def stop(retry_state: Any) -> bool:
            # no retry whose wait would end past the deadline: the last error is the answer
            attempts: bool = stop_after_attempt(max(1, options.retries + 1))(retry_state)
            return attempts or float(retry_state.upcoming_sleep) >= budget.left()

        def wait(retry_state: Any) -> float:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            if isinstance(exc, _Transient) and exc.wait is not None:
                return exc.wait
            backoff = wait_exponential(multiplier=options.retry_backoff, max=30.0)(retry_state)
            return float(backoff)

        retrying = Retrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._follow(url, kind, headers, budget)
        except _Transient as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _follow(self, url: str, kind: str, headers: dict[str, str], budget: _Budget) -> Response:
        seen: list[str] = []
        current = url
        for _hop in range(self.options.max_redirects + 1):
            if current in seen:
                raise RedirectError(f"redirect loop after {len(seen)} hops", reason="redirect_loop", url=url)
            seen.append(current)
            if current != url:
                self.guard.check(current, resolve=False)
                if kind == "page" and self.options.respect_robots:
                    self._robots.check(current)
            try:
                result = self._attempt(url, current, kind, headers, budget)
            except (BlockedURL, DNSError) as exc:
                if exc.url is None:  # raised where the connection is made, which knows only the host
                    exc.url = current
                raise
            if isinstance(result, Response):
                return result
            current = result
        raise RedirectError(f"more than {self.options.max_redirects} redirects", reason="too_many_redirects", url=url)

    def _attempt(
        self, original: str, url: str, kind: str, headers: dict[str, str], get_budget: _Budget
    ) -> Response | str:
        """One request; returns the Response, or the next URL for a redirect.

        Its wall clock is ``total_timeout``, or what is left of the ``get()``'s budget when that is less. The
        wait for the host's politeness gate is not counted: it is this process's own queue, not the server.
        """
        options = self.options
        host, _port = http_host(url)
        queued = time.monotonic()
        self._gate.acquire(host)
        get_budget.deadline += time.monotonic() - queued
        budget = min(options.total_timeout, get_budget.left())
        if budget <= 0:
            self._gate.release(host)
            raise self._overtime(url, get_budget.seconds)
        deadline = time.monotonic() + budget
        watchdog = Watchdog(budget)
        try:
            try:
                request = httpx.Request(
                    "GET",
                    url,
                    headers={**self._default_headers, **headers},
                    extensions={"timeout": self._timeout, "trace": watchdog.trace},
                )
            except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
                raise BadURL(f"cannot build a request: {exc}", url=url) from exc
            try:
                raw = self._transport.handle_request(request)
            except httpx.TransportError as exc:
                raise self._transport_error(exc, url, budget if watchdog.fired else None) from exc
            try:
                result = self._handle(original, url, kind, request, raw, deadline)
                if watchdog.fired:
                    # the shut-down socket may look like a clean end of a close-delimited body: not complete
                    raise self._overtime(url, budget)
                return result
            except (ConnectionFailed, IncompleteBody) as exc:
                if watchdog.fired:
                    raise self._overtime(url, budget) from exc
                raise
            finally:
                raw.close()
        finally:
            watchdog.cancel()
            self._gate.release(host)

    def _transport_error(self, exc: httpx.TransportError, url: str, overtime: float | None) -> Exception:
        """Map an httpx failure before the response headers to a FetchError (or a retryable _Transient);
        ``overtime`` is the budget when the watchdog cut the connection."""
        if overtime is not None:
            return self._overtime(url, overtime)
        if isinstance(exc, httpx.ConnectTimeout):
            return _Transient(Timeout(f"connect timeout: {exc}", url=url))
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(f"timeout: {exc}", url=url)
        if isinstance(exc, httpx.RemoteProtocolError) and not str(exc).startswith(_HUNG_UP):
            return ProtocolViolation(f"not an HTTP response: {exc}", url=url)
        if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError):
            return _Transient(ConnectionFailed(f"connection failed: {exc}", url=url))
        return ConnectionFailed(f"transport error: {type(exc).__name__}: {exc}", url=url)

    @staticmethod
    def _overtime(url: str, seconds: float) -> Timeout:
        return Timeout(f"response took longer than {seconds:.1f}s", url=url)

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
            locations = _locations(raw.headers)
            if not locations:
                raise BadRedirect(f"HTTP {status} without a Location", url=url)
            if len(locations) > 1:  # which one? browsers refuse too
                raise BadRedirect(f"HTTP {status} with {len(locations)} different Locations", url=url)
            return absolute_location(locations.pop(), url)
        if status in (429, 503):
            retry_after = retry_after_seconds(resp_headers.get("retry-after"))
            if retry_after is not None:
                message = f"HTTP {status}, Retry-After {retry_after:.0f}s"
                limited = RateLimited(message, retry_after=retry_after, url=url)
                if retry_after > options.max_retry_after_wait:
                    raise limited
                raise _Transient(limited, wait=retry_after)
        if status in _RETRY_IN_PLACE:
            raise _Transient(_status_error(status, url))
        sent_headers = _lower_headers(request.headers)
        if status == 304:
            if not any(name in sent_headers for name in _VALIDATORS):
                # nothing to be "not modified" against: a broken cache or server, not an empty page
                raise ServerError("304 Not Modified to a request without validators", status=304, url=url)
            return Response(
                url=original,
                final_url=url,
                status=status,
                headers=resp_headers,
                content=b"",
                fetched_at=fetched_at,
                kind=kind,
                request_headers=sent_headers,
            )
        if status not in _FULL:
            # an error, or a status that carries no whole page: 204 No Content, 206 Partial Content (no Range
            # was asked for), 300 Multiple Choices and the other 3xx that are not redirects
            raise _status_error(status, url)
        content_type = resp_headers.get("content-type", "").split(";")[0].strip().lower()
        sniffed = not content_type or content_type in _UNKNOWN_TYPES
        if kind == "page" and not sniffed and content_type not in HTML_TYPES:
            raise UnsupportedContentType(f"content type {content_type!r} is not HTML", url=url)
        # robots.txt is read up to its parsing limit and the rest left unread (RFC 9309 2.5), never refused
        keep = FETCH_LIMIT_BYTES if kind == "robots" else None
        declared = resp_headers.get("content-length", "").strip()
        if keep is None and declared.isascii() and declared.isdigit() and int(declared) > options.max_bytes:
            raise TooLarge(f"Content-Length {declared} exceeds {options.max_bytes}", url=url)
        body = self._read_body(raw, resp_headers.get("content-encoding", ""), url, deadline, keep)
        if kind == "page" and sniffed and not _sniff_html(body):
            raise UnsupportedContentType(f"content type {content_type or '(none)'!r} and not HTML", url=url)
        return Response(
            url=original,
            final_url=url,
            status=status,
            headers=resp_headers,
            content=body,
            fetched_at=fetched_at,
            kind=kind,
            request_headers=sent_headers,
        )

    def _read_body(
        self, raw: httpx.Response, encoding: str, url: str, deadline: float, keep: int | None = None
    ) -> bytes:
        """The decoded body, bounded by the byte caps; with ``keep``, its first ``keep`` bytes and the rest
        left unread (the connection is closed with the response, not drained)."""
        options = self.options
        if raw.is_stream_consumed:
            # an in-memory transport (tests, MockTransport) hands over the decoded body at once
            body = raw.content
            if keep is not None:
                return body[:keep]
            if len(body) > options.max_decompressed_bytes:
                raise TooLarge(f"body exceeds {options.max_bytes} bytes", url=url)
            return body
        decoder = Decoder(encoding, options.max_decompressed_bytes, url)
        received = 0
        decoded = 0
        parts: list[bytes] = []
        try:
            # no chunk_size: httpx would buffer up to it, and a trickling server would never reach the deadline
            for chunk in raw.iter_raw():
                received += len(chunk)
                if received > options.max_bytes:
                    raise TooLarge(f"body exceeds {options.max_bytes} bytes", url=url)
                if time.monotonic() > deadline:
                    raise self._overtime(url, options.total_timeout)
                part = decoder.feed(chunk)
                parts.append(part)
                decoded += len(part)
                if keep is not None and decoded >= keep:
                    return b"".join(parts)[:keep]
            parts.append(decoder.flush())
        except httpx.TimeoutException as exc:
            raise Timeout(f"read timeout: {exc}", url=url) from exc
        except httpx.RemoteProtocolError as exc:
            if not str(exc).startswith(_CUT_SHORT):  # an illegal chunk size or footer: bytes that are not HTTP
                raise ProtocolViolation(f"not an HTTP response (its body's framing): {exc}", url=url) from exc
            raise IncompleteBody(f"body cut short: {exc}", url=url) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"connection broke: {type(exc).__name__}: {exc}", url=url) from exc
        return b"".join(parts)
