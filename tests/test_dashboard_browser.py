"""The dashboard on a running local Airflow: the "COVID-19 US" page inside the Airflow UI and
the static report the DAG wrote, in Debian's Chromium through Playwright, and the plugin's JSON
API as the api-server serves it.

``scripts/run_local.py --sources sample`` starts Airflow on fresh state; the DAG's single
catch-up run loads the real files and writes the report. The browser then checks that every
chart drew its data, that the totals on the page are the warehouse's numbers, that the
console has no errors and that the report fetches nothing from the network. It saves the
screenshots the README shows. schemathesis holds the mounted API to its OpenAPI document.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from local_stack import local_airflow, wait_for

from covid19_dashboard import web
from tests import dashboard_contract
from tests.browser import VIEWPORT, check_dashboard, record_errors, sign_in, warehouse_totals
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.e2e]

DAG_ID = "covid19_etl"


@pytest.fixture(scope="module")
def airflow() -> Any:
    """Local Airflow whose one catch-up run (yesterday) has loaded and written the report."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    with local_airflow(
        {"COVID19_ETL_START_DATE": yesterday.isoformat()}, "--sources", "sample"
    ) as up:
        token = up.token()

        def finished() -> dict | None:
            runs = up.get(f"/api/v2/dags/{DAG_ID}/dagRuns", token)["dag_runs"]
            done = [r for r in runs if r["state"] in ("success", "failed")]
            return done[0] if done else None

        run = wait_for("the first run to finish", finished, timeout_s=240)
        assert run["state"] == "success", run
        yield up


def test_the_json_api_on_the_api_server(airflow):
    day, cases, deaths, recovered = warehouse_totals(airflow)
    summary = airflow.get("/covid19/api/v1/summary")
    totals = summary["totals"]
    assert (totals["as_of"], totals["cases"], totals["deaths"]) == (day, cases, deaths)
    assert totals["recovered"] == recovered
    [(inserted, updated)] = airflow.warehouse(
        "SELECT inserted, updated FROM covid19.etl_runs ORDER BY id DESC LIMIT 1"
    )
    assert (summary["last_load"]["inserted"], summary["last_load"]["updated"]) == (
        inserted,
        updated,
    )
    daily = airflow.get("/covid19/api/v1/daily?start=2021-03-01")
    assert daily["rows"][-1]["cases"] == cases
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"http://127.0.0.1:{airflow.port}/covid19/api/v1/summary")
    assert anonymous.value.code == 401


def test_the_json_api_keeps_its_contract_on_the_api_server(airflow):
    """The ``schemathesis`` command against the API the api-server mounts, on the document it
    serves there, signed in with a real Airflow token: every check, 50 examples per operation
    and phase, a fixed seed. The in-process run of tests/test_dashboard.py generates more; this
    one proves the mounted app, its real login included, behaves the same."""
    document_url = f"http://127.0.0.1:{airflow.port}{web.URL_PREFIX}{web.API}/openapi.json"
    with urllib.request.urlopen(document_url) as response:
        served = json.load(response)
    # The document the in-process run tested, plus where the api-server mounts it.
    assert served.pop("servers") == [{"url": web.URL_PREFIX}]
    assert served == json.loads(json.dumps(web.create_app().openapi()))

    run = subprocess.run(
        [
            *(sys.executable, "-m", "schemathesis.cli"),
            *("--config-file", str(dashboard_contract.CONFIG_FILE)),
            *("run", document_url, "--checks", "all", "--max-examples", "50", "--seed", "1"),
            *("--workers", "1"),  # two cores, shared with the whole local Airflow
        ],
        env={
            **os.environ,
            "COVID19_API_TOKEN": airflow.token(),
            "SCHEMATHESIS_HOOKS": "tests.dashboard_contract",
            "PYTHONPATH": str(REPO_ROOT),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    print(run.stdout)  # the summary: how many requests, in which phases
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout


def test_the_page_in_the_airflow_ui(airflow, browser, screenshots):
    expected = warehouse_totals(airflow)
    page = browser.new_page(viewport=VIEWPORT)
    sign_in(page, airflow)
    # From here on, nothing may log an error (before login, the UI's own probe of /ui/config
    # answers 401, as it should).
    errors = record_errors(page)

    page.get_by_role("link", name="COVID-19 US").click()
    page.wait_for_url("**/plugin/covid19-us")
    frame = page.frame_locator("iframe[title='COVID-19 US']")
    try:
        check_dashboard(frame, expected)
    finally:  # what the browser showed, to see why when it fails
        page.screenshot(path=str(screenshots / "dashboard-airflow.png"))
        page.close()
    assert errors == []


def test_the_static_report(airflow, browser, screenshots):
    expected = warehouse_totals(airflow)
    latest = airflow.reports / "latest.html"
    [dated] = airflow.reports.glob("*/us_daily.html")
    assert latest.read_bytes() == dated.read_bytes()
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(60_000)
    errors = record_errors(page)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(latest.as_uri())
    try:
        check_dashboard(page, expected)
    finally:
        page.screenshot(path=str(screenshots / "dashboard-report.png"), full_page=True)
        page.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:", "blob:"))] == []
