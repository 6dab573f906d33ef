"""``make eval-faults``: the live pipeline against misbehaving and hostile servers, with an Elasticsearch outage.

1. The fault server (:mod:`evaluation.faultserver`) serves N good articles through two feeds (the same
   articles reached twice, once with tracking parameters; some also as syndicated copies on other URLs), pages
   in ISO-8859-1/Windows-1252 with wrong or missing charsets, faulty pages (HTTP errors, timeouts, a trickling
   server, resets, redirect loops, oversized bodies, a gzip bomb, non-HTML types, robots-forbidden and SSRF
   redirects) and hostile feeds (billion laughs, XXE, entries pointing at file://, localhost, 169.254.169.254
   and private addresses, a 404 feed, an HTML page posing as a feed).
   The hostile suite (:mod:`evaluation.hostile`) adds: redirects to ``javascript:``/``mailto:``/``about:blank``/
   ``http:foo``/bad ports/broken IPv6; feeds on which feedparser itself fails; entry links with bad ports,
   control characters, broken brackets and credentials; JSON Feeds with wrong types; a W3C-entity DOCTYPE; a
   KOI8-R feed with its charset only in the header; a feed body naming a local file; truncated gzip/deflate
   bodies; a 304 to a request without validators; meta-refresh interstitials; a UTF-8 page with a stray byte
   and cp1252 labelled UTF-8; cookies; another local service (the "bystander") that nothing may reach; pages
   that fail transiently until the server recovers.
2. Run 1 points at a dead Elasticsearch port: the batch must raise (InfrastructureError) and record nothing
   as done.
3. Run 2 uses the real Elasticsearch (http://127.0.0.1:9200 or ``NEWS_INDEX_ES_URL``) under a throwaway
   alias: every good article must be indexed exactly once, copies marked as duplicates.
4. The transiently failing pages recover; run 3 must fetch them although their feed is unchanged (the retry
   queue of the state store).
5. Run 4 polls again: nothing new may be indexed (conditional polling, seen articles).

``crashes`` = runs that raised anything but the expected InfrastructureError; ``hangs`` = runs over their
budget and server handlers the client did not hang up on within its wall clock; ``leaks`` = occurrences of a
secret (userinfo password, its Basic-auth form, a session cookie, a local file's content, the bystander's
page) in any request to the servers, the WARC archive, the index, the state store, the reports or the logs;
``ssrf`` = requests that reached the bystander, plus connects outside 127.0.0.0/8 that :mod:`evaluation.netguard`
refused (installed first: the hostile feeds name private and metadata addresses, and no packet may leave the
machine even if the pipeline's own guard lets one through). Ends with ``served=N faults=N indexed=N lost=N duplicates=N
crashes=N hangs=N leaks=N ssrf=N unretried=N``; exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

from evaluation import hostile, netguard
from evaluation.faultserver import SSRF_TARGETS, Bystander, FaultServer
from ingest import indexing
from ingest.archive import Archive
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
    "type/octet-png",
    "private/1.html",
    "redirect-to-metadata",
    "redirect-to-file",
)
#: Hostile pages that must be refused (each with its reason), never crash, hang or leak.
HOSTILE_PAGES = (
    "to/javascript",
    "to/mailto",
    "to/about",
    "to/http-no-host",
    "to/bad-port",
    "to/bad-ipv6",
    "to/data",
    "to/bystander",
    "status/304",
    "truncated/gzip/1.html",
    "truncated/deflate/2.html",
    "interstitial-external",
    "to/nowhere",
    "partial/206",
    *(f"malformed/{kind}/1" for kind in hostile.MALFORMED_RESPONSES),
    "consent/1.html",
    "consent/2.html",
    "soft404/1.html",
)
#: Hostile pages behind which a good article must still be indexed: (entry path, path of the article indexed).
RECOVERED_PAGES = (
    ("interstitial/300.html", "articles/300.html"),
    ("to/userinfo/301.html", "articles/301.html"),
    ("cookie/302.html", "cookie/302.html"),
    ("type/octet-html/307.html", "type/octet-html/307.html"),
    *((f"odd/{kind}/{303 + i}.html", f"odd/{kind}/{303 + i}.html") for i, kind in enumerate(hostile.ODD_PAGES)),
    *((f"odd/{kind}/{330 + i}.html", f"odd/{kind}/{330 + i}.html") for i, kind in enumerate(hostile.LATER_ODD_PAGES)),
    *(
        (f"encoded/{kind}/{308 + i}.html", f"encoded/{kind}/{308 + i}.html")
        for i, kind in enumerate(hostile.ENCODED_PAGES)
    ),
)
#: Pages failing transiently (503, reset, truncated gzip, 304 without validators) until the server recovers.
TRANSIENT_PAGES = tuple(f"transient/{n}.html" for n in range(4))
#: Served with broken or missing charset information; they must still be indexed, correctly decoded.
CHARSET_PAGES = (
    ("charset/latin1-nocharset.html", "Straßenverkehr"),
    ("charset/cp1252-meta.html", "\u201cSmart quotes\u201d"),
    ("charset/cp1252-wrong-header.html", "\u20ac sign"),
    ("charset/utf8-stray-byte.html", "Größere Änderungen im Straßenverkehr"),
    ("charset/cp1252-as-utf8.html", "España y en São Paulo, el niño"),
)
HOSTILE_FEEDS = (
    "xml/billion-laughs.xml",
    "xml/xxe.xml",
    "xml/xxe-parameter.xml",
    "feeds/ssrf.xml",
    "status/404",
    "articles/99.html",
    *(f"hostile/{name}" for name in hostile.EMPTY_FEEDS),
)
#: Feeds that are broken in ways a parser must survive: each lists one good article (hostile.FEED_ARTICLES).
SALVAGED_FEEDS = tuple(f"hostile/{name}" for name in hostile.FEED_ARTICLES)
#: How long one pipeline run may take before it counts as a hang.
RUN_BUDGET_SECONDS = 300.0


def _source(name: str, url: str) -> FeedSource:
    return FeedSource(name=name, url=url, language="en", country="us", publisher=f"fault-{name}")


@dataclass
class Plan:
    """What the scenario serves and what must come out of it."""

    expected_ids: set[str]
    transient_ids: set[str]
    mirrored_ids: list[str]
    charset_checks: dict[str, str]
    koi8_url: str
    faults: int


def build_sources(server: FaultServer, good: int, syndicated: int) -> tuple[list[FeedSource], Plan]:
    good_paths = [f"articles/{n}.html" for n in range(good)]
    main = server.add_feed("main", [(f"article {n}", p) for n, p in enumerate(good_paths)])
    mirror_items = [(f"again {n}", f"{p}?utm_source=mirror&utm_medium=rss") for n, p in enumerate(good_paths[::2])]
    mirror_items += [(f"copy {n}", f"syndicated/{n}.html") for n in range(syndicated)]
    mirror = server.add_feed("mirror", mirror_items)
    charset = server.add_feed("charset", [(f"charset {i}", p) for i, (p, _) in enumerate(CHARSET_PAGES)])
    faulty_paths = [*FAULTY_PAGES, *HOSTILE_PAGES, *(entry for entry, _ in RECOVERED_PAGES)]
    faulty = server.add_feed("faulty", [(f"fault {i}", p) for i, p in enumerate(faulty_paths)])
    transient = server.add_feed("transient", [(f"transient {i}", p) for i, p in enumerate(TRANSIENT_PAGES)])
    sources = [
        _source("main", main),
        _source("mirror", mirror),
        _source("charset", charset),
        _source("faulty", faulty),
        _source("transient", transient),
        _source("latin1-feed", server.url("charset/latin1-feed.xml")),
        _source("cp1252-feed", server.url("charset/cp1252-feed-nodecl.xml")),
    ]
    sources += [_source(f"hostile-{i}", server.url(p)) for i, p in enumerate(HOSTILE_FEEDS)]
    sources += [_source(f"salvaged-{i}", server.url(p)) for i, p in enumerate(SALVAGED_FEEDS)]
    expected_urls = (
        [server.url(p) for p in good_paths]
        + [server.url(f"syndicated/{n}.html") for n in range(syndicated)]
        + [server.url(p) for p, _ in CHARSET_PAGES]
        + [server.url("articles/11.html"), server.url("articles/12.html")]  # listed by the charset feeds
        + [server.url(article) for _, article in RECOVERED_PAGES]
        + [server.url(f"articles/{n}.html") for n in hostile.FEED_ARTICLES.values()]
    )
    plan = Plan(
        expected_ids={document_id(u) for u in expected_urls},
        transient_ids={document_id(server.url(p)) for p in TRANSIENT_PAGES},
        mirrored_ids=sorted(document_id(server.url(p)) for p in good_paths[::2]),
        charset_checks={document_id(server.url(p)): needle for p, needle in CHARSET_PAGES},
        koi8_url=server.url(f"articles/{hostile.FEED_ARTICLES['koi8r.xml']}.html"),
        faults=len(FAULTY_PAGES) + len(HOSTILE_PAGES) + len(HOSTILE_FEEDS) + len(SSRF_TARGETS),
    )
    return sources, plan


def options_for(workdir: Path, es_url: str, alias_prefix: str, allow: tuple[str, ...]) -> PipelineOptions:
    """``allow``: the fault server's ``127.0.0.1:<port>`` (never the whole loopback host)."""
    base = PipelineOptions.from_env()
    return replace(
        base,
        fetch=replace(
            base.fetch,
            allow_hosts=allow,
            connect_timeout=2.0,
            read_timeout=2.0,
            total_timeout=4.0,
            per_host_delay=0.0,
            per_host_concurrency=4,
            retries=1,
            retry_backoff=0.1,
            max_retry_after_wait=2.0,
        ),
        # retries are due at once, so that the recovery run (run 3) can show them
        state=replace(base.state, path=workdir / "state.sqlite", retry_base_seconds=0.0),
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


def run_pipeline(sources: list[FeedSource], es: Elasticsearch, options: PipelineOptions) -> Any:
    """One live run over ``sources``: the single call into the pipeline (adapt it here when its API changes)."""
    from ingest import pipeline  # imported late so --help works without it

    return pipeline.run_live(sources, es, options)  # capture, then derive whatever is pending


@dataclass
class Outcome:
    """What one run did: its report, or the exception it raised, or that it did not finish in time."""

    report: Any = None
    error: BaseException | None = None
    hung: bool = False
    seconds: float = 0.0


def timed(call: Callable[[], Any], budget: float) -> Outcome:
    """Run ``call`` in a thread; a run over ``budget`` seconds is a hang (the thread is left behind)."""
    outcome = Outcome()

    def target() -> None:
        try:
            outcome.report = call()
        except BaseException as exc:  # recorded and judged by the caller
            outcome.error = exc

    started = time.monotonic()
    worker = threading.Thread(target=target, name="faults-run", daemon=True)
    worker.start()
    worker.join(budget)
    outcome.seconds = time.monotonic() - started
    outcome.hung = worker.is_alive()
    return outcome


@dataclass
class Tally:
    crashes: int = 0
    hangs: int = 0
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line)

    def judge(self, name: str, outcome: Outcome, *, expect: type[BaseException] | None = None) -> bool:
        """Count a crash or hang; True when the run ended as expected."""
        if outcome.hung:
            self.hangs += 1
            self.say(f"{name}: HANG - still running after {RUN_BUDGET_SECONDS:.0f}s")
            return False
        if outcome.error is not None and (expect is None or not isinstance(outcome.error, expect)):
            self.crashes += 1
            self.say(f"{name}: CRASH {type(outcome.error).__name__}: {outcome.error}")
            print("".join(traceback.format_exception(outcome.error)), file=sys.stderr)
            return False
        if expect is not None and outcome.error is None:
            self.say(f"{name}: NO ERROR RAISED - documents would be silently lost")
            return False
        return True


