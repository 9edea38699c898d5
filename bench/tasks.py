"""Section 2: each task's wall time and peak memory on the real files, in a fresh process.

A repetition is three DAG runs of the day 2021-03-16 (the JHU file's last day) against a fresh
warehouse database, every task in its own fresh interpreter (:mod:`bench.probe`), fed the
previous task's XCom output, the sources served over local HTTP as ``make run`` serves them:

* **first**: the full history into the empty warehouse (NYT 2021-06-19 + JHU 2021-03-16);
* **rerun**: the same files again, the no-op rerun: it must write 0 rows, and the xmin of every
  row is compared before and after to prove no row version was written;
* **revised**: NYT's 2023-01-24 file, which revised history: the rows it changed are updated.

The probe's wall time starts before the interpreter does, so it holds what a task process pays
on top of Airflow's own task runner: interpreter start, ``import airflow.sdk``, the step's
imports (pandas, Great Expectations, requests, psycopg...) and ``run()``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    JHU_FILE,
    NYT_2023_FILE,
    NYT_FILE,
    SHARED_DATA,
    airflow_connection_json,
    data_dir,
    fresh_database,
    log,
    run_probe,
    summary,
)
from bench.parse import airflow_env
from scripts.run_local import serve_directory

DAY = "2021-03-16"
TASKS = ("extract", "validate", "transform", "load")
SCENARIOS = {
    "first": NYT_FILE,
    "rerun": NYT_FILE,
    "revised": NYT_2023_FILE,
}


def row_versions(url: str) -> dict[str, str]:
    """``{date: xmin}``: a row rewritten, even with the same values, gets a new xmin."""
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT date::text, xmin::text FROM covid19.us_daily").fetchall()
    return dict(rows)


def run_chain(
    env: dict[str, str], workdir: Path, scenario: str, rep: int
) -> dict[str, dict[str, Any]]:
    """extract >> validate >> transform >> load, each in a fresh process."""
    results: dict[str, dict[str, Any]] = {}
    upstream: Path | None = None
    for task in TASKS:
        args = ["task", task, "--day", DAY, "--run-id", f"bench__{scenario}-{rep}"]
        if upstream is not None:
            args += ["--input", str(upstream)]
        probe = run_probe(args, env)
        output = probe.report["output"]
        upstream = workdir / f"{scenario}-{task}.json"
        upstream.write_text(json.dumps(output))
        results[task] = {
            "wall_s": probe.wall_s,
            "max_rss_mb": probe.max_rss_mb,
            "phases_s": probe.report["seconds"],
            "rss_after_mb": probe.report["rss_after_mb"],
            "output": output,
        }
    return results


def run(server_url: str, repeats: int, scenarios: tuple[str, ...] = tuple(SCENARIOS)) -> dict:
    log(f"section 2: per-task cost, {repeats} repetitions of {', '.join(scenarios)}")
    runs: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name in scenarios}
    rewritten: list[int] = []
    written: list[int] = []
    loaded: dict[str, dict[str, Any]] = {}
    source = data_dir()
    with serve_directory(source) as base, tempfile.TemporaryDirectory(prefix="bench-tasks-") as tmp:
        for rep in range(repeats):
            with fresh_database(server_url, "covid19_bench_tasks") as url:
                home = Path(tmp) / f"home-{rep}"
                home.mkdir()
                env = airflow_env(home)
                env.update(
                    {
                        "AIRFLOW_VAR_COVID19_JHU_URL": f"{base}/{JHU_FILE}",
                        "AIRFLOW_VAR_COVID19_RAW_ROOT": f"file://{home}/lake/raw",
                        "AIRFLOW_CONN_COVID19_WAREHOUSE": airflow_connection_json(url),
                    }
                )
                before: dict[str, str] = {}
                for scenario in scenarios:
                    env["AIRFLOW_VAR_COVID19_NYT_URL"] = f"{base}/{SCENARIOS[scenario]}"
                    if scenario == "rerun":
                        before = row_versions(url)
                    result = run_chain(env, home, scenario, rep)
                    if scenario == "rerun":
                        after = row_versions(url)
                        rewritten.append(sum(after.get(d) != x for d, x in before.items()))
                        output = result["load"]["output"]
                        written.append(output["inserted"] + output["updated"])
                    runs[scenario].append(result)
                    loaded[scenario] = result["load"]["output"]
                    walls = " ".join(f"{t} {result[t]['wall_s']:.1f}" for t in TASKS)
                    log(f"  rep {rep + 1}/{repeats} {scenario}: {walls} s")
    figures: dict[str, Any] = {}
    for scenario, chains in runs.items():
        per_task = {}
        for task in TASKS:
            phase_names = chains[0][task]["phases_s"].keys()
            per_task[task] = {
                "wall_s": summary([c[task]["wall_s"] for c in chains]),
                "max_rss_mb": summary([c[task]["max_rss_mb"] for c in chains]),
                "phases_s": {
                    name: summary([c[task]["phases_s"][name] for c in chains])
                    for name in phase_names
                },
            }
        totals = [sum(c[t]["wall_s"] for t in TASKS) for c in chains]
        figures[scenario] = {
            "tasks": per_task,
            "total_wall_s": summary(totals),
            "load_output": loaded[scenario],
        }
    return {
        "day": DAY,
        "repeats": repeats,
        "data_dir": str(source),
        "data_dir_shown": "../shared/data" if source == SHARED_DATA else "tests/fixtures",
        "scenarios": figures,
        "rerun_rows_rewritten": rewritten,
        "rerun_rows_written": written,
    }
