"""
### News stories: group coverage into stories

Runs on every **`news_articles`** asset event (documents created or changed by **`news_process`**) and
assigns each article without a story to one: related coverage across outlets, languages and weeks of
follow-ups lands in one story (alias `news-stories`; each article carries `story_id` and `story_title`).

**One writer**: grouping is sequential by design (each assignment sees the previous ones), so at most one
`group` task runs at a time across all runs, and runs queue up behind each other (`max_active_runs=1`).
Assignments are deterministic for a given order of articles.

**Failure policy**: Elasticsearch failures are retried with backoff; articles stay pending (without a story)
until a run assigns them, so nothing is skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from news_airflow.dagkit import ARTICLES, DEFAULT_ARGS, log_failure, task_run


@dag(
    dag_id="news_stories",
    schedule=[ARTICLES],
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "execution_timeout": timedelta(hours=2)},
    on_failure_callback=log_failure,
    tags=["news", "stories", "elasticsearch"],
    description="Group newly indexed articles into stories, on each news_articles event",
    doc_md=__doc__,
)
def news_stories() -> None:
    # One grouping at a time across all runs: assignments are sequential by design.
    @task(max_active_tis_per_dag=1)
    def group(**context: Any) -> dict[str, Any]:
        """Assign every article without a story to one (in published order; run metrics: `news-runs`)."""
        from ingest.config import PipelineOptions
        from ingest.pipeline.runs import stories_task
        from news_airflow.hooks import NewsElasticsearchHook

        return stories_task(NewsElasticsearchHook().get_conn(), PipelineOptions.from_env(), task_run(context))

    group()


news_stories()
