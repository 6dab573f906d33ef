"""Story grouping benchmark: ``python -m evaluation.bench`` (make bench; ES must run).

Per-article grouping latency (median, p95) and ES requests per article with 1k, 10k and 100k articles already
grouped. The background corpus is a replay of real text (CASIE + WikiRef220 from ``../shared/eval``; bodies
capped at 1,500 characters) with perturbed ids, dates and stories: copy ``c`` of article ``i`` gets id
``bg-c-i``, a date drawn uniformly from 2016-01-01 .. 2018-12-31 (fixed seed) and belongs to a synthetic
story of 5 articles; embeddings are random unit vectors near a per-story random direction (no re-embedding:
384-d Gaussian noise, seeded). One index grows 1k -> 10k -> 100k (bulk, refresh once per level). At each level
``--probe`` fresh articles (perturbed copies, dates inside the background period, embeddings given) are
indexed without story and grouped by :meth:`StoryGrouper.assign_pending`, timed one by one; they are then
deleted again so every level measures the same probes against a larger index. Indices: ``eval-bench-*``,
deleted at the end. Ends with one ``key=value ...`` line.
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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, helpers

from evaluation.stories import casie_docs, wikiref_docs
from ingest.config import IndexOptions, StoryOptions
from ingest.indexing import create_indices, drop_indices
from ingest.stories import StoryGrouper

DIMS = 384
START = datetime(2016, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365


def _unit(rng: random.Random, base: Sequence[float] | None = None, noise: float = 1.0) -> list[float]:
    v = [rng.gauss(0.0, 1.0) * noise + (base[i] if base else 0.0) for i in range(DIMS)]
    n = sum(x * x for x in v) ** 0.5
    return [x / n for x in v]


def _no_entities(title: str, body: str, language: str) -> list[str]:
    return []  # entities play no part in latency


def corpus() -> list[dict[str, Any]]:
    docs = (casie_docs(_no_entities, None) or []) + ((wikiref_docs(_no_entities) or ([], {}))[0])
    if not docs:
        raise SystemExit("bench needs ../shared/eval (CASIE, WikiRef220); set NEWS_SHARED_DIR")
    for d in docs:
        d["body"] = d["body"][:1500]
    return docs


def background(
    base: list[dict[str, Any]], start: int, stop: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Articles ``start..stop`` of the replayed corpus, and their synthetic story documents."""
    rng = random.Random(seed)
    articles, stories = [], []
    for story_no in range(start // 5, (stop + 4) // 5):
        sid = f"st-bg-{story_no}"
        direction = _unit(rng)
        day = START + timedelta(days=rng.uniform(0, SPAN_DAYS))
        members = []
        for k in range(5):
            n = story_no * 5 + k
            if n < start or n >= stop:
                continue
            src = base[n % len(base)]
            published = day + timedelta(hours=rng.uniform(0, 72))
            members.append(
                {
                    **src,
                    "doc_id": f"bg-{n // len(base)}-{n % len(base)}",
                    "published_at": published.isoformat(),
                    "outlet": f"outlet-{rng.randrange(40)}",
                    "story_id": sid,
                    "story_score": 1.0,
                    "embedding": _unit(rng, direction, 0.05),
                }
            )
        if not members:
            continue
        articles.extend(members)
        stories.append(
            {
                "story_id": sid,
                "status": "active",
                "headline": members[0]["title"],
                "key_terms": [],
                "entities": [],
                "first_seen": members[0]["published_at"],
                "last_seen": members[-1]["published_at"],
                "article_count": len(members),
                "article_ids": [m["doc_id"] for m in members],
                "outlets": sorted({m["outlet"] for m in members}),
                "languages": ["en"],
                "centroid": direction,
                "grouping_state": {"entity_counts": {}, "vectors": len(members)},
            }
        )
    return articles, stories


def bulk(es: Elasticsearch, alias: str, docs: Sequence[dict[str, Any]], id_field: str) -> None:
    actions = ({"_index": alias, "_id": d[id_field], "_source": d} for d in docs)
    for ok, item in helpers.streaming_bulk(es, actions, chunk_size=500, max_retries=3, raise_on_error=False):
        if not ok:
            raise RuntimeError(f"bulk failed: {item}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--probe", type=int, default=50, help="articles grouped (and timed) per level")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    es = Elasticsearch(args.es_url, request_timeout=120)
    prefix = f"eval-bench-{uuid.uuid4().hex[:8]}"
    opts = IndexOptions(articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories")
    create_indices(es, opts)
    summary: dict[str, str] = {}
    try:
        base = corpus()
        rng = random.Random(7)
        probes = []
        for i in range(args.probe):
            src = base[rng.randrange(len(base))]
            probes.append(
                {
                    **src,
                    "doc_id": f"probe-{i}",
                    "published_at": (START + timedelta(days=rng.uniform(30, SPAN_DAYS - 30))).isoformat(),
                    "embedding": _unit(rng),
                }
            )
        indexed = 0
        for size in sizes:
            t0 = time.perf_counter()
            es.indices.put_settings(index=opts.articles_alias, settings={"refresh_interval": "-1"})
            articles, stories = background(base, indexed, size, seed=size)
            bulk(es, opts.articles_alias, articles, "doc_id")
            bulk(es, opts.stories_alias, stories, "story_id")
            es.indices.put_settings(index=opts.articles_alias, settings={"refresh_interval": "1s"})
            es.indices.refresh(index=[opts.articles_alias, opts.stories_alias])
            indexed = size
            load = time.perf_counter() - t0
            bulk(es, opts.articles_alias, probes, "doc_id")
            es.indices.refresh(index=opts.articles_alias)
            # the probes carry embeddings already, so no model is loaded: latency is ES + scoring only
            grouper = StoryGrouper(es, replace(StoryOptions(), use_embeddings=True), opts, embedder=None)
            result = grouper.assign_pending()
            lat = sorted(grouper.stats.latencies)
            med = statistics.median(lat) * 1000
            p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))] * 1000
            qpa = grouper.stats.queries / max(len(result), 1)
            joined = sum(1 for a in result if not a.created)
            print(
                f"{size:>7} indexed (load {load:.0f}s): {len(result)} probes, latency median {med:.1f} ms, "
                f"p95 {p95:.1f} ms, ES requests/article {qpa:.2f} (incl. the pending scan), joined {joined}"
            )
            label = f"{size // 1000}k"
            summary[f"median_ms_{label}"] = f"{med:.1f}"
            summary[f"p95_ms_{label}"] = f"{p95:.1f}"
            summary[f"queries_per_article_{label}"] = f"{qpa:.2f}"
            # remove the probes and the stories they created so the next level measures the same thing
            # (no delete_by_query in the integ-test distribution: bulk deletes by id)
            deletes = [{"_op_type": "delete", "_index": opts.articles_alias, "_id": p["doc_id"]} for p in probes]
            deletes += [
                {"_op_type": "delete", "_index": opts.stories_alias, "_id": a.story_id} for a in result if a.created
            ]
            helpers.bulk(es, deletes, raise_on_error=False, refresh=True)
    finally:
        drop_indices(es, opts)
        es.close()
    summary["probes"] = str(args.probe)
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
