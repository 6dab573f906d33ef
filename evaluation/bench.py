"""``make bench``: the project's benchmarks one after another, on this machine, ending with one line::

    overhead_ratio=R overhead_ratio_dags_4=R extraction_f1=R bare_trafilatura_f1=R cpu_ms_article=R
    poll_500_unchanged_s=S rss_growth_10k=R grouping_docs_s=R ...

(one line, wrapped here) followed by the other figures (replay, bulk chunk, indexing and grouping at 1k/10k/100k).
Each part is its own module with its own entry point and docstring:

* :mod:`evaluation.bench_pipeline`: whole pipeline vs bare trafilatura on the 439 real pages, and body F1: once
  as ``news-ingest run`` (the stages one after the other), once as the three DAGs run it (4 polls of a growing
  feed, stages overlapping, every task in a process of its own);
* :mod:`evaluation.bench_poll`: 500 unchanged feeds polled (all conditional, nothing refetched);
* :mod:`evaluation.bench_scale`: worker RSS over 10,000 pages, a day of archive (5,000 captures) re-derived,
  bulk chunk sizes, indexing at 1k/10k/100k indexed articles;
* :mod:`evaluation.bench_grouping`: grouping throughput and p95 latency at 1k/10k/100k indexed articles.

``--quick`` runs smaller sizes (a few minutes) for development; the README's figures come from a full run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from elasticsearch import Elasticsearch

from evaluation import bench_grouping, bench_pipeline, bench_poll, bench_scale, shared_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--quick", action="store_true", help="smaller sizes: 1k/10k, 2,000 pages, 1,000 captures")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    root = shared_dir() / "eval"
    if not root.is_dir():
        print(f"evaluation data not found under {root} (set NEWS_SHARED_DIR)")
        return 2
    es = Elasticsearch(args.es_url, request_timeout=300)
    sizes = [1000, 10_000] if args.quick else [1000, 10_000, 100_000]
    started = time.perf_counter()
    pages = bench_pipeline.load_pages(root)
    line: dict[str, str] = {}

    bare = bench_pipeline.bare_trafilatura(pages)
    run = bench_pipeline.run_pipeline(pages, es, args.es_url, stories=True)
    ratio = run["articles_s"] / bare["pages_s"]
    without = run["articles"] / (run["capture_s"] + run["process_s"]) / bare["pages_s"]
    print(
        f"bare trafilatura: {bare['pages_s']:.1f} pages/s on one core, {bare['cpu_ms']:.1f} CPU ms/page\n"
        f"{bench_pipeline.describe(run)}\nratio {ratio:.3f} ({without:.3f} without story grouping)",
        flush=True,
    )
    rounds = bench_pipeline.DAG_ROUNDS
    dags = bench_pipeline.run_pipeline(pages, es, args.es_url, stories=True, rounds=rounds)
    dags_ratio = dags["articles_s"] / bare["pages_s"]
    print(f"{bench_pipeline.describe(dags)}\nratio {dags_ratio:.3f} (the DAGs' way)", flush=True)
    line |= {
        "overhead_ratio": f"{ratio:.3f}",
        f"overhead_ratio_dags_{rounds}": f"{dags_ratio:.3f}",
        "extraction_f1": f"{run['f1']:.3f}",
        "bare_trafilatura_f1": f"{bare['f1']:.3f}",
        "cpu_ms_article": f"{1000 * run['cpu_s'] / max(1, run['articles']):.1f}",
    }

    poll = bench_poll.measure(500)
    print(
        f"poll: 500 unchanged feeds in {poll['unchanged_s']:.1f}s, {poll['not_modified']:.0f}/{poll['requests']:.0f} "
        f"answered 304, {poll['pages_refetched']:.0f} pages refetched",
        flush=True,
    )
    line["poll_500_unchanged_s"] = f"{poll['unchanged_s']:.2f}"

    rss = bench_scale.worker_rss(pages, 2000 if args.quick else 10_000)
    print(
        f"worker RSS over {rss['pages']} pages: {rss['rss_first_mb']:.0f} -> {rss['rss_last_mb']:.0f} MB "
        f"({rss['growth']:+.1%}; max {rss['rss_max_mb']:.0f} MB; recycled every {rss['recycle']} pages)",
        flush=True,
    )
    line["rss_growth_10k"] = f"{rss['growth']:.3f}"

    grouping = bench_grouping.measure(args.es_url, sizes, 500, False)
    largest = max(sizes) // 1000
    print("grouping: " + " ".join(f"{k}={v:.1f}" for k, v in grouping.items()), flush=True)
    line["grouping_docs_s"] = f"{grouping[f'articles_s_{largest}k']:.1f}"
    line[f"grouping_p95_ms_{largest}k"] = f"{grouping.get(f'p95_ms_{largest}k', 0.0):.1f}"

    replay = bench_scale.replay_day(pages, es, args.es_url, 1000 if args.quick else 5000)
    print(f"replay: {replay['captures']} captures re-derived in {replay['seconds']:.1f}s", flush=True)
    line[f"replay_{replay['captures']}_s"] = f"{replay['seconds']:.1f}"

    chunks = bench_scale.bulk_chunks(pages, es, args.es_url)
    print("bulk docs/s by chunk size: " + ", ".join(f"{k}: {v:.0f}" for k, v in chunks.items()), flush=True)
    line["bulk_best_chunk"] = str(max(chunks, key=lambda k: chunks[k]))

    rates = bench_scale.growth(pages, es, args.es_url, sizes)
    print("indexing articles/s at index size: " + ", ".join(f"{k}: {v:.0f}" for k, v in rates.items()), flush=True)
    line |= {f"index_docs_s_{k // 1000}k": f"{v:.0f}" for k, v in rates.items()}

    print(f"bench took {time.perf_counter() - started:.0f}s")
    print(" ".join(f"{k}={v}" for k, v in line.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
