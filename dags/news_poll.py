"""
### News poll: capture

Every 15 minutes, polls the RSS/Atom feeds of the feed file (`NEWS_FEEDS_FEEDS_FILE`) with conditional GETs,
fetches each new article and **archives** every response as WARC. Nothing is extracted or indexed here: when a
capture archived something, `announce` emits the asset event **`news_captures`** (extra: capture window,
capture count, batch ids, archive location), which starts **`news_process`**.

**Tasks**: `plan` splits the feeds into batches → `capture` (mapped, one per batch of feeds) → `announce`
(the asset event; skipped when nothing new was captured) and `check` (fails the run when more feeds or pages
failed than `NEWS_HEALTH_MAX_*_SHARE` allow: a run in which every feed failed is red, not green).

**Failure policy**: a bad feed or page is skipped with a recorded reason (the `capture` XCom, the `check` log,
the `news-runs` index); pages that failed transiently are retried on later polls. Only infrastructure errors
(archive, state store) are retried by Airflow; anything else fails at once.

**Backfills**: this DAG cannot be backfilled. It captures the present (feeds list only what is current), so it
allows only scheduled and manual runs (the API refuses a backfill of it). To re-derive a past period from the
archive, backfill **`news_process`**.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from news_airflow.dagkit import CAPTURES, DEFAULT_ARGS, feeds_param, log_failure, overrun_alert, task_run


@dag(
    dag_id="news_poll",
    # A cron *interval* timetable: each run owns a real 15-minute data interval, and the UI shows
    # "*/15 * * * *" (described as "Every 15 minutes") rather than "0:15:00".
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    catchup=False,
    # It captures the present: the API and the UI refuse a backfill of it (plan also refuses, belt and braces).
    allowed_run_types=["scheduled", "manual"],  # type: ignore[list-item]  # strings convert; no public enum
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "execution_timeout": timedelta(minutes=30)},
    on_failure_callback=log_failure,
    deadline=overrun_alert(minutes=14),  # a poll still running when the next one is due
    tags=["news", "capture"],
    description="Poll the feeds every 15 minutes and archive what is new (no backfills: it captures the present)",
    doc_md=__doc__,
    params={
        "feeds": feeds_param(
            "Poll only these feeds of the feed file. Leave empty to poll every feed.", section="What to poll"
        ),
    },
)
def news_poll() -> None:
    @task
    def plan(**context: Any) -> list[dict[str, Any]]:
        """Batch specs: the feeds in chunks (one mapped `capture` per chunk); installs the index templates."""
        from ingest.config import PipelineOptions
        from ingest.pipeline.runs import plan_poll
        from news_airflow.hooks import NewsElasticsearchHook

        run_type = getattr(context["dag_run"].run_type, "value", context["dag_run"].run_type)
        if run_type == "backfill":
            raise AirflowFailException(
                "news_poll captures the present and cannot be backfilled: backfill news_process to re-derive "
                "a past period from the archive"
            )
        es = NewsElasticsearchHook().get_conn()
        return plan_poll(es, PipelineOptions.from_env(), context["params"]["feeds"] or [])  # type: ignore[return-value]

    @task(max_active_tis_per_dagrun=4, map_index_template="{{ batch_label }}")
    def capture(spec: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Poll, fetch and archive one batch of feeds (its run metrics go to `news-runs`)."""
        from ingest.config import PipelineOptions
        from ingest.pipeline.runs import capture_task
        from news_airflow.hooks import NewsElasticsearchHook

        names = [f["name"] for f in spec["feeds"]]
        many = f"{names[0]} … {names[-1]} ({len(names)} feeds)"
        get_current_context()["batch_label"] = many if len(names) > 2 else ", ".join(names)  # type: ignore[typeddict-unknown-key]
        es = NewsElasticsearchHook().get_conn()
        return capture_task(spec, es, PipelineOptions.from_env(), task_run(context))  # type: ignore[arg-type]

    @task(outlets=[CAPTURES])
    def announce(reports: list[dict[str, Any]], **context: Any) -> dict[str, Any]:
        """Emit `news_captures` for what was archived; skipped (no event) when nothing new was captured."""
        from ingest.config import PipelineOptions
        from ingest.pipeline import summarize

        summary = summarize(list(reports))
        if not summary.get("captures"):
            raise AirflowSkipException("nothing new was captured: no asset event")
        context["outlet_events"][CAPTURES].extra = {
            "batch_ids": [r["batch_id"] for r in reports if r.get("captures")],
            "window_start": summary["window_start"],
            "window_end": summary["window_end"],
            "captures": summary["captures"],
            "archive": str(PipelineOptions.from_env().archive.root),
        }
        return {"captures": summary["captures"], "window_start": summary["window_start"]}

    @task
    def check(reports: list[dict[str, Any]]) -> dict[str, Any]:
        """Fail the run when too many feeds or pages failed; the run summary is this task's XCom."""
        from ingest.config import PipelineOptions
        from ingest.pipeline.runs import check_task

        return check_task(reports, PipelineOptions.from_env())

    reports = capture.expand(spec=plan())
    announce(reports)  # type: ignore[arg-type]  # TaskFlow passes XComArgs, resolved at run time
    check(reports)  # type: ignore[arg-type]


news_poll()
