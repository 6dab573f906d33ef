"""Whole-pipeline throughput against bare trafilatura, on the same real pages in the same run.

The 439 real article pages of ``../shared/eval`` (scrapinghub benchmark + fundus test data) are served from
memory on 127.0.0.1 behind one RSS feed. Measured, one after the other:

* **bare**: ``trafilatura.extract(html)`` with default options on one core (the reference speed);
* **pipeline**: ``news-ingest run`` as the CLI runs it (poll, fetch, archive, extract in the worker pool, tag,
  dedup, index, then story grouping) into throwaway indices, politeness delays off, defaults otherwise.

``overhead_ratio`` = pipeline articles/s ÷ bare pages/s. ``extraction_f1`` / ``bare_trafilatura_f1`` are the
scrapinghub body F1 (its own 4-gram shingle metric) of the indexed documents and of bare trafilatura's output.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from evaluation import shared_dir
from evaluation.extraction import benchmark_metrics, shingle_scores
from evaluation.pageserver import PageServer, Resource, rss
from ingest import indexing
from ingest.config import IndexOptions, PipelineOptions
from ingest.urls import normalize_url

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchPage:
    path: str
    html: bytes
    gold_body: str | None  # scrapinghub pages only


def load_pages(root: Path) -> list[BenchPage]:
    """The scrapinghub and fundus pages, decompressed in memory."""
    pages: list[BenchPage] = []
    sh = root / "scrapinghub-article-extraction-benchmark"
    truth: dict[str, dict[str, Any]] = json.loads((sh / "ground-truth.json").read_text("utf-8"))
    for key, gold in sorted(truth.items()):
        html = gzip.decompress((sh / "html" / f"{key}.html.gz").read_bytes())
        pages.append(BenchPage(f"/sh/{key}.html", html, str(gold.get("articleBody") or "")))
    fu = root / "fundus-parser-testdata"
    for n, line in enumerate((fu / "manifest.jsonl").read_text("utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            pages.append(BenchPage(f"/fu/{n}.html", gzip.decompress((fu / row["html"]).read_bytes()), None))
    return pages


def bare_trafilatura(pages: list[BenchPage]) -> dict[str, float]:
    """Default ``trafilatura.extract`` on one core: pages/s and the scrapinghub body F1."""
    import trafilatura

    texts = [p.html.decode("utf-8", "replace") for p in pages]
    trafilatura.extract(texts[0])  # warm caches and lazy imports outside the timing
    started = time.perf_counter()
    outputs = [trafilatura.extract(text) or "" for text in texts]
    seconds = time.perf_counter() - started
    scores = [
        shingle_scores(p.gold_body, out) for p, out in zip(pages, outputs, strict=True) if p.gold_body is not None
    ]
    return {"pages_s": len(pages) / seconds, "seconds": seconds, "f1": benchmark_metrics(scores)["f1"]}


def pipeline_options(work: Path, feeds_file: Path, es_url: str, prefix: str) -> PipelineOptions:
    base = PipelineOptions.from_env()
    return replace(
        base,
        # one feed lists every page (the default cap of 300 entries per feed document would cut it)
        feeds=replace(base.feeds, feeds_file=feeds_file, max_entries_per_feed=1000),
        fetch=replace(base.fetch, allow_hosts=("127.0.0.1",), per_host_delay=0.0),
        state=replace(base.state, path=work / "state.sqlite"),
        archive=replace(base.archive, root=str(work / "archive")),
        index=IndexOptions(es_url=es_url, articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories"),
    )


def run_pipeline(pages: list[BenchPage], es: Elasticsearch, es_url: str, *, stories: bool = True) -> dict[str, Any]:
    """One ``news-ingest run`` over the pages; articles/s, per-stage seconds and the indexed bodies' F1."""
    from ingest import pipeline

    resources = {p.path: Resource(p.html, "text/html") for p in pages}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, PageServer(resources) as server:
        work = Path(tmp)
        server.add(
            "/feed.xml", Resource(rss("bench", [(p.path, server.url(p.path)) for p in pages]), "application/rss+xml")
        )
        feeds_file = work / "feeds.toml"
        feeds_file.write_text(
            f'[[feed]]\nname = "bench"\nurl = "{server.url("/feed.xml")}"\nlanguage = "en"\ncountry = "US"\n'
            'publisher = "Bench"\n',
            "utf-8",
        )
        options = pipeline_options(work, feeds_file, es_url, f"bench-{uuid.uuid4().hex[:8]}")
        indexing.create_indices(es, options.index)
        try:
            stage: dict[str, float] = {}
            started = time.perf_counter()
            captured = [pipeline.capture_batch(spec, options) for spec in pipeline.plan_capture(options)]
            stage["capture_s"] = time.perf_counter() - started
            mark = time.perf_counter()
            processed = [pipeline.process_batch(spec, es, options) for spec in pipeline.pending_specs(options)]
            stage["process_s"] = time.perf_counter() - mark
            mark, cpu = time.perf_counter(), time.process_time()
            grouped = pipeline.group_stories(es, options) if stories else {}
            stage["group_s"] = time.perf_counter() - mark
            stage["group_cpu_s"] = time.process_time() - cpu  # this process: grouping and the embedding engine
            seconds = time.perf_counter() - started
            summary = pipeline.summarize(captured + processed, grouped)
            bodies = _indexed_bodies(es, options, server.base_url)
        finally:
            indexing.drop_indices(es, options.index)
    articles = int(summary.get("created", 0))
    scores = [shingle_scores(p.gold_body, bodies.get(p.path, "")) for p in pages if p.gold_body is not None]
    return {
        "articles": articles,
        "seconds": seconds,
        "articles_s": articles / seconds if seconds else 0.0,
        "f1": benchmark_metrics(scores)["f1"],
        "skipped": summary.get("skipped", {}),
        "stories": grouped,
        **stage,
    }


