"""The article document: deterministic ids, fields that fit the strict mapping, replay-stable content."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.config import DATA_DIR
from ingest.documents import MAX_KEYWORD_BYTES, Origin, article_url, build_article
from ingest.extraction import Extracted
from ingest.tagging import Tagger
from ingest.urls import document_id

pytestmark = pytest.mark.unit

ORIGIN = Origin(
    feed="courier-world",
    outlet="The Northbridge Courier",
    language="en",
    country="US",
    entry_url="https://www.courier.example/world/fbi-blames-pyongyang?utm_source=rss&utm_medium=feed",
    entry_title="FBI blames Pyongyang",
    entry_published="2014-12-19T18:00:00+00:00",
)
EXTRACTED = Extracted(
    title="FBI says North Korea was behind the Sony Pictures hack",
    body="The FBI said on Friday that North Korea was responsible for the cyberattack on Sony Pictures.\n"
    "Officials cited malware overlaps with earlier attacks attributed to Pyongyang.",
    lead="The FBI said on Friday that North Korea was responsible for the cyberattack on Sony Pictures.",
    description="Attribution of the studio hack",
    authors=("Dana Whitfield",),
    published=None,
    published_has_time=False,
    published_guessed=False,
    language="en",
    site_name="Northbridge Courier",
    url=None,
)


def _build(**overrides: object) -> dict[str, object]:
    tags = Tagger().tag(title=EXTRACTED.title, body=EXTRACTED.body, language="en")
    kwargs: dict[str, object] = {
        "origin": ORIGIN,
        "extracted": EXTRACTED,
        "url": "https://courier.example/world/fbi-blames-pyongyang",
        "fetched_at": datetime(2014, 12, 19, 18, 5, tzinfo=UTC),
        "source_urls": [ORIGIN.entry_url],
        "tag_fields": tags.as_fields(),
        "archive": {"warc_path": "2014/12/19/18/x.warc.gz", "record_id": "<urn:uuid:1>"},
    }
    kwargs.update(overrides)
    return build_article(**kwargs)  # type: ignore[arg-type]


def test_id_is_derived_from_the_normalised_url() -> None:
    doc = _build()
    assert doc["doc_id"] == document_id("https://courier.example/world/fbi-blames-pyongyang")
    # the feed's tracking-parameter link and the www. variant are the same article
    assert doc["doc_id"] == document_id(ORIGIN.entry_url)
    assert doc["source_urls"] == ["https://courier.example/world/fbi-blames-pyongyang"]


def test_building_twice_gives_identical_documents() -> None:
    assert json.dumps(_build(), sort_keys=True) == json.dumps(_build(), sort_keys=True)


def test_feed_date_is_used_when_the_page_has_none() -> None:
    doc = _build()
    assert doc["published_at"] == "2014-12-19T18:00:00+00:00"
    assert doc["fetched_at"] == "2014-12-19T18:05:00+00:00"


def test_a_day_only_page_date_yields_to_the_feed_time() -> None:
    day_only = replace(EXTRACTED, published=datetime(2014, 12, 19, tzinfo=UTC))
    assert _build(extracted=day_only)["published_at"] == "2014-12-19T18:00:00+00:00"
    timed = replace(day_only, published=datetime(2014, 12, 19, 9, 30, tzinfo=UTC), published_has_time=True)
    assert _build(extracted=timed)["published_at"] == "2014-12-19T09:30:00+00:00"
    far = replace(day_only, published=datetime(2014, 11, 2, tzinfo=UTC))  # the feed re-dated an old article
    assert _build(extracted=far)["published_at"] == "2014-11-02T00:00:00+00:00"


def test_every_field_is_in_the_strict_mapping() -> None:
    template = json.loads((DATA_DIR / "templates" / "news-articles.json").read_text("utf-8"))
    mapped = set(template["template"]["mappings"]["properties"])
    doc = _build()
    assert set(doc) <= mapped, set(doc) - mapped
    assert "cyberattack" in doc["tags"]


def test_canonical_link_wins_over_the_fetched_url() -> None:
    html = '<html><head><link rel="canonical" href="https://courier.example/a/1"></head><body></body></html>'
    assert article_url(html=html, final_url="https://courier.example/a/1?page=amp", extracted_url=None) == (
        "https://courier.example/a/1"
    )
    assert article_url(html="<html></html>", final_url="https://courier.example/b", extracted_url=None) == (
        "https://courier.example/b"
    )


@pytest.mark.parametrize(
    "extracted_url",
    ["https://courier.example/", "https://other.example/world/scoop", "http://127.0.0.1/a", "javascript:x"],
)
def test_trafilaturas_reading_of_the_canonical_passes_the_same_checks(extracted_url: str) -> None:
    """A home page or another site's URL (og:url, JSON-LD) never becomes the document's id: every article of a
    broken template would collapse onto one id, or a page would overwrite another outlet's article."""
    page = "https://courier.example/world/2014/12/19/fbi-blames-pyongyang"
    assert article_url(html="<html></html>", final_url=page, extracted_url=extracted_url) == page
    same = "https://www.courier.example/world/fbi-blames-pyongyang"
    assert article_url(html="<html></html>", final_url=page, extracted_url=same) == same


