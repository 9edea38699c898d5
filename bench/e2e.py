"""Section 5: a full DAG run on the local one-command stack, split into Airflow overhead and work.

``scripts/run_local.py --sources sample`` is started on fresh state (a short path under /tmp: the
embedded PostgreSQL's Unix socket lives there) and a free port, with
``COVID19_ETL_START_DATE`` set to yesterday, so the scheduler creates exactly one run: yesterday's
day, which loads the whole history (the sample files over local HTTP). The REST API is polled
until that run succeeds; then the run is cleared and runs again (a no-op rerun), a few times.

For each run, from the API's own timestamps: the total from the run being queued (or cleared) to
``notify`` ending; **task work** is the sum of the start-to-end durations of the chain's task
instances (extract to notify); **Airflow overhead** is the rest (scheduling, queueing, starting
each task process). Tasks beside the chain (``report``, parallel to ``notify``) are listed
apart. The launcher is stopped with SIGINT, as a person would with Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, log, summary

DAG_ID = "covid19_etl"
TASKS = ("extract", "validate", "transform", "load", "notify")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """The Airflow REST API (v2) with the simple auth manager's token."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        self.token = ""
        token = self.call("POST", "/auth/token", {"username": "admin", "password": password})
        self.token = token["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
            self.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def runs(self) -> list[dict]:
        path = f"/api/v2/dags/{DAG_ID}/dagRuns?order_by=logical_date&limit=50"
        return self.call("GET", path)["dag_runs"]

    def run(self, run_id: str) -> dict:
        return self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")

    def task_instances(self, run_id: str) -> dict[str, dict]:
        found = self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in found["task_instances"]}


