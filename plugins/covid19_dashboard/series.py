"""The dashboard's numbers: pure pandas, from ``covid19.us_daily`` rows to what the charts show.

Every function takes the warehouse's rows as a frame of ``date, cases, deaths, recovered``
(cumulative totals, one row per day, ``recovered`` <NA> where JHU did not report it) and
returns plain data. Nothing here reads a database, draws a chart or imports Airflow; the charts
and the HTML are built from these results in :mod:`covid19_dashboard.charts` and
:mod:`covid19_dashboard.page`, and the web app serves them as JSON.

The rules, one function each:

* :func:`daily_new`: new cases (or deaths) on a day = its cumulative total minus the previous
  day's. A day whose previous day is missing has no value (never a two-day jump), and a
  negative value is kept: it is the source revising its cumulative total down, not an error.
* :func:`rolling_average`: the trailing 7-day mean of the daily values, only where all 7 days
  have a value.
* :func:`recoveries_period` / :func:`reported_recoveries`: JHU reported US recoveries from the
  first positive value to the last value before they became <NA> (2020-02-09 .. 2020-12-13 in
  the real data). The charts end the line there and mark the end of reporting; they never draw
  the stop as a drop to zero.
* :func:`case_fatality_rate`: cumulative deaths / cumulative cases, <NA> until there are 1,000
  cases. A "naive" CFR: deaths lag cases, and cases undercount infections.
* :func:`totals`: the latest values, with the date each one is as of.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pandas as pd

COLUMNS = ["date", "cases", "deaths", "recovered"]
ROLLING_DAYS = 7
# The case fatality rate starts on the day cumulative cases reach this many (2020-03-10 in the
# real data).
CFR_MIN_CASES = 1_000
FLOAT_COLUMNS = frozenset({"new_cases_7d", "new_deaths_7d", "cfr"})

# The columns of :func:`chart_frame`, in order; the JSON API documents each one.
CHART_COLUMNS = [
    "date",
    "cases",
    "deaths",
    "recovered",
    "new_cases",
    "new_deaths",
    "new_cases_7d",
    "new_deaths_7d",
    "cfr",
]


def from_rows(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """``(date, cases, deaths, recovered)`` tuples, as a database returns them -> a daily frame."""
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    return normalise(frame)


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame every function here expects: ``date`` as ``datetime.date``, nullable Int64
    counts, sorted by date, one row per date (a duplicate date is an error, not averaged)."""
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).dt.date,
            "cases": pd.array(frame["cases"], dtype="Int64"),
            "deaths": pd.array(frame["deaths"], dtype="Int64"),
            "recovered": pd.array(frame["recovered"], dtype="Int64"),
        }
    )
    if out["date"].duplicated().any():
        duplicated = sorted(set(out.loc[out["date"].duplicated(), "date"]))
        raise ValueError(f"one row per date expected; repeated: {duplicated[:5]}")
    return out.sort_values("date", ignore_index=True)


