"""DAG integrity: it imports cleanly and cheaply, and its shape is the contract others rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from include.covid19_etl.messages import FailureNotifier
from include.covid19_etl.settings import (
    retry_schedule,
    retry_schedule_from_env,
    start_date_from_env,
)
from tests.conftest import DAG_FOLDER, REPO_ROOT

DAG_FILE = REPO_ROOT / "dags" / "covid19_etl_dag.py"
BUNDLE_PATH = (DAG_FOLDER, REPO_ROOT / "plugins")
HEAVY_MODULES = ("pandas", "great_expectations", "boto3", "botocore", "psycopg", "psycopg2")


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FOLDER))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["covid19_etl", "covid19_etl_watchdog"]
    return bag.dags["covid19_etl"]


@pytest.fixture(scope="module")
def watchdog():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAG_FOLDER)).dags["covid19_etl_watchdog"]


def test_the_watchdog_checks_each_quarter_hour_and_alerts_each_late_day_on_its_own(watchdog):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(watchdog.timetable, CronDataIntervalTimetable)
    assert watchdog.timetable.expression == "*/15 * * * *"
    # After an outage one run checks every deadline since the last successful run.
    assert watchdog.catchup is False
    assert watchdog.max_active_runs == 1  # each run starts where the last successful one ended
    assert {task.task_id: task.upstream_task_ids for task in watchdog.tasks} == {
        "check_deadlines": set(),
        "alert": {"check_deadlines"},
    }
    assert watchdog.get_task("alert").is_mapped  # a failed publish retries its own day only
    assert not any(task.depends_on_past for task in watchdog.tasks)


def test_tasks_run_in_a_line_ending_with_the_report(dag):
    assert {task.task_id: task.upstream_task_ids for task in dag.tasks} == {
        "extract": set(),
        "validate": {"extract"},
        "transform": {"validate"},
        "load": {"transform"},
        "notify": {"load"},
        "report": {"notify"},
    }


def test_clearing_any_task_of_a_day_downloads_the_sources_again(dag):
    assert [task.task_id for task in dag.tasks if task.is_setup] == ["extract"]
    assert not [task for task in dag.tasks if task.is_teardown]
    for task_id in ("validate", "transform", "load", "notify", "report"):
        subset = dag.partial_subset(task_ids=[task_id], include_downstream=True)
        assert "extract" in subset.task_ids, task_id


def test_a_failed_day_blocks_the_next_ones(dag):
    assert dag.catchup is True
    for task in dag.tasks:
        assert task.depends_on_past is True
        assert task.wait_for_downstream is (task.task_id != "notify")


def test_no_task_but_the_next_report_waits_for_a_report(dag):
    """wait_for_downstream looks at a task's direct downstream tasks in the previous run: the
    report is downstream of notify only, and notify does not wait for it."""
    waiting_for_reports = [
        task.task_id
        for task in dag.tasks
        if task.wait_for_downstream and "report" in task.downstream_task_ids
    ]
    assert waiting_for_reports == []
    assert dag.get_task("report").downstream_task_ids == set()


def test_waiting_days_never_take_the_last_run_slot(dag):
    """A waiting run holds one of max_active_runs; a cleared day must still find one free."""
    assert dag.max_active_runs == 366
    assert dag.max_consecutive_failed_dag_runs == 0  # nothing to unpause after a failure


def test_only_scheduled_runs_and_backfills(dag):
    """A manual run without a logical date would skip depends_on_past (no previous day)."""
    assert {run_type.value for run_type in dag.allowed_run_types} == {"scheduled", "backfill"}


def test_default_args(dag):
    window = retry_schedule_from_env({})
    for task in dag.tasks:
        assert task.owner == "data-engineering"
        assert task.retry_exponential_backoff == 2.0
        assert task.retry_delay == window.retry_delay
        assert task.max_retry_delay == window.max_retry_delay
        assert task.retries == (2 if task.task_id == "report" else window.retries)
        assert task.execution_timeout == timedelta(minutes=30)
        assert any(isinstance(cb, FailureNotifier) for cb in task.on_failure_callback)


def test_documentation_and_tags(dag):
    assert dag.doc_md and "covid19_etl" in dag.doc_md
    assert {"covid19", "etl"} <= set(dag.tags)


def test_runs_cover_one_day_intervals(dag):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"


def test_start_date_comes_from_the_environment(dag):
    assert dag.start_date == datetime(2020, 1, 22, tzinfo=UTC)  # set in tests/conftest.py


def test_start_date_default_and_errors():
    assert start_date_from_env({}) == datetime(2026, 11, 1, tzinfo=UTC)
    assert start_date_from_env({"COVID19_ETL_START_DATE": " 2021-03-01 "}) == datetime(
        2021, 3, 1, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="COVID19_ETL_START_DATE must be an ISO date"):
        start_date_from_env({"COVID19_ETL_START_DATE": "03/01/2021"})


def test_the_retry_window_covers_three_hours_by_default():
    schedule = retry_schedule_from_env({})
    assert schedule.retry_delay == timedelta(minutes=1)
    assert schedule.max_retry_delay == timedelta(minutes=30)
    assert schedule.retries == 10  # 1 + 2 + 4 + 8 + 16 + 30 * 5 = 181 minutes at the least


@pytest.mark.parametrize("minutes", [1.5, 60, 180, 720])
def test_the_shortest_retry_schedule_spans_the_window(minutes):
    window = timedelta(minutes=minutes)
    schedule = retry_schedule(window)
    delays = [
        min(schedule.retry_delay * 2**n, schedule.max_retry_delay) for n in range(schedule.retries)
    ]
    assert sum(delays, timedelta(0)) >= window
    assert sum(delays[:-1], timedelta(0)) < window  # not one retry more than needed


def test_a_cleared_task_retries_from_the_first_delay_again(dag, scheduler_dag):
    """Airflow's own backoff grows with try_number, which a Clear does not reset; the DAG's
    retry policy counts from the Clear. Both measured with Airflow's clear and retry code."""
    from airflow.models.taskinstance import clear_task_instances
    from airflow.utils.session import create_session

    from tests.conftest import scheduled_run

    extract = dag.get_task("extract")
    exhausted = extract.retries + 1  # every try of the window failed
    with create_session() as session:
        run = scheduled_run(scheduler_dag, datetime(2021, 3, 10, tzinfo=UTC), "failed", session)
        ti = run.get_task_instance("extract", session=session)
        ti.state, ti.try_number, ti.max_tries = "failed", exhausted, extract.retries
        clear_task_instances([ti], session)
        ti.try_number += 1  # the scheduler starts the cleared task: its first try since the Clear
        ti.end_date = datetime(2021, 3, 11, 6, tzinfo=UTC)  # and that try fails
        airflow_delay = ti.next_retry_datetime() - ti.end_date

        worker_ti = SimpleNamespace(task=extract)  # what the retry policy sees in the worker
        decision = extract.retry_policy.evaluate(
            OSError("source down"), ti.try_number, ti.max_tries, {"ti": worker_ti}
        )
        ti.retry_delay_override = decision.retry_delay.total_seconds()
        policy_delay = ti.next_retry_datetime() - ti.end_date
        max_tries = ti.max_tries
        session.rollback()

    assert max_tries == exhausted + extract.retries
    assert airflow_delay == timedelta(minutes=30)
    assert policy_delay == timedelta(minutes=1)


