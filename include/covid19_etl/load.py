"""Load step: one transaction that bulk-upserts the day's rows into ``covid19.us_daily``.

Inside a single transaction, under an advisory lock (two runs never interleave their writes):

1. migrate the schema if needed (``sql/NNN_*.sql``, recorded in ``covid19.schema_migrations``);
2. ``COPY`` the staged CSV into a temporary table;
3. ``UPDATE`` the rows that really changed and ``INSERT`` the new ones, in one statement, so
   revised history is updated, never duplicated, and an unchanged row is not even rewritten;
4. record the counts in ``covid19.etl_runs``.

Any failure rolls everything back: the warehouse stays exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from importlib import resources
from typing import Any

from covid19_common.names import SCHEMA
from covid19_common.warehouse import SourceFreshness, source_freshness
from include.covid19_etl.run_facts import RunFacts

log = logging.getLogger(__name__)

# Any constant works; this one is "covid19_etl" in ASCII, so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x636F766964313965
STATEMENT_TIMEOUT = "10min"

# Every statement is a constant: values travel as parameters; the only identifiers are this
# module's fixed schema and table names (no identifier ever comes from input).
BOOTSTRAP_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""

APPLIED_SQL = f"SELECT version FROM {SCHEMA}.schema_migrations"
RECORD_MIGRATION_SQL = f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES (%s, %s)"
SPAN_SQL = f"SELECT count(*), min(date), max(date) FROM {SCHEMA}.us_daily"

# The staging key is built after the COPY (one sorted build instead of an index insert per
# row); a staged file with a repeated date still fails the load there.
STAGE_SQL = """
CREATE TEMPORARY TABLE us_daily_stage (
    date date NOT NULL, cases bigint NOT NULL, deaths bigint NOT NULL, recovered bigint
) ON COMMIT DROP
"""
COPY_SQL = (
    "COPY us_daily_stage (date, cases, deaths, recovered) FROM STDIN WITH (FORMAT csv, HEADER true)"
)
STAGE_KEY_SQL = "ALTER TABLE us_daily_stage ADD PRIMARY KEY (date)"

# Update what changed, insert what is new, in one statement. Both halves see the statement's
# snapshot, so a row is updated or inserted, never both. Not INSERT ... ON CONFLICT: its
# speculative insertion probes and confirms every row, even where nothing can conflict: that
# statement was 80 % of a 1 M-row load, and dropping it made the load 1.7x as fast
# (docs/benchmarks.md). Our loads are serialised by the advisory lock; a foreign writer racing
# on a date makes the INSERT fail with a unique violation, which rolls the whole load back:
# nothing is silently lost.
UPSERT_SQL = f"""
WITH updated AS (
    UPDATE {SCHEMA}.us_daily AS target SET
        cases = stage.cases,
        deaths = stage.deaths,
        recovered = stage.recovered,
        last_changed_by = %(run_id)s,
        last_changed_at = now()
    FROM us_daily_stage AS stage
    WHERE target.date = stage.date
      AND (target.cases, target.deaths, target.recovered)
          IS DISTINCT FROM (stage.cases, stage.deaths, stage.recovered)
    RETURNING 1
), inserted AS (
    INSERT INTO {SCHEMA}.us_daily
        (date, cases, deaths, recovered, first_loaded_by, last_changed_by)
    SELECT stage.date, stage.cases, stage.deaths, stage.recovered, %(run_id)s, %(run_id)s
    FROM us_daily_stage AS stage
    WHERE NOT EXISTS (SELECT FROM {SCHEMA}.us_daily AS existing WHERE existing.date = stage.date)
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM updated)
"""

RUN_SQL = f"""
INSERT INTO {SCHEMA}.etl_runs (
    run_id, logical_date, data_interval_start, data_interval_end, as_of, try_number,
    source_rows, inserted, updated, unchanged, nyt_sha256, jhu_sha256, min_date, max_date,
    nyt_max_date, jhu_max_date
) VALUES (
    %(run_id)s, %(logical_date)s, %(data_interval_start)s, %(data_interval_end)s, %(as_of)s,
    %(try_number)s, %(source_rows)s, %(inserted)s, %(updated)s, %(unchanged)s,
    %(nyt_sha256)s, %(jhu_sha256)s, %(min_date)s, %(max_date)s, %(nyt_max_date)s,
    %(jhu_max_date)s
)
"""


@dataclass(frozen=True)
class LoadResult:
    """What one load changed, and what the table covers afterwards."""

    source_rows: int
    inserted: int
    updated: int
    unchanged: int
    table_rows: int
    min_date: str | None
    max_date: str | None
    sources: dict[str, SourceFreshness]

    def to_xcom(self) -> dict[str, Any]:
        """Plain JSON for XCom."""
        return asdict(self)


def asset_event_extra(loaded: dict[str, Any], as_of: date) -> dict[str, Any]:
    """What the ``covid19.us_daily`` asset event tells its consumers about a committed load."""
    counts = ("inserted", "updated", "unchanged", "min_date", "max_date")
    return {"as_of": as_of.isoformat(), **{key: loaded[key] for key in counts}}


def migrations() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` for every ``sql/NNN_name.sql`` in the package, in order."""
    found = []
    for entry in resources.files(__package__).joinpath("sql").iterdir():
        if entry.name.endswith(".sql"):
            version, _, name = entry.name.removesuffix(".sql").partition("_")
            found.append((int(version), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate(cursor: Any) -> list[int]:
    """Apply the migrations this database lacks; return their versions. Idempotent."""
    cursor.execute(BOOTSTRAP_SQL)
    cursor.execute(APPLIED_SQL)
    applied = {row[0] for row in cursor.fetchall()}
    new = []
    for version, name, sql in migrations():
        if version not in applied:
            cursor.execute(sql)
            cursor.execute(RECORD_MIGRATION_SQL, (version, name))
            new.append(version)
    return new


def copy_csv(cursor: Any, sql: str, data: bytes) -> None:
    """``COPY ... FROM STDIN`` with either driver the Postgres provider may hand us."""
    if hasattr(cursor, "copy"):  # psycopg 3 (the provider's choice with SQLAlchemy 2)
        with cursor.copy(sql) as copy:
            copy.write(data)
    else:  # psycopg2
        import io

        cursor.copy_expert(sql, io.BytesIO(data))


def stage(cursor: Any, staged_csv: bytes) -> int:
    """Copy the staged rows into the transaction's temporary table; return how many there are."""
    cursor.execute(STAGE_SQL)
    copy_csv(cursor, COPY_SQL, staged_csv)
    cursor.execute(STAGE_KEY_SQL)
    cursor.execute("SELECT count(*) FROM us_daily_stage")
    return cursor.fetchone()[0]


def upsert(
    connection: Any,
    staged_csv: bytes,
    run: RunFacts,
    sources: Mapping[str, Mapping[str, Any]],
    statement_timeout: str = STATEMENT_TIMEOUT,
) -> LoadResult:
    """Load ``staged_csv`` (``date,cases,deaths,recovered`` with a header) in one transaction.

    ``sources`` says which file of each source the rows came from: ``{"nyt": {"sha256": ...,
    "max_date": ...}, "jhu": ...}``, as the transform task hands it on. Commits on success;
    rolls back on any error.
    """
    read = {
        f"{source}_{fact}": facts[fact]
        for source, facts in sources.items()
        for fact in ("sha256", "max_date")
    }
    try:
        with connection.cursor() as cursor:
            # SET LOCAL takes no parameters; set_config(..., is_local => true) is the same.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", (statement_timeout,))
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            if new := migrate(cursor):
                log.info("Applied schema migrations %s", new)
            source_rows = stage(cursor, staged_csv)
            cursor.execute(UPSERT_SQL, {"run_id": run.run_id})
            inserted, updated = cursor.fetchone()
            cursor.execute(SPAN_SQL)
            table_rows, min_date, max_date = cursor.fetchone()
            counts = {
                "source_rows": source_rows,
                "inserted": inserted,
                "updated": updated,
                "unchanged": source_rows - inserted - updated,
                "table_rows": table_rows,
                "min_date": min_date.isoformat() if min_date else None,
                "max_date": max_date.isoformat() if max_date else None,
            }
            cursor.execute(RUN_SQL, {**run.as_row(), **read, **counts})
            result = LoadResult(**counts, sources=source_freshness(cursor, run.as_of))
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return result


def run(staged: dict[str, Any], run: RunFacts) -> dict[str, Any]:
    """The ``load`` task: read the staged CSV and upsert it, as the run ``run``."""
    from covid19_common.storage import read_bytes
    from covid19_common.warehouse import connection

    opened = connection()
    try:
        result = upsert(opened, read_bytes(staged["url"]), run, staged["sources"])
    finally:
        opened.close()
    log.info("Loaded as of %s: %s", run.as_of, result)
    return result.to_xcom()
