"""Sections 5 and 6: one day, from its schedule to the SNS message, on the local stack (5) and
in the MWAA profile (6).

``scripts/run_local.py --sources sample`` (section 6 adds ``--profile mwaa`` with this
benchmark's moto server as its AWS: Celery on SQS, two workers, S3) is started through
:func:`local_stack.local_airflow` (fresh state, a free port) with ``COVID19_ETL_START_DATE``
set to yesterday, so the scheduler creates exactly one run: yesterday's day, which loads the
whole history (the sample files over local HTTP). The SNS topic's subscriber is this process
(:func:`bench.airflow_runs.sns_inbox`).

The runs, each measured to its SNS message (:func:`bench.airflow_runs.day_timeline`):

* **first**: the scheduled run on the cold stack, from its queueing; how long it waited to be
  queued after it could be known as due (the DAG's first serialization) is kept apart;
* **full**: the run cleared into an emptied warehouse: the full history on the warm stack;
* **rerun**: cleared again, a no-op day: what a new day costs on a running deployment (the
  same downloads, validation and transform; a handful of rows to write instead of none). A
  cleared run waits for the scheduler's loop as a newly due one does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack import LocalAirflow, local_airflow, wait_for

from bench.airflow_runs import (
    RUNS,
    dag_due_at,
    dag_runs,
    day_timeline,
    loop_summary,
    seconds,
    sns_inbox,
    stack_settings,
    statsd_sink,
    succeeded,
    ts,
)
from bench.common import log

RUN_TIMEOUT_S = 600
PROFILES = ("local", "mwaa")


def empty_warehouse(airflow: LocalAirflow) -> None:
    """Empty the daily table: the next load inserts the full history, and ``etl_runs`` keeps
    every run for the report."""
    airflow.warehouse("TRUNCATE covid19.us_daily")


def measure_runs(airflow: LocalAirflow, inbox: Any, reruns: int) -> dict[str, Any]:
    """The scheduled run, then the same run cleared: once into an emptied warehouse, then
    ``reruns`` no-op times; each to its SNS message."""
    [first] = wait_for("the scheduler's run", lambda: dag_runs(airflow), RUN_TIMEOUT_S)
    run_id, day, queued_at = first["dag_run_id"], first["logical_date"][:10], ts(first["queued_at"])
    due_at = dag_due_at(airflow)
    results = []
    tries: dict[str, int] = {}
    for kind in ["first", "full", *["rerun"] * reruns]:
        reference = queued_at
        if kind != "first":
            if kind == "full":
                empty_warehouse(airflow)
            reference = datetime.now(UTC)
            airflow.call("POST", f"{RUNS}/{run_id}/clear", {"dry_run": False})
        run = wait_for(
            f"the {kind} run to succeed",
            lambda reference=reference: succeeded(airflow, run_id, reference),
            RUN_TIMEOUT_S,
            every_s=0.5,
        )
        sns_at = inbox.arrival(day, after=reference)
        if sns_at is None:
            raise RuntimeError(f"the {kind} run succeeded without an SNS message for {day}")
        timeline = day_timeline(airflow, run, reference, sns_at, tries)
        tries = timeline["tries"]
        results.append({"kind": kind, **timeline})
        log(f"  {kind}: {results[-1]['to_sns_s']:.1f} s to the SNS message")
    return {
        "day": day,
        "due_at": due_at.isoformat(),
        "due_to_queued_s": seconds(queued_at, due_at),
        "queued_at": queued_at,
        "runs": results,
    }


def run(profile: str, reruns: int) -> dict[str, Any]:
    assert profile in PROFILES, profile
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    log(f"section {5 + PROFILES.index(profile)}: run_local.py --sources sample, {profile} profile")
    launched = time.monotonic()
    with sns_inbox() as inbox, statsd_sink() as statsd:
        env = {
            "COVID19_ETL_START_DATE": yesterday,
            "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": inbox.topic_arn,
        }
        args = ["--sources", "sample"]
        if profile == "mwaa":  # its containers' environment is MWAA's: StatsD stays off
            args += ["--profile", "mwaa", "--aws-endpoint", inbox.endpoint]
        else:
            env |= inbox.local_env() | statsd.env()
        with local_airflow(env, *args) as airflow:
            ready_at, ready_s = datetime.now(UTC), time.monotonic() - launched
            measured = measure_runs(airflow, inbox, reruns)
            settings = stack_settings(airflow.state)
            loaded = airflow.warehouse(
                "SELECT as_of::text, source_rows, inserted, updated, unchanged "
                "FROM covid19.etl_runs ORDER BY id"
            )
            loop = loop_summary(statsd, ready_at, datetime.now(UTC))
    return {
        "profile": profile,
        "start_date": yesterday,
        "stack_ready_s": ready_s,
        "ready_to_first_queued_s": seconds(measured.pop("queued_at"), ready_at),
        **measured,
        "settings": settings,
        "scheduler_loop_s": loop,
        "etl_runs": [list(row) for row in loaded],
    }
