"""The grouping loop: pending articles, in ``(time, doc_id)`` order, joined to stories held in memory.

Per call of :meth:`StoryGrouper.assign_pending`:

1. list the articles without ``story_id`` (ids and dates), in grouping order;
2. per batch of ``store.batch_size`` articles: load the window once (active stories whose ``active_until`` is
   at or after the batch's first article; later batches keep the in-memory window and evict by time), read the
   batch's articles, and assign each in memory: candidates from shared terms, keys and (for cross-language
   evidence) vectors, scored by :mod:`ingest.stories.evidence` (an article is embedded only when cross-language
   evidence could change where it goes, see :meth:`StoryGrouper._cross_gate`; the batch's probable needs are
   embedded first in one call; vectors stored on articles are read back, never computed twice); the best story
   at or above ``join_threshold`` is joined, else the article founds ``st-<doc_id>``; an article scoring
   ``merge_threshold`` against two stories merges them, and so does one that could join both when the two stories,
   compared as wholes, score ``merge_pair_threshold`` (the larger survives; the other redirects through
   ``merged_into``);
3. write the batch once: changed stories (optimistic concurrency), then the articles (``story_id``,
   ``story_title``, ``story_score``, ``story_assigned_at``, and the ``embedding`` and ``embedding_key`` of every
   article whose vector was computed in this batch), then one refresh. A stored vector is used only while its
   key matches the article's current text.

Deterministic for a given order: the in-memory window at an article is exactly the stories active at its time,
whether they were loaded (a restart) or kept (one long run), and every statistic is computed from them. An
article that a story already lists (a re-indexed document) goes back to that story, counts unchanged.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, StoryOptions
from ingest.embeddings import Embedder, Matrix, embedding_key
from ingest.errors import GroupingConflict
from ingest.stories.evidence import Score, TermStats, score, story_as_article, tfidf, time_factor
from ingest.stories.features import ArticleFeatures, features
from ingest.stories.record import STATUS_ACTIVE, Story, StoryDocument, merge_order
from ingest.stories.store import ArticleUpdate, ClockState, PendingRef, StoryStore
from ingest.stories.window import Window

if TYPE_CHECKING:
    from ingest.stories.lookup import RelatedStory

logger = logging.getLogger(__name__)

#: Stories in other languages whose first member is embedded for one article (cross-language candidates), and
#: stories taken from the nearest embedding centroids.
_CROSS_CANDIDATES = 3
_NEAREST = 5


@dataclass(frozen=True)
class Assignment:
    """Where one article went."""

    doc_id: str
    story_id: str
    score: float
    created: bool
    path: str = "same"  # "same" | "cross" | "new" | "replay"


class GroupingResult(TypedDict):
    """What one grouping run did (the stories DAG task's XCom; JSON)."""

    assigned: int
    new_stories: int
    joined: int
    joined_cross_language: int
    replayed: int
    merges: int
    embedded: int
    batches: int
    conflicts: int
    es_requests: int
    seconds: float
    articles_per_s: float
    disabled: bool


@dataclass
class GroupingStats:
    """Counters over a grouper's lifetime."""

    articles: int = 0
    created: int = 0
    joined: int = 0
    joined_cross: int = 0
    replayed: int = 0
    merges: int = 0
    embedded: int = 0
    batches: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0
    #: per-article in-memory assignment time (seconds)
    latencies: list[float] = field(default_factory=list)

    def result(self, requests: int) -> GroupingResult:
        return {
            "assigned": self.articles,
            "new_stories": self.created,
            "joined": self.joined,
            "joined_cross_language": self.joined_cross,
            "replayed": self.replayed,
            "merges": self.merges,
            "embedded": self.embedded,
            "batches": self.batches,
            "conflicts": self.conflicts,
            "es_requests": requests,
            "seconds": round(self.seconds, 3),
            "articles_per_s": round(self.articles / self.seconds, 2) if self.seconds > 0 else 0.0,
            "disabled": False,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StoryGrouper:
    """Assigns indexed articles to stories (see the module docstring)."""

    def __init__(
        self,
        es: Elasticsearch,
        options: StoryOptions,
        index: IndexOptions,
        embedder: Embedder | None = None,
        *,
        writer: str | None = None,
    ) -> None:
        self.options = options
        self.index = index
        self.store = StoryStore(es, index)
        policy = options.embedding.policy if options.use_embeddings else "off"
        self.embedder = embedder if policy != "off" else None
        self.policy = policy if self.embedder is not None else "off"
        self.writer = writer or f"grouper-{uuid.uuid4().hex[:12]}"
        self.stats = GroupingStats()
        #: called with the batch's assignments just before it is written (tests use it to interleave groupers)
        self.before_write: Callable[[list[Assignment]], None] | None = None

    # --- public -----------------------------------------------------------------------------------------

    def assign_pending(self, *, limit: int | None = None) -> list[Assignment]:
        """Group every article that has no ``story_id`` yet, in ``(time, doc_id)`` order."""
        started = time.perf_counter()
        results: list[Assignment] = []
        for attempt in range(self.options.store.conflict_retries + 1):
            try:
                self._run(results, limit=None if limit is None else limit - len(results))
                break
            except GroupingConflict as exc:
                self.stats.conflicts += 1
                if attempt >= self.options.store.conflict_retries:
                    raise
                logger.info("story grouping conflict (%s): reloading and regrouping what is still pending", exc)
        self.stats.seconds += time.perf_counter() - started
        if results:
            logger.info(
                "story grouping: %d articles, %d new stories, %d joined (%d across languages), %d replayed, "
                "%d merges, %d embedded, %.1fs",
                len(results),
                sum(1 for a in results if a.created),
                sum(1 for a in results if a.path in ("same", "cross")),
                sum(1 for a in results if a.path == "cross"),
                sum(1 for a in results if a.path == "replay"),
                self.stats.merges,
                self.stats.embedded,
                time.perf_counter() - started,
            )
        else:
            logger.info("story grouping: no pending articles")
        return results

    def result(self) -> GroupingResult:
        return self.stats.result(self.store.requests)

    def related(self, url_or_id: str, *, max_articles: int = 500) -> RelatedStory:
        """The read side, for callers holding a grouper (see :func:`ingest.stories.lookup.related`)."""
        from ingest.stories.lookup import related

        return related(self.store.es, self.index, url_or_id, max_articles=max_articles)

    # --- the loop ---------------------------------------------------------------------------------------

    def _run(self, done: list[Assignment], *, limit: int | None) -> None:
        """Group what is pending, appending each batch's assignments to ``done`` once it is written."""
        o = self.options
        pending = self.store.pending(limit=limit, future_tolerance_days=o.window.future_tolerance_days)
        if not pending:
            return
        clock = self.store.wait_idle(self.writer, o.store.wait_seconds)
        window: Window | None = None
        for start in range(0, len(pending), o.store.batch_size):
            batch = pending[start : start + o.store.batch_size]
            snapshot = replace(self.stats, latencies=list(self.stats.latencies))
            try:
                if window is None:
                    window = Window(o)
                    until = pending[-1].time + timedelta(days=o.window.window_days)
                    window.load(self.store.window(batch[0].time, until, legacy_days=o.window.window_days))
                assignments, dirty, updates = self._assign_batch(window, batch)
                if self.before_write is not None:
                    self.before_write(assignments)
                clock = self._commit(clock, dirty, updates)
            except GroupingConflict:
                self.stats = snapshot  # no article of this batch was assigned: its counts go too
                raise
            done.extend(assignments)
            self.stats.batches += 1

    def _commit(self, clock: ClockState, dirty: Sequence[Story], updates: Mapping[str, ArticleUpdate]) -> ClockState:
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        w = self.options.window
        docs: list[tuple[Story, StoryDocument]] = []
        for story in dirty:
            until = story.active_until(w.window_days, w.followup_days, w.followup_min_articles)
            docs.append(
                (
                    story,
                    story.document(
                        until=until,
                        now=now,
                        key_terms=self._key_terms(story),
                        max_entities=self.options.store.max_entities,
                    ),
                )
            )
        writing = self.store.begin(clock, self.writer, self.options.store.lease_seconds)
        try:
            self.store.write(docs, updates)
        except Exception:
            # part of the batch may be written: move the clock on (others reload) instead of leaving the lease
            # to expire; the articles not yet assigned stay pending and go back to the stories that list them
            try:
                self.store.finish(writing)
            except Exception:  # the original error matters more
                logger.warning("could not release the story writer lease after a failed write", exc_info=True)
            raise
        for story in dirty:
            story.dirty = story.headline_changed = False
        self.stats.write_seconds += time.perf_counter() - t0
        return self.store.finish(writing)

    def _key_terms(self, story: Story) -> list[str]:
        # ranked by weight x a fixed, index-independent idf (the background prior alone)

        prior = TermStats(self.options.evidence)
        ranked: dict[str, float] = {}
        for lang, side in story.sides.items():
            for t, w in side.terms.items():
                ranked[t] = max(ranked.get(t, 0.0), w * prior.idf(t, lang))
        top = sorted(ranked.items(), key=lambda kv: (-kv[1], kv[0]))[: self.options.store.max_key_terms]
        return [story.labels.get(t, t) for t, _ in top]

    def _assign_batch(
        self, window: Window, batch: Sequence[PendingRef]
    ) -> tuple[list[Assignment], list[Story], dict[str, ArticleUpdate]]:
        o = self.options
        sources = self.store.articles([r.doc_id for r in batch])
        holders: dict[str, Story] = {}
        for story in self.store.holders(list(sources)):
            for doc_id in story.article_ids:
                if doc_id in sources:
                    holders[doc_id] = story
        arts = [
            features(
                sources[r.doc_id],
                body_chars=o.store.body_chars,
                embed_chars=o.embedding.chars,
                future_tolerance_days=o.window.future_tolerance_days,
                doc_id=r.doc_id,
            )
            for r in batch
            if r.doc_id in sources
        ]
        cache = _VectorCache({a.doc_id: a.vector for a in arts}, read=[a.doc_id for a in arts])
        if self.policy == "all":
            vectors = self._embed_now([(a.doc_id, a.embed_text) for a in arts], cache)
            arts = [_with_vector(a, vec) for a, vec in zip(arts, vectors, strict=True)]
        elif self.policy == "cross_lingual":
            # a stored vector is a cache, not a decision: the gate in _assign decides whether an article uses one
            arts = [_with_vector(a, None) for a in arts]
            self._prefetch(window, arts, cache)
        dirty: dict[str, Story] = {}
        updates: dict[str, ArticleUpdate] = {}
        assignments: list[Assignment] = []
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        for article in arts:
            t0 = time.perf_counter()
            for gone in window.advance(article.published):
                if gone.dirty:
                    dirty[gone.story_id] = gone
            holder = holders.get(article.doc_id)
            if holder is not None:
                target = self._resolve(window, holder)
                updates[article.doc_id] = {
                    "story_id": target.story_id,
                    "story_title": target.headline,
                    "story_score": 1.0,
                    "story_assigned_at": now,
                }
                assignments.append(Assignment(article.doc_id, target.story_id, 1.0, False, "replay"))
                self.stats.replayed += 1
            else:
                article, assignment = self._assign(window, article, dirty, cache)
                updates[article.doc_id] = {
                    "story_id": assignment.story_id,
                    "story_score": round(assignment.score, 4),
                    "story_assigned_at": now,
                }
                assignments.append(assignment)
            self.stats.articles += 1
            self.stats.latencies.append(time.perf_counter() - t0)
        # vectors computed now are stored on their articles (also a story's earlier first member): never again
        for doc_id, vec, key in cache.computed():
            update = updates.setdefault(doc_id, {})
            update["embedding"] = [float(x) for x in vec]
            update["embedding_key"] = key
        # story_title on every member whose story's headline changed (and on every article assigned now)
        for story in dirty.values():
            if story.status != STATUS_ACTIVE:
                continue
            members = story.article_ids if story.headline_changed else [a for a in story.article_ids if a in updates]
            for doc_id in members:
                updates.setdefault(doc_id, {})["story_id"] = story.story_id
                updates[doc_id]["story_title"] = story.headline
        for update in updates.values():
            if "story_title" not in update:
                sid = update.get("story_id", "")
                st = window.stories.get(sid) or dirty.get(sid)
                if st is not None:
                    update["story_title"] = st.headline
        return assignments, sorted(dirty.values(), key=lambda s: s.story_id), updates

    def _resolve(self, window: Window, story: Story) -> Story:
        seen = 0
        while story.status != STATUS_ACTIVE and story.merged_into and seen < 10:
            nxt = window.stories.get(story.merged_into) or self.store.story(story.merged_into)
            if nxt is None:
                break
            story, seen = nxt, seen + 1
        return window.stories.get(story.story_id, story)

    def _assign(
        self,
        window: Window,
        article: ArticleFeatures,
        dirty: dict[str, Story],
        cache: _VectorCache,
    ) -> tuple[ArticleFeatures, Assignment]:
        o = self.options
        weighted = tfidf(article.terms, article.language, window.stats)
        candidates, keyed = window.candidates(article, weighted)
        scores = [self._score(window, article, weighted, story) for story in candidates]
        if self.policy == "cross_lingual" and article.vector is None:
            cross = self._cross_gate(article, candidates, keyed, scores)
            if cross:
                self._embed_ahead(article, candidates, keyed, scores, cross, cache)
                article = _with_vector(article, self._embed_now([(article.doc_id, article.embed_text)], cache)[0])
                for story in cross:
                    self._embed_sides(window, story, article.language, dirty, cache)
                scores = [self._score(window, article, weighted, story) for story in candidates]
        if article.vector is not None:
            if any(self._needs_sides(s, article.language) for s in candidates[:_CROSS_CANDIDATES]):
                named = {s.story_id for s in scores if s.cross_keys > 0.0}
                for story in candidates[:_CROSS_CANDIDATES]:
                    if story.story_id in keyed or story.story_id in named:
                        self._embed_sides(window, story, article.language, dirty, cache)
                scores = [self._score(window, article, weighted, story) for story in candidates]
            for story in window.nearest(article.vector, article.language, _NEAREST):
                if story not in candidates:
                    candidates.append(story)
                    scores.append(self._score(window, article, weighted, story))
        by_id = {s.story_id: s for s in candidates}
        scores.sort(key=lambda s: (-s.score, by_id[s.story_id].first_seen, s.story_id))
        if logger.isEnabledFor(logging.DEBUG):
            for s in scores[:3]:
                logger.debug("%s -> %s %s", article.doc_id, s.story_id, s)
        best = scores[0] if scores and scores[0].score >= o.evidence.join_threshold else None
        if best is None:
            story = Story.found(article)
            story.add(article, story_terms=o.store.story_terms, representatives=o.embedding.representatives)
            window.attach(story)
            dirty[story.story_id] = story
            self.stats.created += 1
            return article, Assignment(article.doc_id, story.story_id, 1.0, True, "new")
        target = by_id[best.story_id]
        second = scores[1] if len(scores) > 1 else None
        if second is not None and self._merges(window, best, second, target, by_id[second.story_id]):
            survivor, loser = merge_order(target, by_id[second.story_id])
            window.detach(survivor)
            window.detach(loser)
            moved = survivor.absorb(loser, story_terms=o.store.story_terms, representatives=o.embedding.representatives)
            window.attach(survivor)
            dirty[loser.story_id] = loser
            logger.info(
                "merged story %s into %s (%d articles moved): article %s matches both",
                loser.story_id,
                survivor.story_id,
                len(moved),
                article.doc_id,
            )
            self.stats.merges += 1
            target = survivor
        window.detach(target)
        target.add(article, story_terms=o.store.story_terms, representatives=o.embedding.representatives)
        window.attach(target)
        dirty[target.story_id] = target
        self.stats.joined += 1
        if best.path == "cross":
            self.stats.joined_cross += 1
        return article, Assignment(article.doc_id, target.story_id, round(best.score, 4), False, best.path)

    def _merges(self, window: Window, best: Score, second: Score, target: Story, other: Story) -> bool:
        """Whether an article that two stories would take merges them: it scores ``merge_threshold`` against both,
        or it could join both and the stories themselves, the smaller seen as one article
        (:func:`~ingest.stories.evidence.story_as_article`), score ``merge_pair_threshold`` against each other
        (a story founded by an early piece that named the event differently, then told in the other's words)."""
        ev = self.options.evidence
        if best.score >= ev.merge_threshold and second.score >= ev.merge_threshold:
            return True
        if second.score < ev.join_threshold or ev.merge_pair_threshold > 1.0:
            return False
        big, small = merge_order(target, other)
        if not any(side.terms for side in small.sides.values()):
            return False  # a story stored before grouping_state: no evidence of its own yet
        pseudo = story_as_article(small, big, ev)
        weighted = tfidf(pseudo.terms, pseudo.language, window.stats)
        pair = score(pseudo, weighted, big, window.stats, ev, self.options.window)
        logger.debug("pair %s -> %s %s", small.story_id, big.story_id, pair)
        return pair.score >= ev.merge_pair_threshold

    def _score(self, window: Window, article: ArticleFeatures, weighted: Mapping[str, float], story: Story) -> Score:
        sides: dict[str, Matrix] = {}
        if article.vector is not None:
            for lang, side in story.sides.items():
                vec = side.unit_vector() if lang != article.language else None
                if vec is not None:
                    sides[lang] = vec
        o = self.options
        return score(article, weighted, story, window.stats, o.evidence, o.window, sides)

    @staticmethod
    def _needs_sides(story: Story, language: str) -> bool:
        return any(
            lang != language and side.count and not side.vectors and side.reps for lang, side in story.sides.items()
        )

    def _cross_gate(
        self, article: ArticleFeatures, candidates: Sequence[Story], keyed: Mapping[str, float], scores: Sequence[Score]
    ) -> list[Story]:
        """The stories that only cross-language evidence could join this article to; empty: no embedding needed.

        Those are candidates with members in another language that share a key with the article (any key, countries
        too: pieces naming only countries join on a strong embedding alone; or a name one side has only in its text,
        see :func:`~ingest.stories.evidence.cross_named`), carry at least ``min_key_share`` of its key evidence (on
        the cross-language path), and could reach the join threshold even with a perfect embedding match (the
        conflict and time factors are known before embedding); and only when no story in its own language takes it.
        """
        ev, emb = self.options.evidence, self.options.embedding
        if any(s.score >= ev.join_threshold for s in scores):
            return []
        by_id = {s.story_id: s for s in scores}
        out: list[Story] = []
        for story in candidates:
            s = by_id.get(story.story_id)
            if s is None or (story.story_id not in keyed and s.cross_keys <= 0.0):
                continue
            keys = max(s.keys, s.cross_keys)
            if keys < emb.min_key_share:
                continue
            if not any(lang != article.language and side.count for lang, side in story.sides.items()):
                continue
            factor, minimum = time_factor(
                s.gap_days,
                story,
                self.options.window,
                join_threshold=ev.join_threshold,
                before=article.published < story.first_seen,
            )
            best = (ev.weight_cross_embedding + ev.weight_cross_keys * keys) / (
                ev.weight_cross_embedding + ev.weight_cross_keys
            )
            best *= s.conflict_factor
            if best >= minimum and best * factor >= ev.join_threshold:
                out.append(story)
            if len(out) >= _CROSS_CANDIDATES:
                break
        return out

    def _prefetch(self, window: Window, arts: Sequence[ArticleFeatures], cache: _VectorCache) -> None:
        """Embed, in one batched call, what the batch's articles will probably need (the engine is ~30 % cheaper per
        text in batches): the articles that pass the gate against the window as it is now, and the first members of
        their cross-language candidates. Only a cache: the gate is judged again per article at its turn (stories
        founded within the batch can open it later; what is missing then is embedded one at a time), so results do
        not depend on the prediction or on how the run was cut into batches."""
        wanted: dict[str, str] = {}
        for article in arts:
            weighted = tfidf(article.terms, article.language, window.stats)
            candidates, keyed = window.candidates(article, weighted)
            scores = [self._score(window, article, weighted, story) for story in candidates]
            cross = self._cross_gate(article, candidates, keyed, scores)
            if not cross:
                continue
            if cache.get(article.doc_id) is None:
                wanted[article.doc_id] = article.embed_text
            for story in cross:
                for lang, side in story.sides.items():
                    if lang != article.language and not side.vectors:
                        wanted.update((doc_id, text) for doc_id, text in side.reps if cache.get(doc_id) is None)
        if wanted:
            self._embed_now(sorted(wanted.items()), cache)

    def _embed_ahead(
        self,
        article: ArticleFeatures,
        candidates: Sequence[Story],
        keyed: Mapping[str, float],
        scores: Sequence[Score],
        cross: Sequence[Story],
        cache: _VectorCache,
    ) -> None:
        """Once the gate has opened: compute in one batched call every vector :meth:`_assign` is about to ask for
        one call at a time (the article's, then the first members of the other-language sides of its cross
        stories, then of the keyed or named ones among the first candidates: ``cross_keys`` does not depend on
        the article's vector). The engine runs a batch one text per core, a single text across both cores at
        about 60 % of the efficiency, so this halves the wait where two or more texts are needed. Only a cache:
        the vectors stay aside until :meth:`_embed_now` asks for them (what is never asked for is neither counted
        nor written), so assignments, counts and the stored vectors are those of the calls one at a time."""
        named = {s.story_id for s in scores if s.cross_keys > 0.0}
        stories = list(cross) + [
            s for s in candidates[:_CROSS_CANDIDATES] if s.story_id in keyed or s.story_id in named
        ]
        wanted: dict[str, str] = {article.doc_id: article.embed_text}
        for story in stories:
            for lang, side in sorted(story.sides.items()):
                if lang != article.language and not side.vectors:
                    for doc_id, text in side.reps:
                        wanted.setdefault(doc_id, text)
        if len(wanted) > 1:
            self._embed_now(list(wanted.items()), cache, ahead=True)

    def _embed_now(self, texts: Sequence[tuple[str, str]], cache: _VectorCache, *, ahead: bool = False) -> list[Matrix]:
        """Vectors of ``(doc_id, text)``: from the cache, else stored on the article, else computed (one call).

        ``ahead``: compute the missing ones but keep them aside (see :meth:`_embed_ahead`); a later call takes
        them from there instead of computing them again."""
        missing = {doc_id: text for doc_id, text in texts if cache.get(doc_id) is None and doc_id not in cache.read}
        if missing:
            for doc_id, vec in self.store.vectors(missing).items():
                cache.put(doc_id, np.asarray(vec, dtype=np.float32), fresh=False)
            cache.read.update(missing)
        todo = [(doc_id, text) for doc_id, text in texts if cache.get(doc_id) is None]
        if ahead:
            todo = [(doc_id, text) for doc_id, text in todo if not cache.has_aside(doc_id)]
        else:  # a vector computed ahead is taken (and counted) as computed now
            self.stats.embedded += sum(cache.claim(doc_id) for doc_id, _ in todo)
            todo = [(doc_id, text) for doc_id, text in todo if cache.get(doc_id) is None]
        if todo:
            assert self.embedder is not None
            matrix = self.embedder.embed([text for _, text in todo])
            for (doc_id, text), vec in zip(todo, matrix, strict=True):
                if ahead:
                    cache.put_aside(doc_id, vec, embedding_key(text))
                else:
                    cache.put(doc_id, vec, fresh=True, key=embedding_key(text))
            if not ahead:
                self.stats.embedded += len(todo)
        return [v for v in (cache.get(doc_id) for doc_id, _ in texts) if v is not None]

    def _embed_sides(
        self,
        window: Window,
        story: Story,
        language: str,
        dirty: dict[str, Story],
        cache: _VectorCache,
    ) -> None:
        """Give the story's other-language sides that have no vectors yet the vectors of their first members."""
        for lang, side in sorted(story.sides.items()):
            if lang == language or side.vectors or not side.reps:
                continue
            vectors = self._embed_now(side.reps, cache)
            for (doc_id, _), vec in zip(side.reps, vectors, strict=True):
                side.add_vector(doc_id, vec)
            window.vector_changed(story, lang)
            story.dirty = True
            dirty[story.story_id] = story


class _VectorCache:
    """Vectors of one batch by doc id: stored on the articles (read back) or computed in this batch (fresh: to be
    written onto their articles, with the :func:`~ingest.embeddings.embedding_key` of their text)."""

    def __init__(self, stored: Mapping[str, Matrix | None], *, read: Iterable[str] = ()) -> None:
        self._vectors: dict[str, Matrix] = {k: v for k, v in stored.items() if v is not None}
        self._fresh: dict[str, str] = {}
        self._aside: dict[str, tuple[Matrix, str]] = {}
        #: doc ids whose stored vector (or its absence) is known: not asked for again
        self.read: set[str] = set(read)

    def get(self, doc_id: str) -> Matrix | None:
        return self._vectors.get(doc_id)

    def put(self, doc_id: str, vector: Matrix, *, fresh: bool, key: str = "") -> None:
        self._vectors[doc_id] = vector
        if fresh:
            self._fresh[doc_id] = key

    def put_aside(self, doc_id: str, vector: Matrix, key: str) -> None:
        """A vector computed ahead of need: not seen by :meth:`get` until :meth:`claim` takes it."""
        self._aside[doc_id] = (vector, key)

    def has_aside(self, doc_id: str) -> bool:
        return doc_id in self._aside

    def claim(self, doc_id: str) -> bool:
        """Take the vector computed ahead for ``doc_id`` as computed now (fresh); whether there was one."""
        aside = self._aside.pop(doc_id, None)
        if aside is None:
            return False
        self.put(doc_id, aside[0], fresh=True, key=aside[1])
        return True

    def computed(self) -> list[tuple[str, Matrix, str]]:
        """The vectors computed in this batch: doc id, vector, key of the text."""
        return [(doc_id, self._vectors[doc_id], self._fresh[doc_id]) for doc_id in sorted(self._fresh)]


def _with_vector(article: ArticleFeatures, vector: Matrix | None) -> ArticleFeatures:
    return replace(article, vector=vector)
