"""An operator's backfill, the way the Airflow UI starts one: through the REST API v2 of a real
``airflow standalone`` (scheduler, DAG processor, API server, triggerer; LocalExecutor on SQLite).

The raw archive holds captures of the sample corpus dated yesterday 10:03/10:04 UTC. A backfill over the
10:00-10:15 interval must rebuild every good page of the corpus from the archive (``auto`` mode resolves to
``replay`` for backfill runs) into Elasticsearch, group them into stories, and a second backfill over the same
interval must change nothing.

The DAG is unpaused (paused DAGs run no tasks, backfill or not), so the scheduler also starts its usual live
runs (``catchup=False``: the latest interval, then one per 15 minutes). Those must stay harmless and
recognisable: the sample server is stopped before Airflow starts and no host is allow-listed for fetching, so a
live run can only skip its feeds. Before the first backfill the test lets live runs finish, and waits out a
15-minute boundary that is less than 100 s away, so that a live run's ``group_stories`` never runs next to the
backfill's on the freshly replayed articles (two groupers on the same pending articles race; see the report).
It checks from the ``plan`` XComs that live runs planned live batches and backfill runs replay batches.
Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch

from evaluation.devserver import SampleServer
from ingest.archive import Archive
from ingest.config import ArchiveOptions, FeedOptions, FetchOptions, IndexOptions
from ingest.documents import Origin
from ingest.errors import FetchError
from ingest.feeds import load_feed_sources, parse_feed
from ingest.fetching import Fetcher, Response
from ingest.pipeline import source_metadata
from ingest.urls import document_id
from tests.conftest import ES_URL, ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
logger = logging.getLogger(__name__)

DAG_ID = "news_ingest"
MANIFEST = ROOT / "seeds" / "sample" / "manifest.toml"
AIRFLOW = Path(sys.executable).parent / "airflow"
INTERVAL = timedelta(minutes=15)
# Backfills only cover intervals that have ended: the captures are dated yesterday.
WINDOW_START = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
FEED_FETCHED_AT = WINDOW_START + timedelta(minutes=3)
PAGE_FETCHED_AT = WINDOW_START + timedelta(minutes=4)
HEALTH_TIMEOUT = 120.0
RUN_TIMEOUT = 300.0
TERMINAL = {"success", "failed"}


# --- the archive ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    feeds_file: Path
    archive_root: Path
    #: document id -> manifest entry of every good page (status 200)
    expected: dict[str, dict[str, Any]]
    #: document id -> feed names whose captured document lists it
    listed_in: dict[str, set[str]]
    feeds: int
    pages: int


def _archive(archive: Archive, response: Response, fetched_at: datetime, metadata: dict[str, str]) -> None:
    """What ``Fetcher.get`` writes for a response, but with a fixed past fetch time."""
    archive.write(
        url=response.url,
        final_url=response.final_url,
        kind=response.kind,
        request_headers=response.request_headers,
        status=response.status,
        response_headers=response.headers,
        body=response.content,
        fetched_at=fetched_at,
        metadata=metadata,
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Corpus:
    """Capture the sample corpus into a WARC archive dated yesterday, then stop the server (nothing is live)."""
    manifest = tomllib.loads(MANIFEST.read_text("utf-8"))["article"]
    archive_root = tmp_path / "archive"
    feed_options = FeedOptions()
    listed_in: dict[str, set[str]] = {}
    fetched: set[str] = set()
    missing: list[str] = []
    feeds = pages = 0
    with (
        SampleServer() as server,
        Fetcher(FetchOptions(allow_hosts=("127.0.0.1",), per_host_delay=0.0)) as fetcher,
        Archive(ArchiveOptions(root=str(archive_root))) as archive,
    ):
        feeds_file = server.render_feeds_file(tmp_path / "feeds.toml")
        for source in load_feed_sources(feeds_file):
            response = fetcher.get(source.url, kind="feed")
            _archive(archive, response, FEED_FETCHED_AT, source_metadata(source))
            feeds += 1
            parsed = parse_feed(
                response.content,
                source=source,
                base_url=response.final_url,
                content_type=response.content_type,
                max_entries=feed_options.max_entries_per_feed,
            )
            for entry in parsed.entries:
                entry_id = document_id(entry.url)
                listed_in.setdefault(entry_id, set()).add(source.name)
                if entry_id in fetched:  # the live pipeline fetches an article listed by two feeds once
                    continue
                fetched.add(entry_id)
                origin = Origin.for_entry(source, entry)
                try:
                    page = fetcher.get(entry.url, kind="page")
                except FetchError as exc:  # the corpus lists one missing page (404): not archived, as live
                    missing.append(exc.reason)
                    continue
                _archive(archive, page, PAGE_FETCHED_AT, origin.as_metadata())
                pages += 1
        expected = {document_id(server.base_url + a["path"]): a for a in manifest if a.get("status", 200) == 200}
    assert len(expected) >= 20 and pages == len(expected), (pages, len(expected))
    assert missing == ["http_404"] * (len(manifest) - len(expected)), missing
    return Corpus(feeds_file, archive_root, expected, listed_in, feeds, pages)


# --- airflow standalone -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


@dataclass
class Standalone:
    home: Path
    base_url: str
    log: Path
    client: httpx.Client

    def diagnostics(self) -> str:
        """The standalone log tail and the tails of the task logs of failed or retried attempts."""
        parts = [f"--- airflow standalone log ({self.log}) ---", _tail(self.log, 40)]
        for task_log in sorted((self.home / "logs").rglob("*.log")):
            text = task_log.read_text("utf-8", errors="replace")
            if '"level":"error"' in text or "Traceback" in text:
                parts += [f"--- {task_log.relative_to(self.home)} ---", _tail(task_log, 30)]
        return "\n".join(parts)

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code in ok, f"{method} {path} -> {response.status_code}: {response.text}"
        return response.json() if response.content else None


@pytest.fixture
def airflow(tmp_path: Path, corpus: Corpus, index_options: IndexOptions, es: Elasticsearch) -> Iterator[Standalone]:
    """``airflow standalone`` in its own AIRFLOW_HOME, configured for the test's archive and aliases."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    # Nothing of the pytest process's Airflow/pipeline configuration leaks into the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NEWS_"))}
    env.update(
        {
            # standalone starts its components as `airflow ...` from PATH
            "PATH": os.pathsep.join([str(AIRFLOW.parent), env.get("PATH", "")]),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            # the DAG's tasks read these (ingest.config.PipelineOptions.from_env)
            "NEWS_FEEDS_FEEDS_FILE": str(corpus.feeds_file),
            # no NEWS_FETCH_ALLOW_HOSTS: a live run may not fetch from 127.0.0.1 (and the server is gone)
            "NEWS_STATE_PATH": str(tmp_path / "state.sqlite"),
            "NEWS_ARCHIVE_ROOT": str(corpus.archive_root),
            "NEWS_INDEX_ARTICLES_ALIAS": index_options.articles_alias,
            "NEWS_INDEX_STORIES_ALIAS": index_options.stories_alias,
            # measured: grouping the 32 articles with E5 embeddings takes ~22 s of task time on a loaded
            # 2-core machine, ~2 s without; cross-lingual grouping is tested elsewhere
            "NEWS_STORIES_USE_EMBEDDINGS": "false",
            "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
                {"conn_type": "elasticsearch", "host": ES_URL.rsplit(":", 1)[0], "port": int(ES_URL.rsplit(":", 1)[1])}
            ),
        }
    )
    log = tmp_path / "standalone.log"
    logger.info("starting airflow standalone (log: %s)", log)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(AIRFLOW), "standalone"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    client = httpx.Client(base_url=base_url, timeout=30, trust_env=False)
    server = Standalone(home, base_url, log, client)
    try:
        _wait(
            lambda: proc.poll() is None and _healthy(client),
            HEALTH_TIMEOUT,
            lambda: f"airflow standalone not healthy (exit code {proc.poll()})\n{server.diagnostics()}",
            stop_if=lambda: proc.poll() is not None,
        )
        password_file = home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(password_file.read_text("utf-8"))["admin"]
        token = server.call("POST", "/auth/token", ok=(200, 201), json={"username": "admin", "password": password})
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        logger.info("airflow standalone healthy at %s", base_url)
        yield server
    finally:
        client.close()
        started = time.monotonic()
        _stop(proc)
        logger.info("airflow standalone stopped in %.1f s", time.monotonic() - started)