def count_secrets(text: str) -> int:
    return sum(text.count(form) for form in hostile.secret_forms())


def archive_text(root: Path) -> str:
    """Every WARC file under ``root``, decompressed (gzip members), as text."""
    chunks: list[str] = []
    for path in sorted(root.rglob("*.warc.gz")):
        try:
            data = gzip.decompress(path.read_bytes())
        except (OSError, EOFError):
            data = path.read_bytes()
        chunks.append(data.decode("latin-1"))
    return "\n".join(chunks)


def archived_entry_title(options: PipelineOptions, url: str, since: datetime) -> str | None:
    """The feed entry title the pipeline archived with the page ``url`` (WARC metadata)."""
    with Archive(options.archive) as archive:
        for response, meta in archive.replay(since, datetime.now(UTC) + timedelta(minutes=1), kind="page"):
            if response.final_url == url:
                return meta.get("entry-title")
    return None


class LogCapture:
    """Keeps the scenario's log records, whatever the console shows, to scan them for secrets: every library's
    at INFO and above (what a task log shows), ingest's own at DEBUG too. (httpcore's DEBUG traces echo the
    headers servers send, their own Set-Cookie and Location included: not ours to redact.)"""

    def __init__(self, console_level: int) -> None:
        self.buffer = io.StringIO()
        self._handler = logging.StreamHandler(self.buffer)
        self._handler.addFilter(lambda record: record.levelno >= logging.INFO or record.name.startswith("ingest"))
        self._console_level = console_level
        self._root = logging.getLogger()
        self._ingest = logging.getLogger("ingest")
        self._levels = (self._root.level, self._ingest.level)

    def __enter__(self) -> LogCapture:
        for handler in self._root.handlers:
            handler.setLevel(self._console_level)
        self._root.addHandler(self._handler)
        self._root.setLevel(logging.INFO)
        self._ingest.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._root.removeHandler(self._handler)
        self._root.setLevel(self._levels[0])
        self._ingest.setLevel(self._levels[1])

    def text(self) -> str:
        return self.buffer.getvalue()


