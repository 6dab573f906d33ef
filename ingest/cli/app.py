"""The commands (typer) and the one error boundary, :func:`main`."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from elasticsearch import Elasticsearch
from rich.logging import RichHandler

from ingest import indexing
from ingest.cli.exits import ExitCode, error, exit_code
from ingest.cli.output import (
    OutputClosed,
    articles_table,
    emit,
    feed_health_table,
    print_json,
    progress_bars,
    report_table,
    stderr,
    stories_line,
    story_view,
    summary_view,
)
from ingest.config import PipelineOptions
from ingest.errors import ConfigurationError, IngestError
from ingest.progress import Progress

logger = logging.getLogger("ingest.cli")

_R = TypeVar("_R")

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


def _options(ctx: typer.Context) -> PipelineOptions:
    obj = ctx.find_root().obj
    assert isinstance(obj, _Session)
    return obj.options


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="more log output (-vv: debug)")] = 0,
) -> None:
    ctx.obj = _Session(verbose=verbose)
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler: logging.Handler
    if sys.stderr.isatty():
        handler = RichHandler(console=stderr(), show_path=False, markup=False, rich_tracebacks=False)
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


def parse_time(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
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


def window(start: str | None, end: str | None, names: tuple[str, str]) -> tuple[datetime | None, datetime | None]:
    """Both ends parsed; the end must come after the start."""
    first = parse_time(start, names[0])
    last = parse_time(end, names[1], end_of_day=True)
    if first is not None and last is not None and last <= first:
        raise typer.BadParameter(f"the end ({end}) is not after the start ({start})", param_hint=names[1])
    return first, last


def taxonomy_labels(values: Sequence[str], known: Sequence[str], option: str) -> tuple[str, ...]:
    """``values`` as the taxonomy spells them: any case, and a subtopic by its last part alone
    (``ransomware`` for ``cyberattack.ransomware``) when that names one subtopic. An unknown value is a usage
    error naming the known ones: it would otherwise match nothing, silently."""
    resolved: list[str] = []
    for value in values:
        wanted = value.strip().lower()
        matches = [k for k in known if k == wanted] or [k for k in known if k.rsplit(".", 1)[-1] == wanted]
        if len(matches) != 1:
            close = difflib.get_close_matches(wanted, known, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise typer.BadParameter(f"unknown {value!r}: {hint}known: {', '.join(known)}", param_hint=option)
        resolved.append(matches[0])
    return tuple(resolved)


def language_codes(values: Sequence[str], option: str) -> tuple[str, ...]:
    """``values`` as the index stores languages: ISO 639-1 codes (``DE``, ``deu`` and ``de-AT`` read ``de``). Anything
    else is a usage error: a language name such as ``german`` would otherwise match nothing, silently."""
    import langcodes

    resolved: list[str] = []
    for value in values:
        wanted = value.strip()
        code = (langcodes.Language.get(wanted).language or "") if langcodes.tag_is_valid(wanted) else ""
        if len(code) != 2:
            raise typer.BadParameter(
                f"unknown language {value!r}: give an ISO 639-1 code, e.g. de or en", param_hint=option
            )
        resolved.append(code)
    return tuple(resolved)


def choices(values: Sequence[str], known: Sequence[str], option: str, what: str) -> list[str]:
    """``values`` unchanged when each is one of ``known``; else a usage error with the closest names."""
    for value in values:
        if value not in known:
            close = difflib.get_close_matches(value, known, n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            listed = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
            raise typer.BadParameter(f"unknown {what} {value!r}: {hint}known: {listed}", param_hint=option)
    return list(values)


def _feed_names(options: PipelineOptions, names: Sequence[str] | None) -> list[str]:
    """The ``--feed`` names, checked against the feed file (a typo is a command-line error, exit 2)."""
    if not names:
        return []
    from ingest.feeds import load_feed_sources

    known = [source.name for source in load_feed_sources(options.feeds.feeds_file)]
    return choices(names, known, "--feed", "feed")


def _taxonomy(options: PipelineOptions) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(tags, subtopics) of the taxonomy file the tagger uses."""
    from ingest.tagging.data import load_taxonomy

    taxonomy = load_taxonomy(options.tagging.taxonomy_path)
    return taxonomy.tags, tuple(rule.name for rule in taxonomy.rules if rule.parent is not None)


