"""The landing deadline: a day not loaded some hours after its data interval ends is reported.

The ``covid19_etl_watchdog`` DAG runs :func:`run` every 15 minutes. Each of its runs checks the
deadlines that fell inside its own data interval, so every day is checked once, by the run whose
interval holds that day's deadline, with no state kept anywhere; a catch-up of old days (whose
deadlines passed before the watchdog ran) raises nothing. A day has landed when its ``load`` task
succeeded; otherwise the alert names the task it is stuck in, or says that no run exists at all
(the DAG paused, the scheduler down), which nothing inside the day's own run could report.

Airflow's Deadline Alerts would do this inside the DAG, but on 3.3.1 they are not safe to rely on:
a deadline counted from ``queued_at`` makes Clear fail (apache/airflow#70368), ``airflow dags
test`` fails for any DAG with a deadline (#73428), and after an edit of the DAG file new runs get
no deadline at all (#68732; ``SerializedDagModel.write_dag`` reuses the alert ids of the previous
version without linking them to the new one).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

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


def run(window_start: datetime, window_end: datetime) -> list[str]:
    """The watchdog task: alert for each day due in the window that has not loaded."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    from include.covid19_etl.messages import late_message, publish
    from include.covid19_etl.settings import landing_deadline_from_env, start_date_from_env

    after = landing_deadline_from_env()
    late = []
    for day in days_due(window_start, window_end, after, start_date_from_env().date()):
        runs = RuntimeTaskInstance.get_task_states(
            dag_id=DAG_ID, logical_dates=[RunFacts.for_day(day).logical_date]
        )
        if any(states.get("load") == LANDED for states in runs.values()):
            log.info("%s landed before its deadline, %s", day, deadline_of(day, after))
            continue
        run_id, states = next(iter(runs.items()), (None, {}))
        publish(*late_message(day, deadline_of(day, after), run_id, states))
        late.append(day.isoformat())
    return late
