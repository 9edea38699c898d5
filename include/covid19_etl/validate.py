"""Validate step: Great Expectations gates each raw file before anything touches the warehouse.

The suites live here as code (GX Core 1.x, ephemeral context, run by :mod:`.checks`):
per source, the cells as published, then the US totals per date that the transform will load
(:func:`.sources.daily_totals`: NYT's rows, JHU's US rows summed per date), then a
cross-source check that the two files share at least one date. Each raw file is parsed into a
table of text (:func:`.sources.read_text_table`); derived, typed columns carry what GX
has no expectation for, so every failure still comes from a GX result that quotes its rows.

Benign variations pass on purpose: extra columns (JHU's old ``Lat,Long``), reordered columns,
CRLF, a UTF-8 BOM, no final newline, the small real decreases in NYT's cumulative totals, and
JHU's US reported as several rows per date that add up (per state, or a national row plus small
extras such as cruise ships). A national row beside a near-complete breakdown, and a date inside
the US series with no US row, are refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from include.covid19_etl.checks import (
    CheckFailure,
    ValidationFailed,
    duplicated_columns,
    gx_modules,
    run_suite,
)
from include.covid19_etl.sources import (
    EXTRAS_SHARE_SUFFIX,
    JHU,
    JHU_COUNTRY_COLUMN,
    JHU_PROVINCE_COLUMN,
    JHU_US,
    NATIONAL_TOTALS,
    NYT,
    US_ROW_COUNT,
    US_ROWS,
    CsvParseError,
    SourceSpec,
    daily_totals,
    jhu_rows_by_date,
    read_text_table,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

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


@dataclass
class SourceProfile:
    """What a valid source looked like: handy in logs, the XCom and the run history."""

    source: str
    rows: int
    min_date: str
    max_date: str
    dates: frozenset[str] = field(repr=False, default=frozenset())

    def summary(self) -> dict[str, Any]:
        """The XCom-sized part (no dates)."""
        return {"rows": self.rows, "min_date": self.min_date, "max_date": self.max_date}


def _with_derived_columns(frame: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
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


def _structure_expectations(spec: SourceSpec, max_rows: int) -> list:
    _, gxe = gx_modules()
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=spec.required_columns, exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=max_rows),
    ]


def _date_expectations(spec: SourceSpec, latest_plausible: date) -> list:
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


def _count_cell_expectations(spec: SourceSpec) -> list:
    _, gxe = gx_modules()
    return [
        gxe.ExpectColumnValuesToMatchRegex(
            column=column, regex=OPTIONAL_COUNT_REGEX if column == "Recovered" else COUNT_REGEX
        )
        for column in spec.count_columns
    ]


def _growth_expectations(spec: SourceSpec) -> list:
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


def _not_older_than(spec: SourceSpec, warehouse_newest: date | None) -> list:
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


def validate_nyt(
    data: bytes, latest_plausible: date, warehouse_newest: date | None = None
) -> SourceProfile:
    """Validate NYT ``us.csv`` bytes; raise :class:`ValidationFailed` naming every broken check.

    ``warehouse_newest``: the newest date already loaded, which the file must still reach. Each
    row is a US total, so the per-date checks run on the rows, once their cells are sound.
    """
    _, gxe = gx_modules()
    frame = _parse(NYT, data, latest_plausible)
    failures = _run_suite(
        "nyt",
        NYT,
        frame,
        [
            *_date_expectations(NYT, latest_plausible),
            *_not_older_than(NYT, warehouse_newest),
            gxe.ExpectColumnValuesToBeUnique(column=NYT.date_column),
            *_count_cell_expectations(NYT),
        ],
    )
    if failures:
        raise ValidationFailed(NYT.name, failures)
    totals = totals_per_date(NYT, frame)
    failures = _run_suite("nyt_totals", NYT, totals, _growth_expectations(NYT))
    if failures:
        raise ValidationFailed(NYT.name, failures)
    return _profile(NYT, totals)


def validate_jhu(
    data: bytes, latest_plausible: date, warehouse_newest: date | None = None
) -> SourceProfile:
    """Validate the JHU combined file: its shape and dates everywhere, its US rows' cells, then
    the US totals per date that the transform will load.

    Only the US rows feed the warehouse, so only their counts gate the run; a malformed count for
    another country is not our concern, but a malformed date anywhere means a broken export
    (the real ``YYYY-DD-MM`` incident of September 2020 hit every row).
    """
    _, gxe = gx_modules()
    frame = _parse(JHU, data, latest_plausible)
    failures = _run_suite("jhu", JHU, frame, _date_expectations(JHU, latest_plausible))
    us_rows = frame[frame[JHU_COUNTRY_COLUMN] == JHU_US].reset_index(drop=True)
    failures += _run_suite(
        "jhu_us",
        JHU,
        us_rows,
        [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            *_not_older_than(JHU, warehouse_newest),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=[JHU.date_column, JHU_PROVINCE_COLUMN]),
            *_count_cell_expectations(JHU),
        ],
        scope="US rows: ",
    )
    if failures:
        raise ValidationFailed(JHU.name, failures)
    totals = _with_missing_us_dates(
        totals_per_date(JHU, us_rows).join(
            jhu_rows_by_date(us_rows, floor=RUNNING_MAX_FLOOR), on=JHU.date_column
        ),
        frame,
    )
    failures = _run_suite(
        "jhu_us_totals",
        JHU,
        totals,
        [
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
            *_growth_expectations(JHU),
        ],
        scope="US totals per date: ",
        unit="dates",
    )
    if failures:
        raise ValidationFailed(JHU.name, failures)
    return _profile(JHU, totals)


def _with_missing_us_dates(totals: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Add a row, with no US rows, for each date inside the US series on which the file reports
    other countries but not the US (the country spelled another way for a few days, say): the
    inner join would drop those dates and leave a gap in a cumulative series."""
    import pandas as pd

    if totals.empty:
        return totals
    first, last = totals[JHU.date_column].min(), totals[JHU.date_column].max()
    rows_per_date = frame[JHU.date_column].value_counts()
    inside = rows_per_date[(rows_per_date.index > first) & (rows_per_date.index < last)]
    missing = inside.drop(totals[JHU.date_column], errors="ignore")
    if missing.empty:
        return totals
    gaps = pd.DataFrame(
        {
            JHU.date_column: missing.index,
            US_ROW_COUNT: 0,
            US_ROWS: [f"none, while other countries have {count} row(s)" for count in missing],
        }
    )
    return pd.concat([totals, gaps], ignore_index=True).sort_values(
        JHU.date_column, ignore_index=True
    )


