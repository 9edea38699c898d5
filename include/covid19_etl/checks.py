"""Great Expectations suites on a DataFrame, and failures an operator can read at once.

Used by the ``validate`` step: it decides what to check, this module runs the checks in an
ephemeral GX context and turns each result into a :class:`CheckResult` (the check's name: the
rule and its column; its verdict, what it observed, the rows it flagged and, for a ratio rule,
how close the data came to the bound) and each failed one into one line naming the check, how
many rows broke it, and a few of those rows as published.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE = 3
# A day's quality record keeps this many flagged rows per check (GX's own partial lists hold 20).
FLAGGED_ROWS_KEPT = 20
# Samples quote cells up to this length; a context column (all US rows of a date) gets more.
CELL_CHARS = 80
CONTEXT_CHARS = 200
BETWEEN = "expect_column_values_to_be_between"
# GX result keys whose lists grow with the rows a check flags, and its query naming every one.
FLAGGED_LISTS = (
    "unexpected_list",
    "unexpected_index_list",
    "partial_unexpected_list",
    "partial_unexpected_index_list",
    "partial_unexpected_counts",
)


@dataclass(frozen=True)
class CheckFailure:
    """One failed check: its name, how many rows broke it, and a few of them."""

    check: str
    bad_rows: int | None = None
    total_rows: int | None = None
    samples: tuple[str, ...] = ()
    unit: str = "rows"

    def describe(self) -> str:
        """One line for the failure message."""
        text = self.check
        if self.bad_rows is not None:
            text += f": {self.bad_rows} of {self.total_rows} {self.unit}"
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


@dataclass(frozen=True)
class MarginRule:
    """A ratio rule: ``label`` names its extreme ("largest jump"), ``usual`` is its value on an
    unremarkable day, from which the margin to the bound is measured."""

    label: str
    usual: float


@dataclass(frozen=True)
class Margin:
    """How close a check's column came to its bound: ``used`` is the share of the way from the
    rule's usual value to the bound (0: usual, 1: at the bound, above 1: beyond it)."""

    rule: str
    value: float
    bound: float
    at: str
    used: float

    def describe(self) -> str:
        """``largest jump 2.486 of 3 (Date='2020-03-29')``."""
        return f"{self.rule} {self.value:.4g} of {self.bound:g} ({self.at})"


@dataclass(frozen=True)
class CheckResult:
    """One check as GX ran it, for the day's quality record."""

    check: str
    success: bool
    threshold: dict[str, Any] = field(default_factory=dict)
    observed: str | None = None
    bad_rows: int | None = None
    total_rows: int | None = None
    unit: str = "rows"
    flagged: tuple[str, ...] = ()
    margin: Margin | None = None

    def as_failure(self) -> CheckFailure:
        return CheckFailure(
            self.check, self.bad_rows, self.total_rows, self.flagged[:SAMPLE_SIZE], self.unit
        )


@dataclass(frozen=True)
class SuiteRun:
    """A suite's checks, and GX's own validation result (flagged lists cut to
    :data:`FLAGGED_ROWS_KEPT`) from which the Data Docs are built."""

    name: str
    checks: tuple[CheckResult, ...]
    gx_result: dict[str, Any]

    @property
    def failures(self) -> list[CheckFailure]:
        return [check.as_failure() for check in self.checks if not check.success]


def gx_modules() -> tuple[Any, Any]:
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


def run_suite(
    name: str,
    frame: pd.DataFrame,
    expectations: list,
    *,
    identity: Sequence[str],
    values: Sequence[str] = (),
    context: Sequence[str] = (),
    scope: str = "",
    unit: str = "rows",
    margins: Mapping[str, MarginRule] | None = None,
) -> SuiteRun:
    """Validate ``frame`` against ``expectations``; return every check's result.

    A flagged row shows its ``identity`` columns (where it is), then the failed column and, for
    a derived column named ``"<column> (<derivation>)"``, the ``values`` column it came from,
    then its ``context`` columns. ``scope`` prefixes each check's name, e.g. to say it ran on the
    US rows only; ``unit`` says what a row of ``frame`` is. ``margins``: the ratio rules, by the
    end of their column's name, whose margin to the bound each between-check reports.
    """
    gx, _ = gx_modules()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    gx_context = gx.get_context(mode="ephemeral")
    gx_context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        gx_context.data_sources.add_pandas(name)
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole table")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    shown = [c for c in dict.fromkeys([*identity, *values, *context]) if c in frame.columns]
    result = batch.validate(
        suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": shown}
    )
    identity = [c for c in identity if c in frame.columns]
    checks = tuple(
        _check_from(r, frame, identity, context, scope, unit, margins or {}) for r in result.results
    )
    for r in result.results:
        details = r.result or {}
        for key in FLAGGED_LISTS:
            if isinstance(details.get(key), list):
                details[key] = details[key][:FLAGGED_ROWS_KEPT]
        details.pop("unexpected_index_query", None)
    return SuiteRun(name, checks, result.to_json_dict())


