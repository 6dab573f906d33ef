"""What the local Elasticsearch distribution offers, checked against what our index templates rely on.

The local node (``scripts/es.sh start``) is Maven Central's minimal ``integ-test-zip``: server, transport,
x-pack core and security. Not even ``rest-root``: ``GET /`` (``client.info()``, ``client.ping()``) answers
405 there, so readiness checks use ``cluster.health()``. These tests pin down the features the mappings and
queries use (index templates, aliases, ``dense_vector`` + kNN, ``more_like_this``, ``collapse``,
``significant_text``, the ``stop`` filter with named lists) and the gaps of the minimal distribution (no
analysis-common, mapper-extras, painless scripts, reindex / update-by-query / delete-by-query), so a change of
distribution shows up here.

The ``es`` fixture (tests/conftest.py) fails when the node is down. Every index and template created here
is named ``test-infra-<random>-...`` and removed afterwards.
"""

from __future__ import annotations

import copy
import json
import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import ApiError, BadRequestError, Elasticsearch

pytestmark = pytest.mark.integration

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "ingest" / "data" / "templates"
ES_URL = os.environ.get("NEWS_INDEX_ES_URL", "http://127.0.0.1:9200")
DIMS = 384

#: Modules of the full default distribution that the minimal integ-test zip lacks (measured on 9.2.8).
MINIMAL_ZIP_LACKS = (
    "rest-root",
    "analysis-common",
    "mapper-extras",
    "lang-painless",
    "reindex",
    "ingest-common",
    "x-pack-ml",
)


def _load_templates() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(TEMPLATES_DIR.glob("*.json"))}


@pytest.fixture(scope="module")
def modules(es: Elasticsearch) -> set[str]:
    nodes = es.nodes.info(metric="plugins")["nodes"]
    return {m["name"] for node in nodes.values() for m in node.get("modules", [])}


@pytest.fixture
def prefix(es: Elasticsearch) -> Iterator[str]:
    name = f"test-infra-{uuid.uuid4().hex[:10]}"
    yield name
    # The node runs with action.destructive_requires_name=true: delete by exact names.
    indices = list(es.indices.get(index=f"{name}-*", expand_wildcards="all"))
    if indices:
        es.indices.delete(index=",".join(indices))
    templates = es.options(ignore_status=404).indices.get_index_template(name=f"{name}-*")
    for template in templates.get("index_templates", []):
        es.indices.delete_index_template(name=template["name"])


def _install_copy(es: Elasticsearch, prefix: str, template_name: str) -> str:
    """Install a copy of ``template_name`` whose pattern is ``<prefix>-<name>-v*``; return an index name."""
    body = copy.deepcopy(_load_templates()[template_name])
    assert body["index_patterns"] == [f"{template_name}-v*"], body["index_patterns"]
    body["index_patterns"] = [f"{prefix}-{template_name}-v*"]
    body["priority"] = body.get("priority", 0) + 1000
    es.indices.put_index_template(name=f"{prefix}-{template_name}", **body)
    index = f"{prefix}-{template_name}-v1"
    es.indices.create(index=index)
    return index


def _unit_vector(*hot: int) -> list[float]:
    vec = [0.0] * DIMS
    for i in hot:
        vec[i] = 1.0
    norm = math.sqrt(len(hot))
    return [v / norm for v in vec]


def test_templates_exist() -> None:
    assert set(_load_templates()) >= {"news-articles", "news-stories"}


@pytest.mark.parametrize("template_name", ["news-articles", "news-stories"])
def test_template_installs_and_index_gets_its_mapping(es: Elasticsearch, prefix: str, template_name: str) -> None:
    original = _load_templates()[template_name]
    # The real body validates as is. Simulation installs nothing, but it still refuses a body whose pattern
    # clashes with an installed template of the same priority (a demo run installs news-*), so simulate it
    # under this test's own pattern.
    simulated = es.indices.simulate_template(**{**original, "index_patterns": [f"{prefix}-{template_name}-v*"]})
    assert (
        simulated["template"]["mappings"]["properties"].keys() == original["template"]["mappings"]["properties"].keys()
    )

    index = _install_copy(es, prefix, template_name)
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"].keys() == original["template"]["mappings"]["properties"].keys()
    settings = es.indices.get_settings(index=index)[index]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"


def test_strict_mapping_rejects_unknown_fields(es: Elasticsearch, prefix: str) -> None:
    index = _install_copy(es, prefix, "news-articles")
    with pytest.raises(BadRequestError) as err:
        es.index(index=index, id="x", document={"doc_id": "x", "not_in_mapping": 1})
    assert err.value.error == "strict_dynamic_mapping_exception"


