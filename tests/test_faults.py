"""Faults injected for real, written to ``docs/reliability.md``: HTTP servers that fail, stall,
reset or drip; a PostgreSQL backend killed or timed out inside the load transaction; a worker
process killed with SIGKILL; two loads at once; SNS unreachable.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date

import psycopg
import pytest
from local_postgres import airflow_connection_json
from local_stack import free_port

from include.covid19_etl import load, notify
from include.covid19_etl.run_facts import RunFacts
from tests.conftest import (
    JHU_2021,
    NYT_2021,
    REPO_ROOT,
    clean_us_daily,
    load_rows,
    preload,
    sources_read,
    staged_rows,
)
from tests.reliability_report import record

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_http_500_then_success_is_retried(loaded, sources, monkeypatch, run_day):
    sources.server.clear()
    sources.server.expect_ordered_request("/flaky/us.csv").respond_with_data("busy", status=500)
    sources.server.expect_ordered_request("/flaky/us.csv").respond_with_data(NYT_2021.read_bytes())
    sources.server.expect_request("/jhu.csv").respond_with_data(JHU_2021.read_bytes())
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_NYT_URL", sources.server.url_for("/flaky/us.csv"))
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_JHU_URL", sources.server.url_for("/jhu.csv"))

    dag_run = run_day("2021-03-11")

    record(
        "faults: HTTP",
        "500 then 200",
        "run success; 1 row inserted",
        f"run {dag_run.state}; {loaded.etl_runs()[-1][2]} row inserted",
    )


def http_fault(name: str, server_behaviour, limits) -> None:
    """Serve ``server_behaviour`` on a raw socket and fetch from it once."""
    from include.covid19_etl.extract import FetchError, fetch

    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=server_behaviour, args=(listener,), daemon=True)
    thread.start()
    try:
        fetch("nyt", f"http://127.0.0.1:{listener.getsockname()[1]}/us.csv", limits, attempts=1)
        observed = "no error"
    except FetchError as err:
        observed = "permanent error" if err.permanent else "transient error (retried)"
    finally:
        listener.close()
        thread.join(timeout=10)
    record("faults: HTTP", name, "transient error (retried)", observed)


def _accept(listener: socket.socket) -> socket.socket:
    connection, _ = listener.accept()
    connection.recv(65536)
    return connection


def stall(listener: socket.socket) -> None:
    connection = _accept(listener)
    time.sleep(2)
    connection.close()


def reset(listener: socket.socket) -> None:
    connection = _accept(listener)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    connection.close()


def drip(listener: socket.socket) -> None:
    connection = _accept(listener)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\r\n")
    try:
        for byte in NYT_2021.read_bytes()[:40]:
            connection.sendall(bytes([byte]))
            time.sleep(0.1)
    except OSError:
        pass  # the client gave up, as it should
    connection.close()


def test_read_timeout():
    from include.covid19_etl.extract import Limits

    http_fault("read timeout", stall, Limits(max_bytes=1 << 20, read_timeout=0.5))


def test_connection_reset():
    from include.covid19_etl.extract import Limits

    http_fault("connection reset", reset, Limits(max_bytes=1 << 20))


def test_slow_drip_body():
    from include.covid19_etl.extract import Limits

    http_fault("slow-drip body", drip, Limits(max_bytes=1 << 20, read_timeout=5, total_timeout=1))


SLOW_TRIGGER = """
CREATE FUNCTION covid19.slow_down() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM pg_sleep(%s); RETURN NEW; END $$;
CREATE TRIGGER slow_down BEFORE INSERT ON covid19.etl_runs
    FOR EACH ROW EXECUTE FUNCTION covid19.slow_down();
"""


def slow_down_loads(url: str, seconds: float) -> None:
    """Make every load pause inside its transaction, after the upsert, before it commits."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SLOW_TRIGGER.replace("%s", str(seconds)))


