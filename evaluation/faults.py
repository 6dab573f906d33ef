"""``make eval-faults``: the live pipeline against a misbehaving server, with an Elasticsearch outage.

1. The fault server (:mod:`evaluation.faultserver`) serves N good articles through two feeds (the same
   articles reached twice, once with tracking parameters; some also as syndicated copies on other URLs), pages
   in ISO-8859-1/Windows-1252 with wrong or missing charsets, M faulty pages (HTTP errors, timeouts, a
   trickling server, resets, redirect loops, oversized bodies, a gzip bomb, non-HTML types, robots-forbidden
   and SSRF redirects) and hostile feeds (billion laughs, XXE, entries pointing at file://, localhost,
   169.254.169.254 and private addresses, a 404 feed, an HTML page posing as a feed).
2. Run 1 points at a dead Elasticsearch port: the batch must raise (InfrastructureError) and record nothing
   as done.
3. Run 2 uses the real Elasticsearch (http://127.0.0.1:9200 or ``NEWS_INDEX_ES_URL``) under a throwaway
   alias: every good article must be indexed exactly once, copies marked as duplicates.
4. Run 3 polls again: nothing new may be indexed (conditional polling, seen articles).

Ends with ``served=N faults=N indexed=N lost=N duplicates=N``; exit status 1 when anything was lost or the
outage was not reported.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from evaluation.faultserver import SSRF_TARGETS, FaultServer
from ingest import indexing
from ingest.config import PipelineOptions
from ingest.errors import InfrastructureError
from ingest.feeds import FeedSource
from ingest.urls import document_id

logger = logging.getLogger(__name__)

FAULTY_PAGES = (
    "status/404",
    "status/410",
    "status/500",
    "status/503",
    "slow",
    "trickle",
    "reset",
    "loop/a",
    "redirect/9",
    "big",
    "gzip-bomb",
    "type/pdf",
    "type/json",
    "type/png",
    "private/1.html",
    "redirect-to-metadata",
    "redirect-to-file",
)
#: Served with broken or missing charset information; they must still be indexed, correctly decoded.
CHARSET_PAGES = (
    ("charset/latin1-nocharset.html", "Straßenverkehr"),
    ("charset/cp1252-meta.html", "\u201cSmart quotes\u201d"),
    ("charset/cp1252-wrong-header.html", "\u20ac sign"),
)
HOSTILE_FEEDS = (
    "xml/billion-laughs.xml",
    "xml/xxe.xml",
    "xml/xxe-parameter.xml",
    "feeds/ssrf.xml",
    "status/404",
    "articles/99.html",
)


def _source(name: str, url: str) -> FeedSource:
    return FeedSource(name=name, url=url, language="en", country="us", publisher=f"fault-{name}")


def build_sources(server: FaultServer, good: int, syndicated: int) -> tuple[list[FeedSource], dict[str, Any]]:
    good_paths = [f"articles/{n}.html" for n in range(good)]
    main = server.add_feed("main", [(f"article {n}", p) for n, p in enumerate(good_paths)])
    mirror_items = [(f"again {n}", f"{p}?utm_source=mirror&utm_medium=rss") for n, p in enumerate(good_paths[::2])]
    mirror_items += [(f"copy {n}", f"syndicated/{n}.html") for n in range(syndicated)]
    mirror = server.add_feed("mirror", mirror_items)
    charset = server.add_feed("charset", [(f"charset {i}", p) for i, (p, _) in enumerate(CHARSET_PAGES)])
    faulty = server.add_feed("faulty", [(f"fault {i}", p) for i, p in enumerate(FAULTY_PAGES)])
    sources = [
        _source("main", main),
        _source("mirror", mirror),
        _source("charset", charset),
        _source("faulty", faulty),
        _source("latin1-feed", server.url("charset/latin1-feed.xml")),
        _source("cp1252-feed", server.url("charset/cp1252-feed-nodecl.xml")),
    ]
    sources += [_source(f"hostile-{i}", server.url(p)) for i, p in enumerate(HOSTILE_FEEDS)]
    expected_urls = (
        [server.url(p) for p in good_paths]
        + [server.url(f"syndicated/{n}.html") for n in range(syndicated)]
        + [server.url(p) for p, _ in CHARSET_PAGES]
        + [server.url("articles/11.html"), server.url("articles/12.html")]  # listed by the charset feeds
    )
    plan = {
        "expected_ids": sorted({document_id(u) for u in expected_urls}),
        "mirrored_ids": sorted(document_id(server.url(p)) for p in good_paths[::2]),
        "charset_checks": {document_id(server.url(p)): needle for p, needle in CHARSET_PAGES},
        "faults": len(FAULTY_PAGES) + len(HOSTILE_FEEDS) + len(SSRF_TARGETS),
    }
    return sources, plan


def options_for(workdir: Path, es_url: str, alias_prefix: str) -> PipelineOptions:
    base = PipelineOptions.from_env()
    return replace(
        base,
        fetch=replace(
            base.fetch,
            allow_hosts=("127.0.0.1",),
            connect_timeout=2.0,
            read_timeout=2.0,
            total_timeout=4.0,
            per_host_delay=0.0,
            per_host_concurrency=4,
            retries=1,
            retry_backoff=0.1,
            max_retry_after_wait=2.0,
        ),
        state=replace(base.state, path=workdir / "state.sqlite"),
        archive=replace(base.archive, root=str(workdir / "archive")),
        index=replace(
            base.index,
            es_url=es_url,
            articles_alias=f"{alias_prefix}-articles",
            stories_alias=f"{alias_prefix}-stories",
            refresh=True,
        ),
    )


def cleanup(es: Elasticsearch, prefix: str, options: PipelineOptions) -> None:
    names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True))
    if names:
        es.indices.delete(index=",".join(names))
    for alias in (options.index.articles_alias, options.index.stories_alias):
        es.options(ignore_status=404).indices.delete_index_template(name=f"{alias}-template")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fault injection against the live pipeline")
    parser.add_argument("--good", type=int, default=12, help="good articles (N)")
    parser.add_argument("--syndicated", type=int, default=3, help="syndicated copies of good articles")
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--keep", action="store_true", help="keep the test indices")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")

    from ingest import pipeline  # the lead's orchestration; imported late so --help works without it

    prefix = f"test-acq-faults-{uuid.uuid4().hex[:8]}"
    es = Elasticsearch(args.es_url, request_timeout=30)
    try:
        es.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # a clear message instead of a stack of connection errors
        print(f"Elasticsearch is not reachable at {args.es_url}: run `make es-start` ({exc})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="acq-faults-") as tmp, FaultServer() as server:
        workdir = Path(tmp)
        sources, plan = build_sources(server, args.good, args.syndicated)
        options = options_for(workdir, args.es_url, prefix)
        skipped: Counter[str] = Counter()
        try:
            # --- run 1: Elasticsearch down ---------------------------------------------------------------
            dead = Elasticsearch("http://127.0.0.1:9", request_timeout=2, max_retries=0)
            outage_reported = False
            started = time.monotonic()
            try:
                pipeline.run_live(sources, dead, options)
            except InfrastructureError as exc:
                outage_reported = True
                print(f"run 1 (Elasticsearch down): raised {type(exc).__name__} as it must ({exc})")
            else:
                print("run 1 (Elasticsearch down): NO ERROR RAISED - documents would be silently lost")
            print(f"run 1 took {time.monotonic() - started:.1f}s")

            # --- run 2: Elasticsearch up -----------------------------------------------------------------
            indexing.ensure_indices(es, options.index)
            started = time.monotonic()
            report = pipeline.run_live(sources, es, options)
            print(f"run 2 took {time.monotonic() - started:.1f}s: {report.as_dict()['skipped']}")
            skipped.update(report.skipped)
            indexing.refresh(es, options.index.articles_alias)

            # --- run 3: nothing new ----------------------------------------------------------------------
            again = pipeline.run_live(sources, es, options)
            print(
                f"run 3: feeds not modified/not due {again.feeds_not_modified}/{again.feeds_not_due}, "
                f"pages fetched {again.pages_fetched}, created {again.created}"
            )
            indexing.refresh(es, options.index.articles_alias)

            alias = options.index.articles_alias
            hits = es.search(
                index=alias,
                size=1000,
                query={"match_all": {}},
                source_includes=["doc_id", "url", "feeds", "is_duplicate", "duplicate_of", "body"],
            )["hits"]["hits"]
            found = {h["_id"]: h["_source"] for h in hits}
            expected = set(plan["expected_ids"])
            lost = sorted(expected - set(found))
            unexpected = sorted(set(found) - expected)
            # Documents beyond one per good article: the same article under a second id, or junk. Must be 0.
            duplicates = len(found) - len(expected & set(found))
            marked_copies = sum(1 for s in found.values() if s.get("is_duplicate"))
            mirrored_ok = sum(
                1 for i in plan["mirrored_ids"] if {"main", "mirror"} <= set(found.get(i, {}).get("feeds") or [])
            )
            charset_ok = sum(
                1 for i, needle in plan["charset_checks"].items() if needle in str(found.get(i, {}).get("body", ""))
            )
            print(f"skip reasons (run 2): {dict(sorted(skipped.items()))}")
            print(f"articles listed by both feeds carrying both feed names: {mirrored_ok}/{len(plan['mirrored_ids'])}")
            print(f"charset pages decoded right: {charset_ok}/{len(plan['charset_checks'])}")
            print(f"run 3 created {again.created} documents (must be 0)")
            print(f"syndicated near-duplicate copies marked is_duplicate: {marked_copies} (at least {args.syndicated})")
            for doc_id in lost:
                print(f"LOST {doc_id}")
            for doc_id in unexpected:
                print(f"UNEXPECTED {doc_id} {found[doc_id].get('url')}")
            served = len(expected) + plan["faults"]
            print(
                f"served={served} faults={plan['faults']} indexed={len(found)} lost={len(lost)} duplicates={duplicates}"
            )
            ok = (
                outage_reported
                and not lost
                and not unexpected
                and again.created == 0
                and charset_ok == len(plan["charset_checks"])
                and mirrored_ok == len(plan["mirrored_ids"])
                and duplicates == 0
                and marked_copies >= args.syndicated
            )
            return 0 if ok else 1
        finally:
            if not args.keep:
                cleanup(es, prefix, options)
            es.close()


if __name__ == "__main__":
    raise SystemExit(main())
