"""
### News process: derive documents from the archive

Extracts (trafilatura), tags (*cyberattack* / *geopolitics*) and indexes into Elasticsearch (alias
`news-articles`) what **`news_poll`** archived. The archive is the source of truth: live processing is the same
code path as a backfill, so re-deriving a period rebuilds the same documents and never duplicates one (ids
come from the article URL, writes are upserts; an unchanged article is not rewritten).

**When it runs** (`AssetOrTimeSchedule`): on every **`news_captures`** asset event (what a poll just captured),
and once a day as a sweep that derives any capture a failed run left pending. The daily timetable also gives
the DAG real one-day data intervals, which is what backfills need: **one backfill run re-derives one day**.

**Backfill from the UI** (*Trigger* → *Backfill*): pick the date range (both ends inclusive: 1–3 Dec is three
runs of one day each; a day can be backfilled once it is over, so for today use a single run with *What to
derive* = *This run's data interval*, or `news-ingest replay`), *Reprocess Behavior* **All Runs** to redo days
already processed, and set the params:
*Window by* capture time (when pages were fetched) or publish time (the articles' own dates, through their
archive references), the *Stages* to redo and optionally some *Feeds*. Backfills read only the archive and
never contact a publisher. Tick **"Override parameters on existing runs"** whenever a param differs from its
default: without it the dialog sends no params at all. Untick **"Unpause news_process on trigger"** if the
pipeline should stay paused.

**Stages** (a multi-select: remove a stage with its ×): `extract` re-extracts the archived HTML (and re-tags);
`tag` alone re-tags the stored text (a taxonomy change, no archive needed); without `index` the run is a dry run
that only counts what would change; `group` hands the result to `news_stories` (asset event **`news_articles`**).

**Failure policy**: a page that cannot be extracted is a counted skip (`extraction_timeout`,
`body_too_short`, ...); `check` fails the run when more extractions failed than
`NEWS_HEALTH_MAX_EXTRACTION_FAILURE_SHARE` allows. Elasticsearch or archive failures are retried; the capture
stays pending until derived.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from news_airflow.dagkit import (
    ARTICLES,
    CAPTURES,
    DEFAULT_ARGS,
    OPTIONAL_ARRAY,
    OPTIONAL_STRING,
    feeds_param,
    log_failure,
    task_run,
    window_label,
)

STAGES = {
    "extract": "Extract: re-read the archived pages (implies Tag)",
    "tag": "Tag: recompute tags, subtopics and entities",
    "index": "Index: write the results (remove it for a dry run that only counts changes)",
    "group": "Group: let news_stories regroup what changed",
}


@dag(
    dag_id="news_process",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
        assets=CAPTURES,
    ),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "execution_timeout": timedelta(hours=2)},
    on_failure_callback=log_failure,
    tags=["news", "process", "elasticsearch"],
    description="Derive documents from the archive: on each news_captures event, a daily sweep, and backfills",
    doc_md=__doc__,
    params={
        "scope": Param(
            "auto",
            type=OPTIONAL_STRING,
            enum=["auto", "pending", "interval"],
            values_display={
                "auto": "Automatic: what the asset events announced; a backfill's own day",
                "pending": "Everything captured but not derived yet",
                "interval": "This run's data interval (as a backfill does)",
            },
            title="What to derive",
            description_md="Leave on *Automatic* for scheduled runs and backfills.",
            section="What to derive",
        ),
        "window_by": Param(
            "capture",
            type=OPTIONAL_STRING,
            enum=["capture", "publish"],
            values_display={
                "capture": "Capture time: pages fetched in the interval",
                "publish": "Publish time: articles published in the interval (already indexed once)",
            },
            title="Window by",
            description_md="Which clock the backfill's date range refers to.",
            section="What to derive",
        ),
        "stages": Param(
            list(STAGES),
            type=OPTIONAL_ARRAY,
            items={"type": "string", "enum": list(STAGES)},
            uniqueItems=True,
            minItems=1,
            title="Stages",
            examples=list(STAGES),
            values_display=STAGES,
            description_md="The stages to redo: remove one with its ×. All four re-derive everything.",
            section="Stages",
        ),
        "feeds": feeds_param(
            "Re-derive only the articles of these feeds (backfills). Leave empty for all feeds.", section="Feeds"
        ),
    },
)
def news_process() -> None:
    @task
    def plan(**context: Any) -> list[dict[str, Any]]:
        """Processing specs for this run: announced captures, the pending sweep, or the backfill's day."""
        from ingest.config import PipelineOptions
        from ingest.pipeline import plan_process_run

        params = context["params"]
        run_type = getattr(context["dag_run"].run_type, "value", context["dag_run"].run_type)
        announced = [
            batch_id
            for events in (context.get("triggering_asset_events") or {}).values()
            for event in events
            for batch_id in (event.extra or {}).get("batch_ids", [])
        ]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        return plan_process_run(  # type: ignore[return-value]
            PipelineOptions.from_env(),
            run_type=str(run_type),
            interval=(start, end) if start and end and end > start else None,
            announced=announced,
            # an emptied field arrives as None: its default
            scope=params["scope"] or "auto",
            by=params["window_by"] or "capture",
            feeds=params["feeds"] or [],
            stages=params["stages"] or list(STAGES),
        )

    @task(max_active_tis_per_dagrun=1, map_index_template="{{ window_label }}")
    def process(spec: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Derive one window; uses every core through the extraction worker pool (run metrics: `news-runs`)."""
        from ingest.config import PipelineOptions
        from ingest.pipeline.runs import process_task
        from news_airflow.hooks import NewsElasticsearchHook

        get_current_context()["window_label"] = window_label(spec)  # type: ignore[typeddict-unknown-key]
        es = NewsElasticsearchHook().get_conn()
        return process_task(spec, es, PipelineOptions.from_env(), task_run(context))  # type: ignore[arg-type]

    @task(outlets=[ARTICLES])
    def announce(reports: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
        """Emit `news_articles` when documents were created or changed and `group` is a stage to redo."""
        from ingest.pipeline import summarize

        summary = summarize(list(reports))
        changed = summary.get("created", 0) + summary.get("updated", 0)
        if (
            "group" not in (context["params"]["stages"] or STAGES)
            or not changed
            or any(r.get("dry_run") for r in reports)
        ):
            raise AirflowSkipException("no documents changed (or grouping not selected): no asset event")
        context["outlet_events"][ARTICLES].extra = {
            "created": summary.get("created", 0),
            "updated": summary.get("updated", 0),
            "window_start": summary.get("window_start", ""),
        }
        return {"created": summary.get("created", 0), "updated": summary.get("updated", 0)}

    @task
    def check(reports: list[dict[str, Any]]) -> dict[str, Any]:
        """Fail the run when too many extractions failed; the run summary is this task's XCom."""
        from ingest.config import PipelineOptions
        from ingest.pipeline.runs import check_task

        return check_task(reports, PipelineOptions.from_env())

    reports = process.expand(spec=plan())
    announce(reports)  # type: ignore[arg-type]  # TaskFlow passes XComArgs, resolved at run time
    check(reports)  # type: ignore[arg-type]


news_process()
