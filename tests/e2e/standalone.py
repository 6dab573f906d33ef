"""A real ``airflow standalone`` for the REST API and browser tests, and the REST helpers they share.

One standalone serves the whole session (its start is the expensive part): its own ``AIRFLOW_HOME`` with an
SQLite database, ``AIRFLOW__CORE__PARALLELISM=4``, the API bound to 127.0.0.1 on a free port, the project's
DAGs and plugin, the sample corpus served on 127.0.0.1, and the test's own Elasticsearch aliases. It is started
in its own process group with SIGINT restored (a background shell ignores SIGINT, and standalone only stops
its components on SIGINT) and stopped by that group's id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

logger = logging.getLogger(__name__)

AIRFLOW = Path(sys.executable).parent / "airflow"
HEALTH_TIMEOUT = 180.0
RUN_TIMEOUT = 420.0
TERMINAL = frozenset({"success", "failed"})
DAG_IDS = ("news_poll", "news_process", "news_stories")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def wait(
    done: Callable[[], Any],
    timeout: float,
    message: Callable[[], str],
    *,
    interval: float = 1.0,
    stop_if: Callable[[], bool] | None = None,
) -> Any:
    """Poll ``done`` until it returns something truthy (returned), or fail the test with ``message()``."""
    deadline = time.monotonic() + timeout
    while True:
        result = done()
        if result:
            return result
        if time.monotonic() > deadline or (stop_if is not None and stop_if()):
            pytest.fail(message())
        time.sleep(interval)


@dataclass
class Standalone:
    home: Path
    base_url: str
    log: Path
    client: httpx.Client
    token: str = ""
    #: measured durations (seconds) by name, written to var/e2e-timings.json at the end of the session
    timings: dict[str, float] = field(default_factory=dict)

    def diagnostics(self) -> str:
        """The standalone log tail and the tails of the task logs of failed or retried attempts."""
        parts = [f"--- airflow standalone log ({self.log}) ---", tail(self.log, 40)]
        for task_log in sorted((self.home / "logs").rglob("*.log")):
            text = task_log.read_text("utf-8", errors="replace")
            if '"level":"error"' in text or "Traceback" in text:
                parts += [f"--- {task_log.relative_to(self.home)} ---", tail(task_log, 30)]
        return "\n".join(parts)

    def states(self, dag_id: str, backfill_id: int | None = None) -> str:
        """What the scheduler holds for a DAG (its runs, the unfinished task instances, a backfill): the state a
        stuck wait needs for a diagnosis, which the log tail alone did not give (one CI run, 2026-12-04)."""
        lines = [f"--- {dag_id}: runs (run_id, run_type, state, logical_date, start_date, end_date) ---"]
        try:
            for r in self.runs(dag_id):
                lines.append(
                    f"{r['dag_run_id']} {r['run_type']} {r['state']} {r['logical_date']} {r['start_date']} "
                    f"{r['end_date']}"
                )
            unfinished = self.call(
                "GET",
                f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances",
                params={"state": ["none", "scheduled", "queued", "running", "deferred", "up_for_reschedule"]},
            )["task_instances"]
            lines.append(f"--- {dag_id}: unfinished task instances ---")
            lines += [f"{ti['dag_run_id']} {ti['task_id']}[{ti.get('map_index')}] {ti['state']}" for ti in unfinished]
            if backfill_id is not None:
                lines.append(f"--- backfill {backfill_id} now: {self.call('GET', f'/api/v2/backfills/{backfill_id}')}")
        except (AssertionError, httpx.HTTPError, KeyError) as exc:
            lines.append(f"(could not read the state: {exc!r})")
        return "\n".join(lines)

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        assert response.status_code in ok, f"{method} {path} -> {response.status_code}: {response.text[:2000]}"
        return response.json() if response.content else None

    # --- REST API v2 ---------------------------------------------------------------------------------------

    def runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 100, "order_by": "run_after"}
        if run_type:
            params["run_type"] = run_type
        runs: list[dict[str, Any]] = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params=params)["dag_runs"]
        return runs

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return run

    def fail_fast(self, dag_ids: tuple[str, ...] = DAG_IDS) -> None:
        """A failed task would be retried for minutes (backoff): stop at the first failure, with its logs."""
        for dag_id in dag_ids:
            bad = self.call(
                "GET",
                f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances",
                params={"state": ["failed", "up_for_retry", "upstream_failed"]},
            )["task_instances"]
            if bad:
                brief = [(ti["dag_run_id"], ti["task_id"], ti.get("map_index"), ti["state"]) for ti in bad]
                pytest.fail(f"{dag_id}: task instances failed: {brief}\n{self.diagnostics()}")

    def idle(self, dag_ids: tuple[str, ...] = DAG_IDS) -> bool:
        self.fail_fast(dag_ids)
        return all(r["state"] in TERMINAL for dag_id in dag_ids for r in self.runs(dag_id))

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        entry = self.call(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
            params={"deserialize": True, "map_index": map_index},
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def asset_events(self, name: str) -> list[dict[str, Any]]:
        """The asset's events, read once no run is queued or running. Airflow 3.3's event listing answers 500
        while a run that an event created has not started yet (its ``created_dagruns[].start_date`` is None,
        which the response model refuses: seen in CI, 2026-12-03, after a backfill's event had queued a
        ``news_stories`` run)."""
        wait(self.idle, RUN_TIMEOUT, lambda: f"runs still active before reading {name} events\n{self.diagnostics()}")
        assets = self.call("GET", "/api/v2/assets", params={"name_pattern": name})["assets"]
        (asset,) = [a for a in assets if a["name"] == name]
        events: list[dict[str, Any]] = self.call(
            "GET", "/api/v2/assets/events", params={"asset_id": asset["id"], "order_by": "timestamp", "limit": 100}
        )["asset_events"]
        return events

    def _backfills(self, dag_id: str) -> list[dict[str, Any]]:
        backfills: list[dict[str, Any]] = self.call(
            "GET", "/api/v2/backfills", params={"dag_id": dag_id, "limit": 100}
        )["backfills"]
        return backfills

    def backfill(self, body: Mapping[str, Any], *, timeout: float = RUN_TIMEOUT) -> tuple[dict[str, Any], float]:
        """Start a backfill (waiting out a previous one of the DAG: one at a time, 409) and wait until it is
        complete; returns it and its wall time (creation to the last run's end).

        On SQLite, Airflow refuses a backfill with 503 "Database is locked" while the scheduler holds the database
        (seen once in CI, 2026-12-03); as ops would, the request is sent again. Its audit-log insert can fail the
        same way and answer a bare 500 "Database error" (seen once in CI, 2026-12-03 afternoon): then a backfill
        the request did create is taken, and otherwise the request is sent again. PostgreSQL (the compose file's
        database) has neither."""
        known = {b["id"] for b in self._backfills(str(body["dag_id"]))}

        def create() -> dict[str, Any] | None:
            response = self.client.post("/api/v2/backfills", json=dict(body))
            if response.status_code == 409:
                return None
            if response.status_code == 503 and "database is locked" in response.text.lower():
                return None  # wait() asks again a second later
            if response.status_code == 500 and "database error" in response.text.lower():
                made = [b for b in self._backfills(str(body["dag_id"])) if b["id"] not in known]
                return made[0] if made else None
            assert response.status_code == 200, f"POST /api/v2/backfills -> {response.status_code}: {response.text}"
            created: dict[str, Any] = response.json()
            return created

        backfill = wait(create, 90, lambda: f"the previous backfill never completed\n{self.diagnostics()}")
        started = time.monotonic()
        created_at = datetime.fromisoformat(backfill["created_at"])
        low, high = datetime.fromisoformat(str(body["from_date"])), datetime.fromisoformat(str(body["to_date"]))

        def finished() -> list[dict[str, Any]] | None:
            self.fail_fast((str(body["dag_id"]),))
            # the runs of this backfill: backfill runs in its range, (re)started after it was created
            runs = [
                r
                for r in self.runs(str(body["dag_id"]), "backfill")
                if r["logical_date"]
                and low <= datetime.fromisoformat(r["logical_date"]) <= high
                and r["start_date"]
                and datetime.fromisoformat(r["start_date"]) >= created_at - timedelta(seconds=1)
            ]
            return runs if runs and all(r["state"] in TERMINAL for r in runs) else None

        def stuck() -> str:
            return f"backfill {backfill} did not finish\n{self.states(str(body['dag_id']), int(backfill['id']))}\n" + (
                self.diagnostics()
            )

        backfill["runs"] = wait(finished, timeout, stuck)
        elapsed = time.monotonic() - started
        return backfill, elapsed


def start(home: Path, env: Mapping[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], Standalone]:
    """Start ``airflow standalone`` and wait until the API, the scheduler and the DAG processor are up."""
    port = int(env["AIRFLOW__API__PORT"])
    base_url = f"http://127.0.0.1:{port}"
    log = cwd / "standalone.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(AIRFLOW), "standalone"],
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    client = httpx.Client(base_url=base_url, timeout=30, trust_env=False)
    server = Standalone(home, base_url, log, client)
    try:
        wait(
            lambda: proc.poll() is None and _healthy(client),
            HEALTH_TIMEOUT,
            lambda: f"airflow standalone not healthy (exit code {proc.poll()})\n{server.diagnostics()}",
            stop_if=lambda: proc.poll() is not None,
        )
        server.timings["standalone_healthy_s"] = round(time.monotonic() - started, 1)
        password_file = home / "simple_auth_manager_passwords.json.generated"
        password = json.loads(password_file.read_text("utf-8"))["admin"]
        token = server.call("POST", "/auth/token", ok=(200, 201), json={"username": "admin", "password": password})
        server.token = token["access_token"]
        client.headers["Authorization"] = f"Bearer {server.token}"
        wait(
            lambda: all(client.get(f"/api/v2/dags/{d}").status_code == 200 for d in DAG_IDS),
            HEALTH_TIMEOUT,
            lambda: f"the DAGs were not parsed\n{server.diagnostics()}",
            stop_if=lambda: proc.poll() is not None,
        )
        server.timings["standalone_dags_parsed_s"] = round(time.monotonic() - started, 1)
        logger.info("airflow standalone ready at %s: %s", base_url, server.timings)
    except BaseException:
        stop(proc)
        client.close()
        raise
    return proc, server


def _healthy(client: httpx.Client) -> bool:
    try:
        response = client.get("/api/v2/monitor/health")
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    health = response.json()
    parts = ("metadatabase", "scheduler")
    return all(health.get(part, {}).get("status") == "healthy" for part in parts)


def stop(proc: subprocess.Popen[bytes], grace: float = 25.0) -> None:
    """SIGINT to standalone (it stops its components); then SIGKILL whatever is left in its process group."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reap the parent, or the group never looks empty
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    logger.warning("airflow standalone still running %.0f s after SIGINT: killing its process group", grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
