"""Section 2: each task's wall time and peak memory on the real files, in a fresh process.

A repetition is two DAG runs of the day 2021-03-16 (the JHU file's last day) against a fresh
warehouse database, every task in its own fresh interpreter (:mod:`bench.probe`), fed the
previous task's XCom output, the sources served over local HTTP as ``make run`` serves them:

* **first**: the full history into the empty warehouse;
* **rerun**: the same files again, the no-op rerun: it must write 0 rows, and the xmin of every
  row is compared before and after to prove no row version was written.

The probe's wall time starts before the interpreter does, so it holds what a task process pays
on top of Airflow's own task runner: interpreter start, ``import airflow.sdk``, the step's
imports (pandas, Great Expectations, requests, psycopg...) and ``run()``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from local_postgres import airflow_connection_json, fresh_database
from sample_sources import SAMPLE_FILES, sample_variables, serve_directory

from bench.common import (
    DATA_DIR_SHOWN,
    ProbeResult,
    airflow_env,
    log,
    probe_summary,
    run_probe,
    summary,
)

DAY = "2021-03-16"
TASKS = ("extract", "validate", "transform", "load")
SCENARIOS = ("first", "rerun")


def row_versions(url: str) -> dict[str, str]:
    """``{date: xmin}``: a row rewritten, even with the same values, gets a new xmin."""
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT date::text, xmin::text FROM covid19.us_daily").fetchall()
    return dict(rows)


def run_chain(
    env: dict[str, str], workdir: Path, scenario: str, rep: int
) -> dict[str, ProbeResult]:
    """extract >> validate >> transform >> load, each in a fresh process."""
    results: dict[str, ProbeResult] = {}
    upstream: list[str] = []
    for task in TASKS:
        args = ["task", task, "--day", DAY, "--run-id", f"bench__{scenario}-{rep}", *upstream]
        results[task] = run_probe(args, env)
        output = workdir / f"{scenario}-{task}.json"
        output.write_text(json.dumps(results[task].report["output"]))
        upstream = ["--input", str(output)]
    return results


def run(server_url: str, repeats: int) -> dict[str, Any]:
    log(f"section 2: per-task cost, {repeats} repetitions of {', '.join(SCENARIOS)}")
    runs: dict[str, list[dict[str, ProbeResult]]] = {name: [] for name in SCENARIOS}
    rewritten: list[int] = []
    written: list[int] = []
    with serve_directory(SAMPLE_FILES) as base, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for rep in range(repeats):
            with fresh_database(server_url, "covid19_bench_tasks") as url:
                home = Path(tmp) / f"home-{rep}"
                home.mkdir()
                env = airflow_env(home)
                env.update(
                    {
                        **sample_variables(base),
                        "AIRFLOW_VAR_COVID19_RAW_ROOT": f"file://{home}/lake/raw",
                        "AIRFLOW_CONN_COVID19_WAREHOUSE": airflow_connection_json(url),
                    }
                )
                runs["first"].append(run_chain(env, home, "first", rep))
                before = row_versions(url)
                rerun = run_chain(env, home, "rerun", rep)
                after = row_versions(url)
                rewritten.append(sum(after.get(d) != x for d, x in before.items()))
                loaded = rerun["load"].report["output"]
                written.append(loaded["inserted"] + loaded["updated"])
                runs["rerun"].append(rerun)
                for scenario in SCENARIOS:
                    walls = " ".join(f"{t} {runs[scenario][-1][t].wall_s:.1f}" for t in TASKS)
                    log(f"  rep {rep + 1}/{repeats} {scenario}: {walls} s")
    figures = {
        scenario: {
            "tasks": {task: probe_summary([c[task] for c in chains]) for task in TASKS},
            "total_wall_s": summary([sum(c[t].wall_s for t in TASKS) for c in chains]),
            "load_output": chains[-1]["load"].report["output"],
        }
        for scenario, chains in runs.items()
    }
    return {
        "day": DAY,
        "repeats": repeats,
        "data_dir": DATA_DIR_SHOWN,
        "scenarios": figures,
        "rerun_rows_rewritten": rewritten,
        "rerun_rows_written": written,
    }
