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
from dataclasses import asdict, dataclass
from datetime import date
from importlib import resources
from typing import Any

from covid19_etl.settings import SCHEMA, WAREHOUSE_CONN_ID

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
NEWEST_SQL = f"SELECT max(date) FROM {SCHEMA}.us_daily"

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


def _freshness_sql(source: str) -> str:
    """Since which day (as_of) the latest load on or before ``%(as_of)s`` has read the same file
    of ``source`` (same checksum, same newest date), with no other file read in between."""
    return f"""
WITH latest AS (
    SELECT as_of, {source}_sha256 AS sha256, {source}_max_date AS newest
    FROM {SCHEMA}.etl_runs WHERE as_of <= %(as_of)s ORDER BY as_of DESC, id DESC LIMIT 1
), last_other AS (
    SELECT max(run.as_of) AS as_of FROM {SCHEMA}.etl_runs AS run, latest
    WHERE run.as_of <= latest.as_of
      AND (run.{source}_sha256, run.{source}_max_date)
          IS DISTINCT FROM (latest.sha256, latest.newest)
)
SELECT latest.newest, min(run.as_of), latest.as_of
FROM {SCHEMA}.etl_runs AS run, latest, last_other
WHERE run.as_of <= latest.as_of AND run.as_of > coalesce(last_other.as_of, '-infinity'::date)
GROUP BY latest.newest, latest.as_of
"""


# One constant statement per source; the only identifiers are the fixed column names.
FRESHNESS_SQL = {source: _freshness_sql(source) for source in ("nyt", "jhu")}


@dataclass(frozen=True)
class SourceFreshness:
    """How long a source has served the same file: same checksum, same newest date."""

    newest_date: str | None
    unchanged_since: str  # the as_of of the first load that read this file
    days_unchanged: int  # from unchanged_since to the as_of it was computed for


def source_freshness(cursor: Any, as_of: date) -> dict[str, SourceFreshness]:
    """Each source's freshness as of the latest load on or before ``as_of`` (none: empty)."""
    found = {}
    for source, sql in FRESHNESS_SQL.items():
        cursor.execute(sql, {"as_of": as_of})
        if row := cursor.fetchone():
            newest, since, latest = row
            found[source] = SourceFreshness(
                newest_date=newest.isoformat() if newest else None,
                unchanged_since=since.isoformat(),
                days_unchanged=(latest - since).days,
            )
    return found


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
    for entry in resources.files("covid19_etl").joinpath("sql").iterdir():
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


def upsert(
    connection: Any,
    staged_csv: bytes,
    facts: dict[str, Any],
    statement_timeout: str = STATEMENT_TIMEOUT,
) -> LoadResult:
    """Load ``staged_csv`` (``date,cases,deaths,recovered`` with a header) in one transaction.

    ``facts`` holds the ``etl_runs`` columns: run_id, logical_date, data_interval_start/end, as_of,
    try_number, and each source's checksum and newest date (nyt_sha256, nyt_max_date, ...).
    Commits on success; rolls back on any error.
    """
    try:
        with connection.cursor() as cursor:
            # SET LOCAL takes no parameters; set_config(..., is_local => true) is the same.
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", (statement_timeout,))
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            if new := migrate(cursor):
                log.info("Applied schema migrations %s", new)
            cursor.execute(STAGE_SQL)
            copy_csv(cursor, COPY_SQL, staged_csv)
            cursor.execute(STAGE_KEY_SQL)
            cursor.execute("SELECT count(*) FROM us_daily_stage")
            source_rows = cursor.fetchone()[0]
            cursor.execute(UPSERT_SQL, {"run_id": facts["run_id"]})
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
            cursor.execute(RUN_SQL, {**facts, **counts})
            result = LoadResult(**counts, sources=source_freshness(cursor, facts["as_of"]))
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return result


def newest_loaded_date() -> date | None:
    """The newest date in ``covid19.us_daily``; None before the first load. Read-only."""
    connection = warehouse_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.us_daily",))
            if not cursor.fetchone()[0]:
                return None
            cursor.execute(NEWEST_SQL)
            return cursor.fetchone()[0]
    finally:
        connection.rollback()
        connection.close()


def warehouse_connection() -> Any:
    """A DB-API connection to the ``covid19_warehouse`` connection, autocommit off."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    connection = PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID).get_conn()
    connection.autocommit = False
    return connection


def run(staged: dict[str, Any], run_facts: dict[str, Any]) -> dict[str, Any]:
    """The ``load`` task: read the staged CSV and upsert it.

    ``run_facts`` describes the DAG run (see :func:`upsert`); each source's checksum and newest
    date come with ``staged``.
    """
    from covid19_etl.storage import read_bytes

    facts = dict(run_facts)
    for source, read in staged["sources"].items():
        facts[f"{source}_sha256"], facts[f"{source}_max_date"] = read["sha256"], read["max_date"]
    connection = warehouse_connection()
    try:
        result = upsert(connection, read_bytes(staged["url"]), facts)
    finally:
        connection.close()
    log.info("Loaded as of %s: %s", run_facts["as_of"], result)
    return result.to_xcom()
