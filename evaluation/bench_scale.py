"""Scale benchmarks of the processing stage, on real pages of ``../shared/eval`` (read in place):

* ``replay``: a day of archive (5,000 page captures written into a fresh WARC archive: the 439 real pages
  under distinct URLs, their canonical links neutralised so that each capture is its own article) re-derived
  by ``news-ingest replay`` into throwaway indices;
* ``rss``: worker memory over 10,000 derived pages (the extraction pool only), sampled from ``/proc``: the
  median RSS of the live workers in the first and the last thousand pages, with the default worker recycling
  and, for comparison, without it;
* ``bulk``: Elasticsearch bulk throughput by chunk size (100, 200, 400, ... until it stops improving);
* ``growth``: indexing throughput (dedup + merge + bulk upsert, the pipeline's own path) of 1,000 new
  articles into an index already holding 1k, 10k and 100k articles.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing.forkserver
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from evaluation import shared_dir
from evaluation.bench_pipeline import BenchPage, load_pages
from ingest import indexing
from ingest.archive import Archive
from ingest.config import IndexOptions, PipelineOptions
from ingest.documents import Origin
from ingest.fetching import Response
from ingest.pipeline.reports import BatchReport
from ingest.pipeline.workers import DerivePool, Page

logger = logging.getLogger(__name__)
DAY = datetime(2026, 11, 2, tzinfo=UTC)


def _neutral(html: bytes) -> bytes:
    """Without canonical/og:url hints every served URL is its own article."""
    return html.replace(b"canonical", b"noncanonical").replace(b"og:url", b"og:xurl")


def _options(work: Path, es_url: str, prefix: str, **process: Any) -> PipelineOptions:
    base = PipelineOptions.from_env()
    return replace(
        base,
        state=replace(base.state, path=work / "state.sqlite"),
        archive=replace(base.archive, root=str(work / "archive")),
        process=replace(base.process, **process),
        index=IndexOptions(es_url=es_url, articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories"),
    )


def _responses(pages: list[BenchPage], count: int) -> Iterator[tuple[Response, Origin]]:
    for n in range(count):
        page = pages[n % len(pages)]
        url = f"http://127.0.0.1:9/day/{n}{page.path}"
        origin = Origin(feed="bench", outlet="Bench", language="en", country="US", entry_url=url)
        fetched = DAY + timedelta(seconds=n * 86_400 / count)
        response = Response(
            url=url,
            final_url=url,
            status=200,
            headers={"content-type": "text/html"},
            content=_neutral(page.html),
            fetched_at=fetched,
            kind="page",
        )
        yield response, origin


def replay_day(pages: list[BenchPage], es: Elasticsearch, es_url: str, captures: int = 5000) -> dict[str, float]:
    from ingest import pipeline

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        options = _options(Path(tmp), es_url, f"bench-{uuid.uuid4().hex[:8]}")
        with Archive(options.archive) as archive:
            for response, origin in _responses(pages, captures):
                archive.write(
                    url=response.url,
                    final_url=response.final_url,
                    kind="page",
                    request_headers={},
                    status=200,
                    response_headers=response.headers,
                    body=response.content,
                    fetched_at=response.fetched_at,
                    metadata=origin.as_metadata(),
                )
        indexing.create_indices(es, options.index)
        try:
            started = time.perf_counter()
            summary = pipeline.replay(DAY, DAY + timedelta(days=1), es, options, stories=False)
            seconds = time.perf_counter() - started
        finally:
            indexing.drop_indices(es, options.index)
    return {
        "captures": captures,
        "seconds": seconds,
        "pages_s": captures / seconds,
        "created": summary.get("created", 0),
        "skipped": sum((summary.get("skipped") or {}).values()),
    }


def _worker_rss_kb() -> list[int]:
    """RSS of the derivation workers (children of this process's forkserver)."""
    server = getattr(multiprocessing.forkserver._forkserver, "_forkserver_pid", None)
    if not server:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(server) and "VmRSS" in fields:
            out.append(int(fields["VmRSS"].split()[0]))
    return out


def worker_rss(pages: list[BenchPage], total: int = 10_000, *, recycle: int = 500) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        options = _options(Path(tmp), "http://127.0.0.1:9", "unused", max_pages_per_worker=recycle)
        samples: list[tuple[int, list[int]]] = []
        started = time.perf_counter()
        with DerivePool(options) as pool:
            items = ((n, Page(r, o)) for n, (r, o) in enumerate(_responses(pages, total)))
            for done, _result in enumerate(pool.derive(items), start=1):
                if done % 100 == 0:
                    samples.append((done, _worker_rss_kb()))
        seconds = time.perf_counter() - started
    early = [kb for n, rss in samples if 100 < n <= 1100 for kb in rss]
    late = [kb for n, rss in samples if n > total - 1000 for kb in rss]
    first, last = statistics.median(early), statistics.median(late)
    return {
        "pages": total,
        "recycle": recycle,
        "seconds": seconds,
        "rss_first_mb": first / 1024,
        "rss_last_mb": last / 1024,
        "growth": last / first - 1,
        "rss_max_mb": max(max(rss, default=0) for _, rss in samples) / 1024,
    }


def _docs(pages: list[BenchPage], count: int, tag: str) -> list[dict[str, Any]]:
    """``count`` article documents built by the real derivation path (the pages extracted once)."""
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
        options = _options(Path(tmp), "http://127.0.0.1:9", "unused")
        with DerivePool(options) as pool:
            items = ((n, Page(r, o)) for n, (r, o) in enumerate(_responses(pages, len(pages))))
            built = [r.doc for r in pool.derive(items) if r.doc is not None]
    out = []
    for n in range(count):
        doc = dict(built[n % len(built)])
        doc["doc_id"] = f"{tag}-{n}"
        doc["url"] = doc["canonical_url"] = f"http://127.0.0.1:9/{tag}/{n}"
        doc["source_urls"] = [doc["url"]]
        out.append(doc)
    return out


def bulk_chunks(pages: list[BenchPage], es: Elasticsearch, es_url: str, docs: int = 4000) -> dict[int, float]:
    """Docs/s by chunk size, doubling from 100 while it improves by more than 5 %."""
    batch = _docs(pages, docs, "bulk")
    results: dict[int, float] = {}
    size = 100
    while size <= 3200:
        options = IndexOptions(es_url=es_url, articles_alias=f"bench-{uuid.uuid4().hex[:8]}-articles", chunk_size=size)
        options = replace(options, stories_alias=options.articles_alias.replace("-articles", "-stories"))
        indexing.create_indices(es, options)
        try:
            started = time.perf_counter()
            indexing.bulk_upsert(es, options.articles_alias, batch, options)
            results[size] = docs / (time.perf_counter() - started)
        finally:
            indexing.drop_indices(es, options)
        if len(results) >= 2 and results[size] < 1.05 * results[size // 2]:
            break
        size *= 2
    return results


def growth(pages: list[BenchPage], es: Elasticsearch, es_url: str, levels: list[int]) -> dict[int, float]:
    """Articles/s of the pipeline's indexing step for 1,000 new articles at each index size."""
    from ingest.pipeline.derive import _index

    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        options = _options(Path(tmp), es_url, f"bench-{uuid.uuid4().hex[:8]}")
        indexing.create_indices(es, options.index)
        loaded = 0
        results: dict[int, float] = {}
        try:
            for level in levels:
                if level > loaded:
                    for start in range(loaded, level, 5000):
                        chunk = _docs(pages, min(5000, level - start), f"bg{start}")
                        indexing.bulk_upsert(es, options.index.articles_alias, chunk, options.index)
                    loaded = level
                    indexing.refresh(es, options.index.articles_alias)
                probe = _docs(pages, 1000, f"probe{level}")
                started = time.perf_counter()
                _index(probe, es, options, BatchReport(stage="process"))
                results[level] = len(probe) / (time.perf_counter() - started)
                # no _delete_by_query in the minimal distribution: delete the probes by id
                operations = [{"delete": {"_index": options.index.articles_alias, "_id": d["doc_id"]}} for d in probe]
                es.bulk(operations=operations, refresh=True)
        finally:
            indexing.drop_indices(es, options.index)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--only", choices=["replay", "rss", "bulk", "growth"], action="append")
    parser.add_argument("--levels", default="1000,10000,100000")
    parser.add_argument("--captures", type=int, default=5000)
    parser.add_argument("--rss-pages", type=int, default=10_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    root = shared_dir() / "eval"
    if not root.is_dir():
        print(f"evaluation data not found under {root} (set NEWS_SHARED_DIR)")
        return 2
    pages = load_pages(root)
    es = Elasticsearch(args.es_url, request_timeout=120)
    wanted = set(args.only or ["replay", "rss", "bulk", "growth"])
    line: dict[str, str] = {}
    if "replay" in wanted:
        r = replay_day(pages, es, args.es_url, args.captures)
        print(
            f"replay: {r['captures']} captures in {r['seconds']:.1f}s ({r['pages_s']:.1f} pages/s), "
            f"{r['created']} articles, {r['skipped']} skipped"
        )
        line["replay_5000_s"] = f"{r['seconds']:.1f}"
    if "rss" in wanted:
        for recycle in (500, 0):
            m = worker_rss(pages, args.rss_pages, recycle=recycle)
            print(
                f"worker RSS over {m['pages']} pages (recycle every {recycle or 'never'}): "
                f"{m['rss_first_mb']:.0f} MB -> {m['rss_last_mb']:.0f} MB ({m['growth']:+.1%}), "
                f"max {m['rss_max_mb']:.0f} MB, {m['seconds']:.0f}s"
            )
            if recycle:
                line["rss_growth_10k"] = f"{m['growth']:.3f}"
    if "bulk" in wanted:
        chunks = bulk_chunks(pages, es, args.es_url)
        print("bulk docs/s by chunk size: " + ", ".join(f"{k}: {v:.0f}" for k, v in chunks.items()))
        line["bulk_best_chunk"] = str(max(chunks, key=lambda k: chunks[k]))
    if "growth" in wanted:
        levels = [int(x) for x in args.levels.split(",") if x]
        rates = growth(pages, es, args.es_url, levels)
        print("indexing articles/s at index size: " + ", ".join(f"{k}: {v:.0f}" for k, v in rates.items()))
        line.update({f"index_docs_s_{k // 1000}k": f"{v:.0f}" for k, v in rates.items()})
    print(" ".join(f"{k}={v}" for k, v in line.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
