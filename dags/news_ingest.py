"""
### News ingest

Polls the RSS/Atom feeds listed in the feed file (`NEWS_FEEDS_FEEDS_FILE`, default `seeds/feeds.toml`) every
15 minutes, fetches each new article (archiving every response as WARC), extracts it with trafilatura, tags
*cyberattack* / *geopolitics*, indexes it into Elasticsearch (alias `news-articles`) and groups related coverage
into stories (alias `news-stories`).

**Tasks**: `plan` splits the feeds into batches → `ingest_batch` (mapped, one per batch) → `group_stories`
(sequential, deterministic) → `summarize`.

**Modes** (`mode` param): `live` polls the feeds now; `replay` rebuilds the documents of every page archived in
the run's data interval; `auto` (default) replays for **backfills** and polls live otherwise. To re-tag or
re-index a period (new taxonomy, Elasticsearch outage), start a backfill over it from the UI
(*Trigger → Backfill*, reprocess behaviour "completed"). Re-runs never duplicate: document ids are derived from
the article URL and writes are upserts.

**Failure policy**: a bad feed or page is skipped with a recorded reason (see the `ingest_batch` XCom and the
`summarize` log); Elasticsearch or archive failures fail the task, which is retried with backoff.

Elasticsearch comes from the Airflow Connection `elasticsearch_default`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DeltaDataIntervalTimetable, Param, dag, task

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "news-ingest",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=45),
}


@dag(
    dag_id="news_ingest",
    # An interval timetable (not a bare timedelta, which Airflow 3 turns into an empty-interval trigger):
    # each run owns a real 15-minute data window, which replay-mode backfills read from the archive.
    schedule=DeltaDataIntervalTimetable(timedelta(minutes=15)),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["news", "ingest", "elasticsearch"],
    doc_md=__doc__,
    params={
        "mode": Param(
            "auto",
            type="string",
            enum=["auto", "live", "replay"],
            title="Mode",
            description_md="`auto`: replay the archive for backfills, poll live otherwise.",
        ),
        "feeds": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Only these feeds",
            description_md="Feed names from the feed file; empty means all feeds (live mode only).",
        ),
    },
)
def news_ingest() -> None:
    @task
    def plan(**context: Any) -> list[dict[str, Any]]:
        """Batch specs for this run (feeds in chunks, or the replay window)."""
        from ingest.config import PipelineOptions
        from ingest.pipeline import plan_batches

        run_type = context["dag_run"].run_type
        return plan_batches(
            PipelineOptions.from_env(),
            mode=context["params"]["mode"],
            run_type=getattr(run_type, "value", run_type),
            start=context["data_interval_start"],
            end=context["data_interval_end"],
            feed_names=context["params"]["feeds"],
        )

    @task(max_active_tis_per_dagrun=4)
    def ingest_batch(spec: dict[str, Any]) -> dict[str, Any]:
        """Poll, fetch, extract, tag and index one batch."""
        from ingest.config import PipelineOptions
        from ingest.pipeline import run_batch
        from news_airflow.hooks import NewsElasticsearchHook

        return run_batch(spec, NewsElasticsearchHook().get_conn(), PipelineOptions.from_env())

    # One grouping at a time across all runs (scheduled and backfill): assignments are sequential by design.
    @task(max_active_tis_per_dag=1)
    def group_stories() -> dict[str, Any]:
        """Assign every article without a story to one (in published order)."""
        from ingest.config import PipelineOptions
        from ingest.pipeline import group_stories as group
        from news_airflow.hooks import NewsElasticsearchHook

        return group(NewsElasticsearchHook().get_conn(), PipelineOptions.from_env())

    @task
    def summarize(reports: list[dict[str, Any]], stories: dict[str, Any]) -> dict[str, Any]:
        """One summary of the run: counts and skip reasons."""
        from ingest.pipeline import summarize as total

        return total(list(reports), stories)

    reports = ingest_batch.expand(spec=plan())
    stories = group_stories()
    reports >> stories  # grouping sees every batch's articles
    summarize(reports, stories)  # type: ignore[arg-type]  # TaskFlow passes XComArgs, resolved at run time


news_ingest()
