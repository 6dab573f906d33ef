"""evaluation.devserver.SampleServer against a small site written by the test, plus the bundled Latin-1 feed."""

from __future__ import annotations

import http.client
import os
import time
import tomllib
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import feedparser
import httpx
import pytest

from evaluation.devserver import SampleServer
from ingest.config import PROJECT_ROOT

pytestmark = pytest.mark.unit

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Test page</title>
<link rel="canonical" href="{{BASE_URL}}/news/story.html"></head>
<body><p>Body of the test story.</p></body></html>
"""

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Test feed</title><link>{{BASE_URL}}/</link><description>d</description>
<item><title>Story</title><link>{{BASE_URL}}/news/story.html</link><guid>{{BASE_URL}}/news/story.html</guid>
<pubDate>Mon, 22 Dec 2014 10:00:00 +0100</pubDate></item>
</channel></rss>
"""

LATIN1_RSS = """<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="2.0"><channel><title>Kölner Nachrichten</title><link>{{BASE_URL}}/</link><description>ä</description>
<item><title>Grüße aus Köln</title><link>{{BASE_URL}}/news/story.html</link></item>
</channel></rss>
"""


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "site" / "news").mkdir(parents=True)
    (root / "site" / "news" / "story.html").write_text(PAGE, encoding="utf-8")
    (root / "site" / "news" / "feed.xml").write_text(RSS, encoding="utf-8")
    (root / "site" / "news" / "latin1.rss").write_bytes(LATIN1_RSS.encode("iso-8859-1"))
    (root / "site" / "section").mkdir()
    (root / "site" / "section" / "index.html").write_text("<html><body>section</body></html>", encoding="utf-8")
    (root / "secret.txt").write_text("outside the site", encoding="utf-8")
    (root / "feeds.toml").write_text(
        '[[feed]]\nname = "test"\nurl = "{{BASE_URL}}/news/feed.xml"\nlanguage = "en"\ncountry = "GB"\n'
        'publisher = "Test"\n',
        encoding="utf-8",
    )
    return root


@pytest.fixture
def server(site_root: Path) -> Iterator[SampleServer]:
    with SampleServer(site_root) as srv:
        yield srv


def test_base_url_is_loopback_and_only_known_after_start(site_root: Path) -> None:
    srv = SampleServer(site_root)
    with pytest.raises(RuntimeError):
        _ = srv.base_url
    with srv:
        assert srv.base_url.startswith("http://127.0.0.1:")
        assert srv.port > 0
    with pytest.raises(RuntimeError):
        _ = srv.base_url


