"""The fetcher against the local misbehaving server (127.0.0.1 only, allow-listed per port).

Tests share one module-scoped server; each uses its own paths (or counts differences on its own paths), so
they pass in any order.
"""

from __future__ import annotations

import gzip
import itertools
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from evaluation import hostile
from evaluation.faultserver import Bystander, FaultServer
from ingest.archive import Archive
from ingest.config import ArchiveOptions, FetchOptions
from ingest.errors import (
    BadRedirect,
    BadURL,
    BlockedURL,
    FetchError,
    IncompleteBody,
    ProtocolViolation,
    RobotsDisallowed,
    RobotsUnavailable,
    ServerError,
    Timeout,
    TooLarge,
)
from ingest.fetching import AddressGuard, Fetcher, RateLimited, Response, decode_body
from ingest.fetching.body import Decoder

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        srv.settings.slow_seconds = 2.0
        srv.settings.trickle_interval = 0.1
        srv.settings.trickle_max_seconds = 8.0
        yield srv


@pytest.fixture(scope="module")
def fast(server: FaultServer) -> FetchOptions:
    """Short timeouts; only the fault server's own host:port is allow-listed."""
    return FetchOptions(
        allow_hosts=(server.base_url.split("://", 1)[1],),
        connect_timeout=2.0,
        read_timeout=1.0,
        total_timeout=2.0,
        per_host_delay=0.0,
        retries=1,
        retry_backoff=0.01,
        max_retry_after_wait=2.0,
    )


@pytest.fixture
def fetcher(fast: FetchOptions) -> Iterator[Fetcher]:
    with Fetcher(fast) as f:
        yield f


_NUMBERS = itertools.count(20_000)


def unique(prefix: str) -> str:
    """A path of its own for one test (numeric: the server's page routes take numbers)."""
    return f"{prefix}{next(_NUMBERS)}"


def requests_since(server: FaultServer, mark: int) -> list[str]:
    with server.settings.lock:
        return list(server.settings.request_log[mark:])


def log_mark(server: FaultServer) -> int:
    with server.settings.lock:
        return len(server.settings.request_log)


def reason_of(fetcher: Fetcher, url: str, kind: str = "page") -> str:
    with pytest.raises(FetchError) as info:
        fetcher.get(url, kind=kind)
    return info.value.reason


def test_good_page(server: FaultServer, fetcher: Fetcher, fast: FetchOptions) -> None:
    response = fetcher.get(server.url("articles/1.html"), kind="page")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    assert "<article>" in response.text()
    assert response.fetched_at.tzinfo is not None
    assert response.headers["content-type"].startswith("text/html")
    assert response.request_headers["user-agent"] == fast.user_agent


@pytest.mark.parametrize("code", [404, 410, 500])
def test_http_errors_have_status_reason(server: FaultServer, fetcher: Fetcher, code: int) -> None:
    assert reason_of(fetcher, server.url(f"status/{code}")) == f"http_{code}"


def test_503_is_retried_then_reported(server: FaultServer, fetcher: Fetcher, fast: FetchOptions) -> None:
    before = server.requests["/status/503"]
    assert reason_of(fetcher, server.url("status/503")) == "http_503"
    assert server.requests["/status/503"] - before == fast.retries + 1


def test_flaky_503_recovers_with_retry(server: FaultServer, fetcher: Fetcher) -> None:
    key = unique("k")
    response = fetcher.get(server.url(f"flaky/{key}"), kind="page")
    assert response.status == 200
    assert server.requests[f"/flaky/{key}"] == 2


def test_long_retry_after_raises_rate_limited(server: FaultServer, fetcher: Fetcher) -> None:
    with pytest.raises(RateLimited) as info:
        fetcher.get(server.url("retry-after/3600"), kind="feed")
    assert info.value.reason == "rate_limited"
    assert info.value.retry_after == pytest.approx(3600)
    assert not info.value.permanent


def test_short_retry_after_is_waited_out(server: FaultServer, fetcher: Fetcher) -> None:
    started = time.monotonic()
    response = fetcher.get(server.url("retry-once/1"), kind="page")
    assert response.status == 200
    assert time.monotonic() - started >= 0.9


def test_slow_server_times_out(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("slow")) == "timeout"


def test_trickling_server_hits_wall_clock(server: FaultServer, fetcher: Fetcher, fast: FetchOptions) -> None:
    started = time.monotonic()
    assert reason_of(fetcher, server.url("trickle")) == "timeout"
    assert time.monotonic() - started < fast.total_timeout + 2


def test_trickled_headers_hit_wall_clock(server: FaultServer, fetcher: Fetcher, fast: FetchOptions) -> None:
    started = time.monotonic()
    assert reason_of(fetcher, server.url("trickle-headers")) == "timeout"
    assert time.monotonic() - started < fast.total_timeout + 2


def test_connection_reset(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("reset")) == "connection_error"


def test_redirect_loop(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("loop/a")) == "redirect_loop"


def test_redirect_cap(server: FaultServer, fetcher: Fetcher, fast: FetchOptions) -> None:
    assert reason_of(fetcher, server.url(f"redirect/{fast.max_redirects + 1}")) == "too_many_redirects"
    ok = fetcher.get(server.url(f"redirect/{fast.max_redirects}"), kind="page")
    assert ok.final_url == server.url("articles/0.html")
    assert ok.url == server.url(f"redirect/{fast.max_redirects}")


