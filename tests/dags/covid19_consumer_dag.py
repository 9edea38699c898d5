"""What a downstream team writes to run on new covid19_etl data (an example, never deployed).

It runs whenever ``covid19.us_daily`` receives an asset event, that is after every committed
load of the covid19_etl DAG, and reads what changed from the events that triggered it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task

from covid19_common.assets import us_daily_asset

US_DAILY = us_daily_asset()  # the same Asset object covid19_etl declares as its load's outlet


@dag(schedule=US_DAILY, tags=["covid19", "example"])
def covid19_consumer() -> None:
    @task
    def changes(**context: Any) -> list[dict[str, Any]]:
        """One entry per load since this DAG last ran: as_of, inserted, updated, unchanged."""
        return [event.extra for event in context["triggering_asset_events"][US_DAILY]]

    changes()


covid19_consumer()