def _call(fn: Callable[..., _R], progress: Progress, /, *args: Any, **kwargs: Any) -> _R:
    """``fn(*args, **kwargs)``, passing ``progress=`` when ``fn`` accepts it (the pipeline functions grow the
    parameter as :mod:`ingest.progress` is threaded through them)."""
    if "progress" in inspect.signature(fn).parameters:
        kwargs["progress"] = progress
    return fn(*args, **kwargs)


# --- the one call site of each pipeline function (their signatures are changing) ----------------------------


def _capture(options: PipelineOptions, spec: Any, progress: Progress) -> dict[str, Any]:
    from ingest import pipeline

    result: dict[str, Any] = _call(pipeline.capture_batch, progress, spec, options)
    return result


def _process(es: Elasticsearch, options: PipelineOptions, spec: Any, progress: Progress) -> dict[str, Any]:
    from ingest import pipeline

    result: dict[str, Any] = _call(pipeline.process_batch, progress, spec, es, options)
    return result


def _group_stories(es: Elasticsearch, options: PipelineOptions, progress: Progress) -> dict[str, Any]:
    from ingest import pipeline

    progress.start("grouping stories", None)
    result: dict[str, Any] = _call(pipeline.group_stories, progress, es, options)
    return result


def _related(es: Elasticsearch, options: PipelineOptions, ref: str) -> Any:
    """The story of an article (URL or id) or a story id, with its articles."""
    from ingest.stories import related

    return related(es, options, ref)


# --- commands -----------------------------------------------------------------------------------------------


@app.command("setup-index")
def setup_index(ctx: typer.Context) -> int:
    """Install the index templates and create the aliases (idempotent)."""
    options = _options(ctx)
    created = indexing.ensure_indices(_es(options), options.index)
    aliases = ", ".join(spec.alias for spec in indexing.specs(options.index))
    emit(f"indices ready: {aliases} (created: {', '.join(created) or 'none'})")
    return ExitCode.OK


@app.command()
def run(
    ctx: typer.Context,
    feeds_file: Annotated[Path | None, typer.Option(help="TOML feed list (default: NEWS_FEEDS_FEEDS_FILE)")] = None,
    feed: Annotated[list[str] | None, typer.Option(help="only this feed, by name (repeatable)")] = None,
    no_stories: Annotated[bool, typer.Option("--no-stories", help="index only; group stories later")] = False,
    as_json: JsonOption = False,
) -> int:
    """Poll the feeds once, derive and index what is new (and anything left pending), group into stories.

    Exits 1 when more feeds, pages or extractions failed than NEWS_HEALTH_MAX_*_SHARE allow."""
    from ingest import pipeline

    options = _options(ctx)
    if feeds_file is not None:
        options = replace(options, feeds=replace(options.feeds, feeds_file=feeds_file))
    specs = pipeline.plan_capture(options, _feed_names(options, feed))
    es = _es(options)
    indexing.ensure_indices(es, options.index)
    reports = []
    with progress_bars() as progress:
        progress.start("polling feeds", sum(len(spec["feeds"]) for spec in specs))
        for spec in specs:
            reports.append(_capture(options, spec, progress))
            progress.advance(len(spec["feeds"]))
        pending = pipeline.pending_specs(options)
        progress.start("deriving documents", len(pending))
        for process_spec in pending:
            reports.append(_process(es, options, process_spec, progress))
            progress.advance(1)
        stories = None if no_stories else _group_stories(es, options, progress)
    totals = pipeline.summarize(reports, stories)
    problems = pipeline.health_problems(totals, options.health)
    if as_json:
        print_json({**totals, "health_problems": problems})
    else:
        emit(report_table("run", totals), stories_line(stories, skipped_why="--no-stories"))
    if problems:
        error("unhealthy run: " + "; ".join(problems))
        return ExitCode.UNHEALTHY
    return ExitCode.OK


