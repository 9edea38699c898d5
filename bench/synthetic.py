"""Synthetic inputs: staged ``us_daily`` files of any size, and a JHU file with more countries.

``us_daily`` has a ``date`` primary key, so N rows need N distinct dates: the synthetic days run
from 0001-01-01 onwards (PostgreSQL dates reach 5874897 AD; 5 M days end in 13690 AD). The rows
are printed by PostgreSQL itself (``COPY (SELECT ...) TO STDOUT``), in exactly the format the
transform step stages: ``date,cases,deaths,recovered`` with a header, NULL as an empty field,
sorted by date.

The second pass is the next day's file: every earlier row again, 10 % of them revised (their
``cases`` raised by one), plus 1 % new days at the end.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

NEW_SHARE = 0.01

# Row i: cumulative-looking, non-negative counts (the table's CHECKs hold); recovered is NULL on
# every 4th day, like JHU's "not reported". A revised row of the second pass (every 10th of the
# first pass's days) has cases + 1.
_ROWS_SQL = """
COPY (
    SELECT date '0001-01-01' + i AS date,
           i * 11 + 100 + CASE WHEN {revise} AND i < {base} AND i % 10 = 3 THEN 1 ELSE 0 END
               AS cases,
           i * 2 + 1 AS deaths,
           CASE WHEN i % 4 = 0 THEN NULL ELSE i * 9 END AS recovered
    FROM generate_series(0, {rows} - 1) AS i
    ORDER BY i
) TO STDOUT WITH (FORMAT csv, HEADER true)
"""


@dataclass(frozen=True)
class Passes:
    """The two staged files of one size, and what the second one should change."""

    rows: int
    first: bytes
    second: bytes
    second_rows: int
    revised: int
    new: int


def _copy_out(url: str, rows: int, base: int, revise: bool) -> bytes:
    import psycopg
    from psycopg import sql

    statement = sql.SQL(_ROWS_SQL).format(
        rows=sql.Literal(rows), base=sql.Literal(base), revise=sql.Literal(revise)
    )
    out = bytearray()
    with (
        psycopg.connect(url) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for chunk in copy:
            out += chunk
    return bytes(out)


def us_daily_passes(url: str, rows: int) -> Passes:
    """The first pass (``rows`` days) and the second (10 % revised, 1 % new), as CSV bytes."""
    new = max(1, round(rows * NEW_SHARE))
    second_rows = rows + new
    revised = sum(1 for i in range(3, rows, 10))
    return Passes(
        rows=rows,
        first=_copy_out(url, rows, rows, revise=False),
        second=_copy_out(url, second_rows, rows, revise=True),
        second_rows=second_rows,
        revised=revised,
        new=new,
    )


def jhu_with_more_countries(data: bytes, factor: int) -> bytes:
    """The real JHU file with ``factor`` times the rows: the non-US rows are repeated as new
    countries (``Afghanistan (2)``, ...), the US rows stay once, so the US counts and the checks'
    outcome are unchanged while every per-row check sees ``factor`` times the rows."""
    text = data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], [row for row in rows[1:] if row]
    country = header.index("Country/Region")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    others = [row for row in body if row[country] != "US"]
    for copy_number in range(2, factor + 1):
        for row in others:
            clone = list(row)
            clone[country] = f"{row[country]} ({copy_number})"
            writer.writerow(clone)
    return out.getvalue().encode()
