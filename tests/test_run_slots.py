"""Why the DAG allows many active runs: Airflow 3.3.1's own scheduler code, on our DAG.

A later day whose tasks wait for a failed day (depends_on_past) is a RUNNING DAG run, and it
never ends by itself: the scheduler's deadlock check skips runs with depends_on_past tasks. A
cleared day goes back to QUEUED and needs a free slot under max_active_runs. With one slot the
waiting day holds it and the cleared day stays queued for ever (apache/airflow#18304, #29524);
with the DAG's slots it starts at once. Both halves run the scheduler's real functions
(``DagRun.update_state``, ``clear_task_instances``, ``SchedulerJobRunner._start_queued_dagruns``)
on the metadata database, in process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import FAILED_AT_VALIDATE, scheduled_run

FAILED_DAY = datetime(2021, 3, 10, tzinfo=UTC)
NEXT_DAY = FAILED_DAY + timedelta(days=1)


def day_failed_and_next_waiting(dag: Any, max_active_runs: int) -> str:
    """Day 1 failed at validate, day 2 waits; clear validate as the UI does; start queued runs.

    Returns the failed day's state once the scheduler has decided.
    """
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.taskinstance import clear_task_instances
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).values(max_active_runs=max_active_runs))
        failed = scheduled_run(dag, FAILED_DAY, "failed", session)
        for ti in failed.get_task_instances(session=session):
            ti.state = FAILED_AT_VALIDATE[ti.task_id]
        waiting = scheduled_run(dag, NEXT_DAY, "running", session)
        session.flush()

        schedulable, _ = waiting.update_state(session=session)
        assert schedulable == [] and waiting.state == "running", "it waits, and holds a slot"

        cleared = dag.partial_subset(task_ids=["validate"], include_downstream=True).task_ids
        assert "extract" in cleared  # the setup task comes with it: the sources are downloaded
        clear_task_instances(
            [ti for ti in failed.get_task_instances(session=session) if ti.task_id in cleared],
            session,
        )
        assert failed.state == "queued"
        session.flush()
        SchedulerJobRunner(job=Job())._start_queued_dagruns(session)
        return failed.state


def test_a_cleared_day_starts_while_later_days_wait(scheduler_dag):
    assert scheduler_dag.max_active_runs == 366
    assert day_failed_and_next_waiting(scheduler_dag, 366) == "running"


def test_with_one_slot_the_waiting_day_keeps_the_cleared_day_queued(scheduler_dag):
    """The deadlock the DAG's max_active_runs avoids, reproduced with the scheduler's code."""
    assert day_failed_and_next_waiting(scheduler_dag, 1) == "queued"
