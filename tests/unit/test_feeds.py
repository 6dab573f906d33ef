"""Seed file loading and tolerant, guarded feed parsing."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evaluation import hostile
from evaluation.faultserver import BILLION_LAUGHS, XXE, XXE_PARAMETER, rss
from ingest.errors import ConfigurationError, FeedParseError, ParserError, UnsafeFeed
from ingest.feeds import FeedSource, check_entities, load_feed_sources, parse_feed, parse_response
from ingest.feeds import parse as feeds_module
from ingest.response import Response

pytestmark = pytest.mark.unit

SOURCE = FeedSource(name="test", url="https://example.org/feed.xml", language="en", country="us", publisher="T")
ROOT = Path(__file__).resolve().parents[2]


def real_feeds() -> Path:
    base = Path(os.environ.get("NEWS_SHARED_DIR", ROOT.parent / "shared"))
    path = base / "eval" / "real-feeds"
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (set NEWS_SHARED_DIR)")
    return path


# --- seed file ---------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_feed_sources(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[feed]]
name = "heise"
url = "{{BASE_URL}}/feeds/heise.xml"
language = "de"
country = "de"
publisher = "heise online"

[[feed]]
name = "bbc-world"
url = "https://feeds.bbci.co.uk/news/world/rss.xml"
language = "en"
country = "gb"
publisher = "BBC"
""",
    )
    sources = load_feed_sources(path)
    assert [s.name for s in sources] == ["heise", "bbc-world"]
    assert sources[0].url == "{{BASE_URL}}/feeds/heise.xml"  # not substituted here
    assert sources[1] == FeedSource("bbc-world", "https://feeds.bbci.co.uk/news/world/rss.xml", "en", "gb", "BBC")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[feed]]\nname = "a"\nurl = "https://x.org/f"\nlanguage = "en"\ncountry = "us"\n', "publisher"),
        (
            '[[feed]]\nname = "a"\nurl = "https://x.org/f"\nlanguage = "en"\ncountry = "us"\npublisher = "p"\n'
            '[[feed]]\nname = "a"\nurl = "https://y.org/f"\nlanguage = "en"\ncountry = "us"\npublisher = "p"\n',
            "duplicate",
        ),
        ('[[feed]]\nname = "a"\nurl = "file:///etc/passwd"\nlanguage = "en"\ncountry = "us"\npublisher = "p"\n', "URL"),
        (
            '[[feed]]\nname = "a"\nurl = "https://x.org:99999/f"\nlanguage = "en"\ncountry = "us"\npublisher = "p"\n',
            "URL",
        ),
        (
            '[[feed]]\nname = "a"\nurl = "https://me:s3cret@x.org/f"\nlanguage = "en"\ncountry = "us"\n'
            'publisher = "p"\n',
            "credentials in feed URLs are not supported",
        ),
        ("not toml = = =", "TOML"),
        ("title = 'no feeds'", "no [[feed]]"),
    ],
)
def test_bad_seed_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")) as info:
        load_feed_sources(write(tmp_path, text))
    assert "s3cret" not in str(info.value)


def test_missing_seed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        load_feed_sources(tmp_path / "nope.toml")


# --- parsing -----------------------------------------------------------------------------------------------


def test_rss_entries_are_absolute_and_utc() -> None:
    doc = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title><link>https://example.org/</link>
<ttl>15</ttl>
<item><title>One &amp; two</title><link>/news/1?utm_source=rss</link><guid isPermaLink="false">id-1</guid>
<pubDate>Tue, 03 Mar 2026 10:00:00 +0100</pubDate>
<description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</description>
<dc:creator>Jane Doe</dc:creator></item>
<item><title>No date</title><link>https://example.org/news/2</link></item>
<item><title>No link at all</title><description>skipped</description></item>
</channel></rss>"""
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/feeds/main.xml")
    assert parsed.title == "T"
    assert parsed.ttl_seconds == 900
    assert not parsed.bozo
    assert len(parsed.entries) == 2
    first, second = parsed.entries
    assert first.url == "https://example.org/news/1?utm_source=rss"
    assert first.title == "One & two"
    assert first.summary == "Hello world"
    assert first.published == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert first.guid == "id-1"
    assert first.authors == ("Jane Doe",)
    assert first.feed == "test"
    assert second.published is None


def test_atom_entries() -> None:
    doc = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:x</id><updated>2026-01-01T00:00:00Z</updated>
<entry><title>E</title><id>urn:e1</id><link rel="alternate" href="https://example.org/e1"/>
<updated>2026-01-02T03:04:05-02:00</updated><author><name>A. Writer</name></author><summary>S</summary></entry>
</feed>"""
    parsed = parse_feed(doc, source=SOURCE, base_url="https://example.org/atom")
    (entry,) = parsed.entries
    assert entry.url == "https://example.org/e1"
    assert entry.published == datetime(2026, 1, 2, 5, 4, 5, tzinfo=UTC)
    assert entry.authors == ("A. Writer",)