def test_redirect_to_private_address_is_refused(server: FaultServer, fetcher: Fetcher) -> None:
    with pytest.raises(BlockedURL) as info:
        fetcher.get(server.url("redirect-to-metadata"), kind="page")
    assert info.value.reason == "blocked_address"
    with pytest.raises(BlockedURL) as info2:
        fetcher.get(server.url("redirect-to-file"), kind="page")
    assert info2.value.reason == "blocked_scheme"


@pytest.mark.parametrize("kind", ["javascript", "mailto", "about", "http-no-host", "bad-port", "bad-ipv6", "data"])
def test_redirect_to_unfetchable_location_is_bad_redirect(server: FaultServer, fetcher: Fetcher, kind: str) -> None:
    with pytest.raises(BadRedirect) as info:
        fetcher.get(server.url(f"to/{kind}"), kind="page")
    assert info.value.reason == "bad_redirect"
    assert info.value.permanent


@pytest.mark.parametrize("path", ["big", "big-declared"])
def test_size_cap(server: FaultServer, fetcher: Fetcher, path: str) -> None:
    assert reason_of(fetcher, server.url(path)) == "too_large"


def test_gzip_bomb(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("gzip-bomb")) == "decompression_bomb"


def test_gzip_body_is_decoded(server: FaultServer, fetcher: Fetcher) -> None:
    response = fetcher.get(server.url("gzip-ok"), kind="page")
    assert response.content.startswith(b"<!DOCTYPE html>")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_truncated_compressed_body_is_a_transient_error(server: FaultServer, fetcher: Fetcher, encoding: str) -> None:
    with pytest.raises(IncompleteBody) as info:
        fetcher.get(server.url(f"truncated/{encoding}/7.html"), kind="page")
    assert info.value.reason == "incomplete_body"
    assert not info.value.permanent


def test_304_without_validators_is_a_transient_error(server: FaultServer, fetcher: Fetcher) -> None:
    with pytest.raises(ServerError) as info:
        fetcher.get(server.url("status/304"), kind="page")
    assert info.value.reason == "http_304"
    assert not info.value.permanent


@pytest.mark.parametrize("path", ["type/pdf", "type/json", "type/png", "type/octet-png"])
def test_non_html_pages_refused(server: FaultServer, fetcher: Fetcher, path: str) -> None:
    assert reason_of(fetcher, server.url(path)) == "unsupported_content_type"


def test_an_article_sent_as_octet_stream_is_sniffed_not_lost(server: FaultServer, fetcher: Fetcher) -> None:
    """``application/octet-stream`` says "unknown", not "not HTML": the body decides, as in a browser (it was a
    permanent unsupported_content_type skip of a good article)."""
    response = fetcher.get(server.url("type/octet-html/5.html"), kind="page")
    assert response.status == 200 and b"<article>" in response.content


# --- retry or skip: the class of each failure says whether a later attempt can help ----------------------


@pytest.mark.parametrize(
    ("path", "kind", "reason", "permanent"),
    [
        ("status/404", "page", "http_404", True),
        ("status/410", "page", "http_410", True),
        ("status/403", "page", "http_403", False),
        ("status/500", "page", "http_500", False),
        ("status/503", "page", "http_503", False),
        ("status/304", "page", "http_304", False),
        ("retry-after/3600", "page", "rate_limited", False),
        ("slow", "page", "timeout", False),
        ("reset", "page", "connection_error", False),
        ("malformed/status-line/1", "page", "protocol_error", False),
        ("truncated/gzip/8.html", "page", "incomplete_body", False),
        ("big", "page", "too_large", True),
        ("gzip-bomb", "page", "decompression_bomb", True),
        ("type/pdf", "page", "unsupported_content_type", True),
        ("private/4.html", "page", "robots_disallowed", True),
        ("redirect-to-metadata", "page", "blocked_address", True),
        ("redirect-to-file", "page", "blocked_scheme", True),
        ("loop/a", "page", "redirect_loop", True),
        ("redirect/9", "page", "too_many_redirects", True),
        ("to/javascript", "page", "bad_redirect", True),
    ],
)
def test_retry_or_skip_per_family(
    server: FaultServer, fetcher: Fetcher, path: str, kind: str, reason: str, permanent: bool
) -> None:
    with pytest.raises(FetchError) as info:
        fetcher.get(server.url(path), kind=kind)
    assert info.value.reason == reason
    assert info.value.permanent is permanent
    assert type(info.value).permanent is permanent  # a class attribute, not a computed property


@pytest.mark.parametrize("kind", sorted(hostile.MALFORMED_RESPONSES))
def test_bytes_that_are_not_http_are_a_protocol_error_asked_once(
    server: FaultServer, fetcher: Fetcher, kind: str
) -> None:
    """A server that answers with an illegal status or header line, or lengths that contradict each other, is
    broken, not unreachable: ``protocol_error`` (it was ``connection_error``, asked three times for
    the same bytes). A server that hangs up before answering stays a ``connection_error`` (the reset cases)."""
    path = f"malformed/{kind}/2"
    before = server.requests[f"/{path}"]
    with pytest.raises(ProtocolViolation) as info:
        fetcher.get(server.url(path), kind="page")
    assert info.value.reason == "protocol_error" and not info.value.permanent
    assert "not an HTTP response" in str(info.value)
    assert server.requests[f"/{path}"] - before == 1


def test_robots_unavailable_is_transient(fast: FetchOptions, server: FaultServer) -> None:
    with FaultServer() as own:
        own.settings.robots_status = 503
        options = replace(fast, allow_hosts=(own.base_url.split("://", 1)[1],))
        with Fetcher(options) as f, pytest.raises(RobotsUnavailable) as info:
            f.get(own.url("private/3.html"), kind="page")
    assert info.value.reason == "robots_unavailable"
    assert not info.value.permanent


