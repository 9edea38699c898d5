"""Validate step: Great Expectations gates each raw file before anything touches the warehouse.

The suites are code (GX Core 1.x, ephemeral context; the rules in :mod:`.suites`, run by
:mod:`.checks`): per source, the cells as published, then the US totals per date that the
transform will load (:func:`.sources.daily_totals`: NYT's rows, JHU's US rows summed per date),
then a cross-source check that the two files share at least one date. Each raw file is parsed
into a table of text (:func:`.sources.read_text_table`); derived, typed columns carry what GX
has no expectation for, so every failure still comes from a GX result that quotes its rows.

Benign variations pass on purpose: extra columns (JHU's old ``Lat,Long``), reordered columns,
CRLF, a UTF-8 BOM, no final newline, the small real decreases in NYT's cumulative totals, and
JHU's US reported as several rows per date that add up (per state, or a national row plus small
extras such as cruise ships). A national row beside a near-complete breakdown, and a date inside
the US series with no US row, are refused.

Every validation, passed or failed, leaves its record (each check's verdict, observed value,
threshold, flagged rows and margin) and GX's Data Docs beside the raw archive
(:mod:`.quality`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from include.covid19_etl.checks import (
    CheckFailure,
    SuiteRun,
    ValidationFailed,
    duplicated_columns,
    gx_modules,
    run_suite,
)
from include.covid19_etl.sources import (
    JHU,
    JHU_COUNTRY_COLUMN,
    JHU_PROVINCE_COLUMN,
    JHU_US,
    NYT,
    US_ROW_COUNT,
    US_ROWS,
    CsvParseError,
    SourceSpec,
    jhu_rows_by_date,
    read_text_table,
)
from include.covid19_etl.suites import (
    EARLIEST_PLAUSIBLE_DATE,
    MARGIN_RULES,
    MAX_ROWS_PER_DAY,
    RUNNING_MAX_FLOOR,
    count_cell_expectations,
    date_expectations,
    growth_expectations,
    not_older_than,
    structure_expectations,
    totals_per_date,
    us_totals_expectations,
    with_derived_columns,
)

if TYPE_CHECKING:
    import pandas as pd

    from include.covid19_etl.run_facts import RunFacts

log = logging.getLogger(__name__)


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


def validate_nyt(
    data: bytes,
    latest_plausible: date,
    warehouse_newest: date | None = None,
    runs: list[SuiteRun] | None = None,
) -> SourceProfile:
    """Validate NYT ``us.csv`` bytes; raise :class:`ValidationFailed` naming every broken check.

    ``warehouse_newest``: the newest date already loaded, which the file must still reach. Each
    row is a US total, so the per-date checks run on the rows, once their cells are sound.
    ``runs`` collects every suite that ran, passed or failed.
    """
    _, gxe = gx_modules()
    runs = [] if runs is None else runs
    frame = _parse(NYT, data, latest_plausible, runs)
    cells = [
        *date_expectations(NYT, latest_plausible),
        *not_older_than(NYT, warehouse_newest),
        gxe.ExpectColumnValuesToBeUnique(column=NYT.date_column),
        *count_cell_expectations(NYT),
    ]
    _gate(NYT, runs, _run_suite("nyt", NYT, frame, cells))
    totals = totals_per_date(NYT, frame)
    _gate(NYT, runs, _run_suite("nyt_totals", NYT, totals, growth_expectations(NYT)))
    return _profile(NYT, totals)


def validate_jhu(
    data: bytes,
    latest_plausible: date,
    warehouse_newest: date | None = None,
    runs: list[SuiteRun] | None = None,
) -> SourceProfile:
    """Validate the JHU combined file: its shape and dates everywhere, its US rows' cells, then
    the US totals per date that the transform will load.

    Only the US rows feed the warehouse, so only their counts gate the run; a malformed count for
    another country is not our concern, but a malformed date anywhere means a broken export
    (the real ``YYYY-DD-MM`` incident of September 2020 hit every row).
    """
    _, gxe = gx_modules()
    runs = [] if runs is None else runs
    frame = _parse(JHU, data, latest_plausible, runs)
    dates = _run_suite("jhu", JHU, frame, date_expectations(JHU, latest_plausible))
    us_rows = frame[frame[JHU_COUNTRY_COLUMN] == JHU_US].reset_index(drop=True)
    us_cells = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        *not_older_than(JHU, warehouse_newest),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=[JHU.date_column, JHU_PROVINCE_COLUMN]),
        *count_cell_expectations(JHU),
    ]
    _gate(JHU, runs, dates, _run_suite("jhu_us", JHU, us_rows, us_cells, scope="US rows: "))
    totals = _with_missing_us_dates(
        totals_per_date(JHU, us_rows).join(
            jhu_rows_by_date(us_rows, floor=RUNNING_MAX_FLOOR), on=JHU.date_column
        ),
        frame,
    )
    scope = "US totals per date: "
    suite = _run_suite(
        "jhu_us_totals", JHU, totals, us_totals_expectations(), scope=scope, unit="dates"
    )
    _gate(JHU, runs, suite)
    return _profile(JHU, totals)


def _gate(spec: SourceSpec, runs: list[SuiteRun], *done: SuiteRun) -> None:
    """Record the suites that ran; if any failed, stop with every failure they found."""
    runs.extend(done)
    if failures := [failure for suite in done for failure in suite.failures]:
        raise ValidationFailed(spec.name, failures)


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
) -> SuiteRun:
    """Run a suite on a source's rows or totals: flagged rows say where a row is and quote its
    counts (and, for a date's US total, the rows it adds up)."""
    return run_suite(
        name,
        frame,
        expectations,
        identity=spec.identity_columns,
        values=spec.count_columns,
        context=[US_ROWS],
        scope=scope,
        unit=unit,
        margins=MARGIN_RULES,
    )


def _parse(
    spec: SourceSpec, data: bytes, latest_plausible: date, runs: list[SuiteRun]
) -> pd.DataFrame:
    """Parse and check the table's structure; on failure, nothing else is worth reporting."""
    try:
        frame = read_text_table(data)
    except CsvParseError as err:
        raise ValidationFailed(spec.name, [CheckFailure(f"csv_parses ({err})")]) from err
    if duplicated := duplicated_columns(frame, spec.required_columns, spec.identity_columns):
        raise ValidationFailed(spec.name, duplicated)
    days = (latest_plausible - EARLIEST_PLAUSIBLE_DATE).days + 1
    structure = structure_expectations(spec, max_rows=days * MAX_ROWS_PER_DAY[spec.name])
    _gate(spec, runs, _run_suite(f"{spec.name}_structure", spec, frame, structure))
    return with_derived_columns(frame, spec)


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


def run(raw: dict[str, dict[str, Any]], facts: RunFacts, raw_root: str) -> dict[str, Any]:
    """The ``validate`` task: check both archived files, then their overlap.

    Reads the warehouse once, read-only, for its newest date (the files must still reach it).

    Both sources are checked even when the first fails, so one message tells the whole story,
    logged first. Passed or failed, what the checks found is recorded beside the raw archive
    (never in the warehouse) and published as Data Docs before anything is raised. Malformed
    input raises ``AirflowFailException``: retrying cannot fix a file. Returns the extract
    metadata enriched with each source's row count, date range and quality summary.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from covid19_common.storage import read_bytes
    from covid19_common.warehouse import newest_loaded_date
    from include.covid19_etl.quality import record

    warehouse_newest = newest_loaded_date()
    failures: list[ValidationFailed] = []
    profiles: dict[str, SourceProfile] = {}
    runs: dict[str, list[SuiteRun]] = {source: [] for source in VALIDATORS}
    for source, validator in VALIDATORS.items():
        meta = raw[source]
        try:
            profiles[source] = validator(
                read_bytes(meta["url"]),
                latest_plausible_date(meta["fetched_at"]),
                warehouse_newest,
                runs[source],
            )
        except ValidationFailed as err:
            failures.append(err)
    common = None
    if not failures:
        try:
            common = validate_overlap(profiles[NYT.name], profiles[JHU.name])
            log.info("Both sources are valid and share %d dates", common)
        except ValidationFailed as err:
            failures.append(err)
    recorded = record(facts, raw_root, raw, runs, failures, common)
    if failures:
        summary = "\n\n".join(str(failure) for failure in failures)
        # Logged before the traceback Airflow adds, so the task log opens on what broke.
        log.error("%s", summary)
        raise AirflowFailException("\n\n".join([summary, *recorded.links]))
    return {
        source: {**raw[source], **profiles[source].summary(), "quality": recorded.summaries[source]}
        for source in VALIDATORS
    }