def test_json_feed() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {"id": "1", "url": "/a", "title": "A", "date_published": "2026-02-01T10:00:00+02:00"},
            {"id": "2", "content_text": "no url"},
        ],
    }
    parsed = parse_feed(json.dumps(doc).encode(), source=SOURCE, base_url="https://example.org/feed.json")
    (entry,) = parsed.entries
    assert entry.url == "https://example.org/a"
    assert entry.published == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def test_blank_line_before_xml_declaration_is_tolerated() -> None:
    doc = "\n\n" + rss("T", [("a", "https://example.org/a")])
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/")
    assert len(parsed.entries) == 1


def test_truncated_feed_yields_what_it_can() -> None:
    doc = rss("T", [("a", "https://example.org/a"), ("b", "https://example.org/b")])
    cut = doc[: doc.index("<item><title>b")] + "<item><title>b</ti"
    parsed = parse_feed(cut.encode(), source=SOURCE, base_url="https://example.org/")
    assert parsed.bozo and parsed.bozo_reason
    assert [e.url for e in parsed.entries][:1] == ["https://example.org/a"]


def test_latin1_feed_decodes() -> None:
    doc = rss("Köln", [("Straße gesperrt", "https://example.org/a")], encoding="iso-8859-1")
    parsed = parse_feed(doc.encode("latin-1"), source=SOURCE, base_url="https://example.org/")
    assert parsed.title == "Köln"
    assert parsed.entries[0].title == "Straße gesperrt"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (BILLION_LAUGHS, "xml_entity_expansion"),
        (XXE, "external_entity"),
        (XXE_PARAMETER, "external_entity"),
        (b"<html><head><title>x</title></head><body><p>not a feed</p></body></html>", "not_a_feed"),
        (b"", "empty_feed"),
        (rss("T", []).encode(), "empty_feed"),
        (b'{"hello": "world"}', "not_a_feed"),
    ],
)
def test_refusals_have_reasons(content: bytes, reason: str) -> None:
    with pytest.raises(FeedParseError) as info:
        parse_feed(content, source=SOURCE, base_url="https://example.org/")
    assert info.value.reason == reason


def test_benign_entities_pass_the_guard() -> None:
    doc = b"""<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;"><!ENTITY copy "&#169;">]>
<rss version="2.0"><channel><title>T&nbsp;x</title><item><title>a</title><link>https://e.org/a</link></item>
</channel></rss>"""
    check_entities(doc)
    assert len(parse_feed(doc, source=SOURCE, base_url="https://e.org/").entries) == 1


def test_utf16_attack_is_still_seen() -> None:
    with pytest.raises(FeedParseError) as info:
        check_entities(XXE.decode().encode("utf-16"))
    assert info.value.reason == "external_entity"


def test_max_entries() -> None:
    doc = rss("T", [(str(i), f"https://example.org/{i}") for i in range(10)])
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/", max_entries=3)
    assert len(parsed.entries) == 3


def test_every_real_feed_parses_or_has_a_reason() -> None:
    root = real_feeds()
    files = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".xml", ".json") and not p.name.endswith(".serde.json")
    ]
    assert len(files) > 100
    parsed = 0
    reasons: set[str] = set()
    for path in files:
        try:
            result = parse_feed(path.read_bytes(), source=SOURCE, base_url="https://example.org/feed")
        except FeedParseError as exc:
            reasons.add(exc.reason)
            continue
        parsed += 1
        assert result.entries
        for entry in result.entries:
            assert "://" in entry.url, (path, entry.url)
            assert entry.published is None or entry.published.tzinfo is not None
    assert parsed >= 90, f"only {parsed} of {len(files)} real feeds parsed"
    assert reasons <= {"not_a_feed", "empty_feed"}


