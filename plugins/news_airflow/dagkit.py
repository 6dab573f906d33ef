"""What the three DAG files share: the assets that chain them, task defaults, params and callbacks.

Cheap to import (the DAG processor parses the DAG files every 30 s): Airflow's SDK, ``tomllib`` for the feed
file's names, nothing of :mod:`ingest` beyond its exception names as strings.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, ExceptionRetryPolicy, Param, RetryAction, RetryRule

logger = logging.getLogger(__name__)

#: Emitted by the poll DAG when a capture archived something; schedules the processing DAG.
CAPTURES = Asset(name="news_captures", uri="x-news-ingest://archive/captures", group="news-ingest")
#: Emitted by the processing DAG when documents were created or changed; schedules the stories DAG.
ARTICLES = Asset(name="news_articles", uri="x-news-ingest://elasticsearch/articles", group="news-ingest")

#: Only infrastructure errors (Elasticsearch, the archive, the state store) are worth a retry: bad parameters,
#: an unhealthy run or a bug fail at once instead of holding a slot through three backoffs.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="ingest.errors.InfrastructureError",
            action=RetryAction.RETRY,
            reason="a shared dependency (Elasticsearch, archive, state store) failed: retry with backoff",
        ),
    ],
    default=RetryAction.FAIL,
)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "news-ingest",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "retry_policy": RETRY_POLICY,
}

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def feed_file() -> Path:
    """The feed file the pipeline uses (``NEWS_FEEDS_FEEDS_FILE``, else the checkout's ``seeds/feeds.toml``)."""
    return Path(os.environ.get("NEWS_FEEDS_FEEDS_FILE") or _PROJECT_ROOT / "seeds" / "feeds.toml")


def feed_choices() -> dict[str, str]:
    """Feed name -> label ("BBC News · en · GB") from the feed file, for the trigger form's multi-select."""
    try:
        data = tomllib.loads(feed_file().read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:  # the form still renders; the run then says why
        logger.warning("feed file %s unreadable for the trigger form: %s", feed_file(), exc)
        return {}
    choices: dict[str, str] = {}
    for feed in data.get("feed") or []:
        if isinstance(feed, dict) and isinstance(feed.get("name"), str):
            details = [str(feed.get(k) or "") for k in ("publisher", "language", "country")]
            choices[feed["name"]] = " · ".join(d for d in details if d) or feed["name"]
    return choices


#: JSON Schema types for params that have a default: the trigger form marks a field required (an asterisk)
#: unless ``null`` is among its types, so each optional param also admits ``null`` (the DAG reads it as its
#: default). Airflow 3.3's FlexibleForm: ``required = type is set and does not include "null"``.
OPTIONAL_STRING = ["string", "null"]
OPTIONAL_ARRAY = ["array", "null"]


def feeds_param(description: str, *, section: str) -> Param:
    """An optional multi-select of the feed file's feed names (empty: all feeds)."""
    choices = feed_choices()
    items: dict[str, Any] = {"type": "string"}
    if choices:
        items["enum"] = sorted(choices)
    return Param(
        [],
        type=OPTIONAL_ARRAY,
        items=items,
        uniqueItems=True,
        title="Feeds",
        description_md=description,
        examples=sorted(choices),
        values_display={name: f"{name} ({label})" for name, label in choices.items()},
        section=section,
    )


def window_label(spec: Mapping[str, Any]) -> str:
    """A mapped ``process`` task's name in the UI: ``capture 2026-12-02T00:00 → 2026-12-02T06:00``; to the second
    when both ends fall in one minute (an asset-triggered run derives a capture only seconds long)."""
    start, end = str(spec["start"])[:16], str(spec["end"])[:16]
    if start == end:
        start, end = str(spec["start"])[:19], str(spec["end"])[:19]
    return f"{spec['by']} {start} → {end}"


def task_run(context: Any) -> Any:
    """The :class:`ingest.pipeline.runs.TaskRun` of the running task try (for its run metrics)."""
    from ingest.pipeline.runs import TaskRun

    ti = context["ti"]
    run_type = context["dag_run"].run_type
    return TaskRun(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=int(getattr(ti, "map_index", -1) if getattr(ti, "map_index", None) is not None else -1),
        try_number=int(getattr(ti, "try_number", 1) or 1),
        run_type=str(getattr(run_type, "value", run_type)),
    )


def log_failure(context: Any) -> None:
    """``on_failure_callback``: one ERROR line that names the run, the task and why (alerting keys off it)."""
    ti = context.get("ti") or context.get("task_instance")
    logger.error(
        "news-ingest run failed: dag=%s run=%s task=%s: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "run_id", "?"),
        getattr(ti, "task_id", "?"),
        context.get("exception"),
    )


def overrun_alert(minutes: int) -> Any:
    """A Deadline alert when a run is still going ``minutes`` after it was queued (None when switched off).

    ``NEWS_AIRFLOW_DEADLINES=0`` switches it off for ``dag.test()`` / ``airflow dags test`` only: Airflow 3.3.2's
    test runner looks the serialized alert up as if it were an alert id when the run succeeds and fails the
    run (``'dict' object has no attribute 'hex'``). The scheduler path is not affected.
    """
    if os.environ.get("NEWS_AIRFLOW_DEADLINES", "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=AsyncCallback(polling_overran),
    )


async def polling_overran(**kwargs: Any) -> None:
    """Deadline callback (runs in the triggerer): a poll run is still going when the next one is due."""
    context = kwargs.get("context") or {}
    dag_run = context.get("dag_run") if isinstance(context, dict) else None
    logger.error("news_poll run %s is still running after its deadline", getattr(dag_run, "run_id", "?"))
