"""Render sections 5 to 7 of ``docs/benchmarks.md`` (a day to its SNS message on the local stack
and in the MWAA profile, the catch-up) and the summary of what a user waits for."""

from __future__ import annotations

from typing import Any

from bench.airflow_runs import CHAIN
from bench.common import median
from bench.markdown import DASH, s, share, spread, table

RUN_LABELS = {
    "first": "first, scheduled (cold stack)",
    "full": "full history again (warm)",
    "rerun": "no-op rerun (warm)",
}
BUCKETS = ("scheduler", "executor", "task runner", "steps", "retries")
PHASES = {
    "hand_off_s": "Hand-off",
    "queueing_s": "Queueing",
    "pick_up_s": "Pick-up",
    "start_up_s": "Start-up",
    "dag_parse_s": "of which DAG parse",
    "step_s": "Step",
    "finish_s": "Finish",
}
STACKS = {
    "local": (
        "5",
        "the local stack",
        "`scripts/run_local.py --sources sample`: embedded PostgreSQL, the real scheduler, "
        "dag-processor, triggerer and api-server, LocalExecutor",
    ),
    "mwaa": (
        "6",
        "the MWAA profile",
        "`scripts/run_local.py --profile mwaa --sources sample`: the deploy bundle laid out and "
        "configured as MWAA 3.3.1 runs it, CeleryExecutor on SQS with two workers (each task on "
        "the other worker than its upstream), staged files and task logs on S3, all on this "
        "benchmark's moto server",
    ),
}


def warm_runs(section: dict[str, Any]) -> list[dict[str, Any]]:
    """The no-op reruns: a day on a running deployment (else the warm full-history run)."""
    runs = section["runs"]
    return [r for r in runs if r["kind"] == "rerun"] or [r for r in runs if r["kind"] == "full"]


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def warm_day(section: dict[str, Any]) -> dict[str, Any]:
    """Medians over the warm runs: the total, each bucket, each task's phases."""
    runs = warm_runs(section)
    per_task = {
        task: {
            key: med([run["timeline"][i][key] for run in runs]) for key in (*PHASES, "duration_s")
        }
        for i, task in enumerate(CHAIN)
    }
    # What every task pays around its step (notify's finish comes after its message).
    overhead = {
        key: med([per_task[t][key] for t in CHAIN if key != "finish_s" or t != CHAIN[-1]])
        for key in ("hand_off_s", "pick_up_s", "start_up_s", "dag_parse_s", "finish_s")
    }
    total = median([run["to_sns_s"] for run in runs])
    buckets = {b: median([run["buckets"][b] for run in runs]) for b in BUCKETS}
    return {
        "runs": len(runs),
        "to_sns_s": total,
        "buckets": buckets,
        "airflow_s": total - buckets["steps"] - buckets["retries"],
        "tasks": per_task,
        "per_task": overhead,
    }


def loop_text(section: dict[str, Any]) -> str:
    idle = section["settings"]["scheduler.scheduler_idle_sleep_time"]
    loop = section.get("scheduler_loop_s")
    measured = (
        f"its loops took {s(loop['median'])} ({s(loop['min'])}{DASH}{s(loop['max'])}, "
        f"{loop['count']} loops, StatsD `scheduler.scheduler_loop_duration`)"
        if loop
        else "its loop duration is not measured here (the profile's containers get MWAA's "
        "environment, without StatsD)"
    )
    return (
        f"`scheduler_idle_sleep_time` is {idle} s: a scheduler with nothing to do looks again "
        f"after that long, so the run's start and each task's hand-off wait for up to one loop, "
        f"half of one on average; {measured}"
    )


