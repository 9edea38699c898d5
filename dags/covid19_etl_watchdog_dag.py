"""
# covid19_etl_watchdog: a day that has not loaded in time is reported

Every 15 minutes, for the days whose landing deadline (`COVID19_ETL_LANDING_DEADLINE_MINUTES`,
6 hours, after the day's data interval ends) fell in this run's interval: if the `covid19_etl`
run for that day has not loaded, an alert on the same SNS topic names the task it is stuck in,
or says that there is no run at all. Each day is checked once; a catch-up of old days raises
nothing. It only reads: if it fails, clear it to check its interval again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task

from covid19_common.names import WATCHDOG_DAG_ID
from include.covid19_etl.messages import WATCHDOG_NEXT_STEP, FailureNotifier
from include.covid19_etl.settings import start_date_from_env


@dag(
    dag_id=WATCHDOG_DAG_ID,
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=start_date_from_env(),
    # Only deadlines that fall from now on: a day long overdue when this starts was already late.
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=["covid19", "etl", "sns"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=5),
        "on_failure_callback": FailureNotifier(next_step=WATCHDOG_NEXT_STEP),
    },
)
def covid19_etl_watchdog() -> None:
    """check_deadlines, once per 15 minutes."""

    @task
    def check_deadlines(**context: Any) -> list[str]:
        """Alert for each day whose deadline fell in this interval and that has not loaded."""
        from include.covid19_etl.watchdog import run

        return run(context["data_interval_start"], context["data_interval_end"])

    check_deadlines()


covid19_etl_watchdog()
