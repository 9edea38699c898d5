"""Every way an operator retries a failed day converges, with the real scheduler.

One local Airflow (``scripts/run_local.py``: scheduler, dag-processor, LocalExecutor, api-server)
catches up seven days against a local HTTP source and SNS on the moto server. The NYT source is
scripted: each day's first download is malformed until the test "fixes the upstream", which
allows exactly one good download (the failed day's new one) before the next day's download is
malformed again. So each day fails at ``validate`` in turn, and each is recovered a different way,
driven through the REST API with the bodies the UI sends:

1. clear the failed task with the dialog's defaults;
2. Clear Run;
3. pause the DAG while fixing, clear the failed task, unpause (the DAG never pauses itself, so
   unpausing matters only to an operator who paused it);
4. pause the DAG, Clear Run, unpause;
5. a backfill that reprocesses failed runs;
6. no human at all: the source is down (HTTP 503) for most of the retry window and comes back.

While a day is failed, the later days' runs exist but run nothing, and manual runs are refused.
After each recovery the failed day succeeds within minutes, the warehouse equals a clean run's,
and at the end the seven days have succeeded in date order. Debian's Chromium, through
Playwright, then looks as a person would: the grid all green, the last load's asset event with its
counts, and the dashboard naming both sources stale after seven days of the same files (the
screenshots are the README's). Each recovery path is a row of ``docs/reliability.md``, with the
time it took.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from local_stack import LocalAirflow, local_airflow, wait_for

from covid19_common.names import DAG_ID, TASKS
from tests.browser import record_errors, sign_in
from tests.conftest import (
    FAILED_AT_VALIDATE,
    REPO_ROOT,
    UI_CLEAR_RUN,
    ScriptedNyt,
    Topic,
    Warehouse,
    aws_environment,
    clean_us_daily,
    create_topic,
    served_sources,
    ui_clear_task,
)
from tests.reliability_report import record

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.e2e, pytest.mark.reliability]

DAG = "/api/v2/dags/covid19_etl"
CONSUMER = "/api/v2/dags/covid19_consumer"
CONSUMERS = str(REPO_ROOT / "tests" / "dags")
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
DAYS = 7
# Compressed for the test: 90 s instead of 3 hours; retries then wait 1 s, 1 s, 2 s ... 15 s.
RETRY_WINDOW_MINUTES = 1.5
SOURCE_DOWN_S = 60.0
# The last day's landing deadline, from the start: it is then held behind day 1 and is late.
LATE_AFTER_START = timedelta(seconds=20)
WATCHDOG = "/api/v2/dags/covid19_etl_watchdog"
# How long a recovered day may take, from the fix to success: its six tasks, a few seconds each.
RECOVERY_LIMIT_S = 240.0
RECOVERED = "day succeeds; warehouse equals a clean run"


@dataclass
class Timeline:
    airflow: LocalAirflow
    source: ScriptedNyt
    topic: Topic
    days: list[date]
    started: datetime
    deadline: datetime  # the last day's
    cases_passed: int = 0
    watchdog_run: dict = field(default_factory=dict)  # the one that alerted
    published: list[dict[str, str]] = field(default_factory=list)

    def alerts(self, kind: str) -> list[dict[str, str]]:
        """Every message published so far whose subject says ``kind`` (FAILED, LATE).

        The SQS queue hands each message out once, so they are kept here."""
        self.published += self.topic.messages()
        return [m for m in self.published if f"] {kind} " in m["Subject"]]

    def runs(self) -> dict[date, dict]:
        return self.airflow.day_runs(DAG_ID)

    def tasks(self, run: dict) -> dict[str, dict]:
        return self.airflow.task_instances(DAG_ID, run)

    def wait_for_run(self, day: date, state: str, timeout_s: float = 300) -> dict:
        return self.airflow.wait_for_run(DAG_ID, day, state, timeout_s)

    def failed_day(self, day: date) -> dict:
        """Wait for ``day`` to fail at validate; check that it blocks and alerts."""
        run = self.wait_for_run(day, "failed")
        assert {t: ti["state"] for t, ti in self.tasks(run).items()} == FAILED_AT_VALIDATE
        later = [d for d in self.days if d > day]
        runs = self.runs()
        assert all(runs[d]["state"] == "running" for d in later), "later days wait, visibly"
        assert all(ti["start_date"] is None for ti in self.tasks(runs[later[0]]).values())
        assert self.airflow.get(DAG)["is_paused"] is False
        subject = f"[covid19_etl] FAILED validate for {day.isoformat()}"
        [alert] = [m for m in self.alerts("FAILED") if m["Subject"] == subject]
        assert "expect_column_values_to_match_regex(column='cases'" in alert["Message"]
        assert "date='2021-03-05' cases='banana" in alert["Message"]
        assert "clear this task (Clear, with the dialog's defaults)" in alert["Message"]
        return run

    def recover(self, day: date, actions: list[Callable[[dict], Any]], then: str | None) -> dict:
        """Fix the upstream, run the operator's ``actions``, and wait for ``day`` to succeed."""
        run = self.failed_day(day)
        self.source.fix(then)
        fixed = time.monotonic()
        for action in actions:
            action(run)
        run = self.wait_for_run(day, "success", timeout_s=RECOVERY_LIMIT_S)
        record(
            "recovery",
            ", then ".join(action.__name__.replace("_", " ") for action in actions),
            RECOVERED,
            f"day succeeds; {self.warehouse_state(day)}",
            f"{time.monotonic() - fixed:.0f} s from the fix to success",
        )
        return run

    def warehouse_state(self, day: date) -> str:
        """Whether the warehouse holds what a clean run as of ``day`` loads, loaded in order."""
        warehouse = Warehouse(self.airflow.warehouse_uri)
        if warehouse.us_daily() != clean_us_daily(day):
            return "warehouse DIFFERS from a clean run"
        loaded_days = [as_of for as_of, *_ in warehouse.etl_runs()]
        if loaded_days != self.days[: self.days.index(day) + 1]:
            return f"days loaded out of order: {loaded_days}"
        return "warehouse equals a clean run"

    # The operator's actions, as the UI performs them.

    def check_deadlines(self, start: datetime, end: datetime, logical_date: datetime) -> dict:
        """Run the watchdog for the window [start, end); return the run.

        A watchdog run starts where the last successful run before it (by logical date) ended,
        and skips the days alerted by runs dated up to its own. The stack's scheduled watchdog
        runs, every quarter of an hour, are dated from now on; a run dated days earlier (see
        ``watchdog_date``) is checked against none of them, so it checks exactly [start, end).
        """
        run = self.airflow.call(
            "POST",
            f"{WATCHDOG}/dagRuns",
            {
                "logical_date": logical_date.isoformat(),
                "data_interval_start": start.isoformat(),
                "data_interval_end": end.isoformat(),
            },
        )
        return self.watchdog_finished(run)

    def watchdog_date(self, minutes: int) -> datetime:
        """A logical date ``minutes`` after the DAGs' start date (a run dated before it runs no
        task), before every watchdog run the stack schedules (catchup=False: from now on)."""
        return datetime.combine(self.days[0], datetime.min.time(), UTC) + timedelta(minutes=minutes)

    def watchdog_finished(self, run: dict) -> dict:
        def finished() -> dict | None:
            found = self.airflow.get(f"{WATCHDOG}/dagRuns/{run['dag_run_id']}")
            return found if found["state"] in ("success", "failed") else None

        done = wait_for("the watchdog run", finished, timeout_s=120, every_s=1)
        assert done["state"] == "success"
        return done

    def late_days(self, watchdog_run: dict) -> list[str]:
        """The late days a watchdog run found (and alerted, one ``alert`` task each)."""
        found = self.airflow.get(
            f"{WATCHDOG}/dagRuns/{watchdog_run['dag_run_id']}/taskInstances/check_deadlines/"
            "xcomEntries/return_value"
        )["value"]
        return [late["day"] for late in found]

    def pause(self, run: dict) -> None:
        self.airflow.call("PATCH", DAG, {"is_paused": True})
        assert self.airflow.get(DAG)["is_paused"] is True

    def unpause(self, run: dict) -> None:
        self.airflow.call("PATCH", DAG, {"is_paused": False})

    def clear_failed_task(self, run: dict) -> None:
        ui_clear_task(self.airflow, run, "validate")

    def clear_run(self, run: dict) -> None:
        self.airflow.call("POST", f"{DAG}/dagRuns/{run['dag_run_id']}/clear", UI_CLEAR_RUN)

    def backfill_reprocessing_failed_runs(self, run: dict) -> None:
        self.airflow.call(
            "POST",
            "/api/v2/backfills",
            {
                "dag_id": "covid19_etl",
                "from_date": run["logical_date"],
                "to_date": run["logical_date"],
                "reprocess_behavior": "failed",
                "max_active_runs": 1,
                "run_backwards": False,
                "dag_run_conf": {},
            },
        )