@app.command()
def replay(
    ctx: typer.Context,
    start: Annotated[str, typer.Option(help="window start: YYYY-MM-DD or ISO 8601 (UTC unless an offset is given)")],
    end: Annotated[str, typer.Option(help="window end, exclusive (a date alone: the end of that day)")],
    by: Annotated[
        str, typer.Option(help="capture: pages fetched in the window; publish: articles published in it")
    ] = "capture",
    feed: Annotated[list[str] | None, typer.Option(help="only this feed's articles, by name (repeatable)")] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(help="stages to redo: extract, tag, index, group (repeatable; default all)"),
    ] = None,
    no_stories: Annotated[bool, typer.Option("--no-stories", help="rebuild documents only; do not regroup")] = False,
    as_json: JsonOption = False,
) -> int:
    """Re-derive the documents of a window of the archive (by capture or publish time), then regroup stories."""
    from ingest import pipeline

    first, last = window(start, end, ("--start", "--end"))
    assert first is not None and last is not None
    if by not in ("capture", "publish"):
        raise typer.BadParameter(f"{by!r} is not capture or publish", param_hint="--by")
    options = _options(ctx)
    stages = choices(stage, list(pipeline.STAGES), "--stage", "stage") if stage else list(pipeline.STAGES)
    if not set(stages) & {"extract", "tag", "group"}:
        raise typer.BadParameter("name at least one of the stages extract, tag or group", param_hint="--stage")
    feeds = _feed_names(options, feed)
    root = options.archive.root
    if "extract" in stages and "://" not in root and not Path(root).is_dir():
        # a typo would otherwise "replay" nothing and exit 0
        raise ConfigurationError(f"no archive at {root} (NEWS_ARCHIVE_ROOT; `run` and news_poll write it)")
    specs = pipeline.plan_window(first, last, options, by=by, feeds=feeds, stages=stages)  # type: ignore[arg-type]
    es = _es(options)
    indexing.ensure_indices(es, options.index)
    with progress_bars() as progress:
        progress.start(f"replaying {first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M}", len(specs))
        reports = []
        for spec in specs:
            reports.append(_process(es, options, spec, progress))
            progress.advance(1)
        regroup = not no_stories and "group" in stages and "index" in stages
        stories = _group_stories(es, options, progress) if regroup else None
    totals = pipeline.summarize(reports, stories)
    totals["window"] = {"start": first.isoformat(), "end": last.isoformat(), "by": by}
    if as_json:
        print_json(totals)
    else:
        span = f"window ({by} time): {first.isoformat()} .. {last.isoformat()}"
        why = "--no-stories" if no_stories else "group or index not among the stages"
        emit(span, report_table("replay", totals), stories_line(stories, skipped_why=why))
    return ExitCode.OK


@app.command("group-stories")
def group_stories(ctx: typer.Context, as_json: JsonOption = False) -> int:
    """Assign stories to indexed articles that have none."""
    options = _options(ctx)
    with progress_bars() as progress:
        stories = _group_stories(_es(options), options, progress)
    if as_json:
        print_json(stories)
    else:
        emit(stories_line(stories, skipped_why=""))
    return ExitCode.OK


@app.command()
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help='free text: words, "a phrase", -exclude, a | b, prefix*')] = "",
    tag: Annotated[list[str] | None, typer.Option(help="tag, e.g. cyberattack (repeatable: all must match)")] = None,
    subtopic: Annotated[
        list[str] | None,
        typer.Option(help="subtopic, e.g. cyberattack.ransomware or just ransomware (repeatable: all must match)"),
    ] = None,
    entity: Annotated[
        list[str] | None, typer.Option(help="entity name or id, any case, e.g. 'Guardians of Peace' or company:sony")
    ] = None,
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

    first, last = window(date_from, date_to, ("--from", "--to"))
    options = _options(ctx)
    known_tags, known_subtopics = _taxonomy(options) if tag or subtopic else ((), ())
    query = ArticleQuery(
        text=text,
        tags=taxonomy_labels(tag or (), known_tags, "--tag"),
        subtopics=taxonomy_labels(subtopic or (), known_subtopics, "--subtopic"),
        entities=tuple(entity or ()),
        languages=language_codes(language or (), "--lang"),
        outlets=tuple(outlet or ()),
        published_from=first,
        published_to=last,
        story_id=story,
        include_duplicates=include_duplicates,
        limit=limit,
    )
    result = search_articles(_es(options), options.index, query)
    if as_json:
        print_json({"total": result.total, "hits": [dataclasses.asdict(h) for h in result.hits]})
    elif not result.hits:
        hidden = "" if include_duplicates else " (near-duplicate copies hidden: --include-duplicates)"
        emit("no articles match" + hidden)
    else:
        emit(articles_table(result))
    return ExitCode.OK


