"""news-ingest: the pipeline without Airflow, and the analyst's and operator's read side.

Settings come from the environment (``NEWS_<STAGE>_<FIELD>``, see :mod:`ingest.config`); Elasticsearch from
``NEWS_INDEX_ES_URL`` (default ``http://127.0.0.1:9200``). Read commands print aligned tables, or JSON with
``--json``. Errors are one line on stderr; the exit code says what went wrong (:class:`ExitCode`), mapped from
the :mod:`ingest.errors` tree in one place, :func:`main`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from elasticsearch import Elasticsearch
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichBar
from rich.table import Table

from ingest import indexing
from ingest.config import PipelineOptions
from ingest.errors import (
    ConfigurationError,
    ElasticsearchUnavailable,
    IndexMissing,
    IngestError,
    ItemSkipped,
    RequestRejected,
    StateStoreError,
)
from ingest.progress import Progress

logger = logging.getLogger(__name__)

_R = TypeVar("_R")


class ExitCode(IntEnum):
    """What the process exit status means (scripts and monitoring can branch on it)."""

    OK = 0
    #: The command ran but found a problem it was asked to report (``feed-health --fail-on-unhealthy``).
    UNHEALTHY = 1
    #: Bad command line: unknown option, bad or inverted dates, missing argument.
    USAGE = 2
    #: Bad configuration: a ``NEWS_*`` value, the feed file, a ``--state`` path that does not exist.
    CONFIG = 3
    ES_UNAVAILABLE = 4
    #: The index or alias does not exist: run ``news-ingest setup-index``.
    INDEX_MISSING = 5
    #: Elasticsearch refused the request (mapping conflict, permissions, write block).
    REJECTED = 6
    #: No such article or story.
    NOT_FOUND = 7
    #: The polling state store could not be read or written.
    STATE = 8
    #: Any other error of the pipeline.
    FAILED = 9
    INTERRUPTED = 130
    #: stdout was closed early (``news-ingest search ... | head -1``): 128 + SIGPIPE, as a shell reports it.
    BROKEN_PIPE = 141


HELP = """Poll news feeds, index and tag articles, group them into stories, and search what is indexed.