def stop_slowing_down(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TRIGGER slow_down ON covid19.etl_runs")


def wait_for_sleeping_load(url: str, timeout_s: float = 30) -> int:
    """The backend pid of a load paused inside the trigger."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event = 'PgSleep'"
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
    raise AssertionError("no load reached the trigger")


def test_database_unavailable_at_load(warehouse, monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    preload(warehouse.url)
    before = warehouse.dump()
    monkeypatch.setenv(
        "AIRFLOW_CONN_COVID19_WAREHOUSE",
        airflow_connection_json(f"postgresql://postgres@127.0.0.1:{free_port()}/covid19"),
    )
    staged = tmp_path / "staged.csv"
    staged.write_bytes(staged_rows(date(2021, 3, 11)))

    try:
        load.run(
            {"url": f"file://{staged}", "sources": sources_read()},
            RunFacts.for_day(date(2021, 3, 11)),
        )
        observed = "loaded"
    except AirflowFailException:
        observed = "failed without retry"
    except psycopg.OperationalError:
        observed = "retryable error"
    observed += "; warehouse unchanged" if warehouse.dump() == before else "; warehouse CHANGED"
    record(
        "faults: database", "unavailable at load", "retryable error; warehouse unchanged", observed
    )


def test_connection_killed_inside_the_load_transaction(warehouse):
    preload(warehouse.url)
    before = warehouse.dump()
    slow_down_loads(warehouse.url, 30)
    errors: list[BaseException] = []

    def doomed_load() -> None:
        try:
            load_rows(warehouse.url, staged_rows(date(2021, 3, 16)), date(2021, 3, 16))
        except psycopg.Error as err:
            errors.append(err)

    worker = threading.Thread(target=doomed_load)
    worker.start()
    pid = wait_for_sleeping_load(warehouse.url)
    with psycopg.connect(warehouse.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    worker.join(timeout=30)
    unchanged = warehouse.dump() == before
    stop_slowing_down(warehouse.url)
    retry = load_rows(warehouse.url, staged_rows(date(2021, 3, 16)), date(2021, 3, 16))

    record(
        "faults: database",
        "connection killed mid-transaction",
        "error; warehouse unchanged; next try inserts 6",
        f"{'error' if errors else 'no error'}; "
        f"{'warehouse unchanged' if unchanged else 'warehouse CHANGED'}; "
        f"next try inserts {retry.inserted}",
    )


def test_statement_timeout_rolls_back(warehouse):
    preload(warehouse.url)
    before = warehouse.dump()
    slow_down_loads(warehouse.url, 5)

    try:
        with psycopg.connect(warehouse.url) as connection:
            load.upsert(
                connection,
                staged_rows(date(2021, 3, 16)),
                RunFacts.for_day(date(2021, 3, 16)),
                sources_read(),
                statement_timeout="500ms",
            )
        observed = "committed"
    except psycopg.errors.QueryCanceled:
        observed = "statement timeout"
    observed += "; warehouse unchanged" if warehouse.dump() == before else "; warehouse CHANGED"
    record(
        "faults: database", "statement timeout", "statement timeout; warehouse unchanged", observed
    )


# The load of conftest's load_rows, without importing conftest: that would make an Airflow home
# which this process, killed, could never remove.
KILLABLE_LOAD = """
import datetime
import sys
sys.path[:0] = {paths!r}
import psycopg
from include.covid19_etl.load import upsert
from include.covid19_etl.run_facts import RunFacts
with psycopg.connect({url!r}) as connection:
    facts = RunFacts.for_day(datetime.date(2021, 3, 16), "killed")
    upsert(connection, open({staged!r}, "rb").read(), facts, {sources!r})
"""


def test_worker_killed_during_load(warehouse, tmp_path):
    preload(warehouse.url)
    before = warehouse.dump()
    slow_down_loads(warehouse.url, 3)
    staged = tmp_path / "staged.csv"
    staged.write_bytes(staged_rows(date(2021, 3, 16)))
    code = KILLABLE_LOAD.format(
        paths=[str(REPO_ROOT / folder) for folder in ("plugins", "scripts", ".")],
        url=warehouse.url,
        staged=str(staged),
        sources=sources_read(),
    )
    worker = subprocess.Popen([sys.executable, "-c", code])
    wait_for_sleeping_load(warehouse.url)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    stop_slowing_down(warehouse.url)  # the orphaned backend still sleeps, holding its lock
    unchanged = warehouse.dump() == before

    # The rerun (what a cleared task does) waits for the orphan to roll back, then loads.
    load_rows(warehouse.url, staged_rows(date(2021, 3, 16)), date(2021, 3, 16), "rerun")

    equal = warehouse.us_daily() == clean_us_daily(date(2021, 3, 16))
    record(
        "faults: worker",
        "SIGKILL during load, then rerun",
        "warehouse unchanged; rerun equals a clean run",
        f"{'warehouse unchanged' if unchanged else 'warehouse CHANGED'}; "
        f"rerun {'equals' if equal else 'DIFFERS FROM'} a clean run",
    )


def test_two_loads_at_once_never_interleave(warehouse):
    preload(warehouse.url)
    slow_down_loads(warehouse.url, 1)
    results: dict[int, load.LoadResult] = {}

    def load_as_of(run: int, day: date) -> None:
        results[run] = load_rows(warehouse.url, staged_rows(day), day, f"run-{run}")

    threads = [threading.Thread(target=load_as_of, args=(run, date(2021, 3, 16))) for run in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    counts = sorted((r.inserted, r.unchanged) for r in results.values())
    runs = warehouse.etl_runs()
    record(
        "faults: concurrency",
        "two loads of the same day at once",
        "one inserts 6, the other finds them: [(0, 420), (6, 414)]",
        ("one inserts 6, the other finds them" if counts == [(0, 420), (6, 414)] else "mixed")
        + f": {counts}",
    )
    assert len(runs) == 3


def test_sns_unavailable_at_notify(warehouse, sns_topic, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    preload(warehouse.url)
    loaded_result = preload(warehouse.url, date(2021, 3, 16)).to_xcom()
    before = warehouse.dump()
    healthy_connection = os.environ["AIRFLOW_CONN_AWS_DEFAULT"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        '{"conn_type": "aws", "extra": {"region_name": "us-east-1", '
        '"endpoint_url": "http://127.0.0.1:9", "config_kwargs": {"retries": {"max_attempts": 1}}}}',
    )
    try:
        notify.run(loaded_result, date(2021, 3, 16), "scheduled__2021-03-16")
        first = "published"
    except AirflowFailException:
        first = "failed without retry"
    except Exception:
        first = "failed (retryable)"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", healthy_connection)
    notify.run(loaded_result, date(2021, 3, 16), "scheduled__2021-03-16")  # Airflow's retry
    [message] = sns_topic.messages()

    record(
        "faults: SNS",
        "unavailable at notify, then retried",
        "failed (retryable); retry publishes 6 rows updated; warehouse untouched",
        f"{first}; retry publishes "
        f"{message['Subject'].split(': ')[1]}; "
        + ("warehouse untouched" if warehouse.dump() == before else "warehouse CHANGED"),
    )
