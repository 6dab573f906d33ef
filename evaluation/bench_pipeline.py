"""Whole-pipeline throughput against bare trafilatura, on the same real pages in the same run.

The 439 real article pages of ``../shared/eval`` (scrapinghub benchmark + fundus test data) are served from
memory on 127.0.0.1 behind one RSS feed. Measured, one after the other:

* **bare**: ``trafilatura.extract(html)`` with default options on one core (the reference speed);
* **pipeline** (``--rounds 1``, the default): ``news-ingest run`` as the CLI runs it (poll, fetch, archive,
  extract in the worker pool, tag, dedup, index, then story grouping, one stage after the other) into throwaway
  indices, politeness delays off, defaults otherwise;
* **pipeline, the DAGs' way** (``--rounds N``, ``make bench`` uses :data:`DAG_ROUNDS`): the feed gains a
  N-th of the pages before each of N polls, and the poll, process and stories DAGs are played by three
  scheduler threads with one run each at a time, every task in a fresh process, so that their stages overlap
  across batches as they do in the deployment (:func:`_staged` says exactly what runs).

``overhead_ratio`` = pipeline articles/s ÷ bare pages/s. ``extraction_f1`` / ``bare_trafilatura_f1`` are the
scrapinghub body F1 (its own 4-gram shingle metric) of the indexed documents and of bare trafilatura's output.
CPU per article (this process and its descendants; Elasticsearch's separately) does not depend on the machine's
load the way articles/s does.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import multiprocessing
import os
import queue
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil
from elasticsearch import Elasticsearch

from evaluation import scrapinghub_pages, shared_dir
from evaluation.extraction import benchmark_metrics, shingle_scores
from evaluation.pageserver import PageServer, Resource, rss
from ingest import indexing
from ingest.config import IndexOptions, PipelineOptions
from ingest.urls import normalize_url

logger = logging.getLogger(__name__)

#: Polls of the growing feed in the DAG-shaped run (``--rounds``).
DAG_ROUNDS = 4


@dataclass(frozen=True)
class BenchPage:
    path: str
    html: bytes
    gold_body: str | None  # scrapinghub pages only
    #: where the page was published (fundus pages only; the bench serves every page at ``path``)
    source_url: str | None = None


def load_pages(root: Path) -> list[BenchPage]:
    """The scrapinghub and fundus pages, decompressed in memory."""
    pages: list[BenchPage] = []
    for page in scrapinghub_pages(root / "scrapinghub-article-extraction-benchmark"):
        pages.append(BenchPage(f"/sh/{page.key}.html", page.html, page.gold_body))
    fu = root / "fundus-parser-testdata"
    for n, line in enumerate((fu / "manifest.jsonl").read_text("utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            html = gzip.decompress((fu / row["html"]).read_bytes())
            pages.append(BenchPage(f"/fu/{n}.html", html, None, str(row["url"])))
    return pages


def bare_trafilatura(pages: list[BenchPage]) -> dict[str, float]:
    """Default ``trafilatura.extract`` on one core: pages/s and the scrapinghub body F1."""
    import trafilatura

    texts = [p.html.decode("utf-8", "replace") for p in pages]
    trafilatura.extract(texts[0])  # warm caches and lazy imports outside the timing
    started, cpu = time.perf_counter(), time.process_time()
    outputs = [trafilatura.extract(text) or "" for text in texts]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    scores = [
        shingle_scores(p.gold_body, out) for p, out in zip(pages, outputs, strict=True) if p.gold_body is not None
    ]
    return {
        "pages_s": len(pages) / seconds,
        "seconds": seconds,
        "cpu_ms": 1000 * cpu / len(pages),
        "f1": benchmark_metrics(scores)["f1"],
    }


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


def run_pipeline(
    pages: list[BenchPage], es: Elasticsearch, es_url: str, *, stories: bool = True, rounds: int = 1
) -> dict[str, Any]:
    """The pipeline over the pages; articles/s, per-stage seconds, CPU seconds and the indexed bodies' F1.

    ``rounds=1``: ``news-ingest run`` (capture everything, then process, then group, one after the other).
    ``rounds>1``: the deployment's three DAGs, see :func:`_staged`.
    """
    from ingest import pipeline

    resources = {p.path: Resource(p.html, "text/html") for p in pages}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp, PageServer(resources) as server:
        work = Path(tmp)
        feeds_file = work / "feeds.toml"
        feeds_file.write_text(
            f'[[feed]]\nname = "bench"\nurl = "{server.url("/feed.xml")}"\nlanguage = "en"\ncountry = "US"\n'
            'publisher = "Bench"\n',
            "utf-8",
        )
        options = pipeline_options(work, feeds_file, es_url, f"bench-{uuid.uuid4().hex[:8]}")
        indexing.create_indices(es, options.index)
        es_cpu = _es_cpu_ms(es)
        try:
            stage: dict[str, float] = {}
            cpu, self_cpu = _own_cpu(server.pid), _self_cpu()
            started = time.perf_counter()
            if rounds > 1:
                reports, grouped, stage = _staged(pages, server, options, es_url, rounds=rounds, stories=stories)
            else:
                _publish_feed(server, pages)
                pipeline.start_forkserver()  # as news-ingest run does: the workers' start-up beside the capture
                captured = [pipeline.capture_batch(spec, options) for spec in pipeline.plan_capture(options)]
                stage["capture_s"] = time.perf_counter() - started
                mark = time.perf_counter()
                processed = [pipeline.process_batch(spec, es, options) for spec in pipeline.pending_specs(options)]
                stage["process_s"] = time.perf_counter() - mark
                mark, group_cpu = time.perf_counter(), time.process_time()
                grouped = pipeline.group_stories(es, options) if stories else {}
                stage["group_s"] = time.perf_counter() - mark
                stage["group_cpu_s"] = time.process_time() - group_cpu  # grouping and the embedding engine
                reports = captured + processed
            seconds = time.perf_counter() - started
            # staged: the task processes' own figures (this process has reaped them: its own count doubles them)
            if rounds > 1:
                stage["cpu_s"] = stage.pop("children_cpu_s")
            else:
                stage["cpu_s"] = _own_cpu(server.pid) - cpu
                # the forkserver (it imports trafilatura and builds the tagger) and the extraction workers
                stage["workers_cpu_s"] = stage["cpu_s"] - (_self_cpu() - self_cpu)
            stage["es_cpu_s"] = (_es_cpu_ms(es) - es_cpu) / 1000
            summary = pipeline.summarize(reports, grouped)
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
        "rounds": rounds,
        **stage,
    }


def _publish_feed(server: PageServer, pages: list[BenchPage]) -> None:
    """The feed lists ``pages`` (newest last, as the pages of a growing feed)."""
    server.add(
        "/feed.xml", Resource(rss("bench", [(p.path, server.url(p.path)) for p in pages]), "application/rss+xml")
    )


def _staged(
    pages: list[BenchPage],
    server: PageServer,
    options: PipelineOptions,
    es_url: str,
    *,
    rounds: int,
    stories: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, float]]:
    """The deployment's three DAGs on a feed that gains ``len(pages) / rounds`` new items before each poll.

    Three scheduler threads stand in for Airflow's scheduler, one per DAG, each with one run at a time
    (``max_active_runs=1``), and every task runs in a fresh process of its own, as Airflow runs tasks (so each
    processing task starts its own worker pool, and each grouping task loads its own embedding engine):

    * ``news_poll``: each round, one ``capture_batch`` task per spec of ``plan_capture``, rounds back to back
      (a poll that is always due: the backlog case); a round that captured something emits ``news_captures``;
    * ``news_process`` (triggered by ``news_captures``): the events that arrived while a run was busy start
      one run, which derives every pending batch (``pending_specs``, what ``plan_process_run`` plans for an
      asset-triggered run), one ``process_batch`` task at a time, then emits ``news_articles`` when it
      created or updated documents;
    * ``news_stories`` (triggered by ``news_articles``): one ``group_stories`` task.

    So capture of round k+1, processing of round k and grouping of round k-1 overlap, as the DAGs overlap
    them when every stage has work waiting. The library calls are the DAG tasks' (without their run-metrics
    documents in ``news-runs``).
    """
    from ingest import pipeline

    ctx = multiprocessing.get_context("spawn")
    captures: queue.Queue[list[str] | None] = queue.Queue()
    articles: queue.Queue[bool | None] = queue.Queue()
    out: dict[str, dict[str, Any]] = {k: {"reports": [], "busy_s": 0.0, "cpu_s": 0.0, "runs": 0} for k in _STAGES}
    errors: list[BaseException] = []

    def task(stage: str, fn: Any, *args: Any) -> Any:
        mark = time.perf_counter()
        value, cpu = _in_process(ctx, fn, *args)
        out[stage]["busy_s"] += time.perf_counter() - mark
        out[stage]["cpu_s"] += cpu
        out[stage]["reports"].append(value)
        return value

    def guarded(fn: Any) -> Any:
        def body() -> None:
            try:
                fn()
            except BaseException as exc:  # re-raised below; the downstream stages are released
                errors.append(exc)
                captures.put(None)
                articles.put(None)

        return body

    def poll() -> None:
        step = -(-len(pages) // rounds)
        for k in range(1, rounds + 1):
            _publish_feed(server, pages[: k * step])
            batch = [task("poll", _capture_task, spec, options) for spec in pipeline.plan_capture(options)]
            out["poll"]["runs"] += 1
            if any(r.get("captures") for r in batch):
                captures.put([r["batch_id"] for r in batch if r.get("captures")])
        captures.put(None)

    def process() -> None:
        ended = False
        while not ended:
            _, ended = _drain(captures)
            run = [task("process", _process_task, spec, options, es_url) for spec in pipeline.pending_specs(options)]
            out["process"]["runs"] += 1 if run else 0
            if stories and sum(r.get("created", 0) + r.get("updated", 0) for r in run):
                articles.put(True)
        articles.put(None)

    def group() -> None:
        while True:
            taken, ended = _drain(articles)
            if taken > 1 or not ended:
                task("stories", _stories_task, options, es_url)
                out["stories"]["runs"] += 1
            if ended:
                return

    threads = [threading.Thread(target=guarded(fn), name=f"dag-{fn.__name__}") for fn in (poll, process, group)]
    cpu = _self_cpu()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    grouped: dict[str, Any] = {}
    for result in out["stories"]["reports"]:
        for key, value in result.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                grouped[key] = grouped.get(key, 0) + value
    if out["stories"]["busy_s"]:
        grouped["articles_per_s"] = grouped.get("assigned", 0) / out["stories"]["busy_s"]
    stage = {
        "capture_s": out["poll"]["busy_s"],
        "process_s": out["process"]["busy_s"],
        "group_s": out["stories"]["busy_s"],
        "group_cpu_s": out["stories"]["cpu_s"],
        "capture_cpu_s": out["poll"]["cpu_s"],
        "process_cpu_s": out["process"]["cpu_s"],
        "poll_runs": float(out["poll"]["runs"]),
        "process_runs": float(out["process"]["runs"]),
        "group_runs": float(out["stories"]["runs"]),
        # the task processes' CPU, and this process's own (the scheduler threads and the page server)
        "children_cpu_s": sum(o["cpu_s"] for o in out.values()) + _self_cpu() - cpu,
    }
    return out["poll"]["reports"] + out["process"]["reports"], grouped, stage


_STAGES = ("poll", "process", "stories")


def _drain(events: queue.Queue[Any]) -> tuple[int, bool]:
    """Block for one event, then take every event already queued: (events taken, whether the stream ended)."""
    first = events.get()
    taken, ended = 1, first is None
    while True:
        try:
            item = events.get_nowait()
        except queue.Empty:
            return taken, ended
        taken += 1
        ended = ended or item is None


def _in_process(ctx: Any, fn: Any, *args: Any) -> tuple[Any, float]:
    """``fn(*args)`` in a fresh process (as Airflow runs a task): its value and the CPU seconds it took."""
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_task_main, args=(sender, fn, args))
    proc.start()
    sender.close()
    try:
        ok, value, cpu = receiver.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"{fn.__name__}: its task process died (exit code {proc.exitcode})") from None
    proc.join()
    if not ok:
        raise RuntimeError(f"{fn.__name__} failed in its task process: {value}")
    return value, cpu


def _task_main(sender: Any, fn: Any, args: tuple[Any, ...]) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        value = fn(*args)
    except BaseException as exc:
        sender.send((False, repr(exc), _own_cpu()))
        raise
    sender.send((True, value, _own_cpu()))


def _capture_task(spec: Any, options: PipelineOptions) -> dict[str, Any]:
    from ingest import pipeline

    return pipeline.capture_batch(spec, options)


def _process_task(spec: Any, options: PipelineOptions, es_url: str) -> dict[str, Any]:
    from ingest import pipeline

    return pipeline.process_batch(spec, Elasticsearch(es_url, request_timeout=60), options)


def _stories_task(options: PipelineOptions, es_url: str) -> dict[str, Any]:
    from ingest import pipeline

    return pipeline.group_stories(Elasticsearch(es_url, request_timeout=60), options)


def _self_cpu() -> float:
    """CPU seconds of this process alone (all its threads)."""
    return float(sum(psutil.Process().cpu_times()[:2]))


def _own_cpu(exclude: int | None = None) -> float:
    """CPU seconds of this process, its reaped children and its live descendants (with what they reaped: the
    forkserver reaps the extraction workers), less the live process ``exclude`` (the page server)."""
    me = psutil.Process()
    total = float(sum(me.cpu_times()[:4]))
    for child in me.children(recursive=True):
        if child.pid == exclude:
            continue
        try:
            total += sum(child.cpu_times()[:4])
        except psutil.Error:
            continue
    return total


def _es_cpu_ms(es: Elasticsearch) -> float:
    """Elasticsearch's process CPU so far (the node is shared: an upper bound of what this run cost it)."""
    try:
        stats = es.nodes.stats(metric="process")
        return float(sum(n["process"]["cpu"]["total_in_millis"] for n in stats["nodes"].values()))
    except Exception:  # an evaluation figure, not worth failing the benchmark for
        return 0.0


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
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="1 (default): news-ingest run (capture, process, group one after the other); N > 1: N polls of a "
        f"growing feed, run as the three DAGs run them, overlapping (make bench: {DAG_ROUNDS})",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    root = shared_dir() / "eval"
    if not root.is_dir():
        print(f"evaluation data not found under {root} (set NEWS_SHARED_DIR)")
        return 2
    pages = load_pages(root)[: args.limit or None]
    es = Elasticsearch(args.es_url, request_timeout=60)
    bare = bare_trafilatura(pages)
    print(
        f"bare trafilatura: {len(pages)} pages in {bare['seconds']:.1f}s = {bare['pages_s']:.1f} pages/s (1 core), "
        f"{bare['cpu_ms']:.1f} CPU ms/page"
    )
    run = run_pipeline(pages, es, args.es_url, stories=not args.no_stories, rounds=args.rounds)
    print(describe(run))
    ratio = run["articles_s"] / bare["pages_s"]
    print(f"overhead_ratio={ratio:.3f} extraction_f1={run['f1']:.3f} bare_trafilatura_f1={bare['f1']:.3f}")
    return 0


