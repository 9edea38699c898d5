"""Great Expectations suites on a DataFrame, and failures an operator can read at once.

Used by the ``validate`` step: it decides what to check, this module runs the checks in an
ephemeral GX context and turns each failed result into one line naming the check (the rule and
its column), how many rows broke it, and a few of those rows as published.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_SIZE = 3
# Samples quote cells up to this length; a context column (all US rows of a date) gets more.
CELL_CHARS = 80
CONTEXT_CHARS = 200


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
) -> list[CheckFailure]:
    """Validate ``frame`` against ``expectations``; return one :class:`CheckFailure` per failure.

    A sample row shows its ``identity`` columns (where it is), then the failed column and, for a
    derived column named ``"<column> (<derivation>)"``, the ``values`` column it came from, then
    its ``context`` columns. ``scope`` prefixes each check's name, e.g. to say it ran on the US
    rows only; ``unit`` says what a row of ``frame`` is.
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
    return [
        _failure_from(r, identity, context, scope, unit) for r in result.results if not r.success
    ]


def _failure_from(
    result: Any, identity: Sequence[str], context: Sequence[str], scope: str, unit: str
) -> CheckFailure:
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
    samples = tuple(_describe_row(row, column, identity, context) for row in rows[:SAMPLE_SIZE])
    if not samples:
        values = details.get("partial_unexpected_list", [])
        samples = tuple(repr(value) for value in values[:SAMPLE_SIZE])
    return CheckFailure(
        check, details["unexpected_count"], details.get("element_count"), samples, unit
    )


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