def _healthy(client: httpx.Client) -> bool:
    try:
        response = client.get("/api/v2/monitor/health")
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    health = response.json()
    return all(health.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler"))


def _stop(proc: subprocess.Popen[bytes], grace: float = 25.0) -> None:
    """SIGINT to standalone, which stops its components; then SIGKILL whatever is left in the process group."""
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reap the parent, or the group never looks empty
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    ps = subprocess.run(["ps", "-eo", "pid=,pgid=,args="], capture_output=True, text=True, check=False).stdout
    survivors = [line.strip()[:160] for line in ps.splitlines() if line.split()[1:2] == [str(proc.pid)]]
    logger.warning("airflow standalone still running %.0f s after SIGINT, killing: %s", grace, survivors)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _wait(
    done: Callable[[], Any],
    timeout: float,
    message: Callable[[], str],
    *,
    interval: float = 1.0,
    stop_if: Callable[[], bool] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result:
            return result
        if time.monotonic() > deadline or (stop_if is not None and stop_if()):
            pytest.fail(message())
        time.sleep(interval)


# --- REST API helpers -------------------------------------------------------------------------------------


def _runs(server: Standalone, run_type: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 100, "order_by": "logical_date"}
    if run_type:
        params["run_type"] = run_type
    runs: list[dict[str, Any]] = server.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params=params)["dag_runs"]
    return runs


def _fail_fast(server: Standalone) -> None:
    """A task that fails would be retried for many minutes (retries=3, backoff): stop at the first failure."""
    bad = server.call(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances",
        params={"state": ["failed", "up_for_retry", "upstream_failed"]},
    )["task_instances"]
    if bad:
        brief = [(ti["run_id"], ti["task_id"], ti.get("map_index"), ti["state"]) for ti in bad]
        pytest.fail(f"task instances failed: {brief}\n{server.diagnostics()}")


def _wait_for_live_runs(server: Standalone) -> None:
    """Let scheduled runs finish, so that no live ``group_stories`` runs next to a backfill's."""

    def idle() -> bool:
        _fail_fast(server)
        return all(r["state"] in TERMINAL for r in _runs(server) if r["run_type"] != "backfill")

    _wait(idle, RUN_TIMEOUT, lambda: f"scheduled runs did not finish: {_runs(server)}\n{server.diagnostics()}")


def _backfill(server: Standalone) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Dry-run, then start a backfill over the capture interval; returns it and the DAG's backfill runs once
    its runs have finished."""
    body = {
        "dag_id": DAG_ID,
        "from_date": WINDOW_START.isoformat(),
        "to_date": WINDOW_START.isoformat(),
        "run_backwards": False,
        "dag_run_conf": {},
        "reprocess_behavior": "completed",
        "max_active_runs": 1,
    }
    dry = server.call("POST", "/api/v2/backfills/dry_run", json=body)
    planned = [datetime.fromisoformat(r["logical_date"]) for r in dry["backfills"]]
    assert planned == [WINDOW_START], dry

    def create() -> dict[str, Any] | None:
        # One active backfill per DAG (409): the previous one is marked complete ~12 s after its last run.
        response = server.client.post("/api/v2/backfills", json=body)
        if response.status_code == 409:
            return None
        assert response.status_code == 200, f"POST /api/v2/backfills -> {response.status_code}: {response.text}"
        created: dict[str, Any] = response.json()
        return created

    backfill = _wait(create, 60, lambda: f"the previous backfill never completed\n{server.diagnostics()}")
    created_at = datetime.fromisoformat(backfill["created_at"])

    def finished() -> list[dict[str, Any]] | None:
        _fail_fast(server)
        runs = _runs(server, "backfill")
        done = [r for r in runs if r["end_date"] and datetime.fromisoformat(r["end_date"]) > created_at]
        return runs if runs and len(done) == len(runs) else None

    runs = _wait(finished, RUN_TIMEOUT, lambda: f"backfill {backfill} did not finish\n{server.diagnostics()}")
    return backfill, runs


def _xcom(server: Standalone, run_id: str, task_id: str) -> Any:
    entry = server.call(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        params={"deserialize": True},
    )
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def _avoid_schedule_boundary(server: Standalone, margin: timedelta = timedelta(seconds=180)) -> None:
    """If the next 15-minute boundary (a new live run) is less than ``margin`` away, let that run come and go
    first: its ``group_stories`` would otherwise run next to the backfill's, on the backfill's articles."""
    now = datetime.now(UTC)
    boundary = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) + INTERVAL
    if boundary - now > margin:
        return
    logger.info("waiting for the live run of %s", boundary)
    time.sleep((boundary - now).total_seconds())
    _wait(
        lambda: any(datetime.fromisoformat(r["run_after"]) >= boundary for r in _runs(server, "scheduled")),
        60,
        lambda: f"no live run after {boundary}: {_runs(server)}",
    )
    _wait_for_live_runs(server)


def _all_docs(es: Elasticsearch, alias: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def _count(es: Elasticsearch, alias: str) -> int:
    result = es.options(ignore_status=404).count(index=alias)
    return int(result.get("count", 0))


# --- the test ---------------------------------------------------------------------------------------------


def test_backfill_from_the_api_replays_the_archive(
    airflow: Standalone, corpus: Corpus, index_options: IndexOptions, es: Elasticsearch
) -> None:
    server = airflow
    articles, stories = index_options.articles_alias, index_options.stories_alias
    _wait(
        lambda: server.client.get(f"/api/v2/dags/{DAG_ID}").status_code == 200,
        HEALTH_TIMEOUT,
        lambda: f"DAG {DAG_ID} was not parsed\n{server.diagnostics()}",
    )
    assert server.call("GET", "/api/v2/importErrors")["total_entries"] == 0
    logger.info("DAG parsed")
    server.call("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    # catchup=False: the scheduler creates the latest interval's live run right after the unpause
    deadline = time.monotonic() + 20
    while not _runs(server) and time.monotonic() < deadline:
        time.sleep(1)
    _wait_for_live_runs(server)
    logger.info("live runs done: %s", [(r["dag_run_id"], r["state"]) for r in _runs(server)])
    assert _count(es, articles) == 0, "a live run indexed something although it can fetch nothing"
    _avoid_schedule_boundary(server)

    # --- first backfill: the archive is replayed ----------------------------------------------------------
    first, runs = _backfill(server)
    logger.info("first backfill done")
    assert len(runs) == 1, runs
    run = runs[0]
    assert run["run_type"] == "backfill" and run["state"] == "success", run
    assert datetime.fromisoformat(run["data_interval_start"]) == WINDOW_START
    assert datetime.fromisoformat(run["data_interval_end"]) == WINDOW_START + INTERVAL
    assert _xcom(server, run["dag_run_id"], "plan") == [
        {"mode": "replay", "start": WINDOW_START.isoformat(), "end": (WINDOW_START + INTERVAL).isoformat()}
    ]
    summary = _xcom(server, run["dag_run_id"], "summarize")
    assert summary["feeds"] == corpus.feeds and summary["pages_fetched"] == corpus.pages, summary
    assert summary["articles_built"] == summary["created"] == len(corpus.expected), summary
    # Grouping is global (whichever run's group_stories comes first assigns every pending article): a live run
    # started at a 15-minute boundary during the backfill may have grouped the backfill's articles. Each article
    # is assigned exactly once over all runs.
    _wait_for_live_runs(server)
    live_assigned = {
        r["dag_run_id"]: _xcom(server, r["dag_run_id"], "group_stories")["assigned"]
        for r in _runs(server, "scheduled")
        if r["state"] == "success"
    }
    assert summary["stories"]["assigned"] + sum(live_assigned.values()) == len(corpus.expected), (
        summary,
        live_assigned,
    )

    docs = _all_docs(es, articles)
    assert sorted(docs) == sorted(corpus.expected), "the articles are not exactly the corpus's good pages"
    for doc_id, article in corpus.expected.items():
        doc = docs[doc_id]
        assert len(doc["body"]) > 300, article["path"]
        assert doc["language"] == article["language"], article["path"]
        assert doc["outlet"] == article["outlet"], article["path"]
        assert set(article["feeds"]) <= set(doc["feeds"]), article["path"]
        assert set(doc["feeds"]) == corpus.listed_in[doc_id], article["path"]
        assert doc["story_id"], article["path"]
        # built from the archive, not fetched: the capture's time and WARC file
        assert datetime.fromisoformat(doc["fetched_at"]) == PAGE_FETCHED_AT, article["path"]
        assert Path(doc["archive"]["warc_path"]).is_relative_to(corpus.archive_root), doc["archive"]
    multi = [d for d, a in corpus.expected.items() if len(a["feeds"]) > 1]
    assert multi, "the sample corpus should list an article in two feeds"
    for doc_id in multi:
        assert set(docs[doc_id]["feeds"]) == set(corpus.expected[doc_id]["feeds"])
    es.indices.refresh(index=stories)
    story_count = _count(es, stories)
    assert story_count >= 1
    story_ids = {d["story_id"] for d in docs.values()}
    assert len(story_ids) < len(docs), "related coverage should share stories"

    # --- second backfill over the same interval: idempotent ---------------------------------------------
    # (no need to keep live runs apart now: every article has its story, no grouper has anything to do)
    second, again = _backfill(server)  # reprocessing clears and re-runs the same dag run
    logger.info("second backfill done")
    assert [r["dag_run_id"] for r in again] == [run["dag_run_id"]], again
    assert again[0]["state"] == "success", again
    assert datetime.fromisoformat(again[0]["start_date"]) > datetime.fromisoformat(second["created_at"]), again
    assert second["id"] != first["id"]
    summary = _xcom(server, run["dag_run_id"], "summarize")
    assert summary["articles_built"] == summary["updated"] == len(corpus.expected), summary
    assert summary["created"] == 0 and summary["stories"]["assigned"] == 0, summary
    redone = _all_docs(es, articles)
    assert sorted(redone) == sorted(docs)
    assert {d: s["story_id"] for d, s in redone.items()} == {d: s["story_id"] for d, s in docs.items()}
    for doc_id, doc in redone.items():
        assert doc["feeds"] == docs[doc_id]["feeds"]
    es.indices.refresh(index=stories)
    assert _count(es, stories) == story_count, "the re-run duplicated stories"

    # --- the scheduled path: live runs (batches of feeds), which could fetch nothing -------------------
    live_runs = [r for r in _runs(server) if r["run_type"] != "backfill"]
    assert live_runs, "the unpaused DAG should have started its latest interval's live run"
    for live in live_runs:
        assert live["run_type"] == "scheduled", live
        if live["state"] not in TERMINAL:  # a new interval began a moment ago
            continue
        assert live["state"] == "success", live
        specs = _xcom(server, live["dag_run_id"], "plan")
        assert specs and all(spec["mode"] == "live" for spec in specs), specs
        assert _xcom(server, live["dag_run_id"], "summarize")["articles_built"] == 0