# --- robots -----------------------------------------------------------------------------------------------


def test_robots_disallow(server: FaultServer, fetcher: Fetcher) -> None:
    page = unique("/private/") + ".html"
    with pytest.raises(RobotsDisallowed) as info:
        fetcher.get(server.url(page), kind="page")
    assert info.value.reason == "robots_disallowed"
    assert server.requests[page] == 0
    before = server.requests["/robots.txt"]
    # robots.txt is fetched once per host and fetcher (already, above); feeds are not subject to it
    fetcher.get(server.url("articles/2.html"), kind="page")
    fetcher.get(server.url(page), kind="feed")
    assert server.requests["/robots.txt"] == before
    assert server.requests[page] == 1


@pytest.mark.parametrize("status", [404, 403])
def test_robots_4xx_means_no_restrictions(fast: FetchOptions, status: int) -> None:
    with FaultServer() as own:
        own.settings.robots_status = status
        options = replace(fast, allow_hosts=(own.base_url.split("://", 1)[1],))
        with Fetcher(options) as f:
            assert f.get(own.url("private/3.html"), kind="page").status == 200


def test_robots_can_be_ignored(server: FaultServer, fast: FetchOptions) -> None:
    with Fetcher(replace(fast, respect_robots=False)) as f:
        assert f.get(server.url(unique("private/") + ".html"), kind="page").status == 200


def test_robots_parse_ignores_lines_urllib_chokes_on() -> None:
    from ingest.fetching.robots import parse_robots

    rules = parse_robots("User-agent: *\nCrawl-delay: \u00b2\nRequest-rate: \u00b9/\u00b2\nDisallow: /private/\n")
    assert not rules.can_fetch("bot", "http://h.example/private/x")
    assert rules.can_fetch("bot", "http://h.example/public")


def test_robots_parse_stops_after_500_kib() -> None:
    """RFC 9309 lets a crawler stop after 500 KiB; past it urllib's parser costs seconds and every URL check tens
    of milliseconds (a 10 MB file, measured), so the rest is not read: rules there do not apply."""
    from ingest.fetching.robots import PARSE_LIMIT_CHARS, parse_robots

    filler = "".join(f"Disallow: /archive/{i}/\n" for i in range(60_000))  # about 1.3 MB
    assert len(filler) > 2 * PARSE_LIMIT_CHARS
    rules = parse_robots("User-agent: *\nDisallow: /early/\n" + filler + "Disallow: /late/\n")
    assert not rules.can_fetch("bot", "http://h.example/early/x")
    assert not rules.can_fetch("bot", "http://h.example/archive/7/x")  # within the limit
    assert rules.can_fetch("bot", "http://h.example/archive/59999/x")  # past it
    assert rules.can_fetch("bot", "http://h.example/late/x")
    (entry,) = [rules.default_entry] if rules.default_entry else rules.entries
    assert len(entry.rulelines) < PARSE_LIMIT_CHARS // len("Disallow: /archive/1/\n")
    assert all(line.path.startswith(("/early/", "/archive/")) for line in entry.rulelines)  # no cut line


# --- text -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("charset/latin1-nocharset.html", "Größere Änderungen im Straßenverkehr"),
        ("charset/cp1252-meta.html", "\u201cSmart quotes\u201d and the \u20ac sign \u2014"),
        ("charset/cp1252-wrong-header.html", "\u201cSmart quotes\u201d and the \u20ac sign \u2014"),
        ("charset/cp1252-as-utf8.html", "En España y en São Paulo, el niño vio el cañón"),
    ],
)
def test_charsets_decode_right(server: FaultServer, fetcher: Fetcher, path: str, expected: str) -> None:
    text = fetcher.get(server.url(path), kind="page").text()
    assert expected in text
    assert "\ufffd" not in text


def test_utf8_page_with_a_stray_byte_stays_utf8(server: FaultServer, fetcher: Fetcher) -> None:
    text = fetcher.get(server.url("charset/utf8-stray-byte.html"), kind="page").text()
    assert "Größere Änderungen im Straßenverkehr" in text
    assert text.count("\ufffd") == 1


def test_decode_body_prefers_utf8_over_lying_latin1_label() -> None:
    assert decode_body("Köln – “quoted”".encode(), "iso-8859-1") == "Köln – “quoted”"
    assert decode_body("Köln".encode("latin-1"), None) == "Köln"
    assert decode_body(b"\xef\xbb\xbfhello", "iso-8859-1") == "hello"


def test_conditional_get_returns_304(server: FaultServer, fetcher: Fetcher) -> None:
    first = fetcher.get(server.url("conditional/feed.xml"), kind="feed")
    assert first.status == 200 and first.headers["etag"] == '"v1"'
    second = fetcher.get(server.url("conditional/feed.xml"), kind="feed", headers={"If-None-Match": '"v1"'})
    assert second.not_modified
    assert second.content == b""


# --- meta refresh -----------------------------------------------------------------------------------------


def test_same_site_meta_refresh_is_followed_and_archived(
    server: FaultServer, fast: FetchOptions, tmp_path: Path
) -> None:
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive, Fetcher(fast, archive) as f:
        response = f.get(server.url("interstitial/40.html"), kind="page", metadata={"feed": "x"})
        assert response.url == server.url("interstitial/40.html")
        assert response.final_url == server.url("articles/40.html")
        assert "<article>" in response.text()
        assert response.archive_ref is not None
        since = response.fetched_at - timedelta(seconds=1)
        replayed = list(archive.replay(since, datetime.now(UTC) + timedelta(seconds=1), kind="page"))
    assert [(r.url, r.final_url) for r, _ in replayed] == [(response.url, response.final_url)]


