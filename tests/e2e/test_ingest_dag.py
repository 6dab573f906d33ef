"""The three DAGs for real: Airflow's ``dag.test()`` on SQLite, the sample corpus served on 127.0.0.1, and the
real local Elasticsearch. Nothing is mocked. ``news_poll`` captures and emits the ``news_captures`` asset event,
``news_process`` derives the documents from the archive and emits ``news_articles``, ``news_stories`` groups."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from evaluation.devserver import SampleServer
from ingest.config import PipelineOptions
from ingest.urls import document_id
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MANIFEST = ROOT / "seeds" / "sample" / "manifest.toml"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database (once per session; dag.test() needs it)."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def dag_env(monkeypatch: pytest.MonkeyPatch, pipeline_options: PipelineOptions, airflow_db: None) -> PipelineOptions:
    """Point the DAG's tasks (which read the environment) at the test's server, state, archive and aliases."""
    o = pipeline_options
    env = {
        "NEWS_FEEDS_FEEDS_FILE": str(o.feeds.feeds_file),
        "NEWS_FEEDS_BATCH_SIZE": "3",  # several mapped task instances
        "NEWS_FETCH_ALLOW_HOSTS": "127.0.0.1",
        "NEWS_FETCH_PER_HOST_DELAY": "0",
        "NEWS_STATE_PATH": str(o.state.path),
        "NEWS_ARCHIVE_ROOT": o.archive.root,
        "NEWS_INDEX_ARTICLES_ALIAS": o.index.articles_alias,
        "NEWS_INDEX_STORIES_ALIAS": o.index.stories_alias,
        "NEWS_AIRFLOW_DEADLINES": "0",  # Airflow 3.3.2's dag.test() trips over DeadlineAlerts (see dagkit)
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT": json.dumps(
            {"conn_type": "elasticsearch", "host": "127.0.0.1", "port": 9200}
        ),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return o


def _manifest() -> list[dict[str, Any]]:
    articles: list[dict[str, Any]] = tomllib.loads(MANIFEST.read_text("utf-8"))["article"]
    return articles


def _run_dag(dag_id: str, logical_date: datetime) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    for task in dag.tasks:  # dag.test() would wait out every retry delay; a failure should fail fast here
        task.retries = 0
    return dag.test(logical_date=logical_date)


def _chain(logical_date: datetime) -> tuple[Any, Any, Any]:
    """poll → process → stories, as the scheduler chains them on the asset events."""
    poll = _run_dag("news_poll", logical_date)
    process = _run_dag("news_process", logical_date)
    stories = _run_dag("news_stories", logical_date)
    return poll, process, stories


def _xcom(dag_id: str, run_id: str, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, task_ids=task_id, dag_ids=dag_id, key="return_value")
        ).first()
        assert row is not None, f"no XCom from {dag_id}.{task_id}"
        return XComModel.deserialize_value(row)


def _asset_events(name: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).where(AssetModel.name == name)
        ).all()
        return [dict(r.extra or {}) for r in rows]


def _doc_for(docs: dict[str, dict[str, Any]], by_url: dict[str, dict[str, Any]], url: str) -> Any:
    return docs.get(document_id(url)) or by_url.get(url)


def _all_docs(es: Elasticsearch, alias: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, query={"match_all": {}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def test_dags_index_the_sample_corpus_once(
    dag_env: PipelineOptions, es: Elasticsearch, sample_server: SampleServer
) -> None:
    alias = dag_env.index.articles_alias
    captures_before, articles_before = len(_asset_events("news_captures")), len(_asset_events("news_articles"))
    poll, process, stories = _chain(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    assert (poll.state, process.state, stories.state) == ("success", "success", "success")

    # the capture announced itself with references, not payloads
    (event,) = _asset_events("news_captures")[captures_before:]
    expected = [a for a in _manifest() if a.get("status", 200) == 200]
    assert event["captures"] == len(expected)
    assert event["batch_ids"] and event["window_start"] < event["window_end"]
    assert event["archive"] == dag_env.archive.root
    assert len(_asset_events("news_articles")) == articles_before + 1
    docs = _all_docs(es, alias)

    assert len(expected) >= 20
    by_url = {d["url"]: d for d in docs.values()}
    missing = []
    for article in expected:
        url = sample_server.base_url + article["path"]
        doc = _doc_for(docs, by_url, url)
        if doc is None:
            missing.append(article["path"])
            continue
        assert len(doc["body"]) > 300, article["path"]
        assert doc["language"] == article["language"], article["path"]
        published = datetime.fromisoformat(str(article["published"]))
        assert abs(datetime.fromisoformat(doc["published_at"]) - published) <= timedelta(days=1), article["path"]
        assert doc["outlet"] == article["outlet"], article["path"]
        assert set(article.get("feeds", [])) <= set(doc["feeds"]), article["path"]
        assert doc["story_id"], article["path"]
    assert not missing, f"not indexed: {missing}"

    # The product's promise: the Sony hack, covered over six weeks by five outlets in two languages, is one
    # story, and nothing else is in it (not even the North Korea human-rights story of the same weeks).
    story_of = {a["path"]: _doc_for(docs, by_url, sample_server.base_url + a["path"])["story_id"] for a in expected}
    sony = {story_of[a["path"]] for a in expected if a["story"] == "sony-hack"}
    assert len(sony) == 1, f"the Sony hack is split into {len(sony)} stories"
    intruders = [a["path"] for a in expected if a["story"] != "sony-hack" and story_of[a["path"]] in sony]
    assert not intruders, f"unrelated articles in the Sony story: {intruders}"
    # nothing but the manifest's articles: no boilerplate pages, no duplicates of one article under two ids
    assert len(docs) == len(expected)

    # Every task try left its run metrics: one task document per capture batch, per processing window, and
    # the grouping; skips by reason as their own documents.
    es.indices.refresh(index=dag_env.index.runs)
    tasks = es.search(index=dag_env.index.runs, size=100, query={"term": {"kind": "task"}})["hits"]["hits"]
    by_stage: dict[str, list[dict[str, Any]]] = {}
    for hit in tasks:
        by_stage.setdefault(hit["_source"]["stage"], []).append(hit["_source"])
    assert len(by_stage["capture"]) == len(event["batch_ids"]) == 3  # 8 feeds in batches of 3
    assert sum(d["captures"] for d in by_stage["capture"]) == len(expected)
    assert sum(d["articles_new"] for d in by_stage["process"]) == len(expected)
    assert [d["articles_new"] for d in by_stage["stories"]] == [0] and by_stage["stories"][0]["stories_created"] >= 5
    skips = es.search(index=dag_env.index.runs, size=100, query={"term": {"kind": "skip"}})["hits"]["hits"]
    assert {(h["_source"]["reason"], h["_source"]["count"]) for h in skips} == {("http_404", 1)}

    # The next scheduled poll finds the feeds unchanged: no capture, no asset event, nothing to process.
    again = _run_dag("news_poll", datetime(2026, 11, 20, 12, 15, tzinfo=UTC))
    assert again.state == "success"
    assert len(_asset_events("news_captures")) == captures_before + 1
    sweep = _run_dag("news_process", datetime(2026, 11, 20, 12, 15, tzinfo=UTC))
    assert sweep.state == "success"
    assert _all_docs(es, alias).keys() == docs.keys()
    assert es.count(index=dag_env.index.stories_alias)["count"] >= 1


def test_missing_page_is_skipped_and_recorded(dag_env: PipelineOptions, es: Elasticsearch) -> None:
    """The corpus lists one page that 404s: the run succeeds and the reason is in the run summary."""
    run = _run_dag("news_poll", datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    assert run.state == "success"
    value = _xcom("news_poll", run.run_id, "check")
    missing = [a for a in _manifest() if a.get("status", 200) == 404]
    assert value["skipped"]["page:http_404"] == len(missing) >= 1


def test_a_run_where_every_feed_fails_is_not_green(
    dag_env: PipelineOptions, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Every feed of the file points at a closed loopback port: the run fails its check instead of passing."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    feeds = tmp_path / "dead-feeds.toml"
    feeds.write_text(
        "".join(
            f'[[feed]]\nname = "dead-{i}"\nurl = "http://127.0.0.1:{port}/feed-{i}.xml"\n'
            'language = "en"\ncountry = "GB"\npublisher = "Nobody"\n\n'
            for i in range(3)
        ),
        "utf-8",
    )
    monkeypatch.setenv("NEWS_FEEDS_FEEDS_FILE", str(feeds))
    monkeypatch.setenv("NEWS_FETCH_RETRIES", "0")
    run = _run_dag("news_poll", datetime(2026, 11, 22, 8, 0, tzinfo=UTC))
    assert run.state == "failed"
