"""Section 3: load throughput of our upsert, a row-by-row upsert and a plain ``COPY``: the
same table (from the project's migrations), the same synthetic files, interleaved in one run.

Two passes per size: the first file into an empty table; the second (all rows again, 10 %
revised, 1 % new) into the table the first left, after a ``VACUUM ANALYZE`` (autovacuum's job
between two daily runs). ``COPY`` cannot upsert: its second figure is a ``COPY`` of the second
file into an empty table, the speed limit for moving that many rows. Past ``naive_max_rows``
the row-by-row loader runs on a random sample of the rows (its per-row cost is one round trip
and one index descent, whatever the size); the report extrapolates.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from typing import Any

from local_postgres import fresh_database

from bench.common import log, median, summary
from bench.synthetic import Passes, us_daily_passes
from covid19_common.names import SCHEMA
from include.covid19_etl.run_facts import RunFacts

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
LOADERS = ("ours", "naive", "copy")
PASSES = ("first", "second")
AS_OF = date(2021, 3, 16)
RUN = RunFacts.for_day(AS_OF)  # every load writes the run id a scheduled run writes
# Which source files the rows came from, as the transform hands it on to the load.
SOURCES_READ = {
    source: {"sha256": source[0] * 64, "max_date": AS_OF.isoformat()} for source in ("nyt", "jhu")
}


# --- connections ------------------------------------------------------------------------------


def _timed_cursor_class() -> type:
    """A psycopg cursor that adds up the time of each statement (a statement-level profile)."""
    import psycopg

    class TimedCursor(psycopg.Cursor):
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
    """A short, stable name for a statement: its first words, or what the upsert's CTEs do."""
    words = sql.split()
    if words[0].upper() == "WITH":
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


def connect(url: str, *, profile: bool = False) -> Any:
    import psycopg

    kwargs = {"cursor_factory": _timed_cursor_class()} if profile else {}
    connection = psycopg.connect(url, autocommit=False, **kwargs)
    connection.adapters.register_loader("date", _wide_date_loader())
    connection.info_timings = defaultdict(float)  # type: ignore[attr-defined]
    return connection


def reset_schema(url: str, *, copy_defaults: bool = False) -> None:
    """Drop ``covid19`` and create it again with the project's own migrations.

    For the plain ``COPY``, the two bookkeeping columns get a default (``COPY`` of the four data
    columns cannot fill NOT NULL columns otherwise); nothing else differs.
    """
    from include.covid19_etl import load

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


def timed(
    url: str, load: Callable[[Any], Any], *, profile: bool = False
) -> tuple[float, Any, dict]:
    """``load(connection)`` on a new connection: its seconds (the connection's set-up not
    counted), its result, and with ``profile`` the seconds of each statement."""
    connection = connect(url, profile=profile)
    try:
        started = time.perf_counter()
        result = load(connection)
        return time.perf_counter() - started, result, dict(connection.info_timings)
    finally:
        connection.close()


def load_ours(connection: Any, data: bytes) -> Any:
    from include.covid19_etl import load

    return load.upsert(connection, data, RUN, SOURCES_READ)


def load_naive(connection: Any, data: bytes) -> None:
    """The published solutions' way: parse the CSV, one ``INSERT ... ON CONFLICT`` per row,
    one ``COMMIT`` at the end (their most generous form)."""
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    next(reader)
    with connection.cursor() as cursor:
        for day, cases, deaths, recovered in reader:
            row = (day, int(cases), int(deaths), int(recovered) if recovered else None)
            cursor.execute(NAIVE_SQL, (*row, RUN.run_id, RUN.run_id))
    connection.commit()


def load_copy(connection: Any, data: bytes) -> None:
    with connection.cursor() as cursor, cursor.copy(COPY_SQL) as copy:
        copy.write(data)
    connection.commit()


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
    """Fewer repetitions at the largest size keep section 3 near 7 minutes."""
    return min(repeats, 2) if rows >= 5_000_000 else repeats