@app.command()
def story(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="story id, article URL or article id")],
    as_json: JsonOption = False,
) -> int:
    """A story and its articles, oldest first."""
    if not ref.strip():
        raise typer.BadParameter("give a story id (st-...), an article URL or an article id", param_hint="REF")
    options = _options(ctx)
    related = _related(_es(options), options, ref)
    if as_json:
        print_json(dataclasses.asdict(related))
    else:
        emit(*story_view(related))
    return ExitCode.OK


@app.command("related", hidden=True)
def related_alias(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> int:
    """Old name of ``story``."""
    return story(ctx, ref, as_json)


@app.command()
def summary(ctx: typer.Context, as_json: JsonOption = False) -> int:
    """What is indexed: counts by outlet, language, tag, the largest stories."""
    from ingest.reporting import index_summary

    options = _options(ctx)
    data = index_summary(_es(options), options.index)
    if as_json:
        print_json(data)
    else:
        emit(*summary_view(data))
    return ExitCode.OK


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

    options = _options(ctx)
    state_path = state if state is not None else Path(options.state.path)
    if not state_path.is_file():
        raise ConfigurationError(
            f"no polling state at {state_path} (pass --state or set NEWS_STATE_PATH; it is created by the first run)"
        )
    sources = load_feed_sources(feeds_file or options.feeds.feeds_file)
    now = datetime.now(UTC)
    rows = feed_health_rows(replace(options.state, path=state_path), sources, now=now)
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
    else:
        emit(feed_health_table(rows, now))
    if fail_on_unhealthy and any(not r.healthy for r in rows):
        return ExitCode.UNHEALTHY
    return ExitCode.OK


# --- the one error boundary ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error becomes one line on stderr and an :class:`ExitCode`."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name="news-ingest", standalone_mode=False)
        sys.stdout.flush()
        return int(result or 0)
    except (BrokenPipeError, OutputClosed):
        return _output_closed()
    except SystemExit as exc:
        # rich (the --help screens) answers a closed pipe by pointing stdout at /dev/null and exiting 1.
        if exc.code == 1 and _stdout_is_devnull():
            return _output_closed()
        raise
    except (KeyboardInterrupt, typer.Abort):
        error("interrupted")
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
        error(str(message).replace("\n", " ") + hint)
        return ExitCode.USAGE if int(getattr(exc, "exit_code", 2)) == 2 else ExitCode.FAILED
    except IngestError as exc:
        code, message = exit_code(exc)
        error(message)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("traceback", exc_info=exc)
        return code
    except Exception as exc:  # a bug or an unmapped OS error (disk full, ...): still one line, the trace on -vv
        try:
            sys.stdout.flush()
        except OSError:  # stdout itself failed: Python's flush at exit would fail again, with a second message
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        error(f"{type(exc).__name__}: {exc} (rerun with -vv for the traceback)")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("traceback", exc_info=exc)
        return ExitCode.FAILED


def _output_closed() -> int:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail a second time.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    error("output closed before everything was written (broken pipe)")
    return ExitCode.BROKEN_PIPE


def _stdout_is_devnull() -> bool:
    try:
        out, null = os.fstat(sys.stdout.fileno()), os.stat(os.devnull)
    except (OSError, ValueError):
        return False
    return (out.st_rdev, out.st_ino) == (null.st_rdev, null.st_ino)
