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
from datetime import date, timedelta

import psycopg
import psycopg2
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


@pytest.mark.parametrize("status", [500, 408])
def test_http_error_then_success_is_retried(status, loaded, sources, monkeypatch, run_day):
    sources.server.clear()
    sources.server.expect_ordered_request("/flaky/us.csv").respond_with_data("busy", status=status)
    sources.server.expect_ordered_request("/flaky/us.csv").respond_with_data(NYT_2021.read_bytes())
    sources.server.expect_request("/jhu.csv").respond_with_data(JHU_2021.read_bytes())
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_NYT_URL", sources.server.url_for("/flaky/us.csv"))
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_JHU_URL", sources.server.url_for("/jhu.csv"))

    dag_run = run_day("2021-03-11")

    record(
        "faults: HTTP",
        f"{status} then 200",
        "run success; 1 row inserted",
        f"run {dag_run.state}; {loaded.etl_runs()[-1][2]} row inserted",
    )


def fetch_from(server_behaviour, limits) -> str:
    """Serve ``server_behaviour`` on a raw socket, fetch from it once and say how it ended."""
    from include.covid19_etl.extract import FetchError, fetch

    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=server_behaviour, args=(listener,), daemon=True)
    thread.start()
    try:
        fetch("nyt", f"http://127.0.0.1:{listener.getsockname()[1]}/us.csv", limits, attempts=1)
        return "no error"
    except FetchError as err:
        kind = "permanent error" if err.permanent else "transient error (retried)"
        return kind + (
            "" if str(err).startswith("Source 'nyt': ") else f" not naming the source: {err}"
        )
    finally:
        listener.close()
        thread.join(timeout=10)


def http_fault(name: str, server_behaviour, limits) -> None:
    record("faults: HTTP", name, "transient error (retried)", fetch_from(server_behaviour, limits))


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


def malformed_content_length(listener: socket.socket) -> None:
    connection = _accept(listener)
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 12O\r\n\r\n" + NYT_2021.read_bytes()[:120]
    )
    connection.close()


DRIP_BYTES = (
    600  # one every 0.1 s: a minute, far past the 1 s total deadline and the 5 s read timeout
)
DRIP_FRAMING = {
    # framing: (headers, one byte of the body as sent)
    "Content-Length": (f"Content-Length: {DRIP_BYTES}\r\n".encode(), lambda byte: byte),
    "chunked": (b"Transfer-Encoding: chunked\r\n", lambda byte: b"1\r\n" + byte + b"\r\n"),
    "read until close": (b"Connection: close\r\n", lambda byte: byte),
}


class Drip:
    """A server sending a whole response one byte every 0.1 s; it knows whether the client hung
    up before the end."""

    def __init__(self, framing: str) -> None:
        self.headers, self.frame = DRIP_FRAMING[framing]
        self.client_left = False

    def __call__(self, listener: socket.socket) -> None:
        connection = _accept(listener)
        body = (NYT_2021.read_bytes() * 2)[:DRIP_BYTES]
        try:
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n" + self.headers + b"\r\n"
            )
            for byte in body:
                connection.sendall(self.frame(bytes([byte])))
                time.sleep(0.1)
        except OSError:
            self.client_left = True  # the client gave up, as it should
        connection.close()


def test_read_timeout():
    from include.covid19_etl.extract import Limits

    http_fault("read timeout", stall, Limits(max_bytes=1 << 20, read_timeout=0.5))


def test_connection_reset():
    from include.covid19_etl.extract import Limits

    http_fault("connection reset", reset, Limits(max_bytes=1 << 20))


def test_malformed_content_length_names_the_source():
    from include.covid19_etl.extract import Limits

    http_fault("malformed Content-Length", malformed_content_length, Limits(max_bytes=1 << 20))


@pytest.mark.parametrize("framing", DRIP_FRAMING)
def test_slow_drip_body_stops_at_the_total_deadline(framing):
    """A byte every 0.1 s never trips the 5 s read timeout; the 1 s total deadline must end the
    download while the server is still sending (a minute's worth), whatever the framing."""
    from include.covid19_etl.extract import Limits

    drip = Drip(framing)
    started = time.monotonic()
    outcome = fetch_from(drip, Limits(max_bytes=1 << 20, read_timeout=5, total_timeout=1))
    took = time.monotonic() - started
    record(
        "faults: HTTP",
        f"slow-drip body, {framing}",
        "transient error (retried) while the server still sends",
        outcome
        + (" while the server still sends" if drip.client_left else " after the server finished"),
        f"given up after {took:.1f} s (total deadline 1 s)",
    )


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


