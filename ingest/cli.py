"""Command line: the same pipeline without Airflow, plus the analyst and operator helpers.

Settings come from the environment (``NEWS_<STAGE>_<FIELD>``, see :mod:`ingest.config`); Elasticsearch from
``NEWS_INDEX_ES_URL`` (default ``http://127.0.0.1:9200``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest import indexing, pipeline
from ingest.config import PipelineOptions
from ingest.errors import IngestError

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # one line per HTTP request drowns the pipeline's own log
        for noisy in ("elastic_transport", "httpx"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    options = PipelineOptions.from_env()
    try:
        result: int = args.func(args, options)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="news-ingest", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    c = sub.add_parser("setup-index", help="install index templates and aliases (idempotent)")
    c.set_defaults(func=_setup_index)

    c = sub.add_parser("run", help="poll the feeds once, index new articles, group stories")
    c.add_argument("--feeds-file", type=Path, help="TOML feed list (default: NEWS_FEEDS_FEEDS_FILE)")
    c.add_argument("--feed", action="append", default=[], help="only this feed (repeatable)")
    c.add_argument("--no-stories", action="store_true", help="index only; group stories in a later run")
    c.set_defaults(func=_run)

    c = sub.add_parser("replay", help="rebuild documents from the raw archive for a time window")
    c.add_argument("--start", required=True, type=_datetime, help="ISO date/time (UTC if no offset)")
    c.add_argument("--end", required=True, type=_datetime)
    c.set_defaults(func=_replay)

    c = sub.add_parser("group-stories", help="assign stories to indexed articles that have none")
    c.set_defaults(func=_group)

    c = sub.add_parser("related", help="the story of an article (URL or id) and its other articles")
    c.add_argument("ref", help="article URL or document id")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_related)

    c = sub.add_parser("summary", help="what is indexed: counts by outlet, language, tag and the top stories")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_summary)

    c = sub.add_parser("feed-health", help="polling state of each feed")
    c.set_defaults(func=_feed_health)

    return p


def _datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _es(options: PipelineOptions) -> Any:
    return indexing.client(options.index)


def _setup_index(args: argparse.Namespace, options: PipelineOptions) -> int:
    created = indexing.ensure_indices(_es(options), options.index)
    print(f"indices ready (created: {', '.join(created) or 'none'})")
    return 0


def _run(args: argparse.Namespace, options: PipelineOptions) -> int:
    if args.feeds_file:
        from dataclasses import replace

        options = replace(options, feeds=replace(options.feeds, feeds_file=args.feeds_file))
    summary = pipeline.run(_es(options), options, feed_names=args.feed, stories=not args.no_stories)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 1 if pipeline.health_problems(summary, options.health) else 0


def _replay(args: argparse.Namespace, options: PipelineOptions) -> int:
    summary = pipeline.replay(args.start, args.end, _es(options), options, stories=False)
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


def _group(args: argparse.Namespace, options: PipelineOptions) -> int:
    print(json.dumps(pipeline.group_stories(_es(options), options), indent=2, sort_keys=True))
    return 0


def _related(args: argparse.Namespace, options: PipelineOptions) -> int:
    from ingest.embeddings import default_embedder
    from ingest.stories import StoryGrouper

    grouper = StoryGrouper(_es(options), options.stories, options.index, default_embedder(False))
    related = grouper.related(args.ref)
    if args.json:
        print(json.dumps(dataclasses.asdict(related), indent=2, sort_keys=True, default=str))
        return 0
    story = related.story
    print(f"Story {related.story_id}: {story.get('headline', '')}")
    if related.redirected_from:
        print(f"  (merged from {', '.join(related.redirected_from)})")
    print(
        f"  {story.get('article_count', len(related.articles))} articles, "
        f"{story.get('first_seen', '?')} .. {story.get('last_seen', '?')}, "
        f"languages: {', '.join(story.get('languages') or [])}"
    )
    for article in related.articles:
        print(
            f"  {str(article.get('published_at', ''))[:10]}  [{article.get('language', '?')}] "
            f"{article.get('outlet', '')}: {article.get('title', '')}\n      {article.get('url', '')}"
        )
    return 0


def _summary(args: argparse.Namespace, options: PipelineOptions) -> int:
    from ingest.reporting import index_summary, render_summary

    summary = index_summary(_es(options), options.index)
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else render_summary(summary))
    return 0


def _feed_health(args: argparse.Namespace, options: PipelineOptions) -> int:
    from ingest.state import StateStore

    with StateStore(options.state) as state:
        for feed in state.feed_health():
            print(
                f"{feed.url}\tfailures={feed.consecutive_failures}\tlast_success={feed.last_success_at}"
                f"\tlast_error={feed.last_error or '-'}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
