"""robots.txt (RFC 9309): fetched once per origin and fetcher, cached, and applied to article pages."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from urllib.robotparser import RobotFileParser

from ingest.errors import BlockedURL, DNSError, FetchError, RobotsDisallowed, RobotsUnavailable
from ingest.response import Response
from ingest.urls import http_host

logger = logging.getLogger(__name__)

#: An unavailable robots.txt (5xx, unreachable) is asked for again after at most this many seconds.
RETRY_UNAVAILABLE_SECONDS = 300.0
#: The only lines we use; the rest (Crawl-delay, Request-rate, ...) can make urllib's parser raise.
_KEPT_FIELDS = ("user-agent", "allow", "disallow")
#: RFC 9309 (2.5): a crawler may stop parsing after 500 KiB, and must parse at least that much. Past it urllib's
#: parser grows costly for nothing (a 10 MB robots.txt of Disallow lines: 3 s to parse, then about 45 ms for every
#: URL checked against it, measured), and the rules a site needs fit in far less.
PARSE_LIMIT_CHARS = 500 * 1024
#: The fetcher stops reading a robots.txt body here (decoded bytes), whatever its size or Content-Length: a
#: robots.txt larger than the page cap is read in part, not refused as ``too_large`` (which left its host
#: disallow-all), and a large one is not downloaded whole to be cut after.
FETCH_LIMIT_BYTES = PARSE_LIMIT_CHARS


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: never its userinfo, so credentials do not reach robots.txt."""
    host, port = http_host(url)
    scheme = url.split(":", 1)[0].lower()
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port == default else f"{scheme}://{shown}:{port}"


def parse_robots(text: str) -> RobotFileParser:
    """A parser for a robots.txt body; lines other than user-agent/allow/disallow are ignored, and so is
    everything after the first :data:`PARSE_LIMIT_CHARS` (cut at a line end)."""
    if len(text) > PARSE_LIMIT_CHARS:
        logger.info("robots.txt of %s characters: only the first %s are read", len(text), PARSE_LIMIT_CHARS)
        text = text[:PARSE_LIMIT_CHARS].rsplit("\n", 1)[0]
    lines = [line for line in text.splitlines() if line.split(":", 1)[0].strip().lower() in _KEPT_FIELDS]
    parser = RobotFileParser()
    parser.parse(lines)
    return parser


class RobotsCache:
    """robots.txt per origin; ``fetch`` GETs a robots URL (raising FetchError) through the fetcher."""

    def __init__(self, user_agent: str, cache_seconds: float, fetch: Callable[[str], Response]) -> None:
        self.user_agent = user_agent
        self.cache_seconds = cache_seconds
        self._fetch = fetch
        self._lock = threading.Lock()
        self._origin_locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, tuple[float, RobotFileParser | None, str | None]] = {}
        #: origins whose host is refused or unknown, with that error (asked again as an unavailable one is)
        self._refused: dict[str, tuple[float, BlockedURL | DNSError]] = {}

    def _ttl(self, parser: RobotFileParser | None) -> float:
        # an unavailable robots.txt is asked for again sooner than a good one
        return self.cache_seconds if parser is not None else min(self.cache_seconds, RETRY_UNAVAILABLE_SECONDS)

    def rules_for(self, url: str) -> tuple[RobotFileParser | None, str | None]:
        """(parser, None), or (None, problem) while robots.txt is unavailable."""
        origin = origin_of(url)
        with self._lock:
            origin_lock = self._origin_locks.setdefault(origin, threading.Lock())
        with origin_lock:  # one fetch per origin, also when many threads ask at once
            now = time.monotonic()
            cached = self._cache.get(origin)
            if cached is None or now - cached[0] > self._ttl(cached[1]):
                refused = self._refused.get(origin)
                if refused is not None and now - refused[0] <= self._ttl(None):
                    raise copy.copy(refused[1])
                try:
                    parser, problem = self._load(origin)
                except (BlockedURL, DNSError) as exc:
                    self._refused[origin] = (now, exc)  # not asked again for every page of the host
                    raise
                except Exception as exc:  # a hostile robots.txt costs its host, never the batch
                    logger.warning("robots.txt of %s unreadable (%s: %s)", origin, type(exc).__name__, exc)
                    parser, problem = None, "robots_unreadable"
                self._refused.pop(origin, None)
                cached = (now, parser, problem)
                self._cache[origin] = cached
        return cached[1], cached[2]

    def _load(self, origin: str) -> tuple[RobotFileParser | None, str | None]:
        """robots.txt of ``origin`` as (parser, None), (None, problem) when unreachable; raises only when the
        host itself is refused or unknown (that is every page's reason, and is cached like an answer)."""
        try:
            response = self._fetch(f"{origin}/robots.txt")
        except (BlockedURL, DNSError) as exc:
            if exc.url is None or origin_of(exc.url) == origin:
                raise
            # robots.txt redirects somewhere that cannot be fetched: RFC 9309 lets a crawler take a redirect it
            # cannot follow as "unavailable", like a 4xx: no restrictions
            logger.info("robots.txt of %s redirects to %s (%s): no restrictions", origin, exc.url, exc.reason)
            return parse_robots(""), None
        except FetchError as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) and 400 <= status < 500 and status != 429:
                return parse_robots(""), None  # RFC 9309: 4xx means no restrictions
            # unreachable or 5xx: RFC 9309 says assume everything is disallowed (until the cache expires)
            logger.info("robots.txt of %s unavailable (%s): treating as disallow-all", origin, exc.reason)
            return None, exc.reason
        text = response.text()
        if len(response.content) >= FETCH_LIMIT_BYTES:
            text = text.rsplit("\n", 1)[0]  # the read stopped inside a line: that line is not a rule
        return parse_robots(text), None

    def allowed(self, url: str) -> bool:
        parser, _problem = self.rules_for(url)
        return parser is not None and parser.can_fetch(self.user_agent, url)

    def check(self, url: str) -> None:
        """Raise RobotsDisallowed (permanent) or RobotsUnavailable (transient) unless ``url`` may be fetched."""
        parser, problem = self.rules_for(url)
        if parser is None:
            raise RobotsUnavailable(f"robots.txt unavailable ({problem})", url=url)
        if not parser.can_fetch(self.user_agent, url):
            raise RobotsDisallowed("robots.txt disallows this URL", url=url)
