"""Every message the pipeline sends, and how: SNS through the Amazon provider, or the task log.

* success (the ``notify`` task): the inserted / updated / unchanged counts, the date range the
  table now covers, the sources that stopped moving, and one line on the day's data quality;
* failure (any task, through :class:`FailureNotifier`): the task, the day, the error (for
  malformed input, the validation summary naming source, check and rows, and where every
  check of the day can be read: the dashboard and GX's Data Docs) and the next step;
* late (the watchdog): a day not loaded by its deadline, and the task it is stuck in;
* report not written (the ``report`` task's last try).

With no topic configured (Variable ``covid19_sns_topic_arn`` unset), a message goes to the task
log with a warning and nothing fails: a laptop run needs no AWS account.

Cheap to import: the DAG files import :class:`FailureNotifier` at parse time; boto3 is only
imported when a message is really published.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from airflow.sdk import BaseNotifier

from covid19_common.names import AWS_CONN_ID, DAG_ID, TASKS, VAR_SNS_TOPIC_ARN
from covid19_common.warehouse import stale_lines

log = logging.getLogger(__name__)

SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters, no line breaks
MESSAGE_ERROR_LIMIT = 8000  # plenty for a validation summary; far below SNS's 256 KB
WATCHDOG_NEXT_STEP = (
    "The watchdog only reads and alerts. Its next successful run checks every deadline since",
    "the last successful one, without repeating an alert that went out; clear this task to",
    "check again now, once the cause is fixed.",
)
NEXT_STEP = (
    "Later days wait for this one. Next step: fix the cause or wait for the upstream, then in",
    "the Airflow UI clear this task (Clear, with the dialog's defaults) or the whole run (Clear",
    "Run). The day downloads its sources again and runs; the later days follow in order.",
)


def topic_arn() -> str | None:
    """The SNS topic from its Variable, or None when unset."""
    from airflow.sdk import Variable

    return Variable.get(VAR_SNS_TOPIC_ARN, default=None) or None


def publish(subject: str, message: str) -> str | None:
    """Publish to the topic and return the message id; without a topic, log the message."""
    subject = _sns_subject(subject)
    target_arn = topic_arn()
    if not target_arn:
        log.warning(
            "Variable %s is not set: not publishing to SNS. The message would have been:\n%s\n\n%s",
            VAR_SNS_TOPIC_ARN,
            subject,
            message,
        )
        return None
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    response = SnsHook(aws_conn_id=AWS_CONN_ID).publish_to_target(
        target_arn=target_arn, message=message, subject=subject
    )
    log.info("Published %r to SNS, message id %s", subject, response["MessageId"])
    return response["MessageId"]


def _sns_subject(subject: str) -> str:
    printable = "".join(c if 32 <= ord(c) < 127 else " " for c in subject)
    return printable[:SUBJECT_LIMIT]


def quality_line(validated: Mapping[str, Mapping[str, Any]]) -> str:
    """How many checks passed, and the margin that came nearest its bound, of both sources
    (``validated``: the validate task's output, each source with its ``quality`` summary)."""
    found = {source: meta["quality"] for source, meta in validated.items() if "quality" in meta}
    if not found:
        return "Data quality: no validation record for this run."
    passed = sum(summary["passed"] for summary in found.values())
    total = sum(summary["total"] for summary in found.values())
    line = f"Data quality: {passed} of {total} checks passed"
    margins = [(s, q["closest"]) for s, q in found.items() if q.get("closest")]
    if margins:
        source, closest = max(margins, key=lambda margin: margin[1]["used"])
        line += (
            f"; closest margin: {source.upper()} {closest['text']}, "
            f"{closest['used']:.0%} of the way to the bound."
        )
    return line


def quality_links(found: Mapping[str, str]) -> list[str]:
    """Where an operator reads every check of the day, passed or failed, without the task log."""
    return ["What the checks found:", *(f"  {name}: {url}" for name, url in found.items())]


def success_message(
    loaded: dict[str, Any],
    logical_date: str,
    run_id: str,
    stale_after_days: int,
    validated: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[str, str]:
    """Subject and body for a completed run, with a note on sources that stopped moving and,
    given the validate task's output, a line on the day's data quality."""
    changed = loaded["inserted"] + loaded["updated"]
    subject = f"[{DAG_ID}] {logical_date}: {changed} rows updated"
    lines = [
        f"The {DAG_ID} run for {logical_date} completed.",
        "",
        f"Rows updated in covid19.us_daily: {changed}",
        f"  inserted:  {loaded['inserted']}",
        f"  updated:   {loaded['updated']} (revised history)",
        f"  unchanged: {loaded['unchanged']}",
        f"Rows in this run's source data: {loaded['source_rows']}",
        f"The table now covers {loaded['min_date']} to {loaded['max_date']} "
        f"({loaded['table_rows']} days).",
        *([quality_line(validated)] if validated is not None else []),
        "",
    ]
    if stale := stale_lines(loaded.get("sources", {}), stale_after_days):
        lines += [
            f"Stale sources, unchanged for {stale_after_days} days or more "
            "(the upstream may have stopped publishing):",
            *(f"  - {line}" for line in stale),
            "",
        ]
    return subject, "\n".join([*lines, f"Run: {run_id}"])


def failure_message(context: Any, next_step: Sequence[str] = NEXT_STEP) -> tuple[str, str]:
    """Subject and body for a failed task, from the Airflow callback context."""
    ti = context["ti"]
    logical = _day(context)
    error = str(context.get("exception") or "unknown error")
    if len(error) > MESSAGE_ERROR_LIMIT:
        error = error[:MESSAGE_ERROR_LIMIT] + "\n[... cut; the task log has the rest]"
    dag_id = ti.dag_id
    subject = f"[{dag_id}] FAILED {ti.task_id} for {logical}"
    body = "\n".join(
        [
            f"The {dag_id} run for {logical} failed at task {ti.task_id!r} (try {ti.try_number}).",
            "",
            error,
            "",
            f"Run: {context.get('run_id', ti.run_id)}",
            "",
            *next_step,
        ]
    )
    return subject, body


def _day(context: Any) -> str:
    start = context.get("data_interval_start")
    return start.date().isoformat() if start else str(context.get("logical_date"))


WAITING_STATES = {
    None: "not started: it waits for the same task of the previous day, or for a worker",
    "up_for_retry": "retrying after a transient fault; its log says why",
    "failed": "failed; the alert sent then says why",
    "upstream_failed": "not run: an earlier task failed",
}


def stuck_task(states: dict[str, str | None]) -> tuple[str, str]:
    """The first task of the day that has not succeeded, and what that means."""
    for task_id in TASKS:
        state = states.get(task_id)
        if state not in ("success", "skipped"):
            return task_id, WAITING_STATES.get(state, state or "")
    return "none", "every task has finished"


def late_message(
    day: date, deadline: datetime, run_id: str | None, states: dict[str, str | None]
) -> tuple[str, str]:
    """Subject and body when a day has not landed by its deadline (``run_id`` None: no run)."""
    if run_id is None:
        task_id, where = "no run", "no run exists for it: is the DAG paused, or the scheduler down?"
    else:
        task_id, meaning = stuck_task(states)
        where = f"it is stuck in task {task_id!r}: {meaning}."
    subject = f"[{DAG_ID}] LATE {day.isoformat()}: not loaded yet, stuck in {task_id}"
    lines = [
        f"The {DAG_ID} run for {day.isoformat()} has not finished by its deadline, "
        f"{deadline:%Y-%m-%d %H:%M} UTC:",
        where,
    ]
    if run_id is not None:
        lines += [
            "Task states: " + ", ".join(f"{t}={states.get(t) or 'none'}" for t in TASKS),
            "",
            f"Run: {run_id}",
        ]
    return subject, "\n".join([*lines, "", *NEXT_STEP])


def report_not_written_message(as_of: date, run_id: str, error: BaseException) -> tuple[str, str]:
    """Subject and body when the report's last try failed: the data is loaded, the page is not."""
    subject = f"[{DAG_ID}] REPORT NOT WRITTEN for {as_of.isoformat()}"
    body = "\n".join(
        [
            f"The {DAG_ID} run for {as_of.isoformat()} loaded the warehouse and sent its counts,",
            "but the static HTML report could not be written, on the last try:",
            "",
            f"{type(error).__name__}: {error}",
            "",
            f"Run: {run_id}",
            "Loading goes on (the report task is marked skipped); the next run writes a fresh",
            "report. Clear this task in the Airflow UI to write this one again.",
        ]
    )
    return subject, body


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` for every task: publish what failed and what to do, never raise."""

    def __init__(self, next_step: Sequence[str] = NEXT_STEP) -> None:
        super().__init__()
        self.next_step = tuple(next_step)

    def notify(self, context: Any) -> None:
        """Publish the failure; a broken alert path is logged, not raised over the real error."""
        try:
            publish(*failure_message(context, self.next_step))
        except Exception:
            log.exception("Could not publish the failure notification")
