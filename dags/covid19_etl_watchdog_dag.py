"""
# covid19_etl_watchdog: a day that has not loaded in time is reported

Every 15 minutes, `check_deadlines` looks at the days whose landing deadline
(`COVID19_ETL_LANDING_DEADLINE_MINUTES`, 6 hours, after the day's data interval ends) fell since
the end of the last successful watchdog run, deadlines missed while the scheduler was down
included; `alert` then publishes, one task instance per late day, an alert on the same SNS
topic naming the task the `covid19_etl` run is stuck in, or saying that there is no run at
all. A day is alerted once: a retry, a Clear or a later run never repeats an alert that went
out. A catch-up of old days raises nothing. A stopped scheduler is reported from outside
Airflow (on MWAA, a CloudWatch alarm on its heartbeat).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task

from covid19_common.names import WATCHDOG_DAG_ID
from include.covid19_etl.messages import WATCHDOG_NEXT_STEP, FailureNotifier
from include.covid19_etl.settings import retry_schedule_from_env, start_date_from_env


@dag(
    dag_id=WATCHDOG_DAG_ID,
    schedule=CronDataIntervalTimetable("*/15 * * * *", timezone="UTC"),
    start_date=start_date_from_env(),
    # One run for the newest window after an outage: it checks every deadline since the last
    # successful run, so the skipped windows need no runs of their own.
    catchup=False,
    # Runs in order: each starts where the last successful one ended.
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
    """check_deadlines, then one alert per late day."""

    @task
    def check_deadlines(**context: Any) -> list[dict[str, Any]]:
        """The days whose deadline fell since the last successful run, not loaded, not alerted."""
        from include.covid19_etl.watchdog import late_days

        ti = context["ti"]
        return late_days(
            since=context["prev_data_interval_end_success"] or context["data_interval_start"],
            until=context["data_interval_end"],
            # Every day an earlier (or this, before a Clear) run's alert published.
            alerted=ti.xcom_pull(task_ids=["alert"], include_prior_dates=True),
        )

    # SNS outages are retried like the pipeline's own publishes.
    @task(**retry_schedule_from_env().as_task_args())
    def alert(late: dict[str, Any]) -> str:
        """Publish one late day."""
        from include.covid19_etl.watchdog import alert

        return alert(late)

    alert.expand(late=check_deadlines())


covid19_etl_watchdog()
