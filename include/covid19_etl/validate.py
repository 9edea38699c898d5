"""Validate step: Great Expectations gates each raw file before anything touches the warehouse.

The suites live here as code (GX Core 1.x, ephemeral context): one per source, plus a cross-source
check that the two files share at least one date. Each raw file is parsed into a table of text
(:func:`covid19_etl.sources.read_text_table`) and a few derived, typed columns, so every check
sees the cells exactly as published and a failure can quote them.

Benign variations pass on purpose: extra columns (JHU's old ``Lat,Long``), reordered columns,
CRLF, a UTF-8 BOM, no final newline, and the small real decreases in NYT's cumulative totals.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from covid19_etl.sources import (
    JHU,
    JHU_COUNTRY_COLUMN,
    JHU_PROVINCE_COLUMN,
    JHU_US,
    NYT,
    CsvParseError,
    SourceSpec,
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
# A cumulative total may dip (NYT revises: -0.07 % on 2021-06-04, -0.25 % on 2022-03-14), but a
# fall below 90 % of its running maximum is a broken file, e.g. a truncated number.
MIN_SHARE_OF_RUNNING_MAX = 0.9
# Below this running maximum the share is noise (early days: 1 case, then a correction to 0).
RUNNING_MAX_FLOOR = 1000
# At most this many rows per date: one per country/province in JHU, one in NYT.
MAX_ROWS_PER_DAY = {NYT.name: 1, JHU.name: 1000}
SAMPLE_SIZE = 3

DATE_SUFFIX = " (parsed as YYYY-MM-DD)"
SHARE_SUFFIX = " (share of running max)"


@dataclass(frozen=True)
class CheckFailure:
    """One failed check: its name, how many rows broke it, and a few of them."""

    check: str
    bad_rows: int | None = None
    total_rows: int | None = None
    samples: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the failure message."""
        text = self.check
        if self.bad_rows is not None:
            text += f": {self.bad_rows} of {self.total_rows} rows"
        if self.samples:
            text += ", e.g. " + "; ".join(self.samples)
        return text


class ValidationFailed(Exception):
    """A source broke one or more checks. The message names the source, checks and samples."""

    def __init__(self, source: str, failures: Sequence[CheckFailure]) -> None:
        self.source = source
        self.failures = tuple(failures)
        lines = [f"Malformed input from source {source!r}: {len(self.failures)} check(s) failed"]
        lines += [f"- {failure.describe()}" for failure in self.failures]
        super().__init__("\n".join(lines))


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


def _gx():
    """Import GX lazily (it costs seconds), its own loggers quiet below WARNING.

    At INFO, GX writes ~230 lines into a failed ``validate`` log (functions it skips registering,
    a temporary docs-site folder and a datasource dump per suite) before the failure summary.
    """
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # GX imports the deprecated sre_constants and sre_parse: not ours to act on.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="great_expectations")
        import great_expectations as gx
        import great_expectations.expectations as gxe
    # Some GX modules set their own logger to INFO, which the parent's level does not override.
    for name, logger in logging.root.manager.loggerDict.items():
        explicit = isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
        if explicit and name.startswith("great_expectations."):
            logger.setLevel(logging.WARNING)
    return gx, gxe


def _run_suite(
    name: str,
    spec: SourceSpec,
    frame: pd.DataFrame,
    expectations: list,
    scope: str = "",
) -> list[CheckFailure]:
    """Validate ``frame`` against ``expectations`` in an ephemeral GX context.

    ``scope`` prefixes each failed check's name, e.g. to say it ran on the US rows only.
    """
    identity = [c for c in spec.identity_columns if c in frame.columns]
    gx, _ = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole file")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    # Ask GX to return, for each bad row, where it is and its raw counts, to quote them.
    returned = [*identity, *(c for c in spec.count_columns if c in frame.columns)]
    result = batch.validate(
        suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": returned},
    )
    return [_failure_from(r, identity, scope) for r in result.results if not r.success]


def _failure_from(result: Any, identity: list[str], scope: str) -> CheckFailure:
    """Turn a GX ExpectationValidationResult into a CheckFailure with readable samples."""
    config = result.expectation_config
    arguments = {
        key: value
        for key, value in config.kwargs.items()
        if key not in {"batch_id", "result_format"} and value is not None
    }
    check = f"{scope}{config.type}({', '.join(f'{k}={_short(v)}' for k, v in arguments.items())})"
    details = result.result or {}
    if result.exception_info.get("raised_exception"):
        return CheckFailure(check, samples=(result.exception_info["exception_message"],))
    if mismatched := details.get("details", {}).get("mismatched"):
        # Column-set checks: name what is missing and what came instead, in full.
        samples = tuple(
            f"{kind} {mismatched[kind]!r}"
            for kind in ("missing", "unexpected")
            if mismatched.get(kind)
        )
        return CheckFailure(check, samples=samples)
    if "unexpected_count" not in details:
        return CheckFailure(check, samples=(f"observed {_short(details.get('observed_value'))}",))
    rows = details.get("unexpected_index_list") or []
    column = config.kwargs.get("column")
    samples = tuple(_describe_row(row, column, identity) for row in rows[:SAMPLE_SIZE])
    if not samples:
        values = details.get("partial_unexpected_list", [])
        samples = tuple(repr(value) for value in values[:SAMPLE_SIZE])
    return CheckFailure(check, details["unexpected_count"], details.get("element_count"), samples)