Settings come from NEWS_<STAGE>_<FIELD> environment variables; Elasticsearch from NEWS_INDEX_ES_URL
(default http://127.0.0.1:9200). Read commands print tables, or JSON with --json. Exit codes: 0 ok,
1 unhealthy (feed-health --fail-on-unhealthy), 2 bad command line, 3 bad configuration, 4 Elasticsearch
unreachable, 5 index missing (run setup-index), 6 request rejected, 7 not found, 8 state store error,
9 other pipeline error, 130 interrupted, 141 output closed (broken pipe).
"""

app = typer.Typer(
    name="news-ingest",
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


@dataclasses.dataclass
class _Session:
    """Per-invocation state: options (read lazily, so a bad NEWS_* value fails inside the error boundary)."""

    verbose: int = 0
    _options: PipelineOptions | None = None

    @property
    def options(self) -> PipelineOptions:
        if self._options is None:
            self._options = PipelineOptions.from_env()
        return self._options


def _session(ctx: typer.Context) -> _Session:
    obj = ctx.find_root().obj
    assert isinstance(obj, _Session)
    return obj


class _StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 silently; report it like every other error instead (see main()).
        self.quiet = True
        raise OutputClosed()


def _stdout() -> Console:
    # Wide enough for a table in a file or a pager; a terminal gives its own width.
    return _StdoutConsole(soft_wrap=False, width=None if sys.stdout.isatty() else 200, highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="more log output (-vv: debug)")] = 0,
) -> None:
    ctx.obj = _Session(verbose=verbose)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=_stderr(), show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if verbose < 2:  # one line per HTTP request (and per retry of a dead node) drowns everything else
        for noisy in ("elastic_transport", "httpx", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


# --- helpers ------------------------------------------------------------------------------------------------


def _es(options: PipelineOptions) -> Elasticsearch:
    # One retry: a dead node should fail in a second, not after a long series of reconnects.
    return indexing.client(options.index, max_retries=1)


def _parse_time(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` or ISO 8601 (UTC unless an offset is given). A date alone as an end means the whole day."""
    if value is None:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date or time (use YYYY-MM-DD or ISO 8601, e.g. 2014-11-24T10:00)", param_hint=option
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10 and parsed.time() == time(0):
        parsed += timedelta(days=1)
    return parsed


def _window(start: str | None, end: str | None, names: tuple[str, str]) -> tuple[datetime | None, datetime | None]:
    first = _parse_time(start, names[0])
    last = _parse_time(end, names[1], end_of_day=True)
    if first is not None and last is not None and last <= first:
        raise typer.BadParameter(f"the end ({end}) is not after the start ({start})", param_hint=names[1])
    return first, last


class OutputClosed(Exception):
    """stdout went away (a pager quit, ``| head`` had enough). Not an OSError, so the CLI framework does not
    swallow it: :func:`main` turns it into one line and :attr:`ExitCode.BROKEN_PIPE`."""


def _emit(*items: Any) -> None:
    """Write text lines or rich renderables (tables) to stdout, flushed, so a closed pipe is noticed here."""
    try:
        out = _stdout()
        for item in items:
            if isinstance(item, str):
                out.print(item, markup=False, highlight=False, soft_wrap=True)
            else:
                out.print(item)
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return str(value)


def _print_json(data: Any) -> None:
    try:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError as exc:
        raise OutputClosed() from exc


class _Bars:
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

    def __enter__(self) -> _Bars:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._finish_current()
        self._bar.stop()


@contextmanager
def _progress() -> Iterator[Progress]:
    with _Bars(_stderr()) as bars:
        yield bars


def _call(fn: Callable[..., _R], progress: Progress, /, *args: Any, **kwargs: Any) -> _R:
    """``fn(*args, **kwargs)``, passing ``progress=`` when ``fn`` accepts it (the pipeline functions grow the
    parameter as :mod:`ingest.progress` is threaded through them)."""
    import inspect

    if "progress" in inspect.signature(fn).parameters:
        kwargs["progress"] = progress
    return fn(*args, **kwargs)


# --- the one call site of each pipeline function (their signatures are changing) ----------------------------


def _run_live(es: Elasticsearch, options: PipelineOptions, sources: Sequence[Any], progress: Progress) -> Any:
    from ingest import pipeline

    return _call(pipeline.run_live, progress, sources, es, options)


def _run_replay(es: Elasticsearch, options: PipelineOptions, start: datetime, end: datetime, progress: Progress) -> Any:
    from ingest import pipeline

    return _call(pipeline.run_replay, progress, start, end, es, options)


def _group_stories(es: Elasticsearch, options: PipelineOptions, progress: Progress) -> dict[str, Any]:
    from ingest import pipeline

    progress.start("grouping stories", None)
    result: dict[str, Any] = _call(pipeline.group_stories, progress, es, options)
    return result


def _related(es: Elasticsearch, options: PipelineOptions, ref: str) -> Any:
    """The story of an article (URL or id) or a story id, with its articles."""
    from ingest.stories import StoryGrouper

    return StoryGrouper(es, options.stories, options.index, None).related(ref)


# --- commands -----------------------------------------------------------------------------------------------


@app.command("setup-index")
def setup_index(ctx: typer.Context) -> int:
    """Install the index templates and create the aliases (idempotent)."""
    options = _session(ctx).options
    created = indexing.ensure_indices(_es(options), options.index)
    aliases = ", ".join(spec.alias for spec in indexing.specs(options.index))
    _emit(f"indices ready: {aliases} (created: {', '.join(created) or 'none'})")
    return ExitCode.OK


def _report_table(title: str, totals: dict[str, Any]) -> Table:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in totals.items():
        if isinstance(value, int) and not isinstance(value, bool):
            table.add_row(key.replace("_", " "), str(value))
    for reason, n in sorted((totals.get("skipped") or {}).items()):
        table.add_row(f"skipped {reason}", str(n))
    return table


def _stories_line(stories: dict[str, Any] | None, *, skipped_why: str) -> str:
    if stories is None:
        return f"stories: not regrouped ({skipped_why}); run `news-ingest group-stories` to assign them"
    if stories.get("disabled"):
        return "stories: not regrouped: story grouping is disabled (NEWS_STORIES_ENABLED)"
    return (
        f"stories: regrouped: {stories.get('assigned', 0)} articles assigned, "
        f"{stories.get('new_stories', 0)} new stories"
    )


@app.command()
def run(
    ctx: typer.Context,
    feeds_file: Annotated[Path | None, typer.Option(help="TOML feed list (default: NEWS_FEEDS_FEEDS_FILE)")] = None,
    feed: Annotated[list[str] | None, typer.Option(help="only this feed, by name (repeatable)")] = None,
    no_stories: Annotated[bool, typer.Option("--no-stories", help="index only; group stories later")] = False,
    as_json: JsonOption = False,
) -> int:
    """Poll the feeds once, index new articles, group them into stories."""
    from ingest import pipeline
    from ingest.feeds import load_feed_sources

    options = _session(ctx).options
    if feeds_file is not None:
        options = replace(options, feeds=replace(options.feeds, feeds_file=feeds_file))
    sources = load_feed_sources(options.feeds.feeds_file)
    if feed:
        unknown = sorted(set(feed) - {s.name for s in sources})
        if unknown:
            raise ConfigurationError(f"unknown feeds: {', '.join(unknown)} (names are in {options.feeds.feeds_file})")
        sources = [s for s in sources if s.name in set(feed)]
    es = _es(options)
    size = max(1, options.feeds.batch_size)
    reports = []
    with _progress() as progress:
        progress.start("polling feeds", len(sources))
        for i in range(0, len(sources), size):
            batch = sources[i : i + size]
            reports.append(_run_live(es, options, batch, progress).as_dict())
            progress.advance(len(batch))
        stories = None if no_stories else _group_stories(es, options, progress)
    totals = pipeline.summarize(reports, stories)
    if as_json:
        _print_json(totals)
    else:
        _emit(_report_table("run", totals), _stories_line(stories, skipped_why="--no-stories"))
    return ExitCode.OK


@app.command()
def replay(
    ctx: typer.Context,
    start: Annotated[str, typer.Option(help="window start: YYYY-MM-DD or ISO 8601 (UTC unless an offset is given)")],
    end: Annotated[str, typer.Option(help="window end, exclusive (a date alone: the end of that day)")],
    no_stories: Annotated[bool, typer.Option("--no-stories", help="rebuild documents only; do not regroup")] = False,
    as_json: JsonOption = False,
) -> int:
    """Rebuild the documents of every page archived in a capture-time window, then regroup stories."""
    from ingest import pipeline

    first, last = _window(start, end, ("--start", "--end"))
    assert first is not None and last is not None
    options = _session(ctx).options
    es = _es(options)
    with _progress() as progress:
        progress.start(f"replaying {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}", None)
        report = _run_replay(es, options, first, last, progress)
        stories = None if no_stories else _group_stories(es, options, progress)
    totals = pipeline.summarize([report.as_dict()], stories)
    totals["window"] = {"start": first.isoformat(), "end": last.isoformat()}
    if as_json:
        _print_json(totals)
    else:
        window = f"window (capture time): {first.isoformat()} .. {last.isoformat()}"
        _emit(window, _report_table("replay", totals), _stories_line(stories, skipped_why="--no-stories"))
    return ExitCode.OK


@app.command("group-stories")
def group_stories(ctx: typer.Context, as_json: JsonOption = False) -> int:
    """Assign stories to indexed articles that have none."""
    options = _session(ctx).options
    with _progress() as progress:
        stories = _group_stories(_es(options), options, progress)
    if as_json:
        _print_json(stories)
    else:
        _emit(_stories_line(stories, skipped_why=""))
    return ExitCode.OK


def _short_date(value: str | None) -> str:
    return (value or "")[:10]


@app.command()
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help='free text: words, "a phrase", -exclude, a | b, prefix*')] = "",
    tag: Annotated[list[str] | None, typer.Option(help="tag, e.g. cyberattack (repeatable: all must match)")] = None,
    subtopic: Annotated[list[str] | None, typer.Option(help="subtopic, e.g. ransomware (repeatable)")] = None,
    entity: Annotated[list[str] | None, typer.Option(help="entity id or name, e.g. 'Sony Pictures'")] = None,
    language: Annotated[list[str] | None, typer.Option("--language", "--lang", help="language code (any of)")] = None,
    outlet: Annotated[list[str] | None, typer.Option(help="outlet, host or feed name (any of)")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="published on or after (YYYY-MM-DD / ISO)")] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="published before; a date alone includes that day")
    ] = None,
    story: Annotated[str | None, typer.Option(help="only articles of this story id")] = None,
    include_duplicates: Annotated[bool, typer.Option(help="also list near-duplicate copies")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many results")] = 20,
    as_json: JsonOption = False,
) -> int:
    """Search indexed articles; near-duplicate copies are hidden unless --include-duplicates."""
    from ingest.search import ArticleQuery, search_articles

    first, last = _window(date_from, date_to, ("--from", "--to"))
    query = ArticleQuery(
        text=text,
        tags=tuple(tag or ()),
        subtopics=tuple(subtopic or ()),
        entities=tuple(entity or ()),
        languages=tuple(language or ()),
        outlets=tuple(outlet or ()),
        published_from=first,
        published_to=last,
        story_id=story,
        include_duplicates=include_duplicates,
        limit=limit,
    )
    options = _session(ctx).options
    result = search_articles(_es(options), options.index, query)
    if as_json:
        _print_json({"total": result.total, "hits": [dataclasses.asdict(h) for h in result.hits]})
        return ExitCode.OK
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
        story_label = hit.story_title or hit.story_id or "-"
        table.add_row(
            _short_date(hit.published_at),
            hit.language,
            hit.outlet,
            ", ".join(hit.tags) or "-",
            hit.title + (" [copy]" if hit.is_duplicate else ""),
            story_label,
        )
    _emit(table)
    return ExitCode.OK


