"""The operator's story, with the real scheduler, dag-processor, LocalExecutor and api-server.

The one-command setup (``scripts/run_local.py``) runs against a local HTTP source and SNS on the
moto server; the test drives it through Airflow's REST API, as the UI would:

1. Catch-up runs three consecutive days; the NYT file is malformed when the middle day runs.
   That day fails at ``validate``, the failure notification names the check, the DAG pauses
   itself and no task of the third day runs.
2. The source is fixed; the operator clears the failed run and unpauses the DAG. The failed
   day, then the blocked day, succeed in order; the warehouse equals a clean run's, and
   ``covid19.etl_runs`` tells the story.

Then a real browser (Debian's Chromium through Playwright) logs into the UI, opens the grid and
checks the tasks show as success, saving a screenshot for the README.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from covid19_etl import transform
from covid19_etl.sources import read_text_table
from tests.conftest import JHU_2021, NYT_2021, REPO_ROOT, aws_environment, create_topic
from tests.local_airflow import CHROMIUM_FLAGS, local_airflow, sign_in, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.e2e]

DAG_ID = "covid19_etl"
DOCS = REPO_ROOT / "docs"


class FlakyNyt:
    """Serves NYT: the first download is good, then malformed until ``fix()`` is called."""

    def __init__(self) -> None:
        self.requests = 0
        self.fixed = threading.Event()
        self.good = NYT_2021.read_bytes()
        self.broken = self.good.replace(b"2021-03-05,", b"2021-03-05,banana", 1)

    def __call__(self, request: Request) -> Response:
        self.requests += 1
        malformed = self.requests > 1 and not self.fixed.is_set()
        return Response(self.broken if malformed else self.good, content_type="text/csv")

    def fix(self) -> None:
        self.fixed.set()


class Api:
    """The Airflow REST API (v2) with the simple auth manager's token."""

    def __init__(self, base_url: str, password: str) -> None:
        self.base_url = base_url
        token = self.call("POST", "/auth/token", {"username": "admin", "password": password})
        self.token = token["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def runs(self) -> list[dict]:
        found = self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?order_by=logical_date&limit=50")
        return found["dag_runs"]

    def task_instances(self, run_id: str) -> dict[str, dict]:
        found = self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in found["task_instances"]}

    def dag(self) -> dict:
        return self.call("GET", f"/api/v2/dags/{DAG_ID}")


@pytest.fixture(scope="module")
def story(moto_endpoint) -> Any:
    """Start the one-command setup on fresh state, with controllable sources and SNS."""
    from pytest_httpserver import HTTPServer

    http = HTTPServer(host="127.0.0.1", port=0)
    http.start()
    nyt = FlakyNyt()
    http.expect_request("/nyt/us.csv").respond_with_handler(nyt)
    http.expect_request("/jhu/combined.csv").respond_with_data(JHU_2021.read_bytes())
    today = datetime.now(UTC).date()
    topic = create_topic(moto_endpoint, "covid19-etl-operator-story")
    env = {
        **aws_environment(moto_endpoint),
        "COVID19_ETL_START_DATE": (today - timedelta(days=3)).isoformat(),
        "AIRFLOW_VAR_COVID19_NYT_URL": http.url_for("/nyt/us.csv"),
        "AIRFLOW_VAR_COVID19_JHU_URL": http.url_for("/jhu/combined.csv"),
        "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": topic.arn,
    }
    try:
        with local_airflow(env) as airflow:
            yield Story(
                airflow=airflow,
                api=Api(airflow.base_url, airflow.password),
                nyt=nyt,
                topic=topic,
                days=[today - timedelta(days=n) for n in (3, 2, 1)],
            )
    finally:
        http.stop()


class Story:
    def __init__(self, **facts: Any) -> None:
        self.__dict__.update(facts)

    def runs_by_day(self) -> dict[date, dict]:
        return {
            datetime.fromisoformat(run["data_interval_start"]).date(): run
            for run in self.api.runs()
        }

    def warehouse(self, sql: str) -> list[tuple]:
        return self.airflow.warehouse(sql)


