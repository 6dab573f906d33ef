"""The bundled sample corpus (seeds/sample), checked through the dev server the way the pipeline sees it.

Ground truth is seeds/sample/manifest.toml; feeds are parsed with feedparser over HTTP, pages extracted with
trafilatura using the pipeline's own extraction options.
"""

from __future__ import annotations

import calendar
import filecmp
import importlib.util
import re
import sys
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx
import lxml.html
import pytest
import trafilatura

from evaluation.devserver import SampleServer
from ingest.config import PROJECT_ROOT, ExtractionOptions
from tests.conftest import shared_path

pytestmark = pytest.mark.unit

SAMPLE = PROJECT_ROOT / "seeds" / "sample"
MANIFEST: list[dict[str, Any]] = tomllib.loads((SAMPLE / "manifest.toml").read_text("utf-8"))["article"]
FEEDS: list[dict[str, Any]] = tomllib.loads((SAMPLE / "feeds.toml").read_text("utf-8"))["feed"]
PAGES = [a for a in MANIFEST if a["status"] == 200]
BY_PATH = {a["path"]: a for a in MANIFEST}
CONSENT_MARKERS = ("cookie", "consent", "gdpr", "cmp")


@pytest.fixture(scope="module")
def server() -> Iterator[SampleServer]:
    with SampleServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def parsed_feeds(server: SampleServer, client: httpx.Client) -> dict[str, Any]:
    out = {}
    for feed in FEEDS:
        url = feed["url"].replace("{{BASE_URL}}", server.base_url)
        resp = client.get(url)
        assert resp.status_code == 200, url
        parsed = feedparser.parse(resp.content, response_headers={"content-type": resp.headers["content-type"]})
        assert not parsed.bozo, (feed["name"], parsed.get("bozo_exception"))
        assert parsed.entries, feed["name"]
        out[feed["name"]] = parsed
    return out


def _path_of(link: str, server: SampleServer) -> str:
    assert link.startswith(server.base_url + "/"), link
    return urlsplit(link).path


@cache
def _html(path: str) -> str:
    return (SAMPLE / str(BY_PATH[path]["file"])).read_text("utf-8")


# --- shape of the corpus ------------------------------------------------------------------------------------


def test_corpus_size_and_mix() -> None:
    outlets = {a["outlet"] for a in MANIFEST}
    assert len(outlets) >= 5
    assert {f["publisher"] for f in FEEDS} == outlets
    assert all(1 <= n <= 2 for n in Counter(f["publisher"] for f in FEEDS).values())
    assert {f["language"] for f in FEEDS} == {"en", "de"}
    sony = [a for a in PAGES if a["story"] == "sony-hack"]
    assert len(sony) >= 14
    assert sum(a["language"] == "de" for a in sony) >= 5
    distractors = [a for a in PAGES if a["story"] != "sony-hack"]
    assert len(distractors) >= 12
    assert {a["language"] for a in distractors} == {"en", "de"}
    # the hard negative: North Korea, geopolitics, but a different story
    assert any(a["story"] == "nk-human-rights" and "geopolitics" in a["expected_tags"] for a in distractors)
    assert any("cyberattack" in a["expected_tags"] for a in distractors)
    words = [a["words"] for a in PAGES]
    assert min(words) >= 220
    assert max(words) <= 500
    assert len({a["path"] for a in MANIFEST}) == len(MANIFEST)
    for a in MANIFEST:
        assert set(a["expected_tags"]) <= {"cyberattack", "geopolitics"}
        assert datetime.fromisoformat(a["published"]).utcoffset() is not None
        assert a["status"] in (200, 404)


def test_sony_timeline_spans_the_real_dates() -> None:
    sony = [a for a in PAGES if a["story"] == "sony-hack"]
    dates = sorted(datetime.fromisoformat(a["published"]).date().isoformat() for a in sony)
    assert dates[0] == "2014-11-24"
    assert dates[-1] >= "2015-01-02"
    assert len({d[:7] for d in dates}) == 3  # Nov, Dec, Jan


def test_pages_exist_only_for_status_200(server: SampleServer, client: httpx.Client) -> None:
    for a in MANIFEST:
        resp = client.get(server.url(a["path"]))
        assert resp.status_code == a["status"], a["path"]
        if a["status"] == 200:
            assert resp.headers["content-type"] == "text/html; charset=utf-8"
            assert "{{BASE_URL}}" not in resp.text
        else:
            assert not (SAMPLE / "site" / a["path"].lstrip("/")).exists()


def test_feed_formats_and_charsets(parsed_feeds: dict[str, Any]) -> None:
    versions = {p.version for p in parsed_feeds.values()}
    assert {"rss20", "atom10", "rss10"} <= versions
    assert "iso-8859-1" in {p.encoding for p in parsed_feeds.values()}
    for feed in FEEDS:
        assert feed["country"].isalpha() and len(feed["country"]) == 2 and feed["country"].isupper()
        assert parsed_feeds[feed["name"]].feed.get("title")


