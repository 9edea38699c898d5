"""
# covid19_etl: US COVID-19 cases, deaths and recoveries, one row per day

Every day, for the data interval **[D, D+1)**:

1. **extract**: download NYT `us.csv` and the JHU combined time series (Variables
   `covid19_nyt_url`, `covid19_jhu_url`); archive the raw bytes under `covid19_raw_root`.
   It is the day's setup task, so clearing any task of the day downloads the sources again.
2. **validate**: Great Expectations gates both files; malformed input fails here, naming the
   source, the check and sample rows, before anything touches the warehouse. Passed or failed,
   every check's result is kept under `quality/` beside `covid19_raw_root` and published as
   GX Data Docs (`reports/data_docs/`); the **COVID-19 US** page shows the last days.
3. **transform**: pandas: US rows of JHU, inner join on date, recoveries that JHU stopped
   reporting become NULL, rows dated on or before D.
4. **load**: one transaction on `covid19_warehouse`: COPY, then upsert only the rows that changed.
   Each committed load publishes an event of the asset `covid19.us_daily` (the counts in its
   extra), so other DAGs can run on new data.
5. **notify**: SNS (Variable `covid19_sns_topic_arn`) with the inserted and updated counts.
6. **report** (after notify): a self-contained HTML dashboard under `reports/` beside
   `covid19_raw_root`: `<as_of>/us_daily.html`, and `latest.html` for the newest day. The same
   page is in the UI under **COVID-19 US**. A report never holds up loading: only the next
   day's report waits for it, and one that still fails on its last try (an error, a timeout)
   sends an alert and ends *skipped*.

**A failed day blocks the following days.** Each task waits for the same task of the previous
day, and for that task's downstream tasks, to succeed (`depends_on_past` + `wait_for_downstream`;
`notify` does not wait for its report): the later days' runs start but run nothing until the
failed day succeeds. Source, warehouse and SNS outages are retried with exponential backoff
(1, 2, 4 ... 30 minutes, counted from the task's last Clear) for
`COVID19_ETL_RETRY_WINDOW_MINUTES` (3 hours); malformed input and permanent HTTP errors fail at
once. Every failure publishes an alert naming the task, the error and the next step.

**To retry a failed day:** fix the upstream or wait for it, then **Clear** the failed task (the
dialog's defaults) or the whole run. The day downloads its sources again and runs; the days
after it follow in order. Nothing needs pausing or unpausing.

Manual runs are refused (a run without a logical date would skip the wait for earlier days);
backfills are allowed and reprocess days in order.

Start date: environment variable `COVID19_ETL_START_DATE` (ISO date). The first run loads the
whole history up to its day.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, setup, task

from covid19_common.assets import us_daily_asset
from covid19_common.names import DAG_ID
from include.covid19_etl.messages import FailureNotifier
from include.covid19_etl.run_facts import RunFacts
from include.covid19_etl.settings import (
    retry_schedule_from_env,
    start_date_from_env,
)

# The steps import pandas, Great Expectations and boto3 inside the task functions, so parsing
# this file stays cheap (it is re-parsed every 30 s on MWAA).

MAX_ACTIVE_RUNS = 366
REPORT_RETRIES = 2
# Every committed load publishes one event of this asset (a failed or rolled-back load none), a
# no-op reload included, with the counts in its extra. Declaring a postgres:// Asset makes Airflow
# load every provider's URI handlers while parsing (about 0.2 s, docs/benchmarks.md; boto3 comes
# with the Amazon one): the price of an asset other DAGs can find by name and the UI lists.
US_DAILY = us_daily_asset()


@dag(
    dag_id=DAG_ID,
    # A data-interval timetable: the run for D covers [D, D+1). "@daily" in Airflow 3 is a
    # trigger timetable whose interval is empty.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=start_date_from_env(),
    catchup=True,
    # Days are ordered by depends_on_past, not by this limit. A later day whose run waits for a
    # failed one still counts as active, and a cleared day needs a free slot to start again: with
    # max_active_runs=1 the waiting run takes the only one and the cleared day stays queued for
    # ever (apache/airflow#18304, #29524). A year of slots means a failed day can wait that long
    # (or a catch-up be that long) and still be cleared; waiting runs cost only scheduler checks.
    max_active_runs=MAX_ACTIVE_RUNS,
    # A manual run without a logical date skips depends_on_past (it has no previous day), so it
    # would load past a failed day; operator-triggered runs likewise. Clearing and backfills are
    # the ways to run a day again.
    allowed_run_types=["scheduled", "backfill"],
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
        # Transient faults (source 5xx or timeouts, warehouse or SNS unreachable) are retried with
        # exponential backoff for COVID19_ETL_RETRY_WINDOW_MINUTES, counted from the last Clear
        # (a retry policy); malformed input, 4xx and size caps raise AirflowFailException and
        # fail at once.
        **retry_schedule_from_env().as_task_args(),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": FailureNotifier(),
    },
)
def covid19_etl() -> None:
    """extract >> validate >> transform >> load >> notify >> report."""

    # A setup task (with no teardown): clearing any task of the day clears extract too, so a
    # cleared day never re-reads the archived file that failed; it downloads the sources again.
    @setup
    def extract(**context: Any) -> dict[str, dict[str, Any]]:
        """Download both sources and archive the raw bytes."""
        from include.covid19_etl.extract import run

        return run(day=RunFacts.from_context(context).as_of)

    @task
    def validate(raw: dict[str, dict[str, Any]], **context: Any) -> dict[str, dict[str, Any]]:
        """Gate both files with Great Expectations; record what the checks found."""
        from include.covid19_etl.settings import load_settings
        from include.covid19_etl.validate import run

        return run(raw, RunFacts.from_context(context), load_settings().raw_root)

    @task
    def transform(validated: dict[str, dict[str, Any]], **context: Any) -> dict[str, Any]:
        """Join the sources as of the run's day and stage the rows."""
        from include.covid19_etl.settings import load_settings
        from include.covid19_etl.transform import run

        return run(validated, RunFacts.from_context(context).as_of, load_settings().raw_root)

    @task(outlets=[US_DAILY])
    def load(staged: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Upsert the staged rows in one transaction; announce it as a covid19.us_daily event."""
        from include.covid19_etl.load import asset_event_extra, run

        facts = RunFacts.from_context(context)
        loaded = run(staged, facts)
        context["outlet_events"][US_DAILY].extra = asset_event_extra(loaded, facts.as_of)
        return loaded

    # The next day's load waits for this day's notify (wait_for_downstream), and notify does not
    # wait for its own downstream, the report: so no state of a report can hold up loading.
    @task(wait_for_downstream=False)
    def notify(loaded: dict[str, Any], **context: Any) -> str | None:
        """Publish the counts and the day's data quality to SNS."""
        from include.covid19_etl.notify import run

        facts = RunFacts.from_context(context)
        validated = context["ti"].xcom_pull(task_ids="validate")
        return run(loaded, facts.as_of, facts.run_id, validated)

    # The report retries briefly whatever the window: derived data, replaced by the next day's.
    @task(retries=REPORT_RETRIES)
    def report(**context: Any) -> dict[str, Any]:
        """Write the static HTML report beside the raw archive; a last failed try skips."""
        from include.covid19_etl.report import run

        facts, ti = RunFacts.from_context(context), context["ti"]
        return run(facts.as_of, run_id=facts.run_id, final_try=ti.try_number > ti.max_tries)

    notify(load(transform(validate(extract())))) >> report()


covid19_etl()
