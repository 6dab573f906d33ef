"""The analyst's Kibana: data views, saved searches, visualisations and the two dashboards, in one readable place.

Everything here is data; :func:`saved_objects` returns it in import order (data views first). The NDJSON in
``ingest/data/kibana/saved_objects.ndjson`` is this module's output (``make kibana-objects``; a unit test checks the
committed file is current). Queries are Lucene, so Elasticsearch's ``query_string`` runs them exactly as Kibana
does, and the integration tests run every one against the real Elasticsearch.
"""

from __future__ import annotations

from typing import Literal

from ingest.config import IndexOptions
from ingest.kibana.objects import (
    Panel,
    SavedObject,
    TimeRange,
    bar_chart,
    count,
    dashboard,
    data_view,
    date_histogram,
    donut,
    last_value,
    lens,
    metric,
    metric_tile,
    saved_search,
    table,
    terms,
    url_format,
    xy_chart,
)

ARTICLES_VIEW = "news-articles"
STORIES_VIEW = "news-stories"
RUNS_VIEW = "news-runs"

#: The sample corpus (and the motivating Sony Pictures story) is from November/December 2014: searches and the
#: Stories dashboard open on a range from then until now, so demo data and live data both show.
DEMO_START = "2014-11-01T00:00:00.000Z"
STORIES_RANGE = TimeRange(DEMO_START, "now")
HEALTH_RANGE = TimeRange("now-7d", "now")

NOT_DUPLICATE = "NOT is_duplicate:true"
#: Finds the articles of the Sony Pictures hack story (English and German) and nothing else in the sample corpus.
SONY_QUERY = f"tags:cyberattack AND (title:sony OR lead:sony OR body:sony) AND {NOT_DUPLICATE}"

#: Discover on the articles of one story, oldest first (the ``story_id`` field format links here).
STORY_URL = (
    "/app/discover#/?_g=(time:(from:'" + DEMO_START + "',to:now))"
    "&_a=(columns:!(title,outlet,language,published_at),"
    "dataSource:(dataViewId:" + ARTICLES_VIEW + ",type:dataView),"
    "query:(language:lucene,query:'story_id:\"{{value}}\"'),"
    "sort:!(!(published_at,asc)))"
)

ARTICLE_COLUMNS = ("title", "outlet", "language", "tags", "subtopics", "story_title", "url")


def data_views(index: IndexOptions) -> list[SavedObject]:
    story_link = url_format(STORY_URL, "{{value}}")
    articles = data_view(
        ARTICLES_VIEW,
        title=index.articles_alias,
        name="News articles",
        time_field="published_at",
        formats={
            "url": url_format(),
            "canonical_url": url_format(),
            "source_urls": url_format(),
            "story_id": story_link,
        },
        labels={"story_title": "Story", "published_at": "Published", "entity_names": "Entities"},
        hidden_fields=("embedding", "embedding_key", "lsh_bands"),
    )
    stories = data_view(
        STORIES_VIEW,
        title=index.stories_alias,
        name="News stories",
        time_field="last_seen",
        formats={"story_id": story_link},
        labels={"headline": "Story", "article_count": "Articles"},
        hidden_fields=("centroid", "grouping_state"),
    )
    runs = data_view(
        RUNS_VIEW,
        title=index.runs,
        name="Pipeline runs",
        time_field="started_at",
        formats={"feed_url": url_format(), "duration_s": {"id": "number", "params": {"pattern": "0,0.[0]"}}},
        labels={"duration_s": "Duration (s)"},
    )
    return [articles, stories, runs]


def searches(articles: SavedObject) -> list[SavedObject]:
    newest: list[tuple[str, Literal["asc", "desc"]]] = [("published_at", "desc")]

    def search(search_id: str, title: str, description: str, query: str) -> SavedObject:
        return saved_search(
            search_id,
            title=title,
            description=description,
            view=articles,
            query=query,
            columns=ARTICLE_COLUMNS,
            sort=newest,
            time_range=STORIES_RANGE,
        )

    return [
        search(
            "news-cyberattacks",
            "Cyberattacks",
            "Articles tagged cyberattack (near-duplicate copies hidden), newest first",
            f"tags:cyberattack AND {NOT_DUPLICATE}",
        ),
        search(
            "news-geopolitics",
            "Geopolitics",
            "Articles tagged geopolitics (near-duplicate copies hidden), newest first",
            f"tags:geopolitics AND {NOT_DUPLICATE}",
        ),
        search(
            "news-cyber-geopolitics",
            "Cyber × geopolitics",
            "Cyberattacks with a geopolitical dimension: both tags (near-duplicate copies hidden)",
            f"tags:cyberattack AND tags:geopolitics AND {NOT_DUPLICATE}",
        ),
        search(
            "news-duplicates-hidden",
            "Duplicates hidden",
            "Every article except near-duplicate copies (syndicated or re-published text)",
            NOT_DUPLICATE,
        ),
        search(
            "news-german-coverage",
            "German coverage",
            "German-language articles (near-duplicate copies hidden)",
            f"language:de AND {NOT_DUPLICATE}",
        ),
        search(
            "news-sony-pictures-hack",
            "Sony Pictures hack (2014)",
            "The motivating story: the 2014 Sony Pictures hack, English and German coverage and follow-ups",
            SONY_QUERY,
        ),
    ]


