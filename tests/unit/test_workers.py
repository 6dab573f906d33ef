"""The derivation pool under a host program whose main script must not be re-run (the ``airflow`` CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SCRIPT = """
if __name__ != "__main__":  # what the airflow CLI's import does in a task process: fail
    raise RuntimeError("the parent's main script was re-run in a worker")
import os
from pebble import ProcessPool
from ingest.worker import context as _context
with ProcessPool(max_workers=2, context=_context()) as pool:
    pids = {pool.schedule(os.getpid).result(timeout=60) for _ in range(4)}
print("ok", len(pids) >= 1 and os.getpid() not in pids)
"""


def test_workers_do_not_rerun_the_parents_main_script(tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(SCRIPT, "utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "ok True"


#: evaluated inside a worker: which of the modules a worker must never import it holds
_HEAVY = (
    "sorted(m for m in __import__('sys').modules"
    " if m.split('.')[0] in ('elasticsearch', 'feedparser')"
    " or m.startswith(('ingest.pipeline', 'ingest.fetching', 'ingest.feeds')))"
)


def test_workers_import_neither_elasticsearch_nor_the_pipeline_package() -> None:
    """The forkserver and its workers load only :mod:`ingest.worker`'s side (what a page needs), not the pipeline
    package, whose import brings the Elasticsearch client into every processing task's forkserver, nor the feed
    parser and the fetcher (every processing task's forkserver paid them: 0.05-0.07 CPU s)."""
    from pebble import ProcessPool

    from ingest import worker
    from ingest.config import PipelineOptions

    with ProcessPool(
        max_workers=1, initializer=worker.init_worker, initargs=(PipelineOptions(),), context=worker.context()
    ) as pool:
        assert pool.schedule(eval, args=("'trafilatura' in __import__('sys').modules",)).result(timeout=120)
        assert pool.schedule(eval, args=(_HEAVY,)).result(timeout=120) == []
