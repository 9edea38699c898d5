"""The landing deadline's arithmetic: which days a watchdog run checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from include.covid19_etl.watchdog import days_due, deadline_of

SIX_HOURS = timedelta(hours=6)
FIRST = date(2026, 11, 1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_a_days_deadline_is_counted_from_the_end_of_its_interval():
    assert deadline_of(date(2026, 11, 29), SIX_HOURS) == at(30, 6)


@pytest.mark.parametrize(
    ("start", "end", "due"),
    [
        (at(30, 6), at(30, 6, 15), [date(2026, 11, 29)]),  # the window holding the deadline
        (at(30, 5, 45), at(30, 6), []),  # the window before: not yet due
        (at(30, 6, 15), at(30, 6, 30), []),  # the window after: checked once only
        (at(30, 0), at(30, 0, 15), []),
    ],
)
def test_each_day_is_checked_by_the_one_window_holding_its_deadline(start, end, due):
    assert days_due(start, end, SIX_HOURS, FIRST) == due


def test_a_long_window_checks_every_day_due_in_it_but_none_before_the_start_date():
    assert days_due(at(1, 0), at(4, 6, 1), SIX_HOURS, FIRST) == [
        date(2026, 11, 1),
        date(2026, 11, 2),
        date(2026, 11, 3),
    ]
    assert days_due(at(1, 0), at(4, 6, 1), SIX_HOURS, date(2026, 11, 3)) == [date(2026, 11, 3)]


def test_a_deadline_longer_than_a_day_still_falls_in_one_window():
    assert days_due(at(3, 6), at(3, 6, 15), timedelta(hours=30), FIRST) == [date(2026, 11, 1)]