def test_cross_site_meta_refresh_is_not_followed(server: FaultServer, fetcher: Fetcher) -> None:
    response = fetcher.get(server.url("interstitial-external"), kind="page")
    assert response.final_url == server.url("interstitial-external")
    assert "You are being redirected" in response.text()


def test_meta_refresh_can_be_switched_off(server: FaultServer, fast: FetchOptions) -> None:
    with Fetcher(replace(fast, follow_meta_refresh=False)) as f:
        response = f.get(server.url("interstitial/41.html"), kind="page")
    assert response.final_url == server.url("interstitial/41.html")


def test_meta_refresh_target_goes_through_the_guard(fast: FetchOptions) -> None:
    with FaultServer() as own, Bystander() as bystander:
        own.settings.bystander_url = bystander.base_url  # same host, another port: same site, not allowed
        options = replace(fast, allow_hosts=(own.base_url.split("://", 1)[1],))
        with Fetcher(options) as f, pytest.raises(BlockedURL):
            f.get(own.url("interstitial-bystander"), kind="page")
        assert bystander.hits == []


# --- no leaks ---------------------------------------------------------------------------------------------


def test_userinfo_is_never_sent_archived_or_returned(server: FaultServer, fast: FetchOptions, tmp_path: Path) -> None:
    mark = log_mark(server)
    secret = hostile.USERINFO_SECRET
    url = server.url("articles/42.html").replace("://", f"://{hostile.USERINFO_USER}:{secret}@")
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive, Fetcher(fast, archive) as f:
        response = f.get(url, kind="page")
        redirected = f.get(server.url("to/userinfo/43.html"), kind="page")
    assert response.url == server.url("articles/42.html") and "@" not in response.final_url
    assert redirected.final_url == server.url("articles/43.html")
    sent = "\n".join(requests_since(server, mark))
    assert "/articles/42.html" in sent and "/articles/43.html" in sent
    assert all(form not in sent for form in hostile.secret_forms())
    assert "authorization" not in sent.lower()
    stored = b"".join(gzip.decompress(p.read_bytes()) for p in tmp_path.rglob("*.warc.gz"))
    assert secret.encode() not in stored and b"authorization" not in stored.lower()


def test_cookies_are_neither_kept_nor_archived(server: FaultServer, fast: FetchOptions, tmp_path: Path) -> None:
    mark = log_mark(server)
    with Archive(ArchiveOptions(root=str(tmp_path))) as archive, Fetcher(fast, archive) as f:
        f.get(server.url("cookie/44.html"), kind="page")
        f.get(server.url("articles/45.html"), kind="page")
        f.get(server.url("cookie/46.html"), kind="page", headers={"Cookie": "a=b", "Authorization": "Basic eA=="})
    header_names = [line.split(":")[0].lower() for r in requests_since(server, mark) for line in r.splitlines()[1:]]
    assert "cookie" not in header_names and "authorization" not in header_names
    assert hostile.COOKIE_SECRET not in "\n".join(requests_since(server, mark))
    stored = b"".join(gzip.decompress(p.read_bytes()) for p in tmp_path.rglob("*.warc.gz")).lower()
    assert hostile.COOKIE_SECRET.lower().encode() not in stored
    assert b"set-cookie" not in stored and b"authorization" not in stored


def test_allow_list_admits_only_its_host_port_pairs(fetcher: Fetcher) -> None:
    with Bystander() as bystander:
        with pytest.raises(BlockedURL) as info:
            fetcher.get(f"{bystander.base_url}/admin", kind="feed")
        assert info.value.reason == "blocked_address"
        assert bystander.hits == []


def test_redirect_to_another_local_service_is_refused(server: FaultServer, fast: FetchOptions) -> None:
    with FaultServer() as own, Bystander() as bystander:
        own.settings.bystander_url = bystander.base_url
        options = replace(fast, allow_hosts=(own.base_url.split("://", 1)[1],))
        with Fetcher(options) as f, pytest.raises(BlockedURL):
            f.get(own.url("to/bystander"), kind="page")
        assert bystander.hits == []


def test_default_options_refuse_loopback(server: FaultServer) -> None:
    mark = log_mark(server)
    with Fetcher(FetchOptions()) as f, pytest.raises(BlockedURL):
        f.get(server.url("articles/1.html"), kind="feed")
    assert requests_since(server, mark) == []


# --- pinning and IDNA: the name is resolved once, the vetted address is the one connected to ----------------


class CountingResolver:
    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


def test_name_is_resolved_once_and_the_vetted_address_is_used(server: FaultServer, fast: FetchOptions) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    # a rebinding resolver: first the allowed loopback address, then the metadata service
    resolver = CountingResolver(["127.0.0.1"], ["169.254.169.254"])
    options = replace(fast, allow_hosts=(f"127.0.0.1:{port}",), respect_robots=False)
    mark = log_mark(server)
    with Fetcher(options, resolver=resolver) as f:
        response = f.get(f"http://rebind.test:{port}/articles/47.html", kind="page")
        assert response.status == 200
        assert resolver.asked == ["rebind.test"]  # once: the check and the connection share the answer
        with pytest.raises(BlockedURL):
            f.get(f"http://rebind.test:{port}/articles/48.html", kind="page")
    sent = requests_since(server, mark)
    assert len(sent) == 1 and "/articles/47.html" in sent[0]
    assert f"host: rebind.test:{port}" in sent[0].lower()  # the Host header keeps the name