def test_real_feed_entry_counts_match_feed_rs() -> None:
    root = real_feeds() / "feed-rs"
    compared = agree = 0
    for expected_path in sorted(root.rglob("*.serde.json")):
        xml = expected_path.with_name(expected_path.name.replace(".serde.json", ".xml"))
        if not xml.exists():
            xml = expected_path.with_name(expected_path.name.replace(".serde.json", ".json"))
        if not xml.exists():
            continue
        expected = json.loads(expected_path.read_text(encoding="utf-8"))
        want = [e for e in expected.get("entries", []) if any(link.get("href") for link in e.get("links", []))]
        try:
            got = parse_feed(xml.read_bytes(), source=SOURCE, base_url="https://example.org/feed").entries
        except FeedParseError:
            got = ()
        compared += 1
        agree += len(got) == len(want)
    assert compared > 40
    assert agree / compared >= 0.9, f"{agree}/{compared}"


# --- hostile feeds: only FeedParseError-family skips, and what can be read is read ----------------------------

GOOD = "https://example.org/good"


@pytest.mark.parametrize("name", sorted(hostile.feedparser_bug_feeds(GOOD)))
def test_feedparser_bugs_are_survived_and_the_entries_salvaged(name: str) -> None:
    doc = hostile.feedparser_bug_feeds(GOOD)[name]
    parsed = parse_feed(doc, source=SOURCE, base_url="https://example.org/feed.xml")
    assert [e.url for e in parsed.entries] == [GOOD]


def test_a_parser_that_keeps_failing_is_a_parser_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(content: bytes, headers: dict[str, str]) -> object:
        raise RuntimeError("feedparser bug")

    monkeypatch.setattr(feeds_module, "_feedparser", broken)
    with pytest.raises(ParserError) as info:
        parse_feed(rss("T", [("a", GOOD)]).encode(), source=SOURCE, base_url="https://example.org/")
    assert info.value.reason == "parser_error" and isinstance(info.value, FeedParseError)


def test_bad_entry_links_are_dropped_and_counted() -> None:
    doc = hostile.bad_link_feed("http://127.0.0.1:5", "http://127.0.0.1:5/articles/1.html", "http://127.0.0.1:6")
    parsed = parse_feed(doc, source=SOURCE, base_url="http://127.0.0.1:5/hostile/bad-links.xml")
    urls = [e.url for e in parsed.entries]
    assert urls == ["http://127.0.0.1:5/articles/1.html", "http://127.0.0.1:6/admin"]  # userinfo stripped
    assert parsed.dropped == {"bad_url": 8}
    assert all(hostile.USERINFO_SECRET not in e.guid for e in parsed.entries)


@pytest.mark.parametrize(
    "link",
    ["http://e.org:99999/a", "http://[::1/a", "http://e.org/a\x01b", "http://exa mple.org/", "https://:443/x"],
)
def test_one_bad_link_costs_only_its_entry(link: str) -> None:
    items = [("bad", link), ("good", GOOD)]
    doc = rss("T", items).encode("utf-8")
    parsed = parse_feed(doc, source=SOURCE, base_url="https://example.org/")
    assert [e.url for e in parsed.entries] == [GOOD]
    assert parsed.dropped == {"bad_url": 1}


def test_json_feeds_with_wrong_types() -> None:
    docs = hostile.json_feeds(GOOD)
    with pytest.raises(FeedParseError) as info:
        parse_feed(docs["json-items-number.json"], source=SOURCE, base_url="")
    assert info.value.reason == "empty_feed"
    parsed = parse_feed(docs["json-numeric-title.json"], source=SOURCE, base_url="")
    assert parsed.title == "42"
    (entry,) = parsed.entries
    assert (entry.url, entry.title, entry.authors, entry.summary) == (GOOD, "7", ("3",), "")
    assert parsed.dropped == {"bad_url": 1, "no_link": 1}


@pytest.mark.parametrize(
    "doc",
    [
        {"version": "https://jsonfeed.org/version/1", "items": {"a": 1}},
        {"version": "https://jsonfeed.org/version/1", "items": [None, 3, [], {"url": ["x"]}]},
        {"version": "https://jsonfeed.org/version/1", "feed_url": 5, "items": [{"url": "/rel"}]},
        {"version": ["jsonfeed.org"], "items": []},
        [1, 2, 3],
    ],
)
def test_json_feed_shapes_never_crash(doc: object) -> None:
    with pytest.raises(FeedParseError):
        parse_feed(json.dumps(doc).encode(), source=SOURCE, base_url="")


def test_deeply_nested_json_is_a_skip() -> None:
    with pytest.raises(FeedParseError):
        parse_feed(b"{" + b'"a":[' * 100_000, source=SOURCE, base_url="")


def test_w3c_entity_set_doctype_is_dropped_and_the_feed_read() -> None:
    parsed = parse_feed(hostile.w3c_entities_feed(GOOD), source=SOURCE, base_url="https://example.org/rss")
    (entry,) = parsed.entries
    assert entry.url == GOOD and entry.title == "Résumé of the week"
    assert parsed.title == "Café news — old"