# --- feeds agree with the manifest --------------------------------------------------------------------------


def test_feeds_list_exactly_the_manifest(server: SampleServer, parsed_feeds: dict[str, Any]) -> None:
    listed: dict[str, set[str]] = defaultdict(set)
    for name, parsed in parsed_feeds.items():
        for entry in parsed.entries:
            path = _path_of(entry.link, server)
            assert path in BY_PATH, f"{name} lists {path}, which is not in the manifest"
            listed[path].add(name)
    for a in MANIFEST:
        assert listed[a["path"]] == set(a["feeds"]), a["path"]


def test_feed_dates_and_titles_match_the_manifest(server: SampleServer, parsed_feeds: dict[str, Any]) -> None:
    for name, parsed in parsed_feeds.items():
        for entry in parsed.entries:
            a = BY_PATH[_path_of(entry.link, server)]
            stamp = entry.get("published_parsed") or entry.get("updated_parsed")
            assert stamp is not None, (name, entry.link)
            expected = datetime.fromisoformat(a["published"]).timestamp()
            assert calendar.timegm(stamp) == expected, (name, a["path"])
            assert entry.title == a["title"], (name, a["path"])


def test_feed_languages_match_the_pages() -> None:
    by_publisher = {f["publisher"]: f["language"] for f in FEEDS}
    for a in PAGES:
        lang = lxml.html.fromstring(_html(a["path"])).get("lang")
        assert lang is not None, a["path"]
        assert lang.split("-")[0] == a["language"] == by_publisher[a["outlet"]], a["path"]


def test_edge_cases_are_present(server: SampleServer, parsed_feeds: dict[str, Any]) -> None:
    links: dict[str, list[tuple[str, str]]] = defaultdict(list)  # path -> [(feed, raw link)]
    for name, parsed in parsed_feeds.items():
        for entry in parsed.entries:
            links[_path_of(entry.link, server)].append((name, entry.link))
    publisher = {f["name"]: f["publisher"] for f in FEEDS}
    # one article in two feeds of the same outlet with the very same URL
    assert any(len(v) == 2 and v[0][1] == v[1][1] and publisher[v[0][0]] == publisher[v[1][0]] for v in links.values())
    # one article linked with tracking parameters in one feed and cleanly in another
    tracked = [
        v for v in links.values() if {urlsplit(link).query for _, link in v} == {"", "utm_source=rss&utm_medium=feed"}
    ]
    assert len(tracked) == 1
    # a syndicated wire story on another outlet
    dups = [a for a in PAGES if "duplicate_of" in a]
    assert len(dups) == 1
    copy, original = dups[0], BY_PATH[dups[0]["duplicate_of"]]
    assert copy["outlet"] != original["outlet"] and copy["path"] != original["path"]
    assert copy["title"] != original["title"] and copy["story"] == original["story"]
    a, b = (set(_shingles(_extract(p["path"], server))) for p in (copy, original))
    assert len(a & b) / len(a | b) > 0.7
    # a feed item whose page is missing
    assert [a["path"] for a in MANIFEST if a["status"] == 404] and all(
        links[a["path"]] for a in MANIFEST if a["status"] == 404
    )


# --- pages: metadata, boilerplate, extraction ---------------------------------------------------------------


def test_page_metadata(server: SampleServer, client: httpx.Client) -> None:
    kinds: Counter[str] = Counter()
    for a in PAGES:
        page = client.get(server.url(a["path"])).text
        doc = lxml.html.fromstring(page)
        url = server.base_url + a["path"]
        assert doc.xpath("string(//meta[@property='og:url']/@content)") == url, a["path"]
        assert doc.xpath("string(//meta[@property='og:title']/@content)") == a["title"], a["path"]
        assert doc.xpath("string(//meta[@property='og:site_name']/@content)"), a["path"]
        canonical = doc.xpath("//link[@rel='canonical']/@href")
        assert canonical in ([], [url]), a["path"]
        kinds.update(
            k
            for k, xp in {
                "canonical": "//link[@rel='canonical']",
                "json-ld": "//script[@type='application/ld+json']",
                "time": "//time[@datetime]",
                "meta-author": "//meta[@name='author']",
                "published_time": "//meta[@property='article:published_time']",
            }.items()
            if doc.xpath(xp)
        )
        meta = trafilatura.extract_metadata(page)
        assert meta.title == a["title"], a["path"]
        assert meta.date == a["published"][:10], a["path"]
    # metadata varies between outlets: every kind is used, none by every page
    assert set(kinds) == {"canonical", "json-ld", "time", "meta-author", "published_time"}
    assert all(0 < n < len(PAGES) or name == "time" for name, n in kinds.items())


