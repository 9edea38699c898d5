"""docker-compose.yaml, run for real: built, started, used, broken, recovered and removed.

The repository's own compose file, with ``docker compose up --build --wait``, changing only what
docs/compose.md documents as settings: the two source URLs (to a data server on the stack's own
network, tests/compose-data.yaml), the start date (two scheduled days), the retry window and the
published ports. The images are the public ones where they can be pulled
(``COVID19_COMPOSE_PULL=1``), else stand-ins built from the official recipes
(docker/standins/build.py; built once per machine). Then, as a user:

* ``airflow-init`` exited 0 and every long-running service is healthy, on the project's network
  only; both DAGs parsed without import errors;
* the NYT file is malformed at first: the first day fails at ``validate`` with its alert, the
  second waits; the file is fixed and the failed task cleared as the README says (Clear, with the
  dialog's defaults): both days succeed, in order;
* the warehouse holds exactly the rows of a clean load, the SNS messages say what happened, the
  raw, staged and report objects are in the emulator's S3;
* Chromium logs into the UI with the compose file's login and shows the grid (the screenshot
  goes to docs/ under ``make docs``);
* ``docker compose down -v`` leaves no container, volume or network of the project.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from local_stack import AirflowApi, free_port, wait_for

from covid19_common.names import DAG_ID, TASKS
from tests.browser import record_errors, sign_in
from tests.compose_stack import (
    STANDINS_BUILD,
    ComposeProject,
    docker,
    docker_engine,
    load_script,
)
from tests.conftest import (
    FAILED_AT_VALIDATE,
    JHU_2021,
    NYT_2021,
    ScriptedNyt,
    clean_us_daily,
    ui_clear_task,
)

# The first test's fixture builds the stand-in images when this machine has none (about 7 min).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.compose,
    pytest.mark.timeout(1800),
]

PROJECT = "covid19-etl-test"
DAG = f"/api/v2/dags/{DAG_ID}"
WATCHDOG_DAG_ID = "covid19_etl_watchdog"
LONG_RUNNING = [
    "postgres",
    "moto",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "covid19-data",
]
DAYS = 2
LOGIN = ("airflow", "airflow")  # the compose file's default login
RAW_BUCKET = "covid19-raw"


@dataclass
class Stack:
    compose: ComposeProject
    airflow: AirflowApi
    data: Path
    days: list[date]
    moto_port: int
    published: list[tuple[str, str]]
    started: float  # when `up` began (time.monotonic())

    def say(self, what: str) -> None:
        """A figure for docs/compose.md, printed (speed is measured, never asserted here)."""
        print(f"{what}: {time.monotonic() - self.started:.0f} s after `up` began", flush=True)

    def runs(self) -> dict[date, dict]:
        return self.airflow.day_runs(DAG_ID)

    def tasks(self, run: dict) -> dict[str, dict]:
        return self.airflow.task_instances(DAG_ID, run)

    def wait_for_run(self, day: date, state: str) -> dict:
        return self.airflow.wait_for_run(DAG_ID, day, state)

    def messages(self) -> list[tuple[str, str]]:
        """Everything published so far (the queue hands each message out once)."""
        self.published += self.compose.messages()
        return self.published

    def s3_keys(self, prefix: str) -> list[str]:
        import boto3
        from mwaa_profile import AWS_CLIENT_ARGS

        s3 = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.moto_port}", **AWS_CLIENT_ARGS
        )
        listed = s3.list_objects_v2(Bucket=RAW_BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("compose")
    data = folder / "data"
    (data / "nyt").mkdir(parents=True)
    (data / "jhu").mkdir()
    (data / "nyt" / "us.csv").write_bytes(ScriptedNyt().malformed)
    (data / "jhu" / "combined.csv").write_bytes(JHU_2021.read_bytes())
    data.chmod(0o755)

    today = datetime.now(UTC).date()
    api_port, moto_port = free_port(), free_port()
    env = {
        "COVID19_NYT_URL": "http://covid19-data:8000/nyt/us.csv",
        "COVID19_JHU_URL": "http://covid19-data:8000/jhu/combined.csv",
        "COVID19_ETL_START_DATE": (today - timedelta(days=DAYS)).isoformat(),
        "COVID19_ETL_RETRY_WINDOW_MINUTES": "2",
        "AIRFLOW_HOST_PORT": str(api_port),
        "MOTO_HOST_PORT": str(moto_port),
        "COVID19_TEST_DATA": str(data),
    }
    compose = ComposeProject(PROJECT, env, folder / "compose.log")
    with docker_engine():
        images = load_script(STANDINS_BUILD)
        # COVID19_COMPOSE_PULL=1 where Docker Hub answers: the public images themselves.
        begun = time.monotonic()
        images.ensure(pull=os.environ.get("COVID19_COMPOSE_PULL") == "1", log=print)
        print(f"images ready: {time.monotonic() - begun:.0f} s", flush=True)
        compose.run("down", "--volumes", "--remove-orphans")  # what an interrupted run left
        try:
            started = time.monotonic()
            compose.run("up", "--build", "--wait", "--wait-timeout", "600", "--detach")
            print(f"up --build --wait: {time.monotonic() - started:.0f} s", flush=True)
            airflow = AirflowApi(api_port, LOGIN[1], username=LOGIN[0])
            days = [today - timedelta(days=n) for n in range(DAYS, 0, -1)]
            yield Stack(compose, airflow, data, days, moto_port, [], started)
        finally:
            for service in ("airflow-init", "airflow-scheduler"):
                compose.run("logs", "--no-color", "--tail", "200", service, check=False)
            print(compose.log_path.read_text()[-20000:])
            compose.run("down", "--volumes", "--remove-orphans", check=False)


def test_init_exits_0_and_every_long_running_service_is_healthy(stack: Stack) -> None:
    containers = stack.compose.containers()
    init = containers["airflow-init"]
    assert (init["State"], init["ExitCode"]) == ("exited", 0)
    health = {service: containers[service]["Health"] for service in LONG_RUNNING}
    assert health == dict.fromkeys(LONG_RUNNING, "healthy")
    assert "Ready: http://localhost:" in stack.compose.run("logs", "--no-color", "airflow-init")


def test_containers_talk_only_on_the_projects_network(stack: Stack) -> None:
    for service, container in stack.compose.containers().items():
        networks = docker(
            "inspect", "--format", "{{json .NetworkSettings.Networks}}", container["Name"]
        )
        assert list(json.loads(networks)) == [f"{PROJECT}_default"], service


def test_both_dags_parse_without_import_errors(stack: Stack) -> None:
    def parsed() -> set[str] | None:
        found = {dag["dag_id"] for dag in stack.airflow.get("/api/v2/dags")["dags"]}
        return found if {DAG_ID, WATCHDOG_DAG_ID} <= found else None

    wait_for("both DAGs to be parsed", parsed, timeout_s=180)
    errors = stack.airflow.get("/api/v2/importErrors")
    assert errors["total_entries"] == 0, errors


def test_a_malformed_source_fails_the_day_with_its_alert(stack: Stack) -> None:
    first, second = stack.days
    run = stack.wait_for_run(first, "failed")
    stack.say(f"{first} failed at validate")
    assert {t: ti["state"] for t, ti in stack.tasks(run).items()} == FAILED_AT_VALIDATE
    later = stack.runs()[second]
    assert later["state"] == "running", "the next day waits, visibly"
    assert all(ti["start_date"] is None for ti in stack.tasks(later).values())
    assert stack.airflow.get(DAG)["is_paused"] is False  # the DAG never pauses

    subject = f"[{DAG_ID}] FAILED validate for {first.isoformat()}"

    def alerted() -> str | None:
        return next((body for s, body in stack.messages() if s == subject), None)

    alert = wait_for("the failure alert", alerted, timeout_s=60)
    assert "date='2021-03-05' cases='banana" in alert
    assert "clear this task (Clear, with the dialog's defaults)" in alert


def test_the_fix_and_clear_make_both_days_green_in_order(stack: Stack) -> None:
    first, second = stack.days
    (stack.data / "nyt" / "us.csv").write_bytes(NYT_2021.read_bytes())  # the upstream is fixed
    stack.say("the source fixed, the failed task cleared")
    failed = stack.runs()[first]
    ui_clear_task(stack.airflow, failed, "validate")
    stack.wait_for_run(first, "success")
    stack.wait_for_run(second, "success")
    stack.say("both days green")
    loaded = [row[0] for row in stack.compose.sql("SELECT as_of FROM covid19.etl_runs ORDER BY id")]
    assert loaded == [day.isoformat() for day in stack.days]


def test_the_warehouse_holds_the_rows_of_a_clean_load(stack: Stack) -> None:
    rows = stack.compose.sql(
        "SELECT date, cases, deaths, coalesce(recovered::text, '') FROM covid19.us_daily"
    )
    found = {
        day: (int(cases), int(deaths), int(recovered) if recovered else None)
        for day, cases, deaths, recovered in rows
    }
    assert len(found) == 420
    assert found == clean_us_daily(stack.days[-1])


def test_sns_says_what_happened(stack: Stack) -> None:
    subjects = [subject for subject, _ in stack.messages()]
    first, second = (day.isoformat() for day in stack.days)
    assert f"[{DAG_ID}] FAILED validate for {first}" in subjects
    assert f"[{DAG_ID}] {first}: 420 rows updated" in subjects
    assert f"[{DAG_ID}] {second}: 0 rows updated" in subjects


def test_the_raw_staged_and_report_objects_are_in_s3(stack: Stack) -> None:
    for day in stack.days:
        for source in ("nyt", "jhu"):
            assert stack.s3_keys(f"raw/{source}/{day}/"), (source, day)
        assert f"reports/{day}/us_daily.html" in stack.s3_keys("reports/")
    assert stack.s3_keys("staged/")


def test_the_login_and_the_grid_in_chromium(stack: Stack, browser: Any, screenshots: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors = record_errors(page, console=False)
    sign_in(page, stack.airflow, username=LOGIN[0])
    last_run = stack.runs()[stack.days[-1]]["dag_run_id"]
    page.goto(f"{stack.airflow.base_url}/dags/{DAG_ID}/runs/{last_run}")
    rows = {task: page.get_by_role("row").filter(has_text=task).first for task in TASKS}
    try:
        for row in rows.values():
            row.wait_for()
    finally:
        page.screenshot(path=str(screenshots / "compose-grid.png"))
    states = {task: row.inner_text() for task, row in rows.items()}
    assert all("Success" in text for text in states.values()), states
    page.close()
    assert errors == []


def test_down_leaves_no_container_volume_or_network(stack: Stack) -> None:
    stack.compose.run("down", "--volumes", "--remove-orphans")
    assert stack.compose.leftovers() == {"containers": [], "volumes": [], "networks": []}
