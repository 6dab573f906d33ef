"""URL normalisation, document ids and canonical URLs."""

from __future__ import annotations

import pytest

from ingest.errors import BadRedirect, BadURL
from ingest.urls import (
    Refresh,
    absolute_location,
    canonical_url,
    clean_url,
    document_id,
    http_host,
    meta_refresh,
    normalize_url,
    same_site,
    strip_userinfo,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM:443/News/Story/?b=2&a=1#comments", "https://example.com/News/Story?a=1&b=2"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&fbclid=x&gclid=y&mc_cid=z&mc_eid=w&id=7",
            "https://example.com/a?id=7",
        ),
        ("https://amp.example.com/story.amp.html", "https://example.com/story.html"),
        ("https://example.com/story/amp/", "https://example.com/story"),
        ("https://example.com/amp/story", "https://example.com/story"),
        ("https://example.com/story?amp=1", "https://example.com/story"),
        ("https://m.example.co.uk/story", "https://example.co.uk/story"),
        ("https://mobile.example.com/story", "https://example.com/story"),
        ("https://example.com/a/../b/./c", "https://example.com/b/c"),
        ("https://example.com/Caf%c3%a9", "https://example.com/Caf%C3%A9"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("http://127.0.0.1:8080/a?z=1&a=2", "http://127.0.0.1:8080/a?a=2&z=1"),
        ("https://m.com/x", "https://m.com/x"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_is_idempotent() -> None:
    for url in ["HTTPS://WWW.Example.COM/a/?utm_source=x&b=1", "https://amp.example.com/x.amp.html?amp=1"]:
        once = normalize_url(url)
        assert normalize_url(once) == once


def test_document_id_is_stable_and_variant_blind() -> None:
    a = document_id("https://www.example.com/news/1?utm_source=twitter")
    b = document_id("https://example.com/news/1/#top")
    c = document_id("https://example.com/news/2")
    assert a == b != c
    assert len(a) == 32 and all(ch in "0123456789abcdef" for ch in a)


def test_canonical_link() -> None:
    html = '<html><head><link rel="canonical" href="/news/1"></head><body></body></html>'
    assert canonical_url(html, "https://www.example.com/news/1?utm_source=x") == "https://www.example.com/news/1"


def test_og_url_fallback_and_base_href() -> None:
    html = '<html><head><base href="https://cdn.example.com/x/"><meta property="og:url" content="story"></head>'
    assert canonical_url(html, "https://example.com/story") == "https://cdn.example.com/x/story"


def test_canonical_prefers_link_over_og() -> None:
    html = (
        '<head><meta property="og:url" content="https://example.com/og">'
        '<link rel="canonical" href="https://example.com/canon"></head>'
    )
    assert canonical_url(html, "https://example.com/page") == "https://example.com/canon"


@pytest.mark.parametrize(
    "html",
    [
        "<html><head><title>none</title></head></html>",
        '<head><link rel="canonical" href="https://example.com/"></head>',  # home page of an article
        '<head><link rel="canonical" href="https://other.org/"></head>',
        # another site's article: any page could claim it, and the document id comes from it
        '<head><link rel="canonical" href="https://other.org/news/1"></head>',
        '<head><meta property="og:url" content="https://victim.example.co.uk/world/scoop"></head>',
        '<head><base href="https://other.org/"><link rel="canonical" href="news/1"></head>',
        '<head><link rel="canonical" href="http://10.0.0.1/news/1"></head>',
        '<head><link rel="canonical" href="javascript:alert(1)"></head>',
        '<head><link rel="canonical" href=""></head>',
    ],
)
def test_canonical_rejected(html: str) -> None:
    assert canonical_url(html, "https://example.com/news/1") is None


# --- bad URLs are typed skips, never ValueError / httpx.InvalidURL ------------------------------------------

BAD_URLS = [
    "http://example.com:99999/a",  # port out of range
    "http://example.com:8o/a",  # not a number
    "http://[::1/a",  # broken IPv6 bracket
    "http://[fe80::1%eth0/x",
    "http://exa\x00mple.com/",  # control characters
    "http://example.com/a\x01b",
    "http://example.com/a\nb",
    "http://exa mple.com/",  # no host has a space
    "http://%41.example/",
    "http:foo",  # an http URL needs a host
    "http://:80/x",
    "",
    "   ",
    "/relative/path",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls_are_bad_url_skips(url: str) -> None:
    for call in (clean_url, normalize_url, document_id):
        with pytest.raises(BadURL) as info:
            call(url)
        assert info.value.reason == "bad_url" and info.value.permanent


def test_userinfo_is_stripped_everywhere() -> None:
    assert clean_url("http://user:secret@example.com:8080/a?b=1") == "http://example.com:8080/a?b=1"
    assert clean_url("https://a@b@example.com/x") == "https://example.com/x"
    assert strip_userinfo("http://u:p@h.example/") == "http://h.example/"
    assert normalize_url("http://user:pw@www.example.com/a") == "http://example.com/a"
    assert document_id("http://user:pw@example.com/a") == document_id("http://example.com/a")
    html = '<head><link rel="canonical" href="https://user:pw@example.com/news/1"></head>'
    assert canonical_url(html, "https://example.com/news/1") == "https://example.com/news/1"


def test_bad_url_messages_never_quote_credentials() -> None:
    with pytest.raises(BadURL) as info:
        clean_url("http://user:s3cr3t@example.com:99999/")
    assert "s3cr3t" not in str(info.value) and "s3cr3t" not in (info.value.url or "")


def test_clean_url_keeps_what_is_fine() -> None:
    assert clean_url("  https://example.com/a b  ") == "https://example.com/a b"  # httpx quotes the space
    assert clean_url("file:///etc/passwd") == "file:///etc/passwd"  # the guard refuses the scheme, with its reason
    assert clean_url("http://straße.example/") == "http://straße.example/"
    assert http_host("http://straße.example/") == ("xn--strae-oqa.example", 80)
    assert http_host("https://[::1]:8443/") == ("::1", 8443)


@pytest.mark.parametrize(
    "html",
    [
        '<head><link rel="canonical" href="http://[::1/x"></head>',
        '<head><link rel="canonical" href="https://example.com:99999/x"></head>',
        '<head><base href="http://[bad"><link rel="canonical" href="/x"></head>',
    ],
)
def test_canonical_with_bad_urls_is_none_not_a_crash(html: str) -> None:
    assert canonical_url(html, "https://example.com/news/1") in (None, "https://example.com/x")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/next", "http://news.example/next"),
        ("//other.example/y", "http://other.example/y"),
        ("https://u:p@news.example/z", "https://news.example/z"),
        ("file:///etc/passwd", "file:///etc/passwd"),  # well-formed: the guard refuses it as blocked_scheme
    ],
)
def test_absolute_location(location: str, expected: str) -> None:
    assert absolute_location(location, "http://news.example/a/b") == expected


@pytest.mark.parametrize(
    "location",
    ["javascript:alert(1)", "mailto:a@b.example", "about:blank", "http:foo", "data:text/html,x", "http://[::1"],
)
def test_unfetchable_locations_are_bad_redirects(location: str) -> None:
    with pytest.raises(BadRedirect) as info:
        absolute_location(location, "http://news.example/a")
    assert info.value.reason == "bad_redirect"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0; url=/next", Refresh(0.0, "http://news.example/next")),
        ("0;URL='https://news.example/n?a=1'", Refresh(0.0, "https://news.example/n?a=1")),
        ("5, url='other'", Refresh(5.0, "http://news.example/a/other")),
        ("  2 ;  url = /x ", Refresh(2.0, "http://news.example/x")),
        ("0;url=https://u:p@news.example/s", Refresh(0.0, "https://news.example/s")),
        ("300", None),  # a reload, not a redirect
        ("0; url=/a/b", None),  # itself
        ("0; url=javascript:alert(1)", None),
        ("0; url=http://[::1", None),
    ],
)
def test_meta_refresh(content: str, expected: Refresh | None) -> None:
    html = f'<html><head><meta http-equiv="Refresh" content="{content}"></head><body></body></html>'
    assert meta_refresh(html, "http://news.example/a/b") == expected


def test_same_site() -> None:
    assert same_site("https://www.example.co.uk/a", "http://news.example.co.uk/b")
    assert same_site("http://127.0.0.1:1/a", "http://127.0.0.1:2/b")
    assert not same_site("http://127.0.0.1/a", "http://127.0.0.2/a")
    assert not same_site("https://example.com/a", "https://example.org/a")
    assert not same_site("http://[::1/", "http://example.com/")


@pytest.mark.parametrize(
    "url",
    ["https://example.org/a?" + "q" * 9_000, "https://example.org/\ud800", "https://example.org/a\udfffb"],
)
def test_urls_no_store_can_keep_are_bad_urls(url: str) -> None:
    """Over 8 KB (and past 32 KB a keyword term Elasticsearch refuses, failing the article's document), or with
    a lone surrogate (which UTF-8 cannot encode): refused where the URL enters, as a counted bad_url."""
    with pytest.raises(BadURL):
        clean_url(url)
