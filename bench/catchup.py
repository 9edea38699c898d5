"""Section 7: catch-up throughput, days per hour, on the local stack.

``scripts/run_local.py --sources sample`` with ``COVID19_ETL_START_DATE`` ``days`` days back:
the scheduler creates one run per day, as a fresh deployment does for the days since its start
date (the default start date is weeks back). Measured from the first run being queued to the
last day's SNS message; each day's run downloads, validates and transforms the sample files and
loads the whole history as of its day (the first inserts every row, the others none).

What bounds it, from the task instances: each task waits for the same task of the day before
and for that task's downstream tasks (``depends_on_past`` + ``wait_for_downstream``), so a day's
task ``t`` cannot start before the previous day's ``t`` and the tasks right after it are done:
``t``, a gap (hand-off, queueing, pick-up), its slowest downstream task and another gap before
the next day's ``t`` is the *pair* period ``t`` imposes. The longest pair is the pipeline's
bound; the rest of the measured period is waiting for a core. The runs' queueing stamps show
the scheduler creating one run per loop.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack import LocalAirflow, local_airflow, wait_for

from bench import airflow_runs
from bench.airflow_runs import seconds, ts
from bench.common import log, summary
from covid19_common.names import DAG_ID

# A failed first try waits for its retry delay (1 to 2 minutes by default): room for it, and
# then for each day.
TIMEOUT_S, DAY_TIMEOUT_S = 600, 90


def differences(moments: Sequence[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(moments)]


def all_succeeded(airflow: LocalAirflow, days: int, progress: list[int]) -> list[dict] | None:
    runs = airflow_runs.dag_runs(airflow)
    if failed := [run["dag_run_id"] for run in runs if run["state"] == "failed"]:
        raise RuntimeError(f"catch-up runs failed: {failed}")
    done = sum(run["state"] == "success" for run in runs)
    if done >= progress[-1] + 5:
        progress.append(done)
        log(f"  {done} of {days} days done")
    return runs if len(runs) == days and done == days else None


def duration(ti: dict) -> float:
    return seconds(ts(ti["end_date"]), ts(ti["start_date"]))


def waits(days: list[dict[str, dict]], upstream: dict[str, list[str]], stamp: str) -> list[float]:
    """Each task's wait from its last upstream task's end to its ``stamp``."""
    return [
        seconds(ts(tis[task][stamp]), max(ts(tis[before]["end_date"]) for before in ups))
        for tis in days
        for task, ups in upstream.items()
        if ups
    ]


def pairs(
    days: list[dict[str, dict]], downstream: dict[str, list[str]], gap: float
) -> dict[str, dict[str, Any]]:
    """Per task: its duration over the days, its slowest downstream task and the pair period."""
    durations = {task: summary([duration(tis[task]) for tis in days]) for task in downstream}
    found = {}
    for task, after in downstream.items():
        slowest = max(after, key=lambda t: durations[t]["median"], default=None)
        pair = durations[task]["median"] + gap
        if slowest:
            pair += durations[slowest]["median"] + gap
        found[task] = {"duration_s": durations[task], "slowest_after": slowest, "pair_s": pair}
    return found


def run(days: int) -> dict[str, Any]:
    start_date = (datetime.now(UTC).date() - timedelta(days=days)).isoformat()
    log(f"section 7: catch-up of {days} days from {start_date} on the local stack")
    launched = time.monotonic()
    with airflow_runs.sns_inbox() as inbox, airflow_runs.statsd_sink() as statsd:
        env = {
            "COVID19_ETL_START_DATE": start_date,
            "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": inbox.topic_arn,
            **inbox.local_env(),
            **statsd.env(),
        }
        with local_airflow(env, "--sources", "sample") as airflow:
            ready_at, ready_s = datetime.now(UTC), time.monotonic() - launched
            progress = [0]
            runs = wait_for(
                f"{days} days to succeed",
                lambda: all_succeeded(airflow, days, progress),
                TIMEOUT_S + DAY_TIMEOUT_S * days,
                every_s=2,
            )
            due_at = airflow_runs.dag_due_at(airflow)
            tis = [airflow_runs.task_instances(airflow, run["dag_run_id"]) for run in runs]
            tasks = airflow.get(f"/api/v2/dags/{DAG_ID}/tasks")["tasks"]
            settings = airflow_runs.stack_settings(airflow.state)
            loaded = airflow.warehouse(
                "SELECT count(*), sum(inserted)::int, sum(updated)::int, sum(unchanged)::int "
                "FROM covid19.etl_runs"
            )
            loop = airflow_runs.loop_summary(statsd, ready_at, datetime.now(UTC))
    downstream = {task["task_id"]: task["downstream_task_ids"] for task in tasks}
    sns = [inbox.arrival(run["logical_date"][:10], after=due_at) for run in runs]
    if None in sns:
        raise RuntimeError(f"days without an SNS message: {len([s for s in sns if s is None])}")
    return {
        "days": days,
        "start_date": start_date,
        "stack_ready_s": ready_s,
        "due_to_first_queued_s": seconds(ts(runs[0]["queued_at"]), due_at),
        **figures(runs, tis, downstream, sns),
        "settings": settings,
        "scheduler_loop_s": loop,
        "etl_runs": dict(zip(("runs", "inserted", "updated", "unchanged"), loaded[0], strict=True)),
    }


def figures(
    runs: list[dict], tis: list[dict[str, dict]], downstream: dict[str, list[str]], sns: list
) -> dict[str, Any]:
    """Throughput, and what bounds it. The first day pays for the cold stack (its first task
    process imports everything for the first time): spans and periods leave it out."""
    upstream = {t: [u for u, after in downstream.items() if t in after] for t in downstream}
    queued = [ts(run["queued_at"]) for run in runs]
    wall = seconds(sns[-1], queued[0])
    busy = sum(
        seconds(ts(ti["end_date"]), ts(ti["start_date"])) for day in tis for ti in day.values()
    )
    steady = tis[1:] or tis
    gap = summary(waits(steady, upstream, "start_date"))
    return {
        "first_queued_to_last_sns_s": wall,
        "days_per_hour": len(runs) / wall * 3600,
        "first_day_to_sns_s": seconds(sns[0], queued[0]),
        "period_s": summary(differences(sns)),
        "queued_spacing_s": summary(differences(queued)),
        "tasks": pairs(steady, downstream, gap["median"]),
        "gap_s": gap,
        "hand_off_s": summary(waits(steady, upstream, "scheduled_when")),
        "tasks_at_once": busy / wall,
        "after_first_day_days_per_hour": (len(runs) - 1) / seconds(sns[-1], sns[0]) * 3600,
        "retried": [
            f"{ti['task_id']} of {run['logical_date'][:10]} ({ti['try_number'] - 1})"
            for run, day in zip(runs, tis, strict=True)
            for ti in day.values()
            if ti["try_number"] > 1
        ],
    }