def stories_dashboard(articles: SavedObject, stories: SavedObject) -> tuple[list[SavedObject], SavedObject]:
    n = count("n")
    by_tag = lens(
        "news-vis-volume-by-tag",
        title="Articles over time by tag",
        description="Published articles per interval, split by tag (near-duplicate copies hidden)",
        view=articles,
        chart=xy_chart(
            x=date_histogram("t", "published_at", "Published"),
            y=[n],
            split=terms("tag", "tags", "Tag", size=5, order_by="n"),
        ),
        query=NOT_DUPLICATE,
    )
    by_language = lens(
        "news-vis-volume-by-language",
        title="Articles over time by language",
        description="Published articles per interval, split by language (near-duplicate copies hidden)",
        view=articles,
        chart=xy_chart(
            x=date_histogram("t", "published_at", "Published"),
            y=[n],
            split=terms("lang", "language", "Language", size=10, order_by="n"),
        ),
        query=NOT_DUPLICATE,
    )
    top_stories = lens(
        "news-vis-top-stories",
        title="Top stories",
        description="The largest stories: articles, outlets and languages (click a story id to open its articles)",
        view=articles,
        chart=table(
            rows=[
                terms("story", "story_title.keyword", "Story", size=20, order_by="n"),
                terms("sid", "story_id", "Story id", size=1, order_by="n"),
            ],
            values=[
                n,
                metric("outlets", "unique_count", "outlet", "Outlets"),
                metric("langs", "unique_count", "language", "Languages"),
            ],
            sort_by=n,
        ),
        query=NOT_DUPLICATE,
    )
    top_entities = lens(
        "news-vis-top-entities",
        title="Top entities",
        description="People, organisations, places and threat actors named most often",
        view=articles,
        chart=bar_chart(category=terms("ent", "entity_names", "Entity", size=15, order_by="n"), value=n),
        query=NOT_DUPLICATE,
    )
    subtopics = lens(
        "news-vis-subtopics",
        title="Subtopics",
        description="Subtopics of the tagged articles (ransomware, data breach, sanctions, ...)",
        view=articles,
        chart=donut(groups=terms("sub", "subtopics", "Subtopic", size=12, order_by="n", other=True), value=n),
        query=NOT_DUPLICATE,
    )
    story_count = lens(
        "news-vis-story-count",
        title="Stories",
        description="Stories with at least one article in the time range",
        view=articles,
        chart=metric_tile(metric("stories", "unique_count", "story_id", "Stories")),
        query=NOT_DUPLICATE,
    )
    multilingual = lens(
        "news-vis-multilingual-stories",
        title="Stories by language",
        description="Stories (not merged) with coverage in each language; cross-language stories count in each",
        view=stories,
        chart=bar_chart(
            category=terms("langs", "languages", "Language", size=10, order_by="s"),
            value=count("s", "Stories"),
            horizontal=False,
        ),
        query="NOT status:merged",
    )
    visualisations = [story_count, by_tag, by_language, top_stories, top_entities, subtopics, multilingual]
    board = dashboard(
        "news-dashboard-stories",
        title="Stories",
        description=(
            "What the news is about: volume by tag and language, the largest stories, top entities and subtopics. "
            "Opens on 2014-11-01 .. now so that the bundled 2014 demo corpus shows; narrow the range for live data."
        ),
        panels=[
            Panel(story_count, 0, 0, 12, 8),
            Panel(by_tag, 12, 0, 36, 12),
            Panel(by_language, 0, 12, 24, 12),
            Panel(subtopics, 24, 12, 24, 12),
            Panel(top_stories, 0, 24, 30, 18),
            Panel(top_entities, 30, 24, 18, 18),
            Panel(multilingual, 0, 42, 24, 12),
        ],
        time_range=STORIES_RANGE,
    )
    return visualisations, board


