"""The MWAA profile's cluster policy (scripts/mwaa_profile.py copies it to the scheduler
container's ``config/airflow_local_settings.py``); it is no part of the deployed bundle.

On MWAA every task goes to one SQS queue and any worker takes it, so a task and the task
before it share a worker about half of the time: a task that read a local file its upstream
wrote would fail only sometimes. Here each worker consumes its own queue and each task goes to
the worker that did not run the tasks directly upstream of it (alternating with its depth in
the DAG), so such a task fails every time.
"""

from __future__ import annotations

import os
from typing import Any

WORKER_QUEUES = os.environ["MWAA_PROFILE_WORKER_QUEUES"].split(",")


def dag_policy(dag: Any) -> None:
    depths: dict[str, int] = {}

    def depth(task: Any) -> int:
        if task.task_id not in depths:
            depths[task.task_id] = max((depth(up) + 1 for up in task.upstream_list), default=0)
        return depths[task.task_id]

    for task in dag.tasks:
        task.queue = WORKER_QUEUES[depth(task) % len(WORKER_QUEUES)]