@pytest.mark.parametrize(
    "subset",
    [
        # a general entity with a W3C public id is still an external entity
        b'<!ENTITY lat1 PUBLIC "-//W3C//ENTITIES Latin 1 for XHTML//EN" "file:///etc/passwd">',
        # a W3C set beside a real XXE
        b'<!ENTITY % HTMLlat1 PUBLIC "-//W3C//ENTITIES Latin 1 for XHTML//EN" "x.ent"> %HTMLlat1;'
        b' <!ENTITY xxe SYSTEM "file:///etc/passwd">',
        # a public id that only looks like the W3C's
        b'<!ENTITY % evil PUBLIC "-//EVIL//ENTITIES Latin 1//EN" "http://169.254.169.254/"> %evil;',
    ],
)
def test_real_xxe_is_still_refused(subset: bytes) -> None:
    doc = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss ['
        + subset
        + b"]>\n"
        + rss("T", [("a", GOOD)]).split("?>", 1)[1].encode()
    )
    with pytest.raises(UnsafeFeed) as info:
        parse_feed(doc, source=SOURCE, base_url="https://example.org/")
    assert info.value.reason == "external_entity" and info.value.permanent


def test_w3c_sets_with_internal_entities_keep_the_internal_ones() -> None:
    doc = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss [\n'
        b'<!ENTITY % HTMLlat1 PUBLIC "-//W3C//ENTITIES Latin 1//EN//HTML" "http://www.w3.org/TR/html4/HTMLlat1.ent">'
        b'%HTMLlat1;\n<!ENTITY site "Example">\n]>\n'
        b'<rss version="2.0"><channel><title>&site; &auml;</title><item><title>a</title>'
        b"<link>https://example.org/good</link></item></channel></rss>"
    )
    parsed = parse_feed(doc, source=SOURCE, base_url="https://example.org/")
    assert parsed.title == "Example ä" and not parsed.bozo


def test_the_http_charset_reaches_the_parser() -> None:
    doc = hostile.koi8_feed(GOOD)
    parsed = parse_feed(
        doc, source=SOURCE, base_url="https://example.org/", content_type="application/rss+xml; charset=koi8-r"
    )
    assert parsed.entries[0].title == hostile.KOI8_TITLE
    response = Response(
        url="https://example.org/r",
        final_url="https://example.org/r",
        status=200,
        headers={"content-type": "application/rss+xml; charset=KOI8-R"},
        content=doc,
        fetched_at=datetime(2026, 11, 20, tzinfo=UTC),
        kind="feed",
    )
    assert parse_response(response, source=SOURCE).entries[0].title == hostile.KOI8_TITLE
    assert parse_feed(doc, source=SOURCE, base_url="", charset="koi8-r").entries[0].title == hostile.KOI8_TITLE


def test_a_lying_single_byte_header_charset_does_not_garble_utf8() -> None:
    doc = rss("Köln", [("Straße gesperrt", GOOD)]).encode("utf-8")
    parsed = parse_feed(doc, source=SOURCE, base_url="", content_type="text/xml; charset=iso-8859-1")
    assert parsed.title == "Köln" and parsed.entries[0].title == "Straße gesperrt"


@pytest.mark.parametrize(
    ("encode", "content_type"),
    [
        (lambda xml: xml.encode("utf-16"), "text/xml; charset=iso-8859-1"),  # the byte order mark wins
        (lambda xml: xml.encode("utf-8"), "text/xml; charset=utf-16"),  # ASCII markup is no UTF-16
        (lambda xml: xml.encode("utf-8"), "text/xml; charset=gbk"),  # GBK decodes UTF-8 without an error
        (lambda xml: xml.replace('encoding="utf-8"', 'encoding="shift_jis"').encode("utf-8"), "text/xml"),
        (lambda xml: xml.encode("utf-8"), "application/json"),  # RSS served as JSON is still RSS
    ],
    ids=["bom-over-header", "utf16-label-on-ascii", "gbk-label-on-utf8", "shift-jis-declaration", "xml-as-json"],
)
def test_labels_the_bytes_contradict_do_not_lose_or_garble_a_feed(encode: Any, content_type: str) -> None:
    """Each was lost (not_a_feed) or garbled ('Gr枚脽e') before (found by a red-team probe, 2026-12-07)."""
    xml = rss("Köln", [("Größe café", GOOD)])
    assert 'encoding="utf-8"' in xml
    parsed = parse_feed(encode(xml), source=SOURCE, base_url="", content_type=content_type)
    assert parsed.title == "Köln" and parsed.entries[0].title == "Größe café"


