"""The window: the stories that are candidates at the current time, in memory, with the idf statistics of their
articles and the postings (term and key -> stories) that candidates are looked up by.

Stories enter when loaded or founded and leave when their ``active_until`` passes (articles come in time order),
so the window at an article is exactly the stories active at its time, however the run was cut into batches.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np

from ingest.config import StoryOptions
from ingest.embeddings import Matrix
from ingest.stories.evidence import TermStats
from ingest.stories.features import ArticleFeatures
from ingest.stories.record import Story

#: Keys named by more stories than this are too generic to look candidates up by.
_MAX_POSTING = 400


class Window:
    """The stories that are candidates at the current time, with their statistics and look-up postings."""

    def __init__(self, options: StoryOptions) -> None:
        self.options = options
        self.stories: dict[str, Story] = {}
        self.stats = TermStats(options.evidence)
        self._term_postings: dict[str, set[str]] = {}
        self._key_postings: dict[str, set[str]] = {}
        self._indexed: dict[str, tuple[list[str], list[str]]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._vectors: dict[tuple[str, str], Matrix] = {}
        self._matrix: tuple[list[tuple[str, str]], Matrix] | None = None
        self._future: list[Story] = []

    def load(self, stories: list[Story]) -> None:
        """Stories from the index; each is attached once articles reach ``first_seen - window_days`` (so the window
        at an article does not depend on how far ahead this run's load reached)."""
        self._future.extend(stories)
        self._future.sort(key=lambda s: (s.first_seen, s.story_id), reverse=True)

    def advance(self, when: datetime) -> list[Story]:
        """Move to an article at ``when``: attach the loaded stories that begin soon enough, detach the expired
        ones (returned)."""
        horizon = when + timedelta(days=self.options.window.window_days)
        while self._future and self._future[-1].first_seen <= horizon:
            story = self._future.pop()
            if story.story_id not in self.stories:
                self.attach(story)
        return self.evict_before(when)

    def until(self, story: Story) -> datetime:
        w = self.options.window
        return story.active_until(w.window_days, w.followup_days, w.followup_min_articles)

    def attach(self, story: Story) -> None:
        sid = story.story_id
        self.stories[sid] = story
        self.stats.add(story)
        ranked: dict[str, float] = {}
        for lang, side in story.sides.items():
            idf = self.stats.idf_function(lang)
            for t, w in side.terms.items():
                ranked[t] = max(ranked.get(t, 0.0), w * idf(t))
        terms = [
            t for t, _ in sorted(ranked.items(), key=lambda kv: (-kv[1], kv[0]))[: self.options.store.story_index_terms]
        ]
        keys = [k for k, _ in sorted(story.key_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:60]]
        for t in terms:
            self._term_postings.setdefault(t, set()).add(sid)
        for k in keys:
            self._key_postings.setdefault(k, set()).add(sid)
        self._indexed[sid] = (terms, keys)
        heapq.heappush(self._expiry, (self.until(story), sid))
        for lang, side in story.sides.items():
            vec = side.unit_vector()
            if vec is not None:
                self._vectors[(sid, lang)] = vec
        self._matrix = None

    def detach(self, story: Story) -> None:
        sid = story.story_id
        if sid not in self.stories:
            return
        del self.stories[sid]
        self.stats.remove(story)
        terms, keys = self._indexed.pop(sid, ([], []))
        for t in terms:
            self._term_postings.get(t, set()).discard(sid)
        for k in keys:
            self._key_postings.get(k, set()).discard(sid)
        for lang in list(story.sides):
            self._vectors.pop((sid, lang), None)
        self._matrix = None

    def evict_before(self, when: datetime) -> list[Story]:
        """Detach the stories that are no longer candidates for articles at ``when`` or later."""
        gone: list[Story] = []
        while self._expiry and self._expiry[0][0] < when:
            until, sid = heapq.heappop(self._expiry)
            story = self.stories.get(sid)
            if story is None:
                continue
            current = self.until(story)
            if current > until:
                heapq.heappush(self._expiry, (current, sid))
                continue
            self.detach(story)
            gone.append(story)
        return gone

    def candidates(
        self, article: ArticleFeatures, weighted: Mapping[str, float]
    ) -> tuple[list[Story], dict[str, float]]:
        """Candidate stories (by shared terms and keys, best first) and, for those sharing keys, the weight of the
        most distinctive shared key."""
        votes: dict[str, float] = {}
        keyed: dict[str, float] = {}
        top_terms = sorted(weighted.items(), key=lambda kv: (-kv[1], kv[0]))[: self.options.store.query_terms]
        for t, w in top_terms:
            for sid in self._term_postings.get(t, ()):
                votes[sid] = votes.get(sid, 0.0) + w
        for k in sorted(article.keys):
            posting = self._key_postings.get(k, ())
            if len(posting) > _MAX_POSTING:
                continue
            weight = self.stats.key_weight(k)
            for sid in posting:
                votes[sid] = votes.get(sid, 0.0) + weight
                keyed[sid] = max(keyed.get(sid, 0.0), weight)
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[: self.options.store.candidates]
        return [self.stories[sid] for sid, _ in ranked], keyed

    def nearest(self, vector: Matrix, language: str, k: int) -> list[Story]:
        """Stories whose embedding centroid in another language is closest to ``vector``."""
        if self._matrix is None:
            keys = sorted(self._vectors)
            matrix = (
                np.vstack([self._vectors[key] for key in keys]) if keys else np.zeros((0, vector.shape[0]), np.float32)
            )
            self._matrix = (keys, matrix)
        keys, matrix = self._matrix
        if not keys:
            return []
        sims = matrix @ vector
        order = np.argsort(-sims, kind="stable")
        out: list[Story] = []
        for i in order:
            sid, lang = keys[int(i)]
            if lang != language and sid in self.stories and self.stories[sid] not in out:
                out.append(self.stories[sid])
            if len(out) >= k:
                break
        return out

    def vector_changed(self, story: Story, language: str) -> None:
        vec = story.sides[language].unit_vector()
        if vec is not None and story.story_id in self.stories:
            self._vectors[(story.story_id, language)] = vec
            self._matrix = None