def _print_story(related: Any) -> None:
    story = related.story
    lines = [f"Story {related.story_id}: {story.get('headline', '')}"]
    if related.redirected_from:
        lines.append(f"  (merged from {', '.join(related.redirected_from)})")
    lines.append(
        f"  {story.get('article_count', len(related.articles))} articles, "
        f"{_short_date(story.get('first_seen'))} .. {_short_date(story.get('last_seen'))}; "
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
            _short_date(article.get("published_at")),
            str(article.get("language", "")),
            str(article.get("outlet", "")),
            str(article.get("title", "")) + (" [copy]" if article.get("is_duplicate") else ""),
            str(article.get("url", "")),
        )
    _emit(*lines, table)


@app.command()
def story(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="story id, article URL or article id")],
    as_json: JsonOption = False,
) -> int:
    """A story and its articles, oldest first."""
    options = _session(ctx).options
    related = _related(_es(options), options, ref)
    if as_json:
        _print_json(dataclasses.asdict(related))
    else:
        _print_story(related)
    return ExitCode.OK


@app.command("related", hidden=True)
def related_alias(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> int:
    """Old name of ``story``."""
    return story(ctx, ref, as_json)


@app.command()
def summary(ctx: typer.Context, as_json: JsonOption = False) -> int:
    """What is indexed: counts by outlet, language, tag, the largest stories."""
    from ingest.reporting import index_summary

    options = _session(ctx).options
    data = index_summary(_es(options), options.index)
    if as_json:
        _print_json(data)
        return ExitCode.OK
    head = (
        f"Articles: {data['articles']} ({data['with_story']} in stories, {data['duplicates']} near-duplicate "
        f"copies); published {_short_date(data['published_from'])} .. {_short_date(data['published_to'])}; "
        f"stories: {data['stories']}"
    )
    facets = Table(header_style="bold", title="articles by")
    for name in ("outlet", "language", "tags", "subtopics", "feeds"):
        facets.add_column(name, overflow="fold")
    columns = [
        [f"{k} {v}" for k, v in data[name].items()] for name in ("outlet", "language", "tags", "subtopics", "feeds")
    ]
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
    _emit(head, facets, top)
    return ExitCode.OK


def _ago(value: datetime | None, now: datetime) -> str:
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


@app.command("feed-health")
def feed_health(
    ctx: typer.Context,
    state: Annotated[Path | None, typer.Option(help="state database (default: NEWS_STATE_PATH)")] = None,
    feeds_file: Annotated[Path | None, typer.Option(help="TOML feed list (default: NEWS_FEEDS_FEEDS_FILE)")] = None,
    fail_on_unhealthy: Annotated[
        bool, typer.Option(help=f"exit {ExitCode.UNHEALTHY.value} when a feed is failing or backed off")
    ] = False,
    as_json: JsonOption = False,
) -> int:
    """Polling state of each feed, by name: last status, next poll, backoff, last error."""
    from ingest.feeds import load_feed_sources
    from ingest.health import feed_health_rows

    options = _session(ctx).options
    state_path = state if state is not None else Path(options.state.path)
    if not state_path.is_file():
        raise ConfigurationError(
            f"no polling state at {state_path} (pass --state or set NEWS_STATE_PATH; it is created by the first run)"
        )
    sources = load_feed_sources(feeds_file or options.feeds.feeds_file)
    now = datetime.now(UTC)
    rows = feed_health_rows(replace(options.state, path=state_path), sources, now=now)
    unhealthy = [r for r in rows if not r.healthy]
    if as_json:
        _print_json([dataclasses.asdict(r) for r in rows])
    else:
        table = Table(title=f"{len(rows)} feeds, {len(unhealthy)} unhealthy", header_style="bold")
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
                _ago(r.last_success_at, now),
                _ago(r.next_poll_after, now) + (f" ({r.next_poll_reason})" if r.next_poll_reason else ""),
                str(r.consecutive_failures),
                f"{r.backoff_seconds / 60:.0f} min" if r.backoff_seconds else "-",
                r.last_error or "-",
            )
        _emit(table)
    if fail_on_unhealthy and unhealthy:
        return ExitCode.UNHEALTHY
    return ExitCode.OK