def test_one_idna_encoding_for_check_and_connection(server: FaultServer, fast: FetchOptions) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    resolver = CountingResolver(["127.0.0.1"])
    options = replace(fast, allow_hosts=(f"127.0.0.1:{port}",), respect_robots=False)
    mark = log_mark(server)
    with Fetcher(options, resolver=resolver) as f:
        f.get(f"http://straße.example:{port}/articles/49.html", kind="page")
    assert resolver.asked == ["xn--strae-oqa.example"]  # IDNA 2008, as httpx sends it; never strasse.example
    assert f"host: xn--strae-oqa.example:{port}" in requests_since(server, mark)[0].lower()


def test_names_resolving_to_private_addresses_are_refused_before_connecting(fast: FetchOptions) -> None:
    resolver = CountingResolver(["93.184.215.14", "10.0.0.7"])
    with Fetcher(fast, resolver=resolver) as f, pytest.raises(BlockedURL) as info:
        f.get("http://mixed.test/x", kind="feed")
    assert info.value.reason == "blocked_address"


def test_unresolvable_name_is_a_dns_error(fast: FetchOptions) -> None:
    def resolver(host: str) -> list[str]:
        raise OSError("no such host")

    with Fetcher(fast, resolver=resolver) as f, pytest.raises(FetchError) as info:
        f.get("http://nowhere.test/x", kind="feed")
    assert info.value.reason == "dns_error"
    assert not info.value.permanent


# --- the guard ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://localhost/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",  # Teredo
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b:1::808:808]/",  # local-use NAT64 prefix
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://intranet.local/",
        "http://db.internal/",
    ],
)
def test_ssrf_guard_blocks_non_public_addresses(url: str) -> None:
    guard = AddressGuard(resolver=lambda host: pytest.fail(f"no lookup expected for {host}"))
    with pytest.raises(BlockedURL) as info:
        guard.check(url)
    assert info.value.reason == "blocked_address"


@pytest.mark.parametrize("url", ["http://93.184.215.14/", "http://[2606:4700::1111]/", "http://[64:ff9b::808:808]/"])
def test_ssrf_guard_lets_public_addresses_through(url: str) -> None:
    assert AddressGuard().check(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x/", "data:,x", "javascript:x"])
def test_ssrf_guard_blocks_schemes(url: str) -> None:
    with pytest.raises(BlockedURL) as info:
        AddressGuard().check(url)
    assert info.value.reason == "blocked_scheme"


@pytest.mark.parametrize("url", ["http://[::1/", "http://h.example:99999/", "http://exa mple.com/"])
def test_ssrf_guard_refuses_malformed_urls_as_bad_url(url: str) -> None:
    with pytest.raises(BadURL):
        AddressGuard().check(url)


def test_ssrf_guard_resolves_names_and_honours_allow_list() -> None:
    evil = AddressGuard(resolver=lambda host: ["127.0.0.1"])
    with pytest.raises(BlockedURL):
        evil.check("http://rebinding.example/")
    AddressGuard(resolver=lambda host: ["93.184.215.14"]).check("http://example.org/")
    AddressGuard(("10.0.0.0/8",)).check("http://10.9.9.9/")
    AddressGuard(("intranet.example",), resolver=lambda host: ["10.0.0.5"]).check("http://intranet.example/")


@pytest.mark.parametrize(
    ("entry", "allowed", "refused"),
    [
        ("127.0.0.1:8765", ["http://127.0.0.1:8765/x", "http://[::ffff:127.0.0.1]:8765/"], ["http://127.0.0.1/"]),
        ("127.0.0.1", ["http://127.0.0.1:1/", "http://127.0.0.1:9200/"], ["http://127.0.0.2/"]),
        ("10.0.0.0/8:443", ["https://10.1.2.3/"], ["http://10.1.2.3/", "https://10.1.2.3:8443/"]),
        ("[::1]:8080", ["http://[::1]:8080/"], ["http://[::1]:8081/"]),
        ("[fd00::/8]:80", ["http://[fd12::1]/"], ["http://[fd12::1]:81/"]),
        ("intranet.example:8443", ["https://intranet.example:8443/"], ["https://intranet.example/"]),
        ("straße.example", ["http://straße.example/", "http://xn--strae-oqa.example/"], ["http://strasse.example/"]),
    ],
)
def test_allow_list_entries(entry: str, allowed: list[str], refused: list[str]) -> None:
    guard = AddressGuard((entry,), resolver=lambda host: ["10.0.0.5"])
    for url in allowed:
        guard.check(url)
    for url in refused:
        with pytest.raises(BlockedURL):
            guard.check(url)


@pytest.mark.parametrize("entry", ["127.0.0.1:0", "127.0.0.1:99999", "host:http", "[::1", "[::1]x", ":80", "a b"])
def test_bad_allow_list_entries_are_configuration_errors(entry: str) -> None:
    from ingest.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        AddressGuard((entry,))


# --- politeness, mock transport, archive --------------------------------------------------------------------


def test_per_host_delay_spaces_requests(server: FaultServer, fast: FetchOptions) -> None:
    options = replace(fast, per_host_delay=0.3, per_host_concurrency=4)
    with Fetcher(options) as f:
        started = time.monotonic()
        threads = [
            threading.Thread(target=f.get, args=(server.url(f"articles/{i}.html"),), kwargs={"kind": "feed"})
            for i in range(30, 34)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.monotonic() - started >= 0.9  # 4 starts, 0.3 s apart


def test_mock_transport_and_archive(tmp_path: Path, fast: FetchOptions) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(b"<html><body>hello</body></html>")
        return httpx.Response(200, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}, content=body)

    options = replace(fast, allow_hosts=("news.example",), respect_robots=False)
    with (
        Archive(ArchiveOptions(root=str(tmp_path))) as archive,
        Fetcher(options, archive, transport=httpx.MockTransport(handler)) as f,
    ):
        response = f.get("http://news.example/a?x=1", kind="page", metadata={"feed": "demo"})
        assert response.archive_ref is not None
        assert Path(response.archive_ref.path).exists()
        start = response.fetched_at - timedelta(seconds=1)
        replayed = list(archive.replay(start, datetime.now(UTC) + timedelta(seconds=1)))
    assert len(replayed) == 1
    copy, metadata = replayed[0]
    assert isinstance(copy, Response)
    assert copy.content == b"<html><body>hello</body></html>"
    assert copy.final_url == "http://news.example/a?x=1"
    assert metadata == {"feed": "demo"}
    assert copy.content_type == "text/html"


def test_hostile_header_values_are_not_sent(fast: FetchOptions) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "application/rss+xml"}, content=b"<rss/>")

    options = replace(fast, allow_hosts=("news.example",))
    with Fetcher(options, transport=httpx.MockTransport(handler)) as f:
        f.get("http://news.example/feed", kind="feed", headers={"If-None-Match": '"caf\u00e9"', "X-Ok": "1"})
    assert "if-none-match" not in seen[0].headers and seen[0].headers["x-ok"] == "1"