def describe(run: dict[str, Any]) -> str:
    """The run in a few lines: wall time per stage (busy time when they overlap), CPU per article, grouping."""
    n = max(1, run["articles"])
    how = (
        "capture, process, group one after the other (news-ingest run)"
        if run["rounds"] == 1
        else f"{run['rounds']} polls, {run.get('process_runs', 0):.0f} processing and "
        f"{run.get('group_runs', 0):.0f} grouping runs overlapping as the DAGs run them; stage times are busy times"
    )
    lines = [
        f"pipeline: {run['articles']} articles in {run['seconds']:.1f}s = {run['articles_s']:.1f} articles/s "
        f"(capture {run['capture_s']:.1f}s, process {run['process_s']:.1f}s, group {run['group_s']:.1f}s; {how}; "
        f"{os.cpu_count()} cores); skipped {run['skipped']}",
        f"CPU: {1000 * run['cpu_s'] / n:.1f} ms/article in the pipeline's processes "
        f"(+ {1000 * run['es_cpu_s'] / n:.1f} ms/article in Elasticsearch, a shared node: an upper bound)",
    ]
    if run["rounds"] == 1:
        lines.append(
            f"  of which {1000 * run['workers_cpu_s'] / n:.1f} ms/article in the extraction workers and their "
            f"forkserver, {1000 * run['group_cpu_s'] / n:.1f} grouping, the rest capture and the processing parent"
        )
    else:
        lines.append(
            f"  by task: capture {1000 * run['capture_cpu_s'] / n:.1f}, process {1000 * run['process_cpu_s'] / n:.1f}, "
            f"group {1000 * run['group_cpu_s'] / n:.1f} ms/article (each task in a fresh process, as Airflow runs it)"
        )
    if run["stories"]:
        g = run["stories"]
        lines.append(
            f"grouping: {g.get('assigned')} assigned, {g.get('new_stories')} stories, {g.get('embedded')} embedded, "
            f"{g.get('es_requests')} ES requests, {g.get('articles_per_s', 0):.1f} articles/s, "
            f"{run['group_cpu_s']:.1f} CPU s"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
