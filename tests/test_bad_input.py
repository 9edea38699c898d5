"""Bad input through the DAG's own tasks (``dag.test()``), written to ``docs/reliability.md``.

Each case starts from a warehouse holding the history up to 2021-03-10; the run for 2021-03-11
gets the broken file. A failing case must:

1. fail at the right task (``extract`` for transport problems, ``validate`` for content);
2. leave the warehouse byte-for-byte unchanged;
3. publish a failure notification naming the source and the check;
4. leave the next day unable to start (Airflow's own dependency evaluation queues no task).

A benign variation, and the real decreases and revisions of NYT's 2023 file, must load the
right rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import JHU_2021, NYT_2021, NYT_2023, clean_us_daily
from tests.corpus import BENIGN, MALFORMED, MalformedCase
from tests.reliability_report import record

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

FAILING_DAY = "2021-03-11"
NEXT_DAY = "2021-03-12"


def failed_task(dag_run: Any) -> str:
    failed = sorted(ti.task_id for ti in dag_run.get_task_instances() if ti.state == "failed")
    return ",".join(failed) or "none"


def next_day_queueable(dag: Any, day: str) -> list[str]:
    """The tasks Airflow's scheduler logic would queue for ``day``'s run, without running any.

    ``dag.test()`` makes manual runs, and depends_on_past with catch-up looks back at scheduled
    runs only; so the failed run is relabelled as the scheduled run it stands for, and the next
    day's run is created as the scheduler would create it. Then Airflow's own dependency
    evaluation (``DagRun.update_state``) says what could start.
    """
    from airflow.models.dagrun import DagRun
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import select

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    with create_session() as session:
        latest = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag.dag_id).order_by(DagRun.id.desc())
        ).first()
        latest.run_type = DagRunType.SCHEDULED
        for stale in session.scalars(
            select(DagRun).where(DagRun.dag_id == dag.dag_id, DagRun.logical_date == end)
        ):
            session.delete(stale)
        session.flush()
        next_run = scheduler_dag.create_dagrun(
            run_id=f"scheduled__{end.isoformat()}",
            logical_date=end,
            data_interval=(start, end),
            run_after=end,
            conf=None,
            run_type=DagRunType.SCHEDULED,
            state=DagRunState.RUNNING,
            triggered_by=DagRunTriggeredByType.TIMETABLE,
            triggering_user_name=None,
            start_date=end,
            session=session,
        )
        schedulable, _ = next_run.update_state(session=session)
        queueable = sorted(ti.task_id for ti in schedulable)
        session.delete(next_run)  # leave no trace for the next case
    return queueable


def assert_stopped(
    case: str,
    *,
    task: str,
    source: str,
    check: str,
    warehouse,
    before: bytes,
    dag_run,
    sns_topic,
    covid19_dag,
    section: str = "bad input",
) -> None:
    """The four things every failing case must show."""
    messages = [m for m in sns_topic.messages() if "FAILED" in m["Subject"]]
    alert = messages[0]["Message"] if messages else ""
    observed = "; ".join(
        [
            f"failed at {failed_task(dag_run)}",
            "warehouse unchanged" if warehouse.dump() == before else "warehouse CHANGED",
            "alert names source and check"
            if source in alert and check in alert
            else f"alert missing source or check: {alert[:200]!r}",
            "next day blocked"
            if not next_day_queueable(covid19_dag, NEXT_DAY)
            else "next day could start",
        ]
    )
    expected = (
        f"failed at {task}; warehouse unchanged; alert names source and check; next day blocked"
    )
    record(section, case, expected, observed)


def serve_case(sources, monkeypatch, case: MalformedCase) -> None:
    files = {"nyt": NYT_2021.read_bytes(), "jhu": JHU_2021.read_bytes()}
    files[case.broken_file] = case.mutate(files[case.broken_file])
    sources.use(monkeypatch, **files)


NEWER_THAN_THE_WAREHOUSE = [
    MalformedCase(
        "nyt-newest-date-goes-backwards",
        "nyt",
        lambda data: data[: data.index(b"\n2021-03-06,")],
        "expect_column_max_to_be_between(column='date (parsed as YYYY-MM-DD)', "
        "min_value=2021-03-10",
        "observed 2021-03-05",
    ),
    MalformedCase(
        "jhu-newest-date-goes-backwards",
        "jhu",
        lambda data: b"\n".join(
            line for line in data.split(b"\n") if not line.startswith(b"2021-03-1")
        ),
        "US rows: expect_column_max_to_be_between(column='Date (parsed as YYYY-MM-DD)'",
        "observed 2021-03-09",
    ),
]


@pytest.mark.parametrize("case", MALFORMED + NEWER_THAN_THE_WAREHOUSE, ids=lambda case: case.id)
def test_malformed_input(case, loaded, sources, monkeypatch, run_day, sns_topic, covid19_dag):
    before = loaded.dump()
    serve_case(sources, monkeypatch, case)

    dag_run = run_day(FAILING_DAY)

    assert_stopped(
        case.id,
        task="validate",
        source=f"'{case.source}'",
        check=case.check,
        warehouse=loaded,
        before=before,
        dag_run=dag_run,
        sns_topic=sns_topic,
        covid19_dag=covid19_dag,
    )


TRANSPORT = {
    # case: (source, status, body factory, check named in the alert)
    "nyt-http-404": ("nyt", 404, lambda data: b"Not Found", "HTTP 404"),
    "jhu-http-410": ("jhu", 410, lambda data: b"Gone", "HTTP 410"),
    "nyt-10x-oversized": ("nyt", 200, lambda data: data * 10, "exceeds the size cap"),
    "jhu-10x-oversized": ("jhu", 200, lambda data: data * 10, "exceeds the size cap"),
}


@pytest.mark.parametrize("case", TRANSPORT, ids=str)
def test_transport_failure(case, loaded, sources, monkeypatch, run_day, sns_topic, covid19_dag):
    source, status, body, check = TRANSPORT[case]
    files = {"nyt": NYT_2021.read_bytes(), "jhu": JHU_2021.read_bytes()}  # `loaded` serves them
    url = sources.serve(f"broken/{source}.csv", body(files[source]), status=status)
    monkeypatch.setenv(f"AIRFLOW_VAR_COVID19_{source.upper()}_URL", url)
    before = loaded.dump()

    dag_run = run_day(FAILING_DAY)

    assert_stopped(
        case,
        task="extract",
        source=f"Source '{source}'",
        check=check,
        warehouse=loaded,
        before=before,
        dag_run=dag_run,
        sns_topic=sns_topic,
        covid19_dag=covid19_dag,
    )
    broken_requests = [r for r, _ in sources.server.log if r.path == f"/broken/{source}.csv"]
    made = len(broken_requests)
    observed = "1 (no retry)" if made == 1 else f"{made} ({made - 1} retries)"
    record("bad input", f"{case}: requests made", "1 (no retry)", observed)


@pytest.mark.parametrize("case", BENIGN, ids=lambda case: case.id)
def test_benign_variation_loads_the_right_rows(case, loaded, sources, monkeypatch, run_day):
    files = {"nyt": NYT_2021.read_bytes(), "jhu": JHU_2021.read_bytes()}
    files[case.source] = case.mutate(files[case.source])
    sources.use(monkeypatch, **files)

    dag_run = run_day(FAILING_DAY)

    rows = loaded.us_daily()
    observed = f"run {dag_run.state}; " + (
        "rows right" if rows == clean_us_daily(date(2021, 3, 11)) else f"{len(rows)} rows, WRONG"
    )
    record("benign input", case.id, "run success; rows right", observed)


def test_real_decreases_and_revisions_load(loaded, sources, monkeypatch, run_day):
    """NYT's 2023 file: real dips in cumulative totals and 213 revised days."""
    sources.use(monkeypatch, nyt=NYT_2023.read_bytes(), jhu=JHU_2021.read_bytes())

    dag_run = run_day(FAILING_DAY)

    inserted, updated = loaded.etl_runs()[-1][2:4]
    record(
        "benign input",
        "nyt-2023-file-with-revisions",
        "run success; 1 inserted, revised days updated",
        f"run {dag_run.state}; {inserted} inserted, "
        + ("revised days updated" if updated > 0 else "nothing updated"),
    )