# --- the one error boundary ---------------------------------------------------------------------------------


def _error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def _exit_code(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and one-line message for an exception that left a command."""
    if isinstance(exc, ElasticsearchUnavailable):
        return ExitCode.ES_UNAVAILABLE, f"{exc} (is Elasticsearch running? NEWS_INDEX_ES_URL)"
    if isinstance(exc, IndexMissing):
        return ExitCode.INDEX_MISSING, str(exc)
    if isinstance(exc, RequestRejected):
        return ExitCode.REJECTED, str(exc)
    if isinstance(exc, ConfigurationError):
        return ExitCode.CONFIG, str(exc)
    if isinstance(exc, StateStoreError):
        return ExitCode.STATE, str(exc)
    if isinstance(exc, ItemSkipped) and exc.reason in ("not_found", "not_grouped"):
        return ExitCode.NOT_FOUND, str(exc)
    return ExitCode.FAILED, f"{type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error becomes one line on stderr and an :class:`ExitCode`."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="news-ingest", standalone_mode=False)
        sys.stdout.flush()
        return int(result or 0)
    except (BrokenPipeError, OutputClosed):
        # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        _error("output closed before everything was written (broken pipe)")
        return ExitCode.BROKEN_PIPE
    except (KeyboardInterrupt, typer.Abort):
        _error("interrupted")
        return ExitCode.INTERRUPTED
    except typer.TyperException as exc:  # command-line errors: unknown option, bad or inverted dates, ...
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            sys.stdout.write(ctx.get_help() + "\n")
            return ExitCode.USAGE
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        name = getattr(ctx, "command_path", None)
        hint = f" (see `{name} --help`)" if name else ""
        _error(str(message).replace("\n", " ") + hint)
        return ExitCode.USAGE if int(getattr(exc, "exit_code", 2)) == 2 else ExitCode.FAILED
    except IngestError as exc:
        code, message = _exit_code(exc)
        _error(message)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("traceback", exc_info=exc)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
