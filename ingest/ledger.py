"""The capture ledger: which capture batches exist and which are derived into documents yet.

Capture (poll, fetch, archive) and processing (extract, tag, index) are separate steps: the archive is the
source of truth and processing reads from it. Each capture batch that archived something leaves one row here
(its capture-time window and counts); processing marks the rows it derived. A processing run that failed
(Elasticsearch down) leaves its rows pending, so the next run, a sweep or ``news-ingest run`` derives them: no
capture is ever lost between the two steps, whatever happened to the asset event that announced it.

It lives in the state store's SQLite file (WAL, busy timeout), next to the polling state, in its own table.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from ingest.config import StateOptions
from ingest.errors import StateStoreError

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS capture_batches (
    batch_id TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    captures INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX IF NOT EXISTS capture_batches_pending ON capture_batches (processed_at, window_start);
CREATE TABLE IF NOT EXISTS deferred_links (
    entry_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    feeds TEXT NOT NULL,
    deferred_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class CaptureBatch:
    """One capture batch: everything it archived was fetched in ``[start, end)``."""

    batch_id: str
    start: datetime
    end: datetime
    captures: int
    processed_at: datetime | None = None


def _iso(value: datetime) -> str:
    """Fixed-width UTC (always with microseconds), so that SQLite's text comparison orders instants."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class Ledger:
    """Rows of capture batches in the state database; one short transaction per call."""

    def __init__(self, options: StateOptions) -> None:
        path = Path(options.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=options.busy_timeout_seconds, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StateStoreError(f"capture ledger at {path} is not usable: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StateStoreError(f"capture ledger query failed: {exc}") from exc

    def record(self, batch: CaptureBatch, *, now: datetime) -> None:
        """Remember a capture batch (idempotent: recording the same batch again changes nothing)."""
        self._run(
            "INSERT INTO capture_batches (batch_id, window_start, window_end, captures, recorded_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(batch_id) DO NOTHING",
            (batch.batch_id, _iso(batch.start), _iso(batch.end), batch.captures, _iso(now)),
        )

    def pending(self, *, before: datetime | None = None) -> list[CaptureBatch]:
        """Batches not derived yet, oldest first (optionally only those that started before ``before``)."""
        rows = self._run(
            "SELECT batch_id, window_start, window_end, captures FROM capture_batches "
            "WHERE processed_at IS NULL AND window_start < ? ORDER BY window_start, batch_id",
            (_iso(before) if before else "9999",),
        )
        return [CaptureBatch(str(r[0]), _dt(str(r[1])), _dt(str(r[2])), int(str(r[3]))) for r in rows]

    def get(self, batch_ids: list[str]) -> list[CaptureBatch]:
        if not batch_ids:
            return []
        marks = ",".join("?" * len(batch_ids))
        rows = self._run(
            "SELECT batch_id, window_start, window_end, captures, processed_at FROM capture_batches "
            f"WHERE batch_id IN ({marks}) ORDER BY window_start, batch_id",
            tuple(batch_ids),
        )
        return [
            CaptureBatch(str(r[0]), _dt(str(r[1])), _dt(str(r[2])), int(str(r[3])), _dt(str(r[4])) if r[4] else None)
            for r in rows
        ]

    def mark_processed(self, batch_ids: list[str], *, now: datetime) -> None:
        """Derived: these batches' captures are indexed."""
        if not batch_ids:
            return
        marks = ",".join("?" * len(batch_ids))
        self._run(
            f"UPDATE capture_batches SET processed_at = ? WHERE batch_id IN ({marks})",
            (_iso(now), *batch_ids),
        )

    # --- feed links waiting for their article --------------------------------------------------------------

    def defer_links(self, links: dict[str, tuple[str, set[str]]], *, now: datetime) -> None:
        """Feeds that list an article not indexed yet (another batch derives it, maybe later): kept until it is.

        ``links``: entry id -> (normalised entry URL, feed names); feeds accumulate over calls.
        """
        for entry_id, (url, feeds) in links.items():
            rows = self._run("SELECT feeds FROM deferred_links WHERE entry_id = ?", (entry_id,))
            known = set(str(rows[0][0]).split("\n")) if rows else set()
            self._run(
                "INSERT INTO deferred_links (entry_id, url, feeds, deferred_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(entry_id) DO UPDATE SET feeds = excluded.feeds",
                (entry_id, url, "\n".join(sorted((known | feeds) - {""})), _iso(now)),
            )

    def deferred_links(self) -> dict[str, tuple[str, set[str]]]:
        rows = self._run("SELECT entry_id, url, feeds FROM deferred_links ORDER BY entry_id")
        return {str(r[0]): (str(r[1]), set(str(r[2]).split("\n")) - {""}) for r in rows}

    def clear_links(self, entry_ids: list[str], *, older_than: datetime | None = None) -> None:
        """Forget applied links (and, with ``older_than``, links whose article never came)."""
        if entry_ids:
            marks = ",".join("?" * len(entry_ids))
            self._run(f"DELETE FROM deferred_links WHERE entry_id IN ({marks})", tuple(entry_ids))
        if older_than is not None:
            self._run("DELETE FROM deferred_links WHERE deferred_at < ?", (_iso(older_than),))

    def mark_processed_within(self, start: datetime, end: datetime, *, now: datetime) -> int:
        """Mark every pending batch whose window lies inside ``[start, end)`` (a processed capture window)."""
        rows = self._run(
            "UPDATE capture_batches SET processed_at = ? WHERE processed_at IS NULL "
            "AND window_start >= ? AND window_end <= ? RETURNING batch_id",
            (_iso(now), _iso(start), _iso(end)),
        )
        return len(rows)
