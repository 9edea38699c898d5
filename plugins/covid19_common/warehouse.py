"""The warehouse's connection and read side, shared by the pipeline and the dashboard.

Every statement is a constant: values travel as parameters, and the only identifiers are the
fixed schema, table and column names (none ever comes from input).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from covid19_common.names import (
    SCHEMA,
    SOURCE_TITLES,
    VAR_STALE_AFTER_DAYS,
    WAREHOUSE_CONN_ID,
)

log = logging.getLogger(__name__)

READ_STATEMENT_TIMEOUT = "15s"
DEFAULT_STALE_AFTER_DAYS = 3

TABLES_SQL = f"""
SELECT to_regclass('{SCHEMA}.us_daily') IS NOT NULL, to_regclass('{SCHEMA}.etl_runs') IS NOT NULL
"""
NEWEST_SQL = f"SELECT max(date) FROM {SCHEMA}.us_daily"


def connection() -> Any:
    """A DB-API connection to the ``covid19_warehouse`` connection, autocommit off."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    opened = PostgresHook(postgres_conn_id=WAREHOUSE_CONN_ID).get_conn()
    opened.autocommit = False
    return opened


@contextlib.contextmanager
def read_only_cursor(opened: Any | None = None) -> Iterator[Any]:
    """A cursor in a READ ONLY transaction with a statement timeout, rolled back at the end.

    Without ``opened``, opens (and closes) a connection on ``covid19_warehouse``.
    """
    own = opened is None
    if own:
        opened = connection()
    try:
        with opened.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", (READ_STATEMENT_TIMEOUT,)
            )
            yield cursor
    finally:
        try:
            opened.rollback()
        finally:  # a dead connection fails its rollback, and must be closed all the same
            if own:
                opened.close()


def tables_exist(cursor: Any) -> tuple[bool, bool]:
    """Whether ``covid19.us_daily`` and ``covid19.etl_runs`` exist (not before the first load)."""
    cursor.execute(TABLES_SQL)
    has_daily, has_runs = cursor.fetchone()
    return has_daily, has_runs


def newest_loaded_date() -> date | None:
    """The newest date in ``covid19.us_daily``; None before the first load."""
    with read_only_cursor() as cursor:
        if not tables_exist(cursor)[0]:
            return None
        cursor.execute(NEWEST_SQL)
        return cursor.fetchone()[0]


# --- How long each source has served the same file ------------------------------------------


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


FRESHNESS_SQL = {source: _freshness_sql(source) for source in SOURCE_TITLES}


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


def stale_after_days() -> int:
    """After how many days of the same file a source is reported stale (Variable, run time)."""
    from airflow.sdk import Variable

    raw = Variable.get(VAR_STALE_AFTER_DAYS, default=None)
    try:
        days = int(raw) if raw not in (None, "") else DEFAULT_STALE_AFTER_DAYS
    except ValueError:
        days = 0
    if days < 1:
        log.warning(
            "Variable %s must be a whole number of days >= 1, not %r; using %d",
            VAR_STALE_AFTER_DAYS,
            raw,
            DEFAULT_STALE_AFTER_DAYS,
        )
        return DEFAULT_STALE_AFTER_DAYS
    return days


def stale_lines(
    sources: Mapping[str, SourceFreshness | Mapping[str, Any]], after: int
) -> list[str]:
    """One sentence per source that has served the same file for ``after`` days or more."""
    found = []
    for source, fresh in sources.items():
        facts = fresh if isinstance(fresh, Mapping) else asdict(fresh)
        if facts["days_unchanged"] >= after:
            found.append(
                f"{SOURCE_TITLES[source]}: newest date {facts['newest_date']}, the same file "
                f"since {facts['unchanged_since']} ({facts['days_unchanged']} days)."
            )
    return found
