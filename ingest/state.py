"""Durable polling state in SQLite: validators, content hashes, poll windows, feed health, seen articles, and
the retry queue of pages that failed transiently.

Safe across processes (Airflow mapped tasks run in parallel processes): WAL journal, a busy timeout, and every
write is a single short ``BEGIN IMMEDIATE`` transaction of upserts. One connection per :class:`StateStore`,
guarded by a lock so threads of one process may share it. The schema is versioned (``PRAGMA user_version``):
opening an older store migrates it in place.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from ingest.config import StateOptions
from ingest.errors import StateStoreError
from ingest.response import Response

logger = logging.getLogger(__name__)

#: Schema version 1: feeds and articles (stores made before versioning have user_version 0 and these tables).
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    content_hash TEXT,
    last_polled_at TEXT,
    next_poll_after TEXT,
    next_poll_reason TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_success_at TEXT,
    last_error TEXT,
    last_status INTEGER
);
CREATE TABLE IF NOT EXISTS articles (
    doc_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    feed TEXT NOT NULL,
    first_seen_at TEXT NOT NULL
);
"""
#: Version 2: the retry queue. ``next_at`` is NULL once the item is quarantined.
_SCHEMA_V2 = """
CREATE TABLE IF NOT EXISTS retries (
    doc_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    feeds TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_reason TEXT NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL,
    next_at TEXT,
    quarantined_at TEXT
);
CREATE INDEX IF NOT EXISTS retries_due ON retries (next_at) WHERE next_at IS NOT NULL;
"""
#: Migrations by the version they produce; each runs once, in order, in one transaction with the version bump.
_MIGRATIONS: tuple[tuple[int, str], ...] = ((1, _SCHEMA_V1), (2, _SCHEMA_V2))
SCHEMA_VERSION = _MIGRATIONS[-1][0]


@dataclass(frozen=True)
class FeedState:
    """What the store remembers about one feed URL."""

    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    last_polled_at: datetime | None
    next_poll_after: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_error: str | None
    #: Why ``next_poll_after`` is set: "cache_max_age", "ttl", "retry_after", "backoff" or None.
    next_poll_reason: str | None = None
    last_status: int | None = None


@dataclass(frozen=True)
class RetryItem:
    """A page that failed transiently: when to try it again, or (``next_at`` None) quarantined for good."""

    doc_id: str
    url: str
    #: Every feed that listed the page (sorted).
    feeds: tuple[str, ...]
    #: Failed attempts so far.
    attempts: int
    last_reason: str
    #: UTC; None once quarantined.
    next_at: datetime | None
    first_failed_at: datetime | None = None
    quarantined_at: datetime | None = None

    @property
    def quarantined(self) -> bool:
        return self.quarantined_at is not None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if not value else _utc(datetime.fromisoformat(value))


def cache_max_age(headers: dict[str, str] | Any) -> float | None:
    """``max-age``/``s-maxage`` seconds from Cache-Control (None when absent, 0 for no-cache/no-store)."""
    raw = str(headers.get("cache-control", "") or "")
    best: float | None = None
    for directive in raw.lower().split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip()
        if name in ("no-cache", "no-store"):
            return 0.0
        if name in ("max-age", "s-maxage"):
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                continue
            best = seconds if best is None else max(best, seconds)
    return best