def test_bad_urls_are_bad_url_skips(fetcher: Fetcher) -> None:
    for url in ("http://127.0.0.1:99999/", "http://[::1/x", "http://a\x00b/", "http:foo"):
        with pytest.raises(BadURL) as info:
            fetcher.get(url, kind="page")
        assert info.value.reason == "bad_url" and info.value.permanent


def _numeric_resolver(host: str) -> list[str]:
    """What the C library makes of numeric host forms (``0x7f.1``, ``2130706433``, ``127.1``), never DNS."""
    return [socket.inet_ntoa(socket.inet_aton(host))]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/",
        "http://[::ffff:127.0.0.1]:8765/",  # IPv4-mapped: the same host
        "http://[0:0:0:0:0:ffff:7f00:1]:8765/",
        "http://0x7f.1:8765/",
        "http://2130706433:8765/",
        "http://127.1:8765/",
    ],
)
def test_allow_list_entry_admits_every_spelling_of_its_address(url: str) -> None:
    assert AddressGuard(("127.0.0.1:8765",), resolver=_numeric_resolver).check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://[2002:7f00:1::]:8765/",  # 6to4 of 127.0.0.1: routed to a 6to4 relay, not to loopback
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:8765/",  # Teredo, client 127.0.0.1
        "http://[64:ff9b::7f00:1]:8765/",  # NAT64 of 127.0.0.1: the NAT64 gateway
        "http://[::1]:8765/",
        "http://0x7f.1:9200/",  # the entry's address on another port
        "http://[::ffff:127.0.0.1]:9200/",
        "http://0:8765/",
    ],
)
def test_allow_list_entry_admits_no_wrapper_that_routes_elsewhere(url: str) -> None:
    """Only the guard decides here (nothing connects): an entry for one loopback service is that service."""
    with pytest.raises(BlockedURL) as info:
        AddressGuard(("127.0.0.1:8765",), resolver=_numeric_resolver).check(url)
    assert info.value.reason == "blocked_address"


def test_allow_listed_range_admits_no_6to4_form_of_its_addresses() -> None:
    guard = AddressGuard(("10.0.0.0/8",))
    assert guard.check("http://10.1.2.3/")
    with pytest.raises(BlockedURL):
        guard.check("http://[2002:a01:203::]/")  # 6to4 of 10.1.2.3


# --- hostile bodies, clocks and statuses (found by red-teaming) -----------------------------------------------


class RawServer:
    """127.0.0.1 server that answers each path with fixed raw bytes (status line and headers included);
    ``drip`` paths send their bytes one line at a time, ``interval`` apart."""

    def __init__(self, answers: dict[str, bytes], drip: frozenset[str] = frozenset(), interval: float = 0.2) -> None:
        self.answers = answers
        self.drip = drip
        self.interval = interval
        self.hits: dict[str, int] = {}
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = conn.recv(65536).decode("latin-1")
                path = request.split(" ", 2)[1] if request.count(" ") >= 2 else "/"
                self.hits[path] = self.hits.get(path, 0) + 1
                payload = self.answers.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                if path in self.drip:
                    for line in payload.splitlines(keepends=True):
                        conn.sendall(line)
                        time.sleep(self.interval)
                else:
                    conn.sendall(payload)
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._sock.close()


def _answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


_PAGE = b"<html><head><title>t</title></head><body><p>" + b"words " * 50 + b"</p></body></html>"


@pytest.fixture
def raw_options(fast: FetchOptions) -> FetchOptions:
    """``fast``, for the raw servers' ports (any on 127.0.0.1), with a get() budget over two responses'."""
    return replace(
        fast, allow_hosts=("127.0.0.1",), total_timeout=1.0, get_timeout=2.5, retries=2, respect_robots=False
    )


def test_gzip_body_of_many_empty_members_decodes_without_recursion() -> None:
    body = gzip.compress(b"") * 2_000 + gzip.compress(b"<html>end</html>")
    decoder = Decoder("gzip", 1 << 20, "http://x.test/")
    assert decoder.feed(body) + decoder.flush() == b"<html>end</html>"  # one chunk: 2,001 members in a row


