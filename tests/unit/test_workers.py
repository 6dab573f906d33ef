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
from ingest.pipeline.workers import _context
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
