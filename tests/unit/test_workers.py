"""The derivation pool under a host program whose main script must not be re-run (the ``airflow`` CLI), and the
feed parser process that gives large feed documents a deadline."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SCRIPT = """
if __name__ != "__main__":  # what the airflow CLI's import does in a task process: fail
    raise RuntimeError("the parent's main script was re-run in a worker")
import os
from pebble import ProcessPool
from ingest.worker import context as _context
with ProcessPool(max_workers=2, context=_context()) as pool:
    pids = {pool.schedule(os.getpid).result(timeout=60) for _ in range(4)}
print("ok", len(pids) >= 1 and os.getpid() not in pids)
"""


def test_workers_do_not_rerun_the_parents_main_script(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(SCRIPT, "utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "ok True"


#: evaluated inside a worker: which of the modules a worker must never import it holds
_HEAVY = (
    "sorted(m for m in __import__('sys').modules"
    " if m.split('.')[0] in ('elasticsearch', 'feedparser')"
    " or m.startswith(('ingest.pipeline', 'ingest.fetching', 'ingest.feeds')))"
)


def test_workers_import_neither_elasticsearch_nor_the_pipeline_package() -> None:
    """The forkserver and its workers load only :mod:`ingest.worker`'s side (what a page needs), not the pipeline
    package, whose import brings the Elasticsearch client into every processing task's forkserver, nor the feed
    parser and the fetcher (every processing task's forkserver paid them: 0.05-0.07 CPU s)."""
    from pebble import ProcessPool

    from ingest import worker
    from ingest.config import PipelineOptions

    with ProcessPool(
        max_workers=1, initializer=worker.init_worker, initargs=(PipelineOptions(),), context=worker.context()
    ) as pool:
        assert pool.schedule(eval, args=("'trafilatura' in __import__('sys').modules",)).result(timeout=120)
        assert pool.schedule(eval, args=(_HEAVY,)).result(timeout=120) == []


# --- feed parsing with a deadline --------------------------------------------------------------------------


def _rss(items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>http://127.0.0.1/</link>{items}</channel></rss>"
    ).encode()


def _slow_feed(link: str) -> bytes:
    """One item whose description holds 4 MB of inline markup: 8 s or more of feedparser's CPU (measured)."""
    return _rss(f"<item><title>slow</title><link>{link}</link><description>{'<b>x</b>' * 500_000}</description></item>")


def _good_feed(link: str, n: int = 1) -> bytes:
    return _rss("".join(f"<item><title>good {i}</title><link>{link}?n={i}</link></item>" for i in range(n)))


def _response(content: bytes, url: str = "http://127.0.0.1/feed.xml") -> Any:
    from ingest.fetching import Response

    return Response(url, url, 200, {"content-type": "application/rss+xml"}, content, dt.datetime.now(dt.UTC), "feed")


def test_a_large_feed_over_its_parse_deadline_is_a_skip_and_the_next_one_parses() -> None:
    """A document over the isolation size is parsed in a process that is killed at the deadline; a large
    ordinary feed parses there to the same entries as in the caller, and a small one never starts the process."""
    from ingest.config import FeedOptions
    from ingest.errors import FeedParseTimeout
    from ingest.feeds import FeedSource, parse_response
    from ingest.pipeline.workers import FeedParsePool

    source = FeedSource("x", "http://127.0.0.1/feed.xml", "en", "", "x")
    options = FeedOptions(isolate_parse_above_bytes=100_000, parse_timeout_seconds=2.0)
    large = _response(_good_feed("http://127.0.0.1/a", 2_000))
    assert len(large.content) > options.isolate_parse_above_bytes
    with FeedParsePool(options) as pool:
        assert pool.parse(_response(_good_feed("http://127.0.0.1/a")), source=source).entries
        assert pool._pool is None  # a small document is parsed in the caller
        started = time.monotonic()
        with pytest.raises(FeedParseTimeout) as caught:
            pool.parse(_response(_slow_feed("http://127.0.0.1/a")), source=source)
        assert time.monotonic() - started < 6.0
        assert caught.value.reason == "parse_timeout" and caught.value.permanent
        isolated = pool.parse(large, source=source, max_entries=300)
    assert isolated == parse_response(large, source=source, max_entries=300)
    assert len(isolated.entries) == 300


class _FeedHandler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        content_type, body = self.routes.get(self.path.split("?")[0], ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_capture_skips_the_feed_it_cannot_parse_in_time_and_captures_the_others(tmp_path: Path) -> None:
    from ingest.config import PipelineOptions
    from ingest.feeds import FeedSource
    from ingest.pipeline import capture

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    page = b"<html><head><title>An article</title></head><body><article><p>Text.</p></article></body></html>"
    _FeedHandler.routes = {
        "/slow.xml": ("application/rss+xml", _slow_feed(f"{base}/a/slow.html")),
        "/good.xml": ("application/rss+xml", _good_feed(f"{base}/a/good.html")),
        "/a/good.html": ("text/html; charset=utf-8", page),
        "/a/slow.html": ("text/html; charset=utf-8", page),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_options = PipelineOptions()
    options = replace(
        base_options,
        feeds=replace(base_options.feeds, isolate_parse_above_bytes=100_000, parse_timeout_seconds=2.0),
        fetch=replace(base_options.fetch, allow_hosts=("127.0.0.1",), per_host_delay=0.0),
        state=replace(base_options.state, path=tmp_path / "state.sqlite"),
        archive=replace(base_options.archive, root=str(tmp_path / "archive")),
    )
    sources = [FeedSource(name, f"{base}/{name}.xml", "en", "", name) for name in ("slow", "good")]
    try:
        report = capture(sources, options)
    finally:
        server.shutdown()
        server.server_close()
    assert report.feeds_failed == 1
    assert report.skipped["feed:parse_timeout"] == 1
    assert [f["feed"] for f in report.failed_feeds] == ["slow"]
    assert report.captures == 1  # the good feed's article; the slow feed's was never read
