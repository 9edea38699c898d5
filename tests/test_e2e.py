"""End to end with ``dag.test()`` on the real files, a real PostgreSQL, HTTP and SNS (moto)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import psycopg
import pytest

from tests.conftest import FAILED_AT_VALIDATE, JHU_2021, NYT_2021, NYT_2023, staged_rows

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


@pytest.fixture
def asset_events(airflow_db):
    """The ``covid19.us_daily`` asset events published since the test began: (uri, extra)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    def since(first_id: int) -> list[tuple[str, dict]]:
        with create_session() as session:
            found = session.execute(
                select(AssetModel.uri, AssetEvent.extra)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .where(AssetModel.name == "covid19.us_daily", AssetEvent.id > first_id)
                .order_by(AssetEvent.id)
            )
            return [(uri, extra) for uri, extra in found]

    with create_session() as session:
        first = session.scalar(select(func.coalesce(func.max(AssetEvent.id), 0)))
    return lambda: since(first)


@pytest.fixture
def pipeline(sources, warehouse, raw_root, sns_topic, monkeypatch):
    """Everything the DAG needs, serving the 2021 NYT file and the JHU file."""
    sources.use(monkeypatch, nyt=NYT_2021.read_bytes(), jhu=JHU_2021.read_bytes())
    return warehouse


def test_first_run_loads_the_whole_history(pipeline, run_day, sns_topic, asset_events):
    dag_run = run_day("2021-03-16")

    assert str(dag_run.state) == "success", task_states(dag_run)
    rows = pipeline.us_daily()
    assert len(rows) == 420
    assert min(rows) == "2020-01-22" and max(rows) == "2021-03-16"
    assert rows["2020-12-13"][2] == 6298082
    assert all(rows[day][2] is None for day in rows if day >= "2020-12-14")
    assert rows["2021-03-16"] == (29569017, 536490, None)
    [message] = sns_topic.messages()
    assert "420 rows updated" in message["Subject"]
    assert "inserted:  420" in message["Message"]
    [(uri, extra)] = asset_events()
    assert uri == "postgres://localhost:5432/covid19/covid19/us_daily"  # COVID19_WAREHOUSE_LOCATION
    assert extra == {
        "as_of": "2021-03-16",
        "inserted": 420,
        "updated": 0,
        "unchanged": 0,
        "min_date": "2020-01-22",
        "max_date": "2021-03-16",
    }


def test_revised_history_updates_exactly_the_revised_rows(
    pipeline, run_day, sources, monkeypatch, asset_events
):
    run_day("2021-03-16")
    before = pipeline.us_daily()
    sources.use(monkeypatch, nyt=NYT_2023.read_bytes(), jhu=JHU_2021.read_bytes())

    dag_run = run_day("2021-03-16")

    assert str(dag_run.state) == "success", task_states(dag_run)
    after = pipeline.us_daily()
    revised = {day for day in before if before[day] != after[day]}
    assert after.keys() == before.keys()
    assert len(revised) == 213  # MISSION.md: 213 of the 420 joined dates differ
    assert after["2021-03-16"][0] == 29569140  # NYT's revised count for that day
    last = pipeline.etl_runs()[-1]
    assert last == (last[0], 420, 0, len(revised), 420 - len(revised))
    assert [extra["updated"] for _, extra in asset_events()] == [0, 213]


def test_rerun_changes_nothing(pipeline, run_day, asset_events):
    run_day("2021-03-16")
    before = pipeline.query("SELECT * FROM covid19.us_daily ORDER BY date")

    dag_run = run_day("2021-03-16")

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert pipeline.query("SELECT * FROM covid19.us_daily ORDER BY date") == before
    assert pipeline.etl_runs()[-1][1:] == (420, 0, 0, 420)
    # A no-op reload still announces itself: the table is current as of its day.
    rerun = asset_events()[-1][1]
    assert (rerun["inserted"], rerun["updated"], rerun["unchanged"]) == (0, 0, 420)


def test_incremental_days(pipeline, run_day):
    run_day("2021-03-10")
    assert len(pipeline.us_daily()) == 414

    run_day("2021-03-11")

    assert len(pipeline.us_daily()) == 415
    assert pipeline.etl_runs()[-1][1:] == (415, 1, 0, 414)


def test_malformed_source_fails_at_validate_and_changes_nothing(
    pipeline, run_day, sources, sns_topic, monkeypatch, asset_events
):
    run_day("2021-03-10")
    announced = asset_events()
    sns_topic.messages()  # drop the success message
    before = pipeline.dump()
    broken = NYT_2021.read_bytes().replace(b"2021-03-05,", b"2021-03-05,banana", 1)
    sources.use(monkeypatch, nyt=broken, jhu=JHU_2021.read_bytes())

    dag_run = run_day("2021-03-11")

    assert task_states(dag_run) == FAILED_AT_VALIDATE
    assert pipeline.dump() == before
    assert asset_events() == announced
    [message] = sns_topic.messages()
    assert "FAILED validate" in message["Subject"]
    assert "'nyt'" in message["Message"]
    assert "expect_column_values_to_match_regex(column='cases'" in message["Message"]
    assert "date='2021-03-05' cases='banana" in message["Message"]


def preload_days_reading_the_fixtures(warehouse_url: str, days: list[date]) -> None:
    """Loads of ``days`` that read the served fixture files, as the DAG would have."""
    from include.covid19_etl.load import upsert
    from include.covid19_etl.run_facts import RunFacts
    from include.covid19_etl.sources import JHU, NYT, daily_totals, read_text_table

    read = {
        spec.name: {
            "sha256": hashlib.sha256(data).hexdigest(),
            "max_date": daily_totals(spec, read_text_table(data))["date"].max(),
        }
        for spec, data in ((NYT, NYT_2021.read_bytes()), (JHU, JHU_2021.read_bytes()))
    }
    for day in days:
        with psycopg.connect(warehouse_url) as connection:
            upsert(connection, staged_rows(day), RunFacts.for_day(day), read)


def test_a_frozen_source_is_reported_stale_until_it_moves(
    pipeline, run_day, sources, monkeypatch, sns_topic, raw_root
):
    """The clock is each run's own day: three days of the same files, then the fourth says so."""
    first = date(2026, 11, 1)
    preload_days_reading_the_fixtures(pipeline.url, [first + timedelta(n) for n in range(3)])

    dag_run = run_day("2026-11-04")

    assert str(dag_run.state) == "success", task_states(dag_run)
    [message] = sns_topic.messages()
    assert "Stale sources, unchanged for 3 days or more" in message["Message"]
    assert (
        "NYT us.csv: newest date 2021-06-19, the same file since 2026-11-01 (3 days)"
        in (message["Message"])
    )
    report = (raw_root.parent / "reports" / "2026-11-04" / "us_daily.html").read_text()
    assert "Stale sources" in report and "the same file since 2026-11-01 (3 days)" in report

    sources.use(monkeypatch, nyt=NYT_2023.read_bytes(), jhu=JHU_2021.read_bytes())
    run_day("2026-11-05")

    [moved] = sns_topic.messages()
    stale_note = moved["Message"].split("Stale sources")[1]
    assert "NYT" not in stale_note and "JHU time-series" in stale_note