def landing_deadline_due_at(moment: datetime) -> str:
    """The landing deadline that makes yesterday's run due at ``moment`` (its interval ended
    at today's midnight)."""
    midnight = datetime.combine(moment.date(), datetime.min.time(), tzinfo=UTC)
    return str((moment - midnight).total_seconds() / 60)


@pytest.fixture(scope="module")
def timeline(moto_endpoint: str) -> Iterator[Timeline]:
    source = ScriptedNyt(SOURCE_DOWN_S)
    started = datetime.now(UTC)
    today = started.date()
    topic = create_topic(moto_endpoint, "covid19-etl-recovery")
    env = {
        **aws_environment(moto_endpoint),
        "COVID19_ETL_START_DATE": (today - timedelta(days=DAYS)).isoformat(),
        "COVID19_ETL_RETRY_WINDOW_MINUTES": str(RETRY_WINDOW_MINUTES),
        "COVID19_ETL_LANDING_DEADLINE_MINUTES": landing_deadline_due_at(started + LATE_AFTER_START),
        "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": topic.arn,
        # A downstream team's DAG, scheduled on the covid19.us_daily asset, in a bundle of its own.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                {"name": "consumers", "classpath": LOCAL_BUNDLE, "kwargs": {"path": CONSUMERS}},
            ]
        ),
    }
    with served_sources(source) as variables, local_airflow({**env, **variables}) as airflow:
        days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
        yield Timeline(airflow, source, topic, days, started, started + LATE_AFTER_START)


