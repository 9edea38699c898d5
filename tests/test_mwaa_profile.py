"""The MWAA profile (``make run MWAA=1``): what ``make deploy`` uploads, run the way Amazon MWAA
3.3.1 runs it, so that a change breaking it there breaks here first.

One stack for every assertion: ``scripts/run_local.py --profile mwaa --sources sample`` on fresh
state, with this session's moto server for SQS, S3 and SNS. It builds the bundle with
``deploy_bundle.build``, lays it out in four containers' homes (scheduler, web server, two Celery
workers: dags/, plugins.zip unpacked, requirements.txt, startup.sh rendered by Terraform and
sourced before each container starts) and starts Airflow with MWAA's settings: FabAuthManager,
CeleryExecutor on SQS, the raw archive, the staged files and the task logs on S3. The DAG's
start date and retry window reach the components only through startup.sh.

The one scheduled day (yesterday) must load the rows a clean load of the sample files gives,
each task on the other worker than the tasks before it, so that only S3 objects and XCom can
pass between them. In Chromium the "COVID-19 US" page works for the admin; the user with MWAA's
Public role gets a 403 and an anonymous visitor the login page (screenshots: the
``screenshots`` fixture, ``docs/`` under ``make docs``).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from launch_guard import session_members, sessions
from local_aws import AWS_CLIENT_ARGS
from local_postgres import restart_server
from local_stack import LocalAirflow, local_airflow, wait_for
from mwaa_home import SCHEDULER, WEBSERVER, WORKERS
from mwaa_profile import BUCKET, configuration_option_variable

from covid19_common.names import DAG_ID, TASKS
from include.covid19_etl.settings import retry_schedule
from tests.browser import VIEWPORT, check_dashboard, record_errors, warehouse_totals
from tests.conftest import UI_CLEAR_RUN, Topic, Warehouse, clean_us_daily, create_topic
from tests.reliability_report import record

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.mwaa_profile,
    pytest.mark.reliability,
]

CONTAINERS = (SCHEDULER, WEBSERVER, *WORKERS)
# Not the default (180): it can only come through startup.sh. Its first retry waits 10 s.
RETRY_WINDOW_MINUTES = 30
FORBIDDEN = f"Forbidden: cannot read DAG {DAG_ID}"
# How long a task may go without a heartbeat before the scheduler fails its try: Airflow's and
# MWAA's default is 300 s. An environment may change it (Terraform's
# extra_airflow_configuration_options); 60 s keeps the lost-worker cases short. On the default,
# those cases converge 240 s later than measured here.
HEARTBEAT_TIMEOUT_S = 60


@dataclass
class MwaaStack:
    airflow: LocalAirflow
    day: date
    run_id: str
    topic: Topic
    s3: Any

    @property
    def containers(self) -> Path:
        return self.airflow.state / "airflow"

    def password(self, user: str) -> str:
        return json.loads((self.containers / "passwords.json").read_text())[user]

    def token(self, user: str) -> str:
        body = {"username": user, "password": self.password(user)}
        return self.airflow.call("POST", "/auth/token", body, token="")["access_token"]

    def s3_keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[MwaaStack]:
    import boto3

    day = (datetime.now(UTC) - timedelta(days=1)).date()
    topic = create_topic(moto_endpoint, "covid19-mwaa-profile")
    env = {
        "COVID19_ETL_START_DATE": day.isoformat(),
        "COVID19_ETL_RETRY_WINDOW_MINUTES": str(RETRY_WINDOW_MINUTES),
        "AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN": topic.arn,
    }
    args = ("--profile", "mwaa", "--sources", "sample", "--aws-endpoint", moto_endpoint,
            "--airflow-config-option",
            f"scheduler.task_instance_heartbeat_timeout={HEARTBEAT_TIMEOUT_S}")  # fmt: skip
    with local_airflow(env, *args) as up:

        def finished() -> dict | None:
            # A DAG file that does not import never runs: say why at once.
            errors = up.get("/api/v2/importErrors")["import_errors"]
            assert not errors, "\n".join(e["stack_trace"] for e in errors)
            runs = up.get("/api/v2/dags/~/dagRuns")["dag_runs"]  # no 404 before the parse
            done = ("success", "failed")
            return next((r for r in runs if r["dag_id"] == DAG_ID and r["state"] in done), None)

        run = wait_for("the scheduled day to finish", finished, timeout_s=240, every_s=1)
        assert run["state"] == "success", run
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, **AWS_CLIENT_ARGS)
        yield MwaaStack(up, day, run["dag_run_id"], topic, s3)


def task_instances(stack: MwaaStack) -> dict[str, dict[str, Any]]:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{stack.run_id}/taskInstances"
    return {ti["task_id"]: ti for ti in stack.airflow.get(path)["task_instances"]}


# ---------------------------------------------------------------------------------------------
# The deployment
# ---------------------------------------------------------------------------------------------
def test_every_container_holds_the_bundle_as_mwaa_lays_it_out(stack: MwaaStack) -> None:
    bundle = stack.airflow.state / "bundle"
    dag_files = sorted(p.relative_to(bundle).as_posix() for p in (bundle / "dags").rglob("*.py"))
    with zipfile.ZipFile(bundle / "plugins.zip") as archive:
        plugin_files = {name for name in archive.namelist() if not name.endswith("/")}
    for container in CONTAINERS:
        home = stack.containers / container
        assert (
            sorted(p.relative_to(home).as_posix() for p in (home / "dags").rglob("*.py"))
            == dag_files
        )
        unpacked = home / "plugins"
        assert {
            p.relative_to(unpacked).as_posix()
            for p in unpacked.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        } == plugin_files
        assert (home / "requirements" / "requirements.txt").read_bytes() == (
            bundle / "requirements.txt"
        ).read_bytes()
        assert "Rendered by Terraform" in (home / "startup" / "startup.sh").read_text()


def test_every_component_imports_what_it_needs(stack: MwaaStack) -> None:
    # The dag-processor parsed both DAGs, the api-server loaded the plugin from its own copy.
    assert stack.airflow.get("/api/v2/importErrors")["total_entries"] == 0
    dags = {d["dag_id"] for d in stack.airflow.get("/api/v2/dags")["dags"]}
    assert {DAG_ID, "covid19_etl_watchdog"} <= dags
    plugins = {p["name"] for p in stack.airflow.get("/api/v2/plugins")["plugins"]}
    assert "covid19_dashboard" in plugins
    # On the workers, every task succeeding says the same (below).


def test_configuration_options_become_the_variables_mwaa_sets() -> None:
    assert (
        configuration_option_variable("scheduler.task_instance_heartbeat_timeout")
        == "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"
    )
    for wrong in ("scheduler", "Scheduler.parsing_processes", "core.dags folder", ".x"):
        with pytest.raises(ValueError, match=r"section\.key"):
            configuration_option_variable(wrong)


def test_the_startup_script_sets_what_the_dag_reads_at_parse_time(stack: MwaaStack) -> None:
    details = stack.airflow.get(f"/api/v2/dags/{DAG_ID}/details")
    assert details["start_date"].startswith(stack.day.isoformat())
    extract = stack.airflow.get(f"/api/v2/dags/{DAG_ID}/tasks/extract")
    expected = retry_schedule(timedelta(minutes=RETRY_WINDOW_MINUTES))
    assert extract["retries"] == expected.retries
    assert extract["retry_delay"]["seconds"] == expected.retry_delay.total_seconds()


# ---------------------------------------------------------------------------------------------
# The day
# ---------------------------------------------------------------------------------------------
def test_the_scheduled_day_loads_the_rows_of_a_clean_load(stack: MwaaStack) -> None:
    expected = clean_us_daily(stack.day)
    assert len(expected) == 420
    assert Warehouse(stack.airflow.warehouse_uri).us_daily() == expected
    subjects = [m["Subject"] for m in stack.topic.messages()]
    assert f"[{DAG_ID}] {stack.day.isoformat()}: 420 rows updated" in subjects


def test_tasks_alternate_between_workers_that_share_only_s3_and_xcom(stack: MwaaStack) -> None:
    tis = task_instances(stack)
    assert {task: ti["state"] for task, ti in tis.items()} == dict.fromkeys(TASKS, "success")
    # The worker that ran a task's last try is the one whose own logs folder holds its log (a
    # loaded machine may have retried one).
    ran_on = {}
    for task, ti in tis.items():
        log = (
            f"logs/dag_id={DAG_ID}/run_id={stack.run_id}/task_id={task}/"
            f"attempt={ti['try_number']}.log"
        )
        [ran_on[task]] = [w for w in WORKERS if (stack.containers / w / log).is_file()]
    for task in TASKS:
        downstream = stack.airflow.get(f"/api/v2/dags/{DAG_ID}/tasks/{task}")["downstream_task_ids"]
        assert all(ran_on[after] != ran_on[task] for after in downstream), ran_on

    day = stack.day.isoformat()
    for source in ("nyt", "jhu"):
        assert len(stack.s3_keys(f"raw/{source}/{day}/")) == 1, source
    assert stack.s3_keys("staged/")
    assert f"reports/{day}/us_daily.html" in stack.s3_keys("reports/")
    # Task logs go to S3 (CloudWatch on MWAA): the api-server shows them without the worker.
    path = (
        f"/api/v2/dags/{DAG_ID}/dagRuns/{stack.run_id}/taskInstances/load/logs/"
        f"{tis['load']['try_number']}"
    )
    events = [str(line.get("event")) for line in stack.airflow.get(path)["content"]]
    assert any(event.startswith(f"Loaded as of {day}") for event in events), events


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------
def status(stack: MwaaStack, path: str, token: str | None) -> tuple[int, str, str]:
    """(status, final URL, body) of a GET, following redirects as a browser does."""
    request = urllib.request.Request(f"{stack.airflow.base_url}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.url, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.url, error.read().decode()


def test_the_dashboard_answers_each_user_as_fab_decides(stack: MwaaStack) -> None:
    code, _, body = status(stack, "/covid19/api/v1/summary", stack.token("admin"))
    assert code == 200 and json.loads(body)["totals"]["cases"] > 0
    code, _, body = status(stack, "/covid19/api/v1/summary", stack.token("public"))
    assert code == 403, body
    assert json.loads(body)["detail"] == FORBIDDEN
    code, _, _ = status(stack, "/covid19/api/v1/summary", None)
    assert code == 401
    code, url, _ = status(stack, "/covid19/", None)
    assert code == 200 and "/auth/login/" in url


def test_the_data_docs_in_s3_are_read_through_the_page_by_admin_only(stack: MwaaStack) -> None:
    assert stack.s3_keys(f"quality/{stack.day.isoformat()}/")
    assert "reports/data_docs/index.html" in stack.s3_keys("reports/data_docs/")
    code, _, page = status(stack, "/covid19/", stack.token("admin"))
    assert code == 200 and 'href="data-docs/index.html"' in page
    code, _, body = status(stack, "/covid19/data-docs/index.html", stack.token("admin"))
    assert code == 200 and "Data Docs" in body
    code, _, body = status(stack, "/covid19/data-docs/index.html", stack.token("public"))
    assert code == 403 and FORBIDDEN in body


def sign_in(page: Any, stack: MwaaStack, user: str) -> None:
    """FAB's login form, as a person fills it."""
    page.set_default_timeout(90_000)  # a loaded 2-core CI machine renders slowly
    page.goto(f"{stack.airflow.base_url}/auth/login/")
    page.locator("#username").fill(user)
    page.locator("#password").fill(stack.password(user))
    page.locator("input[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_the_page_in_chromium_for_admin_public_and_anonymous(
    stack: MwaaStack, browser: Any, screenshots: Path
) -> None:
    expected = warehouse_totals(stack.airflow)
    admin = browser.new_page(viewport=VIEWPORT)
    sign_in(admin, stack, "admin")
    errors = record_errors(admin, console=False)
    admin.get_by_role("link", name="COVID-19 US").click()
    admin.wait_for_url("**/plugin/covid19-us")
    try:
        check_dashboard(admin.frame_locator("iframe[title='COVID-19 US']"), expected)
    finally:
        admin.screenshot(path=str(screenshots / "mwaa-dashboard-admin.png"))

    public = browser.new_page()
    sign_in(public, stack, "public")
    response = public.goto(f"{stack.airflow.base_url}/covid19/")
    public.screenshot(path=str(screenshots / "mwaa-dashboard-public-403.png"))
    assert response is not None and response.status == 403
    assert FORBIDDEN in public.locator("body").inner_text()

    anonymous = browser.new_page()
    anonymous.goto(f"{stack.airflow.base_url}/covid19/")
    anonymous.screenshot(path=str(screenshots / "mwaa-login.png"))
    assert "/auth/login/" in anonymous.url
    assert anonymous.locator("#username").is_visible()
    assert errors == []


