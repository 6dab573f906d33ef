"""The fetcher against the local misbehaving server (127.0.0.1 only, allow-listed)."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from evaluation.faultserver import FaultServer
from ingest.archive import Archive
from ingest.config import ArchiveOptions, FetchOptions
from ingest.errors import BlockedURL, FetchError
from ingest.fetching import AddressGuard, Fetcher, RateLimited, Response, decode_body

pytestmark = pytest.mark.unit

FAST = FetchOptions(
    allow_hosts=("127.0.0.1",),
    connect_timeout=2.0,
    read_timeout=1.0,
    total_timeout=2.0,
    per_host_delay=0.0,
    retries=1,
    retry_backoff=0.01,
    max_retry_after_wait=2.0,
)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        srv.settings.slow_seconds = 2.0
        srv.settings.trickle_interval = 0.1
        srv.settings.trickle_max_seconds = 8.0
        yield srv


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FAST) as f:
        yield f


def reason_of(fetcher: Fetcher, url: str, kind: str = "page") -> str:
    with pytest.raises(FetchError) as info:
        fetcher.get(url, kind=kind)
    return info.value.reason


def test_good_page(server: FaultServer, fetcher: Fetcher) -> None:
    response = fetcher.get(server.url("articles/1.html"), kind="page")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert response.charset == "utf-8"
    assert "<article>" in response.text()
    assert response.fetched_at.tzinfo is not None
    assert response.headers["content-type"].startswith("text/html")
    assert response.request_headers["user-agent"] == FAST.user_agent


@pytest.mark.parametrize("code", [404, 410, 500])
def test_http_errors_have_status_reason(server: FaultServer, fetcher: Fetcher, code: int) -> None:
    assert reason_of(fetcher, server.url(f"status/{code}")) == f"http_{code}"


def test_503_is_retried_then_reported(server: FaultServer, fetcher: Fetcher) -> None:
    before = server.requests["/status/503"]
    assert reason_of(fetcher, server.url("status/503")) == "http_503"
    assert server.requests["/status/503"] - before == FAST.retries + 1


def test_flaky_503_recovers_with_retry(server: FaultServer, fetcher: Fetcher) -> None:
    response = fetcher.get(server.url("flaky/one"), kind="page")
    assert response.status == 200
    assert server.requests["/flaky/one"] == 2


def test_long_retry_after_raises_rate_limited(server: FaultServer, fetcher: Fetcher) -> None:
    with pytest.raises(RateLimited) as info:
        fetcher.get(server.url("retry-after/3600"), kind="feed")
    assert info.value.reason == "rate_limited"
    assert info.value.retry_after == pytest.approx(3600)


def test_short_retry_after_is_waited_out(server: FaultServer, fetcher: Fetcher) -> None:
    started = time.monotonic()
    response = fetcher.get(server.url("retry-once/1"), kind="page")
    assert response.status == 200
    assert time.monotonic() - started >= 0.9


def test_slow_server_times_out(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("slow")) == "timeout"


def test_trickling_server_hits_wall_clock(server: FaultServer, fetcher: Fetcher) -> None:
    started = time.monotonic()
    assert reason_of(fetcher, server.url("trickle")) == "timeout"
    assert time.monotonic() - started < FAST.total_timeout + 2


def test_trickled_headers_hit_wall_clock(server: FaultServer, fetcher: Fetcher) -> None:
    started = time.monotonic()
    assert reason_of(fetcher, server.url("trickle-headers")) == "timeout"
    assert time.monotonic() - started < FAST.total_timeout + 2


def test_connection_reset(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("reset")) == "connection_error"


def test_redirect_loop(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("loop/a")) == "redirect_loop"


def test_redirect_cap(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url(f"redirect/{FAST.max_redirects + 1}")) == "too_many_redirects"
    ok = fetcher.get(server.url(f"redirect/{FAST.max_redirects}"), kind="page")
    assert ok.final_url == server.url("articles/0.html")
    assert ok.url == server.url(f"redirect/{FAST.max_redirects}")


def test_redirect_to_private_address_is_refused(server: FaultServer, fetcher: Fetcher) -> None:
    with pytest.raises(BlockedURL) as info:
        fetcher.get(server.url("redirect-to-metadata"), kind="page")
    assert info.value.reason == "blocked_address"
    with pytest.raises(BlockedURL) as info2:
        fetcher.get(server.url("redirect-to-file"), kind="page")
    assert info2.value.reason == "blocked_scheme"


@pytest.mark.parametrize("path", ["big", "big-declared"])
def test_size_cap(server: FaultServer, fetcher: Fetcher, path: str) -> None:
    assert reason_of(fetcher, server.url(path)) == "too_large"


def test_gzip_bomb(server: FaultServer, fetcher: Fetcher) -> None:
    assert reason_of(fetcher, server.url("gzip-bomb")) == "decompression_bomb"


def test_gzip_body_is_decoded(server: FaultServer, fetcher: Fetcher) -> None:
    response = fetcher.get(server.url("gzip-ok"), kind="page")
    assert response.content.startswith(b"<!DOCTYPE html>")


@pytest.mark.parametrize("path", ["type/pdf", "type/json", "type/png"])
def test_non_html_pages_refused(server: FaultServer, fetcher: Fetcher, path: str) -> None:
    assert reason_of(fetcher, server.url(path)) == "unsupported_content_type"


def test_robots_disallow(server: FaultServer, fetcher: Fetcher) -> None:
    before = server.requests["/robots.txt"]
    with pytest.raises(BlockedURL) as info:
        fetcher.get(server.url("private/1.html"), kind="page")
    assert info.value.reason == "robots_disallowed"
    assert server.requests["/private/1.html"] == 0
    # robots.txt is fetched once per host and fetcher; feeds are not subject to it
    fetcher.get(server.url("articles/2.html"), kind="page")
    fetcher.get(server.url("private/2.html"), kind="feed")
    assert server.requests["/robots.txt"] - before == 1


@pytest.mark.parametrize(("status", "reason"), [(503, "robots_unavailable"), (404, None), (403, None)])
def test_robots_status_codes(server: FaultServer, status: int, reason: str | None) -> None:
    server.settings.robots_status = status
    try:
        with Fetcher(FAST) as f:
            if reason is None:  # RFC 9309: 4xx robots.txt means no restrictions
                assert f.get(server.url("private/3.html"), kind="page").status == 200
            else:
                with pytest.raises(BlockedURL) as info:
                    f.get(server.url("private/3.html"), kind="page")
                assert info.value.reason == reason
    finally:
        server.settings.robots_status = 200


def test_robots_can_be_ignored(server: FaultServer) -> None:
    with Fetcher(replace(FAST, respect_robots=False)) as f:
        assert f.get(server.url("private/1.html"), kind="page").status == 200


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("charset/latin1-nocharset.html", "Größere Änderungen im Straßenverkehr"),
        ("charset/cp1252-meta.html", "\u201cSmart quotes\u201d and the \u20ac sign \u2014"),
        ("charset/cp1252-wrong-header.html", "\u201cSmart quotes\u201d and the \u20ac sign \u2014"),
    ],
)
def test_charsets_decode_right(server: FaultServer, fetcher: Fetcher, path: str, expected: str) -> None:
    text = fetcher.get(server.url(path), kind="page").text()
    assert expected in text
    assert "\ufffd" not in text


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
    ],
)
def test_ssrf_guard_blocks_private_addresses(url: str) -> None:
    guard = AddressGuard()
    with pytest.raises(BlockedURL) as info:
        guard.check(url)
    assert info.value.reason == "blocked_address"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x/", "data:,x"])
def test_ssrf_guard_blocks_schemes(url: str) -> None:
    with pytest.raises(BlockedURL) as info:
        AddressGuard().check(url)
    assert info.value.reason == "blocked_scheme"


def test_ssrf_guard_resolves_names_and_honours_allow_list() -> None:
    evil = AddressGuard(resolver=lambda host: ["127.0.0.1"])
    with pytest.raises(BlockedURL):
        evil.check("http://rebinding.example/")
    AddressGuard(resolver=lambda host: ["93.184.215.14"]).check("http://example.org/")
    AddressGuard(("10.0.0.0/8",)).check("http://10.9.9.9/")
    AddressGuard(("intranet.example",), resolver=lambda host: ["10.0.0.5"]).check("http://intranet.example/")


def test_default_options_refuse_loopback(server: FaultServer) -> None:
    with Fetcher(FetchOptions()) as f, pytest.raises(BlockedURL):
        f.get(server.url("articles/1.html"), kind="feed")


def test_per_host_delay_spaces_requests(server: FaultServer) -> None:
    options = replace(FAST, per_host_delay=0.3, per_host_concurrency=4)
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


def test_mock_transport_and_archive(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(b"<html><body>hello</body></html>")
        return httpx.Response(200, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}, content=body)

    options = replace(FAST, allow_hosts=("news.example",), respect_robots=False)
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