def health_dashboard(runs: SavedObject) -> tuple[list[SavedObject], SavedObject]:
    tasks = "kind:task"
    runs_over_time = lens(
        "news-vis-runs-by-status",
        title="Task runs by status",
        description="Task runs per interval, split by status (ok / degraded / failed)",
        view=runs,
        chart=xy_chart(
            x=date_histogram("t", "started_at", "Started"),
            y=[count("n", "Task runs")],
            split=terms("status", "status", "Status", size=3, order_by="n"),
        ),
        query=tasks,
    )
    skips = lens(
        "news-vis-skips-by-reason",
        title="Skips by reason",
        description="Feeds and pages skipped, by stage and reason (http_404, extraction_error, robots_disallowed...)",
        view=runs,
        chart=table(
            rows=[
                terms("reason", "reason", "Reason", size=20, order_by="c"),
                terms("stage", "skip_stage", "Stage", size=5, order_by="c"),
            ],
            values=[metric("c", "sum", "count", "Skipped")],
            sort_by=None,
        ),
        query="kind:skip",
    )
    failing = lens(
        "news-vis-failing-feeds",
        title="Failing feeds",
        description="Feeds whose poll failed, with how often and the latest error",
        view=runs,
        chart=table(
            rows=[terms("feed", "feed", "Feed", size=25, order_by="c")],
            values=[
                metric("c", "sum", "count", "Failed polls"),
                last_value("err", "error", "finished_at", "Latest error"),
                metric("last", "max", "finished_at", "Last failure"),
            ],
        ),
        query="kind:feed_failure",
    )
    not_modified = lens(
        "news-vis-feed-outcomes",
        title="Feed polls: 304 share",
        description="Share of polled feeds that answered 304 / unchanged, that changed, and that failed",
        view=runs,
        chart=xy_chart(
            x=date_histogram("t", "started_at", "Started"),
            y=[
                metric("nm", "sum", "feeds_not_modified", "Not modified (304)"),
                metric("ch", "sum", "feeds_changed", "Changed"),
                metric("fail", "sum", "feeds_failed", "Failed"),
            ],
            series="bar_percentage_stacked",
        ),
        query=tasks,
    )
    durations = lens(
        "news-vis-durations",
        title="Task durations by stage",
        description="Longest task run per interval and stage, in seconds",
        view=runs,
        chart=xy_chart(
            x=date_histogram("t", "started_at", "Started"),
            y=[metric("d", "max", "duration_s", "Max duration (s)")],
            split=terms("stage", "stage", "Stage", size=5, order_by="d"),
            series="line",
        ),
        query=tasks,
    )
    throughput = lens(
        "news-vis-articles-indexed",
        title="Articles new / updated",
        description="Articles indexed for the first time and updated in place, per interval",
        view=runs,
        chart=xy_chart(
            x=date_histogram("t", "started_at", "Started"),
            y=[
                metric("new", "sum", "articles_new", "New"),
                metric("upd", "sum", "articles_updated", "Updated"),
                metric("ext", "sum", "extraction_failures", "Extraction failures"),
            ],
            series="bar_stacked",
        ),
        query=tasks,
    )
    visualisations = [runs_over_time, not_modified, durations, throughput, skips, failing]
    board = dashboard(
        "news-dashboard-pipeline-health",
        title="Pipeline health",
        description=(
            "Operations: task runs and their status, feed outcomes (304 share), durations, articles indexed, "
            "skips by reason and failing feeds, from the news-runs index. Opens on the last 7 days."
        ),
        panels=[
            Panel(runs_over_time, 0, 0, 24, 12),
            Panel(not_modified, 24, 0, 24, 12),
            Panel(durations, 0, 12, 24, 12),
            Panel(throughput, 24, 12, 24, 12),
            Panel(skips, 0, 24, 24, 16),
            Panel(failing, 24, 24, 24, 16),
        ],
        time_range=HEALTH_RANGE,
    )
    return visualisations, board


def saved_objects(index: IndexOptions | None = None) -> list[SavedObject]:
    """Every saved object, referenced objects before the objects that reference them."""
    index = index or IndexOptions()
    articles, stories, runs = data_views(index)
    story_vis, stories_board = stories_dashboard(articles, stories)
    health_vis, health_board = health_dashboard(runs)
    return [articles, stories, runs, *searches(articles), *story_vis, *health_vis, stories_board, health_board]


__all__ = ["DEMO_START", "SONY_QUERY", "STORY_URL", "saved_objects"]
