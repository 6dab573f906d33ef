"""The Kibana saved objects: the committed NDJSON is the generator's output, the product has what analysts need,
and the offline validator catches what Kibana 9.2.8's import would refuse (each check proven to fail on a broken
copy). Against the real Elasticsearch: tests/integration/test_kibana.py."""

from __future__ import annotations

import json
import threading
import tomllib
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest.mock import patch

import pytest

from ingest.config import IndexOptions
from ingest.errors import ConfigurationError
from ingest.kibana import NDJSON_PATH, generate, load_ndjson, problems, saved_objects
from ingest.kibana.__main__ import import_objects
from ingest.kibana.content import DEMO_START, SONY_QUERY, STORY_URL
from ingest.kibana.objects import Reference, SavedObject
from ingest.kibana.validate import field_uses, lucene_fields, queries
from ingest.kibana.versions import GENERATED_VERSIONS, TYPE_VERSIONS, parse_version
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SEARCH_TITLES = {
    "Cyberattacks",
    "Geopolitics",
    "Cyber × geopolitics",
    "Duplicates hidden",
    "German coverage",
    "Sony Pictures hack (2014)",
}


def _by_title(objects: list[SavedObject], kind: str) -> dict[str, SavedObject]:
    return {o.title: o for o in objects if o.type == kind}


def _with_attr(obj: SavedObject, **changes: Any) -> SavedObject:
    return replace(obj, attributes={**obj.attributes, **changes})


def _swap(objects: list[SavedObject], new: SavedObject) -> list[SavedObject]:
    return [new if o.key == new.key else o for o in objects]


def test_committed_ndjson_is_the_generators_output() -> None:
    assert NDJSON_PATH.read_text(encoding="utf-8") == generate(), "run `make kibana-objects`"
    assert [o.key for o in load_ndjson()] == [o.key for o in saved_objects()]


def test_generated_objects_validate() -> None:
    assert problems(saved_objects()) == []
    assert problems(load_ndjson()) == []


def test_generated_versions_are_at_or_below_kibana_9_2_8() -> None:
    for kind, version in GENERATED_VERSIONS.items():
        assert parse_version(version) <= parse_version(TYPE_VERSIONS[kind].newest), kind
    for line in NDJSON_PATH.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        assert raw["coreMigrationVersion"] == "8.8.0"
        assert raw["typeMigrationVersion"] == GENERATED_VERSIONS[raw["type"]]


def test_data_views_time_fields_and_formats() -> None:
    views = {o.id: o.attributes for o in saved_objects() if o.type == "index-pattern"}
    assert {k: v["timeFieldName"] for k, v in views.items()} == {
        "news-articles": "published_at",
        "news-stories": "last_seen",
        "news-runs": "started_at",
    }
    articles = json.loads(views["news-articles"]["fieldFormatMap"])
    for name in ("url", "canonical_url", "source_urls"):
        assert articles[name]["id"] == "url"
    story = articles["story_id"]
    assert story["id"] == "url" and story["params"]["urlTemplate"] == STORY_URL
    assert json.loads(views["news-stories"]["fieldFormatMap"])["story_id"] == story
    # the link opens Discover on the story's articles over a range that includes the 2014 demo data
    assert STORY_URL.startswith("/app/discover#/")
    assert "query:'story_id:\"{{value}}\"'" in STORY_URL and "dataViewId:news-articles" in STORY_URL
    assert f"from:'{DEMO_START}'" in STORY_URL
    assert json.loads(views["news-articles"]["fieldAttrs"])["story_title"] == {"customLabel": "Story"}


def test_custom_aliases_become_data_view_titles() -> None:
    index = IndexOptions(articles_alias="x-articles", stories_alias="x-stories")
    titles = {o.id: o.attributes["title"] for o in saved_objects(index) if o.type == "index-pattern"}
    assert titles == {"news-articles": "x-articles", "news-stories": "x-stories", "news-runs": "x-runs"}
    assert problems(saved_objects(index), index) == []


