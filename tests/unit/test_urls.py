"""URL normalisation, document ids and canonical URLs."""

from __future__ import annotations

import pytest

from ingest.urls import canonical_url, document_id, normalize_url

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
        '<head><link rel="canonical" href="javascript:alert(1)"></head>',
        '<head><link rel="canonical" href=""></head>',
    ],
)
def test_canonical_rejected(html: str) -> None:
    assert canonical_url(html, "https://example.com/news/1") is None