def wait_for(what: str, check: Any, timeout_s: float, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if result := check():
                return result
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def split_run(start: datetime, tis: dict[str, dict], run: dict) -> dict[str, Any]:
    """Total, task work and Airflow overhead for one run, with the per-task timeline."""
    end = ts(tis["notify"]["end_date"])
    assert end is not None
    total = (end - start).total_seconds()
    timeline = []
    previous_end = start
    work = 0.0
    for task in TASKS:
        ti = tis[task]
        queued, began, ended = ts(ti.get("queued_when")), ts(ti["start_date"]), ts(ti["end_date"])
        assert began is not None and ended is not None
        duration = (ended - began).total_seconds()
        work += duration
        timeline.append(
            {
                "task": task,
                "state": ti["state"],
                "wait_before_s": (began - previous_end).total_seconds(),
                "queued_to_start_s": (began - queued).total_seconds() if queued else None,
                "duration_s": duration,
            }
        )
        previous_end = ended
    # Tasks beside the chain (the dashboard ``report`` runs in parallel with ``notify``).
    beside = {
        task: (ts(ti["end_date"]) - ts(ti["start_date"])).total_seconds()
        for task, ti in tis.items()
        if task not in TASKS and ti.get("start_date") and ti.get("end_date")
    }
    run_end = ts(run.get("end_date"))
    return {
        "total_s": total,
        "task_work_s": work,
        "airflow_overhead_s": total - work,
        "beside_chain_s": beside,
        "run_end_s": (run_end - start).total_seconds() if run_end else None,
        "run_queued_to_start_s": (
            (ts(run["start_date"]) - start).total_seconds() if run.get("start_date") else None
        ),
        "timeline": timeline,
    }


def launcher_env(state: Path, start_day: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW__")) or name in {
            "AIRFLOW_HOME",
        }:
            del env[name]
    paths = [str(REPO_ROOT / "include")]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["COVID19_ETL_START_DATE"] = start_day
    return env


def run(reruns: int, ready_timeout_s: float = 300, run_timeout_s: float = 600) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    state = Path(tempfile.mkdtemp(prefix="c19e2e-"))  # short: the PostgreSQL socket lives here
    port = free_port()
    log(f"section 5: run_local.py --sources sample on port {port}, state {state}")
    log_path = state / "run_local.log"
    launched = time.monotonic()
    with log_path.open("wb") as output:
        launcher = subprocess.Popen(
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "run_local.py"),
                "--sources",
                "sample",
                "--state-dir",
                str(state),
                "--port",
                str(port),
            ],
            env=launcher_env(state, yesterday),
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        wait_for(
            "Airflow to be ready",
            lambda: launcher.poll() is not None or b"Airflow is ready" in log_path.read_bytes(),
            ready_timeout_s,
        )
        if launcher.poll() is not None:
            raise RuntimeError(f"run_local.py exited:\n{log_path.read_text()[-3000:]}")
        ready_s = time.monotonic() - launched
        password = json.loads((state / "airflow" / "passwords.json").read_text())["admin"]
        api = Api(f"http://127.0.0.1:{port}", password)
        ready_at = datetime.now(UTC)

        def succeeded(run_id: str | None = None) -> dict | None:
            runs = api.runs() if run_id is None else [api.run(run_id)]
            if runs and runs[0]["state"] == "failed":
                raise RuntimeError(f"the DAG run failed: {runs[0]}")
            return runs[0] if runs and runs[0]["state"] == "success" else None

        first = wait_for("the first run to succeed", succeeded, run_timeout_s)
        run_id = first["dag_run_id"]
        runs_created = len(api.runs())
        queued_at = ts(first["queued_at"])
        assert queued_at is not None
        results = [{"kind": "first", **split_run(queued_at, api.task_instances(run_id), first)}]
        log(f"  first run (cold stack): {results[-1]['total_s']:.1f} s")
        # The scheduler queues the first run while the components are still starting, so it
        # pays for their start-up too: the full history runs again on the warm stack, into an
        # emptied warehouse, then the no-op reruns.
        for kind in ["full", *["rerun"] * reruns]:
            if kind == "full":
                _empty_warehouse(state)
            cleared_at = datetime.now(UTC)
            api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/clear", {"dry_run": False})

            def rerun_done(cleared_at: datetime = cleared_at) -> dict | None:
                found = succeeded(run_id)
                if not found:
                    return None
                end = ts(api.task_instances(run_id)["notify"]["end_date"])
                return found if end and end > cleared_at else None

            again = wait_for("the cleared run to succeed", rerun_done, run_timeout_s)
            tis = api.task_instances(run_id)
            results.append({"kind": kind, **split_run(cleared_at, tis, again)})
            log(f"  {kind}: {results[-1]['total_s']:.1f} s")
        loaded = _warehouse_history(state)
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        shutil.rmtree(state, ignore_errors=True)
    stopped_s = time.monotonic() - launched
    reruns_only = [r for r in results if r["kind"] == "rerun"]
    full = next(r for r in results if r["kind"] == "full")
    return {
        "start_date": yesterday,
        "runs_created": runs_created,
        "stack_ready_s": ready_s,
        "ready_to_first_queued_s": (queued_at - ready_at).total_seconds(),
        "whole_section_s": stopped_s,
        "runs": results,
        "full_history": {k: full[k] for k in ("total_s", "task_work_s", "airflow_overhead_s")},
        "rerun_total_s": summary([r["total_s"] for r in reruns_only]) if reruns_only else None,
        "rerun_overhead_s": (
            summary([r["airflow_overhead_s"] for r in reruns_only]) if reruns_only else None
        ),
        "rerun_work_s": summary([r["task_work_s"] for r in reruns_only]) if reruns_only else None,
        "etl_runs": loaded,
        "launcher_exit_code": launcher.returncode,
    }


def _warehouse_url(state: Path) -> str:
    return f"postgresql://postgres@/covid19?host={state / 'pgdata'}"


def _empty_warehouse(state: Path) -> None:
    """Drop the warehouse schema: the next load migrates it again and loads the full history."""
    import psycopg

    with psycopg.connect(_warehouse_url(state), autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS covid19 CASCADE")


def _warehouse_history(state: Path) -> list[list[Any]]:
    """``covid19.etl_runs`` as the stack recorded it: what each run wrote."""
    import psycopg

    with psycopg.connect(_warehouse_url(state)) as connection:
        rows = connection.execute(
            "SELECT as_of::text, source_rows, inserted, updated, unchanged "
            "FROM covid19.etl_runs ORDER BY id"
        ).fetchall()
    return [list(row) for row in rows]