def test_dense_vector_knn(es: Elasticsearch, prefix: str) -> None:
    index = _install_copy(es, prefix, "news-articles")
    docs = {"a": _unit_vector(0, 1), "b": _unit_vector(0, 2), "c": _unit_vector(100, 200)}
    for doc_id, vec in docs.items():
        es.index(index=index, id=doc_id, document={"doc_id": doc_id, "embedding": vec, "title": doc_id})
    es.indices.refresh(index=index)
    resp = es.search(
        index=index,
        knn={"field": "embedding", "query_vector": _unit_vector(0, 1), "k": 3, "num_candidates": 10},
        source_includes=["doc_id"],
    )
    ranked = [h["_source"]["doc_id"] for h in resp["hits"]["hits"]]
    assert ranked == ["a", "b", "c"]
    # cosine similarity -> score (1 + cos) / 2: identical vector scores 1.0
    assert resp["hits"]["hits"][0]["_score"] == pytest.approx(1.0, abs=1e-4)
    # kNN with a filter on a keyword (used to restrict candidates to recent/same-language stories)
    filtered = es.search(
        index=index,
        knn={
            "field": "embedding",
            "query_vector": _unit_vector(0, 1),
            "k": 3,
            "num_candidates": 10,
            "filter": {"term": {"doc_id": "c"}},
        },
    )
    assert [h["_id"] for h in filtered["hits"]["hits"]] == ["c"]


def test_dense_vector_rejects_wrong_dims(es: Elasticsearch, prefix: str) -> None:
    index = _install_copy(es, prefix, "news-stories")
    with pytest.raises(BadRequestError):
        es.index(index=index, id="s", document={"story_id": "s", "centroid": [0.1, 0.2]})


def test_more_like_this(es: Elasticsearch, prefix: str) -> None:
    index = _install_copy(es, prefix, "news-articles")
    bodies = {
        "ransom1": "Ransomware gang encrypts hospital servers and demands bitcoin ransom payment",
        "ransom2": "Hospital servers encrypted by ransomware gang, attackers demand bitcoin ransom",
        "football": "Premier League match ends in a draw after late penalty in the rain",
    }
    for doc_id, body in bodies.items():
        es.index(index=index, id=doc_id, document={"doc_id": doc_id, "body": body})
    es.indices.refresh(index=index)
    resp = es.search(
        index=index,
        query={
            "more_like_this": {
                "fields": ["body"],
                "like": [{"_index": index, "_id": "ransom1"}],
                "min_term_freq": 1,
                "min_doc_freq": 1,
            }
        },
    )
    assert [h["_id"] for h in resp["hits"]["hits"]] == ["ransom2"]


def test_collapse_on_keyword(es: Elasticsearch, prefix: str) -> None:
    index = _install_copy(es, prefix, "news-articles")
    for i, story in enumerate(["s1", "s1", "s1", "s2", "s3", "s3"]):
        es.index(index=index, id=str(i), document={"doc_id": str(i), "story_id": story, "word_count": i})
    es.indices.refresh(index=index)
    resp = es.search(
        index=index,
        query={"match_all": {}},
        collapse={"field": "story_id", "inner_hits": {"name": "top", "size": 5}},
        sort=[{"word_count": "desc"}],
        size=10,
    )
    hits = resp["hits"]["hits"]
    assert [h["fields"]["story_id"][0] for h in hits] == ["s3", "s2", "s1"]
    assert [h["_id"] for h in hits] == ["5", "3", "2"]
    assert hits[2]["inner_hits"]["top"]["hits"]["total"]["value"] == 3


def test_significant_text(es: Elasticsearch, prefix: str) -> None:
    index = _install_copy(es, prefix, "news-articles")
    for i in range(6):
        body = "ransomware attack on a hospital" if i < 3 else f"weather report number {i} sunny"
        tags = ["x"] if i < 3 else []
        es.index(index=index, id=str(i), document={"doc_id": str(i), "body": body, "tags": tags})
    es.indices.refresh(index=index)
    resp = es.search(
        index=index,
        size=0,
        query={"term": {"tags": "x"}},
        aggs={"terms": {"significant_text": {"field": "body", "min_doc_count": 1}}},
    )
    keys = {b["key"] for b in resp["aggregations"]["terms"]["buckets"]}
    assert "ransomware" in keys


