"""The saved objects against the real Elasticsearch with the sample corpus indexed and grouped: every field a
visualisation aggregates is aggregatable (``_field_caps``), every visualisation's aggregations run and find data,
and every saved query runs through ``query_string`` (Lucene, as Kibana sends it) with the expected results,
the Sony one returning the Sony story."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest import metrics
from ingest.kibana import saved_objects
from ingest.kibana.content import SONY_QUERY
from ingest.kibana.objects import RECORDS, SavedObject
from ingest.kibana.validate import field_uses, queries
from tests.conftest import SampleIndex

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def objects(sample_index: SampleIndex) -> list[SavedObject]:
    return saved_objects(sample_index.options.index)


@pytest.fixture(scope="module")
def aliases(objects: list[SavedObject]) -> dict[str, str]:
    """data view id -> the alias it is over."""
    return {o.id: str(o.attributes["title"]) for o in objects if o.type == "index-pattern"}


@pytest.fixture(scope="module")
def with_runs(es: Elasticsearch, sample_index: SampleIndex) -> SampleIndex:
    """Two task runs (one degraded, with skips and a failing feed) in the runs index, for the health dashboard."""
    now = datetime.now(UTC)
    for n, status in enumerate(("ok", "degraded")):
        record = metrics.RunMetrics(
            dag_id="news_poll",
            run_id=f"scheduled__{n}",
            task_id="poll",
            stage="poll",
            started_at=now - timedelta(hours=n + 1),
            finished_at=now - timedelta(hours=n + 1) + timedelta(seconds=30),
            feeds_polled=8,
            feeds_not_modified=6 - n,
            feeds_failed=n,
            articles_new=3,
            skipped={"page:http_404": 1 + n},
            extraction_failures=n,
            tag_counts={"cyberattack": 2},
            failing_feeds=(metrics.FeedFailure("meridian-top", "http://x/feed.xml", "http_503"),) if n else (),
            status=status,  # type: ignore[arg-type]
        )
        metrics.write_run_metrics(es, sample_index.options.index, record)
    es.indices.refresh(index=sample_index.options.index.runs)
    return sample_index


def test_every_aggregated_field_is_aggregatable(
    es: Elasticsearch, objects: list[SavedObject], aliases: dict[str, str], with_runs: SampleIndex
) -> None:
    by_view: dict[str, set[str]] = defaultdict(set)
    for use in field_uses(objects):
        if not use.where.endswith("sourceFilters"):  # _source paths (may be disabled objects): checked offline
            by_view[use.view_id].add(use.field)
    aggregated = {(u.view_id, u.field) for u in field_uses(objects) if u.aggregated}
    assert by_view.keys() == aliases.keys()
    for view_id, fields in by_view.items():
        caps = es.field_caps(index=aliases[view_id], fields=sorted(fields))["fields"]
        for name in sorted(fields):
            assert name in caps, f"{view_id}: {name} is not a field of {aliases[view_id]}"
            (spec,) = caps[name].values()
            if (view_id, name) in aggregated:
                assert spec["aggregatable"], f"{view_id}: {name} is not aggregatable"


def _metric_agg(col: dict[str, Any]) -> dict[str, Any] | None:
    op, field = col["operationType"], col.get("sourceField")
    if op == "count":
        return None
    if op == "last_value":
        sort_field = col["params"]["sortField"]
        return {"top_hits": {"size": 1, "sort": [{sort_field: "desc"}], "_source": [field]}}
    name = {"unique_count": "cardinality", "average": "avg"}.get(op, op)
    return {name: {"field": field}}


def _lens_aggs(lens: SavedObject) -> dict[str, Any]:
    """The aggregations Kibana's Lens would send for a formBased layer (terms / date_histogram buckets, nested in
    column order, each level carrying the metrics so that terms can be ordered by them)."""
    layer = lens.attributes["state"]["datasourceStates"]["formBased"]["layers"]["layer1"]
    columns = layer["columns"]
    order = layer["columnOrder"]
    metric_aggs = {c: a for c in order if not columns[c]["isBucketed"] and (a := _metric_agg(columns[c]))}
    inner: dict[str, Any] = dict(metric_aggs)
    for col_id in reversed([c for c in order if columns[c]["isBucketed"]]):
        col = columns[col_id]
        if col["operationType"] == "terms":
            by = col["params"]["orderBy"]["columnId"]
            key = "_count" if columns[by]["operationType"] == "count" else by
            agg: dict[str, Any] = {
                "terms": {"field": col["sourceField"], "size": col["params"]["size"], "order": {key: "desc"}}
            }
        else:
            assert col["operationType"] == "date_histogram", col
            agg = {"date_histogram": {"field": col["sourceField"], "fixed_interval": "1d", "min_doc_count": 1}}
        agg["aggs"] = inner
        inner = {col_id: agg, **metric_aggs}
    return inner


def test_every_visualisation_aggregates_real_data(
    es: Elasticsearch, objects: list[SavedObject], aliases: dict[str, str], with_runs: SampleIndex
) -> None:
    lenses = [o for o in objects if o.type == "lens"]
    assert len(lenses) >= 12
    for lens in lenses:
        view = lens.references[0].id
        query = lens.attributes["state"]["query"]["query"] or "*"
        resp = es.search(index=aliases[view], size=0, query={"query_string": {"query": query}}, aggs=_lens_aggs(lens))
        assert resp["hits"]["total"]["value"] > 0, f"{lens.title}: its query matches nothing"
        aggs = resp["aggregations"]
        buckets = [v["buckets"] for v in aggs.values() if isinstance(v, dict) and "buckets" in v]
        values = [v for v in aggs.values() if isinstance(v, dict) and v.get("value") is not None]
        assert any(buckets) or values, f"{lens.title}: no data in {aggs}"
        uses_records = any(
            c.get("sourceField") == RECORDS
            for c in lens.attributes["state"]["datasourceStates"]["formBased"]["layers"]["layer1"]["columns"].values()
        )
        assert uses_records or values or buckets


def _hits(es: Elasticsearch, index: str, query: dict[str, Any]) -> list[dict[str, Any]]:
    resp = es.search(
        index=index,
        query=query,
        size=1000,
        source_includes=["doc_id", "url", "language", "story_id", "is_duplicate", "tags"],
    )
    return [h["_source"] for h in resp["hits"]["hits"]]


def test_every_saved_query_runs_as_lucene(
    es: Elasticsearch, objects: list[SavedObject], aliases: dict[str, str], with_runs: SampleIndex
) -> None:
    stored = queries(objects)
    assert len(stored) >= 6 + 12
    for saved in stored:
        es.search(index=aliases[saved.view_id], size=0, query={"query_string": {"query": saved.query}})


def test_saved_searches_return_what_their_names_say(
    es: Elasticsearch, objects: list[SavedObject], sample_index: SampleIndex
) -> None:
    alias = sample_index.options.index.articles_alias
    everything = _hits(es, alias, {"match_all": {}})
    originals = [d for d in everything if not d.get("is_duplicate")]
    assert len(originals) < len(everything), "the sample corpus has near-duplicate copies"
    expected = {
        "Cyberattacks": [d for d in originals if "cyberattack" in d.get("tags", [])],
        "Geopolitics": [d for d in originals if "geopolitics" in d.get("tags", [])],
        "Cyber × geopolitics": [d for d in originals if {"cyberattack", "geopolitics"} <= set(d.get("tags", []))],
        "Duplicates hidden": originals,
        "German coverage": [d for d in originals if d["language"] == "de"],
    }
    found = {q.title: q for q in queries(objects) if q.key.startswith("search:")}
    for title, docs in expected.items():
        got = _hits(es, alias, {"query_string": {"query": found[title].query}})
        assert docs, title
        assert sorted(d["doc_id"] for d in got) == sorted(d["doc_id"] for d in docs), title


def test_the_sony_search_returns_the_sony_story(es: Elasticsearch, sample_index: SampleIndex) -> None:
    alias = sample_index.options.index.articles_alias
    got = _hits(es, alias, {"query_string": {"query": SONY_QUERY}})
    by_url = {d["url"]: d for d in _hits(es, alias, {"match_all": {}})}
    # the German report on the 2014 Sony Pictures hack (the motivating seed article)
    seed = next(a for a in sample_index.manifest if a["title"] == "Hackerangriff legt Netzwerk von Sony Pictures lahm")
    story_id = by_url[seed["url"]]["story_id"]
    assert story_id
    assert {d["story_id"] for d in got} == {story_id}, "every hit belongs to the Sony story"
    assert {d["language"] for d in got} == {"en", "de"}
    gold = {
        a["url"]
        for a in sample_index.manifest
        if a["story"] == "sony-hack" and a.get("status", 200) == 200 and not a.get("duplicate_of")
    }
    indexed_gold = gold & set(by_url)
    hit_urls = {d["url"] for d in got}
    assert len(hit_urls & indexed_gold) >= 0.8 * len(indexed_gold), sorted(indexed_gold - hit_urls)
