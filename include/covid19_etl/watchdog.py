"""The landing deadline: a day not loaded some hours after its data interval ends is reported.

The ``covid19_etl_watchdog`` DAG runs every 15 minutes. Its ``check_deadlines`` task looks at
every day whose deadline fell after the end of the watchdog's last successful run and before
the end of its own interval: deadlines that fell while the scheduler was down, the DAG paused
or an earlier watchdog run failed are checked by the next run that succeeds. Each late day is
then alerted by its own ``alert`` task instance (dynamic task mapping), so one failed publish
costs no other day its alert, and a retry publishes that day only. A day alerted by an earlier
run (its ``alert`` returned it, an XCom) is never alerted again: a failed run's later checks,
and a Clear, re-check without repeating. Everything is decided by the runs' data intervals and
Airflow's records, never by the clock; a catch-up of old days (their deadlines passed before
the watchdog first ran) raises nothing.

A day has landed when its ``load`` task succeeded; otherwise the alert names the task it is
stuck in, or says that no run exists at all (the DAG paused, the scheduler down), which
nothing inside the day's own run could report. A scheduler that is down runs no watchdog
either: that is reported from outside Airflow (on MWAA, the CloudWatch alarm on the
environment's ``SchedulerHeartbeat`` in ``terraform/``).

Airflow's Deadline Alerts would do this inside the DAG, but on 3.3.1 they are not safe to rely on:
a deadline counted from ``queued_at`` makes Clear fail (apache/airflow#70368), ``airflow dags
test`` fails for any DAG with a deadline (#73428), and after an edit of the DAG file new runs get
no deadline at all (#68732; ``SerializedDagModel.write_dag`` reuses the alert ids of the previous
version without linking them to the new one).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from covid19_common.names import DAG_ID
from include.covid19_etl.run_facts import DAY, RunFacts

log = logging.getLogger(__name__)

LANDED = "success"


def deadline_of(day: date, after: timedelta) -> datetime:
    """``after`` past the end of the day's data interval (the next midnight UTC)."""
    return RunFacts.for_day(day).data_interval_end + after


def days_due(
    window_start: datetime, window_end: datetime, after: timedelta, first_day: date
) -> list[date]:
    """The days on or after ``first_day`` whose deadline falls in [window_start, window_end)."""
    day = max(first_day, (window_start - after - DAY).date())
    due = []
    while deadline_of(day, after) < window_end:
        if deadline_of(day, after) >= window_start:
            due.append(day)
        day += DAY
    return due


def late_days(
    since: datetime, until: datetime, alerted: Iterable[str | None]
) -> list[dict[str, Any]]:
    """The ``check_deadlines`` task: the days whose deadline fell in [since, until), not alerted
    yet and not loaded, each with its run and task states as the ``alert`` task reports them."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    from include.covid19_etl.settings import landing_deadline_from_env, start_date_from_env

    after = landing_deadline_from_env()
    already = set(alerted) - {None}
    late = []
    for day in days_due(since, until, after, start_date_from_env().date()):
        if day.isoformat() in already:
            log.info("%s was alerted by an earlier run", day)
            continue
        runs = RuntimeTaskInstance.get_task_states(
            dag_id=DAG_ID, logical_dates=[RunFacts.for_day(day).logical_date]
        )
        if any(states.get("load") == LANDED for states in runs.values()):
            log.info("%s landed before its deadline, %s", day, deadline_of(day, after))
            continue
        run_id, states = next(iter(runs.items()), (None, {}))
        late.append({"day": day.isoformat(), "run_id": run_id, "states": states})
    log.info("Deadlines in [%s, %s): late %s", since, until, [d["day"] for d in late] or "none")
    return late


def alert(late: dict[str, Any]) -> str:
    """The ``alert`` task, one per late day: publish it, and return the day (the record that it
    was alerted)."""
    from include.covid19_etl.messages import late_message, publish
    from include.covid19_etl.settings import landing_deadline_from_env

    day = date.fromisoformat(late["day"])
    deadline = deadline_of(day, landing_deadline_from_env())
    publish(*late_message(day, deadline, late["run_id"], late["states"]))
    return late["day"]
