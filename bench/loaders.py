"""Section 3: load throughput of three loaders (and two variants of ours), same table, same
data, same run.

* **ours**: :func:`covid19_etl.load.upsert`, exactly as the ``load`` task calls it: one
  transaction, advisory lock, migration check, ``COPY`` into a temporary table, its key, one
  statement that updates the changed rows and inserts the new ones, counts, ``etl_runs``.
* **naive**: what the published solutions do: the CSV parsed in Python, then one
  ``INSERT ... ON CONFLICT (date) DO UPDATE`` per row (``cursor.execute`` per row, psycopg 3,
  parameters bound by the server), every row rewritten whether it changed or not, a single
  ``COMMIT`` at the end (the most generous version of it: most committed per row).
* **copy**: a plain ``COPY ... FROM STDIN`` of the same CSV into the same, empty table: the limit.
* **proposed**: ours with the change of :func:`bench.proposed.load_fix` applied in this process.
* **before**: ours as it was before the fixes this benchmark proposed were applied
  (:func:`bench.proposed.load_before`), so their before and after stay measured.

Past ``naive_max_rows`` the naive loader runs on a random sample of the file's rows (its per-row
cost is one round trip and one index descent, whatever the size); the report extrapolates.

Every load starts from the table created by the project's own migration (``sql/001``), so the
DDL, primary key and CHECK constraints are identical. Two passes per size: the first into an
empty table; the second is the next day's file (all rows again, 10 % revised, 1 % new) into the
table the first pass left, after a ``VACUUM ANALYZE`` (autovacuum's job between two daily runs).
``copy`` cannot upsert: its second figure is a ``COPY`` of the second file into an empty table,
the speed limit for moving that many rows.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from bench.common import log, median, summary
from bench.synthetic import Passes, us_daily_passes

SCHEMA = "covid19"
NAIVE_SQL = f"""
INSERT INTO {SCHEMA}.us_daily (date, cases, deaths, recovered, first_loaded_by, last_changed_by)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (date) DO UPDATE SET
    cases = EXCLUDED.cases,
    deaths = EXCLUDED.deaths,
    recovered = EXCLUDED.recovered,
    last_changed_by = EXCLUDED.last_changed_by,
    last_changed_at = now()
"""
COPY_SQL = (
    f"COPY {SCHEMA}.us_daily (date, cases, deaths, recovered) "
    "FROM STDIN WITH (FORMAT csv, HEADER true)"
)
LOADERS = ("ours", "proposed", "before", "naive", "copy")
OURS = ("ours", "proposed", "before")  # the shipped upsert() and its two variants


def variant(name: str) -> Any:
    """The context in which ``upsert()`` runs as ``name`` (see :mod:`bench.proposed`)."""
    from bench.proposed import load_before, load_fix

    return {"proposed": load_fix, "before": load_before}.get(name, contextlib.nullcontext)()


# --- connections ------------------------------------------------------------------------------


def _timed_cursor_class() -> type:
    """A psycopg cursor that records the time of each statement (a statement-level profile)."""
    import psycopg

    class TimedCursor(psycopg.Cursor):
        timings: dict[str, float]

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().execute(query, params, **kwargs)
            finally:
                self._record(query, time.perf_counter() - started)

        @contextlib.contextmanager
        def copy(self, statement: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
            started = time.perf_counter()
            with super().copy(statement, *args, **kwargs) as copy:
                yield copy
            self._record(statement, time.perf_counter() - started)

        def _record(self, query: Any, seconds: float) -> None:
            timings = self.connection.info_timings  # type: ignore[attr-defined]
            timings[statement_label(str(query))] += seconds

    return TimedCursor


def statement_label(sql: str) -> str:
    """A short, stable name for a statement: its first words, or its CTEs' names."""
    text = " ".join(sql.split())
    words = text.split(" ")
    if words[0].upper() == "WITH":
        if "ON CONFLICT" in text:
            return "upsert: INSERT ... ON CONFLICT DO UPDATE (CTE + counts)"
        return "upsert: UPDATE changed + INSERT new (CTEs + counts)"
    if words[0].upper() == "INSERT":
        return " ".join(words[:3])
    return " ".join(words[:4])[:60]


