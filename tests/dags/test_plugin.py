"""The Airflow plugin: loaded by Airflow's own plugin manager, cheap to import, Kibana URLs that Kibana can parse,
links only for this project's DAGs, and a page that says clearly what is unavailable."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.kibana_state import kibana_state, rison_decode

pytestmark = pytest.mark.dags


# --- rison and Discover URLs ------------------------------------------------------------------------------------


def test_rison_matches_kibanas_own_encoding() -> None:
    from news_airflow.kibana import rison

    # kibana_utils set_state_to_kbn_url.test.ts snapshot
    state = {"testStr": "123", "testNumber": 0, "testObj": {"test": "123"}, "testNull": None, "testArray": [1, 2, {}]}
    assert rison(state) == "(testArray:!(1,2,()),testNull:!n,testNumber:0,testObj:(test:'123'),testStr:'123')"
    assert rison({"f": "test", "i": "", "l": ""}) == "(f:test,i:'',l:'')"
    assert rison("it's ok!") == "'it!'s ok!!'"
    assert rison([True, False, "now-15m"]) == "!(!t,!f,now-15m)"
    for value in [state, "a b:c", {"q": 'fetched_at:["2026-12-01T10:00:00.000Z" TO *]'}, [1.5, -2]]:
        assert rison_decode(rison(value)) == value  # type: ignore[arg-type]


def test_discover_url_parses_back_to_the_window_and_query() -> None:
    from news_airflow import kibana

    view = kibana.articles_by_capture("2026-12-01T10:00:00+00:00", "2026-12-01T16:00:00+00:00", ["bbc-world", 'a "b"'])
    url = view.url("http://127.0.0.1:5601/kb/")
    assert url.startswith("http://127.0.0.1:5601/kb/app/discover#/?_g=")
    assert " " not in url and '"' not in url
    path, g, a = kibana_state(url)
    assert path == "/kb/app/discover"
    assert g["time"] == {"from": "now-30y", "to": "now+1d"}
    assert a["dataSource"] == {"dataViewId": "news-articles", "type": "dataView"}
    assert a["query"] == {
        "language": "lucene",
        "query": 'fetched_at:["2026-12-01T10:00:00.000Z" TO "2026-12-01T16:00:00.000Z"} '
        'AND feeds:("bbc-world" OR "a \\"b\\"")',
    }
    assert a["sort"] == [["fetched_at", "desc"]]

    by_publish = kibana.articles_by_publish("2014-12-19T00:00:00+00:00", "2014-12-20T00:00:00+00:00")
    _, g, a = kibana_state(by_publish.url("http://kibana:5601"))
    assert g["time"] == {"from": "2014-12-19T00:00:00.000Z", "to": "2014-12-20T00:00:00.000Z"}
    assert a["query"]["query"] == ""


def test_kibana_base_url_from_environment_then_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from news_airflow.kibana import kibana_base_url

    monkeypatch.delenv("NEWS_KIBANA_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__NEWS_INGEST__KIBANA_URL", raising=False)
    assert kibana_base_url() == "http://127.0.0.1:5601"
    monkeypatch.setenv("AIRFLOW__NEWS_INGEST__KIBANA_URL", "http://127.0.0.1:5602/")
    assert kibana_base_url() == "http://127.0.0.1:5602"
    monkeypatch.setenv("NEWS_KIBANA_URL", "http://127.0.0.1:5603/kibana")
    assert kibana_base_url() == "http://127.0.0.1:5603/kibana"


# --- which view each task instance links to ------------------------------------------------------------------

RUN_START = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)
RUN_END = datetime(2026, 12, 1, 10, 2, 0, tzinfo=UTC)


def _spec(by: str, start: str, end: str, feeds: list[str] | None = None) -> dict[str, Any]:
    return {"by": by, "start": start, "end": end, "feeds": feeds or [], "batch_ids": [], "stages": []}


def _query(view: Any) -> str:
    return str(kibana_state(view.url("http://k"))[2]["query"]["query"])


def test_process_links_follow_the_mapped_spec() -> None:
    from news_airflow.links import TaskFacts, articles_view, stories_view

    specs = [
        _spec("publish", "2014-12-19T00:00:00+00:00", "2014-12-19T06:00:00+00:00"),
        _spec("publish", "2014-12-19T06:00:00+00:00", "2014-12-19T12:00:00+00:00"),
    ]
    one = TaskFacts("news_process", "process", 1, RUN_START, RUN_END, specs)
    _, g, _ = kibana_state(articles_view(one).url("http://k"))  # type: ignore[union-attr]
    assert g["time"] == {"from": "2014-12-19T06:00:00.000Z", "to": "2014-12-19T12:00:00.000Z"}
    whole = TaskFacts("news_process", "check", -1, RUN_START, RUN_END, specs)
    _, g, _ = kibana_state(articles_view(whole).url("http://k"))  # type: ignore[union-attr]
    assert g["time"] == {"from": "2014-12-19T00:00:00.000Z", "to": "2014-12-19T12:00:00.000Z"}
    assert 'first_seen:[* TO "2014-12-19T12:00:00.000Z"}' in _query(stories_view(whole))

    capture = TaskFacts(
        "news_process",
        "process",
        0,
        RUN_START,
        None,
        [_spec("capture", "2026-12-01T00:00:00+00:00", "2026-12-01T06:00:00+00:00", ["f1"])],
    )
    assert _query(articles_view(capture)) == (
        'fetched_at:["2026-12-01T00:00:00.000Z" TO "2026-12-01T06:00:00.000Z"} AND feeds:("f1")'
    )
    assert _query(stories_view(capture)) == 'updated_at:["2026-12-01T10:00:05.000Z" TO *]'
    # a mapped index the plan does not have (yet): no link rather than a wrong one
    assert articles_view(TaskFacts("news_process", "process", 5, RUN_START, None, specs)) is None
    assert articles_view(TaskFacts("news_process", "plan", -1, RUN_START)) is None


def test_poll_and_stories_links() -> None:
    from news_airflow.links import TaskFacts, articles_view, stories_view

    captures = {
        0: {"window_start": "2026-12-01T10:00:01+00:00", "window_end": "2026-12-01T10:00:09+00:00"},
        1: {"window_start": "", "window_end": ""},  # captured nothing
        2: {"window_start": "2026-12-01T10:00:02+00:00", "window_end": "2026-12-01T10:00:20+00:00"},
    }
    assert _query(articles_view(TaskFacts("news_poll", "capture", 0, RUN_START, RUN_END, captures=captures))) == (
        'fetched_at:["2026-12-01T10:00:01.000Z" TO "2026-12-01T10:00:09.000Z"]'
    )
    assert articles_view(TaskFacts("news_poll", "capture", 1, RUN_START, RUN_END, captures=captures)) is None
    assert _query(articles_view(TaskFacts("news_poll", "check", -1, RUN_START, RUN_END, captures=captures))) == (
        'fetched_at:["2026-12-01T10:00:01.000Z" TO "2026-12-01T10:00:20.000Z"]'
    )
    group = TaskFacts("news_stories", "group", -1, RUN_START, RUN_END)
    assert (
        _query(articles_view(group)) == 'story_assigned_at:["2026-12-01T10:00:05.000Z" TO "2026-12-01T10:02:00.000Z"]'
    )
    _, _, a = kibana_state(stories_view(group).url("http://k"))  # type: ignore[union-attr]
    assert a["dataSource"]["dataViewId"] == "news-stories"
    assert a["query"]["query"] == 'updated_at:["2026-12-01T10:00:05.000Z" TO "2026-12-01T10:02:00.000Z"]'


def test_links_are_empty_for_other_dags() -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey

    from news_airflow.links import KibanaArticlesLink, KibanaStoriesLink

    key = TaskInstanceKey(dag_id="someone_elses_dag", task_id="t", run_id="r", try_number=1, map_index=-1)
    for link in (KibanaArticlesLink(), KibanaStoriesLink()):
        assert link.get_link(None, ti_key=key) == ""  # type: ignore[arg-type]


# --- the plugin as Airflow loads it ----------------------------------------------------------------------------


def test_airflow_loads_the_plugin_from_the_plugins_folder() -> None:
    """In a fresh interpreter, as every Airflow component does: one plugin, no import errors, and nothing heavy
    imported with it (the page's FastAPI app, Elasticsearch and the pipeline load on the first request)."""
    code = (
        "import sys, json\n"
        "from airflow import plugins_manager as pm\n"
        "plugins, errors = pm._get_plugins()\n"
        "info = pm.get_plugin_info()\n"
        "heavy = [m for m in ('elasticsearch', 'ingest.pipeline', 'ingest.state', 'trafilatura') if m in sys.modules]\n"
        "print(json.dumps({'errors': errors, 'heavy': heavy, 'info': info}, default=str))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=180, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["errors"] == {}
    assert out["heavy"] == [], out["heavy"]
    (plugin,) = out["info"]
    assert plugin["name"] == "news_ingest"
    assert plugin["fastapi_apps"] == [
        {"app": "news_airflow.page.LazyApp", "url_prefix": "/news-ingest", "name": "News ingest"}
    ]
    assert [v["href"] for v in plugin["external_views"]] == ["/news-ingest/"]
    assert len(plugin["global_operator_extra_links"]) == 2


# --- the page ------------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _options(tmp_path: Path, es_url: str) -> Any:
    from dataclasses import replace

    from ingest.config import PipelineOptions

    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        '[[feed]]\nname = "good-feed"\nurl = "http://127.0.0.1:1/good.xml"\nlanguage = "en"\ncountry = "GB"\n'
        'publisher = "Good News"\n\n'
        '[[feed]]\nname = "bad-feed"\nurl = "http://127.0.0.1:1/bad.xml"\nlanguage = "de"\ncountry = "DE"\n'
        'publisher = "Bad <News>"\n\n'
        '[[feed]]\nname = "new-feed"\nurl = "http://127.0.0.1:1/new.xml"\nlanguage = "en"\ncountry = "US"\n'
        'publisher = "New"\n',
        "utf-8",
    )
    base = PipelineOptions()
    return replace(
        base,
        feeds=replace(base.feeds, feeds_file=feeds),
        state=replace(base.state, path=tmp_path / "state.sqlite"),
        index=replace(base.index, es_url=es_url, stories_alias="test-page-none-stories"),
    )


def test_page_lists_feed_health_and_says_when_elasticsearch_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.fetching import Response
    from ingest.state import StateStore
    from news_airflow.page import collect, render

    monkeypatch.delenv("AIRFLOW_CONN_ELASTICSEARCH_DEFAULT", raising=False)
    options = _options(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    ok = Response(url="http://127.0.0.1:1/good.xml", final_url="http://127.0.0.1:1/good.xml", status=200,
                  headers={}, content=b"<rss/>", fetched_at=now, kind="feed")  # fmt: skip
    with StateStore(options.state) as store:
        store.record_success("http://127.0.0.1:1/good.xml", ok, content_hash="h", ttl_seconds=None, now=now)
        for _ in range(3):
            store.record_failure("http://127.0.0.1:1/bad.xml", "http_503", now=now)
    overview = collect(options)
    assert "unreachable" in overview.stories_error, overview.stories_error
    assert [(f.name, f.status) for f in overview.feeds] == [
        ("bad-feed", "backing off"),
        ("new-feed", "not polled yet"),
        ("good-feed", "ok"),
    ]
    html = render(overview)
    assert 'role="alert" id="stories-error">Stories are unavailable' in html
    assert "Bad &lt;News&gt;" in html  # escaped
    assert "http_503" in html and 'id="feeds-table"' in html


def test_page_renders_with_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad NEWS_* value is shown in both sections instead of a 500 page."""
    from news_airflow.page import collect, render

    monkeypatch.setenv("NEWS_INDEX_ES_URL", "127.0.0.1:9200")
    overview = collect()
    assert "NEWS_INDEX_ES_URL='127.0.0.1:9200' is not an Elasticsearch URL" in overview.stories_error
    assert overview.feeds_error == overview.stories_error
    assert "Feed health is unavailable: NEWS_INDEX_ES_URL=" in render(overview)


def test_page_renders_stories(tmp_path: Path) -> None:
    from news_airflow.page import Overview, StoryRow, render

    story = StoryRow("s1", "Sony <hack>", 7, ["de", "en"], ["BBC", "Spiegel"], ["cyberattack"], "2014-11-24 00:00 UTC",
                     "2014-12-19 00:00 UTC", "http://k/app/discover#/?_g=()&_a=(x:'1')")  # fmt: skip
    html = render(Overview("now", "a", "s", "state", stories=[story], feeds_error="cannot open state store"))
    assert "Sony &lt;hack&gt;" in html and ">7<" in html and "de, en" in html and "BBC, Spiegel" in html
    assert "Feed health is unavailable: cannot open state store" in html
    assert "_a=(x:&#39;1&#39;)" in html


def test_page_requires_a_logged_in_user() -> None:
    from fastapi.testclient import TestClient

    from news_airflow.page import build_app

    with TestClient(build_app()) as client:
        assert client.get("/").status_code == 401
        assert client.get("/overview.json").status_code == 401


def test_mapped_process_tasks_are_named_by_their_window() -> None:
    from news_airflow.dagkit import window_label

    day = {"by": "capture", "start": "2026-12-02T00:00:00+00:00", "end": "2026-12-02T06:00:00+00:00"}
    assert window_label(day) == "capture 2026-12-02T00:00 → 2026-12-02T06:00"
    # an asset-triggered run derives a capture seconds long: "02:59 → 02:59" said nothing
    short = {"by": "capture", "start": "2026-12-02T02:59:39.03+00:00", "end": "2026-12-02T02:59:52.5+00:00"}
    assert window_label(short) == "capture 2026-12-02T02:59:39 → 2026-12-02T02:59:52"