def test_a_utf16_label_on_utf16_without_a_byte_order_mark_is_kept() -> None:
    """Markup whose "<" comes with the NULs of UTF-16 is not ASCII markup: its utf-16 label stays."""
    doc = rss("Köln", [("Größe café", GOOD)], encoding="").encode("utf-16-le")
    for content_type in ("text/xml; charset=utf-16le", "text/xml; charset=utf-16"):
        assert parse_feed(doc, source=SOURCE, base_url="", content_type=content_type).entries[0].title == "Größe café"


def test_real_legacy_feeds_keep_their_labels() -> None:
    text = "東京都は今日、新しい交通政策を発表しました"
    xml = rss("ニュース", [(text, GOOD)]).replace('encoding="utf-8"', 'encoding="shift_jis"')
    assert parse_feed(xml.encode("shift_jis"), source=SOURCE, base_url="").entries[0].title == text
    doc = rss("Nachrichten", [("Straße gesperrt", GOOD)]).replace('encoding="utf-8"', 'encoding="windows-1252"')
    for content_type in ("text/xml", "text/xml; charset=windows-1252"):
        parsed = parse_feed(doc.encode("cp1252"), source=SOURCE, base_url="", content_type=content_type)
        assert parsed.entries[0].title == "Straße gesperrt"


def test_utf8_feed_with_a_stray_byte_stays_utf8() -> None:
    items = [("Größere Änderungen im Straßenverkehr", GOOD), ("Bürger äußerten Kritik", f"{GOOD}/2")]
    doc = rss("Nachrichten aus Köln", items).encode("utf-8").replace(b"Kritik", b"Kritik\x92", 1)
    parsed = parse_feed(doc, source=SOURCE, base_url="", content_type="application/rss+xml; charset=utf-8")
    assert parsed.title == "Nachrichten aus Köln"
    assert parsed.entries[0].title == "Größere Änderungen im Straßenverkehr"
    assert parsed.entries[1].title == "Bürger äußerten Kritik\ufffd"


def test_a_body_naming_a_local_file_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes(hostile.secret_file_feed(GOOD))
    with pytest.raises(FeedParseError) as info:
        parse_feed(str(secret).encode(), source=SOURCE, base_url="")
    assert info.value.reason == "not_a_feed"
    assert hostile.FILE_SECRET not in str(info.value)


def test_unreadable_encoding_labels_are_ignored() -> None:
    for label in (b"utf-\xff8", b"no-such-charset", b""):
        doc = rss("T", [("a", GOOD)]).encode().replace(b'encoding="utf-8"', b'encoding="' + label + b'"', 1)
        assert [e.url for e in parse_feed(doc, source=SOURCE, base_url="").entries] == [GOOD]


def test_lone_surrogates_and_controls_in_entries_are_cleaned() -> None:
    """A JSON Feed's ``"\\ud800"`` made a str UTF-8 cannot encode: the archive then refused the page's record
    as an ArchiveError, an infrastructure error that failed the whole capture batch on every run."""
    doc = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J\\u0000", "items": [{"id": "1", "url": "/a",'
        ' "title": "bad \\ud800 title\\u0007", "summary": "x\\udfff", "authors": [{"name": "N\\u0000o"}]}]}'
    )
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/feed.json")
    (entry,) = parsed.entries
    assert entry.title == "bad \ufffd title" and entry.summary == "x\ufffd" and entry.authors == ("No",)
    assert parsed.title == "J"
    xml = rss("T", [("t &amp;#xD800; &amp;#1; end", "https://example.org/b")])
    (item,) = parse_feed(xml.encode(), source=SOURCE, base_url="https://example.org/").entries
    item.title.encode("utf-8")
    assert "\x01" not in item.title and item.title.endswith("end")