@pytest.fixture
def story(timeline: Timeline, request: pytest.FixtureRequest) -> Iterator[Timeline]:
    """The cases share one timeline, in order: after a failed case the rest cannot run."""
    if timeline.cases_passed != CASE_ORDER.index(request.node.originalname):
        pytest.skip("an earlier case of the timeline failed")
    yield timeline
    timeline.cases_passed += 1  # reached only when the case passed


def test_manual_runs_are_refused_while_a_day_is_failed(story):
    story.failed_day(story.days[0])
    before = story.runs()
    answers = []
    for body in ({"logical_date": None}, {"logical_date": f"{story.days[-1]}T12:00:00Z"}):
        try:
            story.airflow.call("POST", f"{DAG}/dagRuns", body)
            answers.append("accepted")
        except urllib.error.HTTPError as refused:
            reason = "does not allow manual runs" in refused.read().decode()
            answers.append(f"HTTP {refused.code}" + (": no manual runs" if reason else ""))
    created = story.runs().keys() - before.keys()
    record(
        "recovery",
        "trigger a manual run while a day is failed",
        "HTTP 400: no manual runs; no run created",
        "; ".join([*sorted(set(answers)), f"created {created}" if created else "no run created"]),
    )


def test_the_watchdog_reports_a_day_held_past_its_deadline(story):
    """covid19_etl_watchdog, run for a window holding the last day's deadline while that day
    waits behind day 1, names the task it is stuck in; day 1's deadline is long past."""
    last = story.days[-1]
    wait_for("the last day's deadline", lambda: datetime.now(UTC) > story.deadline, every_s=1)

    story.watchdog_run = story.check_deadlines(
        story.started, datetime.now(UTC), story.watchdog_date(minutes=1)
    )
    reported = story.late_days(story.watchdog_run)
    record(
        "recovery",
        "a day held past its landing deadline behind a failed day",
        "watchdog reports that day only",
        "watchdog reports that day only"
        if reported == [last.isoformat()]
        else f"watchdog reports {reported}",
    )
    late = story.alerts("LATE")
    assert {m["Subject"] for m in late} == {
        f"[covid19_etl] LATE {last}: not loaded yet, stuck in extract"
    }
    assert "not started: it waits for the same task of the previous day" in late[0]["Message"]
    assert "clear this task (Clear, with the dialog's defaults)" in late[0]["Message"]


