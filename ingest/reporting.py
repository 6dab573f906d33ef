"""Read-only summaries of what is indexed (the demo's closing report, the CLI's ``summary``)."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from ingest.config import IndexOptions
from ingest.elastic import mapped

_FACETS = ("outlet", "language", "tags", "subtopics", "feeds")
#: What a story listing shows (the CLI's summary, the Airflow plugin's page).
STORY_LISTING_FIELDS = [
    "story_id",
    "headline",
    "article_count",
    "languages",
    "outlets",
    "tags",
    "first_seen",
    "last_seen",
]


def index_summary(es: Elasticsearch, options: IndexOptions, *, top_stories: int = 8) -> dict[str, Any]:
    """Counts per facet, story counts and the largest stories with their languages and outlets."""
    with mapped("index summary"):
        return _summary(es, options, top_stories)


def _summary(es: Elasticsearch, options: IndexOptions, top_stories: int) -> dict[str, Any]:
    # Fresh counts right after a run; a read-only user (the analyst role) may not refresh, and need not.
    es.options(ignore_status=403).indices.refresh(index=f"{options.articles_alias},{options.stories_alias}")
    resp = es.search(
        index=options.articles_alias,
        size=0,
        track_total_hits=True,
        aggs={
            **{name: {"terms": {"field": name, "size": 50}} for name in _FACETS},
            "with_story": {"filter": {"exists": {"field": "story_id"}}},
            "duplicates": {"filter": {"term": {"is_duplicate": True}}},
            "first": {"min": {"field": "published_at"}},
            "last": {"max": {"field": "published_at"}},
        },
    )
    aggs = resp["aggregations"]
    stories = es.search(
        index=options.stories_alias,
        size=top_stories,
        track_total_hits=True,
        query={"bool": {"must_not": [{"term": {"status": "merged"}}]}},
        sort=[{"article_count": "desc"}, {"story_id": "asc"}],
        source_includes=STORY_LISTING_FIELDS,
    )
    return {
        "articles": resp["hits"]["total"]["value"],
        "with_story": aggs["with_story"]["doc_count"],
        "duplicates": aggs["duplicates"]["doc_count"],
        "published_from": aggs["first"].get("value_as_string"),
        "published_to": aggs["last"].get("value_as_string"),
        **{name: {b["key"]: b["doc_count"] for b in aggs[name]["buckets"]} for name in _FACETS},
        "stories": stories["hits"]["total"]["value"],
        "top_stories": [hit["_source"] for hit in stories["hits"]["hits"]],
    }


def render_summary(summary: dict[str, Any]) -> str:
    """A short human-readable report."""
    lines = [
        f"Articles indexed: {summary['articles']} ({summary['with_story']} grouped into stories, "
        f"{summary['duplicates']} marked as near-duplicate copies)",
        f"Published between {summary['published_from']} and {summary['published_to']}",
    ]
    for name in _FACETS:
        facet = summary[name]
        lines.append(f"By {name}: " + (", ".join(f"{k} {v}" for k, v in facet.items()) or "-"))
    lines.append(f"Stories: {summary['stories']}; largest:")
    for story in summary["top_stories"]:
        lines.append(
            f"  [{story.get('article_count', 0):>3}] {story.get('headline', '')[:90]}"
            f"  ({'/'.join(story.get('languages') or [])}; {len(story.get('outlets') or [])} outlets;"
            f" tags: {', '.join(story.get('tags') or []) or '-'})"
        )
    return "\n".join(lines)
