"""A broken report never holds up loading, with the real scheduler.

One local Airflow (``scripts/run_local.py``, as in ``test_recovery.py``) catches up four days of
the sample files. Before it starts, the reports folder is broken for two of them:

* day 1's report folder is a file, so writing the report fails on every try;
* day 2's page is a named pipe, so opening it for writing waits for ever: the report hangs.

The next day's ``load`` waits for this day's ``notify`` (``wait_for_downstream``), and ``notify``
does not wait for its report, so no state of a report may hold up loading; only the next day's
report waits for it (``depends_on_past``). The cases check what the scheduler does: the days
load while day 1's report ends skipped with an alert and day 2's hangs; day 2's report marked
failed (the state any uncaught failure leaves: a killed worker, an OOM) holds only the later
reports; cleared after the fix, every report is written and every run succeeds. Each case is a
row of ``docs/reliability.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from local_stack import LocalAirflow, local_airflow, wait_for

from covid19_common.names import DAG_ID
from tests.conftest import Topic, aws_environment, create_topic, ui_clear_task
from tests.reliability_report import record

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.e2e, pytest.mark.reliability]

DAYS = 4
SECTION = "faults: report (real scheduler)"
DAG = f"/api/v2/dags/{DAG_ID}"


@dataclass
class Stack:
    airflow: LocalAirflow
    topic: Topic
    reports: Path
    days: list[date]

    def states(self, day: date) -> dict[str, str | None]:
        """The day's task states; none before the scheduler has created its run."""
        run = self.airflow.day_runs(DAG_ID).get(day)
        if run is None:
            return {}
        return {task: ti["state"] for task, ti in self.airflow.task_instances(DAG_ID, run).items()}

    def loaded(self, day: date) -> bool:
        """Loaded and announced: the day's ``load`` and ``notify`` succeeded."""
        states = self.states(day)
        return states.get("load") == states.get("notify") == "success"

    def task_path(self, day: date, task: str) -> str:
        run = self.airflow.day_runs(DAG_ID)[day]
        return f"{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/{task}"

    def report_alerts(self, day: date) -> list[dict[str, str]]:
        return [
            m
            for m in self.topic.messages()
            if m["Subject"] == f"[{DAG_ID}] REPORT NOT WRITTEN for {day.isoformat()}"
        ]


@pytest.fixture(scope="module")
def stack(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    lake = tmp_path_factory.mktemp("lake")
    reports = lake / "reports"
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
    reports.mkdir()
    (reports / days[0].isoformat()).write_text("a file where the day's folder should be")
    (reports / days[1].isoformat()).mkdir()
    os.mkfifo(reports / days[1].isoformat() / "us_daily.html")
    topic = create_topic(moto_endpoint, "covid19-etl-reports")
    env = {
        **aws_environment(moto_endpoint),
        "COVID19_ETL_START_DATE": days[0].isoformat(),
        # Retries of a second or so: the report's two retries come quickly.
        "COVID19_ETL_RETRY_WINDOW_MINUTES": "1.5",
        "AIRFLOW_VAR_COVID19_RAW_ROOT": f"file://{lake / 'raw'}",
        "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": topic.arn,
    }
    with local_airflow(env, "--sources", "sample") as airflow:
        yield Stack(airflow, topic, reports, days)


def test_a_report_failing_on_every_try_ends_skipped_and_the_next_day_loads(stack):
    first, second = stack.days[:2]
    wait_for("day 2 to load", lambda: stack.loaded(second), timeout_s=600, every_s=2)
    wait_for(
        "day 1's report to finish",
        lambda: stack.states(first)["report"] in ("skipped", "failed", "success"),
        timeout_s=120,
        every_s=1,
    )
    report = stack.airflow.get(stack.task_path(first, "report"))
    alerts = stack.report_alerts(first)
    record(
        SECTION,
        "the report fails on every try (its folder is a file)",
        "skipped after 3 tries, with an alert; the next day loaded",
        f"{report['state']} after {report['try_number']} tries, "
        + ("with an alert" if alerts else "WITHOUT an alert")
        + "; the next day loaded",
    )


def test_a_hanging_report_holds_up_no_load(stack):
    second = stack.days[1]
    later = stack.days[2:]
    wait_for(
        "the later days to load", lambda: all(map(stack.loaded, later)), timeout_s=600, every_s=2
    )
    hanging = stack.states(second)["report"]
    record(
        SECTION,
        "the report hangs (its page never opens)",
        "still running; every later day loaded and notified",
        f"{'still running' if hanging == 'running' else hanging}; "
        "every later day loaded and notified",
    )


def test_a_report_that_ends_failed_holds_only_the_later_reports(stack):
    """Marked failed while it hangs: what a worker killed under it leaves."""
    second, third = stack.days[1], stack.days[2]
    stack.airflow.call("PATCH", stack.task_path(second, "report"), {"new_state": "failed"})
    wait_for(
        "day 2's run to fail",
        lambda: stack.airflow.day_runs(DAG_ID)[second]["state"] == "failed",
        timeout_s=120,
        every_s=1,
    )
    waiting = [day for day in stack.days[2:] if stack.states(day)["report"] is None]
    loaded = all(map(stack.loaded, stack.days[2:]))
    record(
        SECTION,
        "the hanging report marked failed",
        "day 2's run failed; later days loaded and notified; their reports wait",
        f"day 2's run failed; later days {'loaded and notified' if loaded else 'NOT loaded'}; "
        + ("their reports wait" if waiting == stack.days[2:] else f"waiting reports: {waiting}"),
    )
    assert stack.states(third)["report"] is None


def test_clearing_the_failed_report_after_the_fix_writes_every_report(stack):
    second = stack.days[1]
    (stack.reports / second.isoformat() / "us_daily.html").unlink()  # the fix
    run = stack.airflow.day_runs(DAG_ID)[second]
    ui_clear_task(stack.airflow, run, "report")
    for day in stack.days[1:]:
        stack.airflow.wait_for_run(DAG_ID, day, "success", timeout_s=300)
    written = [
        day
        for day in stack.days[1:]
        if (stack.reports / day.isoformat() / "us_daily.html").is_file()
    ]
    record(
        SECTION,
        "the failed report cleared after the fix",
        "every run success; every later report written",
        "every run success; "
        + (
            "every later report written"
            if written == stack.days[1:]
            else f"reports written for {written}"
        ),
    )