def _run_suite(
    name: str,
    spec: SourceSpec,
    frame: pd.DataFrame,
    expectations: list,
    scope: str = "",
    unit: str = "rows",
) -> list[CheckFailure]:
    """Run a suite on a source's rows or totals: samples say where a row is and quote its counts
    (and, for a date's US total, the rows it adds up)."""
    return run_suite(
        name,
        frame,
        expectations,
        identity=spec.identity_columns,
        values=spec.count_columns,
        context=[US_ROWS],
        scope=scope,
        unit=unit,
    )


def _parse(spec: SourceSpec, data: bytes, latest_plausible: date) -> pd.DataFrame:
    """Parse and check the table's structure; on failure, nothing else is worth reporting."""
    try:
        frame = read_text_table(data)
    except CsvParseError as err:
        raise ValidationFailed(spec.name, [CheckFailure(f"csv_parses ({err})")]) from err
    if duplicated := duplicated_columns(frame, spec.required_columns, spec.identity_columns):
        raise ValidationFailed(spec.name, duplicated)
    days = (latest_plausible - EARLIEST_PLAUSIBLE_DATE).days + 1
    failures = _run_suite(
        f"{spec.name}_structure",
        spec,
        frame,
        _structure_expectations(spec, max_rows=days * MAX_ROWS_PER_DAY[spec.name]),
    )
    if failures:
        raise ValidationFailed(spec.name, failures)
    return _with_derived_columns(frame, spec)


def _profile(spec: SourceSpec, totals: pd.DataFrame) -> SourceProfile:
    dates = frozenset(totals[spec.date_column])
    return SourceProfile(spec.name, len(totals), min(dates), max(dates), dates)


def validate_overlap(nyt: SourceProfile, jhu: SourceProfile) -> int:
    """The inner join needs at least one common date; return how many there are."""
    common = nyt.dates & jhu.dates
    if not common:
        raise ValidationFailed(
            "nyt+jhu",
            [
                CheckFailure(
                    "dates_overlap (the inner join on date would be empty)",
                    samples=(
                        f"nyt covers {nyt.min_date}..{nyt.max_date}",
                        f"jhu US covers {jhu.min_date}..{jhu.max_date}",
                    ),
                )
            ],
        )
    return len(common)


def latest_plausible_date(fetched_at: str) -> date:
    """No row may be dated after the day after its download (time zones: one day of slack)."""
    return datetime.fromisoformat(fetched_at).date() + timedelta(days=1)


VALIDATORS = {NYT.name: validate_nyt, JHU.name: validate_jhu}


def run(raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ``validate`` task: check both archived files, then their overlap.

    Reads the warehouse once, read-only, for its newest date (the files must still reach it).

    Both sources are checked even when the first fails, so one message tells the whole story,
    logged first. Malformed input raises ``AirflowFailException``: retrying cannot fix a file.
    Returns the extract metadata enriched with each source's row count and date range.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from covid19_common.warehouse import newest_loaded_date
    from include.covid19_etl.storage import read_bytes

    warehouse_newest = newest_loaded_date()
    failures: list[ValidationFailed] = []
    profiles: dict[str, SourceProfile] = {}
    for source, validator in VALIDATORS.items():
        meta = raw[source]
        try:
            profiles[source] = validator(
                read_bytes(meta["url"]),
                latest_plausible_date(meta["fetched_at"]),
                warehouse_newest,
            )
        except ValidationFailed as err:
            failures.append(err)
    if not failures:
        try:
            common = validate_overlap(profiles[NYT.name], profiles[JHU.name])
            log.info("Both sources are valid and share %d dates", common)
        except ValidationFailed as err:
            failures.append(err)
    if failures:
        summary = "\n\n".join(str(failure) for failure in failures)
        # Logged before the traceback Airflow adds, so the task log opens on what broke.
        log.error("%s", summary)
        raise AirflowFailException(summary)
    return {source: {**raw[source], **profiles[source].summary()} for source in VALIDATORS}