def measure_size(
    url: str, passes: Passes, repeats: int, naive_max_rows: int, naive_sample_rows: int
) -> dict[str, Any]:
    rows = passes.rows
    sampled = rows > naive_max_rows
    sample = min(naive_sample_rows, rows)
    runs = {name: {which: [] for which in PASSES} for name in LOADERS}
    statements: dict[str, dict[str, list[float]]] = {which: defaultdict(list) for which in PASSES}
    counts: dict[str, dict[str, int]] = {}
    for rep in range(repeats):
        # Ours: the first file into the empty table, then the second into what it left.
        reset_schema(url)
        settle(url, vacuum=False)
        first = timed(url, partial(load_ours, data=passes.first), profile=True)
        settle(url, vacuum=True)
        second = timed(url, partial(load_ours, data=passes.second), profile=True)
        for which, (seconds, result, by_statement) in (("first", first), ("second", second)):
            runs["ours"][which].append(seconds)
            counts[which] = {"inserted": result.inserted, "updated": result.updated}
            for statement, statement_seconds in by_statement.items():
                statements[which][statement].append(statement_seconds)
        # The limit: a plain COPY of each file into an empty table.
        for which, data in (("first", passes.first), ("second", passes.second)):
            reset_schema(url, copy_defaults=True)
            settle(url, vacuum=False)
            runs["copy"][which].append(timed(url, partial(load_copy, data=data))[0])
        # Naive: row by row (a random sample of the rows past naive_max_rows).
        reset_schema(url)
        settle(url, vacuum=False)
        data = naive_sample(passes.first, sample, seed=rep) if sampled else passes.first
        runs["naive"]["first"].append(timed(url, partial(load_naive, data=data))[0])
        if sampled:  # the second pass meets the whole first file, as in the real sequence
            reset_schema(url, copy_defaults=True)
            timed(url, partial(load_copy, data=passes.first))
        settle(url, vacuum=True)
        data = naive_sample(passes.second, sample, seed=1000 + rep) if sampled else passes.second
        runs["naive"]["second"].append(timed(url, partial(load_naive, data=data))[0])
        log(
            f"  {rows:>9,} rows, rep {rep + 1}/{repeats} (first/second pass, s): "
            + ", ".join(
                f"{name} {runs[name]['first'][-1]:.2f}/{runs[name]['second'][-1]:.2f}"
                for name in LOADERS
            )
            + (f" (naive: {sample:,}-row sample)" if sampled else "")
        )

    pass_rows = {"first": rows, "second": passes.second_rows}
    measured_rows = {
        name: {w: sample if name == "naive" and sampled else pass_rows[w] for w in PASSES}
        for name in LOADERS
    }
    loaders: dict[str, Any] = {}
    for name in LOADERS:
        loaders[name] = {}
        for which in PASSES:
            seconds = summary(runs[name][which])
            rate = measured_rows[name][which] / seconds["median"]
            loaders[name][which] = {
                "seconds": seconds,
                "rows_per_s": rate,
                # For a sampled naive run: the time the whole file would take at that rate.
                "seconds_for_all_rows": pass_rows[which] / rate,
            }
    # Ours over each other loader in each repetition, whose loaders ran minutes apart at most:
    # the machine's load drifts less within a repetition than across the run.
    ratios = {
        which: {
            other: [
                (pass_rows[which] / ours) / (measured_rows[other][which] / theirs)
                for ours, theirs in zip(runs["ours"][which], runs[other][which], strict=True)
            ]
            for other in ("copy", "naive")
        }
        for which in PASSES
    }
    return {
        "rows": rows,
        "second_rows": passes.second_rows,
        "revised": passes.revised,
        "new": passes.new,
        "repeats": repeats,
        "naive_sampled": sampled,
        "loaders": loaders,
        "ours_over": {w: {o: median(ratios[w][o]) for o in ratios[w]} for w in PASSES},
        "ours_over_runs": ratios,
        "statements": {
            which: {label: median(values) for label, values in statements[which].items()}
            for which in PASSES
        },
        "counts": counts,
    }


def explain(url: str, passes: Passes) -> dict[str, str]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of our upsert statement in each pass, rolled back: the
    server-side profile of where the load's time goes."""
    from include.covid19_etl import load

    plans = {}
    reset_schema(url)
    for which, data in (("first", passes.first), ("second", passes.second)):
        if which == "second":
            timed(url, partial(load_ours, data=passes.first))
            settle(url, vacuum=True)
        with connect(url) as connection, connection.cursor() as cursor:
            load.stage(cursor, data)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + load.UPSERT_SQL, {"run_id": RUN.run_id})
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
    results = []
    profile: dict[str, Any] = {}
    with fresh_database(server_url, "covid19_bench_load") as url:
        for rows in sizes:
            log(f"section 3: {rows:,} synthetic rows")
            passes = us_daily_passes(url, rows)
            repeats_here = repeats_for(rows, repeats)
            results.append(
                measure_size(url, passes, repeats_here, naive_max_rows, naive_sample_rows)
            )
            if rows == profile_rows:
                log(f"  EXPLAIN ANALYZE of the upsert at {rows:,} rows")
                profile = {"rows": rows, "plans": explain(url, passes)}
            del passes
    return {
        "sizes": results,
        "naive_max_rows": naive_max_rows,
        "naive_sample_rows": naive_sample_rows,
        "explain": profile,
    }
