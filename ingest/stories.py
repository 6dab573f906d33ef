"""Online story grouping: related coverage across outlets, languages and weeks lands in one story.

Algorithm (greedy, single pass, documented so that results can be reasoned about):

1. :meth:`StoryGrouper.assign_pending` takes every indexed article without ``story_id`` in the order
   ``(published_at, doc_id)`` and embeds title + lead of those that have no embedding yet (one batch).
2. For each article, ONE ``msearch`` retrieves candidate stories from three signals:

   * ``more_like_this`` on title/lead/body of already grouped articles within ``window_days`` of the article,
     collapsed on ``story_id``; the article itself is included so that every score is divided by the
     article's own score (a lexical similarity in [0, 1] that does not depend on text length or corpus size);
   * the stories index: entity-id overlap (``terms`` on ``entities``) plus kNN on the story ``centroid``
     (embeddings of title + lead, multilingual: the cross-lingual link), both restricted to active stories
     whose [first_seen, last_seen] span lies within ``window_days`` of the article;
   * a lookup of the article's id in the stories' ``article_ids`` (replays: a re-processed article goes back
     to the story that already holds it, counts unchanged).

   A second request (``mget``) loads the candidate story documents found only through member articles.
3. Each candidate story is scored: a weighted mean of lexical evidence, entity evidence and embedding evidence
   (cosine to the centroid mapped from [embedding_low, embedding_high] to [0, 1]); the weights are
   re-normalised over the evidence that exists (no embedding, no entities).

   * Lexical (anti-chaining): the mean of the ``k`` best member ratios ``mlt / lexical_full`` (capped at 1) over
     the story's members in the article's language ``n``, ``k = max(lexical_members, ceil(sqrt(n)))`` capped at
     ``n`` and ``lexical_members_max``: one similar member of a large story is weak evidence, so a story cannot
     grow by chaining through its most peripheral member. Members in other languages do not dilute it.
     Strong lexical evidence alone is enough (``score >= lexical_alone * lexical``).
   * Entities: the weighted share of the article's entity ids that the story carries (an id in a quarter of
     its articles or more counts fully), or, if higher, the distinctive overlap: the summed weight of shared
     non-country ids over ``entity_distinct_full`` (two shared specific ids, such as a company and a threat
     actor, are full evidence however many other ids the article names). Weights: entity kind (countries,
     regions and cities count less) times distinctiveness ``ln(N/df) / ln(1/entity_idf_full)`` in [idf_floor, 1],
     from one terms aggregation over the articles index per :meth:`StoryGrouper.assign_pending` call (only
     with at least ``entity_idf_min_docs`` articles indexed: smaller indices give no usable frequencies).
   * Across languages (the story has no member in the article's language) there is no lexical evidence and two
     independent signals must agree: embedding evidence > 0 and entity evidence >= ``cross_min_entities``
     (without embeddings: entity evidence >= ``cross_min_entities_alone``); otherwise the score is 0.

   The score is then multiplied by the time decay ``(1 - w) + w * exp(-gap / decay_days)``.
4. The article joins the best story scoring ``>= join_threshold`` or founds a new one with the
   deterministic id ``"st-" + doc_id``. When the two best stories both score ``>= merge_threshold`` they are
   merged: the larger (then older, then smaller id) survives, the other gets ``status="merged"`` +
   ``merged_into`` and its articles are re-pointed; ids keep resolving through :meth:`StoryGrouper.resolve`.
5. The article (``story_id``, ``story_score``, ``story_assigned_at``, ``embedding``) and the story document
   are written in one bulk request and both aliases are refreshed, so the next article sees them.

ES requests per article: msearch 1, mget 0-1 (+1 per merged redirect), bulk 1, refresh 1 (see ``stats``); per
call: the pending scan (1 per 500 articles) and the entity document-frequency aggregation (1).
Order: arrival order matters only as it does for any single-pass clustering: an article that bridges two
stories found earlier merges them, one that arrives before its bridge founds its own story. Replaying the
same articles in the same order gives the same story ids; re-processing an article never duplicates it.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, StoryOptions
from ingest.elastic import call
from ingest.embeddings import Embedder, cosine, embedding_text, normalise
from ingest.errors import IndexingError, ItemSkipped, RequestRejected

logger = logging.getLogger(__name__)

STORY_PREFIX = "st-"
STATUS_ACTIVE = "active"
STATUS_MERGED = "merged"
#: Entity-id prefixes that say little about which event an article covers (weigh them less).
_GENERIC_ENTITY_WEIGHT = {"country": 0.35, "region": 0.35, "city": 0.5}
_ENTITY_PRIOR = 0.5
_SOURCE_FIELDS = [
    "doc_id",
    "url",
    "title",
    "lead",
    "body",
    "language",
    "outlet",
    "published_at",
    "fetched_at",
    "indexed_at",
    "entities",
    "tags",
    "subtopics",
    "embedding",
    "story_id",
]
_WORD = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
_MAX_REDIRECTS = 10


@dataclass(frozen=True)
class Assignment:
    """Where one article went."""

    doc_id: str
    story_id: str
    score: float
    created: bool


@dataclass(frozen=True)
class RelatedStory:
    """A story and its articles (oldest first), as returned for "related <url or id>"."""

    story_id: str
    story: dict[str, Any]
    articles: list[dict[str, Any]]
    requested: str
    redirected_from: tuple[str, ...] = ()


@dataclass
class GroupingStats:
    """Counters of one :meth:`StoryGrouper.assign_pending` call (and of the grouper's lifetime)."""

    articles: int = 0
    created: int = 0
    joined: int = 0
    replayed: int = 0
    merges: int = 0
    queries: int = 0
    embedded: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def queries_per_article(self) -> float:
        return self.queries / self.articles if self.articles else 0.0


@dataclass
class _Candidate:
    story: dict[str, Any]
    lexical: float = 0.0
    entities: float = 0.0
    embedding: float = 0.0
    cosine: float | None = None
    decay: float = 1.0
    score: float = 0.0
    same_language: int = 1
    specific: float = 0.0  # shared_specific_mass


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """English and German function words (justext's stop lists, shipped with trafilatura's dependencies)."""
    import justext

    words: set[str] = set()
    for language in ("English", "German"):
        words.update(w.lower() for w in justext.get_stoplist(language))
    return frozenset(words)


def content_terms(text: str) -> list[str]:
    """Lower-cased words of 3+ letters that are not stop words (for key terms of a story)."""
    stops = stop_words()
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in stops]


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entity_weight(entity: str) -> float:
    kind = entity.split(":", 1)[0] if ":" in entity else ""
    return _GENERIC_ENTITY_WEIGHT.get(kind, 1.0)