@dataclass
class Runs:
    """What the four runs did."""

    outage_reported: bool = False
    skipped: Counter[str] = field(default_factory=Counter)
    reports: list[str] = field(default_factory=list)
    recovered_created: int = 0
    again_created: int = -1


def run_scenario(
    sources: list[FeedSource], es: Elasticsearch, options: PipelineOptions, server: FaultServer, tally: Tally
) -> Runs:
    """Run 1 with Elasticsearch down, run 2 with it up, run 3 after the transient faults recover, run 4 again."""
    runs = Runs()
    dead = Elasticsearch("http://127.0.0.1:9", request_timeout=2, max_retries=0)
    outcome = timed(lambda: run_pipeline(sources, dead, options), RUN_BUDGET_SECONDS)
    runs.outage_reported = tally.judge("run 1 (Elasticsearch down)", outcome, expect=InfrastructureError)
    if runs.outage_reported:
        error = outcome.error
        tally.say(f"run 1 (Elasticsearch down): raised {type(error).__name__} as it must ({error})")
    tally.say(f"run 1 took {outcome.seconds:.1f}s")

    indexing.ensure_indices(es, options.index)
    for name in ("run 2", "run 3 (recovery)", "run 4"):
        if name == "run 3 (recovery)":
            server.settings.transient_failing = False
        outcome = timed(lambda: run_pipeline(sources, es, options), RUN_BUDGET_SECONDS)
        indexing.refresh(es, options.index.articles_alias)
        if not tally.judge(name, outcome) or outcome.report is None:
            continue
        report = outcome.report
        runs.reports.append(json.dumps(report.as_dict(), default=str))
        tally.say(
            f"{name} took {outcome.seconds:.1f}s: feeds not modified/not due {report.feeds_not_modified}/"
            f"{report.feeds_not_due}, pages fetched {report.pages_fetched}, created {report.created}"
        )
        if name == "run 2":
            runs.skipped.update(report.skipped)
        elif name == "run 3 (recovery)":
            runs.recovered_created = report.created
        else:
            runs.again_created = report.created
    return runs