def _wide_date_loader() -> type:
    """Dates past 9999 AD come back as ISO strings (Python's ``date`` stops at 9999).

    Only the synthetic days of the 5 M size reach that far; ``upsert`` reads ``max(date)`` back
    and calls ``.isoformat()`` on it, which the string supports.
    """
    from psycopg import DataError
    from psycopg.types.datetime import DateLoader

    class WideDate(str):
        def isoformat(self) -> str:
            return str(self)

    class WideDateLoader(DateLoader):
        def load(self, data: Any) -> Any:
            try:
                return super().load(data)
            except DataError:
                return WideDate(bytes(data).decode())

    return WideDateLoader


def connect(url: str, *, timed: bool = False) -> Any:
    import psycopg

    kwargs = {"cursor_factory": _timed_cursor_class()} if timed else {}
    connection = psycopg.connect(url, autocommit=False, **kwargs)
    connection.adapters.register_loader("date", _wide_date_loader())
    connection.info_timings = defaultdict(float)  # type: ignore[attr-defined]
    return connection


def reset_schema(url: str, *, copy_defaults: bool = False) -> None:
    """Drop ``covid19`` and create it again with the project's own migrations.

    For the plain ``COPY``, the two bookkeeping columns get a default (``COPY`` of the four data
    columns cannot fill NOT NULL columns otherwise); nothing else differs.
    """
    from covid19_etl import load

    with connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        load.migrate(cursor)
        if copy_defaults:
            cursor.execute(
                f"ALTER TABLE {SCHEMA}.us_daily "
                "ALTER COLUMN first_loaded_by SET DEFAULT 'copy', "
                "ALTER COLUMN last_changed_by SET DEFAULT 'copy'"
            )
        connection.commit()