def test_a_cleared_watchdog_run_alerts_no_day_twice(story):
    """Clear Run on the watchdog run that alerted: it checks again, and the day it alerted is
    known (its alert task's XCom), so no second alert goes out."""
    run, day = story.watchdog_run, story.days[-1].isoformat()
    alerted_before = [m for m in story.alerts("LATE") if day in m["Subject"]]
    story.airflow.call("POST", f"{WATCHDOG}/dagRuns/{run['dag_run_id']}/clear", UI_CLEAR_RUN)

    def checked_again() -> dict | None:
        ti = story.airflow.get(
            f"{WATCHDOG}/dagRuns/{run['dag_run_id']}/taskInstances/check_deadlines"
        )
        return ti if ti["try_number"] > 1 and ti["state"] == "success" else None

    wait_for("the cleared watchdog run to check again", checked_again, timeout_s=120, every_s=1)
    story.watchdog_finished(run)
    alerted_after = [m for m in story.alerts("LATE") if day in m["Subject"]]
    record(
        "watchdog",
        "a watchdog run cleared after it alerted",
        "checked again; no alert repeated",
        "checked again"
        + (f", found late again: {late}" if (late := story.late_days(run)) else "")
        + "; "
        + (
            "no alert repeated"
            if len(alerted_after) == len(alerted_before)
            else f"{len(alerted_after) - len(alerted_before)} more alerts for {day}"
        ),
    )


def test_clear_failed_task(story):
    story.recover(story.days[0], [story.clear_failed_task], then="malformed")


def test_clear_run(story):
    story.recover(story.days[1], [story.clear_run], then="malformed")


def test_pause_clear_failed_task_then_unpause(story):
    story.recover(
        story.days[2], [story.pause, story.clear_failed_task, story.unpause], then="malformed"
    )


def test_pause_clear_run_then_unpause(story):
    story.recover(story.days[3], [story.pause, story.clear_run, story.unpause], then="malformed")


def test_backfill_reprocessing_failed_runs(story):
    story.recover(story.days[4], [story.backfill_reprocessing_failed_runs], then="down")
    assert story.airflow.get("/api/v2/backfills?dag_id=covid19_etl")["total_entries"] == 1


def test_an_outage_within_the_retry_window_heals_without_a_human(story):
    day = story.days[5]
    run = story.wait_for_run(day, "success", timeout_s=RETRY_WINDOW_MINUTES * 60 * 1.5 + 120)
    extract = story.tasks(run)["extract"]
    record(
        "recovery",
        f"source down {SOURCE_DOWN_S:.0f} s in a {RETRY_WINDOW_MINUTES * 60:.0f} s retry window",
        RECOVERED,
        f"day succeeds; {story.warehouse_state(day)}",
        f"healed on try {extract['try_number']}, no human",
    )
    assert extract["try_number"] > 2, "the outage was retried, not waited out in one try"
    first_try = story.airflow.get(
        f"{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/extract/logs/1?full_content=true"
    )
    assert "HTTP 503" in str(first_try), "the task log says why it is retrying"
    assert not [m for m in story.alerts("FAILED") if day.isoformat() in m["Subject"]]


def test_every_day_succeeds_in_date_order(story):
    story.wait_for_run(story.days[-1], "success")
    runs = story.runs()
    assert [runs[day]["state"] for day in story.days] == ["success"] * DAYS
    loads = [story.tasks(runs[day])["load"] for day in story.days]
    assert all(a["end_date"] <= b["start_date"] for a, b in itertools.pairwise(loads))
    record(
        "recovery",
        f"all {DAYS} days after the recoveries",
        "every day succeeds, loaded in date order; warehouse equals a clean run",
        "every day succeeds, loaded in date order; " + story.warehouse_state(story.days[-1]),
    )


def test_the_watchdog_is_silent_for_a_day_that_has_landed(story):
    """The same window again, dated before the run that alerted (so its alert does not count):
    the day has landed now, and nothing is late."""
    earlier = story.watchdog_date(minutes=0)
    run = story.check_deadlines(story.started, datetime.now(UTC), earlier)
    assert story.late_days(run) == []


def test_a_consumer_dag_runs_on_every_load_and_reads_its_counts(story):
    """tests/dags/covid19_consumer_dag.py, scheduled on the asset, saw each committed load."""

    def seen() -> list[dict] | None:
        runs = story.airflow.get(f"{CONSUMER}/dagRuns?limit=100")["dag_runs"]
        done = [run for run in runs if run["state"] == "success"]
        changes = [
            change
            for run in done
            for change in story.airflow.get(
                f"{CONSUMER}/dagRuns/{run['dag_run_id']}/taskInstances/changes/xcomEntries/"
                "return_value"
            )["value"]
        ]
        return changes if len(changes) == DAYS else None

    changes = wait_for("the consumer to see every load", seen, timeout_s=120, every_s=2)
    history = story.airflow.warehouse(
        "SELECT as_of, inserted, updated, unchanged FROM covid19.etl_runs ORDER BY as_of"
    )
    assert sorted((c["as_of"], c["inserted"], c["updated"], c["unchanged"]) for c in changes) == [
        (as_of.isoformat(), *counts) for as_of, *counts in history
    ]
    assert history[0][1:] == (420, 0, 0)