def entity_evidence(
    article_entities: Iterable[str],
    story_counts: Mapping[str, int],
    story_size: int,
    idf: Mapping[str, float] | None = None,
    distinct_full: float = 0.0,
) -> float:
    """Weighted share of the article's entities that the story carries (damped for few entities).

    Weights: the entity kind (countries count less) times its distinctiveness ``idf`` in the articles index
    (see :func:`idf_weights`; entities missing from ``idf`` count fully).
    """
    entities = sorted(set(article_entities))
    if not entities:
        return 0.0
    weights = {e: entity_weight(e) * (idf.get(e, 1.0) if idf else 1.0) for e in entities}
    total = sum(weights.values())
    covered = 0.0
    for e in entities:
        count = story_counts.get(e, 0)
        if count:
            # an entity in a quarter of the story's articles or more counts fully
            covered += weights[e] * min(1.0, 4.0 * count / max(story_size, 1))
    share = covered / (total + _ENTITY_PRIOR)
    if distinct_full <= 0:
        return share
    # distinctive overlap: shared specific entities (a company and a threat actor, ...) are evidence however many
    # other entities the article names
    distinct = shared_specific_mass(entities, story_counts, story_size, idf)
    return max(share, min(1.0, distinct / distinct_full))


def shared_specific_mass(
    article_entities: Iterable[str],
    story_counts: Mapping[str, int],
    story_size: int,
    idf: Mapping[str, float] | None = None,
    rare_idf: float = 0.0,
) -> float:
    """How many rare, specific entities the article shares with the story: over shared non-place entities whose
    ``idf`` is at least ``rare_idf`` (all of them when no idf is known), the sum of ``idf`` times how much of the
    story carries them (fully from a quarter of its articles on)."""
    total = 0.0
    for e in set(article_entities):
        count = story_counts.get(e, 0)
        weight = idf.get(e, 1.0) if idf else 1.0
        if count and weight >= rare_idf and e.split(":", 1)[0] not in _GENERIC_ENTITY_WEIGHT:
            total += weight * min(1.0, 4.0 * count / max(story_size, 1))
    return total


def idf_weights(doc_freq: Mapping[str, int], docs: int, options: StoryOptions) -> dict[str, float]:
    """Distinctiveness of entity ids in [idf_floor, 1]: ``ln(N / df) / ln(1 / entity_idf_full)``.

    An entity in at most ``entity_idf_full`` of the indexed articles counts fully, one in every article counts
    ``idf_floor``. Below ``entity_idf_min_docs`` indexed articles document frequencies say little: empty (all 1).
    """
    if docs < options.entity_idf_min_docs or not 0.0 < options.entity_idf_full < 1.0:
        return {}
    full = math.log(1.0 / options.entity_idf_full)
    return {e: min(1.0, max(options.idf_floor, math.log(docs / max(df, 1)) / full)) for e, df in doc_freq.items()}


