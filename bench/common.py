"""What every section shares: the input files, medians, fresh-process probes, server facts."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_stack import CALLER_OWNED
from sample_sources import SAMPLE_FILES, SAMPLE_PATHS

from bench import REPO_ROOT

DAG_FILE = REPO_ROOT / "dags" / "covid19_etl_dag.py"
# The real upstream files, unedited: what `make run --sources sample` serves.
DATA_DIR_SHOWN = SAMPLE_FILES.relative_to(REPO_ROOT).as_posix()
JHU_FILE = SAMPLE_FILES / SAMPLE_PATHS["covid19_jhu_url"]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the runs themselves: noisy machines need all of them."""
    return {
        "median": median(values),
        "min": float(min(values)),
        "max": float(max(values)),
        "runs": [float(v) for v in values],
    }


def airflow_env(home: Path) -> dict[str, str]:
    """This environment without the caller's Airflow settings, with a throwaway Airflow home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CALLER_OWNED)}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )
    return env


@dataclass(frozen=True)
class ProbeResult:
    """A fresh process: wall time measured from outside, the peak RSS it reported at its end
    (:func:`bench.probe.rss_mb`), and the rest of its report."""

    wall_s: float
    max_rss_mb: float
    report: dict[str, Any]


def run_probe(
    args: Sequence[str], env: dict[str, str] | None = None, timeout_s: float = 900
) -> ProbeResult:
    """Run ``python -m bench.probe ARGS`` (in ``env``, else this environment), timed from
    before ``exec`` to exit."""
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        report_path = Path(tmp) / "report.json"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.probe", "--report", str(report_path), *args],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-4000:].decode(errors="replace")
            raise RuntimeError(f"probe {list(args)} exited {done.returncode}:\n{tail}")
        report = json.loads(report_path.read_text())
    return ProbeResult(wall, report["peak_rss_mb"], report)


def probe_summary(probes: Sequence[ProbeResult]) -> dict[str, Any]:
    """Wall time, peak RSS, and each phase's seconds and RSS after it, over repeated probes."""
    return {
        "wall_s": summary([p.wall_s for p in probes]),
        "max_rss_mb": summary([p.max_rss_mb for p in probes]),
        **{
            key: {
                name: summary([p.report[key][name] for p in probes])
                for name in probes[0].report[key]
            }
            for key in ("seconds", "rss_after_mb")
        },
    }


def server_facts(url: str) -> dict[str, str]:
    """Version and the settings that move load figures."""
    import psycopg

    names = ("shared_buffers", "work_mem", "temp_buffers", "max_wal_size", "synchronous_commit")
    with psycopg.connect(url) as connection:
        facts = {"server_version": connection.execute("SHOW server_version").fetchone()[0]}
        for name in names:
            facts[name] = connection.execute(f"SHOW {name}").fetchone()[0]
    return facts