def _attribute_counts(document: bytes) -> list[int]:
    from lxml import etree

    root = etree.fromstring(document, etree.XMLParser(recover=True, resolve_entities=False, no_network=True))
    return [len(element.attrib) for element in root.iter()]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_an_element_with_thousands_of_attributes_is_cut_before_feedparser(
    encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """feedparser reads attributes in quadratic time (40,000 on one item: 26 s; a 10 MB feed of them: hours);
    what it is given has at most MAX_ATTRIBUTES per element, and the feed's entries are all there."""
    from ingest.markup import MAX_ATTRIBUTES

    attributes = " ".join(f'a{i}="{i}"' for i in range(20_000))
    doc = rss("T", [("one", "https://example.org/1"), ("two", "https://example.org/2")])
    doc = doc.replace("<item>", f"<item {attributes}>", 1).replace('encoding="utf-8"', f'encoding="{encoding}"')
    seen: list[bytes] = []
    real = feeds_module._feedparser

    def spy(content: bytes, headers: dict[str, str]) -> object:
        seen.append(content)
        return real(content, headers)

    monkeypatch.setattr(feeds_module, "_feedparser", spy)
    parsed = parse_feed(doc.encode(encoding), source=SOURCE, base_url="https://example.org/")
    assert [e.title for e in parsed.entries] == ["one", "two"]
    assert max(_attribute_counts(seen[0])) == MAX_ATTRIBUTES


def test_a_huge_feed_converts_only_the_entries_it_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = feeds_module._entry_from_feedparser

    def counted(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(feeds_module, "_entry_from_feedparser", counted)
    doc = rss("T", [(f"t{i}", f"https://example.org/{i}") for i in range(2_000)])
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/", max_entries=50)
    assert len(parsed.entries) == 50 and parsed.entries[0].title == "t0"
    assert len(calls) == 50


def test_a_json_integer_past_pythons_digit_limit_does_not_lose_the_feed() -> None:
    doc = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": ' + b"9" * 5_000 + b', "url": "/a"}]}'
    (entry,) = parse_feed(doc, source=SOURCE, base_url="https://example.org/feed.json").entries
    assert entry.url == "https://example.org/a"


def test_copies_of_one_link_do_not_crowd_the_others_out_of_max_entries() -> None:
    items = [(f"copy {i}", f"https://example.org/same?utm_source=x{i}") for i in range(400)]
    doc = rss("T", [*items, ("other", "https://example.org/other")])
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/", max_entries=300)
    assert [e.title for e in parsed.entries] == ["copy 0", "other"]
    assert parsed.dropped == {"duplicate_link": 399}


FEEDBURNER = """<?xml version="1.0"?>
<rss version="2.0" xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><channel><title>T</title>
<item><title>Proxied</title><link>http://feedproxy.example/~r/t/~3/abc/</link>
<feedburner:origLink>https://example.org/2014/12/proxied.html</feedburner:origLink></item>
<item><title>Proxied, no usable original</title><link>https://example.org/2014/12/plain.html</link>
<feedburner:origLink>javascript:alert(1)</feedburner:origLink></item>
</channel></rss>"""


def test_feedburner_original_links_are_the_publishers_urls() -> None:
    parsed = parse_feed(FEEDBURNER.encode(), source=SOURCE, base_url="https://example.org/feed.xml")
    assert [e.url for e in parsed.entries] == [
        "https://example.org/2014/12/proxied.html",
        "https://example.org/2014/12/plain.html",
    ]


# --- the entity guard reads the whole prolog, linearly (found by red-teaming) ------------------------------------


def _after_padding(document: bytes, padding: bytes) -> bytes:
    """``document`` with ``padding`` between its XML declaration and its DOCTYPE."""
    declaration, rest = document.split(b"\n", 1)
    return declaration + b"\n" + padding + rest


@pytest.mark.parametrize(
    "padding",
    [
        b"<!-- " + b"x" * 1_100_000 + b" -->\n",
        b" \n" * 600_000,
        b"<?pi " + b"y" * 1_100_000 + b"?>\n",
    ],
    ids=["comment", "whitespace", "processing-instruction"],
)
def test_an_entity_attack_after_a_megabyte_of_prolog_is_refused(padding: bytes) -> None:
    with pytest.raises(UnsafeFeed) as info:
        check_entities(_after_padding(BILLION_LAUGHS, padding))
    assert info.value.reason == "xml_entity_expansion"


def test_quoted_markup_in_the_internal_subset_does_not_end_the_prolog_early() -> None:
    # "<b>" and "]>" inside entity values and a quote inside a comment must not hide the attack behind them
    document = BILLION_LAUGHS.replace(
        b' <!ENTITY lol "lol">',
        b""" <!-- don't --> <!ENTITY a '<b>]>'> <!ENTITY lol "lol">""",
    )
    with pytest.raises(UnsafeFeed):
        check_entities(document)
    # a ">" inside a value does not end the declaration before the references it holds
    hidden = BILLION_LAUGHS.replace(b'<!ENTITY lol1 "', b'<!ENTITY lol1 "x>')
    with pytest.raises(UnsafeFeed):
        check_entities(hidden)


def test_entity_declarations_quoted_in_an_item_are_article_text() -> None:
    # a security feed quoting an XXE payload in its CDATA is not an attack on us
    doc = rss("Security", [("XXE explained", "https://example.org/xxe")]).replace(
        "<title>XXE explained</title>",
        '<title>XXE explained</title><description><![CDATA[<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        "]]></description>",
    )
    parsed = parse_feed(doc.encode(), source=SOURCE, base_url="https://example.org/")
    assert [e.url for e in parsed.entries] == ["https://example.org/xxe"]


@pytest.mark.parametrize(
    "document",
    [
        b"<?xml version='1.0'?>" + b"<!DOCTYPE rss " * 40_000 + b"<!ENTITY a 'x'>",
        b"<?xml version='1.0'?><!DOCTYPE rss [" + b"<!ENTITY a " * 40_000,
        b"<?xml version='1.0'?><!DOCTYPE rss [" + b"<!ENTITY a 'x'>" * 65 + b"]><rss/>",
    ],
    ids=["doctypes", "unterminated-entities", "too-many-entities"],
)
def test_crafted_doctypes_are_judged_in_linear_time(document: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(FeedParseError):
        parse_feed(document, source=SOURCE, base_url="https://example.org/")
    assert time.monotonic() - started < 5  # quadratic scans took minutes on these


# --- text, links, dates and the item budget (found by red-teaming) ----------------------------------------------


def _rss_items(*items: str) -> bytes:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><link>https://example.org/</link>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def test_a_plain_text_title_keeps_its_angle_brackets() -> None:
    doc = _rss_items(
        "<item><title>a &lt; b and c &gt; d</title><link>https://example.org/a</link></item>",
        "<item><title>Bold &lt;b&gt;news&lt;/b&gt; &amp;amp; more</title><link>https://example.org/b</link></item>",
    )
    first, second = parse_feed(doc, source=SOURCE, base_url="https://example.org/rss").entries
    assert first.title == "a < b and c > d"  # text: kept
    assert second.title == "Bold news & more"  # feedparser marks it HTML: tags dropped, references decoded


def test_many_unclosed_angle_brackets_are_linear() -> None:
    item = {"id": "1", "url": "https://example.org/a", "title": "x", "content_html": "<b" * 300_000 + " end"}
    doc = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [item]}).encode()
    started = time.monotonic()
    (entry,) = parse_feed(doc, source=SOURCE, base_url="https://example.org/feed.json").entries
    assert time.monotonic() - started < 5  # 600 KB of "<b" without ">": two minutes before
    assert entry.url == "https://example.org/a"


@pytest.mark.parametrize("link", ["#", "", "#top", " # "])
def test_a_link_to_the_feed_itself_is_no_article(link: str) -> None:
    doc = _rss_items(
        f"<item><title>self</title><link>{link}</link></item>",
        "<item><title>good</title><link>https://example.org/good</link></item>",
    )
    parsed = parse_feed(doc, source=SOURCE, base_url="https://example.org/rss")
    assert [e.url for e in parsed.entries] == ["https://example.org/good"]
    assert sum(parsed.dropped.values()) == 1  # no_link (bad_url for an empty element feedparser cannot resolve)


def test_a_fragment_link_falls_back_to_the_permalink_guid() -> None:
    doc = _rss_items("<item><title>t</title><link>#</link><guid>https://example.org/perma</guid></item>")
    (entry,) = parse_feed(doc, source=SOURCE, base_url="https://example.org/rss").entries
    assert entry.url == "https://example.org/perma"


def test_good_items_after_thousands_of_linkless_ones_are_kept() -> None:
    junk = "<item><title>no link</title></item>" * 3_000
    good = "".join(f"<item><title>{n}</title><link>https://example.org/{n}</link></item>" for n in range(5))
    parsed = parse_feed(_rss_items(junk, good), source=SOURCE, base_url="https://example.org/rss", max_entries=50)
    assert len(parsed.entries) == 5
    assert parsed.dropped == {"no_link": 3_000}


def test_items_past_the_budget_are_counted() -> None:
    good = "".join(f"<item><title>g</title><link>https://example.org/{n}</link></item>" for n in range(3))
    bad = "".join(f"<item><title>x</title><link>http://[::1{n}/</link></item>" for n in range(60))
    late = "<item><title>g</title><link>https://example.org/late</link></item>"
    parsed = parse_feed(_rss_items(good, bad, late), source=SOURCE, base_url="https://example.org/rss", max_entries=5)
    assert len(parsed.entries) == 3
    # 50 items checked (5 x 10): 3 good, 47 bad; the 14 after them are counted, not lost
    assert parsed.dropped == {"bad_url": 47, "over_item_budget": 14}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wed, 02 Dec 2026 10:00:00 +0100", datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
        ("2026-12-02T10:00:00Z", datetime(2026, 12, 2, 10, 0, tzinfo=UTC)),
        ("2 December 2026 10:00", datetime(2026, 12, 2, 10, 0, tzinfo=UTC)),
        ("Sat, Dec 16 2023 02:02:33 PM", datetime(2023, 12, 16, 14, 2, 33, tzinfo=UTC)),  # feedparser: 02:02
        ("2026", None),  # feedparser: 1 January
        ("2026-12", None),  # feedparser: 1 December
        ("March", None),  # dateutil: this year's March
        ("14:05", None),  # dateutil: today
        ("December 2026", None),
        ("2 Dec 2026 10:00 XYZT", None),  # an unknown zone is not UTC
        # impossible fields: feedparser carried them over into plausible wrong dates (2026-11-28 05:21, ...)
        ("Wed, 02 Dec 2026 10:00:00 +9999", None),
        ("2025-13-01T10:00:00Z", None),
        ("-0001-01-01T00:00:00Z", None),
        ("2026-11-31T10:00:00Z", None),
        ("2026-12-02T25:61:00Z", None),
        ("Mon, 31 Nov 2026 10:00:00 GMT", None),
        ("2026-12-02T24:00:00Z", datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),  # ISO 8601's end of a day
        ("Thu, 29 Feb 2024 10:00:00 GMT", datetime(2024, 2, 29, 10, 0, tzinfo=UTC)),
    ],
)
def test_a_feed_date_names_a_whole_day_or_is_none(raw: str, expected: datetime | None) -> None:
    doc = _rss_items(f"<item><title>t</title><link>https://example.org/a</link><pubDate>{raw}</pubDate></item>")
    (entry,) = parse_feed(doc, source=SOURCE, base_url="https://example.org/rss").entries
    assert entry.published == expected