def section_day(section: dict[str, Any]) -> str:
    number, where, how = STACKS[section["profile"]]
    runs, warm, settings = section["runs"], warm_day(section), section["settings"]
    rows = [
        [
            RUN_LABELS[run["kind"]],
            f"**{s(run['to_sns_s'])}**",
            *(s(run["buckets"][b]) for b in BUCKETS),
            s(run["run_end_s"]),
        ]
        for run in runs
    ]
    header = ["Run", "To the SNS message", *(b.capitalize() for b in BUCKETS), "Whole DAG run"]
    phases = [[task, *(s(warm["tasks"][task][key]) for key in PHASES)] for task in CHAIN]
    first = runs[0]["timeline"][0]
    each = warm["per_task"]
    per_task = sum(each[key] or 0 for key in ("pick_up_s", "start_up_s", "finish_s"))
    validate = warm["tasks"]["validate"]["step_s"]
    history = "; ".join(
        f"{as_of}: {rows} rows, {inserted} inserted, {updated} updated, {unchanged} unchanged"
        for as_of, rows, inserted, updated, unchanged in section["etl_runs"]
    )
    queued = section["ready_to_first_queued_s"]
    retried = [
        f"`{step['task']}` of the {RUN_LABELS[run['kind']]} run ({step['retries']}, "
        f"{s(step['hand_off_s'])} from its upstream's end to its last try's scheduling)"
        for run in runs
        for step in run["timeline"]
        if step["retries"]
    ]
    retries = (
        f"Retried: {'; '.join(retried)}: the *retries* column, see *Retries on a cold stack* below."
        if retried
        else "No task was retried."
    )
    return f"""## {number}. One day on {where}, from its schedule to the SNS message

{how}; fresh state, `COVID19_ETL_START_DATE={section["start_date"]}` (yesterday), so the scheduler \
created one run, the day {section["day"]}, loading the whole history. The stack took \
{s(section["stack_ready_s"])} from launch to healthy; the run was queued \
{s(abs(queued))} {"before" if queued < 0 else "after"} that, \
**{s(section["due_to_queued_s"])} after it could first be known as due** (the DAG's first \
serialization; on a running deployment a day is due at 00:00 UTC and waits the same way, for the \
scheduler's next loop). The run was then cleared and ran again: once into an emptied warehouse, \
then as {len(runs) - 2} no-op reruns, the work a running deployment does every night (a new day \
writes a handful of rows instead of none). The SNS message is timed where a subscriber gets it \
(this process, subscribed over HTTP).

{table(header, rows)}

From the run being queued (first) or cleared (the others), where the time goes: **scheduler**, \
to the run's start and, for each task, from its upstream's end to being queued; **executor**, \
from queued to the task instance's start; **task runner**, the task process's start-up (parsing \
the DAG file again, the context) and finish (XCom, state), from the markers in the task's log; \
**steps**, our code, its imports included; **retries**, the failed tries of a retried task and \
its retry delay. They add up to the total; *whole DAG run* is to the last task's end (`report`, \
beside `notify`). {retries}

A warm day, task by task (medians of the {warm["runs"]} warm run(s); *hand-off*: upstream's end, \
or the run's start, to scheduled; *queueing*: scheduled to queued; *pick-up*: queued to started; \
*start-up*: to the end of the task runner's `Pre Execute`; *step*: to `Post Execute`, for \
`notify` to its SNS message; *finish*: to the end):

{table(["Task", *PHASES.values()], phases)}

**Against its limits.** A warm day took {s(warm["to_sns_s"])} from due to the SNS message: \
{s(warm["airflow_s"])} of Airflow ({share(warm["airflow_s"], warm["to_sns_s"])}) and \
{s(warm["buckets"]["steps"])} of our steps.

- *The scheduler's loop*: {loop_text(section)}. Hand-offs took {s(each["hand_off_s"])} \
(median), {s(warm["buckets"]["scheduler"])} per day in all.
- *The task runner's per-task start-up*, paid by each of the {len(CHAIN)} tasks: pick-up \
{s(each["pick_up_s"])}, start-up {s(each["start_up_s"])} (of which {s(each["dag_parse_s"])} \
parsing the DAG file in the task process) and finish {s(each["finish_s"])}: about \
{s(per_task)} a task with `{settings["core.executor"]}`. On the cold stack the first task's \
start-up took {s(first["start_up_s"])} (its process imported the providers for the first time \
while the components were still starting).
- *The steps*: `validate` is {s(validate)} of the {s(warm["buckets"]["steps"])}: section 4 \
shows Great Expectations' import alone at seconds, paid by every validate task process.
- *Not on a day's path*: `min_file_process_interval` \
({settings["dag_processor.min_file_process_interval"]} s) and `refresh_interval` \
({settings["dag_processor.refresh_interval"]} s) bound how soon a changed or new DAG file is \
seen; a day runs from the serialized DAG already stored.

`covid19.etl_runs` afterwards (the warehouse was emptied before the warm full-history run): \
{history}.
"""


def bounding_pair(section: dict[str, Any]) -> tuple[str, float]:
    tasks = section["tasks"]
    slowest = max(tasks, key=lambda t: tasks[t]["pair_s"])
    return slowest, tasks[slowest]["pair_s"]


def against_bound(period: float, bound: float) -> str:
    if period <= bound * 1.15:
        return (
            "the days follow each other as fast as the dependencies let them; only a shorter "
            "pair (its tasks' own time, or the gaps) would raise the rate."
        )
    return (
        f"{s(period - bound)} a day above it, waiting for a core: the machine's other work "
        "(see the load averages) and the tasks of neighbouring days share 2 cores."
    )


