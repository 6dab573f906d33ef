"""How the CLI writes: tables and lines on stdout (a closed pipe raises :class:`OutputClosed`), JSON, and
progress bars on stderr (:class:`ingest.progress.Progress`, drawn only on a terminal)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from ingest.health import FeedHealth
from ingest.progress import Progress
from ingest.search import SearchResult


class StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 silently; report it like every other error instead (see main()).
        self.quiet = True
        raise OutputClosed()


def stdout() -> Console:
    # Wide enough for a table in a file or a pager; a terminal gives its own width.
    return StdoutConsole(soft_wrap=False, width=None if sys.stdout.isatty() else 200, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


class OutputClosed(Exception):
    """stdout went away (a pager quit, ``| head`` had enough). Not an OSError, so the CLI framework does not
    swallow it: :func:`main` turns it into one line and :attr:`ExitCode.BROKEN_PIPE`."""


def emit(*items: Any) -> None:
    """Write text lines or rich renderables (tables) to stdout, flushed, so a closed pipe is noticed here."""
    try:
        out = stdout()
        for item in items:
            if isinstance(item, str):
                out.print(item, markup=False, highlight=False, soft_wrap=True)
            else:
                out.print(item)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


def json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return str(value)


def print_json(data: Any) -> None:
    try:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=json_default, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


class Bars:
    """:class:`ingest.progress.Progress` as rich progress bars on stderr (nothing when stderr is not a terminal)."""

    def __init__(self, console: Console) -> None:
        self._bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
            transient=False,
        )
        self._task: Any = None

    def start(self, label: str, total: int | None = None) -> None:
        self._finish_current()
        self._task = self._bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)

    def _finish_current(self) -> None:
        if self._task is None:
            return
        task = next(t for t in self._bar.tasks if t.id == self._task)
        done = task.total if task.total is not None else max(task.completed, 1)
        self._bar.update(self._task, total=done, completed=done)
        self._task = None

    def __enter__(self) -> Bars:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish_current()
        self._bar.stop()


@contextmanager
def progress_bars() -> Iterator[Progress]:
    with Bars(stderr()) as bars:
        yield bars


def report_table(title: str, totals: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in totals.items():
        if isinstance(value, int) and not isinstance(value, bool):
            table.add_row(key.replace("_", " "), str(value))
    for reason, n in sorted((totals.get("skipped") or {}).items()):
        table.add_row(f"skipped {reason}", str(n))
    return table


def stories_line(stories: dict[str, Any] | None, *, skipped_why: str) -> str:
    if stories is None:
        return f"stories: not regrouped ({skipped_why}); run `news-ingest group-stories` to assign them"
    if stories.get("disabled"):
        return "stories: not regrouped: story grouping is disabled (NEWS_STORIES_ENABLED)"
    return (
        f"stories: regrouped: {stories.get('assigned', 0)} articles assigned, "
        f"{stories.get('new_stories', 0)} new stories"
    )


def short_date(value: str | None) -> str:
    return (value or "")[:10]


def next_poll(value: datetime | None, now: datetime) -> str:
    """When a feed may be polled again: ``in 12m``, or ``due`` once that time has passed ("5m ago" read as if
    the next poll had happened)."""
    if value is not None and value <= now:
        return "due"
    return ago(value, now)


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = (value - now).total_seconds()
    word = "in " if seconds > 0 else ""
    suffix = "" if seconds > 0 else " ago"
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{word}{seconds / size:.0f}{unit}{suffix}"
    return f"{word}{seconds:.0f}s{suffix}"


def articles_table(result: SearchResult) -> Table:
    shown = f"{len(result.hits)} of {'≥' if result.total_is_lower_bound else ''}{result.total}"
    table = Table(title=f"{shown} articles", header_style="bold", expand=True)
    for name, kwargs in (
        ("published", {"no_wrap": True, "min_width": 10}),
        ("lang", {"no_wrap": True, "min_width": 4}),
        ("outlet", {"ratio": 2}),
        ("tags", {"ratio": 2}),
        ("title", {"ratio": 6}),
        ("story", {"ratio": 3, "overflow": "fold"}),
    ):
        table.add_column(name, **kwargs)
    for hit in result.hits:
        table.add_row(
            short_date(hit.published_at),
            hit.language,
            hit.outlet,
            ", ".join(hit.tags) or "-",
            hit.title + (" [copy]" if hit.is_duplicate else ""),
            hit.story_title or hit.story_id or "-",
        )
    return table


def story_view(related: Any) -> list[Any]:
    """Header lines and the table of a story's articles (``related``: :func:`ingest.stories.related`'s result)."""
    story = related.story
    lines: list[Any] = [f"Story {related.story_id}: {story.get('headline', '')}"]
    if related.redirected_from:
        lines.append(f"  (merged from {', '.join(related.redirected_from)})")
    lines.append(
        f"  {story.get('article_count', len(related.articles))} articles, "
        f"{short_date(story.get('first_seen'))} .. {short_date(story.get('last_seen'))}; "
        f"languages: {', '.join(story.get('languages') or []) or '-'}; "
        f"outlets: {len(story.get('outlets') or [])}; tags: {', '.join(story.get('tags') or []) or '-'}"
    )
    table = Table(header_style="bold", expand=True)
    table.add_column("published", no_wrap=True, min_width=10)
    table.add_column("lang", no_wrap=True, min_width=4)
    table.add_column("outlet", ratio=2)
    table.add_column("title", ratio=5)
    table.add_column("url", ratio=4, overflow="fold")
    for article in related.articles:
        table.add_row(
            short_date(article.get("published_at")),
            str(article.get("language", "")),
            str(article.get("outlet", "")),
            str(article.get("title", "")) + (" [copy]" if article.get("is_duplicate") else ""),
            str(article.get("url", "")),
        )
    return [*lines, table]


def summary_view(data: dict[str, Any]) -> list[Any]:
    """The index summary (``ingest.reporting.index_summary``) as a line and two tables."""
    head = (
        f"Articles: {data['articles']} ({data['with_story']} in stories, {data['duplicates']} near-duplicate "
        f"copies); published {short_date(data['published_from'])} .. {short_date(data['published_to'])}; "
        f"stories: {data['stories']}"
    )
    facets = Table(header_style="bold", title="articles by")
    names = ("outlet", "language", "tags", "subtopics", "feeds")
    for name in names:
        facets.add_column(name, overflow="fold")
    columns = [[f"{k} {v}" for k, v in data[name].items()] for name in names]
    for row in range(max((len(c) for c in columns), default=0)):
        facets.add_row(*(c[row] if row < len(c) else "" for c in columns))
    top = Table(header_style="bold", title="largest stories", expand=True)
    top.add_column("articles", justify="right")
    top.add_column("headline", ratio=5)
    top.add_column("languages")
    top.add_column("outlets", justify="right")
    top.add_column("tags", ratio=2)
    top.add_column("story id", ratio=3, overflow="fold")
    for item in data["top_stories"]:
        top.add_row(
            str(item.get("article_count", 0)),
            str(item.get("headline", "")),
            "/".join(item.get("languages") or []),
            str(len(item.get("outlets") or [])),
            ", ".join(item.get("tags") or []) or "-",
            str(item.get("story_id", "")),
        )
    return [head, facets, top]


def feed_health_table(rows: list[FeedHealth], now: datetime) -> Table:
    unhealthy = sum(1 for r in rows if not r.healthy)
    table = Table(title=f"{len(rows)} feeds, {unhealthy} unhealthy", header_style="bold")
    for name, kwargs in (
        ("feed", {"no_wrap": True}),
        ("status", {"no_wrap": True}),
        ("last HTTP", {"justify": "right"}),
        ("last success", {"no_wrap": True}),
        ("next poll", {"no_wrap": True}),
        ("failures", {"justify": "right"}),
        ("backoff", {"no_wrap": True}),
        ("last error", {"max_width": 60, "overflow": "ellipsis", "no_wrap": True}),
    ):
        table.add_column(name, **kwargs)
    for r in rows:
        table.add_row(
            r.name,
            r.status,
            str(r.last_status or "-"),
            ago(r.last_success_at, now),
            next_poll(r.next_poll_after, now) + (f" ({r.next_poll_reason})" if r.next_poll_reason else ""),
            str(r.consecutive_failures),
            f"{r.backoff_seconds / 60:.0f} min" if r.backoff_seconds else "-",
            r.last_error or "-",
        )
    return table