# ---------------------------------------------------------------------------------------------
# MWAA's own faults: a Celery worker lost mid-task (MWAA replaces and scales in workers), the
# scheduler container restarted (every environment update), the warehouse rebooted during a
# load (an RDS reboot or failover). Each case clears the day as the UI's Clear Run does, hits it
# at a known point, and leaves it to converge with no human action.
# ---------------------------------------------------------------------------------------------
CONVERGED = "day succeeds with no human action; warehouse equals a clean run; one load recorded"
FAULTS = "faults: MWAA profile"


@dataclass
class Fault:
    """One fault on the cleared day: what it hit, and when."""

    stack: MwaaStack
    loads_before: int
    task: str = ""
    hit_try: int = 0
    at: datetime | None = None

    def hit(self, task: str, ti: dict[str, Any]) -> None:
        self.task, self.hit_try, self.at = task, ti["try_number"], datetime.now(UTC)

    def outcome(self) -> tuple[str, str]:
        """(observed, measured) once the run has ended after the fault."""
        stack = self.stack

        def ended() -> dict | None:
            run = stack.airflow.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{stack.run_id}")
            return run if run["state"] in ("success", "failed") else None

        run = wait_for("the cleared day to end", ended, timeout_s=600, every_s=1)
        assert self.at is not None
        seconds = (datetime.fromisoformat(run["end_date"]) - self.at).total_seconds()
        warehouse = Warehouse(stack.airflow.warehouse_uri)
        loads = len(warehouse.etl_runs()) - self.loads_before
        observed = "; ".join(
            [
                "day succeeds with no human action" if run["state"] == "success" else "day failed",
                "warehouse equals a clean run"
                if warehouse.us_daily() == clean_us_daily(stack.day)
                else "warehouse differs from a clean run",
                "one load recorded" if loads == 1 else f"{loads} loads recorded",
            ]
        )
        tries = stack.airflow.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{stack.run_id}/taskInstances/{self.task}/tries"
        )["task_instances"]
        states = {t["try_number"]: t["state"] for t in tries}
        final = task_instances(stack)[self.task]["try_number"]
        measured = (
            f"{seconds:.0f} s from the fault to the day's success; {self.task} try "
            f"{self.hit_try} {states.get(self.hit_try)}, succeeded on try {final}"
        )
        return observed, measured


