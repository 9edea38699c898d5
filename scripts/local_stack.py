"""Start ``scripts/run_local.py`` in the background, talk to it, and stop it: for the tests and
the benchmarks.

The same launcher a developer runs with ``make run`` (embedded PostgreSQL, the real scheduler,
dag-processor, triggerer and api-server, or the MWAA profile), on fresh state in a temporary
folder and a free port, driven through the REST API as the UI drives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from launch_guard import Pid, processes_of, read_record, record_path
from local_postgres import postmasters

from covid19_common.names import DAG_ID

REPO_ROOT = Path(__file__).resolve().parents[1]
# Airflow settings of the calling process (the tests' own Airflow home, a developer's
# Variables) never leak into the stack: it gets only what the caller passes.
CALLER_OWNED = ("AIRFLOW_HOME", "AIRFLOW__", "AIRFLOW_VAR_", "AIRFLOW_CONN_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    what: str, check: Callable[[], Any], timeout_s: float = 300, every_s: float = 2
) -> Any:
    """Poll ``check`` until it returns something truthy (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what}")


def launch_processes(record: dict[str, Any]) -> list[Any]:
    """Every live process of a recorded launch (``psutil.Process``): its launcher, its guard,
    its components' sessions, its PostgreSQL servers and their children."""
    import psutil

    launcher = Pid(**record["launcher"]).running()
    found = [*([launcher] if launcher else []), *processes_of(record)]
    for server in postmasters([Path(folder) for folder in record["pgdata"]]):
        with contextlib.suppress(psutil.NoSuchProcess):
            found += [server, *server.children()]
    return found


@dataclass
class AirflowApi:
    """An Airflow api-server on localhost, called as the UI calls it, with one login."""

    port: int
    password: str
    username: str = field(default="admin", kw_only=True)
    _token: str | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://localhost:{self.port}"

    def token(self) -> str:
        """A JWT for the login, made once."""
        if self._token is None:
            body = {"username": self.username, "password": self.password}
            self._token = self.call("POST", "/auth/token", body, token="")["access_token"]
        return self._token

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """One request to the api-server (the REST API or a plugin's) as the UI makes it.

        Raises ``urllib.error.HTTPError`` on 4xx/5xx; its ``read()`` has Airflow's message.
        """
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        token = self.token() if token is None else token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (http only)
            return json.loads(response.read() or b"null")

    def get(self, path: str, token: str | None = None) -> Any:
        """GET a JSON path of the api-server."""
        return self.call("GET", path, token=token)

    def parsed(self, dag_id: str) -> bool:
        """Whether the dag-processor has parsed ``dag_id`` yet: until then the API answers 404."""
        try:
            self.get(f"/api/v2/dags/{dag_id}")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return False
            raise
        return True

    def day_runs(self, dag_id: str) -> dict[date, dict]:
        """The DAG's runs by the day their data interval starts."""
        found = self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=logical_date&limit=100")
        return {
            datetime.fromisoformat(r["data_interval_start"]).date(): r for r in found["dag_runs"]
        }

    def task_instances(self, dag_id: str, run: dict) -> dict[str, dict]:
        """A run's task instances by task id."""
        found = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")
        return {ti["task_id"]: ti for ti in found["task_instances"]}

    def wait_for_run(self, dag_id: str, day: date, state: str, timeout_s: float = 300) -> dict:
        """Wait for the DAG's run for ``day`` to be in ``state``; return it."""

        def reached() -> dict | None:
            run = self.day_runs(dag_id).get(day)
            return run if run and run["state"] == state else None

        return wait_for(f"the run for {day} to be {state}", reached, timeout_s, every_s=1)


@dataclass
class LocalAirflow(AirflowApi):
    """A running local Airflow (``make run``'s launcher) and where its state lives."""

    state: Path
    log_path: Path
    launcher: subprocess.Popen  # in a process group of its own, as make runs it
    warehouse_uri: str

    def record(self) -> dict[str, Any]:
        """The launch's record (launch_guard.py): its launcher, guard and sessions."""
        return read_record(record_path(self.state))

    @property
    def reports(self) -> Path:
        """Where the report task writes (``covid19_raw_root`` defaults to state/lake/raw)."""
        return self.state / "lake" / "reports"

    def warehouse(self, sql: str) -> list[tuple]:
        """Run one statement in the warehouse and commit; its rows, if it returns any."""
        import psycopg

        with psycopg.connect(self.warehouse_uri) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []


def launcher_argv(state: Path, port: int, *args: str) -> list[str]:
    return [
        sys.executable,
        str(REPO_ROOT / "scripts" / "run_local.py"),
        "--state-dir",
        str(state),
        "--port",
        str(port),
        # A test has what it needs when it stops the stack: no task is worth waiting for.
        "--stop-timeout",
        "3",
        *args,
    ]


def launcher_environment(env: dict[str, str]) -> dict[str, str]:
    """This environment without the caller's Airflow settings, plus ``env``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(CALLER_OWNED)}
    return {**inherited, **env}


@contextlib.contextmanager
def local_airflow(
    env: dict[str, str],
    *args: str,
    ready_timeout_s: float = 300,
    state: Path | None = None,
    port: int | None = None,
) -> Iterator[LocalAirflow]:
    """Run ``scripts/run_local.py *args`` with ``env`` added to this environment; stop it after.

    ``state`` and ``port``: a launch after an earlier one's (the caller then deletes ``state``);
    by default fresh ones. Prints the tail of the launcher's log on the way out, to see why when
    something failed.
    """
    owned = state is None
    # A short path: PostgreSQL's Unix socket lives in the state folder.
    state = state or Path(tempfile.mkdtemp(prefix="c19run-"))
    port = port or free_port()
    state.mkdir(parents=True, exist_ok=True)
    log_path = state / "run_local.log"
    with log_path.open("wb") as output:
        launcher = subprocess.Popen(
            launcher_argv(state, port, *args),
            env=launcher_environment(env),
            stdout=output,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
    try:
        wait_for(
            "Airflow to be ready",
            lambda: launcher.poll() is not None or b"Airflow is ready" in log_path.read_bytes(),
            timeout_s=ready_timeout_s,
            every_s=1,
        )
        assert launcher.poll() is None, log_path.read_text()
        password = json.loads((state / "airflow" / "passwords.json").read_text())["admin"]
        warehouse_uri = read_record(record_path(state))["warehouse"]
        airflow = LocalAirflow(port, password, state, log_path, launcher, warehouse_uri)
        # Ready means healthy, not parsed: the DAG files take the dag-processor a few seconds
        # more (a minute on busy cores), and the API answers 404 for the DAG until then.
        wait_for(
            "the DAG to be parsed",
            lambda: airflow.parsed(DAG_ID),
            timeout_s=ready_timeout_s,
            every_s=1,
        )
        yield airflow
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=90)
        except subprocess.TimeoutExpired:
            launcher.kill()
        print(log_path.read_text()[-3000:])
        if owned:
            shutil.rmtree(state, ignore_errors=True)
