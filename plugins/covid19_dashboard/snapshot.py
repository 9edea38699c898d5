"""What the dashboard reads from the warehouse: the daily rows, the latest loads, freshness.

One read-only transaction, a few small queries on a table of ~1,200 rows. The page, the JSON
API and the ``report`` task all read through :func:`read_snapshot`, so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from covid19_common.names import SCHEMA
from covid19_common.warehouse import (
    DEFAULT_STALE_AFTER_DAYS,
    SourceFreshness,
    source_freshness,
    tables_exist,
)
from covid19_dashboard import series

if TYPE_CHECKING:
    import pandas as pd

DAILY_SQL = f"""
SELECT date, cases, deaths, recovered FROM {SCHEMA}.us_daily
WHERE %(as_of)s::date IS NULL OR date <= %(as_of)s::date
ORDER BY date
"""
RUN_COLUMNS = (
    "run_id",
    "as_of",
    "finished_at",
    "try_number",
    "source_rows",
    "inserted",
    "updated",
    "unchanged",
    "min_date",
    "max_date",
)
RUNS_SQL = f"""
SELECT {", ".join(RUN_COLUMNS)} FROM {SCHEMA}.etl_runs
WHERE %(as_of)s::date IS NULL OR as_of <= %(as_of)s::date
ORDER BY id DESC
LIMIT %(limit)s
"""
NEWEST_AS_OF_SQL = f"SELECT max(as_of) FROM {SCHEMA}.etl_runs"


def _run_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    out = dict(zip(RUN_COLUMNS, row, strict=True))
    for key in ("as_of", "min_date", "max_date", "finished_at"):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    return out


@dataclass
class Snapshot:
    """What the dashboard shows: the daily rows (as of a day, or all) and the recent loads."""

    frame: pd.DataFrame
    runs: list[dict[str, Any]] = field(default_factory=list)
    as_of: date | None = None
    newest_run_as_of: date | None = None
    sources: dict[str, SourceFreshness] = field(default_factory=dict)
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS

    @property
    def last_run(self) -> dict[str, Any] | None:
        return self.runs[0] if self.runs else None


FINGERPRINT_SQL = f"""
SELECT (SELECT row(count(*), max(last_changed_at))::text FROM {SCHEMA}.us_daily),
       (SELECT max(id) FROM {SCHEMA}.etl_runs)
"""


def fingerprint_of(cursor: Any) -> tuple[Any, ...]:
    """Changes whenever a row of ``us_daily`` or ``etl_runs`` does: a cache key for the page."""
    tables = tables_exist(cursor)
    if not all(tables):
        return tuple(tables)
    cursor.execute(FINGERPRINT_SQL)
    return tuple(cursor.fetchone())


def read_snapshot(
    cursor: Any,
    as_of: date | None = None,
    runs: int = 1,
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS,
) -> Snapshot:
    """Read the rows dated on or before ``as_of`` (all if None), the ``runs`` latest loads of a
    day on or before ``as_of`` and each source's freshness then. An empty warehouse (no tables
    yet) gives an empty snapshot."""
    has_daily, has_runs = tables_exist(cursor)
    params = {"as_of": as_of, "limit": runs}
    rows: list[tuple[Any, ...]] = []
    if has_daily:
        cursor.execute(DAILY_SQL, params)
        rows = cursor.fetchall()
    recent: list[dict[str, Any]] = []
    newest = None
    sources = {}
    if has_runs:
        cursor.execute(RUNS_SQL, params)
        recent = [_run_dict(row) for row in cursor.fetchall()]
        cursor.execute(NEWEST_AS_OF_SQL)
        newest = cursor.fetchone()[0]
        sources = source_freshness(cursor, as_of or newest) if newest else {}
    return Snapshot(series.from_rows(rows), recent, as_of, newest, sources, stale_after_days)