def test_gzip_member_magic_split_across_chunks() -> None:
    body = gzip.compress(b"one ") + gzip.compress(b"two")
    cut = len(gzip.compress(b"one ")) + 1  # the second member's first magic byte ends the first chunk
    decoder = Decoder("gzip", 1 << 20, "http://x.test/")
    assert decoder.feed(body[:cut]) + decoder.feed(body[cut:]) + decoder.flush() == b"one two"


@pytest.mark.parametrize("first", [1, 2, 7])
def test_raw_deflate_is_recognised_whatever_the_first_chunk(first: int) -> None:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = packer.compress(_PAGE) + packer.flush()
    decoder = Decoder("deflate", 1 << 20, "http://x.test/")
    out = decoder.feed(body[:first]) + b"".join(decoder.feed(body[i : i + 3]) for i in range(first, len(body), 3))
    assert out + decoder.flush() == _PAGE


def test_zlib_deflate_in_one_byte_chunks() -> None:
    body = zlib.compress(_PAGE)
    decoder = Decoder("deflate", 1 << 20, "http://x.test/")
    assert b"".join(decoder.feed(body[i : i + 1]) for i in range(len(body))) + decoder.flush() == _PAGE


def test_many_gzip_members_still_hit_the_decoded_cap() -> None:
    body = gzip.compress(b"a" * 1000) * 50
    decoder = Decoder("gzip", 10_000, "http://x.test/")
    chunks = [body[i : i + 512] for i in range(0, len(body), 512)]
    with pytest.raises(TooLarge):
        b"".join(map(decoder.feed, chunks))


def test_watchdog_fired_before_the_connection_still_cuts_it(raw_options: FetchOptions) -> None:
    # slow name resolution spends the budget before the socket exists; the server then drips its headers
    headers = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(40)) + b"\r\n"
    server = RawServer({"/drip": headers + _PAGE}, drip=frozenset({"/drip"}), interval=0.2)

    def slow_resolver(host: str) -> list[str]:
        time.sleep(1.3)
        return ["127.0.0.1"]

    options = replace(raw_options, retries=0)
    try:
        with Fetcher(options, resolver=slow_resolver) as f:
            started = time.monotonic()
            with pytest.raises(Timeout):
                f.get(server.url("/drip", host="slow-dns.test"), kind="page")
            assert time.monotonic() - started < 2.5  # not the 8 s of dripped headers
    finally:
        server.close()


def test_one_get_has_one_budget_across_retries_and_redirects(raw_options: FetchOptions) -> None:
    # every hop redirects to a page whose headers drip past the per-response budget; retried, that would be
    # 3 attempts x 1 s; the get's 2.5 s budget ends it
    headers = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(40)) + b"\r\n"
    server = RawServer(
        {"/a": _answer(b"", "Location: /b", status="302 Found"), "/b": headers + _PAGE},
        drip=frozenset({"/b"}),
        interval=0.3,
    )
    try:
        with Fetcher(raw_options) as f:
            started = time.monotonic()
            with pytest.raises(FetchError) as info:
                f.get(server.url("/a"), kind="page")
            elapsed = time.monotonic() - started
    finally:
        server.close()
    assert info.value.reason == "timeout"
    assert elapsed < raw_options.get_timeout + 0.7


def test_no_retry_starts_after_the_budget(raw_options: FetchOptions) -> None:
    server = RawServer({"/busy": _answer(b"busy", "Retry-After: 1", status="503 Service Unavailable")})
    options = replace(raw_options, get_timeout=1.5, retries=5, max_retry_after_wait=10.0)
    try:
        with Fetcher(options) as f:
            started = time.monotonic()
            with pytest.raises(FetchError):
                f.get(server.url("/busy"), kind="page")
            assert time.monotonic() - started < 1.5
    finally:
        server.close()
    assert server.hits["/busy"] == 2  # at 0 s and after 1 s; a third wait would end past the budget


@pytest.mark.parametrize(
    ("status", "reason"),
    [("206 Partial Content", "http_206"), ("204 No Content", "http_204"), ("300 Multiple Choices", "http_300")],
)
def test_statuses_without_a_whole_page_are_not_articles(raw_options: FetchOptions, status: str, reason: str) -> None:
    server = RawServer({"/p": _answer(_PAGE, "Content-Type: text/html", status=status)})
    try:
        with Fetcher(replace(raw_options, retries=0)) as f:
            assert reason_of(f, server.url("/p")) == reason
    finally:
        server.close()


def test_a_header_sent_twice_is_one_header(raw_options: FetchOptions) -> None:
    """A proxy that adds its own Content-Type or Location beside the application's: before, the two were joined
    into "text/html, text/html" (unsupported_content_type) and "/art, /art" (a 404 for "/art,%20/art")."""
    ctype = "Content-Type: text/html"
    server = RawServer(
        {
            "/twice": _answer(_PAGE, ctype, ctype),
            "/moved": _answer(b"", "Location: /art", "Location: /art", status="301 Moved Permanently"),
            "/last": _answer(_PAGE, "Content-Type: text/plain", "Content-Type: text/html; charset=utf-8"),
            "/art": _answer(_PAGE, ctype),
            "/two-places": _answer(b"", "Location: /art", "Location: /other", status="302 Found"),
        }
    )
    try:
        with Fetcher(replace(raw_options, retries=0)) as f:
            assert f.get(server.url("/twice"), kind="page").headers["content-type"] == "text/html"
            assert f.get(server.url("/moved"), kind="page").final_url == server.url("/art")
            assert f.get(server.url("/last"), kind="page").status == 200  # the last Content-Type counts
            assert reason_of(f, server.url("/two-places")) == "bad_redirect"  # which one? browsers refuse too
    finally:
        server.close()
    assert "/art,%20/art" not in server.hits and "/other" not in server.hits