def cleared(stack: MwaaStack) -> Fault:
    """The day cleared, as the UI's Clear Run does."""
    fault = Fault(stack, len(Warehouse(stack.airflow.warehouse_uri).etl_runs()))
    stack.airflow.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns/{stack.run_id}/clear", UI_CLEAR_RUN)
    return fault


def running(stack: MwaaStack, task: str) -> dict[str, Any]:
    """The task's try, once a worker runs it."""

    def found() -> dict | None:
        ti = task_instances(stack)[task]
        return ti if ti["state"] == "running" and ti["pid"] else None

    return wait_for(f"{task} to run", found, timeout_s=300, every_s=0.2)


def container_of(stack: MwaaStack, pid: int) -> str:
    """The container whose processes include ``pid``: each component runs in a session."""
    components = stack.airflow.record()["components"].values()
    [container] = {c["container"] for c in components if c["session"]["pid"] == os.getsid(pid)}
    return container


def kill_container(stack: MwaaStack, container: str) -> None:
    """SIGKILL every process of ``container``, as a lost instance ends; wait until the launcher
    has replaced it, as ECS does."""
    before = sessions(stack.airflow.record(), container)
    for leader in before.values():
        for process in session_members(leader):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()

    def replaced() -> bool:
        after = sessions(stack.airflow.record(), container)
        return after.keys() == before.keys() and all(
            leader not in before.values() and leader.running() for leader in after.values()
        )

    wait_for(f"{container} to be replaced", replaced, timeout_s=120, every_s=0.5)


