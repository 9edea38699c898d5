"""What each upstream file looks like, how its raw bytes become a table of text, and how that
table becomes one US total per date.

Shared by ``validate`` (which checks the text and the totals) and ``transform`` (which loads the
totals), so both read exactly the same cells and add them up the same way.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from covid19_common.names import SOURCE_TITLES

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SourceSpec:
    """The columns a source must have and which of them hold dates and counts."""

    name: str
    title: str
    date_column: str
    count_columns: tuple[str, ...]
    # The size cap of one download: several times the file's final real size, far below what
    # a runaway or wrong response (an error page loop, another dataset) would send.
    max_bytes: int
    other_columns: tuple[str, ...] = ()

    @property
    def identity_columns(self) -> list[str]:
        """The columns that say which row a failure is about."""
        return [self.date_column, *self.other_columns]

    @property
    def required_columns(self) -> list[str]:
        """Every column the pipeline reads."""
        return [self.date_column, *self.other_columns, *self.count_columns]


NYT = SourceSpec(
    name="nyt",
    title=SOURCE_TITLES["nyt"],
    date_column="date",
    count_columns=("cases", "deaths"),
    # 30 KB at its last update (2023-03-23), ~27 bytes a day: 100 KiB is ten years of rows,
    # and a response ten times the 2021 file (13 KB) is refused.
    max_bytes=100 * 1024,
)
JHU = SourceSpec(
    name="jhu",
    title=SOURCE_TITLES["jhu"],
    date_column="Date",
    count_columns=("Confirmed", "Recovered", "Deaths"),
    other_columns=("Country/Region", "Province/State"),
    max_bytes=32 * 1024 * 1024,  # 4.2 MB on 2021-03-16; a little over 4 MiB at its end (2022)
)
SOURCES: dict[str, SourceSpec] = {spec.name: spec for spec in (NYT, JHU)}

JHU_COUNTRY_COLUMN = "Country/Region"
JHU_PROVINCE_COLUMN = "Province/State"
JHU_US = "US"


class CsvParseError(ValueError):
    """The bytes are not a UTF-8 comma-separated table."""


def read_text_table(data: bytes) -> pd.DataFrame:
    """Parse CSV bytes into a DataFrame of strings, keeping every cell exactly as written.

    Nothing is converted here: empty cells stay ``""`` and ``null`` stays ``"null"``, so the
    validation sees the cells as they came. A UTF-8 BOM, CRLF line endings and a missing final
    newline are all accepted; anything that is not UTF-8 is rejected.
    """
    import pandas as pd

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CsvParseError(
            f"not UTF-8 text: byte {data[err.start : err.start + 1]!r} at offset {err.start}"
        ) from err
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row]
    except csv.Error as err:
        raise CsvParseError(f"not CSV: {err}") from err
    if not rows:
        raise CsvParseError("the file is empty")
    header, body = rows[0], rows[1:]
    ragged = [(number, row) for number, row in enumerate(body, start=1) if len(row) != len(header)]
    if ragged:
        samples = "; ".join(f"data row {n}: {','.join(row)!r}" for n, row in ragged[:3])
        raise CsvParseError(
            f"{len(ragged)} row(s) do not have the header's {len(header)} fields, e.g. {samples}"
        )
    return pd.DataFrame(body, columns=header, dtype=str)


def daily_totals(spec: SourceSpec, table: pd.DataFrame) -> pd.DataFrame:
    """The US totals a source gives for each date: what the warehouse stores, sorted by date.

    Columns: ``date`` (``datetime.date``) and the source's count columns (``Int64``). NYT's rows
    already are the totals. JHU's US rows (Country/Region ``US``) are summed per date, whatever
    the layout: one national row, one row per state, or a national row plus distinct extra rows
    such as cruise ships (the layout the file uses for France). ``min_count=1``: a date where no
    row reported a count (JHU's empty Recovered) stays <NA> instead of becoming 0.

    The table must have passed the validation's cell checks: any cell that is not an ISO date or
    a whole number raises.
    """
    import pandas as pd

    rows = table[table[JHU_COUNTRY_COLUMN] == JHU_US] if spec is JHU else table
    frame = pd.DataFrame(
        {"date": pd.to_datetime(rows[spec.date_column], format="%Y-%m-%d").dt.date}
    )
    for column in spec.count_columns:
        frame[column] = pd.to_numeric(rows[column].replace("", None)).astype("Int64")
    if spec is JHU:
        return frame.groupby("date", as_index=False, sort=True).sum(min_count=1)
    return frame.sort_values("date", ignore_index=True)


# The columns of :func:`jhu_rows_by_date`, named for the failure messages that quote them.
US_ROWS = "US rows (Province/State Confirmed/Recovered/Deaths)"
US_ROW_COUNT = "US rows summed"
NATIONAL_TOTALS = "rows giving the national total"
# Per count column, e.g. "Confirmed (other rows' share of the national row)".
EXTRAS_SHARE_SUFFIX = " (other rows' share of the national row)"


def jhu_rows_by_date(table: pd.DataFrame, floor: int, country: str = JHU_US) -> pd.DataFrame:
    """A country's JHU rows as :func:`daily_totals` adds them up, one row per date (index: the
    Date cell): how many there are, what they say (``'' 2686480/730000/128000; 'Diamond
    Princess' 49/0/0``), how often they give the national total, and how large the other rows
    are beside a national row.

    The national total is given by each national row (no Province/State, or the country's own
    name as one), by each row repeating one's counts, and by all the other rows together when
    they add up to one exactly. More than once is a double count; a breakdown alone (per state,
    say) gives it none. Beside one national row, the other rows' sum as a share of it, per count
    column and only where the national count reaches ``floor``: extras (cruise ships, overseas
    territories) are a small share, a breakdown of the same total nearly all of it. Needs the
    same sound cells as :func:`daily_totals`.
    """
    import pandas as pd

    rows = table[table[JHU_COUNTRY_COLUMN] == country]
    dates = rows[JHU.date_column]
    counts = rows[list(JHU.count_columns)].apply(
        lambda cells: pd.to_numeric(cells.replace("", None)).astype("Int64")
    )
    key = _counts_key(counts)
    province = rows[JHU_PROVINCE_COLUMN].str.strip().str.casefold()
    national = province.isin(["", country.casefold()])
    national_keys = pd.MultiIndex.from_arrays([dates, key])[national]
    # A repeat of an all-zero national row adds nothing: early days, not a double count.
    repeats = (
        ~national
        & (counts["Confirmed"] > 0)
        & pd.MultiIndex.from_arrays([dates, key]).isin(national_keys)
    )
    others = counts[~national & ~repeats].groupby(dates[~national & ~repeats])
    others_sum = others.sum(min_count=1)
    adds_up = (others.size() > 1) & pd.MultiIndex.from_arrays(
        [others_sum.index, _counts_key(others_sum)]
    ).isin(national_keys)
    by_date = pd.DataFrame({"national": national, "repeats": repeats}).groupby(dates, sort=False)
    per_date = pd.DataFrame(
        {
            US_ROW_COUNT: by_date.size(),
            US_ROWS: (rows[JHU_PROVINCE_COLUMN].map(repr) + " " + key)
            .groupby(dates, sort=False)
            .agg("; ".join),
            NATIONAL_TOTALS: by_date["national"].sum()
            + by_date["repeats"].sum()
            + adds_up.reindex(by_date.size().index, fill_value=False).astype(int),
        }
    )
    national_counts = counts[national].groupby(dates[national]).first()
    for column in JHU.count_columns:
        base = national_counts[column].astype("float64")
        share = others_sum[column].astype("float64") / base.where(base >= floor)
        per_date[column + EXTRAS_SHARE_SUFFIX] = share.reindex(per_date.index)
    return per_date


def _counts_key(counts: pd.DataFrame) -> pd.Series:
    """``'2686480/730000/128000'`` per row: Confirmed/Recovered/Deaths, an unreported one empty."""
    cells = counts.astype("string").fillna("")
    return cells["Confirmed"] + "/" + cells["Recovered"] + "/" + cells["Deaths"]
