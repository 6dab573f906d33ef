"""The seed file: ``[[feed]]`` tables naming the feeds to poll."""

from __future__ import annotations

import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from ingest.errors import BadURL, ConfigurationError
from ingest.feeds.records import FeedSource
from ingest.urls import clean_url, strip_userinfo_text

BASE_URL_PLACEHOLDER = "{{BASE_URL}}"
_REQUIRED_KEYS = ("name", "url", "language", "country", "publisher")


def _feed_url_problem(url: str) -> str | None:
    """Why a seed file's feed URL cannot be used, or None: it must be a well-formed http(s) URL without
    credentials (userinfo is never sent, so a feed that needs it would silently fail; and it would be archived)."""
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

    Raises :class:`ConfigurationError` for an unreadable file, missing or empty keys, duplicate names or
    URLs that are not http(s).
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read feed file {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"feed file {path} is not valid TOML: {exc}") from exc
    tables = data.get("feed")
    if not isinstance(tables, list) or not tables:
        raise ConfigurationError(f"feed file {path} has no [[feed]] tables")
    sources: list[FeedSource] = []
    names: set[str] = set()
    for index, table in enumerate(tables):
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: feed #{index + 1} is not a table")
        missing = [k for k in _REQUIRED_KEYS if not isinstance(table.get(k), str) or not table[k].strip()]
        if missing:
            raise ConfigurationError(f"{path}: feed #{index + 1} lacks {', '.join(missing)}")
        values = {k: str(table[k]).strip() for k in _REQUIRED_KEYS}
        if values["name"] in names:
            raise ConfigurationError(f"{path}: duplicate feed name {values['name']!r}")
        problem = _feed_url_problem(values["url"])
        if problem is not None:
            shown = strip_userinfo_text(values["url"])
            raise ConfigurationError(f"{path}: feed {values['name']!r} has a bad URL {shown!r}: {problem}")
        names.add(values["name"])
        sources.append(FeedSource(**values))
    return sources
