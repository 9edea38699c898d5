"""The pipeline's settings: environment variables read while the DAG files are parsed, and
Airflow Variables read at run time.

Parse-time code (the DAG files) uses the ``*_from_env`` functions; the Variables are read by
:func:`load_settings`, which runs inside a task. The names other tools rely on are in
:mod:`covid19_common.names`, the asset in :mod:`covid19_common.assets`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import RetryDecision, RetryPolicy

from covid19_common.names import VAR_JHU_URL, VAR_NYT_URL

if TYPE_CHECKING:
    from airflow.sdk import Context


DEFAULT_NYT_URL = "https://raw.githubusercontent.com/nytimes/covid-19-data/master/us.csv"
DEFAULT_JHU_URL = (
    "https://raw.githubusercontent.com/datasets/covid-19/main/data/"
    "time-series-19-covid-combined.csv"
)


START_DATE_ENV = "COVID19_ETL_START_DATE"
# The first run loads the whole history as of its day, so catch-up does not need to start in
# 2020: a recent default keeps a fresh deployment to a few dozen runs instead of thousands.
DEFAULT_START_DATE = "2026-11-01"

RETRY_WINDOW_ENV = "COVID19_ETL_RETRY_WINDOW_MINUTES"
# A source, the warehouse or SNS may be down this long and the day still completes on its own.
DEFAULT_RETRY_WINDOW_MINUTES = 180.0
# Retry delays in units of window/180: 1, 2, 4, 8, 16, then 30 (window/6) until they add up to the
# window (181 after ten retries), counted from the task's last Clear (RetrySinceClear).
RETRY_FIRST_DELAY_SHARE = 1 / 180
RETRY_MAX_DELAY_SHARE = 1 / 6

LANDING_DEADLINE_ENV = "COVID19_ETL_LANDING_DEADLINE_MINUTES"
# A day's run must finish this long after its data interval ends, or an alert names where it is
# stuck. Longer than the retry window, so a transient outage that heals in time raises none.
DEFAULT_LANDING_DEADLINE_MINUTES = 360.0

# Transport limits for one download (the size caps are per source, in sources.py). The read
# timeout bounds each wait for bytes; the total one bounds a body that drips in slowly.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
TOTAL_TIMEOUT_S = 300.0


def start_date_from_env(environ: Mapping[str, str] = os.environ) -> datetime:
    """Return the DAG's ``start_date`` from ``COVID19_ETL_START_DATE`` (ISO date, UTC midnight).

    This is a parse-time setting (changing it changes the schedule), so it is an environment
    variable and not an Airflow Variable, which must not be read while parsing.
    """
    raw = environ.get(START_DATE_ENV, "").strip() or DEFAULT_START_DATE
    try:
        day = date.fromisoformat(raw)
    except ValueError as err:
        raise ValueError(f"{START_DATE_ENV} must be an ISO date (2021-03-01), not {raw!r}") from err
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


@dataclass(frozen=True)
class RetrySchedule:
    """Airflow's retry arguments for every task: exponential backoff that spans the window."""

    retries: int
    retry_delay: timedelta
    max_retry_delay: timedelta

    def delay(self, retry: int) -> timedelta:
        """The wait before the ``retry``-th retry (1 for the first)."""
        return min(self.retry_delay * 2 ** max(retry - 1, 0), self.max_retry_delay)

    def as_task_args(self) -> dict[str, object]:
        """The ``default_args`` entries. Airflow's own backoff arguments stay as the fallback
        (and what the UI shows); the retry policy decides each delay."""
        return {
            "retries": self.retries,
            "retry_delay": self.retry_delay,
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": self.max_retry_delay,
            "retry_policy": RetrySinceClear(self),
        }


class RetrySinceClear(RetryPolicy):
    """The schedule's delays, counted from the task's last Clear.

    Airflow 3.3.1's own exponential backoff (``TaskInstance.next_retry_datetime``) grows with
    ``try_number``, which counts every try the task instance ever had: a Clear does not reset
    it, so a day cleared after its retries ran out would wait the longest delay (30 minutes by
    default) before its first retry, with jitter. A Clear sets ``max_tries`` to the tries so far
    plus the task's ``retries``, which gives the retries since it.
    """

    def __init__(self, schedule: RetrySchedule) -> None:
        self.schedule = schedule

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        if context is None:
            return RetryDecision.default()
        retry = try_number - (max_tries - context["ti"].task.retries)
        delay = self.schedule.delay(retry)
        return RetryDecision.retry(delay, f"retry {retry} since the last Clear, in {delay}")


def retry_schedule(window: timedelta) -> RetrySchedule:
    """Enough retries that the sum of the delays covers ``window``."""
    schedule = RetrySchedule(
        retries=0,
        retry_delay=window * RETRY_FIRST_DELAY_SHARE,
        max_retry_delay=window * RETRY_MAX_DELAY_SHARE,
    )
    waited = timedelta(0)
    while waited < window:
        schedule = replace(schedule, retries=schedule.retries + 1)
        waited += schedule.delay(schedule.retries)
    return schedule


def minutes_from_env(
    name: str, default: float, environ: Mapping[str, str] = os.environ
) -> timedelta:
    """A positive duration in minutes from environment variable ``name`` (parse-time settings)."""
    raw = environ.get(name, "").strip() or str(default)
    problem = f"{name} must be a positive number of minutes, not {raw!r}"
    try:
        duration = timedelta(minutes=float(raw))
    except (ValueError, OverflowError) as err:
        raise ValueError(problem) from err
    if duration <= timedelta(0):
        raise ValueError(problem)
    return duration


def retry_schedule_from_env(environ: Mapping[str, str] = os.environ) -> RetrySchedule:
    """The retry schedule for ``COVID19_ETL_RETRY_WINDOW_MINUTES``."""
    return retry_schedule(minutes_from_env(RETRY_WINDOW_ENV, DEFAULT_RETRY_WINDOW_MINUTES, environ))


def landing_deadline_from_env(environ: Mapping[str, str] = os.environ) -> timedelta:
    """How long after its interval ends a day's run must have finished (``..._MINUTES``)."""
    return minutes_from_env(LANDING_DEADLINE_ENV, DEFAULT_LANDING_DEADLINE_MINUTES, environ)


@dataclass(frozen=True)
class Settings:
    """Run-time settings, all from Airflow Variables (env vars or a secrets backend)."""

    nyt_url: str
    jhu_url: str
    raw_root: str

    def source_url(self, source: str) -> str:
        """The URL a source is downloaded from."""
        return {"nyt": self.nyt_url, "jhu": self.jhu_url}[source]


def load_settings() -> Settings:
    """Read the Variables. Call only at run time, inside a task or a callback."""
    from airflow.sdk import Variable

    from covid19_common.storage import raw_root

    return Settings(
        nyt_url=Variable.get(VAR_NYT_URL, default=DEFAULT_NYT_URL),
        jhu_url=Variable.get(VAR_JHU_URL, default=DEFAULT_JHU_URL),
        raw_root=raw_root(),
    )
