"""The validation's rules: thresholds, the derived columns that carry what GX has no
expectation for, and the Great Expectations expectations that state each rule.

Used by :mod:`.validate`, which runs them (through :mod:`.checks`) on each source's rows and on
the US totals per date the transform will load.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from include.covid19_etl.checks import MarginRule, gx_modules
from include.covid19_etl.sources import (
    EXTRAS_SHARE_SUFFIX,
    JHU,
    NATIONAL_TOTALS,
    NYT,
    US_ROW_COUNT,
    SourceSpec,
    daily_totals,
)

if TYPE_CHECKING:
    import pandas as pd

# Whole-field matches: \Z, unlike $, does not match before a final newline ("29569017\n"), and
# [0-9], unlike \d, takes no other script's digits. 15 digits is far above any count of people
# and keeps every sum inside the warehouse's bigint.
ISO_DATE_REGEX = r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"
COUNT_REGEX = r"\A[0-9]{1,15}\Z"
# JHU leaves Recovered empty where it is not reported; elsewhere an empty count is malformed.
OPTIONAL_COUNT_REGEX = r"\A[0-9]{0,15}\Z"
EARLIEST_PLAUSIBLE_DATE = date(2020, 1, 1)
# A cumulative total may dip (closest real day: JHU US Recovered on 2020-05-12 at 98.9 % of its
# running max), but a fall below 90 % of it is a broken file, e.g. a truncated number.
MIN_SHARE_OF_RUNNING_MAX = 0.9
# Nor may it jump above 3 times the previous days' max, e.g. a typo'd extra digit. Closest real
# day: JHU US Recovered on 2020-03-29, 2.49 times (1,072 -> 2,665); cases 1.49 (2020-03-19).
MAX_MULTIPLE_OF_PREVIOUS_MAX = 3.0
# Below this running maximum both ratios are noise (early days: 1 case, then a correction to 0).
RUNNING_MAX_FLOOR = 1000
# JHU writes 0 where it no longer reports US recoveries (stored as NULL): not a value to compare.
ZERO_MEANS_UNREPORTED = frozenset({"Recovered"})
# At most this many rows per date: one per country/province in JHU, one in NYT.
MAX_ROWS_PER_DAY = {NYT.name: 1, JHU.name: 1000}
# JHU's own state-level US breakdown has 58 entries (states, DC, territories, two cruise ships).
MAX_US_ROWS_PER_DATE = 100
# Beside a national row, other rows are extras only while they stay a small share of it; a
# breakdown of the same total (states adding up to ~99 %) would be loaded twice. Largest real
# shares in the JHU file, where the national count is at least RUNNING_MAX_FLOOR: Recovered 0.271
# (France 2020-10-19, its national Recovered frozen), Confirmed 0.085 (Denmark 2020-03-22),
# Deaths 0.009 (France 2020-11-04).
MAX_EXTRAS_SHARE_OF_NATIONAL = 0.5

DATE_SUFFIX = " (parsed as YYYY-MM-DD)"
SHARE_SUFFIX = " (share of running max)"
MULTIPLE_SUFFIX = " (multiple of previous max)"
# The ratio rules, by the end of their column's name: each day's quality record says how close
# the data came to their bounds, from the value a usual day has.
MARGIN_RULES = {
    SHARE_SUFFIX: MarginRule("deepest dip", 1.0),
    MULTIPLE_SUFFIX: MarginRule("largest jump", 1.0),
    EXTRAS_SHARE_SUFFIX: MarginRule("largest share of the national row", 0.0),
    US_ROW_COUNT: MarginRule("most US rows on a date", 1.0),
}


def with_derived_columns(frame: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """Add the typed date column the date checks need; raw columns stay as text."""
    import pandas as pd

    frame = frame.copy()
    dates = pd.to_datetime(frame[spec.date_column], format="%Y-%m-%d", errors="coerce")
    # Nanoseconds: GX's between-check is vectorised only for datetime64[ns] (pandas 3 parses to
    # [us]); every plausible date fits. 23 % of validate_jhu's time (docs/benchmarks.md).
    frame[spec.date_column + DATE_SUFFIX] = dates.astype("datetime64[ns]")
    return frame


def totals_per_date(spec: SourceSpec, table: pd.DataFrame) -> pd.DataFrame:
    """The totals the transform will load, one row per date, with the plausibility columns.

    For each count: its share of the running max (a collapse) and its multiple of the previous
    days' max (a jump), both blank while that max is below :data:`RUNNING_MAX_FLOOR`.
    """
    totals = daily_totals(spec, table)
    totals[spec.date_column] = totals.pop("date").map(date.isoformat)
    for column in spec.count_columns:
        values = totals[column].astype("float64")
        if column in ZERO_MEANS_UNREPORTED:
            values = values.where(values > 0)
        running_max = values.cummax().ffill()
        previous_max = running_max.shift(1)
        totals[column + SHARE_SUFFIX] = (values / running_max).where(
            running_max >= RUNNING_MAX_FLOOR
        )
        totals[column + MULTIPLE_SUFFIX] = (values / previous_max).where(
            previous_max >= RUNNING_MAX_FLOOR
        )
    return totals


def structure_expectations(spec: SourceSpec, max_rows: int) -> list:
    _, gxe = gx_modules()
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=spec.required_columns, exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=max_rows),
    ]


def date_expectations(spec: SourceSpec, latest_plausible: date) -> list:
    _, gxe = gx_modules()
    column = spec.date_column
    return [
        gxe.ExpectColumnValuesToMatchRegex(column=column, regex=ISO_DATE_REGEX),
        # A real calendar date (no month 22): pandas parsed it with "%Y-%m-%d" in one vectorised
        # pass; GX's strftime expectation calls strptime per row (2.5 s on JHU's 115,000 rows).
        gxe.ExpectColumnValuesToNotBeNull(column=column + DATE_SUFFIX),
        gxe.ExpectColumnValuesToBeBetween(
            column=column + DATE_SUFFIX,
            min_value=datetime.combine(EARLIEST_PLAUSIBLE_DATE, datetime.min.time()),
            max_value=datetime.combine(latest_plausible, datetime.min.time()),
        ),
    ]


def count_cell_expectations(spec: SourceSpec) -> list:
    _, gxe = gx_modules()
    return [
        gxe.ExpectColumnValuesToMatchRegex(
            column=column, regex=OPTIONAL_COUNT_REGEX if column == "Recovered" else COUNT_REGEX
        )
        for column in spec.count_columns
    ]


def growth_expectations(spec: SourceSpec) -> list:
    """Per date: no cumulative total collapses below, or jumps above, its recent run."""
    _, gxe = gx_modules()
    return [
        expectation
        for column in spec.count_columns
        for expectation in (
            gxe.ExpectColumnValuesToBeBetween(
                column=column + SHARE_SUFFIX, min_value=MIN_SHARE_OF_RUNNING_MAX
            ),
            gxe.ExpectColumnValuesToBeBetween(
                column=column + MULTIPLE_SUFFIX, max_value=MAX_MULTIPLE_OF_PREVIOUS_MAX
            ),
        )
    ]


def not_older_than(spec: SourceSpec, warehouse_newest: date | None) -> list:
    """The source's newest date must not go back behind what the warehouse already holds: a
    file that suddenly ends earlier is a stale mirror or a rolled-back export, not news."""
    if warehouse_newest is None:
        return []
    _, gxe = gx_modules()
    return [
        gxe.ExpectColumnMaxToBeBetween(
            column=spec.date_column + DATE_SUFFIX,
            min_value=datetime.combine(warehouse_newest, datetime.min.time()),
        )
    ]


def us_totals_expectations() -> list:
    """JHU's US totals per date: the country counted once, extras small beside a national row,
    a plausible number of rows, and the growth rules."""
    _, gxe = gx_modules()
    return [
        gxe.ExpectColumnValuesToBeBetween(column=NATIONAL_TOTALS, max_value=1),
        *(
            gxe.ExpectColumnValuesToBeBetween(
                column=column + EXTRAS_SHARE_SUFFIX, max_value=MAX_EXTRAS_SHARE_OF_NATIONAL
            )
            for column in JHU.count_columns
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column=US_ROW_COUNT, min_value=1, max_value=MAX_US_ROWS_PER_DATE
        ),
        *growth_expectations(JHU),
    ]