@pytest.fixture
def tab(story: Timeline, browser: Any) -> Iterator[Any]:
    """A browser tab signed into the timeline's Airflow; the case fails on any page error."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = record_errors(page, console=False)
    sign_in(page, story.airflow)
    yield page
    page.close()
    assert errors == []


def test_browser_shows_every_day_green_in_the_grid(story, tab, screenshots):
    """Headless Chromium opens the last day's run beside the grid."""
    last_run = story.runs()[story.days[-1]]["dag_run_id"]
    tab.goto(f"{story.airflow.base_url}/dags/covid19_etl/runs/{last_run}")
    rows = {task: tab.get_by_role("row").filter(has_text=task).first for task in TASKS}
    try:
        for row in rows.values():
            row.wait_for()
    finally:  # what the browser showed, to see why when it fails
        tab.screenshot(path=str(screenshots / "airflow-grid.png"))
    states = {task: row.inner_text() for task, row in rows.items()}
    assert all("Success" in text for text in states.values()), states
    assert tab.locator(f"[id^='grid-{last_run}-']").count() == len(TASKS)


def test_browser_shows_the_asset_event_of_the_last_load(story, tab, screenshots):
    """The load task's Asset Events tab: covid19.us_daily with the counts consumers read."""
    last = story.days[-1]
    last_run = story.runs()[last]["dag_run_id"]
    tab.goto(f"{story.airflow.base_url}/dags/covid19_etl/runs/{last_run}/tasks/load/asset_events")
    tab.get_by_text("covid19.us_daily").first.wait_for()
    tab.locator(".monaco-editor .codicon-folding-collapsed").first.click()  # unfold the extra
    extra = tab.locator(".monaco-editor").first
    try:
        extra.get_by_text('"unchanged"').wait_for()
    finally:
        tab.screenshot(path=str(screenshots / "airflow-asset-event.png"))
    [(inserted, updated, unchanged)] = story.airflow.warehouse(
        f"SELECT inserted, updated, unchanged FROM covid19.etl_runs WHERE as_of = '{last}'"
    )
    shown = extra.inner_text().replace("\xa0", " ")  # the editor indents with no-break spaces
    assert json.loads(shown) == {
        "as_of": last.isoformat(),
        "inserted": inserted,
        "updated": updated,
        "unchanged": unchanged,
        "min_date": "2020-01-22",
        "max_date": "2021-03-16",
    }


def test_browser_dashboard_names_the_sources_that_stopped_changing(story, tab, screenshots):
    """Seven days of the same files: the dashboard says which source is stale, since when."""
    tab.goto(f"{story.airflow.base_url}/covid19/")
    note = tab.locator("#stale-sources")
    try:
        note.wait_for()
    finally:
        tab.screenshot(path=str(screenshots / "dashboard-stale.png"))
    text = note.inner_text()
    assert text.startswith("Stale sources, unchanged for 3 days or more"), text
    first = story.days[0].isoformat()
    assert f"NYT us.csv: newest date 2021-06-19, the same file since {first}" in text, text
    assert "JHU time-series-19-covid-combined.csv: newest date 2021-03-16" in text, text


CASE_ORDER = [
    "test_manual_runs_are_refused_while_a_day_is_failed",
    "test_the_watchdog_reports_a_day_held_past_its_deadline",
    "test_a_cleared_watchdog_run_alerts_no_day_twice",
    "test_clear_failed_task",
    "test_clear_run",
    "test_pause_clear_failed_task_then_unpause",
    "test_pause_clear_run_then_unpause",
    "test_backfill_reprocessing_failed_runs",
    "test_an_outage_within_the_retry_window_heals_without_a_human",
    "test_every_day_succeeds_in_date_order",
    "test_the_watchdog_is_silent_for_a_day_that_has_landed",
    "test_a_consumer_dag_runs_on_every_load_and_reads_its_counts",
    "test_browser_shows_every_day_green_in_the_grid",
    "test_browser_shows_the_asset_event_of_the_last_load",
    "test_browser_dashboard_names_the_sources_that_stopped_changing",
]