def test_every_page_has_boilerplate() -> None:
    for a in PAGES:
        doc = lxml.html.fromstring(_html(a["path"]))
        assert doc.xpath("//nav | //*[contains(@class, 'nav') or contains(@id, 'menu')]"), a["path"]
        assert len(doc.xpath("//*[@id='comments']//li[contains(@class, 'comment')]")) >= 2, a["path"]
        assert _consent_text(doc), a["path"]
        assert doc.xpath("//footer | //*[contains(@id, 'footer')]"), a["path"]
        assert doc.xpath("//*[contains(@class, 'crumb') or contains(@class, 'pfad') or contains(@class, 'brot')]")
        assert len(doc.xpath("//aside//a | //*[contains(@class, 'sidebar') or contains(@class, 'more')]//a")) >= 2


def test_extraction_keeps_the_body_and_drops_boilerplate(server: SampleServer) -> None:
    for a in PAGES:
        text = _extract(a["path"], server)
        doc = lxml.html.fromstring(_html(a["path"]))
        assert _norm(a["first_sentence"]) in _norm(text), a["path"]
        assert len(text.split()) >= a["words"], a["path"]
        comments = [c.text_content().strip() for c in doc.xpath("//*[contains(@class, 'comment-body')]")]
        assert a["comment"] in comments
        for comment in comments:
            assert _norm(comment) not in _norm(text), (a["path"], comment)
        consent = _consent_text(doc)
        assert _norm(consent)[:60] not in _norm(text), a["path"]
        assert "Reply" not in text.split() and "Subscribe" not in text


def test_generated_files_are_in_sync_with_the_sources(tmp_path: Path) -> None:
    build = _load_build_module()
    build.build(tmp_path)
    for name in ("feeds.toml", "manifest.toml"):
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), f"{name}: rerun seeds/sample/build.py"
    cmp = filecmp.dircmp(tmp_path / "site", SAMPLE / "site")
    _assert_same_tree(cmp)


def test_german_seed_events_are_covered_in_original_words() -> None:
    piece = next(a for a in PAGES if a["language"] == "de" and "untersuchung" in a["path"])
    text = lxml.html.fromstring(_html(piece["path"])).xpath("string(//article)")
    for needle in ("FBI", "gemeinsame Untersuchung", "China", "Fehler", "Nordkorea"):
        assert needle in text
    seed = shared_path("seed-article", "sony-hack-de-2014.txt")
    seed_shingles = set(_shingles(seed.read_text("utf-8"), 6))
    for a in PAGES:
        body = lxml.html.fromstring(_html(a["path"])).xpath("string(//article | //*[@itemprop='articleBody'])")
        assert not seed_shingles & set(_shingles(body, 6)), f"{a['path']} reuses wording of the seed article"


def test_real_feed_list() -> None:
    feeds = tomllib.loads((PROJECT_ROOT / "seeds" / "feeds.toml").read_text("utf-8"))["feed"]
    assert len(feeds) >= 12
    assert len({f["name"] for f in feeds}) == len(feeds)
    assert {f["language"] for f in feeds} == {"en", "de"}
    for f in feeds:
        assert set(f) == {"name", "url", "language", "country", "publisher"}
        assert f["url"].startswith("https://") and "{{" not in f["url"]
        assert re.fullmatch(r"[A-Z]{2}", f["country"])
    for f in FEEDS:
        assert set(f) == {"name", "url", "language", "country", "publisher"}


# --- helpers ------------------------------------------------------------------------------------------------


@cache
def _extract_cached(path: str, base_url: str) -> str:
    opts = ExtractionOptions()
    html = _html(path).replace("{{BASE_URL}}", base_url)
    text = trafilatura.extract(
        html,
        url=base_url + path,
        favor_precision=opts.favor_precision,
        fast=opts.fast,
        include_comments=opts.include_comments,
    )
    assert text, path
    return text


def _extract(path: str, server: SampleServer) -> str:
    return _extract_cached(path, server.base_url)


def _consent_text(doc: Any) -> str:
    for el in doc.iter():
        attrs = f"{el.get('id', '')} {el.get('class', '')}".lower()
        if any(m in attrs for m in CONSENT_MARKERS):
            return " ".join(el.text_content().split())
    return ""


def _norm(text: str) -> str:
    return " ".join(text.split())


def _shingles(text: str, n: int = 4) -> list[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _load_build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sample_corpus_build", SAMPLE / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def _assert_same_tree(cmp: filecmp.dircmp[str]) -> None:
    assert not cmp.left_only and not cmp.right_only, (cmp.left, cmp.left_only, cmp.right_only)
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    assert not mismatch and not errors, (cmp.right, mismatch, errors)
    for sub in cmp.subdirs.values():
        _assert_same_tree(sub)