def test_a_dead_connection_is_closed_even_when_its_rollback_fails(warehouse, monkeypatch):
    """The dashboard's reads: the server drops the connection mid-read; psycopg2 (which the
    Postgres provider hands out on SQLAlchemy 1.x installs) then fails the rollback too."""
    from covid19_common import warehouse as read_side

    opened: list[psycopg2.extensions.connection] = []

    def psycopg2_connection() -> psycopg2.extensions.connection:
        opened.append(psycopg2.connect(warehouse.url))
        return opened[-1]

    monkeypatch.setattr(read_side, "connection", psycopg2_connection)
    try:
        with read_side.read_only_cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            with psycopg.connect(warehouse.url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", cursor.fetchone())
            with pytest.raises(psycopg2.OperationalError):
                cursor.execute("SELECT 1")
        observed = "no error"
    except psycopg2.InterfaceError:
        observed = "rollback fails"
    # psycopg2: 1 once close() ran, 2 for a connection that broke and was left open.
    observed += "; connection closed" if opened[0].closed == 1 else "; connection LEFT OPEN"
    record(
        "faults: database",
        "connection lost while the dashboard reads",
        "rollback fails; connection closed",
        observed,
    )


@pytest.fixture
def report_on_its_last_try(covid19_dag):
    """The DAG's report task with no retries left to take (its first try is its last) and, for
    the hanging case, a 2 s execution_timeout instead of 30 minutes."""
    report = covid19_dag.get_task("report")
    saved = report.retries, report.execution_timeout
    report.retries, report.execution_timeout = 0, timedelta(seconds=2)
    yield report
    report.retries, report.execution_timeout = saved


def reports_folder_is_a_file(raw_root, monkeypatch) -> None:
    raw_root.parent.mkdir(parents=True, exist_ok=True)
    (raw_root.parent / "reports").write_text("not a folder")


def report_file_never_opens(raw_root, monkeypatch) -> None:
    """A named pipe where the page goes: opening it for writing waits for a reader for ever."""
    dated = raw_root.parent / "reports" / "2021-03-11"
    dated.mkdir(parents=True)
    os.mkfifo(dated / "us_daily.html")


REPORT_FAULTS = {
    "the reports folder is a file (an error)": reports_folder_is_a_file,
    "writing hangs past execution_timeout (AirflowTaskTimeout)": report_file_never_opens,
}


@pytest.mark.parametrize("fault", REPORT_FAULTS)
def test_a_report_failing_on_its_last_try_ends_skipped(
    fault, loaded, raw_root, sns_topic, run_day, report_on_its_last_try, monkeypatch
):
    REPORT_FAULTS[fault](raw_root, monkeypatch)

    dag_run = run_day("2021-03-11")

    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    alerts = [m["Subject"] for m in sns_topic.messages() if "REPORT NOT WRITTEN" in m["Subject"]]
    record(
        "faults: report",
        f"{fault}, on the last try",
        "report skipped with an alert; run success; day loaded",
        f"report {states['report']}"
        + (" with an alert" if alerts else " WITHOUT an alert")
        + f"; run {dag_run.state}; "
        + ("day loaded" if loaded.etl_runs()[-1][0] == date(2021, 3, 11) else "day NOT loaded"),
    )


def test_a_report_whose_settings_cannot_be_read_ends_skipped(loaded, sns_topic, monkeypatch):
    """The report task's whole body is report.run: its Variable read fails like the rest.
    (Through report.run: every other task reads the same settings, so the DAG could not get
    that far.)"""
    from airflow.sdk.exceptions import AirflowSkipException

    from include.covid19_etl import report

    def unreachable_secrets_backend():
        raise ConnectionError("could not reach the secrets backend")

    monkeypatch.setattr("include.covid19_etl.settings.load_settings", unreachable_secrets_backend)
    try:
        report.run(date(2021, 3, 10), run_id="scheduled__2021-03-11", final_try=True)
        observed = "report written"
    except AirflowSkipException:
        observed = "report skipped"
    alerts = [m for m in sns_topic.messages() if "REPORT NOT WRITTEN" in m["Subject"]]
    record(
        "faults: report",
        "the settings cannot be read, on the last try",
        "report skipped with an alert naming the error",
        observed
        + (
            " with an alert naming the error"
            if alerts and "ConnectionError: could not reach" in alerts[0]["Message"]
            else " WITHOUT an alert naming the error"
        ),
    )
