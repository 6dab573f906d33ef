"""The read side: a story by article URL, article id or story id, following merges (what ``related`` shows)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, PipelineOptions
from ingest.elastic import call
from ingest.errors import ItemSkipped
from ingest.stories.features import iso
from ingest.stories.record import STATUS_MERGED, STORY_PREFIX, Story
from ingest.stories.store import StoryStore

logger = logging.getLogger(__name__)

_MAX_REDIRECTS = 10


class StorySummary(TypedDict):
    """A story's public fields."""

    story_id: str
    status: str
    headline: str
    first_seen: str
    last_seen: str
    article_count: int
    languages: list[str]
    outlets: list[str]
    #: the story's tags and subtopics, most frequent among its articles first
    tags: list[str]
    subtopics: list[str]


class ArticleBrief(TypedDict, total=False):
    """An article as ``related`` lists it."""

    doc_id: str
    url: str
    title: str
    outlet: str
    language: str
    published_at: str
    story_id: str
    story_title: str
    story_score: float
    tags: list[str]


@dataclass(frozen=True)
class RelatedStory:
    """A story and its articles (oldest first), as returned for "related <url or id>"."""

    story_id: str
    story: StorySummary
    articles: list[ArticleBrief]
    requested: str
    redirected_from: tuple[str, ...] = ()


_BRIEF_FIELDS = list(ArticleBrief.__annotations__)


def resolve(store: StoryStore, story_id: str) -> tuple[Story | None, tuple[str, ...]]:
    """The story an id ends at after following ``merged_into``, and the ids passed on the way."""
    seen: list[str] = []
    current = story_id
    for _ in range(_MAX_REDIRECTS):
        story = store.story(current)
        if story is None:
            return None, tuple(seen)
        if story.status == STATUS_MERGED and story.merged_into:
            seen.append(current)
            current = story.merged_into
            continue
        return story, tuple(seen)
    logger.warning("story redirect chain from %s is longer than %d", story_id, _MAX_REDIRECTS)
    return None, tuple(seen)


def summary(story: Story) -> StorySummary:
    return {
        "story_id": story.story_id,
        "status": story.status,
        "headline": story.headline,
        "first_seen": iso(story.first_seen),
        "last_seen": iso(story.last_seen),
        "article_count": story.size,
        "languages": story.languages or [],
        "outlets": sorted(story.outlets),
        "tags": _by_count(story.tag_counts),
        "subtopics": _by_count(story.subtopic_counts),
    }


def _by_count(counts: Mapping[str, int]) -> list[str]:
    return sorted(counts, key=lambda name: (-counts[name], name))


def related(
    es: Elasticsearch, options: PipelineOptions | IndexOptions, url_or_id: str, *, max_articles: int = 500
) -> RelatedStory:
    """The story of an article (by URL or doc id) or of a story id, with its articles oldest first.

    Raises :class:`~ingest.errors.ItemSkipped` (reason ``not_found`` / ``not_grouped``) for unknown input and the
    :mod:`ingest.errors` infrastructure errors when Elasticsearch fails.
    """
    index = options.index if isinstance(options, PipelineOptions) else options
    store = StoryStore(es, index)
    key = url_or_id.strip()
    story_id: str | None = None
    if key.startswith(STORY_PREFIX) and store.story(key) is not None:
        story_id = key
    else:
        doc_id = key
        if "://" in key:
            from ingest.urls import document_id

            doc_id = document_id(key)
        resp = call("related lookup", es.mget, index=index.articles_alias, ids=[doc_id], source_includes=["story_id"])
        docs = [d["_source"] for d in resp["docs"] if d.get("found")]
        if not docs:
            raise ItemSkipped(f"no indexed article or story for {key!r}", reason="not_found")
        story_id = docs[0].get("story_id")
        if not story_id:
            raise ItemSkipped(f"article {doc_id} has not been grouped yet", reason="not_grouped")
    story, redirects = resolve(store, str(story_id))
    if story is None:
        raise ItemSkipped(f"story {story_id} not found", reason="not_found")
    resp = call(
        "related lookup",
        es.search,
        index=index.articles_alias,
        query={"term": {"story_id": story.story_id}},
        sort=[{"published_at": {"order": "asc", "missing": "_last"}}, {"doc_id": "asc"}],
        size=max_articles,
        source_includes=_BRIEF_FIELDS,
    )
    articles: list[ArticleBrief] = [h["_source"] for h in resp["hits"]["hits"]]
    return RelatedStory(story.story_id, summary(story), articles, url_or_id, redirects)
