"""The story record: create, add a member, merge, summarise, and its Elasticsearch document.

A story keeps, per language of its members (a :class:`Side`), the sum of their term vectors (its lexical
centroid), the sum of their embeddings and the text of its first members (embedded when a cross-language
comparison first needs them); and, for all members, how many name each key (in the text, and in title or lead)
and per-term document counts (the window's idf statistics are the sum of these). Everything grouping needs is in
``grouping_state``, so loading a story back from the index restores it exactly (restart = no restart).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict

import numpy as np

from ingest.embeddings import Matrix
from ingest.stories.features import ArticleFeatures, iso, parse_time

logger = logging.getLogger(__name__)

STORY_PREFIX = "st-"
STATUS_ACTIVE = "active"
STATUS_MERGED = "merged"
#: Decimals kept of stored floats (term weights, vector sums): small documents, exact round trips.
_DECIMALS = 6
#: Readable words kept for a story's strongest terms (its key_terms come from these).
_LABELS = 60


class StoryDocument(TypedDict):
    """A story as stored in the stories index (``grouping_state`` is not indexed)."""

    story_id: str
    status: str
    headline: str
    key_terms: list[str]
    entities: list[str]
    tags: list[str]
    subtopics: list[str]
    first_seen: str
    last_seen: str
    active_until: str
    article_count: int
    article_ids: list[str]
    outlets: list[str]
    languages: list[str]
    updated_at: str
    grouping_state: dict[str, Any]
    merged_into: NotRequired[str]
    centroid: NotRequired[list[float]]


@dataclass
class Side:
    """A story's members in one language."""

    count: int = 0
    #: sum of the members' term vectors (truncated to the strongest ``story_terms``)
    terms: dict[str, float] = field(default_factory=dict)
    vector_sum: list[float] | None = None
    vectors: int = 0
    #: (doc_id, text) of the first members, for a lazily computed embedding
    reps: list[tuple[str, str]] = field(default_factory=list)
    #: doc ids whose vector is in vector_sum
    embedded: list[str] = field(default_factory=list)

    def unit_vector(self) -> Matrix | None:
        if self.vector_sum is None or not self.vectors:
            return None
        v = np.asarray(self.vector_sum, dtype=np.float32)
        n = float(np.linalg.norm(v))
        return v / n if n else None

    def add_vector(self, doc_id: str, vector: Matrix) -> None:
        if doc_id in self.embedded:
            return
        old = np.zeros_like(vector, dtype=np.float64) if self.vector_sum is None else np.asarray(self.vector_sum)
        self.vector_sum = [round(float(x), _DECIMALS) for x in old + np.asarray(vector, dtype=np.float64)]
        self.vectors += 1
        self.embedded.append(doc_id)

    def as_state(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "terms": self.terms,
            "vector_sum": self.vector_sum,
            "vectors": self.vectors,
            "reps": [list(r) for r in self.reps],
            "embedded": self.embedded,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Side:
        return cls(
            count=int(state.get("count") or 0),
            terms={str(k): float(v) for k, v in (state.get("terms") or {}).items()},
            vector_sum=[float(x) for x in state["vector_sum"]] if state.get("vector_sum") else None,
            vectors=int(state.get("vectors") or 0),
            reps=[(str(a), str(b)) for a, b in state.get("reps") or []],
            embedded=[str(x) for x in state.get("embedded") or []],
        )


@dataclass
class Story:
    """One story in memory (see the module docstring)."""

    story_id: str
    first_seen: datetime
    last_seen: datetime
    status: str = STATUS_ACTIVE
    merged_into: str | None = None
    headline: str = ""
    #: (language, time, doc id) of the member whose title is the headline
    headline_key: tuple[str, str, str] | None = None
    article_ids: list[str] = field(default_factory=list)
    outlets: set[str] = field(default_factory=set)
    sides: dict[str, Side] = field(default_factory=dict)
    key_counts: dict[str, int] = field(default_factory=dict)
    focus_counts: dict[str, int] = field(default_factory=dict)
    #: how many members name each key in their title (the story's subjects)
    title_counts: dict[str, int] = field(default_factory=dict)
    df: dict[str, int] = field(default_factory=dict)
    tag_counts: dict[str, int] = field(default_factory=dict)
    subtopic_counts: dict[str, int] = field(default_factory=dict)
    #: stem -> a word it stands for (readable key terms)
    labels: dict[str, str] = field(default_factory=dict)
    #: optimistic concurrency: the version this story was loaded at (None: not in the index yet)
    seq_no: int | None = None
    primary_term: int | None = None
    #: changed since loaded / since the last write; its members' story_title must be rewritten
    dirty: bool = False
    headline_changed: bool = False

    @property
    def size(self) -> int:
        return len(self.article_ids)

    @property
    def languages(self) -> list[str]:
        return sorted(lang for lang, side in self.sides.items() if side.count)

    # --- create / add / merge ---------------------------------------------------------------------------

    @classmethod
    def found(cls, article: ArticleFeatures) -> Story:
        """A new story for ``article`` (id ``st-<doc_id>``: deterministic, so replays find it again)."""
        return cls(story_id=STORY_PREFIX + article.doc_id, first_seen=article.published, last_seen=article.published)

    def add(self, article: ArticleFeatures, *, story_terms: int, representatives: int) -> None:
        """Add a member (a no-op when it is one already)."""
        if article.doc_id in self.article_ids:
            return
        self.article_ids.append(article.doc_id)
        self.first_seen = min(self.first_seen, article.published)
        self.last_seen = max(self.last_seen, article.published)
        if article.outlet:
            self.outlets.add(article.outlet)
        side = self.sides.setdefault(article.language, Side())
        side.count += 1
        _add_weights(side.terms, article.terms, story_terms)
        if len(side.reps) < representatives and article.embed_text:
            side.reps.append((article.doc_id, article.embed_text))
        if article.vector is not None:
            side.add_vector(article.doc_id, article.vector)
        _count(self.key_counts, article.keys)
        _count(self.focus_counts, article.focus)
        _count(self.title_counts, article.headline_keys)
        _count(self.tag_counts, article.tags)
        _count(self.subtopic_counts, article.subtopics)
        _count(self.df, article.terms)
        for t in side.terms:
            if t not in self.labels and t in article.surface:
                self.labels[t] = article.surface[t]
        if len(self.df) > story_terms:
            self.df = dict(sorted(self.df.items(), key=lambda kv: (-kv[1], kv[0]))[:story_terms])
        self._choose_headline(article.language, iso(article.published), article.doc_id, article.title)
        self.dirty = True

    def absorb(self, other: Story, *, story_terms: int, representatives: int) -> list[str]:
        """Fold ``other`` into this story; returns the article ids that moved. ``other`` becomes a redirect."""
        moved = [a for a in other.article_ids if a not in self.article_ids]
        self.article_ids.extend(moved)
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.outlets |= other.outlets
        for lang, theirs in other.sides.items():
            mine = self.sides.setdefault(lang, Side())
            mine.count += theirs.count
            _add_weights(mine.terms, theirs.terms, story_terms)
            for rep in theirs.reps:
                if len(mine.reps) < representatives and rep not in mine.reps:
                    mine.reps.append(rep)
            if theirs.vector_sum is not None:
                base = np.zeros(len(theirs.vector_sum)) if mine.vector_sum is None else np.asarray(mine.vector_sum)
                mine.vector_sum = [round(float(x), _DECIMALS) for x in base + np.asarray(theirs.vector_sum)]
                mine.vectors += theirs.vectors
                mine.embedded.extend(e for e in theirs.embedded if e not in mine.embedded)
        for mine_counts, theirs_counts in (
            (self.key_counts, other.key_counts),
            (self.focus_counts, other.focus_counts),
            (self.title_counts, other.title_counts),
            (self.tag_counts, other.tag_counts),
            (self.subtopic_counts, other.subtopic_counts),
            (self.df, other.df),
        ):
            for k, v in theirs_counts.items():
                mine_counts[k] = mine_counts.get(k, 0) + v
        if len(self.df) > story_terms:
            self.df = dict(sorted(self.df.items(), key=lambda kv: (-kv[1], kv[0]))[:story_terms])
        for t, w in other.labels.items():
            self.labels.setdefault(t, w)
        if other.headline_key is not None:
            self._choose_headline(*other.headline_key, other.headline)
        other.status, other.merged_into, other.dirty = STATUS_MERGED, self.story_id, True
        self.headline_changed = True  # the moved members get this story's title
        self.dirty = True
        return moved

    def _choose_headline(self, language: str, when: str, doc_id: str, title: str) -> None:
        """The headline is the title of the earliest member in the story's main language (stable: it changes
        only when an earlier article joins or the main language changes)."""
        if not title:
            return
        main = max(self.sides.items(), key=lambda kv: (kv[1].count, kv[0] == "en", kv[0]))[0]
        current = self.headline_key
        candidate = (language, when, doc_id)
        if language != main and current is not None and current[0] == main:
            return
        if current is None or current[0] != main or (candidate[1], candidate[2]) < (current[1], current[2]):
            if title != self.headline:
                self.headline_changed = True
            self.headline, self.headline_key = title, candidate

    # --- document ---------------------------------------------------------------------------------------

    def active_until(self, window_days: float, followup_days: float, followup_min: int) -> datetime:
        from datetime import timedelta

        days = followup_days if self.size >= followup_min else window_days
        return self.last_seen + timedelta(days=max(days, window_days))

    def document(self, *, until: datetime, now: datetime, key_terms: list[str], max_entities: int) -> StoryDocument:
        strongest = sorted(
            {t: max(s.terms.get(t, 0.0) for s in self.sides.values()) for t in self.labels}.items(),
            key=lambda kv: (-kv[1], kv[0]),
        )[:_LABELS]
        self.labels = {t: self.labels[t] for t, w in sorted(strongest) if w > 0.0}
        doc: StoryDocument = {
            "story_id": self.story_id,
            "status": self.status,
            "headline": self.headline,
            "key_terms": key_terms,
            "entities": _top(self.key_counts, max_entities),
            "tags": _top(self.tag_counts, 20),
            "subtopics": _top(self.subtopic_counts, 20),
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "active_until": iso(until),
            "article_count": self.size,
            "article_ids": list(self.article_ids),
            "outlets": sorted(self.outlets),
            "languages": self.languages,
            "updated_at": iso(now),
            "grouping_state": {
                "version": 2,
                "headline_key": list(self.headline_key) if self.headline_key else None,
                "sides": {lang: side.as_state() for lang, side in sorted(self.sides.items())},
                "key_counts": self.key_counts,
                "focus_counts": self.focus_counts,
                "title_counts": self.title_counts,
                "df": self.df,
                "tag_counts": self.tag_counts,
                "subtopic_counts": self.subtopic_counts,
                "labels": self.labels,
            },
        }
        if self.merged_into:
            doc["merged_into"] = self.merged_into
        vectors = [s.unit_vector() for s in self.sides.values()]
        present = [v for v in vectors if v is not None]
        if present:
            mean = np.sum(present, axis=0)
            norm = float(np.linalg.norm(mean))
            if norm:
                doc["centroid"] = [round(float(x), _DECIMALS) for x in mean / norm]
        return doc

    @classmethod
    def from_document(cls, source: Mapping[str, Any], *, seq_no: int | None, primary_term: int | None) -> Story:
        """A story loaded from the index (documents written before grouping_state version 2 start afresh from
        their public fields: their members still resolve, their evidence is rebuilt as members join)."""
        state = source.get("grouping_state") or {}
        first = parse_time(source.get("first_seen"))
        last = parse_time(source.get("last_seen")) or first
        assert first is not None and last is not None, source.get("story_id")
        story = cls(
            story_id=str(source["story_id"]),
            first_seen=first,
            last_seen=last,
            status=str(source.get("status") or STATUS_ACTIVE),
            merged_into=str(source["merged_into"]) if source.get("merged_into") else None,
            headline=str(source.get("headline") or ""),
            article_ids=[str(a) for a in source.get("article_ids") or []],
            outlets=set(source.get("outlets") or []),
            seq_no=seq_no,
            primary_term=primary_term,
        )
        if int(state.get("version") or 0) >= 2:
            hk = state.get("headline_key")
            story.headline_key = (str(hk[0]), str(hk[1]), str(hk[2])) if hk else None
            story.sides = {str(k): Side.from_state(v) for k, v in (state.get("sides") or {}).items()}
            story.key_counts = _ints(state.get("key_counts"))
            story.focus_counts = _ints(state.get("focus_counts"))
            story.title_counts = _ints(state.get("title_counts"))
            story.df = _ints(state.get("df"))
            story.tag_counts = _ints(state.get("tag_counts"))
            story.subtopic_counts = _ints(state.get("subtopic_counts"))
            story.labels = {str(k): str(v) for k, v in (state.get("labels") or {}).items()}
        else:
            for lang in source.get("languages") or []:
                story.sides[str(lang)] = Side(count=0)
        return story


def _ints(value: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in (value or {}).items()}


def _count(counts: dict[str, int], values: Iterable[str]) -> None:
    for v in set(values):
        counts[v] = counts.get(v, 0) + 1


def _add_weights(total: dict[str, float], add: Mapping[str, float], limit: int) -> None:
    for k, v in add.items():
        total[k] = round(total.get(k, 0.0) + v, _DECIMALS)
    if len(total) > limit:
        kept = sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        total.clear()
        total.update(kept)


def _top(counts: Mapping[str, int], n: int) -> list[str]:
    return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def merge_order(a: Story, b: Story) -> tuple[Story, Story]:
    """(survivor, merged): the larger story survives, then the older, then the smaller id."""

    def key(s: Story) -> tuple[int, datetime, str]:
        return (-s.size, s.first_seen, s.story_id)

    return (a, b) if key(a) <= key(b) else (b, a)


def top_counts(counts: Counter[str] | Mapping[str, int], n: int) -> list[str]:
    return _top(counts, n)
