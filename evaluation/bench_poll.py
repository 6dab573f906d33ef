"""Polling 500 unchanged feeds: how long a capture takes when nothing changed, and that it stays conditional.

500 feeds of 3 items each are served from 127.0.0.1 (ETag/304). A first capture fetches every feed and page; a
second one, a day later (so every feed is due again), must answer from validators alone: every feed request
conditional and answered 304, no page fetched. ``poll_500_unchanged_s`` is the second capture's wall time.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evaluation.pageserver import PageServer, Resource, rss
from ingest.config import PipelineOptions


def _page(n: int) -> bytes:
    words = " ".join(f"word{(n * 7 + i) % 997}" for i in range(120))
    return (
        f"<html><head><title>Article {n}</title></head><body><article><p>{words}</p></article></body></html>".encode()
    )


def measure(feeds: int = 500, items: int = 3) -> dict[str, float]:
    from ingest import pipeline

    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp, PageServer({}) as server:
        work = Path(tmp)
        lines = []
        for f in range(feeds):
            links = [(f"item {f}.{i}", server.url(f"/a/{f}-{i}.html")) for i in range(items)]
            for i in range(items):
                server.add(f"/a/{f}-{i}.html", Resource(_page(f * items + i), "text/html; charset=utf-8"))
            server.add(f"/feed/{f}.xml", Resource(rss(f"feed {f}", links), "application/rss+xml"))
            lines.append(
                f'[[feed]]\nname = "feed-{f}"\nurl = "{server.url(f"/feed/{f}.xml")}"\nlanguage = "en"\n'
                'country = "US"\npublisher = "Bench"\n'
            )
        (work / "feeds.toml").write_text("\n".join(lines), "utf-8")
        base = PipelineOptions.from_env()
        options = replace(
            base,
            feeds=replace(base.feeds, feeds_file=work / "feeds.toml"),
            fetch=replace(base.fetch, allow_hosts=("127.0.0.1",), per_host_delay=0.0, respect_robots=False),
            state=replace(base.state, path=work / "state.sqlite"),
            archive=replace(base.archive, root=str(work / "archive")),
        )
        specs = pipeline.plan_capture(options)
        started = time.perf_counter()
        first = pipeline.summarize([pipeline.capture_batch(spec, options) for spec in specs])
        first_s = time.perf_counter() - started
        server.reset_counts()
        later = datetime.now(UTC) + timedelta(days=1)
        started = time.perf_counter()
        second = pipeline.summarize(
            [pipeline.capture(pipeline.sources_of(spec), options, now=later).as_dict() for spec in specs]
        )
        second_s = time.perf_counter() - started
        return {
            "feeds": feeds,
            "first_s": first_s,
            "first_pages": float(first.get("pages_fetched", 0)),
            "unchanged_s": second_s,
            "requests": float(server.hits),
            "not_modified": float(server.not_modified),
            "pages_refetched": float(second.get("pages_fetched", 0)),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.bench_poll", description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=500)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    m = measure(args.feeds)
    print(
        f"first capture: {m['feeds']} feeds + {m['first_pages']:.0f} pages in {m['first_s']:.1f}s; unchanged: "
        f"{m['requests']:.0f} requests, {m['not_modified']:.0f} answered 304, {m['pages_refetched']:.0f} pages "
        f"refetched, in {m['unchanged_s']:.1f}s"
    )
    all_conditional = m["not_modified"] == m["requests"] == m["feeds"] and m["pages_refetched"] == 0
    print(f"poll_500_unchanged_s={m['unchanged_s']:.2f} all_conditional={int(all_conditional)}")
    return 0 if all_conditional else 1


if __name__ == "__main__":
    raise SystemExit(main())