def test_failed_day_blocks_then_recovers_in_order(story):
    first, middle, last = story.days

    # 1. The middle day fails at validate; the third day does not run.
    runs = wait_for(
        "the middle day to fail",
        lambda: (r := story.runs_by_day()).get(middle, {}).get("state") == "failed" and r,
    )
    assert runs[first]["state"] == "success"
    states = {
        t: ti["state"] for t, ti in story.api.task_instances(runs[middle]["dag_run_id"]).items()
    }
    assert states == {
        "extract": "success",
        "validate": "failed",
        "transform": "upstream_failed",
        "load": "upstream_failed",
        "notify": "upstream_failed",
        "report": "upstream_failed",
    }
    wait_for("the DAG to pause itself", lambda: story.api.dag()["is_paused"])
    time.sleep(15)  # give the scheduler every chance to (wrongly) start the third day
    third = story.runs_by_day().get(last)
    if third is not None:  # created before the pause: it must not have run a task
        assert all(
            ti["start_date"] is None
            for ti in story.api.task_instances(third["dag_run_id"]).values()
        )
    failures = [m for m in story.topic.messages() if "FAILED" in m["Subject"]]
    assert [m["Subject"] for m in failures] == [
        f"[covid19_etl] FAILED validate for {middle.isoformat()}"
    ]
    assert "expect_column_values_to_match_regex(column='cases'" in failures[0]["Message"]
    assert "date='2021-03-05' cases='banana" in failures[0]["Message"]
    assert story.warehouse("SELECT count(*) FROM covid19.etl_runs") == [(1,)]

    # 2. Fix the source, clear the failed run, unpause: the days complete in order.
    story.nyt.fix()
    failed_run = runs[middle]["dag_run_id"]
    story.api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns/{failed_run}/clear", {"dry_run": False})
    story.api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    runs = wait_for(
        "all three days to succeed",
        lambda: (
            all(
                (r := story.runs_by_day()).get(day, {}).get("state") == "success"
                for day in story.days
            )
            and r
        ),
        timeout_s=420,
    )
    assert runs[middle]["end_date"] <= runs[last]["start_date"]

    history = story.warehouse(
        "SELECT as_of, source_rows, inserted, updated, unchanged FROM covid19.etl_runs ORDER BY id"
    )
    assert history == [
        (first, 420, 420, 0, 0),
        (middle, 420, 0, 0, 420),
        (last, 420, 0, 0, 420),
    ]
    loaded = story.warehouse(
        "SELECT date, cases, deaths, recovered FROM covid19.us_daily ORDER BY date"
    )
    clean = transform.us_daily(
        read_text_table(NYT_2021.read_bytes()), read_text_table(JHU_2021.read_bytes()), last
    )
    expected = [
        (row.date, row.cases, row.deaths, None if row.recovered is None else int(row.recovered))
        for row in clean.astype(object).where(clean.notna(), None).itertuples()
    ]
    assert loaded == expected
    successes = [m for m in story.topic.messages() if "rows updated" in m["Subject"]]
    assert len(successes) == 2  # the middle and the last day (the first was read earlier)


def test_browser_shows_the_grid_with_successful_tasks(story):
    """Headless Chromium logs into the UI and opens the last day's run beside the grid."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"Chromium not found at {chromium}: run `make browser` (apt package chromium)")
    last_run = story.runs_by_day()[story.days[-1]]["dag_run_id"]
    base = story.airflow.base_url
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("pageerror", lambda error: errors.append(str(error)))
        sign_in(page, story.airflow)
        page.goto(f"{base}/dags/{DAG_ID}/runs/{last_run}", wait_until="networkidle")
        rows = {
            task: page.get_by_role("row").filter(has_text=task).first
            for task in ("extract", "validate", "transform", "load", "notify", "report")
        }
        try:
            for row in rows.values():
                row.wait_for()
        finally:  # what the browser showed, to see why when it fails
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "airflow-grid.png"))
        states = {task: row.inner_text() for task, row in rows.items()}
        grid_cells = page.locator(f"[id^='grid-{last_run}-']").count()
        browser.close()
    assert all("Success" in text for text in states.values()), states
    assert grid_cells == 6
    assert errors == []
