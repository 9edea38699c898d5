"""Section 5: a full DAG run on the local one-command stack, split into Airflow overhead and work.

``scripts/run_local.py --sources sample`` is started through :func:`local_stack.local_airflow`
(fresh state, a free port) with ``COVID19_ETL_START_DATE`` set to yesterday, so the scheduler
creates exactly one run: yesterday's day, which loads the whole history (the sample files over
local HTTP). The REST API is polled until that run succeeds; then the run is cleared and runs
again into an emptied warehouse (the full history on a warm stack), then as no-op reruns.

For each run, from the API's own timestamps: the total from the run being queued (or cleared) to
``notify`` ending; **task work** is the sum of the start-to-end durations of the chain's task
instances (extract to notify); **Airflow overhead** is the rest (scheduling, queueing, starting
each task process). Tasks beside the chain (``report``, parallel to ``notify``) are listed
apart.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack import LocalAirflow, local_airflow, wait_for

from bench.common import log
from covid19_common.names import DAG_ID

TASKS = ("extract", "validate", "transform", "load", "notify")
RUNS = f"/api/v2/dags/{DAG_ID}/dagRuns"
RUN_TIMEOUT_S = 600


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def split_run(start: datetime, tis: dict[str, dict], run: dict) -> dict[str, Any]:
    """Total, task work and Airflow overhead for one run, with the per-task timeline."""
    total = (ts(tis["notify"]["end_date"]) - start).total_seconds()
    timeline = []
    previous_end = start
    for task in TASKS:
        ti = tis[task]
        queued, began, ended = ts(ti.get("queued_when")), ts(ti["start_date"]), ts(ti["end_date"])
        timeline.append(
            {
                "task": task,
                "wait_before_s": (began - previous_end).total_seconds(),
                "queued_to_start_s": (began - queued).total_seconds() if queued else None,
                "duration_s": (ended - began).total_seconds(),
            }
        )
        previous_end = ended
    work = sum(step["duration_s"] for step in timeline)
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
        "timeline": timeline,
    }


def finished(airflow: LocalAirflow, run_id: str, after: datetime) -> tuple[dict, dict] | None:
    """The run and its task instances once it succeeded with ``notify`` ending after
    ``after``; raises if it failed."""
    run = airflow.get(f"{RUNS}/{run_id}")
    if run["state"] == "failed":
        raise RuntimeError(f"the DAG run failed: {run}")
    if run["state"] != "success":
        return None
    found = airflow.get(f"{RUNS}/{run_id}/taskInstances")["task_instances"]
    tis = {ti["task_id"]: ti for ti in found}
    notify_end = ts(tis["notify"]["end_date"])
    return (run, tis) if notify_end and notify_end > after else None


def empty_warehouse(airflow: LocalAirflow) -> None:
    """Drop the warehouse schema: the next load migrates it again and loads the full history."""
    import psycopg

    with psycopg.connect(airflow.warehouse_uri, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS covid19 CASCADE")


def run(reruns: int) -> dict[str, Any]:
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    log("section 5: run_local.py --sources sample")
    launched = time.monotonic()
    with local_airflow({"COVID19_ETL_START_DATE": yesterday}, "--sources", "sample") as airflow:
        ready_at = datetime.now(UTC)
        ready_s = time.monotonic() - launched
        # Exactly one run: the start date is yesterday.
        [first] = wait_for("the scheduler's run", lambda: airflow.get(RUNS)["dag_runs"])
        run_id, queued_at = first["dag_run_id"], ts(first["queued_at"])
        results = []
        # The scheduler queues the first run while the components are still starting, so it
        # pays for their start-up too: the full history runs again on the warm stack, into an
        # emptied warehouse, then the no-op reruns.
        for kind in ["first", "full", *["rerun"] * reruns]:
            start = queued_at
            if kind != "first":
                if kind == "full":
                    empty_warehouse(airflow)
                start = datetime.now(UTC)
                airflow.call("POST", f"{RUNS}/{run_id}/clear", {"dry_run": False})
            run, tis = wait_for(
                f"the {kind} run to succeed",
                lambda start=start: finished(airflow, run_id, after=start),
                RUN_TIMEOUT_S,
                every_s=0.5,
            )
            results.append({"kind": kind, **split_run(start, tis, run)})
            log(f"  {kind}: {results[-1]['total_s']:.1f} s")
        loaded = airflow.warehouse(
            "SELECT as_of::text, source_rows, inserted, updated, unchanged "
            "FROM covid19.etl_runs ORDER BY id"
        )
    return {
        "start_date": yesterday,
        "stack_ready_s": ready_s,
        "ready_to_first_queued_s": (queued_at - ready_at).total_seconds(),
        "runs": results,
        "etl_runs": [list(row) for row in loaded],
    }
