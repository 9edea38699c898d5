"""A failed and a recovered day, as a person sees them in the Airflow UI: no task log needed.

A local Airflow (``scripts/run_local.py``) catches up two days against a local HTTP source whose
NYT file has a count ``banana28937976`` until the test fixes it (``ScriptedNyt``). The first day
fails at ``validate``; its alert links what the checks found. In Debian's Chromium, the COVID-19
US page's data-quality view shows the day red with the failure summary and the next step, and
its link opens GX's Data Docs page of the failed suite through the plugin. The test then fixes
the source and clears the failed task, as the alert says; both days succeed, and the view shows
the recovered day green with its failed first try beside it. Screenshots (``SCREENSHOTS``,
``make docs``): ``dashboard-quality-failed.png`` and ``dashboard-quality.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from local_stack import LocalAirflow, local_airflow, wait_for

from tests.browser import VIEWPORT, record_errors, sign_in
from tests.conftest import (
    FAILED_AT_VALIDATE,
    ScriptedNyt,
    Topic,
    aws_environment,
    create_topic,
    served_sources,
    ui_clear_task,
)

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.e2e]

DAG = "/api/v2/dags/covid19_etl"
FRAME = "iframe[title='COVID-19 US']"


@dataclass
class Story:
    airflow: LocalAirflow
    nyt: ScriptedNyt
    topic: Topic
    days: list[date]

    def run(self, day: date, state: str) -> dict:
        def reached() -> dict | None:
            runs = self.airflow.get(f"{DAG}/dagRuns?order_by=logical_date")["dag_runs"]
            found = [r for r in runs if r["data_interval_start"].startswith(day.isoformat())]
            return found[0] if found and found[0]["state"] == state else None

        return wait_for(f"the run for {day} to be {state}", reached, timeout_s=420, every_s=2)


@pytest.fixture(scope="module")
def story(moto_endpoint: str) -> Iterator[Story]:
    nyt = ScriptedNyt()  # malformed until fixed
    today = datetime.now(UTC).date()
    topic = create_topic(moto_endpoint, "covid19-etl-quality")
    env = {
        **aws_environment(moto_endpoint),
        "COVID19_ETL_START_DATE": (today - timedelta(days=2)).isoformat(),
        "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": topic.arn,
    }
    with served_sources(nyt) as variables, local_airflow({**env, **variables}) as airflow:
        yield Story(airflow, nyt, topic, [today - timedelta(days=n) for n in (2, 1)])


def quality_view(browser: Any, story: Story) -> tuple[Any, Any, list[str]]:
    """The COVID-19 US page in the Airflow UI, signed in: (tab, its frame, errors so far)."""
    tab = browser.new_page(viewport=VIEWPORT)
    sign_in(tab, story.airflow)
    errors = record_errors(tab)
    tab.get_by_role("link", name="COVID-19 US").click()
    tab.wait_for_url("**/plugin/covid19-us")
    frame = tab.frame_locator(FRAME)
    frame.locator("#quality").wait_for()
    frame.locator("#quality").scroll_into_view_if_needed()
    return tab, frame, errors


def test_a_failed_day_is_red_with_its_summary_next_step_and_data_docs(
    story: Story, browser: Any, screenshots: Path
) -> None:
    failed_day = story.days[0].isoformat()
    run = story.run(story.days[0], "failed")
    found = story.airflow.get(f"{DAG}/dagRuns/{run['dag_run_id']}/taskInstances")
    assert {ti["task_id"]: ti["state"] for ti in found["task_instances"]} == FAILED_AT_VALIDATE
    [alert] = [m for m in story.topic.messages() if "FAILED validate" in m["Subject"]]
    assert "What the checks found:" in alert["Message"]
    assert (
        f"{story.airflow.base_url}/covid19/data-docs/validations/nyt/{failed_day}/"
        in (alert["Message"])
    )

    tab, frame, errors = quality_view(browser, story)
    try:
        cell = frame.locator(f"tr[data-day='{failed_day}'] td[data-source='nyt']")
        assert cell.get_attribute("data-success") == "False"
        assert "✗ failed" in cell.inner_text()
        failure = frame.locator(f".failure[data-day='{failed_day}'][data-source='nyt']")
        assert "expect_column_values_to_match_regex(column='cases'" in failure.inner_text()
        assert "cases='banana" in failure.inner_text()
        assert "clear this task (Clear, with the dialog's defaults)" in failure.inner_text()
        assert (
            frame.locator(f"tr[data-day='{failed_day}'] td[data-source='jhu']").get_attribute(
                "data-success"
            )
            == "True"
        )
    finally:
        tab.screenshot(path=str(screenshots / "dashboard-quality-failed.png"))

    # The link opens GX's page of the failed suite in the same frame.
    failure.get_by_role("link", name="the failed checks in GX Data Docs").click()
    frame.get_by_text("1 unexpected values found").first.wait_for()
    assert "banana" in frame.locator("table", has_text="Unexpected Value").first.inner_text()
    tab.close()
    assert errors == []


def test_the_recovered_day_shows_both_tries_without_a_task_log(
    story: Story, browser: Any, screenshots: Path
) -> None:
    first, second = (day.isoformat() for day in story.days)
    run = story.run(story.days[0], "failed")
    story.nyt.fix(then=None)
    ui_clear_task(story.airflow, run, "validate")
    story.run(story.days[0], "success")
    story.run(story.days[1], "success")
    successes = [m for m in story.topic.messages() if "rows updated" in m["Subject"]]
    assert len(successes) == 2
    assert all(
        "checks passed; closest margin: JHU largest jump 2.486 of 3" in m["Message"]
        for m in successes
    )

    tab, frame, errors = quality_view(browser, story)
    try:
        recovered = frame.locator(f"tr[data-day='{first}'] td[data-source='nyt']")
        assert recovered.get_attribute("data-success") == "True"
        assert "(try 2)" in recovered.inner_text()
        earlier = recovered.locator("details.earlier")
        assert "try 1 failed" in earlier.inner_text()
        earlier.locator("summary").click()
        assert "cases='banana" in earlier.inner_text()
        later = frame.locator(f"tr[data-day='{second}'] td[data-source='nyt']")
        assert later.get_attribute("data-success") == "True"
        assert frame.locator(".failure").count() == 0
    finally:
        tab.screenshot(path=str(screenshots / "dashboard-quality.png"))
    tab.close()
    assert errors == []

    body = story.airflow.get("/covid19/api/v1/quality?days=7")
    [nyt] = [source for source in body["sources"] if source["source"] == "nyt"]
    assert [(d["day"], d["success"], d["try_number"]) for d in nyt["days"]] == [
        (second, True, 1),
        (first, True, 2),
    ]
    assert [t["success"] for t in nyt["days"][1]["earlier_tries"]] == [False]