@pytest.mark.parametrize(
    ("stopwords", "text", "expected"),
    [
        ("_german_", "Der Angriff auf die Bundeswehr und das Netz", ["angriff", "bundeswehr", "netz"]),
        ("_english_", "The attack on the network and the grid", ["attack", "network", "grid"]),
    ],
)
def test_stop_filter_with_named_lists_works_without_analysis_common(
    es: Elasticsearch, prefix: str, stopwords: str, text: str, expected: list[str]
) -> None:
    """Measured on the 9.2.8 integ-test zip: yes, ``stop`` with ``_german_``/``_english_`` is in the core."""
    index = f"{prefix}-analysis-v1"
    es.indices.create(
        index=index,
        settings={
            "number_of_replicas": 0,
            "analysis": {
                "filter": {"lang_stop": {"type": "stop", "stopwords": stopwords}},
                "analyzer": {
                    "lang_text": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "lang_stop"],
                    }
                },
            },
        },
    )
    tokens = es.indices.analyze(index=index, analyzer="lang_text", text=text)["tokens"]
    assert [t["token"] for t in tokens] == expected


def test_templates_use_only_available_analysis_components(es: Elasticsearch, prefix: str) -> None:
    """Every analyzer/normalizer the templates define must build and run on this node."""
    for name, template in _load_templates().items():
        analysis = template["template"].get("settings", {}).get("analysis", {})
        if not analysis:
            continue
        index = f"{prefix}-{name}-analysis-v1"
        es.indices.create(index=index, settings={"number_of_replicas": 0, "analysis": analysis})
        for kind in ("analyzer", "normalizer"):
            for comp_name in analysis.get(kind, {}):
                tokens = es.indices.analyze(index=index, text="Der Angriff", **{kind: comp_name})["tokens"]
                assert tokens, f"{name}: {kind} {comp_name} produced no tokens"
                if comp_name == "lowercase":
                    assert [t["token"] for t in tokens] == ["der angriff"]


def test_minimal_distribution_gaps_are_what_we_assume(es: Elasticsearch, modules: set[str], prefix: str) -> None:
    """The local node lacks analysis-common & co.; the templates must not depend on them."""
    missing = {m for m in MINIMAL_ZIP_LACKS if m not in modules}
    if not missing:
        pytest.skip(f"full distribution at {ES_URL}: modules {sorted(modules)}")
    text = json.dumps(_load_templates())
    if "rest-root" in missing:
        # GET / (client.info()) and HEAD / (client.ping()) are unavailable: use cluster.health() instead.
        with pytest.raises(ApiError) as err:
            es.info()
        assert err.value.status_code == 405
        assert es.ping() is False
    if "analysis-common" in missing:
        with pytest.raises(BadRequestError):
            es.indices.analyze(analyzer="english", text="attacks")
        with pytest.raises(BadRequestError):
            es.indices.analyze(tokenizer="standard", filter=["asciifolding"], text="Müller")
        needles = ('"english"', '"german"', "asciifolding", "html_strip", "stemmer", "min_hash", "shingle")
        for needle in needles:
            assert needle not in text, f"templates use {needle}, which needs analysis-common"
    if "mapper-extras" in missing:
        for needle in ("match_only_text", "rank_feature", "scaled_float", "search_as_you_type"):
            assert needle not in text, f"templates use {needle}, which needs mapper-extras"
    if "lang-painless" in missing or "reindex" in missing:
        index = _install_copy(es, prefix, "news-articles")
        es.index(index=index, id="1", document={"doc_id": "1", "word_count": 1}, refresh=True)
        if "lang-painless" in missing:
            # No scripts: partial updates must send documents (bulk "update" with "doc"), not scripts.
            with pytest.raises(BadRequestError):
                es.update(index=index, id="1", script={"source": "ctx._source.word_count += 1"})
            with pytest.raises(BadRequestError):
                es.search(
                    index=index,
                    query={"script_score": {"query": {"match_all": {}}, "script": {"source": "1"}}},
                )
            es.update(index=index, id="1", doc={"word_count": 2}, refresh=True)
            assert es.get(index=index, id="1")["_source"]["word_count"] == 2
        if "reindex" in missing:
            # No _update_by_query / _delete_by_query / _reindex: schema migrations re-index from the source
            # (or scroll + bulk) and switch an alias.
            with pytest.raises(ApiError):
                es.update_by_query(index=index, query={"match_all": {}})
            with pytest.raises(ApiError):
                es.delete_by_query(index=index, query={"match_all": {}})
            es.indices.put_alias(index=index, name=f"{prefix}-alias")
            assert es.count(index=f"{prefix}-alias")["count"] == 1
