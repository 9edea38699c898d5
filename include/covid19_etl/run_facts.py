"""What ``covid19.etl_runs`` records about a DAG run, built once from Airflow's task context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

DAY = timedelta(days=1)


@dataclass(frozen=True)
class RunFacts:
    """The run a load belongs to. The run for the data interval [D, D+1) is "as of" D."""

    run_id: str
    logical_date: datetime | None
    data_interval_start: datetime
    data_interval_end: datetime
    try_number: int = 1

    @property
    def as_of(self) -> date:
        """The day whose data the run loads: the rows dated on or before it."""
        return self.data_interval_start.date()

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunFacts:
        """From a task's Airflow context."""
        return cls(
            run_id=context["run_id"],
            logical_date=context.get("logical_date"),
            data_interval_start=context["data_interval_start"],
            data_interval_end=context["data_interval_end"],
            try_number=context["ti"].try_number,
        )

    @classmethod
    def for_day(cls, day: date, run_id: str | None = None, try_number: int = 1) -> RunFacts:
        """The scheduled run for ``day``, as the scheduler would name it."""
        start = datetime.combine(day, time.min, tzinfo=UTC)
        return cls(
            run_id=run_id or f"scheduled__{(start + DAY).isoformat()}",
            logical_date=start,
            data_interval_start=start,
            data_interval_end=start + DAY,
            try_number=try_number,
        )

    def as_row(self) -> dict[str, Any]:
        """The ``etl_runs`` columns these facts fill."""
        return {**asdict(self), "as_of": self.as_of}
