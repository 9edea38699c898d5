"""
# covid19_etl: US COVID-19 cases, deaths and recoveries, one row per day

Every day, for the data interval **[D, D+1)**:

1. **extract**: download NYT `us.csv` and the JHU combined time series (Variables
   `covid19_nyt_url`, `covid19_jhu_url`); archive the raw bytes under `covid19_raw_root`.
2. **validate**: Great Expectations gates both files; malformed input fails here, naming the
   source, the check and sample rows, before anything touches the warehouse.
3. **transform**: pandas: US rows of JHU, inner join on date, recoveries that JHU stopped
   reporting become NULL, rows dated on or before D.
4. **load**: one transaction on `covid19_warehouse`: COPY, then upsert only the rows that changed.
5. **notify**: SNS (Variable `covid19_sns_topic_arn`) with the inserted and updated counts.
6. **report** (beside notify): a self-contained HTML dashboard under `reports/` beside
   `covid19_raw_root`: `<as_of>/us_daily.html`, and `latest.html` for the newest day. A report
   that still fails on its last try sends an alert and ends *skipped*, so it never blocks the
   following days. The same page is in the UI under **COVID-19 US**.

**A failed day blocks the following days.** Runs go one at a time, each task waits for the same
task of the previous day (`depends_on_past` + `wait_for_downstream`), and a failed run pauses
the DAG. Every failure publishes an alert naming the task and the error. To retry: fix or wait
for the upstream, **Clear** the failed run, then **unpause** the DAG; the failed day runs again
and the following days catch up in order. Re-running an old day reproduces it and changes
nothing else.

Start date: environment variable `COVID19_ETL_START_DATE` (ISO date). The first run loads the
whole history up to its day.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task

from covid19_etl.notify import FailureNotifier
from covid19_etl.settings import DAG_ID, start_date_from_env

# The steps import pandas, Great Expectations and boto3 inside the task functions, so parsing
# this file stays cheap (it is re-parsed every 30 s on MWAA).


def _run_facts(context: dict[str, Any]) -> dict[str, Any]:
    """What ``covid19.etl_runs`` records about this run."""
    return {
        "run_id": context["run_id"],
        "logical_date": context.get("logical_date"),
        "data_interval_start": context["data_interval_start"],
        "data_interval_end": context["data_interval_end"],
        "as_of": context["data_interval_start"].date(),
        "try_number": context["ti"].try_number,
    }


@dag(
    dag_id=DAG_ID,
    # A data-interval timetable: the run for D covers [D, D+1). "@daily" in Airflow 3 is a
    # trigger timetable whose interval is empty.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=start_date_from_env(),
    catchup=True,
    max_active_runs=1,
    # A failed day pauses the DAG, so no later run starts (and then waits on depends_on_past)
    # while the operator fixes it. Without the pause, the next run would hold the only active
    # slot while blocked, and the cleared failed run could never start again: Airflow's
    # max_active_runs + depends_on_past deadlock (apache/airflow#18304, #29524).
    max_consecutive_failed_dag_runs=1,
    # A fresh deployment starts loading at once (MWAA pauses new DAGs by default).
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=["covid19", "etl", "sns", "postgres"],
    default_args={
        "owner": "data-engineering",
        # Retry-before-advancing: a day's task runs only after the same task of the previous
        # day succeeded, and its downstream tasks too.
        "depends_on_past": True,
        "wait_for_downstream": True,
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": FailureNotifier(),
    },
)
def covid19_etl() -> None:
    """extract >> validate >> transform >> load >> [notify, report]."""

    @task
    def extract(**context: Any) -> dict[str, dict[str, Any]]:
        """Download both sources and archive the raw bytes."""
        from covid19_etl.extract import run

        return run(day=context["data_interval_start"].date())

    @task
    def validate(raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Gate both files with Great Expectations."""
        from covid19_etl.validate import run

        return run(raw)

    @task
    def transform(validated: dict[str, dict[str, Any]], **context: Any) -> dict[str, Any]:
        """Join the sources as of the run's day and stage the rows."""
        from covid19_etl.settings import load_settings
        from covid19_etl.transform import run

        return run(validated, context["data_interval_start"].date(), load_settings().raw_root)

    @task
    def load(staged: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Upsert the staged rows in one transaction."""
        from covid19_etl.load import run

        return run(staged, _run_facts(context))

    @task
    def notify(loaded: dict[str, Any], **context: Any) -> str | None:
        """Publish the counts to SNS."""
        from covid19_etl.notify import run

        return run(loaded, context["data_interval_start"].date().isoformat(), context["run_id"])

    @task
    def report(loaded: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Write the static HTML report beside the raw archive; a last failed try skips."""
        from covid19_etl.report import run
        from covid19_etl.settings import load_settings

        ti = context["ti"]
        return run(
            loaded,
            context["data_interval_start"].date(),
            load_settings().raw_root,
            run_id=context["run_id"],
            final_try=ti.try_number > ti.max_tries,
        )

    loaded = load(transform(validate(extract())))
    notify(loaded)
    report(loaded)


covid19_etl()
