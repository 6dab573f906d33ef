"""Extra links from this project's task instances to Kibana: the run's articles, and its stories.

They are *global* operator extra links (every task of every DAG gets the buttons), so each link produces a URL
only for the tasks of ``news_poll``, ``news_process`` and ``news_stories`` and an empty one (a disabled
button) elsewhere. Airflow 3 calls :meth:`get_link` in the API server when the task instance's links are
requested; the window comes from what the run itself recorded, as references:

* ``news_process.process[i]``: the spec it was mapped over (``plan``'s XCom, item ``i``): by capture time
  (``fetched_at``) or publish time (``published_at``), window and feeds; the other tasks of that DAG: the
  union of all specs;
* ``news_poll.capture[i]``: the capture window its XCom reports (``fetched_at``); the other tasks: the union;
* ``news_stories.group``: the articles assigned, and the stories changed, while the run ran.

:func:`articles_view` and :func:`stories_view` are pure (unit-tested); :func:`load_facts` reads the metadata
database, so it only runs where Airflow's ORM is set up (the API server).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from news_airflow import kibana

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

logger = logging.getLogger(__name__)

POLL, PROCESS, STORIES = "news_poll", "news_process", "news_stories"
NEWS_DAGS = frozenset({POLL, PROCESS, STORIES})


@dataclass(frozen=True)
class TaskFacts:
    """What one task instance's run recorded, as far as the links need it."""

    dag_id: str
    task_id: str
    map_index: int = -1
    run_start: datetime | None = None
    run_end: datetime | None = None
    #: news_process: ``plan``'s processing specs (by, start, end, feeds, ...)
    specs: Sequence[Mapping[str, Any]] = ()
    #: news_poll: the ``capture`` reports by map index (window_start, window_end, ...)
    captures: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _union(specs: Sequence[Mapping[str, Any]]) -> tuple[str, str, str, list[str]] | None:
    """(by, start, end, feeds) covering ``specs``; None when empty or when they mix capture and publish time."""
    kinds = {str(s.get("by", "capture")) for s in specs}
    if not specs or len(kinds) != 1:
        return None
    starts = [str(s["start"]) for s in specs if s.get("start")]
    ends = [str(s["end"]) for s in specs if s.get("end")]
    if not starts or not ends:
        return None
    feeds = sorted({str(f) for s in specs for f in s.get("feeds") or []})
    start = min(starts, key=datetime.fromisoformat)
    end = max(ends, key=datetime.fromisoformat)
    return kinds.pop(), start, end, feeds


def _capture_window(facts: TaskFacts) -> tuple[str, str] | None:
    if facts.map_index >= 0 and facts.map_index not in facts.captures:
        return None
    reports = [facts.captures[facts.map_index]] if facts.map_index >= 0 else list(facts.captures.values())
    starts = [str(r["window_start"]) for r in reports if r.get("window_start")]
    ends = [str(r["window_end"]) for r in reports if r.get("window_end")]
    if not starts or not ends:
        return None
    return min(starts, key=datetime.fromisoformat), max(ends, key=datetime.fromisoformat)


def _process_specs(facts: TaskFacts) -> Sequence[Mapping[str, Any]]:
    if facts.map_index >= 0:
        return [facts.specs[facts.map_index]] if facts.map_index < len(facts.specs) else []
    return facts.specs


def articles_view(facts: TaskFacts) -> kibana.Discover | None:
    """Discover on the articles this task instance derived, captured or grouped (None: nothing to show)."""
    if facts.dag_id == PROCESS:
        union = _union(_process_specs(facts))
        if union is None:
            return None
        by, start, end, feeds = union
        if by == "publish":
            return kibana.articles_by_publish(start, end, feeds)
        return kibana.articles_by_capture(start, end, feeds)
    if facts.dag_id == POLL:
        window = _capture_window(facts)
        # the capture window runs from the first to the last fetch: both ends are fetch times of archived pages
        return kibana.articles_by_capture(*window, end_open=False) if window else None
    if facts.dag_id == STORIES and facts.run_start is not None:
        return kibana.articles_grouped(str(_iso(facts.run_start)), _iso(facts.run_end))
    return None


def stories_view(facts: TaskFacts) -> kibana.Discover | None:
    """Discover on the stories of this task instance's documents (None: nothing to show).

    A publish-time window shows the stories with coverage in it; otherwise the stories created or changed
    since the run began (grouping follows processing through the ``news_articles`` asset event), or, for a
    stories run, while it ran.
    """
    if facts.dag_id not in NEWS_DAGS or facts.run_start is None:
        return None
    if facts.dag_id == PROCESS:
        union = _union(_process_specs(facts))
        if union is not None and union[0] == "publish":
            return kibana.stories_active(union[1], union[2])
    end = _iso(facts.run_end) if facts.dag_id == STORIES else None
    return kibana.stories_updated(str(_iso(facts.run_start)), end)


# --- reading the metadata database (API server) ------------------------------------------------------------


def _xcom_values(dag_id: str, run_id: str, task_id: str) -> dict[int, Any]:
    """map index -> the task's ``return_value`` XCom in that run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key="return_value")
        rows: list[Any] = list(session.scalars(query).all())
        return {int(row.map_index): XComModel.deserialize_value(row) for row in rows}


def load_facts(ti_key: TaskInstanceKey) -> TaskFacts:
    """The run's times and the XComs the links need, from the metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == ti_key.dag_id, DagRun.run_id == ti_key.run_id))
        run_start, run_end = (run.start_date, run.end_date) if run is not None else (None, None)
    specs: list[Mapping[str, Any]] = []
    captures: dict[int, Mapping[str, Any]] = {}
    if ti_key.dag_id == PROCESS:
        plan = _xcom_values(ti_key.dag_id, ti_key.run_id, "plan").get(-1)
        specs = [s for s in plan if isinstance(s, Mapping)] if isinstance(plan, list) else []
    elif ti_key.dag_id == POLL:
        captures = {
            index: value
            for index, value in _xcom_values(ti_key.dag_id, ti_key.run_id, "capture").items()
            if isinstance(value, Mapping)
        }
    return TaskFacts(
        dag_id=ti_key.dag_id,
        task_id=ti_key.task_id,
        map_index=ti_key.map_index,
        run_start=run_start,
        run_end=run_end,
        specs=specs,
        captures=captures,
    )


class _KibanaLink(BaseOperatorLink):
    """Shared plumbing: only this project's DAGs get a URL; a failure to build one disables the button."""

    def view(self, facts: TaskFacts) -> kibana.Discover | None:
        raise NotImplementedError

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if ti_key.dag_id not in NEWS_DAGS:
            return ""
        try:
            view = self.view(load_facts(ti_key))
        except Exception:  # a link must never break the task page; the log says why
            logger.warning("no %s link for %s", self.name, ti_key, exc_info=True)
            return ""
        return view.url() if view is not None else ""


class KibanaArticlesLink(_KibanaLink):
    """Kibana Discover on the articles of this task instance's window."""

    name = "Kibana: articles"

    def view(self, facts: TaskFacts) -> kibana.Discover | None:
        return articles_view(facts)


class KibanaStoriesLink(_KibanaLink):
    """Kibana Discover on the stories of this task instance's documents."""

    name = "Kibana: stories"

    def view(self, facts: TaskFacts) -> kibana.Discover | None:
        return stories_view(facts)