def find_leaks(
    server: FaultServer, workdir: Path, hits: list[Any], runs: Runs, logs: str, lines: list[str]
) -> dict[str, int]:
    """Occurrences of any secret, by place: requests received, WARC files, index, state store, reports, logs,
    the harness's own output."""
    with server.settings.lock:
        requests_text = "\n".join(server.settings.request_log)
    return {
        "requests": count_secrets(requests_text),
        "warc": count_secrets(archive_text(workdir / "archive")),
        "index": count_secrets(json.dumps(hits, ensure_ascii=False)),
        "state": count_secrets((workdir / "state.sqlite").read_bytes().decode("latin-1")),
        "reports": count_secrets("\n".join(runs.reports)),
        "logs": count_secrets(logs),
        "output": count_secrets("\n".join(lines)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fault injection against the live pipeline")
    parser.add_argument("--good", type=int, default=12, help="good articles (N)")
    parser.add_argument("--syndicated", type=int, default=3, help="syndicated copies of good articles")
    parser.add_argument("--es-url", default=os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--keep", action="store_true", help="keep the test indices")
    parser.add_argument(
        "--allow",
        action="append",
        help="allow-list entry (default: the fault server's 127.0.0.1:<port> only; give 127.0.0.1 to see what a "
        "host-wide allow-list lets through)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    netguard.install()
    console_level = logging.INFO if args.verbose else logging.ERROR
    logging.basicConfig(level=console_level, format="%(levelname)s %(message)s")

    prefix = f"test-acq-faults-{uuid.uuid4().hex[:8]}"
    es = Elasticsearch(args.es_url, request_timeout=30)
    try:
        es.cluster.health(wait_for_status="yellow", timeout="30s")
    except Exception as exc:  # a clear message instead of a stack of connection errors
        print(f"Elasticsearch is not reachable at {args.es_url}: run `make es-start` ({exc})", file=sys.stderr)
        return 2
    tally = Tally()
    started_at = datetime.now(UTC) - timedelta(seconds=1)
    with (
        tempfile.TemporaryDirectory(prefix="acq-faults-") as tmp,
        FaultServer() as server,
        Bystander() as bystander,
        LogCapture(console_level) as logs,
    ):
        workdir = Path(tmp)
        secret_file = workdir / "local-feed.xml"
        link = server.url(f"articles/{hostile.EMPTY_FEEDS['file-path.xml']}.html")
        secret_file.write_bytes(hostile.secret_file_feed(link))
        server.settings.secret_file = str(secret_file)
        server.settings.bystander_url = bystander.base_url
        sources, plan = build_sources(server, args.good, args.syndicated)
        allow = tuple(args.allow or [server.base_url.split("://", 1)[1]])
        options = options_for(workdir, args.es_url, prefix, allow)
        try:
            runs = run_scenario(sources, es, options, server, tally)
            hits = es.search(index=options.index.articles_alias, size=1000, query={"match_all": {}})["hits"]["hits"]
            found = {h["_id"]: h["_source"] for h in hits}
            expected = plan.expected_ids
            lost = sorted(expected - set(found))
            unretried = sorted(plan.transient_ids - set(found))
            unexpected = sorted(set(found) - expected - plan.transient_ids)
            # Documents beyond one per good article: the same article under a second id, or junk. Must be 0.
            duplicates = len(found) - len((expected | plan.transient_ids) & set(found))
            marked_copies = sum(1 for s in found.values() if s.get("is_duplicate"))
            mirrored_ok = sum(
                1 for i in plan.mirrored_ids if {"main", "mirror"} <= set(found.get(i, {}).get("feeds") or [])
            )
            charset_ok = sum(
                1 for i, needle in plan.charset_checks.items() if needle in str(found.get(i, {}).get("body", ""))
            )
            koi8_title = archived_entry_title(options, plan.koi8_url, started_at)
            feed_charset_ok = koi8_title == hostile.KOI8_TITLE
            outside = netguard.attempts()
            ssrf = len(bystander.hits) + len(outside)
            with server.settings.lock:
                durations = list(server.settings.durations)
            slow_handlers = [(p, d) for p, d in durations if d > options.fetch.total_timeout * 2 + 2]
            tally.hangs += len(slow_handlers)

            tally.say(f"skip reasons (run 2): {dict(sorted(runs.skipped.items()))}")
            tally.say(f"articles listed by both feeds carrying both feed names: {mirrored_ok}/{len(plan.mirrored_ids)}")
            tally.say(f"charset pages decoded right: {charset_ok}/{len(plan.charset_checks)}")
            tally.say(f"run 3 (recovery) created {runs.recovered_created} documents ({len(plan.transient_ids)} due)")
            tally.say(f"run 4 created {runs.again_created} documents (must be 0)")
            tally.say(
                f"syndicated near-duplicate copies marked is_duplicate: {marked_copies} (at least {args.syndicated})"
            )
            for path, seconds in slow_handlers:
                tally.say(f"HANG server handler {path} ran {seconds:.1f}s (client never hung up)")
            for doc_id in lost:
                tally.say(f"LOST {doc_id}")
            for doc_id in unretried:
                tally.say(f"UNRETRIED {doc_id} (failed transiently in run 2, not fetched again in run 3)")
            for doc_id in unexpected:
                tally.say(f"UNEXPECTED {doc_id} {found[doc_id].get('url')}")
            tally.say(
                f"wiring: unretried={len(unretried)} feed_charset={'ok' if feed_charset_ok else 'wrong'} "
                f"(koi8-r entry title archived as {koi8_title!r})"
            )
            leak_places = find_leaks(server, workdir, hits, runs, logs.text(), tally.lines)
            leaks = sum(leak_places.values())
            print(
                f"leaks by place: {leak_places}; bystander requests: {bystander.hits}; "
                f"refused outside loopback: {outside}"
            )
            if args.verbose:
                for line in logs.text().splitlines():
                    if count_secrets(line):
                        print(f"LEAK in logs: {line[:300]}")
            served = len(expected) + len(plan.transient_ids) + plan.faults
            print(
                f"served={served} faults={plan.faults} indexed={len(found)} lost={len(lost)} "
                f"duplicates={duplicates} crashes={tally.crashes} hangs={tally.hangs} leaks={leaks} ssrf={ssrf} "
                f"unretried={len(unretried)}"
            )
            ok = (
                runs.outage_reported
                and not lost
                and not unretried
                and not unexpected
                and runs.again_created == 0
                and charset_ok == len(plan.charset_checks)
                and feed_charset_ok
                and mirrored_ok == len(plan.mirrored_ids)
                and duplicates == 0
                and marked_copies >= args.syndicated
                and tally.crashes == 0
                and tally.hangs == 0
                and leaks == 0
                and ssrf == 0
            )
            return 0 if ok else 1
        finally:
            if not args.keep:
                cleanup(es, prefix, options)
            es.close()


if __name__ == "__main__":
    raise SystemExit(main())