def _indexed_bodies(es: Elasticsearch, options: PipelineOptions, base_url: str) -> dict[str, str]:
    """Served path -> indexed body (documents are keyed by canonical URL; ``source_urls`` has the served one)."""
    indexing.refresh(es, options.index.articles_alias)
    out: dict[str, str] = {}
    prefix = normalize_url(base_url + "/")
    resp = es.search(index=options.index.articles_alias, size=2000, source_includes=["body", "source_urls"])
    for hit in resp["hits"]["hits"]:
        for url in hit["_source"].get("source_urls") or []:
            if url.startswith(prefix.rstrip("/")):
                out["/" + url.split("/", 3)[3]] = hit["_source"].get("body") or ""
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench_pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--no-stories", action="store_true", help="leave story grouping out of the pipeline run")
    parser.add_argument("--limit", type=int, default=0, help="only the first N pages (a quick look)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = shared_dir() / "eval"
    if not root.is_dir():
        print(f"evaluation data not found under {root} (set NEWS_SHARED_DIR)")
        return 2
    pages = load_pages(root)[: args.limit or None]
    es = Elasticsearch(args.es_url, request_timeout=60)
    bare = bare_trafilatura(pages)
    print(f"bare trafilatura: {len(pages)} pages in {bare['seconds']:.1f}s = {bare['pages_s']:.1f} pages/s (1 core)")
    run = run_pipeline(pages, es, args.es_url, stories=not args.no_stories)
    print(
        f"pipeline: {run['articles']} articles in {run['seconds']:.1f}s = {run['articles_s']:.1f} articles/s "
        f"(capture {run['capture_s']:.1f}s, process {run['process_s']:.1f}s, group {run['group_s']:.1f}s; "
        f"{os.cpu_count()} cores); skipped {run['skipped']}"
    )
    if run["stories"]:
        g = run["stories"]
        print(
            f"grouping: {g.get('assigned')} assigned, {g.get('new_stories')} stories, {g.get('embedded')} embedded, "
            f"{g.get('es_requests')} ES requests, {g.get('articles_per_s', 0):.1f} articles/s, "
            f"{run['group_cpu_s']:.1f} CPU s (this process)"
        )
    ratio = run["articles_s"] / bare["pages_s"]
    print(f"overhead_ratio={ratio:.3f} extraction_f1={run['f1']:.3f} bare_trafilatura_f1={bare['f1']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
