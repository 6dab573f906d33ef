"""The SQLite polling state: validators, politeness windows, backoff, health, seen articles."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingest.config import StateOptions
from ingest.errors import StateStoreError
from ingest.response import Response
from ingest.state import SCHEMA_VERSION, RetryItem, StateStore, cache_max_age

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
URL = "https://example.org/feed.xml"
_10MIN = timedelta(minutes=10)


def response(status: int = 200, **headers: str) -> Response:
    return Response(url=URL, final_url=URL, status=status, headers=headers, content=b"x", fetched_at=NOW, kind="feed")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(StateOptions(path=tmp_path / "sub" / "state.sqlite", failure_threshold=2)) as s:
        yield s


def test_unknown_feed_is_due_without_validators(store: StateStore) -> None:
    assert store.feed(URL) is None
    assert store.conditional_headers(URL) == {}
    assert store.is_due(URL, NOW) == (True, None)


def test_validators_round_trip(store: StateStore) -> None:
    store.record_success(
        URL,
        response(etag='"abc"', **{"last-modified": "Fri, 20 Nov 2026 10:00:00 GMT"}),
        content_hash="h1",
        ttl_seconds=None,
        now=NOW,
    )
    assert store.conditional_headers(URL) == {
        "If-None-Match": '"abc"',
        "If-Modified-Since": "Fri, 20 Nov 2026 10:00:00 GMT",
    }
    state = store.feed(URL)
    assert state is not None
    assert state.content_hash == "h1" and state.last_success_at == NOW and state.consecutive_failures == 0
    assert store.is_due(URL, NOW) == (True, None)


def test_cache_control_and_ttl_delay_the_next_poll(store: StateStore) -> None:
    store.record_success(
        URL, response(**{"cache-control": "public, max-age=600"}), content_hash="h", ttl_seconds=1800, now=NOW
    )
    assert store.is_due(URL, NOW + timedelta(minutes=29)) == (False, "ttl")
    assert store.is_due(URL, NOW + timedelta(minutes=30)) == (True, None)
    store.record_success(URL, response(**{"cache-control": "max-age=3600"}), content_hash="h", ttl_seconds=60, now=NOW)
    assert store.is_due(URL, NOW + timedelta(minutes=59)) == (False, "cache_max_age")


def test_not_modified_keeps_validators_and_resets_failures(store: StateStore) -> None:
    store.record_success(URL, response(etag='"v1"'), content_hash="h", ttl_seconds=None, now=NOW)
    store.record_failure(URL, "timeout", now=NOW)
    store.record_not_modified(URL, response(304), now=NOW + timedelta(minutes=5))
    state = store.feed(URL)
    assert state is not None
    assert state.etag == '"v1"' and state.consecutive_failures == 0 and state.last_error is None
    assert state.content_hash == "h"


def test_failures_back_off_exponentially_and_recover(store: StateStore) -> None:
    store.record_failure(URL, "http_500: boom", now=NOW)
    assert store.is_due(URL, NOW) == (True, None)  # below the threshold of 2
    store.record_failure(URL, "http_500: boom", now=NOW)
    assert store.is_due(URL, NOW + timedelta(seconds=299)) == (False, "backoff")
    assert store.is_due(URL, NOW + timedelta(seconds=300)) == (True, None)
    store.record_failure(URL, "http_500: boom", now=NOW)
    assert store.is_due(URL, NOW + timedelta(seconds=599)) == (False, "backoff")
    health = store.feed_health()
    assert health[0].consecutive_failures == 3 and health[0].last_error == "http_500: boom"
    store.record_success(URL, response(), content_hash="h", ttl_seconds=None, now=NOW)
    assert store.is_due(URL, NOW) == (True, None)
    assert store.feed_health()[0].consecutive_failures == 0


def test_backoff_is_capped(tmp_path: Path) -> None:
    options = StateOptions(path=tmp_path / "s.sqlite", failure_threshold=1, max_backoff_seconds=900)
    with StateStore(options) as store:
        for _ in range(20):
            store.record_failure(URL, "x", now=NOW)
        assert store.is_due(URL, NOW + timedelta(seconds=899))[0] is False
        assert store.is_due(URL, NOW + timedelta(seconds=900))[0] is True


def test_retry_after_wins(store: StateStore) -> None:
    store.record_failure(URL, "rate_limited", now=NOW, retry_after=7200)
    assert store.is_due(URL, NOW + timedelta(hours=1)) == (False, "retry_after")
    assert store.is_due(URL, NOW + timedelta(hours=2)) == (True, None)


def test_one_failing_feed_does_not_affect_others(store: StateStore) -> None:
    other = "https://example.org/other.xml"
    for _ in range(5):
        store.record_failure(URL, "dns_error", now=NOW)
    assert store.is_due(other, NOW) == (True, None)
    assert [s.url for s in store.feed_health()] == [URL]


def test_seen_articles(store: StateStore) -> None:
    assert not store.seen_article("abc")
    store.mark_article("abc", "https://e.org/a", "feed-a", now=NOW)
    store.mark_article("abc", "https://e.org/a", "feed-b", now=NOW)
    assert store.seen_article("abc")


def test_state_is_durable(tmp_path: Path) -> None:
    options = StateOptions(path=tmp_path / "state.sqlite")
    with StateStore(options) as first:
        first.record_success(URL, response(etag='"e"'), content_hash="h", ttl_seconds=None, now=NOW)
    with StateStore(options) as second:
        assert second.conditional_headers(URL) == {"If-None-Match": '"e"'}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("max-age=60", 60.0), ("public, s-maxage=120, max-age=60", 120.0), ("no-cache", 0.0), ("", None)],
)
def test_cache_max_age(value: str, expected: float | None) -> None:
    assert cache_max_age({"cache-control": value}) == expected


def _hammer(path: str, worker: int) -> None:
    with StateStore(StateOptions(path=Path(path))) as store:
        for i in range(40):
            store.mark_article(f"{worker}-{i}", "u", "f", now=NOW)
            store.record_failure(URL, f"w{worker}", now=NOW)


def test_parallel_processes_share_the_store(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    StateStore(StateOptions(path=path)).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(path), w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    with StateStore(StateOptions(path=path)) as store:
        assert all(store.seen_article(f"{w}-{i}") for w in range(3) for i in range(40))
        state = store.feed(URL)
        assert state is not None and state.consecutive_failures == 120


# --- retry queue ------------------------------------------------------------------------------------------

RETRY = StateOptions(retry_max_attempts=4, retry_base_seconds=600.0, retry_max_seconds=1800.0, retry_batch_size=10)


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore(replace(RETRY, path=tmp_path / "state.sqlite")) as s:
        yield s


def test_transient_failures_are_retried_with_backoff(queue: StateStore) -> None:
    item = queue.schedule_retry("d1", "https://e.org/a", ["feed-a"], "timeout", now=NOW)
    assert isinstance(item, RetryItem)
    assert (item.attempts, item.last_reason, item.next_at, item.quarantined) == (1, "timeout", NOW + _10MIN, False)
    assert queue.due_retries(NOW + _10MIN - timedelta(seconds=1), 10) == []
    assert [i.doc_id for i in queue.due_retries(NOW + _10MIN, 10)] == ["d1"]
    second = queue.schedule_retry("d1", "https://e.org/a", ["feed-b"], "http_503", now=NOW + _10MIN)
    assert second.attempts == 2 and second.feeds == ("feed-a", "feed-b") and second.last_reason == "http_503"
    assert second.next_at == NOW + _10MIN + timedelta(seconds=1200)  # doubled
    third = queue.schedule_retry("d1", "https://e.org/a", [], "http_503", now=NOW)
    assert third.next_at == NOW + timedelta(seconds=1800)  # capped at retry_max_seconds


def test_after_the_cap_an_item_is_quarantined_with_its_reason(queue: StateStore) -> None:
    for attempt in range(1, 5):
        item = queue.schedule_retry("d2", "https://e.org/b", ["f"], f"connection_error #{attempt}", now=NOW)
    assert item.attempts == 4 and item.quarantined and item.next_at is None
    assert queue.due_retries(NOW + timedelta(days=30), 10) == []
    [held] = queue.quarantined()
    assert (held.doc_id, held.url, held.last_reason, held.attempts) == (
        "d2",
        "https://e.org/b",
        "connection_error #4",
        4,
    )
    assert held.quarantined_at == NOW and held.first_failed_at == NOW
    again = queue.schedule_retry("d2", "https://e.org/b", ["g"], "timeout", now=NOW)
    assert again.quarantined and again.attempts == 4 and again.feeds == ("f", "g")  # stays quarantined
    queue.clear_retry("d2")
    assert queue.quarantined() == [] and queue.retry_item("d2") is None


def test_due_retries_longest_waiting_first_with_a_limit(queue: StateStore) -> None:
    for n in range(5):
        queue.schedule_retry(f"d{n}", f"https://e.org/{n}", ["f"], "timeout", now=NOW - timedelta(minutes=n))
    due = queue.due_retries(NOW + timedelta(hours=1), 3)
    assert [i.doc_id for i in due] == ["d4", "d3", "d2"]
    assert len(queue.due_retries(NOW + timedelta(hours=1))) == 5  # default limit: retry_batch_size
    queue.clear_retry("d4")
    assert queue.retry_item("d4") is None and queue.retry_item("d3") is not None


def test_retry_queue_survives_reopening(tmp_path: Path) -> None:
    options = replace(RETRY, path=tmp_path / "state.sqlite")
    with StateStore(options) as first:
        first.schedule_retry("d9", "https://e.org/9", ["f"], "incomplete_body", now=NOW)
    with StateStore(options) as second:
        item = second.retry_item("d9")
        assert item is not None and item.last_reason == "incomplete_body" and item.next_at == NOW + _10MIN


def test_an_old_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)  # the schema before versioning: feeds and articles, user_version 0
    conn.executescript(
        "CREATE TABLE feeds (url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, content_hash TEXT, "
        "last_polled_at TEXT, next_poll_after TEXT, next_poll_reason TEXT, consecutive_failures INTEGER NOT NULL "
        "DEFAULT 0, last_success_at TEXT, last_error TEXT, last_status INTEGER);"
        "CREATE TABLE articles (doc_id TEXT PRIMARY KEY, url TEXT NOT NULL, feed TEXT NOT NULL, "
        "first_seen_at TEXT NOT NULL);"
        "INSERT INTO feeds (url, etag) VALUES ('https://example.org/feed.xml', '\"old\"');"
        "INSERT INTO articles VALUES ('a1', 'https://e.org/a', 'f', '2026-01-01T00:00:00+00:00');"
    )
    conn.commit()
    conn.close()
    with StateStore(replace(RETRY, path=path)) as store:
        assert store.seen_article("a1") and store.conditional_headers(URL) == {"If-None-Match": '"old"'}
        store.schedule_retry("d1", "https://e.org/x", ["f"], "timeout", now=NOW)
        assert store.retry_item("d1") is not None
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    check.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateStoreError, match="newer"):
        StateStore(replace(RETRY, path=path))
