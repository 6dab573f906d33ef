"""The seed file: ``[[feed]]`` tables naming the feeds to poll."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from ingest.errors import BadURL, ConfigurationError
from ingest.feeds.records import FeedSource
from ingest.urls import clean_url, normalize_url, strip_userinfo_text

BASE_URL_PLACEHOLDER = "{{BASE_URL}}"
_REQUIRED_KEYS = ("name", "url", "language", "country", "publisher")


def _feed_url_problem(url: str) -> str | None:
    """Why a seed file's feed URL cannot be used, or None: it must be a well-formed http(s) URL without
    credentials (userinfo is never sent, so a feed that needs it would silently fail; and it would be archived);
    ``{{BASE_URL}}`` may only begin it (it stands for a scheme and host)."""
    if url.count(BASE_URL_PLACEHOLDER) > int(url.startswith(BASE_URL_PLACEHOLDER)):
        return f"{BASE_URL_PLACEHOLDER} may only begin a URL"
    probe = url.replace(BASE_URL_PLACEHOLDER, "http://placeholder.invalid", 1)
    try:
        cleaned = clean_url(probe)
    except BadURL as exc:
        return str(exc)
    if urlsplit(cleaned).scheme not in ("http", "https"):
        return "not an http(s) URL"
    if cleaned != probe.strip():
        return "credentials in feed URLs are not supported (they would be neither sent nor kept secret)"
    return None


def load_feed_sources(path: Path) -> list[FeedSource]:
    """Read ``[[feed]]`` tables from a TOML file; ``{{BASE_URL}}`` placeholders are kept as they are.

    Raises :class:`ConfigurationError`, naming the file and the feed, for an unreadable file, missing, empty or
    non-string keys, unknown keys (a misspelt key would otherwise be dropped without a word), duplicate names or
    URLs, and URLs that are not http(s). A UTF-8 byte order mark is allowed.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read feed file {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"feed file {path} is not valid TOML: {exc}") from exc
    tables = data.get("feed")
    if not isinstance(tables, list) or not tables:
        raise ConfigurationError(f"feed file {path} has no [[feed]] tables")
    others = sorted(set(data) - {"feed"})
    if others:
        raise ConfigurationError(f"{path}: unknown top-level key(s) {', '.join(others)} (only [[feed]] tables)")
    sources: list[FeedSource] = []
    names: set[str] = set()
    urls: dict[str, str] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: feed #{index + 1} is not a table")
        label = f"feed #{index + 1}" + (f" ({table['name']!r})" if isinstance(table.get("name"), str) else "")
        unknown = sorted(set(table) - set(_REQUIRED_KEYS))
        if unknown:
            raise ConfigurationError(
                f"{path}: {label} has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(_REQUIRED_KEYS)}"
            )
        wrong = [k for k in _REQUIRED_KEYS if k in table and not isinstance(table[k], str)]
        if wrong:
            raise ConfigurationError(f"{path}: {label}: {', '.join(wrong)} must be a string")
        missing = [k for k in _REQUIRED_KEYS if not str(table.get(k) or "").strip()]
        if missing:
            raise ConfigurationError(f"{path}: {label} lacks {', '.join(missing)}")
        values = {k: str(table[k]).strip() for k in _REQUIRED_KEYS}
        if values["name"] in names:
            raise ConfigurationError(f"{path}: duplicate feed name {values['name']!r}")
        problem = _feed_url_problem(values["url"])
        shown = strip_userinfo_text(values["url"])
        if problem is not None:
            raise ConfigurationError(f"{path}: feed {values['name']!r} has a bad URL {shown!r}: {problem}")
        key = _url_key(values["url"])
        if key in urls:
            raise ConfigurationError(
                f"{path}: feeds {urls[key]!r} and {values['name']!r} have the same URL {shown!r}"
                " (it would be polled twice and its articles counted under both)"
            )
        urls[key] = values["name"]
        names.add(values["name"])
        sources.append(FeedSource(**values))
    return sources


def _url_key(url: str) -> str:
    """What two spellings of one feed URL share (case of scheme and host, default port, and so on)."""
    probe = url.replace(BASE_URL_PLACEHOLDER, "http://placeholder.invalid", 1)
    try:
        return normalize_url(probe)
    except BadURL:  # pragma: no cover - _feed_url_problem refused it first
        return probe
