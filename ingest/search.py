"""Article search for analysts (the CLI's ``search``): free text plus filters, near-duplicate copies hidden.

The query is built from an :class:`ArticleQuery` and run against the articles alias through the one Elasticsearch
seam, so a missing index or a dead node surfaces as :class:`~ingest.errors.IndexMissing` /
:class:`~ingest.errors.ElasticsearchUnavailable`. Free text uses ``simple_query_string`` (quotes, ``-word``,
``a | b`` and ``pre*`` work; malformed input never errors) over titles, leads, descriptions, bodies and entity
names; every filter is exact (keyword fields, case-insensitive for names and outlets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from ingest.config import IndexOptions
from ingest.elastic import call
from ingest.errors import ConfigurationError

TEXT_FIELDS = ("title^3", "story_title^2", "lead^2", "description", "body", "entity_names^2")
MAX_LIMIT = 1000
_SOURCE = (
    "doc_id",
    "url",
    "title",
    "outlet",
    "language",
    "published_at",
    "tags",
    "subtopics",
    "entity_names",
    "story_id",
    "story_title",
    "is_duplicate",
    "duplicate_of",
)


@dataclass(frozen=True)
class ArticleQuery:
    """What to look for. Repeated values of one filter must all match (``tags=("cyberattack", "geopolitics")`` =
    both tags); ``published_from`` is inclusive, ``published_to`` exclusive."""

    text: str = ""
    tags: tuple[str, ...] = ()
    subtopics: tuple[str, ...] = ()
    #: Entity ids (``entities``/``names``) or display names (``entity_names``), case-insensitive.
    entities: tuple[str, ...] = ()
    #: Any of these languages (ISO 639-1).
    languages: tuple[str, ...] = ()
    #: Any of these outlets: publisher name, host or feed name, case-insensitive.
    outlets: tuple[str, ...] = ()
    published_from: datetime | None = None
    published_to: datetime | None = None
    story_id: str | None = None
    include_duplicates: bool = False
    limit: int = 20

    def __post_init__(self) -> None:
        for name in ("published_from", "published_to"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ConfigurationError(f"{name} must be timezone-aware")
        if self.published_from and self.published_to and self.published_to <= self.published_from:
            raise ConfigurationError(
                f"the end of the date range ({self.published_to.isoformat()}) is not after its start "
                f"({self.published_from.isoformat()})"
            )
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ConfigurationError(f"limit must be between 1 and {MAX_LIMIT}, not {self.limit}")

    def to_es(self) -> dict[str, Any]:
        """The Elasticsearch ``query`` clause."""
        must: list[dict[str, Any]] = []
        filters: list[dict[str, Any]] = []
        if self.text.strip():
            must.append(
                {"simple_query_string": {"query": self.text, "fields": list(TEXT_FIELDS), "default_operator": "and"}}
            )
        filters += [{"term": {"tags": tag}} for tag in self.tags]
        filters += [{"term": {"subtopics": sub}} for sub in self.subtopics]
        for entity in self.entities:
            filters.append(_any_of(entity, ("entities", "names", "entity_names")))
        if self.languages:
            filters.append({"terms": {"language": [lang.lower() for lang in self.languages]}})
        if self.outlets:
            filters.append(
                {
                    "bool": {
                        "should": [_any_of(o, ("outlet", "host", "feeds")) for o in self.outlets],
                        "minimum_should_match": 1,
                    }
                }
            )
        if self.published_from or self.published_to:
            bounds: dict[str, str] = {}
            if self.published_from:
                bounds["gte"] = self.published_from.isoformat()
            if self.published_to:
                bounds["lt"] = self.published_to.isoformat()
            filters.append({"range": {"published_at": bounds}})
        if self.story_id:
            filters.append({"term": {"story_id": self.story_id}})
        must_not = [] if self.include_duplicates else [{"term": {"is_duplicate": True}}]
        if not (must or filters or must_not):
            return {"match_all": {}}
        return {"bool": {"must": must, "filter": filters, "must_not": must_not}}

    def sort(self) -> list[Any]:
        by_date = {"published_at": {"order": "desc", "missing": "_last"}}
        return ["_score", by_date, {"doc_id": "asc"}] if self.text.strip() else [by_date, {"doc_id": "asc"}]


def _any_of(value: str, fields: Sequence[str]) -> dict[str, Any]:
    should = [{"term": {name: {"value": value, "case_insensitive": True}}} for name in fields]
    return {"bool": {"should": should, "minimum_should_match": 1}}


@dataclass(frozen=True)
class ArticleHit:
    """One article of a result list."""

    doc_id: str
    url: str
    title: str
    outlet: str
    language: str
    published_at: str | None
    tags: tuple[str, ...]
    subtopics: tuple[str, ...]
    entity_names: tuple[str, ...]
    story_id: str | None
    story_title: str | None
    is_duplicate: bool
    duplicate_of: str | None
    score: float | None

    @classmethod
    def from_hit(cls, hit: Mapping[str, Any]) -> ArticleHit:
        src = hit.get("_source", {})
        return cls(
            doc_id=str(src.get("doc_id") or hit.get("_id")),
            url=str(src.get("url", "")),
            title=str(src.get("title", "")),
            outlet=str(src.get("outlet", "")),
            language=str(src.get("language", "")),
            published_at=src.get("published_at"),
            tags=tuple(src.get("tags") or ()),
            subtopics=tuple(src.get("subtopics") or ()),
            entity_names=tuple(src.get("entity_names") or ()),
            story_id=src.get("story_id"),
            story_title=src.get("story_title"),
            is_duplicate=bool(src.get("is_duplicate", False)),
            duplicate_of=src.get("duplicate_of"),
            score=hit.get("_score"),
        )


@dataclass(frozen=True)
class SearchResult:
    total: int
    #: True when ``total`` is a lower bound (Elasticsearch stops counting exactly at 10,000).
    total_is_lower_bound: bool
    hits: tuple[ArticleHit, ...]


def search_articles(es: Elasticsearch, options: IndexOptions, query: ArticleQuery) -> SearchResult:
    """Run ``query`` against the articles alias."""
    resp = call(
        "searching articles",
        es.search,
        index=options.articles_alias,
        query=query.to_es(),
        sort=query.sort(),
        size=query.limit,
        source_includes=list(_SOURCE),
        track_total_hits=10_000,
    )
    total = resp["hits"]["total"]
    return SearchResult(
        total=int(total["value"]),
        total_is_lower_bound=total.get("relation") == "gte",
        hits=tuple(ArticleHit.from_hit(h) for h in resp["hits"]["hits"]),
    )


__all__ = ["MAX_LIMIT", "ArticleHit", "ArticleQuery", "SearchResult", "search_articles"]
