"""The load step against a real PostgreSQL: bulk upsert, counts, atomicity, locking, migrations."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Any

import psycopg
import psycopg2
import pytest
from local_stack import wait_for

from covid19_common.warehouse import SourceFreshness, source_freshness
from include.covid19_etl import load
from include.covid19_etl.run_facts import RunFacts
from tests.conftest import load_rows, sources_read

pytestmark = pytest.mark.integration

HEADER = b"date,cases,deaths,recovered\n"
THREE_DAYS = (
    HEADER
    + b"2020-12-12,16184622,297981,6246605\n"
    + b"2020-12-13,16368842,299338,6298082\n"
    + b"2020-12-14,16569737,301016,\n"
)


LOADED_DAY = date(2020, 12, 14)


def upsert(
    url: str, csv: bytes, run_id: str = "run-1", day: date = LOADED_DAY, **read: Any
) -> load.LoadResult:
    return load_rows(url, csv, day, run_id, newest=LOADED_DAY, **read)


def test_first_load_inserts_every_row_and_records_the_run(warehouse):
    result = upsert(warehouse.url, THREE_DAYS)

    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    assert (result.table_rows, result.min_date, result.max_date) == (3, "2020-12-12", "2020-12-14")
    assert warehouse.us_daily()["2020-12-14"] == (16569737, 301016, None)
    assert warehouse.etl_runs() == [(date(2020, 12, 14), 3, 3, 0, 0)]


def test_same_rows_again_change_nothing(warehouse):
    upsert(warehouse.url, THREE_DAYS)
    before = warehouse.query("SELECT * FROM covid19.us_daily ORDER BY date")

    result = upsert(warehouse.url, THREE_DAYS, run_id="run-2")

    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 3)
    assert warehouse.query("SELECT * FROM covid19.us_daily ORDER BY date") == before


def test_revised_row_is_updated_not_duplicated(warehouse):
    upsert(warehouse.url, THREE_DAYS)
    revised = THREE_DAYS.replace(b"2020-12-13,16368842", b"2020-12-13,16368900")

    result = upsert(warehouse.url, revised + b"2020-12-15,16772856,304041,\n", run_id="run-2")

    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 2)
    assert warehouse.query(
        "SELECT cases, first_loaded_by, last_changed_by FROM covid19.us_daily WHERE date = %s",
        date(2020, 12, 13),
    ) == [(16368900, "run-1", "run-2")]


def test_null_recovered_compares_equal_to_null(warehouse):
    upsert(warehouse.url, THREE_DAYS)

    result = upsert(warehouse.url, THREE_DAYS)

    assert result.updated == 0


def test_a_failure_midway_leaves_the_warehouse_exactly_as_it_was(warehouse):
    upsert(warehouse.url, THREE_DAYS)
    before = warehouse.dump()
    # The first rows are fine; a negative count breaks a CHECK after they were staged.
    broken = THREE_DAYS.replace(b"2020-12-13,16368842", b"2020-12-13,16368900") + (
        b"2020-12-15,-5,304041,\n"
    )

    with pytest.raises(psycopg.errors.CheckViolation):
        upsert(warehouse.url, broken, run_id="run-2")

    assert warehouse.dump() == before


def test_migrations_are_idempotent(warehouse):
    with psycopg.connect(warehouse.url) as connection, connection.cursor() as cursor:
        assert load.migrate(cursor) == [version for version, _, _ in load.migrations()]
        assert load.migrate(cursor) == []


def test_psycopg2_connections_work_too(warehouse):
    """The Postgres provider hands out psycopg2 connections with SQLAlchemy 1.x installs."""
    connection = psycopg2.connect(warehouse.url)
    try:
        result = load.upsert(
            connection, THREE_DAYS, RunFacts.for_day(LOADED_DAY), sources_read(newest=LOADED_DAY)
        )
    finally:
        connection.close()

    assert result.inserted == 3
    assert len(warehouse.us_daily()) == 3


def test_concurrent_loads_wait_for_each_other(warehouse):
    """A second load waits on the advisory lock (PostgreSQL lists it as not granted) until the
    first transaction ends, then finds the rows loaded."""
    upsert(warehouse.url, THREE_DAYS)
    holder = psycopg.connect(warehouse.url)
    holder.execute("SELECT pg_advisory_xact_lock(%s)", (load.ADVISORY_LOCK_KEY,))
    holder_pid = holder.info.backend_pid
    results = []
    worker = threading.Thread(
        target=lambda: results.append(upsert(warehouse.url, THREE_DAYS, run_id="run-2"))
    )
    worker.start()
    try:
        waiting = wait_for(
            "the second load to wait on the lock",
            warehouse.waiting_for_the_load_lock,
            timeout_s=30,
            every_s=0.05,
        )
        assert results == []
    finally:
        holder.rollback()
        holder.close()
    worker.join(timeout=30)
    assert len(waiting) == 1 and waiting[0] != holder_pid
    assert results[0].unchanged == 3


def test_load_task_reads_the_staged_file_through_the_connection(warehouse, tmp_path):
    staged = tmp_path / "us_daily.csv"
    staged.write_bytes(THREE_DAYS)

    loaded = load.run(
        {
            "url": f"file://{staged}",
            "sources": {
                "nyt": {"sha256": "n" * 64, "max_date": "2020-12-14"},
                "jhu": {"sha256": "j" * 64, "max_date": "2020-12-13"},
            },
        },
        RunFacts.for_day(LOADED_DAY),
    )

    assert loaded["inserted"] == 3
    assert warehouse.query(
        "SELECT nyt_sha256, nyt_max_date, jhu_sha256, jhu_max_date FROM covid19.etl_runs"
    ) == [("n" * 64, date(2020, 12, 14), "j" * 64, date(2020, 12, 13))]


def test_a_staged_file_with_a_repeated_date_is_refused(warehouse):
    upsert(warehouse.url, THREE_DAYS)
    before = warehouse.dump()

    with pytest.raises(psycopg.errors.UniqueViolation):
        upsert(warehouse.url, THREE_DAYS + b"2020-12-14,16569999,301016,\n", run_id="run-2")

    assert warehouse.dump() == before


DAY = date(2026, 11, 1)


def test_a_source_serving_the_same_file_counts_its_unchanged_days(warehouse):
    for n in range(4):
        result = upsert(warehouse.url, THREE_DAYS, run_id=f"day-{n}", day=DAY + timedelta(n))

    assert result.sources["nyt"] == SourceFreshness("2020-12-14", "2026-11-01", 3)
    assert result.sources["jhu"].days_unchanged == 3


def test_a_source_that_moves_starts_counting_again_on_its_own(warehouse):
    for n, nyt in enumerate("nnnmm"):
        result = upsert(warehouse.url, THREE_DAYS, run_id=f"d{n}", day=DAY + timedelta(n), nyt=nyt)

    assert result.sources["nyt"] == SourceFreshness("2020-12-14", "2026-11-04", 1)
    assert result.sources["jhu"] == SourceFreshness("2020-12-14", "2026-11-01", 4)


def test_freshness_is_read_as_of_a_day_not_the_newest_load(warehouse):
    for n, nyt in enumerate("nnmm"):
        upsert(warehouse.url, THREE_DAYS, run_id=f"d{n}", day=DAY + timedelta(n), nyt=nyt)

    with psycopg.connect(warehouse.url) as connection, connection.cursor() as cursor:
        assert source_freshness(cursor, DAY + timedelta(1))["nyt"].days_unchanged == 1
        assert source_freshness(cursor, DAY - timedelta(1)) == {}
