"""Session fixtures of the ``airflow standalone`` tests (REST API and browser): one server for all of them.

``standalone``: the sample corpus served live on 127.0.0.1, an archive that also holds a capture of the same
corpus dated yesterday (what a past day looks like to a backfill by capture time: backfills only cover
intervals that have ended), a copy of the taxonomy (so a test can change it), unique Elasticsearch aliases,
and ``airflow standalone`` pointed at all of it. ``chain``: the asset chain poll → process → stories run once,
by whichever test needs it first. Nothing is mocked.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from evaluation.devserver import SampleServer
from ingest.config import DATA_DIR, ArchiveOptions, FeedOptions, FetchOptions
from ingest.documents import Origin
from ingest.errors import FetchError
from ingest.feeds import load_feed_sources, parse_feed
from ingest.urls import document_id
from tests.conftest import ES_URL, ROOT
from tests.e2e import standalone as sa

logger = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per REST call drowns the test log

MANIFEST = ROOT / "seeds" / "sample" / "manifest.toml"
VAR = ROOT / "var"
#: Captures of a past day: the corpus fetched yesterday 10:03 (feeds) / 10:04 (pages) UTC.
YESTERDAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
FEED_FETCHED_AT = YESTERDAY + timedelta(hours=10, minutes=3)
PAGE_FETCHED_AT = YESTERDAY + timedelta(hours=10, minutes=4)
KIBANA_URL = "http://127.0.0.1:5601/kibana-e2e"


@dataclass(frozen=True)
class Corpus:
    base_url: str
    feeds_file: Path
    archive_root: Path
    taxonomy: Path
    #: document id -> manifest entry of every good page (status 200)
    expected: dict[str, dict[str, Any]]
    feed_names: list[str]


@dataclass
class Env:
    server: sa.Standalone
    corpus: Corpus
    articles_alias: str
    stories_alias: str
    state_path: Path


def _archive_past_day(server: SampleServer, feeds_file: Path, root: Path) -> int:
    """Capture the corpus into ``root`` dated yesterday, as ``Fetcher.get`` writes it; returns the pages."""
    from ingest.archive import Archive
    from ingest.fetching import Fetcher
    from ingest.pipeline import source_metadata

    fetched: set[str] = set()
    pages = 0
    with (
        Fetcher(FetchOptions(allow_hosts=("127.0.0.1",), per_host_delay=0.0)) as fetcher,
        Archive(ArchiveOptions(root=str(root))) as archive,
    ):
        for source in load_feed_sources(feeds_file):
            response = fetcher.get(source.url, kind="feed")
            archive.write_response(response, metadata=source_metadata(source), fetched_at=FEED_FETCHED_AT)
            parsed = parse_feed(
                response.content,
                source=source,
                base_url=response.final_url,
                content_type=response.content_type,
                max_entries=FeedOptions().max_entries_per_feed,
            )
            for entry in parsed.entries:
                if document_id(entry.url) in fetched:
                    continue
                fetched.add(document_id(entry.url))
                try:
                    page = fetcher.get(entry.url, kind="page")
                except FetchError:  # the corpus's one missing page (404): not archived, as live
                    continue
                archive.write_response(
                    page, metadata=Origin.for_entry(source, entry).as_metadata(), fetched_at=PAGE_FETCHED_AT
                )
                pages += 1
    return pages


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory, es: Elasticsearch) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("standalone")
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    articles, stories = f"{prefix}-articles", f"{prefix}-stories"
    manifest = tomllib.loads(MANIFEST.read_text("utf-8"))["article"]
    with SampleServer() as sample:
        feeds_file = sample.render_feeds_file(tmp / "feeds.toml")
        archive_root = tmp / "archive"
        pages = _archive_past_day(sample, feeds_file, archive_root)
        expected = {document_id(sample.base_url + a["path"]): a for a in manifest if a.get("status", 200) == 200}
        assert pages == len(expected) >= 20, (pages, len(expected))
        taxonomy = tmp / "taxonomy.toml"
        shutil.copyfile(DATA_DIR / "taxonomy.toml", taxonomy)
        corpus = Corpus(
            sample.base_url,
            feeds_file,
            archive_root,
            taxonomy,
            expected,
            sorted(s.name for s in load_feed_sources(feeds_file)),
        )
        home = tmp / "airflow-home"
        home.mkdir()
        port = sa.free_port()
        base_url = f"http://127.0.0.1:{port}"
        # Nothing of the pytest process's Airflow/pipeline configuration leaks into the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NEWS_"))}
        env.update(
            {
                "PATH": os.pathsep.join([str(sa.AIRFLOW.parent), env.get("PATH", "")]),
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
                # the Kibana base URL comes from Airflow's configuration (NEWS_KIBANA_URL would win)
                "AIRFLOW__NEWS_INGEST__KIBANA_URL": KIBANA_URL,
                # the pipeline's settings (ingest.config.PipelineOptions.from_env)
                "NEWS_FEEDS_FEEDS_FILE": str(feeds_file),
                "NEWS_FETCH_ALLOW_HOSTS": "127.0.0.1",
                "NEWS_FETCH_PER_HOST_DELAY": "0",
                "NEWS_STATE_PATH": str(tmp / "state.sqlite"),
                "NEWS_ARCHIVE_ROOT": str(archive_root),
                "NEWS_TAGGING_TAXONOMY_PATH": str(taxonomy),
                "NEWS_INDEX_ARTICLES_ALIAS": articles,
                "NEWS_INDEX_STORIES_ALIAS": stories,
                # grouping with E5 embeddings costs ~20 s of task time here; cross-lingual grouping is tested
                # elsewhere, and the asset chain does not depend on it
                "NEWS_STORIES_USE_EMBEDDINGS": "false",
                "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
                    {
                        "conn_type": "elasticsearch",
                        "host": ES_URL.rsplit(":", 1)[0],
                        "port": int(ES_URL.rsplit(":", 1)[1]),
                    }
                ),
            }
        )
        proc, server = sa.start(home, env, tmp)
        try:
            yield Env(server, corpus, articles, stories, tmp / "state.sqlite")
        finally:
            server.client.close()
            started = time.monotonic()
            sa.stop(proc)
            logger.info("airflow standalone stopped in %.1f s", time.monotonic() - started)
            VAR.mkdir(exist_ok=True)
            (VAR / "e2e-timings.json").write_text(json.dumps(server.timings, indent=2) + "\n", "utf-8")
            names = list(es.indices.get(index=f"{prefix}-*", allow_no_indices=True))
            if names:  # wildcard deletes are refused (action.destructive_requires_name)
                es.indices.delete(index=",".join(names))
            for alias in (articles, stories):
                es.options(ignore_status=404).indices.delete_index_template(name=f"{alias}-template")


@dataclass(frozen=True)
class Chain:
    poll_run: dict[str, Any]
    process_run: dict[str, Any]
    stories_run: dict[str, Any]


@pytest.fixture(scope="session")
def chain(standalone: Env) -> Chain:
    """Unpause the three DAGs and trigger ``news_poll``: the scheduler runs ``news_process`` on the
    ``news_captures`` event and ``news_stories`` on ``news_articles``. Returns the runs that carried it."""
    server = standalone.server
    for dag_id in ("news_stories", "news_process"):
        server.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
    # catchup=False: unpausing news_process starts its latest daily sweep (nothing pending yet); let it finish
    # so that the capture is derived by the asset-triggered run, not by the sweep.
    deadline = time.monotonic() + 20
    while not server.runs("news_process") and time.monotonic() < deadline:
        time.sleep(1)
    sa.wait(lambda: server.idle(), sa.RUN_TIMEOUT, lambda: f"the sweep did not finish\n{server.diagnostics()}")

    started = time.monotonic()
    triggered = server.call("POST", "/api/v2/dags/news_poll/dagRuns", json={"logical_date": None, "conf": {}})
    # unpausing also starts the latest 15-minute interval's scheduled run: it finds nothing new (304s)
    server.call("PATCH", "/api/v2/dags/news_poll", json={"is_paused": False})

    def chained() -> tuple[dict[str, Any], dict[str, Any]] | None:
        server.fail_fast()
        process = [r for r in server.runs("news_process", "asset_triggered") if r["state"] == "success"]
        stories = [r for r in server.runs("news_stories", "asset_triggered") if r["state"] == "success"]
        if process and stories and server.idle():
            return process[0], stories[0]
        return None

    process_run, stories_run = sa.wait(
        chained, sa.RUN_TIMEOUT, lambda: f"the asset chain did not complete\n{server.diagnostics()}", interval=0.5
    )
    # whichever poll run came first captured the corpus and emitted the event (the other found nothing new)
    (event,) = server.asset_events("news_captures")
    poll_run = server.run("news_poll", event["source_run_id"])
    assert {r["dag_run_id"] for r in server.runs("news_poll")} >= {triggered["dag_run_id"], poll_run["dag_run_id"]}
    server.timings["chain_trigger_to_stories_done_s"] = round(time.monotonic() - started, 1)
    poll_start = datetime.fromisoformat(poll_run["start_date"])
    server.timings["chain_poll_start_to_stories_end_s"] = round(
        (datetime.fromisoformat(stories_run["end_date"]) - poll_start).total_seconds(), 1
    )
    logger.info("asset chain done: %s", server.timings)
    return Chain(poll_run, process_run, stories_run)