def test_serves_page_with_base_url_substituted(server: SampleServer) -> None:
    resp = httpx.get(server.url("/news/story.html"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert "{{BASE_URL}}" not in resp.text
    assert f'href="{server.base_url}/news/story.html"' in resp.text
    assert int(resp.headers["content-length"]) == len(resp.content)


def test_serves_feed_that_feedparser_reads(server: SampleServer) -> None:
    resp = httpx.get(server.url("/news/feed.xml"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/xml; charset=utf-8"
    parsed = feedparser.parse(resp.content, response_headers={"content-type": resp.headers["content-type"]})
    assert not parsed.bozo
    assert [e.link for e in parsed.entries] == [server.base_url + "/news/story.html"]


def test_latin1_feed_announces_its_charset(server: SampleServer) -> None:
    resp = httpx.get(server.url("/news/latin1.rss"))
    assert resp.headers["content-type"] == "application/rss+xml; charset=iso-8859-1"
    assert "Grüße aus Köln".encode("iso-8859-1") in resp.content
    assert server.base_url.encode() in resp.content
    parsed = feedparser.parse(resp.content, response_headers={"content-type": resp.headers["content-type"]})
    assert not parsed.bozo
    assert parsed.feed.title == "Kölner Nachrichten"
    assert parsed.entries[0].title == "Grüße aus Köln"


def test_bundled_latin1_feed_is_served_as_iso_8859_1() -> None:
    with SampleServer() as srv:
        resp = httpx.get(srv.url("/rheinbruecker-rundschau/rss/nachrichten.xml"))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/xml; charset=iso-8859-1"
    assert resp.content.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>')
    parsed = feedparser.parse(resp.content, response_headers={"content-type": resp.headers["content-type"]})
    assert parsed.encoding == "iso-8859-1"
    assert not parsed.bozo
    assert any("ü" in e.title or "ä" in e.title or "ö" in e.title for e in parsed.entries)


def test_etag_gives_304_and_changes_with_the_file(server: SampleServer, site_root: Path) -> None:
    url = server.url("/news/feed.xml")
    first = httpx.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert httpx.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200

    path = site_root / "site" / "news" / "feed.xml"
    path.write_text(RSS.replace("Story", "Updated story"), encoding="utf-8")
    changed = httpx.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert "Updated story" in changed.text


def test_if_modified_since(server: SampleServer, site_root: Path) -> None:
    path = site_root / "site" / "news" / "story.html"
    mtime = time.time() - 3600
    os.utime(path, (mtime, mtime))
    url = server.url("/news/story.html")
    resp = httpx.get(url)
    assert resp.headers["last-modified"] == formatdate(int(mtime), usegmt=True)
    assert httpx.get(url, headers={"If-Modified-Since": resp.headers["last-modified"]}).status_code == 304
    older = formatdate(mtime - 86400, usegmt=True)
    assert httpx.get(url, headers={"If-Modified-Since": older}).status_code == 200
    assert httpx.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200


def test_missing_paths_are_404(server: SampleServer) -> None:
    assert httpx.get(server.url("/news/nope.html")).status_code == 404
    assert httpx.get(server.url("/news/nope.html"), headers={"If-None-Match": "*"}).status_code == 404
    # path traversal out of site/ is refused, even percent-encoded
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for raw in ("/../secret.txt", "/%2e%2e/secret.txt", "/news/..%2f..%2fsecret.txt"):
        conn.request("GET", raw)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 404, raw
        assert b"outside the site" not in body
    conn.close()


def test_robots_txt_allows_everything(server: SampleServer) -> None:
    resp = httpx.get(server.url("/robots.txt"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    lines = resp.text.splitlines()
    assert "User-agent: *" in lines
    assert not any(line.lower().startswith("disallow: /") for line in lines)


def test_directory_urls(server: SampleServer) -> None:
    resp = httpx.get(server.url("/section/"))
    assert resp.status_code == 200
    assert "section" in resp.text
    redirect = httpx.get(server.url("/section"))
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "/section/"


def test_head_and_request_log(server: SampleServer) -> None:
    server.clear_requests()
    head = httpx.head(server.url("/news/story.html?utm_source=rss"), headers={"User-Agent": "test-agent/1.0"})
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert len(server.requests) == 1
    method, path, headers = server.requests[0]
    assert (method, path) == ("HEAD", "/news/story.html?utm_source=rss")
    assert headers["User-Agent"] == "test-agent/1.0"


def test_render_feeds_file(server: SampleServer, tmp_path: Path) -> None:
    written = server.render_feeds_file(tmp_path / "out")  # a directory that does not exist yet is a file path
    assert written == tmp_path / "out"
    (tmp_path / "dir").mkdir()
    in_dir = server.render_feeds_file(tmp_path / "dir")
    assert in_dir == tmp_path / "dir" / "feeds.toml"
    feeds = tomllib.loads(in_dir.read_text("utf-8"))["feed"]
    assert feeds[0]["url"] == server.base_url + "/news/feed.xml"
    assert httpx.get(feeds[0]["url"]).status_code == 200


def test_set_response_overrides_a_path(server: SampleServer) -> None:
    server.set_response(
        "/news/feed.xml",
        "<rss version='2.0'><channel><link>{{BASE_URL}}/</link></channel></rss>",
        content_type="application/rss+xml; charset=utf-8",
    )
    server.set_response("/broken", "oops", status=503, content_type="text/plain")
    resp = httpx.get(server.url("/news/feed.xml"))
    assert resp.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert f"<link>{server.base_url}/</link>" in resp.text
    assert httpx.get(server.url("/broken")).status_code == 503
    server.clear_responses()
    assert httpx.get(server.url("/broken")).status_code == 404
    assert "Test feed" in httpx.get(server.url("/news/feed.xml")).text


def test_default_root_is_the_bundled_corpus() -> None:
    assert SampleServer().root == PROJECT_ROOT / "seeds" / "sample"
