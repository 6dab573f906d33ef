"""Online story grouping: related coverage across outlets, languages and weeks lands in one story.

Modules, each with its part of the design in its docstring: :mod:`~ingest.stories.features` (an article's terms,
keys, time), :mod:`~ingest.stories.evidence` (pure scoring maths: lexical, keys, conflicts, cross-language, story
pairs, time), :mod:`~ingest.stories.record` (the story: create, add, merge, its document),
:mod:`~ingest.stories.window` (the candidate stories in memory), :mod:`~ingest.stories.store` (Elasticsearch
reads/writes and the writer clock), :mod:`~ingest.stories.lookup` (the read side), :mod:`~ingest.stories.grouping`
(the loop). Options: :class:`~ingest.config.StoryOptions`; figures: ``docs/measurements.md``.

Public API: :func:`group` (what the pipeline's ``group_stories`` calls), :class:`StoryGrouper`, :func:`related`,
:func:`resolve`.
"""

from __future__ import annotations

from elasticsearch import Elasticsearch

from ingest.config import IndexOptions, StoryOptions
from ingest.embeddings import Embedder
from ingest.stories.grouping import Assignment, GroupingResult, GroupingStats, StoryGrouper
from ingest.stories.lookup import ArticleBrief, RelatedStory, StorySummary, related, resolve
from ingest.stories.record import STATUS_ACTIVE, STATUS_MERGED, STORY_PREFIX, Story


def group(es: Elasticsearch, options: StoryOptions, index: IndexOptions, embedder: Embedder | None) -> GroupingResult:
    """Assign every pending article to a story; what was done."""
    grouper = StoryGrouper(es, options, index, embedder)
    grouper.assign_pending()
    return grouper.result()


__all__ = [
    "STATUS_ACTIVE",
    "STATUS_MERGED",
    "STORY_PREFIX",
    "ArticleBrief",
    "Assignment",
    "GroupingResult",
    "GroupingStats",
    "RelatedStory",
    "Story",
    "StoryGrouper",
    "StorySummary",
    "group",
    "related",
    "resolve",
]