def test_saved_searches_are_lucene_with_a_time_range() -> None:
    searches = _by_title(saved_objects(), "search")
    assert set(searches) == SEARCH_TITLES
    for search in searches.values():
        source = json.loads(search.attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["query"]["language"] == "lucene"
        assert search.attributes["timeRestore"] is True
        assert search.attributes["timeRange"] == {"from": DEMO_START, "to": "now"}
        assert "story_title" in search.attributes["columns"]
        if search.title != "Duplicates hidden":
            assert "NOT is_duplicate:true" in source["query"]["query"]
    sony = json.loads(searches["Sony Pictures hack (2014)"].attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert sony["query"]["query"] == SONY_QUERY


def test_dashboards_and_their_time_ranges() -> None:
    objects = saved_objects()
    boards = _by_title(objects, "dashboard")
    assert set(boards) == {"Stories", "Pipeline health"}
    by_key = {o.key: o for o in objects}
    stories = boards["Stories"].attributes
    assert (stories["timeRestore"], stories["timeFrom"], stories["timeTo"]) == (True, DEMO_START, "now")
    manifest = tomllib.loads((ROOT / "seeds" / "sample" / "manifest.toml").read_text(encoding="utf-8"))["article"]
    first = min(datetime.fromisoformat(a["published"]) for a in manifest)
    assert datetime.fromisoformat(DEMO_START.replace("Z", "+00:00")) <= first, "the demo corpus must be in range"
    health = boards["Pipeline health"].attributes
    assert (health["timeRestore"], health["timeFrom"], health["timeTo"]) == (True, "now-7d", "now")
    titles = {b: {by_key[f"{r.type}:{r.id}"].title for r in boards[b].references} for b in boards}
    assert {
        "Articles over time by tag",
        "Articles over time by language",
        "Top stories",
        "Top entities",
        "Subtopics",
    } <= titles["Stories"]
    assert {
        "Task runs by status",
        "Skips by reason",
        "Failing feeds",
        "Feed polls: 304 share",
        "Task durations by stage",
    } <= titles["Pipeline health"]
    health_views = {r.id for b in boards["Pipeline health"].references for r in by_key[f"{b.type}:{b.id}"].references}
    assert health_views == {"news-runs"}


def test_top_stories_show_names_and_counts() -> None:
    lens = _by_title(saved_objects(), "lens")["Top stories"]
    columns = lens.attributes["state"]["datasourceStates"]["formBased"]["layers"]["layer1"]["columns"]
    ops = {(c["operationType"], c.get("sourceField")) for c in columns.values()}
    assert ("terms", "story_title.keyword") in ops and ("unique_count", "outlet") in ops
    assert ("unique_count", "language") in ops and ("count", "___records___") in ops


def test_field_uses_and_queries_are_extracted() -> None:
    uses = {(u.view_id, u.field, u.aggregated) for u in field_uses(saved_objects())}
    assert ("news-articles", "tags", True) in uses
    assert ("news-runs", "reason", True) in uses
    assert ("news-articles", "body", False) in uses  # named in the Sony query
    found = {q.title: q for q in queries(saved_objects())}
    assert found["Sony Pictures hack (2014)"].query == SONY_QUERY
    assert found["Skips by reason"].view_id == "news-runs"
    assert lucene_fields('tags:cyberattack AND (title:"a b:c" OR NOT x.y:1)') == {"tags", "title", "x.y"}


# --- the validator fails on what Kibana would refuse ---------------------------------------------------


def _first(objects: list[SavedObject], kind: str) -> SavedObject:
    return next(o for o in objects if o.type == kind)


def test_validator_rejects_a_repeated_object() -> None:
    objects = saved_objects()
    assert any("repeated type:id" in p for p in problems([*objects, objects[0]]))


@pytest.mark.parametrize(("kind", "version"), [("dashboard", "10.4.0"), ("search", "10.8.0"), ("lens", "10.2.0")])
def test_validator_rejects_a_version_newer_than_kibana_9_2_8(kind: str, version: str) -> None:
    objects = saved_objects()
    bad = replace(_first(objects, kind), type_version=version)
    assert any("newer than Kibana 9.2.8" in p for p in problems(_swap(objects, bad)))


def test_validator_rejects_a_newer_core_version() -> None:
    objects = saved_objects()
    bad = replace(objects[0], core_version="9.3.0")
    assert any("coreMigrationVersion" in p for p in problems(_swap(objects, bad)))


def test_validator_rejects_a_dangling_reference() -> None:
    objects = saved_objects()
    search = _first(objects, "search")
    bad = replace(search, references=(Reference(search.references[0].name, "index-pattern", "no-such-view"),))
    found = problems(_swap(objects, bad))
    assert any("does not resolve" in p for p in found)


def test_validator_rejects_an_unknown_or_text_field_in_a_visualisation() -> None:
    objects = saved_objects()
    lens = _by_title(objects, "lens")["Top entities"]
    state = json.loads(json.dumps(lens.attributes["state"]))
    column = state["datasourceStates"]["formBased"]["layers"]["layer1"]["columns"]["ent"]
    column["sourceField"] = "no_such_field"
    assert any("'no_such_field' is not in" in p for p in problems(_swap(objects, _with_attr(lens, state=state))))
    column["sourceField"] = "title"  # text: not aggregatable
    assert any(
        "'title' (text) is not aggregatable" in p for p in problems(_swap(objects, _with_attr(lens, state=state)))
    )


def test_validator_rejects_an_attribute_the_schema_forbids() -> None:
    objects = saved_objects()
    search = _first(objects, "search")
    assert any("'tabs' is not in the search schema" in p for p in problems(_swap(objects, _with_attr(search, tabs=[]))))


def test_validator_rejects_overlapping_panels_and_bad_time_ranges() -> None:
    objects = saved_objects()
    board = _by_title(objects, "dashboard")["Stories"]
    panels = json.loads(board.attributes["panelsJSON"])
    panels[1]["gridData"]["x"] = 0
    found = problems(_swap(objects, _with_attr(board, panelsJSON=json.dumps(panels), timeFrom="last tuesday")))
    assert any("overlap" in p for p in found)
    assert any("time range" in p for p in found)


def test_validator_rejects_inconsistent_lens_layers() -> None:
    objects = saved_objects()
    lens = _by_title(objects, "lens")["Top stories"]
    state = json.loads(json.dumps(lens.attributes["state"]))
    state["visualization"]["columns"].append({"columnId": "ghost"})
    state["datasourceStates"]["formBased"]["layers"]["layer1"]["columnOrder"].pop()
    found = problems(_swap(objects, _with_attr(lens, state=state)))
    assert any("unknown column 'ghost'" in p for p in found)
    assert any("columnOrder" in p for p in found)


def test_validator_rejects_an_unknown_field_in_a_saved_query() -> None:
    objects = saved_objects()
    search = _first(objects, "search")
    source = json.loads(search.attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
    source["query"]["query"] = "tag:cyberattack"  # the field is `tags`
    meta = {"searchSourceJSON": json.dumps(source)}
    assert any("'tag' is not in" in p for p in problems(_swap(objects, _with_attr(search, kibanaSavedObjectMeta=meta))))


# --- the import the compose kibana-setup service runs --------------------------------------------------------


class _FakeKibana(ThreadingHTTPServer):
    """Answers POST /api/saved_objects/_import like Kibana: 400 without kbn-xsrf, else what ``reply`` says."""

    def __init__(self, replies: list[tuple[int, dict[str, Any]]]) -> None:
        super().__init__(("127.0.0.1", 0), _KibanaHandler)
        self.replies = replies
        self.requests: list[tuple[str, dict[str, str], bytes]] = []


class _KibanaHandler(BaseHTTPRequestHandler):
    server: _FakeKibana

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        status, reply = (
            (400, {"message": "missing kbn-xsrf"}) if "kbn-xsrf" not in self.headers else self.server.replies.pop(0)
        )
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None


def _serve(replies: list[tuple[int, dict[str, Any]]]) -> _FakeKibana:
    server = _FakeKibana(replies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_import_posts_the_ndjson_with_the_headers_kibana_needs() -> None:
    server = _serve(
        [(503, {"message": "Kibana server is not ready yet"}), (200, {"success": True, "successCount": 24})]
    )
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with patch("ingest.kibana.__main__.time.sleep"):
            assert import_objects(url, generate(), auth=("elastic", "pw"), attempts=3) == 24
    finally:
        server.shutdown()
        server.server_close()
    (path, headers, body), *_ = server.requests[1:]
    assert path == "/api/saved_objects/_import?overwrite=true"
    assert headers["kbn-xsrf"] and headers["authorization"].startswith("Basic ")
    assert headers["content-type"].startswith("multipart/form-data")
    assert b'name="file"; filename="saved_objects.ndjson"' in body and generate().encode() in body


def test_a_refused_import_is_an_error_with_kibanas_reasons() -> None:
    reply = {"success": False, "errors": [{"id": "news-articles", "error": {"type": "unsupported_type"}}]}
    server = _serve([(200, reply)])
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ConfigurationError, match="unsupported_type"):
            import_objects(url, generate(), auth=None, attempts=1)
    finally:
        server.shutdown()
        server.server_close()