def lexical_evidence(mlt_ratios: Sequence[float], same_language: int, options: StoryOptions) -> float:
    """Mean of the best ``k`` member similarities, ``k`` growing with the story (anti-chaining), over
    ``lexical_full`` (capped at 1). ``k = min(n, max(lexical_members, ceil(sqrt(n))), lexical_members_max)`` with
    ``n`` the story's members in the article's language; members that did not match count 0.
    """
    if same_language <= 0 or options.lexical_full <= 0:
        return 0.0
    k = min(same_language, max(options.lexical_members, math.ceil(math.sqrt(same_language))))
    k = max(1, min(k, options.lexical_members_max))
    ratio = sum(sorted(mlt_ratios, reverse=True)[:k]) / k
    return min(1.0, ratio / options.lexical_full)


def embedding_evidence(cos: float, options: StoryOptions) -> float:
    span = options.embedding_high - options.embedding_low
    if span <= 0:
        return 1.0 if cos >= options.embedding_high else 0.0
    return min(1.0, max(0.0, (cos - options.embedding_low) / span))


def time_decay(
    published: datetime, first_seen: datetime | None, last_seen: datetime | None, options: StoryOptions
) -> float:
    """``(1 - w) + w * exp(-gap / decay_days)`` with gap = days from the story's span (0 inside it)."""
    gap = 0.0
    if last_seen is not None and published > last_seen:
        gap = (published - last_seen).total_seconds() / 86400.0
    elif first_seen is not None and published < first_seen:
        gap = (first_seen - published).total_seconds() / 86400.0
    if gap > options.window_days:
        return 0.0
    w = options.decay_weight
    return (1.0 - w) + w * math.exp(-gap / max(options.decay_days, 1e-9))


def combine(cand: _Candidate, *, has_entities: bool, has_embedding: bool, options: StoryOptions) -> float:
    """Weighted mean of the evidence that exists; strong lexical evidence alone also counts.

    Without a member in the article's language (``same_language == 0``) there is no lexical evidence, and two
    independent signals must agree: embedding evidence > 0 and entity evidence >= ``cross_min_entities``
    (without embeddings: entity evidence >= ``cross_min_entities_alone``); otherwise the score is 0. Within one
    language the content evidence (mean of lexical and embedding evidence) must reach ``content_min``, unless the
    shared specific entities weigh ``content_bypass_specific`` or more.
    """
    cross = cand.same_language == 0
    embedded = has_embedding and cand.cosine is not None
    if cross:
        if embedded:
            if cand.embedding <= 0.0 or cand.entities < options.cross_min_entities:
                return 0.0
        elif cand.entities < options.cross_min_entities_alone:
            return 0.0
    else:
        content = (cand.lexical + cand.embedding) / 2 if embedded else cand.lexical
        if content < options.content_min and cand.specific < options.content_bypass_specific:
            return 0.0
    parts = [] if cross else [(options.weight_lexical, cand.lexical)]
    if has_entities:
        parts.append((options.weight_entities, cand.entities))
    if embedded:
        parts.append((options.weight_embedding, cand.embedding))
    total_w = sum(w for w, _ in parts)
    mean = sum(w * v for w, v in parts) / total_w if total_w else 0.0
    return max(mean, cand.lexical * options.lexical_alone)


