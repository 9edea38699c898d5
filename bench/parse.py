"""Section 1: DAG parse time, as ``airflow dags report`` sees it, above the bare ``airflow.sdk``.

Three views, each the median of several fresh interpreters:

* **in-process** (the figure held against the target): in one fresh interpreter, first
  ``import airflow.sdk``, then time the execution of the DAG file (``runpy``), which is what the
  DAG processor does for every file with Airflow already imported;
* **process-level**: the wall time of a fresh ``python`` that parses the DAG file minus one that
  only imports ``airflow.sdk`` (start-up noise included, hence the spread);
* **``airflow dags report -o json``**: Airflow's own per-file duration, in a throwaway
  ``AIRFLOW_HOME`` with this repository's ``dags`` and ``plugins`` folders.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import DAG_FILE, airflow_env, log, median, run_probe, summary

TARGET_S = 0.3


def parse_duration(text: str) -> float:
    """``0:00:00.045113`` -> 0.045113."""
    hours, minutes, seconds = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds)).total_seconds()


def dags_report(env: dict[str, str], repeats: int) -> dict[str, Any]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    durations, rows = [], []
    for _ in range(repeats):
        done = subprocess.run(
            [airflow, "dags", "report", "-o", "json"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        # The JSON is the last line that looks like a list; warnings may come before it.
        line = next(
            line for line in reversed(done.stdout.splitlines()) if re.match(r"^\s*\[", line)
        )
        rows = json.loads(line)
        ours = next(row for row in rows if Path(row["file"]).name == DAG_FILE.name)
        durations.append(parse_duration(ours["duration"]))
    return {"dags_report_s": summary(durations), "dags_report_rows": rows}


def run(repeats: int) -> dict[str, Any]:
    log(f"section 1: parse time, {repeats} fresh interpreters each")
    with tempfile.TemporaryDirectory(prefix="bench-afh-") as home:
        env = airflow_env(Path(home))
        in_process, sdk_in_parse, rss_sdk, rss_dag = [], [], [], []
        wall_sdk, wall_dag = [], []
        for _ in range(repeats):
            wall_sdk.append(run_probe(["sdk"], env).wall_s)
            parsed = run_probe(["parse", "--dag", str(DAG_FILE)], env)
            wall_dag.append(parsed.wall_s)
            in_process.append(parsed.report["seconds"]["parse DAG file"])
            sdk_in_parse.append(parsed.report["seconds"]["import airflow.sdk"])
            rss_sdk.append(parsed.report["rss_after_mb"]["import airflow.sdk"])
            rss_dag.append(parsed.report["rss_after_mb"]["parse DAG file"])
        airflow_report = dags_report(env, repeats)
    process_delta = [dag - sdk for dag, sdk in zip(wall_dag, wall_sdk, strict=True)]
    return {
        "repeats": repeats,
        "target_s": TARGET_S,
        "met": median(in_process) < TARGET_S,
        "in_process_s": summary(in_process),
        "sdk_import_s": summary(sdk_in_parse),
        "process_wall_sdk_s": summary(wall_sdk),
        "process_delta_s": summary(process_delta),
        "rss_after_sdk_mb": summary(rss_sdk),
        "rss_after_dag_mb": summary(rss_dag),
        **airflow_report,
        "modules_added": parsed.report["modules_added"],
        "top_level_added": parsed.report["top_level_added"],
    }
