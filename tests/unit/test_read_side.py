"""The analyst's read side without Elasticsearch: the search query, feed health by name, the CLI's date
parsing and its exception-to-exit-code mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from ingest.cli.app import parse_time, window
from ingest.cli.exits import ExitCode, exit_code
from ingest.config import StateOptions
from ingest.errors import (
    ConfigurationError,
    ElasticsearchUnavailable,
    IndexMissing,
    ItemSkipped,
    RequestRejected,
    StateStoreError,
)
from ingest.feeds import FeedSource
from ingest.fetching import Response
from ingest.health import feed_health_rows
from ingest.search import ArticleQuery
from ingest.state import StateStore

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


# --- search ---------------------------------------------------------------------------------------------------


def test_duplicates_are_hidden_unless_asked_for() -> None:
    assert ArticleQuery().to_es() == {
        "bool": {"must": [], "filter": [], "must_not": [{"term": {"is_duplicate": True}}]}
    }
    assert ArticleQuery(include_duplicates=True).to_es() == {"match_all": {}}


def test_every_filter_becomes_a_clause() -> None:
    query = ArticleQuery(
        text='"sony pictures" -interview',
        tags=("cyberattack", "geopolitics"),
        subtopics=("cyberattack.data_breach",),
        entities=("Sony",),
        languages=("DE", "en"),
        outlets=("taktrate",),
        published_from=datetime(2014, 11, 1, tzinfo=UTC),
        published_to=datetime(2015, 1, 1, tzinfo=UTC),
        story_id="st-abc",
    ).to_es()["bool"]
    assert query["must"][0]["simple_query_string"]["default_operator"] == "and"
    filters = query["filter"]
    assert {"term": {"tags": "cyberattack"}} in filters and {"term": {"tags": "geopolitics"}} in filters
    assert {"terms": {"language": ["de", "en"]}} in filters
    assert {
        "range": {"published_at": {"gte": "2014-11-01T00:00:00+00:00", "lt": "2015-01-01T00:00:00+00:00"}}
    } in filters
    assert {"term": {"story_id": "st-abc"}} in filters
    entity = next(f for f in filters if "bool" in f and any("entity_names" in str(s) for s in f["bool"]["should"]))
    assert all(s["term"][next(iter(s["term"]))]["case_insensitive"] for s in entity["bool"]["should"])


def test_sorting_by_relevance_only_with_text() -> None:
    assert ArticleQuery(text="sony").sort()[0] == "_score"
    assert "published_at" in ArticleQuery().sort()[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"published_from": NOW, "published_to": NOW - timedelta(days=1)}, "not after its start"),
        ({"published_from": datetime(2014, 1, 1)}, "timezone-aware"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ],
)
def test_bad_queries_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ArticleQuery(**kwargs)  # type: ignore[arg-type]


# --- feed health ----------------------------------------------------------------------------------------------


def _sources() -> list[FeedSource]:
    return [
        FeedSource("alpha", "https://a.example/feed.xml", "en", "US", "Alpha News"),
        FeedSource("bravo", "https://b.example/feed.xml", "en", "GB", "Bravo"),
        FeedSource("charlie", "https://c.example/feed.xml", "de", "DE", "Charlie"),
        FeedSource("delta", "https://d.example/feed.xml", "de", "DE", "Delta"),
    ]


def test_feed_health_by_name(tmp_path: Path) -> None:
    options = StateOptions(path=tmp_path / "state.sqlite", failure_threshold=3)
    ok = Response("https://a.example/feed.xml", "https://a.example/feed.xml", 200, {}, b"<rss/>", NOW, "feed")
    with StateStore(options) as store:
        store.record_success(ok.url, ok, content_hash="h", ttl_seconds=900, now=NOW)
        store.record_failure("https://b.example/feed.xml", "timeout", now=NOW)
        for _ in range(3):
            store.record_failure("https://c.example/feed.xml", "http_503: Service Unavailable", now=NOW)
        store.record_failure("https://gone.example/rss", "http_410", now=NOW)
    rows = {r.name: r for r in feed_health_rows(options, _sources(), now=NOW)}
    assert [r for r in rows] == ["charlie", "bravo", "https://gone.example/rss", "delta", "alpha"]
    assert (rows["alpha"].status, rows["alpha"].healthy, rows["alpha"].last_status) == ("ok", True, 200)
    assert rows["alpha"].next_poll_after == NOW + timedelta(seconds=900) and rows["alpha"].next_poll_reason == "ttl"
    assert (rows["bravo"].status, rows["bravo"].healthy, rows["bravo"].backoff_seconds) == ("failing", False, 0.0)
    charlie = rows["charlie"]
    assert (charlie.status, charlie.healthy, charlie.consecutive_failures) == ("backing off", False, 3)
    assert charlie.backoff_seconds == options.backoff_base_seconds and charlie.next_poll_reason == "backoff"
    assert charlie.last_error == "http_503: Service Unavailable" and charlie.publisher == "Charlie"
    assert (rows["delta"].status, rows["delta"].healthy) == ("never polled", True)
    assert rows["https://gone.example/rss"].status == "failing"


# --- CLI helpers ----------------------------------------------------------------------------------------------


def test_dates() -> None:
    assert parse_time("2014-11-24", "--from") == datetime(2014, 11, 24, tzinfo=UTC)
    assert parse_time("2014-11-24", "--to", end_of_day=True) == datetime(2014, 11, 25, tzinfo=UTC)
    assert parse_time("2014-11-24T10:30", "--to", end_of_day=True) == datetime(2014, 11, 24, 10, 30, tzinfo=UTC)
    assert parse_time("2014-11-24T10:30:00Z", "--from") == datetime(2014, 11, 24, 10, 30, tzinfo=UTC)
    assert parse_time("2014-11-24T10:30+01:00", "--from") == datetime(2014, 11, 24, 9, 30, tzinfo=UTC)
    with pytest.raises(typer.BadParameter, match="is not a date"):
        parse_time("24.11.2014", "--from")
    assert window("2014-11-24", "2014-11-24", ("--from", "--to"))[1] == datetime(2014, 11, 25, tzinfo=UTC)
    with pytest.raises(typer.BadParameter, match=r"the end \(2014-11-23\) is not after the start \(2014-11-24\)"):
        window("2014-11-24", "2014-11-23", ("--from", "--to"))


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ElasticsearchUnavailable("x"), ExitCode.ES_UNAVAILABLE),
        (IndexMissing("x"), ExitCode.INDEX_MISSING),
        (RequestRejected("x"), ExitCode.REJECTED),
        (ConfigurationError("x"), ExitCode.CONFIG),
        (StateStoreError("x"), ExitCode.STATE),
        (ItemSkipped("x", reason="not_found"), ExitCode.NOT_FOUND),
        (ItemSkipped("x", reason="not_grouped"), ExitCode.NOT_FOUND),
        (ItemSkipped("x", reason="other"), ExitCode.FAILED),
    ],
)
def test_exit_codes(exc: Exception, code: ExitCode) -> None:
    assert exit_code(exc)[0] == code
    assert "\n" not in exit_code(exc)[1]


def test_exit_codes_are_distinct() -> None:
    assert len({c.value for c in ExitCode}) == len(ExitCode)
