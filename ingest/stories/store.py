"""Elasticsearch reads and writes of story grouping, all through the one seam (:mod:`ingest.elastic`).

Concurrency (two groupers at once never make two stories of one event): a *writer clock* document in a small
index ``<stories alias>-writer`` (beside the alias, so the stories data view never sees it) orders batch writes.
A grouper remembers the clock's generation when it loads its window; to write a batch it moves the clock from
that generation to "writing" with a compare-and-swap on ``_seq_no``/``_primary_term``. If another grouper
committed in between, the swap fails with a conflict and the grouper reloads the window and regroups the batch
(nothing of its stale view is written). While a batch is being written the clock says so, and others wait (a
crashed writer's lease expires after ``lease_seconds``). Story documents themselves are written with
``if_seq_no``/``if_primary_term`` (new ones with ``op_type=create``), so even a writer whose lease expired
mid-write cannot overwrite a newer story.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from elasticsearch import Elasticsearch

from ingest.config import IndexOptions
from ingest.elastic import call, mapped
from ingest.errors import GroupingConflict, RequestRejected
from ingest.stories.features import article_time, iso, parse_time, stored_vector
from ingest.stories.record import STATUS_ACTIVE, Story, StoryDocument

logger = logging.getLogger(__name__)

#: Article fields grouping reads.
ARTICLE_FIELDS = [
    "doc_id",
    "title",
    "lead",
    "body",
    "language",
    "outlet",
    "published_at",
    "fetched_at",
    "indexed_at",
    "entities",
    "entity_names",
    "names",
    "tags",
    "subtopics",
    "embedding",
    "embedding_key",
    "story_id",
]
_PAGE = 1000
_BULK_OPS = 1000
_CLOCK_ID = "writer"


class ArticleUpdate(TypedDict, total=False):
    """The fields grouping writes onto an article."""

    story_id: str
    story_title: str
    story_score: float
    story_assigned_at: str
    embedding: list[float]
    #: :func:`ingest.embeddings.embedding_key` of the text the embedding was computed from
    embedding_key: str


@dataclass(frozen=True)
class PendingRef:
    """An article waiting for a story, and when it appeared (the grouping order is ``(time, doc_id)``)."""

    doc_id: str
    time: datetime


@dataclass(frozen=True)
class ClockState:
    generation: int
    writing: bool
    holder: str
    until: datetime
    seq_no: int
    primary_term: int


def writer_index(index: IndexOptions) -> str:
    return index.stories_clock


class StoryStore:
    """Reads and writes of one grouper (``stats_requests`` counts the Elasticsearch requests)."""

    def __init__(self, es: Elasticsearch, index: IndexOptions) -> None:
        self.es = es
        self.index = index
        self.requests = 0

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        self.requests += 1
        return call(what, fn, **kwargs)

    # --- articles -------------------------------------------------------------------------------------

    def pending(self, *, limit: int | None, future_tolerance_days: float) -> list[PendingRef]:
        """Every article without ``story_id``, in grouping order (ids and dates only: light)."""
        refs: list[PendingRef] = []
        after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after is not None else {}
            resp = self._call(
                "listing articles without a story",
                self.es.search,
                index=self.index.articles_alias,
                query={"bool": {"must_not": [{"exists": {"field": "story_id"}}]}},
                sort=[{"doc_id": "asc"}],
                size=_PAGE,
                source={"includes": ["doc_id", "published_at", "fetched_at", "indexed_at"]},
                **kwargs,
            )
            hits = resp["hits"]["hits"]
            for h in hits:
                src = h["_source"]
                refs.append(PendingRef(str(src.get("doc_id") or h["_id"]), article_time(src, future_tolerance_days)))
            if len(hits) < _PAGE:
                break
            after = hits[-1]["sort"]
        refs.sort(key=lambda r: (r.time, r.doc_id))
        return refs if limit is None else refs[:limit]

    def articles(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The sources of these articles (with their embeddings), by doc id."""
        return dict(self._by_ids("reading articles to group", ids, ARTICLE_FIELDS))

    def vectors(self, texts: Mapping[str, str]) -> dict[str, list[float]]:
        """The stored embeddings of these articles, by doc id, where they were computed from the text given for the
        article now (``doc id -> text``; :func:`~ingest.embeddings.embedding_key`): a story's first member embedded
        in an earlier run is read back instead of embedded again, unless its title or lead changed since."""
        out: dict[str, list[float]] = {}
        fields = ["embedding", "embedding_key"]
        for doc_id, source in self._by_ids("reading stored embeddings", list(texts), fields, having="embedding"):
            vec = stored_vector(source, texts[doc_id])
            if vec is not None:
                out[doc_id] = [float(x) for x in vec]
        return out

    def _by_ids(
        self, what: str, ids: Sequence[str], fields: Sequence[str], *, having: str | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(doc id, source)`` of these articles, a page of ids per request (vectors included)."""
        for start in range(0, len(ids), _PAGE):
            chunk = list(ids[start : start + _PAGE])
            filters: list[dict[str, Any]] = [{"ids": {"values": chunk}}]
            if having is not None:
                filters.append({"exists": {"field": having}})
            resp = self._call(
                what,
                self.es.search,
                index=self.index.articles_alias,
                query={"bool": {"filter": filters}},
                size=len(chunk),
                source={"includes": list(fields), "exclude_vectors": False},
            )
            for h in resp["hits"]["hits"]:
                yield str(h["_id"]), h["_source"]

    # --- stories --------------------------------------------------------------------------------------

    def _stories(self, what: str, query: Mapping[str, Any]) -> Iterator[Story]:
        after: list[Any] | None = None
        while True:
            kwargs: dict[str, Any] = {"search_after": after} if after is not None else {}
            resp = self._call(
                what,
                self.es.search,
                index=self.index.stories_alias,
                query=dict(query),
                sort=[{"story_id": "asc"}],
                size=_PAGE,
                seq_no_primary_term=True,
                source={"excludes": ["centroid"]},
                **kwargs,
            )
            hits = resp["hits"]["hits"]
            for h in hits:
                yield Story.from_document(h["_source"], seq_no=h.get("_seq_no"), primary_term=h.get("_primary_term"))
            if len(hits) < _PAGE:
                break
            after = hits[-1]["sort"]

    def window(self, since: datetime, until: datetime, *, legacy_days: float) -> list[Story]:
        """Active stories that are still candidates for an article at ``since`` or later and began by ``until``."""
        query = {
            "bool": {
                "filter": [{"term": {"status": STATUS_ACTIVE}}, {"range": {"first_seen": {"lte": iso(until)}}}],
                "should": [
                    {"range": {"active_until": {"gte": iso(since)}}},
                    {
                        "bool": {
                            "must_not": [{"exists": {"field": "active_until"}}],
                            "filter": [{"range": {"last_seen": {"gte": iso(since - timedelta(days=legacy_days))}}}],
                        }
                    },
                ],
                "minimum_should_match": 1,
            }
        }
        return list(self._stories("loading the story window", query))

    def holders(self, doc_ids: Sequence[str]) -> list[Story]:
        """Stories (any status) that already list one of these articles (replays, interrupted writes)."""
        if not doc_ids:
            return []
        return list(self._stories("looking up stories holding articles", {"terms": {"article_ids": list(doc_ids)}}))

    def story(self, story_id: str) -> Story | None:
        found = list(self._stories("reading a story", {"ids": {"values": [story_id]}}))
        return found[0] if found else None

    # --- writes ---------------------------------------------------------------------------------------

    def write(self, stories: Sequence[tuple[Story, StoryDocument]], updates: Mapping[str, ArticleUpdate]) -> None:
        """Stories first (optimistic concurrency), then the articles, then one refresh of both aliases.

        A story conflict raises :class:`GroupingConflict` before any article is touched.
        """
        lines: list[Mapping[str, Any]] = []
        for story, doc in stories:
            meta: dict[str, Any] = {"_index": self.index.stories_alias, "_id": story.story_id}
            if story.seq_no is None:
                lines += [{"create": meta}, doc]
            else:
                meta |= {"if_seq_no": story.seq_no, "if_primary_term": story.primary_term}
                lines += [{"index": meta}, doc]
        by_id = {s.story_id: s for s, _ in stories}
        conflicts = 0
        for item in self._bulk("writing stories", lines):
            ((_kind, result),) = item.items()
            if result.get("status") == 409:
                conflicts += 1
                continue
            if result.get("error"):
                raise RequestRejected(f"story write rejected: {result['error']}", failed=1)
            story = by_id[str(result["_id"])]
            story.seq_no, story.primary_term = int(result["_seq_no"]), int(result["_primary_term"])
        if conflicts:
            raise GroupingConflict(f"{conflicts} story documents were changed by another grouper", failed=conflicts)
        article_lines: list[Mapping[str, Any]] = []
        for doc_id, update in sorted(updates.items()):
            article_lines += [{"update": {"_index": self.index.articles_alias, "_id": doc_id}}, {"doc": dict(update)}]
        failed = [
            i for i in self._bulk("writing story assignments", article_lines) if next(iter(i.values())).get("error")
        ]
        missing = [i for i in failed if next(iter(i.values())).get("status") == 404]
        if len(failed) > len(missing):
            raise RequestRejected(f"{len(failed) - len(missing)} story assignments were rejected", failed=len(failed))
        if missing:  # deleted since we read them: nothing to assign
            logger.warning("%d grouped articles were deleted meanwhile", len(missing))
        self._call(
            "refreshing after a story batch",
            self.es.indices.refresh,
            index=[self.index.articles_alias, self.index.stories_alias],
        )

    def _bulk(self, what: str, lines: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for start in range(0, len(lines), 2 * _BULK_OPS):
            resp = self._call(what, self.es.bulk, operations=list(lines[start : start + 2 * _BULK_OPS]))
            items.extend(resp["items"])
        return items

    # --- the writer clock -----------------------------------------------------------------------------

    def _ensure_clock(self) -> None:
        with mapped("creating the story writer clock"):
            self.requests += 1
            self.es.options(ignore_status=400).indices.create(  # 400: it exists already
                index=writer_index(self.index),
                settings={"number_of_shards": 1, "number_of_replicas": 0},
                mappings={"dynamic": False, "properties": {"generation": {"type": "long"}}},
            )

    def clock(self) -> ClockState:
        """The writer clock (created at generation 0 when missing)."""
        name = writer_index(self.index)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        for _ in range(3):
            with mapped("reading the story writer clock"):
                self.requests += 1
                resp = self.es.options(ignore_status=404).get(index=name, id=_CLOCK_ID)
            if resp.get("found"):
                src = resp["_source"]
                return ClockState(
                    int(src.get("generation") or 0),
                    bool(src.get("writing")),
                    str(src.get("holder") or ""),
                    parse_time(src.get("until")) or epoch,
                    int(resp["_seq_no"]),
                    int(resp["_primary_term"]),
                )
            self._ensure_clock()
            body = {"generation": 0, "writing": False, "holder": "", "until": iso(epoch)}
            with mapped("creating the story writer clock"):
                self.requests += 1
                self.es.options(ignore_status=409).create(index=name, id=_CLOCK_ID, document=body, refresh=True)
        raise GroupingConflict("could not read or create the story writer clock")

    def wait_idle(self, holder: str, wait_seconds: float) -> ClockState:
        """The clock once no other grouper is writing (or its lease expired)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            state = self.clock()
            now = datetime.now(UTC)
            if not state.writing or state.holder == holder or state.until < now:
                return state
            if time.monotonic() > deadline:
                raise GroupingConflict(
                    f"story grouper {state.holder} has been writing longer than {wait_seconds:.0f}s", status=409
                )
            logger.info("waiting for story grouper %s to finish its batch", state.holder)
            time.sleep(0.2)

    def _swap(self, expected: ClockState, body: Mapping[str, Any]) -> ClockState:
        with mapped("updating the story writer clock"):
            self.requests += 1
            resp = self.es.options(ignore_status=409).index(
                index=writer_index(self.index),
                id=_CLOCK_ID,
                document=dict(body),
                if_seq_no=expected.seq_no,
                if_primary_term=expected.primary_term,
                refresh=True,
            )
        if resp.get("status") == 409 or "error" in resp:
            raise GroupingConflict("another story grouper committed meanwhile", status=409)
        return ClockState(
            int(body["generation"]),
            bool(body["writing"]),
            str(body["holder"]),
            parse_time(str(body["until"])) or datetime.now(UTC),
            int(resp["_seq_no"]),
            int(resp["_primary_term"]),
        )

    def begin(self, expected: ClockState, holder: str, lease_seconds: float) -> ClockState:
        """Take the writer lease, if the clock is still at ``expected`` (else :class:`GroupingConflict`)."""
        until = datetime.now(UTC) + timedelta(seconds=lease_seconds)
        body = {"generation": expected.generation, "writing": True, "holder": holder, "until": iso(until)}
        return self._swap(expected, body)

    def finish(self, writing: ClockState) -> ClockState:
        """Release the lease and move the clock to the next generation."""
        body = {
            "generation": writing.generation + 1,
            "writing": False,
            "holder": writing.holder,
            "until": iso(datetime.now(UTC)),
        }
        return self._swap(writing, body)

    def drop_clock(self) -> None:
        """Delete the writer-clock index (tests and evaluation indices)."""
        with mapped("deleting the story writer clock"):
            self.es.options(ignore_status=404).indices.delete(index=writer_index(self.index))