def _by_day(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` indexed by a DatetimeIndex, for calendar-aware arithmetic."""
    return pd.Series(
        frame[column].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["date"])), name=column
    )


def daily_new(frame: pd.DataFrame, column: str) -> pd.Series:
    """New ``column`` (cases or deaths) per day: today's cumulative total minus yesterday's.

    The first day, and a day whose previous calendar day is missing, get <NA>. Negative values
    (downward revisions of a cumulative total) are kept as they are. Aligned with ``frame``.
    """
    if frame.empty:
        return pd.Series([], index=frame.index, name=f"new_{column}", dtype="Int64")
    cumulative = _by_day(frame, column).astype("Float64")
    # Reindexing to every calendar day makes a gap produce <NA> instead of a multi-day jump.
    every_day = cumulative.reindex(pd.date_range(cumulative.index.min(), cumulative.index.max()))
    difference = every_day.diff().reindex(cumulative.index)
    return pd.Series(difference.to_numpy(), index=frame.index, name=f"new_{column}").astype("Int64")


def rolling_average(daily: pd.Series, dates: pd.Series, days: int = ROLLING_DAYS) -> pd.Series:
    """Trailing ``days``-day mean of ``daily`` (aligned with ``dates``), by calendar day.

    The mean for D covers D-6 .. D and exists only when all 7 days have a value, so the first
    week, and the week after a gap or a missing difference, have none (<NA>).
    """
    if daily.empty:
        return pd.Series([], index=daily.index, name=f"{daily.name}_{days}d", dtype="Float64")
    values = pd.Series(
        daily.astype("Float64").to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(dates))
    )
    every_day = values.reindex(pd.date_range(values.index.min(), values.index.max()))
    mean = every_day.astype("float64").rolling(days, min_periods=days).mean()
    return pd.Series(
        mean.reindex(values.index).to_numpy(), index=daily.index, name=f"{daily.name}_{days}d"
    ).astype("Float64")


@dataclass(frozen=True)
class Period:
    """A closed date range."""

    start: date
    end: date

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def recoveries_period(frame: pd.DataFrame) -> Period | None:
    """The days JHU reported US recoveries: first positive value .. last non-<NA> value.

    Zeros before the first positive value are "none yet", not reporting; <NA> after the last
    value is "no longer reported" (see ``transform.unreported_as_null``). None if JHU never
    reported a recovery.
    """
    recovered = frame["recovered"]
    positive = frame.loc[recovered.gt(0).fillna(False), "date"]
    if positive.empty:
        return None
    reported = frame.loc[recovered.notna(), "date"]
    return Period(start=positive.iloc[0], end=reported.iloc[-1])


def reported_recoveries(frame: pd.DataFrame) -> pd.DataFrame:
    """``date, recovered`` within :func:`recoveries_period` (empty if there is none)."""
    period = recoveries_period(frame)
    if period is None:
        return frame.loc[[], ["date", "recovered"]].reset_index(drop=True)
    inside = (frame["date"] >= period.start) & (frame["date"] <= period.end)
    return frame.loc[inside, ["date", "recovered"]].reset_index(drop=True)


def case_fatality_rate(frame: pd.DataFrame, min_cases: int = CFR_MIN_CASES) -> pd.Series:
    """Cumulative deaths / cumulative cases per day (a fraction: 0.018 is 1.8 %).

    <NA> while there are fewer than ``min_cases`` cumulative cases: a ratio over a handful of
    cases is noise (in the real data it swings from 0 % to 8 % in a week of March 2020), not a
    rate. Aligned with ``frame``.
    """
    cases = frame["cases"].astype("Float64")
    deaths = frame["deaths"].astype("Float64")
    return (deaths / cases.where(cases >= max(min_cases, 1))).rename("cfr")


def chart_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every per-day series the charts and the JSON API use, one row per day (see
    :data:`CHART_COLUMNS`)."""
    out = frame[COLUMNS].copy()
    out["new_cases"] = daily_new(frame, "cases")
    out["new_deaths"] = daily_new(frame, "deaths")
    out["new_cases_7d"] = rolling_average(out["new_cases"], frame["date"])
    out["new_deaths_7d"] = rolling_average(out["new_deaths"], frame["date"])
    out["cfr"] = case_fatality_rate(frame)
    return out[CHART_COLUMNS]


@dataclass(frozen=True)
class Totals:
    """The headline numbers, each with the day it is as of."""

    as_of: date | None
    cases: int | None
    deaths: int | None
    recovered: int | None
    recovered_as_of: date | None
    recoveries_reporting_ended: bool
    new_cases_7d: float | None
    new_deaths_7d: float | None
    cfr: float | None
    days: int

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("as_of", "recovered_as_of"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def _scalar(value: Any) -> Any:
    return None if pd.isna(value) else value


def totals(frame: pd.DataFrame) -> Totals:
    """Current totals: the last day's cases and deaths, the last *reported* recoveries (with
    their own date, earlier than the others once JHU stopped), the latest 7-day averages and
    CFR."""
    if frame.empty:
        return Totals(None, None, None, None, None, False, None, None, None, 0)
    chart = chart_frame(frame)
    last = chart.iloc[-1]
    period = recoveries_period(frame)
    recovered = recovered_as_of = None
    if period is not None:
        recovered_as_of = period.end
        recovered = int(frame.loc[frame["date"] == period.end, "recovered"].iloc[0])
    new_cases_7d = _scalar(last["new_cases_7d"])
    new_deaths_7d = _scalar(last["new_deaths_7d"])
    cfr = _scalar(last["cfr"])
    return Totals(
        as_of=last["date"],
        cases=int(last["cases"]),
        deaths=int(last["deaths"]),
        recovered=recovered,
        recovered_as_of=recovered_as_of,
        recoveries_reporting_ended=period is not None and period.end < last["date"],
        new_cases_7d=float(new_cases_7d) if new_cases_7d is not None else None,
        new_deaths_7d=float(new_deaths_7d) if new_deaths_7d is not None else None,
        cfr=float(cfr) if cfr is not None else None,
        days=len(frame),
    )


def records(chart: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows of a :func:`chart_frame` (or of some of its ``columns``) as JSON-ready dicts: ISO
    dates, ints for counts, floats for averages and rates, None for <NA>."""
    columns = columns or CHART_COLUMNS
    out = []
    for row in chart[columns].astype(object).itertuples(index=False):
        item: dict[str, Any] = {}
        for key, value in zip(columns, row, strict=True):
            if value is None or pd.isna(value):
                item[key] = None
            elif key == "date":
                item[key] = value.isoformat()
            elif key in FLOAT_COLUMNS:
                item[key] = float(value)
            else:
                item[key] = int(value)
        out.append(item)
    return out
