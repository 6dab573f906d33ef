"""Mutation fuzzing of ``parse_feed`` over every real feed in ``../shared/eval/real-feeds``.

Each file is mutated the ways real feeds and hostile servers break them: truncations, byte flips, inserted and
deleted spans, injected markup (the elements feedparser itself trips over, stray entities, control bytes),
corrupted XML declarations, wrong Content-Types and charsets, no base URL. A fixed seed makes every run the
same. Anything but a :class:`~ingest.errors.FeedParseError`-family skip is a crash; so is an entry whose URL the
pipeline could not key (``document_id``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.errors import BadURL, FeedParseError
from ingest.feeds import FeedSource, parse_feed
from ingest.urls import clean_url, document_id
from tests.conftest import shared_path

pytestmark = [pytest.mark.unit, pytest.mark.slow]

SEED = 20261201
MUTATIONS_PER_FILE = 24
#: Files over 100 KB (a handful, up to 600 KB) get fewer mutations: they cost the most time, not more coverage.
MUTATIONS_PER_LARGE_FILE = 6
SOURCE = FeedSource(name="fuzz", url="https://example.org/feed", language="en", country="", publisher="fuzz")

INJECTIONS = (
    b'<psc:chapters xmlns:psc="http://podlove.org/simple-chapters"><psc:chapter title="x"/></psc:chapters>',
    b'<gml:pos xmlns:gml="http://www.opengis.net/gml">1 2</gml:pos>',
    b"</creativeCommons:license>",
    b'<georss:where xmlns:georss="http://www.georss.org/georss"><gml:Point><gml:pos>x y</gml:pos></gml:Point>',
    b"<media:content url='http://[::1/x' />",
    b"<link>http://e.org:99999/a</link>",
    b"<link>http://u:p@e.org/a\x01</link>",
    b"<enclosure url='javascript:x' length='-1' type='\xff'/>",
    b"&undefined; &#0; &#xD800; &#99999999;",
    b"<![CDATA[",
    b"]]>",
    b"<!-- ",
    b"<?xml version='1.0' encoding='utf-\xff8'?>",
    b'<!DOCTYPE rss [<!ENTITY a "&#38;#38;">]>',
    b"\x00\x00\xfe\xff",
    b"<item><link>",
    b"</item></channel>",
    b"<pubDate>Mon, 99 Foo 99999 99:99:99 +9999</pubDate>",
    b"<ttl>1e400</ttl><sy:updateFrequency xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'>0"
    b"</sy:updateFrequency>",
)
CONTENT_TYPES = (
    None,
    "text/html",
    "application/json",
    "image/png",
    "text/plain; charset=koi8-r",
    "application/xml; charset=utf-16",
    "application/rss+xml; charset=\xff",
    "text/xml",
    "garbage;;charset=",
)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data) + 1)]


def _flip(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if buf:
            buf[rng.randrange(len(buf))] ^= rng.randrange(1, 256)
    return bytes(buf)


def _insert(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    piece = rng.choice(INJECTIONS) if rng.random() < 0.7 else rng.randbytes(rng.randint(1, 16))
    return data[:at] + piece + data[at:]


def _delete(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 200) :]


def _duplicate(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    span = data[start : start + rng.randint(1, 500)]
    at = rng.randrange(len(data) + 1)
    return data[:at] + span * rng.randint(1, 3) + data[at:]


def _declaration(rng: random.Random, data: bytes) -> bytes:
    label = rng.choice([b"utf-\xff8", b"", b"x" * 300, b"koi8-r", b"utf-16", b"ebcdic-cp-us", b"\x00"])
    head = b"<?xml version='1.0' encoding='" + label + b"'?>"
    return head + data.split(b"?>", 1)[-1]


MUTATORS: dict[str, Callable[[random.Random, bytes], bytes]] = {
    "truncate": _truncate,
    "flip": _flip,
    "insert": _insert,
    "delete": _delete,
    "duplicate": _duplicate,
    "declaration": _declaration,
}


def feed_files() -> list[Path]:
    root = shared_path("eval", "real-feeds")
    return [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".xml", ".json", ".rss", ".atom") and not p.name.endswith(".serde.json")
    ]


def test_mutated_real_feeds_never_crash_the_parser() -> None:
    files = feed_files()
    assert len(files) > 100, "the real feeds are missing"
    rng = random.Random(SEED)
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    for path in files:
        original = path.read_bytes()
        for i in range(MUTATIONS_PER_FILE if len(original) < 100_000 else MUTATIONS_PER_LARGE_FILE):
            name = rng.choice(sorted(MUTATORS))
            data = MUTATORS[name](rng, original)
            if rng.random() < 0.3:  # a second mutation on top
                data = MUTATORS[rng.choice(sorted(MUTATORS))](rng, data)
            content_type = rng.choice(CONTENT_TYPES) if rng.random() < 0.4 else None
            base_url = "" if rng.random() < 0.3 else f"https://example.org/{path.name}"
            kinds[name] += 1
            try:
                parsed = parse_feed(data, source=SOURCE, base_url=base_url, content_type=content_type)
            except FeedParseError as exc:
                outcomes[f"skip:{exc.reason}"] += 1
                continue
            except Exception as exc:  # the crash this test exists to find
                crashes.append(f"{path.name} #{i} {name} ct={content_type!r}: {type(exc).__name__}: {exc}")
                continue
            outcomes["parsed"] += 1
            for entry in parsed.entries:
                try:
                    assert clean_url(entry.url) == entry.url
                    document_id(entry.url)
                except (BadURL, AssertionError) as exc:
                    crashes.append(f"{path.name} #{i} {name}: entry URL {entry.url!r} unusable: {exc}")
    total = sum(kinds.values())
    print(f"fuzz: {len(files)} files, {total} mutations {dict(sorted(kinds.items()))}; outcomes {dict(outcomes)}")
    assert total >= 2500
    assert not crashes, f"{len(crashes)} crashes in {total} mutations:\n" + "\n".join(crashes[:20])
