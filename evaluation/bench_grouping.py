"""Story-grouping benchmark: ``python -m evaluation.bench_grouping`` (part of ``make bench``; ES must run).

Throughput (articles/s of :meth:`StoryGrouper.assign_pending`, wall clock: listing, window load, reads,
in-memory assignment, the batch writes and refreshes) and per-article latency (median, p95 of the in-memory
assignment; and the batch write time) with 1k, 10k and 100k articles already grouped.

Background: a replay of real text (CASIE + WikiRef220 from ``../shared/eval``, with the tagger's entity ids and
names as the pipeline indexes them; bodies capped at 1,500 characters), copy ``c`` of article ``i`` gets id
``bg-c-i`` and a date drawn uniformly from 2016-01-01 .. 2018-12-31 (fixed seed); in date order every 5 articles
form a story, built by the real story record (so the stories index holds real ``grouping_state`` documents;
``--grouped-background`` groups them with the real evidence code instead, which takes long at 100k), and both are
bulk-loaded. One index grows 1k -> 10k -> 100k. At each level ``--probe`` fresh articles (perturbed copies dated
within one week, as one run's new articles would be) are grouped for real, then deleted again with the stories
they created, so every level measures the same probes against a larger index. Embeddings: off unless ``--embed``
(the model's cost is reported by ``make eval-stories``). Indices ``eval-bench-*`` are deleted at the end. Ends
with one ``key=value ...`` line.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, helpers

from evaluation.stories import casie_streams, entity_function, wikiref_streams
from ingest.config import IndexOptions, StoryOptions
from ingest.embeddings import load_embedder
from ingest.indexing import create_indices, drop_indices
from ingest.stories import StoryGrouper
from ingest.stories.evidence import tfidf
from ingest.stories.features import ArticleFeatures, features
from ingest.stories.record import Story
from ingest.stories.store import StoryStore
from ingest.stories.window import Window

logger = logging.getLogger(__name__)

START = datetime(2016, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365
Doc = dict[str, Any]


def corpus() -> list[Doc]:
    """The replayed texts with the tagger's entity ids and names, as the pipeline indexes them (without
    ``names`` grouping falls back to finding names itself, a slower path that indexed articles do not take)."""
    docs: list[Doc] = []
    entities = entity_function()
    for stream in casie_streams(entities, german=0) + [s for s in wikiref_streams(entities) if s.name == "wikiref"]:
        docs.extend(stream.docs)
    if not docs:
        raise SystemExit("bench needs ../shared/eval (CASIE, WikiRef220); set NEWS_SHARED_DIR")
    for d in docs:
        d["body"] = d["body"][:1500]
    return docs


def background(base: Sequence[Doc], start: int, stop: int, rng: random.Random) -> list[Doc]:
    out = []
    for n in range(start, stop):
        src = base[n % len(base)]
        when = START + timedelta(days=rng.uniform(0, SPAN_DAYS))
        out.append({**src, "doc_id": f"bg-{n // len(base)}-{n % len(base)}", "published_at": when.isoformat()})
    return out


_FEATURES: dict[str, ArticleFeatures] = {}


def group_in_memory(docs: Sequence[Doc], options: StoryOptions) -> tuple[list[Story], dict[str, Story]]:
    """Background articles grouped with the real evidence code, without Elasticsearch (time order)."""
    o = options
    window = Window(o)
    stories: dict[str, Story] = {}
    of: dict[str, Story] = {}
    for d in docs:
        if d["doc_id"] not in _FEATURES:
            _FEATURES[d["doc_id"]] = features(d, body_chars=o.store.body_chars)
    arts = sorted((_FEATURES[d["doc_id"]] for d in docs), key=lambda a: (a.published, a.doc_id))
    from ingest.stories.evidence import score

    for a in arts:
        window.evict_before(a.published)
        weighted = tfidf(a.terms, a.language, window.stats)
        cands, _ = window.candidates(a, weighted)
        best = max(
            (score(a, weighted, s, window.stats, o.evidence, o.window) for s in cands),
            key=lambda s: s.score,
            default=None,
        )
        if best is not None and best.score >= o.evidence.join_threshold:
            story = stories[best.story_id]
            window.detach(story)
        else:
            story = Story.found(a)
            stories[story.story_id] = story
        story.add(a, story_terms=o.store.story_terms, representatives=o.embedding.representatives)
        window.attach(story)
        of[a.doc_id] = story
    return list(stories.values()), of


def chunk_in_memory(docs: Sequence[Doc], options: StoryOptions, size: int = 5) -> tuple[list[Story], dict[str, Story]]:
    """Background stories without scoring (fast): articles in date order, every ``size`` consecutive ones of the
    same source text form a story (real story records and documents, as grouping writes them)."""
    o = options
    for d in docs:
        if d["doc_id"] not in _FEATURES:
            _FEATURES[d["doc_id"]] = features(d, body_chars=o.store.body_chars)
    arts = sorted((_FEATURES[d["doc_id"]] for d in docs), key=lambda a: (a.published, a.doc_id))
    stories: list[Story] = []
    of: dict[str, Story] = {}
    for i in range(0, len(arts), size):
        group = arts[i : i + size]
        story = Story.found(group[0])
        for a in group:
            story.add(a, story_terms=o.store.story_terms, representatives=o.embedding.representatives)
            of[a.doc_id] = story
        stories.append(story)
    return stories, of


def bulk(es: Elasticsearch, actions: Sequence[dict[str, Any]]) -> None:
    for ok, item in helpers.streaming_bulk(es, actions, chunk_size=500, max_retries=3, raise_on_error=False):
        if not ok:
            raise RuntimeError(f"bulk failed: {item}")


def measure(
    es_url: str, sizes: Sequence[int], probes: int, embed: bool, *, grouped_background: bool = False
) -> dict[str, float]:
    """The figures (``articles_s_1k``, ``p95_ms_1k``, ...) for each size; the benchmark's public entry point."""
    es = Elasticsearch(es_url, request_timeout=300)
    prefix = f"eval-bench-{uuid.uuid4().hex[:8]}"
    opts = IndexOptions(articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories")
    create_indices(es, opts)
    options = StoryOptions(use_embeddings=embed)
    embedder = load_embedder(enabled=embed) if embed else None
    figures: dict[str, float] = {}
    try:
        base = corpus()
        rng = random.Random(7)
        day = START + timedelta(days=SPAN_DAYS * 0.6)
        probe_docs = [
            {
                **base[rng.randrange(len(base))],
                "doc_id": f"probe-{i}",
                "published_at": (day + timedelta(hours=rng.uniform(0, 168))).isoformat(),
            }
            for i in range(probes)
        ]
        indexed = 0
        all_bg: list[Doc] = []
        for size in sorted(sizes):
            t0 = time.perf_counter()
            new = background(base, indexed, size, random.Random(size))
            all_bg.extend(new)
            if grouped_background:  # the whole background grouped by the real evidence code (slow at 100k)
                stories, of = group_in_memory(all_bg, options)
            else:
                stories, of = chunk_in_memory(all_bg, options)
            now = datetime.now(UTC)
            w = options.window
            article_ops = [
                {
                    "_index": opts.articles_alias,
                    "_id": d["doc_id"],
                    "_source": {**d, "story_id": of[d["doc_id"]].story_id, "story_title": of[d["doc_id"]].headline},
                }
                for d in all_bg
            ]
            story_ops = [
                {
                    "_index": opts.stories_alias,
                    "_id": s.story_id,
                    "_source": s.document(
                        until=s.active_until(w.window_days, w.followup_days, w.followup_min_articles),
                        now=now,
                        key_terms=[],
                        max_entities=30,
                    ),
                }
                for s in stories
            ]
            old = list(es.indices.get_alias(name=opts.stories_alias))
            es.indices.delete(index=",".join(old))  # by name: wildcard deletes are refused
            create_stories_only(es, opts)
            bulk(es, article_ops[indexed:] if indexed else article_ops)
            bulk(es, story_ops)
            es.indices.refresh(index=[opts.articles_alias, opts.stories_alias])
            load = time.perf_counter() - t0
            indexed = size
            bulk(es, [{"_index": opts.articles_alias, "_id": p["doc_id"], "_source": p} for p in probe_docs])
            es.indices.refresh(index=opts.articles_alias)
            grouper = StoryGrouper(es, options, opts, embedder)
            t1 = time.perf_counter()
            result = grouper.assign_pending()
            wall = time.perf_counter() - t1
            lat = sorted(grouper.stats.latencies)
            label = f"{size // 1000}k"
            figures[f"articles_s_{label}"] = len(result) / wall if wall else 0.0
            figures[f"median_ms_{label}"] = statistics.median(lat) * 1000 if lat else 0.0
            figures[f"p95_ms_{label}"] = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))] * 1000 if lat else 0.0
            figures[f"write_s_{label}"] = grouper.stats.write_seconds
            print(
                f"{size:>7} indexed ({len(stories)} stories; load {load:.0f}s): {len(result)} probes in {wall:.2f}s = "
                f"{figures[f'articles_s_{label}']:.1f} articles/s; "
                f"assignment median {figures[f'median_ms_{label}']:.1f} ms, "
                f"p95 {figures[f'p95_ms_{label}']:.1f} ms; batch writes {grouper.stats.write_seconds:.2f}s; "
                f"{grouper.store.requests} ES requests; joined {sum(1 for a in result if not a.created)}",
                flush=True,
            )
            deletes = [{"_op_type": "delete", "_index": opts.articles_alias, "_id": p["doc_id"]} for p in probe_docs]
            helpers.bulk(es, deletes, raise_on_error=False, refresh=True)
    finally:
        StoryStore(es, opts).drop_clock()
        names = list(es.options(ignore_status=404).indices.get_alias(name=opts.stories_alias))
        names = [n for n in names if n not in ("error", "status")]
        if names:
            es.options(ignore_status=404).indices.delete(index=",".join(names))
        drop_indices(es, opts)
        es.close()
    return figures


def create_stories_only(es: Elasticsearch, opts: IndexOptions) -> None:
    """A fresh stories index behind the alias (the background's stories are rewritten at each level)."""
    from ingest.indexing import load_template

    body = load_template("news-stories")["template"]
    es.indices.create(
        index=f"{opts.stories_alias}-v{uuid.uuid4().hex[:6]}",
        settings=body["settings"],
        mappings=body["mappings"],
        aliases={opts.stories_alias: {}},
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--probe", type=int, default=500, help="articles grouped (and timed) per level")
    parser.add_argument("--embed", action="store_true", help="load the embedding model (cross-language policy)")
    parser.add_argument(
        "--grouped-background",
        action="store_true",
        help="group the background with the real evidence code (slow at 100k) instead of 5-article chunks",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes = [int(s) for s in args.sizes.split(",")]
    figures = measure(args.es_url, sizes, args.probe, args.embed, grouped_background=args.grouped_background)
    print(" ".join(f"{k}={v:.1f}" for k, v in figures.items()) + f" probes={args.probe}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["measure"]