class StoryGrouper:
    """Assigns indexed articles to stories in Elasticsearch (see the module docstring)."""

    def __init__(
        self,
        es: Elasticsearch,
        options: StoryOptions,
        index: IndexOptions,
        embedder: Embedder | None = None,
    ) -> None:
        self.es = es
        self.options = options
        self.index = index
        self.embedder = embedder if options.use_embeddings else None
        self.stats = GroupingStats()
        #: entity id -> distinctiveness weight, computed once per :meth:`assign_pending` call
        self._idf: dict[str, float] = {}

    # --- public API ---------------------------------------------------------------------------------------

    def assign_pending(self, *, limit: int | None = None) -> list[Assignment]:
        """Group every article that has no ``story_id`` yet, oldest first; returns what was done."""
        started = time.perf_counter()
        before = GroupingStats(**{k: v for k, v in vars(self.stats).items() if k != "latencies"})
        pending = self._pending(limit)
        if not pending:
            logger.info("story grouping: no pending articles")
            return []
        self._embed_missing(pending)
        self._idf = self._entity_idf()
        results = []
        for hit in pending:
            t0 = time.perf_counter()
            results.append(self._assign_one(hit))
            self.stats.latencies.append(time.perf_counter() - t0)
            self.stats.articles += 1
        self.stats.seconds += time.perf_counter() - started
        n = self.stats.articles - before.articles
        logger.info(
            "story grouping: %d articles, %d new stories, %d joined, %d replayed, %d merges, "
            "%.2f ES requests/article, %.1fs",
            n,
            self.stats.created - before.created,
            self.stats.joined - before.joined,
            self.stats.replayed - before.replayed,
            self.stats.merges - before.merges,
            (self.stats.queries - before.queries) / n,
            time.perf_counter() - started,
        )
        return results

    def resolve(self, story_id: str) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
        """The story document an id ends at after following ``merged_into``, and the ids passed on the way."""
        seen: list[str] = []
        current = story_id
        for _ in range(_MAX_REDIRECTS):
            doc = self._get_story(current)
            if doc is None:
                return None, tuple(seen)
            if doc.get("status") == STATUS_MERGED and doc.get("merged_into"):
                seen.append(current)
                current = str(doc["merged_into"])
                continue
            return doc, tuple(seen)
        logger.warning("story redirect chain from %s is longer than %d", story_id, _MAX_REDIRECTS)
        return None, tuple(seen)

    def related(self, url_or_id: str, *, max_articles: int = 500) -> RelatedStory:
        """The story of an article (by URL or doc id) or a story id, with its articles oldest first."""
        story_id: str | None = None
        key = url_or_id.strip()
        if key.startswith(STORY_PREFIX) and self._get_story(key) is not None:
            story_id = key
        else:
            doc_id = key
            if "://" in key:
                from ingest.urls import document_id

                doc_id = document_id(key)
            article = self._get_article(doc_id)
            if article is None:
                raise ItemSkipped(f"no indexed article or story for {key!r}", reason="not_found")
            story_id = article.get("story_id")
            if not story_id:
                raise ItemSkipped(f"article {doc_id} has not been grouped yet", reason="not_grouped")
        story, redirects = self.resolve(story_id)
        if story is None:
            raise ItemSkipped(f"story {story_id} not found", reason="not_found")
        resolved = str(story["story_id"])
        resp = call(
            "related lookup",
            self.es.search,
            index=self.index.articles_alias,
            query={"term": {"story_id": resolved}},
            sort=[{"published_at": {"order": "asc", "missing": "_last"}}, {"doc_id": "asc"}],
            size=max_articles,
            source_excludes=["body", "embedding", "tag_evidence", "lsh_bands"],
        )
        articles = [h["_source"] for h in resp["hits"]["hits"]]
        story_public = {k: v for k, v in story.items() if k not in ("grouping_state", "centroid")}
        return RelatedStory(resolved, story_public, articles, url_or_id, redirects)

    # --- steps ----------------------------------------------------------------------------------------------

    def _pending(self, limit: int | None) -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = []
        search_after: list[Any] | None = None
        page = 500 if limit is None else min(500, limit)
        while limit is None or len(hits) < limit:
            kwargs: dict[str, Any] = {}
            if search_after is not None:
                kwargs["search_after"] = search_after
            resp = self._call(
                self.es.search,
                index=self.index.articles_alias,
                query={"bool": {"must_not": [{"exists": {"field": "story_id"}}]}},
                sort=[{"published_at": {"order": "asc", "missing": "_last"}}, {"doc_id": "asc"}],
                size=page,
                source={"includes": _SOURCE_FIELDS, "exclude_vectors": False},
                **kwargs,
            )
            batch = resp["hits"]["hits"]
            hits.extend(batch)
            if len(batch) < page:
                break
            search_after = batch[-1]["sort"]
        return hits if limit is None else hits[:limit]

    def _entity_idf(self) -> dict[str, float]:
        """Document frequencies of entity ids over the articles index (one terms aggregation per call)."""
        o = self.options
        if o.entity_idf_min_docs <= 0:
            return {}
        resp = self._call(
            self.es.search,
            index=self.index.articles_alias,
            size=0,
            track_total_hits=True,
            aggs={"df": {"terms": {"field": "entities", "size": o.entity_idf_terms}}},
        )
        docs = int(resp["hits"]["total"]["value"])
        freq = {str(b["key"]): int(b["doc_count"]) for b in resp["aggregations"]["df"]["buckets"]}
        return idf_weights(freq, docs, o)

    def _embed_missing(self, hits: Sequence[dict[str, Any]]) -> None:
        if self.embedder is None:
            return
        todo = [h for h in hits if not h["_source"].get("embedding")]
        for start in range(0, len(todo), 32):
            chunk = todo[start : start + 32]
            texts = [
                embedding_text(h["_source"].get("title"), h["_source"].get("lead"), h["_source"].get("body"))
                for h in chunk
            ]
            for h, vec in zip(chunk, self.embedder.embed(texts), strict=True):
                h["_source"]["embedding"] = vec
                h["_new_embedding"] = True
            self.stats.embedded += len(chunk)

    def _assign_one(self, hit: dict[str, Any]) -> Assignment:
        src = hit["_source"]
        doc_id = str(src.get("doc_id") or hit["_id"])
        published = (
            parse_time(src.get("published_at"))
            or parse_time(src.get("fetched_at"))
            or parse_time(src.get("indexed_at"))
            or datetime.now(UTC)
        )
        vector = src.get("embedding") or None
        entities = sorted(set(src.get("entities") or []))
        language = str(src.get("language") or "")

        lexical, story_hits, holder = self._retrieve(hit, doc_id, published, vector, entities)
        if holder is not None:  # replay: the article is already a member of a story
            story, _ = self.resolve(str(holder["story_id"]))
            if story is not None:
                self._write([self._article_update(hit, story["story_id"], 1.0)], refresh=True)
                self.stats.replayed += 1
                return Assignment(doc_id, str(story["story_id"]), 1.0, False)

        stories = dict(story_hits)
        missing = [sid for sid in lexical if sid not in stories]
        if missing:
            stories.update(self._mget_stories(missing))
        # resolve redirects of candidates found through not-yet-re-pointed members (rare)
        for sid in list(stories):
            doc = stories[sid]
            if doc.get("status") == STATUS_MERGED:
                target, _ = self.resolve(sid)
                del stories[sid]
                if target is not None and target.get("status") != STATUS_MERGED:
                    tid = str(target["story_id"])
                    stories.setdefault(tid, target)
                    lexical[tid] = sorted([*lexical.get(tid, []), *lexical.pop(sid, [])], reverse=True)

        candidates = [
            self._score(doc, lexical.get(sid, []), published, vector, entities, language)
            for sid, doc in stories.items()
        ]
        candidates = [c for c in candidates if c.decay > 0.0]
        candidates.sort(key=lambda c: (-c.score, c.story.get("first_seen") or "", c.story["story_id"]))
        if logger.isEnabledFor(logging.DEBUG):
            for c in candidates[:3]:
                logger.debug(
                    "%s -> %s score=%.3f lex=%.3f ent=%.3f emb=%.3f cos=%s decay=%.3f specific=%.2f",
                    doc_id,
                    c.story["story_id"],
                    c.score,
                    c.lexical,
                    c.entities,
                    c.embedding,
                    c.cosine,
                    c.decay,
                    c.specific,
                )

        best = candidates[0] if candidates and candidates[0].score >= self.options.join_threshold else None
        if best is None:
            story = self._new_story(doc_id, published)
            self._add_member(story, src, published, vector, 1.0)
            self._write([self._article_update(hit, story["story_id"], 1.0), self._story_op(story)], refresh=True)
            self.stats.created += 1
            return Assignment(doc_id, story["story_id"], 1.0, True)

        ops: list[dict[str, Any]] = []
        target = best.story
        second = candidates[1] if len(candidates) > 1 else None
        if (
            second is not None
            and best.score >= self.options.merge_threshold
            and second.score >= self.options.merge_threshold
        ):
            target, loser = self._merge_order(best.story, second.story)
            ops.extend(self._merge(target, loser, via=doc_id))
        self._add_member(target, src, published, vector, best.score)
        ops.append(self._article_update(hit, target["story_id"], best.score))
        ops.append(self._story_op(target))
        self._write(ops, refresh=True)
        self.stats.joined += 1
        return Assignment(doc_id, str(target["story_id"]), round(best.score, 4), False)

    def _retrieve(
        self,
        hit: dict[str, Any],
        doc_id: str,
        published: datetime,
        vector: list[float] | None,
        entities: list[str],
    ) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]], dict[str, Any] | None]:
        o = self.options
        lo = _iso(published - timedelta(days=o.window_days))
        hi = _iso(published + timedelta(days=o.window_days))
        mlt = {
            "bool": {
                "must": [
                    {
                        "more_like_this": {
                            "fields": ["title", "lead", "body"],
                            "like": [{"_index": hit["_index"], "_id": hit["_id"]}],
                            "min_term_freq": 1,
                            "min_doc_freq": 1,
                            "max_query_terms": o.max_query_terms,
                            "minimum_should_match": "1",
                            "include": True,
                            "stop_words": sorted(stop_words()),
                        }
                    }
                ],
                "filter": [
                    {
                        "bool": {
                            "should": [
                                {"ids": {"values": [hit["_id"]]}},
                                {
                                    "bool": {
                                        "filter": [
                                            {"exists": {"field": "story_id"}},
                                            {"range": {"published_at": {"gte": lo, "lte": hi}}},
                                        ]
                                    }
                                },
                            ],
                            "minimum_should_match": 1,
                        }
                    }
                ],
            }
        }
        window = [
            {"term": {"status": STATUS_ACTIVE}},
            {"range": {"last_seen": {"gte": lo}}},
            {"range": {"first_seen": {"lte": hi}}},
        ]
        story_body: dict[str, Any] = {
            "size": o.candidates,
            "query": {
                "bool": {
                    "filter": window,
                    "should": [{"terms": {"entities": entities}}] if entities else [],
                    "minimum_should_match": 1 if entities else 0,
                }
            },
        }
        if not entities:
            story_body["size"] = 0
        if vector:
            story_body["knn"] = {
                "field": "centroid",
                "query_vector": vector,
                "k": o.candidates,
                "num_candidates": max(50, o.candidates * 5),
                "filter": {"bool": {"filter": window}},
            }
            story_body["size"] = o.candidates * 2
        searches: list[dict[str, Any]] = [
            {"index": self.index.articles_alias},
            {
                "size": o.candidates + 1,
                "query": mlt,
                "collapse": {
                    "field": "story_id",
                    "inner_hits": {"name": "top", "size": max(1, o.lexical_members_max), "_source": False},
                },
                "_source": ["story_id"],
            },
            {"index": self.index.stories_alias},
            {**story_body, "_source": {"exclude_vectors": False}},
            {"index": self.index.stories_alias},
            {"size": 1, "query": {"term": {"article_ids": doc_id}}, "_source": ["story_id"]},
        ]
        resp = self._call(self.es.msearch, searches=searches)
        responses = resp["responses"]
        for r in responses:
            if "error" in r:
                raise IndexingError(f"candidate search failed: {r['error']}")
        self_score = 0.0
        lexical: dict[str, list[float]] = {}
        raw: list[tuple[str, list[float]]] = []
        for h in responses[0]["hits"]["hits"]:
            if h["_id"] == hit["_id"]:
                self_score = float(h["_score"] or 0.0)
                continue
            sid = (h.get("_source") or {}).get("story_id")
            if sid:
                inner = ((h.get("inner_hits") or {}).get("top") or {}).get("hits", {}).get("hits", [])
                scores = [float(x["_score"] or 0.0) for x in inner] or [float(h["_score"] or 0.0)]
                raw.append((str(sid), scores))
        if self_score > 0:
            for sid, scores in raw:
                lexical[sid] = sorted((min(1.0, x / self_score) for x in scores), reverse=True)
        stories = {str(h["_source"]["story_id"]): h["_source"] for h in responses[1]["hits"]["hits"]}
        holders = responses[2]["hits"]["hits"]
        return lexical, stories, (holders[0]["_source"] if holders else None)

    def _score(
        self,
        story: dict[str, Any],
        mlt_ratios: Sequence[float],
        published: datetime,
        vector: list[float] | None,
        entities: list[str],
        language: str = "",
    ) -> _Candidate:
        o = self.options
        state = story.get("grouping_state") or {}
        cand = _Candidate(story=story)
        size = int(story.get("article_count") or 1)
        languages = state.get("language_counts")
        # members in the article's language (stories written before language counts existed: all members)
        same = int(languages.get(language, 0)) if isinstance(languages, dict) and language else size
        cand.same_language = same
        if same:
            cand.lexical = lexical_evidence(mlt_ratios, same, o)
        counts = state.get("entity_counts") or {}
        cand.entities = entity_evidence(entities, counts, size, self._idf, o.entity_distinct_full)
        cand.specific = shared_specific_mass(entities, counts, size, self._idf, o.content_bypass_rare_idf)
        centroid = story.get("centroid")
        if vector and centroid:
            cand.cosine = cosine(vector, centroid)
            cand.embedding = embedding_evidence(cand.cosine, o)
        cand.decay = time_decay(published, parse_time(story.get("first_seen")), parse_time(story.get("last_seen")), o)
        cand.score = combine(cand, has_entities=bool(entities), has_embedding=bool(vector), options=o) * cand.decay
        return cand

    # --- story documents ----------------------------------------------------------------------------------

    def _new_story(self, doc_id: str, published: datetime) -> dict[str, Any]:
        return {
            "story_id": STORY_PREFIX + doc_id,
            "status": STATUS_ACTIVE,
            "headline": "",
            "key_terms": [],
            "entities": [],
            "tags": [],
            "subtopics": [],
            "first_seen": _iso(published),
            "last_seen": _iso(published),
            "article_count": 0,
            "article_ids": [],
            "outlets": [],
            "languages": [],
            "grouping_state": {
                "entity_counts": {},
                "term_counts": {},
                "tag_counts": {},
                "subtopic_counts": {},
                "language_counts": {},
                "vectors": 0,
                "origin": None,
                "headline_vec": None,
                "drifting": False,
            },
        }

    def _add_member(
        self,
        story: dict[str, Any],
        src: Mapping[str, Any],
        published: datetime,
        vector: list[float] | None,
        score: float,
    ) -> None:
        state = story.setdefault("grouping_state", {})
        doc_id = str(src.get("doc_id"))
        if doc_id in story.get("article_ids", []):
            return
        story["article_ids"] = [*story.get("article_ids", []), doc_id]
        story["article_count"] = len(story["article_ids"])
        first, last = parse_time(story.get("first_seen")), parse_time(story.get("last_seen"))
        story["first_seen"] = _iso(min(published, first) if first else published)
        story["last_seen"] = _iso(max(published, last) if last else published)
        for key, values in (
            ("entity_counts", src.get("entities") or []),
            ("tag_counts", src.get("tags") or []),
            ("subtopic_counts", src.get("subtopics") or []),
            ("language_counts", [src["language"]] if src.get("language") else []),
            (
                "term_counts",
                content_terms(f"{src.get('title') or ''} {src.get('title') or ''} {src.get('lead') or ''}"),
            ),
        ):
            counts: dict[str, int] = state.setdefault(key, {})
            for v in set(values) if key != "term_counts" else values:
                counts[v] = counts.get(v, 0) + 1
            if key == "term_counts" and len(counts) > 400:  # keep the state small
                state[key] = dict(Counter(counts).most_common(300))
        for fld, value in (("outlets", src.get("outlet")), ("languages", src.get("language"))):
            if value and value not in story.get(fld, []):
                story[fld] = sorted([*story.get(fld, []), value])
        title = str(src.get("title") or "")
        if vector:
            n = int(state.get("vectors") or 0)
            old = story.get("centroid")
            if old and n:
                story["centroid"] = normalise([(a * n + b) / (n + 1) for a, b in zip(old, vector, strict=True)])
            else:
                story["centroid"] = normalise(vector)
            state["vectors"] = n + 1
            if state.get("origin") is None:
                state["origin"] = story["centroid"]
            centroid = story["centroid"]
            head_vec = state.get("headline_vec")
            better = head_vec is None or cosine(vector, centroid) > cosine(head_vec, centroid)
            if title and (not story.get("headline") or better):
                story["headline"] = title
                state["headline_vec"] = vector
            drift = 1.0 - cosine(centroid, state["origin"])
            if drift > self.options.drift_threshold and not state.get("drifting"):
                state["drifting"] = True
                logger.info(
                    "story %s drifts: centroid moved %.3f from its first article (%d articles, now %r)",
                    story["story_id"],
                    drift,
                    story["article_count"],
                    story.get("headline"),
                )
            state["drift"] = round(drift, 4)
        elif not story.get("headline") and title:
            story["headline"] = title
        self._refresh_summary(story)

    def _refresh_summary(self, story: dict[str, Any]) -> None:
        state = story["grouping_state"]
        o = self.options

        def top(counts: Mapping[str, int], n: int) -> list[str]:
            return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

        story["key_terms"] = top(state.get("term_counts") or {}, o.max_key_terms)
        story["entities"] = top(state.get("entity_counts") or {}, o.max_entities)
        story["tags"] = top(state.get("tag_counts") or {}, 20)
        story["subtopics"] = top(state.get("subtopic_counts") or {}, 20)
        story["updated_at"] = _iso(datetime.now(UTC))

    @staticmethod
    def _merge_order(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(survivor, merged): the larger story survives, then the older, then the smaller id."""

        def key(s: dict[str, Any]) -> tuple[int, str, str]:
            return (-int(s.get("article_count") or 0), str(s.get("first_seen") or ""), str(s["story_id"]))

        return (a, b) if key(a) <= key(b) else (b, a)

    def _merge(self, survivor: dict[str, Any], loser: dict[str, Any], *, via: str) -> list[dict[str, Any]]:
        """Fold ``loser`` into ``survivor`` (in place); returns the bulk operations that persist the loser side."""
        logger.info(
            "merging story %s (%d articles) into %s (%d articles): article %s matches both",
            loser["story_id"],
            loser.get("article_count", 0),
            survivor["story_id"],
            survivor.get("article_count", 0),
            via,
        )
        s_state, l_state = survivor.setdefault("grouping_state", {}), loser.get("grouping_state") or {}
        for key in ("entity_counts", "tag_counts", "subtopic_counts", "term_counts", "language_counts"):
            merged = Counter(s_state.get(key) or {})
            merged.update(l_state.get(key) or {})
            s_state[key] = dict(merged)
        n_s, n_l = int(s_state.get("vectors") or 0), int(l_state.get("vectors") or 0)
        if loser.get("centroid") and survivor.get("centroid") and n_s + n_l:
            survivor["centroid"] = normalise(
                [
                    (a * n_s + b * n_l) / (n_s + n_l)
                    for a, b in zip(survivor["centroid"], loser["centroid"], strict=True)
                ]
            )
        elif loser.get("centroid"):
            survivor["centroid"] = loser["centroid"]
            s_state["origin"] = l_state.get("origin")
        s_state["vectors"] = n_s + n_l
        moved = [a for a in loser.get("article_ids", []) if a not in survivor.get("article_ids", [])]
        survivor["article_ids"] = [*survivor.get("article_ids", []), *moved]
        survivor["article_count"] = len(survivor["article_ids"])
        for fld in ("outlets", "languages"):
            survivor[fld] = sorted(set(survivor.get(fld, [])) | set(loser.get(fld, [])))
        for fld, pick in (("first_seen", min), ("last_seen", max)):
            values = [v for v in (survivor.get(fld), loser.get(fld)) if v]
            if values:
                survivor[fld] = _iso(pick(t for t in (parse_time(v) for v in values) if t is not None))
        self._refresh_summary(survivor)
        self.stats.merges += 1
        now = _iso(datetime.now(UTC))
        loser_doc = {
            **loser,
            "status": STATUS_MERGED,
            "merged_into": survivor["story_id"],
            "updated_at": now,
        }
        ops = [self._story_op(loser_doc)]
        ops.extend(
            {
                "_op_type": "update",
                "_index": self.index.articles_alias,
                "_id": article_id,
                "doc": {"story_id": survivor["story_id"], "story_assigned_at": now},
            }
            for article_id in moved
        )
        return ops

    def _article_update(self, hit: Mapping[str, Any], story_id: str, score: float) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "story_id": story_id,
            "story_score": round(float(score), 4),
            "story_assigned_at": _iso(datetime.now(UTC)),
        }
        if hit.get("_new_embedding"):
            doc["embedding"] = hit["_source"]["embedding"]
        return {"_op_type": "update", "_index": hit["_index"], "_id": hit["_id"], "doc": doc}

    def _story_op(self, story: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "_op_type": "index",
            "_index": self.index.stories_alias,
            "_id": story["story_id"],
            "_source": dict(story),
        }

    # --- Elasticsearch plumbing ---------------------------------------------------------------------------

    def _write(self, ops: Sequence[Mapping[str, Any]], *, refresh: bool) -> None:
        lines: list[dict[str, Any]] = []
        for op in ops:
            kind = op["_op_type"]
            lines.append({kind: {"_index": op["_index"], "_id": op["_id"]}})
            lines.append({"doc": op["doc"]} if kind == "update" else op["_source"])
        resp = self._call(self.es.bulk, operations=lines)
        if resp.get("errors"):
            failed = [i for i in resp["items"] if next(iter(i.values())).get("error")]
            for item in failed[:5]:
                logger.error("story grouping write rejected: %s", item)
            raise RequestRejected(f"{len(failed)} story grouping writes were rejected", failed=len(failed))
        if refresh:
            self._call(self.es.indices.refresh, index=[self.index.articles_alias, self.index.stories_alias])

    def _get_story(self, story_id: str) -> dict[str, Any] | None:
        found = self._mget_stories([story_id])
        return found.get(story_id)

    def _mget_stories(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        # a search rather than mget: ES 9 leaves dense vectors out of _source unless asked, and only search
        # takes that option in the body
        resp = self._call(
            self.es.search,
            index=self.index.stories_alias,
            query={"ids": {"values": list(ids)}},
            size=len(ids),
            source={"exclude_vectors": False},
        )
        return {h["_id"]: h["_source"] for h in resp["hits"]["hits"]}

    def _get_article(self, doc_id: str) -> dict[str, Any] | None:
        resp = self._call(
            self.es.mget, index=self.index.articles_alias, ids=[doc_id], source_excludes=["body", "embedding"]
        )
        docs = [d["_source"] for d in resp["docs"] if d.get("found")]
        return docs[0] if docs else None

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        self.stats.queries += 1
        return call("story grouping request", fn, **kwargs)
