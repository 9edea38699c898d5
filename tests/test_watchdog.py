"""The landing deadline: which days a watchdog run checks (its arithmetic), and the watchdog
DAG's own tasks (``dag.test()``) around a scheduler outage and SNS failures, written to
``docs/reliability.md``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from include.covid19_etl.watchdog import days_due, deadline_of
from tests.conftest import DAG_FOLDER
from tests.reliability_report import record

SIX_HOURS = timedelta(hours=6)
FIRST = date(2026, 11, 1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_a_days_deadline_is_counted_from_the_end_of_its_interval():
    assert deadline_of(date(2026, 11, 29), SIX_HOURS) == at(30, 6)


@pytest.mark.parametrize(
    ("start", "end", "due"),
    [
        (at(30, 6), at(30, 6, 15), [date(2026, 11, 29)]),  # the window holding the deadline
        (at(30, 5, 45), at(30, 6), []),  # the window before: not yet due
        (at(30, 6, 15), at(30, 6, 30), []),  # the window after: checked once only
        (at(30, 0), at(30, 0, 15), []),
    ],
)
def test_each_day_is_checked_by_the_one_window_holding_its_deadline(start, end, due):
    assert days_due(start, end, SIX_HOURS, FIRST) == due


def test_a_long_window_checks_every_day_due_in_it_but_none_before_the_start_date():
    assert days_due(at(1, 0), at(4, 6, 1), SIX_HOURS, FIRST) == [
        date(2026, 11, 1),
        date(2026, 11, 2),
        date(2026, 11, 3),
    ]
    assert days_due(at(1, 0), at(4, 6, 1), SIX_HOURS, date(2026, 11, 3)) == [date(2026, 11, 3)]


def test_a_deadline_longer_than_a_day_still_falls_in_one_window():
    assert days_due(at(3, 6), at(3, 6, 15), timedelta(hours=30), FIRST) == [date(2026, 11, 1)]


# --- The watchdog DAG's own tasks (dag.test), written to docs/reliability.md -------------------

MARCH = date(2021, 3, 1)


def march(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2021, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def watchdog(scheduler_dag, sns_topic, monkeypatch):
    """The watchdog DAG with a 1-hour landing deadline and a retry window of 6 s (retries in
    fractions of a second), no watchdog runs yet; its alerts go to ``sns_topic``."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    monkeypatch.setenv("COVID19_ETL_LANDING_DEADLINE_MINUTES", "60")
    monkeypatch.setenv("COVID19_ETL_RETRY_WINDOW_MINUTES", "0.1")
    monkeypatch.setenv("COVID19_ETL_START_DATE", MARCH.isoformat())

    def no_runs() -> None:
        with create_session() as session:
            session.execute(delete(DagRun).where(DagRun.dag_id == "covid19_etl_watchdog"))

    no_runs()
    yield DagBag(dag_folder=str(DAG_FOLDER)).dags["covid19_etl_watchdog"]
    no_runs()


class FlakySns:
    """``publish`` for the alert tasks: the LATE alert for each day in ``failing`` fails that many
    times more before it goes through; every message is published for real (the moto server)."""

    def __init__(self, failing: dict[str, int]) -> None:
        from include.covid19_etl import messages

        self.real = messages.publish
        self.failing = failing

    def __call__(self, subject: str, message: str) -> str | None:
        for day, left in self.failing.items():
            if f"LATE {day}" in subject and left:
                self.failing[day] -= 1
                raise ConnectionError(f"SNS unreachable for {day}")
        return self.real(subject, message)


def watchdog_run(dag, window_end: datetime) -> dict[str, Any]:
    """Run the watchdog for the 15-minute window ending at ``window_end``; return its state and,
    for each day alerted, the try on which its alert went out."""
    run = dag.test(logical_date=window_end)
    alerts = {}
    for ti in run.get_task_instances():
        if ti.task_id == "alert" and ti.state == "success":
            alerts[ti.xcom_pull(task_ids="alert", map_indexes=ti.map_index)] = ti.try_number
    return {"state": run.state, "alerted": alerts}


@pytest.mark.integration
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.reliability
def test_every_deadline_is_checked_once_around_outages_and_failed_alerts(
    watchdog, scheduler_dag, sns_topic, monkeypatch
):
    """Days 1-6 of March, deadlines at 01:00 the day after. Day 3 landed; no other day has a
    run. The watchdog runs for the window holding day 1's deadline; then not at all for three
    days (the scheduler down); then twice more, SNS failing for some alerts."""
    from airflow.utils.session import create_session

    from tests.conftest import scheduled_run

    with create_session() as session:
        landed = scheduled_run(scheduler_dag, march(3), "success", session)
        landed.get_task_instance("load", session=session).state = "success"
    flaky = FlakySns({"2021-03-02": 1, "2021-03-05": 100})
    monkeypatch.setattr("include.covid19_etl.messages.publish", flaky)

    runs = {
        "before the outage": watchdog_run(watchdog, march(2, 1, 15)),
        "first after the outage": watchdog_run(watchdog, march(5, 1, 15)),
        "day 5's alert failing": watchdog_run(watchdog, march(7, 1, 15)),
    }
    flaky.failing["2021-03-05"] = 0  # SNS is back
    runs["the next run"] = watchdog_run(watchdog, march(7, 1, 30))

    published = Counter(
        m["Subject"].split()[2].rstrip(":")
        for m in sns_topic.messages()
        if "] LATE " in m["Subject"]
    )
    outage = runs["first after the outage"]
    failing, after = runs["day 5's alert failing"], runs["the next run"]
    record(
        "watchdog",
        "deadlines that fell while no watchdog ran (the scheduler down)",
        "the next run alerts each late day, not the landed one",
        f"the next run alerts {sorted(outage['alerted'])}"
        if sorted(outage["alerted"]) != ["2021-03-02", "2021-03-04"]
        else "the next run alerts each late day, not the landed one",
    )
    record(
        "watchdog",
        "SNS fails once for one of two alerts",
        "the other goes out on its first try, the failed one on its retry",
        "the other goes out on its first try, the failed one on its retry"
        if outage["alerted"] == {"2021-03-02": 2, "2021-03-04": 1}
        else f"tries: {outage['alerted']}",
    )
    record(
        "watchdog",
        "an alert failing on every try, then SNS back",
        "run failed; the next run alerts that day only",
        f"run {failing['state']}; the next run alerts "
        + ("that day only" if after["alerted"] == {"2021-03-05": 1} else str(after["alerted"])),
    )
    record(
        "watchdog",
        "every deadline of 1-6 March, the landed day's included",
        "each late day alerted once, the landed day never",
        "each late day alerted once, the landed day never"
        if published
        == Counter(["2021-03-01", "2021-03-02", "2021-03-04", "2021-03-05", "2021-03-06"])
        else f"alerts published: {dict(published)}",
    )