class StateStore:
    """SQLite-backed polling state (see module docstring)."""

    def __init__(self, options: StateOptions) -> None:
        self.options = options
        path = Path(options.path)
        self._lock = threading.Lock()
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path),
                timeout=options.busy_timeout_seconds,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout={int(options.busy_timeout_seconds * 1000)}")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StateStoreError(f"cannot open state store {path}: {exc}") from exc

    def _migrate(self) -> None:
        """Bring the schema to :data:`SCHEMA_VERSION` (concurrent openers serialise on the write lock)."""
        with self._write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateStoreError(
                    f"state store {self.options.path} has schema version {version}, newer than this code's "
                    f"{SCHEMA_VERSION}: upgrade news-ingest"
                )
            for target, script in _MIGRATIONS:
                if version < target:
                    for stmt in script.split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                    conn.execute(f"PRAGMA user_version = {target}")
                    if version:
                        logger.info("state store %s migrated to schema version %d", self.options.path, target)

    # --- plumbing ---------------------------------------------------------------------------------------

    class _Tx:
        def __init__(self, store: StateStore) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            try:
                self.store._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self.store._lock.release()
                raise StateStoreError(f"state store is locked or broken: {exc}") from exc
            return self.store._conn

        def __exit__(
            self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
        ) -> None:
            try:
                if exc_type is None:
                    self.store._conn.execute("COMMIT")
                else:
                    self.store._conn.execute("ROLLBACK")
            except sqlite3.Error as err:
                raise StateStoreError(f"state store commit failed: {err}") from err
            finally:
                self.store._lock.release()

    def _write(self) -> StateStore._Tx:
        return StateStore._Tx(self)

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StateStoreError(f"state store query failed: {exc}") from exc

    def _exec(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            with self._write() as conn:
                conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StateStoreError(f"state store write failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- feeds ------------------------------------------------------------------------------------------

    @staticmethod
    def _row_to_state(row: sqlite3.Row) -> FeedState:
        return FeedState(
            url=row["url"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            content_hash=row["content_hash"],
            last_polled_at=_dt(row["last_polled_at"]),
            next_poll_after=_dt(row["next_poll_after"]),
            consecutive_failures=int(row["consecutive_failures"] or 0),
            last_success_at=_dt(row["last_success_at"]),
            last_error=row["last_error"],
            next_poll_reason=row["next_poll_reason"],
            last_status=row["last_status"],
        )

    def feed(self, url: str) -> FeedState | None:
        rows = self._query("SELECT * FROM feeds WHERE url = ?", (url,))
        return self._row_to_state(rows[0]) if rows else None

    def conditional_headers(self, url: str) -> dict[str, str]:
        """``If-None-Match``/``If-Modified-Since`` from the last successful poll (empty when unknown)."""
        state = self.feed(url)
        headers: dict[str, str] = {}
        if state is None:
            return headers
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        return headers

    def is_due(self, url: str, now: datetime) -> tuple[bool, str | None]:
        """Whether the feed may be polled at ``now``; when not, the reason (``cache_max_age``, ``ttl``,
        ``retry_after`` or ``backoff``)."""
        state = self.feed(url)
        if state is None or state.next_poll_after is None:
            return True, None
        if _utc(now) < state.next_poll_after:
            return False, state.next_poll_reason or "not_due"
        return True, None

    def _freshness(self, response: Response, ttl_seconds: float | None) -> tuple[float, str | None]:
        max_age = cache_max_age(response.headers)
        candidates: list[tuple[float, str]] = []
        if max_age is not None and max_age > 0:
            candidates.append((max_age, "cache_max_age"))
        if ttl_seconds is not None and ttl_seconds > 0:
            candidates.append((ttl_seconds, "ttl"))
        if not candidates:
            return 0.0, None
        seconds, reason = max(candidates)
        return min(seconds, self.options.max_poll_interval_seconds), reason

    def record_success(
        self,
        url: str,
        response: Response,
        *,
        content_hash: str,
        ttl_seconds: float | None,
        now: datetime,
    ) -> None:
        """A feed document was fetched (200): store validators and hash, reset failures, plan next poll."""
        now = _utc(now)
        wait, reason = self._freshness(response, ttl_seconds)
        next_poll = now + timedelta(seconds=wait) if wait > 0 else None
        self._exec(
            """
            INSERT INTO feeds (url, etag, last_modified, content_hash, last_polled_at,
                               next_poll_after, next_poll_reason, consecutive_failures, last_success_at,
                               last_error, last_status)
            VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, ?)
            ON CONFLICT(url) DO UPDATE SET
                etag = excluded.etag, last_modified = excluded.last_modified,
                content_hash = excluded.content_hash, last_polled_at = excluded.last_polled_at,
                next_poll_after = excluded.next_poll_after, next_poll_reason = excluded.next_poll_reason,
                consecutive_failures = 0, last_success_at = excluded.last_success_at, last_error = NULL,
                last_status = excluded.last_status
            """,
            (
                url,
                response.headers.get("etag"),
                response.headers.get("last-modified"),
                content_hash,
                _iso(now),
                _iso(next_poll),
                reason,
                _iso(now),
                response.status,
            ),
        )

    def record_not_modified(self, url: str, response: Response, *, now: datetime) -> None:
        """A 304 (or an unchanged content hash): the feed is healthy, validators may be refreshed."""
        now = _utc(now)
        wait, reason = self._freshness(response, None)
        next_poll = now + timedelta(seconds=wait) if wait > 0 else None
        self._exec(
            """
            INSERT INTO feeds (url, etag, last_modified, last_polled_at, next_poll_after, next_poll_reason,
                               consecutive_failures, last_success_at, last_error, last_status)
            VALUES (?, ?, ?, ?, ?, ?, 0, ?, NULL, ?)
            ON CONFLICT(url) DO UPDATE SET
                etag = COALESCE(excluded.etag, feeds.etag),
                last_modified = COALESCE(excluded.last_modified, feeds.last_modified),
                last_polled_at = excluded.last_polled_at,
                next_poll_after = excluded.next_poll_after,
                next_poll_reason = excluded.next_poll_reason,
                consecutive_failures = 0, last_success_at = excluded.last_success_at, last_error = NULL,
                last_status = excluded.last_status
            """,
            (
                url,
                response.headers.get("etag"),
                response.headers.get("last-modified"),
                _iso(now),
                _iso(next_poll),
                reason,
                _iso(now),
                response.status,
            ),
        )

    def backoff_seconds(self, failures: int) -> float:
        """Wait after ``failures`` consecutive failures: 0 below the threshold, then doubling, capped."""
        over = failures - self.options.failure_threshold
        if over < 0:
            return 0.0
        return float(min(self.options.max_backoff_seconds, self.options.backoff_base_seconds * (2.0**over)))

    def record_failure(self, url: str, error: str, *, now: datetime, retry_after: float | None = None) -> None:
        """A poll failed: count it, remember the error, back off (Retry-After wins when longer)."""
        now = _utc(now)
        with self._write() as conn:
            try:
                row = conn.execute("SELECT consecutive_failures FROM feeds WHERE url = ?", (url,)).fetchone()
                failures = (int(row[0]) if row else 0) + 1
                wait = self.backoff_seconds(failures)
                reason: str | None = "backoff" if wait > 0 else None
                if retry_after is not None and retry_after > wait:
                    wait = min(retry_after, self.options.max_poll_interval_seconds)
                    reason = "retry_after"
                next_poll = now + timedelta(seconds=wait) if wait > 0 else None
                conn.execute(
                    """
                    INSERT INTO feeds (url, last_polled_at, next_poll_after, next_poll_reason,
                                       consecutive_failures, last_error)
                    VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(url) DO UPDATE SET
                        last_polled_at = excluded.last_polled_at, next_poll_after = excluded.next_poll_after,
                        next_poll_reason = excluded.next_poll_reason,
                        consecutive_failures = excluded.consecutive_failures, last_error = excluded.last_error
                    """,
                    (url, _iso(now), _iso(next_poll), reason, failures, error[:1000]),
                )
            except sqlite3.Error as exc:
                raise StateStoreError(f"state store write failed: {exc}") from exc
        if failures >= self.options.failure_threshold:
            logger.warning("feed %s failed %d times in a row (%s); next poll after %s", url, failures, error, next_poll)

    def feed_health(self) -> list[FeedState]:
        """Every known feed, the unhealthiest first."""
        rows = self._query("SELECT * FROM feeds ORDER BY consecutive_failures DESC, url")
        return [self._row_to_state(r) for r in rows]

    # --- articles ---------------------------------------------------------------------------------------

    def seen_article(self, doc_id: str) -> bool:
        return bool(self._query("SELECT 1 FROM articles WHERE doc_id = ?", (doc_id,)))

    def mark_article(self, doc_id: str, url: str, feed: str, *, now: datetime) -> None:
        """Remember that ``doc_id`` was processed (first sighting wins)."""
        self._exec(
            "INSERT INTO articles (doc_id, url, feed, first_seen_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(doc_id) DO NOTHING",
            (doc_id, url, feed, _iso(_utc(now))),
        )

    # --- retry queue --------------------------------------------------------------------------------------

    def retry_delay_seconds(self, attempts: int) -> float:
        """Wait after the ``attempts``-th failure: ``retry_base_seconds`` doubling, capped."""
        options = self.options
        return float(min(options.retry_max_seconds, options.retry_base_seconds * (2.0 ** max(0, attempts - 1))))

    @staticmethod
    def _row_to_retry(row: sqlite3.Row) -> RetryItem:
        return RetryItem(
            doc_id=row["doc_id"],
            url=row["url"],
            feeds=tuple(json.loads(row["feeds"])),
            attempts=int(row["attempts"]),
            last_reason=row["last_reason"],
            next_at=_dt(row["next_at"]),
            first_failed_at=_dt(row["first_failed_at"]),
            quarantined_at=_dt(row["quarantined_at"]),
        )

    def schedule_retry(self, doc_id: str, url: str, feeds: Iterable[str], reason: str, *, now: datetime) -> RetryItem:
        """A page failed transiently (timeout, 5xx, reset, truncated body...): try it again later.

        Exponential backoff per attempt; at ``retry_max_attempts`` failed attempts the item is quarantined with
        its last reason instead (``next_at`` None) and :meth:`due_retries` no longer returns it. Feeds are
        merged with those already recorded. A quarantined item stays quarantined.
        """
        now = _utc(now)
        with self._write() as conn:
            try:
                row = conn.execute("SELECT * FROM retries WHERE doc_id = ?", (doc_id,)).fetchone()
                known = self._row_to_retry(row) if row is not None else None
                all_feeds = sorted(set(feeds) | set(known.feeds if known else ()))
                if known is not None and known.quarantined:
                    conn.execute("UPDATE retries SET feeds = ? WHERE doc_id = ?", (json.dumps(all_feeds), doc_id))
                    return replace(known, feeds=tuple(all_feeds))
                attempts = (known.attempts if known else 0) + 1
                first = known.first_failed_at if known and known.first_failed_at else now
                quarantined = attempts >= self.options.retry_max_attempts
                next_at = None if quarantined else now + timedelta(seconds=self.retry_delay_seconds(attempts))
                conn.execute(
                    """
                    INSERT INTO retries (doc_id, url, feeds, attempts, last_reason, first_failed_at, last_failed_at,
                                         next_at, quarantined_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(doc_id) DO UPDATE SET
                        url = excluded.url, feeds = excluded.feeds, attempts = excluded.attempts,
                        last_reason = excluded.last_reason, last_failed_at = excluded.last_failed_at,
                        next_at = excluded.next_at, quarantined_at = excluded.quarantined_at
                    """,
                    (
                        doc_id,
                        url,
                        json.dumps(all_feeds),
                        attempts,
                        reason[:200],
                        _iso(first),
                        _iso(now),
                        _iso(next_at),
                        _iso(now) if quarantined else None,
                    ),
                )
            except sqlite3.Error as exc:
                raise StateStoreError(f"state store write failed: {exc}") from exc
        if quarantined:
            logger.warning("page %s quarantined after %d failed attempts (last: %s)", url, attempts, reason)
        return RetryItem(
            doc_id=doc_id,
            url=url,
            feeds=tuple(all_feeds),
            attempts=attempts,
            last_reason=reason[:200],
            next_at=next_at,
            first_failed_at=first,
            quarantined_at=now if quarantined else None,
        )

    def due_retries(self, now: datetime, limit: int | None = None) -> list[RetryItem]:
        """Items whose next attempt is due at ``now``, the longest-waiting first (quarantined ones never)."""
        limit = self.options.retry_batch_size if limit is None else limit
        rows = self._query(
            "SELECT * FROM retries WHERE next_at IS NOT NULL AND next_at <= ? ORDER BY next_at, doc_id LIMIT ?",
            (_iso(_utc(now)), max(0, int(limit))),
        )
        return [self._row_to_retry(r) for r in rows]

    def retry_item(self, doc_id: str) -> RetryItem | None:
        """The queue entry of ``doc_id`` (pending or quarantined), or None."""
        rows = self._query("SELECT * FROM retries WHERE doc_id = ?", (doc_id,))
        return self._row_to_retry(rows[0]) if rows else None

    def clear_retry(self, doc_id: str) -> None:
        """The page was fetched (or permanently skipped): drop it from the queue (quarantine included)."""
        self._exec("DELETE FROM retries WHERE doc_id = ?", (doc_id,))

    def quarantined(self) -> list[RetryItem]:
        """Pages given up on after ``retry_max_attempts`` transient failures, the most recent first."""
        rows = self._query(
            "SELECT * FROM retries WHERE quarantined_at IS NOT NULL ORDER BY quarantined_at DESC, doc_id"
        )
        return [self._row_to_retry(r) for r in rows]