_FEED = '[[feed]]\nname = "{name}"\nurl = "{url}"\nlanguage = "en"\ncountry = "us"\npublisher = "p"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_FEED.format(name="a", url="https://x.org/f") + 'intervall = "15m"\n', "feed #1 \\('a'\\) has unknown key"),
        (_FEED.replace('"{name}"', "5").format(url="https://x.org/f"), "name must be a string"),
        (
            _FEED.format(name="a", url="https://x.org/f") + _FEED.format(name="b", url="https://X.org:443/f"),
            "feeds 'a' and 'b' have the same URL",
        ),
        (_FEED.format(name="a", url="https://x.org/{{BASE_URL}}/f"), "may only begin a URL"),
        (_FEED.format(name="a", url="{{BASE_URL}}/{{BASE_URL}}"), "may only begin a URL"),
        ('feeds = "typo"\n' + _FEED.format(name="a", url="https://x.org/f"), "unknown top-level key"),
    ],
)
def test_seed_file_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_feed_sources(write(tmp_path, text))


def test_a_seed_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + _FEED.format(name="a", url="{{BASE_URL}}/f.xml").encode())
    assert [s.url for s in load_feed_sources(path)] == ["{{BASE_URL}}/f.xml"]


@pytest.mark.parametrize("title", ["a", "ab", "abc", "abcd"])  # odd and even lengths: UTF-16 reads either wrong
def test_a_utf16_declaration_on_ascii_bytes_is_a_wrong_label(title: str) -> None:
    doc = _rss_items(f"<item><title>{title}</title><link>https://example.org/a</link></item>")
    doc = doc.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="utf-16"?>')
    assert [e.url for e in parse_feed(doc, source=SOURCE, base_url="https://example.org/rss").entries] == [
        "https://example.org/a"
    ]


@pytest.mark.parametrize("title", ["Grüße", "news", "Straße 1"])
def test_a_utf32_feed_is_read(title: str) -> None:
    doc = _rss_items(f"<item><title>{title}</title><link>https://example.org/a</link></item>").decode()
    (entry,) = parse_feed(doc.encode("utf-32"), source=SOURCE, base_url="https://example.org/rss").entries
    assert entry.title == title


def test_a_big_html_page_at_a_feed_url_is_refused_at_once() -> None:
    page = b"<!-- generated -->\n<!DOCTYPE html><html><body>" + b"<p>x</p>" * 500_000 + b"</body></html>"
    started = time.monotonic()
    with pytest.raises(FeedParseError) as info:
        parse_feed(page, source=SOURCE, base_url="https://example.org/rss")
    assert info.value.reason == "not_a_feed"
    assert time.monotonic() - started < 1  # feedparser's loose parser took 8 s on these 4 MB