def _describe_row(row: Mapping[str, Any], column: str | None, identity: list[str]) -> str:
    """``Date='2021-01-05' Country/Region='US' Confirmed='a'``: where the row is, then what broke.

    For a derived column the raw cell it came from is shown first, so the operator reads the
    published value (``cases='3345'``) and not only the derived one.
    """
    shown = list(identity)
    if column:
        shown += [column.removesuffix(SHARE_SUFFIX).removesuffix(DATE_SUFFIX), column]
    return " ".join(f"{name}={_short(row[name])}" for name in dict.fromkeys(shown) if name in row)


def _short(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _with_derived_columns(frame: pd.DataFrame, spec: SourceSpec) -> pd.DataFrame:
    """Add typed columns the date-range and collapse checks need; raw columns stay as text."""
    import pandas as pd

    frame = frame.copy()
    dates = pd.to_datetime(frame[spec.date_column], format="%Y-%m-%d", errors="coerce")
    # Nanoseconds: GX's between-check is vectorised only for datetime64[ns] (pandas 3 parses to
    # [us]); every plausible date fits. 23 % of validate_jhu's time (docs/benchmarks.md).
    frame[spec.date_column + DATE_SUFFIX] = dates.astype("datetime64[ns]")
    order = dates.sort_values(kind="stable").index
    dates = dates.loc[order]
    for column in collapse_columns(spec):
        values = pd.to_numeric(frame[column], errors="coerce").loc[order]
        running_max = values.cummax()
        # Rows with an unreadable date have no place in the series; other checks report them.
        share = (values / running_max).where((running_max >= RUNNING_MAX_FLOOR) & dates.notna())
        frame[column + SHARE_SUFFIX] = share.reindex(frame.index).astype("float64")
    return frame


def collapse_columns(spec: SourceSpec) -> tuple[str, ...]:
    """Cumulative columns that must not collapse (JHU Recovered legitimately drops to 0)."""
    return tuple(c for c in spec.count_columns if c != "Recovered")


def _structure_expectations(spec: SourceSpec, max_rows: int) -> list:
    _, gxe = _gx()
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=spec.required_columns, exact_match=False),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=max_rows),
    ]


def _date_expectations(spec: SourceSpec, latest_plausible: date) -> list:
    _, gxe = _gx()
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


def _count_expectations(spec: SourceSpec) -> list:
    _, gxe = _gx()
    expectations = [
        gxe.ExpectColumnValuesToMatchRegex(
            column=column, regex=OPTIONAL_COUNT_REGEX if column == "Recovered" else COUNT_REGEX
        )
        for column in spec.count_columns
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeBetween(
            column=column + SHARE_SUFFIX, min_value=MIN_SHARE_OF_RUNNING_MAX
        )
        for column in collapse_columns(spec)
    ]
    return expectations


def _not_older_than(spec: SourceSpec, warehouse_newest: date | None) -> list:
    """The source's newest date must not go back behind what the warehouse already holds: a
    file that suddenly ends earlier is a stale mirror or a rolled-back export, not news."""
    if warehouse_newest is None:
        return []
    _, gxe = _gx()
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

    ``warehouse_newest``: the newest date already loaded, which the file must still reach.
    """
    _, gxe = _gx()
    frame = _parse(NYT, data, latest_plausible)
    failures = _run_suite(
        "nyt",
        NYT,
        frame,
        [
            *_date_expectations(NYT, latest_plausible),
            *_not_older_than(NYT, warehouse_newest),
            gxe.ExpectColumnValuesToBeUnique(column=NYT.date_column),
            *_count_expectations(NYT),
        ],
    )
    if failures:
        raise ValidationFailed(NYT.name, failures)
    return _profile(NYT, frame)


def validate_jhu(
    data: bytes, latest_plausible: date, warehouse_newest: date | None = None
) -> SourceProfile:
    """Validate the JHU combined file: its shape and dates everywhere, its counts on US rows.

    Only the US rows feed the warehouse, so only their counts gate the run; a malformed count for
    another country is not our concern, but a malformed date anywhere means a broken export
    (the real ``YYYY-DD-MM`` incident of September 2020 hit every row).
    """
    _, gxe = _gx()
    frame = _parse(JHU, data, latest_plausible)
    failures = _run_suite("jhu", JHU, frame, _date_expectations(JHU, latest_plausible))
    us_rows = _with_derived_columns(_us_rows(frame), JHU)
    failures += _run_suite(
        "jhu_us",
        JHU,
        us_rows,
        [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            *_not_older_than(JHU, warehouse_newest),
            gxe.ExpectCompoundColumnsToBeUnique(column_list=[JHU.date_column, JHU_PROVINCE_COLUMN]),
            *_count_expectations(JHU),
        ],
        scope="US rows: ",
    )
    if failures:
        raise ValidationFailed(JHU.name, failures)
    return _profile(JHU, us_rows)


def _us_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame[JHU_COUNTRY_COLUMN] == JHU_US].reset_index(drop=True)


def _parse(spec: SourceSpec, data: bytes, latest_plausible: date) -> pd.DataFrame:
    """Parse and check the table's structure; on failure, nothing else is worth reporting."""
    try:
        frame = read_text_table(data)
    except CsvParseError as err:
        raise ValidationFailed(spec.name, [CheckFailure(f"csv_parses ({err})")]) from err
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


def _profile(spec: SourceSpec, frame: pd.DataFrame) -> SourceProfile:
    dates = frozenset(frame[spec.date_column])
    return SourceProfile(spec.name, len(frame), min(dates), max(dates), dates)


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

    from covid19_etl.load import newest_loaded_date
    from covid19_etl.storage import read_bytes

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