def test_the_retry_policy_follows_the_schedule_from_each_clear(dag):
    extract = dag.get_task("extract")
    schedule = retry_schedule_from_env({})
    ti = SimpleNamespace(task=extract)
    delays = [
        extract.retry_policy.evaluate(OSError(), try_number, max_tries, {"ti": ti}).retry_delay
        for max_tries in (10, 25)  # never cleared; cleared after its 15th try
        for try_number in range(max_tries - 9, max_tries + 1)
    ]
    first_ten = [schedule.delay(n) for n in range(1, 11)]
    assert delays == first_ten * 2
    assert [d.total_seconds() / 60 for d in first_ten] == [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]


@pytest.mark.parametrize("raw", ["0", "-5", "three hours", "nan", "inf"])
def test_a_bad_retry_window_is_refused(raw):
    with pytest.raises(ValueError, match="COVID19_ETL_RETRY_WINDOW_MINUTES must be a positive"):
        retry_schedule_from_env({"COVID19_ETL_RETRY_WINDOW_MINUTES": raw})


def parse_in_a_fresh_interpreter(prelude: str = "") -> dict:
    """Import the DAG file the way the DAG processor does, in a clean process."""
    code = f"""
import json, runpy, sys
import airflow.sdk
{prelude}
before = set(sys.modules)
runpy.run_path({str(DAG_FILE)!r})
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        timeout=120,
        # As in the dag-processor: the DAG folder (the bundle) and the plugins folder.
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, BUNDLE_PATH))},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY_MODULES]


def test_parsing_imports_boto3_and_botocore_and_no_data_library():
    """What parsing really imports: of the heavy modules, boto3 and botocore only (the Amazon
    provider's asset URI handlers, below); no pandas, Great Expectations or PostgreSQL driver."""
    assert {module.split(".")[0] for module in heavy(parse_in_a_fresh_interpreter())} == {
        "boto3",
        "botocore",
    }


def test_parsing_imports_nothing_heavy_beyond_airflows_asset_uri_handlers():
    """Declaring the postgres:// asset makes Airflow load every provider's asset URI handlers,
    and the Amazon provider's imports boto3; the DAG file itself adds nothing heavy."""
    handlers = """
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
ProvidersManagerTaskRuntime().asset_uri_handlers
"""
    assert heavy(parse_in_a_fresh_interpreter(handlers)) == []


def test_parsing_reads_no_variable_or_connection():
    prelude = """
def refuse(*args, **kwargs):
    raise RuntimeError("read at parse time")
airflow.sdk.Variable.get = refuse
airflow.sdk.BaseHook.get_connection = refuse
"""
    parse_in_a_fresh_interpreter(prelude)