def test_a_utf8_location_is_followed_whatever_the_other_headers_encoding(raw_options: FetchOptions) -> None:
    """httpx decodes all of a response's headers as latin-1 once one is not UTF-8; Location is read as UTF-8
    (as browsers do), so a latin-1 header beside it does not send the fetcher to /k%C3%83%C2%B6ln."""
    server = RawServer(
        {
            "/moved": b"HTTP/1.1 301 Moved Permanently\r\nLocation: /k\xc3\xb6ln\r\nX-Note: caf\xe9\r\n"
            b"Content-Length: 0\r\n\r\n",
            "/k%C3%B6ln": _answer(_PAGE, "Content-Type: text/html"),
        }
    )
    try:
        with Fetcher(replace(raw_options, retries=0)) as f:
            assert f.get(server.url("/moved"), kind="page").status == 200
    finally:
        server.close()
    assert server.hits.get("/k%C3%B6ln") == 1


def test_redirect_without_location_is_a_permanent_bad_redirect(raw_options: FetchOptions) -> None:
    server = RawServer({"/r": _answer(b"", status="302 Found")})
    try:
        with Fetcher(raw_options) as f, pytest.raises(FetchError) as info:
            f.get(server.url("/r"), kind="page")
    finally:
        server.close()
    assert info.value.reason == "bad_redirect"
    assert info.value.permanent
    assert server.hits["/r"] == 1


@pytest.mark.parametrize("target", ["http://10.1.2.3/robots.txt", "http://unknown-host.test/robots.txt"])
def test_robots_redirect_to_an_unfetchable_host_means_no_restrictions(raw_options: FetchOptions, target: str) -> None:
    server = RawServer(
        {
            "/robots.txt": _answer(b"", f"Location: {target}", status="301 Moved Permanently"),
            "/a.html": _answer(_PAGE, "Content-Type: text/html"),
            "/b.html": _answer(_PAGE, "Content-Type: text/html"),
        }
    )

    def resolver(host: str) -> list[str]:
        if host == "unknown-host.test":
            raise OSError("no such host")
        return ["127.0.0.1"]

    try:
        with Fetcher(replace(raw_options, respect_robots=True), resolver=resolver) as f:
            assert f.get(server.url("/a.html"), kind="page").status == 200
            assert f.get(server.url("/b.html"), kind="page").status == 200
    finally:
        server.close()
    assert server.hits["/robots.txt"] == 1  # cached like an answer, not asked again for every page


def test_a_robots_txt_over_the_page_cap_is_read_in_part_not_refused(raw_options: FetchOptions) -> None:
    """Before, a robots.txt over ``max_bytes`` was ``too_large`` and left its host disallow-all; now its first
    500 KiB are read (RFC 9309 2.5), the line the read stopped in is dropped, and the rest is never downloaded."""
    from ingest.fetching import robots

    filler = "".join(f"Disallow: /archive/{i}/\n" for i in range(100_000)).encode()  # about 2.3 MB
    body = b"User-agent: *\nDisallow: /early/\n" + filler + b"Disallow: /late/\n"
    server = RawServer(
        {
            "/robots.txt": _answer(body, "Content-Type: text/plain"),
            "/late/a.html": _answer(_PAGE, "Content-Type: text/html"),
        }
    )
    options = replace(raw_options, respect_robots=True, max_bytes=1024 * 1024)
    assert len(body) > 2 * options.max_bytes
    try:
        with Fetcher(options) as f:
            assert f.get(server.url("/late/a.html"), kind="page").status == 200
            with pytest.raises(FetchError) as info:
                f.get(server.url("/early/a.html"), kind="page")
            assert info.value.reason == "robots_disallowed"
            rules, problem = f._robots.rules_for(server.url("/"))
    finally:
        server.close()
    assert problem is None and rules is not None
    (entry,) = [rules.default_entry] if rules.default_entry else rules.entries
    paths = [line.path for line in entry.rulelines]
    assert len(paths) < robots.FETCH_LIMIT_BYTES // len("Disallow: /archive/1/\n")
    assert all(path.endswith("/") for path in paths)  # the cut line is not a rule
    assert server.hits["/robots.txt"] == 1


def test_a_refused_host_is_not_asked_for_robots_txt_again_and_again(raw_options: FetchOptions) -> None:
    def resolver(host: str) -> list[str]:
        return ["10.9.8.7"]

    asked: list[str] = []

    def counting(host: str) -> list[str]:
        asked.append(host)
        return resolver(host)

    with Fetcher(replace(raw_options, respect_robots=True), resolver=counting) as f:
        for n in range(3):
            with pytest.raises(BlockedURL):
                f.get(f"http://private-name.test/{n}.html", kind="page")
    assert asked == ["private-name.test"]


def test_waiting_at_the_politeness_gate_does_not_spend_the_budget(raw_options: FetchOptions) -> None:
    server = RawServer({"/p": _answer(_PAGE, "Content-Type: text/html")})
    options = replace(raw_options, per_host_delay=1.5, get_timeout=1.0)
    try:
        with Fetcher(options) as f:
            assert f.get(server.url("/p"), kind="page").status == 200
            started = time.monotonic()
            assert f.get(server.url("/p"), kind="page").status == 200  # queued 1.5 s for the host, then fetched
            assert time.monotonic() - started >= 1.4
    finally:
        server.close()