def settle(url: str, *, vacuum: bool) -> None:
    """Between two timed loads: ``VACUUM ANALYZE`` (what autovacuum does between daily runs)
    and a ``CHECKPOINT``, so one load's dirty pages are not written during the next one's timer.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        if vacuum:
            connection.execute(f"VACUUM ANALYZE {SCHEMA}.us_daily")
        with contextlib.suppress(psycopg.Error):  # CHECKPOINT needs superuser or pg_checkpoint
            connection.execute("CHECKPOINT")


# --- the three loaders ------------------------------------------------------------------------


def facts(run_id: str) -> dict[str, Any]:
    start = datetime(2021, 3, 16, tzinfo=UTC)
    return {
        "run_id": run_id,
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": start,
        "as_of": date(2021, 3, 16),
        "try_number": 1,
        "nyt_sha256": "n" * 64,
        "jhu_sha256": "j" * 64,
    }


@dataclass
class Timed:
    seconds: float
    written: int  # rows inserted or rewritten
    statements: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def load_ours(url: str, data: bytes, run_id: str) -> Timed:
    from covid19_etl import load

    connection = connect(url, timed=True)
    try:
        started = time.perf_counter()
        result = load.upsert(connection, data, facts(run_id))
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    counts = {"inserted": result.inserted, "updated": result.updated}
    counts["unchanged"] = result.unchanged
    return Timed(seconds, result.inserted + result.updated, dict(connection.info_timings), counts)


def parse_rows(data: bytes) -> list[tuple[str, int, int, int | None]]:
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    next(reader)
    return [
        (day, int(cases), int(deaths), int(recovered) if recovered else None)
        for day, cases, deaths, recovered in reader
    ]


def load_naive(url: str, data: bytes, run_id: str) -> Timed:
    """Row by row: parse the CSV, one ``INSERT ... ON CONFLICT`` per row, one ``COMMIT``."""
    connection = connect(url)
    try:
        started = time.perf_counter()
        rows = parse_rows(data)
        with connection.cursor() as cursor:
            for day, cases, deaths, recovered in rows:
                cursor.execute(NAIVE_SQL, (day, cases, deaths, recovered, run_id, run_id))
        connection.commit()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return Timed(seconds, len(rows), counts={"rows": len(rows)})


def load_copy(url: str, data: bytes) -> Timed:
    connection = connect(url)
    try:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            with cursor.copy(COPY_SQL) as copy:
                copy.write(data)
            written = cursor.rowcount
        connection.commit()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return Timed(seconds, written)


def naive_sample(data: bytes, sample: int, seed: int) -> bytes:
    """A fixed random sample of the file's rows, in file order, as a CSV of its own.

    Made before the timer starts, so the naive loader parses only the rows it loads; a random
    sample keeps the mix of unchanged, revised and new rows.
    """
    header, _, body = data.partition(b"\n")
    lines = body.splitlines()
    chosen = sorted(random.Random(seed).sample(range(len(lines)), sample))  # noqa: S311 (not crypto)
    return header + b"\n" + b"".join(lines[i] + b"\n" for i in chosen)


# --- the section ------------------------------------------------------------------------------


def repeats_for(rows: int, repeats: int) -> int:
    """Fewer repetitions at the largest size keep ``make bench`` near 20 minutes."""
    return min(repeats, 2) if rows >= 5_000_000 else repeats


def _ours_passes(url: str, passes: Passes, label: str, rep: int) -> tuple[Timed, Timed]:
    reset_schema(url)
    settle(url, vacuum=False)
    first = load_ours(url, passes.first, f"bench-{label}-1-{rep}")
    settle(url, vacuum=True)
    second = load_ours(url, passes.second, f"bench-{label}-2-{rep}")
    return first, second


def measure_size(
    url: str, passes: Passes, repeats: int, naive_max_rows: int, naive_sample_rows: int
) -> dict[str, Any]:
    rows = passes.rows
    sampled = rows > naive_max_rows
    sample = min(naive_sample_rows, rows)
    runs: dict[str, dict[str, list[float]]] = {
        name: {"first": [], "second": []} for name in LOADERS
    }
    statements: dict[str, dict[str, dict[str, list[float]]]] = {
        name: {"first": defaultdict(list), "second": defaultdict(list)} for name in OURS
    }
    checks: dict[str, Any] = {}
    for rep in range(repeats):
        for name in OURS:
            with variant(name):
                first, second = _ours_passes(url, passes, name, rep)
            for which, timed in (("first", first), ("second", second)):
                runs[name][which].append(timed.seconds)
                for statement, seconds in timed.statements.items():
                    statements[name][which][statement].append(seconds)
            checks[name] = {"first": first.counts, "second": second.counts}
        # The limit: a plain COPY of each file into an empty table.
        for which, data in (("first", passes.first), ("second", passes.second)):
            reset_schema(url, copy_defaults=True)
            settle(url, vacuum=False)
            runs["copy"][which].append(load_copy(url, data).seconds)
        # Naive: row by row (a random sample of the rows past naive_max_rows).
        reset_schema(url)
        settle(url, vacuum=False)
        data = naive_sample(passes.first, sample, seed=rep) if sampled else passes.first
        naive_first = load_naive(url, data, f"bench-naive-1-{rep}")
        if sampled:  # the second pass meets the whole first file, as in the real sequence
            reset_schema(url, copy_defaults=True)
            load_copy(url, passes.first)
        settle(url, vacuum=True)
        data = naive_sample(passes.second, sample, seed=1000 + rep) if sampled else passes.second
        naive_second = load_naive(url, data, f"bench-naive-2-{rep}")
        runs["naive"]["first"].append(naive_first.seconds)
        runs["naive"]["second"].append(naive_second.seconds)
        checks["naive_rows"] = {"first": naive_first.written, "second": naive_second.written}
        log(
            f"  {rows:>9,} rows, rep {rep + 1}/{repeats} (first/second pass, s): "
            + ", ".join(
                f"{name} {runs[name]['first'][-1]:.2f}/{runs[name]['second'][-1]:.2f}"
                for name in LOADERS
            )
            + (f" (naive: {sample:,}-row sample)" if sampled else "")
        )

    pass_rows = {"first": rows, "second": passes.second_rows}
    loaders: dict[str, Any] = {}
    for name in LOADERS:
        loaders[name] = {}
        for which in ("first", "second"):
            measured_rows = sample if name == "naive" and sampled else pass_rows[which]
            seconds = summary(runs[name][which])
            rate = measured_rows / seconds["median"]
            loaders[name][which] = {
                "seconds": seconds,
                "measured_rows": measured_rows,
                "rows_per_s": rate,
                # For a sampled naive run: the time the whole file would take at that rate.
                "seconds_for_all_rows": pass_rows[which] / rate,
            }
    ratios = {
        which: {
            f"{name}_over_{other}": loaders[name][which]["rows_per_s"]
            / loaders[other][which]["rows_per_s"]
            for name in OURS
            for other in ("copy", "naive")
        }
        for which in ("first", "second")
    }
    return {
        "rows": rows,
        "second_rows": passes.second_rows,
        "revised": passes.revised,
        "new": passes.new,
        "repeats": repeats,
        "naive_sampled": sampled,
        "naive_sample_rows": sample if sampled else None,
        "loaders": loaders,
        "ratios": ratios,
        "statements": {
            name: {
                which: {label: median(values) for label, values in by_pass[which].items()}
                for which in ("first", "second")
            }
            for name, by_pass in statements.items()
        },
        "checks": checks,
    }


def explain(
    url: str,
    passes: Passes,
    name: str,
    which_passes: tuple[str, ...] = ("first", "second"),
) -> dict[str, str]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the upsert statement of variant ``name``, rolled back:
    the server-side profile of where the load's time goes."""
    from covid19_etl import load

    plans = {}
    with variant(name):
        reset_schema(url)
        for which, data in (("first", passes.first), ("second", passes.second)):
            if which not in which_passes:
                continue
            if which == "second":
                load_ours(url, passes.first, "bench-explain-fill")
                settle(url, vacuum=True)
            with connect(url) as connection, connection.cursor() as cursor:
                cursor.execute(load.STAGE_SQL)
                load.copy_csv(cursor, load.COPY_SQL, data)
                cursor.execute(load.STAGE_KEY_SQL)
                cursor.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + load.UPSERT_SQL, {"run_id": "bench-explain"}
                )
                plans[which] = "\n".join(row[0] for row in cursor.fetchall())
                connection.rollback()
    return plans


def run(
    server_url: str,
    sizes: list[int],
    repeats: int,
    naive_max_rows: int,
    naive_sample_rows: int,
    profile_rows: int,
) -> dict[str, Any]:
    from bench.common import fresh_database

    results = []
    profile: dict[str, Any] = {}
    with fresh_database(server_url, "covid19_bench_load") as url:
        for rows in sizes:
            log(f"section 3: {rows:,} synthetic rows")
            passes = us_daily_passes(url, rows)
            results.append(
                measure_size(
                    url, passes, repeats_for(rows, repeats), naive_max_rows, naive_sample_rows
                )
            )
            if rows == profile_rows:
                log(f"  EXPLAIN ANALYZE of the upsert at {rows:,} rows")
                profile = {
                    "rows": rows,
                    "ours": explain(url, passes, "ours"),
                    "proposed": explain(url, passes, "proposed"),
                    "before": explain(url, passes, "before", which_passes=("first",)),
                }
            del passes
    return {
        "sizes": results,
        "naive_max_rows": naive_max_rows,
        "naive_sample_rows": naive_sample_rows,
        "explain": profile,
    }