def test_origin_survives_a_round_trip_through_archive_metadata() -> None:
    assert Origin.from_metadata(ORIGIN.as_metadata()) == ORIGIN


def test_documents_hold_nothing_a_store_refuses() -> None:
    """Lone surrogates and control characters (a JSON Feed's ``"\\ud800"``, a page's NUL) never reach the index;
    a page's 40 KB author or site name is cut below Lucene's 32,766-byte term limit instead of failing the
    document."""
    extracted = replace(
        EXTRACTED,
        title="Bad \ud800 title\x00",
        authors=("A" * 40_000, "Dana\x07 Whitfield"),
        site_name="\u00e9" * 40_000,
        body=EXTRACTED.body + " \udfff",
    )
    doc = _build(extracted=extracted, origin=replace(ORIGIN, outlet=""))
    text = json.dumps(doc, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate left anywhere
    assert "\x00" not in text and "\x07" not in text
    assert doc["title"] == "Bad \ufffd title"
    assert doc["authors"][1] == "Dana Whitfield"
    for name in ("authors", "site_name", "outlet"):
        values = doc[name] if isinstance(doc[name], list) else [doc[name]]
        assert all(len(v.encode("utf-8")) <= MAX_KEYWORD_BYTES for v in values), name
    assert doc["site_name"] == "\u00e9" * (MAX_KEYWORD_BYTES // 2)  # never cut inside a character


def test_a_date_past_the_calendar_in_utc_is_no_date_not_a_lost_article() -> None:
    far = replace(EXTRACTED, published=datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))))
    doc = _build(extracted=far, origin=replace(ORIGIN, entry_published=""))
    assert doc["published_at"] is None
    early = replace(EXTRACTED, published=datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5))))
    assert _build(extracted=early, origin=replace(ORIGIN, entry_published=""))["published_at"] is None


@pytest.mark.parametrize("entry_published", ["2099-01-01T00:00:00+00:00", "0001-01-01T00:00:00+00:00", "1971-05-01"])
def test_an_impossible_feed_date_is_no_date(entry_published: str) -> None:
    doc = _build(origin=replace(ORIGIN, entry_published=entry_published))
    assert doc["published_at"] is None


def test_a_guessed_page_date_yields_to_any_feed_date_and_a_made_up_first_is_dropped() -> None:
    guessed = replace(EXTRACTED, published=datetime(2014, 1, 1, tzinfo=UTC), published_guessed=True)
    assert _build(extracted=guessed)["published_at"] == "2014-12-19T18:00:00+00:00"  # the feed's, 11 months on
    alone = replace(ORIGIN, entry_published="")
    assert _build(extracted=guessed, origin=alone)["published_at"] is None  # htmldate's "© 2014" as 1 January
    read = replace(guessed, published=datetime(2014, 12, 17, tzinfo=UTC))
    assert _build(extracted=read, origin=alone)["published_at"] == "2014-12-17T00:00:00+00:00"


def test_a_day_only_first_of_the_month_yields_to_a_feed_time_in_that_month() -> None:
    first = replace(EXTRACTED, published=datetime(2014, 12, 1, tzinfo=UTC))  # htmldate's "2014-12" as a day
    assert _build(extracted=first)["published_at"] == "2014-12-19T18:00:00+00:00"
    november = replace(first, published=datetime(2014, 11, 1, tzinfo=UTC))
    assert _build(extracted=november)["published_at"] == "2014-11-01T00:00:00+00:00"