def _check_from(
    result: Any,
    frame: pd.DataFrame,
    identity: Sequence[str],
    context: Sequence[str],
    scope: str,
    unit: str,
    margins: Mapping[str, MarginRule],
) -> CheckResult:
    """Turn a GX ExpectationValidationResult into a CheckResult with readable rows."""
    config = result.expectation_config
    arguments = {
        key: value
        for key, value in config.kwargs.items()
        if key not in {"batch_id", "result_format"} and value is not None
    }
    check = f"{scope}{config.type}({', '.join(f'{k}={_short(v)}' for k, v in arguments.items())})"
    threshold = {
        key: _plain(value)
        for key, value in arguments.items()
        if key not in {"column", "column_list"}
    }
    outcome = {"check": check, "success": bool(result.success), "threshold": threshold}
    details = result.result or {}
    if result.exception_info.get("raised_exception"):
        return CheckResult(**outcome, flagged=(result.exception_info["exception_message"],))
    if mismatched := details.get("details", {}).get("mismatched"):
        # Column-set checks: name what is missing and what came instead, in full.
        flagged = tuple(
            f"{kind} {mismatched[kind]!r}"
            for kind in ("missing", "unexpected")
            if mismatched.get(kind) and not result.success
        )
        observed = _short(details.get("observed_value"))
        return CheckResult(**outcome, observed=observed, flagged=flagged)
    if "unexpected_count" not in details:
        observed = _short(details.get("observed_value"))
        flagged = () if result.success else (f"observed {observed}",)
        return CheckResult(**outcome, observed=observed, flagged=flagged)
    rows = details.get("unexpected_index_list") or []
    column = config.kwargs.get("column")
    flagged = tuple(
        _describe_row(row, column, identity, context) for row in rows[:FLAGGED_ROWS_KEPT]
    )
    if not flagged:
        values = details.get("partial_unexpected_list", [])
        flagged = tuple(repr(value) for value in values[:FLAGGED_ROWS_KEPT])
    observed, margin = None, None
    if config.type == BETWEEN and column in frame.columns:
        observed, margin = _range_and_margin(frame, column, arguments, identity, margins)
    return CheckResult(
        **outcome,
        observed=observed,
        bad_rows=details["unexpected_count"],
        total_rows=details.get("element_count"),
        unit=unit,
        flagged=flagged,
        margin=margin,
    )


def _range_and_margin(
    frame: pd.DataFrame,
    column: str,
    bounds: Mapping[str, Any],
    identity: Sequence[str],
    margins: Mapping[str, MarginRule],
) -> tuple[str | None, Margin | None]:
    """The column's range, and for a ratio rule its value nearest a bound and where it is.

    GX's map results name only the rows beyond a bound; how close the others came is one
    minimum or maximum of the column it has just validated.
    """
    values = frame[column].dropna()
    if values.empty:
        return None, None
    observed = f"{_short(values.min())} .. {_short(values.max())}"
    rule = next((r for suffix, r in margins.items() if column.endswith(suffix)), None)
    if rule is None:
        return observed, None
    found = []
    for key, nearest in (("min_value", values.idxmin()), ("max_value", values.idxmax())):
        bound = bounds.get(key)
        if bound is None or bound == rule.usual:
            continue
        value = float(values[nearest])
        at = " ".join(f"{name}={_short(frame.at[nearest, name])}" for name in identity)
        used = (value - rule.usual) / (bound - rule.usual)
        found.append(Margin(rule.label, value, float(bound), at, used))
    return observed, max(found, key=lambda margin: margin.used, default=None)


def _describe_row(
    row: Mapping[str, Any], column: str | None, identity: Sequence[str], context: Sequence[str]
) -> str:
    """``Date='2021-01-05' Country/Region='US' Confirmed='a'``: where the row is, then what broke.

    For a derived column the column it came from is shown first, so the operator reads the
    published value (``cases='3345'``) and not only the derived one.
    """
    shown = list(identity)
    if column:
        shown += [column.partition(" (")[0], column]
    parts = [f"{name}={_short(row[name])}" for name in dict.fromkeys(shown) if name in row]
    parts += [
        f"{name}={_short(row[name], CONTEXT_CHARS)}"
        for name in context
        if name in row and name not in shown
    ]
    return " ".join(parts)


def _short(value: Any, limit: int = CELL_CHARS) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))  # a computed total, not a published cell: no quotes
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> Any:
    """A threshold as JSON: dates as ISO dates, lists and numbers as they are, else text."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return str(value)


def duplicated_columns(
    frame: pd.DataFrame, columns: Sequence[str], identity: Sequence[str]
) -> list[CheckFailure]:
    """Each of ``columns`` must appear once in the header: with two, which one holds the data?

    Checked by hand, because two columns of one name break GX's column metrics. Samples show
    the rows where the copies disagree first, with their ``identity`` cells.
    """
    header = list(frame.columns)
    single = [header.index(name) for name in identity if header.count(name) == 1]
    failures = []
    for column in columns:
        fields = [position for position, name in enumerate(header) if name == column]
        if len(fields) < 2:
            continue
        copies = frame.iloc[:, fields]
        disagree = copies.nunique(axis=1) > 1
        rows = [*copies.index[disagree], *copies.index[~disagree]][:SAMPLE_SIZE]
        samples = [f"{column!r} heads fields {' and '.join(str(f + 1) for f in fields)}"]
        samples += [
            f"data row {row + 1}: "
            + " ".join(
                f"{header[field]}={_short(frame.iat[row, field])}" for field in [*single, *fields]
            )
            for row in rows
        ]
        failures.append(
            CheckFailure(f"column_names_unique(column={column!r})", samples=tuple(samples))
        )
    return failures
