"""Politeness: per-host concurrency and spacing of requests, and reading ``Retry-After``."""

from __future__ import annotations

import email.utils
import math
import threading
import time
from datetime import UTC


class HostGate:
    """Per-host concurrency limit and minimum delay between request starts (thread-safe, per process)."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self._concurrency = max(1, concurrency)
        self._delay = max(0.0, delay)
        self._lock = threading.Lock()
        self._sems: dict[str, threading.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    def _sem(self, host: str) -> threading.Semaphore:
        with self._lock:
            sem = self._sems.get(host)
            if sem is None:
                sem = self._sems[host] = threading.Semaphore(self._concurrency)
            return sem

    def acquire(self, host: str) -> None:
        self._sem(host).acquire()
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + self._delay
        if start > now:
            time.sleep(start - now)

    def release(self, host: str) -> None:
        self._sem(host).release()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), None when unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