def kill_the_worker_running(fault: Fault, task: str) -> None:
    """Kill the Celery worker container that runs ``task``'s try, once it runs."""
    ti = running(fault.stack, task)
    worker = container_of(fault.stack, ti["pid"])
    assert worker in WORKERS
    fault.hit(task, ti)
    kill_container(fault.stack, worker)


@contextlib.contextmanager
def load_held(stack: MwaaStack) -> Iterator[int]:
    """The day's load inside its transaction, waiting on its advisory lock, which is held here
    until the block ends: yields the load's backend pid."""
    import psycopg

    from include.covid19_etl.load import ADVISORY_LOCK_KEY

    warehouse = Warehouse(stack.airflow.warehouse_uri)
    holder = psycopg.connect(warehouse.url, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        waiting = wait_for(
            "the load to wait on its lock", warehouse.waiting_for_the_load_lock, 300, every_s=0.5
        )
        yield waiting[0]
    finally:
        with contextlib.suppress(psycopg.Error):
            holder.close()  # releases the lock, unless a restart ended the session first


def test_a_worker_killed_during_validate_is_replaced_and_the_day_converges(
    stack: MwaaStack,
) -> None:
    fault = cleared(stack)
    kill_the_worker_running(fault, "validate")
    observed, measured = fault.outcome()
    record(FAULTS, "a Celery worker killed during validate", CONVERGED, observed, measured)


def test_a_worker_killed_during_load_commits_nothing_and_the_day_converges(
    stack: MwaaStack,
) -> None:
    fault = cleared(stack)
    with load_held(stack):
        kill_the_worker_running(fault, "load")
    observed, measured = fault.outcome()
    record(
        FAULTS, "a Celery worker killed during load, inside its transaction", CONVERGED,
        observed, measured,
    )  # fmt: skip


def test_the_scheduler_container_restarted_mid_run_and_the_day_converges(
    stack: MwaaStack,
) -> None:
    fault = cleared(stack)
    with load_held(stack):
        fault.hit("load", running(stack, "load"))
        kill_container(stack, SCHEDULER)

        def scheduler_healthy() -> bool:
            health = stack.airflow.get("/api/v2/monitor/health")
            return health["scheduler"]["status"] == "healthy"

        wait_for("the new scheduler to be healthy", scheduler_healthy, timeout_s=180)
    observed, measured = fault.outcome()
    record(
        FAULTS, "the scheduler container killed and restarted while load runs", CONVERGED,
        observed, measured,
    )  # fmt: skip


def test_the_warehouse_restarted_during_load_and_the_day_converges(stack: MwaaStack) -> None:
    fault = cleared(stack)
    with load_held(stack):
        fault.hit("load", running(stack, "load"))
        restart_server(stack.airflow.state / "warehouse")  # ends every session, the load's too
    observed, measured = fault.outcome()
    record(
        FAULTS, "the warehouse's PostgreSQL restarted during load", CONVERGED,
        observed, measured,
    )  # fmt: skip