def section_catchup(section: dict[str, Any]) -> str:
    tasks = section["tasks"]
    task, bound = bounding_pair(section)
    rows = [
        [
            name,
            spread(figures["duration_s"]),
            f"`{figures['slowest_after']}`" if figures["slowest_after"] else DASH,
            s(figures["pair_s"]),
        ]
        for name, figures in tasks.items()
    ]
    settings, loaded, period = section["settings"], section["etl_runs"], section["period_s"]
    return f"""## 7. Catch-up on the local stack: {section["days"]} days

`scripts/run_local.py --sources sample` on fresh state with \
`COVID19_ETL_START_DATE={section["start_date"]}`: the scheduler created one run per day, as a \
fresh deployment does for the days since its start date. Each day downloads, validates and \
transforms the sample files and loads the history as of its day (`etl_runs`: \
{loaded["runs"]} loads, {loaded["inserted"]} rows inserted, {loaded["updated"]} updated, \
{loaded["unchanged"]} unchanged). Retried: {"; ".join(section["retried"]) or "nothing"}.

**{section["days_per_hour"]:,.0f} days per hour**: \
{s(section["first_queued_to_last_sns_s"])} from the first run being queued to the last day's \
SNS message. The first day, on the cold stack, took {s(section["first_day_to_sns_s"])} to its \
message; after it, one day every {spread(period)} (between successive messages): \
{section["after_first_day_days_per_hour"]:,.0f} days per hour.

What bounds it: each task waits for the same task of the day before and for that task's \
downstream tasks (`depends_on_past` + `wait_for_downstream`, so that a failed day blocks the \
following ones). So a task, a gap, its slowest downstream task and another gap make the \
*pair* period it imposes on the days; a *gap* is from a task's last upstream task's end to its \
start, {spread(section["gap_s"])}, of which the hand-off to the scheduler's next loop \
{s(section["hand_off_s"]["median"])} (medians over days 2 to {section["days"]}):

{table(["Task", "Duration", "Slowest downstream", "Pair"], rows)}

**Against its limit.** `{task}`'s pair, {s(bound)}, is the period the dependencies allow \
({3600 / bound:,.0f} days per hour), against the {s(period["median"])} measured: \
{against_bound(period["median"], bound)} On average {section["tasks_at_once"]:.1f} tasks ran at \
once (2 shared cores). `parallelism` \
({settings["core.parallelism"]}) and `max_active_tasks_per_dag` \
({settings["core.max_active_tasks_per_dag"]}) are far from binding. The scheduler created one \
run per loop (spacing {spread(section["queued_spacing_s"])}; \
`max_dagruns_to_create_per_loop`={settings["scheduler.max_dagruns_to_create_per_loop"]} counts \
DAGs, not runs), so the days were all queued long before they could run: not a bound. The first \
run was queued {s(section["due_to_first_queued_s"])} after the DAG's first serialization; the \
stack took {s(section["stack_ready_s"])} to start (not counted).
"""


def user_summary(sections: dict[str, Any]) -> str:
    """The figures a user waits for, each beside the limit it is measured against."""
    rows = []
    for key in ("5", "6"):
        if day := sections.get(key):
            warm, where = warm_day(day), STACKS[day["profile"]][1]
            rows.append(
                [
                    f"{key}. A day, due to its SNS message, {where} (warm)",
                    f"{s(warm['to_sns_s'])}",
                    f"Airflow's share {s(warm['airflow_s'])}: {len(CHAIN) + 1} scheduler "
                    f"hand-offs (1-s idle loop) and {len(CHAIN)} task start-ups; our steps "
                    f"{s(warm['buckets']['steps'])}",
                ]
            )
            rows.append(
                [
                    f"{key}. The first day on a cold stack, {where}",
                    s(day["runs"][0]["to_sns_s"]),
                    f"queued {s(day['due_to_queued_s'])} after due; "
                    + (
                        f"{s(retried)} waiting for a retry (see *Retries on a cold stack*)"
                        if (retried := day["runs"][0]["buckets"]["retries"])
                        else "the first task process's cold start-up "
                        f"{s(day['runs'][0]['timeline'][0]['start_up_s'])}"
                    ),
                ]
            )
    if catchup := sections.get("7"):
        task, bound = bounding_pair(catchup)
        rows.append(
            [
                f"7. Catch-up, {catchup['days']} days, the local stack",
                f"{catchup['days_per_hour']:,.0f} days/hour",
                f"one day per {s(catchup['period_s']['median'])} after the first, against the "
                f"dependencies' bound of {s(bound)} (`{task}` and its slowest downstream task)",
            ]
        )
    if not rows:
        return ""
    return f"""## What a user waits for

{table(["Measure", "This run", "Measured against"], rows)}
"""
