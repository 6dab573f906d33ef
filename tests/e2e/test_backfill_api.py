"""What ops do in the Airflow UI, through the REST API v2 of a real ``airflow standalone`` (scheduler, DAG
processor, API server, triggerer; LocalExecutor on SQLite), with the real Elasticsearch and the sample corpus
served on 127.0.0.1 (see ``conftest.py``):

* the asset chain: ``news_poll`` captures and emits ``news_captures``, the scheduler starts ``news_process``
  (``asset_triggered``), which emits ``news_articles``, which starts ``news_stories``;
* backfills of ``news_process`` from the archive, by publish time (a day of 2014, the corpus's dates) after a
  taxonomy change and by capture time (yesterday's captures): same documents, updated in place, no duplicates;
* the plugin: listed by ``/api/v2/plugins``, its extra links on real task instances resolve to Kibana Discover
  URLs for the task's window, and its page lists stories and feed health.

Nothing is mocked.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from tests.e2e.conftest import KIBANA_URL, PAGE_FETCHED_AT, YESTERDAY, Chain, Env
from tests.kibana_state import kibana_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _docs(es: Elasticsearch, alias: str) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=1000, query={"match_all": {}}, source_excludes=["embedding", "body"])
    return {h["_id"]: h["_source"] for h in hits["hits"]["hits"]}


def _count(es: Elasticsearch, alias: str) -> int:
    es.indices.refresh(index=alias)
    return int(es.count(index=alias)["count"])


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- the asset chain ----------------------------------------------------------------------------------------


def test_asset_events_chain_poll_process_stories(standalone: Env, chain: Chain, es: Elasticsearch) -> None:
    server, corpus = standalone.server, standalone.corpus
    assert server.call("GET", "/api/v2/importErrors")["total_entries"] == 0

    # news_poll emitted one news_captures event, with references (window, count, batches, archive), no payload
    (captured,) = server.asset_events("news_captures")
    extra = captured["extra"]
    assert captured["source_dag_id"] == "news_poll" and captured["source_task_id"] == "announce"
    assert extra["captures"] == len(corpus.expected)
    assert extra["archive"] == str(corpus.archive_root)
    assert extra["batch_ids"] and extra["window_start"] < extra["window_end"]
    # ... which started news_process, asset-triggered, after the event
    process = chain.process_run
    assert process["run_type"] == "asset_triggered" and process["state"] == "success"
    assert process["dag_run_id"] in {r["run_id"] for r in captured["created_dagruns"]}
    assert _ts(captured["timestamp"]) <= _ts(process["start_date"])
    specs = server.xcom("news_process", process["dag_run_id"], "plan")
    assert sorted(b for s in specs for b in s["batch_ids"]) == sorted(extra["batch_ids"])
    summary = server.xcom("news_process", process["dag_run_id"], "check")
    assert summary["created"] == len(corpus.expected), summary

    # news_process emitted news_articles, which started news_stories, asset-triggered, after it
    (indexed,) = [e for e in server.asset_events("news_articles") if e["source_run_id"] == process["dag_run_id"]]
    assert indexed["extra"]["created"] == len(corpus.expected)
    stories = chain.stories_run
    assert stories["run_type"] == "asset_triggered" and stories["state"] == "success"
    assert stories["dag_run_id"] in {r["run_id"] for r in indexed["created_dagruns"]}
    assert _ts(process["start_date"]) < _ts(indexed["timestamp"]) <= _ts(stories["start_date"])
    grouped = server.xcom("news_stories", stories["dag_run_id"], "group")
    assert grouped["assigned"] == len(corpus.expected) and grouped["new_stories"] >= 1, grouped

    # a poll that finds nothing new announces nothing: the other poll run (scheduled on unpause) emitted nothing
    polls = server.runs("news_poll")
    assert len(polls) >= 2 and all(r["state"] == "success" for r in polls), polls

    docs = _docs(es, standalone.articles_alias)
    assert sorted(docs) == sorted(corpus.expected), "the articles are not exactly the corpus's good pages"
    assert all(d["story_id"] for d in docs.values())
    assert 1 <= _count(es, standalone.stories_alias) < len(docs), "related coverage should share stories"


def test_news_poll_refuses_backfills(standalone: Env) -> None:
    body = {
        "dag_id": "news_poll",
        "from_date": YESTERDAY.isoformat(),
        "to_date": YESTERDAY.isoformat(),
        "run_backwards": False,
        "dag_run_conf": {},
        "reprocess_behavior": "none",
        "max_active_runs": 1,
    }
    response = standalone.server.client.post("/api/v2/backfills/dry_run", json=body)
    assert response.status_code >= 400, response.text
    assert "does not allow backfill" in response.text, response.text


# --- backfills ---------------------------------------------------------------------------------------------


def _backfill_body(day: datetime, window_by: str, reprocess: str) -> dict[str, Any]:
    return {
        "dag_id": "news_process",
        "from_date": day.isoformat(),
        "to_date": day.isoformat(),  # inclusive: one run for one day
        "run_backwards": False,
        "dag_run_conf": {"window_by": window_by},
        "reprocess_behavior": reprocess,
        "max_active_runs": 1,
    }


def _dry_run(standalone: Env, body: dict[str, Any]) -> list[datetime]:
    dry = standalone.server.call("POST", "/api/v2/backfills/dry_run", json=body)
    return [_ts(r["logical_date"]) for r in dry["backfills"]]


def test_backfills_rederive_the_archive_in_place(standalone: Env, chain: Chain, es: Elasticsearch) -> None:
    server, corpus, alias = standalone.server, standalone.corpus, standalone.articles_alias
    before = _docs(es, alias)
    assert sorted(before) == sorted(corpus.expected)
    stories_before = _count(es, standalone.stories_alias)
    doc_versions = {d["taxonomy_version"] for d in before.values()}
    assert len(doc_versions) == 1, doc_versions
    old_doc_version = doc_versions.pop()

    # the analyst bumps the taxonomy (the standalone's tasks read NEWS_TAGGING_TAXONOMY_PATH); documents record
    # "<taxonomy version>+entities.<gazetteer version>"
    text = corpus.taxonomy.read_text("utf-8")
    match = re.search(r'(?m)^version = "(.*)"$', text)
    assert match, "no version in the taxonomy"
    bumped = f"{match.group(1)}-e2e.{int(time.time())}"
    corpus.taxonomy.write_text(text[: match.start(1)] + bumped + text[match.end(1) :], "utf-8")
    new_version = old_doc_version.replace(match.group(1), bumped, 1)
    assert new_version != old_doc_version, old_doc_version

    # --- by publish time: the 2014 day with the most articles ------------------------------------------------
    days = Counter(_ts(d["published_at"]).astimezone(UTC).date() for d in before.values() if d.get("published_at"))
    day = datetime.combine(days.most_common(1)[0][0], datetime.min.time(), tzinfo=UTC)
    on_day = {
        i
        for i, d in before.items()
        if d.get("published_at") and day <= _ts(d["published_at"]) < day + timedelta(days=1)
    }
    assert len(on_day) >= 2, days
    body = _backfill_body(day, "publish", "none")
    assert _dry_run(standalone, body) == [day], "an inclusive one-day range is one run"
    backfill, wall = server.backfill(body)
    server.timings["backfill_publish_day_s"] = round(wall, 1)
    (run,) = backfill["runs"]
    assert run["state"] == "success" and run["run_type"] == "backfill", run
    assert (_ts(run["data_interval_start"]), _ts(run["data_interval_end"])) == (day, day + timedelta(days=1))
    specs = server.xcom("news_process", run["dag_run_id"], "plan")
    assert {s["by"] for s in specs} == {"publish"} and len(specs) == 4, specs  # 6-hour chunks, mapped
    summary = server.xcom("news_process", run["dag_run_id"], "check")
    assert summary["updated"] == len(on_day) and summary["created"] == 0, summary

    after = _docs(es, alias)
    assert sorted(after) == sorted(before), "a backfill must not add or lose documents"
    for doc_id, doc in after.items():
        assert doc["taxonomy_version"] == (new_version if doc_id in on_day else before[doc_id]["taxonomy_version"])
        assert doc["story_id"] == before[doc_id]["story_id"], "re-deriving must keep the story assignment"

    # --- by capture time: yesterday's captures ----------------------------------------------------------------
    # news_process's daily sweep already ran for yesterday (it started when the DAG was unpaused), so
    # "Missing Runs" plans nothing: re-deriving a day that has a run takes "All Runs".
    assert _dry_run(standalone, _backfill_body(YESTERDAY, "capture", "none")) == []
    body = _backfill_body(YESTERDAY, "capture", "completed")
    assert _dry_run(standalone, body) == [YESTERDAY]
    backfill, wall = server.backfill(body)
    server.timings["backfill_capture_day_s"] = round(wall, 1)
    (run,) = backfill["runs"]
    assert run["state"] == "success" and run["run_type"] == "backfill", run
    summary = server.xcom("news_process", run["dag_run_id"], "check")
    assert summary["pages_read"] == len(corpus.expected), summary
    assert summary["created"] == 0 and summary["updated"] == len(corpus.expected), summary

    final = _docs(es, alias)
    assert sorted(final) == sorted(before)
    assert _count(es, alias) == len(corpus.expected), "duplicates"
    urls = Counter(d["url"] for d in final.values())
    assert max(urls.values()) == 1, urls.most_common(3)
    for doc_id, doc in final.items():
        assert doc["taxonomy_version"] == new_version, doc_id
        assert _ts(doc["fetched_at"]) == PAGE_FETCHED_AT, "built from yesterday's capture"
        assert str(corpus.archive_root) in doc["archive"]["warc_path"]
        assert doc["story_id"] == before[doc_id]["story_id"]
        assert doc["feeds"] == before[doc_id]["feeds"]
    # the backfill's news_articles events regrouped nothing new
    assert _count(es, standalone.stories_alias) == stories_before


# --- the plugin ----------------------------------------------------------------------------------------------


def _links(standalone: Env, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
    links: dict[str, Any] = standalone.server.call(
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links",
        params={"map_index": map_index},
    )["extra_links"]
    return links


def _state(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    assert url.startswith(f"{KIBANA_URL}/app/discover#/?_g="), url
    path, g, a = kibana_state(url)
    assert path == "/kibana-e2e/app/discover"
    return g, a


def _instant(value: str) -> str:
    return _ts(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{_ts(value).microsecond // 1000:03d}Z"


def test_plugin_is_listed_and_its_links_resolve_to_kibana(standalone: Env, chain: Chain) -> None:
    server = standalone.server
    plugins = server.call("GET", "/api/v2/plugins")["plugins"]
    (plugin,) = [p for p in plugins if p["name"] == "news_ingest"]
    assert plugin["source"] == "$PLUGINS_FOLDER/news_airflow/plugin.py"
    assert [v["href"] for v in plugin["external_views"]] == ["/news-ingest/"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/news-ingest"]
    assert len(plugin["global_operator_extra_links"]) == 2
    assert server.call("GET", "/api/v2/plugins/importErrors")["total_entries"] == 0

    # news_process.process[0]: the spec it derived, by capture time
    process_id = chain.process_run["dag_run_id"]
    spec = server.xcom("news_process", process_id, "plan")[0]
    links = _links(standalone, "news_process", process_id, "process", 0)
    assert set(links) == {"Kibana: articles", "Kibana: stories"}
    _, a = _state(links["Kibana: articles"])
    assert a["dataSource"]["dataViewId"] == "news-articles"
    assert a["query"]["query"] == f'fetched_at:["{_instant(spec["start"])}" TO "{_instant(spec["end"])}"}}'
    _, a = _state(links["Kibana: stories"])
    assert a["dataSource"]["dataViewId"] == "news-stories"
    assert a["query"]["query"].startswith("updated_at:[")

    # news_poll.capture[0] of the run that captured: its capture window
    poll_id = chain.poll_run["dag_run_id"]
    report = server.xcom("news_poll", poll_id, "capture", 0)
    _, a = _state(_links(standalone, "news_poll", poll_id, "capture", 0)["Kibana: articles"])
    assert a["query"]["query"] == (
        f'fetched_at:["{_instant(report["window_start"])}" TO "{_instant(report["window_end"])}"]'
    )
    # news_stories.group: what the run assigned
    stories_id = chain.stories_run["dag_run_id"]
    _, a = _state(_links(standalone, "news_stories", stories_id, "group")["Kibana: articles"])
    assert a["query"]["query"].startswith(f'story_assigned_at:["{_instant(chain.stories_run["start_date"])}" TO ')


def test_plugin_page_lists_stories_and_feed_health(standalone: Env, chain: Chain, es: Elasticsearch) -> None:
    server = standalone.server
    es.indices.refresh(index=standalone.stories_alias)
    top = es.search(index=standalone.stories_alias, size=1, sort=[{"last_seen": "desc"}])["hits"]["hits"][0]
    page = server.client.get("/news-ingest/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="stories-table"' in page.text and 'id="feeds-table"' in page.text
    assert "Stories are unavailable" not in page.text and "Feed health is unavailable" not in page.text
    data = server.call("GET", "/news-ingest/overview.json")
    assert data["stories"][0]["story_id"] == top["_source"]["story_id"]
    if len(data["stories"]) < 25:  # the page lists the latest 25
        assert sum(s["article_count"] for s in data["stories"]) == len(standalone.corpus.expected)
    assert sorted(f["name"] for f in data["feeds"]) == standalone.corpus.feed_names
    assert {f["status"] for f in data["feeds"]} == {"ok"}, data["feeds"]
    # without the session the page is not served
    assert server.client.get("/news-ingest/", headers={"Authorization": ""}).status_code == 401
