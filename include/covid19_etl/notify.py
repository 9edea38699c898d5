"""Notify step: announce a committed load on the SNS topic (or in the task log without one).

The message (:func:`.messages.success_message`) gives the inserted / updated /
unchanged counts, the date range the table now covers, names the sources that have served
the same file for ``covid19_stale_after_days`` days, and says how many checks passed and how
close the data came to a threshold.
"""

from __future__ import annotations

from datetime import date
from typing import Any


def run(
    loaded: dict[str, Any],
    as_of: date,
    run_id: str,
    validated: dict[str, dict[str, Any]] | None = None,
) -> str | None:
    """The ``notify`` task: publish the success message; return the SNS message id.
    ``validated``: the validate task's output, with each source's quality summary."""
    from covid19_common.warehouse import stale_after_days
    from include.covid19_etl.messages import publish, success_message

    message = success_message(loaded, as_of.isoformat(), run_id, stale_after_days(), validated)
    return publish(*message)
